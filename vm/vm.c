// The interpreter: VM life cycle, loading compiled protos into code objects, argument binding,
// frames, the dispatch loop (vm_run_frames), exception unwinding through handler blocks,
// generators, and module imports. Operators and protocols beyond the int/float fast paths
// are in vm/ops.c; attributes in vm/attr.c; classes in vm/class.c.
#include "vm/vm.h"
#include "vm/inst.h"

#include <math.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "gc/weak.h"
#include "parser/compile.h"
#include "stdlib/mod_weakref.h"
#include "stdlib/stdlib.h"
#include "vm/attr.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/iter.h"
#include "vm/list.h"
#include "vm/num.h"
#include "vm/opcode.h"
#include "vm/ops.h"
#include "vm/quicken.h"
#include "vm/str.h"
#include "vm/table.h"
#include "vm/testrun.h"

// ============================================================================================
// Inline caches
// ============================================================================================

// One per instruction of a code object (ObjCode.cache). LOAD_GLOBAL: way 0's [owner] is the
// globals dict, its [version] and [version2] the globals/builtins dict versions (bumped by
// every insertion and deletion), [index] the entry in globals (>= 0) or in builtins
// (-index - 1). Module attributes: way 0 (module_cached). Caches keyed on a class (fields,
// methods, constructors) use both ways, each an [owner] class at a [version] (VM-wide unique),
// so a site that sees two classes, say a base and its subclass, keeps both. Values are read
// back only while their owner is unchanged, so the cache never needs tracing.
typedef struct {
    void *owner;
    uint32_t version;
    int32_t index;
    Value value;
} CacheWay;

typedef struct {
    CacheWay way[2];
    uint32_t version2;
} InlineCache;

// The way of [ic] that holds class [k] at its current version, or NULL.
static inline CacheWay *cache_find(InlineCache *ic, const ObjClass *k) {
    if (ic->way[0].owner == k && ic->way[0].version == k->version) {
        return &ic->way[0];
    }
    if (ic->way[1].owner == k && ic->way[1].version == k->version) {
        return &ic->way[1];
    }
    return NULL;
}

// The way to fill for class [k]: the newest entry stays, the older one is replaced.
static inline CacheWay *cache_claim(InlineCache *ic, ObjClass *k) {
    ic->way[1] = ic->way[0];
    ic->way[0].owner = k;
    ic->way[0].version = k->version;
    return &ic->way[0];
}

// CACHE(fr, ip): the cache of the instruction before [ip] in [fr]'s code (ip has moved past it),
// for the dispatch loop, where RELOAD keeps the running code's [cache_bias]: one multiply-add
// from ip instead of three loads. cache[(ip - code) - 1] = cache + 18 * ((uintptr_t)ip - (uintptr_t)code - 4): an instruction
// word is 4 bytes and an InlineCache 72 (18 times as many), so the address is 18 * ip plus a
// per-code constant, computed in wrapping uintptr_t arithmetic.
_Static_assert(sizeof(InlineCache) == 18 * sizeof(uint32_t), "a cache is 18 instruction words");
static inline uintptr_t cache_bias_of(const ObjCode *c) {
    return (uintptr_t)c->cache - ((uintptr_t)c->code + sizeof(uint32_t)) * 18;
}
#define CACHE(fr, ip) ((InlineCache *)((uintptr_t)(ip) * 18 + cache_bias))

// ============================================================================================
// Loading protos
// ============================================================================================

static ObjStr **load_names(WkVM *vm, char **names, int count) {
    ObjStr **out = gc_realloc(vm, NULL, 0, sizeof(ObjStr *) * (size_t)count);
    for (int i = 0; i < count; i++) {
        out[i] = NULL;
    }
    return out;
}

static void fill_names(WkVM *vm, ObjStr **out, char **names, int count) {
    for (int i = 0; i < count; i++) {
        out[i] = str_intern(vm, names[i], strlen(names[i]));
    }
}

static Value load_const(WkVM *vm, Const *c);
static ObjCode *load_code(WkVM *vm, Proto *p);

static Value load_const(WkVM *vm, Const *c) {
    switch (c->kind) {
    case CONST_NONE:
        return NONE_VAL;
    case CONST_TRUE:
        return BOOL_VAL(true);
    case CONST_FALSE:
        return BOOL_VAL(false);
    case CONST_INT:
        return INT_VAL(c->u.i);
    case CONST_FLOAT:
        return FLOAT_VAL(c->u.f);
    case CONST_STR:
        return OBJ_VAL(str_intern(vm, c->u.s.chars, c->u.s.len));
    case CONST_ELLIPSIS:
        return vm->ellipsis;
    case CONST_CODE:
        return OBJ_VAL(load_code(vm, c->u.code));
    case CONST_TUPLE: {
        ObjTuple *t = tuple_new(vm, (uint32_t)c->u.tuple.count);
        gc_push_root(vm, OBJ_VAL(t));
        for (int i = 0; i < c->u.tuple.count; i++) {
            t->items[i] = load_const(vm, &c->u.tuple.items[i]);
        }
        gc_pop_root(vm);
        return OBJ_VAL(t);
    }
    }
    return NONE_VAL;
}

// Turn [p] into a code object. The object is rooted while its parts are allocated; every
// array is filled with safe values before anything else can trigger a collection.
static ObjCode *load_code(WkVM *vm, Proto *p) {
    ObjCode *c = (ObjCode *)gc_alloc_object(vm, sizeof(ObjCode), OBJ_CODE);
    memset((char *)c + sizeof(Obj), 0, sizeof(ObjCode) - sizeof(Obj));
    gc_push_root(vm, OBJ_VAL(c));
    c->firstline = p->firstline;
    c->flags = p->flags;
    c->argcount = p->argcount;
    c->kwonlycount = p->kwonlycount;
    c->maxstack = p->maxstack;
    c->nslots = p->nlocals + p->ncells + p->nfrees;
    c->name = str_intern(vm, p->name, strlen(p->name));
    c->qualname = str_intern(vm, p->qualname ? p->qualname : p->name,
                             strlen(p->qualname ? p->qualname : p->name));
    c->filename = str_intern(vm, p->filename, strlen(p->filename));
    c->code = gc_realloc(vm, NULL, 0, sizeof(uint32_t) * (size_t)p->ncode);
    memcpy(c->code, p->code, sizeof(uint32_t) * (size_t)p->ncode);
    c->pos = gc_realloc(vm, NULL, 0, sizeof(ProtoPos) * (size_t)p->ncode);
    memcpy(c->pos, p->pos, sizeof(ProtoPos) * (size_t)p->ncode);
    c->ncode = p->ncode;
    Value *consts = gc_realloc(vm, NULL, 0, sizeof(Value) * (size_t)p->nconsts);
    for (int i = 0; i < p->nconsts; i++) {
        consts[i] = NONE_VAL;
    }
    c->consts = consts;
    c->nconsts = p->nconsts;
    for (int i = 0; i < p->nconsts; i++) {
        Value v = load_const(vm, &p->consts[i]);
        c->consts[i] = v;
    }
    struct { ObjStr ***dst; int *n; char **src; int count; } lists[] = {
        {&c->names, &c->nnames, p->names, p->nnames},
        {&c->varnames, &c->nlocals, p->varnames, p->nlocals},
        {&c->cellnames, &c->ncells, p->cellnames, p->ncells},
        {&c->freenames, &c->nfrees, p->freenames, p->nfrees},
    };
    for (int l = 0; l < 4; l++) {
        *lists[l].dst = load_names(vm, lists[l].src, lists[l].count);
        *lists[l].n = lists[l].count;
        fill_names(vm, *lists[l].dst, lists[l].src, lists[l].count);
    }
    quicken(c->code, c->ncode, c->consts, c->nconsts);
    c->cache = calloc((size_t)p->ncode + 1, sizeof(InlineCache));
    if (c->cache == NULL) {
        fputs("wk: out of memory\n", stderr);
        abort();
    }
    c->cache_bias = cache_bias_of(c);
    c->cell2arg = gc_realloc(vm, NULL, 0, sizeof(int) * (size_t)p->ncells);
    for (int i = 0; i < p->ncells; i++) {
        c->cell2arg[i] = p->cell2arg != NULL ? p->cell2arg[i] : -1;
    }
    gc_pop_root(vm);
    return c;
}

static ObjFunction *new_function(WkVM *vm, ObjCode *code, ObjDict *globals) {
    ObjFunction *f = (ObjFunction *)gc_alloc_object(vm, sizeof(ObjFunction), OBJ_FUNCTION);
    memset((char *)f + sizeof(Obj), 0, sizeof(ObjFunction) - sizeof(Obj));
    f->code = code;
    f->globals = globals;
    f->name = code->name;
    f->qualname = code->qualname;
    return f;
}

// ============================================================================================
// Sources for tracebacks
// ============================================================================================

static void remember_source(WkVM *vm, const char *filename, const char *src, size_t len) {
    ObjStr *key = str_intern(vm, filename, strlen(filename));
    gc_push_root(vm, OBJ_VAL(key));
    Value *old = table_get_str(&vm->sources, key);
    if (old != NULL) {
        free(AS_OBJ(*old) == NULL ? NULL : (void *)(uintptr_t)AS_INT(*old));
    }
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        gc_pop_root(vm);
        return;
    }
    memcpy(copy, src, len);
    copy[len] = '\0';
    table_set_str(vm, &vm->sources, key, INT_VAL((int64_t)(uintptr_t)copy));
    gc_pop_root(vm);
}

const char *vm_source_line(WkVM *vm, const char *filename, int line, size_t *len) {
    ObjStr *key = str_intern(vm, filename, strlen(filename));
    Value *v = table_get_str(&vm->sources, key);
    if (v == NULL || line < 1) {
        return NULL;
    }
    const char *p = (const char *)(uintptr_t)AS_INT(*v);
    for (int i = 1; i < line && p != NULL; i++) {
        p = strchr(p, '\n');
        if (p != NULL) {
            p++;
        }
    }
    if (p == NULL || *p == '\0') {
        return NULL;
    }
    const char *end = strchr(p, '\n');
    *len = end != NULL ? (size_t)(end - p) : strlen(p);
    if (*len > 0 && p[*len - 1] == '\r') {
        (*len)--;
    }
    return p;
}

static void free_sources(WkVM *vm) {
    for (uint32_t i = 0; i < vm->sources.used; i++) {
        TableEntry *e = &vm->sources.entries[i];
        if (!IS_EMPTY(e->key)) {
            free((void *)(uintptr_t)AS_INT(e->value));
        }
    }
    table_free(vm, &vm->sources);
}

// ============================================================================================
// Life cycle
// ============================================================================================

static void init_names(WkVM *vm) {
#define VM_NAME_INIT(n) vm->names.n = str_intern(vm, #n, sizeof(#n) - 1);
    VM_NAME_LIST(VM_NAME_INIT)
#undef VM_NAME_INIT
}

WkVM *vm_new(int argc, char **argv) {
    WkVM *vm = calloc(1, sizeof(WkVM));
    if (vm == NULL) {
        return NULL;
    }
    gc_init(vm);
    vm->gc.enabled = false; // no collection until the roots exist
    vm->exception = EMPTY_VAL;
    vm->not_implemented = NONE_VAL;
    vm->ellipsis = NONE_VAL;
    vm->out = stdout;
    vm->err = stderr;
    table_init(&vm->strings);
    table_init(&vm->sources);
    vm->stack = malloc(sizeof(Value) * VM_STACK_MAX);
    vm->stack_top = vm->stack;
    weak_init(vm);
    init_names(vm);
    class_init_builtins(vm);
    vm->builtins = dict_new(vm);
    vm->modules = dict_new(vm);
    stdlib_init_builtins(vm);
    vm->argv = list_new(vm, (uint32_t)argc);
    for (int i = 0; i < argc; i++) {
        list_append(vm, vm->argv, OBJ_VAL(str_from_cstr(vm, argv[i])));
    }
    vm->main_globals = dict_new(vm);
    dict_set_str(vm, vm->main_globals, vm->names.__name__, OBJ_VAL(vm->names.__main__));
    vm->memory_error = exc_new(vm, vm->cls.MemoryError, tuple_new(vm, 0));
    vm->gc.enabled = true;
    return vm;
}

void vm_free(WkVM *vm) {
    mod_weakref_run_atexit(vm);
    vm->frame_count = 0;
    vm->stack_top = vm->stack;
    // The VM's own tables live in the collector's pages: release them before the pages go.
    table_free(vm, &vm->strings);
    free_sources(vm);
    // The side table goes first: while objects are freed in no particular order, a ref must
    // not look up its referent's entry (the referent may already be gone).
    weak_free_all(vm);
    gc_free_all(vm);
    free(vm->stack);
    free(vm);
}

void vm_mark_roots(WkVM *vm) {
    for (Value *v = vm->stack; v < vm->stack_top; v++) {
        gc_mark_value(vm, *v);
    }
    for (int i = 0; i < vm->frame_count; i++) {
        CallFrame *f = &vm->frames[i];
        gc_mark_object(vm, (Obj *)f->func);
        gc_mark_object(vm, (Obj *)f->code);
        gc_mark_object(vm, (Obj *)f->globals);
        gc_mark_object(vm, (Obj *)f->locals);
        gc_mark_object(vm, (Obj *)f->gen);
    }
    gc_mark_value(vm, vm->exception);
    for (int i = 0; i < vm->handled_count; i++) {
        gc_mark_value(vm, vm->handled[i]);
    }
    gc_mark_object(vm, (Obj *)vm->builtins);
    gc_mark_object(vm, (Obj *)vm->modules);
    gc_mark_object(vm, (Obj *)vm->main_globals);
    gc_mark_object(vm, (Obj *)vm->script_dir);
    gc_mark_object(vm, (Obj *)vm->argv);
    gc_mark_object(vm, (Obj *)vm->memory_error);
    gc_mark_value(vm, vm->not_implemented);
    gc_mark_value(vm, vm->ellipsis);
    ObjClass **classes = (ObjClass **)&vm->cls;
    for (size_t i = 0; i < sizeof(vm->cls) / sizeof(ObjClass *); i++) {
        gc_mark_object(vm, (Obj *)classes[i]);
    }
    ObjStr **names = (ObjStr **)&vm->names;
    for (size_t i = 0; i < sizeof(vm->names) / sizeof(ObjStr *); i++) {
        gc_mark_object(vm, (Obj *)names[i]);
    }
    table_mark(vm, &vm->sources);
}

// ============================================================================================
// Argument binding
// ============================================================================================

static const char *fname(ObjFunction *f) {
    return f->qualname->chars;
}

static bool too_many_positional(WkVM *vm, ObjFunction *f, int given) {
    ObjCode *c = f->code;
    int ndef = f->defaults != NULL ? (int)f->defaults->count : 0;
    const char *s = c->argcount == 1 ? "" : "s";
    const char *was = given == 1 ? "was" : "were";
    if (ndef > 0) {
        return exc_raise(vm, vm->cls.TypeError,
                         "%s() takes from %d to %d positional arguments but %d %s given",
                         fname(f), c->argcount - ndef, c->argcount, given, was);
    }
    return exc_raise(vm, vm->cls.TypeError, "%s() takes %d positional argument%s but %d %s given",
                     fname(f), c->argcount, s, given, was);
}

static bool missing_args(WkVM *vm, ObjFunction *f, Value *slots, int from, int to,
                         const char *kind) {
    int missing[64], n = 0;
    for (int i = from; i < to && n < 64; i++) {
        if (IS_EMPTY(slots[i])) {
            missing[n++] = i;
        }
    }
    if (n == 0) {
        return true;
    }
    StrBuf b;
    strbuf_init(&b);
    for (int k = 0; k < n; k++) {
        if (k > 0) {
            strbuf_add(&b, n == 2 ? " and " : (k == n - 1 ? ", and " : ", "),
                       n == 2 ? 5 : (k == n - 1 ? 6 : 2));
        }
        strbuf_addf(&b, "'%s'", f->code->varnames[missing[k]]->chars);
    }
    strbuf_addc(&b, '\0');
    bool r = exc_raise(vm, vm->cls.TypeError, "%s() missing %d required %s argument%s: %s",
                       fname(f), n, kind, n == 1 ? "" : "s", b.chars);
    strbuf_free(&b);
    return r;
}

// Place one keyword argument [name]=[v] into [slots] or the **kwargs dict.
static bool bind_keyword(WkVM *vm, ObjFunction *f, Value *slots, ObjStr *name, Value v,
                         ObjDict *varkw) {
    ObjCode *c = f->code;
    int nparams = c->argcount + c->kwonlycount;
    for (int i = 0; i < nparams; i++) {
        if (c->varnames[i] == name || str_equal(c->varnames[i], name)) {
            if (!IS_EMPTY(slots[i])) {
                return exc_raise(vm, vm->cls.TypeError,
                                 "%s() got multiple values for argument '%s'", fname(f),
                                 name->chars);
            }
            slots[i] = v;
            return true;
        }
    }
    if (varkw == NULL) {
        return exc_raise(vm, vm->cls.TypeError, "%s() got an unexpected keyword argument '%s'",
                         fname(f), name->chars);
    }
    return dict_set(vm, varkw, OBJ_VAL(name), v);
}

static bool fill_defaults(WkVM *vm, ObjFunction *f, Value *slots) {
    ObjCode *c = f->code;
    int ndef = f->defaults != NULL ? (int)f->defaults->count : 0;
    for (int i = c->argcount - ndef; i < c->argcount; i++) {
        if (IS_EMPTY(slots[i])) {
            slots[i] = f->defaults->items[i - (c->argcount - ndef)];
        }
    }
    if (c->argcount > 0 && !missing_args(vm, f, slots, 0, c->argcount, "positional")) {
        return false;
    }
    for (int i = c->argcount; i < c->argcount + c->kwonlycount; i++) {
        if (IS_EMPTY(slots[i]) && f->kwdefaults != NULL) {
            Value *d = dict_get_str(f->kwdefaults, c->varnames[i]);
            if (d != NULL) {
                slots[i] = *d;
            }
        }
    }
    return missing_args(vm, f, slots, c->argcount, c->argcount + c->kwonlycount, "keyword-only");
}

// Bind [npos] positional [args], keyword values args[npos..] named by [kwnames] and the
// entries of [kwdict], into [slots] (nlocals values, pre-filled with EMPTY). The slots must be
// on the VM stack (rooted); *args and **kwargs objects are stored into them as made.
static bool bind_args(WkVM *vm, ObjFunction *f, Value *args, int npos, ObjTuple *kwnames,
                      ObjDict *kwdict, Value *slots) {
    ObjCode *c = f->code;
    int nparams = c->argcount + c->kwonlycount;
    int take = npos < c->argcount ? npos : c->argcount;
    for (int i = 0; i < take; i++) {
        slots[i] = args[i];
    }
    int next = nparams;
    if (c->flags & PROTO_VARARGS) {
        int extra = npos - take;
        ObjTuple *t = tuple_from(vm, args + take, (uint32_t)(extra > 0 ? extra : 0));
        slots[next++] = OBJ_VAL(t);
    } else if (npos > c->argcount) {
        return too_many_positional(vm, f, npos);
    }
    ObjDict *varkw = NULL;
    if (c->flags & PROTO_VARKW) {
        varkw = dict_new(vm);
        slots[next] = OBJ_VAL(varkw);
    }
    int nkw = kwnames != NULL ? (int)kwnames->count : 0;
    for (int k = 0; k < nkw; k++) {
        if (!bind_keyword(vm, f, slots, AS_STR(kwnames->items[k]), args[npos + k], varkw)) {
            return false;
        }
    }
    if (kwdict != NULL) {
        for (uint32_t i = 0; i < kwdict->table.used; i++) {
            TableEntry *e = &kwdict->table.entries[i];
            if (IS_EMPTY(e->key)) {
                continue;
            }
            if (!IS_STR(e->key)) {
                return exc_raise(vm, vm->cls.TypeError, "keywords must be strings");
            }
            if (!bind_keyword(vm, f, slots, AS_STR(e->key), e->value, varkw)) {
                return false;
            }
        }
    }
    return fill_defaults(vm, f, slots);
}

// ============================================================================================
// Frames
// ============================================================================================

static bool recursion_error(WkVM *vm) {
    return exc_raise(vm, vm->cls.RecursionError, "maximum recursion depth exceeded");
}

// Create the cells and copy the closure into a new frame's slots.
static void setup_cells(WkVM *vm, ObjFunction *f, Value *slots) {
    ObjCode *c = f->code;
    for (int i = 0; i < c->ncells; i++) {
        ObjCell *cell = (ObjCell *)gc_alloc_object(vm, sizeof(ObjCell), OBJ_CELL);
        int arg = c->cell2arg[i];
        cell->value = arg >= 0 ? slots[arg] : EMPTY_VAL;
        slots[c->nlocals + i] = OBJ_VAL(cell);
    }
    for (int i = 0; i < c->nfrees; i++) {
        slots[c->nlocals + c->ncells + i] = f->closure->items[i];
    }
}

// Push a frame for [f] whose slots start at [slots] (arguments already bound there).
static CallFrame *push_frame(WkVM *vm, ObjFunction *f, Value *slots, ObjDict *locals) {
    CallFrame *fr = &vm->frames[vm->frame_count++];
    fr->func = f;
    fr->code = f->code;
    fr->ip = f->code->code;
    fr->slots = slots;
    fr->sp = slots + f->code->nslots;
    fr->globals = f->globals;
    fr->locals = locals;
    fr->gen = NULL;
    fr->flags = 0;
    fr->nblocks = 0;
    return fr;
}

static bool room_for(WkVM *vm, Value *slots, ObjCode *c) {
    // Below the limit one compare settles it; past it, a native's re-entry has 50 more frames.
    if (__builtin_expect(vm->frame_count >= VM_RECURSION_LIMIT, 0) &&
        (vm->native_depth == 0 || vm->frame_count >= VM_RECURSION_LIMIT + 50)) {
        return false;
    }
    return slots + c->nslots + c->maxstack + 8 < vm->stack + VM_STACK_MAX;
}

static bool make_generator(WkVM *vm, ObjFunction *f, Value *slots, Value *result);

// Call [f] with arguments at [callee+1 ..]. For a plain function a frame is pushed and
// *pushed set; generators and errors return at once.
static bool call_function(WkVM *vm, ObjFunction *f, Value *callee, int npos, ObjTuple *kwnames,
                          ObjDict *kwdict, bool *pushed) {
    ObjCode *c = f->code;
    Value *args = callee + 1;
    int nargs = npos + (kwnames != NULL ? (int)kwnames->count : 0);
    Value *slots = args;
    if (!room_for(vm, slots, c)) {
        return recursion_error(vm);
    }
    bool simple = kwnames == NULL && kwdict == NULL && npos == c->argcount &&
                  (c->flags & (PROTO_VARARGS | PROTO_VARKW)) == 0 && c->kwonlycount == 0;
    if (simple) {
        for (int i = npos; i < c->nslots; i++) {
            slots[i] = EMPTY_VAL;
        }
    } else {
        // Bind into scratch space above the arguments, then move down over them.
        Value *scratch = args + nargs;
        for (int i = 0; i < c->nslots; i++) {
            scratch[i] = EMPTY_VAL;
        }
        vm->stack_top = scratch + c->nslots;
        if (!bind_args(vm, f, args, npos, kwnames, kwdict, scratch)) {
            return false;
        }
        memmove(slots, scratch, sizeof(Value) * (size_t)c->nslots);
    }
    vm->stack_top = slots + c->nslots;
    setup_cells(vm, f, slots);
    if (c->flags & PROTO_GENERATOR) {
        Value gen;
        if (!make_generator(vm, f, slots, &gen)) {
            return false;
        }
        *callee = gen;
        vm->stack_top = callee + 1;
        return true;
    }
    push_frame(vm, f, slots, NULL);
    *pushed = true;
    return true;
}

static ObjDict *kwnames_to_dict(WkVM *vm, Value *args, int npos, ObjTuple *kwnames) {
    ObjDict *d = dict_new(vm);
    gc_push_root(vm, OBJ_VAL(d));
    for (uint32_t k = 0; k < kwnames->count; k++) {
        dict_set_str(vm, d, AS_STR(kwnames->items[k]), args[npos + (int)k]);
    }
    gc_pop_root(vm);
    return d;
}

static bool call_native(WkVM *vm, ObjNative *n, Value *args, int npos, ObjTuple *kwnames,
                        ObjDict *kwdict, Value *result) {
    ObjDict *kw = kwdict;
    if (kwnames != NULL && kwnames->count > 0) {
        kw = kwnames_to_dict(vm, args, npos, kwnames);
    }
    if (kw != NULL && kw->table.count > 0 && !n->takes_kwargs) {
        return exc_raise(vm, vm->cls.TypeError, "%s() takes no keyword arguments", n->name);
    }
    if (kw != NULL && kw->table.count == 0) {
        kw = NULL;
    }
    int argc = npos;
    Value *a = args;
    if (!IS_EMPTY(n->self)) {
        // A bound native: the receiver goes first. The slot before args is the callee's.
        a = args - 1;
        a[0] = n->self;
        argc++;
    }
    if (argc < n->min_args || (n->max_args >= 0 && argc > n->max_args)) {
        // A method's counts include self; CPython's messages don't, and name the type.
        bool method = !IS_EMPTY(n->self) || (n->obj.flags & NATIVE_METHOD);
        int shown = method && argc > 0 ? 1 : 0;
        char qual[160];
        if (shown) {
            snprintf(qual, sizeof qual, "%s.%s", class_of(vm, a[0])->name->chars, n->name);
        } else {
            snprintf(qual, sizeof qual, "%s", n->name);
        }
        if (n->min_args == n->max_args) {
            if (n->max_args - shown == 0) {
                return exc_raise(vm, vm->cls.TypeError, "%s() takes no arguments (%d given)",
                                 qual, argc - shown);
            }
            if (n->max_args - shown == 1) {
                return exc_raise(vm, vm->cls.TypeError,
                                 "%s() takes exactly one argument (%d given)", qual,
                                 argc - shown);
            }
            return exc_raise(vm, vm->cls.TypeError, "%s expected %d arguments, got %d",
                             n->name, n->max_args - shown, argc - shown);
        }
        if (argc < n->min_args) {
            return exc_raise(vm, vm->cls.TypeError, "%s expected at least %d argument%s, got %d",
                             n->name, n->min_args - shown, n->min_args - shown == 1 ? "" : "s",
                             argc - shown);
        }
        return exc_raise(vm, vm->cls.TypeError, "%s expected at most %d argument%s, got %d",
                         n->name, n->max_args - shown, n->max_args - shown == 1 ? "" : "s",
                         argc - shown);
    }
    if (kw != NULL) {
        gc_push_root(vm, OBJ_VAL(kw));
    }
    Value *saved_top = vm->stack_top;
    if (vm->stack_top < a + argc) {
        vm->stack_top = a + argc;
    }
    bool ok = n->fn(vm, a, argc, kw, result);
    vm->stack_top = saved_top;
    if (kw != NULL) {
        gc_pop_root(vm);
    }
    return ok;
}

// call_native for the dispatch loop's calls without keywords: an unbound native whose
// argument count fits is called straight away; anything else takes call_native.
static WK_ALWAYS_INLINE bool call_native_positional(WkVM *vm, ObjNative *n, Value *args, int argc,
                                                    Value *result) {
    if (!IS_EMPTY(n->self) || argc < n->min_args || (n->max_args >= 0 && argc > n->max_args)) {
        return call_native(vm, n, args, argc, NULL, NULL, result);
    }
    Value *saved_top = vm->stack_top;
    bool ok = n->fn(vm, args, argc, NULL, result);
    vm->stack_top = saved_top;
    return ok;
}

// Instantiate a plain user class whose __init__ is a wk function without leaving the dispatch
// loop: the instance goes into the callee slot (where the result belongs) and as self, and
// __init__ runs in a frame marked `constructor`, whose return yields the instance. Returns
// false when the class needs the general path (class_call); otherwise *pushed tells whether
// the frame was pushed (false: an error is pending).
// The __init__ of [c] when instances of [c] can be made in a frame of the dispatch loop: a
// plain user class whose __init__ is a wk function (not a generator); NULL otherwise.
static ObjFunction *frame_init(WkVM *vm, ObjClass *c) {
    if (c->instance_kind != OBJ_INSTANCE || c->builtin) {
        return NULL;
    }
    Value *init = class_lookup(c, vm->names.__init__);
    if (init == NULL || !IS_FUNCTION(*init) || (AS_FUNCTION(*init)->code->flags & PROTO_GENERATOR)) {
        return NULL;
    }
    return AS_FUNCTION(*init);
}

// Move [n] values to the overlapping [dst] from [src], one Value at a time. The values of a
// call were just pushed, 16 bytes a store; memmove's wider loads spanning two such stores
// cannot take their data from the store buffer and stall (4 ns a call on weakref.ref(o)).
// The empty asm keeps the compiler from turning the loops back into a memmove call.
static inline void move_values(Value *dst, const Value *src, size_t n) {
    if (dst < src) {
        for (size_t i = 0; i < n; i++) {
            dst[i] = src[i];
            __asm__ volatile("" ::: "memory");
        }
    } else {
        for (size_t i = n; i-- > 0;) {
            dst[i] = src[i];
            __asm__ volatile("" ::: "memory");
        }
    }
}

static bool construct_in_frame(WkVM *vm, ObjClass *c, Value *callee, int npos,
                               ObjTuple *kwnames, ObjDict *kwdict, bool *pushed) {
    ObjFunction *fn = frame_init(vm, c);
    if (fn == NULL) {
        return false;
    }
    int nargs = npos + (kwnames != NULL ? (int)kwnames->count : 0);
    if (vm->stack_top < callee + 1 + nargs) {
        vm->stack_top = callee + 1 + nargs;
    }
    ObjInstance *inst = inst_new(vm, c);
    move_values(callee + 2, callee + 1, (size_t)nargs);
    callee[0] = OBJ_VAL(inst);
    callee[1] = OBJ_VAL(inst);
    vm->stack_top = callee + 2 + nargs;
    *pushed = false;
    if (!call_function(vm, fn, callee, npos + 1, kwnames, kwdict, pushed)) {
        return true;
    }
    vm->frames[vm->frame_count - 1].flags |= FRAME_CONSTRUCTOR;
    return true;
}

// Call the value at [callee] with the arguments above it. Natives and classes complete at
// once (*result); functions push a frame (*pushed). Bound methods and callable instances
// shift the arguments up one slot to make room for self: the caller guarantees that room.
static bool call_value(WkVM *vm, Value *callee, int npos, ObjTuple *kwnames, ObjDict *kwdict,
                       bool *pushed, Value *result) {
    *pushed = false;
    Value f = *callee;
    int nargs = npos + (kwnames != NULL ? (int)kwnames->count : 0);
    if (IS_OBJ(f)) {
        switch (OBJ_TYPE(f)) {
        case OBJ_FUNCTION:
            if (!call_function(vm, AS_FUNCTION(f), callee, npos, kwnames, kwdict, pushed)) {
                return false;
            }
            if (!*pushed) {
                *result = *callee;
            }
            return true;
        case OBJ_NATIVE:
            return call_native(vm, AS_NATIVE(f), callee + 1, npos, kwnames, kwdict, result);
        case OBJ_BOUND_METHOD: {
            ObjBoundMethod *bm = (ObjBoundMethod *)AS_OBJ(f);
            move_values(callee + 2, callee + 1, (size_t)nargs);
            callee[1] = bm->self;
            callee[0] = bm->func;
            vm->stack_top = callee + 2 + nargs;
            return call_value(vm, callee, npos + 1, kwnames, kwdict, pushed, result);
        }
        case OBJ_CLASS: {
            if (AS_CLASS(f) == vm->cls.ref && kwnames == NULL && kwdict == NULL) {
                return mod_weakref_ref_fast(vm, AS_CLASS(f), npos, callee + 1, result);
            }
            if (construct_in_frame(vm, AS_CLASS(f), callee, npos, kwnames, kwdict, pushed)) {
                return !*pushed ? false : true;
            }
            ObjDict *kw = kwdict;
            if (kwnames != NULL && kwnames->count > 0) {
                kw = kwnames_to_dict(vm, callee + 1, npos, kwnames);
            }
            if (kw != NULL) {
                gc_push_root(vm, OBJ_VAL(kw));
            }
            bool ok = class_call(vm, AS_CLASS(f), npos, callee + 1, kw, result);
            if (kw != NULL) {
                gc_pop_root(vm);
            }
            return ok;
        }
        case OBJ_WEAKREF:
            if (nargs == 0 && kwdict == NULL && mod_weakref_call_fast(vm, f, result)) {
                return true;
            }
            break;
        default:
            break;
        }
    }
    // Anything else with __call__ (instances, proxies, ...): obj.__call__(*args).
    Value method;
    bool found;
    if (!attr_get_opt(vm, f, vm->names.__call__, &method, &found)) {
        return false;
    }
    if (!found || IS_KIND(f, OBJ_CLASS)) {
        ObjClass *cls = class_of(vm, f);
        return exc_raise(vm, vm->cls.TypeError, "'%s' object is not callable", cls->name->chars);
    }
    *callee = method;
    return call_value(vm, callee, npos, kwnames, kwdict, pushed, result);
}

// ============================================================================================
// Generators
// ============================================================================================

static bool make_generator(WkVM *vm, ObjFunction *f, Value *slots, Value *result) {
    ObjCode *c = f->code;
    ObjGenerator *g = (ObjGenerator *)gc_alloc_object(vm, sizeof(ObjGenerator), OBJ_GENERATOR);
    memset((char *)g + sizeof(Obj), 0, sizeof(ObjGenerator) - sizeof(Obj));
    g->func = f;
    g->name = f->name;
    g->state = GEN_CREATED;
    gc_push_root(vm, OBJ_VAL(g));
    uint32_t cap = (uint32_t)(c->nslots + c->maxstack + 1);
    g->saved = gc_realloc(vm, NULL, 0, sizeof(Value) * cap);
    g->saved_capacity = cap;
    memcpy(g->saved, slots, sizeof(Value) * (size_t)c->nslots);
    g->saved_count = (uint32_t)c->nslots;
    g->ip = 0;
    gc_pop_root(vm);
    *result = OBJ_VAL(g);
    return true;
}

static bool run_frames(WkVM *vm, Value *result);

static CallFrame *unwind(WkVM *vm, bool add_tb);

// Resume [g]: push its saved frame back onto the stack and run it until it yields, returns or
// raises. With [throwing], vm->exception is raised at the paused yield instead of sending
// [sent] (generator.throw and close).
static bool gen_run(WkVM *vm, ObjGenerator *g, Value sent, bool throwing, Value *result,
                    bool *done) {
    ObjCode *c = g->func->code;
    Value *slots = vm->stack_top;
    if (!room_for(vm, slots, c) || vm->native_depth >= VM_NATIVE_DEPTH_MAX) {
        return recursion_error(vm);
    }
    memcpy(slots, g->saved, sizeof(Value) * g->saved_count);
    Value *sp = slots + g->saved_count;
    if (g->state == GEN_SUSPENDED && !throwing) {
        *sp++ = sent;
    }
    vm->stack_top = sp;
    CallFrame *fr = push_frame(vm, g->func, slots, NULL);
    fr->ip = c->code + g->ip;
    fr->sp = sp;
    fr->gen = g;
    fr->flags = FRAME_BOUNDARY;
    fr->nblocks = g->nblocks;
    for (int i = 0; i < g->nblocks; i++) {
        fr->blocks[i].target = g->blocks[i].target;
        fr->blocks[i].depth = g->blocks[i].depth;
        fr->blocks[i].kind = g->blocks[i].kind;
    }
    g->state = GEN_RUNNING;
    vm->native_depth++;
    bool ok = throwing ? unwind(vm, true) != NULL : true;
    if (ok) {
        ok = run_frames(vm, result);
    }
    vm->native_depth--;
    if (!ok) {
        g->state = GEN_CLOSED;
        if (!throwing && exc_is(vm, vm->exception, vm->cls.StopIteration)) {
            vm->exception = EMPTY_VAL;
            return exc_raise(vm, vm->cls.RuntimeError, "generator raised StopIteration");
        }
        return false;
    }
    if (g->state == GEN_RUNNING) {
        // returned: the generator is finished
        g->state = GEN_CLOSED;
        *done = true;
    }
    return true;
}

bool vm_gen_resume(WkVM *vm, ObjGenerator *g, Value sent, Value *result, bool *done) {
    *done = false;
    if (g->state == GEN_RUNNING) {
        return exc_raise(vm, vm->cls.ValueError, "generator already executing");
    }
    if (g->state == GEN_CLOSED) {
        *done = true;
        *result = NONE_VAL;
        return true;
    }
    return gen_run(vm, g, sent, false, result, done);
}

bool vm_gen_throw(WkVM *vm, ObjGenerator *g, Value exc, Value *result, bool *done) {
    *done = false;
    if (g->state == GEN_RUNNING) {
        return exc_raise(vm, vm->cls.ValueError, "generator already executing");
    }
    if (g->state != GEN_SUSPENDED) {
        // Not started or finished: the exception comes straight back, the generator is over.
        g->state = GEN_CLOSED;
        vm->exception = exc;
        return false;
    }
    vm->exception = exc;
    return gen_run(vm, g, NONE_VAL, true, result, done);
}

// YIELD_VALUE: save the running generator frame (slots and stack up to [sp]) into [g].
static void save_generator(WkVM *vm, CallFrame *fr, Value *sp) {
    ObjGenerator *g = fr->gen;
    uint32_t count = (uint32_t)(sp - fr->slots);
    if (count > g->saved_capacity) {
        g->saved = gc_realloc(vm, g->saved, sizeof(Value) * g->saved_capacity,
                              sizeof(Value) * count);
        g->saved_capacity = count;
    }
    memcpy(g->saved, fr->slots, sizeof(Value) * count);
    g->saved_count = count;
    g->ip = (uint32_t)(fr->ip - fr->code->code);
    g->nblocks = fr->nblocks;
    for (int i = 0; i < fr->nblocks; i++) {
        g->blocks[i].target = fr->blocks[i].target;
        g->blocks[i].depth = fr->blocks[i].depth;
        g->blocks[i].kind = fr->blocks[i].kind;
    }
    g->state = GEN_SUSPENDED;
}

// ============================================================================================
// Calls from C
// ============================================================================================

bool vm_call(WkVM *vm, Value callee, int argc, Value *args, ObjDict *kwargs, Value *result) {
    if (vm->native_depth >= VM_NATIVE_DEPTH_MAX) {
        return recursion_error(vm);
    }
    Value *base = vm->stack_top;
    if (base + argc + 2 >= vm->stack + VM_STACK_MAX) {
        return recursion_error(vm);
    }
    base[0] = callee;
    if (argc > 0) {
        memcpy(base + 1, args, sizeof(Value) * (size_t)argc);
    }
    base[argc + 1] = NONE_VAL;
    vm->stack_top = base + argc + 1;
    if (kwargs != NULL) {
        gc_push_root(vm, OBJ_VAL(kwargs));
    }
    bool pushed = false;
    bool ok = call_value(vm, base, argc, NULL, kwargs, &pushed, result);
    if (kwargs != NULL) {
        gc_pop_root(vm);
    }
    if (ok && pushed) {
        vm->frames[vm->frame_count - 1].flags |= FRAME_BOUNDARY;
        vm->native_depth++;
        ok = run_frames(vm, result);
        vm->native_depth--;
    }
    vm->stack_top = base;
    return ok;
}

bool vm_call_method(WkVM *vm, Value self, ObjStr *name, int argc, Value *args, Value *result) {
    Value method;
    if (!attr_get(vm, self, name, &method)) {
        return false;
    }
    gc_push_root(vm, method);
    bool ok = vm_call(vm, method, argc, args, NULL, result);
    gc_pop_root(vm);
    return ok;
}

// Run [f] as a class body or module with [locals] as its namespace.
static bool run_with_locals(WkVM *vm, ObjFunction *f, ObjDict *locals, Value *result) {
    Value *slots = vm->stack_top;
    if (!room_for(vm, slots, f->code) || vm->native_depth >= VM_NATIVE_DEPTH_MAX) {
        return recursion_error(vm);
    }
    slots[-0] = EMPTY_VAL;
    for (int i = 0; i < f->code->nslots; i++) {
        slots[i] = EMPTY_VAL;
    }
    vm->stack_top = slots + f->code->nslots;
    setup_cells(vm, f, slots);
    CallFrame *fr = push_frame(vm, f, slots, locals);
    fr->flags = FRAME_BOUNDARY;
    vm->native_depth++;
    bool ok = run_frames(vm, result);
    vm->native_depth--;
    vm->stack_top = slots;
    return ok;
}

// ============================================================================================
// Exceptions
// ============================================================================================

static void add_traceback(WkVM *vm, CallFrame *fr) {
    if (!IS_EXCEPTION(vm->exception)) {
        return;
    }
    uint32_t index = (uint32_t)(fr->ip - fr->code->code);
    if (index > 0) {
        index--;
    }
    exc_add_traceback(vm, AS_EXCEPTION(vm->exception), fr->code, index);
}

// Find a handler for vm->exception in the frames above [base]. Returns the frame to resume
// (its ip and sp set to the handler), or NULL when the exception leaves the boundary frame
// (which is popped).
static CallFrame *unwind(WkVM *vm, bool add_tb) {
    for (;;) {
        CallFrame *fr = &vm->frames[vm->frame_count - 1];
        if (add_tb) {
            add_traceback(vm, fr);
        }
        add_tb = true;
        while (fr->nblocks > 0) {
            Block *b = &fr->blocks[--fr->nblocks];
            if (b->kind == BLOCK_HANDLER) {
                vm->handled_count = (int)b->depth;
                continue;
            }
            uint32_t target = b->target; // the handler block below reuses b's slot
            Value *base = fr->slots + fr->code->nslots;
            Value *sp = base + b->depth;
            Value exc = vm->exception;
            vm->exception = EMPTY_VAL;
            *sp++ = exc;
            Block *h = &fr->blocks[fr->nblocks++];
            h->kind = BLOCK_HANDLER;
            h->depth = (uint32_t)vm->handled_count;
            h->target = 0;
            if (vm->handled_count < (int)(sizeof(vm->handled) / sizeof(Value))) {
                vm->handled[vm->handled_count++] = exc;
            }
            fr->ip = fr->code->code + target;
            fr->sp = sp;
            vm->stack_top = sp;
            return fr;
        }
        bool boundary = (fr->flags & FRAME_BOUNDARY) != 0;
        if (fr->gen != NULL) {
            fr->gen->state = GEN_CLOSED;
        }
        vm->frame_count--;
        vm->stack_top = fr->slots;
        if (boundary) {
            return NULL;
        }
    }
}

// ============================================================================================
// The dispatch loop
// ============================================================================================

static bool do_import_from(WkVM *vm, Value mod, ObjStr *name, Value *out) {
    bool found;
    if (!attr_get_opt(vm, mod, name, out, &found)) {
        return false;
    }
    if (!found) {
        const char *mname = "?";
        const char *where = "unknown location";
        bool partial = false;
        if (IS_KIND(mod, OBJ_MODULE)) {
            ObjModule *m = (ObjModule *)AS_OBJ(mod);
            mname = m->name->chars;
            partial = (m->obj.flags & MODULE_INITIALIZING) != 0;
            if (m->path != NULL) {
                where = m->path->chars;
            }
        }
        if (partial) {
            return exc_raise(vm, vm->cls.ImportError,
                             "cannot import name '%s' from partially initialized module '%s' "
                             "(most likely due to a circular import) (%s)",
                             name->chars, mname, where);
        }
        return exc_raise(vm, vm->cls.ImportError, "cannot import name '%s' from '%s' (%s)",
                         name->chars, mname, where);
    }
    return true;
}

static bool unpack(WkVM *vm, Value seq, int before, int after, bool star, Value *dst) {
    // dst receives the items in stack order (last item first, at dst[0]).
    Value *items;
    int64_t count;
    ObjList *tmp = NULL;
    if (IS_TUPLE(seq)) {
        items = AS_TUPLE(seq)->items;
        count = AS_TUPLE(seq)->count;
    } else if (IS_LIST(seq)) {
        items = AS_LIST(seq)->items;
        count = AS_LIST(seq)->count;
    } else {
        if (!list_from_iterable(vm, seq, &tmp)) {
            if (exc_is(vm, vm->exception, vm->cls.TypeError) && !IS_OBJ(seq)) {
                vm->exception = EMPTY_VAL;
                return exc_raise(vm, vm->cls.TypeError, "cannot unpack non-iterable %s object",
                                 class_of(vm, seq)->name->chars);
            }
            return false;
        }
        items = tmp->items;
        count = tmp->count;
    }
    int need = before + after;
    if (!star && count != need) {
        if (count > need) {
            return exc_raise(vm, vm->cls.ValueError, "too many values to unpack (expected %d)",
                             need);
        }
        return exc_raise(vm, vm->cls.ValueError,
                         "not enough values to unpack (expected %d, got %d)", need, (int)count);
    }
    if (star && count < need) {
        return exc_raise(vm, vm->cls.ValueError,
                         "not enough values to unpack (expected at least %d, got %d)", need,
                         (int)count);
    }
    if (tmp != NULL) {
        gc_push_root(vm, OBJ_VAL(tmp));
    }
    int total = need + (star ? 1 : 0);
    // Stack order: item 0 ends on top, so dst[total-1] = first item.
    for (int i = 0; i < before; i++) {
        dst[total - 1 - i] = items[i];
    }
    if (star) {
        int64_t mid = count - need;
        ObjList *l = list_new(vm, (uint32_t)mid);
        if (IS_LIST(seq) && tmp == NULL) {
            items = AS_LIST(seq)->items; // list_new may have collected, list unchanged
        } else if (tmp != NULL) {
            items = tmp->items;
        }
        for (int64_t i = 0; i < mid; i++) {
            l->items[i] = items[before + i];
        }
        l->count = (uint32_t)mid;
        dst[total - 1 - before] = OBJ_VAL(l);
    }
    for (int i = 0; i < after; i++) {
        dst[after - 1 - i] = items[count - after + i];
    }
    if (tmp != NULL) {
        gc_pop_root(vm);
    }
    return true;
}

static bool format_value(WkVM *vm, Value v, int flags, Value spec, ObjStr **out) {
    int conv = flags & 3;
    Value x = v;
    if (conv != 0) {
        ObjStr *s;
        if (!(conv == 2 ? ops_repr(vm, v, &s) : ops_str(vm, v, &s))) {
            return false;
        }
        x = OBJ_VAL(s);
    }
    ObjStr *sp = (flags & 4) ? AS_STR(spec) : NULL;
    if (sp == NULL && IS_STR(x)) {
        *out = AS_STR(x);
        return true;
    }
    gc_push_root(vm, x);
    bool ok = sp == NULL ? ops_str(vm, x, out) : ops_format(vm, x, sp, out);
    gc_pop_root(vm);
    return ok;
}

// BUILD_STRING: the parts (rooted on the stack) are copied once into a string of the summed
// size; its code-point length is the sum of theirs.
static bool build_string(WkVM *vm, Value *parts, int n, Value *out) {
    size_t size = 0, length = 0;
    bool ascii = true;
    for (int i = 0; i < n; i++) {
        ObjStr *s = AS_STR(parts[i]);
        size += s->size;
        length += s->length;
        ascii = ascii && s->ascii;
    }
    if (size <= 1) {
        StrBuf b;
        strbuf_init(&b);
        for (int i = 0; i < n; i++) {
            strbuf_add(&b, AS_STR(parts[i])->chars, AS_STR(parts[i])->size);
        }
        *out = OBJ_VAL(strbuf_finish(vm, &b)); // the empty and one-byte strings are interned
        return true;
    }
    ObjStr *r = (ObjStr *)gc_alloc_object(vm, sizeof(ObjStr) + size + 1, OBJ_STR);
    r->length = (uint32_t)length;
    r->size = (uint32_t)size;
    r->hash = 0;
    r->interned = false;
    r->ascii = ascii;
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        ObjStr *s = AS_STR(parts[i]);
        memcpy(r->chars + at, s->chars, s->size);
        at += s->size;
    }
    r->chars[size] = '\0';
    *out = OBJ_VAL(r);
    return true;
}

static bool make_function(WkVM *vm, CallFrame *fr, int flags, Value *sp, Value *out) {
    // sp points just above the operands: [(defaults) (kwdefaults) (closure) code]
    int k = 1;
    ObjCode *code = (ObjCode *)AS_OBJ(sp[-k]);
    ObjTuple *closure = NULL;
    ObjDict *kwdefaults = NULL;
    ObjTuple *defaults = NULL;
    if (flags & 8) {
        closure = AS_TUPLE(sp[-++k]);
    }
    if (flags & 2) {
        kwdefaults = AS_DICT(sp[-++k]);
    }
    if (flags & 1) {
        defaults = AS_TUPLE(sp[-++k]);
    }
    ObjFunction *f = new_function(vm, code, fr->globals);
    f->closure = closure;
    f->kwdefaults = kwdefaults;
    f->defaults = defaults;
    *out = OBJ_VAL(f);
    return true;
}

static int make_function_operands(int flags) {
    return 1 + ((flags & 1) != 0) + ((flags & 2) != 0) + ((flags & 8) != 0);
}

static bool load_name(WkVM *vm, CallFrame *fr, ObjStr *name, Value *out) {
    Value *v = NULL;
    if (fr->locals != NULL) {
        v = dict_get_str(fr->locals, name);
    }
    if (v == NULL) {
        v = dict_get_str(fr->globals, name);
    }
    if (v == NULL) {
        v = dict_get_str(vm->builtins, name);
    }
    if (v == NULL) {
        return exc_raise(vm, vm->cls.NameError, "name '%s' is not defined", name->chars);
    }
    *out = *v;
    return true;
}

static bool load_global(WkVM *vm, CallFrame *fr, ObjStr *name, Value *out) {
    Value *v = dict_get_str(fr->globals, name);
    if (v == NULL) {
        v = dict_get_str(vm->builtins, name);
    }
    if (v == NULL) {
        return exc_raise(vm, vm->cls.NameError, "name '%s' is not defined", name->chars);
    }
    *out = *v;
    return true;
}

// Remember where LOAD_GLOBAL found its name: [v] points into globals' or builtins' entries.
static void fill_global_cache(InlineCache *ic, ObjDict *g, ObjDict *b, Value *v, bool builtin) {
    ObjDict *d = builtin ? b : g;
    int32_t index = (int32_t)((TableEntry *)((char *)v - offsetof(TableEntry, value)) -
                              d->table.entries);
    ic->way[0].owner = g;
    ic->way[0].version = g->version;
    ic->version2 = b->version;
    ic->way[0].index = builtin ? -index - 1 : index;
}

// LOAD_ATTR/STORE_ATTR on an instance in values mode: [owner] its class, [version] the
// class's version, [index] the field's place in the class's shared keys (vm/inst.h). Shared
// keys are append-only, so that place names the same attribute for as long as the class lives.
static void fill_field_cache(InlineCache *ic, ObjInstance *o, Value *f) {
    if (o->fields == NULL) {
        cache_claim(ic, o->klass)->index = (int32_t)(f - o->values);
    }
}

// `__class__` and `__dict__` are object's data descriptors: an instance dict entry of either
// name never shadows them, so the loop leaves both names to vm/attr.c.
static inline bool special_field_name(WkVM *vm, ObjStr *name) {
    return name == vm->names.__class__ || name == vm->names.__dict__;
}

// o.name = v through STORE_ATTR's cache: the cached index is the name's place in the class's
// shared keys, so the field is rebound, or appended when it is the instance's next key.
// False when the cache does not cover [o] (nothing is stored).
static inline bool field_store_cached(InlineCache *ic, ObjInstance *o, Value v) {
    CacheWay *w = cache_find(ic, o->klass);
    if (w == NULL || o->fields != NULL) {
        return false;
    }
    uint32_t i = (uint32_t)w->index;
    if (i < o->nvalues) {
        o->values[i] = v;
        return true;
    }
    if (i == o->nvalues && i < o->capacity) {
        o->values[i] = v;
        o->nvalues = i + 1;
        return true;
    }
    return false;
}

// The answer of comparison [cmp] (LT..IS_NOT) for a and b when it needs no call: identity,
// or two ints. False when the general path must decide.
static inline bool quick_compare(uint8_t cmp, Value a, Value b, bool *t) {
    if (cmp == OPCODE_IS || cmp == OPCODE_IS_NOT) {
        *t = value_is(a, b) == (cmp == OPCODE_IS);
        return true;
    }
    if (!IS_INT(a) || !IS_INT(b)) {
        return false;
    }
    int64_t x = AS_INT(a), y = AS_INT(b);
    switch (cmp) {
    case OPCODE_LT: *t = x < y; break;
    case OPCODE_LE: *t = x <= y; break;
    case OPCODE_GT: *t = x > y; break;
    case OPCODE_GE: *t = x >= y; break;
    case OPCODE_EQ: *t = x == y; break;
    default: *t = x != y; break;
    }
    return true;
}

// `a is b` for the fused `is` forms: objects compare pointers, without value_is's switch.
static inline bool quick_is(Value a, Value b) {
    if (a.type != b.type) {
        return false;
    }
    return IS_OBJ(a) ? AS_OBJ(a) == AS_OBJ(b) : value_is(a, b);
}

// `a is c` for a constant [c]: `x is None`, the common case, is one tag test.
static inline bool quick_is_const(Value a, Value c) {
    return IS_NONE(c) ? IS_NONE(a) : quick_is(a, c);
}

// x op y for two ints when it needs no call and fits in an int: the int fast paths of the
// fused operator handlers (vm/quicken.c is_int_binop lists the operators). False otherwise:
// the plain instructions then run (overflow, a negative shift, division by a non-positive).
static inline bool quick_int_op(uint8_t op, int64_t x, int64_t y, int64_t *r) {
    switch (op) {
    case OPCODE_ADD:
        return !__builtin_add_overflow(x, y, r);
    case OPCODE_SUB:
        return !__builtin_sub_overflow(x, y, r);
    case OPCODE_MUL:
        return !__builtin_mul_overflow(x, y, r);
    case OPCODE_MOD:
        if (y <= 0) {
            return false;
        }
        *r = x % y;
        *r += *r < 0 ? y : 0;
        return true;
    case OPCODE_FLOORDIV:
        if (y <= 0) {
            return false;
        }
        *r = x / y - (x % y != 0 && x < 0);
        return true;
    case OPCODE_BAND:
        *r = x & y;
        return true;
    case OPCODE_BOR:
        *r = x | y;
        return true;
    case OPCODE_BXOR:
        *r = x ^ y;
        return true;
    case OPCODE_RSHIFT:
        if (y < 0 || y >= 64) {
            return false;
        }
        *r = x >> y;
        return true;
    case OPCODE_LSHIFT:
        if (y < 0 || y >= 63 || x < -(INT64_C(1) << (62 - y)) || x >= (INT64_C(1) << (62 - y))) {
            return false;
        }
        *r = (int64_t)((uint64_t)x << y);
        return true;
    default:
        return false;
    }
}

// The field [ic] caches for [o]: its slot, or NULL when [o] is not in values mode with a cached
// class or does not have that field yet.
static inline Value *field_cached(InlineCache *ic, ObjInstance *o) {
    CacheWay *w = cache_find(ic, o->klass);
    if (w != NULL && o->fields == NULL && (uint32_t)w->index < o->nvalues) {
        return &o->values[w->index];
    }
    return NULL;
}

// A module attribute through the cache of LOAD_ATTR/LOAD_METHOD: [index] is the entry of the
// module's globals that held [name]. The entry's key is checked, so a moved or deleted binding
// misses (and refills) instead of reading a stale value; nothing here needs a version.
static Value *module_cached(InlineCache *ic, ObjModule *m, ObjStr *name) {
    Table *t = &m->globals->table;
    uint32_t i = (uint32_t)ic->way[0].index;
    if (ic->way[0].owner == m->globals && i < t->used && IS_OBJ(t->entries[i].key) &&
        AS_OBJ(t->entries[i].key) == (Obj *)name) {
        return &t->entries[i].value;
    }
    Value *v = dict_get_str(m->globals, name);
    if (v != NULL) {
        TableEntry *e = (TableEntry *)((char *)v - offsetof(TableEntry, value));
        e->key = OBJ_VAL(name); // an equal string: make it the interned one the check expects
        ic->way[0].owner = m->globals;
        ic->way[0].version = 0; // no class version is 0: this way never matches a class
        ic->way[0].index = (int32_t)(e - t->entries);
    }
    return v;
}

// A function the dispatch loop can enter directly: exactly [n] positional parameters, no
// *args, **kwargs or keyword-only parameters, not a generator.
static inline bool simple_function(ObjFunction *f, int n) {
    ObjCode *c = f->code;
    return n == c->argcount && c->kwonlycount == 0 &&
           (c->flags & (PROTO_VARARGS | PROTO_VARKW | PROTO_GENERATOR)) == 0;
}

// A call's cache for a class callee: [owner] the class, [version] its version, [value] its
// __init__, a simple wk function taking the instance and the call's arguments.
static bool fill_init_cache(WkVM *vm, InlineCache *ic, ObjClass *k, int n) {
    ObjFunction *init = frame_init(vm, k);
    if (init == NULL || !simple_function(init, n + 1)) {
        return false;
    }
    cache_claim(ic, k)->value = OBJ_VAL(init);
    return true;
}

// Push the frame for [f] (code [c]) whose [n] arguments are bound at [callee+1 ..], clearing
// its other locals and making its cells. Every field push_frame would set is set here once.
static WK_ALWAYS_INLINE void enter_frame(WkVM *vm, ObjFunction *f, ObjCode *c, Value *callee,
                                         int n, uint8_t flags) {
    Value *slots = callee + 1;
    if (c->ncells == 0 && c->nfrees == 0) {
        for (int i = n; i < c->nlocals; i++) {
            slots[i] = EMPTY_VAL;
        }
    } else {
        // Every slot is set before the cells are allocated: the collector scans them.
        for (int i = n; i < c->nslots; i++) {
            slots[i] = EMPTY_VAL;
        }
        vm->stack_top = slots + c->nslots;
        setup_cells(vm, f, slots);
    }
    CallFrame *nf = &vm->frames[vm->frame_count++];
    nf->func = f;
    nf->code = c;
    nf->ip = c->code;
    nf->slots = slots;
    nf->sp = slots + c->nslots;
    nf->globals = f->globals;
    nf->locals = NULL;
    nf->gen = NULL;
    nf->flags = flags;
    nf->nblocks = 0;
}

// Enter function [*callee] with [n] arguments above it in a new frame when that needs no
// argument binding (a simple function). Returns its code, or NULL, having changed nothing,
// when the call needs call_value.
static WK_ALWAYS_INLINE ObjCode *function_frame(WkVM *vm, Value *callee, int n) {
    ObjFunction *f = AS_FUNCTION(*callee);
    ObjCode *c = f->code;
    if (!simple_function(f, n) || !room_for(vm, callee + 1, c)) {
        return NULL;
    }
    enter_frame(vm, f, c, callee, n, 0);
    return c;
}

// Construct class [*callee] with [n] arguments above it when its __init__ is a simple wk
// function (the call's cache [ic] holds it, checked once when filled): the instance takes the
// callee's slot, where the result belongs, and is the frame's self; the frame is marked
// FRAME_CONSTRUCTOR. Returns the __init__'s code, or NULL, having changed nothing, when the
// call needs call_value. The caller has synced the stack (the instance is allocated here).
static WK_ALWAYS_INLINE ObjCode *construct_frame(WkVM *vm, Value *callee, int n,
                                                 InlineCache *ic) {
    ObjClass *k = AS_CLASS(*callee);
    CacheWay *w = cache_find(ic, k);
    if (w == NULL) {
        if (!fill_init_cache(vm, ic, k, n)) {
            return NULL;
        }
        w = &ic->way[0];
    }
    ObjFunction *f = AS_FUNCTION(w->value);
    ObjCode *c = f->code;
    if (!room_for(vm, callee + 1, c)) {
        return NULL;
    }
    ObjInstance *inst = inst_new(vm, k);
    move_values(callee + 2, callee + 1, (size_t)n);
    callee[0] = OBJ_VAL(inst);
    callee[1] = OBJ_VAL(inst);
    enter_frame(vm, f, c, callee, n + 1, FRAME_CONSTRUCTOR);
    return c;
}

static bool method_cacheable(Value obj);
static bool field_shadows(Value obj, ObjStr *name);

// The method LOAD_METHOD's cache [ic] holds for receiver [obj], or NULL. For an instance the
// way's [index] says how many of its class's shared keys were known not to be [name], so an
// instance with no more fields than that cannot shadow the method.
static inline Value *method_cached(WkVM *vm, InlineCache *ic, Value obj, ObjStr *name) {
    if (IS_INSTANCE(obj)) {
        ObjInstance *o = AS_INSTANCE(obj);
        CacheWay *w = cache_find(ic, o->klass);
        if (w != NULL && ((o->fields == NULL && o->nvalues <= (uint32_t)w->index) ||
                          inst_get(o, name) == NULL)) {
            return &w->value;
        }
        return NULL;
    }
    if (IS_LIST(obj)) { // the commonest receiver after instances (xs.append): no own fields
        CacheWay *w = cache_find(ic, vm->cls.list);
        return w != NULL ? &w->value : NULL;
    }
    if (IS_KIND(obj, OBJ_WEAKSET) || IS_KIND(obj, OBJ_WEAKDICT)) {
        // ws.add(x), d.get(k): one call finds the class, or says an attribute may shadow
        ObjClass *k = mod_weakref_plain_table_class(vm, AS_OBJ(obj));
        if (k != NULL) {
            CacheWay *w = cache_find(ic, k);
            return w != NULL ? &w->value : NULL;
        }
    }
    if (ic->way[0].owner != NULL && IS_OBJ(obj) && method_cacheable(obj)) {
        // the commonest receivers without a call to class_of
        ObjClass *k = IS_LIST(obj) ? vm->cls.list : IS_DICT(obj) ? vm->cls.dict : class_of(vm, obj);
        CacheWay *w = cache_find(ic, k);
        if (w != NULL && !field_shadows(obj, name)) {
            return &w->value;
        }
    }
    return NULL;
}

// LOAD_METHOD's cache applies to receivers whose attributes all come from their class, or,
// for plain instances, from their class unless their own fields shadow the name.
static bool method_cacheable(Value obj) {
    if (!IS_OBJ(obj)) {
        return true;
    }
    switch (OBJ_TYPE(obj)) {
    case OBJ_INSTANCE:
    case OBJ_STR:
    case OBJ_LIST:
    case OBJ_DICT:
    case OBJ_TUPLE:
    case OBJ_SET:
    case OBJ_WEAKDICT:
    case OBJ_WEAKSET:
        return true;
    default:
        return false;
    }
}

// Whether [obj] (not a plain instance) has an attribute of its own named [name], which would
// shadow its class's method: only the weak containers can have attributes among the kinds
// method_cacheable accepts.
static bool field_shadows(Value obj, ObjStr *name) {
    if (!IS_KIND(obj, OBJ_WEAKDICT) && !IS_KIND(obj, OBJ_WEAKSET)) {
        return false;
    }
    ObjDict **fp = mod_weakref_fields(AS_OBJ(obj));
    return fp != NULL && *fp != NULL && dict_get_str(*fp, name) != NULL;
}

static bool delete_from(WkVM *vm, ObjDict *d, ObjStr *name) {
    bool found;
    if (!dict_delete(vm, d, OBJ_VAL(name), &found)) {
        return false;
    }
    if (!found) {
        return exc_raise(vm, vm->cls.NameError, "name '%s' is not defined", name->chars);
    }
    return true;
}

// `del NAME` of an object that has ever been weakly referenced is a collection point, so that
// `del obj; print(r())` prints None as in CPython. Callbacks run before the del completes.
static void del_collect(WkVM *vm, Value old) {
    if (IS_OBJ(old) && AS_OBJ(old)->weakly && vm->gc.del_collect && vm->gc.enabled) {
        gc_collect(vm);
        weak_run_pending(vm);
    }
}

static bool unbound_local(WkVM *vm, ObjCode *c, int i) {
    return exc_raise(vm, vm->cls.UnboundLocalError,
                     "cannot access local variable '%s' where it is not associated with a value",
                     c->varnames[i]->chars);
}

static bool unbound_deref(WkVM *vm, ObjCode *c, int i) {
    if (i < c->ncells) {
        return exc_raise(vm, vm->cls.UnboundLocalError,
                         "cannot access local variable '%s' where it is not associated with a "
                         "value",
                         c->cellnames[i]->chars);
    }
    return exc_raise(vm, vm->cls.NameError,
                     "cannot access free variable '%s' where it is not associated with a value "
                     "in enclosing scope",
                     c->freenames[i - c->ncells]->chars);
}

static bool print_expr(WkVM *vm, Value v) {
    if (IS_NONE(v)) {
        return true;
    }
    ObjStr *s;
    if (!ops_repr(vm, v, &s)) {
        return false;
    }
    fwrite(s->chars, 1, s->size, vm->out);
    fputc('\n', vm->out);
    return true;
}

static bool with_enter(WkVM *vm, Value mgr, Value *exit, Value *entered) {
    Value enter;
    if (!attr_get(vm, mgr, vm->names.__enter__, &enter)) {
        return false;
    }
    gc_push_root(vm, enter);
    bool ok = attr_get(vm, mgr, vm->names.__exit__, exit);
    if (ok) {
        gc_push_root(vm, *exit);
        ok = vm_call(vm, enter, 0, NULL, NULL, entered);
        gc_pop_root(vm);
    }
    gc_pop_root(vm);
    return ok;
}

static bool with_except(WkVM *vm, Value exit, Value exc, bool *suppress) {
    Value args[3] = {OBJ_VAL(class_of(vm, exc)), exc, NONE_VAL};
    Value r;
    if (!vm_call(vm, exit, 3, args, NULL, &r)) {
        return false;
    }
    return ops_truthy(vm, r, suppress);
}

// SEND (yield from): a generator is resumed with [sent]; any other iterator advances with
// next() when [sent] is None, else with its send method. When exhausted, *out is the return
// value (None for plain iterators).
static bool send_to(WkVM *vm, Value it, Value sent, Value *out, bool *done) {
    if (IS_KIND(it, OBJ_GENERATOR)) {
        return vm_gen_resume(vm, (ObjGenerator *)AS_OBJ(it), sent, out, done);
    }
    if (IS_NONE(sent)) {
        if (!ops_next(vm, it, out, done)) {
            return false;
        }
        if (*done) {
            *out = NONE_VAL;
        }
        return true;
    }
    ObjStr *send = str_intern(vm, "send", 4);
    gc_push_root(vm, OBJ_VAL(send));
    bool ok = vm_call_method(vm, it, send, 1, &sent, out);
    gc_pop_root(vm);
    if (!ok && exc_is(vm, vm->exception, vm->cls.StopIteration)) {
        ObjException *e = AS_EXCEPTION(vm->exception);
        vm->exception = EMPTY_VAL;
        *out = IS_TUPLE(e->args) && AS_TUPLE(e->args)->count > 0 ? AS_TUPLE(e->args)->items[0]
                                                                : NONE_VAL;
        *done = true;
        return true;
    }
    return ok;
}

static bool check_interrupt(WkVM *vm) {
    if (vm->interrupted) {
        vm->interrupted = 0;
        return exc_raise(vm, vm->cls.KeyboardInterrupt, "%s", "");
    }
    return true;
}

#if WK_COMPUTED_GOTO
#define DISPATCH() goto *labels[OPCODE_OP(word)]
#define CASE(name) L_##name:
#define DEFAULT L_default:
#else
// Every handler keeps its L_ label for the fused handlers' fallbacks; some go unused here.
#pragma GCC diagnostic ignored "-Wunused-label"
#define DISPATCH() goto dispatch
#define CASE(name) case OPCODE_##name: L_##name:
#define DEFAULT default:
#endif

// The argument is decoded where a handler uses it ([arg] below), not at every fetch.
#define FETCH() (word = *ip++)
#define SYNC() (fr->ip = ip, vm->stack_top = sp)
#define RELOAD()                                                                               \
    do {                                                                                       \
        fr = &vm->frames[vm->frame_count - 1];                                                 \
        ip = fr->ip;                                                                           \
        sp = fr->sp;                                                                           \
        slots = fr->slots;                                                                     \
        consts = fr->code->consts;                                                             \
        names = fr->code->names;                                                               \
        cache_bias = fr->code->cache_bias;                                                     \
    } while (0)
// RELOAD after a return: the caller's frame lies just below the one popped.
#define RELOAD_CALLER()                                                                        \
    do {                                                                                       \
        fr--;                                                                                  \
        ip = fr->ip;                                                                           \
        sp = fr->sp;                                                                           \
        slots = fr->slots;                                                                     \
        consts = fr->code->consts;                                                             \
        names = fr->code->names;                                                               \
        cache_bias = fr->code->cache_bias;                                                     \
    } while (0)
#define ERROR() goto on_error
// A backward jump's check for Ctrl-C and queued weak callbacks: both flags read at once (no
// short circuit), one branch the predictor learns is not taken.
#define SAFE_POINT_DUE() __builtin_expect((vm->interrupted | (int)weak_has_pending(vm)) != 0, 0)
#define NEXT()                                                                                 \
    do {                                                                                       \
        FETCH();                                                                               \
        DISPATCH();                                                                            \
    } while (0)

// Run the top frame (marked boundary) and everything it calls until it returns.
static bool run_frames(WkVM *vm, Value *result) {
#if WK_COMPUTED_GOTO
    // Every opcode byte has a label: the listed ones their own, the rest L_default (a GNU
    // range initializer, overridden entry by entry).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
    static void *const labels[256] = {
        [0 ... 255] = &&L_default,
#define OPCODE_LABEL(name, has_arg) [OPCODE_##name] = &&L_##name,
        OPCODE_LIST(OPCODE_LABEL)
#undef OPCODE_LABEL
    };
#pragma GCC diagnostic pop
#endif
    CallFrame *fr;
    uint32_t *ip;
    Value *sp, *slots, *consts;
    ObjStr **names;
    uintptr_t cache_bias;
    uint32_t word;
#define arg OPCODE_ARG(word)
    RELOAD();
    NEXT();
#if !WK_COMPUTED_GOTO
dispatch: // NEXT fetched the word: only the switch is left
    switch (OPCODE_OP(word)) {
#endif

    CASE(NOP) { NEXT(); }
    CASE(POP) {
        sp--;
        NEXT();
    }
    CASE(DUP) {
        sp[0] = sp[-1];
        sp++;
        NEXT();
    }
    CASE(DUP2) {
        sp[0] = sp[-2];
        sp[1] = sp[-1];
        sp += 2;
        NEXT();
    }
    CASE(ROT2) {
        Value t = sp[-1];
        sp[-1] = sp[-2];
        sp[-2] = t;
        NEXT();
    }
    CASE(ROT3) {
        Value t = sp[-1];
        sp[-1] = sp[-2];
        sp[-2] = sp[-3];
        sp[-3] = t;
        NEXT();
    }
    CASE(ROT4) {
        Value t = sp[-1];
        sp[-1] = sp[-2];
        sp[-2] = sp[-3];
        sp[-3] = sp[-4];
        sp[-4] = t;
        NEXT();
    }
    CASE(LOAD_CONST) {
        *sp++ = consts[arg];
        NEXT();
    }
    CASE(LOAD_FAST) {
        Value v = slots[arg];
        if (IS_EMPTY(v)) {
            SYNC();
            unbound_local(vm, fr->code, (int)arg);
            ERROR();
        }
        *sp++ = v;
        NEXT();
    }
    CASE(STORE_FAST) {
        slots[arg] = *--sp;
        NEXT();
    }
    CASE(DELETE_FAST) {
        Value old = slots[arg];
        if (IS_EMPTY(old)) {
            SYNC();
            unbound_local(vm, fr->code, (int)arg);
            ERROR();
        }
        slots[arg] = EMPTY_VAL;
        SYNC();
        del_collect(vm, old);
        NEXT();
    }
    CASE(LOAD_DEREF) {
        ObjCell *cell = (ObjCell *)AS_OBJ(slots[fr->code->nlocals + arg]);
        if (IS_EMPTY(cell->value)) {
            SYNC();
            unbound_deref(vm, fr->code, (int)arg);
            ERROR();
        }
        *sp++ = cell->value;
        NEXT();
    }
    CASE(STORE_DEREF) {
        ObjCell *cell = (ObjCell *)AS_OBJ(slots[fr->code->nlocals + arg]);
        cell->value = *--sp;
        NEXT();
    }
    CASE(DELETE_DEREF) {
        ObjCell *cell = (ObjCell *)AS_OBJ(slots[fr->code->nlocals + arg]);
        Value old = cell->value;
        if (IS_EMPTY(old)) {
            SYNC();
            unbound_deref(vm, fr->code, (int)arg);
            ERROR();
        }
        cell->value = EMPTY_VAL;
        SYNC();
        del_collect(vm, old);
        NEXT();
    }
    CASE(LOAD_CLOSURE) {
        *sp++ = slots[fr->code->nlocals + arg];
        NEXT();
    }
    CASE(LOAD_GLOBAL) {
        InlineCache *ic = CACHE(fr, ip);
        ObjDict *g = fr->globals;
        if (ic->way[0].owner == g && ic->way[0].version == g->version) {
            // a global needs only its dict unchanged; a builtin also the builtins
            int32_t i = ic->way[0].index;
            if (i >= 0) {
                *sp++ = g->table.entries[i].value;
                NEXT();
            }
            if (ic->version2 == vm->builtins->version) {
                *sp++ = vm->builtins->table.entries[-i - 1].value;
                NEXT();
            }
        }
        Value *v = dict_get_str(g, names[arg]);
        if (v == NULL) {
            v = dict_get_str(vm->builtins, names[arg]);
            if (v != NULL) {
                fill_global_cache(ic, g, vm->builtins, v, true);
            }
        } else {
            fill_global_cache(ic, g, vm->builtins, v, false);
        }
        if (v == NULL) {
            SYNC();
            Value dummy;
            load_global(vm, fr, names[arg], &dummy);
            ERROR();
        }
        *sp++ = *v;
        NEXT();
    }
    CASE(STORE_GLOBAL) {
        SYNC();
        dict_set_str(vm, fr->globals, names[arg], sp[-1]);
        sp--;
        NEXT();
    }
    CASE(DELETE_GLOBAL) {
        Value *v = dict_get_str(fr->globals, names[arg]);
        Value old = v != NULL ? *v : NONE_VAL;
        SYNC();
        if (!delete_from(vm, fr->globals, names[arg])) {
            ERROR();
        }
        del_collect(vm, old);
        NEXT();
    }
    CASE(LOAD_NAME) {
        SYNC();
        if (!load_name(vm, fr, names[arg], sp)) {
            ERROR();
        }
        sp++;
        NEXT();
    }
    CASE(STORE_NAME) {
        SYNC();
        ObjDict *d = fr->locals != NULL ? fr->locals : fr->globals;
        dict_set_str(vm, d, names[arg], sp[-1]);
        sp--;
        NEXT();
    }
    CASE(DELETE_NAME) {
        ObjDict *d = fr->locals != NULL ? fr->locals : fr->globals;
        Value *v = dict_get_str(d, names[arg]);
        Value old = v != NULL ? *v : NONE_VAL;
        SYNC();
        if (!delete_from(vm, d, names[arg])) {
            ERROR();
        }
        del_collect(vm, old);
        NEXT();
    }
    CASE(LOAD_ATTR) {
        Value obj = sp[-1];
        InlineCache *ic = CACHE(fr, ip);
        if (IS_INSTANCE(obj)) {
            ObjInstance *o = AS_INSTANCE(obj);
            Value *f = field_cached(ic, o);
            if (f != NULL) {
                sp[-1] = *f;
                NEXT();
            }
            if (!(o->klass->dunders & (CLASS_D_GETATTRIBUTE | CLASS_D_PROPERTY)) &&
                !special_field_name(vm, names[arg])) {
                // No data descriptor on the class: the instance's own field wins.
                Value *f = inst_get(o, names[arg]);
                if (f != NULL) {
                    fill_field_cache(ic, o, f);
                    sp[-1] = *f;
                    NEXT();
                }
            }
        } else if (IS_KIND(obj, OBJ_MODULE)) {
            Value *v = module_cached(ic, (ObjModule *)AS_OBJ(obj), names[arg]);
            if (v != NULL) {
                sp[-1] = *v;
                NEXT();
            }
        }
        SYNC();
        Value v;
        if (!attr_get(vm, sp[-1], names[arg], &v)) {
            ERROR();
        }
        sp[-1] = v;
        NEXT();
    }
    CASE(STORE_ATTR) {
        Value obj = sp[-1];
        InlineCache *ic = CACHE(fr, ip);
        if (IS_INSTANCE(obj)) {
            ObjInstance *o = AS_INSTANCE(obj);
            if (field_store_cached(ic, o, sp[-2])) {
                sp -= 2;
                NEXT();
            }
            if (!o->klass->builtin &&
                !(o->klass->dunders & (CLASS_D_SETATTR | CLASS_D_PROPERTY)) &&
                !special_field_name(vm, names[arg])) {
                // Rebinding an existing field changes no structure: store in place. A new one
                // takes the general path (special names included). Then cache its place.
                Value *f = inst_get(o, names[arg]);
                if (f != NULL) {
                    *f = sp[-2];
                } else {
                    SYNC();
                    if (!attr_set(vm, obj, names[arg], sp[-2])) {
                        ERROR();
                    }
                    f = inst_get(o, names[arg]);
                }
                if (f != NULL) {
                    fill_field_cache(ic, o, f);
                }
                sp -= 2;
                NEXT();
            }
        }
        SYNC();
        if (!attr_set(vm, sp[-1], names[arg], sp[-2])) {
            ERROR();
        }
        sp -= 2;
        NEXT();
    }
    CASE(DELETE_ATTR) {
        SYNC();
        if (!attr_del(vm, sp[-1], names[arg])) {
            ERROR();
        }
        sp--;
        NEXT();
    }
    CASE(LOAD_METHOD) {
        InlineCache *ic = CACHE(fr, ip);
        Value obj = sp[-1];
        Value *cached = method_cached(vm, ic, obj, names[arg]);
        if (cached != NULL) {
            sp[0] = obj;
            sp[-1] = *cached;
            sp++;
            NEXT();
        }
        if (IS_KIND(obj, OBJ_MODULE)) {
            Value *v = module_cached(ic, (ObjModule *)AS_OBJ(obj), names[arg]);
            if (v != NULL) {
                sp[0] = *v;
                sp[-1] = EMPTY_VAL;
                sp++;
                NEXT();
            }
        }
        SYNC();
        Value m;
        bool unbound;
        if (!attr_load_method(vm, obj, names[arg], &m, &unbound)) {
            ERROR();
        }
        if (unbound && IS_OBJ(obj) && method_cacheable(obj)) {
            ObjClass *k = class_of(vm, obj);
            Value *found = class_lookup(k, names[arg]);
            if (found != NULL && value_is(*found, m) &&
                !(k->dunders & (CLASS_D_GETATTRIBUTE | CLASS_D_GETATTR))) {
                CacheWay *w = cache_claim(ic, k);
                w->value = m;
                w->index = 0;
                if (IS_INSTANCE(obj)) {
                    // names in code and shared keys are both interned
                    uint32_t n = 0;
                    while (n < k->nkeys && k->keys[n] != names[arg]) {
                        n++;
                    }
                    w->index = (int32_t)n;
                }
            }
        }
        if (unbound) {
            sp[0] = sp[-1];
            sp[-1] = m;
        } else {
            sp[0] = m;
            sp[-1] = EMPTY_VAL;
        }
        sp++;
        NEXT();
    }
    CASE(CALL_METHOD) {
        Value *callee = sp - arg - 2;
        int n = (int)arg + 1;
        if (IS_EMPTY(*callee)) {
            // [EMPTY bound args..]: drop the marker so the callee sits where the result goes.
            move_values(callee, callee + 1, arg + 1);
            sp--;
            n--;
        }
        goto call_n;
    CASE(CALL)
        callee = sp - arg - 1;
        n = (int)arg;
    call_n: {
        SYNC();
        Value r;
        Value f = *callee;
        ObjCode *entered;
        if (IS_OBJ(f)) {
            switch (OBJ_TYPE(f)) {
            case OBJ_CLASS:
                if (AS_CLASS(f) == vm->cls.ref) {
                    if (!mod_weakref_ref_fast(vm, AS_CLASS(f), n, callee + 1, &r)) {
                        ERROR();
                    }
                    *callee = r;
                    sp = callee + 1;
                    NEXT();
                }
                if ((entered = construct_frame(vm, callee, n, CACHE(fr, ip))) != NULL) {
                    goto enter;
                }
                break;
            case OBJ_FUNCTION:
                if ((entered = function_frame(vm, callee, n)) != NULL) {
                    goto enter;
                }
                break;
            case OBJ_NATIVE:
                if (!call_native_positional(vm, AS_NATIVE(f), callee + 1, n, &r)) {
                    ERROR();
                }
                *callee = r;
                sp = callee + 1;
                NEXT();
            case OBJ_WEAKREF:
                if (n == 0 && (mod_weakref_deref_plain(AS_OBJ(f), &r) ||
                               mod_weakref_call_fast(vm, f, &r))) {
                    *callee = r;
                    sp = callee + 1;
                    NEXT();
                }
                break;
            default:
                break;
            }
        }
        bool pushed;
        if (!call_value(vm, callee, n, NULL, NULL, &pushed, &r)) {
            ERROR();
        }
        if (pushed) {
            fr->sp = callee;
            RELOAD();
            NEXT();
        }
        *callee = r;
        sp = callee + 1;
        NEXT();
    enter:
        // The new frame lies just above the caller's; its registers come from the code entered.
        fr->sp = callee;
        fr++;
        ip = entered->code;
        slots = callee + 1;
        sp = slots + entered->nslots;
        consts = entered->consts;
        names = entered->names;
        cache_bias = entered->cache_bias;
        NEXT();
    }
    }
    CASE(CALL_KW) {
        ObjTuple *kwnames = AS_TUPLE(sp[-1]);
        sp--;
        Value *callee = sp - arg - 1;
        int npos = (int)arg - (int)kwnames->count;
        sp[0] = OBJ_VAL(kwnames); // keep the names rooted above the arguments
        vm->stack_top = sp + 1;
        fr->ip = ip;
        bool pushed;
        Value r;
        if (!call_value(vm, callee, npos, kwnames, NULL, &pushed, &r)) {
            ERROR();
        }
        if (pushed) {
            fr->sp = callee;
            RELOAD();
            NEXT();
        }
        *callee = r;
        sp = callee + 1;
        NEXT();
    }
    CASE(CALL_EX) {
        Value *callee = sp - 2 - (arg & 1);
        SYNC();
        ObjTuple *args = AS_TUPLE(callee[1]);
        ObjDict *kw = (arg & 1) ? AS_DICT(callee[2]) : NULL;
        Value r;
        if (!vm_call(vm, callee[0], (int)args->count, args->items, kw, &r)) {
            ERROR();
        }
        *callee = r;
        sp = callee + 1;
        NEXT();
    }
    CASE(BINARY_SUBSCR) {
        Value obj = sp[-2], key = sp[-1];
        if (IS_LIST(obj) && IS_INT(key)) {
            ObjList *l = AS_LIST(obj);
            int64_t i = AS_INT(key);
            if (i < 0) {
                i += l->count;
            }
            if (i >= 0 && i < (int64_t)l->count) {
                sp[-2] = l->items[i];
                sp--;
                NEXT();
            }
        }
        SYNC();
        Value r;
        // d[k] of a weak dictionary goes straight to its native (what ops_getitem does)
        if (IS_KIND(obj, OBJ_WEAKDICT) && mod_weakref_item_native(vm, obj, MOD_WEAKREF_GETITEM)
                ? !mod_weakref_getitem(vm, obj, key, &r)
                : !ops_getitem(vm, obj, key, &r)) {
            ERROR();
        }
        sp[-2] = r;
        sp--;
        NEXT();
    }
    CASE(STORE_SUBSCR) {
        Value v = sp[-3], obj = sp[-2], key = sp[-1];
        if (IS_LIST(obj) && IS_INT(key)) {
            ObjList *l = AS_LIST(obj);
            int64_t i = AS_INT(key);
            if (i < 0) {
                i += l->count;
            }
            if (i >= 0 && i < (int64_t)l->count) {
                l->items[i] = v;
                sp -= 3;
                NEXT();
            }
        }
        SYNC();
        // d[k] = v of a weak dictionary goes straight to its native (what ops_setitem does)
        if (IS_KIND(obj, OBJ_WEAKDICT) && mod_weakref_item_native(vm, obj, MOD_WEAKREF_SETITEM)
                ? !mod_weakref_setitem(vm, obj, key, v)
                : !ops_setitem(vm, obj, key, v)) {
            ERROR();
        }
        sp -= 3;
        NEXT();
    }
    CASE(DELETE_SUBSCR) {
        SYNC();
        if (!ops_delitem(vm, sp[-2], sp[-1])) {
            ERROR();
        }
        sp -= 2;
        NEXT();
    }
    CASE(BUILD_SLICE) {
        SYNC();
        Value step = arg == 3 ? sp[-1] : NONE_VAL;
        Value *base = sp - arg;
        ObjSlice *s = slice_new(vm, base[0], base[1], step);
        sp = base;
        *sp++ = OBJ_VAL(s);
        NEXT();
    }

// The int operators: quick_int_op's answer, or ops_binary (overflow, floats, dunders, errors).
#define INT_BINOP(opname)                                                                      \
    CASE(opname) {                                                                             \
        Value a = sp[-2], b = sp[-1];                                                          \
        int64_t r;                                                                             \
        if (IS_INT(a) && IS_INT(b) && quick_int_op(OPCODE_##opname, AS_INT(a), AS_INT(b), &r)) { \
            sp[-2] = INT_VAL(r);                                                               \
            sp--;                                                                              \
            NEXT();                                                                            \
        }                                                                                      \
        goto generic_binary;                                                                   \
    }
    INT_BINOP(ADD)
    INT_BINOP(SUB)
    INT_BINOP(MUL)
    INT_BINOP(MOD)
    INT_BINOP(FLOORDIV)
    INT_BINOP(BAND)
    INT_BINOP(BOR)
    INT_BINOP(BXOR)
    INT_BINOP(RSHIFT)
    INT_BINOP(LSHIFT)
#undef INT_BINOP
    CASE(TRUEDIV) { goto generic_binary; }
    CASE(POW) {
    generic_binary : {
        SYNC();
        Value r;
        if (!ops_binary(vm, OPCODE_OP(word), sp[-2], sp[-1], &r)) {
            ERROR();
        }
        sp[-2] = r;
        sp--;
        NEXT();
    }
    }
    CASE(INPLACE) {
        // ints are immutable: x op= y is x op y
        Value a = sp[-2], b = sp[-1];
        int64_t n;
        if (IS_INT(a) && IS_INT(b) && quick_int_op((uint8_t)arg, AS_INT(a), AS_INT(b), &n)) {
            sp[-2] = INT_VAL(n);
            sp--;
            NEXT();
        }
        SYNC();
        Value r;
        if (!ops_inplace(vm, (int)arg, a, b, &r)) {
            ERROR();
        }
        sp[-2] = r;
        sp--;
        NEXT();
    }
    CASE(NEG) {
        Value a = sp[-1];
        if (IS_INT(a) && AS_INT(a) != INT64_MIN) {
            sp[-1] = INT_VAL(-AS_INT(a));
            NEXT();
        }
        if (IS_FLOAT(a)) {
            sp[-1] = FLOAT_VAL(-AS_FLOAT(a));
            NEXT();
        }
        goto generic_unary;
    }
    CASE(POS) { goto generic_unary; }
    CASE(INVERT) {
    generic_unary : {
        SYNC();
        Value r;
        if (!ops_unary(vm, OPCODE_OP(word), sp[-1], &r)) {
            ERROR();
        }
        sp[-1] = r;
        NEXT();
    }
    }
    CASE(NOT) {
        Value a = sp[-1];
        if (IS_BOOL(a)) {
            sp[-1] = BOOL_VAL(!AS_BOOL(a));
            NEXT();
        }
        SYNC();
        bool t;
        if (!ops_truthy(vm, a, &t)) {
            ERROR();
        }
        sp[-1] = BOOL_VAL(!t);
        NEXT();
    }

#define CMP_OP(opname, op)                                                                     \
    CASE(opname) {                                                                             \
        Value a = sp[-2], b = sp[-1];                                                          \
        if (IS_INT(a) && IS_INT(b)) {                                                          \
            sp[-2] = BOOL_VAL(AS_INT(a) op AS_INT(b));                                         \
            sp--;                                                                              \
            NEXT();                                                                            \
        }                                                                                      \
        if (IS_FLOAT(a) && IS_FLOAT(b)) {                                                      \
            sp[-2] = BOOL_VAL(AS_FLOAT(a) op AS_FLOAT(b));                                     \
            sp--;                                                                              \
            NEXT();                                                                            \
        }                                                                                      \
        goto generic_compare;                                                                  \
    }
    CMP_OP(LT, <)
    CMP_OP(LE, <=)
    CMP_OP(GT, >)
    CMP_OP(GE, >=)
    CMP_OP(NE, !=)
    CMP_OP(EQ, ==)
#undef CMP_OP
generic_compare : {
    SYNC();
    Value r;
    if (!ops_compare(vm, OPCODE_OP(word), sp[-2], sp[-1], &r)) {
        ERROR();
    }
    sp[-2] = r;
    sp--;
    NEXT();
}
    CASE(IS) {
        sp[-2] = BOOL_VAL(value_is(sp[-2], sp[-1]));
        sp--;
        NEXT();
    }
    CASE(IS_NOT) {
        sp[-2] = BOOL_VAL(!value_is(sp[-2], sp[-1]));
        sp--;
        NEXT();
    }
    CASE(IN) {
        SYNC();
        bool r;
        if (!ops_contains(vm, sp[-1], sp[-2], &r)) {
            ERROR();
        }
        sp[-2] = BOOL_VAL(r);
        sp--;
        NEXT();
    }
    CASE(NOT_IN) {
        SYNC();
        bool r;
        if (!ops_contains(vm, sp[-1], sp[-2], &r)) {
            ERROR();
        }
        sp[-2] = BOOL_VAL(!r);
        sp--;
        NEXT();
    }
    CASE(JUMP) {
        uint32_t *target = fr->code->code + arg;
        if (target < ip) {
            if (SAFE_POINT_DUE()) {
                SYNC();
                fr->sp = sp;
                if (!check_interrupt(vm)) {
                    ERROR();
                }
                weak_run_pending(vm);
            }
        }
        ip = target;
        NEXT();
    }

#define TRUTH_JUMP(opname, jump_when, pop_always)                                              \
    CASE(opname) {                                                                             \
        Value c = sp[-1];                                                                      \
        bool t;                                                                                \
        if (IS_BOOL(c)) {                                                                      \
            t = AS_BOOL(c);                                                                    \
        } else if (IS_NONE(c)) {                                                               \
            t = false;                                                                         \
        } else if (IS_INT(c)) {                                                                \
            t = AS_INT(c) != 0;                                                                \
        } else {                                                                               \
            SYNC();                                                                            \
            if (!ops_truthy(vm, c, &t)) {                                                      \
                ERROR();                                                                       \
            }                                                                                  \
        }                                                                                      \
        if (t == (jump_when)) {                                                                \
            if (pop_always) {                                                                  \
                sp--;                                                                          \
            }                                                                                  \
            ip = fr->code->code + arg;                                                         \
        } else {                                                                               \
            sp--;                                                                              \
        }                                                                                      \
        NEXT();                                                                                \
    }
    TRUTH_JUMP(POP_JUMP_IF_FALSE, false, true)
    TRUTH_JUMP(POP_JUMP_IF_TRUE, true, true)
    TRUTH_JUMP(JUMP_IF_FALSE_OR_POP, false, false)
    TRUTH_JUMP(JUMP_IF_TRUE_OR_POP, true, false)
#undef TRUTH_JUMP
    CASE(GET_ITER) {
        SYNC();
        Value it;
        if (!ops_iter(vm, sp[-1], &it)) {
            ERROR();
        }
        sp[-1] = it;
        NEXT();
    }
    CASE(FOR_ITER) {
        Value it = sp[-1];
        if (IS_KIND(it, OBJ_ITER)) {
            ObjIter *x = (ObjIter *)AS_OBJ(it);
            if (x->kind == ITER_RANGE) {
                ObjRange *r = (ObjRange *)AS_OBJ(x->source);
                if (x->index < r->length) {
                    *sp++ = INT_VAL(range_at(r, x->index));
                    x->index++;
                    NEXT();
                }
                sp--;
                ip = fr->code->code + arg;
                NEXT();
            }
            if (x->kind == ITER_LIST) {
                ObjList *l = AS_LIST(x->source);
                if (x->index < (int64_t)l->count) {
                    *sp++ = l->items[x->index++];
                    NEXT();
                }
                iter_list_exhausted(x);
                sp--;
                ip = fr->code->code + arg;
                NEXT();
            }
        }
        SYNC();
        Value v;
        bool done;
        if (!ops_next(vm, it, &v, &done)) {
            ERROR();
        }
        if (done) {
            sp--;
            ip = fr->code->code + arg;
            NEXT();
        }
        *sp++ = v;
        NEXT();
    }
    CASE(BUILD_TUPLE) {
        SYNC();
        ObjTuple *t = tuple_from(vm, sp - arg, arg);
        sp -= arg;
        *sp++ = OBJ_VAL(t);
        NEXT();
    }
    CASE(BUILD_LIST) {
        SYNC();
        ObjList *l = list_new(vm, arg);
        if (arg > 0) {
            memcpy(l->items, sp - arg, sizeof(Value) * arg);
        }
        l->count = arg;
        sp -= arg;
        *sp++ = OBJ_VAL(l);
        NEXT();
    }
    CASE(BUILD_SET) {
        SYNC();
        ObjSet *s = set_new(vm);
        *sp++ = OBJ_VAL(s);
        SYNC();
        for (uint32_t i = 0; i < arg; i++) {
            if (!set_add(vm, s, sp[-1 - (int)arg + (int)i])) {
                ERROR();
            }
        }
        sp -= arg + 1;
        *sp++ = OBJ_VAL(s);
        NEXT();
    }
    CASE(BUILD_MAP) {
        SYNC();
        ObjDict *d = dict_new(vm);
        *sp++ = OBJ_VAL(d);
        SYNC();
        Value *base = sp - 1 - 2 * arg;
        for (uint32_t i = 0; i < arg; i++) {
            if (!dict_set(vm, d, base[2 * i], base[2 * i + 1])) {
                ERROR();
            }
        }
        sp = base;
        *sp++ = OBJ_VAL(d);
        NEXT();
    }
    CASE(LIST_APPEND) {
        SYNC();
        ObjList *l = AS_LIST(sp[-1 - (int)arg]);
        list_append(vm, l, sp[-1]);
        sp--;
        NEXT();
    }
    CASE(SET_ADD) {
        SYNC();
        if (!set_add(vm, AS_SET(sp[-1 - (int)arg]), sp[-1])) {
            ERROR();
        }
        sp--;
        NEXT();
    }
    CASE(MAP_ADD) {
        SYNC();
        if (!dict_set(vm, AS_DICT(sp[-2 - (int)arg]), sp[-2], sp[-1])) {
            ERROR();
        }
        sp -= 2;
        NEXT();
    }
    CASE(LIST_EXTEND) {
        SYNC();
        if (!list_extend(vm, AS_LIST(sp[-1 - (int)arg]), sp[-1])) {
            if (exc_is(vm, vm->exception, vm->cls.TypeError)) {
                // CPython: "Value after * must be an iterable, not int"
                vm->exception = EMPTY_VAL;
                exc_raise(vm, vm->cls.TypeError, "Value after * must be an iterable, not %s",
                          class_of(vm, sp[-1])->name->chars);
            }
            ERROR();
        }
        sp--;
        NEXT();
    }
    CASE(SET_UPDATE) {
        SYNC();
        if (!set_update(vm, AS_SET(sp[-1 - (int)arg]), sp[-1])) {
            ERROR();
        }
        sp--;
        NEXT();
    }
    CASE(DICT_UPDATE) { goto dict_merge; }
    CASE(DICT_MERGE) {
    dict_merge : {
        SYNC();
        ObjDict *d = AS_DICT(sp[-1 - (int)arg]);
        Value m = sp[-1];
        if (!IS_DICT(m)) {
            exc_raise(vm, vm->cls.TypeError, "'%s' object is not a mapping",
                      class_of(vm, m)->name->chars);
            ERROR();
        }
        ObjDict *src = AS_DICT(m);
        for (uint32_t i = 0; i < src->table.used; i++) {
            TableEntry *e = &src->table.entries[i];
            if (IS_EMPTY(e->key)) {
                continue;
            }
            if (OPCODE_OP(word) == OPCODE_DICT_MERGE) {
                Value dummy;
                bool found;
                if (!dict_get(vm, d, e->key, &dummy, &found)) {
                    ERROR();
                }
                if (found) {
                    ObjStr *ks;
                    if (ops_str(vm, e->key, &ks)) {
                        exc_raise(vm, vm->cls.TypeError,
                                  "got multiple values for keyword argument '%s'", ks->chars);
                    }
                    ERROR();
                }
            }
            if (!dict_set(vm, d, e->key, e->value)) {
                ERROR();
            }
        }
        sp--;
        NEXT();
    }
    }
    CASE(LIST_TO_TUPLE) {
        SYNC();
        ObjList *l = AS_LIST(sp[-1]);
        sp[-1] = OBJ_VAL(tuple_from(vm, l->items, l->count));
        NEXT();
    }
    CASE(UNPACK_SEQUENCE) {
        SYNC();
        Value seq = sp[-1];
        if (IS_TUPLE(seq) && AS_TUPLE(seq)->count == arg) {
            ObjTuple *t = AS_TUPLE(seq);
            sp--;
            for (int i = (int)arg - 1; i >= 0; i--) {
                *sp++ = t->items[i];
            }
            NEXT();
        }
        Value tmp[256];
        if (arg > 256) {
            exc_raise(vm, vm->cls.ValueError, "too many targets to unpack");
            ERROR();
        }
        if (!unpack(vm, seq, (int)arg, 0, false, tmp)) {
            ERROR();
        }
        sp--;
        for (uint32_t i = 0; i < arg; i++) {
            *sp++ = tmp[i];
        }
        NEXT();
    }
    CASE(UNPACK_EX) {
        SYNC();
        int before = (int)(arg & 0xff), after = (int)(arg >> 8);
        Value seq = sp[-1];
        Value *dst = sp; // scratch above the sequence, which stays rooted below it
        vm->stack_top = sp + before + after + 1;
        for (int i = 0; i < before + after + 1; i++) {
            dst[i] = NONE_VAL;
        }
        if (!unpack(vm, seq, before, after, true, dst)) {
            ERROR();
        }
        memmove(sp - 1, dst, sizeof(Value) * (size_t)(before + after + 1));
        sp += before + after;
        NEXT();
    }
    CASE(FORMAT_VALUE) {
        SYNC();
        bool has_spec = (arg & 4) != 0;
        Value v = has_spec ? sp[-2] : sp[-1];
        Value spec = has_spec ? sp[-1] : NONE_VAL;
        ObjStr *s;
        if (!format_value(vm, v, (int)arg, spec, &s)) {
            ERROR();
        }
        if (has_spec) {
            sp--;
        }
        sp[-1] = OBJ_VAL(s);
        NEXT();
    }
    CASE(BUILD_STRING) {
        SYNC();
        Value r;
        build_string(vm, sp - arg, (int)arg, &r);
        sp -= arg;
        *sp++ = r;
        NEXT();
    }
    CASE(MAKE_FUNCTION) {
        SYNC();
        Value f;
        make_function(vm, fr, (int)arg, sp, &f);
        sp -= make_function_operands((int)arg);
        *sp++ = f;
        NEXT();
    }
    CASE(RETURN_VALUE) {
        Value r = sp[-1];
        // One test for the commonest frame; a generator's frame is always a boundary.
        if (fr->flags != 0) {
            if (fr->flags & FRAME_CONSTRUCTOR) {
                if (!IS_NONE(r)) {
                    SYNC();
                    exc_raise(vm, vm->cls.TypeError, "__init__() should return None, not '%s'",
                              class_of(vm, r)->name->chars);
                    ERROR();
                }
                r = slots[-1];
            }
            if (fr->flags & FRAME_BOUNDARY) {
                if (fr->gen != NULL) {
                    fr->gen->state = GEN_RUNNING; // finished: vm_gen_resume marks it closed
                }
                vm->frame_count--;
                vm->stack_top = fr->slots;
                *result = r;
                if (weak_has_pending(vm)) {
                    gc_push_root(vm, r);
                    weak_run_pending(vm);
                    gc_pop_root(vm);
                }
                return true;
            }
        }
        vm->frame_count--;
        Value *callee = slots - 1;
        RELOAD_CALLER();
        // The caller's sp was saved at its callee slot.
        *callee = r;
        sp = callee + 1;
        NEXT();
    }
    CASE(YIELD_VALUE) {
        Value v = sp[-1];
        sp--;
        fr->ip = ip;
        save_generator(vm, fr, sp);
        vm->frame_count--;
        vm->stack_top = fr->slots;
        *result = v;
        return true;
    }
    CASE(SEND) {
        SYNC();
        Value v;
        bool done = false;
        if (!send_to(vm, sp[-2], sp[-1], &v, &done)) {
            ERROR();
        }
        if (done) {
            sp -= 2;
            *sp++ = v;
            ip = fr->code->code + arg;
            NEXT();
        }
        sp[-1] = v;
        NEXT();
    }
    CASE(BUILD_CLASS) {
        SYNC();
        Value *base = sp - arg - 2;
        ObjFunction *body = AS_FUNCTION(base[0]);
        ObjDict *ns = dict_new(vm);
        *sp++ = OBJ_VAL(ns);
        SYNC();
        Value ignored;
        if (!run_with_locals(vm, body, ns, &ignored)) {
            ERROR();
        }
        Value cls;
        if (!class_build(vm, AS_STR(base[1]), base + 2, (int)arg, ns, &cls)) {
            ERROR();
        }
        sp = base;
        *sp++ = cls;
        NEXT();
    }
    CASE(SETUP_TRY) {
        Block *b = &fr->blocks[fr->nblocks++];
        b->kind = BLOCK_TRY;
        b->target = arg;
        b->depth = (uint32_t)(sp - (slots + fr->code->nslots));
        NEXT();
    }
    CASE(POP_BLOCK) {
        fr->nblocks--;
        NEXT();
    }
    CASE(POP_EXCEPT) {
        Block *b = &fr->blocks[--fr->nblocks];
        vm->handled_count = (int)b->depth;
        NEXT();
    }
    CASE(RERAISE) {
        Value exc = sp[-1];
        sp--;
        SYNC();
        vm->exception = exc;
        fr->ip = ip;
        goto on_reraise;
    }
    CASE(RAISE_VARARGS) {
        SYNC();
        if (arg == 0) {
            if (vm->handled_count == 0) {
                exc_raise(vm, vm->cls.RuntimeError, "No active exception to reraise");
                ERROR();
            }
            vm->exception = vm->handled[vm->handled_count - 1];
            fr->ip = ip;
            goto on_reraise;
        }
        if (arg == 2) {
            Value cause = sp[-1];
            Value exc = sp[-2];
            if (IS_CLASS(cause)) {
                if (!vm_call(vm, cause, 0, NULL, NULL, &sp[-1])) {
                    ERROR();
                }
                cause = sp[-1];
            }
            if (IS_CLASS(exc)) {
                if (!vm_call(vm, exc, 0, NULL, NULL, &sp[-2])) {
                    ERROR();
                }
                exc = sp[-2];
            }
            if (IS_EXCEPTION(exc)) {
                AS_EXCEPTION(exc)->cause = cause;
                AS_EXCEPTION(exc)->suppress_context = true;
            }
            exc_raise_value(vm, exc);
            ERROR();
        }
        exc_raise_value(vm, sp[-1]);
        ERROR();
    }
    CASE(CHECK_EXC_MATCH) {
        SYNC();
        bool ok;
        bool m = exc_matches(vm, sp[-2], sp[-1], &ok);
        if (!ok) {
            ERROR();
        }
        sp[-1] = BOOL_VAL(m);
        NEXT();
    }
    CASE(COPY) {
        Value v = sp[-(ptrdiff_t)arg];
        *sp++ = v;
        NEXT();
    }
    CASE(ASSERT_FAIL) {
        SYNC();
        int has_msg = (int)(arg & 1), n = (int)(arg >> 1);
        testrun_assert_fail(vm, sp - has_msg - 1 - n, n, sp[-has_msg - 1],
                            has_msg ? sp[-1] : EMPTY_VAL);
        ERROR();
    }
    CASE(SETUP_WITH) {
        SYNC();
        Value exit, entered;
        if (!with_enter(vm, sp[-1], &exit, &entered)) {
            ERROR();
        }
        sp[-1] = exit;
        Block *b = &fr->blocks[fr->nblocks++];
        b->kind = BLOCK_TRY;
        b->target = arg;
        b->depth = (uint32_t)(sp - (slots + fr->code->nslots));
        *sp++ = entered;
        NEXT();
    }
    CASE(WITH_NORMAL_EXIT) {
        SYNC();
        Value args[3] = {NONE_VAL, NONE_VAL, NONE_VAL};
        Value r;
        if (!vm_call(vm, sp[-1], 3, args, NULL, &r)) {
            ERROR();
        }
        sp--;
        NEXT();
    }
    CASE(WITH_EXCEPT) {
        SYNC();
        bool suppress;
        if (!with_except(vm, sp[-2], sp[-1], &suppress)) {
            ERROR();
        }
        *sp++ = BOOL_VAL(suppress);
        NEXT();
    }
    CASE(IMPORT_NAME) {
        SYNC();
        Value m;
        if (!vm_import(vm, names[arg], &m)) {
            ERROR();
        }
        *sp++ = m;
        NEXT();
    }
    CASE(IMPORT_FROM) {
        SYNC();
        Value v;
        if (!do_import_from(vm, sp[-1], names[arg], &v)) {
            ERROR();
        }
        *sp++ = v;
        NEXT();
    }
    // ---- Superinstructions (vm/quicken.h) ----------------------------------------------------
    // [ip] points at the pair's second word. The fast path runs both and skips it; any other
    // case goes to the first instruction's plain handler (with [word] restored where that
    // handler reads the opcode), and the second word then runs as usual.
    CASE(FOR_ITER_STORE_FAST)
    for_iter_store_fast: { // JUMP_FOR_ITER enters here, [word] not fetched
        Value it = sp[-1];
        if (IS_KIND(it, OBJ_ITER)) {
            ObjIter *x = (ObjIter *)AS_OBJ(it);
            int64_t i = x->index;
            Value *dst = &slots[OPCODE_ARG(*ip)];
            if (x->kind == ITER_LIST) {
                ObjList *l = AS_LIST(x->source);
                if (i < (int64_t)l->count) {
                    x->index = i + 1;
                    *dst = l->items[i];
                    ip++;
                    NEXT();
                }
            } else if (x->kind == ITER_RANGE) {
                ObjRange *r = (ObjRange *)AS_OBJ(x->source);
                if (i < r->length) {
                    x->index = i + 1;
                    *dst = INT_VAL(range_at(r, i));
                    ip++;
                    NEXT();
                }
            }
        }
        word = ip[-1];
        goto L_FOR_ITER;
    }
    CASE(LOAD_FAST_LOAD_FAST) {
        Value a = slots[arg], b = slots[OPCODE_ARG(*ip)];
        if (IS_EMPTY(a) || IS_EMPTY(b)) {
            goto L_LOAD_FAST;
        }
        sp[0] = a;
        sp[1] = b;
        sp += 2;
        ip++;
        NEXT();
    }
    CASE(LOAD_FAST_LOAD_CONST) {
        Value a = slots[arg];
        if (IS_EMPTY(a)) {
            goto L_LOAD_FAST;
        }
        sp[0] = a;
        sp[1] = consts[OPCODE_ARG(*ip)];
        sp += 2;
        ip++;
        NEXT();
    }
    CASE(LOAD_FAST_LOAD_ATTR) {
        Value a = slots[arg];
        if (IS_INSTANCE(a)) {
            Value *f = field_cached(CACHE(fr, ip + 1), AS_INSTANCE(a)); // LOAD_ATTR's cache
            if (f != NULL) {
                *sp++ = *f;
                ip++;
                NEXT();
            }
        }
        goto L_LOAD_FAST;
    }
    CASE(STORE_FAST_LOAD_FAST) {
        slots[arg] = *--sp;
        Value b = slots[OPCODE_ARG(*ip)];
        if (!IS_EMPTY(b)) {
            *sp++ = b;
            ip++;
        }
        NEXT();
    }
#define INPLACE_STORE_FAST_OP(opname, op)                                                      \
    CASE(opname) {                                                                             \
        Value a = sp[-2], b = sp[-1];                                                          \
        int64_t r;                                                                             \
        if (IS_INT(a) && IS_INT(b) && quick_int_op((op), AS_INT(a), AS_INT(b), &r)) {          \
            slots[OPCODE_ARG(*ip)] = INT_VAL(r);                                               \
            sp -= 2;                                                                           \
            ip++;                                                                              \
            NEXT();                                                                            \
        }                                                                                      \
        goto L_INPLACE;                                                                        \
    }
    INPLACE_STORE_FAST_OP(INPLACE_STORE_FAST, (uint8_t)arg)
    INPLACE_STORE_FAST_OP(INPLACE_STORE_FAST_ADD, OPCODE_ADD)
#undef INPLACE_STORE_FAST_OP
    CASE(CALL_METHOD_POP) {
        // A statement calling a built-in method (`xs.append(x)`): the result is dropped.
        Value *callee = sp - arg - 2;
        if (IS_NATIVE(*callee) && AS_NATIVE(*callee)->fn == list_m_append && arg == 1 &&
            IS_EMPTY(AS_NATIVE(*callee)->self) && IS_LIST(callee[1])) {
            // list.append itself, without the native call (what m_append does)
            SYNC(); // growing the list may collect: the stack roots the list and the item
            list_append(vm, AS_LIST(callee[1]), callee[2]);
            sp = callee;
            ip++;
            NEXT();
        }
        if (IS_NATIVE(*callee)) {
            SYNC();
            Value r;
            if (!call_native_positional(vm, AS_NATIVE(*callee), callee + 1, (int)arg + 1, &r)) {
                ERROR();
            }
            sp = callee;
            ip++;
            NEXT();
        }
        goto L_CALL_METHOD;
    }
    CASE(COMPARE_POP_JUMP_IF_FALSE) {
        bool t;
        if (!quick_compare((uint8_t)arg, sp[-2], sp[-1], &t)) {
            word = OPCODE_MAKE(arg, 0);
            goto generic_compare;
        }
        sp -= 2;
        ip = t ? ip + 1 : fr->code->code + OPCODE_ARG(*ip);
        NEXT();
    }
// (top of stack) op [operand], [ip] at the operator; off the int fast path, [fallback] (the
// plain handler of the run's first instruction) runs and the operator after it.
// [op] is the operator: read from its word, or OPCODE_ADD in the `+` forms (vm/quicken.c).
#define BINARY_TOS(opname, operand, fallback, op)                                              \
    CASE(opname) {                                                                             \
        Value a = sp[-1], b = (operand);                                                       \
        int64_t r;                                                                             \
        if (IS_INT(a) && IS_INT(b) && quick_int_op((op), AS_INT(a), AS_INT(b), &r)) {          \
            sp[-1] = INT_VAL(r);                                                               \
            ip++;                                                                              \
            NEXT();                                                                            \
        }                                                                                      \
        goto fallback;                                                                         \
    }
    BINARY_TOS(BINARY_CONST, consts[arg], L_LOAD_CONST, OPCODE_OP(*ip))
    BINARY_TOS(BINARY_LOCAL, slots[arg], L_LOAD_FAST, OPCODE_OP(*ip))
    BINARY_TOS(BINARY_DEREF, ((ObjCell *)AS_OBJ(slots[fr->code->nlocals + arg]))->value,
               L_LOAD_DEREF, OPCODE_OP(*ip))
    BINARY_TOS(BINARY_CONST_ADD, consts[arg], L_LOAD_CONST, OPCODE_ADD)
    BINARY_TOS(BINARY_CONST_MOD, consts[arg], L_LOAD_CONST, OPCODE_MOD)
    BINARY_TOS(BINARY_LOCAL_ADD, slots[arg], L_LOAD_FAST, OPCODE_ADD)
#undef BINARY_TOS
// a op b on a local and [operand]: [ip] at the second load, [ip + 1] at the operator
#define BINARY_FAST(opname, operand, op)                                                       \
    CASE(opname) {                                                                             \
        Value a = slots[arg], b = (operand);                                                   \
        int64_t r;                                                                             \
        if (IS_INT(a) && IS_INT(b) && quick_int_op((op), AS_INT(a), AS_INT(b), &r)) {          \
            *sp++ = INT_VAL(r);                                                                \
            ip += 2;                                                                           \
            NEXT();                                                                            \
        }                                                                                      \
        goto L_LOAD_FAST;                                                                      \
    }
    BINARY_FAST(BINARY_FAST_FAST, slots[OPCODE_ARG(ip[0])], OPCODE_OP(ip[1]))
    BINARY_FAST(BINARY_FAST_CONST, consts[OPCODE_ARG(ip[0])], OPCODE_OP(ip[1]))
    BINARY_FAST(BINARY_FAST_FAST_ADD, slots[OPCODE_ARG(ip[0])], OPCODE_ADD)
    BINARY_FAST(BINARY_FAST_CONST_ADD, consts[OPCODE_ARG(ip[0])], OPCODE_ADD)
    BINARY_FAST(BINARY_FAST_CONST_SUB, consts[OPCODE_ARG(ip[0])], OPCODE_SUB)
    BINARY_FAST(BINARY_FAST_CONST_MOD, consts[OPCODE_ARG(ip[0])], OPCODE_MOD)
#undef BINARY_FAST
    // [ip] is at the comparison, [ip + 1] at the jump; the constant is the right operand.
    // [cmp] is the comparison: read from its word, or settled at load time.
#define CONST_COMPARE_POP_JUMP_OP(opname, cmp)                                                 \
    CASE(opname) {                                                                             \
        bool t;                                                                                \
        if (!quick_compare((cmp), sp[-1], consts[arg], &t)) {                                  \
            goto L_LOAD_CONST;                                                                 \
        }                                                                                      \
        sp--;                                                                                  \
        ip = t ? ip + 2 : fr->code->code + OPCODE_ARG(ip[1]);                                  \
        NEXT();                                                                                \
    }
    CONST_COMPARE_POP_JUMP_OP(CONST_COMPARE_POP_JUMP, OPCODE_OP(ip[0]))
    CONST_COMPARE_POP_JUMP_OP(CONST_EQ_POP_JUMP, OPCODE_EQ)
    CONST_COMPARE_POP_JUMP_OP(CONST_LT_POP_JUMP, OPCODE_LT)
#undef CONST_COMPARE_POP_JUMP_OP
    // x op= c: [ip] at LOAD_CONST, [ip + 1] at INPLACE, [ip + 2] at STORE_FAST x.
#define INPLACE_FAST_CONST_OP(opname, op)                                                      \
    CASE(opname) {                                                                             \
        Value a = slots[arg], b = consts[OPCODE_ARG(ip[0])];                                   \
        int64_t r;                                                                             \
        if (IS_INT(a) && IS_INT(b) && quick_int_op((op), AS_INT(a), AS_INT(b), &r)) {          \
            AS_INT(slots[arg]) = r; /* the local holds an int already */                       \
            ip += 3;                                                                           \
            NEXT();                                                                            \
        }                                                                                      \
        goto L_LOAD_FAST;                                                                      \
    }
    INPLACE_FAST_CONST_OP(INPLACE_FAST_CONST, (uint8_t)OPCODE_ARG(ip[1]))
    INPLACE_FAST_CONST_OP(INPLACE_FAST_CONST_ADD, OPCODE_ADD)
#undef INPLACE_FAST_CONST_OP
    CASE(LOAD_FAST_STORE_ATTR) {
        // o.name = v: [ip] at LOAD_FAST o, [ip + 1] at STORE_ATTR (whose cache is used)
        Value v = slots[arg], obj = slots[OPCODE_ARG(ip[0])];
        if (!IS_EMPTY(v) && IS_INSTANCE(obj) &&
            field_store_cached(CACHE(fr, ip + 2), AS_INSTANCE(obj), v)) {
            ip += 2;
            NEXT();
        }
        goto L_LOAD_FAST;
    }
    CASE(LOAD_FAST_LOAD_METHOD) {
        // [ip] is at LOAD_METHOD, whose cache is used
        Value obj = slots[arg];
        Value *cached = method_cached(vm, CACHE(fr, ip + 1), obj, names[OPCODE_ARG(*ip)]);
        if (cached != NULL) {
            sp[0] = *cached;
            sp[1] = obj;
            sp += 2;
            ip++;
            NEXT();
        }
        goto L_LOAD_FAST;
    }
    CASE(SUBSCR_FAST_FAST) {
        // xs[i] on locals: [ip] at LOAD_FAST i, [ip + 1] at BINARY_SUBSCR
        Value obj = slots[arg], key = slots[OPCODE_ARG(*ip)];
        if (IS_LIST(obj) && IS_INT(key)) {
            ObjList *l = AS_LIST(obj);
            uint64_t n = l->count, i = (uint64_t)AS_INT(key);
            if (i >= n) {
                i += n; // a negative index counts from the end; any other stays out of range
            }
            if (i < n) {
                *sp++ = l->items[i];
                ip += 2;
                NEXT();
            }
        }
        goto L_LOAD_FAST;
    }
    // [ip] at LOAD_CONST, [ip + 1] at the comparison, [ip + 2] at the jump
#define FAST_CONST_COMPARE_JUMP_OP(opname, cmp)                                                \
    CASE(opname) {                                                                             \
        Value a = slots[arg];                                                                  \
        bool t;                                                                                \
        if (IS_EMPTY(a) || !quick_compare((cmp), a, consts[OPCODE_ARG(ip[0])], &t)) {          \
            goto L_LOAD_FAST;                                                                  \
        }                                                                                      \
        ip = t ? ip + 3 : fr->code->code + OPCODE_ARG(ip[2]);                                  \
        NEXT();                                                                                \
    }
    FAST_CONST_COMPARE_JUMP_OP(FAST_CONST_COMPARE_JUMP, OPCODE_OP(ip[1]))
    FAST_CONST_COMPARE_JUMP_OP(FAST_CONST_EQ_JUMP, OPCODE_EQ)
    FAST_CONST_COMPARE_JUMP_OP(FAST_CONST_LT_JUMP, OPCODE_LT)
#undef FAST_CONST_COMPARE_JUMP_OP
    CASE(FAST_FAST_COMPARE_JUMP) {
        // [ip] at the second LOAD_FAST, [ip + 1] at the comparison, [ip + 2] at the jump
        Value a = slots[arg], b = slots[OPCODE_ARG(ip[0])];
        bool t;
        if (IS_EMPTY(a) || IS_EMPTY(b) || !quick_compare(OPCODE_OP(ip[1]), a, b, &t)) {
            goto L_LOAD_FAST;
        }
        ip = t ? ip + 3 : fr->code->code + OPCODE_ARG(ip[2]);
        NEXT();
    }
    CASE(RETURN_FAST) {
        Value v = slots[arg];
        if (IS_EMPTY(v)) {
            goto L_LOAD_FAST;
        }
        *sp++ = v;
        ip++;
        goto L_RETURN_VALUE;
    }
    CASE(STORE_ATTR_FAST) {
        // o.name = v with o a local and v on the stack: [ip] at STORE_ATTR (whose cache is used)
        Value obj = slots[arg];
        if (IS_INSTANCE(obj) && field_store_cached(CACHE(fr, ip + 1), AS_INSTANCE(obj), sp[-1])) {
            sp--;
            ip++;
            NEXT();
        }
        goto L_LOAD_FAST;
    }
    CASE(CALL0_FAST) {
        // r() of a local plain weakref reads the referent; any other call takes CALL
        Value f = slots[arg];
        Value r;
        if (IS_KIND(f, OBJ_WEAKREF) && mod_weakref_deref_plain(AS_OBJ(f), &r)) {
            *sp++ = r;
            ip++;
            NEXT();
        }
        goto L_LOAD_FAST;
    }
    // `if x in c` / `if x not in c`: [ip] at POP_JUMP_IF_FALSE; the test's bool is never pushed
#define IN_POP_JUMP(opname, negate)                                                            \
    CASE(opname) {                                                                             \
        SYNC();                                                                                \
        bool r;                                                                                \
        if (!ops_contains(vm, sp[-1], sp[-2], &r)) {                                           \
            ERROR();                                                                           \
        }                                                                                      \
        sp -= 2;                                                                               \
        ip = r != (negate) ? ip + 1 : fr->code->code + OPCODE_ARG(*ip);                        \
        NEXT();                                                                                \
    }
    IN_POP_JUMP(IN_POP_JUMP, false)
    IN_POP_JUMP(NOT_IN_POP_JUMP, true)
#undef IN_POP_JUMP
    CASE(CALL0_FAST_STORE) {
        // x = r() of a local plain weakref: [ip] at CALL 0, [ip + 1] at STORE_FAST x; any
        // other call runs the plain instructions
        Value f = slots[arg];
        Value r;
        if (IS_KIND(f, OBJ_WEAKREF) && mod_weakref_deref_plain(AS_OBJ(f), &r)) {
            slots[OPCODE_ARG(ip[1])] = r;
            ip += 2;
            NEXT();
        }
        goto L_LOAD_FAST;
    }
    CASE(RETURN_CONST) {
        *sp++ = consts[arg];
        ip++;
        goto L_RETURN_VALUE;
    }
    CASE(MODULE_CALL_FAST) {
        // m.f(x): [ip] at LOAD_METHOD f, [ip + 1] at LOAD_FAST x, [ip + 2] at CALL_METHOD 1.
        // With m a module in globals and f in it (both cached), f and x are pushed and the
        // call runs as CALL 1 after the run, where a traceback places it; otherwise the plain
        // instructions run.
        InlineCache *ic = CACHE(fr, ip); // LOAD_GLOBAL's
        ObjDict *g = fr->globals;
        if (ic->way[0].owner == g && ic->way[0].version == g->version && ic->way[0].index >= 0) {
            Value m = g->table.entries[ic->way[0].index].value;
            Value x = slots[OPCODE_ARG(ip[1])];
            if (IS_KIND(m, OBJ_MODULE) && !IS_EMPTY(x)) {
                Value *f = module_cached(CACHE(fr, ip + 1), (ObjModule *)AS_OBJ(m),
                                         names[OPCODE_ARG(ip[0])]);
                if (f != NULL) {
                    sp[0] = *f;
                    sp[1] = x;
                    sp += 2;
                    ip += 3;
                    word = OPCODE_MAKE(OPCODE_CALL, 1);
                    goto L_CALL;
                }
            }
        }
        goto L_LOAD_GLOBAL;
    }
    CASE(JUMP_FOR_ITER) {
        // [arg] is the distance back from [ip] to the loop head's second word (vm/quicken.c),
        // where [ip] is after the head's word is fetched; the safe point is JUMP's.
        if (SAFE_POINT_DUE()) {
            SYNC();
            fr->sp = sp;
            if (!check_interrupt(vm)) {
                ERROR();
            }
            weak_run_pending(vm);
        }
        ip -= arg;
        goto for_iter_store_fast;
    }
    // `is` and `is not` as conditions (vm/quicken.c settles them); the jump is taken when the
    // test is false. On the top of the stack, popped: [ip] at the comparison, [ip + 1] at the
    // jump.
#define TOS_TEST_POP_JUMP(opname, test)                                                        \
    CASE(opname) {                                                                             \
        bool t = (test);                                                                       \
        sp--;                                                                                  \
        ip = t ? ip + 2 : fr->code->code + OPCODE_ARG(ip[1]);                                  \
        NEXT();                                                                                \
    }
    TOS_TEST_POP_JUMP(CONST_IS_POP_JUMP, quick_is_const(sp[-1], consts[arg]))
    TOS_TEST_POP_JUMP(CONST_IS_NOT_POP_JUMP, !quick_is_const(sp[-1], consts[arg]))
    TOS_TEST_POP_JUMP(IS_NONE_POP_JUMP, IS_NONE(sp[-1])) // x is None: a tag test
    TOS_TEST_POP_JUMP(IS_NOT_NONE_POP_JUMP, !IS_NONE(sp[-1]))
#undef TOS_TEST_POP_JUMP
    // On local [a]: [ip] at LOAD_CONST, [ip + 1] at the comparison, [ip + 2] at the jump.
#define FAST_TEST_JUMP(opname, test)                                                           \
    CASE(opname) {                                                                             \
        Value a = slots[arg];                                                                  \
        if (IS_EMPTY(a)) {                                                                     \
            goto L_LOAD_FAST;                                                                  \
        }                                                                                      \
        bool t = (test);                                                                       \
        ip = t ? ip + 3 : fr->code->code + OPCODE_ARG(ip[2]);                                  \
        NEXT();                                                                                \
    }
    FAST_TEST_JUMP(FAST_CONST_IS_JUMP, quick_is_const(a, consts[OPCODE_ARG(ip[0])]))
    FAST_TEST_JUMP(FAST_CONST_IS_NOT_JUMP, !quick_is_const(a, consts[OPCODE_ARG(ip[0])]))
    FAST_TEST_JUMP(FAST_IS_NONE_JUMP, IS_NONE(a))
    FAST_TEST_JUMP(FAST_IS_NOT_NONE_JUMP, !IS_NONE(a))
#undef FAST_TEST_JUMP
#define IS_POP_JUMP(opname, is)                                                                \
    CASE(opname) {                                                                             \
        /* [ip] at the jump */                                                                 \
        bool t = quick_is(sp[-2], sp[-1]) == (is);                                             \
        sp -= 2;                                                                               \
        ip = t ? ip + 1 : fr->code->code + OPCODE_ARG(*ip);                                    \
        NEXT();                                                                                \
    }
    IS_POP_JUMP(IS_POP_JUMP_IF_FALSE, true)
    IS_POP_JUMP(IS_NOT_POP_JUMP_IF_FALSE, false)
#undef IS_POP_JUMP
    CASE(PRINT_EXPR) {
        SYNC();
        if (!print_expr(vm, sp[-1])) {
            ERROR();
        }
        sp--;
        NEXT();
    }
    DEFAULT {
        SYNC();
        exc_raise(vm, vm->cls.RuntimeError, "bad opcode %d", (int)OPCODE_OP(word));
        ERROR();
    }
#if !WK_COMPUTED_GOTO
    }
#endif

on_error:
    fr->ip = ip;
    if (IS_EMPTY(vm->exception)) {
        exc_raise(vm, vm->cls.RuntimeError, "internal error: failure without an exception");
    }
    {
        CallFrame *h = unwind(vm, true);
        if (h == NULL) {
            return false;
        }
        RELOAD();
        NEXT();
    }
on_reraise : {
    CallFrame *h = unwind(vm, false);
    if (h == NULL) {
        return false;
    }
    RELOAD();
    NEXT();
}
#undef arg
}

// ============================================================================================
// Running source and importing modules
// ============================================================================================

static bool compile_to_function(WkVM *vm, const char *src, size_t len, const char *filename,
                                ObjDict *globals, bool repl, ObjFunction **out) {
    CompileError err;
    memset(&err, 0, sizeof err);
    Proto *p = compile_source(src, len, filename, repl ? COMPILE_REPL : COMPILE_FILE, &err);
    remember_source(vm, filename, src, len);
    if (p == NULL) {
        ObjException *e = exc_new_syntax_error(vm, err.kind, err.message,
                                               err.filename ? err.filename : filename, err.line,
                                               err.col, err.end_col, err.text);
        compile_error_free(&err);
        vm->exception = OBJ_VAL(e);
        return false;
    }
    ObjCode *code = load_code(vm, p);
    proto_free(p);
    gc_push_root(vm, OBJ_VAL(code));
    *out = new_function(vm, code, globals);
    gc_pop_root(vm);
    return true;
}

static VMResult finish(WkVM *vm, bool ok, int *exit_status) {
    if (ok) {
        return VM_OK;
    }
    if (exc_is(vm, vm->exception, vm->cls.SystemExit)) {
        ObjException *e = AS_EXCEPTION(vm->exception);
        int status = 0;
        ObjTuple *args = IS_TUPLE(e->args) ? AS_TUPLE(e->args) : NULL;
        if (args != NULL && args->count > 0) {
            Value code = args->items[0];
            if (IS_INT(code)) {
                status = (int)AS_INT(code);
            } else if (!IS_NONE(code)) {
                ObjStr *s;
                if (ops_str(vm, code, &s)) {
                    fprintf(vm->err, "%s\n", s->chars);
                }
                status = 1;
            }
        }
        vm->exception = EMPTY_VAL;
        *exit_status = status;
        return VM_EXIT;
    }
    return VM_ERROR;
}

VMResult vm_run_source(WkVM *vm, const char *src, size_t len, const char *filename,
                       ObjDict *globals, bool repl, int *exit_status) {
    *exit_status = 0;
    vm->frame_count = 0;
    vm->stack_top = vm->stack;
    vm->handled_count = 0;
    vm->native_depth = 0;
    vm->c_depth = 0;
    ObjFunction *f;
    if (!compile_to_function(vm, src, len, filename, globals, repl, &f)) {
        return VM_ERROR;
    }
    Value result;
    bool ok = run_with_locals(vm, f, globals, &result);
    if (ok && weak_has_pending(vm)) {
        weak_run_pending(vm);
    }
    return finish(vm, ok, exit_status);
}

void vm_report_exception(WkVM *vm) {
    Value exc = vm->exception;
    vm->exception = EMPTY_VAL;
    if (IS_EMPTY(exc)) {
        return;
    }
    gc_push_root(vm, exc);
    fflush(vm->out);
    exc_print(vm, exc, vm->err);
    gc_pop_root(vm);
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (buf != NULL) {
        *len = n;
    }
    return buf;
}

// Import [name].wk beside the main script: run it once in a fresh module namespace.
static bool import_file(WkVM *vm, ObjStr *name, Value *result, bool *found) {
    *found = false;
    char path[4096];
    const char *dir = vm->script_dir != NULL ? vm->script_dir->chars : ".";
    snprintf(path, sizeof path, "%s/%s.wk", dir, name->chars);
    size_t len;
    char *src = read_file(path, &len);
    if (src == NULL) {
        return true;
    }
    *found = true;
    ObjModule *m = (ObjModule *)gc_alloc_object(vm, sizeof(ObjModule), OBJ_MODULE);
    m->name = name;
    m->globals = NULL;
    m->path = NULL;
    gc_push_root(vm, OBJ_VAL(m));
    m->globals = dict_new(vm);
    m->path = str_from_cstr(vm, path);
    dict_set_str(vm, m->globals, vm->names.__name__, OBJ_VAL(name));
    dict_set_str(vm, m->globals, vm->names.__file__, OBJ_VAL(m->path));
    bool ok = dict_set(vm, vm->modules, OBJ_VAL(name), OBJ_VAL(m));
    ObjFunction *f = NULL;
    if (ok) {
        ok = compile_to_function(vm, src, len, path, m->globals, false, &f);
    }
    free(src);
    if (ok) {
        Value ignored;
        gc_push_root(vm, OBJ_VAL(f));
        m->obj.flags |= MODULE_INITIALIZING;
        ok = run_with_locals(vm, f, m->globals, &ignored);
        m->obj.flags &= (uint8_t)~MODULE_INITIALIZING;
        gc_pop_root(vm);
    }
    if (!ok) {
        Value err = vm->exception;
        vm->exception = EMPTY_VAL;
        bool dummy;
        gc_push_root(vm, err);
        if (!dict_delete(vm, vm->modules, OBJ_VAL(name), &dummy)) {
            vm->exception = EMPTY_VAL;
        }
        gc_pop_root(vm);
        vm->exception = err;
    }
    gc_pop_root(vm);
    *result = OBJ_VAL(m);
    return ok;
}

bool vm_import(WkVM *vm, ObjStr *name, Value *result) {
    Value *cached = dict_get_str(vm->modules, name);
    if (cached != NULL) {
        *result = *cached;
        return true;
    }
    bool found;
    if (!stdlib_load_module(vm, name, result, &found)) {
        return false;
    }
    if (found) {
        gc_push_root(vm, *result);
        bool ok = dict_set(vm, vm->modules, OBJ_VAL(name), *result);
        gc_pop_root(vm);
        return ok;
    }
    if (!import_file(vm, name, result, &found)) {
        return false;
    }
    if (!found) {
        ObjException *e;
        bool ok = exc_raise(vm, vm->cls.ModuleNotFoundError, "No module named '%s'", name->chars);
        (void)e;
        return ok;
    }
    return true;
}
