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

static void mark_array(WkVM *vm, Value *items, size_t count) {
    for (size_t i = 0; i < count; i++) {
        gc_mark_value(vm, items[i]);
    }
}

static void trace_code(WkVM *vm, ObjCode *c) {
    gc_mark_object(vm, (Obj *)c->name);
    gc_mark_object(vm, (Obj *)c->qualname);
    gc_mark_object(vm, (Obj *)c->filename);
    if (c->consts != NULL) {
        mark_array(vm, c->consts, (size_t)c->nconsts);
    }
    ObjStr **lists[] = {c->names, c->varnames, c->cellnames, c->freenames};
    int counts[] = {c->nnames, c->nlocals, c->ncells, c->nfrees};
    for (int l = 0; l < 4; l++) {
        for (int i = 0; lists[l] != NULL && i < counts[l]; i++) {
            gc_mark_object(vm, (Obj *)lists[l][i]);
        }
    }
}

static void trace_function(WkVM *vm, ObjFunction *f) {
    gc_mark_object(vm, (Obj *)f->code);
    gc_mark_object(vm, (Obj *)f->globals);
    gc_mark_object(vm, (Obj *)f->defaults);
    gc_mark_object(vm, (Obj *)f->kwdefaults);
    gc_mark_object(vm, (Obj *)f->closure);
    gc_mark_object(vm, (Obj *)f->name);
    gc_mark_object(vm, (Obj *)f->qualname);
    gc_mark_object(vm, (Obj *)f->attrs);
}

static void trace_class(WkVM *vm, ObjClass *c) {
    gc_mark_object(vm, (Obj *)c->name);
    gc_mark_object(vm, (Obj *)c->qualname);
    gc_mark_object(vm, (Obj *)c->module);
    gc_mark_object(vm, (Obj *)c->base);
    gc_mark_object(vm, (Obj *)c->dict);
    for (uint32_t i = 0; i < c->nkeys; i++) {
        gc_mark_object(vm, (Obj *)c->keys[i]);
    }
}

static void trace_exception(WkVM *vm, ObjException *e) {
    gc_mark_object(vm, (Obj *)e->klass);
    gc_mark_object(vm, (Obj *)e->fields);
    gc_mark_value(vm, e->args);
    gc_mark_value(vm, e->cause);
    gc_mark_value(vm, e->context);
    gc_mark_value(vm, e->traceback);
}

static void trace_set(WkVM *vm, ObjSet *s) {
    if (s->slots == NULL) {
        return;
    }
    for (uint32_t i = 0; i <= s->mask; i++) {
        gc_mark_value(vm, s->slots[i].key);
    }
}

void object_trace(WkVM *vm, Obj *o) {
    switch ((ObjType)o->type) {
    case OBJ_STR:
    case OBJ_RANGE:
        break;
    case OBJ_TUPLE:
        mark_array(vm, ((ObjTuple *)o)->items, ((ObjTuple *)o)->count);
        break;
    case OBJ_LIST:
        mark_array(vm, ((ObjList *)o)->items, ((ObjList *)o)->count);
        break;
    case OBJ_DICT:
        table_mark(vm, &((ObjDict *)o)->table);
        break;
    case OBJ_SET:
        trace_set(vm, (ObjSet *)o);
        break;
    case OBJ_SLICE: {
        ObjSlice *s = (ObjSlice *)o;
        gc_mark_value(vm, s->start);
        gc_mark_value(vm, s->stop);
        gc_mark_value(vm, s->step);
        break;
    }
    case OBJ_CODE:
        trace_code(vm, (ObjCode *)o);
        break;
    case OBJ_FUNCTION:
        trace_function(vm, (ObjFunction *)o);
        break;
    case OBJ_CELL:
        gc_mark_value(vm, ((ObjCell *)o)->value);
        break;
    case OBJ_NATIVE:
        gc_mark_value(vm, ((ObjNative *)o)->self);
        break;
    case OBJ_BOUND_METHOD:
        gc_mark_value(vm, ((ObjBoundMethod *)o)->self);
        gc_mark_value(vm, ((ObjBoundMethod *)o)->func);
        break;
    case OBJ_CLASS:
        trace_class(vm, (ObjClass *)o);
        break;
    case OBJ_INSTANCE:
        inst_trace(vm, (ObjInstance *)o);
        break;
    case OBJ_EXCEPTION:
        trace_exception(vm, (ObjException *)o);
        break;
    case OBJ_MODULE: {
        ObjModule *m = (ObjModule *)o;
        gc_mark_object(vm, (Obj *)m->name);
        gc_mark_object(vm, (Obj *)m->globals);
        gc_mark_object(vm, (Obj *)m->path);
        break;
    }
    case OBJ_GENERATOR: {
        ObjGenerator *g = (ObjGenerator *)o;
        gc_mark_object(vm, (Obj *)g->func);
        gc_mark_object(vm, (Obj *)g->name);
        if (g->saved != NULL) {
            mark_array(vm, g->saved, g->saved_count);
        }
        break;
    }
    case OBJ_ITER:
        gc_mark_value(vm, ((ObjIter *)o)->source);
        gc_mark_value(vm, ((ObjIter *)o)->extra);
        break;
    case OBJ_PROPERTY: {
        ObjProperty *p = (ObjProperty *)o;
        gc_mark_value(vm, p->getter);
        gc_mark_value(vm, p->setter);
        gc_mark_value(vm, p->deleter);
        break;
    }
    case OBJ_STATICMETHOD:
    case OBJ_CLASSMETHOD:
        gc_mark_value(vm, ((ObjWrapper *)o)->func);
        break;
    case OBJ_WEAKREF:
    case OBJ_PROXY:
    case OBJ_WEAKDICT:
    case OBJ_WEAKSET:
    case OBJ_FINALIZE:
        mod_weakref_trace(vm, o);
        break;
    case OBJ_KIND_COUNT:
        break;
    }
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

// Free what [o] owns besides its own block; return the size of that block.
static size_t free_contents(WkVM *vm, Obj *o) {
    switch ((ObjType)o->type) {
    case OBJ_STR:
        return sizeof(ObjStr) + ((ObjStr *)o)->size + 1;
    case OBJ_TUPLE:
        return sizeof(ObjTuple) + sizeof(Value) * ((ObjTuple *)o)->count;
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
    case OBJ_RANGE:
        return sizeof(ObjRange);
    case OBJ_SLICE:
        return sizeof(ObjSlice);
    case OBJ_CODE:
        free_code(vm, (ObjCode *)o);
        return sizeof(ObjCode);
    case OBJ_FUNCTION:
        return sizeof(ObjFunction);
    case OBJ_CELL:
        return sizeof(ObjCell);
    case OBJ_NATIVE:
        return sizeof(ObjNative);
    case OBJ_BOUND_METHOD:
        return sizeof(ObjBoundMethod);
    case OBJ_CLASS: {
        ObjClass *c = (ObjClass *)o;
        gc_free(vm, c->keys, sizeof(ObjStr *) * c->capkeys);
        return sizeof(ObjClass);
    }
    case OBJ_INSTANCE:
        return inst_size((ObjInstance *)o);
    case OBJ_EXCEPTION:
        return sizeof(ObjException);
    case OBJ_MODULE:
        return sizeof(ObjModule);
    case OBJ_GENERATOR: {
        ObjGenerator *g = (ObjGenerator *)o;
        gc_free(vm, g->saved, sizeof(Value) * g->saved_capacity);
        return sizeof(ObjGenerator);
    }
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
    size_t size = free_contents(vm, o);
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
