/* imap_repo.c — the IMAP repository on libetpan; see imap_repo.h.
 *
 * Order of a session: connect (TCP, TLS or STARTTLS) -> CAPABILITY ->
 * authenticate -> CAPABILITY again; LIST "" "" (separator) only if no
 * folder listing has shown the separator when it is needed; then per
 * folder SELECT/EXAMINE -> UID FETCH listing -> bodies / APPEND / STORE /
 * EXPUNGE (no UNSELECT: the next SELECT closes the folder). Commands whose
 * arguments are mailbox names go through libetpan's own senders (quoting);
 * UID FETCH/EXPUNGE/SEARCH are sent as text with our UID sets
 * (simple_command); a folder's UID STOREs, the probe's STATUS commands and
 * LIST-STATUS are written together under our own tags ("S<n>", "P<n>") and
 * their replies read raw; APPEND and AUTHENTICATE PLAIN are written by
 * hand because libetpan rewrites lone CRs in literals and does SASL only
 * through cyrus-sasl. Every libetpan result is translated into enum
 * repo_result in imap_fail(), and nowhere else.
 */
#include "imap/imap_repo.h"

#include <sys/socket.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libetpan/libetpan.h>

#include "common/log.h"
#include "imap/imap_flags.h"
#include "imap/imap_trace.h"
#include "imap/tls.h"
#include "imap/uidset.h"

#define DEFAULT_TIMEOUT 120
#define DEFAULT_BATCH_BYTES (2u << 20)
#define FETCH_BATCH_UIDS 1000
#define LIST_CHUNK 5000u /* messages per listing FETCH of a big folder */
#define LITERAL_PLUS_MAX (100u << 10) /* like mbsync: bigger uploads wait for '+' */
#define TRACE_MAX_LINE 300
#define SERVER_TEXT_MAX 200

/* A range of UIDs, as in VANISHED responses. */
struct uid_range {
	uint32_t first, last;
};

struct imap_repo {
	struct repo base; /* first: struct repo * casts to this */

	/* settings, owned copies */
	char *host, *user, *password, *cafile, *fingerprints, *auth_mechanisms;
	char *clientcert, *clientkey, *identity;
	char *keywords[26];
	char *reference;      /* NULL = "" */
	int port, timeout, tls_version, family;
	bool ssl, starttls, expunge, subscribedonly, trust_loopback;
	uint64_t batch_bytes;

	mailimap *imap;       /* owned; NULL while not connected */
	struct tls_pending *pending; /* owned; a TCP connect begun early */
	bool dead;            /* the connection failed: only free/connect help */
	bool no_partial;      /* its partial FETCH replies do not parse: whole FETCHes */
	struct strlist caps;  /* upper case; "AUTH=PLAIN" for auth types */
	char sep;             /* 0 until learned (learn_separator, load_separator) */
	bool readonly;        /* selected with EXAMINE or READ-ONLY */
	struct imap_trace trace;
	struct strbuf buf;    /* reused for bodies (CRLF <-> LF) */
	bool warned_plain, warned_expunge;
	bool connecting;      /* inside imap_connect: errors name host:port */
	/* STATUS of every folder from the LIST-STATUS that list_folders sent;
	 * handed to the probe that follows (the engine lists, then probes),
	 * dropped by any command that could change it (select, create). */
	struct repo_probe listed_status;
	bool have_listed_status;
	/* QRESYNC (RFC 7162) enabled on this connection: list_changes gets
	 * vanished UIDs from VANISHED (EARLIER) instead of UID SEARCH ALL.
	 * ENABLE is only valid before any SELECT, so it is sent before the
	 * first one (a no-op sync, which selects nothing, never pays it). */
	bool qresync, enable_tried;
	/* What SELECT ... (QRESYNC ...) reported for the selected folder (the
	 * changed messages' UID and FLAGS, and the VANISHED ranges), kept for
	 * the list_changes(since) that follows; dropped by any other select. */
	struct qresync_select {
		bool valid;
		uint64_t since;
		struct repo_msg_list changed; /* uid and flags only */
		struct uid_range *vanished;   /* sorted, disjoint */
		size_t n_vanished;
	} qr;
};

static void qr_drop(struct imap_repo *ir)
{
	repo_msg_list_free(&ir->qr.changed);
	free(ir->qr.vanished);
	ir->qr.vanished = NULL;
	ir->qr.n_vanished = 0;
	ir->qr.valid = false;
}

static struct imap_repo *IR(struct repo *r)
{
	return (struct imap_repo *)r;
}

static const char *const *kw(const struct imap_repo *ir)
{
	return (const char *const *)ir->keywords;
}

/* ---- errors ------------------------------------------------------------- */

/* The server's text of the last tagged reply, made printable and short. */
/* t for an error line: control bytes replaced, at most SERVER_TEXT_MAX. */
static const char *clean_text(const char *t)
{
	static __thread char text[SERVER_TEXT_MAX + 4];
	size_t n = 0;
	if (!t || !*t)
		return "(no text)";
	for (; t[n] && n < SERVER_TEXT_MAX; n++)
		text[n] = (unsigned char)t[n] < ' ' || t[n] == 0x7f ? '?' : t[n];
	if (t[n])
		memcpy(text + n, "...", 3), n += 3;
	text[n] = '\0';
	return text;
}

static const char *server_text(struct imap_repo *ir)
{
	return clean_text(ir->imap ? ir->imap->imap_response : NULL);
}

/* Why the connection failed, for an error line. */
static char *stream_failure(struct imap_repo *ir)
{
	enum tls_failure f = ir->imap && ir->imap->imap_stream
				     ? tls_last_failure(mailstream_get_low(ir->imap->imap_stream))
				     : TLS_FAIL_OTHER;
	if (f == TLS_FAIL_TIMEOUT)
		return xasprintf("timed out after %d s", ir->timeout);
	if (f == TLS_FAIL_EOF)
		return xstrdup("connection closed by the server");
	if (f == TLS_FAIL_LITERAL)
		return xstrdup(tls_failure_detail(mailstream_get_low(ir->imap->imap_stream)));
	return xstrdup("connection lost");
}

static bool is_conn_error(int r)
{
	return r == MAILIMAP_ERROR_STREAM || r == MAILIMAP_ERROR_PARSE || r == MAILIMAP_ERROR_FATAL ||
	       r == MAILIMAP_ERROR_MEMORY || r == MAILIMAP_ERROR_BAD_STATE;
}

/* The reason part of an error line for libetpan result r (malloc'd). */
static char *failure_reason(struct imap_repo *ir, int r)
{
	switch (r) {
	case MAILIMAP_ERROR_STREAM: return stream_failure(ir);
	case MAILIMAP_ERROR_PARSE: return xstrdup("malformed server response");
	case MAILIMAP_ERROR_FATAL:
		return xasprintf("server closed the connection: %s", server_text(ir));
	case MAILIMAP_ERROR_MEMORY: return xstrdup("out of memory in libetpan");
	case MAILIMAP_ERROR_BAD_STATE: return xstrdup("connection in the wrong state");
	case MAILIMAP_ERROR_PROTOCOL: return xasprintf("server said BAD: %s", server_text(ir));
	default: /* a tagged NO: the server's text says why */
		return xstrdup(server_text(ir));
	}
}

/* Translates libetpan result r of command `what`, once, into a repo result
 * and the error line "IMAP[R][folder]: what: reason" (the folder part only
 * while one is selected). Connection-level failures mark the connection
 * dead and give REPO_STORE_BAD; a NO or BAD to the command gives no_grade. */
static int imap_fail(struct imap_repo *ir, int r, int no_grade, const char *fmt, ...)
	PRINTF_LIKE(4, 5);
static int imap_fail(struct imap_repo *ir, int r, int no_grade, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *what = xvasprintf(fmt, ap);
	va_end(ap);

	char *reason = failure_reason(ir, r);
	int code = no_grade;
	if (is_conn_error(r)) {
		code = REPO_STORE_BAD;
		ir->dead = true;
	}
	if (ir->connecting) /* like conn_fail: which server the login failed on */
		repo_fail(&ir->base, code, "IMAP[%s] %s:%d: %s: %s", ir->base.name, ir->host, ir->port,
			  what, reason);
	else if (ir->base.folder)
		repo_fail(&ir->base, code, "IMAP[%s][%s]: %s: %s", ir->base.name, ir->base.folder, what,
			  reason);
	else
		repo_fail(&ir->base, code, "IMAP[%s]: %s: %s", ir->base.name, what, reason);
	free(reason);
	free(what);
	return code;
}

/* Connection-level failure with a fixed reason: "IMAP[R] host:port: ...". */
static int conn_fail(struct imap_repo *ir, const char *fmt, ...) PRINTF_LIKE(2, 3);
static int conn_fail(struct imap_repo *ir, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *why = xvasprintf(fmt, ap);
	va_end(ap);
	repo_fail(&ir->base, REPO_STORE_BAD, "IMAP[%s] %s:%d: %s", ir->base.name, ir->host, ir->port,
		  why);
	free(why);
	return REPO_STORE_BAD;
}

/* Every call but connect and free needs a live connection. */
static int need_conn(struct imap_repo *ir)
{
	if (!ir->imap)
		return repo_fail(&ir->base, REPO_STORE_BAD, "IMAP[%s]: not connected", ir->base.name);
	if (ir->dead)
		return repo_fail(&ir->base, REPO_STORE_BAD, "IMAP[%s]: connection lost earlier",
				 ir->base.name);
	return REPO_OK;
}

static int need_folder(struct imap_repo *ir)
{
	int r = need_conn(ir);
	if (r == REPO_OK && !ir->base.folder)
		r = repo_fail(&ir->base, REPO_FOLDER_BAD, "IMAP[%s]: no folder selected", ir->base.name);
	return r;
}

/* STORE and EXPUNGE need a folder selected for writing. */
static int need_writable(struct imap_repo *ir)
{
	int r = need_folder(ir);
	if (r == REPO_OK && ir->readonly)
		r = repo_fail(&ir->base, REPO_FOLDER_BAD, "IMAP[%s][%s]: folder is read-only (%s)",
			      ir->base.name, ir->base.folder,
			      ir->imap->imap_selection_info &&
					      ir->imap->imap_selection_info->sel_perm ==
						      MAILIMAP_MAILBOX_READONLY
				      ? "the server says READ-ONLY"
				      : "selected with EXAMINE");
	return r;
}

/* Mailbox names cross the wire quoted; modified UTF-7 is 7-bit and has no
 * CR/LF, so anything else is refused before it could break the command. */
static bool folder_name_ok(const char *name)
{
	if (!*name)
		return false;
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < ' ' || *p >= 0x7f)
			return false;
	return true;
}

static void add_quoted(struct strbuf *sb, const char *s)
{
	sb_addc(sb, '"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			sb_addc(sb, '\\');
		sb_addc(sb, *s);
	}
	sb_addc(sb, '"');
}

/* ---- trace -------------------------------------------------------------- */

static void trace_emit(void *ctx, bool from_client, const char *line)
{
	struct imap_repo *ir = ctx;
	size_t len = strlen(line);
	if (len > TRACE_MAX_LINE)
		log_debug(LOG_DBG_IMAP, "IMAP[%s] %s %.*s... (%zu bytes)", ir->base.name,
			  from_client ? "C:" : "S:", TRACE_MAX_LINE, line, len);
	else
		log_debug(LOG_DBG_IMAP, "IMAP[%s] %s %s", ir->base.name, from_client ? "C:" : "S:",
			  line);
}

/* libetpan's logger: raw pieces of the stream in both directions, passed
 * through the redacting line assembler of imap_trace.c. */
static void trace_logger(mailimap *imap, int log_type, const char *str, size_t size, void *ctx)
{
	struct imap_repo *ir = ctx;
	(void)imap;
	if (!log_debug_enabled(LOG_DBG_IMAP) || !str)
		return;
	switch (log_type) {
	case MAILSTREAM_LOG_TYPE_DATA_SENT_PRIVATE:
		imap_trace_feed(&ir->trace, true, true, str, size, trace_emit, ir);
		break;
	case MAILSTREAM_LOG_TYPE_DATA_SENT:
		imap_trace_feed(&ir->trace, true, false, str, size, trace_emit, ir);
		break;
	case MAILSTREAM_LOG_TYPE_DATA_RECEIVED:
		imap_trace_feed(&ir->trace, false, false, str, size, trace_emit, ir);
		break;
	default:
		break;
	}
}

/* ---- capabilities ------------------------------------------------------- */

static void caps_load(struct imap_repo *ir)
{
	strlist_free(&ir->caps);
	struct mailimap_capability_data *cd =
		ir->imap->imap_connection_info ? ir->imap->imap_connection_info->imap_capability : NULL;
	if (!cd || !cd->cap_list)
		return;
	for (clistiter *it = clist_begin(cd->cap_list); it; it = clist_next(it)) {
		struct mailimap_capability *c = clist_content(it);
		char *s;
		if (c->cap_type == MAILIMAP_CAPABILITY_AUTH_TYPE && c->cap_data.cap_auth_type)
			s = xasprintf("AUTH=%s", c->cap_data.cap_auth_type);
		else if (c->cap_type == MAILIMAP_CAPABILITY_NAME && c->cap_data.cap_name)
			s = xstrdup(c->cap_data.cap_name);
		else
			continue;
		for (char *p = s; *p; p++)
			*p = (char)toupper((unsigned char)*p);
		strlist_add_owned(&ir->caps, s);
	}
}

static bool has_cap(const struct imap_repo *ir, const char *cap)
{
	for (size_t i = 0; i < ir->caps.n; i++)
		if (!strcasecmp(ir->caps.v[i], cap))
			return true;
	return false;
}

bool imap_repo_has_capability(struct repo *r, const char *cap)
{
	struct imap_repo *ir = IR(r);
	return ir->imap && !ir->dead && has_cap(ir, cap);
}

int imap_repo_noop(struct repo *r)
{
	struct imap_repo *ir = IR(r);
	if (!ir->imap || ir->dead) {
		repo_fail(&ir->base, REPO_STORE_BAD, "IMAP[%s]: NOOP: not connected", ir->base.name);
		return REPO_STORE_BAD;
	}
	int rc = mailimap_noop(ir->imap);
	return rc == MAILIMAP_NO_ERROR ? REPO_OK : imap_fail(ir, rc, REPO_STORE_BAD, "NOOP");
}

/* Forgets what the server said before and asks again (after STARTTLS, and
 * after login when the OK carried no CAPABILITY code). */
static int simple_command(mailimap *imap, const char *cmd);

static int caps_refresh(struct imap_repo *ir)
{
	/* Sent and read here, not by mailimap_capability(): after the tagged
	 * OK, libetpan copies imap_connection_info->imap_capability without
	 * checking it, and a server that answers with a bare OK (no untagged
	 * CAPABILITY line) or with an empty "[CAPABILITY]" code made it read
	 * through NULL (found by fuzz/fuzz_imap.c; tests/hostile
	 * test_capability_bare_ok). caps_load() checks what it reads. */
	struct mailimap_connection_info *ci = ir->imap->imap_connection_info;
	if (ci && ci->imap_capability) {
		mailimap_capability_data_free(ci->imap_capability);
		ci->imap_capability = NULL;
	}
	int r = simple_command(ir->imap, "CAPABILITY");
	if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_ERROR_CUSTOM_COMMAND)
		return imap_fail(ir, r, REPO_STORE_BAD, "CAPABILITY");
	caps_load(ir); /* a refused CAPABILITY: none known */
	return REPO_OK;
}

/* Drops libetpan's copy of the capabilities (ours stays until caps_load),
 * so that afterwards we can tell whether a reply brought new ones. */
static void caps_forget_etpan(struct imap_repo *ir)
{
	struct mailimap_connection_info *ci = ir->imap->imap_connection_info;
	if (ci && ci->imap_capability) {
		mailimap_capability_data_free(ci->imap_capability);
		ci->imap_capability = NULL;
	}
}

static bool etpan_has_caps(struct imap_repo *ir)
{
	struct mailimap_connection_info *ci = ir->imap->imap_connection_info;
	return ci && ci->imap_capability;
}

/* ---- connection --------------------------------------------------------- */

static int write_str(mailimap *imap, const char *s);

static void disconnect(struct imap_repo *ir, bool logout)
{
	if (!ir->imap)
		return;
	if (ir->imap->imap_stream) {
		if (logout && !ir->dead) {
			/* LOGOUT is sent but its reply not awaited: every command
			 * before it has completed (we read each tagged reply), the
			 * server's BYE tells us nothing, and waiting would cost a
			 * round trip per connection (20-100 ms on a real network). */
			if (mailimap_send_current_tag(ir->imap) == MAILIMAP_NO_ERROR &&
			    write_str(ir->imap, "LOGOUT\r\n") == MAILIMAP_NO_ERROR)
				mailstream_flush(ir->imap->imap_stream);
		}
		mailstream_close(ir->imap->imap_stream);
		ir->imap->imap_stream = NULL;
	}
	mailimap_free(ir->imap);
	ir->imap = NULL;
	ir->dead = false;
	ir->qresync = ir->enable_tried = false;
	qr_drop(ir);
	strlist_free(&ir->caps);
	xfree_ptr(&ir->base.folder);
	imap_trace_reset(&ir->trace);
}

static char *base64(const unsigned char *in, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = xmalloc((len + 2) / 3 * 4 + 1), *o = out;
	for (size_t i = 0; i < len; i += 3) {
		unsigned v = (unsigned)in[i] << 16;
		if (i + 1 < len)
			v |= (unsigned)in[i + 1] << 8;
		if (i + 2 < len)
			v |= in[i + 2];
		*o++ = tab[(v >> 18) & 63];
		*o++ = tab[(v >> 12) & 63];
		*o++ = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int write_str(mailimap *imap, const char *s)
{
	return mailstream_write(imap->imap_stream, s, strlen(s)) < 0 ? MAILIMAP_ERROR_STREAM
								  : MAILIMAP_NO_ERROR;
}

/* Reads the tagged reply of the command just sent (untagged data goes to
 * imap->imap_response_info). *ok_r: it was OK. Returns a libetpan code. */
static int read_tagged(mailimap *imap, bool *ok_r)
{
	struct mailimap_response *resp = NULL;
	if (!mailimap_read_line(imap))
		return MAILIMAP_ERROR_STREAM;
	int r = mailimap_parse_response(imap, &resp);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	*ok_r = resp->rsp_resp_done->rsp_type == MAILIMAP_RESP_DONE_TYPE_TAGGED &&
		resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type ==
			MAILIMAP_RESP_COND_STATE_OK;
	mailimap_response_free(resp);
	return MAILIMAP_NO_ERROR;
}

/* Sends "<tag> <cmd>\r\n" and reads the reply; untagged data lands in
 * imap->imap_response_info. Like mailimap_custom_command() (NO gives
 * MAILIMAP_ERROR_CUSTOM_COMMAND) but without the space it puts before the
 * CRLF, which strict servers reject. */
static int simple_command(mailimap *imap, const char *cmd)
{
	int r = mailimap_send_current_tag(imap);
	if (r == MAILIMAP_NO_ERROR)
		r = write_str(imap, cmd);
	if (r == MAILIMAP_NO_ERROR)
		r = write_str(imap, "\r\n");
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (mailstream_flush(imap->imap_stream) < 0)
		return MAILIMAP_ERROR_STREAM;
	bool ok = false;
	r = read_tagged(imap, &ok);
	if (r == MAILIMAP_NO_ERROR && !ok)
		r = MAILIMAP_ERROR_CUSTOM_COMMAND;
	return r;
}

/* After a command that may get a continuation request: reads lines,
 * skipping untagged ones, until "+ ..." (*cont_r true) or anything else
 * (left in the buffer for mailimap_parse_response; *cont_r false). */
static int wait_continuation(mailimap *imap, bool *cont_r)
{
	for (int i = 0; i < 1000; i++) {
		char *line = mailimap_read_line(imap);
		if (!line)
			return MAILIMAP_ERROR_STREAM;
		if (line[0] == '+') {
			*cont_r = true;
			return MAILIMAP_NO_ERROR;
		}
		if (line[0] != '*') {
			*cont_r = false;
			return MAILIMAP_NO_ERROR;
		}
	}
	return MAILIMAP_ERROR_PARSE;
}

/* AUTHENTICATE PLAIN (RFC 4616), with SASL-IR when offered. libetpan's
 * mailimap_authenticate needs cyrus-sasl, so this speaks it directly; the
 * stream is marked private meanwhile so the trace redacts it.
 * Returns a libetpan code; *ok_r says whether the server accepted. */
static int auth_plain(struct imap_repo *ir, bool *ok_r)
{
	mailimap *imap = ir->imap;
	/* authzid NUL authcid NUL password; the authzid is remote_identity
	 * (OfflineIMAP: act as that user, logged in as remoteuser) */
	size_t zl = ir->identity ? strlen(ir->identity) : 0;
	size_t ul = strlen(ir->user), pl = strlen(ir->password), rl = zl + ul + pl + 2;
	unsigned char *raw = xmalloc(rl);
	if (zl)
		memcpy(raw, ir->identity, zl);
	raw[zl] = '\0';
	memcpy(raw + zl + 1, ir->user, ul);
	raw[zl + ul + 1] = '\0';
	memcpy(raw + zl + ul + 2, ir->password, pl);
	char *b64 = base64(raw, rl);
	explicit_bzero(raw, rl);
	free(raw);

	bool sasl_ir = has_cap(ir, "SASL-IR"), cont = true;
	*ok_r = false;
	mailstream_set_privacy(imap->imap_stream, 0);
	int r = mailimap_send_current_tag(imap);
	if (r == MAILIMAP_NO_ERROR)
		r = write_str(imap, sasl_ir ? "AUTHENTICATE PLAIN " : "AUTHENTICATE PLAIN\r\n");
	if (r == MAILIMAP_NO_ERROR && !sasl_ir) {
		if (mailstream_flush(imap->imap_stream) < 0)
			r = MAILIMAP_ERROR_STREAM;
		else
			r = wait_continuation(imap, &cont);
	}
	if (r == MAILIMAP_NO_ERROR && cont) {
		if ((r = write_str(imap, b64)) == MAILIMAP_NO_ERROR &&
		    (r = write_str(imap, "\r\n")) == MAILIMAP_NO_ERROR &&
		    mailstream_flush(imap->imap_stream) < 0)
			r = MAILIMAP_ERROR_STREAM;
	}
	mailstream_set_privacy(imap->imap_stream, 1);
	explicit_bzero(b64, strlen(b64));
	free(b64);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (cont) {
		r = read_tagged(imap, ok_r);
	} else { /* refused at once; the tagged reply is already in the buffer */
		struct mailimap_response *resp = NULL;
		r = mailimap_parse_response(imap, &resp);
		if (r == MAILIMAP_NO_ERROR)
			mailimap_response_free(resp);
	}
	if (r == MAILIMAP_NO_ERROR && *ok_r)
		imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
	return r;
}

static int authenticate(struct imap_repo *ir)
{
	const char *list = ir->auth_mechanisms ? ir->auth_mechanisms : "PLAIN, LOGIN";
	char *copy = xstrdup(list), *save = NULL;
	bool tried = false, ok = false;
	int r = MAILIMAP_NO_ERROR;

	for (char *m = strtok_r(copy, ", \t", &save); m && !tried; m = strtok_r(NULL, ", \t", &save)) {
		if (!strcasecmp(m, "PLAIN") && has_cap(ir, "AUTH=PLAIN")) {
			tried = true;
			caps_forget_etpan(ir);
			r = auth_plain(ir, &ok);
		} else if (!strcasecmp(m, "LOGIN") && !has_cap(ir, "LOGINDISABLED") &&
			   !ir->identity) { /* LOGIN cannot name remote_identity */
			tried = true;
			caps_forget_etpan(ir);
			r = mailimap_login(ir->imap, ir->user, ir->password);
			ok = r == MAILIMAP_NO_ERROR;
			if (r == MAILIMAP_ERROR_LOGIN)
				r = MAILIMAP_NO_ERROR;
		} else {
			log_debug(LOG_DBG_IMAP, "IMAP[%s]: skipping auth mechanism %s", ir->base.name, m);
		}
	}
	free(copy);
	if (!tried) {
		struct strbuf sb = STRBUF_INIT;
		for (size_t i = 0; i < ir->caps.n; i++)
			if (!strncmp(ir->caps.v[i], "AUTH=", 5) || !strcmp(ir->caps.v[i], "LOGINDISABLED"))
				sb_addf(&sb, " %s", ir->caps.v[i]);
		int code = conn_fail(ir,
				     "no usable authentication mechanism in \"%s\" (server offers:%s; "
				     "offlinefs speaks PLAIN and LOGIN)",
				     list, sb.len ? sb_str(&sb) : " nothing");
		sb_free(&sb);
		return code;
	}
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(ir, r, REPO_STORE_BAD, "authentication as %s", ir->user);
	if (!ok)
		return conn_fail(ir, "authentication as %s failed: %s", ir->user, server_text(ir));
	if (!etpan_has_caps(ir))
		return caps_refresh(ir);
	caps_load(ir);
	return REPO_OK;
}

static int starttls(struct imap_repo *ir, const struct tls_params *tp)
{
	if (!has_cap(ir, "STARTTLS"))
		return conn_fail(ir, "server does not offer STARTTLS; refusing to log in without TLS "
				     "(set ssl = yes for implicit TLS, or starttls = no to allow "
				     "plaintext)");
	int r = mailimap_starttls(ir->imap);
	/* Anything the server sent after its reply but before the handshake
	 * would be read as if it came through TLS (CVE-2020-15953; Debian's
	 * libetpan already turns this into MAILIMAP_ERROR_STARTTLS). */
	if ((r == MAILIMAP_NO_ERROR || r == MAILIMAP_ERROR_STARTTLS) &&
	    ir->imap->imap_stream->read_buffer_len != 0) {
		ir->dead = true;
		return conn_fail(ir, "server sent data right after its STARTTLS reply; refusing "
				     "(possible command injection)");
	}
	if (r == MAILIMAP_ERROR_STARTTLS)
		return conn_fail(ir, "STARTTLS refused: %s", server_text(ir));
	if (r != MAILIMAP_NO_ERROR)
		return imap_fail(ir, r, REPO_STORE_BAD, "STARTTLS");
	mailstream_low *plain = mailstream_get_low(ir->imap->imap_stream);
	char *err = NULL;
	mailstream_low *tlow = tls_start(plain, tp, &err);
	if (!tlow) {
		ir->dead = true;
		int code = conn_fail(ir, "%s", err);
		free(err);
		return code;
	}
	mailstream_set_low(ir->imap->imap_stream, tlow);
	mailstream_low_free(plain); /* the socket now belongs to tlow */
	strlist_free(&ir->caps);
	caps_forget_etpan(ir);
	return caps_refresh(ir);
}

static void load_separator(struct imap_repo *ir)
{
	clist *list = NULL;
	ir->sep = '/';
	int rc = mailimap_list(ir->imap, "", "", &list);
	if (rc != MAILIMAP_NO_ERROR) {
		if (is_conn_error(rc))
			imap_fail(ir, rc, REPO_STORE_BAD, "LIST \"\" \"\"");
		return;
	}
	for (clistiter *it = clist_begin(list); it; it = clist_next(it)) {
		struct mailimap_mailbox_list *mb = clist_content(it);
		if (mb->mb_delimiter) {
			ir->sep = mb->mb_delimiter;
			break;
		}
	}
	mailimap_list_result_free(list);
}

/* The largest literal accepted from the server (see tls.h): libetpan
 * reserves a literal's announced size before reading it, so this bounds
 * what one line can make us allocate. 1 GiB is far above what mail servers
 * take as one message (Gmail 25 MB, Exchange 150 MB), so no real message is
 * refused; a user who raised fetch_batch_bytes has accepted batches costing
 * twice that, so the limit grows with it (4x) rather than refusing messages
 * of the size they asked for. It must stay below 4 GiB, where libetpan's
 * uint32_t literal sizes wrap. */
static uint64_t literal_limit(const struct imap_repo *ir)
{
	uint64_t lim = ir->batch_bytes > TLS_LITERAL_LIMIT_DEFAULT / 4 ? ir->batch_bytes * 4
									  : TLS_LITERAL_LIMIT_DEFAULT;
	return lim > UINT32_MAX - 1 ? UINT32_MAX - 1 : lim;
}

static int connect_session(struct imap_repo *ir);

/* The server's side of a new connection takes a while (Dovecot forks its
 * login process and sets up TLS: 7 ms of a 10 ms login here), so the TCP
 * connect goes out as soon as the caller knows it will connect; connect
 * then takes it over. */
static void imap_begin_connect(struct repo *r)
{
	struct imap_repo *ir = IR(r);
	if (ir->imap || ir->pending || !ir->host || !*ir->host)
		return;
	ir->pending = tls_connect_begin(ir->host, ir->port, ir->family, ir->timeout);
}

/* Every error of the connection phase (TCP, TLS, CAPABILITY, login,
 * LIST "" "") reads "IMAP[R] host:port: ...", as imap_repo.h promises. */
static int imap_connect(struct repo *r)
{
	struct imap_repo *ir = IR(r);
	if (ir->imap && !ir->dead)
		return REPO_OK;
	ir->connecting = true;
	int code = connect_session(ir);
	ir->connecting = false;
	tls_connect_abandon(&ir->pending); /* left over when the settings failed */
	return code;
}

static int connect_session(struct imap_repo *ir)
{
	struct repo *r = &ir->base;
	char *err = NULL;
	int code;

	disconnect(ir, false);
	if (!ir->host || !*ir->host)
		return repo_fail(r, REPO_STORE_BAD, "IMAP[%s]: no remotehost configured", r->name);
	if (!ir->user || !ir->password)
		return conn_fail(ir, "no %s configured", ir->user ? "password" : "remoteuser");
	if (ir->fingerprints && tls_check_fingerprints(ir->fingerprints, &err) < 0) {
		code = conn_fail(ir, "%s", err);
		free(err);
		return code;
	}
	struct tls_params tp = { .host = ir->host, .cafile = ir->cafile,
				 .fingerprints = ir->fingerprints, .repo_name = r->name,
				 .clientcert = ir->clientcert, .clientkey = ir->clientkey,
				 .version = ir->tls_version, .trust_loopback = ir->trust_loopback };

	mailstream_low *low = ir->pending ? tls_connect_finish(&ir->pending, &err)
					  : tls_connect_tcp(ir->host, ir->port, ir->family,
								  ir->timeout, &err);
	if (!low)
		goto fail_err;
	tls_set_literal_limit(low, literal_limit(ir));
	if (ir->ssl) {
		mailstream_low *tlow = tls_start(low, &tp, &err);
		if (!tlow) {
			mailstream_low_close(low);
			mailstream_low_free(low);
			goto fail_err;
		}
		mailstream_low_free(low);
		low = tlow;
	}
	mailstream *stream = mailstream_new(low, 8192);
	ir->imap = mailimap_new(0, NULL);
	if (!stream || !ir->imap) {
		fprintf(stderr, "out of memory\n");
		abort();
	}
	imap_trace_reset(&ir->trace);
	if (log_debug_enabled(LOG_DBG_IMAP))
		mailimap_set_logger(ir->imap, trace_logger, ir);

	int rc = mailimap_connect(ir->imap, stream);
	if (rc != MAILIMAP_NO_ERROR_AUTHENTICATED && rc != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		if (rc == MAILIMAP_ERROR_DONT_ACCEPT_CONNECTION)
			code = conn_fail(ir, "server refused the connection: %s", server_text(ir));
		else if (rc == MAILIMAP_ERROR_STREAM) {
			char *why = stream_failure(ir);
			code = conn_fail(ir, "no IMAP greeting: %s", why);
			free(why);
		} else {
			code = conn_fail(ir, "no IMAP greeting: malformed greeting");
		}
		ir->dead = true;
		disconnect(ir, false);
		return code;
	}
	caps_load(ir);
	if (ir->caps.n == 0 && (code = caps_refresh(ir)) != REPO_OK)
		goto fail;
	if (!ir->ssl && ir->starttls) {
		if ((code = starttls(ir, &tp)) != REPO_OK)
			goto fail;
	} else if (!ir->ssl && !ir->warned_plain) {
		ir->warned_plain = true;
		log_warn("IMAP[%s] %s:%d: ssl and starttls are both off: the password and all mail "
			 "travel unencrypted",
			 r->name, ir->host, ir->port);
	}
	if (ir->imap->imap_state == MAILIMAP_STATE_NON_AUTHENTICATED &&
	    (code = authenticate(ir)) != REPO_OK)
		goto fail;
	/* The separator is asked for (LIST "" "") only when a caller needs it
	 * before a folder listing has shown it: a run that lists the folders
	 * saves the round trip. */
	log_debug(LOG_DBG_IMAP, "IMAP[%s]: connected to %s:%d", r->name, ir->host, ir->port);
	return REPO_OK;

fail:
	ir->dead = true;
	disconnect(ir, false);
	return code;
fail_err:
	code = conn_fail(ir, "%s", err);
	free(err);
	return code;
}

/* ---- folders ------------------------------------------------------------ */

static char imap_separator(struct repo *r)
{
	struct imap_repo *ir = IR(r);
	if (!ir->sep && need_conn(ir) == REPO_OK) {
		load_separator(ir);
		log_debug(LOG_DBG_IMAP, "IMAP[%s]: separator '%c' (LIST \"\" \"\")", r->name,
			  ir->sep);
	}
	return ir->sep ? ir->sep : '/';
}

/* What a folder listing shows of the separator: the delimiter of every
 * LIST reply, so that LIST "" "" is not needed. */
struct delim_seen {
	char delim;
	bool mixed;
};

static void delim_note(struct delim_seen *d, char delim)
{
	if (!delim)
		return;
	if (!d->delim)
		d->delim = delim;
	else if (d->delim != delim)
		d->mixed = true;
}

/* Takes the separator from a listing when it is not known yet and every
 * folder listed had the same one; a server whose namespaces differ keeps
 * LIST "" "" (the personal namespace's) for imap_separator to ask. */
static void learn_separator(struct imap_repo *ir, const struct delim_seen *d)
{
	if (ir->sep || !d->delim || d->mixed)
		return;
	ir->sep = d->delim;
	log_debug(LOG_DBG_IMAP, "IMAP[%s]: separator '%c' (from the folder listing)", ir->base.name,
		  ir->sep);
}


static bool mailbox_selectable(const struct mailimap_mailbox_list *mb)
{
	const struct mailimap_mbx_list_flags *f = mb->mb_flag;
	if (!f)
		return true;
	if (f->mbf_type == MAILIMAP_MBX_LIST_FLAGS_SFLAG &&
	    f->mbf_sflag == MAILIMAP_MBX_LIST_SFLAG_NOSELECT)
		return false;
	for (clistiter *it = f->mbf_oflags ? clist_begin(f->mbf_oflags) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_mbx_list_oflag *of = clist_content(it);
		const char *e = of->of_flag_ext;
		if (of->of_type != MAILIMAP_MBX_LIST_OFLAG_FLAG_EXT || !e)
			continue;
		if (*e == '\\')
			e++;
		if (!strcasecmp(e, "Noselect") || !strcasecmp(e, "NonExistent"))
			return false;
	}
	return true;
}

/* Names of the selectable folders of a plain LIST "" "*". */
static int list_plain(struct imap_repo *ir, struct strlist *names_r)
{
	clist *list = NULL;
	int rc = mailimap_list(ir->imap, "", "*", &list);
	if (rc != MAILIMAP_NO_ERROR)
		return imap_fail(ir, rc, REPO_STORE_BAD, "LIST \"\" \"*\"");
	struct delim_seen d = { 0 };
	for (clistiter *it = clist_begin(list); it; it = clist_next(it)) {
		struct mailimap_mailbox_list *mb = clist_content(it);
		delim_note(&d, mb->mb_delimiter);
		if (mb->mb_name && *mb->mb_name && mailbox_selectable(mb))
			strlist_add(names_r, mb->mb_name);
	}
	mailimap_list_result_free(list);
	learn_separator(ir, &d);
	return REPO_OK;
}

static int list_with_status(struct imap_repo *ir, struct strlist *names_r);

/* OfflineIMAP's reference / subscribedonly: LIST or LSUB <reference> "*". */
static int list_narrowed(struct imap_repo *ir, struct strlist *names_r)
{
	clist *list = NULL;
	const char *ref = ir->reference ? ir->reference : "";
	const char *cmd = ir->subscribedonly ? "LSUB" : "LIST";
	int rc = ir->subscribedonly ? mailimap_lsub(ir->imap, ref, "*", &list)
				    : mailimap_list(ir->imap, ref, "*", &list);
	if (rc != MAILIMAP_NO_ERROR)
		return imap_fail(ir, rc, REPO_STORE_BAD, "%s \"%s\" \"*\"", cmd, ref);
	struct delim_seen d = { 0 };
	for (clistiter *it = clist_begin(list); it; it = clist_next(it)) {
		struct mailimap_mailbox_list *mb = clist_content(it);
		delim_note(&d, mb->mb_delimiter);
		if (mb->mb_name && *mb->mb_name && mailbox_selectable(mb) &&
		    strlist_find(names_r, mb->mb_name) < 0)
			strlist_add(names_r, mb->mb_name);
	}
	mailimap_list_result_free(list);
	learn_separator(ir, &d);
	return REPO_OK;
}

static void drop_listed_status(struct imap_repo *ir)
{
	repo_probe_free(&ir->listed_status);
	ir->have_listed_status = false;
}

static int imap_list_folders(struct repo *r, struct strlist *names_r)
{
	struct imap_repo *ir = IR(r);
	int code = need_conn(ir);
	if (code)
		return code;
	drop_listed_status(ir);
	if (ir->reference || ir->subscribedonly)
		return list_narrowed(ir, names_r);
	if (has_cap(ir, "LIST-STATUS"))
		return list_with_status(ir, names_r);
	return list_plain(ir, names_r);
}

static bool already_exists(struct imap_repo *ir)
{
	struct mailimap_response_info *ri = ir->imap->imap_response_info;
	if (ri && ri->rsp_atom && !strcasecmp(ri->rsp_atom, "ALREADYEXISTS"))
		return true;
	const char *t = ir->imap->imap_response;
	return t && strcasestr(t, "exists");
}

/* What CREATE and DELETE check first: a connection, a name the server can
 * take, and the cached listing statuses dropped (the folder set changes).
 * Returns REPO_OK or the code to return. */
static int folder_change_begin(struct imap_repo *ir, const char *verb, const char *name)
{
	int code = need_conn(ir);
	if (code)
		return code;
	drop_listed_status(ir);
	if (!folder_name_ok(name))
		return repo_fail(&ir->base, REPO_FOLDER_BAD,
				 "IMAP[%s]: cannot %s \"%s\": not a 7-bit (modified UTF-7) name",
				 ir->base.name, verb, name);
	return REPO_OK;
}

static int imap_create_folder(struct repo *r, const char *name)
{
	struct imap_repo *ir = IR(r);
	int code = folder_change_begin(ir, "create", name);
	if (code)
		return code;
	char sep = imap_separator(r);
	char *prefix = xstrdup(name);
	size_t len = strlen(name);
	for (size_t i = 1; i <= len; i++) {
		if (i < len && name[i] != sep)
			continue;
		if (i < len && (name[i - 1] == sep))
			continue; /* empty level */
		memcpy(prefix, name, i);
		prefix[i] = '\0';
		int rc = mailimap_create(ir->imap, prefix);
		if (rc == MAILIMAP_NO_ERROR)
			continue;
		if (rc == MAILIMAP_ERROR_CREATE || rc == MAILIMAP_ERROR_PROTOCOL) {
			/* exists already; or a parent the server makes implicitly */
			if (already_exists(ir) || i < len)
				continue;
		}
		code = imap_fail(ir, rc, REPO_FOLDER_BAD, "CREATE %s", prefix);
		free(prefix);
		return code;
	}
	free(prefix);
	return REPO_OK;
}

/* --delete-folder (tools/info.c): DELETE of one folder, nothing else. */
int imap_repo_delete_folder(struct repo *r, const char *name)
{
	struct imap_repo *ir = IR(r);
	int code = folder_change_begin(ir, "delete", name);
	if (code)
		return code;
	int rc = mailimap_delete(ir->imap, name);
	if (rc != MAILIMAP_NO_ERROR)
		return imap_fail(ir, rc, REPO_FOLDER_BAD, "DELETE %s", name);
	return REPO_OK;
}

const struct strlist *imap_repo_capabilities(struct repo *r)
{
	return &IR(r)->caps;
}

/* libetpan reads numbers into a uint32_t and wraps: "* 4294967296 EXISTS"
 * arrives as 0 and would read as "the folder is empty". The raw reply of the
 * command just run is still in imap_stream_buffer (libetpan appends every
 * line of one response there and only drops literal contents), so this looks
 * there for an EXISTS count that does not fit 32 bits. */
static bool exists_overflows(struct imap_repo *ir)
{
	const MMAPString *b = ir->imap->imap_stream_buffer;
	if (!b || !b->str)
		return false;
	const char *p = b->str, *end = b->str + b->len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *next = eol ? eol + 1 : end;
		if (end - p > 2 && p[0] == '*' && p[1] == ' ') {
			const char *q = p + 2;
			uint64_t v = 0;
			bool big = false;
			while (q < next && *q >= '0' && *q <= '9') {
				v = v * 10 + (uint64_t)(*q++ - '0');
				if (v > UINT32_MAX) {
					big = true;
					v = UINT32_MAX; /* stays big; no uint64 wrap either */
				}
			}
			if (big && next - q >= 7 && !strncasecmp(q, " EXISTS", 7))
				return true;
		}
		p = next;
	}
	return false;
}

static void qr_keep(struct imap_repo *ir, uint64_t since, clist *fetch_result);
static void free_fetch_list(clist *l);
static clist *take_fetch_list(struct imap_repo *ir);

/* The extension data of the last command's replies (response codes and
 * untagged data libetpan parsed through an extension) of one extension
 * and type, one after the other:
 *   for (clistiter *it = ext_first(imap, id, type); it; it = ext_next(it, id, type))
 *           ... ext_data_of(it) ... */
static clistiter *ext_find(clistiter *it, int ext_id, int ext_type)
{
	for (; it; it = clist_next(it)) {
		struct mailimap_extension_data *ed = clist_content(it);
		if (ed->ext_extension && ed->ext_extension->ext_id == ext_id &&
		    ed->ext_type == ext_type && ed->ext_data)
			return it;
	}
	return NULL;
}

static clistiter *ext_first(mailimap *imap, int ext_id, int ext_type)
{
	struct mailimap_response_info *ri = imap->imap_response_info;
	return ri && ri->rsp_extension_list
		       ? ext_find(clist_begin(ri->rsp_extension_list), ext_id, ext_type)
		       : NULL;
}

static clistiter *ext_next(clistiter *it, int ext_id, int ext_type)
{
	return ext_find(clist_next(it), ext_id, ext_type);
}

static void *ext_data_of(clistiter *it)
{
	return ((struct mailimap_extension_data *)clist_content(it))->ext_data;
}

/* SELECT name (QRESYNC (uidvalidity modseq)) (RFC 7162 3.2.5), done here
 * because libetpan's mailimap_select_qresync leaves out the parentheses
 * around the QRESYNC parameter. As libetpan's SELECT does: a new
 * selection_info filled by the untagged replies, the state SELECTED on OK.
 * The FETCH and VANISHED replies stay in the response info for the
 * caller; *modseq_r is HIGHESTMODSEQ. */
static int select_qresync(struct imap_repo *ir, const char *name, uint32_t uidvalidity,
			  uint64_t modseq, uint64_t *modseq_r)
{
	mailimap *imap = ir->imap;
	*modseq_r = 0;
	struct strbuf cmd = { 0 };
	sb_adds(&cmd, "SELECT ");
	add_quoted(&cmd, name);
	sb_addf(&cmd, " (QRESYNC (%u %llu))\r\n", uidvalidity, (unsigned long long)modseq);
	int r = mailimap_send_current_tag(imap);
	if (r == MAILIMAP_NO_ERROR)
		r = write_str(imap, cmd.buf);
	sb_free(&cmd);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	if (mailstream_flush(imap->imap_stream) < 0)
		return MAILIMAP_ERROR_STREAM;
	if (!mailimap_read_line(imap))
		return MAILIMAP_ERROR_STREAM;
	if (imap->imap_selection_info)
		mailimap_selection_info_free(imap->imap_selection_info);
	imap->imap_selection_info = mailimap_selection_info_new();
	struct mailimap_response *resp = NULL;
	r = mailimap_parse_response(imap, &resp);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	bool ok = resp->rsp_resp_done->rsp_type == MAILIMAP_RESP_DONE_TYPE_TAGGED &&
		  resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type ==
			  MAILIMAP_RESP_COND_STATE_OK;
	mailimap_response_free(resp);
	for (clistiter *it = ext_first(imap, MAILIMAP_EXTENSION_CONDSTORE,
					MAILIMAP_CONDSTORE_TYPE_RESP_TEXT_CODE);
	     it; it = ext_next(it, MAILIMAP_EXTENSION_CONDSTORE, MAILIMAP_CONDSTORE_TYPE_RESP_TEXT_CODE)) {
		struct mailimap_condstore_resptextcode *code = ext_data_of(it);
		if (code->cs_type == MAILIMAP_CONDSTORE_RESPTEXTCODE_HIGHESTMODSEQ)
			*modseq_r = code->cs_data.cs_modseq_value;
		else if (code->cs_type == MAILIMAP_CONDSTORE_RESPTEXTCODE_NOMODSEQ)
			*modseq_r = 0;
	}
	if (!ok) {
		mailimap_selection_info_free(imap->imap_selection_info);
		imap->imap_selection_info = NULL;
		imap->imap_state = MAILIMAP_STATE_AUTHENTICATED;
		return MAILIMAP_ERROR_SELECT;
	}
	imap->imap_state = MAILIMAP_STATE_SELECTED;
	return MAILIMAP_NO_ERROR;
}

/* SELECT or EXAMINE name; with qr_modseq (and QRESYNC enabled), SELECT
 * ... (QRESYNC (qr_uidvalidity qr_modseq)), whose answer is kept (qr). */
static int select_common(struct imap_repo *ir, const char *name, bool for_write,
			 uint32_t qr_uidvalidity, uint64_t qr_modseq, struct repo_folder_status *st_r)
{
	struct repo *r = &ir->base;
	int code = need_conn(ir);
	if (code)
		return code;
	xfree_ptr(&r->folder);
	drop_listed_status(ir);
	qr_drop(ir);
	if (!folder_name_ok(name))
		return repo_fail(r, REPO_FOLDER_BAD,
				 "IMAP[%s][%s]: not a 7-bit (modified UTF-7) folder name", r->name, name);
	uint64_t modseq = 0;
	int rc;
	if (!ir->enable_tried && has_cap(ir, "QRESYNC")) {
		ir->enable_tried = true;
		rc = simple_command(ir->imap, "ENABLE QRESYNC");
		if (rc == MAILIMAP_NO_ERROR)
			ir->qresync = true;
		else if (rc != MAILIMAP_ERROR_CUSTOM_COMMAND && rc != MAILIMAP_ERROR_PROTOCOL)
			return imap_fail(ir, rc, REPO_STORE_BAD, "ENABLE QRESYNC");
	}
	bool qresync = for_write && ir->qresync && qr_uidvalidity && qr_modseq;
	clist *qr_fetch = NULL;
	if (qresync) {
		rc = select_qresync(ir, name, qr_uidvalidity, qr_modseq, &modseq);
		if (rc == MAILIMAP_NO_ERROR)
			qr_fetch = take_fetch_list(ir);
	} else if (has_cap(ir, "CONDSTORE")) {
		rc = for_write ? mailimap_select_condstore(ir->imap, name, &modseq)
			       : mailimap_examine_condstore(ir->imap, name, &modseq);
	} else {
		rc = for_write ? mailimap_select(ir->imap, name) : mailimap_examine(ir->imap, name);
	}
	r->folder = xstrdup(name); /* names the folder in errors */
	if (rc != MAILIMAP_NO_ERROR) {
		free_fetch_list(qr_fetch);
		code = imap_fail(ir, rc, REPO_FOLDER_BAD, "%s", for_write ? "SELECT" : "EXAMINE");
		xfree_ptr(&r->folder);
		return code;
	}
	struct mailimap_selection_info *si = ir->imap->imap_selection_info;
	if (exists_overflows(ir)) {
		free_fetch_list(qr_fetch);
		xfree_ptr(&r->folder);
		return repo_fail(r, REPO_FOLDER_BAD,
				 "IMAP[%s][%s]: %s: server announced more messages (EXISTS) than IMAP "
				 "can number (over 4294967295)",
				 r->name, name, for_write ? "SELECT" : "EXAMINE");
	}
	if (!si || si->sel_uidvalidity == 0) {
		free_fetch_list(qr_fetch);
		xfree_ptr(&r->folder);
		return repo_fail(r, REPO_FOLDER_BAD, "IMAP[%s][%s]: SELECT: server sent no UIDVALIDITY",
				 r->name, name);
	}
	/* A server whose UIDVALIDITY changed ignores the QRESYNC parameters
	 * (RFC 7162 3.2.5.2): nothing to keep then; the engine sees it too. */
	if (qresync && si->sel_uidvalidity == qr_uidvalidity && modseq)
		qr_keep(ir, qr_modseq, qr_fetch);
	free_fetch_list(qr_fetch);
	ir->readonly = !for_write || si->sel_perm == MAILIMAP_MAILBOX_READONLY;
	if (st_r) {
		st_r->uidvalidity = si->sel_uidvalidity;
		st_r->uidnext = si->sel_uidnext;
		st_r->exists = si->sel_exists;
		st_r->highestmodseq = modseq;
	}
	return REPO_OK;
}

static int imap_select_folder(struct repo *r, const char *name, bool for_write,
			      struct repo_folder_status *st_r)
{
	return select_common(IR(r), name, for_write, 0, 0, st_r);
}

static int imap_select_since(struct repo *r, const char *name, uint32_t uidvalidity,
			     uint64_t modseq, struct repo_folder_status *st_r)
{
	return select_common(IR(r), name, true, uidvalidity, modseq, st_r);
}

/* Nothing is sent: the server keeps the folder selected until the next
 * SELECT/EXAMINE (which deselects without expunging, like UNSELECT) or
 * LOGOUT, and every command we send outside a folder is valid while one is
 * selected. That saves a round trip per folder; need_folder() still
 * refuses folder commands until the next select. */
static void imap_close_folder(struct repo *r)
{
	xfree_ptr(&r->folder);
	qr_drop(IR(r));
}

/* ---- message attributes ------------------------------------------------- */

/* What one FETCH response said about the message body, worst first so the
 * best of several body items wins. */
enum body_kind {
	BODY_ABSENT, /* no body item at all */
	BODY_NIL,    /* BODY[] NIL or RFC822 NIL: no message */
	BODY_PART,   /* BODY[HEADER], BODY[1], BODY[]<10>...: not the whole message */
	BODY_WHOLE,  /* BODY[] or RFC822 with data: the message */
};

struct att {
	uint32_t uid;
	bool has_uid, has_size;
	enum body_kind body_kind;
	uint32_t size;
	flagset_t flags;
	int64_t time;
	const char *body; /* set with BODY_WHOLE only */
	size_t body_len;
};

static void att_body(struct att *a, enum body_kind kind, const char *body, size_t len)
{
	if (kind <= a->body_kind)
		return;
	a->body_kind = kind;
	a->body = kind == BODY_WHOLE ? body : NULL;
	a->body_len = kind == BODY_WHOLE ? len : 0;
}

static int64_t date_to_time(const struct mailimap_date_time *d)
{
	struct tm tm = { 0 };
	tm.tm_year = d->dt_year - 1900;
	tm.tm_mon = d->dt_month - 1;
	tm.tm_mday = d->dt_day;
	tm.tm_hour = d->dt_hour;
	tm.tm_min = d->dt_min;
	tm.tm_sec = d->dt_sec;
	time_t t = timegm(&tm);
	if (t == (time_t)-1)
		return 0;
	int z = d->dt_zone < 0 ? -d->dt_zone : d->dt_zone;
	int64_t off = (int64_t)(z / 100) * 3600 + (z % 100) * 60;
	return (int64_t)t - (d->dt_zone < 0 ? -off : off);
}

static flagset_t flags_of(const struct imap_repo *ir, clist *flag_fetch_list)
{
	flagset_t f = 0;
	for (clistiter *it = flag_fetch_list ? clist_begin(flag_fetch_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_flag_fetch *ff = clist_content(it);
		if (ff->fl_type != MAILIMAP_FLAG_FETCH_OTHER || !ff->fl_flag)
			continue;
		const struct mailimap_flag *fl = ff->fl_flag;
		switch (fl->fl_type) {
		case MAILIMAP_FLAG_SEEN: f |= FLAG_SEEN; break;
		case MAILIMAP_FLAG_ANSWERED: f |= FLAG_ANSWERED; break;
		case MAILIMAP_FLAG_FLAGGED: f |= FLAG_FLAGGED; break;
		case MAILIMAP_FLAG_DELETED: f |= FLAG_DELETED; break;
		case MAILIMAP_FLAG_DRAFT: f |= FLAG_DRAFT; break;
		case MAILIMAP_FLAG_KEYWORD:
			if (fl->fl_data.fl_keyword)
				f |= imap_flag_bit(fl->fl_data.fl_keyword, strlen(fl->fl_data.fl_keyword),
						   kw(ir));
			break;
		default: break; /* \Extension flags map to nothing */
		}
	}
	return f;
}

static void parse_att(const struct imap_repo *ir, const struct mailimap_msg_att *ma, struct att *a)
{
	memset(a, 0, sizeof(*a));
	for (clistiter *it = ma->att_list ? clist_begin(ma->att_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_msg_att_item *item = clist_content(it);
		if (item->att_type == MAILIMAP_MSG_ATT_ITEM_DYNAMIC) {
			if (item->att_data.att_dyn)
				a->flags |= flags_of(ir, item->att_data.att_dyn->att_list);
			continue;
		}
		if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC || !item->att_data.att_static)
			continue;
		const struct mailimap_msg_att_static *s = item->att_data.att_static;
		switch (s->att_type) {
		case MAILIMAP_MSG_ATT_UID:
			a->uid = s->att_data.att_uid;
			a->has_uid = a->uid != 0;
			break;
		case MAILIMAP_MSG_ATT_RFC822_SIZE:
			a->size = s->att_data.att_rfc822_size;
			a->has_size = true;
			break;
		case MAILIMAP_MSG_ATT_INTERNALDATE:
			if (s->att_data.att_internal_date)
				a->time = date_to_time(s->att_data.att_internal_date);
			break;
		case MAILIMAP_MSG_ATT_BODY_SECTION: {
			/* Only the section-less BODY[] from octet 0 is the message
			 * we asked for (libetpan leaves sec_section NULL for "[]");
			 * a header or a part stored in its place would be a silently
			 * truncated message. */
			const struct mailimap_msg_att_body_section *bs = s->att_data.att_body_section;
			if (!bs)
				break;
			if (!bs->sec_body_part)
				att_body(a, BODY_NIL, NULL, 0);
			else if (bs->sec_section || bs->sec_origin_octet != 0)
				att_body(a, BODY_PART, NULL, 0);
			else
				att_body(a, BODY_WHOLE, bs->sec_body_part, bs->sec_length);
			break;
		}
		case MAILIMAP_MSG_ATT_RFC822: /* RFC822 is the whole message too */
			if (s->att_data.att_rfc822.att_content)
				att_body(a, BODY_WHOLE, s->att_data.att_rfc822.att_content,
					 s->att_data.att_rfc822.att_length);
			else
				att_body(a, BODY_NIL, NULL, 0);
			break;
		default:
			break;
		}
	}
}

static void take_vanished(struct imap_repo *ir, struct uid_range **v_r, size_t *n_r);

/* Keeps what a SELECT ... (QRESYNC ...) reported (fetch_result: its FETCH
 * responses) for list_changes. */
static void qr_keep(struct imap_repo *ir, uint64_t since, clist *fetch_result)
{
	for (clistiter *it = fetch_result ? clist_begin(fetch_result) : NULL; it;
	     it = clist_next(it)) {
		struct att a;
		parse_att(ir, clist_content(it), &a);
		if (!a.has_uid)
			continue;
		struct repo_msg m = { .uid = a.uid, .flags = a.flags };
		repo_msg_list_add(&ir->qr.changed, &m);
	}
	take_vanished(ir, &ir->qr.vanished, &ir->qr.n_vanished);
	ir->qr.since = since;
	ir->qr.valid = true;
}


/* The FETCH responses of the last command, detached from libetpan. */
static clist *take_fetch_list(struct imap_repo *ir)
{
	struct mailimap_response_info *ri = ir->imap->imap_response_info;
	clist *l = ri ? ri->rsp_fetch_list : NULL;
	if (ri)
		ri->rsp_fetch_list = NULL;
	return l;
}

static void free_fetch_list(clist *l)
{
	if (l)
		mailimap_fetch_list_free(l);
}

/* ---- list, fetch -------------------------------------------------------- */

/* Appends the messages of a listing FETCH response (UID, FLAGS,
 * RFC822.SIZE, INTERNALDATE) to list and frees the response. Unsolicited
 * FETCHes (flag changes by other clients) lack the size and are skipped. */
static void add_listed_messages(struct imap_repo *ir, clist *fl, struct repo_msg_list *list)
{
	for (clistiter *it = fl ? clist_begin(fl) : NULL; it; it = clist_next(it)) {
		struct att a;
		parse_att(ir, clist_content(it), &a);
		if (!a.has_uid || !a.has_size)
			continue;
		struct repo_msg m = { .uid = a.uid, .flags = a.flags, .size = a.size,
				      .time = a.time, .key = NULL };
		repo_msg_list_add(list, &m);
	}
	free_fetch_list(fl);
}

static int cmp_msg_val_uid(const void *a, const void *b);

static int imap_list_messages(struct repo *r, struct repo_msg_list *list)
{
	struct imap_repo *ir = IR(r);
	int code = need_folder(ir);
	if (code)
		return code;
	/* Always asked, even when SELECT said EXISTS 0: a count is only a claim
	 * (libetpan wraps one above 32 bits to 0, a server may lie), and an
	 * empty listing taken from it would read as "every message deleted".
	 * An empty folder answers OK without data, for the same one round trip. */
	struct mailimap_selection_info *si = ir->imap->imap_selection_info;
	uint32_t exists = si ? si->sel_exists : 0;
	uint32_t chunk = LIST_CHUNK;
	const char *test_chunk = getenv("OFFLINEFS_LIST_CHUNK"); /* tests: small slices */
	if (test_chunk && atoi(test_chunk) > 0)
		chunk = (uint32_t)atoi(test_chunk);
	if (exists <= chunk || exists / chunk > 2000u) {
		static const char cmd[] = "UID FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE)";
		int rc = simple_command(ir->imap, cmd);
		clist *fl = rc == MAILIMAP_NO_ERROR ? take_fetch_list(ir) : NULL;
		if (rc != MAILIMAP_NO_ERROR)
			return imap_fail(ir, rc, REPO_FOLDER_BAD, "%s", cmd);
		add_listed_messages(ir, fl, list);
		return REPO_OK;
	}
	/* A big folder in slices by sequence number, so that libetpan's parsed
	 * copy of a reply (several hundred bytes per message) stays small.
	 * Sequence numbers cannot shift between the slices: a server must not
	 * send EXPUNGE while no command is in progress nor during a FETCH
	 * (RFC 3501 7.4.1), and only FETCHes are sent. The last slice ends in
	 * "*", so mail that arrived since SELECT is listed too. */
	size_t first_new = list->n;
	for (uint32_t start = 1; start <= exists; start += chunk) {
		char *cmd = start + chunk > exists
				    ? xasprintf("FETCH %u:* (UID FLAGS RFC822.SIZE INTERNALDATE)", start)
				    : xasprintf("FETCH %u:%u (UID FLAGS RFC822.SIZE INTERNALDATE)", start,
						start + chunk - 1);
		int rc = simple_command(ir->imap, cmd);
		clist *fl = rc == MAILIMAP_NO_ERROR ? take_fetch_list(ir) : NULL;
		if (rc != MAILIMAP_NO_ERROR) {
			code = imap_fail(ir, rc, REPO_FOLDER_BAD, "%s", cmd);
			free(cmd);
			return code;
		}
		free(cmd);
		add_listed_messages(ir, fl, list);
	}
	/* a message answered twice (n:* reaching back) is listed once */
	struct repo_msg *v = list->v + first_new;
	size_t n = list->n - first_new, w = 0;
	if (n)
		qsort(v, n, sizeof(*v), cmp_msg_val_uid);
	for (size_t i = 0; i < n; i++) {
		if (w && v[w - 1].uid == v[i].uid) {
			free(v[i].key);
			continue;
		}
		v[w++] = v[i];
	}
	list->n = first_new + w;
	return REPO_OK;
}

/* CRLF -> LF: only "\r\n" pairs; a lone CR stays. */
static void crlf_to_lf(struct strbuf *out, const char *s, size_t len)
{
	sb_reset(out);
	sb_grow(out, len);
	char *o = out->buf;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\r' && i + 1 < len && s[i + 1] == '\n')
			continue;
		*o++ = s[i];
	}
	out->len = (size_t)(o - out->buf);
	out->buf[out->len] = '\0';
}

/* LF -> CRLF: a bare LF gets a CR; an existing CRLF and a lone CR stay. */
static void lf_to_crlf(struct strbuf *out, const char *s, size_t len)
{
	size_t extra = 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			extra++;
	sb_grow(out, len + extra);
	char *o = out->buf + out->len;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
			*o++ = '\r';
		*o++ = s[i];
	}
	out->len = (size_t)(o - out->buf);
	out->buf[out->len] = '\0';
}

static int cmp_msg_uid(const void *a, const void *b)
{
	const struct repo_msg *x = *(struct repo_msg *const *)a, *y = *(struct repo_msg *const *)b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Index of uid in the uid-sorted v[0..n), or -1. */
static ptrdiff_t find_uid(struct repo_msg *const *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid]->uid < uid)
			lo = mid + 1;
		else if (v[mid]->uid > uid)
			hi = mid;
		else
			return (ptrdiff_t)mid;
	}
	return -1;
}

static bool expunge_issued(struct imap_repo *ir)
{
	struct mailimap_response_info *ri = ir->imap->imap_response_info;
	return ri && ri->rsp_atom && !strcasecmp(ri->rsp_atom, "EXPUNGEISSUED");
}

/* Per requested UID during a fetch: what has come for it so far. */
enum fetch_state {
	FETCH_PENDING,  /* nothing: not in the response (yet) */
	FETCH_NO_BODY,  /* a FETCH response with its UID but no body item */
	FETCH_NIL,      /* its body came as NIL */
	FETCH_PART,     /* only some other section came (BODY[HEADER] ...) */
	FETCH_DONE,     /* delivered to the callback */
};

/* UIDs of a fetch that got no body, each with the reason, for the one
 * REPO_MSG_BAD line imap_fetch returns at the end. */
struct fetch_misses {
	struct fetch_miss {
		uint32_t uid;
		size_t reason; /* index into reasons */
	} *v;
	size_t n, cap;
	struct strlist reasons; /* distinct, in order of appearance */
};

static void miss_add(struct fetch_misses *fm, uint32_t uid, const char *reason)
{
	int i = strlist_find(&fm->reasons, reason);
	if (i < 0) {
		strlist_add(&fm->reasons, reason);
		i = (int)fm->reasons.n - 1;
	}
	xgrow(&fm->v, &fm->cap, fm->n + 1, sizeof(*fm->v));
	fm->v[fm->n++] = (struct fetch_miss){ uid, (size_t)i };
}

static void misses_free(struct fetch_misses *fm)
{
	free(fm->v);
	strlist_free(&fm->reasons);
}

/* "IMAP[R][F]: UID FETCH: no body for UID 2: <why>; UIDs 5:7: <why>" as the
 * repo error, kept well below a screen line per reason and bounded overall
 * (a broken server can fail thousands of UIDs for the same reason, and the
 * UID lists of a batch are ascending, so each group compresses well). */
static int misses_report(struct imap_repo *ir, const struct fetch_misses *fm)
{
	struct strbuf sb = STRBUF_INIT, set = STRBUF_INIT;
	uint32_t *uids = xmalloc(fm->n * sizeof(*uids));
	size_t shown = 0;
	for (size_t r = 0; r < fm->reasons.n; r++) {
		if (sb.len > 300)
			break;
		size_t k = 0;
		for (size_t i = 0; i < fm->n; i++)
			if (fm->v[i].reason == r)
				uids[k++] = fm->v[i].uid;
		sb_reset(&set);
		size_t used = uidset_next_chunk(uids, k, 80, &set);
		sb_addf(&sb, "%s%s %s", r ? "; " : "", k > 1 ? "UIDs" : "UID", sb_str(&set));
		if (used < k)
			sb_addf(&sb, " and %zu more", k - used);
		sb_addf(&sb, ": %s", fm->reasons.v[r]);
		shown += k;
	}
	if (shown < fm->n)
		sb_addf(&sb, "; %zu more UIDs for other reasons", fm->n - shown);
	int code = repo_fail(&ir->base, REPO_MSG_BAD, "IMAP[%s][%s]: UID FETCH: no body for %s",
			     ir->base.name, ir->base.folder, sb_str(&sb));
	free(uids);
	sb_free(&set);
	sb_free(&sb);
	return code;
}

/* A UID FETCH sent and not yet (fully) handled: the batch it covers and
 * what its reply said. */
struct fetch_cmd {
	struct repo_msg **v;  /* the sorted batch slice */
	unsigned char *state; /* enum fetch_state per v[i] */
	size_t n;
	char *set;
	int rc;               /* libetpan result of the reply */
	clist *fl;            /* its FETCH responses, detached */
	bool expunged;        /* NO [EXPUNGEISSUED] */
	char *refused;        /* why the server failed it, or NULL */
};

static int fetch_send(struct imap_repo *ir, struct fetch_cmd *fc)
{
	int r = mailimap_send_current_tag(ir->imap);
	if (r == MAILIMAP_NO_ERROR)
		r = write_str(ir->imap, "UID FETCH ");
	if (r == MAILIMAP_NO_ERROR)
		r = write_str(ir->imap, fc->set);
	if (r == MAILIMAP_NO_ERROR)
		r = write_str(ir->imap, " (UID BODY.PEEK[])\r\n");
	if (r == MAILIMAP_NO_ERROR && mailstream_flush(ir->imap->imap_stream) < 0)
		r = MAILIMAP_ERROR_STREAM;
	return r == MAILIMAP_NO_ERROR
		       ? REPO_OK
		       : imap_fail(ir, r, REPO_FOLDER_BAD, "UID FETCH %s", fc->set);
}

/* Reads the reply of the command fetch_send() wrote; everything taken
 * from the response info now, before another command replaces it. */
static int fetch_recv(struct imap_repo *ir, struct fetch_cmd *fc)
{
	bool ok = false;
	int rc = read_tagged(ir->imap, &ok);
	if (rc == MAILIMAP_NO_ERROR && !ok)
		rc = MAILIMAP_ERROR_CUSTOM_COMMAND;
	fc->rc = rc;
	/* NO and BAD still leave the untagged data that came before them in
	 * the response info: the bodies of a partial failure are delivered. */
	if (rc != MAILIMAP_NO_ERROR && rc != MAILIMAP_ERROR_CUSTOM_COMMAND &&
	    rc != MAILIMAP_ERROR_PROTOCOL)
		return imap_fail(ir, rc, REPO_FOLDER_BAD, "UID FETCH %s", fc->set);
	fc->fl = take_fetch_list(ir);
	fc->expunged = rc == MAILIMAP_ERROR_CUSTOM_COMMAND && expunge_issued(ir);
	fc->refused = rc != MAILIMAP_NO_ERROR ? failure_reason(ir, rc) : NULL;
	return REPO_OK;
}

/* Hands the bodies of a received reply to cb as they are taken from it;
 * requested UIDs that got none are added to fm, except those the server
 * may simply have expunged meanwhile (absent from a response whose tagged
 * reply is OK, or NO [EXPUNGEISSUED]): those are skipped silently as the
 * contract says. Returns REPO_OK, or the callback's failure. */
static int fetch_deliver(struct imap_repo *ir, struct fetch_cmd *fc, repo_body_cb *cb, void *ctx,
			 struct fetch_misses *fm)
{
	struct repo_msg **v = fc->v;
	unsigned char *state = fc->state;
	size_t n = fc->n;
	int code = REPO_OK;
	clist *fl = fc->fl;
	clistiter *it;
	while (fl && (it = clist_begin(fl)) != NULL) {
		struct mailimap_msg_att *ma = clist_content(it);
		clist_delete(fl, it);
		struct att a;
		parse_att(ir, ma, &a);
		ptrdiff_t k = a.has_uid ? find_uid(v, n, a.uid) : -1;
		if (k >= 0 && state[k] != FETCH_DONE && a.body_kind != BODY_WHOLE) {
			unsigned char seen = a.body_kind == BODY_NIL    ? FETCH_NIL
					     : a.body_kind == BODY_PART ? FETCH_PART
									: FETCH_NO_BODY;
			if (seen > state[k])
				state[k] = seen;
		} else if (k >= 0 && state[k] != FETCH_DONE && code == REPO_OK) {
			state[k] = FETCH_DONE;
			crlf_to_lf(&ir->buf, a.body, a.body_len);
			mailimap_msg_att_free(ma); /* the raw copy is no longer needed */
			ma = NULL;
			xfree_ptr(&ir->base.error);
			if (cb(ctx, v[k], ir->buf.buf, ir->buf.len) != 0) {
				if (!ir->base.error)
					repo_fail(&ir->base, REPO_FOLDER_BAD,
						  "IMAP[%s][%s]: UID %u: fetch stopped by the caller",
						  ir->base.name, ir->base.folder, v[k]->uid);
				code = REPO_FOLDER_BAD;
			}
		}
		if (ma)
			mailimap_msg_att_free(ma);
	}
	free_fetch_list(fl);
	fc->fl = NULL;
	if (code != REPO_OK)
		return code;

	const char *refused = fc->refused;
	bool expunged = fc->expunged;
	for (size_t k = 0; k < n; k++) {
		switch ((enum fetch_state)state[k]) {
		case FETCH_DONE: break;
		case FETCH_PENDING:
			if (refused && !expunged)
				miss_add(fm, v[k]->uid, refused);
			break;
		case FETCH_NO_BODY:
			if (!expunged)
				miss_add(fm, v[k]->uid, refused ? refused : "the server answered without BODY[]");
			break;
		case FETCH_NIL:
			if (!expunged)
				miss_add(fm, v[k]->uid, "the server sent BODY[] NIL");
			break;
		case FETCH_PART:
			miss_add(fm, v[k]->uid, "the server sent a part of it, not BODY[]");
			break;
		}
	}
	return REPO_OK;
}

static void fetch_cmd_clear(struct fetch_cmd *fc)
{
	free_fetch_list(fc->fl);
	free(fc->set);
	free(fc->refused);
	memset(fc, 0, sizeof(*fc));
}

/* Sends the UID FETCH for the messages from *pos on: as many as fit
 * batch_bytes of summed RFC822.SIZE (one bigger message goes alone), at
 * most FETCH_BATCH_UIDS, in a UID set that fits a command line. */
static int fetch_next(struct imap_repo *ir, struct repo_msg **v, const uint32_t *uids,
		      unsigned char *state, size_t m, size_t *pos, struct strbuf *set,
		      struct fetch_cmd *fc)
{
	size_t i = *pos, j = i;
	uint64_t sum = 0;
	while (j < m && j - i < FETCH_BATCH_UIDS && (j == i || sum + v[j]->size <= ir->batch_bytes))
		sum += v[j++]->size;
	sb_reset(set);
	size_t used = uidset_next_chunk(uids + i, j - i, UIDSET_CHUNK_MAX, set);
	*fc = (struct fetch_cmd){ .v = v + i, .state = state + i, .n = used, .set = sb_detach(set) };
	*pos = i + used;
	int code = fetch_send(ir, fc);
	if (code != REPO_OK)
		fetch_cmd_clear(fc);
	return code;
}

static int imap_fetch(struct repo *r, struct repo_msg *const *msgs, size_t n, repo_body_cb *cb,
		      void *ctx)
{
	struct imap_repo *ir = IR(r);
	int code = need_folder(ir);
	if (code || n == 0)
		return code;
	struct repo_msg **v = xmalloc(n * sizeof(*v));
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (msgs[i]->uid != 0)
			v[m++] = msgs[i];
	qsort(v, m, sizeof(*v), cmp_msg_uid);
	uint32_t *uids = xmalloc((m ? m : 1) * sizeof(*uids));
	unsigned char *state = xcalloc(m ? m : 1, sizeof(*state)); /* enum fetch_state */
	struct fetch_misses fm = { 0 };
	struct strbuf set = STRBUF_INIT;
	for (size_t k = 0; k < m; k++)
		uids[k] = v[k]->uid;

	/* Batches: fetch_next. One command is kept in flight: the next is
	 * sent as soon as a reply is in, so the server reads and sends it
	 * while we write the files of the previous one, and memory holds one
	 * parsed reply at a time (libetpan parses a whole reply before
	 * returning it). A command the server refuses
	 * does not stop the others: its UIDs are reported at the end
	 * (REPO_MSG_BAD) and fetched again by the next sync. */
	struct fetch_cmd cur = { 0 }, next = { 0 };
	size_t pos = 0;
	bool have_next = false;
	if (m && (code = fetch_next(ir, v, uids, state, m, &pos, &set, &next)) == REPO_OK)
		have_next = true;
	while (have_next) {
		cur = next;
		next = (struct fetch_cmd){ 0 };
		have_next = false;
		if ((code = fetch_recv(ir, &cur)) != REPO_OK) {
			fetch_cmd_clear(&cur);
			break;
		}
		/* the following command goes out before these bodies are written */
		if (pos < m) {
			if ((code = fetch_next(ir, v, uids, state, m, &pos, &set, &next)) != REPO_OK) {
				fetch_cmd_clear(&cur);
				break;
			}
			have_next = true;
		}
		code = fetch_deliver(ir, &cur, cb, ctx, &fm);
		fetch_cmd_clear(&cur);
		if (code != REPO_OK) {
			if (have_next) {
				/* keep the connection in step: read and drop the reply */
				char *keep = ir->base.error ? xstrdup(ir->base.error) : NULL;
				if (fetch_recv(ir, &next) != REPO_OK)
					ir->dead = true;
				fetch_cmd_clear(&next);
				if (keep) {
					free(ir->base.error);
					ir->base.error = keep;
				}
			}
			break;
		}
	}
	if (code == REPO_OK && fm.n > 0)
		code = misses_report(ir, &fm);
	misses_free(&fm);
	sb_free(&set);
	free(state);
	free(uids);
	free(v);
	/* a 4 MB message should not pin 4 MB until the next fetch */
	if (ir->buf.cap > (1u << 20))
		sb_free(&ir->buf);
	return code;
}

/* The body bytes of "BODY[]<origin>" for uid in a FETCH reply, or false. */
static bool find_piece(clist *fl, uint32_t uid, const char **data_r, size_t *len_r)
{
	for (clistiter *it = fl ? clist_begin(fl) : NULL; it; it = clist_next(it)) {
		struct mailimap_msg_att *ma = clist_content(it);
		uint32_t got_uid = 0;
		const char *data = NULL;
		size_t len = 0;
		bool have = false;
		for (clistiter *j = ma->att_list ? clist_begin(ma->att_list) : NULL; j;
		     j = clist_next(j)) {
			struct mailimap_msg_att_item *item = clist_content(j);
			if (item->att_type != MAILIMAP_MSG_ATT_ITEM_STATIC)
				continue;
			struct mailimap_msg_att_static *st = item->att_data.att_static;
			if (st->att_type == MAILIMAP_MSG_ATT_UID) {
				got_uid = st->att_data.att_uid;
			} else if (st->att_type == MAILIMAP_MSG_ATT_BODY_SECTION) {
				const struct mailimap_msg_att_body_section *bs =
					st->att_data.att_body_section;
				if (bs && !bs->sec_section && bs->sec_body_part) {
					data = bs->sec_body_part;
					len = bs->sec_length;
					have = true;
				}
			}
		}
		if (have && got_uid == uid) {
			*data_r = data;
			*len_r = len;
			return true;
		}
	}
	return false;
}

struct whole_ctx {
	int (*cb)(void *ctx, const char *data, size_t len);
	void *ctx;
	bool got;
};

static int whole_one(void *ctx, const struct repo_msg *msg, const char *body, size_t len)
{
	(void)msg;
	struct whole_ctx *w = ctx;
	w->got = true;
	return len ? w->cb(w->ctx, body, len) : 0;
}

/* fetch_pieces' fallback: msg whole, in one FETCH (held in memory). */
static int fetch_whole(struct imap_repo *ir, const struct repo_msg *msg,
		       int (*cb)(void *ctx, const char *data, size_t len), void *ctx,
		       bool *complete_r)
{
	struct repo_msg one = *msg;
	struct repo_msg *v[1] = { &one };
	struct whole_ctx w = { .cb = cb, .ctx = ctx };
	int code = imap_fetch(&ir->base, v, 1, whole_one, &w);
	*complete_r = code == REPO_OK && w.got;
	return code;
}

/* The server's reply to a partial FETCH did not parse (one labels it
 * "BODY[]<0.1048576>", echoing the request, where RFC 3501 says
 * "BODY[]<0>"): the connection is opened again, the folder selected again
 * (its UIDVALIDITY must not have changed: the UID would name another
 * message), and from now on this server's big messages come whole. */
static int partial_fallback(struct imap_repo *ir, const struct repo_msg *msg)
{
	struct repo *r = &ir->base;
	log_warn("%s; this server's partial FETCH replies cannot be parsed: fetching whole "
		 "messages from it", repo_error(r));
	ir->no_partial = true;
	char *folder = xstrdup(r->folder);
	bool for_write = !ir->readonly;
	uint32_t uidvalidity = ir->imap && ir->imap->imap_selection_info
				       ? ir->imap->imap_selection_info->sel_uidvalidity
				       : 0;
	struct repo_folder_status st = { 0 };
	int code = imap_connect(r);
	if (code == REPO_OK)
		code = select_common(ir, folder, for_write, 0, 0, &st);
	if (code == REPO_OK && st.uidvalidity != uidvalidity)
		code = repo_fail(r, REPO_FOLDER_BAD, "IMAP[%s][%s]: UID %u: UIDVALIDITY changed "
				 "while connecting again", r->name, folder, msg->uid);
	free(folder);
	return code;
}

static int imap_fetch_pieces(struct repo *r, const struct repo_msg *msg, size_t piece,
			     int (*cb)(void *ctx, const char *data, size_t len), void *ctx,
			     bool *complete_r)
{
	struct imap_repo *ir = IR(r);
	*complete_r = false;
	int code = need_folder(ir);
	if (code)
		return code;
	if (ir->no_partial)
		return fetch_whole(ir, msg, cb, ctx, complete_r);
	if (piece == 0 || piece > UINT32_MAX / 2)
		piece = 1u << 20;
	uint64_t off = 0;
	bool cr_pending = false; /* a piece ended in CR: is it half of a CRLF? */
	for (;;) {
		char *cmd = xasprintf("UID FETCH %u (UID BODY.PEEK[]<%llu.%zu>)", msg->uid,
				      (unsigned long long)off, piece);
		int rc = simple_command(ir->imap, cmd);
		if (rc != MAILIMAP_NO_ERROR && rc != MAILIMAP_ERROR_CUSTOM_COMMAND &&
		    rc != MAILIMAP_ERROR_PROTOCOL) {
			code = imap_fail(ir, rc, REPO_FOLDER_BAD, "%s", cmd);
			free(cmd);
			if (rc == MAILIMAP_ERROR_PARSE && off == 0) {
				code = partial_fallback(ir, msg);
				if (code == REPO_OK)
					code = fetch_whole(ir, msg, cb, ctx, complete_r);
			}
			return code;
		}
		clist *fl = take_fetch_list(ir);
		const char *data = NULL;
		size_t len = 0;
		bool found = find_piece(fl, msg->uid, &data, &len);
		if (!found && rc == MAILIMAP_NO_ERROR && off > 0 && off >= msg->size) {
			/* asked past the end of a message whose size is a multiple
			 * of the piece, and the server sent nothing: that is the end */
			free_fetch_list(fl);
			free(cmd);
			if (cr_pending) {
				char cr = '\r';
				if (cb(ctx, &cr, 1) != 0)
					return repo_fail(r, REPO_FOLDER_BAD, "IMAP[%s][%s]: UID %u: fetch "
							 "stopped by the caller", r->name, r->folder,
							 msg->uid);
			}
			break;
		}
		if (!found) {
			/* gone meanwhile (an OK without it, or NO [EXPUNGEISSUED]) */
			bool vanished = rc == MAILIMAP_NO_ERROR ||
					(rc == MAILIMAP_ERROR_CUSTOM_COMMAND && expunge_issued(ir));
			if (!vanished) {
				char *why = failure_reason(ir, rc);
				code = repo_fail(r, REPO_MSG_BAD, "IMAP[%s][%s]: UID %u: %s: %s", r->name,
						 r->folder, msg->uid, cmd, why);
				free(why);
			}
			free_fetch_list(fl);
			free(cmd);
			return vanished ? REPO_OK : code;
		}
		free(cmd);
		size_t got = len;
		struct strbuf *out = &ir->buf;
		sb_reset(out);
		if (cr_pending) {
			if (len && data[0] == '\n') {
				data++;
				len--;
				sb_addc(out, '\n');
			} else {
				sb_addc(out, '\r');
			}
			cr_pending = false;
		}
		bool last = got < piece;
		if (!last && len && data[len - 1] == '\r') {
			cr_pending = true;
			len--;
		}
		struct strbuf conv = STRBUF_INIT;
		crlf_to_lf(&conv, data, len);
		sb_add(out, conv.buf, conv.len);
		sb_free(&conv);
		free_fetch_list(fl);
		int stop = out->len ? cb(ctx, out->buf, out->len) : 0;
		if (stop != 0) {
			if (!ir->base.error)
				repo_fail(r, REPO_FOLDER_BAD,
					  "IMAP[%s][%s]: UID %u: fetch stopped by the caller", r->name,
					  r->folder, msg->uid);
			return REPO_FOLDER_BAD;
		}
		off += got;
		if (last)
			break;
	}
	*complete_r = true;
	if (ir->buf.cap > (1u << 20))
		sb_free(&ir->buf);
	return REPO_OK;
}

/* ---- store (APPEND) ----------------------------------------------------- */

static uint32_t crc_table[256];

static void crc_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

/* zlib's crc32 over more data: start with 0xffffffff, finish with ^ that. */
static uint32_t crc32_update(uint32_t c, const char *s, size_t len)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, crc_table_init);
	const uint32_t *table = crc_table;
	for (size_t i = 0; i < len; i++)
		c = table[(c ^ (unsigned char)s[i]) & 0xff] ^ (c >> 8);
	return c;
}

/* zlib's crc32, as OfflineIMAP puts it into X-OfflineIMAP. */
static uint32_t crc32_of(const char *s, size_t len)
{
	return crc32_update(0xffffffffu, s, len) ^ 0xffffffffu;
}

/* "17-Jul-1996 02:44:25 -0700" in local time with the local UTC offset. */
static bool format_internaldate(int64_t t, char *out, size_t size)
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !localtime_r(&tt, &tm) || tm.tm_year + 1900 > 9999)
		return false;
	long off = tm.tm_gmtoff / 60;
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	snprintf(out, size, "%02d-%s-%04d %02d:%02d:%02d %c%02ld%02ld", tm.tm_mday, mon[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, sign, off / 60, off % 60);
	return true;
}

/* The uid-set of the last reply's [APPENDUID ...], or NULL. */
static clist *appenduid_set(struct imap_repo *ir)
{
	for (clistiter *it = ext_first(ir->imap, MAILIMAP_EXTENSION_UIDPLUS,
					MAILIMAP_UIDPLUS_RESP_CODE_APND);
	     it; it = ext_next(it, MAILIMAP_EXTENSION_UIDPLUS, MAILIMAP_UIDPLUS_RESP_CODE_APND)) {
		struct mailimap_uidplus_resp_code_apnd *apnd = ext_data_of(it);
		if (apnd->uid_set && apnd->uid_set->set_list)
			return apnd->uid_set->set_list;
	}
	return NULL;
}

/* The UID APPENDUID gave a one-message APPEND, or 0. */
static uint32_t appenduid(struct imap_repo *ir)
{
	clist *set = appenduid_set(ir);
	clistiter *si = set ? clist_begin(set) : NULL;
	return si ? ((struct mailimap_set_item *)clist_content(si))->set_first : 0;
}

/* Sends the APPEND of ir->buf (CRLF text) with the given flags and date.
 * Returns a libetpan code; *ok_r whether the server said OK. */
static int send_append(struct imap_repo *ir, const char *flags, const char *date, bool *ok_r)
{
	mailimap *imap = ir->imap;
	size_t len = ir->buf.len;
	bool plus = (has_cap(ir, "LITERAL+") && len <= LITERAL_PLUS_MAX) ||
		    (has_cap(ir, "LITERAL-") && len <= 4096);
	struct strbuf cmd = STRBUF_INIT;
	sb_adds(&cmd, "APPEND ");
	add_quoted(&cmd, ir->base.folder);
	if (*flags)
		sb_addf(&cmd, " (%s)", flags);
	if (*date)
		sb_addf(&cmd, " \"%s\"", date);
	sb_addf(&cmd, " {%zu%s}\r\n", len, plus ? "+" : "");

	int rc = mailimap_send_current_tag(imap);
	if (rc == MAILIMAP_NO_ERROR)
		rc = write_str(imap, sb_str(&cmd));
	sb_free(&cmd);
	if (rc != MAILIMAP_NO_ERROR)
		return rc;
	*ok_r = false;
	if (!plus) {
		bool cont = false;
		if (mailstream_flush(imap->imap_stream) < 0)
			return MAILIMAP_ERROR_STREAM;
		if ((rc = wait_continuation(imap, &cont)) != MAILIMAP_NO_ERROR)
			return rc;
		if (!cont) { /* refused before the upload (TOOBIG, TRYCREATE...) */
			struct mailimap_response *resp = NULL;
			rc = mailimap_parse_response(imap, &resp);
			if (rc == MAILIMAP_NO_ERROR)
				mailimap_response_free(resp);
			return rc;
		}
	}
	if (mailstream_write(imap->imap_stream, ir->buf.buf, len) < 0 ||
	    mailstream_write(imap->imap_stream, "\r\n", 2) < 0 ||
	    mailstream_flush(imap->imap_stream) < 0)
		return MAILIMAP_ERROR_STREAM;
	return read_tagged(imap, ok_r);
}

/* Without UIDPLUS: the one message carrying header value marker. */
static uint32_t search_marker(struct imap_repo *ir, const char *marker)
{
	int rc = mailimap_noop(ir->imap); /* lets the server notice the new message */
	if (rc != MAILIMAP_NO_ERROR) {
		imap_fail(ir, rc, REPO_MSG_BAD, "NOOP");
		return 0;
	}
	char *cmd = xasprintf("UID SEARCH HEADER X-OfflineIMAP \"%s\"", marker);
	rc = simple_command(ir->imap, cmd);
	free(cmd);
	if (rc != MAILIMAP_NO_ERROR) {
		imap_fail(ir, rc, REPO_MSG_BAD, "UID SEARCH HEADER X-OfflineIMAP %s", marker);
		return 0;
	}
	struct mailimap_response_info *ri = ir->imap->imap_response_info;
	clist *res = ri ? ri->rsp_search_result : NULL;
	int hits = res ? clist_count(res) : 0;
	if (hits == 1)
		return *(uint32_t *)clist_content(clist_begin(res));
	log_warn("IMAP[%s][%s]: found %d messages with X-OfflineIMAP: %s after APPEND; UID unknown",
		 ir->base.name, ir->base.folder, hits, marker);
	return 0;
}

/* After an APPEND's tagged reply (ok: it said OK): the refusal (a
 * missing folder, [TRYCREATE], fails the folder; anything else the
 * message), or the new UID in *uid_r: APPENDUID, or without UIDPLUS the
 * message carrying marker; 0 when not learned. */
static int append_outcome(struct imap_repo *ir, bool ok, bool uidplus, const char *marker,
			  uint64_t bytes, uint32_t *uid_r)
{
	if (uid_r)
		*uid_r = 0;
	if (!ok) {
		struct mailimap_response_info *ri = ir->imap->imap_response_info;
		return imap_fail(ir, MAILIMAP_ERROR_APPEND,
				 ri && ri->rsp_trycreate ? REPO_FOLDER_BAD : REPO_MSG_BAD,
				 "APPEND (%llu bytes)", (unsigned long long)bytes);
	}
	uint32_t got;
	if (uidplus) {
		got = appenduid(ir);
		if (got == 0)
			log_warn("IMAP[%s][%s]: server has UIDPLUS but sent no APPENDUID; UID unknown",
				 ir->base.name, ir->base.folder);
	} else {
		got = search_marker(ir, marker);
		if (ir->dead)
			return REPO_STORE_BAD;
	}
	if (uid_r)
		*uid_r = got;
	return REPO_OK;
}

static int imap_store(struct repo *r, const char *body, size_t len, flagset_t flags, int64_t time,
		      uint32_t uid, uint32_t *uid_r, char **key_r)
{
	struct imap_repo *ir = IR(r);
	(void)uid;
	if (uid_r)
		*uid_r = 0;
	if (key_r)
		*key_r = NULL;
	int code = need_folder(ir);
	if (code)
		return code;

	bool uidplus = has_cap(ir, "UIDPLUS");
	char marker[40] = "";
	sb_reset(&ir->buf);
	if (!uidplus) {
		uint64_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint64_t)time ^ ((uint64_t)clock() << 20) ^ (uint64_t)(uintptr_t)body;
		snprintf(marker, sizeof(marker), "%u-%llu", crc32_of(body, len),
			 (unsigned long long)(rnd % 10000000000ull));
		sb_addf(&ir->buf, "X-OfflineIMAP: %s\r\n", marker);
	}
	lf_to_crlf(&ir->buf, body, len);

	struct strbuf fs = STRBUF_INIT;
	imap_flags_format(flags, kw(ir), &fs);
	char date[64] = "";
	format_internaldate(time, date, sizeof(date));

	bool ok = false;
	int rc = send_append(ir, sb_str(&fs), date, &ok);
	sb_free(&fs);
	if (ir->buf.cap > (1u << 20))
		sb_free(&ir->buf);
	if (rc != MAILIMAP_NO_ERROR)
		return imap_fail(ir, rc, REPO_MSG_BAD, "APPEND (%zu bytes)", len);
	return append_outcome(ir, ok, uidplus, marker, len, uid_r);
}

/* Reads up to len bytes at the fd's position, retrying EINTR; the count,
 * or -1. */
static ssize_t read_some(int fd, char *buf, size_t len)
{
	for (;;) {
		ssize_t n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		return n;
	}
}

static uint32_t crc32_update(uint32_t c, const char *s, size_t len);

static int imap_store_fd(struct repo *r, int fd, uint64_t size, flagset_t flags, int64_t time,
			 uint32_t *uid_r)
{
	struct imap_repo *ir = IR(r);
	if (uid_r)
		*uid_r = 0;
	int code = need_folder(ir);
	if (code)
		return code;
	enum { CHUNK = 64 << 10 };
	char *buf = xmalloc(CHUNK);
	/* pass 1: the CRLF size (a bare LF gets a CR) and, without UIDPLUS,
	 * the crc32 of the LF text for the X-OfflineIMAP marker */
	bool uidplus = has_cap(ir, "UIDPLUS");
	uint64_t total = 0, seen = 0;
	uint32_t crc = 0xffffffffu;
	char prev = 0;
	if (lseek(fd, 0, SEEK_SET) < 0) {
		free(buf);
		return repo_fail(r, REPO_MSG_BAD, "IMAP[%s][%s]: APPEND: seek: %s", r->name, r->folder,
				 strerror(errno));
	}
	for (;;) {
		ssize_t n = read_some(fd, buf, CHUNK);
		if (n < 0) {
			code = repo_fail(r, REPO_MSG_BAD, "IMAP[%s][%s]: APPEND: read: %s", r->name,
					 r->folder, strerror(errno));
			free(buf);
			return code;
		}
		if (n == 0)
			break;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' && prev != '\r')
				total++;
			prev = buf[i];
		}
		if (!uidplus)
			crc = crc32_update(crc, buf, (size_t)n);
		total += (uint64_t)n;
		seen += (uint64_t)n;
	}
	(void)size;
	char marker[40] = "", header[80] = "";
	if (!uidplus) {
		uint64_t rnd = 0;
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint64_t)time ^ ((uint64_t)clock() << 20) ^ seen;
		snprintf(marker, sizeof(marker), "%u-%llu", crc ^ 0xffffffffu,
			 (unsigned long long)(rnd % 10000000000ull));
		snprintf(header, sizeof(header), "X-OfflineIMAP: %s\r\n", marker);
		total += strlen(header);
	}

	struct strbuf cmd = STRBUF_INIT, fs = STRBUF_INIT;
	imap_flags_format(flags, kw(ir), &fs);
	char date[64] = "";
	format_internaldate(time, date, sizeof(date));
	sb_adds(&cmd, "APPEND ");
	add_quoted(&cmd, r->folder);
	if (fs.len)
		sb_addf(&cmd, " (%s)", sb_str(&fs));
	if (*date)
		sb_addf(&cmd, " \"%s\"", date);
	sb_addf(&cmd, " {%llu}\r\n", (unsigned long long)total);
	sb_free(&fs);
	mailimap *imap = ir->imap;
	int rc = mailimap_send_current_tag(imap);
	if (rc == MAILIMAP_NO_ERROR)
		rc = write_str(imap, sb_str(&cmd));
	sb_free(&cmd);
	bool cont = false, ok = false;
	if (rc == MAILIMAP_NO_ERROR && mailstream_flush(imap->imap_stream) < 0)
		rc = MAILIMAP_ERROR_STREAM;
	if (rc == MAILIMAP_NO_ERROR)
		rc = wait_continuation(imap, &cont);
	if (rc == MAILIMAP_NO_ERROR && !cont) { /* refused before the upload (TOOBIG...) */
		rc = read_tagged(imap, &ok);
		free(buf);
		if (rc != MAILIMAP_NO_ERROR)
			return imap_fail(ir, rc, REPO_MSG_BAD, "APPEND (%llu bytes)",
					 (unsigned long long)seen);
		return append_outcome(ir, false, uidplus, marker, seen, uid_r);
	}
	/* pass 2: the literal, exactly `total` bytes or the connection dies */
	uint64_t sent = 0;
	if (rc == MAILIMAP_NO_ERROR && *header) {
		if (mailstream_write(imap->imap_stream, header, strlen(header)) < 0)
			rc = MAILIMAP_ERROR_STREAM;
		sent += strlen(header);
	}
	if (rc == MAILIMAP_NO_ERROR && lseek(fd, 0, SEEK_SET) < 0)
		rc = MAILIMAP_ERROR_STREAM;
	prev = 0;
	struct strbuf out = STRBUF_INIT;
	while (rc == MAILIMAP_NO_ERROR) {
		ssize_t n = read_some(fd, buf, CHUNK);
		if (n < 0) {
			rc = MAILIMAP_ERROR_STREAM;
			break;
		}
		if (n == 0)
			break;
		sb_reset(&out);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' && prev != '\r')
				sb_addc(&out, '\r');
			sb_addc(&out, buf[i]);
			prev = buf[i];
		}
		if (sent + out.len > total) {
			rc = MAILIMAP_ERROR_STREAM; /* the file grew */
			break;
		}
		if (mailstream_write(imap->imap_stream, out.buf, out.len) < 0)
			rc = MAILIMAP_ERROR_STREAM;
		sent += out.len;
	}
	sb_free(&out);
	free(buf);
	if (rc == MAILIMAP_NO_ERROR && sent != total) {
		ir->dead = true; /* the announced literal cannot be completed */
		return repo_fail(r, REPO_STORE_BAD, "IMAP[%s][%s]: APPEND: the file changed while it "
				 "was being uploaded", r->name, r->folder);
	}
	if (rc == MAILIMAP_NO_ERROR &&
	    (mailstream_write(imap->imap_stream, "\r\n", 2) < 0 ||
	     mailstream_flush(imap->imap_stream) < 0))
		rc = MAILIMAP_ERROR_STREAM;
	if (rc == MAILIMAP_NO_ERROR)
		rc = read_tagged(imap, &ok);
	if (rc != MAILIMAP_NO_ERROR) {
		ir->dead = true;
		code = imap_fail(ir, rc, REPO_STORE_BAD, "APPEND (%llu bytes)", (unsigned long long)seen);
		return code == REPO_MSG_BAD ? REPO_STORE_BAD : code;
	}
	return append_outcome(ir, ok, uidplus, marker, seen, uid_r);
}

/* Every UID of APPENDUID's set, in order, into uids[0..n); false when the
 * reply has none or not exactly n. */
static bool appenduid_all(struct imap_repo *ir, uint32_t *uids, size_t n)
{
	clist *set = appenduid_set(ir);
	if (!set)
		return false;
	size_t k = 0;
	for (clistiter *si = clist_begin(set); si; si = clist_next(si)) {
		struct mailimap_set_item *item = clist_content(si);
		uint32_t a = item->set_first, b = item->set_last ? item->set_last : a;
		if (a == 0 || b < a)
			return false;
		for (uint64_t u = a; u <= b; u++) {
			if (k == n)
				return false;
			uids[k++] = (uint32_t)u;
		}
	}
	return k == n;
}

/* MULTIAPPEND batch limits: every literal non-synchronizing (LITERAL+). */
#define MULTIAPPEND_MAX_MSGS 100

/* Whether ups can go in one MULTIAPPEND: LITERAL+ sends a literal without
 * waiting for '+', which we allow up to LITERAL_PLUS_MAX (CRLF adds up to
 * 1/8 to our LF text). */
static bool multiappend_fits(const struct repo_upload *up)
{
	return up->len + up->len / 8 < LITERAL_PLUS_MAX;
}

/* One MULTIAPPEND of ups[idx[0..k)]. Returns REPO_OK with uids_r/codes_r
 * set at those indexes, 1 when the server refused the command as a whole
 * (nothing stored: the caller sends them one by one to learn which), or a
 * repository error whose outcome is unknown (codes_r set to it). */
static int append_multi(struct repo *r, const struct repo_upload *ups, const size_t *idx, size_t k,
			uint32_t *uids_r, int *codes_r)
{
	struct imap_repo *ir = IR(r);
	/* tag APPEND "mbox" (flags) "date" {n+}\r\n<msg> (flags) ... {n+}\r\n<msg>\r\n */
	struct strbuf cmd = STRBUF_INIT, fs = STRBUF_INIT;
	sb_adds(&cmd, "APPEND ");
	add_quoted(&cmd, r->folder);
	for (size_t j = 0; j < k; j++) {
		const struct repo_upload *up = &ups[idx[j]];
		sb_reset(&fs);
		imap_flags_format(up->flags, kw(ir), &fs);
		char date[64] = "";
		format_internaldate(up->time, date, sizeof(date));
		if (fs.len)
			sb_addf(&cmd, " (%s)", sb_str(&fs));
		if (*date)
			sb_addf(&cmd, " \"%s\"", date);
		sb_reset(&ir->buf);
		lf_to_crlf(&ir->buf, up->body, up->len);
		sb_addf(&cmd, " {%zu+}\r\n", ir->buf.len);
		sb_add(&cmd, ir->buf.buf, ir->buf.len);
	}
	sb_adds(&cmd, "\r\n");
	sb_free(&fs);
	int rc = mailimap_send_current_tag(ir->imap);
	if (rc == MAILIMAP_NO_ERROR)
		rc = mailstream_write(ir->imap->imap_stream, cmd.buf, cmd.len) < 0
			     ? MAILIMAP_ERROR_STREAM
			     : MAILIMAP_NO_ERROR;
	if (rc == MAILIMAP_NO_ERROR && mailstream_flush(ir->imap->imap_stream) < 0)
		rc = MAILIMAP_ERROR_STREAM;
	bool ok = false;
	if (rc == MAILIMAP_NO_ERROR)
		rc = read_tagged(ir->imap, &ok);
	sb_free(&cmd);
	if (ir->buf.cap > (1u << 20))
		sb_free(&ir->buf);
	if (rc != MAILIMAP_NO_ERROR) {
		int code = imap_fail(ir, rc, REPO_STORE_BAD, "APPEND of %zu messages", k);
		if (code == REPO_MSG_BAD)
			code = REPO_STORE_BAD; /* outcome unknown: never "just this one" */
		for (size_t j = 0; j < k; j++)
			codes_r[idx[j]] = code;
		return code;
	}
	if (ok) {
		uint32_t *uids = xcalloc(k, sizeof(*uids));
		if (!appenduid_all(ir, uids, k)) {
			log_warn("IMAP[%s][%s]: APPEND of %zu messages: no usable APPENDUID; "
				 "UIDs unknown", r->name, r->folder, k);
			memset(uids, 0, k * sizeof(*uids));
		}
		for (size_t j = 0; j < k; j++)
			uids_r[idx[j]] = uids[j];
		free(uids);
		return REPO_OK;
	}
	struct mailimap_response_info *ri = ir->imap->imap_response_info;
	if (ri && ri->rsp_trycreate) {
		int code = imap_fail(ir, MAILIMAP_ERROR_APPEND, REPO_FOLDER_BAD,
				     "APPEND of %zu messages", k);
		for (size_t j = 0; j < k; j++)
			codes_r[idx[j]] = code;
		return code;
	}
	log_debug(LOG_DBG_IMAP, "IMAP[%s][%s]: APPEND of %zu messages refused; one by one",
		  r->name, r->folder, k);
	return 1;
}

/* The messages that fit go in one MULTIAPPEND (when the server has
 * MULTIAPPEND, UIDPLUS and LITERAL+); the rest, and all of them when the
 * batch is refused, one APPEND each. A big message in the batch therefore
 * costs its own round trip only, not everyone's. */
static int imap_store_many(struct repo *r, const struct repo_upload *ups, size_t n, uint32_t *uids_r,
			   int *codes_r)
{
	struct imap_repo *ir = IR(r);
	for (size_t i = 0; i < n; i++) {
		uids_r[i] = 0;
		codes_r[i] = REPO_OK;
	}
	int code = need_folder(ir);
	if (code) {
		for (size_t i = 0; i < n; i++)
			codes_r[i] = code;
		return code;
	}
	bool *sent = xcalloc(n ? n : 1, sizeof(*sent));
	if (n > 1 && has_cap(ir, "MULTIAPPEND") && has_cap(ir, "UIDPLUS") && has_cap(ir, "LITERAL+")) {
		size_t idx[MULTIAPPEND_MAX_MSGS], k = 0;
		for (size_t i = 0; i < n && k < MULTIAPPEND_MAX_MSGS; i++)
			if (multiappend_fits(&ups[i]))
				idx[k++] = i;
		int rc = k > 1 ? append_multi(r, ups, idx, k, uids_r, codes_r) : 1;
		if (rc != REPO_OK && rc != 1) {
			for (size_t i = 0; i < n; i++)
				codes_r[i] = rc;
			free(sent);
			return rc;
		}
		for (size_t j = 0; rc == REPO_OK && j < k; j++)
			sent[idx[j]] = true;
	}
	for (size_t i = 0; i < n; i++) {
		if (sent[i])
			continue;
		codes_r[i] = imap_store(r, ups[i].body, ups[i].len, ups[i].flags, ups[i].time, 0,
					&uids_r[i], NULL);
		if (codes_r[i] == REPO_STORE_BAD || codes_r[i] == REPO_FOLDER_BAD) {
			code = codes_r[i];
			for (size_t k = 0; k < n; k++)
				if (!sent[k] && k > i)
					codes_r[k] = code;
			free(sent);
			return code;
		}
		if (codes_r[i] != REPO_OK)
			log_error("%s", repo_error(r)); /* the next store replaces the text */
	}
	free(sent);
	return REPO_OK;
}

/* ---- flags, delete ------------------------------------------------------ */

struct uid_idx {
	uint32_t uid;
	size_t idx;
};

static int cmp_uid_idx(const void *a, const void *b)
{
	const struct uid_idx *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* Runs "UID <verb> <set> <tail>" over sel[0..n) (sorted by UID) in chunks
 * that fit a command line; after each successful chunk, when msgs is given,
 * its messages get set_bits added and clear_bits removed. */
static int uid_command(struct imap_repo *ir, const char *verb, const char *tail,
		       const struct uid_idx *sel, size_t n, struct repo_msg *const *msgs,
		       flagset_t set_bits, flagset_t clear_bits)
{
	uint32_t *uids = xmalloc((n ? n : 1) * sizeof(*uids));
	for (size_t i = 0; i < n; i++)
		uids[i] = sel[i].uid;
	struct strbuf set = STRBUF_INIT;
	int code = REPO_OK;
	for (size_t k = 0; k < n && code == REPO_OK;) {
		sb_reset(&set);
		size_t used = uidset_next_chunk(uids + k, n - k, UIDSET_CHUNK_MAX, &set);
		char *cmd = xasprintf("UID %s %s%s%s", verb, sb_str(&set), *tail ? " " : "", tail);
		int rc = simple_command(ir->imap, cmd);
		free(cmd);
		if (rc != MAILIMAP_NO_ERROR) {
			code = imap_fail(ir, rc, REPO_FOLDER_BAD, "UID %s %s%s%s", verb, sb_str(&set),
					 *tail ? " " : "", tail);
		} else if (msgs) {
			for (size_t i = k; i < k + used; i++)
				msgs[sel[i].idx]->flags =
					(msgs[sel[i].idx]->flags | set_bits) & ~clear_bits;
		}
		k += used;
	}
	sb_free(&set);
	free(uids);
	return code;
}

/* One command of a pipelined batch (store_pipe): a UID STORE, or the UID
 * EXPUNGE after a deletion's STORE. */
struct store_cmd {
	char *text;                   /* "UID STORE <set> <tail>", also for the error line */
	struct repo_msg *const *msgs; /* the caller's messages; idx points into it */
	size_t *idx;                  /* the messages it changes (NULL: none) */
	size_t n;
	flagset_t set_bits, clear_bits;
	int part;                     /* which of the caller's results it counts for */
};

/* Commands written before their replies are read: a few, so that the
 * replies (with CONDSTORE an untagged FETCH per message even for .SILENT)
 * can never fill the socket while we are still writing. */
#define STORE_PIPELINE_MAX 16

/* A pipeline of STOREs (and EXPUNGEs) of up to two callers' parts (flag
 * changes, deletions), each with its own result: codes[part] is REPO_OK or
 * the first failure among that part's commands. */
struct store_pipe {
	struct imap_repo *ir;
	struct store_cmd cmds[STORE_PIPELINE_MAX];
	size_t n;
	int codes[2];
	bool dead; /* the connection is gone: nothing more is sent */
};

static int read_raw_response(mailimap *imap, struct strbuf *out);

/* A plain EXPUNGE (no UIDPLUS), its reply read line by line: the untagged
 * data is not needed, so it is skipped whatever its form. GNU imap4d
 * answers "* 2 EXPUNGED", which libetpan's parser refuses, and a refused
 * parse used to cost the connection and every later folder (issue 12). */
static int plain_expunge(struct imap_repo *ir)
{
	int rc = write_str(ir->imap, "E0 EXPUNGE\r\n");
	if (rc == MAILIMAP_NO_ERROR && mailstream_flush(ir->imap->imap_stream) < 0)
		rc = MAILIMAP_ERROR_STREAM;
	struct strbuf line = STRBUF_INIT;
	int code = REPO_OK;
	while (rc == MAILIMAP_NO_ERROR) {
		rc = read_raw_response(ir->imap, &line);
		if (rc != MAILIMAP_NO_ERROR)
			break;
		const char *l = sb_str(&line);
		if (!strncasecmp(l, "* BYE", 5)) {
			ir->dead = true;
			code = repo_fail(&ir->base, REPO_STORE_BAD,
					 "IMAP[%s][%s]: EXPUNGE: server closed the connection: %s",
					 ir->base.name, ir->base.folder ? ir->base.folder : "",
					 clean_text(l + 5 + (l[5] == ' ')));
			break;
		}
		if (strncmp(l, "E0 ", 3) != 0)
			continue; /* untagged data */
		if (strncasecmp(l + 3, "OK", 2) != 0)
			code = repo_fail(&ir->base, REPO_FOLDER_BAD, "IMAP[%s][%s]: EXPUNGE: %s",
					 ir->base.name, ir->base.folder ? ir->base.folder : "",
					 clean_text(l + 3));
		break;
	}
	sb_free(&line);
	if (rc != MAILIMAP_NO_ERROR)
		code = imap_fail(ir, rc, REPO_FOLDER_BAD, "EXPUNGE");
	return code;
}

/* "UID STORE" or "UID EXPUNGE": the verb of the first command of the
 * batch without a reply, for error lines. */
static const char *pending_verb(const struct store_cmd *cmds, const bool *done, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!done[i])
			return strncmp(cmds[i].text, "UID EXPUNGE", 11) ? "UID STORE" : "UID EXPUNGE";
	return "UID STORE";
}

static void part_fails(struct store_pipe *p, int part, int code)
{
	if (p->codes[part] == REPO_OK)
		p->codes[part] = code;
}

/* Writes the pipe's commands at once, tagged "S<i>", then reads the
 * replies; a command the server completed applies its bits to its
 * messages. A refused command fails its part (the others still ran: each
 * STORE stands alone). A broken connection fails every part with a
 * command left unanswered. Untagged data (FETCH FLAGS/MODSEQ, EXPUNGE,
 * VANISHED of other clients) is read and ignored. Frees the commands. */
static void store_pipe_flush(struct store_pipe *p)
{
	struct imap_repo *ir = p->ir;
	struct store_cmd *cmds = p->cmds;
	size_t n = p->n;
	if (n == 0)
		return;
	struct strbuf out = STRBUF_INIT;
	for (size_t i = 0; i < n; i++)
		sb_addf(&out, "S%zu %s\r\n", i, cmds[i].text);
	int rc = write_str(ir->imap, sb_str(&out));
	if (rc == MAILIMAP_NO_ERROR && mailstream_flush(ir->imap->imap_stream) < 0)
		rc = MAILIMAP_ERROR_STREAM;
	sb_free(&out);
	struct strbuf line = STRBUF_INIT;
	bool *done = xcalloc(n, sizeof(*done));
	size_t left = n;
	int lost = REPO_OK; /* the code for the unanswered commands */
	while (rc == MAILIMAP_NO_ERROR && left) {
		rc = read_raw_response(ir->imap, &line);
		if (rc != MAILIMAP_NO_ERROR)
			break;
		const char *l = sb_str(&line);
		if (!strncasecmp(l, "* BYE", 5)) {
			ir->dead = true;
			lost = repo_fail(&ir->base, REPO_STORE_BAD,
					 "IMAP[%s][%s]: %s: server closed the connection: %s",
					 ir->base.name, ir->base.folder ? ir->base.folder : "",
					 pending_verb(cmds, done, n), clean_text(l + 5 + (l[5] == ' ')));
			break;
		}
		if (l[0] != 'S' || !isdigit((unsigned char)l[1]))
			continue; /* untagged data */
		char *end = NULL;
		unsigned long k = strtoul(l + 1, &end, 10);
		if (*end != ' ' || k >= n || done[k]) {
			rc = MAILIMAP_ERROR_PARSE;
			break;
		}
		done[k] = true;
		left--;
		struct store_cmd *c = &cmds[k];
		if (!strncasecmp(end + 1, "OK", 2)) {
			for (size_t j = 0; j < c->n; j++)
				c->msgs[c->idx[j]]->flags =
					(c->msgs[c->idx[j]]->flags | c->set_bits) & ~c->clear_bits;
		} else if (p->codes[c->part] == REPO_OK) {
			const char *why = end + 1;
			bool bad = !strncasecmp(why, "BAD", 3);
			why += strncasecmp(why, "NO ", 3) && strncasecmp(why, "BAD ", 4) ? 0 : bad ? 4 : 3;
			part_fails(p, c->part,
				   repo_fail(&ir->base, REPO_FOLDER_BAD, "IMAP[%s][%s]: %s: %s%s",
					     ir->base.name, ir->base.folder ? ir->base.folder : "",
					     c->text, bad ? "server said BAD: " : "", clean_text(why)));
		}
	}
	sb_free(&line);
	if (rc != MAILIMAP_NO_ERROR && lost == REPO_OK)
		lost = imap_fail(ir, rc, REPO_FOLDER_BAD, "%s (%zu commands)",
				 pending_verb(cmds, done, n), n);
	for (size_t i = 0; i < n; i++) {
		if (!done[i] && lost != REPO_OK)
			part_fails(p, cmds[i].part, lost);
		free(cmds[i].text);
		free(cmds[i].idx);
	}
	p->dead = p->dead || lost == REPO_STORE_BAD;
	p->n = 0;
	free(done);
}

/* Queues "UID STORE <set> <tail>" for sel[0..used) (whose messages get
 * set_bits / lose clear_bits when the server completes it) and, with
 * expunge_too, "UID EXPUNGE <set>" right after it in the same batch. */
static void store_pipe_add(struct store_pipe *p, int part, struct repo_msg *const *msgs,
			   const char *set, const char *tail, const struct uid_idx *sel, size_t used,
			   flagset_t set_bits, flagset_t clear_bits, bool expunge_too)
{
	if (p->n + 1 + expunge_too > STORE_PIPELINE_MAX)
		store_pipe_flush(p);
	if (p->dead)
		return;
	struct store_cmd *sc = &p->cmds[p->n++];
	*sc = (struct store_cmd){ .text = xasprintf("UID STORE %s %s", set, tail), .msgs = msgs,
				  .idx = xmalloc(used * sizeof(*sc->idx)), .n = used,
				  .set_bits = set_bits, .clear_bits = clear_bits, .part = part };
	for (size_t j = 0; j < used; j++)
		sc->idx[j] = sel[j].idx;
	if (expunge_too)
		p->cmds[p->n++] = (struct store_cmd){ .text = xasprintf("UID EXPUNGE %s", set),
						      .part = part };
}

/* Every flag and direction is one UID STORE over a UID set (more when a
 * set is too long for one line), queued in p. */
static void queue_flag_stores(struct store_pipe *p, int part, struct repo_msg *const *msgs,
			      const flagset_t *new_flags, size_t n)
{
	struct imap_repo *ir = p->ir;
	flagset_t storable = imap_flags_storable(kw(ir));
	struct uid_idx *sel = xmalloc(n * sizeof(*sel));
	uint32_t *uids = xmalloc(n * sizeof(*uids));
	struct strbuf set = STRBUF_INIT;
	static const char letters[] = "SRFTDabcdefghijklmnopqrstuvwxyz";
	for (const char *c = letters; *c && !p->dead; c++) {
		flagset_t bit = flag_bit(*c);
		if (!(storable & bit))
			continue;
		for (int add = 1; add >= 0; add--) {
			size_t m = 0;
			for (size_t i = 0; i < n; i++) {
				flagset_t was = msgs[i]->flags & bit, want = new_flags[i] & bit;
				if (msgs[i]->uid != 0 && was != want && (want != 0) == add)
					sel[m++] = (struct uid_idx){ msgs[i]->uid, i };
			}
			if (m == 0)
				continue;
			qsort(sel, m, sizeof(*sel), cmp_uid_idx);
			for (size_t i = 0; i < m; i++)
				uids[i] = sel[i].uid;
			char *tail = xasprintf("%cFLAGS.SILENT (%s)", add ? '+' : '-',
					       imap_flag_name(*c, kw(ir)));
			for (size_t k = 0; k < m && !p->dead;) {
				sb_reset(&set);
				size_t used = uidset_next_chunk(uids + k, m - k, UIDSET_CHUNK_MAX, &set);
				store_pipe_add(p, part, msgs, sb_str(&set), tail, sel + k, used,
					       add ? bit : 0, add ? 0 : bit, false);
				k += used;
			}
			free(tail);
		}
	}
	sb_free(&set);
	free(uids);
	free(sel);
}

/* The UIDs of msgs[0..n) that have one, sorted, with their indexes. */
static size_t sorted_uids(struct repo_msg *const *msgs, size_t n, struct uid_idx *sel)
{
	size_t m = 0;
	for (size_t i = 0; i < n; i++)
		if (msgs[i]->uid != 0)
			sel[m++] = (struct uid_idx){ msgs[i]->uid, i };
	qsort(sel, m, sizeof(*sel), cmp_uid_idx);
	return m;
}

/* UID STORE +FLAGS.SILENT (\Deleted) and UID EXPUNGE over the same set,
 * queued together (UIDPLUS): one round trip. A refused STORE leaves its
 * messages without \Deleted, so the EXPUNGE after it removes nothing of
 * them. */
static void queue_deletes(struct store_pipe *p, int part, struct repo_msg *const *msgs,
			  const struct uid_idx *sel, size_t m)
{
	uint32_t *uids = xmalloc((m ? m : 1) * sizeof(*uids));
	for (size_t i = 0; i < m; i++)
		uids[i] = sel[i].uid;
	struct strbuf set = STRBUF_INIT;
	for (size_t k = 0; k < m && !p->dead;) {
		sb_reset(&set);
		size_t used = uidset_next_chunk(uids + k, m - k, UIDSET_CHUNK_MAX, &set);
		store_pipe_add(p, part, msgs, sb_str(&set), "+FLAGS.SILENT (\\Deleted)", sel + k, used,
			       FLAG_DELETED, 0, true);
		k += used;
	}
	sb_free(&set);
	free(uids);
}

/* The STOREs of a call are pipelined: a round trip for all of them
 * instead of one per flag and direction. */
static int imap_set_flags(struct repo *r, struct repo_msg *const *msgs, const flagset_t *new_flags,
			  size_t n)
{
	struct imap_repo *ir = IR(r);
	int code = n ? need_writable(ir) : need_folder(ir);
	if (code || n == 0)
		return code;
	struct store_pipe p = { .ir = ir };
	queue_flag_stores(&p, 0, msgs, new_flags, n);
	store_pipe_flush(&p);
	return p.codes[0];
}

static int imap_delete_messages(struct repo *r, struct repo_msg *const *msgs, size_t n)
{
	struct imap_repo *ir = IR(r);
	int code = n ? need_writable(ir) : need_folder(ir);
	if (code || n == 0)
		return code;
	struct uid_idx *sel = xmalloc(n * sizeof(*sel));
	size_t m = sorted_uids(msgs, n, sel);
	if (m > 0 && ir->expunge && has_cap(ir, "UIDPLUS")) {
		struct store_pipe p = { .ir = ir };
		queue_deletes(&p, 0, msgs, sel, m);
		store_pipe_flush(&p);
		free(sel);
		return p.codes[0];
	}
	if (m > 0)
		code = uid_command(ir, "STORE", "+FLAGS.SILENT (\\Deleted)", sel, m, msgs, FLAG_DELETED,
				   0);
	if (code == REPO_OK && m > 0 && ir->expunge) {
		if (has_cap(ir, "UIDPLUS")) {
			code = uid_command(ir, "EXPUNGE", "", sel, m, NULL, 0, 0);
		} else {
			if (!ir->warned_expunge) {
				ir->warned_expunge = true;
				log_warn("IMAP[%s]: server lacks UIDPLUS: EXPUNGE also removes messages "
					 "other clients marked \\Deleted",
					 r->name);
			}
			code = plain_expunge(ir);
		}
	}
	free(sel);
	return code;
}

/* set_flags and delete_messages in one pipeline (repo.h), when deletions
 * need no plain EXPUNGE: a folder's flag changes and deletions cost one
 * round trip together. */
static int imap_set_flags_and_delete(struct repo *r, struct repo_msg *const *msgs,
				     const flagset_t *new_flags, size_t n,
				     struct repo_msg *const *del, size_t n_del, int *flags_rc,
				     int *del_rc)
{
	struct imap_repo *ir = IR(r);
	if (!ir->expunge || !has_cap(ir, "UIDPLUS")) {
		*flags_rc = imap_set_flags(r, msgs, new_flags, n);
		*del_rc = *flags_rc == REPO_STORE_BAD ? REPO_STORE_BAD
						      : imap_delete_messages(r, del, n_del);
		return *flags_rc != REPO_OK ? *flags_rc : *del_rc;
	}
	int code = n || n_del ? need_writable(ir) : need_folder(ir);
	if (code) {
		*flags_rc = *del_rc = code;
		return code;
	}
	struct store_pipe p = { .ir = ir };
	if (n)
		queue_flag_stores(&p, 0, msgs, new_flags, n);
	struct uid_idx *sel = xmalloc((n_del ? n_del : 1) * sizeof(*sel));
	size_t m = sorted_uids(del, n_del, sel);
	queue_deletes(&p, 1, del, sel, m);
	store_pipe_flush(&p);
	free(sel);
	*flags_rc = p.codes[0];
	*del_rc = p.codes[1];
	return *flags_rc != REPO_OK ? *flags_rc : *del_rc;
}

static flagset_t imap_storable_flags(struct repo *r)
{
	return imap_flags_storable(kw(IR(r)));
}

/* ---- live mount: IDLE, MOVE, find by Message-ID -------------------------- */

/* The line in the stream buffer may announce a literal ("... {12}\r\n"):
 * skips each literal and reads the line that follows it, so that the whole
 * response is consumed. The buffer then holds only the last line. Returns a
 * libetpan code. (tls.c bounds what a literal announcement may claim.) */
static int skip_literals(mailimap *imap)
{
	char scratch[4096];
	for (;;) {
		MMAPString *b = imap->imap_stream_buffer;
		size_t n = b->len;
		while (n && (b->str[n - 1] == '\n' || b->str[n - 1] == '\r'))
			n--;
		if (n < 3 || b->str[n - 1] != '}')
			return MAILIMAP_NO_ERROR;
		size_t i = n - 1;
		while (i > 0 && isdigit((unsigned char)b->str[i - 1]))
			i--;
		if (i == n - 1 || i == 0 || b->str[i - 1] != '{')
			return MAILIMAP_NO_ERROR;
		uint64_t left = 0;
		for (size_t k = i; k < n - 1 && left < (1ull << 40); k++)
			left = left * 10 + (uint64_t)(b->str[k] - '0');
		while (left > 0) {
			size_t want = left < sizeof(scratch) ? (size_t)left : sizeof(scratch);
			ssize_t got = mailstream_read(imap->imap_stream, scratch, want);
			if (got <= 0)
				return MAILIMAP_ERROR_STREAM;
			left -= (uint64_t)got;
		}
		if (!mailstream_read_line(imap->imap_stream, b))
			return MAILIMAP_ERROR_STREAM;
	}
}

enum idle_line {
	IDLE_LINE_OTHER,  /* "* OK Still here", "* 3 RECENT", ...: keep idling */
	IDLE_LINE_CHANGE, /* EXISTS, EXPUNGE, FETCH, VANISHED */
	IDLE_LINE_BYE,    /* the server is closing the connection */
};

static bool word_is(const char *p, const char *word)
{
	size_t n = strlen(word);
	return !strncasecmp(p, word, n) &&
	       (p[n] == ' ' || p[n] == '\r' || p[n] == '\n' || p[n] == '\0');
}

/* What an untagged line read while idling means. Pure. */
static enum idle_line idle_classify(const char *line)
{
	if (line[0] != '*' || line[1] != ' ')
		return IDLE_LINE_OTHER;
	const char *p = line + 2;
	if (word_is(p, "BYE"))
		return IDLE_LINE_BYE;
	if (word_is(p, "VANISHED"))
		return IDLE_LINE_CHANGE;
	if (!isdigit((unsigned char)*p))
		return IDLE_LINE_OTHER;
	while (isdigit((unsigned char)*p))
		p++;
	if (*p++ != ' ')
		return IDLE_LINE_OTHER;
	if (word_is(p, "EXISTS") || word_is(p, "EXPUNGE") || word_is(p, "FETCH"))
		return IDLE_LINE_CHANGE;
	return IDLE_LINE_OTHER;
}

/* Whether a read would return data without waiting for the socket: bytes
 * already in libetpan's stream buffer or in the TLS layer. poll() sees
 * neither. */
static bool stream_has_buffered(mailimap *imap)
{
	mailstream *s = imap->imap_stream;
	return s->read_buffer_len > 0 || tls_has_pending(mailstream_get_low(s));
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses the tagged reply already begun in the stream buffer. Returns a
 * libetpan code (FATAL for BYE, PROTOCOL for BAD); *ok_r: it was OK. */
static int parse_buffered_reply(mailimap *imap, bool *ok_r)
{
	struct mailimap_response *resp = NULL;
	*ok_r = false;
	int r = mailimap_parse_response(imap, &resp);
	if (r != MAILIMAP_NO_ERROR)
		return r;
	*ok_r = resp->rsp_resp_done->rsp_type == MAILIMAP_RESP_DONE_TYPE_TAGGED &&
		resp->rsp_resp_done->rsp_data.rsp_tagged->rsp_cond_state->rsp_type ==
			MAILIMAP_RESP_COND_STATE_OK;
	mailimap_response_free(resp);
	return MAILIMAP_NO_ERROR;
}

/* Data libetpan parsed after DONE that means a change. */
static bool reply_reports_change(struct imap_repo *ir, uint32_t exists_before)
{
	struct mailimap_response_info *ri = ir->imap->imap_response_info;
	struct mailimap_selection_info *si = ir->imap->imap_selection_info;
	if (ri && ri->rsp_expunged && clist_count(ri->rsp_expunged) > 0)
		return true;
	if (ri && ri->rsp_fetch_list && clist_count(ri->rsp_fetch_list) > 0)
		return true;
	return si && si->sel_exists != exists_before;
}

/* Reads one response line while idling. "+ ..." sets *cont_r; a tagged
 * line sets *tagged_r and stays in the buffer for parse_buffered_reply; an
 * untagged one is classified from its first line, then consumed whole
 * (literals included). Returns a libetpan code. */
static int idle_read(mailimap *imap, enum idle_line *kind_r, bool *tagged_r, bool *cont_r)
{
	char *line = mailimap_read_line(imap);
	if (!line)
		return MAILIMAP_ERROR_STREAM;
	*kind_r = IDLE_LINE_OTHER;
	*tagged_r = *cont_r = false;
	if (line[0] == '+') {
		*cont_r = true;
		return MAILIMAP_NO_ERROR;
	}
	if (line[0] != '*') {
		*tagged_r = true; /* left in the buffer for parse_buffered_reply */
		return MAILIMAP_NO_ERROR;
	}
	*kind_r = idle_classify(line);
	return skip_literals(imap);
}

/* The tagged reply to IDLE arrived before we sent DONE: read it and say
 * whether anything changed meanwhile. */
static int idle_ended_by_server(struct imap_repo *ir, bool changed, uint32_t exists_before,
				bool *changed_r)
{
	bool ok = false;
	int rc = parse_buffered_reply(ir->imap, &ok);
	if (rc == MAILIMAP_NO_ERROR && !ok)
		rc = MAILIMAP_ERROR_CUSTOM_COMMAND;
	if (rc != MAILIMAP_NO_ERROR)
		return imap_fail(ir, rc, REPO_FOLDER_BAD, "IDLE");
	*changed_r = changed || reply_reports_change(ir, exists_before);
	return REPO_OK;
}

static int imap_idle(struct repo *r, int timeout_seconds, int cancel_fd, bool *changed_r)
{
	struct imap_repo *ir = IR(r);
	*changed_r = false;
	int code = need_folder(ir);
	if (code)
		return code;
	if (!has_cap(ir, "IDLE"))
		return repo_fail(r, REPO_FOLDER_BAD, "IMAP[%s][%s]: IDLE: the server does not offer IDLE",
				 r->name, r->folder);
	mailimap *imap = ir->imap;
	int fd = tls_fd(mailstream_get_low(imap->imap_stream));
	if (fd < 0)
		return repo_fail(r, REPO_STORE_BAD, "IMAP[%s][%s]: IDLE: no socket to wait on", r->name,
				 r->folder);
	uint32_t exists_before = imap->imap_selection_info ? imap->imap_selection_info->sel_exists : 0;

	int rc = mailimap_send_current_tag(imap);
	if (rc == MAILIMAP_NO_ERROR)
		rc = write_str(imap, "IDLE\r\n");
	if (rc == MAILIMAP_NO_ERROR && mailstream_flush(imap->imap_stream) < 0)
		rc = MAILIMAP_ERROR_STREAM;
	if (rc != MAILIMAP_NO_ERROR)
		return imap_fail(ir, rc, REPO_FOLDER_BAD, "IDLE");

	/* Until the continuation: untagged data may come first; a tagged
	 * reply means IDLE was refused. */
	bool changed = false, tagged = false, cont = false, ok = false;
	enum idle_line kind;
	for (;;) {
		if ((rc = idle_read(imap, &kind, &tagged, &cont)) != MAILIMAP_NO_ERROR)
			return imap_fail(ir, rc, REPO_FOLDER_BAD, "IDLE");
		if (cont)
			break;
		if (tagged) /* refused (or, oddly, done at once) */
			return idle_ended_by_server(ir, changed, exists_before, changed_r);
		if (kind == IDLE_LINE_BYE)
			return imap_fail(ir, MAILIMAP_ERROR_FATAL, REPO_STORE_BAD, "IDLE");
		changed |= kind == IDLE_LINE_CHANGE;
	}

	/* Idling. Buffered bytes first: poll() cannot see them. */
	int64_t deadline = now_ms() + (int64_t)(timeout_seconds > 0 ? timeout_seconds : 0) * 1000;
	while (!changed) {
		if (!stream_has_buffered(imap)) {
			int64_t left = deadline - now_ms();
			if (left <= 0)
				break;
			struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
						 { .fd = cancel_fd, .events = POLLIN } };
			int n = poll(pfd, cancel_fd >= 0 ? 2 : 1, left > INT32_MAX ? INT32_MAX : (int)left);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				log_warn("IMAP[%s][%s]: IDLE: poll: %s", r->name, r->folder,
					 strerror(errno));
				break;
			}
			if (n == 0)
				continue; /* the deadline is checked above */
			if (cancel_fd >= 0 && (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
				break;
			if (!(pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
		}
		if ((rc = idle_read(imap, &kind, &tagged, &cont)) != MAILIMAP_NO_ERROR)
			return imap_fail(ir, rc, REPO_FOLDER_BAD, "IDLE");
		if (tagged) /* the server ended IDLE on its own (no DONE now) */
			return idle_ended_by_server(ir, changed, exists_before, changed_r);
		if (kind == IDLE_LINE_BYE)
			return imap_fail(ir, MAILIMAP_ERROR_FATAL, REPO_STORE_BAD, "IDLE");
		changed |= kind == IDLE_LINE_CHANGE;
	}

	rc = write_str(imap, "DONE\r\n");
	if (rc == MAILIMAP_NO_ERROR && mailstream_flush(imap->imap_stream) < 0)
		rc = MAILIMAP_ERROR_STREAM;
	if (rc == MAILIMAP_NO_ERROR)
		rc = read_tagged(imap, &ok);
	if (rc == MAILIMAP_NO_ERROR && !ok)
		rc = MAILIMAP_ERROR_CUSTOM_COMMAND;
	if (rc != MAILIMAP_NO_ERROR)
		return imap_fail(ir, rc, REPO_FOLDER_BAD, "IDLE (DONE)");
	*changed_r = changed || reply_reports_change(ir, exists_before);
	return REPO_OK;
}

/* Position of uid in a UID set (ranges in either order), or -1. */
static int64_t set_index(const struct mailimap_set *set, uint32_t uid)
{
	int64_t pos = 0;
	for (clistiter *it = set && set->set_list ? clist_begin(set->set_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_set_item *si = clist_content(it);
		uint32_t lo = si->set_first < si->set_last ? si->set_first : si->set_last;
		uint32_t hi = si->set_first < si->set_last ? si->set_last : si->set_first;
		if (uid >= lo && uid <= hi)
			return pos + (uid - lo);
		pos += (int64_t)(hi - lo) + 1;
	}
	return -1;
}

/* The UID at position pos of a set, or 0. */
static uint32_t set_at(const struct mailimap_set *set, int64_t pos)
{
	for (clistiter *it = set && set->set_list ? clist_begin(set->set_list) : NULL; it;
	     it = clist_next(it)) {
		const struct mailimap_set_item *si = clist_content(it);
		uint32_t lo = si->set_first < si->set_last ? si->set_first : si->set_last;
		uint32_t hi = si->set_first < si->set_last ? si->set_last : si->set_first;
		if (pos <= (int64_t)(hi - lo))
			return lo + (uint32_t)pos;
		pos -= (int64_t)(hi - lo) + 1;
	}
	return 0;
}

/* The UID that src_uid got in the destination, from a COPYUID response code
 * of the last command (untagged OK or the tagged reply); 0 if none. */
static uint32_t copyuid(struct imap_repo *ir, uint32_t src_uid)
{
	for (clistiter *it = ext_first(ir->imap, MAILIMAP_EXTENSION_UIDPLUS,
					MAILIMAP_UIDPLUS_RESP_CODE_COPY);
	     it; it = ext_next(it, MAILIMAP_EXTENSION_UIDPLUS, MAILIMAP_UIDPLUS_RESP_CODE_COPY)) {
		const struct mailimap_uidplus_resp_code_copy *c = ext_data_of(it);
		int64_t pos = set_index(c->uid_source_set, src_uid);
		uint32_t dst = pos >= 0 ? set_at(c->uid_dest_set, pos) : 0;
		if (dst)
			return dst;
	}
	return 0;
}

static int imap_move(struct repo *r, struct repo_msg *msg, const char *dst_folder,
		     uint32_t *new_uid_r)
{
	struct imap_repo *ir = IR(r);
	*new_uid_r = 0;
	int code = need_writable(ir);
	if (code)
		return code;
	if (msg->uid == 0)
		return repo_fail(r, REPO_MSG_BAD, "IMAP[%s][%s]: move: the message has no UID",
				 r->name, r->folder);
	if (!folder_name_ok(dst_folder))
		return repo_fail(r, REPO_FOLDER_BAD,
				 "IMAP[%s][%s]: move to \"%s\": not a 7-bit (modified UTF-7) name",
				 r->name, r->folder, dst_folder);
	struct strbuf q = STRBUF_INIT;
	add_quoted(&q, dst_folder);
	bool native = has_cap(ir, "MOVE");
	char *cmd = xasprintf("UID %s %" PRIu32 " %s", native ? "MOVE" : "COPY", msg->uid,
			      sb_str(&q));
	sb_free(&q);
	int rc = simple_command(ir->imap, cmd);
	if (rc != MAILIMAP_NO_ERROR) {
		/* [TRYCREATE]: the destination is missing, a folder problem */
		code = imap_fail(ir, rc, REPO_FOLDER_BAD, "%s", cmd);
		free(cmd);
		return code;
	}
	uint32_t got = copyuid(ir, msg->uid);
	if (got == 0 && has_cap(ir, "UIDPLUS"))
		log_debug(LOG_DBG_IMAP, "IMAP[%s][%s]: %s: no COPYUID (UID %" PRIu32 " gone?)",
			  r->name, r->folder, cmd, msg->uid);
	free(cmd);
	if (!native) {
		/* COPY + \Deleted + expunge of exactly that UID. Without UIDPLUS
		 * only a plain EXPUNGE exists, which also removes what other
		 * clients marked \Deleted: then, as in delete_messages, only
		 * when expunge is on. */
		struct uid_idx one = { msg->uid, 0 };
		code = uid_command(ir, "STORE", "+FLAGS.SILENT (\\Deleted)", &one, 1, NULL, 0, 0);
		if (code == REPO_OK && has_cap(ir, "UIDPLUS")) {
			code = uid_command(ir, "EXPUNGE", "", &one, 1, NULL, 0, 0);
		} else if (code == REPO_OK && ir->expunge) {
			if (!ir->warned_expunge) {
				ir->warned_expunge = true;
				log_warn("IMAP[%s]: server lacks UIDPLUS: EXPUNGE also removes messages "
					 "other clients marked \\Deleted",
					 r->name);
			}
			code = plain_expunge(ir);
		}
		if (code != REPO_OK) {
			/* the copy exists: report its UID even though the source stays */
			*new_uid_r = got;
			return code;
		}
	}
	*new_uid_r = got;
	return REPO_OK;
}

/* Message-IDs cross the wire quoted: printable ASCII only. */
static bool message_id_ok(const char *id)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++, n++)
		if (*p < ' ' || *p >= 0x7f)
			return false;
	return n > 0 && n <= 998;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int imap_find_message(struct repo *r, const char *message_id, uint64_t size,
			     uint32_t *uid_r)
{
	struct imap_repo *ir = IR(r);
	*uid_r = 0;
	int code = need_folder(ir);
	if (code)
		return code;
	if (!message_id_ok(message_id))
		return repo_fail(r, REPO_MSG_BAD,
				 "IMAP[%s][%s]: find: Message-ID is empty, too long or not printable "
				 "ASCII",
				 r->name, r->folder);
	struct strbuf q = STRBUF_INIT;
	add_quoted(&q, message_id);
	char *cmd = xasprintf("UID SEARCH HEADER Message-ID %s", sb_str(&q));
	sb_free(&q);
	int rc = simple_command(ir->imap, cmd);
	if (rc != MAILIMAP_NO_ERROR) {
		code = imap_fail(ir, rc, REPO_FOLDER_BAD, "%s", cmd);
		free(cmd);
		return code;
	}
	free(cmd);
	struct mailimap_response_info *ri = ir->imap->imap_response_info;
	clist *res = ri ? ri->rsp_search_result : NULL;
	size_t n = res ? (size_t)clist_count(res) : 0, m = 0;
	if (n == 0)
		return REPO_OK;
	uint32_t *uids = xmalloc(n * sizeof(*uids));
	for (clistiter *it = clist_begin(res); it; it = clist_next(it))
		uids[m++] = *(uint32_t *)clist_content(it);
	qsort(uids, m, sizeof(*uids), cmp_u32);

	/* Sizes of the hits (SEARCH HEADER matches substrings, so several can
	 * come back); one command is plenty for any sane number of hits. */
	struct strbuf set = STRBUF_INIT;
	size_t used = uidset_next_chunk(uids, m, UIDSET_CHUNK_MAX, &set);
	if (used < m)
		log_warn("IMAP[%s][%s]: find: %zu messages carry Message-ID %s; checking the first %zu",
			 r->name, r->folder, m, message_id, used);
	cmd = xasprintf("UID FETCH %s (UID RFC822.SIZE)", sb_str(&set));
	rc = simple_command(ir->imap, cmd);
	clist *fl = rc == MAILIMAP_NO_ERROR ? take_fetch_list(ir) : NULL;
	if (rc != MAILIMAP_NO_ERROR)
		code = imap_fail(ir, rc, REPO_FOLDER_BAD, "%s", cmd);
	uint32_t found = 0;
	unsigned matches = 0;
	for (clistiter *it = fl ? clist_begin(fl) : NULL; it; it = clist_next(it)) {
		struct att a;
		parse_att(ir, clist_content(it), &a);
		if (!a.has_uid || !a.has_size || a.size != size)
			continue;
		/* only UIDs we asked for (unsolicited FETCHes lack the size) */
		if (!bsearch(&a.uid, uids, m, sizeof(*uids), cmp_u32))
			continue;
		if (!found) {
			found = a.uid;
			matches = 1;
		} else if (a.uid != found) {
			matches = 2; /* two is enough to refuse */
		}
	}
	free_fetch_list(fl);
	free(cmd);
	sb_free(&set);
	free(uids);
	if (code == REPO_OK && matches == 1)
		*uid_r = found;
	else if (code == REPO_OK && matches > 1) /* the caller compares bytes */
		log_debug(LOG_DBG_IMAP, "IMAP[%s][%s]: find: several messages with Message-ID %s "
			  "and %" PRIu64 " bytes; not choosing one", r->name, r->folder, message_id,
			  size);
	return code;
}

uint64_t imap_wire_size(const char *body, size_t len)
{
	uint64_t n = len;
	for (size_t i = 0; i < len; i++)
		if (body[i] == '\n' && (i == 0 || body[i - 1] != '\r'))
			n++;
	return n;
}

/* ---- life cycle --------------------------------------------------------- */

/* ---- cheap resync: probe (STATUS / LIST-STATUS), CHANGEDSINCE ------------ */

/* Reads one whole response (a line plus any literals it announces) into
 * out, each literal replaced by a quoted string with its bytes (\ and "
 * escaped), so a line parser never sees "{n}". Returns a libetpan code. */
static int read_raw_response(mailimap *imap, struct strbuf *out)
{
	sb_reset(out);
	if (!mailimap_read_line(imap))
		return MAILIMAP_ERROR_STREAM;
	char scratch[4096];
	for (int lits = 0;; lits++) {
		MMAPString *b = imap->imap_stream_buffer;
		size_t n = b->len;
		while (n && (b->str[n - 1] == '\n' || b->str[n - 1] == '\r'))
			n--;
		size_t i = n;
		if (n >= 3 && b->str[n - 1] == '}') {
			i = n - 1;
			if (i > 0 && b->str[i - 1] == '+')
				i--; /* {n+} from a server would be odd, but harmless */
			size_t end = i;
			while (i > 0 && isdigit((unsigned char)b->str[i - 1]))
				i--;
			if (i == end || i == 0 || b->str[i - 1] != '{' || end - i > 9 || lits > 100)
				i = n; /* not a literal */
			else {
				uint64_t left = 0;
				for (size_t k = i; k < end; k++)
					left = left * 10 + (uint64_t)(b->str[k] - '0');
				sb_add(out, b->str, i - 1);
				sb_addc(out, '"');
				while (left > 0) {
					size_t want = left < sizeof(scratch) ? (size_t)left : sizeof(scratch);
					ssize_t got = mailstream_read(imap->imap_stream, scratch, want);
					if (got <= 0)
						return MAILIMAP_ERROR_STREAM;
					for (ssize_t k = 0; k < got; k++) {
						if (scratch[k] == '"' || scratch[k] == '\\')
							sb_addc(out, '\\');
						sb_addc(out, scratch[k]);
					}
					left -= (uint64_t)got;
				}
				sb_addc(out, '"');
				if (!mailstream_read_line(imap->imap_stream, b))
					return MAILIMAP_ERROR_STREAM;
				continue;
			}
		}
		sb_add(out, b->str, n);
		return MAILIMAP_NO_ERROR;
	}
}

/* Parses an astring (atom, or quoted string with \ escapes) at *p into a
 * malloc'd string and advances *p; NULL when there is none. */
static char *parse_astring(const char **p)
{
	const char *s = *p;
	while (*s == ' ')
		s++;
	struct strbuf sb = STRBUF_INIT;
	if (*s == '"') {
		s++;
		while (*s && *s != '"') {
			if (*s == '\\' && s[1])
				s++;
			sb_addc(&sb, *s++);
		}
		if (*s != '"') {
			sb_free(&sb);
			return NULL;
		}
		s++;
	} else {
		const char *b = s;
		while (*s && *s != ' ' && *s != '(' && *s != ')')
			s++;
		if (s == b)
			return NULL;
		sb_add(&sb, b, (size_t)(s - b));
	}
	*p = s;
	return sb_detach(&sb);
}

/* "* STATUS <mailbox> (MESSAGES 3 UIDNEXT 4 ...)" -> an entry, when its
 * mailbox is one of names and it carries UIDVALIDITY. Pure. */
static bool parse_status_line(const char *line, const struct strlist *names,
			      struct repo_probe_entry *e_r)
{
	if (strncasecmp(line, "* STATUS ", 9))
		return false;
	const char *p = line + 9;
	char *name = parse_astring(&p);
	if (!name)
		return false;
	if (!strcasecmp(name, "INBOX")) {
		/* INBOX is case-insensitive: report it as the list named it */
		for (size_t i = 0; i < names->n; i++)
			if (!strcasecmp(names->v[i], "INBOX")) {
				free(name);
				name = xstrdup(names->v[i]);
				break;
			}
	}
	if (strlist_find(names, name) < 0)
		goto bad;
	while (*p == ' ')
		p++;
	if (*p++ != '(')
		goto bad;
	struct repo_folder_status st = { 0 };
	bool have_validity = false, have_next = false, have_messages = false;
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p == ')' || !*p)
			break;
		const char *key = p;
		while (*p && *p != ' ' && *p != ')')
			p++;
		size_t klen = (size_t)(p - key);
		while (*p == ' ')
			p++;
		char *end;
		errno = 0;
		unsigned long long v = strtoull(p, &end, 10);
		if (end == p || errno)
			goto bad;
		p = end;
		if (klen == 11 && !strncasecmp(key, "UIDVALIDITY", 11) && v <= UINT32_MAX) {
			st.uidvalidity = (uint32_t)v;
			have_validity = v != 0;
		} else if (klen == 7 && !strncasecmp(key, "UIDNEXT", 7) && v <= UINT32_MAX) {
			st.uidnext = (uint32_t)v;
			have_next = true;
		} else if (klen == 8 && !strncasecmp(key, "MESSAGES", 8) && v <= UINT32_MAX) {
			st.exists = (uint32_t)v;
			have_messages = true;
		} else if (klen == 13 && !strncasecmp(key, "HIGHESTMODSEQ", 13)) {
			st.highestmodseq = v;
		}
	}
	if (!have_validity || !have_next || !have_messages)
		goto bad;
	e_r->name = name;
	e_r->st = st;
	return true;
bad:
	free(name);
	return false;
}

static void probe_add(struct repo_probe *out, struct repo_probe_entry *e)
{
	for (size_t i = 0; i < out->n; i++)
		if (!strcmp(out->v[i].name, e->name)) {
			free(out->v[i].name);
			out->v[i] = *e; /* a repeated STATUS: the later one */
			return;
		}
	xgrow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
	out->v[out->n++] = *e;
}

static const char *status_items(const struct imap_repo *ir)
{
	return has_cap(ir, "CONDSTORE") ? "(UIDVALIDITY UIDNEXT MESSAGES HIGHESTMODSEQ)"
					: "(UIDVALIDITY UIDNEXT MESSAGES)";
}

/* "* LIST (<flags>) <delimiter> <name>" -> the name (malloc'd), and
 * whether it can be selected (no \Noselect or \NonExistent). Pure. */
static char *parse_list_line(const char *line, bool *selectable_r, char *delim_r)
{
	*delim_r = 0;
	if (strncasecmp(line, "* LIST ", 7))
		return NULL;
	const char *p = line + 7;
	if (*p++ != '(')
		return NULL;
	const char *close = strchr(p, ')');
	if (!close)
		return NULL;
	bool selectable = true;
	for (const char *f = p; f < close;) {
		while (f < close && *f == ' ')
			f++;
		const char *b = f;
		while (f < close && *f != ' ')
			f++;
		size_t n = (size_t)(f - b);
		if ((n == 9 && !strncasecmp(b, "\\Noselect", 9)) ||
		    (n == 12 && !strncasecmp(b, "\\NonExistent", 12)))
			selectable = false;
	}
	p = close + 1;
	while (*p == ' ')
		p++;
	if (!strncasecmp(p, "NIL", 3)) {
		p += 3;
	} else {
		char *delim = parse_astring(&p);
		if (!delim)
			return NULL;
		if (strlen(delim) == 1)
			*delim_r = delim[0];
		free(delim);
	}
	char *name = parse_astring(&p);
	if (name && !*name) {
		free(name);
		return NULL;
	}
	*selectable_r = selectable;
	return name;
}

/* list_folders with LIST-STATUS (RFC 5819): one command lists every folder
 * and gives the STATUS of each, kept in ir->listed_status for the probe
 * that follows. The server sends each folder's STATUS after its LIST. */
static int list_with_status(struct imap_repo *ir, struct strlist *names_r)
{
	char *cmd = xasprintf("P0 LIST \"\" \"*\" RETURN (STATUS %s)\r\n", status_items(ir));
	int rc = write_str(ir->imap, cmd);
	free(cmd);
	if (rc == MAILIMAP_NO_ERROR && mailstream_flush(ir->imap->imap_stream) < 0)
		rc = MAILIMAP_ERROR_STREAM;
	struct strbuf line = STRBUF_INIT;
	struct repo_probe st = { .condstore = has_cap(ir, "CONDSTORE") };
	struct strlist names = STRLIST_INIT;
	bool refused = false;
	struct delim_seen d = { 0 };
	while (rc == MAILIMAP_NO_ERROR) {
		rc = read_raw_response(ir->imap, &line);
		if (rc != MAILIMAP_NO_ERROR)
			break;
		const char *l = sb_str(&line);
		if (!strncmp(l, "P0 ", 3)) {
			refused = strncasecmp(l + 3, "OK", 2) != 0;
			break;
		}
		if (!strncasecmp(l, "* BYE", 5)) {
			rc = MAILIMAP_ERROR_STREAM;
			break;
		}
		bool selectable = false;
		char delim = 0;
		char *name = parse_list_line(l, &selectable, &delim);
		delim_note(&d, delim);
		if (name) {
			if (selectable && strlist_find(&names, name) < 0)
				strlist_add(&names, name);
			free(name);
			continue;
		}
		struct repo_probe_entry e;
		if (parse_status_line(l, &names, &e))
			probe_add(&st, &e);
	}
	sb_free(&line);
	if (rc != MAILIMAP_NO_ERROR) {
		strlist_free(&names);
		repo_probe_free(&st);
		ir->dead = true;
		return repo_fail(&ir->base, REPO_STORE_BAD, "IMAP[%s]: LIST-STATUS: connection lost",
				 ir->base.name);
	}
	if (refused) {
		/* a server that advertises LIST-STATUS but refuses it: plain LIST */
		log_debug(LOG_DBG_IMAP, "IMAP[%s]: LIST-STATUS refused; plain LIST", ir->base.name);
		strlist_free(&names);
		repo_probe_free(&st);
		return list_plain(ir, names_r);
	}
	learn_separator(ir, &d);
	for (size_t i = 0; i < names.n; i++)
		strlist_add(names_r, names.v[i]);
	strlist_free(&names);
	ir->listed_status = st;
	ir->have_listed_status = true;
	return REPO_OK;
}

static int imap_probe(struct repo *r, const struct strlist *names, struct repo_probe *out)
{
	struct imap_repo *ir = IR(r);
	int code = need_conn(ir);
	if (code)
		return code;
	if (r->folder)
		return repo_fail(r, REPO_FOLDER_BAD, "IMAP[%s]: probe with a folder selected",
				 r->name);
	out->condstore = has_cap(ir, "CONDSTORE");
	if (ir->have_listed_status) {
		/* list_folders just asked: no second round trip */
		for (size_t i = 0; i < ir->listed_status.n; i++) {
			struct repo_probe_entry *e = &ir->listed_status.v[i];
			if (strlist_find(names, e->name) < 0)
				continue;
			struct repo_probe_entry c = { xstrdup(e->name), e->st };
			probe_add(out, &c);
		}
		drop_listed_status(ir);
		log_debug(LOG_DBG_IMAP, "IMAP[%s]: probe answered by the LIST-STATUS of the listing",
			  r->name);
		return REPO_OK;
	}
	if (!names->n)
		return REPO_OK;
	const char *items = status_items(ir);
	bool list_status = has_cap(ir, "LIST-STATUS");
	/* Our own tags ("P<n>"), never one of libetpan's numeric ones. */
	struct strbuf cmd = STRBUF_INIT;
	size_t sent = 0;
	if (list_status) {
		sb_addf(&cmd, "P0 LIST \"\" \"*\" RETURN (STATUS %s)\r\n", items);
		sent = 1;
	} else {
		for (size_t i = 0; i < names->n; i++) {
			if (!folder_name_ok(names->v[i]))
				continue;
			sb_addf(&cmd, "P%zu STATUS ", sent++);
			add_quoted(&cmd, names->v[i]);
			sb_addf(&cmd, " %s\r\n", items);
		}
	}
	int rc = MAILIMAP_NO_ERROR;
	if (sent) {
		rc = write_str(ir->imap, sb_str(&cmd));
		if (rc == MAILIMAP_NO_ERROR && mailstream_flush(ir->imap->imap_stream) < 0)
			rc = MAILIMAP_ERROR_STREAM;
	}
	struct strbuf line = STRBUF_INIT;
	size_t done = 0;
	while (rc == MAILIMAP_NO_ERROR && done < sent) {
		rc = read_raw_response(ir->imap, &line);
		if (rc != MAILIMAP_NO_ERROR)
			break;
		const char *l = sb_str(&line);
		if (l[0] == 'P' && isdigit((unsigned char)l[1])) {
			done++;
			const char *sp = strchr(l, ' ');
			if (list_status && sp && strncasecmp(sp + 1, "OK", 2))
				log_debug(LOG_DBG_IMAP, "IMAP[%s]: LIST-STATUS refused: %s", r->name, l);
			continue;
		}
		if (!strncasecmp(l, "* BYE", 5)) {
			rc = MAILIMAP_ERROR_STREAM;
			break;
		}
		struct repo_probe_entry e;
		if (parse_status_line(l, names, &e))
			probe_add(out, &e);
	}
	sb_free(&line);
	sb_free(&cmd);
	if (rc != MAILIMAP_NO_ERROR) {
		ir->dead = true;
		return repo_fail(r, REPO_STORE_BAD, "IMAP[%s]: %s: connection lost", r->name,
				 list_status ? "LIST-STATUS" : "STATUS");
	}
	return REPO_OK;
}

static int cmp_u32_asc(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_msg_val_uid(const void *a, const void *b)
{
	const struct repo_msg *x = a, *y = b;
	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

static bool u32_in(const uint32_t *v, size_t n, uint32_t x)
{
	return n && bsearch(&x, v, n, sizeof(*v), cmp_u32_asc);
}

/* Runs a "UID FETCH <set> (UID FLAGS RFC822.SIZE INTERNALDATE)<tail>" and
 * appends the complete answers to list. */
static int fetch_meta(struct imap_repo *ir, const char *set, const char *tail,
		      struct repo_msg_list *list)
{
	char *cmd = xasprintf("UID FETCH %s (UID FLAGS RFC822.SIZE INTERNALDATE)%s", set, tail);
	int rc = simple_command(ir->imap, cmd);
	clist *fl = rc == MAILIMAP_NO_ERROR ? take_fetch_list(ir) : NULL;
	if (rc != MAILIMAP_NO_ERROR) {
		int code = imap_fail(ir, rc, REPO_FOLDER_BAD, "%s", cmd);
		free(cmd);
		return code;
	}
	free(cmd);
	add_listed_messages(ir, fl, list);
	return REPO_OK;
}

static int cmp_range(const void *a, const void *b)
{
	const struct uid_range *x = a, *y = b;
	return x->first < y->first ? -1 : x->first > y->first;
}

/* The UID ranges of every VANISHED response of the last command. */
static void take_vanished(struct imap_repo *ir, struct uid_range **v_r, size_t *n_r)
{
	struct uid_range *v = NULL;
	size_t n = 0, cap = 0;
	for (clistiter *it = ext_first(ir->imap, MAILIMAP_EXTENSION_QRESYNC,
					MAILIMAP_QRESYNC_TYPE_VANISHED);
	     it; it = ext_next(it, MAILIMAP_EXTENSION_QRESYNC, MAILIMAP_QRESYNC_TYPE_VANISHED)) {
		struct mailimap_qresync_vanished *van = ext_data_of(it);
		if (!van->qr_known_uids || !van->qr_known_uids->set_list)
			continue;
		for (clistiter *si = clist_begin(van->qr_known_uids->set_list); si; si = clist_next(si)) {
			struct mailimap_set_item *item = clist_content(si);
			uint32_t a = item->set_first, b = item->set_last ? item->set_last : UINT32_MAX;
			if (a > b) {
				uint32_t t = a;
				a = b;
				b = t;
			}
			xgrow(&v, &cap, n + 1, sizeof(*v));
			v[n++] = (struct uid_range){ a, b };
		}
	}
	/* sorted and merged into disjoint ranges, for in_ranges */
	size_t w = 0;
	if (n)
		qsort(v, n, sizeof(*v), cmp_range);
	for (size_t i = 0; i < n; i++) {
		if (w && (v[w - 1].last == UINT32_MAX || v[i].first <= v[w - 1].last + 1)) {
			if (v[i].last > v[w - 1].last)
				v[w - 1].last = v[i].last;
		} else {
			v[w++] = v[i];
		}
	}
	*v_r = v;
	*n_r = w;
}

/* v: sorted, disjoint (take_vanished merges them). */
static bool in_ranges(const struct uid_range *v, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (v[mid].last < uid)
			lo = mid + 1;
		else if (v[mid].first > uid)
			hi = mid;
		else
			return true;
	}
	return false;
}

/* list_changes with QRESYNC: one UID FETCH ... (CHANGEDSINCE m VANISHED)
 * gives the changed messages and, as VANISHED (EARLIER), the UIDs expunged
 * since m (a server may name more UIDs than that, never one that still
 * exists). The count of present messages is EXISTS as the server last
 * announced it; if messages the rows do not know exist beyond the changed
 * ones, the caller's count check sends it to a full listing. */
static int list_changes_qresync(struct imap_repo *ir, uint64_t since, const uint32_t *known,
				size_t n_known, struct repo_msg_list *changed, uint32_t **gone_r,
				size_t *n_gone_r, size_t *present_r)
{
	char tail[80];
	snprintf(tail, sizeof(tail), " (CHANGEDSINCE %llu VANISHED)", (unsigned long long)since);
	struct repo_msg_list ch = { 0 };
	int code = fetch_meta(ir, "1:*", tail, &ch);
	if (code) {
		repo_msg_list_free(&ch);
		return code;
	}
	struct uid_range *van = NULL;
	size_t n_van = 0;
	take_vanished(ir, &van, &n_van);
	struct mailimap_selection_info *si = ir->imap->imap_selection_info;
	size_t exists = si ? si->sel_exists : 0;

	if (ch.n)
		qsort(ch.v, ch.n, sizeof(*ch.v), cmp_msg_val_uid);
	for (size_t i = 0; i < ch.n; i++) {
		/* expunged while we fetched (VANISHED without EARLIER), or repeated */
		if (in_ranges(van, n_van, ch.v[i].uid) ||
		    (changed->n && changed->v[changed->n - 1].uid == ch.v[i].uid)) {
			free(ch.v[i].key);
			continue;
		}
		repo_msg_list_add(changed, &ch.v[i]);
	}
	free(ch.v);
	uint32_t *gone = xmalloc((n_known ? n_known : 1) * sizeof(*gone));
	size_t n_gone = 0;
	for (size_t i = 0; i < n_known; i++)
		if (in_ranges(van, n_van, known[i]))
			gone[n_gone++] = known[i];
	free(van);
	*gone_r = gone;
	*n_gone_r = n_gone;
	*present_r = exists;
	return REPO_OK;
}

/* list_changes from what SELECT ... (QRESYNC ...) already said: its FETCH
 * responses are the messages changed since (UID and FLAGS), its VANISHED
 * (EARLIER) the UIDs expunged since. Only when every changed message is
 * one of known: a new message needs its size and date, which those FETCH
 * responses lack, and then the caller asks with a FETCH after all.
 * Returns false when it did not answer. */
static bool list_changes_from_select(struct imap_repo *ir, const uint32_t *known, size_t n_known,
				     struct repo_msg_list *changed, uint32_t **gone_r,
				     size_t *n_gone_r, size_t *present_r)
{
	struct repo_msg_list *ch = &ir->qr.changed;
	for (size_t i = 0; i < ch->n; i++)
		if (!in_ranges(ir->qr.vanished, ir->qr.n_vanished, ch->v[i].uid) &&
		    !u32_in(known, n_known, ch->v[i].uid))
			return false;
	if (ch->n)
		qsort(ch->v, ch->n, sizeof(*ch->v), cmp_msg_val_uid);
	for (size_t i = 0; i < ch->n; i++) {
		/* expunged meanwhile, or repeated */
		if (in_ranges(ir->qr.vanished, ir->qr.n_vanished, ch->v[i].uid) ||
		    (changed->n && changed->v[changed->n - 1].uid == ch->v[i].uid))
			continue;
		struct repo_msg m = { .uid = ch->v[i].uid, .flags = ch->v[i].flags };
		repo_msg_list_add(changed, &m);
	}
	uint32_t *gone = xmalloc((n_known ? n_known : 1) * sizeof(*gone));
	size_t n_gone = 0;
	for (size_t i = 0; i < n_known; i++)
		if (in_ranges(ir->qr.vanished, ir->qr.n_vanished, known[i]))
			gone[n_gone++] = known[i];
	struct mailimap_selection_info *si = ir->imap->imap_selection_info;
	*gone_r = gone;
	*n_gone_r = n_gone;
	*present_r = si ? si->sel_exists : 0;
	log_debug(LOG_DBG_IMAP, "IMAP[%s][%s]: changes since MODSEQ %llu from the SELECT: %zu "
				"changed, %zu vanished", ir->base.name, ir->base.folder,
		  (unsigned long long)ir->qr.since, changed->n, n_gone);
	return true;
}

static int imap_list_changes(struct repo *r, uint64_t since, const uint32_t *known, size_t n_known,
			     struct repo_msg_list *changed, uint32_t **gone_r, size_t *n_gone_r,
			     size_t *present_r)
{
	struct imap_repo *ir = IR(r);
	*gone_r = NULL;
	*n_gone_r = 0;
	*present_r = 0;
	int code = need_folder(ir);
	if (code)
		return code;
	if (!has_cap(ir, "CONDSTORE"))
		return repo_fail(r, REPO_FOLDER_BAD, "IMAP[%s][%s]: CHANGEDSINCE without CONDSTORE",
				 r->name, r->folder);
	if (ir->qresync && ir->qr.valid && ir->qr.since == since) {
		bool answered = list_changes_from_select(ir, known, n_known, changed, gone_r,
							 n_gone_r, present_r);
		qr_drop(ir);
		if (answered)
			return REPO_OK;
	}
	if (ir->qresync)
		return list_changes_qresync(ir, since, known, n_known, changed, gone_r, n_gone_r,
					    present_r);
	/* 1. what changed (flags, new mail) since the last sync */
	struct repo_msg_list ch = { 0 };
	char tail[64];
	snprintf(tail, sizeof(tail), " (CHANGEDSINCE %llu)", (unsigned long long)since);
	code = fetch_meta(ir, "1:*", tail, &ch);
	if (code) {
		repo_msg_list_free(&ch);
		return code;
	}
	/* 2. which UIDs exist now (after step 1, so the truth is the later
	 * one: a message expunged in between is dropped from ch, one appended
	 * in between is fetched in step 3). */
	int rc = simple_command(ir->imap, "UID SEARCH ALL");
	if (rc != MAILIMAP_NO_ERROR) {
		repo_msg_list_free(&ch);
		return imap_fail(ir, rc, REPO_FOLDER_BAD, "UID SEARCH ALL");
	}
	struct mailimap_response_info *ri = ir->imap->imap_response_info;
	clist *res = ri ? ri->rsp_search_result : NULL;
	size_t n_present = res ? (size_t)clist_count(res) : 0, k = 0;
	uint32_t *present = xmalloc((n_present ? n_present : 1) * sizeof(*present));
	for (clistiter *it = res ? clist_begin(res) : NULL; it; it = clist_next(it))
		present[k++] = *(uint32_t *)clist_content(it);
	qsort(present, n_present, sizeof(*present), cmp_u32_asc);
	/* drop duplicates, if a server repeats one */
	size_t w = 0;
	for (size_t i = 0; i < n_present; i++)
		if (!w || present[w - 1] != present[i])
			present[w++] = present[i];
	n_present = w;

	/* sorted by UID, so a UID the server repeated is kept once */
	if (ch.n)
		qsort(ch.v, ch.n, sizeof(*ch.v), cmp_msg_val_uid);
	uint32_t *chu = xmalloc((ch.n ? ch.n : 1) * sizeof(*chu));
	size_t n_chu = 0;
	for (size_t i = 0; i < ch.n; i++) {
		if (!u32_in(present, n_present, ch.v[i].uid) ||
		    (n_chu && chu[n_chu - 1] == ch.v[i].uid)) {
			free(ch.v[i].key);
			continue;
		}
		repo_msg_list_add(changed, &ch.v[i]);
		chu[n_chu++] = ch.v[i].uid;
	}
	free(ch.v);
	/* 3. present but neither known nor changed (e.g. a download that
	 * failed last time): fetched like a listing would show them */
	uint32_t *extra = xmalloc((n_present ? n_present : 1) * sizeof(*extra));
	size_t n_extra = 0;
	for (size_t i = 0; i < n_present; i++)
		if (!u32_in(known, n_known, present[i]) && !u32_in(chu, n_chu, present[i]))
			extra[n_extra++] = present[i];
	struct strbuf set = STRBUF_INIT;
	for (size_t i = 0; i < n_extra && code == REPO_OK;) {
		sb_reset(&set);
		i += uidset_next_chunk(extra + i, n_extra - i, UIDSET_CHUNK_MAX, &set);
		code = fetch_meta(ir, sb_str(&set), "", changed);
	}
	sb_free(&set);
	/* 4. known but gone */
	if (code == REPO_OK) {
		uint32_t *gone = xmalloc((n_known ? n_known : 1) * sizeof(*gone));
		size_t n_gone = 0;
		for (size_t i = 0; i < n_known; i++)
			if (!u32_in(present, n_present, known[i]))
				gone[n_gone++] = known[i];
		*gone_r = gone;
		*n_gone_r = n_gone;
		*present_r = n_present;
	}
	free(extra);
	free(chu);
	free(present);
	return code;
}

static void imap_free(struct repo **rp)
{
	if (!*rp)
		return;
	struct imap_repo *ir = IR(*rp);
	disconnect(ir, true);
	tls_connect_abandon(&ir->pending);
	qr_drop(ir);
	free(ir->host);
	free(ir->user);
	if (ir->password) {
		explicit_bzero(ir->password, strlen(ir->password));
		free(ir->password);
	}
	free(ir->cafile);
	free(ir->fingerprints);
	free(ir->auth_mechanisms);
	free(ir->reference);
	free(ir->clientcert);
	free(ir->clientkey);
	free(ir->identity);
	for (int i = 0; i < 26; i++)
		free(ir->keywords[i]);
	sb_free(&ir->buf);
	strlist_free(&ir->caps);
	drop_listed_status(ir);
	repo_base_free(&ir->base);
	free(ir);
	*rp = NULL;
}

static const struct repo_ops imap_ops = {
	.type_name = "IMAP",
	.begin_connect = imap_begin_connect,
	.connect = imap_connect,
	.separator = imap_separator,
	.list_folders = imap_list_folders,
	.create_folder = imap_create_folder,
	.select_folder = imap_select_folder,
	.list_messages = imap_list_messages,
	.fetch = imap_fetch,
	.fetch_pieces = imap_fetch_pieces,
	.store = imap_store,
	.store_many = imap_store_many,
	.store_fd = imap_store_fd,
	.set_flags = imap_set_flags,
	.delete_messages = imap_delete_messages,
	.set_uid = NULL,
	.read_body = NULL,
	.idle = imap_idle,
	.move = imap_move,
	.find_message = imap_find_message,
	.storable_flags = imap_storable_flags,
	.close_folder = imap_close_folder,
	.free = imap_free,
	.probe = imap_probe,
	.list_changes = imap_list_changes,
	.select_since = imap_select_since,
	.set_flags_and_delete = imap_set_flags_and_delete,
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

struct repo *imap_repo_new(const char *name, const struct imap_settings *s)
{
	struct imap_repo *ir = xcalloc(1, sizeof(*ir));
	repo_base_init(&ir->base, &imap_ops, name);
	ir->host = dup_or_null(s->host);
	size_t hl = ir->host ? strlen(ir->host) : 0;
	if (hl > 2 && ir->host[0] == '[' && ir->host[hl - 1] == ']') { /* "[::1]" */
		memmove(ir->host, ir->host + 1, hl - 2);
		ir->host[hl - 2] = '\0';
	}
	ir->user = dup_or_null(s->user);
	ir->password = dup_or_null(s->password);
	ir->cafile = s->cacertfile && *s->cacertfile ? xstrdup(s->cacertfile) : NULL;
	ir->fingerprints = s->fingerprints && *s->fingerprints ? xstrdup(s->fingerprints) : NULL;
	ir->auth_mechanisms = s->auth_mechanisms && *s->auth_mechanisms
				      ? xstrdup(s->auth_mechanisms)
				      : NULL;
	ir->clientcert = dup_or_null(s->clientcert);
	ir->clientkey = dup_or_null(s->clientkey);
	ir->identity = dup_or_null(s->remote_identity);
	ir->tls_version = s->tls_version;
	ir->trust_loopback = s->trust_loopback;
	ir->family = s->ip_version == 4 ? AF_INET : s->ip_version == 6 ? AF_INET6 : AF_UNSPEC;
	for (int i = 0; i < 26; i++)
		ir->keywords[i] = dup_or_null(s->keywords[i]);
	ir->reference = dup_or_null(s->reference);
	ir->subscribedonly = s->subscribedonly;
	ir->ssl = s->ssl;
	ir->starttls = s->starttls;
	ir->expunge = s->expunge;
	ir->port = s->port > 0 ? s->port : s->ssl ? 993 : 143;
	ir->timeout = s->timeout_seconds > 0 ? s->timeout_seconds : DEFAULT_TIMEOUT;
	ir->batch_bytes = s->fetch_batch_bytes ? s->fetch_batch_bytes : DEFAULT_BATCH_BYTES;
	ir->trace = (struct imap_trace)IMAP_TRACE_INIT;
	return &ir->base;
}
