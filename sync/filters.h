/* filters.h — OfflineIMAP options that choose which folders and messages
 * are synced, and how the Maildir's files are named and dated.
 *
 * Owns: reading and validating these options (one "file:line: option 'x'
 * in section 'S': ..." error, before anything is touched) and the dates
 * they stand for. What each does (offlineimap.md §1.3–1.6, §4.8):
 *
 *   [Account] maildir-windows-compatible  '!' instead of ':' before "2,"
 *   [Account] maxage         days (>= 1) or YYYY-MM-DD: messages older on
 *                            both sides are left alone (sync/window.h)
 *   [Repository] startdate   YYYY-MM-DD: partial clone (sync/window.h);
 *                            at most one of maxage and the two startdates
 *   [Repository remote] reference       LIST reference prefix
 *   [Repository remote] subscribedonly  LSUB instead of LIST
 *   [Account] filterheaders  headers removed from messages uploaded to the
 *                            server (the local file keeps them)
 *   [Repository local] filename_use_mail_timestamp, utime_from_header
 *                            ([general] is the fallback of both): file name
 *                            prefix / mtime from the Date: header
 *   [Repository local] restoreatime  atime of new/ and cur/ restored
 *
 * Accepted with no effect, because offlinefs's design already gives what
 * they ask for; each one that is set is named in one info line with its
 * file:line and the reason (README lists them):
 *   [Repository remote] retrycount        a dropped connection fails the
 *       folder; the next run fetches what is missing (OfflineIMAP retries
 *       one UID FETCH), nothing is lost either way;
 *   [Repository remote] singlethreadperfolder  messages of a folder are
 *       always fetched by one connection in UID order;
 *   [general] ignore-readonly  a change the server refuses in a folder it
 *       opened read-only is an error of that folder in offlinefs (OfflineIMAP
 *       warns, and this option silences the warning): there is no warning
 *       to silence, and the error is not hidden because the change did not
 *       reach the server.
 *
 * Every option costs nothing when unset: the engine tests one bool or
 * pointer.
 */
#ifndef OFFLINEFS_FILTERS_H
#define OFFLINEFS_FILTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/config.h"
#include "common/xalloc.h"

/* A calendar day as written in the config (YYYY-MM-DD). */
struct filter_day {
	int year, month, day; /* 0 = unset */
};

struct sync_filters {
	char infosep;                 /* ':' or '!' */
	int maxage_days;              /* 0 = unset (or maxage_day is set) */
	struct filter_day maxage_day; /* maxage = YYYY-MM-DD */
	struct filter_day startdate_local, startdate_remote;
	char *reference;              /* NULL = "" */
	bool subscribedonly;
	struct strlist filterheaders; /* names as written */
	bool filename_use_mail_timestamp;
	bool utime_from_header;
	bool restoreatime;
	/* accepted, no effect (see above) */
	int retrycount;
	bool singlethreadperfolder;
	bool ignore_readonly;
};

/* Reads the options of account `account` whose repositories are sections
 * "Repository <local>" and "Repository <remote>". Returns 0, or -1 with
 * *error_r (malloc'd, one line naming file:line). */
int filters_load(const struct config *cfg, const char *account, const char *local,
		 const char *remote, struct sync_filters *f_r, char **error_r);
void filters_free(struct sync_filters *f);

/* True when maxage or a startdate is set (messages are windowed). */
bool filters_windowed(const struct sync_filters *f);

/* Parses "YYYY-MM-DD" (what Python's strptime("%Y-%m-%d") takes: 1 to 4
 * digit year, 1 or 2 digit month and day, valid calendar date). Pure. */
int filters_parse_day(const char *s, struct filter_day *d_r);

/* maxage's two bounds at time now (OfflineIMAP accounts.py
 * cachemessagelists_upto_date and folder/Base.py getmaxage):
 *   *local_cutoff_r: a Maildir file whose name's time is older is out of
 *      the window (the day's start, or now - days, read as local time);
 *   *remote_since_r: the start (UTC) of the day given to IMAP SEARCH SINCE
 *      (the day after the cutoff's day): a server message whose
 *      INTERNALDATE is earlier is out of the window. */
void filters_maxage_bounds(const struct sync_filters *f, int64_t now, int64_t *local_cutoff_r,
			   int64_t *remote_since_r);

/* filterheaders: removes from the header block of body[0..len) (LF text;
 * the header block ends at the first empty line) every header whose name
 * is in names, compared case-insensitively, with its continuation lines,
 * as Python's `del msg[name]` does for OfflineIMAP (unlike its docs, which
 * say case-sensitive). Everything else stays byte for byte (OfflineIMAP
 * re-serialises the whole message). In place; returns the new length. */
size_t filters_strip_headers(char *body, size_t len, const struct strlist *names);

/* A startdate's bounds: local cutoff (midnight, local time) and the
 * SEARCH SINCE day's start (UTC). */
void filters_day_bounds(const struct filter_day *d, int64_t *local_cutoff_r,
			int64_t *remote_since_r);

#endif
