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

int main(void)
{
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
