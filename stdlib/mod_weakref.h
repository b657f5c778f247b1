// The weakref module: ref (ReferenceType), proxy (ProxyType, CallableProxyType), WeakMethod,
// WeakKeyDictionary (an ephemeron table), WeakValueDictionary, WeakSet, finalize,
// getweakrefcount/getweakrefs, ReferenceError. Owns the kinds OBJ_WEAKREF, OBJ_PROXY,
// OBJ_WEAKDICT, OBJ_WEAKSET and OBJ_FINALIZE; talks to the collector only through gc/weak.h
// and never reads a mark bit nor frees another object.
#ifndef WK_STDLIB_MOD_WEAKREF_H
#define WK_STDLIB_MOD_WEAKREF_H

#include "vm/config.h"
#include "vm/vm.h"

// ---- The ref layout ----------------------------------------------------------------------------

// OBJ_WEAKREF and OBJ_PROXY: header flags. The plain layout (no WR_EXT) also carries
// OBJ_FLAG_LEAF (vm/object.h): it holds nothing strongly, so marking never queues it.
enum {
    WR_EXT = 0x01,      // the larger layout of mod_weakref.c (callback, class, fields, WeakMethod)
    WR_HASHED = 0x02,   // [hash] is valid
    WR_METHOD = 0x04,   // a WeakMethod
    WR_CALLABLE = 0x08, // a CallableProxyType proxy
    WR_BASIC = 0x10,    // the shared ref/proxy (no callback, exact class)
};

// A plain ref or proxy. The header's aux is the position of its slot in the referent's list.
typedef struct {
    Obj obj;
    Obj *referent; // NULL once dead
    uint64_t hash; // the referent's hash, kept after death (WR_HASHED)
} ObjWeakRef;

// r() of a ref [o] (OBJ_WEAKREF) with the plain layout, which is always of the exact class ref
// and never a WeakMethod, without a call: its referent, or None once dead. False for the
// others, which take mod_weakref_call_fast.
static inline bool mod_weakref_deref_plain(const Obj *o, Value *out) {
    if (o->flags & WR_EXT) {
        return false;
    }
    Obj *target = ((const ObjWeakRef *)o)->referent;
    *out = target != NULL ? OBJ_VAL(target) : NONE_VAL;
    return true;
}

// ---- Module ----------------------------------------------------------------------------------

// Create the weakref module into [*module] (its classes go into vm->cls.ref, .proxy,
// .callable_proxy, .weakmethod, .weakkeydict, .weakvaluedict, .weakset, .finalize) and
// register the holder hooks with gc/weak.c. May allocate. False with an exception pending.
WK_NODISCARD bool mod_weakref_load(WkVM *vm, Value *module);

// ---- Object kinds (dispatched from vm/object.c, vm/class.c, vm/attr.c) ------------------------

// The class of weak container [o] (OBJ_WEAKDICT or OBJ_WEAKSET) when it has no attributes of
// its own, so none can shadow a method (the dispatch loop's method cache); NULL otherwise, and
// for an iterator over one.
ObjClass *mod_weakref_plain_table_class(WkVM *vm, Obj *o);
// Mark what [o] (one of this module's kinds) holds strongly: callbacks, classes and attribute
// dicts, WeakValueDictionary keys, finalize's func/args/kwargs. Weak slots are not traced;
// WeakKeyDictionary values are traced by the collector's ephemeron pass only.
void mod_weakref_trace(WkVM *vm, Obj *o);
// Free what [o] owns besides its own block and unregister its weak slots (the sweep and
// gc_free_all); returns the size of [o]'s block, which the caller frees.
size_t mod_weakref_free(WkVM *vm, Obj *o);
// type([o]) for this module's kinds.
ObjClass *mod_weakref_class_of(WkVM *vm, Obj *o);
// Where [o] keeps its attribute dict (NULL until the first attribute is set), or NULL when
// it cannot have attributes (a plain ref: AttributeError as in CPython). Instances of ref
// subclasses, weak containers and finalize subclasses have one.
ObjDict **mod_weakref_fields(Obj *o);
// The __new__ step of calling class [klass] whose instance_kind is one of this module's kinds
// (ref and its subclasses, WeakMethod, the containers, finalize; ProxyType raises). [args]
// are the call's positional arguments without the class; [kwargs] may be NULL. The caller
// then runs __init__ on *out as usual. May allocate; false with an exception pending.
WK_NODISCARD bool mod_weakref_new_instance(WkVM *vm, ObjClass *klass, int argc, Value *args,
                                           ObjDict *kwargs, Value *out);

// Fast path for calling class [klass] with [argc] positional [args] and no keyword arguments,
// meant for vm/vm.c's call path when [klass] is exactly vm->cls.ref: weakref.ref(obj) and
// weakref.ref(obj, callback) build (or share) the ref directly, skipping class_call and the
// no-op ref.__init__ (built-in classes are immutable, so that __init__ cannot change). Any
// other class or arity goes through class_call, so the result is always that of the call.
// The caller keeps [args] reachable (on the VM stack). The ref, or the shared basic ref, goes
// into [*out]. May allocate; false with an exception pending (TypeError as ref() raises it).
WK_NODISCARD bool mod_weakref_ref_fast(WkVM *vm, ObjClass *klass, int argc, Value *args,
                                       Value *out);

// Fast path for calling a ref with no arguments (vm_call): when [callee] is a ref whose class
// uses the built-in __call__ (not a WeakMethod), store its referent or None in [*out] and
// return true; false means "not handled here, call it the usual way". Never allocates.
bool mod_weakref_call_fast(WkVM *vm, Value callee, Value *out);

// ---- Container fast paths (for vm/ops.c) -----------------------------------------------------

// The item protocols a weak container implements natively.
typedef enum {
    MOD_WEAKREF_GETITEM,  // __getitem__ (the dictionaries)
    MOD_WEAKREF_SETITEM,  // __setitem__ (the dictionaries)
    MOD_WEAKREF_DELITEM,  // __delitem__ (the dictionaries)
    MOD_WEAKREF_CONTAINS, // __contains__ (the dictionaries and WeakSet)
} ModWeakrefItemOp;

// True when [obj] (an OBJ_WEAKDICT or OBJ_WEAKSET value) is a weak container whose class
// resolves [op]'s dunder to the built-in native: the exact class, or a subclass that does not
// override it. Then ops.c may call the mod_weakref_* function below instead of dispatching
// the dunder, with the same result. Never allocates, never raises.
bool mod_weakref_item_native(WkVM *vm, Value obj, ModWeakrefItemOp op);
// [obj][key], [obj][key] = [value], del [obj][key], [key] in [obj] for a container that
// mod_weakref_item_native accepted for that op. The caller keeps [obj], [key] and [value]
// reachable (they are on the VM stack). May allocate, and run __hash__/__eq__ of the keys;
// false with an exception pending (KeyError, TypeError, or what those raised).
WK_NODISCARD bool mod_weakref_getitem(WkVM *vm, Value obj, Value key, Value *out);
WK_NODISCARD bool mod_weakref_setitem(WkVM *vm, Value obj, Value key, Value value);
WK_NODISCARD bool mod_weakref_delitem(WkVM *vm, Value obj, Value key);
WK_NODISCARD bool mod_weakref_contains(WkVM *vm, Value obj, Value key, bool *out);

// True when [v] is an iterator over a weak container (its class is private and fixed).
bool mod_weakref_is_iterator(Value v);
// next() of such an iterator [it]: the item in [*out], or *done at the end (no StopIteration
// is raised). RuntimeError when the container changed size meanwhile. May allocate (items()
// tuples, keyrefs); false with an exception pending.
WK_NODISCARD bool mod_weakref_iter_next(WkVM *vm, Value it, Value *out, bool *done);

// ---- Proxies (for vm/attr.c and vm/ops.c) -------------------------------------------------------

// When [*v] is a proxy, replace it with its referent; ReferenceError when the proxy is dead.
// Other values pass unchanged. (The proxy classes also define every dunder, so generic dunder
// dispatch works without this.)
WK_NODISCARD bool mod_weakref_proxy_unwrap(WkVM *vm, Value *v);
// Attribute access through the proxy [proxy] on its referent (every name, __class__ too).
WK_NODISCARD bool mod_weakref_proxy_getattr(WkVM *vm, Value proxy, ObjStr *name, Value *out);
WK_NODISCARD bool mod_weakref_proxy_setattr(WkVM *vm, Value proxy, ObjStr *name, Value v);
WK_NODISCARD bool mod_weakref_proxy_delattr(WkVM *vm, Value proxy, ObjStr *name);

// ---- Exit ------------------------------------------------------------------------------------

// At script end (and REPL exit), before the VM is freed: collect, run pending callbacks, then
// call every live finalize whose atexit is true, newest first (finalizers made meanwhile
// too). An exception in one is printed with its traceback and the rest still run.
void mod_weakref_run_atexit(WkVM *vm);

#endif
