/* test_folder_map.c — sync/folder_map: the default (no Python) mapping
 * byte for byte as before, utf8foldernames/decodefoldernames, and with
 * Python options nametrans both ways, filters, includes, sort and the
 * INFINITE FOLDER CREATION check. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "common/pyeval.h"
#include "sync/folder_map.h"

static void settings(struct account_settings *a)
{
	memset(a, 0, sizeof(*a));
	a->name = "T";
	a->local.name = "L";
	a->local.sep = '.';
	a->local.createfolders = true;
	a->remote.name = "R";
	a->remote.createfolders = true;
}

static void list(struct strlist *l, const char *const *v)
{
	for (; *v; v++)
		strlist_add(l, *v);
}

static const struct fm_remote *find(const struct fm_plan *p, const char *wire)
{
	for (size_t i = 0; i < p->nr; i++)
		if (!strcmp(p->r[i].wire, wire))
			return &p->r[i];
	return NULL;
}

static void test_default(void)
{
	struct account_settings a;
	settings(&a);
	struct folder_map *fm = folder_map_new(&a, false);
	struct strlist r = STRLIST_INIT, l = STRLIST_INIT;
	list(&r, (const char *[]){ "INBOX", "Lists/foo", "a.b/c", "G&AOQ-ste", "archive", NULL });
	list(&l, (const char *[]){ "", "INBOX", "Mine", "Sub.x", "Lists.foo", NULL });
	struct fm_plan p;
	char *err = NULL;
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), 0);
	CHECK_INT(p.nr, 5);
	/* order: case-insensitive visible name */
	CHECK_STR(p.r[0].wire, "a.b/c");
	CHECK_STR(p.r[1].wire, "archive");
	CHECK_STR(p.r[2].wire, "G&AOQ-ste");
	CHECK_STR(p.r[3].wire, "INBOX");
	CHECK_STR(find(&p, "Lists/foo")->local, "Lists.foo");
	/* '.' would not survive the way back: like OfflineIMAP, the local
	 * image is created (remote_sync) but never synced (N0S4A2_dotfiles,
	 * FredeEB_dotfiles, chapmanb_dotfiles of tests/realconfigs) */
	CHECK_STR(find(&p, "a.b/c")->local, "a.b.c");
	CHECK(find(&p, "a.b/c")->remote_sync && !find(&p, "a.b/c")->sync);
	CHECK_STR(find(&p, "G&AOQ-ste")->local, "G&AOQ-ste");
	CHECK(find(&p, "INBOX")->sync && find(&p, "INBOX")->remote_sync);
	/* local-only folders to create remotely; the root is not one */
	CHECK_INT(p.nc, 2);
	CHECK_STR(p.c[0].local, "Mine");
	CHECK_STR(p.c[0].wire, "Mine");
	CHECK_STR(p.c[1].local, "Sub.x");
	CHECK_STR(p.c[1].wire, "Sub/x");
	CHECK(folder_map_fmd5_name(fm, "INBOX") == NULL);
	fm_plan_free(&p);

	/* next run: that image exists locally; it is not pushed back to the
	 * server as 'a/b/c' (OfflineIMAP's second run would create it) */
	strlist_add(&l, "a.b.c");
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), 0);
	CHECK_INT(p.nc, 2);
	CHECK_STR(p.c[0].local, "Mine");
	CHECK_STR(p.c[1].local, "Sub.x");
	CHECK(!find(&p, "a.b/c")->sync);
	fm_plan_free(&p);

	char *s = folder_map_to_local(fm, "Lists/foo", '/', &err);
	CHECK_STR(s, "Lists.foo");
	free(s);
	CHECK(folder_map_to_local(fm, "a.b/c", '/', &err) == NULL);
	s = folder_map_to_remote(fm, "Lists.foo", '/', &err);
	CHECK_STR(s, "Lists/foo");
	free(s);

	/* sep '/' locally: nested, any '.' allowed */
	a.local.sep = '/';
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), 0);
	CHECK_STR(find(&p, "a.b/c")->local, "a.b/c");
	fm_plan_free(&p);

	/* utf8foldernames: decoded locally, encoded on the wire */
	a.local.sep = '.';
	a.utf8foldernames = true;
	strlist_free(&l);
	list(&l, (const char *[]){ "Caf\xc3\xa9", NULL });
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), 0);
	CHECK_STR(find(&p, "G&AOQ-ste")->local, "G\xc3\xa4ste");
	CHECK_STR(find(&p, "G&AOQ-ste")->name, "G\xc3\xa4ste");
	CHECK_INT(p.nc, 1);
	CHECK_STR(p.c[0].wire, "Caf&AOk-");
	fm_plan_free(&p);
	/* decodefoldernames: only the visible name */
	a.utf8foldernames = false;
	a.remote.decodefoldernames = true;
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), 0);
	CHECK_STR(find(&p, "G&AOQ-ste")->local, "G\xc3\xa4ste");
	CHECK_STR(find(&p, "G&AOQ-ste")->name, "G&AOQ-ste");
	fm_plan_free(&p);
	CHECK(!pyeval_started()); /* none of this needed Python */

	strlist_free(&r);
	strlist_free(&l);
	folder_map_free(&fm);
	CHECK(fm == NULL);
}

static void def(struct pyfn *fn, const char *expr)
{
	char *err = NULL;
	CHECK_INT(pyeval_define(expr, PYEVAL_WITH_RE, true, &fn->h, &err), 0);
	fn->set = true;
	fn->where = "rc:9";
}

static void test_python(void)
{
	struct account_settings a;
	settings(&a);
	def(&a.remote.nametrans, "lambda f: re.sub('^INBOX', 'inbox', f)");
	def(&a.local.nametrans, "lambda f: re.sub('^inbox', 'INBOX', f)");
	def(&a.remote.folderfilter, "lambda f: f not in ['Spam', 'Trash']");
	def(&a.local.folderfilter, "lambda f: not f.startswith('tmp')");
	def(&a.remote.foldersort, "lambda x, y: len(x) - len(y)");
	strlist_add(&a.remote.folderincludes, "Trash");
	struct folder_map *fm = folder_map_new(&a, false);
	struct strlist r = STRLIST_INIT, l = STRLIST_INIT;
	list(&r, (const char *[]){ "INBOX", "INBOX/Sub", "Spam", "Trash", "tmpx", NULL });
	list(&l, (const char *[]){ "inbox", "Mine", "SpamLocal", NULL });
	struct fm_plan p;
	char *err = NULL;
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), 0);
	CHECK_INT(p.nr, 5);
	/* foldersort on visible names: inbox(5) Trash(5) Spam(4) tmpx(4) ... stable */
	CHECK_STR(p.r[0].wire, "Spam");
	CHECK_STR(p.r[1].wire, "tmpx");
	CHECK_STR(p.r[2].wire, "INBOX");
	CHECK_STR(p.r[4].wire, "INBOX/Sub");
	CHECK_STR(find(&p, "INBOX/Sub")->local, "inbox.Sub");
	CHECK(!find(&p, "Spam")->remote_sync);
	CHECK(find(&p, "Trash")->sync); /* folderincludes wins over the filter */
	CHECK(find(&p, "tmpx")->remote_sync && !find(&p, "tmpx")->sync); /* local filter */
	CHECK_INT(p.nc, 2);
	CHECK_STR(p.c[0].wire, "Mine");
	CHECK_STR(p.c[1].wire, "SpamLocal");
	char *s = folder_map_fmd5_name(fm, "inbox");
	CHECK_STR(s, "INBOX");
	free(s);
	fm_plan_free(&p);
	s = folder_map_to_remote(fm, "inbox.Sub", '/', &err);
	CHECK_STR(s, "INBOX/Sub");
	free(s);

	/* folderincludes the listing lacks: for the caller to check */
	strlist_add(&a.remote.folderincludes, "Elsewhere");
	struct strlist miss = STRLIST_INIT;
	folder_map_missing_includes(fm, &r, &miss);
	CHECK_INT(miss.n, 1); /* Trash is listed */
	if (miss.n == 1)
		CHECK_STR(miss.v[0], "Elsewhere");
	strlist_free(&miss);
	struct folder_map *fcli = folder_map_new(&a, true);
	folder_map_missing_includes(fcli, &r, &miss);
	CHECK_INT(miss.n, 0); /* -f replaces folderincludes */
	folder_map_free(&fcli);

	/* a pair that does not invert */
	def(&a.remote.nametrans, "lambda f: 'x_' + f");
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), -1);
	CHECK(err && strstr(err, "INFINITE FOLDER CREATION DETECTED! Folder 'Mine' (repository "
			    "'L') would be created as folder 'Mine' (repository 'R'). The latter "
			    "becomes 'x_Mine' in return"));
	free(err);
	/* a nametrans that raises names the option and the folder */
	def(&a.remote.nametrans, "lambda f: f + 1");
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), -1);
	CHECK_STR(err, "rc:9: option 'nametrans' in section 'Repository R': 'INBOX': TypeError: "
		       "can only concatenate str (not \"int\") to str");
	free(err);

	strlist_free(&a.remote.folderincludes);
	strlist_free(&r);
	strlist_free(&l);
	folder_map_free(&fm);
}

/* Two server folders mapping to one local folder (benjmin-r_dotfiles and
 * analogbyte_dotfiles of tests/realconfigs, against a server holding both
 * 'Sent' and 'Sent Items'): only the one the local name maps back to syncs;
 * with no local nametrans to pick one, none does. */
static void test_collision(void)
{
	struct account_settings a;
	settings(&a);
	def(&a.remote.nametrans, "lambda f: {'Sent Items': 'Sent', 'Deleted Items': 'Trash', "
				 "'Junk': 'Spam'}.get(f, f)");
	def(&a.local.nametrans, "lambda f: {'Sent': 'Sent Items', 'Trash': 'Deleted Items'}.get(f, f)");
	struct folder_map *fm = folder_map_new(&a, false);
	struct strlist r = STRLIST_INIT, l = STRLIST_INIT;
	list(&r, (const char *[]){ "INBOX", "Sent", "Sent Items", "Deleted Items", "Trash", "Junk",
				   "Spam", NULL });
	struct fm_plan p;
	char *err = NULL;
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), 0);
	CHECK(find(&p, "Sent Items")->sync && !find(&p, "Sent")->sync);
	CHECK(find(&p, "Deleted Items")->sync && !find(&p, "Trash")->sync);
	/* 'Spam' maps back to 'Spam' (the local nametrans keeps it) */
	CHECK(find(&p, "Spam")->sync && !find(&p, "Junk")->sync);
	CHECK(find(&p, "INBOX")->sync);
	/* the local folder is still created (remote_sync) */
	CHECK(find(&p, "Sent")->remote_sync && !strcmp(find(&p, "Sent")->local, "Sent"));
	CHECK_INT(p.nc, 0);
	fm_plan_free(&p);

	/* no local nametrans: 'Sent' maps back to itself and wins */
	a.local.nametrans.set = false;
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), 0);
	CHECK(find(&p, "Sent")->sync && !find(&p, "Sent Items")->sync);
	fm_plan_free(&p);
	/* a winner outside the group: none syncs */
	strlist_free(&r);
	list(&r, (const char *[]){ "Sent Items", "Deleted Items", NULL });
	def(&a.remote.nametrans, "lambda f: 'X'");
	CHECK_INT(folder_map_plan(fm, &r, '/', &l, &p, &err), 0);
	CHECK(!find(&p, "Sent Items")->sync && !find(&p, "Deleted Items")->sync);
	fm_plan_free(&p);

	strlist_free(&r);
	strlist_free(&l);
	folder_map_free(&fm);
}

int main(void)
{
	test_default();
	test_python();
	test_collision();
	pyeval_shutdown();
	return check_report("test_folder_map");
}
