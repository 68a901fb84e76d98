#include "sync/uidv_recover.h"

#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/hash.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "sync/live_find.h"

/* Room for "X-OfflineIMAP: <crc32>-<random>\r\n" on a server copy that a
 * client without UIDPLUS uploaded (as in live_find.c). */
#define MARKER_SLACK 64

void uidv_digest(const char *body, size_t len, char *out)
{
	char *n = xmalloc(len + 1);
	size_t k = 0;
	bool in_header = true;
	size_t i = 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && body[eol] != '\n')
			eol++;
		size_t end = eol < len ? eol + 1 : eol; /* past the LF */
		size_t text = eol;                      /* the line without CR LF */
		if (text > i && body[text - 1] == '\r')
			text--;
		if (in_header && text == i)
			in_header = false; /* the blank line ending the header block */
		bool marker = in_header && text - i >= 14 && !strncasecmp(body + i, "X-OfflineIMAP:", 14);
		if (!marker) {
			memcpy(n + k, body + i, text - i);
			k += text - i;
			if (eol < len)
				n[k++] = '\n';
			else if (text < eol) /* a lone CR at the very end */
				n[k++] = '\r';
		}
		i = end;
	}
	hash_md5_hex(n, k, out);
	free(n);
}

struct ent {
	char md5[HASH_MD5_HEX_LEN + 1];
	size_t idx;   /* local: index in the listing; server: index in the listing */
	bool paired;
};

static int cmp_ent(const void *a, const void *b)
{
	const struct ent *x = a, *y = b;
	int c = strcmp(x->md5, y->md5);
	return c ? c : x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Whether a server message of size s can be a copy of a local file of one
 * of the sizes sorted[0..n). */
static bool size_possible(const uint64_t *sorted, size_t n, uint64_t s)
{
	uint64_t lo_want = s > MARKER_SLACK ? s - MARKER_SLACK : 0;
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (sorted[mid] < lo_want)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && sorted[lo] <= s;
}

struct fetch_ctx {
	struct ent *ents;
	size_t n, cap;
	const struct repo_msg_list *srv;
	bool *seen; /* by server listing index */
};

static int digest_one(void *ctx, const struct repo_msg *msg, const char *body, size_t len)
{
	struct fetch_ctx *c = ctx;
	const struct repo_msg *v = c->srv->v;
	size_t i = c->srv->n;
	if (msg >= v && msg < v + c->srv->n)
		i = (size_t)(msg - v); /* the fetch hands back the requested entries */
	else
		for (i = 0; i < c->srv->n && v[i].uid != msg->uid; i++)
			;
	if (i == c->srv->n || c->n == c->cap || c->seen[i])
		return 0; /* a stranger, or a second body for the same UID */
	c->seen[i] = true;
	struct ent *e = &c->ents[c->n++];
	uidv_digest(body, len, e->md5);
	e->idx = i;
	return 0;
}

static flagset_t old_flags(const struct status_rec *rows, size_t n, const struct repo_msg *m)
{
	if (!m->uid)
		return m->flags;
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (rows[mid].uid < m->uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && rows[lo].uid == m->uid ? rows[lo].flags : m->flags;
}

int uidv_recover(struct repo *remote, struct repo *local, struct status_db *db,
		 struct status_folder *sf, uint32_t new_uidvalidity,
		 struct repo_msg_list *local_list, struct uidv_recovery *out, char **error_r)
{
	memset(out, 0, sizeof(*out));
	int ret = -1;
	struct repo_msg_list srv = { 0 };
	struct status_rec *rows = NULL;
	size_t n_rows = 0;
	size_t nl = local_list->n;
	struct ent *lents = xcalloc(nl ? nl : 1, sizeof(*lents));
	uint64_t *sizes = xmalloc((nl ? nl : 1) * sizeof(*sizes));
	struct ent *sents = NULL;
	struct repo_msg **want = NULL;
	uint32_t *new_uid = xcalloc(nl ? nl : 1, sizeof(*new_uid));
	flagset_t *base = xcalloc(nl ? nl : 1, sizeof(*base));
	char *err = NULL;

	if (status_load(db, sf->id, &rows, &n_rows, &err) < 0) {
		*error_r = xasprintf("status cache: %s", err);
		goto out;
	}
	int rc = remote->ops->list_messages(remote, &srv);
	if (rc != REPO_OK) {
		*error_r = xstrdup(repo_error(remote));
		goto out;
	}
	/* the local side: every file's digest and CRLF size */
	for (size_t i = 0; i < nl; i++) {
		char *body = NULL;
		size_t len = 0;
		rc = local->ops->read_body(local, &local_list->v[i], &body, &len, NULL);
		if (rc != REPO_OK) {
			*error_r = xstrdup(repo_error(local));
			free(body);
			goto out;
		}
		uidv_digest(body, len, lents[i].md5);
		lents[i].idx = i;
		sizes[i] = live_crlf_size(body, len);
		free(body);
	}
	qsort(sizes, nl, sizeof(*sizes), cmp_u64);
	/* the server side: only messages whose size can match */
	want = xmalloc((srv.n ? srv.n : 1) * sizeof(*want));
	size_t nw = 0;
	for (size_t i = 0; i < srv.n; i++)
		if (size_possible(sizes, nl, srv.v[i].size))
			want[nw++] = &srv.v[i];
	sents = xcalloc(nw ? nw : 1, sizeof(*sents));
	struct fetch_ctx fc = { .ents = sents, .cap = nw, .srv = &srv,
				.seen = xcalloc(srv.n ? srv.n : 1, sizeof(bool)) };
	rc = nw ? remote->ops->fetch(remote, want, nw, digest_one, &fc) : REPO_OK;
	free(fc.seen);
	if (rc != REPO_OK || fc.n != nw) {
		/* a message that could not be read could be a local file's
		 * copy: pairing without it could upload a duplicate */
		*error_r = rc != REPO_OK ? xstrdup(repo_error(remote))
					 : xasprintf("%zu of %zu server messages could not be read",
						     nw - fc.n, nw);
		goto out;
	}
	/* pair equal digests one to one, in listing order on both sides */
	qsort(lents, nl, sizeof(*lents), cmp_ent);
	qsort(sents, fc.n, sizeof(*sents), cmp_ent);
	for (size_t i = 0, j = 0; i < nl && j < fc.n;) {
		int c = strcmp(lents[i].md5, sents[j].md5);
		if (c < 0) {
			i++;
		} else if (c > 0) {
			j++;
		} else {
			lents[i].paired = sents[j].paired = true;
			const struct repo_msg *lm = &local_list->v[lents[i].idx];
			new_uid[lents[i].idx] = srv.v[sents[j].idx].uid;
			base[lents[i].idx] = old_flags(rows, n_rows, lm);
			out->paired++;
			i++;
			j++;
		}
	}
	out->to_download = srv.n - out->paired;
	/* 1. the Maildir: paired files take their server UID, the others
	 * lose any old one (uploaded as new by the sync that follows) */
	for (size_t i = 0; i < nl; i++) {
		struct repo_msg *m = &local_list->v[i];
		uint32_t uid = new_uid[i];
		if (!uid)
			out->to_upload++;
		if (m->uid == uid)
			continue;
		rc = local->ops->set_uid(local, m, uid);
		if (rc != REPO_OK) {
			*error_r = xstrdup(repo_error(local));
			goto out;
		}
	}
	if (local->ops->flush && local->ops->flush(local) != REPO_OK) {
		*error_r = xstrdup(repo_error(local));
		goto out;
	}
	/* The tests' crash point (tests/integration/test_uidvalidity.py): the
	 * files renamed, the rows not yet written. */
	if (getenv("OFFLINEFS_TEST_KILL_IN_RECOVERY"))
		raise(SIGKILL);
	/* 2. the status: one row per pair, the new UIDVALIDITY */
	struct status_folder nsf = *sf;
	nsf.uidvalidity = new_uidvalidity;
	nsf.uidnext = 0;
	nsf.highestmodseq = 0;
	nsf.new_mtime_ns = nsf.cur_mtime_ns = 0;
	int s = status_begin(db, &err);
	if (s == 0)
		s = status_folder_clear(db, sf->id, &err);
	for (size_t i = 0; s == 0 && i < nl; i++)
		if (new_uid[i])
			s = status_put(db, sf->id, new_uid[i], base[i], &err);
	if (s == 0)
		s = status_folder_update(db, &nsf, &err);
	if (s == 0)
		s = status_commit(db, &err);
	if (s < 0) {
		status_rollback(db);
		*error_r = xasprintf("status cache: %s", err ? err : "failed");
		goto out;
	}
	*sf = nsf;
	ret = 0;
out:
	free(err);
	free(rows);
	free(lents);
	free(sizes);
	free(sents);
	free(want);
	free(new_uid);
	free(base);
	repo_msg_list_free(&srv);
	return ret;
}
