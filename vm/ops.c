// The object protocols: operators, comparison, equality, hashing, truth, repr/str/format,
// containment, subscripts, iteration and len. Each protocol handles the built-in kinds first
// (through the types' helpers in str.h, list.h, dict.h, num.h, iter.h), then dispatches to
// dunder methods on instances, exceptions and the weakref kinds, found through the class. The
// weak containers' item protocols and iterators call stdlib/mod_weakref.h directly while their
// class uses the built-in natives (the same functions the dunders would reach).
#include "vm/ops.h"

#include <math.h>
#include <string.h>

#include "stdlib/mod_weakref.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/iter.h"
#include "vm/list.h"
#include "vm/num.h"
#include "vm/opcode.h"
#include "vm/str.h"

// ---- Helpers ---------------------------------------------------------------------------------

// Kinds whose behaviour comes from dunder methods on their class.

// The protocols recurse in C through nested containers (repr of a list of lists, == of deep
// tuples). A depth counter turns runaway nesting into RecursionError, as CPython does,
// instead of a C stack overflow.
static bool c_enter(WkVM *vm, const char *what) {
    if (vm->c_depth >= VM_C_DEPTH_MAX) {
        return exc_raise(vm, vm->cls.RecursionError, "maximum recursion depth exceeded%s", what);
    }
    vm->c_depth++;
    return true;
}

static bool dunder_kind(Value v) {
    if (!IS_OBJ(v)) {
        return false;
    }
    uint8_t t = OBJ_TYPE(v);
    return t == OBJ_INSTANCE || t == OBJ_EXCEPTION || (t >= OBJ_WEAKREF && t <= OBJ_FINALIZE);
}

static bool is_intlike(Value v) {
    return IS_INT(v) || IS_BOOL(v);
}

static bool is_num(Value v) {
    return IS_INT(v) || IS_BOOL(v) || IS_FLOAT(v);
}

static int64_t as_int(Value v) {
    return IS_BOOL(v) ? (int64_t)AS_BOOL(v) : AS_INT(v);
}

static double as_float(Value v) {
    return IS_FLOAT(v) ? AS_FLOAT(v) : (double)as_int(v);
}

// The Python type name of [v] for messages.
static const char *tname(WkVM *vm, Value v) {
    if (IS_KIND(v, OBJ_ITER)) {
        return iter_type_name((ObjIter *)AS_OBJ(v));
    }
    return class_of(vm, v)->name->chars;
}

// The dunder [name] of [v]'s class when [v] is a dunder kind whose class (other than object)
// defines it ([bit] is the class's cached hint, 0 for none), or NULL.
static Value *find_dunder(WkVM *vm, Value v, uint32_t bit, ObjStr *name) {
    if (!dunder_kind(v)) {
        return NULL;
    }
    ObjClass *k = class_of(vm, v);
    if (bit != 0 && !(k->dunders & bit)) {
        return NULL;
    }
    return class_lookup_own(vm, k, name);
}

// Proxies forward operators to their referents by unwrapping their operands, as CPython's
// proxy type does, without a trip through the proxy class's dunders. The referents stay rooted
// while the operation runs: a proxy does not hold them. False with ReferenceError pending
// when a proxy is dead; otherwise *pushed roots were pushed (the caller pops them).
static bool unwrap_operands(WkVM *vm, Value *a, Value *b, int *pushed) {
    *pushed = 0;
    Value *vs[2] = {a, b};
    for (int i = 0; i < 2; i++) {
        if (vs[i] != NULL && IS_KIND(*vs[i], OBJ_PROXY)) {
            if (!mod_weakref_proxy_unwrap(vm, vs[i])) {
                gc_pop_roots(vm, *pushed);
                return false;
            }
            gc_push_root(vm, *vs[i]);
            (*pushed)++;
        }
    }
    return true;
}

// Run [call] again with the proxies among [a] and [b] (NULL: none) replaced by their referents.
#define THROUGH_PROXIES(a, b, call)                                                            \
    do {                                                                                       \
        int pushed_;                                                                           \
        if (!unwrap_operands(vm, (a), (b), &pushed_)) {                                        \
            return false;                                                                      \
        }                                                                                      \
        bool ok_ = (call);                                                                     \
        gc_pop_roots(vm, pushed_);                                                             \
        return ok_;                                                                            \
    } while (0)

// Call dunder [d] found on [self]'s class with [argc] [args].
static bool call_dunder(WkVM *vm, Value d, Value self, int argc, Value *args, Value *out) {
    if (IS_KIND(d, OBJ_STATICMETHOD)) {
        return vm_call(vm, ((ObjWrapper *)AS_OBJ(d))->func, argc, args, NULL, out);
    }
    if (IS_KIND(d, OBJ_CLASSMETHOD)) {
        return class_call_with_self(vm, ((ObjWrapper *)AS_OBJ(d))->func,
                                    OBJ_VAL(class_of(vm, self)), argc, args, NULL, out);
    }
    if (IS_FUNCTION(d) || IS_NATIVE(d)) {
        return class_call_with_self(vm, d, self, argc, args, NULL, out);
    }
    return vm_call(vm, d, argc, args, NULL, out);
}

static ObjStr *intern_c(WkVM *vm, const char *s) {
    return str_intern(vm, s, strlen(s));
}

static bool is_not_impl(WkVM *vm, Value v) {
    return value_is(v, vm->not_implemented);
}

// ---- Numbers ---------------------------------------------------------------------------------

static bool int_binary(WkVM *vm, int op, Value av, Value bv, Value *out) {
    int64_t a = as_int(av), b = as_int(bv), r;
    bool ok = true;
    switch (op) {
    case OPCODE_ADD:
        ok = num_int_add(vm, a, b, &r);
        break;
    case OPCODE_SUB:
        ok = num_int_sub(vm, a, b, &r);
        break;
    case OPCODE_MUL:
        ok = num_int_mul(vm, a, b, &r);
        break;
    case OPCODE_TRUEDIV: {
        double d;
        if (!num_truediv(vm, (double)a, (double)b, true, &d)) {
            return false;
        }
        // Exact quotients of large ints: divide as integers when it is exact.
        if (b != 0 && a % b == 0 && !(a == INT64_MIN && b == -1)) {
            d = (double)(a / b);
        }
        *out = FLOAT_VAL(d);
        return true;
    }
    case OPCODE_FLOORDIV:
        ok = num_int_floordiv(vm, a, b, &r);
        break;
    case OPCODE_MOD:
        ok = num_int_mod(vm, a, b, &r);
        break;
    case OPCODE_POW:
        return num_int_pow(vm, a, b, out);
    case OPCODE_LSHIFT:
        ok = num_int_lshift(vm, a, b, &r);
        break;
    case OPCODE_RSHIFT:
        ok = num_int_rshift(vm, a, b, &r);
        break;
    case OPCODE_BAND:
    case OPCODE_BOR:
    case OPCODE_BXOR:
        r = op == OPCODE_BAND ? (a & b) : op == OPCODE_BOR ? (a | b) : (a ^ b);
        *out = IS_BOOL(av) && IS_BOOL(bv) ? BOOL_VAL(r != 0) : INT_VAL(r);
        return true;
    default:
        WK_UNREACHABLE();
    }
    if (!ok) {
        return false;
    }
    *out = INT_VAL(r);
    return true;
}

// Float arithmetic; *out EMPTY when [op] has no float meaning (bitwise).
static bool float_binary(WkVM *vm, int op, double a, double b, Value *out) {
    double r;
    bool ok = true;
    switch (op) {
    case OPCODE_ADD:
        r = a + b;
        break;
    case OPCODE_SUB:
        r = a - b;
        break;
    case OPCODE_MUL:
        r = a * b;
        break;
    case OPCODE_TRUEDIV:
        ok = num_truediv(vm, a, b, false, &r);
        break;
    case OPCODE_FLOORDIV:
        ok = num_float_floordiv(vm, a, b, &r);
        break;
    case OPCODE_MOD:
        ok = num_float_mod(vm, a, b, &r);
        break;
    case OPCODE_POW:
        ok = num_float_pow(vm, a, b, &r);
        break;
    default:
        *out = EMPTY_VAL;
        return true;
    }
    if (!ok) {
        return false;
    }
    *out = FLOAT_VAL(r);
    return true;
}

// Order of two numbers, exact across int and float. *unordered when a NaN is involved.
static int num_cmp(Value a, Value b, bool *unordered) {
    *unordered = false;
    if (!IS_FLOAT(a) && !IS_FLOAT(b)) {
        int64_t x = as_int(a), y = as_int(b);
        return x < y ? -1 : x > y;
    }
    if (IS_FLOAT(a) && IS_FLOAT(b)) {
        double x = AS_FLOAT(a), y = AS_FLOAT(b);
        if (isnan(x) || isnan(y)) {
            *unordered = true;
            return 0;
        }
        return x < y ? -1 : x > y;
    }
    bool swapped = IS_FLOAT(a);
    int64_t i = swapped ? as_int(b) : as_int(a);
    double f = swapped ? AS_FLOAT(a) : AS_FLOAT(b);
    int r;
    if (isnan(f)) {
        *unordered = true;
        return 0;
    }
    if (f >= 9223372036854775808.0) {
        r = -1;
    } else if (f < -9223372036854775808.0) {
        r = 1;
    } else {
        double t = trunc(f);
        int64_t ti = (int64_t)t;
        if (i != ti) {
            r = i < ti ? -1 : 1;
        } else {
            double frac = f - t;
            r = frac > 0 ? -1 : frac < 0 ? 1 : 0;
        }
    }
    return swapped ? -r : r;
}

static bool cmp_result(int op, int c, bool unordered) {
    if (unordered) {
        return op == OPCODE_NE;
    }
    switch (op) {
    case OPCODE_LT:
        return c < 0;
    case OPCODE_LE:
        return c <= 0;
    case OPCODE_EQ:
        return c == 0;
    case OPCODE_NE:
        return c != 0;
    case OPCODE_GT:
        return c > 0;
    default:
        return c >= 0;
    }
}

// ---- printf-style formatting: str % args -----------------------------------------------------

typedef struct {
    bool left, plus, space, alt, zero;
    int width;     // -1 when absent
    int precision; // -1 when absent
} PctSpec;

static size_t cp_count(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    }
    return c;
}

// Append [sign][prefix][body] padded to the spec's width.
static void pct_pad(StrBuf *b, const PctSpec *sp, const char *sign, const char *prefix,
                    const char *body, size_t blen, bool numeric) {
    size_t len = strlen(sign) + strlen(prefix) + cp_count(body, blen);
    size_t pad = sp->width > 0 && (size_t)sp->width > len ? (size_t)sp->width - len : 0;
    if (!sp->left && !(numeric && sp->zero)) {
        for (size_t i = 0; i < pad; i++) {
            strbuf_addc(b, ' ');
        }
    }
    strbuf_add(b, sign, strlen(sign));
    strbuf_add(b, prefix, strlen(prefix));
    if (!sp->left && numeric && sp->zero) {
        for (size_t i = 0; i < pad; i++) {
            strbuf_addc(b, '0');
        }
    }
    strbuf_add(b, body, blen);
    if (sp->left) {
        for (size_t i = 0; i < pad; i++) {
            strbuf_addc(b, ' ');
        }
    }
}

static bool pct_int_arg(WkVM *vm, Value v, char type, int64_t *out) {
    if (is_intlike(v)) {
        *out = as_int(v);
        return true;
    }
    if (IS_FLOAT(v) && (type == 'd' || type == 'i' || type == 'u')) {
        return num_float_to_int(vm, AS_FLOAT(v), out);
    }
    if (dunder_kind(v)) {
        if (ops_index(vm, v, out)) {
            return true;
        }
        vm->exception = EMPTY_VAL;
    }
    if (type == 'd' || type == 'i' || type == 'u') {
        return exc_raise(vm, vm->cls.TypeError, "%%%c format: a real number is required, not %s",
                         type, tname(vm, v));
    }
    return exc_raise(vm, vm->cls.TypeError, "%%%c format: an integer is required, not %s", type,
                     tname(vm, v));
}

static bool pct_one(WkVM *vm, StrBuf *b, const PctSpec *sp, char type, Value v) {
    char buf[512];
    switch (type) {
    case 's':
    case 'r':
    case 'a': {
        ObjStr *s;
        if (!(type == 's' ? ops_str(vm, v, &s) : ops_repr(vm, v, &s))) {
            return false;
        }
        size_t n = s->size;
        if (sp->precision >= 0 && (size_t)sp->precision < s->length) {
            n = str_byte_offset(s, sp->precision);
        }
        pct_pad(b, sp, "", "", s->chars, n, false);
        return true;
    }
    case 'd':
    case 'i':
    case 'u':
    case 'x':
    case 'X':
    case 'o': {
        int64_t i;
        if (!pct_int_arg(vm, v, type, &i)) {
            return false;
        }
        uint64_t m = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
        const char *f = type == 'x' ? "%llx" : type == 'X' ? "%llX" : type == 'o' ? "%llo" : "%llu";
        int n = snprintf(buf, sizeof(buf), f, (unsigned long long)m);
        const char *sign = i < 0 ? "-" : sp->plus ? "+" : sp->space ? " " : "";
        const char *prefix = "";
        if (sp->alt) {
            prefix = type == 'x' ? "0x" : type == 'X' ? "0X" : type == 'o' ? "0o" : "";
        }
        char body[600];
        int z = sp->precision > n ? sp->precision - n : 0;
        memset(body, '0', (size_t)z);
        memcpy(body + z, buf, (size_t)n);
        pct_pad(b, sp, sign, prefix, body, (size_t)(z + n), true);
        return true;
    }
    case 'e':
    case 'E':
    case 'f':
    case 'F':
    case 'g':
    case 'G': {
        double d;
        if (is_num(v)) {
            d = as_float(v);
        } else {
            return exc_raise(vm, vm->cls.TypeError, "must be real number, not %s", tname(vm, v));
        }
        char f[16];
        snprintf(f, sizeof(f), "%%%s.*%c", sp->alt ? "#" : "", type);
        int prec = sp->precision >= 0 ? sp->precision : 6;
        if (prec > 300) {
            prec = 300;
        }
        snprintf(buf, sizeof(buf), f, prec, fabs(d));
        const char *sign = signbit(d) && !isnan(d) ? "-" : sp->plus ? "+" : sp->space ? " " : "";
        pct_pad(b, sp, sign, "", buf, strlen(buf), isfinite(d));
        return true;
    }
    case 'c': {
        if (IS_STR(v) && AS_STR(v)->length == 1) {
            pct_pad(b, sp, "", "", AS_STR(v)->chars, AS_STR(v)->size, false);
            return true;
        }
        if (!is_intlike(v)) {
            return exc_raise(vm, vm->cls.TypeError, "%%c requires int or char");
        }
        int64_t cp = as_int(v);
        if (cp < 0 || cp >= 0x110000) {
            return exc_raise(vm, vm->cls.OverflowError, "%%c arg not in range(0x110000)");
        }
        char enc[4];
        int n = str_encode_utf8((uint32_t)cp, enc);
        pct_pad(b, sp, "", "", enc, (size_t)n, false);
        return true;
    }
    default:
        return false;
    }
}

// Parse flags, width and precision at fmt[*i]; '*' takes ints from the arguments.
static bool pct_parse_spec(WkVM *vm, const char *fmt, size_t size, size_t *i, PctSpec *sp,
                           Value *items, uint32_t n, uint32_t *next) {
    memset(sp, 0, sizeof(*sp));
    sp->width = -1;
    sp->precision = -1;
    for (; *i < size; (*i)++) {
        char c = fmt[*i];
        if (c == '-') {
            sp->left = true;
        } else if (c == '+') {
            sp->plus = true;
        } else if (c == ' ') {
            sp->space = true;
        } else if (c == '#') {
            sp->alt = true;
        } else if (c == '0') {
            sp->zero = true;
        } else {
            break;
        }
    }
    for (int part = 0; part < 2; part++) {
        int *dst = part == 0 ? &sp->width : &sp->precision;
        if (part == 1) {
            if (*i >= size || fmt[*i] != '.') {
                break;
            }
            (*i)++;
            *dst = 0;
        }
        if (*i < size && fmt[*i] == '*') {
            (*i)++;
            if (*next >= n) {
                return exc_raise(vm, vm->cls.TypeError, "not enough arguments for format string");
            }
            Value w = items[(*next)++];
            if (!is_intlike(w)) {
                return exc_raise(vm, vm->cls.TypeError, "* wants int");
            }
            *dst = (int)as_int(w);
            if (part == 0 && *dst < 0) {
                sp->left = true;
                *dst = -*dst;
            }
            continue;
        }
        while (*i < size && fmt[*i] >= '0' && fmt[*i] <= '9') {
            *dst = (*dst < 0 ? 0 : *dst) * 10 + (fmt[*i] - '0');
            if (*dst > 100000) {
                return exc_raise(vm, vm->cls.ValueError, "width too big");
            }
            (*i)++;
        }
    }
    while (*i < size && (fmt[*i] == 'h' || fmt[*i] == 'l' || fmt[*i] == 'L')) {
        (*i)++;
    }
    return true;
}

static bool percent_format(WkVM *vm, ObjStr *fs, Value args, Value *out) {
    Value *items = &args;
    uint32_t n = 1;
    if (IS_TUPLE(args)) {
        items = AS_TUPLE(args)->items;
        n = AS_TUPLE(args)->count;
    }
    bool mapping = IS_DICT(args) || (dunder_kind(args) && !IS_TUPLE(args));
    uint32_t next = 0;
    const char *fmt = fs->chars;
    size_t size = fs->size;
    StrBuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < size; i++) {
        if (fmt[i] != '%') {
            strbuf_addc(&b, fmt[i]);
            continue;
        }
        size_t start = i++;
        Value arg = EMPTY_VAL;
        if (i < size && fmt[i] == '(') {
            size_t depth = 1, k = i + 1;
            while (k < size && depth > 0) {
                depth += fmt[k] == '(' ? 1 : fmt[k] == ')' ? -1 : 0;
                k++;
            }
            if (depth > 0) {
                strbuf_free(&b);
                return exc_raise(vm, vm->cls.ValueError, "incomplete format key");
            }
            if (!mapping) {
                strbuf_free(&b);
                return exc_raise(vm, vm->cls.TypeError, "format requires a mapping");
            }
            ObjStr *key = str_new(vm, fmt + i + 1, k - i - 2);
            gc_push_root(vm, OBJ_VAL(key));
            bool ok = ops_getitem(vm, args, OBJ_VAL(key), &arg);
            gc_pop_root(vm);
            if (!ok) {
                strbuf_free(&b);
                return false;
            }
            i = k;
        }
        PctSpec sp;
        if (!pct_parse_spec(vm, fmt, size, &i, &sp, items, n, &next)) {
            strbuf_free(&b);
            return false;
        }
        if (i >= size) {
            strbuf_free(&b);
            return exc_raise(vm, vm->cls.ValueError, "incomplete format");
        }
        char type = fmt[i];
        if (type == '%') {
            strbuf_addc(&b, '%');
            continue;
        }
        if (strchr("sradiuxXoeEfFgGc", type) == NULL) {
            strbuf_free(&b);
            return exc_raise(vm, vm->cls.ValueError,
                             "unsupported format character '%c' (0x%x) at index %zu", type,
                             (unsigned)(unsigned char)type, i);
        }
        (void)start;
        if (IS_EMPTY(arg)) {
            if (next >= n) {
                strbuf_free(&b);
                return exc_raise(vm, vm->cls.TypeError, "not enough arguments for format string");
            }
            arg = items[next++];
        }
        if (!pct_one(vm, &b, &sp, type, arg)) {
            strbuf_free(&b);
            return false;
        }
    }
    if (next < n && !mapping) {
        strbuf_free(&b);
        return exc_raise(vm, vm->cls.TypeError,
                         "not all arguments converted during string formatting");
    }
    *out = OBJ_VAL(strbuf_finish(vm, &b));
    return true;
}

// ---- Binary operators ------------------------------------------------------------------------

typedef struct {
    ObjStr *fwd, *rev, *inp;
    const char *sym;
} OpNames;

static OpNames op_names(WkVM *vm, int op) {
    VMNames *n = &vm->names;
    switch (op) {
    case OPCODE_ADD:
        return (OpNames){n->__add__, n->__radd__, n->__iadd__, "+"};
    case OPCODE_SUB:
        return (OpNames){n->__sub__, n->__rsub__, n->__isub__, "-"};
    case OPCODE_MUL:
        return (OpNames){n->__mul__, n->__rmul__, n->__imul__, "*"};
    case OPCODE_TRUEDIV:
        return (OpNames){n->__truediv__, n->__rtruediv__, n->__itruediv__, "/"};
    case OPCODE_FLOORDIV:
        return (OpNames){n->__floordiv__, n->__rfloordiv__, n->__ifloordiv__, "//"};
    case OPCODE_MOD:
        return (OpNames){n->__mod__, n->__rmod__, n->__imod__, "%"};
    case OPCODE_POW:
        return (OpNames){n->__pow__, n->__rpow__, n->__ipow__, "**"};
    case OPCODE_LSHIFT:
        return (OpNames){n->__lshift__, n->__rlshift__, n->__ilshift__, "<<"};
    case OPCODE_RSHIFT:
        return (OpNames){n->__rshift__, n->__rrshift__, n->__irshift__, ">>"};
    case OPCODE_BAND:
        return (OpNames){n->__and__, n->__rand__, n->__iand__, "&"};
    case OPCODE_BOR:
        return (OpNames){n->__or__, n->__ror__, n->__ior__, "|"};
    default:
        return (OpNames){n->__xor__, n->__rxor__, n->__ixor__, "^"};
    }
}

// a.fwd(b), then b.rev(a): *done false when neither gave an answer.
static bool try_dunders(WkVM *vm, Value a, Value b, ObjStr *fwd, ObjStr *rev, uint32_t bit,
                        Value *out, bool *done) {
    *done = false;
    Value *d = find_dunder(vm, a, bit, fwd);
    if (d != NULL) {
        if (!call_dunder(vm, *d, a, 1, &b, out)) {
            return false;
        }
        if (!is_not_impl(vm, *out)) {
            *done = true;
            return true;
        }
    }
    if (rev == NULL || (dunder_kind(a) && class_of(vm, a) == class_of(vm, b) && fwd == rev)) {
        return true;
    }
    d = find_dunder(vm, b, bit, rev);
    if (d != NULL) {
        if (!call_dunder(vm, *d, b, 1, &a, out)) {
            return false;
        }
        if (!is_not_impl(vm, *out)) {
            *done = true;
        }
    }
    return true;
}

static bool seq_kind(Value v) {
    return IS_STR(v) || IS_LIST(v) || IS_TUPLE(v);
}

static bool repeat(WkVM *vm, Value seq, int64_t n, Value *out) {
    if (IS_STR(seq)) {
        ObjStr *s;
        if (!str_repeat(vm, AS_STR(seq), n, &s)) {
            return false;
        }
        *out = OBJ_VAL(s);
        return true;
    }
    return list_repeat(vm, seq, n, out);
}

// The built-in kinds' operators; *out EMPTY when not handled.
static bool builtin_binary(WkVM *vm, int op, Value a, Value b, Value *out) {
    *out = EMPTY_VAL;
    if (is_num(a) && is_num(b)) {
        if (!IS_FLOAT(a) && !IS_FLOAT(b)) {
            return int_binary(vm, op, a, b, out);
        }
        return float_binary(vm, op, as_float(a), as_float(b), out);
    }
    if (!IS_OBJ(a) && !IS_OBJ(b)) {
        return true;
    }
    switch (op) {
    case OPCODE_ADD:
        if (IS_STR(a) && IS_STR(b)) {
            *out = OBJ_VAL(str_concat(vm, AS_STR(a), AS_STR(b)));
            return true;
        }
        if ((IS_LIST(a) && IS_LIST(b)) || (IS_TUPLE(a) && IS_TUPLE(b))) {
            return list_concat(vm, a, b, out);
        }
        break;
    case OPCODE_MUL:
        if (seq_kind(a) && is_intlike(b)) {
            return repeat(vm, a, as_int(b), out);
        }
        if (seq_kind(b) && is_intlike(a)) {
            return repeat(vm, b, as_int(a), out);
        }
        break;
    case OPCODE_MOD:
        if (IS_STR(a)) {
            return percent_format(vm, AS_STR(a), b, out);
        }
        break;
    case OPCODE_BOR:
    case OPCODE_BAND:
    case OPCODE_SUB:
    case OPCODE_BXOR:
        if (IS_SET(a) && IS_SET(b)) {
            return set_binary(vm, op, a, b, false, out);
        }
        if (op == OPCODE_BOR && IS_DICT(a) && IS_DICT(b)) {
            return dict_or(vm, AS_DICT(a), AS_DICT(b), out);
        }
        break;
    default:
        break;
    }
    return true;
}

static bool binary_error(WkVM *vm, int op, Value a, Value b, const char *sym) {
    if (op == OPCODE_ADD && (IS_STR(a) || IS_LIST(a) || IS_TUPLE(a)) && !dunder_kind(b)) {
        return exc_raise(vm, vm->cls.TypeError, "can only concatenate %s (not \"%s\") to %s",
                         tname(vm, a), tname(vm, b), tname(vm, a));
    }
    if (op == OPCODE_MUL && (seq_kind(a) || seq_kind(b))) {
        Value other = seq_kind(a) ? b : a;
        if (!seq_kind(a) || !seq_kind(b) || seq_kind(other)) {
            return exc_raise(vm, vm->cls.TypeError, "can't multiply sequence by non-int of type '%s'",
                             tname(vm, seq_kind(a) ? b : a));
        }
    }
    if (op == OPCODE_POW && sym[1] == '*' && sym[2] == '\0') {
        sym = "** or pow()";
    }
    return exc_raise(vm, vm->cls.TypeError, "unsupported operand type(s) for %s: '%s' and '%s'",
                     sym, tname(vm, a), tname(vm, b));
}

static bool binary_impl(WkVM *vm, int op, Value a, Value b, const char *sym, Value *out) {
    if (!builtin_binary(vm, op, a, b, out)) {
        return false;
    }
    if (!IS_EMPTY(*out)) {
        return true;
    }
    if (dunder_kind(a) || dunder_kind(b)) {
        OpNames n = op_names(vm, op);
        bool done;
        if (!try_dunders(vm, a, b, n.fwd, n.rev, CLASS_D_ARITH, out, &done)) {
            return false;
        }
        if (done) {
            return true;
        }
    }
    return binary_error(vm, op, a, b, sym != NULL ? sym : op_names(vm, op).sym);
}

bool ops_binary(WkVM *vm, int op, Value a, Value b, Value *out) {
    if (IS_KIND(a, OBJ_PROXY) || IS_KIND(b, OBJ_PROXY)) {
        THROUGH_PROXIES(&a, &b, binary_impl(vm, op, a, b, NULL, out));
    }
    return binary_impl(vm, op, a, b, NULL, out);
}

// l *= n in place: the repeated items replace the list's contents.
static bool list_irepeat(WkVM *vm, Value a, int64_t n, Value *out) {
    Value tmp;
    if (!list_repeat(vm, a, n, &tmp)) {
        return false;
    }
    ObjList *l = AS_LIST(a), *t = AS_LIST(tmp);
    Value *items = l->items;
    uint32_t count = l->count, cap = l->capacity;
    l->items = t->items;
    l->count = t->count;
    l->capacity = t->capacity;
    t->items = items;
    t->count = count;
    t->capacity = cap;
    *out = a;
    return true;
}

bool ops_inplace(WkVM *vm, int op, Value a, Value b, Value *out) {
    if (IS_LIST(a)) {
        if (op == OPCODE_ADD) {
            if (!list_extend(vm, AS_LIST(a), b)) {
                return false;
            }
            *out = a;
            return true;
        }
        if (op == OPCODE_MUL && is_intlike(b)) {
            return list_irepeat(vm, a, as_int(b), out);
        }
    } else if (IS_SET(a) && !AS_SET(a)->frozen && IS_SET(b) &&
               (op == OPCODE_BOR || op == OPCODE_BAND || op == OPCODE_SUB || op == OPCODE_BXOR)) {
        return set_binary(vm, op, a, b, true, out);
    } else if (IS_DICT(a) && op == OPCODE_BOR) {
        if (!dict_update(vm, AS_DICT(a), b)) {
            return false;
        }
        *out = a;
        return true;
    } else if (dunder_kind(a)) {
        OpNames n = op_names(vm, op);
        Value *d = find_dunder(vm, a, CLASS_D_ARITH, n.inp);
        if (d != NULL) {
            if (!call_dunder(vm, *d, a, 1, &b, out)) {
                return false;
            }
            if (!is_not_impl(vm, *out)) {
                return true;
            }
        }
    }
    char sym[8];
    snprintf(sym, sizeof(sym), "%s=", op_names(vm, op).sym);
    return binary_impl(vm, op, a, b, sym, out);
}

// ---- Unary operators -------------------------------------------------------------------------

bool ops_unary(WkVM *vm, int op, Value a, Value *out) {
    if (is_intlike(a)) {
        int64_t i = as_int(a);
        if (op == OPCODE_NEG) {
            if (i == INT64_MIN) {
                return exc_raise(vm, vm->cls.OverflowError, "integer overflow");
            }
            *out = INT_VAL(-i);
        } else if (op == OPCODE_POS) {
            *out = INT_VAL(i);
        } else {
            *out = INT_VAL(~i);
        }
        return true;
    }
    if (IS_FLOAT(a) && op != OPCODE_INVERT) {
        *out = FLOAT_VAL(op == OPCODE_NEG ? -AS_FLOAT(a) : AS_FLOAT(a));
        return true;
    }
    ObjStr *name = op == OPCODE_NEG   ? vm->names.__neg__
                   : op == OPCODE_POS ? vm->names.__pos__
                                      : vm->names.__invert__;
    Value *d = find_dunder(vm, a, CLASS_D_ARITH, name);
    if (d != NULL) {
        return call_dunder(vm, *d, a, 0, NULL, out);
    }
    const char *sym = op == OPCODE_NEG ? "-" : op == OPCODE_POS ? "+" : "~";
    return exc_raise(vm, vm->cls.TypeError, "bad operand type for unary %s: '%s'", sym,
                     tname(vm, a));
}

// ---- Comparison ------------------------------------------------------------------------------

static const char *cmp_sym(int op) {
    switch (op) {
    case OPCODE_LT:
        return "<";
    case OPCODE_LE:
        return "<=";
    case OPCODE_EQ:
        return "==";
    case OPCODE_NE:
        return "!=";
    case OPCODE_GT:
        return ">";
    default:
        return ">=";
    }
}

static int cmp_swap(int op) {
    switch (op) {
    case OPCODE_LT:
        return OPCODE_GT;
    case OPCODE_LE:
        return OPCODE_GE;
    case OPCODE_GT:
        return OPCODE_LT;
    case OPCODE_GE:
        return OPCODE_LE;
    default:
        return op;
    }
}

static ObjStr *cmp_name(WkVM *vm, int op) {
    switch (op) {
    case OPCODE_LT:
        return vm->names.__lt__;
    case OPCODE_LE:
        return vm->names.__le__;
    case OPCODE_EQ:
        return vm->names.__eq__;
    case OPCODE_NE:
        return vm->names.__ne__;
    case OPCODE_GT:
        return vm->names.__gt__;
    default:
        return vm->names.__ge__;
    }
}

// One side of a rich comparison: self.__op__(other); __ne__ falls back to not __eq__.
// *out is NotImplemented when the side has no answer.
static bool cmp_side(WkVM *vm, int op, Value self, Value other, Value *out) {
    *out = vm->not_implemented;
    if (!dunder_kind(self)) {
        return true;
    }
    uint32_t bit = op == OPCODE_EQ ? CLASS_D_EQ : op == OPCODE_NE ? CLASS_D_NE : CLASS_D_ORDER;
    Value *d = find_dunder(vm, self, bit, cmp_name(vm, op));
    if (d != NULL && !IS_NONE(*d)) {
        return call_dunder(vm, *d, self, 1, &other, out);
    }
    if (op == OPCODE_NE) {
        d = find_dunder(vm, self, CLASS_D_EQ, vm->names.__eq__);
        if (d != NULL && !IS_NONE(*d)) {
            Value r;
            if (!call_dunder(vm, *d, self, 1, &other, &r)) {
                return false;
            }
            if (is_not_impl(vm, r)) {
                return true;
            }
            bool t;
            if (!ops_truthy(vm, r, &t)) {
                return false;
            }
            *out = BOOL_VAL(!t);
        }
    }
    return true;
}

static bool rich_compare(WkVM *vm, int op, Value a, Value b, Value *out) {
    // A subclass that overrides the reflected method goes first, as in CPython.
    bool b_first = dunder_kind(b) && class_of(vm, b) != class_of(vm, a) &&
                   class_is_subclass(class_of(vm, b), class_of(vm, a));
    if (b_first) {
        if (!cmp_side(vm, cmp_swap(op), b, a, out)) {
            return false;
        }
        if (!is_not_impl(vm, *out)) {
            return true;
        }
    }
    if (!cmp_side(vm, op, a, b, out)) {
        return false;
    }
    if (!is_not_impl(vm, *out)) {
        return true;
    }
    if (!b_first) {
        if (!cmp_side(vm, cmp_swap(op), b, a, out)) {
            return false;
        }
        if (!is_not_impl(vm, *out)) {
            return true;
        }
    }
    if (op == OPCODE_EQ || op == OPCODE_NE) {
        bool same = value_is(a, b);
        *out = BOOL_VAL(op == OPCODE_EQ ? same : !same);
        return true;
    }
    return exc_raise(vm, vm->cls.TypeError, "'%s' not supported between instances of '%s' and '%s'",
                     cmp_sym(op), tname(vm, a), tname(vm, b));
}

static bool compare_impl(WkVM *vm, int op, Value a, Value b, Value *out) {
    if (is_num(a) && is_num(b)) {
        bool unordered;
        int c = num_cmp(a, b, &unordered);
        *out = BOOL_VAL(cmp_result(op, c, unordered));
        return true;
    }
    if (IS_STR(a) && IS_STR(b)) {
        int c = (op == OPCODE_EQ || op == OPCODE_NE) ? !str_equal(AS_STR(a), AS_STR(b))
                                                     : str_compare(AS_STR(a), AS_STR(b));
        *out = BOOL_VAL(cmp_result(op, c, false));
        return true;
    }
    if ((IS_LIST(a) && IS_LIST(b)) || (IS_TUPLE(a) && IS_TUPLE(b))) {
        return list_compare(vm, op, a, b, out);
    }
    if (IS_SET(a) && IS_SET(b)) {
        if (!set_compare(vm, op, a, b, out)) {
            return false;
        }
        if (!IS_EMPTY(*out)) {
            return true;
        }
    }
    if ((op == OPCODE_EQ || op == OPCODE_NE) && !dunder_kind(a) && !dunder_kind(b)) {
        bool eq;
        if (!ops_equal(vm, a, b, &eq)) {
            return false;
        }
        *out = BOOL_VAL(op == OPCODE_EQ ? eq : !eq);
        return true;
    }
    return rich_compare(vm, op, a, b, out);
}

bool ops_compare(WkVM *vm, int op, Value a, Value b, Value *out) {
    if (IS_KIND(a, OBJ_PROXY) || IS_KIND(b, OBJ_PROXY)) {
        THROUGH_PROXIES(&a, &b, ops_compare(vm, op, a, b, out));
    }
    if (!c_enter(vm, " in comparison")) {
        return false;
    }
    bool ok = compare_impl(vm, op, a, b, out);
    vm->c_depth--;
    return ok;
}

static bool equal_impl(WkVM *vm, Value a, Value b, bool *out) {
    if (value_is(a, b) && !IS_FLOAT(a)) {
        *out = true;
        return true;
    }
    if (is_num(a) && is_num(b)) {
        bool unordered;
        int c = num_cmp(a, b, &unordered);
        *out = !unordered && c == 0;
        return true;
    }
    if (dunder_kind(a) || dunder_kind(b)) {
        Value r;
        if (!rich_compare(vm, OPCODE_EQ, a, b, &r)) {
            return false;
        }
        return ops_truthy(vm, r, out);
    }
    *out = false;
    if (!IS_OBJ(a) || !IS_OBJ(b)) {
        return true;
    }
    switch (OBJ_TYPE(a)) {
    case OBJ_STR:
        *out = IS_STR(b) && str_equal(AS_STR(a), AS_STR(b));
        return true;
    case OBJ_LIST:
    case OBJ_TUPLE:
        if (OBJ_TYPE(a) == OBJ_TYPE(b)) {
            return list_equal(vm, a, b, out);
        }
        return true;
    case OBJ_DICT:
        if (IS_DICT(b)) {
            return dict_equal(vm, AS_DICT(a), AS_DICT(b), out);
        }
        return true;
    case OBJ_SET:
        if (IS_SET(b)) {
            Value r;
            if (!set_compare(vm, OPCODE_EQ, a, b, &r)) {
                return false;
            }
            *out = IS_BOOL(r) && AS_BOOL(r);
        }
        return true;
    case OBJ_RANGE:
        *out = IS_KIND(b, OBJ_RANGE) &&
               range_equal((ObjRange *)AS_OBJ(a), (ObjRange *)AS_OBJ(b));
        return true;
    case OBJ_BOUND_METHOD:
        if (IS_KIND(b, OBJ_BOUND_METHOD)) {
            ObjBoundMethod *x = (ObjBoundMethod *)AS_OBJ(a), *y = (ObjBoundMethod *)AS_OBJ(b);
            *out = value_is(x->self, y->self) && value_is(x->func, y->func);
        }
        return true;
    default:
        return true;
    }
}

bool ops_equal(WkVM *vm, Value a, Value b, bool *out) {
    if (!c_enter(vm, " in comparison")) {
        return false;
    }
    bool ok = equal_impl(vm, a, b, out);
    vm->c_depth--;
    return ok;
}

// ---- Truth and hashing -----------------------------------------------------------------------

bool ops_truthy(WkVM *vm, Value v, bool *out) {
    switch (v.type) {
    case VAL_NONE:
    case VAL_EMPTY:
        *out = false;
        return true;
    case VAL_BOOL:
        *out = AS_BOOL(v);
        return true;
    case VAL_INT:
        *out = AS_INT(v) != 0;
        return true;
    case VAL_FLOAT:
        *out = AS_FLOAT(v) != 0.0;
        return true;
    case VAL_OBJ:
        break;
    }
    switch (OBJ_TYPE(v)) {
    case OBJ_STR:
        *out = AS_STR(v)->size > 0;
        return true;
    case OBJ_TUPLE:
        *out = AS_TUPLE(v)->count > 0;
        return true;
    case OBJ_LIST:
        *out = AS_LIST(v)->count > 0;
        return true;
    case OBJ_DICT:
        *out = AS_DICT(v)->table.count > 0;
        return true;
    case OBJ_SET:
        *out = AS_SET(v)->count > 0;
        return true;
    case OBJ_RANGE:
        *out = ((ObjRange *)AS_OBJ(v))->length > 0;
        return true;
    case OBJ_ITER:
        if (AS_OBJ(v)->flags & ITER_FLAG_VIEW) {
            int64_t n;
            if (!iter_len(vm, (ObjIter *)AS_OBJ(v), &n)) {
                return false;
            }
            *out = n > 0;
            return true;
        }
        *out = true;
        return true;
    default:
        break;
    }
    if (!dunder_kind(v)) {
        *out = true;
        return true;
    }
    Value *d = find_dunder(vm, v, CLASS_D_BOOL, vm->names.__bool__);
    if (d != NULL) {
        Value r;
        if (!call_dunder(vm, *d, v, 0, NULL, &r)) {
            return false;
        }
        if (!IS_BOOL(r)) {
            return exc_raise(vm, vm->cls.TypeError, "__bool__ should return bool, returned %s",
                             tname(vm, r));
        }
        *out = AS_BOOL(r);
        return true;
    }
    if (find_dunder(vm, v, CLASS_D_LEN, vm->names.__len__) != NULL) {
        int64_t n;
        if (!ops_len(vm, v, &n)) {
            return false;
        }
        *out = n > 0;
        return true;
    }
    *out = true;
    return true;
}

static bool unhashable(WkVM *vm, Value v) {
    return exc_raise(vm, vm->cls.TypeError, "unhashable type: '%s'", tname(vm, v));
}

static bool hash_impl(WkVM *vm, Value v, uint64_t *out) {
    switch (v.type) {
    case VAL_NONE:
    case VAL_EMPTY:
        *out = 0xfca86420u;
        return true;
    case VAL_BOOL:
        *out = num_hash_int(AS_BOOL(v));
        return true;
    case VAL_INT:
        *out = num_hash_int(AS_INT(v));
        return true;
    case VAL_FLOAT:
        *out = num_hash_float(AS_FLOAT(v));
        return true;
    case VAL_OBJ:
        break;
    }
    switch (OBJ_TYPE(v)) {
    case OBJ_STR:
        *out = str_hash(AS_STR(v));
        return true;
    case OBJ_TUPLE:
        return tuple_hash(vm, AS_TUPLE(v), out);
    case OBJ_SET:
        return set_hash(vm, AS_SET(v), out);
    case OBJ_LIST:
    case OBJ_DICT:
    case OBJ_SLICE:
        return unhashable(vm, v);
    case OBJ_ITER:
        if (AS_OBJ(v)->flags & ITER_FLAG_VIEW) {
            return unhashable(vm, v);
        }
        break;
    case OBJ_RANGE: {
        ObjRange *r = (ObjRange *)AS_OBJ(v);
        uint64_t h = num_hash_int(r->length);
        h = h * 1000003u ^ num_hash_int(r->length == 0 ? 0 : r->start);
        h = h * 1000003u ^ num_hash_int(r->length <= 1 ? 0 : r->step);
        *out = h;
        return true;
    }
    case OBJ_BOUND_METHOD: {
        ObjBoundMethod *b = (ObjBoundMethod *)AS_OBJ(v);
        uint64_t hs = IS_OBJ(b->self) ? ops_pointer_hash(AS_OBJ(b->self)) : 0;
        *out = hs ^ (IS_OBJ(b->func) ? ops_pointer_hash(AS_OBJ(b->func)) : 0);
        return true;
    }
    default:
        break;
    }
    if (dunder_kind(v)) {
        ObjClass *k = class_of(vm, v);
        Value *d = (k->dunders & (CLASS_D_HASH | CLASS_D_EQ))
                       ? class_lookup_own(vm, k, vm->names.__hash__)
                       : NULL;
        if (d != NULL) {
            if (IS_NONE(*d)) {
                return unhashable(vm, v);
            }
            Value r;
            if (!call_dunder(vm, *d, v, 0, NULL, &r)) {
                return false;
            }
            if (!is_intlike(r)) {
                return exc_raise(vm, vm->cls.TypeError, "__hash__ method should return an integer");
            }
            *out = num_hash_int(as_int(r));
            return true;
        }
    }
    *out = ops_pointer_hash(AS_OBJ(v));
    return true;
}

bool ops_hash(WkVM *vm, Value v, uint64_t *out) {
    if (!c_enter(vm, "")) {
        return false;
    }
    bool ok = hash_impl(vm, v, out);
    vm->c_depth--;
    return ok;
}

// ---- repr / str / format ---------------------------------------------------------------------

static bool check_str_result(WkVM *vm, Value r, const char *what, ObjStr **out) {
    if (!IS_STR(r)) {
        return exc_raise(vm, vm->cls.TypeError, "%s returned non-string (type %s)", what,
                         tname(vm, r));
    }
    *out = AS_STR(r);
    return true;
}

static ObjStr *class_repr(WkVM *vm, ObjClass *c) {
    const char *mod = c->module != NULL ? c->module->chars : "builtins";
    const char *qual = c->qualname != NULL ? c->qualname->chars : c->name->chars;
    if (c->builtin && strcmp(mod, "builtins") == 0) {
        return str_printf(vm, "<class '%s'>", qual);
    }
    return str_printf(vm, "<class '%s.%s'>", mod, qual);
}

static bool method_repr(WkVM *vm, ObjBoundMethod *b, ObjStr **out) {
    if (IS_NATIVE(b->func)) {
        *out = str_printf(vm, "<built-in method %s of %s object at %p>", AS_NATIVE(b->func)->name,
                          tname(vm, b->self), IS_OBJ(b->self) ? (void *)AS_OBJ(b->self) : NULL);
        return true;
    }
    ObjStr *self;
    if (!ops_repr(vm, b->self, &self)) {
        return false;
    }
    const char *qual = "?";
    if (IS_FUNCTION(b->func)) {
        ObjFunction *f = AS_FUNCTION(b->func);
        qual = (f->qualname != NULL ? f->qualname : f->name)->chars;
    }
    gc_push_root(vm, OBJ_VAL(self));
    *out = str_printf(vm, "<bound method %s of %s>", qual, self->chars);
    gc_pop_root(vm);
    return true;
}

static bool wrapper_repr(WkVM *vm, Value v, const char *kind, ObjStr **out) {
    ObjStr *f;
    if (!ops_repr(vm, ((ObjWrapper *)AS_OBJ(v))->func, &f)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(f));
    *out = str_printf(vm, "<%s(%s)>", kind, f->chars);
    gc_pop_root(vm);
    return true;
}

static bool obj_repr(WkVM *vm, Value v, ObjStr **out) {
    Obj *o = AS_OBJ(v);
    switch ((ObjType)o->type) {
    case OBJ_STR:
        *out = str_repr(vm, (ObjStr *)o);
        return true;
    case OBJ_TUPLE:
    case OBJ_LIST:
        return list_repr(vm, v, out);
    case OBJ_DICT:
        return dict_repr(vm, (ObjDict *)o, out);
    case OBJ_SET:
        return set_repr(vm, (ObjSet *)o, out);
    case OBJ_RANGE:
        *out = range_repr(vm, (ObjRange *)o);
        return true;
    case OBJ_SLICE:
        return slice_repr(vm, (ObjSlice *)o, out);
    case OBJ_ITER:
        return iter_repr(vm, (ObjIter *)o, out);
    case OBJ_CODE: {
        ObjCode *c = (ObjCode *)o;
        *out = str_printf(vm, "<code object %s at %p, file \"%s\", line %d>", c->name->chars,
                          (void *)c, c->filename != NULL ? c->filename->chars : "?", c->firstline);
        return true;
    }
    case OBJ_FUNCTION: {
        ObjFunction *f = (ObjFunction *)o;
        *out = str_printf(vm, "<function %s at %p>",
                          (f->qualname != NULL ? f->qualname : f->name)->chars, (void *)f);
        return true;
    }
    case OBJ_CELL: {
        Value c = ((ObjCell *)o)->value;
        *out = IS_EMPTY(c) ? str_printf(vm, "<cell at %p: empty>", (void *)o)
                           : str_printf(vm, "<cell at %p: %s object at %p>", (void *)o,
                                        tname(vm, c), IS_OBJ(c) ? (void *)AS_OBJ(c) : NULL);
        return true;
    }
    case OBJ_NATIVE: {
        ObjNative *n = (ObjNative *)o;
        *out = IS_EMPTY(n->self)
                   ? str_printf(vm, "<built-in function %s>", n->name)
                   : str_printf(vm, "<built-in method %s of %s object at %p>", n->name,
                                tname(vm, n->self),
                                IS_OBJ(n->self) ? (void *)AS_OBJ(n->self) : NULL);
        return true;
    }
    case OBJ_BOUND_METHOD:
        return method_repr(vm, (ObjBoundMethod *)o, out);
    case OBJ_CLASS:
        *out = class_repr(vm, (ObjClass *)o);
        return true;
    case OBJ_MODULE: {
        ObjModule *m = (ObjModule *)o;
        *out = m->path != NULL
                   ? str_printf(vm, "<module '%s' from '%s'>", m->name->chars, m->path->chars)
                   : str_printf(vm, "<module '%s' (built-in)>", m->name->chars);
        return true;
    }
    case OBJ_GENERATOR: {
        ObjGenerator *g = (ObjGenerator *)o;
        ObjStr *n = g->func != NULL && g->func->qualname != NULL ? g->func->qualname : g->name;
        *out = str_printf(vm, "<generator object %s at %p>", n != NULL ? n->chars : "?",
                          (void *)g);
        return true;
    }
    case OBJ_PROPERTY:
        *out = str_printf(vm, "<property object at %p>", (void *)o);
        return true;
    case OBJ_STATICMETHOD:
        return wrapper_repr(vm, v, "staticmethod", out);
    case OBJ_CLASSMETHOD:
        return wrapper_repr(vm, v, "classmethod", out);
    default:
        break;
    }
    Value *d = find_dunder(vm, v, CLASS_D_REPR, vm->names.__repr__);
    if (d != NULL) {
        Value r;
        if (!call_dunder(vm, *d, v, 0, NULL, &r)) {
            return false;
        }
        return check_str_result(vm, r, "__repr__", out);
    }
    ObjClass *k = class_of(vm, v);
    const char *mod = k->module != NULL ? k->module->chars : "builtins";
    const char *qual = k->qualname != NULL ? k->qualname->chars : k->name->chars;
    *out = strcmp(mod, "builtins") == 0 ? str_printf(vm, "<%s object at %p>", qual, (void *)o)
                                        : str_printf(vm, "<%s.%s object at %p>", mod, qual,
                                                     (void *)o);
    return true;
}

static bool repr_impl(WkVM *vm, Value v, ObjStr **out) {
    char buf[64];
    switch (v.type) {
    case VAL_NONE:
    case VAL_EMPTY:
        *out = str_new(vm, "None", 4);
        return true;
    case VAL_BOOL:
        *out = AS_BOOL(v) ? str_new(vm, "True", 4) : str_new(vm, "False", 5);
        return true;
    case VAL_INT: {
        int n = num_int_repr(AS_INT(v), buf);
        *out = str_new(vm, buf, (size_t)n);
        return true;
    }
    case VAL_FLOAT:
        num_float_repr(AS_FLOAT(v), buf, sizeof(buf));
        *out = str_new(vm, buf, strlen(buf));
        return true;
    case VAL_OBJ:
        break;
    }
    return obj_repr(vm, v, out);
}

bool ops_repr(WkVM *vm, Value v, ObjStr **out) {
    if (!c_enter(vm, " while getting the repr of an object")) {
        return false;
    }
    bool ok = repr_impl(vm, v, out);
    vm->c_depth--;
    return ok;
}

static bool str_impl(WkVM *vm, Value v, ObjStr **out) {
    if (IS_STR(v)) {
        *out = AS_STR(v);
        return true;
    }
    Value *d = find_dunder(vm, v, CLASS_D_STR, vm->names.__str__);
    if (d != NULL) {
        Value r;
        if (!call_dunder(vm, *d, v, 0, NULL, &r)) {
            return false;
        }
        return check_str_result(vm, r, "__str__", out);
    }
    return ops_repr(vm, v, out);
}

bool ops_str(WkVM *vm, Value v, ObjStr **out) {
    if (!c_enter(vm, " while getting the str of an object")) {
        return false;
    }
    bool ok = str_impl(vm, v, out);
    vm->c_depth--;
    return ok;
}

bool ops_format(WkVM *vm, Value v, ObjStr *spec, ObjStr **out) {
    Value *d = find_dunder(vm, v, CLASS_D_FORMAT, intern_c(vm, "__format__"));
    if (d != NULL) {
        Value s = spec != NULL ? OBJ_VAL(spec) : OBJ_VAL(str_new(vm, "", 0));
        Value r;
        gc_push_root(vm, s);
        bool ok = call_dunder(vm, *d, v, 1, &s, &r);
        gc_pop_root(vm);
        if (!ok) {
            return false;
        }
        if (!IS_STR(r)) {
            return exc_raise(vm, vm->cls.TypeError, "__format__ must return a str, not %s",
                             tname(vm, r));
        }
        *out = AS_STR(r);
        return true;
    }
    if (spec == NULL || spec->size == 0) {
        return ops_str(vm, v, out);
    }
    if (is_num(v) || IS_STR(v)) {
        return num_format(vm, v, spec, out);
    }
    return exc_raise(vm, vm->cls.TypeError, "unsupported format string passed to %s.__format__",
                     tname(vm, v));
}

// ---- Containment -----------------------------------------------------------------------------

// item in [it] by iterating it (the fallback of `in`).
static bool contains_by_iter(WkVM *vm, Value container, Value item, bool *out) {
    Value it;
    if (!ops_iter(vm, container, &it)) {
        return false;
    }
    gc_push_root(vm, it);
    *out = false;
    for (;;) {
        Value x;
        bool done;
        if (!ops_next(vm, it, &x, &done)) {
            gc_pop_root(vm);
            return false;
        }
        if (done) {
            break;
        }
        bool eq = value_is(x, item);
        if (!eq) {
            gc_push_root(vm, x);
            bool ok = ops_equal(vm, x, item, &eq);
            gc_pop_root(vm);
            if (!ok) {
                gc_pop_root(vm);
                return false;
            }
        }
        if (eq) {
            *out = true;
            break;
        }
    }
    gc_pop_root(vm);
    return true;
}

bool ops_contains(WkVM *vm, Value container, Value item, bool *out) {
    if (IS_KIND(container, OBJ_PROXY)) {
        THROUGH_PROXIES(&container, NULL, ops_contains(vm, container, item, out));
    }
    if (IS_OBJ(container)) {
        switch (OBJ_TYPE(container)) {
        case OBJ_STR:
            if (!IS_STR(item)) {
                return exc_raise(vm, vm->cls.TypeError,
                                 "'in <string>' requires string as left operand, not %s",
                                 tname(vm, item));
            }
            *out = str_contains(AS_STR(container), AS_STR(item));
            return true;
        case OBJ_LIST:
        case OBJ_TUPLE:
            return list_contains(vm, container, item, out);
        case OBJ_DICT: {
            Value v;
            return dict_get(vm, AS_DICT(container), item, &v, out);
        }
        case OBJ_SET:
            return set_contains(vm, AS_SET(container), item, out);
        case OBJ_RANGE: {
            ObjRange *r = (ObjRange *)AS_OBJ(container);
            if (is_intlike(item)) {
                *out = range_contains_int(r, as_int(item));
                return true;
            }
            if (IS_FLOAT(item)) {
                double f = AS_FLOAT(item);
                *out = f == trunc(f) && fabs(f) < 9.2e18 && range_contains_int(r, (int64_t)f);
                return true;
            }
            break;
        }
        case OBJ_ITER:
            if (AS_OBJ(container)->flags & ITER_FLAG_VIEW) {
                return iter_contains(vm, (ObjIter *)AS_OBJ(container), item, out);
            }
            break;
        case OBJ_WEAKDICT:
        case OBJ_WEAKSET:
            if (mod_weakref_item_native(vm, container, MOD_WEAKREF_CONTAINS)) {
                return mod_weakref_contains(vm, container, item, out);
            }
            break;
        default:
            break;
        }
    }
    Value *d = find_dunder(vm, container, CLASS_D_CONTAINS, vm->names.__contains__);
    if (d != NULL) {
        Value r;
        if (!call_dunder(vm, *d, container, 1, &item, &r)) {
            return false;
        }
        return ops_truthy(vm, r, out);
    }
    bool iterable = IS_KIND(container, OBJ_ITER) || IS_KIND(container, OBJ_GENERATOR) ||
                    IS_KIND(container, OBJ_RANGE) ||
                    find_dunder(vm, container, CLASS_D_ITER, vm->names.__iter__) != NULL ||
                    find_dunder(vm, container, CLASS_D_GETITEM, vm->names.__getitem__) != NULL;
    if (!iterable) {
        return exc_raise(vm, vm->cls.TypeError, "argument of type '%s' is not iterable",
                         tname(vm, container));
    }
    return contains_by_iter(vm, container, item, out);
}

// ---- Subscripts ------------------------------------------------------------------------------

// An object with __index__ (a proxy to an int too) indexes the built-in sequences. The kind
// of [obj] is tested first: every other container pays one switch.
static inline bool sequence_key(WkVM *vm, Value obj, Value *key) {
    if (!IS_OBJ(obj)) {
        return true;
    }
    switch (OBJ_TYPE(obj)) {
    case OBJ_LIST:
    case OBJ_TUPLE:
    case OBJ_STR:
    case OBJ_RANGE:
        break;
    default:
        return true;
    }
    if (dunder_kind(*key) && find_dunder(vm, *key, CLASS_D_INDEX, vm->names.__index__) != NULL) {
        int64_t i;
        if (!ops_index(vm, *key, &i)) {
            return false;
        }
        *key = INT_VAL(i);
    }
    return true;
}

bool ops_getitem(WkVM *vm, Value obj, Value key, Value *out) {
    if (IS_KIND(obj, OBJ_PROXY)) {
        THROUGH_PROXIES(&obj, NULL, ops_getitem(vm, obj, key, out));
    }
    if (IS_OBJ(obj)) {
        switch (OBJ_TYPE(obj)) {
        case OBJ_LIST:
        case OBJ_TUPLE:
            return sequence_key(vm, obj, &key) && list_getitem(vm, obj, key, out);
        case OBJ_STR:
            return sequence_key(vm, obj, &key) && str_getitem(vm, AS_STR(obj), key, out);
        case OBJ_DICT:
            return dict_getitem(vm, AS_DICT(obj), key, out);
        case OBJ_RANGE:
            return sequence_key(vm, obj, &key) &&
                   range_getitem(vm, (ObjRange *)AS_OBJ(obj), key, out);
        case OBJ_WEAKDICT:
        case OBJ_WEAKSET:
            if (mod_weakref_item_native(vm, obj, MOD_WEAKREF_GETITEM)) {
                return mod_weakref_getitem(vm, obj, key, out);
            }
            break;
        case OBJ_CLASS: {
            ObjClass *c = AS_CLASS(obj);
            Value *cg = class_lookup(c, intern_c(vm, "__class_getitem__"));
            if (cg != NULL) {
                Value f = IS_KIND(*cg, OBJ_CLASSMETHOD) ? ((ObjWrapper *)AS_OBJ(*cg))->func : *cg;
                return class_call_with_self(vm, f, obj, 1, &key, NULL, out);
            }
            if (c->builtin) {
                *out = obj; // list[int] and friends: the annotation evaluates to the class
                return true;
            }
            return exc_raise(vm, vm->cls.TypeError, "type '%s' is not subscriptable",
                             c->name->chars);
        }
        default:
            break;
        }
    }
    Value *d = find_dunder(vm, obj, CLASS_D_GETITEM, vm->names.__getitem__);
    if (d != NULL) {
        return call_dunder(vm, *d, obj, 1, &key, out);
    }
    return exc_raise(vm, vm->cls.TypeError, "'%s' object is not subscriptable", tname(vm, obj));
}

bool ops_setitem(WkVM *vm, Value obj, Value key, Value v) {
    if (IS_KIND(obj, OBJ_PROXY)) {
        THROUGH_PROXIES(&obj, NULL, ops_setitem(vm, obj, key, v));
    }
    if (IS_OBJ(obj)) {
        switch (OBJ_TYPE(obj)) {
        case OBJ_LIST:
            return sequence_key(vm, obj, &key) && list_setitem(vm, AS_LIST(obj), key, v);
        case OBJ_DICT:
            return dict_set(vm, AS_DICT(obj), key, v);
        case OBJ_WEAKDICT:
        case OBJ_WEAKSET:
            if (mod_weakref_item_native(vm, obj, MOD_WEAKREF_SETITEM)) {
                return mod_weakref_setitem(vm, obj, key, v);
            }
            break;
        default:
            if (!sequence_key(vm, obj, &key)) { // tuples, strs, ranges: __index__ then refused
                return false;
            }
            break;
        }
    }
    Value *d = find_dunder(vm, obj, CLASS_D_SETITEM, vm->names.__setitem__);
    if (d != NULL) {
        Value a[2] = {key, v};
        Value r;
        return call_dunder(vm, *d, obj, 2, a, &r);
    }
    return exc_raise(vm, vm->cls.TypeError, "'%s' object does not support item assignment",
                     tname(vm, obj));
}

bool ops_delitem(WkVM *vm, Value obj, Value key) {
    if (IS_OBJ(obj)) {
        switch (OBJ_TYPE(obj)) {
        case OBJ_LIST:
            return sequence_key(vm, obj, &key) && list_delitem(vm, AS_LIST(obj), key);
        case OBJ_DICT:
            return dict_delitem(vm, AS_DICT(obj), key);
        case OBJ_WEAKDICT:
        case OBJ_WEAKSET:
            if (mod_weakref_item_native(vm, obj, MOD_WEAKREF_DELITEM)) {
                return mod_weakref_delitem(vm, obj, key);
            }
            break;
        default:
            if (!sequence_key(vm, obj, &key)) {
                return false;
            }
            break;
        }
    }
    Value *d = find_dunder(vm, obj, CLASS_D_DELITEM, vm->names.__delitem__);
    if (d != NULL) {
        Value r;
        return call_dunder(vm, *d, obj, 1, &key, &r);
    }
    if ((IS_TUPLE(obj) || IS_STR(obj) || IS_KIND(obj, OBJ_RANGE)) && is_intlike(key)) {
        return exc_raise(vm, vm->cls.TypeError, "'%s' object doesn't support item deletion",
                         tname(vm, obj));
    }
    return exc_raise(vm, vm->cls.TypeError, "'%s' object does not support item deletion",
                     tname(vm, obj));
}

// ---- Iteration -------------------------------------------------------------------------------

static bool is_iterator(WkVM *vm, Value v) {
    return IS_KIND(v, OBJ_ITER) || IS_KIND(v, OBJ_GENERATOR) ||
           find_dunder(vm, v, CLASS_D_NEXT, vm->names.__next__) != NULL;
}

bool ops_iter(WkVM *vm, Value obj, Value *out) {
    if (IS_OBJ(obj)) {
        switch (OBJ_TYPE(obj)) {
        case OBJ_LIST:
            *out = OBJ_VAL(iter_new(vm, ITER_LIST, obj));
            return true;
        case OBJ_TUPLE:
            *out = OBJ_VAL(iter_new(vm, ITER_SEQ, obj));
            return true;
        case OBJ_STR:
            *out = OBJ_VAL(iter_new(vm, ITER_STR, obj));
            return true;
        case OBJ_RANGE:
            *out = OBJ_VAL(iter_new(vm, ITER_RANGE, obj));
            return true;
        case OBJ_DICT:
            *out = OBJ_VAL(iter_new(vm, ITER_DICT_KEYS, obj));
            return true;
        case OBJ_SET:
            *out = OBJ_VAL(iter_new(vm, ITER_SET, obj));
            return true;
        case OBJ_ITER:
            return iter_iter(vm, (ObjIter *)AS_OBJ(obj), out);
        case OBJ_GENERATOR:
            *out = obj;
            return true;
        default:
            break;
        }
    }
    Value *d = find_dunder(vm, obj, CLASS_D_ITER, vm->names.__iter__);
    if (d != NULL && !IS_NONE(*d)) {
        if (!call_dunder(vm, *d, obj, 0, NULL, out)) {
            return false;
        }
        if (!is_iterator(vm, *out)) {
            return exc_raise(vm, vm->cls.TypeError, "iter() returned non-iterator of type '%s'",
                             tname(vm, *out));
        }
        return true;
    }
    if (d == NULL && find_dunder(vm, obj, CLASS_D_GETITEM, vm->names.__getitem__) != NULL) {
        *out = OBJ_VAL(iter_new(vm, ITER_SEQ, obj)); // the sequence protocol
        return true;
    }
    return exc_raise(vm, vm->cls.TypeError, "'%s' object is not iterable", tname(vm, obj));
}

// One step of the sequence protocol: an ITER_SEQ over an object with __getitem__ only.
static bool seq_protocol_next(WkVM *vm, ObjIter *x, Value *out, bool *done) {
    *done = false;
    if (!ops_getitem(vm, x->source, INT_VAL(x->index), out)) {
        if (exc_is(vm, vm->exception, vm->cls.IndexError) ||
            exc_is(vm, vm->exception, vm->cls.StopIteration)) {
            vm->exception = EMPTY_VAL;
            x->source = NONE_VAL;
            *done = true;
            *out = NONE_VAL;
            return true;
        }
        return false;
    }
    x->index++;
    return true;
}

bool ops_next(WkVM *vm, Value it, Value *out, bool *done) {
    if (IS_KIND(it, OBJ_ITER)) {
        ObjIter *x = (ObjIter *)AS_OBJ(it);
        if (x->kind == ITER_SEQ && dunder_kind(x->source)) {
            return seq_protocol_next(vm, x, out, done);
        }
        return iter_next(vm, x, out, done);
    }
    if (IS_KIND(it, OBJ_GENERATOR)) {
        ObjGenerator *g = (ObjGenerator *)AS_OBJ(it);
        if (g->state == GEN_CLOSED) {
            *done = true;
            *out = NONE_VAL;
            return true;
        }
        return vm_gen_resume(vm, g, NONE_VAL, out, done);
    }
    if (mod_weakref_is_iterator(it)) {
        return mod_weakref_iter_next(vm, it, out, done);
    }
    Value *d = find_dunder(vm, it, CLASS_D_NEXT, vm->names.__next__);
    if (d == NULL) {
        return exc_raise(vm, vm->cls.TypeError, "'%s' object is not an iterator", tname(vm, it));
    }
    *done = false;
    if (!call_dunder(vm, *d, it, 0, NULL, out)) {
        if (exc_is(vm, vm->exception, vm->cls.StopIteration)) {
            vm->exception = EMPTY_VAL;
            *done = true;
            *out = NONE_VAL;
            return true;
        }
        return false;
    }
    return true;
}

// ---- len and index ---------------------------------------------------------------------------

bool ops_len(WkVM *vm, Value obj, int64_t *out) {
    if (IS_KIND(obj, OBJ_PROXY)) {
        THROUGH_PROXIES(&obj, NULL, ops_len(vm, obj, out));
    }
    if (IS_OBJ(obj)) {
        switch (OBJ_TYPE(obj)) {
        case OBJ_STR:
            *out = AS_STR(obj)->length;
            return true;
        case OBJ_LIST:
            *out = AS_LIST(obj)->count;
            return true;
        case OBJ_TUPLE:
            *out = AS_TUPLE(obj)->count;
            return true;
        case OBJ_DICT:
            *out = AS_DICT(obj)->table.count;
            return true;
        case OBJ_SET:
            *out = AS_SET(obj)->count;
            return true;
        case OBJ_RANGE:
            *out = ((ObjRange *)AS_OBJ(obj))->length;
            return true;
        case OBJ_ITER:
            if (AS_OBJ(obj)->flags & ITER_FLAG_VIEW) {
                return iter_len(vm, (ObjIter *)AS_OBJ(obj), out);
            }
            break;
        default:
            break;
        }
    }
    Value *d = find_dunder(vm, obj, CLASS_D_LEN, vm->names.__len__);
    if (d == NULL) {
        return exc_raise(vm, vm->cls.TypeError, "object of type '%s' has no len()",
                         tname(vm, obj));
    }
    Value r;
    if (!call_dunder(vm, *d, obj, 0, NULL, &r)) {
        return false;
    }
    if (!is_intlike(r)) {
        return exc_raise(vm, vm->cls.TypeError, "'%s' object cannot be interpreted as an integer",
                         tname(vm, r));
    }
    if (as_int(r) < 0) {
        return exc_raise(vm, vm->cls.ValueError, "__len__() should return >= 0");
    }
    *out = as_int(r);
    return true;
}

bool ops_index(WkVM *vm, Value v, int64_t *out) {
    if (is_intlike(v)) {
        *out = as_int(v);
        return true;
    }
    Value *d = find_dunder(vm, v, CLASS_D_INDEX, vm->names.__index__);
    if (d != NULL) {
        Value r;
        if (!call_dunder(vm, *d, v, 0, NULL, &r)) {
            return false;
        }
        if (!is_intlike(r)) {
            return exc_raise(vm, vm->cls.TypeError, "__index__ returned non-int (type %s)",
                             tname(vm, r));
        }
        *out = as_int(r);
        return true;
    }
    return exc_raise(vm, vm->cls.TypeError, "'%s' object cannot be interpreted as an integer",
                     tname(vm, v));
}

bool ops_each(WkVM *vm, Value iterable, OpsEachFn fn, void *ctx) {
    Value it;
    if (!ops_iter(vm, iterable, &it)) {
        return false;
    }
    gc_push_root(vm, it);
    for (;;) {
        Value v;
        bool done;
        if (!ops_next(vm, it, &v, &done)) {
            gc_pop_root(vm);
            return false;
        }
        if (done) {
            break;
        }
        gc_push_root(vm, v);
        bool ok = fn(vm, v, ctx);
        gc_pop_root(vm);
        if (!ok) {
            gc_pop_root(vm);
            return false;
        }
    }
    gc_pop_root(vm);
    return true;
}

typedef struct {
    Value *acc; // a temp root: the running result stays reachable while items are fetched
    int op;
} Fold;

static bool fold_item(WkVM *vm, Value x, void *ctx) {
    Fold *f = ctx;
    Value a = *f->acc;
    if (IS_INT(a) && IS_INT(x)) {
        int64_t r;
        bool overflow = f->op == OPCODE_ADD ? __builtin_add_overflow(AS_INT(a), AS_INT(x), &r)
                                            : __builtin_mul_overflow(AS_INT(a), AS_INT(x), &r);
        if (!overflow) {
            *f->acc = INT_VAL(r);
            return true;
        }
    } else if (IS_FLOAT(a) && IS_FLOAT(x)) {
        double r = f->op == OPCODE_ADD ? AS_FLOAT(a) + AS_FLOAT(x) : AS_FLOAT(a) * AS_FLOAT(x);
        *f->acc = FLOAT_VAL(r);
        return true;
    }
    // Not straight into *f->acc: that slot is what keeps [a] alive while the operator runs.
    Value r;
    if (!ops_binary(vm, f->op, a, x, &r)) {
        return false;
    }
    *f->acc = r;
    return true;
}

bool ops_fold(WkVM *vm, Value iterable, int op, Value start, Value *out) {
    gc_push_root(vm, start);
    Fold f = {&vm->gc.temp_roots[vm->gc.temp_count - 1], op};
    bool ok = ops_each(vm, iterable, fold_item, &f);
    *out = *f.acc;
    gc_pop_root(vm);
    return ok;
}
