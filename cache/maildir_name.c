#include "cache/maildir_name.h"

#include <stdlib.h>
#include <string.h>

#include "common/hash.h"
#include "common/xalloc.h"

/* Python's \w on a str: letters, digits, '_' and (for our purposes) any
 * non-ASCII byte, which is part of a UTF-8 encoded letter. */
static bool is_word_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c >= 0x80;
}

/* First "<infosep>2," in name, else the first "<other>2," where other is
 * the other of ':' and '!', or NULL. Reading both forms whatever
 * maildir-windows-compatible says means a name is never read as flagless
 * (and its flags then removed on the server) because the option was
 * switched, or another program used the other form (OfflineIMAP reads
 * only the configured one: offlineimap.md 2.2). */
static const char *find_info(const char *name, char infosep)
{
	const char marker[4] = { infosep, '2', ',', '\0' };
	const char *p = strstr(name, marker);
	if (p || (infosep != ':' && infosep != '!'))
		return p;
	const char other[4] = { infosep == ':' ? '!' : ':', '2', ',', '\0' };
	return strstr(name, other);
}

void maildir_name_parse(const char *name, const char *folder_md5, char infosep,
			struct maildir_name_info *info_r)
{
	memset(info_r, 0, sizeof(*info_r));

	const char *info = find_info(name, infosep);
	if (info) {
		const char *p = info + 3, *end = p;
		while (*end && is_word_char((unsigned char)*end))
			end++;
		info_r->flags = flags_from_letters(p, (size_t)(end - p));
		info_r->has_info = true;
		info_r->base_len = (size_t)(info - name);
	} else {
		info_r->base_len = strlen(name);
	}

	char fmd5[6 + HASH_MD5_HEX_LEN + 1];
	memcpy(fmd5, ",FMD5=", 6);
	memcpy(fmd5 + 6, folder_md5, HASH_MD5_HEX_LEN);
	fmd5[6 + HASH_MD5_HEX_LEN] = '\0';
	if (!strstr(name, fmd5))
		return;

	/* re.search(r',U=(\d+)'): the first ",U=" followed by a digit. */
	for (const char *u = strstr(name, ",U="); u; u = strstr(u + 1, ",U=")) {
		const char *d = u + 3;
		if (*d < '0' || *d > '9')
			continue;
		uint64_t uid = 0;
		for (; *d >= '0' && *d <= '9'; d++) {
			uid = uid * 10 + (uint64_t)(*d - '0');
			if (uid > UINT32_MAX)
				return; /* not a valid IMAP UID: treat as none */
		}
		info_r->uid = (uint32_t)uid;
		return;
	}
}

static char *slash_to_dash(char *s)
{
	for (char *p = s; *p; p++)
		if (*p == '/')
			*p = '-';
	return s;
}

char *maildir_name_new(int64_t now, unsigned seq, long pid, const char *host, uint32_t uid,
		       const char *folder_md5, char infosep, flagset_t flags)
{
	char letters[FLAGS_LETTERS_MAX];
	flags_to_letters(flags, letters);
	char *name;
	if (uid)
		name = xasprintf("%lld_%u.%ld.%s,U=%u,FMD5=%.32s%c2,%s", (long long)now, seq, pid,
				 host, uid, folder_md5, infosep, letters);
	else
		name = xasprintf("%lld_%u.%ld.%s,FMD5=%.32s%c2,%s", (long long)now, seq, pid, host,
				 folder_md5, infosep, letters);
	return slash_to_dash(name);
}

char *maildir_name_with_flags(const char *name, char infosep, flagset_t flags)
{
	const char *info = find_info(name, infosep);
	size_t base_len = info ? (size_t)(info - name) : strlen(name);
	char letters[FLAGS_LETTERS_MAX];
	flags_to_letters(flags, letters);
	return xasprintf("%.*s%c2,%s", (int)base_len, name, infosep, letters);
}

const char *maildir_subdir_for(flagset_t flags)
{
	return flags_has(flags, FLAG_SEEN) ? "cur" : "new";
}

void maildir_folder_md5(const char *local_folder, char *out)
{
	hash_md5_hex(local_folder, strlen(local_folder), out);
}

static bool is_reserved_component(const char *c, size_t len)
{
	return (len == 1 && c[0] == '.') || (len == 2 && !memcmp(c, "..", 2)) ||
	       (len == 3 && (!memcmp(c, "cur", 3) || !memcmp(c, "new", 3) || !memcmp(c, "tmp", 3)));
}

int maildir_folder_path_check(const char *local_folder, char sep)
{
	if (local_folder[0] == '\0')
		return 0; /* the root folder */
	if (sep != '/')
		return strchr(local_folder, '/') || is_reserved_component(local_folder, strlen(local_folder))
			       ? -1
			       : 0;
	for (const char *c = local_folder;;) {
		const char *slash = strchr(c, '/');
		size_t len = slash ? (size_t)(slash - c) : strlen(c);
		if (len == 0 || is_reserved_component(c, len))
			return -1;
		if (!slash)
			return 0;
		c = slash + 1;
	}
}
