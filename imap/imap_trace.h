/* imap_trace.h — the redaction filter of the -d imap protocol trace.
 *
 * Owns: deciding what of a protocol line may reach a log. A client's
 *   tag LOGIN user password        becomes  tag LOGIN user <redacted>
 *   tag AUTHENTICATE PLAIN <b64>   becomes  tag AUTHENTICATE PLAIN <redacted>
 * and every further client line until the server's tagged reply to that
 * command (SASL continuation data, literals carrying user or password)
 * becomes <redacted>. A line libetpan marked private that is none of these
 * is redacted whole. Control characters other than tab become '?', so a
 * hostile server cannot drive the terminal. Pure: no I/O, no libetpan; the
 * only state is the small struct below, one per connection.
 */
#ifndef OFFLINEFS_IMAP_TRACE_H
#define OFFLINEFS_IMAP_TRACE_H

#include <stdbool.h>
#include <stddef.h>

#include "common/xalloc.h"

#define IMAP_TRACE_REDACTED "<redacted>"

struct imap_trace {
	bool secret; /* client lines are credentials until the next tagged reply */
};
#define IMAP_TRACE_INIT { false }

/* Appends the loggable form of one protocol line line[0..len) (a trailing
 * CRLF or LF is dropped) to out. from_client: the line was sent by us;
 * private_data: libetpan flagged it as secret (LOGIN). Updates t. */
void imap_trace_redact(struct imap_trace *t, bool from_client, bool private_data,
		       const char *line, size_t len, struct strbuf *out);

#endif
