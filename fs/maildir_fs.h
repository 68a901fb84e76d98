/* maildir_fs.h — the live FUSE mount of an account's Maildir.
 *
 * Owns: the libfuse low-level session that shows a backing directory (the
 * Maildir root, localfolders) at a mountpoint, passthrough style, and the
 * translation of what a mail reader does on the mount (rename, unlink,
 * create, mkdir, rmdir) into Maildir events for an observer. Only fs/
 * includes fuse headers; this header does not, so callers need no fuse
 * flags. Design notes, caching and errno choices: docs/mount.md.
 *
 * Every operation is done on the backing tree first, relative to a file
 * descriptor of the root (openat/renameat2/unlinkat/mkdirat on O_PATH
 * descriptors, never a path string built from user input, never following
 * a symlink): nothing outside the root can be reached through the mount.
 * A FUSE request never waits on the network; the only thing it may wait on
 * is the observer, which must be fast (see struct fs_observer).
 *
 * Life cycle: maildir_fs_new -> maildir_fs_mount -> maildir_fs_run (blocks
 * until unmounted: fusermount3 -u, SIGINT/SIGTERM/SIGHUP, or
 * maildir_fs_unmount from another thread) -> maildir_fs_free. The
 * maildir_fs_notify_* functions may be called from any thread that is not
 * serving a FUSE request, between mount and free.
 */
#ifndef OFFLINEFS_MAILDIR_FS_H
#define OFFLINEFS_MAILDIR_FS_H

#include <stdbool.h>

/* Maildir events, delivered synchronously by the FUSE thread that served
 * the request: after the backing operation succeeded and before the reply
 * to the kernel, so when the mail reader's rename()/unlink()/close() call
 * returns, the observer has already seen the event.
 *
 * Names: `folder` is the folder directory relative to the root ("INBOX",
 * "Lists.foo", "a/b"; "" when the root itself is a Maildir), exactly as on
 * disk: mapping to IMAP names (separator, nametrans) is the observer's job.
 * `subdir` is the static string "new" or "cur"; `name` a file name in it.
 * A "message location" is a regular file whose name does not start with
 * '.', in cur/ or new/ of a directory that has cur/, new/ and tmp/
 * subdirectories (a Maildir folder). Files elsewhere (tmp/, non-Maildir
 * directories, dot files) produce no message events.
 *
 * Contract for the observer:
 *  - Fast: a callback runs while the kernel holds the directory locks of
 *    the operation and while this filesystem holds its namespace lock, so
 *    every other rename/unlink/create/mkdir on the mount waits for it.
 *    Record the event (an in-memory queue, one sqlite insert) and return;
 *    never do network I/O here. sshfs's hangs are the lesson.
 *  - Serialized: callbacks are never called concurrently (one namespace
 *    lock), and they arrive in the order the backing changes happened.
 *  - No re-entry: a callback must not touch the mount (deadlock) and must
 *    not wait for a thread that may be inside maildir_fs_notify_*.
 *  - Any callback may be NULL (event ignored). Strings are borrowed for the
 *    duration of the call only.
 *  - Return 0, or a negative errno when the event could not be recorded.
 *    What a failure does is precise:
 *      * message_renamed / message_added / message_unlinked caused by a
 *        rename(2): the rename is undone on the backing tree (renamed back
 *        with RENAME_NOREPLACE) and the mail reader gets EIO, so the local
 *        state still matches what the observer recorded. If it cannot be
 *        undone (the rename replaced an existing file, or the undo itself
 *        fails) the rename stands, the error is logged, and the reader gets
 *        success: the next full sync finds the change by comparing the
 *        Maildir with the status cache.
 *      * message_unlinked caused by unlink(2), message_added at the last
 *        close of a file created in new/ or cur/: cannot be undone (the
 *        file is gone / the mail is the user's); logged, success returned,
 *        the next full sync picks it up.
 *      * folder_*: informational; a failure is logged only.
 */
struct fs_observer {
	void *ctx; /* borrowed; passed back to every callback */

	/* A message moved from one message location to another: a flag change
	 * (same folder and subdir, new name), new/ <-> cur/, or a move to
	 * another folder. If the rename replaced an existing message at the
	 * destination, message_unlinked(to...) is delivered first. */
	int (*message_renamed)(void *ctx, const char *from_folder, const char *from_subdir,
			       const char *from_name, const char *to_folder,
			       const char *to_subdir, const char *to_name);
	/* A message left the Maildir: unlink(2) of a message location, or a
	 * rename from a message location to somewhere that is not one (tmp/,
	 * a dot name, a non-Maildir directory). */
	int (*message_unlinked)(void *ctx, const char *folder, const char *subdir,
				const char *name);
	/* A complete new message appeared: a rename into a message location
	 * from somewhere that is not one (tmp/ -> new/, the usual delivery),
	 * or a file created through the mount directly in new/ or cur/ once
	 * the handle that created it is released (last close; if the file was
	 * renamed meanwhile, at its current place; if it was unlinked or moved
	 * out of the Maildir, no event). */
	int (*message_added)(void *ctx, const char *folder, const char *subdir,
			     const char *name);
	/* A directory became a Maildir folder: it now has cur/, new/ and tmp/
	 * (delivered by the mkdir/rename that completed the set). */
	int (*folder_created)(void *ctx, const char *folder);
	/* A directory stopped being a Maildir folder (rmdir or rename of its
	 * cur/, new/ or tmp/). Informational. */
	int (*folder_removed)(void *ctx, const char *folder);
	/* A directory (other than the cur/new/tmp of a folder) was renamed:
	 * every folder at or below `from` (from, from/...) is now at or below
	 * `to`. Delivered whether or not `from` itself is a folder, because it
	 * may hold nested ones. If NULL, folder_removed(from) and
	 * folder_created(to) are delivered instead when `from` was a folder. */
	int (*folder_renamed)(void *ctx, const char *from, const char *to);

	/* A mail reader opened (opendir) the cur/ or new/ directory of a folder
	 * through the mount: it opened the mailbox, or is polling it for new
	 * mail. Unlike the callbacks above it runs WITHOUT the namespace lock,
	 * possibly on several FUSE threads at once, and may come many times a
	 * second for the same folder (once per directory per poll): it must be
	 * thread-safe, non-blocking and cheap (sync/live.h live_folder_opened
	 * is). Informational, so it returns nothing. The other contract points
	 * hold: no network, no re-entry into the mount. */
	void (*folder_opened)(void *ctx, const char *folder);
};

struct maildir_fs_options {
	/* Kernel cache lifetimes in seconds. Names and file attributes only
	 * change through the mount or through maildir_fs_notify_*, so they can
	 * be long; directory attributes (mtime is how mail readers notice new
	 * mail) are short as a safety net for changes nobody notified. */
	double entry_timeout;    /* default 86400 */
	double attr_timeout;     /* files and symlinks; default 86400 */
	double dir_attr_timeout; /* directories; default 1 */
	bool keep_cache;         /* page cache kept across opens; default true */
	bool readdirplus;        /* answer READDIRPLUS; default true */
	unsigned max_threads;    /* FUSE worker threads; default 8 */
	bool nonempty;           /* allow a non-empty mountpoint; default false */
	bool signals;            /* SIGINT/SIGTERM/SIGHUP unmount; default true */
	bool debug;              /* libfuse request trace (-d); default false */
	const char *subtype;     /* borrowed; mount type "fuse.<subtype>";
				  * default "offlinefs" */
};

/* Fills *opt with the defaults above. */
void maildir_fs_options_default(struct maildir_fs_options *opt);

struct maildir_fs;

/* Opens backing_root (must be an existing directory; symlinks in it are
 * resolved once, here). obs is copied (its ctx stays borrowed); NULL means
 * no observer. opt NULL means defaults. Returns NULL with *error_r
 * (malloc'd) on failure. */
struct maildir_fs *maildir_fs_new(const char *backing_root, const struct fs_observer *obs,
				  const struct maildir_fs_options *opt, char **error_r);

/* Mounts at mountpoint: a private mount (no allow_other) with
 * default_permissions, fsname "offlinefs", type fuse.<subtype>. Refuses,
 * with a message in *error_r (malloc'd) and -1:
 *  - a stale mount (stat fails with ENOTCONN): "stale offlinefs mount at X:
 *    run fusermount3 -u X" (or "stale FUSE mount (fuse.T) ..." for another
 *    file system);
 *  - a non-empty directory unless opt->nonempty;
 *  - a mountpoint inside the backing root, or a backing root inside the
 *    mountpoint.
 * Raises RLIMIT_NOFILE to its hard limit (one O_PATH descriptor is held per
 * inode the kernel knows). With foreground false it daemonizes
 * (fuse_daemonize: fork, setsid, chdir /, stdio to /dev/null), so call it
 * before starting any thread. Installs the signal handlers when
 * opt->signals. */
int maildir_fs_mount(struct maildir_fs *fs, const char *mountpoint, bool foreground,
		     char **error_r);

/* Serves requests on a multi-threaded loop until the file system is
 * unmounted (fusermount3 -u, umount, maildir_fs_unmount) or a handled signal
 * arrives, then unmounts if still mounted. Returns 0 on such a clean end,
 * -1 (logged) if the session failed. Files the kernel had not released yet
 * when the loop ended are closed by maildir_fs_free; a message created in
 * new/ or cur/ whose release never arrived gets no message_added (the next
 * full sync finds the file). */
int maildir_fs_run(struct maildir_fs *fs);

/* Asks for the unmount from any thread (not from a FUSE request, not from a
 * signal handler): lazily detaches the mount (umount2 MNT_DETACH, or
 * fusermount3 -u -z when unprivileged). maildir_fs_run returns once files
 * still open on the mount are closed. No-op if not mounted or already
 * requested. */
void maildir_fs_unmount(struct maildir_fs *fs);

/* Unmounts if still mounted, frees everything and sets *fs to NULL. Stop
 * every thread that may call maildir_fs_notify_* first. NULL-safe. */
void maildir_fs_free(struct maildir_fs **fs);

/* Notifications for changes made to the backing tree behind the mount's
 * back (the sync engine writing the Maildir directly). They change nothing
 * on disk; call them AFTER the backing change. They drop the kernel's
 * cached names and the cached attributes (mtime) of the directories
 * involved, so the change is visible on the mount at once and a mail reader
 * polling the mtime of new/ or cur/ notices it.
 *
 * Call from a thread that is not serving a FUSE request and that holds no
 * lock an observer callback may wait for: the kernel takes the directory's
 * lock to invalidate an entry, and a FUSE request holding that lock may be
 * inside an observer callback (libfuse doc/README.notifications: deadlock).
 *
 * Return 0 (also when the kernel had nothing cached, or the file system is
 * not mounted), or a negative errno (logged at debug level). */
int maildir_fs_notify_renamed(struct maildir_fs *fs, const char *folder, const char *old_subdir,
			      const char *old_name, const char *new_subdir, const char *new_name);
int maildir_fs_notify_added(struct maildir_fs *fs, const char *folder, const char *subdir,
			    const char *name);
int maildir_fs_notify_removed(struct maildir_fs *fs, const char *folder, const char *subdir,
			      const char *name);
/* A folder directory appeared, disappeared or was renamed behind the
 * mount's back: drops the cached entry of the directory in its parent and
 * the parent's attributes. */
int maildir_fs_notify_folder(struct maildir_fs *fs, const char *folder);

#endif
