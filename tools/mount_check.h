/* mount_check.h — `offlinefs mount`'s checks of its paths, before anything
 * is created.
 *
 * Owns: refusing a mountpoint that cannot work while nothing exists yet:
 * the mount command used to create the Maildir, the metadata directory and
 * the mountpoint first and only then hear from the FUSE layer
 * (fs/maildir_fs.c) that the mountpoint is a regular file or the Maildir
 * itself. The FUSE layer keeps its own checks (they also see a mount
 * that appeared meanwhile); these say the same thing earlier.
 */
#ifndef OFFLINEFS_MOUNT_CHECK_H
#define OFFLINEFS_MOUNT_CHECK_H

/* path made absolute and resolved as far as it exists (the missing tail is
 * appended as written). malloc'd; NULL with errno when even the cwd cannot
 * be read. */
char *mount_check_canon(const char *path);

/* Checks mountpoint against the Maildir root (localfolders): the
 * mountpoint, when it exists, must be a directory, and neither path may be
 * the other or lie inside it. Returns 0, or -1 with a one-line *error_r
 * (malloc'd). Creates nothing. */
int mount_check_paths(const char *mountpoint, const char *maildir, char **error_r);

#endif
