/* Unit tests for sync/mtime_check.c's prefetch: folders queued ahead of
 * their syncs are listed on the checker's thread, but never more than a
 * couple ahead of the last one a sync took, so a big account's listings
 * are not all held in memory at once. A real Maildir and status database
 * in a temporary directory. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cache/maildir.h"
#include "cache/status.h"
#include "common/xalloc.h"
#include "sync/mtime_check.h"
#include "tests/unit/check.h"

static char tmpdir[] = "/tmp/test_mtime_check.XXXXXX";

#define FOLDERS 6
#define MESSAGES 5

static void make_folder(const char *root, const char *name)
{
	static const char *const subs[] = { "cur", "new", "tmp" };
	char *dir = xasprintf("%s/%s", root, name);
	CHECK_INT(mkdir(dir, 0700), 0);
	for (int i = 0; i < 3; i++) {
		char *sub = xasprintf("%s/%s", dir, subs[i]);
		CHECK_INT(mkdir(sub, 0700), 0);
		free(sub);
	}
	for (int i = 0; i < MESSAGES; i++) {
		char *path = xasprintf("%s/cur/%d.M%dP1.host,U=%d:2,S", dir, 1700000000 + i, i, i + 1);
		FILE *f = fopen(path, "w");
		CHECK(f != NULL);
		if (f) {
			fputs("Subject: x\n\nbody\n", f);
			fclose(f);
		}
		free(path);
	}
	free(dir);
}

/* Waits (up to 5 s) until the thread holds at least want listings, then
 * a little longer, so that one it should not take would show. */
static size_t held_after_settling(struct mtime_checker *chk, size_t want)
{
	struct timespec ms = { 0, 1000000 };
	for (int i = 0; i < 5000 && mtime_checker_held(chk) < want; i++)
		nanosleep(&ms, NULL);
	struct timespec more = { 0, 100000000 };
	nanosleep(&more, NULL);
	return mtime_checker_held(chk);
}

static void test_prefetch_stays_close(void)
{
	char *root = xasprintf("%s/Mail", tmpdir);
	char *db_path = xasprintf("%s/status.sqlite", tmpdir);
	CHECK_INT(mkdir(root, 0700), 0);
	char names[FOLDERS][16];
	int64_t ids[FOLDERS];
	struct status_db *st = NULL;
	char *err = NULL;
	CHECK_INT(status_open(db_path, false, false, &st, &err), 0);
	if (!st) {
		fprintf(stderr, "status_open: %s\n", err);
		exit(1);
	}
	for (int i = 0; i < FOLDERS; i++) {
		snprintf(names[i], sizeof(names[i]), "F%d", i);
		make_folder(root, names[i]);
		CHECK_INT(status_folder_ensure(st, names[i], &ids[i], &err), 0);
	}
	struct maildir_settings s = { .root = root, .sep = '.', .infosep = ':', .fsync = false };
	struct repo *local = maildir_repo_new("local", &s);
	CHECK_INT(local->ops->connect(local), REPO_OK);
	struct mtime_checker *chk = mtime_checker_new(db_path, false, local);
	for (int i = 0; i < FOLDERS; i++)
		mtime_checker_prefetch(chk, names[i], names[i], ids[i]);

	/* before any sync took one: two listings ahead, not six */
	CHECK_INT(held_after_settling(chk, 2), 2);

	/* the first sync takes its listing; the thread moves one further */
	bool same = true;
	int64_t mn = 0, mc = 0;
	struct repo_msg_list listing = { 0 };
	CHECK(mtime_checker_take(chk, names[0], &same, &mn, &mc, &listing));
	CHECK_INT(listing.n, MESSAGES);
	CHECK(!same); /* no rows for these messages yet */
	repo_msg_list_free(&listing);
	CHECK_INT(held_after_settling(chk, 2), 2);

	/* a folder taken twice, or never queued: nothing (the caller lists) */
	CHECK(!mtime_checker_take(chk, names[0], &same, &mn, &mc, &listing));
	CHECK(!mtime_checker_take(chk, "Unknown", &same, &mn, &mc, &listing));

	/* the rest, in order: each one was listed ahead */
	for (int i = 1; i < FOLDERS; i++) {
		struct timespec ms = { 0, 1000000 };
		for (int k = 0; k < 5000 && mtime_checker_held(chk) == 0; k++)
			nanosleep(&ms, NULL);
		CHECK(mtime_checker_take(chk, names[i], &same, &mn, &mc, &listing));
		CHECK_INT(listing.n, MESSAGES);
		repo_msg_list_free(&listing);
	}
	CHECK_INT(mtime_checker_held(chk), 0);
	mtime_checker_finish(&chk, st);
	CHECK(chk == NULL);
	status_close(&st);
	free(root);
	free(db_path);
}

int main(void)
{
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 1;
	}
	test_prefetch_stays_close();
	char *rm = xasprintf("rm -rf '%s'", tmpdir);
	if (check_failures == 0 && system(rm) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	free(rm);
	return check_report("test_mtime_check");
}
