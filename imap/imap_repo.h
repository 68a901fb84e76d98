/* imap_repo.h — the IMAP repository (struct repo back-end) on libetpan.
 *
 * Owns: the IMAP connection, authentication and every IMAP command. Only
 * imap/ includes libetpan; only imap/tls.c talks to OpenSSL's SSL API.
 *
 * Efficiency is part of the contract (issue #2):
 *   - list_messages: one "UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)"
 *     (EXAMINE when the folder is only read);
 *   - fetch: "UID FETCH <uid set> (BODY.PEEK[])" over many UIDs per command,
 *     each command bounded by the total RFC822.SIZE of its messages
 *     (fetch_batch_bytes) because libetpan parses a whole response in
 *     memory; bodies are handed to the callback one by one (CRLF -> LF);
 *   - set_flags: one UID STORE per flag and direction over a UID set
 *     (+FLAGS.SILENT / -FLAGS.SILENT), UID sets compressed to ranges and
 *     split so no command line gets too long;
 *   - delete_messages: UID STORE +FLAGS.SILENT (\Deleted), then UID EXPUNGE
 *     over exactly those UIDs when expunge is on (plain EXPUNGE only when the
 *     server lacks UIDPLUS);
 *   - store: APPEND (flags, INTERNALDATE) and the UID from APPENDUID; without
 *     UIDPLUS an "X-OfflineIMAP: <crc32>-<random>" header is added to the
 *     uploaded copy and found with UID SEARCH HEADER afterwards.
 *
 *   - list_folders: with reference or subscribedonly (OfflineIMAP's
 *     options) one plain "LIST <reference> *" or "LSUB <reference> *" (no
 *     LIST-STATUS), \Noselect entries skipped; names as the server gives
 *     them (the reference is part of them);
 *   - probe (repo.h): one "LIST "" "*" RETURN (STATUS (...))" with
 *     LIST-STATUS, else one raw STATUS per folder, all written before the
 *     first reply is read (own tags "P<n>", parsed from the raw lines,
 *     literals included); HIGHESTMODSEQ only asked with CONDSTORE;
 *   - list_changes (repo.h, CONDSTORE only): "UID FETCH 1:* (...)
 *     (CHANGEDSINCE m)", "UID SEARCH ALL", and a FETCH of present UIDs
 *     neither known nor changed (docs/protocol.md).
 *
 * Security: TLS through OpenSSL (implicit with ssl, else STARTTLS when
 * advertised and starttls is on), certificate chain and host name verified
 * against the system store or cacertfile; fingerprints (sha256/sha1 hex,
 * colons allowed) pinned when given. A verification failure refuses to
 * connect with the reason. Plaintext only with ssl and starttls both off,
 * with a warning. The password never reaches a log line: the -d imap trace
 * replaces LOGIN / AUTHENTICATE arguments with "<redacted>".
 *
 * Flags: \Seen S, \Answered R, \Flagged F, \Deleted T, \Draft D; keyword
 * k maps to letter x when keywords[x - 'a'] == k (customflag_x of the local
 * repository). \Recent and unmapped keywords are ignored.
 *
 * Details the engine may rely on (added with the implementation):
 *   - connect() after a REPO_STORE_BAD reconnects from scratch (no folder is
 *     selected afterwards); every other call on a dead connection fails
 *     with REPO_STORE_BAD at once, without touching the network.
 *   - Error lines: "IMAP[R] host:port: reason" for connection and login
 *     problems, "IMAP[R][folder]: COMMAND args: reason" afterwards, where
 *     reason is the server's text for a NO, "server said BAD: ...",
 *     "connection closed by the server", "timed out after N s", ...
 *   - Grades: SELECT/EXAMINE/CREATE/FETCH/STORE/EXPUNGE refused -> FOLDER_BAD;
 *     APPEND refused -> MSG_BAD (FOLDER_BAD with [TRYCREATE]); set_flags and
 *     delete_messages in a folder selected read-only -> FOLDER_BAD.
 *   - CRLF: fetch turns only "\r\n" into "\n"; store turns a bare "\n" into
 *     "\r\n" and leaves a lone "\r" alone, so an LF body round-trips exactly.
 *   - Keywords are stored too (set_flags / APPEND), unlike OfflineIMAP, which
 *     maps them only from IMAP to Maildir.
 *   - fetch memory: libetpan keeps the raw response and its parsed copy, so a
 *     batch costs about twice fetch_batch_bytes (or twice the one bigger
 *     message) at its peak.
 *   - cert_fingerprint entries may be sha1, sha224, sha256, sha384 or sha512.
 *
 * The live-mount operations (repo.h: idle, move, find_message):
 *   - idle: "IDLE", then poll() on the socket and cancel_fd together.
 *     Bytes already read into libetpan's stream buffer or held by the TLS
 *     layer are handled before every poll(), so a change that arrived with
 *     the continuation is never slept through. Wakes on untagged EXISTS,
 *     EXPUNGE, FETCH or VANISHED; "* OK Still here" and RECENT are read and
 *     ignored; literals in untagged data are skipped whole. Ends with
 *     "DONE" and the tagged OK (untagged data after DONE also counts as a
 *     change). A server that ends IDLE itself with a tagged reply gets no
 *     DONE. "* BYE" -> REPO_STORE_BAD. No IDLE capability -> REPO_FOLDER_BAD
 *     without sending anything. The folder stays selected; sel_exists is not
 *     kept up to date by the raw reads, so list or re-select after a change.
 *   - move: needs the folder selected for writing (FOLDER_BAD otherwise).
 *     "UID MOVE <uid> <dst>" when MOVE is advertised; else "UID COPY", then
 *     "UID STORE +FLAGS.SILENT (\Deleted)" and "UID EXPUNGE <uid>" with
 *     UIDPLUS; without UIDPLUS a plain EXPUNGE only when expunge is on (as
 *     delete_messages; the source then stays \Deleted when it is off). The
 *     new UID comes from COPYUID in an untagged OK or the tagged reply,
 *     whether or not UIDPLUS is advertised. A UID that no longer exists is
 *     copied nowhere: REPO_OK with *new_uid_r 0. A refused MOVE/COPY (e.g.
 *     [TRYCREATE]) -> REPO_FOLDER_BAD. If the COPY worked but the \Deleted
 *     or EXPUNGE failed, the error is returned with *new_uid_r set (the
 *     message is then in both folders).
 *   - find_message: "UID SEARCH HEADER Message-ID <quoted id>" (the id as
 *     given, normally with its angle brackets; printable ASCII, 1..998
 *     characters, else REPO_MSG_BAD), then "UID FETCH <hits> (UID
 *     RFC822.SIZE)". size is compared with RFC822.SIZE, the CRLF size on
 *     the server: for a body that store() uploaded with UIDPLUS that is
 *     imap_wire_size(body, len). Without UIDPLUS store() adds an
 *     X-OfflineIMAP header, so the sizes cannot match and 0 comes back.
 */
#ifndef OFFLINEFS_IMAP_REPO_H
#define OFFLINEFS_IMAP_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/repo.h"

struct imap_settings {
	const char *host;          /* borrowed */
	int port;                  /* 0: 993 with ssl, else 143 */
	const char *user;          /* borrowed */
	const char *password;      /* borrowed; never logged */
	bool ssl;                  /* implicit TLS */
	bool starttls;             /* STARTTLS when !ssl and advertised */
	const char *cacertfile;    /* borrowed; NULL = system CA store */
	const char *fingerprints;  /* borrowed; comma list of hex digests or NULL */
	int timeout_seconds;       /* socktimeout; 0 = a sane default (120 s) */
	bool expunge;              /* UID EXPUNGE after \Deleted */
	const char *auth_mechanisms; /* borrowed; e.g. "PLAIN, LOGIN"; NULL = default order */
	const char *keywords[26];  /* borrowed; keyword for letter 'a'+i, or NULL */
	uint64_t fetch_batch_bytes; /* 0 = default (8 MiB) */
	const char *reference;     /* borrowed; LIST reference (OfflineIMAP's
				    * "reference"); NULL = "" */
	bool subscribedonly;       /* list_folders uses LSUB */
	const char *clientcert;    /* borrowed; sslclientcert (PEM) or NULL */
	const char *clientkey;     /* borrowed; sslclientkey (PEM) or NULL = in clientcert */
	int tls_version;           /* 0 = TLS 1.2 or newer; 10/11/12 = exactly TLS 1.0/1.1/1.2 */
	int ip_version;            /* 0 = any address family, 4 = IPv4 only, 6 = IPv6 only */
	const char *remote_identity; /* borrowed; SASL PLAIN authzid, or NULL */
	bool trust_loopback;       /* accept an unverifiable certificate from a
				    * loopback peer (tls_params) */
};

/* Never fails; connect() reports problems. name is the [Repository name]. */
struct repo *imap_repo_new(const char *name, const struct imap_settings *s);

/* The RFC822.SIZE the server reports for an LF body that store() sent
 * with UIDPLUS: len plus one CR for every bare LF. Pure. */
uint64_t imap_wire_size(const char *body, size_t len);

/* Capability query for the engine and tests ("UIDPLUS", "MOVE", ...):
 * true if the connected server advertised it. */
bool imap_repo_has_capability(struct repo *r, const char *cap);
/* The connected server's capabilities, upper-case (for --info). */
const struct strlist *imap_repo_capabilities(struct repo *r);
/* IMAP DELETE of one folder (name in the server's encoding), for
 * --delete-folder. Returns REPO_OK or a REPO_* code with repo_error. */
int imap_repo_delete_folder(struct repo *r, const char *name);

/* NOOP on a connected repository (holdconnectionopen's keepalive and the
 * check before a held connection is reused). REPO_OK, or the error
 * (repo_error says which) when the connection is gone. */
int imap_repo_noop(struct repo *r);

#endif
