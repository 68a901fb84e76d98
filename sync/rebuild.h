/* rebuild.h — rebuilding a lost or damaged status database
 * (`offlinefs -o --rebuild-status`).
 *
 * Owns: the rows a folder gets when its status is rebuilt from what both
 * sides hold now, without moving any mail: a message is recorded as synced
 * when the Maildir holds a file with its UID (the U= of an OfflineIMAP name)
 * and the server lists that UID. A Maildir file without a UID (a mount's
 * upload whose name row was lost, an interrupted upload) is paired with a
 * server message by Message-ID and size, or its bytes (sync/live_find.h),
 * and then renamed to carry the UID; unpaired, it stays as it is. Nothing
 * is downloaded into the Maildir, uploaded or deleted on either side: the
 * next normal sync then treats the messages found on one side only as new
 * (it downloads or uploads them, never deletes them), so a rebuild can
 * cost a duplicate but never a message. The merge base of a paired
 * message's flags is the server's flags (as the planner does for a message
 * without a row: local flag changes win).
 *
 * The damaged file itself is first moved aside by the engine
 * (status_move_aside in cache/status_repair.h), never deleted.
 */
#ifndef OFFLINEFS_REBUILD_H
#define OFFLINEFS_REBUILD_H

#include <stdbool.h>

#include "cache/status.h"
#include "common/repo.h"

struct rebuild_counts {
	size_t paired;          /* rows written */
	size_t by_content;      /* of which found by Message-ID / bytes */
	size_t server_only;     /* server messages no local file carries */
	size_t local_only;      /* local files with no server message */
};

/* Rebuilds the rows of folder folder_id (clearing any it has) from the
 * listings remote and local (both selected, remote read-write not needed)
 * and writes the folder row from rst (UIDVALIDITY; no UIDNEXT or MODSEQ,
 * so the next sync lists the folder in full). With dry_run nothing is
 * renamed. Returns 0 with *counts_r, or -1 with *error_r (malloc'd). */
int rebuild_folder(struct status_db *db, int64_t folder_id, const char *remote_name,
		   struct repo *rr, struct repo *lr, struct repo_msg_list *remote,
		   struct repo_msg_list *local, const struct repo_folder_status *rst, bool dry_run,
		   struct rebuild_counts *counts_r, char **error_r);

#endif
