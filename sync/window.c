#include "sync/window.h"

#include <string.h>

#include "common/xalloc.h"

int64_t window_name_time(const char *name)
{
	const char *p = name;
	while (*p && (*p < '0' || *p > '9'))
		p++;
	if (!*p)
		return -1;
	int64_t v = 0;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (INT64_MAX - 9) / 10)
			return INT64_MAX; /* absurdly far in the future: inside */
		v = v * 10 + (*p - '0');
	}
	return v;
}

static const char *key_name(const struct repo_msg *m)
{
	const char *k = m->key ? m->key : "";
	const char *slash = strrchr(k, '/');
	return slash ? slash + 1 : k;
}

static bool recent_name(const struct repo_msg *m, int64_t cutoff)
{
	int64_t t = window_name_time(key_name(m));
	return t < 0 || t >= cutoff;
}

/* Lowest UID among the server's messages dated since `since`, 0 if none. */
static uint32_t min_remote_since(const struct repo_msg *remote, size_t n, int64_t since)
{
	uint32_t lo = 0;
	for (size_t i = 0; i < n; i++)
		if (remote[i].uid && remote[i].time >= since && (!lo || remote[i].uid < lo))
			lo = remote[i].uid;
	return lo;
}

/* Lowest UID among the Maildir files whose name's time is in the window. */
static uint32_t min_local_recent(const struct repo_msg *local, size_t n, int64_t cutoff)
{
	uint32_t lo = 0;
	for (size_t i = 0; i < n; i++)
		if (local[i].uid && recent_name(&local[i], cutoff) && (!lo || local[i].uid < lo))
			lo = local[i].uid;
	return lo;
}

struct msg_window window_maxage(const struct repo_msg *remote, size_t n_remote,
				const struct repo_msg *local, size_t n_local,
				int64_t remote_since, int64_t cutoff)
{
	struct msg_window w = { .cutoff = cutoff };
	w.lo = min_remote_since(remote, n_remote, remote_since);
	if (!w.lo) {
		w.lo = min_local_recent(local, n_local, cutoff);
		w.uidless_by_date = true;
	}
	return w;
}

int window_startdate_first(bool remote_partial, const struct repo_msg *remote, size_t n_remote,
			   const struct repo_msg *local, size_t n_local, int64_t remote_since,
			   int64_t cutoff, struct msg_window *w_r, uint32_t *save_r)
{
	memset(w_r, 0, sizeof(*w_r));
	w_r->cutoff = cutoff;
	if (remote_partial) {
		if (n_local)
			return -1;
		/* this first time only the dated messages (OfflineIMAP's
		 * SEARCH SINCE); later ones all from the lowest of them up */
		w_r->lo = min_remote_since(remote, n_remote, remote_since);
		w_r->remote_by_date = true;
		w_r->since = remote_since;
	} else {
		if (n_remote)
			return -1;
		w_r->lo = min_local_recent(local, n_local, cutoff);
		w_r->uidless_by_date = true;
	}
	*save_r = w_r->lo ? w_r->lo : 1;
	return 0;
}

struct msg_window window_from_lo(uint32_t lo)
{
	struct msg_window w = { .lo = lo ? lo : 1 };
	return w;
}

static bool inside(const struct msg_window *w, const struct repo_msg *m, bool local)
{
	if (m->uid)
		return w->lo && m->uid >= w->lo &&
		       (local || !w->remote_by_date || m->time >= w->since);
	if (!local)
		return false;
	return !w->uidless_by_date || recent_name(m, w->cutoff);
}

size_t window_filter_msgs(const struct msg_window *w, struct repo_msg_list *list, bool local)
{
	size_t kept = 0, dropped = 0;
	for (size_t i = 0; i < list->n; i++) {
		if (inside(w, &list->v[i], local)) {
			list->v[kept++] = list->v[i];
		} else {
			free(list->v[i].key);
			dropped++;
		}
	}
	list->n = kept;
	return dropped;
}

size_t window_filter_rows(const struct msg_window *w, const struct status_rec *status, size_t n,
			  struct status_rec **out_r)
{
	struct status_rec *out = xmalloc((n ? n : 1) * sizeof(*out));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (w->lo && status[i].uid >= w->lo)
			out[k++] = status[i];
	*out_r = out;
	return k;
}
