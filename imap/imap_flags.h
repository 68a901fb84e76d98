/* imap_flags.h — IMAP system flags and keywords <-> flagset_t letters.
 *
 * Owns: the one mapping table between IMAP flag names and Maildir letters
 * (OfflineIMAP imaputil.flagmap): \Seen S, \Answered R, \Flagged F,
 * \Deleted T, \Draft D; a keyword k maps to letter x when keywords[x - 'a']
 * is k (customflag_x). System flag names and keywords compare
 * case-insensitively (RFC 3501 flags are case-insensitive). \Recent,
 * unknown system flags and unmapped keywords map to nothing. Pure: no I/O,
 * no libetpan.
 *
 * keywords is always an array of 26 entries, NULL where a letter has no
 * keyword; a NULL keywords pointer means "no keywords at all".
 */
#ifndef OFFLINEFS_IMAP_FLAGS_H
#define OFFLINEFS_IMAP_FLAGS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/flags.h"
#include "common/xalloc.h"

/* The letter bit of one IMAP flag, given as it appears on the wire
 * ("\Seen", "$Label1"), or 0 when it maps to none. */
flagset_t imap_flag_bit(const char *name, size_t len, const char *const *keywords);

/* Parses a space-separated flag list as in a FETCH FLAGS response, with or
 * without the surrounding parentheses: "(\Seen \Flagged $Junk)". Tokens that
 * map to nothing are ignored. */
flagset_t imap_flags_parse(const char *list, const char *const *keywords);

/* The IMAP name of letter c ("\Seen", or its keyword), or NULL when c cannot
 * be stored on an IMAP server. Points into a static table or keywords. */
const char *imap_flag_name(char c, const char *const *keywords);

/* The letters an IMAP server can store: S R F T D plus every letter whose
 * keyword is a valid IMAP atom (see imap_keyword_valid). */
flagset_t imap_flags_storable(const char *const *keywords);

/* Appends the IMAP names of the storable letters of f, space-separated and
 * without parentheses, system flags first (S R F T D order), then keywords
 * a..z: "\Seen \Flagged $Junk". Appends nothing for an empty set. */
void imap_flags_format(flagset_t f, const char *const *keywords, struct strbuf *out);

/* True if kw can be sent as an IMAP flag-keyword: a non-empty atom (no
 * space, control character, 8-bit byte or any of ( ) { % * " \ ] ). */
bool imap_keyword_valid(const char *kw);

#endif
