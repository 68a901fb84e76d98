/* The digest uidv_recover pairs messages by (sync/uidv_recover.h). */
#include <string.h>

#include "common/hash.h"
#include "sync/uidv_recover.h"
#include "tests/unit/check.h"

static void digest(const char *body, char *out)
{
	uidv_digest(body, strlen(body), out);
}

int main(void)
{
	char a[HASH_MD5_HEX_LEN + 1], b[HASH_MD5_HEX_LEN + 1];
	/* CRLF and LF are the same bytes */
	digest("Subject: x\nMessage-ID: <1@x>\n\nbody\n", a);
	digest("Subject: x\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n", b);
	CHECK_STR(a, b);
	/* the X-OfflineIMAP marker of an upload without UIDPLUS is left out */
	digest("Subject: x\nX-OfflineIMAP: 123-456\nMessage-ID: <1@x>\n\nbody\n", b);
	CHECK_STR(a, b);
	digest("X-OfflineIMAP: 123-456\r\nSubject: x\r\nMessage-ID: <1@x>\r\n\r\nbody\r\n", b);
	CHECK_STR(a, b);
	/* ... but only in the header block */
	digest("Subject: x\nMessage-ID: <1@x>\n\nbody\nX-OfflineIMAP: 123-456\n", b);
	CHECK(strcmp(a, b) != 0);
	/* the same Message-ID with other bytes is another message */
	digest("Subject: x\nMessage-ID: <1@x>\n\nbody, edited\n", b);
	CHECK(strcmp(a, b) != 0);
	/* no final newline, and a header block without a body */
	digest("Subject: x", a);
	digest("Subject: x\n", b);
	CHECK(strcmp(a, b) != 0);
	digest("", a);
	CHECK_INT((int)strlen(a), HASH_MD5_HEX_LEN);
	return check_report("test_uidv_recover");
}
