#include "cache/mail_date.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/xalloc.h"

#define MAX_TOKENS 8

static const char *const months[] = {
	"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
	"january", "february", "march", "april", "may", "june", "july", "august", "september",
	"october", "november", "december",
};
static const char *const days[] = { "mon", "tue", "wed", "thu", "fri", "sat", "sun" };
static const struct {
	const char *name;
	int hhmm;
} zones[] = {
	{ "UT", 0 },     { "UTC", 0 },    { "GMT", 0 },    { "Z", 0 },      { "AST", -400 },
	{ "ADT", -300 }, { "EST", -500 }, { "EDT", -400 }, { "CST", -600 }, { "CDT", -500 },
	{ "MST", -700 }, { "MDT", -600 }, { "PST", -800 }, { "PDT", -700 },
};

static int month_of(const char *s)
{
	for (size_t i = 0; i < sizeof(months) / sizeof(months[0]); i++)
		if (!strcasecmp(s, months[i]))
			return (int)(i % 12) + 1;
	return 0;
}

/* Python's int(): optional sign, digits only (here), else false. */
static bool py_int(const char *s, long *v_r)
{
	const char *p = s;
	if (*p == '+' || *p == '-')
		p++;
	if (!*p)
		return false;
	for (const char *q = p; *q; q++)
		if (!isdigit((unsigned char)*q))
			return false;
	if (strlen(p) > 9)
		return false;
	*v_r = strtol(s, NULL, 10);
	return true;
}

static void chop_comma(char *s)
{
	size_t n = strlen(s);
	if (n && s[n - 1] == ',')
		s[n - 1] = '\0';
}

bool mail_date_parse(const char *value, int64_t *t_r)
{
	char *copy = xstrdup(value), *save = NULL;
	char *tok[MAX_TOKENS + 2];
	size_t n = 0;
	char extra[2][64];
	bool ok = false;
	for (char *w = strtok_r(copy, " \t\r\n", &save); w && n < MAX_TOKENS;
	     w = strtok_r(NULL, " \t\r\n", &save))
		tok[n++] = w;
	if (!n)
		goto out;
	/* a weekday, with or without its comma */
	size_t l0 = strlen(tok[0]);
	bool dayname = false;
	for (size_t i = 0; i < 7; i++)
		dayname |= !strcasecmp(tok[0], days[i]);
	if (tok[0][l0 - 1] == ',' || dayname) {
		memmove(tok, tok + 1, --n * sizeof(*tok));
	} else {
		char *c = strrchr(tok[0], ',');
		if (c)
			tok[0] = c + 1;
	}
	if (n == 3) { /* RFC 850: DD-Mon-YY HH:MM:SS TZ */
		char *a = tok[0], *b = strchr(a, '-'), *c = b ? strchr(b + 1, '-') : NULL;
		if (b && c && !strchr(c + 1, '-')) {
			*b = *c = '\0';
			tok[4] = tok[2];
			tok[3] = tok[1];
			tok[0] = a;
			tok[1] = b + 1;
			tok[2] = c + 1;
			n = 5;
		}
	}
	if (n == 4) {
		char *s = tok[3], *sign = strchr(s, '+');
		if (!sign)
			sign = strchr(s, '-');
		if (sign && sign > s && strlen(sign) < sizeof(extra[0])) {
			strcpy(extra[0], sign);
			*sign = '\0';
			tok[4] = extra[0];
		} else {
			extra[1][0] = '\0';
			tok[4] = extra[1];
		}
		n = 5;
	}
	if (n < 5)
		goto out;
	char *dd = tok[0], *mm = tok[1], *yy = tok[2], *tm = tok[3], *tz = tok[4];
	if (!*dd || !*mm || !*yy)
		goto out;
	int mon = month_of(mm);
	if (!mon) {
		char *t = dd;
		dd = mm;
		mm = t;
		mon = month_of(mm);
		if (!mon)
			goto out;
	}
	chop_comma(dd);
	if (strchr(yy, ':') && strchr(yy, ':') != yy) {
		char *t = yy;
		yy = tm;
		tm = t;
	}
	chop_comma(yy);
	if (!isdigit((unsigned char)yy[0])) {
		char *t = yy;
		yy = tz;
		tz = t;
	}
	chop_comma(tm);
	/* HH:MM[:SS] or HH.MM[.SS] */
	char tbuf[64];
	if (strlen(tm) >= sizeof(tbuf))
		goto out;
	strcpy(tbuf, tm);
	char sepc = strchr(tbuf, ':') ? ':' : '.';
	if (sepc == '.' && !strchr(tbuf, '.'))
		goto out;
	char *parts[4];
	size_t np = 0;
	for (char *p = tbuf;;) {
		if (np == 4)
			goto out;
		parts[np++] = p;
		char *q = strchr(p, sepc);
		if (!q)
			break;
		*q = '\0';
		p = q + 1;
	}
	if (np < 2 || np > 3)
		goto out;
	long y, d, hh, mi, ss = 0;
	if (!py_int(yy, &y) || !py_int(dd, &d) || !py_int(parts[0], &hh) ||
	    !py_int(parts[1], &mi) || (np == 3 && !py_int(parts[2], &ss)))
		goto out;
	if (y < 100)
		y += y > 68 ? 1900 : 2000;
	bool have_off = false;
	long off = 0;
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (!strcasecmp(tz, zones[i].name)) {
			off = zones[i].hhmm;
			have_off = true;
		}
	if (!have_off && py_int(tz, &off)) {
		have_off = true;
		if (off == 0 && tz[0] == '-')
			have_off = false; /* -0000: no zone information */
	}
	/* Python: "if tzoffset:" leaves a zero offset as it is (UTC) */
	long secs = 0;
	if (have_off && off) {
		long sign = off < 0 ? -1 : 1;
		off *= sign;
		secs = sign * ((off / 100) * 3600 + (off % 100) * 60);
	}
	struct tm t = { .tm_year = (int)y - 1900, .tm_mon = mon - 1, .tm_mday = (int)d,
			.tm_hour = (int)hh, .tm_min = (int)mi, .tm_sec = (int)ss, .tm_isdst = -1 };
	if (have_off) {
		*t_r = (int64_t)timegm(&t) - secs;
	} else {
		time_t lt = mktime(&t);
		if (lt == (time_t)-1)
			goto out;
		*t_r = (int64_t)lt;
	}
	ok = true;
out:
	free(copy);
	return ok;
}

bool mail_header_date(const char *msg, size_t len, const char *name, int64_t *t_r)
{
	size_t nl = strlen(name);
	const char *p = msg, *end = msg + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol ? eol + 1 : end;
		if (*p == '\n' || (*p == '\r' && next - p == 2))
			return false; /* end of the header block */
		if ((size_t)(next - p) > nl && !strncasecmp(p, name, nl) && p[nl] == ':') {
			/* the value, with its continuation lines */
			const char *v = p + nl + 1, *ve = next;
			while (ve < end && (*ve == ' ' || *ve == '\t')) {
				const char *e2 = memchr(ve, '\n', (size_t)(end - ve));
				ve = e2 ? e2 + 1 : end;
			}
			char *val = xstrndup(v, (size_t)(ve - v));
			bool ok = mail_date_parse(val, t_r);
			free(val);
			return ok;
		}
		p = next;
	}
	return false;
}
