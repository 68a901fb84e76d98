/* idlewatch.h — [Repository] idlefolders in autorefresh mode.
 *
 * Owns: the IMAP IDLE connections that watch an account's idlefolders
 * while the autorefresh loop sleeps, and telling the loop which folder to
 * sync. OfflineIMAP (imapserver.py IdleThread, reference offlineimap.md
 * §6.3): during the sleep between two account syncs each idle folder is
 * SELECTed on its own connection and put in IDLE; when the server reports
 * anything, that one folder is synced at once (presynchook, the folder,
 * postsynchook, with OFFLINEIMAPSYNCMODE=idle) and IDLE resumes; when the
 * sleep ends the IDLE connections are closed and the next full sync runs.
 * IDLE is ended and re-entered every `keepalive` seconds (default, and at
 * most, 29 minutes: servers drop IDLE after 30).
 *
 * As built: one thread per (account, idle folder), each with its own
 * connection (the mount's IDLE op, imap/imap_repo.h); the folder syncs
 * run on the loop's thread through the caller's callback, one at a time,
 * while the watchers keep watching (a change during a sync queues one
 * more sync of that folder). A server without IDLE gets one warning and
 * the folder waits for the next refresh, as in OfflineIMAP. A lost
 * connection is retried with backoff (1 s doubling to 5 min). The
 * one-shot run (-o) and dry-run never watch.
 */
#ifndef OFFLINEFS_IDLEWATCH_H
#define OFFLINEFS_IDLEWATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h"
#include "sync/account.h"

struct idlewatch;

/* Reads idlefolders (a Python list: parsed without Python when it is a
 * plain literal, else evaluated by common/pyeval.h) and keepalive from
 * each account's remote repository. *iw_r is NULL when no account has an
 * idle folder. Returns 0, or -1 with a one-line *error_r (file:line). */
int idlewatch_load(const struct config *cfg, const struct account_settings *accounts, size_t n,
		   struct idlewatch **iw_r, char **error_r);
void idlewatch_free(struct idlewatch **iw);

/* Called on the sleeping thread for each change: sync folder remote_name
 * of accounts[account]. */
typedef void idlewatch_sync_fn(void *ctx, size_t account, const char *remote_name);

/* Called on the sleeping thread about once a second (keepalive NOOPs). */
typedef void idlewatch_tick_fn(void *ctx);

/* True when the sleep must end now (a stop, SIGUSR1 or SIGUSR2). */
typedef bool idlewatch_over_fn(void);

/* Sleeps `seconds` with the watchers running: returns when the time is
 * up or over() returns true (asked at least every second).
 * Each folder change reported meanwhile calls sync once, on this thread;
 * tick (NULL-able) is called about every second. The watchers'
 * connections are opened at the start and closed before it returns. */
void idlewatch_sleep(struct idlewatch *iw, double seconds, idlewatch_over_fn *over,
		     idlewatch_sync_fn *sync, idlewatch_tick_fn *tick, void *ctx);

#endif
