/* Unit tests for cache/maildir_name.c: the OfflineIMAP-compatible Maildir
 * filename codec and folder-name checks. */
#include <stdlib.h>

#include "cache/maildir_name.h"
#include "tests/unit/check.h"

#define MD5_INBOX "7e33429f656f1e6e9d79b29c3f82c57e"
#define MD5_LISTS_FOO "85373cf2738e71c68e6984849284c7c3"
#define MD5_SENT "7f8c0283f16925caed8e632086b81b9c"

static void test_md5(void)
{
	char md5[33];
	maildir_folder_md5("INBOX", md5);
	CHECK_STR(md5, MD5_INBOX);
	maildir_folder_md5("Lists/foo", md5);
	CHECK_STR(md5, MD5_LISTS_FOO);
	maildir_folder_md5("Lists.foo", md5);
	CHECK_STR(md5, "e14c1987ac1ea8de061348265180f4a3");
	maildir_folder_md5("", md5);
	CHECK_STR(md5, "d41d8cd98f00b204e9800998ecf8427e");
}

static void test_parse(void)
{
	static const struct {
		const char *name;
		const char *md5;
		char infosep;
		uint32_t uid;
		const char *flags;
		bool has_info;
		size_t base_len;
	} cases[] = {
		/* the reference doc's examples */
		{ "1795648861_0.13031.vm,U=1,FMD5=" MD5_INBOX ":2,S", MD5_INBOX, ':', 1, "S", true, 63 },
		{ "1795648861_2.13031.vm,U=2,FMD5=" MD5_INBOX ":2,", MD5_INBOX, ':', 2, "", true, 63 },
		/* sorted or not, every letter counts; digits and '_' are ignored */
		{ "1795648861_0.13031.vm,U=17,FMD5=" MD5_INBOX ":2,SFa", MD5_INBOX, ':', 17, "FSa", true, 64 },
		{ "1795648861_0.13031.vm,U=17,FMD5=" MD5_INBOX ":2,S1_R", MD5_INBOX, ':', 17, "RS", true, 64 },
		/* the same file seen from another folder: no UID */
		{ "1795648861_0.13031.vm,U=1,FMD5=" MD5_INBOX ":2,S", MD5_SENT, ':', 0, "S", true, 63 },
		/* FMD5 anywhere, U= anywhere: first ",U=<digits>" wins */
		{ "1_0.1.h,FMD5=" MD5_INBOX ",U=9,U=10:2,R", MD5_INBOX, ':', 9, "R", true, 54 },
		{ "1_0.1.h,U=x,U=12,FMD5=" MD5_INBOX ":2,", MD5_INBOX, ':', 12, "", true, 54 },
		/* FMD5 but no U= (uid 0 written by maildir_name_new) */
		{ "1_0.1.h,FMD5=" MD5_INBOX ":2,F", MD5_INBOX, ':', 0, "F", true, 45 },
		/* UID too large for 32 bits is no UID */
		{ "1_0.1.h,U=4294967296,FMD5=" MD5_INBOX ":2,", MD5_INBOX, ':', 0, "", true, 58 },
		{ "1_0.1.h,U=4294967295,FMD5=" MD5_INBOX ":2,", MD5_INBOX, ':', 4294967295u, "", true, 58 },
		/* mutt / Dovecot / mbsync names */
		{ "1700000000.M1P1.host:2,S", MD5_INBOX, ':', 0, "S", true, 20 },
		{ "1700000000.M123P456.host,S=1234,W=1260:2,RS", MD5_INBOX, ':', 0, "RS", true, 38 },
		{ "1700000000.123_4.host,U=7:2,F", MD5_INBOX, ':', 0, "F", true, 25 },
		/* no info suffix at all (a fresh delivery into new/) */
		{ "1700000000.M1P1.host", MD5_INBOX, ':', 0, "", false, 20 },
		{ "1700000000.M1P1.host:1,xyz", MD5_INBOX, ':', 0, "", false, 26 },
		/* maildir-windows-compatible: '!' */
		{ "1795648861_0.13031.vm,U=3,FMD5=" MD5_INBOX "!2,FS", MD5_INBOX, '!', 3, "FS", true, 63 },
		/* the other separator is read too: never flagless (OfflineIMAP
		 * reads these as flagless and strips the flags on the server) */
		{ "1795648861_0.13031.vm,U=3,FMD5=" MD5_INBOX ":2,FS", MD5_INBOX, '!', 3, "FS", true, 63 },
		{ "1795648861_0.13031.vm,U=3,FMD5=" MD5_INBOX "!2,FRS", MD5_INBOX, ':', 3, "FRS", true, 63 },
		{ "1795648861_0.13031.vm,U=3,FMD5=" MD5_INBOX "!2,", MD5_INBOX, ':', 3, "", true, 63 },
		/* the configured one wins when both occur */
		{ "a!2,F:2,S", MD5_INBOX, ':', 0, "S", true, 5 },
		{ "a!2,F:2,S", MD5_INBOX, '!', 0, "F", true, 1 },
		/* other programs' names in windows-compatible form */
		{ "1700000000.M1P1.host!2,S", MD5_INBOX, '!', 0, "S", true, 20 },
		{ "1700000000.M1P1.host!2,RS", MD5_INBOX, ':', 0, "RS", true, 20 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct maildir_name_info info;
		char letters[FLAGS_LETTERS_MAX];
		maildir_name_parse(cases[i].name, cases[i].md5, cases[i].infosep, &info);
		flags_to_letters(info.flags, letters);
		if (info.uid != cases[i].uid || strcmp(letters, cases[i].flags) != 0 ||
		    info.has_info != cases[i].has_info || info.base_len != cases[i].base_len)
			fprintf(stderr, "case %zu: %s\n", i, cases[i].name);
		CHECK_INT(info.uid, cases[i].uid);
		CHECK_STR(letters, cases[i].flags);
		CHECK_INT(info.has_info, cases[i].has_info);
		CHECK_INT(info.base_len, cases[i].base_len);
	}
}

static void test_build(void)
{
	char *n = maildir_name_new(1795648861, 0, 13031, "vm", 1, MD5_INBOX, ':', FLAG_SEEN);
	CHECK_STR(n, "1795648861_0.13031.vm,U=1,FMD5=" MD5_INBOX ":2,S");
	free(n);
	n = maildir_name_new(1795648861, 2, 13031, "vm", 2, MD5_INBOX, ':', 0);
	CHECK_STR(n, "1795648861_2.13031.vm,U=2,FMD5=" MD5_INBOX ":2,");
	free(n);
	/* flags sorted, keywords after system flags, '/' in host -> '-' */
	n = maildir_name_new(5, 11, 42, "a/b/c", 4000000000u, MD5_LISTS_FOO, '!',
			     flags_from_letters("aSF", 3));
	CHECK_STR(n, "5_11.42.a-b-c,U=4000000000,FMD5=" MD5_LISTS_FOO "!2,FSa");
	free(n);
	n = maildir_name_new(5, 0, 42, "h", 0, MD5_INBOX, ':', FLAG_DRAFT);
	CHECK_STR(n, "5_0.42.h,FMD5=" MD5_INBOX ":2,D");
	free(n);

	/* round trip */
	struct maildir_name_info info;
	n = maildir_name_new(1700000000, 3, 99, "host", 123, MD5_SENT, ':',
			     flags_from_letters("RS", 2));
	maildir_name_parse(n, MD5_SENT, ':', &info);
	CHECK_INT(info.uid, 123);
	CHECK(info.flags == flags_from_letters("RS", 2));
	CHECK_INT(info.base_len, strlen(n) - strlen(":2,RS"));
	maildir_name_parse(n, MD5_INBOX, ':', &info);
	CHECK_INT(info.uid, 0);
	free(n);
}

static void test_with_flags(void)
{
	static const struct {
		const char *name, *letters;
		char infosep;
		const char *want;
	} cases[] = {
		{ "1_0.1.h,U=1,FMD5=" MD5_INBOX ":2,S", "FS", ':', "1_0.1.h,U=1,FMD5=" MD5_INBOX ":2,FS" },
		{ "1_0.1.h,U=1,FMD5=" MD5_INBOX ":2,FS", "", ':', "1_0.1.h,U=1,FMD5=" MD5_INBOX ":2," },
		{ "1700000000.M1P1.host", "S", ':', "1700000000.M1P1.host:2,S" },
		{ "1700000000.M1P1.host:2,", "Ra", ':', "1700000000.M1P1.host:2,Ra" },
		{ "1700000000.M1P1.host,S=12:2,S", "TS", ':', "1700000000.M1P1.host,S=12:2,ST" },
		{ "x!2,S", "F", '!', "x!2,F" },
		{ "x:2,S", "F", '!', "x!2,F" },
		{ "x!2,S", "FS", ':', "x:2,FS" },
		{ "1_0.1.h,U=1,FMD5=" MD5_INBOX "!2,S", "RS", '!', "1_0.1.h,U=1,FMD5=" MD5_INBOX "!2,RS" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *n = maildir_name_with_flags(cases[i].name, cases[i].infosep,
						  flags_from_letters(cases[i].letters,
								     strlen(cases[i].letters)));
		CHECK_STR(n, cases[i].want);
		free(n);
	}
	CHECK_STR(maildir_subdir_for(FLAG_SEEN | FLAG_FLAGGED), "cur");
	CHECK_STR(maildir_subdir_for(FLAG_FLAGGED), "new");
	CHECK_STR(maildir_subdir_for(0), "new");
}

static void test_path_check(void)
{
	static const struct {
		const char *name;
		char sep;
		int want;
	} cases[] = {
		{ "INBOX", '.', 0 },      { "Lists.foo", '.', 0 },  { "", '.', 0 },
		{ "", '/', 0 },           { "Lists/foo", '/', 0 },  { "a/b/c", '/', 0 },
		{ ".Sent", '.', 0 },      { "a.b", '/', 0 },        { "INBOX", '/', 0 },
		{ "Lists/foo", '.', -1 }, { "/abs", '/', -1 },      { "/abs", '.', -1 },
		{ "a//b", '/', -1 },      { "a/", '/', -1 },        { "..", '/', -1 },
		{ "..", '.', -1 },        { ".", '.', -1 },         { "a/../b", '/', -1 },
		{ "../x", '/', -1 },      { "a/./b", '/', -1 },     { "a/cur", '/', -1 },
		{ "new/a", '/', -1 },     { "tmp", '/', -1 },       { "cur", '.', -1 },
		{ "curry/news", '/', 0 }, { "a..b", '.', 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got = maildir_folder_path_check(cases[i].name, cases[i].sep);
		if (got != cases[i].want)
			fprintf(stderr, "path check \"%s\" sep '%c'\n", cases[i].name, cases[i].sep);
		CHECK_INT(got, cases[i].want);
	}
}

int main(void)
{
	test_md5();
	test_parse();
	test_build();
	test_with_flags();
	test_path_check();
	return check_report("test_maildir_name");
}
