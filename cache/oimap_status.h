/* oimap_status.h — OfflineIMAP's own sync state, kept in step with ours.
 *
 * Owns OfflineIMAP's per-folder state files under <metadata>
 * (../shared/reference/offlineimap.md §3.1-3.4):
 *   Account-<acct>/LocalStatus-sqlite/<base>   one sqlite DB per folder:
 *       metadata(key, value) with db_version '2' (or '1'),
 *       status(id INTEGER PRIMARY KEY, flags, mtime, labels)
 *   Repository-<remote>/FolderValidity/<base>   the server's UIDVALIDITY, "%u\n"
 *   Repository-<local>/FolderValidity/<lbase>    "42\n" (a Maildir's constant)
 * <base> is the folder name with '/' replaced by '.', "dot" for the root.
 * remote_name below is the server's folder name, which is what OfflineIMAP
 * uses for both files as long as no nametrans is set; with a remote
 * nametrans OfflineIMAP names the status DB after the translated (visible)
 * name and FolderValidity after the raw one, so a caller supporting
 * nametrans must pass the visible name for the status DB. Only the
 * SQLite status backend is kept (status_backend = plain is not).
 *
 * Why: offlinefs takes OfflineIMAP's status over on its first run
 * (status_import_offlineimap). If it then left those files behind, an
 * offlineimap run after offlinefs would compare against a stale base and
 * undo offlinefs's work: push back a flag the server removed since, upload
 * again a message deleted on the server, delete what offlinefs downloaded.
 * So whenever OfflineIMAP's status directory exists, every commit of our
 * rows for a folder is mirrored here, and a user can alternate between the
 * two tools on one Maildir.
 *
 * Nothing is created unless Account-<acct>/LocalStatus-sqlite already is a
 * directory (OfflineIMAP has run on this account): users who never ran
 * OfflineIMAP get no OfflineIMAP files. Rows are written as OfflineIMAP
 * writes them: id = the server UID, flags = the sorted Maildir letters
 * (keyword letters included), new rows mtime 0 and labels ''; the mtime
 * and labels of existing rows are left alone. The DBs keep OfflineIMAP's
 * journal mode; with fsync off, commits do not wait for the disk. Both
 * tools take the same account lock, so they never write at the same time.
 *
 * Return convention: 0 ok, -1 with *error_r (malloc'd) naming the file.
 */
#ifndef OFFLINEFS_OIMAP_STATUS_H
#define OFFLINEFS_OIMAP_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/status.h"

/* Where an account's OfflineIMAP state lives. All borrowed. */
struct oimap_account {
	const char *metadata;    /* [general] metadata, expanded */
	const char *account;     /* account name */
	const char *remote_repo; /* name of the remote repository section */
	const char *local_repo;  /* name of the local repository section */
	bool fsync;
	bool disabled;           /* never follow (oimap_present() is false) */
};

/* OfflineIMAP's file name for folder: '/' -> '.', "" and "." -> "dot".
 * malloc'd. Pure. */
char *oimap_basename(const char *folder);

/* <metadata>/Account-<acct>/LocalStatus-sqlite/<base of remote_name>. malloc'd. */
char *oimap_status_path(const struct oimap_account *oa, const char *remote_name);

/* The UIDVALIDITY OfflineIMAP saved for remote_name; 0 when none. */
uint32_t oimap_validity_read(const struct oimap_account *oa, const char *remote_name);

/* True when OfflineIMAP's status directory exists for the account, i.e.
 * the functions below have something to keep in step. */
bool oimap_present(const struct oimap_account *oa);

/* Reads the folder's OfflineIMAP status rows (sorted by uid; ids outside
 * 1..2^32-1 skipped, NULL flags read as none) into a malloc'd *rows_r, and
 * whether someone other than us (offlineimap) has written the DB since our
 * last write into *other_r: every write of ours records in OfflineIMAP's
 * metadata table the SQLite file change counter its commit leaves, and a
 * later commit moves the counter on. A DB we never wrote counts as
 * written by another when it changed at or after `since` (unix time; our
 * last completed sync of the folder), so a DB left from before the user
 * switched to offlinefs is not mistaken for a newer one.
 * Returns 1, or 0 when OfflineIMAP has no status for the folder (*rows_r
 * NULL; also for an empty file), or -1. Never writes (opened read-only). */
int oimap_status_load(const struct oimap_account *oa, const char *remote_name, int64_t since,
		      struct status_rec **rows_r, size_t *n_r, bool *other_r, char **error_r);

/* Makes the folder's OfflineIMAP status hold exactly rows[0..n) (sorted
 * by uid, as status_load returns them): rows it lacks are inserted, rows
 * with other flags updated, rows not in `rows` deleted, in one
 * transaction. The DB is created (schema v2) when missing. When
 * uidvalidity is not 0, the remote FolderValidity file is rewritten if it
 * holds another value and the local one ("42") written if missing.
 * A no-op returning 0 when !oimap_present(oa). A DB of an unknown
 * db_version is not touched (-1). */
int oimap_status_mirror(const struct oimap_account *oa, const char *remote_name,
			const char *local_name, uint32_t uidvalidity,
			const struct status_rec *rows, size_t n, char **error_r);

/* Applies a batch of our row changes: puts (insert, or update the flags)
 * and removes, in one transaction. For the batches between two
 * oimap_status_mirror calls; a missing DB is left missing (the next mirror
 * creates it whole). A no-op returning 0 when !oimap_present(oa). */
int oimap_status_apply(const struct oimap_account *oa, const char *remote_name,
		       const struct status_rec *puts, size_t n_puts, const uint32_t *removes,
		       size_t n_removes, char **error_r);

#endif
