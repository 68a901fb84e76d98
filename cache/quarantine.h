/* quarantine.h — a safe place for a local message we must take out of the
 * Maildir without deleting it.
 *
 * Owns: <metadata>/Account-<account>/quarantine/. Used when the server
 * accepted an upload but did not tell us the new message's UID: keeping the
 * local file would upload it again on every run (one more copy each time),
 * deleting it would trust the server with the only copy. We move it here
 * instead; the server's copy comes back on the next sync, and nothing is
 * ever lost.
 */
#ifndef OFFLINEFS_QUARANTINE_H
#define OFFLINEFS_QUARANTINE_H

#include <stdbool.h>
#include <stddef.h>

/* Writes body to dir/<name> (dir created 0700; an existing name gets a
 * numeric suffix), through a temporary file and rename, fsync'd when asked.
 * Returns 0 and the final path in *path_r (malloc'd), or -1 and *error_r. */
int quarantine_save(const char *dir, const char *name, const char *body, size_t len, bool fsync,
		    char **path_r, char **error_r);

#endif
