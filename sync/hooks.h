/* hooks.h — [Account] presynchook / postsynchook, as OfflineIMAP runs them.
 *
 * Owns: running a hook command and logging what it did, with OfflineIMAP's
 * semantics (offlineimap3 accounts.py callhook, reference offlineimap.md
 * §6.1):
 *   - the command runs through `/bin/sh -c` (Popen shell=True) with the
 *     caller's environment plus OFFLINEIMAPSYNCMODE=full|quick|idle (what
 *     OfflineIMAP 8.0.1 adds), stdin a pipe closed at once (EOF), stdout
 *     and stderr captured, every other descriptor closed (close_fds);
 *   - it is blocking: the sync waits for it;
 *   - "Calling hook: CMD" is logged before, then, once it has exited,
 *     "Hook stdout: OUT\nHook stderr:ERR\n" and "Hook return code: N"
 *     (N negative for a signal, as Python reports it);
 *   - the return code is only logged, never an error: a failing
 *     presynchook does not stop the sync, a failing postsynchook does not
 *     change the exit status;
 *   - in dry-run only "[DRYRUN] Calling hook: CMD" is logged;
 *   - nothing runs once an immediate stop (SIGTERM, SIGINT, SIGHUP) was
 *     requested (hooks_abort_now).
 * When they run is the engine's business (sync/engine.c): presynchook
 * after the account lock is taken and before connecting; postsynchook
 * after the connections are closed and before the lock is released, and
 * only when the account sync got as far as syncing its folders (a failed
 * login, lock or listing skips it, as an exception in OfflineIMAP's
 * __sync does; errors inside folders do not).
 */
#ifndef OFFLINEFS_HOOKS_H
#define OFFLINEFS_HOOKS_H

#include <stdbool.h>

enum hook_mode {
	HOOK_MODE_FULL,
	HOOK_MODE_QUICK,
	HOOK_MODE_IDLE, /* around a folder sync started by IDLE */
};

/* Runs cmd (NULL or "" does nothing) and logs as described above. Returns
 * the hook's exit status (>= 0), minus the signal number when a signal
 * ended it, or -256 when it did not run (empty, dry-run, stop requested,
 * or it could not be started: that last case is logged as an error, as
 * OfflineIMAP's "Calling hook" error). */
int hooks_run(const char *cmd, enum hook_mode mode, bool dry_run);

/* Marks an immediate stop: no hook runs after it. Async-signal-safe. */
void hooks_abort_now(void);

#endif
