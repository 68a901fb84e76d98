/* live_internal.h — between sync/live.c (threads, scheduling, hooks) and
 * sync/live_ops.c (what each outbox op does on the server). For sync/live*.c
 * only.
 */
#ifndef OFFLINEFS_LIVE_INTERNAL_H
#define OFFLINEFS_LIVE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cache/outbox.h"
#include "cache/status.h"
#include "common/repo.h"
#include "sync/account.h"

/* An op refused by the server this many times is dropped (logged); the
 * next full sync settles the difference by the three-way rules. */
#define LIVE_MAX_ATTEMPTS 5

/* The status rows of one folder, loaded once per drain round and kept in
 * step with what the worker writes. */
struct live_rows {
	int64_t folder_id; /* 0 = nothing loaded */
	struct status_rec *v;
	size_t n;
};

/* The outbox worker's own connections; used by the worker thread only. */
struct live_worker {
	const struct account_settings *a; /* borrowed */
	struct status_db *db;             /* owned */
	struct repo *remote;              /* owned; NULL while not connected */
	struct repo *local;               /* owned; the Maildir, for reading files */
	char rsep;                        /* the server's separator once connected */
	uint32_t sel_uidvalidity;         /* of remote->folder */
	struct live_rows rows;
	char *error;                      /* owned; why the last op or connect failed */
	struct folder_map *fmap;          /* owned; names (sync/folder_map.h) */
};

enum live_op_result {
	LIVE_OP_DONE,    /* removed from the outbox (done, moot or dropped) */
	LIVE_OP_OFFLINE, /* the connection failed; the op stays (reconnect) */
	LIVE_OP_REFUSED, /* the server refused it; recorded, it stays (retry later) */
	LIVE_OP_DB,      /* the status DB failed; the op stays (retry later) */
};

/* Connects w->remote when it is not. Returns 0, or -1 with w->error. */
int live_worker_connect(struct live_worker *w);
/* Drops the connection (after an error that made it unusable). */
void live_worker_disconnect(struct live_worker *w);
/* Forgets the cached status rows (call when a sync may have changed them). */
void live_worker_forget_rows(struct live_worker *w);

/* Ops at most applied together: consecutive FLAGS (or DELETE) ops of one
 * folder become one UID STORE (or one STORE + UID EXPUNGE). */
#define LIVE_BATCH 500

/* How many of ops[0..n) (the oldest queued, in order) go into one
 * live_run_ops call: a run of FLAGS or of DELETE ops of the same folder,
 * else 1. */
size_t live_batch_len(const struct outbox_op *ops, size_t n);

/* Applies ops[0..n) (a batch as live_batch_len says) on the server, updates
 * the status and names rows and removes the ops, in one transaction. Needs
 * a connection (live_worker_connect). w->error says why on failure; a
 * refusal is recorded on ops[0]. */
enum live_op_result live_run_ops(struct live_worker *w, const struct outbox_op *ops, size_t n);

/* The server name of a local folder, or NULL (the Maildir root "" has
 * none). malloc'd. */
char *live_remote_name(const struct live_worker *w, const char *local);

#endif
