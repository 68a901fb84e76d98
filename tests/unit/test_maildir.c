/* End-to-end tests for cache/maildir.c through the struct repo_ops vtable,
 * in a temporary directory: folder discovery and creation, exact file names
 * and places, flag renames between new/ and cur/, UID assignment, deletion,
 * and a simulated mail reader renaming files behind our back. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cache/maildir.h"
#include "cache/maildir_name.h"
#include "tests/unit/check.h"

#define MD5_INBOX "7e33429f656f1e6e9d79b29c3f82c57e"
#define MD5_LISTS_FOO "85373cf2738e71c68e6984849284c7c3"

static char tmpdir[] = "/tmp/test_maildir.XXXXXX";
static char host[256];

static flagset_t F(const char *letters)
{
	return flags_from_letters(letters, strlen(letters));
}

static char *P(const char *fmt, const char *a)
{
	return xasprintf(fmt, tmpdir, a);
}

/* Runs a shell command built from fmt; returns its status. */
static int sh(const char *fmt, ...) PRINTF_LIKE(1, 2);
static int sh(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *cmd = xvasprintf(fmt, ap);
	va_end(ap);
	int rc = system(cmd);
	free(cmd);
	return rc;
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static unsigned mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? (unsigned)(st.st_mode & 07777) : 0;
}

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(1);
	}
	fputs(content, f);
	fclose(f);
}

static char *read_whole(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return xstrdup("(missing)");
	struct strbuf sb = STRBUF_INIT;
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_add(&sb, buf, n);
	fclose(f);
	return sb_detach(&sb);
}

/* Sorted names in dir, space-separated ("" when empty). */
static char *ls(const char *dir)
{
	struct strlist l = STRLIST_INIT;
	DIR *d = opendir(dir);
	if (!d)
		return xstrdup("(no dir)");
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			strlist_add(&l, e->d_name);
	closedir(d);
	strlist_sort(&l);
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < l.n; i++)
		sb_addf(&sb, "%s%s", i ? " " : "", l.v[i]);
	strlist_free(&l);
	return sb_detach(&sb);
}

/* Message files (not dot files, not directories) in new/ and cur/. */
static size_t count_files(const char *folder_dir)
{
	size_t n = 0;
	static const char *const subs[] = { "new", "cur" };
	for (int i = 0; i < 2; i++) {
		char *p = xasprintf("%s/%s", folder_dir, subs[i]);
		DIR *d = opendir(p);
		struct dirent *e;
		while (d && (e = readdir(d)))
			if (e->d_name[0] != '.' && e->d_type != DT_DIR)
				n++;
		if (d)
			closedir(d);
		free(p);
	}
	return n;
}

static char *folders(struct repo *r)
{
	struct strlist l = STRLIST_INIT;
	int rc = r->ops->list_folders(r, &l);
	if (rc != REPO_OK) {
		strlist_free(&l);
		return xasprintf("(error %d: %s)", rc, repo_error(r));
	}
	strlist_sort(&l);
	struct strbuf sb = STRBUF_INIT;
	for (size_t i = 0; i < l.n; i++)
		sb_addf(&sb, "[%s]", l.v[i]);
	strlist_free(&l);
	return sb_detach(&sb);
}

/* The listed message with this uid (first match) or NULL. */
static struct repo_msg *by_uid(struct repo_msg_list *l, uint32_t uid)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].uid == uid)
			return &l->v[i];
	return NULL;
}

static struct repo_msg *by_key(struct repo_msg_list *l, const char *key)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].key, key))
			return &l->v[i];
	return NULL;
}

/* Checks that key is "<sub>/<time>_<seq>.<pid>.<host>,U=<uid>,FMD5=<md5><sep>2,<flags>"
 * with a plausible time. */
static void check_new_name(const char *key, const char *sub, uint32_t uid, const char *md5,
			   char infosep, const char *flags)
{
	char tail[512];
	if (uid)
		snprintf(tail, sizeof(tail), ".%ld.%s,U=%u,FMD5=%s%c2,%s", (long)getpid(), host, uid,
			 md5, infosep, flags);
	else
		snprintf(tail, sizeof(tail), ".%ld.%s,FMD5=%s%c2,%s", (long)getpid(), host, md5,
			 infosep, flags);
	CHECK(key && strncmp(key, sub, 3) == 0 && key[3] == '/');
	if (!key)
		return;
	const char *name = key + 4;
	char *end;
	long long t = strtoll(name, &end, 10);
	CHECK(t > 1600000000 && t < 4000000000LL);
	CHECK(*end == '_');
	strtoul(end + 1, &end, 10);
	CHECK_STR(end, tail);
}

static struct maildir_settings settings(const char *root, char sep)
{
	return (struct maildir_settings){ .root = root, .sep = sep, .infosep = ':', .fsync = true,
					  .need_sizes = false, .create_root = true };
}

static void test_connect(void)
{
	char *root = P("%s/%s", "mail");
	struct maildir_settings s = settings(root, '.');
	s.create_root = false;
	struct repo *r = maildir_repo_new("local", &s);
	CHECK_INT(r->ops->connect(r), REPO_STORE_BAD);
	CHECK(strstr(repo_error(r), root) != NULL);
	CHECK(!exists(root));
	r->ops->free(&r);
	CHECK(r == NULL);

	s.create_root = true;
	r = maildir_repo_new("local", &s);
	CHECK_INT(r->ops->connect(r), REPO_OK);
	CHECK_INT(mode_of(root), 0700);
	CHECK_INT(r->ops->connect(r), REPO_OK); /* idempotent */
	CHECK(r->ops->separator(r) == '.');
	CHECK_STR(r->ops->type_name, "Maildir");
	r->ops->free(&r);

	char *file = P("%s/%s", "plainfile");
	write_file(file, "x");
	s.root = file;
	r = maildir_repo_new("local", &s);
	CHECK_INT(r->ops->connect(r), REPO_STORE_BAD);
	CHECK(strstr(repo_error(r), "not a directory") != NULL);
	r->ops->free(&r);
	free(file);
	free(root);
}

static void test_folders_dot(void)
{
	char *root = P("%s/%s", "mail");
	struct maildir_settings s = settings(root, '.');
	struct repo *r = maildir_repo_new("local", &s);
	CHECK_INT(r->ops->connect(r), REPO_OK);

	char *d = folders(r);
	CHECK_STR(d, "");
	free(d);

	CHECK_INT(r->ops->create_folder(r, "INBOX"), REPO_OK);
	CHECK_INT(r->ops->create_folder(r, "Lists.foo"), REPO_OK);
	CHECK_INT(r->ops->create_folder(r, "INBOX"), REPO_OK); /* exists: fine */
	CHECK_INT(r->ops->create_folder(r, "a/b"), REPO_FOLDER_BAD);
	CHECK(strstr(repo_error(r), "Maildir[a/b]") != NULL);
	CHECK_INT(r->ops->create_folder(r, "cur"), REPO_FOLDER_BAD);
	CHECK_INT(r->ops->create_folder(r, ".."), REPO_FOLDER_BAD);

	char *p = P("%s/%s", "mail/INBOX");
	CHECK_INT(mode_of(p), 0700);
	free(p);
	p = P("%s/%s", "mail/Lists.foo/tmp");
	CHECK_INT(mode_of(p), 0700);
	free(p);
	p = P("%s/%s", "mail");
	d = ls(p);
	CHECK_STR(d, "INBOX Lists.foo");
	free(d);
	free(p);

	/* not folders: a plain directory, a dot directory, a file, a
	 * Maildir one level down (sep '.' does not recurse) */
	CHECK_INT(sh("cd '%s/mail' && mkdir -p plain .hidden/cur .hidden/new .hidden/tmp "
		     "Lists.foo/sub/cur Lists.foo/sub/new Lists.foo/sub/tmp && touch afile",
		     tmpdir),
		  0);
	d = folders(r);
	CHECK_STR(d, "[INBOX][Lists.foo]");
	free(d);

	/* the root as folder "" */
	CHECK_INT(r->ops->create_folder(r, ""), REPO_OK);
	p = P("%s/%s", "mail/cur");
	CHECK(exists(p));
	free(p);
	d = folders(r);
	CHECK_STR(d, "[][INBOX][Lists.foo]");
	free(d);
	char *dir = maildir_folder_dir(r, "");
	CHECK_STR(dir, root);
	free(dir);
	dir = maildir_folder_dir(r, "Lists.foo");
	p = P("%s/%s", "mail/Lists.foo");
	CHECK_STR(dir, p);
	free(p);
	free(dir);

	struct repo_folder_status st = { 1, 2, 3, 4 };
	CHECK_INT(r->ops->select_folder(r, "Nope", false, &st), REPO_FOLDER_BAD);
	CHECK(strstr(repo_error(r), "Maildir[Nope]") != NULL);
	CHECK_INT(r->ops->select_folder(r, "plain", false, &st), REPO_FOLDER_BAD);
	CHECK_INT(r->ops->select_folder(r, "INBOX", true, &st), REPO_OK);
	CHECK_INT(st.uidvalidity, 42);
	CHECK_INT(st.exists, 0);
	CHECK_INT(st.uidnext, 0);
	CHECK_INT(st.highestmodseq, 0);
	CHECK_STR(r->folder, "INBOX");
	r->ops->close_folder(r);
	CHECK(r->folder == NULL);
	r->ops->free(&r);
	free(root);
}

static void test_folders_slash(void)
{
	char *root = P("%s/%s", "nested/");
	struct maildir_settings s = settings(root, '/');
	struct repo *r = maildir_repo_new("local", &s);
	CHECK_INT(r->ops->connect(r), REPO_OK);
	CHECK(r->ops->separator(r) == '/');
	CHECK_INT(r->ops->create_folder(r, "Lists/foo"), REPO_OK);
	CHECK_INT(r->ops->create_folder(r, "Lists/bar/baz"), REPO_OK);
	CHECK_INT(r->ops->create_folder(r, "INBOX"), REPO_OK);
	CHECK_INT(r->ops->create_folder(r, "a/cur"), REPO_FOLDER_BAD);
	CHECK_INT(r->ops->create_folder(r, "../x"), REPO_FOLDER_BAD);
	CHECK_INT(r->ops->create_folder(r, "/abs"), REPO_FOLDER_BAD);
	char *p = P("%s/%s", "nested/Lists");
	CHECK_INT(mode_of(p), 0700);
	char *d = ls(p);
	CHECK_STR(d, "bar foo"); /* intermediate levels are plain directories */
	free(d);
	free(p);
	/* a folder inside a folder, and a symlink loop that must not hang */
	CHECK_INT(r->ops->create_folder(r, "INBOX/sub"), REPO_OK);
	CHECK_INT(sh("ln -s .. '%s/nested/Lists/loop'", tmpdir), 0);
	d = folders(r); /* the loop is noticed, not followed */
	CHECK_STR(d, "[INBOX][INBOX/sub][Lists/bar/baz][Lists/foo]");
	free(d);
	p = P("%s/%s", "nested/Lists/loop");
	unlink(p);
	free(p);
	d = folders(r);
	CHECK_STR(d, "[INBOX][INBOX/sub][Lists/bar/baz][Lists/foo]");
	free(d);

	/* FMD5 of a nested folder is md5("Lists/foo") */
	struct repo_folder_status st;
	CHECK_INT(r->ops->select_folder(r, "Lists/foo", true, &st), REPO_OK);
	char *key = NULL;
	uint32_t uid = 0;
	CHECK_INT(r->ops->store(r, "x\n", 2, FLAG_SEEN, 0, 7, &uid, &key), REPO_OK);
	CHECK_INT(r->ops->flush(r), REPO_OK);
	CHECK_INT(uid, 7);
	check_new_name(key, "cur", 7, MD5_LISTS_FOO, ':', "S");
	p = xasprintf("%s/nested/Lists/foo/%s", tmpdir, key ? key : "");
	CHECK(exists(p));
	free(p);
	free(key);
	r->ops->free(&r);
	free(root);
}

/* Simulates a mail reader: renames dir/from to dir/to. */
static void reader_rename(const char *dir, const char *from, const char *to)
{
	char *a = xasprintf("%s/%s", dir, from), *b = xasprintf("%s/%s", dir, to);
	if (rename(a, b) < 0)
		perror("reader_rename");
	free(a);
	free(b);
}

struct fetched {
	struct strbuf sb;
	int calls, stop_after;
};

static int fetch_cb(void *ctx, const struct repo_msg *msg, const char *body, size_t len)
{
	struct fetched *f = ctx;
	sb_addf(&f->sb, "[%u:%.*s]", msg->uid, (int)len, body);
	return ++f->calls == f->stop_after ? -1 : 0;
}

static void test_messages(void)
{
	char *root = P("%s/%s", "mail");
	struct maildir_settings s = settings(root, '.');
	struct repo *r = maildir_repo_new("local", &s);
	CHECK_INT(r->ops->connect(r), REPO_OK);
	struct repo_folder_status st;
	CHECK_INT(r->ops->select_folder(r, "INBOX", true, &st), REPO_OK);
	char *dir = maildir_folder_dir(r, "INBOX");

	/* store: exact names and places */
	static const char body1[] = "Subject: one\n\nhello\n";
	static const char body2[] = "Subject: two\n\nworld\n";
	static const char body3[] = "Subject: three\n\nlocal draft\n";
	char *k1 = NULL, *k2 = NULL, *k3 = NULL, *k4 = NULL;
	uint32_t uid = 99;
	CHECK_INT(r->ops->store(r, body1, strlen(body1), FLAG_SEEN, 0, 1, &uid, &k1), REPO_OK);
	CHECK_INT(uid, 1);
	check_new_name(k1, "cur", 1, MD5_INBOX, ':', "S");
	CHECK_INT(r->ops->store(r, body2, strlen(body2), F("aF"), 1600000000, 2, NULL, &k2),
		  REPO_OK);
	check_new_name(k2, "new", 2, MD5_INBOX, ':', "Fa");
	CHECK_INT(r->ops->store(r, body3, strlen(body3), 0, 0, 0, NULL, &k3), REPO_OK);
	check_new_name(k3, "new", 0, MD5_INBOX, ':', "");
	CHECK_INT(r->ops->store(r, "", 0, F("RS"), 0, 4, NULL, &k4), REPO_OK);
	check_new_name(k4, "cur", 4, MD5_INBOX, ':', "RS");
	CHECK_INT(r->ops->flush(r), REPO_OK); /* with fsync, stores land in batches */
	CHECK(k1 && k2 && k3 && k4);
	if (!(k1 && k2 && k3 && k4))
		exit(1);
	/* names made in one second differ by seq */
	CHECK(strcmp(k2 + 4, k3 + 4) != 0);

	char *p1 = xasprintf("%s/%s", dir, k1), *p2 = xasprintf("%s/%s", dir, k2);
	char *c = read_whole(p1);
	CHECK_STR(c, body1);
	free(c);
	CHECK_INT(mode_of(p1), 0600);
	struct stat sst;
	CHECK(stat(p2, &sst) == 0 && sst.st_mtime == 1600000000);
	char *tmp = xasprintf("%s/tmp", dir);
	c = ls(tmp);
	CHECK_STR(c, ""); /* nothing left behind in tmp/ */
	free(c);

	/* list_messages sees exactly these, without sizes */
	struct repo_msg_list l = { 0 };
	CHECK_INT(r->ops->list_messages(r, &l), REPO_OK);
	CHECK_INT(l.n, 4);
	struct repo_msg *m1 = by_key(&l, k1), *m2 = by_key(&l, k2), *m3 = by_key(&l, k3);
	CHECK(m1 && m1->uid == 1 && m1->flags == FLAG_SEEN && m1->size == 0 && m1->time == 0);
	CHECK(m2 && m2->uid == 2 && m2->flags == F("Fa"));
	CHECK(m3 && m3->uid == 0 && m3->flags == 0);
	CHECK(by_key(&l, k4) && by_key(&l, k4)->uid == 4);
	repo_msg_list_free(&l);

	/* dot files, tmp/ and directories in new/ are not messages */
	char *junk = xasprintf("%s/tmp/1_0.1.h,U=9,FMD5=" MD5_INBOX ":2,S", dir);
	write_file(junk, "half written");
	free(junk);
	junk = xasprintf("%s/new/.hidden", dir);
	write_file(junk, "x");
	free(junk);
	junk = xasprintf("%s/new/adir", dir);
	mkdir(junk, 0700);
	free(junk);

	/* sizes and times on request */
	struct maildir_settings s2 = s;
	s2.need_sizes = true;
	struct repo *r2 = maildir_repo_new("local", &s2);
	CHECK_INT(r2->ops->select_folder(r2, "INBOX", false, &st), REPO_OK);
	CHECK_INT(r2->ops->list_messages(r2, &l), REPO_OK);
	CHECK_INT(l.n, 4);
	m2 = by_key(&l, k2);
	CHECK(m2 && m2->size == strlen(body2) && m2->time == 1600000000);
	m1 = by_key(&l, k1);
	CHECK(m1 && m1->size == strlen(body1) && m1->time > 1600000000);
	repo_msg_list_free(&l);
	r2->ops->free(&r2);

	/* read_body and fetch */
	CHECK_INT(r->ops->list_messages(r, &l), REPO_OK);
	m2 = by_key(&l, k2);
	char *body = NULL;
	size_t len = 0;
	int64_t t = 0;
	CHECK_INT(r->ops->read_body(r, m2, &body, &len, &t), REPO_OK);
	CHECK_INT(len, strlen(body2));
	CHECK_STR(body, body2);
	CHECK_INT(t, 1600000000);
	free(body);
	struct repo_msg *pm[2] = { by_key(&l, k1), by_key(&l, k2) };
	struct fetched f = { STRBUF_INIT, 0, 0 };
	CHECK_INT(r->ops->fetch(r, pm, 2, fetch_cb, &f), REPO_OK);
	CHECK_STR(sb_str(&f.sb), "[1:Subject: one\n\nhello\n][2:Subject: two\n\nworld\n]");
	sb_reset(&f.sb);
	f.calls = 0;
	f.stop_after = 1;
	CHECK_INT(r->ops->fetch(r, pm, 2, fetch_cb, &f), REPO_FOLDER_BAD);
	CHECK_INT(f.calls, 1);
	sb_free(&f.sb);

	/* set_flags: renames in place, moves new <-> cur by S, keeps the base */
	struct repo_msg *m4 = by_key(&l, k4);
	m1 = by_key(&l, k1);
	m2 = by_key(&l, k2);
	struct repo_msg *batch[3] = { m1, m2, m4 };
	flagset_t nf[3] = { 0, F("FSa"), F("RS") /* unchanged */ };
	CHECK_INT(r->ops->set_flags(r, batch, nf, 3), REPO_OK);
	char *want = xasprintf("new/%.*s:2,", (int)(strlen(k1) - 4 - 4), k1 + 4);
	CHECK_STR(m1->key, want);
	CHECK(m1->flags == 0);
	free(want);
	want = xasprintf("cur/%.*s:2,FSa", (int)(strlen(k2) - 4 - 5), k2 + 4);
	CHECK_STR(m2->key, want);
	CHECK(m2->flags == F("FSa"));
	free(want);
	CHECK_STR(m4->key, k4);
	CHECK(!exists(p1) && !exists(p2));
	char *np = xasprintf("%s/%s", dir, m2->key);
	CHECK(exists(np));
	free(np);
	CHECK_INT(count_files(dir), 4);

	/* A reader marks m1 replied and moves it to cur/ behind our back;
	 * then we add F (from the server). Both changes survive. */
	char *base1 = xstrndup(m1->key + 4, strlen(m1->key) - 4 - 3);
	char *reader_key = xasprintf("cur/%s:2,RS", base1);
	reader_rename(dir, m1->key, reader_key);
	batch[0] = m1;
	nf[0] = F("F");
	CHECK_INT(r->ops->set_flags(r, batch, nf, 1), REPO_OK);
	want = xasprintf("cur/%s:2,FRS", base1);
	CHECK_STR(m1->key, want);
	CHECK(m1->flags == F("FRS"));
	np = xasprintf("%s/%s", dir, want);
	CHECK(exists(np));
	free(np);
	free(want);
	free(reader_key);
	CHECK_INT(count_files(dir), 4);

	/* A reader removes S (moving it to new/); we then remove F: result
	 * has neither, in new/ */
	reader_key = xasprintf("new/%s:2,FR", base1);
	reader_rename(dir, m1->key, reader_key);
	nf[0] = F("RS");
	CHECK_INT(r->ops->set_flags(r, batch, nf, 1), REPO_OK);
	want = xasprintf("new/%s:2,R", base1);
	CHECK_STR(m1->key, want);
	CHECK(m1->flags == F("R"));
	free(want);
	free(reader_key);
	CHECK_INT(count_files(dir), 4);

	/* a message that vanished cannot get flags: MSG_BAD, named */
	struct repo_msg ghost = { .uid = 77, .flags = 0,
				  .key = xstrdup("new/1_0.1.h,U=77,FMD5=" MD5_INBOX ":2,") };
	batch[0] = &ghost;
	nf[0] = FLAG_SEEN;
	CHECK_INT(r->ops->set_flags(r, batch, nf, 1), REPO_MSG_BAD);
	CHECK_STR(repo_error(r), "Maildir[INBOX]: new/1_0.1.h,U=77,FMD5=" MD5_INBOX
				 ":2,: rename: message vanished");

	/* read_body follows a reader's rename too; a vanished one is MSG_BAD */
	reader_key = xasprintf("cur/%s:2,RS", base1);
	reader_rename(dir, m1->key, reader_key);
	free(reader_key);
	body = NULL;
	CHECK_INT(r->ops->read_body(r, m1, &body, &len, &t), REPO_OK);
	CHECK_STR(body, body1);
	free(body);
	CHECK_INT(r->ops->read_body(r, &ghost, &body, &len, &t), REPO_MSG_BAD);
	/* fetch skips a vanished message without failing */
	pm[0] = &ghost;
	pm[1] = m1;
	f = (struct fetched){ STRBUF_INIT, 0, 0 };
	CHECK_INT(r->ops->fetch(r, pm, 2, fetch_cb, &f), REPO_OK);
	CHECK_STR(sb_str(&f.sb), "[1:Subject: one\n\nhello\n]");
	sb_free(&f.sb);

	/* set_uid gives the new local message a brand-new name with U= */
	m3 = by_key(&l, k3);
	CHECK_INT(r->ops->set_uid(r, m3, 5), REPO_OK);
	CHECK_INT(m3->uid, 5);
	check_new_name(m3->key, "new", 5, MD5_INBOX, ':', "");
	char *p3 = xasprintf("%s/%s", dir, k3);
	CHECK(!exists(p3));
	free(p3);
	p3 = xasprintf("%s/%s", dir, m3->key);
	c = read_whole(p3);
	CHECK_STR(c, body3);
	free(c);
	free(p3);
	/* ... also when a reader renamed it first (flags kept, subdir kept) */
	char *k3b = xstrdup(m3->key);
	char *base3 = xstrndup(k3b + 4, strlen(k3b) - 4 - 3);
	reader_key = xasprintf("cur/%s:2,DS", base3);
	reader_rename(dir, k3b, reader_key);
	CHECK_INT(r->ops->set_uid(r, m3, 6), REPO_OK);
	CHECK_INT(m3->uid, 6);
	CHECK(m3->flags == F("DS"));
	check_new_name(m3->key, "cur", 6, MD5_INBOX, ':', "DS");
	free(reader_key);
	free(base3);
	free(k3b);
	CHECK_INT(r->ops->set_uid(r, &ghost, 8), REPO_MSG_BAD);
	CHECK_INT(count_files(dir), 4);

	/* delete: plain, renamed behind our back, and already gone */
	repo_msg_list_free(&l);
	CHECK_INT(r->ops->list_messages(r, &l), REPO_OK);
	CHECK_INT(l.n, 4);
	CHECK(by_uid(&l, 1) && by_uid(&l, 2) && by_uid(&l, 4) && by_uid(&l, 6));
	struct repo_msg *d1 = by_uid(&l, 1), *d2 = by_uid(&l, 2);
	char *base2 = xstrndup(d2->key + 4, strlen(d2->key) - 4 - strlen(":2,FSa"));
	reader_key = xasprintf("cur/%s:2,FST", base2);
	reader_rename(dir, d2->key, reader_key);
	struct repo_msg *del[3] = { d1, d2, &ghost };
	CHECK_INT(r->ops->delete_messages(r, del, 3), REPO_OK);
	CHECK_INT(count_files(dir), 2);
	np = xasprintf("%s/%s", dir, reader_key);
	CHECK(!exists(np));
	free(np);
	free(reader_key);
	free(base2);
	repo_msg_list_free(&l);
	CHECK_INT(r->ops->list_messages(r, &l), REPO_OK);
	CHECK_INT(l.n, 2);
	CHECK(by_uid(&l, 4) && by_uid(&l, 6));
	repo_msg_list_free(&l);

	/* error lines name folder and file: cur/ replaced by a file */
	free(k1);
	CHECK_INT(r->ops->store(r, body1, strlen(body1), 0, 0, 10, NULL, &k1), REPO_OK);
	CHECK_INT(r->ops->flush(r), REPO_OK);
	struct repo_msg m10 = { .uid = 10, .flags = 0, .key = k1 };
	char *curdir = xasprintf("%s/cur", dir), *curaside = xasprintf("%s/cur.aside", dir);
	rename(curdir, curaside);
	write_file(curdir, "not a dir");
	batch[0] = &m10;
	nf[0] = FLAG_SEEN;
	CHECK_INT(r->ops->set_flags(r, batch, nf, 1), REPO_MSG_BAD);
	want = xasprintf("Maildir[INBOX]: %s: rename: Not a directory", k1);
	CHECK_STR(repo_error(r), want);
	free(want);
	CHECK_STR(m10.key, k1); /* unchanged on failure */
	CHECK(m10.flags == 0);
	unlink(curdir);
	rename(curaside, curdir);
	free(curdir);
	free(curaside);
	free(m10.key);

	free(ghost.key);
	free(base1);
	free(tmp);
	free(p1);
	free(p2);
	free(k2);
	free(k3);
	free(k4);
	free(dir);
	r->ops->free(&r);
	free(root);
}

static void test_duplicates(void)
{
	char *root = P("%s/%s", "dups");
	struct maildir_settings s = settings(root, '.');
	struct repo *r = maildir_repo_new("local", &s);
	CHECK_INT(r->ops->connect(r), REPO_OK);
	CHECK_INT(r->ops->create_folder(r, "INBOX"), REPO_OK);
	CHECK_INT(r->ops->create_folder(r, "Sent"), REPO_OK);
	char *dir = maildir_folder_dir(r, "INBOX");
	char *sent = maildir_folder_dir(r, "Sent");

	/* a mail reader's copy of U=1 in new/ (scanned first) and the
	 * original in cur/: the first seen keeps the UID */
	char *a = xasprintf("%s/cur/100_0.1.h,U=1,FMD5=" MD5_INBOX ":2,S", dir);
	char *b = xasprintf("%s/new/200_0.1.h,U=1,FMD5=" MD5_INBOX ":2,", dir);
	write_file(a, "orig\n");
	write_file(b, "copy\n");
	/* a Dovecot-style delivery and a file copied from INBOX into Sent */
	char *dov = xasprintf("%s/new/1700000000.M1P1.host", dir);
	write_file(dov, "dovecot\n");
	char *cp = xasprintf("%s/cur/100_0.1.h,U=1,FMD5=" MD5_INBOX ":2,S", sent);
	write_file(cp, "orig\n");
	/* the same base in new/ and cur/: a reader moved it while we listed */
	char *m1 = xasprintf("%s/new/300_0.1.h,U=3,FMD5=" MD5_INBOX ":2,", dir);
	char *m2 = xasprintf("%s/cur/300_0.1.h,U=3,FMD5=" MD5_INBOX ":2,S", dir);
	write_file(m1, "moved\n");
	CHECK(link(m1, m2) == 0);

	struct repo_folder_status st;
	struct repo_msg_list l = { 0 };
	CHECK_INT(r->ops->select_folder(r, "INBOX", true, &st), REPO_OK);
	CHECK_INT(r->ops->list_messages(r, &l), REPO_OK);
	CHECK_INT(l.n, 4);
	struct repo_msg *x = by_key(&l, "new/200_0.1.h,U=1,FMD5=" MD5_INBOX ":2,");
	struct repo_msg *y = by_key(&l, "cur/100_0.1.h,U=1,FMD5=" MD5_INBOX ":2,S");
	CHECK(x && x->uid == 1);
	CHECK(y && y->uid == 0 && y->flags == FLAG_SEEN);
	struct repo_msg *z = by_key(&l, "new/1700000000.M1P1.host");
	CHECK(z && z->uid == 0 && z->flags == 0);
	CHECK(by_key(&l, "new/300_0.1.h,U=3,FMD5=" MD5_INBOX ":2,") == NULL);
	struct repo_msg *w = by_key(&l, "cur/300_0.1.h,U=3,FMD5=" MD5_INBOX ":2,S");
	CHECK(w && w->uid == 3 && w->flags == FLAG_SEEN);

	/* the Dovecot name gets flags the Maildir way: ":2,S" appended */
	struct repo_msg *batch[1] = { z };
	flagset_t nf[1] = { FLAG_SEEN };
	CHECK_INT(r->ops->set_flags(r, batch, nf, 1), REPO_OK);
	CHECK_STR(z->key, "cur/1700000000.M1P1.host:2,S");
	repo_msg_list_free(&l);

	/* in Sent the INBOX file's FMD5 does not match: a new message */
	CHECK_INT(r->ops->select_folder(r, "Sent", true, &st), REPO_OK);
	CHECK_INT(r->ops->list_messages(r, &l), REPO_OK);
	CHECK_INT(l.n, 1);
	CHECK(l.n == 1 && l.v[0].uid == 0 && l.v[0].flags == FLAG_SEEN);
	CHECK(r->ops->storable_flags(r) & F("PSa"));
	CHECK((r->ops->storable_flags(r) & F("FPRSTDaz")) == F("FPRSTDaz"));
	repo_msg_list_free(&l);

	/* infosep '!' */
	s.infosep = '!';
	struct repo *rw = maildir_repo_new("local", &s);
	CHECK_INT(rw->ops->select_folder(rw, "Sent", true, &st), REPO_OK);
	char *key = NULL;
	CHECK_INT(rw->ops->store(rw, "w\n", 2, F("FS"), 0, 12, NULL, &key), REPO_OK);
	check_new_name(key, "cur", 12, "7f8c0283f16925caed8e632086b81b9c", '!', "FS");
	CHECK_INT(rw->ops->list_messages(rw, &l), REPO_OK);
	struct repo_msg *v = by_key(&l, key);
	CHECK(v && v->uid == 12 && v->flags == F("FS"));
	repo_msg_list_free(&l);
	free(key);
	rw->ops->free(&rw);

	free(a);
	free(b);
	free(dov);
	free(cp);
	free(m1);
	free(m2);
	free(dir);
	free(sent);
	r->ops->free(&r);
	free(root);
}

/* With fsync, stores are synced and renamed in batches: nothing is
 * visible under its name before its data is synced, everything is after
 * flush (or any other call), tmp/ is left empty, and a file that cannot
 * be renamed makes flush fail, however it was published, so that the
 * caller never commits rows over a missing file. */
static void test_batched_stores(void)
{
	char *root = P("%s/%s", "batched");
	struct maildir_settings s = settings(root, '.');
	struct repo *r = maildir_repo_new("local", &s);
	CHECK_INT(r->ops->connect(r), REPO_OK);
	struct repo_folder_status st;
	CHECK_INT(r->ops->create_folder(r, "INBOX"), REPO_OK);
	CHECK_INT(r->ops->select_folder(r, "INBOX", true, &st), REPO_OK);
	char *dir = maildir_folder_dir(r, "INBOX");
	char *tmpd = xasprintf("%s/tmp", dir), *curd = xasprintf("%s/cur", dir);
	char *aside = xasprintf("%s/cur.aside", dir);

	/* 70 stores: more than one batch; each lands exactly once, intact */
	enum { N = 70 };
	char *keys[N];
	for (int i = 0; i < N; i++) {
		char *body = xasprintf("Subject: batch %d\n\nbody %d\n", i, i);
		keys[i] = NULL;
		CHECK_INT(r->ops->store(r, body, strlen(body), FLAG_SEEN, 0, (uint32_t)i + 1, NULL,
					&keys[i]),
			  REPO_OK);
		free(body);
	}
	CHECK_INT(r->ops->flush(r), REPO_OK);
	char *c = ls(tmpd);
	CHECK_STR(c, "");
	free(c);
	CHECK_INT(count_files(dir), N);
	struct repo_msg_list l = { 0 };
	CHECK_INT(r->ops->list_messages(r, &l), REPO_OK);
	CHECK_INT(l.n, N);
	for (int i = 0; i < N; i++) {
		struct repo_msg *m = by_uid(&l, (uint32_t)i + 1);
		CHECK(m != NULL);
		char *body = NULL, *want = xasprintf("Subject: batch %d\n\nbody %d\n", i, i);
		size_t len = 0;
		if (m)
			CHECK_INT(r->ops->read_body(r, m, &body, &len, NULL), REPO_OK);
		CHECK_STR(body, want);
		free(body);
		free(want);
		free(keys[i]);
	}
	repo_msg_list_free(&l);

	/* a store is visible to the next call without a flush */
	char *k = NULL;
	CHECK_INT(r->ops->store(r, "x\n", 2, FLAG_SEEN, 0, 100, NULL, &k), REPO_OK);
	CHECK_INT(r->ops->list_messages(r, &l), REPO_OK);
	CHECK(by_uid(&l, 100) != NULL);
	repo_msg_list_free(&l);
	free(k);
	CHECK_INT(r->ops->flush(r), REPO_OK);

	/* a batch is data-synced over several threads: a file that fails
	 * there (its tmp/ file gone) is reported by its own name, and only
	 * it is missing; the other 19 of the batch are published */
	char *gone_keys[20];
	for (int i = 0; i < 20; i++) {
		char *body = xasprintf("Subject: threaded %d\n\nbody\n", i);
		gone_keys[i] = NULL;
		CHECK_INT(r->ops->store(r, body, strlen(body), FLAG_SEEN, 0, (uint32_t)i + 200,
					NULL, &gone_keys[i]),
			  REPO_OK);
		free(body);
	}
	char *gone_tmp = xasprintf("%s/tmp/%s", dir, gone_keys[13] + 4);
	CHECK_INT(unlink(gone_tmp), 0);
	CHECK(r->ops->flush(r) != REPO_OK);
	CHECK(strstr(repo_error(r), gone_keys[13] + 4) != NULL);
	CHECK(strstr(repo_error(r), "fsync") != NULL);
	CHECK_INT(count_files(dir), N + 1 + 19);
	CHECK_INT(r->ops->list_messages(r, &l), REPO_OK);
	for (int i = 0; i < 20; i++) {
		CHECK((by_uid(&l, (uint32_t)i + 200) != NULL) == (i != 13));
		free(gone_keys[i]);
	}
	repo_msg_list_free(&l);
	free(gone_tmp);
	CHECK_INT(r->ops->flush(r), REPO_OK);

	/* cur/ gone between store and flush: the rename fails, flush says so
	 * (naming the file), tmp/ keeps nothing, and the next flush is clean */
	CHECK_INT(r->ops->store(r, "y\n", 2, FLAG_SEEN, 0, 101, NULL, &k), REPO_OK);
	free(k);
	CHECK_INT(rename(curd, aside), 0);
	CHECK_INT(r->ops->flush(r), REPO_FOLDER_BAD);
	CHECK(strstr(repo_error(r), "rename to cur/") != NULL);
	CHECK(strstr(repo_error(r), "Maildir[INBOX]: tmp/") != NULL);
	c = ls(tmpd);
	CHECK_STR(c, "");
	free(c);
	CHECK_INT(r->ops->flush(r), REPO_OK);

	/* the same failure published by another call (list_messages) still
	 * fails the next flush */
	CHECK_INT(r->ops->store(r, "z\n", 2, FLAG_SEEN, 0, 102, NULL, &k), REPO_OK);
	free(k);
	r->ops->list_messages(r, &l);
	repo_msg_list_free(&l);
	CHECK_INT(r->ops->flush(r), REPO_FOLDER_BAD);
	CHECK_INT(r->ops->flush(r), REPO_OK);
	CHECK_INT(rename(aside, curd), 0);
	CHECK_INT(count_files(dir), N + 1 + 19);

	free(tmpd);
	free(curd);
	free(aside);
	free(dir);
	r->ops->free(&r);
	free(root);
}

int main(void)
{
	umask(022);
	if (gethostname(host, sizeof(host)) < 0)
		strcpy(host, "localhost");
	for (char *h = host; *h; h++)
		if (*h == '/')
			*h = '-';
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_connect();
	test_folders_dot();
	test_folders_slash();
	test_messages();
	test_duplicates();
	test_batched_stores();
	char *rm = xasprintf("rm -rf '%s'", tmpdir);
	if (check_failures == 0 && system(rm) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	free(rm);
	return check_report("test_maildir");
}
