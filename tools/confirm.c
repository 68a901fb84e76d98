/* confirm.c — see confirm.h. */
#include "tools/confirm.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "cache/held.h"
#include "cache/status.h"
#include "common/log.h"
#include "sync/engine.h"
#include "tools/mountstate.h"

int confirm_for_mount(const struct account_settings *a, const struct strlist *folders)
{
	struct mount_state ms;
	bool mounted = mount_running(a, &ms) == 1;
	if (!mounted) {
		mount_state_clear(&ms);
		return 0;
	}
	char *path = sync_status_db_path(a), *err = NULL;
	struct status_db *db = NULL;
	int ret = 1;
	if (status_open(path, false, a->fsync, &db, &err) < 0) {
		log_error("Account %s: %s", a->name, err);
		ret = -1;
		goto out;
	}
	for (size_t i = 0; i < folders->n; i++) {
		if (held_confirm(db, folders->v[i], &err) < 0) {
			log_error("Account %s: %s", a->name, err);
			ret = -1;
			goto out;
		}
		printf("Account %s is mounted at %s: its next sync of %s carries out the "
		       "deletions held back there\n", a->name, ms.mountpoint ? ms.mountpoint : "?",
		       folders->v[i]);
	}
	/* SIGUSR1: the mount's full sync now, as `kill -USR1 PID` does */
	if (ms.pid > 0 && kill(ms.pid, SIGUSR1) < 0)
		log_warn("Account %s: could not wake the mount (pid %ld); its next periodic sync "
			 "carries the deletions out", a->name, (long)ms.pid);
out:
	free(err);
	status_close(&db);
	free(path);
	mount_state_clear(&ms);
	return ret;
}
