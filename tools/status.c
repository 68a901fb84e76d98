/* status.c — `offlinefs status`; what it shows is in status.h. */
#include "tools/status.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache/held.h"
#include "cache/outbox.h"
#include "cache/status.h"
#include "common/flags.h"
#include "common/log.h"
#include "sync/delete_hold.h"
#include "sync/engine.h"
#include "tools/cli.h"
#include "tools/mountstate.h"

#define OPS_SHOWN 50

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: offlinefs status [-c FILE] [-a ACCOUNT]\n"
		"Shows the account's mount, its connection, the last sync of every folder\n"
		"and the changes still waiting to reach the server.\n");
}

/* "2024-05-01 12:00:03 (3 min ago)", or "never". */
static void when(char *out, size_t size, int64_t t, time_t now)
{
	if (t <= 0) {
		snprintf(out, size, "never");
		return;
	}
	time_t tt = (time_t)t;
	struct tm tm;
	char date[32];
	localtime_r(&tt, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	int64_t ago = (int64_t)now - t;
	if (ago < 0)
		snprintf(out, size, "%s", date);
	else if (ago < 120)
		snprintf(out, size, "%s (%lld s ago)", date, (long long)ago);
	else if (ago < 7200)
		snprintf(out, size, "%s (%lld min ago)", date, (long long)(ago / 60));
	else if (ago < 2 * 86400)
		snprintf(out, size, "%s (%lld h ago)", date, (long long)(ago / 3600));
	else
		snprintf(out, size, "%s (%lld days ago)", date, (long long)(ago / 86400));
}

static const char *kind_name(enum outbox_kind k)
{
	switch (k) {
	case OUTBOX_FLAGS: return "FLAGS";
	case OUTBOX_DELETE: return "DELETE";
	case OUTBOX_MOVE: return "MOVE";
	case OUTBOX_APPEND: return "APPEND";
	case OUTBOX_CREATE: return "CREATE";
	}
	return "?";
}

/* The mount, the lock and the connection. Returns whether a mount runs. */
static bool show_mount(const struct account_settings *a, time_t now)
{
	struct mount_state ms;
	char buf[96];
	bool running = mount_running(a, &ms) == 1;
	if (running) {
		char *type = ms.mountpoint ? mount_type_at(ms.mountpoint) : NULL;
		when(buf, sizeof(buf), ms.started, now);
		printf("  mount:          %s (offlinefs mount, pid %ld, running since %s)\n",
		       ms.mountpoint ? ms.mountpoint : "?", (long)ms.pid, buf);
		if (!type || strcmp(type, "fuse.offlinefs") != 0)
			printf("                  but %s is %s\n", ms.mountpoint ? ms.mountpoint : "?",
			       type ? type : "not mounted (the daemon is still stopping?)");
		free(type);
		if (ms.connected)
			printf("  connection:     online\n");
		else if (ms.backoff_seconds)
			printf("  connection:     offline, next try within %u s (kill -USR1 %ld retries "
			       "now)\n",
			       ms.backoff_seconds, (long)ms.pid);
		else
			printf("  connection:     connecting\n");
		if (ms.last_error)
			printf("  last error:     %s\n", ms.last_error);
		when(buf, sizeof(buf), ms.last_full_sync, now);
		printf("  last full sync: %s\n", buf);
		mount_state_clear(&ms);
		return true;
	}

	/* Not running: a stale mount left by a daemon that died? */
	const char *mp = ms.mountpoint ? ms.mountpoint : a->mount.mountpoint;
	char *type = mp ? mount_type_at(mp) : NULL;
	if (type && !strcmp(type, "fuse.offlinefs"))
		printf("  mount:          STALE at %s: %s; run fusermount3 -u %s\n", mp,
		       ms.pid ? "its daemon is gone" : "no running offlinefs mount owns it", mp);
	else if (ms.pid)
		printf("  mount:          not mounted (the last mount, pid %ld, did not stop "
		       "cleanly)\n",
		       (long)ms.pid);
	else
		printf("  mount:          not mounted%s%s\n", a->mount.mountpoint ? "; mountpoint " : "",
		       a->mount.mountpoint ? a->mount.mountpoint : "");
	free(type);
	mount_state_clear(&ms);

	pid_t holder = account_lock_holder(a->metadata, a->name);
	if (holder > 0) {
		char *cmd = process_cmdline(holder);
		printf("  lock:           held by pid %ld (%s): a sync is running\n", (long)holder,
		       cmd ? cmd : "?");
		free(cmd);
	}
	printf("  connection:     none (not mounted)\n");
	return false;
}

/* The mass deletions the delete guard holds back (sync/delete_hold.h). */
static void show_held(const struct account_settings *a, struct status_db *db, time_t now)
{
	struct held_row *rows = NULL;
	size_t n = 0;
	char *err = NULL, buf[96];
	if (held_list(db, &rows, &n, &err) < 0) {
		printf("  held deletions: cannot read: %s\n", err);
		free(err);
		return;
	}
	size_t shown = 0;
	for (size_t i = 0; i < n; i++) {
		const struct held_row *r = &rows[i];
		if (!r->remote && !r->local)
			continue; /* a confirmation given before any hold */
		if (!shown++)
			printf("  held deletions (confirmbigdeletes; nothing of these was deleted):\n");
		when(buf, sizeof(buf), r->since, now);
		char *cmd = delete_hold_command(a, r->folder);
		printf("    %s: %llu on the server, %llu in the Maildir, of %llu messages; held "
		       "since %s%s\n      confirm: %s\n", r->folder, (unsigned long long)r->remote,
		       (unsigned long long)r->local, (unsigned long long)r->total, buf,
		       r->confirmed ? " [confirmed: the next sync deletes them]" : "", cmd);
		free(cmd);
	}
	held_rows_free(&rows, n);
}

/* Folders and the outbox, from the status DB (read through a private
 * in-memory copy, so nothing on disk changes). */
static int show_db(const struct account_settings *a, time_t now)
{
	char *path = sync_status_db_path(a), *err = NULL;
	struct status_db *db = NULL;
	char buf[96];
	if (access(path, F_OK) != 0) {
		printf("  folders:        never synced (no %s)\n", path);
		printf("  pending:        0 operations queued\n");
		free(path);
		return 0;
	}
	if (status_open(path, true, false, &db, &err) < 0) {
		fprintf(stderr, "offlinefs: %s\n", err);
		free(err);
		free(path);
		return -1;
	}
	free(path);

	char **names = NULL;
	size_t n = 0;
	if (status_folder_names(db, &names, &n, &err) < 0) {
		printf("  folders:        cannot read: %s\n", err);
		xfree_ptr(&err);
	} else {
		printf("  folders (last sync):%s\n", n ? "" : " none yet");
		size_t w = 0;
		for (size_t i = 0; i < n; i++)
			w = strlen(names[i]) > w ? strlen(names[i]) : w;
		for (size_t i = 0; i < n; i++) {
			struct status_folder f;
			if (status_folder_get(db, names[i], &f, &err) < 0) {
				printf("    %-*s  ?: %s\n", (int)w, names[i], err);
				xfree_ptr(&err);
			} else {
				when(buf, sizeof(buf), f.last_sync, now);
				printf("    %-*s  %s\n", (int)w, names[i], buf);
			}
			free(names[i]);
		}
		free(names);
	}

	show_held(a, db, now);

	size_t queued = 0;
	if (outbox_count(db, &queued, &err) < 0) {
		printf("  pending:        cannot read the outbox: %s\n", err);
		xfree_ptr(&err);
		status_close(&db);
		return 0;
	}
	printf("  pending:        %zu operation%s queued for the server\n", queued,
	       queued == 1 ? "" : "s");
	struct outbox_op *ops = NULL;
	size_t nops = 0;
	if (queued && outbox_list(db, OPS_SHOWN, &ops, &nops, &err) < 0) {
		printf("    cannot list them: %s\n", err);
		xfree_ptr(&err);
	}
	for (size_t i = 0; i < nops; i++) {
		const struct outbox_op *op = &ops[i];
		char fl[FLAGS_LETTERS_MAX];
		flags_to_letters(op->flags, fl);
		struct strbuf what = STRBUF_INIT;
		switch (op->kind) {
		case OUTBOX_FLAGS:
			sb_addf(&what, "%s UID %u -> flags \"%s\"", op->folder, op->uid, fl);
			break;
		case OUTBOX_DELETE:
			sb_addf(&what, "%s UID %u", op->folder, op->uid);
			break;
		case OUTBOX_MOVE:
			sb_addf(&what, "%s UID %u -> %s (%s)", op->folder, op->uid,
				op->dst_folder ? op->dst_folder : "?", op->name ? op->name : "?");
			break;
		case OUTBOX_APPEND:
			sb_addf(&what, "%s %s%s%s", op->folder, op->name ? op->name : "?",
				*fl ? " flags " : "", fl);
			break;
		case OUTBOX_CREATE:
			sb_addf(&what, "%s", op->folder);
			break;
		}
		when(buf, sizeof(buf), op->queued_at, now);
		printf("    #%-5lld %-6s %s, queued %s%s\n", (long long)op->id, kind_name(op->kind),
		       sb_str(&what), buf, op->inflight ? " [in flight]" : "");
		if (op->attempts || op->last_error)
			printf("           %u failed tr%s%s%s\n", op->attempts,
			       op->attempts == 1 ? "y" : "ies", op->last_error ? "; last: " : "",
			       op->last_error ? op->last_error : "");
		sb_free(&what);
		outbox_op_clear(&ops[i]);
	}
	free(ops);
	if (queued > nops && nops)
		printf("    ... and %zu more\n", queued - nops);
	status_close(&db);
	return 0;
}

int cmd_status(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_common c = CLI_COMMON_INIT;
	int opt;
	optind = 1;
	opterr = 0; /* one line (cli_option_error), not the usage */
	while ((opt = getopt_long(argc, argv, ":c:a:k:u:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': c.config_path = optarg; break;
		case 'a': c.account = optarg; break;
		case 'k': strlist_add(&c.overrides, optarg); break;
		case 'u': c.ui = optarg; break;
		case 'h': usage(stdout); cli_common_free(&c); return 0;
		default:
			cli_option_error("offlinefs status", opt, argv);
			cli_common_free(&c);
			return 1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "offlinefs status: unexpected argument '%s'\n", argv[optind]);
		cli_common_free(&c);
		return 1;
	}
	int status = 1;
	struct account_settings a = { 0 };
	struct config *cfg = cli_load(&c);
	if (!cfg)
		goto out;
	if (cli_account(cfg, &c, false, &a) < 0)
		goto out;
	/* A bad mount option stops `mount`, not the report about it. */
	char *err = NULL;
	bool mount_opts_ok = account_load_mount(cfg, &a, &err) == 0;
	time_t now = time(NULL);
	printf("Account %s (Maildir %s, server %s)\n", a.name, a.local.localfolders, a.remote.host);
	if (!mount_opts_ok) {
		printf("  config:         %s\n", err);
		free(err);
	}
	show_mount(&a, now);
	status = show_db(&a, now) < 0 ? 1 : 0;
	fflush(stdout);
out:
	account_free(&a);
	config_free(&cfg);
	cli_common_free(&c);
	log_close();
	return status;
}
