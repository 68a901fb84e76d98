/* info.h — the command-line modes that do not sync: --info and
 * --delete-folder (offlineimap(1)).
 *
 * Owns: what they print and the one IMAP command --delete-folder sends.
 * Both work on settings already validated by the caller.
 */
#ifndef OFFLINEFS_TOOLS_INFO_H
#define OFFLINEFS_TOOLS_INFO_H

#include <stdbool.h>

#include "sync/account.h"

/* --info: for each account its two repositories: type, where they are,
 * the server's capabilities (it connects and logs in, nothing else) and
 * the folder lists. Never a password. Returns the exit status (0, or 1
 * when a repository could not be read; the rest is still shown). */
int cmd_info(const struct account_settings *accounts, size_t n);

/* --delete-folder NAME: IMAP DELETE of NAME on the account's server,
 * nothing local (as OfflineIMAP). With dry_run it only says what it would
 * do. Returns the exit status. */
int cmd_delete_folder(const struct account_settings *a, const char *name, bool dry_run);

#endif
