/* Unit tests for sync/option_notes.c: which options are refused, which are
 * warned about (once, with file:line), and which stay silent. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sync/option_notes.h"
#include "tests/unit/check.h"

static const char conf[] =
	"[general]\n"                               /* 1 */
	"accounts = A, B\n"                         /* 2 */
	"ignore-keyring = yes\n"                    /* 3 */
	"update-keyring = no\n"                     /* 4 */
	"\n"                                        /* 5 */
	"[Account A]\n"                             /* 6 */
	"localrepository = L\n"                     /* 7 */
	"remoterepository = R\n"                    /* 8 */
	"synclabels = yes\n"                        /* 9 */
	"labelsheader = X-Keywords\n"               /* 10 */
	"realdelete = no\n"                         /* 11 */
	"\n"                                        /* 12 */
	"[Account B]\n"                             /* 13 */
	"localrepository = L\n"                     /* 14 */
	"remoterepository = R\n"                    /* 15 */
	"\n"                                        /* 16 */
	"[Repository L]\n"                          /* 17 */
	"type = GmailMaildir\n"                     /* 18: labels options count */
	"localfolders = /tmp/m\n"                   /* 19 */
	"usecompression = yes\n"                    /* 20: Maildir: OfflineIMAP never reads it */
	"\n"                                        /* 21 */
	"[Repository R]\n"                          /* 22 */
	"type = IMAP\n"                             /* 23 */
	"remotehost = h\n"                          /* 24 */
	"usecompression = yes\n"                    /* 25 */
	"oauth2_client_id = abc\n"                  /* 26 */
	"trashfolder = Trash\n"                     /* 27 */
	"remotepassevl = typo\n";                   /* 28 */

static bool starts(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

static void test_warnings_once(void)
{
	char *err = NULL;
	struct config *cfg = config_parse("t.conf", conf, &err);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	struct strlist said = STRLIST_INIT, lines = STRLIST_INIT;
	option_notes_collect(cfg, "A", "L", "R", &said, &lines);
	CHECK_INT(lines.n, 5);
	if (lines.n == 5) {
		CHECK_STR(lines.v[0], "t.conf:3: option 'ignore-keyring' in section 'general' is not "
			  "supported by offlinefs (offlinefs reads no keyring; the password comes "
			  "from remotepass, remotepassfile, remotepasseval or ~/.netrc); ignored");
		CHECK(starts(lines.v[1], "t.conf:9: option 'synclabels' in section 'Account A' "
			       "is not supported by offlinefs ("));
		CHECK(starts(lines.v[2], "t.conf:10: option 'labelsheader'"));
		CHECK(starts(lines.v[3], "t.conf:25: option 'usecompression' in section "
			       "'Repository R'"));
		CHECK(starts(lines.v[4], "t.conf:26: option 'oauth2_client_id'"));
		for (size_t i = 0; i < lines.n; i++)
			CHECK(strstr(lines.v[i], "); ignored") != NULL);
	}
	/* the second account shares [general] and both repositories: nothing new */
	strlist_free(&lines);
	option_notes_collect(cfg, "B", "L", "R", &said, &lines);
	CHECK_INT(lines.n, 0);
	/* nor a second round of the same account */
	option_notes_collect(cfg, "A", "L", "R", &said, &lines);
	CHECK_INT(lines.n, 0);
	strlist_free(&lines);
	strlist_free(&said);
	CHECK_INT(option_notes_refuse(cfg, &err), 0);
	config_free(&cfg);
}

static void test_refusals_all_at_once(void)
{
	const char *text = "[general]\naccounts = A\n"
			   "[Account A]\nlocalrepository = L\nremoterepository = R\n"
			   "proxy = SOCKS5:127.0.0.1:9050\n"
			   "[Repository L]\ntype = Maildir\nlocalfolders = /tmp/m\n"
			   "[Repository R]\ntype = IMAP\npreauthtunnel = ssh host imapd\n"
			   "transporttunnel = openssl s_client -connect h:993\n";
	char *err = NULL;
	struct config *cfg = config_parse("r.conf", text, &err);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	CHECK_INT(option_notes_refuse(cfg, &err), -1);
	if (err) {
		CHECK(strstr(err, "r.conf:6: option 'proxy' in section 'Account A' asks for a "
			     "SOCKS/HTTP proxy") == err);
		CHECK(strstr(err, "\nr.conf:12: option 'preauthtunnel' in section 'Repository R' "
			     "is a shell command") != NULL);
		CHECK(strstr(err, "\nr.conf:13: option 'transporttunnel'") != NULL);
		CHECK(strstr(err, "Python") == NULL);
		size_t n = 0;
		for (const char *p = err; (p = strchr(p, '\n')) != NULL; p++)
			n++;
		CHECK_INT(n, 2); /* three lines, one per option */
	}
	free(err);
	config_free(&cfg);
}

/* OfflineIMAP reads the label options only in Gmail folders: silent here. */
static void test_labels_silent_without_gmail(void)
{
	const char *text = "[Account A]\nlocalrepository = L\nremoterepository = R\n"
			   "synclabels = yes\nlabelsheader = X-Label\n"
			   "[Repository L]\ntype = Maildir\n"
			   "[Repository R]\ntype = IMAP\nrealdelete = no\n"
			   "auth_mechanisms = PLAIN, LOGIN\n";
	char *err = NULL;
	struct config *cfg = config_parse("g.conf", text, &err);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	struct strlist said = STRLIST_INIT, lines = STRLIST_INIT;
	option_notes_collect(cfg, "A", "L", "R", &said, &lines);
	CHECK_INT(lines.n, 0);
	strlist_free(&lines);
	strlist_free(&said);
	config_free(&cfg);
}

/* Mechanisms offlinefs does not speak are named; the list still works. */
static void test_auth_mechanisms_skipped(void)
{
	const char *text = "[Account A]\nlocalrepository = L\nremoterepository = R\n"
			   "[Repository L]\ntype = Maildir\n"
			   "[Repository R]\ntype = IMAP\nauth_mechanisms = GSSAPI, CRAM-MD5, PLAIN\n";
	char *err = NULL;
	struct config *cfg = config_parse("m.conf", text, &err);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	struct strlist said = STRLIST_INIT, lines = STRLIST_INIT;
	option_notes_collect(cfg, "A", "L", "R", &said, &lines);
	CHECK_INT(lines.n, 1);
	if (lines.n == 1)
		CHECK_STR(lines.v[0], "m.conf:8: option 'auth_mechanisms' in section 'Repository R' "
			  "is not supported by offlinefs (it speaks only PLAIN and LOGIN; GSSAPI, "
			  "CRAM-MD5 are skipped); ignored");
	strlist_free(&lines);
	strlist_free(&said);
	config_free(&cfg);
}

/* An option set once in [DEFAULT] is inherited by every section: said once. */
static void test_default_said_once(void)
{
	const char *text = "[DEFAULT]\nusecompression = yes\n"
			   "[Repository L]\ntype = Maildir\n"
			   "[Repository R1]\ntype = IMAP\n"
			   "[Repository R2]\ntype = IMAP\n";
	char *err = NULL;
	struct config *cfg = config_parse("d.conf", text, &err);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	struct strlist said = STRLIST_INIT, lines = STRLIST_INIT;
	option_notes_collect(cfg, "A", "L", "R1", &said, &lines);
	option_notes_collect(cfg, "B", "L", "R2", &said, &lines);
	CHECK_INT(lines.n, 1);
	if (lines.n == 1)
		CHECK(starts(lines.v[0], "d.conf:2: option 'usecompression' in section "
			     "'Repository R1'"));
	strlist_free(&lines);
	strlist_free(&said);
	config_free(&cfg);
}

static void test_false_booleans_silent(void)
{
	const char *text = "[general]\nignore-keyring = false\n"
			   "[Account A]\nlocalrepository = L\nremoterepository = R\nsynclabels = no\n"
			   "[Repository L]\ntype = Maildir\n"
			   "[Repository R]\ntype = Gmail\nusecompression = 0\n";
	char *err = NULL;
	struct config *cfg = config_parse("f.conf", text, &err);
	CHECK(cfg != NULL);
	if (!cfg)
		return;
	struct strlist said = STRLIST_INIT, lines = STRLIST_INIT;
	option_notes_collect(cfg, "A", "L", "R", &said, &lines);
	CHECK_INT(lines.n, 0);
	strlist_free(&lines);
	strlist_free(&said);
	config_free(&cfg);
}

int main(void)
{
	test_warnings_once();
	test_refusals_all_at_once();
	test_false_booleans_silent();
	test_default_said_once();
	test_auth_mechanisms_skipped();
	test_labels_silent_without_gmail();
	return check_report("test_option_notes");
}
