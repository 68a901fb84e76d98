/* imap_flags.c — see imap_flags.h. */
#include "imap/imap_flags.h"

#include <string.h>
#include <strings.h>

static const struct {
	const char *name;
	char letter;
} system_flags[] = {
	{ "\\Seen", 'S' },    { "\\Answered", 'R' }, { "\\Flagged", 'F' },
	{ "\\Deleted", 'T' }, { "\\Draft", 'D' },
};
#define N_SYSTEM (sizeof(system_flags) / sizeof(system_flags[0]))

bool imap_keyword_valid(const char *kw)
{
	if (!kw || !*kw)
		return false;
	for (const unsigned char *p = (const unsigned char *)kw; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("(){%*\"\\]", *p))
			return false;
	return true;
}

flagset_t imap_flag_bit(const char *name, size_t len, const char *const *keywords)
{
	if (len == 0)
		return 0;
	if (name[0] == '\\') {
		for (size_t i = 0; i < N_SYSTEM; i++)
			if (strlen(system_flags[i].name) == len &&
			    !strncasecmp(system_flags[i].name, name, len))
				return flag_bit(system_flags[i].letter);
		return 0;
	}
	if (!keywords)
		return 0;
	for (int i = 0; i < 26; i++)
		if (keywords[i] && strlen(keywords[i]) == len && !strncasecmp(keywords[i], name, len) &&
		    imap_keyword_valid(keywords[i]))
			return flag_bit((char)('a' + i));
	return 0;
}

flagset_t imap_flags_parse(const char *list, const char *const *keywords)
{
	flagset_t f = 0;
	const char *p = list;
	while (*p) {
		while (*p == ' ' || *p == '(' || *p == ')')
			p++;
		const char *start = p;
		while (*p && *p != ' ' && *p != '(' && *p != ')')
			p++;
		f |= imap_flag_bit(start, (size_t)(p - start), keywords);
	}
	return f;
}

const char *imap_flag_name(char c, const char *const *keywords)
{
	for (size_t i = 0; i < N_SYSTEM; i++)
		if (system_flags[i].letter == c)
			return system_flags[i].name;
	if (c >= 'a' && c <= 'z' && keywords && imap_keyword_valid(keywords[c - 'a']))
		return keywords[c - 'a'];
	return NULL;
}

flagset_t imap_flags_storable(const char *const *keywords)
{
	flagset_t f = 0;
	for (size_t i = 0; i < N_SYSTEM; i++)
		f |= flag_bit(system_flags[i].letter);
	for (char c = 'a'; c <= 'z'; c++)
		if (imap_flag_name(c, keywords))
			f |= flag_bit(c);
	return f;
}

void imap_flags_format(flagset_t f, const char *const *keywords, struct strbuf *out)
{
	bool first = true;
	for (size_t i = 0; i < N_SYSTEM + 26; i++) {
		char c = i < N_SYSTEM ? system_flags[i].letter : (char)('a' + (i - N_SYSTEM));
		const char *name = imap_flag_name(c, keywords);
		if (!name || !flags_has(f, flag_bit(c)))
			continue;
		if (!first)
			sb_addc(out, ' ');
		sb_adds(out, name);
		first = false;
	}
}
