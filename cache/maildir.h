/* maildir.h — the local Maildir repository (struct repo back-end).
 *
 * Owns: everything under localfolders: folder discovery and creation,
 * scanning new/ and cur/, writing messages (tmp -> fsync -> rename), flag
 * renames, deletion, and giving uploaded messages their U= name.
 * Behaviour follows OfflineIMAP (see ../shared/reference/offlineimap.md
 * §2): folders are directories holding cur/ new/ tmp/ (created 0700);
 * with sep '/' scanning is recursive, otherwise only the root's first-level
 * subdirectories (and the root itself, as folder "", when it has
 * cur/new/tmp) are folders; entries starting with '.' are ignored.
 *
 * list_messages: one readdir of new/ and one of cur/; no per-file stat
 * unless need_sizes. A message whose U= is already taken by another file in
 * the same folder is reported with uid 0 (a copy: uploaded as new).
 */
#ifndef OFFLINEFS_MAILDIR_H
#define OFFLINEFS_MAILDIR_H

#include <stdbool.h>

#include "common/repo.h"

struct maildir_settings {
	const char *root;  /* borrowed; localfolders, already ~/$VAR-expanded */
	char sep;          /* hierarchy separator of local folder names */
	char infosep;      /* ':' (or '!' with maildir-windows-compatible) */
	bool fsync;        /* fsync each message file before its rename */
	bool need_sizes;   /* stat files in list_messages to fill size */
	bool create_root;  /* create root (0700) on connect if missing */
};

/* name: the [Repository <name>] this is. Never fails; problems with root
 * surface from connect(). */
struct repo *maildir_repo_new(const char *name, const struct maildir_settings *s);

/* Absolute directory of a local folder (malloc'd). */
char *maildir_folder_dir(struct repo *r, const char *local_folder);

#endif
