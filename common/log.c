#include "common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_ui log_ui_mode = LOG_UI_TTY;
static FILE *log_file;
static unsigned debug_cats;
static unsigned error_count, warning_count;

void log_set_ui(enum log_ui ui)
{
	log_ui_mode = ui;
}

int log_parse_ui(const char *name, enum log_ui *ui_r)
{
	const char *dot = strrchr(name, '.');
	if (dot)
		name = dot + 1;
	if (!strcasecmp(name, "quiet"))
		*ui_r = LOG_UI_QUIET;
	else if (!strcasecmp(name, "basic") || !strcasecmp(name, "syslog") ||
		 !strcasecmp(name, "machineui"))
		*ui_r = LOG_UI_BASIC;
	else if (!strcasecmp(name, "ttyui") || !strcasecmp(name, "tty") ||
		 !strcasecmp(name, "blinkenlights"))
		*ui_r = LOG_UI_TTY;
	else
		return -1;
	return 0;
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
		else if (!strcasecmp(w, "sync") || !strcasecmp(w, "thread"))
			cats |= LOG_DBG_SYNC;
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

static void log_emit(const char *level, bool to_console, FILE *console, const char *prefix,
		     const char *fmt, va_list ap)
{
	char *msg = xvasprintf(fmt, ap);
	pthread_mutex_lock(&log_lock);
	if (to_console) {
		fprintf(console, "%s%s\n", prefix, msg);
		fflush(console);
	}
	if (log_file) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;
		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		fprintf(log_file, "%s %s: %s\n", stamp, level, msg);
	}
	pthread_mutex_unlock(&log_lock);
	free(msg);
}

void log_error(const char *fmt, ...)
{
	va_list ap;
	__atomic_add_fetch(&error_count, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	log_emit("ERROR", true, stderr, "ERROR: ", fmt, ap);
	va_end(ap);
}

void log_warn(const char *fmt, ...)
{
	va_list ap;
	__atomic_add_fetch(&warning_count, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	log_emit("WARNING", true, stderr, "WARNING: ", fmt, ap);
	va_end(ap);
}

void log_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_emit("INFO", log_ui_mode != LOG_UI_QUIET,
		 log_ui_mode == LOG_UI_BASIC ? stdout : stderr, "", fmt, ap);
	va_end(ap);
}

void log_debug(unsigned cat, const char *fmt, ...)
{
	if (!(debug_cats & cat))
		return;
	const char *name = cat == LOG_DBG_IMAP ? "[imap]: " :
			   cat == LOG_DBG_MAILDIR ? "[maildir]: " :
			   cat == LOG_DBG_FUSE ? "[fuse]: " : "[sync]: ";
	va_list ap;
	va_start(ap, fmt);
	log_emit("DEBUG", true, stderr, name, fmt, ap);
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
