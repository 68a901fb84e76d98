/* signals.h — the signals of a one-shot or autorefresh run (offlineimap(1),
 * UNIX SIGNALS), each logged as it arrives:
 *   SIGUSR1  sync every account now (ends the autorefresh wait);
 *   SIGUSR2  exit after the current sync (the running round finishes, no
 *            other starts);
 *   SIGTERM, SIGHUP, SIGINT  stop gracefully: the folders being synced
 *            finish, no other folder or account starts (sync/stop.h); a
 *            second one of these stops at once (SIGINT: killed by SIGINT,
 *            the others: exit status 1);
 *   SIGQUIT  stop at once with a core dump (what SIGQUIT does by default;
 *            OfflineIMAP also prints its threads' stacks).
 * The account processes of maxsyncaccounts > 1 get SIGTERM from here on a
 * graceful stop, SIGKILL on an immediate one and SIGQUIT on SIGQUIT; they
 * ignore SIGINT (a Ctrl-C reaches this process, which passes it on once).
 *
 * Owns: the taking of these signals with sigwaitinfo, never in a handler
 * (so the sync's threads are never interrupted and the log calls are made
 * on an ordinary thread), the flags they set, and the table of account
 * processes, kept so that a signal is never sent to a pid already reaped.
 */
#ifndef OFFLINEFS_TOOLS_SIGNALS_H
#define OFFLINEFS_TOOLS_SIGNALS_H

#include <stdbool.h>
#include <sys/types.h>

/* Blocks the signals above in the calling thread (so in every thread
 * created after it). own_thread: starts the thread that handles them (a
 * sequential run, whose main thread is busy syncing). Otherwise (the
 * parent of account processes) signals_reap and signals_wait take them on
 * the calling thread, so that the parent has no other thread when it
 * forks (a fork beside a running thread inherits whatever lock that
 * thread holds: seen as hung children under ASan). Call once, before any
 * other thread exists. */
void signals_start(bool own_thread);

/* A graceful stop was asked (SIGTERM, SIGHUP, SIGINT). */
bool signals_stopping(void);
/* No further autorefresh round: a stop, or SIGUSR2. */
bool signals_last_round(void);

/* The autorefresh wait: returns after `seconds`, or at once on SIGUSR1,
 * SIGUSR2 or a stop. Calls ui_tick() and tick(ctx) (NULL-able) about once
 * a second. */
void signals_wait(double seconds, void (*tick)(void *ctx), void *ctx);

/* For a wait of the caller's own (sync/idlewatch.h): true once SIGUSR1,
 * SIGUSR2 or a stop arrived; signals_wake_clear() then forgets SIGUSR1, as
 * signals_wait does when it returns. Only with signals_start(true). */
bool signals_sleep_over(void);
void signals_wake_clear(void);

/* fork() for an account process, with the child table locked: in the
 * parent the child is recorded (returns its pid); in the child the
 * signals are set up for an account process (returns 0). Returns -2
 * without forking once a stop was asked, -1 with errno when fork fails. */
pid_t signals_fork(void);
/* Waits for an account process to end and removes it from the table.
 * Returns its pid with *status_r, or -1 with errno. */
pid_t signals_reap(int *status_r);
/* Whether the run was interrupted by SIGINT (children then killed by it
 * are not reported as errors). */
bool signals_interrupted(void);

#endif
