// The testing module for test scripts (`wk test`, vm/testrun.c): raises (a context manager
// that expects an exception), skip and its Skipped exception, fail, and collected (run a
// collection and tell whether a weak reference's referent is gone).
#ifndef WK_STDLIB_MOD_TESTING_H
#define WK_STDLIB_MOD_TESTING_H

#include "vm/config.h"
#include "vm/vm.h"

// Create the testing module into [*out] (may allocate; false with an exception pending).
WK_NODISCARD bool mod_testing_load(WkVM *vm, Value *out);

// True when [exc] is a testing.Skipped (raised by testing.skip); false when it is not, or when
// the module was never imported. Pure: never allocates nor raises.
bool mod_testing_is_skip(WkVM *vm, Value exc);

#endif
