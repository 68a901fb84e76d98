#include "sync/planner.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* Growable arrays of the plan, kept with their capacities while building. */
struct plan_builder {
	struct plan *p;
	size_t cap_download, cap_upload, cap_del_local, cap_del_remote;
	size_t cap_local_flags, cap_remote_flags, cap_status_put, cap_forget;
};

static void push_index(size_t **v, size_t *n, size_t *cap, size_t idx)
{
	xgrow(v, cap, *n + 1, sizeof(**v));
	(*v)[(*n)++] = idx;
}

static void push_flags(struct plan_flags **v, size_t *n, size_t *cap, size_t idx, flagset_t f)
{
	xgrow(v, cap, *n + 1, sizeof(**v));
	(*v)[*n].index = idx;
	(*v)[*n].flags = f;
	(*n)++;
}

static void push_status(struct plan_builder *b, uint32_t uid, flagset_t f)
{
	struct plan *p = b->p;
	xgrow(&p->status_put, &b->cap_status_put, p->n_status_put + 1, sizeof(*p->status_put));
	p->status_put[p->n_status_put].uid = uid;
	p->status_put[p->n_status_put].flags = f;
	p->n_status_put++;
}

static void push_forget(struct plan_builder *b, uint32_t uid)
{
	struct plan *p = b->p;
	xgrow(&p->status_forget, &b->cap_forget, p->n_status_forget + 1, sizeof(*p->status_forget));
	p->status_forget[p->n_status_forget++] = uid;
}

/* Sorting index arrays by the UID of the message they point at. */
static _Thread_local const struct repo_msg *sort_msgs;

static int cmp_index_by_uid(const void *a, const void *b)
{
	uint32_t ua = sort_msgs[*(const size_t *)a].uid;
	uint32_t ub = sort_msgs[*(const size_t *)b].uid;
	return ua < ub ? -1 : ua > ub;
}

static size_t *sorted_indices(const struct repo_msg *msgs, size_t n)
{
	size_t *idx = xmalloc((n ? n : 1) * sizeof(*idx));
	for (size_t i = 0; i < n; i++)
		idx[i] = i;
	sort_msgs = msgs;
	qsort(idx, n, sizeof(*idx), cmp_index_by_uid);
	sort_msgs = NULL;
	return idx;
}

flagset_t plan_merge_flags(flagset_t base, flagset_t remote, flagset_t local,
			   flagset_t remote_storable, flagset_t local_storable)
{
	/* A side that cannot hold a letter has not changed it. */
	remote = (remote & remote_storable) | (base & ~remote_storable);
	local = (local & local_storable) | (base & ~local_storable);
	flagset_t remote_changed = remote ^ base;
	return (remote & remote_changed) | (local & ~remote_changed);
}

static bool oversize(const struct plan_options *opt, const struct repo_msg *m)
{
	return opt->maxsize && m->size > opt->maxsize;
}

/* Both sides have the message. base is the status flags (or, without a
 * status row, the remote flags: then local differences win). */
static void merge_pair(struct plan_builder *b, const struct plan_options *opt, size_t ri,
		       const struct repo_msg *rm, size_t li, const struct repo_msg *lm,
		       flagset_t base, bool have_status)
{
	struct plan *p = b->p;
	flagset_t result = plan_merge_flags(base, rm->flags, lm->flags, opt->remote_storable,
					    opt->local_storable);
	flagset_t remote_target = (result & opt->remote_storable) | (rm->flags & ~opt->remote_storable);
	flagset_t local_target = (result & opt->local_storable) | (lm->flags & ~opt->local_storable);
	flagset_t status_flags = result;

	if (remote_target != rm->flags) {
		if (opt->remote_readonly) {
			/* Keep the server's value as the base for what we could
			 * not write, so the local change is retried, not reverted. */
			flagset_t blocked = remote_target ^ rm->flags;
			status_flags = (status_flags & ~blocked) | (rm->flags & blocked);
		} else {
			push_flags(&p->remote_flags, &p->n_remote_flags, &b->cap_remote_flags, ri,
				   remote_target);
		}
	}
	if (local_target != lm->flags) {
		if (opt->local_readonly) {
			flagset_t blocked = local_target ^ lm->flags;
			status_flags = (status_flags & ~blocked) | (lm->flags & blocked);
		} else {
			push_flags(&p->local_flags, &p->n_local_flags, &b->cap_local_flags, li,
				   local_target);
		}
	}
	if (!have_status || status_flags != base)
		push_status(b, rm->uid, status_flags);
}

static void plan_upload(struct plan_builder *b, const struct plan_options *opt, size_t li,
			const struct repo_msg *lm)
{
	struct plan *p = b->p;
	if (oversize(opt, lm))
		p->n_skipped_oversize++;
	else if (opt->remote_readonly)
		p->n_skipped_readonly++;
	else
		push_index(&p->upload, &p->n_upload, &b->cap_upload, li);
}

int plan_folder(const struct status_rec *status, size_t n_status,
		const struct repo_msg *remote, size_t n_remote,
		const struct repo_msg *local, size_t n_local,
		const struct plan_options *opt, struct plan *plan_r, const char **error_r)
{
	memset(plan_r, 0, sizeof(*plan_r));
	struct plan_builder b = { .p = plan_r };
	struct plan *p = plan_r;

	size_t *ri = sorted_indices(remote, n_remote);
	size_t *li = sorted_indices(local, n_local);

	for (size_t i = 1; i < n_remote; i++) {
		if (remote[ri[i]].uid == remote[ri[i - 1]].uid || remote[ri[i]].uid == 0) {
			free(ri);
			free(li);
			*error_r = "the server listed a UID twice (or UID 0)";
			return -1;
		}
	}
	if (n_remote && remote[ri[0]].uid == 0) {
		free(ri);
		free(li);
		*error_r = "the server listed UID 0";
		return -1;
	}

	/* Local messages without a UID are new; they sort first. */
	size_t lpos = 0;
	while (lpos < n_local && local[li[lpos]].uid == 0) {
		plan_upload(&b, opt, li[lpos], &local[li[lpos]]);
		lpos++;
	}

	size_t spos = 0, rpos = 0;
	while (spos < n_status || rpos < n_remote || lpos < n_local) {
		uint32_t uid = UINT32_MAX;
		if (spos < n_status && status[spos].uid < uid)
			uid = status[spos].uid;
		if (rpos < n_remote && remote[ri[rpos]].uid < uid)
			uid = remote[ri[rpos]].uid;
		if (lpos < n_local && local[li[lpos]].uid < uid)
			uid = local[li[lpos]].uid;

		const struct status_rec *s = NULL;
		const struct repo_msg *rm = NULL, *lm = NULL;
		size_t r_index = 0, l_index = 0;
		if (spos < n_status && status[spos].uid == uid)
			s = &status[spos++];
		/* Duplicate status rows cannot happen (primary key); skip any. */
		while (spos < n_status && status[spos].uid == uid)
			spos++;
		if (rpos < n_remote && remote[ri[rpos]].uid == uid) {
			r_index = ri[rpos++];
			rm = &remote[r_index];
		}
		if (lpos < n_local && local[li[lpos]].uid == uid) {
			l_index = li[lpos++];
			lm = &local[l_index];
			/* A second local file with the same UID is a copy: new. */
			while (lpos < n_local && local[li[lpos]].uid == uid) {
				plan_upload(&b, opt, li[lpos], &local[li[lpos]]);
				lpos++;
			}
		}

		if (rm && lm) {
			merge_pair(&b, opt, r_index, rm, l_index, lm, s ? s->flags : rm->flags, s != NULL);
		} else if (rm && s) {
			/* Deleted locally since the last sync. */
			if (!opt->local_sync_deletes) {
				/* keep the row: the message stays away locally */
			} else if (opt->remote_readonly) {
				p->n_skipped_readonly++;
			} else {
				push_index(&p->delete_remote, &p->n_delete_remote, &b.cap_del_remote,
					   r_index);
				push_forget(&b, uid);
			}
		} else if (rm) {
			if (oversize(opt, rm))
				p->n_skipped_oversize++;
			else if (opt->local_readonly)
				p->n_skipped_readonly++;
			else
				push_index(&p->download, &p->n_download, &b.cap_download, r_index);
		} else if (lm && s) {
			/* Expunged on the server since the last sync. */
			if (!opt->remote_sync_deletes) {
				/* keep the row */
			} else if (opt->local_readonly) {
				p->n_skipped_readonly++;
			} else {
				push_index(&p->delete_local, &p->n_delete_local, &b.cap_del_local, l_index);
				push_forget(&b, uid);
			}
		} else if (lm) {
			plan_upload(&b, opt, l_index, lm);
		} else if (s) {
			push_forget(&b, uid);
		}
	}
	free(ri);
	free(li);
	return 0;
}

size_t plan_change_count(const struct plan *p)
{
	return p->n_download + p->n_upload + p->n_delete_local + p->n_delete_remote +
	       p->n_local_flags + p->n_remote_flags + p->n_status_put + p->n_status_forget;
}

void plan_free(struct plan *p)
{
	free(p->download);
	free(p->upload);
	free(p->delete_local);
	free(p->delete_remote);
	free(p->local_flags);
	free(p->remote_flags);
	free(p->status_put);
	free(p->status_forget);
	memset(p, 0, sizeof(*p));
}
