// The collector: the only allocator, byte accounting, the stress hook, temp roots, and a
// stop-the-world precise mark-sweep (gc_collect). It owns the mark bits: nothing outside gc/
// reads them. Weak slots, ephemerons and the callback queue are in gc/weak.h.
#ifndef WK_GC_GC_H
#define WK_GC_GC_H

#include <stdbool.h>
#include <stddef.h>

#include "vm/config.h"
#include "vm/object.h"

#define GC_MAX_TEMP_ROOTS 4096
// Small objects and arrays (8, 16, 24, ... 512 bytes) come from pages of GC_PAGE_SIZE, one
// size class a page. The grain is 8: every heap object needs only 8-byte alignment, and a
// 24-byte ref or a 40-byte list takes 24 or 40 bytes, not 32 or 48.
#define GC_GRAIN 8
#define GC_SIZE_CLASSES 64
#define GC_PAGE_SIZE (64 * 1024)

// One size class of the small-object pool (gc/gc.c): its pages and its allocation cursor.
typedef struct {
    uint64_t bits;         // free blocks of one bitmap word, taken out of its page: the next
    char *base;            // allocations (bit i is the block at base + i * block size)
    void **pages;          // the class's pages, in the order they were made
    size_t page_count, page_capacity;
    size_t at_page;        // where the cursor takes its next word: pages[at_page], word at_word
    size_t at_word;
    size_t free_in_pages;  // free blocks in the bitmaps of all the class's pages
} PoolClass;

typedef struct {
    Obj **order;           // every live heap object, oldest first: order[0, order_count), in
    size_t order_count;    // a window of order_capacity entries that ends where order_mem
    size_t order_capacity; // does. The sweep reads them in sequence and prefetches their
                           // headers ahead (objects carry no link of their own)
    Obj **order_mem;       // the array (C memory) of order_mem_capacity entries (0 or a power
    size_t order_mem_capacity; // of two) holding the window: the sweep packs the survivors
                           // at its newest end, and the window starts at the oldest of them
    Obj **dying_weak;      // the sweep's weak kinds, freed after the clearing pass
    size_t dying_weak_capacity;
    size_t bytes_allocated;
    size_t next_gc;        // collect when bytes_allocated exceeds this
    size_t live_objects;
    int growth_percent;    // next_gc = live bytes * growth_percent / 100
    size_t min_heap;
    bool enabled;          // gc.enable()/gc.disable(): automatic collections only
    bool stress;           // collect at every allocation (WK_GC_STRESS=1, --gc-stress)
    bool collecting;       // re-entry guard
    bool del_collect;      // `del NAME` of a weakly referenced object collects
    bool weak_ready;       // gc/weak.c: callbacks are queued and none is running (the VM reads
                           // it through weak_has_pending on every backward jump)
    uint8_t epoch;         // Obj.marked == epoch means marked in the current collection; it
                           // flips every cycle, so the sweep never has to reset survivors
    PoolClass pool[GC_SIZE_CLASSES]; // small blocks by size class (8, 16, ... 512 bytes)
    bool use_pool;         // false under AddressSanitizer, so it sees every object
    void *audit;           // WK_POOL_AUDIT builds: pooled block -> size, checked on free
    Obj **gray;            // the gray stack, outside the managed heap
    size_t gray_count, gray_capacity;
    Value temp_roots[GC_MAX_TEMP_ROOTS];
    int temp_count;
    // statistics for gc.get_stats()
    size_t collections;
    size_t collected_total;
    size_t allocations_since;   // objects allocated since the last collection (gc.get_count)
    double last_pause_us, max_pause_us;
} GcState;

// ---- Allocation (may collect) ----------------------------------------------------------------

// A new object of [size] bytes and kind [type], header initialised and linked into the heap.
// May run a collection first, so every value the caller holds must be rooted.
// Aborts with a message only if the C heap is exhausted even after a collection.
Obj *gc_alloc_object(WkVM *vm, size_t size, ObjType type);

// The header flags a new object of kind [type] starts with: OBJ_FLAG_LEAF for the kinds that
// never refer to anything (str, range), so that marking tests one bit whatever the kind
// (gc_is_leaf).
static inline uint8_t gc_new_flags(ObjType type) {
    return type == OBJ_STR || type == OBJ_RANGE ? OBJ_FLAG_LEAF : 0;
}

// Take the lowest block of the cursor [pc] of size class [cls], which has one (gc/gc.c).
static inline void *gc_cursor_take(PoolClass *pc, size_t cls) {
    uint64_t bits = pc->bits;
    pc->bits = bits & (bits - 1);
    return pc->base + (size_t)__builtin_ctzll(bits) * (cls + 1) * GC_GRAIN;
}

// Put new object [o] of [size] bytes and kind [type] on the books: its header (one 8-byte
// store), the order array (which has room), the byte and allocation counts.
static inline Obj *gc_adopt(GcState *gc, Obj *o, size_t size, ObjType type) {
    *o = (Obj){.type = (uint8_t)type, .flags = gc_new_flags(type)};
    gc->order[gc->order_count++] = o;
    gc->bytes_allocated += size;
    gc->allocations_since++;
    return o;
}

// gc_alloc_object's fast path, inline for the hottest constructors (instances, refs): a new
// object of [size] bytes and kind [type] from the next block of its size class's cursor, or
// NULL, having done nothing, when that is not at hand: a collection may be due (or stress),
// the block is large, the pool is off or the cursor is empty, or the order array is full.
// Never collects, so the caller's values need no rooting for it; on NULL the caller roots
// them and calls gc_alloc_object.
static inline Obj *gc_alloc_quick(GcState *gc, size_t size, ObjType type) {
#ifdef WK_POOL_AUDIT
    (void)gc, (void)size, (void)type;
    return NULL; // gc_alloc_object records every block
#else
    size_t cls = (size - 1) / GC_GRAIN;
    if (cls >= GC_SIZE_CLASSES || gc->pool[cls].bits == 0 || gc->stress ||
        gc->bytes_allocated + size > gc->next_gc || gc->order_count == gc->order_capacity) {
        return NULL;
    }
    return gc_adopt(gc, (Obj *)gc_cursor_take(&gc->pool[cls], cls), size, type);
#endif
}

// Grow or shrink an array owned by a heap object from [old_size] to [new_size] bytes
// (new_size 0 frees). May collect before growing. Returns NULL only when [new_size] is 0.
void *gc_realloc(WkVM *vm, void *ptr, size_t old_size, size_t new_size);

// Like gc_realloc, but for sizes a program chooses ([1]*n, "x"*n): returns NULL with
// MemoryError raised instead of aborting when the memory cannot be had.
void *gc_try_realloc(WkVM *vm, void *ptr, size_t old_size, size_t new_size);

// Free an owned array of [size] bytes.
void gc_free(WkVM *vm, void *ptr, size_t size);
// Every live object, oldest first: [i] < gc_object_count. The positions hold only until the
// next allocation (which may collect): a walk that allocates must collect what it wants first.
size_t gc_object_count(WkVM *vm);
Obj *gc_object_at(WkVM *vm, size_t i);

// Free the block of object [o] of [size] bytes (the sweep, through object_free).
void gc_free_object(WkVM *vm, Obj *o, size_t size);

// ---- Roots -----------------------------------------------------------------------------------

// Protect [v] from collection until the matching gc_pop_root (LIFO). Inline: every native
// temporary goes through here. The macros need the VM's definition (vm/vm.h) where used.
#define gc_push_root(vm, v) gc_push_root_in(&(vm)->gc, (v))
// Drop the [n] newest temp roots.
#define gc_pop_roots(vm, n) gc_pop_roots_in(&(vm)->gc, (n))
#define gc_pop_root(vm) gc_pop_roots((vm), 1)

// The temp-root stack is full: a bug in a native (pushes without pops); aborts.
_Noreturn void gc_temp_overflow(void);

static inline void gc_push_root_in(GcState *gc, Value v) {
    if (gc->temp_count >= GC_MAX_TEMP_ROOTS) {
        gc_temp_overflow();
    }
    gc->temp_roots[gc->temp_count++] = v;
}

static inline void gc_pop_roots_in(GcState *gc, int n) {
    WK_ASSERT(gc->temp_count >= n, "temp roots balance");
    gc->temp_count -= n;
}

// ---- Tracing (for trace functions and root reporters) ----------------------------------------

// Mark [v] / [o] (NULL allowed) reachable; it is traced later from the gray stack. Marking phase
// only; never allocates in the managed heap.
void gc_mark_value(WkVM *vm, Value v);
void gc_mark_object(WkVM *vm, Obj *o);

// True when marking [o] need not queue it: it refers to nothing (OBJ_FLAG_LEAF, vm/object.h:
// gc_alloc_object sets it on every str and range, other kinds on such objects of theirs), and
// it was never weakly referenced (the ephemeron pass hooks the popping of weakly referenced
// objects).
static inline bool gc_is_leaf(const Obj *o) {
    return (o->flags & OBJ_FLAG_LEAF) && o->weakly == 0;
}

// Grow the gray stack of [gc] by at least one entry (aborts when the C heap is exhausted).
void gc_gray_grow(GcState *gc);

// Mark [o] (NULL allowed) in [gc]: gc_mark_object's body, inline for the collector's own loops
// and the trace functions of vm/object.c (which see GcState through vm/vm.h; the mark bits are
// still read and written only by this gc/ code). A leaf (gc_is_leaf) is not queued.
static inline void gc_mark_in(GcState *gc, Obj *o) {
    if (o == NULL || o->marked == gc->epoch) {
        return;
    }
    o->marked = gc->epoch;
    if (gc_is_leaf(o)) {
        return;
    }
    if (gc->gray_count == gc->gray_capacity) {
        gc_gray_grow(gc);
    }
    gc->gray[gc->gray_count++] = o;
}

// Mark [v] in [gc] when it is an object: gc_mark_value's body, inline (see gc_mark_in).
static inline void gc_mark_value_in(GcState *gc, Value v) {
    if (IS_OBJ(v)) {
        gc_mark_in(gc, AS_OBJ(v));
    }
}

// gc_mark_value_in over the [n] values at [items] (lists, tuples, code constants...). The gray
// stack and epoch stay in registers: a mark bit is a byte, and a byte store may alias anything,
// so the loop above would reload them after every mark.
static inline void gc_mark_values_in(GcState *gc, const Value *items, size_t n) {
    uint8_t epoch = gc->epoch;
    Obj **gray = gc->gray;
    size_t count = gc->gray_count, capacity = gc->gray_capacity;
    for (const Value *v = items, *end = items + n; v < end; v++) { // (one induction variable)
        if (!IS_OBJ(*v)) {
            continue;
        }
        Obj *o = AS_OBJ(*v);
        if (o->marked == epoch) {
            continue;
        }
        o->marked = epoch;
        if (gc_is_leaf(o)) {
            continue;
        }
        if (count == capacity) {
            gc->gray_count = count;
            gc_gray_grow(gc);
            gray = gc->gray;
            capacity = gc->gray_capacity;
        }
        gray[count++] = o;
    }
    gc->gray_count = count;
}

// Trace everything reachable from the objects marked so far (drains the gray stack). For
// gc/weak.c's ephemeron pass, which marks values and must then trace from them.
void gc_drain(WkVM *vm);

// During a collection (after tracing): true when [o] was not marked and will be freed.
bool gc_is_dying(WkVM *vm, Obj *o);
// gc_is_dying's body for [o] in [gc], inline for gc/weak.c's clearing loops.
static inline bool gc_is_dying_in(const GcState *gc, const Obj *o) {
    return o->marked != gc->epoch;
}

// ---- Collection ------------------------------------------------------------------------------

void gc_init(WkVM *vm);
// Free every object (VM shutdown).
void gc_free_all(WkVM *vm);
// Run a full collection now; returns the number of objects freed (0 when already collecting).
// Does not run weak callbacks: the caller runs weak_run_pending at its safe point.
size_t gc_collect(WkVM *vm);

#endif
