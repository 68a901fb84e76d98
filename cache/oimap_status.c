#include "cache/oimap_status.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

char *oimap_basename(const char *folder)
{
	if (!*folder || !strcmp(folder, "."))
		return xstrdup("dot");
	char *s = xstrdup(folder);
	for (char *p = s; *p; p++)
		if (*p == '/')
			*p = '.';
	return s;
}

static char *account_dir(const struct oimap_account *oa)
{
	return xasprintf("%s/Account-%s/LocalStatus-sqlite", oa->metadata, oa->account);
}

char *oimap_status_path(const struct oimap_account *oa, const char *remote_name)
{
	char *base = oimap_basename(remote_name);
	char *path = xasprintf("%s/Account-%s/LocalStatus-sqlite/%s", oa->metadata, oa->account,
			       base);
	free(base);
	return path;
}

static char *validity_path(const struct oimap_account *oa, const char *repo, const char *folder)
{
	char *base = oimap_basename(folder);
	char *path = xasprintf("%s/Repository-%s/FolderValidity/%s", oa->metadata, repo, base);
	free(base);
	return path;
}

/* 1 and *v_r when path holds a number, 0 when it is missing or holds none. */
static int read_number(const char *path, uint32_t *v_r)
{
	FILE *fp = fopen(path, "r");
	if (!fp)
		return 0;
	unsigned long long x = 0;
	int ok = fscanf(fp, "%llu", &x) == 1 && x <= UINT32_MAX;
	fclose(fp);
	if (ok)
		*v_r = (uint32_t)x;
	return ok;
}

uint32_t oimap_validity_read(const struct oimap_account *oa, const char *remote_name)
{
	char *path = validity_path(oa, oa->remote_repo, remote_name);
	uint32_t v = 0;
	read_number(path, &v);
	free(path);
	return v;
}

bool oimap_present(const struct oimap_account *oa)
{
	if (oa->disabled)
		return false;
	char *dir = account_dir(oa);
	struct stat st;
	bool yes = stat(dir, &st) == 0 && S_ISDIR(st.st_mode);
	free(dir);
	return yes;
}

static int mkdirs(const char *dir)
{
	if (mkdir(dir, 0755) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	char *parent = xstrdup(dir);
	char *slash = strrchr(parent, '/');
	int rc = -1;
	if (slash && slash != parent) {
		*slash = '\0';
		rc = mkdirs(parent);
	}
	free(parent);
	return rc == 0 && (mkdir(dir, 0755) == 0 || errno == EEXIST) ? 0 : -1;
}

/* "%u\n" into path as OfflineIMAP writes it: <path>.tmp, then rename. */
static int write_number(const struct oimap_account *oa, const char *path, uint32_t v,
			char **error_r)
{
	char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	char *tmp = xasprintf("%s.tmp", path);
	int ret = -1;
	if (mkdirs(dir) < 0) {
		*error_r = xasprintf("%s: %s", dir, strerror(errno));
		goto out;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		*error_r = xasprintf("%s: %s", tmp, strerror(errno));
		goto out;
	}
	char buf[16];
	int len = snprintf(buf, sizeof(buf), "%u\n", v);
	bool ok = write(fd, buf, (size_t)len) == len && (!oa->fsync || fsync(fd) == 0);
	int err = errno;
	if (close(fd) < 0 && ok) {
		ok = false;
		err = errno;
	}
	if (!ok || rename(tmp, path) < 0) {
		if (ok)
			err = errno;
		*error_r = xasprintf("%s: %s", tmp, strerror(err));
		unlink(tmp);
		goto out;
	}
	ret = 0;
out:
	free(tmp);
	free(dir);
	return ret;
}

static int write_validity(const struct oimap_account *oa, const char *remote_name,
			  const char *local_name, uint32_t uidvalidity, char **error_r)
{
	char *rpath = validity_path(oa, oa->remote_repo, remote_name);
	char *lpath = validity_path(oa, oa->local_repo, local_name);
	uint32_t have = 0;
	int rc = 0;
	if (!read_number(rpath, &have) || have != uidvalidity)
		rc = write_number(oa, rpath, uidvalidity, error_r);
	/* a Maildir's UIDVALIDITY is the constant 42 for OfflineIMAP */
	if (rc == 0 && !read_number(lpath, &have))
		rc = write_number(oa, lpath, 42, error_r);
	free(rpath);
	free(lpath);
	return rc;
}

/* --- the status DB --- */

/* Key of OfflineIMAP's metadata table where our writes leave the file
 * change counter (SQLite header bytes 24..27) their commit produces, so a
 * later commit by anyone else (offlineimap) shows as a different counter.
 * OfflineIMAP reads only 'db_version' from that table. */
#define COUNTER_KEY "offlinefs_change_counter"

/* The file change counter of the DB at path, which a rollback-journal DB
 * (OfflineIMAP's default) increments on every commit. 1 and *c_r, 0 when
 * the file is empty, -1 when unknown (unreadable, WAL mode). */
static int change_counter(const char *path, uint32_t *c_r)
{
	unsigned char h[28];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	ssize_t n = pread(fd, h, sizeof(h), 0);
	close(fd);
	if (n == 0)
		return 0;
	if (n != (ssize_t)sizeof(h) || h[18] != 1 || h[19] != 1)
		return -1;
	*c_r = (uint32_t)h[24] << 24 | (uint32_t)h[25] << 16 | (uint32_t)h[26] << 8 | h[27];
	return 1;
}

struct odb {
	sqlite3 *db;
	const char *path; /* borrowed */
	int version;      /* 1 or 2 */
	sqlite3_stmt *insert, *update, *remove;
};

static int odb_fail(struct odb *o, const char *what, char **error_r)
{
	*error_r = xasprintf("%s: %s: %s", o->path, what,
			     o->db ? sqlite3_errmsg(o->db) : "out of memory");
	return -1;
}

static const char create_sql[] =
	"CREATE TABLE metadata (key VARCHAR(50) PRIMARY KEY, value VARCHAR(128));"
	"INSERT INTO metadata VALUES('db_version', '2');"
	"CREATE TABLE status (id INTEGER PRIMARY KEY, flags VARCHAR(50), mtime INTEGER,"
	" labels VARCHAR(256));";

/* Opens path. A missing file is created with OfflineIMAP's schema when
 * create, else *exists_r = false and 0 is returned. */
static int odb_open(struct odb *o, const char *path, bool create, bool fsync, bool *exists_r,
		    char **error_r)
{
	*o = (struct odb){ .path = path };
	*exists_r = access(path, F_OK) == 0;
	if (!*exists_r && !create)
		return 0;
	if (sqlite3_open_v2(path, &o->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK)
		return odb_fail(o, "open", error_r);
	sqlite3_busy_timeout(o->db, 5000);
	if (!fsync)
		sqlite3_exec(o->db, "PRAGMA synchronous = OFF", NULL, NULL, NULL);
	if (sqlite3_exec(o->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return odb_fail(o, "begin", error_r);
	/* a new file, or an empty one (OfflineIMAP recreates a DB it cannot
	 * read; one with tables of its own is left alone below) */
	sqlite3_stmt *st;
	bool empty = sqlite3_prepare_v2(o->db, "SELECT count(*) FROM sqlite_master", -1, &st,
					NULL) == SQLITE_OK &&
		     sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0;
	sqlite3_finalize(st);
	if (empty && sqlite3_exec(o->db, create_sql, NULL, NULL, NULL) != SQLITE_OK)
		return odb_fail(o, "create", error_r);
	*exists_r = true;

	if (sqlite3_prepare_v2(o->db, "SELECT value FROM metadata WHERE key = 'db_version'", -1,
			       &st, NULL) != SQLITE_OK)
		return odb_fail(o, "not an OfflineIMAP LocalStatus-sqlite DB", error_r);
	const char *v = sqlite3_step(st) == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0)
						       : NULL;
	o->version = v && !strcmp(v, "2") ? 2 : v && !strcmp(v, "1") ? 1 : 0;
	sqlite3_finalize(st);
	if (!o->version) {
		*error_r = xasprintf("%s: unknown OfflineIMAP LocalStatus db_version; left alone",
				     path);
		return -1;
	}
	const char *ins = o->version == 2
				  ? "INSERT INTO status (id, flags, mtime, labels) VALUES (?1, ?2, 0, '')"
				  : "INSERT INTO status (id, flags) VALUES (?1, ?2)";
	if (sqlite3_prepare_v2(o->db, ins, -1, &o->insert, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(o->db, "UPDATE status SET flags = ?2 WHERE id = ?1", -1, &o->update,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(o->db, "DELETE FROM status WHERE id = ?1", -1, &o->remove, NULL) !=
		    SQLITE_OK)
		return odb_fail(o, "prepare", error_r);
	return 0;
}

/* Commits (ok) or rolls back, and closes. Returns ok ? 0 : -1, or -1 with
 * *error_r when the commit fails. */
static int odb_close(struct odb *o, bool ok, char **error_r)
{
	int ret = ok ? 0 : -1;
	sqlite3_finalize(o->insert);
	sqlite3_finalize(o->update);
	sqlite3_finalize(o->remove);
	if (o->db && sqlite3_get_autocommit(o->db) == 0) {
		/* the counter this commit will leave (one more than now) */
		uint32_t c = 0;
		if (ok && change_counter(o->path, &c) >= 0) {
			char *sql = xasprintf("INSERT OR REPLACE INTO metadata (key, value) VALUES "
					      "('" COUNTER_KEY "', '%u')", c + 1);
			if (sqlite3_exec(o->db, sql, NULL, NULL, NULL) != SQLITE_OK)
				ret = odb_fail(o, "write", error_r);
			free(sql);
		}
		if (ret == 0 && ok && sqlite3_exec(o->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			ret = odb_fail(o, "commit", error_r);
		if (ret < 0)
			sqlite3_exec(o->db, "ROLLBACK", NULL, NULL, NULL);
	}
	sqlite3_close(o->db);
	o->db = NULL;
	return ret;
}

static int run(struct odb *o, sqlite3_stmt *st, uint32_t uid, const char *letters,
	       char **error_r)
{
	sqlite3_bind_int64(st, 1, uid);
	if (letters)
		sqlite3_bind_text(st, 2, letters, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : odb_fail(o, "write", error_r);
}

/* Our row uid/flags: the flags of an existing row, else a new row. */
static int put(struct odb *o, uint32_t uid, flagset_t flags, char **error_r)
{
	char letters[FLAGS_LETTERS_MAX];
	flags_to_letters(flags, letters);
	if (run(o, o->update, uid, letters, error_r) < 0)
		return -1;
	if (sqlite3_changes(o->db) > 0)
		return 0;
	return run(o, o->insert, uid, letters, error_r);
}

static int load(struct odb *o, struct status_rec **rows_r, size_t *n_r, char **error_r)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(o->db, "SELECT id, flags FROM status ORDER BY id", -1, &st, NULL) !=
	    SQLITE_OK)
		return odb_fail(o, "read status", error_r);
	struct status_rec *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 id = sqlite3_column_int64(st, 0);
		const char *f = (const char *)sqlite3_column_text(st, 1);
		if (id <= 0 || id > UINT32_MAX)
			continue; /* never written by OfflineIMAP: left alone */
		xgrow(&v, &cap, n + 1, sizeof(*v));
		v[n].uid = (uint32_t)id;
		v[n].flags = f ? flags_from_letters(f, strlen(f)) : 0;
		n++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return odb_fail(o, "read status", error_r);
	}
	*rows_r = v;
	*n_r = n;
	return 0;
}

/* Whether someone else committed to the DB since our last write: the
 * counter our last write left differs from the file's; without one (we
 * never wrote it) whether the file changed after `since`. */
static bool written_by_other(struct odb *o, int64_t since)
{
	sqlite3_stmt *st;
	const char *ours = NULL;
	bool other = true;
	if (sqlite3_prepare_v2(o->db, "SELECT value FROM metadata WHERE key = '" COUNTER_KEY "'",
			       -1, &st, NULL) != SQLITE_OK)
		return true;
	if (sqlite3_step(st) == SQLITE_ROW)
		ours = (const char *)sqlite3_column_text(st, 0);
	uint32_t c = 0;
	if (ours && change_counter(o->path, &c) == 1) {
		char now[16];
		snprintf(now, sizeof(now), "%u", c);
		other = strcmp(ours, now) != 0;
	} else {
		struct stat sb;
		other = stat(o->path, &sb) != 0 || (int64_t)sb.st_mtime >= since;
	}
	sqlite3_finalize(st);
	return other;
}

int oimap_status_load(const struct oimap_account *oa, const char *remote_name, int64_t since,
		      struct status_rec **rows_r, size_t *n_r, bool *other_r, char **error_r)
{
	*rows_r = NULL;
	*n_r = 0;
	*other_r = false;
	char *path = oimap_status_path(oa, remote_name);
	struct odb o = { .path = path };
	int rc = 0;
	struct stat sb;
	/* an empty file holds no status (OfflineIMAP would create it anew) */
	if (stat(path, &sb) == 0 && sb.st_size > 0) {
		rc = sqlite3_open_v2(path, &o.db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK
			     ? 1
			     : odb_fail(&o, "open read-only", error_r);
		if (rc == 1) {
			sqlite3_busy_timeout(o.db, 5000);
			/* one read transaction: the rows and the counter agree */
			sqlite3_exec(o.db, "BEGIN", NULL, NULL, NULL);
			if (load(&o, rows_r, n_r, error_r) < 0)
				rc = -1;
			else
				*other_r = written_by_other(&o, since);
			sqlite3_exec(o.db, "COMMIT", NULL, NULL, NULL);
		}
		sqlite3_close(o.db);
	}
	free(path);
	return rc;
}

int oimap_status_mirror(const struct oimap_account *oa, const char *remote_name,
			const char *local_name, uint32_t uidvalidity,
			const struct status_rec *rows, size_t n, char **error_r)
{
	if (!oimap_present(oa))
		return 0;
	char *path = oimap_status_path(oa, remote_name);
	struct odb o;
	bool exists;
	struct status_rec *have = NULL;
	size_t n_have = 0;
	int rc = odb_open(&o, path, true, oa->fsync, &exists, error_r);
	if (rc == 0)
		rc = load(&o, &have, &n_have, error_r);
	size_t puts = 0, dels = 0;
	if (rc == 0) {
		/* merge of two uid-sorted lists */
		size_t i = 0, j = 0;
		while (rc == 0 && (i < n || j < n_have)) {
			if (j == n_have || (i < n && rows[i].uid < have[j].uid)) {
				rc = put(&o, rows[i].uid, rows[i].flags, error_r);
				puts++;
				i++;
			} else if (i == n || have[j].uid < rows[i].uid) {
				rc = run(&o, o.remove, have[j].uid, NULL, error_r);
				dels++;
				j++;
			} else {
				if (have[j].flags != rows[i].flags) {
					rc = put(&o, rows[i].uid, rows[i].flags, error_r);
					puts++;
				}
				i++;
				j++;
			}
		}
	}
	rc = odb_close(&o, rc == 0, error_r);
	if (rc == 0 && uidvalidity)
		rc = write_validity(oa, remote_name, local_name, uidvalidity, error_r);
	if (rc == 0 && (puts || dels))
		log_debug(LOG_DBG_SYNC, "Folder %s: OfflineIMAP status %s: %zu rows written, %zu "
			  "deleted", remote_name, path, puts, dels);
	free(have);
	free(path);
	return rc;
}

int oimap_status_apply(const struct oimap_account *oa, const char *remote_name,
		       const struct status_rec *puts, size_t n_puts, const uint32_t *removes,
		       size_t n_removes, char **error_r)
{
	if ((!n_puts && !n_removes) || !oimap_present(oa))
		return 0;
	char *path = oimap_status_path(oa, remote_name);
	struct odb o;
	bool exists;
	int rc = odb_open(&o, path, false, oa->fsync, &exists, error_r);
	if (rc == 0 && exists) {
		for (size_t i = 0; rc == 0 && i < n_puts; i++)
			rc = put(&o, puts[i].uid, puts[i].flags, error_r);
		for (size_t i = 0; rc == 0 && i < n_removes; i++)
			rc = run(&o, o.remove, removes[i], NULL, error_r);
		rc = odb_close(&o, rc == 0, error_r);
	} else if (o.db) {
		odb_close(&o, false, error_r); /* after a failed open: rc is -1 */
	}
	free(path);
	return rc;
}
