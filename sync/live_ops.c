/* live_ops.c — what each outbox op does on the server (sync/live.h).
 *
 * Every op follows the same order, so a crash anywhere replays safely:
 *   look at the local file (Maildir) -> select the server folder (UIDVALIDITY
 *   checked against the status cache) -> outbox_begin_try (inflight, durable)
 *   -> the IMAP command(s) -> one transaction: status rows, names rows,
 *   outbox_done.
 * An op found inflight (the process died between the IMAP command and the
 * transaction) first looks on the server for what the command would have
 * made (live_find_uploaded), so an APPEND or MOVE is never done twice.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cache/maildir_name.h"
#include "common/hash.h"
#include "common/log.h"
#include "sync/engine.h"
#include "sync/live_find.h"
#include "sync/folder_map.h"
#include "sync/live_internal.h"
#include "sync/oimap_follow.h"

/* Internal outcome of one step. */
enum step {
	STEP_OK,
	STEP_OFFLINE, /* connection unusable */
	STEP_REFUSED, /* the server (or the Maildir) refused; retry later */
	STEP_DB,      /* status DB error */
	STEP_DROP,    /* can never succeed: log and remove */
	STEP_MOOT,    /* nothing (more) to do: remove */
};

static enum step fail(struct live_worker *w, enum step s, const char *fmt, ...) PRINTF_LIKE(3, 4);

static enum step fail(struct live_worker *w, enum step s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	free(w->error);
	w->error = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

static enum step db_fail(struct live_worker *w, char *err)
{
	enum step s = fail(w, STEP_DB, "status cache: %s", err ? err : "failed");
	free(err);
	return s;
}

/* A repository call's result as a step. */
static enum step remote_step(struct live_worker *w, int rc)
{
	if (rc == REPO_OK)
		return STEP_OK;
	fail(w, STEP_REFUSED, "%s", repo_error(w->remote));
	if (rc == REPO_STORE_BAD) {
		live_worker_disconnect(w);
		return STEP_OFFLINE;
	}
	return STEP_REFUSED;
}

/* --- connection -------------------------------------------------------- */

int live_worker_connect(struct live_worker *w)
{
	if (w->remote)
		return 0;
	struct repo *r = sync_make_remote(w->a);
	if (r->ops->connect(r) != REPO_OK) {
		fail(w, STEP_OFFLINE, "%s", repo_error(r));
		r->ops->free(&r);
		return -1;
	}
	w->remote = r;
	w->rsep = r->ops->separator(r);
	w->sel_uidvalidity = 0;
	log_debug(LOG_DBG_SYNC, "live: outbox worker connected to %s", w->a->remote.name);
	return 0;
}

void live_worker_disconnect(struct live_worker *w)
{
	if (w->remote)
		w->remote->ops->free(&w->remote);
	w->sel_uidvalidity = 0;
}

char *live_remote_name(const struct live_worker *w, const char *local)
{
	if (!*local && !w->a->local.nametrans.set)
		return NULL;
	char *err = NULL;
	char *r = folder_map_to_remote(w->fmap, local, w->rsep, &err);
	if (!r) {
		log_error("%s", err);
		free(err);
	}
	return r;
}

/* --- cached status rows ------------------------------------------------- */

void live_worker_forget_rows(struct live_worker *w)
{
	free(w->rows.v);
	memset(&w->rows, 0, sizeof(w->rows));
}

static enum step load_rows(struct live_worker *w, int64_t folder_id)
{
	if (w->rows.folder_id == folder_id)
		return STEP_OK;
	live_worker_forget_rows(w);
	char *err = NULL;
	if (status_load(w->db, folder_id, &w->rows.v, &w->rows.n, &err) < 0)
		return db_fail(w, err);
	w->rows.folder_id = folder_id;
	return STEP_OK;
}

/* Index of uid in the loaded rows, or where it would go. */
static size_t rows_find(const struct live_rows *r, uint32_t uid, bool *found_r)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (r->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found_r = lo < r->n && r->v[lo].uid == uid;
	return lo;
}

/* The status flags of uid; false when the cache has no row. */
static bool rows_get(struct live_worker *w, uint32_t uid, flagset_t *flags_r)
{
	bool found;
	size_t i = rows_find(&w->rows, uid, &found);
	if (found)
		*flags_r = w->rows.v[i].flags;
	return found;
}

/* Mirrors a committed status_put / status_remove in the cache. */
static void rows_put(struct live_worker *w, int64_t folder_id, uint32_t uid, flagset_t flags)
{
	if (w->rows.folder_id != folder_id)
		return;
	bool found;
	size_t i = rows_find(&w->rows, uid, &found);
	if (!found) {
		w->rows.v = xrealloc(w->rows.v, (w->rows.n + 1) * sizeof(*w->rows.v));
		memmove(&w->rows.v[i + 1], &w->rows.v[i], (w->rows.n - i) * sizeof(*w->rows.v));
		w->rows.n++;
	}
	w->rows.v[i] = (struct status_rec){ uid, flags };
}

static void rows_remove(struct live_worker *w, int64_t folder_id, uint32_t uid)
{
	if (w->rows.folder_id != folder_id)
		return;
	bool found;
	size_t i = rows_find(&w->rows, uid, &found);
	if (!found)
		return;
	memmove(&w->rows.v[i], &w->rows.v[i + 1], (w->rows.n - i - 1) * sizeof(*w->rows.v));
	w->rows.n--;
}

/* After a committed op: OfflineIMAP's status of the folder follows, as in
 * the one-shot sync (sync/oimap_follow.h), so flag changes and deletions
 * made on the mount are not undone by a later offlineimap run. */
static void follow_oimap(struct live_worker *w, const char *local, const struct status_rec *puts,
			 size_t n_puts, const uint32_t *removes, size_t n_removes)
{
	char *remote = live_remote_name(w, local);
	if (remote)
		oimap_follow_rows(w->a, remote, puts, n_puts, removes, n_removes);
	free(remote);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Sorted UIDs the status rows and names rows of a folder already pair with
 * a local file (live_find_uploaded must not take them). */
static enum step known_uids(struct live_worker *w, const struct status_folder *sf,
			    const char *local, uint32_t **uids_r, size_t *n_r)
{
	enum step s = load_rows(w, sf->id);
	if (s != STEP_OK)
		return s;
	char **bases = NULL;
	uint32_t *nuids = NULL;
	size_t nn = 0;
	char *err = NULL;
	if (outbox_name_load(w->db, local, &bases, &nuids, &nn, &err) < 0)
		return db_fail(w, err);
	size_t n = w->rows.n + nn;
	uint32_t *v = xmalloc((n ? n : 1) * sizeof(*v));
	for (size_t i = 0; i < w->rows.n; i++)
		v[i] = w->rows.v[i].uid;
	for (size_t i = 0; i < nn; i++) {
		v[w->rows.n + i] = nuids[i];
		free(bases[i]);
	}
	free(bases);
	free(nuids);
	qsort(v, n, sizeof(*v), cmp_u32);
	*uids_r = v;
	*n_r = n;
	return STEP_OK;
}

/* --- the local file ------------------------------------------------------ */

struct local_file {
	struct repo_msg msg; /* key owned; uid: from the name (this folder's FMD5) */
	uint32_t uid;        /* names row, else msg.uid; 0 = none */
	bool found;
};

static void local_file_clear(struct local_file *f)
{
	free(f->msg.key);
	memset(f, 0, sizeof(*f));
}

/* Reads the file's body; *time_r its mtime (the APPEND INTERNALDATE). */
static enum step read_local(struct live_worker *w, const char *folder, const struct local_file *f,
			    char **body_r, size_t *len_r, int64_t *time_r)
{
	struct repo *lr = w->local;
	struct repo_folder_status st;
	int rc = lr->ops->select_folder(lr, folder, false, &st);
	if (rc == REPO_OK)
		rc = lr->ops->read_body(lr, &f->msg, body_r, len_r, time_r);
	lr->ops->close_folder(lr);
	if (rc != REPO_OK)
		return fail(w, STEP_REFUSED, "%s", repo_error(lr));
	return STEP_OK;
}

/* A folder's files, sorted by base name, for many lookups. */
struct listing {
	struct repo_msg_list list;
	size_t *order;   /* indices into list.v, by base */
	size_t *base_len; /* of list.v[i]'s name */
};

static size_t name_base_len(const char *name)
{
	/* ':' or '!' (maildir-windows-compatible), as maildir_name_parse */
	const char *info = strstr(name, ":2,");
	if (!info)
		info = strstr(name, "!2,");
	return info ? (size_t)(info - name) : strlen(name);
}

static const struct listing *sort_ctx;

static int cmp_listing(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	size_t lx = sort_ctx->base_len[x], ly = sort_ctx->base_len[y];
	int c = memcmp(sort_ctx->list.v[x].key + 4, sort_ctx->list.v[y].key + 4, lx < ly ? lx : ly);
	return c ? c : lx < ly ? -1 : lx > ly;
}

static void listing_free(struct listing *ls)
{
	repo_msg_list_free(&ls->list);
	free(ls->order);
	free(ls->base_len);
	memset(ls, 0, sizeof(*ls));
}

/* Lists new/ and cur/ of the local folder (a folder that is gone lists
 * empty). */
static enum step list_local(struct live_worker *w, const char *folder, struct listing *ls)
{
	memset(ls, 0, sizeof(*ls));
	struct repo *lr = w->local;
	struct repo_folder_status st;
	if (lr->ops->select_folder(lr, folder, false, &st) != REPO_OK) {
		log_debug(LOG_DBG_SYNC, "live: %s", repo_error(lr));
		return STEP_OK;
	}
	int rc = lr->ops->list_messages(lr, &ls->list);
	lr->ops->close_folder(lr);
	if (rc != REPO_OK) {
		listing_free(ls);
		return fail(w, STEP_REFUSED, "%s", repo_error(lr));
	}
	size_t n = ls->list.n;
	ls->order = xmalloc((n ? n : 1) * sizeof(*ls->order));
	ls->base_len = xmalloc((n ? n : 1) * sizeof(*ls->base_len));
	for (size_t i = 0; i < n; i++) {
		ls->order[i] = i;
		ls->base_len[i] = name_base_len(ls->list.v[i].key + 4);
	}
	sort_ctx = ls; /* the worker thread is the only caller */
	qsort(ls->order, n, sizeof(*ls->order), cmp_listing);
	sort_ctx = NULL;
	return STEP_OK;
}

/* The file whose base name is base, or NULL. */
static const struct repo_msg *listing_find(const struct listing *ls, const char *base)
{
	if (!base || !*base)
		return NULL;
	size_t bl = strlen(base), lo = 0, hi = ls->list.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, i = ls->order[mid];
		size_t l = ls->base_len[i];
		int c = memcmp(ls->list.v[i].key + 4, base, l < bl ? l : bl);
		if (!c)
			c = l < bl ? -1 : l > bl;
		if (!c)
			return &ls->list.v[i];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A listed file's UID: its names row, else the U= of its name. */
static enum step file_uid_of(struct live_worker *w, const char *folder, const char *base,
			     const struct repo_msg *m, uint32_t *uid_r)
{
	uint32_t uid = 0;
	char *err = NULL;
	int g = outbox_name_get(w->db, folder, base, &uid, &err);
	if (g < 0)
		return db_fail(w, err);
	*uid_r = g == 1 ? uid : m->uid;
	return STEP_OK;
}

/* Finds the message of base name `base` in new/ or cur/ of the local
 * folder. A folder that is gone means the file is gone. */
static enum step locate(struct live_worker *w, const char *folder, const char *base,
			struct local_file *f)
{
	memset(f, 0, sizeof(*f));
	struct listing ls;
	enum step s = list_local(w, folder, &ls);
	if (s != STEP_OK)
		return s;
	const struct repo_msg *m = listing_find(&ls, base);
	if (m && (s = file_uid_of(w, folder, base, m, &f->uid)) == STEP_OK) {
		f->msg = *m;
		f->msg.key = xstrdup(m->key);
		f->found = true;
	}
	listing_free(&ls);
	return s;
}

/* --- the server folder ---------------------------------------------------- */

/* Selects the server folder of local folder `local` for writing and reads
 * (or creates) its status folder row. A UIDVALIDITY different from the
 * cached one drops the op: its UIDs mean other messages now. */
static enum step select_remote(struct live_worker *w, const char *local, struct status_folder *sf)
{
	char *rname = live_remote_name(w, local);
	if (!rname)
		return fail(w, STEP_DROP, "folder '%s' has no name on the server", local);
	char *err = NULL;
	enum step s = STEP_OK;
	if (status_folder_get(w->db, rname, sf, &err) < 0) {
		s = db_fail(w, err);
		goto out;
	}
	struct repo *r = w->remote;
	if (!r->folder || strcmp(r->folder, rname) != 0) {
		struct repo_folder_status st;
		w->sel_uidvalidity = 0;
		s = remote_step(w, r->ops->select_folder(r, rname, true, &st));
		if (s != STEP_OK)
			goto out;
		w->sel_uidvalidity = st.uidvalidity;
	}
	if (sf->id && sf->uidvalidity && sf->uidvalidity != w->sel_uidvalidity) {
		s = fail(w, STEP_DROP,
			 "folder %s: UIDVALIDITY changed (saved %u, now %u); see docs/uidvalidity.md",
			 rname, sf->uidvalidity, w->sel_uidvalidity);
		goto out;
	}
	if (!sf->id && status_folder_ensure(w->db, rname, &sf->id, &err) < 0)
		s = db_fail(w, err);
out:
	free(rname);
	return s;
}

/* Inside a transaction: the folder row takes the selected UIDVALIDITY if it
 * had none, so the rows written with it are never applied to another. */
static int stamp_folder(struct live_worker *w, struct status_folder *sf, char **err)
{
	if (sf->uidvalidity)
		return 0;
	sf->uidvalidity = w->sel_uidvalidity;
	return status_folder_update(w->db, sf, err);
}

/* Runs a transaction's steps; on failure rolls back. Returns STEP_OK or
 * STEP_DB. */
static enum step end_txn(struct live_worker *w, int rc, char *err)
{
	if (rc == 0 && status_commit(w->db, &err) == 0)
		return STEP_OK;
	status_rollback(w->db);
	return db_fail(w, err);
}

static enum step begin_try(struct live_worker *w, const struct outbox_op *op)
{
	char *err = NULL;
	if (outbox_begin_try(w->db, op->id, &err) < 0)
		return db_fail(w, err);
	return STEP_OK;
}

/* Pushes the part of base -> want the server can store (msg->uid selected). */
static enum step push_flags(struct live_worker *w, uint32_t uid, flagset_t base, flagset_t want)
{
	struct repo *r = w->remote;
	flagset_t storable = r->ops->storable_flags(r);
	if (((base ^ want) & storable) == 0)
		return STEP_OK;
	struct repo_msg m = { .uid = uid, .flags = base };
	struct repo_msg *one[1] = { &m };
	return remote_step(w, r->ops->set_flags(r, one, &want, 1));
}

/* --- ops ----------------------------------------------------------------- */

/* FLAGS ops (ops[0..n), one folder): the server's flags follow each file's
 * current flags, as the difference from the status flags (so a flag
 * changed on the server meanwhile survives). One listing of the folder,
 * one set_flags call (IMAP: one UID STORE per flag and direction), one
 * transaction. FLAGS ops are idempotent: no begin_try. */
static enum step op_flags(struct live_worker *w, const struct outbox_op *ops, size_t n)
{
	if (w->a->remote.readonly)
		return fail(w, STEP_DROP, "the remote repository is readonly");
	const char *folder = ops[0].folder;
	struct listing ls;
	enum step s = list_local(w, folder, &ls);
	if (s != STEP_OK)
		return s;
	struct status_folder sf;
	if ((s = select_remote(w, folder, &sf)) != STEP_OK || (s = load_rows(w, sf.id)) != STEP_OK)
		goto out_list;

	/* One entry per UID; a later op's file state wins (they agree
	 * anyway when the file is there). */
	struct item {
		uint32_t uid;
		flagset_t base, want;
		bool known;
	} *items = xmalloc(n * sizeof(*items));
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct outbox_op *op = &ops[i];
		const struct repo_msg *m = listing_find(&ls, op->name);
		uint32_t file_uid = 0;
		if (m && (s = file_uid_of(w, folder, op->name, m, &file_uid)) != STEP_OK)
			goto out_items;
		/* The file's flags now: they include whatever a sync applied
		 * to it after the op was queued, which must not be undone. */
		flagset_t want = m && file_uid == op->uid ? m->flags : op->flags;
		size_t j = 0;
		while (j < k && items[j].uid != op->uid)
			j++;
		if (j == k) {
			items[k].uid = op->uid;
			items[k].known = rows_get(w, op->uid, &items[k].base);
			k++;
		}
		items[j].want = want;
	}

	struct repo *r = w->remote;
	flagset_t storable = r->ops->storable_flags(r);
	struct repo_msg *msgs = xmalloc((k ? k : 1) * sizeof(*msgs));
	struct repo_msg **pm = xmalloc((k ? k : 1) * sizeof(*pm));
	flagset_t *want = xmalloc((k ? k : 1) * sizeof(*want));
	size_t nm = 0;
	for (size_t j = 0; j < k; j++) {
		if (!items[j].known) {
			log_debug(LOG_DBG_SYNC, "live: FLAGS %s UID %u: not in the status cache "
				  "(gone from the server?): nothing to do", folder, items[j].uid);
			continue;
		}
		if (((items[j].base ^ items[j].want) & storable) == 0)
			continue;
		msgs[nm] = (struct repo_msg){ .uid = items[j].uid, .flags = items[j].base };
		pm[nm] = &msgs[nm];
		want[nm] = items[j].want;
		nm++;
	}
	if (nm)
		s = remote_step(w, r->ops->set_flags(r, pm, want, nm));
	free(msgs);
	free(pm);
	free(want);
	if (s != STEP_OK)
		goto out_items;

	char *err = NULL;
	int rc = status_begin(w->db, &err);
	for (size_t j = 0; rc == 0 && j < k; j++)
		if (items[j].known)
			rc = status_put(w->db, sf.id, items[j].uid, items[j].want, &err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = outbox_done(w->db, ops[i].id, &err);
	if ((s = end_txn(w, rc, err)) == STEP_OK) {
		struct status_rec *puts = xcalloc(k + 1, sizeof(*puts));
		size_t np = 0;
		for (size_t j = 0; j < k; j++)
			if (items[j].known) {
				rows_put(w, sf.id, items[j].uid, items[j].want);
				puts[np++] = (struct status_rec){ items[j].uid, items[j].want };
			}
		follow_oimap(w, folder, puts, np, NULL, 0);
		free(puts);
	}
out_items:
	free(items);
out_list:
	listing_free(&ls);
	return s;
}

/* Deletes uids[0..n) of local folder `local` on the server and forgets
 * their status and names rows, and ops[0..n), in one transaction (DELETE,
 * and a MOVE whose file is gone again). Idempotent: a UID already gone
 * changes nothing, so no begin_try. */
static enum step delete_uids(struct live_worker *w, const struct outbox_op *ops, size_t n,
			     const char *local, const uint32_t *uids)
{
	if (!w->a->local.sync_deletes)
		return fail(w, STEP_MOOT, "deletions do not reach the server (sync_deletes = no)");
	struct status_folder sf;
	enum step s = select_remote(w, local, &sf);
	if (s != STEP_OK)
		return s;
	struct repo_msg *msgs = xcalloc(n, sizeof(*msgs));
	struct repo_msg **pm = xmalloc(n * sizeof(*pm));
	for (size_t i = 0; i < n; i++) {
		msgs[i].uid = uids[i];
		pm[i] = &msgs[i];
	}
	s = remote_step(w, w->remote->ops->delete_messages(w->remote, pm, n));
	free(msgs);
	free(pm);
	if (s != STEP_OK)
		return s;
	char *err = NULL;
	int rc = status_begin(w->db, &err);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		rc = status_remove(w->db, sf.id, uids[i], &err);
		if (rc == 0)
			rc = outbox_name_forget_uid(w->db, local, uids[i], &err);
		if (rc == 0)
			rc = outbox_done(w->db, ops[i].id, &err);
	}
	if ((s = end_txn(w, rc, err)) == STEP_OK) {
		for (size_t i = 0; i < n; i++)
			rows_remove(w, sf.id, uids[i]);
		follow_oimap(w, local, NULL, 0, uids, n);
	}
	return s;
}

/* DELETE ops (ops[0..n), one folder). */
static enum step op_delete(struct live_worker *w, const struct outbox_op *ops, size_t n)
{
	if (w->a->remote.readonly)
		return fail(w, STEP_DROP, "the remote repository is readonly");
	uint32_t *uids = xmalloc(n * sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		uids[i] = ops[i].uid;
	enum step s = delete_uids(w, ops, n, ops[0].folder, uids);
	free(uids);
	return s;
}

/* Uploads the local file f of folder `local` (selected on the server:
 * sf) unless it is already there: an inflight op first looks for it (as
 * does a MOVE whose new UID the server did not report).
 * *uid_r is its UID, 0 when the server took it without saying (logged). */
static enum step upload(struct live_worker *w, const struct outbox_op *op, const char *local,
			const struct status_folder *sf, const struct local_file *f,
			uint32_t *uid_r)
{
	*uid_r = 0;
	char *body = NULL;
	size_t len = 0;
	int64_t mtime = 0;
	enum step s = read_local(w, local, f, &body, &len, &mtime);
	if (s != STEP_OK)
		return s;
	if (w->a->filters.filterheaders.n) /* as the one-shot sync does (filters.h) */
		len = filters_strip_headers(body, len, &w->a->filters.filterheaders);
	uint32_t *known = NULL;
	size_t n_known = 0;
	if ((s = known_uids(w, sf, local, &known, &n_known)) != STEP_OK)
		goto out;
	struct repo *r = w->remote;
	if (op->inflight) {
		/* The last try may have reached the server before we died. */
		s = remote_step(w, live_find_uploaded(r, body, len, known, n_known, uid_r));
		if (s != STEP_OK)
			goto out;
		if (*uid_r) {
			log_info("Folder %s: %s is already on the server (UID %u): not uploaded again",
				 r->folder, f->msg.key, *uid_r);
			goto out;
		}
	}
	if ((s = remote_step(w, r->ops->store(r, body, len, f->msg.flags, mtime, 0, uid_r, NULL))) !=
	    STEP_OK)
		goto out;
	if (*uid_r == 0) {
		s = remote_step(w, live_find_uploaded(r, body, len, known, n_known, uid_r));
		if (s == STEP_OK && *uid_r == 0)
			log_error("Folder %s: uploaded %s but the server did not report its UID and it "
				  "could not be found; the file stays as it is (it may be uploaded "
				  "again by the next full sync)", r->folder, f->msg.key);
	}
	log_debug(LOG_DBG_SYNC, "live: uploaded %s/%s as UID %u", local, f->msg.key, *uid_r);
out:
	free(known);
	free(body);
	return s;
}

/* After an upload: the names row and status row of the file, and the op's
 * removal, in one transaction. extra_forget: also forget this UID of that
 * folder (MOVE: the source). */
static enum step record_upload(struct live_worker *w, const struct outbox_op *op,
			       const char *local, struct status_folder *sf, const char *base,
			       uint32_t uid, flagset_t flags, const char *src_local,
			       int64_t src_id, uint32_t src_uid)
{
	char *err = NULL;
	int rc = status_begin(w->db, &err);
	if (rc == 0 && uid) {
		rc = stamp_folder(w, sf, &err);
		if (rc == 0)
			rc = outbox_name_put(w->db, local, base, uid, &err);
		if (rc == 0)
			rc = status_put(w->db, sf->id, uid, flags, &err);
	}
	if (rc == 0 && src_local) {
		rc = status_remove(w->db, src_id, src_uid, &err);
		if (rc == 0)
			rc = outbox_name_forget_uid(w->db, src_local, src_uid, &err);
	}
	if (rc == 0)
		rc = outbox_done(w->db, op->id, &err);
	enum step s = end_txn(w, rc, err);
	if (s == STEP_OK) {
		struct status_rec row = { uid, flags };
		if (uid) {
			rows_put(w, sf->id, uid, flags);
			follow_oimap(w, local, &row, 1, NULL, 0);
		}
		if (src_local) {
			rows_remove(w, src_id, src_uid);
			follow_oimap(w, src_local, NULL, 0, &src_uid, 1);
		}
	}
	return s;
}

/* A copy of the file is known to be on the server as uid (dst, selected:
 * sf): its names row and status row are written now, in their own
 * transaction, before anything else of the op can fail (the source's
 * deletion of a MOVE). A retry then sees the file's UID and only deletes
 * the source; were the op dropped, the next full sync pairs the file with
 * that copy instead of uploading it again (issue 12: two copies for good).
 * flags: what the copy carries on the server now. */
static enum step record_copy(struct live_worker *w, const char *local, struct status_folder *sf,
			     const char *base, uint32_t uid, flagset_t flags)
{
	char *err = NULL;
	int rc = status_begin(w->db, &err);
	if (rc == 0)
		rc = stamp_folder(w, sf, &err);
	if (rc == 0)
		rc = outbox_name_put(w->db, local, base, uid, &err);
	if (rc == 0)
		rc = status_put(w->db, sf->id, uid, flags, &err);
	enum step s = end_txn(w, rc, err);
	if (s == STEP_OK)
		rows_put(w, sf->id, uid, flags);
	return s;
}

/* A mail reader may have changed the file's flags between the upload and
 * the names row: no FLAGS op was queued then (the file had no UID yet). */
static void requeue_flags(struct live_worker *w, const char *local, const char *base,
			  uint32_t uid, flagset_t uploaded)
{
	struct local_file lf;
	if (locate(w, local, base, &lf) != STEP_OK || !lf.found)
		return;
	if (lf.uid == uid && lf.msg.flags != uploaded) {
		struct outbox_op op = { .kind = OUTBOX_FLAGS, .folder = (char *)local, .uid = uid,
					.flags = lf.msg.flags, .name = (char *)base };
		char *err = NULL;
		if (outbox_push(w->db, &op, NULL, &err) < 0) {
			log_error("live: %s", err);
			free(err);
		}
	}
	local_file_clear(&lf);
}

static enum step op_append(struct live_worker *w, const struct outbox_op *op)
{
	if (w->a->remote.readonly)
		return fail(w, STEP_DROP, "the remote repository is readonly");
	struct local_file lf;
	enum step s = locate(w, op->folder, op->name, &lf);
	if (s != STEP_OK)
		return s;
	if (!lf.found) {
		s = fail(w, STEP_MOOT, "%s/%s is gone", op->folder, op->name ? op->name : "");
		goto out;
	}
	if (lf.uid) {
		s = fail(w, STEP_MOOT, "%s/%s already has UID %u", op->folder, lf.msg.key, lf.uid);
		goto out;
	}
	struct status_folder sf;
	if ((s = select_remote(w, op->folder, &sf)) != STEP_OK)
		goto out;
	if ((s = begin_try(w, op)) != STEP_OK)
		goto out;
	uint32_t uid = 0;
	if ((s = upload(w, op, op->folder, &sf, &lf, &uid)) != STEP_OK)
		goto out;
	s = record_upload(w, op, op->folder, &sf, op->name, uid, lf.msg.flags, NULL, 0, 0);
	if (s == STEP_OK && uid)
		requeue_flags(w, op->folder, op->name, uid, lf.msg.flags);
out:
	local_file_clear(&lf);
	return s;
}

/* MOVE: the file is already in dst (local); the server copy follows. */
static enum step op_move(struct live_worker *w, const struct outbox_op *op)
{
	if (w->a->remote.readonly)
		return fail(w, STEP_DROP, "the remote repository is readonly");
	const char *src = op->folder, *dst = op->dst_folder ? op->dst_folder : "";
	struct local_file lf;
	enum step s = locate(w, dst, op->name, &lf);
	if (s != STEP_OK)
		return s;
	if (!lf.found) {
		/* Moved, then deleted or moved on (an APPEND follows for the
		 * latter): as far as the server goes, a deletion in src. */
		log_debug(LOG_DBG_SYNC, "live: %s/%s is gone: MOVE becomes a deletion in %s", dst,
			  op->name ? op->name : "", src);
		s = delete_uids(w, op, 1, src, &op->uid);
		goto out;
	}
	if (lf.uid) {
		/* A sync got to dst first (it uploaded the file while the op
		 * waited); it may have synced src before the move, so the
		 * source copy may still be there: delete it (a no-op when the
		 * sync did). */
		log_debug(LOG_DBG_SYNC, "live: %s/%s already has UID %u: MOVE becomes a deletion "
			  "in %s", dst, lf.msg.key, lf.uid, src);
		s = delete_uids(w, op, 1, src, &op->uid);
		goto out;
	}

	struct status_folder ssf = { 0 }, dsf = { 0 };
	if ((s = select_remote(w, src, &ssf)) != STEP_OK || (s = load_rows(w, ssf.id)) != STEP_OK)
		goto out;
	flagset_t src_flags = 0;
	bool known = rows_get(w, op->uid, &src_flags);
	bool keep_src = !w->a->local.sync_deletes;
	char *dst_remote = live_remote_name(w, dst);
	if (!dst_remote) {
		s = fail(w, STEP_DROP, "folder '%s' has no name on the server", dst);
		goto out;
	}
	uint32_t newuid = 0;
	bool copy_only = !known || keep_src; /* upload dst's file, leave src alone */
	if ((s = begin_try(w, op)) != STEP_OK)
		goto out_name;
	if (op->inflight || copy_only || !w->remote->ops->move) {
		/* upload the local file into dst (looking first when inflight) */
		if ((s = select_remote(w, dst, &dsf)) != STEP_OK)
			goto out_name;
		if ((s = upload(w, op, dst, &dsf, &lf, &newuid)) != STEP_OK)
			goto out_name;
		if (newuid && !copy_only &&
		    (s = record_copy(w, dst, &dsf, op->name, newuid, lf.msg.flags)) != STEP_OK)
			goto out_name;
		if (!copy_only) {
			if ((s = select_remote(w, src, &ssf)) != STEP_OK)
				goto out_name;
			struct repo_msg m = { .uid = op->uid };
			struct repo_msg *one[1] = { &m };
			s = remote_step(w, w->remote->ops->delete_messages(w->remote, one, 1));
			if (s != STEP_OK)
				goto out_name;
		}
	} else {
		struct repo_msg m = { .uid = op->uid, .flags = src_flags };
		int rc = w->remote->ops->move(w->remote, &m, dst_remote, &newuid);
		if (rc != REPO_OK && newuid) {
			/* In both folders now: dst is recorded below, src keeps
			 * its row so the next full sync deletes it there. */
			log_warn("live: %s; the copy in %s is UID %u", repo_error(w->remote),
				 dst_remote, newuid);
			keep_src = true;
		} else if ((s = remote_step(w, rc)) != STEP_OK) {
			goto out_name;
		}
		if ((s = select_remote(w, dst, &dsf)) != STEP_OK)
			goto out_name;
		if (newuid && (s = record_copy(w, dst, &dsf, op->name, newuid, src_flags)) != STEP_OK)
			goto out_name;
		if (!newuid) {
			/* Not reported (or the UID was gone from src): find the
			 * copy, else upload the local file. */
			struct outbox_op look = *op;
			look.inflight = true;
			if ((s = upload(w, &look, dst, &dsf, &lf, &newuid)) != STEP_OK)
				goto out_name;
		} else if ((s = push_flags(w, newuid, src_flags, lf.msg.flags)) != STEP_OK) {
			goto out_name;
		}
	}
	bool forget_src = !copy_only && !keep_src;
	s = record_upload(w, op, dst, &dsf, op->name, newuid, lf.msg.flags, forget_src ? src : NULL,
			  ssf.id, op->uid);
	if (s == STEP_OK && newuid)
		requeue_flags(w, dst, op->name, newuid, lf.msg.flags);
out_name:
	free(dst_remote);
out:
	local_file_clear(&lf);
	return s;
}

static enum step op_create(struct live_worker *w, const struct outbox_op *op)
{
	if (w->a->remote.readonly || !w->a->remote.createfolders)
		return fail(w, STEP_DROP, "folders are not created on %s (readonly or "
			    "createfolders = no)", w->a->remote.name);
	char *rname = live_remote_name(w, op->folder);
	if (!rname)
		return fail(w, STEP_DROP, "folder '%s' has no name on the server", op->folder);
	enum step s = begin_try(w, op);
	if (s == STEP_OK)
		s = remote_step(w, w->remote->ops->create_folder(w->remote, rname));
	if (s == STEP_OK) {
		log_info("Created folder %s[%s]", rname, w->a->remote.name);
		char *err = NULL;
		if (outbox_done(w->db, op->id, &err) < 0)
			s = db_fail(w, err);
	}
	free(rname);
	return s;
}

static const char *kind_name(enum outbox_kind k)
{
	switch (k) {
	case OUTBOX_FLAGS: return "FLAGS";
	case OUTBOX_DELETE: return "DELETE";
	case OUTBOX_MOVE: return "MOVE";
	case OUTBOX_APPEND: return "APPEND";
	case OUTBOX_CREATE: return "CREATE";
	}
	return "?";
}

/* Removes ops[0..n) from the queue (moot or dropped). */
static enum live_op_result remove_ops(struct live_worker *w, const struct outbox_op *ops, size_t n)
{
	char *err = NULL;
	int rc = status_begin(w->db, &err);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = outbox_done(w->db, ops[i].id, &err);
	if (end_txn(w, rc, err) != STEP_OK) {
		log_error("live: %s", w->error);
		return LIVE_OP_DB;
	}
	return LIVE_OP_DONE;
}

size_t live_batch_len(const struct outbox_op *ops, size_t n)
{
	if (n == 0 || (ops[0].kind != OUTBOX_FLAGS && ops[0].kind != OUTBOX_DELETE))
		return n ? 1 : 0;
	size_t k = 1;
	while (k < n && ops[k].kind == ops[0].kind && !strcmp(ops[k].folder, ops[0].folder))
		k++;
	return k;
}

enum live_op_result live_run_ops(struct live_worker *w, const struct outbox_op *ops, size_t n)
{
	const struct outbox_op *op = &ops[0];
	enum step s;
	xfree_ptr(&w->error);
	switch (op->kind) {
	case OUTBOX_FLAGS: s = op_flags(w, ops, n); break;
	case OUTBOX_DELETE: s = op_delete(w, ops, n); break;
	case OUTBOX_MOVE: s = op_move(w, op); break;
	case OUTBOX_APPEND: s = op_append(w, op); break;
	case OUTBOX_CREATE: s = op_create(w, op); break;
	default: s = fail(w, STEP_DROP, "unknown kind %d", (int)op->kind); break;
	}
	char *err = NULL;
	const char *what = kind_name(op->kind);
	char more[48] = "";
	if (n > 1)
		snprintf(more, sizeof(more), " (and %zu more)", n - 1);
	switch (s) {
	case STEP_OK:
		log_debug(LOG_DBG_SYNC, "live: #%lld %s %s UID %u%s: done", (long long)op->id, what,
			  op->folder, op->uid, more);
		return LIVE_OP_DONE;
	case STEP_OFFLINE:
		return LIVE_OP_OFFLINE;
	case STEP_DB:
		log_error("live: #%lld %s %s: %s", (long long)op->id, what, op->folder, w->error);
		return LIVE_OP_DB;
	case STEP_MOOT:
		log_debug(LOG_DBG_SYNC, "live: #%lld %s %s%s: nothing to do: %s", (long long)op->id,
			  what, op->folder, more, w->error ? w->error : "");
		return remove_ops(w, ops, n);
	case STEP_DROP:
		log_error("live: dropped #%lld %s %s UID %u%s: %s; the next full sync settles it",
			  (long long)op->id, what, op->folder, op->uid, more, w->error);
		return remove_ops(w, ops, n);
	case STEP_REFUSED:
		break;
	}
	/* Refused: counted on the first op (outbox_failed adds one when the
	 * try was not begun); after LIVE_MAX_ATTEMPTS the batch is dropped. */
	unsigned attempts = op->attempts + 1;
	if (attempts >= LIVE_MAX_ATTEMPTS) {
		log_error("live: dropped #%lld %s %s UID %u%s after %u refusals: %s; the next full "
			  "sync settles it", (long long)op->id, what, op->folder, op->uid, more,
			  attempts, w->error);
		return remove_ops(w, ops, n);
	}
	log_warn("live: #%lld %s %s UID %u%s refused (attempt %u of %u): %s", (long long)op->id,
		 what, op->folder, op->uid, more, attempts, LIVE_MAX_ATTEMPTS, w->error);
	if (outbox_failed(w->db, op->id, w->error, &err) < 0) {
		log_error("live: %s", err);
		free(err);
		return LIVE_OP_DB;
	}
	return LIVE_OP_REFUSED;
}
