#include "sync/idlewatch.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pyeval.h"
#include "common/xalloc.h"
#include "imap/imap_repo.h"
#include "sync/engine.h"

#define IDLE_MAX (29 * 60) /* servers may drop IDLE after 30 min */
#define BACKOFF_MAX 300    /* seconds */

struct watcher {
	struct idlewatch *iw;  /* borrowed */
	size_t account;
	const char *folder;    /* borrowed from iw->folders */
	int idle_seconds;
	pthread_t th;
	bool started;
};

struct idlewatch {
	const struct account_settings *accounts; /* borrowed */
	struct strlist *folders;                 /* per account */
	int *keepalive;                          /* per account, seconds */
	size_t n_accounts;

	struct watcher *w;
	size_t n_w;
	/* cancel[0] readable = stop (the IMAP idle op polls it too) */
	int cancel[2];
	/* The watchers' reports to the sleeping thread. */
	pthread_mutex_t lock;
	struct strlist pending;   /* "<account index>\n<folder>" */
	int notify[2];            /* a byte per report wakes the sleeper */
	bool stopping;
};

void idlewatch_free(struct idlewatch **iwp)
{
	struct idlewatch *iw = *iwp;
	if (!iw)
		return;
	for (size_t i = 0; i < iw->n_accounts; i++)
		strlist_free(&iw->folders[i]);
	free(iw->folders);
	free(iw->keepalive);
	free(iw);
	*iwp = NULL;
}

int idlewatch_load(const struct config *cfg, const struct account_settings *accounts, size_t n,
		   struct idlewatch **iw_r, char **error_r)
{
	*iw_r = NULL;
	struct idlewatch *iw = xcalloc(1, sizeof(*iw));
	iw->accounts = accounts;
	iw->n_accounts = n;
	iw->folders = xcalloc(n ? n : 1, sizeof(*iw->folders));
	iw->keepalive = xcalloc(n ? n : 1, sizeof(*iw->keepalive));
	size_t total = 0;
	for (size_t i = 0; i < n; i++) {
		const struct account_settings *a = &accounts[i];
		if (a->remote.type != REPO_TYPE_IMAP)
			continue;
		char *section = xasprintf("Repository %s", a->remote.name);
		char *err = NULL, *why = NULL;
		const char *v = config_get(cfg, section, "idlefolders", &err);
		int64_t ka = 0;
		if (!err && v && account_parse_pylist(v, &iw->folders[i], &why) < 0) {
			/* Not a plain list literal: Python decides, as in
			 * OfflineIMAP (localeval.eval). */
			free(why);
			why = NULL;
			const char *pyfile = config_get(cfg, "general", "pythonfile", NULL);
			if (pyfile && *pyfile) {
				char *expanded = config_expand_path(pyfile);
				pyeval_configure(expanded);
				free(expanded);
			}
			strlist_free(&iw->folders[i]);
			if (pyeval_eval_strlist(v, 0, &iw->folders[i], &why) < 0)
				err = xasprintf("%s: option 'idlefolders' in section '%s': %s",
						config_where(cfg, section, "idlefolders"), section, why);
			free(why);
		}
		if (!err && config_get_int(cfg, section, "keepalive", 0, &ka, &err) == 0 && ka < 0)
			err = xasprintf("%s: option 'keepalive' in section '%s': %lld is negative",
					config_where(cfg, section, "keepalive"), section, (long long)ka);
		free(section);
		if (err) {
			*error_r = err;
			idlewatch_free(&iw);
			return -1;
		}
		/* keepalive 0 with idlefolders means 29 minutes (repository/IMAP.py
		 * getkeepalive); IDLE is never held longer than that. */
		iw->keepalive[i] = ka == 0 || ka > IDLE_MAX ? IDLE_MAX : (int)ka;
		total += iw->folders[i].n;
	}
	if (total == 0)
		idlewatch_free(&iw);
	*iw_r = iw;
	return 0;
}

static bool stopping(struct idlewatch *iw)
{
	pthread_mutex_lock(&iw->lock);
	bool s = iw->stopping;
	pthread_mutex_unlock(&iw->lock);
	return s;
}

/* Waits up to seconds or until the watch stops. */
static void pause_for(struct idlewatch *iw, unsigned seconds)
{
	struct pollfd p = { .fd = iw->cancel[0], .events = POLLIN };
	while (poll(&p, 1, (int)seconds * 1000) < 0 && errno == EINTR)
		;
}

static void report(struct idlewatch *iw, size_t account, const char *folder)
{
	char *key = xasprintf("%zu\n%s", account, folder);
	pthread_mutex_lock(&iw->lock);
	if (strlist_find(&iw->pending, key) < 0) {
		strlist_add_owned(&iw->pending, key);
		key = NULL;
		char b = 1;
		ssize_t wr = write(iw->notify[1], &b, 1);
		(void)wr; /* a full pipe already wakes the sleeper */
	}
	pthread_mutex_unlock(&iw->lock);
	free(key);
}

static void *watch_main(void *arg)
{
	struct watcher *w = arg;
	struct idlewatch *iw = w->iw;
	const struct account_settings *a = &iw->accounts[w->account];
	struct repo *r = NULL;
	unsigned backoff = 0;
	while (!stopping(iw)) {
		if (!r) {
			r = sync_make_remote(a);
			struct repo_folder_status st;
			int rc = r->ops->connect(r);
			if (rc == REPO_OK && (!r->ops->idle || !imap_repo_has_capability(r, "IDLE"))) {
				log_warn("IMAP IDLE not supported on server '%s'. Sleep until next "
					 "refresh cycle.", a->remote.host);
				break;
			}
			if (rc == REPO_OK)
				rc = r->ops->select_folder(r, w->folder, false, &st);
			if (rc != REPO_OK) {
				if (!stopping(iw))
					log_error("Account %s: IDLE on %s: %s", a->name, w->folder,
						  repo_error(r));
				r->ops->free(&r);
				backoff = backoff ? (backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2)
						  : 1;
				pause_for(iw, backoff);
				continue;
			}
			backoff = 0;
			log_debug(LOG_DBG_SYNC, "Account %s: IDLE on %s", a->name, w->folder);
		}
		bool changed = false;
		int rc = r->ops->idle(r, w->idle_seconds, iw->cancel[0], &changed);
		if (rc != REPO_OK) {
			if (!stopping(iw))
				log_debug(LOG_DBG_SYNC, "Account %s: IDLE on %s: %s", a->name,
					  w->folder, repo_error(r));
			r->ops->free(&r);
			continue;
		}
		if (changed && !stopping(iw))
			report(iw, w->account, w->folder);
	}
	if (r)
		r->ops->free(&r);
	return NULL;
}

static bool start_watchers(struct idlewatch *iw)
{
	if (pipe2(iw->cancel, O_CLOEXEC) < 0)
		return false;
	if (pipe2(iw->notify, O_CLOEXEC | O_NONBLOCK) < 0) {
		close(iw->cancel[0]);
		close(iw->cancel[1]);
		return false;
	}
	pthread_mutex_init(&iw->lock, NULL);
	iw->stopping = false;
	iw->n_w = 0;
	for (size_t i = 0; i < iw->n_accounts; i++)
		iw->n_w += iw->folders[i].n;
	iw->w = xcalloc(iw->n_w, sizeof(*iw->w));
	size_t k = 0;
	for (size_t i = 0; i < iw->n_accounts; i++) {
		for (size_t j = 0; j < iw->folders[i].n; j++, k++) {
			struct watcher *w = &iw->w[k];
			*w = (struct watcher){ .iw = iw, .account = i, .folder = iw->folders[i].v[j],
					       .idle_seconds = iw->keepalive[i] };
			w->started = pthread_create(&w->th, NULL, watch_main, w) == 0;
			if (!w->started)
				log_error("Account %s: cannot start the IDLE thread for %s",
					  iw->accounts[i].name, w->folder);
		}
	}
	return true;
}

static void stop_watchers(struct idlewatch *iw)
{
	pthread_mutex_lock(&iw->lock);
	iw->stopping = true;
	pthread_mutex_unlock(&iw->lock);
	char b = 1;
	ssize_t wr = write(iw->cancel[1], &b, 1); /* wakes IDLE and every pause */
	(void)wr;
	for (size_t i = 0; i < iw->n_w; i++)
		if (iw->w[i].started)
			pthread_join(iw->w[i].th, NULL);
	free(iw->w);
	iw->w = NULL;
	iw->n_w = 0;
	strlist_free(&iw->pending);
	close(iw->cancel[0]);
	close(iw->cancel[1]);
	close(iw->notify[0]);
	close(iw->notify[1]);
	pthread_mutex_destroy(&iw->lock);
}

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void idlewatch_sleep(struct idlewatch *iw, double seconds, idlewatch_over_fn *over,
		     idlewatch_sync_fn *sync, idlewatch_tick_fn *tick, void *ctx)
{
	double end = now_mono() + seconds;
	if (!start_watchers(iw)) {
		log_error("cannot start the IDLE watchers: %s", strerror(errno));
		while (!over() && now_mono() < end) {
			if (tick)
				tick(ctx);
			struct timespec slice = { .tv_sec = 1, .tv_nsec = 0 };
			nanosleep(&slice, NULL);
		}
		return;
	}
	while (!over()) {
		double left = end - now_mono();
		if (left <= 0)
			break;
		if (tick)
			tick(ctx);
		struct pollfd p = { .fd = iw->notify[0], .events = POLLIN };
		int ms = left > 1 ? 1000 : (int)(left * 1000) + 1;
		if (poll(&p, 1, ms) <= 0)
			continue;
		char buf[64];
		while (read(iw->notify[0], buf, sizeof(buf)) > 0)
			;
		for (;;) {
			pthread_mutex_lock(&iw->lock);
			char *key = NULL;
			if (iw->pending.n) {
				key = iw->pending.v[0];
				memmove(iw->pending.v, iw->pending.v + 1,
					(iw->pending.n - 1) * sizeof(*iw->pending.v));
				iw->pending.n--;
			}
			pthread_mutex_unlock(&iw->lock);
			if (!key)
				break;
			char *nl = strchr(key, '\n');
			*nl = '\0';
			if (!over())
				sync(ctx, (size_t)strtoul(key, NULL, 10), nl + 1);
			free(key);
		}
	}
	stop_watchers(iw);
}
