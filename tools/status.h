/* status.h — `offlinefs status`: what a mounted (or not) account is doing.
 *
 * Owns: the report, read from other processes' files only (it never
 * connects to the server and never writes anything):
 *   - the mount: mount.json (tools/mountstate.h) checked against the lock
 *     holder and /proc/self/mountinfo: running (pid, mountpoint), not
 *     mounted, or a stale mount / a dead daemon with the fix to run;
 *   - who holds the account lock when it is not the mount (a one-shot sync);
 *   - the connection as the running mount last saw it: online, or offline
 *     with the last error and the retry delay; the last full sync;
 *   - per folder, the last completed sync (status DB, folders table);
 *   - the pending upstream operations (the outbox), oldest first, with
 *     their failures: "N operations queued".
 */
#ifndef OFFLINEFS_TOOLS_STATUS_H
#define OFFLINEFS_TOOLS_STATUS_H

/* `offlinefs status [-c CONF] [-a ACCOUNT]`; argv[0] is "status".
 * Returns the exit status: 0, or 1 when the config or account is bad. */
int cmd_status(int argc, char **argv);

#endif
