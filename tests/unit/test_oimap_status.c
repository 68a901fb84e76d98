/* Unit tests for cache/oimap_status.c: OfflineIMAP's LocalStatus-sqlite and
 * FolderValidity files kept in step with our rows, in a temporary
 * directory. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/oimap_status.h"
#include "common/xalloc.h"
#include "tests/unit/check.h"

static char tmpdir[] = "/tmp/test_oimap_status.XXXXXX";

static flagset_t F(const char *letters)
{
	return flags_from_letters(letters, strlen(letters));
}

/* "id:flags:mtime:labels ..." of an OfflineIMAP DB, by id. */
static char *dump(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	struct strbuf sb = STRBUF_INIT;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "SELECT id, flags, mtime, labels FROM status ORDER BY id", -1,
			       &st, NULL) != SQLITE_OK) {
		sqlite3_close(db);
		return xstrdup("(unreadable)");
	}
	while (sqlite3_step(st) == SQLITE_ROW) {
		sb_addf(&sb, "%s%lld:%s:%lld:%s", sb.len ? " " : "",
			(long long)sqlite3_column_int64(st, 0),
			(const char *)sqlite3_column_text(st, 1),
			(long long)sqlite3_column_int64(st, 2),
			sqlite3_column_text(st, 3) ? (const char *)sqlite3_column_text(st, 3)
						   : "NULL");
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return sb_detach(&sb);
}

static void exec(const char *path, const char *sql)
{
	sqlite3 *db;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
}

static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return NULL;
	char buf[64] = "";
	size_t n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	return xstrdup(buf);
}

static void test_basename(void)
{
	char *s;
	CHECK_STR(s = oimap_basename("INBOX"), "INBOX");
	free(s);
	CHECK_STR(s = oimap_basename("Lists/foo/bar"), "Lists.foo.bar");
	free(s);
	CHECK_STR(s = oimap_basename(""), "dot");
	free(s);
	CHECK_STR(s = oimap_basename("."), "dot");
	free(s);
}

static void test_absent_does_nothing(void)
{
	struct oimap_account oa = { .metadata = tmpdir, .account = "None",
				    .remote_repo = "R", .local_repo = "L" };
	struct status_rec rows[] = { { 1, 0 } };
	char *err = NULL;
	CHECK(!oimap_present(&oa));
	CHECK_INT(oimap_status_mirror(&oa, "INBOX", "INBOX", 7, rows, 1, &err), 0);
	CHECK_INT(oimap_status_apply(&oa, "INBOX", rows, 1, NULL, 0, &err), 0);
	char *dir = xasprintf("%s/Account-None", tmpdir);
	CHECK(access(dir, F_OK) != 0);
	free(dir);
	dir = xasprintf("%s/Repository-R", tmpdir);
	CHECK(access(dir, F_OK) != 0);
	free(dir);
}

static void test_mirror_and_apply(void)
{
	struct oimap_account oa = { .metadata = tmpdir, .account = "A",
				    .remote_repo = "Remote", .local_repo = "Local" };
	char *dir = xasprintf("%s/Account-A/LocalStatus-sqlite", tmpdir);
	char *parent = xasprintf("%s/Account-A", tmpdir);
	CHECK(mkdir(parent, 0700) == 0 && mkdir(dir, 0700) == 0);
	CHECK(oimap_present(&oa));
	char *err = NULL;
	char *path = oimap_status_path(&oa, "Lists/foo");
	CHECK_STR(strrchr(path, '/') + 1, "Lists.foo");

	/* created with OfflineIMAP's schema v2 */
	struct status_rec rows[] = { { 1, F("S") }, { 3, F("FS") }, { 7, F("Sa") } };
	CHECK_INT(oimap_status_mirror(&oa, "Lists/foo", "Lists.foo", 1234, rows, 3, &err), 0);
	char *d = dump(path);
	CHECK_STR(d, "1:S:0: 3:FS:0: 7:Sa:0:");
	free(d);
	char *v = xasprintf("%s/Repository-Remote/FolderValidity/Lists.foo", tmpdir);
	char *lv = xasprintf("%s/Repository-Local/FolderValidity/Lists.foo", tmpdir);
	char *s;
	CHECK_STR(s = slurp(v), "1234\n");
	free(s);
	CHECK_STR(s = slurp(lv), "42\n");
	free(s);

	/* OfflineIMAP's labels and mtime of kept rows survive; changed flags,
	 * new and gone rows follow ours */
	exec(path, "UPDATE status SET labels = 'x, y', mtime = 99 WHERE id = 3;"
		   "UPDATE status SET labels = 'z' WHERE id = 1;");
	struct status_rec rows2[] = { { 1, F("RS") }, { 3, F("FS") }, { 9, 0 } };
	CHECK_INT(oimap_status_mirror(&oa, "Lists/foo", "Lists.foo", 5678, rows2, 3, &err), 0);
	CHECK_STR(d = dump(path), "1:RS:0:z 3:FS:99:x, y 9::0:");
	free(d);
	CHECK_STR(s = slurp(v), "5678\n");
	free(s);

	struct status_rec *got = NULL;
	size_t n = 0;
	bool other = true;
	/* exec() above wrote it, but our mirror came after: not another's */
	CHECK_INT(oimap_status_load(&oa, "Lists/foo", 0, &got, &n, &other, &err), 1);
	CHECK_INT(n, 3);
	CHECK(n == 3 && got[0].uid == 1 && got[0].flags == F("RS") && got[2].uid == 9 &&
	      got[2].flags == 0);
	CHECK(!other);
	free(got);
	/* offlineimap commits: the file change counter moves on */
	exec(path, "UPDATE status SET flags = 'S' WHERE id = 9");
	CHECK_INT(oimap_status_load(&oa, "Lists/foo", 0, &got, &n, &other, &err), 1);
	CHECK(other);
	free(got);
	CHECK_INT(oimap_status_load(&oa, "Other", 0, &got, &n, &other, &err), 0);
	CHECK(got == NULL && n == 0 && !other);
	/* a DB we never wrote: another's when changed at or after `since` */
	char *foreign = oimap_status_path(&oa, "Foreign");
	exec(foreign, "CREATE TABLE metadata (key VARCHAR(50) PRIMARY KEY, value VARCHAR(128));"
		      "INSERT INTO metadata VALUES('db_version', '2');"
		      "CREATE TABLE status (id INTEGER PRIMARY KEY, flags VARCHAR(50), mtime INTEGER,"
		      " labels VARCHAR(256));");
	CHECK_INT(oimap_status_load(&oa, "Foreign", 0, &got, &n, &other, &err), 1);
	CHECK(other);
	CHECK_INT(oimap_status_load(&oa, "Foreign", (int64_t)time(NULL) + 10, &got, &n, &other,
				    &err), 1);
	CHECK(!other);
	free(foreign);

	/* batches */
	struct status_rec puts[] = { { 3, F("S") }, { 10, F("D") } };
	uint32_t removes[] = { 1, 42 };
	CHECK_INT(oimap_status_apply(&oa, "Lists/foo", puts, 2, removes, 2, &err), 0);
	CHECK_STR(d = dump(path), "3:S:99:x, y 9:S:0: 10:D:0:");
	free(d);
	/* a batch for a folder without a DB leaves it missing */
	CHECK_INT(oimap_status_apply(&oa, "Other", puts, 2, NULL, 0, &err), 0);
	char *other_path = oimap_status_path(&oa, "Other");
	CHECK(access(other_path, F_OK) != 0);
	free(other_path);

	/* schema v1 (before 2013): id and flags only */
	char *p1 = oimap_status_path(&oa, "Old");
	exec(p1, "CREATE TABLE metadata (key VARCHAR(50) PRIMARY KEY, value VARCHAR(128));"
		 "INSERT INTO metadata VALUES('db_version', '1');"
		 "CREATE TABLE status (id INTEGER PRIMARY KEY, flags VARCHAR(50));"
		 "INSERT INTO status VALUES (5, 'S');");
	CHECK_INT(oimap_status_mirror(&oa, "Old", "Old", 1, rows, 3, &err), 0);
	sqlite3 *db;
	sqlite3_stmt *st;
	CHECK(sqlite3_open(p1, &db) == SQLITE_OK);
	CHECK(sqlite3_prepare_v2(db, "SELECT group_concat(id || ':' || flags, ' ') FROM status",
				 -1, &st, NULL) == SQLITE_OK);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(st, 0), "1:S 3:FS 7:Sa");
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* an empty file (a crash while OfflineIMAP created it) is created anew */
	char *pe = oimap_status_path(&oa, "Empty");
	FILE *fp = fopen(pe, "w");
	CHECK(fp != NULL);
	if (fp)
		fclose(fp);
	CHECK_INT(oimap_status_load(&oa, "Empty", 0, &got, &n, &other, &err), 0);
	CHECK_INT(oimap_status_mirror(&oa, "Empty", "Empty", 1, rows, 1, &err), 0);
	CHECK_STR(d = dump(pe), "1:S:0:");
	free(d);
	free(pe);

	/* an unknown version is left alone */
	exec(p1, "UPDATE metadata SET value = '3'");
	CHECK_INT(oimap_status_mirror(&oa, "Old", "Old", 1, rows2, 3, &err), -1);
	CHECK(err && strstr(err, "db_version"));
	free(err);
	free(p1);

	free(v);
	free(lv);
	free(path);
	free(dir);
	free(parent);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_basename();
	test_absent_does_nothing();
	test_mirror_and_apply();
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	free(cmd);
	return check_report("test_oimap_status");
}
