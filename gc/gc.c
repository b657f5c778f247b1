// The collector: every heap byte is allocated here, counted here, and freed here. A
// stop-the-world, non-moving, precise mark-sweep. It owns the mark bits and the gray stack;
// object kinds report their references through object_trace, roots come from their owners
// (vm_mark_roots, weak_mark_roots), and weak slots are cleared by gc/weak.c between marking
// and sweeping. Weak callbacks never run in here: they are queued for the VM's safe points.
#include "gc/gc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gc/weak.h"
#include "vm/exc.h"
#include "vm/str.h"
#include "vm/vm.h"

#define GC_MIN_HEAP (4 * 1024 * 1024)
#define GC_DEFAULT_GROWTH 200

void gc_init(WkVM *vm) {
    GcState *gc = &vm->gc;
    memset(gc, 0, sizeof *gc);
    gc->min_heap = GC_MIN_HEAP;
    gc->next_gc = GC_MIN_HEAP;
    gc->growth_percent = GC_DEFAULT_GROWTH;
    gc->enabled = true;
    gc->del_collect = true;
    gc->epoch = 1;
#if defined(__SANITIZE_ADDRESS__)
    gc->use_pool = false;
#else
    gc->use_pool = getenv("WK_NO_POOL") == NULL; // WK_NO_POOL=1: plain malloc, for valgrind
#endif
    const char *stress = getenv("WK_GC_STRESS");
    gc->stress = stress != NULL && stress[0] != '\0' && strcmp(stress, "0") != 0;
}

static void out_of_memory(void) {
    fputs("wk: out of memory\n", stderr);
    abort();
}

// Double the C array [*arr] of [*capacity] elements of [elem] bytes (at least 1024).
static void grow_array(void **arr, size_t *capacity, size_t elem) {
    size_t cap = *capacity < 1024 ? 1024 : *capacity * 2;
    void *p = realloc(*arr, cap * elem);
    if (p == NULL) {
        out_of_memory();
    }
    *arr = p;
    *capacity = cap;
}

// Collect when the allocation budget is spent (or always, under stress). Never re-enters.
static void maybe_collect(WkVM *vm, size_t growing) {
    GcState *gc = &vm->gc;
    if (gc->collecting || !gc->enabled) {
        return;
    }
    if (gc->stress || gc->bytes_allocated + growing > gc->next_gc) {
        gc_collect(vm);
    }
}

// ---- Small-object pool ------------------------------------------------------------------------
// Objects and owned arrays of up to 512 bytes come from pages of GC_PAGE_SIZE bytes, each
// carved into the blocks of one size class. A page is aligned to its size, so a block finds
// its page by masking its address, and the page's first blocks hold a bitmap of which of its
// blocks are free. Allocation takes the lowest free block ahead of a cursor that goes up
// through the class's pages, a word of the bitmap at a time; every collection sends the
// cursor back to the first page. So whatever order objects died in, the ones made next sit in
// ascending addresses, and a loop over what was made in order walks memory in order, which
// the hardware prefetches (with a free list, blocks came back in the order they died, and
// objects made in a row were scattered). Freeing sets a bit: it never writes to the block.
// Pages are kept until shutdown.

typedef struct {
    uint32_t cls;
    uint32_t nfree;  // set bits in free[]
    uint64_t recip;  // 2^32 / block size, rounded up: block_index divides by multiplying
    uint64_t free[]; // bit i set: block i is free (and not in its class's cursor)
} PoolPage;

#define BLOCK_SIZE(cls) ((size_t)((cls) + 1) * GC_GRAIN)
#define PAGE_BLOCKS(cls) (GC_PAGE_SIZE / BLOCK_SIZE(cls))
#define PAGE_WORDS(cls) ((PAGE_BLOCKS(cls) + 63) / 64)

static int size_class(size_t size) {
    return size <= GC_GRAIN * GC_SIZE_CLASSES ? (int)((size + GC_GRAIN - 1) / GC_GRAIN) - 1 : -1;
}

static PoolPage *page_of(const void *block) {
    return (PoolPage *)((uintptr_t)block & ~(uintptr_t)(GC_PAGE_SIZE - 1));
}

// The index of [block] in its page: offset / block size, by a multiply (exact for offsets
// below 2^16 and sizes up to 512).
static size_t block_index(const PoolPage *page, const void *block) {
    size_t offset = (size_t)((const char *)block - (const char *)page);
    return (size_t)((offset * page->recip) >> 32);
}

// A new page for [cls], every block free except those under its header, appended to the
// class's pages.
static bool new_page(WkVM *vm, int cls) {
    PoolClass *pc = &vm->gc.pool[cls];
    if (pc->page_count == pc->page_capacity) {
        size_t cap = pc->page_capacity < 16 ? 16 : pc->page_capacity * 2;
        void **pages = realloc(pc->pages, cap * sizeof(void *));
        if (pages == NULL) {
            return false;
        }
        pc->pages = pages;
        pc->page_capacity = cap;
    }
    PoolPage *page = aligned_alloc(GC_PAGE_SIZE, GC_PAGE_SIZE);
    if (page == NULL) {
        return false;
    }
    size_t words = PAGE_WORDS(cls), blocks = PAGE_BLOCKS(cls);
    size_t header = sizeof(PoolPage) + words * sizeof(uint64_t);
    size_t first = (header + BLOCK_SIZE(cls) - 1) / BLOCK_SIZE(cls);
    page->cls = (uint32_t)cls;
    page->recip = ((uint64_t)1 << 32) / BLOCK_SIZE(cls) + 1;
    page->nfree = (uint32_t)(blocks - first);
    for (size_t w = 0; w < words; w++) {
        size_t lo = w * 64, hi = lo + 64 < blocks ? lo + 64 : blocks; // blocks [lo, hi)
        uint64_t bits = hi - lo == 64 ? ~(uint64_t)0 : ((uint64_t)1 << (hi - lo)) - 1;
        if (first > lo) {
            bits &= first >= hi ? 0 : ~(uint64_t)0 << (first - lo);
        }
        page->free[w] = bits;
    }
    pc->pages[pc->page_count++] = page;
    pc->free_in_pages += page->nfree;
    return true;
}

// Give the cursor's untaken blocks back to their page's bitmap.
static void cursor_return(PoolClass *pc) {
    if (pc->bits != 0) {
        PoolPage *page = page_of(pc->base);
        size_t w = (size_t)(pc->base - (char *)page) / BLOCK_SIZE(page->cls) / 64;
        uint32_t n = (uint32_t)__builtin_popcountll(pc->bits);
        page->free[w] |= pc->bits;
        page->nfree += n;
        pc->free_in_pages += n;
        pc->bits = 0;
    }
}

// After a sweep: every class's cursor goes back to its first page, so the next allocations
// fill the lowest free blocks first.
static void pool_rewind(WkVM *vm) {
    for (int cls = 0; cls < GC_SIZE_CLASSES; cls++) {
        PoolClass *pc = &vm->gc.pool[cls];
        cursor_return(pc);
        pc->at_page = 0;
        pc->at_word = 0;
    }
}

// Load the cursor of [cls] with the next bitmap word that has a free block: from the rest of
// the current page, then the pages after it, then (when blocks freed behind the cursor are
// all there is) from the first page again, and last from a new page.
static bool cursor_refill(WkVM *vm, int cls) {
    PoolClass *pc = &vm->gc.pool[cls];
    size_t words = PAGE_WORDS(cls);
    for (;;) {
        if (pc->at_page == pc->page_count) {
            if (pc->free_in_pages > 0) {
                pc->at_page = 0;
                pc->at_word = 0;
            } else if (!new_page(vm, cls)) {
                return false;
            }
        }
        PoolPage *page = pc->pages[pc->at_page];
        if (page->nfree > 0) {
            while (pc->at_word < words) {
                size_t w = pc->at_word++;
                uint64_t bits = page->free[w];
                if (bits != 0) {
                    uint32_t n = (uint32_t)__builtin_popcountll(bits);
                    page->free[w] = 0;
                    page->nfree -= n;
                    pc->free_in_pages -= n;
                    pc->bits = bits;
                    pc->base = (char *)page + w * 64 * BLOCK_SIZE(cls);
                    return true;
                }
            }
        }
        pc->at_page++;
        pc->at_word = 0;
    }
}

#ifdef WK_POOL_AUDIT
// A pooled block freed with another size than it was allocated with would be marked free in
// the wrong place. This build records every pooled block's size and aborts on a mismatch.
typedef struct {
    void *ptr;
    size_t size;
} AuditSlot;
typedef struct {
    AuditSlot *slots;
    size_t mask, count;
} Audit;

static AuditSlot *audit_find(Audit *a, void *ptr) {
    size_t i = ((uintptr_t)ptr >> 4) & a->mask;
    while (a->slots[i].ptr != NULL && a->slots[i].ptr != ptr) {
        i = (i + 1) & a->mask;
    }
    return &a->slots[i];
}

static void audit_add(WkVM *vm, void *ptr, size_t size) {
    Audit *a = vm->gc.audit;
    if (a == NULL) {
        a = vm->gc.audit = calloc(1, sizeof(Audit));
    }
    if ((a->count + 1) * 2 > a->mask) {
        size_t size = a->slots == NULL ? 1024 : (a->mask + 1) * 2; // a power of two
        Audit bigger = {calloc(size, sizeof(AuditSlot)), size - 1, 0};
        for (size_t i = 0; a->slots != NULL && i <= a->mask; i++) {
            if (a->slots[i].ptr != NULL) {
                *audit_find(&bigger, a->slots[i].ptr) = a->slots[i];
                bigger.count++;
            }
        }
        free(a->slots);
        *a = bigger;
    }
    AuditSlot *s = audit_find(a, ptr);
    s->ptr = ptr;
    s->size = size;
    a->count++;
}

static void audit_remove(WkVM *vm, void *ptr, size_t size) {
    Audit *a = vm->gc.audit;
    AuditSlot *s = a != NULL ? audit_find(a, ptr) : NULL;
    if (s == NULL || s->ptr == NULL || s->size != size) {
        fprintf(stderr, "wk pool audit: block %p freed with size %zu, allocated with %zu\n", ptr,
                size, s != NULL && s->ptr != NULL ? s->size : (size_t)0);
        abort();
    }
    // Re-insert the rest of the cluster so later probes still find their blocks.
    s->ptr = NULL;
    a->count--;
    size_t i = (size_t)(s - a->slots);
    for (size_t j = (i + 1) & a->mask; a->slots[j].ptr != NULL; j = (j + 1) & a->mask) {
        AuditSlot moved = a->slots[j];
        a->slots[j].ptr = NULL;
        *audit_find(a, moved.ptr) = moved;
    }
}
#else
#define audit_add(vm, ptr, size) ((void)0)
#define audit_remove(vm, ptr, size) ((void)0)
#endif

// Move the order window to the front of its array, which it then fills to the end.
static void order_to_front(GcState *gc) {
    if (gc->order != gc->order_mem) {
        memmove(gc->order_mem, gc->order, gc->order_count * sizeof(Obj *));
        gc->order = gc->order_mem;
    }
    gc->order_capacity = gc->order_mem_capacity;
}

// The order window is full: slide it to the front of its array when that frees at least half
// of it, else double the array. (Each slide moves at most half the array, and only after as
// many allocations: the survivors of a sweep move once, not at every collection.)
__attribute__((noinline)) static void order_grow(GcState *gc) {
    if (gc->order_count >= gc->order_mem_capacity / 2) {
        size_t capacity = gc->order_mem_capacity < 1024 ? 1024 : gc->order_mem_capacity * 2;
        size_t offset = (size_t)(gc->order - gc->order_mem);
        Obj **mem = realloc(gc->order_mem, capacity * sizeof(Obj *));
        if (mem == NULL) {
            out_of_memory();
        }
        gc->order_mem = mem;
        gc->order_mem_capacity = capacity;
        gc->order = mem + offset;
    }
    order_to_front(gc);
}

// block_alloc's slow path: a large block, the pool off, or an empty cursor.
__attribute__((noinline)) static void *block_alloc_slow(WkVM *vm, size_t size, int cls) {
    if (cls < 0) {
        return malloc(size);
    }
    if (!cursor_refill(vm, cls)) {
        return NULL;
    }
    void *b = gc_cursor_take(&vm->gc.pool[cls], (size_t)cls);
    audit_add(vm, b, size);
    return b;
}

// A block of [size] bytes: the next one of its size class's cursor (inline: the allocation
// fast path), else from block_alloc_slow.
static inline void *block_alloc(WkVM *vm, size_t size) {
    int cls = vm->gc.use_pool ? size_class(size) : -1;
    if (cls < 0 || vm->gc.pool[cls].bits == 0) {
        return block_alloc_slow(vm, size, cls);
    }
    void *b = gc_cursor_take(&vm->gc.pool[cls], (size_t)cls);
    audit_add(vm, b, size);
    return b;
}

// Return a block of [size] bytes to its page (or to malloc when it is large).
static inline void block_free(WkVM *vm, void *ptr, size_t size) {
    size_t cls = (size - 1) / GC_GRAIN; // size 0 wraps around: large (no pooled block has it)
    if (cls >= GC_SIZE_CLASSES || !vm->gc.use_pool) {
        free(ptr);
        return;
    }
    audit_remove(vm, ptr, size);
    PoolPage *page = page_of(ptr);
    size_t i = block_index(page, ptr);
    page->free[i / 64] |= (uint64_t)1 << (i % 64);
    page->nfree++;
    vm->gc.pool[cls].free_in_pages++;
}

// The sweep frees dying [o]: what it owns, then its block (inline: the sweep's hot path).
static inline void sweep_free(WkVM *vm, Obj *o) {
    size_t size = object_free_contents(vm, o);
    vm->gc.bytes_allocated -= size;
    block_free(vm, o, size);
}

void gc_free_object(WkVM *vm, Obj *o, size_t size) {
    vm->gc.bytes_allocated -= size;
    block_free(vm, o, size);
}

// gc_alloc_object's slow path: a collection may be due, the block is large, the pool is off
// or the size class's cursor is empty, or the order array is full.
__attribute__((noinline)) static Obj *alloc_object_slow(WkVM *vm, size_t size, ObjType type) {
    GcState *gc = &vm->gc;
    maybe_collect(vm, size);
    Obj *o = block_alloc(vm, size);
    if (o == NULL) {
        gc_collect(vm);
        o = block_alloc(vm, size);
        if (o == NULL) {
            out_of_memory();
        }
    }
    if (gc->order_count == gc->order_capacity) {
        order_grow(gc);
    }
    return gc_adopt(gc, o, size, type);
}

Obj *gc_alloc_object(WkVM *vm, size_t size, ObjType type) {
    // The fast path (gc.h): a block at hand in the size class's cursor (the cursors stay
    // empty while the pool is off), no collection due, room in the order array.
    Obj *o = gc_alloc_quick(&vm->gc, size, type);
    return o != NULL ? o : alloc_object_slow(vm, size, type);
}

// Owned arrays of up to 512 bytes also come from the pool: callers always pass the exact old
// size, so a small block's size class is known without a header.
static bool pooled(WkVM *vm, size_t size) {
    return vm->gc.use_pool && size > 0 && size_class(size) >= 0;
}

// Move [ptr] from [old_size] to [new_size] bytes, through the pool where either is small.
static void *block_realloc(WkVM *vm, void *ptr, size_t old_size, size_t new_size) {
    if (!pooled(vm, old_size) && !pooled(vm, new_size)) {
        return realloc(ptr, new_size);
    }
    if (ptr != NULL && pooled(vm, old_size) && pooled(vm, new_size) &&
        size_class(old_size) == size_class(new_size)) {
        audit_remove(vm, ptr, old_size);
        audit_add(vm, ptr, new_size);
        return ptr;
    }
    void *p = block_alloc(vm, new_size);
    if (p == NULL) {
        return NULL;
    }
    if (ptr != NULL) {
        memcpy(p, ptr, old_size < new_size ? old_size : new_size);
        block_free(vm, ptr, old_size);
    }
    return p;
}

void *gc_try_realloc(WkVM *vm, void *ptr, size_t old_size, size_t new_size) {
    if (new_size == 0) {
        if (ptr != NULL) {
            block_free(vm, ptr, old_size);
        }
        vm->gc.bytes_allocated -= old_size;
        return NULL;
    }
    if (new_size > old_size) {
        maybe_collect(vm, new_size - old_size);
    }
    void *p = block_realloc(vm, ptr, old_size, new_size);
    if (p == NULL) {
        gc_collect(vm);
        p = block_realloc(vm, ptr, old_size, new_size);
        if (p == NULL) {
            (void)exc_raise_value(vm, OBJ_VAL(vm->memory_error));
            return NULL;
        }
    }
    vm->gc.bytes_allocated += new_size - old_size;
    return p;
}

void *gc_realloc(WkVM *vm, void *ptr, size_t old_size, size_t new_size) {
    if (new_size == 0) {
        return gc_try_realloc(vm, ptr, old_size, 0);
    }
    if (new_size > old_size) {
        maybe_collect(vm, new_size - old_size);
    }
    void *p = block_realloc(vm, ptr, old_size, new_size);
    if (p == NULL) {
        gc_collect(vm);
        p = block_realloc(vm, ptr, old_size, new_size);
        if (p == NULL) {
            out_of_memory();
        }
    }
    vm->gc.bytes_allocated += new_size - old_size;
    return p;
}

void gc_free(WkVM *vm, void *ptr, size_t size) {
    if (ptr == NULL) {
        return;
    }
    block_free(vm, ptr, size);
    vm->gc.bytes_allocated -= size;
}

// ---- Roots -----------------------------------------------------------------------------------

_Noreturn void gc_temp_overflow(void) {
    fputs("wk internal error: temp-root stack overflow\n", stderr);
    abort();
}

// ---- Marking ---------------------------------------------------------------------------------

void gc_gray_grow(GcState *gc) {
    gc->gray_capacity = gc->gray_capacity < 256 ? 256 : gc->gray_capacity * 2;
    gc->gray = realloc(gc->gray, gc->gray_capacity * sizeof(Obj *));
    if (gc->gray == NULL) {
        out_of_memory();
    }
}

void gc_mark_object(WkVM *vm, Obj *o) {
    gc_mark_in(&vm->gc, o);
}

void gc_mark_value(WkVM *vm, Value v) {
    gc_mark_value_in(&vm->gc, v);
}

bool gc_is_dying(WkVM *vm, Obj *o) {
    return gc_is_dying_in(&vm->gc, o);
}

static void mark_roots(WkVM *vm) {
    for (int i = 0; i < vm->gc.temp_count; i++) {
        gc_mark_value_in(&vm->gc, vm->gc.temp_roots[i]);
    }
    vm_mark_roots(vm);
    weak_mark_roots(vm);
}

// Drain the gray stack: blacken each object by tracing what it refers to.
void gc_drain(WkVM *vm) {
    GcState *gc = &vm->gc;
    while (gc->gray_count > 0) {
        Obj *o = gc->gray[--gc->gray_count];
        object_trace(vm, o);
    }
}

// Ephemerons: values of weak-key tables become reachable only through marked keys. Each pass
// may mark more keys, so alternate with tracing until nothing changes (weak.c keeps it linear).
static void converge_ephemerons(WkVM *vm) {
    weak_converge_ephemerons(vm);
}

static void drop_dying_strings(WkVM *vm) {
    str_drop_dying(vm);
}

static bool is_weak_kind(const Obj *o) {
    return o->type >= OBJ_WEAKREF && o->type <= OBJ_FINALIZE;
}

// The sweep's running state.
typedef struct {
    size_t dying_weak; // weak kinds waiting in GcState.dying_weak
    uint8_t epoch;     // the mark of a survivor (a local: the sweep's stores may alias it)
    WeakSweepHints hints; // for prefetching side entries
} Sweep;

// Start fetching what the sweep will read of [o] in a few objects' time: past the header's
// line when it dies (object_free_contents reads its fields), and its side-table bucket when it
// was ever weakly referenced. [o]'s header was prefetched earlier.
static inline void sweep_ahead(WkVM *vm, Obj *o, const Sweep *sw) {
    if (o->marked != sw->epoch) {
        __builtin_prefetch((char *)o + 48);
        if (o->weakly) {
            weak_prefetch_clear_hinted(vm, &sw->hints, o);
        }
    }
}

// Sweep [o]: true for a survivor (whose header is only read); a dying object is cleared and
// freed (a weak kind that still holds weak slots only queued for freeing).
static inline bool sweep_one(WkVM *vm, Obj *o, Sweep *sw) {
    GcState *gc = &vm->gc;
    if (o->marked == sw->epoch) {
        return true;
    }
    if (o->weakly) {
        weak_clear_object(vm, o);
    }
    if (is_weak_kind(o) && !(o->flags & OBJ_FLAG_NO_WEAK_SLOTS)) {
        if (sw->dying_weak == gc->dying_weak_capacity) {
            grow_array((void **)&gc->dying_weak, &gc->dying_weak_capacity, sizeof(Obj *));
        }
        gc->dying_weak[sw->dying_weak++] = o;
    } else {
        sweep_free(vm, o);
    }
    return false;
}

// How many objects ahead the sweep prefetches headers: enough to cover a memory latency with
// the work of the objects in between.
#define SWEEP_PREFETCH 16

// Free every unmarked object; returns the number freed. The objects are visited newest first
// (the order the callback queue follows) from the order array: its entries are read in
// sequence and each header is fetched SWEEP_PREFETCH objects early, so the misses overlap
// instead of forming a chain. Survivors are packed in the same order at the newest end of the
// window, which then starts at the oldest of them (no copying; order_grow slides the window
// back to the front of its array when it fills). It never wraps: the walk and the
// allocations index it directly.
// A dying object that was ever weakly referenced (header bit) has its weak slots cleared first,
// which touches the refs and containers holding it: so the weak kinds are freed only after the
// pass, except those that hold no slot any more (OBJ_FLAG_NO_WEAK_SLOTS: a ref whose referent
// died in an earlier collection), which nothing can reach. Clearing costs only what died:
// surviving objects are never looked at for it.
static size_t sweep(WkVM *vm) {
    GcState *gc = &vm->gc;
    Obj **order = gc->order;
    size_t n = gc->order_count;
    Obj **keep = order + n; // survivors go to [keep, order + n)
    WeakSweepHints hints; // (sw's address never escapes: its fields can stay in registers)
    weak_sweep_hints(vm, &hints);
    Sweep sw = {.dying_weak = 0, .epoch = gc->epoch, .hints = hints};
    Obj **p = order + n;
    while (p > order + SWEEP_PREFETCH) {
        p--;
        __builtin_prefetch(p[-SWEEP_PREFETCH]);
        sweep_ahead(vm, p[-SWEEP_PREFETCH / 2], &sw);
        Obj *o = *p;
        if (sweep_one(vm, o, &sw)) {
            *--keep = o;
        }
    }
    while (p > order) {
        p--;
        Obj *o = *p;
        if (sweep_one(vm, o, &sw)) {
            *--keep = o;
        }
    }
    // The weak kinds that waited for the clearing pass are freed now (their blocks join the
    // pool's bitmaps; the next allocations take the lowest free blocks whatever the order).
    for (size_t d = 0; d < sw.dying_weak; d++) {
        if (d + SWEEP_PREFETCH < sw.dying_weak) {
            __builtin_prefetch(gc->dying_weak[d + SWEEP_PREFETCH]);
        }
        sweep_free(vm, gc->dying_weak[d]);
    }
    size_t live = (size_t)(order + n - keep);
    gc->order = keep; // the window now starts at the oldest survivor
    gc->order_capacity -= (size_t)(keep - order);
    gc->order_count = live;
    if (gc->order_mem_capacity > 4096 && live < gc->order_mem_capacity / 8) {
        // give back what a past peak left unused (not sooner: the next cycle's allocations
        // would only grow it again)
        order_to_front(gc);
        Obj **smaller = realloc(gc->order_mem, gc->order_mem_capacity / 2 * sizeof(Obj *));
        if (smaller != NULL) {
            gc->order_mem = gc->order = smaller;
            gc->order_mem_capacity /= 2;
            gc->order_capacity = gc->order_mem_capacity;
        }
    }
    gc->live_objects = live;
    return n - live;
}

static void set_threshold(WkVM *vm) {
    GcState *gc = &vm->gc;
    size_t next = gc->bytes_allocated / 100 * (size_t)gc->growth_percent;
    gc->next_gc = next < gc->min_heap ? gc->min_heap : next;
}

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

size_t gc_collect(WkVM *vm) {
    GcState *gc = &vm->gc;
    if (gc->collecting) {
        return 0;
    }
    gc->collecting = true;
    double start = now_us();
    gc->epoch = gc->epoch == 1 ? 2 : 1; // last cycle's survivors are white again

    mark_roots(vm);
    gc_drain(vm);
    converge_ephemerons(vm);
    drop_dying_strings(vm);
    size_t freed = sweep(vm);
    pool_rewind(vm);
    set_threshold(vm);

    double pause = now_us() - start;
    gc->last_pause_us = pause;
    if (pause > gc->max_pause_us) {
        gc->max_pause_us = pause;
    }
    gc->collections++;
    gc->collected_total += freed;
    gc->allocations_since = 0;
    gc->collecting = false;
    return freed;
}

size_t gc_object_count(WkVM *vm) {
    return vm->gc.order_count;
}

Obj *gc_object_at(WkVM *vm, size_t i) {
    return vm->gc.order[i];
}

void gc_free_all(WkVM *vm) {
    GcState *gc = &vm->gc;
    for (size_t i = gc->order_count; i-- > 0;) { // newest first
        object_free(vm, gc->order[i]);
    }
    gc->order_count = 0;
    free(vm->gc.order_mem);
    vm->gc.order = vm->gc.order_mem = NULL;
    vm->gc.order_capacity = vm->gc.order_mem_capacity = vm->gc.order_count = 0;
    free(vm->gc.dying_weak);
    vm->gc.dying_weak = NULL;
    vm->gc.dying_weak_capacity = 0;
    for (int cls = 0; cls < GC_SIZE_CLASSES; cls++) {
        PoolClass *pc = &vm->gc.pool[cls];
        for (size_t i = 0; i < pc->page_count; i++) {
            free(pc->pages[i]);
        }
        free(pc->pages);
        memset(pc, 0, sizeof *pc);
    }
#ifdef WK_POOL_AUDIT
    if (vm->gc.audit != NULL) {
        free(((Audit *)vm->gc.audit)->slots);
        free(vm->gc.audit);
        vm->gc.audit = NULL;
    }
#endif
    free(vm->gc.gray);
    vm->gc.gray = NULL;
    vm->gc.gray_count = vm->gc.gray_capacity = 0;
}
