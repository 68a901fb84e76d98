/* fuzz_maildir_name.c — libFuzzer target: the Maildir file-name codec
 * (cache/maildir_name.c). Any base name parses without crashing; a name
 * re-flagged keeps its base and parses back to the flags given; folder
 * path checks of arbitrary names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cache/maildir_name.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	char infosep = (data[0] & 1) ? '!' : ':';
	char sep = (data[0] & 2) ? '/' : '.';
	char *name = malloc(size);
	memcpy(name, data + 1, size - 1);
	name[size - 1] = '\0';
	char md5[33];
	maildir_folder_md5(name, md5);
	struct maildir_name_info info;
	maildir_name_parse(name, md5, infosep, &info);
	if (info.base_len > strlen(name))
		abort();
	maildir_name_parse(name, "0123456789abcdef0123456789abcdef", infosep, &info);
	flagset_t want = flags_from_letters("DFRST", 5) & ((flagset_t)data[0] << 1);
	char *re = maildir_name_with_flags(name, infosep, want);
	struct maildir_name_info back;
	maildir_name_parse(re, md5, infosep, &back);
	if (!back.has_info || back.flags != want)
		abort(); /* the flags we wrote must read back */
	free(re);
	(void)maildir_folder_path_check(name, sep);
	char *fresh = maildir_name_new(1700000000, data[0], 1234, name, 42, md5, infosep, want);
	maildir_name_parse(fresh, md5, infosep, &back);
	free(fresh);
	free(name);
	return 0;
}
