/* cli.h — what the offlinefs commands share: finding and loading the
 * config, the options every command takes, picking one account.
 *
 * Owns: OfflineIMAP's config lookup order and the handling of -c -a -k -u
 * -l -d, so `offlinefs -o`, `offlinefs mount` and `offlinefs status` read
 * the same file the same way. Errors are printed here ("offlinefs: ..."),
 * once; callers only return 1.
 */
#ifndef OFFLINEFS_TOOLS_CLI_H
#define OFFLINEFS_TOOLS_CLI_H

#include "common/config.h"
#include "common/xalloc.h"
#include "sync/account.h"

struct cli_common {
	const char *config_path;  /* -c; NULL: cli_find_config() */
	const char *account;      /* -a; NULL: the first of [general] accounts */
	const char *ui;           /* -u; NULL: [general] ui */
	const char *log_path;     /* -l */
	const char *debug;        /* -d */
	struct strlist overrides; /* -k, in order */
};
#define CLI_COMMON_INIT { NULL, NULL, NULL, NULL, NULL, STRLIST_INIT }

/* OfflineIMAP's lookup order: $XDG_CONFIG_HOME/offlineimap/config (or
 * ~/.config/offlineimap/config), then ~/.offlineimaprc. malloc'd, or NULL
 * when neither exists. */
char *cli_find_config(void);

/* Applies -d and -l, loads the config, applies -k and the UI (-u, else
 * [general] ui). Returns the config, or NULL after printing why. */
struct config *cli_load(const struct cli_common *c);

/* Resolves the one account a command works on: c->account (a single name),
 * else the first of [general] accounts; with `mount` also its mount
 * options (account_load_mount). Returns 0, or -1 after printing why. */
int cli_account(const struct config *cfg, const struct cli_common *c, bool mount,
		struct account_settings *a_r);

/* -k SECTION:option=value names a section the file has (or general,
 * DEFAULT): OfflineIMAP refuses others too (NoSectionError), and a typo
 * must not be accepted and then ignored. Returns 0, or -1 after printing
 * one line naming path. */
int cli_override_section_ok(const struct config *cfg, const char *path, const char *arg);

/* One line for a getopt_long error (called with opterr = 0 and an
 * optstring starting with ':'; c is what getopt_long returned, '?' or
 * ':'): "offlinefs: unknown option -Z (see CMD -h)", never the usage. */
void cli_option_error(const char *cmd, int c, char **argv);

void cli_common_free(struct cli_common *c);

#endif
