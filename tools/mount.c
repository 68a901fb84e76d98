/* mount.c — `offlinefs mount`; the order of things is in mount.h. */
#include "tools/mount.h"
#include "tools/mount_check.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache/lock.h"
#include "common/log.h"
#include "fs/maildir_fs.h"
#include "fs/outbox_observer.h"
#include "sync/engine.h"
#include "sync/folder_map.h"
#include "sync/live.h"
#include "tools/cli.h"
#include "tools/mountstate.h"

#define LOCK_WAIT_SECONDS 30
#define STATE_POLL_MS 1000

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: offlinefs mount [options] [MOUNTPOINT]\n"
		"Mounts the account's Maildir with FUSE and keeps it in step with the server:\n"
		"changes made on the mount reach the server at once, server changes show up\n"
		"on the mount. Unmount with fusermount3 -u MOUNTPOINT.\n"
		"\n"
		"  MOUNTPOINT       where to mount (default: mountpoint = in [Account A])\n"
		"  -c FILE          config file (default: as offlinefs -o finds it)\n"
		"  -a ACCOUNT       the account (default: the first of [general] accounts)\n"
		"  -f               stay in the foreground (logs on stderr)\n"
		"  -d CATEGORIES    debug output: imap,maildir,sync,fuse or all\n"
		"  -l FILE          log to FILE (default in the background:\n"
		"                   <metadata>/Account-A/mount.log)\n"
		"  -k [SECTION:]OPTION=VALUE   override a config option\n"
		"  -u UI            quiet | basic | ttyui\n"
		"  -h, --help       this help\n"
		"\n"
		"SIGUSR1 retries the connection and syncs at once. SIGTERM, SIGINT or an\n"
		"unmount stop it; queued changes stay queued for the next start.\n");
}

/* Everything the callbacks and threads of one mount share. */
struct mount_ctx {
	struct account_settings *a;    /* borrowed */
	struct fs_observer inner;      /* the outbox observer's callbacks */
	struct outbox_observer *oo;    /* owned */
	struct maildir_fs *fs;         /* owned */
	struct live *live;             /* owned; set before the mount, so FUSE
					* callbacks always see it */
	char *state_path;              /* owned */
	struct mount_state st;         /* as last written */
	bool state_warned;
	int sigfd;                     /* SIGUSR1 */
	int stop_pipe[2];              /* ends the state thread */
	pthread_t state_th;
	bool have_state_th;
};

/* ---- observer: the outbox observer plus folder_opened ------------------ */

static int fwd_renamed(void *ctx, const char *ff, const char *fsub, const char *fname,
		       const char *tf, const char *tsub, const char *tname)
{
	struct mount_ctx *m = ctx;
	return m->inner.message_renamed(m->inner.ctx, ff, fsub, fname, tf, tsub, tname);
}

static int fwd_unlinked(void *ctx, const char *folder, const char *sub, const char *name)
{
	struct mount_ctx *m = ctx;
	return m->inner.message_unlinked(m->inner.ctx, folder, sub, name);
}

static int fwd_added(void *ctx, const char *folder, const char *sub, const char *name)
{
	struct mount_ctx *m = ctx;
	return m->inner.message_added(m->inner.ctx, folder, sub, name);
}

static int fwd_folder_created(void *ctx, const char *folder)
{
	struct mount_ctx *m = ctx;
	return m->inner.folder_created(m->inner.ctx, folder);
}

static int fwd_folder_removed(void *ctx, const char *folder)
{
	struct mount_ctx *m = ctx;
	return m->inner.folder_removed(m->inner.ctx, folder);
}

static int fwd_folder_renamed(void *ctx, const char *from, const char *to)
{
	struct mount_ctx *m = ctx;
	return m->inner.folder_renamed(m->inner.ctx, from, to);
}

static void on_folder_opened(void *ctx, const char *folder)
{
	struct mount_ctx *m = ctx;
	live_folder_opened(m->live, folder);
}

static void on_queued(void *ctx)
{
	struct mount_ctx *m = ctx;
	if (m->live)
		live_outbox_changed(m->live);
}

/* Our observer: ctx is m; a callback the outbox observer lacks stays NULL
 * (the FUSE layer treats NULL specially, e.g. folder_renamed). */
static struct fs_observer make_observer(struct mount_ctx *m)
{
	struct fs_observer o = { .ctx = m, .folder_opened = on_folder_opened };
	if (m->inner.message_renamed)
		o.message_renamed = fwd_renamed;
	if (m->inner.message_unlinked)
		o.message_unlinked = fwd_unlinked;
	if (m->inner.message_added)
		o.message_added = fwd_added;
	if (m->inner.folder_created)
		o.folder_created = fwd_folder_created;
	if (m->inner.folder_removed)
		o.folder_removed = fwd_folder_removed;
	if (m->inner.folder_renamed)
		o.folder_renamed = fwd_folder_renamed;
	return o;
}

/* ---- live hooks: the worker changed the Maildir ------------------------ */

static void hook_renamed(void *ctx, const char *folder, const char *old_sub, const char *old_name,
			 const char *new_sub, const char *new_name)
{
	struct mount_ctx *m = ctx;
	maildir_fs_notify_renamed(m->fs, folder, old_sub, old_name, new_sub, new_name);
}

static void hook_added(void *ctx, const char *folder, const char *sub, const char *name)
{
	struct mount_ctx *m = ctx;
	maildir_fs_notify_added(m->fs, folder, sub, name);
}

static void hook_removed(void *ctx, const char *folder, const char *sub, const char *name)
{
	struct mount_ctx *m = ctx;
	maildir_fs_notify_removed(m->fs, folder, sub, name);
}

static void hook_folder_added(void *ctx, const char *folder)
{
	struct mount_ctx *m = ctx;
	maildir_fs_notify_folder(m->fs, folder);
}

/* ---- state file -------------------------------------------------------- */

static bool str_differs(const char *x, const char *y)
{
	return (x == NULL) != (y == NULL) || (x && strcmp(x, y) != 0);
}

/* Rewrites mount.json when the worker's state changed (or when forced). */
static void state_refresh(struct mount_ctx *m, bool force)
{
	struct live_state ls = { 0 };
	if (m->live)
		live_get_state(m->live, &ls);
	if (force || ls.connected != m->st.connected || str_differs(ls.last_error, m->st.last_error) ||
	    ls.last_full_sync != m->st.last_full_sync || ls.queued != m->st.queued ||
	    ls.backoff_seconds != m->st.backoff_seconds) {
		if (!force && ls.connected != m->st.connected)
			log_info("mount: %s", ls.connected ? "online" : "offline");
		m->st.connected = ls.connected;
		free(m->st.last_error);
		m->st.last_error = ls.last_error;
		ls.last_error = NULL;
		m->st.last_full_sync = ls.last_full_sync;
		m->st.queued = ls.queued;
		m->st.backoff_seconds = ls.backoff_seconds;
		m->st.updated = time(NULL);
		char *err = NULL;
		if (mount_state_write(m->state_path, &m->st, &err) < 0) {
			if (!m->state_warned)
				log_warn("mount: cannot write the state file: %s", err);
			m->state_warned = true;
			free(err);
		}
	}
	live_state_clear(&ls);
}

/* Keeps mount.json current and turns SIGUSR1 into live_wake. */
static void *state_main(void *arg)
{
	struct mount_ctx *m = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = m->sigfd, .events = POLLIN },
				       { .fd = m->stop_pipe[0], .events = POLLIN } };
		int n = poll(p, 2, STATE_POLL_MS);
		if (n > 0 && p[1].revents)
			break;
		if (n > 0 && (p[0].revents & POLLIN)) {
			struct signalfd_siginfo si;
			bool got = false;
			while (read(m->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
				got = true;
			if (got) {
				log_info("mount: SIGUSR1: connecting and syncing now");
				live_wake(m->live);
			}
		}
		state_refresh(m, false);
	}
	return NULL;
}

/* ---- start-up helpers --------------------------------------------------- */

/* mkdir -p with mode for each missing level. 0, or -1 with errno. */
static int mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	int ret = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (*p && mkdir(p, mode) < 0 && errno != EEXIST) {
			ret = -1;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	int saved = errno;
	free(p);
	errno = saved;
	return ret;
}

/* Creates dir (0700) when missing and replaces *path by its absolute,
 * resolved form. Prints why on failure. */
static int ensure_dir(char **path, const char *what, bool tell)
{
	struct stat st;
	if (stat(*path, &st) < 0 && errno == ENOENT) {
		if (mkdir_p(*path, 0700) < 0) {
			fprintf(stderr, "offlinefs: cannot create %s %s: %s\n", what, *path,
				strerror(errno));
			return -1;
		}
		if (tell)
			fprintf(stderr, "offlinefs: created %s %s\n", what, *path);
	}
	char *abs = realpath(*path, NULL);
	if (!abs) {
		fprintf(stderr, "offlinefs: %s %s: %s\n", what, *path, strerror(errno));
		return -1;
	}
	free(*path);
	*path = abs;
	return 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What the holder of the lock is, for messages. malloc'd. */
static char *holder_desc(pid_t pid)
{
	char *cmd = process_cmdline(pid);
	char *s = cmd ? xasprintf("pid %ld: %s", (long)pid, cmd) : xasprintf("pid %ld", (long)pid);
	free(cmd);
	return s;
}

/* Takes the account lock. A running mount of the account is refused at
 * once; anything else holding it (a one-shot offlinefs or offlineimap) is
 * waited for, up to LOCK_WAIT_SECONDS. Returns the fd, or -1 after
 * printing why. */
static int take_lock(const struct account_settings *a)
{
	double deadline = now_s() + LOCK_WAIT_SECONDS;
	bool told = false;
	for (;;) {
		char *err = NULL;
		int fd = account_lock(a->metadata, a->name, 0, &err);
		if (fd >= 0) {
			if (told)
				fprintf(stderr, "offlinefs: the sync has finished; mounting\n");
			return fd;
		}
		pid_t holder = account_lock_holder(a->metadata, a->name);
		if (holder < 0) {
			fprintf(stderr, "offlinefs: %s\n", err);
			free(err);
			return -1;
		}
		free(err);
		if (holder > 0) {
			struct mount_state st;
			if (mount_running(a, &st) && st.pid == holder) {
				fprintf(stderr,
					"offlinefs: account '%s' is already mounted at %s (offlinefs "
					"mount, pid %ld); unmount it first: fusermount3 -u %s\n",
					a->name, st.mountpoint ? st.mountpoint : "?", (long)st.pid,
					st.mountpoint ? st.mountpoint : "MOUNTPOINT");
				mount_state_clear(&st);
				return -1;
			}
			mount_state_clear(&st);
			char *who = holder_desc(holder);
			if (now_s() >= deadline) {
				fprintf(stderr,
					"offlinefs: account '%s' is still locked after %d s by %s: a "
					"sync of this account (offlinefs -o or offlineimap) is running; "
					"mount again when it has finished\n",
					a->name, LOCK_WAIT_SECONDS, who);
				free(who);
				return -1;
			}
			if (!told)
				fprintf(stderr,
					"offlinefs: account '%s' is being synced by %s; waiting up to %d s "
					"for it to finish\n",
					a->name, who, LOCK_WAIT_SECONDS);
			told = true;
			free(who);
		}
		nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
	}
}

/* The child's verdict for the waiting parent: one byte, '0' = mounted. */
static void tell_parent(int *fd, bool ok)
{
	if (*fd < 0)
		return;
	char c = ok ? '0' : '1';
	ssize_t n;
	do
		n = write(*fd, &c, 1);
	while (n < 0 && errno == EINTR);
	close(*fd);
	*fd = -1;
}

/* Forks. The parent waits for the child's verdict and returns it as an exit
 * status (>= 0); the child returns -1 with *report_fd set, in a new session. */
static int go_background(int *report_fd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0) {
		fprintf(stderr, "offlinefs: pipe: %s\n", strerror(errno));
		return 1;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "offlinefs: fork: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		return 1;
	}
	if (pid > 0) {
		close(p[1]);
		char c = 0;
		ssize_t n;
		do
			n = read(p[0], &c, 1);
		while (n < 0 && errno == EINTR);
		close(p[0]);
		if (n == 1)
			return c == '0' ? 0 : 1;
		int status = 0;
		waitpid(pid, &status, WNOHANG);
		fprintf(stderr, "offlinefs: the mount process (pid %ld) ended during start-up%s\n",
			(long)pid, WIFSIGNALED(status) ? " (killed by a signal)" : "");
		return 1;
	}
	close(p[0]);
	*report_fd = p[1];
	if (setsid() < 0)
		log_warn("mount: setsid: %s", strerror(errno));
	return -1;
}

static void stdio_to_devnull(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	fflush(stdout);
	fflush(stderr);
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);
}

/* ---- the command --------------------------------------------------------- */

/* Mounts and serves until unmounted; in the daemon child report_fd gets the
 * verdict. Returns the exit status. */
static int run_mount(struct account_settings *a, const char *mountpoint, bool foreground,
		     int *report_fd, const char *default_log)
{
	struct mount_ctx m = { .a = a, .sigfd = -1, .stop_pipe = { -1, -1 } };
	/* local nametrans: the FMD5 the observer expects (sync/folder_map.h) */
	struct folder_map *fmap = folder_map_new(a, false);
	int status = 1, lock_fd = -1;
	char *err = NULL, *db_path = NULL;
	sigset_t block, stops;

	if (!foreground && default_log) {
		const char *why = NULL;
		if (log_open_file(default_log, &why) < 0)
			fprintf(stderr, "offlinefs: %s: %s (logging nowhere)\n", default_log, why);
	}
	lock_fd = take_lock(a);
	if (lock_fd < 0)
		goto out;

	db_path = sync_status_db_path(a);
	struct outbox_observer_settings os = {
		.db_path = db_path,
		.fsync = a->fsync,
		.infosep = a->filters.infosep ? a->filters.infosep : ':',
		.queued = on_queued,
		.queued_ctx = &m,
		.fmd5_name = a->local.nametrans.set ? folder_map_fmd5_name : NULL,
		.fmd5_ctx = fmap,
	};
	m.oo = outbox_observer_new(&os, &err);
	if (!m.oo)
		goto fail_err;
	outbox_observer_bind(m.oo, &m.inner);
	struct fs_observer obs = make_observer(&m);
	struct maildir_fs_options fo;
	maildir_fs_options_default(&fo);
	fo.debug = false;
	m.fs = maildir_fs_new(a->local.localfolders, &obs, &fo, &err);
	if (!m.fs)
		goto fail_err;

	static const char *const no_folders[1] = { NULL };
	struct live_options lo = {
		.refresh_minutes = a->mount.refresh_minutes,
		.idle_folders = a->mount.idlefolders.n ? (const char *const *)a->mount.idlefolders.v
						       : no_folders,
		.n_idle_folders = a->mount.idlefolders.n,
		.open_sync_age_seconds = a->mount.sync_age_seconds,
	};
	struct live_hooks hooks = {
		.ctx = &m,
		.renamed = hook_renamed,
		.added = hook_added,
		.removed = hook_removed,
		.folder_added = hook_folder_added,
	};
	m.live = live_new(a, &lo, &hooks, &err);
	if (!m.live)
		goto fail_err;

	if (maildir_fs_mount(m.fs, mountpoint, true, &err) < 0)
		goto fail_err;

	/* Every thread from here on inherits these blocked: SIGUSR1 is read
	 * from a signalfd by the state thread; SIGINT/SIGTERM/SIGHUP are
	 * unblocked again in this thread only, which runs the FUSE loop, so
	 * libfuse's handlers end the loop (a signal taken by another thread
	 * would not wake it). */
	sigemptyset(&stops);
	sigaddset(&stops, SIGINT);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGHUP);
	block = stops;
	sigaddset(&block, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	m.sigfd = signalfd(-1, &usr1, SFD_CLOEXEC | SFD_NONBLOCK);
	if (m.sigfd < 0 || pipe2(m.stop_pipe, O_CLOEXEC) < 0) {
		err = xasprintf("signalfd/pipe: %s", strerror(errno));
		goto fail_unmount;
	}
	if (live_start(m.live, &err) < 0)
		goto fail_unmount;

	m.state_path = mount_state_path(a);
	m.st.pid = getpid();
	m.st.account = xstrdup(a->name);
	m.st.mountpoint = xstrdup(mountpoint);
	m.st.maildir = xstrdup(a->local.localfolders);
	m.st.started = time(NULL);
	state_refresh(&m, true);
	if (pthread_create(&m.state_th, NULL, state_main, &m) == 0)
		m.have_state_th = true;
	else
		log_warn("mount: no state thread: mount.json will not follow the connection");

	log_info("mount: account %s (%s) mounted at %s, pid %ld", a->name, a->local.localfolders,
		 mountpoint, (long)getpid());
	tell_parent(report_fd, true);
	if (!foreground)
		stdio_to_devnull();
	pthread_sigmask(SIG_UNBLOCK, &stops, NULL);

	status = maildir_fs_run(m.fs) == 0 ? 0 : 1;
	log_info("mount: %s unmounted; stopping the worker", mountpoint);
	goto stop;

fail_unmount: /* mounted but not serving yet: maildir_fs_free unmounts */
fail_err:
	fprintf(stderr, "offlinefs: %s\n", err ? err : "cannot mount");
	if (!foreground)
		log_error("mount: %s", err ? err : "cannot mount");
	free(err);
	err = NULL;
stop:
	if (m.live)
		live_stop(m.live);
	if (m.have_state_th) {
		ssize_t n;
		do
			n = write(m.stop_pipe[1], "x", 1);
		while (n < 0 && errno == EINTR);
		pthread_join(m.state_th, NULL);
	}
	if (m.live && status == 0) {
		struct live_state ls;
		live_get_state(m.live, &ls);
		if (ls.queued)
			log_info("mount: %zu change(s) still queued for the server; they are sent "
				 "when the account is mounted again",
				 ls.queued);
		live_state_clear(&ls);
	}
	live_free(&m.live);
	if (m.state_path)
		unlink(m.state_path);
	maildir_fs_free(&m.fs);
	outbox_observer_free(&m.oo);
	mount_state_clear(&m.st);
	free(m.state_path);
	if (m.sigfd >= 0)
		close(m.sigfd);
	if (m.stop_pipe[0] >= 0)
		close(m.stop_pipe[0]);
	if (m.stop_pipe[1] >= 0)
		close(m.stop_pipe[1]);
	account_unlock(&lock_fd);
out:
	free(db_path);
	folder_map_free(&fmap);
	tell_parent(report_fd, false);
	return status;
}

int cmd_mount(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common c = CLI_COMMON_INIT;
	bool foreground = false;
	int opt;
	optind = 1;
	opterr = 0; /* one line (cli_option_error), not the usage */
	while ((opt = getopt_long(argc, argv, ":c:a:fd:l:k:u:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': c.config_path = optarg; break;
		case 'a': c.account = optarg; break;
		case 'f': foreground = true; break;
		case 'd': c.debug = optarg; break;
		case 'l': c.log_path = optarg; break;
		case 'k': strlist_add(&c.overrides, optarg); break;
		case 'u': c.ui = optarg; break;
		case 'h': usage(stdout); cli_common_free(&c); return 0;
		default:
			cli_option_error("offlinefs mount", opt, argv);
			cli_common_free(&c);
			return 1;
		}
	}
	if (argc - optind > 1) {
		fprintf(stderr, "offlinefs mount: one mountpoint only (got '%s' and '%s')\n",
			argv[optind], argv[optind + 1]);
		cli_common_free(&c);
		return 1;
	}
	int status = 1;
	char *mnt = NULL, *default_log = NULL;
	struct account_settings a = { 0 };
	struct config *cfg = cli_load(&c);
	if (!cfg)
		goto out;
	if (cli_account(cfg, &c, true, &a) < 0)
		goto out;
	const char *given = optind < argc ? argv[optind] : a.mount.mountpoint;
	if (!given || !*given) {
		fprintf(stderr, "offlinefs mount: no mountpoint: give one (offlinefs mount DIR) or set "
			"'mountpoint' in [Account %s]\n", a.name);
		goto out;
	}
	/* Nothing is created before the paths are known to work. */
	char *why = NULL;
	if (mount_check_paths(given, a.local.localfolders, &why) < 0) {
		fprintf(stderr, "offlinefs mount: %s\n", why);
		free(why);
		goto out;
	}
	mnt = xstrdup(given);
	/* Everything absolute: the daemon runs from /. A stale mount fails
	 * here with ENOTCONN; maildir_fs_mount says what to do about it. */
	struct stat st;
	if (stat(mnt, &st) < 0 && errno == ENOENT) {
		if (ensure_dir(&mnt, "mountpoint", true) < 0)
			goto out;
	} else if (mnt[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd))) {
			fprintf(stderr, "offlinefs: getcwd: %s\n", strerror(errno));
			goto out;
		}
		char *abs = xasprintf("%s/%s", cwd, mnt);
		free(mnt);
		mnt = abs;
	}
	char *real = realpath(mnt, NULL); /* as /proc/self/mountinfo will show it */
	if (real) {
		free(mnt);
		mnt = real;
	}
	if (ensure_dir(&a.local.localfolders, "Maildir", true) < 0 ||
	    ensure_dir(&a.metadata, "metadata directory", false) < 0)
		goto out;
	char *acct_dir = xasprintf("%s/Account-%s", a.metadata, a.name);
	if (mkdir(acct_dir, 0700) < 0 && errno != EEXIST) {
		fprintf(stderr, "offlinefs: cannot create %s: %s\n", acct_dir, strerror(errno));
		free(acct_dir);
		goto out;
	}
	if (!c.log_path)
		default_log = xasprintf("%s/mount.log", acct_dir);
	free(acct_dir);

	int report_fd = -1;
	if (!foreground) {
		int parent_status = go_background(&report_fd);
		if (parent_status >= 0) {
			status = parent_status;
			goto out;
		}
		if (chdir("/") < 0)
			log_warn("mount: chdir /: %s", strerror(errno));
	}
	status = run_mount(&a, mnt, foreground, &report_fd, default_log);
out:
	free(default_log);
	free(mnt);
	account_free(&a);
	config_free(&cfg);
	cli_common_free(&c);
	log_close();
	return status;
}
