/* uidset.c — see uidset.h. */
#include "imap/uidset.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

size_t uidset_next_chunk(const uint32_t *uids, size_t n, size_t max_len, struct strbuf *out)
{
	size_t i = 0, used = 0;
	bool first = true;

	while (i < n && uids[i] == 0)
		i++;
	while (i < n) {
		uint32_t lo = uids[i], hi = lo;
		size_t j = i + 1;
		while (j < n && (uids[j] == hi || (hi != UINT32_MAX && uids[j] == hi + 1)))
			hi = uids[j++];
		char item[32];
		int len = lo == hi ? snprintf(item, sizeof(item), "%s%u", first ? "" : ",", lo)
				   : snprintf(item, sizeof(item), "%s%u:%u", first ? "" : ",", lo, hi);
		if (!first && used + (size_t)len > max_len)
			break;
		sb_add(out, item, (size_t)len);
		used += (size_t)len;
		first = false;
		i = j;
	}
	return i;
}

size_t uidset_chunks(const uint32_t *uids, size_t n, size_t max_len, struct strlist *chunks_r)
{
	struct strbuf sb = STRBUF_INIT;
	size_t chunks = 0;
	while (n > 0) {
		size_t k = uidset_next_chunk(uids, n, max_len, &sb);
		if (sb.len > 0) {
			strlist_add_owned(chunks_r, sb_detach(&sb));
			chunks++;
		}
		uids += k;
		n -= k;
	}
	sb_free(&sb);
	return chunks;
}

static int parse_number(const char **sp, uint32_t *v_r)
{
	const char *s = *sp;
	uint64_t v = 0;
	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX)
			return -1;
		s++;
	}
	if (v == 0)
		return -1;
	*v_r = (uint32_t)v;
	*sp = s;
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

int uidset_parse(const char *s, size_t max_uids, uint32_t **uids_r, size_t *n_r)
{
	uint32_t *v = NULL;
	size_t n = 0, cap = 0;

	*uids_r = NULL;
	*n_r = 0;
	if (*s == '\0')
		return 0;
	for (;;) {
		uint32_t lo, hi;
		if (parse_number(&s, &lo) < 0)
			goto fail;
		hi = lo;
		if (*s == ':') {
			s++;
			if (parse_number(&s, &hi) < 0)
				goto fail;
			if (hi < lo) {
				uint32_t t = lo;
				lo = hi;
				hi = t;
			}
		}
		uint64_t count = (uint64_t)hi - lo + 1;
		if (count > max_uids || n + count > max_uids)
			goto fail;
		xgrow(&v, &cap, n + (size_t)count, sizeof(*v));
		for (uint64_t u = lo; u <= hi; u++)
			v[n++] = (uint32_t)u;
		if (*s == '\0')
			break;
		if (*s != ',')
			goto fail;
		s++;
	}
	qsort(v, n, sizeof(*v), cmp_u32);
	size_t w = 0;
	for (size_t i = 0; i < n; i++)
		if (w == 0 || v[w - 1] != v[i])
			v[w++] = v[i];
	*uids_r = v;
	*n_r = w;
	return 0;
fail:
	free(v);
	return -1;
}
