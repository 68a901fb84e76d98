/* mutf7.h — IMAP modified UTF-7 (RFC 3501 5.1.3) <-> UTF-8. Pure.
 *
 * Owns: the folder-name codec utf8foldernames and decodefoldernames need
 * (sync/folder_map.c). Python's imaputil.IMAP_utf8 / utf8_IMAP semantics:
 * "&-" is "&", "&<base64 of UTF-16BE>-" a run of other characters.
 */
#ifndef OFFLINEFS_MUTF7_H
#define OFFLINEFS_MUTF7_H

/* Decodes; returns malloc'd UTF-8, or NULL when s is not valid modified
 * UTF-7 (bad base64, odd bytes, unpaired surrogate, unterminated "&"). */
char *mutf7_decode(const char *s);

/* Encodes UTF-8; returns malloc'd modified UTF-7, or NULL when s is not
 * valid UTF-8. */
char *mutf7_encode(const char *s);

#endif
