#include "cache/atimes.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cache/maildir.h"
#include "common/log.h"

struct atime_entry {
	char *dir; /* owned; absolute path of new/ or cur/ */
	struct timespec atime;
};

struct atimes {
	struct atime_entry *v;
	size_t n, cap;
};

struct atimes *atimes_record(struct repo *local)
{
	struct atimes *a = xcalloc(1, sizeof(*a));
	struct strlist names = STRLIST_INIT;
	if (local->ops->list_folders(local, &names) != REPO_OK) {
		log_debug(LOG_DBG_MAILDIR, "restoreatime: %s", repo_error(local));
		return a;
	}
	for (size_t i = 0; i < names.n; i++) {
		char *fdir = maildir_folder_dir(local, names.v[i]);
		for (int k = 0; k < 2; k++) {
			char *d = xasprintf("%s/%s", fdir, k ? "cur" : "new");
			struct stat st;
			if (stat(d, &st) < 0) {
				log_debug(LOG_DBG_MAILDIR, "restoreatime: %s: not recorded", d);
				free(d);
				continue;
			}
			xgrow(&a->v, &a->cap, a->n + 1, sizeof(*a->v));
			a->v[a->n].dir = d;
			a->v[a->n].atime = st.st_atim;
			a->n++;
		}
		free(fdir);
	}
	strlist_free(&names);
	return a;
}

void atimes_restore(struct atimes **ap)
{
	struct atimes *a = *ap;
	if (!a)
		return;
	*ap = NULL;
	for (size_t i = 0; i < a->n; i++) {
		struct timespec ts[2] = { a->v[i].atime, { .tv_nsec = UTIME_OMIT } };
		if (utimensat(AT_FDCWD, a->v[i].dir, ts, 0) < 0)
			log_debug(LOG_DBG_MAILDIR, "restoreatime: %s: not restored", a->v[i].dir);
		free(a->v[i].dir);
	}
	free(a->v);
	free(a);
}
