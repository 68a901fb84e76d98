/* ui_machine.c — machineui: OfflineIMAP's MachineUI line protocol on
 * stdout, for programs that drive offlinefs (emacs's offlineimap.el runs
 * `offlineimap -u machineui` and splits each line on ':').
 *
 * One line per record: severity:command:quote(thread):quote(payload), with
 * severity msg (info), warn, error or debug, and the quoting of Python's
 * urlencode (ui_machine_quote). Plain log lines have an empty command;
 * events have OfflineIMAP's commands and payloads (protocol 7.2.0):
 * registerthread, acct, connecting, syncfolders, syncingfolder,
 * loadmessagelist, messagelistloaded, syncingmessages, copyingmessage,
 * deletingmessages, addingflags, deletingflags, validityproblem (warn),
 * callhook, threadExited, unregisterthread, acctdone, sleeping,
 * terminate. Unlike OfflineIMAP, whose `terminate` always says 0, the
 * status is the real exit status.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ui_internal.h"

#define PROTOCOL "7.2.0"

static void put(const char *severity, const char *command, const char *thread,
		const char *payload)
{
	char *line = ui_machine_line(severity, command, thread, payload);
	fprintf(stdout, "%s\n", line);
	fflush(stdout);
	free(line);
}

static const char *severity(enum ui_level level)
{
	switch (level) {
	case UI_DEBUG: return "debug";
	case UI_WARN: return "warn";
	case UI_ERROR: return "error";
	default: return "msg";
	}
}

static int machine_start(const char **error_r)
{
	(void)error_r;
	put("msg", "protocol", NULL, PROTOCOL);
	put("msg", "initbanner", NULL, "offlinefs " OFFLINEFS_VERSION);
	return 0;
}

static void machine_log(enum ui_level level, const char *thread, const char *msg)
{
	put(severity(level), "", thread, msg);
}

static void thread_gone(const char *thread)
{
	if (!thread)
		return;
	put("msg", "threadExited", NULL, thread);
	put("msg", "unregisterthread", NULL, thread);
}

/* OfflineIMAP's uidlist(): the UIDs joined by form feeds. */
static char *uid_list(const long long *uids, size_t n)
{
	struct strbuf sb = { 0 };
	for (size_t i = 0; i < n; i++)
		sb_addf(&sb, i ? "\f%lld" : "%lld", uids[i]);
	return sb_detach(&sb);
}

static void machine_event(const struct ui_event *ev, const char *thread, const char *text)
{
	(void)text;
	char *p = NULL;
	switch (ev->kind) {
	case UI_EV_ACCOUNT_START:
		put("msg", "registerthread", thread, ev->account);
		put("msg", "acct", thread, ev->account);
		break;
	case UI_EV_ACCOUNT_END:
		put("msg", "acctdone", thread, ev->account);
		thread_gone(thread);
		break;
	case UI_EV_CONNECTING:
		p = xasprintf("%s\n%d\n%s", ev->host, ev->port, ev->repo);
		put("msg", "connecting", thread, p);
		break;
	case UI_EV_FOLDERS:
		p = xasprintf("%s\n%s", ev->src_type, ev->dst_type);
		put("msg", "syncfolders", thread, p);
		break;
	case UI_EV_FOLDER_START:
		put("msg", "registerthread", thread, ev->account);
		p = xasprintf("%s\n%s\n%s\n%s\n", ev->src_type, ev->src, ev->dst_type, ev->dst);
		put("msg", "syncingfolder", thread, p);
		break;
	case UI_EV_COPY:
		p = xasprintf("%lld\n%s\n%s\n%s[%s]", ev->uid, ev->src_type, ev->src, ev->dst_type,
			      ev->dst);
		put("msg", "copyingmessage", thread, p);
		break;
	case UI_EV_FOLDER_END:
		thread_gone(thread);
		break;
	case UI_EV_SLEEP:
		p = xasprintf("%d\n%d", (int)ev->seconds, (int)ev->seconds);
		put("msg", "sleeping", thread, p);
		break;
	case UI_EV_FOLDER_PLAN:
		break;
	case UI_EV_LIST_LOAD:
		p = xasprintf("%s\n%s", ev->src_type, ev->src);
		put("msg", "loadmessagelist", thread, p);
		break;
	case UI_EV_LIST_LOADED:
		p = xasprintf("%s\n%s\n%zu", ev->src_type, ev->src, ev->n);
		put("msg", "messagelistloaded", thread, p);
		break;
	case UI_EV_SYNC_MESSAGES:
		p = xasprintf("%s\n%s\n%s\n%s\n", ev->src_type, ev->src, ev->dst_type, ev->dst);
		put("msg", "syncingmessages", thread, p);
		break;
	case UI_EV_DELETING: {
		char *u = uid_list(ev->uids, ev->n);
		p = xasprintf("%s\n%s\t%s", u, ev->dst_type, ev->dst);
		put("msg", "deletingmessages", thread, p);
		free(u);
		break;
	}
	case UI_EV_FLAGS: {
		char *u = uid_list(ev->uids, ev->n);
		p = xasprintf("%s\n%c\n%s", u, ev->letter, ev->dst);
		put("msg", ev->flag ? "addingflags" : "deletingflags", thread, p);
		free(u);
		break;
	}
	case UI_EV_VALIDITY:
		p = xasprintf("%s\n%s\n%lld\n%llu", ev->src, ev->repo, ev->uid,
			      (unsigned long long)ev->bytes);
		put("warn", "validityproblem", thread, p);
		break;
	case UI_EV_HOOK:
		/* OfflineIMAP's MachineUI.callhook drops the [DRYRUN] prefix */
		if (strncmp(text, "[DRYRUN] ", 9) == 0)
			text += 9;
		put("msg", "callhook", thread, text);
		break;
	}
	free(p);
}

static void machine_stop(int status)
{
	char *p = xasprintf("%d\n\n", status);
	put("msg", "terminate", NULL, p);
	free(p);
}

const struct ui_ops ui_machine = {
	.name = "machineui",
	.start = machine_start,
	.log = machine_log,
	.event = machine_event,
	.stop = machine_stop,
};
