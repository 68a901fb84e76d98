/* test_mutf7.c — common/mutf7: table of names checked against Python's
 * imaputil results (offlineimap3) and invalid inputs. */
#include <stdlib.h>

#include "check.h"
#include "common/mutf7.h"

static const struct {
	const char *utf7, *utf8;
} table[] = {
	{ "INBOX", "INBOX" },
	{ "", "" },
	{ "G&AOQ-ste", "G\xc3\xa4ste" },
	{ "&-", "&" },
	{ "Tom &- Jerry", "Tom & Jerry" },
	{ "&AOQA9gD8-", "\xc3\xa4\xc3\xb6\xc3\xbc" },
	{ "&ZeVnLIqe-", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
	{ "&2D3eAQ-", "\xf0\x9f\x98\x81" }, /* a surrogate pair */
	{ "Entw&APw-rfe/Gel&APY-scht", "Entw\xc3\xbcrfe/Gel\xc3\xb6scht" },
	{ "~peter/mail/&U,BTFw-/&ZeVnLIqe-", "~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/"
					     "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e" },
};

int main(void)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		char *d = mutf7_decode(table[i].utf7);
		CHECK_STR(d, table[i].utf8);
		free(d);
		char *e = mutf7_encode(table[i].utf8);
		CHECK_STR(e, table[i].utf7);
		free(e);
	}
	const char *bad[] = { "&", "&AOQ", "a&!-", "&2D0-", "&3gE-", "&AOQ=-", "\xc3\xa4",
			      "&AOR-" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *d = mutf7_decode(bad[i]);
		if (d)
			fprintf(stderr, "accepted %s\n", bad[i]);
		CHECK(d == NULL);
		free(d);
	}
	char *e = mutf7_encode("\xff");
	CHECK(e == NULL);
	return check_report("test_mutf7");
}
