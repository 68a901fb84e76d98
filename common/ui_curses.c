/* ui_curses.c — blinkenlights: a full-screen curses UI (ncurses), as
 * OfflineIMAP's Curses.Blinkenlights.
 *
 * Screen, top to bottom:
 *   offlinefs VERSION  (q: stop after the current folders, 0-9: sync now)
 *   Progress: 3/12 folders, 120/900 messages, 4.1 MiB, 1.3 MiB/s
 *   one line per account ("Account Test: active" / "done" / "sleeping")
 *     and under it one line per folder being synced (the folder threads:
 *     "  Folder INBOX: copying 120/500, 3.2 MiB"), coloured by what they do
 *   ----------------------------------------------------------------------
 *   the log pane: the latest log lines, warnings and errors in colour.
 * Keys are read whenever the screen is redrawn and every second of the
 * autorefresh wait (ui_tick): q (or Ctrl-C) asks for a graceful stop, as
 * SIGINT does; a digit asks for a sync now, as SIGUSR1 does. Redraws for
 * copied messages are limited to ten a second. When the run ends the
 * terminal is given back and the run's warnings and errors are printed
 * again on stderr, so that they outlive the screen.
 * Needs a terminal on stdout: refused otherwise.
 */
#include <curses.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ui_internal.h"

#define LOG_KEEP 400
#define ERR_KEEP 50
#define MAX_ROWS 64

struct row {
	char thread[256];  /* "Account sync A" or "Folder X [acc: A]" */
	char account[128];
	char label[256];   /* what is shown before the status */
	char status[160];
	size_t done, total;
	uint64_t bytes;
	bool is_account, used;
	int colour;
};

static struct row rows[MAX_ROWS];
static char *log_ring[LOG_KEEP];
static enum ui_level log_level[LOG_KEEP];
static size_t log_next, log_count;
static char *errors[ERR_KEEP];
static size_t n_errors;
static bool on;
static double last_draw;

enum { C_DEFAULT, C_ACCOUNT, C_FOLDER, C_COPY, C_WARN, C_ERROR, C_IDLE };

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct row *row_find(const char *thread, bool create)
{
	struct row *free_row = NULL;
	for (size_t i = 0; i < MAX_ROWS; i++) {
		if (rows[i].used && !strcmp(rows[i].thread, thread))
			return &rows[i];
		if (!rows[i].used && !free_row)
			free_row = &rows[i];
	}
	if (!create || !free_row)
		return NULL;
	memset(free_row, 0, sizeof(*free_row));
	free_row->used = true;
	snprintf(free_row->thread, sizeof(free_row->thread), "%s", thread);
	return free_row;
}

static void keys(void)
{
	int ch;
	while ((ch = getch()) != ERR) {
		if (ch == 'q' || ch == 'Q')
			kill(getpid(), SIGINT);
		else if (ch >= '0' && ch <= '9')
			kill(getpid(), SIGUSR1);
	}
}

static void put_line(int y, int colour, const char *text)
{
	move(y, 0);
	clrtoeol();
	if (colour && has_colors())
		attron(COLOR_PAIR(colour));
	addnstr(text, COLS > 0 ? COLS - 1 : 0);
	if (colour && has_colors())
		attroff(COLOR_PAIR(colour));
}

static void draw(void)
{
	if (!on)
		return;
	erase();
	int y = 0;
	put_line(y++, C_DEFAULT, "offlinefs " OFFLINEFS_VERSION
		 "  (q: stop after the current folders, 0-9: sync now)");
	struct ui_progress p;
	ui_progress_locked(&p);
	char prog[200], line[512];
	ui_progress_format(&p, prog, sizeof(prog));
	snprintf(line, sizeof(line), "Progress: %s", prog);
	put_line(y++, C_DEFAULT, line);
	/* accounts, each followed by its folder lines */
	for (size_t i = 0; i < MAX_ROWS && y < LINES - 3; i++) {
		if (!rows[i].used || !rows[i].is_account)
			continue;
		snprintf(line, sizeof(line), "%s: %s", rows[i].label, rows[i].status);
		put_line(y++, C_ACCOUNT, line);
		for (size_t j = 0; j < MAX_ROWS && y < LINES - 3; j++) {
			struct row *r = &rows[j];
			if (!r->used || r->is_account || strcmp(r->account, rows[i].account))
				continue;
			snprintf(line, sizeof(line), "  %s: %s", r->label, r->status);
			put_line(y++, r->colour, line);
		}
	}
	move(y, 0);
	if (y < LINES)
		hline('-', COLS);
	y++;
	/* the log pane: as many of the latest lines as fit */
	int room = LINES - y;
	size_t show = room > 0 ? (size_t)room : 0;
	if (show > log_count)
		show = log_count;
	for (size_t k = 0; k < show; k++) {
		size_t idx = (log_next + LOG_KEEP - show + k) % LOG_KEEP;
		int c = log_level[idx] == UI_ERROR ? C_ERROR : log_level[idx] == UI_WARN ? C_WARN : 0;
		put_line(y++, c, log_ring[idx]);
	}
	refresh();
	last_draw = now_s();
	keys();
}

static int curses_start(const char **error_r)
{
	if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
		*error_r = "blinkenlights needs a terminal (use -u ttyui or machineui)";
		return -1;
	}
	if (!initscr()) {
		*error_r = "cannot start curses (is TERM set?)";
		return -1;
	}
	cbreak();
	noecho();
	nodelay(stdscr, TRUE);
	keypad(stdscr, TRUE);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(C_ACCOUNT, COLOR_MAGENTA, -1);
		init_pair(C_FOLDER, COLOR_CYAN, -1);
		init_pair(C_COPY, COLOR_YELLOW, -1);
		init_pair(C_WARN, COLOR_YELLOW, -1);
		init_pair(C_ERROR, COLOR_RED, -1);
		init_pair(C_IDLE, COLOR_BLUE, -1);
	}
	on = true;
	draw();
	return 0;
}

static void curses_log(enum ui_level level, const char *thread, const char *msg)
{
	(void)thread;
	char *text = xasprintf("%s%s", ui_level_prefix(level), msg);
	if (level >= UI_WARN && n_errors < ERR_KEEP)
		errors[n_errors++] = xstrdup(text);
	free(log_ring[log_next]);
	log_ring[log_next] = text;
	log_level[log_next] = level;
	log_next = (log_next + 1) % LOG_KEEP;
	if (log_count < LOG_KEEP)
		log_count++;
	draw();
}

static void folder_status(struct row *r)
{
	char b[32];
	double v = (double)r->bytes;
	const char *unit = "B";
	if (v >= 1024 * 1024) {
		v /= 1024 * 1024;
		unit = "MiB";
	} else if (v >= 1024) {
		v /= 1024;
		unit = "KiB";
	}
	snprintf(b, sizeof(b), unit[0] == 'B' ? "%.0f %s" : "%.1f %s", v, unit);
	if (r->total)
		snprintf(r->status, sizeof(r->status), "copying %zu/%zu, %s", r->done, r->total, b);
	else
		snprintf(r->status, sizeof(r->status), "syncing");
}

static void curses_event(const struct ui_event *ev, const char *thread, const char *text)
{
	struct row *r = NULL;
	bool urgent = true;
	switch (ev->kind) {
	case UI_EV_ACCOUNT_START:
		r = row_find(thread ? thread : ev->account, true);
		if (r) {
			r->is_account = true;
			snprintf(r->account, sizeof(r->account), "%s", ev->account);
			snprintf(r->label, sizeof(r->label), "Account %s", ev->account);
			snprintf(r->status, sizeof(r->status), "active");
		}
		break;
	case UI_EV_ACCOUNT_END:
		r = thread ? row_find(thread, false) : NULL;
		if (r)
			snprintf(r->status, sizeof(r->status), "done");
		break;
	case UI_EV_CONNECTING:
		r = thread ? row_find(thread, false) : NULL;
		if (r)
			snprintf(r->status, sizeof(r->status), "connecting to %s:%d", ev->host,
				 ev->port);
		break;
	case UI_EV_FOLDERS:
		r = thread ? row_find(thread, false) : NULL;
		if (r)
			snprintf(r->status, sizeof(r->status), "active, %zu folders", ev->n);
		break;
	case UI_EV_FOLDER_START:
		r = thread ? row_find(thread, true) : NULL;
		if (r) {
			snprintf(r->account, sizeof(r->account), "%s", ev->account);
			snprintf(r->label, sizeof(r->label), "Folder %s", ev->src);
			r->colour = C_FOLDER;
			folder_status(r);
		}
		break;
	case UI_EV_FOLDER_PLAN:
		r = thread ? row_find(thread, false) : NULL;
		if (r) {
			r->total = ev->n;
			folder_status(r);
		}
		break;
	case UI_EV_COPY:
		r = thread ? row_find(thread, false) : NULL;
		if (r) {
			r->done++;
			r->bytes += ev->bytes;
			r->colour = C_COPY;
			folder_status(r);
		}
		urgent = false;
		break;
	case UI_EV_FOLDER_END:
		r = thread ? row_find(thread, false) : NULL;
		if (r)
			r->used = false;
		break;
	case UI_EV_SLEEP:
		for (size_t i = 0; i < MAX_ROWS; i++)
			if (rows[i].used && rows[i].is_account)
				snprintf(rows[i].status, sizeof(rows[i].status),
					 "sleeping, next sync in %.1f minutes", ev->seconds / 60);
		break;
	default: /* the per-folder steps: their text, if any, goes to the log pane */
		urgent = false;
		break;
	}
	if (text) {
		curses_log(ev->kind == UI_EV_VALIDITY ? UI_WARN : UI_INFO, thread, text); /* draws */
		return;
	}
	if (urgent || now_s() - last_draw >= 0.1)
		draw();
}

static void curses_tick(void)
{
	draw();
}

static void curses_stop(int status)
{
	(void)status;
	if (on) {
		endwin();
		on = false;
	}
	for (size_t i = 0; i < n_errors; i++) {
		fprintf(stderr, "%s\n", errors[i]);
		free(errors[i]);
	}
	n_errors = 0;
	for (size_t i = 0; i < LOG_KEEP; i++) {
		free(log_ring[i]);
		log_ring[i] = NULL;
	}
}

const struct ui_ops ui_curses = {
	.name = "blinkenlights",
	.start = curses_start,
	.log = curses_log,
	.event = curses_event,
	.tick = curses_tick,
	.stop = curses_stop,
};
