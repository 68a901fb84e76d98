/* sync/mtime_check.h — what lets a resync skip a Maildir folder without
 * listing it: the new/ and cur/ mtimes recorded when a listing of the folder
 * last matched its status rows.
 *
 * Owns: reading a folder's directory mtimes, deciding when they can be
 * trusted, comparing a listing with the rows, and the background checker
 * that does this for every folder a sync changed, off the sync's critical
 * path (a listing costs about a millisecond per 500 messages, and each
 * changed folder needs one); on the same thread, the listings a run will
 * need, taken ahead (prefetch). The engine decides when a folder may be
 * skipped (sync/engine.c, docs/protocol.md section 2). */
#ifndef OFFLINEFS_SYNC_MTIME_CHECK_H
#define OFFLINEFS_SYNC_MTIME_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/repo.h"
#include "cache/status.h"

/* The mtimes (ns) of the local folder's new/ and cur/. */
bool mtime_check_dirs(struct repo *local, const char *local_name, int64_t *new_r, int64_t *cur_r);

/* Whether the local folder (selected in local) is exactly what the status
 * rows of folder_id say: every UID once, same flags, nothing else. One
 * readdir per directory, no stat or open per file. *new_r / *cur_r: the
 * mtimes read just before the listing when they can be trusted, else 0
 * ("unknown": the next run lists the folder again); see mtime_check.c.
 * listing_r: NULL, or where the listing is handed over when there was one
 * (so that a folder that does not match is not listed twice; in any order). */
bool mtime_check_listing(struct repo *local, struct status_db *st, const char *remote_name,
			 const char *local_name, int64_t folder_id, int64_t *new_r, int64_t *cur_r,
			 struct repo_msg_list *listing_r);

/* Records mtimes in the folder row of remote_name (its own relaxed
 * transaction). */
void mtime_check_record(struct status_db *st, const char *remote_name, int64_t mn, int64_t mc);

/* The background checker: a thread with its own status connection and
 * Maildir handle (local: owned from now on, only read) that checks each
 * folder added once the clock has moved past its mtimes, so that the
 * result can be trusted. The thread starts with the first folder added.
 * mtime_checker_finish() waits for the queue and records what matched in
 * one transaction of the caller's st, then frees everything. A folder must
 * be added after its sync is complete and its rows committed. Should the
 * thread or its connection fail, folders are just not recorded (the next
 * run lists them: slower, never wrong). Add from any worker thread. */
struct mtime_checker;
struct mtime_checker *mtime_checker_new(const char *db_path, bool fsync, struct repo *local);
void mtime_checker_add(struct mtime_checker *chk, const char *remote_name, const char *local_name,
		       int64_t folder_id);
void mtime_checker_finish(struct mtime_checker **chk, struct status_db *st);

/* Prefetch: the check of mtime_check_listing for a folder whose sync will
 * need its listing, done on the checker's thread (before any folder
 * added) while the syncs ahead of it wait for the server. Queue them in
 * the order of the syncs, before they start (starts the thread); the
 * thread stays at most two folders ahead of the last one taken, so that
 * only a few listings are held at a time. chk may be NULL (nothing
 * happens). */
void mtime_checker_prefetch(struct mtime_checker *chk, const char *remote_name,
			    const char *local_name, int64_t folder_id);
/* The prefetched check of remote_name, for its sync: waits if it is
 * running; true with the result (what mtime_check_listing returned, its
 * mtimes and the listing, now the caller's) when there is a listing. False
 * when there is none (not queued, not started yet, the listing failed):
 * the caller lists itself, and the thread no longer will. */
bool mtime_checker_take(struct mtime_checker *chk, const char *remote_name, bool *same_r,
			int64_t *new_r, int64_t *cur_r, struct repo_msg_list *listing_r);
/* How many listings done ahead wait to be taken (tests, debug output). */
size_t mtime_checker_held(struct mtime_checker *chk);

#endif
