// help(): a short guide to wk for the REPL, a page each for weakref and gc, and a plain
// listing of an object's public attributes. Reads the heap, never calls wk code, prints only
// through vm->out.
#include "stdlib/help.h"

#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "vm/inst.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/str.h"
#include "vm/table.h"

static const char GUIDE[] =
    "wk is a small language whose syntax is a subset of Python 3, with first-class weak\n"
    "references. Code in that subset runs the same under wk and python3.\n"
    "\n"
    "  values      None, bool, int (64-bit), float, str, tuple, list, dict, set, range\n"
    "  statements  if/elif/else, while, for, try/except/finally, with, def, class, return,\n"
    "              yield, import, del, global, nonlocal, assert, raise, lambda, comprehensions\n"
    "  builtins    print len range repr str int float list dict set tuple type isinstance\n"
    "              sorted min max sum enumerate zip map filter getattr hasattr id hash ...\n"
    "  modules     weakref, gc, math, time, sys (and NAME.wk files beside the script)\n"
    "\n"
    "The prompt: an expression prints its repr (None prints nothing); a blank line ends a\n"
    "block; Tab completes names, attributes and modules; Ctrl-C interrupts; exit() or Ctrl-D\n"
    "leaves. There is no `_`: the prompt keeps no hidden reference to results, so\n"
    "\n"
    "    >>> import weakref\n"
    "    >>> class C: pass\n"
    "    ...\n"
    "    >>> c = C(); r = weakref.ref(c)\n"
    "    >>> del c\n"
    "    >>> print(r())\n"
    "    None\n"
    "\n"
    "Unlike CPython, wk has no reference counting: an unreachable object dies at the next\n"
    "collection. `del NAME` of a weakly referenced object collects at once; elsewhere call\n"
    "gc.collect() before looking at a death.\n"
    "\n"
    "More: help(weakref), help(gc), help(obj) for an object's attributes.\n";

static const char WEAKREF_PAGE[] =
    "weakref: references that do not keep their object alive.\n"
    "\n"
    "  ref(obj[, callback])      call it for the object, or None once it died; the callback\n"
    "                            gets the dead ref. ref(o) is ref(o) without a callback.\n"
    "  proxy(obj[, callback])    forwards attributes and operators; dead: ReferenceError\n"
    "  WeakMethod(bound)         a ref to a bound method (object and function both weak)\n"
    "  WeakKeyDictionary()       keys weak (an ephemeron: a value may refer to its key)\n"
    "  WeakValueDictionary()     values weak\n"
    "  WeakSet()                 members weak\n"
    "  finalize(obj, func, *args, **kwargs)\n"
    "                            calls func(*args, **kwargs) once when obj dies, or at exit;\n"
    "                            .alive, .peek(), .detach(), calling it runs it now\n"
    "  getweakrefcount(obj)      how many refs, proxies and weak entries point at obj\n"
    "  getweakrefs(obj)          the refs and proxies to obj\n"
    "\n"
    "Every object with identity can be weakly referenced (lists and dicts too); None, bools,\n"
    "numbers and strings cannot. Refs are cleared before callbacks run, newest first.\n";

static const char GC_PAGE[] =
    "gc: the collector (precise mark-sweep; one collect() always suffices).\n"
    "\n"
    "  collect()                 collect now, run due callbacks; returns objects freed\n"
    "  enable(), disable(), isenabled()\n"
    "                            automatic collections on or off\n"
    "  get_threshold(), set_threshold(n)\n"
    "  get_count()               allocations since the last collection\n"
    "  set_del_collect(flag)     whether `del NAME` of a weakly referenced object collects\n"
    "  get_stats()               [dict]: collections, collected, live objects and bytes,\n"
    "                            weak slots cleared, callbacks run, pauses\n";

static void put(WkVM *vm, const char *text) {
    fputs(text, vm->out);
    fflush(vm->out);
}

// The page named [name], or NULL.
static const char *page(const char *name) {
    if (strcmp(name, "weakref") == 0) {
        return WEAKREF_PAGE;
    }
    if (strcmp(name, "gc") == 0) {
        return GC_PAGE;
    }
    return NULL;
}

typedef struct {
    const char **names;
    size_t count, cap;
} Names;

static void collect_names(Names *n, ObjDict *d) {
    if (d == NULL) {
        return;
    }
    uint32_t pos = 0;
    TableEntry *e;
    while ((e = table_next(&d->table, &pos)) != NULL) {
        if (!IS_STR(e->key) || AS_STR(e->key)->chars[0] == '_') {
            continue;
        }
        if (n->count == n->cap) {
            n->cap = n->cap ? n->cap * 2 : 32;
            n->names = realloc(n->names, n->cap * sizeof(char *));
        }
        n->names[n->count++] = AS_STR(e->key)->chars;
    }
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// help(obj): what it is, then its public attributes (own, then its classes'), sorted.
static void describe(WkVM *vm, Value v) {
    ObjClass *cls = class_of(vm, v);
    Names n = {0};
    ObjClass *chain = cls;
    if (IS_CLASS(v)) {
        fprintf(vm->out, "Help on class %s:\n", AS_CLASS(v)->name->chars);
        chain = AS_CLASS(v);
    } else if (IS_KIND(v, OBJ_MODULE)) {
        fprintf(vm->out, "Help on module %s:\n", ((ObjModule *)AS_OBJ(v))->name->chars);
        collect_names(&n, ((ObjModule *)AS_OBJ(v))->globals);
        chain = NULL;
    } else if (IS_FUNCTION(v)) {
        fprintf(vm->out, "Help on function %s:\n", AS_FUNCTION(v)->qualname->chars);
    } else {
        fprintf(vm->out, "Help on %s object:\n", cls->name->chars);
        if (IS_INSTANCE(v) || IS_EXCEPTION(v)) {
            collect_names(&n, inst_dict(vm, AS_INSTANCE(v)));
        }
    }
    for (ObjClass *c = chain; c != NULL; c = c->base) {
        collect_names(&n, c->dict);
    }
    if (n.count > 0) {
        qsort(n.names, n.count, sizeof(char *), by_name);
    }
    int col = 0;
    for (size_t i = 0; i < n.count; i++) {
        if (i > 0 && strcmp(n.names[i], n.names[i - 1]) == 0) {
            continue;
        }
        int w = (int)strlen(n.names[i]) + 2;
        if (col > 0 && col + w > 78) {
            fputc('\n', vm->out);
            col = 0;
        }
        col += fprintf(vm->out, "  %s", n.names[i]);
    }
    fputs(col > 0 ? "\n" : "  (no public attributes)\n", vm->out);
    fflush(vm->out);
    free(n.names);
}

static bool help_fn(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)kwargs;
    *result = NONE_VAL;
    if (argc == 0) {
        put(vm, GUIDE);
        return true;
    }
    Value v = args[0];
    const char *name = NULL;
    if (IS_STR(v)) {
        name = AS_STR(v)->chars;
    } else if (IS_KIND(v, OBJ_MODULE)) {
        name = ((ObjModule *)AS_OBJ(v))->name->chars;
    }
    if (name != NULL && page(name) != NULL) {
        put(vm, page(name));
    } else if (IS_STR(v)) {
        fprintf(vm->out, "No help on '%s'. Try help(), help(weakref) or help(gc).\n", name);
        fflush(vm->out);
    } else {
        describe(vm, v);
    }
    return true;
}

void help_register(WkVM *vm) {
    ObjNative *fn = class_native_new(vm, "help", help_fn, 0, 1, false);
    gc_push_root(vm, OBJ_VAL(fn));
    ObjStr *name = str_intern(vm, "help", 4);
    gc_push_root(vm, OBJ_VAL(name));
    dict_set_str(vm, vm->builtins, name, OBJ_VAL(fn));
    gc_pop_roots(vm, 2);
}
