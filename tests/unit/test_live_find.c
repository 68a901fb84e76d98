/* Unit tests for sync/live_find.c: the Message-ID and size helpers, and the
 * search for an already uploaded message over a scripted in-memory
 * repository (find_message answer, listing and bodies given by the test). */
#include <stdlib.h>
#include <string.h>

#include "common/repo.h"
#include "sync/live_find.h"
#include "tests/unit/check.h"

static void test_message_id(void)
{
	static const struct {
		const char *body, *want;
	} cases[] = {
		{ "Message-ID: <a@b>\n\nbody\n", "<a@b>" },
		{ "From: x\nmessage-id:   <a@b>  \nSubject: s\n\n", "<a@b>" },
		{ "MESSAGE-ID:\n <folded@x>\n\n", "<folded@x>" },
		{ "Message-ID: <crlf@x>\r\nX: y\r\n\r\n", "<crlf@x>" },
		{ "From: x\n\nMessage-ID: <in-body@x>\n", NULL },
		{ "Message-IDs: <no@x>\n\n", NULL }, /* the header's name must match exactly... */
		{ "Message-ID:\n\n", NULL },
		{ "", NULL },
		{ "Subject: no id at all\n", NULL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = live_message_id(cases[i].body, strlen(cases[i].body));
		CHECK_STR(got, cases[i].want);
		free(got);
	}
}

static void test_crlf_size(void)
{
	CHECK_INT(live_crlf_size("", 0), 0);
	CHECK_INT(live_crlf_size("a\nb\n", 4), 6);
	CHECK_INT(live_crlf_size("a\r\nb\n", 5), 6);
	CHECK_INT(live_crlf_size("\n", 1), 2);
	CHECK_INT(live_crlf_size("a\rb", 3), 3);
}

/* --- a scripted repository --------------------------------------------- */

struct fmsg {
	uint32_t uid;
	const char *body; /* LF form, as fetch hands it over */
};

struct fake {
	struct repo base;
	const struct fmsg *v;
	size_t n;
	int find_rc;
	uint32_t find_uid;
	unsigned find_calls, list_calls, fetched;
	char *last_msgid;
	uint64_t last_size;
};

static int f_find(struct repo *r, const char *message_id, uint64_t size, uint32_t *uid_r)
{
	struct fake *f = (struct fake *)r;
	f->find_calls++;
	free(f->last_msgid);
	f->last_msgid = strdup(message_id);
	f->last_size = size;
	*uid_r = f->find_uid;
	return f->find_rc;
}

static int f_list(struct repo *r, struct repo_msg_list *list)
{
	struct fake *f = (struct fake *)r;
	f->list_calls++;
	for (size_t i = 0; i < f->n; i++) {
		struct repo_msg m = { .uid = f->v[i].uid,
				      .size = live_crlf_size(f->v[i].body, strlen(f->v[i].body)) };
		repo_msg_list_add(list, &m);
	}
	return REPO_OK;
}

static int f_fetch(struct repo *r, struct repo_msg *const *msgs, size_t n, repo_body_cb *cb,
		   void *ctx)
{
	struct fake *f = (struct fake *)r;
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < f->n; j++)
			if (f->v[j].uid == msgs[i]->uid) {
				f->fetched++;
				if (cb(ctx, msgs[i], f->v[j].body, strlen(f->v[j].body)) < 0)
					return REPO_FOLDER_BAD;
			}
	return REPO_OK;
}

static const struct repo_ops fake_ops = {
	.type_name = "Fake",
	.list_messages = f_list,
	.fetch = f_fetch,
	.find_message = f_find,
};
static const struct repo_ops fake_ops_nofind = {
	.type_name = "Fake",
	.list_messages = f_list,
	.fetch = f_fetch,
};

static void fake_init(struct fake *f, const struct repo_ops *ops, const struct fmsg *v, size_t n)
{
	memset(f, 0, sizeof(*f));
	repo_base_init(&f->base, ops, "F");
	f->v = v;
	f->n = n;
}

static void fake_free(struct fake *f)
{
	free(f->last_msgid);
	repo_base_free(&f->base);
}

#define A "From: a@x\nMessage-ID: <a@x>\nSubject: A\n\nbody a\n"
#define A_MARKED "From: a@x\nMessage-ID: <a@x>\nX-OfflineIMAP: 123-456\nSubject: A\n\nbody a\n"
#define B "From: b@x\nSubject: B\n\nbody b\n"
#define B_CRLF "From: b@x\r\nSubject: B\r\n\r\nbody b\r\n"

static void test_find(void)
{
	struct fake f;
	uint32_t uid;
	const struct fmsg msgs[] = { { 3, B }, { 5, A }, { 8, "other\n" } };

	/* find_message answers: no listing */
	fake_init(&f, &fake_ops, msgs, 3);
	f.find_uid = 5;
	CHECK_INT(live_find_uploaded(&f.base, A, strlen(A), NULL, 0, &uid), REPO_OK);
	CHECK_INT(uid, 5);
	CHECK_STR(f.last_msgid, "<a@x>");
	CHECK_INT(f.last_size, live_crlf_size(A, strlen(A)));
	CHECK_INT(f.list_calls, 0);
	fake_free(&f);

	/* find_message's UID is one we know: compare bytes instead, which
	 * finds no other copy */
	fake_init(&f, &fake_ops, msgs, 3);
	f.find_uid = 5;
	uint32_t known5[] = { 1, 5 };
	CHECK_INT(live_find_uploaded(&f.base, A, strlen(A), known5, 2, &uid), REPO_OK);
	CHECK_INT(uid, 0);
	CHECK_INT(f.list_calls, 1);
	fake_free(&f);

	/* no Message-ID: byte compare, CRLF local body as LF */
	fake_init(&f, &fake_ops, msgs, 3);
	CHECK_INT(live_find_uploaded(&f.base, B_CRLF, strlen(B_CRLF), NULL, 0, &uid), REPO_OK);
	CHECK_INT(uid, 3);
	CHECK_INT(f.find_calls, 0);
	CHECK_INT(f.fetched, 2); /* B and A (within the marker slack), not the smaller one */
	fake_free(&f);

	/* no find op: byte compare; the marker header is ignored */
	const struct fmsg marked[] = { { 9, A_MARKED } };
	fake_init(&f, &fake_ops_nofind, marked, 1);
	CHECK_INT(live_find_uploaded(&f.base, A, strlen(A), NULL, 0, &uid), REPO_OK);
	CHECK_INT(uid, 9);
	fake_free(&f);

	/* two identical unknown copies: interchangeable, the lowest is paired
	 * (issue 12: refusing made 2N copies of N identical uploads) */
	const struct fmsg twice[] = { { 4, B }, { 6, B } };
	fake_init(&f, &fake_ops_nofind, twice, 2);
	CHECK_INT(live_find_uploaded(&f.base, B, strlen(B), NULL, 0, &uid), REPO_OK);
	CHECK_INT(uid, 4);
	/* ... the caller then knows 4: the second file pairs with the other */
	uint32_t known4[] = { 4 };
	CHECK_INT(live_find_uploaded(&f.base, B, strlen(B), known4, 1, &uid), REPO_OK);
	CHECK_INT(uid, 6);
	/* ... and a third identical file finds none left: uploaded as new */
	uint32_t known46[] = { 4, 6 };
	CHECK_INT(live_find_uploaded(&f.base, B, strlen(B), known46, 2, &uid), REPO_OK);
	CHECK_INT(uid, 0);
	fake_free(&f);

	/* a different body of the same size does not match */
	const struct fmsg other[] = { { 2, "From: b@x\nSubject: C\n\nbody b\n" } };
	fake_init(&f, &fake_ops_nofind, other, 1);
	CHECK_INT(live_find_uploaded(&f.base, B, strlen(B), NULL, 0, &uid), REPO_OK);
	CHECK_INT(uid, 0);
	CHECK_INT(f.fetched, 1);
	fake_free(&f);

	/* a dead connection in find_message is passed on */
	fake_init(&f, &fake_ops, msgs, 3);
	f.find_rc = REPO_STORE_BAD;
	CHECK_INT(live_find_uploaded(&f.base, A, strlen(A), NULL, 0, &uid), REPO_STORE_BAD);
	fake_free(&f);
}

int main(void)
{
	test_message_id();
	test_crlf_size();
	test_find();
	return check_report("test_live_find");
}
