/* test_ui.c — the pure parts of common/ui.c: machineui's quoting and line
 * format (expected values from Python's urlencode([('', s)])[1:], which
 * OfflineIMAP's MachineLogFormatter uses), the progress line, UI lookup. */
#include <stdlib.h>

#include "check.h"
#include "common/ui.h"

static void test_quote(void)
{
	static const struct {
		const char *in, *want;
	} cases[] = {
		{ "", "" },
		{ "Folder INBOX [acc: Test]", "Folder+INBOX+%5Bacc%3A+Test%5D" },
		{ "a:b/c\nd\te", "a%3Ab%2Fc%0Ad%09e" },
		{ "Caf\xc3\xa9 & 100%", "Caf%C3%A9+%26+100%25" },
		{ "~._-", "~._-" },
		{ "\x01\x7f+", "%01%7F%2B" },
		{ "Lists/foo", "Lists%2Ffoo" },
		{ "AZaz09", "AZaz09" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *q = ui_machine_quote(cases[i].in);
		CHECK_STR(q, cases[i].want);
		free(q);
	}
}

static void test_line(void)
{
	char *l = ui_machine_line("msg", "syncingfolder", "Folder Lists/foo [acc: Test]",
				  "IMAP\nLists/foo\nMaildir\nLists.foo\n");
	/* a line OfflineIMAP 8.0 printed for the same folder */
	CHECK_STR(l, "msg:syncingfolder:Folder+Lists%2Ffoo+%5Bacc%3A+Test%5D:"
		     "IMAP%0ALists%2Ffoo%0AMaildir%0ALists.foo%0A");
	free(l);
	l = ui_machine_line("warn", "", NULL, "a: b");
	CHECK_STR(l, "warn::MainThread:a%3A+b");
	free(l);
	/* whatever the text, a line splits into exactly four fields on ':' and
	 * holds no newline (offlineimap.el splits on both) */
	l = ui_machine_line("error", "", "T:h:r\nead", "x:y\r\nz:");
	int colons = 0;
	for (const char *p = l; *p; p++) {
		colons += *p == ':';
		CHECK(*p != '\n' && *p != '\r');
	}
	CHECK_INT(colons, 3);
	free(l);
}

static void test_progress(void)
{
	struct ui_progress p = { .folders_total = 40, .folders_done = 12,
				 .messages_total = 1200, .messages_done = 350,
				 .bytes_done = 4404019, .seconds = 2.0 };
	char buf[200];
	ui_progress_format(&p, buf, sizeof(buf));
	CHECK_STR(buf, "12/40 folders, 350/1200 messages, 4.2 MiB, 2.1 MiB/s");
	struct ui_progress z = { 0 };
	ui_progress_format(&z, buf, sizeof(buf));
	CHECK_STR(buf, "0/0 folders, 0/0 messages, 0 B, 0 B/s");
}

static void test_find(void)
{
	CHECK(ui_find("machineui") == &ui_machine);
	CHECK(ui_find("MachineUI") == &ui_machine);
	CHECK(ui_find("Curses.Blinkenlights") == &ui_curses);
	CHECK(ui_find("TTY.TTYUI") == &ui_tty);
	CHECK(ui_find("tty") == &ui_tty);
	CHECK(ui_find("Noninteractive.Basic") == &ui_basic);
	CHECK(ui_find("Noninteractive.Quiet") == &ui_quiet);
	CHECK(ui_find("syslog") == &ui_syslog);
	CHECK(ui_find("nope") == NULL);
}

int main(void)
{
	test_quote();
	test_line();
	test_progress();
	test_find();
	return check_report("test_ui");
}
