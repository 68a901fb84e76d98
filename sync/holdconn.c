#include "sync/holdconn.h"

#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "imap/imap_repo.h"

struct held {
	bool hold;
	int keepalive;       /* seconds, 0 = no NOOPs */
	struct repo *remote; /* owned; NULL when none is held */
	double next_noop;    /* monotonic seconds */
	const char *account; /* borrowed */
};

struct holdconn {
	struct held *v;
	size_t n;
};

static double now_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

void holdconn_free(struct holdconn **hp)
{
	struct holdconn *h = *hp;
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		if (h->v[i].remote)
			h->v[i].remote->ops->free(&h->v[i].remote);
	free(h->v);
	free(h);
	*hp = NULL;
}

int holdconn_load(const struct config *cfg, const struct account_settings *accounts, size_t n,
		  struct holdconn **h_r, char **error_r)
{
	*h_r = NULL;
	struct holdconn *h = xcalloc(1, sizeof(*h));
	h->v = xcalloc(n ? n : 1, sizeof(*h->v));
	h->n = n;
	bool any = false;
	for (size_t i = 0; i < n; i++) {
		const struct account_settings *a = &accounts[i];
		struct held *e = &h->v[i];
		e->account = a->name;
		if (a->remote.type != REPO_TYPE_IMAP)
			continue;
		char *section = xasprintf("Repository %s", a->remote.name);
		bool hold = false;
		int64_t ka = 0;
		int rc = config_get_bool(cfg, section, "holdconnectionopen", false, &hold, error_r);
		if (rc == 0)
			rc = config_get_int(cfg, section, "keepalive", 0, &ka, error_r);
		if (rc == 0 && (ka < 0 || ka > 86400)) {
			*error_r = xasprintf("%s: option 'keepalive' in section '%s': %lld is out of "
					     "range (0..86400 seconds)",
					     config_where(cfg, section, "keepalive"), section,
					     (long long)ka);
			rc = -1;
		}
		/* A non-empty idlefolders forces both (repository/IMAP.py). Any
		 * value other than an empty list counts: its Python is
		 * sync/idlewatch.c's business. */
		const char *idle = rc == 0 ? config_get(cfg, section, "idlefolders", NULL) : NULL;
		struct strlist names = STRLIST_INIT;
		char *why = NULL;
		bool has_idle = idle && (account_parse_pylist(idle, &names, &why) < 0 || names.n > 0);
		free(why);
		strlist_free(&names);
		free(section);
		if (rc < 0) {
			holdconn_free(&h);
			return -1;
		}
		if (has_idle) {
			hold = true;
			if (ka == 0)
				ka = 29 * 60;
		}
		e->hold = hold;
		e->keepalive = (int)ka;
		any = any || hold;
	}
	if (!any)
		holdconn_free(&h);
	*h_r = h;
	return 0;
}

struct repo **holdconn_slot(struct holdconn *h, size_t i)
{
	if (!h || i >= h->n || !h->v[i].hold)
		return NULL;
	struct held *e = &h->v[i];
	if (e->remote && imap_repo_noop(e->remote) != REPO_OK) {
		log_info("Account %s: the held connection is gone (%s); logging in again", e->account,
			 repo_error(e->remote));
		e->remote->ops->free(&e->remote);
	}
	e->next_noop = now_mono() + e->keepalive;
	return &e->remote;
}

void holdconn_keepalive(struct holdconn *h)
{
	if (!h)
		return;
	double now = now_mono();
	for (size_t i = 0; i < h->n; i++) {
		struct held *e = &h->v[i];
		if (!e->remote || e->keepalive <= 0 || now < e->next_noop)
			continue;
		e->next_noop = now + e->keepalive;
		log_debug(LOG_DBG_IMAP, "Account %s: keepalive NOOP", e->account);
		if (imap_repo_noop(e->remote) != REPO_OK) {
			log_warn("Attempting NOOP on dropped connection (account %s): %s", e->account,
				 repo_error(e->remote));
			e->remote->ops->free(&e->remote);
		}
	}
}
