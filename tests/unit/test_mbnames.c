/* Unit tests for sync/mbnames.c's JSON writer: byte-identical to Python's
 * json.dumps (ensure_ascii, ", " and ": " separators), which is what
 * OfflineIMAP writes into <metadata>/mbnames/<account>.json. The expected
 * strings were produced by python3's json.dumps on the same names (file
 * names that are not UTF-8 decoded with surrogateescape, as Python does). */
#include <stdio.h>
#include <stdlib.h>

#include "check.h"
#include "sync/mbnames.h"

static const struct {
	const char *name, *json_name;
} cases[] = {
	{ "INBOX", "INBOX" },
	{ "Caf\xc3\xa9", "Caf\\u00e9" },
	{ "a\"b\\c/d", "a\\\"b\\\\c/d" },
	{ "tab\there\nnl", "tab\\there\\nnl" },
	{ "\x01\x7f", "\\u0001\\u007f" },
	{ "emoji\xf0\x9f\x98\x80", "emoji\\ud83d\\ude00" },
	{ "bad\xff\xfeutf8", "bad\\udcff\\udcfeutf8" },
	{ "G&AOQ-ste", "G&AOQ-ste" },
	{ "over\xc0\xaflong", "over\\udcc0\\udcaflong" },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *names[] = { cases[i].name };
		char *got = mbnames_json("A", "/m", names, 1);
		char want[256];
		snprintf(want, sizeof(want),
			 "[{\"accountname\": \"A\", \"foldername\": \"%s\", \"localfolders\": \"/m\"}]",
			 cases[i].json_name);
		CHECK_STR(got, want);
		free(got);
	}
	char *empty = mbnames_json("A", "/m", NULL, 0);
	CHECK_STR(empty, "[]");
	free(empty);
	const char *two[] = { "INBOX", "Sent" };
	char *got = mbnames_json("W\xc3\xb6rk", "/h/M\xc3\xa4il", two, 2);
	CHECK_STR(got, "[{\"accountname\": \"W\\u00f6rk\", \"foldername\": \"INBOX\", "
		       "\"localfolders\": \"/h/M\\u00e4il\"}, {\"accountname\": \"W\\u00f6rk\", "
		       "\"foldername\": \"Sent\", \"localfolders\": \"/h/M\\u00e4il\"}]");
	free(got);
	return check_report("test_mbnames");
}
