/* ui.h — the console user interfaces (-u) behind one interface, and the
 * progress events the sync engine reports to them.
 *
 * Owns: the UI table (quiet, basic, ttyui, syslog, machineui,
 * blinkenlights), the current UI, the name of the thread a line comes from
 * ("Account sync A", "Folder INBOX [acc: A]", as OfflineIMAP names its
 * threads) and the run's progress counters (folders, messages, bytes).
 *
 * Two ways in:
 *   - log lines: common/log.c formats log_info/log_warn/... and hands the
 *     text to ui_log_line(); every caller keeps using log_*;
 *   - events: the engine calls the ui_ev_* functions below at a few places
 *     (account start/end, connecting, folder start/end, message copied).
 *     An event has a text form ("Syncing INBOX: IMAP -> Maildir") that the
 *     log file, syslog and the text UIs print; machineui prints its own
 *     command line instead (`msg:syncingfolder:...`), blinkenlights
 *     updates its thread and progress lines.
 * Every UI operation runs under one mutex, so a UI never sees two calls at
 * once and lines from different threads never mix.
 */
#ifndef OFFLINEFS_UI_H
#define OFFLINEFS_UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/xalloc.h"

enum ui_level { UI_DEBUG, UI_INFO, UI_WARN, UI_ERROR };

enum ui_event_kind {
	UI_EV_ACCOUNT_START, /* account, flag = dry run */
	UI_EV_ACCOUNT_END,   /* account, seconds */
	UI_EV_CONNECTING,    /* host, port, repo */
	UI_EV_FOLDERS,       /* account, src_type (remote), dst_type (local), n = folder pairs */
	UI_EV_FOLDER_START,  /* account, src_type, src (remote name), dst_type, dst (local name) */
	UI_EV_FOLDER_PLAN,   /* account, src, n = messages to copy, bytes = their size if known */
	UI_EV_COPY,          /* account, uid (-n for a new local message), bytes, src_type, src,
			      * dst_type, dst: one message copied */
	UI_EV_FOLDER_END,    /* account, src (remote name) */
	UI_EV_SLEEP,         /* seconds (the autorefresh wait) */
	UI_EV_LIST_LOAD,     /* src_type, src: a folder's message list is being read */
	UI_EV_LIST_LOADED,   /* src_type, src, n = its messages */
	UI_EV_SYNC_MESSAGES, /* src_type, src, dst_type, dst: one direction's pass begins */
	UI_EV_DELETING,      /* uids[n], dst_type, dst: messages deleted in dst */
	UI_EV_FLAGS,         /* flag = adding (else deleting), letter, uids[n], dst */
	UI_EV_VALIDITY,      /* src (folder), repo, uid (saved), bytes (now): skipped folder */
	UI_EV_HOOK,          /* text only: a presynchook/postsynchook line */
};

struct ui_event {
	enum ui_event_kind kind;
	const char *account;
	const char *src_type, *src, *dst_type, *dst;
	const char *host, *repo;
	int port;
	long long uid;
	uint64_t bytes;
	size_t n;
	double seconds;
	bool flag;
	char letter;
	const long long *uids;
};

/* One user interface. Every operation is called with the UI mutex held. */
struct ui_ops {
	const char *name;
	/* NULL-able. Returns 0, or -1 with *error_r (static text): the UI
	 * cannot run here (blinkenlights without a terminal). */
	int (*start)(const char **error_r);
	/* A log line. thread: the name of the thread it comes from, NULL for
	 * the main thread outside any account. */
	void (*log)(enum ui_level level, const char *thread, const char *msg);
	/* NULL-able: then the event's text, when it has one, goes to log()
	 * as an info line. text is NULL for events without a text form. */
	void (*event)(const struct ui_event *ev, const char *thread, const char *text);
	/* NULL-able. Called about once a second while offlinefs waits for the
	 * next autorefresh round (blinkenlights reads its keys). */
	void (*tick)(void);
	/* NULL-able. The run is over with this exit status (machineui's
	 * `terminate`, curses gives the terminal back). */
	void (*stop)(int status);
};

extern const struct ui_ops ui_quiet, ui_basic, ui_tty, ui_syslog, ui_machine, ui_curses;

/* Looks a UI up by OfflineIMAP's name (case-insensitive; a dotted old name
 * such as "Curses.Blinkenlights" is reduced to its last component). NULL
 * for an unknown one. */
const struct ui_ops *ui_find(const char *name);
/* Selects the UI (no effect once one was started). Until ui_start, lines
 * still go to it, but a UI that needs starting shows nothing yet
 * (blinkenlights keeps them for its log pane). */
void ui_use(const struct ui_ops *ui);
/* Starts the selected UI: called once everything is validated, right
 * before the sync, so that a curses screen never hides an error about the
 * command line or the config. Returns 0, or -1 with *error_r (static). */
int ui_start(const char **error_r);
const struct ui_ops *ui_current(void);
/* About once a second during the autorefresh wait (ui_ops.tick). */
void ui_tick(void);
/* Ends the UI in use (idempotent). */
void ui_stop(int status);

/* The calling thread's name for the UIs ("Account sync A"); NULL: the main
 * thread. The events below set it themselves; printf-style. */
void ui_set_thread(const char *fmt, ...) PRINTF_LIKE(1, 2);
void ui_clear_thread(void);
const char *ui_thread(void); /* NULL for the main thread */

/* For common/log.c: one log line to the UI in use (the log file and syslog
 * are written by log.c). */
void ui_log_line(enum ui_level level, const char *msg);

/* --- events (called by the sync engine) --- */
void ui_ev_account_start(const char *account, bool dry_run);
void ui_ev_account_end(const char *account);
void ui_ev_connecting(const char *host, int port, const char *repo);
void ui_ev_folders(const char *account, const char *remote_type, const char *local_type, size_t n);
void ui_ev_folder_start(const char *account, const char *src_type, const char *remote,
			const char *dst_type, const char *local);
void ui_ev_folder_plan(const char *account, const char *remote, size_t n_copy, uint64_t bytes);
/* A message copied: uid is the source UID, or a negative number for a new
 * local message (OfflineIMAP's -1, -2, ...). */
void ui_ev_copy(const char *account, long long uid, uint64_t bytes, const char *src_type,
		const char *src, const char *dst_type, const char *dst);
void ui_ev_folder_end(const char *account, const char *remote);
void ui_ev_sleep(double seconds);
/* The per-folder steps OfflineIMAP reports (machineui's loadmessagelist,
 * messagelistloaded, syncingmessages): no text form (OfflineIMAP prints
 * them only at debug level). type: "IMAP" or "Maildir". */
void ui_ev_list_load(const char *account, const char *type, const char *folder);
void ui_ev_list_loaded(const char *account, const char *type, const char *folder, size_t n);
void ui_ev_syncing_messages(const char *account, const char *src_type, const char *src,
			    const char *dst_type, const char *dst);
/* n messages (their UIDs) about to be deleted in dst_type's folder dst. Text
 * form: OfflineIMAP's "Deleting 2 messages (1:2) in Maildir[INBOX]". */
void ui_ev_deleting(const char *account, const long long *uids, size_t n, const char *dst_type,
		    const char *dst);
/* Flag letter about to be added (add) or removed on n messages of folder
 * dst. Text: "Adding flag S to 2 messages on INBOX". */
void ui_ev_flags(const char *account, bool add, char letter, const long long *uids, size_t n,
		 const char *dst);
/* A folder skipped because its UIDVALIDITY changed. text: the warning every
 * other UI prints (machineui prints `validityproblem` instead). */
void ui_ev_validity(const char *account, const char *folder, const char *repo,
		    unsigned saved, unsigned now, const char *text);
/* A hook's line ("Calling hook: CMD", its output, its status). */
void ui_ev_hook(const char *text);

/* -P DIR: per-folder timings in DIR/<time>_<account>.prof (ui_profile.c);
 * NULL ends it. DIR must exist. */
void ui_profile_dir(const char *dir);

/* The run's progress so far (all accounts of this process). */
struct ui_progress {
	size_t folders_total, folders_done;
	size_t messages_total, messages_done; /* messages_total: planned copies */
	uint64_t bytes_done;
	double seconds; /* since the first account started */
};
void ui_progress_get(struct ui_progress *p);
/* "12/40 folders, 350/1200 messages, 4.2 MiB, 1.3 MiB/s" into buf. */
void ui_progress_format(const struct ui_progress *p, char *buf, size_t size);

/* machineui's encoding of one field: Python's urlencode([('', s)])[1:]
 * (quote_plus: letters, digits and "_.-~" stay, space is '+', every other
 * byte %XX in upper-case hex). malloc'd. Pure. */
char *ui_machine_quote(const char *s);
/* One machineui line without the newline: severity:command:quote(thread):
 * quote(payload). thread NULL: "MainThread". malloc'd. Pure. */
char *ui_machine_line(const char *severity, const char *command, const char *thread,
		      const char *payload);

#endif
