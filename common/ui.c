/* ui.c — see ui.h. The dispatch, thread names, progress counters and the
 * text forms of the events; the UIs themselves are in ui_*.c. */
#include "common/ui.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/log.h"
#include "common/ui_internal.h"

static pthread_mutex_t ui_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct ui_ops *current = &ui_tty;
static bool started, stopped;

/* A fixed buffer: thread-local malloc'd memory would leak when a worker
 * thread ends. */
static __thread char thread_name[256];
static __thread bool thread_named;

/* Progress, under ui_lock. */
static struct ui_progress prog;
static struct timespec prog_start;
static bool prog_started;

static const struct ui_ops *const all_uis[] = {
	&ui_quiet, &ui_basic, &ui_tty, &ui_syslog, &ui_machine, &ui_curses,
};

const struct ui_ops *ui_find(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (dot)
		name = dot + 1;
	if (!strcasecmp(name, "tty"))
		return &ui_tty;
	for (size_t i = 0; i < sizeof(all_uis) / sizeof(all_uis[0]); i++)
		if (!strcasecmp(name, all_uis[i]->name))
			return all_uis[i];
	return NULL;
}

void ui_use(const struct ui_ops *ui)
{
	pthread_mutex_lock(&ui_lock);
	if (!started)
		current = ui;
	pthread_mutex_unlock(&ui_lock);
}

int ui_start(const char **error_r)
{
	pthread_mutex_lock(&ui_lock);
	int rc = 0;
	if (!started) {
		if (current->start && current->start(error_r) < 0)
			rc = -1;
		else
			started = true;
	}
	pthread_mutex_unlock(&ui_lock);
	return rc;
}

const struct ui_ops *ui_current(void)
{
	return current;
}

void ui_tick(void)
{
	pthread_mutex_lock(&ui_lock);
	if (!stopped && current->tick)
		current->tick();
	pthread_mutex_unlock(&ui_lock);
}

void ui_stop(int status)
{
	pthread_mutex_lock(&ui_lock);
	if (!stopped && started && current->stop)
		current->stop(status);
	stopped = true;
	pthread_mutex_unlock(&ui_lock);
}

void ui_set_thread(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(thread_name, sizeof(thread_name), fmt, ap);
	va_end(ap);
	thread_named = true;
}

void ui_clear_thread(void)
{
	thread_named = false;
}

const char *ui_thread(void)
{
	return thread_named ? thread_name : NULL;
}

void ui_log_line(enum ui_level level, const char *msg)
{
	pthread_mutex_lock(&ui_lock);
	if (!stopped)
		current->log(level, ui_thread(), msg);
	pthread_mutex_unlock(&ui_lock);
}

/* --- progress ---------------------------------------------------------- */

static double elapsed(void)
{
	if (!prog_started)
		return 0;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - prog_start.tv_sec) +
	       (double)(now.tv_nsec - prog_start.tv_nsec) / 1e9;
}

void ui_progress_locked(struct ui_progress *p)
{
	*p = prog;
	p->seconds = elapsed();
}

void ui_progress_get(struct ui_progress *p)
{
	pthread_mutex_lock(&ui_lock);
	ui_progress_locked(p);
	pthread_mutex_unlock(&ui_lock);
}

const char *ui_level_prefix(enum ui_level level)
{
	return level == UI_ERROR ? "ERROR: " : level == UI_WARN ? "WARNING: " : "";
}

static void human_bytes(double b, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	size_t u = 0;
	while (b >= 1024 && u < 4) {
		b /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", b, units[u]);
}

void ui_progress_format(const struct ui_progress *p, char *buf, size_t size)
{
	char bytes[32], rate[32];
	human_bytes((double)p->bytes_done, bytes, sizeof(bytes));
	human_bytes(p->seconds > 0 ? (double)p->bytes_done / p->seconds : 0, rate, sizeof(rate));
	snprintf(buf, size, "%zu/%zu folders, %zu/%zu messages, %s, %s/s", p->folders_done,
		 p->folders_total, p->messages_done, p->messages_total, bytes, rate);
}

/* --- events ------------------------------------------------------------ */

/* Writes the text form to the log file and syslog (log.c), then hands the
 * event to the UI, all under the UI lock so that machineui's lines and the
 * counters stay in step. */
static void emit_at(enum ui_level level, const struct ui_event *ev, const char *text);

static void emit(const struct ui_event *ev, const char *text)
{
	emit_at(UI_INFO, ev, text);
}

/* emit() of a text at another level than info (a warning). */
static void emit_at(enum ui_level level, const struct ui_event *ev, const char *text)
{
	if (text)
		log_sinks_write(level, text);
	pthread_mutex_lock(&ui_lock);
	switch (ev->kind) {
	case UI_EV_ACCOUNT_START:
		if (!prog_started) {
			clock_gettime(CLOCK_MONOTONIC, &prog_start);
			prog_started = true;
		}
		break;
	case UI_EV_FOLDERS:
		prog.folders_total += ev->n;
		break;
	case UI_EV_FOLDER_PLAN:
		prog.messages_total += ev->n;
		break;
	case UI_EV_COPY:
		prog.messages_done++;
		prog.bytes_done += ev->bytes;
		break;
	case UI_EV_FOLDER_END:
		prog.folders_done++;
		break;
	default:
		break;
	}
	if (ui_profiling())
		ui_profile_event(ev);
	if (!stopped) {
		if (current->event)
			current->event(ev, ui_thread(), text);
		else if (text)
			current->log(level, ui_thread(), text);
	}
	pthread_mutex_unlock(&ui_lock);
}

void ui_ev_account_start(const char *account, bool dry_run)
{
	ui_set_thread("Account sync %s", account);
	struct ui_event ev = { .kind = UI_EV_ACCOUNT_START, .account = account, .flag = dry_run };
	char *text = xasprintf("*** Processing account %s%s", account, dry_run ? " [DRYRUN]" : "");
	emit(&ev, text);
	free(text);
}

void ui_ev_account_end(const char *account)
{
	struct ui_event ev = { .kind = UI_EV_ACCOUNT_END, .account = account };
	char *text = xasprintf("*** Finished account '%s'", account);
	emit(&ev, text);
	free(text);
	ui_clear_thread();
}

void ui_ev_connecting(const char *host, int port, const char *repo)
{
	struct ui_event ev = { .kind = UI_EV_CONNECTING, .host = host, .port = port, .repo = repo };
	char *text = xasprintf("Establishing connection to %s:%d (%s)", host, port, repo);
	emit(&ev, text);
	free(text);
}

void ui_ev_folders(const char *account, const char *remote_type, const char *local_type, size_t n)
{
	struct ui_event ev = { .kind = UI_EV_FOLDERS, .account = account, .src_type = remote_type,
			       .dst_type = local_type, .n = n };
	emit(&ev, NULL);
}

void ui_ev_folder_start(const char *account, const char *src_type, const char *remote,
			const char *dst_type, const char *local)
{
	ui_set_thread("Folder %s [acc: %s]", remote, account);
	struct ui_event ev = { .kind = UI_EV_FOLDER_START, .account = account, .src_type = src_type,
			       .src = remote, .dst_type = dst_type, .dst = local };
	char *text = xasprintf("Syncing %s: %s -> %s", remote, src_type, dst_type);
	emit(&ev, text);
	free(text);
}

void ui_ev_folder_plan(const char *account, const char *remote, size_t n_copy, uint64_t bytes)
{
	struct ui_event ev = { .kind = UI_EV_FOLDER_PLAN, .account = account, .src = remote,
			       .n = n_copy, .bytes = bytes };
	emit(&ev, NULL);
}

void ui_ev_copy(const char *account, long long uid, uint64_t bytes, const char *src_type,
		const char *src, const char *dst_type, const char *dst)
{
	struct ui_event ev = { .kind = UI_EV_COPY, .account = account, .uid = uid, .bytes = bytes,
			       .src_type = src_type, .src = src, .dst_type = dst_type, .dst = dst };
	emit(&ev, NULL);
}

void ui_ev_folder_end(const char *account, const char *remote)
{
	struct ui_event ev = { .kind = UI_EV_FOLDER_END, .account = account, .src = remote };
	emit(&ev, NULL);
	ui_set_thread("Account sync %s", account);
}

void ui_ev_sleep(double seconds)
{
	struct ui_event ev = { .kind = UI_EV_SLEEP, .seconds = seconds };
	char *text = xasprintf("Next refresh in %.1f minutes", seconds / 60);
	emit(&ev, text);
	free(text);
}

void ui_ev_list_load(const char *account, const char *type, const char *folder)
{
	struct ui_event ev = { .kind = UI_EV_LIST_LOAD, .account = account, .src_type = type,
			       .src = folder };
	emit(&ev, NULL);
}

void ui_ev_list_loaded(const char *account, const char *type, const char *folder, size_t n)
{
	struct ui_event ev = { .kind = UI_EV_LIST_LOADED, .account = account, .src_type = type,
			       .src = folder, .n = n };
	emit(&ev, NULL);
}

void ui_ev_syncing_messages(const char *account, const char *src_type, const char *src,
			    const char *dst_type, const char *dst)
{
	struct ui_event ev = { .kind = UI_EV_SYNC_MESSAGES, .account = account,
			       .src_type = src_type, .src = src, .dst_type = dst_type, .dst = dst };
	emit(&ev, NULL);
}

/* OfflineIMAP's uid_sequence: runs of consecutive UIDs as "a:b", joined
 * by ','. */
static char *uid_sequence(const long long *uids, size_t n)
{
	struct strbuf sb = { 0 };
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j + 1 < n && uids[j + 1] == uids[j] + 1)
			j++;
		if (i)
			sb_addf(&sb, ",");
		if (j > i)
			sb_addf(&sb, "%lld:%lld", uids[i], uids[j]);
		else
			sb_addf(&sb, "%lld", uids[i]);
		i = j + 1;
	}
	return sb_detach(&sb);
}

void ui_ev_deleting(const char *account, const long long *uids, size_t n, const char *dst_type,
		    const char *dst)
{
	if (!n)
		return;
	struct ui_event ev = { .kind = UI_EV_DELETING, .account = account, .uids = uids, .n = n,
			       .dst_type = dst_type, .dst = dst };
	char *seq = uid_sequence(uids, n);
	char *text = xasprintf("Deleting %zu messages (%s) in %s[%s]", n, seq, dst_type, dst);
	emit(&ev, text);
	free(text);
	free(seq);
}

void ui_ev_flags(const char *account, bool add, char letter, const long long *uids, size_t n,
		 const char *dst)
{
	if (!n)
		return;
	struct ui_event ev = { .kind = UI_EV_FLAGS, .account = account, .flag = add,
			       .letter = letter, .uids = uids, .n = n, .dst = dst };
	char *text = add ? xasprintf("Adding flag %c to %zu messages on %s", letter, n, dst)
			 : xasprintf("Deleting flag %c from %zu messages on %s", letter, n, dst);
	emit(&ev, text);
	free(text);
}

void ui_ev_validity(const char *account, const char *folder, const char *repo,
		    unsigned saved, unsigned now, const char *text)
{
	struct ui_event ev = { .kind = UI_EV_VALIDITY, .account = account, .src = folder,
			       .repo = repo, .uid = saved, .bytes = now };
	emit_at(UI_WARN, &ev, text);
}

void ui_ev_hook(const char *text)
{
	struct ui_event ev = { .kind = UI_EV_HOOK };
	emit(&ev, text);
}

/* --- machineui's encoding (pure) --------------------------------------- */

char *ui_machine_quote(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(s);
	char *out = xmalloc(3 * n + 1), *o = out;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		unsigned char c = *p;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-' || c == '~') {
			*o++ = (char)c;
		} else if (c == ' ') {
			*o++ = '+';
		} else {
			*o++ = '%';
			*o++ = hex[c >> 4];
			*o++ = hex[c & 15];
		}
	}
	*o = '\0';
	return out;
}

char *ui_machine_line(const char *severity, const char *command, const char *thread,
		      const char *payload)
{
	char *t = ui_machine_quote(thread ? thread : "MainThread");
	char *p = ui_machine_quote(payload);
	char *line = xasprintf("%s:%s:%s:%s", severity, command, t, p);
	free(t);
	free(p);
	return line;
}
