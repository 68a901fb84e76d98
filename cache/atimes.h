/* atimes.h — OfflineIMAP's restoreatime: the access times of every
 * Maildir folder's new/ and cur/ are put back after a sync, so that mail
 * readers and biff-like tools that compare atime with mtime still see
 * "new mail" the way they did before the sync read the directories.
 *
 * Owns: recording and restoring those atimes (the mtimes are left as the
 * sync made them, as OfflineIMAP's os.utime(dir, (atime, getmtime(dir)))).
 * Like OfflineIMAP, only the folders that exist when recording count.
 */
#ifndef OFFLINEFS_ATIMES_H
#define OFFLINEFS_ATIMES_H

#include "common/repo.h"

struct atimes;

/* Records the atimes of new/ and cur/ of every folder local (a connected
 * Maildir repository, cache/maildir.h) lists. Never fails: a folder that
 * cannot be read is left out (logged under -d maildir). */
struct atimes *atimes_record(struct repo *local);

/* Restores what atimes_record saw, frees *a and sets it NULL (NULL-safe). */
void atimes_restore(struct atimes **a);

#endif
