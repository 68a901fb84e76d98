#include "sync/filters.h"

#include "common/log.h"
#include "sync/account_check.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* One reader per section, each option one line with uniform errors. */
struct freader {
	const struct config *cfg;
	const char *section;
	char **error_r;
	bool failed;
};

static bool fget_bool(struct freader *r, const char *opt, bool def)
{
	bool v = def;
	if (!r->failed && config_get_bool(r->cfg, r->section, opt, def, &v, r->error_r) < 0)
		r->failed = true;
	return v;
}

static const char *fget_str(struct freader *r, const char *opt)
{
	if (r->failed)
		return NULL;
	char *err = NULL;
	const char *v = config_get(r->cfg, r->section, opt, &err);
	if (err) {
		*r->error_r = err;
		r->failed = true;
	}
	return v;
}

static void ffail(struct freader *r, const char *opt, const char *why, const char *value)
{
	if (r->failed)
		return;
	char *echo = account_echo(value); /* a value can be megabytes */
	*r->error_r = xasprintf("%s: option '%s' in section '%s': %s '%s'",
				config_where(r->cfg, r->section, opt), opt, r->section, why, echo);
	free(echo);
	r->failed = true;
}

static char *strip(const char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	size_t n = strlen(s);
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	return xstrndup(s, n);
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int digits(const char **p, int max, int *v_r)
{
	int n = 0, v = 0;
	while (n < max && isdigit((unsigned char)**p)) {
		v = v * 10 + (**p - '0');
		(*p)++;
		n++;
	}
	*v_r = v;
	return n;
}

int filters_parse_day(const char *s, struct filter_day *d_r)
{
	const char *p = s;
	int y, m, d;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &m) || *p++ != '-' ||
	    !digits(&p, 2, &d) || *p)
		return -1;
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	if (y < 1 || m < 1 || m > 12 || d < 1 ||
	    d > mdays[m - 1] + (m == 2 && is_leap(y) ? 1 : 0))
		return -1;
	d_r->year = y;
	d_r->month = m;
	d_r->day = d;
	return 0;
}

/* Midnight of d read as local time (Python's time.mktime of strptime). */
static int64_t local_midnight(const struct filter_day *d)
{
	struct tm tm = { .tm_year = d->year - 1900, .tm_mon = d->month - 1, .tm_mday = d->day,
			 .tm_isdst = -1 };
	return (int64_t)mktime(&tm);
}

/* A date ("YYYY-MM-DD") option: OfflineIMAP refuses years before 1900 and
 * days in the future ("startdate led to future date ... Abort syncing."). */
static void read_day(struct freader *r, const char *opt, const char *v, struct filter_day *d_r)
{
	char *s = strip(v);
	if (filters_parse_day(s, d_r) < 0)
		ffail(r, opt, "expected a date YYYY-MM-DD, got", s);
	else if (d_r->year < 1900)
		ffail(r, opt, "a year before 1900 in", s);
	else if (local_midnight(d_r) > (int64_t)time(NULL))
		ffail(r, opt, "a date in the future:", s);
	free(s);
}

static void read_maxage(struct freader *r, struct sync_filters *f)
{
	const char *v = fget_str(r, "maxage");
	if (!v)
		return;
	char *s = strip(v);
	char *end = NULL;
	long days = strtol(s, &end, 10);
	if (*s && end && !*end) {
		/* OfflineIMAP: int(maxage) >= 1, days back from now */
		if (days < 1 || days > 1000000)
			ffail(r, "maxage", "expected a number of days >= 1 or a date YYYY-MM-DD, got",
			      s);
		else
			f->maxage_days = (int)days;
	} else if (filters_parse_day(s, &f->maxage_day) < 0) {
		ffail(r, "maxage", "expected a number of days >= 1 or a date YYYY-MM-DD, got", s);
	} else {
		read_day(r, "maxage", s, &f->maxage_day); /* year and future checks */
	}
	free(s);
}

/* Options offlinefs accepts without effect, and why (filters.h). */
static const struct {
	const char *section; /* 'g'eneral or 'r'emote repository */
	const char *option, *why;
} noops[] = {
	{ "r", "retrycount",
	  "a fetch that fails leaves the message for the next sync, nothing is lost" },
	{ "r", "singlethreadperfolder",
	  "each folder is always synced over one connection, downloads in UID order" },
	{ "g", "ignore-readonly",
	  "a change the server refuses in a read-only folder is that folder's error, not a "
	  "warning to silence" },
};

/* Says once per account load, for each of them that is set, that it does
 * nothing here: never ignored in silence. */
static void name_noops(const struct config *cfg, const char *rsec)
{
	for (size_t i = 0; i < sizeof(noops) / sizeof(noops[0]); i++) {
		const char *sec = noops[i].section[0] == 'g' ? "general" : rsec;
		if (config_get_raw(cfg, sec, noops[i].option))
			log_info("%s: option '%s' has no effect in offlinefs: %s",
				 config_where(cfg, sec, noops[i].option), noops[i].option,
				 noops[i].why);
	}
}

int filters_load(const struct config *cfg, const char *account, const char *local,
		 const char *remote, struct sync_filters *f_r, char **error_r)
{
	memset(f_r, 0, sizeof(*f_r));
	char *asec = xasprintf("Account %s", account);
	char *lsec = xasprintf("Repository %s", local);
	char *rsec = xasprintf("Repository %s", remote);
	struct freader gen = { .cfg = cfg, .section = "general", .error_r = error_r };
	struct freader acc = { .cfg = cfg, .section = asec, .error_r = error_r };
	struct freader loc = { .cfg = cfg, .section = lsec, .error_r = error_r };
	struct freader rem = { .cfg = cfg, .section = rsec, .error_r = error_r };
	int ret = -1;

	f_r->infosep = fget_bool(&acc, "maildir-windows-compatible", false) ? '!' : ':';
	read_maxage(&acc, f_r);
	const char *v = fget_str(&loc, "startdate");
	if (v)
		read_day(&loc, "startdate", v, &f_r->startdate_local);
	v = fget_str(&rem, "startdate");
	if (v)
		read_day(&rem, "startdate", v, &f_r->startdate_remote);
	if (acc.failed || loc.failed || rem.failed)
		goto out;
	int set = (f_r->maxage_days || f_r->maxage_day.year) + (f_r->startdate_local.year != 0) +
		  (f_r->startdate_remote.year != 0);
	if (set > 1) {
		/* OfflineIMAP checks this per folder; nothing can sync, so say it once */
		*error_r = xasprintf("%s: you can set at most one of the following: maxage, "
				     "startdate (for the local folder), startdate (for the remote "
				     "folder)", config_filename(cfg));
		goto out;
	}

	v = fget_str(&rem, "reference");
	if (v) {
		char *s = strip(v);
		/* OfflineIMAP's default is the literal '""' (the empty reference) */
		if (*s && strcmp(s, "\"\"") != 0)
			f_r->reference = s;
		else
			free(s);
	}
	f_r->subscribedonly = fget_bool(&rem, "subscribedonly", false);
	v = fget_str(&acc, "filterheaders");
	if (v) {
		/* re.split(r'\s*,\s*', value), empty names dropped */
		char *copy = xstrdup(v), *save = NULL;
		for (char *w = strtok_r(copy, ",", &save); w; w = strtok_r(NULL, ",", &save)) {
			char *h = strip(w);
			if (*h)
				strlist_add_owned(&f_r->filterheaders, h);
			else
				free(h);
		}
		free(copy);
	}
	bool ts = fget_bool(&gen, "filename_use_mail_timestamp", false);
	bool ut = fget_bool(&gen, "utime_from_header", false);
	f_r->filename_use_mail_timestamp = fget_bool(&loc, "filename_use_mail_timestamp", ts);
	f_r->utime_from_header = fget_bool(&loc, "utime_from_header", ut);
	f_r->restoreatime = fget_bool(&loc, "restoreatime", false);
	f_r->ignore_readonly = fget_bool(&gen, "ignore-readonly", false);
	f_r->singlethreadperfolder = fget_bool(&rem, "singlethreadperfolder", false);
	int64_t rc = 2;
	if (!rem.failed && config_get_int(cfg, rsec, "retrycount", 2, &rc, error_r) < 0)
		rem.failed = true;
	f_r->retrycount = (int)(rc < 0 ? 0 : rc > 1000 ? 1000 : rc);
	if (gen.failed || acc.failed || loc.failed || rem.failed)
		goto out;
	name_noops(cfg, rsec);
	ret = 0;
out:
	if (ret < 0)
		filters_free(f_r);
	free(asec);
	free(lsec);
	free(rsec);
	return ret;
}

void filters_free(struct sync_filters *f)
{
	free(f->reference);
	strlist_free(&f->filterheaders);
	memset(f, 0, sizeof(*f));
	f->infosep = ':';
}

bool filters_windowed(const struct sync_filters *f)
{
	return f->maxage_days || f->maxage_day.year || f->startdate_local.year ||
	       f->startdate_remote.year;
}

/* Start (UTC) of the UTC day of t. */
static int64_t utc_day_start(int64_t t)
{
	int64_t d = t / 86400;
	if (t % 86400 < 0)
		d--;
	return d * 86400;
}

void filters_day_bounds(const struct filter_day *d, int64_t *local_cutoff_r,
			int64_t *remote_since_r)
{
	*local_cutoff_r = local_midnight(d);
	struct tm tm = { .tm_year = d->year - 1900, .tm_mon = d->month - 1, .tm_mday = d->day };
	*remote_since_r = (int64_t)timegm(&tm);
}

void filters_maxage_bounds(const struct sync_filters *f, int64_t now, int64_t *local_cutoff_r,
			   int64_t *remote_since_r)
{
	int64_t cutoff;
	if (f->maxage_days) {
		/* time.mktime(time.gmtime(now - days)): the UTC wall time read
		 * as local time, as OfflineIMAP computes it */
		time_t t = (time_t)(now - (int64_t)f->maxage_days * 86400);
		struct tm tm;
		gmtime_r(&t, &tm);
		tm.tm_isdst = -1;
		cutoff = (int64_t)mktime(&tm);
	} else {
		cutoff = local_midnight(&f->maxage_day);
	}
	*local_cutoff_r = cutoff;
	/* SEARCH SINCE <the day of gmtime(cutoff + 1 day)> */
	*remote_since_r = utc_day_start(cutoff + 86400);
}

static bool header_named(const char *line, size_t n, const struct strlist *names)
{
	const char *colon = memchr(line, ':', n);
	if (!colon)
		return false;
	size_t nl = (size_t)(colon - line);
	for (size_t i = 0; i < names->n; i++)
		if (strlen(names->v[i]) == nl && !strncasecmp(line, names->v[i], nl))
			return true;
	return false;
}

size_t filters_strip_headers(char *body, size_t len, const struct strlist *names)
{
	size_t in = 0, out = 0;
	bool dropping = false;
	while (in < len) {
		const char *eol = memchr(body + in, '\n', len - in);
		size_t n = eol ? (size_t)(eol - (body + in)) + 1 : len - in;
		const char *line = body + in;
		if (line[0] == '\n' || (n == 2 && line[0] == '\r')) {
			break; /* the empty line: the body follows */
		}
		if (line[0] != ' ' && line[0] != '\t')
			dropping = header_named(line, n, names);
		if (!dropping) {
			memmove(body + out, line, n);
			out += n;
		}
		in += n;
	}
	memmove(body + out, body + in, len - in);
	return out + (len - in);
}
