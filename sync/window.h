/* window.h — maxage and startdate: which messages of a folder take part in
 * a sync. Pure (no I/O), unit-tested in tests/unit/test_window.c.
 *
 * OfflineIMAP (accounts.py cachemessagelists_upto_date and
 * cachemessagelists_startdate, folder/Maildir.py _scanfolder) reduces each
 * side's message list to a window that is, in the end, "UID >= lo":
 *
 *   maxage: R = the server's messages with INTERNALDATE on or after the
 *     SEARCH SINCE day. R not empty: lo = min UID of R; every Maildir file
 *     without a UID takes part. R empty: the Maildir files whose name's
 *     time (its first run of digits) is not older than the cutoff decide:
 *     lo = their lowest UID (none: no UID takes part at all), and a file
 *     without a UID takes part only when its name's time is in the window.
 *   startdate on the remote repository (partial clone of the server into
 *     an empty Maildir): the first run needs an empty Maildir (else the
 *     folder fails: "To use startdate on Repository R, Repository L must
 *     be empty"), syncs R only, takes lo = min UID of R (1 when R is
 *     empty) and stores
 *     it in <metadata>/Repository-<remote>/StartUID/<folder>; later runs
 *     read lo from there.
 *   startdate on the local repository: the same the other way round (the
 *     server folder must be empty on the first run; lo from the Maildir
 *     files' name times, stored under Repository-<local>). Files without
 *     a UID whose name's time is before the start stay out on every run
 *     (OfflineIMAP leaves them out on the first run only, and uploads them
 *     on the second: folder_window.c sets uidless_by_date then too).
 *
 * Difference, for data safety: OfflineIMAP windows only the two message
 * lists and then purges the status rows of everything outside the window
 * (and re-adds them, rewriting every file, when the window widens:
 * legacy offlineimap #319), and in some startdate cases deletes messages
 * the window hides on one side only. Here the same window is applied to
 * the server's list, the Maildir's list AND the status rows, so a message
 * outside it is never copied, deleted, re-flagged or forgotten on either
 * side: it is simply left alone until the window takes it in again.
 */
#ifndef OFFLINEFS_WINDOW_H
#define OFFLINEFS_WINDOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/status.h"
#include "common/repo.h"

struct msg_window {
	uint32_t lo;          /* lowest UID that takes part; 0 = no UID does */
	bool uidless_by_date; /* files without UID take part only when their
			       * name's time >= cutoff (else all of them do) */
	int64_t cutoff;       /* local cutoff (Unix time) */
	bool remote_by_date;  /* server messages take part only when their
			       * INTERNALDATE >= since (startdate's first run) */
	int64_t since;
};

/* The time in a Maildir file name: its first run of digits, -1 when it has
 * none (such a file counts as inside every window, like OfflineIMAP's
 * _iswithintime). */
int64_t window_name_time(const char *name);

/* maxage: remote_since is the SEARCH SINCE day's start (UTC), cutoff the
 * local cutoff (filters_maxage_bounds). Local messages' keys are
 * "new/<name>" or "cur/<name>". */
struct msg_window window_maxage(const struct repo_msg *remote, size_t n_remote,
				const struct repo_msg *local, size_t n_local,
				int64_t remote_since, int64_t cutoff);

/* startdate, first run (no StartUID file yet). remote_partial: the
 * startdate is on the remote repository. Returns -1 when the other side
 * is not empty (OfflineIMAP's "must be empty" refusal). Else 0 with
 * *w_r and *save_r, the lo to store (never 0: OfflineIMAP stores 1 when
 * no message is in the window). */
int window_startdate_first(bool remote_partial, const struct repo_msg *remote, size_t n_remote,
			   const struct repo_msg *local, size_t n_local, int64_t remote_since,
			   int64_t cutoff, struct msg_window *w_r, uint32_t *save_r);

/* startdate, later runs: lo read from the StartUID file. */
struct msg_window window_from_lo(uint32_t lo);

/* Keeps in list only the messages inside w (local: keys are names as
 * above; remote: uid > 0). Frees the keys of the others. Returns how many
 * were dropped. */
size_t window_filter_msgs(const struct msg_window *w, struct repo_msg_list *list, bool local);

/* Copies the rows of status[0..n) inside w (uid >= lo) to a new array
 * (*out_r, malloc'd, sorted as status is). Returns the count. */
size_t window_filter_rows(const struct msg_window *w, const struct status_rec *status, size_t n,
			  struct status_rec **out_r);

#endif
