#include "fs/outbox_observer.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache/maildir_name.h"
#include "cache/outbox.h"
#include "cache/status.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/xalloc.h"

struct outbox_observer {
	pthread_mutex_t lock;
	struct status_db *db; /* owned; used under lock only */
	char infosep;
	outbox_queued_fn *queued;
	void *queued_ctx;
	char *(*fmd5_name)(void *ctx, const char *folder);
	void *fmd5_ctx;
};

/* What a file name in a folder tells, plus its names row. */
struct file_id {
	char *base;      /* owned */
	flagset_t flags;
	uint32_t uid;    /* 0: none */
	bool from_names; /* uid came from the names table */
	uint32_t name_uid; /* the ,U= of the name when its FMD5 is the folder's */
};

static void file_id_clear(struct file_id *f)
{
	free(f->base);
	memset(f, 0, sizeof(*f));
}

/* Fills *f for name in folder. Returns 0, or -1 with *error_r. */
static int identify(struct outbox_observer *o, const char *folder, const char *name,
		    struct file_id *f, char **error_r)
{
	char md5[HASH_MD5_HEX_LEN + 1];
	char *hashed = o->fmd5_name ? o->fmd5_name(o->fmd5_ctx, folder) : NULL;
	maildir_folder_md5(hashed ? hashed : folder, md5);
	free(hashed);
	struct maildir_name_info info;
	maildir_name_parse(name, md5, o->infosep, &info);
	memset(f, 0, sizeof(*f));
	f->base = xstrndup(name, info.base_len);
	f->flags = info.flags;
	f->name_uid = info.uid;
	uint32_t uid = 0;
	int rc = outbox_name_get(o->db, folder, f->base, &uid, error_r);
	if (rc < 0) {
		file_id_clear(f);
		return -1;
	}
	if (rc == 1) {
		f->uid = uid;
		f->from_names = true;
	} else {
		f->uid = info.uid;
	}
	return 0;
}

static int push(struct outbox_observer *o, const struct outbox_op *op, char **error_r)
{
	int64_t id = 0;
	if (outbox_push(o->db, op, &id, error_r) < 0)
		return -1;
	if (log_debug_enabled(LOG_DBG_SYNC)) {
		char letters[FLAGS_LETTERS_MAX];
		flags_to_letters(op->flags, letters);
		log_debug(LOG_DBG_SYNC, "outbox: queued #%lld kind %d %s uid %u flags '%s'%s%s%s%s",
			  (long long)id, (int)op->kind, op->folder, op->uid, letters,
			  op->dst_folder ? " -> " : "", op->dst_folder ? op->dst_folder : "",
			  op->name ? " " : "", op->name ? op->name : "");
	}
	return 0;
}

/* Ends a callback: logs a failure, tells the worker about a success. */
static int finish(struct outbox_observer *o, int rc, bool queued, char *err, const char *what)
{
	pthread_mutex_unlock(&o->lock);
	if (rc < 0) {
		log_error("outbox: could not record %s: %s", what, err ? err : "failed");
		free(err);
		return -EIO;
	}
	if (queued && o->queued)
		o->queued(o->queued_ctx);
	return 0;
}

static int on_renamed(void *ctx, const char *ff, const char *fsub, const char *fname,
		      const char *tf, const char *tsub, const char *tname)
{
	struct outbox_observer *o = ctx;
	struct file_id from = { 0 }, to = { 0 };
	char *err = NULL;
	bool queued = false;
	int rc;
	(void)fsub;
	(void)tsub;
	pthread_mutex_lock(&o->lock);
	if ((rc = identify(o, ff, fname, &from, &err)) < 0)
		goto out;
	if ((rc = identify(o, tf, tname, &to, &err)) < 0)
		goto out;
	bool same_base = !strcmp(from.base, to.base);
	if (!strcmp(ff, tf)) {
		if (from.uid) {
			if (same_base && from.flags == to.flags)
				goto out; /* new/ <-> cur/ only: nothing on the server */
			struct outbox_op op = { .kind = OUTBOX_FLAGS, .folder = (char *)ff,
						.uid = from.uid, .flags = to.flags,
						.name = to.base };
			/* The names row follows a file whose new name does
			 * not carry its UID; all in one transaction. */
			bool rename_row = !same_base && (from.from_names || to.name_uid != from.uid);
			if ((rc = rename_row ? status_begin(o->db, &err) : 0) < 0)
				goto out;
			rc = push(o, &op, &err);
			if (rc == 0 && rename_row && to.name_uid != from.uid)
				rc = outbox_name_put(o->db, ff, to.base, from.uid, &err);
			if (rc == 0 && rename_row && from.from_names)
				rc = outbox_name_remove(o->db, ff, from.base, &err);
			if (rc == 0 && rename_row)
				rc = status_commit(o->db, &err);
			if (rc < 0)
				status_rollback(o->db);
			queued = rc == 0;
		} else if (!same_base) {
			struct outbox_op op = { .kind = OUTBOX_APPEND, .folder = (char *)tf,
						.flags = to.flags, .name = to.base };
			rc = push(o, &op, &err);
			queued = rc == 0;
		}
	} else if (from.uid) {
		struct outbox_op op = { .kind = OUTBOX_MOVE, .folder = (char *)ff, .uid = from.uid,
					.flags = to.flags, .dst_folder = (char *)tf,
					.name = to.base };
		rc = push(o, &op, &err);
		queued = rc == 0;
	} else {
		struct outbox_op op = { .kind = OUTBOX_APPEND, .folder = (char *)tf,
					.flags = to.flags, .name = to.base };
		rc = push(o, &op, &err);
		queued = rc == 0;
	}
out:
	file_id_clear(&from);
	file_id_clear(&to);
	return finish(o, rc, queued, err, "a rename");
}

static int on_unlinked(void *ctx, const char *folder, const char *subdir, const char *name)
{
	struct outbox_observer *o = ctx;
	struct file_id id = { 0 };
	char *err = NULL;
	bool queued = false;
	(void)subdir;
	pthread_mutex_lock(&o->lock);
	int rc = identify(o, folder, name, &id, &err);
	if (rc == 0 && id.uid) {
		struct outbox_op op = { .kind = OUTBOX_DELETE, .folder = (char *)folder,
					.uid = id.uid, .name = id.base };
		rc = push(o, &op, &err);
		queued = rc == 0;
	}
	file_id_clear(&id);
	return finish(o, rc, queued, err, "an unlink");
}

static int on_added(void *ctx, const char *folder, const char *subdir, const char *name)
{
	struct outbox_observer *o = ctx;
	struct file_id id = { 0 };
	char *err = NULL;
	bool queued = false;
	(void)subdir;
	pthread_mutex_lock(&o->lock);
	int rc = identify(o, folder, name, &id, &err);
	if (rc == 0 && !id.uid) {
		struct outbox_op op = { .kind = OUTBOX_APPEND, .folder = (char *)folder,
					.flags = id.flags, .name = id.base };
		rc = push(o, &op, &err);
		queued = rc == 0;
	} else if (rc == 0) {
		log_debug(LOG_DBG_SYNC, "outbox: %s/%s/%s already has UID %u: nothing to upload",
			  folder, subdir, name, id.uid);
	}
	file_id_clear(&id);
	return finish(o, rc, queued, err, "a new message");
}

static int on_folder_created(void *ctx, const char *folder)
{
	struct outbox_observer *o = ctx;
	char *err = NULL;
	pthread_mutex_lock(&o->lock);
	struct outbox_op op = { .kind = OUTBOX_CREATE, .folder = (char *)folder };
	int rc = push(o, &op, &err);
	return finish(o, rc, rc == 0, err, "a new folder");
}

static int on_folder_removed(void *ctx, const char *folder)
{
	(void)ctx;
	log_info("Folder %s is no longer a Maildir folder on the mount; nothing is deleted on "
		 "the server", folder);
	return 0;
}

static int on_folder_renamed(void *ctx, const char *from, const char *to)
{
	(void)ctx;
	log_info("Folder %s was renamed to %s on the mount; folders are not renamed on the "
		 "server (the next sync treats %s as a new folder)", from, to, to);
	return 0;
}

struct outbox_observer *outbox_observer_new(const struct outbox_observer_settings *s,
					    char **error_r)
{
	struct status_db *db = NULL;
	if (status_open(s->db_path, false, s->fsync, &db, error_r) < 0)
		return NULL;
	struct outbox_observer *o = xcalloc(1, sizeof(*o));
	pthread_mutex_init(&o->lock, NULL);
	o->db = db;
	o->infosep = s->infosep ? s->infosep : ':';
	o->queued = s->queued;
	o->queued_ctx = s->queued_ctx;
	o->fmd5_name = s->fmd5_name;
	o->fmd5_ctx = s->fmd5_ctx;
	return o;
}

void outbox_observer_bind(struct outbox_observer *o, struct fs_observer *obs_r)
{
	*obs_r = (struct fs_observer){
		.ctx = o,
		.message_renamed = on_renamed,
		.message_unlinked = on_unlinked,
		.message_added = on_added,
		.folder_created = on_folder_created,
		.folder_removed = on_folder_removed,
		.folder_renamed = on_folder_renamed,
	};
}

void outbox_observer_free(struct outbox_observer **op)
{
	struct outbox_observer *o = *op;
	if (!o)
		return;
	status_close(&o->db);
	pthread_mutex_destroy(&o->lock);
	free(o);
	*op = NULL;
}
