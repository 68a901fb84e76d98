#include "sync/folder_window.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "sync/window.h"

/* OfflineIMAP's getfolderbasename: '/' -> '.', the root is "dot". */
static char *basename_of(const char *name)
{
	if (!*name || !strcmp(name, "."))
		return xstrdup("dot");
	char *s = xstrdup(name);
	for (char *p = s; *p; p++)
		if (*p == '/')
			*p = '.';
	return s;
}

static char *startuid_path(const struct account_settings *a, const char *repo, const char *folder)
{
	char *base = basename_of(folder);
	char *p = xasprintf("%s/Repository-%s/StartUID/%s", a->metadata, repo, base);
	free(base);
	return p;
}

/* 1 and *lo_r when the file holds a UID, 0 when it does not exist, -1 on
 * a file that cannot be read or holds no number (logged). */
static int read_lo(const char *path, const char *folder, uint32_t *lo_r)
{
	FILE *fp = fopen(path, "r");
	if (!fp) {
		if (errno == ENOENT)
			return 0;
		log_error("Folder %s: %s: %s; skipping the folder", folder, path, strerror(errno));
		return -1;
	}
	unsigned long long x = 0;
	int ok = fscanf(fp, "%llu", &x) == 1 && x >= 1 && x <= UINT32_MAX;
	fclose(fp);
	if (!ok) {
		log_error("Folder %s: %s holds no UID; skipping the folder", folder, path);
		return -1;
	}
	*lo_r = (uint32_t)x;
	return 1;
}

static int write_lo(const struct account_settings *a, const char *repo, const char *path,
		    const char *folder, uint32_t lo)
{
	char *dir = xasprintf("%s/Repository-%s", a->metadata, repo);
	char *sub = xasprintf("%s/StartUID", dir);
	mkdir(a->metadata, 0700);
	mkdir(dir, 0700);
	mkdir(sub, 0700);
	free(dir);
	free(sub);
	char *tmp = xasprintf("%s.tmp", path);
	FILE *fp = fopen(tmp, "w");
	int ok = fp && fprintf(fp, "%u\n", lo) > 0;
	if (fp && fclose(fp) != 0)
		ok = 0;
	if (ok && rename(tmp, path) != 0)
		ok = 0;
	if (!ok) {
		log_error("Folder %s: cannot write %s: %s; skipping the folder", folder, path,
			  strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return ok ? 0 : -1;
}

int folder_window_apply(const struct account_settings *a, const char *remote_name,
			const char *local_name, bool dry, struct repo_msg_list *remote,
			struct repo_msg_list *local, const struct status_rec *rows, size_t n_rows,
			struct status_rec **rows_r, size_t *n_rows_r)
{
	const struct sync_filters *f = &a->filters;
	struct msg_window w;
	int64_t cutoff, since;
	const char *what = "maxage";
	if (f->maxage_days || f->maxage_day.year) {
		filters_maxage_bounds(f, (int64_t)time(NULL), &cutoff, &since);
		w = window_maxage(remote->v, remote->n, local->v, local->n, since, cutoff);
	} else {
		bool rpart = f->startdate_remote.year != 0;
		const char *repo = rpart ? a->remote.name : a->local.name;
		const char *other = rpart ? a->local.name : a->remote.name;
		char *path = startuid_path(a, repo, rpart ? remote_name : local_name);
		uint32_t lo = 0;
		int rc = read_lo(path, remote_name, &lo);
		what = "startdate";
		if (rc < 0) {
			free(path);
			return -1;
		}
		if (rc > 0) {
			w = window_from_lo(lo);
			if (!rpart) {
				/* files without UID dated before the start stay out
				 * on later runs too (OfflineIMAP uploads them on its
				 * second run, though its first left them out) */
				filters_day_bounds(&f->startdate_local, &cutoff, &since);
				w.uidless_by_date = true;
				w.cutoff = cutoff;
			}
		} else {
			filters_day_bounds(rpart ? &f->startdate_remote : &f->startdate_local, &cutoff,
					   &since);
			uint32_t save = 0;
			if (window_startdate_first(rpart, remote->v, remote->n, local->v, local->n,
						   since, cutoff, &w, &save) < 0) {
				log_error("Folder %s: to use startdate on Repository %s, Repository "
					  "%s must be empty; skipping the folder", remote_name, repo,
					  other);
				free(path);
				return -1;
			}
			if (!dry && write_lo(a, repo, path, remote_name, save) < 0) {
				free(path);
				return -1;
			}
		}
		free(path);
	}
	size_t rout = window_filter_msgs(&w, remote, false);
	size_t lout = window_filter_msgs(&w, local, true);
	*n_rows_r = window_filter_rows(&w, rows, n_rows, rows_r);
	if (rout || lout)
		log_info("Folder %s: %zu messages on the server and %zu in the Maildir are outside "
			 "the %s window: left alone", remote_name, rout, lout, what);
	return 0;
}
