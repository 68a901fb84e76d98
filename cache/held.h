/* held.h — the mass deletions the guard held back, per folder, in the
 * account's status DB (sync/delete_guard.h says when deletions are held).
 *
 * Owns: the table
 *   held_deletes(folder TEXT PRIMARY KEY,   -- remote folder name
 *                remote INTEGER,            -- deletions on the server held
 *                local INTEGER,             -- deletions in the Maildir held
 *                total INTEGER,             -- of this many messages
 *                since INTEGER,             -- unix time first held
 *                confirmed INTEGER)         -- 1: the user said go
 * created on first use in any DB that lacks it. A row exists while a
 * folder has held deletions: the sync writes it when it holds and drops it
 * once a sync of the folder holds nothing. `offlinefs status` lists the
 * rows; `offlinefs -o --confirm-deletes FOLDER` sets confirmed, which lets
 * the folder's next sync (the one-shot run itself, or the live mount's
 * next sync of the folder) carry the deletions out.
 *
 * Return convention: 0 ok, -1 with *error_r (malloc'd, naming the DB file).
 */
#ifndef OFFLINEFS_HELD_H
#define OFFLINEFS_HELD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/status.h"
#include "common/xalloc.h"

struct held_row {
	char *folder; /* owned */
	uint64_t remote, local, total;
	int64_t since;
	bool confirmed;
};

/* Records (or updates the counts of) the folder's held deletions. Keeps
 * `since` of an existing row and clears its confirmation. */
int held_record(struct status_db *db, const char *folder, uint64_t remote, uint64_t local,
		uint64_t total, char **error_r);
/* Drops the folder's row (none: no-op). */
int held_clear(struct status_db *db, const char *folder, char **error_r);
/* Marks the folder's held deletions confirmed (a row is created when the
 * folder has none yet, so a confirmation given before the hold counts). */
int held_confirm(struct status_db *db, const char *folder, char **error_r);
/* Every row, sorted by folder. *rows_r malloc'd; free with held_rows_free. */
int held_list(struct status_db *db, struct held_row **rows_r, size_t *n_r, char **error_r);
void held_rows_free(struct held_row **rows, size_t n);

#endif
