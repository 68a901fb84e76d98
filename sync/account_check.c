/* account_check.c — see account_check.h. */
#include "sync/account_check.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "imap/tls.h"

char *account_echo(const char *s)
{
	size_t n = strlen(s), shown = n;
	if (shown > ACCOUNT_ECHO_MAX) {
		shown = ACCOUNT_ECHO_MAX;
		while (shown > 0 && ((unsigned char)s[shown] & 0xc0) == 0x80)
			shown--;
	}
	char *out = xmalloc(shown + 4);
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	strcpy(out + shown, shown < n ? "..." : "");
	return out;
}

static int fail(const struct config *cfg, const char *section, const char *opt, char **error_r,
		const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int fail(const struct config *cfg, const char *section, const char *opt, char **error_r,
		const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = xvasprintf(fmt, ap);
	va_end(ap);
	*error_r = xasprintf("%s: option '%s' in section '%s': %s",
			     config_where(cfg, section, opt), opt, section, what);
	free(what);
	return -1;
}

static bool has_control(const char *s, bool space_too)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f || (space_too && *p == ' '))
			return true;
	return false;
}

static int check_host(const struct config *cfg, const char *section, const char *host,
		      char **error_r)
{
	size_t n = strlen(host);
	if (n > 253)
		return fail(cfg, section, "remotehost", error_r,
			    "host name of %zu bytes is too long (at most 253)", n);
	if (has_control(host, true)) {
		char *e = account_echo(host);
		int rc = fail(cfg, section, "remotehost", error_r,
			      "'%s' is not a host name (space or control character)", e);
		free(e);
		return rc;
	}
	if (strchr(host, ':'))
		return 0; /* an IPv6 literal: no DNS labels */
	for (const char *p = host; *p;) {
		size_t label = strcspn(p, ".");
		if (label > 63)
			return fail(cfg, section, "remotehost", error_r,
				    "a part of the host name is %zu bytes long (at most 63)", label);
		p += label;
		if (*p)
			p++;
	}
	return 0;
}

static int check_user(const struct config *cfg, const char *section, const char *user,
		      char **error_r)
{
	size_t n = strlen(user);
	if (n > 255)
		return fail(cfg, section, "remoteuser", error_r,
			    "user name of %zu bytes is too long (at most 255)", n);
	if (has_control(user, false))
		return fail(cfg, section, "remoteuser", error_r,
			    "the user name holds a control character (a line break?)");
	return 0;
}

static int check_mechanisms(const struct config *cfg, const char *section, const char *list,
			    char **error_r)
{
	static const char *const known[] = { "GSSAPI", "XOAUTH2", "CRAM-MD5", "PLAIN", "LOGIN" };
	char *copy = xstrdup(list), *save = NULL;
	bool spoken = false;
	int rc = 0;
	for (char *m = strtok_r(copy, ", \t\n", &save); m && rc == 0;
	     m = strtok_r(NULL, ", \t\n", &save)) {
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || !strcasecmp(m, known[i]);
		if (!ok) {
			char *e = account_echo(m);
			rc = fail(cfg, section, "auth_mechanisms", error_r,
				  "unknown mechanism '%s' (known: GSSAPI, XOAUTH2, CRAM-MD5, PLAIN, "
				  "LOGIN)", e);
			free(e);
		}
		spoken = spoken || !strcasecmp(m, "PLAIN") || !strcasecmp(m, "LOGIN");
	}
	free(copy);
	if (rc == 0 && !spoken)
		rc = fail(cfg, section, "auth_mechanisms", error_r,
			  "offlinefs speaks PLAIN and LOGIN, and the list has neither");
	return rc;
}

int account_check_imap(const struct config *cfg, const char *section,
		       const struct repo_settings *rs, char **error_r)
{
	char *why = NULL;
	if (rs->host && check_host(cfg, section, rs->host, error_r) < 0)
		return -1;
	if (rs->user && check_user(cfg, section, rs->user, error_r) < 0)
		return -1;
	if (rs->fingerprints && tls_check_fingerprints(rs->fingerprints, &why) < 0) {
		const char *w = why;
		if (!strncmp(w, "cert_fingerprint: ", 18))
			w += 18; /* the prefix says it already */
		int rc = fail(cfg, section, "cert_fingerprint", error_r, "%s", w);
		free(why);
		return rc;
	}
	if (rs->cacertfile && tls_check_cafile(rs->cacertfile, &why) < 0) {
		char *e = account_echo(rs->cacertfile);
		int rc = fail(cfg, section, "sslcacertfile", error_r, "%s: %s", e, why);
		free(e);
		free(why);
		return rc;
	}
	if (rs->auth_mechanisms && check_mechanisms(cfg, section, rs->auth_mechanisms, error_r) < 0)
		return -1;
	return 0;
}
