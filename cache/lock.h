/* lock.h — one sync per account at a time.
 *
 * Owns: <metadata>/<account>.lock, the same file OfflineIMAP locks, with
 * the same kind of lock (fcntl/lockf, exclusive), so offlinefs, a running
 * offlinefs mount and OfflineIMAP itself exclude each other. A crash
 * releases the lock (the file stays, harmless).
 */
#ifndef OFFLINEFS_LOCK_H
#define OFFLINEFS_LOCK_H

#include <stdbool.h>

/* Takes the lock. With wait_seconds > 0 retries for that long. Returns the
 * open fd (>= 0), or -1 with *error_r (malloc'd), e.g. "Could not lock
 * account 'A' (/home/u/.offlineimap/A.lock): another offlinefs or
 * offlineimap is using this account". */
int account_lock(const char *metadata_dir, const char *account, int wait_seconds, char **error_r);
void account_unlock(int *fd);

#endif
