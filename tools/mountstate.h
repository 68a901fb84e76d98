/* mountstate.h — what a running `offlinefs mount` tells other processes.
 *
 * Owns: <metadata>/Account-<name>/mount.json, a small JSON object the mount
 * daemon rewrites (write to a temporary file, rename) whenever its state
 * changes, and removes when it stops cleanly:
 *   {"pid": 1234, "account": "A", "mountpoint": "/home/u/mail",
 *    "maildir": "/home/u/Mail", "started": 1700000000, "updated": ...,
 *    "connected": true, "last_error": null, "last_full_sync": 1700000000,
 *    "queued": 0, "backoff_seconds": 0}
 * Times are unix seconds (0 = never). `offlinefs status` reads it; so does
 * `offlinefs -o`, to refuse with a message naming the mount.
 *
 * The file alone proves nothing (a daemon killed with -9 leaves it): a mount
 * is running when the pid it names is alive AND holds the account lock
 * (cache/lock.h; asked with fcntl F_GETLK, which names the holder's pid
 * without taking or changing anything, also for OfflineIMAP's lock).
 */
#ifndef OFFLINEFS_TOOLS_MOUNTSTATE_H
#define OFFLINEFS_TOOLS_MOUNTSTATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "sync/account.h"

struct mount_state {
	pid_t pid;
	char *account;        /* owned */
	char *mountpoint;     /* owned */
	char *maildir;        /* owned */
	int64_t started;
	int64_t updated;
	bool connected;
	char *last_error;     /* owned; NULL = none */
	int64_t last_full_sync;
	uint64_t queued;
	unsigned backoff_seconds;
};

/* <metadata>/Account-<name>/mount.json. malloc'd. */
char *mount_state_path(const struct account_settings *a);

/* Writes st to path atomically (path.tmp, then rename; no fsync: it is
 * rewritten every few seconds and means nothing after a crash), mode 0600.
 * Returns 0, or -1 with *error_r (malloc'd). */
int mount_state_write(const char *path, const struct mount_state *st, char **error_r);
/* Reads path. Returns 1 and fills *st_r, 0 when the file does not exist,
 * -1 with *error_r (malloc'd) when it cannot be read or parsed. Unknown
 * keys are ignored. */
int mount_state_read(const char *path, struct mount_state *st_r, char **error_r);
void mount_state_clear(struct mount_state *st);
/* JSON text of st (for the writer and tests). malloc'd. Pure. */
char *mount_state_json(const struct mount_state *st);
/* Parses text as written by mount_state_json. Returns 0 or -1. Pure. */
int mount_state_parse(const char *text, struct mount_state *st_r);

/* The pid holding <metadata>/<account>.lock, 0 when nobody does (or the
 * file does not exist), -1 when it cannot be asked. */
pid_t account_lock_holder(const char *metadata, const char *account);
/* Whether pid exists (kill 0; EPERM counts as alive). */
bool pid_alive(pid_t pid);
/* Its command line, blanks between arguments, values of arguments that
 * look like passwords ("...pass...=x") replaced by "<redacted>", cut at
 * 160 characters; malloc'd, or NULL when unknown. */
char *process_cmdline(pid_t pid);

/* 1 with *st_r filled when the account's mount.json names a live process
 * that holds the account lock; 0 otherwise (*st_r cleared, but st_r->pid
 * and st_r->mountpoint kept from a stale file so callers can say so). */
int mount_running(const struct account_settings *a, struct mount_state *st_r);

/* The file system type mounted exactly at path ("fuse.offlinefs"), from
 * /proc/self/mountinfo; malloc'd, NULL when nothing is mounted there. */
char *mount_type_at(const char *path);

#endif
