/* delete_hold.c — see delete_hold.h. */
#include "sync/delete_hold.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "sync/delete_guard.h"

void delete_hold_load(struct status_db *db, struct held_state *st)
{
	char *err = NULL;
	memset(st, 0, sizeof(*st));
	if (held_list(db, &st->rows, &st->n, &err) < 0) {
		log_error("%s", err);
		free(err);
	}
}

void delete_hold_free(struct held_state *st)
{
	held_rows_free(&st->rows, st->n);
	st->n = 0;
}

static const struct held_row *find_row(const struct held_state *st, const char *folder)
{
	for (size_t i = 0; i < st->n; i++)
		if (!strcmp(st->rows[i].folder, folder))
			return &st->rows[i];
	return NULL;
}

/* Appends s to buf, single-quoted for a POSIX shell when it holds
 * anything but plainly safe characters. */
static void shell_word(char **buf, const char *s)
{
	bool plain = *s != '\0';
	for (const char *p = s; *p && plain; p++)
		plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			       "_./,:@%+=-", *p) != NULL;
	char *old = *buf;
	if (plain) {
		*buf = xasprintf("%s %s", old, s);
	} else {
		size_t n = strlen(s);
		char *q = xmalloc(4 * n + 3), *o = q;
		*o++ = '\'';
		for (const char *p = s; *p; p++) {
			if (*p == '\'') {
				memcpy(o, "'\\''", 4);
				o += 4;
			} else {
				*o++ = *p;
			}
		}
		*o++ = '\'';
		*o = '\0';
		*buf = xasprintf("%s %s", old, q);
		free(q);
	}
	free(old);
}

char *delete_hold_command(const struct account_settings *a, const char *remote_name)
{
	char *cmd = xstrdup("offlinefs");
	if (a->config_file) {
		shell_word(&cmd, "-c");
		shell_word(&cmd, a->config_file);
	}
	shell_word(&cmd, "-a");
	shell_word(&cmd, a->name);
	shell_word(&cmd, "-o");
	if (remote_name) {
		shell_word(&cmd, "--confirm-deletes");
		shell_word(&cmd, remote_name);
	}
	return cmd;
}

static bool listed(const struct strlist *l, const char *name)
{
	return l && strlist_find(l, name) >= 0;
}

bool delete_hold_folder(const struct account_settings *a, const struct strlist *confirm,
			bool dry_run, const struct held_state *st, struct status_db *db,
			const char *remote_name, struct plan *p, const struct repo_msg *remote,
			const struct repo_msg *local, size_t n_rows, bool *failed_r)
{
	const struct held_row *row = find_row(st, remote_name);
	bool confirmed = listed(confirm, remote_name) || (row && row->confirmed);
	struct delete_guard_held held;
	delete_guard_apply(&a->delete_guard, confirmed, p, remote, local, n_rows, &held);
	char *err = NULL;
	if (!held.remote && !held.local) {
		if (confirmed && (p->n_delete_remote || p->n_delete_local))
			log_info("Folder %s: deleting %zu messages on the server and %zu in the "
				 "Maildir, as confirmed", remote_name, p->n_delete_remote,
				 p->n_delete_local);
		if (row && !dry_run && held_clear(db, remote_name, &err) < 0) {
			log_error("Folder %s: %s", remote_name, err);
			free(err);
			*failed_r = true;
		}
		return false;
	}

	char what[160];
	if (held.remote && held.local)
		snprintf(what, sizeof(what), "%zu deletions on the server and %zu in the Maildir",
			 held.remote, held.local);
	else if (held.remote)
		snprintf(what, sizeof(what), "%zu deletions on the server", held.remote);
	else
		snprintf(what, sizeof(what), "%zu deletions in the Maildir", held.local);
	const char *why = held.remote && held.local ? "gone on the other side"
			  : held.remote ? "gone from the Maildir"
					: "gone from the server";
	char *cmd = delete_hold_command(a, remote_name);
	if (dry_run)
		log_info("[DRYRUN] Folder %s: would hold back %s (%zu of the %zu messages synced "
			 "last time are %s; confirmbigdeletes); to confirm them: %s", remote_name,
			 what, held.remote + held.local, held.total, why, cmd);
	else
		log_error("Folder %s: held back %s (%zu of the %zu messages synced last time are "
			  "%s; confirmbigdeletes); nothing was deleted. If that is what you want, "
			  "run: %s", remote_name, what, held.remote + held.local, held.total, why,
			  cmd);
	free(cmd);
	if (!dry_run && held_record(db, remote_name, held.remote, held.local, held.total, &err) < 0) {
		log_error("Folder %s: %s", remote_name, err);
		free(err);
		*failed_r = true;
	}
	return true;
}
