#include "sync/folder_map.h"

#include <ctype.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/mutf7.h"
#include "common/pyeval.h"
#include "common/xalloc.h"

struct folder_map {
	const struct account_settings *a; /* borrowed */
	bool cli_folders;
	pthread_mutex_t mu;
	struct strlist vis_key, vis_val; /* local name -> local visible name */
};

struct folder_map *folder_map_new(const struct account_settings *a, bool cli_folders)
{
	struct folder_map *fm = xcalloc(1, sizeof(*fm));
	fm->a = a;
	fm->cli_folders = cli_folders;
	pthread_mutex_init(&fm->mu, NULL);
	return fm;
}

void folder_map_free(struct folder_map **fmp)
{
	struct folder_map *fm = *fmp;
	if (!fm)
		return;
	strlist_free(&fm->vis_key);
	strlist_free(&fm->vis_val);
	pthread_mutex_destroy(&fm->mu);
	free(fm);
	*fmp = NULL;
}

void fm_plan_free(struct fm_plan *p)
{
	for (size_t i = 0; i < p->nr; i++) {
		free(p->r[i].wire);
		free(p->r[i].name);
		free(p->r[i].local);
	}
	for (size_t i = 0; i < p->nc; i++) {
		free(p->c[i].local);
		free(p->c[i].wire);
	}
	free(p->r);
	free(p->c);
	memset(p, 0, sizeof(*p));
}

/* "<file:line>: option 'x' in section 'Repository R': <why>" */
static char *py_error(const struct repo_settings *rs, const struct pyfn *fn, const char *opt,
		      char *why)
{
	char *e = xasprintf("%s: option '%s' in section 'Repository %s': %s", fn->where, opt,
			    rs->name, why);
	free(why);
	return e;
}

/* out[i] = fn(names[i]) (or names[i] when fn is unset); then the
 * separator rule and decodefoldernames. */
static int visible_names(const struct repo_settings *rs, char sep, const char *const *names,
			 size_t n, char **out, char **error_r)
{
	if (rs->nametrans.set && n) {
		char *why = NULL;
		if (pyeval_map_str(rs->nametrans.h, names, n, out, &why) < 0) {
			*error_r = py_error(rs, &rs->nametrans, "nametrans", why);
			return -1;
		}
	} else {
		for (size_t i = 0; i < n; i++)
			out[i] = xstrdup(names[i]);
	}
	for (size_t i = 0; i < n; i++) {
		if (out[i][0] == sep && !out[i][1])
			out[i][0] = '\0';
		if (rs->decodefoldernames) {
			char *d = mutf7_decode(out[i]);
			if (d) {
				free(out[i]);
				out[i] = d;
			}
		}
	}
	return 0;
}

/* should_sync_folder: in folderincludes or folderfilter(name). */
static int filter_names(const struct repo_settings *rs, bool use_filter,
			const char *const *names, size_t n, bool *out, char **error_r)
{
	for (size_t i = 0; i < n; i++)
		out[i] = true;
	if (!use_filter || !rs->folderfilter.set || !n)
		return 0;
	char *why = NULL;
	if (pyeval_map_bool(rs->folderfilter.h, names, n, out, &why) < 0) {
		*error_r = py_error(rs, &rs->folderfilter, "folderfilter", why);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (!out[i] && strlist_find(&rs->folderincludes, names[i]) >= 0)
			out[i] = true;
	return 0;
}

static char *swap_sep(const char *s, char from, char to)
{
	char *r = xstrdup(s);
	if (from != to)
		for (char *p = r; *p; p++)
			if (*p == from)
				*p = to;
	return r;
}

struct sort_ent {
	size_t idx;
	char *key;
};

static int cmp_ent(const void *x, const void *y)
{
	const struct sort_ent *a = x, *b = y;
	int c = strcmp(a->key, b->key);
	return c ? c : (a->idx > b->idx) - (a->idx < b->idx); /* stable */
}

/* order[i]: the i-th folder in OfflineIMAP's getfolders order. */
static int sort_order(const struct repo_settings *rs, char **vis, size_t n, size_t *order,
		      char **error_r)
{
	if (rs->foldersort.set && n) {
		char *why = NULL;
		if (pyeval_sort_cmp(rs->foldersort.h, (const char *const *)vis, n, order, &why) < 0) {
			*error_r = py_error(rs, &rs->foldersort, "foldersort", why);
			return -1;
		}
		return 0;
	}
	/* key=str.lower(visible name), stable */
	struct sort_ent *e = xcalloc(n ? n : 1, sizeof(*e));
	for (size_t i = 0; i < n; i++) {
		e[i].idx = i;
		e[i].key = xstrdup(vis[i]);
		for (char *p = e[i].key; *p; p++)
			*p = (char)tolower((unsigned char)*p);
	}
	qsort(e, n, sizeof(*e), cmp_ent);
	for (size_t i = 0; i < n; i++) {
		order[i] = e[i].idx;
		free(e[i].key);
	}
	free(e);
	return 0;
}

static void free_vec(char **v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void cache_visible(struct folder_map *fm, const char *local, const char *vis)
{
	int k = strlist_find(&fm->vis_key, local);
	if (k >= 0) {
		free(fm->vis_val.v[k]);
		fm->vis_val.v[k] = xstrdup(vis);
	} else {
		strlist_add(&fm->vis_key, local);
		strlist_add(&fm->vis_val, vis);
	}
}

/* Remote folder i shares its local folder with another synced remote
 * folder (a nametrans that is not one-to-one, e.g. 'Sent Items' -> 'Sent'
 * while the server also has 'Sent'). OfflineIMAP syncs both into it under
 * one status, so each run deletes locally what the other downloaded and
 * crosses flags between unrelated messages. offlinefs syncs only the one
 * the local folder's name maps back to (local nametrans), else none of
 * them; the others are warned about and left alone on both sides. */
static bool collision_loser(char **lnames, const bool *rsync, const bool *clash, size_t n,
			    size_t i, const char *winner, const char *const *names, const char *local_repo)
{
	bool shared = false, won = false;
	for (size_t j = 0; j < n; j++) {
		if (!rsync[j] || clash[j] || strcmp(lnames[j], lnames[i]))
			continue;
		shared |= j != i;
		won |= !strcmp(winner, names[j]);
	}
	if (!won)
		winner = NULL;
	if (!shared || (winner && !strcmp(winner, names[i])))
		return false;
	if (winner)
		log_warn("Folder '%s' maps to local folder '%s'[%s] like another server folder; "
			 "syncing '%s' into it, not this one", names[i], lnames[i], local_repo, winner);
	else
		log_warn("Folder '%s' maps to local folder '%s'[%s] like another server folder, "
			 "and that name maps back to neither; syncing none of them", names[i],
			 lnames[i], local_repo);
	return true;
}

int folder_map_plan(struct folder_map *fm, const struct strlist *rlist, char rsep,
		    const struct strlist *llist, struct fm_plan *plan, char **error_r)
{
	const struct account_settings *a = fm->a;
	const struct repo_settings *R = &a->remote, *L = &a->local;
	char lsep = L->sep;
	bool utf8 = a->utf8foldernames;
	int ret = -1;
	memset(plan, 0, sizeof(*plan));

	/* remote folders: the listing (with the folderincludes the caller
	 * found on the server, folder_map_missing_includes) */
	struct strlist wire = STRLIST_INIT, names = STRLIST_INIT;
	for (size_t i = 0; i < rlist->n; i++) {
		char *d = utf8 ? mutf7_decode(rlist->v[i]) : NULL;
		strlist_add(&wire, rlist->v[i]);
		strlist_add_owned(&names, d ? d : xstrdup(rlist->v[i]));
	}
	size_t n = names.n;
	char **rvis = xcalloc(n + 1, sizeof(*rvis));
	bool *rsync = xcalloc(n + 1, sizeof(*rsync));
	size_t *order = xcalloc(n + 1, sizeof(*order));
	char **lnames = xcalloc(n + 1, sizeof(*lnames));
	bool *clashes = xcalloc(n + 1, sizeof(*clashes));
	struct strlist all_local = STRLIST_INIT; /* llist + locals of remote folders */
	struct strlist clash = STRLIST_INIT; /* local images of clashing names */
	char **lvis = NULL;
	bool *lsync = NULL;
	size_t nl = 0;
	if (visible_names(R, rsep, (const char *const *)names.v, n, rvis, error_r) < 0)
		goto out;
	if (filter_names(R, !fm->cli_folders, (const char *const *)names.v, n, rsync, error_r) < 0)
		goto out;
	if (sort_order(R, rvis, n, order, error_r) < 0)
		goto out;

	for (size_t i = 0; i < llist->n; i++)
		strlist_add(&all_local, llist->v[i]);
	for (size_t i = 0; i < n; i++) {
		lnames[i] = swap_sep(rvis[i], rsep, lsep);
		/* accounts.py: the local separator must not occur in the
		 * (untranslated) remote name; such a folder is not synced, but
		 * sync_folder_structure has already created its local image */
		if (lsep != '/' && lsep != rsep && strchr(names.v[i], lsep)) {
			strlist_add(&clash, lnames[i]);
			clashes[i] = true;
			continue;
		}
		if (strlist_find(&all_local, lnames[i]) < 0)
			strlist_add(&all_local, lnames[i]);
	}
	nl = all_local.n;
	lvis = xcalloc(nl + 1, sizeof(*lvis));
	lsync = xcalloc(nl + 1, sizeof(*lsync));
	if (visible_names(L, lsep, (const char *const *)all_local.v, nl, lvis, error_r) < 0)
		goto out;
	if (filter_names(L, true, (const char *const *)all_local.v, nl, lsync, error_r) < 0)
		goto out;
	if (L->nametrans.set) {
		pthread_mutex_lock(&fm->mu);
		for (size_t i = 0; i < nl; i++)
			cache_visible(fm, all_local.v[i], lvis[i]);
		pthread_mutex_unlock(&fm->mu);
	}

	plan->r = xcalloc(n + 1, sizeof(*plan->r));
	for (size_t k = 0; k < n; k++) {
		size_t i = order[k];
		struct fm_remote *e = &plan->r[plan->nr++];
		e->wire = xstrdup(wire.v[i]);
		e->name = xstrdup(names.v[i]);
		e->local = xstrdup(lnames[i]);
		e->remote_sync = rsync[i];
		int li = strlist_find(&all_local, lnames[i]);
		if (lsep != '/' && lsep != rsep && strchr(names.v[i], lsep)) {
			if (rsync[i])
				log_warn("Ignoring folder '%s' due to unsupported '%c' character "
					 "serving as local separator.", names.v[i], lsep);
			continue; /* e->sync false: created locally, never synced */
		}
		e->sync = rsync[i] && lsync[li];
		if (e->sync) {
			char *back = swap_sep(lvis[li], lsep, rsep);
			if (collision_loser(lnames, rsync, clashes, n, i, back,
					    (const char *const *)names.v, L->name))
				e->sync = false;
			free(back);
		}
	}

	/* local folders missing on the server (sync_folder_structure) */
	bool remote_can_create = R->createfolders && !R->readonly;
	bool any_nametrans = R->nametrans.set || L->nametrans.set;
	plan->c = xcalloc(llist->n + 1, sizeof(*plan->c));
	for (size_t i = 0; i < llist->n; i++) {
		const char *lname = llist->v[i];
		if (!*lname && !L->nametrans.set)
			continue; /* the Maildir root; no remote name maps to it */
		if (!lsync[i])
			continue;
		/* the empty image of a remote folder skipped for the separator:
		 * OfflineIMAP's next run would create a mangled copy on the server
		 * ('a.b/c' -> 'a.b.c' -> 'a/b/c'); offlinefs does not */
		if (strlist_find(&clash, lname) >= 0)
			continue;
		char *rname = swap_sep(lvis[i], lsep, rsep);
		if (!*rname || strlist_find(&names, rname) >= 0) {
			free(rname);
			continue;
		}
		bool keep = true;
		if (!fm->cli_folders &&
		    filter_names(R, true, (const char *const *)&rname, 1, &keep, error_r) < 0) {
			free(rname);
			goto out;
		}
		if (!keep) {
			log_debug(LOG_DBG_SYNC, "Not creating folder '%s' (repository '%s') as it "
				  "would be filtered out on that repository.", rname, R->name);
			free(rname);
			continue;
		}
		if (remote_can_create || !any_nametrans) {
			/* the nametrans sanity check of sync_folder_structure */
			char *back = NULL;
			const char *one = rname;
			if (visible_names(R, rsep, &one, 1, &back, error_r) < 0) {
				free(rname);
				goto out;
			}
			char *loop = swap_sep(back, rsep, lsep);
			free(back);
			if (strcmp(loop, lname) != 0) {
				if (any_nametrans) {
					*error_r = xasprintf(
						"INFINITE FOLDER CREATION DETECTED! Folder '%s' "
						"(repository '%s') would be created as folder '%s' "
						"(repository '%s'). The latter becomes '%s' in return, "
						"leading to infinite folder creation cycles. SOLUTION: "
						"1) Do set your nametrans rules on both repositories so "
						"they lead to identical names if applied back and forth. "
						"2) Use folderfilter settings on a repository to prevent "
						"some folders from being created on the other side.",
						lname, L->name, rname, R->name, loop);
					free(loop);
					free(rname);
					goto out;
				}
				/* separators alone: offlinefs skips the folder rather
				 * than stopping the account */
				log_warn("Folder %s[%s] maps to '%s' on the server, which would not "
					 "map back to it; not creating it", lname, L->name, rname);
				free(loop);
				free(rname);
				continue;
			}
			free(loop);
		}
		struct fm_create *c = &plan->c[plan->nc++];
		c->local = xstrdup(lname);
		char *w = utf8 ? mutf7_encode(rname) : NULL;
		c->wire = w ? w : xstrdup(rname);
		free(rname);
	}
	ret = 0;
out:
	if (ret < 0)
		fm_plan_free(plan);
	free_vec(rvis, n);
	free_vec(lnames, n);
	free_vec(lvis, nl);
	free(rsync);
	free(clashes);
	free(lsync);
	free(order);
	strlist_free(&all_local);
	strlist_free(&clash);
	strlist_free(&wire);
	strlist_free(&names);
	return ret;
}

char *folder_map_to_remote(struct folder_map *fm, const char *local, char rsep, char **error_r)
{
	const struct account_settings *a = fm->a;
	char *vis = NULL;
	if (visible_names(&a->local, a->local.sep, &local, 1, &vis, error_r) < 0)
		return NULL;
	char *r = swap_sep(vis, a->local.sep, rsep);
	free(vis);
	if (a->utf8foldernames) {
		char *w = mutf7_encode(r);
		if (w) {
			free(r);
			r = w;
		}
	}
	return r;
}

char *folder_map_to_local(struct folder_map *fm, const char *wire, char rsep, char **error_r)
{
	const struct account_settings *a = fm->a;
	char lsep = a->local.sep;
	char *name = a->utf8foldernames ? mutf7_decode(wire) : NULL;
	if (!name)
		name = xstrdup(wire);
	if (lsep != '/' && lsep != rsep && strchr(name, lsep)) {
		free(name);
		return NULL;
	}
	char *vis = NULL;
	const char *one = name;
	int rc = visible_names(&a->remote, rsep, &one, 1, &vis, error_r);
	free(name);
	if (rc < 0)
		return NULL;
	char *l = swap_sep(vis, rsep, lsep);
	free(vis);
	return l;
}

char *folder_map_fmd5_name(void *ctx, const char *local)
{
	struct folder_map *fm = ctx;
	const struct repo_settings *L = &fm->a->local;
	if (!L->nametrans.set)
		return NULL;
	pthread_mutex_lock(&fm->mu);
	int k = strlist_find(&fm->vis_key, local);
	char *r = k >= 0 ? xstrdup(fm->vis_val.v[k]) : NULL;
	pthread_mutex_unlock(&fm->mu);
	if (r)
		return r;
	char *err = NULL;
	if (visible_names(L, L->sep, &local, 1, &r, &err) < 0) {
		/* the plan evaluated it already; a name only seen now that
		 * fails is logged and hashed untranslated */
		log_error("%s", err);
		free(err);
		return NULL;
	}
	pthread_mutex_lock(&fm->mu);
	cache_visible(fm, local, r);
	pthread_mutex_unlock(&fm->mu);
	return r;
}

int folder_map_copy_ignore(struct folder_map *fm, const char *wire, char rsep, uint32_t **uids_r,
			   size_t *n_r, char **error_r)
{
	const struct repo_settings *R = &fm->a->remote;
	*uids_r = NULL;
	*n_r = 0;
	if (!R->copy_ignore.set)
		return 0;
	char *name = fm->a->utf8foldernames ? mutf7_decode(wire) : NULL;
	if (!name)
		name = xstrdup(wire);
	char *vis = NULL;
	const char *one = name;
	int rc = visible_names(R, rsep, &one, 1, &vis, error_r);
	free(name);
	if (rc < 0)
		return -1;
	struct json_object *args = json_object_new_array();
	json_object_array_add(args, json_object_new_string(vis));
	struct json_object *res = NULL;
	char *why = NULL;
	rc = pyeval_call_json(R->copy_ignore.h, args, false, &res, &why);
	json_object_put(args);
	if (rc == 0 && res && !json_object_is_type(res, json_type_array)) {
		rc = -1;
		why = xasprintf("expected a list of UIDs or None, got %s",
				json_type_to_name(json_object_get_type(res)));
	}
	size_t n = res ? json_object_array_length(res) : 0;
	uint32_t *uids = rc == 0 && n ? xcalloc(n, sizeof(*uids)) : NULL;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		struct json_object *u = json_object_array_get_idx(res, i);
		int64_t v = json_object_is_type(u, json_type_int) ? json_object_get_int64(u) : -1;
		if (v <= 0 || v > UINT32_MAX) {
			rc = -1;
			why = xasprintf("expected a list of UIDs, found %s",
					json_object_to_json_string_ext(u, JSON_C_TO_STRING_PLAIN));
		} else {
			uids[i] = (uint32_t)v;
		}
	}
	json_object_put(res);
	if (rc < 0) {
		free(uids);
		char *e = xasprintf("'%s': %s", vis, why);
		free(why);
		*error_r = py_error(R, &R->copy_ignore, "copy_ignore_eval", e);
		free(vis);
		return -1;
	}
	free(vis);
	*uids_r = uids;
	*n_r = n;
	return 0;
}

int folder_map_offlineimap_names(struct folder_map *fm, const char *wire, char rsep,
				 char **name_r, char **visible_r, char **error_r)
{
	const struct repo_settings *R = &fm->a->remote;
	char *name = fm->a->utf8foldernames ? mutf7_decode(wire) : NULL;
	if (!name)
		name = xstrdup(wire);
	char *vis = NULL;
	const char *one = name;
	if (visible_names(R, rsep, &one, 1, &vis, error_r) < 0) {
		free(name);
		return -1;
	}
	*name_r = name;
	*visible_r = swap_sep(vis, rsep, '.');
	free(vis);
	return 0;
}

void folder_map_missing_includes(struct folder_map *fm, const struct strlist *rlist,
				 struct strlist *out)
{
	const struct account_settings *a = fm->a;
	if (fm->cli_folders)
		return;
	for (size_t i = 0; i < a->remote.folderincludes.n; i++) {
		const char *inc = a->remote.folderincludes.v[i];
		char *w = a->utf8foldernames ? mutf7_encode(inc) : NULL;
		if (!w)
			w = xstrdup(inc);
		if (strlist_find(rlist, w) < 0 && strlist_find(out, w) < 0)
			strlist_add_owned(out, w);
		else
			free(w);
	}
}
