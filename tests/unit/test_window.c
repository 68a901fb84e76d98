/* Unit tests for sync/window.c (maxage / startdate windows, pure) and the
 * date parsing and bounds of sync/filters.c. */
#include <stdlib.h>
#include <string.h>

#include "sync/filters.h"
#include "sync/window.h"
#include "tests/unit/check.h"

#define DAY 86400

static struct repo_msg rmsg(uint32_t uid, int64_t time)
{
	struct repo_msg m = { .uid = uid, .time = time };
	return m;
}

/* A Maildir message: key "cur/<t>_0.1.h,U=<uid>,FMD5=x:2,S" (uid 0: no U=). */
static struct repo_msg lmsg(uint32_t uid, int64_t t)
{
	struct repo_msg m = { .uid = uid };
	m.key = uid ? xasprintf("cur/%lld_0.1.h,U=%u,FMD5=x:2,S", (long long)t, uid)
		    : xasprintf("new/%lld.M1P1.host", (long long)t);
	return m;
}

static void list_of(struct repo_msg_list *l, const struct repo_msg *v, size_t n)
{
	memset(l, 0, sizeof(*l));
	for (size_t i = 0; i < n; i++) {
		struct repo_msg m = v[i];
		m.key = m.key ? xstrdup(m.key) : NULL;
		repo_msg_list_add(l, &m);
	}
}

static void free_keys(struct repo_msg *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].key);
}

static void test_name_time(void)
{
	CHECK(window_name_time("1795648861_0.13031.vm,U=1,FMD5=x:2,S") == 1795648861);
	CHECK(window_name_time("abc17x") == 17);
	CHECK(window_name_time("nodigits") == -1);
	/* as re.search(r"(\d+)"): even the 2 of ":2," counts */
	CHECK(window_name_time("x:2,S") == 2);
	CHECK(window_name_time("") == -1);
	CHECK(window_name_time("99999999999999999999999") == INT64_MAX);
}

static void test_maxage_remote_decides(void)
{
	int64_t now = 1700000000, since = now - 10 * DAY, cutoff = since - DAY;
	struct repo_msg remote[] = { rmsg(1, now - 100 * DAY), rmsg(2, now - 50 * DAY),
				     rmsg(3, now - DAY), rmsg(4, now - 200 * DAY), rmsg(5, now) };
	struct repo_msg local[] = { lmsg(1, now), lmsg(2, now), lmsg(3, now), lmsg(4, now),
				    lmsg(0, now - 400 * DAY), lmsg(0, now) };
	struct msg_window w = window_maxage(remote, 5, local, 6, since, cutoff);
	/* UID 3 is the oldest recent one; UID 4 is old but has a higher UID:
	 * in, like OfflineIMAP's "UID min:*" reload */
	CHECK_INT(w.lo, 3);
	CHECK(!w.uidless_by_date);
	struct repo_msg_list rl, ll;
	list_of(&rl, remote, 5);
	list_of(&ll, local, 6);
	CHECK_INT(window_filter_msgs(&w, &rl, false), 2);
	CHECK_INT(rl.n, 3);
	CHECK_INT(rl.v[0].uid, 3);
	CHECK_INT(rl.v[1].uid, 4);
	CHECK_INT(rl.v[2].uid, 5);
	/* local: UIDs 1, 2 out; both files without UID in, whatever their date */
	CHECK_INT(window_filter_msgs(&w, &ll, true), 2);
	CHECK_INT(ll.n, 4);
	struct status_rec rows[] = { { 1, 0 }, { 2, 0 }, { 3, 0 }, { 9, 0 } }, *out = NULL;
	CHECK_INT(window_filter_rows(&w, rows, 4, &out), 2);
	CHECK_INT(out[0].uid, 3);
	CHECK_INT(out[1].uid, 9);
	free(out);
	repo_msg_list_free(&rl);
	repo_msg_list_free(&ll);
	free_keys(local, 6);
}

static void test_maxage_local_decides(void)
{
	int64_t now = 1700000000, since = now - 10 * DAY, cutoff = since - DAY;
	/* nothing recent on the server */
	struct repo_msg remote[] = { rmsg(1, now - 100 * DAY), rmsg(2, now - 50 * DAY),
				     rmsg(3, now - 60 * DAY) };
	struct repo_msg local[] = { lmsg(1, now - 100 * DAY), lmsg(2, now - 2 * DAY),
				    lmsg(3, now - 90 * DAY), lmsg(0, now - 400 * DAY), lmsg(0, now) };
	struct msg_window w = window_maxage(remote, 3, local, 5, since, cutoff);
	CHECK_INT(w.lo, 2);
	CHECK(w.uidless_by_date);
	struct repo_msg_list rl, ll;
	list_of(&rl, remote, 3);
	list_of(&ll, local, 5);
	CHECK_INT(window_filter_msgs(&w, &rl, false), 1);
	CHECK_INT(rl.n, 2);
	/* UID 3 is old by name but above lo: re-included (OfflineIMAP's
	 * date_excludees); the old file without UID stays out */
	CHECK_INT(window_filter_msgs(&w, &ll, true), 2);
	CHECK_INT(ll.n, 3);
	repo_msg_list_free(&rl);
	repo_msg_list_free(&ll);
	free_keys(local, 5);

	/* nothing recent anywhere: no UID at all takes part, nothing is
	 * forgotten, only recent files without UID are uploaded */
	struct repo_msg old_local[] = { lmsg(1, now - 100 * DAY), lmsg(0, now) };
	w = window_maxage(remote, 3, old_local, 2, since, cutoff);
	CHECK_INT(w.lo, 0);
	list_of(&rl, remote, 3);
	list_of(&ll, old_local, 2);
	CHECK_INT(window_filter_msgs(&w, &rl, false), 3);
	CHECK_INT(window_filter_msgs(&w, &ll, true), 1);
	CHECK_INT(ll.n, 1);
	CHECK_INT(ll.v[0].uid, 0);
	struct status_rec rows[] = { { 1, 0 }, { 2, 0 } }, *out = NULL;
	CHECK_INT(window_filter_rows(&w, rows, 2, &out), 0);
	free(out);
	repo_msg_list_free(&rl);
	repo_msg_list_free(&ll);
	free_keys(old_local, 2);
}

static void test_startdate(void)
{
	int64_t now = 1700000000, since = now - 10 * DAY;
	struct repo_msg remote[] = { rmsg(1, now - 100 * DAY), rmsg(2, now - DAY), rmsg(3, now) };
	struct repo_msg local[] = { lmsg(7, now) };
	struct msg_window w;
	uint32_t save = 0;
	/* remote partial: the Maildir must be empty */
	CHECK_INT(window_startdate_first(true, remote, 3, local, 1, since, since, &w, &save), -1);
	CHECK_INT(window_startdate_first(true, remote, 3, NULL, 0, since, since, &w, &save), 0);
	CHECK_INT(w.lo, 2);
	CHECK_INT(save, 2);
	{
		/* the first run takes only the dated ones, not an old one above */
		struct repo_msg r2[] = { rmsg(1, now - 100 * DAY), rmsg(2, now - DAY),
					 rmsg(3, now - 100 * DAY) };
		struct repo_msg_list rl;
		CHECK_INT(window_startdate_first(true, r2, 3, NULL, 0, since, since, &w, &save), 0);
		list_of(&rl, r2, 3);
		CHECK_INT(window_filter_msgs(&w, &rl, false), 2);
		CHECK_INT(rl.n, 1);
		CHECK_INT(rl.v[0].uid, 2);
		repo_msg_list_free(&rl);
		/* later runs: UID >= 2, whatever the date */
		w = window_from_lo(save);
		list_of(&rl, r2, 3);
		CHECK_INT(window_filter_msgs(&w, &rl, false), 1);
		repo_msg_list_free(&rl);
	}
	/* nothing dated: this run takes nothing, later runs all from UID 1 */
	CHECK_INT(window_startdate_first(true, remote, 1, NULL, 0, since, since, &w, &save), 0);
	CHECK_INT(w.lo, 0);
	CHECK_INT(save, 1);
	w = window_from_lo(save);
	CHECK_INT(w.lo, 1);
	/* local partial: the server folder must be empty */
	CHECK_INT(window_startdate_first(false, remote, 3, local, 1, since, since, &w, &save), -1);
	CHECK_INT(window_startdate_first(false, NULL, 0, local, 1, since, since, &w, &save), 0);
	CHECK_INT(w.lo, 7);
	CHECK_INT(save, 7);
	free_keys(local, 1);
}

static void test_days(void)
{
	struct filter_day d;
	CHECK_INT(filters_parse_day("2024-02-29", &d), 0);
	CHECK_INT(d.year, 2024);
	CHECK_INT(d.month, 2);
	CHECK_INT(d.day, 29);
	CHECK_INT(filters_parse_day("2023-02-29", &d), -1);
	CHECK_INT(filters_parse_day("2024-1-5", &d), 0);
	CHECK_INT(filters_parse_day("2024-13-01", &d), -1);
	CHECK_INT(filters_parse_day("2024-01-01x", &d), -1);
	CHECK_INT(filters_parse_day("30", &d), -1);
	CHECK_INT(filters_parse_day("", &d), -1);

	/* bounds, in UTC (the test runs with TZ=UTC below) */
	int64_t cut, since;
	struct filter_day j = { 2024, 1, 10 };
	filters_day_bounds(&j, &cut, &since);
	CHECK(cut == 1704844800);
	CHECK(since == 1704844800);
	struct sync_filters f = { .maxage_day = j };
	filters_maxage_bounds(&f, 1710000000, &cut, &since);
	CHECK(cut == 1704844800);
	CHECK(since == 1704844800 + DAY); /* SEARCH SINCE the next day */
	struct sync_filters g = { .maxage_days = 3 };
	filters_maxage_bounds(&g, 1704844800 + 3 * DAY + 3600, &cut, &since);
	CHECK(cut == 1704844800 + 3600);
	CHECK(since == 1704844800 + DAY);
}

static void strip_case(const char *in, const char *names_csv, const char *want)
{
	struct strlist names = STRLIST_INIT;
	char *copy = xstrdup(names_csv), *save = NULL;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save))
		strlist_add(&names, w);
	char *b = xstrdup(in);
	size_t n = filters_strip_headers(b, strlen(b), &names);
	b[n] = '\0';
	CHECK_STR(b, want);
	free(b);
	free(copy);
	strlist_free(&names);
}

static void test_strip_headers(void)
{
	/* every occurrence, any case, with continuation lines */
	strip_case("From: a\nX-Spam: yes\n  folded\nTo: b\nx-spam: no\n\nX-Spam: body\n",
		   "X-Spam", "From: a\nTo: b\n\nX-Spam: body\n");
	/* several names; a name that is only a prefix stays */
	strip_case("X-A: 1\nX-AB: 2\nX-B: 3\n\tmore\nSubject: s\n\nhi\n", "X-A,X-B",
		   "X-AB: 2\nSubject: s\n\nhi\n");
	/* CRLF empty line ends the header too; nothing to do = same bytes */
	strip_case("A: 1\r\n\r\nX-A: 2\r\n", "X-A", "A: 1\r\n\r\nX-A: 2\r\n");
	strip_case("A: 1\n\nbody", "Nope", "A: 1\n\nbody");
	/* no body at all, header last without newline */
	strip_case("A: 1\nX-A: 2", "X-A", "A: 1\n");
	strip_case("", "X-A", "");
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	test_name_time();
	test_maxage_remote_decides();
	test_maxage_local_decides();
	test_startdate();
	test_days();
	test_strip_headers();
	return check_report("test_window");
}
