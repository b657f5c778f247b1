// Exceptions: the class hierarchy, raising (with __context__ chaining), matching in `except`,
// traceback entries and the CPython 3.11 traceback printout. The VM decides where an exception
// goes; this file only builds, links and prints them.
#include "vm/exc.h"

#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "parser/proto.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/list.h"
#include "vm/ops.h"
#include "vm/str.h"

// ---- Creating and raising --------------------------------------------------------------------

ObjException *exc_new(WkVM *vm, ObjClass *type, ObjTuple *args) {
    gc_push_root(vm, OBJ_VAL(type));
    if (args == NULL) {
        args = tuple_new(vm, 0);
    }
    gc_push_root(vm, OBJ_VAL(args));
    ObjException *e = (ObjException *)gc_alloc_object(vm, sizeof(ObjException), OBJ_EXCEPTION);
    e->klass = type;
    e->fields = NULL;
    e->args = OBJ_VAL(args);
    e->cause = NONE_VAL;
    e->context = NONE_VAL;
    e->suppress_context = false;
    e->traceback = NONE_VAL;
    gc_pop_roots(vm, 2);
    return e;
}

// Make [e] the pending exception, chaining the exception being handled as its __context__
// (unless that would make a cycle through [e]).
static bool raise_instance(WkVM *vm, ObjException *e) {
    if (vm->handled_count > 0) {
        Value h = vm->handled[vm->handled_count - 1];
        if (IS_EXCEPTION(h) && AS_EXCEPTION(h) != e) {
            // Break a cycle: if e is already in h's context chain, cut the chain there.
            ObjException *p = AS_EXCEPTION(h);
            for (int guard = 0; guard < 1000; guard++) {
                if (!IS_EXCEPTION(p->context)) {
                    break;
                }
                if (AS_EXCEPTION(p->context) == e) {
                    p->context = NONE_VAL;
                    break;
                }
                p = AS_EXCEPTION(p->context);
            }
            e->context = h;
        }
    }
    vm->exception = OBJ_VAL(e);
    return false;
}

bool exc_raise(WkVM *vm, ObjClass *type, const char *fmt, ...) {
    char small[512];
    char *buf = small;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        n = 0;
        small[0] = '\0';
    } else if ((size_t)n >= sizeof(small)) {
        buf = malloc((size_t)n + 1);
        if (buf == NULL) {
            buf = small;
            n = (int)sizeof(small) - 1;
        } else {
            va_start(ap, fmt);
            vsnprintf(buf, (size_t)n + 1, fmt, ap);
            va_end(ap);
        }
    }
    ObjStr *msg = str_new(vm, buf, (size_t)n);
    if (buf != small) {
        free(buf);
    }
    Value mv = OBJ_VAL(msg);
    gc_push_root(vm, mv);
    ObjTuple *t = tuple_from(vm, &mv, 1);
    gc_push_root(vm, OBJ_VAL(t));
    ObjException *e = exc_new(vm, type, t);
    gc_pop_roots(vm, 2);
    return raise_instance(vm, e);
}

// An exception instance from [v]: an instance as is, a class called with no arguments.
static bool instantiate(WkVM *vm, Value v, Value *out) {
    if (IS_EXCEPTION(v)) {
        *out = v;
        return true;
    }
    if (IS_CLASS(v) && class_is_subclass(AS_CLASS(v), vm->cls.BaseException)) {
        if (!class_call(vm, AS_CLASS(v), 0, NULL, NULL, out)) {
            return false;
        }
        if (!IS_EXCEPTION(*out)) {
            return exc_raise(vm, vm->cls.TypeError,
                             "calling %s should have returned an instance of BaseException, not %s",
                             AS_CLASS(v)->name->chars, class_of(vm, *out)->name->chars);
        }
        return true;
    }
    return exc_raise(vm, vm->cls.TypeError, "exceptions must derive from BaseException");
}

bool exc_raise_value(WkVM *vm, Value exc) {
    Value e;
    if (!instantiate(vm, exc, &e)) {
        return false;
    }
    return raise_instance(vm, AS_EXCEPTION(e));
}

bool exc_raise_from(WkVM *vm, Value exc, Value cause) {
    Value e;
    if (!instantiate(vm, exc, &e)) {
        return false;
    }
    gc_push_root(vm, e);
    Value c = NONE_VAL;
    if (!IS_NONE(cause)) {
        if (!IS_EXCEPTION(cause) &&
            !(IS_CLASS(cause) && class_is_subclass(AS_CLASS(cause), vm->cls.BaseException))) {
            gc_pop_root(vm);
            return exc_raise(vm, vm->cls.TypeError,
                             "exception causes must derive from BaseException");
        }
        if (!instantiate(vm, cause, &c)) {
            gc_pop_root(vm);
            return false;
        }
    }
    gc_pop_root(vm);
    AS_EXCEPTION(e)->cause = c;
    AS_EXCEPTION(e)->suppress_context = true;
    return raise_instance(vm, AS_EXCEPTION(e));
}

// ---- Matching --------------------------------------------------------------------------------

static bool is_exc_class(WkVM *vm, Value t) {
    return IS_CLASS(t) && class_is_subclass(AS_CLASS(t), vm->cls.BaseException);
}

bool exc_matches(WkVM *vm, Value exc, Value type, bool *ok) {
    *ok = true;
    ObjClass *k = class_of(vm, exc);
    if (IS_TUPLE(type)) {
        ObjTuple *t = AS_TUPLE(type);
        bool hit = false;
        for (uint32_t i = 0; i < t->count; i++) {
            if (!is_exc_class(vm, t->items[i])) {
                *ok = false;
                return exc_raise(vm, vm->cls.TypeError,
                                 "catching classes that do not inherit from BaseException is "
                                 "not allowed");
            }
            hit = hit || class_is_subclass(k, AS_CLASS(t->items[i]));
        }
        return hit;
    }
    if (!is_exc_class(vm, type)) {
        *ok = false;
        return exc_raise(vm, vm->cls.TypeError,
                         "catching classes that do not inherit from BaseException is not allowed");
    }
    return class_is_subclass(k, AS_CLASS(type));
}

bool exc_is(WkVM *vm, Value v, ObjClass *type) {
    (void)vm;
    return IS_EXCEPTION(v) && class_is_subclass(AS_EXCEPTION(v)->klass, type);
}

// ---- Traceback entries -----------------------------------------------------------------------
// exc->traceback is a list of (code, instruction index) tuples, outermost first. The VM adds an
// entry for each frame the exception leaves, innermost first, so each entry goes to the front.

void exc_add_traceback(WkVM *vm, ObjException *exc, ObjCode *code, uint32_t index) {
    gc_push_root(vm, OBJ_VAL(exc));
    gc_push_root(vm, OBJ_VAL(code));
    if (!IS_LIST(exc->traceback)) {
        exc->traceback = OBJ_VAL(list_new(vm, 4));
    }
    ObjTuple *t = tuple_new(vm, 2);
    t->items[0] = OBJ_VAL(code);
    t->items[1] = INT_VAL((int64_t)index);
    gc_push_root(vm, OBJ_VAL(t));
    ObjList *l = AS_LIST(exc->traceback);
    list_append(vm, l, OBJ_VAL(t));
    memmove(l->items + 1, l->items, sizeof(Value) * (l->count - 1));
    l->items[0] = OBJ_VAL(t);
    gc_pop_roots(vm, 3);
}

ObjStr *exc_message(WkVM *vm, ObjException *exc) {
    ObjStr *s;
    if (!ops_str(vm, OBJ_VAL(exc), &s)) {
        return NULL;
    }
    return s;
}

// ---- BaseException's methods -----------------------------------------------------------------

static bool check_self(WkVM *vm, Value v, const char *what) {
    if (!IS_EXCEPTION(v)) {
        return exc_raise(vm, vm->cls.TypeError,
                         "descriptor '%s' requires a 'BaseException' object but received a '%s'",
                         what, class_of(vm, v)->name->chars);
    }
    return true;
}

bool exc_base_init(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)kwargs;
    if (!check_self(vm, args[0], "__init__")) {
        return false;
    }
    ObjTuple *t = tuple_from(vm, args + 1, (uint32_t)(argc - 1));
    AS_EXCEPTION(args[0])->args = OBJ_VAL(t);
    *result = NONE_VAL;
    return true;
}

static ObjTuple *exc_args(Value e) {
    Value a = AS_EXCEPTION(e)->args;
    return IS_TUPLE(a) ? AS_TUPLE(a) : NULL;
}

static bool exc_str(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    if (!check_self(vm, args[0], "__str__")) {
        return false;
    }
    ObjTuple *t = exc_args(args[0]);
    ObjStr *s;
    if (t == NULL || t->count == 0) {
        s = str_new(vm, "", 0);
    } else if (!ops_str(vm, t->count == 1 ? t->items[0] : OBJ_VAL(t), &s)) {
        return false;
    }
    *result = OBJ_VAL(s);
    return true;
}

static bool key_error_str(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    if (!check_self(vm, args[0], "__str__")) {
        return false;
    }
    ObjTuple *t = exc_args(args[0]);
    if (t != NULL && t->count == 1) {
        ObjStr *s;
        if (!ops_repr(vm, t->items[0], &s)) {
            return false;
        }
        *result = OBJ_VAL(s);
        return true;
    }
    return exc_str(vm, args, argc, kwargs, result);
}

static bool exc_repr(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    if (!check_self(vm, args[0], "__repr__")) {
        return false;
    }
    ObjTuple *t = exc_args(args[0]);
    StrBuf b;
    strbuf_init(&b);
    ObjStr *name = AS_EXCEPTION(args[0])->klass->name;
    strbuf_add(&b, name->chars, name->size);
    if (t != NULL && t->count == 1) {
        ObjStr *s;
        if (!ops_repr(vm, t->items[0], &s)) {
            strbuf_free(&b);
            return false;
        }
        strbuf_addc(&b, '(');
        strbuf_add(&b, s->chars, s->size);
        strbuf_addc(&b, ')');
    } else if (t != NULL && t->count > 1) {
        ObjStr *s;
        if (!ops_repr(vm, OBJ_VAL(t), &s)) {
            strbuf_free(&b);
            return false;
        }
        strbuf_add(&b, s->chars, s->size);
    } else {
        strbuf_add(&b, "()", 2);
    }
    *result = OBJ_VAL(strbuf_finish(vm, &b));
    return true;
}

static bool exc_with_traceback(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    (void)argc;
    (void)kwargs;
    if (!check_self(vm, args[0], "with_traceback")) {
        return false;
    }
    *result = args[0];
    return true;
}

static Value field(WkVM *vm, Value e, const char *name) {
    ObjDict *f = AS_EXCEPTION(e)->fields;
    if (f == NULL) {
        return EMPTY_VAL;
    }
    Value *v = dict_get_cstr(f, name);
    (void)vm;
    return v != NULL ? *v : EMPTY_VAL;
}

static const char *base_name(const char *path) {
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

// str(SyntaxError): "msg (file, line N)".
static bool syntax_error_str(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    if (!check_self(vm, args[0], "__str__")) {
        return false;
    }
    Value msg = field(vm, args[0], "msg");
    Value file = field(vm, args[0], "filename");
    Value line = field(vm, args[0], "lineno");
    if (IS_EMPTY(msg)) {
        return exc_str(vm, args, argc, kwargs, result);
    }
    ObjStr *m;
    if (!ops_str(vm, msg, &m)) {
        return false;
    }
    if (IS_STR(file) && IS_INT(line)) {
        *result = OBJ_VAL(str_printf(vm, "%s (%s, line %lld)", m->chars,
                                     base_name(AS_STR(file)->chars), (long long)AS_INT(line)));
    } else if (IS_INT(line)) {
        *result = OBJ_VAL(str_printf(vm, "%s (line %lld)", m->chars, (long long)AS_INT(line)));
    } else {
        *result = OBJ_VAL(m);
    }
    return true;
}

// ---- The hierarchy ---------------------------------------------------------------------------

#define EXC_FIELD(f) offsetof(VMClasses, f)

static const struct {
    const char *name;
    size_t field;
    size_t parent;
} hierarchy[] = {
    {"Exception", EXC_FIELD(Exception), EXC_FIELD(BaseException)},
    {"SystemExit", EXC_FIELD(SystemExit), EXC_FIELD(BaseException)},
    {"KeyboardInterrupt", EXC_FIELD(KeyboardInterrupt), EXC_FIELD(BaseException)},
    {"GeneratorExit", EXC_FIELD(GeneratorExit), EXC_FIELD(BaseException)},
    {"StopIteration", EXC_FIELD(StopIteration), EXC_FIELD(Exception)},
    {"ArithmeticError", EXC_FIELD(ArithmeticError), EXC_FIELD(Exception)},
    {"ZeroDivisionError", EXC_FIELD(ZeroDivisionError), EXC_FIELD(ArithmeticError)},
    {"OverflowError", EXC_FIELD(OverflowError), EXC_FIELD(ArithmeticError)},
    {"AssertionError", EXC_FIELD(AssertionError), EXC_FIELD(Exception)},
    {"AttributeError", EXC_FIELD(AttributeError), EXC_FIELD(Exception)},
    {"LookupError", EXC_FIELD(LookupError), EXC_FIELD(Exception)},
    {"IndexError", EXC_FIELD(IndexError), EXC_FIELD(LookupError)},
    {"KeyError", EXC_FIELD(KeyError), EXC_FIELD(LookupError)},
    {"NameError", EXC_FIELD(NameError), EXC_FIELD(Exception)},
    {"UnboundLocalError", EXC_FIELD(UnboundLocalError), EXC_FIELD(NameError)},
    {"TypeError", EXC_FIELD(TypeError), EXC_FIELD(Exception)},
    {"ValueError", EXC_FIELD(ValueError), EXC_FIELD(Exception)},
    {"UnicodeError", EXC_FIELD(UnicodeError), EXC_FIELD(ValueError)},
    {"RuntimeError", EXC_FIELD(RuntimeError), EXC_FIELD(Exception)},
    {"RecursionError", EXC_FIELD(RecursionError), EXC_FIELD(RuntimeError)},
    {"NotImplementedError", EXC_FIELD(NotImplementedError), EXC_FIELD(RuntimeError)},
    {"ImportError", EXC_FIELD(ImportError), EXC_FIELD(Exception)},
    {"ModuleNotFoundError", EXC_FIELD(ModuleNotFoundError), EXC_FIELD(ImportError)},
    {"MemoryError", EXC_FIELD(MemoryError), EXC_FIELD(Exception)},
    {"ReferenceError", EXC_FIELD(ReferenceError), EXC_FIELD(Exception)},
    {"SyntaxError", EXC_FIELD(SyntaxError), EXC_FIELD(Exception)},
    {"IndentationError", EXC_FIELD(IndentationError), EXC_FIELD(SyntaxError)},
    {"TabError", EXC_FIELD(TabError), EXC_FIELD(IndentationError)},
    {"OSError", EXC_FIELD(OSError), EXC_FIELD(Exception)},
    {"EOFError", EXC_FIELD(EOFError), EXC_FIELD(Exception)},
};

#define CLS_AT(vm, off) (*(ObjClass **)((char *)&(vm)->cls + (off)))

static ObjClass *new_exc_class(WkVM *vm, const char *name, ObjClass *base) {
    ObjClass *c = class_new_builtin(vm, name, base, OBJ_EXCEPTION);
    c->obj.flags |= CLASS_BASETYPE;
    return c;
}

void exc_init_classes(WkVM *vm) {
    vm->cls.BaseException = new_exc_class(vm, "BaseException", vm->cls.object);
    ObjClass *b = vm->cls.BaseException;
    class_add_native(vm, b, "__init__", exc_base_init, 1, -1, false);
    class_add_native(vm, b, "__str__", exc_str, 1, 1, false);
    class_add_native(vm, b, "__repr__", exc_repr, 1, 1, false);
    class_add_native(vm, b, "with_traceback", exc_with_traceback, 2, 2, false);
    for (size_t i = 0; i < sizeof(hierarchy) / sizeof(hierarchy[0]); i++) {
        ObjClass *parent = CLS_AT(vm, hierarchy[i].parent);
        CLS_AT(vm, hierarchy[i].field) = new_exc_class(vm, hierarchy[i].name, parent);
    }
    class_add_native(vm, vm->cls.KeyError, "__str__", key_error_str, 1, 1, false);
    class_add_native(vm, vm->cls.SyntaxError, "__str__", syntax_error_str, 1, 1, false);
    if (vm->memory_error == NULL) {
        vm->memory_error = exc_new(vm, vm->cls.MemoryError, NULL);
    }
}

// The CPython exceptions wk never raises itself but scripts may name.
static const struct {
    const char *name;
    size_t parent;
} extras[] = {
    {"FileNotFoundError", EXC_FIELD(OSError)},
    {"FileExistsError", EXC_FIELD(OSError)},
    {"PermissionError", EXC_FIELD(OSError)},
    {"TimeoutError", EXC_FIELD(OSError)},
    {"ConnectionError", EXC_FIELD(OSError)},
    {"FloatingPointError", EXC_FIELD(ArithmeticError)},
    {"UnicodeDecodeError", EXC_FIELD(UnicodeError)},
    {"UnicodeEncodeError", EXC_FIELD(UnicodeError)},
    {"BufferError", EXC_FIELD(Exception)},
    {"Warning", EXC_FIELD(Exception)},
};

static const char *const warnings[] = {
    "UserWarning", "DeprecationWarning", "RuntimeWarning", "SyntaxWarning",
    "PendingDeprecationWarning", "FutureWarning", NULL,
};

static void put(WkVM *vm, ObjDict *d, const char *name, ObjClass *c) {
    gc_push_root(vm, OBJ_VAL(c));
    ObjStr *k = str_intern(vm, name, strlen(name));
    gc_push_root(vm, OBJ_VAL(k));
    dict_set_str(vm, d, k, OBJ_VAL(c));
    gc_pop_roots(vm, 2);
}

void exc_register_builtins(WkVM *vm, ObjDict *builtins) {
    gc_push_root(vm, OBJ_VAL(builtins));
    put(vm, builtins, "BaseException", vm->cls.BaseException);
    for (size_t i = 0; i < sizeof(hierarchy) / sizeof(hierarchy[0]); i++) {
        put(vm, builtins, hierarchy[i].name, CLS_AT(vm, hierarchy[i].field));
    }
    put(vm, builtins, "IOError", vm->cls.OSError);
    put(vm, builtins, "EnvironmentError", vm->cls.OSError);
    ObjClass *warning = NULL;
    for (size_t i = 0; i < sizeof(extras) / sizeof(extras[0]); i++) {
        ObjClass *c = new_exc_class(vm, extras[i].name, CLS_AT(vm, extras[i].parent));
        put(vm, builtins, extras[i].name, c);
        warning = c;
    }
    for (int i = 0; warnings[i] != NULL; i++) {
        put(vm, builtins, warnings[i], new_exc_class(vm, warnings[i], warning));
    }
    gc_pop_root(vm);
}

// ---- Syntax errors ---------------------------------------------------------------------------

static void set_field(WkVM *vm, ObjException *e, const char *name, Value v) {
    gc_push_root(vm, v);
    if (e->fields == NULL) {
        e->fields = dict_new(vm);
    }
    ObjStr *k = str_intern(vm, name, strlen(name));
    gc_push_root(vm, OBJ_VAL(k));
    dict_set_str(vm, e->fields, k, v);
    gc_pop_roots(vm, 2);
}

ObjException *exc_new_syntax_error(WkVM *vm, const char *kind, const char *msg,
                                   const char *filename, int line, int col, int end_col,
                                   const char *text) {
    ObjClass *type = vm->cls.SyntaxError;
    if (kind != NULL && strcmp(kind, "IndentationError") == 0) {
        type = vm->cls.IndentationError;
    } else if (kind != NULL && strcmp(kind, "TabError") == 0) {
        type = vm->cls.TabError;
    }
    int roots = 0;
    Value m = OBJ_VAL(str_from_cstr(vm, msg));
    gc_push_root(vm, m), roots++;
    Value f = filename != NULL ? OBJ_VAL(str_from_cstr(vm, filename)) : NONE_VAL;
    gc_push_root(vm, f), roots++;
    Value t = NONE_VAL;
    if (text != NULL) {
        size_t n = strcspn(text, "\n");
        t = OBJ_VAL(str_new(vm, text, n));
    }
    gc_push_root(vm, t), roots++;
    Value offset = col > 0 ? INT_VAL(col) : NONE_VAL;
    Value end_offset = end_col > 0 ? INT_VAL(end_col) : NONE_VAL;
    Value details[6] = {f, INT_VAL(line), offset, t, INT_VAL(line), end_offset};
    ObjTuple *dt = tuple_from(vm, details, 6);
    gc_push_root(vm, OBJ_VAL(dt)), roots++;
    Value pair[2] = {m, OBJ_VAL(dt)};
    ObjTuple *args = tuple_from(vm, pair, 2);
    gc_push_root(vm, OBJ_VAL(args)), roots++;
    ObjException *e = exc_new(vm, type, args);
    gc_push_root(vm, OBJ_VAL(e)), roots++;
    set_field(vm, e, "msg", m);
    set_field(vm, e, "filename", f);
    set_field(vm, e, "lineno", INT_VAL(line));
    set_field(vm, e, "offset", offset);
    set_field(vm, e, "text", t);
    set_field(vm, e, "end_lineno", INT_VAL(line));
    set_field(vm, e, "end_offset", end_offset);
    set_field(vm, e, "print_file_and_line", NONE_VAL);
    gc_pop_roots(vm, roots);
    return e;
}

// ---- Printing --------------------------------------------------------------------------------

// Display columns of the first [bytes] bytes of UTF-8 [s] (one per code point).
static int display_width(const char *s, int bytes) {
    int w = 0;
    for (int i = 0; i < bytes; i++) {
        if (((unsigned char)s[i] & 0xc0) != 0x80) {
            w++;
        }
    }
    return w;
}

static void print_carets(FILE *out, int from, int to) {
    fputs("    ", out);
    for (int i = 0; i < from; i++) {
        fputc(' ', out);
    }
    for (int i = from; i < to; i++) {
        fputc('^', out);
    }
    fputc('\n', out);
}

// The source line [line] of [file] stripped of surrounding whitespace: its text and length,
// and the number of bytes stripped on the left; false when there is no such line.
static bool source_line(WkVM *vm, const char *file, int line, const char **text, int *len,
                        int *lead_out) {
    size_t n = 0;
    const char *src = vm_source_line(vm, file, line, &n);
    if (src == NULL) {
        return false;
    }
    size_t lead = 0;
    while (lead < n && (src[lead] == ' ' || src[lead] == '\t' || src[lead] == '\f')) {
        lead++;
    }
    size_t end = n;
    while (end > lead && (src[end - 1] == '\n' || src[end - 1] == '\r' || src[end - 1] == ' ' ||
                          src[end - 1] == '\t')) {
        end--;
    }
    if (end == lead) {
        return false;
    }
    *text = src + lead;
    *len = (int)(end - lead);
    *lead_out = (int)lead;
    return true;
}

// ---- Caret anatomy ---------------------------------------------------------------------------
// CPython 3.11 marks a failing binary operation as `~~^~~` (operator '^', operands '~') and a
// subscript as `~^^^` (value '~', brackets '^'), re-parsing the failing segment. This is a light
// stand-in: a scan of the segment at bracket depth 0.

static int binop_prec(const char *s, int i, int n, int *len) {
    char c = s[i], d = i + 1 < n ? s[i + 1] : '\0';
    *len = 1;
    if ((c == '*' || c == '/' || c == '<' || c == '>') && d == c) {
        *len = 2;
        return c == '*' ? 8 : c == '/' ? 6 : 4;
    }
    switch (c) {
    case '|':
        return 1;
    case '^':
        return 2;
    case '&':
        return 3;
    case '+':
    case '-':
        return 5;
    case '*':
    case '/':
    case '%':
    case '@':
        return 6;
    default:
        return 0;
    }
}

static bool is_word(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           (unsigned char)c >= 0x80;
}

// Whether [s] has the keyword [kw] at [i] (a whole word).
static bool keyword_at(const char *s, int i, int n, const char *kw) {
    int k = (int)strlen(kw);
    return i + k <= n && strncmp(s + i, kw, (size_t)k) == 0 && (i == 0 || !is_word(s[i - 1])) &&
           (i + k == n || !is_word(s[i + k]));
}

// The '^' range [*from, *to) inside the segment [s, s+n), or false when it has no anatomy.
static bool anchors(const char *s, int n, int *from, int *to) {
    int depth = 0, best = -1, best_len = 0, best_prec = 99, last_open = -1;
    bool operand = false; // an operand was seen since the last operator
    for (int i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\'' || c == '"') {
            int j = i + 1;
            while (j < n && s[j] != c) {
                j += s[j] == '\\' ? 2 : 1;
            }
            i = j;
            operand = true;
            continue;
        }
        if (c == '(' || c == '[' || c == '{') {
            if (depth == 0 && c == '[') {
                last_open = i;
            }
            depth++;
            continue;
        }
        if (c == ')' || c == ']' || c == '}') {
            depth--;
            operand = true;
            continue;
        }
        if (depth > 0 || c == ' ' || c == '\t') {
            continue;
        }
        if (c == ',' || c == '=' || c == '!' || c == ':' || keyword_at(s, i, n, "and") ||
            keyword_at(s, i, n, "or") || keyword_at(s, i, n, "not") || keyword_at(s, i, n, "if") ||
            keyword_at(s, i, n, "in") || keyword_at(s, i, n, "is") ||
            keyword_at(s, i, n, "lambda")) {
            return false;
        }
        if ((c == '<' || c == '>') && !(i + 1 < n && s[i + 1] == c)) {
            return false; // a comparison
        }
        int len;
        int prec = binop_prec(s, i, n, &len);
        bool exponent = (c == '+' || c == '-') && i >= 2 && (s[i - 1] == 'e' || s[i - 1] == 'E') &&
                        ((s[i - 2] >= '0' && s[i - 2] <= '9') || s[i - 2] == '.');
        if (prec == 0 || exponent) {
            operand = operand || is_word(c) || c == '.';
            continue;
        }
        if (operand) { // a binary operator (not a unary sign)
            bool right_assoc = prec == 8;
            if (prec < best_prec || (prec == best_prec && !right_assoc)) {
                best = i;
                best_len = len;
                best_prec = prec;
            }
        }
        operand = false;
        i += len - 1;
    }
    if (best >= 0) {
        *from = best;
        *to = best + best_len;
        return true;
    }
    if (n > 0 && s[n - 1] == ']' && last_open > 0) {
        *from = last_open;
        *to = n;
        return true;
    }
    return false;
}

// The caret line under [text] for the segment [from, to) with the '^' part [op_from, op_to)
// ('~' elsewhere); byte offsets, printed one column per code point.
static void print_anatomy(FILE *out, const char *text, int from, int to, int op_from, int op_to) {
    fputs("    ", out);
    for (int i = 0; i < to; i++) {
        if (((unsigned char)text[i] & 0xc0) == 0x80) {
            continue;
        }
        fputc(i < from ? ' ' : (i >= op_from && i < op_to) ? '^' : '~', out);
    }
    fputc('\n', out);
}

static void print_entry(WkVM *vm, ObjCode *code, int64_t index, FILE *out) {
    const char *file = code->filename != NULL ? code->filename->chars : "<unknown>";
    const char *name = code->name != NULL ? code->name->chars : "?";
    ProtoPos pos = {code->firstline, -1, -1};
    if (code->pos != NULL && index >= 0 && index < code->ncode) {
        pos = code->pos[index];
    }
    fprintf(out, "  File \"%s\", line %d, in %s\n", file, pos.line, name);
    const char *text;
    int len, lead;
    if (!source_line(vm, file, pos.line, &text, &len, &lead)) {
        return;
    }
    fprintf(out, "    %.*s\n", len, text);
    int from = pos.col - lead;
    int to = pos.end_col - lead;
    if (from < 0) {
        from = 0;
    }
    if (to > len) {
        to = len;
    }
    if (pos.col < 0 || to <= from) {
        return;
    }
    int op_from, op_to;
    if (anchors(text + from, to - from, &op_from, &op_to)) {
        print_anatomy(out, text, from, to, from + op_from, from + op_to);
        return;
    }
    if (from == 0 && to >= len) {
        return; // the span covers the whole line: CPython prints no carets
    }
    print_carets(out, display_width(text, from), display_width(text, to));
}

#define TB_LIMIT 1000          // entries printed at most (the newest), as PyTraceBack_LIMIT
#define TB_RECURSIVE_CUTOFF 3  // identical consecutive entries shown before collapsing

static bool entry_of(Value t, ObjCode **code, int64_t *index, int *line) {
    if (!IS_TUPLE(t) || AS_TUPLE(t)->count != 2 || !IS_KIND(AS_TUPLE(t)->items[0], OBJ_CODE) ||
        !IS_INT(AS_TUPLE(t)->items[1])) {
        return false;
    }
    *code = (ObjCode *)AS_OBJ(AS_TUPLE(t)->items[0]);
    *index = AS_INT(AS_TUPLE(t)->items[1]);
    *line = (*code)->pos != NULL && *index >= 0 && *index < (*code)->ncode
                ? (*code)->pos[*index].line
                : (*code)->firstline;
    return true;
}

static void print_repeated(FILE *out, int count) {
    count -= TB_RECURSIVE_CUTOFF;
    fprintf(out, "  [Previous line repeated %d more time%s]\n", count, count > 1 ? "s" : "");
}

// The entries of a traceback list, collapsing runs of the same line as CPython does.
static void print_entries(WkVM *vm, ObjList *tb, FILE *out) {
    uint32_t start = tb->count > TB_LIMIT ? tb->count - TB_LIMIT : 0;
    ObjCode *last_code = NULL;
    int last_line = -1, count = 0;
    for (uint32_t i = start; i < tb->count; i++) {
        ObjCode *code;
        int64_t index;
        int line;
        if (!entry_of(tb->items[i], &code, &index, &line)) {
            continue;
        }
        bool same = last_code != NULL && line == last_line && code->filename == last_code->filename &&
                    code->name == last_code->name;
        if (!same) {
            if (count > TB_RECURSIVE_CUTOFF) {
                print_repeated(out, count);
            }
            last_code = code;
            last_line = line;
            count = 0;
        }
        count++;
        if (count <= TB_RECURSIVE_CUTOFF) {
            print_entry(vm, code, index, out);
        }
    }
    if (count > TB_RECURSIVE_CUTOFF) {
        print_repeated(out, count);
    }
}

// The "  File ..., line N" block of a SyntaxError: the offending line and its caret.
static void print_syntax_details(WkVM *vm, Value e, FILE *out) {
    Value file = field(vm, e, "filename");
    Value line = field(vm, e, "lineno");
    if (!IS_STR(file) || !IS_INT(line)) {
        return;
    }
    fprintf(out, "  File \"%s\", line %lld\n", AS_STR(file)->chars, (long long)AS_INT(line));
    Value text = field(vm, e, "text");
    if (!IS_STR(text)) {
        return;
    }
    const char *s = AS_STR(text)->chars;
    int n = (int)AS_STR(text)->size;
    int lead = 0;
    while (lead < n && (s[lead] == ' ' || s[lead] == '\t' || s[lead] == '\f')) {
        lead++;
    }
    int end = n;
    while (end > lead && (s[end - 1] == '\n' || s[end - 1] == '\r' || s[end - 1] == ' ')) {
        end--;
    }
    fprintf(out, "    %.*s\n", end - lead, s + lead);
    Value off = field(vm, e, "offset");
    Value end_off = field(vm, e, "end_offset");
    if (!IS_INT(off) || AS_INT(off) < 1) {
        return;
    }
    int64_t o = AS_INT(off);
    int64_t eo = IS_INT(end_off) && AS_INT(end_off) != 0 ? AS_INT(end_off) : o;
    if (eo == o || eo == -1 || class_is_subclass(class_of(vm, e), vm->cls.IndentationError)) {
        eo = o + 1; // CPython marks indentation errors with a single caret
    }
    int from = (int)o - 1 - lead;
    int to = (int)eo - 1 - lead;
    if (from < 0) {
        return; // the error is in the indentation: CPython prints no caret
    }
    int len = end - lead;
    const char *body = s + lead;
    int w_from = display_width(body, from < len ? from : len) + (from > len ? from - len : 0);
    int w_to = to <= len ? display_width(body, to) : display_width(body, len) + (to - len);
    if (w_to <= w_from) {
        w_to = w_from + 1;
    }
    print_carets(out, w_from, w_to);
}

// The last line: "Type: message", or "Type" when the message is empty.
static void print_last_line(WkVM *vm, Value e, FILE *out) {
    char buf[256];
    ObjClass *k = class_of(vm, e);
    const char *name = class_display_name(k, buf, sizeof(buf));
    ObjStr *msg = NULL;
    if (class_is_subclass(k, vm->cls.SyntaxError)) {
        Value m = field(vm, e, "msg");
        if (IS_STR(m)) {
            msg = AS_STR(m);
        }
    }
    if (msg == NULL) {
        msg = exc_message(vm, AS_EXCEPTION(e));
    }
    if (msg == NULL) {
        vm->exception = EMPTY_VAL;
        fprintf(out, "%s: <exception str() failed>\n", name);
    } else if (msg->size == 0) {
        fprintf(out, "%s\n", name);
    } else {
        fprintf(out, "%s: %s\n", name, msg->chars);
    }
}

void exc_print_notes(WkVM *vm, Value e, FILE *out) {
    ObjDict *fields = AS_EXCEPTION(e)->fields;
    Value *notes = fields != NULL ? dict_get_str(fields, str_intern(vm, "__notes__", 9)) : NULL;
    if (notes == NULL || !IS_LIST(*notes)) {
        return;
    }
    ObjList *l = AS_LIST(*notes);
    for (uint32_t i = 0; i < l->count; i++) {
        if (IS_STR(l->items[i])) {
            fprintf(out, "%s\n", AS_STR(l->items[i])->chars);
        }
    }
}

static void print_one(WkVM *vm, Value e, FILE *out) {
    ObjException *x = AS_EXCEPTION(e);
    if (IS_LIST(x->traceback) && AS_LIST(x->traceback)->count > 0) {
        fputs("Traceback (most recent call last):\n", out);
        print_entries(vm, AS_LIST(x->traceback), out);
    }
    if (class_is_subclass(x->klass, vm->cls.SyntaxError)) {
        print_syntax_details(vm, e, out);
    }
    print_last_line(vm, e, out);
    exc_print_notes(vm, e, out);
}

#define CHAIN_MAX 64

static void print_chain(WkVM *vm, Value e, FILE *out, Obj **seen, int nseen) {
    if (nseen >= CHAIN_MAX) {
        print_one(vm, e, out);
        return;
    }
    seen[nseen++] = AS_OBJ(e);
    ObjException *x = AS_EXCEPTION(e);
    Value next = EMPTY_VAL;
    const char *sep = NULL;
    if (IS_EXCEPTION(x->cause)) {
        next = x->cause;
        sep = "\nThe above exception was the direct cause of the following exception:\n\n";
    } else if (IS_EXCEPTION(x->context) && !x->suppress_context) {
        next = x->context;
        sep = "\nDuring handling of the above exception, another exception occurred:\n\n";
    }
    if (sep != NULL) {
        bool cycle = false;
        for (int i = 0; i < nseen; i++) {
            cycle = cycle || seen[i] == AS_OBJ(next);
        }
        if (!cycle) {
            print_chain(vm, next, out, seen, nseen);
            fputs(sep, out);
        }
    }
    print_one(vm, e, out);
}

void exc_print(WkVM *vm, Value exc, FILE *out) {
    Value saved = vm->exception;
    gc_push_root(vm, exc);
    gc_push_root(vm, saved);
    if (!IS_EXCEPTION(exc)) {
        ObjStr *s = NULL;
        if (ops_repr(vm, exc, &s)) {
            fprintf(out, "%s\n", s->chars);
        }
    } else {
        Obj *seen[CHAIN_MAX];
        print_chain(vm, exc, out, seen, 0);
    }
    fflush(out);
    vm->exception = saved;
    gc_pop_roots(vm, 2);
}
