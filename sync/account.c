#include "sync/account.h"
#include "sync/account_check.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "sync/account_py.h"
#include "sync/option_notes.h"

static char *trimmed(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

static char *read_first_line(const char *path, char **error_r)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return NULL;
	}
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, f);
	fclose(f);
	if (n < 0) {
		free(line);
		return xstrdup("");
	}
	char *t = trimmed(line);
	explicit_bzero(line, cap);
	free(line);
	return t;
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_add(&sb, buf, n);
	fclose(f);
	return sb_detach(&sb);
}

int netrc_lookup(const char *text, const char *host, const char *user, char **login_r,
		 char **password_r)
{
	/* Tokens separated by whitespace; entries start at "machine" or
	 * "default". A "default" entry matches when no machine does. */
	char *copy = xstrdup(text), *save = NULL;
	char *cur_login = NULL, *cur_pass = NULL;
	char *def_login = NULL, *def_pass = NULL;
	int in = 0; /* 0 none, 1 matching machine, 2 default, 3 other */
	int found = 0;
	for (char *tok = strtok_r(copy, " \t\r\n", &save); tok; tok = strtok_r(NULL, " \t\r\n", &save)) {
		if (!strcmp(tok, "machine") || !strcmp(tok, "default")) {
			if (in == 1 && (!user || !cur_login || !strcmp(cur_login, user)) && cur_pass) {
				found = 1;
				break;
			}
			free(cur_login);
			free(cur_pass);
			cur_login = cur_pass = NULL;
			if (!strcmp(tok, "default")) {
				in = 2;
			} else {
				char *m = strtok_r(NULL, " \t\r\n", &save);
				in = (m && !strcasecmp(m, host)) ? 1 : 3;
			}
			continue;
		}
		if (!strcmp(tok, "macdef")) {
			in = 3; /* a macro body follows; we do not need it */
			continue;
		}
		char *val = NULL;
		if (!strcmp(tok, "login") || !strcmp(tok, "password") || !strcmp(tok, "account"))
			val = strtok_r(NULL, " \t\r\n", &save);
		if (!val)
			continue;
		char **slot = NULL;
		if (in == 1)
			slot = !strcmp(tok, "login") ? &cur_login : !strcmp(tok, "password") ? &cur_pass : NULL;
		else if (in == 2)
			slot = !strcmp(tok, "login") ? &def_login : !strcmp(tok, "password") ? &def_pass : NULL;
		if (slot) {
			free(*slot);
			*slot = xstrdup(val);
		}
	}
	if (!found && in == 1 && cur_pass && (!user || !cur_login || !strcmp(cur_login, user)))
		found = 1;
	if (found) {
		*login_r = cur_login;
		*password_r = cur_pass;
		cur_login = cur_pass = NULL;
	} else if (def_pass && (!user || !def_login || !strcmp(def_login, user))) {
		*login_r = def_login;
		*password_r = def_pass;
		def_login = def_pass = NULL;
		found = 1;
	}
	free(cur_login);
	if (cur_pass)
		explicit_bzero(cur_pass, strlen(cur_pass));
	free(cur_pass);
	free(def_login);
	if (def_pass)
		explicit_bzero(def_pass, strlen(def_pass));
	free(def_pass);
	explicit_bzero(copy, strlen(text));
	free(copy);
	return found;
}

/* Small wrappers so each option read is one line with uniform errors. */
struct reader {
	const struct config *cfg;
	const char *section;
	char **error_r;
	bool failed;
};

static double get_double(struct reader *r, const char *opt, double def);

static const char *get_str(struct reader *r, const char *opt)
{
	if (r->failed)
		return NULL;
	char *err = NULL;
	const char *v = config_get(r->cfg, r->section, opt, &err);
	if (err) {
		*r->error_r = err;
		r->failed = true;
		return NULL;
	}
	return v;
}

static bool get_bool(struct reader *r, const char *opt, bool def)
{
	bool v = def;
	if (!r->failed && config_get_bool(r->cfg, r->section, opt, def, &v, r->error_r) < 0)
		r->failed = true;
	return v;
}

static int64_t get_int(struct reader *r, const char *opt, int64_t def, int64_t min, int64_t max)
{
	int64_t v = def;
	if (r->failed)
		return def;
	if (config_get_int(r->cfg, r->section, opt, def, &v, r->error_r) < 0) {
		r->failed = true;
		return def;
	}
	if (v < min || v > max) {
		*r->error_r = xasprintf("%s: option '%s' in section '%s': %lld is out of range (%lld..%lld)",
					config_where(r->cfg, r->section, opt), opt, r->section,
					(long long)v, (long long)min, (long long)max);
		r->failed = true;
	}
	return v;
}

static void fail_at(struct reader *r, const char *opt, const char *fmt, const char *arg)
{
	if (r->failed)
		return;
	char *echo = account_echo(arg); /* a value can be megabytes */
	char *what = xasprintf(fmt, echo);
	free(echo);
	*r->error_r = xasprintf("%s: option '%s' in section '%s': %s",
				config_where(r->cfg, r->section, opt), opt, r->section, what);
	free(what);
	r->failed = true;
}

/* The Maildir `sep` (already stripped, as OfflineIMAP's getsep does): one
 * character, or "/" in quotes (`sep = "/"`, quoted as in [mbnames]).
 * OfflineIMAP keeps such quotes and uses the 3-character string: for "/" it
 * agrees with a bare / on every folder name without a hierarchy and makes
 * broken directories ('a"' holding '"b', never synced) for the others, so
 * offlinefs takes the /. Another quoted character gives OfflineIMAP
 * consistent folder names with quotes in them (a"."b), which offlinefs
 * cannot reproduce: refused (docs/config-parity.md).
 * Returns the character; -2 for another quoted character, -1 otherwise. */
static int maildir_sep_char(const char *s)
{
	size_t n = strlen(s);
	if (n == 1)
		return (unsigned char)s[0];
	if (n == 3 && (s[0] == '"' || s[0] == '\'') && s[2] == s[0])
		return s[1] == '/' ? '/' : -2;
	return -1;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

/* sslclientcert, sslclientkey, ssl_version, tls_level, ipv6 and
 * remote_identity of an IMAP repository, with OfflineIMAP's values and
 * checks (imaplib2's TLS_MAP: tls_level only limits which ssl_version may
 * be asked for; a level other than tls_compat needs an ssl_version). */
static int load_tls_options(struct reader *r, struct repo_settings *rs)
{
	static const struct {
		const char *name;
		int version;  /* tls_version */
		int min_level; /* 0 compat, 1 no_ssl, 2 secure: the strictest level allowing it */
	} versions[] = { { "ssl23", 0, 0 }, { "tls1", 10, 1 }, { "tls1_1", 11, 2 },
			 { "tls1_2", 12, 2 } };
	static const char *const levels[] = { "tls_compat", "tls_no_ssl", "tls_secure" };
	const char *cert = get_str(r, "sslclientcert"), *key = get_str(r, "sslclientkey");
	if (cert && *cert)
		rs->clientcert = config_expand_path(cert);
	if (key && *key)
		rs->clientkey = config_expand_path(key);
	if (rs->clientkey && !rs->clientcert)
		fail_at(r, "sslclientkey", "%s", "needs sslclientcert (the certificate of the key)");
	if (rs->clientcert && access(rs->clientcert, R_OK) != 0)
		fail_at(r, "sslclientcert", "cannot read the certificate file: %s", strerror(errno));
	if (rs->clientkey && access(rs->clientkey, R_OK) != 0)
		fail_at(r, "sslclientkey", "cannot read the key file: %s", strerror(errno));

	const char *ver = get_str(r, "ssl_version"), *lvl = get_str(r, "tls_level");
	char *v = ver ? trimmed(ver) : NULL, *l = lvl ? trimmed(lvl) : xstrdup("tls_compat");
	int level = -1, vi = -1;
	for (int i = 0; i < 3; i++)
		if (!strcmp(l, levels[i]))
			level = i;
	for (size_t i = 0; v && i < sizeof(versions) / sizeof(versions[0]); i++)
		if (!strcmp(v, versions[i].name))
			vi = (int)i;
	if (level < 0)
		fail_at(r, "tls_level", "unknown tls_level '%s' (expected tls_compat, tls_no_ssl or "
				       "tls_secure)", l);
	else if (v && !strcmp(v, "ssl3"))
		fail_at(r, "ssl_version", "%s", "SSLv3 is insecure and no longer supported by OpenSSL");
	else if (v && vi < 0)
		fail_at(r, "ssl_version", "unknown ssl_version '%s' (expected tls1, tls1_1, tls1_2 "
					 "or ssl23)", v);
	else if (level > 0 && !v)
		fail_at(r, "tls_level", "%s", "a tls_level other than tls_compat needs ssl_version "
					      "(as in OfflineIMAP)");
	else if (v && versions[vi].min_level < level)
		fail_at(r, "ssl_version", "'%s' is not allowed with this tls_level", v);
	else
		rs->tls_version = v ? versions[vi].version : 0;
	free(v);
	free(l);

	/* OfflineIMAP: unset = any address family, True = IPv6, False = IPv4 */
	if (get_str(r, "ipv6"))
		rs->ip_version = get_bool(r, "ipv6", false) ? 6 : 4;
	rs->trust_loopback = get_bool(r, "trust_loopback_certificate", false);
	rs->remote_identity = dup_or_null(get_str(r, "remote_identity"));
	if (rs->remote_identity && !*rs->remote_identity)
		xfree_ptr(&rs->remote_identity);
	return r->failed ? -1 : 0;
}

static int load_password(struct reader *r, struct repo_settings *rs)
{
	const char *pass = get_str(r, "remotepass");
	if (r->failed)
		return -1;
	if (pass) {
		rs->password = xstrdup(pass);
		rs->password_source = xstrdup("remotepass");
		return 0;
	}
	const char *passfile = get_str(r, "remotepassfile");
	if (r->failed)
		return -1;
	if (passfile) {
		char *path = config_expand_tilde(passfile);
		char *err = NULL;
		rs->password = read_first_line(path, &err);
		if (!rs->password) {
			fail_at(r, "remotepassfile", "cannot read password file: %s", err);
			free(err);
			free(path);
			return -1;
		}
		rs->password_source = xasprintf("remotepassfile %s", path);
		free(path);
		return 0;
	}
	const char *home = getenv("HOME");
	char *paths[2] = { home ? xasprintf("%s/.netrc", home) : NULL, xstrdup("/etc/netrc") };
	for (int i = 0; i < 2 && !rs->password; i++) {
		if (!paths[i])
			continue;
		char *text = read_file(paths[i]);
		if (!text)
			continue;
		char *login = NULL, *password = NULL;
		if (netrc_lookup(text, rs->host, rs->user, &login, &password)) {
			rs->password = password;
			rs->password_source = xstrdup(paths[i]);
			if (!rs->user && login)
				rs->user = login;
			else
				free(login);
		}
		explicit_bzero(text, strlen(text));
		free(text);
	}
	free(paths[0]);
	free(paths[1]);
	return 0;
}

static int load_repository(const struct config *cfg, const char *repo_name,
			   struct repo_settings *rs, bool is_local, char **error_r)
{
	char *section = xasprintf("Repository %s", repo_name);
	struct reader r = { .cfg = cfg, .section = section, .error_r = error_r };
	int ret = -1;

	rs->name = xstrdup(repo_name);
	if (!config_has_section(cfg, section)) {
		*error_r = xasprintf("%s: section [%s] is missing (named by the account)",
				     config_filename(cfg), section);
		goto out;
	}
	const char *type = get_str(&r, "type");
	if (r.failed)
		goto out;
	if (!type) {
		*error_r = xasprintf("%s: section [%s] has no 'type' (Maildir or IMAP)",
				     config_filename(cfg), section);
		goto out;
	}
	if (!strcasecmp(type, "Maildir") || !strcasecmp(type, "GmailMaildir")) {
		rs->type = REPO_TYPE_MAILDIR;
		rs->type_name = "Maildir";
	} else if (!strcasecmp(type, "IMAP") || !strcasecmp(type, "Gmail")) {
		rs->type = REPO_TYPE_IMAP;
		rs->type_name = "IMAP";
	} else {
		fail_at(&r, "type", "unknown repository type '%s' (expected Maildir or IMAP)", type);
		goto out;
	}
	if (is_local && rs->type != REPO_TYPE_MAILDIR) {
		fail_at(&r, "type", "'%s' as the local repository is not supported yet (use Maildir)",
			type);
		goto out;
	}
	if (!is_local && rs->type != REPO_TYPE_IMAP) {
		fail_at(&r, "type", "the remote repository must be IMAP, not '%s'", type);
		goto out;
	}

	rs->readonly = get_bool(&r, "readonly", false);
	rs->createfolders = get_bool(&r, "createfolders", true);
	rs->sync_deletes = get_bool(&r, "sync_deletes", true);

	if (rs->type == REPO_TYPE_MAILDIR) {
		const char *lf = get_str(&r, "localfolders");
		if (r.failed)
			goto out;
		if (!lf || !*lf) {
			*error_r = xasprintf("%s: section [%s] needs 'localfolders' (the Maildir root)",
					     config_filename(cfg), section);
			goto out;
		}
		rs->localfolders = config_expand_path(lf);
		const char *sep = get_str(&r, "sep");
		if (r.failed)
			goto out;
		char *s = trimmed(sep ? sep : ".");
		int c = maildir_sep_char(s);
		if (c == -2) {
			fail_at(&r, "sep", "OfflineIMAP would use the 3 characters %s, quotes "
				"included, as the separator; offlinefs takes one character: remove "
				"the quotes", s);
			free(s);
			goto out;
		}
		if (c < 0) {
			fail_at(&r, "sep", "expected a single character, got '%s'", s);
			free(s);
			goto out;
		}
		if (strlen(s) != 1)
			log_warn("%s: option 'sep' in section '%s' is %s: OfflineIMAP keeps the quotes "
				 "(a 3-character separator), offlinefs uses /: the same Maildir for "
				 "flat folder names, nested directories for the others (OfflineIMAP "
				 "makes broken ones); write 'sep = /' to silence this",
				 config_where(cfg, section, "sep"), section, s);
		rs->sep = (char)c;
		free(s);
		for (int i = 0; i < 26; i++) {
			char opt[16];
			snprintf(opt, sizeof(opt), "customflag_%c", 'a' + i);
			const char *kw = get_str(&r, opt);
			if (kw && *kw)
				rs->keywords[i] = trimmed(kw);
		}
	} else {
		/* remotehosteval (account_py.c) takes precedence */
		const char *host = rs->host ? rs->host : get_str(&r, "remotehost");
		if (r.failed)
			goto out;
		if (!host && !strcasecmp(type, "Gmail"))
			host = "imap.gmail.com";
		if (!host || !*host) {
			*error_r = xasprintf("%s: section [%s] needs 'remotehost'", config_filename(cfg),
					     section);
			goto out;
		}
		char *h = trimmed(host);
		free(rs->host);
		rs->host = h;
		rs->ssl = get_bool(&r, "ssl", true);
		rs->starttls = get_bool(&r, "starttls", true);
		if (!rs->port) /* else remoteporteval set it */
			rs->port = (int)get_int(&r, "remoteport", 0, 0, 65535);
		if (!rs->user) /* else remoteusereval set it */
			rs->user = dup_or_null(get_str(&r, "remoteuser"));
		const char *ca = get_str(&r, "sslcacertfile");
		if (ca && *ca && strcasecmp(ca, "OS-DEFAULT") != 0)
			rs->cacertfile = config_expand_path(ca);
		rs->fingerprints = dup_or_null(get_str(&r, "cert_fingerprint"));
		rs->expunge = get_bool(&r, "expunge", true);
		rs->maxconnections = (int)get_int(&r, "maxconnections", 1, 1, 64);
		rs->auth_mechanisms = dup_or_null(get_str(&r, "auth_mechanisms"));
		if (r.failed || load_tls_options(&r, rs) < 0)
			goto out;
		if (!rs->password && load_password(&r, rs) < 0) /* remotepasseval first */
			goto out;
		if (!rs->user) {
			*error_r = xasprintf("%s: section [%s] needs 'remoteuser' (or a ~/.netrc entry "
					     "for %s)", config_filename(cfg), section, rs->host);
			goto out;
		}
		if (!rs->password) {
			*error_r = xasprintf("%s: no password for %s@%s: set remotepass or "
					     "remotepassfile in [%s], or add it to ~/.netrc",
					     config_filename(cfg), rs->user, rs->host, section);
			goto out;
		}
		if (rs->cacertfile && access(rs->cacertfile, R_OK) != 0) {
			fail_at(&r, "sslcacertfile", "cannot read CA file: %s", strerror(errno));
			goto out;
		}
		if (account_check_imap(cfg, section, rs, error_r) < 0)
			goto out;
	}
	ret = r.failed ? -1 : 0;
out:
	free(section);
	return ret;
}

char *account_metadata_dir(const struct config *cfg)
{
	const char *m = config_get(cfg, "general", "metadata", NULL);
	return config_expand_path(m && *m ? m : "~/.offlineimap");
}

int account_maxsyncaccounts(const struct config *cfg, int *n_r, char **error_r)
{
	struct reader gen = { .cfg = cfg, .section = "general", .error_r = error_r };
	*n_r = (int)get_int(&gen, "maxsyncaccounts", 1, 1, INT_MAX);
	return gen.failed ? -1 : 0;
}

int account_names(const struct config *cfg, const char *override, struct strlist *names_r,
		  char **error_r)
{
	const char *list = override;
	if (!list) {
		char *err = NULL;
		list = config_get(cfg, "general", "accounts", &err);
		if (err) {
			*error_r = err;
			return -1;
		}
		if (!list) {
			*error_r = xasprintf("%s: [general] has no 'accounts' (and no -a was given)",
					     config_filename(cfg));
			return -1;
		}
	}
	char *copy = xstrdup(list), *save = NULL;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		char *t = trimmed(w);
		if (*t && strlist_find(names_r, t) < 0)
			strlist_add_owned(names_r, t);
		else
			free(t);
	}
	free(copy);
	if (names_r->n == 0) {
		*error_r = xasprintf("%s: no account to sync", config_filename(cfg));
		return -1;
	}
	return 0;
}

int account_load(const struct config *cfg, const char *name, struct account_settings *a_r,
		 char **error_r)
{
	memset(a_r, 0, sizeof(*a_r));
	a_r->name = xstrdup(name);
	a_r->config_file = realpath(config_filename(cfg), NULL);
	if (!a_r->config_file)
		a_r->config_file = xstrdup(config_filename(cfg));
	char *section = xasprintf("Account %s", name);
	struct reader gen = { .cfg = cfg, .section = "general", .error_r = error_r };
	struct reader acc = { .cfg = cfg, .section = section, .error_r = error_r };
	int ret = -1;

	if (!config_has_section(cfg, section)) {
		*error_r = xasprintf("%s: no section [%s] for account '%s'", config_filename(cfg),
				     section, name);
		goto out;
	}
	a_r->metadata = account_metadata_dir(cfg);
	a_r->fsync = get_bool(&gen, "fsync", true);
	a_r->socktimeout = (int)get_int(&gen, "socktimeout", 0, 0, 86400);
	if (gen.failed)
		goto out;
	if (config_get_raw(cfg, section, "status_backend")) {
		*error_r = xasprintf("%s: option 'status_backend' is not supported anymore; remove it",
				     config_where(cfg, section, "status_backend"));
		goto out;
	}
	a_r->maxsize = (uint64_t)get_int(&acc, "maxsize", 0, 0, INT64_MAX);
	a_r->quick = (int)get_int(&acc, "quick", 0, INT_MIN, INT_MAX);
	a_r->presynchook = dup_or_null(get_str(&acc, "presynchook"));
	a_r->postsynchook = dup_or_null(get_str(&acc, "postsynchook"));
	a_r->uidvalidity_recover = get_bool(&acc, "uidvalidity_recover", true);
	a_r->autorefresh = get_double(&acc, "autorefresh", 0);
	a_r->delete_guard.enabled = get_bool(&acc, "confirmbigdeletes", true);
	a_r->delete_guard.percent = (unsigned)get_int(&acc, "bigdeletes_percent",
						      DELETE_GUARD_PERCENT_DEFAULT, 0, 100);
	a_r->delete_guard.minmessages = (unsigned)get_int(&acc, "bigdeletes_minmessages",
							  DELETE_GUARD_MINMESSAGES_DEFAULT, 0,
							  INT32_MAX);
	const char *local = get_str(&acc, "localrepository");
	const char *remote = get_str(&acc, "remoterepository");
	if (acc.failed)
		goto out;
	if (!local || !remote) {
		*error_r = xasprintf("%s: section [%s] needs both 'localrepository' and "
				     "'remoterepository'", config_filename(cfg), section);
		goto out;
	}
	char *local_name = trimmed(local), *remote_name = trimmed(remote);
	int rc = option_notes_refuse(cfg, error_r);
	if (rc == 0)
		rc = account_py_load(cfg, section, local_name, remote_name, a_r, error_r);
	if (rc == 0)
		rc = load_repository(cfg, local_name, &a_r->local, true, error_r);
	if (rc == 0)
		rc = load_repository(cfg, remote_name, &a_r->remote, false, error_r);
	if (rc == 0)
		rc = filters_load(cfg, name, local_name, remote_name, &a_r->filters, error_r);
	if (rc == 0) /* never ignored in silence (issue 11 §2) */
		option_notes_warn(cfg, name, local_name, remote_name);
	free(local_name);
	free(remote_name);
	if (rc < 0)
		goto out;
	ret = 0;
out:
	free(section);
	if (ret < 0)
		account_free(a_r);
	return ret;
}

static void repo_settings_free(struct repo_settings *rs)
{
	free(rs->name);
	free(rs->localfolders);
	for (int i = 0; i < 26; i++)
		free(rs->keywords[i]);
	free(rs->host);
	free(rs->user);
	if (rs->password)
		explicit_bzero(rs->password, strlen(rs->password));
	free(rs->password);
	free(rs->password_source);
	free(rs->cacertfile);
	free(rs->fingerprints);
	free(rs->auth_mechanisms);
	account_py_free(rs);
	free(rs->clientcert);
	free(rs->clientkey);
	free(rs->remote_identity);
	memset(rs, 0, sizeof(*rs));
}

void account_free(struct account_settings *a)
{
	free(a->mount.mountpoint);
	strlist_free(&a->mount.idlefolders);
	free(a->name);
	free(a->config_file);
	free(a->metadata);
	free(a->presynchook);
	free(a->postsynchook);
	repo_settings_free(&a->local);
	repo_settings_free(&a->remote);
	filters_free(&a->filters);
	memset(a, 0, sizeof(*a));
}

/* ---- live mount options ------------------------------------------------ */

static const char *skip_space(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* What a refused list literal contained at p, for the error: a short quote. */
static char *near(const char *p)
{
	size_t n = 0;
	while (p[n] && p[n] != '\n' && n < 20)
		n++;
	return n ? xasprintf("'%.*s%s'", (int)n, p, p[n] && p[n] != '\n' ? "..." : "")
		 : xstrdup("the end");
}

/* One Python string literal at *pp; *pp moves past it. */
static int parse_pystring(const char **pp, char **s_r, char **why_r)
{
	const char *p = *pp;
	bool raw = false;
	/* a prefix is one or two letters right before the quote */
	size_t np = 0;
	while (np < 2 && p[np] && strchr("uUrRbBfF", p[np]))
		np++;
	if (np && (p[np] == '\'' || p[np] == '"')) {
		for (; np; np--, p++) {
			if (strchr("bBfF", *p)) {
				char *at = near(*pp);
				*why_r = xasprintf("byte and f-strings are not folder names (at %s)", at);
				free(at);
				return -1;
			}
			raw |= *p == 'r' || *p == 'R';
		}
	}
	char q = *p;
	if (q != '\'' && q != '"') {
		char *at = near(*pp);
		*why_r = xasprintf("expected a quoted folder name, got %s", at);
		free(at);
		return -1;
	}
	if (p[1] == q && p[2] == q) {
		*why_r = xstrdup("triple-quoted strings are not supported");
		return -1;
	}
	struct strbuf sb = STRBUF_INIT;
	for (p++; *p != q; p++) {
		if (*p == '\0' || *p == '\n') {
			sb_free(&sb);
			*why_r = xasprintf("unterminated string (missing %c)", q);
			return -1;
		}
		if (*p != '\\' || raw) {
			sb_addc(&sb, *p);
			continue;
		}
		p++;
		switch (*p) {
		case '\\': case '\'': case '"': sb_addc(&sb, *p); break;
		case 'n': sb_addc(&sb, '\n'); break;
		case 't': sb_addc(&sb, '\t'); break;
		case 'x': case 'u': case 'U': case 'N': case '0': case '1': case '2':
		case '3': case '4': case '5': case '6': case '7':
			sb_free(&sb);
			*why_r = xasprintf("the escape \\%c is not supported; write the character "
					   "itself", *p);
			return -1;
		case '\0':
			sb_free(&sb);
			*why_r = xasprintf("unterminated string (missing %c)", q);
			return -1;
		default: /* Python keeps unknown escapes as they are */
			sb_addc(&sb, '\\');
			sb_addc(&sb, *p);
			break;
		}
	}
	*pp = p + 1;
	*s_r = sb_detach(&sb);
	return 0;
}

int account_parse_pylist(const char *text, struct strlist *out, char **why_r)
{
	const char *p = skip_space(text);
	char close;
	if (*p == '[')
		close = ']';
	else if (*p == '(')
		close = ')';
	else {
		char *at = near(p);
		*why_r = xasprintf("expected a Python list of quoted folder names such as "
				   "['INBOX', 'Lists/foo'], got %s", at);
		free(at);
		return -1;
	}
	struct strlist got = STRLIST_INIT;
	bool comma_seen = false;
	p = skip_space(p + 1);
	while (*p != close) {
		char *name = NULL;
		if (parse_pystring(&p, &name, why_r) < 0)
			goto fail;
		if (!*name) {
			free(name);
			*why_r = xstrdup("an empty folder name");
			goto fail;
		}
		if (strlist_find(&got, name) < 0)
			strlist_add_owned(&got, name);
		else
			free(name);
		p = skip_space(p);
		if (*p == ',') {
			comma_seen = true;
			p = skip_space(p + 1);
		} else if (*p != close) {
			char *at = near(p);
			*why_r = xasprintf("expected ',' or '%c' after a folder name, got %s", close, at);
			free(at);
			goto fail;
		}
	}
	if (close == ')' && got.n == 1 && !comma_seen) {
		*why_r = xasprintf("('%s') is a string in Python, not a list; write ['%s']", got.v[0],
				   got.v[0]);
		goto fail;
	}
	p = skip_space(p + 1);
	if (*p && *p != '#') {
		char *at = near(p);
		*why_r = xasprintf("unexpected %s after the list", at);
		free(at);
		goto fail;
	}
	for (size_t i = 0; i < got.n; i++)
		if (strlist_find(out, got.v[i]) < 0)
			strlist_add(out, got.v[i]);
	strlist_free(&got);
	return 0;
fail:
	strlist_free(&got);
	return -1;
}

static double get_double(struct reader *r, const char *opt, double def)
{
	double v = def;
	if (!r->failed && config_get_double(r->cfg, r->section, opt, def, &v, r->error_r) < 0)
		r->failed = true;
	return v;
}

#define MOUNT_REFRESH_DEFAULT 15.0   /* minutes */
#define MOUNT_SYNC_AGE_DEFAULT 60.0  /* seconds */

int account_load_mount(const struct config *cfg, struct account_settings *a, char **error_r)
{
	struct mount_settings *m = &a->mount;
	char *section = xasprintf("Account %s", a->name);
	char *rsection = xasprintf("Repository %s", a->remote.name);
	struct reader acc = { .cfg = cfg, .section = section, .error_r = error_r };
	struct reader rem = { .cfg = cfg, .section = rsection, .error_r = error_r };
	int ret = -1;

	const char *mp = get_str(&acc, "mountpoint");
	if (acc.failed)
		goto out;
	free(m->mountpoint);
	m->mountpoint = NULL;
	if (mp && *mp) {
		char *t = trimmed(mp);
		m->mountpoint = config_expand_path(t);
		free(t);
		if (m->mountpoint[0] != '/') {
			fail_at(&acc, "mountpoint", "'%s' is not an absolute path (start it with / or ~)",
				m->mountpoint);
			goto out;
		}
	}
	m->autorefresh = get_double(&acc, "autorefresh", 0);
	m->refresh_minutes = get_double(&acc, "mount_refresh",
					m->autorefresh > 0 ? m->autorefresh : MOUNT_REFRESH_DEFAULT);
	m->sync_age_seconds = get_double(&acc, "mount_sync_age", MOUNT_SYNC_AGE_DEFAULT);
	if (acc.failed)
		goto out;

	strlist_free(&m->idlefolders);
	const char *idle = get_str(&rem, "idlefolders");
	if (rem.failed)
		goto out;
	if (!idle) {
		strlist_add(&m->idlefolders, "INBOX");
	} else {
		char *why = NULL;
		if (account_parse_pylist(idle, &m->idlefolders, &why) < 0) {
			*error_r = xasprintf("%s: option 'idlefolders' in section '%s': %s",
					     config_where(cfg, rsection, "idlefolders"), rsection, why);
			free(why);
			goto out;
		}
	}
	ret = 0;
out:
	free(section);
	free(rsection);
	return ret;
}
