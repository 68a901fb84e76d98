/* repo.h — a repository: the one interface the sync engine talks to.
 *
 * It lives in common/ so that the back-ends (cache/, imap/) and the engine
 * (sync/) can all include it while dependencies keep pointing one way.
 *
 * Owns: the contract between sync/ and the two back-ends, cache/maildir.c
 * (local Maildir) and imap/imap_repo.c (IMAP server). The engine never
 * includes a back-end header beyond its constructor; everything it does to
 * a store goes through struct repo_ops (isync's struct driver).
 *
 * Model
 *   A repository holds folders; one folder at a time is selected. A
 *   message is identified by the *remote* UID it carries (IMAP: its UID;
 *   Maildir: the ",U=" in its filename when the ",FMD5=" matches this
 *   folder) plus a back-end private key (Maildir: its path below the folder,
 *   "cur/<name>"; IMAP: NULL). A local message that has no UID yet has
 *   uid 0 and is new.
 *
 *   Message bodies cross the interface with LF line endings (Maildir form);
 *   the IMAP back-end converts CRLF<->LF at its edge.
 *
 * Errors are graded by blast radius (isync DRV_*): a failed call returns one
 * of enum repo_result and leaves a one-line description that repo_error()
 * returns until the next call on the same repo. REPO_MSG_BAD means only the
 * named message failed (skip it); REPO_FOLDER_BAD skips the folder;
 * REPO_STORE_BAD means the connection or store is unusable (abort account).
 *
 * Threading: a struct repo is used by one thread at a time.
 */
#ifndef OFFLINEFS_REPO_H
#define OFFLINEFS_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/flags.h"
#include "common/xalloc.h"

enum repo_result {
	REPO_OK = 0,
	REPO_MSG_BAD = -1,
	REPO_FOLDER_BAD = -2,
	REPO_STORE_BAD = -3,
};

struct repo_msg {
	uint32_t uid;    /* remote UID, 0 = none (new local message) */
	flagset_t flags; /* current flags on this side */
	uint64_t size;   /* size in this repo (IMAP: RFC822.SIZE, CRLF); Maildir
			  * fills it only when asked to (maxsize), else 0 */
	int64_t time;    /* IMAP INTERNALDATE / Maildir mtime when known; else 0 */
	char *key;       /* owned; back-end private handle, NULL for IMAP */
};

struct repo_msg_list {
	struct repo_msg *v;
	size_t n, cap;
};
void repo_msg_list_add(struct repo_msg_list *l, const struct repo_msg *m); /* takes m->key */
void repo_msg_list_free(struct repo_msg_list *l);

struct repo_folder_status {
	uint32_t uidvalidity;   /* Maildir: always 42, like OfflineIMAP */
	uint32_t uidnext;       /* 0 if unknown */
	uint32_t exists;        /* message count as reported at select */
	uint64_t highestmodseq; /* 0 if the server has no CONDSTORE */
};

/* One folder's state as the server reports it without selecting it
 * (STATUS), for skipping unchanged folders. */
struct repo_probe_entry {
	char *name;                   /* owned; the folder name as list_folders gives it */
	struct repo_folder_status st; /* exists = MESSAGES; highestmodseq 0 without CONDSTORE */
};

struct repo_probe {
	struct repo_probe_entry *v;
	size_t n, cap;
	bool condstore; /* the server advertises CONDSTORE: highestmodseq is meaningful */
};

static inline void repo_probe_free(struct repo_probe *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->v[i].name);
	free(p->v);
	p->v = NULL;
	p->n = p->cap = 0;
}

/* Receives one message body during fetch. body is LF-terminated text, valid
 * only during the call. Return 0 to go on, -1 to stop the fetch (fetch then
 * returns REPO_FOLDER_BAD with the callback's reason). */
typedef int repo_body_cb(void *ctx, const struct repo_msg *msg, const char *body, size_t len);

/* One message for store_many: LF text, flags, INTERNALDATE (0 = none). */
struct repo_upload {
	const char *body;
	size_t len;
	flagset_t flags;
	int64_t time;
};

struct repo;

/* Directory syncs a flush_begin left running. wait() waits for them,
 * frees p, and returns REPO_OK, or REPO_FOLDER_BAD with *error_r (one
 * line, malloc'd). */
struct repo_pending_flush {
	int (*wait)(struct repo_pending_flush *p, char **error_r);
};

struct repo_ops {
	/* "IMAP" or "Maildir": used in messages such as "IMAP[INBOX]". */
	const char *type_name;

	/* Optional: starts what of connect can run while the caller does other
	 * work (IMAP: the name lookup and TCP handshake, during which the
	 * server prepares its side). Never fails; connect reports what went
	 * wrong. Without a connect after it, free cleans up. */
	void (*begin_connect)(struct repo *r);
	/* Opens the connection / checks the root. Idempotent. */
	int (*connect)(struct repo *r);
	/* Hierarchy separator of folder names in this repo ('/' or '.'). */
	char (*separator)(struct repo *r);
	/* Appends every selectable folder name (this repo's own naming and
	 * separator; IMAP names stay modified UTF-7) to names_r. */
	int (*list_folders)(struct repo *r, struct strlist *names_r);
	/* Creates the folder (IMAP: each missing hierarchy level; an existing
	 * folder is not an error). */
	int (*create_folder)(struct repo *r, const char *name);

	/* Selects name for the calls below; for_write false may use EXAMINE. */
	int (*select_folder)(struct repo *r, const char *name, bool for_write,
			     struct repo_folder_status *st_r);
	/* Appends every message of the selected folder to list (any order),
	 * with uid, flags, size and time filled in. */
	int (*list_messages)(struct repo *r, struct repo_msg_list *list);
	/* Fetches bodies of msgs[0..n) and calls cb once per message, in any
	 * order. The IMAP back-end batches many UIDs per command, bounded by
	 * total size so memory stays bounded. A message that vanished meanwhile
	 * is skipped (not an error). */
	int (*fetch)(struct repo *r, struct repo_msg *const *msgs, size_t n, repo_body_cb *cb,
		     void *ctx);
	/* Stores a new message in the selected folder.
	 * Maildir: writes tmp/ -> (fsync) -> new/ or cur/ with a name carrying
	 *   U=uid and this folder's FMD5; *key_r is its key (owned by caller).
	 * IMAP: APPEND with flags and time (uid ignored); *uid_r is the new UID
	 *   (APPENDUID, or found by header-marker search without UIDPLUS), or 0
	 *   when it could not be learned. key_r is NULL-able. */
	int (*store)(struct repo *r, const char *body, size_t len, flagset_t flags, int64_t time,
		     uint32_t uid, uint32_t *uid_r, char **key_r);
	/* Optional (NULL for Maildir): stores ups[0..n) in the selected
	 * folder like n calls of store, each getting codes_r[i] (REPO_OK or the
	 * message's failure) and uids_r[i] (0 = not learned). IMAP with
	 * MULTIAPPEND, UIDPLUS and LITERAL+ sends them as one APPEND (the
	 * server stores all or none; one refused message makes it retry them
	 * one by one to learn which); otherwise one APPEND each. A message's
	 * own failure (REPO_MSG_BAD) is logged here, as only one error text is
	 * kept. Returns REPO_OK, or the connection's or folder's failure (not
	 * logged), which is then also the code of every message whose outcome
	 * is unknown. */
	int (*store_many)(struct repo *r, const struct repo_upload *ups, size_t n, uint32_t *uids_r,
			  int *codes_r);
	/* Gives every msgs[i] the flag set new_flags[i]. IMAP groups the
	 * changes into one UID STORE per flag and direction, pipelined (a
	 * refused STORE fails the call; the others still apply); Maildir renames
	 * each file once (and moves it between new/ and cur/ by S). On return
	 * msgs[i]->flags (and ->key) describe the new state of the messages
	 * that were changed. */
	int (*set_flags)(struct repo *r, struct repo_msg *const *msgs, const flagset_t *new_flags,
			 size_t n);
	/* Deletes msgs. IMAP: UID STORE +FLAGS.SILENT (\Deleted) then, when the
	 * repository's expunge option is on, UID EXPUNGE over exactly those
	 * UIDs (plain EXPUNGE only without UIDPLUS). Maildir: unlink. */
	int (*delete_messages)(struct repo *r, struct repo_msg *const *msgs, size_t n);
	/* Maildir only (NULL for IMAP): renames msg so that it carries uid and
	 * this folder's FMD5; updates msg->uid and msg->key. */
	int (*set_uid)(struct repo *r, struct repo_msg *msg, uint32_t uid);
	/* Maildir only (NULL for IMAP): opens msg's file for reading (a
	 * reader's rename is followed like read_body does): *fd_r (the caller
	 * closes it), its size and mtime. For bodies too big to hold whole. */
	int (*open_body)(struct repo *r, const struct repo_msg *msg, int *fd_r, uint64_t *size_r,
			 int64_t *time_r);
	/* IMAP only (NULL for Maildir): like store, for a body read from fd
	 * (LF text, size bytes from offset 0) without holding it in memory:
	 * the file is read twice, once to size the literal, once to send it
	 * (CRLF on the fly). A file that changes in between fails the
	 * connection (REPO_STORE_BAD): the literal's size was announced. */
	int (*store_fd)(struct repo *r, int fd, uint64_t size, flagset_t flags, int64_t time,
			uint32_t *uid_r);
	/* Optional (NULL for IMAP): makes every store and set_uid of the
	 * selected folder so far durable. Maildir with fsync on writes each
	 * file's data durably before its rename, but fsyncs new/ and cur/ (the
	 * renames) once here instead of once per message; callers flush before
	 * they commit status rows that say the messages are there. Also done
	 * by close_folder and select_folder. REPO_OK or REPO_FOLDER_BAD. */
	int (*flush)(struct repo *r);
	/* Optional: flush with the directory syncs left running on a thread,
	 * so that the caller can talk to the server meanwhile; the stores are
	 * published (file data durable, renamed) before it returns. *pending_r
	 * is NULL when nothing is left to sync, else the caller must call its
	 * wait() before committing rows that say the messages are there. The
	 * folder may be closed and another selected in between. REPO_OK, or
	 * what flush would have returned (nothing left pending then). */
	int (*flush_begin)(struct repo *r, struct repo_pending_flush **pending_r);
	/* Maildir only (NULL for IMAP): like store, for a body already written
	 * (LF text) to tmp/<tmp_name> of the selected folder, e.g. a big
	 * message fetched piece by piece (fetch_pieces): the file is synced
	 * (with fsync on), dated, and renamed into new/ or cur/ under a name
	 * carrying uid; on failure it is left in tmp/ for the caller to
	 * remove. Same results as store. */
	int (*store_file)(struct repo *r, const char *tmp_name, flagset_t flags, int64_t time,
			  uint32_t uid, uint32_t *uid_r, char **key_r);
	/* IMAP only (NULL for Maildir): fetches one message's body in pieces
	 * of at most piece bytes (BODY.PEEK[]<offset.piece>), handing each to
	 * cb as LF text, so memory stays bounded whatever the message's size
	 * (fetch holds whole bodies). *complete_r is false, with REPO_OK and
	 * possibly some pieces already delivered, when the message vanished
	 * meanwhile. cb returning -1 stops it (REPO_FOLDER_BAD). */
	int (*fetch_pieces)(struct repo *r, const struct repo_msg *msg, size_t piece,
			    int (*cb)(void *ctx, const char *data, size_t len), void *ctx,
			    bool *complete_r);
	/* Maildir only (NULL for IMAP): reads the whole body of msg. *body_r
	 * is malloc'd; *time_r is the file's mtime (used as the APPEND
	 * INTERNALDATE, like OfflineIMAP). */
	int (*read_body)(struct repo *r, const struct repo_msg *msg, char **body_r, size_t *len_r,
			 int64_t *time_r);

	/* --- Operations for the live mount (docs/mount.md). IMAP only: NULL
	 * in the Maildir back-end; callers check for NULL. --- */

	/* Waits in IDLE on the selected folder until the server reports a
	 * change (untagged EXISTS, EXPUNGE, FETCH or VANISHED), timeout_seconds
	 * pass (servers drop IDLE after 30 min: use <= 29 min), or cancel_fd
	 * becomes readable (the caller writes a byte to wake it; the byte is
	 * not consumed). Always ends IDLE with DONE before returning.
	 * *changed_r tells whether the server reported a change. Without the
	 * IDLE capability it returns REPO_FOLDER_BAD at once. */
	int (*idle)(struct repo *r, int timeout_seconds, int cancel_fd, bool *changed_r);
	/* Moves msg (msg->uid in the selected folder) to dst_folder: UID MOVE
	 * when the server has MOVE, else UID COPY + \Deleted + UID EXPUNGE of
	 * that UID. *new_uid_r is its UID in dst_folder (COPYUID), 0 when the
	 * server did not say. */
	int (*move)(struct repo *r, struct repo_msg *msg, const char *dst_folder, uint32_t *new_uid_r);
	/* Finds, in the selected folder, a message whose Message-ID header is
	 * message_id and whose RFC822.SIZE is size (UID SEARCH HEADER
	 * Message-ID, then a size check): used before replaying an upload
	 * that may have reached the server before a crash. *uid_r = 0 when
	 * none or more than one matches. */
	int (*find_message)(struct repo *r, const char *message_id, uint64_t size, uint32_t *uid_r);

	/* Flags this repository can store. The planner treats other letters as
	 * unchanged on this side, so e.g. Maildir 'P' is never "removed" by an
	 * IMAP server that cannot hold it. */
	flagset_t (*storable_flags)(struct repo *r);

	/* Deselects (IMAP: nothing is expunged implicitly). */
	void (*close_folder)(struct repo *r);
	/* Logs out / releases everything and frees r; *r set to NULL. */
	void (*free)(struct repo **r);

	/* --- Cheap resync (docs/protocol.md). IMAP only: NULL in the Maildir
	 * back-end; callers check for NULL. --- */

	/* Appends to out the STATUS (UIDVALIDITY UIDNEXT MESSAGES, plus
	 * HIGHESTMODSEQ with CONDSTORE) of the folders in names, without
	 * selecting any: one "LIST ... RETURN (STATUS (...))" (RFC 5819) when
	 * LIST-STATUS is advertised, else all STATUS commands written before
	 * any reply is read (one round trip). Folders the server gives no
	 * status for are simply absent; a refused STATUS is not an error.
	 * Only REPO_STORE_BAD (connection lost) is returned as a failure.
	 * Must be called with no folder selected. */
	int (*probe)(struct repo *r, const struct strlist *names, struct repo_probe *out);
	/* CONDSTORE resync of the selected folder (selected with a non-zero
	 * highestmodseq): appends to changed every message whose mod-sequence
	 * is above since (UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)
	 * (CHANGEDSINCE since)) plus every message present on the server whose
	 * UID is not in known[0..n_known) (sorted ascending), with the same
	 * items as list_messages; and sets *gone_r (malloc'd, sorted) to the
	 * UIDs of known that are no longer on the server. *present_r is the
	 * number of messages the server has now. Without CONDSTORE it returns
	 * REPO_FOLDER_BAD without sending anything. */
	int (*list_changes)(struct repo *r, uint64_t since, const uint32_t *known, size_t n_known,
			    struct repo_msg_list *changed, uint32_t **gone_r, size_t *n_gone_r,
			    size_t *present_r);
	/* Optional (NULL: select_folder). select_folder for writing that also
	 * asks the server for what changed since the last sync's uidvalidity
	 * and highestmodseq (IMAP: SELECT ... (QRESYNC (uidvalidity modseq)),
	 * RFC 7162 3.2.5), so that the list_changes(modseq) that follows can
	 * answer without a command of its own when no new message arrived.
	 * Falls back to a plain select_folder when the server has no QRESYNC. */
	int (*select_since)(struct repo *r, const char *name, uint32_t uidvalidity,
			    uint64_t modseq, struct repo_folder_status *st_r);
	/* Optional (NULL: set_flags, then delete_messages). Both in one
	 * exchange with the server (IMAP: one pipeline, one round trip);
	 * *flags_rc and *del_rc are what each call would have returned, and
	 * the messages are updated as each would have. Returns the first of
	 * the two that is not REPO_OK. */
	int (*set_flags_and_delete)(struct repo *r, struct repo_msg *const *msgs,
				    const flagset_t *new_flags, size_t n,
				    struct repo_msg *const *del, size_t n_del, int *flags_rc,
				    int *del_rc);
};

/* The part of a repository every back-end shares. Back-ends embed it as
 * their first member and cast. */
struct repo {
	const struct repo_ops *ops; /* borrowed, static */
	char *name;                 /* owned; the config section name, "R" of [Repository R] */
	char *error;                /* owned; last error line, see repo_error() */
	char *folder;               /* owned; selected folder or NULL */
};

/* The last error of r ("IMAP[INBOX]: UID 17: ...") or "" if none. */
const char *repo_error(const struct repo *r);
/* Sets r's last error (printf-style) and returns code, so back-ends can
 * write `return repo_fail(r, REPO_FOLDER_BAD, "...", ...)`. */
int repo_fail(struct repo *r, int code, const char *fmt, ...) PRINTF_LIKE(3, 4);
void repo_base_init(struct repo *r, const struct repo_ops *ops, const char *name);
void repo_base_free(struct repo *r);

#endif
