/* Unit tests for imap/uidset.c: UID arrays <-> "1:5,7" sets, chunking. */
#include <stdlib.h>

#include "imap/uidset.h"
#include "tests/unit/check.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_format(void)
{
	static const struct {
		uint32_t uids[12];
		size_t n;
		const char *want;
	} cases[] = {
		{ { 0 }, 0, "" },
		{ { 7 }, 1, "7" },
		{ { 1, 2, 3, 4, 5 }, 5, "1:5" },
		{ { 1, 2, 3, 4, 5, 7, 9, 10, 11, 12 }, 10, "1:5,7,9:12" },
		{ { 1, 3, 5 }, 3, "1,3,5" },
		{ { 1, 1, 2, 2, 3, 9, 9 }, 7, "1:3,9" },        /* duplicates fold */
		{ { 0, 0, 4, 5 }, 4, "4:5" },                 /* 0 is skipped */
		{ { 4294967294u, 4294967295u }, 2, "4294967294:4294967295" },
		{ { 4294967295u, 4294967295u }, 2, "4294967295" },
	};
	for (size_t i = 0; i < N(cases); i++) {
		struct strlist l = STRLIST_INIT;
		size_t k = uidset_chunks(cases[i].uids, cases[i].n, UIDSET_CHUNK_MAX, &l);
		if (cases[i].want[0] == '\0') {
			CHECK_INT(k, 0);
		} else {
			CHECK_INT(k, 1);
			CHECK_STR(l.n ? l.v[0] : NULL, cases[i].want);
		}
		strlist_free(&l);
	}
}

static void test_chunks(void)
{
	/* 1,3,5,...,1999: 1000 singletons; every chunk <= 30 chars, no UID
	 * lost or repeated, chunks join back to the whole set. */
	uint32_t uids[1000];
	for (size_t i = 0; i < N(uids); i++)
		uids[i] = (uint32_t)(2 * i + 1);
	struct strlist l = STRLIST_INIT;
	size_t k = uidset_chunks(uids, N(uids), 30, &l);
	CHECK(k > 10);
	size_t total = 0;
	uint32_t last = 0;
	int ordered = 1, short_enough = 1;
	for (size_t c = 0; c < l.n; c++) {
		if (strlen(l.v[c]) > 30)
			short_enough = 0;
		uint32_t *v;
		size_t n;
		CHECK_INT(uidset_parse(l.v[c], 100000, &v, &n), 0);
		for (size_t i = 0; i < n; i++) {
			if (v[i] <= last)
				ordered = 0;
			last = v[i];
		}
		total += n;
		free(v);
	}
	CHECK(short_enough);
	CHECK(ordered);
	CHECK_INT(total, 1000);
	strlist_free(&l);

	/* uidset_next_chunk reports how many entries it consumed. */
	uint32_t a[] = { 10, 11, 12, 20, 30, 31 };
	struct strbuf sb = STRBUF_INIT;
	CHECK_INT(uidset_next_chunk(a, N(a), 21, &sb), 6);
	CHECK_STR(sb_str(&sb), "10:12,20,30:31");
	sb_reset(&sb);
	CHECK_INT(uidset_next_chunk(a, N(a), 8, &sb), 4); /* "10:12,20" */
	CHECK_STR(sb_str(&sb), "10:12,20");
	sb_reset(&sb);
	CHECK_INT(uidset_next_chunk(a, N(a), 1, &sb), 3); /* first item always fits */
	CHECK_STR(sb_str(&sb), "10:12");
	sb_free(&sb);

	/* A long contiguous range stays one short item. */
	uint32_t *big = malloc(100000 * sizeof(*big));
	for (uint32_t i = 0; i < 100000; i++)
		big[i] = i + 1;
	struct strlist l2 = STRLIST_INIT;
	CHECK_INT(uidset_chunks(big, 100000, UIDSET_CHUNK_MAX, &l2), 1);
	CHECK_STR(l2.n ? l2.v[0] : NULL, "1:100000");
	strlist_free(&l2);
	free(big);
}

static void test_parse(void)
{
	static const struct {
		const char *in;
		int ret;
		const char *canonical; /* re-formatted, when ret == 0 */
	} cases[] = {
		{ "", 0, "" },
		{ "1", 0, "1" },
		{ "1:5,7,9:12", 0, "1:5,7,9:12" },
		{ "12:9", 0, "9:12" },
		{ "5,1,3,2,4", 0, "1:5" },
		{ "3,3,3", 0, "3" },
		{ "4294967295", 0, "4294967295" },
		{ "4294967296", -1, NULL },
		{ "0", -1, NULL },
		{ "1:0", -1, NULL },
		{ "1,", -1, NULL },
		{ ",1", -1, NULL },
		{ "1:*", -1, NULL },
		{ "1 2", -1, NULL },
		{ "a", -1, NULL },
		{ "1::2", -1, NULL },
		{ "1:100001", -1, NULL }, /* over max_uids */
	};
	for (size_t i = 0; i < N(cases); i++) {
		uint32_t *v = (uint32_t *)&cases; /* must be reset */
		size_t n = 99;
		int r = uidset_parse(cases[i].in, 100000, &v, &n);
		CHECK_INT(r, cases[i].ret);
		if (r == 0) {
			struct strbuf sb = STRBUF_INIT;
			uidset_next_chunk(v, n, 1000, &sb);
			CHECK_STR(sb_str(&sb), cases[i].canonical);
			sb_free(&sb);
		} else {
			CHECK(v == NULL);
			CHECK_INT(n, 0);
		}
		free(v);
	}
}

int main(void)
{
	test_format();
	test_chunks();
	test_parse();
	return check_report("test_uidset");
}
