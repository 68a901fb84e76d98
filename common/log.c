/* log.c — see log.h. */
#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_file;
static bool syslog_copy;
static unsigned debug_cats;
static unsigned error_count, warning_count;

/* syslog's datagrams (ui_syslog.c) */
void syslog_send(enum ui_level level, const char *msg);

void log_set_ui(enum log_ui ui)
{
	ui_use(ui == LOG_UI_QUIET ? &ui_quiet : ui == LOG_UI_BASIC ? &ui_basic : &ui_tty);
}

int log_use_ui(const char *name)
{
	const struct ui_ops *ui = ui_find(name);
	if (!ui) {
		fprintf(stderr, "offlinefs: unknown UI '%s' (quiet, basic, ttyui, syslog, "
			"machineui, blinkenlights)\n", name);
		return -1;
	}
	ui_use(ui);
	return 0;
}

void log_enable_syslog(void)
{
	syslog_copy = true;
}

int log_open_file(const char *path, const char **error_r)
{
	FILE *f = fopen(path, "a");
	if (!f) {
		*error_r = strerror(errno);
		return -1;
	}
	setvbuf(f, NULL, _IOLBF, 0);
	pthread_mutex_lock(&log_lock);
	if (log_file)
		fclose(log_file);
	log_file = f;
	pthread_mutex_unlock(&log_lock);
	return 0;
}

int log_parse_debug(const char *list, unsigned *cats_r, const char **bad_r)
{
	static char bad[64];
	unsigned cats = 0;
	char *copy = xstrdup(list), *save = NULL;
	for (char *w = strtok_r(copy, ", ", &save); w; w = strtok_r(NULL, ", ", &save)) {
		if (!strcasecmp(w, "imap"))
			cats |= LOG_DBG_IMAP;
		else if (!strcasecmp(w, "maildir"))
			cats |= LOG_DBG_MAILDIR;
		else if (!strcasecmp(w, "sync"))
			cats |= LOG_DBG_SYNC;
		else if (!strcasecmp(w, "thread"))
			cats |= LOG_DBG_THREAD;
		else if (!strcasecmp(w, "fuse"))
			cats |= LOG_DBG_FUSE;
		else if (!strcasecmp(w, "all"))
			cats |= LOG_DBG_ALL;
		else {
			snprintf(bad, sizeof(bad), "%s", w);
			*bad_r = bad;
			free(copy);
			return -1;
		}
	}
	free(copy);
	*cats_r = cats;
	return 0;
}

void log_enable_debug(unsigned cats)
{
	debug_cats |= cats;
}

bool log_debug_enabled(unsigned cat)
{
	return (debug_cats & cat) != 0;
}

static const char *level_name(enum ui_level level)
{
	return level == UI_ERROR ? "ERROR" : level == UI_WARN ? "WARNING" :
	       level == UI_INFO ? "INFO" : "DEBUG";
}

void log_sinks_write(enum ui_level level, const char *msg)
{
	pthread_mutex_lock(&log_lock);
	if (log_file) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(log_file, "%s %s: %s\n", stamp, level_name(level), msg);
	}
	pthread_mutex_unlock(&log_lock);
	if (syslog_copy || ui_current() == &ui_syslog)
		syslog_send(level, msg);
}

static void log_emit(enum ui_level level, const char *prefix, const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	if (prefix) {
		char *with = xasprintf("%s%s", prefix, msg);
		free(msg);
		msg = with;
	}
	log_sinks_write(level, msg);
	ui_log_line(level, msg);
	free(msg);
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	__atomic_add_fetch(&error_count, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	log_emit(UI_ERROR, NULL, fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	__atomic_add_fetch(&warning_count, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	log_emit(UI_WARN, NULL, fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit(UI_INFO, NULL, fmt, ap);
	va_end(ap);
}

void log_debug(unsigned cat, const char *fmt, ...)
{
	if (!(debug_cats & cat))
		return;
	const char *name = cat == LOG_DBG_IMAP ? "[imap]: " :
			   cat == LOG_DBG_MAILDIR ? "[maildir]: " :
			   cat == LOG_DBG_FUSE ? "[fuse]: " :
			   cat == LOG_DBG_THREAD ? "[thread]: " : "[sync]: ";
	va_list ap;
	va_start(ap, fmt);
	log_emit(UI_DEBUG, name, fmt, ap);
	va_end(ap);
}

unsigned log_error_count(void)
{
	return __atomic_load_n(&error_count, __ATOMIC_RELAXED);
}

unsigned log_warning_count(void)
{
	return __atomic_load_n(&warning_count, __ATOMIC_RELAXED);
}

void log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_file)
		fclose(log_file);
	log_file = NULL;
	pthread_mutex_unlock(&log_lock);
}
