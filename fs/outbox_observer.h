/* outbox_observer.h — the observer that turns a mail reader's changes on
 * the mount into outbox operations (cache/outbox.h).
 *
 * Owns: the rules that map FUSE events (fs/maildir_fs.h) to queued IMAP
 * work. Each event costs at most one sqlite transaction on the observer's
 * own connection to the status DB (a name lookup and one INSERT), and then
 * a call of `queued` so the worker (sync/live.c, live_outbox_changed) starts
 * draining. It never touches the network.
 *
 * A file's UID, in folder F with base name B (the name before ":2,"): the
 * names row (F, B) when there is one, else the ",U=" of its name when the
 * ",FMD5=" is F's md5 (maildir_folder_md5 of F, or of fmd5_name(F)), else none (a message not
 * uploaded yet). Folder names are local names as on disk.
 *
 *   message_renamed, same folder (flag change, new <-> cur):
 *       UID  -> FLAGS(F, uid, new flags, new base); skipped when neither the
 *               flags nor the base changed (new/ -> cur/ only). When the
 *               base changed, the names table follows the file.
 *       none -> nothing; but APPEND(F, new base) when the base changed
 *               (the queued APPEND looks the file up by its old base)
 *   message_renamed, across folders:
 *       UID  -> MOVE(src, uid, dst, dst base, flags)
 *       none -> APPEND(dst, dst base, flags) (the source's queued APPEND
 *               finds no file and is dropped)
 *   message_unlinked:  UID -> DELETE(F, uid); none -> nothing
 *   message_added:     none -> APPEND(F, base, flags); UID -> nothing (a
 *               file that already carries this folder's UID is a restore
 *               of a known message; the next full sync settles any doubt)
 *   folder_created:    CREATE(F)
 *   folder_removed, folder_renamed: logged only; folders are never
 *               deleted or renamed on the server by a sync.
 *
 * A callback that cannot record its event returns -EIO (the FUSE layer then
 * undoes a rename, see docs/mount.md) and logs why.
 *
 * Threading: the FUSE layer serialises callbacks; the observer also holds
 * its own mutex, so it may be driven from any thread.
 */
#ifndef OFFLINEFS_OUTBOX_OBSERVER_H
#define OFFLINEFS_OUTBOX_OBSERVER_H

#include <stdbool.h>

#include "fs/maildir_fs.h"

/* Called after an op was queued, on the observer's thread. Must be fast
 * and must not block (live_outbox_changed is). */
typedef void outbox_queued_fn(void *ctx);

struct outbox_observer_settings {
	const char *db_path;        /* borrowed; the account's status DB
				     * (sync_status_db_path) */
	bool fsync;                 /* synchronous=FULL, as [general] fsync */
	char infosep;               /* ':' (0 = ':') */
	outbox_queued_fn *queued;   /* NULL-able */
	void *queued_ctx;           /* borrowed */
	/* NULL-able: the name a folder's FMD5 hashes, as struct
	 * maildir_settings' fmd5_name (a local nametrans changes it) */
	char *(*fmd5_name)(void *ctx, const char *folder);
	void *fmd5_ctx;             /* borrowed */
};

struct outbox_observer;

/* Opens its own connection to the status DB (creating the tables when
 * missing). NULL with *error_r (malloc'd) on failure. */
struct outbox_observer *outbox_observer_new(const struct outbox_observer_settings *s,
					    char **error_r);
/* Fills *obs with the callbacks, bound to o (o must outlive the mount). */
void outbox_observer_bind(struct outbox_observer *o, struct fs_observer *obs_r);
void outbox_observer_free(struct outbox_observer **o);

#endif
