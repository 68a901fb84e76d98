/* mountstate.c — see mountstate.h. */
#include "tools/mountstate.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/xalloc.h"

char *mount_state_path(const struct account_settings *a)
{
	return xasprintf("%s/Account-%s/mount.json", a->metadata, a->name);
}

void mount_state_clear(struct mount_state *st)
{
	free(st->account);
	free(st->mountpoint);
	free(st->maildir);
	free(st->last_error);
	memset(st, 0, sizeof(*st));
}

/* ---- JSON --------------------------------------------------------------- */

static void json_str(struct strbuf *sb, const char *s)
{
	if (!s) {
		sb_adds(sb, "null");
		return;
	}
	sb_addc(sb, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			sb_addf(sb, "\\%c", *p);
		else if (*p == '\n')
			sb_adds(sb, "\\n");
		else if (*p == '\t')
			sb_adds(sb, "\\t");
		else if (*p < 0x20 || *p == 0x7f)
			sb_addf(sb, "\\u%04x", *p);
		else
			sb_addc(sb, (char)*p); /* UTF-8 passes through */
	}
	sb_addc(sb, '"');
}

char *mount_state_json(const struct mount_state *st)
{
	struct strbuf sb = STRBUF_INIT;
	sb_addf(&sb, "{\n  \"pid\": %ld,\n  \"account\": ", (long)st->pid);
	json_str(&sb, st->account);
	sb_adds(&sb, ",\n  \"mountpoint\": ");
	json_str(&sb, st->mountpoint);
	sb_adds(&sb, ",\n  \"maildir\": ");
	json_str(&sb, st->maildir);
	sb_addf(&sb, ",\n  \"started\": %" PRId64 ",\n  \"updated\": %" PRId64
		",\n  \"connected\": %s,\n  \"last_error\": ",
		st->started, st->updated, st->connected ? "true" : "false");
	json_str(&sb, st->last_error);
	sb_addf(&sb, ",\n  \"last_full_sync\": %" PRId64 ",\n  \"queued\": %" PRIu64
		",\n  \"backoff_seconds\": %u\n}\n",
		st->last_full_sync, st->queued, st->backoff_seconds);
	return sb_detach(&sb);
}

static const char *skip_ws(const char *p)
{
	while (isspace((unsigned char)*p))
		p++;
	return p;
}

/* A JSON string at *pp (after the opening quote is checked); malloc'd. */
static char *parse_str(const char **pp)
{
	const char *p = *pp;
	if (*p != '"')
		return NULL;
	struct strbuf sb = STRBUF_INIT;
	for (p++; *p && *p != '"'; p++) {
		if (*p != '\\') {
			sb_addc(&sb, *p);
			continue;
		}
		p++;
		switch (*p) {
		case 'n': sb_addc(&sb, '\n'); break;
		case 't': sb_addc(&sb, '\t'); break;
		case 'r': sb_addc(&sb, '\r'); break;
		case 'b': sb_addc(&sb, '\b'); break;
		case 'f': sb_addc(&sb, '\f'); break;
		case 'u': {
			unsigned v = 0;
			for (int i = 1; i <= 4; i++) {
				if (!isxdigit((unsigned char)p[i])) {
					sb_free(&sb);
					return NULL;
				}
				v = v * 16 + (unsigned)(isdigit((unsigned char)p[i])
								? p[i] - '0'
								: tolower((unsigned char)p[i]) - 'a' + 10);
			}
			p += 4;
			/* only what the writer produces: one byte; others become '?' */
			sb_addc(&sb, v < 0x80 && v ? (char)v : '?');
			break;
		}
		case '\0':
			sb_free(&sb);
			return NULL;
		default: sb_addc(&sb, *p); break; /* \" \\ \/ */
		}
	}
	if (*p != '"') {
		sb_free(&sb);
		return NULL;
	}
	*pp = p + 1;
	return sb_detach(&sb);
}

int mount_state_parse(const char *text, struct mount_state *st_r)
{
	memset(st_r, 0, sizeof(*st_r));
	const char *p = skip_ws(text);
	if (*p++ != '{')
		return -1;
	for (;;) {
		p = skip_ws(p);
		if (*p == '}')
			return 0;
		char *key = parse_str(&p);
		if (!key)
			goto fail;
		p = skip_ws(p);
		if (*p++ != ':') {
			free(key);
			goto fail;
		}
		p = skip_ws(p);
		char *sval = NULL;
		bool is_str = false, bval = false, is_null = false;
		int64_t ival = 0;
		if (*p == '"') {
			sval = parse_str(&p);
			if (!sval) {
				free(key);
				goto fail;
			}
			is_str = true;
		} else if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
			bval = *p == 't';
			p += bval ? 4 : 5;
		} else if (!strncmp(p, "null", 4)) {
			is_null = true;
			p += 4;
		} else {
			char *end;
			errno = 0;
			long long v = strtoll(p, &end, 10);
			if (end == p || errno) {
				free(key);
				goto fail;
			}
			ival = v;
			p = end;
		}
		char **slot = !strcmp(key, "account")      ? &st_r->account
			      : !strcmp(key, "mountpoint") ? &st_r->mountpoint
			      : !strcmp(key, "maildir")    ? &st_r->maildir
			      : !strcmp(key, "last_error") ? &st_r->last_error
							   : NULL;
		if (slot) {
			free(*slot);
			*slot = is_str ? sval : NULL;
			sval = NULL;
		} else if (!strcmp(key, "pid")) {
			st_r->pid = (pid_t)ival;
		} else if (!strcmp(key, "started")) {
			st_r->started = ival;
		} else if (!strcmp(key, "updated")) {
			st_r->updated = ival;
		} else if (!strcmp(key, "connected")) {
			st_r->connected = bval;
		} else if (!strcmp(key, "last_full_sync")) {
			st_r->last_full_sync = ival;
		} else if (!strcmp(key, "queued")) {
			st_r->queued = ival > 0 ? (uint64_t)ival : 0;
		} else if (!strcmp(key, "backoff_seconds")) {
			st_r->backoff_seconds = ival > 0 ? (unsigned)ival : 0;
		}
		(void)is_null;
		free(sval);
		free(key);
		p = skip_ws(p);
		if (*p == ',')
			p++;
		else if (*p != '}')
			goto fail;
	}
fail:
	mount_state_clear(st_r);
	return -1;
}

int mount_state_write(const char *path, const struct mount_state *st, char **error_r)
{
	char *tmp = xasprintf("%s.tmp", path);
	char *text = mount_state_json(st);
	int ret = -1;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", tmp, strerror(errno));
		goto out;
	}
	size_t len = strlen(text), off = 0;
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			*error_r = xasprintf("%s: write: %s", tmp, strerror(errno));
			close(fd);
			unlink(tmp);
			goto out;
		}
		off += (size_t)n;
	}
	if (close(fd) < 0) {
		*error_r = xasprintf("%s: close: %s", tmp, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		*error_r = xasprintf("%s: rename: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(text);
	free(tmp);
	return ret;
}

int mount_state_read(const char *path, struct mount_state *st_r, char **error_r)
{
	memset(st_r, 0, sizeof(*st_r));
	FILE *f = fopen(path, "r");
	if (!f) {
		if (errno == ENOENT)
			return 0;
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0 && sb.len < (1u << 20))
		sb_add(&sb, buf, n);
	fclose(f);
	int r = mount_state_parse(sb_str(&sb), st_r);
	sb_free(&sb);
	if (r < 0) {
		*error_r = xasprintf("%s: not a mount state file", path);
		return -1;
	}
	return 1;
}

/* ---- processes and locks ------------------------------------------------ */

pid_t account_lock_holder(const char *metadata, const char *account)
{
	char *path = xasprintf("%s/%s.lock", metadata, account);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	/* the whole file, as lockf() and Python's fcntl.lockf() lock it */
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0 };
	int r = fcntl(fd, F_GETLK, &fl);
	close(fd);
	if (r < 0)
		return -1;
	return fl.l_type == F_UNLCK ? 0 : fl.l_pid;
}

bool pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

char *process_cmdline(pid_t pid)
{
	char *path = xasprintf("/proc/%ld/cmdline", (long)pid);
	FILE *f = fopen(path, "r");
	free(path);
	if (!f)
		return NULL;
	char buf[4096];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	if (n == 0)
		return NULL;
	buf[n] = '\0';
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n;) {
		const char *arg = buf + i;
		size_t len = strlen(arg);
		if (sb.len)
			sb_addc(&sb, ' ');
		const char *eq = strchr(arg, '=');
		if (eq && strcasestr(arg, "pass") && strcasestr(arg, "pass") < eq)
			sb_addf(&sb, "%.*s<redacted>", (int)(eq + 1 - arg), arg);
		else
			sb_adds(&sb, arg);
		i += len + 1;
	}
	char *s = sb_detach(&sb);
	for (char *q = s; *q; q++)
		if ((unsigned char)*q < ' ' || *q == 0x7f)
			*q = ' ';
	if (strlen(s) > 160)
		strcpy(s + 157, "...");
	return s;
}

int mount_running(const struct account_settings *a, struct mount_state *st_r)
{
	char *path = mount_state_path(a), *err = NULL;
	int r = mount_state_read(path, st_r, &err);
	free(path);
	free(err);
	if (r <= 0)
		return 0;
	if (pid_alive(st_r->pid) && account_lock_holder(a->metadata, a->name) == st_r->pid)
		return 1;
	/* stale: keep only what a caller needs to say so */
	pid_t pid = st_r->pid;
	char *mp = st_r->mountpoint;
	st_r->mountpoint = NULL;
	mount_state_clear(st_r);
	st_r->pid = pid;
	st_r->mountpoint = mp;
	return 0;
}

/* /proc/self/mountinfo escapes blanks and backslashes as \ooo. */
static void unescape_octal(char *s)
{
	char *o = s;
	for (char *p = s; *p; p++) {
		if (p[0] == '\\' && p[1] >= '0' && p[1] <= '7' && p[2] >= '0' && p[2] <= '7' &&
		    p[3] >= '0' && p[3] <= '7') {
			*o++ = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 + (p[3] - '0'));
			p += 3;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
}

char *mount_type_at(const char *path)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return NULL;
	char *line = NULL, *found = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		/* id parent maj:min root mountpoint options... - fstype source super */
		char *save = NULL, *fields[5] = { 0 };
		int nf = 0;
		for (char *tok = strtok_r(line, " \n", &save); tok && nf < 5;
		     tok = nf < 5 ? strtok_r(NULL, " \n", &save) : NULL)
			fields[nf++] = tok;
		if (nf < 5)
			continue;
		unescape_octal(fields[4]);
		if (strcmp(fields[4], path) != 0)
			continue;
		char *t;
		while ((t = strtok_r(NULL, " \n", &save)) && strcmp(t, "-") != 0)
			;
		t = t ? strtok_r(NULL, " \n", &save) : NULL;
		free(found); /* the last mount at a path is the visible one */
		found = t ? xstrdup(t) : NULL;
	}
	free(line);
	fclose(f);
	return found;
}
