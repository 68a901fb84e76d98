/* ui_syslog.c — syslog output: the `syslog` UI (-u syslog) and the extra
 * syslog copy of every line (-s), as in OfflineIMAP.
 *
 * Lines go as RFC 3164 datagrams, facility user, to the local syslog
 * socket (/dev/log; $OFFLINEFS_SYSLOG_SOCKET names another one, which the
 * tests use): "<PRI>Mmm dd HH:MM:SS offlinefs[PID]: message". Written here
 * rather than with syslog(3) so that the path can be chosen. When there is
 * no syslog socket the lines are dropped, and that is said once on stderr.
 * The syslog UI prints warnings and errors on stderr as well (OfflineIMAP
 * prints nothing at all on the console, so a cron job never saw a failure).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/ui_internal.h"

static pthread_mutex_t sl_lock = PTHREAD_MUTEX_INITIALIZER;
static int sl_fd = -1;
static bool sl_failed;

static int sl_open_locked(void)
{
	if (sl_fd >= 0 || sl_failed)
		return sl_fd;
	const char *path = getenv("OFFLINEFS_SYSLOG_SOCKET");
	if (!path || !*path)
		path = "/dev/log";
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && strlen(path) < sizeof(sa.sun_path)) {
		memcpy(sa.sun_path, path, strlen(path) + 1);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			sl_fd = fd;
			return fd;
		}
	}
	int e = errno;
	if (fd >= 0)
		close(fd);
	sl_failed = true;
	fprintf(stderr, "offlinefs: syslog: %s: %s; nothing is sent to syslog\n", path, strerror(e));
	return -1;
}

void syslog_send(enum ui_level level, const char *msg)
{
	int pri = 8 /* LOG_USER */ + (level == UI_ERROR ? 3 : level == UI_WARN ? 4 :
				     level == UI_INFO ? 6 : 7);
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
	char *line = xasprintf("<%d>%s offlinefs[%ld]: %s", pri, stamp, (long)getpid(), msg);
	pthread_mutex_lock(&sl_lock);
	int fd = sl_open_locked();
	if (fd >= 0)
		(void)send(fd, line, strlen(line), MSG_NOSIGNAL);
	pthread_mutex_unlock(&sl_lock);
	free(line);
}

static int syslog_start(const char **error_r)
{
	(void)error_r;
	pthread_mutex_lock(&sl_lock);
	sl_open_locked();
	pthread_mutex_unlock(&sl_lock);
	return 0;
}

static void syslog_log(enum ui_level level, const char *thread, const char *msg)
{
	(void)thread;
	/* the line went to syslog with log.c's sinks */
	if (level >= UI_WARN) {
		fprintf(stderr, "%s%s\n", ui_level_prefix(level), msg);
		fflush(stderr);
	}
}

/* Events: their text goes to syslog through log.c's sinks already (the
 * syslog UI counts as the -s copy, so lines are not sent twice). */
static void syslog_event(const struct ui_event *ev, const char *thread, const char *text)
{
	(void)ev;
	(void)thread;
	(void)text;
}

const struct ui_ops ui_syslog = {
	.name = "syslog",
	.start = syslog_start,
	.log = syslog_log,
	.event = syslog_event,
};
