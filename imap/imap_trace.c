/* imap_trace.c — see imap_trace.h. */
#include "imap/imap_trace.h"

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
