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
 * sequential loop does. Stop signals work as in the sequential loop:
 * SIGTERM/SIGHUP/SIGUSR2 let every running account finish and start no
 * other (the children keep these signals blocked, so they never interrupt
 * a child's I/O with EINTR); a third one SIGKILLs the children and ends
 * offlinefs at once; SIGINT is passed on and ends them all at once, as it
 * ends a sequential run. N = 1 (the default) syncs in this process, one
 * account after the other.
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
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/config.h"
#include "common/log.h"
#include "common/xalloc.h"
#include "sync/account.h"
#include "sync/engine.h"
#include "tools/cli.h"
#include "tools/confirm.h"
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
		"  -1               one account at a time over one connection (sets\n"
		"                   maxsyncaccounts and every maxconnections to 1)\n"
		"  -q               quick sync: skip folders whose STATUS (UIDNEXT, MESSAGES,\n"
		"                   HIGHESTMODSEQ) and local directories are unchanged, trusting\n"
		"                   UIDNEXT+MESSAGES even when the server lacks CONDSTORE\n"
		"  --dry-run        print every planned action; change nothing anywhere\n"
		"  --confirm-deletes FOLDERS\n"
		"                   carry out the mass deletions held back in these remote\n"
		"                   folders (confirmbigdeletes; comma-separated)\n"
		"  --rebuild-status move a damaged status database aside and rebuild it from\n"
		"                   the Maildir and the server; copies and deletes nothing\n"
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
static volatile sig_atomic_t interrupted; /* SIGINT (only caught with children) */

/* The running account children ([general] maxsyncaccounts > 1): pids, 0 for
 * a free slot. Written only with the stop signals blocked, so the handler
 * never signals a pid that is already reaped (and maybe reused). */
static pid_t *child_pids;
static size_t child_slots;
static volatile sig_atomic_t forward_signals; /* set in the parent only */

static void signal_children(int sig)
{
	if (forward_signals)
		for (size_t i = 0; i < child_slots; i++)
			if (child_pids[i] > 0)
				kill(child_pids[i], sig);
}

static void on_stop(int sig)
{
	int saved = errno;
	if (sig == SIGINT) {
		interrupted = 1;
		signal_children(SIGINT);
	}
	stop_requested++;
	if (stop_requested >= 3) {
		signal_children(SIGKILL);
		_exit(1);
	}
	errno = saved;
}

static void on_wake(int sig)
{
	(void)sig;
	wake_requested = 1;
}

/* SIGINT is caught only when children run (catch_int): it is passed on to
 * them and then ends this process too, as it ends a sequential run. */
static void install_signals(bool catch_int)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	if (catch_int)
		sigaction(SIGINT, &sa, NULL);
	/* "sync now" only sets a flag: whatever it lands in (a file read, an
	 * sqlite lock wait) carries on. The autorefresh wait still ends at
	 * once (nanosleep is never restarted), and the IMAP reads, which have
	 * timeouts and so are not restarted either, resume by themselves. */
	sa.sa_handler = on_wake;
	sa.sa_flags = SA_RESTART;
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

enum { OPT_DRY_RUN = 256, OPT_VERSION, OPT_CONFIRM_DELETES, OPT_REBUILD_STATUS };

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

/* One round: every account synced once. */
struct round {
	struct account_settings *settings;
	size_t n;
	const struct sync_request *req; /* the -f/--dry-run/-q request */
	int *quick_count;               /* per account: syncs since its last full one */
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
	for (size_t i = 0; i < r->n && !stop_requested; i++) {
		if (!r->req->dry_run && refuse_mounted(&r->settings[i])) {
			round_add(r, SYNC_EXIT_ERRORS);
			continue;
		}
		struct sync_request req = account_request(r, i);
		round_add(r, sync_account(&r->settings[i], &req));
	}
}

/* What a reaped account child's wait status means. */
static enum sync_exit child_exit(const char *account, int st)
{
	if (WIFEXITED(st) && WEXITSTATUS(st) <= SYNC_EXIT_UIDVALIDITY)
		return (enum sync_exit)WEXITSTATUS(st);
	if (WIFSIGNALED(st)) {
		if (!(interrupted && WTERMSIG(st) == SIGINT))
			log_error("Account %s: its sync process was killed by signal %d (%s)",
				  account, WTERMSIG(st), strsignal(WTERMSIG(st)));
	} else {
		log_error("Account %s: its sync process exited with status %d", account,
			  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	}
	return SYNC_EXIT_ERRORS;
}

/* maxsyncaccounts > 1: one forked child per account, at most child_slots
 * alive. Returns true in a child, which then must only exit with
 * r->status (its account's result); false in the parent once every child
 * started in this round has been reaped. */
static bool round_forked(struct round *r)
{
	sigset_t stops, old;
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGHUP);
	sigaddset(&stops, SIGUSR2);
	sigaddset(&stops, SIGINT);
	size_t *account_of = xcalloc(child_slots, sizeof(*account_of));
	size_t next = 0, alive = 0;
	for (;;) {
		while (alive < child_slots && next < r->n && !stop_requested) {
			size_t i = next++;
			if (!r->req->dry_run && refuse_mounted(&r->settings[i])) {
				round_add(r, SYNC_EXIT_ERRORS);
				continue;
			}
			sigprocmask(SIG_BLOCK, &stops, &old);
			if (stop_requested) {
				sigprocmask(SIG_SETMASK, &old, NULL);
				break;
			}
			struct sync_request req = account_request(r, i);
			fflush(NULL); /* nothing buffered is written twice */
			pid_t pid = fork();
			if (pid == 0) {
				/* The child: SIGINT ends it at once; the
				 * other stop signals and SIGUSR1 stay
				 * blocked (the parent acts on them). */
				forward_signals = 0;
				struct sigaction sa;
				memset(&sa, 0, sizeof(sa));
				sa.sa_handler = SIG_DFL;
				sigaction(SIGINT, &sa, NULL);
				sigset_t mask = old;
				sigaddset(&mask, SIGTERM);
				sigaddset(&mask, SIGHUP);
				sigaddset(&mask, SIGUSR2);
				sigaddset(&mask, SIGUSR1);
				sigprocmask(SIG_SETMASK, &mask, NULL);
				free(account_of);
				r->status = sync_account(&r->settings[i], &req);
				return true;
			}
			if (pid < 0) {
				log_error("Account %s: cannot start a process to sync it: %s",
					  r->settings[i].name, strerror(errno));
				round_add(r, SYNC_EXIT_ERRORS);
			} else {
				size_t slot = 0;
				while (child_pids[slot] != 0)
					slot++;
				child_pids[slot] = pid;
				account_of[slot] = i;
				alive++;
			}
			sigprocmask(SIG_SETMASK, &old, NULL);
		}
		if (alive == 0)
			break;
		/* Learn which child ended without reaping it, then reap it and
		 * free its slot with the stop signals blocked. */
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			log_error("waiting for the account processes: %s", strerror(errno));
			round_add(r, SYNC_EXIT_ERRORS);
			break;
		}
		sigprocmask(SIG_BLOCK, &stops, &old);
		int st = 0;
		pid_t pid = waitpid(si.si_pid, &st, 0);
		size_t slot = child_slots;
		for (size_t k = 0; k < child_slots; k++)
			if (pid > 0 && child_pids[k] == pid)
				slot = k;
		if (slot < child_slots) {
			child_pids[slot] = 0;
			alive--;
		}
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (slot < child_slots)
			round_add(r, child_exit(r->settings[account_of[slot]].name, st));
	}
	free(account_of);
	return false;
}

int main(int argc, char **argv)
{
	int sub = find_subcommand(argc, argv);
	if (sub)
		return run_subcommand(argc, argv, sub);

	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "confirm-deletes", required_argument, NULL, OPT_CONFIRM_DELETES },
		{ "rebuild-status", no_argument, NULL, OPT_REBUILD_STATUS },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *accounts_arg = NULL, *ui_arg = NULL;
	const char *log_path = NULL, *debug_arg = NULL;
	struct strlist overrides = STRLIST_INIT, folders = STRLIST_INIT;
	struct strlist confirm = STRLIST_INIT; /* --confirm-deletes */
	bool rebuild_status = false;
	bool once = false, dry_run = false, quick = false, single = false;
	int c;
	/* freed at out: on every path that gets past the options */
	char *found = NULL, *err = NULL;
	struct config *cfg = NULL;
	struct strlist accounts = STRLIST_INIT;
	struct account_settings *settings = NULL;
	int *quick_count = NULL;
	int status = 1;

	while ((c = getopt_long(argc, argv, "c:a:f:k:o1qu:l:d:sVhP:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'a': accounts_arg = optarg; break;
		case 'f': split_list(optarg, &folders); break;
		case 'k': strlist_add(&overrides, optarg); break;
		case 'o': once = true; break;
		case '1': single = true; break;
		case 'q': quick = true; break;
		case 's': break; /* syslog: not supported; console logging continues */
		case 'P': break; /* profiling directory: ignored */
		case 'u': ui_arg = optarg; break;
		case 'l': log_path = optarg; break;
		case 'd': debug_arg = optarg; break;
		case OPT_DRY_RUN: dry_run = true; break;
		case OPT_CONFIRM_DELETES: split_list(optarg, &confirm); break;
		case OPT_REBUILD_STATUS: rebuild_status = once = true; break;
		case 'V': printf("offlinefs %s\n", OFFLINEFS_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default:
			usage(stderr);
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

	if (debug_arg) {
		unsigned cats = 0;
		const char *bad = NULL;
		if (log_parse_debug(debug_arg, &cats, &bad) < 0) {
			fprintf(stderr, "offlinefs: -d: unknown debug category '%s' (imap, maildir, "
				"sync, all)\n", bad);
			goto out;
		}
		log_enable_debug(cats);
	}
	if (log_path) {
		const char *why = NULL;
		if (log_open_file(log_path, &why) < 0) {
			fprintf(stderr, "offlinefs: -l %s: %s\n", log_path, why);
			goto out;
		}
	}

	if (!config_path) {
		found = cli_find_config();
		if (!found) {
			fprintf(stderr, "offlinefs: no config file: use -c FILE, or create "
				"~/.offlineimaprc or $XDG_CONFIG_HOME/offlineimap/config\n");
			goto out;
		}
		config_path = found;
	}
	cfg = config_load(config_path, &err);
	if (!cfg) {
		fprintf(stderr, "offlinefs: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < overrides.n; i++) {
		if (config_apply_override(cfg, overrides.v[i], &err) < 0) {
			fprintf(stderr, "offlinefs: -k %s: %s\n", overrides.v[i], err);
			goto out;
		}
	}
	if (!ui_arg)
		ui_arg = config_get(cfg, "general", "ui", NULL);
	if (ui_arg) {
		enum log_ui ui;
		if (log_parse_ui(ui_arg, &ui) < 0) {
			fprintf(stderr, "offlinefs: unknown UI '%s' (quiet, basic, ttyui)\n", ui_arg);
			goto out;
		}
		log_set_ui(ui);
	}
	bool cfg_dry = false;
	if (config_get_bool(cfg, "general", "dry-run", false, &cfg_dry, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		goto out;
	}
	dry_run = dry_run || cfg_dry;

	if (account_names(cfg, accounts_arg, &accounts, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
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

	int maxsync = 1;
	if (account_maxsyncaccounts(cfg, &maxsync, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		goto out;
	}
	if (single) {
		maxsync = 1;
		for (size_t i = 0; i < accounts.n; i++)
			settings[i].remote.maxconnections = 1;
	}
	bool forked = maxsync > 1 && accounts.n > 1;
	if (forked) {
		child_slots = (size_t)maxsync < accounts.n ? (size_t)maxsync : accounts.n;
		child_pids = xcalloc(child_slots, sizeof(*child_pids));
		forward_signals = 1;
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

	install_signals(forked);
	double refresh = once || dry_run ? 0 : autorefresh_minutes(settings, accounts.n);
	struct sync_request req = { .folders = &folders, .dry_run = dry_run, .quick = quick,
				    .confirm_deletes = &confirm, .rebuild_status = rebuild_status };
	quick_count = xcalloc(accounts.n, sizeof(*quick_count));
	for (;;) {
		struct round r = { .settings = settings, .n = accounts.n, .req = &req,
				   .quick_count = quick_count, .status = SYNC_EXIT_OK,
				   .only_validity = true };
		if (forked && round_forked(&r)) {
			status = r.status; /* a child: its one account's result */
			break;
		}
		if (!forked)
			round_sequential(&r);
		status = r.status;
		if (status && !r.only_validity)
			status = SYNC_EXIT_ERRORS;
		if (status == SYNC_EXIT_UIDVALIDITY)
			log_warn("At least one folder skipped due to UID validity problem");
		if (refresh <= 0 || stop_requested)
			break;
		sleep_interruptible(refresh);
		if (stop_requested)
			break;
	}

out:
	free(quick_count);
	forward_signals = 0; /* before the handler's array goes */
	free(child_pids);
	child_pids = NULL;
	child_slots = 0;
	for (size_t i = 0; settings && i < accounts.n; i++)
		account_free(&settings[i]);
	free(settings);
	strlist_free(&accounts);
	strlist_free(&overrides);
	strlist_free(&folders);
	strlist_free(&confirm);
	config_free(&cfg);
	free(found);
	free(err);
	log_close();
	if (interrupted) {
		/* SIGINT with children: they are gone; end as a sequential run
		 * ends on SIGINT. */
		signal(SIGINT, SIG_DFL);
		raise(SIGINT);
	}
	return status;
}
