/* folder_window.h — applies maxage / startdate (sync/window.h) to one
 * folder's message lists and status rows before planning.
 *
 * Owns: the StartUID files OfflineIMAP keeps for startdate
 * (<metadata>/Repository-<partial repo>/StartUID/<folder>, "lo\n",
 * offlineimap.md §3.1), read and written in OfflineIMAP's format so both
 * tools agree on a partial clone. Nothing is written in a dry run.
 */
#ifndef OFFLINEFS_FOLDER_WINDOW_H
#define OFFLINEFS_FOLDER_WINDOW_H

#include <stdbool.h>
#include <stddef.h>

#include "cache/status.h"
#include "common/repo.h"
#include "sync/account.h"

/* Only for an account with filters_windowed(&a->filters). Removes from
 * remote and local the messages outside the folder's window and sets
 * *rows_r (malloc'd) to the status rows inside it. Returns 0, or -1 after
 * logging one line naming the folder (startdate's other side not empty on
 * the first run, or the StartUID file cannot be read or written): the
 * folder must be skipped, nothing was changed. */
int folder_window_apply(const struct account_settings *a, const char *remote_name,
			const char *local_name, bool dry, struct repo_msg_list *remote,
			struct repo_msg_list *local, const struct status_rec *rows, size_t n_rows,
			struct status_rec **rows_r, size_t *n_rows_r);

#endif
