#include "sync/oimap_follow.h"

#include <stdlib.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

struct oimap_account oimap_account_of(const struct account_settings *a)
{
	/* With a remote nametrans OfflineIMAP names the status DB after the
	 * visible name (cache/oimap_status.h), which these calls do not pass
	 * yet: rather than write DBs OfflineIMAP never reads, its state is not
	 * followed then (the first run still imports it, through folder_map). */
	return (struct oimap_account){ .metadata = a->metadata, .account = a->name,
				       .remote_repo = a->remote.name,
				       .local_repo = a->local.name, .fsync = a->fsync,
				       .disabled = a->remote.nametrans.set };
}

static void failed(const char *remote_name, int rc, char *err)
{
	if (rc < 0) {
		log_error("Folder %s: OfflineIMAP's status not kept in step (an offlineimap run "
			  "could undo this sync): %s", remote_name, err ? err : "failed");
		free(err);
	}
}

void oimap_follow_commit(const struct account_settings *a, struct status_db *db,
			 int64_t folder_id, const char *remote_name, const char *local_name,
			 uint32_t uidvalidity, bool whole, const struct plan_status *puts,
			 size_t n_puts, const uint32_t *forgets, size_t n_forgets)
{
	struct oimap_account oa = oimap_account_of(a);
	if ((!whole && !n_puts && !n_forgets) || !oimap_present(&oa))
		return;
	char *err = NULL;
	int rc;
	if (whole) {
		struct status_rec *rows = NULL;
		size_t n = 0;
		rc = status_load(db, folder_id, &rows, &n, &err);
		if (rc == 0)
			rc = oimap_status_mirror(&oa, remote_name, local_name, uidvalidity, rows, n,
						 &err);
		free(rows);
	} else {
		struct status_rec *recs = xcalloc(n_puts + 1, sizeof(*recs));
		for (size_t i = 0; i < n_puts; i++)
			recs[i] = (struct status_rec){ puts[i].uid, puts[i].flags };
		rc = oimap_status_apply(&oa, remote_name, recs, n_puts, forgets, n_forgets, &err);
		free(recs);
	}
	failed(remote_name, rc, err);
}

void oimap_follow_rows(const struct account_settings *a, const char *remote_name,
		       const struct status_rec *puts, size_t n_puts, const uint32_t *removes,
		       size_t n_removes)
{
	struct oimap_account oa = oimap_account_of(a);
	char *err = NULL;
	int rc = oimap_status_apply(&oa, remote_name, puts, n_puts, removes, n_removes, &err);
	failed(remote_name, rc, err);
}

void oimap_fill_missing(const struct account_settings *a, struct status_db *db,
			const struct status_folder *sf, const char *remote_name,
			const char *local_name)
{
	struct oimap_account oa = oimap_account_of(a);
	if (!oimap_present(&oa))
		return;
	char *path = oimap_status_path(&oa, remote_name);
	bool missing = access(path, F_OK) != 0;
	free(path);
	if (!missing)
		return;
	struct status_rec *rows = NULL;
	size_t n = 0;
	char *err = NULL;
	int rc = status_load(db, sf->id, &rows, &n, &err);
	if (rc == 0)
		rc = oimap_status_mirror(&oa, remote_name, local_name, sf->uidvalidity, rows, n, &err);
	free(rows);
	failed(remote_name, rc, err);
}

int oimap_adopt(const struct account_settings *a, struct status_db *db,
		struct status_folder *sf, const char *remote_name, char **error_r)
{
	struct oimap_account oa = oimap_account_of(a);
	if (!sf->id || !oimap_present(&oa))
		return 0;
	struct status_rec *theirs = NULL, *ours = NULL;
	size_t n_theirs = 0, n_ours = 0;
	bool other = false;
	int rc = oimap_status_load(&oa, remote_name, sf->last_sync, &theirs, &n_theirs, &other,
				   error_r);
	/* no status of offlineimap's, or ours, or older than our last sync:
	 * ours stays the base (and overwrites it at the next commit) */
	bool same = true;
	if (rc == 1 && other) {
		rc = status_load(db, sf->id, &ours, &n_ours, error_r);
		same = n_ours == n_theirs;
	} else if (rc == 1) {
		rc = 0;
	}
	for (size_t i = 0; rc == 0 && same && i < n_ours; i++)
		same = ours[i].uid == theirs[i].uid && ours[i].flags == theirs[i].flags;
	if (rc == 0 && !same) {
		rc = status_begin(db, error_r);
		if (rc == 0)
			rc = status_folder_clear(db, sf->id, error_r);
		for (size_t i = 0; rc == 0 && i < n_theirs; i++)
			rc = status_put(db, sf->id, theirs[i].uid, theirs[i].flags, error_r);
		if (rc == 0)
			rc = status_commit(db, error_r);
		if (rc < 0)
			status_rollback(db);
		else
			log_info("Folder %s: offlineimap has synced it since our last run; its status "
				 "(%zu rows) is the base of this sync", remote_name, n_theirs);
		sf->highestmodseq = 0; /* the CHANGEDSINCE merge starts from the old rows */
	}
	free(theirs);
	free(ours);
	return rc < 0 ? -1 : 0;
}
