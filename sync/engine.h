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
 *        (skipped whole when the probe -- one LIST-STATUS or pipelined
 *         STATUS round trip before the first folder -- shows the server
 *         folder unchanged and new/ and cur/ keep the mtimes recorded
 *         after the last sync; docs/protocol.md)
 *        select remote -> UIDVALIDITY check (mismatch: skip folder, exit 2)
 *        -> load status, list remote (CONDSTORE: only what changed since
 *           the stored HIGHESTMODSEQ, merged with the status rows), list
 *           local -> plan
 *        -> downloads (file written, then status row; batched commits)
 *        -> uploads (APPEND, then rename local file to carry U=, then row)
 *        -> flag changes both sides -> rows of merged flags
 *        -> deletions both sides -> rows forgotten -> folder row updated
 *   -> unlock.
 * Why this order is crash-safe: a message file or server copy always exists
 * before its status row; a row without a message on one side is a deletion
 * only when the row was written after both copies existed. A crash between
 * APPEND and the local rename can re-upload one message (never lose one).
 *
 * Names table (cache/outbox.h): after listing a local folder, files whose
 * base name has a names row take that row's UID. The one-shot run then
 * renames them to carry U= (and drops the rows) before planning; a sync
 * inside the live mount (keep_local_names) leaves names alone and records
 * each upload's UID as a names row, written with its status row in one
 * transaction right after the APPEND. Rows of forgotten UIDs are dropped
 * with their status rows.
 */
#ifndef OFFLINEFS_ENGINE_H
#define OFFLINEFS_ENGINE_H

#include <stdbool.h>

#include "cache/maildir.h"
#include "common/xalloc.h"
#include "sync/account.h"

struct sync_request {
	const struct strlist *folders; /* -f: remote folder names; NULL or empty = all */
	bool dry_run;                  /* plan and print only; nothing is written */
	/* Quick sync (-q): a folder whose STATUS shows the same UIDVALIDITY,
	 * UIDNEXT and MESSAGES as after the last sync counts as unchanged on
	 * the server even without CONDSTORE (flag-only changes by others are
	 * then missed until a normal run). With CONDSTORE quick and normal
	 * runs are the same: both skip folders unchanged on both sides. */
	bool quick;
	/* Remote folder names whose mass deletions held back by the delete
	 * guard (sync/delete_hold.h) are confirmed: --confirm-deletes. NULL
	 * or empty = none. */
	const struct strlist *confirm_deletes;
	/* --rebuild-status: move the status DB aside (cache/status_repair.h)
	 * and rebuild it from both sides' listings (sync/rebuild.h): nothing
	 * is downloaded, uploaded or deleted. */
	bool rebuild_status;

	/* --- for a sync inside a live mount (sync/live.c); all off for the
	 * one-shot run --- */
	bool skip_lock;        /* the caller already holds the account lock */
	/* Never rename a local file to give it a U= name (a mail reader is
	 * looking at the Maildir): an upload's UID goes into the names table
	 * (cache/outbox.h) instead. Off (the one-shot run): files the names
	 * table maps are renamed to OfflineIMAP names and their rows dropped.
	 * Either way a local file's UID is its names row when it has one. */
	bool keep_local_names;
	maildir_change_fn *on_change; /* NULL-able; told about every change the
				       * sync makes to the Maildir (cache/maildir.h) */
	void *change_ctx;             /* borrowed; passed to on_change */
	/* NULL-able; called before each folder pair is synced, on the thread
	 * that called sync_account. When set, folders are synced one after
	 * another on one connection (maxconnections is not used), so the
	 * callback never runs while a folder is being synced: the mount drains
	 * its outbox here. Returning false stops the sync (the remaining
	 * folders are skipped, nothing else is an error). */
	bool (*before_folder)(void *ctx, const char *remote_name, const char *local_name);
	void *before_folder_ctx;      /* borrowed */

	/* --- OfflineIMAP's per-account extras (the one-shot and autorefresh
	 * runs; off in the mount) --- */
	/* Run [Account] presynchook / postsynchook (sync/hooks.h says when);
	 * idle: this sync was started by IDLE (OFFLINEIMAPSYNCMODE=idle). */
	bool run_hooks;
	bool idle;
	/* NULL-able; called once the account's folders are synced (not when
	 * it failed before syncing any folder), with the local names of the
	 * folders it synced or tried to, in sync order: [mbnames]. */
	void (*after_folders)(void *ctx, const struct account_settings *a,
			      const struct strlist *local_names);
	void *after_folders_ctx;      /* borrowed */
	/* NULL-able; called on the folder's thread after its downloads when
	 * at least one downloaded message had no \Seen (OfflineIMAP's
	 * have_newmail, for newmail_hook). */
	void (*new_unseen_mail)(void *ctx, const struct account_settings *a,
				const char *remote_name);
	void *new_unseen_mail_ctx;    /* borrowed */
	/* holdconnectionopen (sync/holdconn.h): NULL = connect and log out as
	 * usual. Else a connected remote in *held_remote is used as the
	 * account's main connection instead of a new one (*held_remote is
	 * set to NULL), and when the account's folders were synced the main
	 * connection is handed back in *held_remote rather than closed; on
	 * an account-level failure it is closed (OfflineIMAP drops its
	 * connections on any error). */
	struct repo **held_remote;
};

enum sync_exit {
	SYNC_EXIT_OK = 0,
	SYNC_EXIT_ERRORS = 1,
	SYNC_EXIT_UIDVALIDITY = 2, /* the only problem was UIDVALIDITY skips */
};

/* Syncs one account. Errors are logged as they happen (one line each,
 * naming folder and UID); the return value summarises them. */
enum sync_exit sync_account(const struct account_settings *a, const struct sync_request *req);

/* A new, unconnected IMAP repository for the account's remote side (what
 * every sync connection is made from). */
struct repo *sync_make_remote(const struct account_settings *a);

/* <metadata>/Account-<name>/offlinefs.sqlite, the account's status DB
 * (also holding the live mount's outbox). malloc'd. */
char *sync_status_db_path(const struct account_settings *a);

/* Folder names (separator swap, nametrans, utf8foldernames) are mapped by
 * sync/folder_map.h. */

#endif
