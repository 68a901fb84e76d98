/* Unit tests for cache/status_repair.c: error texts made safe to print,
 * damage recognised, a damaged file moved aside (never deleted). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "cache/status_repair.h"
#include "sync/account_check.h"
#include "tests/unit/check.h"

static void test_clean(void)
{
	char a[] = "plain ascii: ok";
	status_clean_text(a);
	CHECK_STR(a, "plain ascii: ok");
	char b[] = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7";
	status_clean_text(b);
	CHECK_STR(b, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa7");
	char c[] = "bad \xff\xfe\x80 ctl \x01\x1b[31m end \xc0\xaf \xed\xa0\x80 \xe2\x82";
	status_clean_text(c);
	CHECK_STR(c, "bad ??? ctl ??[31m end ?? ??? ??");
}

static void test_damage(void)
{
	CHECK(status_error_is_damage("x.sqlite: journal_mode: file is not a database"));
	CHECK(status_error_is_damage("x.sqlite: journal_mode: database disk image is malformed"));
	CHECK(!status_error_is_damage("x.sqlite: journal_mode: disk I/O error (No space left on device)"));
	CHECK(!status_error_is_damage(NULL));
}

static void test_move_aside(void)
{
	char dir[] = "/tmp/ofs-repair-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[256], wal[300];
	snprintf(path, sizeof(path), "%s/offlinefs.sqlite", dir);
	snprintf(wal, sizeof(wal), "%s-wal", path);
	char *moved = NULL, *err = NULL;
	CHECK_INT(status_move_aside(path, &moved, &err), 0); /* missing: nothing */
	CHECK(moved == NULL);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	close(open(wal, O_CREAT | O_WRONLY, 0600));
	CHECK_INT(status_move_aside(path, &moved, &err), 0);
	CHECK(moved && strstr(moved, "offlinefs.sqlite.damaged-"));
	CHECK(access(path, F_OK) != 0);
	CHECK(access(wal, F_OK) != 0);
	CHECK(moved && access(moved, F_OK) == 0);
	char mwal[400];
	snprintf(mwal, sizeof(mwal), "%s-wal", moved ? moved : "");
	CHECK(access(mwal, F_OK) == 0);
	unlink(mwal);
	if (moved)
		unlink(moved);
	free(moved);
	rmdir(dir);
}

static void test_echo(void)
{
	char *e = account_echo("short");
	CHECK_STR(e, "short");
	free(e);
	char big[300];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	e = account_echo(big);
	CHECK_INT(strlen(e), ACCOUNT_ECHO_MAX + 3);
	CHECK(!strcmp(e + ACCOUNT_ECHO_MAX, "..."));
	free(e);
	/* cut at a character boundary: 79 x then a 2-byte char */
	char u[100];
	memset(u, 'x', 79);
	strcpy(u + 79, "\xc3\xa9yyyy");
	e = account_echo(u);
	CHECK_INT(strlen(e), 79 + 3);
	free(e);
	e = account_echo("a\nb");
	CHECK_STR(e, "a?b");
	free(e);
}

int main(void)
{
	test_clean();
	test_damage();
	test_move_aside();
	test_echo();
	return check_report("test_status_repair");
}
