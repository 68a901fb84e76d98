/* fs_driver.c — mounts a backing directory with maildir_fs and a logging
 * observer, for tests/fs/test_mount.py (and for trying the mount by hand).
 *
 * Usage: fs_driver [options] BACKING MOUNTPOINT    (always in the foreground)
 *   --events FILE      append one line per event, fields separated by tabs:
 *                        message_renamed FOLDER SUB NAME FOLDER SUB NAME
 *                        message_unlinked|message_added FOLDER SUB NAME
 *                        folder_created|folder_removed FOLDER
 *                        folder_renamed FROM TO
 *                      (default: stdout). "" is the root folder.
 *   --control FIFO     read commands from FIFO, one per line, tab-separated:
 *                        renamed FOLDER OLDSUB OLDNAME NEWSUB NEWNAME
 *                        added|removed FOLDER SUB NAME
 *                        folder FOLDER
 *                        unmount
 *                      calling maildir_fs_notify_* / maildir_fs_unmount from
 *                      this (non-FUSE) thread; each is answered by a line
 *                      "ctl COMMAND RESULT" in the events file.
 *   --fail SUBSTR      callbacks return -EIO for events naming SUBSTR and log
 *                      "refused KIND ..." instead of the event
 *   --no-folder-renamed  leave folder_renamed NULL (removed+created fallback)
 *   --nonempty  --entry-timeout S  --attr-timeout S  --dir-attr-timeout S
 *   --max-threads N  --debug (libfuse trace and -d fuse)
 * Exit status: 0 after a clean unmount, 1 on errors, 2 on bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "fs/maildir_fs.h"

static int events_fd = STDOUT_FILENO;
static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *fail_substr;

/* Writes the fields as one tab-separated line with a single write(). */
static void emit(const char *const *fields, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_addc(&sb, '\t');
		sb_adds(&sb, fields[i]);
	}
	sb_addc(&sb, '\n');
	pthread_mutex_lock(&events_lock);
	if (write(events_fd, sb.buf, sb.len) != (ssize_t)sb.len)
		log_warn("fs_driver: writing an event: %s", strerror(errno));
	pthread_mutex_unlock(&events_lock);
	sb_free(&sb);
}

/* fields[0] is the kind; refuses if any other field names fail_substr. */
static int record(const char *const *fields, size_t n)
{
	for (size_t i = 1; fail_substr && i < n; i++) {
		if (strstr(fields[i], fail_substr)) {
			const char *kind = fields[0];
			const char *v[8] = { "refused", kind };
			for (size_t j = 1; j < n && j + 1 < 8; j++)
				v[j + 1] = fields[j];
			emit(v, n + 1);
			return -EIO;
		}
	}
	emit(fields, n);
	return 0;
}

static int on_renamed(void *ctx, const char *ff, const char *fs, const char *fn, const char *tf,
		      const char *ts, const char *tn)
{
	(void)ctx;
	const char *v[] = { "message_renamed", ff, fs, fn, tf, ts, tn };
	return record(v, 7);
}

static int on_unlinked(void *ctx, const char *f, const char *s, const char *n)
{
	(void)ctx;
	const char *v[] = { "message_unlinked", f, s, n };
	return record(v, 4);
}

static int on_added(void *ctx, const char *f, const char *s, const char *n)
{
	(void)ctx;
	const char *v[] = { "message_added", f, s, n };
	return record(v, 4);
}

static int on_folder_created(void *ctx, const char *f)
{
	(void)ctx;
	const char *v[] = { "folder_created", f };
	return record(v, 2);
}

static int on_folder_removed(void *ctx, const char *f)
{
	(void)ctx;
	const char *v[] = { "folder_removed", f };
	return record(v, 2);
}

static int on_folder_renamed(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	const char *v[] = { "folder_renamed", from, to };
	return record(v, 3);
}

struct control {
	struct maildir_fs *fs;
	int fd;
};

/* Splits line at tabs in place; returns the number of fields (<= max). */
static size_t split_tabs(char *line, char **v, size_t max)
{
	size_t n = 0;
	for (char *s = line; n < max;) {
		v[n++] = s;
		char *t = strchr(s, '\t');
		if (!t)
			break;
		*t = '\0';
		s = t + 1;
	}
	return n;
}

static bool run_command(struct maildir_fs *fs, char *line)
{
	char *v[8];
	size_t n = split_tabs(line, v, 8);
	int r;
	if (!strcmp(v[0], "quit"))
		return false;
	if (!strcmp(v[0], "renamed") && n == 6)
		r = maildir_fs_notify_renamed(fs, v[1], v[2], v[3], v[4], v[5]);
	else if ((!strcmp(v[0], "added") || !strcmp(v[0], "removed")) && n == 4)
		r = (v[0][0] == 'a' ? maildir_fs_notify_added : maildir_fs_notify_removed)(
			fs, v[1], v[2], v[3]);
	else if (!strcmp(v[0], "folder") && n == 2)
		r = maildir_fs_notify_folder(fs, v[1]);
	else if (!strcmp(v[0], "unmount") && n == 1) {
		maildir_fs_unmount(fs);
		r = 0;
	} else
		r = -EINVAL;
	char rs[16];
	snprintf(rs, sizeof(rs), "%d", r);
	const char *ack[] = { "ctl", v[0], rs };
	emit(ack, 3);
	return true;
}

/* Reads commands until "quit" (written by main after the unmount). */
static void *control_main(void *arg)
{
	struct control *c = arg;
	struct strbuf in = STRBUF_INIT;
	char buf[4096];
	for (;;) {
		ssize_t n = read(c->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		sb_add(&in, buf, (size_t)n);
		char *nl;
		bool go = true;
		while (go && (nl = memchr(in.buf, '\n', in.len))) {
			*nl = '\0';
			size_t used = (size_t)(nl - in.buf) + 1;
			char *line = xstrdup(in.buf);
			memmove(in.buf, in.buf + used, in.len - used);
			in.len -= used;
			in.buf[in.len] = '\0';
			go = run_command(c->fs, line);
			free(line);
		}
		if (!go)
			break;
	}
	sb_free(&in);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: fs_driver [--events FILE] [--control FIFO] [--fail SUBSTR] "
			"[--no-folder-renamed] [--nonempty] [--entry-timeout S] [--attr-timeout S] "
			"[--dir-attr-timeout S] [--max-threads N] [--debug] BACKING MOUNTPOINT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct maildir_fs_options opt;
	const char *events = NULL, *control = NULL;
	bool folder_renamed = true;
	maildir_fs_options_default(&opt);
	int i = 1;
	for (; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		const char *a = argv[i];
		bool has = i + 1 < argc;
		if (!strcmp(a, "--events") && has)
			events = argv[++i];
		else if (!strcmp(a, "--control") && has)
			control = argv[++i];
		else if (!strcmp(a, "--fail") && has)
			fail_substr = argv[++i];
		else if (!strcmp(a, "--entry-timeout") && has)
			opt.entry_timeout = atof(argv[++i]);
		else if (!strcmp(a, "--attr-timeout") && has)
			opt.attr_timeout = atof(argv[++i]);
		else if (!strcmp(a, "--dir-attr-timeout") && has)
			opt.dir_attr_timeout = atof(argv[++i]);
		else if (!strcmp(a, "--max-threads") && has)
			opt.max_threads = (unsigned)atoi(argv[++i]);
		else if (!strcmp(a, "--nonempty"))
			opt.nonempty = true;
		else if (!strcmp(a, "--no-folder-renamed"))
			folder_renamed = false;
		else if (!strcmp(a, "--debug")) {
			opt.debug = true;
			log_enable_debug(LOG_DBG_FUSE);
		} else
			usage();
	}
	if (argc - i != 2)
		usage();
	const char *backing = argv[i], *mountpoint = argv[i + 1];

	if (events) {
		events_fd = open(events, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (events_fd < 0) {
			fprintf(stderr, "fs_driver: %s: %s\n", events, strerror(errno));
			return 1;
		}
	}
	struct fs_observer obs = {
		.message_renamed = on_renamed,
		.message_unlinked = on_unlinked,
		.message_added = on_added,
		.folder_created = on_folder_created,
		.folder_removed = on_folder_removed,
		.folder_renamed = folder_renamed ? on_folder_renamed : NULL,
	};
	char *error = NULL;
	struct maildir_fs *fs = maildir_fs_new(backing, &obs, &opt, &error);
	if (!fs) {
		fprintf(stderr, "fs_driver: %s\n", error);
		free(error);
		return 1;
	}
	if (maildir_fs_mount(fs, mountpoint, true, &error) < 0) {
		fprintf(stderr, "fs_driver: %s\n", error);
		free(error);
		maildir_fs_free(&fs);
		return 1;
	}

	struct control c = { fs, -1 };
	pthread_t thread;
	bool have_thread = false;
	if (control) {
		/* O_RDWR: the FIFO never reports end of file between writers. */
		c.fd = open(control, O_RDWR | O_CLOEXEC);
		if (c.fd < 0) {
			fprintf(stderr, "fs_driver: %s: %s\n", control, strerror(errno));
			maildir_fs_free(&fs);
			return 1;
		}
		have_thread = pthread_create(&thread, NULL, control_main, &c) == 0;
	}
	const char *ready[] = { "ready" };
	emit(ready, 1);

	int rc = maildir_fs_run(fs) == 0 ? 0 : 1;

	if (have_thread) {
		if (write(c.fd, "quit\n", 5) != 5)
			pthread_cancel(thread);
		pthread_join(thread, NULL);
	}
	if (c.fd >= 0)
		close(c.fd);
	maildir_fs_free(&fs);
	if (events_fd != STDOUT_FILENO)
		close(events_fd);
	log_close();
	return rc;
}
