/* oimap_follow.h — when the engine and the mount's worker tell OfflineIMAP's
 * status what they did, and when they take OfflineIMAP's status as theirs.
 *
 * Owns the policy around cache/oimap_status.h (which owns the files):
 *   - after every commit of a folder's rows, OfflineIMAP's status of the
 *     folder follows: whole when the folder row was in the commit (the
 *     first and last commits of a folder's sync), else the committed batch;
 *   - a folder skipped as unchanged gets OfflineIMAP's status when
 *     OfflineIMAP's directory has none for it;
 *   - at the start of a folder's sync, when offlineimap has written its
 *     status since our last write and its rows differ from ours, its rows
 *     replace ours (offlineimap synced the folder since).
 * Everything here does nothing unless OfflineIMAP's status directory
 * (<metadata>/Account-<a>/LocalStatus-sqlite) exists, nor in a dry run.
 * A failure to write OfflineIMAP's status is logged as an error naming the
 * folder (the run exits 1) but never stops our sync: ours is intact, only
 * switching back would not be safe.
 */
#ifndef OFFLINEFS_OIMAP_FOLLOW_H
#define OFFLINEFS_OIMAP_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/oimap_status.h"
#include "cache/status.h"
#include "sync/account.h"
#include "sync/planner.h"

/* The account's OfflineIMAP files (borrowing from a). */
struct oimap_account oimap_account_of(const struct account_settings *a);

/* After a commit of folder folder_id's rows in db: whole (reloads our rows
 * and mirrors them with uidvalidity, when not 0) or just this batch of
 * puts and forgets. */
void oimap_follow_commit(const struct account_settings *a, struct status_db *db,
			 int64_t folder_id, const char *remote_name, const char *local_name,
			 uint32_t uidvalidity, bool whole, const struct plan_status *puts,
			 size_t n_puts, const uint32_t *forgets, size_t n_forgets);

/* One batch of row changes without a plan (the mount's worker). */
void oimap_follow_rows(const struct account_settings *a, const char *remote_name,
		       const struct status_rec *puts, size_t n_puts, const uint32_t *removes,
		       size_t n_removes);

/* Our rows of the folder (sf) are all OfflineIMAP gets when it has none
 * for the folder yet (called for folders skipped as unchanged). */
void oimap_fill_missing(const struct account_settings *a, struct status_db *db,
			const struct status_folder *sf, const char *remote_name,
			const char *local_name);

/* Takes OfflineIMAP's rows of the folder as ours when offlineimap wrote
 * them since our last write and they differ (a full listing then follows:
 * sf->highestmodseq is set to 0). Returns 0, or -1 with *error_r when our
 * status could not be read or written. */
int oimap_adopt(const struct account_settings *a, struct status_db *db,
		struct status_folder *sf, const char *remote_name, char **error_r);

#endif
