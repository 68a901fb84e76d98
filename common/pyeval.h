/* pyeval.h — OfflineIMAP's Python-valued options, evaluated by real Python.
 *
 * Owns: the one `python3` helper process of an offlinefs process and the
 * line protocol spoken with it. The helper's source is tools/pyhelper.py,
 * embedded into the binary at build time (no file is read at run time).
 *
 * Semantics are OfflineIMAP's LocalEval (offlineimap/localeval.py): the
 * `[general] pythonfile` (already expanded by the caller) is executed as a
 * module and every attribute of it becomes a global; each expression is
 * then `eval()`ed in a fresh copy of those globals plus, with
 * PYEVAL_WITH_RE, the name `re` (what repository/Base.py passes for
 * nametrans, folderfilter, folderincludes, foldersort and mbnames'
 * folderfilter / sort_keyfunc). Builtins are Python's.
 *
 * Lifetime: nothing is started by pyeval_configure. The helper is spawned
 * (fork + exec of `python3` found in PATH, over a socketpair on its fd 3;
 * its stdout/stderr are ours so a pythonfile's print() shows as under
 * OfflineIMAP) on the first call that needs it, so a config without any
 * Python-valued option never starts Python. A process that forked after
 * the helper started (maxsyncaccounts children, the mount's daemon) starts
 * its own on first need; it never talks over its parent's channel.
 * pyeval_shutdown closes the channel and reaps the helper (also run at exit).
 * Calls are serialised by a mutex: any thread may call.
 *
 * Errors: every function returns 0, or a negative PYEVAL_E* code with
 * *error_r (malloc'd, one line, no file:line — the caller knows the option
 * and prefixes "<file>:<line>: option 'x' in section 'S': "). For an
 * exception raised by Python the text is "<ExceptionType>: <str(exc)>",
 * e.g. "NameError: name 'get_pass' is not defined". Result strings may be
 * secrets (remotepasseval): they are never logged here, and the protocol
 * is never traced.
 *
 * Handles: pyeval_define evaluates an expression once and keeps the value
 * (usually a callable) in the helper; the returned handle (>= 0) is valid
 * until pyeval_shutdown. The map/sort calls apply a handle to N names in
 * ONE round trip, so a folder list costs one exchange, not N.
 */
#ifndef OFFLINEFS_PYEVAL_H
#define OFFLINEFS_PYEVAL_H

#include <stdbool.h>
#include <stddef.h>

#include "common/config.h" /* struct strlist */

struct json_object;

enum {
	PYEVAL_EEVAL = -1,  /* the expression or call raised; *error_r has it */
	PYEVAL_EFILE = -2,  /* executing the pythonfile raised (reported by the
			     * first call that started the helper; later calls
			     * return it again) */
	PYEVAL_ESTART = -3, /* python3 could not be started or died */
	PYEVAL_ETYPE = -4,  /* the value is not of the type asked for, e.g.
			     * "expected a str or bytes, got int" */
};

/* Extra globals beyond the pythonfile's (bit set). */
#define PYEVAL_WITH_RE 1u

/* Records the pythonfile to load (NULL or "" = none); starts nothing.
 * Call before the first evaluation; calling again after the helper
 * started has no effect on the running helper. */
void pyeval_configure(const char *pythonfile);

/* True once this process has a helper running (for tests and the
 * "no Python unless needed" promise). */
bool pyeval_started(void);

/* Ends the helper (closes its channel, waits for it) and forgets every
 * handle. Safe to call when nothing was started. */
void pyeval_shutdown(void);

/* eval(expr). _str: the value must be str, or bytes (decoded as UTF-8),
 * as OfflineIMAP requires of remote{host,user,pass}eval; with
 * strip_newline, trailing "\n"s are removed (oauth2_*_eval). *value_r
 * malloc'd; NULL when the value is None and allow_none is set. _int: an
 * int (remoteporteval). _strlist: a list or tuple of str (folderincludes),
 * appended to *out. */
int pyeval_eval_str(const char *expr, unsigned with, bool strip_newline, bool allow_none,
		    char **value_r, char **error_r);
int pyeval_eval_int(const char *expr, unsigned with, long long *value_r, char **error_r);
int pyeval_eval_strlist(const char *expr, unsigned with, struct strlist *out, char **error_r);

/* Evaluates expr and keeps its value in the helper as *handle_r. With
 * want_callable, a value that is not callable is PYEVAL_ETYPE
 * ("expected a callable, got list"). */
int pyeval_define(const char *expr, unsigned with, bool want_callable, int *handle_r,
		  char **error_r);

/* handle(args[0], ..., args[nargs-1]) with str arguments. _str: the
 * result must be a str; _bool: the result's truth value (Python bool()). */
int pyeval_call_str(int handle, const char *const *args, size_t nargs, char **value_r,
		    char **error_r);
int pyeval_call_bool(int handle, const char *const *args, size_t nargs, bool *value_r,
		     char **error_r);

/* Batch: out[i] = handle(names[i]) for i < n in one round trip. _str:
 * each result must be a str; out[i] malloc'd. _bool: truth values. On
 * error nothing is stored in out; the error names the failing argument:
 * "'Lists/foo': TypeError: ...". */
int pyeval_map_str(int handle, const char *const *names, size_t n, char **out,
		   char **error_r);
int pyeval_map_bool(int handle, const char *const *names, size_t n, bool *out, char **error_r);

/* Sorts names[0..n) as Python's list.sort(key=functools.cmp_to_key(h))
 * does (stable; h(x, y) returns a number, negative for x first): fills
 * order_r[0..n) with indices into names, in sorted order. One round trip. */
int pyeval_sort_cmp(int handle, const char *const *names, size_t n, size_t *order_r,
		    char **error_r);

/* The general call, for values that are not strings (mbnames'
 * sort_keyfunc takes a dict; newmail_hook takes nothing): args is a JSON
 * array (borrowed), each element converted to the Python value json.loads
 * gives. *result_r (owned by the caller; json_object_put it) is the
 * result converted back: None/bool/int/float/str/list/tuple(as array)/
 * dict with str keys; anything else is PYEVAL_ETYPE. With sort_key_of
 * set, instead of calling handle once, the call is
 *   sorted(range(len(args)), key=lambda i: h(args[i]))
 * and *result_r is that index array (mbnames sort_keyfunc, one trip). */
int pyeval_call_json(int handle, struct json_object *args, bool sort_key_of,
		     struct json_object **result_r, char **error_r);

#endif
