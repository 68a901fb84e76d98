/* log.h — every line offlinefs prints about its work goes through here.
 *
 * Owns: the console UI level (-u quiet|basic|ttyui), the optional log file
 * (-l FILE, "%Y-%m-%d %H:%M:%S LEVEL: msg" like OfflineIMAP), debug
 * categories (-d imap,maildir,sync) and the error/warning counters the exit
 * status is computed from.
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
	LOG_DBG_ALL = 0xffu,
};

void log_set_ui(enum log_ui ui);
/* Parses "quiet", "basic", "ttyui", "tty" (case-insensitive; a dotted old
 * name such as "Curses.Blinkenlights" is reduced to its last component and
 * falls back to ttyui). Returns 0, or -1 for an unknown name. */
int log_parse_ui(const char *name, enum log_ui *ui_r);
/* Appends to path as well. Returns 0 or -1 with *error_r (static text). */
int log_open_file(const char *path, const char **error_r);
/* Parses "imap,maildir,sync,fuse,all". Returns 0 or -1 with *bad_r the first
 * unknown word (pointer into a static buffer). */
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
