/* imap_trace.c — see imap_trace.h. */
#include "imap/imap_trace.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void add_clean(struct strbuf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		sb_addc(out, (c < ' ' && c != '\t') || c == 0x7f ? '?' : (char)c);
	}
}

/* Length of the token at s[0..len) up to the next space. */
static size_t token_len(const char *s, size_t len)
{
	size_t i = 0;
	while (i < len && s[i] != ' ')
		i++;
	return i;
}

/* Length of the astring at s[0..len): an atom, a quoted string with
 * backslash escapes, or a literal announcement "{n}". */
static size_t astring_len(const char *s, size_t len)
{
	if (len > 0 && s[0] == '"') {
		size_t i = 1;
		while (i < len && s[i] != '"')
			i += s[i] == '\\' ? 2 : 1;
		return i < len ? i + 1 : len;
	}
	return token_len(s, len);
}

static bool word_is(const char *s, size_t len, const char *word)
{
	size_t wl = strlen(word);
	return len == wl && !strncasecmp(s, word, wl);
}

void imap_trace_redact(struct imap_trace *t, bool from_client, bool private_data,
		       const char *line, size_t len, struct strbuf *out)
{
	if (len > 0 && line[len - 1] == '\n')
		len--;
	if (len > 0 && line[len - 1] == '\r')
		len--;
	if (len == 0)
		return;

	if (!from_client) {
		if (len > 0 && line[0] != '*' && line[0] != '+')
			t->secret = false;
		add_clean(out, line, len);
		return;
	}
	if (t->secret) {
		sb_adds(out, IMAP_TRACE_REDACTED);
		return;
	}

	/* tag SP command [SP args] */
	size_t tag = token_len(line, len);
	size_t pos = tag < len ? tag + 1 : len;
	size_t cmd = token_len(line + pos, len - pos);
	const char *c = line + pos;
	if (word_is(c, cmd, "LOGIN")) {
		t->secret = true;
		pos += cmd;
		add_clean(out, line, pos);
		if (pos < len) {
			pos++;
			size_t user = astring_len(line + pos, len - pos);
			sb_addc(out, ' ');
			add_clean(out, line + pos, user);
			pos += user;
		}
		sb_adds(out, " " IMAP_TRACE_REDACTED);
		return;
	}
	if (word_is(c, cmd, "AUTHENTICATE")) {
		t->secret = true;
		pos += cmd;
		if (pos < len) {
			pos++;
			pos += token_len(line + pos, len - pos); /* mechanism */
		}
		add_clean(out, line, pos);
		if (pos < len)
			sb_adds(out, " " IMAP_TRACE_REDACTED);
		return;
	}
	if (private_data) {
		sb_adds(out, IMAP_TRACE_REDACTED);
		return;
	}
	add_clean(out, line, len);
}

void imap_trace_reset(struct imap_trace *t)
{
	for (int i = 0; i < 2; i++)
		sb_free(&t->dir[i].line);
	*t = (struct imap_trace)IMAP_TRACE_INIT;
}

/* The n of a "{n}" or "{n+}" ending s[0..len), or -1. */
static int64_t literal_announced(const char *s, size_t len)
{
	if (len < 3 || s[len - 1] != '}')
		return -1;
	size_t end = len - 1;
	if (s[end - 1] == '+' || s[end - 1] == '-')
		end--;
	size_t start = end;
	while (start > 0 && s[start - 1] >= '0' && s[start - 1] <= '9')
		start--;
	if (start == end || start == 0 || s[start - 1] != '{' || end - start > 18)
		return -1;
	int64_t n = 0;
	for (size_t i = start; i < end; i++)
		n = n * 10 + (s[i] - '0');
	return n;
}

static void dir_add(struct imap_trace_dir *d, const char *s, size_t len)
{
	size_t room = d->line.len < IMAP_TRACE_LINE_MAX ? IMAP_TRACE_LINE_MAX - d->line.len : 0;
	size_t take = len < room ? len : room;
	sb_add(&d->line, s, take);
	d->dropped += len - take;
	/* keep the last sizeof(tail) bytes of the whole line */
	size_t cap = sizeof(d->tail);
	if (len >= cap) {
		memcpy(d->tail, s + len - cap, cap);
		d->tail_len = cap;
	} else {
		size_t keep = d->tail_len + len > cap ? cap - len : d->tail_len;
		memmove(d->tail, d->tail + d->tail_len - keep, keep);
		memcpy(d->tail + keep, s, len);
		d->tail_len = keep + len;
	}
}

static void dir_line_done(struct imap_trace *t, bool from_client, imap_trace_emit *emit, void *ctx)
{
	struct imap_trace_dir *d = &t->dir[from_client];
	size_t tl = d->tail_len;
	while (tl > 0 && (d->tail[tl - 1] == '\n' || d->tail[tl - 1] == '\r'))
		tl--;
	int64_t lit = literal_announced(d->tail, tl);

	struct strbuf out = STRBUF_INIT;
	imap_trace_redact(t, from_client, d->priv, d->line.buf ? d->line.buf : "", d->line.len, &out);
	if (d->dropped)
		sb_addf(&out, "... (%zu more bytes)", d->dropped);
	if (out.len > 0)
		emit(ctx, from_client, sb_str(&out));
	sb_free(&out);
	if (lit > 0) {
		char note[64];
		if (from_client && t->secret) /* not even the length of a password */
			snprintf(note, sizeof(note), "<literal data " IMAP_TRACE_REDACTED ">");
		else
			snprintf(note, sizeof(note), "<%lld bytes of literal data>", (long long)lit);
		emit(ctx, from_client, note);
		d->literal_left = (uint64_t)lit;
	}
	sb_reset(&d->line);
	d->dropped = 0;
	d->tail_len = 0;
	d->priv = false;
}

void imap_trace_feed(struct imap_trace *t, bool from_client, bool private_data, const char *buf,
		     size_t len, imap_trace_emit *emit, void *ctx)
{
	struct imap_trace_dir *d = &t->dir[from_client];
	size_t i = 0;
	while (i < len) {
		if (d->literal_left > 0) {
			size_t take = (uint64_t)(len - i) < d->literal_left ? len - i
									     : (size_t)d->literal_left;
			i += take;
			d->literal_left -= take;
			continue;
		}
		d->priv |= private_data;
		const char *nl = memchr(buf + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (buf + i)) + 1 : len - i;
		dir_add(d, buf + i, n);
		i += n;
		if (nl)
			dir_line_done(t, from_client, emit, ctx);
	}
}
