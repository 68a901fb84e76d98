/* Unit tests for cache/outbox.c: the durable queue of local changes and the
 * names table, in the status DB of a temporary directory. */
#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cache/outbox.h"
#include "cache/status.h"
#include "common/xalloc.h"
#include "tests/unit/check.h"

static char tmpdir[] = "/tmp/test_outbox.XXXXXX";

static flagset_t F(const char *letters)
{
	return flags_from_letters(letters, strlen(letters));
}

static struct status_db *open_db(const char *path, bool readonly)
{
	struct status_db *db = NULL;
	char *err = NULL;
	if (status_open(path, readonly, false, &db, &err) < 0) {
		fprintf(stderr, "status_open %s: %s\n", path, err);
		free(err);
		exit(1);
	}
	return db;
}

#define OK(call)                                                       \
	do {                                                           \
		char *err_ = NULL;                                     \
		int rc_ = (call);                                      \
		CHECK(rc_ >= 0);                                       \
		if (rc_ < 0) {                                         \
			fprintf(stderr, "  %s: %s\n", #call, err_ ? err_ : "?"); \
		}                                                      \
		free(err_);                                            \
	} while (0)

/* Inside OK(): the address of its error variable. */
#define E &err_

static void test_queue(void)
{
	char *path = xasprintf("%s/queue.sqlite", tmpdir);
	struct status_db *db = open_db(path, false);
	size_t n = 99;
	OK(outbox_count(db, &n, E));
	CHECK_INT(n, 0);
	struct outbox_op op;
	char *err = NULL;
	CHECK_INT(outbox_peek(db, &op, &err), 0);

	struct outbox_op in[] = {
		{ .kind = OUTBOX_FLAGS, .folder = "INBOX", .uid = 7, .flags = F("SF"), .name = "b1" },
		{ .kind = OUTBOX_DELETE, .folder = "INBOX", .uid = 8 },
		{ .kind = OUTBOX_MOVE, .folder = "INBOX", .uid = 9, .flags = F("S"),
		  .dst_folder = "Archive", .name = "1700000000.M1.h,U=9,FMD5=x" },
		{ .kind = OUTBOX_APPEND, .folder = "Lists.foo", .flags = F("a"), .name = "new1" },
		{ .kind = OUTBOX_CREATE, .folder = "Caf&AOk-" },
	};
	int64_t ids[5];
	for (int i = 0; i < 5; i++)
		OK(outbox_push(db, &in[i], &ids[i], E));
	for (int i = 1; i < 5; i++)
		CHECK(ids[i] > ids[i - 1]);
	OK(outbox_count(db, &n, E));
	CHECK_INT(n, 5);

	CHECK_INT(outbox_peek(db, &op, &err), 1);
	CHECK_INT(op.id, ids[0]);
	CHECK_INT(op.kind, OUTBOX_FLAGS);
	CHECK_STR(op.folder, "INBOX");
	CHECK_INT(op.uid, 7);
	CHECK_INT(op.flags, F("FS"));
	CHECK_STR(op.name, "b1");
	CHECK(op.dst_folder == NULL);
	CHECK(op.queued_at > 1600000000);
	CHECK_INT(op.attempts, 0);
	CHECK(!op.inflight);
	CHECK(op.last_error == NULL);
	outbox_op_clear(&op);

	/* begin_try: inflight and counted; failed: reason, no longer inflight,
	 * not counted twice. */
	OK(outbox_begin_try(db, ids[0], E));
	CHECK_INT(outbox_peek(db, &op, &err), 1);
	CHECK(op.inflight);
	CHECK_INT(op.attempts, 1);
	outbox_op_clear(&op);
	OK(outbox_failed(db, ids[0], "NO [CANNOT] refused", E));
	CHECK_INT(outbox_peek(db, &op, &err), 1);
	CHECK(!op.inflight);
	CHECK_INT(op.attempts, 1);
	CHECK_STR(op.last_error, "NO [CANNOT] refused");
	outbox_op_clear(&op);
	/* A failure without begin_try counts as an attempt. */
	OK(outbox_failed(db, ids[0], "again", E));
	CHECK_INT(outbox_peek(db, &op, &err), 1);
	CHECK_INT(op.attempts, 2);
	CHECK_STR(op.last_error, "again");
	outbox_op_clear(&op);

	OK(outbox_done(db, ids[0], E));
	CHECK_INT(outbox_peek(db, &op, &err), 1);
	CHECK_INT(op.id, ids[1]);
	CHECK_INT(op.kind, OUTBOX_DELETE);
	CHECK_INT(op.uid, 8);
	CHECK(op.name == NULL);
	outbox_op_clear(&op);

	struct outbox_op *ops;
	OK(outbox_list(db, 3, &ops, &n, E));
	CHECK_INT(n, 3);
	if (n == 3) {
		CHECK_INT(ops[0].id, ids[1]);
		CHECK_INT(ops[1].kind, OUTBOX_MOVE);
		CHECK_STR(ops[1].dst_folder, "Archive");
		CHECK_STR(ops[1].name, "1700000000.M1.h,U=9,FMD5=x");
		CHECK_INT(ops[1].flags, F("S"));
		CHECK_INT(ops[2].kind, OUTBOX_APPEND);
		CHECK_STR(ops[2].folder, "Lists.foo");
		CHECK_INT(ops[2].flags, F("a"));
	}
	for (size_t i = 0; i < n; i++)
		outbox_op_clear(&ops[i]);
	free(ops);
	OK(outbox_list(db, 100, &ops, &n, E));
	CHECK_INT(n, 4);
	if (n == 4)
		CHECK_STR(ops[3].folder, "Caf&AOk-");
	for (size_t i = 0; i < n; i++)
		outbox_op_clear(&ops[i]);
	free(ops);
	OK(outbox_list(db, 0, &ops, &n, E));
	CHECK_INT(n, 0);

	/* Inside a batch: the push joins it, and a rollback takes it away
	 * together with the status rows. */
	int64_t fid, id;
	OK(status_folder_ensure(db, "INBOX", &fid, E));
	OK(status_begin(db, E));
	OK(status_put(db, fid, 1, F("S"), E));
	OK(outbox_push(db, &in[1], &id, E));
	OK(outbox_done(db, ids[1], E));
	status_rollback(db);
	OK(outbox_count(db, &n, E));
	CHECK_INT(n, 4);
	/* ... and a commit keeps all of it. */
	OK(status_begin(db, E));
	OK(outbox_done(db, ids[1], E));
	OK(outbox_name_put(db, "INBOX", "b1", 1, E));
	OK(status_commit(db, E));
	OK(outbox_count(db, &n, E));
	CHECK_INT(n, 3);

	/* Ids are never reused, even after the queue ran empty. */
	for (int i = 2; i < 5; i++)
		OK(outbox_done(db, ids[i], E));
	OK(outbox_count(db, &n, E));
	CHECK_INT(n, 0);
	OK(outbox_push(db, &in[0], &id, E));
	CHECK(id > ids[4]);
	status_close(&db);

	/* Persisted across reopen. */
	db = open_db(path, false);
	CHECK_INT(outbox_peek(db, &op, &err), 1);
	CHECK_INT(op.id, id);
	outbox_op_clear(&op);
	uint32_t uid = 0;
	CHECK_INT(outbox_name_get(db, "INBOX", "b1", &uid, &err), 1);
	CHECK_INT(uid, 1);
	status_close(&db);
	free(path);
}

static void test_names(void)
{
	char *path = xasprintf("%s/names.sqlite", tmpdir);
	struct status_db *db = open_db(path, false);
	char *err = NULL;
	uint32_t uid = 99;
	CHECK_INT(outbox_name_get(db, "INBOX", "a", &uid, &err), 0);
	CHECK_INT(uid, 0);
	OK(outbox_name_put(db, "INBOX", "c", 3, E));
	OK(outbox_name_put(db, "INBOX", "a", 1, E));
	OK(outbox_name_put(db, "INBOX", "b", 2, E));
	OK(outbox_name_put(db, "Archive", "a", 10, E));
	OK(outbox_name_put(db, "INBOX", "d", 2, E)); /* two bases, one UID */
	CHECK_INT(outbox_name_get(db, "INBOX", "a", &uid, &err), 1);
	CHECK_INT(uid, 1);
	CHECK_INT(outbox_name_get(db, "Archive", "a", &uid, &err), 1);
	CHECK_INT(uid, 10);
	OK(outbox_name_put(db, "INBOX", "a", 5, E)); /* replaces */
	CHECK_INT(outbox_name_get(db, "INBOX", "a", &uid, &err), 1);
	CHECK_INT(uid, 5);

	char **bases;
	uint32_t *uids;
	size_t n;
	OK(outbox_name_load(db, "INBOX", &bases, &uids, &n, E));
	CHECK_INT(n, 4);
	if (n == 4) {
		CHECK_STR(bases[0], "a");
		CHECK_INT(uids[0], 5);
		CHECK_STR(bases[1], "b");
		CHECK_STR(bases[2], "c");
		CHECK_INT(uids[2], 3);
		CHECK_STR(bases[3], "d");
	}
	for (size_t i = 0; i < n; i++)
		free(bases[i]);
	free(bases);
	free(uids);

	OK(outbox_name_forget_uid(db, "INBOX", 2, E));
	OK(outbox_name_remove(db, "INBOX", "c", E));
	OK(outbox_name_remove(db, "INBOX", "nonexistent", E));
	OK(outbox_name_load(db, "INBOX", &bases, &uids, &n, E));
	CHECK_INT(n, 1);
	if (n == 1)
		CHECK_STR(bases[0], "a");
	for (size_t i = 0; i < n; i++)
		free(bases[i]);
	free(bases);
	free(uids);
	OK(outbox_name_load(db, "Nowhere", &bases, &uids, &n, E));
	CHECK_INT(n, 0);
	CHECK(bases == NULL && uids == NULL);
	status_close(&db);
	free(path);
}

/* A push that returned is in the file even when the process is killed
 * right after it, at synchronous=NORMAL (fsync off). */
static void test_kill9(void)
{
	char *path = xasprintf("%s/kill9.sqlite", tmpdir);
	struct status_db *db = open_db(path, false);
	status_close(&db);
	int pfd[2];
	CHECK(pipe(pfd) == 0);
	pid_t pid = fork();
	if (pid == 0) {
		close(pfd[0]);
		struct status_db *cdb = open_db(path, false);
		char *err = NULL;
		for (uint32_t i = 1; i <= 50; i++) {
			struct outbox_op op = { .kind = OUTBOX_DELETE, .folder = "INBOX", .uid = i };
			if (outbox_push(cdb, &op, NULL, &err) < 0)
				_exit(2);
		}
		/* Told the parent, never closed: killed with the WAL unmerged. */
		if (write(pfd[1], "x", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	close(pfd[1]);
	char c;
	CHECK(read(pfd[0], &c, 1) == 1);
	close(pfd[0]);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	db = open_db(path, false);
	size_t n = 0;
	OK(outbox_count(db, &n, E));
	CHECK_INT(n, 50);
	struct outbox_op *ops;
	OK(outbox_list(db, 100, &ops, &n, E));
	for (size_t i = 0; i < n; i++) {
		CHECK_INT(ops[i].uid, i + 1);
		outbox_op_clear(&ops[i]);
	}
	free(ops);
	status_close(&db);
	free(path);
}

/* A status DB written before the outbox existed gets the tables on open,
 * keeps its rows and its schema_version; a read-only (dry-run) open of such
 * a DB works in memory and leaves the file alone. */
static void test_old_db(void)
{
	char *path = xasprintf("%s/old.sqlite", tmpdir);
	sqlite3 *raw;
	CHECK(sqlite3_open(path, &raw) == SQLITE_OK);
	CHECK(sqlite3_exec(raw,
			   "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);"
			   "CREATE TABLE folders (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
			   " uidvalidity INTEGER NOT NULL DEFAULT 0, uidnext INTEGER NOT NULL DEFAULT 0,"
			   " highestmodseq INTEGER NOT NULL DEFAULT 0, last_sync INTEGER NOT NULL"
			   " DEFAULT 0);"
			   "CREATE TABLE messages (folder_id INTEGER NOT NULL, uid INTEGER NOT NULL,"
			   " flags TEXT NOT NULL DEFAULT '', PRIMARY KEY (folder_id, uid)) WITHOUT ROWID;"
			   "INSERT INTO meta VALUES ('schema_version', '1');"
			   "INSERT INTO folders (id, name, uidvalidity) VALUES (1, 'INBOX', 5);"
			   "INSERT INTO messages VALUES (1, 4, 'S');",
			   NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(raw);
	struct stat before, after;
	CHECK(stat(path, &before) == 0);

	struct status_db *db = open_db(path, true);
	struct outbox_op op = { .kind = OUTBOX_CREATE, .folder = "X" };
	OK(outbox_push(db, &op, NULL, E));
	size_t n = 0;
	OK(outbox_count(db, &n, E));
	CHECK_INT(n, 1);
	status_close(&db);
	CHECK(stat(path, &after) == 0);
	CHECK(before.st_size == after.st_size && before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
	      before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);

	db = open_db(path, false);
	OK(outbox_count(db, &n, E));
	CHECK_INT(n, 0);
	OK(outbox_push(db, &op, NULL, E));
	OK(outbox_name_put(db, "INBOX", "x", 4, E));
	struct status_folder f;
	char *err = NULL;
	CHECK_INT(status_folder_get(db, "INBOX", &f, &err), 1);
	CHECK_INT(f.uidvalidity, 5);
	struct status_rec *recs;
	OK(status_load(db, f.id, &recs, &n, E));
	CHECK_INT(n, 1);
	free(recs);
	status_close(&db);

	CHECK(sqlite3_open(path, &raw) == SQLITE_OK);
	sqlite3_stmt *st;
	CHECK(sqlite3_prepare_v2(raw, "SELECT value FROM meta WHERE key = 'schema_version'", -1,
				 &st, NULL) == SQLITE_OK);
	CHECK(sqlite3_step(st) == SQLITE_ROW);
	CHECK_STR((const char *)sqlite3_column_text(st, 0), "1");
	sqlite3_finalize(st);
	sqlite3_close(raw);
	free(path);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_queue();
	test_names();
	test_kill9();
	test_old_db();
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	free(cmd);
	return check_report("test_outbox");
}
