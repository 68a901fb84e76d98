/* live.c — the threads that keep a mounted account in step with the server
 * (sync/live.h). What each outbox op does is in live_ops.c.
 *
 * Threads:
 *   worker    owns its IMAP connection, a Maildir handle and a status DB
 *             connection. One loop does, in this order, whatever is due:
 *             drain the outbox -> folder syncs asked for (IDLE, on-access)
 *             -> the periodic full sync. Because one thread does all of it,
 *             a sync never runs while an op is being applied, and every
 *             folder's sync starts with an empty outbox: the engine calls
 *             back before each folder (sync_request.before_folder) and the
 *             ops queued meanwhile go out then, so an op waits at most for
 *             the sync of one folder. Syncs use the engine (sync_account)
 *             with skip_lock and keep_local_names, one folder at a time.
 *   idler     only when the server repository has an idle op: its own
 *             connection, IDLE on the first idle folder (one folder for now;
 *             the others are covered by the periodic sync); a change queues
 *             a sync of that folder.
 *   notifier  calls the live hooks, in order, for every Maildir change the
 *             engine reports, holding no lock at all: a hook ends in
 *             maildir_fs_notify_*, which waits for kernel directory locks
 *             that a FUSE request inside an observer callback may hold, and
 *             that callback may wait for the status DB or for `lock` below.
 *
 * Locks: `lock` guards the scheduling flags, the folder queues and the
 * state; it is held only for those fields, never across I/O, sqlite or a
 * hook, so live_outbox_changed / live_folder_opened (called from FUSE
 * observer callbacks) never wait for long. `nlock` guards the hook queue.
 *
 * Offline: a failed connection (or an op that failed with a dead connection)
 * makes the worker wait 1 s, doubling to 5 min, before the next try;
 * live_wake() retries at once. An op the server refused is retried after
 * the same kind of delay (1, 2, 4, 8 s) and dropped at the fifth refusal
 * (live_ops.c); while it waits, nothing behind it runs and no sync starts.
 */
#include "sync/live.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/maildir.h"
#include "cache/outbox.h"
#include "cache/status.h"
#include "common/log.h"
#include "imap/imap_repo.h"
#include "sync/engine.h"
#include "sync/folder_map.h"
#include "sync/live_internal.h"

#define BACKOFF_MAX 300        /* seconds */
#define IDLE_TIMEOUT (29 * 60) /* servers may drop IDLE after 30 min */

enum hook_kind { EV_RENAMED, EV_ADDED, EV_REMOVED, EV_FOLDER };

struct hook_ev {
	struct hook_ev *next;
	enum hook_kind kind;
	char *folder, *old_sub, *old_name, *new_sub, *new_name; /* owned */
};

struct live {
	const struct account_settings *a; /* borrowed */
	struct live_hooks hooks;
	double refresh_minutes, open_age;
	struct strlist idle_folders;      /* remote names */

	pthread_mutex_t lock;
	pthread_cond_t cond;              /* CLOCK_MONOTONIC */
	bool started, stopping, woken, dirty;
	unsigned wake_gen;                /* counts live_wake calls (for the idler) */
	struct strlist want_folders;      /* local names, on-access (age checked) */
	struct strlist force_folders;     /* remote names, IDLE (always synced) */
	/* state (live_get_state) */
	bool connected;
	char *last_error;
	int64_t last_full_sync;
	size_t queued;
	unsigned backoff;

	struct live_worker w;             /* the worker thread's */
	pthread_t worker_th, idle_th, notify_th;
	bool have_worker, have_idle, have_notify;
	int cancel_pipe[2];               /* written once by live_stop (IDLE) */

	pthread_mutex_t nlock;
	pthread_cond_t ncond;
	struct hook_ev *nhead, **ntail;
	bool nstop;
};

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Waits on cond until deadline (monotonic seconds; INFINITY = forever). */
static void wait_until(struct live *l, double deadline)
{
	if (isinf(deadline)) {
		pthread_cond_wait(&l->cond, &l->lock);
		return;
	}
	struct timespec ts;
	ts.tv_sec = (time_t)deadline;
	ts.tv_nsec = (long)((deadline - (double)ts.tv_sec) * 1e9);
	pthread_cond_timedwait(&l->cond, &l->lock, &ts);
}

static bool stopping(struct live *l)
{
	pthread_mutex_lock(&l->lock);
	bool s = l->stopping;
	pthread_mutex_unlock(&l->lock);
	return s;
}

static void set_error(struct live *l, const char *what)
{
	pthread_mutex_lock(&l->lock);
	free(l->last_error);
	l->last_error = what ? xstrdup(what) : NULL;
	pthread_mutex_unlock(&l->lock);
}

static void add_unique(struct strlist *list, const char *s)
{
	if (strlist_find(list, s) < 0)
		strlist_add(list, s);
}

/* --- hooks: queued by whoever changes the Maildir, called by the notifier */

static void hook_push(struct live *l, enum hook_kind kind, const char *folder, const char *os,
		      const char *on, const char *ns, const char *nn)
{
	if (!l->hooks.renamed && !l->hooks.added && !l->hooks.removed && !l->hooks.folder_added)
		return;
	struct hook_ev *ev = xcalloc(1, sizeof(*ev));
	ev->kind = kind;
	ev->folder = xstrdup(folder ? folder : "");
	ev->old_sub = os ? xstrdup(os) : NULL;
	ev->old_name = on ? xstrdup(on) : NULL;
	ev->new_sub = ns ? xstrdup(ns) : NULL;
	ev->new_name = nn ? xstrdup(nn) : NULL;
	pthread_mutex_lock(&l->nlock);
	*l->ntail = ev;
	l->ntail = &ev->next;
	pthread_cond_signal(&l->ncond);
	pthread_mutex_unlock(&l->nlock);
}

static void hook_free(struct hook_ev *ev)
{
	free(ev->folder);
	free(ev->old_sub);
	free(ev->old_name);
	free(ev->new_sub);
	free(ev->new_name);
	free(ev);
}

/* maildir_change_fn for the engine's Maildir repositories (any engine
 * thread). */
static void on_maildir_change(void *ctx, const char *folder, const char *os, const char *on,
			      const char *ns, const char *nn)
{
	struct live *l = ctx;
	enum hook_kind k = !on && !nn ? EV_FOLDER : !on ? EV_ADDED : !nn ? EV_REMOVED : EV_RENAMED;
	hook_push(l, k, folder, os, on, ns, nn);
}

static void *notify_main(void *arg)
{
	struct live *l = arg;
	const struct live_hooks *h = &l->hooks;
	pthread_mutex_lock(&l->nlock);
	for (;;) {
		while (!l->nhead && !l->nstop)
			pthread_cond_wait(&l->ncond, &l->nlock);
		struct hook_ev *ev = l->nhead;
		if (!ev)
			break;
		l->nhead = ev->next;
		if (!l->nhead)
			l->ntail = &l->nhead;
		pthread_mutex_unlock(&l->nlock);
		switch (ev->kind) {
		case EV_RENAMED:
			if (h->renamed)
				h->renamed(h->ctx, ev->folder, ev->old_sub, ev->old_name, ev->new_sub,
					   ev->new_name);
			break;
		case EV_ADDED:
			if (h->added)
				h->added(h->ctx, ev->folder, ev->new_sub, ev->new_name);
			break;
		case EV_REMOVED:
			if (h->removed)
				h->removed(h->ctx, ev->folder, ev->old_sub, ev->old_name);
			break;
		case EV_FOLDER:
			if (h->folder_added)
				h->folder_added(h->ctx, ev->folder);
			break;
		}
		hook_free(ev);
		pthread_mutex_lock(&l->nlock);
	}
	pthread_mutex_unlock(&l->nlock);
	return NULL;
}

/* --- the worker --------------------------------------------------------- */

enum drain_result {
	DRAIN_DONE,    /* the outbox is empty */
	DRAIN_OFFLINE, /* no connection */
	DRAIN_REFUSED, /* the oldest op waits for a retry */
	DRAIN_DB,      /* status DB trouble */
	DRAIN_STOPPED,
};

static void update_queued(struct live *l)
{
	size_t n = 0;
	char *err = NULL;
	if (outbox_count(l->w.db, &n, &err) < 0) {
		log_error("live: %s", err);
		free(err);
		return;
	}
	pthread_mutex_lock(&l->lock);
	l->queued = n;
	pthread_mutex_unlock(&l->lock);
}

static void set_connected(struct live *l, bool up)
{
	pthread_mutex_lock(&l->lock);
	l->connected = up;
	if (up) {
		l->backoff = 0;
	} else {
		free(l->last_error);
		l->last_error = l->w.error ? xstrdup(l->w.error) : NULL;
	}
	pthread_mutex_unlock(&l->lock);
}

static void free_ops(struct outbox_op *ops, size_t n)
{
	for (size_t i = 0; i < n; i++)
		outbox_op_clear(&ops[i]);
	free(ops);
}

/* The oldest op, and when it is a FLAGS or DELETE op the ones behind it
 * (up to LIVE_BATCH), so a run of them goes to the server at once. */
static int outbox_peek_batch(struct live *l, struct outbox_op **ops_r, size_t *n_r, char **err)
{
	struct outbox_op first;
	*ops_r = NULL;
	*n_r = 0;
	int rc = outbox_peek(l->w.db, &first, err);
	if (rc <= 0)
		return rc;
	bool batchable = first.kind == OUTBOX_FLAGS || first.kind == OUTBOX_DELETE;
	if (!batchable) {
		*ops_r = xmalloc(sizeof(**ops_r));
		**ops_r = first;
		*n_r = 1;
		return 0;
	}
	outbox_op_clear(&first);
	return outbox_list(l->w.db, LIVE_BATCH, ops_r, n_r, err);
}

/* Applies queued ops oldest first until the queue is empty or one cannot
 * be applied now. *attempts_r: the refused op's attempts so far. */
static enum drain_result drain(struct live *l, unsigned *attempts_r)
{
	struct live_worker *w = &l->w;
	bool retried = false;
	for (;;) {
		if (stopping(l))
			return DRAIN_STOPPED;
		struct outbox_op *ops = NULL;
		size_t n = 0;
		char *err = NULL;
		int rc = outbox_peek_batch(l, &ops, &n, &err);
		if (rc < 0) {
			log_error("live: %s", err);
			set_error(l, err);
			free(err);
			return DRAIN_DB;
		}
		if (n == 0) {
			update_queued(l);
			return DRAIN_DONE;
		}
		if (live_worker_connect(w) < 0) {
			free_ops(ops, n);
			return DRAIN_OFFLINE;
		}
		set_connected(l, true);
		size_t k = live_batch_len(ops, n);
		enum live_op_result r = live_run_ops(w, ops, k);
		*attempts_r = ops[0].attempts + 1;
		free_ops(ops, n);
		update_queued(l);
		switch (r) {
		case LIVE_OP_DONE:
			break;
		case LIVE_OP_OFFLINE:
			/* Once per round at once on a fresh connection (the
			 * old one may just have timed out). */
			log_warn("live: %s", w->error ? w->error : "connection lost");
			if (retried)
				return DRAIN_OFFLINE;
			retried = true;
			break;
		case LIVE_OP_REFUSED:
			set_error(l, w->error);
			return DRAIN_REFUSED;
		case LIVE_OP_DB:
			set_error(l, w->error);
			return DRAIN_DB;
		}
	}
}

/* sync_request.before_folder: ops queued while a sync runs go out between
 * its folders, not after the whole account (the engine then syncs folder
 * after folder on this thread, so nothing else touches the server or the
 * status rows meanwhile). What cannot go out now waits for the loop. */
static bool between_folders(void *ctx, const char *remote, const char *local)
{
	struct live *l = ctx;
	(void)remote;
	(void)local;
	unsigned attempts = 0;
	enum drain_result dr = drain(l, &attempts);
	if (dr == DRAIN_STOPPED)
		return false;
	if (dr != DRAIN_DONE) {
		pthread_mutex_lock(&l->lock);
		l->dirty = true;
		pthread_mutex_unlock(&l->lock);
	}
	live_worker_forget_rows(&l->w); /* the sync writes rows next */
	return !stopping(l);
}

/* One engine run inside the mount: folders NULL = all. Returns false when
 * it reported errors. */
static bool run_sync(struct live *l, const struct strlist *folders)
{
	struct sync_request req = {
		.folders = folders,
		.skip_lock = true,
		.keep_local_names = true,
		.on_change = on_maildir_change,
		.change_ctx = l,
		.before_folder = between_folders,
		.before_folder_ctx = l,
	};
	enum sync_exit e = sync_account(l->a, &req);
	live_worker_forget_rows(&l->w);
	return e != SYNC_EXIT_ERRORS;
}

/* True when the folder (remote name) was synced less than open_age ago. */
static bool recently_synced(struct live *l, const char *rname)
{
	struct status_folder sf;
	char *err = NULL;
	int rc = status_folder_get(l->w.db, rname, &sf, &err);
	if (rc < 0) {
		log_warn("live: %s", err);
		free(err);
		return false;
	}
	return rc == 1 && sf.last_sync > 0 &&
	       (double)((int64_t)time(NULL) - sf.last_sync) < l->open_age;
}

/* The syncs asked for (IDLE, on-access) and, when due, the full sync. */
static void run_syncs(struct live *l, struct strlist *want, struct strlist *force, bool full)
{
	struct strlist folders = STRLIST_INIT;
	for (size_t i = 0; i < force->n; i++)
		add_unique(&folders, force->v[i]);
	for (size_t i = 0; i < want->n; i++) {
		char *rname = live_remote_name(&l->w, want->v[i]);
		if (rname && !recently_synced(l, rname))
			add_unique(&folders, rname);
		free(rname);
	}
	if (folders.n && !full) {
		log_debug(LOG_DBG_SYNC, "live: syncing %zu folder(s) now", folders.n);
		if (!run_sync(l, &folders))
			set_error(l, "a folder sync reported errors (see the log)");
	}
	strlist_free(&folders);
	if (full) {
		bool ok = run_sync(l, NULL);
		pthread_mutex_lock(&l->lock);
		l->last_full_sync = (int64_t)time(NULL);
		if (!ok) {
			free(l->last_error);
			l->last_error = xstrdup("the last full sync reported errors (see the log)");
		}
		pthread_mutex_unlock(&l->lock);
	}
}

static void *worker_main(void *arg)
{
	struct live *l = arg;
	double next_full = now_mono(); /* a full sync right at the start */
	double retry_at = 0;           /* nothing before this (offline, refused) */
	bool full_due = true;
	for (;;) {
		pthread_mutex_lock(&l->lock);
		for (;;) {
			if (l->stopping)
				break;
			double now = now_mono();
			if (l->woken) {
				l->woken = false;
				l->backoff = 0;
				retry_at = 0;
				full_due = true;
				break;
			}
			if (l->refresh_minutes > 0 && now >= next_full)
				full_due = true;
			bool work = l->dirty || l->want_folders.n || l->force_folders.n || full_due;
			if (work && now >= retry_at)
				break;
			double deadline = INFINITY;
			if (work)
				deadline = retry_at;
			else if (l->refresh_minutes > 0)
				deadline = next_full;
			wait_until(l, deadline);
		}
		if (l->stopping) {
			pthread_mutex_unlock(&l->lock);
			break;
		}
		l->dirty = false;
		struct strlist want = l->want_folders, force = l->force_folders;
		l->want_folders = (struct strlist)STRLIST_INIT;
		l->force_folders = (struct strlist)STRLIST_INIT;
		pthread_mutex_unlock(&l->lock);

		unsigned attempts = 0;
		enum drain_result dr = drain(l, &attempts);
		if (dr == DRAIN_DONE && (want.n || force.n || full_due)) {
			if (live_worker_connect(&l->w) < 0) {
				dr = DRAIN_OFFLINE;
			} else {
				set_connected(l, true);
				run_syncs(l, &want, &force, full_due);
				if (full_due) {
					full_due = false;
					next_full = now_mono() + l->refresh_minutes * 60;
				}
			}
		}
		if (dr == DRAIN_STOPPED || dr == DRAIN_DONE) {
			strlist_free(&want);
			strlist_free(&force);
			continue;
		}
		/* Try again later: keep what was asked for. */
		pthread_mutex_lock(&l->lock);
		for (size_t i = 0; i < want.n; i++)
			add_unique(&l->want_folders, want.v[i]);
		for (size_t i = 0; i < force.n; i++)
			add_unique(&l->force_folders, force.v[i]);
		l->dirty = true;
		unsigned delay;
		if (dr == DRAIN_REFUSED) {
			/* 1, 2, 4, 8 s after the 1st..4th refusal */
			delay = attempts <= 1 ? 1 : attempts > 9 ? BACKOFF_MAX : 1u << (attempts - 1);
		} else {
			l->backoff = l->backoff ? l->backoff * 2 : 1;
			if (l->backoff > BACKOFF_MAX)
				l->backoff = BACKOFF_MAX;
			delay = l->backoff;
		}
		retry_at = now_mono() + delay;
		pthread_mutex_unlock(&l->lock);
		if (dr == DRAIN_OFFLINE) {
			/* What the server got meanwhile: a full sync once back. */
			full_due = true;
			set_connected(l, false);
			log_warn("live: server unreachable (%s); retrying in %u s",
				 l->w.error ? l->w.error : "?", delay);
		}
		strlist_free(&want);
		strlist_free(&force);
	}
	live_worker_disconnect(&l->w);
	return NULL;
}

/* --- IDLE --------------------------------------------------------------- */

/* Sleeps up to seconds, or until live_stop or live_wake. */
static void idle_pause(struct live *l, unsigned seconds)
{
	pthread_mutex_lock(&l->lock);
	double deadline = now_mono() + seconds;
	unsigned gen = l->wake_gen;
	while (!l->stopping && l->wake_gen == gen && now_mono() < deadline)
		wait_until(l, deadline);
	pthread_mutex_unlock(&l->lock);
}

static void *idle_main(void *arg)
{
	struct live *l = arg;
	const char *folder = l->idle_folders.v[0];
	struct repo *r = NULL;
	unsigned backoff = 0;
	while (!stopping(l)) {
		if (!r) {
			r = sync_make_remote(l->a);
			struct repo_folder_status st;
			int rc = r->ops->connect(r);
			if (rc == REPO_OK && !imap_repo_has_capability(r, "IDLE")) {
				log_info("live: the server has no IDLE; %s is synced every %.1f minutes",
					 folder, l->refresh_minutes);
				break;
			}
			if (rc == REPO_OK)
				rc = r->ops->select_folder(r, folder, false, &st);
			if (rc != REPO_OK) {
				log_debug(LOG_DBG_SYNC, "live: IDLE: %s", repo_error(r));
				r->ops->free(&r);
				backoff = backoff ? (backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2)
						  : 1;
				pthread_mutex_lock(&l->lock);
				unsigned gen = l->wake_gen;
				pthread_mutex_unlock(&l->lock);
				idle_pause(l, backoff);
				pthread_mutex_lock(&l->lock);
				if (l->wake_gen != gen)
					backoff = 0;
				pthread_mutex_unlock(&l->lock);
				continue;
			}
			backoff = 0;
			log_debug(LOG_DBG_SYNC, "live: IDLE on %s", folder);
		}
		bool changed = false;
		int rc = r->ops->idle(r, IDLE_TIMEOUT, l->cancel_pipe[0], &changed);
		if (rc != REPO_OK) {
			if (!stopping(l))
				log_debug(LOG_DBG_SYNC, "live: IDLE: %s", repo_error(r));
			r->ops->free(&r);
			continue;
		}
		if (changed) {
			pthread_mutex_lock(&l->lock);
			add_unique(&l->force_folders, folder);
			pthread_cond_broadcast(&l->cond);
			pthread_mutex_unlock(&l->lock);
		}
	}
	if (r)
		r->ops->free(&r);
	return NULL;
}

/* --- API ---------------------------------------------------------------- */

struct live *live_new(const struct account_settings *a, const struct live_options *opt,
		      const struct live_hooks *hooks, char **error_r)
{
	struct live *l = xcalloc(1, sizeof(*l));
	l->a = a;
	if (hooks)
		l->hooks = *hooks;
	l->refresh_minutes = opt ? opt->refresh_minutes : 0;
	l->open_age = opt ? opt->open_sync_age_seconds : 0;
	if (opt && opt->idle_folders) {
		for (size_t i = 0; i < opt->n_idle_folders; i++)
			add_unique(&l->idle_folders, opt->idle_folders[i]);
	} else {
		strlist_add(&l->idle_folders, "INBOX");
	}
	l->cancel_pipe[0] = l->cancel_pipe[1] = -1;
	l->ntail = &l->nhead;
	pthread_mutex_init(&l->lock, NULL);
	pthread_mutex_init(&l->nlock, NULL);
	pthread_cond_init(&l->ncond, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&l->cond, &ca);
	pthread_condattr_destroy(&ca);

	l->w.a = a;
	l->w.fmap = folder_map_new(a, false);
	char *path = sync_status_db_path(a);
	int rc = status_open(path, false, a->fsync, &l->w.db, error_r);
	free(path);
	if (rc < 0)
		goto err;
	struct maildir_settings ms = {
		.root = a->local.localfolders,
		.sep = a->local.sep,
		.infosep = a->filters.infosep ? a->filters.infosep : ':',
		.name_from_date = a->filters.filename_use_mail_timestamp,
		.mtime_from_date = a->filters.utime_from_header,
		.fmd5_name = a->local.nametrans.set ? folder_map_fmd5_name : NULL,
		.fmd5_ctx = l->w.fmap,
	};
	l->w.local = maildir_repo_new(a->local.name, &ms);
	if (l->w.local->ops->connect(l->w.local) != REPO_OK) {
		*error_r = xstrdup(repo_error(l->w.local));
		goto err;
	}
	if (pipe2(l->cancel_pipe, O_CLOEXEC) < 0) {
		*error_r = xasprintf("live: pipe: %s", strerror(errno));
		goto err;
	}
	update_queued(l);
	return l;
err:
	live_free(&l);
	return NULL;
}

int live_start(struct live *l, char **error_r)
{
	if (l->started) {
		*error_r = xstrdup("live: already started");
		return -1;
	}
	int rc = pthread_create(&l->notify_th, NULL, notify_main, l);
	if (rc != 0)
		goto fail;
	l->have_notify = true;
	rc = pthread_create(&l->worker_th, NULL, worker_main, l);
	if (rc != 0)
		goto fail;
	l->have_worker = true;
	/* IDLE only when the back-end can (checked without connecting). */
	struct repo *probe = sync_make_remote(l->a);
	bool can_idle = probe->ops->idle != NULL && l->idle_folders.n > 0;
	probe->ops->free(&probe);
	if (can_idle) {
		if (l->idle_folders.n > 1)
			log_info("live: IDLE on %s only; %zu other idle folder(s) follow the "
				 "periodic sync", l->idle_folders.v[0], l->idle_folders.n - 1);
		rc = pthread_create(&l->idle_th, NULL, idle_main, l);
		if (rc != 0)
			goto fail;
		l->have_idle = true;
	}
	l->started = true;
	return 0;
fail:
	*error_r = xasprintf("live: cannot start a thread: %s", strerror(rc));
	live_stop(l);
	return -1;
}

void live_outbox_changed(struct live *l)
{
	pthread_mutex_lock(&l->lock);
	l->dirty = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

void live_folder_opened(struct live *l, const char *local_folder)
{
	if (l->open_age <= 0)
		return;
	pthread_mutex_lock(&l->lock);
	if (strlist_find(&l->want_folders, local_folder) < 0) {
		strlist_add(&l->want_folders, local_folder);
		pthread_cond_broadcast(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
}

void live_wake(struct live *l)
{
	pthread_mutex_lock(&l->lock);
	l->woken = true;
	l->wake_gen++;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

void live_get_state(struct live *l, struct live_state *st_r)
{
	pthread_mutex_lock(&l->lock);
	st_r->connected = l->connected;
	st_r->last_error = l->last_error ? xstrdup(l->last_error) : NULL;
	st_r->last_full_sync = l->last_full_sync;
	st_r->queued = l->queued;
	st_r->backoff_seconds = l->connected ? 0 : l->backoff;
	pthread_mutex_unlock(&l->lock);
}

void live_state_clear(struct live_state *st)
{
	free(st->last_error);
	memset(st, 0, sizeof(*st));
}

void live_stop(struct live *l)
{
	pthread_mutex_lock(&l->lock);
	l->stopping = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	if (l->cancel_pipe[1] >= 0) {
		ssize_t n;
		do
			n = write(l->cancel_pipe[1], "x", 1);
		while (n < 0 && errno == EINTR);
	}
	if (l->have_worker)
		pthread_join(l->worker_th, NULL);
	if (l->have_idle)
		pthread_join(l->idle_th, NULL);
	l->have_worker = l->have_idle = false;
	/* Hooks still queued are delivered before the notifier ends. */
	pthread_mutex_lock(&l->nlock);
	l->nstop = true;
	pthread_cond_signal(&l->ncond);
	pthread_mutex_unlock(&l->nlock);
	if (l->have_notify)
		pthread_join(l->notify_th, NULL);
	l->have_notify = false;
}

void live_free(struct live **lp)
{
	struct live *l = *lp;
	if (!l)
		return;
	live_stop(l);
	while (l->nhead) {
		struct hook_ev *ev = l->nhead;
		l->nhead = ev->next;
		hook_free(ev);
	}
	live_worker_disconnect(&l->w);
	live_worker_forget_rows(&l->w);
	if (l->w.local)
		l->w.local->ops->free(&l->w.local);
	status_close(&l->w.db);
	folder_map_free(&l->w.fmap);
	free(l->w.error);
	for (int i = 0; i < 2; i++)
		if (l->cancel_pipe[i] >= 0)
			close(l->cancel_pipe[i]);
	strlist_free(&l->idle_folders);
	strlist_free(&l->want_folders);
	strlist_free(&l->force_folders);
	free(l->last_error);
	pthread_mutex_destroy(&l->lock);
	pthread_mutex_destroy(&l->nlock);
	pthread_cond_destroy(&l->cond);
	pthread_cond_destroy(&l->ncond);
	free(l);
	*lp = NULL;
}
