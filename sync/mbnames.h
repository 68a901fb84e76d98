/* mbnames.h — the [mbnames] mailbox-list file, as OfflineIMAP 8 writes it.
 *
 * Owns: reading [mbnames], the per-account intermediate files
 * <metadata>/mbnames/<account>.json and the mbnames file built from all
 * of them (offlineimap3 mbnames.py; reference offlineimap.md §1.2, §6.2).
 * The JSON files are byte-for-byte what OfflineIMAP writes (Python's
 * json.dump, ensure_ascii), and are read from whoever wrote them, so a
 * user may switch between offlineimap and offlinefs and keep one
 * consistent mbnames file.
 *
 * The file is   header + sep.join(peritem % item for item in
 *               sorted(items, key=sort_keyfunc)) + footer
 * where items are the dicts {accountname, foldername, localfolders} of
 * every *.json in the directory (accounts not synced in this run are
 * kept), header/sep/footer are Python expressions, peritem a raw
 * %-format string, sort_keyfunc (default: by accountname, foldername)
 * and folderfilter (accountname, foldername) -> bool Python callables with
 * `re`. Everything Python is evaluated by real Python (common/pyeval.h);
 * a disabled or missing [mbnames] never starts it.
 *
 * When: an account's JSON is written once its folders are synced (only
 * folders the mbnames folderfilter accepts; nothing when no folder was
 * synced); with incremental = yes the file is rewritten right after, else
 * once at the end of the run (mbnames_write).
 *
 * Deliberate differences from OfflineIMAP, each fixing one of its defects:
 *   - with autorefresh and incremental = no the file is written after
 *     every round (OfflineIMAP writes it only when the program exits);
 *   - a section with enabled = no is not evaluated (OfflineIMAP still
 *     evals header/sep/footer and fails on a missing one);
 *   - --mbnames-prune compares account names whole (OfflineIMAP tests
 *     `name in "<accounts string>"`, so a pruned "Wor" survives
 *     accounts = Work);
 *   - an account's JSON lists the folders of its latest sync
 *     (OfflineIMAP's list only grows while the process runs, so a folder
 *     deleted on the server stays listed until it restarts);
 *   - the JSON files are replaced by rename and the mbnames file written
 *     under a lock on the mbnames directory, so accounts synced in
 *     parallel (maxsyncaccounts) never lose each other's entries; the
 *     mbnames file itself is rewritten in place (a symlink stays one).
 */
#ifndef OFFLINEFS_MBNAMES_H
#define OFFLINEFS_MBNAMES_H

#include <stdbool.h>

#include "common/config.h"
#include "sync/account.h"

struct mbnames;

/* Reads [mbnames] and, when enabled, evaluates header, sep, footer and
 * defines folderfilter / sort_keyfunc in Python (so a Python error is
 * reported before anything is touched). *mb_r is NULL when there is no
 * section or enabled = no. Returns 0, or -1 with a one-line *error_r
 * (malloc'd) "file:line: option 'header' in section 'mbnames': NameError:
 * ...". */
int mbnames_load(const struct config *cfg, bool dry_run, struct mbnames **mb_r, char **error_r);
void mbnames_free(struct mbnames **mb);

/* An account's folders were synced (struct sync_request.after_folders;
 * ctx is the struct mbnames): writes its JSON with the local folder names
 * the folderfilter accepts (duplicates dropped, order kept) and, with
 * incremental, the mbnames file. Errors are logged. */
void mbnames_after_folders(void *ctx, const struct account_settings *a,
			   const struct strlist *local_names);

/* Writes the mbnames file from every JSON when incremental = no (the end
 * of a run or autorefresh round); with incremental = yes does nothing
 * (the file was written after each account). Errors are logged; returns
 * 0 or -1. */
int mbnames_write(struct mbnames *mb);

/* --mbnames-prune: with mbnames enabled, deletes the JSON of every account
 * not in [general] accounts, then writes the file (non-incremental, as
 * OfflineIMAP); disabled, deletes every JSON. Logs each file removed, or
 * "no cache file to remove". Returns 0 or -1 (errors logged). */
int mbnames_prune(const struct config *cfg, struct mbnames *mb, bool dry_run);

/* Python's json.dumps(items) (ensure_ascii, ", " and ": ") of the items
 * {accountname, foldername, localfolders} for each of names[0..n):
 * malloc'd. Pure, for unit tests. */
char *mbnames_json(const char *account, const char *localfolders, const char *const *names,
		   size_t n);

#endif
