/* rebuild.c — see rebuild.h. */
#include "sync/rebuild.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "sync/live_find.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static bool member(const uint32_t *v, size_t n, uint32_t x)
{
	return bsearch(&x, v, n, sizeof(*v), cmp_u32) != NULL;
}

/* The UIDs the local files carry, sorted. */
static uint32_t *local_uids(const struct repo_msg_list *local, size_t *n_r)
{
	uint32_t *v = xmalloc((local->n ? local->n : 1) * sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < local->n; i++)
		if (local->v[i].uid)
			v[n++] = local->v[i].uid;
	qsort(v, n, sizeof(*v), cmp_u32);
	*n_r = n;
	return v;
}

/* Gives local files without a UID the UID of their server copy, when
 * exactly one server message not yet carried by a file matches. */
static void pair_by_content(const char *remote_name, struct repo *rr, struct repo *lr,
			    struct repo_msg_list *local, bool dry_run, struct rebuild_counts *c)
{
	for (size_t i = 0; i < local->n; i++) {
		struct repo_msg *m = &local->v[i];
		if (m->uid)
			continue;
		char *body = NULL;
		size_t len = 0;
		int64_t mtime = 0;
		if (lr->ops->read_body(lr, m, &body, &len, &mtime) != REPO_OK) {
			log_warn("Folder %s: %s", remote_name, repo_error(lr));
			continue;
		}
		size_t n_known;
		uint32_t *known = local_uids(local, &n_known);
		uint32_t uid = 0;
		int rc = live_find_uploaded(rr, body, len, known, n_known, &uid);
		free(known);
		free(body);
		if (rc != REPO_OK) {
			log_warn("Folder %s: %s", remote_name, repo_error(rr));
			continue;
		}
		if (!uid)
			continue;
		if (!dry_run && lr->ops->set_uid(lr, m, uid) != REPO_OK) {
			log_warn("Folder %s: %s", remote_name, repo_error(lr));
			continue;
		}
		m->uid = uid;
		c->by_content++;
	}
}

int rebuild_folder(struct status_db *db, int64_t folder_id, const char *remote_name,
		   struct repo *rr, struct repo *lr, struct repo_msg_list *remote,
		   struct repo_msg_list *local, const struct repo_folder_status *rst, bool dry_run,
		   struct rebuild_counts *counts_r, char **error_r)
{
	memset(counts_r, 0, sizeof(*counts_r));
	pair_by_content(remote_name, rr, lr, local, dry_run, counts_r);

	size_t n_local;
	uint32_t *have = local_uids(local, &n_local);
	uint32_t *srv = xmalloc((remote->n ? remote->n : 1) * sizeof(*srv));
	for (size_t i = 0; i < remote->n; i++)
		srv[i] = remote->v[i].uid;
	qsort(srv, remote->n, sizeof(*srv), cmp_u32);

	int ret = -1;
	if (status_begin(db, error_r) < 0)
		goto out;
	if (status_folder_clear(db, folder_id, error_r) < 0)
		goto fail;
	for (size_t i = 0; i < remote->n; i++) {
		const struct repo_msg *rm = &remote->v[i];
		if (!member(have, n_local, rm->uid)) {
			counts_r->server_only++;
			continue;
		}
		if (status_put(db, folder_id, rm->uid, rm->flags, error_r) < 0)
			goto fail;
		counts_r->paired++;
	}
	for (size_t i = 0; i < local->n; i++)
		if (!local->v[i].uid || !member(srv, remote->n, local->v[i].uid))
			counts_r->local_only++;
	struct status_folder sf = {
		.id = folder_id,
		.uidvalidity = rst->uidvalidity,
		.messages = rst->exists,
		.last_sync = (int64_t)time(NULL),
	};
	if (status_folder_update(db, &sf, error_r) < 0)
		goto fail;
	if (status_commit(db, error_r) < 0)
		goto fail;
	ret = 0;
	goto out;
fail:
	status_rollback(db);
out:
	free(have);
	free(srv);
	return ret;
}
