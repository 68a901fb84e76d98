/* fuzz_status.c — libFuzzer target: the decoders of the status DB and the
 * outbox (cache/status.c, cache/outbox.c, cache/held.c). The rows a damaged,
 * hand-edited or hostile offlinefs.sqlite can hold are written raw (any
 * text, any integer, NULLs, wrong types) into an in-memory DB with our
 * schema; then every reader decodes them: folder rows, message rows (flag
 * letters), upload marks, outbox ops (kind, flags, names), names rows and
 * held deletions. Nothing may crash or leak, whatever the rows hold.
 *
 * Input: records separated by 0xff; each record's first byte picks the
 * table, the rest are fields separated by 0xfe (text, or a number when it
 * parses as one; "N" = NULL). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "cache/held.h"
#include "cache/outbox.h"
#include "cache/status.h"
#include "cache/status_internal.h"
#include "common/log.h"

static const char *const inserts[] = {
	"INSERT OR REPLACE INTO folders (id, name, uidvalidity, uidnext, highestmodseq, last_sync)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	"INSERT OR REPLACE INTO messages (folder_id, uid, flags) VALUES (?1, ?2, ?3)",
	"INSERT INTO outbox (kind, folder, uid, flags, dst_folder, name, queued_at, attempts,"
	" inflight, last_error) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
	"INSERT OR REPLACE INTO names (folder, base, uid) VALUES (?1, ?2, ?3)",
	"INSERT OR REPLACE INTO uploads (folder_id, base) VALUES (?1, ?2)",
	"INSERT OR REPLACE INTO folder_state (folder_id, messages, new_mtime, cur_mtime)"
	" VALUES (?1, ?2, ?3, ?4)",
	"INSERT OR REPLACE INTO held_deletes (folder, remote, local, total, since, confirmed)"
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
};
#define N_INSERTS (sizeof(inserts) / sizeof(inserts[0]))

static void bind_field(sqlite3_stmt *st, int i, const uint8_t *p, size_t n)
{
	if (n == 1 && p[0] == 'N') {
		sqlite3_bind_null(st, i);
		return;
	}
	char buf[32];
	if (n > 0 && n < sizeof(buf)) {
		memcpy(buf, p, n);
		buf[n] = '\0';
		char *end;
		long long v = strtoll(buf, &end, 10);
		if (*end == '\0') {
			sqlite3_bind_int64(st, i, v);
			return;
		}
	}
	sqlite3_bind_text(st, i, (const char *)p, (int)n, SQLITE_TRANSIENT);
}

static void insert(sqlite3 *s, const uint8_t *rec, size_t n)
{
	if (n == 0)
		return;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s, inserts[rec[0] % N_INSERTS], -1, &st, NULL) != SQLITE_OK)
		return;
	int params = sqlite3_bind_parameter_count(st);
	const uint8_t *p = rec + 1, *end = rec + n;
	for (int i = 1; i <= params && p <= end; i++) {
		const uint8_t *q = memchr(p, 0xfe, (size_t)(end - p));
		size_t len = q ? (size_t)(q - p) : (size_t)(end - p);
		bind_field(st, i, p, len);
		p += len + 1;
	}
	sqlite3_step(st);
	sqlite3_finalize(st);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_set_ui(LOG_UI_QUIET);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* One in-memory DB for the whole run (read-only + missing file: the
	 * whole schema, in memory), emptied before each input: opening one
	 * per input cost more than the decoding under test. */
	static struct status_db *db;
	char *err = NULL;
	struct held_row *hr = NULL;
	size_t nh = 0;
	if (!db) {
		if (status_open("/nonexistent-fuzz/offlinefs.sqlite", true, false, &db, &err) < 0)
			abort();
		if (held_list(db, &hr, &nh, &err) < 0) /* creates its table */
			abort();
		held_rows_free(&hr, nh);
	}
	sqlite3 *s = status_sqlite(db);
	sqlite3_exec(s, "DELETE FROM folders; DELETE FROM messages; DELETE FROM outbox;"
		     " DELETE FROM names; DELETE FROM uploads; DELETE FROM folder_state;"
		     " DELETE FROM held_deletes;", NULL, NULL, NULL);
	for (size_t off = 0; off < size;) {
		const uint8_t *q = memchr(data + off, 0xff, size - off);
		size_t len = q ? (size_t)(q - (data + off)) : size - off;
		insert(s, data + off, len);
		off += len + 1;
	}

	char **names = NULL;
	size_t n = 0;
	if (status_folder_names(db, &names, &n, &err) < 0) {
		xfree_ptr(&err);
	}
	for (size_t i = 0; i < n; i++) {
		struct status_folder f;
		if (status_folder_get(db, names[i], &f, &err) < 0) {
			xfree_ptr(&err);
		} else if (f.id) {
			struct status_rec *recs = NULL;
			size_t nr = 0;
			if (status_load(db, f.id, &recs, &nr, &err) < 0)
				xfree_ptr(&err);
			free(recs);
			struct strlist bases = STRLIST_INIT;
			if (status_upload_load(db, f.id, &bases, &err) < 0)
				xfree_ptr(&err);
			strlist_free(&bases);
		}
		char **b = NULL;
		uint32_t *u = NULL;
		size_t nb = 0;
		if (outbox_name_load(db, names[i], &b, &u, &nb, &err) < 0)
			xfree_ptr(&err);
		for (size_t k = 0; k < nb; k++)
			free(b[k]);
		free(b);
		free(u);
		free(names[i]);
	}
	free(names);

	struct outbox_op op;
	int rc = outbox_peek(db, &op, &err);
	if (rc < 0)
		xfree_ptr(&err);
	else if (rc > 0)
		outbox_op_clear(&op);
	struct outbox_op *ops = NULL;
	size_t nops = 0;
	if (outbox_list(db, 50, &ops, &nops, &err) < 0)
		xfree_ptr(&err);
	for (size_t i = 0; i < nops; i++)
		outbox_op_clear(&ops[i]);
	free(ops);
	size_t count;
	if (outbox_count(db, &count, &err) < 0)
		xfree_ptr(&err);
	if (held_list(db, &hr, &nh, &err) == 0)
		held_rows_free(&hr, nh);
	else
		xfree_ptr(&err);
	return 0;
}
