/* Unit tests for cache/mail_date.c. Expected values are what Python's
 * email.utils.mktime_tz(parsedate_tz(value)) gives with TZ=UTC (the
 * computation OfflineIMAP uses for filename_use_mail_timestamp and
 * utime_from_header). */
#include <stdlib.h>

#include "cache/mail_date.h"
#include "tests/unit/check.h"

static void test_parse(void)
{
	static const struct {
		const char *v;
		bool ok;
		int64_t t;
	} cases[] = {
		{ "Mon, 01 Jan 2024 10:00:00 +0000", true, 1704103200 },
		{ "Tue, 2 Jan 2024 10:00:00 +0130", true, 1704184200 },
		{ "2 Jan 2024 10:00 -0500", true, 1704207600 },
		{ "Thu,3 Jan 2019 01:02:03 EST", true, 1546495323 },
		{ "Jan 4 2020 10:00:00 GMT", true, 1578132000 },
		{ "Sun, 5 January 99 23:59:59 PDT", true, 915605999 },
		{ "Sat, 06 Jan 2024 10:00:00", true, 1704535200 },
		{ "Sat, 06 Jan 2024 10:00:00 -0000", true, 1704535200 },
		{ "06-Jan-24 10:00:00 UT", true, 1704535200 },
		{ "Fri, 12 Jan 2024 10.11.12 +0100", true, 1705050672 },
		{ "Mon, 01 Jan 2024 10:00:00+0200", true, 1704096000 },
		{ "Mon, 01 Jan 2024 10:00:00 XYZ", true, 1704103200 },
		{ "garbage", false, 0 },
		{ "Mon, 32 Foo 2024 10:00:00 +0000", false, 0 },
		{ "Mon, 01 Jan 2024 +0000", false, 0 },
		{ "", false, 0 },
		{ "  Mon,  01 Jan 2024\n 10:00:00 +0000 (UTC)", true, 1704103200 },
		{ "1 Jan 68 00:00:00 +0000", true, 3092601600 },
		{ "1 Jan 69 00:00:00 +0000", true, -31536000 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t t = 0;
		bool ok = mail_date_parse(cases[i].v, &t);
		if (ok != cases[i].ok || (ok && t != cases[i].t))
			fprintf(stderr, "case %zu: \"%s\" -> %d %lld\n", i, cases[i].v, ok,
				(long long)t);
		CHECK(ok == cases[i].ok);
		if (ok && cases[i].ok)
			CHECK(t == cases[i].t);
	}
}

static void test_header(void)
{
	int64_t t = 0;
	const char *m = "From: a\nDATE: Mon, 01 Jan 2024\n 10:00:00 +0000\nDate: Tue, 2 Jan 2024 "
			"10:00:00 +0000\n\nDate: Wed, 3 Jan 2024 10:00:00 +0000\n";
	CHECK(mail_header_date(m, strlen(m), "Date", &t));
	CHECK(t == 1704103200); /* the first, folded, any case */
	const char *crlf = "Subject: x\r\n\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\n";
	CHECK(!mail_header_date(crlf, strlen(crlf), "Date", &t)); /* only in the body */
	const char *dd = "Delivery-date: Tue, 2 Jan 2024 10:00:00 +0000\nX-Date: no\n\n";
	CHECK(!mail_header_date(dd, strlen(dd), "Date", &t));
	CHECK(mail_header_date(dd, strlen(dd), "Delivery-date", &t));
	CHECK(t == 1704189600);
	const char *bad = "Date: someday\n\n";
	CHECK(!mail_header_date(bad, strlen(bad), "Date", &t));
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	test_parse();
	test_header();
	return check_report("test_mail_date");
}
