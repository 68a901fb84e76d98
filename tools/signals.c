/* signals.c — see signals.h. */
#include "tools/signals.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/ui.h"
#include "sync/hooks.h"
#include "sync/stop.h"

static pthread_mutex_t sig_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t sig_cond = PTHREAD_COND_INITIALIZER;
static bool stopping, last_round, wake, interrupted;
static int graceful_count;
static bool is_child;
static bool threaded; /* a signal thread takes them (else signals_reap/wait do) */

/* account processes, under sig_lock */
static pid_t *kids;
static size_t n_kids, cap_kids;

static void signal_kids_locked(int sig)
{
	for (size_t i = 0; i < n_kids; i++) {
		log_debug(LOG_DBG_THREAD, "signal %d (%s) to account process %ld", sig, strsignal(sig),
			  (long)kids[i]);
		kill(kids[i], sig);
	}
}

static void handled_set(sigset_t *set, bool child)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGQUIT);
	if (!child) {
		sigaddset(set, SIGINT);
		sigaddset(set, SIGUSR1);
		sigaddset(set, SIGUSR2);
	}
}

/* Dies of sig as if nobody caught it. */
static void die_of(int sig)
{
	ui_stop(sig == SIGQUIT ? 131 : 1);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(sig, &sa, NULL);
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	raise(sig);
	_exit(1);
}

/* The flags are set first, under sig_lock; the log line comes after,
 * outside it: it may have to wait for the console, the stop must not. */
static void on_signal(int sig)
{
	const char *name = sig == SIGTERM ? "SIGTERM" : sig == SIGHUP ? "SIGHUP" :
			   sig == SIGINT ? "SIGINT" : sig == SIGQUIT ? "SIGQUIT" :
			   sig == SIGUSR1 ? "SIGUSR1" : "SIGUSR2";
	bool first = false, immediate = false;
	pthread_mutex_lock(&sig_lock);
	switch (sig) {
	case SIGUSR1:
		first = !wake;
		wake = true;
		break;
	case SIGUSR2:
		first = !last_round;
		last_round = true;
		break;
	case SIGQUIT:
		signal_kids_locked(SIGQUIT);
		immediate = true;
		break;
	default: /* SIGTERM, SIGHUP, SIGINT */
		if (sig == SIGINT)
			interrupted = true;
		if (++graceful_count >= 2) {
			signal_kids_locked(SIGKILL);
			immediate = true;
			break;
		}
		stopping = last_round = true;
		sync_stop_request(name);
		hooks_abort_now(); /* OfflineIMAP's abort-now: no more hooks */
		signal_kids_locked(SIGTERM);
		break;
	}
	pthread_cond_broadcast(&sig_cond);
	pthread_mutex_unlock(&sig_lock);

	if (sig == SIGQUIT) {
		log_warn("Received SIGQUIT: exiting at once with a core dump");
		die_of(SIGQUIT);
	} else if (immediate) {
		log_warn("Received %s again: stopping at once", name);
		if (sig == SIGINT)
			die_of(SIGINT);
		ui_stop(1);
		_exit(1);
	} else if (sig == SIGUSR1) {
		if (first)
			log_info("Received SIGUSR1: syncing every account now");
	} else if (sig == SIGUSR2) {
		if (first)
			log_info("Received SIGUSR2: exiting after the current sync");
	} else {
		log_warn("Received %s: stopping after the folders being synced%s (send it again to "
			 "stop at once)", name, is_child ? "" : "; no other account starts");
	}
}

static void *signal_thread(void *arg)
{
	(void)arg;
	sigset_t set;
	handled_set(&set, is_child);
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig < 0)
			continue; /* EINTR */
		log_debug(LOG_DBG_THREAD, "signal %d (%s) from pid %ld", sig, strsignal(sig),
			  (long)si.si_pid);
		on_signal(sig);
	}
	return NULL;
}

static void start_thread(void)
{
	pthread_t t;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, signal_thread, NULL) != 0)
		log_warn("cannot start the signal thread: signals end offlinefs at once");
	pthread_attr_destroy(&attr);
}

void signals_start(bool own_thread)
{
	sigset_t set;
	handled_set(&set, false);
	if (!own_thread)
		sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	if (own_thread) {
		start_thread();
		threaded = true;
	}
	log_debug(LOG_DBG_THREAD, "signals SIGUSR1, SIGUSR2, SIGTERM, SIGHUP, SIGINT, SIGQUIT "
		  "handled %s", own_thread ? "on their own thread" : "by the main loop");
}

/* Without a signal thread: waits for one of the signals or SIGCHLD (at
 * most *timeout when given) and acts on it. Returns the signal, or -1. */
static int take_signal(const struct timespec *timeout)
{
	sigset_t set;
	handled_set(&set, false);
	sigaddset(&set, SIGCHLD);
	siginfo_t si;
	int sig = timeout ? sigtimedwait(&set, &si, timeout) : sigwaitinfo(&set, &si);
	if (sig > 0 && sig != SIGCHLD) {
		log_debug(LOG_DBG_THREAD, "signal %d (%s) from pid %ld", sig, strsignal(sig),
			  (long)si.si_pid);
		on_signal(sig);
	}
	return sig;
}

bool signals_stopping(void)
{
	pthread_mutex_lock(&sig_lock);
	bool s = stopping;
	pthread_mutex_unlock(&sig_lock);
	return s;
}

bool signals_last_round(void)
{
	pthread_mutex_lock(&sig_lock);
	bool s = last_round;
	pthread_mutex_unlock(&sig_lock);
	return s;
}

bool signals_interrupted(void)
{
	pthread_mutex_lock(&sig_lock);
	bool s = interrupted;
	pthread_mutex_unlock(&sig_lock);
	return s;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

bool signals_sleep_over(void)
{
	pthread_mutex_lock(&sig_lock);
	bool s = wake || last_round;
	pthread_mutex_unlock(&sig_lock);
	return s;
}

void signals_wake_clear(void)
{
	pthread_mutex_lock(&sig_lock);
	wake = false;
	pthread_mutex_unlock(&sig_lock);
}

void signals_wait(double seconds, void (*tick)(void *ctx), void *ctx)
{
	if (!threaded) {
		double end = mono_now() + seconds;
		for (;;) {
			pthread_mutex_lock(&sig_lock);
			bool done = wake || last_round;
			wake = false;
			pthread_mutex_unlock(&sig_lock);
			double left = end - mono_now();
			if (done || left <= 0)
				return;
			if (left > 1)
				left = 1;
			struct timespec t = { .tv_sec = (time_t)left,
					      .tv_nsec = (long)((left - (double)(time_t)left) * 1e9) };
			take_signal(&t);
			ui_tick();
			if (tick)
				tick(ctx);
		}
	}
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	double whole = (double)(time_t)seconds;
	end.tv_sec += (time_t)seconds;
	end.tv_nsec += (long)((seconds - whole) * 1e9);
	if (end.tv_nsec >= 1000000000L) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&sig_lock);
	while (!wake && !last_round) {
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec || (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec))
			break;
		/* the condition variable runs on CLOCK_REALTIME: wait one
		 * second at most, then look at the monotonic clock again */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		pthread_cond_timedwait(&sig_cond, &sig_lock, &until);
		pthread_mutex_unlock(&sig_lock);
		ui_tick();
		if (tick)
			tick(ctx);
		pthread_mutex_lock(&sig_lock);
	}
	wake = false;
	pthread_mutex_unlock(&sig_lock);
}

/* In a new account process: SIGINT ignored (the parent passes a Ctrl-C on
 * as SIGTERM), SIGUSR1/SIGUSR2 left blocked (the parent acts on them),
 * SIGTERM/SIGHUP/SIGQUIT handled by the child's own signal thread. */
static void child_setup(void)
{
	is_child = true;
	stopping = last_round = wake = interrupted = false;
	graceful_count = 0;
	free(kids);
	kids = NULL;
	n_kids = cap_kids = 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	sigset_t one;
	sigemptyset(&one);
	sigaddset(&one, SIGINT);
	sigaddset(&one, SIGCHLD);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	start_thread();
	threaded = true;
}

pid_t signals_fork(void)
{
	pthread_mutex_lock(&sig_lock);
	if (stopping) {
		pthread_mutex_unlock(&sig_lock);
		return -2;
	}
	if (n_kids == cap_kids) {
		cap_kids = cap_kids ? 2 * cap_kids : 8;
		pid_t *v = realloc(kids, cap_kids * sizeof(*kids));
		if (!v) {
			pthread_mutex_unlock(&sig_lock);
			errno = ENOMEM;
			return -1;
		}
		kids = v;
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* the child: its copy of sig_lock is held by this thread and no
		 * other thread exists here; start afresh */
		pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
		pthread_cond_t fresh_cond = PTHREAD_COND_INITIALIZER;
		sig_lock = fresh;
		sig_cond = fresh_cond;
		child_setup();
		return 0;
	}
	if (pid > 0) {
		kids[n_kids++] = pid;
		log_debug(LOG_DBG_THREAD, "account process %ld started", (long)pid);
	}
	pthread_mutex_unlock(&sig_lock);
	return pid;
}

pid_t signals_reap(int *status_r)
{
	while (!threaded) {
		/* one thread: the account processes' ends and the signals are
		 * both taken here, so no pid is signalled after its reaping */
		pid_t pid = waitpid(-1, status_r, WNOHANG);
		if (pid > 0) {
			for (size_t i = 0; i < n_kids; i++) {
				if (kids[i] == pid) {
					kids[i] = kids[--n_kids];
					break;
				}
			}
			log_debug(LOG_DBG_THREAD, "account process %ld ended", (long)pid);
			return pid;
		}
		if (pid < 0)
			return -1;
		take_signal(NULL);
	}
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof(si));
		/* learn which child ended without reaping it: until it is
		 * reaped below, under the lock, its pid cannot be reused */
		if (waitid(P_ALL, 0, &si, WEXITED | WNOWAIT) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		pthread_mutex_lock(&sig_lock);
		pid_t pid = waitpid(si.si_pid, status_r, 0);
		for (size_t i = 0; pid > 0 && i < n_kids; i++) {
			if (kids[i] == pid) {
				kids[i] = kids[--n_kids];
				break;
			}
		}
		if (n_kids == 0) {
			free(kids);
			kids = NULL;
			cap_kids = 0;
		}
		pthread_mutex_unlock(&sig_lock);
		if (pid > 0)
			log_debug(LOG_DBG_THREAD, "account process %ld ended", (long)pid);
		if (pid > 0 || errno != EINTR)
			return pid;
	}
}
