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
 *
 * [general] maxsyncaccounts = N > 1 syncs up to N accounts at the same time,
 * each in a forked child (sync_account keeps per-process state: the log's
 * error count, the account lock, its worker threads); the parent only
 * starts, waits for and reaps them and combines their exit statuses as the
 * sequential loop does. N = 1 (the default) syncs in this process, one
 * account after the other. Signals (SIGTERM stops after the folders being
 * synced, ...) are handled in tools/signals.c, for both.
 *
 * Modes that do not sync: --info and --delete-folder (tools/info.c).
 *
 * [Account] quick = N (autorefresh): the first sync of an account is full,
 * the next N quick, then full again (OfflineIMAP's accounts.py); negative:
 * always quick; -q: always quick. All accounts are synced in one round
 * every min(autorefresh) minutes; quick counts those rounds per account.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "sync/account.h"
#include "sync/engine.h"
#include "common/ui.h"
#include "sync/holdconn.h"
#include "sync/hooks.h"
#include "sync/idlewatch.h"
#include "sync/mbnames.h"
#include "sync/newmail.h"
#include "sync/fmd5_migrate.h"
#include "tools/cli.h"
#include "tools/info.h"
#include "tools/confirm.h"
#include "tools/mount.h"
#include "tools/mountstate.h"
#include "tools/signals.h"
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
		"  -1               one account at a time over one connection (sets\n"
		"                   maxsyncaccounts and every maxconnections to 1)\n"
		"  -q               quick sync: skip folders whose STATUS (UIDNEXT, MESSAGES,\n"
		"                   HIGHESTMODSEQ) and local directories are unchanged, trusting\n"
		"                   UIDNEXT+MESSAGES even when the server lacks CONDSTORE\n"
		"  --dry-run        print every planned action; change nothing anywhere\n"
		"  --info           show the accounts' repositories (server capabilities,\n"
		"                   folder lists) and exit; syncs nothing\n"
		"  --mbnames-prune  remove [mbnames] entries of accounts not in [general] accounts\n"
		"  --migrate-fmd5-using-nametrans\n"
		"                   rename Maildir files whose FMD5 is the md5 of the folder's\n"
		"                   name to the md5 of its local nametrans name; no sync\n"
		"  --delete-folder FOLDER\n"
		"                   delete FOLDER (remote name) on the server of the one account\n"
		"  --confirm-deletes FOLDERS\n"
		"                   carry out the mass deletions held back in these remote\n"
		"                   folders (confirmbigdeletes; comma-separated)\n"
		"  --rebuild-status move a damaged status database aside and rebuild it from\n"
		"                   the Maildir and the server; copies and deletes nothing\n"
		"  -u UI            ttyui | basic | quiet | syslog | machineui | blinkenlights\n"
		"                   (default ttyui)\n"
		"  -l FILE          also log to FILE\n"
		"  -s               also log to syslog\n"
		"  -P DIR           write per-folder timings to DIR/<time>_<account>.prof\n"
		"                   (implies -1)\n"
		"  -d CATEGORIES    debug output: imap,maildir,thread,sync,fuse or all (passwords\n"
		"                   redacted)\n"
		"  -V, --version    print the version\n"
		"  -h, --help       this help\n"
		"\n"
		"Exit status: 0 success, 1 errors, 2 only folders skipped for UIDVALIDITY changes.\n");
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
/* The smallest autorefresh of the accounts (account_load checked them all,
 * also for -o, before anything ran); 0 when none has one. */
static double autorefresh_minutes(const struct account_settings *settings, size_t n)
{
	double best = 0;
	for (size_t i = 0; i < n; i++) {
		double v = settings[i].autorefresh;
		if (v > 0 && (best == 0 || v < best))
			best = v;
	}
	return best;
}

static void keepalive_tick(void *held)
{
	holdconn_keepalive(held); /* keepalive NOOPs on held connections */
}

static void sleep_interruptible(double minutes, struct holdconn *held)
{
	ui_ev_sleep(minutes * 60);
	signals_wait(minutes * 60, held ? keepalive_tick : NULL, held);
}

enum { OPT_DRY_RUN = 256, OPT_VERSION, OPT_INFO, OPT_DELETE_FOLDER, OPT_MBNAMES_PRUNE,
       OPT_MIGRATE_FMD5, OPT_CONFIRM_DELETES, OPT_REBUILD_STATUS };

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
		if (s[1] == '-') {
			if (!strcmp(s, "--confirm-deletes"))
				i++; /* the one long option with a separate value */
			continue;
		}
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

/* idlefolders (sync/idlewatch.h): a change reported while sleeping syncs
 * that one folder now, with the hooks in idle mode; never the mbnames
 * JSON (one folder is not the account's list). */
struct idle_sync_ctx {
	struct account_settings *settings;
	const struct sync_request *req;
	struct holdconn *held;
};

static void idle_tick(void *ctx)
{
	holdconn_keepalive(((struct idle_sync_ctx *)ctx)->held);
}

static void idle_sync(void *ctx, size_t i, const char *remote_name)
{
	struct idle_sync_ctx *c = ctx;
	struct strlist one = STRLIST_INIT;
	strlist_add(&one, remote_name);
	struct sync_request req = *c->req;
	req.folders = &one;
	req.idle = true;
	req.quick = false;
	req.after_folders = NULL;
	req.held_remote = holdconn_slot(c->held, i);
	if (!refuse_mounted(&c->settings[i]))
		sync_account(&c->settings[i], &req);
	strlist_free(&one);
}

/* One round: every account synced once. */
struct round {
	struct account_settings *settings;
	size_t n;
	const struct sync_request *req; /* the -f/--dry-run/-q request */
	int *quick_count;               /* per account: syncs since its last full one */
	struct holdconn *held;          /* NULL-able: holdconnectionopen (sequential only) */
	int status;                     /* enum sync_exit, combined */
	bool only_validity;             /* no account had errors */
};

static void round_add(struct round *r, enum sync_exit e)
{
	if (e == SYNC_EXIT_ERRORS)
		r->only_validity = false;
	if (e != SYNC_EXIT_OK)
		r->status = e;
}

/* The request for account i's next sync, quick or full, and counts it.
 * [Account] quick = N: the first sync is full, then N quick ones, then full
 * again (OfflineIMAP's accounts.py); 0 never quick, negative always; -q
 * always. Logs which one when the account has quick or -q was given. */
static struct sync_request account_request(struct round *r, size_t i)
{
	struct sync_request req = *r->req;
	int quick = r->settings[i].quick, *count = &r->quick_count[i];
	if (!req.quick && quick != 0) {
		if (quick < 0) {
			req.quick = true;
		} else if (*count == 0 || *count > quick) {
			*count = 1;
		} else {
			(*count)++;
			req.quick = true;
		}
	}
	if (req.quick || quick != 0)
		log_info("Account %s: %s sync", r->settings[i].name, req.quick ? "quick" : "full");
	return req;
}

/* maxsyncaccounts = 1: in this process, one account after the other. */
static void round_sequential(struct round *r)
{
	for (size_t i = 0; i < r->n && !signals_stopping(); i++) {
		if (!r->req->dry_run && refuse_mounted(&r->settings[i])) {
			round_add(r, SYNC_EXIT_ERRORS);
			continue;
		}
		struct sync_request req = account_request(r, i);
		req.held_remote = holdconn_slot(r->held, i);
		round_add(r, sync_account(&r->settings[i], &req));
	}
}

/* What a reaped account child's wait status means. */
static enum sync_exit child_exit(const char *account, int st)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) <= SYNC_EXIT_UIDVALIDITY)
		return (enum sync_exit)WEXITSTATUS(st);
	if (WIFSIGNALED(st)) {
		if (!(signals_interrupted() && (WTERMSIG(st) == SIGINT || WTERMSIG(st) == SIGKILL)))
			log_error("Account %s: its sync process was killed by signal %d (%s)",
				  account, WTERMSIG(st), strsignal(WTERMSIG(st)));
	} else {
		log_error("Account %s: its sync process exited with status %d", account,
			  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	return SYNC_EXIT_ERRORS;
}

/* maxsyncaccounts > 1: one forked child per account, at most
 * max_children alive. Returns true in a child, which then must only exit
 * with r->status (its account's result); false in the parent once every
 * child started in this round has been reaped. */
static size_t max_children;

static bool round_forked(struct round *r)
{
	pid_t *pid_of = xcalloc(r->n, sizeof(*pid_of));
	size_t next = 0, alive = 0;
	for (;;) {
		while (alive < max_children && next < r->n && !signals_stopping()) {
			size_t i = next++;
			if (!r->req->dry_run && refuse_mounted(&r->settings[i])) {
				round_add(r, SYNC_EXIT_ERRORS);
				continue;
			}
			struct sync_request req = account_request(r, i);
			fflush(NULL); /* nothing buffered is written twice */
			pid_t pid = signals_fork();
			if (pid == -2)
				break; /* a stop was asked meanwhile */
			if (pid == 0) {
				free(pid_of);
				r->status = sync_account(&r->settings[i], &req);
				return true;
			}
			if (pid < 0) {
				log_error("Account %s: cannot start a process to sync it: %s",
					  r->settings[i].name, strerror(errno));
				round_add(r, SYNC_EXIT_ERRORS);
			} else {
				pid_of[i] = pid;
				alive++;
			}
		}
		if (alive == 0)
			break;
		int st = 0;
		pid_t pid = signals_reap(&st);
		if (pid < 0) {
			log_error("waiting for the account processes: %s", strerror(errno));
			round_add(r, SYNC_EXIT_ERRORS);
			break;
		}
		for (size_t i = 0; i < r->n; i++) {
			if (pid_of[i] == pid) {
				pid_of[i] = 0;
				alive--;
				round_add(r, child_exit(r->settings[i].name, st));
				break;
			}
		}
	}
	free(pid_of);
	return false;
}

/* -P DIR (offlineimap(1): profile mode): DIR is created if missing;
 * the per-folder timings go there (common/ui_profile.c). */
static int setup_profile(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "offlinefs: -P %s: %s\n", dir, strerror(errno));
		return -1;
	}
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "offlinefs: -P %s: not a directory\n", dir);
		return -1;
	}
	ui_profile_dir(dir);
	return 0;
}

int main(int argc, char **argv)
{
	int sub = find_subcommand(argc, argv);
	if (sub)
		return run_subcommand(argc, argv, sub);

	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "info", no_argument, NULL, OPT_INFO },
		{ "delete-folder", required_argument, NULL, OPT_DELETE_FOLDER },
		{ "mbnames-prune", no_argument, NULL, OPT_MBNAMES_PRUNE },
		{ "migrate-fmd5-using-nametrans", no_argument, NULL, OPT_MIGRATE_FMD5 },
		{ "confirm-deletes", required_argument, NULL, OPT_CONFIRM_DELETES },
		{ "rebuild-status", no_argument, NULL, OPT_REBUILD_STATUS },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common cc = CLI_COMMON_INIT;
	const char *accounts_arg = NULL, *profile_dir = NULL, *delete_folder = NULL;
	struct strlist folders = STRLIST_INIT;
	bool once = false, dry_run = false, quick = false, single = false, to_syslog = false;
	bool info = false, folders_given = false;
	bool mbnames_prune_only = false;
	struct mbnames *mb = NULL;
	struct newmail_hooks *newmail = NULL;
	struct idlewatch *idle = NULL;
	struct holdconn *held = NULL;
	bool migrate_fmd5 = false;
	struct strlist confirm = STRLIST_INIT; /* --confirm-deletes */
	bool rebuild_status = false;
	int c;
	/* freed at out: on every path that gets past the options */
	char *err = NULL;
	struct config *cfg = NULL;
	struct strlist accounts = STRLIST_INIT;
	struct account_settings *settings = NULL;
	int *quick_count = NULL;
	int status = 1;
	bool ui_started = false;

	opterr = 0; /* one line of our own, not getopt's and then the usage */
	while ((c = getopt_long(argc, argv, ":c:a:f:k:o1qu:l:d:sVhP:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': cc.config_path = optarg; break;
		case 'a': accounts_arg = optarg; break;
		case 'f':
			split_list(optarg, &folders);
			folders_given = true;
			break;
		case 'k': strlist_add(&cc.overrides, optarg); break;
		case 'o': once = true; break;
		case '1': single = true; break;
		case 'q': quick = true; break;
		case 's': to_syslog = true; break;
		case 'P': profile_dir = optarg; break;
		case 'u': cc.ui = optarg; break;
		case 'l': cc.log_path = optarg; break;
		case 'd': cc.debug = optarg; break;
		case OPT_DRY_RUN: dry_run = true; break;
		case OPT_INFO: info = true; break;
		case OPT_DELETE_FOLDER: delete_folder = optarg; break;
		case OPT_MBNAMES_PRUNE: mbnames_prune_only = true; break;
		case OPT_MIGRATE_FMD5: migrate_fmd5 = true; break;
		case OPT_CONFIRM_DELETES: split_list(optarg, &confirm); break;
		case OPT_REBUILD_STATUS: rebuild_status = once = true; break;
		case 'V': printf("offlinefs %s\n", OFFLINEFS_VERSION); goto out0;
		case 'h': usage(stdout); goto out0;
		default:
			cli_option_error("offlinefs", c, argv);
			goto out;
		}
	}
	if (rebuild_status && (folders.n || dry_run)) {
		fprintf(stderr, "offlinefs: --rebuild-status rebuilds every folder of the account: "
			"without -f and --dry-run (see offlinefs -h)\n");
		goto out;
	}
	if (optind < argc) {
		fprintf(stderr, "offlinefs: unexpected argument '%s' (see offlinefs -h)\n", argv[optind]);
		goto out;
	}
	if (folders_given && folders.n == 0) {
		fprintf(stderr, "offlinefs: -f: no folder named (give FOLDER[,FOLDER...])\n");
		goto out;
	}
	if (delete_folder && !*delete_folder) {
		fprintf(stderr, "offlinefs: --delete-folder: no folder named\n");
		goto out;
	}
	if (info && delete_folder) {
		fprintf(stderr, "offlinefs: --info and --delete-folder do not go together\n");
		goto out;
	}
	if (info)
		cc.ui = "ttyui"; /* as OfflineIMAP: --info always talks plainly */
	/* Unlike OfflineIMAP, -d does not imply -1: our trace lines are whole
	 * and name their connection and folder, so several connections stay
	 * readable, and a bug that needs them can still be traced. */
	if (profile_dir)
		single = true; /* as OfflineIMAP's -P */

	cfg = cli_load(&cc);
	if (!cfg)
		goto out;
	if (to_syslog)
		log_enable_syslog();
	bool cfg_dry = false;
	if (config_get_bool(cfg, "general", "dry-run", false, &cfg_dry, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		goto out;
	}
	dry_run = dry_run || cfg_dry;
	/* [mbnames] (sync/mbnames.h): its Python is checked before anything
	 * is touched; --mbnames-prune does only that and exits. */
	if (mbnames_load(cfg, dry_run, &mb, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		goto out;
	}
	if (mbnames_prune_only) {
		status = mbnames_prune(cfg, mb, dry_run) < 0 ? 1 : 0;
		goto out;
	}

	if (account_names(cfg, accounts_arg, &accounts, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		goto out;
	}
	if (delete_folder && accounts.n != 1) {
		fprintf(stderr, "offlinefs: --delete-folder: %zu accounts; name one with -a\n",
			accounts.n);
		goto out;
	}
	/* Validate every account before touching anything. */
	settings = xcalloc(accounts.n, sizeof(*settings));
	for (size_t i = 0; i < accounts.n; i++) {
		if (account_load(cfg, accounts.v[i], &settings[i], &err) < 0) {
			fprintf(stderr, "offlinefs: %s\n", err);
			goto out;
		}
	}

	if (migrate_fmd5) { /* instead of a sync, as in OfflineIMAP */
		status = 0;
		for (size_t i = 0; i < accounts.n; i++)
			status |= sync_migrate_fmd5(&settings[i], dry_run);
		goto out;
	}

	if (newmail_load(cfg, settings, accounts.n, &newmail, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		goto out;
	}

	int maxsync = 1;
	if (account_maxsyncaccounts(cfg, &maxsync, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		goto out;
	}
	if (profile_dir && setup_profile(profile_dir) < 0)
		goto out;
	if (single) {
		maxsync = 1;
		for (size_t i = 0; i < accounts.n; i++)
			settings[i].remote.maxconnections = 1;
	}
	/* One screen cannot show several processes: blinkenlights syncs the
	 * accounts one after the other. */
	if (ui_current() == &ui_curses)
		maxsync = 1;

	const char *why = NULL;
	if (ui_start(&why) < 0) {
		if (cc.ui) { /* -u forces the UI (offlineimap(1)) */
			fprintf(stderr, "offlinefs: -u %s: %s\n", ui_current()->name, why);
			goto out;
		}
		/* [general] ui = blinkenlights from cron: the sync must still run */
		fprintf(stderr, "offlinefs: [general] ui = %s: %s; using ttyui\n",
			ui_current()->name, why);
		ui_use(&ui_tty);
		if (ui_start(&why) < 0)
			goto out;
	}
	ui_started = true;
	bool forked = maxsync > 1 && accounts.n > 1 && !info && !delete_folder;
	signals_start(!forked);

	if (info) {
		status = cmd_info(settings, accounts.n);
		goto out;
	}
	if (delete_folder) {
		status = cmd_delete_folder(&settings[0], delete_folder, dry_run);
		goto out;
	}

	/* A mounted account takes the confirmation through its status DB. */
	size_t n_confirmed = 0;
	for (size_t i = 0; confirm.n && !dry_run && i < accounts.n; i++) {
		int rc = confirm_for_mount(&settings[i], &confirm);
		if (rc < 0)
			goto out;
		n_confirmed += (size_t)rc;
	}
	if (n_confirmed && n_confirmed == accounts.n) {
		status = 0;
		goto out;
	}

	if (forked)
		max_children = (size_t)maxsync < accounts.n ? (size_t)maxsync : accounts.n;
	double refresh = once || dry_run ? 0 : autorefresh_minutes(settings, accounts.n);
	struct sync_request req = { .folders = &folders, .dry_run = dry_run, .quick = quick,
				    .run_hooks = true,
				    .after_folders = mb ? mbnames_after_folders : NULL,
				    .after_folders_ctx = mb,
				    .new_unseen_mail = newmail ? newmail_notify : NULL,
				    .new_unseen_mail_ctx = newmail,
				    .confirm_deletes = &confirm, .rebuild_status = rebuild_status };
	quick_count = xcalloc(accounts.n, sizeof(*quick_count));
	/* IDLE watchers and held connections need a next sync in this process,
	 * whose signal thread then ends their sleep (tools/signals.h). */
	if (refresh > 0 && !forked && idlewatch_load(cfg, settings, accounts.n, &idle, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		goto out;
	}
	if (refresh > 0 && forked && idlewatch_load(cfg, settings, accounts.n, &idle, &err) == 0 &&
	    idle) {
		log_warn("idlefolders are not watched with maxsyncaccounts > 1: those folders wait "
			 "for the next refresh");
		idlewatch_free(&idle);
	}
	if (refresh > 0 && !forked && holdconn_load(cfg, settings, accounts.n, &held, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		goto out;
	}
	struct idle_sync_ctx idle_ctx = { .settings = settings, .req = &req, .held = held };
	for (;;) {
		struct round r = { .settings = settings, .n = accounts.n, .req = &req,
				   .quick_count = quick_count, .held = held, .status = SYNC_EXIT_OK,
				   .only_validity = true };
		if (forked && round_forked(&r)) {
			status = r.status; /* a child: its one account's result */
			ui_started = false; /* the parent ends the UI */
			break;
		}
		if (!forked)
			round_sequential(&r);
		status = r.status;
		if (status && !r.only_validity)
			status = SYNC_EXIT_ERRORS;
		if (status == SYNC_EXIT_UIDVALIDITY)
			log_warn("At least one folder skipped due to UID validity problem");
		if (mbnames_write(mb) < 0 && status == SYNC_EXIT_OK)
			status = SYNC_EXIT_ERRORS;
		if (refresh <= 0 || signals_last_round())
			break;
		if (idle) {
			log_info("Next refresh in %.1f minutes", refresh);
			idlewatch_sleep(idle, refresh * 60, signals_sleep_over, idle_sync, idle_tick,
					&idle_ctx);
			signals_wake_clear();
		} else {
			sleep_interruptible(refresh, held);
		}
		if (signals_last_round())
			break;
	}

out:
	if (ui_started)
		ui_stop(status);
	mbnames_free(&mb);
	newmail_free(&newmail);
	idlewatch_free(&idle);
	holdconn_free(&held);
	free(quick_count);
	for (size_t i = 0; settings && i < accounts.n; i++)
		account_free(&settings[i]);
	free(settings);
	strlist_free(&accounts);
	strlist_free(&folders);
	cli_common_free(&cc);
	strlist_free(&confirm);
	config_free(&cfg);
	free(err);
	ui_profile_dir(NULL);
	log_close();
	return status;
out0:
	cli_common_free(&cc);
	strlist_free(&folders);
	return 0;
}
