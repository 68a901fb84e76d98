/* planner.h — the three-way sync decision for one folder, as a pure function.
 *
 * Owns: deciding, from the status cache (what both sides looked like after
 * the last sync) and the current message lists of both sides, what must be
 * copied, deleted and re-flagged. No I/O, no allocation beyond the plan, so
 * every rule below is unit-tested in tests/unit/test_planner.c.
 *
 * Messages are matched by remote UID. For every UID:
 *
 *   remote  local  status   decision
 *   yes     yes    yes      merge flags (below)
 *   yes     yes    no       record status; local flags win (OfflineIMAP:
 *                           status := remote flags, then the local->remote
 *                           flag pass pushes local differences)
 *   yes     no     yes      deleted locally: delete on remote if the local
 *                           repository's sync_deletes, else keep the row
 *                           (the message stays away from the local side)
 *   yes     no     no       download
 *   no      yes    yes      deleted on the server: delete locally if the
 *                           remote repository's sync_deletes, else keep row
 *   no      yes    no       local file carries a UID the server never had
 *                           in this folder (e.g. copied from elsewhere):
 *                           upload as new
 *   no      no     yes      forget the row
 * Local messages with uid 0 are new: upload.
 *
 * Flag merge, per flag letter f, with base = status flags:
 *   result[f] = remote[f] if remote[f] != base[f], else local[f].
 * Both sides can only have changed f in the same direction relative to the
 * base, so independent changes on both sides all survive. A letter the
 * remote cannot store (remote_storable) is taken as unchanged there, so a
 * Maildir-only flag such as 'P' is not "removed" by the server.
 *
 * Readonly: nothing is planned that writes to a readonly side. Where a
 * flag change cannot be applied to a readonly side, the status keeps that
 * side's value, so the other side's change is neither lost nor bounced
 * back. maxsize: messages larger than maxsize are neither copied nor, by
 * being skipped, mistaken for deleted.
 */
#ifndef OFFLINEFS_PLANNER_H
#define OFFLINEFS_PLANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/status.h"
#include "common/flags.h"
#include "common/repo.h"

struct plan_options {
	bool remote_readonly, local_readonly;
	bool remote_sync_deletes; /* deletions on the server reach the Maildir */
	bool local_sync_deletes;  /* deletions in the Maildir reach the server */
	uint64_t maxsize;         /* 0 = no limit */
	flagset_t remote_storable, local_storable;
};

struct plan_flags {
	size_t index;      /* into the side's message array */
	flagset_t flags;   /* the complete new flag set for that message */
};

struct plan_status {
	uint32_t uid;
	flagset_t flags;
};

struct plan {
	size_t *download;           /* remote indices, ascending UID */
	size_t n_download;
	size_t *upload;             /* local indices */
	size_t n_upload;
	size_t *delete_local;       /* local indices */
	size_t n_delete_local;
	size_t *delete_remote;      /* remote indices */
	size_t n_delete_remote;
	struct plan_flags *local_flags;
	size_t n_local_flags;
	struct plan_flags *remote_flags;
	size_t n_remote_flags;
	struct plan_status *status_put; /* rows to write (record + merged flags) */
	size_t n_status_put;
	uint32_t *status_forget;    /* rows to drop */
	size_t n_status_forget;
	size_t n_skipped_oversize;  /* not copied because of maxsize */
	size_t n_skipped_readonly;  /* not copied/deleted because a side is readonly */
};

/* Computes the plan. status must be sorted by uid (status_load does). The
 * message arrays are not modified. Returns 0, or -1 when the input is
 * inconsistent (a UID listed twice on the remote side) with *error_r
 * pointing at a static description. */
int plan_folder(const struct status_rec *status, size_t n_status,
		const struct repo_msg *remote, size_t n_remote,
		const struct repo_msg *local, size_t n_local,
		const struct plan_options *opt, struct plan *plan_r, const char **error_r);

/* The flag merge of one message, exposed for tests and the FUSE layer. */
flagset_t plan_merge_flags(flagset_t base, flagset_t remote, flagset_t local,
			   flagset_t remote_storable, flagset_t local_storable);

/* Number of actions that change something (0 = folder in sync). */
size_t plan_change_count(const struct plan *p);

void plan_free(struct plan *p);

#endif
