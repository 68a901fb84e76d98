/* mount_check.c — see mount_check.h. */
#include "tools/mount_check.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"

/* Removes "." and "//" and resolves ".." in an absolute path, in place,
 * lexically (for the part that does not exist yet: no symlinks there). */
static void normalize(char *p)
{
	char *out = p;
	const char *in = p;
	while (*in) {
		while (*in == '/')
			in++;
		const char *seg = in;
		while (*in && *in != '/')
			in++;
		size_t n = (size_t)(in - seg);
		if (n == 0 || (n == 1 && seg[0] == '.'))
			continue;
		if (n == 2 && seg[0] == '.' && seg[1] == '.') {
			while (out > p && *--out != '/')
				;
			continue;
		}
		*out++ = '/';
		memmove(out, seg, n);
		out += n;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
}

char *mount_check_canon(const char *path)
{
	char *abs;
	if (path[0] == '/') {
		abs = xstrdup(path);
	} else {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)))
			return NULL;
		abs = xasprintf("%s/%s", cwd, path);
	}
	/* the longest existing prefix, resolved, plus the rest */
	size_t cut = strlen(abs);
	while (cut > 1 && abs[cut - 1] == '/')
		abs[--cut] = '\0';
	for (;;) {
		char saved = abs[cut];
		abs[cut] = '\0';
		char *real = realpath(cut ? abs : "/", NULL);
		abs[cut] = saved;
		if (real) {
			/* the rest starts with '/'; the root needs no second */
			char *out = !abs[cut]		 ? xstrdup(real)
				    : !strcmp(real, "/") ? xstrdup(abs + cut)
							 : xasprintf("%s%s", real, abs + cut);
			free(real);
			free(abs);
			normalize(out);
			return out;
		}
		while (cut > 0 && abs[cut - 1] != '/')
			cut--;
		if (cut <= 1) {
			cut = 1; /* "/" always resolves */
			continue;
		}
		cut--; /* before the '/' */
	}
}

/* a == b or a lies below b */
static bool within(const char *a, const char *b)
{
	size_t n = strlen(b);
	if (strncmp(a, b, n) != 0)
		return false;
	return a[n] == '\0' || a[n] == '/' || (n == 1 && b[0] == '/');
}

int mount_check_paths(const char *mountpoint, const char *maildir, char **error_r)
{
	struct stat st;
	if (stat(mountpoint, &st) == 0 && !S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("mountpoint %s is not a directory", mountpoint);
		return -1;
	}
	char *m = mount_check_canon(mountpoint), *d = mount_check_canon(maildir);
	int ret = 0;
	if (!m || !d) {
		*error_r = xasprintf("cannot resolve the mountpoint %s: %s", mountpoint,
				     strerror(errno));
		ret = -1;
	} else if (!strcmp(m, d)) {
		*error_r = xasprintf("mountpoint %s is the Maildir itself (localfolders); mount it "
				     "somewhere else, e.g. an empty directory ~/mail-live", mountpoint);
		ret = -1;
	} else if (within(m, d)) {
		*error_r = xasprintf("mountpoint %s is inside the Maildir %s (localfolders); mount "
				     "it somewhere else", mountpoint, maildir);
		ret = -1;
	} else if (within(d, m)) {
		*error_r = xasprintf("the Maildir %s (localfolders) is inside the mountpoint %s, "
				     "which would hide it; mount it somewhere else", maildir,
				     mountpoint);
		ret = -1;
	}
	free(m);
	free(d);
	return ret;
}
