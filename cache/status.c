#include "cache/status.h"
#include "cache/status_repair.h"
#include "cache/status_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xalloc.h"

#define SCHEMA_VERSION 1

enum stmt_id {
	ST_FOLDER_GET,
	ST_FOLDER_INSERT,
	ST_FOLDER_ID,
	ST_FOLDER_UPDATE,
	ST_FOLDER_STATE,
	ST_FOLDER_NAMES,
	ST_FOLDER_CLEAR,
	ST_LOAD,
	ST_PUT,
	ST_PUT_IGNORE,
	ST_REMOVE,
	ST_UPLOAD_MARK,
	ST_UPLOAD_CLEAR,
	ST_UPLOAD_LOAD,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_FOLDER_GET] = "SELECT f.id, f.uidvalidity, f.uidnext, f.highestmodseq, f.last_sync,"
			  " s.messages, s.new_mtime, s.cur_mtime"
			  " FROM folders f LEFT JOIN folder_state s ON s.folder_id = f.id"
			  " WHERE f.name = ?1",
	[ST_FOLDER_INSERT] = "INSERT OR IGNORE INTO folders"
			     " (name, uidvalidity, uidnext, highestmodseq, last_sync)"
			     " VALUES (?1, 0, 0, 0, 0)",
	[ST_FOLDER_ID] = "SELECT id FROM folders WHERE name = ?1",
	[ST_FOLDER_UPDATE] = "UPDATE folders SET uidvalidity = ?2, uidnext = ?3,"
			     " highestmodseq = ?4, last_sync = ?5 WHERE id = ?1",
	[ST_FOLDER_STATE] = "INSERT OR REPLACE INTO folder_state (folder_id, messages, new_mtime,"
			    " cur_mtime) VALUES (?1, ?2, ?3, ?4)",
	[ST_FOLDER_NAMES] = "SELECT name FROM folders ORDER BY name",
	[ST_FOLDER_CLEAR] = "DELETE FROM messages WHERE folder_id = ?1",
	[ST_LOAD] = "SELECT uid, flags FROM messages WHERE folder_id = ?1 ORDER BY uid",
	[ST_PUT] = "INSERT OR REPLACE INTO messages (folder_id, uid, flags) VALUES (?1, ?2, ?3)",
	[ST_PUT_IGNORE] = "INSERT OR IGNORE INTO messages (folder_id, uid, flags) VALUES (?1, ?2, ?3)",
	[ST_REMOVE] = "DELETE FROM messages WHERE folder_id = ?1 AND uid = ?2",
	[ST_UPLOAD_MARK] = "INSERT OR IGNORE INTO uploads (folder_id, base) VALUES (?1, ?2)",
	[ST_UPLOAD_CLEAR] = "DELETE FROM uploads WHERE folder_id = ?1 AND base = ?2",
	[ST_UPLOAD_LOAD] = "SELECT base FROM uploads WHERE folder_id = ?1 ORDER BY base",
};

static const char schema_sql[] =
	"CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);"
	"CREATE TABLE IF NOT EXISTS folders (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
	" uidvalidity INTEGER NOT NULL DEFAULT 0, uidnext INTEGER NOT NULL DEFAULT 0,"
	" highestmodseq INTEGER NOT NULL DEFAULT 0, last_sync INTEGER NOT NULL DEFAULT 0);"
	"CREATE TABLE IF NOT EXISTS messages (folder_id INTEGER NOT NULL, uid INTEGER NOT NULL,"
	" flags TEXT NOT NULL DEFAULT '', PRIMARY KEY (folder_id, uid)) WITHOUT ROWID;"
	"INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '1');";

/* Tables added for the live mount (cache/outbox.h). Created in any DB that
 * lacks them, new or old, without touching schema_version: older offlinefs
 * versions simply ignore them. Queue order is the id, AUTOINCREMENT so an id
 * is never reused even after the queue was empty. */
static const char outbox_schema_sql[] =
	"CREATE TABLE IF NOT EXISTS outbox (id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" kind INTEGER NOT NULL, folder TEXT NOT NULL, uid INTEGER NOT NULL DEFAULT 0,"
	" flags TEXT NOT NULL DEFAULT '', dst_folder TEXT, name TEXT,"
	" queued_at INTEGER NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 0,"
	" inflight INTEGER NOT NULL DEFAULT 0, last_error TEXT);"
	"CREATE TABLE IF NOT EXISTS names (folder TEXT NOT NULL, base TEXT NOT NULL,"
	" uid INTEGER NOT NULL, PRIMARY KEY (folder, base)) WITHOUT ROWID;"
	"CREATE INDEX IF NOT EXISTS names_uid ON names (folder, uid);";

struct status_db {
	sqlite3 *db;
	char *path;   /* owned; the file (also for an in-memory copy) */
	bool in_txn;  /* between status_begin and commit/rollback */
	bool fsync;   /* synchronous = FULL outside relaxed transactions */
	bool relaxed; /* this transaction runs with synchronous = OFF */
	bool checkpoint_due; /* the WAL grew past WAL_CHECKPOINT_PAGES while relaxed */
	struct wal_syncer *syncer; /* owned; status_sync_start until _wait */
	bool committed; /* a transaction was committed since the open */
	bool wal;       /* a file in WAL mode (not the read-only in-memory copy) */
	sqlite3_stmt *stmt[ST_COUNT];
	sqlite3_stmt *ext[STATUS_EXT_STMTS]; /* status_ext_stmt() */
};

/* sqlite's automatic checkpoint, except during a relaxed transaction.
 * Relaxed transactions run with synchronous = OFF rather than NORMAL so
 * that the first one of a run, which starts a fresh write-ahead log, does
 * not wait for the disk to sync the log's header (NORMAL does: 2-4 ms on
 * the critical path of every run that writes). In WAL mode that header
 * sync, and the syncs of a checkpoint, are all that separates OFF from
 * NORMAL; an unsynced header only risks the relaxed transactions behind
 * it, which a power cut may lose anyway, and the next FULL commit syncs
 * it with its frames. A checkpoint must sync, though (the log is reused
 * after it), so none runs under OFF: end_relaxed runs the one that came
 * due once synchronous is FULL again. */
#define WAL_CHECKPOINT_PAGES 1000 /* sqlite's default */

static int wal_hook(void *arg, sqlite3 *s, const char *name, int pages)
{
	struct status_db *db = arg;
	if (pages < WAL_CHECKPOINT_PAGES)
		return SQLITE_OK;
	if (db->relaxed)
		db->checkpoint_due = true;
	else
		sqlite3_wal_checkpoint_v2(s, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

static int db_fail(struct status_db *db, char **error_r, const char *what)
{
	/* the errno of the system call that failed, when one did (disk
	 * full: "database or disk is full" alone does not say which) */
	int sys = sqlite3_system_errno(db->db);
	if (sys)
		*error_r = xasprintf("%s: %s: %s (%s)", db->path, what, sqlite3_errmsg(db->db),
				     strerror(sys));
	else
		*error_r = xasprintf("%s: %s: %s", db->path, what, sqlite3_errmsg(db->db));
	status_clean_text(*error_r); /* a damaged file's bytes can be quoted */
	return -1;
}

static sqlite3_stmt *stmt_get(struct status_db *db, enum stmt_id id, char **error_r)
{
	if (!db->stmt[id] &&
	    sqlite3_prepare_v3(db->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &db->stmt[id],
			       NULL) != SQLITE_OK) {
		db_fail(db, error_r, "prepare");
		return NULL;
	}
	return db->stmt[id];
}

/* Runs a statement to completion (no rows wanted). */
static int stmt_done(struct status_db *db, sqlite3_stmt *st, const char *what, char **error_r)
{
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		db_fail(db, error_r, what);
		sqlite3_reset(st);
		return -1;
	}
	sqlite3_reset(st);
	return 0;
}

static int exec(struct status_db *db, const char *sql, const char *what, char **error_r)
{
	if (sqlite3_exec(db->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, error_r, what);
	return 0;
}

/* mkdir -p dir with mode (existing directories are fine). */
static int mkdir_parents(const char *dir, mode_t mode)
{
	char *p = xstrdup(dir);
	int ret = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			ret = -1;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return ret;
}

static int ensure_parent_dir(const char *path, char **error_r)
{
	const char *slash = strrchr(path, '/');
	if (!slash || slash == path)
		return 0;
	char *dir = xstrndup(path, (size_t)(slash - path));
	struct stat st;
	int ret = 0;
	if (stat(dir, &st) < 0) {
		if (errno != ENOENT || mkdir_parents(dir, 0700) < 0) {
			*error_r = xasprintf("%s: cannot create directory %s: %s", path, dir,
					     strerror(errno));
			ret = -1;
		}
	} else if (!S_ISDIR(st.st_mode)) {
		*error_r = xasprintf("%s: %s is not a directory", path, dir);
		ret = -1;
	}
	free(dir);
	return ret;
}

/* Creates path 0600 if missing, so sqlite (which would use 0644 & ~umask)
 * finds it there; its -wal and -shm files copy this mode. */
static int precreate(const char *path, char **error_r)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		*error_r = xasprintf("%s: create: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

/* Returns the schema version (0 when there is no meta table), -1 on error. */
static int schema_version(struct status_db *db, char **error_r)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db->db,
			       "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, error_r, "read schema");
	int rc = sqlite3_step(st);
	int have_meta = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (have_meta < 0)
		return db_fail(db, error_r, "read schema");
	if (!have_meta)
		return 0;
	if (sqlite3_prepare_v2(db->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
			       NULL) != SQLITE_OK)
		return db_fail(db, error_r, "read schema_version");
	int version = 0;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return db_fail(db, error_r, "read schema_version");
	return version;
}

static char *ro_uri(const char *path);

/* Readonly: copies the file into a private in-memory DB, so a dry run can
 * "write" freely and nothing on disk changes. Even a read-only connection
 * to a WAL database creates its -shm and -wal files; when no other process
 * has it open (no -wal file), "immutable" reads it without creating them. */
static int open_readonly_copy(struct status_db *db, char **error_r)
{
	sqlite3 *file = NULL;
	char *wal = xasprintf("%s-wal", db->path);
	bool in_use = access(wal, F_OK) == 0;
	free(wal);
	char *uri = ro_uri(db->path);
	if (!in_use) {
		char *imm = xasprintf("%s&immutable=1", uri);
		free(uri);
		uri = imm;
	}
	int rc = sqlite3_open_v2(uri, &file, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	free(uri);
	if (rc == SQLITE_OK) {
		sqlite3_busy_timeout(file, 5000);
		sqlite3_backup *b = sqlite3_backup_init(db->db, "main", file, "main");
		if (b) {
			sqlite3_backup_step(b, -1);
			rc = sqlite3_backup_finish(b);
		} else {
			rc = sqlite3_errcode(db->db);
		}
	}
	if (rc != SQLITE_OK) {
		*error_r = xasprintf("%s: open read-only: %s", db->path,
				     file ? sqlite3_errmsg(file) : sqlite3_errstr(rc));
		sqlite3_close(file);
		return -1;
	}
	sqlite3_close(file);
	return 0;
}
/* Per-folder state for skipping unchanged folders (sync/engine.c): the
 * server's MESSAGES at the last completed sync and the local new/ and cur/
 * directory mtimes (ns; 0 = unknown or too recent to trust). A side table
 * rather than new columns of folders, created like the outbox tables in any
 * DB that lacks it without touching schema_version: an older offlinefs
 * ignores it, and a DB from before it just has no rows (= nothing known, so
 * every folder is synced normally once). */
static const char folder_state_schema_sql[] =
	"CREATE TABLE IF NOT EXISTS folder_state (folder_id INTEGER PRIMARY KEY,"
	" messages INTEGER NOT NULL DEFAULT 0, new_mtime INTEGER NOT NULL DEFAULT 0,"
	" cur_mtime INTEGER NOT NULL DEFAULT 0);";

/* How many schema objects match `where` (an SQL condition on
 * sqlite_master), or -1 with *error_r. Used to add tables that newer
 * versions introduced to a DB written by an older one. */
static int count_schema_objects(struct status_db *db, const char *where, char **error_r)
{
	char *sql = xasprintf("SELECT count(*) FROM sqlite_master WHERE %s", where);
	sqlite3_stmt *st;
	int prep = sqlite3_prepare_v2(db->db, sql, -1, &st, NULL);
	free(sql);
	if (prep != SQLITE_OK)
		return db_fail(db, error_r, "read schema");
	int rc = sqlite3_step(st);
	int have = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	if (have < 0)
		return db_fail(db, error_r, "read schema");
	return have;
}

/* Creates the live-mount tables when missing (one transaction; nothing is
 * written when they exist). */
static int ensure_outbox_schema(struct status_db *db, char **error_r)
{
	int have = count_schema_objects(db, "(type = 'table' AND name IN ('outbox', 'names'))"
					    " OR (type = 'index' AND name = 'names_uid')",
					error_r);
	if (have < 0)
		return -1;
	if (have == 3)
		return 0;
	if (exec(db, "BEGIN IMMEDIATE", "begin", error_r) < 0)
		return -1;
	if (exec(db, outbox_schema_sql, "create outbox schema", error_r) < 0) {
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return exec(db, "COMMIT", "commit outbox schema", error_r);
}

/* Uploads sent but not yet known to have landed (status.h,
 * status_upload_mark): created like folder_state in any DB lacking it. */
static const char uploads_schema_sql[] =
	"CREATE TABLE IF NOT EXISTS uploads (folder_id INTEGER NOT NULL, base TEXT NOT NULL,"
	" PRIMARY KEY (folder_id, base)) WITHOUT ROWID;";

static int ensure_uploads_schema(struct status_db *db, char **error_r)
{
	int have = count_schema_objects(db, "type = 'table' AND name = 'uploads'", error_r);
	if (have < 0)
		return -1;
	if (have == 1)
		return 0;
	if (exec(db, "BEGIN IMMEDIATE", "begin", error_r) < 0)
		return -1;
	if (exec(db, uploads_schema_sql, "create uploads table", error_r) < 0) {
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
		return -1;
	}
	return exec(db, "COMMIT", "commit uploads table", error_r);
}

static int ensure_folder_state_schema(struct status_db *db, char **error_r)
{
	int have = count_schema_objects(db, "type = 'table' AND name = 'folder_state'", error_r);
	if (have < 0)
		return -1;
	if (have == 1)
		return 0;
	return exec(db, folder_state_schema_sql, "create folder_state", error_r);
}

int status_open(const char *path, bool readonly, bool fsync, struct status_db **db_r,
		char **error_r)
{
	struct status_db *db = xcalloc(1, sizeof(*db));
	db->path = xstrdup(path);
	*db_r = NULL;

	struct stat st;
	bool exists = stat(path, &st) == 0;
	if (!exists && errno != ENOENT) {
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		goto err_free;
	}

	if (readonly) {
		if (sqlite3_open_v2(":memory:", &db->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
			db_fail(db, error_r, "open in-memory");
			goto err_close;
		}
		if (exists && open_readonly_copy(db, error_r) < 0)
			goto err_close;
	} else {
		if (ensure_parent_dir(path, error_r) < 0)
			goto err_free;
		if (!exists && precreate(path, error_r) < 0)
			goto err_free;
		if (sqlite3_open_v2(path, &db->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
			db_fail(db, error_r, "open");
			goto err_close;
		}
		sqlite3_busy_timeout(db->db, 5000);
		/* replaces sqlite's automatic checkpoint: see wal_hook */
		sqlite3_wal_hook(db->db, wal_hook, db);
		sqlite3_stmt *jm;
		if (sqlite3_prepare_v2(db->db, "PRAGMA journal_mode = WAL", -1, &jm, NULL) != SQLITE_OK) {
			db_fail(db, error_r, "journal_mode");
			goto err_close;
		}
		int rc = sqlite3_step(jm);
		bool wal = rc == SQLITE_ROW &&
			   !strcmp((const char *)sqlite3_column_text(jm, 0), "wal");
		sqlite3_finalize(jm);
		if (!wal) {
			db_fail(db, error_r, "journal_mode = WAL");
			goto err_close;
		}
		db->wal = true;
		if (exec(db, fsync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
			 "synchronous", error_r) < 0)
			goto err_close;
		db->fsync = fsync;
	}

	int version = schema_version(db, error_r);
	if (version < 0)
		goto err_close;
	if (version > SCHEMA_VERSION) {
		*error_r = xasprintf("%s: schema_version %d is newer than this offlinefs knows (%d)",
				     path, version, SCHEMA_VERSION);
		goto err_close;
	}
	if (version == 0) {
		/* A new (or empty, e.g. created by a crash) file: one
		 * transaction, so a second process racing us sees all or
		 * nothing; IF NOT EXISTS makes the loser's run harmless. */
		if (exec(db, "BEGIN IMMEDIATE", "begin", error_r) < 0)
			goto err_close;
		if (exec(db, schema_sql, "create schema", error_r) < 0) {
			sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
			goto err_close;
		}
		if (exec(db, "COMMIT", "commit schema", error_r) < 0)
			goto err_close;
	}
	if (ensure_outbox_schema(db, error_r) < 0 || ensure_folder_state_schema(db, error_r) < 0 ||
	    ensure_uploads_schema(db, error_r) < 0)
		goto err_close;
	log_debug(LOG_DBG_SYNC, "status: opened %s%s", path,
		  readonly ? (exists ? " (read-only copy in memory)" : " (missing: empty, in memory)")
			   : "");
	*db_r = db;
	return 0;

err_close:
	sqlite3_close(db->db);
err_free:
	free(db->path);
	free(db);
	return -1;
}

static int end_relaxed(struct status_db *db, char **error_r);

/* --- durability on a thread (status_sync_start) --- */

/* fdatasync of the WAL on its own descriptor: fsync works on the file,
 * not the descriptor, so this makes every frame written before it
 * durable, as a FULL commit's sync would, while sqlite goes on using its
 * own descriptor for the same file. */
struct wal_syncer {
	pthread_t thread;
	bool threaded; /* else the sync ran inline in start */
	int fd;
	int err;       /* errno of a failed fdatasync, or 0 */
};

static void *wal_syncer_main(void *arg)
{
	struct wal_syncer *s = arg;
	s->err = fdatasync(s->fd) == 0 ? 0 : errno;
	return NULL;
}

int status_sync_start(struct status_db *db, char **error_r)
{
	if (!db->fsync || !db->committed || !db->wal)
		return 0; /* nothing to wait for */
	if (status_sync_wait(db, error_r) < 0) /* it covered less than this one must */
		return -1;
	const char *wal = sqlite3_filename_wal(sqlite3_db_filename(db->db, "main"));
	int fd = wal && *wal ? open(wal, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0) {
		*error_r = xasprintf("%s: cannot open its write-ahead log to sync it: %s", db->path,
				     wal && *wal ? strerror(errno) : "no file name");
		return -1;
	}
	struct wal_syncer *s = xcalloc(1, sizeof(*s));
	s->fd = fd;
	s->threaded = pthread_create(&s->thread, NULL, wal_syncer_main, s) == 0;
	if (!s->threaded)
		wal_syncer_main(s); /* no thread to be had: the same, only later */
	db->syncer = s;
	return 0;
}

int status_sync_wait(struct status_db *db, char **error_r)
{
	struct wal_syncer *s = db->syncer;
	if (!s)
		return 0;
	if (s->threaded)
		pthread_join(s->thread, NULL);
	close(s->fd);
	int err = s->err;
	free(s);
	db->syncer = NULL;
	if (err) {
		*error_r = xasprintf("%s: syncing the write-ahead log: %s", db->path, strerror(err));
		return -1;
	}
	return 0;
}

void status_close(struct status_db **dbp)
{
	struct status_db *db = *dbp;
	if (!db)
		return;
	char *ignored = NULL;
	if (status_sync_wait(db, &ignored) < 0)
		free(ignored);
	if (db->in_txn)
		sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
	db->in_txn = false;
	ignored = NULL;
	if (end_relaxed(db, &ignored) < 0) /* the checkpoint at close must sync */
		free(ignored);
	for (int i = 0; i < ST_COUNT; i++)
		sqlite3_finalize(db->stmt[i]);
	for (int i = 0; i < STATUS_EXT_STMTS; i++)
		sqlite3_finalize(db->ext[i]);
	sqlite3_close(db->db);
	free(db->path);
	free(db);
	*dbp = NULL;
}

/* --- status_internal.h --- */

sqlite3 *status_sqlite(struct status_db *db)
{
	return db->db;
}

const char *status_path(const struct status_db *db)
{
	return db->path;
}

bool status_in_txn(const struct status_db *db)
{
	return db->in_txn;
}

sqlite3_stmt *status_ext_stmt(struct status_db *db, unsigned slot, const char *sql,
			      char **error_r)
{
	if (slot >= STATUS_EXT_STMTS) {
		*error_r = xasprintf("%s: statement slot %u out of range", db->path, slot);
		return NULL;
	}
	if (!db->ext[slot] &&
	    sqlite3_prepare_v3(db->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &db->ext[slot], NULL) !=
		    SQLITE_OK) {
		db_fail(db, error_r, "prepare");
		return NULL;
	}
	return db->ext[slot];
}

int status_db_fail(struct status_db *db, char **error_r, const char *what)
{
	return db_fail(db, error_r, what);
}

int status_folder_get(struct status_db *db, const char *folder, struct status_folder *f_r,
		      char **error_r)
{
	memset(f_r, 0, sizeof(*f_r));
	sqlite3_stmt *st = stmt_get(db, ST_FOLDER_GET, error_r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		f_r->id = sqlite3_column_int64(st, 0);
		f_r->uidvalidity = (uint32_t)sqlite3_column_int64(st, 1);
		f_r->uidnext = (uint32_t)sqlite3_column_int64(st, 2);
		f_r->highestmodseq = (uint64_t)sqlite3_column_int64(st, 3);
		f_r->last_sync = sqlite3_column_int64(st, 4);
		f_r->messages = (uint32_t)sqlite3_column_int64(st, 5); /* NULL reads 0 */
		f_r->new_mtime_ns = sqlite3_column_int64(st, 6);
		f_r->cur_mtime_ns = sqlite3_column_int64(st, 7);
	} else if (rc != SQLITE_DONE) {
		db_fail(db, error_r, "read folder");
	}
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int status_folder_ensure(struct status_db *db, const char *folder, int64_t *id_r, char **error_r)
{
	sqlite3_stmt *st = stmt_get(db, ST_FOLDER_INSERT, error_r);
	if (!st)
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	if (stmt_done(db, st, "insert folder", error_r) < 0)
		return -1;
	if (!(st = stmt_get(db, ST_FOLDER_ID, error_r)))
		return -1;
	sqlite3_bind_text(st, 1, folder, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*id_r = sqlite3_column_int64(st, 0);
	else
		db_fail(db, error_r, "read folder id");
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int status_folder_update(struct status_db *db, const struct status_folder *f, char **error_r)
{
	sqlite3_stmt *st = stmt_get(db, ST_FOLDER_UPDATE, error_r);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, f->id);
	sqlite3_bind_int64(st, 2, f->uidvalidity);
	sqlite3_bind_int64(st, 3, f->uidnext);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)f->highestmodseq);
	sqlite3_bind_int64(st, 5, f->last_sync);
	if (stmt_done(db, st, "update folder", error_r) < 0)
		return -1;
	if (sqlite3_changes(db->db) != 1) {
		*error_r = xasprintf("%s: update folder: no folder with id %lld", db->path,
				     (long long)f->id);
		return -1;
	}
	if (!(st = stmt_get(db, ST_FOLDER_STATE, error_r)))
		return -1;
	sqlite3_bind_int64(st, 1, f->id);
	sqlite3_bind_int64(st, 2, f->messages);
	sqlite3_bind_int64(st, 3, f->new_mtime_ns);
	sqlite3_bind_int64(st, 4, f->cur_mtime_ns);
	return stmt_done(db, st, "update folder state", error_r);
}

int status_folder_names(struct status_db *db, char ***names_r, size_t *n_r, char **error_r)
{
	*names_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = stmt_get(db, ST_FOLDER_NAMES, error_r);
	if (!st)
		return -1;
	char **v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow(&v, &cap, n + 1, sizeof(*v));
		v[n++] = xstrdup((const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		for (size_t i = 0; i < n; i++)
			free(v[i]);
		free(v);
		return db_fail(db, error_r, "list folders");
	}
	*names_r = v;
	*n_r = n;
	return 0;
}

int status_folder_clear(struct status_db *db, int64_t folder_id, char **error_r)
{
	sqlite3_stmt *st = stmt_get(db, ST_FOLDER_CLEAR, error_r);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	return stmt_done(db, st, "clear folder", error_r);
}

int status_load(struct status_db *db, int64_t folder_id, struct status_rec **recs_r, size_t *n_r,
		char **error_r)
{
	*recs_r = NULL;
	*n_r = 0;
	sqlite3_stmt *st = stmt_get(db, ST_LOAD, error_r);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	struct status_rec *v = NULL;
	size_t n = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		xgrow(&v, &cap, n + 1, sizeof(*v));
		const char *flags = (const char *)sqlite3_column_text(st, 1);
		v[n].uid = (uint32_t)sqlite3_column_int64(st, 0);
		v[n].flags = flags ? flags_from_letters(flags, strlen(flags)) : 0;
		n++;
	}
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		free(v);
		return db_fail(db, error_r, "load messages");
	}
	*recs_r = v;
	*n_r = n;
	return 0;
}

int status_begin(struct status_db *db, char **error_r)
{
	if (db->in_txn) {
		*error_r = xasprintf("%s: begin: a transaction is already open", db->path);
		return -1;
	}
	if (exec(db, "BEGIN IMMEDIATE", "begin", error_r) < 0)
		return -1;
	db->in_txn = true;
	return 0;
}

/* sqlite refuses to change synchronous inside a transaction: it is set
 * before BEGIN and put back after COMMIT or ROLLBACK. */
int status_begin_relaxed(struct status_db *db, char **error_r)
{
	if (db->fsync && !db->in_txn) {
		if (exec(db, "PRAGMA synchronous = OFF", "synchronous", error_r) < 0)
			return -1;
		db->relaxed = true;
	}
	int rc = status_begin(db, error_r);
	if (rc < 0 && db->relaxed) {
		sqlite3_exec(db->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
		db->relaxed = false;
	}
	return rc;
}

/* Back to FULL after a relaxed transaction; a failure here would leave
 * later transactions relaxed, so it fails the caller too. */
static int end_relaxed(struct status_db *db, char **error_r)
{
	if (!db->relaxed || db->in_txn)
		return 0;
	db->relaxed = false;
	if (exec(db, "PRAGMA synchronous = FULL", "synchronous", error_r) < 0)
		return -1;
	if (db->checkpoint_due) {
		db->checkpoint_due = false;
		sqlite3_wal_checkpoint_v2(db->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	}
	return 0;
}

int status_commit(struct status_db *db, char **error_r)
{
	if (!db->in_txn) {
		*error_r = xasprintf("%s: commit: no transaction is open", db->path);
		return -1;
	}
	if (exec(db, "COMMIT", "commit", error_r) < 0) {
		/* sqlite may have rolled back already (e.g. disk full); if
		 * not, the caller's status_rollback() ends it. */
		db->in_txn = !sqlite3_get_autocommit(db->db);
		if (!db->in_txn) {
			char *ignored = NULL;
			end_relaxed(db, &ignored);
			free(ignored);
		}
		return -1;
	}
	db->in_txn = false;
	db->committed = true;
	if (end_relaxed(db, error_r) < 0)
		return -1;
	return 0;
}

void status_rollback(struct status_db *db)
{
	if (!db->in_txn)
		return;
	sqlite3_exec(db->db, "ROLLBACK", NULL, NULL, NULL);
	db->in_txn = false;
	char *ignored = NULL;
	end_relaxed(db, &ignored);
	free(ignored);
}

static int put(struct status_db *db, enum stmt_id id, int64_t folder_id, uint32_t uid,
	       flagset_t flags, char **error_r)
{
	sqlite3_stmt *st = stmt_get(db, id, error_r);
	if (!st)
		return -1;
	char letters[FLAGS_LETTERS_MAX];
	flags_to_letters(flags, letters);
	sqlite3_bind_int64(st, 1, folder_id);
	sqlite3_bind_int64(st, 2, uid);
	sqlite3_bind_text(st, 3, letters, -1, SQLITE_TRANSIENT);
	return stmt_done(db, st, "write message", error_r);
}

int status_put(struct status_db *db, int64_t folder_id, uint32_t uid, flagset_t flags,
	       char **error_r)
{
	return put(db, ST_PUT, folder_id, uid, flags, error_r);
}

int status_remove(struct status_db *db, int64_t folder_id, uint32_t uid, char **error_r)
{
	sqlite3_stmt *st = stmt_get(db, ST_REMOVE, error_r);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	sqlite3_bind_int64(st, 2, uid);
	return stmt_done(db, st, "delete message", error_r);
}

/* "file:" URI for path with everything but unreserved characters and '/'
 * percent-encoded, opened read-only. */
static char *ro_uri(const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "file:");
	for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("/-._~", *p)) {
			sb_addc(&sb, (char)*p);
		} else {
			sb_addc(&sb, '%');
			sb_addc(&sb, hex[*p >> 4]);
			sb_addc(&sb, hex[*p & 15]);
		}
	}
	sb_adds(&sb, "?mode=ro");
	return sb_detach(&sb);
}

static int oi_fail(sqlite3 *oi, const char *path, const char *what, char **error_r)
{
	*error_r = xasprintf("%s: %s: %s", path, what, sqlite3_errmsg(oi));
	return -1;
}

/* Reads the OfflineIMAP DB's rows into db (inside the caller's savepoint). */
static int import_rows(struct status_db *db, sqlite3 *oi, const char *path, int64_t folder_id,
		       size_t *count_r, char **error_r)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(oi, "SELECT value FROM metadata WHERE key = 'db_version'", -1, &st,
			       NULL) != SQLITE_OK)
		return oi_fail(oi, path, "not an OfflineIMAP LocalStatus-sqlite DB", error_r);
	int rc = sqlite3_step(st);
	char *version = rc == SQLITE_ROW && sqlite3_column_text(st, 0)
				? xstrdup((const char *)sqlite3_column_text(st, 0))
				: NULL;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return oi_fail(oi, path, "read db_version", error_r);
	if (!version || (strcmp(version, "1") != 0 && strcmp(version, "2") != 0)) {
		*error_r = xasprintf("%s: unsupported OfflineIMAP LocalStatus db_version '%s'", path,
				     version ? version : "(none)");
		free(version);
		return -1;
	}
	free(version);

	if (sqlite3_prepare_v2(oi, "SELECT id, flags FROM status", -1, &st, NULL) != SQLITE_OK)
		return oi_fail(oi, path, "read status", error_r);
	size_t count = 0;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		sqlite3_int64 uid = sqlite3_column_int64(st, 0);
		if (uid <= 0 || uid > UINT32_MAX)
			continue;
		const char *flags = (const char *)sqlite3_column_text(st, 1); /* NULL-able */
		if (put(db, ST_PUT_IGNORE, folder_id, (uint32_t)uid,
			flags ? flags_from_letters(flags, strlen(flags)) : 0, error_r) < 0) {
			sqlite3_finalize(st);
			return -1;
		}
		if (sqlite3_changes(db->db) > 0)
			count++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return oi_fail(oi, path, "read status", error_r);
	*count_r = count;
	return 0;
}

int status_import_offlineimap(struct status_db *db, int64_t folder_id, const char *path,
			      size_t *count_r, char **error_r)
{
	*count_r = 0;
	struct stat st;
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		*error_r = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}

	char *uri = ro_uri(path);
	sqlite3 *oi = NULL;
	int rc = sqlite3_open_v2(uri, &oi, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL);
	free(uri);
	if (rc != SQLITE_OK) {
		oi_fail(oi, path, "open read-only", error_r);
		sqlite3_close(oi);
		return -1;
	}
	sqlite3_busy_timeout(oi, 5000);

	int ret = -1;
	if (exec(db, "SAVEPOINT import", "begin import", error_r) < 0)
		goto out;
	size_t count = 0;
	if (import_rows(db, oi, path, folder_id, &count, error_r) < 0) {
		sqlite3_exec(db->db, "ROLLBACK TO import; RELEASE import", NULL, NULL, NULL);
		goto out;
	}
	if (exec(db, "RELEASE import", "commit import", error_r) < 0)
		goto out;
	log_debug(LOG_DBG_SYNC, "status: imported %zu rows from %s", count, path);
	*count_r = count;
	ret = 0;
out:
	sqlite3_close(oi);
	return ret;
}

/* --- uploads in flight --- */

static int upload_step(struct status_db *db, enum stmt_id id, int64_t folder_id, const char *base,
		       char **error_r)
{
	sqlite3_stmt *st = stmt_get(db, id, error_r);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	sqlite3_bind_text(st, 2, base, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, error_r, "uploads");
}

int status_upload_mark(struct status_db *db, int64_t folder_id, const char *base, char **error_r)
{
	return upload_step(db, ST_UPLOAD_MARK, folder_id, base, error_r);
}

int status_upload_clear(struct status_db *db, int64_t folder_id, const char *base, char **error_r)
{
	return upload_step(db, ST_UPLOAD_CLEAR, folder_id, base, error_r);
}

int status_upload_load(struct status_db *db, int64_t folder_id, struct strlist *bases_r,
		       char **error_r)
{
	sqlite3_stmt *st = stmt_get(db, ST_UPLOAD_LOAD, error_r);
	if (!st)
		return -1;
	sqlite3_bind_int64(st, 1, folder_id);
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		strlist_add(bases_r, (const char *)sqlite3_column_text(st, 0));
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, error_r, "read uploads");
}
