#include "sync/fmd5_migrate.h"

#include <stdlib.h>
#include <string.h>

#include "cache/lock.h"
#include "cache/maildir.h"
#include "cache/maildir_name.h"
#include "common/hash.h"
#include "common/log.h"
#include "common/repo.h"
#include "common/xalloc.h"
#include "sync/folder_map.h"

int sync_migrate_fmd5(const struct account_settings *a, bool dry_run)
{
	char *err = NULL;
	int ret = 1;
	int lock_fd = -1;
	struct folder_map *fm = folder_map_new(a, false);
	struct maildir_settings ms = { .root = a->local.localfolders, .sep = a->local.sep,
				       .infosep = ':' };
	struct repo *r = maildir_repo_new(a->local.name, &ms);
	struct strlist folders = STRLIST_INIT;
	size_t renamed = 0;

	if (!dry_run) {
		lock_fd = account_lock(a->metadata, a->name, 0, &err);
		if (lock_fd < 0) {
			log_error("%s", err);
			goto out;
		}
	}
	if (r->ops->connect(r) != REPO_OK || r->ops->list_folders(r, &folders) != REPO_OK) {
		log_error("%s", repo_error(r));
		goto out;
	}
	for (size_t i = 0; i < folders.n; i++) {
		const char *f = folders.v[i];
		char *vis = folder_map_fmd5_name(fm, f); /* NULL: no local nametrans */
		char old_md5[HASH_MD5_HEX_LEN + 1], new_md5[HASH_MD5_HEX_LEN + 1];
		maildir_folder_md5(f, old_md5);
		maildir_folder_md5(vis ? vis : f, new_md5);
		free(vis);
		if (!strcmp(old_md5, new_md5))
			continue;
		if (maildir_migrate_fmd5(r, f, old_md5, new_md5, dry_run, &renamed, &err) < 0) {
			log_error("%s", err);
			goto out;
		}
	}
	log_info("Account %s: %zu file%s migrated to the FMD5 of their folder's nametrans name",
		 a->name, renamed, renamed == 1 ? "" : "s");
	ret = 0;
out:
	free(err);
	strlist_free(&folders);
	r->ops->free(&r);
	account_unlock(&lock_fd);
	folder_map_free(&fm);
	return ret;
}
