// Attributes: get, set and delete with CPython's rules for wk's subset. Instances look in
// data descriptors (property) on the class, then their fields, then the class chain (functions
// bind); classes, modules, functions, bound methods and exceptions have their own special
// attributes. super objects start their lookup after a given class. No caches live here: the
// VM's inline caches key on ObjClass.version, which class.c bumps.
#include "vm/attr.h"

#include <string.h>

#include "stdlib/mod_weakref.h"

#include "vm/class.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/inst.h"
#include "vm/list.h"
#include "vm/ops.h"
#include "vm/str.h"

// ---- Helpers ---------------------------------------------------------------------------------

static bool name_is(ObjStr *name, const char *s) {
    return strcmp(name->chars, s) == 0;
}

// Objects whose attributes may live in a fields dict: instances, exceptions and the weakref
// kinds other than proxies (which forward everything to their referent).
static bool has_fields(Value v) {
    if (!IS_OBJ(v)) {
        return false;
    }
    uint8_t t = OBJ_TYPE(v);
    return t == OBJ_INSTANCE || t == OBJ_EXCEPTION ||
           (t >= OBJ_WEAKREF && t <= OBJ_FINALIZE && t != OBJ_PROXY);
}

// Where [v] (has_fields) keeps its attribute dict, or NULL when it cannot have attributes.
static ObjDict **fields_slot(Value v) {
    uint8_t t = OBJ_TYPE(v);
    if (t == OBJ_INSTANCE || t == OBJ_EXCEPTION) {
        return &AS_INSTANCE(v)->fields;
    }
    return mod_weakref_fields(AS_OBJ(v));
}

static Value *field_get(Value v, ObjStr *name) {
    if (IS_INSTANCE(v)) {
        return inst_get(AS_INSTANCE(v), name);
    }
    ObjDict **fp = fields_slot(v);
    return fp != NULL && *fp != NULL ? dict_get_str(*fp, name) : NULL;
}

static bool get_impl(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found);

static Value bound_method(WkVM *vm, Value self, Value func) {
    gc_push_root(vm, self);
    gc_push_root(vm, func);
    ObjBoundMethod *b =
        (ObjBoundMethod *)gc_alloc_object(vm, sizeof(ObjBoundMethod), OBJ_BOUND_METHOD);
    b->self = self;
    b->func = func;
    gc_pop_roots(vm, 2);
    return OBJ_VAL(b);
}

static const char *type_name(WkVM *vm, Value v) {
    return class_of(vm, v)->name->chars;
}

static bool no_attribute(WkVM *vm, Value obj, ObjStr *name) {
    if (IS_CLASS(obj)) {
        return exc_raise(vm, vm->cls.AttributeError, "type object '%s' has no attribute '%s'",
                         AS_CLASS(obj)->name->chars, name->chars);
    }
    if (IS_KIND(obj, OBJ_MODULE)) {
        return exc_raise(vm, vm->cls.AttributeError, "module '%s' has no attribute '%s'",
                         ((ObjModule *)AS_OBJ(obj))->name->chars, name->chars);
    }
    return exc_raise(vm, vm->cls.AttributeError, "'%s' object has no attribute '%s'",
                     type_name(vm, obj), name->chars);
}

// Call a property's getter on [obj].
static bool property_get(WkVM *vm, ObjProperty *p, Value obj, ObjStr *name, Value *out) {
    if (IS_NONE(p->getter)) {
        return exc_raise(vm, vm->cls.AttributeError, "property '%s' of '%s' object has no getter",
                         name->chars, type_name(vm, obj));
    }
    return vm_call(vm, p->getter, 1, &obj, NULL, out);
}

// [d], found on [obj]'s class, as seen through an instance: functions and natives bind,
// staticmethods unwrap, classmethods bind to the class, properties call their getter.
static bool bind_descriptor(WkVM *vm, Value obj, ObjClass *klass, Value d, ObjStr *name,
                            Value *out) {
    if (!IS_OBJ(d)) {
        *out = d;
        return true;
    }
    switch (OBJ_TYPE(d)) {
    case OBJ_FUNCTION:
        *out = bound_method(vm, obj, d);
        return true;
    case OBJ_NATIVE:
        *out = IS_EMPTY(AS_NATIVE(d)->self) ? bound_method(vm, obj, d) : d;
        return true;
    case OBJ_STATICMETHOD:
        *out = ((ObjWrapper *)AS_OBJ(d))->func;
        return true;
    case OBJ_CLASSMETHOD:
        *out = bound_method(vm, OBJ_VAL(klass), ((ObjWrapper *)AS_OBJ(d))->func);
        return true;
    case OBJ_PROPERTY:
        return property_get(vm, (ObjProperty *)AS_OBJ(d), obj, name, out);
    default:
        *out = d;
        return true;
    }
}

// [d], found on class [c] (or a base), as seen through the class: C.f is the plain function.
static Value class_descriptor(WkVM *vm, ObjClass *c, Value d) {
    if (IS_KIND(d, OBJ_STATICMETHOD)) {
        return ((ObjWrapper *)AS_OBJ(d))->func;
    }
    if (IS_KIND(d, OBJ_CLASSMETHOD)) {
        return bound_method(vm, OBJ_VAL(c), ((ObjWrapper *)AS_OBJ(d))->func);
    }
    return d;
}

// Call the user's __getattr__ (AttributeError fallback).
static bool call_getattr_hook(WkVM *vm, Value obj, ObjClass *k, ObjStr *name, Value *out,
                              bool *found) {
    Value *g = class_lookup_own(vm, k, vm->names.__getattr__);
    if (g == NULL) {
        *found = false;
        return true;
    }
    Value n = OBJ_VAL(name);
    *found = true;
    return class_call_with_self(vm, *g, obj, 1, &n, NULL, out);
}

// ---- Exceptions' special attributes ----------------------------------------------------------

static bool exc_special_get(WkVM *vm, ObjException *e, ObjStr *name, Value *out) {
    const char *s = name->chars;
    if (s[0] == 'a' && strcmp(s, "args") == 0) {
        *out = e->args;
        return true;
    }
    if (s[0] != '_') {
        if (strcmp(s, "value") == 0 && class_is_subclass(e->klass, vm->cls.StopIteration)) {
            ObjTuple *t = AS_TUPLE(e->args);
            *out = t->count > 0 ? t->items[0] : NONE_VAL;
            return true;
        }
        if (strcmp(s, "code") == 0 && class_is_subclass(e->klass, vm->cls.SystemExit)) {
            ObjTuple *t = AS_TUPLE(e->args);
            *out = t->count == 0 ? NONE_VAL : t->count == 1 ? t->items[0] : e->args;
            return true;
        }
        if ((strcmp(s, "name") == 0 || strcmp(s, "obj") == 0) &&
            (class_is_subclass(e->klass, vm->cls.AttributeError) ||
             class_is_subclass(e->klass, vm->cls.NameError))) {
            *out = NONE_VAL;
            return true;
        }
        return false;
    }
    if (strcmp(s, "__cause__") == 0) {
        *out = e->cause;
    } else if (strcmp(s, "__context__") == 0) {
        *out = e->context;
    } else if (strcmp(s, "__suppress_context__") == 0) {
        *out = BOOL_VAL(e->suppress_context);
    } else if (strcmp(s, "__traceback__") == 0) {
        *out = NONE_VAL;
    } else {
        return false;
    }
    return true;
}

// Setting args, __cause__, __context__, __suppress_context__, __traceback__: *handled false
// for other names.
static bool exc_special_set(WkVM *vm, ObjException *e, ObjStr *name, Value v, bool *handled) {
    *handled = true;
    const char *s = name->chars;
    if (strcmp(s, "args") == 0) {
        ObjList *l;
        if (IS_TUPLE(v)) {
            e->args = v;
            return true;
        }
        if (!list_from_iterable(vm, v, &l)) {
            return false;
        }
        gc_push_root(vm, OBJ_VAL(l));
        e->args = OBJ_VAL(tuple_from(vm, l->items, l->count));
        gc_pop_root(vm);
        return true;
    }
    if (strcmp(s, "__cause__") == 0 || strcmp(s, "__context__") == 0) {
        if (!IS_NONE(v) && !IS_EXCEPTION(v)) {
            return exc_raise(vm, vm->cls.TypeError, "exception %s must be None or derive from "
                             "BaseException", s[2] == 'c' && s[3] == 'a' ? "cause" : "context");
        }
        if (s[3] == 'a') {
            e->cause = v;
            e->suppress_context = true;
        } else {
            e->context = v;
        }
        return true;
    }
    if (strcmp(s, "__suppress_context__") == 0) {
        return ops_truthy(vm, v, &e->suppress_context);
    }
    if (strcmp(s, "__traceback__") == 0) {
        return true;
    }
    *handled = false;
    return true;
}

// ---- super -----------------------------------------------------------------------------------
// A super object is an instance of vm->cls.super_ whose fields hold __thisclass__ and __self__
// (stdlib/builtins.c makes them). Lookup starts after __thisclass__ in type(self)'s chain.

static bool super_get(WkVM *vm, Value sup, ObjStr *name, Value *out) {
    ObjDict *f = AS_INSTANCE(sup)->fields;
    Value *tc = f != NULL ? dict_get_cstr(f, "__thisclass__") : NULL;
    Value *sf = f != NULL ? dict_get_cstr(f, "__self__") : NULL;
    if (tc == NULL || sf == NULL || !IS_CLASS(*tc)) {
        return exc_raise(vm, vm->cls.RuntimeError, "super(): no arguments");
    }
    ObjClass *this_class = AS_CLASS(*tc);
    Value self = *sf;
    if (name_is(name, "__thisclass__")) {
        *out = *tc;
        return true;
    }
    if (name_is(name, "__self__")) {
        *out = self;
        return true;
    }
    if (name == vm->names.__class__) {
        *out = OBJ_VAL(vm->cls.super_);
        return true;
    }
    bool self_is_class = IS_CLASS(self) && class_is_subclass(AS_CLASS(self), this_class);
    ObjClass *start = self_is_class ? AS_CLASS(self) : class_of(vm, self);
    while (start != NULL && start != this_class) {
        start = start->base;
    }
    Value *d = start != NULL ? class_lookup(start->base, name) : NULL;
    if (d == NULL) {
        return exc_raise(vm, vm->cls.AttributeError, "'super' object has no attribute '%s'",
                         name->chars);
    }
    if (self_is_class) {
        *out = class_descriptor(vm, AS_CLASS(self), *d);
        return true;
    }
    return bind_descriptor(vm, self, class_of(vm, self), *d, name, out);
}

// ---- get -------------------------------------------------------------------------------------

static bool instance_get(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found) {
    ObjClass *k = class_of(vm, obj);
    *found = true;
    if (name == vm->names.__class__) {
        *out = OBJ_VAL(k);
        return true;
    }
    if (k == vm->cls.super_) {
        return super_get(vm, obj, name, out);
    }
    if (IS_EXCEPTION(obj) && exc_special_get(vm, AS_EXCEPTION(obj), name, out)) {
        // fields may still override value/code/name
        Value *f = field_get(obj, name);
        if (f != NULL) {
            *out = *f;
        }
        return true;
    }
    if (name == vm->names.__dict__ && class_lookup(k, name) == NULL) {
        // object's __dict__ is a data descriptor: an entry of that name never shadows it
        if (IS_INSTANCE(obj)) {
            *out = OBJ_VAL(inst_dict(vm, AS_INSTANCE(obj)));
            return true;
        }
        ObjDict **fp = fields_slot(obj);
        if (fp != NULL) {
            if (*fp == NULL) {
                *fp = dict_new(vm);
            }
            *out = OBJ_VAL(*fp);
            return true;
        }
    }
    Value *d;
    if (!(k->dunders & CLASS_D_PROPERTY)) {
        // No data descriptor anywhere in the chain: the instance's own fields come first.
        Value *f = field_get(obj, name);
        if (f != NULL) {
            *out = *f;
            return true;
        }
        d = class_lookup(k, name);
    } else {
        d = class_lookup(k, name);
        if (d != NULL && IS_KIND(*d, OBJ_PROPERTY)) {
            return property_get(vm, (ObjProperty *)AS_OBJ(*d), obj, name, out);
        }
        Value *f = field_get(obj, name);
        if (f != NULL) {
            *out = *f;
            return true;
        }
    }
    if (d != NULL) {
        return bind_descriptor(vm, obj, k, *d, name, out);
    }
    if (name == vm->names.__dict__ && IS_INSTANCE(obj)) {
        *out = OBJ_VAL(inst_dict(vm, AS_INSTANCE(obj)));
        return true;
    }
    ObjDict **fp = fields_slot(obj);
    if (name == vm->names.__dict__ && fp != NULL) {
        if (*fp == NULL) {
            *fp = dict_new(vm);
        }
        *out = OBJ_VAL(*fp);
        return true;
    }
    if (k->has_getattr) {
        return call_getattr_hook(vm, obj, k, name, out, found);
    }
    *found = false;
    return true;
}

static bool class_special_get(WkVM *vm, ObjClass *c, ObjStr *name, Value *out) {
    const char *s = name->chars;
    if (s[0] != '_' || s[1] != '_') {
        return false;
    }
    if (name == vm->names.__name__) {
        *out = OBJ_VAL(c->name);
    } else if (name == vm->names.__qualname__) {
        *out = OBJ_VAL(c->qualname != NULL ? c->qualname : c->name);
    } else if (name == vm->names.__module__) {
        Value *m = dict_get_str(c->dict, name);
        *out = m != NULL ? *m : c->module != NULL ? OBJ_VAL(c->module) : NONE_VAL;
    } else if (name == vm->names.__doc__) {
        Value *m = dict_get_str(c->dict, name);
        *out = m != NULL ? *m : NONE_VAL;
    } else if (name == vm->names.__class__) {
        *out = OBJ_VAL(vm->cls.type);
    } else if (name == vm->names.__dict__) {
        *out = OBJ_VAL(dict_copy(vm, c->dict));
    } else if (strcmp(s, "__bases__") == 0) {
        Value b = c->base != NULL ? OBJ_VAL(c->base) : NONE_VAL;
        *out = OBJ_VAL(tuple_from(vm, &b, c->base != NULL ? 1 : 0));
    } else if (strcmp(s, "__base__") == 0) {
        *out = c->base != NULL ? OBJ_VAL(c->base) : NONE_VAL;
    } else if (strcmp(s, "__mro__") == 0) {
        uint32_t n = 0;
        for (ObjClass *k = c; k != NULL; k = k->base) {
            n++;
        }
        ObjTuple *t = tuple_new(vm, n);
        n = 0;
        for (ObjClass *k = c; k != NULL; k = k->base) {
            t->items[n++] = OBJ_VAL(k);
        }
        *out = OBJ_VAL(t);
    } else {
        return false;
    }
    return true;
}

static bool class_get(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found) {
    ObjClass *c = AS_CLASS(obj);
    *found = true;
    if (class_special_get(vm, c, name, out)) {
        return true;
    }
    Value *d = class_lookup(c, name);
    if (d != NULL) {
        *out = class_descriptor(vm, c, *d);
        return true;
    }
    // Methods of type itself (mro, __subclasses__) bind to the class.
    d = class_lookup(vm->cls.type, name);
    if (d != NULL) {
        return bind_descriptor(vm, obj, vm->cls.type, *d, name, out);
    }
    *found = false;
    return true;
}

static bool module_get(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found) {
    ObjModule *m = (ObjModule *)AS_OBJ(obj);
    Value *v = dict_get_str(m->globals, name);
    *found = true;
    if (v != NULL) {
        *out = *v;
    } else if (name == vm->names.__dict__) {
        *out = OBJ_VAL(m->globals);
    } else if (name == vm->names.__name__) {
        *out = OBJ_VAL(m->name);
    } else if (name == vm->names.__class__) {
        *out = OBJ_VAL(vm->cls.module);
    } else {
        *found = false;
    }
    return true;
}

static bool function_get(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found) {
    ObjFunction *f = AS_FUNCTION(obj);
    *found = true;
    if (f->attrs != NULL) {
        Value *v = dict_get_str(f->attrs, name);
        if (v != NULL) {
            *out = *v;
            return true;
        }
    }
    const char *s = name->chars;
    if (name == vm->names.__name__) {
        *out = OBJ_VAL(f->name);
    } else if (name == vm->names.__qualname__) {
        *out = OBJ_VAL(f->qualname != NULL ? f->qualname : f->name);
    } else if (name == vm->names.__module__) {
        Value *m = f->globals != NULL ? dict_get_str(f->globals, vm->names.__name__) : NULL;
        *out = m != NULL ? *m : NONE_VAL;
    } else if (name == vm->names.__doc__) {
        *out = NONE_VAL;
    } else if (name == vm->names.__dict__) {
        if (f->attrs == NULL) {
            f->attrs = dict_new(vm);
        }
        *out = OBJ_VAL(f->attrs);
    } else if (name == vm->names.__class__) {
        *out = OBJ_VAL(vm->cls.function);
    } else if (strcmp(s, "__defaults__") == 0) {
        *out = f->defaults != NULL ? OBJ_VAL(f->defaults) : NONE_VAL;
    } else if (strcmp(s, "__kwdefaults__") == 0) {
        *out = f->kwdefaults != NULL ? OBJ_VAL(f->kwdefaults) : NONE_VAL;
    } else if (strcmp(s, "__globals__") == 0) {
        *out = OBJ_VAL(f->globals);
    } else if (strcmp(s, "__closure__") == 0) {
        *out = f->closure != NULL ? OBJ_VAL(f->closure) : NONE_VAL;
    } else if (strcmp(s, "__code__") == 0) {
        *out = OBJ_VAL(f->code);
    } else {
        Value *d = class_lookup(vm->cls.function, name);
        if (d != NULL) {
            return bind_descriptor(vm, obj, vm->cls.function, *d, name, out);
        }
        *found = false;
    }
    return true;
}

static void native_get(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found) {
    ObjNative *n = AS_NATIVE(obj);
    *found = true;
    if (name == vm->names.__name__ || name == vm->names.__qualname__) {
        *out = OBJ_VAL(str_from_cstr(vm, n->name));
    } else if (strcmp(name->chars, "__self__") == 0) {
        *out = IS_EMPTY(n->self) ? NONE_VAL : n->self;
    } else if (name == vm->names.__module__) {
        *out = IS_EMPTY(n->self) ? OBJ_VAL(vm->names.builtins) : NONE_VAL;
    } else if (name == vm->names.__doc__) {
        *out = NONE_VAL;
    } else if (name == vm->names.__class__) {
        *out = OBJ_VAL(vm->cls.builtin_function);
    } else {
        *found = false;
    }
}

static bool method_get(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found) {
    ObjBoundMethod *b = (ObjBoundMethod *)AS_OBJ(obj);
    *found = true;
    if (strcmp(name->chars, "__self__") == 0) {
        *out = b->self;
        return true;
    }
    if (strcmp(name->chars, "__func__") == 0) {
        *out = b->func;
        return true;
    }
    if (name == vm->names.__class__) {
        *out = OBJ_VAL(class_of(vm, obj));
        return true;
    }
    if (IS_NATIVE(b->func)) {
        native_get(vm, b->func, name, out, found);
        return true;
    }
    // Other attributes come from the function.
    return get_impl(vm, b->func, name, out, found);
}

static void property_attr_get(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found) {
    ObjProperty *p = (ObjProperty *)AS_OBJ(obj);
    *found = true;
    if (name_is(name, "fget")) {
        *out = p->getter;
    } else if (name_is(name, "fset")) {
        *out = p->setter;
    } else if (name_is(name, "fdel")) {
        *out = p->deleter;
    } else if (name == vm->names.__doc__) {
        *out = NONE_VAL;
    } else {
        *found = false;
    }
}

// Attributes of the remaining built-in kinds: a few data attributes, then the class's methods.
static bool builtin_get(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found) {
    *found = true;
    ObjClass *k = class_of(vm, obj);
    if (name == vm->names.__class__) {
        *out = OBJ_VAL(k);
        return true;
    }
    if (IS_OBJ(obj)) {
        switch (OBJ_TYPE(obj)) {
        case OBJ_BOUND_METHOD:
            return method_get(vm, obj, name, out, found);
        case OBJ_PROPERTY:
            property_attr_get(vm, obj, name, out, found);
            if (*found) {
                return true;
            }
            *found = true;
            break;
        case OBJ_STATICMETHOD:
        case OBJ_CLASSMETHOD:
            if (name_is(name, "__func__") || name_is(name, "__wrapped__")) {
                *out = ((ObjWrapper *)AS_OBJ(obj))->func;
                return true;
            }
            break;
        case OBJ_SLICE: {
            ObjSlice *s = (ObjSlice *)AS_OBJ(obj);
            if (name_is(name, "start") || name_is(name, "stop") || name_is(name, "step")) {
                *out = name->chars[2] == 'a' ? s->start : name->chars[2] == 'o' ? s->stop : s->step;
                return true;
            }
            break;
        }
        case OBJ_RANGE: {
            ObjRange *r = (ObjRange *)AS_OBJ(obj);
            if (name_is(name, "start") || name_is(name, "stop") || name_is(name, "step")) {
                *out = INT_VAL(name->chars[2] == 'a' ? r->start
                               : name->chars[2] == 'o' ? r->stop : r->step);
                return true;
            }
            break;
        }
        case OBJ_GENERATOR: {
            ObjGenerator *g = (ObjGenerator *)AS_OBJ(obj);
            if (name == vm->names.__name__ || name == vm->names.__qualname__) {
                *out = g->name != NULL ? OBJ_VAL(g->name) : OBJ_VAL(g->func->name);
                return true;
            }
            if (name_is(name, "gi_running")) {
                *out = BOOL_VAL(g->state == GEN_RUNNING);
                return true;
            }
            break;
        }
        case OBJ_CELL:
            if (name_is(name, "cell_contents")) {
                Value v = ((ObjCell *)AS_OBJ(obj))->value;
                if (IS_EMPTY(v)) {
                    return exc_raise(vm, vm->cls.ValueError, "Cell is empty");
                }
                *out = v;
                return true;
            }
            break;
        default:
            break;
        }
    }
    Value *d = class_lookup(k, name);
    if (d != NULL) {
        return bind_descriptor(vm, obj, k, *d, name, out);
    }
    *found = false;
    return true;
}

// obj.name: *found false when absent; errors (hooks included) propagate.
static bool get_impl(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found) {
    if (IS_KIND(obj, OBJ_PROXY)) {
        *found = true;
        return mod_weakref_proxy_getattr(vm, obj, name, out);
    }
    if (has_fields(obj)) {
        ObjClass *k = class_of(vm, obj);
        if ((k->dunders & CLASS_D_GETATTRIBUTE) && k != vm->cls.super_) {
            Value *ga = class_lookup_own(vm, k, str_intern(vm, "__getattribute__", 16));
            if (ga != NULL) {
                Value n = OBJ_VAL(name);
                if (class_call_with_self(vm, *ga, obj, 1, &n, NULL, out)) {
                    *found = true;
                    return true;
                }
                if (!exc_is(vm, vm->exception, vm->cls.AttributeError)) {
                    return false;
                }
                vm->exception = EMPTY_VAL;
                if (k->has_getattr) {
                    return call_getattr_hook(vm, obj, k, name, out, found);
                }
                *found = false;
                return true;
            }
        }
        if (instance_get(vm, obj, name, out, found)) {
            return true;
        }
        // As CPython's slot_tp_getattr_hook: an AttributeError from the normal lookup (a
        // property getter, say) falls back to __getattr__.
        if (k->has_getattr && k != vm->cls.super_ &&
            exc_is(vm, vm->exception, vm->cls.AttributeError)) {
            vm->exception = EMPTY_VAL;
            return call_getattr_hook(vm, obj, k, name, out, found);
        }
        return false;
    }
    if (IS_CLASS(obj)) {
        return class_get(vm, obj, name, out, found);
    }
    if (IS_KIND(obj, OBJ_MODULE)) {
        return module_get(vm, obj, name, out, found);
    }
    if (IS_FUNCTION(obj)) {
        return function_get(vm, obj, name, out, found);
    }
    if (IS_NATIVE(obj)) {
        native_get(vm, obj, name, out, found);
        if (*found) {
            return true;
        }
    }
    return builtin_get(vm, obj, name, out, found);
}

bool attr_get_opt(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found) {
    if (get_impl(vm, obj, name, out, found)) {
        return true;
    }
    if (exc_is(vm, vm->exception, vm->cls.AttributeError)) {
        vm->exception = EMPTY_VAL;
        *found = false;
        return true;
    }
    return false;
}

bool attr_get(WkVM *vm, Value obj, ObjStr *name, Value *out) {
    bool found;
    if (!get_impl(vm, obj, name, out, &found)) {
        return false;
    }
    if (!found) {
        return no_attribute(vm, obj, name);
    }
    return true;
}

// ---- set and delete --------------------------------------------------------------------------

static bool call_hook(WkVM *vm, ObjClass *k, const char *hook, Value obj, int argc, Value *args,
                      bool *called) {
    Value *h = class_lookup_own(vm, k, str_intern(vm, hook, strlen(hook)));
    *called = h != NULL;
    if (h == NULL) {
        return true;
    }
    Value r;
    return class_call_with_self(vm, *h, obj, argc, args, NULL, &r);
}

static bool instance_set(WkVM *vm, Value obj, ObjStr *name, Value v) {
    ObjClass *k = class_of(vm, obj);
    if (k->dunders & CLASS_D_SETATTR) {
        Value a[2] = {OBJ_VAL(name), v};
        bool called;
        bool ok = call_hook(vm, k, "__setattr__", obj, 2, a, &called);
        if (!ok || called) {
            return ok;
        }
    }
    if (IS_EXCEPTION(obj)) {
        bool handled;
        bool ok = exc_special_set(vm, AS_EXCEPTION(obj), name, v, &handled);
        if (!ok || handled) {
            return ok;
        }
    }
    Value *d = (k->dunders & CLASS_D_PROPERTY) ? class_lookup(k, name) : NULL;
    if (d != NULL && IS_KIND(*d, OBJ_PROPERTY)) {
        ObjProperty *p = (ObjProperty *)AS_OBJ(*d);
        if (IS_NONE(p->setter)) {
            return exc_raise(vm, vm->cls.AttributeError,
                             "property '%s' of '%s' object has no setter", name->chars,
                             k->name->chars);
        }
        Value a[2] = {obj, v};
        Value r;
        return vm_call(vm, p->setter, 2, a, NULL, &r);
    }
    if (name == vm->names.__class__) {
        if (!IS_CLASS(v) || AS_CLASS(v)->instance_kind != k->instance_kind ||
            AS_CLASS(v)->builtin || k->builtin || !IS_INSTANCE(obj)) {
            return exc_raise(vm, vm->cls.TypeError, "__class__ assignment only supported for "
                             "mutable types or ModuleType subclasses");
        }
        // The inline values follow the old class's keys: move them to a dict first.
        inst_dict(vm, AS_INSTANCE(obj));
        AS_INSTANCE(obj)->klass = AS_CLASS(v);
        return true;
    }
    ObjDict **fp = fields_slot(obj);
    if (fp == NULL || (k->builtin && IS_INSTANCE(obj))) {
        return exc_raise(vm, vm->cls.AttributeError, "'%s' object has no attribute '%s'",
                         k->name->chars, name->chars);
    }
    if (IS_INSTANCE(obj)) {
        inst_set(vm, AS_INSTANCE(obj), name, v);
        return true;
    }
    if (*fp == NULL) {
        gc_push_root(vm, obj);
        gc_push_root(vm, v);
        ObjDict *d2 = dict_new(vm);
        gc_pop_roots(vm, 2);
        fp = fields_slot(obj);
        *fp = d2;
    }
    dict_set_str(vm, *fp, name, v);
    return true;
}

static bool class_set(WkVM *vm, ObjClass *c, ObjStr *name, Value v) {
    if (c->builtin) {
        return exc_raise(vm, vm->cls.TypeError, "cannot set '%s' attribute of immutable type '%s'",
                         name->chars, c->name->chars);
    }
    if (name == vm->names.__name__ || name == vm->names.__qualname__) {
        if (!IS_STR(v)) {
            return exc_raise(vm, vm->cls.TypeError, "can only assign string to %s.%s, not '%s'",
                             c->name->chars, name->chars, type_name(vm, v));
        }
        if (name == vm->names.__name__) {
            c->name = AS_STR(v);
        } else {
            c->qualname = AS_STR(v);
        }
        return true;
    }
    dict_set_str(vm, c->dict, name, v);
    if (name == vm->names.__module__ && IS_STR(v)) {
        c->module = AS_STR(v);
    }
    class_changed(vm, c);
    return true;
}

static bool function_set(WkVM *vm, ObjFunction *f, ObjStr *name, Value v) {
    if (name == vm->names.__name__ || name == vm->names.__qualname__) {
        if (!IS_STR(v)) {
            return exc_raise(vm, vm->cls.TypeError, "%s must be set to a string object",
                             name->chars);
        }
        if (name == vm->names.__name__) {
            f->name = AS_STR(v);
        } else {
            f->qualname = AS_STR(v);
        }
        return true;
    }
    if (strcmp(name->chars, "__defaults__") == 0) {
        if (IS_NONE(v)) {
            f->defaults = NULL;
            return true;
        }
        if (!IS_TUPLE(v)) {
            return exc_raise(vm, vm->cls.TypeError, "__defaults__ must be set to a tuple object");
        }
        f->defaults = AS_TUPLE(v);
        return true;
    }
    if (f->attrs == NULL) {
        gc_push_root(vm, v);
        f->attrs = dict_new(vm);
        gc_pop_root(vm);
    }
    dict_set_str(vm, f->attrs, name, v);
    return true;
}

bool attr_set(WkVM *vm, Value obj, ObjStr *name, Value v) {
    if (IS_KIND(obj, OBJ_PROXY)) {
        return mod_weakref_proxy_setattr(vm, obj, name, v);
    }
    if (has_fields(obj)) {
        return instance_set(vm, obj, name, v);
    }
    if (IS_CLASS(obj)) {
        return class_set(vm, AS_CLASS(obj), name, v);
    }
    if (IS_KIND(obj, OBJ_MODULE)) {
        dict_set_str(vm, ((ObjModule *)AS_OBJ(obj))->globals, name, v);
        return true;
    }
    if (IS_FUNCTION(obj)) {
        return function_set(vm, AS_FUNCTION(obj), name, v);
    }
    ObjClass *k = class_of(vm, obj);
    Value *d = class_lookup(k, name);
    if (d != NULL && !IS_KIND(*d, OBJ_FUNCTION) && !IS_NATIVE(*d) && !IS_KIND(*d, OBJ_PROPERTY)) {
        return exc_raise(vm, vm->cls.AttributeError,
                         "'%s' object attribute '%s' is read-only", k->name->chars, name->chars);
    }
    if (d != NULL && IS_KIND(*d, OBJ_PROPERTY) && !IS_NONE(((ObjProperty *)AS_OBJ(*d))->setter)) {
        Value a[2] = {obj, v};
        Value r;
        return vm_call(vm, ((ObjProperty *)AS_OBJ(*d))->setter, 2, a, NULL, &r);
    }
    if (d != NULL && IS_KIND(*d, OBJ_PROPERTY)) {
        return exc_raise(vm, vm->cls.AttributeError,
                         "property '%s' of '%s' object has no setter", name->chars,
                         k->name->chars);
    }
    return exc_raise(vm, vm->cls.AttributeError, "'%s' object has no attribute '%s'",
                     k->name->chars, name->chars);
}

static bool delete_key(WkVM *vm, ObjDict *d, ObjStr *name, bool *found) {
    *found = false;
    if (d == NULL) {
        return true;
    }
    return dict_delete(vm, d, OBJ_VAL(name), found);
}

static bool instance_del(WkVM *vm, Value obj, ObjStr *name) {
    ObjClass *k = class_of(vm, obj);
    if (k->dunders & CLASS_D_DELATTR) {
        Value a = OBJ_VAL(name);
        bool called;
        bool ok = call_hook(vm, k, "__delattr__", obj, 1, &a, &called);
        if (!ok || called) {
            return ok;
        }
    }
    Value *d = class_lookup(k, name);
    if (d != NULL && IS_KIND(*d, OBJ_PROPERTY)) {
        ObjProperty *p = (ObjProperty *)AS_OBJ(*d);
        if (IS_NONE(p->deleter)) {
            return exc_raise(vm, vm->cls.AttributeError,
                             "property '%s' of '%s' object has no deleter", name->chars,
                             k->name->chars);
        }
        Value r;
        return vm_call(vm, p->deleter, 1, &obj, NULL, &r);
    }
    bool found;
    if (IS_INSTANCE(obj)) {
        if (!inst_delete(vm, AS_INSTANCE(obj), name, &found)) {
            return false;
        }
    } else {
        ObjDict **fp = fields_slot(obj);
        if (!delete_key(vm, fp != NULL ? *fp : NULL, name, &found)) {
            return false;
        }
    }
    if (!found) {
        return exc_raise(vm, vm->cls.AttributeError, "'%s' object has no attribute '%s'",
                         k->name->chars, name->chars);
    }
    return true;
}

bool attr_del(WkVM *vm, Value obj, ObjStr *name) {
    bool found = false;
    if (IS_KIND(obj, OBJ_PROXY)) {
        return mod_weakref_proxy_delattr(vm, obj, name);
    }
    if (has_fields(obj)) {
        return instance_del(vm, obj, name);
    }
    if (IS_CLASS(obj)) {
        ObjClass *c = AS_CLASS(obj);
        if (c->builtin) {
            return exc_raise(vm, vm->cls.TypeError,
                             "cannot delete '%s' attribute of immutable type '%s'", name->chars,
                             c->name->chars);
        }
        if (!delete_key(vm, c->dict, name, &found)) {
            return false;
        }
        if (found) {
            class_changed(vm, c);
        }
    } else if (IS_KIND(obj, OBJ_MODULE)) {
        if (!delete_key(vm, ((ObjModule *)AS_OBJ(obj))->globals, name, &found)) {
            return false;
        }
    } else if (IS_FUNCTION(obj)) {
        if (!delete_key(vm, AS_FUNCTION(obj)->attrs, name, &found)) {
            return false;
        }
    }
    if (!found) {
        return no_attribute(vm, obj, name);
    }
    return true;
}

// ---- LOAD_METHOD -----------------------------------------------------------------------------

bool attr_load_method(WkVM *vm, Value obj, ObjStr *name, Value *method, bool *unbound) {
    ObjClass *k = NULL;
    if (IS_OBJ(obj)) {
        uint8_t t = OBJ_TYPE(obj);
        if (has_fields(obj)) {
            k = class_of(vm, obj);
            if (k == vm->cls.super_ || (k->dunders & CLASS_D_GETATTRIBUTE) ||
                field_get(obj, name) != NULL) {
                k = NULL;
            }
        } else if (t != OBJ_CLASS && t != OBJ_MODULE && t != OBJ_FUNCTION &&
                   t != OBJ_BOUND_METHOD && t != OBJ_NATIVE && t != OBJ_PROXY) {
            k = class_of(vm, obj);
        }
    } else {
        k = class_of(vm, obj);
    }
    if (k != NULL) {
        Value *d = class_lookup(k, name);
        if (d != NULL && (IS_FUNCTION(*d) || (IS_NATIVE(*d) && IS_EMPTY(AS_NATIVE(*d)->self)))) {
            *method = *d;
            *unbound = true;
            return true;
        }
    }
    *unbound = false;
    return attr_get(vm, obj, name, method);
}
