/* Unit tests for common/flags.c: letter <-> bit set codec. */
#include "common/flags.h"
#include "tests/unit/check.h"

int main(void)
{
	char out[FLAGS_LETTERS_MAX];
	static const struct {
		const char *in, *sorted;
	} cases[] = {
		{ "", "" },       { "S", "S" },     { "SF", "FS" },   { "SR", "RS" },
		{ "aF", "Fa" },   { "zZaA", "AZaz" }, { "S1_S", "S" }, { "TDFRSP", "DFPRST" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		flags_to_letters(flags_from_letters(cases[i].in, strlen(cases[i].in)), out);
		CHECK_STR(out, cases[i].sorted);
	}
	CHECK(flag_bit('S') == FLAG_SEEN);
	CHECK(flag_bit('1') == 0);
	CHECK(flag_bit('a') != flag_bit('A'));
	CHECK(flags_has(flags_from_letters("FS", 2), FLAG_FLAGGED));
	CHECK(!flags_has(flags_from_letters("FS", 2), FLAG_DRAFT));
	return check_report("test_flags");
}
