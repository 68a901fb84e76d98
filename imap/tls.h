/* tls.h — the network edge of the IMAP back-end: TCP, TLS (OpenSSL) and
 * the libetpan stream driver on top of them.
 *
 * Owns: the socket and every OpenSSL call of the project. It hands
 * imap_repo.c a libetpan mailstream_low whose reads and writes go to the
 * socket in the clear or through TLS, honour a per-socket timeout, and never
 * raise SIGPIPE.
 *
 * Verification (tls_start): the chain is checked against cacertfile or the
 * system store, and the host name (or IP literal) against the certificate;
 * SNI is sent for names. When fingerprints are given the server certificate's
 * digest must also equal one of them; with fingerprints but no cacertfile the
 * chain is not required to verify (a self-signed certificate is accepted
 * exactly when its fingerprint is listed), as in OfflineIMAP.
 *
 * Errors come back as one malloc'd line without a prefix ("TLS certificate
 * verification failed: self-signed certificate; set sslcacertfile, or if
 * you trust the certificate the server sent (sha256 fingerprint ab:cd:..),
 * add this line to [Repository R]: cert_fingerprint = abcd.."); the caller
 * adds "IMAP[R] host:port: ". A certificate that fails verification is
 * never accepted: the line pins exactly that certificate.
 */
#ifndef OFFLINEFS_IMAP_TLS_H
#define OFFLINEFS_IMAP_TLS_H

#include <stdbool.h>
#include <stdint.h>

#include <libetpan/libetpan.h>

struct tls_params {
	const char *host;         /* borrowed; name or IP literal to verify */
	const char *cafile;       /* borrowed; NULL = system CA store */
	const char *fingerprints; /* borrowed; comma list of hex digests or NULL */
	const char *repo_name;    /* borrowed; NULL-able; the repository section,
				   * for the cert_fingerprint line a failed
				   * verification suggests */
	const char *clientcert;   /* borrowed; PEM certificate (chain) presented to
				   * the server, or NULL */
	const char *clientkey;    /* borrowed; its PEM key, NULL = in clientcert */
	int version;              /* 0 = TLS 1.2 or newer; 10, 11, 12 = exactly
				   * TLS 1.0, 1.1, 1.2 (ssl_version) */
	bool trust_loopback;      /* a certificate that does not verify is
				   * accepted when the peer address is a
				   * loopback one (127.0.0.0/8, ::1): a local
				   * bridge's self-signed certificate */
};

/* Connects to host:port, trying each address getaddrinfo() returns for
 * family (AF_UNSPEC, AF_INET or AF_INET6: the ipv6 option), each
 * with a connect timeout of timeout_s seconds; then sets the same timeout
 * for every read and write. Returns a plain stream driver (owned by the
 * caller: mailstream_low_close() closes the socket, mailstream_low_free()
 * frees it), or NULL with *error_r (malloc'd). */
mailstream_low *tls_connect_tcp(const char *host, int port, int family, int timeout_s,
				char **error_r);

/* tls_connect_tcp in two halves, so that the server's side of the TCP
 * handshake (and of whatever it starts on a new connection: Dovecot forks
 * its login process) runs while the caller does other work. begin looks
 * the name up and sends the first SYN without waiting; it never fails (a
 * failure is kept for finish to report). finish waits for the connect,
 * trying the remaining addresses as tls_connect_tcp does, and consumes
 * *pending (set to NULL) whatever the outcome; so does abandon, which
 * closes the socket. */
struct tls_pending;
struct tls_pending *tls_connect_begin(const char *host, int port, int family, int timeout_s);
mailstream_low *tls_connect_finish(struct tls_pending **pending, char **error_r);
void tls_connect_abandon(struct tls_pending **pending);

/* Runs the TLS handshake on plain's socket and verifies the server (see
 * above). Returns a new driver that owns the socket from now on; the caller
 * then frees plain with mailstream_low_free() (which leaves the socket open)
 * or swaps it out with mailstream_set_low(). Returns NULL with *error_r
 * (malloc'd) on failure; plain still owns the socket then. */
mailstream_low *tls_start(mailstream_low *plain, const struct tls_params *p, char **error_r);

/* The socket of low (a driver made here), or -1: for poll() while the
 * connection idles. Still owned by low. */
int tls_fd(mailstream_low *low);
/* True when the TLS layer of low holds received bytes that a read would
 * return without touching the socket: poll() on tls_fd() does not see
 * them, so check this first (IDLE). Always false for a plain driver. */
bool tls_has_pending(mailstream_low *low);

/* Why the last read or write on low (a driver made here) failed. The end
 * of the stream counts as a failure: reads return -1 rather than 0 there,
 * because libetpan 1.9.4 loops forever on a 0 while reading a literal. */
enum tls_failure {
	TLS_FAIL_OTHER,   /* a socket or TLS error */
	TLS_FAIL_TIMEOUT, /* the socket timeout expired */
	TLS_FAIL_EOF,     /* the server closed the connection */
	TLS_FAIL_LITERAL, /* the server announced a literal above the limit */
};
enum tls_failure tls_last_failure(mailstream_low *low);
/* With TLS_FAIL_LITERAL: "server announced a N-byte literal, more than
 * the 1 GiB limit"; else "". Owned by low. */
const char *tls_failure_detail(mailstream_low *low);

/* The largest literal ("{N}") low accepts from the server; a bigger
 * announcement fails the connection (TLS_FAIL_LITERAL) before libetpan
 * could reserve N bytes for it. tls_start() carries it over to the TLS
 * driver. Must stay below 4 GiB: libetpan keeps a literal's size in a
 * uint32_t, and a bigger one would wrap. */
#define TLS_LITERAL_LIMIT_DEFAULT (1ull << 30)
void tls_set_literal_limit(mailstream_low *low, uint64_t max);

/* Checks a cert_fingerprint list without connecting: 0, or -1 with
 * *error_r (malloc'd) naming the bad entry. */
int tls_check_fingerprints(const char *fingerprints, char **error_r);

/* Checks an sslcacertfile without connecting: it must be readable and hold
 * at least one PEM certificate (what the handshake will load). 0, or -1
 * with *error_r (malloc'd, without the path: the caller names it). */
int tls_check_cafile(const char *path, char **error_r);

#endif
