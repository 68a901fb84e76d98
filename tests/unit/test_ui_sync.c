/* test_ui_sync.c — sync/ui_sync.c: a plan's flag changes and deletions
 * become OfflineIMAP's machineui lines (one addingflags/deletingflags line
 * per letter, adds first, UIDs joined by form feeds; one deletingmessages
 * line). The UI writes to stdout, captured in a temporary file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "common/flags.h"
#include "common/ui.h"
#include "sync/ui_sync.h"

static char *capture(const struct ui_ops *ui, void (*run)(void))
{
	fflush(stdout);
	FILE *tmp = tmpfile();
	int saved = dup(1);
	dup2(fileno(tmp), 1);
	ui_use(ui);
	const char *err = NULL;
	CHECK(ui_start(&err) == 0);
	ui_set_thread("Folder INBOX [acc: A]");
	run();
	ui_clear_thread();
	fflush(stdout);
	dup2(saved, 1);
	close(saved);
	long n = ftell(tmp);
	char *out = calloc(1, (size_t)n + 1);
	rewind(tmp);
	CHECK(fread(out, 1, (size_t)n, tmp) == (size_t)n);
	fclose(tmp);
	return out;
}

static struct repo_msg msgs[] = {
	{ .uid = 5 }, { .uid = 7 }, { .uid = 9 }, { .uid = 1 }, { .uid = 2 }, { .uid = 3 },
};

static void run_flags(void)
{
	msgs[0].flags = flags_from_letters("S", 1);
	msgs[1].flags = flags_from_letters("RS", 2);
	msgs[2].flags = 0;
	struct repo_msg_list list = { .v = msgs, .n = 6 };
	struct plan_flags ch[] = {
		{ 0, flags_from_letters("FS", 2) }, /* +F */
		{ 1, flags_from_letters("F", 1) },  /* +F -R -S */
		{ 2, flags_from_letters("S", 1) },  /* +S */
	};
	ui_sync_flags("A", "INBOX", &list, ch, 3);
}

static void run_deletes(void)
{
	struct repo_msg_list list = { .v = msgs, .n = 6 };
	size_t idx[] = { 3, 4, 5, 0 };
	ui_sync_deletes("A", "Maildir", "INBOX", &list, idx, 4);
	ui_sync_deletes("A", "Maildir", "INBOX", &list, idx, 0); /* nothing: no line */
}

int main(void)
{
	char *out = capture(&ui_machine, run_flags);
	CHECK_STR(strstr(out, "msg:addingflags:"),
		  "msg:addingflags:Folder+INBOX+%5Bacc%3A+A%5D:5%0C7%0AF%0AINBOX\n"
		  "msg:addingflags:Folder+INBOX+%5Bacc%3A+A%5D:9%0AS%0AINBOX\n"
		  "msg:deletingflags:Folder+INBOX+%5Bacc%3A+A%5D:7%0AR%0AINBOX\n"
		  "msg:deletingflags:Folder+INBOX+%5Bacc%3A+A%5D:7%0AS%0AINBOX\n");
	free(out);
	out = capture(&ui_machine, run_deletes);
	CHECK_STR(strstr(out, "msg:deletingmessages:"),
		  "msg:deletingmessages:Folder+INBOX+%5Bacc%3A+A%5D:1%0C2%0C3%0C5%0AMaildir%09INBOX\n");
	free(out);
	return check_report("test_ui_sync");
}
