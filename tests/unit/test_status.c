/* Unit tests for cache/status.c (the sqlite status cache and the import of
 * OfflineIMAP LocalStatus-sqlite DBs) and cache/lock.c (the account lock),
 * in a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache/lock.h"
#include "cache/status.h"
#include "cache/status_internal.h"
#include "common/xalloc.h"
#include "tests/unit/check.h"

static char tmpdir[] = "/tmp/test_status.XXXXXX";

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static unsigned mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

static flagset_t F(const char *letters)
{
	return flags_from_letters(letters, strlen(letters));
}

/* "uid:flags uid:flags" of the folder, for compact comparisons. */
static char *dump(struct status_db *db, int64_t folder_id)
{
	struct status_rec *recs;
	size_t n;
	char *err = NULL;
	if (status_load(db, folder_id, &recs, &n, &err) < 0) {
		fprintf(stderr, "status_load: %s\n", err);
		free(err);
		return xstrdup("(error)");
	}
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		char letters[FLAGS_LETTERS_MAX];
		flags_to_letters(recs[i].flags, letters);
		sb_addf(&sb, "%s%u:%s", i ? " " : "", recs[i].uid, letters);
	}
	free(recs);
	return sb_detach(&sb);
}

#define CHECK_DUMP(db, id, want)                   \
	do {                                       \
		char *d_ = dump((db), (id));       \
		CHECK_STR(d_, (want));             \
		free(d_);                          \
	} while (0)

/* Runs sql on the file at path with the plain sqlite3 API. */
static void sql_file(const char *path, const char *sql)
{
	sqlite3 *s;
	CHECK(sqlite3_open(path, &s) == SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(s, sql, NULL, NULL, &msg) != SQLITE_OK) {
		fprintf(stderr, "sql_file %s: %s\n", path, msg);
		CHECK(0);
	}
	sqlite3_free(msg);
	sqlite3_close(s);
}

/* The first column of the first row of sql on path, as text ("" for none). */
static char *sql_value(const char *path, const char *sql)
{
	sqlite3 *s;
	sqlite3_stmt *st;
	char *v = NULL;
	if (sqlite3_open_v2(path, &s, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(s, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = xstrdup(sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
							     : "(null)");
		sqlite3_finalize(st);
	}
	sqlite3_close(s);
	return v ? v : xstrdup("");
}

/* Opens path read-write; the test cannot go on without it. */
static struct status_db *open_or_exit(const char *path, bool fsync)
{
	struct status_db *db = NULL;
	char *err = NULL;
	CHECK(status_open(path, false, fsync, &db, &err) == 0);
	if (!db) {
		fprintf(stderr, "status_open: %s\n", err);
		exit(1);
	}
	return db;
}

static void test_basic(void)
{
	char *dir = xasprintf("%s/meta/Account-A", tmpdir);
	char *path = xasprintf("%s/offlinefs.sqlite", dir);
	struct status_db *db = NULL;
	char *err = NULL;

	db = open_or_exit(path, true);
	CHECK_INT(mode_of(dir), 0700);
	CHECK_INT(mode_of(path), 0600);

	struct status_folder f;
	CHECK_INT(status_folder_get(db, "INBOX", &f, &err), 0);
	CHECK_INT(f.id, 0);
	int64_t inbox = 0, lists = 0, again = 0;
	CHECK_INT(status_folder_ensure(db, "INBOX", &inbox, &err), 0);
	CHECK(inbox > 0);
	CHECK_INT(status_folder_ensure(db, "Lists/foo", &lists, &err), 0);
	CHECK(lists > 0 && lists != inbox);
	CHECK_INT(status_folder_ensure(db, "INBOX", &again, &err), 0);
	CHECK_INT(again, inbox);
	CHECK_INT(status_folder_get(db, "INBOX", &f, &err), 1);
	CHECK_INT(f.id, inbox);
	CHECK_INT(f.uidvalidity, 0);

	f = (struct status_folder){ .id = inbox, .uidvalidity = 4000000000u, .uidnext = 77,
				    .highestmodseq = 0x1234567890ull, .last_sync = 1700000000 };
	CHECK_INT(status_folder_update(db, &f, &err), 0);
	struct status_folder g;
	CHECK_INT(status_folder_get(db, "INBOX", &g, &err), 1);
	CHECK_INT(g.uidvalidity, 4000000000u);
	CHECK_INT(g.uidnext, 77);
	CHECK(g.highestmodseq == 0x1234567890ull);
	CHECK_INT(g.last_sync, 1700000000);
	f.id = 9999;
	CHECK_INT(status_folder_update(db, &f, &err), -1);
	CHECK(err && strstr(err, path) && strstr(err, "9999"));
	free(err);
	err = NULL;

	/* batch: rows come back sorted by uid, flags canonical */
	CHECK_INT(status_begin(db, &err), 0);
	CHECK_INT(status_begin(db, &err), -1); /* no nesting */
	free(err);
	err = NULL;
	CHECK_INT(status_put(db, inbox, 5, F("SF"), &err), 0);
	CHECK_INT(status_put(db, inbox, 1, F("S"), &err), 0);
	CHECK_INT(status_put(db, inbox, 3, 0, &err), 0);
	CHECK_INT(status_put(db, inbox, 4294967295u, F("aS"), &err), 0);
	CHECK_INT(status_put(db, lists, 1, F("R"), &err), 0);
	CHECK_INT(status_commit(db, &err), 0);
	CHECK_INT(status_commit(db, &err), -1);
	free(err);
	err = NULL;
	CHECK_DUMP(db, inbox, "1:S 3: 5:FS 4294967295:Sa");
	CHECK_DUMP(db, lists, "1:R");

	/* replace, remove */
	CHECK_INT(status_begin(db, &err), 0);
	CHECK_INT(status_put(db, inbox, 5, F("R"), &err), 0);
	CHECK_INT(status_remove(db, inbox, 3, &err), 0);
	CHECK_INT(status_remove(db, inbox, 333, &err), 0); /* absent: fine */
	CHECK_INT(status_commit(db, &err), 0);
	CHECK_DUMP(db, inbox, "1:S 5:R 4294967295:Sa");

	/* rollback drops the batch */
	CHECK_INT(status_begin(db, &err), 0);
	CHECK_INT(status_put(db, inbox, 7, F("S"), &err), 0);
	CHECK_INT(status_remove(db, inbox, 1, &err), 0);
	status_rollback(db);
	CHECK_DUMP(db, inbox, "1:S 5:R 4294967295:Sa");

	char **names;
	size_t n;
	CHECK_INT(status_folder_names(db, &names, &n, &err), 0);
	CHECK_INT(n, 2);
	if (n == 2) {
		CHECK_STR(names[0], "INBOX");
		CHECK_STR(names[1], "Lists/foo");
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);

	CHECK_INT(status_folder_clear(db, lists, &err), 0);
	CHECK_DUMP(db, lists, "");
	CHECK_DUMP(db, inbox, "1:S 5:R 4294967295:Sa");
	status_close(&db);
	CHECK(db == NULL);

	/* what is on disk: WAL, our schema, human-readable flags */
	char *v = sql_value(path, "PRAGMA journal_mode");
	CHECK_STR(v, "wal");
	free(v);
	v = sql_value(path, "SELECT value FROM meta WHERE key = 'schema_version'");
	CHECK_STR(v, "1");
	free(v);
	v = sql_value(path, "SELECT flags FROM messages WHERE uid = 4294967295");
	CHECK_STR(v, "Sa");
	free(v);

	/* reopen: everything persisted */
	CHECK_INT(status_open(path, false, false, &db, &err), 0);
	CHECK_INT(status_folder_get(db, "INBOX", &g, &err), 1);
	CHECK_INT(g.id, inbox);
	CHECK_INT(g.uidnext, 77);
	CHECK_DUMP(db, inbox, "1:S 5:R 4294967295:Sa");
	status_close(&db);

	/* readonly on an existing file: readable, writes stay in memory */
	CHECK_INT(status_open(path, true, false, &db, &err), 0);
	CHECK_DUMP(db, inbox, "1:S 5:R 4294967295:Sa");
	CHECK_INT(status_begin(db, &err), 0);
	CHECK_INT(status_put(db, inbox, 9, F("S"), &err), 0);
	CHECK_INT(status_commit(db, &err), 0);
	CHECK_DUMP(db, inbox, "1:S 5:R 9:S 4294967295:Sa");
	status_close(&db);
	CHECK_INT(status_open(path, false, false, &db, &err), 0);
	CHECK_DUMP(db, inbox, "1:S 5:R 4294967295:Sa");
	status_close(&db);

	/* a DB from a newer offlinefs is refused */
	sql_file(path, "UPDATE meta SET value = '2' WHERE key = 'schema_version'");
	CHECK_INT(status_open(path, false, false, &db, &err), -1);
	CHECK(err && strstr(err, "schema_version 2"));
	free(err);
	err = NULL;

	free(path);
	free(dir);
}

static void test_readonly_missing(void)
{
	char *dir = xasprintf("%s/nometa/Account-B", tmpdir);
	char *path = xasprintf("%s/offlinefs.sqlite", dir);
	struct status_db *db = NULL;
	char *err = NULL;
	CHECK_INT(status_open(path, true, true, &db, &err), 0);
	CHECK(db != NULL);
	int64_t id = 0;
	struct status_folder f;
	CHECK_INT(status_folder_get(db, "INBOX", &f, &err), 0);
	CHECK_INT(status_folder_ensure(db, "INBOX", &id, &err), 0);
	CHECK_INT(status_put(db, id, 1, F("S"), &err), 0);
	CHECK_DUMP(db, id, "1:S");
	status_close(&db);
	CHECK(!exists(path));
	char *top = xasprintf("%s/nometa", tmpdir);
	CHECK(!exists(top));
	free(top);
	free(path);
	free(dir);
}

#define OI_V2_SCHEMA                                                                       \
	"CREATE TABLE metadata (key VARCHAR(50) PRIMARY KEY, value VARCHAR(128));"         \
	"INSERT INTO metadata VALUES('db_version', '2');"                                  \
	"CREATE TABLE status (id INTEGER PRIMARY KEY, flags VARCHAR(50), mtime INTEGER, " \
	"labels VARCHAR(256));"
#define OI_V1_SCHEMA                                                               \
	"CREATE TABLE metadata (key VARCHAR(50) PRIMARY KEY, value VARCHAR(128));" \
	"INSERT INTO metadata VALUES('db_version', '1');"                          \
	"CREATE TABLE status (id INTEGER PRIMARY KEY, flags VARCHAR(50));"

static void test_import(void)
{
	char *path = xasprintf("%s/import.sqlite", tmpdir);
	struct status_db *db = NULL;
	char *err = NULL;
	size_t count = 99;
	CHECK_INT(status_open(path, false, false, &db, &err), 0);
	if (!db)
		exit(1);
	int64_t a, b, c, d;
	status_folder_ensure(db, "INBOX", &a, &err);
	status_folder_ensure(db, "Sent", &b, &err);
	status_folder_ensure(db, "Lists.foo", &c, &err);
	status_folder_ensure(db, "Bad", &d, &err);

	/* v2, as written by offlineimap3; a '?' and '%' in the path must not
	 * confuse the file: URI */
	char *oi_dir = xasprintf("%s/Account-A/LocalStatus-sqlite", tmpdir);
	char *mk = xasprintf("mkdir -p '%s'", oi_dir);
	CHECK_INT(system(mk), 0);
	free(mk);
	char *v2 = xasprintf("%s/IN?BOX %%41#x", oi_dir);
	sql_file(v2, OI_V2_SCHEMA
		 "INSERT INTO status VALUES (1, 'S', 0, '');"
		 "INSERT INTO status VALUES (2, 'FS', 0, '');"
		 "INSERT INTO status VALUES (3, NULL, 0, NULL);"
		 "INSERT INTO status VALUES (4, 'RSa', 0, 'x, y');"
		 "INSERT INTO status VALUES (-1, 'S', 0, '');"
		 "INSERT INTO status VALUES (0, 'S', 0, '');"
		 "INSERT INTO status VALUES (4294967296, 'S', 0, '');");
	CHECK_INT(status_import_offlineimap(db, a, v2, &count, &err), 0);
	if (err)
		fprintf(stderr, "import: %s\n", err);
	CHECK_INT(count, 4);
	CHECK_DUMP(db, a, "1:S 2:FS 3: 4:RSa");

	/* v1, imported inside the caller's transaction; an existing row wins */
	char *v1 = xasprintf("%s/Sent", oi_dir);
	sql_file(v1, OI_V1_SCHEMA "INSERT INTO status VALUES (10, 'S');"
				  "INSERT INTO status VALUES (11, 'FS');");
	CHECK_INT(status_begin(db, &err), 0);
	CHECK_INT(status_put(db, b, 10, F("R"), &err), 0);
	CHECK_INT(status_import_offlineimap(db, b, v1, &count, &err), 0);
	CHECK_INT(status_commit(db, &err), 0);
	CHECK_INT(count, 1);
	CHECK_DUMP(db, b, "10:R 11:FS");
	/* the source was opened read-only: not upgraded, not touched */
	char *ver = sql_value(v1, "SELECT value FROM metadata WHERE key = 'db_version'");
	CHECK_STR(ver, "1");
	free(ver);

	/* missing file: nothing, no error */
	char *missing = xasprintf("%s/nope", oi_dir);
	count = 5;
	CHECK_INT(status_import_offlineimap(db, c, missing, &count, &err), 0);
	CHECK_INT(count, 0);
	CHECK(!exists(missing));

	/* unknown db_version and non-sqlite files are errors; nothing imported */
	char *v3 = xasprintf("%s/v3", oi_dir);
	sql_file(v3, OI_V2_SCHEMA "UPDATE metadata SET value = '3';"
				  "INSERT INTO status VALUES (1, 'S', 0, '');");
	CHECK_INT(status_import_offlineimap(db, d, v3, &count, &err), -1);
	CHECK(err && strstr(err, v3) && strstr(err, "db_version '3'"));
	free(err);
	err = NULL;
	char *junk = xasprintf("%s/junk", oi_dir);
	FILE *fp = fopen(junk, "w");
	fputs("OFFLINEIMAP LocalStatus CACHE DATA - DO NOT MODIFY - FORMAT 2\n1|S|0|\n", fp);
	fclose(fp);
	CHECK_INT(status_import_offlineimap(db, d, junk, &count, &err), -1);
	CHECK(err && strstr(err, junk));
	free(err);
	err = NULL;
	CHECK_DUMP(db, d, "");
	status_close(&db);

	free(v2);
	free(v1);
	free(v3);
	free(junk);
	free(missing);
	free(oi_dir);
	free(path);
}

static void test_lock(void)
{
	char *meta = xasprintf("%s/lockmeta", tmpdir);
	char *lockfile = xasprintf("%s/A.lock", meta);
	char *err = NULL;
	int fd = account_lock(meta, "A", 0, &err);
	CHECK(fd >= 0);
	CHECK_INT(mode_of(lockfile), 0600);
	CHECK_INT(mode_of(meta), 0700);

	/* same process: refused (a second lockf would wrongly succeed) */
	int fd2 = account_lock(meta, "A", 0, &err);
	CHECK_INT(fd2, -1);
	if (err) {
		char *want = xasprintf("Could not lock account 'A' (%s): another offlinefs or "
				       "offlineimap is using this account",
				       lockfile);
		CHECK_STR(err, want);
		free(want);
	}
	free(err);
	err = NULL;
	/* ...and the failed attempt did not drop our lock: another process
	 * still cannot take it */
	pid_t pid = fork();
	if (pid == 0) {
		int cfd = account_lock(meta, "A", 0, &err);
		_exit(cfd < 0 && err && strstr(err, "another offlinefs") ? 0 : 1);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* another account is independent */
	int fdb = account_lock(meta, "B", 0, &err);
	CHECK(fdb >= 0);
	account_unlock(&fdb);
	CHECK_INT(fdb, -1);

	/* a waiting child gets the lock once we let go */
	pid = fork();
	if (pid == 0) {
		int cfd = account_lock(meta, "A", 5, &err);
		_exit(cfd >= 0 ? 0 : 1);
	}
	usleep(300 * 1000);
	account_unlock(&fd);
	CHECK_INT(fd, -1);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(exists(lockfile)); /* kept, like a crash would */

	/* free again in this process */
	fd = account_lock(meta, "A", 0, &err);
	CHECK(fd >= 0);
	account_unlock(&fd);

	/* unusable metadata path */
	char *bad = xasprintf("%s/A.lock/sub", meta);
	CHECK_INT(account_lock(bad, "A", 0, &err), -1);
	CHECK(err && strstr(err, "open: Not a directory"));
	free(err);
	free(bad);
	free(meta);
	free(lockfile);
}

static int synchronous_of(struct status_db *db)
{
	sqlite3_stmt *st = NULL;
	int v = -1;
	if (sqlite3_prepare_v2(status_sqlite(db), "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Relaxed transactions (the sync's row batches) commit with
 * synchronous=NORMAL and put FULL back after commit and rollback, so the
 * upload marks that follow are still written durably. */
static void test_relaxed(void)
{
	char *path = xasprintf("%s/relaxed.sqlite", tmpdir);
	struct status_db *db = NULL;
	char *err = NULL;
	db = open_or_exit(path, true);
	CHECK_INT(synchronous_of(db), 2); /* FULL */
	int64_t id = 0;
	CHECK_INT(status_folder_ensure(db, "INBOX", &id, &err), 0);
	CHECK_INT(status_begin_relaxed(db, &err), 0);
	CHECK_INT(synchronous_of(db), 0); /* OFF: see wal_hook in status.c */
	CHECK_INT(status_put(db, id, 7, FLAG_SEEN, &err), 0);
	CHECK_INT(status_commit(db, &err), 0);
	CHECK_INT(synchronous_of(db), 2);
	CHECK_INT(status_begin_relaxed(db, &err), 0);
	CHECK_INT(status_put(db, id, 8, 0, &err), 0);
	status_rollback(db);
	CHECK_INT(synchronous_of(db), 2);
	CHECK_INT(status_begin(db, &err), 0);
	CHECK_INT(synchronous_of(db), 2);
	CHECK_INT(status_commit(db, &err), 0);
	status_close(&db);
	/* what the relaxed commit wrote is there, what was rolled back not */
	db = open_or_exit(path, true);
	struct status_rec *rows = NULL;
	size_t n = 0;
	CHECK_INT(status_load(db, id, &rows, &n, &err), 0);
	CHECK_INT(n, 1);
	CHECK(n == 1 && rows[0].uid == 7 && rows[0].flags == FLAG_SEEN);
	free(rows);
	status_close(&db);
	/* a relaxed transaction that fills the log past sqlite's checkpoint
	 * threshold: no checkpoint under OFF, but one right after the commit,
	 * with FULL again (the database file grows by the pages moved) */
	db = open_or_exit(path, true);
	struct stat before, after;
	CHECK_INT(stat(path, &before), 0);
	CHECK_INT(status_begin_relaxed(db, &err), 0);
	for (uint32_t uid = 1000; uid < 400000; uid++) /* about 1,000 WAL pages */
		if (status_put(db, id, uid, FLAG_SEEN | FLAG_FLAGGED, &err) < 0)
			break;
	CHECK_INT(status_commit(db, &err), 0);
	CHECK_INT(synchronous_of(db), 2);
	CHECK_INT(stat(path, &after), 0);
	CHECK(after.st_size > before.st_size + 1000 * 4096);
	status_close(&db);
	/* without fsync every transaction is NORMAL anyway */
	db = open_or_exit(path, false);
	CHECK_INT(synchronous_of(db), 1);
	CHECK_INT(status_begin_relaxed(db, &err), 0);
	CHECK_INT(status_commit(db, &err), 0);
	CHECK_INT(synchronous_of(db), 1);
	status_close(&db);
	free(path);
}

/* status_sync_start/_wait: the WAL synced on a thread (the upload marks'
 * durability, overlapped with a server round trip). */
static void test_sync_on_thread(void)
{
	char *path = xasprintf("%s/syncthread.sqlite", tmpdir);
	char *err = NULL;
	struct status_db *db = open_or_exit(path, true);
	int64_t id = 0;
	CHECK_INT(status_folder_ensure(db, "INBOX", &id, &err), 0);
	CHECK_INT(status_sync_wait(db, &err), 0); /* none started: nothing to wait for */
	CHECK_INT(status_begin_relaxed(db, &err), 0);
	CHECK_INT(status_upload_mark(db, id, "1.M1P1.host", &err), 0);
	CHECK_INT(status_commit(db, &err), 0);
	CHECK_INT(status_sync_start(db, &err), 0);
	/* the connection goes on being used while the thread syncs */
	CHECK_INT(status_begin_relaxed(db, &err), 0);
	CHECK_INT(status_put(db, id, 9, FLAG_SEEN, &err), 0);
	CHECK_INT(status_commit(db, &err), 0);
	CHECK_INT(status_sync_start(db, &err), 0); /* waits for the first, starts anew */
	CHECK_INT(status_sync_wait(db, &err), 0);
	CHECK_INT(status_sync_wait(db, &err), 0);
	CHECK_INT(status_sync_start(db, &err), 0); /* left running: close waits for it */
	status_close(&db);
	char *v = sql_value(path, "SELECT base FROM uploads");
	CHECK_STR(v, "1.M1P1.host");
	free(v);
	/* without fsync there is nothing to wait for */
	db = open_or_exit(path, false);
	CHECK_INT(status_sync_start(db, &err), 0);
	CHECK_INT(status_sync_wait(db, &err), 0);
	status_close(&db);
	/* nothing committed since the open: nothing to sync (the end of a
	 * no-op run), not even a log to open */
	db = open_or_exit(path, true);
	char *gone = xasprintf("%s-wal", path), *aside = xasprintf("%s-wal.aside", path);
	bool had_wal = rename(gone, aside) == 0;
	CHECK_INT(status_sync_start(db, &err), 0);
	CHECK_INT(status_sync_wait(db, &err), 0);
	if (had_wal)
		CHECK_INT(rename(aside, gone), 0);
	free(gone);
	free(aside);
	status_close(&db);
	/* a WAL that cannot be opened: an error naming the database; the
	 * caller then commits FULL instead */
	db = open_or_exit(path, true);
	CHECK_INT(status_begin_relaxed(db, &err), 0);
	CHECK_INT(status_put(db, id, 10, 0, &err), 0);
	CHECK_INT(status_commit(db, &err), 0);
	char *wal = xasprintf("%s-wal", path);
	char *moved = xasprintf("%s-wal.away", path);
	CHECK_INT(rename(wal, moved), 0);
	CHECK_INT(status_sync_start(db, &err), -1);
	CHECK(err && strstr(err, path) && strstr(err, "write-ahead log"));
	free(err);
	err = NULL;
	CHECK_INT(rename(moved, wal), 0);
	status_close(&db);
	free(wal);
	free(moved);
	free(path);
}

int main(void)
{
	umask(022);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_basic();
	test_readonly_missing();
	test_import();
	test_lock();
	test_relaxed();
	test_sync_on_thread();
	char *rm = xasprintf("rm -rf '%s'", tmpdir);
	if (check_failures == 0 && system(rm) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	free(rm);
	return check_report("test_status");
}
