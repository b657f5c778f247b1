// Classes: the built-in type objects (vm->cls), user classes built by the class statement,
// single inheritance, instantiation, isinstance/issubclass and object's default methods.
// The built-in types' own methods are registered by their files (str.c, list.c, ...); the
// constructors of the built-in types live in stdlib/builtins.c.
#include "vm/class.h"
#include "vm/inst.h"

#include <string.h>

#include "stdlib/builtins.h"
#include "stdlib/mod_weakref.h"
#include "vm/attr.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/iter.h"
#include "vm/list.h"
#include "vm/num.h"
#include "vm/opcode.h"
#include "vm/ops.h"
#include "vm/str.h"
#include "vm/table.h"

// ---- Types of values -------------------------------------------------------------------------

ObjClass *class_of(WkVM *vm, Value v) {
    switch (v.type) {
    case VAL_NONE:
        return vm->cls.NoneType;
    case VAL_BOOL:
        return vm->cls.bool_;
    case VAL_INT:
        return vm->cls.int_;
    case VAL_FLOAT:
        return vm->cls.float_;
    case VAL_EMPTY:
        return vm->cls.NoneType;
    case VAL_OBJ:
        break;
    }
    Obj *o = AS_OBJ(v);
    switch ((ObjType)o->type) {
    case OBJ_STR:
        return vm->cls.str;
    case OBJ_TUPLE:
        return vm->cls.tuple;
    case OBJ_LIST:
        return vm->cls.list;
    case OBJ_DICT:
        return vm->cls.dict;
    case OBJ_SET:
        return ((ObjSet *)o)->frozen ? vm->cls.frozenset : vm->cls.set;
    case OBJ_RANGE:
        return vm->cls.range;
    case OBJ_SLICE:
        return vm->cls.slice;
    case OBJ_CODE:
        return vm->cls.code;
    case OBJ_FUNCTION:
        return vm->cls.function;
    case OBJ_CELL:
        return vm->cls.cell;
    case OBJ_NATIVE:
        return vm->cls.builtin_function;
    case OBJ_BOUND_METHOD:
        return IS_NATIVE(((ObjBoundMethod *)o)->func) ? vm->cls.builtin_function
                                                      : vm->cls.method;
    case OBJ_CLASS:
        return vm->cls.type;
    case OBJ_MODULE:
        return vm->cls.module;
    case OBJ_GENERATOR:
        return vm->cls.generator;
    case OBJ_ITER:
        return vm->cls.iterator;
    case OBJ_PROPERTY:
        return vm->cls.property;
    case OBJ_STATICMETHOD:
        return vm->cls.staticmethod;
    case OBJ_CLASSMETHOD:
        return vm->cls.classmethod;
    case OBJ_INSTANCE:
    case OBJ_EXCEPTION:
        return ((ObjInstance *)o)->klass;
    case OBJ_WEAKREF:
    case OBJ_PROXY:
    case OBJ_WEAKDICT:
    case OBJ_WEAKSET:
    case OBJ_FINALIZE:
        return mod_weakref_class_of(vm, o);
    case OBJ_KIND_COUNT:
        break;
    }
    return vm->cls.object;
}

Value *class_lookup(ObjClass *c, ObjStr *name) {
    for (; c != NULL; c = c->base) {
        Value *v = dict_get_str(c->dict, name);
        if (v != NULL) {
            return v;
        }
    }
    return NULL;
}

Value *class_lookup_own(WkVM *vm, ObjClass *c, ObjStr *name) {
    for (; c != NULL && c != vm->cls.object; c = c->base) {
        Value *v = dict_get_str(c->dict, name);
        if (v != NULL) {
            return v;
        }
    }
    return NULL;
}

bool class_is_subclass(ObjClass *c, ObjClass *base) {
    for (; c != NULL; c = c->base) {
        if (c == base) {
            return true;
        }
    }
    return false;
}

bool class_isinstance(WkVM *vm, Value v, ObjClass *c) {
    if (class_is_subclass(class_of(vm, v), c)) {
        return true;
    }
    // A proxy is an instance of its referent's class, as CPython's __class__ check makes it.
    if (IS_KIND(v, OBJ_PROXY)) {
        Value k;
        Value saved = vm->exception;
        if (mod_weakref_proxy_getattr(vm, v, vm->names.__class__, &k) && IS_CLASS(k)) {
            return class_is_subclass(AS_CLASS(k), c);
        }
        vm->exception = saved;
    }
    return false;
}

const char *class_display_name(ObjClass *c, char *buf, size_t size) {
    const char *mod = c->module != NULL ? c->module->chars : "builtins";
    const char *qual = c->qualname != NULL ? c->qualname->chars : c->name->chars;
    if (strcmp(mod, "builtins") == 0 || strcmp(mod, "__main__") == 0) {
        snprintf(buf, size, "%s", qual);
    } else {
        snprintf(buf, size, "%s.%s", mod, qual);
    }
    return buf;
}

// ---- Creating classes ------------------------------------------------------------------------

ObjNative *class_native_new(WkVM *vm, const char *name, NativeFn fn, int min_args,
                            int max_args, bool takes_kwargs) {
    ObjNative *n = (ObjNative *)gc_alloc_object(vm, sizeof(ObjNative), OBJ_NATIVE);
    n->fn = fn;
    n->name = name;
    n->min_args = (int16_t)min_args;
    n->max_args = (int16_t)max_args;
    n->takes_kwargs = takes_kwargs;
    n->self = EMPTY_VAL;
    return n;
}

ObjClass *class_new(WkVM *vm, ObjStr *name, ObjClass *base, ObjDict *dict) {
    gc_push_root(vm, OBJ_VAL(name));
    if (base != NULL) {
        gc_push_root(vm, OBJ_VAL(base));
    }
    if (dict != NULL) {
        gc_push_root(vm, OBJ_VAL(dict));
    }
    ObjClass *c = (ObjClass *)gc_alloc_object(vm, sizeof(ObjClass), OBJ_CLASS);
    c->name = name;
    c->qualname = name;
    c->module = NULL;
    c->base = base != NULL ? base : vm->cls.object;
    c->dict = dict;
    c->version = 1;
    c->instance_kind = c->base != NULL ? c->base->instance_kind : OBJ_INSTANCE;
    c->builtin = false;
    c->has_getattr = false;
    c->dunders = 0;
    c->keys = NULL;
    c->nkeys = c->capkeys = 0;
    if (dict == NULL) {
        gc_push_root(vm, OBJ_VAL(c));
        c->dict = dict_new(vm);
        gc_pop_root(vm);
    }
    gc_pop_roots(vm, 1 + (base != NULL) + (dict != NULL));
    return c;
}

ObjClass *class_new_builtin(WkVM *vm, const char *name, ObjClass *base, ObjType instance_kind) {
    ObjStr *n = str_intern(vm, name, strlen(name));
    ObjClass *c = class_new(vm, n, base, NULL);
    if (base == NULL && vm->cls.object == NULL) {
        c->base = NULL; // object itself
    }
    gc_push_root(vm, OBJ_VAL(c));
    c->module = str_intern(vm, "builtins", 8);
    gc_pop_root(vm);
    c->builtin = true;
    c->instance_kind = (uint8_t)instance_kind;
    if (c->base != NULL) {
        c->dunders = c->base->dunders;
        c->has_getattr = c->base->has_getattr;
    }
    return c;
}

static uint32_t entry_dunder_bits(Value key, Value value);
static void new_version(WkVM *vm, ObjClass *c);

void class_add_native(WkVM *vm, ObjClass *c, const char *name, NativeFn fn, int min_args,
                      int max_args, bool takes_kwargs) {
    gc_push_root(vm, OBJ_VAL(c));
    ObjNative *n = class_native_new(vm, name, fn, min_args, max_args, takes_kwargs);
    n->obj.flags |= NATIVE_METHOD;
    gc_push_root(vm, OBJ_VAL(n));
    ObjStr *key = str_intern(vm, name, strlen(name));
    gc_push_root(vm, OBJ_VAL(key));
    dict_set_str(vm, c->dict, key, OBJ_VAL(n));
    gc_pop_roots(vm, 3);
    if (c->obj.flags & CLASS_HAS_SUBCLASS) {
        class_changed(vm, c);
        return;
    }
    // A new name only adds to the cached bits: no need to rescan the whole namespace.
    c->dunders |= entry_dunder_bits(OBJ_VAL(key), OBJ_VAL(n));
    c->has_getattr = (c->dunders & CLASS_D_GETATTR) != 0;
    new_version(vm, c);
}

// ---- Class changes and the cached dunder bits --------------------------------------------------
// Inline caches key on (class, version). A change to a class bumps its version; a class with
// subclasses (CLASS_HAS_SUBCLASS) also bumps every class deriving from it, found by walking the
// heap's object list. That walk is O(heap) but only happens when a class that has subclasses is
// modified after its creation, which is rare (a class-level counter on a base class).

static const struct {
    const char *name;
    uint32_t bit;
} dunder_bits[] = {
    {"__init__", CLASS_D_INIT},       {"__repr__", CLASS_D_REPR},
    {"__str__", CLASS_D_STR},         {"__eq__", CLASS_D_EQ},
    {"__ne__", CLASS_D_NE},           {"__lt__", CLASS_D_ORDER},
    {"__le__", CLASS_D_ORDER},        {"__gt__", CLASS_D_ORDER},
    {"__ge__", CLASS_D_ORDER},        {"__hash__", CLASS_D_HASH},
    {"__len__", CLASS_D_LEN},         {"__bool__", CLASS_D_BOOL},
    {"__getitem__", CLASS_D_GETITEM}, {"__setitem__", CLASS_D_SETITEM},
    {"__delitem__", CLASS_D_DELITEM}, {"__contains__", CLASS_D_CONTAINS},
    {"__iter__", CLASS_D_ITER},       {"__next__", CLASS_D_NEXT},
    {"__call__", CLASS_D_CALL},       {"__getattr__", CLASS_D_GETATTR},
    {"__getattribute__", CLASS_D_GETATTRIBUTE},
    {"__setattr__", CLASS_D_SETATTR}, {"__delattr__", CLASS_D_DELATTR},
    {"__format__", CLASS_D_FORMAT},   {"__index__", CLASS_D_INDEX},
    {"__enter__", CLASS_D_ENTER},
};

// Whether [key] names an operator dunder (__add__, __radd__, __iadd__, __neg__, ...).
static bool is_arith_dunder(ObjStr *key) {
    static const char *const ops[] = {
        "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "lshift", "rshift",
        "and", "or", "xor", "matmul", "divmod", NULL,
    };
    const char *s = key->chars;
    size_t n = key->size;
    if (n < 6 || s[0] != '_' || s[1] != '_' || s[n - 1] != '_' || s[n - 2] != '_') {
        return false;
    }
    char body[24];
    if (n - 4 >= sizeof(body)) {
        return false;
    }
    memcpy(body, s + 2, n - 4);
    body[n - 4] = '\0';
    if (strcmp(body, "neg") == 0 || strcmp(body, "pos") == 0 || strcmp(body, "invert") == 0 ||
        strcmp(body, "abs") == 0) {
        return true;
    }
    const char *b = body;
    if ((b[0] == 'r' || b[0] == 'i') && strcmp(b, "rshift") != 0) {
        b++;
    }
    for (int i = 0; ops[i] != NULL; i++) {
        if (strcmp(b, ops[i]) == 0 || strcmp(body, ops[i]) == 0) {
            return true;
        }
    }
    return false;
}

// The dunder bits one namespace entry contributes.
static uint32_t entry_dunder_bits(Value key, Value value) {
    uint32_t bits = IS_KIND(value, OBJ_PROPERTY) ? CLASS_D_PROPERTY : 0;
    if (!IS_STR(key)) {
        return bits;
    }
    ObjStr *k = AS_STR(key);
    if (k->size < 5 || k->chars[0] != '_' || k->chars[1] != '_') {
        return bits;
    }
    for (size_t i = 0; i < sizeof(dunder_bits) / sizeof(dunder_bits[0]); i++) {
        if (strcmp(k->chars, dunder_bits[i].name) == 0) {
            bits |= dunder_bits[i].bit;
        }
    }
    if (is_arith_dunder(k)) {
        bits |= CLASS_D_ARITH;
    }
    return bits;
}

static uint32_t dict_dunder_bits(ObjDict *d) {
    uint32_t bits = 0;
    uint32_t pos = 0;
    TableEntry *e;
    while ((e = table_next(&d->table, &pos)) != NULL) {
        bits |= entry_dunder_bits(e->key, e->value);
    }
    return bits;
}

// A fresh, VM-wide unique version: an inline cache that saw (class, version) can never be
// fooled by another class later allocated at the same address.
static void new_version(WkVM *vm, ObjClass *c) {
    c->version = ++vm->class_epoch;
    if (c->version == 0) {
        c->version = ++vm->class_epoch;
    }
}

static void refresh(WkVM *vm, ObjClass *c) {
    uint32_t bits = 0;
    for (ObjClass *k = c; k != NULL && k != vm->cls.object; k = k->base) {
        bits |= dict_dunder_bits(k->dict);
    }
    c->dunders = bits;
    c->has_getattr = (bits & CLASS_D_GETATTR) != 0;
    new_version(vm, c);
}

void class_changed(WkVM *vm, ObjClass *c) {
    refresh(vm, c);
    if (!(c->obj.flags & CLASS_HAS_SUBCLASS)) {
        return;
    }
    // refresh allocates nothing, so the heap stays as it is during the walk
    for (size_t i = 0, n = gc_object_count(vm); i < n; i++) {
        Obj *o = gc_object_at(vm, i);
        if (o->type == OBJ_CLASS && o != (Obj *)c &&
            class_is_subclass(((ObjClass *)o)->base, c)) {
            refresh(vm, (ObjClass *)o);
        }
    }
}

// ---- The class statement ---------------------------------------------------------------------

static bool check_base(WkVM *vm, Value *bases, int nbases, ObjClass **base) {
    *base = NULL;
    if (nbases > 1) {
        return exc_raise(vm, vm->cls.TypeError, "multiple inheritance is not supported");
    }
    if (nbases == 0) {
        return true;
    }
    if (!IS_CLASS(bases[0])) {
        return exc_raise(vm, vm->cls.TypeError, "bases must be types");
    }
    ObjClass *b = AS_CLASS(bases[0]);
    bool weak_kind = b->instance_kind >= OBJ_WEAKREF && b->instance_kind <= OBJ_FINALIZE &&
                     b->instance_kind != OBJ_PROXY;
    if (b->builtin && !(b->obj.flags & CLASS_BASETYPE) && !weak_kind) {
        return exc_raise(vm, vm->cls.TypeError, "type '%s' is not an acceptable base type",
                         b->name->chars);
    }
    *base = b;
    return true;
}

// The module name of the code running the class statement: its globals' __name__.
static ObjStr *current_module_name(WkVM *vm) {
    if (vm->frame_count > 0) {
        ObjDict *g = vm->frames[vm->frame_count - 1].globals;
        if (g != NULL) {
            Value *n = dict_get_str(g, vm->names.__name__);
            if (n != NULL && IS_STR(*n)) {
                return AS_STR(*n);
            }
        }
    }
    return vm->names.__main__;
}

bool class_build(WkVM *vm, ObjStr *name, Value *bases, int nbases, ObjDict *ns, Value *out) {
    if (nbases == 1 && !IS_CLASS(bases[0])) {
        // As CPython does, the base's type acts as the metaclass: type(base)(name, bases, ns).
        ObjTuple *bt = tuple_from(vm, bases, 1);
        gc_push_root(vm, OBJ_VAL(bt));
        Value a[3] = {OBJ_VAL(name), OBJ_VAL(bt), OBJ_VAL(ns)};
        bool ok = vm_call(vm, OBJ_VAL(class_of(vm, bases[0])), 3, a, NULL, out);
        gc_pop_root(vm);
        return ok;
    }
    ObjClass *base;
    if (!check_base(vm, bases, nbases, &base)) {
        return false;
    }
    // The class gets its own copy of the namespace, as in CPython: a later write through the
    // body's locals() must not change the class behind class_changed's back (inline caches).
    gc_push_root(vm, OBJ_VAL(ns));
    ObjDict *own = dict_copy(vm, ns);
    gc_pop_root(vm);
    ns = own;
    gc_push_root(vm, OBJ_VAL(ns));
    Value cell = EMPTY_VAL;
    Value *cp = dict_get_str(ns, vm->names.__classcell__);
    if (cp != NULL) {
        cell = *cp;
        bool found;
        if (!dict_delete(vm, ns, OBJ_VAL(vm->names.__classcell__), &found)) {
            gc_pop_root(vm);
            return false;
        }
    }
    gc_push_root(vm, cell);
    ObjStr *qualname = name;
    Value *qp = dict_get_str(ns, vm->names.__qualname__);
    if (qp != NULL && IS_STR(*qp)) {
        qualname = AS_STR(*qp);
        bool found;
        gc_push_root(vm, OBJ_VAL(qualname));
        bool ok = dict_delete(vm, ns, OBJ_VAL(vm->names.__qualname__), &found);
        gc_pop_root(vm);
        if (!ok) {
            gc_pop_roots(vm, 2);
            return false;
        }
    }
    gc_push_root(vm, OBJ_VAL(qualname));
    ObjStr *module;
    Value *mp = dict_get_str(ns, vm->names.__module__);
    if (mp != NULL && IS_STR(*mp)) {
        module = AS_STR(*mp);
    } else {
        module = current_module_name(vm);
        dict_set_str(vm, ns, vm->names.__module__, OBJ_VAL(module));
    }
    // A class that defines __eq__ without __hash__ is unhashable, as in CPython.
    if (dict_get_str(ns, vm->names.__eq__) != NULL && dict_get_str(ns, vm->names.__hash__) == NULL) {
        dict_set_str(vm, ns, vm->names.__hash__, NONE_VAL);
    }
    ObjClass *c = class_new(vm, name, base, ns);
    c->qualname = qualname;
    c->module = module;
    if (base != NULL) {
        base->obj.flags |= CLASS_HAS_SUBCLASS;
        c->obj.flags |= CLASS_BASETYPE;
    } else {
        c->obj.flags |= CLASS_BASETYPE;
    }
    if (IS_KIND(cell, OBJ_CELL)) {
        ((ObjCell *)AS_OBJ(cell))->value = OBJ_VAL(c);
    }
    gc_pop_roots(vm, 3);
    refresh(vm, c);
    *out = OBJ_VAL(c);
    return true;
}

// ---- Instantiation ---------------------------------------------------------------------------

bool class_call_with_self(WkVM *vm, Value callee, Value self, int argc, Value *args,
                          ObjDict *kwargs, Value *out) {
    Value small[8];
    Value *buf = small;
    if (argc + 1 > 8) {
        buf = malloc(sizeof(Value) * (size_t)(argc + 1));
        if (buf == NULL) {
            return exc_raise_value(vm, OBJ_VAL(vm->memory_error));
        }
    }
    buf[0] = self;
    for (int i = 0; i < argc; i++) {
        buf[i + 1] = args[i];
    }
    bool ok = vm_call(vm, callee, argc + 1, buf, kwargs, out);
    if (buf != small) {
        free(buf);
    }
    return ok;
}

static bool kwargs_empty(ObjDict *kwargs) {
    return kwargs == NULL || kwargs->table.count == 0;
}

static bool object_init(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result);
static bool object_new(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result);

static bool is_native_fn(Value v, NativeFn fn) {
    return IS_NATIVE(v) && AS_NATIVE(v)->fn == fn;
}

// Run [c]'s __init__ on the new [self]; TypeError when there is none and arguments were given.
static bool run_init(WkVM *vm, ObjClass *c, Value self, int argc, Value *args,
                     ObjDict *kwargs) {
    Value *ip = (c->dunders & CLASS_D_INIT) ? class_lookup_own(vm, c, vm->names.__init__) : NULL;
    if (ip == NULL || is_native_fn(*ip, object_init)) {
        if (argc > 0 || !kwargs_empty(kwargs)) {
            char buf[256];
            return exc_raise(vm, vm->cls.TypeError, "%s() takes no arguments",
                             class_display_name(c, buf, sizeof(buf)));
        }
        return true;
    }
    Value init = *ip;
    if (is_native_fn(init, exc_base_init)) {
        if (!kwargs_empty(kwargs)) {
            return exc_raise(vm, vm->cls.TypeError, "%s() takes no keyword arguments",
                             c->name->chars);
        }
        return true; // the args tuple is already set
    }
    Value r;
    if (!class_call_with_self(vm, init, self, argc, args, kwargs, &r)) {
        return false;
    }
    if (!IS_NONE(r)) {
        return exc_raise(vm, vm->cls.TypeError, "__init__() should return None, not '%s'",
                         class_of(vm, r)->name->chars);
    }
    return true;
}

// A new instance of user class [c] (instance kind OBJ_INSTANCE or OBJ_EXCEPTION).
static bool make_instance(WkVM *vm, ObjClass *c, int argc, Value *args, Value *out) {
    if (c->instance_kind == OBJ_EXCEPTION) {
        ObjTuple *t = tuple_from(vm, args, (uint32_t)argc);
        gc_push_root(vm, OBJ_VAL(t));
        ObjException *e = exc_new(vm, c, t);
        gc_pop_root(vm);
        *out = OBJ_VAL(e);
        return true;
    }
    ObjInstance *inst = inst_new(vm, c);
    *out = OBJ_VAL(inst);
    return true;
}

bool class_call(WkVM *vm, ObjClass *c, int argc, Value *args, ObjDict *kwargs, Value *out) {
    Value self;
    bool generic = (c->instance_kind == OBJ_INSTANCE && (!c->builtin || c == vm->cls.object)) ||
                   c->instance_kind == OBJ_EXCEPTION;
    gc_push_root(vm, OBJ_VAL(c));
    if (generic) {
        make_instance(vm, c, argc, args, &self);
        gc_push_root(vm, self);
        bool ok = run_init(vm, c, self, argc, args, kwargs);
        gc_pop_roots(vm, 2);
        *out = self;
        return ok;
    }
    bool ok;
    bool weak_kind = c->instance_kind >= OBJ_WEAKREF && c->instance_kind <= OBJ_FINALIZE;
    if (weak_kind) {
        ok = mod_weakref_new_instance(vm, c, argc, args, kwargs, &self);
    } else {
        Value *np = class_lookup(c, vm->names.__new__);
        if (np == NULL || !IS_NATIVE(*np) || is_native_fn(*np, object_new)) {
            gc_pop_root(vm);
            return exc_raise(vm, vm->cls.TypeError, "cannot create '%s' instances",
                             c->name->chars);
        }
        // A built-in type's constructor: __new__(cls, *args, **kwargs).
        ok = class_call_with_self(vm, *np, OBJ_VAL(c), argc, args, kwargs, &self);
    }
    if (ok && (weak_kind || !c->builtin) && (c->dunders & CLASS_D_INIT) &&
        class_is_subclass(class_of(vm, self), c)) {
        // A subclass of a built-in type (weakref.ref, ...): run its __init__ if any.
        Value *ip = class_lookup_own(vm, c, vm->names.__init__);
        if (ip != NULL && !is_native_fn(*ip, object_init)) {
            Value r;
            gc_push_root(vm, self);
            ok = class_call_with_self(vm, *ip, self, argc, args, kwargs, &r);
            gc_pop_root(vm);
        }
    }
    gc_pop_root(vm);
    *out = self;
    return ok;
}

// ---- object's methods ------------------------------------------------------------------------

static bool object_init(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)args;
    if (argc > 1 || !kwargs_empty(kwargs)) {
        ObjClass *c = class_of(vm, args[0]);
        if (!(c->dunders & CLASS_D_INIT)) {
            char buf[256];
            return exc_raise(vm, vm->cls.TypeError, "%s() takes no arguments",
                             class_display_name(c, buf, sizeof(buf)));
        }
        return exc_raise(vm, vm->cls.TypeError,
                         "object.__init__() takes exactly one argument (the instance to "
                         "initialize)");
    }
    *result = NONE_VAL;
    return true;
}

static bool object_new(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    if (!IS_CLASS(args[0])) {
        return exc_raise(vm, vm->cls.TypeError, "object.__new__(X): X is not a type object");
    }
    ObjClass *c = AS_CLASS(args[0]);
    if (c->instance_kind != OBJ_INSTANCE && c->instance_kind != OBJ_EXCEPTION) {
        return exc_raise(vm, vm->cls.TypeError, "object.__new__(%s) is not safe",
                         c->name->chars);
    }
    return make_instance(vm, c, argc - 1, args + 1, result);
}

static bool object_repr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    ObjClass *c = class_of(vm, args[0]);
    const char *mod = c->module != NULL ? c->module->chars : "builtins";
    const char *qual = c->qualname != NULL ? c->qualname->chars : c->name->chars;
    void *addr = IS_OBJ(args[0]) ? (void *)AS_OBJ(args[0]) : NULL;
    ObjStr *s = strcmp(mod, "builtins") == 0
                    ? str_printf(vm, "<%s object at %p>", qual, addr)
                    : str_printf(vm, "<%s.%s object at %p>", mod, qual, addr);
    *result = OBJ_VAL(s);
    return true;
}

static bool object_str(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    ObjStr *s;
    if (!ops_repr(vm, args[0], &s)) {
        return false;
    }
    *result = OBJ_VAL(s);
    return true;
}

static bool object_eq(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    *result = value_is(args[0], args[1]) ? BOOL_VAL(true) : vm->not_implemented;
    return true;
}

static bool object_ne(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    Value r;
    if (!ops_compare(vm, OPCODE_EQ, args[0], args[1], &r)) {
        return false;
    }
    if (value_is(r, vm->not_implemented)) {
        *result = r;
        return true;
    }
    bool t;
    if (!ops_truthy(vm, r, &t)) {
        return false;
    }
    *result = BOOL_VAL(!t);
    return true;
}

static bool object_hash(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)vm;
    (void)argc;
    (void)kwargs;
    *result = INT_VAL((int64_t)(IS_OBJ(args[0]) ? ops_pointer_hash(AS_OBJ(args[0])) : 0));
    return true;
}

static bool object_format(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    if (!IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError, "format() argument 2 must be str, not %s",
                         class_of(vm, args[1])->name->chars);
    }
    if (AS_STR(args[1])->size > 0) {
        return exc_raise(vm, vm->cls.TypeError, "unsupported format string passed to %s.__format__",
                         class_of(vm, args[0])->name->chars);
    }
    ObjStr *s;
    if (!ops_str(vm, args[0], &s)) {
        return false;
    }
    *result = OBJ_VAL(s);
    return true;
}

// object.__setattr__ / __delattr__: the plain behaviour, for user overrides to delegate to.
static bool object_setattr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    if (!IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError, "attribute name must be string, not '%s'",
                         class_of(vm, args[1])->name->chars);
    }
    ObjInstance *inst = IS_INSTANCE(args[0]) || IS_EXCEPTION(args[0]) ? AS_INSTANCE(args[0]) : NULL;
    if (inst == NULL || inst->klass->builtin) {
        return attr_set(vm, args[0], AS_STR(args[1]), args[2]) && (*result = NONE_VAL, true);
    }
    if (IS_INSTANCE(args[0])) {
        inst_set(vm, inst, AS_STR(args[1]), args[2]);
        *result = NONE_VAL;
        return true;
    }
    if (inst->fields == NULL) {
        inst->fields = dict_new(vm);
    }
    dict_set_str(vm, inst->fields, AS_STR(args[1]), args[2]);
    *result = NONE_VAL;
    return true;
}

static bool object_delattr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    if (!IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError, "attribute name must be string, not '%s'",
                         class_of(vm, args[1])->name->chars);
    }
    ObjInstance *inst = IS_INSTANCE(args[0]) || IS_EXCEPTION(args[0]) ? AS_INSTANCE(args[0]) : NULL;
    bool found = false;
    if (IS_INSTANCE(args[0])) {
        if (!inst_delete(vm, inst, AS_STR(args[1]), &found)) {
            return false;
        }
    } else if (inst != NULL && inst->fields != NULL) {
        if (!dict_delete(vm, inst->fields, args[1], &found)) {
            return false;
        }
    }
    if (!found) {
        return exc_raise(vm, vm->cls.AttributeError, "'%s' object has no attribute '%s'",
                         class_of(vm, args[0])->name->chars, AS_STR(args[1])->chars);
    }
    *result = NONE_VAL;
    return true;
}

static bool object_getattribute(WkVM *vm, Value *args, int argc, ObjDict *kwargs,
                                Value *result) {
    (void)argc;
    (void)kwargs;
    if (!IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError, "attribute name must be string, not '%s'",
                         class_of(vm, args[1])->name->chars);
    }
    ObjInstance *inst = IS_INSTANCE(args[0]) || IS_EXCEPTION(args[0]) ? AS_INSTANCE(args[0]) : NULL;
    if (inst != NULL) {
        Value *v = IS_INSTANCE(args[0]) ? inst_get(inst, AS_STR(args[1]))
                   : inst->fields != NULL ? dict_get_str(inst->fields, AS_STR(args[1]))
                                          : NULL;
        if (v != NULL) {
            *result = *v;
            return true;
        }
    }
    return attr_get(vm, args[0], AS_STR(args[1]), result);
}

// ---- type's methods and the values NotImplemented / Ellipsis ---------------------------------

static bool type_mro(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    if (!IS_CLASS(args[0])) {
        return exc_raise(vm, vm->cls.TypeError, "descriptor 'mro' requires a 'type' object");
    }
    ObjList *l = list_new(vm, 4);
    gc_push_root(vm, OBJ_VAL(l));
    for (ObjClass *c = AS_CLASS(args[0]); c != NULL; c = c->base) {
        list_append(vm, l, OBJ_VAL(c));
    }
    gc_pop_root(vm);
    *result = OBJ_VAL(l);
    return true;
}

static bool type_subclasses(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    // Count first and make the list with room for them all: the walk then allocates nothing,
    // so no collection can change the heap under it. Oldest first, as CPython lists them.
    ObjClass *c = AS_CLASS(args[0]);
    uint32_t count = 0;
    for (size_t i = 0, n = gc_object_count(vm); i < n; i++) {
        Obj *o = gc_object_at(vm, i);
        count += o->type == OBJ_CLASS && ((ObjClass *)o)->base == c;
    }
    ObjList *l = list_new(vm, count);
    gc_push_root(vm, OBJ_VAL(l));
    for (size_t i = 0, n = gc_object_count(vm); i < n && l->count < count; i++) {
        Obj *o = gc_object_at(vm, i);
        if (o->type == OBJ_CLASS && ((ObjClass *)o)->base == c) {
            l->items[l->count++] = OBJ_VAL(o);
        }
    }
    gc_pop_root(vm);
    *result = OBJ_VAL(l);
    return true;
}

static bool singleton_repr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    const char *s = value_is(args[0], vm->not_implemented) ? "NotImplemented" : "Ellipsis";
    *result = OBJ_VAL(str_from_cstr(vm, s));
    return true;
}

static Value make_singleton(WkVM *vm, ObjClass *c) {
    return OBJ_VAL(inst_new(vm, c));
}

// ---- generator methods -----------------------------------------------------------------------

static bool gen_send(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    ObjGenerator *g = (ObjGenerator *)AS_OBJ(args[0]);
    if (g->state == GEN_CREATED && !IS_NONE(args[1])) {
        return exc_raise(vm, vm->cls.TypeError,
                         "can't send non-None value to a just-started generator");
    }
    bool done = false;
    if (g->state == GEN_CLOSED) {
        done = true;
        *result = NONE_VAL;
    } else if (!vm_gen_resume(vm, g, args[1], result, &done)) {
        return false;
    }
    if (done) {
        Value v = *result;
        if (IS_NONE(v)) {
            return exc_raise_value(vm, OBJ_VAL(vm->cls.StopIteration));
        }
        ObjTuple *t = tuple_from(vm, &v, 1);
        gc_push_root(vm, OBJ_VAL(t));
        ObjException *e = exc_new(vm, vm->cls.StopIteration, t);
        gc_pop_root(vm);
        return exc_raise_value(vm, OBJ_VAL(e));
    }
    return true;
}

static bool gen_next(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    Value a[2] = {args[0], NONE_VAL};
    return gen_send(vm, a, 2, kwargs, result);
}

// generator.throw(exc): raise [exc] (an instance or a class) at the paused yield; returns
// the next value yielded, or raises what comes out (StopIteration when it returns).
static bool gen_throw(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    ObjGenerator *g = (ObjGenerator *)AS_OBJ(args[0]);
    if (exc_raise_value(vm, args[1]) || !IS_EXCEPTION(vm->exception)) {
        return false; // not an exception: exc_raise_value raised TypeError
    }
    Value exc = vm->exception;
    vm->exception = EMPTY_VAL;
    bool done = false;
    if (!vm_gen_throw(vm, g, exc, result, &done)) {
        return false;
    }
    if (done) {
        return exc_raise_value(vm, OBJ_VAL(vm->cls.StopIteration));
    }
    return true;
}

// generator.close(): GeneratorExit at the paused yield runs its finally blocks; a generator
// that yields again instead is an error, as in CPython.
static bool gen_close(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    ObjGenerator *g = (ObjGenerator *)AS_OBJ(args[0]);
    *result = NONE_VAL;
    if (g->state != GEN_SUSPENDED) {
        if (g->state == GEN_CREATED) {
            g->state = GEN_CLOSED;
        }
        return true;
    }
    ObjTuple *none = tuple_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(none));
    ObjException *e = exc_new(vm, vm->cls.GeneratorExit, none);
    gc_pop_root(vm);
    bool done = false;
    Value yielded;
    if (vm_gen_throw(vm, g, OBJ_VAL(e), &yielded, &done)) {
        if (!done) {
            return exc_raise(vm, vm->cls.RuntimeError, "generator ignored GeneratorExit");
        }
        return true;
    }
    if (exc_is(vm, vm->exception, vm->cls.GeneratorExit) ||
        exc_is(vm, vm->exception, vm->cls.StopIteration)) {
        vm->exception = EMPTY_VAL;
        return true;
    }
    return false;
}

static bool gen_iter(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)vm;
    (void)argc;
    (void)kwargs;
    *result = args[0];
    return true;
}

// ---- Building the built-in classes -----------------------------------------------------------

static void init_core_classes(WkVM *vm) {
    VMClasses *k = &vm->cls;
    k->object = class_new_builtin(vm, "object", NULL, OBJ_INSTANCE);
    k->object->base = NULL;
    k->object->obj.flags |= CLASS_BASETYPE;
    k->type = class_new_builtin(vm, "type", NULL, OBJ_CLASS);
    k->NoneType = class_new_builtin(vm, "NoneType", NULL, OBJ_KIND_COUNT);
    k->int_ = class_new_builtin(vm, "int", NULL, OBJ_KIND_COUNT);
    k->bool_ = class_new_builtin(vm, "bool", k->int_, OBJ_KIND_COUNT);
    k->float_ = class_new_builtin(vm, "float", NULL, OBJ_KIND_COUNT);
    k->str = class_new_builtin(vm, "str", NULL, OBJ_STR);
    k->tuple = class_new_builtin(vm, "tuple", NULL, OBJ_TUPLE);
    k->list = class_new_builtin(vm, "list", NULL, OBJ_LIST);
    k->dict = class_new_builtin(vm, "dict", NULL, OBJ_DICT);
    k->set = class_new_builtin(vm, "set", NULL, OBJ_SET);
    k->frozenset = class_new_builtin(vm, "frozenset", NULL, OBJ_SET);
    k->range = class_new_builtin(vm, "range", NULL, OBJ_RANGE);
    k->slice = class_new_builtin(vm, "slice", NULL, OBJ_SLICE);
    k->function = class_new_builtin(vm, "function", NULL, OBJ_FUNCTION);
    k->builtin_function =
        class_new_builtin(vm, "builtin_function_or_method", NULL, OBJ_NATIVE);
    k->method = class_new_builtin(vm, "method", NULL, OBJ_BOUND_METHOD);
    k->cell = class_new_builtin(vm, "cell", NULL, OBJ_CELL);
    k->code = class_new_builtin(vm, "code", NULL, OBJ_CODE);
    k->module = class_new_builtin(vm, "module", NULL, OBJ_MODULE);
    k->generator = class_new_builtin(vm, "generator", NULL, OBJ_GENERATOR);
    k->iterator = class_new_builtin(vm, "iterator", NULL, OBJ_ITER);
    k->property = class_new_builtin(vm, "property", NULL, OBJ_PROPERTY);
    k->staticmethod = class_new_builtin(vm, "staticmethod", NULL, OBJ_STATICMETHOD);
    k->classmethod = class_new_builtin(vm, "classmethod", NULL, OBJ_CLASSMETHOD);
    k->super_ = class_new_builtin(vm, "super", NULL, OBJ_INSTANCE);
    k->NotImplementedType = class_new_builtin(vm, "NotImplementedType", NULL, OBJ_INSTANCE);
    k->ellipsis = class_new_builtin(vm, "ellipsis", NULL, OBJ_INSTANCE);
}

static void init_object_methods(WkVM *vm) {
    ObjClass *o = vm->cls.object;
    class_add_native(vm, o, "__init__", object_init, 1, -1, true);
    class_add_native(vm, o, "__new__", object_new, 1, -1, true);
    class_add_native(vm, o, "__repr__", object_repr, 1, 1, false);
    class_add_native(vm, o, "__str__", object_str, 1, 1, false);
    class_add_native(vm, o, "__eq__", object_eq, 2, 2, false);
    class_add_native(vm, o, "__ne__", object_ne, 2, 2, false);
    class_add_native(vm, o, "__hash__", object_hash, 1, 1, false);
    class_add_native(vm, o, "__format__", object_format, 2, 2, false);
    class_add_native(vm, o, "__setattr__", object_setattr, 3, 3, false);
    class_add_native(vm, o, "__delattr__", object_delattr, 2, 2, false);
    class_add_native(vm, o, "__getattribute__", object_getattribute, 2, 2, false);
    class_add_native(vm, vm->cls.type, "mro", type_mro, 1, 1, false);
    class_add_native(vm, vm->cls.type, "__subclasses__", type_subclasses, 1, 1, false);
    class_add_native(vm, vm->cls.NotImplementedType, "__repr__", singleton_repr, 1, 1, false);
    class_add_native(vm, vm->cls.ellipsis, "__repr__", singleton_repr, 1, 1, false);
    class_add_native(vm, vm->cls.generator, "send", gen_send, 2, 2, false);
    class_add_native(vm, vm->cls.generator, "throw", gen_throw, 2, 2, false);
    class_add_native(vm, vm->cls.generator, "close", gen_close, 1, 1, false);
    class_add_native(vm, vm->cls.generator, "__next__", gen_next, 1, 1, false);
    class_add_native(vm, vm->cls.generator, "__iter__", gen_iter, 1, 1, false);
    class_add_native(vm, vm->cls.iterator, "__iter__", gen_iter, 1, 1, false);
    // object's natives are the defaults: they set no dunder bits.
    o->dunders = 0;
    o->has_getattr = false;
}

void class_init_builtins(WkVM *vm) {
    init_core_classes(vm);
    init_object_methods(vm);
    vm->not_implemented = make_singleton(vm, vm->cls.NotImplementedType);
    vm->ellipsis = make_singleton(vm, vm->cls.ellipsis);
    str_init_class(vm);
    list_init_class(vm);
    tuple_init_class(vm);
    dict_init_class(vm);
    set_init_class(vm);
    num_init_class(vm);
    iter_init_class(vm);
    exc_init_classes(vm);
    builtins_init_constructors(vm);
}

