// The testing module: helpers for test scripts run by `wk test` (vm/testrun.c), usable in any
// script. `raises` is a class whose instances are context managers; Skipped derives from
// BaseException (as pytest's outcome exceptions do) so that `except Exception` in a test does
// not swallow a skip. Knows nothing about the runner beyond the name testing.Skipped.
#include "stdlib/mod_testing.h"

#include <string.h>

#include "gc/weak.h"
#include "stdlib/mod_weakref.h"
#include "stdlib/stdlib.h"
#include "vm/attr.h"
#include "vm/class.h"
#include "vm/exc.h"
#include "vm/list.h"
#include "vm/str.h"

#define UNUSED __attribute__((unused))
#define NATIVE(fn)                                                                             \
    static bool fn(UNUSED WkVM *vm, UNUSED Value *args, UNUSED int argc,                      \
                   UNUSED ObjDict *kwargs, UNUSED Value *result)

static bool set_attr(WkVM *vm, Value obj, const char *name, Value v) {
    gc_push_root(vm, v);
    ObjStr *key = str_intern(vm, name, strlen(name));
    gc_push_root(vm, OBJ_VAL(key));
    bool ok = attr_set(vm, obj, key, v);
    gc_pop_roots(vm, 2);
    return ok;
}

static bool get_attr(WkVM *vm, Value obj, const char *name, Value *out) {
    ObjStr *key = str_intern(vm, name, strlen(name));
    gc_push_root(vm, OBJ_VAL(key));
    bool ok = attr_get(vm, obj, key, out);
    gc_pop_root(vm);
    return ok;
}

static bool is_exc_class(WkVM *vm, Value v) {
    return IS_CLASS(v) && class_is_subclass(AS_CLASS(v), vm->cls.BaseException);
}

// ---- raises ----------------------------------------------------------------------------------
// `with testing.raises(KeyError) as r:` passes when the body raises KeyError (or a subclass;
// a tuple of classes works as in `except`), which is then suppressed and kept in r.value.
// Nothing raised: AssertionError "DID NOT RAISE KeyError". Anything else propagates.

NATIVE(raises_init) {
    Value expected = args[1];
    bool ok = is_exc_class(vm, expected);
    if (IS_TUPLE(expected)) {
        ok = AS_TUPLE(expected)->count > 0;
        for (uint32_t i = 0; i < AS_TUPLE(expected)->count; i++) {
            ok = ok && is_exc_class(vm, AS_TUPLE(expected)->items[i]);
        }
    }
    if (!ok) {
        return exc_raise(vm, vm->cls.TypeError,
                         "raises() expects an exception class or a tuple of them, not '%s'",
                         class_of(vm, expected)->name->chars);
    }
    if (!set_attr(vm, args[0], "expected", expected) ||
        !set_attr(vm, args[0], "value", NONE_VAL)) {
        return false;
    }
    *result = NONE_VAL;
    return true;
}

NATIVE(raises_enter) {
    *result = args[0];
    return true;
}

// "KeyError" or "any of (KeyError, IndexError)" into [b].
static void expected_name(Value expected, StrBuf *b) {
    char buf[256];
    if (!IS_TUPLE(expected)) {
        strbuf_addf(b, "%s", class_display_name(AS_CLASS(expected), buf, sizeof buf));
        return;
    }
    strbuf_addf(b, "any of (");
    for (uint32_t i = 0; i < AS_TUPLE(expected)->count; i++) {
        ObjClass *k = AS_CLASS(AS_TUPLE(expected)->items[i]);
        strbuf_addf(b, "%s%s", i ? ", " : "", class_display_name(k, buf, sizeof buf));
    }
    strbuf_addf(b, ")");
}

NATIVE(raises_exit) {
    Value self = args[0], exc = argc > 2 ? args[2] : NONE_VAL;
    Value expected;
    if (!get_attr(vm, self, "expected", &expected)) {
        return false;
    }
    if (!is_exc_class(vm, expected) && !IS_TUPLE(expected)) {
        return exc_raise(vm, vm->cls.TypeError, "raises: 'expected' is not an exception class");
    }
    if (IS_NONE(args[1]) || !IS_EXCEPTION(exc)) {
        StrBuf b;
        strbuf_init(&b);
        expected_name(expected, &b);
        bool r = exc_raise(vm, vm->cls.AssertionError, "DID NOT RAISE %s", b.chars);
        strbuf_free(&b);
        return r;
    }
    bool ok;
    bool hit = exc_matches(vm, exc, expected, &ok);
    if (!ok) {
        return false;
    }
    if (hit && !set_attr(vm, self, "value", exc)) {
        return false;
    }
    *result = BOOL_VAL(hit);
    return true;
}

// ---- skip, fail, collected -------------------------------------------------------------------

// skip(reason=""): a native bound to the Skipped class (args[0]).
NATIVE(t_skip) {
    Value exc;
    if (!vm_call(vm, args[0], argc - 1, args + 1, NULL, &exc)) {
        return false;
    }
    return exc_raise_value(vm, exc);
}

NATIVE(t_fail) {
    if (argc == 0) {
        return exc_raise(vm, vm->cls.AssertionError, "%s", "");
    }
    ObjTuple *t = tuple_from(vm, args, 1);
    gc_push_root(vm, OBJ_VAL(t));
    ObjException *e = exc_new(vm, vm->cls.AssertionError, t);
    gc_pop_root(vm);
    return exc_raise_value(vm, OBJ_VAL(e));
}

// collected(r): collect, run the callbacks that queued, then tell whether the referent of the
// ref, WeakMethod or proxy [r] is gone.
NATIVE(t_collected) {
    Value r = args[0];
    bool proxy = IS_KIND(r, OBJ_PROXY);
    if (!proxy && !IS_KIND(r, OBJ_WEAKREF)) {
        return exc_raise(vm, vm->cls.TypeError,
                         "collected() expects a weak reference (weakref.ref, WeakMethod or "
                         "proxy), not '%s'",
                         class_of(vm, r)->name->chars);
    }
    gc_collect(vm);
    weak_run_pending(vm);
    if (proxy) {
        Value v = r;
        if (mod_weakref_proxy_unwrap(vm, &v)) {
            *result = BOOL_VAL(false);
            return true;
        }
        if (!exc_is(vm, vm->exception, vm->cls.ReferenceError)) {
            return false;
        }
        vm->exception = EMPTY_VAL;
        *result = BOOL_VAL(true);
        return true;
    }
    Value v;
    if (!vm_call(vm, r, 0, NULL, NULL, &v)) {
        return false;
    }
    *result = BOOL_VAL(IS_NONE(v));
    return true;
}

// ---- Module ----------------------------------------------------------------------------------

bool mod_testing_is_skip(WkVM *vm, Value exc) {
    (void)vm;
    if (!IS_EXCEPTION(exc)) {
        return false;
    }
    for (ObjClass *k = AS_EXCEPTION(exc)->klass; k != NULL; k = k->base) {
        if (k->module != NULL && strcmp(k->module->chars, "testing") == 0 &&
            strcmp(k->name->chars, "Skipped") == 0) {
            return true;
        }
    }
    return false;
}

// A class of module testing that behaves as a user class (instances made by calling it).
static ObjClass *new_class(WkVM *vm, ObjModule *m, const char *name, ObjClass *base,
                           ObjType kind) {
    ObjClass *c = class_new_builtin(vm, name, base, kind);
    gc_push_root(vm, OBJ_VAL(c));
    c->module = str_intern(vm, "testing", 7);
    c->builtin = false;
    stdlib_add_value(vm, m, name, OBJ_VAL(c));
    gc_pop_root(vm);
    return c;
}

bool mod_testing_load(WkVM *vm, Value *out) {
    ObjModule *m = stdlib_module_new(vm, "testing");
    gc_push_root(vm, OBJ_VAL(m));
    ObjClass *raises = new_class(vm, m, "raises", NULL, OBJ_INSTANCE);
    class_add_native(vm, raises, "__init__", raises_init, 2, 2, false);
    class_add_native(vm, raises, "__enter__", raises_enter, 1, 1, false);
    class_add_native(vm, raises, "__exit__", raises_exit, 1, 4, false);
    ObjClass *skipped = new_class(vm, m, "Skipped", vm->cls.BaseException, OBJ_EXCEPTION);
    gc_push_root(vm, OBJ_VAL(skipped));
    ObjNative *skip = class_native_new(vm, "skip", t_skip, 1, 2, false);
    skip->self = OBJ_VAL(skipped);
    gc_pop_root(vm);
    stdlib_add_value(vm, m, "skip", OBJ_VAL(skip));
    stdlib_add_native(vm, m, "fail", t_fail, 0, 1, false);
    stdlib_add_native(vm, m, "collected", t_collected, 1, 1, false);
    gc_pop_root(vm);
    *out = OBJ_VAL(m);
    return true;
}
