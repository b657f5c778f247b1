// The gc module over the collector's state. Thresholds map onto wk's byte-based trigger:
//   get_threshold() -> (growth_percent, min_heap_kib, 0)
//   set_threshold(t0[, t1[, t2]]): t0 is the growth factor in percent (the next automatic
//   collection starts when the heap exceeds live bytes * t0 / 100; default 200); t0 = 0
//   turns automatic collection off, as in CPython; t1 is the minimum heap in KiB before any
//   automatic collection (default 1024); t2 is accepted and ignored.
// get_count() -> (objects allocated since the last collection, 0, 0).
#include "stdlib/mod_gc.h"

#include "gc/gc.h"
#include "gc/weak.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/list.h"
#include "vm/ops.h"
#include "vm/str.h"

#define UNUSED __attribute__((unused))
#define NATIVE(fn)                                                                             \
    static bool fn(UNUSED WkVM *vm, UNUSED Value *args, UNUSED int argc,                      \
                   UNUSED ObjDict *kwargs, UNUSED Value *result)

// growth_percent this large means "t0 = 0": no automatic collection in practice.
#define GROWTH_OFF 1000000000

// collect(): a full collection, then the callbacks it queued. Returns the objects freed.
NATIVE(gc_collect_native) {
    size_t freed = gc_collect(vm);
    weak_run_pending(vm);
    *result = INT_VAL((int64_t)freed);
    return true;
}

NATIVE(gc_enable) {
    vm->gc.enabled = true;
    *result = NONE_VAL;
    return true;
}

NATIVE(gc_disable) {
    vm->gc.enabled = false;
    *result = NONE_VAL;
    return true;
}

NATIVE(gc_isenabled) {
    *result = BOOL_VAL(vm->gc.enabled);
    return true;
}

static ObjTuple *triple(WkVM *vm, int64_t a, int64_t b, int64_t c) {
    Value items[3] = {INT_VAL(a), INT_VAL(b), INT_VAL(c)};
    return tuple_from(vm, items, 3);
}

NATIVE(gc_get_threshold) {
    int64_t t0 = vm->gc.growth_percent >= GROWTH_OFF ? 0 : vm->gc.growth_percent;
    *result = OBJ_VAL(triple(vm, t0, (int64_t)(vm->gc.min_heap / 1024), 0));
    return true;
}

static bool int_arg(WkVM *vm, Value v, int64_t *out) {
    if (!IS_INT(v)) {
        return exc_raise(vm, vm->cls.TypeError, "'%s' object cannot be interpreted as an integer",
                         IS_FLOAT(v) ? "float" : IS_NONE(v) ? "NoneType" : "object");
    }
    *out = AS_INT(v);
    return true;
}

NATIVE(gc_set_threshold) {
    int64_t t0 = 0, t1 = (int64_t)(vm->gc.min_heap / 1024);
    if (!int_arg(vm, args[0], &t0) || (argc > 1 && !int_arg(vm, args[1], &t1))) {
        return false;
    }
    if (argc > 2) {
        int64_t t2;
        if (!int_arg(vm, args[2], &t2)) {
            return false;
        }
    }
    GcState *gc = &vm->gc;
    if (t0 <= 0) {
        gc->growth_percent = GROWTH_OFF;
    } else {
        gc->growth_percent = t0 < 100 ? 100 : t0 > 100000 ? 100000 : (int)t0;
    }
    if (t1 > 0) {
        gc->min_heap = (size_t)t1 * 1024;
    }
    size_t next = gc->bytes_allocated / 100 * (size_t)gc->growth_percent;
    gc->next_gc = next < gc->min_heap ? gc->min_heap : next;
    *result = NONE_VAL;
    return true;
}

NATIVE(gc_get_count) {
    *result = OBJ_VAL(triple(vm, (int64_t)vm->gc.allocations_since, 0, 0));
    return true;
}

NATIVE(gc_set_del_collect) {
    bool on;
    if (!ops_truthy(vm, args[0], &on)) {
        return false;
    }
    vm->gc.del_collect = on;
    *result = NONE_VAL;
    return true;
}

static void put(WkVM *vm, ObjDict *d, const char *key, Value v) {
    dict_set_str(vm, d, str_from_cstr(vm, key), v);
}

// get_stats(): [{collections, collected, uncollectable, live_objects, live_bytes,
// weak_slots_cleared, entries_purged, callbacks_run, last_pause_us, max_pause_us}]
NATIVE(gc_get_stats) {
    WeakStats ws;
    weak_stats(vm, &ws);
    GcState *gc = &vm->gc;
    ObjDict *d = dict_new(vm);
    gc_push_root(vm, OBJ_VAL(d));
    put(vm, d, "collections", INT_VAL((int64_t)gc->collections));
    put(vm, d, "collected", INT_VAL((int64_t)gc->collected_total));
    put(vm, d, "uncollectable", INT_VAL(0));
    put(vm, d, "live_objects", INT_VAL((int64_t)gc->live_objects));
    put(vm, d, "live_bytes", INT_VAL((int64_t)gc->bytes_allocated));
    put(vm, d, "weak_slots_cleared", INT_VAL((int64_t)ws.slots_cleared));
    put(vm, d, "entries_purged", INT_VAL((int64_t)ws.entries_purged));
    put(vm, d, "callbacks_run", INT_VAL((int64_t)ws.callbacks_run));
    put(vm, d, "last_pause_us", INT_VAL((int64_t)gc->last_pause_us));
    put(vm, d, "max_pause_us", INT_VAL((int64_t)gc->max_pause_us));
    ObjList *l = list_new(vm, 1);
    list_append(vm, l, OBJ_VAL(d));
    gc_pop_root(vm);
    *result = OBJ_VAL(l);
    return true;
}

static void add_function(WkVM *vm, ObjDict *globals, const char *name, NativeFn fn, int min,
                         int max) {
    ObjNative *n = (ObjNative *)gc_alloc_object(vm, sizeof(ObjNative), OBJ_NATIVE);
    n->fn = fn;
    n->name = name;
    n->min_args = (int16_t)min;
    n->max_args = (int16_t)max;
    n->takes_kwargs = false;
    n->self = EMPTY_VAL;
    gc_push_root(vm, OBJ_VAL(n));
    dict_set_str(vm, globals, str_from_cstr(vm, name), OBJ_VAL(n));
    gc_pop_root(vm);
}

bool mod_gc_load(WkVM *vm, Value *module) {
    ObjModule *m = (ObjModule *)gc_alloc_object(vm, sizeof(ObjModule), OBJ_MODULE);
    m->name = NULL;
    m->globals = NULL;
    m->path = NULL;
    gc_push_root(vm, OBJ_VAL(m));
    m->name = str_from_cstr(vm, "gc");
    m->globals = dict_new(vm);
    ObjDict *g = m->globals;
    dict_set_str(vm, g, vm->names.__name__, OBJ_VAL(m->name));
    add_function(vm, g, "collect", gc_collect_native, 0, 1);
    add_function(vm, g, "enable", gc_enable, 0, 0);
    add_function(vm, g, "disable", gc_disable, 0, 0);
    add_function(vm, g, "isenabled", gc_isenabled, 0, 0);
    add_function(vm, g, "get_threshold", gc_get_threshold, 0, 0);
    add_function(vm, g, "set_threshold", gc_set_threshold, 1, 3);
    add_function(vm, g, "get_count", gc_get_count, 0, 0);
    add_function(vm, g, "set_del_collect", gc_set_del_collect, 1, 1);
    add_function(vm, g, "get_stats", gc_get_stats, 0, 0);
    gc_pop_root(vm);
    *module = OBJ_VAL(m);
    return true;
}
