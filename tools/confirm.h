/* confirm.h — `offlinefs -o --confirm-deletes FOLDERS` for a mounted
 * account.
 *
 * Owns: handing the confirmation of held mass deletions (sync/delete_hold.h)
 * to a running mount. A one-shot sync of a mounted account is refused (the
 * mount holds the lock), so the confirmation is written into the account's
 * held_deletes table (cache/held.h) instead, and the mount's next sync of
 * the folder carries the deletions out. The mount is sent SIGUSR1, which
 * starts its full sync at once (`kill -USR1 PID`).
 */
#ifndef OFFLINEFS_CONFIRM_H
#define OFFLINEFS_CONFIRM_H

#include "common/xalloc.h"
#include "sync/account.h"

/* When account a is mounted: records the confirmation of every folder in
 * folders, says so on stdout and returns 1 (or -1 after logging an error).
 * Not mounted: returns 0 and does nothing. */
int confirm_for_mount(const struct account_settings *a, const struct strlist *folders);

#endif
