/* offlinefs — command line entry point.
 *
 * Owns: option parsing (OfflineIMAP's options, so existing scripts and
 * cron jobs keep working), finding and loading the config, and the
 * autorefresh loop with its signals; and the dispatch to the subcommands
 * `mount` (tools/mount.c) and `status` (tools/status.c). Everything else is
 * delegated: settings to sync/account.c, syncing to sync/engine.c.
 *
 * A one-shot sync of an account that is mounted is refused with a message
 * naming the mount (the mount holds the account lock and keeps the
 * account in sync itself).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "sync/account.h"
#include "sync/engine.h"
#include "tools/cli.h"
#include "tools/mount.h"
#include "tools/mountstate.h"
#include "tools/status.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: offlinefs [options]\n"
		"       offlinefs mount [-c FILE] [-a ACCOUNT] [-f] [-d CATEGORIES] [MOUNTPOINT]\n"
		"       offlinefs status [-c FILE] [-a ACCOUNT]\n"
		"Two-way IMAP <-> Maildir synchronisation driven by an OfflineIMAP config;\n"
		"`mount` shows the Maildir as a live FUSE mount kept in step with the server\n"
		"(offlinefs mount -h), `status` what the mount is doing.\n"
		"\n"
		"  -c FILE          config file (default: $XDG_CONFIG_HOME/offlineimap/config,\n"
		"                   then ~/.offlineimaprc)\n"
		"  -a ACCOUNTS      comma-separated accounts to sync (default: [general] accounts)\n"
		"  -f FOLDERS       comma-separated remote folders to sync (default: all)\n"
		"  -k [SECTION:]OPTION=VALUE\n"
		"                   override a config option (SECTION with '_' for ' ')\n"
		"  -o               run only once, ignoring autorefresh\n"
		"  -1               use a single connection/thread (the default for now)\n"
		"  -q               quick sync: skip folders whose STATUS (UIDNEXT, MESSAGES,\n"
		"                   HIGHESTMODSEQ) and local directories are unchanged, trusting\n"
		"                   UIDNEXT+MESSAGES even when the server lacks CONDSTORE\n"
		"  --dry-run        print every planned action; change nothing anywhere\n"
		"  -u UI            quiet | basic | ttyui (default ttyui)\n"
		"  -l FILE          also log to FILE\n"
		"  -d CATEGORIES    debug output: imap,maildir,sync or all (passwords redacted)\n"
		"  -V, --version    print the version\n"
		"  -h, --help       this help\n"
		"\n"
		"Exit status: 0 success, 1 errors, 2 only folders skipped for UIDVALIDITY changes.\n");
}

static volatile sig_atomic_t stop_requested;
static volatile sig_atomic_t wake_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested++;
	if (stop_requested >= 3)
		_exit(1);
}

static void on_wake(int sig)
{
	(void)sig;
	wake_requested = 1;
}

static void install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sa.sa_handler = on_wake;
	sigaction(SIGUSR1, &sa, NULL);
}

static void split_list(const char *s, struct strlist *out)
{
	char *copy = xstrdup(s), *save = NULL;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		while (*w == ' ' || *w == '\t')
			w++;
		size_t n = strlen(w);
		while (n && (w[n - 1] == ' ' || w[n - 1] == '\t'))
			n--;
		if (n)
			strlist_add_owned(out, xstrndup(w, n));
	}
	free(copy);
}

/* The smallest autorefresh of the accounts (minutes), 0 for none. */
static double autorefresh_minutes(const struct config *cfg, const struct strlist *accounts)
{
	double best = 0;
	for (size_t i = 0; i < accounts->n; i++) {
		char *section = xasprintf("Account %s", accounts->v[i]);
		double v = 0;
		char *err = NULL;
		if (config_get_double(cfg, section, "autorefresh", 0, &v, &err) < 0) {
			log_error("%s", err);
			free(err);
		}
		if (v > 0 && (best == 0 || v < best))
			best = v;
		free(section);
	}
	return best;
}

static void sleep_interruptible(double minutes)
{
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += (time_t)(minutes * 60);
	log_info("Next refresh in %.1f minutes", minutes);
	for (;;) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (stop_requested || wake_requested || now.tv_sec >= end.tv_sec)
			break;
		struct timespec slice = { .tv_sec = 1, .tv_nsec = 0 };
		nanosleep(&slice, NULL);
	}
	wake_requested = 0;
}

enum { OPT_DRY_RUN = 256, OPT_VERSION };

/* The subcommand word, if any: the first argument that is neither an
 * option nor an option's value ("offlinefs -c rc status" works as well as
 * "offlinefs status -c rc"). Returns its index or 0. */
static int find_subcommand(int argc, char **argv)
{
	static const char with_value[] = "cafkuldP";
	for (int i = 1; i < argc; i++) {
		const char *s = argv[i];
		if (!strcmp(s, "--"))
			return 0;
		if (s[0] != '-' || s[1] == '\0')
			return !strcmp(s, "mount") || !strcmp(s, "status") ? i : 0;
		if (s[1] == '-')
			continue; /* long options take no separate value */
		for (const char *p = s + 1; *p; p++) {
			if (strchr(with_value, *p)) {
				if (p[1] == '\0')
					i++; /* the value is the next argument */
				break;
			}
		}
	}
	return 0;
}

/* Runs `mount` or `status` with the other arguments (options given before
 * the word included). */
static int run_subcommand(int argc, char **argv, int at)
{
	char **v = xcalloc((size_t)argc + 1, sizeof(*v));
	int n = 0;
	v[n++] = argv[at];
	for (int i = 1; i < argc; i++)
		if (i != at)
			v[n++] = argv[i];
	int rc;
	if (!strcmp(argv[at], "status")) {
		rc = cmd_status(n, v);
	} else {
#ifdef OFFLINEFS_HAVE_MOUNT
		rc = cmd_mount(n, v);
#else
		fprintf(stderr, "offlinefs: mount: this offlinefs was built without libfuse3\n");
		rc = 1;
#endif
	}
	free(v);
	return rc;
}

/* Refuses a one-shot sync of a mounted account, naming the mount. */
static bool refuse_mounted(const struct account_settings *a)
{
	struct mount_state ms;
	bool mounted = mount_running(a, &ms) == 1;
	if (mounted)
		log_error("Account %s is mounted at %s (offlinefs mount, pid %ld), which keeps it in "
			  "sync: no one-shot sync while it runs (unmount it first: fusermount3 -u %s; "
			  "`offlinefs status` shows what it is doing)",
			  a->name, ms.mountpoint ? ms.mountpoint : "?", (long)ms.pid,
			  ms.mountpoint ? ms.mountpoint : "MOUNTPOINT");
	mount_state_clear(&ms);
	return mounted;
}

int main(int argc, char **argv)
{
	int sub = find_subcommand(argc, argv);
	if (sub)
		return run_subcommand(argc, argv, sub);

	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *accounts_arg = NULL, *ui_arg = NULL;
	const char *log_path = NULL, *debug_arg = NULL;
	struct strlist overrides = STRLIST_INIT, folders = STRLIST_INIT;
	bool once = false, dry_run = false, quick = false;
	int c;

	while ((c = getopt_long(argc, argv, "c:a:f:k:o1qu:l:d:sVhP:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'a': accounts_arg = optarg; break;
		case 'f': split_list(optarg, &folders); break;
		case 'k': strlist_add(&overrides, optarg); break;
		case 'o': once = true; break;
		case '1': break; /* single-threaded is what we do today */
		case 'q': quick = true; break;
		case 's': break; /* syslog: not supported; console logging continues */
		case 'P': break; /* profiling directory: ignored */
		case 'u': ui_arg = optarg; break;
		case 'l': log_path = optarg; break;
		case 'd': debug_arg = optarg; break;
		case OPT_DRY_RUN: dry_run = true; break;
		case 'V': printf("offlinefs %s\n", OFFLINEFS_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "offlinefs: unexpected argument '%s' (see offlinefs -h)\n", argv[optind]);
		return 1;
	}

	if (debug_arg) {
		unsigned cats = 0;
		const char *bad = NULL;
		if (log_parse_debug(debug_arg, &cats, &bad) < 0) {
			fprintf(stderr, "offlinefs: -d: unknown debug category '%s' (imap, maildir, "
				"sync, all)\n", bad);
			return 1;
		}
		log_enable_debug(cats);
	}
	if (log_path) {
		const char *why = NULL;
		if (log_open_file(log_path, &why) < 0) {
			fprintf(stderr, "offlinefs: -l %s: %s\n", log_path, why);
			return 1;
		}
	}

	char *found = NULL;
	if (!config_path) {
		found = cli_find_config();
		if (!found) {
			fprintf(stderr, "offlinefs: no config file: use -c FILE, or create "
				"~/.offlineimaprc or $XDG_CONFIG_HOME/offlineimap/config\n");
			return 1;
		}
		config_path = found;
	}
	char *err = NULL;
	struct config *cfg = config_load(config_path, &err);
	if (!cfg) {
		fprintf(stderr, "offlinefs: %s\n", err);
		free(err);
		free(found);
		return 1;
	}
	for (size_t i = 0; i < overrides.n; i++) {
		if (config_apply_override(cfg, overrides.v[i], &err) < 0) {
			fprintf(stderr, "offlinefs: -k %s: %s\n", overrides.v[i], err);
			free(err);
			return 1;
		}
	}
	if (!ui_arg)
		ui_arg = config_get(cfg, "general", "ui", NULL);
	if (ui_arg) {
		enum log_ui ui;
		if (log_parse_ui(ui_arg, &ui) < 0) {
			fprintf(stderr, "offlinefs: unknown UI '%s' (quiet, basic, ttyui)\n", ui_arg);
			return 1;
		}
		log_set_ui(ui);
	}
	bool cfg_dry = false;
	if (config_get_bool(cfg, "general", "dry-run", false, &cfg_dry, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		return 1;
	}
	dry_run = dry_run || cfg_dry;

	struct strlist accounts = STRLIST_INIT;
	if (account_names(cfg, accounts_arg, &accounts, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		return 1;
	}
	/* Validate every account before touching anything. */
	struct account_settings *settings = xcalloc(accounts.n, sizeof(*settings));
	for (size_t i = 0; i < accounts.n; i++) {
		if (account_load(cfg, accounts.v[i], &settings[i], &err) < 0) {
			fprintf(stderr, "offlinefs: %s\n", err);
			return 1;
		}
	}

	install_signals();
	double refresh = once || dry_run ? 0 : autorefresh_minutes(cfg, &accounts);
	struct sync_request req = { .folders = &folders, .dry_run = dry_run, .quick = quick };
	int status = 0;
	for (;;) {
		status = 0;
		bool only_validity = true;
		for (size_t i = 0; i < accounts.n && !stop_requested; i++) {
			if (!dry_run && refuse_mounted(&settings[i])) {
				status = SYNC_EXIT_ERRORS;
				only_validity = false;
				continue;
			}
			enum sync_exit e = sync_account(&settings[i], &req);
			if (e == SYNC_EXIT_ERRORS)
				only_validity = false;
			if (e != SYNC_EXIT_OK)
				status = e;
		}
		if (status && !only_validity)
			status = SYNC_EXIT_ERRORS;
		if (status == SYNC_EXIT_UIDVALIDITY)
			log_warn("At least one folder skipped due to UID validity problem");
		if (refresh <= 0 || stop_requested)
			break;
		sleep_interruptible(refresh);
		if (stop_requested)
			break;
	}

	for (size_t i = 0; i < accounts.n; i++)
		account_free(&settings[i]);
	free(settings);
	strlist_free(&accounts);
	strlist_free(&overrides);
	strlist_free(&folders);
	config_free(&cfg);
	free(found);
	log_close();
	return status;
}
