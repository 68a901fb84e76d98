/* held.c — see held.h. */
#include "cache/held.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache/status_internal.h"

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS held_deletes (folder TEXT PRIMARY KEY, remote INTEGER,"
	" local INTEGER, total INTEGER, since INTEGER, confirmed INTEGER NOT NULL DEFAULT 0)";

static int ensure_schema(struct status_db *db, char **error_r)
{
	if (sqlite3_exec(status_sqlite(db), schema_sql, NULL, NULL, NULL) != SQLITE_OK)
		return status_db_fail(db, error_r, "held_deletes table");
	return 0;
}

/* Prepares sql (the schema made sure first). NULL with *error_r. */
static sqlite3_stmt *prepare(struct status_db *db, const char *sql, char **error_r)
{
	if (ensure_schema(db, error_r) < 0)
		return NULL;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(status_sqlite(db), sql, -1, &st, NULL) != SQLITE_OK) {
		status_db_fail(db, error_r, "held_deletes");
		return NULL;
	}
	return st;
}

static int run(struct status_db *db, sqlite3_stmt *st, const char *what, char **error_r)
{
	int rc = sqlite3_step(st);
	int ret = rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : status_db_fail(db, error_r, what);
	sqlite3_finalize(st);
	return ret;
}

int held_record(struct status_db *db, const char *folder, uint64_t remote, uint64_t local,
		uint64_t total, char **error_r)
{
	sqlite3_stmt *st = prepare(db,
		"INSERT INTO held_deletes (folder, remote, local, total, since, confirmed)"
		" VALUES (?1, ?2, ?3, ?4, ?5, 0) ON CONFLICT(folder) DO UPDATE SET"
		" remote = ?2, local = ?3, total = ?4, confirmed = 0,"
		" since = CASE WHEN since IS NULL OR since = 0 THEN ?5 ELSE since END", error_r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)remote);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)local);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)total);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
	return run(db, st, "record held deletions", error_r);
}

int held_clear(struct status_db *db, const char *folder, char **error_r)
{
	sqlite3_stmt *st = prepare(db, "DELETE FROM held_deletes WHERE folder = ?1", error_r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	return run(db, st, "clear held deletions", error_r);
}

int held_confirm(struct status_db *db, const char *folder, char **error_r)
{
	sqlite3_stmt *st = prepare(db,
		"INSERT INTO held_deletes (folder, remote, local, total, since, confirmed)"
		" VALUES (?1, 0, 0, 0, 0, 1) ON CONFLICT(folder) DO UPDATE SET confirmed = 1",
		error_r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	return run(db, st, "confirm held deletions", error_r);
}

int held_list(struct status_db *db, struct held_row **rows_r, size_t *n_r, char **error_r)
{
	*rows_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = prepare(db,
		"SELECT folder, remote, local, total, since, confirmed FROM held_deletes"
		" ORDER BY folder", error_r);
	if (!st)
		return -1;
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow(rows_r, &cap, *n_r + 1, sizeof(**rows_r));
		struct held_row *r = &(*rows_r)[(*n_r)++];
		const unsigned char *name = sqlite3_column_text(st, 0);
		r->folder = xstrdup(name ? (const char *)name : "");
		r->remote = (uint64_t)sqlite3_column_int64(st, 1);
		r->local = (uint64_t)sqlite3_column_int64(st, 2);
		r->total = (uint64_t)sqlite3_column_int64(st, 3);
		r->since = sqlite3_column_int64(st, 4);
		r->confirmed = sqlite3_column_int(st, 5) != 0;
	}
	if (rc != SQLITE_DONE) {
		status_db_fail(db, error_r, "list held deletions");
		sqlite3_finalize(st);
		held_rows_free(rows_r, *n_r);
		*n_r = 0;
		return -1;
	}
	sqlite3_finalize(st);
	return 0;
}

void held_rows_free(struct held_row **rows, size_t n)
{
	for (size_t i = 0; *rows && i < n; i++)
		free((*rows)[i].folder);
	free(*rows);
	*rows = NULL;
}
