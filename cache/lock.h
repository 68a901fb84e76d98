/* lock.h — one sync per account at a time.
 *
 * Owns: <metadata>/<account>.lock, the same file OfflineIMAP locks, with
 * the same kind of lock (fcntl/lockf, exclusive), so offlinefs, a running
 * offlinefs mount and OfflineIMAP itself exclude each other. A crash
 * releases the lock (the file stays, harmless; unlike OfflineIMAP we never
 * unlink it, which would race with a waiting locker).
 *
 * POSIX record locks belong to a process, so within one process the lock
 * file is also remembered by (dev, ino): a second account_lock() of the
 * same account in the same process fails (or waits) like any other holder.
 * Thread-safe.
 */
#ifndef OFFLINEFS_LOCK_H
#define OFFLINEFS_LOCK_H

#include <stdbool.h>

/* Takes the lock. With wait_seconds > 0 retries every 100 ms for that
 * long. A missing metadata_dir is created (0700); the file is created
 * 0600. Returns the open fd (>= 0, close-on-exec), or -1 with *error_r
 * (malloc'd), e.g. "Could not lock account 'A' (/home/u/.offlineimap/A.lock):
 * another offlinefs or offlineimap is using this account", or
 * "... (path): open: Permission denied" for other failures. */
int account_lock(const char *metadata_dir, const char *account, int wait_seconds, char **error_r);
/* Releases the lock and closes *fd; sets *fd = -1. No-op for -1. */
void account_unlock(int *fd);

#endif
