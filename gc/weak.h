// Weak references as the collector sees them: the "ever weakly referenced" header bit, the
// side table from an object to its weak slots, the ephemeron pass, clearing the slots of
// dying objects, and the queue of callbacks run afterwards at the VM's safe points.
// stdlib/mod_weakref.c builds the Python types on top of this and never reads a mark bit.
#ifndef WK_GC_WEAK_H
#define WK_GC_WEAK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vm/object.h"
#include "vm/vm.h"

typedef struct WeakState WeakState;

// Bits of the Obj header's `weakly` byte (gc/weak.c only; the VM tests it for non-zero).
#define WEAKLY_EVER 0x01    // the object has been weakly referenced at least once
#define WEAKLY_PENDING 0x02 // collection-time: an unmarked ephemeron key with pending values

// Which slot of a referent's list a new slot is: the shared basic ref and basic proxy are kept
// at the front (ref first), so they are found in O(1) and listed first by getweakrefs.
typedef enum { WEAK_SLOT_OTHER, WEAK_SLOT_BASIC_REF, WEAK_SLOT_BASIC_PROXY } WeakSlotKind;

// What the clearing phase must do after a holder forgot a dying referent.
typedef enum {
    WEAK_CLEAR_NONE,     // nothing more
    WEAK_CLEAR_PURGED,   // a container entry was removed (counted in the stats)
    WEAK_CLEAR_CALLBACK, // queue callback(holder) (the callback is in *callback)
    WEAK_CLEAR_RUN,      // queue the holder's `run` hook (finalize)
} WeakClearAction;

typedef void (*WeakEphemeronVisit)(WkVM *vm, Obj *key, Value value);

// The hooks of one kind of holder (an object that owns weak slots: refs, proxies, weak
// containers, finalize objects). Registered once per ObjType by stdlib/mod_weakref.c.
typedef struct {
    // Slot [index] of [holder] now sits at position [pos] of its referent's slot list.
    // Never allocates; runs in any phase (also during the sweep).
    void (*moved)(Obj *holder, uint32_t index, uint32_t pos);
    // The referent of slot [index] of [holder] is dying ([holder_dying]: the holder too).
    // The holder forgets it (the slot is gone afterwards) and says what to queue; for
    // WEAK_CLEAR_CALLBACK it stores the callback in [*callback]. Clearing phase: must not
    // allocate GC objects nor run wk code.
    WeakClearAction (*cleared)(WkVM *vm, Obj *holder, uint32_t index, bool holder_dying,
                               Value *callback);
    // Run the finalizer [holder] queued by WEAK_CLEAR_RUN (a safe point: may allocate and
    // call wk code). False with an exception pending when it raised.
    bool (*run)(WkVM *vm, Obj *holder);
    // Ephemeron tables only (else NULL): report every live (key, value) pair to [visit].
    // Collector phase: must not allocate.
    void (*ephemerons)(WkVM *vm, Obj *holder, WeakEphemeronVisit visit);
    // True when [holder] is a ref or proxy (listed by getweakrefs); NULL: never.
    bool (*is_ref)(Obj *holder, uint32_t index);
} WeakHolderOps;

// Counters for gc.get_stats().
typedef struct {
    size_t slots_cleared;   // weak slots cleared because their referent died
    size_t entries_purged;  // weak-container entries removed by the collector
    size_t callbacks_run;   // callbacks and finalizers run
    size_t side_objects;    // objects that currently have weak slots
    size_t side_bytes;      // C memory held by the side table and the queue
} WeakStats;

// Fixed root slots stdlib/mod_weakref.c uses for its private classes.
#define WEAK_MODULE_SLOTS 8

// ---- Life cycle ------------------------------------------------------------------------------

// Create / destroy the weak bookkeeping of [vm]. weak_free_all may run before or after
// gc_free_all: holders freed after it skip their slot bookkeeping (vm->weak is NULL then).
void weak_init(WkVM *vm);
void weak_free_all(WkVM *vm);

// Register the hooks [ops] (static storage) for holders of kind [type].
void weak_register_holder(WkVM *vm, ObjType type, const WeakHolderOps *ops);

// ---- Slots (never allocate GC objects, never collect) ------------------------------------------

// Make slot [index] of [holder] weakly refer to [referent]; sets the referent's WEAKLY_EVER
// bit. Returns the slot's position in the referent's list (the holder keeps it, and the
// `moved` hook updates it). A [kind] basic slot must not exist yet (see weak_basic).
uint32_t weak_slot_add(WkVM *vm, Obj *referent, Obj *holder, uint32_t index, WeakSlotKind kind);
// Remove the slot at [pos] of [referent]'s list (its holder stops referring to it).
// Safe during the sweep (a dying referent's slots are all cleared before it is freed, so no
// holder removes a slot on a freed object) and at shutdown (the side table goes first).
void weak_slot_remove(WkVM *vm, Obj *referent, uint32_t pos);
// The slot at [pos] of [referent]'s list is now slot [index] of its holder (a container
// compacted its entries).
void weak_slot_reindex(WkVM *vm, Obj *referent, uint32_t pos, uint32_t index);
// weak_basic for a [referent] that has been weakly referenced (WEAKLY_EVER).
Obj *weak_basic_lookup(WkVM *vm, Obj *referent, WeakSlotKind kind);
// The shared basic ref or proxy of [referent] ([kind] BASIC_REF / BASIC_PROXY), or NULL. O(1).
// Inline: an object never weakly referenced (the common new ref) has none, by its header.
static inline Obj *weak_basic(WkVM *vm, Obj *referent, WeakSlotKind kind) {
    return (referent->weakly & WEAKLY_EVER) ? weak_basic_lookup(vm, referent, kind) : NULL;
}
// Number of weak slots referring to [referent] (getweakrefcount). O(1).
size_t weak_count(WkVM *vm, Obj *referent);
// The refs and proxies referring to [referent] in getweakrefs order (basic ref, basic proxy,
// then newest first) into a malloc'd array the caller frees; returns the count.
size_t weak_refs(WkVM *vm, Obj *referent, Obj ***out);

// ---- Ephemerons ------------------------------------------------------------------------------

// Called by an ephemeron table's trace function: its entries are visited by the ephemeron
// pass (values are traced only through marked keys). Marking phase; never allocates.
void weak_trace_ephemerons(WkVM *vm, Obj *table);

// ---- Strong roots owned by the weakref module -------------------------------------------------

// Keep [o] alive until weak_root_remove (live finalize objects). Returns a stable handle.
uint32_t weak_root_add(WkVM *vm, Obj *o);
void weak_root_remove(WkVM *vm, uint32_t handle);
// The current roots (NULL holes included) and their number, for finalize's exit pass.
Obj **weak_roots(WkVM *vm, size_t *count);
// Root slot [i] < WEAK_MODULE_SLOTS (private classes of stdlib/mod_weakref.c).
Obj **weak_module_slot(WkVM *vm, int i);
// A new creation serial (orders callbacks and finalizers, newest first).
uint32_t weak_next_serial(WkVM *vm);

// ---- Collector phases (gc_collect calls these, in this order) ---------------------------------

// Mark the values the weak machinery holds strongly (queued callbacks, live finalizers, the
// module's classes), as a root reporter. Also starts the weak bookkeeping of a collection.
void weak_mark_roots(WkVM *vm);
// After tracing the roots: trace ephemeron values whose keys are marked, to a fixed point,
// in time linear in the entries (a pending list per unmarked key, released when it is traced).
void weak_converge_ephemerons(WkVM *vm);
// Sweep phase: [o] is dying and was weakly referenced (its `weakly` bit is set). Clear every
// weak slot that refers to it (refs go dead, container entries are purged), queue the
// callbacks (newest first; never for a holder that dies too) and forget its side entry. The
// sweep calls this before freeing [o] and frees the weak kinds that still hold slots only after
// the whole pass, so every holder touched here is still allocated. Cost: O(k) for k slots; objects that
// stay alive cost nothing.
void weak_clear_object(WkVM *vm, Obj *o);
// Sweep phase: weak_clear_object([o]) is coming soon; start fetching what it will read. Only a
// hint (the sweep runs it a few objects ahead, so that the side-table misses overlap).
void weak_prefetch_clear(WkVM *vm, Obj *o);

// What the sweep needs to prefetch an instance's side entry without a call: the dense array
// of the entries of instances (an instance's header aux is 1 + its index there, 0 for none).
// Taken once per sweep: the array moves only when a slot is added, never in a collection.
#define WEAK_DIRECT_ENTRY_SIZE 32
typedef struct {
    const char *direct;
} WeakSweepHints;
void weak_sweep_hints(WkVM *vm, WeakSweepHints *out);

// weak_prefetch_clear, inline for instances (the common weakly referenced object).
static inline void weak_prefetch_clear_hinted(WkVM *vm, const WeakSweepHints *h, Obj *o) {
    if (o->type == OBJ_INSTANCE) {
        if (o->aux != 0) {
            __builtin_prefetch(h->direct + (size_t)(o->aux - 1) * WEAK_DIRECT_ENTRY_SIZE);
        }
        return;
    }
    weak_prefetch_clear(vm, o);
}

// ---- Callbacks -------------------------------------------------------------------------------

// Run the queued callbacks and finalizers ([vm]'s safe point; after gc.collect() and a `del`
// that collected). A callback that raises is reported as "Exception ignored in: ..." with its
// traceback on vm->err, and the rest still run. Re-entrant (a callback may collect). Returns
// the number run. May allocate and run wk code.
size_t weak_run_pending(WkVM *vm);

// True when callbacks are queued and none is running. Checked at safe points, among them every
// backward jump, so it is one load: gc/weak.c keeps the flag in step with the queue.
static inline bool weak_has_pending(WkVM *vm) {
    return vm->gc.weak_ready;
}

// The counters for gc.get_stats().
void weak_stats(WkVM *vm, WeakStats *out);

#endif
