/* pyeval_proto.h — the framing of pyeval's line protocol (pure; for
 * common/pyeval.c and its unit test only).
 *
 * Owns: turning a request (a JSON object) into one line, cutting replies out
 * of the bytes read so far, and reading a reply into a value or an error.
 * A request or reply is one JSON text on one line ending in "\n"; JSON
 * escapes every newline inside strings, so a line is always a whole message.
 * A reply is {"ok": true, "v": VALUE} or
 * {"ok": false, "kind": "eval"|"file"|"type", "err": "one line"}.
 */
#ifndef OFFLINEFS_PYEVAL_PROTO_H
#define OFFLINEFS_PYEVAL_PROTO_H

#include "common/xalloc.h"

struct json_object;

/* The request as one line ("...}\n"), malloc'd. req is borrowed. */
char *pyproto_frame(struct json_object *req);

/* If in holds a whole line, moves it (without "\n") to *line_r (malloc'd),
 * removes it from in and returns 1; else returns 0 and leaves in alone. */
int pyproto_take_line(struct strbuf *in, char **line_r);

/* Reads a reply line. Returns 0 with *value_r (owned; may be NULL for a
 * JSON null), or a PYEVAL_E* code with *error_r (malloc'd): the reply's
 * text for "eval"/"file"/"type", or a description of a malformed line
 * (PYEVAL_ESTART: the helper is not speaking the protocol). */
int pyproto_parse_reply(const char *line, struct json_object **value_r, char **error_r);

#endif
