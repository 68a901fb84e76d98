/* maildir_name.h — the Maildir filename codec, OfflineIMAP-compatible.
 *
 * Owns: building and parsing message file names and mapping folder names
 * to directories. Pure: no I/O except maildir_name_new() reading the clock,
 * pid and host name it is given.
 *
 * Written form (OfflineIMAP folder/Maildir.py new_message_filename):
 *   <time>_<seq>.<pid>.<host>,U=<uid>,FMD5=<md5 of local folder name><infosep>2,<sorted flags>
 * e.g. "1795648861_0.13031.vm,U=1,FMD5=7e33429f656f1e6e9d79b29c3f82c57e:2,S".
 * '/' in the host name becomes '-'. An unflagged message still ends in
 * ":2,". The file goes to cur/ when S is set, else new/.
 *
 * Parsing (OfflineIMAP _parse_filename): the UID counts only when the name
 * contains ",FMD5=<this folder's md5>"; it is then the first ",U=<digits>".
 * Flags are the letters after "<infosep>2,"; a name without it that has
 * the other separator's "2," (':' vs '!', maildir-windows-compatible) is
 * read with that one's flags, so switching the option never reads a file
 * as flagless (OfflineIMAP does, and then removes those flags on the
 * server). Names from other programs
 * (mutt, mbsync, Dovecot: "1700000000.M1P1.host:2,S") parse with uid 0.
 * A U= that does not fit 32 bits is no UID (uid 0).
 */
#ifndef OFFLINEFS_MAILDIR_NAME_H
#define OFFLINEFS_MAILDIR_NAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/flags.h"

struct maildir_name_info {
	uint32_t uid;    /* 0 when absent or FMD5 does not match */
	flagset_t flags; /* letters after "<infosep>2," */
	bool has_info;   /* "<infosep>2," present */
	size_t base_len; /* length of the part before the info suffix */
};

/* Parses name (a basename) against this folder's md5 (32 hex chars). */
void maildir_name_parse(const char *name, const char *folder_md5, char infosep,
			struct maildir_name_info *info_r);

/* Builds a fresh OfflineIMAP-style name. seq disambiguates names made in
 * the same second by one process. uid 0 leaves out ",U=<uid>" (a local
 * message not uploaded yet; it parses back as uid 0). Returns malloc'd
 * basename. */
char *maildir_name_new(int64_t now, unsigned seq, long pid, const char *host, uint32_t uid,
		       const char *folder_md5, char infosep, flagset_t flags);

/* The same name with its flags replaced (keeps everything before the info
 * suffix, found as in parsing, appends "<infosep>2,<letters>": a '!' name
 * becomes a ':' name under infosep ':'). Returns malloc'd basename. */
char *maildir_name_with_flags(const char *name, char infosep, flagset_t flags);

/* "cur" if S is in flags, else "new" (OfflineIMAP, and what makes mutt happy). */
const char *maildir_subdir_for(flagset_t flags);

/* md5 hex of the local folder name as FMD5 uses it. out: 33 bytes. */
void maildir_folder_md5(const char *local_folder, char *out);

/* Folder name <-> relative directory. With sep '/', "a/b" is nested
 * directories; with any other sep the name is one directory ("Lists.foo").
 * Returns -1 for names that would escape the root or are invalid: empty
 * components, "." or "..", a component named cur/new/tmp when sep is '/',
 * a leading '/'. With another sep the name is a single component, so any
 * '/' is invalid, and so is "cur"/"new"/"tmp" (it would land inside the
 * root folder's own subdirectories). "" is the root folder: returns 0.
 * Otherwise returns 0. */
int maildir_folder_path_check(const char *local_folder, char sep);

#endif
