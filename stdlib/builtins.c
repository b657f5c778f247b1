// The builtins namespace: the built-in functions (print, len, isinstance, ...) and the
// constructors of the built-in types, registered as their classes' __new__ natives so that
// class_call reaches them. Argument errors use CPython's words.
#include "stdlib/builtins.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "stdlib/mod_sys.h"
#include "vm/attr.h"
#include "vm/inst.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/iter.h"
#include "vm/list.h"
#include "vm/num.h"
#include "vm/opcode.h"
#include "vm/ops.h"
#include "vm/str.h"
#include "vm/table.h"

#define UNUSED(x) (void)(x)

static const char *tname(WkVM *vm, Value v) {
    if (IS_KIND(v, OBJ_ITER)) {
        return iter_type_name((ObjIter *)AS_OBJ(v));
    }
    return class_of(vm, v)->name->chars;
}

static bool is_intlike(Value v) {
    return IS_INT(v) || IS_BOOL(v);
}

static int64_t as_int(Value v) {
    return IS_BOOL(v) ? (int64_t)AS_BOOL(v) : AS_INT(v);
}

static Value kwarg(ObjDict *kwargs, const char *name) {
    Value *v = dict_get_cstr(kwargs, name);
    return v != NULL ? *v : EMPTY_VAL;
}

static bool check_kw(WkVM *vm, ObjDict *kwargs, const char *fname, const char *const *names) {
    return kwargs == NULL || dict_check_kwargs(vm, kwargs, fname, names);
}

// A dunder of an instance-like value's class (not object's defaults), or NULL.
static Value *own_dunder(WkVM *vm, Value v, const char *name) {
    if (!IS_OBJ(v)) {
        return NULL;
    }
    uint8_t t = OBJ_TYPE(v);
    if (t != OBJ_INSTANCE && t != OBJ_EXCEPTION && !(t >= OBJ_WEAKREF && t <= OBJ_FINALIZE)) {
        return NULL;
    }
    return class_lookup_own(vm, class_of(vm, v), str_intern(vm, name, strlen(name)));
}

static bool call_own_dunder(WkVM *vm, Value d, Value self, int argc, Value *args, Value *out) {
    return class_call_with_self(vm, d, self, argc, args, NULL, out);
}

// ============================================================================================
// Constructors of the built-in types: __new__(cls, ...)
// ============================================================================================

static bool int_from(WkVM *vm, Value x, Value *result) {
    if (is_intlike(x)) {
        *result = INT_VAL(as_int(x));
        return true;
    }
    if (IS_FLOAT(x)) {
        int64_t i;
        if (!num_float_to_int(vm, AS_FLOAT(x), &i)) {
            return false;
        }
        *result = INT_VAL(i);
        return true;
    }
    if (IS_STR(x)) {
        int64_t i;
        if (!num_parse_int(vm, AS_STR(x), 10, &i)) {
            return false;
        }
        *result = INT_VAL(i);
        return true;
    }
    static const char *const hooks[] = {"__int__", "__index__", "__trunc__", NULL};
    for (int h = 0; hooks[h] != NULL; h++) {
        Value *d = own_dunder(vm, x, hooks[h]);
        if (d != NULL) {
            if (!call_own_dunder(vm, *d, x, 0, NULL, result)) {
                return false;
            }
            if (!is_intlike(*result)) {
                return exc_raise(vm, vm->cls.TypeError, "%s returned non-int (type %s)",
                                 hooks[h], tname(vm, *result));
            }
            *result = INT_VAL(as_int(*result));
            return true;
        }
    }
    return exc_raise(vm, vm->cls.TypeError,
                     "int() argument must be a string, a bytes-like object or a real number, "
                     "not '%s'",
                     tname(vm, x));
}

static bool ctor_int(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    static const char *const names[] = {"base", NULL};
    if (!check_kw(vm, kwargs, "int", names)) {
        return false;
    }
    Value base = argc > 2 ? args[2] : kwarg(kwargs, "base");
    if (argc > 3) {
        return exc_raise(vm, vm->cls.TypeError, "int() takes at most 2 arguments (%d given)",
                         argc - 1);
    }
    if (argc == 1) {
        if (!IS_EMPTY(base)) {
            return exc_raise(vm, vm->cls.TypeError, "int() missing string argument");
        }
        *result = INT_VAL(0);
        return true;
    }
    if (IS_EMPTY(base)) {
        return int_from(vm, args[1], result);
    }
    int64_t b;
    if (!ops_index(vm, base, &b)) {
        return false;
    }
    if (!IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError, "int() can't convert non-string with explicit base");
    }
    if (b != 0 && (b < 2 || b > 36)) {
        return exc_raise(vm, vm->cls.ValueError, "int() base must be >= 2 and <= 36, or 0");
    }
    int64_t i;
    if (!num_parse_int(vm, AS_STR(args[1]), (int)b, &i)) {
        return false;
    }
    *result = INT_VAL(i);
    return true;
}

static bool ctor_float(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc > 2) {
        return exc_raise(vm, vm->cls.TypeError, "float expected at most 1 argument, got %d",
                         argc - 1);
    }
    if (argc == 1) {
        *result = FLOAT_VAL(0.0);
        return true;
    }
    Value x = args[1];
    if (IS_FLOAT(x)) {
        *result = x;
        return true;
    }
    if (is_intlike(x)) {
        *result = FLOAT_VAL((double)as_int(x));
        return true;
    }
    if (IS_STR(x)) {
        double d;
        if (!num_parse_float(vm, AS_STR(x), &d)) {
            return false;
        }
        *result = FLOAT_VAL(d);
        return true;
    }
    static const char *const hooks[] = {"__float__", "__index__", NULL};
    for (int h = 0; hooks[h] != NULL; h++) {
        Value *d = own_dunder(vm, x, hooks[h]);
        if (d != NULL) {
            if (!call_own_dunder(vm, *d, x, 0, NULL, result)) {
                return false;
            }
            if (h == 0 && !IS_FLOAT(*result)) {
                return exc_raise(vm, vm->cls.TypeError, "%s.__float__ returned non-float (type %s)",
                                 tname(vm, x), tname(vm, *result));
            }
            if (is_intlike(*result)) {
                *result = FLOAT_VAL((double)as_int(*result));
            }
            return true;
        }
    }
    return exc_raise(vm, vm->cls.TypeError,
                     "float() argument must be a string or a real number, not '%s'", tname(vm, x));
}

static bool ctor_str(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    static const char *const names[] = {"object", NULL};
    if (!check_kw(vm, kwargs, "str", names)) {
        return false;
    }
    Value x = argc > 1 ? args[1] : kwarg(kwargs, "object");
    if (argc > 2) {
        return exc_raise(vm, vm->cls.TypeError, "str() argument 'encoding' must be str, not %s",
                         tname(vm, args[2]));
    }
    if (IS_EMPTY(x)) {
        *result = OBJ_VAL(str_new(vm, "", 0));
        return true;
    }
    ObjStr *s;
    if (!ops_str(vm, x, &s)) {
        return false;
    }
    *result = OBJ_VAL(s);
    return true;
}

static bool ctor_bool(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc > 2) {
        return exc_raise(vm, vm->cls.TypeError, "bool expected at most 1 argument, got %d",
                         argc - 1);
    }
    bool t = false;
    if (argc == 2 && !ops_truthy(vm, args[1], &t)) {
        return false;
    }
    *result = BOOL_VAL(t);
    return true;
}

static bool ctor_list(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc > 2) {
        return exc_raise(vm, vm->cls.TypeError, "list expected at most 1 argument, got %d",
                         argc - 1);
    }
    if (argc == 1) {
        *result = OBJ_VAL(list_new(vm, 0));
        return true;
    }
    ObjList *l;
    if (!list_from_iterable(vm, args[1], &l)) {
        return false;
    }
    *result = OBJ_VAL(l);
    return true;
}

static bool ctor_tuple(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc > 2) {
        return exc_raise(vm, vm->cls.TypeError, "tuple expected at most 1 argument, got %d",
                         argc - 1);
    }
    if (argc == 1) {
        *result = OBJ_VAL(tuple_new(vm, 0));
        return true;
    }
    if (IS_TUPLE(args[1])) {
        *result = args[1];
        return true;
    }
    ObjList *l;
    if (!list_from_iterable(vm, args[1], &l)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(l));
    *result = OBJ_VAL(tuple_from(vm, l->items, l->count));
    gc_pop_root(vm);
    return true;
}

static bool ctor_dict(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    if (argc > 2) {
        return exc_raise(vm, vm->cls.TypeError, "dict expected at most 1 argument, got %d",
                         argc - 1);
    }
    ObjDict *d = dict_new(vm);
    gc_push_root(vm, OBJ_VAL(d));
    bool ok = true;
    if (argc == 2) {
        ok = dict_update(vm, d, args[1]);
    }
    if (ok && kwargs != NULL) {
        ok = dict_update(vm, d, OBJ_VAL(kwargs));
    }
    gc_pop_root(vm);
    *result = OBJ_VAL(d);
    return ok;
}

static bool make_set(WkVM *vm, Value *args, int argc, bool frozen, Value *result) {
    const char *name = frozen ? "frozenset" : "set";
    if (argc > 2) {
        return exc_raise(vm, vm->cls.TypeError, "%s expected at most 1 argument, got %d", name,
                         argc - 1);
    }
    if (argc == 1) {
        *result = OBJ_VAL(set_new_kind(vm, frozen));
        return true;
    }
    if (frozen && IS_SET(args[1]) && AS_SET(args[1])->frozen) {
        *result = args[1];
        return true;
    }
    ObjSet *s;
    if (!set_from_iterable(vm, args[1], frozen, &s)) {
        return false;
    }
    *result = OBJ_VAL(s);
    return true;
}

static bool ctor_set(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    return make_set(vm, args, argc, false, result);
}

static bool ctor_frozenset(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    return make_set(vm, args, argc, true, result);
}

static bool ctor_range(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc == 1) {
        return exc_raise(vm, vm->cls.TypeError, "range expected at least 1 argument, got 0");
    }
    if (argc > 4) {
        return exc_raise(vm, vm->cls.TypeError, "range expected at most 3 arguments, got %d",
                         argc - 1);
    }
    return range_from_args(vm, argc - 1, args + 1, result);
}

static bool ctor_slice(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc == 1) {
        return exc_raise(vm, vm->cls.TypeError, "slice expected at least 1 argument, got 0");
    }
    if (argc > 4) {
        return exc_raise(vm, vm->cls.TypeError, "slice expected at most 3 arguments, got %d",
                         argc - 1);
    }
    Value start = NONE_VAL, stop, step = NONE_VAL;
    if (argc == 2) {
        stop = args[1];
    } else {
        start = args[1];
        stop = args[2];
        if (argc == 4) {
            step = args[3];
        }
    }
    *result = OBJ_VAL(slice_new(vm, start, stop, step));
    return true;
}

static bool ctor_type(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc == 2) {
        *result = OBJ_VAL(class_of(vm, args[1]));
        return true;
    }
    if (argc != 4) {
        return exc_raise(vm, vm->cls.TypeError, "type() takes 1 or 3 arguments");
    }
    if (!IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError, "type.__new__() argument 1 must be str, not %s",
                         tname(vm, args[1]));
    }
    if (!IS_TUPLE(args[2])) {
        return exc_raise(vm, vm->cls.TypeError, "type.__new__() argument 2 must be tuple, not %s",
                         tname(vm, args[2]));
    }
    if (!IS_DICT(args[3])) {
        return exc_raise(vm, vm->cls.TypeError, "type.__new__() argument 3 must be dict, not %s",
                         tname(vm, args[3]));
    }
    ObjDict *ns = dict_copy(vm, AS_DICT(args[3]));
    gc_push_root(vm, OBJ_VAL(ns));
    ObjTuple *bases = AS_TUPLE(args[2]);
    bool ok = class_build(vm, AS_STR(args[1]), bases->items, (int)bases->count, ns, result);
    gc_pop_root(vm);
    return ok;
}

static bool ctor_property(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    static const char *const names[] = {"fget", "fset", "fdel", "doc", NULL};
    if (!check_kw(vm, kwargs, "property", names)) {
        return false;
    }
    if (argc > 5) {
        return exc_raise(vm, vm->cls.TypeError, "property() takes at most 4 arguments (%d given)",
                         argc - 1);
    }
    Value v[3];
    for (int i = 0; i < 3; i++) {
        v[i] = argc > i + 1 ? args[i + 1] : kwarg(kwargs, names[i]);
        if (IS_EMPTY(v[i])) {
            v[i] = NONE_VAL;
        }
    }
    ObjProperty *p = (ObjProperty *)gc_alloc_object(vm, sizeof(ObjProperty), OBJ_PROPERTY);
    p->getter = v[0];
    p->setter = v[1];
    p->deleter = v[2];
    *result = OBJ_VAL(p);
    return true;
}

static Value make_wrapper(WkVM *vm, ObjType kind, Value func) {
    ObjWrapper *w = (ObjWrapper *)gc_alloc_object(vm, sizeof(ObjWrapper), kind);
    w->func = func;
    return OBJ_VAL(w);
}

static bool ctor_staticmethod(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc != 2) {
        return exc_raise(vm, vm->cls.TypeError, "staticmethod expected 1 argument, got %d",
                         argc - 1);
    }
    *result = make_wrapper(vm, OBJ_STATICMETHOD, args[1]);
    return true;
}

static bool ctor_classmethod(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc != 2) {
        return exc_raise(vm, vm->cls.TypeError, "classmethod expected 1 argument, got %d",
                         argc - 1);
    }
    *result = make_wrapper(vm, OBJ_CLASSMETHOD, args[1]);
    return true;
}

// super() with no arguments: __class__ from the calling function's cell and its first argument.
static bool super_implicit(WkVM *vm, Value *klass, Value *self) {
    if (vm->frame_count == 0) {
        return exc_raise(vm, vm->cls.RuntimeError, "super(): no current frame");
    }
    CallFrame *fr = &vm->frames[vm->frame_count - 1];
    ObjCode *code = fr->code;
    if (code->argcount == 0 && !(code->flags & 1)) {
        return exc_raise(vm, vm->cls.RuntimeError, "super(): no arguments");
    }
    *self = fr->slots[0];
    for (int i = 0; i < code->ncells; i++) {
        if (code->cell2arg != NULL && code->cell2arg[i] == 0) {
            Value c = fr->slots[code->nlocals + i];
            if (IS_KIND(c, OBJ_CELL)) {
                *self = ((ObjCell *)AS_OBJ(c))->value;
            }
        }
    }
    for (int i = 0; i < code->nfrees; i++) {
        if (strcmp(code->freenames[i]->chars, "__class__") == 0) {
            Value c = fr->slots[code->nlocals + code->ncells + i];
            if (!IS_KIND(c, OBJ_CELL) || !IS_CLASS(((ObjCell *)AS_OBJ(c))->value)) {
                return exc_raise(vm, vm->cls.RuntimeError, "super(): empty __class__ cell");
            }
            *klass = ((ObjCell *)AS_OBJ(c))->value;
            if (IS_EMPTY(*self)) {
                return exc_raise(vm, vm->cls.RuntimeError, "super(): arg[0] deleted");
            }
            return true;
        }
    }
    return exc_raise(vm, vm->cls.RuntimeError, "super(): __class__ cell not found");
}

static bool ctor_super(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    Value klass, self;
    if (argc == 1) {
        if (!super_implicit(vm, &klass, &self)) {
            return false;
        }
    } else if (argc == 3) {
        klass = args[1];
        self = args[2];
    } else {
        return exc_raise(vm, vm->cls.TypeError, "super() takes 0 or 2 arguments in wk");
    }
    if (!IS_CLASS(klass)) {
        return exc_raise(vm, vm->cls.TypeError, "super() argument 1 must be a type, not %s",
                         tname(vm, klass));
    }
    ObjClass *k = AS_CLASS(klass);
    if (!class_isinstance(vm, self, k) &&
        !(IS_CLASS(self) && class_is_subclass(AS_CLASS(self), k))) {
        return exc_raise(vm, vm->cls.TypeError,
                         "super(type, obj): obj must be an instance or subtype of type");
    }
    gc_push_root(vm, klass);
    gc_push_root(vm, self);
    ObjInstance *s = inst_new(vm, vm->cls.super_);
    gc_push_root(vm, OBJ_VAL(s));
    s->fields = dict_new(vm);
    ObjStr *k1 = str_intern(vm, "__thisclass__", 13);
    gc_push_root(vm, OBJ_VAL(k1));
    dict_set_str(vm, s->fields, k1, klass);
    ObjStr *k2 = str_intern(vm, "__self__", 8);
    gc_push_root(vm, OBJ_VAL(k2));
    dict_set_str(vm, s->fields, k2, self);
    gc_pop_roots(vm, 5);
    *result = OBJ_VAL(s);
    return true;
}

static bool super_repr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    ObjDict *f = AS_INSTANCE(args[0])->fields;
    Value *k = f != NULL ? dict_get_cstr(f, "__thisclass__") : NULL;
    Value *s = f != NULL ? dict_get_cstr(f, "__self__") : NULL;
    if (k == NULL || s == NULL || !IS_CLASS(*k)) {
        *result = OBJ_VAL(str_from_cstr(vm, "<super: <class 'NoneType'>, NULL>"));
        return true;
    }
    *result = OBJ_VAL(str_printf(vm, "<super: <class '%s'>, <%s object>>",
                                 AS_CLASS(*k)->name->chars, tname(vm, *s)));
    return true;
}

// property.getter / setter / deleter: a copy with one accessor replaced.
static bool property_copy(WkVM *vm, Value *args, int which, Value *result) {
    if (!IS_KIND(args[0], OBJ_PROPERTY)) {
        return exc_raise(vm, vm->cls.TypeError, "descriptor requires a 'property' object");
    }
    ObjProperty *old = (ObjProperty *)AS_OBJ(args[0]);
    ObjProperty *p = (ObjProperty *)gc_alloc_object(vm, sizeof(ObjProperty), OBJ_PROPERTY);
    p->getter = old->getter;
    p->setter = old->setter;
    p->deleter = old->deleter;
    if (which == 0) {
        p->getter = args[1];
    } else if (which == 1) {
        p->setter = args[1];
    } else {
        p->deleter = args[1];
    }
    *result = OBJ_VAL(p);
    return true;
}

static bool property_getter(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return property_copy(vm, args, 0, result);
}

static bool property_setter(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return property_copy(vm, args, 1, result);
}

static bool property_deleter(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return property_copy(vm, args, 2, result);
}

static bool property_get_dunder(WkVM *vm, Value *args, int argc, ObjDict *kwargs,
                                Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    ObjProperty *p = (ObjProperty *)AS_OBJ(args[0]);
    if (IS_NONE(args[1])) {
        *result = args[0];
        return true;
    }
    if (IS_NONE(p->getter)) {
        return exc_raise(vm, vm->cls.AttributeError, "unreadable attribute");
    }
    return vm_call(vm, p->getter, 1, &args[1], NULL, result);
}

void builtins_init_constructors(WkVM *vm) {
    VMClasses *k = &vm->cls;
    struct {
        ObjClass *c;
        const char *name;
        NativeFn fn;
        bool kw;
    } ctors[] = {
        {k->int_, "int", ctor_int, true},
        {k->float_, "float", ctor_float, false},
        {k->str, "str", ctor_str, true},
        {k->bool_, "bool", ctor_bool, false},
        {k->list, "list", ctor_list, false},
        {k->tuple, "tuple", ctor_tuple, false},
        {k->dict, "dict", ctor_dict, true},
        {k->set, "set", ctor_set, false},
        {k->frozenset, "frozenset", ctor_frozenset, false},
        {k->range, "range", ctor_range, false},
        {k->slice, "slice", ctor_slice, false},
        {k->type, "type", ctor_type, false},
        {k->property, "property", ctor_property, true},
        {k->staticmethod, "staticmethod", ctor_staticmethod, false},
        {k->classmethod, "classmethod", ctor_classmethod, false},
        {k->super_, "super", ctor_super, false},
    };
    for (size_t i = 0; i < sizeof(ctors) / sizeof(ctors[0]); i++) {
        ObjNative *n = class_native_new(vm, ctors[i].name, ctors[i].fn, 1, -1, ctors[i].kw);
        gc_push_root(vm, OBJ_VAL(n));
        dict_set_str(vm, ctors[i].c->dict, vm->names.__new__, OBJ_VAL(n));
        gc_pop_root(vm);
    }
    class_add_native(vm, k->super_, "__repr__", super_repr, 1, 1, false);
    class_add_native(vm, k->property, "getter", property_getter, 2, 2, false);
    class_add_native(vm, k->property, "setter", property_setter, 2, 2, false);
    class_add_native(vm, k->property, "deleter", property_deleter, 2, 2, false);
    class_add_native(vm, k->property, "__get__", property_get_dunder, 2, 3, false);
}

// ============================================================================================
// Built-in functions
// ============================================================================================

// ---- print and input -------------------------------------------------------------------------

static bool write_to(WkVM *vm, Value file, FILE *stream, ObjStr *s) {
    if (stream != NULL) {
        fwrite(s->chars, 1, s->size, stream);
        return true;
    }
    Value r;
    Value sv = OBJ_VAL(s);
    return vm_call_method(vm, file, str_intern(vm, "write", 5), 1, &sv, &r);
}

static bool opt_str(WkVM *vm, Value v, const char *what, const char *dflt, ObjStr **out) {
    if (IS_EMPTY(v) || IS_NONE(v)) {
        *out = str_from_cstr(vm, dflt);
        return true;
    }
    if (!IS_STR(v)) {
        return exc_raise(vm, vm->cls.TypeError, "%s must be None or a string, not %s", what,
                         tname(vm, v));
    }
    *out = AS_STR(v);
    return true;
}

static bool bi_print(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    static const char *const names[] = {"sep", "end", "file", "flush", NULL};
    if (!check_kw(vm, kwargs, "print", names)) {
        return false;
    }
    ObjStr *sep, *end;
    if (!opt_str(vm, kwarg(kwargs, "sep"), "sep", " ", &sep)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(sep));
    if (!opt_str(vm, kwarg(kwargs, "end"), "end", "\n", &end)) {
        gc_pop_root(vm);
        return false;
    }
    gc_push_root(vm, OBJ_VAL(end));
    Value file = kwarg(kwargs, "file");
    FILE *stream = vm->out;
    if (!IS_EMPTY(file) && !IS_NONE(file)) {
        stream = mod_sys_stream(vm, file);
    }
    bool ok = true;
    for (int i = 0; i < argc && ok; i++) {
        ObjStr *s;
        if (i > 0) {
            ok = write_to(vm, file, stream, sep);
        }
        ok = ok && ops_str(vm, args[i], &s) && write_to(vm, file, stream, s);
    }
    ok = ok && write_to(vm, file, stream, end);
    Value flush = kwarg(kwargs, "flush");
    bool fl = false;
    if (ok && !IS_EMPTY(flush) && ops_truthy(vm, flush, &fl) && fl && stream != NULL) {
        fflush(stream);
    }
    if (stream == vm->err) {
        fflush(stream);
    }
    gc_pop_roots(vm, 2);
    *result = NONE_VAL;
    return ok;
}

static bool bi_input(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc > 0) {
        ObjStr *p;
        if (!ops_str(vm, args[0], &p)) {
            return false;
        }
        fwrite(p->chars, 1, p->size, vm->out);
    }
    fflush(vm->out);
    StrBuf b;
    strbuf_init(&b);
    int c;
    bool any = false;
    while ((c = fgetc(stdin)) != EOF) {
        any = true;
        if (c == '\n') {
            break;
        }
        strbuf_addc(&b, (char)c);
    }
    if (!any) {
        strbuf_free(&b);
        return exc_raise(vm, vm->cls.EOFError, "EOF when reading a line");
    }
    if (b.size > 0 && b.chars[b.size - 1] == '\r') {
        b.size--;
    }
    *result = OBJ_VAL(strbuf_finish(vm, &b));
    return true;
}

// ---- Basic protocols -------------------------------------------------------------------------

static bool bi_len(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    int64_t n;
    if (!ops_len(vm, args[0], &n)) {
        return false;
    }
    *result = INT_VAL(n);
    return true;
}

static bool bi_repr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    ObjStr *s;
    if (!ops_repr(vm, args[0], &s)) {
        return false;
    }
    *result = OBJ_VAL(s);
    return true;
}

static bool bi_ascii(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    ObjStr *s;
    if (!ops_repr(vm, args[0], &s)) {
        return false;
    }
    StrBuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < s->size;) {
        unsigned char c = (unsigned char)s->chars[i];
        if (c < 0x80) {
            strbuf_addc(&b, (char)c);
            i++;
            continue;
        }
        int len;
        uint32_t cp = str_decode_utf8(s->chars + i, &len);
        i += (size_t)len;
        if (cp <= 0xff) {
            strbuf_addf(&b, "\\x%02x", cp);
        } else if (cp <= 0xffff) {
            strbuf_addf(&b, "\\u%04x", cp);
        } else {
            strbuf_addf(&b, "\\U%08x", cp);
        }
    }
    *result = OBJ_VAL(strbuf_finish(vm, &b));
    return true;
}

static bool bi_format(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    ObjStr *spec = NULL;
    if (argc > 1) {
        if (!IS_STR(args[1])) {
            return exc_raise(vm, vm->cls.TypeError, "format() argument 2 must be str, not %s",
                             tname(vm, args[1]));
        }
        spec = AS_STR(args[1]);
    }
    ObjStr *s;
    if (!ops_format(vm, args[0], spec, &s)) {
        return false;
    }
    *result = OBJ_VAL(s);
    return true;
}

static bool bi_hash(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    uint64_t h;
    if (!ops_hash(vm, args[0], &h)) {
        return false;
    }
    *result = INT_VAL((int64_t)h);
    return true;
}

static bool bi_id(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(vm);
    UNUSED(argc);
    UNUSED(kwargs);
    Value v = args[0];
    int64_t id;
    switch (v.type) {
    case VAL_OBJ:
        id = (int64_t)(uintptr_t)AS_OBJ(v);
        break;
    case VAL_INT:
        id = (int64_t)(((uint64_t)AS_INT(v) << 4) | 1u) & INT64_MAX;
        break;
    case VAL_FLOAT: {
        uint64_t bits;
        memcpy(&bits, &AS_FLOAT(v), sizeof(bits));
        id = (int64_t)((bits | 3u) & INT64_MAX);
        break;
    }
    case VAL_BOOL:
        id = AS_BOOL(v) ? 0x5u : 0x7u;
        break;
    default:
        id = 0x9u;
        break;
    }
    *result = INT_VAL(id);
    return true;
}

static bool bi_iter(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc == 2) {
        *result = OBJ_VAL(iter_callable(vm, args[0], args[1]));
        return true;
    }
    return ops_iter(vm, args[0], result);
}

static bool bi_next(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    bool done;
    Value it = args[0];
    bool is_iter = IS_KIND(it, OBJ_ITER) || IS_KIND(it, OBJ_GENERATOR) ||
                   own_dunder(vm, it, "__next__") != NULL;
    if (!is_iter) {
        return exc_raise(vm, vm->cls.TypeError, "'%s' object is not an iterator", tname(vm, it));
    }
    if (!ops_next(vm, it, result, &done)) {
        return false;
    }
    if (done) {
        if (argc > 1) {
            *result = args[1];
            return true;
        }
        if (IS_KIND(it, OBJ_GENERATOR) && !IS_NONE(*result)) {
            Value v = *result;
            ObjTuple *t = tuple_from(vm, &v, 1);
            gc_push_root(vm, OBJ_VAL(t));
            ObjException *e = exc_new(vm, vm->cls.StopIteration, t);
            gc_pop_root(vm);
            return exc_raise_value(vm, OBJ_VAL(e));
        }
        return exc_raise_value(vm, OBJ_VAL(vm->cls.StopIteration));
    }
    return true;
}

// ---- Iteration helpers -----------------------------------------------------------------------

static bool bi_enumerate(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    static const char *const names[] = {"iterable", "start", NULL};
    if (!check_kw(vm, kwargs, "enumerate", names)) {
        return false;
    }
    Value it = argc > 0 ? args[0] : kwarg(kwargs, "iterable");
    Value st = argc > 1 ? args[1] : kwarg(kwargs, "start");
    if (IS_EMPTY(it)) {
        return exc_raise(vm, vm->cls.TypeError,
                         "enumerate() missing required argument 'iterable' (pos 1)");
    }
    int64_t start = 0;
    if (!IS_EMPTY(st)) {
        if (!is_intlike(st)) {
            return exc_raise(vm, vm->cls.TypeError,
                             "'%s' object cannot be interpreted as an integer", tname(vm, st));
        }
        start = as_int(st);
    }
    return iter_enumerate(vm, it, start, result);
}

static bool bi_zip(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    static const char *const names[] = {"strict", NULL};
    if (!check_kw(vm, kwargs, "zip", names)) {
        return false;
    }
    return iter_zip(vm, argc, args, result);
}

static bool bi_map(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    if (argc < 2) {
        return exc_raise(vm, vm->cls.TypeError, "map() must have at least two arguments.");
    }
    return iter_map(vm, args[0], argc - 1, args + 1, result);
}

static bool bi_filter(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return iter_filter(vm, args[0], args[1], result);
}

static bool bi_reversed(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    Value seq = args[0];
    if (IS_LIST(seq) || IS_TUPLE(seq) || IS_STR(seq) || IS_KIND(seq, OBJ_RANGE)) {
        return iter_reversed(vm, seq, result);
    }
    Value *d = own_dunder(vm, seq, "__reversed__");
    if (d != NULL) {
        return call_own_dunder(vm, *d, seq, 0, NULL, result);
    }
    ObjList *l = NULL;
    if (IS_DICT(seq) || (IS_KIND(seq, OBJ_ITER) && (AS_OBJ(seq)->flags & ITER_FLAG_VIEW))) {
        if (!list_from_iterable(vm, seq, &l)) {
            return false;
        }
    } else if (own_dunder(vm, seq, "__getitem__") != NULL && own_dunder(vm, seq, "__len__")) {
        int64_t n;
        if (!ops_len(vm, seq, &n)) {
            return false;
        }
        l = list_new(vm, (uint32_t)n);
        gc_push_root(vm, OBJ_VAL(l));
        for (int64_t i = 0; i < n; i++) {
            Value v;
            if (!ops_getitem(vm, seq, INT_VAL(i), &v)) {
                gc_pop_root(vm);
                return false;
            }
            list_append(vm, l, v);
        }
        gc_pop_root(vm);
    } else {
        return exc_raise(vm, vm->cls.TypeError, "'%s' object is not reversible", tname(vm, seq));
    }
    gc_push_root(vm, OBJ_VAL(l));
    bool ok = iter_reversed(vm, OBJ_VAL(l), result);
    gc_pop_root(vm);
    return ok;
}

static bool bi_sorted(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    static const char *const names[] = {"key", "reverse", NULL};
    if (!check_kw(vm, kwargs, "sorted", names)) {
        return false;
    }
    if (argc != 1) {
        return exc_raise(vm, vm->cls.TypeError, "sorted expected 1 argument, got %d", argc);
    }
    Value key = kwarg(kwargs, "key");
    Value rev = kwarg(kwargs, "reverse");
    bool reverse = false;
    if (!IS_EMPTY(rev) && !ops_truthy(vm, rev, &reverse)) {
        return false;
    }
    ObjList *l;
    if (!list_from_iterable(vm, args[0], &l)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(l));
    bool ok = list_sort(vm, l, IS_EMPTY(key) ? NONE_VAL : key, reverse);
    gc_pop_root(vm);
    *result = OBJ_VAL(l);
    return ok;
}

// min() and max(): [op] is OPCODE_LT for min, OPCODE_GT for max.
static bool min_max(WkVM *vm, Value *args, int argc, ObjDict *kwargs, int op, Value *result) {
    const char *fname = op == OPCODE_LT ? "min" : "max";
    static const char *const names[] = {"key", "default", NULL};
    if (!check_kw(vm, kwargs, fname, names)) {
        return false;
    }
    if (argc == 0) {
        return exc_raise(vm, vm->cls.TypeError, "%s expected at least 1 argument, got 0", fname);
    }
    Value key = kwarg(kwargs, "key");
    Value dflt = kwarg(kwargs, "default");
    if (IS_NONE(key)) {
        key = EMPTY_VAL;
    }
    if (argc > 1 && !IS_EMPTY(dflt)) {
        return exc_raise(vm, vm->cls.TypeError,
                         "Cannot specify a default for %s() with multiple positional arguments",
                         fname);
    }
    Value it;
    if (argc == 1) {
        if (!ops_iter(vm, args[0], &it)) {
            return false;
        }
    } else {
        ObjTuple *t = tuple_from(vm, args, (uint32_t)argc);
        gc_push_root(vm, OBJ_VAL(t));
        bool ok = ops_iter(vm, OBJ_VAL(t), &it);
        gc_pop_root(vm);
        if (!ok) {
            return false;
        }
    }
    // roots: it, best, bestk
    gc_push_root(vm, it);
    Value best = EMPTY_VAL, bestk = EMPTY_VAL;
    gc_push_root(vm, best);
    gc_push_root(vm, bestk);
    Value *rb = &vm->gc.temp_roots[vm->gc.temp_count - 2];
    Value *rk = &vm->gc.temp_roots[vm->gc.temp_count - 1];
    bool ok = true;
    for (;;) {
        Value x, k;
        bool done;
        if (!(ok = ops_next(vm, it, &x, &done)) || done) {
            break;
        }
        gc_push_root(vm, x);
        k = x;
        if (!IS_EMPTY(key)) {
            ok = vm_call(vm, key, 1, &x, NULL, &k);
        }
        if (ok && !IS_EMPTY(*rk)) {
            gc_push_root(vm, k);
            Value r;
            bool better = false;
            ok = ops_compare(vm, op, k, *rk, &r) && ops_truthy(vm, r, &better);
            gc_pop_root(vm);
            if (ok && better) {
                *rb = x;
                *rk = k;
            }
        } else if (ok) {
            *rb = x;
            *rk = k;
        }
        gc_pop_root(vm);
        if (!ok) {
            break;
        }
    }
    best = *rb;
    gc_pop_roots(vm, 3);
    if (!ok) {
        return false;
    }
    if (IS_EMPTY(best)) {
        if (!IS_EMPTY(dflt)) {
            *result = dflt;
            return true;
        }
        return exc_raise(vm, vm->cls.ValueError, "%s() arg is an empty sequence", fname);
    }
    *result = best;
    return true;
}

static bool bi_min(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    return min_max(vm, args, argc, kwargs, OPCODE_LT, result);
}

static bool bi_max(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    return min_max(vm, args, argc, kwargs, OPCODE_GT, result);
}

static bool bi_sum(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    static const char *const names[] = {"start", NULL};
    if (!check_kw(vm, kwargs, "sum", names)) {
        return false;
    }
    Value acc = argc > 1 ? args[1] : kwarg(kwargs, "start");
    if (IS_EMPTY(acc)) {
        acc = INT_VAL(0);
    }
    if (IS_STR(acc)) {
        return exc_raise(vm, vm->cls.TypeError,
                         "sum() can't sum strings [use ''.join(seq) instead]");
    }
    return ops_fold(vm, args[0], OPCODE_ADD, acc, result);
}

static bool bi_abs(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    Value v = args[0];
    if (is_intlike(v)) {
        int64_t i = as_int(v);
        if (i == INT64_MIN) {
            return exc_raise(vm, vm->cls.OverflowError, "integer overflow");
        }
        *result = INT_VAL(i < 0 ? -i : i);
        return true;
    }
    if (IS_FLOAT(v)) {
        *result = FLOAT_VAL(fabs(AS_FLOAT(v)));
        return true;
    }
    Value *d = own_dunder(vm, v, "__abs__");
    if (d != NULL) {
        return call_own_dunder(vm, *d, v, 0, NULL, result);
    }
    return exc_raise(vm, vm->cls.TypeError, "bad operand type for abs(): '%s'", tname(vm, v));
}

static bool any_all(WkVM *vm, Value iterable, bool want, Value *result) {
    Value it;
    if (!ops_iter(vm, iterable, &it)) {
        return false;
    }
    gc_push_root(vm, it);
    bool ok = true, found = false;
    for (;;) {
        Value x;
        bool done, t;
        if (!(ok = ops_next(vm, it, &x, &done)) || done) {
            break;
        }
        if (!(ok = ops_truthy(vm, x, &t))) {
            break;
        }
        if (t == want) {
            found = true;
            break;
        }
    }
    gc_pop_root(vm);
    // any: true when some item is true; all: false when some item is false.
    *result = BOOL_VAL(want ? found : !found);
    return ok;
}

static bool bi_any(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return any_all(vm, args[0], true, result);
}

static bool bi_all(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return any_all(vm, args[0], false, result);
}

// ---- Attributes and types --------------------------------------------------------------------

static bool attr_name(WkVM *vm, Value v, ObjStr **out) {
    if (!IS_STR(v)) {
        return exc_raise(vm, vm->cls.TypeError, "attribute name must be string, not '%s'",
                         tname(vm, v));
    }
    *out = AS_STR(v);
    return true;
}

static bool bi_getattr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    ObjStr *name = NULL;
    if (!attr_name(vm, args[1], &name)) {
        return false;
    }
    if (argc < 3) {
        return attr_get(vm, args[0], name, result);
    }
    if (attr_get(vm, args[0], name, result)) {
        return true;
    }
    if (exc_is(vm, vm->exception, vm->cls.AttributeError)) {
        vm->exception = EMPTY_VAL;
        *result = args[2];
        return true;
    }
    return false;
}

static bool bi_hasattr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    ObjStr *name = NULL;
    if (!attr_name(vm, args[1], &name)) {
        return false;
    }
    Value v;
    if (attr_get(vm, args[0], name, &v)) {
        *result = BOOL_VAL(true);
        return true;
    }
    if (exc_is(vm, vm->exception, vm->cls.AttributeError)) {
        vm->exception = EMPTY_VAL;
        *result = BOOL_VAL(false);
        return true;
    }
    return false;
}

static bool bi_setattr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    ObjStr *name = NULL;
    if (!attr_name(vm, args[1], &name)) {
        return false;
    }
    *result = NONE_VAL;
    return attr_set(vm, args[0], name, args[2]);
}

static bool bi_delattr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    ObjStr *name = NULL;
    if (!attr_name(vm, args[1], &name)) {
        return false;
    }
    *result = NONE_VAL;
    return attr_del(vm, args[0], name);
}

static bool bi_callable(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    Value v = args[0];
    bool c = false;
    if (IS_OBJ(v)) {
        switch (OBJ_TYPE(v)) {
        case OBJ_FUNCTION:
        case OBJ_NATIVE:
        case OBJ_BOUND_METHOD:
        case OBJ_CLASS:
            c = true;
            break;
        case OBJ_STATICMETHOD:
            c = true;
            break;
        default:
            c = class_lookup_own(vm, class_of(vm, v), vm->names.__call__) != NULL;
            break;
        }
    }
    *result = BOOL_VAL(c);
    return true;
}

// isinstance / issubclass against a class or a (nested) tuple of classes.
static bool class_check(WkVM *vm, Value v, Value spec, bool sub, bool *out) {
    if (IS_CLASS(spec)) {
        *out = sub ? class_is_subclass(AS_CLASS(v), AS_CLASS(spec))
                   : class_isinstance(vm, v, AS_CLASS(spec));
        return true;
    }
    if (IS_TUPLE(spec)) {
        ObjTuple *t = AS_TUPLE(spec);
        for (uint32_t i = 0; i < t->count; i++) {
            if (!class_check(vm, v, t->items[i], sub, out)) {
                return false;
            }
            if (*out) {
                return true;
            }
        }
        *out = false;
        return true;
    }
    if (sub) {
        return exc_raise(vm, vm->cls.TypeError,
                         "issubclass() arg 2 must be a class, a tuple of classes, or a union");
    }
    return exc_raise(vm, vm->cls.TypeError,
                     "isinstance() arg 2 must be a type, a tuple of types, or a union");
}

static bool bi_isinstance(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    bool r;
    if (!class_check(vm, args[0], args[1], false, &r)) {
        return false;
    }
    *result = BOOL_VAL(r);
    return true;
}

static bool bi_issubclass(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    if (!IS_CLASS(args[0])) {
        return exc_raise(vm, vm->cls.TypeError, "issubclass() arg 1 must be a class");
    }
    bool r;
    if (!class_check(vm, args[0], args[1], true, &r)) {
        return false;
    }
    *result = BOOL_VAL(r);
    return true;
}

static CallFrame *current_frame(WkVM *vm) {
    return vm->frame_count > 0 ? &vm->frames[vm->frame_count - 1] : NULL;
}

static bool bi_globals(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(args);
    UNUSED(argc);
    UNUSED(kwargs);
    CallFrame *fr = current_frame(vm);
    *result = OBJ_VAL(fr != NULL && fr->globals != NULL ? fr->globals : vm->main_globals);
    return true;
}

static bool bi_locals(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(args);
    UNUSED(argc);
    UNUSED(kwargs);
    CallFrame *fr = current_frame(vm);
    if (fr == NULL) {
        *result = OBJ_VAL(vm->main_globals);
        return true;
    }
    if (fr->locals != NULL) {
        *result = OBJ_VAL(fr->locals);
        return true;
    }
    if (fr->code->flags & 16) { // PROTO_MODULE
        *result = OBJ_VAL(fr->globals);
        return true;
    }
    ObjDict *d = dict_new(vm);
    gc_push_root(vm, OBJ_VAL(d));
    for (int i = 0; i < fr->code->nlocals; i++) {
        Value v = fr->slots[i];
        if (!IS_EMPTY(v)) {
            dict_set_str(vm, d, fr->code->varnames[i], v);
        }
    }
    for (int i = 0; i < fr->code->ncells + fr->code->nfrees; i++) {
        Value c = fr->slots[fr->code->nlocals + i];
        ObjStr *n = i < fr->code->ncells ? fr->code->cellnames[i]
                                         : fr->code->freenames[i - fr->code->ncells];
        if (IS_KIND(c, OBJ_CELL) && !IS_EMPTY(((ObjCell *)AS_OBJ(c))->value)) {
            dict_set_str(vm, d, n, ((ObjCell *)AS_OBJ(c))->value);
        }
    }
    gc_pop_root(vm);
    *result = OBJ_VAL(d);
    return true;
}

static bool bi_vars(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    if (argc == 0) {
        return bi_locals(vm, args, argc, kwargs, result);
    }
    if (attr_get(vm, args[0], vm->names.__dict__, result)) {
        return true;
    }
    if (exc_is(vm, vm->exception, vm->cls.AttributeError)) {
        vm->exception = EMPTY_VAL;
        return exc_raise(vm, vm->cls.TypeError, "vars() argument must have __dict__ attribute");
    }
    return false;
}

static void add_keys(WkVM *vm, ObjList *l, ObjDict *seen, ObjDict *d) {
    if (d == NULL) {
        return;
    }
    uint32_t pos = 0;
    TableEntry *e;
    while ((e = table_next(&d->table, &pos)) != NULL) {
        if (IS_STR(e->key) && dict_get_str(seen, AS_STR(e->key)) == NULL) {
            Value k = e->key;
            dict_set_str(vm, seen, AS_STR(k), NONE_VAL);
            list_append(vm, l, k);
        }
    }
}

static bool bi_dir(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    ObjList *l = list_new(vm, 16);
    gc_push_root(vm, OBJ_VAL(l));
    ObjDict *seen = dict_new(vm);
    gc_push_root(vm, OBJ_VAL(seen));
    if (argc == 0) {
        Value loc;
        if (!bi_locals(vm, args, 0, NULL, &loc)) {
            gc_pop_roots(vm, 2);
            return false;
        }
        add_keys(vm, l, seen, AS_DICT(loc));
    } else {
        Value v = args[0];
        if (IS_KIND(v, OBJ_MODULE)) {
            add_keys(vm, l, seen, ((ObjModule *)AS_OBJ(v))->globals);
        } else {
            if (IS_INSTANCE(v) || IS_EXCEPTION(v)) {
                add_keys(vm, l, seen, inst_dict(vm, AS_INSTANCE(v)));
            }
            ObjClass *c = IS_CLASS(v) ? AS_CLASS(v) : class_of(vm, v);
            for (; c != NULL; c = c->base) {
                add_keys(vm, l, seen, c->dict);
            }
        }
    }
    bool ok = list_sort(vm, l, NONE_VAL, false);
    gc_pop_roots(vm, 2);
    *result = OBJ_VAL(l);
    return ok;
}

// ---- Numbers ---------------------------------------------------------------------------------

static bool bi_round(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    static const char *const names[] = {"number", "ndigits", NULL};
    if (!check_kw(vm, kwargs, "round", names)) {
        return false;
    }
    Value x = argc > 0 ? args[0] : kwarg(kwargs, "number");
    Value nd = argc > 1 ? args[1] : kwarg(kwargs, "ndigits");
    if (IS_EMPTY(x)) {
        return exc_raise(vm, vm->cls.TypeError, "round() missing required argument 'number' (pos 1)");
    }
    bool has_nd = !IS_EMPTY(nd) && !IS_NONE(nd);
    int64_t n = 0;
    if (has_nd && !ops_index(vm, nd, &n)) {
        return false;
    }
    if (is_intlike(x)) {
        if (!has_nd) {
            *result = INT_VAL(as_int(x));
            return true;
        }
        int64_t r;
        if (!num_round_int(vm, as_int(x), n, &r)) {
            return false;
        }
        *result = INT_VAL(r);
        return true;
    }
    if (IS_FLOAT(x)) {
        if (!has_nd) {
            int64_t r;
            if (!num_round_float_int(vm, AS_FLOAT(x), &r)) {
                return false;
            }
            *result = INT_VAL(r);
            return true;
        }
        *result = FLOAT_VAL(num_round_float(AS_FLOAT(x), n));
        return true;
    }
    Value *d = own_dunder(vm, x, "__round__");
    if (d != NULL) {
        return call_own_dunder(vm, *d, x, has_nd ? 1 : 0, &nd, result);
    }
    return exc_raise(vm, vm->cls.TypeError, "type %s doesn't define __round__ method",
                     tname(vm, x));
}

static bool bi_divmod(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    Value a = args[0], b = args[1];
    Value pair[2];
    bool anum = is_intlike(a) || IS_FLOAT(a), bnum = is_intlike(b) || IS_FLOAT(b);
    if (is_intlike(a) && is_intlike(b)) {
        int64_t q, r;
        if (!num_int_divmod(vm, as_int(a), as_int(b), &q, &r)) {
            return false;
        }
        pair[0] = INT_VAL(q);
        pair[1] = INT_VAL(r);
    } else if (anum && bnum) {
        double q, r;
        double x = IS_FLOAT(a) ? AS_FLOAT(a) : (double)as_int(a);
        double y = IS_FLOAT(b) ? AS_FLOAT(b) : (double)as_int(b);
        if (!num_float_divmod(vm, x, y, &q, &r)) {
            return false;
        }
        pair[0] = FLOAT_VAL(q);
        pair[1] = FLOAT_VAL(r);
    } else {
        Value *d = own_dunder(vm, a, "__divmod__");
        if (d != NULL) {
            if (!call_own_dunder(vm, *d, a, 1, &b, result)) {
                return false;
            }
            if (!value_is(*result, vm->not_implemented)) {
                return true;
            }
        }
        d = own_dunder(vm, b, "__rdivmod__");
        if (d != NULL) {
            if (!call_own_dunder(vm, *d, b, 1, &a, result)) {
                return false;
            }
            if (!value_is(*result, vm->not_implemented)) {
                return true;
            }
        }
        return exc_raise(vm, vm->cls.TypeError,
                         "unsupported operand type(s) for divmod(): '%s' and '%s'", tname(vm, a),
                         tname(vm, b));
    }
    *result = OBJ_VAL(tuple_from(vm, pair, 2));
    return true;
}

static bool bi_chr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    int64_t i;
    if (IS_FLOAT(args[0])) {
        return exc_raise(vm, vm->cls.TypeError, "'float' object cannot be interpreted as an integer");
    }
    if (!ops_index(vm, args[0], &i)) {
        return false;
    }
    if (i < 0 || i >= 0x110000) {
        return exc_raise(vm, vm->cls.ValueError, "chr() arg not in range(0x110000)");
    }
    *result = OBJ_VAL(str_from_codepoint(vm, (uint32_t)i));
    return true;
}

static bool bi_ord(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    if (!IS_STR(args[0])) {
        return exc_raise(vm, vm->cls.TypeError, "ord() expected string of length 1, but %s found",
                         tname(vm, args[0]));
    }
    ObjStr *s = AS_STR(args[0]);
    if (s->length != 1) {
        return exc_raise(vm, vm->cls.TypeError,
                         "ord() expected a character, but string of length %u found", s->length);
    }
    int len;
    *result = INT_VAL(str_decode_utf8(s->chars, &len));
    return true;
}

// base ** exp % mod for ints, exp may be negative (modular inverse).
static bool pow_mod(WkVM *vm, int64_t base, int64_t exp, int64_t mod, Value *result) {
    if (mod == 0) {
        return exc_raise(vm, vm->cls.ValueError, "pow() 3rd argument cannot be 0");
    }
    __int128 m = mod < 0 ? -(__int128)mod : mod;
    __int128 b = ((__int128)base % m + m) % m;
    if (exp < 0) {
        // inverse of b modulo m by the extended Euclid algorithm
        __int128 t = 0, nt = 1, r = m, nr = b;
        while (nr != 0) {
            __int128 q = r / nr, tmp;
            tmp = t - q * nt, t = nt, nt = tmp;
            tmp = r - q * nr, r = nr, nr = tmp;
        }
        if (r != 1) {
            return exc_raise(vm, vm->cls.ValueError, "base is not invertible for the given modulus");
        }
        b = (t % m + m) % m;
        exp = -exp;
    }
    __int128 acc = 1 % m;
    while (exp > 0) {
        if (exp & 1) {
            acc = acc * b % m;
        }
        b = b * b % m;
        exp >>= 1;
    }
    if (mod < 0 && acc != 0) {
        acc -= m;
    }
    *result = INT_VAL((int64_t)acc);
    return true;
}

static bool bi_pow(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    static const char *const names[] = {"base", "exp", "mod", NULL};
    if (!check_kw(vm, kwargs, "pow", names)) {
        return false;
    }
    Value b = argc > 0 ? args[0] : kwarg(kwargs, "base");
    Value e = argc > 1 ? args[1] : kwarg(kwargs, "exp");
    Value m = argc > 2 ? args[2] : kwarg(kwargs, "mod");
    if (IS_EMPTY(b) || IS_EMPTY(e)) {
        return exc_raise(vm, vm->cls.TypeError, "pow() missing required argument '%s' (pos %d)",
                         IS_EMPTY(b) ? "base" : "exp", IS_EMPTY(b) ? 1 : 2);
    }
    if (IS_EMPTY(m) || IS_NONE(m)) {
        return ops_binary(vm, OPCODE_POW, b, e, result);
    }
    if (!is_intlike(b) || !is_intlike(e) || !is_intlike(m)) {
        return exc_raise(vm, vm->cls.TypeError,
                         "pow() 3rd argument not allowed unless all arguments are integers");
    }
    return pow_mod(vm, as_int(b), as_int(e), as_int(m), result);
}

static bool int_text(WkVM *vm, Value v, int radix, Value *result) {
    int64_t i;
    if (!ops_index(vm, v, &i)) {
        return false;
    }
    uint64_t m = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    char digits[80];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[m % (uint64_t)radix];
        m /= (uint64_t)radix;
    } while (m != 0);
    char buf[96];
    int k = 0;
    if (i < 0) {
        buf[k++] = '-';
    }
    buf[k++] = '0';
    buf[k++] = radix == 2 ? 'b' : radix == 8 ? 'o' : 'x';
    while (n > 0) {
        buf[k++] = digits[--n];
    }
    *result = OBJ_VAL(str_new(vm, buf, (size_t)k));
    return true;
}

static bool bi_bin(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return int_text(vm, args[0], 2, result);
}

static bool bi_oct(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return int_text(vm, args[0], 8, result);
}

static bool bi_hex(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return int_text(vm, args[0], 16, result);
}

// ---- exit ------------------------------------------------------------------------------------

static bool bi_exit(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    UNUSED(result);
    ObjTuple *t = tuple_from(vm, args, (uint32_t)argc);
    gc_push_root(vm, OBJ_VAL(t));
    ObjException *e = exc_new(vm, vm->cls.SystemExit, t);
    gc_pop_root(vm);
    return exc_raise_value(vm, OBJ_VAL(e));
}

// ============================================================================================
// The namespace
// ============================================================================================

static void put_value(WkVM *vm, const char *name, Value v) {
    gc_push_root(vm, v);
    ObjStr *k = str_intern(vm, name, strlen(name));
    gc_push_root(vm, OBJ_VAL(k));
    dict_set_str(vm, vm->builtins, k, v);
    gc_pop_roots(vm, 2);
}

static void put_native(WkVM *vm, const char *name, NativeFn fn, int min, int max, bool kw) {
    put_value(vm, name, OBJ_VAL(class_native_new(vm, name, fn, min, max, kw)));
}

void builtins_init(WkVM *vm) {
    static const struct {
        const char *name;
        NativeFn fn;
        int min, max;
        bool kw;
    } fns[] = {
        {"print", bi_print, 0, -1, true},     {"input", bi_input, 0, 1, false},
        {"len", bi_len, 1, 1, false},         {"repr", bi_repr, 1, 1, false},
        {"ascii", bi_ascii, 1, 1, false},     {"format", bi_format, 1, 2, false},
        {"hash", bi_hash, 1, 1, false},       {"id", bi_id, 1, 1, false},
        {"iter", bi_iter, 1, 2, false},       {"next", bi_next, 1, 2, false},
        {"enumerate", bi_enumerate, 0, 2, true}, {"zip", bi_zip, 0, -1, true},
        {"map", bi_map, 0, -1, false},        {"filter", bi_filter, 2, 2, false},
        {"reversed", bi_reversed, 1, 1, false}, {"sorted", bi_sorted, 0, -1, true},
        {"min", bi_min, 0, -1, true},         {"max", bi_max, 0, -1, true},
        {"sum", bi_sum, 1, 2, true},          {"abs", bi_abs, 1, 1, false},
        {"any", bi_any, 1, 1, false},         {"all", bi_all, 1, 1, false},
        {"getattr", bi_getattr, 2, 3, false}, {"setattr", bi_setattr, 3, 3, false},
        {"hasattr", bi_hasattr, 2, 2, false}, {"delattr", bi_delattr, 2, 2, false},
        {"callable", bi_callable, 1, 1, false}, {"isinstance", bi_isinstance, 2, 2, false},
        {"issubclass", bi_issubclass, 2, 2, false}, {"globals", bi_globals, 0, 0, false},
        {"locals", bi_locals, 0, 0, false},   {"vars", bi_vars, 0, 1, false},
        {"dir", bi_dir, 0, 1, false},         {"round", bi_round, 0, 2, true},
        {"divmod", bi_divmod, 2, 2, false},   {"chr", bi_chr, 1, 1, false},
        {"ord", bi_ord, 1, 1, false},         {"pow", bi_pow, 0, 3, true},
        {"bin", bi_bin, 1, 1, false},         {"oct", bi_oct, 1, 1, false},
        {"hex", bi_hex, 1, 1, false},         {"exit", bi_exit, 0, 1, false},
        {"quit", bi_exit, 0, 1, false},
    };
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        put_native(vm, fns[i].name, fns[i].fn, fns[i].min, fns[i].max, fns[i].kw);
    }
    VMClasses *k = &vm->cls;
    struct {
        const char *name;
        ObjClass *c;
    } classes[] = {
        {"object", k->object},       {"type", k->type},
        {"int", k->int_},            {"float", k->float_},
        {"bool", k->bool_},          {"str", k->str},
        {"list", k->list},           {"tuple", k->tuple},
        {"dict", k->dict},           {"set", k->set},
        {"frozenset", k->frozenset}, {"range", k->range},
        {"slice", k->slice},         {"property", k->property},
        {"staticmethod", k->staticmethod}, {"classmethod", k->classmethod},
        {"super", k->super_},
    };
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        put_value(vm, classes[i].name, OBJ_VAL(classes[i].c));
    }
    put_value(vm, "NotImplemented", vm->not_implemented);
    put_value(vm, "Ellipsis", vm->ellipsis);
    put_value(vm, "None", NONE_VAL);
    put_value(vm, "True", BOOL_VAL(true));
    put_value(vm, "False", BOOL_VAL(false));
    put_value(vm, "__name__", OBJ_VAL(vm->names.builtins));
    exc_register_builtins(vm, vm->builtins);
}
