/* delete_guard.c — see delete_guard.h. */
#include "sync/delete_guard.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

bool delete_guard_holds(const struct delete_guard *g, size_t n_delete, size_t n_total)
{
	if (!g->enabled || n_delete == 0)
		return false;
	if (n_delete >= n_total)
		return true;
	if (n_total <= g->minmessages)
		return false;
	/* n_delete / n_total > percent / 100, without rounding */
	return (uint64_t)n_delete * 100 > (uint64_t)g->percent * n_total;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Drops from p->status_forget every UID of msgs[idx[0..n)]. */
static void keep_rows(struct plan *p, const struct repo_msg *msgs, const size_t *idx, size_t n)
{
	if (!n || !p->n_status_forget)
		return;
	uint32_t *held = xmalloc(n * sizeof(*held));
	for (size_t i = 0; i < n; i++)
		held[i] = msgs[idx[i]].uid;
	qsort(held, n, sizeof(*held), cmp_u32);
	size_t out = 0;
	for (size_t i = 0; i < p->n_status_forget; i++) {
		uint32_t uid = p->status_forget[i];
		if (!bsearch(&uid, held, n, sizeof(*held), cmp_u32))
			p->status_forget[out++] = uid;
	}
	p->n_status_forget = out;
	free(held);
}

void delete_guard_apply(const struct delete_guard *g, bool confirmed, struct plan *p,
			const struct repo_msg *remote, const struct repo_msg *local,
			size_t n_known, struct delete_guard_held *held_r)
{
	memset(held_r, 0, sizeof(*held_r));
	if (confirmed)
		return;
	held_r->total = n_known;
	if (delete_guard_holds(g, p->n_delete_remote, n_known)) {
		held_r->remote = p->n_delete_remote;
		keep_rows(p, remote, p->delete_remote, p->n_delete_remote);
		p->n_delete_remote = 0;
	}
	if (delete_guard_holds(g, p->n_delete_local, n_known)) {
		held_r->local = p->n_delete_local;
		keep_rows(p, local, p->delete_local, p->n_delete_local);
		p->n_delete_local = 0;
	}
}
