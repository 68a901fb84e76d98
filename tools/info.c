/* info.c — see info.h. */
#include "tools/info.h"

#include <stdlib.h>
#include <string.h>

#include "cache/maildir.h"
#include "common/log.h"
#include "common/repo.h"
#include "imap/imap_repo.h"
#include "sync/engine.h"

static void show_folders(struct repo *r)
{
	struct strlist names = STRLIST_INIT;
	if (r->ops->list_folders(r, &names) != REPO_OK) {
		log_error("%s", repo_error(r));
		return;
	}
	log_info(" Folderlist:");
	for (size_t i = 0; i < names.n; i++)
		log_info("  %s", names.v[i]);
	strlist_free(&names);
}

static int info_remote(const struct account_settings *a)
{
	const struct repo_settings *rs = &a->remote;
	int port = rs->port ? rs->port : rs->ssl ? 993 : 143;
	log_info(" Remote repository '%s': type 'IMAP'", rs->name);
	log_info(" Host: %s Port: %d SSL: %s STARTTLS: %s User: %s Password: from %s", rs->host,
		 port, rs->ssl ? "yes" : "no", rs->starttls ? "yes" : "no",
		 rs->user ? rs->user : "", rs->password_source ? rs->password_source : "(none)");
	struct repo *r = sync_make_remote(a);
	int status = 0;
	if (r->ops->connect(r) != REPO_OK) {
		log_error("Account %s: failed to connect: %s", a->name, repo_error(r));
		status = 1;
	} else {
		const struct strlist *caps = imap_repo_capabilities(r);
		char *line = xstrdup("");
		for (size_t i = 0; i < caps->n; i++) {
			char *next = xasprintf("%s%s%s", line, i ? " " : "", caps->v[i]);
			free(line);
			line = next;
		}
		log_info(" Server capabilities: %s", line);
		free(line);
		log_info(" Hierarchy separator: '%c'", r->ops->separator(r));
		show_folders(r);
	}
	r->ops->free(&r);
	return status;
}

static int info_local(const struct account_settings *a)
{
	const struct repo_settings *ls = &a->local;
	log_info(" Local repository '%s': type 'Maildir'", ls->name);
	log_info(" Folders in: %s (separator '%c')", ls->localfolders, ls->sep);
	struct maildir_settings s = { .root = ls->localfolders, .sep = ls->sep, .infosep = ':' };
	struct repo *r = maildir_repo_new(ls->name, &s);
	int status = 0;
	if (r->ops->connect(r) != REPO_OK) {
		log_info(" (%s)", repo_error(r));
	} else {
		show_folders(r);
	}
	r->ops->free(&r);
	return status;
}

int cmd_info(const struct account_settings *accounts, size_t n)
{
	int status = 0;
	log_info("offlinefs %s", OFFLINEFS_VERSION);
	for (size_t i = 0; i < n; i++) {
		const struct account_settings *a = &accounts[i];
		log_info("Account %s:", a->name);
		log_info(" Metadata: %s/Account-%s", a->metadata, a->name);
		if (info_remote(a))
			status = 1;
		if (info_local(a))
			status = 1;
	}
	return status;
}

int cmd_delete_folder(const struct account_settings *a, const char *name, bool dry_run)
{
	if (dry_run) {
		log_info("[DRYRUN] Would delete folder '%s' on the remote of account '%s'", name,
			 a->name);
		return 0;
	}
	struct repo *r = sync_make_remote(a);
	int status = 1;
	if (r->ops->connect(r) != REPO_OK)
		log_error("Account %s: %s", a->name, repo_error(r));
	else if (imap_repo_delete_folder(r, name) != REPO_OK)
		log_error("Account %s: %s", a->name, repo_error(r));
	else {
		log_info("Folder '%s' deleted.", name);
		status = 0;
	}
	r->ops->free(&r);
	return status;
}
