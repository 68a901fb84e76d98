#include "common/pyeval_proto.h"

#include <json-c/json.h>
#include <string.h>

#include "common/pyeval.h"

char *pyproto_frame(struct json_object *req)
{
	/* PLAIN: no pretty-printing, so no raw newline can appear */
	const char *s = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
	return xasprintf("%s\n", s);
}

int pyproto_take_line(struct strbuf *in, char **line_r)
{
	char *nl = in->len ? memchr(in->buf, '\n', in->len) : NULL;
	if (!nl)
		return 0;
	size_t n = (size_t)(nl - in->buf);
	*line_r = xstrndup(in->buf, n);
	size_t rest = in->len - n - 1;
	memmove(in->buf, nl + 1, rest);
	/* the consumed line may hold a secret (remotepasseval): no copy of it
	 * stays behind in the buffer */
	explicit_bzero(in->buf + rest, n + 1);
	in->len = rest;
	in->buf[rest] = '\0';
	return 1;
}

int pyproto_parse_reply(const char *line, struct json_object **value_r, char **error_r)
{
	*value_r = NULL;
	struct json_object *rep = json_tokener_parse(line);
	struct json_object *ok = NULL, *v = NULL, *kind = NULL, *err = NULL;
	if (!rep || !json_object_is_type(rep, json_type_object) ||
	    !json_object_object_get_ex(rep, "ok", &ok) || !json_object_is_type(ok, json_type_boolean)) {
		json_object_put(rep);
		*error_r = xstrdup("the Python helper sent a malformed reply");
		return PYEVAL_ESTART;
	}
	if (json_object_get_boolean(ok)) {
		if (json_object_object_get_ex(rep, "v", &v) && v)
			*value_r = json_object_get(v);
		json_object_put(rep);
		return 0;
	}
	int code = PYEVAL_EEVAL;
	if (json_object_object_get_ex(rep, "kind", &kind) && json_object_is_type(kind, json_type_string)) {
		const char *k = json_object_get_string(kind);
		code = !strcmp(k, "file") ? PYEVAL_EFILE : !strcmp(k, "type") ? PYEVAL_ETYPE
									 : PYEVAL_EEVAL;
	}
	if (json_object_object_get_ex(rep, "err", &err) && json_object_is_type(err, json_type_string)) {
		/* one line whatever Python said (a SyntaxError's text may hold
		 * the source line) */
		char *e = xstrdup(json_object_get_string(err));
		for (char *p = e; *p; p++)
			if (*p == '\n' || *p == '\r')
				*p = ' ';
		*error_r = e;
	} else {
		*error_r = xstrdup("the Python helper reported an error without text");
	}
	json_object_put(rep);
	return code;
}
