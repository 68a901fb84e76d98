/* flags.h — a message's flags as a set of Maildir flag letters.
 *
 * Owns: the in-memory representation of flags shared by every repository,
 * the status cache and the planner. One bit per ASCII letter: 'A'..'Z' are
 * bits 0..25, 'a'..'z' bits 26..51. Uppercase letters are the Maildir
 * standard flags (S seen, R replied, F flagged, T trashed, D draft, P passed);
 * lowercase letters are custom keywords (OfflineIMAP's customflag_[a-z]).
 * Sorting the letters in ASCII order — uppercase first — is what OfflineIMAP
 * writes into filenames and its status DB, so flags_to_letters() does that.
 * Pure: no I/O.
 */
#ifndef OFFLINEFS_FLAGS_H
#define OFFLINEFS_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef uint64_t flagset_t;

/* The bit of letter c, or 0 when c is not an ASCII letter. */
flagset_t flag_bit(char c);

#define FLAG_SEEN flag_bit('S')
#define FLAG_ANSWERED flag_bit('R')
#define FLAG_FLAGGED flag_bit('F')
#define FLAG_DELETED flag_bit('T')
#define FLAG_DRAFT flag_bit('D')
#define FLAG_PASSED flag_bit('P')

/* Every letter in s[0..len) that is an ASCII letter; other characters are
 * ignored (OfflineIMAP reads \w, so digits and '_' may occur and are kept
 * out of the set rather than rejected). */
flagset_t flags_from_letters(const char *s, size_t len);

/* Longest result of flags_to_letters() plus the NUL. */
#define FLAGS_LETTERS_MAX 53
/* Writes the letters of f in ASCII order ("FS", "RS", "Fa") into out. */
void flags_to_letters(flagset_t f, char out[FLAGS_LETTERS_MAX]);

static inline bool flags_has(flagset_t f, flagset_t bit)
{
	return (f & bit) != 0;
}

#endif
