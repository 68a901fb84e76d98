#include "sync/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/ui.h"
#include "common/xalloc.h"

extern char **environ;

static volatile sig_atomic_t abort_now;

void hooks_abort_now(void)
{
	abort_now = 1;
}

static const char *mode_name(enum hook_mode mode)
{
	return mode == HOOK_MODE_QUICK ? "quick" : mode == HOOK_MODE_IDLE ? "idle" : "full";
}

/* The environment for the hook: ours with OFFLINEIMAPSYNCMODE set. Built
 * before fork, so the child only calls async-signal-safe functions (other
 * threads may hold the allocator's lock). The strings are borrowed except
 * the last; free with free_env. */
static char **hook_env(enum hook_mode mode, char **mine_r)
{
	static const char key[] = "OFFLINEIMAPSYNCMODE=";
	size_t n = 0;
	while (environ && environ[n])
		n++;
	char **env = xcalloc(n + 2, sizeof(*env));
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], key, sizeof(key) - 1) != 0)
			env[k++] = environ[i];
	*mine_r = xasprintf("%s%s", key, mode_name(mode));
	env[k++] = *mine_r;
	env[k] = NULL;
	return env;
}

/* Reads both pipes to EOF (the hook may fill either first). */
static void drain(int out_fd, int err_fd, struct strbuf *out, struct strbuf *err)
{
	struct pollfd p[2] = { { .fd = out_fd, .events = POLLIN }, { .fd = err_fd, .events = POLLIN } };
	struct strbuf *sb[2] = { out, err };
	int open_fds = 2;
	while (open_fds > 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			char buf[4096];
			ssize_t got = read(p[i].fd, buf, sizeof(buf));
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				p[i].fd = -1;
				open_fds--;
				continue;
			}
			sb_add(sb[i], buf, (size_t)got);
		}
	}
}

/* An info line of OfflineIMAP's callhook (machineui: `callhook`). */
static void PRINTF_LIKE(1, 2) hook_line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = xvasprintf(fmt, ap);
	va_end(ap);
	ui_ev_hook(text);
	free(text);
}

int hooks_run(const char *cmd, enum hook_mode mode, bool dry_run)
{
	if (abort_now || !cmd || !*cmd)
		return -256;
	if (dry_run) {
		hook_line("[DRYRUN] Calling hook: %s", cmd);
		return -256;
	}
	hook_line("Calling hook: %s", cmd);

	int in[2], out[2], err[2];
	if (pipe2(in, O_CLOEXEC) < 0) {
		log_error("Calling hook: %s: %s", cmd, strerror(errno));
		return -256;
	}
	if (pipe2(out, O_CLOEXEC) < 0) {
		log_error("Calling hook: %s: %s", cmd, strerror(errno));
		close(in[0]);
		close(in[1]);
		return -256;
	}
	if (pipe2(err, O_CLOEXEC) < 0) {
		log_error("Calling hook: %s: %s", cmd, strerror(errno));
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		return -256;
	}
	char *mine = NULL;
	char **env = hook_env(mode, &mine);
	char *const argv[] = { "sh", "-c", (char *)cmd, NULL };
	pid_t pid = fork();
	if (pid == 0) {
		/* The child: dup2 clears close-on-exec on 0, 1, 2; every other
		 * descriptor (the account lock, sqlite, sockets) is closed. The
		 * signal mask and SIGPIPE are reset: the account child of
		 * maxsyncaccounts runs with the stop signals blocked. */
		if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
			_exit(127);
		if (close_range(3, ~0U, 0) < 0)
			for (int fd = 3; fd < 65536; fd++)
				close(fd);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execve("/bin/sh", argv, env);
		_exit(127);
	}
	int saved = errno;
	free(env);
	free(mine);
	close(in[0]);
	close(out[1]);
	close(err[1]);
	if (pid < 0) {
		log_error("Calling hook: %s: cannot start it: %s", cmd, strerror(saved));
		close(in[1]);
		close(out[0]);
		close(err[0]);
		return -256;
	}
	close(in[1]); /* communicate() with no input: the hook reads EOF */
	struct strbuf o = STRBUF_INIT, e = STRBUF_INIT;
	drain(out[0], err[0], &o, &e);
	close(out[0]);
	close(err[0]);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int rc = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -256;
	/* OfflineIMAP's two messages, verbatim (stdout and stderr decoded
	 * as text and printed whole, even when empty). */
	hook_line("Hook stdout: %s\nHook stderr:%s\n", sb_str(&o), sb_str(&e));
	hook_line("Hook return code: %d", rc);
	sb_free(&o);
	sb_free(&e);
	return rc;
}
