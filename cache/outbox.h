/* outbox.h — the durable queue of local changes waiting to reach the server.
 *
 * Owns: the `outbox` table in the account's status DB (offlinefs.sqlite)
 * and the `names` table that gives a UID to a message file whose name does
 * not carry one.
 *
 * Why it exists: on the live mount (docs/mount.md) a mail reader's rename,
 * unlink or new file is applied to the local Maildir at once, and the FUSE
 * request must return without waiting on the network. So the change is
 * recorded here — one INSERT in its own transaction, durable before the
 * FUSE reply — and a worker (sync/live.c) drains the queue in order on its
 * own IMAP connection. After a crash or while offline the queue simply
 * waits; it is the source of truth for replay.
 *
 * Folder names are LOCAL folder names as on disk ("INBOX", "Lists.foo");
 * the worker maps them to server names. Message files are identified by
 * their base name: everything before the ":2," info suffix, which is what
 * mail readers keep when they change flags (mutt's "canonical" name).
 *
 * Names table: a message uploaded while mounted keeps the name the mail
 * reader gave it (renaming it to an OfflineIMAP ",U=" name under a running
 * reader would make it vanish and reappear in the reader's index). Its UID
 * is recorded in names(folder, base, uid) instead; the one-shot sync, which
 * never runs while the mount does, renames such files to OfflineIMAP names
 * and drops the row.
 *
 * All functions return 0 on success, -1 with *error_r (malloc'd) naming the
 * DB file on failure, unless said otherwise. They must not be called inside
 * a status_begin()/status_commit() transaction of the same handle unless
 * said otherwise.
 */
#ifndef OFFLINEFS_OUTBOX_H
#define OFFLINEFS_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/status.h"
#include "common/flags.h"

enum outbox_kind {
	OUTBOX_FLAGS = 1,  /* folder, uid, flags: make the server's flags follow the
			    * local change from the status flags to `flags` */
	OUTBOX_DELETE = 2, /* folder, uid: the local file was unlinked */
	OUTBOX_MOVE = 3,   /* folder, uid -> dst_folder, name: moved across folders */
	OUTBOX_APPEND = 4, /* folder, name, flags: a new local message */
	OUTBOX_CREATE = 5, /* folder: a new local folder */
};

struct outbox_op {
	int64_t id;              /* assigned by outbox_push; queue order */
	enum outbox_kind kind;
	char *folder;            /* owned; local folder name */
	uint32_t uid;            /* FLAGS, DELETE, MOVE: UID in folder; 0 if unknown */
	flagset_t flags;         /* FLAGS: complete new local flag set; APPEND, MOVE:
				  * the file's flags when queued */
	char *dst_folder;        /* owned; MOVE only */
	char *name;              /* owned; APPEND: base name in folder; MOVE: base
				  * name in dst_folder */
	int64_t queued_at;       /* unix time */
	unsigned attempts;       /* failed tries so far */
	bool inflight;           /* a try started and did not finish (crash): the
				  * worker must check the server before redoing
				  * an APPEND or MOVE */
	char *last_error;        /* owned; NULL if never failed */
};

/* Appends op (id, queued_at, attempts, inflight, last_error are ignored and
 * set). Durable when it returns (its own transaction). *id_r may be NULL. */
int outbox_push(struct status_db *db, const struct outbox_op *op, int64_t *id_r,
		char **error_r);

/* The oldest queued op into *op_r (caller frees with outbox_op_clear).
 * Returns 1 if one was found, 0 if the queue is empty, -1 on error. */
int outbox_peek(struct status_db *db, struct outbox_op *op_r, char **error_r);

/* Marks op id as being tried (inflight, attempts+1), durably, before the
 * worker sends anything to the server. */
int outbox_begin_try(struct status_db *db, int64_t id, char **error_r);
/* Removes op id: it reached the server (or turned out to be moot). May be
 * called inside a transaction so that the status rows it produced and its
 * removal commit together. */
int outbox_done(struct status_db *db, int64_t id, char **error_r);
/* Records why op id failed; it stays queued (inflight cleared). */
int outbox_failed(struct status_db *db, int64_t id, const char *why, char **error_r);

/* Number of queued ops. */
int outbox_count(struct status_db *db, size_t *n_r, char **error_r);
/* Up to max oldest ops (for `offlinefs status`). *ops_r malloc'd; free each
 * with outbox_op_clear, then the array. */
int outbox_list(struct status_db *db, size_t max, struct outbox_op **ops_r, size_t *n_r,
		char **error_r);
void outbox_op_clear(struct outbox_op *op);

/* names table (see above). folder_id is the status folder id. */
int outbox_name_put(struct status_db *db, int64_t folder_id, const char *base, uint32_t uid,
		    char **error_r);
/* Returns 1 and *uid_r when base is mapped, 0 when not, -1 on error. */
int outbox_name_get(struct status_db *db, int64_t folder_id, const char *base, uint32_t *uid_r,
		    char **error_r);
int outbox_name_remove(struct status_db *db, int64_t folder_id, const char *base,
		       char **error_r);
/* Every mapping of the folder (for the engine's listing). *bases_r and
 * *uids_r malloc'd arrays of *n_r entries; free each base, then both. */
int outbox_name_load(struct status_db *db, int64_t folder_id, char ***bases_r, uint32_t **uids_r,
		     size_t *n_r, char **error_r);

#endif
