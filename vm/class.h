// Classes: the built-in type objects, user classes made by the class statement, single
// inheritance, instantiation (__new__ is not supported; __init__ is), isinstance/issubclass,
// and registering native methods on built-in types.
#ifndef WK_VM_CLASS_H
#define WK_VM_CLASS_H

#include "vm/config.h"
#include "vm/vm.h"

// ---- Class flags and cached dunder bits ------------------------------------------------------

// Bits in a class object's header flags (Obj.flags of an OBJ_CLASS).
#define CLASS_BASETYPE 0x01     // a class statement may derive from it (object, exceptions, ...)
#define CLASS_HAS_SUBCLASS 0x02 // some class derives from it: class_changed refreshes them too

// Bits of ObjClass.dunders: the class or one of its bases other than object defines __x__.
// Refreshed by class_changed; ops.c and attr.c test them before looking a dunder up.
enum {
    CLASS_D_INIT = 1u << 0,
    CLASS_D_REPR = 1u << 1,
    CLASS_D_STR = 1u << 2,
    CLASS_D_EQ = 1u << 3,
    CLASS_D_NE = 1u << 4,
    CLASS_D_ORDER = 1u << 5,    // any of __lt__ __le__ __gt__ __ge__
    CLASS_D_HASH = 1u << 6,
    CLASS_D_LEN = 1u << 7,
    CLASS_D_BOOL = 1u << 8,
    CLASS_D_GETITEM = 1u << 9,
    CLASS_D_SETITEM = 1u << 10,
    CLASS_D_DELITEM = 1u << 11,
    CLASS_D_CONTAINS = 1u << 12,
    CLASS_D_ITER = 1u << 13,
    CLASS_D_NEXT = 1u << 14,
    CLASS_D_CALL = 1u << 15,
    CLASS_D_GETATTR = 1u << 16,
    CLASS_D_GETATTRIBUTE = 1u << 17,
    CLASS_D_SETATTR = 1u << 18,
    CLASS_D_DELATTR = 1u << 19,
    CLASS_D_FORMAT = 1u << 20,
    CLASS_D_INDEX = 1u << 21,
    CLASS_D_ARITH = 1u << 22,   // any binary, reflected, in-place or unary operator dunder
    CLASS_D_ENTER = 1u << 23,
    CLASS_D_PROPERTY = 1u << 24, // some attribute in the chain is a property (data descriptor)
};

// Objects of the weakref kinds (OBJ_WEAKREF .. OBJ_FINALIZE) are reached through
// stdlib/mod_weakref.h: their class, their attribute dict and their construction.

// ---- Types -----------------------------------------------------------------------------------

// type(v).
ObjClass *class_of(WkVM *vm, Value v);
// A new class [name] with [base] (NULL: object) and namespace [dict] (may allocate).
ObjClass *class_new(WkVM *vm, ObjStr *name, ObjClass *base, ObjDict *dict);
// BUILD_CLASS after the body ran into [ns]: checks bases (at most one, must be a class),
// fills __classcell__, returns the class in *out.
WK_NODISCARD bool class_build(WkVM *vm, ObjStr *name, Value *bases, int nbases, ObjDict *ns,
                              Value *out);
// The value bound to [name] in [c] or its bases (no binding), or NULL.
Value *class_lookup(ObjClass *c, ObjStr *name);
// [c] is [base] or derives from it.
bool class_is_subclass(ObjClass *c, ObjClass *base);
// isinstance(v, c).
bool class_isinstance(WkVM *vm, Value v, ObjClass *c);
// Call class [c]: make an instance of its instance kind and run __init__.
WK_NODISCARD bool class_call(WkVM *vm, ObjClass *c, int argc, Value *args, ObjDict *kwargs,
                             Value *out);
// Bump [c]'s version (and refresh its cached dunder bits) after its namespace changed.
void class_changed(WkVM *vm, ObjClass *c);
// Register a native method [name] on [c] (min/max positional args incl. self; max -1 = any).
void class_add_native(WkVM *vm, ObjClass *c, const char *name, NativeFn fn, int min_args,
                      int max_args, bool takes_kwargs);
// A new native function object [name] (static string) calling [fn] (may allocate).
ObjNative *class_native_new(WkVM *vm, const char *name, NativeFn fn, int min_args,
                            int max_args, bool takes_kwargs);
// A new built-in class [name] (static string) deriving from [base] (NULL: object), module
// "builtins", whose instances are of [instance_kind] (may allocate). The caller stores it in a
// root (vm->cls) before the next allocation.
ObjClass *class_new_builtin(WkVM *vm, const char *name, ObjClass *base, ObjType instance_kind);
// Like class_lookup, but ignores what object itself defines (the default dunders): NULL when
// only object has [name].
Value *class_lookup_own(WkVM *vm, ObjClass *c, ObjStr *name);
// Call [callee] with [self] prepended to [argc] [args] (methods found on a class).
WK_NODISCARD bool class_call_with_self(WkVM *vm, Value callee, Value self, int argc, Value *args,
                                       ObjDict *kwargs, Value *out);
// "module.qualname" for user classes, the bare name for built-ins and __main__ classes, as
// tracebacks print it (pure; [buf] of [size] bytes).
const char *class_display_name(ObjClass *c, char *buf, size_t size);
// Create vm->cls.* (built-in types and exceptions) and register every built-in type's methods.
void class_init_builtins(WkVM *vm);

#endif
