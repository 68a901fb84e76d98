/* fmd5_migrate.h — `offlinefs --migrate-fmd5-using-nametrans`.
 *
 * Owns: OfflineIMAP's FMD5 migration (init.py __migratefmd5,
 * folder/Maildir.py migratefmd5): before OfflineIMAP 6.3.5 the ",FMD5="
 * of a Maildir file name was the md5 of the local folder's name; since, it
 * is the md5 of its visible name (the local repository's nametrans
 * applied). For every local folder, files still carrying the old md5 are
 * renamed to the new one, so the next sync recognises their UIDs instead
 * of uploading them again. OfflineIMAP 8 crashes on this (md5 of a str);
 * we do what it was meant to do, under the account lock.
 */
#ifndef OFFLINEFS_FMD5_MIGRATE_H
#define OFFLINEFS_FMD5_MIGRATE_H

#include <stdbool.h>

#include "sync/account.h"

/* Migrates account a's Maildir. dry_run logs what would be renamed.
 * Returns 0, or 1 after logging the errors (exit status). */
int sync_migrate_fmd5(const struct account_settings *a, bool dry_run);

#endif
