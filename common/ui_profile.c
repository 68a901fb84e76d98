/* ui_profile.c — -P DIR: OfflineIMAP's profile mode, as timings.
 *
 * OfflineIMAP writes Python profiler dumps (DIR/<time>_<account>.prof) that
 * only Python's pstats reads. Our equivalent, same file names: plain text,
 * one line per folder synced, tab-separated:
 *   folder <TAB> seconds <TAB> messages copied <TAB> bytes copied
 * and a last line "total" with the account's figures. Fed by the UI
 * events (ui.c), so it costs nothing without -P.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/ui_internal.h"

static char *dir;
static FILE *out;
static double acct_start, folder_start;
static size_t acct_msgs, folder_msgs;
static uint64_t acct_bytes, folder_bytes;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void ui_profile_dir(const char *d)
{
	free(dir);
	dir = d ? xstrdup(d) : NULL;
	if (!d && out) {
		fclose(out);
		out = NULL;
	}
}

bool ui_profiling(void)
{
	return dir != NULL;
}

/* Called by ui.c with the UI mutex held; -P implies -1, so one folder at
 * a time. */
void ui_profile_event(const struct ui_event *ev)
{
	switch (ev->kind) {
	case UI_EV_ACCOUNT_START: {
		char stamp[32];
		time_t t = time(NULL);
		struct tm tm;
		localtime_r(&t, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d%H%M%S", &tm);
		char *path = xasprintf("%s/%s_%s.prof", dir, stamp, ev->account);
		if (out)
			fclose(out);
		out = fopen(path, "w");
		free(path);
		acct_start = now_s();
		acct_msgs = 0;
		acct_bytes = 0;
		if (out)
			fprintf(out, "# offlinefs %s profile of account %s: folder, seconds, "
				"messages copied, bytes copied\n", OFFLINEFS_VERSION, ev->account);
		break;
	}
	case UI_EV_FOLDER_START:
		folder_start = now_s();
		folder_msgs = 0;
		folder_bytes = 0;
		break;
	case UI_EV_COPY:
		folder_msgs++;
		folder_bytes += ev->bytes;
		acct_msgs++;
		acct_bytes += ev->bytes;
		break;
	case UI_EV_FOLDER_END:
		if (out)
			fprintf(out, "%s\t%.3f\t%zu\t%llu\n", ev->src, now_s() - folder_start,
				folder_msgs, (unsigned long long)folder_bytes);
		break;
	case UI_EV_ACCOUNT_END:
		if (out) {
			fprintf(out, "total\t%.3f\t%zu\t%llu\n", now_s() - acct_start, acct_msgs,
				(unsigned long long)acct_bytes);
			fclose(out);
			out = NULL;
		}
		break;
	default:
		break;
	}
}
