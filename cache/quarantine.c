#include "cache/quarantine.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int quarantine_save(const char *dir, const char *name, const char *body, size_t len, bool fsync,
		    char **path_r, char **error_r)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		*error_r = xasprintf("%s: mkdir: %s", dir, strerror(errno));
		return -1;
	}
	/* Keep only the basename: keys look like "cur/<name>". */
	const char *slash = strrchr(name, '/');
	if (slash)
		name = slash + 1;
	char *tmp = xasprintf("%s/.tmp.%ld", dir, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write_all(fd, body, len) < 0 || (fsync && fdatasync(fd) < 0)) {
		*error_r = xasprintf("%s: write: %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (close(fd) < 0) {
		*error_r = xasprintf("%s: close: %s", tmp, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	for (unsigned i = 0;; i++) {
		char *path = i ? xasprintf("%s/%s.%u", dir, name, i) : xasprintf("%s/%s", dir, name);
		/* link() refuses to replace, so an older quarantined file with the
		 * same name is never overwritten. */
		if (link(tmp, path) == 0) {
			unlink(tmp);
			free(tmp);
			*path_r = path;
			return 0;
		}
		int e = errno;
		free(path);
		if (e != EEXIST || i > 1000) {
			*error_r = xasprintf("%s: link into place: %s", dir, strerror(e));
			unlink(tmp);
			free(tmp);
			return -1;
		}
	}
}
