/* status.h — the sqlite status cache: what both sides looked like after the
 * last successful sync. The base of every three-way decision.
 *
 * Owns: <metadata>/Account-<account>/offlinefs.sqlite, our own schema:
 *   meta(key TEXT PRIMARY KEY, value TEXT)            -- schema_version = 1
 *   folders(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,
 *           uidvalidity, uidnext, highestmodseq, last_sync INTEGER)
 *   messages(folder_id, uid, flags TEXT, PRIMARY KEY(folder_id, uid)) WITHOUT ROWID
 * Folder names are the remote folder names. WAL mode; writes are grouped by
 * the caller in status_begin()/status_commit() (one transaction per batch,
 * never a commit per message). synchronous=FULL when fsync is on, else
 * NORMAL; status_begin_relaxed() transactions are OFF when fsync is on
 * (why, and the checkpoints that this defers: wal_hook in status.c), else
 * NORMAL. The file and its directory are created 0600/0700.
 *
 * It also imports OfflineIMAP's per-folder LocalStatus-sqlite files
 * (schema v1 and v2: status(id, flags, ...)) so migrating users keep their
 * sync base.
 *
 * Return convention: 0 ok, -1 error with *error_r (malloc'd) naming the DB
 * file and what failed.
 */
#ifndef OFFLINEFS_STATUS_H
#define OFFLINEFS_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/xalloc.h"

#include "common/flags.h"

struct status_db;

struct status_folder {
	int64_t id;             /* 0 = not in the cache */
	uint32_t uidvalidity;   /* 0 = never synced */
	uint32_t uidnext;
	uint64_t highestmodseq;
	int64_t last_sync;      /* unix time of the last completed sync */
	/* folder_state(folder_id, messages, new_mtime, cur_mtime), a side table
	 * created in any DB that lacks it; all 0 when no row. Written together
	 * with the row above by status_folder_update. */
	uint32_t messages;      /* server MESSAGES (EXISTS) at the last completed sync */
	int64_t new_mtime_ns;   /* local new/ and cur/ mtimes (ns) after it; 0 = not */
	int64_t cur_mtime_ns;   /* known or too recent to trust (sync/engine.c) */
};

struct status_rec {
	uint32_t uid;
	flagset_t flags;
};

/* Opens (creating schema) path. With readonly, a missing file yields an
 * empty in-memory cache and nothing is created (dry-run); an existing file
 * is copied into memory, so writes succeed but never reach the disk.
 * Otherwise missing parent directories are created 0700 and the file 0600.
 * A DB with a newer schema_version is refused. */
int status_open(const char *path, bool readonly, bool fsync, struct status_db **db_r,
		char **error_r);
void status_close(struct status_db **db);

/* Returns 1 and fills f_r if folder is cached, 0 if not (f_r->id = 0). */
int status_folder_get(struct status_db *db, const char *folder, struct status_folder *f_r,
		      char **error_r);
/* Inserts the folder if missing; *id_r is its id. */
int status_folder_ensure(struct status_db *db, const char *folder, int64_t *id_r, char **error_r);
/* Writes every field of f (both tables) for folder f->id. */
int status_folder_update(struct status_db *db, const struct status_folder *f, char **error_r);
/* Names of all cached folders (for `status` output). */
int status_folder_names(struct status_db *db, char ***names_r, size_t *n_r, char **error_r);
/* Drops every message row of the folder (folder newly created, or reset). */
int status_folder_clear(struct status_db *db, int64_t folder_id, char **error_r);

/* All rows of the folder, sorted by uid. *recs_r is malloc'd. */
int status_load(struct status_db *db, int64_t folder_id, struct status_rec **recs_r, size_t *n_r,
		char **error_r);

/* Uploads in flight, by the local file's base name (the part before
 * ":2,"): marked (and committed) before an APPEND is sent, cleared once its
 * outcome is known. A base still marked at the next run may be on the
 * server already although the file has no UID (the connection died before
 * the reply): the engine looks for it there before uploading it again, so a
 * lost reply never duplicates a message. Inside or outside a transaction. */
int status_upload_mark(struct status_db *db, int64_t folder_id, const char *base, char **error_r);
int status_upload_clear(struct status_db *db, int64_t folder_id, const char *base, char **error_r);
/* Appends the marked bases of the folder, sorted, to bases_r. */
int status_upload_load(struct status_db *db, int64_t folder_id, struct strlist *bases_r,
		       char **error_r);

/* BEGIN IMMEDIATE. Transactions do not nest: a second begin is an error.
 * After a failed commit call status_rollback(). */
int status_begin(struct status_db *db, char **error_r);
/* status_begin for a transaction that a power cut may lose without harm:
 * it is committed without waiting for the disk (synchronous=OFF for
 * this one when fsync is on) and becomes durable with the next
 * status_begin transaction, a status_sync_start, or the checkpoint at
 * close. For rows that
 * describe files already made durable (repo flush), whose loss only
 * makes the next sync compare again (it matches the files by their U=):
 * the sync's row batches and folder states. The upload marks, which must
 * be on disk before their APPEND is sent, need a status_begin commit or
 * status_sync_start/_wait after this one. */
int status_begin_relaxed(struct status_db *db, char **error_r);
int status_commit(struct status_db *db, char **error_r);
void status_rollback(struct status_db *db);
/* Makes every transaction committed so far durable, as a status_begin
 * commit would, on a thread while the caller goes on; status_sync_wait()
 * waits for it and reports its failure. So relaxed commits that must be
 * on disk before some later step (the upload marks, before their APPEND)
 * cost that step no wait when a server round trip came in between. A
 * second start first waits for the one before; a no-op with fsync off,
 * for a read-only copy, and before the first status_commit. Both return 0, or -1 with *error_r. */
int status_sync_start(struct status_db *db, char **error_r);
int status_sync_wait(struct status_db *db, char **error_r);
/* Insert or replace one row. Call inside begin/commit. */
int status_put(struct status_db *db, int64_t folder_id, uint32_t uid, flagset_t flags,
	       char **error_r);
int status_remove(struct status_db *db, int64_t folder_id, uint32_t uid, char **error_r);

/* Imports an OfflineIMAP LocalStatus-sqlite file for folder_id (rows
 * replace nothing already cached: call only for a folder with no rows).
 * *count_r = rows imported. A missing file is not an error (count 0).
 * The file is opened read-only (never upgraded); db_version must be 1 or
 * 2, else -1. Rows with id <= 0 or beyond 32 bits are skipped; NULL flags
 * read as none. All-or-nothing (a savepoint), inside or outside a
 * status_begin() batch. */
int status_import_offlineimap(struct status_db *db, int64_t folder_id, const char *path,
			      size_t *count_r, char **error_r);

#endif
