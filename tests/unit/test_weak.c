// Unit tests of the weak-reference machinery (suite `weak`): slots cleared when referents die,
// the shared basic ref, callback order, O(1) counts, the ephemeron pass, weak containers
// purged by the collector, finalizers, and the same under GC stress. The weakref module is
// driven through vm_call, so no bytecode runs.
#include <criterion/criterion.h>
#include <string.h>

#include "gc/gc.h"
#include "gc/weak.h"
#include "stdlib/mod_weakref.h"
#include "vm/dict.h"
#include "vm/list.h"
#include "vm/ops.h"
#include "vm/str.h"
#include "vm/vm.h"

static WkVM *vm;
static ObjDict *wr; // the weakref module's globals

// Callback log: the ids of the refs passed to `record`, in call order.
static Obj *calls[64];
static int ncalls;

static bool record(WkVM *v, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)v;
    (void)argc;
    (void)kwargs;
    if (ncalls < 64) {
        calls[ncalls++] = AS_OBJ(args[0]);
    }
    *result = NONE_VAL;
    return true;
}

static Value recorder;

// weak_has_pending() as seen from inside a running callback.
static int pending_seen = -1;

static bool note_pending(WkVM *v, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)args;
    (void)argc;
    (void)kwargs;
    pending_seen = weak_has_pending(v);
    *result = NONE_VAL;
    return true;
}

static void setup(void) {
    char *argv[] = {"test"};
    vm = vm_new(1, argv);
    cr_assert_not_null(vm);
    Value m;
    cr_assert(mod_weakref_load(vm, &m));
    gc_push_root(vm, m);
    wr = ((ObjModule *)AS_OBJ(m))->globals;
    ObjNative *n = (ObjNative *)gc_alloc_object(vm, sizeof(ObjNative), OBJ_NATIVE);
    n->fn = record;
    n->name = "record";
    n->min_args = 1;
    n->max_args = 1;
    n->takes_kwargs = false;
    n->self = EMPTY_VAL;
    recorder = OBJ_VAL(n);
    gc_push_root(vm, recorder);
    ncalls = 0;
}

static void teardown(void) {
    gc_pop_roots(vm, 2);
    vm_free(vm);
}

TestSuite(weak, .init = setup, .fini = teardown);

static Value global(const char *name) {
    Value *v = dict_get_str(wr, str_from_cstr(vm, name));
    cr_assert_not_null(v, "weakref.%s", name);
    return *v;
}

// Call weakref.NAME(args...).
static Value call(const char *name, int argc, Value *args) {
    Value f = global(name);
    Value out;
    bool ok = vm_call(vm, f, argc, args, NULL, &out);
    cr_assert(ok, "weakref.%s() raised", name);
    return out;
}

static Value call_method(Value self, const char *name, int argc, Value *args) {
    Value out;
    bool ok = vm_call_method(vm, self, str_from_cstr(vm, name), argc, args, &out);
    cr_assert(ok, ".%s() raised", name);
    return out;
}

static Value deref(Value r) {
    Value out;
    cr_assert(vm_call(vm, r, 0, NULL, NULL, &out));
    return out;
}

// A new plain object (hashable, unlike a list).
static Value new_object(void) {
    Value out;
    cr_assert(vm_call(vm, OBJ_VAL(vm->cls.object), 0, NULL, NULL, &out));
    return out;
}

static int64_t length(Value v) {
    int64_t n;
    cr_assert(ops_len(vm, v, &n));
    return n;
}

Test(weak, slot_cleared_when_referent_dies) {
    Value obj = OBJ_VAL(list_new(vm, 0));
    gc_push_root(vm, obj);
    Value r = call("ref", 1, &obj);
    gc_push_root(vm, r);
    gc_collect(vm);
    cr_assert(value_is(deref(r), obj));
    cr_assert_eq(weak_count(vm, AS_OBJ(obj)), 1);
    vm->gc.temp_roots[vm->gc.temp_count - 2] = NONE_VAL; // drop obj
    gc_collect(vm);
    cr_assert(IS_NONE(deref(r)));
    gc_pop_roots(vm, 2);
}

Test(weak, basic_ref_is_shared_callback_refs_are_not) {
    Value obj = OBJ_VAL(list_new(vm, 0));
    gc_push_root(vm, obj);
    Value r1 = call("ref", 1, &obj);
    gc_push_root(vm, r1);
    Value r2 = call("ref", 1, &obj);
    cr_assert(value_is(r1, r2));
    Value args[2] = {obj, recorder};
    Value r3 = call("ref", 2, args);
    cr_assert(!value_is(r1, r3));
    gc_push_root(vm, r3);
    Value p = call("proxy", 1, &obj);
    gc_push_root(vm, p);
    cr_assert(value_is(p, call("proxy", 1, &obj)));
    cr_assert_eq(weak_count(vm, AS_OBJ(obj)), 3);
    Obj **refs;
    size_t n = weak_refs(vm, AS_OBJ(obj), &refs);
    cr_assert_eq(n, 3);
    cr_assert_eq(refs[0], AS_OBJ(r1));
    cr_assert_eq(refs[1], AS_OBJ(p));
    cr_assert_eq(refs[2], AS_OBJ(r3));
    free(refs);
    gc_pop_roots(vm, 4);
}

Test(weak, callbacks_run_newest_first_after_clearing) {
    Value obj = OBJ_VAL(list_new(vm, 0));
    gc_push_root(vm, obj);
    Value args[2] = {obj, recorder};
    Value refs[3];
    for (int i = 0; i < 3; i++) {
        refs[i] = call("ref", 2, args);
        gc_push_root(vm, refs[i]);
    }
    vm->gc.temp_roots[vm->gc.temp_count - 4] = NONE_VAL;
    gc_collect(vm);
    cr_assert_eq(ncalls, 0, "callbacks never run inside the collector");
    cr_assert(weak_has_pending(vm));
    cr_assert_eq(weak_run_pending(vm), 3);
    cr_assert_eq(ncalls, 3);
    cr_assert_eq(calls[0], AS_OBJ(refs[2]));
    cr_assert_eq(calls[1], AS_OBJ(refs[1]));
    cr_assert_eq(calls[2], AS_OBJ(refs[0]));
    gc_pop_roots(vm, 4);
}

// weak_has_pending is a flag kept in step with the queue: set when the collector queues a
// callback, clear while callbacks run (no nested runs at safe points) and once they ran.
Test(weak, has_pending_follows_the_queue) {
    ObjNative *n = (ObjNative *)gc_alloc_object(vm, sizeof(ObjNative), OBJ_NATIVE);
    n->fn = note_pending;
    n->name = "note_pending";
    n->min_args = 1;
    n->max_args = 1;
    n->takes_kwargs = false;
    n->self = EMPTY_VAL;
    gc_push_root(vm, OBJ_VAL(n));
    cr_assert(!weak_has_pending(vm));
    Value obj = OBJ_VAL(list_new(vm, 0));
    gc_push_root(vm, obj);
    Value args[2] = {obj, OBJ_VAL(n)};
    Value refs[2];
    for (int i = 0; i < 2; i++) {
        refs[i] = call("ref", 2, args);
        gc_push_root(vm, refs[i]);
    }
    gc_collect(vm);
    cr_assert(!weak_has_pending(vm), "nothing died");
    vm->gc.temp_roots[vm->gc.temp_count - 3] = NONE_VAL; // drop obj
    gc_collect(vm);
    cr_assert(weak_has_pending(vm));
    cr_assert_eq(weak_run_pending(vm), 2);
    cr_assert_eq(pending_seen, 0, "not pending while callbacks run");
    cr_assert(!weak_has_pending(vm), "the queue is empty");
    gc_pop_roots(vm, 4);
}

Test(weak, ref_dying_with_referent_never_calls_back) {
    Value obj = OBJ_VAL(list_new(vm, 0));
    gc_push_root(vm, obj);
    Value args[2] = {obj, recorder};
    (void)call("ref", 2, args); // unreachable at once
    gc_pop_root(vm);
    gc_collect(vm);
    weak_run_pending(vm);
    cr_assert_eq(ncalls, 0);
}

Test(weak, dead_ref_leaves_referent_count) {
    Value obj = OBJ_VAL(list_new(vm, 0));
    gc_push_root(vm, obj);
    Value args[2] = {obj, recorder};
    for (int i = 0; i < 100; i++) {
        (void)call("ref", 2, args);
    }
    Value keep = call("ref", 2, args);
    gc_push_root(vm, keep);
    cr_assert_eq(weak_count(vm, AS_OBJ(obj)), 101);
    gc_collect(vm);
    cr_assert_eq(weak_count(vm, AS_OBJ(obj)), 1);
    gc_pop_roots(vm, 2);
}

Test(weak, ephemeron_value_referring_to_key_does_not_keep_it) {
    Value d = call("WeakKeyDictionary", 0, NULL);
    gc_push_root(vm, d);
    Value k1 = new_object();
    gc_push_root(vm, k1);
    Value k2 = new_object();
    gc_push_root(vm, k2);
    // d[k1] = [k1, k2]; d[k2] = [k2]: both values refer to keys
    ObjList *v1 = list_new(vm, 2);
    gc_push_root(vm, OBJ_VAL(v1));
    list_append(vm, v1, k1);
    list_append(vm, v1, k2);
    cr_assert(ops_setitem(vm, d, k1, OBJ_VAL(v1)));
    ObjList *v2 = list_new(vm, 1);
    gc_push_root(vm, OBJ_VAL(v2));
    list_append(vm, v2, k2);
    cr_assert(ops_setitem(vm, d, k2, OBJ_VAL(v2)));
    gc_pop_roots(vm, 2);
    // only k1 rooted: k2 is kept through d[k1]'s value (an ephemeron chain)
    vm->gc.temp_roots[vm->gc.temp_count - 1] = NONE_VAL;
    gc_collect(vm);
    cr_assert_eq(length(d), 2);
    // nothing rooted but d: both die although each value refers to its key
    vm->gc.temp_roots[vm->gc.temp_count - 2] = NONE_VAL;
    gc_collect(vm);
    cr_assert_eq(length(d), 0);
    gc_pop_roots(vm, 3);
}

Test(weak, value_dict_purged_and_key_reuse_kept) {
    Value d = call("WeakValueDictionary", 0, NULL);
    gc_push_root(vm, d);
    Value keep = OBJ_VAL(list_new(vm, 0));
    gc_push_root(vm, keep);
    for (int i = 0; i < 1000; i++) {
        Value v = OBJ_VAL(list_new(vm, 0));
        gc_push_root(vm, v);
        cr_assert(ops_setitem(vm, d, INT_VAL(i), v));
        if (i % 10 == 0) {
            list_append(vm, AS_LIST(keep), v);
        }
        gc_pop_root(vm);
    }
    gc_collect(vm);
    cr_assert_eq(length(d), 100);
    Value x;
    cr_assert(ops_getitem(vm, d, INT_VAL(10), &x));
    cr_assert(value_is(x, AS_LIST(keep)->items[1]));
    gc_pop_roots(vm, 2);
}

Test(weak, iteration_survives_purge) {
    Value s = call("WeakSet", 0, NULL);
    gc_push_root(vm, s);
    ObjList *keep = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(keep));
    for (int i = 0; i < 20; i++) {
        Value v = new_object();
        gc_push_root(vm, v);
        (void)call_method(s, "add", 1, &v);
        list_append(vm, keep, v);
        gc_pop_root(vm);
    }
    Value it;
    cr_assert(ops_iter(vm, s, &it));
    gc_push_root(vm, it);
    Value item;
    bool done;
    cr_assert(ops_next(vm, it, &item, &done));
    cr_assert(!done);
    keep->count = 5; // drop 15 members
    gc_collect(vm);
    cr_assert_eq(length(s), 5);
    int n = 1;
    for (;;) {
        cr_assert(ops_next(vm, it, &item, &done));
        if (done) {
            break;
        }
        n++;
    }
    cr_assert_eq(n, 5);
    gc_pop_roots(vm, 3);
}

Test(weak, finalize_runs_once_at_death) {
    Value obj = OBJ_VAL(list_new(vm, 0));
    gc_push_root(vm, obj);
    Value args[3] = {obj, recorder, obj};
    // finalize(obj, record, obj) would keep obj alive through its args: use a list instead
    Value other = OBJ_VAL(list_new(vm, 0));
    gc_push_root(vm, other);
    args[2] = other;
    Value f = call("finalize", 3, args);
    (void)f; // not rooted: finalize objects keep themselves alive while pending
    vm->gc.temp_roots[vm->gc.temp_count - 2] = NONE_VAL;
    gc_collect(vm);
    weak_run_pending(vm);
    cr_assert_eq(ncalls, 1);
    cr_assert_eq(calls[0], AS_OBJ(other));
    gc_collect(vm);
    weak_run_pending(vm);
    cr_assert_eq(ncalls, 1);
    gc_pop_roots(vm, 2);
}

Test(weak, stress_mode_keeps_everything_consistent) {
    vm->gc.stress = true;
    Value d = call("WeakValueDictionary", 0, NULL);
    gc_push_root(vm, d);
    Value k = call("WeakKeyDictionary", 0, NULL);
    gc_push_root(vm, k);
    ObjList *keep = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(keep));
    for (int i = 0; i < 60; i++) {
        Value v = new_object();
        gc_push_root(vm, v);
        cr_assert(ops_setitem(vm, d, INT_VAL(i), v));
        cr_assert(ops_setitem(vm, k, v, INT_VAL(i)));
        Value a[2] = {v, recorder};
        (void)call("ref", 2, a);
        if (i % 3 == 0) {
            list_append(vm, keep, v);
        }
        gc_pop_root(vm);
    }
    vm->gc.stress = false;
    gc_collect(vm);
    weak_run_pending(vm);
    cr_assert_eq(length(d), 20);
    cr_assert_eq(length(k), 20);
    gc_pop_roots(vm, 3);
}

// An instance with a ref to it (the ref kept in [refs]): its direct side-table entry's index
// (gc/weak.c keeps 1 + that index in the instance's header aux).
static uint32_t referenced_instance(ObjList *objs, ObjList *refs) {
    Value v = new_object();
    gc_push_root(vm, v);
    cr_assert_eq(AS_OBJ(v)->type, OBJ_INSTANCE);
    list_append(vm, objs, v);
    Value r = call("ref", 1, &v);
    list_append(vm, refs, r);
    gc_pop_root(vm);
    cr_assert_neq(AS_OBJ(v)->aux, 0);
    return AS_OBJ(v)->aux - 1;
}

// New direct entries come from a cursor holding one word of the free bitmap; a collection
// gives its untaken entries back, so that what the collection freed lower down is taken first.
Test(weak, direct_entries_lowest_free_first_after_each_collection) {
    ObjList *objs = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(objs));
    ObjList *refs = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(refs));
    for (uint32_t i = 0; i < 200; i++) {
        cr_assert_eq(referenced_instance(objs, refs), i);
    }
    objs->items[70] = NONE_VAL;
    objs->items[72] = NONE_VAL;
    gc_collect(vm);
    cr_assert_eq(referenced_instance(objs, refs), 70); // the cursor now holds {72}
    objs->items[5] = NONE_VAL;
    gc_collect(vm);
    cr_assert_eq(referenced_instance(objs, refs), 5);
    cr_assert_eq(referenced_instance(objs, refs), 72);
    cr_assert_eq(referenced_instance(objs, refs), 200);
    WeakStats st;
    weak_stats(vm, &st);
    cr_assert_eq(st.side_objects, 201);
    gc_pop_roots(vm, 2);
}

// A ref whose referent died in an earlier collection holds no slot (OBJ_FLAG_NO_WEAK_SLOTS):
// the sweep frees it on the spot, without deferring it past the clearing; a ref dying with
// its referent is still deferred (clearing its referent writes to it).
Test(weak, dead_ref_freed_on_the_spot_by_the_sweep) {
    Value obj = new_object();
    gc_push_root(vm, obj);
    Value r = call("ref", 1, &obj);
    gc_push_root(vm, r);
    Value a[2] = {obj, recorder};
    Value rc = call("ref", 2, a); // the extended layout
    gc_push_root(vm, rc);
    cr_assert_eq(AS_OBJ(r)->flags & OBJ_FLAG_NO_WEAK_SLOTS, 0);
    vm->gc.temp_roots[vm->gc.temp_count - 3] = NONE_VAL; // drop obj
    gc_collect(vm);
    cr_assert(IS_NONE(deref(r)));
    cr_assert(AS_OBJ(r)->flags & OBJ_FLAG_NO_WEAK_SLOTS);
    cr_assert(AS_OBJ(rc)->flags & OBJ_FLAG_NO_WEAK_SLOTS);
    cr_assert_eq(weak_run_pending(vm), 1);
    cr_assert_eq(vm->gc.dying_weak_capacity, 0, "nothing deferred so far");
    size_t before = gc_object_count(vm);
    gc_pop_roots(vm, 2); // drop both refs
    gc_collect(vm);
    cr_assert_eq(gc_object_count(vm), before - 2);
    cr_assert_eq(vm->gc.dying_weak_capacity, 0, "the dead refs were not deferred");
    // a ref dying together with its referent: deferred, cleared, no callback
    Value o2 = new_object();
    vm->gc.temp_roots[vm->gc.temp_count - 1] = o2;
    Value b[2] = {o2, recorder};
    (void)call("ref", 2, b);
    vm->gc.temp_roots[vm->gc.temp_count - 1] = NONE_VAL;
    gc_collect(vm);
    cr_assert_gt(vm->gc.dying_weak_capacity, 0);
    cr_assert_eq(weak_run_pending(vm), 0);
    gc_pop_root(vm);
}
