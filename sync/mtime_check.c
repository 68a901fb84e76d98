#include "sync/mtime_check.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cache/maildir.h"
#include "common/log.h"
#include "common/xalloc.h"

static int64_t mtime_ns(const struct stat *st)
{
	return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

static int64_t coarse_now_ns(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

bool mtime_check_dirs(struct repo *local, const char *local_name, int64_t *new_r, int64_t *cur_r)
{
	char *dir = maildir_folder_dir(local, local_name);
	char *n = xasprintf("%s/new", dir), *cu = xasprintf("%s/cur", dir);
	struct stat sn, sc;
	bool ok = stat(n, &sn) == 0 && stat(cu, &sc) == 0;
	if (ok) {
		*new_r = mtime_ns(&sn);
		*cur_r = mtime_ns(&sc);
	}
	free(n);
	free(cu);
	free(dir);
	return ok;
}

/* Whole-second timestamps (tv_nsec 0): a file system that keeps no more. */
static bool whole_seconds(int64_t mn, int64_t mc)
{
	return mn % 1000000000 == 0 || mc % 1000000000 == 0;
}

static int cmp_msg_by_uid(const void *a, const void *b)
{
	const struct repo_msg *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* An mtime can be trusted when any later change must give a different
 * one. Timestamps come from the kernel's coarse clock (a tick, a few ms),
 * so a change in the same tick as the last one we saw would carry the
 * same mtime; but if the coarse clock read just *before* the stat is
 * already past the mtime, every later change is stamped with at least
 * that clock value, hence differs. File systems that keep whole seconds
 * need the mtime to be a second older than the clock. And the state at
 * the stat is the listed one: a state that differed at the stat and
 * matches the later listing was changed after the stat, which the mtime
 * then shows. mbsync sleeps a whole second for the same reason; the
 * background checker below waits for the tick instead. */
bool mtime_check_listing(struct repo *local, struct status_db *st, const char *remote_name,
			 const char *local_name, int64_t folder_id, int64_t *new_r, int64_t *cur_r,
			 struct repo_msg_list *listing_r)
{
	*new_r = *cur_r = 0;
	int64_t clock_ns = coarse_now_ns();
	int64_t mn = 0, mc = 0;
	if (!mtime_check_dirs(local, local_name, &mn, &mc))
		return false;
	bool trusted = whole_seconds(mn, mc) ? mn + 1000000000 < clock_ns && mc + 1000000000 < clock_ns
					     : mn < clock_ns && mc < clock_ns;

	struct status_rec *rows = NULL;
	size_t n_rows = 0;
	char *err = NULL;
	if (status_load(st, folder_id, &rows, &n_rows, &err) < 0) {
		log_debug(LOG_DBG_SYNC, "Folder %s: %s", remote_name, err);
		free(err);
		return false;
	}
	struct repo_msg_list listing = { 0 };
	bool listed = local->ops->list_messages(local, &listing) == REPO_OK;
	bool same = listed && listing.n == n_rows;
	if (same && listing.n)
		qsort(listing.v, listing.n, sizeof(*listing.v), cmp_msg_by_uid);
	for (size_t i = 0; same && i < n_rows; i++)
		same = listing.v[i].uid == rows[i].uid && listing.v[i].flags == rows[i].flags;
	if (listed && listing_r)
		*listing_r = listing;
	else
		repo_msg_list_free(&listing);
	free(rows);
	if (same && trusted) {
		*new_r = mn;
		*cur_r = mc;
	}
	return same;
}

/* Within the caller's transaction, or in one of its own when none is open. */
static void record_in(struct status_db *st, const char *remote_name, int64_t mn, int64_t mc)
{
	struct status_folder sf;
	char *err = NULL;
	if (status_folder_get(st, remote_name, &sf, &err) > 0) {
		sf.new_mtime_ns = mn;
		sf.cur_mtime_ns = mc;
		status_folder_update(st, &sf, &err);
	}
	if (err)
		log_debug(LOG_DBG_SYNC, "Folder %s: %s", remote_name, err);
	free(err);
}

void mtime_check_record(struct status_db *st, const char *remote_name, int64_t mn, int64_t mc)
{
	char *err = NULL;
	if (status_begin_relaxed(st, &err) < 0) {
		log_debug(LOG_DBG_SYNC, "Folder %s: %s", remote_name, err);
		free(err);
		return;
	}
	record_in(st, remote_name, mn, mc);
	if (status_commit(st, &err) < 0) {
		log_debug(LOG_DBG_SYNC, "Folder %s: %s", remote_name, err);
		free(err);
		status_rollback(st);
	}
}

/* ---- the background checker ------------------------------------------ */

struct check_job {
	char *remote, *local;
	int64_t folder_id;
	int64_t new_ns, cur_ns; /* the result: both nonzero when trusted */
};

/* A folder's check done ahead of its sync (mtime_checker_prefetch). */
enum prefetch_state { PF_QUEUED, PF_RUNNING, PF_DONE, PF_TAKEN };
struct prefetch_job {
	char *remote, *local;
	int64_t folder_id;
	enum prefetch_state state;
	bool listed, same;       /* the result, once PF_DONE */
	int64_t new_ns, cur_ns;
	struct repo_msg_list listing;
};

struct mtime_checker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;     /* the thread: a job was queued, or closing */
	pthread_cond_t prefetched; /* takers: a prefetch job is done */
	struct prefetch_job *pf; /* done before any check job */
	size_t n_pf, cap_pf, next_pf;
	size_t pf_reached; /* one past the last job a sync asked for */
	struct check_job *jobs;
	size_t n_jobs, cap_jobs, next_job; /* next_job: the first not yet taken */
	bool closing;
	bool started, failed; /* the thread: started at the first folder */
	char *db_path;
	bool fsync;
	struct repo *local;
};

/* Waits (1 ms steps, 20 at most) until the coarse clock is past the
 * folder's mtimes, so that the listing's result can be trusted: a folder
 * the sync just changed usually has an mtime in the current tick. */
static void wait_for_tick(struct repo *local, const char *local_name)
{
	for (int i = 0; i < 20; i++) {
		int64_t mn, mc;
		if (!mtime_check_dirs(local, local_name, &mn, &mc) || whole_seconds(mn, mc))
			return;
		int64_t newest = mn > mc ? mn : mc;
		if (coarse_now_ns() > newest)
			return;
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
	}
}

static void check_one(struct mtime_checker *chk, struct status_db *st, const struct check_job *job,
		      int64_t *new_r, int64_t *cur_r)
{
	*new_r = *cur_r = 0;
	wait_for_tick(chk->local, job->local);
	struct repo_folder_status lst;
	int64_t mn = 0, mc = 0;
	if (chk->local->ops->select_folder(chk->local, job->local, false, &lst) == REPO_OK &&
	    mtime_check_listing(chk->local, st, job->remote, job->local, job->folder_id, &mn, &mc,
				NULL) &&
	    mn) {
		*new_r = mn;
		*cur_r = mc;
	}
	chk->local->ops->close_folder(chk->local);
}

/* How many folders the prefetch may run ahead of the syncs: enough to keep
 * the thread busy while a sync waits for the server, few enough that
 * memory holds a few listings at a time, not the whole account's. */
#define PREFETCH_AHEAD 2

/* With the lock held: the next prefetch job may run now. */
static bool prefetch_due(const struct mtime_checker *chk)
{
	return chk->next_pf < chk->n_pf && chk->next_pf < chk->pf_reached + PREFETCH_AHEAD &&
	       !chk->closing;
}

/* Prefetch job i (its fields copied: the array may move while unlocked),
 * called and returning with the lock held. */
static void prefetch_one(struct mtime_checker *chk, struct status_db *st, size_t i)
{
	struct prefetch_job job = chk->pf[i];
	chk->pf[i].state = PF_RUNNING;
	pthread_mutex_unlock(&chk->lock);
	struct repo_msg_list listing = { 0 };
	bool same = false;
	int64_t mn = 0, mc = 0;
	struct repo_folder_status lst;
	if (st && chk->local->ops->select_folder(chk->local, job.local, false, &lst) == REPO_OK) {
		same = mtime_check_listing(chk->local, st, job.remote, job.local, job.folder_id, &mn,
					   &mc, &listing);
		chk->local->ops->close_folder(chk->local);
	}
	pthread_mutex_lock(&chk->lock);
	struct prefetch_job *pj = &chk->pf[i];
	pj->listed = listing.v != NULL; /* an empty folder is listed again: cheap */
	pj->same = same;
	pj->new_ns = mn;
	pj->cur_ns = mc;
	pj->listing = listing;
	pj->state = PF_DONE;
	pthread_cond_broadcast(&chk->prefetched);
}

static void *checker_main(void *arg)
{
	struct mtime_checker *chk = arg;
	struct status_db *st = NULL;
	char *err = NULL;
	if (status_open(chk->db_path, false, chk->fsync, &st, &err) < 0) {
		/* the folders stay "unknown": the next run lists them */
		log_debug(LOG_DBG_SYNC, "mtime checker: %s", err);
		free(err);
	}
	pthread_mutex_lock(&chk->lock);
	for (;;) {
		while (!prefetch_due(chk) && chk->next_job == chk->n_jobs && !chk->closing)
			pthread_cond_wait(&chk->wake, &chk->lock);
		if (prefetch_due(chk)) {
			size_t i = chk->next_pf++;
			if (chk->pf[i].state == PF_QUEUED) /* else its sync took it over */
				prefetch_one(chk, st, i);
			continue;
		}
		if (chk->next_job == chk->n_jobs)
			break;
		size_t i = chk->next_job++;
		struct check_job job = chk->jobs[i]; /* jobs may move while unlocked */
		pthread_mutex_unlock(&chk->lock);
		int64_t mn = 0, mc = 0;
		if (st)
			check_one(chk, st, &job, &mn, &mc);
		pthread_mutex_lock(&chk->lock);
		chk->jobs[i].new_ns = mn;
		chk->jobs[i].cur_ns = mc;
	}
	pthread_mutex_unlock(&chk->lock);
	status_close(&st);
	return NULL;
}

struct mtime_checker *mtime_checker_new(const char *db_path, bool fsync, struct repo *local)
{
	struct mtime_checker *chk = xcalloc(1, sizeof(*chk));
	chk->db_path = xstrdup(db_path);
	chk->fsync = fsync;
	chk->local = local;
	pthread_mutex_init(&chk->lock, NULL);
	pthread_cond_init(&chk->wake, NULL);
	pthread_cond_init(&chk->prefetched, NULL);
	return chk;
}

/* With the lock held: the thread runs, or never will (false). */
static bool ensure_started(struct mtime_checker *chk)
{
	if (!chk->started && !chk->failed) {
		/* Only now: a run that changes nothing pays for no thread and
		 * no second database connection. */
		if (pthread_create(&chk->thread, NULL, checker_main, chk) == 0) {
			chk->started = true;
		} else {
			chk->failed = true;
			log_debug(LOG_DBG_SYNC, "mtime checker: no thread; changed folders are "
						"listed again by the next run");
		}
	}
	return !chk->failed;
}

void mtime_checker_prefetch(struct mtime_checker *chk, const char *remote_name,
			    const char *local_name, int64_t folder_id)
{
	if (!chk)
		return;
	pthread_mutex_lock(&chk->lock);
	if (ensure_started(chk)) {
		xgrow(&chk->pf, &chk->cap_pf, chk->n_pf + 1, sizeof(*chk->pf));
		chk->pf[chk->n_pf++] = (struct prefetch_job){ .remote = xstrdup(remote_name),
							      .local = xstrdup(local_name),
							      .folder_id = folder_id,
							      .state = PF_QUEUED };
		pthread_cond_signal(&chk->wake);
	}
	pthread_mutex_unlock(&chk->lock);
}

bool mtime_checker_take(struct mtime_checker *chk, const char *remote_name, bool *same_r,
			int64_t *new_r, int64_t *cur_r, struct repo_msg_list *listing_r)
{
	if (!chk)
		return false;
	bool got = false;
	pthread_mutex_lock(&chk->lock);
	struct prefetch_job *pj = NULL;
	for (size_t i = 0; i < chk->n_pf && !pj; i++) {
		if (chk->pf[i].state != PF_TAKEN && !strcmp(chk->pf[i].remote, remote_name)) {
			pj = &chk->pf[i];
			if (i + 1 > chk->pf_reached) { /* the thread may go further */
				chk->pf_reached = i + 1;
				pthread_cond_signal(&chk->wake);
			}
		}
	}
	if (pj) {
		/* not started: the caller lists now (sooner than the thread) */
		while (pj->state == PF_RUNNING) {
			pthread_cond_wait(&chk->prefetched, &chk->lock);
			pj = NULL; /* the array may have moved */
			for (size_t i = 0; i < chk->n_pf && !pj; i++)
				if (chk->pf[i].state != PF_TAKEN && !strcmp(chk->pf[i].remote, remote_name))
					pj = &chk->pf[i];
			if (!pj)
				break;
		}
	}
	if (pj) {
		if (pj->state == PF_DONE && pj->listed) {
			*same_r = pj->same;
			*new_r = pj->new_ns;
			*cur_r = pj->cur_ns;
			*listing_r = pj->listing;
			pj->listing = (struct repo_msg_list){ 0 };
			got = true;
		}
		log_debug(LOG_DBG_SYNC, "Folder %s: %s", remote_name,
			  got ? "listed ahead by the checker's thread"
			      : pj->state == PF_QUEUED ? "not listed ahead yet: listing it now"
						       : "no listing ahead");
		repo_msg_list_free(&pj->listing);
		pj->state = PF_TAKEN;
	}
	pthread_mutex_unlock(&chk->lock);
	return got;
}

size_t mtime_checker_held(struct mtime_checker *chk)
{
	size_t held = 0;
	pthread_mutex_lock(&chk->lock);
	for (size_t i = 0; i < chk->n_pf; i++)
		held += chk->pf[i].state == PF_DONE;
	pthread_mutex_unlock(&chk->lock);
	return held;
}

void mtime_checker_add(struct mtime_checker *chk, const char *remote_name, const char *local_name,
		       int64_t folder_id)
{
	pthread_mutex_lock(&chk->lock);
	if (!ensure_started(chk)) {
		pthread_mutex_unlock(&chk->lock);
		return;
	}
	xgrow(&chk->jobs, &chk->cap_jobs, chk->n_jobs + 1, sizeof(*chk->jobs));
	chk->jobs[chk->n_jobs++] = (struct check_job){ xstrdup(remote_name), xstrdup(local_name),
						       folder_id, 0, 0 };
	pthread_cond_signal(&chk->wake);
	pthread_mutex_unlock(&chk->lock);
}

void mtime_checker_finish(struct mtime_checker **chkp, struct status_db *st)
{
	struct mtime_checker *chk = *chkp;
	if (!chk)
		return;
	*chkp = NULL;
	pthread_mutex_lock(&chk->lock);
	chk->closing = true;
	pthread_cond_signal(&chk->wake);
	pthread_mutex_unlock(&chk->lock);
	if (chk->started)
		pthread_join(chk->thread, NULL);

	size_t matched = 0;
	for (size_t i = 0; i < chk->n_jobs; i++)
		matched += chk->jobs[i].new_ns != 0;
	char *err = NULL;
	if (matched && st && status_begin_relaxed(st, &err) == 0) {
		for (size_t i = 0; i < chk->n_jobs; i++)
			if (chk->jobs[i].new_ns)
				record_in(st, chk->jobs[i].remote, chk->jobs[i].new_ns,
					  chk->jobs[i].cur_ns);
		if (status_commit(st, &err) < 0)
			status_rollback(st);
	}
	if (err)
		log_debug(LOG_DBG_SYNC, "mtime checker: %s", err);
	free(err);
	if (chk->n_jobs)
		log_debug(LOG_DBG_SYNC, "mtime checker: %zu of %zu changed folders recorded as "
					"settled", matched, chk->n_jobs);
	for (size_t i = 0; i < chk->n_jobs; i++) {
		free(chk->jobs[i].remote);
		free(chk->jobs[i].local);
	}
	free(chk->jobs);
	for (size_t i = 0; i < chk->n_pf; i++) {
		free(chk->pf[i].remote);
		free(chk->pf[i].local);
		repo_msg_list_free(&chk->pf[i].listing);
	}
	free(chk->pf);
	chk->local->ops->free(&chk->local);
	pthread_mutex_destroy(&chk->lock);
	pthread_cond_destroy(&chk->wake);
	pthread_cond_destroy(&chk->prefetched);
	free(chk->db_path);
	free(chk);
}
