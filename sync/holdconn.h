/* holdconn.h — [Repository] holdconnectionopen and keepalive.
 *
 * Owns: the remote connection each account keeps logged in between two
 * autorefresh syncs, and the NOOPs that keep it alive while the loop
 * sleeps (reference offlineimap.md §1.6, §6.3; repository/IMAP.py
 * getholdconnectionopen / getkeepalive, imapserver.py keepalive):
 *   - holdconnectionopen = yes (forced on by a non-empty idlefolders):
 *     the account's main connection is not logged out after a successful
 *     sync and is used by the next one (struct sync_request.held_remote);
 *     any account-level failure closes it;
 *   - keepalive = N seconds (0 = off; 29 minutes when idlefolders is set
 *     and keepalive is not): a NOOP on each held connection every N
 *     seconds while sleeping. Without holdconnectionopen nothing is open,
 *     so keepalive does nothing, as in OfflineIMAP.
 * Before a held connection is reused it gets a NOOP; a connection the
 * server dropped meanwhile (a suspend, the server's own timeout) is
 * replaced by a new login instead of failing the sync.
 * Only the one-process autorefresh loop holds connections: the one-shot
 * run has no next sync, and accounts synced in forked children
 * (maxsyncaccounts > 1) cannot hand a connection back.
 */
#ifndef OFFLINEFS_HOLDCONN_H
#define OFFLINEFS_HOLDCONN_H

#include <stddef.h>

#include "common/config.h"
#include "common/repo.h"
#include "sync/account.h"

struct holdconn;

/* Reads holdconnectionopen, keepalive and (for the forcing) idlefolders
 * of each account's remote repository. *h_r is NULL when no account
 * holds its connection. Returns 0, or -1 with a one-line *error_r
 * (file:line). */
int holdconn_load(const struct config *cfg, const struct account_settings *accounts, size_t n,
		  struct holdconn **h_r, char **error_r);
/* Logs out every held connection and frees h. */
void holdconn_free(struct holdconn **h);

/* The slot for account i's sync (struct sync_request.held_remote), NULL
 * when that account does not hold its connection (h may be NULL). A
 * connection in it is checked with a NOOP first and dropped when dead. */
struct repo **holdconn_slot(struct holdconn *h, size_t i);

/* Sends the NOOPs that are due (call at least once a second while
 * sleeping); a connection that fails its NOOP is dropped (the next sync
 * logs in again). h may be NULL. */
void holdconn_keepalive(struct holdconn *h);

#endif
