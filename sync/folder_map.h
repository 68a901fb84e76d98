/* folder_map.h — remote <-> local folder names, and which folders sync.
 *
 * Owns: OfflineIMAP's folder-name translation and filtering
 * (repository/Base.py sync_folder_structure, accounts.py __sync,
 * folder/Base.py, folder/IMAP.py; ../shared/reference/offlineimap.md §2.5):
 *   - utf8foldernames ([Account]): remote names are decoded from modified
 *     UTF-7 before anything else sees them, and encoded back on the wire;
 *   - nametrans on each repository: name -> visible name; a visible name
 *     equal to the separator is "" (the Maildir root);
 *   - decodefoldernames (deprecated, remote): the visible name is decoded
 *     from modified UTF-7 after nametrans;
 *   - local name = remote visible name with the remote separator swapped for
 *     the local one; remote name = local visible name with the swap back;
 *   - folderfilter on both sides, on the untranslated names, and
 *     folderincludes (remote): a folder syncs when both its remote and its
 *     local side pass;
 *   - foldersort (remote): the sync order, a cmp on visible names; default
 *     case-insensitive visible name;
 *   - the local visible name is what FMD5 hashes;
 *   - the nametrans round trip: a local folder to create on the server must
 *     map back to itself, else OfflineIMAP's "INFINITE FOLDER CREATION
 *     DETECTED!" error stops the account.
 * Python is only called when an option is set, and then once per list
 * (batch calls, common/pyeval.h); without Python options this is the
 * separator swap alone.
 */
#ifndef OFFLINEFS_FOLDER_MAP_H
#define OFFLINEFS_FOLDER_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "sync/account.h"

struct folder_map;

/* a is borrowed and must outlive the map. cli_folders: -f was given, which
 * in OfflineIMAP replaces the remote folderfilter and folderincludes (the
 * engine filters by the -f list itself). */
struct folder_map *folder_map_new(const struct account_settings *a, bool cli_folders);
void folder_map_free(struct folder_map **fm);

/* A remote folder in sync order. */
struct fm_remote {
	char *wire;   /* as the server names it (modified UTF-7) */
	char *name;   /* OfflineIMAP's name: UTF-8 with utf8foldernames */
	char *local;  /* local folder name; when the local separator occurs in
		       * name, OfflineIMAP's image of it: created (remote_sync)
		       * but never synced (sync false, warned about) */
	bool remote_sync; /* the remote folderfilter/folderincludes pass: the
			   * local folder is created when missing */
	bool sync;    /* ... and the local folderfilter too: the pair syncs */
};

/* A local folder missing on the server, to be created there. */
struct fm_create {
	char *local;  /* local folder name */
	char *wire;   /* remote name to create, on the wire */
};

struct fm_plan {
	struct fm_remote *r;
	size_t nr;
	struct fm_create *c;
	size_t nc;
};

/* The remote folderincludes (as server names) that rlist, the server's
 * listing, lacks: OfflineIMAP SELECTs each read-only and syncs those that
 * exist, so the caller checks these (EXAMINE) and adds the ones found to
 * the listing it plans with. None with -f. Appended to out (no
 * duplicates). */
void folder_map_missing_includes(struct folder_map *fm, const struct strlist *rlist,
				 struct strlist *out);

/* Plans the folder structure from the remote listing rlist (server names,
 * any order; with the folderincludes found) with separator rsep and the
 * local listing llist. Local folders
 * not known on the server become plan->c entries when the remote repository
 * would sync them (with the loop check, only when the remote may create
 * folders). Returns 0, or -1 with *error_r (one line; a Python error names
 * the option's file:line and the folder; or the INFINITE FOLDER CREATION
 * text). */
int folder_map_plan(struct folder_map *fm, const struct strlist *rlist, char rsep,
		    const struct strlist *llist, struct fm_plan *plan, char **error_r);
void fm_plan_free(struct fm_plan *plan);

/* One name either way (live mount, status): the remote server name of
 * local folder `local`, and the local name of server name `wire` (NULL when
 * the local separator clashes). NULL with *error_r on a Python error. */
char *folder_map_to_remote(struct folder_map *fm, const char *local, char rsep, char **error_r);
char *folder_map_to_local(struct folder_map *fm, const char *wire, char rsep, char **error_r);

/* The names OfflineIMAP files its state under for server folder `wire`:
 * *name_r the folder's name (UTF-8 with utf8foldernames; FolderValidity),
 * *visible_r its remote visible name with rsep turned into '.'
 * (LocalStatus-sqlite, which OfflineIMAP names after the visible name).
 * Both malloc'd. Returns 0, or -1 with *error_r on a Python error. */
int folder_map_offlineimap_names(struct folder_map *fm, const char *wire, char rsep,
				 char **name_r, char **visible_r, char **error_r);

/* copy_ignore_eval of the remote repository for server folder `wire`:
 * OfflineIMAP calls it with the folder's visible name and never copies the
 * UIDs it returns (None = none). *uids_r (malloc'd, may be NULL when
 * *n_r is 0). Without the option: 0 UIDs, no Python. Returns 0, or -1 with
 * *error_r naming the option and the folder. */
int folder_map_copy_ignore(struct folder_map *fm, const char *wire, char rsep, uint32_t **uids_r,
			   size_t *n_r, char **error_r);

/* The name FMD5 hashes for local folder `local`: its local visible name
 * (malloc'd), or NULL when there is no local nametrans (then it is the
 * folder name). Cached from the last plan. For struct maildir_settings. */
char *folder_map_fmd5_name(void *fm, const char *local);

#endif
