/* imap_trace.h — the redaction filter of the -d imap protocol trace.
 *
 * Owns: deciding what of a protocol line may reach a log. A client's
 *   tag LOGIN user password        becomes  tag LOGIN user <redacted>
 *   tag AUTHENTICATE PLAIN <b64>   becomes  tag AUTHENTICATE PLAIN <redacted>
 * and every further client line until the server's tagged reply to that
 * command (SASL continuation data, literals carrying user or password)
 * becomes <redacted>. A line libetpan marked private that is none of these
 * is redacted whole. Control characters other than tab become '?', so a
 * hostile server cannot drive the terminal.
 *
 * imap_trace_feed() takes the raw buffers libetpan's logger sees (pieces of
 * the byte stream, not lines), reassembles lines per direction, and replaces
 * literal data announced by "{n}" / "{n+}" at the end of a line with one
 * note, so neither a 4 MB message body nor a literal password is traced.
 *
 * Pure: no I/O, no libetpan; the state is the struct below, one per
 * connection.
 */
#ifndef OFFLINEFS_IMAP_TRACE_H
#define OFFLINEFS_IMAP_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/xalloc.h"

#define IMAP_TRACE_REDACTED "<redacted>"

/* Longest line kept for redaction; the rest of a longer line is dropped
 * (its last bytes are still watched for a literal announcement). */
#define IMAP_TRACE_LINE_MAX 4096

struct imap_trace_dir {
	struct strbuf line;   /* partial line so far (at most IMAP_TRACE_LINE_MAX) */
	size_t dropped;       /* bytes of the line beyond the cap */
	char tail[24];        /* the line's last bytes, for "{n}" detection */
	size_t tail_len;
	bool priv;            /* some piece of this line was private */
	uint64_t literal_left; /* bytes of literal data still to skip */
};

struct imap_trace {
	bool secret; /* client lines are credentials until the next tagged reply */
	struct imap_trace_dir dir[2]; /* [0] server, [1] client */
};
#define IMAP_TRACE_INIT { 0 }

/* Frees the partial lines; t can be reused after (it is reset). */
void imap_trace_reset(struct imap_trace *t);

/* Receives one loggable line (NUL-terminated, redacted, no CRLF). */
typedef void imap_trace_emit(void *ctx, bool from_client, const char *line);

/* Feeds buf[0..len) sent by us (from_client) or received; calls emit for
 * every completed line and once per skipped literal ("<n bytes of literal
 * data>", or "<literal data <redacted>>" inside a login). Empty lines are
 * not emitted; a line still incomplete at the end of buf waits for the
 * next call. */
void imap_trace_feed(struct imap_trace *t, bool from_client, bool private_data, const char *buf,
		     size_t len, imap_trace_emit *emit, void *ctx);

/* Appends the loggable form of one protocol line line[0..len) (a trailing
 * CRLF or LF is dropped) to out. from_client: the line was sent by us;
 * private_data: libetpan flagged it as secret (LOGIN). Updates t. */
void imap_trace_redact(struct imap_trace *t, bool from_client, bool private_data,
		       const char *line, size_t len, struct strbuf *out);

#endif
