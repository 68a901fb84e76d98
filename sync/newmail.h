/* newmail.h — [Repository] newmail_hook, as OfflineIMAP calls it.
 *
 * Owns: evaluating each account's remote newmail_hook (a Python callable
 * taking no argument, common/pyeval.h) and calling it. OfflineIMAP
 * (repository/IMAP.py, folder/Base.py): only an IMAP repository has one,
 * only its folder named exactly "INBOX" (the server's name, before any
 * nametrans) uses it, and it is called once after that folder's copy pass
 * when at least one copied message had no \Seen. Never in dry-run (no
 * copy is made). A Python exception is one error line naming the account,
 * folder and exception (the run exits 1; OfflineIMAP abandons the
 * folder's remaining passes, offlinefs finishes them: the mail is already
 * down). What the hook returns is ignored, whatever its type.
 */
#ifndef OFFLINEFS_NEWMAIL_H
#define OFFLINEFS_NEWMAIL_H

#include <stddef.h>

#include "common/config.h"
#include "sync/account.h"

struct newmail_hooks;

/* Evaluates the newmail_hook of each account's remote repository (when
 * set) once, so a bad one is reported before anything is touched. *nm_r
 * is NULL when no account has one (Python is then never started).
 * Returns 0, or -1 with a one-line *error_r (malloc'd) "file:line: option
 * 'newmail_hook' in section 'Repository R': NameError: ...". */
int newmail_load(const struct config *cfg, const struct account_settings *accounts, size_t n,
		 struct newmail_hooks **nm_r, char **error_r);
void newmail_free(struct newmail_hooks **nm);

/* struct sync_request.new_unseen_mail, ctx the struct newmail_hooks:
 * calls the account's hook when remote_name is "INBOX". */
void newmail_notify(void *ctx, const struct account_settings *a, const char *remote_name);

#endif
