/* Unit test of fs/outbox_observer.c: the rules that turn FUSE events into
 * outbox ops, table-driven against a temporary status DB (no FUSE, no
 * server). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache/maildir_name.h"
#include "cache/outbox.h"
#include "cache/status.h"
#include "common/hash.h"
#include "common/xalloc.h"
#include "fs/outbox_observer.h"
#include "tests/unit/check.h"

static char tmpdir[] = "/tmp/test_observer.XXXXXX";
static int queued_calls;

static void on_queued(void *ctx)
{
	(void)ctx;
	queued_calls++;
}

/* "<base>,U=<uid>,FMD5=<md5 of folder>:2,<flags>" */
static char *uname(const char *base, uint32_t uid, const char *folder, const char *flags)
{
	char md5[HASH_MD5_HEX_LEN + 1];
	maildir_folder_md5(folder, md5);
	return xasprintf("%s,U=%u,FMD5=%s:2,%s", base, uid, md5, flags);
}

/* The queue as one line per op: "KIND folder uid flags [dst] [name]",
 * then emptied. */
static char *take_ops(struct status_db *db)
{
	struct outbox_op *ops;
	size_t n;
	char *err = NULL;
	if (outbox_list(db, 100, &ops, &n, &err) < 0) {
		fprintf(stderr, "outbox_list: %s\n", err);
		free(err);
		return xstrdup("(error)");
	}
	static const char *const kinds[] = { "?", "FLAGS", "DELETE", "MOVE", "APPEND", "CREATE" };
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		char letters[FLAGS_LETTERS_MAX];
		flags_to_letters(ops[i].flags, letters);
		sb_addf(&sb, "%s%s %s %u '%s'", i ? "\n" : "", kinds[ops[i].kind], ops[i].folder,
			ops[i].uid, letters);
		if (ops[i].dst_folder)
			sb_addf(&sb, " -> %s", ops[i].dst_folder);
		if (ops[i].name)
			sb_addf(&sb, " %s", ops[i].name);
		if (outbox_done(db, ops[i].id, &err) < 0) {
			fprintf(stderr, "outbox_done: %s\n", err);
			xfree_ptr(&err);
		}
		outbox_op_clear(&ops[i]);
	}
	free(ops);
	return sb_detach(&sb);
}

#define CHECK_OPS(db, want)                  \
	do {                                 \
		char *got_ = take_ops(db);   \
		CHECK_STR(got_, (want));     \
		free(got_);                  \
	} while (0)

static uint32_t name_uid(struct status_db *db, const char *folder, const char *base)
{
	uint32_t uid = 0;
	char *err = NULL;
	if (outbox_name_get(db, folder, base, &uid, &err) < 0) {
		fprintf(stderr, "outbox_name_get: %s\n", err);
		free(err);
	}
	return uid;
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	char *path = xasprintf("%s/offlinefs.sqlite", tmpdir);
	char *err = NULL;
	struct outbox_observer_settings s = { .db_path = path, .queued = on_queued };
	struct outbox_observer *o = outbox_observer_new(&s, &err);
	if (!o) {
		fprintf(stderr, "outbox_observer_new: %s\n", err);
		return 1;
	}
	struct fs_observer obs;
	outbox_observer_bind(o, &obs);
	struct status_db *db;
	if (status_open(path, false, false, &db, &err) < 0) {
		fprintf(stderr, "status_open: %s\n", err);
		return 1;
	}
	void *c = obs.ctx;

	/* --- renames within a folder --- */
	char *a = uname("1700000000_0.1.h", 7, "INBOX", "");
	char *a_s = uname("1700000000_0.1.h", 7, "INBOX", "S");
	char *abase = xstrndup(a, strlen(a) - 3); /* without ":2," */
	char *want = xasprintf("FLAGS INBOX 7 'S' %s", abase);
	CHECK_INT(obs.message_renamed(c, "INBOX", "new", a, "INBOX", "cur", a_s), 0);
	CHECK_OPS(db, want);
	free(want);
	CHECK_INT(queued_calls, 1);
	/* new/ -> cur/ with the same flags: nothing */
	CHECK_INT(obs.message_renamed(c, "INBOX", "new", a, "INBOX", "cur", a), 0);
	CHECK_OPS(db, "");
	CHECK_INT(queued_calls, 1);
	/* a U= of another folder is no UID here */
	char *b = uname("1700000001_0.1.h", 9, "Archive", "");
	char *b_f = uname("1700000001_0.1.h", 9, "Archive", "F");
	CHECK_INT(obs.message_renamed(c, "INBOX", "new", b, "INBOX", "new", b_f), 0);
	CHECK_OPS(db, "");
	/* no UID, base unchanged: the queued APPEND will find it */
	CHECK_INT(obs.message_renamed(c, "INBOX", "new", "m1", "INBOX", "cur", "m1:2,S"), 0);
	CHECK_OPS(db, "");
	/* no UID, base changed: APPEND under the new base */
	CHECK_INT(obs.message_renamed(c, "INBOX", "new", "m1", "INBOX", "cur", "m2:2,RS"), 0);
	CHECK_OPS(db, "APPEND INBOX 0 'RS' m2");
	/* a names row gives the UID; a new base takes the row along */
	CHECK_INT(outbox_name_put(db, "INBOX", "mutt.1", 21, &err), 0);
	CHECK_INT(obs.message_renamed(c, "INBOX", "cur", "mutt.1:2,", "INBOX", "cur", "mutt.1:2,F"),
		  0);
	CHECK_OPS(db, "FLAGS INBOX 21 'F' mutt.1");
	CHECK_INT(obs.message_renamed(c, "INBOX", "cur", "mutt.1:2,F", "INBOX", "cur", "mutt.2:2,FS"),
		  0);
	CHECK_OPS(db, "FLAGS INBOX 21 'FS' mutt.2");
	CHECK_INT(name_uid(db, "INBOX", "mutt.1"), 0);
	CHECK_INT(name_uid(db, "INBOX", "mutt.2"), 21);
	/* a U= file renamed to a name without it: the UID follows in names */
	char *d = uname("1700000002_0.1.h", 30, "INBOX", "");
	CHECK_INT(obs.message_renamed(c, "INBOX", "cur", d, "INBOX", "cur", "plain:2,S"), 0);
	CHECK_OPS(db, "FLAGS INBOX 30 'S' plain");
	CHECK_INT(name_uid(db, "INBOX", "plain"), 30);
	/* the names row wins over a stale U= */
	char *e = uname("stale", 5, "INBOX", "");
	char *e_s = uname("stale", 5, "INBOX", "S");
	char *ebase = xstrndup(e, strlen(e) - 3);
	CHECK_INT(outbox_name_put(db, "INBOX", ebase, 55, &err), 0);
	CHECK_INT(obs.message_renamed(c, "INBOX", "cur", e, "INBOX", "cur", e_s), 0);
	want = xasprintf("FLAGS INBOX 55 'S' %s", ebase);
	CHECK_OPS(db, want);
	free(want);

	/* --- across folders --- */
	CHECK_INT(obs.message_renamed(c, "INBOX", "cur", a_s, "Archive", "cur", a_s), 0);
	want = xasprintf("MOVE INBOX 7 'S' -> Archive %s", abase);
	CHECK_OPS(db, want);
	free(want);
	CHECK_INT(obs.message_renamed(c, "INBOX", "new", "m3", "Lists.foo", "cur", "m3:2,S"), 0);
	CHECK_OPS(db, "APPEND Lists.foo 0 'S' m3");
	CHECK_INT(obs.message_renamed(c, "INBOX", "cur", "mutt.2:2,FS", "Archive", "cur",
				      "mutt.2:2,FS"),
		  0);
	CHECK_OPS(db, "MOVE INBOX 21 'FS' -> Archive mutt.2");

	/* --- unlink --- */
	CHECK_INT(obs.message_unlinked(c, "INBOX", "cur", a_s), 0);
	want = xasprintf("DELETE INBOX 7 '' %s", abase);
	CHECK_OPS(db, want);
	free(want);
	CHECK_INT(obs.message_unlinked(c, "INBOX", "new", "m4"), 0);
	CHECK_OPS(db, "");
	CHECK_INT(obs.message_unlinked(c, "INBOX", "cur", "plain:2,S"), 0);
	CHECK_OPS(db, "DELETE INBOX 30 '' plain");

	/* --- added --- */
	CHECK_INT(obs.message_added(c, "INBOX", "new", "1700000003.M1P2.host"), 0);
	CHECK_OPS(db, "APPEND INBOX 0 '' 1700000003.M1P2.host");
	CHECK_INT(obs.message_added(c, "", "cur", "x:2,DS"), 0);
	CHECK_OPS(db, "APPEND  0 'DS' x");
	CHECK_INT(obs.message_added(c, "INBOX", "cur", a_s), 0); /* a restore */
	CHECK_OPS(db, "");
	CHECK_INT(obs.message_added(c, "INBOX", "cur", "mutt.2:2,F"), 0); /* still mapped */
	CHECK_OPS(db, "");
	CHECK_INT(obs.message_added(c, "Archive", "cur", b_f), 0); /* Archive's own U= */
	CHECK_OPS(db, "");

	/* --- folders --- */
	CHECK_INT(obs.folder_created(c, "Lists.bar"), 0);
	CHECK_OPS(db, "CREATE Lists.bar 0 ''");
	CHECK_INT(obs.folder_removed(c, "Lists.bar"), 0);
	CHECK_INT(obs.folder_renamed(c, "Lists.bar", "Lists.baz"), 0);
	CHECK_OPS(db, "");

	CHECK_INT(queued_calls, 14);

	free(a);
	free(a_s);
	free(b);
	free(b_f);
	free(d);
	free(e);
	free(e_s);
	free(ebase);
	free(abase);
	status_close(&db);
	outbox_observer_free(&o);
	CHECK(o == NULL);
	char *cmd = xasprintf("rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	free(cmd);
	free(path);
	return check_report("test_observer");
}
