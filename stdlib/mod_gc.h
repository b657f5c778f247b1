// The gc module: collect, enable/disable/isenabled, thresholds, counts, statistics and
// set_del_collect, as a thin layer over gc/gc.h's GcState and gc/weak.h's counters.
#ifndef WK_STDLIB_MOD_GC_H
#define WK_STDLIB_MOD_GC_H

#include "vm/config.h"
#include "vm/vm.h"

// Create the gc module into [*module]. May allocate. False with an exception pending.
WK_NODISCARD bool mod_gc_load(WkVM *vm, Value *module);

#endif
