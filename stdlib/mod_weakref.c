// The weakref module's Python types, built on the slots of gc/weak.h: a ref or proxy owns one
// weak slot, a weak container one per entry, a finalize one. The collector tells a holder that
// its referent is dying through the `cleared` hook; this file never reads a mark bit and never
// frees another object. Iteration over the containers is safe while the collector purges
// entries: purged entries become tombstones that lookups and iterators skip, and the entry
// array is compacted only when no iterator is active.
#include "stdlib/mod_weakref.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "gc/weak.h"
#include "vm/attr.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/list.h"
#include "vm/num.h"
#include "vm/opcode.h"
#include "vm/ops.h"
#include "vm/str.h"

#define UNUSED __attribute__((unused))
#define NATIVE(fn)                                                                             \
    static bool fn(UNUSED WkVM *vm, UNUSED Value *args, UNUSED int argc, UNUSED ObjDict *kwargs,      \
                   UNUSED Value *result)

// ---- Layouts ---------------------------------------------------------------------------------

_Static_assert(sizeof(ObjWeakRef) <= 24, "a basic ref takes 24 bytes");

// A ref with a callback, an instance of a ref subclass, a WeakMethod, a proxy with a callback.
typedef struct {
    ObjWeakRef base;
    Value callback;   // NONE when none (and after death)
    ObjClass *klass;  // the class (refs); NULL for proxies
    ObjDict *fields;  // attributes of subclass instances, NULL until set
    Obj *func;        // WeakMethod: the function (weak, slot index 1), NULL once dead
    uint32_t func_pos;
    bool alive;       // WeakMethod: neither the object nor the function died yet
} ObjWeakRefEx;

// OBJ_WEAKDICT and OBJ_WEAKSET: header flags.
enum {
    WT_KEYS = 0x01,   // WeakKeyDictionary (ephemeron table)
    WT_VALUES = 0x02, // WeakValueDictionary
    WT_SET = 0x04,    // WeakSet
    WT_ITER = 0x08,   // an iterator over one of them (ObjWeakIter)
    WT_EXACT = 0x10,  // a container of exactly the built-in class (its klass never changes)
};

// One entry. [weak] is the weakly held object (key of a WeakKeyDictionary, value of a
// WeakValueDictionary, member of a WeakSet); NULL marks a deleted or purged entry.
typedef struct {
    Value strong;  // WKD: the value; WVD: the key; WeakSet: NONE
    Obj *weak;
    uint64_t hash; // of the key
    uint32_t slot; // position of this entry's slot in [weak]'s slot list
    uint32_t ipos; // while live: its position in the index
} WeakEntry;

// Index positions that hold no entry number. A dead entry's position is marked in the index
// itself, so a probe passes it without reading the entry (under churn a new key's probe often
// meets dead positions, whose entries are far apart in memory).
#define IX_FREE (-1) // never used since the index was built: a probe stops here
#define IX_DEAD (-2) // its entry was deleted or purged: a probe goes on, an insert may reuse it

_Static_assert(sizeof(WeakEntry) <= 48, "a weak container entry fits in 48 bytes");

typedef struct {
    Obj obj;
    ObjClass *klass;
    ObjDict *fields;
    WeakEntry *entries; // insertion order; dead entries stay until compaction
    int32_t *index;     // open addressing: a live entry's number, IX_FREE or IX_DEAD
    uint32_t used;      // entries[0..used) in use, dead ones included
    uint32_t cap;       // capacity of entries
    uint32_t live;      // live entries: len()
    uint32_t mask;      // index size - 1 (0: no index yet)
    uint32_t iterators; // active iterators: no compaction while > 0
    uint32_t version;   // explicit size changes (iterators raise RuntimeError)
    uint32_t mutations; // any change (lookups that ran __eq__ restart)
} ObjWeakTable;

enum { IT_KEYS, IT_VALUES, IT_ITEMS, IT_REFS };

// An iterator over a weak container. It holds the container strongly and is itself the
// referent of one self-slot, so the collector tells the container when an abandoned iterator
// dies (header aux: the self-slot's position).
typedef struct {
    Obj obj;
    ObjWeakTable *table; // NULL once exhausted
    uint32_t pos;
    uint32_t version;
    uint8_t what;
    bool registered;     // the self-slot exists and the table counts this iterator
} ObjWeakIter;

typedef struct {
    Obj obj;          // aux: slot position while [referent] is set
    ObjClass *klass;
    ObjDict *fields;
    Obj *referent;    // weak; NULL once dead or detached
    Value func, args, kwargs; // kwargs: a dict or NONE
    uint32_t root;    // handle in weak_root_add while alive
    uint32_t serial;  // creation order (exit order: newest first)
    bool alive, atexit;
} ObjFinalize;

// Private classes kept in weak_module_slot.
enum { SLOT_ITER_CLASS, SLOT_KEYEDREF_CLASS };

// ---- Small helpers ---------------------------------------------------------------------------

static ObjClass *module_class(WkVM *vm, int slot) {
    return (ObjClass *)*weak_module_slot(vm, slot);
}

// CPython's tp_name: "int", "C", "weakref.ReferenceType".
static const char *tp_name(WkVM *vm, Value v, char *buf, size_t size) {
    ObjClass *c = class_of(vm, v);
    if (c->builtin && c->module != NULL && strcmp(c->module->chars, "builtins") != 0) {
        snprintf(buf, size, "%s.%s", c->module->chars, c->name->chars);
        return buf;
    }
    return c->name->chars;
}

static bool weakrefable(Value v) {
    return IS_OBJ(v) && OBJ_TYPE(v) != OBJ_STR;
}

// Out of line: its message buffer would otherwise enlarge the frame of every caller (the
// lookups of the weak containers among them).
static __attribute__((noinline, cold)) bool raise_not_weakrefable(WkVM *vm, Value v) {
    char buf[128];
    return exc_raise(vm, vm->cls.TypeError, "cannot create weak reference to '%s' object",
                     tp_name(vm, v, buf, sizeof buf));
}

static inline bool check_weakrefable(WkVM *vm, Value v) {
    return weakrefable(v) || raise_not_weakrefable(vm, v);
}

static bool raise_dead(WkVM *vm) {
    return exc_raise(vm, vm->cls.ReferenceError, "weakly-referenced object no longer exists");
}

static bool kwargs_empty(ObjDict *kw) {
    return kw == NULL || kw->table.count == 0;
}

static ObjNative *native_new(WkVM *vm, const char *name, NativeFn fn, int min, int max, bool kw) {
    ObjNative *n = (ObjNative *)gc_alloc_object(vm, sizeof(ObjNative), OBJ_NATIVE);
    n->fn = fn;
    n->name = name;
    n->min_args = (int16_t)min;
    n->max_args = (int16_t)max;
    n->takes_kwargs = kw;
    n->self = EMPTY_VAL;
    return n;
}

static bool is_callable(WkVM *vm, Value v) {
    if (!IS_OBJ(v)) {
        return false;
    }
    switch (OBJ_TYPE(v)) {
    case OBJ_FUNCTION:
    case OBJ_NATIVE:
    case OBJ_BOUND_METHOD:
    case OBJ_CLASS:
        return true;
    default:
        return class_lookup(class_of(vm, v), vm->names.__call__) != NULL;
    }
}


// ---- Refs and proxies: the holder hooks --------------------------------------------------------

static inline ObjWeakRefEx *as_ex(Obj *o) {
    return (ObjWeakRefEx *)o;
}

static void ref_moved(Obj *holder, uint32_t index, uint32_t pos) {
    if (index == 1) {
        as_ex(holder)->func_pos = pos;
    } else {
        holder->aux = pos;
    }
}

static WeakClearAction ref_cleared(UNUSED WkVM *vm, Obj *holder, uint32_t index,
                                   bool holder_dying, Value *callback) {
    ObjWeakRef *r = (ObjWeakRef *)holder;
    if (index == 1) {
        as_ex(holder)->func = NULL;
    } else {
        r->referent = NULL;
    }
    if (!(holder->flags & WR_EXT)) {
        holder->flags |= OBJ_FLAG_NO_WEAK_SLOTS; // its one slot is gone: the sweep may free it
        return WEAK_CLEAR_NONE;
    }
    ObjWeakRefEx *x = as_ex(holder);
    if (r->referent == NULL && x->func == NULL) {
        holder->flags |= OBJ_FLAG_NO_WEAK_SLOTS;
    }
    if (holder->flags & WR_METHOD) {
        if (!x->alive) {
            return WEAK_CLEAR_NONE;
        }
        x->alive = false;
    }
    if (holder_dying || IS_NONE(x->callback) || IS_EMPTY(x->callback)) {
        return WEAK_CLEAR_NONE;
    }
    *callback = x->callback;
    x->callback = NONE_VAL;
    return WEAK_CLEAR_CALLBACK;
}

static bool ref_is_ref(UNUSED Obj *holder, uint32_t index) {
    return index == 0;
}

static const WeakHolderOps ref_ops = {
    .moved = ref_moved, .cleared = ref_cleared, .is_ref = ref_is_ref,
};

// ---- Refs: construction ----------------------------------------------------------------------

// The basic ref of [target] (no callback, the exact class ref): its shared one, else a new
// one in the plain layout. Inline in weakref.ref(obj)'s fast path: an object never weakly
// referenced has no shared ref (weak_basic reads that from its header), and the new ref's
// slot is its first (weak_slot_add's inline path for instances).
static inline __attribute__((always_inline)) bool make_basic_ref(WkVM *vm, Value target,
                                                                 Value *out) {
    if (!check_weakrefable(vm, target)) {
        return false;
    }
    Obj *o = AS_OBJ(target);
    Obj *shared = weak_basic(vm, o, WEAK_SLOT_BASIC_REF);
    if (shared != NULL) {
        *out = OBJ_VAL(shared);
        return true;
    }
    ObjWeakRef *r = (ObjWeakRef *)gc_alloc_quick(&vm->gc, sizeof(ObjWeakRef), OBJ_WEAKREF);
    if (r == NULL) {
        r = (ObjWeakRef *)gc_alloc_object(vm, sizeof(ObjWeakRef), OBJ_WEAKREF);
    }
    r->obj.flags = WR_BASIC | OBJ_FLAG_LEAF; // the plain layout holds nothing strongly
    r->hash = 0;
    r->referent = o;
    r->obj.aux = weak_slot_add(vm, o, &r->obj, 0, WEAK_SLOT_BASIC_REF);
    *out = OBJ_VAL(r);
    return true;
}

// A new ref or proxy to [target] ([proxy]: OBJ_PROXY) with [callback] (NONE: none) of class
// [klass] (NULL: the exact built-in class). Shares the basic one when allowed.
static bool make_ref(WkVM *vm, Value target, Value callback, ObjClass *klass, bool proxy,
                     Value *out) {
    if (!check_weakrefable(vm, target)) {
        return false;
    }
    Obj *o = AS_OBJ(target);
    bool basic = IS_NONE(callback) && klass == NULL;
    WeakSlotKind kind = !basic ? WEAK_SLOT_OTHER : proxy ? WEAK_SLOT_BASIC_PROXY
                                                         : WEAK_SLOT_BASIC_REF;
    if (basic) {
        Obj *shared = weak_basic(vm, o, kind);
        if (shared != NULL) {
            *out = OBJ_VAL(shared);
            return true;
        }
    }
    ObjType type = proxy ? OBJ_PROXY : OBJ_WEAKREF;
    ObjWeakRef *r = NULL;
    if (basic) {
        r = (ObjWeakRef *)gc_alloc_object(vm, sizeof(ObjWeakRef), type);
        r->obj.flags = WR_BASIC | OBJ_FLAG_LEAF; // the plain layout holds nothing strongly
    } else {
        r = (ObjWeakRef *)gc_alloc_object(vm, sizeof(ObjWeakRefEx), type);
        ObjWeakRefEx *x = (ObjWeakRefEx *)r;
        r->obj.flags = WR_EXT;
        x->callback = callback;
        x->klass = klass;
        x->fields = NULL;
        x->func = NULL;
        x->func_pos = 0;
        x->alive = true;
    }
    r->hash = 0;
    if (proxy && is_callable(vm, target)) {
        r->obj.flags |= WR_CALLABLE;
    }
    r->referent = o;
    r->obj.aux = weak_slot_add(vm, o, &r->obj, 0, kind);
    *out = OBJ_VAL(r);
    return true;
}

// ref(ob[, callback]). CPython's ref.__init__ rejects keywords: the exact classes check them
// here, while subclasses get them in their own __init__.
static bool ref_new(WkVM *vm, ObjClass *klass, int argc, Value *args, ObjDict *kwargs,
                    Value *out) {
    if (!kwargs_empty(kwargs) && (klass == vm->cls.ref || klass == vm->cls.weakmethod)) {
        return exc_raise(vm, vm->cls.TypeError, "ref() takes no keyword arguments");
    }
    if (argc < 1) {
        return exc_raise(vm, vm->cls.TypeError, "__new__ expected at least 1 argument, got %d",
                         argc);
    }
    if (argc > 2) {
        return exc_raise(vm, vm->cls.TypeError, "__new__ expected at most 2 arguments, got %d",
                         argc);
    }
    Value cb = argc > 1 ? args[1] : NONE_VAL;
    return make_ref(vm, args[0], cb, klass == vm->cls.ref ? NULL : klass, false, out);
}

bool mod_weakref_ref_fast(WkVM *vm, ObjClass *klass, int argc, Value *args, Value *out) {
    if (klass != vm->cls.ref || argc < 1 || argc > 2) {
        return class_call(vm, klass, argc, args, NULL, out);
    }
    // what class_call does for the exact class: ref_new, then ref_init, which accepts the
    // same one or two arguments and does nothing
    if (argc == 1) {
        return make_basic_ref(vm, args[0], out);
    }
    return make_ref(vm, args[0], argc > 1 ? args[1] : NONE_VAL, NULL, false, out);
}

static bool weakmethod_new(WkVM *vm, ObjClass *klass, int argc, Value *args, Value *out) {
    if (argc < 1 || argc > 2) {
        return exc_raise(vm, vm->cls.TypeError,
                         "WeakMethod.__new__() takes from 2 to 3 positional arguments but %d "
                         "were given",
                         argc + 1);
    }
    Value meth = args[0];
    if (!IS_KIND(meth, OBJ_BOUND_METHOD)) {
        char buf[128];
        return exc_raise(vm, vm->cls.TypeError,
                         "argument should be a bound method, not <class '%s'>",
                         tp_name(vm, meth, buf, sizeof buf));
    }
    ObjBoundMethod *bm = (ObjBoundMethod *)AS_OBJ(meth);
    if (!check_weakrefable(vm, bm->self) || !check_weakrefable(vm, bm->func)) {
        return false;
    }
    Value cb = argc > 1 ? args[1] : NONE_VAL;
    ObjWeakRefEx *x = (ObjWeakRefEx *)gc_alloc_object(vm, sizeof(ObjWeakRefEx), OBJ_WEAKREF);
    x->base.obj.flags = WR_EXT | WR_METHOD;
    x->base.hash = 0;
    x->callback = cb;
    x->klass = klass;
    x->fields = NULL;
    x->alive = true;
    x->base.referent = AS_OBJ(bm->self);
    x->func = AS_OBJ(bm->func);
    x->base.obj.aux = weak_slot_add(vm, x->base.referent, &x->base.obj, 0, WEAK_SLOT_OTHER);
    x->func_pos = weak_slot_add(vm, x->func, &x->base.obj, 1, WEAK_SLOT_OTHER);
    *out = OBJ_VAL(x);
    return true;
}

// ---- Refs: methods ---------------------------------------------------------------------------

static bool self_ref(WkVM *vm, Value self, ObjWeakRef **out) {
    if (!IS_KIND(self, OBJ_WEAKREF)) {
        return exc_raise(vm, vm->cls.TypeError, "descriptor requires a 'weakref.ReferenceType' "
                                                "object");
    }
    *out = (ObjWeakRef *)AS_OBJ(self);
    return true;
}

// ref.__init__ accepts what __new__ did (subclasses call it through super()). It does
// nothing, which lets mod_weakref_ref_fast skip it for the exact class.
NATIVE(ref_init) {
    *result = NONE_VAL;
    return true;
}

// r(): the referent or None; a WeakMethod rebuilds its bound method.
NATIVE(ref_call) {
    ObjWeakRef *r = NULL;
    if (!self_ref(vm, args[0], &r)) {
        return false;
    }
    if (argc > 1 || !kwargs_empty(kwargs)) {
        return exc_raise(vm, vm->cls.TypeError, "weakref() takes no arguments");
    }
    if (r->referent == NULL) {
        *result = NONE_VAL;
        return true;
    }
    if (!(r->obj.flags & WR_METHOD)) {
        *result = OBJ_VAL(r->referent);
        return true;
    }
    ObjWeakRefEx *x = (ObjWeakRefEx *)r;
    if (x->func == NULL || !x->alive) {
        *result = NONE_VAL;
        return true;
    }
    gc_push_root(vm, OBJ_VAL(r->referent));
    gc_push_root(vm, OBJ_VAL(x->func));
    ObjBoundMethod *bm =
        (ObjBoundMethod *)gc_alloc_object(vm, sizeof(ObjBoundMethod), OBJ_BOUND_METHOD);
    bm->self = OBJ_VAL(r->referent);
    bm->func = OBJ_VAL(x->func);
    gc_pop_roots(vm, 2);
    *result = OBJ_VAL(bm);
    return true;
}

bool mod_weakref_call_fast(WkVM *vm, Value callee, Value *out) {
    Obj *o = AS_OBJ(callee);
    if (o->type != OBJ_WEAKREF || (o->flags & WR_METHOD)) {
        return false;
    }
    if ((o->flags & WR_EXT) && as_ex(o)->klass != NULL && as_ex(o)->klass != vm->cls.ref) {
        // a subclass: fast only while it inherits ref.__call__
        Value *c = class_lookup(as_ex(o)->klass, vm->names.__call__);
        if (c == NULL || !IS_NATIVE(*c) || AS_NATIVE(*c)->fn != ref_call) {
            return false;
        }
    }
    Obj *target = ((ObjWeakRef *)o)->referent;
    *out = target != NULL ? OBJ_VAL(target) : NONE_VAL;
    return true;
}

static bool ref_hash_of(WkVM *vm, ObjWeakRef *r, uint64_t *out) {
    if (r->obj.flags & WR_HASHED) {
        *out = r->hash;
        return true;
    }
    if (r->referent == NULL) {
        return exc_raise(vm, vm->cls.TypeError, "weak object has gone away");
    }
    Value target = OBJ_VAL(r->referent);
    gc_push_root(vm, target);
    uint64_t h;
    bool ok = ops_hash(vm, target, &h);
    gc_pop_root(vm);
    if (!ok) {
        return false;
    }
    r->hash = h;
    r->obj.flags |= WR_HASHED;
    *out = h;
    return true;
}

NATIVE(ref_hash) {
    ObjWeakRef *r = NULL;
    uint64_t h = 0;
    if (!self_ref(vm, args[0], &r) || !ref_hash_of(vm, r, &h)) {
        return false;
    }
    *result = INT_VAL((int64_t)h);
    return true;
}

// Equal when both are alive and their referents are equal (WeakMethod: and the functions);
// when either is dead, only when identical.
static bool ref_equal(WkVM *vm, Value a, Value b, Value *out) {
    if (!IS_KIND(b, OBJ_WEAKREF)) {
        *out = vm->not_implemented;
        return true;
    }
    ObjWeakRef *x = (ObjWeakRef *)AS_OBJ(a), *y = (ObjWeakRef *)AS_OBJ(b);
    bool xm = (x->obj.flags & WR_METHOD) != 0, ym = (y->obj.flags & WR_METHOD) != 0;
    if (xm != ym) {
        if (xm) {
            *out = vm->not_implemented;
            return true;
        }
    }
    bool x_alive = x->referent != NULL && (!xm || ((ObjWeakRefEx *)x)->alive);
    bool y_alive = y->referent != NULL && (!ym || ((ObjWeakRefEx *)y)->alive);
    if (!x_alive || !y_alive) {
        *out = BOOL_VAL(x == y);
        return true;
    }
    Value p = OBJ_VAL(x->referent), q = OBJ_VAL(y->referent);
    gc_push_root(vm, p);
    gc_push_root(vm, q);
    bool eq;
    bool ok = ops_equal(vm, p, q, &eq);
    gc_pop_roots(vm, 2);
    if (!ok) {
        return false;
    }
    if (eq && xm && ym) {
        eq = ((ObjWeakRefEx *)x)->func == ((ObjWeakRefEx *)y)->func;
    }
    *out = BOOL_VAL(eq);
    return true;
}

NATIVE(ref_eq) {
    ObjWeakRef *r = NULL;
    if (!self_ref(vm, args[0], &r)) {
        return false;
    }
    return ref_equal(vm, args[0], args[1], result);
}

NATIVE(ref_ne) {
    ObjWeakRef *r = NULL;
    if (!self_ref(vm, args[0], &r) || !ref_equal(vm, args[0], args[1], result)) {
        return false;
    }
    if (IS_BOOL(*result)) {
        *result = BOOL_VAL(!AS_BOOL(*result));
    }
    return true;
}

// The name CPython shows after a ref's target: functions, classes, methods, generators.
static const char *target_name(Obj *o) {
    switch (o->type) {
    case OBJ_FUNCTION:
        return ((ObjFunction *)o)->name->chars;
    case OBJ_CLASS:
        return ((ObjClass *)o)->name->chars;
    case OBJ_NATIVE:
        return ((ObjNative *)o)->name;
    case OBJ_GENERATOR:
        return ((ObjGenerator *)o)->name != NULL ? ((ObjGenerator *)o)->name->chars : NULL;
    case OBJ_BOUND_METHOD: {
        Value f = ((ObjBoundMethod *)o)->func;
        if (IS_KIND(f, OBJ_FUNCTION)) {
            return AS_FUNCTION(f)->name->chars;
        }
        return IS_KIND(f, OBJ_NATIVE) ? AS_NATIVE(f)->name : NULL;
    }
    default:
        return NULL;
    }
}

NATIVE(ref_repr) {
    ObjWeakRef *r = NULL;
    if (!self_ref(vm, args[0], &r)) {
        return false;
    }
    ObjStr *s;
    if (r->referent == NULL) {
        s = str_printf(vm, "<weakref at %p; dead>", (void *)r);
    } else {
        char buf[128];
        const char *tn = tp_name(vm, OBJ_VAL(r->referent), buf, sizeof buf);
        const char *name = target_name(r->referent);
        if (name != NULL) {
            s = str_printf(vm, "<weakref at %p; to '%s' at %p (%s)>", (void *)r, tn,
                           (void *)r->referent, name);
        } else {
            s = str_printf(vm, "<weakref at %p; to '%s' at %p>", (void *)r, tn,
                           (void *)r->referent);
        }
    }
    *result = OBJ_VAL(s);
    return true;
}

NATIVE(ref_get_callback) {
    ObjWeakRef *r = NULL;
    if (!self_ref(vm, args[0], &r)) {
        return false;
    }
    *result = (r->obj.flags & WR_EXT) ? as_ex(&r->obj)->callback : NONE_VAL;
    if (IS_EMPTY(*result)) {
        *result = NONE_VAL;
    }
    return true;
}

// ---- Proxies ---------------------------------------------------------------------------------

bool mod_weakref_proxy_unwrap(WkVM *vm, Value *v) {
    if (!IS_KIND(*v, OBJ_PROXY)) {
        return true;
    }
    Obj *target = ((ObjWeakRef *)AS_OBJ(*v))->referent;
    if (target == NULL) {
        return raise_dead(vm);
    }
    *v = OBJ_VAL(target);
    return true;
}

bool mod_weakref_proxy_getattr(WkVM *vm, Value proxy, ObjStr *name, Value *out) {
    if (!mod_weakref_proxy_unwrap(vm, &proxy)) {
        return false;
    }
    if (name == vm->names.__call__ && IS_OBJ(proxy) &&
        (OBJ_TYPE(proxy) == OBJ_FUNCTION || OBJ_TYPE(proxy) == OBJ_NATIVE ||
         OBJ_TYPE(proxy) == OBJ_BOUND_METHOD || OBJ_TYPE(proxy) == OBJ_CLASS)) {
        *out = proxy; // calling it is calling the referent (the VM calls obj.__call__)
        return true;
    }
    gc_push_root(vm, proxy);
    bool ok = attr_get(vm, proxy, name, out);
    gc_pop_root(vm);
    return ok;
}

bool mod_weakref_proxy_setattr(WkVM *vm, Value proxy, ObjStr *name, Value v) {
    if (!mod_weakref_proxy_unwrap(vm, &proxy)) {
        return false;
    }
    gc_push_root(vm, proxy);
    bool ok = attr_set(vm, proxy, name, v);
    gc_pop_root(vm);
    return ok;
}

bool mod_weakref_proxy_delattr(WkVM *vm, Value proxy, ObjStr *name) {
    if (!mod_weakref_proxy_unwrap(vm, &proxy)) {
        return false;
    }
    gc_push_root(vm, proxy);
    bool ok = attr_del(vm, proxy, name);
    gc_pop_root(vm);
    return ok;
}

// The referent of the proxy args[0], pushed as a temp root (the caller pops it).
static bool proxy_target(WkVM *vm, Value self, Value *out) {
    *out = self;
    if (!mod_weakref_proxy_unwrap(vm, out)) {
        return false;
    }
    gc_push_root(vm, *out);
    return true;
}

// Binary operators unwrap both operands (as CPython's proxy does) and apply the operator;
// reflected forms swap them; in-place forms apply the in-place operator to the referent.
static bool proxy_binary(WkVM *vm, Value *args, int op, int mode, Value *result) {
    Value a = args[0], b = args[1];
    if (!mod_weakref_proxy_unwrap(vm, &a)) {
        return false;
    }
    gc_push_root(vm, a);
    if (!mod_weakref_proxy_unwrap(vm, &b)) {
        gc_pop_root(vm);
        return false;
    }
    gc_push_root(vm, b);
    bool ok;
    if (mode == 1) {
        ok = ops_binary(vm, op, b, a, result);
    } else if (mode == 2) {
        ok = ops_inplace(vm, op, a, b, result);
    } else {
        ok = ops_binary(vm, op, a, b, result);
    }
    gc_pop_roots(vm, 2);
    return ok;
}

#define PROXY_BINOPS(X)                                                                        \
    X(add, OPCODE_ADD) X(sub, OPCODE_SUB) X(mul, OPCODE_MUL) X(truediv, OPCODE_TRUEDIV)        \
    X(floordiv, OPCODE_FLOORDIV) X(mod, OPCODE_MOD) X(pow, OPCODE_POW)                         \
    X(lshift, OPCODE_LSHIFT) X(rshift, OPCODE_RSHIFT) X(and, OPCODE_BAND) X(or, OPCODE_BOR)   \
    X(xor, OPCODE_BXOR)

#define PROXY_BINOP_FNS(name, op)                                                              \
    NATIVE(proxy_##name) { return proxy_binary(vm, args, op, 0, result); }                     \
    NATIVE(proxy_r##name) { return proxy_binary(vm, args, op, 1, result); }                    \
    NATIVE(proxy_i##name) { return proxy_binary(vm, args, op, 2, result); }
PROXY_BINOPS(PROXY_BINOP_FNS)

static bool proxy_compare(WkVM *vm, Value *args, int op, Value *result) {
    Value a = args[0], b = args[1];
    if (!mod_weakref_proxy_unwrap(vm, &a)) {
        return false;
    }
    gc_push_root(vm, a);
    if (!mod_weakref_proxy_unwrap(vm, &b)) {
        gc_pop_root(vm);
        return false;
    }
    gc_push_root(vm, b);
    bool ok = ops_compare(vm, op, a, b, result);
    gc_pop_roots(vm, 2);
    return ok;
}

#define PROXY_CMPOPS(X)                                                                        \
    X(lt, OPCODE_LT) X(le, OPCODE_LE) X(eq, OPCODE_EQ) X(ne, OPCODE_NE) X(gt, OPCODE_GT)       \
    X(ge, OPCODE_GE)
#define PROXY_CMP_FN(name, op)                                                                 \
    NATIVE(proxy_##name) { return proxy_compare(vm, args, op, result); }
PROXY_CMPOPS(PROXY_CMP_FN)

static bool proxy_unary(WkVM *vm, Value *args, int op, Value *result) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    bool ok = ops_unary(vm, op, a, result);
    gc_pop_root(vm);
    return ok;
}

NATIVE(proxy_neg) { return proxy_unary(vm, args, OPCODE_NEG, result); }
NATIVE(proxy_pos) { return proxy_unary(vm, args, OPCODE_POS, result); }
NATIVE(proxy_invert) { return proxy_unary(vm, args, OPCODE_INVERT, result); }

// Call the builtin [name] (abs, int, float) on the referent.
static bool proxy_builtin(WkVM *vm, Value *args, const char *name, Value *result) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    Value *fn = dict_get_str(vm->builtins, str_from_cstr(vm, name));
    bool ok;
    if (fn == NULL) {
        ok = exc_raise(vm, vm->cls.TypeError, "no builtin %s", name);
    } else {
        Value f = *fn;
        ok = vm_call(vm, f, 1, &a, NULL, result);
    }
    gc_pop_root(vm);
    return ok;
}

NATIVE(proxy_abs) { return proxy_builtin(vm, args, "abs", result); }
NATIVE(proxy_int) { return proxy_builtin(vm, args, "int", result); }
NATIVE(proxy_float) { return proxy_builtin(vm, args, "float", result); }

NATIVE(proxy_index) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    int64_t i;
    bool ok = ops_index(vm, a, &i);
    gc_pop_root(vm);
    *result = INT_VAL(i);
    return ok;
}

NATIVE(proxy_bool) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    bool t;
    bool ok = ops_truthy(vm, a, &t);
    gc_pop_root(vm);
    *result = BOOL_VAL(t);
    return ok;
}

NATIVE(proxy_len) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    int64_t n;
    bool ok = ops_len(vm, a, &n);
    gc_pop_root(vm);
    *result = INT_VAL(n);
    return ok;
}

NATIVE(proxy_str) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    ObjStr *s;
    bool ok = ops_str(vm, a, &s);
    gc_pop_root(vm);
    if (ok) {
        *result = OBJ_VAL(s);
    }
    return ok;
}

NATIVE(proxy_repr) {
    ObjWeakRef *p = (ObjWeakRef *)AS_OBJ(args[0]);
    if (p->referent == NULL) {
        *result = OBJ_VAL(str_printf(vm, "<weakproxy at %p; dead>", (void *)p));
        return true;
    }
    char buf[128];
    const char *tn = tp_name(vm, OBJ_VAL(p->referent), buf, sizeof buf);
    *result = OBJ_VAL(
        str_printf(vm, "<weakproxy at %p to %s at %p>", (void *)p, tn, (void *)p->referent));
    return true;
}

NATIVE(proxy_hash) {
    char buf[128];
    return exc_raise(vm, vm->cls.TypeError, "unhashable type: '%s'",
                     tp_name(vm, args[0], buf, sizeof buf));
}

NATIVE(proxy_contains) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    bool in;
    bool ok = ops_contains(vm, a, args[1], &in);
    gc_pop_root(vm);
    *result = BOOL_VAL(in);
    return ok;
}

NATIVE(proxy_getitem) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    bool ok = ops_getitem(vm, a, args[1], result);
    gc_pop_root(vm);
    return ok;
}

NATIVE(proxy_setitem) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    bool ok = ops_setitem(vm, a, args[1], args[2]);
    gc_pop_root(vm);
    *result = NONE_VAL;
    return ok;
}

NATIVE(proxy_delitem) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    bool ok = ops_delitem(vm, a, args[1]);
    gc_pop_root(vm);
    *result = NONE_VAL;
    return ok;
}

NATIVE(proxy_iter) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    bool ok = ops_iter(vm, a, result);
    gc_pop_root(vm);
    return ok;
}

NATIVE(proxy_next) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    bool ok;
    if (class_lookup(class_of(vm, a), vm->names.__next__) == NULL &&
        !IS_KIND(a, OBJ_ITER) && !IS_KIND(a, OBJ_GENERATOR)) {
        char buf[128];
        ok = exc_raise(vm, vm->cls.TypeError,
                       "Weakref proxy referenced a non-iterator '%s' object",
                       tp_name(vm, a, buf, sizeof buf));
    } else {
        bool done = false;
        ok = ops_next(vm, a, result, &done);
        if (ok && done) {
            ok = exc_raise_value(vm, OBJ_VAL(vm->cls.StopIteration));
        }
    }
    gc_pop_root(vm);
    return ok;
}

NATIVE(proxy_reversed) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    bool ok = vm_call_method(vm, a, str_from_cstr(vm, "__reversed__"), 0, NULL, result);
    gc_pop_root(vm);
    return ok;
}

NATIVE(proxy_call) {
    Value a;
    if (!proxy_target(vm, args[0], &a)) {
        return false;
    }
    bool ok = vm_call(vm, a, argc - 1, args + 1, kwargs, result);
    gc_pop_root(vm);
    return ok;
}

NATIVE(proxy_getattr) {
    if (!IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError, "attribute name must be string");
    }
    return mod_weakref_proxy_getattr(vm, args[0], AS_STR(args[1]), result);
}

NATIVE(proxy_function) {
    Value cb = argc > 1 ? args[1] : NONE_VAL;
    return make_ref(vm, args[0], cb, NULL, true, result);
}

// ---- Weak tables -----------------------------------------------------------------------------

static inline ObjWeakTable *as_table(Value v) {
    return (ObjWeakTable *)AS_OBJ(v);
}

static inline Value entry_key(ObjWeakTable *t, WeakEntry *e) {
    return (t->obj.flags & WT_VALUES) ? e->strong : OBJ_VAL(e->weak);
}

// Probing as CPython's dict does: start at the hash's low bits (sequential int keys stay
// cache friendly) and perturb with its high bits, so runs of dead or sequential entries never
// turn into long linear scans.
static inline uint32_t probe_next(uint32_t i, uint64_t *perturb, uint32_t mask) {
    *perturb >>= 5;
    return (uint32_t)((i * 5u + *perturb + 1) & mask);
}

// The built-in class of a weak table with [flags]: WeakKeyDictionary, WeakValueDictionary or
// WeakSet.
static ObjClass *table_builtin_class(WkVM *vm, uint8_t flags) {
    return (flags & WT_KEYS)     ? vm->cls.weakkeydict
           : (flags & WT_VALUES) ? vm->cls.weakvaluedict
                                 : vm->cls.weakset;
}

static ObjWeakTable *table_new(WkVM *vm, ObjType type, uint8_t flags, ObjClass *klass) {
    ObjWeakTable *t = (ObjWeakTable *)gc_alloc_object(vm, sizeof(ObjWeakTable), type);
    ObjClass *exact = table_builtin_class(vm, flags);
    flags = (uint8_t)(flags & ~WT_EXACT);
    if (klass == NULL || klass == exact) {
        flags |= WT_EXACT;
    }
    t->obj.flags = flags;
    t->klass = klass;
    t->fields = NULL;
    t->entries = NULL;
    t->index = NULL;
    t->used = t->cap = t->live = t->mask = 0;
    t->iterators = t->version = t->mutations = 0;
    return t;
}

// Lists, dicts and sets are unhashable, but wk can weakly reference them: as keys of weakly
// keyed containers they hash and compare by identity.
static bool identity_keyed(Value v) {
    return IS_LIST(v) || IS_DICT(v) || (IS_SET(v) && !AS_SET(v)->frozen);
}

static bool keys_equal(WkVM *vm, Value a, Value b, bool *eq) {
    if (value_is(a, b)) {
        *eq = true;
        return true;
    }
    if (identity_keyed(a) || identity_keyed(b)) {
        *eq = false;
        return true;
    }
    if (IS_STR(a) && IS_STR(b)) {
        *eq = str_equal(AS_STR(a), AS_STR(b));
        return true;
    }
    if ((IS_INT(a) && IS_INT(b)) || (IS_OBJ(a) && IS_OBJ(b) && OBJ_TYPE(a) != OBJ_TYPE(b) &&
                                     OBJ_TYPE(a) != OBJ_INSTANCE && OBJ_TYPE(b) != OBJ_INSTANCE)) {
        *eq = false;
        return true;
    }
    return ops_equal(vm, a, b, eq);
}

// No index position (the table has no index yet, or it was rebuilt since the probe).
#define NO_SLOT UINT32_MAX

// Whether entry [n]'s key (hash equal to [key]'s) equals [key] by __eq__: *eq, or *changed
// when the comparison mutated [t] (the probe must restart). Kept out of line: the probe loop
// below stays small, and identical keys never get here.
static __attribute__((noinline)) bool entry_key_equals(WkVM *vm, ObjWeakTable *t, int32_t n,
                                                       Value key, bool *eq, bool *changed) {
    Value k = entry_key(t, &t->entries[n]);
    uint32_t stamp = t->mutations;
    gc_push_root(vm, k);
    bool ok = keys_equal(vm, k, key, eq);
    gc_pop_root(vm);
    *changed = ok && t->mutations != stamp;
    return ok;
}

// The entry number of [key] (hash [h]) or -1. When absent, *free is where an insert belongs:
// the first index position on the probe path that holds no live entry (a deleted or purged
// entry's position is reused, so churn does not lengthen the probe paths), or NO_SLOT when
// there is no index. May call __eq__ (restarts if that changed [t]).
static inline bool table_find(WkVM *vm, ObjWeakTable *t, Value key, uint64_t h, int32_t *out,
                              uint32_t *free) {
restart:
    *out = -1;
    *free = NO_SLOT;
    if (t->mask == 0) {
        return true;
    }
    uint32_t mask = t->mask;
    uint64_t perturb = h;
    for (uint32_t i = (uint32_t)h & mask;; i = probe_next(i, &perturb, mask)) {
        int32_t n = t->index[i];
        if (n < 0) {
            if (*free == NO_SLOT) {
                *free = i;
            }
            if (n == IX_FREE) {
                return true;
            }
            continue;
        }
        WeakEntry *e = &t->entries[n];
        if (e->hash != h) {
            continue;
        }
        if (value_is(entry_key(t, e), key)) {
            *out = n;
            return true;
        }
        bool eq, changed;
        if (!entry_key_equals(vm, t, n, key, &eq, &changed)) {
            return false;
        }
        if (changed) {
            goto restart;
        }
        if (eq) {
            *out = n;
            return true;
        }
    }
}

// Where a new entry of hash [h] goes in the index: the first position without a live entry.
static uint32_t index_free_slot(ObjWeakTable *t, uint64_t h) {
    uint32_t mask = t->mask;
    uint64_t perturb = h;
    uint32_t i = (uint32_t)h & mask;
    while (t->index[i] >= 0) {
        i = probe_next(i, &perturb, mask);
    }
    return i;
}

// Rebuild the index for about [new_cap] entries, compacting dead entries away when no iterator
// is active. Both arrays are resized in place (realloc) rather than allocated anew: a large
// table's arrays keep their pages, where fresh ones would be faulted in again page by page on
// every resize. For the same reason the capacity stays put when compacting leaves room enough
// (new_cap at least a quarter of it): under churn, shrinking now would only grow again soon.
// Growing comes first, since it may collect: the collector then sees [t] as it was (the old
// index still covers the entries); shrinking comes last, on the rebuilt table.
static void table_resize(WkVM *vm, ObjWeakTable *t, uint32_t new_cap) {
    bool compact = t->iterators == 0;
    uint32_t need = compact ? t->live : t->used;
    if (new_cap < need + 1) {
        new_cap = need * 2; // no compaction (an iterator is active): grow geometrically
    }
    if (compact && new_cap <= t->cap && new_cap * 4 > t->cap) {
        new_cap = t->cap;
    }
    uint32_t isize = 8;
    while (isize < new_cap * 2) {
        isize *= 2;
    }
    uint32_t old_isize = t->mask ? t->mask + 1 : 0;
    if (new_cap > t->cap) {
        t->entries = gc_realloc(vm, t->entries, (size_t)t->cap * sizeof(WeakEntry),
                                (size_t)new_cap * sizeof(WeakEntry));
        t->cap = new_cap;
    }
    if (isize > old_isize) {
        t->index = gc_realloc(vm, t->index, (size_t)old_isize * sizeof(int32_t),
                              (size_t)isize * sizeof(int32_t));
        old_isize = isize;
    }
    // no allocation until the shrinking below: [t] changes atomically for the collector
    int32_t *ix = t->index;
    memset(ix, 0xff, (size_t)isize * sizeof(int32_t)); // IX_FREE
    uint32_t n = 0;
    for (uint32_t i = 0; i < t->used; i++) {
        WeakEntry *e = &t->entries[i];
        if (e->weak == NULL) {
            n += !compact;
            continue;
        }
        if (n != i) {
            t->entries[n] = *e;
            weak_slot_reindex(vm, e->weak, e->slot, n);
            e = &t->entries[n];
        }
        uint64_t perturb = e->hash;
        uint32_t j = (uint32_t)e->hash & (isize - 1);
        while (ix[j] >= 0) {
            j = probe_next(j, &perturb, isize - 1);
        }
        ix[j] = (int32_t)n;
        e->ipos = j;
        n++;
    }
    t->used = n;
    t->mask = isize - 1;
    t->mutations++;
    if (new_cap < t->cap) {
        t->entries = gc_realloc(vm, t->entries, (size_t)t->cap * sizeof(WeakEntry),
                                (size_t)new_cap * sizeof(WeakEntry));
        t->cap = new_cap;
    }
    if (isize < old_isize) {
        t->index = gc_realloc(vm, t->index, (size_t)old_isize * sizeof(int32_t),
                              (size_t)isize * sizeof(int32_t));
    }
}

// Make room for one more entry in a full [t], where [weak] and [strong] will go (the resize
// may collect: they are kept alive meanwhile). Returns the index position for hash [h].
static __attribute__((noinline)) uint32_t table_grow(WkVM *vm, ObjWeakTable *t, Obj *weak,
                                                     Value strong, uint64_t h) {
    gc_push_root(vm, OBJ_VAL(weak));
    gc_push_root(vm, strong);
    uint32_t want = t->live * 2;
    table_resize(vm, t, want < 8 ? 8 : want);
    gc_pop_roots(vm, 2);
    return index_free_slot(t, h);
}

// Append a new entry (the key is known to be absent) and register its weak slot. [slot] is
// the index position table_find chose (NO_SLOT: probe again); it is stale after a resize.
// Inline: it is the tail of every insertion, and growing is out of line.
static inline __attribute__((always_inline)) void table_insert(WkVM *vm, ObjWeakTable *t,
                                                               Obj *weak, Value strong,
                                                               uint64_t h, uint32_t slot) {
    if (t->used == t->cap) {
        slot = table_grow(vm, t, weak, strong, h);
    } else if (slot == NO_SLOT) {
        slot = index_free_slot(t, h);
    }
    uint32_t n = t->used++;
    WeakEntry *e = &t->entries[n];
    e->strong = strong;
    e->weak = weak;
    e->hash = h;
    e->ipos = slot;
    e->slot = weak_slot_add(vm, weak, &t->obj, n, WEAK_SLOT_OTHER);
    t->index[slot] = (int32_t)n;
    t->live++;
    t->version++;
    t->mutations++;
}

// Remove entry [n] explicitly (del, pop, discard): its slot is unregistered.
static void table_remove_at(WkVM *vm, ObjWeakTable *t, int32_t n) {
    WeakEntry *e = &t->entries[n];
    if (e->weak == NULL) {
        return;
    }
    weak_slot_remove(vm, e->weak, e->slot);
    e->weak = NULL;
    e->strong = NONE_VAL;
    t->index[e->ipos] = IX_DEAD;
    t->live--;
    t->version++;
    t->mutations++;
}

static void table_clear(WkVM *vm, ObjWeakTable *t) {
    for (uint32_t i = 0; i < t->used; i++) {
        table_remove_at(vm, t, (int32_t)i);
    }
}

// ops_hash of an object without __hash__ and __eq__ (ops.c's pointer hash): weak keys that
// use it must hash as they would anywhere else, since an equal key of another type may be
// looked up with the same hash.
static inline uint64_t identity_hash(const Obj *o) {
    return ops_pointer_hash(o);
}

// The hash of a key: the object's own for weak keys (TypeError when not weakrefable).
static bool key_hash_slow(WkVM *vm, ObjWeakTable *t, Value key, uint64_t *h) {
    if (!(t->obj.flags & WT_VALUES)) {
        if (!check_weakrefable(vm, key)) {
            return false;
        }
        if (identity_keyed(key)) {
            *h = ((uint64_t)(uintptr_t)AS_OBJ(key) >> 4) * 0x9E3779B97F4A7C15ull;
            return true;
        }
    }
    return ops_hash(vm, key, h);
}

// key_hash_slow, answered inline for the common keys: instances of classes that define
// neither __hash__ nor __eq__ (what ops_hash would compute, without the dispatch), and the
// ints and strs that key a WeakValueDictionary.
static inline bool key_hash(WkVM *vm, ObjWeakTable *t, Value key, uint64_t *h) {
    if (IS_OBJ(key)) {
        Obj *o = AS_OBJ(key);
        if (o->type == OBJ_INSTANCE &&
            !(((ObjInstance *)o)->klass->dunders & (CLASS_D_HASH | CLASS_D_EQ))) {
            *h = identity_hash(o);
            return true;
        }
        if (o->type == OBJ_STR && (t->obj.flags & WT_VALUES)) {
            *h = str_hash((ObjStr *)o);
            return true;
        }
    } else if (IS_INT(key) && (t->obj.flags & WT_VALUES)) {
        *h = num_hash_int(AS_INT(key));
        return true;
    }
    return key_hash_slow(vm, t, key, h);
}

// The common key of a weakly keyed table: an instance whose class defines neither __hash__ nor
// __eq__. Such a key equals only itself unless another key of the same hash says otherwise by
// its own __eq__, so a probe compares pointers and leaves that rare case to table_find.
static inline bool identity_key(ObjWeakTable *t, Value key) {
    if (!IS_OBJ(key) || (t->obj.flags & WT_VALUES)) {
        return false;
    }
    Obj *o = AS_OBJ(key);
    return o->type == OBJ_INSTANCE &&
           !(((ObjInstance *)o)->klass->dunders & (CLASS_D_HASH | CLASS_D_EQ));
}

// table_find for an identity_key [key] of hash [h], without __eq__: false when an entry of the
// same hash is another object (only table_find may answer then); else *out and *free as there.
static inline bool table_find_identity(ObjWeakTable *t, Obj *key, uint64_t h, int32_t *out,
                                       uint32_t *free) {
    *out = -1;
    *free = NO_SLOT;
    if (t->mask == 0) {
        return true;
    }
    uint32_t mask = t->mask;
    uint64_t perturb = h;
    for (uint32_t i = (uint32_t)h & mask;; i = probe_next(i, &perturb, mask)) {
        int32_t n = t->index[i];
        if (n < 0) {
            if (*free == NO_SLOT) {
                *free = i;
            }
            if (n == IX_FREE) {
                return true;
            }
            continue;
        }
        WeakEntry *e = &t->entries[n];
        if (e->hash == h) {
            if (e->weak != key) {
                return false;
            }
            *out = n;
            return true;
        }
    }
}

// key_find's general case, out of line so that the inline fast path stays small.
static __attribute__((noinline)) bool key_find_slow(WkVM *vm, ObjWeakTable *t, Value key,
                                                    uint64_t *h, int32_t *n, uint32_t *free) {
    return key_hash(vm, t, key, h) && table_find(vm, t, key, *h, n, free);
}

// table_find for [key], whose hash it puts in *h (TypeError when unhashable or, as a weak
// key, not weakrefable). Inline, the common case only: an identity_key, found by pointer.
static inline __attribute__((always_inline)) bool key_find(WkVM *vm, ObjWeakTable *t, Value key,
                                                          uint64_t *h, int32_t *n,
                                                          uint32_t *free) {
    if (identity_key(t, key)) {
        *h = identity_hash(AS_OBJ(key));
        if (table_find_identity(t, AS_OBJ(key), *h, n, free)) {
            return true;
        }
    }
    return key_find_slow(vm, t, key, h, n, free);
}

// t[key] = value for any kind ([value] ignored by WeakSet). Replaces in place (a new slot
// when a WeakValueDictionary's value changes). One probe finds the key or its insert position.
static bool table_set(WkVM *vm, ObjWeakTable *t, Value key, Value value) {
    if ((t->obj.flags & WT_VALUES) && !check_weakrefable(vm, value)) {
        return false;
    }
    uint64_t h;
    int32_t n;
    uint32_t slot;
    if (!key_find(vm, t, key, &h, &n, &slot)) {
        return false;
    }
    if (t->obj.flags & WT_VALUES) {
        if (n >= 0) {
            WeakEntry *e = &t->entries[n];
            if (e->weak == AS_OBJ(value)) {
                return true;
            }
            weak_slot_remove(vm, e->weak, e->slot);
            e->weak = AS_OBJ(value);
            e->slot = weak_slot_add(vm, e->weak, &t->obj, (uint32_t)n, WEAK_SLOT_OTHER);
            t->mutations++;
            return true;
        }
        table_insert(vm, t, AS_OBJ(value), key, h, slot);
        return true;
    }
    if (n >= 0) {
        t->entries[n].strong = (t->obj.flags & WT_SET) ? NONE_VAL : value;
        return true;
    }
    table_insert(vm, t, AS_OBJ(key), (t->obj.flags & WT_SET) ? NONE_VAL : value, h, slot);
    return true;
}

// table_set for the item protocols (add, t[k] = v): an identity_key is found or inserted
// inline, without a call; the rest goes to table_set.
static inline __attribute__((always_inline)) bool table_set_item(WkVM *vm, ObjWeakTable *t,
                                                                 Value key, Value value) {
    int32_t n;
    uint32_t slot;
    if (identity_key(t, key)) {
        uint64_t h = identity_hash(AS_OBJ(key));
        if (table_find_identity(t, AS_OBJ(key), h, &n, &slot)) {
            Value strong = (t->obj.flags & WT_SET) ? NONE_VAL : value;
            if (n >= 0) {
                t->entries[n].strong = strong;
            } else {
                table_insert(vm, t, AS_OBJ(key), strong, h, slot);
            }
            return true;
        }
    }
    return table_set(vm, t, key, value);
}

// Look up [key]: *n is the entry or -1. Unweakrefable keys of weak-keyed tables are absent
// when [lenient] (`in`), a TypeError otherwise.
static bool table_lookup(WkVM *vm, ObjWeakTable *t, Value key, bool lenient, int32_t *n) {
    *n = -1;
    if (!(t->obj.flags & WT_VALUES) && !weakrefable(key)) {
        return lenient ? true : check_weakrefable(vm, key);
    }
    uint64_t h;
    uint32_t slot;
    return key_find(vm, t, key, &h, n, &slot);
}

// table_lookup for the item protocols (`[]`, `in`, `del`, discard): an identity_key is found
// inline, without a call.
static inline __attribute__((always_inline)) bool table_lookup_item(WkVM *vm, ObjWeakTable *t,
                                                                    Value key, bool lenient,
                                                                    int32_t *n) {
    uint32_t slot;
    if (identity_key(t, key) &&
        table_find_identity(t, AS_OBJ(key), identity_hash(AS_OBJ(key)), n, &slot)) {
        return true;
    }
    return table_lookup(vm, t, key, lenient, n);
}

// ---- Weak tables: holder hooks ---------------------------------------------------------------

static void table_moved(Obj *holder, uint32_t index, uint32_t pos) {
    if (holder->flags & WT_ITER) {
        holder->aux = pos;
        return;
    }
    ((ObjWeakTable *)holder)->entries[index].slot = pos;
}

// A dying entry referent is purged (a tombstone that lookups and iterators skip); a dying
// iterator stops counting against its table's compaction.
static WeakClearAction table_cleared(UNUSED WkVM *vm, Obj *holder, uint32_t index,
                                     bool holder_dying, UNUSED Value *callback) {
    if (holder->flags & WT_ITER) {
        ObjWeakIter *it = (ObjWeakIter *)holder;
        if (it->registered && it->table != NULL && it->table->iterators > 0) {
            it->table->iterators--;
        }
        it->registered = false;
        return WEAK_CLEAR_NONE;
    }
    ObjWeakTable *t = (ObjWeakTable *)holder;
    WeakEntry *e = &t->entries[index];
    e->weak = NULL;
    e->strong = NONE_VAL;
    t->live--;
    t->mutations++;
    if (holder_dying) {
        return WEAK_CLEAR_NONE; // freed after the sweep: its index no longer matters
    }
    t->index[e->ipos] = IX_DEAD;
    return WEAK_CLEAR_PURGED;
}

static void table_ephemerons(WkVM *vm, Obj *holder, WeakEphemeronVisit visit) {
    ObjWeakTable *t = (ObjWeakTable *)holder;
    for (uint32_t i = 0; i < t->used; i++) {
        WeakEntry *e = &t->entries[i];
        if (e->weak != NULL) {
            visit(vm, e->weak, e->strong);
        }
    }
}

static const WeakHolderOps table_ops = {
    .moved = table_moved, .cleared = table_cleared, .ephemerons = table_ephemerons,
};

// ---- Weak tables: iterators ------------------------------------------------------------------

static ObjWeakIter *iter_make(WkVM *vm, ObjWeakTable *t, uint8_t what) {
    gc_push_root(vm, OBJ_VAL(t));
    ObjWeakIter *it = (ObjWeakIter *)gc_alloc_object(vm, sizeof(ObjWeakIter), t->obj.type);
    gc_pop_root(vm);
    it->obj.flags = WT_ITER;
    it->table = t;
    it->pos = 0;
    it->version = t->version;
    it->what = what;
    it->registered = true;
    it->obj.aux = weak_slot_add(vm, &it->obj, &it->obj, 0, WEAK_SLOT_OTHER);
    t->iterators++;
    return it;
}

static void iter_finish(WkVM *vm, ObjWeakIter *it) {
    if (it->registered) {
        weak_slot_remove(vm, &it->obj, it->obj.aux);
        it->registered = false;
        if (it->table != NULL && it->table->iterators > 0) {
            it->table->iterators--;
        }
    }
    it->table = NULL;
}

// A ref object for entry [e] (keyrefs / valuerefs): the shared ref of the weak object, or a
// KeyedRef carrying the key for a WeakValueDictionary.
static bool entry_ref(WkVM *vm, ObjWeakTable *t, WeakEntry *e, Value *out) {
    if (!(t->obj.flags & WT_VALUES)) {
        return make_ref(vm, OBJ_VAL(e->weak), NONE_VAL, NULL, false, out);
    }
    Value key = e->strong;
    gc_push_root(vm, key);
    ObjClass *kr = module_class(vm, SLOT_KEYEDREF_CLASS);
    bool ok = make_ref(vm, OBJ_VAL(e->weak), NONE_VAL, kr, false, out);
    if (ok) {
        gc_push_root(vm, *out);
        ObjWeakRefEx *x = (ObjWeakRefEx *)AS_OBJ(*out);
        x->fields = dict_new(vm);
        dict_set_str(vm, x->fields, str_from_cstr(vm, "key"), key);
        gc_pop_root(vm);
    }
    gc_pop_root(vm);
    return ok;
}

// The item for entry [e] in iteration mode [what].
static bool entry_item(WkVM *vm, ObjWeakTable *t, WeakEntry *e, uint8_t what, Value *out) {
    Value key = entry_key(t, e);
    Value value = (t->obj.flags & WT_VALUES) ? OBJ_VAL(e->weak) : e->strong;
    switch (what) {
    case IT_KEYS:
        *out = key;
        return true;
    case IT_VALUES:
        *out = value;
        return true;
    case IT_ITEMS: {
        Value pair[2] = {key, value};
        *out = OBJ_VAL(tuple_from(vm, pair, 2));
        return true;
    }
    default:
        return entry_ref(vm, t, e, out);
    }
}

NATIVE(witer_iter) {
    *result = args[0];
    return true;
}

// One step of [it]: the next live entry's item in [*out], or *done at the end.
static bool iter_step(WkVM *vm, ObjWeakIter *it, Value *out, bool *done) {
    *done = false;
    ObjWeakTable *t = it->table;
    if (t == NULL) {
        *done = true;
        *out = NONE_VAL;
        return true;
    }
    if (t->version != it->version) {
        iter_finish(vm, it);
        return exc_raise(vm, vm->cls.RuntimeError, "%s changed size during iteration",
                         (t->obj.flags & WT_SET) ? "Set" : "dictionary");
    }
    while (it->pos < t->used) {
        WeakEntry *e = &t->entries[it->pos++];
        if (e->weak != NULL) {
            return entry_item(vm, t, e, it->what, out);
        }
    }
    iter_finish(vm, it);
    *done = true;
    *out = NONE_VAL;
    return true;
}

NATIVE(witer_next) {
    bool done;
    if (!iter_step(vm, (ObjWeakIter *)AS_OBJ(args[0]), result, &done)) {
        return false;
    }
    return !done || exc_raise_value(vm, OBJ_VAL(vm->cls.StopIteration));
}

// ---- Weak tables: shared methods ---------------------------------------------------------------

static bool self_table(WkVM *vm, Value self, uint8_t kinds, ObjWeakTable **out) {
    if ((IS_KIND(self, OBJ_WEAKDICT) || IS_KIND(self, OBJ_WEAKSET)) &&
        (AS_OBJ(self)->flags & kinds) && !(AS_OBJ(self)->flags & WT_ITER)) {
        *out = as_table(self);
        return true;
    }
    return exc_raise(vm, vm->cls.TypeError, "descriptor requires a weak container");
}

#define SELF(kinds)                                                                            \
    ObjWeakTable *t = NULL;                                                                    \
    if (!self_table(vm, args[0], (kinds), &t)) {                                               \
        return false;                                                                          \
    }

#define ANY_TABLE (WT_KEYS | WT_VALUES | WT_SET)
#define DICTS (WT_KEYS | WT_VALUES)

NATIVE(table_len) {
    SELF(ANY_TABLE);
    *result = INT_VAL(t->live);
    return true;
}

NATIVE(table_iter) {
    SELF(ANY_TABLE);
    *result = OBJ_VAL(iter_make(vm, t, IT_KEYS));
    return true;
}

NATIVE(table_keys) {
    SELF(DICTS);
    *result = OBJ_VAL(iter_make(vm, t, IT_KEYS));
    return true;
}

NATIVE(table_values) {
    SELF(DICTS);
    *result = OBJ_VAL(iter_make(vm, t, IT_VALUES));
    return true;
}

NATIVE(table_items) {
    SELF(DICTS);
    *result = OBJ_VAL(iter_make(vm, t, IT_ITEMS));
    return true;
}

NATIVE(table_itervaluerefs) {
    SELF(WT_VALUES);
    *result = OBJ_VAL(iter_make(vm, t, IT_REFS));
    return true;
}

// A list of the refs of the live entries (keyrefs, valuerefs).
NATIVE(table_refs) {
    SELF(DICTS);
    ObjList *l = list_new(vm, t->live);
    gc_push_root(vm, OBJ_VAL(l));
    t->iterators++;
    for (uint32_t i = 0; i < t->used; i++) {
        if (t->entries[i].weak == NULL) {
            continue;
        }
        Value r;
        if (!entry_ref(vm, t, &t->entries[i], &r)) {
            t->iterators--;
            gc_pop_root(vm);
            return false;
        }
        gc_push_root(vm, r);
        list_append(vm, l, r);
        gc_pop_root(vm);
    }
    t->iterators--;
    gc_pop_root(vm);
    *result = OBJ_VAL(l);
    return true;
}

NATIVE(table_repr) {
    SELF(ANY_TABLE);
    ObjClass *c = class_of(vm, args[0]);
    *result = OBJ_VAL(str_printf(vm, "<%s at %p>", c->name->chars, (void *)t));
    return true;
}

NATIVE(table_unhashable) {
    ObjClass *c = class_of(vm, args[0]);
    return exc_raise(vm, vm->cls.TypeError, "unhashable type: '%s'", c->name->chars);
}

// ---- Weak dictionaries -----------------------------------------------------------------------

// KeyError('[msg]').
static bool raise_key_message(WkVM *vm, const char *msg) {
    Value s = OBJ_VAL(str_from_cstr(vm, msg));
    gc_push_root(vm, s);
    bool ok = dict_raise_key_error(vm, s);
    gc_pop_root(vm);
    return ok;
}

// KeyError for a missing [key]: a weakly keyed table reports a ref to the key, as CPython's
// dict of refs does.
static bool raise_missing(WkVM *vm, ObjWeakTable *t, Value key) {
    if (t->obj.flags & WT_VALUES) {
        return dict_raise_key_error(vm, key);
    }
    Value r;
    if (!make_ref(vm, key, NONE_VAL, NULL, false, &r)) {
        return false;
    }
    return dict_raise_key_error(vm, r);
}

static bool update_pair(WkVM *vm, ObjWeakTable *t, Value k, Value v) {
    return table_set(vm, t, k, v);
}

// t.update(other, **kwargs): other is a mapping (anything dict() accepts).
static bool dict_update_from(WkVM *vm, ObjWeakTable *t, Value other, ObjDict *kw) {
    if (!IS_NONE(other) && !IS_EMPTY(other)) {
        if ((IS_KIND(other, OBJ_WEAKDICT)) && !(AS_OBJ(other)->flags & WT_ITER)) {
            ObjWeakTable *o = as_table(other);
            o->iterators++;
            for (uint32_t i = 0; i < o->used; i++) {
                WeakEntry *e = &o->entries[i];
                if (e->weak == NULL) {
                    continue;
                }
                Value k = entry_key(o, e);
                Value v = (o->obj.flags & WT_VALUES) ? OBJ_VAL(e->weak) : e->strong;
                gc_push_root(vm, k);
                gc_push_root(vm, v);
                bool ok = update_pair(vm, t, k, v);
                gc_pop_roots(vm, 2);
                if (!ok) {
                    o->iterators--;
                    return false;
                }
            }
            o->iterators--;
        } else {
            ObjDict *d = IS_DICT(other) ? AS_DICT(other) : NULL;
            if (d == NULL) {
                d = dict_new(vm);
                gc_push_root(vm, OBJ_VAL(d));
                if (!dict_update(vm, d, other)) {
                    gc_pop_root(vm);
                    return false;
                }
            } else {
                gc_push_root(vm, OBJ_VAL(d));
            }
            for (uint32_t i = 0; i < d->table.used; i++) {
                TableEntry *e = &d->table.entries[i];
                if (IS_EMPTY(e->key)) {
                    continue;
                }
                if (!update_pair(vm, t, e->key, e->value)) {
                    gc_pop_root(vm);
                    return false;
                }
            }
            gc_pop_root(vm);
        }
    }
    if (kw != NULL) {
        for (uint32_t i = 0; i < kw->table.used; i++) {
            TableEntry *e = &kw->table.entries[i];
            if (!IS_EMPTY(e->key) && !update_pair(vm, t, e->key, e->value)) {
                return false;
            }
        }
    }
    return true;
}

NATIVE(wkd_init) {
    SELF(WT_KEYS);
    if (!kwargs_empty(kwargs)) {
        return exc_raise(vm, vm->cls.TypeError,
                         "WeakKeyDictionary.__init__() got an unexpected keyword argument");
    }
    *result = NONE_VAL;
    return dict_update_from(vm, t, argc > 1 ? args[1] : NONE_VAL, NULL);
}

NATIVE(wvd_init) {
    SELF(WT_VALUES);
    *result = NONE_VAL;
    return dict_update_from(vm, t, argc > 1 ? args[1] : NONE_VAL, kwargs);
}

NATIVE(wdict_update) {
    SELF(DICTS);
    *result = NONE_VAL;
    return dict_update_from(vm, t, argc > 1 ? args[1] : NONE_VAL, kwargs);
}

// t[key] of a weak dictionary; KeyError when missing.
static bool wdict_get_item(WkVM *vm, ObjWeakTable *t, Value key, Value *out) {
    int32_t n;
    if (!table_lookup_item(vm, t, key, false, &n)) {
        return false;
    }
    if (n < 0) {
        return raise_missing(vm, t, key);
    }
    WeakEntry *e = &t->entries[n];
    *out = (t->obj.flags & WT_VALUES) ? OBJ_VAL(e->weak) : e->strong;
    return true;
}

// del t[key] of a weak dictionary; KeyError when missing.
static bool wdict_del_item(WkVM *vm, ObjWeakTable *t, Value key) {
    int32_t n;
    if (!table_lookup_item(vm, t, key, false, &n)) {
        return false;
    }
    if (n < 0) {
        return raise_missing(vm, t, key);
    }
    table_remove_at(vm, t, n);
    return true;
}

// key in t, for every kind: False for unweakrefable keys of weakly keyed tables.
static inline __attribute__((always_inline)) bool table_contains(WkVM *vm, ObjWeakTable *t,
                                                                 Value key, bool *out) {
    int32_t n;
    if (!table_lookup_item(vm, t, key, true, &n)) {
        return false;
    }
    *out = n >= 0;
    return true;
}

NATIVE(wdict_getitem) {
    SELF(DICTS);
    return wdict_get_item(vm, t, args[1], result);
}

NATIVE(wdict_setitem) {
    SELF(DICTS);
    *result = NONE_VAL;
    return table_set_item(vm, t, args[1], args[2]);
}

NATIVE(wdict_delitem) {
    SELF(DICTS);
    *result = NONE_VAL;
    return wdict_del_item(vm, t, args[1]);
}

NATIVE(wdict_contains) {
    SELF(DICTS);
    bool in = false;
    bool ok = table_contains(vm, t, args[1], &in);
    *result = BOOL_VAL(in);
    return ok;
}

NATIVE(wdict_get) {
    SELF(DICTS);
    Value dflt = argc > 2 ? args[2] : NONE_VAL;
    int32_t n;
    if (!table_lookup(vm, t, args[1], false, &n)) {
        return false;
    }
    if (n < 0) {
        *result = dflt;
        return true;
    }
    WeakEntry *e = &t->entries[n];
    *result = (t->obj.flags & WT_VALUES) ? OBJ_VAL(e->weak) : e->strong;
    return true;
}

NATIVE(wdict_pop) {
    SELF(DICTS);
    int32_t n;
    if (!table_lookup(vm, t, args[1], false, &n)) {
        return false;
    }
    if (n < 0) {
        if (argc > 2) {
            *result = args[2];
            return true;
        }
        return raise_missing(vm, t, args[1]);
    }
    WeakEntry *e = &t->entries[n];
    *result = (t->obj.flags & WT_VALUES) ? OBJ_VAL(e->weak) : e->strong;
    table_remove_at(vm, t, n);
    return true;
}

NATIVE(wdict_popitem) {
    SELF(DICTS);
    for (uint32_t i = t->used; i-- > 0;) {
        WeakEntry *e = &t->entries[i];
        if (e->weak == NULL) {
            continue;
        }
        Value pair[2] = {entry_key(t, e),
                         (t->obj.flags & WT_VALUES) ? OBJ_VAL(e->weak) : e->strong};
        ObjTuple *tup = tuple_from(vm, pair, 2);
        // tuple_from may have collected: the entry is still there (the pair was rooted by
        // being in [t] until now, and [t] is args[0])
        table_remove_at(vm, t, (int32_t)i);
        *result = OBJ_VAL(tup);
        return true;
    }
    return raise_key_message(vm, "popitem(): dictionary is empty");
}

NATIVE(wdict_setdefault) {
    SELF(DICTS);
    Value dflt = argc > 2 ? args[2] : NONE_VAL;
    int32_t n;
    if (!table_lookup(vm, t, args[1], false, &n)) {
        return false;
    }
    if (n >= 0) {
        WeakEntry *e = &t->entries[n];
        *result = (t->obj.flags & WT_VALUES) ? OBJ_VAL(e->weak) : e->strong;
        return true;
    }
    *result = dflt;
    return table_set(vm, t, args[1], dflt);
}

NATIVE(wdict_clear) {
    SELF(DICTS);
    table_clear(vm, t);
    *result = NONE_VAL;
    return true;
}

// A copy of [t]: of [t]'s own class when [same_class], else of the built-in class (as
// CPython's WeakKeyDictionary.copy and WeakValueDictionary.copy make the base class, while
// WeakSet.copy and every __deepcopy__ use self.__class__).
static bool table_copy(WkVM *vm, ObjWeakTable *t, bool same_class, Value *out) {
    ObjClass *c = same_class ? class_of(vm, OBJ_VAL(t)) : NULL;
    ObjWeakTable *n = table_new(vm, t->obj.type, t->obj.flags, c);
    gc_push_root(vm, OBJ_VAL(n));
    t->iterators++;
    bool ok = true;
    for (uint32_t i = 0; ok && i < t->used; i++) {
        WeakEntry *e = &t->entries[i];
        if (e->weak == NULL) {
            continue;
        }
        Value k = entry_key(t, e);
        Value v = (t->obj.flags & WT_VALUES) ? OBJ_VAL(e->weak) : e->strong;
        gc_push_root(vm, k);
        gc_push_root(vm, v);
        ok = table_set(vm, n, k, v);
        gc_pop_roots(vm, 2);
    }
    t->iterators--;
    gc_pop_root(vm);
    *out = OBJ_VAL(n);
    return ok;
}

NATIVE(table_copy_native) {
    SELF(ANY_TABLE);
    return table_copy(vm, t, (t->obj.flags & WT_SET) != 0, result);
}

NATIVE(table_deepcopy) {
    SELF(ANY_TABLE);
    return table_copy(vm, t, true, result);
}

static bool is_mapping(Value v) {
    return IS_DICT(v) || (IS_KIND(v, OBJ_WEAKDICT) && !(AS_OBJ(v)->flags & WT_ITER));
}

// d | other, other | d, d |= other.
NATIVE(wdict_or) {
    SELF(DICTS);
    if (!is_mapping(args[1])) {
        *result = vm->not_implemented;
        return true;
    }
    if (!table_copy(vm, t, false, result)) { // self.copy(): the built-in class
        return false;
    }
    gc_push_root(vm, *result);
    bool ok = dict_update_from(vm, as_table(*result), args[1], NULL);
    gc_pop_root(vm);
    return ok;
}

NATIVE(wdict_ror) {
    SELF(DICTS);
    if (!is_mapping(args[1])) {
        *result = vm->not_implemented;
        return true;
    }
    ObjClass *c = class_of(vm, args[0]);
    ObjWeakTable *n = table_new(vm, t->obj.type, t->obj.flags, c);
    gc_push_root(vm, OBJ_VAL(n));
    bool ok = dict_update_from(vm, n, args[1], NULL) && dict_update_from(vm, n, args[0], NULL);
    gc_pop_root(vm);
    *result = OBJ_VAL(n);
    return ok;
}

NATIVE(wdict_ior) {
    SELF(DICTS);
    if (!dict_update_from(vm, t, args[1], NULL)) {
        return false;
    }
    *result = args[0];
    return true;
}

// Mapping equality: same keys with equal values (a dict of the live items each side).
static bool table_as_dict(WkVM *vm, Value v, ObjDict **out) {
    ObjDict *d = dict_new(vm);
    gc_push_root(vm, OBJ_VAL(d));
    bool ok = dict_update(vm, d, v);
    gc_pop_root(vm);
    *out = d;
    return ok;
}

NATIVE(wdict_eq) {
    SELF(DICTS);
    if (!is_mapping(args[1])) {
        *result = vm->not_implemented;
        return true;
    }
    ObjDict *a, *b;
    if (!table_as_dict(vm, args[0], &a)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(a));
    if (!table_as_dict(vm, args[1], &b)) {
        gc_pop_root(vm);
        return false;
    }
    gc_push_root(vm, OBJ_VAL(b));
    bool eq;
    bool ok = dict_equal(vm, a, b, &eq);
    gc_pop_roots(vm, 2);
    *result = BOOL_VAL(eq);
    return ok;
}

NATIVE(wdict_ne) {
    if (!wdict_eq(vm, args, argc, kwargs, result)) {
        return false;
    }
    if (IS_BOOL(*result)) {
        *result = BOOL_VAL(!AS_BOOL(*result));
    }
    return true;
}

// ---- WeakSet ---------------------------------------------------------------------------------

static bool set_add_item(WkVM *vm, Value item, void *ctx) {
    return table_set(vm, (ObjWeakTable *)ctx, item, NONE_VAL);
}

NATIVE(wset_init) {
    SELF(WT_SET);
    *result = NONE_VAL;
    if (argc > 1 && !IS_NONE(args[1])) {
        return ops_each(vm, args[1], set_add_item, t);
    }
    return true;
}

NATIVE(wset_add) {
    SELF(WT_SET);
    *result = NONE_VAL;
    return table_set_item(vm, t, args[1], NONE_VAL);
}

NATIVE(wset_contains) {
    SELF(WT_SET);
    bool in = false;
    bool ok = table_contains(vm, t, args[1], &in);
    *result = BOOL_VAL(in);
    return ok;
}

NATIVE(wset_discard) {
    SELF(WT_SET);
    int32_t n;
    if (!table_lookup_item(vm, t, args[1], false, &n)) {
        return false;
    }
    if (n >= 0) {
        table_remove_at(vm, t, n);
    }
    *result = NONE_VAL;
    return true;
}

NATIVE(wset_remove) {
    SELF(WT_SET);
    int32_t n;
    if (!table_lookup(vm, t, args[1], false, &n)) {
        return false;
    }
    if (n < 0) {
        Value r;
        if (!make_ref(vm, args[1], NONE_VAL, NULL, false, &r)) {
            return false;
        }
        return dict_raise_key_error(vm, r);
    }
    table_remove_at(vm, t, n);
    *result = NONE_VAL;
    return true;
}

NATIVE(wset_pop) {
    SELF(WT_SET);
    for (uint32_t i = 0; i < t->used; i++) {
        WeakEntry *e = &t->entries[i];
        if (e->weak != NULL) {
            *result = OBJ_VAL(e->weak);
            table_remove_at(vm, t, (int32_t)i);
            return true;
        }
    }
    return raise_key_message(vm, "pop from empty WeakSet");
}

NATIVE(wset_clear) {
    SELF(WT_SET);
    table_clear(vm, t);
    *result = NONE_VAL;
    return true;
}

NATIVE(wset_update) {
    SELF(WT_SET);
    *result = NONE_VAL;
    for (int i = 1; i < argc; i++) {
        if (!ops_each(vm, args[i], set_add_item, t)) {
            return false;
        }
    }
    return true;
}

// A new WeakSet of [t]'s class holding the live members of [src] (NULL: empty).
static ObjWeakTable *wset_new_like(WkVM *vm, ObjWeakTable *t) {
    return table_new(vm, OBJ_WEAKSET, WT_SET, class_of(vm, OBJ_VAL(t)));
}

// Membership of [item] in [t] (False for unweakrefable items).
static bool wset_has(WkVM *vm, ObjWeakTable *t, Value item, bool *out) {
    return table_contains(vm, t, item, out);
}

// A snapshot list of the live members of [t] (stable while wk code runs).
static ObjList *wset_members(WkVM *vm, ObjWeakTable *t) {
    ObjList *l = list_new(vm, t->live);
    for (uint32_t i = 0; i < t->used; i++) {
        if (t->entries[i].weak != NULL) {
            list_append(vm, l, OBJ_VAL(t->entries[i].weak));
        }
    }
    return l;
}

// Collect [other]'s items into a snapshot list (a WeakSet gives its members).
static bool items_of(WkVM *vm, Value other, ObjList **out) {
    if (IS_KIND(other, OBJ_WEAKSET) && !(AS_OBJ(other)->flags & WT_ITER)) {
        *out = wset_members(vm, as_table(other));
        return true;
    }
    return list_from_iterable(vm, other, out);
}

typedef enum { SETOP_DIFF, SETOP_INTER, SETOP_SYMDIFF, SETOP_UNION } SetOp;

// [t] OP [other] into [dst] (which may be [t] for the in-place forms).
static bool wset_apply(WkVM *vm, ObjWeakTable *t, Value other, SetOp op, ObjWeakTable *dst) {
    ObjList *items;
    if (!items_of(vm, other, &items)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(items));
    ObjList *mine = wset_members(vm, t);
    gc_push_root(vm, OBJ_VAL(mine));
    bool ok = true;
    if (op == SETOP_UNION) {
        for (uint32_t i = 0; ok && dst != t && i < mine->count; i++) {
            ok = table_set(vm, dst, mine->items[i], NONE_VAL);
        }
        for (uint32_t i = 0; ok && i < items->count; i++) {
            ok = table_set(vm, dst, items->items[i], NONE_VAL);
        }
    } else if (op == SETOP_DIFF) {
        for (uint32_t i = 0; ok && dst != t && i < mine->count; i++) {
            ok = table_set(vm, dst, mine->items[i], NONE_VAL);
        }
        for (uint32_t i = 0; ok && i < items->count; i++) {
            int32_t n;
            ok = table_lookup(vm, dst, items->items[i], true, &n);
            if (ok && n >= 0) {
                table_remove_at(vm, dst, n);
            }
        }
    } else if (op == SETOP_INTER) {
        ObjWeakTable *keep = wset_new_like(vm, t);
        gc_push_root(vm, OBJ_VAL(keep));
        for (uint32_t i = 0; ok && i < items->count; i++) {
            bool has;
            ok = wset_has(vm, t, items->items[i], &has);
            if (ok && has) {
                ok = table_set(vm, keep, items->items[i], NONE_VAL);
            }
        }
        if (ok && dst == t) {
            for (uint32_t i = 0; ok && i < mine->count; i++) {
                bool has;
                ok = wset_has(vm, keep, mine->items[i], &has);
                int32_t n;
                if (ok && !has && table_lookup(vm, t, mine->items[i], true, &n) && n >= 0) {
                    table_remove_at(vm, t, n);
                }
            }
        } else {
            for (uint32_t i = 0; ok && i < keep->used; i++) {
                if (keep->entries[i].weak != NULL) {
                    ok = table_set(vm, dst, OBJ_VAL(keep->entries[i].weak), NONE_VAL);
                }
            }
        }
        gc_pop_root(vm);
    } else { // symmetric difference
        for (uint32_t i = 0; ok && dst != t && i < mine->count; i++) {
            ok = table_set(vm, dst, mine->items[i], NONE_VAL);
        }
        ObjWeakTable *seen = wset_new_like(vm, t);
        gc_push_root(vm, OBJ_VAL(seen));
        for (uint32_t i = 0; ok && i < items->count; i++) {
            Value x = items->items[i];
            bool dup;
            ok = wset_has(vm, seen, x, &dup);
            if (!ok || dup) {
                continue;
            }
            ok = table_set(vm, seen, x, NONE_VAL);
            int32_t n;
            if (ok) {
                ok = table_lookup(vm, dst, x, false, &n);
            }
            if (ok) {
                if (n >= 0) {
                    table_remove_at(vm, dst, n);
                } else {
                    ok = table_set(vm, dst, x, NONE_VAL);
                }
            }
        }
        gc_pop_root(vm);
    }
    gc_pop_roots(vm, 2);
    return ok;
}

static bool is_weakset(Value v) {
    return IS_KIND(v, OBJ_WEAKSET) && !(AS_OBJ(v)->flags & WT_ITER);
}

static bool is_setlike(Value v) {
    return is_weakset(v) || IS_SET(v);
}

static bool wset_binop(WkVM *vm, Value *args, SetOp op, bool inplace, bool operator_form,
                       Value *result) {
    SELF(WT_SET);
    if (operator_form && !is_setlike(args[1])) {
        *result = vm->not_implemented;
        return true;
    }
    if (inplace) {
        if (!wset_apply(vm, t, args[1], op, t)) {
            return false;
        }
        *result = operator_form ? args[0] : NONE_VAL;
        return true;
    }
    ObjWeakTable *n = wset_new_like(vm, t);
    gc_push_root(vm, OBJ_VAL(n));
    bool ok = wset_apply(vm, t, args[1], op, n);
    gc_pop_root(vm);
    *result = OBJ_VAL(n);
    return ok;
}

NATIVE(wset_union) { return wset_binop(vm, args, SETOP_UNION, false, false, result); }
NATIVE(wset_or) { return wset_binop(vm, args, SETOP_UNION, false, true, result); }
NATIVE(wset_ior) { return wset_binop(vm, args, SETOP_UNION, true, true, result); }
NATIVE(wset_difference) { return wset_binop(vm, args, SETOP_DIFF, false, false, result); }
NATIVE(wset_sub) { return wset_binop(vm, args, SETOP_DIFF, false, true, result); }
NATIVE(wset_isub) { return wset_binop(vm, args, SETOP_DIFF, true, true, result); }
NATIVE(wset_difference_update) {
    return wset_binop(vm, args, SETOP_DIFF, true, false, result);
}
NATIVE(wset_intersection) { return wset_binop(vm, args, SETOP_INTER, false, false, result); }
NATIVE(wset_and) { return wset_binop(vm, args, SETOP_INTER, false, true, result); }
NATIVE(wset_iand) { return wset_binop(vm, args, SETOP_INTER, true, true, result); }
NATIVE(wset_intersection_update) {
    return wset_binop(vm, args, SETOP_INTER, true, false, result);
}
NATIVE(wset_symmetric_difference) {
    return wset_binop(vm, args, SETOP_SYMDIFF, false, false, result);
}
NATIVE(wset_xor) { return wset_binop(vm, args, SETOP_SYMDIFF, false, true, result); }
NATIVE(wset_ixor) { return wset_binop(vm, args, SETOP_SYMDIFF, true, true, result); }
NATIVE(wset_symmetric_difference_update) {
    return wset_binop(vm, args, SETOP_SYMDIFF, true, false, result);
}

// Reflected operators: other OP self (other is a set).
static bool wset_rbinop(WkVM *vm, Value *args, SetOp op, Value *result) {
    SELF(WT_SET);
    if (!is_setlike(args[1])) {
        *result = vm->not_implemented;
        return true;
    }
    ObjWeakTable *n = wset_new_like(vm, t);
    gc_push_root(vm, OBJ_VAL(n));
    bool ok = ops_each(vm, args[1], set_add_item, n) && wset_apply(vm, n, args[0], op, n);
    gc_pop_root(vm);
    *result = OBJ_VAL(n);
    return ok;
}

NATIVE(wset_ror) { return wset_rbinop(vm, args, SETOP_UNION, result); }
NATIVE(wset_rand) { return wset_rbinop(vm, args, SETOP_INTER, result); }
NATIVE(wset_rsub) { return wset_rbinop(vm, args, SETOP_DIFF, result); }
NATIVE(wset_rxor) { return wset_rbinop(vm, args, SETOP_SYMDIFF, result); }

// Subset relations: how many of [t]'s members are in [other], and [other]'s distinct size.
static bool wset_relate(WkVM *vm, ObjWeakTable *t, Value other, bool *t_in_other,
                        bool *other_in_t, uint32_t *other_size) {
    ObjWeakTable *o = wset_new_like(vm, t);
    gc_push_root(vm, OBJ_VAL(o));
    if (!ops_each(vm, other, set_add_item, o)) {
        gc_pop_root(vm);
        return false;
    }
    *t_in_other = true;
    *other_in_t = true;
    for (uint32_t i = 0; i < t->used; i++) {
        if (t->entries[i].weak == NULL) {
            continue;
        }
        bool has;
        if (!wset_has(vm, o, OBJ_VAL(t->entries[i].weak), &has)) {
            gc_pop_root(vm);
            return false;
        }
        if (!has) {
            *t_in_other = false;
        }
    }
    for (uint32_t i = 0; i < o->used; i++) {
        if (o->entries[i].weak == NULL) {
            continue;
        }
        bool has;
        if (!wset_has(vm, t, OBJ_VAL(o->entries[i].weak), &has)) {
            gc_pop_root(vm);
            return false;
        }
        if (!has) {
            *other_in_t = false;
        }
    }
    *other_size = o->live;
    gc_pop_root(vm);
    return true;
}

enum { REL_LE, REL_LT, REL_GE, REL_GT, REL_EQ, REL_NE, REL_SUBSET, REL_SUPERSET };

static bool wset_relation(WkVM *vm, Value *args, int rel, Value *result) {
    SELF(WT_SET);
    bool operator_form = rel < REL_SUBSET;
    if (operator_form && !(rel == REL_EQ || rel == REL_NE ? is_weakset(args[1])
                                                          : is_setlike(args[1]))) {
        *result = vm->not_implemented;
        return true;
    }
    bool sub, sup;
    uint32_t osize;
    if (!wset_relate(vm, t, args[1], &sub, &sup, &osize)) {
        return false;
    }
    bool r;
    switch (rel) {
    case REL_LE:
    case REL_SUBSET:
        r = sub;
        break;
    case REL_LT:
        r = sub && !sup;
        break;
    case REL_GE:
    case REL_SUPERSET:
        r = sup;
        break;
    case REL_GT:
        r = sup && !sub;
        break;
    case REL_EQ:
        r = sub && sup;
        break;
    default:
        r = !(sub && sup);
        break;
    }
    *result = BOOL_VAL(r);
    return true;
}

NATIVE(wset_le) { return wset_relation(vm, args, REL_LE, result); }
NATIVE(wset_lt) { return wset_relation(vm, args, REL_LT, result); }
NATIVE(wset_ge) { return wset_relation(vm, args, REL_GE, result); }
NATIVE(wset_gt) { return wset_relation(vm, args, REL_GT, result); }
NATIVE(wset_eq) { return wset_relation(vm, args, REL_EQ, result); }
NATIVE(wset_ne) { return wset_relation(vm, args, REL_NE, result); }
NATIVE(wset_issubset) { return wset_relation(vm, args, REL_SUBSET, result); }
NATIVE(wset_issuperset) { return wset_relation(vm, args, REL_SUPERSET, result); }

NATIVE(wset_isdisjoint) {
    SELF(WT_SET);
    ObjList *items;
    if (!items_of(vm, args[1], &items)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(items));
    bool disjoint = true;
    for (uint32_t i = 0; disjoint && i < items->count; i++) {
        bool has;
        if (!wset_has(vm, t, items->items[i], &has)) {
            gc_pop_root(vm);
            return false;
        }
        disjoint = !has;
    }
    gc_pop_root(vm);
    *result = BOOL_VAL(disjoint);
    return true;
}

// repr(WeakSet) is CPython's repr of its set of refs: "{<weakref at ...; to 'C' at ...>}".
NATIVE(wset_repr) {
    SELF(WT_SET);
    if (t->live == 0) {
        *result = OBJ_VAL(str_from_cstr(vm, "set()"));
        return true;
    }
    StrBuf b;
    strbuf_init(&b);
    strbuf_addc(&b, '{');
    bool first = true;
    for (uint32_t i = 0; i < t->used; i++) {
        WeakEntry *e = &t->entries[i];
        if (e->weak == NULL) {
            continue;
        }
        char buf[128];
        strbuf_addf(&b, "%s<weakref at %p; to '%s' at %p>", first ? "" : ", ", (void *)e,
                    tp_name(vm, OBJ_VAL(e->weak), buf, sizeof buf), (void *)e->weak);
        first = false;
    }
    strbuf_addc(&b, '}');
    *result = OBJ_VAL(strbuf_finish(vm, &b));
    return true;
}

// ---- Fast paths for vm/ops.c ------------------------------------------------------------------

// The native that implements [op] for container [o]'s kind, with the dunder's name and cached
// class bit, as ops.c's generic dispatch would look it up.
static NativeFn item_native_fn(WkVM *vm, Obj *o, ModWeakrefItemOp op, ObjStr **name,
                               uint32_t *bit) {
    switch (op) {
    case MOD_WEAKREF_GETITEM:
        *name = vm->names.__getitem__;
        *bit = CLASS_D_GETITEM;
        return wdict_getitem;
    case MOD_WEAKREF_SETITEM:
        *name = vm->names.__setitem__;
        *bit = CLASS_D_SETITEM;
        return wdict_setitem;
    case MOD_WEAKREF_DELITEM:
        *name = vm->names.__delitem__;
        *bit = CLASS_D_DELITEM;
        return wdict_delitem;
    case MOD_WEAKREF_CONTAINS:
    default:
        *name = vm->names.__contains__;
        *bit = CLASS_D_CONTAINS;
        return (o->flags & WT_SET) ? wset_contains : wdict_contains;
    }
}

// A subclass [k] of container [o]'s class uses the native for [op] when the dunder it
// resolves is that very native, unbound: what the generic path would call with (self, ...).
static bool subclass_uses_native(WkVM *vm, Obj *o, ObjClass *k, ModWeakrefItemOp op) {
    ObjStr *name;
    uint32_t bit;
    NativeFn fn = item_native_fn(vm, o, op, &name, &bit);
    if (!(k->dunders & bit)) {
        return false;
    }
    Value *d = class_lookup_own(vm, k, name);
    return d != NULL && IS_NATIVE(*d) && AS_NATIVE(*d)->fn == fn && IS_EMPTY(AS_NATIVE(*d)->self);
}

// Built-in classes are immutable, so the exact class always resolves to its native.
bool mod_weakref_item_native(WkVM *vm, Value obj, ModWeakrefItemOp op) {
    Obj *o = AS_OBJ(obj);
    uint8_t f = o->flags;
    // WeakSet has no item access: ws[x] stays a TypeError of the generic path
    bool has = op == MOD_WEAKREF_CONTAINS || !(f & WT_SET);
    if (f & WT_EXACT) {
        return has;
    }
    if (f & WT_ITER) {
        return false;
    }
    return has && subclass_uses_native(vm, o, ((ObjWeakTable *)o)->klass, op);
}

bool mod_weakref_getitem(WkVM *vm, Value obj, Value key, Value *out) {
    return wdict_get_item(vm, as_table(obj), key, out);
}

bool mod_weakref_setitem(WkVM *vm, Value obj, Value key, Value value) {
    return table_set_item(vm, as_table(obj), key, value);
}

bool mod_weakref_delitem(WkVM *vm, Value obj, Value key) {
    return wdict_del_item(vm, as_table(obj), key);
}

bool mod_weakref_contains(WkVM *vm, Value obj, Value key, bool *out) {
    return table_contains(vm, as_table(obj), key, out); // inline: `x in ws` makes no further call
}

bool mod_weakref_is_iterator(Value v) {
    return (IS_KIND(v, OBJ_WEAKSET) || IS_KIND(v, OBJ_WEAKDICT)) && (AS_OBJ(v)->flags & WT_ITER);
}

bool mod_weakref_iter_next(WkVM *vm, Value it, Value *out, bool *done) {
    return iter_step(vm, (ObjWeakIter *)AS_OBJ(it), out, done);
}

// ---- finalize --------------------------------------------------------------------------------

static inline ObjFinalize *as_fin(Value v) {
    return (ObjFinalize *)AS_OBJ(v);
}

static void fin_moved(Obj *holder, UNUSED uint32_t index, uint32_t pos) {
    holder->aux = pos;
}

static WeakClearAction fin_cleared(UNUSED WkVM *vm, Obj *holder, UNUSED uint32_t index,
                                   UNUSED bool holder_dying, UNUSED Value *callback) {
    ObjFinalize *f = (ObjFinalize *)holder;
    f->referent = NULL;
    return f->alive ? WEAK_CLEAR_RUN : WEAK_CLEAR_NONE;
}

// Mark [f] dead and unregister it; its func, args and kwargs move to the caller.
static void fin_kill(WkVM *vm, ObjFinalize *f, Value *func, Value *fargs, Value *fkw) {
    *func = f->func;
    *fargs = f->args;
    *fkw = f->kwargs;
    f->alive = false;
    weak_root_remove(vm, f->root);
    if (f->referent != NULL) {
        weak_slot_remove(vm, f->referent, f->obj.aux);
        f->referent = NULL;
    }
    f->func = f->args = f->kwargs = NONE_VAL;
}

// If [f] is alive: mark it dead and return func(*args, **kwargs); else None.
static bool fin_call(WkVM *vm, ObjFinalize *f, Value *result) {
    *result = NONE_VAL;
    if (!f->alive) {
        return true;
    }
    Value func, fargs, fkw;
    fin_kill(vm, f, &func, &fargs, &fkw);
    gc_push_root(vm, func);
    gc_push_root(vm, fargs);
    gc_push_root(vm, fkw);
    ObjTuple *tup = AS_TUPLE(fargs);
    bool ok = vm_call(vm, func, (int)tup->count, tup->items, IS_DICT(fkw) ? AS_DICT(fkw) : NULL,
                      result);
    gc_pop_roots(vm, 3);
    return ok;
}

static bool fin_run(WkVM *vm, Obj *holder) {
    Value ignored;
    return fin_call(vm, (ObjFinalize *)holder, &ignored);
}

static const WeakHolderOps fin_ops = {
    .moved = fin_moved, .cleared = fin_cleared, .run = fin_run,
};

static bool finalize_new(WkVM *vm, ObjClass *klass, int argc, Value *args, ObjDict *kwargs,
                         Value *out) {
    if (argc < 2) {
        return exc_raise(vm, vm->cls.TypeError,
                         "finalize.__init__() missing %d required positional argument%s", 2 - argc,
                         argc == 1 ? "" : "s");
    }
    if (!check_weakrefable(vm, args[0])) {
        return false;
    }
    ObjTuple *fargs = tuple_from(vm, args + 2, (uint32_t)(argc - 2));
    gc_push_root(vm, OBJ_VAL(fargs));
    Value kw = NONE_VAL;
    if (!kwargs_empty(kwargs)) {
        kw = OBJ_VAL(dict_copy(vm, kwargs));
    }
    gc_push_root(vm, kw);
    ObjFinalize *f = (ObjFinalize *)gc_alloc_object(vm, sizeof(ObjFinalize), OBJ_FINALIZE);
    f->klass = klass;
    f->fields = NULL;
    f->func = args[1];
    f->args = OBJ_VAL(fargs);
    f->kwargs = kw;
    f->alive = true;
    f->atexit = true;
    f->serial = weak_next_serial(vm);
    f->referent = AS_OBJ(args[0]);
    f->obj.aux = weak_slot_add(vm, f->referent, &f->obj, 0, WEAK_SLOT_OTHER);
    f->root = weak_root_add(vm, &f->obj);
    gc_pop_roots(vm, 2);
    *out = OBJ_VAL(f);
    return true;
}

static bool self_fin(WkVM *vm, Value v, ObjFinalize **out) {
    if (!IS_KIND(v, OBJ_FINALIZE)) {
        return exc_raise(vm, vm->cls.TypeError, "descriptor requires a 'finalize' object");
    }
    *out = as_fin(v);
    return true;
}

NATIVE(fin_init) {
    *result = NONE_VAL;
    return true;
}

NATIVE(fin_call_native) {
    ObjFinalize *f = NULL;
    if (!self_fin(vm, args[0], &f)) {
        return false;
    }
    return fin_call(vm, f, result);
}

// (obj, func, args, kwargs) while alive, else None.
static bool fin_info(WkVM *vm, ObjFinalize *f, Value *result) {
    if (!f->alive || f->referent == NULL) {
        *result = NONE_VAL;
        return true;
    }
    Value kw = f->kwargs;
    if (!IS_DICT(kw)) {
        kw = OBJ_VAL(dict_new(vm));
    }
    gc_push_root(vm, kw);
    Value items[4] = {OBJ_VAL(f->referent), f->func, f->args, kw};
    *result = OBJ_VAL(tuple_from(vm, items, 4));
    gc_pop_root(vm);
    return true;
}

NATIVE(fin_peek) {
    ObjFinalize *f = NULL;
    if (!self_fin(vm, args[0], &f)) {
        return false;
    }
    return fin_info(vm, f, result);
}

NATIVE(fin_detach) {
    ObjFinalize *f = NULL;
    if (!self_fin(vm, args[0], &f) || !fin_info(vm, f, result)) {
        return false;
    }
    if (!IS_NONE(*result)) {
        Value func, fargs, fkw;
        fin_kill(vm, f, &func, &fargs, &fkw);
    }
    return true;
}

NATIVE(fin_alive) {
    ObjFinalize *f = NULL;
    if (!self_fin(vm, args[0], &f)) {
        return false;
    }
    *result = BOOL_VAL(f->alive);
    return true;
}

NATIVE(fin_get_atexit) {
    ObjFinalize *f = NULL;
    if (!self_fin(vm, args[0], &f)) {
        return false;
    }
    *result = BOOL_VAL(f->alive && f->atexit);
    return true;
}

NATIVE(fin_set_atexit) {
    ObjFinalize *f = NULL;
    bool truth;
    if (!self_fin(vm, args[0], &f) || !ops_truthy(vm, args[1], &truth)) {
        return false;
    }
    if (f->alive) {
        f->atexit = truth;
    }
    *result = NONE_VAL;
    return true;
}

NATIVE(fin_repr) {
    ObjFinalize *f = NULL;
    if (!self_fin(vm, args[0], &f)) {
        return false;
    }
    ObjClass *c = class_of(vm, args[0]);
    if (!f->alive || f->referent == NULL) {
        *result = OBJ_VAL(str_printf(vm, "<%s object at %p; dead>", c->name->chars, (void *)f));
    } else {
        ObjClass *oc = class_of(vm, OBJ_VAL(f->referent));
        *result = OBJ_VAL(str_printf(vm, "<%s object at %p; for '%s' at %p>", c->name->chars,
                                     (void *)f, oc->name->chars, (void *)f->referent));
    }
    return true;
}

static int cmp_fin_newest(const void *a, const void *b) {
    uint32_t x = (*(ObjFinalize *const *)a)->serial, y = (*(ObjFinalize *const *)b)->serial;
    return x < y ? 1 : x > y ? -1 : 0;
}

// One exit pass: the live atexit finalizers, newest first, kept alive in a rooted list.
// Returns how many ran.
static size_t atexit_pass(WkVM *vm) {
    size_t n;
    Obj **roots = weak_roots(vm, &n);
    size_t count = 0;
    ObjFinalize **sel = malloc((n ? n : 1) * sizeof *sel);
    for (size_t i = 0; i < n; i++) {
        if (roots[i] != NULL && roots[i]->type == OBJ_FINALIZE) {
            ObjFinalize *f = (ObjFinalize *)roots[i];
            if (f->alive && f->atexit) {
                sel[count++] = f;
            }
        }
    }
    qsort(sel, count, sizeof *sel, cmp_fin_newest);
    ObjList *keep = list_new(vm, (uint32_t)count);
    gc_push_root(vm, OBJ_VAL(keep));
    for (size_t i = 0; i < count; i++) {
        list_append(vm, keep, OBJ_VAL(sel[i]));
    }
    free(sel);
    size_t ran = 0;
    for (uint32_t i = 0; i < keep->count; i++) {
        ObjFinalize *f = as_fin(keep->items[i]);
        if (!f->alive || !f->atexit) {
            continue;
        }
        Value ignored;
        if (!fin_call(vm, f, &ignored)) {
            Value exc = vm->exception;
            vm->exception = EMPTY_VAL;
            exc_print(vm, exc, vm->err != NULL ? vm->err : stderr);
        }
        ran++;
    }
    gc_pop_root(vm);
    return ran;
}

void mod_weakref_run_atexit(WkVM *vm) {
    if (vm->weak == NULL) {
        return;
    }
    gc_collect(vm);
    weak_run_pending(vm);
    for (int rounds = 0; rounds < 100 && atexit_pass(vm) > 0; rounds++) {
        weak_run_pending(vm);
    }
    weak_run_pending(vm);
}

// ---- Module functions ------------------------------------------------------------------------

NATIVE(getweakrefcount) {
    Value v = args[0];
    *result = INT_VAL(weakrefable(v) ? (int64_t)weak_count(vm, AS_OBJ(v)) : 0);
    return true;
}

NATIVE(getweakrefs) {
    Value v = args[0];
    ObjList *l;
    if (!weakrefable(v)) {
        *result = OBJ_VAL(list_new(vm, 0));
        return true;
    }
    Obj **refs;
    size_t n = weak_refs(vm, AS_OBJ(v), &refs);
    l = list_new(vm, (uint32_t)n);
    // refs are alive (reachable from the caller or not yet collected); no collection can
    // happen between list_new's growth and the appends below once capacity is reserved
    for (size_t i = 0; i < n; i++) {
        list_append(vm, l, OBJ_VAL(refs[i]));
    }
    free(refs);
    *result = OBJ_VAL(l);
    return true;
}

// ---- Kind dispatch (vm/object.c, vm/class.c, vm/attr.c) ----------------------------------------

void mod_weakref_trace(WkVM *vm, Obj *o) {
    switch (o->type) {
    case OBJ_WEAKREF:
    case OBJ_PROXY:
        if (o->flags & WR_EXT) {
            ObjWeakRefEx *x = as_ex(o);
            gc_mark_value(vm, x->callback);
            gc_mark_object(vm, (Obj *)x->klass);
            gc_mark_object(vm, (Obj *)x->fields);
        }
        break;
    case OBJ_WEAKDICT:
    case OBJ_WEAKSET: {
        if (o->flags & WT_ITER) {
            gc_mark_object(vm, (Obj *)((ObjWeakIter *)o)->table);
            break;
        }
        ObjWeakTable *t = (ObjWeakTable *)o;
        gc_mark_object(vm, (Obj *)t->klass);
        gc_mark_object(vm, (Obj *)t->fields);
        if (o->flags & WT_VALUES) {
            for (uint32_t i = 0; i < t->used; i++) {
                if (t->entries[i].weak != NULL) {
                    gc_mark_value(vm, t->entries[i].strong);
                }
            }
        } else if (o->flags & WT_KEYS) {
            weak_trace_ephemerons(vm, o);
        }
        break;
    }
    case OBJ_FINALIZE: {
        ObjFinalize *f = (ObjFinalize *)o;
        gc_mark_object(vm, (Obj *)f->klass);
        gc_mark_object(vm, (Obj *)f->fields);
        gc_mark_value(vm, f->func);
        gc_mark_value(vm, f->args);
        gc_mark_value(vm, f->kwargs);
        break;
    }
    default:
        break;
    }
}

// mod_weakref_free for the containers, their iterators and finalize objects: out of line,
// so that freeing a ref (the common case) saves no registers.
static __attribute__((noinline)) size_t free_holder(WkVM *vm, Obj *o) {
    switch (o->type) {
    case OBJ_WEAKDICT:
    case OBJ_WEAKSET: {
        if (o->flags & WT_ITER) {
            if (((ObjWeakIter *)o)->registered) {
                weak_slot_remove(vm, o, o->aux);
            }
            return sizeof(ObjWeakIter);
        }
        ObjWeakTable *t = (ObjWeakTable *)o;
        for (uint32_t i = 0; i < t->used; i++) {
            if (t->entries[i].weak != NULL) {
                weak_slot_remove(vm, t->entries[i].weak, t->entries[i].slot);
            }
        }
        gc_free(vm, t->entries, (size_t)t->cap * sizeof(WeakEntry));
        gc_free(vm, t->index, (size_t)(t->mask ? t->mask + 1 : 0) * sizeof(int32_t));
        return sizeof(ObjWeakTable);
    }
    case OBJ_FINALIZE: {
        ObjFinalize *f = (ObjFinalize *)o;
        if (f->referent != NULL) {
            weak_slot_remove(vm, f->referent, o->aux);
        }
        if (f->alive) {
            weak_root_remove(vm, f->root);
        }
        return sizeof(ObjFinalize);
    }
    default:
        return 0;
    }
}

// A ref or proxy in the extended layout: its slots, on the referent and on a WeakMethod's
// function.
static __attribute__((noinline)) size_t free_ref_ex(WkVM *vm, Obj *o) {
    ObjWeakRefEx *x = as_ex(o);
    if (x->base.referent != NULL) {
        weak_slot_remove(vm, x->base.referent, o->aux);
    }
    if (x->func != NULL) {
        weak_slot_remove(vm, x->func, x->func_pos);
    }
    return sizeof(ObjWeakRefEx);
}

size_t mod_weakref_free(WkVM *vm, Obj *o) {
    if (o->type != OBJ_WEAKREF && o->type != OBJ_PROXY) {
        return free_holder(vm, o);
    }
    if (o->flags & WR_EXT) {
        return free_ref_ex(vm, o);
    }
    // a plain ref: a dead one (its referent died first, the common case in the sweep) has
    // no slot left to remove
    ObjWeakRef *r = (ObjWeakRef *)o;
    if (r->referent != NULL) {
        weak_slot_remove(vm, r->referent, o->aux);
    }
    return sizeof(ObjWeakRef);
}

ObjClass *mod_weakref_class_of(WkVM *vm, Obj *o) {
    switch (o->type) {
    case OBJ_WEAKREF:
        if ((o->flags & WR_EXT) && as_ex(o)->klass != NULL) {
            return as_ex(o)->klass;
        }
        return (o->flags & WR_METHOD) ? vm->cls.weakmethod : vm->cls.ref;
    case OBJ_PROXY:
        return (o->flags & WR_CALLABLE) ? vm->cls.callable_proxy : vm->cls.proxy;
    case OBJ_WEAKDICT:
    case OBJ_WEAKSET:
        if (o->flags & WT_ITER) {
            return module_class(vm, SLOT_ITER_CLASS);
        }
        if (((ObjWeakTable *)o)->klass != NULL) {
            return ((ObjWeakTable *)o)->klass;
        }
        return table_builtin_class(vm, o->flags);
    case OBJ_FINALIZE:
        return ((ObjFinalize *)o)->klass != NULL ? ((ObjFinalize *)o)->klass : vm->cls.finalize;
    default:
        return vm->cls.object;
    }
}

ObjClass *mod_weakref_plain_table_class(WkVM *vm, Obj *o) {
    if (o->flags & WT_ITER) {
        return NULL;
    }
    ObjWeakTable *t = (ObjWeakTable *)o;
    if (t->fields != NULL) {
        return NULL;
    }
    if (t->klass != NULL) {
        return t->klass;
    }
    return table_builtin_class(vm, o->flags);
}

ObjDict **mod_weakref_fields(Obj *o) {
    switch (o->type) {
    case OBJ_WEAKREF:
        if ((o->flags & WR_EXT) && as_ex(o)->klass != NULL) {
            ObjClass *k = as_ex(o)->klass;
            // the built-in classes themselves (ref, WeakMethod) have no instance dict
            if (!k->builtin) {
                return &as_ex(o)->fields;
            }
            return as_ex(o)->fields != NULL ? &as_ex(o)->fields : NULL;
        }
        return NULL;
    case OBJ_WEAKDICT:
    case OBJ_WEAKSET:
        return (o->flags & WT_ITER) ? NULL : &((ObjWeakTable *)o)->fields;
    case OBJ_FINALIZE: {
        ObjFinalize *f = (ObjFinalize *)o;
        return (f->klass != NULL && !f->klass->builtin) ? &f->fields : NULL;
    }
    default:
        return NULL;
    }
}

bool mod_weakref_new_instance(WkVM *vm, ObjClass *klass, int argc, Value *args,
                              ObjDict *kwargs, Value *out) {
    switch (klass->instance_kind) {
    case OBJ_WEAKREF:
        if (vm->cls.weakmethod != NULL && class_is_subclass(klass, vm->cls.weakmethod)) {
            if (!kwargs_empty(kwargs) && klass == vm->cls.weakmethod) {
                return exc_raise(vm, vm->cls.TypeError, "ref() takes no keyword arguments");
            }
            return weakmethod_new(vm, klass, argc, args, out);
        }
        return ref_new(vm, klass, argc, args, kwargs, out);
    case OBJ_PROXY: {
        char name[64];
        snprintf(name, sizeof name, "weakref.%s", klass->name->chars);
        return exc_raise(vm, vm->cls.TypeError, "cannot create '%s' instances", name);
    }
    case OBJ_WEAKDICT: {
        bool keys = vm->cls.weakkeydict != NULL && class_is_subclass(klass, vm->cls.weakkeydict);
        *out = OBJ_VAL(table_new(vm, OBJ_WEAKDICT, keys ? WT_KEYS : WT_VALUES, klass));
        return true;
    }
    case OBJ_WEAKSET:
        *out = OBJ_VAL(table_new(vm, OBJ_WEAKSET, WT_SET, klass));
        return true;
    case OBJ_FINALIZE:
        return finalize_new(vm, klass, argc, args, kwargs, out);
    default:
        return exc_raise(vm, vm->cls.TypeError, "cannot create '%s' instances",
                         klass->name->chars);
    }
}

// ---- Module creation -------------------------------------------------------------------------

typedef struct {
    const char *name;
    NativeFn fn;
    int min, max;
    bool kwargs;
} MethodDef;

static ObjClass *make_class(WkVM *vm, ObjDict *globals, const char *name, ObjClass *base,
                            ObjType kind, const MethodDef *methods) {
    ObjDict *ns = dict_new(vm);
    gc_push_root(vm, OBJ_VAL(ns));
    // the natives go straight into the namespace (what class_add_native stores), so the class
    // is refreshed once below instead of once per method
    for (const MethodDef *m = methods; m != NULL && m->name != NULL; m++) {
        ObjNative *n = class_native_new(vm, m->name, m->fn, m->min, m->max, m->kwargs);
        n->obj.flags |= NATIVE_METHOD;
        gc_push_root(vm, OBJ_VAL(n));
        ObjStr *key = str_intern(vm, m->name, strlen(m->name));
        gc_push_root(vm, OBJ_VAL(key));
        dict_set_str(vm, ns, key, OBJ_VAL(n));
        gc_pop_roots(vm, 2);
    }
    ObjClass *c = class_new(vm, str_from_cstr(vm, name), base, ns);
    gc_pop_root(vm);
    gc_push_root(vm, OBJ_VAL(c));
    c->module = str_from_cstr(vm, "weakref");
    c->instance_kind = (uint8_t)kind;
    c->builtin = true;
    if (globals != NULL) {
        dict_set_str(vm, globals, str_from_cstr(vm, name), OBJ_VAL(c));
    }
    class_changed(vm, c);
    gc_pop_root(vm);
    return c;
}

// A property with native [getter] and optional [setter] on [c].
static void add_property(WkVM *vm, ObjClass *c, const char *name, NativeFn getter,
                         NativeFn setter) {
    ObjProperty *p = (ObjProperty *)gc_alloc_object(vm, sizeof(ObjProperty), OBJ_PROPERTY);
    p->getter = p->setter = p->deleter = NONE_VAL;
    gc_push_root(vm, OBJ_VAL(p));
    p->getter = OBJ_VAL(native_new(vm, name, getter, 1, 1, false));
    if (setter != NULL) {
        p->setter = OBJ_VAL(native_new(vm, name, setter, 2, 2, false));
    }
    dict_set_str(vm, c->dict, str_from_cstr(vm, name), OBJ_VAL(p));
    gc_pop_root(vm);
    class_changed(vm, c);
}

static const MethodDef ref_methods[] = {
    {"__init__", ref_init, 2, 3, true},   {"__call__", ref_call, 1, -1, true},
    {"__hash__", ref_hash, 1, 1, false},  {"__eq__", ref_eq, 2, 2, false},
    {"__ne__", ref_ne, 2, 2, false},      {"__repr__", ref_repr, 1, 1, false},
    {NULL, NULL, 0, 0, false},
};

#define PROXY_BINOP_DEFS(name, op)                                                             \
    {"__" #name "__", proxy_##name, 2, 2, false}, {"__r" #name "__", proxy_r##name, 2, 2, false}, \
        {"__i" #name "__", proxy_i##name, 2, 2, false},
#define PROXY_CMP_DEFS(name, op) {"__" #name "__", proxy_##name, 2, 2, false},

static const MethodDef proxy_methods[] = {
    PROXY_BINOPS(PROXY_BINOP_DEFS) PROXY_CMPOPS(PROXY_CMP_DEFS)
    {"__neg__", proxy_neg, 1, 1, false},
    {"__pos__", proxy_pos, 1, 1, false},
    {"__invert__", proxy_invert, 1, 1, false},
    {"__abs__", proxy_abs, 1, 1, false},
    {"__int__", proxy_int, 1, 1, false},
    {"__float__", proxy_float, 1, 1, false},
    {"__index__", proxy_index, 1, 1, false},
    {"__bool__", proxy_bool, 1, 1, false},
    {"__len__", proxy_len, 1, 1, false},
    {"__str__", proxy_str, 1, 1, false},
    {"__repr__", proxy_repr, 1, 1, false},
    {"__hash__", proxy_hash, 1, 1, false},
    {"__contains__", proxy_contains, 2, 2, false},
    {"__getitem__", proxy_getitem, 2, 2, false},
    {"__setitem__", proxy_setitem, 3, 3, false},
    {"__delitem__", proxy_delitem, 2, 2, false},
    {"__iter__", proxy_iter, 1, 1, false},
    {"__next__", proxy_next, 1, 1, false},
    {"__reversed__", proxy_reversed, 1, 1, false},
    {"__getattr__", proxy_getattr, 2, 2, false},
    {NULL, NULL, 0, 0, false},
};

static const MethodDef callable_methods[] = {
    {"__call__", proxy_call, 1, -1, true},
    {NULL, NULL, 0, 0, false},
};

#define TABLE_COMMON                                                                           \
    {"__len__", table_len, 1, 1, false}, {"__iter__", table_iter, 1, 1, false},                \
        {"__repr__", table_repr, 1, 1, false}, {"__hash__", table_unhashable, 1, 1, false},    \
        {"copy", table_copy_native, 1, 1, false},                                              \
        {"__copy__", table_copy_native, 1, 1, false},                                          \
        {"__deepcopy__", table_deepcopy, 2, 2, false}

#define DICT_COMMON                                                                            \
    TABLE_COMMON, {"__getitem__", wdict_getitem, 2, 2, false},                                 \
        {"__setitem__", wdict_setitem, 3, 3, false},                                           \
        {"__delitem__", wdict_delitem, 2, 2, false},                                           \
        {"__contains__", wdict_contains, 2, 2, false}, {"get", wdict_get, 2, 3, false},        \
        {"pop", wdict_pop, 2, 3, false}, {"popitem", wdict_popitem, 1, 1, false},              \
        {"setdefault", wdict_setdefault, 2, 3, false}, {"clear", wdict_clear, 1, 1, false},    \
        {"update", wdict_update, 1, 2, true}, {"keys", table_keys, 1, 1, false},               \
        {"values", table_values, 1, 1, false}, {"items", table_items, 1, 1, false},            \
        {"__or__", wdict_or, 2, 2, false}, {"__ror__", wdict_ror, 2, 2, false},                \
        {"__ior__", wdict_ior, 2, 2, false}, {"__eq__", wdict_eq, 2, 2, false},                \
        {"__ne__", wdict_ne, 2, 2, false}

static const MethodDef wkd_methods[] = {
    DICT_COMMON,
    {"__init__", wkd_init, 1, 2, true},
    {"keyrefs", table_refs, 1, 1, false},
    {NULL, NULL, 0, 0, false},
};

static const MethodDef wvd_methods[] = {
    DICT_COMMON,
    {"__init__", wvd_init, 1, 2, true},
    {"valuerefs", table_refs, 1, 1, false},
    {"itervaluerefs", table_itervaluerefs, 1, 1, false},
    {NULL, NULL, 0, 0, false},
};

static const MethodDef wset_methods[] = {
    TABLE_COMMON,
    {"__init__", wset_init, 1, 2, false},
    {"__contains__", wset_contains, 2, 2, false},
    {"add", wset_add, 2, 2, false},
    {"discard", wset_discard, 2, 2, false},
    {"remove", wset_remove, 2, 2, false},
    {"pop", wset_pop, 1, 1, false},
    {"clear", wset_clear, 1, 1, false},
    {"update", wset_update, 2, 2, false},
    {"union", wset_union, 2, 2, false},
    {"__or__", wset_or, 2, 2, false},
    {"__ror__", wset_ror, 2, 2, false},
    {"__ior__", wset_ior, 2, 2, false},
    {"difference", wset_difference, 2, 2, false},
    {"__sub__", wset_sub, 2, 2, false},
    {"__rsub__", wset_rsub, 2, 2, false},
    {"__isub__", wset_isub, 2, 2, false},
    {"difference_update", wset_difference_update, 2, 2, false},
    {"intersection", wset_intersection, 2, 2, false},
    {"__and__", wset_and, 2, 2, false},
    {"__rand__", wset_rand, 2, 2, false},
    {"__iand__", wset_iand, 2, 2, false},
    {"intersection_update", wset_intersection_update, 2, 2, false},
    {"symmetric_difference", wset_symmetric_difference, 2, 2, false},
    {"__xor__", wset_xor, 2, 2, false},
    {"__rxor__", wset_rxor, 2, 2, false},
    {"__ixor__", wset_ixor, 2, 2, false},
    {"symmetric_difference_update", wset_symmetric_difference_update, 2, 2, false},
    {"issubset", wset_issubset, 2, 2, false},
    {"issuperset", wset_issuperset, 2, 2, false},
    {"isdisjoint", wset_isdisjoint, 2, 2, false},
    {"__le__", wset_le, 2, 2, false},
    {"__lt__", wset_lt, 2, 2, false},
    {"__ge__", wset_ge, 2, 2, false},
    {"__gt__", wset_gt, 2, 2, false},
    {"__eq__", wset_eq, 2, 2, false},
    {"__ne__", wset_ne, 2, 2, false},
    {"__repr__", wset_repr, 1, 1, false},
    {NULL, NULL, 0, 0, false},
};

static const MethodDef fin_methods[] = {
    {"__init__", fin_init, 1, -1, true},  {"__call__", fin_call_native, 1, 2, false},
    {"peek", fin_peek, 1, 1, false},      {"detach", fin_detach, 1, 1, false},
    {"__repr__", fin_repr, 1, 1, false},  {NULL, NULL, 0, 0, false},
};

static const MethodDef iter_methods[] = {
    {"__iter__", witer_iter, 1, 1, false},
    {"__next__", witer_next, 1, 1, false},
    {NULL, NULL, 0, 0, false},
};

static void add_function(WkVM *vm, ObjDict *globals, const char *name, NativeFn fn, int min,
                         int max) {
    ObjNative *n = native_new(vm, name, fn, min, max, false);
    gc_push_root(vm, OBJ_VAL(n));
    dict_set_str(vm, globals, str_from_cstr(vm, name), OBJ_VAL(n));
    gc_pop_root(vm);
}

static void alias(WkVM *vm, ObjDict *globals, const char *name, Value v) {
    gc_push_root(vm, v);
    dict_set_str(vm, globals, str_from_cstr(vm, name), v);
    gc_pop_root(vm);
}

bool mod_weakref_load(WkVM *vm, Value *module) {
    weak_register_holder(vm, OBJ_WEAKREF, &ref_ops);
    weak_register_holder(vm, OBJ_PROXY, &ref_ops);
    weak_register_holder(vm, OBJ_WEAKDICT, &table_ops);
    weak_register_holder(vm, OBJ_WEAKSET, &table_ops);
    weak_register_holder(vm, OBJ_FINALIZE, &fin_ops);

    ObjModule *m = (ObjModule *)gc_alloc_object(vm, sizeof(ObjModule), OBJ_MODULE);
    m->name = NULL;
    m->globals = NULL;
    m->path = NULL;
    gc_push_root(vm, OBJ_VAL(m));
    m->name = str_from_cstr(vm, "weakref");
    m->globals = dict_new(vm);
    ObjDict *g = m->globals;
    dict_set_str(vm, g, vm->names.__name__, OBJ_VAL(m->name));

    ObjClass *ref = make_class(vm, g, "ReferenceType", NULL, OBJ_WEAKREF, ref_methods);
    vm->cls.ref = ref;
    add_property(vm, ref, "__callback__", ref_get_callback, NULL);
    alias(vm, g, "ref", OBJ_VAL(ref));
    vm->cls.weakmethod = make_class(vm, g, "WeakMethod", ref, OBJ_WEAKREF, NULL);
    ObjClass *keyed = make_class(vm, g, "KeyedRef", ref, OBJ_WEAKREF, NULL);
    keyed->builtin = false; // its instances carry `key` in their dict
    *weak_module_slot(vm, SLOT_KEYEDREF_CLASS) = &keyed->obj;

    vm->cls.proxy = make_class(vm, g, "ProxyType", NULL, OBJ_PROXY, proxy_methods);
    vm->cls.callable_proxy =
        make_class(vm, g, "CallableProxyType", vm->cls.proxy, OBJ_PROXY, callable_methods);
    Value pt[2] = {OBJ_VAL(vm->cls.proxy), OBJ_VAL(vm->cls.callable_proxy)};
    alias(vm, g, "ProxyTypes", OBJ_VAL(tuple_from(vm, pt, 2)));

    vm->cls.weakkeydict =
        make_class(vm, g, "WeakKeyDictionary", NULL, OBJ_WEAKDICT, wkd_methods);
    vm->cls.weakvaluedict =
        make_class(vm, g, "WeakValueDictionary", NULL, OBJ_WEAKDICT, wvd_methods);
    vm->cls.weakset = make_class(vm, g, "WeakSet", NULL, OBJ_WEAKSET, wset_methods);
    vm->cls.finalize = make_class(vm, g, "finalize", NULL, OBJ_FINALIZE, fin_methods);
    add_property(vm, vm->cls.finalize, "alive", fin_alive, NULL);
    add_property(vm, vm->cls.finalize, "atexit", fin_get_atexit, fin_set_atexit);
    ObjClass *it = make_class(vm, NULL, "generator", NULL, OBJ_WEAKSET, iter_methods);
    *weak_module_slot(vm, SLOT_ITER_CLASS) = &it->obj;

    add_function(vm, g, "getweakrefcount", getweakrefcount, 1, 1);
    add_function(vm, g, "getweakrefs", getweakrefs, 1, 1);
    add_function(vm, g, "proxy", proxy_function, 1, 2);
    alias(vm, g, "ReferenceError", OBJ_VAL(vm->cls.ReferenceError));

    gc_pop_root(vm);
    *module = OBJ_VAL(m);
    return true;
}
