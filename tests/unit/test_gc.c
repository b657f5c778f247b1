// Unit tests of the collector (suite `gc`): accounting, reachability, temp roots, stress
// mode, the weak intern table, and freeing everything at shutdown.
#include <criterion/criterion.h>
#include <string.h>

#include "gc/gc.h"
#include "vm/dict.h"
#include "vm/list.h"
#include "vm/str.h"
#include "vm/vm.h"

static WkVM *vm;

static void setup(void) {
    char *argv[] = {"test"};
    vm = vm_new(1, argv);
    cr_assert_not_null(vm);
}

static void teardown(void) {
    vm_free(vm);
}

TestSuite(gc, .init = setup, .fini = teardown);

Test(gc, unreachable_objects_are_freed) {
    gc_collect(vm);
    size_t before = vm->gc.live_objects;
    for (int i = 0; i < 100; i++) {
        list_new(vm, 4);
    }
    size_t freed = gc_collect(vm);
    cr_assert_geq(freed, 100);
    cr_assert_eq(vm->gc.live_objects, before);
}

Test(gc, temp_roots_keep_objects_alive) {
    ObjList *l = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(l));
    for (int i = 0; i < 50; i++) {
        list_append(vm, l, OBJ_VAL(list_new(vm, 0)));
    }
    gc_collect(vm);
    cr_assert_eq(l->count, 50);
    // the inner lists are still valid objects: mark them again through a second collection
    gc_collect(vm);
    cr_assert_eq(AS_OBJ(l->items[49])->type, OBJ_LIST);
    gc_pop_root(vm);
    cr_assert_geq(gc_collect(vm), 51);
}

Test(gc, accounting_returns_to_baseline) {
    gc_collect(vm);
    size_t base = vm->gc.bytes_allocated;
    ObjList *l = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(l));
    for (int i = 0; i < 1000; i++) {
        list_append(vm, l, INT_VAL(i));
    }
    cr_assert_gt(vm->gc.bytes_allocated, base + 1000 * sizeof(Value));
    gc_pop_root(vm);
    gc_collect(vm);
    cr_assert_eq(vm->gc.bytes_allocated, base);
}

Test(gc, intern_table_is_weak) {
    ObjStr *a = str_intern(vm, "a-string-nobody-keeps", 21);
    ObjStr *b = str_intern(vm, "a-string-nobody-keeps", 21);
    cr_assert_eq(a, b, "interning returns the same object");
    uint32_t count = vm->strings.count;
    gc_collect(vm);
    cr_assert_lt(vm->strings.count, count, "the unreferenced string left the intern table");
}

Test(gc, collect_is_not_reentrant) {
    vm->gc.collecting = true;
    cr_assert_eq(gc_collect(vm), 0);
    vm->gc.collecting = false;
}

Test(gc, stress_mode_collects_at_every_allocation) {
    vm->gc.stress = true;
    size_t before = vm->gc.collections;
    for (int i = 0; i < 10; i++) {
        list_new(vm, 0);
    }
    cr_assert_geq(vm->gc.collections, before + 10);
    vm->gc.stress = false;
}

Test(gc, threshold_adapts_to_live_heap) {
    ObjList *l = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(l));
    for (int i = 0; i < 200000; i++) {
        list_append(vm, l, INT_VAL(i));
    }
    gc_collect(vm);
    cr_assert_geq(vm->gc.next_gc, vm->gc.bytes_allocated);
    gc_pop_root(vm);
}

// The order array holds the live objects: each entry is a heap object of a real kind.
static void assert_order_sound(void) {
    GcState *gc = &vm->gc;
    cr_assert_leq(gc->order_count, gc->order_capacity);
    // the window ends where its array does
    cr_assert_eq(gc->order + gc->order_capacity, gc->order_mem + gc->order_mem_capacity);
    cr_assert_geq(gc->order, gc->order_mem);
    cr_assert_eq(gc_object_count(vm), gc->order_count);
    for (size_t i = 0; i < gc_object_count(vm); i++) {
        Obj *o = gc_object_at(vm, i);
        cr_assert_lt(o->type, OBJ_KIND_COUNT, "object %zu of the order array", i);
    }
}

// The sweep visits objects through the order array and packs the survivors: the array keeps
// exactly the survivors, oldest first, at its front, across collections and resizes.
Test(gc, sweep_keeps_survivors_in_allocation_order) {
    gc_collect(vm);
    ObjList *keep = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(keep));
    for (int i = 0; i < 30000; i++) {
        ObjList *l = list_new(vm, 0);
        if (i % 3 == 0) {
            list_append(vm, keep, OBJ_VAL(l));
        }
    }
    assert_order_sound();
    size_t before = vm->gc.order_mem_capacity;
    gc_collect(vm);
    assert_order_sound();
    // the survivors appear in the array in allocation order, and every list in it after
    // [keep] is one of them (the others died)
    uint32_t seen = 0;
    size_t lists_after_keep = 0;
    bool after = false;
    for (size_t i = 0; i < gc_object_count(vm); i++) {
        Obj *o = gc_object_at(vm, i);
        if (seen < keep->count && o == AS_OBJ(keep->items[seen])) {
            seen++;
        }
        if (after && o->type == OBJ_LIST) {
            lists_after_keep++;
        }
        after = after || o == &keep->obj;
    }
    cr_assert_eq(seen, keep->count, "survivors out of order");
    cr_assert_eq(lists_after_keep, keep->count, "only the survivors are left");
    // most die: the array shrinks; allocating again grows it
    keep->count = 10;
    gc_collect(vm);
    assert_order_sound();
    cr_assert_lt(vm->gc.order_mem_capacity, before, "the order array shrank");
    for (int round = 0; round < 4; round++) {
        for (int i = 0; i < 20000; i++) {
            list_new(vm, 0);
        }
        assert_order_sound();
        gc_collect(vm);
        assert_order_sound();
    }
    cr_assert_eq(vm->gc.live_objects, vm->gc.order_count);
    gc_pop_root(vm);
}

// Objects made in a row sit in a row: the pool hands out the lowest free blocks first, on a
// fresh page and after a collection, whatever order the blocks were freed in. So walking
// what was made in order walks memory in order (cache-friendly deref loops).
static int steps_of_one_block(ObjList **made, int n) {
    uintptr_t block = (sizeof(ObjList) + GC_GRAIN - 1) / GC_GRAIN * GC_GRAIN;
    int steps = 0;
    for (int i = 1; i < n; i++) {
        steps += (uintptr_t)made[i] - (uintptr_t)made[i - 1] == block;
    }
    return steps;
}

Test(gc, blocks_come_in_ascending_addresses) {
    if (!vm->gc.use_pool) {
        cr_skip_test("the pool is off in this build");
    }
    vm->gc.enabled = false;
    enum { N = 300 };
    ObjList *made[N];
    for (int i = 0; i < N; i++) {
        made[i] = list_new(vm, 0);
    }
    int steps = steps_of_one_block(made, N);
    cr_assert_geq(steps, N - 10, "fresh page: %d of %d steps are one block", steps, N - 1);
    // The odd ones die; new lists take their blocks; then everything dies. A free list would
    // now hand out the blocks in the order they died, the even ones first and the odd ones
    // after (every step two blocks); the pool hands them out lowest first.
    for (int i = 0; i < N; i += 2) {
        gc_push_root(vm, OBJ_VAL(made[i]));
    }
    gc_collect(vm);
    gc_pop_roots(vm, N / 2);
    for (int i = 1; i < N; i += 2) {
        made[i] = list_new(vm, 0);
    }
    gc_collect(vm);
    for (int i = 0; i < N; i++) {
        made[i] = list_new(vm, 0);
    }
    steps = steps_of_one_block(made, N);
    cr_assert_geq(steps, N - 10, "after mixed deaths: %d of %d steps are one block", steps,
                  N - 1);
}

// gc_alloc_quick, the inline allocation fast path: a block from the cursor, on the books like
// any object (header, order array, bytes), and NULL without doing anything whenever the slow
// path is needed: a large block, stress, a collection due. It never collects.
Test(gc, alloc_quick_fast_path_and_refusals) {
    gc_collect(vm);
    GcState *gc = &vm->gc;
    list_new(vm, 0); // the list size class's cursor is loaded now
    size_t count = gc->order_count, bytes = gc->bytes_allocated;
    size_t collections = gc->collections;
    Obj *o = gc_alloc_quick(gc, sizeof(ObjList), OBJ_LIST);
    if (gc->use_pool) {
        cr_assert_not_null(o, "a block at hand");
        cr_assert_eq(o->type, OBJ_LIST);
        cr_assert_eq(o->flags, 0);
        cr_assert_eq(gc->order_count, count + 1);
        cr_assert_eq(gc_object_at(vm, count), o, "the newest entry of the order array");
        cr_assert_eq(gc->bytes_allocated, bytes + sizeof(ObjList));
        ((ObjList *)o)->items = NULL;
        ((ObjList *)o)->count = ((ObjList *)o)->capacity = 0;
        Obj *s = gc_alloc_quick(gc, sizeof(ObjRange), OBJ_RANGE);
        cr_assert(s == NULL || (s->flags & OBJ_FLAG_LEAF), "a range starts as a leaf");
        if (s != NULL) {
            ((ObjRange *)s)->start = ((ObjRange *)s)->stop = ((ObjRange *)s)->length = 0;
            ((ObjRange *)s)->step = 1;
        }
    } else {
        cr_assert_null(o, "no pool: always the slow path");
    }
    count = gc->order_count;
    bytes = gc->bytes_allocated;
    cr_assert_null(gc_alloc_quick(gc, GC_GRAIN * GC_SIZE_CLASSES + 8, OBJ_TUPLE), "large");
    gc->stress = true;
    cr_assert_null(gc_alloc_quick(gc, sizeof(ObjList), OBJ_LIST), "stress");
    gc->stress = false;
    size_t next = gc->next_gc;
    gc->next_gc = gc->bytes_allocated; // any allocation makes a collection due
    cr_assert_null(gc_alloc_quick(gc, sizeof(ObjList), OBJ_LIST), "a collection is due");
    gc->next_gc = next;
    cr_assert_eq(gc->order_count, count, "a refusal changes nothing");
    cr_assert_eq(gc->bytes_allocated, bytes);
    cr_assert_eq(gc->collections, collections, "never collects");
    gc_collect(vm);
}
