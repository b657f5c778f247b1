// The time module: wall clock, monotonic and CPU clocks, and sleep.
#define _POSIX_C_SOURCE 200809L
#include "stdlib/mod_time.h"

#include <errno.h>
#include <math.h>
#include <time.h>

#include "stdlib/stdlib.h"
#include "vm/class.h"
#include "vm/exc.h"

static double clock_seconds(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int64_t clock_ns(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool t_time(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)vm, (void)args, (void)argc, (void)kwargs;
    *result = FLOAT_VAL(clock_seconds(CLOCK_REALTIME));
    return true;
}

static bool t_time_ns(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)vm, (void)args, (void)argc, (void)kwargs;
    *result = INT_VAL(clock_ns(CLOCK_REALTIME));
    return true;
}

static bool t_monotonic(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)vm, (void)args, (void)argc, (void)kwargs;
    *result = FLOAT_VAL(clock_seconds(CLOCK_MONOTONIC));
    return true;
}

static bool t_monotonic_ns(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)vm, (void)args, (void)argc, (void)kwargs;
    *result = INT_VAL(clock_ns(CLOCK_MONOTONIC));
    return true;
}

static bool t_process_time(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)vm, (void)args, (void)argc, (void)kwargs;
    *result = FLOAT_VAL(clock_seconds(CLOCK_PROCESS_CPUTIME_ID));
    return true;
}

static bool t_sleep(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc, (void)kwargs;
    double secs;
    if (IS_FLOAT(args[0])) {
        secs = AS_FLOAT(args[0]);
    } else if (IS_INT(args[0]) || IS_BOOL(args[0])) {
        secs = IS_INT(args[0]) ? (double)AS_INT(args[0]) : (double)AS_BOOL(args[0]);
    } else {
        return exc_raise(vm, vm->cls.TypeError,
                         "'%s' object cannot be interpreted as an integer",
                         class_of(vm, args[0])->name->chars);
    }
    if (isnan(secs)) {
        return exc_raise(vm, vm->cls.ValueError, "Invalid value NaN (not a number)");
    }
    if (secs < 0) {
        return exc_raise(vm, vm->cls.ValueError, "sleep length must be non-negative");
    }
    struct timespec ts;
    ts.tv_sec = (time_t)secs;
    ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        if (vm->interrupted) {
            // Ctrl-C during a sleep raises at once, as in CPython.
            vm->interrupted = 0;
            return exc_raise(vm, vm->cls.KeyboardInterrupt, "%s", "");
        }
    }
    *result = NONE_VAL;
    return true;
}

bool mod_time_load(WkVM *vm, Value *out) {
    ObjModule *m = stdlib_module_new(vm, "time");
    gc_push_root(vm, OBJ_VAL(m));
    stdlib_add_native(vm, m, "time", t_time, 0, 0, false);
    stdlib_add_native(vm, m, "time_ns", t_time_ns, 0, 0, false);
    stdlib_add_native(vm, m, "perf_counter", t_monotonic, 0, 0, false);
    stdlib_add_native(vm, m, "perf_counter_ns", t_monotonic_ns, 0, 0, false);
    stdlib_add_native(vm, m, "monotonic", t_monotonic, 0, 0, false);
    stdlib_add_native(vm, m, "monotonic_ns", t_monotonic_ns, 0, 0, false);
    stdlib_add_native(vm, m, "process_time", t_process_time, 0, 0, false);
    stdlib_add_native(vm, m, "sleep", t_sleep, 1, 1, false);
    gc_pop_root(vm);
    *out = OBJ_VAL(m);
    return true;
}
