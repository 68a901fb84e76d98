#include "common/mutf7.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* modified base64: ',' instead of '/' */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

static int b64val(char c)
{
	const char *p = c ? strchr(b64, c) : NULL;
	return p ? (int)(p - b64) : -1;
}

static void put_utf8(struct strbuf *sb, uint32_t cp)
{
	if (cp < 0x80) {
		sb_addc(sb, (char)cp);
	} else if (cp < 0x800) {
		sb_addc(sb, (char)(0xc0 | (cp >> 6)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		sb_addc(sb, (char)(0xe0 | (cp >> 12)));
		sb_addc(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	} else {
		sb_addc(sb, (char)(0xf0 | (cp >> 18)));
		sb_addc(sb, (char)(0x80 | ((cp >> 12) & 0x3f)));
		sb_addc(sb, (char)(0x80 | ((cp >> 6) & 0x3f)));
		sb_addc(sb, (char)(0x80 | (cp & 0x3f)));
	}
}

char *mutf7_decode(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	for (const char *p = s; *p;) {
		if (*p != '&') {
			if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
				goto bad;
			sb_addc(&sb, *p++);
			continue;
		}
		p++;
		if (*p == '-') {
			sb_addc(&sb, '&');
			p++;
			continue;
		}
		uint32_t bits = 0, hi = 0;
		int nbits = 0;
		bool any = false;
		for (; *p != '-'; p++) {
			int v = b64val(*p);
			if (v < 0)
				goto bad;
			bits = (bits << 6) | (uint32_t)v;
			nbits += 6;
			if (nbits >= 16) {
				nbits -= 16;
				uint32_t u = (bits >> nbits) & 0xffff;
				any = true;
				if (hi) {
					if (u < 0xdc00 || u > 0xdfff)
						goto bad;
					put_utf8(&sb, 0x10000 + ((hi - 0xd800) << 10) + (u - 0xdc00));
					hi = 0;
				} else if (u >= 0xd800 && u <= 0xdbff) {
					hi = u;
				} else if (u >= 0xdc00 && u <= 0xdfff) {
					goto bad;
				} else {
					put_utf8(&sb, u);
				}
			}
		}
		/* leftover bits must be zero padding; a run is never empty */
		if (!any || hi || nbits >= 6 || (bits & ((1u << nbits) - 1)))
			goto bad;
		p++; /* '-' */
	}
	if (!sb.len)
		sb_adds(&sb, "");
	return sb_detach(&sb);
bad:
	sb_free(&sb);
	return NULL;
}

static void flush_run(struct strbuf *sb, const uint16_t *u, size_t n)
{
	sb_addc(sb, '&');
	uint32_t bits = 0;
	int nbits = 0;
	for (size_t i = 0; i < n; i++) {
		bits = (bits << 16) | u[i];
		nbits += 16;
		while (nbits >= 6) {
			nbits -= 6;
			sb_addc(sb, b64[(bits >> nbits) & 0x3f]);
		}
	}
	if (nbits)
		sb_addc(sb, b64[(bits << (6 - nbits)) & 0x3f]);
	sb_addc(sb, '-');
}

char *mutf7_encode(const char *s)
{
	struct strbuf sb = STRBUF_INIT;
	uint16_t *run = xmalloc((2 * strlen(s) + 1) * sizeof(*run));
	size_t n = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		uint32_t cp;
		int len;
		if (*p < 0x80) {
			cp = *p, len = 1;
		} else if ((*p & 0xe0) == 0xc0) {
			cp = *p & 0x1f, len = 2;
		} else if ((*p & 0xf0) == 0xe0) {
			cp = *p & 0x0f, len = 3;
		} else if ((*p & 0xf8) == 0xf0) {
			cp = *p & 0x07, len = 4;
		} else {
			goto bad;
		}
		for (int i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (p[i] & 0x3f);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		p += len;
		if (cp >= 0x20 && cp <= 0x7e) {
			if (n) {
				flush_run(&sb, run, n);
				n = 0;
			}
			if (cp == '&')
				sb_adds(&sb, "&-");
			else
				sb_addc(&sb, (char)cp);
		} else if (cp >= 0x10000) {
			cp -= 0x10000;
			run[n++] = (uint16_t)(0xd800 + (cp >> 10));
			run[n++] = (uint16_t)(0xdc00 + (cp & 0x3ff));
		} else {
			run[n++] = (uint16_t)cp;
		}
	}
	if (n)
		flush_run(&sb, run, n);
	free(run);
	if (!sb.len)
		sb_adds(&sb, "");
	return sb_detach(&sb);
bad:
	free(run);
	sb_free(&sb);
	return NULL;
}
