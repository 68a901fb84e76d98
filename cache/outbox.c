#include "cache/outbox.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/status_internal.h"
#include "common/xalloc.h"

/* Slots in the status handle's statement cache (status_ext_stmt). */
enum {
	OB_PUSH,
	OB_PEEK,
	OB_LIST,
	OB_BEGIN_TRY,
	OB_DONE,
	OB_FAILED,
	OB_QUEUE_COUNT,
	OB_NAME_PUT,
	OB_NAME_GET,
	OB_NAME_REMOVE,
	OB_NAME_FORGET,
	OB_NAME_LOAD,
};

#define OP_COLUMNS "id, kind, folder, uid, flags, dst_folder, name, queued_at, attempts," \
		   " inflight, last_error"

static const char *const ob_sql[] = {
	[OB_PUSH] = "INSERT INTO outbox (kind, folder, uid, flags, dst_folder, name, queued_at)"
		    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[OB_PEEK] = "SELECT " OP_COLUMNS " FROM outbox ORDER BY id LIMIT 1",
	[OB_LIST] = "SELECT " OP_COLUMNS " FROM outbox ORDER BY id LIMIT ?1",
	[OB_BEGIN_TRY] = "UPDATE outbox SET inflight = 1, attempts = attempts + 1 WHERE id = ?1",
	[OB_DONE] = "DELETE FROM outbox WHERE id = ?1",
	[OB_FAILED] = "UPDATE outbox SET attempts = attempts + (1 - inflight), inflight = 0,"
		      " last_error = ?2 WHERE id = ?1",
	[OB_QUEUE_COUNT] = "SELECT count(*) FROM outbox",
	[OB_NAME_PUT] = "INSERT OR REPLACE INTO names (folder, base, uid) VALUES (?1, ?2, ?3)",
	[OB_NAME_GET] = "SELECT uid FROM names WHERE folder = ?1 AND base = ?2",
	[OB_NAME_REMOVE] = "DELETE FROM names WHERE folder = ?1 AND base = ?2",
	[OB_NAME_FORGET] = "DELETE FROM names WHERE folder = ?1 AND uid = ?2",
	[OB_NAME_LOAD] = "SELECT base, uid FROM names WHERE folder = ?1 ORDER BY base",
};

static sqlite3_stmt *stmt(struct status_db *db, unsigned slot, char **error_r)
{
	return status_ext_stmt(db, slot, ob_sql[slot], error_r);
}

/* Steps st to the end (no rows wanted) and resets it. */
static int run(struct status_db *db, sqlite3_stmt *st, const char *what, char **error_r)
{
	int rc = sqlite3_step(st);
	int ret = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : status_db_fail(db, error_r, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return ret;
}

/* Runs one statement in its own transaction unless the caller's batch is
 * open. (A lone statement in autocommit mode is a transaction too; the
 * explicit BEGIN IMMEDIATE takes the write lock up front, so a busy DB is
 * waited for by the busy timeout instead of failing at the commit.) */
static int run_txn(struct status_db *db, sqlite3_stmt *st, const char *what, char **error_r)
{
	if (status_in_txn(db))
		return run(db, st, what, error_r);
	if (status_begin(db, error_r) < 0) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return -1;
	}
	if (run(db, st, what, error_r) < 0) {
		status_rollback(db);
		return -1;
	}
	if (status_commit(db, error_r) < 0) {
		status_rollback(db);
		return -1;
	}
	return 0;
}

static char *col_str(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);
	return s ? xstrdup((const char *)s) : NULL;
}

static void read_op(sqlite3_stmt *st, struct outbox_op *op)
{
	memset(op, 0, sizeof(*op));
	op->id = sqlite3_column_int64(st, 0);
	op->kind = (enum outbox_kind)sqlite3_column_int(st, 1);
	op->folder = col_str(st, 2);
	if (!op->folder)
		op->folder = xstrdup("");
	op->uid = (uint32_t)sqlite3_column_int64(st, 3);
	const char *flags = (const char *)sqlite3_column_text(st, 4);
	op->flags = flags ? flags_from_letters(flags, strlen(flags)) : 0;
	op->dst_folder = col_str(st, 5);
	op->name = col_str(st, 6);
	op->queued_at = sqlite3_column_int64(st, 7);
	op->attempts = (unsigned)sqlite3_column_int64(st, 8);
	op->inflight = sqlite3_column_int(st, 9) != 0;
	op->last_error = col_str(st, 10);
}

void outbox_op_clear(struct outbox_op *op)
{
	free(op->folder);
	free(op->dst_folder);
	free(op->name);
	free(op->last_error);
	memset(op, 0, sizeof(*op));
}

int outbox_push(struct status_db *db, const struct outbox_op *op, int64_t *id_r, char **error_r)
{
	sqlite3_stmt *st = stmt(db, OB_PUSH, error_r);
	if (!st)
		return -1;
	char letters[FLAGS_LETTERS_MAX];
	flags_to_letters(op->flags, letters);
	sqlite3_bind_int(st, 1, (int)op->kind);
	sqlite3_bind_text(st, 2, op->folder ? op->folder : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, op->uid);
	sqlite3_bind_text(st, 4, letters, -1, SQLITE_TRANSIENT);
	if (op->dst_folder)
		sqlite3_bind_text(st, 5, op->dst_folder, -1, SQLITE_STATIC);
	if (op->name)
		sqlite3_bind_text(st, 6, op->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)time(NULL));
	if (run_txn(db, st, "queue operation", error_r) < 0)
		return -1;
	/* The connection is used by one thread at a time, so the last rowid
	 * is ours even after the commit. */
	if (id_r)
		*id_r = sqlite3_last_insert_rowid(status_sqlite(db));
	return 0;
}

static int read_ops(struct status_db *db, sqlite3_stmt *st, size_t max, struct outbox_op **ops_r,
		    size_t *n_r, char **error_r)
{
	struct outbox_op *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while (n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow(&v, &cap, n + 1, sizeof(*v));
		read_op(st, &v[n++]);
	}
	if (n == max)
		rc = SQLITE_DONE;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			outbox_op_clear(&v[i]);
		free(v);
		return status_db_fail(db, error_r, "read queue");
	}
	*ops_r = v;
	*n_r = n;
	return 0;
}

int outbox_peek(struct status_db *db, struct outbox_op *op_r, char **error_r)
{
	memset(op_r, 0, sizeof(*op_r));
	sqlite3_stmt *st = stmt(db, OB_PEEK, error_r);
	if (!st)
		return -1;
	struct outbox_op *v;
	size_t n;
	if (read_ops(db, st, 1, &v, &n, error_r) < 0)
		return -1;
	if (n == 0)
		return 0;
	*op_r = v[0];
	free(v);
	return 1;
}

int outbox_list(struct status_db *db, size_t max, struct outbox_op **ops_r, size_t *n_r,
		char **error_r)
{
	*ops_r = NULL;
	*n_r = 0;
	if (max == 0)
		return 0;
	sqlite3_stmt *st = stmt(db, OB_LIST, error_r);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, max > INT64_MAX ? INT64_MAX : (sqlite3_int64)max);
	return read_ops(db, st, max, ops_r, n_r, error_r);
}

static int by_id(struct status_db *db, unsigned slot, int64_t id, const char *what,
		 char **error_r)
{
	sqlite3_stmt *st = stmt(db, slot, error_r);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	return run_txn(db, st, what, error_r);
}

int outbox_begin_try(struct status_db *db, int64_t id, char **error_r)
{
	return by_id(db, OB_BEGIN_TRY, id, "mark operation inflight", error_r);
}

int outbox_done(struct status_db *db, int64_t id, char **error_r)
{
	return by_id(db, OB_DONE, id, "remove operation", error_r);
}

int outbox_failed(struct status_db *db, int64_t id, const char *why, char **error_r)
{
	sqlite3_stmt *st = stmt(db, OB_FAILED, error_r);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, why ? why : "", -1, SQLITE_STATIC);
	return run_txn(db, st, "record failure", error_r);
}

int outbox_count(struct status_db *db, size_t *n_r, char **error_r)
{
	*n_r = 0;
	sqlite3_stmt *st = stmt(db, OB_QUEUE_COUNT, error_r);
	if (!st)
		return -1;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*n_r = (size_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : status_db_fail(db, error_r, "count queue");
}

/* --- names ------------------------------------------------------------ */

int outbox_name_put(struct status_db *db, const char *folder, const char *base, uint32_t uid,
		    char **error_r)
{
	sqlite3_stmt *st = stmt(db, OB_NAME_PUT, error_r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, base, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, uid);
	return run_txn(db, st, "write name", error_r);
}

int outbox_name_get(struct status_db *db, const char *folder, const char *base,
		    uint32_t *uid_r, char **error_r)
{
	*uid_r = 0;
	sqlite3_stmt *st = stmt(db, OB_NAME_GET, error_r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, base, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*uid_r = (uint32_t)sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return status_db_fail(db, error_r, "read name");
}

int outbox_name_remove(struct status_db *db, const char *folder, const char *base,
		       char **error_r)
{
	sqlite3_stmt *st = stmt(db, OB_NAME_REMOVE, error_r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, base, -1, SQLITE_STATIC);
	return run_txn(db, st, "remove name", error_r);
}

int outbox_name_forget_uid(struct status_db *db, const char *folder, uint32_t uid,
			   char **error_r)
{
	sqlite3_stmt *st = stmt(db, OB_NAME_FORGET, error_r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, uid);
	return run_txn(db, st, "remove name", error_r);
}

int outbox_name_load(struct status_db *db, const char *folder, char ***bases_r,
		     uint32_t **uids_r, size_t *n_r, char **error_r)
{
	*bases_r = NULL;
	*uids_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = stmt(db, OB_NAME_LOAD, error_r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	char **bases = NULL;
	uint32_t *uids = NULL;
	size_t n = 0, cap_b = 0, cap_u = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow(&bases, &cap_b, n + 1, sizeof(*bases));
		xgrow(&uids, &cap_u, n + 1, sizeof(*uids));
		bases[n] = col_str(st, 0);
		if (!bases[n])
			bases[n] = xstrdup("");
		uids[n] = (uint32_t)sqlite3_column_int64(st, 1);
		n++;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			free(bases[i]);
		free(bases);
		free(uids);
		return status_db_fail(db, error_r, "load names");
	}
	*bases_r = bases;
	*uids_r = uids;
	*n_r = n;
	return 0;
}
