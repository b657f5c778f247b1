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

// A new instance of [klass] with room for the names its class has seen (may allocate).
ObjInstance *inst_new(WkVM *vm, ObjClass *klass);
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
    return sizeof(ObjInstance) + sizeof(Value) * o->capacity;
}

#endif
