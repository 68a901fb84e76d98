/* cli.c — see cli.h. */
#include "tools/cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

char *cli_find_config(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *path = NULL;
	if (xdg && *xdg)
		path = xasprintf("%s/offlineimap/config", xdg);
	else if (home)
		path = xasprintf("%s/.config/offlineimap/config", home);
	if (path && access(path, F_OK) == 0)
		return path;
	free(path);
	if (home) {
		path = xasprintf("%s/.offlineimaprc", home);
		if (access(path, F_OK) == 0)
			return path;
		free(path);
	}
	return NULL;
}

void cli_option_error(const char *cmd, int c, char **argv)
{
	const char *arg = optind > 0 ? argv[optind - 1] : "?";
	if (optopt > 0 && optopt < 256 && c == ':')
		fprintf(stderr, "offlinefs: option -%c needs a value (see %s -h)\n", optopt, cmd);
	else if (c == ':')
		fprintf(stderr, "offlinefs: option %s needs a value (see %s -h)\n", arg, cmd);
	else if (optopt > 0 && optopt < 256)
		fprintf(stderr, "offlinefs: unknown option -%c (see %s -h)\n", optopt, cmd);
	else
		fprintf(stderr, "offlinefs: unknown option %s (see %s -h)\n", arg, cmd);
}

int cli_override_section_ok(const struct config *cfg, const char *path, const char *arg)
{
	const char *eq = strchr(arg, '=');
	const char *colon = eq ? memchr(arg, ':', (size_t)(eq - arg)) : NULL;
	if (!colon || colon == arg)
		return 0; /* [general], or an error config_apply_override words */
	char *section = xstrndup(arg, (size_t)(colon - arg));
	for (char *p = section; *p; p++)
		if (*p == '_')
			*p = ' ';
	int rc = 0;
	if (strcmp(section, "general") != 0 && strcmp(section, "DEFAULT") != 0 &&
	    !config_has_section(cfg, section)) {
		fprintf(stderr, "offlinefs: -k %.80s: no section [%.80s] in %s\n", arg, section, path);
		rc = -1;
	}
	free(section);
	return rc;
}

struct config *cli_load(const struct cli_common *c)
{
	if (c->debug) {
		unsigned cats = 0;
		const char *bad = NULL;
		if (log_parse_debug(c->debug, &cats, &bad) < 0) {
			fprintf(stderr, "offlinefs: -d: unknown debug category '%s' (imap, maildir, "
				"thread, sync, fuse, all)\n", bad);
			return NULL;
		}
		log_enable_debug(cats);
	}
	if (c->log_path) {
		const char *why = NULL;
		if (log_open_file(c->log_path, &why) < 0) {
			fprintf(stderr, "offlinefs: -l %s: %s\n", c->log_path, why);
			return NULL;
		}
	}
	char *found = NULL;
	const char *path = c->config_path;
	if (!path) {
		found = cli_find_config();
		if (!found) {
			fprintf(stderr, "offlinefs: no config file: use -c FILE, or create "
				"~/.offlineimaprc or $XDG_CONFIG_HOME/offlineimap/config\n");
			return NULL;
		}
		path = found;
	}
	char *err = NULL;
	struct config *cfg = config_load(path, &err);
	if (!cfg) {
		fprintf(stderr, "offlinefs: %s\n", err);
		free(err);
		free(found);
		return NULL;
	}
	for (size_t i = 0; i < c->overrides.n; i++) {
		if (cli_override_section_ok(cfg, path, c->overrides.v[i]) < 0) {
			config_free(&cfg);
			return NULL;
		}
		if (config_apply_override(cfg, c->overrides.v[i], &err) < 0) {
			fprintf(stderr, "offlinefs: -k %s: %s\n", c->overrides.v[i], err);
			free(err);
			config_free(&cfg);
			return NULL;
		}
	}
	free(found);
	const char *ui = c->ui ? c->ui : config_get(cfg, "general", "ui", NULL);
	if (ui && log_use_ui(ui) < 0) {
		config_free(&cfg);
		return NULL;
	}
	return cfg;
}

int cli_account(const struct config *cfg, const struct cli_common *c, bool mount,
		struct account_settings *a_r)
{
	char *err = NULL;
	memset(a_r, 0, sizeof(*a_r));
	if (c->account && strchr(c->account, ',')) {
		fprintf(stderr, "offlinefs: -a %s: this command works on one account\n", c->account);
		return -1;
	}
	struct strlist names = STRLIST_INIT;
	if (account_names(cfg, c->account, &names, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		free(err);
		return -1;
	}
	int rc = account_load(cfg, names.v[0], a_r, &err);
	if (rc == 0 && mount && account_load_mount(cfg, a_r, &err) < 0) {
		account_free(a_r);
		rc = -1;
	}
	if (rc < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		free(err);
	}
	strlist_free(&names);
	return rc;
}

void cli_common_free(struct cli_common *c)
{
	strlist_free(&c->overrides);
}
