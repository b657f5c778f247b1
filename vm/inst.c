// Instances and their attributes: shared keys on the class, values inline in the instance,
// and the switch to a dict when an instance's shape leaves that fast layout (vm/inst.h).
#include "vm/inst.h"

#include <string.h>

#include "gc/gc.h"
#include "vm/dict.h"
#include "vm/str.h"

ObjInstance *inst_new_slow(WkVM *vm, ObjClass *klass, uint32_t cap) {
    gc_push_root(vm, OBJ_VAL(klass)); // the allocation may collect
    ObjInstance *o = (ObjInstance *)gc_alloc_object(vm, inst_size_for(cap), OBJ_INSTANCE);
    gc_pop_root(vm);
    inst_init(o, klass, cap);
    return o;
}

// The index of [name] among the first [n] shared keys of [c], or -1. Keys are interned, so a
// pointer comparison settles interned names; others compare by content.
static int key_index(const ObjClass *c, uint32_t n, ObjStr *name) {
    for (uint32_t i = 0; i < n; i++) {
        if (c->keys[i] == name) {
            return (int)i;
        }
    }
    if (!name->interned) {
        for (uint32_t i = 0; i < n; i++) {
            if (str_equal(c->keys[i], name)) {
                return (int)i;
            }
        }
    }
    return -1;
}

Value *inst_get(ObjInstance *o, ObjStr *name) {
    if (o->fields != NULL) {
        return dict_get_str(o->fields, name);
    }
    int i = key_index(o->klass, o->nvalues, name);
    return i >= 0 ? &o->values[i] : NULL;
}

ObjDict *inst_dict(WkVM *vm, ObjInstance *o) {
    if (o->fields != NULL) {
        return o->fields;
    }
    gc_push_root(vm, OBJ_VAL(o));
    ObjDict *d = dict_new(vm);
    gc_push_root(vm, OBJ_VAL(d));
    for (uint32_t i = 0; i < o->nvalues; i++) {
        dict_set_str(vm, d, o->klass->keys[i], o->values[i]);
    }
    gc_pop_roots(vm, 2);
    o->fields = d;
    o->nvalues = 0;
    return d;
}

// Append [name] to [c]'s shared keys (interned), growing the array. Returns false when the
// class already shares INST_MAX_KEYS names.
static bool add_key(WkVM *vm, ObjClass *c, ObjStr *name) {
    if (c->nkeys >= INST_MAX_KEYS) {
        return false;
    }
    if (!name->interned) {
        name = str_intern(vm, name->chars, name->size);
    }
    if (c->nkeys == c->capkeys) {
        gc_push_root(vm, OBJ_VAL(name));
        uint32_t cap = c->capkeys < 8 ? 8 : c->capkeys * 2;
        c->keys = gc_realloc(vm, c->keys, sizeof(ObjStr *) * c->capkeys, sizeof(ObjStr *) * cap);
        c->capkeys = cap;
        gc_pop_root(vm);
    }
    c->keys[c->nkeys++] = name;
    return true;
}

void inst_set(WkVM *vm, ObjInstance *o, ObjStr *name, Value v) {
    if (o->fields == NULL) {
        Value *slot = inst_get(o, name);
        if (slot != NULL) {
            *slot = v;
            return;
        }
        // A new attribute stays inline only when it is the class's next key in order.
        ObjClass *c = o->klass;
        uint32_t k = o->nvalues;
        bool next = k < c->nkeys ? key_index(c, k + 1, name) == (int)k : false;
        if (!next && k == c->nkeys) {
            // A name past the class's shared keys: the class learns it even when this instance
            // has no room left, so the instances made from now on have room for it.
            gc_push_root(vm, OBJ_VAL(o));
            gc_push_root(vm, v);
            next = add_key(vm, c, name);
            gc_pop_roots(vm, 2);
        }
        if (next && k < o->capacity) {
            o->values[k] = v;
            o->nvalues = k + 1;
            return;
        }
    }
    gc_push_root(vm, v);
    ObjDict *d = inst_dict(vm, o);
    gc_push_root(vm, OBJ_VAL(d));
    dict_set_str(vm, d, name, v);
    gc_pop_roots(vm, 2);
}

bool inst_delete(WkVM *vm, ObjInstance *o, ObjStr *name, bool *found) {
    *found = inst_get(o, name) != NULL;
    if (!*found) {
        return true;
    }
    ObjDict *d = inst_dict(vm, o);
    return dict_delete(vm, d, OBJ_VAL(name), found);
}

// Marks through the collector's inline path (gc_mark_in), as vm/object.c's trace functions do.
void inst_trace(WkVM *vm, ObjInstance *o) {
    gc_mark_in(&vm->gc, (Obj *)o->klass);
    gc_mark_in(&vm->gc, (Obj *)o->fields);
    gc_mark_values_in(&vm->gc, o->values, o->nvalues);
}
