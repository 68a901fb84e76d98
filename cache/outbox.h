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
 * is recorded in names(folder, base, uid) instead, keyed by the LOCAL
 * folder name like the outbox (the FUSE observer knows only local names;
 * the server's separator is learnt only after connecting). A file's UID is
 * its names row when there is one, else the ",U=" of its name when the
 * ",FMD5=" is this folder's: the row wins, because it is only ever written
 * for a file whose name does not carry the right UID (e.g. a message moved
 * in from another folder keeps the other folder's U= and FMD5). The one-shot
 * sync, which never runs while the mount does, renames such files to
 * OfflineIMAP names and drops the row. Rows are valid for the folder's
 * current UIDVALIDITY only; a folder whose UIDVALIDITY changed is skipped by
 * every sync until it is started over (docs/uidvalidity.md).
 *
 * Durability: the DB is in WAL mode. At synchronous=NORMAL (fsync off) a
 * committed outbox_push survives a crash or kill -9 of the process (the WAL
 * is in the OS's page cache); only a power loss or kernel crash may lose
 * the last commits. With fsync on (synchronous=FULL) it survives those too.
 * A lost op is not a lost change: the Maildir is the truth and the next full
 * sync finds it by the three-way comparison.
 *
 * Replay safety: every op may be applied twice (after a crash, or after a
 * one-shot sync already made the same change): FLAGS sends the difference
 * between the status flags and the file's current flags, DELETE of a UID
 * already gone changes nothing, APPEND and MOVE look for the message on the
 * server first when they were inflight, and an APPEND whose file already
 * has a UID (or is gone) is done.
 *
 * All functions return 0 on success, -1 with *error_r (malloc'd) naming the
 * DB file on failure, unless said otherwise. Each runs in its own
 * transaction when called outside a status_begin()/status_commit() batch of
 * the same handle, and joins the batch when called inside one (so an op's
 * status rows, names rows and its removal from the queue commit together).
 */
#ifndef OFFLINEFS_OUTBOX_H
#define OFFLINEFS_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/status.h"
#include "common/flags.h"

enum outbox_kind {
	OUTBOX_FLAGS = 1,  /* folder, uid, flags, name: make the server's flags
			    * follow the local change from the status flags to
			    * the file's current flags (`flags` when the file
			    * named `name` is gone) */
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
	char *name;              /* owned; APPEND, FLAGS: base name in folder; MOVE:
				  * base name in dst_folder; NULL-able */
	int64_t queued_at;       /* unix time */
	unsigned attempts;       /* tries begun (outbox_begin_try) or failed
				  * (outbox_failed) so far */
	bool inflight;           /* a try started and did not finish (crash): the
				  * worker must check the server before redoing
				  * an APPEND or MOVE */
	char *last_error;        /* owned; NULL if never failed */
};

/* Appends op (id, queued_at, attempts, inflight, last_error are ignored and
 * set). Outside a batch: one INSERT in its own transaction, durable when it
 * returns (see Durability). Inside a batch: durable at its commit. id_r
 * may be NULL. */
int outbox_push(struct status_db *db, const struct outbox_op *op, int64_t *id_r,
		char **error_r);

/* The oldest queued op into *op_r (caller frees with outbox_op_clear).
 * Returns 1 if one was found, 0 if the queue is empty, -1 on error. */
int outbox_peek(struct status_db *db, struct outbox_op *op_r, char **error_r);

/* Marks op id as being tried (inflight, attempts+1), durably, before the
 * worker sends anything to the server. */
int outbox_begin_try(struct status_db *db, int64_t id, char **error_r);
/* Removes op id: it reached the server (or turned out to be moot). Call it
 * inside the batch that writes the status rows the op produced. */
int outbox_done(struct status_db *db, int64_t id, char **error_r);
/* Records why op id failed; it stays queued (inflight cleared). A failure
 * of a try that was not begun with outbox_begin_try counts as an attempt. */
int outbox_failed(struct status_db *db, int64_t id, const char *why, char **error_r);

/* Number of queued ops. */
int outbox_count(struct status_db *db, size_t *n_r, char **error_r);
/* Up to max oldest ops (for `offlinefs status`). *ops_r malloc'd; free each
 * with outbox_op_clear, then the array. */
int outbox_list(struct status_db *db, size_t max, struct outbox_op **ops_r, size_t *n_r,
		char **error_r);
void outbox_op_clear(struct outbox_op *op);

/* names table (see above). folder is the local folder name, base the file
 * name before its ":2," suffix. */
int outbox_name_put(struct status_db *db, const char *folder, const char *base, uint32_t uid,
		    char **error_r);
/* Returns 1 and *uid_r when base is mapped, 0 when not, -1 on error. */
int outbox_name_get(struct status_db *db, const char *folder, const char *base,
		    uint32_t *uid_r, char **error_r);
int outbox_name_remove(struct status_db *db, const char *folder, const char *base,
		       char **error_r);
/* Drops every row of folder that maps to uid (the message was deleted or
 * moved away). */
int outbox_name_forget_uid(struct status_db *db, const char *folder, uint32_t uid,
			   char **error_r);
/* Every mapping of the folder, sorted by base (for the engine's listing).
 * *bases_r and *uids_r malloc'd arrays of *n_r entries (NULL when 0); free
 * each base, then both. */
int outbox_name_load(struct status_db *db, const char *folder, char ***bases_r,
		     uint32_t **uids_r, size_t *n_r, char **error_r);

#endif
