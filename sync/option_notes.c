/* option_notes.c — see option_notes.h. */
#include "sync/option_notes.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/xalloc.h"

/* GMAIL_ACCOUNT: an [Account] option only read when one of its repositories
 * is Gmail or GmailMaildir (folder/Gmail*.py); elsewhere OfflineIMAP ignores
 * it silently, and so do we. */
enum kind { GENERAL, ACCOUNT, GMAIL_ACCOUNT, REPOSITORY, IMAP_REPOSITORY };

/* Refused rather than ignored, with why. */
static const struct {
	enum kind kind;
	const char *option, *why;
} refused[] = {
	{ REPOSITORY, "preauthtunnel",
	  "is a shell command giving a pre-authenticated IMAP connection; offlinefs only "
	  "connects over TCP (remotehost)" },
	{ REPOSITORY, "transporttunnel",
	  "is a shell command giving the IMAP byte stream; offlinefs only connects over TCP "
	  "(remotehost)" },
	/* a direct connection would bypass what the user set up (e.g. Tor) */
	{ ACCOUNT, "proxy",
	  "asks for a SOCKS/HTTP proxy, which offlinefs does not speak; connecting directly "
	  "instead would bypass it" },
};

#define NO_XOAUTH2 "offlinefs does not speak XOAUTH2; it logs in with PLAIN or LOGIN"
#define NO_LABELS "offlinefs does not sync Gmail labels"

/* Accepted and ignored, with why. is_bool: a false value is not warned. */
static const struct {
	enum kind kind;
	const char *option;
	bool is_bool;
	const char *why;
} ignored[] = {
	{ GENERAL, "ignore-keyring", true,
	  "offlinefs reads no keyring; the password comes from remotepass, remotepassfile, "
	  "remotepasseval or ~/.netrc" },
	{ GENERAL, "update-keyring", true, "offlinefs writes no keyring" },
	{ GMAIL_ACCOUNT, "synclabels", true, NO_LABELS "; messages are synced without them" },
	{ GMAIL_ACCOUNT, "labelsheader", false, NO_LABELS },
	{ GMAIL_ACCOUNT, "ignorelabels", false, NO_LABELS },
	{ ACCOUNT, "authproxy", false, "offlinefs requests no OAuth2 token" },
	{ IMAP_REPOSITORY, "usecompression", true,
	  "offlinefs does not speak COMPRESS=DEFLATE; the connection is not compressed" },
	{ IMAP_REPOSITORY, "oauth2_client_id", false, NO_XOAUTH2 },
	{ IMAP_REPOSITORY, "oauth2_client_id_eval", false, NO_XOAUTH2 },
	{ IMAP_REPOSITORY, "oauth2_client_secret", false, NO_XOAUTH2 },
	{ IMAP_REPOSITORY, "oauth2_client_secret_eval", false, NO_XOAUTH2 },
	{ IMAP_REPOSITORY, "oauth2_refresh_token", false, NO_XOAUTH2 },
	{ IMAP_REPOSITORY, "oauth2_refresh_token_eval", false, NO_XOAUTH2 },
	{ IMAP_REPOSITORY, "oauth2_access_token", false, NO_XOAUTH2 },
	{ IMAP_REPOSITORY, "oauth2_access_token_eval", false, NO_XOAUTH2 },
	{ IMAP_REPOSITORY, "oauth2_request_url", false, NO_XOAUTH2 },
};

int option_notes_refuse(const struct config *cfg, char **error_r)
{
	struct strbuf sb = STRBUF_INIT;
	const struct strlist *secs = config_sections(cfg);
	for (size_t i = 0; i < secs->n; i++) {
		const char *sec = secs->v[i];
		enum kind k;
		if (!strncmp(sec, "Repository ", 11))
			k = REPOSITORY;
		else if (!strncmp(sec, "Account ", 8))
			k = ACCOUNT;
		else
			continue;
		for (size_t j = 0; j < sizeof(refused) / sizeof(refused[0]); j++) {
			if (refused[j].kind != k || !config_get_raw(cfg, sec, refused[j].option))
				continue;
			sb_addf(&sb, "%s%s: option '%s' in section '%s' %s; remove it to use offlinefs",
				sb.len ? "\n" : "", config_where(cfg, sec, refused[j].option),
				refused[j].option, sec, refused[j].why);
		}
	}
	if (!sb.len)
		return 0;
	*error_r = sb_detach(&sb);
	return -1;
}

static bool is_type(const struct config *cfg, const char *section, const char *t1,
		    const char *t2)
{
	const char *type = config_get_raw(cfg, section, "type");
	return type && (!strcasecmp(type, t1) || !strcasecmp(type, t2));
}

/* auth_mechanisms names OfflineIMAP knows but offlinefs does not speak
 * (account_check.c refuses a list with neither PLAIN nor LOGIN): the
 * mechanisms are skipped, which is the option partly ignored. */
static void collect_mechanisms(const struct config *cfg, const char *section,
			       struct strlist *said, struct strlist *lines_r)
{
	const char *v = config_get_raw(cfg, section, "auth_mechanisms");
	if (!v)
		return;
	static const char *const unspoken[] = { "GSSAPI", "CRAM-MD5", "XOAUTH2" };
	bool seen[3] = { false, false, false };
	char *copy = xstrdup(v), *save = NULL;
	for (char *m = strtok_r(copy, ", \t\n", &save); m; m = strtok_r(NULL, ", \t\n", &save))
		for (size_t i = 0; i < 3; i++)
			seen[i] = seen[i] || !strcasecmp(m, unspoken[i]);
	free(copy);
	struct strbuf skipped = STRBUF_INIT; /* each name once: the line stays short */
	for (size_t i = 0; i < 3; i++)
		if (seen[i])
			sb_addf(&skipped, "%s%s", skipped.len ? ", " : "", unspoken[i]);
	char *key = xasprintf("%s\037auth_mechanisms",
			      config_where(cfg, section, "auth_mechanisms"));
	if (!skipped.len || strlist_find(said, key) >= 0) {
		free(key);
		sb_free(&skipped);
		return;
	}
	strlist_add_owned(said, key);
	strlist_add_owned(lines_r,
			  xasprintf("%s: option 'auth_mechanisms' in section '%s' is not supported "
				    "by offlinefs (it speaks only PLAIN and LOGIN; %s %s skipped); "
				    "ignored",
				    config_where(cfg, section, "auth_mechanisms"), section,
				    skipped.buf, strchr(skipped.buf, ',') ? "are" : "is"));
	sb_free(&skipped);
}

/* The notes of one section of kind k. */
static void collect_section(const struct config *cfg, const char *section, enum kind k,
			    struct strlist *said, struct strlist *lines_r)
{
	if (k == REPOSITORY && is_type(cfg, section, "IMAP", "Gmail")) {
		k = IMAP_REPOSITORY;
		collect_mechanisms(cfg, section, said, lines_r);
	}
	for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
		const char *opt = ignored[i].option;
		if (ignored[i].kind != k && !(ignored[i].kind == REPOSITORY && k == IMAP_REPOSITORY) &&
		    !(ignored[i].kind == ACCOUNT && k == GMAIL_ACCOUNT))
			continue;
		const char *v = config_get_raw(cfg, section, opt);
		if (!v)
			continue;
		bool b = true;
		if (ignored[i].is_bool && config_parse_bool(v, &b) == 0 && !b)
			continue;
		/* by where it is set: one set in [DEFAULT] is said once */
		char *key = xasprintf("%s\037%s", config_where(cfg, section, opt), opt);
		if (strlist_find(said, key) >= 0) {
			free(key);
			continue;
		}
		strlist_add_owned(said, key);
		strlist_add_owned(lines_r,
				  xasprintf("%s: option '%s' in section '%s' is not supported by "
					    "offlinefs (%s); ignored",
					    config_where(cfg, section, opt), opt, section,
					    ignored[i].why));
	}
}

void option_notes_collect(const struct config *cfg, const char *account, const char *local,
			  const char *remote, struct strlist *said, struct strlist *lines_r)
{
	char *asec = xasprintf("Account %s", account);
	char *lsec = xasprintf("Repository %s", local);
	char *rsec = xasprintf("Repository %s", remote);
	collect_section(cfg, "general", GENERAL, said, lines_r);
	bool gmail = is_type(cfg, lsec, "GmailMaildir", "Gmail") ||
		     is_type(cfg, rsec, "GmailMaildir", "Gmail");
	collect_section(cfg, asec, gmail ? GMAIL_ACCOUNT : ACCOUNT, said, lines_r);
	collect_section(cfg, lsec, REPOSITORY, said, lines_r);
	if (strcmp(lsec, rsec) != 0)
		collect_section(cfg, rsec, REPOSITORY, said, lines_r);
	free(asec);
	free(lsec);
	free(rsec);
}

/* Keys already warned about in this process: reachable until exit. */
static struct strlist said_in_run = STRLIST_INIT;

void option_notes_warn(const struct config *cfg, const char *account, const char *local,
		       const char *remote)
{
	struct strlist lines = STRLIST_INIT;
	option_notes_collect(cfg, account, local, remote, &said_in_run, &lines);
	for (size_t i = 0; i < lines.n; i++)
		log_warn("%s", lines.v[i]);
	strlist_free(&lines);
}
