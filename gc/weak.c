// The collector's side of weak references: the side table from an object to its weak slots,
// the ephemeron fixed point, clearing the slots of dying objects, and the callback queue run
// at the VM's safe points. Everything here lives in C memory (malloc), never in the managed
// heap, so the collector phases can use it without allocating. The Python types are in
// stdlib/mod_weakref.c, which reaches this file only through gc/weak.h.
#include "gc/weak.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "vm/exc.h"
#include "vm/ops.h"
#include "vm/vm.h"

// ---- State -----------------------------------------------------------------------------------

// One weak slot: slot [index] of [holder] refers to the object owning the list.
typedef struct {
    Obj *holder;
    uint32_t index;
    uint32_t serial; // creation order
} WeakSlot;

// The side-table entry of one weakly referenced object. A single slot is stored inline; the
// entry is 32 bytes, so a probe reads two buckets per cache line.
#define SIDE_BASIC_REF 0x01   // slots[0] is the shared ref
#define SIDE_BASIC_PROXY 0x02 // slots[has_ref] is the shared proxy
typedef struct {
    Obj *obj; // NULL: a free bucket
    union {
        WeakSlot one;   // cap_log == 0
        WeakSlot *many; // cap_log > 0: 1 << cap_log slots (malloc'd)
    } u;
    uint32_t count;
    uint8_t flags;   // SIDE_BASIC_*
    uint8_t cap_log; // 0: the one slot is inline (count <= 1)
} SideEntry;

_Static_assert(sizeof(SideEntry) == 32, "a side-table bucket is 32 bytes");
_Static_assert(sizeof(SideEntry) == WEAK_DIRECT_ENTRY_SIZE, "weak.h prefetches direct entries of this size");

// A value waiting for its ephemeron key to be marked.
typedef struct {
    Obj *value;
    int32_t next;
} PendingNode;

// The head of an unmarked ephemeron key's list of pending values (collection time only; kept
// out of the side table so that its buckets stay small). A bucket is in use only when its
// [pass] is the current ephemeron pass, so emptying the table is a counter increment.
typedef struct {
    Obj *key;
    int32_t head;
    uint32_t pass;
} PendingKey;

// The pending head of an instance key, beside its direct side-table entry (same index).
typedef struct {
    int32_t head;
    uint32_t pass; // current only when it is ws->pkey_pass
} DirectPending;

// A queued callback: callback(holder), or the holder's run hook when callback is EMPTY.
typedef struct {
    Obj *holder;
    Value callback;
    uint32_t serial;
} QueueItem;

struct WeakState {
    // the side table: open addressing, linear probing, backward-shift deletion
    SideEntry *side;
    uint32_t side_mask; // buckets - 1
    uint32_t side_count;   // objects with an entry, in either place
    uint32_t hashed_count; // of which in the hash table
    // Instances find their entry without hashing: the header's aux is 1 + its index in
    // [direct], a dense array (an instance's aux belongs to this file; vm/object.h). A new
    // entry takes the lowest free index at or after a cursor that every collection sends back
    // to 0, as the pool does with blocks: objects made in a row get entries in a row whatever
    // order the earlier ones died in, so registering and clearing them walks memory in order.
    // As in the pool, the cursor holds one word of the bitmap taken out of it (dcur_bits), so
    // a new entry is a bit scan; the bitmap is searched only when that word is used up.
    SideEntry *direct;
    uint32_t direct_count, direct_cap; // entries in use or free / allocated
    uint64_t *direct_free;             // bit i set: entry i (< direct_count) is free, and not
                                       // in the cursor
    DirectPending *direct_pending;     // per direct entry: its key's ephemeron pending head
    uint64_t dcur_bits;                // the cursor's free entries: bit i is entry
    uint32_t dcur_base;                // dcur_base + i
    uint32_t dfree_word, dfree_count;  // the next word the cursor takes; free entries in
                                       // direct_free (the cursor's not counted)
    uint32_t serial;
    const WeakHolderOps *ops[OBJ_KIND_COUNT];

    // ephemeron pass (reset by weak_mark_roots)
    Obj **eph_tables;
    size_t eph_count, eph_cap;
    PendingNode *pending;
    size_t pending_count, pending_cap;
    PendingKey *pkeys; // open addressing, linear probing; emptied after each ephemeron pass
    uint32_t pkey_mask, pkey_count; // pending keys this pass, direct ones included
    uint32_t pkey_hashed;           // of which in [pkeys]
    uint32_t pkey_pass; // buckets of other passes are free


    // per-object callback batch (sorted newest first before queueing)
    QueueItem *batch;
    size_t batch_count, batch_cap;

    // the callback queue: items [qhead, qtail) wait
    QueueItem *queue;
    size_t qhead, qtail, qcap;
    int running; // nesting depth of weak_run_pending

    // strong roots owned by the weakref module (stable handles, NULL holes on a free list)
    Obj **roots;
    uint32_t *free_roots;
    size_t root_count, root_cap, free_count, free_cap;
    Obj *module_slots[WEAK_MODULE_SLOTS];

    WeakStats stats;
};

#define RUN_NESTING_MAX 8

// Refresh the flag weak_has_pending reads, after the queue or the running depth changed.
static void update_ready(WkVM *vm) {
    WeakState *ws = vm->weak;
    vm->gc.weak_ready = ws != NULL && ws->qhead < ws->qtail && ws->running == 0;
}

static void *xrealloc(void *p, size_t size) {
    void *q = realloc(p, size == 0 ? 1 : size);
    if (q == NULL) {
        fputs("wk: out of memory (weak references)\n", stderr);
        abort();
    }
    return q;
}

// [n] zeroed elements of [size] bytes (large tables come as fresh zero pages, not memset).
static void *xcalloc(size_t n, size_t size) {
    void *p = calloc(n, size);
    if (p == NULL) {
        fputs("wk: out of memory (weak references)\n", stderr);
        abort();
    }
    return p;
}

// Grow the array [*arr] of [*cap] elements of [elem] bytes to hold [need].
static void grow(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) {
        return;
    }
    size_t n = *cap < 16 ? 16 : *cap * 2;
    while (n < need) {
        n *= 2;
    }
    *arr = xrealloc(*arr, n * elem);
    *cap = n;
}

void weak_init(WkVM *vm) {
    WeakState *ws = xrealloc(NULL, sizeof *ws);
    memset(ws, 0, sizeof *ws);
    ws->side_mask = 63;
    ws->side = xrealloc(NULL, 64 * sizeof(SideEntry));
    memset(ws->side, 0, 64 * sizeof(SideEntry));
    ws->pkey_pass = 1; // zeroed pending buckets belong to no pass
    vm->weak = ws;
    update_ready(vm);
}

void weak_free_all(WkVM *vm) {
    WeakState *ws = vm->weak;
    if (ws == NULL) {
        return;
    }
    for (uint32_t i = 0; i <= ws->side_mask; i++) {
        if (ws->side[i].obj != NULL && ws->side[i].cap_log > 0) {
            free(ws->side[i].u.many);
        }
    }
    for (uint32_t i = 0; i < ws->direct_count; i++) {
        if (ws->direct[i].obj != NULL && ws->direct[i].cap_log > 0) {
            free(ws->direct[i].u.many);
        }
    }
    free(ws->side);
    free(ws->direct);
    free(ws->direct_free);
    free(ws->direct_pending);
    free(ws->eph_tables);
    free(ws->pending);
    free(ws->pkeys);
    free(ws->batch);
    free(ws->queue);
    free(ws->roots);
    free(ws->free_roots);
    free(ws);
    vm->weak = NULL;
    update_ready(vm);
}

void weak_register_holder(WkVM *vm, ObjType type, const WeakHolderOps *ops) {
    vm->weak->ops[type] = ops;
}

uint32_t weak_next_serial(WkVM *vm) {
    return ++vm->weak->serial;
}

// ---- The side table --------------------------------------------------------------------------

static inline uint32_t ptr_hash(const Obj *o, uint32_t mask) {
    uint64_t h = ((uint64_t)(uintptr_t)o >> 4) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32) & mask;
}

// Objects whose entry lives in the direct array: their header's aux is free for gc/weak.c.
// (weak_prefetch_clear_hinted in weak.h knows this too.)
static inline bool direct_kind(const Obj *o) {
    return o->type == OBJ_INSTANCE;
}

// The entry of [o] when it has one in the direct array (aux), else NULL.
static inline SideEntry *direct_find(WeakState *ws, const Obj *o) {
    return o->aux != 0 ? &ws->direct[o->aux - 1] : NULL;
}

// Double the direct array (and its free bitmap and pending heads). Out of line: direct_new
// is inlined into the first-slot path, which should not save registers for this call.
static __attribute__((noinline)) void direct_grow(WeakState *ws) {
    uint32_t cap = ws->direct_cap < 64 ? 64 : ws->direct_cap * 2;
    ws->direct = xrealloc(ws->direct, (size_t)cap * sizeof(SideEntry));
    ws->direct_free = xrealloc(ws->direct_free, (size_t)cap / 64 * sizeof(uint64_t));
    memset(ws->direct_free + ws->direct_cap / 64, 0,
           (size_t)(cap - ws->direct_cap) / 64 * sizeof(uint64_t));
    ws->direct_pending = xrealloc(ws->direct_pending, (size_t)cap * sizeof(DirectPending));
    memset(ws->direct_pending + ws->direct_cap, 0,
           (size_t)(cap - ws->direct_cap) * sizeof(DirectPending)); // pass 0: none
    ws->direct_cap = cap;
}

// Give the cursor's untaken entries back to the bitmap (before the cursor restarts at 0).
static void direct_cursor_return(WeakState *ws) {
    if (ws->dcur_bits != 0) {
        ws->direct_free[ws->dcur_base / 64] |= ws->dcur_bits;
        ws->dfree_count += (uint32_t)__builtin_popcountll(ws->dcur_bits);
        ws->dcur_bits = 0;
    }
}

// The index of a new direct entry when the cursor is empty: load it with the next bitmap word
// that has a free entry, at or after dfree_word (from 0 again when the free ones are all
// behind it), and take its lowest; else a new entry at the end.
static __attribute__((noinline)) uint32_t direct_take_slow(WeakState *ws) {
    if (ws->dfree_count == 0) {
        if (ws->direct_count == ws->direct_cap) {
            direct_grow(ws);
        }
        return ws->direct_count++;
    }
    uint32_t words = (ws->direct_count + 63) / 64;
    uint32_t w = ws->dfree_word < words ? ws->dfree_word : 0;
    while (ws->direct_free[w] == 0) {
        w = w + 1 < words ? w + 1 : 0;
    }
    uint64_t bits = ws->direct_free[w];
    ws->direct_free[w] = 0;
    ws->dfree_count -= (uint32_t)__builtin_popcountll(bits);
    ws->dfree_word = w + 1;
    ws->dcur_base = w * 64;
    ws->dcur_bits = bits & (bits - 1);
    return w * 64 + (uint32_t)__builtin_ctzll(bits);
}

// A new direct entry for [o] holding slot [s] inline (flags [flags]): the lowest free one of
// the cursor, else from direct_take_slow. One store writes the whole entry.
static inline __attribute__((always_inline)) SideEntry *direct_new(WeakState *ws, Obj *o,
                                                                   WeakSlot s, uint32_t count,
                                                                   uint8_t flags) {
    uint32_t i;
    uint64_t bits = ws->dcur_bits;
    if (bits != 0) {
        ws->dcur_bits = bits & (bits - 1);
        i = ws->dcur_base + (uint32_t)__builtin_ctzll(bits);
    } else if (ws->dfree_count == 0 && ws->direct_count < ws->direct_cap) {
        i = ws->direct_count++;
    } else {
        i = direct_take_slow(ws);
    }
    SideEntry *e = &ws->direct[i];
    *e = (SideEntry){.obj = o, .u.one = s, .count = count, .flags = flags, .cap_log = 0};
    o->aux = i + 1;
    ws->side_count++;
    return e;
}

// Free direct entry [e] (its slots already released).
static void direct_delete(WeakState *ws, SideEntry *e) {
    uint32_t i = (uint32_t)(e - ws->direct);
    e->obj->aux = 0;
    e->obj = NULL;
    ws->direct_free[i / 64] |= (uint64_t)1 << (i % 64);
    ws->dfree_count++;
    ws->side_count--;
}

static SideEntry *side_find(WeakState *ws, const Obj *o) {
    if (direct_kind(o)) {
        return direct_find(ws, o);
    }
    uint32_t i = ptr_hash(o, ws->side_mask);
    for (;;) {
        SideEntry *e = &ws->side[i];
        if (e->obj == o) {
            return e;
        }
        if (e->obj == NULL) {
            return NULL;
        }
        i = (i + 1) & ws->side_mask;
    }
}

static void side_grow(WeakState *ws) {
    uint32_t old_n = ws->side_mask + 1;
    SideEntry *old = ws->side;
    uint32_t n = old_n * 2;
    ws->side = xcalloc(n, sizeof(SideEntry));
    ws->side_mask = n - 1;
    for (uint32_t i = 0; i < old_n; i++) {
        if (old[i].obj != NULL) {
            uint32_t j = ptr_hash(old[i].obj, ws->side_mask);
            while (ws->side[j].obj != NULL) {
                j = (j + 1) & ws->side_mask;
            }
            ws->side[j] = old[i];
        }
    }
    free(old);
}

// The entry of [o], created empty when missing: one probe sequence finds it or the free bucket
// where it belongs. (The table grows first when a new entry would pass 3/4 load.)
static SideEntry *side_get(WeakState *ws, Obj *o) {
    if (direct_kind(o)) {
        SideEntry *e = direct_find(ws, o);
        return e != NULL ? e : direct_new(ws, o, (WeakSlot){0}, 0, 0);
    }
    if ((ws->hashed_count + 1) * 4 > (ws->side_mask + 1) * 3) {
        side_grow(ws);
    }
    uint32_t mask = ws->side_mask;
    for (uint32_t i = ptr_hash(o, mask);; i = (i + 1) & mask) {
        SideEntry *e = &ws->side[i];
        if (e->obj == o) {
            return e;
        }
        if (e->obj == NULL) {
            e->obj = o;
            e->count = 0;
            e->flags = 0;
            e->cap_log = 0;
            ws->side_count++;
            ws->hashed_count++;
            return e;
        }
    }
}

// Delete [e] (its slot array already released), shifting later probes back (no tombstones).
static void side_delete(WeakState *ws, SideEntry *e) {
    if (e >= ws->direct && e < ws->direct + ws->direct_count) {
        direct_delete(ws, e);
        return;
    }
    uint32_t mask = ws->side_mask;
    uint32_t i = (uint32_t)(e - ws->side);
    uint32_t j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (ws->side[j].obj == NULL) {
            break;
        }
        uint32_t k = ptr_hash(ws->side[j].obj, mask);
        // move j into the hole i unless its home k lies cyclically in (i, j]
        bool stays = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!stays) {
            ws->side[i] = ws->side[j];
            i = j;
        }
    }
    ws->side[i].obj = NULL;
    ws->side_count--;
    ws->hashed_count--;
}

static inline WeakSlot *slots_of(SideEntry *e) {
    return e->cap_log == 0 ? &e->u.one : e->u.many;
}

static void slots_release(SideEntry *e) {
    if (e->cap_log > 0) {
        free(e->u.many);
    }
    e->cap_log = 0;
    e->count = 0;
}

// Room for one more slot: the inline one, else an array of 4, 8, ... slots.
static WeakSlot *slots_reserve(SideEntry *e) {
    if (e->cap_log == 0) {
        if (e->count == 0) {
            return &e->u.one;
        }
        WeakSlot *arr = xrealloc(NULL, 4 * sizeof(WeakSlot));
        arr[0] = e->u.one;
        e->u.many = arr;
        e->cap_log = 2;
        return arr;
    }
    if (e->count == (uint32_t)1 << e->cap_log) {
        e->cap_log++;
        e->u.many = xrealloc(e->u.many, ((size_t)1 << e->cap_log) * sizeof(WeakSlot));
    }
    return e->u.many;
}

// Put [s] at position [pos] and tell its holder.
static void slot_put(WeakState *ws, WeakSlot *slots, uint32_t pos, WeakSlot s) {
    slots[pos] = s;
    const WeakHolderOps *ops = ws->ops[s.holder->type];
    if (ops != NULL && ops->moved != NULL) {
        ops->moved(s.holder, s.index, pos);
    }
}

static inline uint32_t basic_prefix(const SideEntry *e) {
    return (uint32_t)((e->flags & SIDE_BASIC_REF) != 0) + ((e->flags & SIDE_BASIC_PROXY) != 0);
}

// weak_slot_add's general case: a referent that has slots already, or lives in the hash table.
static __attribute__((noinline)) uint32_t slot_add_general(WeakState *ws, Obj *referent,
                                                          Obj *holder, uint32_t index,
                                                          WeakSlotKind kind) {
    SideEntry *e = side_get(ws, referent);
    WeakSlot *slots = slots_reserve(e);
    WeakSlot s = {holder, index, ++ws->serial};
    uint32_t n = e->count++;
    uint32_t r = basic_prefix(e);
    uint32_t pos = n;
    if (kind == WEAK_SLOT_BASIC_REF) {
        // the ref goes first: the first non-basic slot moves to the end, the proxy (if
        // any) moves from 0 to 1
        pos = 0;
        if (r < n) {
            slot_put(ws, slots, n, slots[r]);
        }
        if (r == 1) { // the proxy
            slot_put(ws, slots, 1, slots[0]);
        }
        e->flags |= SIDE_BASIC_REF;
    } else if (kind == WEAK_SLOT_BASIC_PROXY) {
        pos = r;
        if (r < n) {
            slot_put(ws, slots, n, slots[r]);
        }
        e->flags |= SIDE_BASIC_PROXY;
    }
    slots[pos] = s;
    return pos;
}

uint32_t weak_slot_add(WkVM *vm, Obj *referent, Obj *holder, uint32_t index, WeakSlotKind kind) {
    static const uint8_t kind_flags[] = {
        [WEAK_SLOT_OTHER] = 0,
        [WEAK_SLOT_BASIC_REF] = SIDE_BASIC_REF,
        [WEAK_SLOT_BASIC_PROXY] = SIDE_BASIC_PROXY,
    };
    WeakState *ws = vm->weak;
    referent->weakly |= WEAKLY_EVER;
    if (direct_kind(referent) && referent->aux == 0) {
        // an instance's first slot (a fresh object entering a container, say): a new direct
        // entry holding it inline, whatever its kind
        (void)direct_new(ws, referent, (WeakSlot){holder, index, ++ws->serial}, 1,
                         kind_flags[kind]);
        return 0;
    }
    return slot_add_general(ws, referent, holder, index, kind);
}

void weak_slot_remove(WkVM *vm, Obj *referent, uint32_t pos) {
    WeakState *ws = vm->weak;
    if (ws == NULL) {
        return; // shutdown: the side table is gone
    }
    SideEntry *e = side_find(ws, referent);
    if (e == NULL || pos >= e->count) {
        return;
    }
    WeakSlot *slots = slots_of(e);
    uint32_t r = basic_prefix(e);
    uint32_t hole = pos;
    if (pos < r) {
        // a basic slot: drop its flag and close the prefix
        bool has_ref = (e->flags & SIDE_BASIC_REF) != 0;
        if (pos == 0 && has_ref) {
            e->flags &= (uint8_t)~SIDE_BASIC_REF;
        } else {
            e->flags &= (uint8_t)~SIDE_BASIC_PROXY;
        }
        if (pos == 0 && r == 2) {
            slot_put(ws, slots, 0, slots[1]);
            hole = 1;
        }
    }
    uint32_t last = e->count - 1;
    if (hole != last) {
        slot_put(ws, slots, hole, slots[last]);
    }
    e->count--;
    if (e->count == 0) {
        slots_release(e);
        side_delete(ws, e);
    }
}

void weak_slot_reindex(WkVM *vm, Obj *referent, uint32_t pos, uint32_t index) {
    SideEntry *e = side_find(vm->weak, referent);
    if (e != NULL && pos < e->count) {
        slots_of(e)[pos].index = index;
    }
}

Obj *weak_basic_lookup(WkVM *vm, Obj *referent, WeakSlotKind kind) {
    SideEntry *e = side_find(vm->weak, referent);
    if (e == NULL) {
        return NULL;
    }
    if (kind == WEAK_SLOT_BASIC_REF) {
        return (e->flags & SIDE_BASIC_REF) ? slots_of(e)[0].holder : NULL;
    }
    if (kind == WEAK_SLOT_BASIC_PROXY && (e->flags & SIDE_BASIC_PROXY)) {
        return slots_of(e)[(e->flags & SIDE_BASIC_REF) ? 1 : 0].holder;
    }
    return NULL;
}

size_t weak_count(WkVM *vm, Obj *referent) {
    if (!(referent->weakly & WEAKLY_EVER)) {
        return 0;
    }
    SideEntry *e = side_find(vm->weak, referent);
    return e == NULL ? 0 : e->count;
}

static int cmp_slot_newest(const void *a, const void *b) {
    uint32_t x = ((const WeakSlot *)a)->serial, y = ((const WeakSlot *)b)->serial;
    return x < y ? 1 : x > y ? -1 : 0;
}

size_t weak_refs(WkVM *vm, Obj *referent, Obj ***out) {
    WeakState *ws = vm->weak;
    *out = NULL;
    if (!(referent->weakly & WEAKLY_EVER)) {
        return 0;
    }
    SideEntry *e = side_find(ws, referent);
    if (e == NULL) {
        return 0;
    }
    WeakSlot *slots = slots_of(e);
    uint32_t r = basic_prefix(e);
    WeakSlot *rest = xrealloc(NULL, e->count * sizeof(WeakSlot));
    size_t nrest = 0;
    for (uint32_t i = r; i < e->count; i++) {
        const WeakHolderOps *ops = ws->ops[slots[i].holder->type];
        if (ops != NULL && ops->is_ref != NULL && ops->is_ref(slots[i].holder, slots[i].index)) {
            rest[nrest++] = slots[i];
        }
    }
    qsort(rest, nrest, sizeof(WeakSlot), cmp_slot_newest);
    Obj **list = xrealloc(NULL, (r + nrest) * sizeof(Obj *));
    size_t n = 0;
    for (uint32_t i = 0; i < r; i++) {
        list[n++] = slots[i].holder;
    }
    for (size_t i = 0; i < nrest; i++) {
        list[n++] = rest[i].holder;
    }
    free(rest);
    *out = list;
    return n;
}

// ---- Roots -----------------------------------------------------------------------------------

uint32_t weak_root_add(WkVM *vm, Obj *o) {
    WeakState *ws = vm->weak;
    uint32_t h;
    if (ws->free_count > 0) {
        h = ws->free_roots[--ws->free_count];
    } else {
        grow((void **)&ws->roots, &ws->root_cap, ws->root_count + 1, sizeof(Obj *));
        h = (uint32_t)ws->root_count++;
    }
    ws->roots[h] = o;
    return h;
}

void weak_root_remove(WkVM *vm, uint32_t handle) {
    WeakState *ws = vm->weak;
    if (ws == NULL || handle >= ws->root_count || ws->roots[handle] == NULL) {
        return;
    }
    ws->roots[handle] = NULL;
    grow((void **)&ws->free_roots, &ws->free_cap, ws->free_count + 1, sizeof(uint32_t));
    ws->free_roots[ws->free_count++] = handle;
}

Obj **weak_roots(WkVM *vm, size_t *count) {
    *count = vm->weak->root_count;
    return vm->weak->roots;
}

Obj **weak_module_slot(WkVM *vm, int i) {
    return &vm->weak->module_slots[i];
}

// ---- Marking ---------------------------------------------------------------------------------

void weak_mark_roots(WkVM *vm) {
    WeakState *ws = vm->weak;
    if (ws == NULL) {
        return;
    }
    ws->eph_count = 0;
    ws->pending_count = 0;
    direct_cursor_return(ws); // what this collection frees is taken lowest first
    ws->dfree_word = 0;
    for (size_t i = ws->qhead; i < ws->qtail; i++) {
        gc_mark_object(vm, ws->queue[i].holder);
        gc_mark_value(vm, ws->queue[i].callback);
    }
    for (size_t i = 0; i < ws->root_count; i++) {
        gc_mark_object(vm, ws->roots[i]);
    }
    for (int i = 0; i < WEAK_MODULE_SLOTS; i++) {
        gc_mark_object(vm, ws->module_slots[i]);
    }
}

// ---- Ephemerons ------------------------------------------------------------------------------

void weak_trace_ephemerons(WkVM *vm, Obj *table) {
    WeakState *ws = vm->weak;
    grow((void **)&ws->eph_tables, &ws->eph_cap, ws->eph_count + 1, sizeof(Obj *));
    ws->eph_tables[ws->eph_count++] = table;
}

// The pending-list head of [key], created empty when missing.
static PendingKey *pkey_get(WeakState *ws, Obj *key) {
    uint32_t old_n = ws->pkeys != NULL ? ws->pkey_mask + 1 : 0;
    if ((ws->pkey_hashed + 1) * 2 > old_n) { // at most half full
        uint32_t n = old_n < 64 ? 64 : old_n * 2;
        PendingKey *old = ws->pkeys;
        ws->pkeys = xcalloc(n, sizeof(PendingKey));
        ws->pkey_mask = n - 1;
        for (uint32_t i = 0; i < old_n; i++) {
            if (old[i].pass == ws->pkey_pass) {
                uint32_t j = ptr_hash(old[i].key, ws->pkey_mask);
                while (ws->pkeys[j].pass == ws->pkey_pass) {
                    j = (j + 1) & ws->pkey_mask;
                }
                ws->pkeys[j] = old[i];
            }
        }
        free(old);
    }
    for (uint32_t i = ptr_hash(key, ws->pkey_mask);; i = (i + 1) & ws->pkey_mask) {
        PendingKey *p = &ws->pkeys[i];
        if (p->pass != ws->pkey_pass) {
            *p = (PendingKey){key, -1, ws->pkey_pass};
            ws->pkey_count++;
            ws->pkey_hashed++;
            return p;
        }
        if (p->key == key) {
            return p;
        }
    }
}

// After the ephemeron pass: forget every pending head (the keys still pending are dying) by
// starting a new pass number; zeroed buckets (pass 0) are never current.
static void pkeys_reset(WeakState *ws) {
    if (ws->pkey_count == 0) {
        return;
    }
    ws->pkey_count = 0;
    ws->pkey_hashed = 0;
    if (++ws->pkey_pass == 0) {
        if (ws->pkeys != NULL) {
            memset(ws->pkeys, 0, ((size_t)ws->pkey_mask + 1) * sizeof(PendingKey));
        }
        if (ws->direct_pending != NULL) {
            memset(ws->direct_pending, 0, (size_t)ws->direct_cap * sizeof(DirectPending));
        }
        ws->pkey_pass = 1;
    }
}

// One (key, value) pair of a live ephemeron table: trace the value now if the key is marked,
// else park it on the key until the key is traced.
static void eph_visit(WkVM *vm, Obj *key, Value value) {
    if (!IS_OBJ(value) || !gc_is_dying_in(&vm->gc, AS_OBJ(value))) {
        return;
    }
    if (!gc_is_dying_in(&vm->gc, key)) {
        gc_mark_value_in(&vm->gc, value);
        return;
    }
    WeakState *ws = vm->weak;
    int32_t *head;
    if (direct_kind(key) && key->aux != 0) {
        // an instance key: its pending head sits beside its side-table entry, no hashing
        DirectPending *d = &ws->direct_pending[key->aux - 1];
        if (d->pass != ws->pkey_pass) {
            *d = (DirectPending){-1, ws->pkey_pass};
            ws->pkey_count++;
        }
        head = &d->head;
    } else {
        head = &pkey_get(ws, key)->head;
    }
    grow((void **)&ws->pending, &ws->pending_cap, ws->pending_count + 1, sizeof(PendingNode));
    ws->pending[ws->pending_count] = (PendingNode){AS_OBJ(value), *head};
    *head = (int32_t)ws->pending_count++;
    key->weakly |= WEAKLY_PENDING;
}

// Trace the values parked under [*head] and empty it.
static void release_pending(WkVM *vm, int32_t *head) {
    WeakState *ws = vm->weak;
    for (int32_t n = *head; n >= 0; n = ws->pending[n].next) {
        gc_mark_in(&vm->gc, ws->pending[n].value);
    }
    *head = -1;
}

// A pending key was just marked and is being traced: trace its parked values too.
static void eph_release(WkVM *vm, Obj *key) {
    WeakState *ws = vm->weak;
    key->weakly &= (uint8_t)~WEAKLY_PENDING;
    if (ws->pkey_count == 0) {
        return;
    }
    if (direct_kind(key) && key->aux != 0) {
        DirectPending *d = &ws->direct_pending[key->aux - 1];
        if (d->pass == ws->pkey_pass) {
            release_pending(vm, &d->head);
        }
        return;
    }
    if (ws->pkeys == NULL) {
        return;
    }
    for (uint32_t i = ptr_hash(key, ws->pkey_mask); ws->pkeys[i].pass == ws->pkey_pass;
         i = (i + 1) & ws->pkey_mask) {
        PendingKey *p = &ws->pkeys[i];
        if (p->key == key) {
            release_pending(vm, &p->head);
            return;
        }
    }
}

// gc_drain, plus the ephemeron hook: an object popped from the gray stack that is a pending
// key releases its values. Returns whether anything was traced. (gc/ owns the gray stack.)
static bool eph_drain(WkVM *vm) {
    GcState *gc = &vm->gc;
    bool any = false;
    while (gc->gray_count > 0) {
        Obj *o = gc->gray[--gc->gray_count];
        if (o->weakly & WEAKLY_PENDING) {
            eph_release(vm, o);
        }
        object_trace(vm, o);
        any = true;
    }
    return any;
}

// Each live table is scanned once, each pending value is traced once when its key gets
// marked: linear in the entries. Tables reached only through ephemeron values are appended
// to eph_tables by their trace function while we drain, and scanned in a later round.
void weak_converge_ephemerons(WkVM *vm) {
    WeakState *ws = vm->weak;
    size_t scanned = 0;
    for (;;) {
        while (scanned < ws->eph_count) {
            Obj *t = ws->eph_tables[scanned++];
            const WeakHolderOps *ops = ws->ops[t->type];
            if (ops != NULL && ops->ephemerons != NULL) {
                ops->ephemerons(vm, t, eph_visit);
            }
        }
        if (!eph_drain(vm) && scanned == ws->eph_count) {
            break;
        }
    }
    // keys still pending are dying: their WEAKLY_PENDING bits go with them in the sweep
    ws->pending_count = 0;
    pkeys_reset(ws);
}

// ---- Clearing --------------------------------------------------------------------------------

static int cmp_item_newest(const void *a, const void *b) {
    uint32_t x = ((const QueueItem *)a)->serial, y = ((const QueueItem *)b)->serial;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void queue_push(WeakState *ws, QueueItem item) {
    if (ws->qtail == ws->qcap && ws->qhead > 0) {
        memmove(ws->queue, ws->queue + ws->qhead, (ws->qtail - ws->qhead) * sizeof(QueueItem));
        ws->qtail -= ws->qhead;
        ws->qhead = 0;
    }
    grow((void **)&ws->queue, &ws->qcap, ws->qtail + 1, sizeof(QueueItem));
    ws->queue[ws->qtail++] = item;
}

// The holder of [s] forgets its dying referent. Returns true with [*item] filled when a
// callback or finalizer must be queued.
static inline __attribute__((always_inline)) bool clear_slot(WkVM *vm, WeakSlot s,
                                                             QueueItem *item) {
    WeakState *ws = vm->weak;
    const WeakHolderOps *ops = ws->ops[s.holder->type];
    if (ops == NULL || ops->cleared == NULL) {
        return false;
    }
    Value cb = EMPTY_VAL;
    bool holder_dying = gc_is_dying_in(&vm->gc, s.holder);
    WeakClearAction act = ops->cleared(vm, s.holder, s.index, holder_dying, &cb);
    if (act == WEAK_CLEAR_PURGED) {
        ws->stats.entries_purged++;
    } else if (act == WEAK_CLEAR_CALLBACK || act == WEAK_CLEAR_RUN) {
        *item = (QueueItem){s.holder, act == WEAK_CLEAR_RUN ? EMPTY_VAL : cb, s.serial};
        return true;
    }
    return false;
}

// clear_object for [e] with several slots: their callbacks are batched and sorted.
static __attribute__((noinline)) void clear_many(WkVM *vm, SideEntry *e) {
    WeakState *ws = vm->weak;
    uint32_t n = e->count;
    WeakSlot *slots = slots_of(e);
    QueueItem item;
    ws->batch_count = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (clear_slot(vm, slots[i], &item)) {
            grow((void **)&ws->batch, &ws->batch_cap, ws->batch_count + 1, sizeof(QueueItem));
            ws->batch[ws->batch_count++] = item;
        }
    }
    if (ws->batch_count > 1) {
        qsort(ws->batch, ws->batch_count, sizeof(QueueItem), cmp_item_newest);
    }
    for (size_t i = 0; i < ws->batch_count; i++) {
        queue_push(ws, ws->batch[i]);
    }
    if (ws->batch_count > 0) {
        update_ready(vm);
    }
}

// Every holder of the dying [e->obj] forgets it; then its callbacks are queued newest first.
// One slot (a lone ref, a single container entry) is the common case: inline, no batch, no
// sort.
static inline __attribute__((always_inline)) void clear_object(WkVM *vm, SideEntry *e) {
    WeakState *ws = vm->weak;
    uint32_t n = e->count;
    ws->stats.slots_cleared += n;
    if (n != 1) {
        clear_many(vm, e);
        return;
    }
    QueueItem item;
    if (clear_slot(vm, slots_of(e)[0], &item)) {
        queue_push(ws, item);
        update_ready(vm);
    }
}

void weak_sweep_hints(WkVM *vm, WeakSweepHints *out) {
    out->direct = (const char *)vm->weak->direct;
}

void weak_prefetch_clear(WkVM *vm, Obj *o) {
    WeakState *ws = vm->weak;
    if (direct_kind(o)) {
        if (o->aux != 0) {
            __builtin_prefetch(&ws->direct[o->aux - 1]);
        }
        return;
    }
    __builtin_prefetch(&ws->side[ptr_hash(o, ws->side_mask)]);
}

// Queue [item] (a callback or finalizer of a single-slot referent).
static __attribute__((noinline)) void queue_one(WkVM *vm, QueueItem item) {
    queue_push(vm->weak, item);
    update_ready(vm);
}

// weak_clear_object but for its inline case: several slots, or an object in the hash table.
static __attribute__((noinline)) void clear_object_general(WkVM *vm, Obj *o) {
    WeakState *ws = vm->weak;
    if (direct_kind(o)) {
        // an instance: its entry is known without a search, and it goes back to the direct
        // array without side_delete's test of where it lives
        SideEntry *e = direct_find(ws, o);
        if (e != NULL) {
            clear_object(vm, e);
            slots_release(e);
            direct_delete(ws, e);
        }
        return;
    }
    SideEntry *e = side_find(ws, o);
    if (e == NULL) {
        return;
    }
    clear_object(vm, e);
    slots_release(e);
    side_delete(ws, e);
}

void weak_clear_object(WkVM *vm, Obj *o) {
    WeakState *ws = vm->weak;
    SideEntry *e = direct_kind(o) ? direct_find(ws, o) : NULL;
    if (e == NULL || e->count != 1 || e->cap_log != 0) {
        clear_object_general(vm, o);
        return;
    }
    // the commonest dying referent: an instance with one inline slot (a lone ref, a single
    // container entry). Its entry is freed first, so that only the slot is live across the
    // holder's hook (which never reaches the side table of its dying referent).
    WeakSlot s = e->u.one;
    ws->stats.slots_cleared++;
    e->count = 0;
    direct_delete(ws, e);
    QueueItem item;
    if (clear_slot(vm, s, &item)) {
        queue_one(vm, item);
    }
}

// ---- Running callbacks -----------------------------------------------------------------------


// "Exception ignored in: <repr of what>" and the traceback, as PyErr_WriteUnraisable prints.
static void report_unraisable(WkVM *vm, Value what) {
    Value exc = vm->exception;
    vm->exception = EMPTY_VAL;
    gc_push_root(vm, exc);
    ObjStr *r = NULL;
    FILE *err = vm->err != NULL ? vm->err : stderr;
    if (ops_repr(vm, what, &r) && r != NULL) {
        fprintf(err, "Exception ignored in: %s\n", r->chars);
    } else {
        vm->exception = EMPTY_VAL;
        fprintf(err, "Exception ignored in: <object repr() failed>\n");
    }
    exc_print(vm, exc, err);
    fflush(err);
    gc_pop_root(vm);
}

static bool run_item(WkVM *vm, QueueItem item) {
    Value holder = OBJ_VAL(item.holder);
    if (IS_EMPTY(item.callback)) {
        const WeakHolderOps *ops = vm->weak->ops[item.holder->type];
        if (ops == NULL || ops->run == NULL) {
            return true;
        }
        if (!ops->run(vm, item.holder)) {
            report_unraisable(vm, holder);
            return false;
        }
        return true;
    }
    Value result;
    Value arg = holder;
    if (!vm_call(vm, item.callback, 1, &arg, NULL, &result)) {
        report_unraisable(vm, item.callback);
        return false;
    }
    return true;
}

size_t weak_run_pending(WkVM *vm) {
    WeakState *ws = vm->weak;
    if (ws == NULL || ws->running >= RUN_NESTING_MAX) {
        return 0;
    }
    Value saved = vm->exception;
    vm->exception = EMPTY_VAL;
    gc_push_root(vm, saved);
    ws->running++;
    update_ready(vm);
    size_t ran = 0;
    while (ws->qhead < ws->qtail) {
        QueueItem item = ws->queue[ws->qhead++];
        if (ws->qhead == ws->qtail) {
            ws->qhead = ws->qtail = 0;
        }
        gc_push_root(vm, OBJ_VAL(item.holder));
        gc_push_root(vm, item.callback);
        (void)run_item(vm, item);
        gc_pop_roots(vm, 2);
        ws = vm->weak;
        ws->stats.callbacks_run++;
        ran++;
    }
    ws->running--;
    update_ready(vm);
    gc_pop_root(vm);
    vm->exception = saved;
    return ran;
}

void weak_stats(WkVM *vm, WeakStats *out) {
    WeakState *ws = vm->weak;
    *out = ws->stats;
    out->side_objects = ws->side_count;
    size_t bytes = sizeof *ws + (ws->side_mask + 1) * sizeof(SideEntry) +
                   ws->direct_cap * (sizeof(SideEntry) + sizeof(DirectPending)) + ws->direct_cap / 8 +
                   ws->qcap * sizeof(QueueItem) + ws->root_cap * sizeof(Obj *);
    for (uint32_t i = 0; i <= ws->side_mask; i++) {
        if (ws->side[i].obj != NULL && ws->side[i].cap_log > 0) {
            bytes += ((size_t)1 << ws->side[i].cap_log) * sizeof(WeakSlot);
        }
    }
    for (uint32_t i = 0; i < ws->direct_count; i++) {
        if (ws->direct[i].obj != NULL && ws->direct[i].cap_log > 0) {
            bytes += ((size_t)1 << ws->direct[i].cap_log) * sizeof(WeakSlot);
        }
    }
    out->side_bytes = bytes;
}
