/* test_pyeval.c — common/pyeval_proto (framing, pure) and common/pyeval
 * against a real python3 helper: types, errors, batch calls, fork. */
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "common/pyeval.h"
#include "common/pyeval_proto.h"
#include "common/xalloc.h"

static void test_framing(void)
{
	struct json_object *req = json_object_new_object();
	json_object_object_add(req, "expr", json_object_new_string("lambda f: f\n  + 'x'"));
	char *line = pyproto_frame(req);
	/* a newline inside a value never ends the line early */
	CHECK(strchr(line, '\n') == line + strlen(line) - 1);
	json_object_put(req);

	struct strbuf in = STRBUF_INIT;
	char *got = NULL;
	sb_adds(&in, "{\"ok\": tr");
	CHECK_INT(pyproto_take_line(&in, &got), 0);
	sb_adds(&in, "ue, \"v\": \"a\\nb\"}\n{\"ok\"");
	CHECK_INT(pyproto_take_line(&in, &got), 1);
	CHECK_STR(got, "{\"ok\": true, \"v\": \"a\\nb\"}");
	CHECK_STR(sb_str(&in), "{\"ok\"");
	struct json_object *v = NULL;
	char *err = NULL;
	CHECK_INT(pyproto_parse_reply(got, &v, &err), 0);
	CHECK_STR(json_object_get_string(v), "a\nb");
	json_object_put(v);
	free(got);
	sb_free(&in);
	free(line);

	CHECK_INT(pyproto_parse_reply("{\"ok\": false, \"kind\": \"type\", \"err\": \"x\"}", &v, &err),
		  PYEVAL_ETYPE);
	CHECK_STR(err, "x");
	free(err);
	CHECK_INT(pyproto_parse_reply("{\"ok\": false, \"kind\": \"eval\", \"err\": \"a\\nb\"}", &v,
				      &err), PYEVAL_EEVAL);
	CHECK_STR(err, "a b"); /* errors stay one line */
	free(err);
	CHECK_INT(pyproto_parse_reply("{\"ok\": false, \"kind\": \"file\", \"err\": \"f\"}", &v, &err),
		  PYEVAL_EFILE);
	free(err);
	CHECK_INT(pyproto_parse_reply("garbage", &v, &err), PYEVAL_ESTART);
	free(err);
	CHECK_INT(pyproto_parse_reply("[1]", &v, &err), PYEVAL_ESTART);
	free(err);
}

static void test_helper(const char *pyfile)
{
	char *s = NULL, *err = NULL;
	CHECK(!pyeval_started());
	pyeval_configure(pyfile);
	CHECK(!pyeval_started()); /* configuring starts nothing */

	CHECK_INT(pyeval_eval_str("get_pass('x')", 0, false, false, &s, &err), 0);
	CHECK_STR(s, "secret-x");
	free(s);
	CHECK(pyeval_started());
	CHECK_INT(pyeval_eval_str("b'bytes\\n\\n'", 0, true, false, &s, &err), 0);
	CHECK_STR(s, "bytes");
	free(s);
	CHECK_INT(pyeval_eval_str("None", 0, false, true, &s, &err), 0);
	CHECK(s == NULL);
	CHECK_INT(pyeval_eval_str("42", 0, false, false, &s, &err), PYEVAL_ETYPE);
	CHECK_STR(err, "expected a str or bytes, got int");
	free(err);
	CHECK_INT(pyeval_eval_str("nope('x')", 0, false, false, &s, &err), PYEVAL_EEVAL);
	CHECK_STR(err, "NameError: name 'nope' is not defined");
	free(err);
	/* re only where OfflineIMAP passes it */
	CHECK_INT(pyeval_eval_str("re.sub('a', 'b', 'aa')", 0, false, false, &s, &err),
		  PYEVAL_EEVAL);
	free(err);
	CHECK_INT(pyeval_eval_str("re.sub('a', 'b', 'aa')", PYEVAL_WITH_RE, false, false, &s, &err),
		  0);
	CHECK_STR(s, "bb");
	free(s);

	long long n = 0;
	CHECK_INT(pyeval_eval_int("990 + 3", 0, &n, &err), 0);
	CHECK_INT(n, 993);
	CHECK_INT(pyeval_eval_int("'993'", 0, &n, &err), PYEVAL_ETYPE);
	free(err);

	struct strlist l = STRLIST_INIT;
	CHECK_INT(pyeval_eval_strlist("['a', \"b/c\",\n 'G\\u00e4']", 0, &l, &err), 0);
	CHECK_INT(l.n, 3);
	if (l.n == 3) {
		CHECK_STR(l.v[1], "b/c");
		CHECK_STR(l.v[2], "G\xc3\xa4");
	}
	strlist_free(&l);

	int h = -1, hf = -1, hs = -1, hbad = -1;
	CHECK_INT(pyeval_define("lambda f: re.sub('^INBOX$', 'inbox', f)", PYEVAL_WITH_RE, true, &h,
				&err), 0);
	CHECK_INT(pyeval_define("lambda f: f in ['INBOX', 'Sent'] or re.search('^L', f)",
				PYEVAL_WITH_RE, true, &hf, &err), 0);
	CHECK_INT(pyeval_define("lambda x, y: len(x) - len(y)", 0, true, &hs, &err), 0);
	CHECK_INT(pyeval_define("[1, 2]", 0, true, &hbad, &err), PYEVAL_ETYPE);
	CHECK_STR(err, "expected a callable (such as a lambda), got list");
	free(err);
	const char *names[] = { "INBOX", "Sent", "Lists/x", "Trash" };
	char *out[4] = { 0 };
	CHECK_INT(pyeval_map_str(h, names, 4, out, &err), 0);
	CHECK_STR(out[0], "inbox");
	CHECK_STR(out[2], "Lists/x");
	for (int i = 0; i < 4; i++)
		free(out[i]);
	bool keep[4];
	CHECK_INT(pyeval_map_bool(hf, names, 4, keep, &err), 0);
	CHECK(keep[0] && keep[1] && keep[2] && !keep[3]);
	size_t order[4];
	CHECK_INT(pyeval_sort_cmp(hs, names, 4, order, &err), 0);
	/* by length, stable: Sent(4) INBOX(5) Trash(5) Lists/x(7) */
	CHECK_INT(order[0], 1);
	CHECK_INT(order[1], 0);
	CHECK_INT(order[2], 3);
	CHECK_INT(order[3], 2);
	bool b = false;
	CHECK_INT(pyeval_call_bool(hf, names + 3, 1, &b, &err), 0);
	CHECK(!b);
	CHECK_INT(pyeval_call_str(h, names, 2, &s, &err), PYEVAL_EEVAL); /* two args to a lambda f */
	CHECK(strncmp(err, "TypeError: ", 11) == 0);
	free(err);
	/* a failing element is named */
	int hx = -1;
	CHECK_INT(pyeval_define("lambda f: f + 1", 0, true, &hx, &err), 0);
	CHECK_INT(pyeval_map_str(hx, names, 4, out, &err), PYEVAL_EEVAL);
	CHECK(strncmp(err, "'INBOX': TypeError: ", 20) == 0);
	free(err);

	/* general call: dict in, sort keys */
	int hk = -1;
	CHECK_INT(pyeval_define("lambda d: (d['accountname'], -len(d['foldername']))", 0, true, &hk,
				&err), 0);
	struct json_object *args = json_tokener_parse(
		"[{\"accountname\": \"b\", \"foldername\": \"x\"},"
		" {\"accountname\": \"a\", \"foldername\": \"y\"},"
		" {\"accountname\": \"a\", \"foldername\": \"yyy\"}]");
	struct json_object *res = NULL;
	CHECK_INT(pyeval_call_json(hk, args, true, &res, &err), 0);
	CHECK_STR(json_object_to_json_string_ext(res, JSON_C_TO_STRING_PLAIN), "[2,1,0]");
	json_object_put(res);
	json_object_put(args);

	/* a forked child gets its own helper with the same handles */
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		char *o[1] = { 0 }, *e = NULL;
		int rc = pyeval_map_str(h, names, 1, o, &e);
		int ok = rc == 0 && o[0] && !strcmp(o[0], "inbox");
		free(o[0]);
		free(e);
		_exit(ok ? 0 : 1);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* and the parent's still works */
	CHECK_INT(pyeval_map_str(h, names, 1, out, &err), 0);
	CHECK_STR(out[0], "inbox");
	free(out[0]);

	pyeval_shutdown();
	CHECK(!pyeval_started());
}

static void test_bad_pythonfile(const char *dir)
{
	char *path = xasprintf("%s/bad.py", dir);
	FILE *f = fopen(path, "w");
	fputs("import os\nraise RuntimeError('no gpg agent')\n", f);
	fclose(f);
	pyeval_configure(path);
	char *s = NULL, *err = NULL;
	CHECK_INT(pyeval_eval_str("'x'", 0, false, false, &s, &err), PYEVAL_EFILE);
	CHECK_STR(err, "RuntimeError: no gpg agent");
	free(err);
	/* again: the same error, no new helper */
	CHECK_INT(pyeval_eval_str("'x'", 0, false, false, &s, &err), PYEVAL_EFILE);
	free(err);
	pyeval_shutdown();
	free(path);

	/* python3 missing from PATH */
	char *old = xstrdup(getenv("PATH"));
	setenv("PATH", "/nonexistent", 1);
	CHECK_INT(pyeval_eval_str("'x'", 0, false, false, &s, &err), PYEVAL_ESTART);
	CHECK(strstr(err, "python3") != NULL);
	free(err);
	pyeval_shutdown();
	setenv("PATH", old, 1);
	free(old);
}

int main(void)
{
	test_framing();
	char dir[] = "/tmp/test_pyeval.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	char *path = xasprintf("%s/offlineimap.py.conf", dir);
	FILE *f = fopen(path, "w");
	/* no .py suffix needed, as in OfflineIMAP; defines with imports */
	fputs("import subprocess\n"
	      "def get_pass(acct):\n"
	      "    return subprocess.check_output(['echo', 'secret-' + acct]).decode().strip()\n",
	      f);
	fclose(f);
	test_helper(path);
	test_bad_pythonfile(dir);
	char *cmd = xasprintf("rm -rf %s", dir);
	CHECK_INT(system(cmd), 0);
	free(cmd);
	free(path);
	return check_report("test_pyeval");
}
