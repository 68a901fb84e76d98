/* fuzz_imap.c — libFuzzer target: offlinefs' handling of IMAP replies above
 * libetpan (imap/imap_repo.c, imap/tls.c's plain-socket driver and literal
 * limit, imap/imap_flags.c, imap/uidset.c). The input is what a server says
 * — a recorded transcript (seeds in fuzz/corpus/imap, taken from Dovecot
 * sessions), mutated — served by an in-process TCP server on 127.0.0.1
 * while a real IMAP repository connects, logs in, lists folders, probes,
 * selects INBOX, lists and fetches its messages and stores flags. Whatever
 * the server says, the client must end with a result code: no crash, no
 * leak, no hang (a 2 s socket timeout bounds a stalled exchange; the
 * server closes its side after the transcript).
 *
 * The first bytes up to the first newline are also fed to the pure reply
 * parsers (uidset_parse, imap_flags_parse). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/repo.h"
#include "imap/imap_flags.h"
#include "imap/imap_repo.h"
#include "imap/uidset.h"

static int listen_fd = -1;
static int port;

struct serve {
	const uint8_t *data;
	size_t size;
};

static void *serve_main(void *arg)
{
	struct serve *s = arg;
	/* the client may fail before it connects: do not wait for ever */
	struct pollfd pfd = { .fd = listen_fd, .events = POLLIN };
	if (poll(&pfd, 1, 3000) != 1)
		return NULL;
	int fd = accept(listen_fd, NULL, NULL);
	if (fd < 0)
		return NULL;
	size_t off = 0;
	while (off < s->size) {
		ssize_t w = send(fd, s->data + off, s->size - off, MSG_NOSIGNAL);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(fd, SHUT_WR);
	char buf[4096];
	while (recv(fd, buf, sizeof(buf), 0) > 0)
		;
	close(fd);
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	log_set_ui(LOG_UI_QUIET);
	listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	if (bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(listen_fd, 8) < 0 ||
	    getsockname(listen_fd, (struct sockaddr *)&sa, &len) < 0)
		abort();
	port = ntohs(sa.sin_port);
	return 0;
}

static int on_body(void *ctx, const struct repo_msg *msg, const char *body, size_t len)
{
	(void)msg;
	size_t *total = ctx;
	*total += len;
	if (len)
		(void)body[len - 1]; /* every byte handed out is readable */
	return REPO_OK;
}

static void pure_parsers(const uint8_t *data, size_t size)
{
	const uint8_t *nl = memchr(data, '\n', size);
	size_t n = nl ? (size_t)(nl - data) : size;
	char *line = malloc(n + 1);
	memcpy(line, data, n);
	line[n] = '\0';
	uint32_t *uids = NULL;
	size_t nu = 0;
	if (uidset_parse(line, 100000, &uids, &nu) == 0) {
		for (size_t i = 1; i < nu; i++)
			if (uids[i] <= uids[i - 1])
				abort(); /* promised ascending, duplicate-free */
	}
	free(uids);
	const char *kw[26] = { "$Forwarded", "Junk" };
	(void)imap_flags_parse(line, kw);
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 1 << 20)
		return 0;
	pure_parsers(data, size);
	struct serve s = { data, size };
	pthread_t th;
	if (pthread_create(&th, NULL, serve_main, &s) != 0)
		return 0;
	struct imap_settings set = {
		.host = "127.0.0.1",
		.port = port,
		.user = "fuzz",
		.password = "secret",
		.timeout_seconds = 2,
		.expunge = true,
	};
	struct repo *r = imap_repo_new("Fuzz", &set);
	if (r->ops->connect(r) == REPO_OK) {
		struct strlist folders = STRLIST_INIT;
		r->ops->list_folders(r, &folders);
		if (r->ops->probe) {
			struct repo_probe pr = { 0 };
			r->ops->probe(r, &folders, &pr);
			repo_probe_free(&pr);
		}
		strlist_free(&folders);
		struct repo_folder_status st;
		if (r->ops->select_folder(r, "INBOX", true, &st) == REPO_OK) {
			struct repo_msg_list list = { 0 };
			if (r->ops->list_messages(r, &list) == REPO_OK && list.n) {
				struct repo_msg **msgs = malloc(list.n * sizeof(*msgs));
				flagset_t *fl = malloc(list.n * sizeof(*fl));
				for (size_t i = 0; i < list.n; i++) {
					msgs[i] = &list.v[i];
					fl[i] = list.v[i].flags ^ 1;
				}
				size_t total = 0;
				if (r->ops->fetch(r, msgs, list.n, on_body, &total) == REPO_OK)
					r->ops->set_flags(r, msgs, fl, list.n);
				free(msgs);
				free(fl);
			}
			repo_msg_list_free(&list);
			r->ops->close_folder(r);
		}
	}
	r->ops->free(&r);
	pthread_join(th, NULL);
	return 0;
}
