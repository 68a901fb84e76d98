#include "cache/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

/* POSIX record locks belong to the process: a second lockf() from this
 * process would succeed, and closing any fd of the file drops the lock. So
 * the lock files this process holds are remembered here by (dev, ino) and a
 * second account_lock() of the same file fails without opening it.
 * Entries carry the pid: a forked child inherits the table, not the locks. */
struct held {
	dev_t dev;
	ino_t ino;
	int fd;
	pid_t pid; /* a forked child inherits this table but not the locks */
};
static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static struct held *held_v;
static size_t held_n, held_cap;

/* Called with held_lock held. */
static bool held_by_us(const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return false;
	pid_t self = getpid();
	for (size_t i = 0; i < held_n; i++)
		if (held_v[i].pid == self && held_v[i].dev == st.st_dev &&
		    held_v[i].ino == st.st_ino)
			return true;
	return false;
}

static int mkdir_parents(const char *dir)
{
	char *p = xstrdup(dir);
	int ret = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) < 0 && errno != EEXIST) {
			ret = -1;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return ret;
}

/* One attempt. Returns 1 with *fd_r locked, 0 if someone else holds the
 * lock, -1 with errno and *what_r on error. The registry mutex is held
 * throughout so two threads of this process cannot both "win". */
static int try_lock(const char *path, const char *metadata_dir, int *fd_r, const char **what_r)
{
	int ret = 0;
	pthread_mutex_lock(&held_lock);
	if (held_by_us(path))
		goto out;
	*what_r = "open";
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ENOENT && mkdir_parents(metadata_dir) == 0)
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		ret = -1;
		goto out;
	}
	/* lockf locks from the current offset (0) to EOF and beyond: the
	 * whole file, as Python's fcntl.lockf does. */
	*what_r = "lockf";
	struct stat st;
	if (lockf(fd, F_TLOCK, 0) == 0 && fstat(fd, &st) == 0) {
		xgrow(&held_v, &held_cap, held_n + 1, sizeof(*held_v));
		held_v[held_n++] = (struct held){ st.st_dev, st.st_ino, fd, getpid() };
		*fd_r = fd;
		ret = 1;
		goto out;
	}
	int err = errno;
	close(fd);
	errno = err;
	ret = err == EACCES || err == EAGAIN ? 0 : -1;
out:
	pthread_mutex_unlock(&held_lock);
	return ret;
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int account_lock(const char *metadata_dir, const char *account, int wait_seconds, char **error_r)
{
	char *path = xasprintf("%s/%s.lock", metadata_dir, account);
	double deadline = now_seconds() + (wait_seconds > 0 ? wait_seconds : 0);
	int fd = -1;
	for (;;) {
		const char *what = "";
		int got = try_lock(path, metadata_dir, &fd, &what);
		if (got > 0) {
			log_debug(LOG_DBG_SYNC, "locked %s", path);
			break;
		}
		if (got < 0) {
			*error_r = xasprintf("Could not lock account '%s' (%s): %s: %s", account, path,
					     what, strerror(errno));
			break;
		}
		if (now_seconds() >= deadline) {
			*error_r = xasprintf("Could not lock account '%s' (%s): another offlinefs or "
					     "offlineimap is using this account",
					     account, path);
			break;
		}
		nanosleep(&(struct timespec){ 0, 100 * 1000 * 1000 }, NULL);
	}
	free(path);
	return fd;
}

void account_unlock(int *fd)
{
	if (*fd < 0)
		return;
	pthread_mutex_lock(&held_lock);
	for (size_t i = 0; i < held_n; i++) {
		if (held_v[i].fd == *fd) {
			held_v[i] = held_v[--held_n];
			break;
		}
	}
	/* Closing drops the lock; the file stays (unlinking it would race
	 * with a process that has it open and is about to lock it). */
	close(*fd);
	pthread_mutex_unlock(&held_lock);
	*fd = -1;
}
