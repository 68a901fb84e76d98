/* Unit tests for sync/delete_guard.c: when a folder's planned deletions are
 * held, and that holding them leaves their status rows and every other
 * action of the plan alone. */
#include <stdlib.h>

#include "sync/delete_guard.h"
#include "tests/unit/check.h"

static const struct delete_guard on = { .enabled = true, .percent = 50, .minmessages = 20 };

static void test_rule(void)
{
	/* nothing to delete: never held */
	CHECK(!delete_guard_holds(&on, 0, 0));
	CHECK(!delete_guard_holds(&on, 0, 30));
	/* all of a folder's messages, however few */
	CHECK(delete_guard_holds(&on, 1, 1));
	CHECK(delete_guard_holds(&on, 3, 3));
	CHECK(delete_guard_holds(&on, 30, 30));
	CHECK(delete_guard_holds(&on, 5, 3)); /* more than known: still all */
	/* small folders: anything short of all goes through */
	CHECK(!delete_guard_holds(&on, 19, 20));
	CHECK(!delete_guard_holds(&on, 2, 3));
	/* above minmessages: more than the share is held, the share itself not */
	CHECK(!delete_guard_holds(&on, 10, 21));
	CHECK(delete_guard_holds(&on, 11, 21));
	CHECK(!delete_guard_holds(&on, 15, 30));
	CHECK(delete_guard_holds(&on, 16, 30));
	CHECK(!delete_guard_holds(&on, 1, 1000));
	/* off */
	struct delete_guard off = on;
	off.enabled = false;
	CHECK(!delete_guard_holds(&off, 30, 30));
	/* percent 0: any deletion in a big folder is held */
	struct delete_guard strict = { .enabled = true, .percent = 0, .minmessages = 0 };
	CHECK(delete_guard_holds(&strict, 1, 1000));
	/* percent 100: only "all" */
	struct delete_guard loose = { .enabled = true, .percent = 100, .minmessages = 0 };
	CHECK(!delete_guard_holds(&loose, 999, 1000));
	CHECK(delete_guard_holds(&loose, 1000, 1000));
}

/* A plan of a folder of 30 known messages: all 30 deleted locally (the
 * planner wants them deleted on the server), UID 100 expunged on the
 * server alone would not be held, plus a download and a forgotten row. */
static void test_apply(void)
{
	struct repo_msg remote[31], local[2];
	memset(remote, 0, sizeof(remote));
	memset(local, 0, sizeof(local));
	for (int i = 0; i < 30; i++)
		remote[i].uid = (uint32_t)(i + 1);
	remote[30].uid = 50; /* new on the server */
	local[0].uid = 100;
	size_t del_remote[30], download[1] = { 30 }, del_local[1] = { 0 };
	uint32_t forget[32];
	for (int i = 0; i < 30; i++) {
		del_remote[i] = (size_t)(29 - i); /* any order */
		forget[i] = (uint32_t)(30 - i);
	}
	forget[30] = 100; /* the local deletion's row */
	forget[31] = 77;  /* a row neither side has */
	struct plan p = { 0 };
	p.delete_remote = del_remote;
	p.n_delete_remote = 30;
	p.delete_local = del_local;
	p.n_delete_local = 1;
	p.download = download;
	p.n_download = 1;
	p.status_forget = forget;
	p.n_status_forget = 32;

	struct delete_guard_held held;
	delete_guard_apply(&on, false, &p, remote, local, 31, &held);
	CHECK_INT(held.remote, 30);
	CHECK_INT(held.local, 0);
	CHECK_INT(held.total, 31);
	CHECK_INT(p.n_delete_remote, 0);
	CHECK_INT(p.n_delete_local, 1);
	CHECK_INT(p.n_download, 1);
	/* the held rows stay; the others are still forgotten, in order */
	CHECK_INT(p.n_status_forget, 2);
	CHECK_INT(p.status_forget[0], 100);
	CHECK_INT(p.status_forget[1], 77);

	/* confirmed: nothing held */
	p.n_delete_remote = 30;
	p.n_status_forget = 32;
	for (int i = 0; i < 30; i++)
		forget[i] = (uint32_t)(30 - i);
	forget[30] = 100;
	forget[31] = 77;
	delete_guard_apply(&on, true, &p, remote, local, 31, &held);
	CHECK_INT(held.remote, 0);
	CHECK_INT(p.n_delete_remote, 30);
	CHECK_INT(p.n_status_forget, 32);

	/* the server listed empty: every local deletion is held */
	struct repo_msg local2[3];
	memset(local2, 0, sizeof(local2));
	local2[0].uid = 1;
	local2[1].uid = 2;
	local2[2].uid = 0; /* a new local message waiting for upload */
	size_t del_local2[2] = { 0, 1 };
	uint32_t forget2[2] = { 1, 2 };
	struct plan q = { 0 };
	q.delete_local = del_local2;
	q.n_delete_local = 2;
	q.status_forget = forget2;
	q.n_status_forget = 2;
	delete_guard_apply(&on, false, &q, NULL, local2, 2, &held);
	CHECK_INT(held.local, 2);
	CHECK_INT(q.n_delete_local, 0);
	CHECK_INT(q.n_status_forget, 0);
}

int main(void)
{
	test_rule();
	test_apply();
	return check_report("test_delete_guard");
}
