/* maildir.h — the local Maildir repository (struct repo back-end).
 *
 * Owns: everything under localfolders: folder discovery and creation,
 * scanning new/ and cur/, writing messages (tmp -> fsync -> rename), flag
 * renames, deletion, and giving uploaded messages their U= name.
 * Behaviour follows OfflineIMAP (see ../shared/reference/offlineimap.md
 * §2): folders are directories holding cur/ new/ tmp/ (created 0700);
 * with sep '/' scanning is recursive, otherwise only the root's first-level
 * subdirectories (and the root itself, as folder "", when it has
 * cur/new/tmp) are folders; entries starting with '.' are ignored (note:
 * OfflineIMAP does list Maildir++ style ".Sent" directories; we do not,
 * but create_folder(".Sent") works, so a nametrans mapping remote folders
 * onto them still syncs). Symlinked directories are followed; a directory
 * loop is reported and not descended.
 *
 * list_messages: one readdir of new/ and one of cur/; no per-file stat
 * unless need_sizes (then size and time = mtime are filled, else 0). A
 * message whose U= is already taken by another file in the same folder is
 * reported with uid 0 (a copy: uploaded as new); the first one seen (new/
 * before cur/, then directory order) keeps the UID. (OfflineIMAP instead
 * lets the last one win and ignores the others.)
 *
 * Keys are "new/<name>" or "cur/<name>", relative to the folder directory.
 *
 * Mail readers may rename files at any time (mbsync-like robustness):
 *  - list_messages rescans (up to 5 times) when new/ or cur/ changed while
 *    it read them, and reports a base name (the name before ":2,") seen
 *    in both only once, at its later place;
 *  - set_flags, set_uid, delete_messages, read_body and fetch: on ENOENT
 *    they look for the same base in new/ and cur/ and retry once. set_flags
 *    then applies only the flags it changes to the reader's name (a flag
 *    the reader set meanwhile stays; msgs[i]->flags reports the result, so
 *    it may differ from new_flags[i]); set_uid keeps the reader's flags and
 *    subdirectory. A message gone for good: delete is OK, fetch skips it,
 *    the others return REPO_MSG_BAD ("...: message vanished").
 *
 * Writes never replace an existing file (renameat2 RENAME_NOREPLACE, else
 * check then rename), so a name clash retries with the next seq. With
 * fsync, store writes the file in tmp/ and starts its writeback, and its
 * fdatasync and rename wait for a batch (up to 64 files, or flush): one
 * journal commit for the batch instead of one per message, and still
 * never a name in new/ or cur/ over data not on disk. Every other call on
 * the folder publishes the batch first, so it sees what store returned
 * (the name may differ from the key store gave when it was taken
 * meanwhile; only the UID and flags count). store and set_uid mark the
 * directory they renamed into; flush (also run by close_folder and
 * select_folder) fsyncs the marked directories once, so callers make a
 * whole batch of renames durable with one or two fsyncs before writing
 * the status rows that point at them. A stored file that could not be
 * synced or renamed is removed from tmp/ and makes the next flush fail
 * (even if another call published it), so the rows of that batch are
 * never committed over a missing file.
 *
 * store, store_file with name_from_date: "<time>_<seq>" of the name is
 * the message's Date: (else Delivery-date:) as OfflineIMAP computes it
 * (cache/mail_date.h), seq counting per such time; with mtime_from_date
 * the Date: replaces `time` as the mtime. Both read only the header block
 * (store_file: its first 64 KiB).
 *
 * store: the file is created 0600 (mail is private; OfflineIMAP's 0666 &
 * ~umask gives 0644). time > 0 sets the file's mtime (and atime) to it, so
 * read_body returns it back as the INTERNALDATE; pass 0 to keep the write
 * time (OfflineIMAP's default). uid 0 writes a name without ",U=".
 * ENOSPC/EDQUOT while writing is REPO_STORE_BAD, other write errors
 * REPO_MSG_BAD, a folder that cannot take files REPO_FOLDER_BAD.
 *
 * select_folder: uidvalidity is 42 (OfflineIMAP's constant), exists 0
 * (the folder is not counted until list_messages), uidnext and
 * highestmodseq 0. for_write is ignored.
 *
 * Errors: one line naming the folder and file, e.g.
 * "Maildir[INBOX]: cur/1795648861_0.13031.vm,U=1,...:2,S: rename: Permission denied".
 * Debug traces under -d maildir (LOG_DBG_MAILDIR).
 */
#ifndef OFFLINEFS_MAILDIR_H
#define OFFLINEFS_MAILDIR_H

#include <stdbool.h>

#include "common/repo.h"

/* Told after every change this repository made to the Maildir, so a live
 * mount can invalidate the kernel's caches (docs/mount.md). folder is the
 * local folder name; subdirs are "new" or "cur"; all strings are borrowed
 * for the call. One call per change, after it succeeded:
 *   store:                    old_* NULL, new_* the file written
 *   set_flags, set_uid:       old_* and new_* (the file's name before/after)
 *   delete_messages:          old_* the file unlinked, new_* NULL
 *   create_folder:            all four NULL (the folder's directories exist)
 * Called on the thread that called the repository, with no lock held by
 * it; it must not call back into the repository. */
typedef void maildir_change_fn(void *ctx, const char *folder, const char *old_subdir,
			       const char *old_name, const char *new_subdir, const char *new_name);

struct maildir_settings {
	const char *root;  /* borrowed; localfolders, already ~/$VAR-expanded */
	char sep;          /* hierarchy separator of local folder names */
	char infosep;      /* ':' (or '!' with maildir-windows-compatible) */
	bool fsync;        /* fsync each message file before its rename */
	bool need_sizes;   /* stat files in list_messages to fill size */
	bool create_root;  /* create root (0700) on connect if missing */
	bool name_from_date;  /* filename_use_mail_timestamp: store names the
			       * file after the Date: header (else
			       * Delivery-date:, else now), see below */
	bool mtime_from_date; /* utime_from_header: store sets the mtime from
			       * the Date: header when it parses */
	maildir_change_fn *on_change; /* NULL-able, see above */
	void *change_ctx;  /* borrowed; passed to on_change */
	/* NULL-able: the name whose md5 is a folder's FMD5 (malloc'd), NULL
	 * for the folder name itself. OfflineIMAP hashes the local nametrans'
	 * visible name (sync/folder_map.h folder_map_fmd5_name). */
	char *(*fmd5_name)(void *ctx, const char *folder);
	void *fmd5_ctx;    /* borrowed; passed to fmd5_name */
};

/* name: the [Repository <name>] this is. Never fails; problems with root
 * surface from connect(). */
struct repo *maildir_repo_new(const char *name, const struct maildir_settings *s);

/* Absolute directory of a local folder (malloc'd). */
char *maildir_folder_dir(struct repo *r, const char *local_folder);

/* OfflineIMAP's --migrate-fmd5-using-nametrans for one folder: every file
 * in new/ and cur/ whose name carries ",FMD5=<old_md5>" is renamed to carry
 * new_md5 instead (never replacing a file; each directory fsynced after);
 * a file with neither is warned about ("Inconsistent FMD5 ..."), one
 * without FMD5 left alone. dry_run only logs. Adds the renames to
 * *renamed_r. Returns 0, or -1 with *error_r (malloc'd) at the first
 * failed rename. */
int maildir_migrate_fmd5(struct repo *r, const char *folder, const char *old_md5,
			 const char *new_md5, bool dry_run, size_t *renamed_r, char **error_r);

#endif
