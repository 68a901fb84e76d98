/* status_repair.c — see status_repair.h. */
#include "cache/status_repair.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"

int status_move_aside(const char *path, char **moved_r, char **error_r)
{
	*moved_r = NULL;
	if (access(path, F_OK) != 0)
		return 0;
	char stamp[32];
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
	char *to = xasprintf("%s.damaged-%s", path, stamp);
	/* the side files first: a crash in between leaves the main file,
	 * which a rebuild run moves again */
	static const char *const sides[] = { "-wal", "-shm" };
	for (size_t i = 0; i < 2; i++) {
		char *from = xasprintf("%s%s", path, sides[i]);
		char *dst = xasprintf("%s%s", to, sides[i]);
		int rc = rename(from, dst);
		if (rc < 0 && errno != ENOENT) {
			*error_r = xasprintf("%s: cannot move it aside to %s: %s", from, dst,
					     strerror(errno));
			free(from);
			free(dst);
			free(to);
			return -1;
		}
		free(from);
		free(dst);
	}
	if (rename(path, to) < 0) {
		*error_r = xasprintf("%s: cannot move it aside to %s: %s", path, to, strerror(errno));
		free(to);
		return -1;
	}
	*moved_r = to;
	return 0;
}

int status_error_is_damage(const char *error)
{
	static const char *const marks[] = { "not a database", "malformed", "corrupt",
					     "disk image" };
	for (size_t i = 0; error && i < sizeof(marks) / sizeof(marks[0]); i++)
		if (strstr(error, marks[i]))
			return 1;
	return 0;
}

void status_clean_text(char *s)
{
	unsigned char *p = (unsigned char *)s;
	while (*p) {
		size_t n = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
					 : (*p & 0xf8) == 0xf0 ? 4 : 0;
		bool ok = n > 0;
		for (size_t i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		/* overlong forms and surrogates are not valid UTF-8 either */
		if (ok && n == 2 && *p < 0xc2)
			ok = false;
		if (ok && n == 3 && ((*p == 0xe0 && p[1] < 0xa0) || (*p == 0xed && p[1] >= 0xa0)))
			ok = false;
		if (ok && n == 4 && ((*p == 0xf0 && p[1] < 0x90) || *p > 0xf4 ||
				     (*p == 0xf4 && p[1] >= 0x90)))
			ok = false;
		if (!ok || (n == 1 && (*p < 0x20 || *p == 0x7f))) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}
