/* maildir_fs.c — passthrough low-level FUSE file system over a Maildir root,
 * with Maildir events for an observer. Contract: maildir_fs.h; design:
 * docs/mount.md. Layout follows libfuse's example/passthrough_ll.c: one
 * O_PATH descriptor per inode the kernel knows, keyed by (st_dev, st_ino),
 * freed when the kernel forgets it.
 *
 * Locks, in the order they may nest:
 *   se_lock   (rwlock) the session pointer: notify holds it shared across
 *             its kernel calls; mount, the end of run and free hold it
 *             exclusively. Never taken by a FUSE request.
 *   ns_lock   namespace changes (create, mkdir, rmdir, unlink, rename, the
 *             release of a created message) and the pending list; held
 *             across the backing operation and the observer callbacks, so
 *             events are serialized and in order.
 *   ino_lock  the inode table; held only for table updates, never across a
 *             system call that can block on the kernel's FUSE side.
 *   open_lock the list of open handles; list updates only.
 */

/* 3.12 is the first API level whose fuse_session_loop_mt takes the
 * fuse_loop_config with max_threads; lower levels (34, 35) silently map it
 * to the old structure without one. Nothing else we use differs. */
#define FUSE_USE_VERSION 312

#include "fs/maildir_fs.h"

#include <fuse_lowlevel.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

_Static_assert(sizeof(fuse_ino_t) >= sizeof(uintptr_t), "fuse_ino_t must hold a pointer");

extern char **environ;

struct fs_inode {
	struct fs_inode *hnext; /* hash chain; ino_lock */
	int fd;                 /* O_PATH | O_NOFOLLOW; owned */
	dev_t dev;
	ino_t ino;
	mode_t type;      /* S_IFMT bits; an inode never changes type */
	uint64_t nlookup; /* kernel lookup count; ino_lock */
};

/* Open files and directories are also on a list, so that those the kernel
 * never released (the loop ended first: signal, unmount with RELEASE still
 * queued) are closed by maildir_fs_free. */
struct open_link {
	struct open_link *prev, *next; /* open_lock */
};

/* An open regular file. */
struct fs_handle {
	struct open_link link; /* first member */
	int fd;
	bool creator; /* created in a message location: message_added at release */
	dev_t dev;
	ino_t ino;
};

/* An open directory. */
struct fs_dir {
	struct open_link link; /* first member */
	DIR *dp;
	struct dirent *entry; /* read but not yet returned */
	off_t offset;
};

/* A file created through the mount in new/ or cur/ whose creating handle is
 * still open; ns_lock. */
struct pending_msg {
	struct pending_msg *next;
	dev_t dev;
	ino_t ino;
	char *folder;       /* owned */
	const char *subdir; /* static */
	char *name;         /* owned */
};

struct maildir_fs {
	char *root_path; /* owned; canonical, as /proc/self/fd showed it at new */
	struct fs_inode root; /* FUSE_ROOT_ID; never forgotten */
	struct fs_observer obs;
	struct maildir_fs_options opt;
	char *subtype; /* owned */
	struct fuse_lowlevel_ops ops;

	pthread_mutex_t ino_lock;
	struct fs_inode **buckets;
	size_t nbuckets, ninodes;

	pthread_mutex_t ns_lock;
	struct pending_msg *pending;

	pthread_mutex_t open_lock;
	struct open_link files, dirs; /* circular list heads */

	pthread_rwlock_t se_lock;
	struct fuse_session *se; /* owned; se_lock */
	char *mountpoint;        /* owned, absolute; se_lock */
	bool signals_set;
	atomic_bool unmount_requested;
};

enum sub { SUB_NONE, SUB_CUR, SUB_NEW, SUB_TMP };
static const char *const sub_names[] = { NULL, "cur", "new", "tmp" };

static enum sub sub_of(const char *name)
{
	for (int i = SUB_CUR; i <= SUB_TMP; i++)
		if (!strcmp(name, sub_names[i]))
			return i;
	return SUB_NONE;
}

/* A name the kernel may legitimately send is one path component. */
static bool bad_name(const char *name)
{
	return !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..");
}

static void proc_path(char *buf, size_t size, int fd)
{
	snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* ---- inode table ---------------------------------------------------- */

static size_t ino_hash(dev_t dev, ino_t ino)
{
	uint64_t h = (uint64_t)ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)dev * 0xC2B2AE3D27D4EB4Full;
	return (size_t)(h ^ (h >> 29));
}

/* ino_lock held. */
static void table_grow(struct maildir_fs *fs)
{
	size_t n = fs->nbuckets ? fs->nbuckets * 2 : 1024;
	struct fs_inode **b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < fs->nbuckets; i++) {
		struct fs_inode *in = fs->buckets[i], *next;
		for (; in; in = next) {
			next = in->hnext;
			size_t k = ino_hash(in->dev, in->ino) & (n - 1);
			in->hnext = b[k];
			b[k] = in;
		}
	}
	free(fs->buckets);
	fs->buckets = b;
	fs->nbuckets = n;
}

/* ino_lock held. */
static struct fs_inode *table_find(struct maildir_fs *fs, dev_t dev, ino_t ino)
{
	if (!fs->nbuckets)
		return NULL;
	struct fs_inode *in = fs->buckets[ino_hash(dev, ino) & (fs->nbuckets - 1)];
	while (in && (in->dev != dev || in->ino != ino))
		in = in->hnext;
	return in;
}

/* Returns the inode for st with its lookup count raised by one. Takes
 * ownership of fd (kept for a new inode, closed otherwise). */
static struct fs_inode *inode_ref(struct maildir_fs *fs, int fd, const struct stat *st)
{
	pthread_mutex_lock(&fs->ino_lock);
	struct fs_inode *in = table_find(fs, st->st_dev, st->st_ino);
	if (in) {
		in->nlookup++;
		pthread_mutex_unlock(&fs->ino_lock);
		close(fd);
		return in;
	}
	if (fs->ninodes >= fs->nbuckets)
		table_grow(fs);
	in = xcalloc(1, sizeof(*in));
	in->fd = fd;
	in->dev = st->st_dev;
	in->ino = st->st_ino;
	in->type = st->st_mode & S_IFMT;
	in->nlookup = 1;
	size_t k = ino_hash(in->dev, in->ino) & (fs->nbuckets - 1);
	in->hnext = fs->buckets[k];
	fs->buckets[k] = in;
	fs->ninodes++;
	pthread_mutex_unlock(&fs->ino_lock);
	return in;
}

static void inode_unref(struct maildir_fs *fs, struct fs_inode *in, uint64_t n)
{
	if (in == &fs->root)
		return;
	pthread_mutex_lock(&fs->ino_lock);
	if (in->nlookup < n) {
		log_warn("fuse: forget %" PRIu64 " of inode %lu with lookup count %" PRIu64,
			 n, (unsigned long)in->ino, in->nlookup);
		n = in->nlookup;
	}
	in->nlookup -= n;
	if (in->nlookup) {
		pthread_mutex_unlock(&fs->ino_lock);
		return;
	}
	struct fs_inode **p = &fs->buckets[ino_hash(in->dev, in->ino) & (fs->nbuckets - 1)];
	while (*p != in)
		p = &(*p)->hnext;
	*p = in->hnext;
	fs->ninodes--;
	pthread_mutex_unlock(&fs->ino_lock);
	close(in->fd);
	free(in);
}

static struct maildir_fs *req_fs(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static void open_add(struct maildir_fs *fs, struct open_link *head, struct open_link *l)
{
	pthread_mutex_lock(&fs->open_lock);
	l->next = head->next;
	l->prev = head;
	head->next->prev = l;
	head->next = l;
	pthread_mutex_unlock(&fs->open_lock);
}

static void open_del(struct maildir_fs *fs, struct open_link *l)
{
	pthread_mutex_lock(&fs->open_lock);
	l->prev->next = l->next;
	l->next->prev = l->prev;
	pthread_mutex_unlock(&fs->open_lock);
}

static struct fs_inode *get_inode(struct maildir_fs *fs, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? &fs->root : (struct fs_inode *)(uintptr_t)ino;
}

static double attr_timeout_for(const struct maildir_fs *fs, mode_t mode)
{
	return S_ISDIR(mode) ? fs->opt.dir_attr_timeout : fs->opt.attr_timeout;
}

/* Looks name up in dir and fills e (lookup count raised). Returns 0 or an
 * errno. Never follows a symlink. */
static int do_lookup(struct maildir_fs *fs, struct fs_inode *dir, const char *name,
		     struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	int fd = openat(dir->fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno;
	if (fstatat(fd, "", &e->attr, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		int err = errno;
		close(fd);
		return err;
	}
	struct fs_inode *in = inode_ref(fs, fd, &e->attr);
	e->ino = (uintptr_t)in;
	e->attr_timeout = attr_timeout_for(fs, e->attr.st_mode);
	e->entry_timeout = fs->opt.entry_timeout;
	return 0;
}

/* Replies with e; if the kernel did not take it, drops the lookup again. */
static void reply_entry(fuse_req_t req, struct fuse_entry_param *e)
{
	if (fuse_reply_entry(req, e) != 0)
		inode_unref(req_fs(req), get_inode(req_fs(req), e->ino), 1);
}

/* ---- where things are: paths relative to the root ------------------- */

/* The kernel's current absolute name of fd (readlink of /proc/self/fd/N).
 * Returns 0, or -1 with errno. */
static int fd_path(int fd, char *buf, size_t size)
{
	char proc[64];
	proc_path(proc, sizeof(proc), fd);
	ssize_t n = readlink(proc, buf, size);
	if (n < 0)
		return -1;
	if ((size_t)n >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	buf[n] = '\0';
	return 0;
}

/* The directory's path relative to the root ("" for the root), malloc'd;
 * NULL with errno ENOENT (removed) or ESTALE (no longer below the root: moved
 * away behind the mount's back). Uses the kernel's current name of the
 * descriptor, so renames done anywhere are reflected, and checks it by
 * resolving it again from the root. */
static char *dir_relpath(struct maildir_fs *fs, struct fs_inode *dir)
{
	if (dir == &fs->root)
		return xstrdup("");
	char root[PATH_MAX + 1], buf[PATH_MAX + 1];
	if (fd_path(fs->root.fd, root, sizeof(root)) < 0 || fd_path(dir->fd, buf, sizeof(buf)) < 0)
		return NULL;
	struct stat st;
	if (fstatat(dir->fd, "", &st, AT_EMPTY_PATH) < 0)
		return NULL;
	if (st.st_nlink == 0) {
		errno = ENOENT;
		return NULL;
	}
	/* The root's own name is read each time too: the whole Maildir may
	 * have been renamed while mounted. */
	size_t rlen = strlen(root);
	const char *rel = NULL;
	if (rlen == 1 && root[0] == '/')
		rel = buf + 1;
	else if (!strncmp(buf, root, rlen) && buf[rlen] == '/')
		rel = buf + rlen + 1;
	struct stat check;
	if (!rel || !*rel || fstatat(fs->root.fd, rel, &check, AT_SYMLINK_NOFOLLOW) < 0 ||
	    check.st_dev != dir->dev || check.st_ino != dir->ino) {
		errno = ESTALE;
		return NULL;
	}
	return xstrdup(rel);
}

static char *join(const char *dir, const char *name)
{
	return *dir ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

/* Whether the directory fd has cur/, new/ and tmp/ (followed like the
 * cache's Maildir reader follows them). */
static bool is_maildir_fd(int fd)
{
	struct stat st;
	for (int i = SUB_CUR; i <= SUB_TMP; i++)
		if (fstatat(fd, sub_names[i], &st, 0) < 0 || !S_ISDIR(st.st_mode))
			return false;
	return true;
}

static bool is_maildir_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool md = is_maildir_fd(fd);
	close(fd);
	return md;
}

struct dirinfo {
	char *rel;      /* owned; the directory relative to the root */
	char *folder;   /* owned; set when the directory is cur|new|tmp of a folder */
	enum sub sub;   /* SUB_NONE unless folder is set */
};

/* Fills di for dir. Returns 0 or an errno (see dir_relpath). */
static int dirinfo_get(struct maildir_fs *fs, struct fs_inode *dir, struct dirinfo *di)
{
	memset(di, 0, sizeof(*di));
	di->rel = dir_relpath(fs, dir);
	if (!di->rel)
		return errno;
	const char *slash = strrchr(di->rel, '/');
	const char *base = slash ? slash + 1 : di->rel;
	enum sub sub = sub_of(base);
	if (sub == SUB_NONE)
		return 0;
	int pfd = openat(dir->fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return 0;
	bool md = is_maildir_fd(pfd);
	close(pfd);
	if (md) {
		di->folder = xstrndup(di->rel, slash ? (size_t)(slash - di->rel) : 0);
		di->sub = sub;
	}
	return 0;
}

static void dirinfo_free(struct dirinfo *di)
{
	free(di->rel);
	free(di->folder);
	memset(di, 0, sizeof(*di));
}

static bool msg_loc(const struct dirinfo *di, const char *name, mode_t mode)
{
	return di->folder && (di->sub == SUB_CUR || di->sub == SUB_NEW) && name[0] != '.' &&
	       S_ISREG(mode);
}

/* ---- observer calls (ns_lock held) ---------------------------------- */

static int ev_renamed(struct maildir_fs *fs, const struct dirinfo *s, const char *sname,
		      const struct dirinfo *d, const char *dname)
{
	log_debug(LOG_DBG_FUSE, "event: renamed [%s] %s/%s -> [%s] %s/%s", s->folder,
		  sub_names[s->sub], sname, d->folder, sub_names[d->sub], dname);
	if (!fs->obs.message_renamed)
		return 0;
	return fs->obs.message_renamed(fs->obs.ctx, s->folder, sub_names[s->sub], sname,
				       d->folder, sub_names[d->sub], dname);
}

static int ev_unlinked(struct maildir_fs *fs, const char *folder, const char *subdir,
		       const char *name)
{
	log_debug(LOG_DBG_FUSE, "event: unlinked [%s] %s/%s", folder, subdir, name);
	if (!fs->obs.message_unlinked)
		return 0;
	return fs->obs.message_unlinked(fs->obs.ctx, folder, subdir, name);
}

static int ev_added(struct maildir_fs *fs, const char *folder, const char *subdir,
		    const char *name)
{
	log_debug(LOG_DBG_FUSE, "event: added [%s] %s/%s", folder, subdir, name);
	if (!fs->obs.message_added)
		return 0;
	return fs->obs.message_added(fs->obs.ctx, folder, subdir, name);
}

static void ev_folder(struct maildir_fs *fs, bool created, const char *folder)
{
	log_debug(LOG_DBG_FUSE, "event: folder %s [%s]", created ? "created" : "removed", folder);
	int (*cb)(void *, const char *) = created ? fs->obs.folder_created : fs->obs.folder_removed;
	int r = cb ? cb(fs->obs.ctx, folder) : 0;
	if (r < 0)
		log_warn("mount: observer could not record that folder [%s] was %s: %s", folder,
			 created ? "created" : "removed", strerror(-r));
}

static void ev_folder_renamed(struct maildir_fs *fs, const char *from, const char *to,
			      bool was_folder)
{
	log_debug(LOG_DBG_FUSE, "event: directory renamed [%s] -> [%s]", from, to);
	if (fs->obs.folder_renamed) {
		int r = fs->obs.folder_renamed(fs->obs.ctx, from, to);
		if (r < 0)
			log_warn("mount: observer could not record that [%s] was renamed to [%s]: %s",
				 from, to, strerror(-r));
	} else if (was_folder) {
		ev_folder(fs, false, from);
		ev_folder(fs, true, to);
	}
}

/* ns_lock held. Unlinks and returns the pending record for (dev, ino). */
static struct pending_msg *pending_take(struct maildir_fs *fs, dev_t dev, ino_t ino)
{
	for (struct pending_msg **p = &fs->pending; *p; p = &(*p)->next) {
		if ((*p)->dev == dev && (*p)->ino == ino) {
			struct pending_msg *m = *p;
			*p = m->next;
			m->next = NULL;
			return m;
		}
	}
	return NULL;
}

static void pending_free(struct pending_msg *m)
{
	if (!m)
		return;
	free(m->folder);
	free(m->name);
	free(m);
}

/* ---- operations ------------------------------------------------------ */

static void fs_init(void *userdata, struct fuse_conn_info *conn)
{
	struct maildir_fs *fs = userdata;
	/* No NFS export: the kernel would then look up "." and "..". */
	conn->want &= ~(FUSE_CAP_EXPORT_SUPPORT | FUSE_CAP_WRITEBACK_CACHE);
	log_debug(LOG_DBG_FUSE, "init: protocol %u.%u, capable 0x%x, want 0x%x, root %s",
		  conn->proto_major, conn->proto_minor, conn->capable, conn->want, fs->root_path);
}

static void fs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct maildir_fs *fs = req_fs(req);
	struct fuse_entry_param e;
	if (bad_name(name))
		return (void)fuse_reply_err(req, EINVAL);
	int err = do_lookup(fs, get_inode(fs, parent), name, &e);
	if (err)
		return (void)fuse_reply_err(req, err);
	reply_entry(req, &e);
}

static void fs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	struct maildir_fs *fs = req_fs(req);
	inode_unref(fs, get_inode(fs, ino), nlookup);
	fuse_reply_none(req);
}

static void fs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	struct maildir_fs *fs = req_fs(req);
	for (size_t i = 0; i < count; i++)
		inode_unref(fs, get_inode(fs, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void fs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct maildir_fs *fs = req_fs(req);
	struct stat st;
	(void)fi;
	if (fstatat(get_inode(fs, ino)->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return (void)fuse_reply_err(req, errno);
	fuse_reply_attr(req, &st, attr_timeout_for(fs, st.st_mode));
}

static void fs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int valid,
		       struct fuse_file_info *fi)
{
	struct maildir_fs *fs = req_fs(req);
	struct fs_inode *in = get_inode(fs, ino);
	/* The kernel passes a handle only for regular files (ftruncate). */
	struct fs_handle *h =
		fi && S_ISREG(in->type) ? (struct fs_handle *)(uintptr_t)fi->fh : NULL;
	char proc[64];
	proc_path(proc, sizeof(proc), in->fd);

	/* A Maildir holds no symlinks worth changing; the /proc trick below
	 * would act on the link target's behalf in odd ways. */
	if (S_ISLNK(in->type))
		return (void)fuse_reply_err(req, EPERM);
	if (valid & FUSE_SET_ATTR_MODE) {
		if (attr->st_mode & (S_ISUID | S_ISGID))
			return (void)fuse_reply_err(req, EPERM);
		mode_t mode = attr->st_mode & (S_ISVTX | 0777);
		if ((h ? fchmod(h->fd, mode) : chmod(proc, mode)) < 0)
			return (void)fuse_reply_err(req, errno);
	}
	if (valid & (FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		/* Owners are not ours to change; accept only a no-op (cp -p). */
		struct stat st;
		if (fstatat(in->fd, "", &st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			return (void)fuse_reply_err(req, errno);
		if (((valid & FUSE_SET_ATTR_UID) && attr->st_uid != st.st_uid) ||
		    ((valid & FUSE_SET_ATTR_GID) && attr->st_gid != st.st_gid))
			return (void)fuse_reply_err(req, EPERM);
	}
	if (valid & FUSE_SET_ATTR_SIZE) {
		if (!S_ISREG(in->type))
			return (void)fuse_reply_err(req, S_ISDIR(in->type) ? EISDIR : EINVAL);
		if ((h ? ftruncate(h->fd, attr->st_size) : truncate(proc, attr->st_size)) < 0)
			return (void)fuse_reply_err(req, errno);
	}
	if (valid & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec tv[2] = { { 0, UTIME_OMIT }, { 0, UTIME_OMIT } };
		if (valid & FUSE_SET_ATTR_ATIME_NOW)
			tv[0].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_ATIME)
			tv[0] = attr->st_atim;
		if (valid & FUSE_SET_ATTR_MTIME_NOW)
			tv[1].tv_nsec = UTIME_NOW;
		else if (valid & FUSE_SET_ATTR_MTIME)
			tv[1] = attr->st_mtim;
		if ((h ? futimens(h->fd, tv) : utimensat(AT_FDCWD, proc, tv, 0)) < 0)
			return (void)fuse_reply_err(req, errno);
	}
	fs_getattr(req, ino, fi);
}

static void fs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	char buf[PATH_MAX + 1];
	ssize_t n = readlinkat(get_inode(req_fs(req), ino)->fd, "", buf, sizeof(buf));
	if (n < 0)
		return (void)fuse_reply_err(req, errno);
	if ((size_t)n >= sizeof(buf))
		return (void)fuse_reply_err(req, ENAMETOOLONG);
	buf[n] = '\0';
	fuse_reply_readlink(req, buf);
}

/* Device nodes, FIFOs and sockets have no place in a Maildir; regular files
 * are made by create. */
static void fs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		     dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EPERM);
}

/* A symlink could point the kernel anywhere; a Maildir needs none. */
static void fs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

/* Hard links would give one message two names (two messages to the sync).
 * EPERM is POSIX's "file system does not support links"; mutt and neomutt
 * then fall back to rename() (safe_rename). */
static void fs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t parent, const char *name)
{
	(void)ino, (void)parent, (void)name;
	fuse_reply_err(req, EPERM);
}

static void fs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct maildir_fs *fs = req_fs(req);
	struct fs_inode *dir = get_inode(fs, parent);
	struct fuse_entry_param e;
	if (bad_name(name))
		return (void)fuse_reply_err(req, EINVAL);
	pthread_mutex_lock(&fs->ns_lock);
	int err = 0;
	char *rel = dir_relpath(fs, dir);
	if (!rel) {
		err = errno;
		goto out;
	}
	enum sub sub = sub_of(name);
	bool was = sub != SUB_NONE && is_maildir_fd(dir->fd);
	if (mkdirat(dir->fd, name, mode & 01777) < 0) {
		err = errno;
		goto out;
	}
	err = do_lookup(fs, dir, name, &e);
	if (!err && sub != SUB_NONE && !was && is_maildir_fd(dir->fd))
		ev_folder(fs, true, rel);
out:
	pthread_mutex_unlock(&fs->ns_lock);
	free(rel);
	if (err)
		fuse_reply_err(req, err);
	else
		reply_entry(req, &e);
}

static void fs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct maildir_fs *fs = req_fs(req);
	struct fs_inode *dir = get_inode(fs, parent);
	if (bad_name(name))
		return (void)fuse_reply_err(req, EINVAL);
	pthread_mutex_lock(&fs->ns_lock);
	int err = 0;
	char *rel = dir_relpath(fs, dir);
	if (!rel) {
		err = errno;
		goto out;
	}
	bool was = sub_of(name) != SUB_NONE && is_maildir_fd(dir->fd);
	if (unlinkat(dir->fd, name, AT_REMOVEDIR) < 0) {
		err = errno;
		goto out;
	}
	if (was && !is_maildir_fd(dir->fd))
		ev_folder(fs, false, rel);
out:
	pthread_mutex_unlock(&fs->ns_lock);
	free(rel);
	fuse_reply_err(req, err);
}

static void fs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct maildir_fs *fs = req_fs(req);
	struct fs_inode *dir = get_inode(fs, parent);
	struct dirinfo di;
	struct stat st;
	if (bad_name(name))
		return (void)fuse_reply_err(req, EINVAL);
	pthread_mutex_lock(&fs->ns_lock);
	int err = dirinfo_get(fs, dir, &di);
	if (err)
		goto out;
	if (fstatat(dir->fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || unlinkat(dir->fd, name, 0) < 0) {
		err = errno;
		goto out;
	}
	struct pending_msg *p = pending_take(fs, st.st_dev, st.st_ino);
	if (p) {
		/* Created here and never completed: nobody was told about it. */
		pending_free(p);
	} else if (msg_loc(&di, name, st.st_mode)) {
		int r = ev_unlinked(fs, di.folder, sub_names[di.sub], name);
		if (r < 0)
			log_error("mount: [%s] %s/%s was deleted but the observer could not record it "
				  "(%s); the next full sync will find the deletion",
				  di.folder, sub_names[di.sub], name, strerror(-r));
	}
out:
	pthread_mutex_unlock(&fs->ns_lock);
	dirinfo_free(&di);
	fuse_reply_err(req, err);
}

static void fs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	struct maildir_fs *fs = req_fs(req);
	struct fs_inode *sp = get_inode(fs, parent), *dp = get_inode(fs, newparent);
	struct dirinfo sdi, ddi;
	struct stat sst, dst;
	memset(&ddi, 0, sizeof(ddi));

	/* RENAME_EXCHANGE would swap two messages' names in one step (two
	 * renames to the sync), RENAME_WHITEOUT is for overlayfs. */
	if (flags & ~(unsigned)RENAME_NOREPLACE)
		return (void)fuse_reply_err(req, EINVAL);
	if (bad_name(name) || bad_name(newname))
		return (void)fuse_reply_err(req, EINVAL);

	pthread_mutex_lock(&fs->ns_lock);
	int err = dirinfo_get(fs, sp, &sdi);
	if (err)
		goto out;
	if ((err = dirinfo_get(fs, dp, &ddi)))
		goto out;
	if (fstatat(sp->fd, name, &sst, AT_SYMLINK_NOFOLLOW) < 0) {
		err = errno;
		goto out;
	}
	bool replaced = fstatat(dp->fd, newname, &dst, AT_SYMLINK_NOFOLLOW) == 0;
	bool same = replaced && dst.st_dev == sst.st_dev && dst.st_ino == sst.st_ino;
	bool isdir = S_ISDIR(sst.st_mode);
	enum sub ssub = sub_of(name), dsub = sub_of(newname);
	bool dirsub = isdir && (ssub != SUB_NONE || dsub != SUB_NONE);
	bool s_was = dirsub && is_maildir_fd(sp->fd);
	bool d_was = dirsub && (sp == dp ? s_was : is_maildir_fd(dp->fd));
	bool src_is_part = isdir && ssub != SUB_NONE && s_was; /* a folder's cur|new|tmp */
	bool src_was_folder = isdir && !src_is_part && !fs->obs.folder_renamed &&
			      is_maildir_at(sp->fd, name);

	int res = flags ? renameat2(sp->fd, name, dp->fd, newname, flags)
			: renameat(sp->fd, name, dp->fd, newname);
	if (res < 0) {
		err = errno;
		goto out;
	}
	if (same) /* POSIX: renaming a name onto a link to the same file does nothing */
		goto out;

	if (isdir) {
		if (!src_is_part) {
			char *from = join(sdi.rel, name), *to = join(ddi.rel, newname);
			ev_folder_renamed(fs, from, to, src_was_folder);
			free(from);
			free(to);
		}
		if (dirsub) {
			bool s_now = is_maildir_fd(sp->fd);
			bool d_now = sp == dp ? s_now : is_maildir_fd(dp->fd);
			if (s_was && !s_now)
				ev_folder(fs, false, sdi.rel);
			if (sp != dp && d_was && !d_now)
				ev_folder(fs, false, ddi.rel);
			if (sp != dp && !s_was && s_now)
				ev_folder(fs, true, sdi.rel);
			if (!d_was && d_now)
				ev_folder(fs, true, ddi.rel);
		}
		goto out;
	}

	bool s_msg = msg_loc(&sdi, name, sst.st_mode);
	bool d_msg = msg_loc(&ddi, newname, sst.st_mode);
	int r = 0;
	if (replaced) {
		struct pending_msg *rp = pending_take(fs, dst.st_dev, dst.st_ino);
		if (rp)
			pending_free(rp);
		else if (msg_loc(&ddi, newname, dst.st_mode))
			r = ev_unlinked(fs, ddi.folder, sub_names[ddi.sub], newname);
	}
	struct pending_msg *p = pending_take(fs, sst.st_dev, sst.st_ino);
	if (p) {
		/* Still being written through its creating handle: follow it,
		 * message_added comes at release. Out of the Maildir: forget it. */
		if (d_msg) {
			free(p->folder);
			free(p->name);
			p->folder = xstrdup(ddi.folder);
			p->subdir = sub_names[ddi.sub];
			p->name = xstrdup(newname);
			p->next = fs->pending;
			fs->pending = p;
		} else {
			pending_free(p);
		}
	} else {
		int r2 = 0;
		if (s_msg && d_msg)
			r2 = ev_renamed(fs, &sdi, name, &ddi, newname);
		else if (s_msg)
			r2 = ev_unlinked(fs, sdi.folder, sub_names[sdi.sub], name);
		else if (d_msg)
			r2 = ev_added(fs, ddi.folder, sub_names[ddi.sub], newname);
		if (r2 < 0)
			r = r2;
	}
	if (r < 0) {
		if (!replaced && renameat2(dp->fd, newname, sp->fd, name, RENAME_NOREPLACE) == 0) {
			log_warn("mount: rename of %s/%s to %s/%s undone: the observer could not "
				 "record it: %s", sdi.rel, name, ddi.rel, newname, strerror(-r));
			err = EIO;
		} else {
			log_error("mount: %s/%s was renamed to %s/%s but the observer could not "
				  "record it (%s) and the rename cannot be undone; the next full "
				  "sync will find the change", sdi.rel, name, ddi.rel, newname,
				  strerror(-r));
		}
	}
out:
	pthread_mutex_unlock(&fs->ns_lock);
	dirinfo_free(&sdi);
	dirinfo_free(&ddi);
	fuse_reply_err(req, err);
}

static struct fs_handle *get_handle(struct fuse_file_info *fi)
{
	return (struct fs_handle *)(uintptr_t)fi->fh;
}

static void fs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct maildir_fs *fs = req_fs(req);
	struct fs_inode *in = get_inode(fs, ino);
	char proc[64];
	if (!S_ISREG(in->type))
		return (void)fuse_reply_err(req, S_ISDIR(in->type) ? EISDIR : EINVAL);
	proc_path(proc, sizeof(proc), in->fd);
	int fd = open(proc, (fi->flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) | O_CLOEXEC);
	if (fd < 0)
		return (void)fuse_reply_err(req, errno);
	struct fs_handle *h = xcalloc(1, sizeof(*h));
	h->fd = fd;
	open_add(fs, &fs->files, &h->link);
	fi->fh = (uintptr_t)h;
	/* Message content never changes in place. */
	fi->keep_cache = fs->opt.keep_cache;
	/* A reader's close() has nothing to flush and nothing to report (see
	 * fs_flush): FOPEN_NOFLUSH spares it the synchronous FLUSH round trip
	 * (the kernel honours it without writeback cache, which is off). */
	fi->noflush = (fi->flags & O_ACCMODE) == O_RDONLY;
	if (fuse_reply_open(req, fi) != 0) {
		open_del(fs, &h->link);
		close(fd);
		free(h);
	}
}

static void fs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	struct maildir_fs *fs = req_fs(req);
	struct fs_inode *dir = get_inode(fs, parent);
	struct fuse_entry_param e;
	struct dirinfo di;
	struct fs_handle *h = NULL;
	if (bad_name(name))
		return (void)fuse_reply_err(req, EINVAL);
	pthread_mutex_lock(&fs->ns_lock);
	int err = dirinfo_get(fs, dir, &di);
	if (err)
		goto out;
	/* O_EXCL first, to know whether this call made the file (the kernel
	 * thought the name was free, but the sync may just have put it there). */
	int flags = (fi->flags & ~(O_CREAT | O_EXCL)) | O_NOFOLLOW | O_CLOEXEC;
	bool made = true;
	int fd = openat(dir->fd, name, flags | O_CREAT | O_EXCL, mode & 0777);
	if (fd < 0 && errno == EEXIST && !(fi->flags & O_EXCL)) {
		made = false;
		fd = openat(dir->fd, name, flags);
	}
	if (fd < 0) {
		err = errno;
		goto out;
	}
	if ((err = do_lookup(fs, dir, name, &e))) {
		close(fd);
		goto out;
	}
	h = xcalloc(1, sizeof(*h));
	h->fd = fd;
	h->dev = e.attr.st_dev;
	h->ino = e.attr.st_ino;
	if (made && msg_loc(&di, name, e.attr.st_mode)) {
		struct pending_msg *m = xcalloc(1, sizeof(*m));
		m->dev = h->dev;
		m->ino = h->ino;
		m->folder = xstrdup(di.folder);
		m->subdir = sub_names[di.sub];
		m->name = xstrdup(name);
		m->next = fs->pending;
		fs->pending = m;
		h->creator = true;
	}
	open_add(fs, &fs->files, &h->link);
	fi->fh = (uintptr_t)h;
	fi->keep_cache = fs->opt.keep_cache;
out:
	pthread_mutex_unlock(&fs->ns_lock);
	dirinfo_free(&di);
	if (err)
		return (void)fuse_reply_err(req, err);
	if (fuse_reply_create(req, &e, fi) != 0) {
		/* The caller is gone: the file stays, nobody holds it open. */
		if (h->creator) {
			pthread_mutex_lock(&fs->ns_lock);
			pending_free(pending_take(fs, h->dev, h->ino));
			pthread_mutex_unlock(&fs->ns_lock);
		}
		open_del(fs, &h->link);
		close(h->fd);
		free(h);
		inode_unref(fs, get_inode(fs, e.ino), 1);
	}
}

static void fs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
	(void)ino;
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = get_handle(fi)->fd;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void fs_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in_buf, off_t off,
			 struct fuse_file_info *fi)
{
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in_buf));
	(void)ino;
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = get_handle(fi)->fd;
	out.buf[0].pos = off;
	ssize_t res = fuse_buf_copy(&out, in_buf, 0);
	if (res < 0)
		fuse_reply_err(req, (int)-res);
	else
		fuse_reply_write(req, (size_t)res);
}

/* close() of a duplicate reports what close() of the file would (quota on
 * NFS-backed homes, isync's "quota exceeded may cause this"). */
static void fs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	int fd = dup(get_handle(fi)->fd);
	int res = fd < 0 ? -1 : close(fd);
	fuse_reply_err(req, res < 0 ? errno : 0);
}

static void fs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct maildir_fs *fs = req_fs(req);
	struct fs_handle *h = get_handle(fi);
	(void)ino;
	if (h->creator) {
		pthread_mutex_lock(&fs->ns_lock);
		struct pending_msg *m = pending_take(fs, h->dev, h->ino);
		if (m) {
			int r = ev_added(fs, m->folder, m->subdir, m->name);
			if (r < 0)
				log_error("mount: new message [%s] %s/%s: the observer could not "
					  "record it (%s); the next full sync will upload it",
					  m->folder, m->subdir, m->name, strerror(-r));
			pending_free(m);
		}
		pthread_mutex_unlock(&fs->ns_lock);
	}
	open_del(fs, &h->link);
	close(h->fd);
	free(h);
	fuse_reply_err(req, 0);
}

static void fs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	int fd = get_handle(fi)->fd;
	int res = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, res < 0 ? errno : 0);
}

static struct fs_dir *get_dir(struct fuse_file_info *fi)
{
	return (struct fs_dir *)(uintptr_t)fi->fh;
}

static void fs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct maildir_fs *fs = req_fs(req);
	struct fs_inode *in = get_inode(fs, ino);
	int fd = openat(in->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return (void)fuse_reply_err(req, errno);
	DIR *dp = fdopendir(fd);
	if (!dp) {
		int err = errno;
		close(fd);
		return (void)fuse_reply_err(req, err);
	}
	if (fs->obs.folder_opened) {
		/* Told before the reply, while the kernel still holds the
		 * inode; a few syscalls, no lock. */
		struct dirinfo di;
		if (dirinfo_get(fs, in, &di) == 0 && di.folder &&
		    (di.sub == SUB_CUR || di.sub == SUB_NEW))
			fs->obs.folder_opened(fs->obs.ctx, di.folder);
		dirinfo_free(&di);
	}
	struct fs_dir *d = xcalloc(1, sizeof(*d));
	d->dp = dp;
	open_add(fs, &fs->dirs, &d->link);
	fi->fh = (uintptr_t)d;
	/* No cache_readdir: a listing is one getdents away and always fresh,
	 * even when the sync changed the directory without telling us. */
	if (fuse_reply_open(req, fi) != 0) {
		open_del(fs, &d->link);
		closedir(dp);
		free(d);
	}
}

static bool is_dot_or_dotdot(const char *name)
{
	return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		       struct fuse_file_info *fi, bool plus)
{
	struct maildir_fs *fs = req_fs(req);
	struct fs_inode *dir = get_inode(fs, ino);
	struct fs_dir *d = get_dir(fi);
	char *buf = xcalloc(1, size), *p = buf;
	size_t rem = size;
	struct fs_inode **refs = NULL; /* lookups handed out in this reply */
	size_t nrefs = 0, caprefs = 0;
	int err = 0;

	if (offset != d->offset) {
		seekdir(d->dp, offset);
		d->entry = NULL;
		d->offset = offset;
	}
	for (;;) {
		if (!d->entry) {
			errno = 0;
			d->entry = readdir(d->dp);
			if (!d->entry) {
				err = errno;
				break;
			}
		}
		off_t next = d->entry->d_off;
		const char *name = d->entry->d_name;
		size_t entsize;
		struct fs_inode *ref = NULL;
		if (plus) {
			struct fuse_entry_param e;
			if (is_dot_or_dotdot(name)) {
				memset(&e, 0, sizeof(e));
				e.attr.st_ino = d->entry->d_ino;
				e.attr.st_mode = (mode_t)d->entry->d_type << 12;
			} else {
				int lerr = do_lookup(fs, dir, name, &e);
				if (lerr == ENOENT) {
					/* Renamed or deleted since getdents (the sync
					 * at work): leave it out. */
					d->entry = NULL;
					d->offset = next;
					continue;
				}
				if (lerr) {
					err = lerr;
					break;
				}
				ref = get_inode(fs, e.ino);
			}
			entsize = fuse_add_direntry_plus(req, p, rem, name, &e, next);
		} else {
			struct stat st = { .st_ino = d->entry->d_ino,
					   .st_mode = (mode_t)d->entry->d_type << 12 };
			entsize = fuse_add_direntry(req, p, rem, name, &st, next);
		}
		if (entsize > rem) {
			if (ref)
				inode_unref(fs, ref, 1);
			break;
		}
		if (ref) {
			xgrow(&refs, &caprefs, nrefs + 1, sizeof(*refs));
			refs[nrefs++] = ref;
		}
		p += entsize;
		rem -= entsize;
		d->entry = NULL;
		d->offset = next;
	}
	int res;
	if (err && rem == size)
		res = fuse_reply_err(req, err);
	else
		res = fuse_reply_buf(req, buf, size - rem);
	if (res != 0) /* the kernel did not take the entries */
		for (size_t i = 0; i < nrefs; i++)
			inode_unref(fs, refs[i], 1);
	free(refs);
	free(buf);
}

static void fs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, false);
}

static void fs_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	do_readdir(req, ino, size, off, fi, true);
}

static void fs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_dir *d = get_dir(fi);
	(void)ino;
	open_del(req_fs(req), &d->link);
	closedir(d->dp);
	free(d);
	fuse_reply_err(req, 0);
}

static void fs_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	int fd = dirfd(get_dir(fi)->dp);
	int res = datasync ? fdatasync(fd) : fsync(fd);
	fuse_reply_err(req, res < 0 ? errno : 0);
}

static void fs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	if (fstatvfs(get_inode(req_fs(req), ino)->fd, &sv) < 0)
		return (void)fuse_reply_err(req, errno);
	fuse_reply_statfs(req, &sv);
}

static void fs_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	char proc[64];
	proc_path(proc, sizeof(proc), get_inode(req_fs(req), ino)->fd);
	fuse_reply_err(req, faccessat(AT_FDCWD, proc, mask, 0) < 0 ? errno : 0);
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = fs_init,
	.lookup = fs_lookup,
	.forget = fs_forget,
	.forget_multi = fs_forget_multi,
	.getattr = fs_getattr,
	.setattr = fs_setattr,
	.readlink = fs_readlink,
	.mknod = fs_mknod,
	.mkdir = fs_mkdir,
	.unlink = fs_unlink,
	.rmdir = fs_rmdir,
	.symlink = fs_symlink,
	.rename = fs_rename,
	.link = fs_link,
	.open = fs_open,
	.read = fs_read,
	.write_buf = fs_write_buf,
	.flush = fs_flush,
	.release = fs_release,
	.fsync = fs_fsync,
	.opendir = fs_opendir,
	.readdir = fs_readdir,
	.readdirplus = fs_readdirplus,
	.releasedir = fs_releasedir,
	.fsyncdir = fs_fsyncdir,
	.statfs = fs_statfs,
	.access = fs_access,
	.create = fs_create,
	/* xattr, locks (kernel-local), ioctl, poll, fallocate, copy_file_range,
	 * lseek: ENOSYS, which the kernel turns into "not supported". */
};

/* ---- libfuse's own messages go through our log ----------------------- */

static void fs_fuse_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	if (level <= FUSE_LOG_ERR)
		log_error("libfuse: %s", msg);
	else if (level == FUSE_LOG_WARNING)
		log_warn("libfuse: %s", msg);
	else
		log_debug(LOG_DBG_FUSE, "libfuse: %s", msg);
	free(msg);
}

/* ---- life cycle ------------------------------------------------------- */

void maildir_fs_options_default(struct maildir_fs_options *opt)
{
	*opt = (struct maildir_fs_options){
		.entry_timeout = 86400,
		.attr_timeout = 86400,
		.dir_attr_timeout = 1,
		.keep_cache = true,
		.readdirplus = true,
		.max_threads = 8,
		.nonempty = false,
		.signals = true,
		.debug = false,
		.subtype = "offlinefs",
	};
}

struct maildir_fs *maildir_fs_new(const char *backing_root, const struct fs_observer *obs,
				  const struct maildir_fs_options *opt, char **error_r)
{
	int fd = open(backing_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*error_r = xasprintf("backing root %s: %s", backing_root, strerror(errno));
		return NULL;
	}
	char buf[PATH_MAX + 1];
	struct stat st;
	if (fd_path(fd, buf, sizeof(buf)) < 0 || buf[0] != '/' ||
	    fstatat(fd, "", &st, AT_EMPTY_PATH) < 0) {
		*error_r = xasprintf("backing root %s: cannot resolve its path (is /proc mounted?)",
				     backing_root);
		close(fd);
		return NULL;
	}

	struct maildir_fs *fs = xcalloc(1, sizeof(*fs));
	fs->root_path = xstrdup(buf);
	fs->root.fd = fd;
	fs->root.dev = st.st_dev;
	fs->root.ino = st.st_ino;
	fs->root.type = S_IFDIR;
	fs->root.nlookup = 1;
	if (obs)
		fs->obs = *obs;
	if (opt)
		fs->opt = *opt;
	else
		maildir_fs_options_default(&fs->opt);
	if (!fs->opt.max_threads)
		fs->opt.max_threads = 1;
	fs->subtype = xstrdup(fs->opt.subtype && *fs->opt.subtype ? fs->opt.subtype : "offlinefs");
	fs->opt.subtype = NULL;
	fs->ops = fs_ops;
	if (!fs->opt.readdirplus)
		fs->ops.readdirplus = NULL;
	pthread_mutex_init(&fs->ino_lock, NULL);
	pthread_mutex_init(&fs->ns_lock, NULL);
	pthread_mutex_init(&fs->open_lock, NULL);
	fs->files.prev = fs->files.next = &fs->files;
	fs->dirs.prev = fs->dirs.next = &fs->dirs;
	pthread_rwlock_init(&fs->se_lock, NULL);
	atomic_init(&fs->unmount_requested, false);
	fuse_set_log_func(fs_fuse_log);
	return fs;
}

/* Whether path is dir or below it (both absolute and canonical). */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (n == 1)
		return true;
	return !strncmp(path, dir, n) && (path[n] == '\0' || path[n] == '/');
}

/* Undoes /proc/self/mountinfo's octal escapes in place. */
static void unescape_mountinfo(char *s)
{
	char *w = s;
	for (char *r = s; *r; r++) {
		if (r[0] == '\\' && r[1] >= '0' && r[1] <= '3' && r[2] >= '0' && r[2] <= '7' &&
		    r[3] >= '0' && r[3] <= '7') {
			*w++ = (char)((r[1] - '0') * 64 + (r[2] - '0') * 8 + (r[3] - '0'));
			r += 3;
		} else {
			*w++ = *r;
		}
	}
	*w = '\0';
}

/* The fstype and source of the last mount at abs (for the stale-mount
 * message); false if none is listed. */
static bool mount_type_at(const char *abs, char **type_r, char **source_r)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	while (getline(&line, &cap, f) > 0) {
		/* id parent maj:min root mountpoint options... - fstype source super */
		char *save = NULL, *field = strtok_r(line, " \n", &save);
		char *mp = NULL;
		for (int i = 1; field && i < 5; i++)
			field = strtok_r(NULL, " \n", &save);
		mp = field;
		while (field && strcmp(field, "-"))
			field = strtok_r(NULL, " \n", &save);
		char *type = field ? strtok_r(NULL, " \n", &save) : NULL;
		char *source = type ? strtok_r(NULL, " \n", &save) : NULL;
		if (!mp || !type || !source)
			continue;
		unescape_mountinfo(mp);
		if (strcmp(mp, abs))
			continue;
		if (found) {
			free(*type_r);
			free(*source_r);
		}
		unescape_mountinfo(source);
		*type_r = xstrdup(type);
		*source_r = xstrdup(source);
		found = true;
	}
	free(line);
	fclose(f);
	return found;
}

static char *stale_message(const char *mountpoint)
{
	/* realpath() of the mountpoint itself fails (ENOTCONN); resolve its
	 * parent and append the last component. */
	char *copy = xstrdup(mountpoint);
	size_t n = strlen(copy);
	while (n > 1 && copy[n - 1] == '/')
		copy[--n] = '\0';
	char *slash = strrchr(copy, '/');
	const char *base = slash ? slash + 1 : copy;
	char *parent = slash ? (slash == copy ? xstrdup("/") : xstrndup(copy, (size_t)(slash - copy)))
			     : xstrdup(".");
	char *rparent = realpath(parent, NULL);
	char *type = NULL, *source = NULL;
	if (rparent) {
		char *abs = strcmp(rparent, "/") ? xasprintf("%s/%s", rparent, base)
						 : xasprintf("/%s", base);
		mount_type_at(abs, &type, &source);
		free(abs);
	}
	char *msg;
	if (type && source && strcmp(source, "offlinefs"))
		msg = xasprintf("stale FUSE mount (%s) at %s: run fusermount3 -u %s", type,
				mountpoint, mountpoint);
	else
		msg = xasprintf("stale offlinefs mount at %s: run fusermount3 -u %s", mountpoint,
				mountpoint);
	free(type);
	free(source);
	free(rparent);
	free(parent);
	free(copy);
	return msg;
}

/* 1 if empty, 0 if not, -1 with errno. */
static int dir_is_empty(const char *path)
{
	DIR *dp = opendir(path);
	if (!dp)
		return -1;
	int empty = 1;
	struct dirent *de;
	while ((de = readdir(dp)))
		if (!is_dot_or_dotdot(de->d_name)) {
			empty = 0;
			break;
		}
	closedir(dp);
	return empty;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_debug(LOG_DBG_FUSE, "open file limit raised to %llu",
			  (unsigned long long)rl.rlim_cur);
}

int maildir_fs_mount(struct maildir_fs *fs, const char *mountpoint, bool foreground,
		     char **error_r)
{
	struct stat st;
	char *abs = NULL;
	struct fuse_session *se = NULL;

	if (fs->se) {
		*error_r = xasprintf("already mounted at %s", fs->mountpoint);
		return -1;
	}
	/* A dead FUSE daemon leaves ENOTCONN behind. stat() alone can miss it
	 * while the kernel still has the root's attributes cached; opening the
	 * directory always asks the (dead) daemon. */
	int probe = -1;
	if (stat(mountpoint, &st) < 0 ||
	    (S_ISDIR(st.st_mode) &&
	     (probe = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)) {
		if (errno == ENOTCONN)
			*error_r = stale_message(mountpoint);
		else
			*error_r = xasprintf("mountpoint %s: %s", mountpoint, strerror(errno));
		return -1;
	}
	if (probe >= 0)
		close(probe);
	if (!S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("mountpoint %s: not a directory", mountpoint);
		return -1;
	}
	abs = realpath(mountpoint, NULL);
	if (!abs) {
		*error_r = xasprintf("mountpoint %s: %s", mountpoint, strerror(errno));
		return -1;
	}
	if (path_within(abs, fs->root_path)) {
		*error_r = xasprintf("mountpoint %s is inside the backing root %s", mountpoint,
				     fs->root_path);
		goto err;
	}
	if (path_within(fs->root_path, abs)) {
		*error_r = xasprintf("backing root %s is inside the mountpoint %s", fs->root_path,
				     mountpoint);
		goto err;
	}
	if (!fs->opt.nonempty) {
		int empty = dir_is_empty(abs);
		if (empty < 0) {
			*error_r = xasprintf("mountpoint %s: %s", mountpoint, strerror(errno));
			goto err;
		}
		if (!empty) {
			*error_r = xasprintf("mountpoint %s is not empty (mounting would hide its "
					     "files; ask for nonempty to do it anyway)", mountpoint);
			goto err;
		}
	}
	raise_nofile();

	/* Private (no allow_other), permission checks by the kernel from the
	 * attributes we return. libfuse adds nosuid,nodev. */
	char *o = xasprintf("default_permissions,fsname=offlinefs,subtype=%s", fs->subtype);
	char *argv[] = { "offlinefs", "-o", o, fs->opt.debug ? "-d" : NULL, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(fs->opt.debug ? 4 : 3, argv);
	se = fuse_session_new(&args, &fs->ops, sizeof(fs->ops), fs);
	fuse_opt_free_args(&args);
	free(o);
	if (!se) {
		*error_r = xstrdup("cannot create the FUSE session (see the libfuse message above)");
		goto err;
	}
	if (fs->opt.signals) {
		if (fuse_set_signal_handlers(se) != 0) {
			*error_r = xstrdup("cannot install signal handlers");
			goto err;
		}
		fs->signals_set = true;
	}
	if (fuse_session_mount(se, abs) != 0) {
		*error_r = xasprintf("cannot mount at %s (see the libfuse message above; is "
				     "/dev/fuse usable and fusermount3 installed?)", mountpoint);
		goto err;
	}
	pthread_rwlock_wrlock(&fs->se_lock);
	fs->se = se;
	fs->mountpoint = abs;
	atomic_store(&fs->unmount_requested, false);
	pthread_rwlock_unlock(&fs->se_lock);
	log_debug(LOG_DBG_FUSE, "mounted %s at %s", fs->root_path, abs);
	if (!foreground && fuse_daemonize(0) != 0)
		log_warn("mount: could not go to the background; staying in the foreground");
	return 0;
err:
	if (se) {
		if (fs->signals_set)
			fuse_remove_signal_handlers(se);
		fs->signals_set = false;
		fuse_session_destroy(se);
	}
	free(abs);
	return -1;
}

/* se_lock held exclusively. */
static void session_end(struct maildir_fs *fs)
{
	if (!fs->se)
		return;
	if (fs->signals_set)
		fuse_remove_signal_handlers(fs->se);
	fs->signals_set = false;
	fuse_session_unmount(fs->se);
	fuse_session_destroy(fs->se);
	fs->se = NULL;
	log_debug(LOG_DBG_FUSE, "unmounted %s", fs->mountpoint);
	free(fs->mountpoint);
	fs->mountpoint = NULL;
}

int maildir_fs_run(struct maildir_fs *fs)
{
	if (!fs->se) {
		log_error("mount: maildir_fs_run without a mount");
		return -1;
	}
	struct fuse_loop_config *cfg = fuse_loop_cfg_create();
	fuse_loop_cfg_set_max_threads(cfg, fs->opt.max_threads);
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	int r = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	pthread_rwlock_wrlock(&fs->se_lock);
	session_end(fs);
	pthread_rwlock_unlock(&fs->se_lock);
	if (r < 0) {
		log_error("mount: the FUSE session failed: %s", strerror(-r));
		return -1;
	}
	if (r > 0)
		log_debug(LOG_DBG_FUSE, "signal %d: unmounted", r);
	return 0;
}

void maildir_fs_unmount(struct maildir_fs *fs)
{
	char *mp = NULL;
	pthread_rwlock_rdlock(&fs->se_lock);
	if (fs->se && !atomic_exchange(&fs->unmount_requested, true))
		mp = xstrdup(fs->mountpoint);
	pthread_rwlock_unlock(&fs->se_lock);
	if (!mp)
		return;
	log_debug(LOG_DBG_FUSE, "unmount requested: %s", mp);
	if (umount2(mp, MNT_DETACH) == 0) {
		free(mp);
		return;
	}
	if (errno != EPERM) {
		log_warn("mount: umount %s: %s", mp, strerror(errno));
		free(mp);
		return;
	}
	char *argv[] = { "fusermount3", "-u", "-z", "-q", mp, NULL };
	pid_t pid;
	int rc = posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ);
	if (rc != 0) {
		log_warn("mount: cannot run fusermount3 -u -z %s: %s", mp, strerror(rc));
	} else {
		int status;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			log_warn("mount: fusermount3 -u -z %s failed", mp);
	}
	free(mp);
}

void maildir_fs_free(struct maildir_fs **fsp)
{
	struct maildir_fs *fs = *fsp;
	if (!fs)
		return;
	*fsp = NULL;
	pthread_rwlock_wrlock(&fs->se_lock);
	session_end(fs);
	pthread_rwlock_unlock(&fs->se_lock);
	for (size_t i = 0; i < fs->nbuckets; i++) {
		struct fs_inode *in = fs->buckets[i], *next;
		for (; in; in = next) {
			next = in->hnext;
			close(in->fd);
			free(in);
		}
	}
	free(fs->buckets);
	/* Handles the kernel never released: the session is gone, so they are
	 * ours to close; a message created in new/ but never released gets no
	 * message_added (the next full sync finds it). */
	while (fs->files.next != &fs->files) {
		struct fs_handle *h = (struct fs_handle *)fs->files.next;
		fs->files.next = h->link.next;
		close(h->fd);
		free(h);
	}
	while (fs->dirs.next != &fs->dirs) {
		struct fs_dir *d = (struct fs_dir *)fs->dirs.next;
		fs->dirs.next = d->link.next;
		closedir(d->dp);
		free(d);
	}
	while (fs->pending) {
		struct pending_msg *m = fs->pending;
		fs->pending = m->next;
		pending_free(m);
	}
	close(fs->root.fd);
	pthread_mutex_destroy(&fs->ino_lock);
	pthread_mutex_destroy(&fs->ns_lock);
	pthread_mutex_destroy(&fs->open_lock);
	pthread_rwlock_destroy(&fs->se_lock);
	free(fs->subtype);
	free(fs->root_path);
	free(fs);
}

/* ---- notifications from the worker ------------------------------------ */

/* A relative path from the worker: no absolute path, no "." or ".."
 * component, nothing empty but the whole ("" is the root). */
static bool bad_relpath(const char *p)
{
	if (!*p)
		return false;
	if (*p == '/')
		return true;
	for (const char *s = p;;) {
		const char *e = strchrnul(s, '/');
		size_t n = (size_t)(e - s);
		if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return true;
		if (!*e)
			return false;
		s = e + 1;
	}
}

/* The node id the kernel knows dirrel by, or 0 if it knows none. */
static fuse_ino_t known_dir(struct maildir_fs *fs, const char *dirrel)
{
	struct stat st;
	if (fstatat(fs->root.fd, *dirrel ? dirrel : ".", &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    !S_ISDIR(st.st_mode))
		return 0;
	if (st.st_dev == fs->root.dev && st.st_ino == fs->root.ino)
		return FUSE_ROOT_ID;
	pthread_mutex_lock(&fs->ino_lock);
	struct fs_inode *in = table_find(fs, st.st_dev, st.st_ino);
	pthread_mutex_unlock(&fs->ino_lock);
	/* A node id forgotten meanwhile is harmless: the kernel answers
	 * ENOENT, and invalidating is always safe. */
	return (uintptr_t)in;
}

/* se_lock held shared, fs->se set. Drops name from the directory's cached
 * entries (if name) and the directory's cached attributes. */
static int inval_in_dir(struct maildir_fs *fs, const char *dirrel, const char *name)
{
	fuse_ino_t dir = known_dir(fs, dirrel);
	if (!dir)
		return 0;
	int r = 0;
	if (name) {
		r = fuse_lowlevel_notify_inval_entry(fs->se, dir, name, strlen(name));
		if (r == -ENOENT)
			r = 0;
	}
	int r2 = fuse_lowlevel_notify_inval_inode(fs->se, dir, 0, 0);
	if (r2 == -ENOENT)
		r2 = 0;
	if (r || r2)
		log_debug(LOG_DBG_FUSE, "notify [%s] %s: %s", dirrel, name ? name : "",
			  strerror(-(r ? r : r2)));
	return r ? r : r2;
}

static int notify_files(struct maildir_fs *fs, const char *folder, const char *sub1,
			const char *name1, const char *sub2, const char *name2)
{
	if (bad_relpath(folder) || sub_of(sub1) == SUB_NONE || bad_name(name1) ||
	    (sub2 && (sub_of(sub2) == SUB_NONE || bad_name(name2))))
		return -EINVAL;
	int r = 0;
	pthread_rwlock_rdlock(&fs->se_lock);
	if (fs->se) {
		char *d1 = join(folder, sub1);
		r = inval_in_dir(fs, d1, name1);
		if (sub2) {
			char *d2 = join(folder, sub2);
			int r2 = inval_in_dir(fs, d2, name2);
			if (!r)
				r = r2;
			free(d2);
		}
		free(d1);
	}
	pthread_rwlock_unlock(&fs->se_lock);
	return r;
}

int maildir_fs_notify_renamed(struct maildir_fs *fs, const char *folder, const char *old_subdir,
			      const char *old_name, const char *new_subdir, const char *new_name)
{
	log_debug(LOG_DBG_FUSE, "notify: renamed [%s] %s/%s -> %s/%s", folder, old_subdir,
		  old_name, new_subdir, new_name);
	return notify_files(fs, folder, old_subdir, old_name, new_subdir, new_name);
}

int maildir_fs_notify_added(struct maildir_fs *fs, const char *folder, const char *subdir,
			    const char *name)
{
	log_debug(LOG_DBG_FUSE, "notify: added [%s] %s/%s", folder, subdir, name);
	return notify_files(fs, folder, subdir, name, NULL, NULL);
}

int maildir_fs_notify_removed(struct maildir_fs *fs, const char *folder, const char *subdir,
			      const char *name)
{
	log_debug(LOG_DBG_FUSE, "notify: removed [%s] %s/%s", folder, subdir, name);
	return notify_files(fs, folder, subdir, name, NULL, NULL);
}

int maildir_fs_notify_folder(struct maildir_fs *fs, const char *folder)
{
	log_debug(LOG_DBG_FUSE, "notify: folder [%s]", folder);
	if (!*folder || bad_relpath(folder))
		return -EINVAL;
	const char *slash = strrchr(folder, '/');
	char *parent = slash ? xstrndup(folder, (size_t)(slash - folder)) : xstrdup("");
	int r = 0;
	pthread_rwlock_rdlock(&fs->se_lock);
	if (fs->se)
		r = inval_in_dir(fs, parent, slash ? slash + 1 : folder);
	pthread_rwlock_unlock(&fs->se_lock);
	free(parent);
	return r;
}
