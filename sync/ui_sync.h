/* ui_sync.h — the sync engine's flag changes and deletions as the UI
 * events OfflineIMAP reports (addingflags, deletingflags,
 * deletingmessages).
 *
 * Owns: turning a plan's per-message changes into OfflineIMAP's grouping:
 * one event per flag letter with the UIDs it is added to (then one per
 * letter removed), one event for a folder's deletions. Calls common/ui.h
 * only; no I/O of its own.
 */
#ifndef OFFLINEFS_UI_SYNC_H
#define OFFLINEFS_UI_SYNC_H

#include <stddef.h>

#include "common/repo.h"
#include "sync/planner.h"

/* changes[0..n): new flag sets of messages of list (folder `folder` of a
 * repository of type `type`); reports every letter added and removed, in
 * letter order, adds first (the UIDs in the order of changes). */
void ui_sync_flags(const char *account, const char *folder, const struct repo_msg_list *list,
		   const struct plan_flags *changes, size_t n);
/* list->v[idx[0..n)] are about to be deleted in type's folder `folder`. */
void ui_sync_deletes(const char *account, const char *type, const char *folder,
		     const struct repo_msg_list *list, const size_t *idx, size_t n);

#endif
