// The time module: time, time_ns, perf_counter(_ns), monotonic(_ns), process_time, sleep.
#ifndef WK_STDLIB_MOD_TIME_H
#define WK_STDLIB_MOD_TIME_H

#include "vm/config.h"
#include "vm/vm.h"

// Create the time module into [*out] (may allocate; false with an exception pending).
WK_NODISCARD bool mod_time_load(WkVM *vm, Value *out);

#endif
