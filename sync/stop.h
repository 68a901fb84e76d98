/* stop.h — a request to stop syncing at the next folder boundary.
 *
 * Owns: one process-wide flag and its reason. The offlinefs command sets
 * it on SIGTERM, SIGHUP and the first SIGINT (tools/signals.c); the engine
 * checks it before starting each folder, so the folders being synced
 * finish and no other starts (OfflineIMAP: "finish syncing the current
 * folder in each account"). Async-signal-safe and thread-safe.
 */
#ifndef OFFLINEFS_SYNC_STOP_H
#define OFFLINEFS_SYNC_STOP_H

#include <stdbool.h>

/* reason: a static string naming the cause ("SIGTERM"). */
void sync_stop_request(const char *reason);
bool sync_stop_requested(void);
/* The reason given, "stop requested" if none. */
const char *sync_stop_reason(void);

#endif
