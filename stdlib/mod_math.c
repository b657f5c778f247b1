// The math module: libm behind CPython's argument conversion and error rules. A NaN result
// from non-NaN arguments is "math domain error" (ValueError); an infinite result from finite
// arguments is "math range error" (OverflowError). Integer functions work on 64-bit ints.
#include "stdlib/mod_math.h"

#include <math.h>
#include <string.h>

#include "stdlib/stdlib.h"
#include "vm/class.h"
#include "vm/exc.h"
#include "vm/list.h"
#include "vm/num.h"
#include "vm/opcode.h"
#include "vm/ops.h"
#include "vm/str.h"
#include "vm/dict.h"

#define UNUSED(x) (void)(x)

#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#ifndef M_E
#define M_E 2.7182818284590452354
#endif

// ---- Argument conversion ---------------------------------------------------------------------

static bool to_double(WkVM *vm, Value v, double *out) {
    if (IS_FLOAT(v)) {
        *out = AS_FLOAT(v);
        return true;
    }
    if (IS_INT(v)) {
        *out = (double)AS_INT(v);
        return true;
    }
    if (IS_BOOL(v)) {
        *out = AS_BOOL(v);
        return true;
    }
    if (IS_INSTANCE(v)) {
        Value *d = class_lookup_own(vm, AS_INSTANCE(v)->klass, str_intern(vm, "__float__", 9));
        if (d != NULL) {
            Value r;
            if (!class_call_with_self(vm, *d, v, 0, NULL, NULL, &r)) {
                return false;
            }
            if (IS_FLOAT(r)) {
                *out = AS_FLOAT(r);
                return true;
            }
        }
    }
    return exc_raise(vm, vm->cls.TypeError, "must be real number, not %s",
                     class_of(vm, v)->name->chars);
}

static bool to_int(WkVM *vm, Value v, int64_t *out) {
    if (IS_FLOAT(v)) {
        return exc_raise(vm, vm->cls.TypeError, "'float' object cannot be interpreted as an integer");
    }
    return ops_index(vm, v, out);
}

static bool domain_error(WkVM *vm) {
    return exc_raise(vm, vm->cls.ValueError, "math domain error");
}

static bool range_error(WkVM *vm) {
    return exc_raise(vm, vm->cls.OverflowError, "math range error");
}

// Check [r] = f([x]) the way CPython's math_1 does and store it.
static bool finish1(WkVM *vm, double x, double r, bool can_overflow, Value *result) {
    if (isnan(r) && !isnan(x)) {
        return domain_error(vm);
    }
    if (isinf(r) && isfinite(x)) {
        return can_overflow ? range_error(vm) : domain_error(vm);
    }
    *result = FLOAT_VAL(r);
    return true;
}

#define MATH1(name, expr, overflow)                                                            \
    static bool m_##name(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {    \
        UNUSED(argc);                                                                          \
        UNUSED(kwargs);                                                                        \
        double x;                                                                              \
        if (!to_double(vm, args[0], &x)) {                                                     \
            return false;                                                                      \
        }                                                                                      \
        return finish1(vm, x, (expr), overflow, result);                                       \
    }

MATH1(exp, exp(x), true)
MATH1(expm1, expm1(x), true)
MATH1(sin, sin(x), false)
MATH1(cos, cos(x), false)
MATH1(tan, tan(x), false)
MATH1(asin, asin(x), false)
MATH1(acos, acos(x), false)
MATH1(atan, atan(x), false)
MATH1(sinh, sinh(x), true)
MATH1(cosh, cosh(x), true)
MATH1(tanh, tanh(x), false)
MATH1(asinh, asinh(x), false)
MATH1(acosh, acosh(x), false)
MATH1(atanh, fabs(x) >= 1.0 ? NAN : atanh(x), false)
MATH1(fabs, fabs(x), false)
MATH1(degrees, x * (180.0 / M_PI), true)
MATH1(radians, x * (M_PI / 180.0), false)
MATH1(erf, erf(x), false)
MATH1(erfc, erfc(x), false)
MATH1(gamma, (x <= 0 && x == floor(x)) ? NAN : tgamma(x), true)
MATH1(lgamma, (x <= 0 && x == floor(x)) ? INFINITY : lgamma(x), true)

static bool m_sqrt(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double x;
    if (!to_double(vm, args[0], &x)) {
        return false;
    }
    if (x < 0) {
        return domain_error(vm);
    }
    *result = FLOAT_VAL(sqrt(x));
    return true;
}

// log with a positive-argument check (log(0) and log(-1) are domain errors).
static bool checked_log(WkVM *vm, Value v, double (*fn)(double), double *out) {
    double x;
    if (!to_double(vm, v, &x)) {
        return false;
    }
    if (isnan(x)) {
        *out = x;
        return true;
    }
    if (x <= 0) {
        return domain_error(vm);
    }
    *out = fn(x);
    return true;
}

static bool m_log(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    double a = 0.0, b = 0.0;
    if (!checked_log(vm, args[0], log, &a)) {
        return false;
    }
    if (argc > 1) {
        if (!checked_log(vm, args[1], log, &b)) {
            return false;
        }
        if (b == 0.0) {
            return exc_raise(vm, vm->cls.ZeroDivisionError, "float division by zero");
        }
        a /= b;
    }
    *result = FLOAT_VAL(a);
    return true;
}

static bool m_log2(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double a = 0.0;
    if (!checked_log(vm, args[0], log2, &a)) {
        return false;
    }
    *result = FLOAT_VAL(a);
    return true;
}

static bool m_log10(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double a = 0.0;
    if (!checked_log(vm, args[0], log10, &a)) {
        return false;
    }
    *result = FLOAT_VAL(a);
    return true;
}

static bool m_log1p(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double x;
    if (!to_double(vm, args[0], &x)) {
        return false;
    }
    if (x <= -1.0) {
        return domain_error(vm);
    }
    *result = FLOAT_VAL(log1p(x));
    return true;
}

// ---- Two-argument float functions ------------------------------------------------------------

static bool two(WkVM *vm, Value *args, double *x, double *y) {
    return to_double(vm, args[0], x) && to_double(vm, args[1], y);
}

static bool m_pow(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double x, y;
    if (!two(vm, args, &x, &y)) {
        return false;
    }
    if (x == 0.0 && y < 0 && isfinite(y)) {
        return domain_error(vm);
    }
    if (x < 0 && isfinite(x) && isfinite(y) && y != floor(y)) {
        return domain_error(vm);
    }
    double r = pow(x, y);
    if (isinf(r) && isfinite(x) && isfinite(y)) {
        return range_error(vm);
    }
    *result = FLOAT_VAL(r);
    return true;
}

static bool m_atan2(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double x, y;
    if (!two(vm, args, &x, &y)) {
        return false;
    }
    *result = FLOAT_VAL(atan2(x, y));
    return true;
}

static bool m_copysign(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double x, y;
    if (!two(vm, args, &x, &y)) {
        return false;
    }
    *result = FLOAT_VAL(copysign(x, y));
    return true;
}

static bool m_fmod(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double x, y;
    if (!two(vm, args, &x, &y)) {
        return false;
    }
    if (y == 0.0 && !isnan(x)) {
        return domain_error(vm);
    }
    if (isinf(x) && !isnan(y)) {
        return domain_error(vm);
    }
    *result = FLOAT_VAL(isinf(y) && isfinite(x) ? x : fmod(x, y));
    return true;
}

static bool m_ldexp(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double x;
    int64_t e;
    if (!to_double(vm, args[0], &x) || !to_int(vm, args[1], &e)) {
        return false;
    }
    if (e > 100000) {
        e = 100000;
    } else if (e < -100000) {
        e = -100000;
    }
    double r = ldexp(x, (int)e);
    if (isinf(r) && isfinite(x)) {
        return range_error(vm);
    }
    *result = FLOAT_VAL(r);
    return true;
}

static bool m_hypot(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    double acc = 0.0;
    bool inf = false;
    for (int i = 0; i < argc; i++) {
        double x;
        if (!to_double(vm, args[i], &x)) {
            return false;
        }
        inf = inf || isinf(x);
        acc = hypot(acc, x);
    }
    *result = FLOAT_VAL(inf ? INFINITY : acc);
    return true;
}

static bool m_isclose(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    static const char *const names[] = {"rel_tol", "abs_tol", NULL};
    if (kwargs != NULL && !dict_check_kwargs(vm, kwargs, "isclose", names)) {
        return false;
    }
    double a, b, rel = 1e-9, abs_tol = 0.0;
    if (!two(vm, args, &a, &b)) {
        return false;
    }
    Value *r = dict_get_cstr(kwargs, "rel_tol");
    Value *t = dict_get_cstr(kwargs, "abs_tol");
    if ((r != NULL && !to_double(vm, *r, &rel)) || (t != NULL && !to_double(vm, *t, &abs_tol))) {
        return false;
    }
    if (rel < 0.0 || abs_tol < 0.0) {
        return exc_raise(vm, vm->cls.ValueError, "tolerances must be non-negative");
    }
    if (a == b) {
        *result = BOOL_VAL(true);
        return true;
    }
    if (isinf(a) || isinf(b)) {
        *result = BOOL_VAL(false);
        return true;
    }
    double diff = fabs(b - a);
    *result = BOOL_VAL((diff <= fabs(rel * b)) || (diff <= fabs(rel * a)) || diff <= abs_tol);
    return true;
}

static bool m_modf(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double x, ip;
    if (!to_double(vm, args[0], &x)) {
        return false;
    }
    double fp = isinf(x) ? copysign(0.0, x) : modf(x, &ip);
    if (isinf(x)) {
        ip = x;
    }
    Value pair[2] = {FLOAT_VAL(fp), FLOAT_VAL(ip)};
    *result = OBJ_VAL(tuple_from(vm, pair, 2));
    return true;
}

static bool m_frexp(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    double x;
    if (!to_double(vm, args[0], &x)) {
        return false;
    }
    int e = 0;
    double m = isfinite(x) ? frexp(x, &e) : x;
    Value pair[2] = {FLOAT_VAL(m), INT_VAL(e)};
    *result = OBJ_VAL(tuple_from(vm, pair, 2));
    return true;
}

// ---- Float to int ----------------------------------------------------------------------------

static bool rounding(WkVM *vm, Value v, double (*fn)(double), const char *dunder, Value *result) {
    if (IS_INT(v) || IS_BOOL(v)) {
        *result = IS_INT(v) ? v : INT_VAL(AS_BOOL(v));
        return true;
    }
    if (IS_INSTANCE(v)) {
        Value *d = class_lookup_own(vm, AS_INSTANCE(v)->klass,
                                    str_intern(vm, dunder, strlen(dunder)));
        if (d != NULL) {
            return class_call_with_self(vm, *d, v, 0, NULL, NULL, result);
        }
    }
    double x;
    if (!to_double(vm, v, &x)) {
        return false;
    }
    int64_t i;
    if (!num_float_to_int(vm, fn(x), &i)) {
        return false;
    }
    *result = INT_VAL(i);
    return true;
}

static bool m_floor(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return rounding(vm, args[0], floor, "__floor__", result);
}

static bool m_ceil(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return rounding(vm, args[0], ceil, "__ceil__", result);
}

static bool m_trunc(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    return rounding(vm, args[0], trunc, "__trunc__", result);
}

// ---- Integer functions -----------------------------------------------------------------------

static bool m_factorial(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    int64_t n;
    if (!to_int(vm, args[0], &n)) {
        return false;
    }
    if (n < 0) {
        return exc_raise(vm, vm->cls.ValueError, "factorial() not defined for negative values");
    }
    if (n > 20) {
        return exc_raise(vm, vm->cls.OverflowError, "integer overflow");
    }
    int64_t r = 1;
    for (int64_t i = 2; i <= n; i++) {
        r *= i;
    }
    *result = INT_VAL(r);
    return true;
}

static uint64_t gcd_u(uint64_t a, uint64_t b) {
    while (b != 0) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

static uint64_t uabs(int64_t x) {
    return x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
}

static bool m_gcd(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    uint64_t g = 0;
    for (int i = 0; i < argc; i++) {
        int64_t x;
        if (!to_int(vm, args[i], &x)) {
            return false;
        }
        g = gcd_u(g, uabs(x));
    }
    if (g > (uint64_t)INT64_MAX) {
        return exc_raise(vm, vm->cls.OverflowError, "integer overflow");
    }
    *result = INT_VAL((int64_t)g);
    return true;
}

static bool m_lcm(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    int64_t l = 1;
    for (int i = 0; i < argc; i++) {
        int64_t x;
        if (!to_int(vm, args[i], &x)) {
            return false;
        }
        if (x == 0 || l == 0) {
            l = 0;
            continue;
        }
        uint64_t ax = uabs(x);
        uint64_t g = gcd_u((uint64_t)l, ax);
        int64_t r;
        if (ax / g > (uint64_t)INT64_MAX || __builtin_mul_overflow(l, (int64_t)(ax / g), &r)) {
            return exc_raise(vm, vm->cls.OverflowError, "integer overflow");
        }
        l = r;
    }
    *result = INT_VAL(l);
    return true;
}

static bool m_isqrt(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    int64_t n;
    if (!to_int(vm, args[0], &n)) {
        return false;
    }
    if (n < 0) {
        return exc_raise(vm, vm->cls.ValueError, "isqrt() argument must be nonnegative");
    }
    uint64_t r = (uint64_t)sqrt((double)n);
    while (r * r > (uint64_t)n) {
        r--;
    }
    while ((r + 1) * (r + 1) <= (uint64_t)n) {
        r++;
    }
    *result = INT_VAL((int64_t)r);
    return true;
}

// n! / (n-k)!, divided by k! when [choose]: exact with 128-bit intermediates.
static bool comb_perm(WkVM *vm, Value *args, int argc, bool choose, Value *result) {
    int64_t n, k;
    if (!to_int(vm, args[0], &n)) {
        return false;
    }
    if (argc < 2 || IS_NONE(args[1])) {
        k = n;
    } else if (!to_int(vm, args[1], &k)) {
        return false;
    }
    if (n < 0 || k < 0) {
        return exc_raise(vm, vm->cls.ValueError, "%s must be a non-negative integer",
                         n < 0 ? "n" : "k");
    }
    if (k > n) {
        *result = INT_VAL(0);
        return true;
    }
    if (choose && k > n - k) {
        k = n - k;
    }
    unsigned __int128 r = 1;
    for (int64_t i = 1; i <= k; i++) {
        r *= (unsigned __int128)(n - k + i);
        if (choose) {
            r /= (unsigned __int128)i;
        }
        if (r > (unsigned __int128)INT64_MAX) {
            return exc_raise(vm, vm->cls.OverflowError, "integer overflow");
        }
    }
    *result = INT_VAL((int64_t)r);
    return true;
}

static bool m_comb(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    return comb_perm(vm, args, argc, true, result);
}

static bool m_perm(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(kwargs);
    return comb_perm(vm, args, argc, false, result);
}

// ---- Predicates ------------------------------------------------------------------------------

#define MATHPRED(name, expr)                                                                   \
    static bool m_##name(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {    \
        UNUSED(argc);                                                                          \
        UNUSED(kwargs);                                                                        \
        double x;                                                                              \
        if (!to_double(vm, args[0], &x)) {                                                     \
            return false;                                                                      \
        }                                                                                      \
        *result = BOOL_VAL(expr);                                                              \
        return true;                                                                           \
    }

MATHPRED(isnan, isnan(x))
MATHPRED(isinf, isinf(x))
MATHPRED(isfinite, isfinite(x))

// ---- Over iterables --------------------------------------------------------------------------

static bool m_prod(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    Value *st = dict_get_cstr(kwargs, "start");
    return ops_fold(vm, args[0], OPCODE_MUL, st != NULL ? *st : INT_VAL(1), result);
}

// Shewchuk's exactly rounded sum, as CPython's math.fsum.
static bool m_fsum(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    Value it;
    if (!ops_iter(vm, args[0], &it)) {
        return false;
    }
    gc_push_root(vm, it);
    double partials[64];
    int n = 0;
    double special = 0.0;
    bool ok = true, has_special = false;
    for (;;) {
        Value v;
        bool done;
        double x;
        if (!(ok = ops_next(vm, it, &v, &done)) || done) {
            break;
        }
        if (!(ok = to_double(vm, v, &x))) {
            break;
        }
        if (!isfinite(x)) {
            has_special = true;
            special += x;
            continue;
        }
        int i = 0;
        for (int j = 0; j < n; j++) {
            double y = partials[j];
            if (fabs(x) < fabs(y)) {
                double t = x;
                x = y;
                y = t;
            }
            double hi = x + y;
            double lo = y - (hi - x);
            if (lo != 0.0) {
                partials[i++] = lo;
            }
            x = hi;
        }
        n = i;
        if (n < 64) {
            partials[n++] = x;
        }
    }
    gc_pop_root(vm);
    if (!ok) {
        return false;
    }
    if (has_special) {
        if (isnan(special)) {
            return exc_raise(vm, vm->cls.ValueError, "-inf + inf in fsum");
        }
        *result = FLOAT_VAL(special);
        return true;
    }
    double hi = 0.0;
    if (n > 0) {
        hi = partials[--n];
        double lo = 0.0;
        while (n > 0) {
            double x = hi, y = partials[--n];
            hi = x + y;
            double yr = hi - x;
            lo = y - yr;
            if (lo != 0.0) {
                break;
            }
        }
        if (n > 0 && ((lo < 0.0 && partials[n - 1] < 0.0) || (lo > 0.0 && partials[n - 1] > 0.0))) {
            double y = lo * 2.0;
            double x = hi + y;
            double yr = x - hi;
            if (y == yr) {
                hi = x;
            }
        }
    }
    *result = FLOAT_VAL(hi);
    return true;
}

static bool m_dist(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result) {
    UNUSED(argc);
    UNUSED(kwargs);
    if (!IS_TUPLE(args[0]) && !IS_LIST(args[0])) {
        return exc_raise(vm, vm->cls.TypeError, "dist(): argument 1 must be tuple");
    }
    ObjList *p, *q;
    if (!list_from_iterable(vm, args[0], &p)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(p));
    bool ok = list_from_iterable(vm, args[1], &q);
    gc_pop_root(vm);
    if (!ok) {
        return false;
    }
    if (p->count != q->count) {
        return exc_raise(vm, vm->cls.ValueError, "both points must have the same number of dimensions");
    }
    double acc = 0.0;
    for (uint32_t i = 0; i < p->count; i++) {
        double a, b;
        if (!to_double(vm, p->items[i], &a) || !to_double(vm, q->items[i], &b)) {
            return false;
        }
        acc = hypot(acc, a - b);
    }
    *result = FLOAT_VAL(acc);
    return true;
}

// ---- The module ------------------------------------------------------------------------------

bool mod_math_load(WkVM *vm, Value *out) {
    static const struct {
        const char *name;
        NativeFn fn;
        int min, max;
        bool kw;
    } fns[] = {
        {"sqrt", m_sqrt, 1, 1, false},         {"exp", m_exp, 1, 1, false},
        {"expm1", m_expm1, 1, 1, false},       {"log", m_log, 1, 2, false},
        {"log2", m_log2, 1, 1, false},         {"log10", m_log10, 1, 1, false},
        {"log1p", m_log1p, 1, 1, false},       {"pow", m_pow, 2, 2, false},
        {"sin", m_sin, 1, 1, false},           {"cos", m_cos, 1, 1, false},
        {"tan", m_tan, 1, 1, false},           {"asin", m_asin, 1, 1, false},
        {"acos", m_acos, 1, 1, false},         {"atan", m_atan, 1, 1, false},
        {"atan2", m_atan2, 2, 2, false},       {"sinh", m_sinh, 1, 1, false},
        {"cosh", m_cosh, 1, 1, false},         {"tanh", m_tanh, 1, 1, false},
        {"asinh", m_asinh, 1, 1, false},       {"acosh", m_acosh, 1, 1, false},
        {"atanh", m_atanh, 1, 1, false},       {"hypot", m_hypot, 0, -1, false},
        {"fabs", m_fabs, 1, 1, false},         {"floor", m_floor, 1, 1, false},
        {"ceil", m_ceil, 1, 1, false},         {"trunc", m_trunc, 1, 1, false},
        {"factorial", m_factorial, 1, 1, false}, {"gcd", m_gcd, 0, -1, false},
        {"lcm", m_lcm, 0, -1, false},          {"isqrt", m_isqrt, 1, 1, false},
        {"comb", m_comb, 2, 2, false},         {"perm", m_perm, 1, 2, false},
        {"isnan", m_isnan, 1, 1, false},       {"isinf", m_isinf, 1, 1, false},
        {"isfinite", m_isfinite, 1, 1, false}, {"isclose", m_isclose, 2, 2, true},
        {"copysign", m_copysign, 2, 2, false}, {"fmod", m_fmod, 2, 2, false},
        {"degrees", m_degrees, 1, 1, false},   {"radians", m_radians, 1, 1, false},
        {"modf", m_modf, 1, 1, false},         {"frexp", m_frexp, 1, 1, false},
        {"ldexp", m_ldexp, 2, 2, false},       {"erf", m_erf, 1, 1, false},
        {"erfc", m_erfc, 1, 1, false},         {"gamma", m_gamma, 1, 1, false},
        {"lgamma", m_lgamma, 1, 1, false},     {"prod", m_prod, 1, 1, true},
        {"fsum", m_fsum, 1, 1, false},         {"dist", m_dist, 2, 2, false},
    };
    ObjModule *m = stdlib_module_new(vm, "math");
    gc_push_root(vm, OBJ_VAL(m));
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        stdlib_add_native(vm, m, fns[i].name, fns[i].fn, fns[i].min, fns[i].max, fns[i].kw);
    }
    stdlib_add_value(vm, m, "pi", FLOAT_VAL(M_PI));
    stdlib_add_value(vm, m, "e", FLOAT_VAL(M_E));
    stdlib_add_value(vm, m, "tau", FLOAT_VAL(2 * M_PI));
    stdlib_add_value(vm, m, "inf", FLOAT_VAL(INFINITY));
    stdlib_add_value(vm, m, "nan", FLOAT_VAL(NAN));
    gc_pop_root(vm);
    *out = OBJ_VAL(m);
    return true;
}
