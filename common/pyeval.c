#include "common/pyeval.h"

#include <errno.h>
#include <json-c/json.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/pyeval_proto.h"
#include "common/xalloc.h"

extern char **environ;

/* Generated from tools/pyhelper.py at build time (tools/gen-embed.py). */
extern const char pyhelper_source[];

/* A define to replay in a helper started by a forked process, so handles
 * stay the same numbers there. */
struct def {
	char *expr;
	unsigned with;
	bool want_callable;
};

static struct {
	pthread_mutex_t mu;
	char *pythonfile;
	pid_t owner;          /* the process that started the helper */
	pid_t child;
	int fd;               /* our end of the socketpair; -1 = none */
	struct strbuf in;     /* bytes read after the last whole line */
	int dead_code;        /* != 0: the helper cannot serve (ESTART/EFILE) */
	char *dead_error;
	struct def *defs;
	size_t n_defs, cap_defs;
	bool atexit_set;
} S = { .mu = PTHREAD_MUTEX_INITIALIZER, .fd = -1 };

void pyeval_configure(const char *pythonfile)
{
	pthread_mutex_lock(&S.mu);
	free(S.pythonfile);
	S.pythonfile = pythonfile && *pythonfile ? xstrdup(pythonfile) : NULL;
	pthread_mutex_unlock(&S.mu);
}

bool pyeval_started(void)
{
	pthread_mutex_lock(&S.mu);
	bool r = S.fd >= 0 && S.owner == getpid();
	pthread_mutex_unlock(&S.mu);
	return r;
}

/* Closes the channel; reaps the helper if it is ours. Keeps defs. */
static void stop_locked(void)
{
	if (S.fd >= 0) {
		close(S.fd);
		if (S.owner == getpid() && S.child > 0)
			while (waitpid(S.child, NULL, 0) < 0 && errno == EINTR)
				;
	}
	S.fd = -1;
	S.child = 0;
	S.owner = 0;
	sb_free(&S.in);
	S.dead_code = 0;
	free(S.dead_error);
	S.dead_error = NULL;
}

void pyeval_shutdown(void)
{
	pthread_mutex_lock(&S.mu);
	stop_locked();
	for (size_t i = 0; i < S.n_defs; i++)
		free(S.defs[i].expr);
	free(S.defs);
	S.defs = NULL;
	S.n_defs = S.cap_defs = 0;
	free(S.pythonfile);
	S.pythonfile = NULL;
	pthread_mutex_unlock(&S.mu);
}

static void at_exit(void)
{
	pyeval_shutdown();
}

static int fail(char **error_r, int code, char *msg)
{
	*error_r = msg;
	return code;
}

static int send_all(const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(S.fd, buf, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One request, one reply, on a running helper. */
static int exchange_raw(struct json_object *req, struct json_object **value_r, char **error_r)
{
	char *line = pyproto_frame(req);
	int rc = send_all(line, strlen(line));
	free(line);
	if (rc < 0)
		return fail(error_r, PYEVAL_ESTART,
			    errno == EPIPE || errno == ECONNRESET
				    ? xstrdup("the Python helper (python3) exited unexpectedly")
				    : xasprintf("writing to the Python helper: %s", strerror(errno)));
	char *reply = NULL;
	while (!pyproto_take_line(&S.in, &reply)) {
		char buf[8192];
		ssize_t n = recv(S.fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return fail(error_r, PYEVAL_ESTART,
				    n == 0 || errno == ECONNRESET ? xstrdup("the Python helper (python3) exited unexpectedly")
					   : xasprintf("reading from the Python helper: %s",
						       strerror(errno)));
		sb_add(&S.in, buf, (size_t)n);
		explicit_bzero(buf, (size_t)n);
	}
	rc = pyproto_parse_reply(reply, value_r, error_r);
	explicit_bzero(reply, strlen(reply)); /* may hold a password */
	free(reply);
	return rc;
}

static struct json_object *define_req(const struct def *d)
{
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string("define"));
	json_object_object_add(req, "expr", json_object_new_string(d->expr));
	json_object_object_add(req, "re", json_object_new_boolean(d->with & PYEVAL_WITH_RE));
	json_object_object_add(req, "callable", json_object_new_boolean(d->want_callable));
	return req;
}

static int spawn_locked(char **error_r)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return fail(error_r, PYEVAL_ESTART,
			    xasprintf("cannot start python3: socketpair: %s", strerror(errno)));
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	/* glibc clears close-on-exec when the two fds are the same */
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
	posix_spawn_file_actions_addclosefrom_np(&fa, 4);
#endif
	char *argv[] = { "python3", "-c", (char *)pyhelper_source, NULL };
	pid_t pid;
	int err = posix_spawnp(&pid, "python3", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(sv[1]);
	if (err) {
		close(sv[0]);
		return fail(error_r, PYEVAL_ESTART,
			    xasprintf("cannot start python3 (needed for the Python-valued "
				      "options): %s", strerror(err)));
	}
	S.fd = sv[0];
	S.child = pid;
	S.owner = getpid();
	if (!S.atexit_set) {
		atexit(at_exit);
		S.atexit_set = true;
	}
	struct json_object *v = NULL;
	int rc = 0;
	if (S.pythonfile) {
		struct json_object *req = json_object_new_object();
		json_object_object_add(req, "op", json_object_new_string("load"));
		json_object_object_add(req, "file", json_object_new_string(S.pythonfile));
		rc = exchange_raw(req, &v, error_r);
		json_object_put(req);
		json_object_put(v);
	}
	/* a forked process: the handles its parent defined */
	for (size_t i = 0; rc == 0 && i < S.n_defs; i++) {
		struct json_object *req = define_req(&S.defs[i]);
		v = NULL;
		rc = exchange_raw(req, &v, error_r);
		json_object_put(req);
		if (rc == 0 && json_object_get_int(v) != (int)i)
			rc = fail(error_r, PYEVAL_ESTART, xstrdup("the Python helper lost count"));
		json_object_put(v);
	}
	if (rc == PYEVAL_EFILE || rc == PYEVAL_ESTART) {
		S.dead_code = rc;
		S.dead_error = xstrdup(*error_r);
	}
	return rc;
}

/* Makes sure this process has a helper, then exchanges req. */
static int exchange(struct json_object *req, struct json_object **value_r, char **error_r)
{
	*value_r = NULL;
	if (S.fd >= 0 && S.owner != getpid()) {
		/* inherited across fork: the channel is the parent's; drop our
		 * copy (the parent still holds its own) and start ours */
		close(S.fd);
		S.fd = -1;
		S.child = 0;
		sb_free(&S.in);
		S.dead_code = 0;
		free(S.dead_error);
		S.dead_error = NULL;
	}
	if (S.fd < 0) {
		int rc = spawn_locked(error_r);
		if (rc < 0)
			return rc;
	}
	if (S.dead_code)
		return fail(error_r, S.dead_code, xstrdup(S.dead_error));
	int rc = exchange_raw(req, value_r, error_r);
	if (rc == PYEVAL_ESTART) {
		S.dead_code = rc;
		S.dead_error = xstrdup(*error_r);
	}
	return rc;
}

static struct json_object *req_new(const char *op)
{
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, "op", json_object_new_string(op));
	return req;
}

static struct json_object *str_array(const char *const *v, size_t n)
{
	struct json_object *a = json_object_new_array_ext((int)n);
	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

/* Sends req (consumed) under the lock. */
static int run(struct json_object *req, struct json_object **value_r, char **error_r)
{
	pthread_mutex_lock(&S.mu);
	int rc = exchange(req, value_r, error_r);
	pthread_mutex_unlock(&S.mu);
	json_object_put(req);
	return rc;
}

static struct json_object *eval_req(const char *expr, unsigned with, const char *want)
{
	struct json_object *req = req_new("eval");
	json_object_object_add(req, "expr", json_object_new_string(expr));
	json_object_object_add(req, "re", json_object_new_boolean(with & PYEVAL_WITH_RE));
	json_object_object_add(req, "want", json_object_new_string(want));
	return req;
}

static int type_error(char **error_r, const char *what)
{
	return fail(error_r, PYEVAL_ETYPE,
		    xasprintf("the Python helper returned something other than %s", what));
}

int pyeval_eval_str(const char *expr, unsigned with, bool strip_newline, bool allow_none,
		    char **value_r, char **error_r)
{
	struct json_object *req = eval_req(expr, with, "str");
	json_object_object_add(req, "strip", json_object_new_boolean(strip_newline));
	json_object_object_add(req, "none", json_object_new_boolean(allow_none));
	struct json_object *v = NULL;
	*value_r = NULL;
	int rc = run(req, &v, error_r);
	if (rc < 0)
		return rc;
	if (v && !json_object_is_type(v, json_type_string)) {
		json_object_put(v);
		return type_error(error_r, "a string");
	}
	if (v) {
		*value_r = xstrdup(json_object_get_string(v));
		/* json-c keeps its own copy of the (possibly secret) text */
		char *inner = (char *)json_object_get_string(v);
		explicit_bzero(inner, strlen(inner));
	}
	json_object_put(v);
	return 0;
}

int pyeval_eval_int(const char *expr, unsigned with, long long *value_r, char **error_r)
{
	struct json_object *v = NULL;
	int rc = run(eval_req(expr, with, "int"), &v, error_r);
	if (rc < 0)
		return rc;
	if (!v || !json_object_is_type(v, json_type_int)) {
		json_object_put(v);
		return type_error(error_r, "an int");
	}
	*value_r = json_object_get_int64(v);
	json_object_put(v);
	return 0;
}

int pyeval_eval_strlist(const char *expr, unsigned with, struct strlist *out, char **error_r)
{
	struct json_object *v = NULL;
	int rc = run(eval_req(expr, with, "strlist"), &v, error_r);
	if (rc < 0)
		return rc;
	if (!v || !json_object_is_type(v, json_type_array)) {
		json_object_put(v);
		return type_error(error_r, "a list");
	}
	for (size_t i = 0; i < json_object_array_length(v); i++)
		strlist_add(out, json_object_get_string(json_object_array_get_idx(v, i)));
	json_object_put(v);
	return 0;
}

int pyeval_define(const char *expr, unsigned with, bool want_callable, int *handle_r,
		  char **error_r)
{
	struct def d = { .expr = xstrdup(expr), .with = with, .want_callable = want_callable };
	struct json_object *req = define_req(&d);
	struct json_object *v = NULL;
	pthread_mutex_lock(&S.mu);
	int rc = exchange(req, &v, error_r);
	if (rc == 0 && (!v || json_object_get_int(v) != (int)S.n_defs))
		rc = type_error(error_r, "the next handle");
	if (rc == 0) {
		xgrow(&S.defs, &S.cap_defs, S.n_defs + 1, sizeof(*S.defs));
		*handle_r = (int)S.n_defs;
		S.defs[S.n_defs++] = d;
	} else {
		free(d.expr);
	}
	pthread_mutex_unlock(&S.mu);
	json_object_put(req);
	json_object_put(v);
	return rc;
}

static struct json_object *call_req(const char *op, int handle, struct json_object *args,
				    const char *want)
{
	struct json_object *req = req_new(op);
	json_object_object_add(req, "h", json_object_new_int(handle));
	json_object_object_add(req, "args", args);
	if (want)
		json_object_object_add(req, "want", json_object_new_string(want));
	return req;
}

int pyeval_call_str(int handle, const char *const *args, size_t nargs, char **value_r,
		    char **error_r)
{
	struct json_object *v = NULL;
	int rc = run(call_req("call", handle, str_array(args, nargs), "str"), &v, error_r);
	if (rc < 0)
		return rc;
	if (!v || !json_object_is_type(v, json_type_string)) {
		json_object_put(v);
		return type_error(error_r, "a string");
	}
	*value_r = xstrdup(json_object_get_string(v));
	json_object_put(v);
	return 0;
}

int pyeval_call_bool(int handle, const char *const *args, size_t nargs, bool *value_r,
		     char **error_r)
{
	struct json_object *v = NULL;
	int rc = run(call_req("call", handle, str_array(args, nargs), "bool"), &v, error_r);
	if (rc < 0)
		return rc;
	*value_r = json_object_get_boolean(v);
	json_object_put(v);
	return 0;
}

static int map_call(int handle, const char *const *names, size_t n, const char *want,
		    struct json_object **v_r, char **error_r)
{
	int rc = run(call_req("map", handle, str_array(names, n), want), v_r, error_r);
	if (rc < 0)
		return rc;
	if (!*v_r || !json_object_is_type(*v_r, json_type_array) ||
	    json_object_array_length(*v_r) != n) {
		json_object_put(*v_r);
		*v_r = NULL;
		return type_error(error_r, "one result per name");
	}
	return 0;
}

int pyeval_map_str(int handle, const char *const *names, size_t n, char **out, char **error_r)
{
	struct json_object *v = NULL;
	int rc = map_call(handle, names, n, "str", &v, error_r);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		out[i] = xstrdup(json_object_get_string(json_object_array_get_idx(v, i)));
	json_object_put(v);
	return 0;
}

int pyeval_map_bool(int handle, const char *const *names, size_t n, bool *out, char **error_r)
{
	struct json_object *v = NULL;
	int rc = map_call(handle, names, n, "bool", &v, error_r);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < n; i++)
		out[i] = json_object_get_boolean(json_object_array_get_idx(v, i));
	json_object_put(v);
	return 0;
}

/* Reads an index permutation of 0..n-1 from v into order_r. */
static int read_order(struct json_object *v, size_t n, size_t *order_r, char **error_r)
{
	if (!v || !json_object_is_type(v, json_type_array) || json_object_array_length(v) != n)
		return type_error(error_r, "an ordering");
	bool *seen = xcalloc(n ? n : 1, sizeof(*seen));
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int64_t k = json_object_get_int64(json_object_array_get_idx(v, i));
		if (k < 0 || (size_t)k >= n || seen[k])
			rc = type_error(error_r, "an ordering");
		else
			seen[k] = true, order_r[i] = (size_t)k;
	}
	free(seen);
	return rc;
}

int pyeval_sort_cmp(int handle, const char *const *names, size_t n, size_t *order_r,
		    char **error_r)
{
	struct json_object *v = NULL;
	int rc = run(call_req("sortcmp", handle, str_array(names, n), NULL), &v, error_r);
	if (rc == 0)
		rc = read_order(v, n, order_r, error_r);
	json_object_put(v);
	return rc;
}

int pyeval_call_json(int handle, struct json_object *args, bool sort_key_of,
		     struct json_object **result_r, char **error_r)
{
	struct json_object *req = call_req(sort_key_of ? "sortkey" : "call", handle,
					   json_object_get(args), sort_key_of ? NULL : "json");
	*result_r = NULL;
	int rc = run(req, result_r, error_r);
	if (rc == 0 && sort_key_of) {
		size_t n = json_object_array_length(args);
		size_t *order = xcalloc(n ? n : 1, sizeof(*order));
		rc = read_order(*result_r, n, order, error_r);
		free(order);
		if (rc < 0) {
			json_object_put(*result_r);
			*result_r = NULL;
		}
	}
	return rc;
}
