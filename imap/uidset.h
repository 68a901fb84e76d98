/* uidset.h — IMAP UID sets as text: "1:5,7,9:12".
 *
 * Owns: compressing a sorted UID array into sequence-set strings short
 * enough for one command line, and parsing such strings back. Pure: no I/O,
 * no libetpan, so a unit test links it alone.
 */
#ifndef OFFLINEFS_IMAP_UIDSET_H
#define OFFLINEFS_IMAP_UIDSET_H

#include <stddef.h>
#include <stdint.h>

#include "common/xalloc.h"

/* Longest chunk the IMAP back-end puts on one command line (mbsync: 960). */
#define UIDSET_CHUNK_MAX 1000

/* Formats the longest prefix of uids[0..n) (ascending; duplicates are
 * folded; 0 is skipped) that fits in max_len characters as a set such as
 * "1:5,7", appends it to out and returns how many entries of uids it
 * consumed. max_len must be at least 21 ("4294967294:4294967295") so that
 * every call makes progress; n == 0 returns 0 and appends nothing. Loop
 * "while (n) { k = uidset_next_chunk(...); uids += k; n -= k; }" to split a
 * long list into command-sized chunks. */
size_t uidset_next_chunk(const uint32_t *uids, size_t n, size_t max_len, struct strbuf *out);

/* Every chunk of uids[0..n) (see uidset_next_chunk) appended to chunks_r as
 * an owned string. Returns the number of chunks added. */
size_t uidset_chunks(const uint32_t *uids, size_t n, size_t max_len, struct strlist *chunks_r);

/* Parses a set "1:5,7,12:9" (ranges in either order; no "*", no spaces) into
 * the ascending, duplicate-free UID array *uids_r (malloc'd, caller frees;
 * NULL when *n_r == 0). A set that would expand to more than max_uids
 * entries, a 0, a number above 4294967295 or any other character is
 * rejected; "" is the empty set. Returns 0, or -1 leaving *uids_r NULL and
 * *n_r 0. */
int uidset_parse(const char *s, size_t max_uids, uint32_t **uids_r, size_t *n_r);

#endif
