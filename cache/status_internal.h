/* status_internal.h — the sqlite side of struct status_db, for cache/
 * implementers only (cache/outbox.c keeps its tables in the same file and
 * shares the handle, its transactions and its statement cache). Nothing
 * outside cache/ includes this: sqlite stays private to cache/.
 */
#ifndef OFFLINEFS_STATUS_INTERNAL_H
#define OFFLINEFS_STATUS_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>

#include "cache/status.h"

/* Statement slots reserved for other cache/ modules (status_ext_stmt). */
#define STATUS_EXT_STMTS 24

/* The connection (borrowed; valid until status_close). */
sqlite3 *status_sqlite(struct status_db *db);
/* The DB file name, for error lines. */
const char *status_path(const struct status_db *db);
/* True between status_begin() and status_commit()/status_rollback(). */
bool status_in_txn(const struct status_db *db);
/* The statement for slot, prepared from sql on first use and kept for the
 * life of the handle (each slot always gets the same sql). NULL with
 * *error_r on failure. The caller resets it after use. */
sqlite3_stmt *status_ext_stmt(struct status_db *db, unsigned slot, const char *sql,
			      char **error_r);
/* *error_r = "<file>: <what>: <sqlite message>"; returns -1. */
int status_db_fail(struct status_db *db, char **error_r, const char *what);

#endif
