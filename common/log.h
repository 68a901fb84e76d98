/* log.h — every line offlinefs prints about its work goes through here.
 *
 * Owns: the optional log file (-l FILE, "%Y-%m-%d %H:%M:%S LEVEL: msg" like
 * OfflineIMAP), the syslog copy (-s), debug categories (-d
 * imap,maildir,thread,sync,fuse) and the error/warning counters the exit
 * status is computed from. What the console shows is the UI's business
 * (common/ui.h: quiet, basic, ttyui, syslog, machineui, blinkenlights):
 * every line is handed to it.
 *
 * Callers never pass secrets to these functions: the IMAP trace redacts
 * LOGIN/AUTHENTICATE arguments before logging (imap/imap_trace.c).
 * Thread-safe: one mutex serialises output.
 */
#ifndef OFFLINEFS_LOG_H
#define OFFLINEFS_LOG_H

#include <stdbool.h>
#include <stdio.h>

#include "common/xalloc.h"

#include "common/ui.h"

/* The three UIs tests and the mount pick without a name (ui.h has all). */
enum log_ui {
	LOG_UI_TTY,   /* default: info and above on stderr */
	LOG_UI_BASIC, /* info and above on stdout */
	LOG_UI_QUIET, /* warnings and errors only, on stderr */
};

enum log_debug_cat {
	LOG_DBG_IMAP = 1u << 0,
	LOG_DBG_MAILDIR = 1u << 1,
	LOG_DBG_SYNC = 1u << 2,
	LOG_DBG_FUSE = 1u << 3,
	LOG_DBG_THREAD = 1u << 4, /* threads, processes and signals */
	LOG_DBG_ALL = 0xffu,
};

void log_set_ui(enum log_ui ui);
/* Switches to the UI called name (ui_find). Returns 0, or -1 after printing
 * why on stderr ("offlinefs: unknown UI ..."). */
int log_use_ui(const char *name);
/* Sends every line to syslog as well (-s; ui_syslog.c). */
void log_enable_syslog(void);
/* The log file and syslog copies of one line (not the console); for the
 * UI events of common/ui.c. */
void log_sinks_write(enum ui_level level, const char *msg);
/* Appends to path as well. Returns 0 or -1 with *error_r (static text). */
int log_open_file(const char *path, const char **error_r);
/* Parses "imap,maildir,thread,sync,fuse,all" (case-insensitive, as
 * OfflineIMAP's ALL). Returns 0 or -1 with *bad_r the first unknown word
 * (pointer into a static buffer). */
int log_parse_debug(const char *list, unsigned *cats_r, const char **bad_r);
void log_enable_debug(unsigned cats);
bool log_debug_enabled(unsigned cat);

void log_error(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_warn(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_info(const char *fmt, ...) PRINTF_LIKE(1, 2);
void log_debug(unsigned cat, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* How many log_error / log_warn calls happened so far. */
unsigned log_error_count(void);
unsigned log_warning_count(void);

void log_close(void);

#endif
