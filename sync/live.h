/* live.h — the server side of the live mount: the outbox worker and the
 * downstream syncs.
 *
 * Owns: the threads that keep a mounted account in step with the server.
 *   - The outbox worker drains cache/outbox.h in order on its own IMAP
 *     connection: FLAGS -> UID STORE, DELETE -> \Deleted + UID EXPUNGE,
 *     MOVE -> UID MOVE (the local file is already in place; its new UID
 *     goes into the names table), APPEND -> APPEND (UID into the names
 *     table: the file is not renamed while mounted), CREATE -> CREATE.
 *     Each op updates the status rows and leaves the outbox in one
 *     transaction. An op found inflight after a crash is checked against
 *     the server first (find_message for APPEND, the source UID for MOVE),
 *     so a replay never duplicates mail.
 *   - Downstream: a full sync of every folder every refresh_minutes, IMAP
 *     IDLE on idle_folders (a change there triggers a sync of that folder),
 *     and on-access syncs (a folder opened through the mount whose last sync
 *     is older than open_sync_age_seconds is synced ahead of the others,
 *     without blocking the open). A full sync first drains the outbox, so
 *     the three-way pass never races a queued local change.
 *   - Offline: when the server is unreachable the worker retries with
 *     exponential backoff (1 s doubling to 5 min); live_wake() (SIGUSR1)
 *     retries at once. The mount keeps working from the Maildir meanwhile.
 *
 * Every change the worker or a downstream sync makes to the Maildir is
 * reported through struct live_hooks so the FUSE layer can invalidate the
 * kernel's caches (maildir_fs_notify_*); hooks are called with no lock
 * held that a FUSE observer callback could wait for.
 *
 * As built (sync/live.c, sync/live_ops.c):
 *   - One worker thread drains the outbox and runs the syncs, so the two
 *     never overlap. Syncs are sync_account() with skip_lock (the caller
 *     holds the account lock), keep_local_names (uploads are recorded in
 *     the names table, files are never renamed to U= names while mounted)
 *     and before_folder: the outbox is drained again before each folder,
 *     so an op queued during a full sync waits at most for one folder's
 *     sync (folders are then synced one at a time, not maxconnections in
 *     parallel).
 *   - IDLE runs on the first of idle_folders only (its own connection); the
 *     others follow the periodic sync. Without IDLE on the server, only the
 *     periodic and on-access syncs run.
 *   - A server refusal (NO) of one op is retried after 1, 2, 4, 8 s; the
 *     fifth refusal drops the op with an error in the log (the next full
 *     sync settles it by the three-way rules); nothing behind it runs while
 *     it waits. An op that can never succeed (UIDVALIDITY changed, readonly
 *     remote, folder without a server name) is dropped at once.
 *   - An APPEND whose UID the server neither reports nor lets us find
 *     (live_find.h) leaves the file as it is (while mounted it must not
 *     vanish), logs an error and is done; the next full sync may upload it
 *     once more.
 *   - Back online after a connection failure, a full sync runs after the
 *     outbox is drained (changes on the server meanwhile).
 *   - live_stop waits for the op or the sync in progress.
 *   - live_state.queued is the queue length as the worker last saw it.
 *
 * Threading: live_* functions may be called from any thread, except that
 * live_free must not race the others.
 */
#ifndef OFFLINEFS_LIVE_H
#define OFFLINEFS_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/account.h"

struct live_hooks {
	void *ctx; /* borrowed */
	/* A message file in the backing Maildir changed name or place. */
	void (*renamed)(void *ctx, const char *folder, const char *old_subdir, const char *old_name,
			const char *new_subdir, const char *new_name);
	void (*added)(void *ctx, const char *folder, const char *subdir, const char *name);
	void (*removed)(void *ctx, const char *folder, const char *subdir, const char *name);
	/* A folder directory appeared (created by a downstream sync). */
	void (*folder_added)(void *ctx, const char *folder);
};

struct live_options {
	double refresh_minutes;        /* full sync period; <= 0: only at start */
	const char *const *idle_folders; /* borrowed; remote names; NULL = {"INBOX"} */
	size_t n_idle_folders;
	double open_sync_age_seconds;  /* on-access sync threshold; <= 0: off */
};

/* What `offlinefs status` shows. Strings are owned by the caller after
 * live_get_state (free with live_state_clear). */
struct live_state {
	bool connected;
	char *last_error;          /* last connection/op error, or NULL */
	int64_t last_full_sync;    /* unix time, 0 = never */
	size_t queued;             /* ops waiting in the outbox */
	unsigned backoff_seconds;  /* current retry delay when offline */
};

struct live;

/* Prepares (opens its own status DB connections; no network yet). */
struct live *live_new(const struct account_settings *a, const struct live_options *opt,
		      const struct live_hooks *hooks, char **error_r);
/* Starts the threads: the worker connects, drains the outbox, runs the
 * first full sync, then IDLEs / waits. Never blocks on the network. */
int live_start(struct live *l, char **error_r);
/* Something was pushed to the outbox: drain it now. Cheap, non-blocking
 * (callable from a FUSE observer callback). */
void live_outbox_changed(struct live *l);
/* A folder was opened through the mount (local folder name): schedule its
 * sync ahead of the others when it is older than open_sync_age_seconds.
 * Non-blocking. */
void live_folder_opened(struct live *l, const char *local_folder);
/* Retry the connection and sync now (SIGUSR1). Non-blocking. */
void live_wake(struct live *l);
void live_get_state(struct live *l, struct live_state *st_r);
void live_state_clear(struct live_state *st);
/* Stops the threads after the op in progress (nothing queued is lost: it
 * stays in the outbox for the next start). */
void live_stop(struct live *l);
void live_free(struct live **l);

#endif
