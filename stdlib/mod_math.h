// The math module: C's libm with CPython's argument checks, results and messages
// ("math domain error", integer results for floor/ceil, factorial, gcd, isqrt...).
#ifndef WK_STDLIB_MOD_MATH_H
#define WK_STDLIB_MOD_MATH_H

#include "vm/config.h"
#include "vm/vm.h"

// Create the math module into [*out] (may allocate; false with an exception pending).
WK_NODISCARD bool mod_math_load(WkVM *vm, Value *out);

#endif
