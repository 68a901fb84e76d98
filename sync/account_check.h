/* account_check.h — the checks of an account's settings that go beyond
 * parsing one value, run by account_load before anything is touched.
 *
 * Owns: what makes a remote repository's host, user, cert_fingerprint,
 * sslcacertfile and auth_mechanisms acceptable, and the cut of echoed
 * values in error lines. Why here and not at connect time: a bad value
 * found while connecting is reported after the metadata directory, the
 * status DB and the lock were created (and with several accounts, after
 * other accounts were synced); the rule is one line naming file:line, exit
 * 1, nothing created.
 *
 *   remotehost       1..253 bytes, labels of at most 63, no space or
 *                    control character (what DNS can carry)
 *   remoteuser       at most 255 bytes, no control character (a CR or LF
 *                    would end the IMAP command it is sent in)
 *   cert_fingerprint every entry a hex sha1/224/256/384/512 digest
 *                    (imap/tls.c parses them the same way)
 *   sslcacertfile    readable, holding at least one PEM certificate
 *   auth_mechanisms  every name one OfflineIMAP knows (GSSAPI, XOAUTH2,
 *                    CRAM-MD5, PLAIN, LOGIN), and PLAIN or LOGIN among
 *                    them (the two offlinefs speaks; the others are
 *                    skipped as OfflineIMAP skips what the server lacks)
 */
#ifndef OFFLINEFS_ACCOUNT_CHECK_H
#define OFFLINEFS_ACCOUNT_CHECK_H

#include <stddef.h>

#include "common/config.h"
#include "sync/account.h"

/* The longest piece of a value an error line shows. */
#define ACCOUNT_ECHO_MAX 80

/* s cut to ACCOUNT_ECHO_MAX bytes (at a UTF-8 boundary) with "..." added
 * when cut, control bytes shown as '?'. malloc'd. */
char *account_echo(const char *s);

/* Checks the IMAP repository rs read from [section] of cfg. Returns 0, or
 * -1 with a one-line *error_r (malloc'd) "<file>:<line>: option 'o' in
 * section 'S': ...". */
int account_check_imap(const struct config *cfg, const char *section,
		       const struct repo_settings *rs, char **error_r);

#endif
