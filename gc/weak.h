// Weak references as the collector sees them: the "ever weakly referenced" header bit, the
// side table from an object to its weak slots, the ephemeron pass, clearing the slots of
// dying objects, and the queue of callbacks run afterwards at the VM's safe points.
// stdlib/mod_weakref.c builds the Python types on top of this and never reads a mark bit.
#ifndef WK_GC_WEAK_H
#define WK_GC_WEAK_H

#include <stdbool.h>
#include <stddef.h>

#include "vm/object.h"

typedef struct WeakState WeakState;

// Create / destroy the weak bookkeeping of [vm].
void weak_init(WkVM *vm);
void weak_free_all(WkVM *vm);

// Mark the values the weak machinery holds strongly (pending callbacks), as a root reporter.
void weak_mark_roots(WkVM *vm);

// Collector phases, in order (gc_collect calls these):
// after tracing the roots: trace ephemeron values whose keys are marked, to a fixed point.
void weak_converge_ephemerons(WkVM *vm);
// clear the weak slots of dying objects, purge container entries, queue callbacks.
void weak_clear_dying(WkVM *vm);
// forget the side-table entries of objects about to be freed.
void weak_forget_dying(WkVM *vm);

// Run the queued callbacks and finalizers ([vm]'s safe point). A callback that raises is
// reported as "Exception ignored in: ..." and the rest still run. Returns the number run.
size_t weak_run_pending(WkVM *vm);

// True when callbacks are queued (cheap; checked by the VM at safe points).
bool weak_has_pending(WkVM *vm);

#endif
