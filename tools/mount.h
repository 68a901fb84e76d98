/* mount.h — `offlinefs mount`: the live FUSE mount of one account.
 *
 * Owns: putting the pieces together for one mounted account, in this order
 * (docs/mount.md "Running it"):
 *   config + account + mount options -> Maildir root and metadata dir
 *   created (0700) -> mountpoint chosen (argument, else the account's
 *   mountpoint option) -> [fork; the parent waits for the child's verdict
 *   and exits with it] -> account lock (a one-shot sync holding it is waited
 *   for up to 30 s; a running mount is refused at once, by pid and
 *   mountpoint) -> outbox observer -> maildir_fs -> live worker ->
 *   mount (a stale mount is refused with the fusermount3 -u hint) ->
 *   threads started with SIGINT/SIGTERM/SIGHUP/SIGUSR1 blocked -> state
 *   file (mount.json, tools/mountstate.h) -> "ready" to the parent, stdio
 *   to /dev/null -> the FUSE loop.
 * Wiring: FUSE events -> outbox observer -> (queued) live_outbox_changed;
 * opendir of a folder's cur/ or new/ -> live_folder_opened; the worker's
 * Maildir changes -> maildir_fs_notify_*; SIGUSR1 -> live_wake.
 * Stop (fusermount3 -u, umount, SIGINT/SIGTERM/SIGHUP): the FUSE loop ends
 * and the mount is detached at once, then live_stop lets the op in progress
 * finish; everything still queued stays in the outbox for the next start.
 * Exit status 0 after such a stop, 1 when the start failed or the session
 * broke.
 */
#ifndef OFFLINEFS_TOOLS_MOUNT_H
#define OFFLINEFS_TOOLS_MOUNT_H

/* `offlinefs mount [-c CONF] [-a ACCOUNT] [-f] [-d CATS] [-l FILE]
 * [-k [SECTION:]OPTION=VALUE] [-u UI] [MOUNTPOINT]`; argv[0] is "mount".
 * Returns the exit status. */
int cmd_mount(int argc, char **argv);

#endif
