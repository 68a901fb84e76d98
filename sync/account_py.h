/* account_py.h — the Python-valued options of an account (the options
 * offlinefs refuses or ignores are sync/option_notes.h's).
 *
 * Owns: reading [general] pythonfile and every Python-valued option of the
 * account's two [Repository] sections (table in account_py.c), evaluating
 * them through common/pyeval.h with OfflineIMAP's globals, and the one-line
 * errors "<file>:<line>: option 'x' in section 'S': <Python exception>".
 * A config without any Python-valued option never starts Python (a
 * pythonfile alone is not executed: nothing could read its names).
 */
#ifndef OFFLINEFS_ACCOUNT_PY_H
#define OFFLINEFS_ACCOUNT_PY_H

#include "common/config.h"
#include "sync/account.h"

/* Evaluates the Python-valued options of the repositories local_name and
 * remote_name (sections "Repository <name>") into a->local / a->remote:
 * nametrans, folderfilter, foldersort, copy_ignore_eval, newmail_hook
 * become helper handles; folderincludes a list; remote{host,user,pass,port}
 * eval fill host/user/password/port (taking precedence over the plain
 * options, which load_repository then leaves alone); oauth2_*_eval fill the
 * oauth2 fields when the plain option is unset. Also reads
 * utf8foldernames, decodefoldernames and dynamic_folderfilter.
 * Every failing option is reported, one line each (lines joined by "\n"),
 * in *error_r (malloc'd); returns 0 or -1. Never logs a value. */
int account_py_load(const struct config *cfg, const char *account_section,
		    const char *local_name, const char *remote_name, struct account_settings *a,
		    char **error_r);

/* Frees what account_py_load stored in rs (not the handles: they live until
 * pyeval_shutdown). */
void account_py_free(struct repo_settings *rs);

#endif
