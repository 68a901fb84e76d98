#include "sync/live_find.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/xalloc.h"

/* Room for "X-OfflineIMAP: <crc32>-<random>\r\n" (at most 57 bytes) on a copy uploaded to a
 * server without UIDPLUS. */
#define MARKER_SLACK 64

uint64_t live_crlf_size(const char *body, size_t len)
{
	uint64_t n = len;
	for (size_t i = 0; i < len; i++)
		if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
			n++;
	return n;
}

char *live_message_id(const char *body, size_t len)
{
	static const char hdr[] = "message-id:";
	size_t i = 0;
	while (i < len) {
		size_t eol = i;
		while (eol < len && body[eol] != '\n')
			eol++;
		size_t line_len = eol - i;
		if (line_len > 0 && body[eol - 1] == '\r')
			line_len--;
		if (line_len == 0)
			return NULL; /* end of the header block */
		if (line_len >= sizeof(hdr) - 1 && !strncasecmp(body + i, hdr, sizeof(hdr) - 1)) {
			/* the value, with its continuation lines unfolded */
			struct strbuf sb = STRBUF_INIT;
			sb_add(&sb, body + i + sizeof(hdr) - 1, line_len - (sizeof(hdr) - 1));
			size_t j = eol + 1;
			while (j < len && (body[j] == ' ' || body[j] == '\t')) {
				size_t e = j;
				while (e < len && body[e] != '\n')
					e++;
				size_t l = e - j;
				if (l > 0 && body[e - 1] == '\r')
					l--;
				sb_add(&sb, body + j, l);
				j = e + 1;
			}
			char *s = sb_detach(&sb);
			char *p = s;
			while (*p == ' ' || *p == '\t')
				p++;
			size_t n = strlen(p);
			while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
				n--;
			char *v = n ? xstrndup(p, n) : NULL;
			free(s);
			return v;
		}
		i = eol + 1;
	}
	return NULL;
}

static bool known_uid(const uint32_t *known, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (known[mid] == uid)
			return true;
		if (known[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* body with every CRLF turned into LF (how fetch hands bodies over). */
static char *to_lf(const char *body, size_t len, size_t *len_r)
{
	char *out = xmalloc(len + 1);
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		if (body[i] == '\r' && i + 1 < len && body[i + 1] == '\n')
			continue;
		out[n++] = body[i];
	}
	out[n] = '\0';
	*len_r = n;
	return out;
}

/* True when a (a fetched copy) is b, possibly with one X-OfflineIMAP
 * header line added to its header block. */
static bool same_body(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen == blen)
		return memcmp(a, b, alen) == 0;
	if (alen < blen)
		return false;
	/* find the marker line in a's header block and compare around it */
	size_t i = 0;
	while (i < alen) {
		size_t eol = i;
		while (eol < alen && a[eol] != '\n')
			eol++;
		if (eol == i)
			return false;
		if (eol - i >= 14 && !strncasecmp(a + i, "X-OfflineIMAP:", 14)) {
			size_t cut = eol + 1 - i;
			if (alen - cut != blen)
				return false;
			return memcmp(a, b, i) == 0 && memcmp(a + i + cut, b + i, blen - i) == 0;
		}
		i = eol + 1;
	}
	return false;
}

struct cmp_ctx {
	const char *body;
	size_t len;
	const uint32_t *known;
	size_t n_known;
	uint32_t found;
	unsigned matches;
};

static int cmp_one(void *ctx, const struct repo_msg *msg, const char *body, size_t len)
{
	struct cmp_ctx *c = ctx;
	if (!known_uid(c->known, c->n_known, msg->uid) && same_body(body, len, c->body, c->len)) {
		if (c->matches++ == 0 || msg->uid < c->found)
			c->found = msg->uid;
	}
	return 0;
}

int live_find_uploaded(struct repo *r, const char *body, size_t len, const uint32_t *known,
		       size_t n_known, uint32_t *uid_r)
{
	*uid_r = 0;
	uint64_t size = live_crlf_size(body, len);
	char *msgid = live_message_id(body, len);
	int rc;
	if (msgid && r->ops->find_message) {
		uint32_t uid = 0;
		rc = r->ops->find_message(r, msgid, size, &uid);
		if (rc == REPO_STORE_BAD) {
			free(msgid);
			return rc;
		}
		if (rc == REPO_OK && uid && !known_uid(known, n_known, uid)) {
			log_debug(LOG_DBG_SYNC, "%s[%s]: found %s as UID %u", r->ops->type_name,
				  r->folder ? r->folder : "", msgid, uid);
			free(msgid);
			*uid_r = uid;
			return REPO_OK;
		}
		/* not found, ambiguous, or refused: compare bytes below */
	}
	free(msgid);

	struct repo_msg_list list = { 0 };
	rc = r->ops->list_messages(r, &list);
	if (rc != REPO_OK) {
		repo_msg_list_free(&list);
		return rc;
	}
	struct repo_msg **cand = xmalloc((list.n ? list.n : 1) * sizeof(*cand));
	size_t n = 0;
	for (size_t i = 0; i < list.n; i++) {
		struct repo_msg *m = &list.v[i];
		if (m->size >= size && m->size <= size + MARKER_SLACK &&
		    !known_uid(known, n_known, m->uid))
			cand[n++] = m;
	}
	size_t lf_len;
	char *lf = to_lf(body, len, &lf_len);
	struct cmp_ctx c = { .body = lf, .len = lf_len, .known = known, .n_known = n_known };
	rc = n ? r->ops->fetch(r, cand, n, cmp_one, &c) : REPO_OK;
	free(lf);
	free(cand);
	repo_msg_list_free(&list);
	if (rc != REPO_OK && rc != REPO_MSG_BAD)
		return rc;
	/* Several unpaired copies with the same bytes (so the same
	 * Message-ID and size): identical copies are interchangeable, so
	 * this file takes the lowest; the caller's next look (with this UID
	 * now known) takes the next one. Refusing here made the next run
	 * upload all N again and download the server's N: 2N for good. */
	if (c.matches > 1)
		log_debug(LOG_DBG_SYNC, "%s[%s]: %u identical unpaired copies; pairing UID %u",
			  r->ops->type_name, r->folder ? r->folder : "", c.matches, c.found);
	if (c.matches)
		*uid_r = c.found;
	return REPO_OK;
}
