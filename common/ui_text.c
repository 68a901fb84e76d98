/* ui_text.c — the line-oriented UIs: quiet, basic, ttyui (ui.h).
 *
 * basic: info on stdout, warnings and errors on stderr, no thread names
 * (OfflineIMAP's Noninteractive.Basic). quiet: warnings and errors only.
 * ttyui: everything on stderr; when a line comes from another thread than
 * the last one, the thread's name comes first on a line of its own and the
 * thread's lines are indented by one space (OfflineIMAP's TTYFormatter;
 * main-thread lines are never prefixed). ttyui also prints the run's
 * progress (folders, messages, bytes, rate) after each folder that copied
 * something and at most every PROGRESS_EVERY seconds during a long one.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/ui_internal.h"

#define PROGRESS_EVERY 5.0

static void text_line(FILE *out, enum ui_level level, const char *msg)
{
	fprintf(out, "%s%s\n", ui_level_prefix(level), msg);
	fflush(out);
}

static void quiet_log(enum ui_level level, const char *thread, const char *msg)
{
	(void)thread;
	if (level != UI_INFO)
		text_line(stderr, level, msg);
}

const struct ui_ops ui_quiet = { .name = "quiet", .log = quiet_log };

static void basic_log(enum ui_level level, const char *thread, const char *msg)
{
	(void)thread;
	text_line(level == UI_INFO ? stdout : stderr, level, msg);
}

const struct ui_ops ui_basic = { .name = "basic", .log = basic_log };

/* --- ttyui -------------------------------------------------------------- */

static char last_thread[256]; /* "" = none yet / the main thread */
static double last_progress = -1;
static size_t last_progress_done;

static void tty_log(enum ui_level level, const char *thread, const char *msg)
{
	if (!thread) {
		text_line(stderr, level, msg);
		return;
	}
	if (strcmp(thread, last_thread) != 0) {
		snprintf(last_thread, sizeof(last_thread), "%s", thread);
		fprintf(stderr, "%s:\n", thread);
	}
	fprintf(stderr, " %s%s\n", ui_level_prefix(level), msg);
	fflush(stderr);
}

static void tty_progress(const char *thread)
{
	struct ui_progress p;
	ui_progress_locked(&p);
	char line[200], text[220];
	ui_progress_format(&p, line, sizeof(line));
	snprintf(text, sizeof(text), "Progress: %s", line);
	tty_log(UI_INFO, thread, text);
	last_progress = p.seconds;
	last_progress_done = p.messages_done;
}

static void tty_event(const struct ui_event *ev, const char *thread, const char *text)
{
	if (text)
		tty_log(ev->kind == UI_EV_VALIDITY ? UI_WARN : UI_INFO, thread, text);
	if (ev->kind == UI_EV_COPY) {
		struct ui_progress p;
		ui_progress_locked(&p);
		if (last_progress < 0)
			last_progress = p.seconds; /* the first line after PROGRESS_EVERY */
		if (p.seconds - last_progress >= PROGRESS_EVERY)
			tty_progress(thread);
	} else if (ev->kind == UI_EV_FOLDER_END) {
		struct ui_progress p;
		ui_progress_locked(&p);
		if (p.messages_done != last_progress_done)
			tty_progress(thread);
	}
}

const struct ui_ops ui_tty = { .name = "ttyui", .log = tty_log, .event = tty_event };
