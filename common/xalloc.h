/* xalloc.h — allocation that cannot fail, and a growable string buffer.
 *
 * Owns: the process-wide policy that running out of memory is fatal. Every
 * x* function either succeeds or prints one line and aborts, so error paths
 * elsewhere only ever deal with I/O and protocol failures (isync's nfmalloc).
 */
#ifndef OFFLINEFS_XALLOC_H
#define OFFLINEFS_XALLOC_H

#include <stdarg.h>
#include <stddef.h>

#define PRINTF_LIKE(fmt, args) __attribute__((format(printf, fmt, args)))

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Grow *array (of *cap elements of elem_size) so that it holds at least need
 * elements. Doubles, so appending n items one by one is O(n). */
void xgrow(void *array_ptr, size_t *cap, size_t need, size_t elem_size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) PRINTF_LIKE(1, 2);
char *xvasprintf(const char *fmt, va_list ap) PRINTF_LIKE(1, 0);

/* Frees *p and sets it to NULL. */
void xfree_ptr(void *pp);

/* A growable, always NUL-terminated byte buffer (git's strbuf).
 * buf is owned by the strbuf; sb_detach() hands it to the caller. */
struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};
#define STRBUF_INIT { NULL, 0, 0 }

void sb_grow(struct strbuf *sb, size_t extra);
void sb_add(struct strbuf *sb, const void *data, size_t len);
void sb_adds(struct strbuf *sb, const char *s);
void sb_addc(struct strbuf *sb, char c);
void sb_addf(struct strbuf *sb, const char *fmt, ...) PRINTF_LIKE(2, 3);
void sb_reset(struct strbuf *sb);            /* len = 0, keeps memory */
char *sb_detach(struct strbuf *sb);          /* caller owns result; sb is reset */
void sb_free(struct strbuf *sb);
/* buf as a C string ("" when nothing was ever added). */
const char *sb_str(const struct strbuf *sb);

/* A list of owned strings. */
struct strlist {
	char **v;
	size_t n;
	size_t cap;
};
#define STRLIST_INIT { NULL, 0, 0 }
void strlist_add(struct strlist *l, const char *s);      /* copies s */
void strlist_add_owned(struct strlist *l, char *s);      /* takes s */
int strlist_find(const struct strlist *l, const char *s); /* index or -1 */
void strlist_sort(struct strlist *l);
void strlist_free(struct strlist *l);

#endif
