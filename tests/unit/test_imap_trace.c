/* Unit tests for imap/imap_trace.c: the password never reaches the trace. */
#include "imap/imap_trace.h"
#include "tests/unit/check.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* One conversation per case: lines alternate as given; 'C' client, 'S'
 * server, 'P' client line libetpan marked private. */
struct step {
	char who;
	const char *line;
	const char *want;
};

static void run(const struct step *s, size_t n, int caseno)
{
	struct imap_trace t = IMAP_TRACE_INIT;
	for (size_t i = 0; i < n && s[i].line; i++) {
		struct strbuf sb = STRBUF_INIT;
		imap_trace_redact(&t, s[i].who != 'S', s[i].who == 'P', s[i].line, strlen(s[i].line),
				  &sb);
		if (strcmp(sb_str(&sb), s[i].want) != 0)
			fprintf(stderr, "case %d step %zu:\n", caseno, i);
		CHECK_STR(sb_str(&sb), s[i].want);
		CHECK(strstr(sb_str(&sb), "hunter2") == NULL);
		CHECK(strstr(sb_str(&sb), "aHVudGVyMg") == NULL); /* base64 of it */
		sb_free(&sb);
	}
}

/* ---- imap_trace_feed: raw buffers -> lines ---- */

static struct strbuf fed = STRBUF_INIT;

static void collect(void *ctx, bool from_client, const char *line)
{
	(void)ctx;
	sb_addf(&fed, "%s%s\n", from_client ? "C: " : "S: ", line);
}

struct piece {
	char who; /* C client, P client private, S server */
	const char *data;
	size_t len; /* 0: strlen */
};

static void feed_case(const struct piece *p, size_t n, const char *want)
{
	struct imap_trace t = IMAP_TRACE_INIT;
	sb_reset(&fed);
	for (size_t i = 0; i < n && p[i].data; i++)
		imap_trace_feed(&t, p[i].who != 'S', p[i].who == 'P', p[i].data,
				p[i].len ? p[i].len : strlen(p[i].data), collect, NULL);
	CHECK_STR(sb_str(&fed), want);
	CHECK(strstr(sb_str(&fed), "hunter2") == NULL);
	imap_trace_reset(&t);
}

static void test_feed(void)
{
	/* lines split across buffers are reassembled, then redacted */
	static const struct piece split[] = {
		{ 'P', "1 LOGIN alice hun", 0 }, { 'P', "ter2\r\n", 0 }, { 'S', "1 OK", 0 },
		{ 'S', " done\r\n* 3 EX", 0 },   { 'S', "ISTS\r\n", 0 },
	};
	feed_case(split, 5, "C: 1 LOGIN alice <redacted>\nS: 1 OK done\nS: * 3 EXISTS\n");

	/* a literal body is skipped with one note, whatever the buffers */
	static const struct piece fetch[] = {
		{ 'C', "5 UID FETCH 7 (UID BODY.PEEK[])\r\n", 0 },
		{ 'S', "* 1 FETCH (UID 7 BODY[] {12}\r\nhunt", 0 },
		{ 'S', "er2\r\nab", 0 },
		{ 'S', "\r\n)\r\n5 OK Fetch completed.\r\n", 0 },
	};
	feed_case(fetch, 4,
		  "C: 5 UID FETCH 7 (UID BODY.PEEK[])\n"
		  "S: * 1 FETCH (UID 7 BODY[] {12}\n"
		  "S: <12 bytes of literal data>\n"
		  "S: )\n"
		  "S: 5 OK Fetch completed.\n");

	/* APPEND with LITERAL+: the upload is not traced */
	static const struct piece append[] = {
		{ 'C', "6 APPEND \"INBOX\" (\\Seen) {9+}\r\nhunter2\r\n\r\n", 0 },
		{ 'S', "6 OK [APPENDUID 1 4] Append completed.\r\n", 0 },
	};
	feed_case(append, 2,
		  "C: 6 APPEND \"INBOX\" (\\Seen) {9+}\n"
		  "C: <9 bytes of literal data>\n"
		  "S: 6 OK [APPENDUID 1 4] Append completed.\n");

	/* a literal password: neither it nor its length is shown */
	static const struct piece litpass[] = {
		{ 'P', "7 LOGIN alice {7}\r\n", 0 }, { 'S', "+ OK\r\n", 0 },
		{ 'P', "hunter2\r\n", 0 },           { 'S', "7 OK\r\n", 0 },
	};
	feed_case(litpass, 4,
		  "C: 7 LOGIN alice <redacted>\n"
		  "C: <literal data <redacted>>\n"
		  "S: + OK\n"
		  "S: 7 OK\n");

	/* very long line: truncated, and a literal at its end still found */
	static char longline[10000];
	memset(longline, 'x', sizeof(longline));
	memcpy(longline, "* 2 FETCH (", 11);
	memcpy(longline + sizeof(longline) - 6, "{3}\r\n", 5);
	struct piece lp[] = { { 'S', longline, sizeof(longline) - 1 }, { 'S', "abc)\r\n", 0 } };
	struct imap_trace t = IMAP_TRACE_INIT;
	sb_reset(&fed);
	for (size_t i = 0; i < 2; i++)
		imap_trace_feed(&t, false, false, lp[i].data, lp[i].len ? lp[i].len : strlen(lp[i].data),
				collect, NULL);
	CHECK(strstr(sb_str(&fed), "more bytes)\nS: <3 bytes of literal data>\nS: )\n") != NULL);
	CHECK(fed.len < 4200);
	imap_trace_reset(&t);

	/* "{12}" inside a line, or not at the end, is no literal */
	static const struct piece nolit[] = {
		{ 'S', "* OK {12} hi\r\n* OK x{}\r\n* OK {a}\r\n", 0 },
	};
	feed_case(nolit, 1, "S: * OK {12} hi\nS: * OK x{}\nS: * OK {a}\n");
	sb_free(&fed);
}

int main(void)
{
	test_feed();
	static const struct step cases[][6] = {
		{ { 'P', "1 LOGIN alice hunter2\r\n", "1 LOGIN alice <redacted>" },
		  { 'S', "1 OK Logged in\r\n", "1 OK Logged in" },
		  { 'C', "2 SELECT INBOX\r\n", "2 SELECT INBOX" } },
		{ { 'P', "a1 login \"al ice\" \"hun\\\"ter2\"", "a1 login \"al ice\" <redacted>" },
		  { 'S', "a1 NO [AUTHENTICATIONFAILED] x", "a1 NO [AUTHENTICATIONFAILED] x" },
		  { 'C', "a2 LOGOUT", "a2 LOGOUT" } },
		/* user with escaped quote, password missing on the line */
		{ { 'C', "3 LOGIN \"a\\\"b\"", "3 LOGIN \"a\\\"b\" <redacted>" } },
		/* literal password on the next line */
		{ { 'P', "4 LOGIN alice {7}\r\n", "4 LOGIN alice <redacted>" },
		  { 'S', "+ OK\r\n", "+ OK" },
		  { 'P', "hunter2\r\n", "<redacted>" },
		  { 'S', "4 OK done\r\n", "4 OK done" },
		  { 'C', "5 NOOP\r\n", "5 NOOP" } },
		/* split private buffer */
		{ { 'P', "6 LOGIN al", "6 LOGIN al <redacted>" },
		  { 'P', "ice hunter2\r\n", "<redacted>" } },
		/* SASL-IR */
		{ { 'P', "7 AUTHENTICATE PLAIN AGFsaWNlAGh1bnRlcjI=\r\n",
		    "7 AUTHENTICATE PLAIN <redacted>" },
		  { 'S', "* CAPABILITY IMAP4rev1\r\n", "* CAPABILITY IMAP4rev1" },
		  { 'S', "7 OK Logged in\r\n", "7 OK Logged in" },
		  { 'C', "8 LIST \"\" \"*\"\r\n", "8 LIST \"\" \"*\"" } },
		/* continuation: the data line has no keyword to recognise */
		{ { 'C', "9 authenticate plain\r\n", "9 authenticate plain" },
		  { 'S', "+ \r\n", "+ " },
		  { 'C', "AGFsaWNlAGh1bnRlcjI=\r\n", "<redacted>" },
		  { 'S', "9 OK\r\n", "9 OK" },
		  { 'C', "10 NOOP", "10 NOOP" } },
		/* unknown private data is hidden whole; public data passes */
		{ { 'P', "hunter2", "<redacted>" },
		  { 'C', "11 UID FETCH 1:* (FLAGS)", "11 UID FETCH 1:* (FLAGS)" } },
		/* control characters from a hostile server */
		{ { 'S', "* OK \x1b[2Jhi\tthere\x7f", "* OK ?[2Jhi\tthere?" } },
		/* degenerate lines */
		{ { 'C', "", "" }, { 'S', "", "" }, { 'P', "LOGIN", "<redacted>" },
		  { 'C', "x LOGIN", "x LOGIN <redacted>" } },
	};
	for (size_t i = 0; i < N(cases); i++)
		run(cases[i], N(cases[i]), (int)i);
	return check_report("test_imap_trace");
}
