/* tls.c — see tls.h. The only file that talks to OpenSSL's SSL API. */
#include "imap/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "common/xalloc.h"

/* Where the byte stream from the server stands with respect to IMAP
 * literals; see lit_scan(). */
enum lit_state {
	LIT_TEXT,   /* in a line, nothing pending */
	LIT_OPEN,   /* after "{" (and spaces) */
	LIT_NUM,    /* in the digits */
	LIT_NUM_SP, /* spaces after the digits */
	LIT_PLUS,   /* after "{N+" */
	LIT_CLOSE,  /* after "{N}" (and spaces) */
	LIT_CR,     /* after "{N}\r" */
	LIT_DATA,   /* inside a literal: skip bytes */
};

/* Numbers above this stay at it; it is far above any limit. */
#define LIT_SATURATE 1000000000000000ull

struct lit_scan {
	uint64_t limit; /* largest literal accepted */
	enum lit_state st;
	uint64_t n;     /* the announced size; in LIT_DATA the bytes left */
	char digits[24]; /* the announced size as sent, for the error */
	size_t ndigits;
};

/* One side of the socket: plain (ssl == NULL) or TLS. */
struct conn {
	int fd;
	SSL_CTX *ctx; /* owned, NULL when plain */
	SSL *ssl;     /* owned, NULL when plain */
	enum tls_failure failure; /* of the first failed read or write */
	/* Set by the first failure; every later read and write fails at once.
	 * After a timeout or a lost connection the stream is in an unknown
	 * state, and libetpan reads on after a short read (a literal's rest):
	 * a second blocking read would wait another full timeout while the
	 * error says "timed out after N s". It also keeps SSL_shutdown off a
	 * connection OpenSSL saw fail, which its manual forbids. */
	bool broken;
	struct lit_scan lit;
	char detail[128]; /* TLS_FAIL_LITERAL: why, for the error line */
};

/* Records the first failure of c and fails the call. */
static ssize_t conn_broke(struct conn *c, enum tls_failure f)
{
	if (!c->broken) {
		c->broken = true;
		c->failure = f;
	}
	return -1;
}

static ssize_t conn_read(mailstream_low *s, void *buf, size_t count);
static ssize_t conn_write(mailstream_low *s, const void *buf, size_t count);
static int conn_close(mailstream_low *s);
static int conn_get_fd(mailstream_low *s);
static void conn_free(mailstream_low *s);
static void conn_cancel(mailstream_low *s);

static mailstream_low_driver conn_driver = {
	.mailstream_read = conn_read,
	.mailstream_write = conn_write,
	.mailstream_close = conn_close,
	.mailstream_get_fd = conn_get_fd,
	.mailstream_free = conn_free,
	.mailstream_cancel = conn_cancel,
	.mailstream_get_cancel = NULL,
	.mailstream_get_certificate_chain = NULL,
	.mailstream_setup_idle = NULL,
	.mailstream_unsetup_idle = NULL,
	.mailstream_interrupt_idle = NULL,
};

/* SIGPIPE: plain writes use MSG_NOSIGNAL; OpenSSL writes with write(2), so
 * around SSL calls the signal is blocked and a SIGPIPE they raised is
 * consumed before unblocking (the way git and curl do it). */
struct sigpipe_guard {
	sigset_t old;
	bool was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
	sigset_t set, pending;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigpending(&pending);
	g->was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &set, &g->old);
}

static void sigpipe_restore(struct sigpipe_guard *g)
{
	if (!g->was_pending) {
		sigset_t set, pending;
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		sigpending(&pending);
		if (sigismember(&pending, SIGPIPE)) {
			struct timespec zero = { 0, 0 };
			int saved = errno;
			while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
				;
			errno = saved;
		}
	}
	pthread_sigmask(SIG_SETMASK, &g->old, NULL);
}

static struct conn *conn_of(mailstream_low *s)
{
	return s->data;
}

/* ---- literal bound -----------------------------------------------------
 *
 * libetpan allocates the whole announced size of a literal ("{N}\r\n",
 * up to 4 GiB) before the first byte of it arrives, so a broken or hostile
 * server could make us commit gigabytes with one line. libetpan has no hook
 * for this; but it can only act on an announcement after this driver
 * handed it the line, so the read that carries it can refuse instead.
 *
 * The scan is a small state machine over the bytes each read returns, in
 * place (no copy): inside a literal it only counts the bytes down, outside
 * one it looks at each byte for "{N}". A "{N}" (libetpan also takes "{ N }",
 * a bare LF, and "{N}" followed by data on the same line, Lotus Domino
 * style) with N above the limit fails the connection wherever it stands in a
 * line, so that none of those spellings slips through; a "{N}" or "{N+}"
 * ending a line starts a literal of N bytes, which are skipped, so mail
 * bodies containing "{123}" or even "{99999999999}" lines never count.
 * This is a bound, not a parser: a server whose text (not a literal to
 * libetpan) ends a line in "{N}" desynchronises the scan, which then misses
 * checks or, reading a later body as text, may refuse a body line with a
 * "{N}" above the limit. Servers do not end text that way (Dovecot's and
 * RFC 3501's texts never do), and the error names the cause either way. */

static void lit_fail(struct conn *c)
{
	struct lit_scan *l = &c->lit;
	uint64_t lim = l->limit;
	const char *unit = "bytes";
	if (lim >= (1u << 30) && lim % (1u << 30) == 0)
		lim >>= 30, unit = "GiB";
	else if (lim >= (1u << 20) && lim % (1u << 20) == 0)
		lim >>= 20, unit = "MiB";
	snprintf(c->detail, sizeof(c->detail),
		 "server announced a %s%s-byte literal, more than the %llu %s limit", l->digits,
		 l->ndigits >= sizeof(l->digits) - 1 ? "..." : "", (unsigned long long)lim, unit);
	conn_broke(c, TLS_FAIL_LITERAL);
}

/* Feeds buf[0..len) through the scanner; false if it refused a literal. */
static bool lit_scan(struct conn *c, const unsigned char *buf, size_t len)
{
	struct lit_scan *l = &c->lit;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = buf[i];
		switch (l->st) {
		case LIT_DATA:
			if (l->n > len - i) {
				l->n -= len - i;
				return true;
			}
			i += l->n - 1; /* the loop's i++ steps past the last byte */
			l->n = 0;
			l->st = LIT_TEXT;
			continue;
		case LIT_OPEN:
			if (ch == ' ')
				continue;
			if (ch >= '0' && ch <= '9') {
				l->st = LIT_NUM;
				l->n = 0;
				l->ndigits = 0;
				goto digit;
			}
			break;
		case LIT_NUM:
			if (ch >= '0' && ch <= '9')
				goto digit;
			if (ch == '+') {
				l->st = LIT_PLUS;
				continue;
			}
			if (ch == ' ') {
				l->st = LIT_NUM_SP;
				continue;
			}
			/* fall through */
		case LIT_NUM_SP:
			if (ch == ' ')
				continue;
			/* fall through */
		case LIT_PLUS:
			if (ch == '}') {
				if (l->n > l->limit) {
					lit_fail(c);
					return false;
				}
				l->st = LIT_CLOSE;
				continue;
			}
			break;
		case LIT_CLOSE:
			if (ch == ' ')
				continue;
			if (ch == '\r') {
				l->st = LIT_CR;
				continue;
			}
			/* fall through */
		case LIT_CR:
			if (ch == '\n') {
				l->st = l->n ? LIT_DATA : LIT_TEXT;
				continue;
			}
			break;
		case LIT_TEXT:
			break;
		}
		/* anything unexpected: back to plain text, which this byte may
		 * itself begin a new "{" in */
		l->st = ch == '{' ? LIT_OPEN : LIT_TEXT;
		continue;
digit:
		if (l->ndigits < sizeof(l->digits) - 1) {
			l->digits[l->ndigits++] = (char)ch;
			l->digits[l->ndigits] = '\0';
		}
		l->n = l->n >= LIT_SATURATE ? LIT_SATURATE : l->n * 10 + (uint64_t)(ch - '0');
	}
	return true;
}

static bool errno_is_timeout(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == ETIMEDOUT;
}

static ssize_t conn_read_raw(struct conn *c, void *buf, size_t count)
{
	if (!c->ssl) {
		for (;;) {
			ssize_t r = recv(c->fd, buf, count, 0);
			if (r > 0)
				return r;
			if (r == 0)
				return conn_broke(c, TLS_FAIL_EOF);
			if (errno == EINTR)
				continue;
			return conn_broke(c, errno_is_timeout() ? TLS_FAIL_TIMEOUT : TLS_FAIL_OTHER);
		}
	}
	if (count > INT32_MAX)
		count = INT32_MAX;
	for (;;) {
		struct sigpipe_guard g;
		sigpipe_block(&g);
		ERR_clear_error();
		errno = 0;
		int r = SSL_read(c->ssl, buf, (int)count);
		int err = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
		int saved = errno;
		sigpipe_restore(&g);
		if (r > 0)
			return r;
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			continue;
		if (err == SSL_ERROR_SYSCALL && saved == EINTR)
			continue;
		errno = saved;
		if (err == SSL_ERROR_ZERO_RETURN || (err == SSL_ERROR_SYSCALL && saved == 0))
			return conn_broke(c, TLS_FAIL_EOF); /* close_notify, or a plain close */
		if (err == SSL_ERROR_SYSCALL && errno_is_timeout())
			return conn_broke(c, TLS_FAIL_TIMEOUT);
		return conn_broke(c, TLS_FAIL_OTHER);
	}
}

static ssize_t conn_read(mailstream_low *s, void *buf, size_t count)
{
	struct conn *c = conn_of(s);
	if (c->broken)
		return -1;
	ssize_t r = conn_read_raw(c, buf, count);
	if (r > 0 && !lit_scan(c, buf, (size_t)r))
		return -1;
	return r;
}

static ssize_t conn_write(mailstream_low *s, const void *buf, size_t count)
{
	struct conn *c = conn_of(s);
	if (c->broken)
		return -1;
	if (!c->ssl) {
		for (;;) {
			ssize_t r = send(c->fd, buf, count, MSG_NOSIGNAL);
			if (r >= 0)
				return r;
			if (errno == EINTR)
				continue;
			return conn_broke(c, errno_is_timeout() ? TLS_FAIL_TIMEOUT : TLS_FAIL_OTHER);
		}
	}
	if (count > INT32_MAX)
		count = INT32_MAX;
	for (;;) {
		struct sigpipe_guard g;
		sigpipe_block(&g);
		ERR_clear_error();
		errno = 0;
		int r = SSL_write(c->ssl, buf, (int)count);
		int err = r > 0 ? SSL_ERROR_NONE : SSL_get_error(c->ssl, r);
		int saved = errno;
		sigpipe_restore(&g);
		if (r > 0)
			return r;
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			continue;
		if (err == SSL_ERROR_SYSCALL && saved == EINTR)
			continue;
		errno = saved;
		return conn_broke(c, err == SSL_ERROR_SYSCALL && errno_is_timeout() ? TLS_FAIL_TIMEOUT
										    : TLS_FAIL_OTHER);
	}
}

static int conn_close(mailstream_low *s)
{
	struct conn *c = conn_of(s);
	if (c->ssl && !c->broken) {
		/* One close_notify, no wait for the peer's: the socket is
		 * closed right after and a dead peer must not stall us. */
		struct sigpipe_guard g;
		sigpipe_block(&g);
		(void)SSL_shutdown(c->ssl);
		ERR_clear_error();
		sigpipe_restore(&g);
	}
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	return 0;
}

static int conn_get_fd(mailstream_low *s)
{
	return conn_of(s)->fd;
}

static void conn_free(mailstream_low *s)
{
	struct conn *c = conn_of(s);
	if (c->ssl)
		SSL_free(c->ssl);
	if (c->ctx)
		SSL_CTX_free(c->ctx);
	free(c);
	free(s);
}

static void conn_cancel(mailstream_low *s)
{
	struct conn *c = conn_of(s);
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
}

static mailstream_low *conn_new(int fd, SSL_CTX *ctx, SSL *ssl)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->ctx = ctx;
	c->ssl = ssl;
	c->lit.limit = TLS_LITERAL_LIMIT_DEFAULT;
	mailstream_low *low = mailstream_low_new(c, &conn_driver);
	if (!low) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	return low;
}

int tls_fd(mailstream_low *low)
{
	return low && low->driver == &conn_driver ? conn_of(low)->fd : -1;
}

bool tls_has_pending(mailstream_low *low)
{
	if (!low || low->driver != &conn_driver)
		return false;
	struct conn *c = conn_of(low);
	return c->ssl && !c->broken && SSL_has_pending(c->ssl);
}

enum tls_failure tls_last_failure(mailstream_low *low)
{
	return low && low->driver == &conn_driver ? conn_of(low)->failure : TLS_FAIL_OTHER;
}

const char *tls_failure_detail(mailstream_low *low)
{
	return low && low->driver == &conn_driver ? conn_of(low)->detail : "";
}

void tls_set_literal_limit(mailstream_low *low, uint64_t max)
{
	if (low && low->driver == &conn_driver)
		conn_of(low)->lit.limit = max;
}

/* ---- TCP ---------------------------------------------------------------- */

/* ai's address as text, in buf. */
static const char *addr_text(const struct addrinfo *ai, char buf[INET6_ADDRSTRLEN])
{
	const void *sa = ai->ai_family == AF_INET6
				 ? (const void *)&((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
				 : (const void *)&((const struct sockaddr_in *)ai->ai_addr)->sin_addr;
	if (!inet_ntop(ai->ai_family, sa, buf, INET6_ADDRSTRLEN))
		strcpy(buf, "?");
	return buf;
}

/* Waits (up to timeout_s) for the non-blocking connect of fd to ai to
 * complete, then makes the socket blocking with timeouts on every read and
 * write. Returns fd, or -1 with *error_r after closing fd. */
static int connect_wait(int fd, const struct addrinfo *ai, int timeout_s, char **error_r)
{
	char addr[INET6_ADDRSTRLEN];
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int r;
	do
		r = poll(&pfd, 1, timeout_s * 1000);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		*error_r = xasprintf("connect to %s timed out after %d s", addr_text(ai, addr),
				     timeout_s);
		goto fail;
	}
	int soerr = 0;
	socklen_t len = sizeof(soerr);
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	if (soerr) {
		*error_r = xasprintf("connect to %s: %s", addr_text(ai, addr), strerror(soerr));
		goto fail;
	}
	/* Blocking from now on, with timeouts on every read and write. */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		*error_r = xasprintf("fcntl: %s", strerror(errno));
		goto fail;
	}
	struct timeval tv = { .tv_sec = timeout_s, .tv_usec = 0 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	return fd;
fail:
	close(fd);
	return -1;
}

/* A TCP connect in flight: the addresses getaddrinfo() returned, the one
 * being tried (cur) and its socket, or the failure of the lookup. */
struct tls_pending {
	struct addrinfo *res, *cur;
	int fd;          /* -1 when no connect is in flight */
	int timeout_s;
	char *error;     /* the lookup's failure, reported by finish */
};

/* Starts a non-blocking connect to ai; returns the socket or -1 with
 * *error_r. */
static int connect_start(const struct addrinfo *ai, char **error_r)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			ai->ai_protocol);
	if (fd < 0) {
		*error_r = xasprintf("socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
		char addr[INET6_ADDRSTRLEN];
		*error_r = xasprintf("connect to %s: %s", addr_text(ai, addr), strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

struct tls_pending *tls_connect_begin(const char *host, int port, int family, int timeout_s)
{
	struct tls_pending *p = xcalloc(1, sizeof(*p));
	p->fd = -1;
	p->timeout_s = timeout_s > 0 ? timeout_s : 120;
	/* a forced family asks for exactly it, configured on a host or not */
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
				  .ai_flags = family == AF_UNSPEC ? AI_ADDRCONFIG : 0 };
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", port);

	/* "[::1]" is accepted for an IPv6 literal. */
	char *name = xstrdup(host);
	size_t nl = strlen(name);
	if (nl > 2 && name[0] == '[' && name[nl - 1] == ']') {
		memmove(name, name + 1, nl - 2);
		name[nl - 2] = '\0';
	}
	int gai = getaddrinfo(name, portstr, &hints, &p->res);
	free(name);
	if (gai != 0) {
		p->res = NULL;
		p->error = xasprintf("cannot resolve host: %s",
				     gai == EAI_SYSTEM ? strerror(errno) : gai_strerror(gai));
		return p;
	}
	/* The first address's handshake runs while the caller goes on; a
	 * failure here is remembered and the next address tried in finish. */
	for (p->cur = p->res; p->cur; p->cur = p->cur->ai_next) {
		free(p->error);
		p->error = NULL;
		if ((p->fd = connect_start(p->cur, &p->error)) >= 0)
			break;
	}
	return p;
}

void tls_connect_abandon(struct tls_pending **pp)
{
	struct tls_pending *p = *pp;
	if (!p)
		return;
	if (p->fd >= 0)
		close(p->fd);
	if (p->res)
		freeaddrinfo(p->res);
	free(p->error);
	free(p);
	*pp = NULL;
}

mailstream_low *tls_connect_finish(struct tls_pending **pp, char **error_r)
{
	struct tls_pending *p = *pp;
	char *err = NULL;
	int fd = -1;
	while (p->cur) {
		if (p->fd < 0) {
			free(err);
			err = NULL;
			p->fd = connect_start(p->cur, &err);
		}
		if (p->fd >= 0) {
			free(err);
			err = NULL;
			fd = connect_wait(p->fd, p->cur, p->timeout_s, &err);
			p->fd = -1; /* closed by connect_wait on failure */
			if (fd >= 0)
				break;
		}
		p->cur = p->cur->ai_next;
	}
	if (fd < 0) {
		if (!err)
			err = p->error ? xstrdup(p->error) : xstrdup("no address to connect to");
		*error_r = err;
		tls_connect_abandon(pp);
		return NULL;
	}
	free(err);
	tls_connect_abandon(pp);
	return conn_new(fd, NULL, NULL);
}

mailstream_low *tls_connect_tcp(const char *host, int port, int family, int timeout_s,
				char **error_r)
{
	struct tls_pending *p = tls_connect_begin(host, port, family, timeout_s);
	return tls_connect_finish(&p, error_r);
}

/* ---- fingerprints ------------------------------------------------------- */

struct fingerprint {
	const EVP_MD *md;
	const char *md_name;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned len;
};

/* Parses the comma list into fps (up to max); returns the count or -1. */
static int parse_fingerprints(const char *list, struct fingerprint *fps, int max, char **error_r)
{
	int n = 0;
	const char *p = list;
	while (*p) {
		const char *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		unsigned char bytes[EVP_MAX_MD_SIZE];
		unsigned nibbles = 0;
		bool ok = true;
		for (const char *q = p; q < end; q++) {
			int v;
			if (*q == ':' || *q == ' ' || *q == '\t')
				continue;
			if (*q >= '0' && *q <= '9')
				v = *q - '0';
			else if (*q >= 'a' && *q <= 'f')
				v = *q - 'a' + 10;
			else if (*q >= 'A' && *q <= 'F')
				v = *q - 'A' + 10;
			else {
				ok = false;
				break;
			}
			if (nibbles / 2 >= sizeof(bytes)) {
				ok = false;
				break;
			}
			if (nibbles % 2 == 0)
				bytes[nibbles / 2] = (unsigned char)(v << 4);
			else
				bytes[nibbles / 2] |= (unsigned char)v;
			nibbles++;
		}
		if (ok && nibbles > 0) {
			const EVP_MD *md = NULL;
			const char *name = NULL;
			switch (nibbles) {
			case 40: md = EVP_sha1(), name = "sha1"; break;
			case 56: md = EVP_sha224(), name = "sha224"; break;
			case 64: md = EVP_sha256(), name = "sha256"; break;
			case 96: md = EVP_sha384(), name = "sha384"; break;
			case 128: md = EVP_sha512(), name = "sha512"; break;
			}
			if (!md || n >= max) {
				ok = false;
			} else {
				fps[n].md = md;
				fps[n].md_name = name;
				memcpy(fps[n].digest, bytes, nibbles / 2);
				fps[n].len = nibbles / 2;
				n++;
			}
		} else if (ok && nibbles == 0) {
			/* empty entry ("a,,b" or trailing comma): skip */
		}
		if (!ok) {
			/* the entry is echoed, cut: a config value can be megabytes */
			int shown = end - p > 80 ? 80 : (int)(end - p);
			*error_r = xasprintf("cert_fingerprint: \"%.*s%s\" is not a hex sha1 or "
					     "sha256 (sha224/384/512) digest",
					     shown, p, shown < end - p ? "..." : "");
			return -1;
		}
		p = *end ? end + 1 : end;
	}
	if (n == 0) {
		*error_r = xstrdup("cert_fingerprint is empty");
		return -1;
	}
	return n;
}

int tls_check_fingerprints(const char *fingerprints, char **error_r)
{
	struct fingerprint fps[32];
	return parse_fingerprints(fingerprints, fps, 32, error_r) < 0 ? -1 : 0;
}

int tls_check_cafile(const char *path, char **error_r)
{
	ERR_clear_error();
	BIO *in = BIO_new_file(path, "r");
	if (!in) {
		*error_r = xasprintf("cannot read CA file: %s", strerror(errno ? errno : EIO));
		ERR_clear_error();
		return -1;
	}
	STACK_OF(X509_INFO) *infos = PEM_X509_INFO_read_bio(in, NULL, NULL, NULL);
	int certs = 0;
	for (int i = 0; infos && i < sk_X509_INFO_num(infos); i++)
		if (sk_X509_INFO_value(infos, i)->x509)
			certs++;
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	BIO_free(in);
	ERR_clear_error();
	if (certs == 0) {
		*error_r = xstrdup("not a CA file: it holds no PEM certificate (-----BEGIN "
				   "CERTIFICATE-----)");
		return -1;
	}
	return 0;
}

static char *hex_colon(const unsigned char *d, unsigned len)
{
	struct strbuf sb = STRBUF_INIT;
	for (unsigned i = 0; i < len; i++)
		sb_addf(&sb, "%s%02x", i ? ":" : "", d[i]);
	return sb_detach(&sb);
}

/* ---- TLS ---------------------------------------------------------------- */

static char *ssl_error_text(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];
	if (e == 0)
		return xasprintf("%s", what);
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	const char *reason = ERR_reason_error_string(e);
	return xasprintf("%s: %s", what, reason ? reason : buf);
}

/* What a user whose server has a certificate we cannot verify (a local
 * bridge's self-signed one: ProtonMail Bridge, DavMail) can do: its
 * sha256 fingerprint and the exact line that trusts exactly it. */
static char *pin_advice(X509 *cert, const struct tls_params *p)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned dl = 0;
	if (X509_digest(cert, EVP_sha256(), d, &dl) != 1)
		return xstrdup("cert_fingerprint");
	char *colon = hex_colon(d, dl);
	struct strbuf plain = STRBUF_INIT;
	for (unsigned i = 0; i < dl; i++)
		sb_addf(&plain, "%02x", d[i]);
	char *out = xasprintf("if you trust the certificate the server sent (sha256 fingerprint "
			      "%s), add this line to [Repository %s]: cert_fingerprint = %s",
			      colon, p->repo_name ? p->repo_name : "<remote>", plain.buf);
	free(colon);
	sb_free(&plain);
	return out;
}

/* The socket's peer is 127.0.0.0/8 or ::1 (or ::ffff:127.x): decided by
 * the address really connected to, never by the configured name. */
static bool peer_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

static bool is_ip_literal(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* The line for a certificate that did not verify: what it was checked
 * against and what to do. Only a chain that leads to no trusted CA is
 * fixed by sslcacertfile or cert_fingerprint; when sslcacertfile is set,
 * the user needs to know it was that file which did not vouch for it. */
static char *verify_failure(const struct tls_params *p, long vr)
{
	const char *why = X509_verify_cert_error_string(vr);
	if (vr == X509_V_ERR_HOSTNAME_MISMATCH || vr == X509_V_ERR_IP_ADDRESS_MISMATCH)
		return xasprintf("TLS certificate verification failed: %s: the certificate does not "
				 "name %s (use the name it was issued for in remotehost, or pin it "
				 "with cert_fingerprint)", why, p->host);
	if (vr == X509_V_ERR_CERT_HAS_EXPIRED || vr == X509_V_ERR_CERT_NOT_YET_VALID)
		return xasprintf("TLS certificate verification failed: %s (check the clock; pin "
				 "the certificate with cert_fingerprint to accept it anyway)", why);
	if (p->cafile)
		return xasprintf("TLS certificate verification failed: %s: the server's certificate "
				 "chain does not lead to a CA in sslcacertfile %s (put the server's "
				 "CA there, or pin the certificate with cert_fingerprint)", why,
				 p->cafile);
	return xasprintf("TLS certificate verification failed: %s: the system CA store does not "
			 "vouch for the server's certificate; set sslcacertfile (the server's CA) "
			 "or cert_fingerprint", why);
}

mailstream_low *tls_start(mailstream_low *plain, const struct tls_params *p, char **error_r)
{
	struct conn *pc = conn_of(plain);
	struct fingerprint fps[32];
	int nfp = 0;
	SSL_CTX *ctx = NULL;
	SSL *ssl = NULL;
	X509 *cert = NULL;
	struct sigpipe_guard g;

	if (plain->driver != &conn_driver || pc->ssl) {
		*error_r = xstrdup("internal error: TLS on a stream that is not a plain socket");
		return NULL;
	}
	if (p->fingerprints && (nfp = parse_fingerprints(p->fingerprints, fps, 32, error_r)) < 0)
		return NULL;

	ERR_clear_error();
	ctx = SSL_CTX_new(TLS_client_method());
	if (!ctx) {
		*error_r = ssl_error_text("TLS setup failed");
		return NULL;
	}
	if (p->version) {
		/* ssl_version: exactly that protocol, as OfflineIMAP's
		 * PROTOCOL_TLSv1_x; 1.0 and 1.1 need security level 0 in
		 * OpenSSL 3 (the user asked for them by name) */
		int v = p->version == 10 ? TLS1_VERSION
			: p->version == 11 ? TLS1_1_VERSION : TLS1_2_VERSION;
		SSL_CTX_set_min_proto_version(ctx, v);
		SSL_CTX_set_max_proto_version(ctx, v);
		if (v != TLS1_2_VERSION)
			SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
	} else {
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_AUTO_RETRY);
	if (p->clientcert) {
		const char *key = p->clientkey ? p->clientkey : p->clientcert;
		if (SSL_CTX_use_certificate_chain_file(ctx, p->clientcert) != 1) {
			char *what = xasprintf("cannot load sslclientcert %s", p->clientcert);
			*error_r = ssl_error_text(what);
			free(what);
			goto fail_ctx;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			char *what = xasprintf("cannot load sslclientkey %s (or it does not match "
					       "sslclientcert)", key);
			*error_r = ssl_error_text(what);
			free(what);
			goto fail_ctx;
		}
	}
	if (p->cafile) {
		if (SSL_CTX_load_verify_locations(ctx, p->cafile, NULL) != 1) {
			char *what = xasprintf("cannot load sslcacertfile %s", p->cafile);
			*error_r = ssl_error_text(what);
			free(what);
			goto fail_ctx;
		}
	} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		*error_r = ssl_error_text("cannot load the system CA store");
		goto fail_ctx;
	}
	/* The chain is verified during the handshake either way; the result is
	 * judged below, where fingerprints can overrule an unknown issuer. */
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

	ssl = SSL_new(ctx);
	if (!ssl || SSL_set_fd(ssl, pc->fd) != 1) {
		*error_r = ssl_error_text("TLS setup failed");
		goto fail_ssl;
	}
	X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
	if (is_ip_literal(p->host)) {
		X509_VERIFY_PARAM_set1_ip_asc(param, p->host);
	} else {
		SSL_set_tlsext_host_name(ssl, p->host);
		X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		X509_VERIFY_PARAM_set1_host(param, p->host, 0);
	}

	sigpipe_block(&g);
	int r, saved, err;
	for (int tries = 0;; tries++) {
		errno = 0;
		r = SSL_connect(ssl);
		saved = errno;
		err = r == 1 ? SSL_ERROR_NONE : SSL_get_error(ssl, r);
		/* A signal (SIGUSR1 "sync now", a stop request, SIGCONT after
		 * Ctrl-Z) interrupted a read or write of the handshake: the
		 * socket BIO reports EINTR as retryable, so resume it. A timeout
		 * (EAGAIN from SO_RCVTIMEO) is not retried. */
		if (r == 1 || saved != EINTR || tries >= 1000)
			break;
	}
	sigpipe_restore(&g);
	if (r != 1) {
		if (err == SSL_ERROR_SYSCALL && saved != 0)
			*error_r = xasprintf("TLS handshake failed: %s",
					     (saved == EAGAIN || saved == EWOULDBLOCK) ? "timed out" : strerror(saved));
		else if (err == SSL_ERROR_SYSCALL)
			*error_r = xstrdup("TLS handshake failed: connection closed by server");
		else
			*error_r = ssl_error_text("TLS handshake failed");
		goto fail_ssl;
	}

#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	cert = SSL_get1_peer_certificate(ssl);
#else
	cert = SSL_get_peer_certificate(ssl);
#endif
	if (!cert) {
		*error_r = xstrdup("TLS: the server sent no certificate");
		goto fail_ssl;
	}
	long vr = SSL_get_verify_result(ssl);
	bool pinned_only = nfp > 0 && !p->cafile;
	if (!pinned_only && vr != X509_V_OK && p->trust_loopback && peer_is_loopback(pc->fd)) {
		/* trust_loopback_certificate: a bridge on this machine */
		vr = X509_V_OK;
	}
	if (!pinned_only && vr != X509_V_OK) {
		/* what failed and what it was checked against (verify_failure),
		 * then the exact line that pins this certificate */
		char *why = verify_failure(p, vr);
		char *pin = pin_advice(cert, p);
		*error_r = xasprintf("%s; %s%s", why,
				     peer_is_loopback(pc->fd) ? "or trust_loopback_certificate = yes "
								"(the server is on this machine); "
							      : "",
				     pin);
		free(why);
		free(pin);
		goto fail_cert;
	}
	if (nfp > 0) {
		bool match = false;
		unsigned char d[EVP_MAX_MD_SIZE], d256[EVP_MAX_MD_SIZE];
		unsigned dl = 0, d256l = 0;
		for (int i = 0; i < nfp && !match; i++)
			if (X509_digest(cert, fps[i].md, d, &dl) == 1 && dl == fps[i].len &&
			    memcmp(d, fps[i].digest, dl) == 0)
				match = true;
		if (!match) {
			if (X509_digest(cert, EVP_sha256(), d256, &d256l) != 1)
				d256l = 0;
			char *hex = hex_colon(d256, d256l);
			*error_r = xasprintf("server certificate fingerprint sha256 %s matches none of "
					     "cert_fingerprint (to trust this certificate, make the "
					     "line: cert_fingerprint = %s)",
					     hex, hex);
			free(hex);
			goto fail_cert;
		}
	}
	X509_free(cert);
	mailstream_low *tlow = conn_new(pc->fd, ctx, ssl);
	conn_of(tlow)->lit.limit = pc->lit.limit; /* the scan itself starts afresh */
	return tlow;

fail_cert:
	X509_free(cert);
fail_ssl:
	if (ssl)
		SSL_free(ssl);
fail_ctx:
	SSL_CTX_free(ctx);
	ERR_clear_error();
	return NULL;
}
