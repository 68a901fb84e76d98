/* uidv_recover.h — recovering a folder whose UIDVALIDITY changed.
 *
 * Owns: re-pairing the Maildir's messages with the server's after the
 * server renumbered a folder (docs/uidvalidity.md), the way mbsync
 * "recovers from a change of UIDVALIDITY", without ever deleting.
 *
 * How: every local file and every server message whose size can be one of
 * them (its CRLF size, plus room for an X-OfflineIMAP marker) is read and
 * reduced to (size, MD5 of its bytes as LF with any X-OfflineIMAP header
 * line left out). Equal digests pair one to one (identical copies are
 * interchangeable); a message is never paired on its Message-ID alone,
 * so equal Message-IDs with different bytes (an edited draft, a resent
 * message) stay two messages. Then, in this order, so that a crash at any
 * point leaves a state the next run recovers again from scratch:
 *   1. paired local files are renamed to their server UID, unpaired files
 *      that carried an old UID lose it (they are uploaded as new), and the
 *      Maildir's directories are synced;
 *   2. one transaction replaces the folder's status rows with one row per
 *      pair (flags: the old row's, which keeps the three-way merge of both
 *      sides' flag changes made since the last sync) and stores the new
 *      UIDVALIDITY (UIDNEXT and HIGHESTMODSEQ forgotten).
 * The caller's sync then downloads the unpaired server messages and
 * uploads the unpaired local ones; with rows only for messages present on
 * both sides, it deletes nothing.
 */
#ifndef OFFLINEFS_UIDV_RECOVER_H
#define OFFLINEFS_UIDV_RECOVER_H

#include <stddef.h>
#include <stdint.h>

#include "cache/status.h"
#include "common/repo.h"

struct uidv_recovery {
	size_t paired;      /* local files now carrying their server UID */
	size_t to_upload;   /* local files left without a UID */
	size_t to_download; /* server messages no local file matched */
};

/* remote: the server folder, selected (new UIDVALIDITY new_uidvalidity);
 * local: the Maildir folder, selected for writing, listed in *local_list
 * (its entries are updated in place: keys and UIDs after renames).
 * sf: the folder's status row (id, old uidvalidity); updated on success.
 * Returns 0 with *out filled, or -1 with *error_r (malloc'd, one line):
 * nothing committed then (renames done so far are redone by the next run). */
int uidv_recover(struct repo *remote, struct repo *local, struct status_db *db,
		 struct status_folder *sf, uint32_t new_uidvalidity,
		 struct repo_msg_list *local_list, struct uidv_recovery *out, char **error_r);

/* Pure helpers, exposed for unit tests. */
/* MD5 (hex) of body with CRLF as LF and any X-OfflineIMAP header line of
 * the header block left out. out: HASH_MD5_HEX_LEN + 1 bytes. */
void uidv_digest(const char *body, size_t len, char *out);

#endif
