#include "cache/maildir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/mail_date.h"
#include "cache/maildir_name.h"
#include "common/hash.h"
#include "common/log.h"

/* A stored message whose file is written in tmp/ but neither data-synced
 * nor renamed yet (fsync on; see maildir_store). */
struct pending_store {
	char *tmp;       /* tmp/<name>, absolute */
	char *name;      /* the name it gets in sub/ */
	const char *sub; /* "new" or "cur" */
	uint32_t uid;
	flagset_t flags;
	size_t len;
	int64_t stamp;   /* name time from the Date: header, 0 = now */
};

/* Files waiting for one data sync together: enough to share a journal
 * commit (a 2 MiB download batch is 100-300 messages). Their descriptors
 * are closed meanwhile (reopened to sync), so parallel workers never
 * press on RLIMIT_NOFILE. */
#define PENDING_MAX 64

struct maildir_repo {
	struct repo base; /* first: struct repo * casts to us */
	char *root;       /* owned; without trailing '/' */
	char sep, infosep;
	bool fsync, need_sizes, create_root, name_from_date, mtime_from_date;
	/* new/ (1) and cur/ (2) have renames not yet made durable (flush) */
	unsigned unsynced_dirs;
	maildir_change_fn *on_change;
	void *change_ctx;
	char *(*fmd5_name)(void *ctx, const char *folder); /* see maildir.h */
	void *fmd5_ctx;
	char host[256];
	struct pending_store pending[PENDING_MAX];
	size_t n_pending;
	/* A failed publish_pending, kept for the next flush to return even
	 * when another call published (settle): the caller has rows queued
	 * for that message and must not commit them. */
	int publish_code;
	char *publish_error;
	/* selected folder */
	char *dir; /* owned; its absolute directory, NULL when none */
	char md5[HASH_MD5_HEX_LEN + 1];
};

#define M(r) ((struct maildir_repo *)(r))
#define FOLDER(m) ((m)->base.folder ? (m)->base.folder : "")
/* Every error line names the folder: "Maildir[INBOX]: cur/x:2,S: rename: ..." */
#define FAIL(m, code, fmt, ...) \
	repo_fail(&(m)->base, (code), "Maildir[%s]: " fmt, FOLDER(m), __VA_ARGS__)
#define TRACE(m, fmt, ...) \
	log_debug(LOG_DBG_MAILDIR, "Maildir[%s]: " fmt, FOLDER(m), __VA_ARGS__)

/* How often list_messages rescans when a mail reader changes new/ or cur/
 * while we read them. */
#define SCAN_ATTEMPTS 5
/* Fresh names tried when one is taken (OfflineIMAP: 7 tries). */
#define NAME_ATTEMPTS 100
#define FOLDER_DEPTH_MAX 64

/* ---- small file-system helpers ---- */

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool has_maildir_subdirs(const char *dir)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	for (int i = 0; i < 3; i++) {
		char *p = xasprintf("%s/%s", dir, subs[i]);
		bool ok = is_dir(p);
		free(p);
		if (!ok)
			return false;
	}
	return true;
}

/* mkdir -p with mode for the missing components. */
static int mkdir_p(const char *path, mode_t mode)
{
	if (is_dir(path))
		return 0;
	const char *slash = strrchr(path, '/');
	if (slash && slash != path) {
		char *parent = xstrndup(path, (size_t)(slash - path));
		int ret = mkdir_p(parent, mode);
		free(parent);
		if (ret < 0)
			return -1;
	}
	if (mkdir(path, mode) < 0 && !(errno == EEXIST && is_dir(path)))
		return -1;
	return 0;
}

/* rename() that never replaces an existing file (a name collision must not
 * destroy a message). Falls back to check-then-rename where the file
 * system has no RENAME_NOREPLACE. */
static int rename_noreplace(const char *from, const char *to)
{
#ifdef RENAME_NOREPLACE
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
#endif
	struct stat st;
	if (lstat(to, &st) == 0) {
		errno = EEXIST;
		return -1;
	}
	return rename(from, to);
}

static int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int ret = fsync(fd);
	int err = errno;
	close(fd);
	errno = err;
	return ret;
}

/* "<time>_<seq>" of OfflineIMAP: seq counts names made by this process
 * within one second. Shared by all repositories of the process. */
static void name_stamp(int64_t *now_r, unsigned *seq_r)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static int64_t last;
	static unsigned seq;
	int64_t now = (int64_t)time(NULL);
	pthread_mutex_lock(&lock);
	if (now != last) {
		last = now;
		seq = 0;
	}
	*seq_r = seq++;
	pthread_mutex_unlock(&lock);
	*now_r = now;
}

/* The seq of a name made for a message's own date (OfflineIMAP's
 * _gettimeseq keeps a counter per time value): a small table of the times
 * used last; a time pushed out starts again at 0, and a clash then moves
 * on to the next seq like any other. */
static unsigned date_seq(int64_t t)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct {
		int64_t t;
		unsigned seq;
	} recent[64];
	static unsigned next;
	pthread_mutex_lock(&lock);
	unsigned seq;
	size_t i;
	for (i = 0; i < 64 && recent[i].t != t; i++) /* t is never 0 */
		;
	if (i == 64) {
		i = next++ % 64;
		recent[i].t = t;
		recent[i].seq = 0;
	}
	seq = recent[i].seq++;
	pthread_mutex_unlock(&lock);
	return seq;
}

/* stamp 0: now (OfflineIMAP's default), else the message's date. */
static char *new_name_at(struct maildir_repo *m, uint32_t uid, flagset_t flags, int64_t stamp)
{
	int64_t now;
	unsigned seq;
	if (stamp) {
		now = stamp;
		seq = date_seq(stamp);
	} else {
		name_stamp(&now, &seq);
	}
	return maildir_name_new(now, seq, (long)getpid(), m->host, uid, m->md5, m->infosep, flags);
}

static char *new_name(struct maildir_repo *m, uint32_t uid, flagset_t flags)
{
	return new_name_at(m, uid, flags, 0);
}

/* filename_use_mail_timestamp / utime_from_header for a message whose
 * header block is head[0..len): *stamp_r the name's time (0 = now),
 * *time_r replaced by the Date: when mtime_from_date. */
static void dates_from_header(const struct maildir_repo *m, const char *head, size_t len,
			      int64_t *stamp_r, int64_t *time_r)
{
	int64_t d = 0;
	bool have = mail_header_date(head, len, "Date", &d);
	*stamp_r = 0;
	if (m->name_from_date) {
		int64_t dd = 0;
		if (have && d > 0)
			*stamp_r = d;
		else if (mail_header_date(head, len, "Delivery-date", &dd) && dd > 0)
			*stamp_r = dd;
	}
	if (m->mtime_from_date && have)
		*time_r = d;
}

/* A key is "new/<name>" or "cur/<name>". */
static bool key_valid(const char *key)
{
	return key && (!strncmp(key, "new/", 4) || !strncmp(key, "cur/", 4)) && key[4] &&
	       !strchr(key + 4, '/');
}

static char *key_path(struct maildir_repo *m, const char *key)
{
	return xasprintf("%s/%s", m->dir, key);
}

/* Tells on_change about a file that went from old_key to new_key (either
 * NULL-able; keys are "new/<name>" or "cur/<name>"). */
static void changed(struct maildir_repo *m, const char *old_key, const char *new_key)
{
	if (!m->on_change)
		return;
	char old_sub[4] = "", new_sub[4] = "";
	if (old_key)
		memcpy(old_sub, old_key, 3);
	if (new_key)
		memcpy(new_sub, new_key, 3);
	m->on_change(m->change_ctx, FOLDER(m), old_key ? old_sub : NULL,
		     old_key ? old_key + 4 : NULL, new_key ? new_sub : NULL,
		     new_key ? new_key + 4 : NULL);
}

/* Looks in new/ and cur/ for the file whose base (the name before its info
 * suffix) is that of name: a mail reader renamed it behind our back.
 * Returns 1 with *key_r (malloc'd), 0 if it is gone, -1 on error (errno). */
static int find_by_base(struct maildir_repo *m, const char *name, char **key_r)
{
	struct maildir_name_info want;
	maildir_name_parse(name, m->md5, m->infosep, &want);
	static const char *const subs[] = { "new", "cur" };
	for (int i = 0; i < 2; i++) {
		char *path = xasprintf("%s/%s", m->dir, subs[i]);
		DIR *d = opendir(path);
		free(path);
		if (!d)
			return -1;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (e->d_name[0] == '.')
				continue;
			struct maildir_name_info info;
			maildir_name_parse(e->d_name, m->md5, m->infosep, &info);
			if (info.base_len == want.base_len &&
			    !memcmp(e->d_name, name, want.base_len)) {
				*key_r = xasprintf("%s/%s", subs[i], e->d_name);
				closedir(d);
				TRACE(m, "%s was renamed to %s", name, *key_r);
				return 1;
			}
		}
		closedir(d);
	}
	return 0;
}

/* ---- connection and folders ---- */

static int maildir_connect(struct repo *r)
{
	struct maildir_repo *m = M(r);
	struct stat st;
	if (stat(m->root, &st) < 0) {
		if (errno != ENOENT)
			return repo_fail(r, REPO_STORE_BAD, "Maildir: %s: %s", m->root,
					 strerror(errno));
		if (!m->create_root)
			return repo_fail(r, REPO_STORE_BAD,
					 "Maildir: %s: localfolders does not exist", m->root);
		if (mkdir_p(m->root, 0700) < 0)
			return repo_fail(r, REPO_STORE_BAD, "Maildir: %s: mkdir: %s", m->root,
					 strerror(errno));
		log_debug(LOG_DBG_MAILDIR, "Maildir: created %s", m->root);
	} else if (!S_ISDIR(st.st_mode)) {
		return repo_fail(r, REPO_STORE_BAD, "Maildir: %s: not a directory", m->root);
	}
	return REPO_OK;
}

static char maildir_separator(struct repo *r)
{
	return M(r)->sep;
}

struct scan_frame {
	dev_t dev;
	ino_t ino;
};

/* Appends the folders below root/rel (rel "" = root's entries). With sep
 * '/' it recurses; stack holds the directories above, against symlink
 * loops. */
static void scan_folders(struct maildir_repo *m, const char *rel, struct scan_frame *stack,
			 int depth, struct strlist *names)
{
	char *dir = *rel ? xasprintf("%s/%s", m->root, rel) : xstrdup(m->root);
	DIR *d = opendir(dir);
	if (!d) {
		log_warn("Maildir: %s: skipped: %s", dir, strerror(errno));
		free(dir);
		return;
	}
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *n = e->d_name;
		if (n[0] == '.' || !strcmp(n, "cur") || !strcmp(n, "new") || !strcmp(n, "tmp"))
			continue;
		if (e->d_type != DT_DIR && e->d_type != DT_LNK && e->d_type != DT_UNKNOWN)
			continue;
		char *path = xasprintf("%s/%s", dir, n);
		struct stat st;
		if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
			free(path);
			continue;
		}
		char *name = *rel ? xasprintf("%s/%s", rel, n) : xstrdup(n);
		if (has_maildir_subdirs(path))
			strlist_add(names, name);
		if (m->sep == '/') {
			bool loop = depth >= FOLDER_DEPTH_MAX;
			for (int i = 0; i <= depth && !loop; i++)
				loop = stack[i].dev == st.st_dev && stack[i].ino == st.st_ino;
			if (loop) {
				log_warn("Maildir: %s: not scanned (directory loop or too deep)", path);
			} else {
				stack[depth + 1] = (struct scan_frame){ st.st_dev, st.st_ino };
				scan_folders(m, name, stack, depth + 1, names);
			}
		}
		free(name);
		free(path);
	}
	closedir(d);
	free(dir);
}

static int maildir_list_folders(struct repo *r, struct strlist *names_r)
{
	struct maildir_repo *m = M(r);
	struct stat st;
	if (stat(m->root, &st) < 0)
		return repo_fail(r, REPO_STORE_BAD, "Maildir: %s: %s", m->root, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return repo_fail(r, REPO_STORE_BAD, "Maildir: %s: not a directory", m->root);
	size_t first = names_r->n;
	if (has_maildir_subdirs(m->root))
		strlist_add(names_r, "");
	struct scan_frame stack[FOLDER_DEPTH_MAX + 1];
	stack[0] = (struct scan_frame){ st.st_dev, st.st_ino };
	scan_folders(m, "", stack, 0, names_r);
	log_debug(LOG_DBG_MAILDIR, "Maildir: %s: %zu folders", m->root, names_r->n - first);
	return REPO_OK;
}

static int maildir_create_folder(struct repo *r, const char *name)
{
	struct maildir_repo *m = M(r);
	if (maildir_folder_path_check(name, m->sep) < 0)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir[%s]: invalid folder name", name);
	char *dir = maildir_folder_dir(r, name);
	int ret = REPO_OK;
	if (mkdir_p(dir, 0700) < 0) {
		ret = repo_fail(r, REPO_FOLDER_BAD, "Maildir[%s]: %s: mkdir: %s", name, dir,
				strerror(errno));
		goto out;
	}
	static const char *const subs[] = { "cur", "new", "tmp" };
	for (int i = 0; i < 3; i++) {
		char *p = xasprintf("%s/%s", dir, subs[i]);
		if (mkdir(p, 0700) < 0 && !(errno == EEXIST && is_dir(p)))
			ret = repo_fail(r, REPO_FOLDER_BAD, "Maildir[%s]: %s: mkdir: %s", name, p,
					strerror(errno));
		free(p);
		if (ret != REPO_OK)
			goto out;
	}
	log_debug(LOG_DBG_MAILDIR, "Maildir[%s]: created %s", name, dir);
	if (m->on_change)
		m->on_change(m->change_ctx, name, NULL, NULL, NULL, NULL);
out:
	free(dir);
	return ret;
}

/* The bit of unsynced_dirs for "new/..." or "cur/..." */
static unsigned dir_bit(const char *key_or_sub)
{
	return key_or_sub[0] == 'n' ? 1u : 2u;
}

/* Disk full or over quota stops the whole store, other write errors only
 * this message. */
static int write_error_code(int err)
{
	return err == ENOSPC || err == EDQUOT ? REPO_STORE_BAD : REPO_MSG_BAD;
}

/* Makes the pending stores durable and visible: first every file's data
 * (their writeback was started by maildir_store, so the first fdatasync
 * commits the journal for all and the others find theirs done: one
 * commit for the batch instead of one per message), then the renames, in
 * that order, so that a crash never leaves a name in new/ or cur/ over
 * data that is not on disk. A file whose sync or rename fails is removed
 * from tmp/ and reported (REPO_MSG_BAD, or REPO_FOLDER_BAD when the
 * folder takes no renames); its row was never written, so the next sync
 * fetches it again. The rest are published either way. */
/* fdatasyncs of one batch, spread over a few threads: after the first one
 * has committed the journal, each of the others still waits for a flush of
 * the disk's cache (0.1-0.2 ms each), and the block layer merges flushes
 * that are waited for at the same time (64 files: 5 ms in a row, 2.5 ms
 * over 8 threads). Every file still gets its own fdatasync. */
#define SYNC_THREADS 8
#define SYNC_FILES_PER_THREAD 4

struct sync_share {
	struct pending_store *pending;
	int *err;
	size_t first, n, step;
};

static void *sync_share_run(void *arg)
{
	struct sync_share *sh = arg;
	for (size_t i = sh->first; i < sh->n; i += sh->step) {
		int fd = open(sh->pending[i].tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fdatasync(fd) < 0)
			sh->err[i] = errno;
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

/* err[i]: 0, or the errno of pending[i]'s open or fdatasync. */
static void sync_pending_data(struct pending_store *pending, size_t n, int *err)
{
	size_t want = n / SYNC_FILES_PER_THREAD;
	size_t k = want < 1 ? 1 : want > SYNC_THREADS ? SYNC_THREADS : want;
	struct sync_share share[SYNC_THREADS];
	pthread_t threads[SYNC_THREADS];
	bool started[SYNC_THREADS] = { false };
	for (size_t t = 0; t < k; t++) {
		share[t] = (struct sync_share){ pending, err, t, n, k };
		/* share 0 runs on this thread; one that cannot start, too */
		started[t] = t > 0 && pthread_create(&threads[t], NULL, sync_share_run, &share[t]) == 0;
	}
	for (size_t t = 0; t < k; t++)
		if (!started[t])
			sync_share_run(&share[t]);
	for (size_t t = 0; t < k; t++)
		if (started[t])
			pthread_join(threads[t], NULL);
}

static int publish_pending(struct maildir_repo *m)
{
	int ret = REPO_OK;
	size_t n = m->n_pending;
	m->n_pending = 0;
	int *err = xcalloc(n ? n : 1, sizeof(*err));
	sync_pending_data(m->pending, n, err);
	for (size_t i = 0; i < n; i++) {
		struct pending_store *p = &m->pending[i];
		char *tname = strrchr(p->tmp, '/') + 1;
		if (err[i]) {
			ret = FAIL(m, write_error_code(err[i]), "tmp/%s: fsync: %s", tname,
				   strerror(err[i]));
			unlink(p->tmp);
			goto next;
		}
		for (int attempt = 0;; attempt++) {
			char *dst = xasprintf("%s/%s/%s", m->dir, p->sub, p->name);
			int rc = rename_noreplace(p->tmp, dst);
			int e = errno;
			free(dst);
			if (rc == 0) {
				m->unsynced_dirs |= dir_bit(p->sub); /* maildir_flush */
				char *k = xasprintf("%s/%s", p->sub, p->name);
				TRACE(m, "stored %s (%zu bytes)", k, p->len);
				changed(m, NULL, k);
				free(k);
				break;
			}
			if (e != EEXIST || attempt + 1 >= NAME_ATTEMPTS) {
				ret = FAIL(m, REPO_FOLDER_BAD, "tmp/%s: rename to %s/: %s", tname,
					   p->sub, e == EEXIST ? "no free file name" : strerror(e));
				unlink(p->tmp);
				break;
			}
			/* the name was taken meanwhile: the next one */
			free(p->name);
			p->name = new_name_at(m, p->uid, p->flags, p->stamp);
		}
	next:
		free(p->tmp);
		free(p->name);
	}
	free(err);
	if (ret != REPO_OK && !m->publish_code) {
		m->publish_code = ret;
		m->publish_error = xstrdup(repo_error(&m->base));
	}
	return ret;
}

/* Publishes pending stores before an operation that looks at, or changes,
 * the folder's files, so that every other operation sees what store
 * returned. A failure is kept for the next flush (publish_code), whose
 * caller is the one holding the rows. */
static void settle(struct maildir_repo *m)
{
	if (m->n_pending && publish_pending(m) != REPO_OK)
		log_warn("%s", repo_error(&m->base));
}

static int maildir_flush(struct repo *r)
{
	struct maildir_repo *m = M(r);
	static const char *const subs[] = { "new", "cur" };
	int ret = REPO_OK;
	if (m->n_pending)
		publish_pending(m);
	for (int i = 0; i < 2 && m->dir; i++) {
		if (!(m->unsynced_dirs & (1u << i)))
			continue;
		char *d = xasprintf("%s/%s", m->dir, subs[i]);
		if (fsync_dir(d) < 0)
			ret = FAIL(m, REPO_FOLDER_BAD, "%s: fsync: %s", subs[i], strerror(errno));
		free(d);
	}
	m->unsynced_dirs = 0;
	if (m->publish_code) {
		ret = repo_fail(r, m->publish_code, "%s", m->publish_error);
		m->publish_code = 0;
		xfree_ptr(&m->publish_error);
	}
	return ret;
}

/* flush_begin's syncs of new/ and cur/, on a thread of their own. */
struct dir_syncs {
	struct repo_pending_flush base; /* first: the caller's handle */
	pthread_t thread;
	bool threaded;
	char *paths[2]; /* owned; NULL: that one is synced already */
	int err[2];   /* errno of a failed sync, or 0 */
};

static void *dir_syncs_main(void *arg)
{
	struct dir_syncs *d = arg;
	for (int i = 0; i < 2; i++)
		if (d->paths[i])
			d->err[i] = fsync_dir(d->paths[i]) < 0 ? errno : 0;
	return NULL;
}

static int dir_syncs_wait(struct repo_pending_flush *p, char **error_r)
{
	struct dir_syncs *d = (struct dir_syncs *)p;
	if (d->threaded)
		pthread_join(d->thread, NULL);
	int ret = REPO_OK;
	for (int i = 0; i < 2; i++) {
		if (d->err[i] && ret == REPO_OK) {
			*error_r = xasprintf("Maildir %s: fsync: %s", d->paths[i], strerror(d->err[i]));
			ret = REPO_FOLDER_BAD;
		}
		free(d->paths[i]);
	}
	free(d);
	return ret;
}

static int maildir_flush_begin(struct repo *r, struct repo_pending_flush **pending_r)
{
	struct maildir_repo *m = M(r);
	static const char *const subs[] = { "new", "cur" };
	*pending_r = NULL;
	if (m->n_pending)
		publish_pending(m);
	if (m->publish_code || !m->dir || !m->unsynced_dirs)
		return maildir_flush(r); /* its error, or nothing to wait for */
	struct dir_syncs *d = xcalloc(1, sizeof(*d));
	d->base.wait = dir_syncs_wait;
	for (int i = 0; i < 2; i++)
		if (m->unsynced_dirs & (1u << i))
			d->paths[i] = xasprintf("%s/%s", m->dir, subs[i]);
	m->unsynced_dirs = 0;
	d->threaded = pthread_create(&d->thread, NULL, dir_syncs_main, d) == 0;
	if (!d->threaded)
		dir_syncs_main(d); /* no thread to be had: the same, only now */
	*pending_r = &d->base;
	return REPO_OK;
}

static void maildir_close_folder(struct repo *r)
{
	struct maildir_repo *m = M(r);
	if ((m->n_pending || m->unsynced_dirs || m->publish_code) && maildir_flush(r) != REPO_OK)
		log_warn("%s", repo_error(r));
	free(m->base.folder);
	free(m->dir);
	m->base.folder = m->dir = NULL;
}

static int maildir_select_folder(struct repo *r, const char *name, bool for_write,
				 struct repo_folder_status *st_r)
{
	struct maildir_repo *m = M(r);
	(void)for_write;
	maildir_close_folder(r);
	if (maildir_folder_path_check(name, m->sep) < 0)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir[%s]: invalid folder name", name);
	char *dir = maildir_folder_dir(r, name);
	if (!has_maildir_subdirs(dir)) {
		int code = repo_fail(r, REPO_FOLDER_BAD,
				     "Maildir[%s]: %s: no such folder (needs cur, new, tmp)", name,
				     dir);
		free(dir);
		return code;
	}
	m->dir = dir;
	m->base.folder = xstrdup(name);
	char *hashed = m->fmd5_name ? m->fmd5_name(m->fmd5_ctx, name) : NULL;
	maildir_folder_md5(hashed ? hashed : name, m->md5);
	free(hashed);
	*st_r = (struct repo_folder_status){ .uidvalidity = 42 };
	TRACE(m, "selected %s (FMD5=%s)", dir, m->md5);
	return REPO_OK;
}

/* ---- listing ---- */

struct scan_ent {
	struct repo_msg msg;
	size_t base_len; /* of the name, key + 4 */
	size_t order;    /* scan order */
};

static int cmp_base(const void *a, const void *b)
{
	const struct scan_ent *x = *(struct scan_ent *const *)a, *y = *(struct scan_ent *const *)b;
	size_t n = x->base_len < y->base_len ? x->base_len : y->base_len;
	int c = memcmp(x->msg.key + 4, y->msg.key + 4, n);
	if (c)
		return c;
	if (x->base_len != y->base_len)
		return x->base_len < y->base_len ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int cmp_uid(const void *a, const void *b)
{
	const struct scan_ent *x = *(struct scan_ent *const *)a, *y = *(struct scan_ent *const *)b;
	if (x->msg.uid != y->msg.uid)
		return x->msg.uid < y->msg.uid ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

struct scan {
	struct scan_ent *v;
	size_t n, cap;
};

static void scan_free(struct scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].msg.key);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
}

static bool same_stamp(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* One pass over new/ then cur/. Returns 1 done, 0 when something changed
 * under us (rescan), or a repo_result < 0. */
static int scan_once(struct maildir_repo *m, struct scan *s)
{
	static const char *const subs[] = { "new", "cur" };
	struct stat before[2], after[2];
	char *paths[2];
	int ret = 1;
	for (int i = 0; i < 2; i++)
		paths[i] = xasprintf("%s/%s", m->dir, subs[i]);
	for (int i = 0; i < 2; i++) {
		if (stat(paths[i], &before[i]) < 0) {
			ret = FAIL(m, REPO_FOLDER_BAD, "%s: %s", subs[i], strerror(errno));
			goto out;
		}
	}
	for (int i = 0; i < 2 && ret == 1; i++) {
		DIR *d = opendir(paths[i]);
		if (!d) {
			ret = FAIL(m, REPO_FOLDER_BAD, "%s: opendir: %s", subs[i], strerror(errno));
			goto out;
		}
		struct dirent *e;
		while ((errno = 0, e = readdir(d))) {
			if (e->d_name[0] == '.' || e->d_type == DT_DIR)
				continue;
			struct scan_ent ent = { .order = s->n };
			if (m->need_sizes) {
				struct stat st;
				if (fstatat(dirfd(d), e->d_name, &st, 0) < 0) {
					if (errno == ENOENT) { /* renamed meanwhile */
						TRACE(m, "%s/%s vanished while listing: rescan",
						      subs[i], e->d_name);
						ret = 0;
						break;
					}
					ret = FAIL(m, REPO_FOLDER_BAD, "%s/%s: stat: %s", subs[i],
						   e->d_name, strerror(errno));
					break;
				}
				if (S_ISDIR(st.st_mode))
					continue;
				ent.msg.size = (uint64_t)st.st_size;
				ent.msg.time = (int64_t)st.st_mtim.tv_sec;
			}
			struct maildir_name_info info;
			maildir_name_parse(e->d_name, m->md5, m->infosep, &info);
			ent.msg.uid = info.uid;
			ent.msg.flags = info.flags;
			ent.msg.key = xasprintf("%s/%s", subs[i], e->d_name);
			ent.base_len = info.base_len;
			xgrow(&s->v, &s->cap, s->n + 1, sizeof(*s->v));
			s->v[s->n++] = ent;
		}
		if (ret == 1 && errno)
			ret = FAIL(m, REPO_FOLDER_BAD, "%s: readdir: %s", subs[i], strerror(errno));
		closedir(d);
	}
	for (int i = 0; i < 2 && ret == 1; i++) {
		if (stat(paths[i], &after[i]) < 0)
			ret = FAIL(m, REPO_FOLDER_BAD, "%s: %s", subs[i], strerror(errno));
		else if (!same_stamp(&before[i], &after[i]))
			ret = 0;
	}
out:
	free(paths[0]);
	free(paths[1]);
	return ret;
}

static int maildir_list_messages(struct repo *r, struct repo_msg_list *list)
{
	struct maildir_repo *m = M(r);
	settle(m);
	if (!m->dir)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir: list_messages: no folder selected");
	struct scan s = { 0 };
	int ret;
	for (int attempt = 1;; attempt++) {
		ret = scan_once(m, &s);
		if (ret != 0 || attempt == SCAN_ATTEMPTS)
			break;
		TRACE(m, "changed while listing, rescan (attempt %d)", attempt + 1);
		scan_free(&s);
	}
	if (ret < 0) {
		scan_free(&s);
		return ret;
	}

	struct scan_ent **idx = xmalloc((s.n ? s.n : 1) * sizeof(*idx));
	/* The same base twice: a reader moved the file between our readdirs
	 * of new/ and cur/; the later sighting is the current one. */
	for (size_t i = 0; i < s.n; i++)
		idx[i] = &s.v[i];
	qsort(idx, s.n, sizeof(*idx), cmp_base);
	for (size_t i = 0; i + 1 < s.n; i++) {
		struct scan_ent *a = idx[i], *b = idx[i + 1];
		if (a->base_len == b->base_len && !memcmp(a->msg.key + 4, b->msg.key + 4, a->base_len)) {
			TRACE(m, "%s seen again as %s: dropped", a->msg.key, b->msg.key);
			xfree_ptr(&a->msg.key);
		}
	}
	/* The same UID twice (a copy made by a mail reader): the first one
	 * seen keeps it, the others are new messages (uid 0). */
	size_t k = 0;
	for (size_t i = 0; i < s.n; i++)
		if (s.v[i].msg.key && s.v[i].msg.uid)
			idx[k++] = &s.v[i];
	qsort(idx, k, sizeof(*idx), cmp_uid);
	for (size_t i = 1; i < k; i++) {
		if (idx[i]->msg.uid == idx[i - 1]->msg.uid) {
			TRACE(m, "%s: U=%u also used by an earlier file: treated as new",
			      idx[i]->msg.key, idx[i]->msg.uid);
			idx[i]->msg.uid = 0;
			idx[i] = idx[i - 1]; /* compare the next one with the keeper */
		}
	}
	free(idx);

	size_t count = 0;
	for (size_t i = 0; i < s.n; i++) {
		if (!s.v[i].msg.key)
			continue;
		repo_msg_list_add(list, &s.v[i].msg); /* takes the key */
		count++;
	}
	free(s.v);
	TRACE(m, "listed %zu messages", count);
	return REPO_OK;
}

/* ---- reading ---- */

/* Reads the file of key (or, when a reader renamed it, the file with the
 * same base). Returns REPO_OK, or REPO_MSG_BAD with *vanished set when the
 * message is gone, or with an error set. */
/* Opens the file of key (or, when a reader renamed it, the file with the
 * same base). Returns the fd, or -1 with the REPO_MSG_BAD error set and
 * *vanished_r when it is gone. *found_r: the key really opened when it
 * differs (malloc'd), else NULL. */
static int open_file(struct maildir_repo *m, const char *key, char **found_r, bool *vanished_r)
{
	*vanished_r = false;
	*found_r = NULL;
	if (!key_valid(key)) {
		FAIL(m, REPO_MSG_BAD, "%s: not a Maildir message key", key ? key : "(null)");
		return -1;
	}
	char *path = key_path(m, key);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		int f = find_by_base(m, key + 4, found_r);
		if (f > 0) {
			free(path);
			path = key_path(m, *found_r);
			fd = open(path, O_RDONLY | O_CLOEXEC);
		} else if (f == 0) {
			errno = ENOENT;
		}
	}
	if (fd < 0) {
		*vanished_r = errno == ENOENT;
		FAIL(m, REPO_MSG_BAD, "%s: open: %s", *found_r ? *found_r : key, strerror(errno));
	}
	free(path);
	return fd;
}

static int read_file(struct maildir_repo *m, const char *key, char **body_r, size_t *len_r,
		     int64_t *time_r, bool *vanished_r)
{
	char *found = NULL;
	char *path = NULL;
	int fd = open_file(m, key, &found, vanished_r);
	const char *shown = found ? found : key;
	int ret = REPO_OK;
	if (fd < 0) {
		ret = REPO_MSG_BAD;
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		ret = FAIL(m, REPO_MSG_BAD, "%s: stat: %s", shown, strerror(errno));
		goto out_close;
	}
	/* Sized by fstat; a probe read finds EOF (or a file still growing,
	 * which a Maildir message should not be, but we read it all). */
	size_t cap = (size_t)st.st_size + 1, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		char probe[4096];
		bool full = len + 1 >= cap;
		ssize_t n = read(fd, full ? probe : buf + len, full ? sizeof(probe) : cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = FAIL(m, REPO_MSG_BAD, "%s: read: %s", shown, strerror(errno));
			free(buf);
			goto out_close;
		}
		if (n == 0)
			break;
		if (full) {
			cap = cap * 2 + (size_t)n;
			buf = xrealloc(buf, cap);
			memcpy(buf + len, probe, (size_t)n);
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	*len_r = len;
	*body_r = buf;
	if (time_r)
		*time_r = (int64_t)st.st_mtim.tv_sec;
out_close:
	close(fd);
out:
	free(path);
	free(found);
	return ret;
}

static int maildir_open_body(struct repo *r, const struct repo_msg *msg, int *fd_r,
			     uint64_t *size_r, int64_t *time_r)
{
	struct maildir_repo *m = M(r);
	settle(m);
	*fd_r = -1;
	if (!m->dir)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir: open_body: no folder selected");
	char *found = NULL;
	bool vanished;
	int fd = open_file(m, msg->key, &found, &vanished);
	if (fd < 0) {
		free(found);
		return REPO_MSG_BAD;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int code = FAIL(m, REPO_MSG_BAD, "%s: stat: %s", found ? found : msg->key,
				strerror(errno));
		close(fd);
		free(found);
		return code;
	}
	free(found);
	*fd_r = fd;
	*size_r = (uint64_t)st.st_size;
	if (time_r)
		*time_r = (int64_t)st.st_mtim.tv_sec;
	return REPO_OK;
}

static int maildir_read_body(struct repo *r, const struct repo_msg *msg, char **body_r,
			     size_t *len_r, int64_t *time_r)
{
	struct maildir_repo *m = M(r);
	settle(m);
	bool vanished;
	if (!m->dir)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir: read_body: no folder selected");
	return read_file(m, msg->key, body_r, len_r, time_r, &vanished);
}

static int maildir_fetch(struct repo *r, struct repo_msg *const *msgs, size_t n, repo_body_cb *cb,
			 void *ctx)
{
	struct maildir_repo *m = M(r);
	settle(m);
	if (!m->dir)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir: fetch: no folder selected");
	int ret = REPO_OK;
	for (size_t i = 0; i < n; i++) {
		char *body;
		size_t len;
		bool vanished;
		struct repo_msg copy = *msgs[i];
		if (read_file(m, msgs[i]->key, &body, &len, &copy.time, &vanished) != REPO_OK) {
			if (!vanished)
				ret = REPO_MSG_BAD; /* the error names it; go on */
			continue;
		}
		int stop = cb(ctx, &copy, body, len);
		free(body);
		if (stop < 0)
			return FAIL(m, REPO_FOLDER_BAD, "%s", "fetch stopped by the caller");
	}
	return ret;
}

/* ---- writing ---- */

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int maildir_store(struct repo *r, const char *body, size_t len, flagset_t flags,
			 int64_t time, uint32_t uid, uint32_t *uid_r, char **key_r)
{
	struct maildir_repo *m = M(r);
	if (!m->dir)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir: store: no folder selected");
	if (m->n_pending == PENDING_MAX)
		settle(m); /* a failure waits for flush: its rows are queued */
	const char *sub = maildir_subdir_for(flags);
	int64_t stamp = 0;
	if (m->name_from_date || m->mtime_from_date)
		dates_from_header(m, body, len, &stamp, &time);
	for (int attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
		char *name = new_name_at(m, uid, flags, stamp);
		char *tmp = xasprintf("%s/tmp/%s", m->dir, name);
		char *dst = xasprintf("%s/%s/%s", m->dir, sub, name);
		int ret = REPO_OK;
		bool retry = false;
		int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				retry = true;
			else
				ret = FAIL(m, REPO_FOLDER_BAD, "tmp/%s: open: %s", name,
					   strerror(errno));
			goto next;
		}
		const char *what = "write";
		if (write_all(fd, body, len) < 0)
			goto write_failed;
		if (time > 0) {
			struct timespec ts[2] = { { time, 0 }, { time, 0 } };
			what = "utime";
			if (futimens(fd, ts) < 0)
				goto write_failed;
		}
		if (m->fsync) {
			/* The data must be on disk before the rename makes the
			 * name visible: a crash must never leave an empty file
			 * under it. Rather than one fdatasync (and journal
			 * commit) per message, start the writeback now and
			 * sync and rename in batches (publish_pending). */
			sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
			what = "close"; /* NFS and quotas report late */
			int c = close(fd);
			fd = -1;
			if (c < 0)
				goto write_failed;
			struct pending_store *p = &m->pending[m->n_pending++];
			*p = (struct pending_store){ .tmp = tmp, .name = name, .sub = sub,
						     .uid = uid, .flags = flags, .len = len,
						     .stamp = stamp };
			if (uid_r)
				*uid_r = uid;
			if (key_r)
				*key_r = xasprintf("%s/%s", sub, name);
			free(dst);
			return REPO_OK;
		}
		what = "close"; /* NFS and quotas report late */
		int c = close(fd);
		fd = -1;
		if (c < 0)
			goto write_failed;
		if (rename_noreplace(tmp, dst) < 0) {
			if (errno == EEXIST) {
				retry = true;
			} else {
				ret = FAIL(m, REPO_FOLDER_BAD, "tmp/%s: rename to %s/: %s", name, sub,
					   strerror(errno));
			}
			unlink(tmp);
			goto next;
		}
		if (m->fsync)
			m->unsynced_dirs |= dir_bit(sub); /* maildir_flush */
		TRACE(m, "stored %s/%s (%zu bytes)", sub, name, len);
		{
			char *k = xasprintf("%s/%s", sub, name);
			changed(m, NULL, k);
			free(k);
		}
		if (uid_r)
			*uid_r = uid;
		if (key_r)
			*key_r = xasprintf("%s/%s", sub, name);
		goto next;
	write_failed:;
		int err = errno;
		ret = FAIL(m, write_error_code(err), "tmp/%s: %s: %s", name, what, strerror(err));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
	next:
		free(name);
		free(tmp);
		free(dst);
		if (!retry)
			return ret;
	}
	return FAIL(m, REPO_FOLDER_BAD, "store: no free file name after %d attempts", NAME_ATTEMPTS);
}

static int maildir_store_file(struct repo *r, const char *tmp_name, flagset_t flags,
			      int64_t time, uint32_t uid, uint32_t *uid_r, char **key_r)
{
	struct maildir_repo *m = M(r);
	settle(m);
	if (!m->dir)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir: store: no folder selected");
	if (!*tmp_name || strchr(tmp_name, '/') || tmp_name[0] == '.')
		return FAIL(m, REPO_MSG_BAD, "tmp/%s: not a file name in tmp/", tmp_name);
	char *tmp = xasprintf("%s/tmp/%s", m->dir, tmp_name);
	int fd = open(tmp, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	const char *what = "open";
	if (fd < 0)
		goto failed;
	int64_t stamp = 0;
	if (m->name_from_date || m->mtime_from_date) {
		char *head = xmalloc(64 * 1024);
		ssize_t got = pread(fd, head, 64 * 1024, 0);
		what = "read";
		if (got < 0) {
			free(head);
			goto failed;
		}
		dates_from_header(m, head, (size_t)got, &stamp, &time);
		free(head);
	}
	if (time > 0) {
		struct timespec ts[2] = { { time, 0 }, { time, 0 } };
		what = "utime";
		if (futimens(fd, ts) < 0)
			goto failed;
	}
	what = "fsync";
	if (m->fsync && fdatasync(fd) < 0)
		goto failed;
	what = "close";
	int c = close(fd);
	fd = -1;
	if (c < 0)
		goto failed;
	const char *sub = maildir_subdir_for(flags);
	for (int attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
		char *name = new_name_at(m, uid, flags, stamp);
		char *dst = xasprintf("%s/%s/%s", m->dir, sub, name);
		int rc = rename_noreplace(tmp, dst);
		int err = errno;
		free(dst);
		if (rc == 0) {
			if (m->fsync)
				m->unsynced_dirs |= dir_bit(sub); /* maildir_flush */
			char *k = xasprintf("%s/%s", sub, name);
			TRACE(m, "stored %s (from tmp/%s)", k, tmp_name);
			changed(m, NULL, k);
			if (uid_r)
				*uid_r = uid;
			if (key_r)
				*key_r = k;
			else
				free(k);
			free(name);
			free(tmp);
			return REPO_OK;
		}
		free(name);
		if (err != EEXIST) {
			int code = FAIL(m, REPO_FOLDER_BAD, "tmp/%s: rename to %s/: %s", tmp_name, sub,
					strerror(err));
			free(tmp);
			return code;
		}
	}
	free(tmp);
	return FAIL(m, REPO_FOLDER_BAD, "store: no free file name after %d attempts", NAME_ATTEMPTS);
failed:;
	int err = errno;
	if (fd >= 0)
		close(fd);
	free(tmp);
	return FAIL(m, write_error_code(err), "tmp/%s: %s: %s", tmp_name, what, strerror(err));
}

/* Renames msg (whose file may have been renamed by a reader) to carry
 * flags nf, moving it to cur/ or new/ by S. */
static int set_one_flags(struct maildir_repo *m, struct repo_msg *msg, flagset_t nf)
{
	if (!key_valid(msg->key))
		return FAIL(m, REPO_MSG_BAD, "%s: not a Maildir message key",
			    msg->key ? msg->key : "(null)");
	if (nf == msg->flags)
		return REPO_OK;
	char *key = xstrdup(msg->key);
	flagset_t want = nf;
	int ret = REPO_OK;
	for (int attempt = 0;; attempt++) {
		char *newkey = NULL;
		{
			char *newname = maildir_name_with_flags(key + 4, m->infosep, want);
			newkey = xasprintf("%s/%s", maildir_subdir_for(want), newname);
			free(newname);
		}
		if (!strcmp(newkey, key)) { /* a reader already did it */
			free(key);
			key = newkey;
			break;
		}
		char *from = key_path(m, key), *to = key_path(m, newkey);
		int rc = rename_noreplace(from, to);
		int err = errno;
		free(from);
		free(to);
		if (rc == 0) {
			TRACE(m, "%s -> %s", key, newkey);
			changed(m, key, newkey);
			free(key);
			key = newkey;
			break;
		}
		free(newkey);
		if (err != ENOENT || attempt > 0) {
			ret = FAIL(m, REPO_MSG_BAD, "%s: rename: %s", key, strerror(err));
			break;
		}
		char *found = NULL;
		int f = find_by_base(m, key + 4, &found);
		if (f <= 0) {
			ret = f == 0 ? FAIL(m, REPO_MSG_BAD, "%s: rename: message vanished", key)
				     : FAIL(m, REPO_FOLDER_BAD, "%s: rescan: %s", key, strerror(errno));
			break;
		}
		/* Apply our change to what the reader left: flags we change
		 * take our value, the others keep theirs. */
		struct maildir_name_info info;
		maildir_name_parse(found + 4, m->md5, m->infosep, &info);
		flagset_t changed = msg->flags ^ nf;
		want = (info.flags & ~changed) | (nf & changed);
		free(key);
		key = found;
	}
	if (ret == REPO_OK) {
		free(msg->key);
		msg->key = key;
		msg->flags = want;
	} else {
		free(key);
	}
	return ret;
}

static int maildir_set_flags(struct repo *r, struct repo_msg *const *msgs,
			     const flagset_t *new_flags, size_t n)
{
	struct maildir_repo *m = M(r);
	settle(m);
	if (!m->dir)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir: set_flags: no folder selected");
	int ret = REPO_OK;
	for (size_t i = 0; i < n; i++) {
		int rc = set_one_flags(m, msgs[i], new_flags[i]);
		if (rc < ret)
			ret = rc;
		if (rc <= REPO_FOLDER_BAD)
			break;
	}
	return ret;
}

static int maildir_delete_messages(struct repo *r, struct repo_msg *const *msgs, size_t n)
{
	struct maildir_repo *m = M(r);
	settle(m);
	if (!m->dir)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir: delete: no folder selected");
	int ret = REPO_OK;
	for (size_t i = 0; i < n; i++) {
		const char *key = msgs[i]->key;
		if (!key_valid(key)) {
			ret = FAIL(m, REPO_MSG_BAD, "%s: not a Maildir message key",
				   key ? key : "(null)");
			continue;
		}
		char *path = key_path(m, key);
		int rc = unlink(path);
		free(path);
		if (rc < 0 && errno == ENOENT) {
			char *found = NULL;
			int f = find_by_base(m, key + 4, &found);
			if (f < 0) {
				ret = FAIL(m, REPO_FOLDER_BAD, "%s: rescan: %s", key,
					   strerror(errno));
				break;
			}
			if (f == 0) {
				TRACE(m, "%s: already gone", key);
				continue;
			}
			path = key_path(m, found);
			rc = unlink(path);
			if (rc < 0 && errno == ENOENT)
				rc = 0; /* and now it is gone */
			free(path);
			key = found;
			free(msgs[i]->key);
			msgs[i]->key = found;
		}
		if (rc < 0) {
			ret = FAIL(m, REPO_MSG_BAD, "%s: unlink: %s", key, strerror(errno));
		} else {
			TRACE(m, "deleted %s", key);
			changed(m, key, NULL);
		}
	}
	return ret;
}

static int maildir_set_uid(struct repo *r, struct repo_msg *msg, uint32_t uid)
{
	struct maildir_repo *m = M(r);
	settle(m);
	if (!m->dir)
		return repo_fail(r, REPO_FOLDER_BAD, "Maildir: set_uid: no folder selected");
	if (!key_valid(msg->key))
		return FAIL(m, REPO_MSG_BAD, "%s: not a Maildir message key",
			    msg->key ? msg->key : "(null)");
	char *key = xstrdup(msg->key);
	bool rescanned = false;
	int ret = REPO_OK;
	for (int attempt = 0; attempt < NAME_ATTEMPTS; attempt++) {
		struct maildir_name_info info;
		maildir_name_parse(key + 4, m->md5, m->infosep, &info);
		char *name = new_name(m, uid, info.flags);
		char *newkey = xasprintf("%.3s/%s", key, name);
		free(name);
		char *from = key_path(m, key), *to = key_path(m, newkey);
		int rc = rename_noreplace(from, to);
		int err = errno;
		free(from);
		free(to);
		if (rc == 0) {
			TRACE(m, "%s -> %s (U=%u)", key, newkey, uid);
			changed(m, key, newkey);
			if (m->fsync)
				m->unsynced_dirs |= dir_bit(newkey); /* maildir_flush */
			free(key);
			free(msg->key);
			msg->key = newkey;
			msg->uid = uid;
			msg->flags = info.flags;
			return REPO_OK;
		}
		free(newkey);
		if (err == EEXIST)
			continue;
		if (err != ENOENT || rescanned) {
			ret = FAIL(m, REPO_MSG_BAD, "%s: rename: %s", key, strerror(err));
			goto out;
		}
		char *found = NULL;
		int f = find_by_base(m, key + 4, &found);
		if (f <= 0) {
			ret = f == 0 ? FAIL(m, REPO_MSG_BAD, "%s: rename: message vanished", key)
				     : FAIL(m, REPO_FOLDER_BAD, "%s: rescan: %s", key, strerror(errno));
			goto out;
		}
		free(key);
		key = found;
		rescanned = true;
	}
	ret = FAIL(m, REPO_MSG_BAD, "%s: no free file name after %d attempts", key, NAME_ATTEMPTS);
out:
	free(key);
	return ret;
}

static flagset_t maildir_storable_flags(struct repo *r)
{
	(void)r;
	return ((flagset_t)1 << 52) - 1; /* every letter */
}

static void maildir_free(struct repo **rp)
{
	struct repo *r = *rp;
	if (!r)
		return;
	maildir_close_folder(r);
	free(M(r)->publish_error);
	free(M(r)->root);
	repo_base_free(r);
	free(r);
	*rp = NULL;
}

static const struct repo_ops maildir_ops = {
	.type_name = "Maildir",
	.connect = maildir_connect,
	.separator = maildir_separator,
	.list_folders = maildir_list_folders,
	.create_folder = maildir_create_folder,
	.select_folder = maildir_select_folder,
	.list_messages = maildir_list_messages,
	.fetch = maildir_fetch,
	.store = maildir_store,
	.set_flags = maildir_set_flags,
	.delete_messages = maildir_delete_messages,
	.flush = maildir_flush,
	.flush_begin = maildir_flush_begin,
	.store_file = maildir_store_file,
	.set_uid = maildir_set_uid,
	.read_body = maildir_read_body,
	.open_body = maildir_open_body,
	.storable_flags = maildir_storable_flags,
	.close_folder = maildir_close_folder,
	.free = maildir_free,
};

struct repo *maildir_repo_new(const char *name, const struct maildir_settings *s)
{
	struct maildir_repo *m = xcalloc(1, sizeof(*m));
	repo_base_init(&m->base, &maildir_ops, name);
	m->root = xstrdup(s->root);
	for (size_t l = strlen(m->root); l > 1 && m->root[l - 1] == '/'; l--)
		m->root[l - 1] = '\0';
	m->sep = s->sep ? s->sep : '.';
	m->infosep = s->infosep ? s->infosep : ':';
	m->fsync = s->fsync;
	m->need_sizes = s->need_sizes;
	m->create_root = s->create_root;
	m->name_from_date = s->name_from_date;
	m->mtime_from_date = s->mtime_from_date;
	m->on_change = s->on_change;
	m->change_ctx = s->change_ctx;
	m->fmd5_name = s->fmd5_name;
	m->fmd5_ctx = s->fmd5_ctx;
	if (gethostname(m->host, sizeof(m->host)) < 0 || !m->host[0])
		strcpy(m->host, "localhost");
	m->host[sizeof(m->host) - 1] = '\0';
	return &m->base;
}

char *maildir_folder_dir(struct repo *r, const char *local_folder)
{
	struct maildir_repo *m = M(r);
	if (!*local_folder)
		return xstrdup(m->root);
	return xasprintf("%s/%s", m->root, local_folder);
}

/* ---- --migrate-fmd5-using-nametrans ---- */

int maildir_migrate_fmd5(struct repo *r, const char *folder, const char *old_md5,
			 const char *new_md5, bool dry_run, size_t *renamed_r, char **error_r)
{
	char *dir = maildir_folder_dir(r, folder);
	char old_tag[6 + HASH_MD5_HEX_LEN + 1], new_tag[6 + HASH_MD5_HEX_LEN + 1];
	snprintf(old_tag, sizeof(old_tag), "FMD5=%s", old_md5);
	snprintf(new_tag, sizeof(new_tag), "FMD5=%s", new_md5);
	int ret = 0;
	for (int s = 0; s < 2 && ret == 0; s++) {
		char *sub = xasprintf("%s/%s", dir, s ? "cur" : "new");
		DIR *d = opendir(sub);
		if (!d) {
			if (errno != ENOENT) {
				*error_r = xasprintf("Maildir[%s]: %s: %s", folder, sub, strerror(errno));
				ret = -1;
			}
			free(sub);
			continue;
		}
		struct strlist names = STRLIST_INIT; /* read first, rename after */
		struct dirent *e;
		while ((e = readdir(d)))
			if (e->d_name[0] != '.')
				strlist_add(&names, e->d_name);
		closedir(d);
		for (size_t i = 0; i < names.n && ret == 0; i++) {
			const char *name = names.v[i];
			char *at = strstr(name, "FMD5=");
			if (!at) {
				log_debug(LOG_DBG_MAILDIR, "File `%s/%s' doesn't have an FMD5 assigned",
					  sub, name);
				continue;
			}
			if (strncmp(at, old_tag, strlen(old_tag)) != 0) {
				if (strncmp(at, new_tag, strlen(new_tag)) != 0)
					log_warn("Inconsistent FMD5 for file `%s/%s': Neither `%s' nor "
						 "`%s' found", sub, name, old_md5, new_md5);
				continue;
			}
			char *from = xasprintf("%s/%s", sub, name);
			char *to = xasprintf("%s/%.*s%s%s", sub, (int)(at - name), name, new_tag,
					     at + strlen(old_tag));
			log_info("%sMigrating file `%s' to FMD5 `%s'", dry_run ? "[DRYRUN] " : "",
				 from, new_md5);
			if (!dry_run) {
				if (rename_noreplace(from, to) < 0) {
					*error_r = xasprintf("Maildir[%s]: can't rename file '%s' to "
							     "'%s': %s", folder, from, to,
							     strerror(errno));
					ret = -1;
				} else {
					(*renamed_r)++;
				}
			}
			free(from);
			free(to);
		}
		strlist_free(&names);
		if (ret == 0 && !dry_run && fsync_dir(sub) < 0 && errno != EINVAL) {
			*error_r = xasprintf("Maildir[%s]: %s: fsync: %s", folder, sub, strerror(errno));
			ret = -1;
		}
		free(sub);
	}
	free(dir);
	return ret;
}
