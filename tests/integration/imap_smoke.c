/* imap_smoke.c — developer check of the IMAP repository against a real
 * server (Dovecot from tests/fixture/dovecot.py, or any test account).
 * Not a unit test and not installed: build with
 *   ninja -C build imap/imap_smoke
 * and run with the server in the environment:
 *   IMAP_HOST IMAP_PORT IMAP_USER IMAP_PASS     where and who
 *   IMAP_SSL=1 | IMAP_STARTTLS=1                 TLS mode (neither: plaintext)
 *   IMAP_CAFILE IMAP_FINGERPRINT                 trust (sslcacertfile, cert_fingerprint)
 *   IMAP_EXPECT_FAIL=text   only connect; succeed iff it fails with text in the error
 *   IMAP_TRACE=file         -d imap trace into file; afterwards check that neither
 *                           the password nor its SASL PLAIN form is in it
 *   IMAP_BIG_MB=4           size of the big message (0 skips it)
 *   IMAP_BATCH_BYTES        fetch_batch_bytes (default: the repo's)
 *   IMAP_NO_EXPUNGE=1       expunge off
 *   IMAP_AUTH="LOGIN"       auth_mechanisms
 * It creates a folder "smoke-<pid>-<time>/sub", appends, lists, fetches,
 * changes flags and deletes, checks every result and exits non-zero on the
 * first failure. The messages are deleted at the end; the folders stay.
 *
 * Then the live-mount operations, with a second connection playing "another
 * client":
 *   IDLE   the timeout path (no change, about the asked time); a byte on
 *          cancel_fd wakes it (no change); an APPEND by the other connection
 *          wakes it within 1 s (change); a change made before IDLE started
 *          is reported at once; the connection still works afterwards;
 *   MOVE   to another folder: gone from the source, there with the UID the
 *          server reported (COPYUID) and its flags; a UID that does not
 *          exist (REPO_OK, UID 0); a missing destination (REPO_FOLDER_BAD).
 *          Run it with and without advertised MOVE/UIDPLUS (the fixture's
 *          --no-extensions); with IMAP_TRACE the trace must show UID MOVE
 *          exactly when MOVE is advertised;
 *   FIND   find_message by Message-ID and size: the one match; none for
 *          another size or id; none when two messages match; a Message-ID
 *          with a control character is REPO_MSG_BAD.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/repo.h"
#include "imap/imap_repo.h"

static int failures;

#define FAIL(...)                                                      \
	do {                                                           \
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);   \
		fprintf(stderr, __VA_ARGS__);                          \
		fputc('\n', stderr);                                   \
		failures++;                                            \
	} while (0)

#define MUST(r, call)                                                                \
	do {                                                                         \
		int rc_ = (call);                                                    \
		if (rc_ != REPO_OK) {                                                \
			fprintf(stderr, "FAIL %s:%d: %s -> %d: %s\n", __FILE__, __LINE__, #call, \
				rc_, repo_error(r));                                 \
			exit(1);                                                     \
		}                                                                    \
	} while (0)

static const char *env(const char *name, const char *def)
{
	const char *v = getenv(name);
	return v && *v ? v : def;
}

static bool env_bool(const char *name)
{
	const char *v = getenv(name);
	return v && (!strcmp(v, "1") || !strcasecmp(v, "yes") || !strcasecmp(v, "true"));
}

struct sent {
	const char *label;
	char *body; /* what we stored (LF form) */
	size_t len;
	char *want; /* what fetch must return */
	size_t want_len;
	flagset_t flags;
	int64_t time;
	uint32_t uid;
	bool fetched;
};

static struct sent msgs[8];
static size_t nmsgs;
static bool marker_expected; /* no UIDPLUS: uploads carry X-OfflineIMAP */

static void add_msg(const char *label, const char *body, size_t len, const char *want,
		    size_t want_len, const char *flags, int64_t time)
{
	struct sent *s = &msgs[nmsgs++];
	s->label = label;
	s->body = malloc(len + 1);
	memcpy(s->body, body, len);
	s->body[len] = '\0';
	s->len = len;
	s->want = malloc(want_len + 1);
	memcpy(s->want, want, want_len);
	s->want_len = want_len;
	s->flags = flags_from_letters(flags, strlen(flags));
	s->time = time;
}

static struct sent *by_uid(uint32_t uid)
{
	for (size_t i = 0; i < nmsgs; i++)
		if (msgs[i].uid == uid)
			return &msgs[i];
	return NULL;
}

static int fetch_cb(void *ctx, const struct repo_msg *m, const char *body, size_t len)
{
	size_t *count = ctx;
	struct sent *s = by_uid(m->uid);
	(*count)++;
	if (!s) {
		FAIL("fetch returned unknown UID %" PRIu32, m->uid);
		return 0;
	}
	if (s->fetched)
		FAIL("UID %" PRIu32 " delivered twice", m->uid);
	s->fetched = true;
	if (marker_expected) {
		const char *nl = memchr(body, '\n', len);
		if (strncmp(body, "X-OfflineIMAP: ", 15) != 0 || !nl) {
			FAIL("%s: no X-OfflineIMAP header on top", s->label);
			return 0;
		}
		printf("  %.*s\n", (int)(nl - body), body);
		len -= (size_t)(nl + 1 - body);
		body = nl + 1;
	}
	if (len != s->want_len || memcmp(body, s->want, len) != 0) {
		size_t i = 0;
		while (i < len && i < s->want_len && body[i] == s->want[i])
			i++;
		FAIL("%s (UID %" PRIu32 "): body differs: got %zu bytes, want %zu, first "
		     "difference at %zu",
		     s->label, m->uid, len, s->want_len, i);
	} else {
		printf("  fetched %s: UID %" PRIu32 ", %zu bytes, exact\n", s->label, m->uid, len);
	}
	if (body[len] != '\0')
		FAIL("body not NUL-terminated");
	return 0;
}

static const char *letters(flagset_t f)
{
	static char out[4][FLAGS_LETTERS_MAX];
	static int next;
	char *o = out[next++ % 4];
	flags_to_letters(f, o);
	return o;
}

static void check_list(struct repo *r, size_t want_n, const char *step)
{
	struct repo_msg_list l = { 0 };
	MUST(r, r->ops->list_messages(r, &l));
	printf("%s: %zu messages\n", step, l.n);
	if (l.n != want_n)
		FAIL("%s: %zu messages listed, want %zu", step, l.n, want_n);
	for (size_t i = 0; i < l.n; i++) {
		struct sent *s = by_uid(l.v[i].uid);
		if (!s) {
			FAIL("%s: unknown UID %" PRIu32, step, l.v[i].uid);
			continue;
		}
		printf("  UID %" PRIu32 " %-10s flags=%-6s size=%" PRIu64 " time=%" PRId64 "\n",
		       l.v[i].uid, s->label, letters(l.v[i].flags), l.v[i].size, l.v[i].time);
		if (l.v[i].flags != s->flags)
			FAIL("%s: %s flags %s, want %s", step, s->label, letters(l.v[i].flags),
			     letters(s->flags));
		if (s->time > 0 && l.v[i].time != s->time)
			FAIL("%s: %s INTERNALDATE %" PRId64 ", want %" PRId64, step, s->label,
			     l.v[i].time, s->time);
		if (l.v[i].size == 0)
			FAIL("%s: %s has size 0", step, s->label);
	}
	repo_msg_list_free(&l);
}

/* The trace must show the login (redacted) but never the secret. */
static void check_trace(const char *path, const char *user, const char *pass, bool want_move)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		FAIL("cannot read trace %s", path);
		return;
	}
	char *data = NULL;
	size_t len = 0, cap = 0;
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (len + n + 1 > cap) {
			cap = (len + n + 1) * 2;
			data = realloc(data, cap);
		}
		memcpy(data + len, buf, n);
		len += n;
	}
	fclose(f);
	if (!data) {
		FAIL("trace %s is empty", path);
		return;
	}
	data[len] = '\0';
	/* base64 of "\0user\0pass", as AUTHENTICATE PLAIN would send it */
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t ul = strlen(user), pl = strlen(pass), rl = ul + pl + 2;
	unsigned char *raw = malloc(rl);
	raw[0] = 0;
	memcpy(raw + 1, user, ul);
	raw[ul + 1] = 0;
	memcpy(raw + ul + 2, pass, pl);
	char *b64 = malloc(rl / 3 * 4 + 8), *o = b64;
	for (size_t i = 0; i + 2 < rl; i += 3) { /* whole groups are enough to match */
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];
		*o++ = tab[v >> 18 & 63], *o++ = tab[v >> 12 & 63], *o++ = tab[v >> 6 & 63],
		*o++ = tab[v & 63];
	}
	*o = '\0';
	if (strstr(data, pass))
		FAIL("the password appears in the trace %s", path);
	if (strlen(b64) >= 8 && strstr(data, b64))
		FAIL("the SASL PLAIN response appears in the trace %s", path);
	if (!strstr(data, "<redacted>"))
		FAIL("the trace %s shows no redacted login", path);
	if (!strstr(data, "S: ") || !strstr(data, "C: "))
		FAIL("the trace %s has no protocol lines", path);
	if (want_move != (strstr(data, "UID MOVE ") != NULL))
		FAIL("the trace %s %s UID MOVE, but the server %s MOVE", path,
		     want_move ? "lacks" : "shows", want_move ? "offers" : "does not offer");
	printf("trace %s: %zu bytes, password absent, login redacted, UID MOVE %s\n", path, len,
	       want_move ? "used" : "not used");
	free(raw);
	free(b64);
	free(data);
}


/* ---- live-mount operations -------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* What the helper thread does while the main thread idles. */
struct helper {
	double delay;
	int wake_fd;          /* write a byte here, or -1 */
	struct repo *other;   /* APPEND here (folder selected), or NULL */
	double done_at;       /* now_s() when the action finished */
	int rc;
};

static const char idle_msg[] = "Subject: idle wake-up\n\nhello\n";

static void *helper_main(void *arg)
{
	struct helper *h = arg;
	sleep_s(h->delay);
	h->rc = REPO_OK;
	if (h->wake_fd >= 0 && write(h->wake_fd, "x", 1) != 1)
		h->rc = REPO_STORE_BAD;
	if (h->other) {
		uint32_t uid = 0;
		h->rc = h->other->ops->store(h->other, idle_msg, sizeof(idle_msg) - 1, 0, 0, 0, &uid,
					     NULL);
	}
	h->done_at = now_s();
	return NULL;
}

static size_t count_messages(struct repo *r)
{
	struct repo_msg_list l = { 0 };
	MUST(r, r->ops->list_messages(r, &l));
	size_t n = l.n;
	repo_msg_list_free(&l);
	return n;
}

static void test_idle(struct repo *r, struct repo *other, const char *folder)
{
	if (!imap_repo_has_capability(r, "IDLE")) {
		bool changed = true;
		if (r->ops->idle(r, 1, -1, &changed) != REPO_FOLDER_BAD)
			FAIL("IDLE without the capability is not REPO_FOLDER_BAD");
		printf("IDLE: not offered (%s)\n", repo_error(r));
		return;
	}
	struct repo_folder_status st;
	MUST(r, r->ops->select_folder(r, folder, true, &st));
	MUST(other, other->ops->select_folder(other, folder, true, &st));
	size_t before = count_messages(r);

	/* timeout: nothing happens */
	bool changed = true;
	double t0 = now_s();
	MUST(r, r->ops->idle(r, 2, -1, &changed));
	double took = now_s() - t0;
	printf("IDLE timeout: %.2f s, changed=%d\n", took, changed);
	if (changed || took < 1.9 || took > 4)
		FAIL("IDLE timeout: %.2f s (want about 2), changed=%d", took, changed);

	/* cancel_fd */
	int p[2];
	if (pipe(p) < 0) {
		FAIL("pipe: %s", strerror(errno));
		return;
	}
	struct helper h = { .delay = 0.3, .wake_fd = p[1] };
	pthread_t th;
	pthread_create(&th, NULL, helper_main, &h);
	t0 = now_s();
	MUST(r, r->ops->idle(r, 30, p[0], &changed));
	double woke = now_s();
	pthread_join(th, NULL);
	printf("IDLE cancel: woke %.3f s after the byte, changed=%d\n", woke - h.done_at, changed);
	if (changed || woke - h.done_at > 1 || woke - t0 < 0.25)
		FAIL("IDLE cancel: woke %.3f s after the byte (%.3f s in all), changed=%d",
		     woke - h.done_at, woke - t0, changed);
	char c;
	if (read(p[0], &c, 1) != 1) /* the byte was left for the caller */
		FAIL("IDLE consumed the cancel byte");
	/* an already readable cancel_fd returns at once */
	if (write(p[1], "y", 1) != 1)
		FAIL("write: %s", strerror(errno));
	t0 = now_s();
	MUST(r, r->ops->idle(r, 30, p[0], &changed));
	if (now_s() - t0 > 1)
		FAIL("IDLE with a readable cancel_fd took %.2f s", now_s() - t0);
	if (read(p[0], &c, 1) != 1)
		FAIL("cancel byte gone");

	/* a delivery by another client */
	h = (struct helper){ .delay = 0.3, .wake_fd = -1, .other = other };
	pthread_create(&th, NULL, helper_main, &h);
	t0 = now_s();
	MUST(r, r->ops->idle(r, 30, -1, &changed));
	woke = now_s();
	pthread_join(th, NULL);
	if (h.rc != REPO_OK)
		FAIL("APPEND by the other connection: %s", repo_error(other));
	printf("IDLE delivery: woke %.3f s after the APPEND returned (%.3f s in all), changed=%d\n",
	       woke - h.done_at, woke - t0, changed);
	if (!changed || woke - h.done_at > 1)
		FAIL("IDLE delivery: changed=%d, woke %.3f s after the APPEND", changed,
		     woke - h.done_at);
	if (count_messages(r) != before + 1)
		FAIL("after IDLE: %zu messages, want %zu", count_messages(r), before + 1);

	/* a change made before IDLE starts is reported at once */
	uint32_t uid = 0;
	MUST(other, other->ops->store(other, idle_msg, sizeof(idle_msg) - 1, 0, 0, 0, &uid, NULL));
	t0 = now_s();
	MUST(r, r->ops->idle(r, 30, -1, &changed));
	printf("IDLE pending change: %.3f s, changed=%d\n", now_s() - t0, changed);
	if (!changed || now_s() - t0 > 1)
		FAIL("IDLE after an earlier change: changed=%d after %.3f s", changed, now_s() - t0);

	/* several rounds keep the connection in step (tags, buffers) */
	for (int i = 0; i < 3; i++)
		MUST(r, r->ops->idle(r, 0, p[0], &changed));
	if (count_messages(r) != before + 2)
		FAIL("after IDLE rounds: %zu messages, want %zu", count_messages(r), before + 2);
	close(p[0]);
	close(p[1]);
	other->ops->close_folder(other);
	r->ops->close_folder(r);
}

static void test_move(struct repo *r, const char *src, const char *dst)
{
	bool native = imap_repo_has_capability(r, "MOVE");
	bool uidplus = imap_repo_has_capability(r, "UIDPLUS");
	struct repo_folder_status st;
	MUST(r, r->ops->create_folder(r, dst));
	MUST(r, r->ops->select_folder(r, src, true, &st));
	static const char body[] = "Subject: to be moved\nMessage-ID: <move@smoke>\n\nmove me\n";
	flagset_t fl = flags_from_letters("FS", 2);
	uint32_t uid = 0, new_uid = 0;
	MUST(r, r->ops->store(r, body, sizeof(body) - 1, fl, 0, 0, &uid, NULL));
	size_t src_before = count_messages(r);
	struct repo_msg m = { .uid = uid, .flags = fl };
	MUST(r, r->ops->move(r, &m, dst, &new_uid));
	printf("MOVE (%s): UID %" PRIu32 " -> %" PRIu32 " in %s\n",
	       native ? "UID MOVE" : "COPY + STORE + EXPUNGE", uid, new_uid, dst);
	if (uidplus && new_uid == 0)
		FAIL("MOVE: no new UID although the server has UIDPLUS");
	size_t src_after = count_messages(r);
	bool expunged = native || uidplus || getenv("IMAP_NO_EXPUNGE") == NULL;
	if (expunged && src_after != src_before - 1)
		FAIL("MOVE: source has %zu messages, want %zu", src_after, src_before - 1);
	if (!expunged && src_after != src_before)
		FAIL("MOVE with expunge off: source has %zu messages, want %zu (kept \\Deleted)",
		     src_after, src_before);

	/* a UID that is not there: nothing copied, not an error */
	struct repo_msg gone = { .uid = uid + 100000 };
	uint32_t none = 1;
	MUST(r, r->ops->move(r, &gone, dst, &none));
	if (none != 0)
		FAIL("MOVE of a missing UID reported UID %" PRIu32, none);
	/* a destination that does not exist: the message stays */
	uint32_t stay = 0;
	MUST(r, r->ops->store(r, body, sizeof(body) - 1, fl, 0, 0, &stay, NULL));
	struct repo_msg sm = { .uid = stay, .flags = fl };
	if (stay == 0)
		sm.uid = uid + 1; /* without UIDPLUS: Dovecot numbers in order */
	int mrc = r->ops->move(r, &sm, "no-such-folder-xyz", &none);
	if (mrc != REPO_FOLDER_BAD)
		FAIL("MOVE to a missing folder: %d, not REPO_FOLDER_BAD", mrc);
	else
		printf("MOVE to a missing folder: %s\n", repo_error(r));
	if (count_messages(r) != src_after + 1)
		FAIL("MOVE to a missing folder: source has %zu messages, want %zu",
		     count_messages(r), src_after + 1);
	struct repo_msg *psm = &sm;
	MUST(r, r->ops->delete_messages(r, &psm, 1));
	r->ops->close_folder(r);

	MUST(r, r->ops->select_folder(r, dst, true, &st));
	struct repo_msg_list l = { 0 };
	MUST(r, r->ops->list_messages(r, &l));
	bool found = false;
	for (size_t i = 0; i < l.n; i++) {
		if (new_uid ? l.v[i].uid == new_uid : l.n == 1) {
			found = true;
			if ((l.v[i].flags & fl) != fl)
				FAIL("MOVE: flags %s in %s, want %s", letters(l.v[i].flags), dst,
				     letters(fl));
		}
	}
	if (!found || l.n != 1)
		FAIL("MOVE: %s has %zu messages, UID %" PRIu32 " %s", dst, l.n, new_uid,
		     found ? "found" : "missing");
	/* clean up */
	struct repo_msg *pm[8];
	for (size_t i = 0; i < l.n && i < 8; i++)
		pm[i] = &l.v[i];
	MUST(r, r->ops->delete_messages(r, pm, l.n < 8 ? l.n : 8));
	repo_msg_list_free(&l);
	r->ops->close_folder(r);
}

static void test_find(struct repo *r, const char *folder)
{
	bool uidplus = imap_repo_has_capability(r, "UIDPLUS");
	struct repo_folder_status st;
	MUST(r, r->ops->select_folder(r, folder, true, &st));
	char id[96], body[256], other_body[256];
	snprintf(id, sizeof(id), "<find-%d-%ld@smoke.example>", (int)getpid(), (long)time(NULL));
	int len = snprintf(body, sizeof(body), "Subject: find me\nMessage-ID: %s\n\nbody\n", id);
	int olen = snprintf(other_body, sizeof(other_body),
			    "Subject: find me too, longer\nMessage-ID: %s\n\nanother body\n", id);
	uint32_t uid = 0, other_uid = 0, got = 7;
	MUST(r, r->ops->store(r, body, (size_t)len, 0, 0, 0, &uid, NULL));
	MUST(r, r->ops->store(r, other_body, (size_t)olen, 0, 0, 0, &other_uid, NULL));
	uint64_t size = imap_wire_size(body, (size_t)len);
	if (size != (uint64_t)len + 4)
		FAIL("imap_wire_size: %" PRIu64 ", want %d", size, len + 4);

	MUST(r, r->ops->find_message(r, id, size, &got));
	printf("FIND %s (%" PRIu64 " bytes): UID %" PRIu32 " (stored as %" PRIu32 ")\n", id, size,
	       got, uid);
	if (uidplus && got != uid)
		FAIL("find_message: UID %" PRIu32 ", want %" PRIu32, got, uid);
	if (!uidplus && got != 0) /* the X-OfflineIMAP marker changes the size */
		FAIL("find_message without UIDPLUS: UID %" PRIu32 ", want 0", got);
	MUST(r, r->ops->find_message(r, id, size + 1, &got));
	if (got != 0)
		FAIL("find_message with a wrong size: UID %" PRIu32, got);
	MUST(r, r->ops->find_message(r, "<nobody@nowhere.example>", size, &got));
	if (got != 0)
		FAIL("find_message of an unknown id: UID %" PRIu32, got);
	if (r->ops->find_message(r, "<bad\r\nid>", size, &got) != REPO_MSG_BAD || got != 0)
		FAIL("find_message with CR LF in the id is not REPO_MSG_BAD");
	/* two identical copies: ambiguous, so none */
	uint32_t dup = 0;
	MUST(r, r->ops->store(r, body, (size_t)len, 0, 0, 0, &dup, NULL));
	MUST(r, r->ops->find_message(r, id, size, &got));
	if (got != 0)
		FAIL("find_message with two matches: UID %" PRIu32 ", want 0", got);
	struct repo_msg m[3] = { { .uid = uid }, { .uid = other_uid }, { .uid = dup } };
	struct repo_msg *pm[3] = { &m[0], &m[1], &m[2] };
	MUST(r, r->ops->delete_messages(r, pm, 3));
	r->ops->close_folder(r);
}

int main(void)
{
	struct imap_settings s = { 0 };
	s.host = env("IMAP_HOST", "localhost");
	s.port = atoi(env("IMAP_PORT", "0"));
	s.user = env("IMAP_USER", NULL);
	s.password = env("IMAP_PASS", NULL);
	s.ssl = env_bool("IMAP_SSL");
	s.starttls = env_bool("IMAP_STARTTLS");
	s.cacertfile = env("IMAP_CAFILE", NULL);
	s.fingerprints = env("IMAP_FINGERPRINT", NULL);
	s.timeout_seconds = 30;
	s.expunge = !env_bool("IMAP_NO_EXPUNGE");
	s.keywords[0] = "$Label1"; /* a */
	s.keywords['j' - 'a'] = "Junk";
	s.auth_mechanisms = env("IMAP_AUTH", NULL);
	s.fetch_batch_bytes = strtoull(env("IMAP_BATCH_BYTES", "0"), NULL, 10);
	const char *trace = env("IMAP_TRACE", NULL);
	const char *expect_fail = env("IMAP_EXPECT_FAIL", NULL);
	if (!s.user || !s.password) {
		fprintf(stderr, "imap_smoke: set IMAP_USER and IMAP_PASS (see the source)\n");
		return 2;
	}
	if (trace) {
		const char *err;
		unlink(trace);
		if (log_open_file(trace, &err) < 0) {
			fprintf(stderr, "imap_smoke: %s: %s\n", trace, err);
			return 2;
		}
		log_enable_debug(LOG_DBG_IMAP);
	}

	struct repo *r = imap_repo_new("smoke", &s);
	int rc = r->ops->connect(r);
	if (expect_fail) {
		printf("connect -> %d: %s\n", rc, repo_error(r));
		int ok = rc == REPO_STORE_BAD && strstr(repo_error(r), expect_fail) != NULL;
		if (!ok)
			fprintf(stderr, "FAIL: expected connect to fail with \"%s\"\n", expect_fail);
		r->ops->free(&r);
		return ok ? 0 : 1;
	}
	MUST(r, rc);
	MUST(r, r->ops->connect(r)); /* idempotent */
	static const char *const caps[] = { "UIDPLUS", "CONDSTORE", "LITERAL+", "UNSELECT",
					    "SASL-IR", "STARTTLS", "MOVE" };
	printf("connected; capabilities:");
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
		if (imap_repo_has_capability(r, caps[i]))
			printf(" %s", caps[i]);
	printf("\n");
	marker_expected = !imap_repo_has_capability(r, "UIDPLUS");
	char sep = r->ops->separator(r);
	printf("separator '%c'\n", sep);

	/* folders */
	char top[64], sub[80];
	snprintf(top, sizeof(top), "smoke-%d-%ld", (int)getpid(), (long)time(NULL));
	snprintf(sub, sizeof(sub), "%s%csub \"q\"", top, sep);
	MUST(r, r->ops->create_folder(r, sub));
	MUST(r, r->ops->create_folder(r, sub)); /* exists: not an error */
	MUST(r, r->ops->create_folder(r, top));
	struct strlist names = STRLIST_INIT;
	MUST(r, r->ops->list_folders(r, &names));
	printf("%zu folders\n", names.n);
	if (strlist_find(&names, top) < 0 || strlist_find(&names, sub) < 0 ||
	    strlist_find(&names, "INBOX") < 0)
		FAIL("LIST misses INBOX, %s or %s", top, sub);
	strlist_free(&names);
	if (r->ops->select_folder(r, "no-such-folder-xyz", true, NULL) != REPO_FOLDER_BAD)
		FAIL("SELECT of a missing folder is not REPO_FOLDER_BAD");
	else
		printf("missing folder: %s\n", repo_error(r));

	struct repo_folder_status st;
	MUST(r, r->ops->select_folder(r, sub, true, &st));
	printf("selected %s: uidvalidity %" PRIu32 " uidnext %" PRIu32 " exists %" PRIu32
	       " highestmodseq %" PRIu64 "\n",
	       sub, st.uidvalidity, st.uidnext, st.exists, st.highestmodseq);
	if (st.uidvalidity == 0 || st.exists != 0)
		FAIL("fresh folder: uidvalidity %" PRIu32 ", exists %" PRIu32, st.uidvalidity,
		     st.exists);
	if (imap_repo_has_capability(r, "CONDSTORE") && st.highestmodseq == 0)
		FAIL("CONDSTORE server but HIGHESTMODSEQ 0");
	check_list(r, 0, "empty folder");

	/* messages: plain; flags + keyword + date; CRLF/CR mix; big */
	static const char plain[] = "From: a@example.org\nSubject: plain\n\nhello\n.\nFrom x\n";
	add_msg("plain", plain, sizeof(plain) - 1, plain, sizeof(plain) - 1, "", 0);
	static const char flagged[] = "Subject: flagged\n\nbody\n";
	add_msg("flagged", flagged, sizeof(flagged) - 1, flagged, sizeof(flagged) - 1, "FSa",
		1500000000);
	/* A CRLF in the body is kept on upload and comes back as LF; a lone CR
	 * survives both ways. */
	static const char mixed[] = "Subject: mixed\n\nlf\ncrlf\r\nlone\rcr\nend";
	static const char mixed_back[] = "Subject: mixed\n\nlf\ncrlf\nlone\rcr\nend";
	add_msg("mixed", mixed, sizeof(mixed) - 1, mixed_back, sizeof(mixed_back) - 1, "D", 0);
	int big_mb = atoi(env("IMAP_BIG_MB", "4"));
	if (big_mb > 0) {
		size_t len = (size_t)big_mb << 20;
		char *big = malloc(len);
		size_t pos = (size_t)snprintf(big, len, "Subject: big\n\n");
		for (size_t line = 0; pos < len; line++) {
			int n = snprintf(big + pos, len - pos, "%08zu abcdefghijklmnopqrstuvwxyz "
					 "ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789\n", line);
			pos += (size_t)n < len - pos ? (size_t)n : len - pos;
		}
		big[len - 1] = '\n';
		add_msg("big", big, len, big, len, "S", 1600000000);
		free(big);
	}
	uint32_t last = 0;
	for (size_t i = 0; i < nmsgs; i++) {
		uint32_t uid = 0;
		char *key = (char *)"x";
		MUST(r, r->ops->store(r, msgs[i].body, msgs[i].len, msgs[i].flags, msgs[i].time, 0,
				      &uid, &key));
		printf("stored %s: UID %" PRIu32 "\n", msgs[i].label, uid);
		if (uid == 0 || uid <= last)
			FAIL("%s: UID %" PRIu32 " after %" PRIu32, msgs[i].label, uid, last);
		if (key)
			FAIL("store set *key_r");
		msgs[i].uid = last = uid;
	}
	check_list(r, nmsgs, "after APPEND");

	/* fetch everything plus a UID that does not exist */
	struct repo_msg *fm[9];
	struct repo_msg rm[9];
	for (size_t i = 0; i < nmsgs; i++) {
		rm[i] = (struct repo_msg){ .uid = msgs[i].uid, .flags = msgs[i].flags,
					   .size = msgs[i].len + 1000 };
		fm[i] = &rm[i];
	}
	rm[nmsgs] = (struct repo_msg){ .uid = last + 1000, .size = 10 };
	fm[nmsgs] = &rm[nmsgs];
	size_t delivered = 0;
	MUST(r, r->ops->fetch(r, fm, nmsgs + 1, fetch_cb, &delivered));
	if (delivered != nmsgs)
		FAIL("fetch delivered %zu bodies, want %zu", delivered, nmsgs);

	/* flags: plain +S+R, flagged -F -a +D +j, mixed -D */
	flagset_t nf[3] = {
		flags_from_letters("RS", 2),
		flags_from_letters("DSj", 3),
		0,
	};
	MUST(r, r->ops->set_flags(r, fm, nf, 3));
	for (size_t i = 0; i < 3; i++) {
		if (rm[i].flags != nf[i])
			FAIL("set_flags left msg %zu with %s", i, letters(rm[i].flags));
		msgs[i].flags = nf[i];
	}
	/* Maildir 'P' is not storable: asking for it changes nothing */
	flagset_t withp = nf[0] | FLAG_PASSED;
	MUST(r, r->ops->set_flags(r, fm, &withp, 1));
	if (flags_has(r->ops->storable_flags(r), FLAG_PASSED))
		FAIL("P is storable on IMAP");
	check_list(r, nmsgs, "after set_flags");

	/* delete two; with expunge they are gone */
	MUST(r, r->ops->delete_messages(r, fm, 2));
	if (s.expunge) {
		msgs[0].uid = msgs[1].uid = 0;
		check_list(r, nmsgs - 2, "after delete");
	}

	/* EXAMINE sees the same, then leave without expunging */
	r->ops->close_folder(r);
	MUST(r, r->ops->select_folder(r, sub, false, &st));
	printf("examined: exists %" PRIu32 "\n", st.exists);
	if (s.expunge && st.exists != nmsgs - 2)
		FAIL("EXAMINE: exists %" PRIu32 ", want %zu", st.exists, nmsgs - 2);
	if (r->ops->set_flags(r, fm + 2, nf, 1) != REPO_FOLDER_BAD)
		FAIL("set_flags in an EXAMINEd folder is not REPO_FOLDER_BAD");
	else
		printf("read-only: %s\n", repo_error(r));
	r->ops->close_folder(r);

	/* clean up: the rest of the messages */
	MUST(r, r->ops->select_folder(r, sub, true, &st));
	MUST(r, r->ops->delete_messages(r, fm + 2, nmsgs - 2));
	r->ops->close_folder(r);

	/* live-mount operations, another client on a second connection */
	bool want_move = imap_repo_has_capability(r, "MOVE");
	struct repo *other = imap_repo_new("smoke-other", &s);
	MUST(other, other->ops->connect(other));
	char idle_box[96], move_box[96];
	snprintf(idle_box, sizeof(idle_box), "%s%cidle", top, sep);
	snprintf(move_box, sizeof(move_box), "%s%cmoved", top, sep);
	MUST(r, r->ops->create_folder(r, idle_box));
	test_idle(r, other, idle_box);
	test_move(r, sub, move_box);
	test_find(r, sub);
	other->ops->free(&other);

	r->ops->free(&r);
	if (r)
		FAIL("free did not clear the pointer");
	for (size_t i = 0; i < nmsgs; i++) {
		free(msgs[i].body);
		free(msgs[i].want);
	}
	if (trace) {
		log_close();
		check_trace(trace, s.user, s.password, want_move);
	}
	printf("%s\n", failures ? "FAILED" : "OK");
	return failures ? 1 : 0;
}
