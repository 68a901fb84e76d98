/* ui_internal.h — what the UIs (common/ui_*.c) share with common/ui.c;
 * not for the rest of offlinefs. */
#ifndef OFFLINEFS_UI_INTERNAL_H
#define OFFLINEFS_UI_INTERNAL_H

#include "common/ui.h"

/* The progress counters; only with the UI mutex held (inside a UI
 * operation), where ui_progress_get would deadlock. */
void ui_progress_locked(struct ui_progress *p);

/* "ERROR: ", "WARNING: " or "" for the text UIs. */
const char *ui_level_prefix(enum ui_level level);

/* -P (ui_profile.c): whether it is on, and one event for it. */
bool ui_profiling(void);
void ui_profile_event(const struct ui_event *ev);

#endif
