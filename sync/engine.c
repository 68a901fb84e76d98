#include "sync/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/atimes.h"
#include "cache/lock.h"
#include "cache/maildir.h"
#include "cache/maildir_name.h"
#include "cache/outbox.h"
#include "cache/quarantine.h"
#include "cache/status.h"
#include "common/log.h"
#include "common/ui.h"
#include "imap/imap_repo.h"
#include "sync/folder_map.h"
#include "sync/folder_window.h"
#include "cache/status_repair.h"
#include "sync/delete_hold.h"
#include "sync/rebuild.h"
#include "sync/live_find.h"
#include "sync/uidv_recover.h"
#include "sync/mtime_check.h"
#include "sync/hooks.h"
#include "sync/oimap_follow.h"
#include "sync/planner.h"
#include "sync/ui_sync.h"
#include "sync/stop.h"

/* Status rows are committed in batches of this many messages, so an
 * interrupted initial sync keeps most of its progress without paying for a
 * commit per message. */
#define STATUS_BATCH 500

struct folder_pair {
	char *remote, *local;
	bool remote_missing; /* dry-run: the server folder would be created */
};

/* One worker's view of the account: its own IMAP connection, Maildir
 * handle and status cache connection (sqlite handles are not shared
 * between threads). Folders are synced in parallel over up to
 * maxconnections of these. */
struct conn {
	struct repo *remote, *local;
	struct status_db *status;
	struct deferred_rows *deferred; /* owned; see defer_rows */
	bool reconnect_failed; /* see remote_usable */
};

struct account_ctx {
	const struct account_settings *a;
	const struct sync_request *req;
	struct conn main;         /* lists folders, creates them, syncs too */
	char *db_path;
	bool local_root_missing; /* dry-run on a Maildir root that does not exist */
	unsigned validity_skips;  /* updated atomically by workers */
	unsigned folder_errors;   /* updated atomically by workers */
	/* work queue of folder pairs, see run_folders() */
	struct folder_pair *pairs;
	size_t n_pairs;
	size_t next_pair;         /* taken atomically */
	/* cheap resync (docs/protocol.md) */
	struct repo_probe probe;  /* STATUS of every remote folder; read-only once workers run */
	bool probed;              /* probe holds the server's answer */
	bool quick;               /* -q or [Account] quick: trust MESSAGES+UIDNEXT without CONDSTORE */
	bool full_listing;        /* OFFLINEFS_FULL_LISTING=1: never CHANGEDSINCE (tests) */
	/* checks the folders a sync changed, so that the next run can skip
	 * them without a listing (sync/mtime_check.h); NULL in dry runs */
	struct mtime_checker *checker;
	struct folder_map *fmap;  /* names, filters, order (sync/folder_map.h) */
	struct held_state held;   /* held_deletes rows at the start (sync/delete_hold.h) */
};

struct folder_ctx {
	struct account_ctx *acc;
	struct conn *c;
	const char *remote_name, *local_name;
	int64_t folder_id;
	/* status rows waiting for the next st_flush() */
	struct plan_status *puts;
	size_t n_puts, cap_puts;
	uint32_t *forgets;
	size_t n_forgets, cap_forgets;
	struct status_folder folder;
	bool folder_dirty;
	/* upload marks to clear in the transaction that commits the rows of
	 * their uploads (flush_uploads), so no mark goes before its row */
	struct strlist clears;
	const struct status_rec *rows; /* borrowed; the status rows at planning */
	size_t n_rows;
	bool failed;
	bool new_unseen;          /* a message without \Seen was downloaded (newmail_hook) */
	size_t msg_errors;        /* failures of single messages (REPO_MSG_BAD) */
	/* what was really done, for the summary line */
	size_t copied_down, copied_up;
	size_t deleted_local, deleted_remote, flagged_local, flagged_remote;
	/* The plan's uploads, marked in flight ahead of time (premark_uploads):
	 * their bases in plan order, and which were handed to the server. */
	char **premarked;
	bool *handed;
	size_t n_premarked;
	bool premarks_syncing; /* their sync runs on a thread (status_sync_start) */
	bool premarks_durable; /* ... and has completed */
};

char *sync_status_db_path(const struct account_settings *a)
{
	return xasprintf("%s/Account-%s/offlinefs.sqlite", a->metadata, a->name);
}

static bool folder_selected(const struct sync_request *req, const char *remote_name)
{
	if (!req->folders || req->folders->n == 0)
		return true;
	return strlist_find(req->folders, remote_name) >= 0;
}

/* --- status helpers ---------------------------------------------------
 *
 * Rows are collected in memory and written in one short transaction per
 * STATUS_BATCH messages: the sqlite write lock is never held across network
 * I/O, so parallel folder workers (and a running mount) do not wait on each
 * other. A row is only queued after the message it describes exists on
 * both sides, so losing the queue in a crash only costs a re-check. */

/* errp, not the error itself: in st_ok(f, status_x(..., &err), &err) the
 * error is read here, after the call set it. (Passing err by value read it
 * before the call, in gcc's right-to-left order: "status cache: failed"
 * with the file and errno lost, and the message leaked.) */
static bool st_ok(struct folder_ctx *f, int rc, char **errp)
{
	char *err = *errp;
	*errp = NULL;
	if (rc >= 0) {
		free(err);
		return true;
	}
	log_error("Folder %s: status cache: %s", f->remote_name, err ? err : "failed");
	free(err);
	f->failed = true;
	return false;
}

/* After a failed flush: the rows would claim files whose renames may not
 * survive a crash; they are found again by the next sync's listing. */
static void st_drop(struct folder_ctx *f)
{
	f->n_puts = f->n_forgets = 0;
	f->folder_dirty = false;
	strlist_free(&f->clears); /* the marks stay for the next run to resolve */
	f->failed = true;
}

static bool st_commit(struct folder_ctx *f);

static bool st_flush(struct folder_ctx *f)
{
	if (!f->n_puts && !f->n_forgets && !f->folder_dirty && !f->clears.n)
		return true;
	struct repo *local = f->c->local;
	if (f->n_puts && local->ops->flush && local->ops->flush(local) != REPO_OK) {
		log_error("%s", repo_error(local));
		st_drop(f);
		return false;
	}
	return st_commit(f);
}

/* The queued rows in one relaxed transaction (the files they describe are
 * durable already: st_flush, complete_deferred). */
static bool st_commit(struct folder_ctx *f)
{
	struct status_db *db = f->c->status;
	char *err = NULL;
	int rc = status_begin_relaxed(db, &err);
	for (size_t i = 0; rc == 0 && i < f->n_puts; i++)
		rc = status_put(db, f->folder_id, f->puts[i].uid, f->puts[i].flags, &err);
	for (size_t i = 0; rc == 0 && i < f->n_forgets; i++) {
		rc = status_remove(db, f->folder_id, f->forgets[i], &err);
		if (rc == 0)
			rc = outbox_name_forget_uid(db, f->local_name, f->forgets[i], &err);
	}
	if (rc == 0 && f->folder_dirty)
		rc = status_folder_update(db, &f->folder, &err);
	for (size_t i = 0; rc == 0 && i < f->clears.n; i++)
		rc = status_upload_clear(db, f->folder_id, f->clears.v[i], &err);
	if (rc == 0)
		rc = status_commit(db, &err);
	if (rc < 0)
		status_rollback(db);
	else if (!f->acc->req->dry_run)
		oimap_follow_commit(f->acc->a, db, f->folder_id, f->remote_name, f->local_name,
				    f->folder.uidvalidity, f->folder_dirty, f->puts, f->n_puts,
				    f->forgets, f->n_forgets);
	f->n_puts = f->n_forgets = 0;
	f->folder_dirty = false;
	strlist_free(&f->clears);
	return st_ok(f, rc, &err);
}

static bool st_put(struct folder_ctx *f, uint32_t uid, flagset_t flags)
{
	xgrow(&f->puts, &f->cap_puts, f->n_puts + 1, sizeof(*f->puts));
	f->puts[f->n_puts].uid = uid;
	f->puts[f->n_puts].flags = flags;
	f->n_puts++;
	return f->n_puts < STATUS_BATCH || st_flush(f);
}

static bool st_forget(struct folder_ctx *f, uint32_t uid)
{
	xgrow(&f->forgets, &f->cap_forgets, f->n_forgets + 1, sizeof(*f->forgets));
	f->forgets[f->n_forgets++] = uid;
	return f->n_forgets < STATUS_BATCH || st_flush(f);
}

/* Queues the folder row (UIDVALIDITY, UIDNEXT, ...) for the next flush. */
static void st_folder(struct folder_ctx *f, const struct status_folder *sf)
{
	f->folder = *sf;
	f->folder_dirty = true;
}

/* --- a folder's last rows after its directory syncs ------------------- */

/* The rows a folder's sync left for the end (the renames of its downloads
 * and flag changes, its new UIDVALIDITY/UIDNEXT/HIGHESTMODSEQ): they may
 * only be committed once those renames are durable, which takes a sync
 * of new/ and cur/ (a journal commit, 1-2 ms here). defer_rows starts the
 * syncs on a thread (repo flush_begin) and parks the rows on the
 * connection; complete_deferred commits them after the next folder's
 * SELECT (or at the end of the run), so the syncs overlap that round trip
 * instead of adding to it. A crash in between loses only rows, which the
 * next sync rebuilds from the U= of the files (the folder state included:
 * it is not committed before the renames are durable). */
struct deferred_rows {
	struct repo_pending_flush *pending;
	char *remote_name, *local_name;
	int64_t folder_id;
	struct plan_status *puts;
	size_t n_puts;
	uint32_t *forgets;
	size_t n_forgets;
	struct status_folder folder;
	bool folder_dirty;
	struct strlist clears;
	bool check_mtimes; /* add the folder to the mtime checker once committed */
};

static void complete_deferred(struct account_ctx *acc, struct conn *c)
{
	struct deferred_rows *d = c->deferred;
	if (!d)
		return;
	c->deferred = NULL;
	struct folder_ctx f = { .acc = acc, .c = c, .remote_name = d->remote_name,
				.local_name = d->local_name, .folder_id = d->folder_id,
				.puts = d->puts, .n_puts = d->n_puts, .cap_puts = d->n_puts,
				.forgets = d->forgets, .n_forgets = d->n_forgets,
				.cap_forgets = d->n_forgets, .folder = d->folder,
				.folder_dirty = d->folder_dirty, .clears = d->clears };
	char *err = NULL;
	if (d->pending->wait(d->pending, &err) != REPO_OK) {
		log_error("Folder %s: %s", d->remote_name, err);
		free(err);
		st_drop(&f);
	} else if (st_commit(&f)) {
		log_debug(LOG_DBG_SYNC, "Folder %s: rows committed after its directory syncs",
			  d->remote_name);
		if (d->check_mtimes)
			mtime_checker_add(acc->checker, d->remote_name, d->local_name,
					  d->folder_id);
	}
	if (f.failed)
		__atomic_add_fetch(&acc->folder_errors, 1, __ATOMIC_RELAXED);
	free(f.puts);
	free(f.forgets);
	strlist_free(&f.clears);
	free(d->remote_name);
	free(d->local_name);
	free(d);
}

/* The end of a folder's sync: true when its rows were parked (or dropped
 * after a failed flush, with f->failed set); false when the caller is to
 * st_flush them as before (nothing renamed, or nothing left to sync). */
static bool defer_rows(struct folder_ctx *f, bool check_mtimes)
{
	struct repo *lr = f->c->local;
	if (f->failed || !f->n_puts || !lr->ops->flush_begin)
		return false;
	complete_deferred(f->acc, f->c); /* one folder at a time */
	struct repo_pending_flush *pending = NULL;
	if (lr->ops->flush_begin(lr, &pending) != REPO_OK) {
		log_error("%s", repo_error(lr));
		st_drop(f);
		return true;
	}
	if (!pending)
		return false;
	struct deferred_rows *d = xcalloc(1, sizeof(*d));
	*d = (struct deferred_rows){ .pending = pending, .remote_name = xstrdup(f->remote_name),
				     .local_name = xstrdup(f->local_name), .folder_id = f->folder_id,
				     .puts = f->puts, .n_puts = f->n_puts, .forgets = f->forgets,
				     .n_forgets = f->n_forgets, .folder = f->folder,
				     .folder_dirty = f->folder_dirty, .clears = f->clears,
				     .check_mtimes = check_mtimes };
	f->clears = (struct strlist)STRLIST_INIT;
	f->puts = NULL;
	f->forgets = NULL;
	f->n_puts = f->cap_puts = f->n_forgets = f->cap_forgets = 0;
	f->folder_dirty = false;
	f->c->deferred = d;
	return true;
}

/* --- repository error handling ----------------------------------------- */

/* Logs a failed repository call. Returns true when the folder can go on
 * (the failure concerned one message only). */
static bool repo_call_ok(struct folder_ctx *f, struct repo *r, int rc)
{
	if (rc == REPO_OK)
		return true;
	log_error("%s", repo_error(r));
	if (rc == REPO_MSG_BAD) {
		f->msg_errors++;
		return true;
	}
	f->failed = true;
	return false;
}

/* --- downloads --------------------------------------------------------- */

static int download_one(void *ctx, const struct repo_msg *msg, const char *body, size_t len)
{
	struct folder_ctx *f = ctx;
	struct repo *local = f->c->local;
	char *key = NULL;
	uint32_t uid = 0;
	int rc = local->ops->store(local, body, len, msg->flags, msg->time, msg->uid, &uid, &key);
	free(key);
	if (rc != REPO_OK) {
		log_error("%s", repo_error(local));
		f->msg_errors++;
		return rc == REPO_MSG_BAD ? 0 : -1;
	}
	log_debug(LOG_DBG_SYNC, "Copied message UID %u %s[%s] -> %s[%s]", msg->uid,
		  f->c->remote->ops->type_name, f->remote_name, local->ops->type_name,
		  f->local_name);
	f->copied_down++;
	if (!(msg->flags & FLAG_SEEN))
		f->new_unseen = true;
	ui_ev_copy(f->acc->a->name, msg->uid, len, f->c->remote->ops->type_name, f->remote_name,
		   local->ops->type_name, f->local_name);
	return st_put(f, msg->uid, msg->flags) ? 0 : -1;
}

/* Bodies from this size on are fetched in pieces straight into a file in
 * the folder's tmp/ (fetch_pieces + store_file), so memory stays bounded
 * whatever a message's size; smaller ones come many per UID FETCH. */
#define STREAM_MIN (1u << 20)
#define STREAM_PIECE (1u << 20)

struct piece_file {
	int fd;
	int err; /* errno of a failed write */
};

static int write_piece(void *ctx, const char *data, size_t len)
{
	struct piece_file *pf = ctx;
	while (len > 0) {
		ssize_t n = write(pf->fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			pf->err = n < 0 ? errno : EIO;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* One big message: pieces -> tmp/offlinefs-fetch.XXXXXX -> store_file. */
static void download_streamed(struct folder_ctx *f, struct repo_msg *msg)
{
	struct repo *rr = f->c->remote, *lr = f->c->local;
	char *dir = maildir_folder_dir(lr, f->local_name);
	char *path = xasprintf("%s/tmp/offlinefs-fetch.XXXXXX", dir);
	free(dir);
	struct piece_file pf = { .fd = mkostemp(path, O_CLOEXEC) };
	if (pf.fd < 0) {
		log_error("Folder %s: UID %u: %s: %s", f->remote_name, msg->uid, path, strerror(errno));
		f->msg_errors++;
		free(path);
		return;
	}
	bool complete = false;
	int rc = rr->ops->fetch_pieces(rr, msg, STREAM_PIECE, write_piece, &pf, &complete);
	close(pf.fd);
	if (rc != REPO_OK) {
		if (pf.err) {
			log_error("Folder %s: UID %u: %s: write: %s", f->remote_name, msg->uid, path,
				  strerror(pf.err));
			f->failed = true; /* disk full or broken: stop the folder */
		} else {
			repo_call_ok(f, rr, rc);
		}
	} else if (complete) {
		const char *base = strrchr(path, '/') + 1;
		char *key = NULL;
		uint32_t uid = 0;
		rc = lr->ops->store_file(lr, base, msg->flags, msg->time, msg->uid, &uid, &key);
		free(key);
		if (rc == REPO_OK) {
			log_debug(LOG_DBG_SYNC, "Copied message UID %u %s[%s] -> %s[%s] in pieces",
				  msg->uid, rr->ops->type_name, f->remote_name, lr->ops->type_name,
				  f->local_name);
			f->copied_down++;
			if (!(msg->flags & FLAG_SEEN))
				f->new_unseen = true;
			ui_ev_copy(f->acc->a->name, msg->uid, msg->size, rr->ops->type_name,
				   f->remote_name, lr->ops->type_name, f->local_name);
			st_put(f, msg->uid, msg->flags);
		} else {
			log_error("%s", repo_error(lr));
			if (rc == REPO_MSG_BAD)
				f->msg_errors++;
			else
				f->failed = true;
		}
	}
	unlink(path); /* nothing left there after a successful store_file */
	free(path);
}

static void run_downloads(struct folder_ctx *f, struct repo_msg_list *remote, const struct plan *p)
{
	if (!p->n_download)
		return;
	struct repo *r = f->c->remote, *lr = f->c->local;
	bool can_stream = r->ops->fetch_pieces && lr->ops->store_file;
	struct repo_msg **msgs = xmalloc(p->n_download * sizeof(*msgs));
	struct repo_msg **big = xmalloc(p->n_download * sizeof(*big));
	size_t n = 0, n_big = 0;
	for (size_t i = 0; i < p->n_download; i++) {
		struct repo_msg *m = &remote->v[p->download[i]];
		if (can_stream && m->size >= STREAM_MIN)
			big[n_big++] = m;
		else
			msgs[n++] = m;
	}
	int rc = n ? r->ops->fetch(r, msgs, n, download_one, f) : REPO_OK;
	if (rc != REPO_OK && !f->failed)
		repo_call_ok(f, r, rc);
	for (size_t i = 0; i < n_big && !f->failed; i++)
		download_streamed(f, big[i]);
	free(msgs);
	free(big);
}

/* --- uploads ----------------------------------------------------------- */

/* The server took the upload but did not say which UID it got. See
 * cache/quarantine.h for why the local copy is moved aside, not kept or
 * deleted. */
static void quarantine_upload(struct folder_ctx *f, struct repo_msg *m, const char *body,
			      size_t len)
{
	const struct account_settings *a = f->acc->a;
	struct repo *lr = f->c->local;
	char *dir = xasprintf("%s/Account-%s/quarantine", a->metadata, a->name);
	char *path = NULL, *err = NULL;
	if (quarantine_save(dir, m->key ? m->key : "message", body, len, a->fsync, &path, &err) < 0) {
		log_error("Folder %s: uploaded %s but the server did not report its UID, and it "
			  "could not be set aside: %s; it may be uploaded again next time",
			  f->remote_name, m->key ? m->key : "message", err);
		free(err);
		free(dir);
		return;
	}
	struct repo_msg *one[1] = { m };
	int rc = lr->ops->delete_messages(lr, one, 1);
	if (rc != REPO_OK)
		log_error("%s", repo_error(lr));
	else
		log_warn("Folder %s: the server accepted %s but did not report its UID; the local "
			 "copy was moved to %s and the server's copy will be downloaded next time",
			 f->remote_name, m->key ? m->key : "message", path);
	free(path);
	free(dir);
}

/* Length of a file name's base (the part before ":2,"). */
static size_t base_len(const char *name)
{
	static const char no_md5[] = "--------------------------------"; /* matches no FMD5 */
	struct maildir_name_info info;
	maildir_name_parse(name, no_md5, ':', &info);
	return info.base_len;
}

/* The base name of a Maildir key "cur/<name>". malloc'd. */
static char *key_base(const char *key)
{
	return xstrndup(key + 4, base_len(key + 4));
}

/* Inside the mount: the uploaded file keeps its name; its UID goes into the
 * names table together with its status row, at once (not batched), so a
 * crash cannot leave it looking new. */
static void record_upload_name(struct folder_ctx *f, const struct repo_msg *m, uint32_t uid)
{
	struct status_db *db = f->c->status;
	char *base = key_base(m->key);
	char *err = NULL;
	int rc = st_flush(f) ? status_begin(db, &err) : -1;
	if (rc == 0)
		rc = outbox_name_put(db, f->local_name, base, uid, &err);
	if (rc == 0)
		rc = status_put(db, f->folder_id, uid, m->flags, &err);
	if (rc == 0)
		rc = status_commit(db, &err);
	if (rc < 0 && err) {
		status_rollback(db);
		st_ok(f, rc, &err);
	} else if (rc == 0) {
		struct status_rec row = { uid, m->flags };
		oimap_follow_rows(f->acc->a, f->remote_name, &row, 1, NULL, 0);
	}
	free(base);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted UIDs that a local file or a status row already accounts for
 * (they are other messages, for live_find_uploaded). */
static uint32_t *known_uids(const struct folder_ctx *f, const struct repo_msg_list *local,
			    size_t *n_r)
{
	size_t cap = local->n + f->n_rows;
	uint32_t *v = xmalloc((cap ? cap : 1) * sizeof(*v));
	size_t n = 0;
	for (size_t i = 0; i < local->n; i++)
		if (local->v[i].uid)
			v[n++] = local->v[i].uid;
	for (size_t i = 0; i < f->n_rows; i++)
		v[n++] = f->rows[i].uid;
	qsort(v, n, sizeof(*v), cmp_u32);
	*n_r = n;
	return v;
}

/* After the server took message m (uid, or 0 when it did not say):
 * the local file gets its UID, or the fallbacks for a missing UID. */
static void uploaded(struct folder_ctx *f, struct repo_msg_list *local, struct repo_msg *m,
		     uint32_t uid, const char *body, size_t len)
{
	struct repo *lr = f->c->local, *rr = f->c->remote;
	bool keep = f->acc->req->keep_local_names;
	f->copied_up++;
	ui_ev_copy(f->acc->a->name, -(long long)f->copied_up, len, lr->ops->type_name,
		   f->local_name, rr->ops->type_name, f->remote_name);
	if (uid == 0 && keep) {
		/* A mail reader is looking: the file must not vanish
		 * into quarantine. Find the copy by its content. */
		size_t n_known;
		uint32_t *known = known_uids(f, local, &n_known);
		int rc = live_find_uploaded(rr, body, len, known, n_known, &uid);
		free(known);
		if (!repo_call_ok(f, rr, rc) || rc != REPO_OK || uid == 0) {
			if (!f->failed)
				log_error("Folder %s: uploaded %s but the server did not "
					  "report its UID and it could not be found; it was "
					  "left in place and may be uploaded again",
					  f->remote_name, m->key ? m->key : "message");
			return;
		}
	}
	if (uid == 0) {
		quarantine_upload(f, m, body, len);
		return;
	}
	if (keep) {
		log_debug(LOG_DBG_SYNC, "Uploaded %s as UID %u to %s[%s] (name kept)",
			  m->key ? m->key : "", uid, rr->ops->type_name, f->remote_name);
		m->uid = uid;
		record_upload_name(f, m, uid);
		return;
	}
	int rc = lr->ops->set_uid(lr, m, uid);
	if (!repo_call_ok(f, lr, rc) || rc != REPO_OK)
		return;
	log_debug(LOG_DBG_SYNC, "Uploaded %s as UID %u to %s[%s]", m->key ? m->key : "", uid,
		  rr->ops->type_name, f->remote_name);
	st_put(f, uid, m->flags);
}

/* Uploads waiting to be sent together (store_many). */
#define UPLOAD_BATCH_MSGS 64
#define UPLOAD_BATCH_BYTES (1u << 20)

struct upload_batch {
	struct repo_msg *m[UPLOAD_BATCH_MSGS];
	char *base[UPLOAD_BATCH_MSGS];
	struct repo_upload up[UPLOAD_BATCH_MSGS];
	size_t n, bytes;
};

/* A mark must be on disk before its APPEND is sent; a lost clear only
 * leaves a mark that the next run resolves (the file keeps its UID or is
 * found on the server by content), so clearing does not wait for the disk. */
static bool marks_write(struct folder_ctx *f, struct upload_batch *b, bool mark)
{
	struct status_db *db = f->c->status;
	char *err = NULL;
	int rc = mark ? status_begin(db, &err) : status_begin_relaxed(db, &err);
	for (size_t i = 0; rc == 0 && i < b->n; i++)
		rc = mark ? status_upload_mark(db, f->folder_id, b->base[i], &err)
			  : status_upload_clear(db, f->folder_id, b->base[i], &err);
	if (rc == 0)
		rc = status_commit(db, &err);
	if (rc < 0)
		status_rollback(db);
	return st_ok(f, rc, &err);
}

/* Marks every upload of the plan in flight at once and starts making the
 * marks durable on a thread: the fdatasync that each APPEND batch waited
 * for (1-4 ms) then runs during the downloads and the flag and deletion
 * round trip that come first. A failure to start the sync leaves the
 * per-batch commit (marks_write) to do it. */
static void premark_uploads(struct folder_ctx *f, const struct repo_msg_list *local,
			    const struct plan *p)
{
	if (!p->n_upload)
		return;
	struct status_db *db = f->c->status;
	char *err = NULL;
	f->premarked = xcalloc(p->n_upload, sizeof(*f->premarked));
	f->handed = xcalloc(p->n_upload, sizeof(*f->handed));
	f->n_premarked = p->n_upload;
	for (size_t i = 0; i < p->n_upload; i++)
		f->premarked[i] = key_base(local->v[p->upload[i]].key);
	int rc = status_begin_relaxed(db, &err);
	for (size_t i = 0; rc == 0 && i < p->n_upload; i++)
		rc = status_upload_mark(db, f->folder_id, f->premarked[i], &err);
	if (rc == 0)
		rc = status_commit(db, &err);
	if (rc < 0)
		status_rollback(db);
	if (!st_ok(f, rc, &err))
		return;
	if (status_sync_start(db, &err) == 0) {
		f->premarks_syncing = true;
	} else {
		log_debug(LOG_DBG_SYNC, "Folder %s: %s; marks synced per batch", f->remote_name, err);
		free(err);
	}
}

/* The marks of batch b (all premarked) are on disk: waits for the sync
 * that premark_uploads started, or commits them itself. */
static bool marks_durable(struct folder_ctx *f, struct upload_batch *b)
{
	if (f->premarks_syncing) {
		f->premarks_syncing = false;
		char *err = NULL;
		if (!st_ok(f, status_sync_wait(f->c->status, &err), &err))
			return false;
		f->premarks_durable = true;
		log_debug(LOG_DBG_SYNC, "Folder %s: upload marks on disk", f->remote_name);
	}
	if (f->premarks_durable)
		return true;
	if (!marks_write(f, b, true))
		return false;
	log_debug(LOG_DBG_SYNC, "Folder %s: upload marks on disk", f->remote_name);
	return true;
}

/* After the uploads (or a failure before them): the marks of uploads
 * never handed to the server go, as nothing can be on the server for
 * them; those handed over keep the rule of flush_uploads. */
static void unmark_unsent(struct folder_ctx *f)
{
	if (!f->n_premarked)
		return;
	struct status_db *db = f->c->status;
	char *err = NULL;
	if (f->premarks_syncing) {
		f->premarks_syncing = false;
		if (status_sync_wait(db, &err) < 0) {
			log_debug(LOG_DBG_SYNC, "Folder %s: %s", f->remote_name, err);
			free(err);
			err = NULL;
		}
	}
	size_t unsent = 0;
	for (size_t i = 0; i < f->n_premarked; i++)
		unsent += !f->handed[i];
	if (unsent) {
		int rc = status_begin_relaxed(db, &err);
		for (size_t i = 0; rc == 0 && i < f->n_premarked; i++)
			if (!f->handed[i])
				rc = status_upload_clear(db, f->folder_id, f->premarked[i], &err);
		if (rc == 0)
			rc = status_commit(db, &err);
		if (rc < 0)
			status_rollback(db);
		if (rc < 0) { /* only leaves marks that the next run resolves */
			log_warn("Folder %s: status cache: %s", f->remote_name, err);
			free(err);
		}
	}
	for (size_t i = 0; i < f->n_premarked; i++)
		free(f->premarked[i]);
	free(f->premarked);
	free(f->handed);
	f->premarked = NULL;
	f->handed = NULL;
	f->n_premarked = 0;
}

/* Sends the batch: each base is marked in flight (committed) first, and
 * cleared only once the rows of what landed are committed, so a reply
 * lost with the connection leaves the mark for the next run to resolve
 * (find_in_flight) instead of uploading the message twice. */
static void flush_uploads(struct folder_ctx *f, struct repo_msg_list *local, struct upload_batch *b)
{
	if (!b->n)
		return;
	struct repo *rr = f->c->remote;
	uint32_t uids[UPLOAD_BATCH_MSGS];
	int codes[UPLOAD_BATCH_MSGS];
	if (marks_durable(f, b)) {
		int rc = rr->ops->store_many(rr, b->up, b->n, uids, codes);
		for (size_t i = 0; i < b->n; i++) {
			if (codes[i] == REPO_OK)
				uploaded(f, local, b->m[i], uids[i], b->up[i].body, b->up[i].len);
			else if (codes[i] == REPO_MSG_BAD)
				f->msg_errors++; /* logged by store_many; tried again next run */
		}
		if (rc != REPO_OK)
			repo_call_ok(f, rr, rc);
		/* the marks of messages whose outcome is known go with their
		 * rows (st_commit, after the directory syncs that make the U=
		 * renames durable: at the folder's end, or when a batch of rows
		 * is full); unknown outcomes (connection lost) keep theirs */
		if (rc == REPO_OK)
			for (size_t i = 0; i < b->n; i++)
				strlist_add(&f->clears, b->base[i]);
	}
	for (size_t i = 0; i < b->n; i++) {
		free((char *)b->up[i].body);
		free(b->base[i]);
	}
	b->n = b->bytes = 0;
}

/* Before planning: local messages without a UID that an earlier run
 * marked in flight (flush_uploads) and whose reply it lost. If the server
 * has one (same bytes, under a UID that neither the rows nor the Maildir
 * know), the file gets that UID now, so the planner sees the message on
 * both sides instead of uploading it again and downloading the server's
 * copy. Returns false when the folder failed. */
static bool resolve_in_flight(struct folder_ctx *f, struct repo_msg_list *local)
{
	struct strlist marked = STRLIST_INIT;
	char *err = NULL;
	if (!st_ok(f, status_upload_load(f->c->status, f->folder_id, &marked, &err), &err))
		return false;
	struct repo *lr = f->c->local, *rr = f->c->remote;
	for (size_t i = 0; i < local->n && marked.n && !f->failed; i++) {
		struct repo_msg *m = &local->v[i];
		if (m->uid)
			continue;
		char *base = key_base(m->key);
		bool is_marked = strlist_find(&marked, base) >= 0;
		char *body = NULL;
		size_t len = 0;
		int64_t mtime = 0;
		uint32_t uid = 0;
		if (is_marked && lr->ops->read_body(lr, m, &body, &len, &mtime) == REPO_OK) {
			if (f->acc->a->filters.filterheaders.n) /* as it was sent */
				len = filters_strip_headers(body, len,
							    &f->acc->a->filters.filterheaders);
			size_t n_known;
			uint32_t *known = known_uids(f, local, &n_known);
			int rc = live_find_uploaded(rr, body, len, known, n_known, &uid);
			free(known);
			if (!repo_call_ok(f, rr, rc) || rc != REPO_OK)
				uid = 0;
		}
		free(body);
		if (uid && f->acc->req->keep_local_names) {
			/* the mount: the reader's name stays (see uploaded()) */
			m->uid = uid;
			record_upload_name(f, m, uid);
			log_info("Folder %s: %s was uploaded by an interrupted run (UID %u); not sent "
				 "again", f->remote_name, base, uid);
		} else if (uid && lr->ops->set_uid(lr, m, uid) == REPO_OK) {
			log_info("Folder %s: %s was uploaded by an interrupted run (UID %u); not sent "
				 "again", f->remote_name, base, uid);
		} else if (uid) {
			log_error("%s", repo_error(lr));
			f->msg_errors++;
		}
		if (is_marked && !f->failed && (uid == 0 || m->uid == uid))
			st_ok(f, status_upload_clear(f->c->status, f->folder_id, base, &err), &err);
		free(base);
	}
	strlist_free(&marked);
	return !f->failed;
}

/* One big message (STREAM_MIN and more) sent from its file, never held
 * whole in memory (store_fd), marked in flight like a batch. */
static void upload_streamed(struct folder_ctx *f, struct repo_msg_list *local, struct repo_msg *m,
			    int fd, uint64_t size, int64_t mtime)
{
	struct repo *lr = f->c->local, *rr = f->c->remote;
	struct upload_batch *one = xcalloc(1, sizeof(*one));
	one->base[0] = key_base(m->key);
	one->n = 1;
	if (marks_durable(f, one)) {
		uint32_t uid = 0;
		int rc = rr->ops->store_fd(rr, fd, size, m->flags, mtime, &uid);
		if (rc == REPO_OK) {
			char *body = NULL;
			size_t len = 0;
			/* only the fallbacks for a missing UID need the bytes */
			if (uid == 0 && lr->ops->read_body(lr, m, &body, &len, NULL) != REPO_OK) {
				log_error("%s", repo_error(lr));
				f->copied_up++;
			} else {
				uploaded(f, local, m, uid, body, len);
			}
			free(body);
			strlist_add(&f->clears, one->base[0]); /* with its row, as above */
		} else {
			repo_call_ok(f, rr, rc);
			if (rc == REPO_MSG_BAD)
				marks_write(f, one, false); /* refused: not on the server */
		}
	}
	free(one->base[0]);
	free(one);
}

static void run_uploads(struct folder_ctx *f, struct repo_msg_list *local, const struct plan *p)
{
	if (!p->n_upload)
		return;
	struct repo *lr = f->c->local;
	struct upload_batch *b = xcalloc(1, sizeof(*b));
	for (size_t i = 0; i < p->n_upload && !f->failed; i++) {
		struct repo_msg *m = &local->v[p->upload[i]];
		char *body = NULL;
		size_t len = 0;
		int64_t mtime = 0;
		if (lr->ops->open_body && f->c->remote->ops->store_fd) {
			int fd = -1;
			uint64_t size = 0;
			int rc = lr->ops->open_body(lr, m, &fd, &size, &mtime);
			if (!repo_call_ok(f, lr, rc) || rc != REPO_OK)
				continue;
			/* filterheaders edits the bytes: those uploads are read whole */
			if (size >= STREAM_MIN && !f->acc->a->filters.filterheaders.n) {
				flush_uploads(f, local, b);
				if (!f->failed) {
					f->handed[i] = true;
					upload_streamed(f, local, m, fd, size, mtime);
				}
				close(fd);
				continue;
			}
			close(fd);
		}
		int rc = lr->ops->read_body(lr, m, &body, &len, &mtime);
		if (!repo_call_ok(f, lr, rc) || rc != REPO_OK)
			continue;
		if (f->acc->a->filters.filterheaders.n) /* the local file keeps them */
			len = filters_strip_headers(body, len, &f->acc->a->filters.filterheaders);
		char *base = key_base(m->key);
		if (b->n && (b->n == UPLOAD_BATCH_MSGS || b->bytes + len > UPLOAD_BATCH_BYTES))
			flush_uploads(f, local, b);
		if (f->failed) {
			free(base);
			free(body);
			break;
		}
		f->handed[i] = true; /* from here its outcome may be unknown */
		b->m[b->n] = m;
		b->base[b->n] = base;
		b->up[b->n] = (struct repo_upload){ body, len, m->flags, mtime };
		b->n++;
		b->bytes += len;
	}
	if (!f->failed)
		flush_uploads(f, local, b);
	for (size_t i = 0; i < b->n; i++) { /* left by a failure */
		free((char *)b->up[i].body);
		free(b->base[i]);
	}
	free(b);
}

/* --- flags ------------------------------------------------------------- */

static bool apply_flags(struct folder_ctx *f, struct repo *r, struct repo_msg_list *list,
			const struct plan_flags *changes, size_t n)
{
	if (!n)
		return true;
	ui_sync_flags(f->acc->a->name, r == f->c->local ? f->local_name : f->remote_name, list,
		      changes, n);
	struct repo_msg **msgs = xmalloc(n * sizeof(*msgs));
	flagset_t *flags = xmalloc(n * sizeof(*flags));
	for (size_t i = 0; i < n; i++) {
		msgs[i] = &list->v[changes[i].index];
		flags[i] = changes[i].flags;
	}
	int rc = r->ops->set_flags(r, msgs, flags, n);
	free(msgs);
	free(flags);
	if (rc != REPO_OK) {
		repo_call_ok(f, r, rc);
		return false;
	}
	return true;
}

/* --- deletions --------------------------------------------------------- */

/* The server's flag changes and deletions of the plan in one exchange
 * (set_flags_and_delete: one round trip instead of two). *flags_ok and
 * *del_ok are what apply_flags and apply_deletes would have returned. */
static void apply_remote_flags_and_deletes(struct folder_ctx *f, struct repo *r,
					   struct repo_msg_list *list, const struct plan *p,
					   bool *flags_ok, bool *del_ok)
{
	ui_sync_flags(f->acc->a->name, f->remote_name, list, p->remote_flags, p->n_remote_flags);
	ui_sync_deletes(f->acc->a->name, r->ops->type_name, f->remote_name, list, p->delete_remote,
			p->n_delete_remote);
	struct repo_msg **msgs = xmalloc(p->n_remote_flags * sizeof(*msgs));
	flagset_t *flags = xmalloc(p->n_remote_flags * sizeof(*flags));
	for (size_t i = 0; i < p->n_remote_flags; i++) {
		msgs[i] = &list->v[p->remote_flags[i].index];
		flags[i] = p->remote_flags[i].flags;
	}
	struct repo_msg **del = xmalloc(p->n_delete_remote * sizeof(*del));
	for (size_t i = 0; i < p->n_delete_remote; i++)
		del[i] = &list->v[p->delete_remote[i]];
	int flags_rc = REPO_OK, del_rc = REPO_OK;
	r->ops->set_flags_and_delete(r, msgs, flags, p->n_remote_flags, del, p->n_delete_remote,
				     &flags_rc, &del_rc);
	free(msgs);
	free(flags);
	free(del);
	*flags_ok = repo_call_ok(f, r, flags_rc);
	*del_ok = flags_rc == del_rc ? *flags_ok : repo_call_ok(f, r, del_rc);
}

static bool apply_deletes(struct folder_ctx *f, struct repo *r, struct repo_msg_list *list,
			  const size_t *idx, size_t n)
{
	if (!n)
		return true;
	ui_sync_deletes(f->acc->a->name, r->ops->type_name,
			r == f->c->local ? f->local_name : f->remote_name, list, idx, n);
	struct repo_msg **msgs = xmalloc(n * sizeof(*msgs));
	for (size_t i = 0; i < n; i++)
		msgs[i] = &list->v[idx[i]];
	int rc = r->ops->delete_messages(r, msgs, n);
	free(msgs);
	if (rc != REPO_OK) {
		repo_call_ok(f, r, rc);
		return false;
	}
	return true;
}

/* --- dry-run report ---------------------------------------------------- */

static void report_flags(const char *prefix, struct repo *r, const char *folder,
			 struct repo_msg_list *list, const struct plan_flags *c, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct repo_msg *m = &list->v[c[i].index];
		char from[FLAGS_LETTERS_MAX], to[FLAGS_LETTERS_MAX];
		flags_to_letters(m->flags, from);
		flags_to_letters(c[i].flags, to);
		log_info("%sSet flags of UID %u on %s[%s]: '%s' -> '%s'", prefix, m->uid,
			 r->ops->type_name, folder, from, to);
	}
}

static void report_plan(struct folder_ctx *f, struct repo_msg_list *remote,
			struct repo_msg_list *local, const struct plan *p)
{
	const char *pre = "[DRYRUN] ";
	struct repo *rr = f->c->remote, *lr = f->c->local;
	for (size_t i = 0; i < p->n_download; i++)
		log_info("%sCopy message UID %u (%zu/%zu) %s:%s -> %s:%s", pre,
			 remote->v[p->download[i]].uid, i + 1, p->n_download, rr->name,
			 f->remote_name, lr->name, f->local_name);
	for (size_t i = 0; i < p->n_upload; i++)
		log_info("%sCopy new local message %s (%zu/%zu) %s:%s -> %s:%s", pre,
			 local->v[p->upload[i]].key ? local->v[p->upload[i]].key : "?", i + 1,
			 p->n_upload, lr->name, f->local_name, rr->name, f->remote_name);
	for (size_t i = 0; i < p->n_delete_local; i++)
		log_info("%sDelete message UID %u in %s[%s] (expunged on the server)", pre,
			 local->v[p->delete_local[i]].uid, lr->ops->type_name, f->local_name);
	for (size_t i = 0; i < p->n_delete_remote; i++)
		log_info("%sDelete message UID %u in %s[%s] (deleted locally)", pre,
			 remote->v[p->delete_remote[i]].uid, rr->ops->type_name, f->remote_name);
	report_flags(pre, lr, f->local_name, local, p->local_flags, p->n_local_flags);
	report_flags(pre, rr, f->remote_name, remote, p->remote_flags, p->n_remote_flags);
	if (p->n_status_put || p->n_status_forget)
		log_info("%sUpdate %zu and forget %zu status cache rows of %s", pre,
			 p->n_status_put, p->n_status_forget, f->remote_name);
}

/* --- OfflineIMAP state import ------------------------------------------ */

/* For a folder we have never synced, take over OfflineIMAP's status rows
 * and saved UIDVALIDITY so a migrating user keeps their sync base. */
static void import_offlineimap(struct folder_ctx *f, struct status_folder *sf)
{
	const struct account_settings *a = f->acc->a;
	/* OfflineIMAP names the status after the remote visible name and the
	 * FolderValidity after the remote name (sync/folder_map.h) */
	char *oi_name = NULL, *oi_visible = NULL, *err = NULL;
	if (folder_map_offlineimap_names(f->acc->fmap, f->remote_name,
					 f->c->remote->ops->separator(f->c->remote), &oi_name,
					 &oi_visible, &err) < 0) {
		log_error("Folder %s: %s", f->remote_name, err);
		free(err);
		f->failed = true;
		return;
	}
	char *base = oimap_basename(oi_visible);
	char *path = xasprintf("%s/Account-%s/LocalStatus-sqlite/%s", a->metadata, a->name, base);
	free(base);
	free(oi_visible);
	if (access(path, R_OK) != 0) {
		free(path);
		free(oi_name);
		return;
	}
	size_t count = 0;
	struct status_db *db = f->c->status;
	int rc = status_begin(db, &err);
	if (rc == 0)
		rc = status_import_offlineimap(db, f->folder_id, path, &count, &err);
	struct oimap_account oa = oimap_account_of(a);
	sf->uidvalidity = oimap_validity_read(&oa, oi_name);
	free(oi_name);
	if (rc == 0 && sf->uidvalidity)
		rc = status_folder_update(db, sf, &err);
	if (rc == 0)
		rc = status_commit(db, &err);
	if (rc < 0) {
		status_rollback(db);
		sf->uidvalidity = 0;
		st_ok(f, rc, &err);
	} else {
		log_info("Folder %s: imported %zu status rows from OfflineIMAP (%s)", f->remote_name,
			 count, path);
	}
	free(path);
}

/* --- names table --------------------------------------------------------- */

struct named {
	struct repo_msg *m;
	uint32_t uid;  /* from the names row */
	size_t row;    /* index into the loaded rows */
};

static int cmp_named_uid(const void *a, const void *b)
{
	const struct named *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Binary search of the rows (sorted by base in sqlite's BINARY order,
 * i.e. memcmp, then shorter first) for name[0..len). */
static bool find_base(char *const *bases, size_t n, const char *name, size_t len, size_t *row_r)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		size_t bl = strlen(bases[mid]);
		int c = memcmp(bases[mid], name, bl < len ? bl : len);
		if (c == 0)
			c = bl < len ? -1 : bl > len;
		if (c == 0) {
			*row_r = mid;
			return true;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Gives each local file with a names row the row's UID (it wins over a U=
 * in the name, see cache/outbox.h). A UID that another file already carries
 * in its name, or that two rows give, is not applied (the file keeps what
 * its name says, usually 0: new). The one-shot run then renames the mapped
 * files to carry U= and drops their rows, and drops rows whose file is
 * gone. Returns false after a status cache error. */
static bool apply_names(struct folder_ctx *f, struct repo_msg_list *local)
{
	const struct sync_request *req = f->acc->req;
	struct status_db *db = f->c->status;
	char **bases = NULL;
	uint32_t *uids = NULL;
	size_t n = 0;
	char *err = NULL;
	if (!st_ok(f, outbox_name_load(db, f->local_name, &bases, &uids, &n, &err), &err))
		return false;
	if (n == 0)
		return true;

	struct named *mapped = xmalloc((local->n ? local->n : 1) * sizeof(*mapped));
	size_t n_mapped = 0;
	for (size_t i = 0; i < local->n; i++) {
		struct repo_msg *m = &local->v[i];
		size_t row;
		if (find_base(bases, n, m->key + 4, base_len(m->key + 4), &row)) {
			if (m->uid != uids[row])
				mapped[n_mapped++] = (struct named){ m, uids[row], row };
		}
	}

	/* Conflicts: a UID already in a file name, or mapped twice. */
	size_t n_taken = 0;
	uint32_t *taken = xmalloc((local->n ? local->n : 1) * sizeof(*taken));
	for (size_t i = 0; i < local->n; i++)
		if (local->v[i].uid)
			taken[n_taken++] = local->v[i].uid;
	qsort(taken, n_taken, sizeof(*taken), cmp_u32);
	qsort(mapped, n_mapped, sizeof(*mapped), cmp_named_uid);
	for (size_t i = 0; i < n_mapped; i++) {
		struct named *x = &mapped[i];
		bool dup = (i > 0 && mapped[i - 1].uid == x->uid) ||
			   (i + 1 < n_mapped && mapped[i + 1].uid == x->uid) ||
			   bsearch(&x->uid, taken, n_taken, sizeof(*taken), cmp_u32);
		if (dup) {
			log_warn("Folder %s: %s: its UID %u (names table) is also claimed by "
				 "another file; treating it by its name", f->remote_name, x->m->key,
				 x->uid);
			x->uid = 0;
		}
	}
	for (size_t i = 0; i < n_mapped; i++)
		if (mapped[i].uid)
			mapped[i].m->uid = mapped[i].uid;
	free(taken);

	if (!req->keep_local_names) {
		/* One-shot: OfflineIMAP names for mapped files, rows dropped
		 * (also those of files that are gone). */
		struct repo *lr = f->c->local;
		bool *keep = xcalloc(n, sizeof(*keep));
		for (size_t i = 0; i < n_mapped; i++) {
			struct named *x = &mapped[i];
			keep[x->row] = true; /* until its file carries the UID */
			if (!x->uid || f->failed)
				continue;
			if (req->dry_run) {
				log_info("[DRYRUN] Rename %s[%s] %s to carry UID %u", lr->ops->type_name,
					 f->local_name, x->m->key, x->uid);
				continue;
			}
			char *old = xstrdup(x->m->key);
			int rc = lr->ops->set_uid(lr, x->m, x->uid);
			if (rc == REPO_OK) {
				log_info("Folder %s: renamed %s to %s (UID %u from the names table)",
					 f->remote_name, old, x->m->key, x->uid);
				keep[x->row] = false;
			} else {
				repo_call_ok(f, lr, rc);
			}
			free(old);
		}
		int rc = 0;
		if (!req->dry_run) {
			rc = st_flush(f) ? status_begin(db, &err) : -1;
			for (size_t i = 0; rc == 0 && i < n; i++)
				if (!keep[i])
					rc = outbox_name_remove(db, f->local_name, bases[i], &err);
			if (rc == 0)
				rc = status_commit(db, &err);
			if (rc < 0 && err) {
				status_rollback(db);
				st_ok(f, rc, &err);
			}
		}
		free(keep);
	}

	for (size_t i = 0; i < n; i++)
		free(bases[i]);
	free(bases);
	free(uids);
	free(mapped);
	return !f->failed;
}

/* --- skipping unchanged folders, CHANGEDSINCE (docs/protocol.md) ------- */

/* OFFLINEFS_FULL_LISTING=1 turns the shortcuts off (probe, CHANGEDSINCE):
 * every folder is selected and listed in full. For tests that compare the
 * two ways, and as an escape hatch. */
static bool env_full_listing(void)
{
	const char *v = getenv("OFFLINEFS_FULL_LISTING");
	return v && *v && strcmp(v, "0");
}

static const struct repo_probe_entry *probe_find(const struct account_ctx *acc, const char *name)
{
	if (!acc->probed)
		return NULL;
	for (size_t i = 0; i < acc->probe.n; i++)
		if (!strcmp(acc->probe.v[i].name, name))
			return &acc->probe.v[i];
	return NULL;
}

/* Whether the server's STATUS says the folder is as the last completed
 * sync left it. With CONDSTORE an unchanged HIGHESTMODSEQ (every flag
 * change, append and expunge raises it) together with UIDVALIDITY, UIDNEXT
 * and MESSAGES proves it. Without CONDSTORE, MESSAGES and UIDNEXT only
 * prove that no message came or went; flag changes are invisible, so that
 * is trusted only in quick mode. */
static bool remote_unchanged(const struct account_ctx *acc, const struct repo_probe_entry *pe,
			     const struct status_folder *sf)
{
	const struct repo_folder_status *st = &pe->st;
	if (!sf->uidvalidity || st->uidvalidity != sf->uidvalidity || st->uidnext != sf->uidnext ||
	    st->exists != sf->messages)
		return false;
	if (acc->probe.condstore && sf->highestmodseq)
		return st->highestmodseq == sf->highestmodseq;
	return acc->quick;
}

static int cmp_msg_by_uid(const void *a, const void *b)
{
	const struct repo_msg *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static bool u32_member(const uint32_t *v, size_t n, uint32_t x)
{
	return n && bsearch(&x, v, n, sizeof(*v), cmp_u32);
}

/* Builds the remote listing from the status rows and what changed on the
 * server since sf->highestmodseq: rows minus vanished UIDs, plus / replaced
 * by the changed messages. Returns false (and leaves *remote empty) when it
 * cannot, so the caller lists everything instead. */
static bool list_incremental(struct folder_ctx *f, const struct status_folder *sf,
			     const struct repo_folder_status *rst, const struct status_rec *rows,
			     size_t n_rows, struct repo_msg_list *remote)
{
	struct repo *rr = f->c->remote;
	const struct account_settings *a = f->acc->a;
	if (rst->highestmodseq == sf->highestmodseq && rst->uidnext == sf->uidnext &&
	    rst->exists == sf->messages && a->remote.sync_deletes && a->local.sync_deletes) {
		/* Nothing happened on the server since the last completed sync
		 * (which made no change there after its SELECT, or MODSEQ would
		 * have moved): its listing is the status rows. With sync_deletes
		 * off a row can outlive its server message, hence the condition. */
		for (size_t i = 0; i < n_rows; i++) {
			struct repo_msg m = { .uid = rows[i].uid, .flags = rows[i].flags };
			repo_msg_list_add(remote, &m);
		}
		log_debug(LOG_DBG_SYNC, "Folder %s: unchanged on the server (HIGHESTMODSEQ %llu)",
			  f->remote_name, (unsigned long long)rst->highestmodseq);
		return true;
	}
	uint32_t *known = xmalloc((n_rows ? n_rows : 1) * sizeof(*known));
	for (size_t i = 0; i < n_rows; i++)
		known[i] = rows[i].uid;
	struct repo_msg_list changed = { 0 };
	uint32_t *gone = NULL;
	size_t n_gone = 0, present = 0;
	int rc = rr->ops->list_changes(rr, sf->highestmodseq, known, n_rows, &changed, &gone,
				       &n_gone, &present);
	free(known);
	if (rc != REPO_OK) {
		free(gone);
		repo_msg_list_free(&changed);
		if (rc == REPO_STORE_BAD) {
			repo_call_ok(f, rr, rc);
			return false;
		}
		log_debug(LOG_DBG_SYNC, "Folder %s: %s; listing every message", f->remote_name,
			  repo_error(rr));
		return false;
	}
	if (changed.n)
		qsort(changed.v, changed.n, sizeof(*changed.v), cmp_msg_by_uid);
	for (size_t i = 0; i < n_rows; i++) {
		if (u32_member(gone, n_gone, rows[i].uid))
			continue;
		struct repo_msg key = { .uid = rows[i].uid };
		if (changed.n && bsearch(&key, changed.v, changed.n, sizeof(*changed.v), cmp_msg_by_uid))
			continue;
		struct repo_msg m = { .uid = rows[i].uid, .flags = rows[i].flags };
		repo_msg_list_add(remote, &m);
	}
	for (size_t i = 0; i < changed.n; i++)
		repo_msg_list_add(remote, &changed.v[i]);
	free(changed.v);
	free(gone);
	if (remote->n != present) {
		log_debug(LOG_DBG_SYNC, "Folder %s: CHANGEDSINCE gave %zu messages, the server has "
			  "%zu; listing every message", f->remote_name, remote->n, present);
		repo_msg_list_free(remote);
		return false;
	}
	log_debug(LOG_DBG_SYNC, "Folder %s: %zu changed, %zu vanished since MODSEQ %llu",
		  f->remote_name, changed.n, n_gone, (unsigned long long)sf->highestmodseq);
	return true;
}

/* Whether the names table (cache/outbox.h) holds rows for the local
 * folder: the live mount named files there that the one-shot run must
 * rename, and the mount itself must see them applied; no skipping then. */
static bool has_names(struct conn *c, const char *local_name)
{
	char **bases = NULL;
	uint32_t *uids = NULL;
	size_t n = 0;
	char *err = NULL;
	if (outbox_name_load(c->status, local_name, &bases, &uids, &n, &err) < 0) {
		free(err);
		return true;
	}
	for (size_t i = 0; i < n; i++)
		free(bases[i]);
	free(bases);
	free(uids);
	return n > 0;
}

/* The two halves of skipping a folder without SELECT (docs/protocol.md
 * section 2), shared by sync_folder and folder_quiet. The server side:
 * the probe shows nothing changed since the rows, and the mount has no
 * names for the one-shot run to apply. */
static bool server_side_quiet(struct account_ctx *acc, struct conn *c,
			      const struct folder_pair *pair, const struct status_folder *sf)
{
	const struct repo_probe_entry *pe = probe_find(acc, pair->remote);
	return pe && remote_unchanged(acc, pe, sf) && !has_names(c, pair->local);
}

/* The Maildir side: new/ and cur/ still have the mtimes recorded after the
 * last sync (*mn, *mc: what they have now, 0 when unknown). */
static bool recorded_mtimes_hold(struct conn *c, const char *local_name,
				 const struct status_folder *sf, int64_t *mn, int64_t *mc)
{
	return sf->new_mtime_ns && sf->cur_mtime_ns && mtime_check_dirs(c->local, local_name, mn, mc) &&
	       *mn == sf->new_mtime_ns && *mc == sf->cur_mtime_ns;
}

/* copy_ignore_eval (sync/folder_map.h): the UIDs it names are never
 * downloaded, like OfflineIMAP's "IGNORED: Copy message"; nothing else of
 * the plan changes, so they are not taken for deleted either. Returns 0,
 * or -1 after failing the folder on a Python error. */
static int drop_ignored_downloads(struct folder_ctx *f, const struct repo_msg_list *remote,
				  struct plan *p)
{
	uint32_t *uids = NULL;
	size_t n = 0;
	char *err = NULL;
	char rsep = f->c->remote->ops->separator(f->c->remote);
	if (folder_map_copy_ignore(f->acc->fmap, f->remote_name, rsep, &uids, &n, &err) < 0) {
		log_error("Folder %s: %s", f->remote_name, err);
		free(err);
		f->failed = true;
		return -1;
	}
	size_t kept = 0;
	for (size_t i = 0; i < p->n_download; i++) {
		uint32_t uid = remote->v[p->download[i]].uid;
		bool ignored = false;
		for (size_t k = 0; k < n && !ignored; k++)
			ignored = uids[k] == uid;
		if (ignored)
			log_info("IGNORED: Copy message UID %u %s:%s -> %s", uid,
				 f->acc->a->remote.name, f->remote_name, f->acc->a->local.name);
		else
			p->download[kept++] = p->download[i];
	}
	p->n_download = kept;
	free(uids);
	return 0;
}


/* --- one folder -------------------------------------------------------- */

/* The folder's UIDVALIDITY changed (saved sf->uidvalidity, now
 * new_validity): re-pair it (sync/uidv_recover.h) unless the account says
 * uidvalidity_recover = no, the run is a dry run, the Maildir is readonly
 * or the mount keeps its readers' file names (then it is skipped as
 * before). Lists the local folder into *local. Returns true when
 * recovered (sf updated); false with f->failed when the recovery failed,
 * false alone when it was not tried. */
static bool recover_validity(struct folder_ctx *f, const struct folder_pair *pair,
			     struct status_folder *sf, uint32_t new_validity,
			     struct repo_msg_list *local)
{
	struct account_ctx *acc = f->acc;
	const struct account_settings *a = acc->a;
	struct conn *c = f->c;
	if (!a->uidvalidity_recover || acc->req->dry_run || a->local.readonly ||
	    acc->req->keep_local_names || acc->local_root_missing)
		return false;
	struct repo_folder_status lst;
	bool same;
	int64_t mn, mc;
	int rc = c->local->ops->select_folder(c->local, pair->local, true, &lst);
	if (rc == REPO_OK &&
	    !mtime_checker_take(acc->checker, pair->remote, &same, &mn, &mc, local))
		rc = c->local->ops->list_messages(c->local, local);
	if (!repo_call_ok(f, c->local, rc) || rc != REPO_OK)
		return false;
	struct uidv_recovery rec;
	char *err = NULL;
	uint32_t old = sf->uidvalidity;
	if (uidv_recover(c->remote, c->local, c->status, sf, new_validity, local, &rec, &err) < 0) {
		log_error("Folder %s: UIDVALIDITY changed (saved %u, now %u); recovery failed, "
			  "nothing was deleted and the next run tries again: %s",
			  f->remote_name, old, new_validity, err);
		free(err);
		f->failed = true;
		return false;
	}
	log_warn("Folder %s: UIDVALIDITY changed (saved %u, now %u); recovered: %zu re-paired, "
		 "%zu to upload, %zu to download, nothing deleted", f->remote_name, old,
		 new_validity, rec.paired, rec.to_upload, rec.to_download);
	return true;
}

/* --rebuild-status: the folder's rows from both listings (sync/rebuild.h). */
static void rebuild_rows(struct folder_ctx *f, struct repo_msg_list *remote,
			 struct repo_msg_list *local, const struct repo_folder_status *rst)
{
	struct rebuild_counts rc;
	char *err = NULL;
	if (rebuild_folder(f->c->status, f->folder_id, f->remote_name, f->c->remote, f->c->local,
			   remote, local, rst, f->acc->req->dry_run, &rc, &err) < 0) {
		st_ok(f, -1, &err);
		return;
	}
	log_info("%sFolder %s: status rebuilt: %zu messages on both sides (%zu of them found by "
		 "content), %zu only on the server, %zu only in the Maildir (the next sync copies "
		 "those, deleting nothing)", f->acc->req->dry_run ? "[DRYRUN] " : "",
		 f->remote_name, rc.paired, rc.by_content, rc.server_only, rc.local_only);
}

static void sync_folder(struct account_ctx *acc, struct conn *c, const struct folder_pair *pair)
{
	const char *remote_name = pair->remote, *local_name = pair->local;
	const struct account_settings *a = acc->a;
	bool dry = acc->req->dry_run;
	struct folder_ctx f = { .acc = acc, .c = c, .remote_name = remote_name, .local_name = local_name };
	struct repo_msg_list remote = { 0 }, local = { 0 };
	struct status_rec *rows = NULL;
	size_t n_rows = 0;
	bool rows_loaded = false;
	struct plan plan = { 0 };
	struct status_folder sf = { 0 };
	bool check_mtimes = false;
	bool local_listed = false; /* local holds the listing of the skip check */
	char *err = NULL;
	int rc;

	ui_ev_folder_start(a->name, c->remote->ops->type_name, remote_name, c->local->ops->type_name,
			   local_name);

	rc = status_folder_get(c->status, remote_name, &sf, &err);
	if (rc < 0 && !st_ok(&f, rc, &err))
		goto out;
	if (sf.id == 0 && !dry) {
		if (!st_ok(&f, status_folder_ensure(c->status, remote_name, &sf.id, &err), &err))
			goto out;
		f.folder_id = sf.id;
		import_offlineimap(&f, &sf);
		if (f.failed)
			goto out;
	}
	f.folder_id = sf.id;

	/* maxage/startdate: a window that moved changes the sync of a folder
	 * that did not change, so it is never skipped (OfflineIMAP ignores -q
	 * with them, too) */
	if (!dry && !pair->remote_missing && !acc->local_root_missing && sf.uidvalidity &&
	    !filters_windowed(&a->filters)) {
		int64_t mn = 0, mc = 0;
		if (server_side_quiet(acc, c, pair, &sf)) {
			bool unchanged = recorded_mtimes_hold(c, local_name, &sf, &mn, &mc);
			if (!unchanged) {
				/* the directories changed (or their mtimes were too
				 * fresh to record): a listing, still no SELECT; done
				 * ahead by the checker's thread when it could */
				bool same = false;
				if (!mtime_checker_take(acc->checker, remote_name, &same, &mn, &mc,
							&local)) {
					struct repo_folder_status lst;
					same = c->local->ops->select_folder(c->local, local_name, false,
									    &lst) == REPO_OK &&
					       mtime_check_listing(c->local, c->status, remote_name,
								   local_name, sf.id, &mn, &mc,
								   &local);
					c->local->ops->close_folder(c->local);
				}
				if (same) {
					unchanged = true;
					if (mn && (mn != sf.new_mtime_ns || mc != sf.cur_mtime_ns))
						mtime_check_record(c->status, remote_name, mn,
								   mc);
				}
				/* a folder that changed keeps this listing for its sync */
				local_listed = !unchanged && local.v;
			}
			if (unchanged) {
				oimap_fill_missing(a, c->status, &sf, remote_name, local_name);
				log_info("Folder %s: nothing to do (unchanged on both sides since the "
					 "last sync; not selected)", remote_name);
				goto out;
			}
		}
	}

	/* offlineimap may have synced the folder since (sync/oimap_follow.h) */
	if (!pair->remote_missing && oimap_adopt(a, c->status, &sf, remote_name, &err) < 0) {
		st_ok(&f, -1, &err);
		goto out;
	}

	struct repo_folder_status rst = { 0 };
	if (pair->remote_missing) {
		/* dry-run of a folder that would be created on the server:
		 * it is empty there, and nothing is selected. */
		goto list_local;
	}
	/* When a CHANGEDSINCE listing will follow (list_incremental), the
	 * SELECT itself can ask for the changes: one round trip less for a
	 * folder where no new message arrived. */
	ui_ev_list_load(a->name, c->remote->ops->type_name, remote_name);
	bool incremental = !acc->full_listing && c->remote->ops->list_changes && sf.id &&
			   sf.highestmodseq && sf.uidvalidity && !a->maxsize && !a->remote.readonly &&
			   !a->local.readonly && !filters_windowed(&a->filters);
	if (incremental && !dry && c->remote->ops->select_since)
		rc = c->remote->ops->select_since(c->remote, remote_name, sf.uidvalidity,
						  sf.highestmodseq, &rst);
	else
		rc = c->remote->ops->select_folder(c->remote, remote_name,
						     !dry && !a->remote.readonly, &rst);
	complete_deferred(acc, c); /* the folder before: its syncs ran meanwhile */
	if (!repo_call_ok(&f, c->remote, rc) || rc != REPO_OK)
		goto out;
	if (sf.uidvalidity && sf.uidvalidity != rst.uidvalidity &&
	    recover_validity(&f, pair, &sf, rst.uidvalidity, &local)) {
		local_listed = true; /* the renamed files, listed */
		incremental = false; /* the old HIGHESTMODSEQ means nothing now */
	}
	if (f.failed)
		goto out;
	if (sf.uidvalidity && sf.uidvalidity != rst.uidvalidity && dry && a->uidvalidity_recover &&
	    !a->local.readonly && !acc->req->keep_local_names) {
		log_info("[DRYRUN] Folder %s: UIDVALIDITY changed (saved %u, now %u); a real run "
			 "would recover it (re-pair by content, delete nothing; docs/uidvalidity.md)",
			 remote_name, sf.uidvalidity, rst.uidvalidity);
		goto out;
	}
	if (sf.uidvalidity && sf.uidvalidity != rst.uidvalidity) {
		/* Never apply old state to new UIDs (OfflineIMAP's defect,
		 * offlineimap.md §4.6): the folder is left exactly as it is. */
		char *text = xasprintf(
			"UID validity problem for folder %s (saved %u; got %u); skipping it. "
			"The server renumbered its messages; nothing in this folder was touched. "
			"See docs/uidvalidity.md for how to start the folder over",
			remote_name, sf.uidvalidity, rst.uidvalidity);
		ui_ev_validity(a->name, remote_name, a->remote.name, sf.uidvalidity,
			       rst.uidvalidity, text);
		free(text);
		__atomic_add_fetch(&acc->validity_skips, 1, __ATOMIC_RELAXED);
		goto out;
	}

	if (sf.id && !st_ok(&f, status_load(c->status, sf.id, &rows, &n_rows, &err), &err))
		goto out;
	rows_loaded = true;
	bool listed = false;
	if (incremental && rst.highestmodseq && sf.uidvalidity == rst.uidvalidity) {
		listed = list_incremental(&f, &sf, &rst, rows, n_rows, &remote);
		if (f.failed)
			goto out;
	}
	if (!listed) {
		rc = c->remote->ops->list_messages(c->remote, &remote);
		if (!repo_call_ok(&f, c->remote, rc) || rc != REPO_OK)
			goto out;
	}
	if (remote.n < rst.exists && !listed) {
		log_error("Folder %s: the server announced %u messages but listed %zu; skipping the "
			  "folder rather than mistaking the missing ones for deletions",
			  remote_name, rst.exists, remote.n);
		f.failed = true;
		goto out;
	}
	/* the folder's count, as OfflineIMAP's (a CHANGEDSINCE listing holds
	 * only the changes) */
	ui_ev_list_loaded(a->name, c->remote->ops->type_name, remote_name, rst.exists);

list_local:
	if (!acc->local_root_missing) {
		struct repo_folder_status lst;
		ui_ev_list_load(a->name, c->local->ops->type_name, local_name);
		rc = c->local->ops->select_folder(c->local, local_name, true, &lst);
		bool same;
		int64_t mn, mc;
		if (rc == REPO_OK && !local_listed && !dry &&
		    mtime_checker_take(acc->checker, remote_name, &same, &mn, &mc, &local))
			local_listed = true; /* listed while the server answered */
		if (rc == REPO_OK && !local_listed)
			rc = c->local->ops->list_messages(c->local, &local);
		else if (dry)
			rc = REPO_OK; /* the folder would be created: empty */
		if (!repo_call_ok(&f, c->local, rc) || rc != REPO_OK)
			goto out;
		ui_ev_list_loaded(a->name, c->local->ops->type_name, local_name, local.n);
	}

	if (sf.id && !rows_loaded &&
	    !st_ok(&f, status_load(c->status, sf.id, &rows, &n_rows, &err), &err))
		goto out;
	f.rows = rows;
	f.n_rows = n_rows;
	if (!acc->local_root_missing && !apply_names(&f, &local))
		goto out;
	if (!dry && !acc->local_root_missing && sf.id && !resolve_in_flight(&f, &local))
		goto out;
	if (acc->req->rebuild_status) {
		rebuild_rows(&f, &remote, &local, &rst);
		goto out;
	}

	struct plan_options popt = {
		.remote_readonly = a->remote.readonly,
		.local_readonly = a->local.readonly,
		.remote_sync_deletes = a->remote.sync_deletes,
		.local_sync_deletes = a->local.sync_deletes,
		.maxsize = a->maxsize,
		.remote_storable = c->remote->ops->storable_flags(c->remote),
		.local_storable = c->local->ops->storable_flags(c->local),
	};
	const char *perr = NULL;
	struct status_rec *wrows = rows; /* maxage/startdate: the rows in the window */
	size_t n_wrows = n_rows;
	if (filters_windowed(&a->filters) &&
	    folder_window_apply(a, remote_name, local_name, dry, &remote, &local, rows, n_rows,
				&wrows, &n_wrows) < 0) {
		f.failed = true;
		goto out;
	}
	int prc = plan_folder(wrows, n_wrows, remote.v, remote.n, local.v, local.n, &popt, &plan,
			      &perr);
	if (wrows != rows)
		free(wrows);
	if (prc < 0) {
		log_error("Folder %s: %s; skipping it", remote_name, perr);
		f.failed = true;
		goto out;
	}
	if (drop_ignored_downloads(&f, &remote, &plan) < 0)
		goto out;
	if (plan.n_skipped_oversize)
		log_info("Folder %s: %zu messages larger than maxsize (%llu bytes) skipped",
			 remote_name, plan.n_skipped_oversize, (unsigned long long)a->maxsize);
	/* Mass deletions wait for the user's word (sync/delete_guard.h). */
	bool held = delete_hold_folder(a, acc->req->confirm_deletes, dry, &acc->held, c->status,
				       remote_name, &plan, remote.v, local.v, n_rows, &f.failed);

	if (dry) {
		report_plan(&f, &remote, &local, &plan);
		goto out;
	}
	uint64_t copy_bytes = 0; /* for the UIs' progress */
	for (size_t i = 0; i < plan.n_download; i++)
		copy_bytes += remote.v[plan.download[i]].size;
	for (size_t i = 0; i < plan.n_upload; i++)
		copy_bytes += local.v[plan.upload[i]].size;
	ui_ev_folder_plan(a->name, remote_name, plan.n_download + plan.n_upload, copy_bytes);

	/* The folder row carries UIDVALIDITY from the first write on, so the
	 * rows below are never applied to a renumbered folder. */
	sf.uidvalidity = rst.uidvalidity;
	/* Until this sync completes, the next one must neither skip the
	 * folder nor trust CHANGEDSINCE from the old MODSEQ. */
	struct status_folder during = sf;
	during.highestmodseq = 0;
	during.new_mtime_ns = during.cur_mtime_ns = 0;
	st_folder(&f, &during);
	if (!st_flush(&f))
		goto out;

	if (!a->local.readonly)
		ui_ev_syncing_messages(a->name, c->remote->ops->type_name, remote_name,
				       c->local->ops->type_name, local_name);
	premark_uploads(&f, &local, &plan);
	if (!f.failed)
		run_downloads(&f, &remote, &plan);
	if (f.new_unseen && acc->req->new_unseen_mail)
		acc->req->new_unseen_mail(acc->req->new_unseen_mail_ctx, acc->a, f.remote_name);
	/* flag changes and deletions for the server in one exchange when both
	 * are due; their results count below where each call used to be. It
	 * goes before the uploads, whose marks are synced meanwhile. */
	if (!a->remote.readonly)
		ui_ev_syncing_messages(a->name, c->local->ops->type_name, local_name,
				       c->remote->ops->type_name, remote_name);
	bool combined = !f.failed && plan.n_remote_flags && plan.n_delete_remote &&
			c->remote->ops->set_flags_and_delete;
	bool remote_flags_ok = true, remote_del_ok = true;
	if (combined)
		apply_remote_flags_and_deletes(&f, c->remote, &remote, &plan, &remote_flags_ok,
					       &remote_del_ok);
	if (!f.failed)
		run_uploads(&f, &local, &plan);
	unmark_unsent(&f);
	if (!f.failed) {
		bool lok = apply_flags(&f, c->local, &local, plan.local_flags, plan.n_local_flags);
		bool rok = combined ? remote_flags_ok
				    : apply_flags(&f, c->remote, &remote, plan.remote_flags,
						  plan.n_remote_flags);
		f.flagged_local = lok ? plan.n_local_flags : 0;
		f.flagged_remote = rok ? plan.n_remote_flags : 0;
		bool ok = lok && rok;
		/* Merged flags become the new base only when both sides took them. */
		for (size_t i = 0; ok && i < plan.n_status_put; i++)
			ok = st_put(&f, plan.status_put[i].uid, plan.status_put[i].flags);
	}
	if (!f.failed) {
		bool lok = apply_deletes(&f, c->local, &local, plan.delete_local, plan.n_delete_local);
		bool rok = combined ? remote_del_ok
				    : apply_deletes(&f, c->remote, &remote, plan.delete_remote,
						    plan.n_delete_remote);
		f.deleted_local = lok ? plan.n_delete_local : 0;
		f.deleted_remote = rok ? plan.n_delete_remote : 0;
		bool ok = lok && rok;
		for (size_t i = 0; ok && i < plan.n_status_forget; i++)
			ok = st_forget(&f, plan.status_forget[i]);
	}
	if (!f.failed) {
		/* a message that failed alone must be retried: no shortcut (a 0
		 * UIDNEXT never matches the probe, so even -q selects the folder) */
		/* ... and so must held deletions, to be reported again */
		bool again = f.msg_errors || held;
		sf.uidnext = again ? 0 : rst.uidnext;
		sf.messages = rst.exists;
		sf.highestmodseq = again ? 0 : rst.highestmodseq;
		/* "unknown" until the checker has listed the folder again */
		sf.new_mtime_ns = sf.cur_mtime_ns = 0;
		sf.last_sync = (int64_t)time(NULL);
		st_folder(&f, &sf);
		check_mtimes = !again && !acc->local_root_missing;
	}
	/* The syncs of the last renames overlap the next folder's SELECT;
	 * the rows follow them (defer_rows). */
	if (!defer_rows(&f, check_mtimes && !f.failed)) {
		st_flush(&f);
		/* Off the critical path: the next folder's sync goes on meanwhile. */
		if (check_mtimes && !f.failed)
			mtime_checker_add(acc->checker, remote_name, local_name, f.folder_id);
	}

	if (plan_change_count(&plan) == 0)
		log_info("Folder %s: nothing to do", remote_name);
	else
		log_info("Folder %s: %zu copied to %s, %zu copied to %s, %zu deleted in %s, "
			 "%zu deleted in %s, %zu+%zu flag changes%s", remote_name, f.copied_down,
			 c->local->ops->type_name, f.copied_up, c->remote->ops->type_name,
			 f.deleted_local, c->local->ops->type_name, f.deleted_remote,
			 c->remote->ops->type_name, f.flagged_local, f.flagged_remote,
			 f.failed ? " (stopped by an error)" : "");
out:
	/* Keep what was done even after a failure: every queued row
	 * describes a message that really exists on both sides. */
	st_flush(&f);
	unmark_unsent(&f); /* a failure may have skipped the call above */
	free(f.puts);
	free(f.forgets);
	strlist_free(&f.clears); /* left by a failed commit: the marks stay */
	if (f.failed)
		__atomic_add_fetch(&acc->folder_errors, 1, __ATOMIC_RELAXED);
	if (!pair->remote_missing)
		c->remote->ops->close_folder(c->remote);
	if (!acc->local_root_missing)
		c->local->ops->close_folder(c->local);
	plan_free(&plan);
	free(rows);
	repo_msg_list_free(&remote);
	repo_msg_list_free(&local);
	ui_ev_folder_end(a->name, remote_name);
}

/* --- folder structure -------------------------------------------------- */

struct pair_list {
	struct folder_pair *v;
	size_t n, cap;
};

static void pair_add(struct pair_list *l, const char *remote, const char *local,
		     bool remote_missing)
{
	xgrow(&l->v, &l->cap, l->n + 1, sizeof(*l->v));
	l->v[l->n].remote = xstrdup(remote);
	l->v[l->n].local = xstrdup(local);
	l->v[l->n].remote_missing = remote_missing;
	l->n++;
}

static void pair_free(struct pair_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].remote);
		free(l->v[i].local);
	}
	free(l->v);
}

/* A folder newly created on one side has no messages there, so its old
 * status rows (if any) must go, or they would read as "deleted". */
static void reset_folder_status(struct account_ctx *acc, const char *remote_name)
{
	struct status_folder sf;
	char *err = NULL;
	if (status_folder_get(acc->main.status, remote_name, &sf, &err) == 1) {
		if (status_folder_clear(acc->main.status, sf.id, &err) < 0 ||
		    (sf.uidvalidity = 0, status_folder_update(acc->main.status, &sf, &err)) < 0) {
			log_error("Folder %s: status cache: %s", remote_name, err);
			free(err);
		} else if (!acc->req->dry_run) {
			/* OfflineIMAP empties its status of a folder it creates */
			oimap_follow_commit(acc->a, acc->main.status, sf.id, remote_name, "", 0, true,
					    NULL, 0, NULL, 0);
		}
	} else {
		free(err);
	}
}

/* With reference or subscribedonly the listing leaves out folders the
 * server has: true when rname is one of them (a STATUS answers), so that
 * a local folder of the same name is not "created" again, and its status
 * reset, on every run. Costs nothing without those options. */
static bool listing_narrowed_hides(struct account_ctx *acc, const char *rname)
{
	const struct sync_filters *fl = &acc->a->filters;
	struct repo *r = acc->main.remote;
	if ((!fl->reference && !fl->subscribedonly) || !r->ops->probe)
		return false;
	struct strlist one = STRLIST_INIT;
	struct repo_probe pr = { 0 };
	strlist_add(&one, rname);
	bool found = r->ops->probe(r, &one, &pr) == REPO_OK && pr.n == 1;
	repo_probe_free(&pr);
	strlist_free(&one);
	return found;
}

/* folderincludes the listing lacks are synced when the server has them:
 * each is EXAMINEd, as OfflineIMAP SELECTs them read-only; one it does not
 * have is an error ("Invalid folderinclude") and is left out. */
static void add_folderincludes(struct account_ctx *acc, struct strlist *rlist)
{
	struct strlist missing = STRLIST_INIT;
	folder_map_missing_includes(acc->fmap, rlist, &missing);
	struct repo *r = acc->main.remote;
	for (size_t i = 0; i < missing.n; i++) {
		struct repo_folder_status st;
		if (r->ops->select_folder(r, missing.v[i], false, &st) == REPO_OK) {
			strlist_add(rlist, missing.v[i]);
		} else {
			log_error("Invalid folderinclude: %s", repo_error(r));
		}
		r->ops->close_folder(r);
	}
	strlist_free(&missing);
}

/* The folder structure (sync/folder_map.h decides names, filters and
 * order): creates what is missing on either side, then lists the pairs to
 * sync. */
static int build_folder_pairs(struct account_ctx *acc, struct pair_list *pairs)
{
	const struct account_settings *a = acc->a;
	bool dry = acc->req->dry_run;
	struct strlist rlist = STRLIST_INIT, llist = STRLIST_INIT;
	struct fm_plan plan = { 0 };
	char *err = NULL;
	int ret = -1;

	int rc = acc->main.remote->ops->list_folders(acc->main.remote, &rlist);
	if (rc != REPO_OK) {
		log_error("%s", repo_error(acc->main.remote));
		goto out;
	}
	/* after the listing: IMAP learns the separator from it */
	char rsep = acc->main.remote->ops->separator(acc->main.remote);
	if (!acc->local_root_missing) {
		rc = acc->main.local->ops->list_folders(acc->main.local, &llist);
		if (rc != REPO_OK) {
			log_error("%s", repo_error(acc->main.local));
			goto out;
		}
	}
	add_folderincludes(acc, &rlist);
	strlist_sort(&rlist);
	strlist_sort(&llist);
	if (folder_map_plan(acc->fmap, &rlist, rsep, &llist, &plan, &err) < 0) {
		log_error("Account %s: %s", a->name, err);
		free(err);
		goto out;
	}

	bool local_can_create = a->local.createfolders && !a->local.readonly;
	bool remote_can_create = a->remote.createfolders && !a->remote.readonly;

	for (size_t i = 0; i < plan.nr; i++) {
		const char *rname = plan.r[i].wire, *lname = plan.r[i].local;
		if (!lname || !plan.r[i].remote_sync || !folder_selected(acc->req, rname))
			continue;
		if (strlist_find(&llist, lname) < 0) {
			if (!local_can_create) {
				log_info("Folder %s: missing in %s and not created there (readonly or "
					 "createfolders = no)", rname, a->local.name);
				continue;
			}
			if (dry) {
				log_info("[DRYRUN] Creating folder %s[%s]", lname, a->local.name);
			} else {
				log_info("Creating folder %s[%s]", lname, a->local.name);
				rc = acc->main.local->ops->create_folder(acc->main.local, lname);
				if (rc != REPO_OK) {
					log_error("%s", repo_error(acc->main.local));
					__atomic_add_fetch(&acc->folder_errors, 1, __ATOMIC_RELAXED);
					continue;
				}
				reset_folder_status(acc, rname);
			}
		}
		if (plan.r[i].sync)
			pair_add(pairs, rname, lname, false);
	}

	for (size_t i = 0; i < plan.nc; i++) {
		const char *lname = plan.c[i].local, *rname = plan.c[i].wire;
		if (!folder_selected(acc->req, rname))
			continue;
		if (listing_narrowed_hides(acc, rname)) {
			/* on the server, outside reference/subscribedonly: synced as
			 * it is, with its status (no "creation" that would reset it) */
			pair_add(pairs, rname, lname, false);
		} else if (!remote_can_create) {
			log_info("Folder %s: missing on %s and not created there (readonly or "
				 "createfolders = no)", lname, a->remote.name);
		} else if (dry) {
			log_info("[DRYRUN] Creating folder %s[%s]", rname, a->remote.name);
			pair_add(pairs, rname, lname, true);
		} else {
			log_info("Creating folder %s[%s]", rname, a->remote.name);
			rc = acc->main.remote->ops->create_folder(acc->main.remote, rname);
			if (rc != REPO_OK) {
				log_error("%s", repo_error(acc->main.remote));
				__atomic_add_fetch(&acc->folder_errors, 1, __ATOMIC_RELAXED);
			} else {
				reset_folder_status(acc, rname);
				pair_add(pairs, rname, lname, false);
			}
		}
	}
	ret = 0;
out:
	fm_plan_free(&plan);
	strlist_free(&rlist);
	strlist_free(&llist);
	return ret;
}

/* --- account ----------------------------------------------------------- */

static int make_dir_0700(const char *path)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	return -1;
}

struct repo *sync_make_remote(const struct account_settings *a)
{
	const struct repo_settings *rs = &a->remote;
	struct imap_settings s = {
		.host = rs->host,
		.port = rs->port,
		.user = rs->user,
		.password = rs->password,
		.ssl = rs->ssl,
		.starttls = rs->starttls,
		.cacertfile = rs->cacertfile,
		.fingerprints = rs->fingerprints,
		.timeout_seconds = a->socktimeout,
		.expunge = rs->expunge,
		.auth_mechanisms = rs->auth_mechanisms,
		.reference = a->filters.reference,
		.subscribedonly = a->filters.subscribedonly,
		.clientcert = rs->clientcert,
		.clientkey = rs->clientkey,
		.tls_version = rs->tls_version,
		.ip_version = rs->ip_version,
		.remote_identity = rs->remote_identity,
		.trust_loopback = rs->trust_loopback,
	};
	for (int i = 0; i < 26; i++)
		s.keywords[i] = a->local.keywords[i];
	return imap_repo_new(rs->name, &s);
}

static struct repo *make_local(const struct account_settings *a, const struct sync_request *req,
			       struct folder_map *fm)
{
	struct maildir_settings s = {
		.root = a->local.localfolders,
		.sep = a->local.sep,
		.infosep = a->filters.infosep ? a->filters.infosep : ':',
		.fsync = a->fsync,
		.need_sizes = a->maxsize > 0,
		.create_root = !req->dry_run,
		.name_from_date = a->filters.filename_use_mail_timestamp,
		.mtime_from_date = a->filters.utime_from_header,
		.on_change = req->on_change,
		.change_ctx = req->change_ctx,
		/* a local nametrans changes what FMD5 hashes */
		.fmd5_name = a->local.nametrans.set ? folder_map_fmd5_name : NULL,
		.fmd5_ctx = fm,
	};
	return maildir_repo_new(a->local.name, &s);
}

/* Opens a worker's own connections. Returns 0, or -1 after logging. */
static int conn_open(struct account_ctx *acc, struct conn *c)
{
	const struct account_settings *a = acc->a;
	char *err = NULL;
	struct repo **held = c == &acc->main ? acc->req->held_remote : NULL;
	bool connected = held && *held;
	if (connected) { /* holdconnectionopen: the last sync's connection */
		c->remote = *held;
		*held = NULL;
	} else {
		/* The server prepares its side of the connection while the
		 * status cache opens. */
		c->remote = sync_make_remote(a);
		if (c->remote->ops->begin_connect)
			c->remote->ops->begin_connect(c->remote);
	}
	if (status_open(acc->db_path, acc->req->dry_run, a->fsync, &c->status, &err) < 0) {
		if (status_error_is_damage(err)) {
			char *cmd = delete_hold_command(a, NULL);
			log_error("Account %s: %s; the status database is damaged. Nothing was "
				  "synced. To move it aside and rebuild it from the Maildir and the "
				  "server (nothing is downloaded, uploaded or deleted), run: %s "
				  "--rebuild-status", a->name, err, cmd);
			free(cmd);
		} else {
			log_error("Account %s: %s", a->name, err);
		}
		free(err);
		return -1;
	}
	c->local = make_local(a, acc->req, acc->fmap);
	if (!connected && c->remote->ops->connect(c->remote) != REPO_OK) {
		log_error("Account %s: %s", a->name, repo_error(c->remote));
		return -1;
	}
	if (!acc->local_root_missing && c->local->ops->connect(c->local) != REPO_OK) {
		log_error("Account %s: %s", a->name, repo_error(c->local));
		return -1;
	}
	return 0;
}

static void conn_close(struct conn *c)
{
	if (c->remote)
		c->remote->ops->free(&c->remote);
	if (c->local)
		c->local->ops->free(&c->local);
	status_close(&c->status);
}

/* Before a folder: a connection that an earlier folder lost (a reply
 * that could not be parsed, a cut) is opened again, so one bad reply
 * costs one folder, not every later one ("connection lost earlier").
 * connect is a no-op on a live connection. After one failed attempt the
 * worker stops trying (an unreachable server would cost a timeout per
 * folder): its later folders fail as before. */
static void remote_usable(struct account_ctx *acc, struct conn *c)
{
	if (c->reconnect_failed || !c->remote)
		return;
	if (c->remote->ops->connect(c->remote) != REPO_OK) {
		log_error("Account %s: %s", acc->a->name, repo_error(c->remote));
		c->reconnect_failed = true;
	}
}

/* Each worker takes the next folder pair until none is left. */
static void drain_folders(struct account_ctx *acc, struct conn *c)
{
	const struct sync_request *req = acc->req;
	for (;;) {
		size_t i = __atomic_fetch_add(&acc->next_pair, 1, __ATOMIC_RELAXED);
		if (i >= acc->n_pairs)
			break;
		/* Only ever on the calling thread: run_folders starts no
		 * others when before_folder is set. */
		if (req->before_folder &&
		    !req->before_folder(req->before_folder_ctx, acc->pairs[i].remote,
					acc->pairs[i].local)) {
			log_info("Account %s: sync stopped before folder %s", acc->a->name,
				 acc->pairs[i].remote);
			break;
		}
		/* SIGTERM, SIGHUP, SIGINT: the folders being synced finish,
		 * no other starts (sync/stop.h) */
		if (sync_stop_requested()) {
			log_info("Account %s: %s: not starting folder %s", acc->a->name,
				 sync_stop_reason(), acc->pairs[i].remote);
			break;
		}
		remote_usable(acc, c);
		sync_folder(acc, c, &acc->pairs[i]);
	}
	complete_deferred(acc, c);
}

struct worker {
	pthread_t thread;
	struct account_ctx *acc;
	struct conn c;
	bool opened;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	if (conn_open(w->acc, &w->c) == 0) {
		w->opened = true;
		drain_folders(w->acc, &w->c);
	}
	conn_close(&w->c);
	return NULL;
}

/* Whether sync_folder will skip the pair without a listing: the probe
 * says the server side is unchanged and both Maildir directories still
 * have the mtimes recorded after the last sync. Only counts the work, so
 * that a run with nothing to do opens no extra connection; sync_folder
 * decides for itself (and may still skip a folder this calls busy). *sf:
 * the folder's row as read here (zeroed when there is none). */
static bool folder_quiet_row(struct account_ctx *acc, const struct folder_pair *pair,
			     struct status_folder *sf)
{
	struct conn *c = &acc->main;
	*sf = (struct status_folder){ 0 };
	if (acc->req->dry_run || pair->remote_missing || acc->local_root_missing)
		return false;
	char *err = NULL;
	int rc = status_folder_get(c->status, pair->remote, sf, &err);
	free(err); /* the sync reports it */
	int64_t mn = 0, mc = 0;
	return rc > 0 && sf->uidvalidity && recorded_mtimes_hold(c, pair->local, sf, &mn, &mc) &&
	       server_side_quiet(acc, c, pair, sf);
}

static bool folder_quiet(struct account_ctx *acc, const struct folder_pair *pair)
{
	struct status_folder sf;
	return folder_quiet_row(acc, pair, &sf);
}

/* Syncs the folder pairs over up to maxconnections connections. The main
 * connection works too, so maxconnections = 1 means no extra thread; an
 * extra connection that fails to open just leaves its share to the rest.
 * Extra connections cost a login each (several ms of the server's time):
 * only as many as there are folders with work beyond the first. */
static void run_folders(struct account_ctx *acc, struct pair_list *pairs)
{
	acc->pairs = pairs->v;
	acc->n_pairs = pairs->n;
	acc->next_pair = 0;
	size_t extra = 0;
	int maxconn = acc->req->before_folder ? 1 : acc->a->remote.maxconnections;
	if (maxconn > 1 && pairs->n > 1) {
		size_t busy = 0;
		for (size_t i = 0; i < pairs->n && busy < (size_t)maxconn; i++)
			busy += !folder_quiet(acc, &pairs->v[i]);
		extra = busy > 1 ? ((size_t)maxconn < busy ? (size_t)maxconn : busy) - 1 : 0;
	}
	log_debug(LOG_DBG_THREAD, "Account %s: %zu folders over %zu connections", acc->a->name,
		  pairs->n, extra + 1);
	struct worker *workers = xcalloc(extra ? extra : 1, sizeof(*workers));
	size_t started = 0;
	for (size_t i = 0; i < extra; i++) {
		workers[i].acc = acc;
		if (pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]) != 0)
			break;
		started++;
	}
	drain_folders(acc, &acc->main);
	for (size_t i = 0; i < started; i++)
		pthread_join(workers[i].thread, NULL);
	free(workers);
}

/* The folders whose sync will list the Maildir folder (the server has
 * news, or the local directories' mtimes moved) are listed ahead on the
 * checker's thread, while the syncs before them wait for the server; a
 * sync that reaches its folder first lists it itself. */
static void prefetch_local_listings(struct account_ctx *acc, const struct pair_list *pairs)
{
	if (!acc->checker)
		return;
	for (size_t i = 0; i < pairs->n; i++) {
		const struct folder_pair *pair = &pairs->v[i];
		struct status_folder sf;
		if (folder_quiet_row(acc, pair, &sf))
			continue; /* skipped without a listing */
		if (sf.id && sf.uidvalidity) /* else a first sync: no rows to compare with */
			mtime_checker_prefetch(acc->checker, pair->remote, pair->local, sf.id);
	}
}

/* One round trip for the state of every remote folder (repo.h probe),
 * so that folders unchanged on both sides are skipped without a SELECT. A
 * failed probe only costs the skipping. */
static void probe_folders(struct account_ctx *acc, const struct pair_list *pairs)
{
	struct repo *rr = acc->main.remote;
	if (acc->req->dry_run || !rr->ops->probe || env_full_listing())
		return;
	struct strlist names = STRLIST_INIT;
	for (size_t i = 0; i < pairs->n; i++)
		if (!pairs->v[i].remote_missing)
			strlist_add(&names, pairs->v[i].remote);
	int rc = rr->ops->probe(rr, &names, &acc->probe);
	strlist_free(&names);
	if (rc == REPO_OK) {
		acc->probed = true;
		log_debug(LOG_DBG_SYNC, "Probe: STATUS of %zu folders%s", acc->probe.n,
			  acc->probe.condstore ? " (with HIGHESTMODSEQ)" : "");
		return;
	}
	log_warn("%s; every folder is synced in full", repo_error(rr));
	repo_probe_free(&acc->probe);
	if (rc == REPO_STORE_BAD && rr->ops->connect(rr) != REPO_OK)
		log_error("Account %s: %s", acc->a->name, repo_error(rr));
}

enum sync_exit sync_account(const struct account_settings *a, const struct sync_request *req)
{
	struct account_ctx acc = { .a = a, .req = req, .quick = req->quick };
	acc.full_listing = env_full_listing();
	acc.fmap = folder_map_new(a, req->folders && req->folders->n);
	unsigned errors_before = log_error_count();
	int lock_fd = -1;
	char *err = NULL;
	char *acct_dir = xasprintf("%s/Account-%s", a->metadata, a->name);
	bool dry = req->dry_run;
	bool folders_synced = false; /* for postsynchook (sync/hooks.h) */
	bool account_done = false;   /* acctdone, after postsynchook as OfflineIMAP */
	enum hook_mode hook_mode = req->idle ? HOOK_MODE_IDLE :
				   req->quick ? HOOK_MODE_QUICK : HOOK_MODE_FULL;
	struct atimes *atimes = NULL; /* restoreatime */
	acc.db_path = sync_status_db_path(a);

	ui_ev_account_start(a->name, dry);
	if (acc.quick && filters_windowed(&a->filters))
		log_warn("Quick syncs (-q) not supported in conjunction with maxage or startdate; "
			 "ignoring -q."); /* OfflineIMAP's words; see sync_folder */
	if (!dry) {
		if (make_dir_0700(a->metadata) < 0 || make_dir_0700(acct_dir) < 0) {
			log_error("Account %s: cannot create metadata directory %s: %s", a->name,
				  acct_dir, strerror(errno));
			goto out;
		}
		lock_fd = req->skip_lock ? -2 : account_lock(a->metadata, a->name, 0, &err);
		if (lock_fd == -1) {
			log_error("%s", err);
			free(err);
			goto out;
		}
		if (req->rebuild_status) {
			char *moved = NULL;
			if (status_move_aside(acc.db_path, &moved, &err) < 0) {
				log_error("Account %s: %s", a->name, err);
				free(err);
				goto out;
			}
			if (moved)
				log_info("Account %s: the status database was moved aside to %s; "
					 "rebuilding it from the Maildir and the server", a->name,
					 moved);
			free(moved);
		}
	}
	if (req->run_hooks)
		hooks_run(a->presynchook, hook_mode, dry);
	if (dry && access(a->local.localfolders, F_OK) != 0) {
		log_info("[DRYRUN] Would create the Maildir root %s", a->local.localfolders);
		acc.local_root_missing = true;
	}
	ui_ev_connecting(a->remote.host, a->remote.port ? a->remote.port : (a->remote.ssl ? 993 : 143),
			 a->remote.name);
	if (conn_open(&acc, &acc.main) < 0)
		goto out;
	if (a->filters.restoreatime && !acc.local_root_missing)
		atimes = atimes_record(acc.main.local);
	delete_hold_load(acc.main.status, &acc.held);
	if (!dry) {
		struct sync_request reader = *req; /* the checker only reads */
		reader.on_change = NULL;
		reader.change_ctx = NULL;
		acc.checker = mtime_checker_new(acc.db_path, a->fsync, make_local(a, &reader, acc.fmap));
	}

	struct pair_list pairs = { 0 };
	if (build_folder_pairs(&acc, &pairs) == 0) {
		if (pairs.n == 0)
			log_warn("Account %s: no folder to sync (check -f)", a->name);
		ui_ev_folders(a->name, acc.main.remote->ops->type_name,
			      acc.main.local->ops->type_name, pairs.n);
		probe_folders(&acc, &pairs);
		prefetch_local_listings(&acc, &pairs);
		run_folders(&acc, &pairs);
		folders_synced = pairs.n > 0;
		if (folders_synced && req->after_folders) {
			struct strlist names = STRLIST_INIT;
			for (size_t i = 0; i < pairs.n; i++)
				strlist_add(&names, pairs.v[i].local);
			req->after_folders(req->after_folders_ctx, a, &names);
			strlist_free(&names);
		}
		/* The run's relaxed commits reach the disk while the checker
		 * finishes (it may wait for the clock's next tick): the
		 * checkpoint at close then finds the log synced. */
		if (!dry && status_sync_start(acc.main.status, &err) < 0) {
			log_debug(LOG_DBG_SYNC, "%s", err);
			free(err);
			err = NULL;
		}
		mtime_checker_finish(&acc.checker, acc.main.status);
	}
	pair_free(&pairs);
	repo_probe_free(&acc.probe);
	account_done = true;
out:
	mtime_checker_finish(&acc.checker, acc.main.status);
	if (req->held_remote && folders_synced && acc.main.remote) {
		acc.main.remote->ops->close_folder(acc.main.remote);
		*req->held_remote = acc.main.remote; /* held for the next sync */
		acc.main.remote = NULL;
	}
	atimes_restore(&atimes); /* after every reader of the directories */
	delete_hold_free(&acc.held);
	conn_close(&acc.main);
	/* in the account's thread, before acctdone: OfflineIMAP's order */
	if (folders_synced && req->run_hooks)
		hooks_run(a->postsynchook, hook_mode, dry);
	if (account_done)
		ui_ev_account_end(a->name);
	ui_clear_thread();
	if (lock_fd >= 0)
		account_unlock(&lock_fd);
	free(acc.db_path);
	free(acct_dir);
	folder_map_free(&acc.fmap);
	if (log_error_count() != errors_before || acc.folder_errors)
		return SYNC_EXIT_ERRORS;
	if (acc.validity_skips)
		return SYNC_EXIT_UIDVALIDITY;
	return SYNC_EXIT_OK;
}
