/* engine.h — one-shot synchronisation of an account.
 *
 * Owns: the order in which an account is synced (below), status cache
 * bookkeeping around each step, dry-run reporting and the exit status.
 * It talks to the two repositories only through struct repo_ops and to
 * the status cache through cache/status.h; the decisions come from the pure
 * planner (sync/planner.h).
 *
 * Order of operations (each step finishes before the next starts):
 *   lock account -> open status -> connect remote, local
 *   -> list folders both sides -> create missing folders (never delete)
 *   -> for each folder pair:
 *        select remote -> UIDVALIDITY check (mismatch: skip folder, exit 2)
 *        -> list remote, list local, load status -> plan
 *        -> downloads (file written, then status row; batched commits)
 *        -> uploads (APPEND, then rename local file to carry U=, then row)
 *        -> flag changes both sides -> rows of merged flags
 *        -> deletions both sides -> rows forgotten -> folder row updated
 *   -> unlock.
 * Why this order is crash-safe: a message file or server copy always exists
 * before its status row; a row without a message on one side is a deletion
 * only when the row was written after both copies existed. A crash between
 * APPEND and the local rename can re-upload one message (never lose one).
 */
#ifndef OFFLINEFS_ENGINE_H
#define OFFLINEFS_ENGINE_H

#include <stdbool.h>

#include "common/xalloc.h"
#include "sync/account.h"

struct sync_request {
	const struct strlist *folders; /* -f: remote folder names; NULL or empty = all */
	bool dry_run;                  /* plan and print only; nothing is written */
};

enum sync_exit {
	SYNC_EXIT_OK = 0,
	SYNC_EXIT_ERRORS = 1,
	SYNC_EXIT_UIDVALIDITY = 2, /* the only problem was UIDVALIDITY skips */
};

/* Syncs one account. Errors are logged as they happen (one line each,
 * naming folder and UID); the return value summarises them. */
enum sync_exit sync_account(const struct account_settings *a, const struct sync_request *req);

/* Maps a remote folder name to the local one (separator swap); NULL when
 * the remote name contains the local separator as a literal character and
 * cannot be represented (OfflineIMAP skips such folders too). malloc'd. */
char *sync_remote_to_local_name(const char *remote, char remote_sep, char local_sep);
/* The reverse. malloc'd. */
char *sync_local_to_remote_name(const char *local, char local_sep, char remote_sep);

#endif
