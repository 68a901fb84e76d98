/* delete_hold.h — the delete guard inside a sync: deciding, telling the
 * user and remembering.
 *
 * Owns: applying sync/delete_guard.h to one folder's plan within a sync
 * (one-shot or live mount), the one line per folder that says what was
 * held and the exact command that confirms it, and the folder's row in the
 * held_deletes table (cache/held.h) that `offlinefs status` shows and
 * through which a confirmation reaches the mount.
 *
 * A folder's deletions are confirmed when its remote name is in the
 * request's confirm_deletes list (offlinefs -o --confirm-deletes) or its
 * held_deletes row says confirmed (the same command given while the
 * account is mounted). A confirmation is used up by the sync that carries
 * the deletions out: that sync drops the row.
 */
#ifndef OFFLINEFS_DELETE_HOLD_H
#define OFFLINEFS_DELETE_HOLD_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/held.h"
#include "sync/account.h"
#include "sync/planner.h"

/* The account's held_deletes rows at the start of a sync (so that the
 * per-folder step writes only for folders that have or get a row). */
struct held_state {
	struct held_row *rows; /* owned; sorted by folder */
	size_t n;
};

/* Loads st from db; on a read error logs it and leaves st empty (the
 * guard itself still works: it needs no row to hold). */
void delete_hold_load(struct status_db *db, struct held_state *st);
void delete_hold_free(struct held_state *st);

/* Applies the guard to p (see delete_guard_apply; n_rows = the folder's
 * status rows). Held: logs one error line (dry run: one [DRYRUN] info
 * line) naming the folder, the count on each side and the confirming
 * command, records the row (not in a dry run), and returns true. Nothing
 * held: drops a row the folder had (its deletions went through, or the
 * messages came back) and returns false. A failed DB write is logged and
 * sets *failed_r; what the plan does is decided all the same. */
bool delete_hold_folder(const struct account_settings *a, const struct strlist *confirm,
			bool dry_run, const struct held_state *st, struct status_db *db,
			const char *remote_name, struct plan *p, const struct repo_msg *remote,
			const struct repo_msg *local, size_t n_rows, bool *failed_r);

/* The shell command that confirms the folder's held deletions:
 * "offlinefs -c CONF -a ACCOUNT -o --confirm-deletes FOLDER", with
 * arguments shell-quoted where needed; without remote_name (NULL) just
 * "offlinefs -c CONF -a ACCOUNT -o", for other commands. malloc'd. */
char *delete_hold_command(const struct account_settings *a, const char *remote_name);

#endif
