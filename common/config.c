#include "common/config.h"

#include <assert.h>
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <iniparser/dictionary.h>

#define DEFAULT_SECTION "DEFAULT"
/* Joins section and option in dictionary keys; rejected inside names so that
 * no two (section, option) pairs can map to the same key. */
#define KEY_SEP '\x1f'
/* configparser.MAX_INTERPOLATION_DEPTH: a reference loop ends here. */
#define MAX_INTERPOLATION_DEPTH 10
/* MiB one interpolation may scan or copy; see struct interp. */
#define INTERPOLATION_BUDGET_MIB 16
#define STR_(x) #x
#define STR(x) STR_(x)
#define WHERE_CMDLINE "command line (-k)"
#define UTF8_BOM "\xef\xbb\xbf"
/* Longest quoted excerpt of user text in an error message. */
#define EXCERPT_MAX 60

struct config {
	char *filename;
	dictionary *values; /* "section\x1foption" -> raw value */
	dictionary *where;  /* same keys -> "file:line" or WHERE_CMDLINE */
	/* "requested section\x1foption" -> interpolated value. Mutated by the
	 * const getters: it is a cache, not state. */
	dictionary *cache;
	/* Caches dropped by config_set/unset. Kept until config_free so that a
	 * value returned earlier for another option stays valid (config.h). */
	dictionary **retired;
	size_t n_retired, cap_retired;
	struct strlist sections;	  /* file order, without DEFAULT */
	struct strlist **section_options; /* parallel to sections; each owned */
	size_t cap_section_options;
	struct strlist default_options;
};

/* ---- small string helpers ---- */

/* Python's str.strip() and regex \s also treat the ASCII separators
 * \x1c-\x1f as whitespace; matching that keeps indentation and stripping
 * identical to configparser for every byte it can see. */
static bool is_py_space(char c)
{
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || (c >= '\x1c' && c <= '\x1f');
}

static bool is_word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* configparser's optionxform (str.lower), ASCII only. */
static char *lowercase_ndup(const char *s, size_t n)
{
	char *out = xstrndup(s, n);
	for (char *p = out; *p; p++)
		*p = ascii_lower(*p);
	return out;
}

static char *lowercase_dup(const char *s)
{
	return lowercase_ndup(s, strlen(s));
}

static void strip_span(const char **s, size_t *n)
{
	while (*n > 0 && is_py_space(**s)) {
		(*s)++;
		(*n)--;
	}
	while (*n > 0 && is_py_space((*s)[*n - 1]))
		(*n)--;
}

/* Appends s quoted for a one-line message: control bytes escaped, long text
 * cut (at a UTF-8 character boundary) so hostile input cannot flood a log. */
static void sb_add_quoted(struct strbuf *sb, const char *s, size_t n)
{
	size_t shown = n;
	if (shown > EXCERPT_MAX) {
		shown = EXCERPT_MAX;
		while (shown > 0 && ((unsigned char)s[shown] & 0xc0) == 0x80)
			shown--;
	}
	sb_addc(sb, '\'');
	for (size_t i = 0; i < shown; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '\n')
			sb_adds(sb, "\\n");
		else if (c == '\t')
			sb_adds(sb, "\\t");
		else if (c < 0x20 || c == 0x7f)
			sb_addf(sb, "\\x%02x", c);
		else
			sb_addc(sb, (char)c);
	}
	if (shown < n)
		sb_adds(sb, "...");
	sb_addc(sb, '\'');
}

static void sb_add_quoted_str(struct strbuf *sb, const char *s)
{
	sb_add_quoted(sb, s, strlen(s));
}

/* "<where>: option 'o' in section 's': " — the prefix of every error about
 * a stored value. */
static void sb_add_context(struct strbuf *sb, const char *where, const char *section,
			   const char *option)
{
	sb_addf(sb, "%s: option ", where);
	sb_add_quoted_str(sb, option);
	sb_adds(sb, " in section ");
	sb_add_quoted_str(sb, section);
	sb_adds(sb, ": ");
}

/* ---- dictionary access ---- */

static char *make_key(const char *section, const char *option)
{
	return xasprintf("%s%c%s", section, KEY_SEP, option);
}

static dictionary *dict_new(void)
{
	dictionary *d = dictionary_new(0);
	if (!d) {
		fprintf(stderr, "offlinefs: out of memory creating a dictionary\n");
		abort();
	}
	return d;
}

/* dictionary_set only fails when malloc does; same policy as xalloc.h. */
static void dict_put(dictionary *d, const char *section, const char *option, const char *value)
{
	char *key = make_key(section, option);
	if (dictionary_set(d, key, value) != 0) {
		fprintf(stderr, "offlinefs: out of memory storing a config value\n");
		abort();
	}
	free(key);
}

static const char *dict_lookup(const dictionary *d, const char *section, const char *option)
{
	char *key = make_key(section, option);
	const char *v = dictionary_get(d, key, NULL);
	free(key);
	return v;
}

static void dict_remove(dictionary *d, const char *section, const char *option)
{
	char *key = make_key(section, option);
	dictionary_unset(d, key);
	free(key);
}

/* ---- sections ---- */

static bool is_default(const char *section)
{
	return strcmp(section, DEFAULT_SECTION) == 0;
}

/* The option list of section (DEFAULT included), or NULL if unknown. */
static struct strlist *section_options(const struct config *cfg, const char *section)
{
	if (is_default(section))
		return (struct strlist *)&cfg->default_options;
	int i = strlist_find(&cfg->sections, section);
	return i < 0 ? NULL : cfg->section_options[i];
}

static struct strlist *add_section(struct config *cfg, const char *section)
{
	xgrow(&cfg->section_options, &cfg->cap_section_options, cfg->sections.n + 1,
	      sizeof(*cfg->section_options));
	struct strlist *opts = xcalloc(1, sizeof(*opts));
	cfg->section_options[cfg->sections.n] = opts;
	strlist_add(&cfg->sections, section);
	return opts;
}

/* configparser's lookup chain: the section itself, then DEFAULT. Returns the
 * name of the section that holds option, or NULL. An unknown section holds
 * nothing, not even DEFAULT's options (has_option() is false there). */
static const char *holder(const struct config *cfg, const char *section, const char *option)
{
	if (!is_default(section)) {
		if (!section_options(cfg, section))
			return NULL;
		if (dict_lookup(cfg->values, section, option))
			return section;
	}
	return dict_lookup(cfg->values, DEFAULT_SECTION, option) ? DEFAULT_SECTION : NULL;
}

/* Raw value of an already lowercased option name. */
static const char *lookup_raw(const struct config *cfg, const char *section, const char *option)
{
	const char *h = holder(cfg, section, option);
	return h ? dict_lookup(cfg->values, h, option) : NULL;
}

static const char *lookup_where(const struct config *cfg, const char *section, const char *option)
{
	const char *h = holder(cfg, section, option);
	return h ? dict_lookup(cfg->where, h, option) : NULL;
}

/* Interpolated values may depend on any option, so every change drops the
 * whole cache; see struct config for why it is retired, not freed. */
static void invalidate_cache(struct config *cfg)
{
	if (cfg->cache->n == 0)
		return;
	xgrow(&cfg->retired, &cfg->cap_retired, cfg->n_retired + 1, sizeof(*cfg->retired));
	cfg->retired[cfg->n_retired++] = cfg->cache;
	cfg->cache = dict_new();
}

static struct config *config_new(const char *filename)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));
	cfg->filename = xstrdup(filename);
	cfg->values = dict_new();
	cfg->where = dict_new();
	cfg->cache = dict_new();
	return cfg;
}

void config_free(struct config **cfgp)
{
	struct config *cfg = *cfgp;
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->sections.n; i++) {
		strlist_free(cfg->section_options[i]);
		free(cfg->section_options[i]);
	}
	free(cfg->section_options);
	strlist_free(&cfg->sections);
	strlist_free(&cfg->default_options);
	for (size_t i = 0; i < cfg->n_retired; i++)
		dictionary_del(cfg->retired[i]);
	free(cfg->retired);
	dictionary_del(cfg->cache);
	dictionary_del(cfg->where);
	dictionary_del(cfg->values);
	free(cfg->filename);
	free(cfg);
	*cfgp = NULL;
}

/* ---- the parser: configparser.RawConfigParser._read, line by line ---- */

struct parser {
	struct config *cfg;
	size_t line_no;
	const char *section;	 /* borrowed from cfg; NULL before the first header */
	struct strlist *options; /* its option list */
	const char *option;	 /* option whose value may still continue, or NULL */
	size_t indent;		 /* indentation of the last header or option line */
	struct strbuf value;	 /* value of option so far */
	size_t blank_lines;	 /* blank lines seen since its last text line */
	char *error;		 /* set when a line is rejected */
};

static int parse_error(struct parser *p, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int parse_error(struct parser *p, const char *fmt, ...)
{
	struct strbuf sb = STRBUF_INIT;
	sb_addf(&sb, "%s:%zu: ", p->cfg->filename, p->line_no);
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap);
	va_end(ap);
	sb_adds(&sb, msg);
	free(msg);
	p->error = sb_detach(&sb);
	return -1;
}

/* Same, ending in a quoted excerpt of the offending text. */
static int parse_error_quoting(struct parser *p, const char *msg, const char *s, size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	sb_add_quoted(&sb, s, n);
	parse_error(p, "%s%s", msg, sb_str(&sb));
	sb_free(&sb);
	return -1;
}

/* Stores the finished value. Blank lines not followed by more text are
 * dropped here, which is configparser's final rstrip(). */
static void finish_value(struct parser *p)
{
	if (!p->option)
		return;
	dict_put(p->cfg->values, p->section, p->option, sb_str(&p->value));
	p->option = NULL;
	p->blank_lines = 0;
	sb_reset(&p->value);
}

static void continue_value(struct parser *p, const char *s, size_t n)
{
	for (; p->blank_lines > 0; p->blank_lines--)
		sb_addc(&p->value, '\n');
	sb_addc(&p->value, '\n');
	sb_add(&p->value, s, n);
}

/* configparser's SECTCRE "\[(?P<header>.+)\]" applied with match(): the
 * header runs to the LAST ']' (greedy) and anything after it is ignored. */
static bool find_header(const char *s, size_t n, size_t *name_len_r)
{
	if (n < 3 || s[0] != '[')
		return false;
	for (size_t i = n - 1; i >= 2; i--) {
		if (s[i] == ']') {
			*name_len_r = i - 1;
			return true;
		}
	}
	return false;
}

static int start_section(struct parser *p, const char *name, size_t n)
{
	if (memchr(name, KEY_SEP, n))
		return parse_error(p, "control character \\x1f in section name");
	char *section = xstrndup(name, n);
	if (is_default(section)) {
		/* configparser lets [DEFAULT] reopen; duplicate options in it
		 * are still caught because the option list persists. */
		p->section = DEFAULT_SECTION;
		p->options = &p->cfg->default_options;
	} else if (section_options(p->cfg, section)) {
		struct strbuf sb = STRBUF_INIT;
		sb_add_quoted_str(&sb, section);
		free(section);
		parse_error(p, "duplicate section %s", sb_str(&sb));
		sb_free(&sb);
		return -1;
	} else {
		p->options = add_section(p->cfg, section);
		p->section = p->cfg->sections.v[p->cfg->sections.n - 1];
	}
	free(section);
	p->option = NULL; /* a header ends any value: no continuation after it */
	return 0;
}

/* The first '=' or ':' delimits (configparser's non-greedy option group). */
static size_t find_delimiter(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '=' || s[i] == ':')
			return i;
	return n;
}

static int start_option(struct parser *p, const char *s, size_t n)
{
	size_t delim = find_delimiter(s, n);
	if (!p->section)
		return delim < n
			       ? parse_error(p, "option outside any section")
			       : parse_error_quoting(p, "expected a [section] header, got ", s, n);
	if (delim == n)
		return parse_error_quoting(
			p, "expected 'option = value', '[section]' or a comment, got ", s, n);
	const char *name = s, *val = s + delim + 1;
	size_t name_len = delim, val_len = n - delim - 1;
	strip_span(&name, &name_len);
	strip_span(&val, &val_len);
	if (name_len == 0)
		return parse_error(p, "option name missing before '%c'", s[delim]);
	if (memchr(name, KEY_SEP, name_len))
		return parse_error(p, "control character \\x1f in option name");

	char *option = lowercase_ndup(name, name_len);
	if (strlist_find(p->options, option) >= 0) {
		struct strbuf sb = STRBUF_INIT;
		sb_add_quoted_str(&sb, option);
		sb_adds(&sb, " in section ");
		sb_add_quoted_str(&sb, p->section);
		free(option);
		parse_error(p, "duplicate option %s", sb_str(&sb));
		sb_free(&sb);
		return -1;
	}
	strlist_add_owned(p->options, option);
	char *where = xasprintf("%s:%zu", p->cfg->filename, p->line_no);
	dict_put(p->cfg->where, p->section, option, where);
	free(where);

	p->option = option;
	sb_reset(&p->value);
	sb_add(&p->value, val, val_len);
	return 0;
}

static int parse_line(struct parser *p, const char *line, size_t len)
{
	size_t indent = 0;
	while (indent < len && is_py_space(line[indent]))
		indent++;
	const char *s = line + indent;
	size_t n = len - indent;
	strip_span(&s, &n);

	/* A comment, even an unindented one, is skipped without ending the
	 * value around it (configparser treats it as an empty line that adds
	 * nothing). */
	if (n > 0 && (s[0] == '#' || s[0] == ';'))
		return 0;
	if (n == 0) {
		if (p->option)
			p->blank_lines++;
		return 0;
	}
	if (p->option && indent > p->indent) {
		continue_value(p, s, n);
		return 0;
	}
	p->indent = indent;
	finish_value(p);
	size_t name_len;
	if (find_header(s, n, &name_len))
		return start_section(p, s + 1, name_len);
	return start_option(p, s, n);
}

/* Splits on "\n", "\r\n" and a lone "\r", as Python's universal newlines do. */
static int parse_text(struct parser *p, const char *text)
{
	const char *s = text;
	/* Python would choke on a BOM ("\ufeff[general]" is no header);
	 * editors on some systems add one, so skip it. */
	if (strncmp(s, UTF8_BOM, strlen(UTF8_BOM)) == 0)
		s += strlen(UTF8_BOM);
	while (*s) {
		size_t len = strcspn(s, "\r\n");
		p->line_no++;
		if (parse_line(p, s, len) < 0)
			return -1;
		s += len;
		if (s[0] == '\r' && s[1] == '\n')
			s += 2;
		else if (*s)
			s++;
	}
	finish_value(p);
	return 0;
}

static void set_error(char **error_r, char *error)
{
	if (error_r)
		*error_r = error;
	else
		free(error);
}

struct config *config_parse(const char *name, const char *text, char **error_r)
{
	struct parser p = { .cfg = config_new(name), .value = STRBUF_INIT };
	int ret = parse_text(&p, text);
	sb_free(&p.value);
	if (ret < 0) {
		set_error(error_r, p.error);
		config_free(&p.cfg);
		return NULL;
	}
	return p.cfg;
}

/* 1-based line of offset in text, for pointing at a NUL byte. */
static size_t line_of(const char *text, size_t offset)
{
	size_t line = 1;
	for (size_t i = 0; i < offset; i++) {
		if (text[i] == '\n' || (text[i] == '\r' && text[i + 1] != '\n'))
			line++;
	}
	return line;
}

static int read_file(const char *path, struct strbuf *sb, char **error_r)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		set_error(error_r, xasprintf("%s: %s", path, strerror(errno)));
		return -1;
	}
	char buf[65536];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_add(sb, buf, n);
	int err = ferror(f) ? errno : 0;
	fclose(f);
	if (err) {
		set_error(error_r, xasprintf("%s: %s", path, strerror(err)));
		return -1;
	}
	return 0;
}

struct config *config_load(const char *path, char **error_r)
{
	struct strbuf sb = STRBUF_INIT;
	struct config *cfg = NULL;
	if (read_file(path, &sb, error_r) < 0)
		goto out;
	/* The parser sees a C string; a NUL would silently end the file. */
	const char *nul = memchr(sb_str(&sb), '\0', sb.len);
	if (nul) {
		size_t off = (size_t)(nul - sb_str(&sb));
		set_error(error_r, xasprintf("%s:%zu: NUL byte in config file", path,
					     line_of(sb_str(&sb), off)));
		goto out;
	}
	cfg = config_parse(path, sb_str(&sb), error_r);
out:
	sb_free(&sb);
	return cfg;
}

/* ---- queries ---- */

const char *config_filename(const struct config *cfg)
{
	return cfg->filename;
}

bool config_has_section(const struct config *cfg, const char *section)
{
	return !is_default(section) && section_options(cfg, section) != NULL;
}

const struct strlist *config_sections(const struct config *cfg)
{
	return &cfg->sections;
}

const struct strlist *config_options(const struct config *cfg, const char *section)
{
	static const struct strlist empty = STRLIST_INIT;
	const struct strlist *opts = section_options(cfg, section);
	return opts ? opts : &empty;
}

const char *config_get_raw(const struct config *cfg, const char *section, const char *option)
{
	char *opt = lowercase_dup(option);
	const char *raw = lookup_raw(cfg, section, opt);
	free(opt);
	return raw;
}

const char *config_where(const struct config *cfg, const char *section, const char *option)
{
	char *opt = lowercase_dup(option);
	const char *where = lookup_where(cfg, section, opt);
	free(opt);
	return where ? where : cfg->filename;
}

/* ---- interpolation: configparser.BasicInterpolation._interpolate_some ---- */

/* One config_get() call's interpolation. */
struct interp {
	const struct config *cfg;
	/* References resolve in this section, even inside a value inherited
	 * from DEFAULT, as in configparser. */
	const char *section;
	struct strbuf out;
	/* Bytes still allowed to be scanned or copied. Depth is bounded, fan-out
	 * is not: ten levels of "%(x)s%(x)s..." would otherwise expand to
	 * gigabytes (configparser has the same "billion laughs"). */
	size_t budget;
	char *error;
};

/* Error about the value of option (the one holding the bad text, so the
 * location points where the fix goes). */
static int interp_error(struct interp *in, const char *option, const char *msg, const char *quote)
{
	struct strbuf sb = STRBUF_INIT;
	const char *where = lookup_where(in->cfg, in->section, option);
	sb_add_context(&sb, where ? where : in->cfg->filename, in->section, option);
	sb_adds(&sb, msg);
	if (quote)
		sb_add_quoted_str(&sb, quote);
	in->error = sb_detach(&sb);
	return -1;
}

/* clang-format off */
#define TOO_BIG "interpolation expands to more than " STR(INTERPOLATION_BUDGET_MIB) " MiB"
#define TOO_DEEP "interpolation nested more than " STR(MAX_INTERPOLATION_DEPTH) \
	" levels deep (a reference loop?)"
/* clang-format on */

static bool charge(struct interp *in, size_t n)
{
	if (n > in->budget)
		return false;
	in->budget -= n;
	return true;
}

static int interpolate(struct interp *in, const char *option, const char *value, int depth);

/* Expands the "%(name)s" at ref, which names a non-empty option without ')'
 * (configparser's _KEYCRE). Returns the length consumed or -1. */
static ptrdiff_t expand_reference(struct interp *in, const char *option, const char *ref, int depth)
{
	const char *close = strchr(ref + 2, ')');
	if (!close || close == ref + 2 || close[1] != 's')
		return interp_error(in, option, "bad interpolation reference ", ref);
	char *name = lowercase_ndup(ref + 2, (size_t)(close - (ref + 2)));
	const char *value = lookup_raw(in->cfg, in->section, name);
	int ret = 0;
	if (!value)
		ret = interp_error(in, option, "interpolation refers to missing option ", name);
	else if (strchr(value, '%'))
		ret = interpolate(in, name, value, depth + 1);
	else if (charge(in, strlen(value)))
		sb_adds(&in->out, value);
	else
		ret = interp_error(in, option, TOO_BIG, NULL);
	free(name);
	return ret < 0 ? -1 : close + 2 - ref;
}

/* Appends the interpolation of value, the raw value of option, to in->out.
 * depth counts from 1 like configparser's, so the same configs pass. */
static int interpolate(struct interp *in, const char *option, const char *value, int depth)
{
	if (depth > MAX_INTERPOLATION_DEPTH)
		return interp_error(in, option, TOO_DEEP, NULL);
	if (!charge(in, strlen(value)))
		return interp_error(in, option, TOO_BIG, NULL);
	const char *p = value;
	for (;;) {
		const char *pct = strchr(p, '%');
		if (!pct) {
			sb_adds(&in->out, p);
			return 0;
		}
		sb_add(&in->out, p, (size_t)(pct - p));
		if (pct[1] == '%') {
			sb_addc(&in->out, '%');
			p = pct + 2;
		} else if (pct[1] == '(') {
			ptrdiff_t n = expand_reference(in, option, pct, depth);
			if (n < 0)
				return -1;
			p = pct + n;
		} else {
			return interp_error(in, option,
					    "'%' must be followed by '%' or '(', found ", pct);
		}
	}
}

const char *config_get(const struct config *cfg, const char *section, const char *option,
		       char **error_r)
{
	if (error_r)
		*error_r = NULL;
	char *opt = lowercase_dup(option);
	const char *raw = lookup_raw(cfg, section, opt);
	/* Without '%' there is nothing to do: hand out the stored value. */
	if (!raw || !strchr(raw, '%')) {
		free(opt);
		return raw;
	}
	const char *value = dict_lookup(cfg->cache, section, opt);
	if (!value) {
		struct interp in = {
			.cfg = cfg,
			.section = section,
			.out = STRBUF_INIT,
			.budget = (size_t)INTERPOLATION_BUDGET_MIB << 20,
		};
		if (interpolate(&in, opt, raw, 1) == 0) {
			dict_put(cfg->cache, section, opt, sb_str(&in.out));
			value = dict_lookup(cfg->cache, section, opt);
		} else {
			set_error(error_r, in.error);
		}
		sb_free(&in.out);
	}
	free(opt);
	return value;
}

/* ---- typed getters ---- */

static int type_error(const struct config *cfg, const char *section, const char *option,
		      const char *expected, const char *value, char **error_r)
{
	struct strbuf sb = STRBUF_INIT;
	char *opt = lowercase_dup(option); /* as stored, like the other errors */
	sb_add_context(&sb, config_where(cfg, section, opt), section, opt);
	free(opt);
	sb_addf(&sb, "%s, got ", expected);
	sb_add_quoted_str(&sb, value);
	set_error(error_r, sb_detach(&sb));
	return -1;
}

int config_parse_bool(const char *word, bool *value_r)
{
	static const char *const truthy[] = { "1", "yes", "true", "on" };
	static const char *const falsy[] = { "0", "no", "false", "off" };
	for (size_t i = 0; i < sizeof(truthy) / sizeof(truthy[0]); i++) {
		if (strcasecmp(word, truthy[i]) == 0) {
			*value_r = true;
			return 0;
		}
		if (strcasecmp(word, falsy[i]) == 0) {
			*value_r = false;
			return 0;
		}
	}
	return -1;
}

/* Fetches the interpolated value for a typed getter: 1 if set, 0 if unset,
 * -1 on an interpolation error (*error_r set). */
static int get_for_type(const struct config *cfg, const char *section, const char *option,
			const char **value_r, char **error_r)
{
	char *error = NULL;
	*value_r = config_get(cfg, section, option, &error);
	if (error) {
		set_error(error_r, error);
		return -1;
	}
	return *value_r != NULL;
}

int config_get_bool(const struct config *cfg, const char *section, const char *option, bool def,
		    bool *value_r, char **error_r)
{
	const char *value;
	int ret = get_for_type(cfg, section, option, &value, error_r);
	if (ret <= 0) {
		if (ret == 0)
			*value_r = def;
		return ret;
	}
	if (config_parse_bool(value, value_r) < 0)
		return type_error(cfg, section, option,
				  "expected a boolean (yes/no/true/false/on/off/1/0)", value,
				  error_r);
	return 0;
}

int config_get_int(const struct config *cfg, const char *section, const char *option, int64_t def,
		   int64_t *value_r, char **error_r)
{
	const char *value;
	int ret = get_for_type(cfg, section, option, &value, error_r);
	if (ret <= 0) {
		if (ret == 0)
			*value_r = def;
		return ret;
	}
	char *end;
	errno = 0;
	long long n = strtoll(value, &end, 10);
	if (end == value || *end != '\0')
		return type_error(cfg, section, option, "expected an integer", value, error_r);
	if (errno == ERANGE)
		return type_error(cfg, section, option, "integer out of range", value, error_r);
	*value_r = n;
	return 0;
}

static bool skip_digits(const char **s)
{
	const char *start = *s;
	while (**s >= '0' && **s <= '9')
		(*s)++;
	return *s > start;
}

/* [+]digits[.digits] or [+].digits, optional exponent: what Python's float()
 * takes minus inf/nan, and unlike strtod() no hex. */
static bool is_plain_decimal(const char *s)
{
	if (*s == '+')
		s++;
	bool digits = skip_digits(&s);
	if (*s == '.') {
		s++;
		digits = skip_digits(&s) || digits;
	}
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '+' || *s == '-')
			s++;
		if (!skip_digits(&s))
			return false;
	}
	return *s == '\0';
}

/* strtod() in the C locale: under a "de_DE" LC_NUMERIC "0.5" would read as 0. */
static double c_strtod(const char *s)
{
	locale_t c = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	if (!c)
		return strtod(s, NULL);
	double d = strtod_l(s, NULL, c);
	freelocale(c);
	return d;
}

int config_get_double(const struct config *cfg, const char *section, const char *option, double def,
		      double *value_r, char **error_r)
{
	const char *value;
	int ret = get_for_type(cfg, section, option, &value, error_r);
	if (ret <= 0) {
		if (ret == 0)
			*value_r = def;
		return ret;
	}
	double d = is_plain_decimal(value) ? c_strtod(value) : -1.0;
	if (!(d >= 0.0) || !isfinite(d))
		return type_error(cfg, section, option, "expected a non-negative number", value,
				  error_r);
	*value_r = d;
	return 0;
}

/* ---- changes ---- */

void config_set(struct config *cfg, const char *section, const char *option, const char *value)
{
	assert(!strchr(section, KEY_SEP) && !strchr(option, KEY_SEP));
	char *opt = lowercase_dup(option);
	struct strlist *opts = section_options(cfg, section);
	if (!opts)
		opts = add_section(cfg, section);
	if (strlist_find(opts, opt) < 0)
		strlist_add(opts, opt);
	dict_put(cfg->values, section, opt, value);
	dict_put(cfg->where, section, opt, WHERE_CMDLINE);
	free(opt);
	invalidate_cache(cfg);
}

void config_unset(struct config *cfg, const char *section, const char *option)
{
	char *opt = lowercase_dup(option);
	struct strlist *opts = section_options(cfg, section);
	int i = opts ? strlist_find(opts, opt) : -1;
	if (i >= 0) {
		free(opts->v[i]);
		memmove(&opts->v[i], &opts->v[i + 1], (opts->n - (size_t)i - 1) * sizeof(*opts->v));
		opts->n--;
		dict_remove(cfg->values, section, opt);
		dict_remove(cfg->where, section, opt);
		invalidate_cache(cfg);
	}
	free(opt);
}

/* BasicInterpolation.before_set: configparser refuses to store a value whose
 * '%' would fail later, so -k reports it at once. */
static bool interpolation_syntax_ok(const char *value)
{
	for (const char *p = strchr(value, '%'); p; p = strchr(p, '%')) {
		if (p[1] == '%') {
			p += 2;
			continue;
		}
		const char *close = p[1] == '(' ? strchr(p + 2, ')') : NULL;
		if (!close || close == p + 2 || close[1] != 's')
			return false;
		p = close + 2;
	}
	return true;
}

static int override_error(const char *arg, const char *msg, char **error_r)
{
	struct strbuf sb = STRBUF_INIT;
	sb_adds(&sb, "-k ");
	sb_add_quoted_str(&sb, arg);
	sb_addf(&sb, ": %s", msg);
	set_error(error_r, sb_detach(&sb));
	return -1;
}

int config_apply_override(struct config *cfg, const char *arg, char **error_r)
{
	const char *eq = strchr(arg, '=');
	if (!eq)
		return override_error(arg, "expected [section:]option=value", error_r);
	/* As OfflineIMAP: the first '=' ends the key, the first ':' in the key
	 * ends the section. */
	const char *colon = memchr(arg, ':', (size_t)(eq - arg));
	const char *name = colon ? colon + 1 : arg, *value = eq + 1;
	size_t name_len = (size_t)(eq - name), value_len = strlen(value);
	/* OfflineIMAP would keep the blanks and then never find "ui " or match
	 * " basic"; options from the file are stripped, so strip here too. */
	strip_span(&name, &name_len);
	strip_span(&value, &value_len);
	if (colon == arg)
		return override_error(arg, "empty section name", error_r);
	if (name_len == 0)
		return override_error(arg, "empty option name", error_r);
	if (memchr(arg, KEY_SEP, (size_t)(eq - arg)))
		return override_error(arg, "control character \\x1f in name", error_r);

	char *section = colon ? xstrndup(arg, (size_t)(colon - arg)) : xstrdup("general");
	for (char *p = section; *p; p++)
		if (*p == '_')
			*p = ' ';
	char *option = xstrndup(name, name_len);
	char *val = xstrndup(value, value_len);
	int ret = 0;
	if (!interpolation_syntax_ok(val))
		ret = override_error(arg,
				     "invalid interpolation syntax (write '%%' for a literal '%')",
				     error_r);
	else
		config_set(cfg, section, option, val);
	free(val);
	free(option);
	free(section);
	return ret;
}

/* ---- path expansion: Python's os.path.expanduser and expandvars ---- */

char *config_expand_tilde(const char *path)
{
	if (path[0] != '~')
		return xstrdup(path);
	size_t end = strcspn(path + 1, "/") + 1;
	const char *home = NULL;
	if (end == 1) {
		home = getenv("HOME");
		if (!home) {
			struct passwd *pw = getpwuid(getuid());
			home = pw ? pw->pw_dir : NULL;
		}
	} else {
		char *user = xstrndup(path + 1, end - 1);
		struct passwd *pw = getpwnam(user);
		free(user);
		home = pw ? pw->pw_dir : NULL;
	}
	if (!home)
		return xstrdup(path); /* unknown user: left as is, like Python */
	size_t home_len = strlen(home);
	while (home_len > 0 && home[home_len - 1] == '/')
		home_len--;
	if (home_len == 0 && path[end] == '\0')
		return xstrdup("/");
	return xasprintf("%.*s%s", (int)home_len, home, path + end);
}

/* Appends the expansion of the "$..." at s (s[0] == '$') and returns how many
 * bytes of s it consumed. Unset variables and "${" without '}' stay as is. */
static size_t expand_var(struct strbuf *out, const char *s)
{
	const char *name = s + 1;
	size_t name_len, consumed;
	if (s[1] == '{') {
		const char *close = strchr(s + 2, '}');
		if (!close) {
			sb_addc(out, '$');
			return 1;
		}
		name = s + 2;
		name_len = (size_t)(close - name);
		consumed = name_len + 3;
	} else {
		name_len = 0;
		while (is_word_char(name[name_len]))
			name_len++;
		if (name_len == 0) {
			sb_addc(out, '$');
			return 1;
		}
		consumed = name_len + 1;
	}
	char *var = xstrndup(name, name_len);
	const char *value = name_len ? getenv(var) : NULL;
	free(var);
	if (value)
		sb_adds(out, value);
	else
		sb_add(out, s, consumed);
	return consumed;
}

char *config_expand_path(const char *path)
{
	char *tilde = config_expand_tilde(path);
	struct strbuf out = STRBUF_INIT;
	for (const char *p = tilde; *p;) {
		if (*p == '$') {
			p += expand_var(&out, p);
		} else {
			size_t n = strcspn(p, "$");
			sb_add(&out, p, n);
			p += n;
		}
	}
	free(tilde);
	return sb_detach(&out);
}
