#include "sync/newmail.h"

#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/pyeval.h"
#include "common/xalloc.h"

struct newmail_hooks {
	struct strlist accounts; /* account names with a hook */
	int *handles;            /* their pyeval handles, same order */
};

void newmail_free(struct newmail_hooks **nmp)
{
	struct newmail_hooks *nm = *nmp;
	if (!nm)
		return;
	strlist_free(&nm->accounts);
	free(nm->handles);
	free(nm);
	*nmp = NULL;
}

int newmail_load(const struct config *cfg, const struct account_settings *accounts, size_t n,
		 struct newmail_hooks **nm_r, char **error_r)
{
	*nm_r = NULL;
	struct newmail_hooks *nm = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct account_settings *a = &accounts[i];
		if (a->remote.type != REPO_TYPE_IMAP)
			continue;
		char *section = xasprintf("Repository %s", a->remote.name);
		char *err = NULL;
		const char *expr = config_get(cfg, section, "newmail_hook", &err);
		if (err) {
			*error_r = err;
			free(section);
			newmail_free(&nm);
			return -1;
		}
		if (!expr) {
			free(section);
			continue;
		}
		if (!nm) {
			nm = xcalloc(1, sizeof(*nm));
			const char *pyfile = config_get(cfg, "general", "pythonfile", NULL);
			if (pyfile && *pyfile) {
				char *expanded = config_expand_path(pyfile);
				pyeval_configure(expanded);
				free(expanded);
			}
		}
		int h = -1;
		char *why = NULL;
		if (pyeval_define(expr, 0, true, &h, &why) < 0) {
			*error_r = xasprintf("%s: option 'newmail_hook' in section '%s': %s",
					     config_where(cfg, section, "newmail_hook"), section, why);
			free(why);
			free(section);
			newmail_free(&nm);
			return -1;
		}
		free(section);
		strlist_add(&nm->accounts, a->name);
		nm->handles = xrealloc(nm->handles, nm->accounts.n * sizeof(*nm->handles));
		nm->handles[nm->accounts.n - 1] = h;
	}
	*nm_r = nm;
	return 0;
}

void newmail_notify(void *ctx, const struct account_settings *a, const char *remote_name)
{
	struct newmail_hooks *nm = ctx;
	if (!nm || strcmp(remote_name, "INBOX") != 0)
		return;
	int i = strlist_find(&nm->accounts, a->name);
	if (i < 0)
		return;
	struct json_object *args = json_object_new_array(), *result = NULL;
	char *why = NULL;
	int rc = pyeval_call_json(nm->handles[i], args, false, &result, &why);
	/* PYEVAL_ETYPE: the hook ran and returned something JSON cannot carry
	 * (a Popen, say); OfflineIMAP ignores the value. */
	if (rc < 0 && rc != PYEVAL_ETYPE)
		log_error("Account %s: folder %s: newmail_hook: %s", a->name, remote_name, why);
	free(why);
	json_object_put(result);
	json_object_put(args);
}
