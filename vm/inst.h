// Instances of wk classes and their attributes. A class keeps an append-only list of the
// attribute names its instances use (shared keys); an instance whose attributes are exactly a
// prefix of that list, set in that order, keeps their values inline in its own block (values
// mode). Any other shape (another order, a deletion, __dict__, too many names) moves the
// instance to a real dict for good (dict mode), so attribute order is always CPython's.
#ifndef WK_VM_INST_H
#define WK_VM_INST_H

#include "vm/config.h"
#include "vm/vm.h"

#define INST_MAX_KEYS 64 // names a class shares before new instances start in dict mode

#define INST_MIN_CAPACITY 4

static inline size_t inst_size_for(uint32_t cap) {
    return sizeof(ObjInstance) + sizeof(Value) * cap;
}
static inline void inst_init(ObjInstance *o, ObjClass *klass, uint32_t cap) {
    o->klass = klass;
    o->fields = NULL;
    o->nvalues = 0;
    o->capacity = cap;
}
// inst_new when the quick allocation is not at hand (may collect).
ObjInstance *inst_new_slow(WkVM *vm, ObjClass *klass, uint32_t cap);

// A new instance of [klass] with room for the names its class has seen (may allocate).
// Inline: the dispatch loop's constructor path takes the quick allocation without a call.
static inline ObjInstance *inst_new(WkVM *vm, ObjClass *klass) {
    // Room for exactly the names the class has seen: instances of a class whose shape has
    // settled carry no spare slots (a one-attribute instance takes 48 bytes).
    uint32_t cap = klass->nkeys > 0 ? klass->nkeys : INST_MIN_CAPACITY;
    if (klass->nkeys >= INST_MAX_KEYS) {
        cap = 0; // the class's instances no longer fit the shared layout: start in dict mode
    }
    ObjInstance *o =
        (ObjInstance *)gc_alloc_quick(&vm->gc, inst_size_for(cap), OBJ_INSTANCE);
    if (o == NULL) {
        return inst_new_slow(vm, klass, cap);
    }
    inst_init(o, klass, cap);
    return o;
}
// The slot holding attribute [name] of [o], or NULL when it has none. Never allocates.
Value *inst_get(ObjInstance *o, ObjStr *name);
// o.name = v (may allocate; [o] and [v] are rooted inside).
void inst_set(WkVM *vm, ObjInstance *o, ObjStr *name, Value v);
// del o.name: *found tells whether it was there (may allocate: switches to dict mode).
WK_NODISCARD bool inst_delete(WkVM *vm, ObjInstance *o, ObjStr *name, bool *found);
// The instance's attribute dict (o.__dict__), moving [o] to dict mode (may allocate).
ObjDict *inst_dict(WkVM *vm, ObjInstance *o);
// Mark what [o] holds; the block size of [o] (for the sweep, inline there).
void inst_trace(WkVM *vm, ObjInstance *o);
static inline size_t inst_size(const ObjInstance *o) {
    return inst_size_for(o->capacity);
}

#endif
