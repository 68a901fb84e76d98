#include "sync/mbnames.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/pyeval.h"
#include "common/xalloc.h"

struct mbnames {
	bool dry_run;
	bool incremental;
	char *dir;      /* <metadata>/mbnames */
	char *path;     /* filename, ~ and $VAR expanded */
	char *header, *sep, *footer; /* evaluated */
	char *peritem;  /* raw */
	int filter;     /* pyeval handle of folderfilter, -1 = accept all */
	int sortkey;    /* pyeval handle of the sort key function */
	int render;     /* pyeval handle: header + sep.join(peritem % d ...) + footer */
	struct strlist accounts; /* [general] accounts, for prune */
};

/* ---- Python's json.dumps, ensure_ascii ---------------------------------- */

/* Decodes one UTF-8 sequence at s (n bytes left); invalid bytes come out
 * as U+DC80..U+DCFF, which is what Python's surrogateescape makes of a
 * file name that is not UTF-8. Returns the bytes used. */
static size_t utf8_next(const unsigned char *s, size_t n, unsigned *cp_r)
{
	unsigned c = s[0];
	size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 :
		     (c & 0xf8) == 0xf0 ? 4 : 0;
	unsigned cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
	bool ok = len > 0 && len <= n;
	for (size_t i = 1; ok && i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			ok = false;
		else
			cp = (cp << 6) | (s[i] & 0x3f);
	}
	static const unsigned min[5] = { 0, 0, 0x80, 0x800, 0x10000 };
	if (ok && (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)))
		ok = false;
	if (!ok) {
		*cp_r = 0xdc00 + c;
		return 1;
	}
	*cp_r = cp;
	return len;
}

static void json_string(struct strbuf *sb, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	sb_addc(sb, '"');
	while (n) {
		unsigned cp;
		size_t used = utf8_next(p, n, &cp);
		p += used;
		n -= used;
		switch (cp) {
		case '"': sb_adds(sb, "\\\""); continue;
		case '\\': sb_adds(sb, "\\\\"); continue;
		case '\n': sb_adds(sb, "\\n"); continue;
		case '\r': sb_adds(sb, "\\r"); continue;
		case '\t': sb_adds(sb, "\\t"); continue;
		case '\b': sb_adds(sb, "\\b"); continue;
		case '\f': sb_adds(sb, "\\f"); continue;
		default: break;
		}
		if (cp >= 0x20 && cp < 0x7f) {
			sb_addc(sb, (char)cp);
		} else if (cp > 0xffff) {
			cp -= 0x10000;
			sb_addf(sb, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
		} else {
			sb_addf(sb, "\\u%04x", cp);
		}
	}
	sb_addc(sb, '"');
}

char *mbnames_json(const char *account, const char *localfolders, const char *const *names,
		   size_t n)
{
	struct strbuf sb = STRBUF_INIT;
	sb_addc(&sb, '[');
	for (size_t i = 0; i < n; i++) {
		if (i)
			sb_adds(&sb, ", ");
		sb_adds(&sb, "{\"accountname\": ");
		json_string(&sb, account);
		sb_adds(&sb, ", \"foldername\": ");
		json_string(&sb, names[i]);
		sb_adds(&sb, ", \"localfolders\": ");
		json_string(&sb, localfolders);
		sb_addc(&sb, '}');
	}
	sb_addc(&sb, ']');
	return sb_detach(&sb);
}

/* ---- loading -------------------------------------------------------------- */

void mbnames_free(struct mbnames **mbp)
{
	struct mbnames *mb = *mbp;
	if (!mb)
		return;
	free(mb->dir);
	free(mb->path);
	free(mb->header);
	free(mb->sep);
	free(mb->footer);
	free(mb->peritem);
	strlist_free(&mb->accounts);
	free(mb);
	*mbp = NULL;
}

static int py_fail(const struct config *cfg, const char *opt, char *why, char **error_r)
{
	*error_r = xasprintf("%s: option '%s' in section 'mbnames': %s",
			     config_where(cfg, "mbnames", opt), opt, why);
	free(why);
	return -1;
}

static const char *required(const struct config *cfg, const char *opt, bool raw, char **error_r)
{
	char *err = NULL;
	const char *v = raw ? config_get_raw(cfg, "mbnames", opt) :
			      config_get(cfg, "mbnames", opt, &err);
	if (err) {
		*error_r = err;
		return NULL;
	}
	if (!v)
		*error_r = xasprintf("%s: section [mbnames] is enabled but has no '%s' (OfflineIMAP "
				     "requires header, peritem, sep, footer and filename)",
				     config_filename(cfg), opt);
	return v;
}

static void split_accounts(const char *list, struct strlist *out)
{
	char *copy = xstrdup(list ? list : ""), *save = NULL;
	for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
		while (*w == ' ' || *w == '\t' || *w == '\n')
			w++;
		size_t n = strlen(w);
		while (n && (w[n - 1] == ' ' || w[n - 1] == '\t' || w[n - 1] == '\n'))
			n--;
		strlist_add_owned(out, xstrndup(w, n));
	}
	free(copy);
}

int mbnames_load(const struct config *cfg, bool dry_run, struct mbnames **mb_r, char **error_r)
{
	*mb_r = NULL;
	if (!config_has_section(cfg, "mbnames"))
		return 0;
	bool enabled = false;
	if (config_get_bool(cfg, "mbnames", "enabled", false, &enabled, error_r) < 0)
		return -1;
	if (!enabled)
		return 0;
	struct mbnames *mb = xcalloc(1, sizeof(*mb));
	mb->dry_run = dry_run;
	mb->filter = -1;
	if (config_get_bool(cfg, "mbnames", "incremental", false, &mb->incremental, error_r) < 0)
		goto fail;
	char *meta = account_metadata_dir(cfg);
	mb->dir = xasprintf("%s/mbnames", meta);
	free(meta);
	const char *v;
	if (!(v = required(cfg, "filename", false, error_r)))
		goto fail;
	mb->path = config_expand_path(v);
	if (!(v = required(cfg, "peritem", true, error_r)))
		goto fail;
	mb->peritem = xstrdup(v);

	/* Python from here: the pythonfile's names are the globals. */
	const char *pyfile = config_get(cfg, "general", "pythonfile", NULL);
	if (pyfile && *pyfile) {
		char *expanded = config_expand_path(pyfile);
		pyeval_configure(expanded);
		free(expanded);
	}
	static const char *const strs[] = { "header", "sep", "footer" };
	char **dst[] = { &mb->header, &mb->sep, &mb->footer };
	for (size_t i = 0; i < 3; i++) {
		char *why = NULL;
		if (!(v = required(cfg, strs[i], false, error_r)))
			goto fail;
		if (pyeval_eval_str(v, 0, false, false, dst[i], &why) < 0) {
			py_fail(cfg, strs[i], why, error_r);
			goto fail;
		}
	}
	char *why = NULL;
	v = config_get(cfg, "mbnames", "folderfilter", NULL);
	if (v && pyeval_define(v, PYEVAL_WITH_RE, true, &mb->filter, &why) < 0) {
		py_fail(cfg, "folderfilter", why, error_r);
		goto fail;
	}
	v = config_get(cfg, "mbnames", "sort_keyfunc", NULL);
	if (v) {
		if (pyeval_define(v, PYEVAL_WITH_RE, true, &mb->sortkey, &why) < 0) {
			py_fail(cfg, "sort_keyfunc", why, error_r);
			goto fail;
		}
	} else if (pyeval_define("lambda d: (d['accountname'], d['foldername'])", 0, true,
				 &mb->sortkey, &why) < 0) {
		py_fail(cfg, "sort_keyfunc", why, error_r);
		goto fail;
	}
	if (pyeval_define("lambda h, s, f, p, items: h + s.join([p % d for d in items]) + f", 0,
			  true, &mb->render, &why) < 0) {
		py_fail(cfg, "peritem", why, error_r);
		goto fail;
	}
	split_accounts(config_get(cfg, "general", "accounts", NULL), &mb->accounts);
	if (!dry_run) {
		/* makedirs(mbnamesdir), as OfflineIMAP does at start */
		char *m = account_metadata_dir(cfg);
		if (mkdir(m, 0700) < 0 && errno != EEXIST)
			log_warn("cannot create %s: %s", m, strerror(errno));
		free(m);
		if (mkdir(mb->dir, 0777) < 0 && errno != EEXIST)
			log_warn("cannot create %s: %s", mb->dir, strerror(errno));
	}
	*mb_r = mb;
	return 0;
fail:
	mbnames_free(&mb);
	return -1;
}

/* ---- files ------------------------------------------------------------------ */

/* A lock on the mbnames directory, held while a JSON is replaced or the
 * file is built: accounts synced in parallel (forked children) see each
 * other's JSON whole. -1 when the directory cannot be opened. */
static int lock_dir(const struct mbnames *mb)
{
	int fd = open(mb->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0)
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	return fd;
}

static void unlock_dir(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the flock */
}

static bool is_json_name(const char *name)
{
	size_t n = strlen(name);
	return n >= 5 && !strcmp(name + n - 5, ".json");
}

/* path.isfile(): a regular file, following symlinks. */
static bool is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *slurp(const char *path, int *errno_r)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		*errno_r = errno;
		return NULL;
	}
	struct strbuf sb = STRBUF_INIT;
	char buf[8192];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		sb_add(&sb, buf, n);
	bool bad = ferror(f);
	fclose(f);
	if (bad) {
		*errno_r = EIO;
		sb_free(&sb);
		return NULL;
	}
	return sb_detach(&sb);
}

/* Every item of every *.json, in directory order (os.listdir's). */
static struct json_object *read_items(const struct mbnames *mb)
{
	struct json_object *items = json_object_new_array();
	DIR *d = opendir(mb->dir);
	if (!d)
		return items;
	struct dirent *de;
	while ((de = readdir(d))) {
		if (!is_json_name(de->d_name))
			continue;
		char *p = xasprintf("%s/%s", mb->dir, de->d_name);
		int e = 0;
		char *text = is_file(p) ? slurp(p, &e) : NULL;
		if (!text && e) {
			log_error("could not read intermediate mbnames file '%s':%s", p, strerror(e));
		} else if (text) {
			struct json_object *list = json_tokener_parse(text);
			if (!list || !json_object_is_type(list, json_type_array)) {
				log_error("intermediate mbnames file %s not properly read", p);
			} else {
				for (size_t i = 0; i < json_object_array_length(list); i++)
					json_object_array_add(
						items, json_object_get(json_object_array_get_idx(list, i)));
			}
			json_object_put(list);
		}
		free(text);
		free(p);
	}
	closedir(d);
	return items;
}

/* Builds and writes the mbnames file; the caller holds the directory lock. */
static int write_file_locked(struct mbnames *mb)
{
	struct json_object *items = read_items(mb), *order = NULL, *result = NULL;
	char *why = NULL;
	int ret = -1;
	if (pyeval_call_json(mb->sortkey, items, true, &order, &why) < 0) {
		log_error("mbnames: sort_keyfunc: %s", why);
		goto out;
	}
	struct json_object *sorted = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(order); i++) {
		size_t k = (size_t)json_object_get_int64(json_object_array_get_idx(order, i));
		json_object_array_add(sorted, json_object_get(json_object_array_get_idx(items, k)));
	}
	struct json_object *args = json_object_new_array();
	json_object_array_add(args, json_object_new_string(mb->header));
	json_object_array_add(args, json_object_new_string(mb->sep));
	json_object_array_add(args, json_object_new_string(mb->footer));
	json_object_array_add(args, json_object_new_string(mb->peritem));
	json_object_array_add(args, sorted);
	int rc = pyeval_call_json(mb->render, args, false, &result, &why);
	json_object_put(args);
	if (rc < 0) {
		log_error("mbnames: peritem %s: %s", mb->peritem, why);
		goto out;
	}
	if (!json_object_is_type(result, json_type_string)) {
		log_error("mbnames: header, sep and footer must be strings");
		goto out;
	}
	if (mb->dry_run) {
		log_info("mbnames would write %s", mb->path);
		ret = 0;
		goto out;
	}
	/* In place, as OfflineIMAP's open('w'): a symlinked file stays a link. */
	const char *text = json_object_get_string(result);
	size_t len = (size_t)json_object_get_string_len(result);
	FILE *f = fopen(mb->path, "we");
	bool ok = f && fwrite(text, 1, len, f) == len;
	int e = errno;
	if (f && fclose(f) != 0 && ok) {
		ok = false;
		e = errno;
	}
	if (!ok) {
		log_error("mbnames file %s not properly written: %s", mb->path, strerror(e));
		goto out;
	}
	ret = 0;
out:
	free(why);
	json_object_put(result);
	json_object_put(order);
	json_object_put(items);
	return ret;
}

int mbnames_write(struct mbnames *mb)
{
	if (!mb || mb->incremental)
		return 0;
	int fd = lock_dir(mb);
	int rc = write_file_locked(mb);
	unlock_dir(fd);
	return rc;
}

void mbnames_after_folders(void *ctx, const struct account_settings *a,
			   const struct strlist *local_names)
{
	struct mbnames *mb = ctx;
	struct strlist keep = STRLIST_INIT;
	for (size_t i = 0; i < local_names->n; i++) {
		const char *name = local_names->v[i];
		if (strlist_find(&keep, name) >= 0)
			continue;
		bool yes = true;
		char *why = NULL;
		const char *args[2] = { a->name, name };
		if (mb->filter >= 0 && pyeval_call_bool(mb->filter, args, 2, &yes, &why) < 0) {
			log_error("Account %s: mbnames folderfilter on '%s': %s", a->name, name, why);
			free(why);
			strlist_free(&keep);
			return;
		}
		if (yes)
			strlist_add(&keep, name);
	}
	char *json = mbnames_json(a->name, a->local.localfolders, (const char *const *)keep.v,
				  keep.n);
	strlist_free(&keep);
	char *path = xasprintf("%s/%s.json", mb->dir, a->name);
	if (mb->dry_run) {
		log_info("mbnames would write %s", path);
		if (mb->incremental)
			write_file_locked(mb);
		goto out;
	}
	/* Replaced by rename (a reader sees the old list or the new one);
	 * the temporary name does not end in .json, so no reader takes it. */
	int fd = lock_dir(mb);
	char *tmp = xasprintf("%s/.%s.json.tmp", mb->dir, a->name);
	FILE *f = fopen(tmp, "we");
	size_t len = strlen(json);
	bool ok = f && fwrite(json, 1, len, f) == len;
	if (f && fclose(f) != 0)
		ok = false;
	if (!ok || rename(tmp, path) < 0) {
		log_error("intermediate mbnames file %s not properly written: %s", path,
			  strerror(errno));
		unlink(tmp);
	} else if (mb->incremental) {
		write_file_locked(mb);
	}
	free(tmp);
	unlock_dir(fd);
out:
	free(path);
	free(json);
}

int mbnames_prune(const struct config *cfg, struct mbnames *mb, bool dry_run)
{
	char *meta = account_metadata_dir(cfg);
	char *dir = xasprintf("%s/mbnames", meta);
	free(meta);
	DIR *d = opendir(dir);
	int ret = 0;
	bool removals = false;
	struct strlist names = STRLIST_INIT;
	if (d) {
		struct dirent *de;
		while ((de = readdir(d)))
			if (is_json_name(de->d_name))
				strlist_add(&names, de->d_name);
		closedir(d);
	}
	for (size_t i = 0; i < names.n; i++) {
		char *p = xasprintf("%s/%s", dir, names.v[i]);
		char *account = xstrndup(names.v[i], strlen(names.v[i]) - 5);
		if (is_file(p) && (!mb || strlist_find(&mb->accounts, account) < 0)) {
			removals = true;
			if (dry_run) {
				log_info("mbnames would remove %s", p);
			} else if (unlink(p) < 0) {
				log_error("cannot remove %s: %s", p, strerror(errno));
				ret = -1;
			} else {
				log_info("removed %s", p);
			}
		}
		free(account);
		free(p);
	}
	if (mb && !removals)
		log_info("no cache file to remove");
	strlist_free(&names);
	free(dir);
	if (mb && mbnames_write(mb) < 0)
		ret = -1;
	return ret;
}
