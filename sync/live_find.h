/* live_find.h — finding on the server a message we may have uploaded
 * already, so that an upload is never repeated into a duplicate.
 *
 * Owns: the check done before replaying an APPEND or MOVE that was in flight
 * when the process died, and after an APPEND or MOVE whose new UID the
 * server did not report. Used by sync/live.c and by the engine inside the
 * mount (it must not move the local file aside as the one-shot run does).
 *
 * How: with the repository's find_message op and a Message-ID in the body,
 * a UID SEARCH on Message-ID + size first; when that finds nothing (or the
 * op is NULL, or there is no Message-ID), the folder is listed and the
 * messages whose size can be this body's (its CRLF size, plus room for the
 * X-OfflineIMAP marker the IMAP back-end adds without UIDPLUS) are fetched
 * and compared byte for byte (CRLF as LF, the marker header ignored).
 * UIDs the caller already pairs with another local file (known) never
 * match, so an identical second copy is not mistaken for this one; among
 * several unpaired byte-identical copies the lowest UID is taken (identical
 * copies are interchangeable: N files pair with N copies one to one).
 */
#ifndef OFFLINEFS_LIVE_FIND_H
#define OFFLINEFS_LIVE_FIND_H

#include <stddef.h>
#include <stdint.h>

#include "common/repo.h"

/* Searches r's selected folder for body (LF form). known: sorted UIDs that
 * do not count. Returns REPO_OK with *uid_r (0 when no message or more
 * than one matches), or the failing call's repo_result (< 0). */
int live_find_uploaded(struct repo *r, const char *body, size_t len, const uint32_t *known,
		       size_t n_known, uint32_t *uid_r);

/* Pure helpers, exposed for unit tests. */
/* The Message-ID header's value (unfolded, trimmed), malloc'd; NULL when
 * the header block has none. */
char *live_message_id(const char *body, size_t len);
/* The size an IMAP server reports for body: each LF not preceded by CR
 * counts two bytes. */
uint64_t live_crlf_size(const char *body, size_t len);

#endif
