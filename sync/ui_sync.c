/* ui_sync.c — see ui_sync.h. */
#include "sync/ui_sync.h"

#include <stdlib.h>

#include "common/flags.h"
#include "common/ui.h"
#include "common/xalloc.h"

void ui_sync_flags(const char *account, const char *folder, const struct repo_msg_list *list,
		   const struct plan_flags *changes, size_t n)
{
	if (!n)
		return;
	long long *uids = xmalloc(n * sizeof(*uids));
	static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	for (int add = 1; add >= 0; add--) {
		for (const char *l = letters; *l; l++) {
			flagset_t bit = flag_bit(*l);
			size_t k = 0;
			for (size_t i = 0; i < n; i++) {
				const struct repo_msg *m = &list->v[changes[i].index];
				flagset_t changed = add ? changes[i].flags & ~m->flags
						       : m->flags & ~changes[i].flags;
				if (changed & bit)
					uids[k++] = m->uid;
			}
			ui_ev_flags(account, add, *l, uids, k, folder);
		}
	}
	free(uids);
}

void ui_sync_deletes(const char *account, const char *type, const char *folder,
		     const struct repo_msg_list *list, const size_t *idx, size_t n)
{
	if (!n)
		return;
	long long *uids = xmalloc(n * sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		uids[i] = list->v[idx[i]].uid;
	ui_ev_deleting(account, uids, n, type, folder);
	free(uids);
}
