#include "sync/account_py.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/pyeval.h"
#include "common/xalloc.h"

/* Every Python-valued option of a [Repository] section. Their presence is
 * what starts Python. */
static const char *const py_options[] = {
	"nametrans", "folderfilter", "folderincludes", "foldersort", "copy_ignore_eval",
	"newmail_hook", "remotehosteval", "remoteusereval", "remotepasseval", "remoteporteval",
	"oauth2_client_id_eval", "oauth2_client_secret_eval", "oauth2_refresh_token_eval",
	"oauth2_access_token_eval", NULL,
};

struct pyload {
	const struct config *cfg;
	struct strbuf errors;
	bool stop; /* the helper itself failed (start, pythonfile): said once */
};

/* The line number of an error "path:NN: option ...": the first ":<digits>:"
 * (0 when there is none, e.g. "command line (-k)"). */
static long line_of(const char *s)
{
	for (const char *q = s; (q = strchr(q, ':')) != NULL; q++) {
		char *end = NULL;
		long n = strtol(q + 1, &end, 10);
		if (end != q + 1 && *end == ':')
			return n;
	}
	return 0;
}

static int cmp_lines(const void *x, const void *y)
{
	const char *a = *(const char *const *)x, *b = *(const char *const *)y;
	long la = line_of(a), lb = line_of(b);
	return (la > lb) - (la < lb);
}

/* The errors in file order (qsort is not stable, but no two options share
 * a line). malloc'd. */
static char *errors_in_file_order(struct strbuf *errors)
{
	struct strlist l = STRLIST_INIT;
	char *all = sb_detach(errors), *save = NULL;
	for (char *ln = strtok_r(all, "\n", &save); ln; ln = strtok_r(NULL, "\n", &save))
		strlist_add(&l, ln);
	free(all);
	qsort(l.v, l.n, sizeof(*l.v), cmp_lines);
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < l.n; i++)
		sb_addf(&sb, "%s%s", i ? "\n" : "", l.v[i]);
	strlist_free(&l);
	return sb_detach(&sb);
}

static void add_error(struct pyload *p, const char *section, const char *opt, int code,
		      char *err)
{
	if (p->stop) {
		free(err);
		return;
	}
	if (p->errors.len)
		sb_addc(&p->errors, '\n');
	if (code == PYEVAL_EFILE) {
		sb_addf(&p->errors, "%s: option 'pythonfile' in section 'general': %s",
			config_where(p->cfg, "general", "pythonfile"), err);
		p->stop = true;
	} else if (code == PYEVAL_ESTART) {
		sb_addf(&p->errors, "%s: option '%s' in section '%s': %s",
			config_where(p->cfg, section, opt), opt, section, err);
		p->stop = true;
	} else {
		sb_addf(&p->errors, "%s: option '%s' in section '%s': %s",
			config_where(p->cfg, section, opt), opt, section, err);
	}
	free(err);
}

/* The option's text, or NULL when unset; an interpolation error is
 * reported. */
static const char *text_of(struct pyload *p, const char *section, const char *opt)
{
	char *err = NULL;
	const char *v = config_get(p->cfg, section, opt, &err);
	if (err) {
		if (p->errors.len)
			sb_addc(&p->errors, '\n');
		sb_adds(&p->errors, err);
		free(err);
		return NULL;
	}
	return v;
}

static void define(struct pyload *p, const char *section, const char *opt, unsigned with,
		   struct pyfn *fn)
{
	const char *text = text_of(p, section, opt);
	if (!text || p->stop)
		return;
	char *err = NULL;
	int rc = pyeval_define(text, with, true, &fn->h, &err);
	if (rc < 0) {
		add_error(p, section, opt, rc, err);
		return;
	}
	fn->set = true;
	fn->where = config_where(p->cfg, section, opt);
}

/* str/bytes options; *slot is replaced only on success. */
static void eval_str(struct pyload *p, const char *section, const char *opt, bool strip,
		     char **slot)
{
	const char *text = text_of(p, section, opt);
	if (!text || p->stop)
		return;
	char *v = NULL, *err = NULL;
	int rc = pyeval_eval_str(text, 0, strip, strip, &v, &err);
	if (rc < 0) {
		add_error(p, section, opt, rc, err);
		return;
	}
	if (*slot) {
		explicit_bzero(*slot, strlen(*slot));
		free(*slot);
	}
	*slot = v;
}

static void load_repo(struct pyload *p, const char *name, struct repo_settings *rs)
{
	char *section = xasprintf("Repository %s", name);
	bool any = false;
	for (const char *const *o = py_options; *o && !any; o++)
		any = config_get_raw(p->cfg, section, *o) != NULL;
	char *err = NULL;
	bool b = false;
	if (config_get_bool(p->cfg, section, "decodefoldernames", false, &b, &err) < 0) {
		sb_addf(&p->errors, "%s%s", p->errors.len ? "\n" : "", err);
		free(err);
	}
	rs->decodefoldernames = b;
	b = false;
	if (config_get_bool(p->cfg, section, "dynamic_folderfilter", false, &b, &err) < 0) {
		sb_addf(&p->errors, "%s%s", p->errors.len ? "\n" : "", err);
		free(err);
	}
	rs->dynamic_folderfilter = b;
	if (!any)
		goto out;

	/* repository/Base.py: these four get `re` */
	define(p, section, "nametrans", PYEVAL_WITH_RE, &rs->nametrans);
	define(p, section, "folderfilter", PYEVAL_WITH_RE, &rs->folderfilter);
	define(p, section, "foldersort", PYEVAL_WITH_RE, &rs->foldersort);
	const char *inc = text_of(p, section, "folderincludes");
	if (inc && !p->stop) {
		int rc = pyeval_eval_strlist(inc, PYEVAL_WITH_RE, &rs->folderincludes, &err);
		if (rc < 0)
			add_error(p, section, "folderincludes", rc, err);
	}
	/* the rest belongs to IMAP repositories (repository/IMAP.py); a
	 * Maildir repository never evaluates them, so neither do we */
	const char *type = config_get(p->cfg, section, "type", NULL);
	if (!type || (strcasecmp(type, "IMAP") != 0 && strcasecmp(type, "Gmail") != 0))
		goto out;
	define(p, section, "copy_ignore_eval", 0, &rs->copy_ignore);
	define(p, section, "newmail_hook", 0, &rs->newmail_hook);

	/* repository/IMAP.py: *eval before the plain options */
	eval_str(p, section, "remotehosteval", false, &rs->host);
	eval_str(p, section, "remoteusereval", false, &rs->user);
	eval_str(p, section, "remotepasseval", false, &rs->password);
	if (rs->password && !rs->password_source)
		rs->password_source = xstrdup("remotepasseval");
	const char *port = text_of(p, section, "remoteporteval");
	if (port && !p->stop) {
		long long v = 0;
		int rc = pyeval_eval_int(port, 0, &v, &err);
		if (rc == 0 && (v < 1 || v > 65535)) {
			rc = PYEVAL_ETYPE;
			err = xasprintf("%lld is out of range (1..65535)", v);
		}
		if (rc < 0)
			add_error(p, section, "remoteporteval", rc, err);
		else
			rs->port = (int)v;
	}
	static const struct {
		const char *plain, *eval;
		size_t off;
	} oauth[] = {
		{ "oauth2_client_id", "oauth2_client_id_eval",
		  offsetof(struct repo_settings, oauth2_client_id) },
		{ "oauth2_client_secret", "oauth2_client_secret_eval",
		  offsetof(struct repo_settings, oauth2_client_secret) },
		{ "oauth2_refresh_token", "oauth2_refresh_token_eval",
		  offsetof(struct repo_settings, oauth2_refresh_token) },
		{ "oauth2_access_token", "oauth2_access_token_eval",
		  offsetof(struct repo_settings, oauth2_access_token) },
	};
	for (size_t i = 0; i < sizeof(oauth) / sizeof(oauth[0]); i++) {
		/* the plain option wins (IMAP.py getoauth2_*) */
		if (config_get_raw(p->cfg, section, oauth[i].plain))
			continue;
		eval_str(p, section, oauth[i].eval, true, (char **)((char *)rs + oauth[i].off));
	}
out:
	free(section);
}

int account_py_load(const struct config *cfg, const char *account_section,
		    const char *local_name, const char *remote_name, struct account_settings *a,
		    char **error_r)
{
	struct pyload p = { .cfg = cfg, .errors = STRBUF_INIT };
	char *err = NULL;
	if (config_get_bool(cfg, account_section, "utf8foldernames", false, &a->utf8foldernames,
			    &err) < 0) {
		*error_r = err;
		return -1;
	}
	const char *pf = config_get(cfg, "general", "pythonfile", NULL);
	if (pf && *pf) {
		char *path = config_expand_path(pf);
		pyeval_configure(path);
		free(path);
	}
	load_repo(&p, local_name, &a->local);
	load_repo(&p, remote_name, &a->remote);
	if (!p.errors.len && a->utf8foldernames && a->remote.decodefoldernames) {
		/* accounts.py's refusal, on one line */
		sb_addf(&p.errors, "%s: configuration mismatch in account '%s': account setting "
			"'utf8foldernames' and repository setting 'decodefoldernames' may not be "
			"used at the same time", config_where(cfg, account_section, "utf8foldernames"),
			a->name);
	}
	if (!p.errors.len)
		return 0;
	*error_r = errors_in_file_order(&p.errors);
	return -1;
}

static void free_secret(char **s)
{
	if (*s)
		explicit_bzero(*s, strlen(*s));
	free(*s);
	*s = NULL;
}

void account_py_free(struct repo_settings *rs)
{
	strlist_free(&rs->folderincludes);
	free_secret(&rs->oauth2_client_id);
	free_secret(&rs->oauth2_client_secret);
	free_secret(&rs->oauth2_refresh_token);
	free_secret(&rs->oauth2_access_token);
}
