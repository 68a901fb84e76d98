/* status_repair.h — moving a damaged status database out of the way.
 *
 * Owns: the names a damaged offlinefs.sqlite is kept under. It is never
 * deleted: `offlinefs -o --rebuild-status` (sync/rebuild.h) renames it, its
 * -wal and its -shm to <name>.damaged-<YYYYmmdd-HHMMSS>[-wal|-shm] and a
 * fresh database is built in its place.
 */
#ifndef OFFLINEFS_STATUS_REPAIR_H
#define OFFLINEFS_STATUS_REPAIR_H

/* Renames path (and its -wal/-shm, when present) aside. *moved_r: the new
 * name of path (malloc'd), or NULL when path did not exist. Returns 0, or
 * -1 with *error_r (malloc'd, naming the file and errno). */
int status_move_aside(const char *path, char **moved_r, char **error_r);

/* Whether an error text from status_open means the file is damaged (not a
 * database, malformed, corrupt), so --rebuild-status is the way out. */
int status_error_is_damage(const char *error);

/* Replaces, in place, every byte of s that is not part of valid UTF-8, and
 * every control character, by '?': sqlite's messages about a damaged file
 * can quote bytes of that file (a garbage schema entry's name), which must
 * not reach a terminal or a log. */
void status_clean_text(char *s);

#endif
