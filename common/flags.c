#include "common/flags.h"

flagset_t flag_bit(char c)
{
	if (c >= 'A' && c <= 'Z')
		return (flagset_t)1 << (c - 'A');
	if (c >= 'a' && c <= 'z')
		return (flagset_t)1 << (26 + (c - 'a'));
	return 0;
}

flagset_t flags_from_letters(const char *s, size_t len)
{
	flagset_t f = 0;
	for (size_t i = 0; i < len; i++)
		f |= flag_bit(s[i]);
	return f;
}

void flags_to_letters(flagset_t f, char out[FLAGS_LETTERS_MAX])
{
	size_t n = 0;
	for (int i = 0; i < 52; i++) {
		if (f & ((flagset_t)1 << i))
			out[n++] = (char)(i < 26 ? 'A' + i : 'a' + (i - 26));
	}
	out[n] = '\0';
}
