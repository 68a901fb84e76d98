/* fuzz_config.c — libFuzzer target: the OfflineIMAP config parser
 * (common/config.c) and what reads it (sync/account.c): parsing, %(name)s
 * interpolation of every value, -k overrides, the typed getters, the Python
 * list parser of idlefolders, and account_load / account_load_mount of
 * every account the text defines. Nothing may crash, leak or read out of
 * bounds, whatever the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/log.h"
#include "sync/account.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_ui(LOG_UI_QUIET);
	setenv("HOME", "/nonexistent-fuzz-home", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	char *err = NULL;
	struct config *cfg = config_parse("fuzz.rc", text, &err);
	free(err);
	err = NULL;
	/* the same bytes as a Python list literal */
	struct strlist l = STRLIST_INIT;
	char *why = NULL;
	if (account_parse_pylist(text, &l, &why) < 0)
		free(why);
	strlist_free(&l);
	free(text);
	if (!cfg)
		return 0;
	config_apply_override(cfg, "general:ui=quiet", &err);
	free(err);
	err = NULL;
	const struct strlist *sections = config_sections(cfg);
	for (size_t i = 0; sections && i < sections->n; i++) {
		const char *sec = sections->v[i];
		const struct strlist *opts = config_options(cfg, sec);
		for (size_t j = 0; opts && j < opts->n; j++) {
			const char *v = config_get(cfg, sec, opts->v[j], &err);
			free(err);
			err = NULL;
			(void)v;
			bool b;
			int64_t n;
			double d;
			if (config_get_bool(cfg, sec, opts->v[j], false, &b, &err) < 0)
				xfree_ptr(&err);
			if (config_get_int(cfg, sec, opts->v[j], 0, &n, &err) < 0)
				xfree_ptr(&err);
			if (config_get_double(cfg, sec, opts->v[j], 0, &d, &err) < 0)
				xfree_ptr(&err);
			(void)config_where(cfg, sec, opts->v[j]);
		}
		if (!strncmp(sec, "Account ", 8)) {
			struct account_settings a;
			if (account_load(cfg, sec + 8, &a, &err) == 0) {
				if (account_load_mount(cfg, &a, &err) < 0)
					xfree_ptr(&err);
			} else {
				xfree_ptr(&err);
			}
			account_free(&a);
		}
	}
	struct strlist names = STRLIST_INIT;
	if (account_names(cfg, NULL, &names, &err) < 0)
		xfree_ptr(&err);
	strlist_free(&names);
	config_free(&cfg);
	return 0;
}
