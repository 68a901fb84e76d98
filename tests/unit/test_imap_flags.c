/* Unit tests for imap/imap_flags.c: IMAP flags/keywords <-> letters. */
#include "imap/imap_flags.h"
#include "tests/unit/check.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *kw[26];

static const char *letters(flagset_t f)
{
	static char out[FLAGS_LETTERS_MAX];
	flags_to_letters(f, out);
	return out;
}

int main(void)
{
	kw['a' - 'a'] = "$Label1";
	kw['j' - 'a'] = "Junk";
	kw['z' - 'a'] = "bad keyword"; /* not an atom: never mapped */

	static const struct {
		const char *list;
		const char *want;
	} parse[] = {
		{ "", "" },
		{ "()", "" },
		{ "(\\Seen)", "S" },
		{ "(\\Seen \\Answered \\Flagged \\Deleted \\Draft)", "DFRST" },
		{ "\\seen \\FLAGGED", "FS" },           /* case-insensitive */
		{ "(\\Recent \\Seen)", "S" },           /* \Recent ignored */
		{ "(\\Unknown $Other)", "" },           /* unknown ignored */
		{ "($Label1 \\Seen junk)", "Saj" },     /* keywords, any case */
		{ "($label1)", "a" },
		{ "(bad keyword)", "" },
		{ "(  \\Seen   \\Draft )", "DS" },
		{ "(\\Seen(", "S" },                    /* malformed: no crash */
		{ "\\", "" },
	};
	for (size_t i = 0; i < N(parse); i++)
		CHECK_STR(letters(imap_flags_parse(parse[i].list, kw)), parse[i].want);
	CHECK_STR(letters(imap_flags_parse("($Label1 \\Seen)", NULL)), "S");

	CHECK(imap_flag_bit("\\Seen", 5, kw) == FLAG_SEEN);
	CHECK(imap_flag_bit("\\Seen", 4, kw) == 0); /* length respected */
	CHECK(imap_flag_bit("", 0, kw) == 0);

	CHECK_STR(imap_flag_name('S', kw), "\\Seen");
	CHECK_STR(imap_flag_name('R', kw), "\\Answered");
	CHECK_STR(imap_flag_name('F', kw), "\\Flagged");
	CHECK_STR(imap_flag_name('T', kw), "\\Deleted");
	CHECK_STR(imap_flag_name('D', kw), "\\Draft");
	CHECK_STR(imap_flag_name('P', kw), NULL);
	CHECK_STR(imap_flag_name('a', kw), "$Label1");
	CHECK_STR(imap_flag_name('b', kw), NULL);
	CHECK_STR(imap_flag_name('z', kw), NULL);
	CHECK_STR(imap_flag_name('a', NULL), NULL);

	CHECK_STR(letters(imap_flags_storable(kw)), "DFRSTaj");
	CHECK_STR(letters(imap_flags_storable(NULL)), "DFRST");

	static const struct {
		const char *letters;
		const char *want;
	} fmt[] = {
		{ "", "" },
		{ "S", "\\Seen" },
		{ "DFPRST", "\\Seen \\Answered \\Flagged \\Deleted \\Draft" }, /* P dropped */
		{ "Sabjz", "\\Seen $Label1 Junk" },
	};
	for (size_t i = 0; i < N(fmt); i++) {
		struct strbuf sb = STRBUF_INIT;
		imap_flags_format(flags_from_letters(fmt[i].letters, strlen(fmt[i].letters)), kw, &sb);
		CHECK_STR(sb_str(&sb), fmt[i].want);
		/* round trip */
		CHECK(imap_flags_parse(sb_str(&sb), kw) ==
		      (flags_from_letters(fmt[i].letters, strlen(fmt[i].letters)) &
		       imap_flags_storable(kw)));
		sb_free(&sb);
	}

	static const struct {
		const char *kw;
		int valid;
	} valid[] = {
		{ "$Junk", 1 },  { "NonJunk", 1 }, { "a.b-c_d", 1 }, { "", 0 },
		{ "a b", 0 },    { "(x", 0 },      { "x)", 0 },      { "\\Seen", 0 },
		{ "x\"", 0 },    { "x*", 0 },      { "x%", 0 },      { "x]", 0 },
		{ "x{1}", 0 },   { "\x01", 0 },    { "\xc3\xa9", 0 },
	};
	for (size_t i = 0; i < N(valid); i++)
		CHECK_INT(imap_keyword_valid(valid[i].kw), valid[i].valid);
	CHECK(!imap_keyword_valid(NULL));

	return check_report("test_imap_flags");
}
