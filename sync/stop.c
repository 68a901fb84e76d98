/* stop.c — see stop.h. */
#include "sync/stop.h"

#include <stddef.h>

static int requested;
static const char *why;

void sync_stop_request(const char *reason)
{
	__atomic_store_n(&why, reason, __ATOMIC_RELAXED);
	__atomic_store_n(&requested, 1, __ATOMIC_RELEASE);
}

bool sync_stop_requested(void)
{
	return __atomic_load_n(&requested, __ATOMIC_ACQUIRE) != 0;
}

const char *sync_stop_reason(void)
{
	const char *r = __atomic_load_n(&why, __ATOMIC_RELAXED);
	return r ? r : "stop requested";
}
