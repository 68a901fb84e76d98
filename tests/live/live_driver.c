/* live_driver.c — the live worker (sync/live.h) and the outbox observer
 * (fs/outbox_observer.h) without FUSE, for tests/live/test_live.py.
 *
 * The test does a file operation on the Maildir itself and then tells the
 * driver which observer callback the FUSE layer would have made; the
 * driver calls it (queueing the op and waking the worker, exactly as on
 * the mount). It holds the account lock like a mount process.
 *
 * Usage: live_driver -c CONFIG [-a ACCOUNT] [--refresh MINUTES]
 *                    [--open-age SECONDS] [--idle FOLDER]... [--no-idle]
 *                    [--hooks FILE] [-d CATS]
 * Commands on stdin, one per line, fields separated by tabs; each is
 * answered by one line on stdout, "ok[ ...]" or "err <why>":
 *   start                           live_start
 *   renamed FF FS FN TF TS TN       observer message_renamed
 *   unlinked F S N | added F S N    observer message_unlinked / _added
 *   folder_created F                observer folder_created
 *   opened F                        live_folder_opened
 *   wake                            live_wake
 *   state                           "ok connected=0|1 queued=N full_sync=T
 *                                    backoff=S error=..."
 *   wait_synced SECONDS             until a full sync finished (or "err timeout")
 *   wait_empty SECONDS              until the outbox is empty (or "err timeout N")
 *   inflight_all                    outbox_begin_try on every queued op (what a
 *                                   crash in the middle of each leaves behind)
 *   name F BASE                     "ok UID" from the names table ("ok 0": none)
 *   count                           "ok N": queued ops
 *   stop                            live_stop
 *   quit                            stop, free everything, exit 0
 * Hooks (--hooks FILE): one line per call, tab-separated:
 *   renamed F OLDSUB OLDNAME NEWSUB NEWNAME | added F SUB NAME |
 *   removed F SUB NAME | folder_added F
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/lock.h"
#include "cache/outbox.h"
#include "cache/status.h"
#include "common/config.h"
#include "common/log.h"
#include "fs/outbox_observer.h"
#include "sync/account.h"
#include "sync/engine.h"
#include "sync/live.h"

static int hooks_fd = -1;
static pthread_mutex_t hooks_lock = PTHREAD_MUTEX_INITIALIZER;

static void emit(const char *const *f, size_t n)
{
	if (hooks_fd < 0)
		return;
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_addc(&sb, '\t');
		sb_adds(&sb, f[i] ? f[i] : "");
	}
	sb_addc(&sb, '\n');
	pthread_mutex_lock(&hooks_lock);
	if (write(hooks_fd, sb.buf, sb.len) != (ssize_t)sb.len)
		log_warn("live_driver: hooks file: %s", strerror(errno));
	pthread_mutex_unlock(&hooks_lock);
	sb_free(&sb);
}

static void h_renamed(void *ctx, const char *folder, const char *os, const char *on,
		      const char *ns, const char *nn)
{
	(void)ctx;
	const char *f[] = { "renamed", folder, os, on, ns, nn };
	emit(f, 6);
}

static void h_added(void *ctx, const char *folder, const char *sub, const char *name)
{
	(void)ctx;
	const char *f[] = { "added", folder, sub, name };
	emit(f, 4);
}

static void h_removed(void *ctx, const char *folder, const char *sub, const char *name)
{
	(void)ctx;
	const char *f[] = { "removed", folder, sub, name };
	emit(f, 4);
}

static void h_folder(void *ctx, const char *folder)
{
	(void)ctx;
	const char *f[] = { "folder_added", folder };
	emit(f, 2);
}

static void queued(void *ctx)
{
	live_outbox_changed(ctx);
}

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

static void reply(const char *fmt, ...) PRINTF_LIKE(1, 2);

static void reply(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* Splits line at tabs in place. */
static size_t split(char *line, char **f, size_t max)
{
	size_t n = 0;
	char *p = line;
	while (n < max) {
		f[n++] = p;
		char *t = strchr(p, '\t');
		if (!t)
			break;
		*t = '\0';
		p = t + 1;
	}
	return n;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "refresh", required_argument, NULL, 'r' },
		{ "open-age", required_argument, NULL, 'g' },
		{ "idle", required_argument, NULL, 'i' },
		{ "no-idle", no_argument, NULL, 'n' },
		{ "hooks", required_argument, NULL, 'H' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_path = NULL, *account = NULL, *hooks_path = NULL;
	struct live_options opt = { .refresh_minutes = 60 };
	struct strlist idle = STRLIST_INIT;
	bool no_idle = false;
	int c;
	while ((c = getopt_long(argc, argv, "c:a:d:", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config_path = optarg; break;
		case 'a': account = optarg; break;
		case 'r': opt.refresh_minutes = atof(optarg); break;
		case 'g': opt.open_sync_age_seconds = atof(optarg); break;
		case 'i': strlist_add(&idle, optarg); break;
		case 'n': no_idle = true; break;
		case 'H': hooks_path = optarg; break;
		case 'd': {
			unsigned cats = 0;
			const char *bad = NULL;
			if (log_parse_debug(optarg, &cats, &bad) < 0) {
				fprintf(stderr, "live_driver: -d: unknown '%s'\n", bad);
				return 2;
			}
			log_enable_debug(cats);
			break;
		}
		default:
			fprintf(stderr, "usage: live_driver -c CONFIG [-a ACCOUNT] [--refresh MIN] "
				"[--open-age S] [--idle F]... [--no-idle] [--hooks FILE] [-d CATS]\n");
			return 2;
		}
	}
	if (!config_path) {
		fprintf(stderr, "live_driver: -c CONFIG is required\n");
		return 2;
	}
	log_set_ui(LOG_UI_TTY); /* stderr: stdout carries the replies */
	if (hooks_path) {
		hooks_fd = open(hooks_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (hooks_fd < 0) {
			fprintf(stderr, "live_driver: %s: %s\n", hooks_path, strerror(errno));
			return 1;
		}
	}
	char *err = NULL;
	struct config *cfg = config_load(config_path, &err);
	if (!cfg) {
		fprintf(stderr, "live_driver: %s\n", err);
		return 1;
	}
	struct strlist accounts = STRLIST_INIT;
	if (account_names(cfg, account, &accounts, &err) < 0 || accounts.n == 0) {
		fprintf(stderr, "live_driver: %s\n", err ? err : "no account");
		return 1;
	}
	struct account_settings a;
	if (account_load(cfg, accounts.v[0], &a, &err) < 0) {
		fprintf(stderr, "live_driver: %s\n", err);
		return 1;
	}
	int lock_fd = account_lock(a.metadata, a.name, 5, &err);
	if (lock_fd < 0) {
		fprintf(stderr, "live_driver: %s\n", err);
		return 1;
	}
	static const char *const no_folders[1] = { NULL };
	if (no_idle) {
		opt.idle_folders = no_folders; /* an empty list, not the default */
		opt.n_idle_folders = 0;
	} else if (idle.n) {
		opt.idle_folders = (const char *const *)idle.v;
		opt.n_idle_folders = idle.n;
	}
	struct live_hooks hooks = {
		.renamed = h_renamed,
		.added = h_added,
		.removed = h_removed,
		.folder_added = h_folder,
	};
	struct live *l = live_new(&a, &opt, &hooks, &err);
	if (!l) {
		fprintf(stderr, "live_driver: %s\n", err);
		return 1;
	}
	char *db_path = sync_status_db_path(&a);
	struct outbox_observer_settings os = {
		.db_path = db_path,
		.fsync = a.fsync,
		.queued = queued,
		.queued_ctx = l,
	};
	struct outbox_observer *ob = outbox_observer_new(&os, &err);
	if (!ob) {
		fprintf(stderr, "live_driver: %s\n", err);
		return 1;
	}
	struct fs_observer obs;
	outbox_observer_bind(ob, &obs);
	struct status_db *db = NULL; /* the test's own view of the queue */
	if (status_open(db_path, false, false, &db, &err) < 0) {
		fprintf(stderr, "live_driver: %s\n", err);
		return 1;
	}

	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int status = 0;
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		char *f[8];
		size_t n = split(line, f, 8);
		const char *cmd = f[0];
		int rc = 0;
		if (!strcmp(cmd, "start")) {
			if (live_start(l, &err) < 0) {
				reply("err %s", err);
				xfree_ptr(&err);
			} else {
				reply("ok");
			}
		} else if (!strcmp(cmd, "renamed") && n == 7) {
			rc = obs.message_renamed(obs.ctx, f[1], f[2], f[3], f[4], f[5], f[6]);
			reply(rc ? "err %d" : "ok", rc);
		} else if (!strcmp(cmd, "unlinked") && n == 4) {
			rc = obs.message_unlinked(obs.ctx, f[1], f[2], f[3]);
			reply(rc ? "err %d" : "ok", rc);
		} else if (!strcmp(cmd, "added") && n == 4) {
			rc = obs.message_added(obs.ctx, f[1], f[2], f[3]);
			reply(rc ? "err %d" : "ok", rc);
		} else if (!strcmp(cmd, "folder_created") && n == 2) {
			rc = obs.folder_created(obs.ctx, f[1]);
			reply(rc ? "err %d" : "ok", rc);
		} else if (!strcmp(cmd, "opened") && n == 2) {
			live_folder_opened(l, f[1]);
			reply("ok");
		} else if (!strcmp(cmd, "wake")) {
			live_wake(l);
			reply("ok");
		} else if (!strcmp(cmd, "state")) {
			struct live_state st;
			live_get_state(l, &st);
			reply("ok connected=%d queued=%zu full_sync=%lld backoff=%u error=%s",
			      st.connected, st.queued, (long long)st.last_full_sync,
			      st.backoff_seconds, st.last_error ? st.last_error : "");
			live_state_clear(&st);
		} else if (!strcmp(cmd, "wait_synced") && n == 2) {
			double end = now_mono() + atof(f[1]);
			struct live_state st = { 0 };
			for (;;) {
				live_get_state(l, &st);
				bool done = st.last_full_sync != 0;
				live_state_clear(&st);
				if (done || now_mono() > end)
					break;
				sleep_ms(10);
			}
			live_get_state(l, &st);
			reply(st.last_full_sync ? "ok" : "err timeout");
			live_state_clear(&st);
		} else if (!strcmp(cmd, "wait_empty") && n == 2) {
			double end = now_mono() + atof(f[1]);
			size_t q = 0;
			for (;;) {
				if (outbox_count(db, &q, &err) < 0) {
					reply("err %s", err);
					xfree_ptr(&err);
					break;
				}
				if (q == 0) {
					reply("ok");
					break;
				}
				if (now_mono() > end) {
					reply("err timeout %zu", q);
					break;
				}
				sleep_ms(10);
			}
		} else if (!strcmp(cmd, "inflight_all")) {
			struct outbox_op *ops = NULL;
			size_t k = 0;
			if (outbox_list(db, 1000000, &ops, &k, &err) < 0) {
				reply("err %s", err);
				xfree_ptr(&err);
				continue;
			}
			for (size_t i = 0; i < k; i++) {
				if (rc == 0 && outbox_begin_try(db, ops[i].id, &err) < 0)
					rc = -1;
				outbox_op_clear(&ops[i]);
			}
			free(ops);
			if (rc < 0) {
				reply("err %s", err);
				xfree_ptr(&err);
			} else {
				reply("ok %zu", k);
			}
		} else if (!strcmp(cmd, "name") && n == 3) {
			uint32_t uid = 0;
			if (outbox_name_get(db, f[1], f[2], &uid, &err) < 0) {
				reply("err %s", err);
				xfree_ptr(&err);
			} else {
				reply("ok %u", uid);
			}
		} else if (!strcmp(cmd, "count")) {
			size_t q = 0;
			if (outbox_count(db, &q, &err) < 0) {
				reply("err %s", err);
				xfree_ptr(&err);
			} else {
				reply("ok %zu", q);
			}
		} else if (!strcmp(cmd, "stop")) {
			live_stop(l);
			reply("ok");
		} else if (!strcmp(cmd, "quit")) {
			break;
		} else {
			reply("err unknown command or wrong arguments: %s", cmd);
		}
	}
	free(line);
	live_free(&l);
	outbox_observer_free(&ob);
	status_close(&db);
	free(db_path);
	account_unlock(&lock_fd);
	account_free(&a);
	strlist_free(&accounts);
	strlist_free(&idle);
	config_free(&cfg);
	if (hooks_fd >= 0)
		close(hooks_fd);
	reply("bye");
	log_close();
	return status;
}
