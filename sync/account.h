/* account.h — an account's settings, resolved and validated from the config.
 *
 * Owns: the meaning of every OfflineIMAP option offlinefs reads, their
 * defaults (../shared/reference/offlineimap.md §1.1–1.6) and their
 * validation. Everything downstream takes these structs, never the config,
 * so a bad value is reported once, here, as
 *   "<file>:<line>: option 'remoteport' in section 'Repository R': ..."
 * before anything is touched.
 *
 * Deliberate differences from OfflineIMAP:
 *   - ssl = yes with neither sslcacertfile nor cert_fingerprint verifies
 *     against the system CA store (OfflineIMAP refuses to connect, o3 #96);
 *     STARTTLS is verified too (OfflineIMAP does not verify it at all).
 *   - Python-valued options (nametrans, folderfilter, *eval, ...) are
 *     evaluated by real Python (common/pyeval.h) in sync/account_py.c, all
 *     at load time, so a Python error stops the run before anything is
 *     touched; OfflineIMAP evaluates the *eval options at connect time.
 *   - Options offlinefs cannot honour (preauthtunnel, transporttunnel:
 *     shell commands) are refused, every one of the file in one error.
 */
#ifndef OFFLINEFS_ACCOUNT_H
#define OFFLINEFS_ACCOUNT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/config.h"
#include "sync/filters.h"
#include "sync/delete_guard.h"

enum repo_type {
	REPO_TYPE_MAILDIR,
	REPO_TYPE_IMAP,
};

/* A Python value kept in the helper (common/pyeval.h handle); zero = unset. */
struct pyfn {
	bool set;
	int h;
	const char *where;      /* "file:line" of the option, owned by the config */
};

struct repo_settings {
	char *name;             /* section "Repository <name>" */
	enum repo_type type;
	const char *type_name;  /* as written, for messages */
	bool readonly;
	bool createfolders;
	bool sync_deletes;

	/* Maildir */
	char *localfolders;     /* ~ and $VAR expanded */
	char sep;
	char *keywords[26];     /* customflag_[a-z]: keyword of letter 'a'+i */

	/* IMAP */
	char *host;
	int port;               /* 0 = default for ssl */
	char *user;
	char *password;         /* secret: wiped on free, never printed */
	char *password_source;  /* "remotepass", "remotepassfile /p", "~/.netrc" */
	bool ssl;
	bool starttls;
	char *cacertfile;       /* NULL = system store */
	char *fingerprints;
	bool expunge;
	int maxconnections;
	char *auth_mechanisms;

	/* Python-valued options (sync/account_py.c, docs/python.md); used by
	 * sync/folder_map.h. Zero when not set. */
	struct pyfn nametrans;     /* f(name) -> visible name */
	struct pyfn folderfilter;  /* f(untranslated name) -> bool */
	struct pyfn foldersort;    /* cmp(x, y) on visible names (IMAP only) */
	struct pyfn copy_ignore;   /* f(visible name) -> [uid] or None */
	struct pyfn newmail_hook;  /* f() (for the hooks) */
	struct strlist folderincludes; /* extra remote folder names */
	bool dynamic_folderfilter; /* accepted; every run evaluates anew */
	bool decodefoldernames;    /* deprecated: visible name utf-7 decoded */
	/* oauth2_*_eval results (for XOAUTH2, not used yet); secrets */
	char *oauth2_client_id, *oauth2_client_secret;
	char *oauth2_refresh_token, *oauth2_access_token;
	/* TLS and socket options, as OfflineIMAP's (load_tls_options); they
	 * apply to ssl = yes and to STARTTLS alike */
	char *clientcert;       /* sslclientcert, expanded; NULL = none */
	char *clientkey;        /* sslclientkey, expanded; NULL = key in clientcert */
	int tls_version;        /* ssl_version: 0 = auto (TLS 1.2 or newer), else
				 * exactly TLS 1.<tls_version - 10> (10, 11, 12) */
	int ip_version;         /* ipv6: 0 = either (unset), 4 = IPv4 only (no), 6 = IPv6 only (yes) */
	char *remote_identity;  /* SASL PLAIN authorization identity; NULL = none */
	bool trust_loopback;    /* trust_loopback_certificate (offlinefs's own):
				 * accept an unverifiable certificate from a
				 * server on 127.0.0.0/8 or ::1 (local bridges) */
};

/* The live mount's options (offlinefs mount; docs/mount.md "Configuration").
 * Filled by account_load_mount only. */
struct mount_settings {
	char *mountpoint;          /* [Account] mountpoint: ~ and $VAR expanded,
				    * absolute; NULL when not set */
	double autorefresh;        /* [Account] autorefresh, minutes; 0 = not set */
	double refresh_minutes;    /* full sync period: [Account] mount_refresh,
				    * else autorefresh, else 15; 0 = only at start */
	double sync_age_seconds;   /* [Account] mount_sync_age: a folder opened
				    * through the mount is synced when its last
				    * sync is older; default 60; 0 = off */
	struct strlist idlefolders; /* [Repository <remote>] idlefolders: remote
				    * names to IDLE on; default INBOX; may be
				    * empty (idlefolders = []) */
};

struct account_settings {
	char *name;
	char *config_file;      /* the config it came from, absolute when it
				 * could be resolved (for commands we print) */
	char *metadata;         /* ~ expanded */
	bool fsync;
	int socktimeout;        /* seconds, 0 = default */
	uint64_t maxsize;       /* 0 = none */
	double autorefresh;     /* [Account] autorefresh, minutes; 0 = not set
				 * (checked with -o too: a bad value is an
				 * error before anything runs) */
	int quick;              /* [Account] quick: in autorefresh mode, this many
				 * quick syncs (sync_request.quick) between full
				 * ones; 0 = never quick, negative = always */
	char *presynchook;      /* [Account] presynchook, NULL = none (sync/hooks.h) */
	char *postsynchook;     /* [Account] postsynchook, NULL = none */
	bool utf8foldernames;   /* [Account] utf8foldernames (else [general]):
				 * remote names decoded from modified UTF-7 */
	bool uidvalidity_recover; /* [Account] uidvalidity_recover (default yes):
				   * a folder whose UIDVALIDITY changed is
				   * re-paired (sync/uidv_recover.h); no =
				   * skipped with exit 2 (docs/uidvalidity.md) */
	/* [Account] confirmbigdeletes, bigdeletes_percent,
	 * bigdeletes_minmessages (sync/delete_guard.h) */
	struct delete_guard delete_guard;
	struct repo_settings local, remote;
	struct sync_filters filters; /* maxage, startdate, reference, ... (filters.h) */
	struct mount_settings mount; /* zero unless account_load_mount ran */
};

/* Names of the accounts to sync: -a list if given, else [general] accounts
 * (comma separated, whitespace stripped). */
int account_names(const struct config *cfg, const char *override, struct strlist *names_r,
		  char **error_r);

/* Resolves account `name`. Returns 0, or -1 with a one-line *error_r
 * (malloc'd) naming file:line where possible. */
int account_load(const struct config *cfg, const char *name, struct account_settings *a_r,
		 char **error_r);
void account_free(struct account_settings *a);

/* Reads the live-mount options of a (loaded by account_load from the same
 * cfg) into a->mount, with the same "file:line: option 'x' in section 'S':
 * ..." errors. Only `offlinefs mount` calls it, so a bad mount option never
 * stops a one-shot sync (OfflineIMAP's -o ignores autorefresh too).
 * Returns 0, or -1 with *error_r (malloc'd). */
int account_load_mount(const struct config *cfg, struct account_settings *a, char **error_r);

/* [general] maxsyncaccounts: how many accounts are synced at the same time
 * (default 1). Returns 0, or -1 with a one-line *error_r (malloc'd, naming
 * file:line) for a value that is not a whole number >= 1. */
int account_maxsyncaccounts(const struct config *cfg, int *n_r, char **error_r);

/* Parses OfflineIMAP's Python list literal of folder names, without Python:
 * "['INBOX', \"Lists/foo\"]", a tuple "('a', 'b')" or "('a',)", an empty
 * "[]"; whitespace and newlines anywhere, a trailing comma, u/r prefixes,
 * the escapes \\ \' \" \n \t and a trailing "# comment". Anything else
 * (a bare word, an unquoted name, "('INBOX')" which Python reads as a
 * string, an empty name, an expression) is refused. Appends the names to
 * out (duplicates dropped). Returns 0, or -1 with *why_r (malloc'd, no
 * file:line). Pure. */
int account_parse_pylist(const char *text, struct strlist *out, char **why_r);

/* [general] metadata (default ~/.offlineimap), expanded. malloc'd. */
char *account_metadata_dir(const struct config *cfg);

/* Looks user/password for host up in a netrc file's text. Returns 1 and
 * malloc'd *login_r / *password_r when found (login_r may stay NULL when
 * the entry has none), 0 when not. Pure, for unit tests. */
int netrc_lookup(const char *text, const char *host, const char *user, char **login_r,
		 char **password_r);

#endif
