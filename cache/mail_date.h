/* mail_date.h — the date of a message from its Date: header, as
 * OfflineIMAP computes it (Python's email.utils.parsedate_tz + mktime_tz).
 *
 * Owns: finding a header in a message's header block and parsing an RFC
 * 2822 date the way Python does, leniencies included: optional weekday,
 * "Mon DD" as well as "DD Mon", full month names, two-digit years (> 68:
 * 19xx, else 20xx), HH:MM or HH:MM:SS (or dots), numeric offsets and the
 * US zone names; a date without a zone (or "-0000") is local time. Pure
 * except that local time depends on TZ. Used for
 * filename_use_mail_timestamp and utime_from_header (cache/maildir.c).
 */
#ifndef OFFLINEFS_MAIL_DATE_H
#define OFFLINEFS_MAIL_DATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Parses a Date value. Returns true with *t_r (Unix time). */
bool mail_date_parse(const char *value, int64_t *t_r);

/* The first header `name` (case-insensitive) in the header block of
 * msg[0..len) (LF or CRLF text; it ends at the first empty line), with
 * folded lines joined, parsed as a date. Returns true with *t_r. */
bool mail_header_date(const char *msg, size_t len, const char *name, int64_t *t_r);

#endif
