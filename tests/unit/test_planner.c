/* Unit tests for sync/planner.c: the three-way decision table and the
 * per-flag merge. Each scenario states status, remote and local lists as
 * "uid:flags" words and the expected plan. */
#include <stdlib.h>

#include "sync/planner.h"
#include "tests/unit/check.h"

#define ALL_FLAGS (~(flagset_t)0)
#define IMAP_FLAGS (flags_from_letters("SRFTD", 5))

static flagset_t F(const char *s)
{
	return flags_from_letters(s, strlen(s));
}

static const char *L(flagset_t f)
{
	static char buf[4][FLAGS_LETTERS_MAX];
	static int slot;
	slot = (slot + 1) % 4;
	flags_to_letters(f, buf[slot]);
	return buf[slot];
}

/* Parses "1:S 2: 0:F" into messages (uid 0 = new local). */
static size_t parse_msgs(const char *spec, struct repo_msg *out)
{
	size_t n = 0;
	const char *p = spec;
	while (*p) {
		char *end;
		unsigned long uid = strtoul(p, &end, 10);
		const char *colon = end;
		const char *fl = colon + 1;
		const char *sp = strchr(fl, ' ');
		size_t len = sp ? (size_t)(sp - fl) : strlen(fl);
		memset(&out[n], 0, sizeof(out[n]));
		out[n].uid = (uint32_t)uid;
		out[n].flags = flags_from_letters(fl, len);
		out[n].size = 1000;
		n++;
		p = sp ? sp + 1 : fl + len;
	}
	return n;
}

static size_t parse_status(const char *spec, struct status_rec *out)
{
	struct repo_msg tmp[64];
	size_t n = parse_msgs(spec, tmp);
	for (size_t i = 0; i < n; i++) {
		out[i].uid = tmp[i].uid;
		out[i].flags = tmp[i].flags;
	}
	return n;
}

struct scenario {
	struct status_rec status[64];
	size_t ns;
	struct repo_msg remote[64], local[64];
	size_t nr, nl;
	struct plan plan;
};

static struct plan_options default_opts(void)
{
	struct plan_options o = {
		.remote_sync_deletes = true,
		.local_sync_deletes = true,
		.remote_storable = IMAP_FLAGS,
		.local_storable = ALL_FLAGS,
	};
	return o;
}

static void run(struct scenario *sc, const char *status, const char *remote, const char *local,
		const struct plan_options *opt)
{
	const char *err = NULL;
	sc->ns = parse_status(status, sc->status);
	sc->nr = parse_msgs(remote, sc->remote);
	sc->nl = parse_msgs(local, sc->local);
	CHECK_INT(plan_folder(sc->status, sc->ns, sc->remote, sc->nr, sc->local, sc->nl, opt,
			      &sc->plan, &err),
		  0);
}

/* uid of the message an index list entry points at */
static uint32_t ruid(struct scenario *sc, size_t i)
{
	return sc->remote[i].uid;
}
static uint32_t luid(struct scenario *sc, size_t i)
{
	return sc->local[i].uid;
}

static void test_merge_table(void)
{
	static const struct {
		const char *base, *remote, *local, *want;
	} cases[] = {
		{ "", "", "", "" },
		{ "", "S", "", "S" },        /* remote added */
		{ "", "", "S", "S" },        /* local added */
		{ "S", "", "S", "" },        /* remote removed */
		{ "S", "S", "", "" },        /* local removed */
		{ "", "S", "F", "FS" },      /* independent adds both survive */
		{ "S", "FS", "", "F" },      /* remote adds F, local removes S */
		{ "FS", "F", "FRS", "FR" },  /* remote removes S, local adds R */
		{ "S", "", "", "" },         /* both removed */
		{ "", "F", "F", "F" },       /* both added */
		{ "P", "", "P", "P" },       /* P not storable remotely: kept */
		{ "", "", "P", "P" },        /* local adds P */
		{ "P", "S", "", "S" },       /* local drops P, remote adds S */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		flagset_t got = plan_merge_flags(F(cases[i].base), F(cases[i].remote),
						 F(cases[i].local), IMAP_FLAGS, ALL_FLAGS);
		CHECK_STR(L(got), cases[i].want);
	}
}

static void test_initial_download(void)
{
	struct scenario sc;
	struct plan_options o = default_opts();
	run(&sc, "", "1:S 2: 3:F", "", &o);
	CHECK_INT(sc.plan.n_download, 3);
	CHECK_INT(ruid(&sc, sc.plan.download[0]), 1);
	CHECK_INT(ruid(&sc, sc.plan.download[2]), 3);
	CHECK_INT(sc.plan.n_upload + sc.plan.n_delete_local + sc.plan.n_delete_remote, 0);
	plan_free(&sc.plan);
}

static void test_noop(void)
{
	struct scenario sc;
	struct plan_options o = default_opts();
	run(&sc, "1:S 2: 3:FS", "1:S 2: 3:FS", "3:FS 1:S 2:", &o);
	CHECK_INT(plan_change_count(&sc.plan), 0);
	plan_free(&sc.plan);
}

static void test_new_local_uploads(void)
{
	struct scenario sc;
	struct plan_options o = default_opts();
	run(&sc, "1:S", "1:S", "1:S 0:F 0: 7:S", &o);
	/* two without UID plus uid 7 unknown to server and status */
	CHECK_INT(sc.plan.n_upload, 3);
	CHECK_INT(sc.plan.n_download, 0);
	plan_free(&sc.plan);

	o.remote_readonly = true;
	run(&sc, "", "", "0:F", &o);
	CHECK_INT(sc.plan.n_upload, 0);
	CHECK_INT(sc.plan.n_skipped_readonly, 1);
	plan_free(&sc.plan);
}

static void test_deletions(void)
{
	struct scenario sc;
	struct plan_options o = default_opts();
	/* 2 expunged on server, 3 deleted locally, 4 gone on both */
	run(&sc, "1: 2: 3: 4:", "1: 3:", "1: 2:", &o);
	CHECK_INT(sc.plan.n_delete_local, 1);
	CHECK_INT(luid(&sc, sc.plan.delete_local[0]), 2);
	CHECK_INT(sc.plan.n_delete_remote, 1);
	CHECK_INT(ruid(&sc, sc.plan.delete_remote[0]), 3);
	CHECK_INT(sc.plan.n_status_forget, 3);
	CHECK_INT(sc.plan.n_download + sc.plan.n_upload, 0);
	plan_free(&sc.plan);

	/* sync_deletes off on both: nothing deleted, nothing re-copied */
	o.remote_sync_deletes = o.local_sync_deletes = false;
	run(&sc, "1: 2: 3:", "1: 3:", "1: 2:", &o);
	CHECK_INT(sc.plan.n_delete_local + sc.plan.n_delete_remote, 0);
	CHECK_INT(sc.plan.n_download + sc.plan.n_upload, 0);
	CHECK_INT(sc.plan.n_status_forget, 0);
	plan_free(&sc.plan);

	/* readonly local: server expunge not applied locally, row kept */
	o = default_opts();
	o.local_readonly = true;
	run(&sc, "1: 2:", "1:", "1: 2:", &o);
	CHECK_INT(sc.plan.n_delete_local, 0);
	CHECK_INT(sc.plan.n_status_forget, 0);
	plan_free(&sc.plan);
}

static void test_flags_both_sides(void)
{
	struct scenario sc;
	struct plan_options o = default_opts();
	/* uid 1: server flags F, local marks S -> both get FS */
	run(&sc, "1: 2:S", "1:F 2:S", "1:S 2:", &o);
	CHECK_INT(sc.plan.n_remote_flags, 2);
	CHECK_INT(sc.plan.n_local_flags, 1);
	CHECK_STR(L(sc.plan.local_flags[0].flags), "FS");
	for (size_t i = 0; i < sc.plan.n_remote_flags; i++) {
		uint32_t uid = ruid(&sc, sc.plan.remote_flags[i].index);
		CHECK_STR(L(sc.plan.remote_flags[i].flags), uid == 1 ? "FS" : "");
	}
	CHECK_INT(sc.plan.n_status_put, 2);
	plan_free(&sc.plan);
}

static void test_record_without_status(void)
{
	struct scenario sc;
	struct plan_options o = default_opts();
	/* Both sides have it, no status (crash after download, or a migrated
	 * Maildir): no copy; status recorded; local flags pushed. */
	run(&sc, "", "5:S 6:", "5:S 6:F", &o);
	CHECK_INT(sc.plan.n_download + sc.plan.n_upload, 0);
	CHECK_INT(sc.plan.n_status_put, 2);
	CHECK_INT(sc.plan.n_remote_flags, 1);
	CHECK_STR(L(sc.plan.remote_flags[0].flags), "F");
	plan_free(&sc.plan);
}

static void test_readonly_flags(void)
{
	struct scenario sc;
	struct plan_options o = default_opts();
	o.remote_readonly = true;
	/* local adds F: cannot be pushed; status keeps the server's value */
	run(&sc, "1:", "1:", "1:F", &o);
	CHECK_INT(sc.plan.n_remote_flags, 0);
	CHECK_INT(sc.plan.n_status_put, 0);
	plan_free(&sc.plan);
	/* and a server change still reaches the local side */
	run(&sc, "1:", "1:S", "1:", &o);
	CHECK_INT(sc.plan.n_local_flags, 1);
	CHECK_STR(L(sc.plan.local_flags[0].flags), "S");
	plan_free(&sc.plan);

	o = default_opts();
	o.local_readonly = true;
	run(&sc, "1:", "1:S", "1:", &o);
	CHECK_INT(sc.plan.n_local_flags, 0);
	CHECK_INT(sc.plan.n_status_put, 0); /* status stays: change pending */
	plan_free(&sc.plan);
	run(&sc, "", "1: 2:", "", &o);
	CHECK_INT(sc.plan.n_download, 0);
	CHECK_INT(sc.plan.n_skipped_readonly, 2);
	plan_free(&sc.plan);
}

static void test_maxsize(void)
{
	struct scenario sc;
	struct plan_options o = default_opts();
	o.maxsize = 500;
	run(&sc, "", "1: 2:", "0:", &o);
	CHECK_INT(sc.plan.n_download, 0); /* sizes are 1000 */
	CHECK_INT(sc.plan.n_upload, 0);
	CHECK_INT(sc.plan.n_skipped_oversize, 3);
	plan_free(&sc.plan);
}

static void test_duplicate_local_uid(void)
{
	struct scenario sc;
	struct plan_options o = default_opts();
	run(&sc, "1:", "1:", "1: 1:S", &o);
	CHECK_INT(sc.plan.n_upload, 1); /* the copy is uploaded as new */
	CHECK_INT(sc.plan.n_delete_remote, 0);
	plan_free(&sc.plan);
}

static void test_duplicate_remote_uid_rejected(void)
{
	struct scenario sc;
	struct plan_options o = default_opts();
	const char *err = NULL;
	sc.nr = parse_msgs("1: 1:", sc.remote);
	CHECK_INT(plan_folder(NULL, 0, sc.remote, sc.nr, NULL, 0, &o, &sc.plan, &err), -1);
	CHECK(err != NULL);
}

int main(void)
{
	test_merge_table();
	test_initial_download();
	test_noop();
	test_new_local_uploads();
	test_deletions();
	test_flags_both_sides();
	test_record_without_status();
	test_readonly_flags();
	test_maxsize();
	test_duplicate_local_uid();
	test_duplicate_remote_uid_rejected();
	return check_report("test_planner");
}
