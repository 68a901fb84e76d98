/* delete_guard.h — holding back mass deletions that nobody confirmed.
 *
 * Owns: the rule that decides when a planned batch of deletions in one
 * folder is too big to carry out unasked, and taking those deletions out
 * of a plan (sync/planner.h) so that nothing of them is done and their
 * status rows stay. Pure: no I/O, unit-tested in tests/unit/test_delete_guard.c.
 *
 * Why: the planner infers a deletion from a status row whose message is
 * gone on one side. A Maildir whose cur/ and new/ were emptied by a bad
 * script, a half-restored backup or a broken mail reader looks exactly like
 * a user who deleted every message, and the sync would delete them all on
 * the server (OfflineIMAP's worst data-loss bug class). Like unison's
 * confirmbigdeletes, a batch that is "big" is held until the user confirms
 * it (offlinefs -o --confirm-deletes FOLDER). The same rule holds in the
 * other direction: a server folder that suddenly lists empty never empties
 * the Maildir.
 *
 * The rule ([Account] options, docs: README "Mass deletion guard"):
 *   confirmbigdeletes      = yes   the guard is on (no: off)
 *   bigdeletes_percent     = 50    share of a folder, in percent (0..100)
 *   bigdeletes_minmessages = 20    folders of at most this many messages
 * A folder's deletions on one side are held when they are ALL of the
 * folder's messages (however few), or when the folder holds more than
 * bigdeletes_minmessages messages and more than bigdeletes_percent percent
 * of them would go. The folder's size is its number of status rows: the
 * messages both sides had after the last sync. (Not what a side lists
 * now: a server folder that lists empty while one new local file waits
 * for upload must still count as "all gone".)
 *
 * Deletions the live mount saw being made (an unlink on the mount, queued
 * in the outbox) never reach the planner and are not guarded: they are the
 * user's own explicit actions.
 */
#ifndef OFFLINEFS_DELETE_GUARD_H
#define OFFLINEFS_DELETE_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "common/repo.h"
#include "sync/planner.h"

#define DELETE_GUARD_PERCENT_DEFAULT 50
#define DELETE_GUARD_MINMESSAGES_DEFAULT 20

struct delete_guard {
	bool enabled;          /* confirmbigdeletes */
	unsigned percent;      /* bigdeletes_percent, 0..100 */
	unsigned minmessages;  /* bigdeletes_minmessages */
};

/* Whether n_delete deletions among the n_total messages one side lists
 * must be held. False when n_delete is 0 or the guard is off. */
bool delete_guard_holds(const struct delete_guard *g, size_t n_delete, size_t n_total);

/* What delete_guard_apply held back; 0 when nothing. */
struct delete_guard_held {
	size_t remote;  /* server deletions held */
	size_t local;   /* Maildir deletions held */
	size_t total;   /* of this many messages (the folder's size) */
};

/* Applies the rule to both directions of plan p (built from the remote
 * and local message arrays and n_known status rows): a held direction
 * loses its whole delete_remote or delete_local list, and the status rows
 * those deletions would have forgotten stay (their UIDs leave
 * status_forget), so the next run finds the same deletions again. With
 * confirmed, nothing is held. Fills *held_r. */
void delete_guard_apply(const struct delete_guard *g, bool confirmed, struct plan *p,
			const struct repo_msg *remote, const struct repo_msg *local,
			size_t n_known, struct delete_guard_held *held_r);

#endif
