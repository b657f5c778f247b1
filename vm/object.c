// Trace and free for every object kind: the collector calls object_trace while marking and
// object_free while sweeping. Each case names what the kind holds strongly; the weakref kinds
// delegate to stdlib/mod_weakref.c, which knows their layout (and leaves weak slots untraced).
#include "vm/object.h"

#include <stdlib.h>

#include "gc/gc.h"
#include "parser/proto.h"
#include "stdlib/mod_weakref.h"
#include "vm/inst.h"
#include "vm/table.h"
#include "vm/vm.h"

// The trace functions mark through the collector's inline fast path (gc_mark_in): a list of
// many objects costs no call per element.
static inline void mark(WkVM *vm, Obj *o) {
    gc_mark_in(&vm->gc, o);
}

static inline void mark_value(WkVM *vm, Value v) {
    gc_mark_value_in(&vm->gc, v);
}

static void mark_array(WkVM *vm, Value *items, size_t count) {
    gc_mark_values_in(&vm->gc, items, count);
}

// One trace function per kind, each taking the header: object_trace is a table jump, so the
// common kinds pay no prologue for the big ones' registers.
static void trace_nothing(WkVM *vm, Obj *o) {
    (void)vm;
    (void)o;
}

static void trace_tuple(WkVM *vm, Obj *o) {
    mark_array(vm, ((ObjTuple *)o)->items, ((ObjTuple *)o)->count);
}

static void trace_list(WkVM *vm, Obj *o) {
    mark_array(vm, ((ObjList *)o)->items, ((ObjList *)o)->count);
}

static void trace_dict(WkVM *vm, Obj *o) {
    table_mark(vm, &((ObjDict *)o)->table);
}

static void trace_set(WkVM *vm, Obj *o) {
    ObjSet *s = (ObjSet *)o;
    if (s->slots == NULL) {
        return;
    }
    for (uint32_t i = 0; i <= s->mask; i++) {
        mark_value(vm, s->slots[i].key);
    }
}

static void trace_slice(WkVM *vm, Obj *o) {
    ObjSlice *s = (ObjSlice *)o;
    mark_value(vm, s->start);
    mark_value(vm, s->stop);
    mark_value(vm, s->step);
}

static void trace_code(WkVM *vm, Obj *o) {
    ObjCode *c = (ObjCode *)o;
    mark(vm, (Obj *)c->name);
    mark(vm, (Obj *)c->qualname);
    mark(vm, (Obj *)c->filename);
    if (c->consts != NULL) {
        mark_array(vm, c->consts, (size_t)c->nconsts);
    }
    ObjStr **lists[] = {c->names, c->varnames, c->cellnames, c->freenames};
    int counts[] = {c->nnames, c->nlocals, c->ncells, c->nfrees};
    for (int l = 0; l < 4; l++) {
        for (int i = 0; lists[l] != NULL && i < counts[l]; i++) {
            mark(vm, (Obj *)lists[l][i]);
        }
    }
}

static void trace_function(WkVM *vm, Obj *o) {
    ObjFunction *f = (ObjFunction *)o;
    mark(vm, (Obj *)f->code);
    mark(vm, (Obj *)f->globals);
    mark(vm, (Obj *)f->defaults);
    mark(vm, (Obj *)f->kwdefaults);
    mark(vm, (Obj *)f->closure);
    mark(vm, (Obj *)f->name);
    mark(vm, (Obj *)f->qualname);
    mark(vm, (Obj *)f->attrs);
}

static void trace_cell(WkVM *vm, Obj *o) {
    mark_value(vm, ((ObjCell *)o)->value);
}

static void trace_native(WkVM *vm, Obj *o) {
    mark_value(vm, ((ObjNative *)o)->self);
}

static void trace_bound_method(WkVM *vm, Obj *o) {
    mark_value(vm, ((ObjBoundMethod *)o)->self);
    mark_value(vm, ((ObjBoundMethod *)o)->func);
}

static void trace_class(WkVM *vm, Obj *o) {
    ObjClass *c = (ObjClass *)o;
    mark(vm, (Obj *)c->name);
    mark(vm, (Obj *)c->qualname);
    mark(vm, (Obj *)c->module);
    mark(vm, (Obj *)c->base);
    mark(vm, (Obj *)c->dict);
    for (uint32_t i = 0; i < c->nkeys; i++) {
        mark(vm, (Obj *)c->keys[i]);
    }
}

static void trace_instance(WkVM *vm, Obj *o) {
    inst_trace(vm, (ObjInstance *)o);
}

static void trace_exception(WkVM *vm, Obj *o) {
    ObjException *e = (ObjException *)o;
    mark(vm, (Obj *)e->klass);
    mark(vm, (Obj *)e->fields);
    mark_value(vm, e->args);
    mark_value(vm, e->cause);
    mark_value(vm, e->context);
    mark_value(vm, e->traceback);
}

static void trace_module(WkVM *vm, Obj *o) {
    ObjModule *m = (ObjModule *)o;
    mark(vm, (Obj *)m->name);
    mark(vm, (Obj *)m->globals);
    mark(vm, (Obj *)m->path);
}

static void trace_generator(WkVM *vm, Obj *o) {
    ObjGenerator *g = (ObjGenerator *)o;
    mark(vm, (Obj *)g->func);
    mark(vm, (Obj *)g->name);
    if (g->saved != NULL) {
        mark_array(vm, g->saved, g->saved_count);
    }
}

static void trace_iter(WkVM *vm, Obj *o) {
    mark_value(vm, ((ObjIter *)o)->source);
    mark_value(vm, ((ObjIter *)o)->extra);
}

static void trace_property(WkVM *vm, Obj *o) {
    ObjProperty *p = (ObjProperty *)o;
    mark_value(vm, p->getter);
    mark_value(vm, p->setter);
    mark_value(vm, p->deleter);
}

static void trace_wrapper(WkVM *vm, Obj *o) {
    mark_value(vm, ((ObjWrapper *)o)->func);
}

static void (*const tracers[OBJ_KIND_COUNT])(WkVM *vm, Obj *o) = {
    [OBJ_STR] = trace_nothing,
    [OBJ_TUPLE] = trace_tuple,
    [OBJ_LIST] = trace_list,
    [OBJ_DICT] = trace_dict,
    [OBJ_SET] = trace_set,
    [OBJ_RANGE] = trace_nothing,
    [OBJ_SLICE] = trace_slice,
    [OBJ_CODE] = trace_code,
    [OBJ_FUNCTION] = trace_function,
    [OBJ_CELL] = trace_cell,
    [OBJ_NATIVE] = trace_native,
    [OBJ_BOUND_METHOD] = trace_bound_method,
    [OBJ_CLASS] = trace_class,
    [OBJ_INSTANCE] = trace_instance,
    [OBJ_EXCEPTION] = trace_exception,
    [OBJ_MODULE] = trace_module,
    [OBJ_GENERATOR] = trace_generator,
    [OBJ_ITER] = trace_iter,
    [OBJ_PROPERTY] = trace_property,
    [OBJ_STATICMETHOD] = trace_wrapper,
    [OBJ_CLASSMETHOD] = trace_wrapper,
    [OBJ_WEAKREF] = mod_weakref_trace, // the weakref kinds' layouts are stdlib/mod_weakref.c's
    [OBJ_PROXY] = mod_weakref_trace,
    [OBJ_WEAKDICT] = mod_weakref_trace,
    [OBJ_WEAKSET] = mod_weakref_trace,
    [OBJ_FINALIZE] = mod_weakref_trace,
};

void object_trace(WkVM *vm, Obj *o) {
    WK_ASSERT(o->type < OBJ_KIND_COUNT, "a valid object kind");
    tracers[o->type](vm, o);
}

static void free_code(WkVM *vm, ObjCode *c) {
    gc_free(vm, c->code, sizeof(uint32_t) * (size_t)c->ncode);
    gc_free(vm, c->pos, sizeof(*c->pos) * (size_t)c->ncode);
    gc_free(vm, c->consts, sizeof(Value) * (size_t)c->nconsts);
    gc_free(vm, c->names, sizeof(ObjStr *) * (size_t)c->nnames);
    gc_free(vm, c->varnames, sizeof(ObjStr *) * (size_t)c->nlocals);
    gc_free(vm, c->cellnames, sizeof(ObjStr *) * (size_t)c->ncells);
    gc_free(vm, c->cell2arg, sizeof(int) * (size_t)c->ncells);
    gc_free(vm, c->freenames, sizeof(ObjStr *) * (size_t)c->nfrees);
    free(c->cache);
}

// object_free_contents for the kinds that own C arrays: out of line, so that freeing the kinds
// that own nothing (instances, strings, tuples...), the sweep's commonest, saves no registers.
static __attribute__((noinline)) size_t free_owner(WkVM *vm, Obj *o) {
    switch ((ObjType)o->type) {
    case OBJ_LIST:
        gc_free(vm, ((ObjList *)o)->items, sizeof(Value) * ((ObjList *)o)->capacity);
        return sizeof(ObjList);
    case OBJ_DICT:
        table_free(vm, &((ObjDict *)o)->table);
        return sizeof(ObjDict);
    case OBJ_SET: {
        ObjSet *s = (ObjSet *)o;
        if (s->slots != NULL) {
            gc_free(vm, s->slots, sizeof(SetSlot) * ((size_t)s->mask + 1));
        }
        return sizeof(ObjSet);
    }
    case OBJ_CODE:
        free_code(vm, (ObjCode *)o);
        return sizeof(ObjCode);
    case OBJ_CLASS: {
        ObjClass *c = (ObjClass *)o;
        gc_free(vm, c->keys, sizeof(ObjStr *) * c->capkeys);
        return sizeof(ObjClass);
    }
    case OBJ_GENERATOR: {
        ObjGenerator *g = (ObjGenerator *)o;
        gc_free(vm, g->saved, sizeof(Value) * g->saved_capacity);
        return sizeof(ObjGenerator);
    }
    default:
        WK_UNREACHABLE();
    }
    return 0;
}

size_t object_free_contents(WkVM *vm, Obj *o) {
    switch ((ObjType)o->type) {
    case OBJ_STR:
        return sizeof(ObjStr) + ((ObjStr *)o)->size + 1;
    case OBJ_TUPLE:
        return sizeof(ObjTuple) + sizeof(Value) * ((ObjTuple *)o)->count;
    case OBJ_LIST:
    case OBJ_DICT:
    case OBJ_SET:
    case OBJ_CODE:
    case OBJ_CLASS:
    case OBJ_GENERATOR:
        return free_owner(vm, o);
    case OBJ_RANGE:
        return sizeof(ObjRange);
    case OBJ_SLICE:
        return sizeof(ObjSlice);
    case OBJ_FUNCTION:
        return sizeof(ObjFunction);
    case OBJ_CELL:
        return sizeof(ObjCell);
    case OBJ_NATIVE:
        return sizeof(ObjNative);
    case OBJ_BOUND_METHOD:
        return sizeof(ObjBoundMethod);
    case OBJ_INSTANCE:
        return inst_size((ObjInstance *)o);
    case OBJ_EXCEPTION:
        return sizeof(ObjException);
    case OBJ_MODULE:
        return sizeof(ObjModule);
    case OBJ_ITER:
        return sizeof(ObjIter);
    case OBJ_PROPERTY:
        return sizeof(ObjProperty);
    case OBJ_STATICMETHOD:
    case OBJ_CLASSMETHOD:
        return sizeof(ObjWrapper);
    case OBJ_WEAKREF:
    case OBJ_PROXY:
    case OBJ_WEAKDICT:
    case OBJ_WEAKSET:
    case OBJ_FINALIZE:
        return mod_weakref_free(vm, o);
    case OBJ_KIND_COUNT:
        break;
    }
    return 0;
}

void object_free(WkVM *vm, Obj *o) {
    size_t size = object_free_contents(vm, o);
    gc_free_object(vm, o, size);
}

const char *object_kind_name(ObjType type) {
    static const char *names[OBJ_KIND_COUNT] = {
        [OBJ_STR] = "str",           [OBJ_TUPLE] = "tuple",
        [OBJ_LIST] = "list",         [OBJ_DICT] = "dict",
        [OBJ_SET] = "set",           [OBJ_RANGE] = "range",
        [OBJ_SLICE] = "slice",       [OBJ_CODE] = "code",
        [OBJ_FUNCTION] = "function", [OBJ_CELL] = "cell",
        [OBJ_NATIVE] = "builtin_function_or_method",
        [OBJ_BOUND_METHOD] = "method",
        [OBJ_CLASS] = "type",        [OBJ_INSTANCE] = "object",
        [OBJ_EXCEPTION] = "BaseException",
        [OBJ_MODULE] = "module",     [OBJ_GENERATOR] = "generator",
        [OBJ_ITER] = "iterator",     [OBJ_PROPERTY] = "property",
        [OBJ_STATICMETHOD] = "staticmethod",
        [OBJ_CLASSMETHOD] = "classmethod",
        [OBJ_WEAKREF] = "weakref.ReferenceType",
        [OBJ_PROXY] = "weakref.ProxyType",
        [OBJ_WEAKDICT] = "WeakDictionary",
        [OBJ_WEAKSET] = "WeakSet",   [OBJ_FINALIZE] = "finalize",
    };
    return type < OBJ_KIND_COUNT && names[type] != NULL ? names[type] : "object";
}
