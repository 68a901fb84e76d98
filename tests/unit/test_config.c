/* Unit tests for common/config.c: configparser-compatible parsing,
 * interpolation, typed getters, -k overrides and path expansion.
 * Expected values were checked against Python 3.11's configparser. */
#include "common/config.h"
#include "tests/unit/check.h"

#include <locale.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Prints which table row failed, once per row, after its checks ran. */
#define NOTE_CASE(before, i, text)                                                                 \
	do {                                                                                       \
		if (check_failures != (before))                                                    \
			fprintf(stderr, "  ... in case %zu: \"%s\"\n", (size_t)(i), (text));       \
	} while (0)

static struct config *parse_ok(const char *text)
{
	char *error = NULL;
	struct config *cfg = config_parse("rc", text, &error);
	CHECK(cfg != NULL);
	if (error) {
		fprintf(stderr, "unexpected parse error: %s\n", error);
		free(error);
	}
	return cfg;
}

/* Value lookups after a successful parse; want NULL = unset. */
static void test_values(void)
{
	static const struct {
		const char *text, *section, *option, *want;
	} cases[] = {
		/* syntax */
		{ "[s]\nk = v\n", "s", "k", "v" },
		{ "[s]\nk: v\n", "s", "k", "v" },
		{ "[s]\nk=v\n", "s", "k", "v" },
		{ "[s]\na : b = c\n", "s", "a", "b = c" },
		{ "[s]\nd = e : f\n", "s", "d", "e : f" },
		{ "[s]\nremotehost = imap.example.com:993\n", "s", "remotehost",
		  "imap.example.com:993" },
		{ "[s]\nk = a=b\n", "s", "k", "a=b" },
		{ "[s]\n   k   =    v  x   \n", "s", "k", "v  x" },
		{ "[s]\nk =\n", "s", "k", "" },
		{ "[s]\nk :   \n", "s", "k", "" },
		{ "[s]\nmy key = v\n", "s", "my key", "v" },
		{ "[s]\nk = \"quoted\" 'too'\n", "s", "k", "\"quoted\" 'too'" },
		{ "[s]\nk = v\n", "s", "other", NULL },
		/* comments: full-line only, inline kept */
		{ "# top\n; top\n[s]\n# c\nk = v\n", "s", "k", "v" },
		{ "[s]\nk = foo # c\n", "s", "k", "foo # c" },
		{ "[s]\nk = foo ; c\n", "s", "k", "foo ; c" },
		{ "[s]\n#k = v\n", "s", "k", NULL },
		{ "[s]\n   ;k = v\n", "s", "k", NULL },
		/* case rules */
		{ "[s]\nRemoteHost = h\n", "s", "remotehost", "h" },
		{ "[s]\nremotehost = h\n", "s", "REMOTEHOST", "h" },
		{ "[Account A]\nk = 1\n", "Account A", "k", "1" },
		{ "[Account A]\nk = 1\n", "account a", "k", NULL },
		{ "[s]\nk = MiXeD\n", "s", "k", "MiXeD" },
		/* section headers as configparser's SECTCRE reads them */
		{ "[s] trailing junk\nk = 1\n", "s", "k", "1" },
		{ "[a]b]\nk = 1\n", "a]b", "k", "1" },
		{ "[ sp ]\nk = 1\n", " sp ", "k", "1" },
		{ "[x = y]\nk = 1\n", "x = y", "k", "1" },
		{ "  [s]\n  k = v\n", "s", "k", "v" },
		/* [DEFAULT] */
		{ "[DEFAULT]\nk = d\n[s]\nx = 1\n", "s", "k", "d" },
		{ "[DEFAULT]\nk = d\n[s]\nk = s\n", "s", "k", "s" },
		{ "[s]\n[DEFAULT]\nk = d\n", "s", "k", "d" },
		{ "[DEFAULT]\nk = d\n", "DEFAULT", "k", "d" },
		{ "[DEFAULT]\nk = d\n[s]\n", "nosuch", "k", NULL },
		{ "[DEFAULT]\na = 1\n[s]\n[DEFAULT]\nb = 2\n", "s", "b", "2" },
		/* multi-line values */
		{ "[s]\nfolderfilter = lambda f: f in [\n    'INBOX',\n    'Sent']\n", "s",
		  "folderfilter", "lambda f: f in [\n'INBOX',\n'Sent']" },
		{ "[s]\nk = a\n\n  b\n\n\nx = 1\n", "s", "k", "a\n\nb" },
		{ "[s]\nk = a\n  b\n\n\n", "s", "k", "a\nb" },
		{ "[s]\nk = a\n  b\n  \n\t\n", "s", "k", "a\nb" },
		{ "[s]\nk = a\n  # c\n  b\n", "s", "k", "a\nb" },
		{ "[s]\nk = a\n# c\n  b\n", "s", "k", "a\nb" },
		{ "[s]\nk = a\n  b # not a comment\n", "s", "k", "a\nb # not a comment" },
		{ "[s]\nk =\n  a\n  b\n", "s", "k", "\na\nb" },
		{ "[s]\nk = v\n\t w\n", "s", "k", "v\nw" },
		{ "[s]\n  a = 1\n  b = 2\n    c\n", "s", "a", "1" },
		{ "[s]\n  a = 1\n  b = 2\n    c\n", "s", "b", "2\nc" },
		{ "[s]\nk = a\nb = c\n", "s", "k", "a" },
		{ "[s]\n[t]\n  k = 1\n", "t", "k", "1" },
		{ "[s]\nk = a\n  [t]\n", "s", "k", "a\n[t]" },
		/* interpolation */
		{ "[s]\nhome = /h\npath = %(home)s/mail\n", "s", "path", "/h/mail" },
		{ "[s]\nhome = /h\npath = %(HOME)s/mail\n", "s", "path", "/h/mail" },
		{ "[s]\nk = 100%%\n", "s", "k", "100%" },
		{ "[s]\nk = %%(x)s\n", "s", "k", "%(x)s" },
		{ "[s]\nk = %%%%\n", "s", "k", "%%" },
		{ "[s]\na = %(b)s!\nb = <%(c)s>\nc = x\n", "s", "a", "<x>!" },
		{ "[s]\na = %(b)s%(b)s\nb = 50%%\n", "s", "a", "50%50%" },
		{ "[DEFAULT]\nroot = %(home)s/m\nhome = /d\n[s]\nhome = /s\n", "s", "root",
		  "/s/m" },
		{ "[DEFAULT]\nroot = %(home)s/m\nhome = /d\n[s]\nhome = /s\n", "DEFAULT", "root",
		  "/d/m" },
		{ "[DEFAULT]\nuser = joe\n[s]\nremoteuser = %(user)s@example.com\n", "s",
		  "remoteuser", "joe@example.com" },
		{ "[s]\nk = a\n  %(x)s\nx = 1\n", "s", "k", "a\n1" },
		/* line endings and encoding */
		{ "[s]\r\nk = v\r\n  w\r\n", "s", "k", "v\nw" },
		{ "[s]\rk = v\r  w", "s", "k", "v\nw" },
		{ "[s]\r\nk = v\r\n\r\nx = 1\r\n", "s", "k", "v" },
		{ "\xef\xbb\xbf[s]\nk = v\n", "s", "k", "v" },
		{ "[s]\nk = v", "s", "k", "v" },
		{ "[s]\nk = caf\xc3\xa9\n", "s", "k", "caf\xc3\xa9" },
		/* Python's strip() and \s also cover \v, \f and \x1c-\x1f */
		{ "[s]\nk =\x0b v \x0c\x1f\n", "s", "k", "v" },
		{ "[s]\nj\x1c = 1\n\x0bi = 2\n  \x0b more\n", "s", "j", "1\ni = 2\nmore" },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		int before = check_failures;
		struct config *cfg = parse_ok(cases[i].text);
		if (cfg) {
			char *error = NULL;
			CHECK_STR(config_get(cfg, cases[i].section, cases[i].option, &error),
				  cases[i].want);
			CHECK_STR(error, NULL);
			free(error);
			config_free(&cfg);
			CHECK(cfg == NULL);
		}
		NOTE_CASE(before, i, cases[i].text);
	}
}

static void test_parse_errors(void)
{
	static const struct {
		const char *text, *want;
	} cases[] = {
		{ "k = v\n", "rc:1: option outside any section" },
		{ "# c\n\n  ; c\nk = v\n[s]\n", "rc:4: option outside any section" },
		{ "junk\n", "rc:1: expected a [section] header, got 'junk'" },
		{ "[]\n", "rc:1: expected a [section] header, got '[]'" },
		{ "\xef\xbb\xbfk = v\n", "rc:1: option outside any section" },
		{ "[s]\njunk\n",
		  "rc:2: expected 'option = value', '[section]' or a comment, got 'junk'" },
		{ "[s]\n[t\n",
		  "rc:2: expected 'option = value', '[section]' or a comment, got '[t'" },
		{ "[s]\nk = 1\n  more\n\n# c\n\nbad line\n",
		  "rc:7: expected 'option = value', '[section]' or a comment, got 'bad line'" },
		{ "[s]\n = v\n", "rc:2: option name missing before '='" },
		{ "[s]\n: v\n", "rc:2: option name missing before ':'" },
		{ "[s]\nk = 1\n[t]\n[s]\n", "rc:4: duplicate section 's'" },
		{ "[s]\nk = 1\nK = 2\n", "rc:3: duplicate option 'k' in section 's'" },
		{ "[s]\nk = 1\n  k = 2\nk: 3\n", "rc:4: duplicate option 'k' in section 's'" },
		{ "[Repository R]\nremotehost = a\n\n  \nremotehost = b\n",
		  "rc:5: duplicate option 'remotehost' in section 'Repository R'" },
		{ "[DEFAULT]\na = 1\n[DEFAULT]\na = 2\n",
		  "rc:4: duplicate option 'a' in section 'DEFAULT'" },
		{ "[s]\r\nk=1\r\nk=2\r\n", "rc:3: duplicate option 'k' in section 's'" },
		{ "[s]\rjunk\r",
		  "rc:2: expected 'option = value', '[section]' or a comment, got 'junk'" },
		{ "[s]\n\n\rjunk\r\n",
		  "rc:4: expected 'option = value', '[section]' or a comment, got 'junk'" },
		{ "[s]\n\x01\x02\n",
		  "rc:2: expected 'option = value', '[section]' or a comment, got '\\x01\\x02'" },
		{ "[a\037b]\n", "rc:1: control character \\x1f in section name" },
		{ "[s]\na\037b = 1\n", "rc:2: control character \\x1f in option name" },
		{ "[s]\n"
		  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n",
		  "rc:2: expected 'option = value', '[section]' or a comment, got "
		  "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'" },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		int before = check_failures;
		char *error = NULL;
		struct config *cfg = config_parse("rc", cases[i].text, &error);
		CHECK(cfg == NULL);
		CHECK_STR(error, cases[i].want);
		free(error);
		config_free(&cfg);
		NOTE_CASE(before, i, cases[i].text);
	}
	/* error_r may be NULL: the message is dropped, not leaked. */
	CHECK(config_parse("rc", "junk", NULL) == NULL);
}

static void test_interpolation_errors(void)
{
	static const struct {
		const char *text, *section, *option, *want;
	} cases[] = {
		{ "[s]\nk = %(nope)s\n", "s", "k",
		  "rc:2: option 'k' in section 's': interpolation refers to missing option 'nope'" },
		{ "[DEFAULT]\nroot = %(hme)s/x\n[s]\n\nk = %(root)s\n", "s", "k",
		  "rc:2: option 'root' in section 's': interpolation refers to missing option 'hme'" },
		{ "[DEFAULT]\nroot = %(home)s/x\n[s]\nhome = /h\n[t]\n", "t", "root",
		  "rc:2: option 'root' in section 't': interpolation refers to missing option 'home'" },
		{ "[s]\nk = 5%\n", "s", "k",
		  "rc:2: option 'k' in section 's': '%' must be followed by '%' or '(', found '%'" },
		{ "[s]\nk = %d and more\n", "s", "k",
		  "rc:2: option 'k' in section 's': '%' must be followed by '%' or '(', found "
		  "'%d and more'" },
		{ "[s]\nk = %(b)d\nb = 1\n", "s", "k",
		  "rc:2: option 'k' in section 's': bad interpolation reference '%(b)d'" },
		{ "[s]\nk = %(b\n", "s", "k",
		  "rc:2: option 'k' in section 's': bad interpolation reference '%(b'" },
		{ "[s]\nk = %()s\n", "s", "k",
		  "rc:2: option 'k' in section 's': bad interpolation reference '%()s'" },
		{ "[s]\nk = a\n  50%\n", "s", "k",
		  "rc:2: option 'k' in section 's': '%' must be followed by '%' or '(', found '%'" },
		{ "[s]\nk = %(k)s\n", "s", "k",
		  "rc:2: option 'k' in section 's': interpolation nested more than 10 levels deep "
		  "(a reference loop?)" },
		{ "[s]\na = %(b)s\nb = x%(a)s\n", "s", "a",
		  "rc:2: option 'a' in section 's': interpolation nested more than 10 levels deep "
		  "(a reference loop?)" },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		int before = check_failures;
		struct config *cfg = parse_ok(cases[i].text);
		if (cfg) {
			char *error = NULL;
			CHECK_STR(config_get(cfg, cases[i].section, cases[i].option, &error), NULL);
			CHECK_STR(error, cases[i].want);
			free(error);
			/* Without error_r the failure reads as unset. */
			CHECK_STR(config_get(cfg, cases[i].section, cases[i].option, NULL), NULL);
			config_free(&cfg);
		}
		NOTE_CASE(before, i, cases[i].text);
	}
}

/* k0 = %(k1)s ... k{n-1} = %(kn)s, kn = last: configparser resolves ten
 * levels and fails at eleven. */
static char *chain(int n, const char *last)
{
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "[s]\n");
	for (int i = 0; i < n; i++)
		sb_addf(&sb, "k%d = %%(k%d)s\n", i, i + 1);
	sb_addf(&sb, "k%d = %s\n", n, last);
	return sb_detach(&sb);
}

static void test_interpolation_depth(void)
{
	static const struct {
		int n;
		const char *last, *want;
	} cases[] = {
		{ 9, "end%%", "end%" },
		{ 10, "end%%", NULL },
		{ 10, "end", "end" },
		{ 11, "end", NULL },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		char *text = chain(cases[i].n, cases[i].last);
		int before = check_failures;
		struct config *cfg = parse_ok(text);
		if (cfg) {
			char *error = NULL;
			CHECK_STR(config_get(cfg, "s", "k0", &error), cases[i].want);
			CHECK((error != NULL) == (cases[i].want == NULL));
			if (error)
				CHECK(strstr(error, "more than 10 levels") != NULL);
			free(error);
			config_free(&cfg);
		}
		NOTE_CASE(before, i, text);
		free(text);
	}

	/* Fan-out: 10 levels of 16 references each would be 16^10 copies. */
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "[s]\n");
	for (int level = 0; level < 10; level++) {
		sb_addf(&sb, "l%d = ", level);
		for (int j = 0; j < 16; j++)
			sb_addf(&sb, "%%(l%d)s", level + 1);
		sb_addc(&sb, '\n');
	}
	sb_adds(&sb, "l10 = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n");
	struct config *cfg = parse_ok(sb_str(&sb));
	if (cfg) {
		char *error = NULL;
		CHECK_STR(config_get(cfg, "s", "l0", &error), NULL);
		CHECK(error && strstr(error, "more than 16 MiB"));
		free(error);
		/* A modest fan-out still works. */
		const char *v = config_get(cfg, "s", "l8", &error);
		CHECK(v && strlen(v) == 16 * 16 * 40);
		config_free(&cfg);
	}
	sb_free(&sb);
}

static void test_bool_words(void)
{
	static const struct {
		const char *word;
		int want; /* 1, 0, or -1 for "not a boolean" */
	} cases[] = {
		{ "1", 1 },   { "yes", 1 }, { "YES", 1 },  { "True", 1 },   { "on", 1 },
		{ "On", 1 },  { "0", 0 },   { "no", 0 },   { "NO", 0 },	    { "false", 0 },
		{ "off", 0 }, { "OFF", 0 }, { "", -1 },	   { "maybe", -1 }, { "y", -1 },
		{ "n", -1 },  { "2", -1 },  { "tru", -1 }, { "yess", -1 },  { " yes", -1 },
		{ "01", -1 },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		bool v = !cases[i].want; /* the opposite, so a missing store shows */
		int ret = config_parse_bool(cases[i].word, &v);
		int before = check_failures;
		CHECK_INT(ret, cases[i].want < 0 ? -1 : 0);
		if (cases[i].want >= 0)
			CHECK_INT(v, cases[i].want);
		NOTE_CASE(before, i, cases[i].word);
	}
}

static const char typed_rc[] = "[DEFAULT]\n"		       /* 1 */
			       "inherited = sometimes\n"       /* 2 */
			       "flag = Yes\n"		       /* 3 */
			       "[s]\n"			       /* 4 */
			       "b_ok = %(flag)s\n"	       /* 5 */
			       "b_bad = Maybe\n"	       /* 6 */
			       "b_interp = %(nope)s\n"	       /* 7 */
			       "b_multi = yes\n"	       /* 8 */
			       "   no\n"		       /* 9 */
			       "n_ok = -42\n"		       /* 10 */
			       "n_plus = +7\n"		       /* 11 */
			       "n_zero = 007\n"		       /* 12 */
			       "n_max = 9223372036854775807\n" /* 13 */
			       "n_big = 9223372036854775808\n" /* 14 */
			       "n_bad = 12abc\n"	       /* 15 */
			       "n_frac = 1.5\n"		       /* 16 */
			       "n_empty =\n"		       /* 17 */
			       "d_half = 0.5\n"		       /* 18 */
			       "d_int = 3\n"		       /* 19 */
			       "d_dot = .25\n"		       /* 20 */
			       "d_exp = 1e2\n"		       /* 21 */
			       "d_neg = -1\n"		       /* 22 */
			       "d_nan = nan\n"		       /* 23 */
			       "d_inf = inf\n"		       /* 24 */
			       "d_hex = 0x1p3\n"	       /* 25 */
			       "d_e = 1e\n"		       /* 26 */
			       "d_dotonly = .\n";	       /* 27 */

static void test_typed(void)
{
	struct config *cfg = parse_ok(typed_rc);
	if (!cfg)
		return;
	static const struct {
		const char *option;
		bool def;
		bool want;
		const char *error;
	} bools[] = {
		{ "b_ok", false, true, NULL },
		{ "flag", false, true, NULL },
		{ "unset", true, true, NULL },
		{ "unset", false, false, NULL },
		{ "b_bad", true, false,
		  "rc:6: option 'b_bad' in section 's': expected a boolean "
		  "(yes/no/true/false/on/off/1/0), got 'Maybe'" },
		{ "inherited", true, false,
		  "rc:2: option 'inherited' in section 's': expected a boolean "
		  "(yes/no/true/false/on/off/1/0), got 'sometimes'" },
		{ "b_interp", true, false,
		  "rc:7: option 'b_interp' in section 's': interpolation refers to missing option "
		  "'nope'" },
		{ "B_MULTI", true, false,
		  "rc:8: option 'b_multi' in section 's': expected a boolean "
		  "(yes/no/true/false/on/off/1/0), got 'yes\\nno'" },
	};
	for (size_t i = 0; i < N_ELEMS(bools); i++) {
		int before = check_failures;
		bool v = !bools[i].want;
		char *error = NULL;
		int ret = config_get_bool(cfg, "s", bools[i].option, bools[i].def, &v, &error);
		CHECK_INT(ret, bools[i].error ? -1 : 0);
		CHECK_STR(error, bools[i].error);
		if (!bools[i].error)
			CHECK_INT(v, bools[i].want);
		free(error);
		NOTE_CASE(before, i, bools[i].option);
	}

	static const struct {
		const char *option;
		int64_t want;
		const char *error; /* expected prefix-free message */
	} ints[] = {
		{ "n_ok", -42, NULL },
		{ "n_plus", 7, NULL },
		{ "n_zero", 7, NULL },
		{ "n_max", INT64_MAX, NULL },
		{ "unset", 99, NULL },
		{ "n_big", 0,
		  "rc:14: option 'n_big' in section 's': integer out of range, got "
		  "'9223372036854775808'" },
		{ "n_bad", 0,
		  "rc:15: option 'n_bad' in section 's': expected an integer, got '12abc'" },
		{ "n_frac", 0,
		  "rc:16: option 'n_frac' in section 's': expected an integer, got '1.5'" },
		{ "n_empty", 0,
		  "rc:17: option 'n_empty' in section 's': expected an integer, got ''" },
	};
	for (size_t i = 0; i < N_ELEMS(ints); i++) {
		int before = check_failures;
		int64_t v = -1;
		char *error = NULL;
		int ret = config_get_int(cfg, "s", ints[i].option, 99, &v, &error);
		CHECK_INT(ret, ints[i].error ? -1 : 0);
		CHECK_STR(error, ints[i].error);
		if (!ints[i].error)
			CHECK_INT(v, ints[i].want);
		free(error);
		NOTE_CASE(before, i, ints[i].option);
	}

	static const struct {
		const char *option;
		double want;
		bool ok;
	} doubles[] = {
		{ "d_half", 0.5, true },  { "d_int", 3.0, true }, { "d_dot", 0.25, true },
		{ "d_exp", 100.0, true }, { "unset", 1.5, true }, { "n_zero", 7.0, true },
		{ "d_neg", 0, false },	  { "d_nan", 0, false },  { "d_inf", 0, false },
		{ "d_hex", 0, false },	  { "d_e", 0, false },	  { "d_dotonly", 0, false },
		{ "n_empty", 0, false },  { "n_bad", 0, false },
	};
	for (size_t i = 0; i < N_ELEMS(doubles); i++) {
		int before = check_failures;
		double v = -7.0;
		char *error = NULL;
		int ret = config_get_double(cfg, "s", doubles[i].option, 1.5, &v, &error);
		CHECK_INT(ret, doubles[i].ok ? 0 : -1);
		if (doubles[i].ok)
			CHECK(v == doubles[i].want);
		else
			CHECK(error && strstr(error, "expected a non-negative number, got '"));
		free(error);
		NOTE_CASE(before, i, doubles[i].option);
	}
	char *error = NULL;
	double d;
	CHECK_INT(config_get_double(cfg, "s", "d_neg", 0, &d, &error), -1);
	CHECK_STR(error, "rc:22: option 'd_neg' in section 's': expected a non-negative number, "
			 "got '-1'");
	free(error);

	/* A comma-decimal locale must not change how "0.5" reads (skipped when
	 * no such locale is installed). */
	if (setlocale(LC_NUMERIC, "de_DE.UTF-8") || setlocale(LC_NUMERIC, "fr_FR.UTF-8")) {
		d = -1;
		CHECK_INT(config_get_double(cfg, "s", "d_half", 0, &d, NULL), 0);
		CHECK(d == 0.5);
		setlocale(LC_NUMERIC, "C");
	}
	config_free(&cfg);
}

static void check_list(const struct strlist *l, const char *const *want, size_t n)
{
	CHECK_INT(l->n, n);
	for (size_t i = 0; i < n && i < l->n; i++)
		CHECK_STR(l->v[i], want[i]);
}

static void test_structure_and_where(void)
{
	struct config *cfg = parse_ok("[b]\n"	    /* 1 */
				      "z = 1\n"	    /* 2 */
				      "A = 2\n"	    /* 3 */
				      "  more\n"    /* 4 */
				      "[DEFAULT]\n" /* 5 */
				      "d = 1\n"	    /* 6 */
				      "[a]\n"	    /* 7 */
				      "z = 3\n");   /* 8 */
	if (!cfg)
		return;
	static const char *const sections[] = { "b", "a" };
	static const char *const b_opts[] = { "z", "a" };
	static const char *const d_opts[] = { "d" };
	check_list(config_sections(cfg), sections, 2);
	check_list(config_options(cfg, "b"), b_opts, 2);
	check_list(config_options(cfg, "DEFAULT"), d_opts, 1);
	CHECK_INT(config_options(cfg, "nosuch")->n, 0);
	CHECK(config_has_section(cfg, "a"));
	CHECK(config_has_section(cfg, "b"));
	CHECK(!config_has_section(cfg, "B"));
	CHECK(!config_has_section(cfg, "DEFAULT"));
	CHECK_STR(config_filename(cfg), "rc");

	static const struct {
		const char *section, *option, *want;
	} where[] = {
		{ "b", "z", "rc:2" },	 { "b", "A", "rc:3" },	     { "a", "z", "rc:8" },
		{ "a", "d", "rc:6" },	 { "DEFAULT", "d", "rc:6" }, { "a", "nosuch", "rc" },
		{ "nosuch", "d", "rc" },
	};
	for (size_t i = 0; i < N_ELEMS(where); i++)
		CHECK_STR(config_where(cfg, where[i].section, where[i].option), where[i].want);
	CHECK_STR(config_get_raw(cfg, "b", "a"), "2\nmore");
	config_free(&cfg);
	config_free(&cfg); /* clears the pointer, so a second free is harmless */
}

static void test_overrides(void)
{
	static const struct {
		const char *arg, *section, *option, *want, *error;
	} cases[] = {
		{ "Account_Test:autorefresh=30", "Account Test", "autorefresh", "30", NULL },
		{ "ui=basic", "general", "ui", "basic", NULL },
		{ "general:UI = quiet ", "general", "ui", "quiet", NULL },
		{ "Repository_R:folderfilter=lambda f: f == 'INBOX'", "Repository R",
		  "folderfilter", "lambda f: f == 'INBOX'", NULL },
		{ "a:b:c=1", "a", "b:c", "1", NULL },
		{ "s:k=", "s", "k", "", NULL },
		{ "s:pct=50%%", "s", "pct", "50%", NULL },
		{ "s:ref=%(k)s!", "s", "ref", "v!", NULL },
		{ "noequals", NULL, NULL, NULL, "-k 'noequals': expected [section:]option=value" },
		{ "=v", NULL, NULL, NULL, "-k '=v': empty option name" },
		{ "s: =v", NULL, NULL, NULL, "-k 's: =v': empty option name" },
		{ ":x=1", NULL, NULL, NULL, "-k ':x=1': empty section name" },
		{ "s:x=50%", NULL, NULL, NULL,
		  "-k 's:x=50%': invalid interpolation syntax (write '%%' for a literal '%')" },
		{ "s:x=%(y)d", NULL, NULL, NULL,
		  "-k 's:x=%(y)d': invalid interpolation syntax (write '%%' for a literal '%')" },
		{ "s\037t:x=1", NULL, NULL, NULL,
		  "-k 's\\x1ft:x=1': control character \\x1f in name" },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		int before = check_failures;
		struct config *cfg = parse_ok("[s]\nk = v\n");
		if (!cfg)
			continue;
		char *error = NULL;
		int ret = config_apply_override(cfg, cases[i].arg, &error);
		CHECK_INT(ret, cases[i].error ? -1 : 0);
		CHECK_STR(error, cases[i].error);
		free(error);
		if (!cases[i].error) {
			CHECK_STR(config_get(cfg, cases[i].section, cases[i].option, NULL),
				  cases[i].want);
			CHECK_STR(config_where(cfg, cases[i].section, cases[i].option),
				  "command line (-k)");
			CHECK(config_has_section(cfg, cases[i].section));
		} else {
			CHECK_INT(config_sections(cfg)->n, 1);
			CHECK_INT(config_options(cfg, "s")->n, 1);
		}
		config_free(&cfg);
		NOTE_CASE(before, i, cases[i].arg);
	}
}

static void test_set_unset(void)
{
	struct config *cfg = parse_ok("[DEFAULT]\n"	      /* 1 */
				      "autorefresh = 5\n"     /* 2 */
				      "[general]\n"	      /* 3 */
				      "ui = ttyui\n"	      /* 4 */
				      "accounts = A\n"	      /* 5 */
				      "[Account A]\n"	      /* 6 */
				      "autorefresh = 1\n"     /* 7 */
				      "home = /a\n"	      /* 8 */
				      "path = %(home)s/m\n"); /* 9 */
	if (!cfg)
		return;
	char *error = NULL;

	/* Overriding an option keeps its place in the option order. */
	CHECK_INT(config_apply_override(cfg, "ui=basic", &error), 0);
	static const char *const general[] = { "ui", "accounts" };
	check_list(config_options(cfg, "general"), general, 2);
	CHECK_STR(config_get(cfg, "general", "ui", NULL), "basic");
	CHECK_STR(config_where(cfg, "general", "accounts"), "rc:5");

	/* A new section is appended; DEFAULT never becomes one. */
	CHECK_INT(config_apply_override(cfg, "Account_B:localrepository=L", &error), 0);
	CHECK_INT(config_apply_override(cfg, "DEFAULT:maxage=3", &error), 0);
	static const char *const sections[] = { "general", "Account A", "Account B" };
	check_list(config_sections(cfg), sections, 3);
	CHECK_STR(config_get(cfg, "Account B", "maxage", NULL), "3");
	CHECK_STR(config_where(cfg, "Account B", "maxage"), "command line (-k)");
	CHECK_STR(config_get(cfg, "Account B", "autorefresh", NULL), "5");

	/* Changing a referenced option changes the interpolated result; a value
	 * handed out earlier stays readable. */
	const char *path = config_get(cfg, "Account A", "path", &error);
	CHECK_STR(path, "/a/m");
	CHECK(config_get(cfg, "Account A", "path", NULL) == path); /* cached */
	config_set(cfg, "Account A", "HOME", "/b");
	CHECK_STR(config_get(cfg, "Account A", "path", NULL), "/b/m");
	CHECK_STR(path, "/a/m");
	CHECK_STR(config_get_raw(cfg, "Account A", "path"), "%(home)s/m");
	CHECK_STR(config_where(cfg, "Account A", "home"), "command line (-k)");

	/* -o: dropping autorefresh falls back to DEFAULT, then to unset. */
	config_unset(cfg, "Account A", "AutoRefresh");
	CHECK_STR(config_get(cfg, "Account A", "autorefresh", NULL), "5");
	CHECK_STR(config_where(cfg, "Account A", "autorefresh"), "rc:2");
	config_unset(cfg, "DEFAULT", "autorefresh");
	CHECK_STR(config_get(cfg, "Account A", "autorefresh", NULL), NULL);
	CHECK_STR(config_where(cfg, "Account A", "autorefresh"), "rc");
	static const char *const account_a[] = { "home", "path" };
	check_list(config_options(cfg, "Account A"), account_a, 2);
	config_unset(cfg, "Account A", "nosuch");
	config_unset(cfg, "nosuch", "home");
	check_list(config_options(cfg, "Account A"), account_a, 2);

	/* Unsetting a referenced option turns the reference into an error. */
	config_unset(cfg, "Account A", "home");
	CHECK_STR(config_get(cfg, "Account A", "path", &error), NULL);
	CHECK_STR(error, "rc:9: option 'path' in section 'Account A': interpolation refers to "
			 "missing option 'home'");
	free(error);
	config_free(&cfg);
}

static void test_expand_path(void)
{
	setenv("HOME", "/home/u", 1);
	setenv("OFS_A", "alpha", 1);
	setenv("OFS_EMPTY", "", 1);
	unsetenv("OFS_UNSET");
	static const struct {
		const char *in, *path, *tilde;
	} cases[] = {
		{ "", "", "" },
		{ "plain/rel", "plain/rel", "plain/rel" },
		{ "~", "/home/u", "/home/u" },
		{ "~/", "/home/u/", "/home/u/" },
		{ "~/mail", "/home/u/mail", "/home/u/mail" },
		{ "a/~", "a/~", "a/~" },
		{ "~nosuchuser_ofs/x", "~nosuchuser_ofs/x", "~nosuchuser_ofs/x" },
		{ "$OFS_A/x", "alpha/x", "$OFS_A/x" },
		{ "${OFS_A}x", "alphax", "${OFS_A}x" },
		{ "$OFS_Ax", "$OFS_Ax", "$OFS_Ax" },
		{ "$OFS_A$OFS_A", "alphaalpha", "$OFS_A$OFS_A" },
		{ "x$OFS_EMPTY.y", "x.y", "x$OFS_EMPTY.y" },
		{ "$OFS_UNSET/y", "$OFS_UNSET/y", "$OFS_UNSET/y" },
		{ "${OFS_UNSET}/y", "${OFS_UNSET}/y", "${OFS_UNSET}/y" },
		{ "${OFS_A", "${OFS_A", "${OFS_A" },
		{ "${}", "${}", "${}" },
		{ "$", "$", "$" },
		{ "a$/b", "a$/b", "a$/b" },
		{ "$$OFS_A", "$alpha", "$$OFS_A" },
		{ "~/$OFS_A/${OFS_A}", "/home/u/alpha/alpha", "/home/u/$OFS_A/${OFS_A}" },
	};
	for (size_t i = 0; i < N_ELEMS(cases); i++) {
		int before = check_failures;
		char *p = config_expand_path(cases[i].in);
		char *t = config_expand_tilde(cases[i].in);
		CHECK_STR(p, cases[i].path);
		CHECK_STR(t, cases[i].tilde);
		free(p);
		free(t);
		NOTE_CASE(before, i, cases[i].in);
	}

	/* $HOME with trailing slashes, or just "/" (Python: rstrip('/') or '/'). */
	static const struct {
		const char *home, *in, *want;
	} homes[] = {
		{ "/home/u/", "~/x", "/home/u/x" },
		{ "/", "~", "/" },
		{ "/", "~/x", "/x" },
		{ "//", "~", "/" },
	};
	for (size_t i = 0; i < N_ELEMS(homes); i++) {
		setenv("HOME", homes[i].home, 1);
		char *p = config_expand_tilde(homes[i].in);
		CHECK_STR(p, homes[i].want);
		free(p);
	}

	/* Without $HOME the password database answers, as in Python. */
	unsetenv("HOME");
	struct passwd *pw = getpwuid(getuid());
	if (pw && pw->pw_dir[0] && strcmp(pw->pw_dir, "/") != 0) {
		char *want = xasprintf("%s/x", pw->pw_dir);
		char *p = config_expand_tilde("~/x");
		CHECK_STR(p, want);
		free(p);
		free(want);
	}
	pw = getpwnam("root");
	if (pw && strcmp(pw->pw_dir, "/") != 0) {
		char *want = xasprintf("%s/x", pw->pw_dir);
		char *p = config_expand_path("~root/x");
		CHECK_STR(p, want);
		free(p);
		free(want);
	}
	setenv("HOME", "/home/u", 1);
}

/* Writes data (len bytes) to a fresh temporary file; returns its malloc'd path. */
static char *write_temp(const char *data, size_t len)
{
	const char *dir = getenv("TMPDIR");
	char *path = xasprintf("%s/test_config.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd >= 0) {
		CHECK(write(fd, data, len) == (ssize_t)len);
		close(fd);
	}
	return path;
}

static void test_load(void)
{
	static const char text[] = "\xef\xbb\xbf# offlineimaprc\r\n[general]\r\naccounts = A\r\n";
	char *path = write_temp(text, sizeof(text) - 1);
	char *error = NULL;
	struct config *cfg = config_load(path, &error);
	CHECK(cfg != NULL);
	CHECK_STR(error, NULL);
	if (cfg) {
		char *where = xasprintf("%s:3", path);
		CHECK_STR(config_filename(cfg), path);
		CHECK_STR(config_get(cfg, "general", "accounts", NULL), "A");
		CHECK_STR(config_where(cfg, "general", "accounts"), where);
		free(where);
		config_free(&cfg);
	}
	unlink(path);

	/* The error for a missing file names it. */
	char *want = xasprintf("%s: No such file or directory", path);
	CHECK(config_load(path, &error) == NULL);
	CHECK_STR(error, want);
	free(error);
	free(want);
	free(path);

	/* A NUL byte would silently end the text; it is an error with its line. */
	static const char with_nul[] = "[s]\nk = a\0b\n";
	path = write_temp(with_nul, sizeof(with_nul) - 1);
	want = xasprintf("%s:2: NUL byte in config file", path);
	CHECK(config_load(path, &error) == NULL);
	CHECK_STR(error, want);
	free(error);
	free(want);
	unlink(path);
	free(path);

	/* A directory is not a config file. */
	CHECK(config_load("/", &error) == NULL);
	CHECK(error && strncmp(error, "/: ", 3) == 0);
	free(error);
}

/* Every error is one line starting with "rc:<line>:". */
static bool well_formed_error(const char *error)
{
	return error && strncmp(error, "rc:", 3) == 0 && error[3] >= '1' && error[3] <= '9' &&
	       !strchr(error, '\n') && !strchr(error, '\r');
}

/* Exercises every getter on whatever a parse produced. */
static void walk(struct config *cfg)
{
	const struct strlist *sections = config_sections(cfg);
	for (size_t s = 0; s <= sections->n; s++) {
		const char *section = s < sections->n ? sections->v[s] : "DEFAULT";
		const struct strlist *opts = config_options(cfg, section);
		for (size_t o = 0; o < opts->n; o++) {
			char *error = NULL;
			const char *v = config_get(cfg, section, opts->v[o], &error);
			CHECK((v == NULL) == (error != NULL));
			if (error)
				CHECK(well_formed_error(error));
			free(error);
			bool b;
			int64_t n;
			double d;
			if (config_get_bool(cfg, section, opts->v[o], false, &b, &error) < 0)
				free(error);
			if (config_get_int(cfg, section, opts->v[o], 0, &n, &error) < 0)
				free(error);
			if (config_get_double(cfg, section, opts->v[o], 0, &d, &error) < 0)
				free(error);
			CHECK(config_where(cfg, section, opts->v[o]) != NULL);
		}
	}
}

static uint32_t rng_state = 0x12345678;
static uint32_t rng(void)
{
	/* xorshift32: deterministic, so a failure reproduces. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void test_hostile(void)
{
	/* Random text from an alphabet rich in syntax; short runs of valid
	 * structure so that some inputs parse and get interpolated. */
	static const char *const atoms[] = {
		"[",	"]",  "[s]", "[DEFAULT]", "[t]",	  "=",	   ":",
		"%",	"%%", "%(",  ")s",	  "%(a)s",	  "%(b)s", "a",
		"b",	"A",  " ",   "\t",	  "\n",		  "\r",	   "\r\n",
		"#",	";",  "yes", "0.5",	  "\xef\xbb\xbf", "\x01",  "\xff",
		"\x1f", "~",  "$",
	};
	int bad_errors = 0;
	for (int iter = 0; iter < 20000; iter++) {
		struct strbuf sb = STRBUF_INIT;
		int n = (int)(rng() % 40);
		for (int i = 0; i < n; i++)
			sb_adds(&sb, atoms[rng() % N_ELEMS(atoms)]);
		char *error = NULL;
		struct config *cfg = config_parse("rc", sb_str(&sb), &error);
		if (cfg) {
			walk(cfg);
			config_free(&cfg);
		} else if (!well_formed_error(error)) {
			if (bad_errors++ < 5)
				fprintf(stderr, "malformed error \"%s\" for \"%s\"\n",
					error ? error : "(null)", sb_str(&sb));
		}
		free(error);
		sb_free(&sb);
	}
	CHECK_INT(bad_errors, 0);

	/* Raw bytes (no NUL; the parser takes a C string). */
	for (int iter = 0; iter < 2000; iter++) {
		char buf[257];
		size_t n = rng() % 256;
		for (size_t i = 0; i < n; i++)
			buf[i] = (char)(rng() % 255 + 1);
		buf[n] = '\0';
		char *error = NULL;
		struct config *cfg = config_parse("rc", buf, &error);
		if (cfg) {
			walk(cfg);
			config_free(&cfg);
		} else {
			CHECK(well_formed_error(error));
		}
		free(error);
	}

	/* Very long lines: a 4 MiB value, section name and option name. */
	size_t big = (size_t)4 << 20;
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "[s]\nk = ");
	for (size_t i = 0; i < big; i++)
		sb_addc(&sb, 'x');
	sb_adds(&sb, "\n[");
	for (size_t i = 0; i < big; i++)
		sb_addc(&sb, 'y');
	sb_adds(&sb, "]\n");
	for (size_t i = 0; i < big; i++)
		sb_addc(&sb, 'z');
	sb_adds(&sb, " = 1\n");
	struct config *cfg = parse_ok(sb_str(&sb));
	if (cfg) {
		const char *v = config_get(cfg, "s", "k", NULL);
		CHECK(v && strlen(v) == big);
		CHECK_INT(config_sections(cfg)->n, 2);
		CHECK_INT(strlen(config_sections(cfg)->v[1]), big);
		config_free(&cfg);
	}
	sb_free(&sb);

	/* Many continuation lines and many sections. */
	sb_adds(&sb, "[s]\nk = first\n");
	for (int i = 0; i < 100000; i++)
		sb_adds(&sb, "  line\n");
	for (int i = 0; i < 500; i++)
		sb_addf(&sb, "[sect %d]\nopt = %d\n", i, i);
	cfg = parse_ok(sb_str(&sb));
	if (cfg) {
		const char *v = config_get(cfg, "s", "k", NULL);
		CHECK(v && strlen(v) == strlen("first") + 100000 * strlen("\nline"));
		CHECK_STR(config_get(cfg, "sect 499", "opt", NULL), "499");
		CHECK_STR(config_where(cfg, "sect 0", "opt"), "rc:100004");
		config_free(&cfg);
	}
	sb_free(&sb);

	/* A long error line is cut, and the message stays one line. */
	sb_adds(&sb, "[s]\n");
	for (int i = 0; i < 1000; i++)
		sb_adds(&sb, "\xc3\xa9");
	char *error = NULL;
	CHECK(config_parse("rc", sb_str(&sb), &error) == NULL);
	CHECK(well_formed_error(error));
	CHECK(error && strlen(error) < 200);
	free(error);
	sb_free(&sb);
}

int main(void)
{
	test_values();
	test_parse_errors();
	test_interpolation_errors();
	test_interpolation_depth();
	test_bool_words();
	test_typed();
	test_structure_and_where();
	test_overrides();
	test_set_unset();
	test_expand_path();
	test_load();
	test_hostile();
	return check_report("test_config");
}
