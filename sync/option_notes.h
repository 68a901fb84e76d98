/* option_notes.h — the options of offlineimap.conf that offlinefs accepts
 * but cannot honour, and the ones it refuses instead.
 *
 * Owns: the two tables (in option_notes.c) and their wording. Why this
 * module: issue 11 §2 — nothing offlinefs cannot do is ignored in silence.
 *   - refused: an option whose value changes where the mail goes or how
 *     the connection is made, so ignoring it would do something the user
 *     did not ask for (preauthtunnel, transporttunnel, proxy). Every such
 *     option of the whole file is named in one error, one line each.
 *   - warned: an option ignored without changing which mail is synced or
 *     where it goes (usecompression, Gmail labels, XOAUTH2 and keyring
 *     options). One warning per option per run, naming file:line:
 *       "<file>:<line>: option 'x' in section 'S' is not supported by
 *        offlinefs (why); ignored"
 *     A boolean option set to a false value is not warned about: ignoring
 *     it is exactly what it asks for.
 * What OfflineIMAP itself ignores in silence (realdelete, trashfolder,
 * spamfolder, statuschar, misspelled names) stays silent here too.
 */
#ifndef OFFLINEFS_OPTION_NOTES_H
#define OFFLINEFS_OPTION_NOTES_H

#include "common/config.h"

/* Scans every [Account] and [Repository] section of cfg for a refused
 * option. Returns 0, or -1 with *error_r (malloc'd) naming every one, one
 * "<file>:<line>: option 'x' in section 'S' ..." line each, in file order
 * of the sections. */
int option_notes_refuse(const struct config *cfg, char **error_r);

/* Appends to lines_r one warning line (format above) for each ignored
 * option set in [general], [Account <account>], [Repository <local>] or
 * [Repository <remote>] whose "file:line\037option" key (where it is set:
 * [DEFAULT]'s line for an inherited one) is not yet in said; adds each key
 * to said. Also names GSSAPI, CRAM-MD5 and XOAUTH2 in an IMAP repository's
 * auth_mechanisms, which are skipped. Pure: logs nothing. */
void option_notes_collect(const struct config *cfg, const char *account, const char *local,
			  const char *remote, struct strlist *said, struct strlist *lines_r);

/* option_notes_collect with a per-process `said`, each line given to
 * log_warn: called by account_load for every account, it says each option
 * once per run however many accounts share a section. Not thread-safe
 * (accounts are loaded before any sync starts). */
void option_notes_warn(const struct config *cfg, const char *account, const char *local,
		       const char *remote);

#endif
