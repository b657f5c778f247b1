// Numbers: 64-bit int and double arithmetic with CPython's results and messages (floor
// division and modulo signs, overflow as OverflowError), float repr (shortest round trip),
// int()/float() parsing, the format-spec mini-language, the numeric hash, round(), and the
// int/float types' methods. The pure helpers take no VM so unit tests can call them.
#include "vm/num.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "vm/class.h"
#include "vm/list.h"
#include "vm/exc.h"
#include "vm/str.h"

#define HASH_BITS 61
#define HASH_MODULUS (((uint64_t)1 << HASH_BITS) - 1)
#define HASH_INF 314159

// ---- Integer arithmetic ----------------------------------------------------------------------

static bool overflow(WkVM *vm) {
    return exc_raise(vm, vm->cls.OverflowError, "integer overflow");
}

bool num_int_add(WkVM *vm, int64_t a, int64_t b, int64_t *out) {
    return !__builtin_add_overflow(a, b, out) || overflow(vm);
}

bool num_int_sub(WkVM *vm, int64_t a, int64_t b, int64_t *out) {
    return !__builtin_sub_overflow(a, b, out) || overflow(vm);
}

bool num_int_mul(WkVM *vm, int64_t a, int64_t b, int64_t *out) {
    return !__builtin_mul_overflow(a, b, out) || overflow(vm);
}

bool num_int_floordiv(WkVM *vm, int64_t a, int64_t b, int64_t *out) {
    if (b == 0) {
        return exc_raise(vm, vm->cls.ZeroDivisionError, "integer division or modulo by zero");
    }
    if (a == INT64_MIN && b == -1) {
        return overflow(vm);
    }
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) {
        q--;
    }
    *out = q;
    return true;
}

bool num_int_mod(WkVM *vm, int64_t a, int64_t b, int64_t *out) {
    if (b == 0) {
        return exc_raise(vm, vm->cls.ZeroDivisionError, "integer modulo by zero");
    }
    if (b == -1) {
        *out = 0;
        return true;
    }
    int64_t r = a % b;
    if (r != 0 && ((r < 0) != (b < 0))) {
        r += b;
    }
    *out = r;
    return true;
}

bool num_int_divmod(WkVM *vm, int64_t a, int64_t b, int64_t *q, int64_t *r) {
    if (b == 0) {
        return exc_raise(vm, vm->cls.ZeroDivisionError, "integer division or modulo by zero");
    }
    return num_int_floordiv(vm, a, b, q) && num_int_mod(vm, a, b, r);
}

bool num_int_pow(WkVM *vm, int64_t a, int64_t b, Value *out) {
    if (b < 0) {
        if (a == 0) {
            return exc_raise(vm, vm->cls.ZeroDivisionError,
                             "0.0 cannot be raised to a negative power");
        }
        *out = FLOAT_VAL(pow((double)a, (double)b));
        return true;
    }
    int64_t result = 1, base = a;
    while (b > 0) {
        if (b & 1) {
            if (__builtin_mul_overflow(result, base, &result)) {
                return overflow(vm);
            }
        }
        b >>= 1;
        if (b > 0 && __builtin_mul_overflow(base, base, &base)) {
            // Only an error if a later bit needs it: base**2 overflowing with b > 0 does.
            return overflow(vm);
        }
    }
    *out = INT_VAL(result);
    return true;
}

bool num_int_lshift(WkVM *vm, int64_t a, int64_t b, int64_t *out) {
    if (b < 0) {
        return exc_raise(vm, vm->cls.ValueError, "negative shift count");
    }
    if (a == 0) {
        *out = 0;
        return true;
    }
    if (b >= 63) {
        return overflow(vm);
    }
    int64_t r = (int64_t)((uint64_t)a << b);
    if ((r >> b) != a) {
        return overflow(vm);
    }
    *out = r;
    return true;
}

bool num_int_rshift(WkVM *vm, int64_t a, int64_t b, int64_t *out) {
    if (b < 0) {
        return exc_raise(vm, vm->cls.ValueError, "negative shift count");
    }
    *out = b >= 63 ? (a < 0 ? -1 : 0) : a >> b;
    return true;
}

// ---- Float arithmetic ------------------------------------------------------------------------

bool num_truediv(WkVM *vm, double a, double b, bool ints, double *out) {
    if (b == 0.0) {
        return exc_raise(vm, vm->cls.ZeroDivisionError,
                         ints ? "division by zero" : "float division by zero");
    }
    *out = a / b;
    return true;
}

// CPython's float_divmod core, for b != 0.
static void float_divmod(double vx, double wx, double *floordiv, double *mod) {
    double m = fmod(vx, wx);
    double div = (vx - m) / wx;
    if (m) {
        if ((wx < 0) != (m < 0)) {
            m += wx;
            div -= 1.0;
        }
    } else {
        m = copysign(0.0, wx);
    }
    if (div) {
        double f = floor(div);
        if (div - f > 0.5) {
            f += 1.0;
        }
        div = f;
    } else {
        div = copysign(0.0, vx / wx);
    }
    *floordiv = div;
    *mod = m;
}

bool num_float_floordiv(WkVM *vm, double a, double b, double *out) {
    if (b == 0.0) {
        return exc_raise(vm, vm->cls.ZeroDivisionError, "float floor division by zero");
    }
    double m;
    float_divmod(a, b, out, &m);
    return true;
}

bool num_float_mod(WkVM *vm, double a, double b, double *out) {
    if (b == 0.0) {
        return exc_raise(vm, vm->cls.ZeroDivisionError, "float modulo");
    }
    double q;
    float_divmod(a, b, &q, out);
    return true;
}

bool num_float_divmod(WkVM *vm, double a, double b, double *q, double *r) {
    if (b == 0.0) {
        return exc_raise(vm, vm->cls.ZeroDivisionError, "float divmod()");
    }
    float_divmod(a, b, q, r);
    return true;
}

bool num_float_pow(WkVM *vm, double a, double b, double *out) {
    if (a == 0.0 && b < 0.0 && isfinite(b)) {
        return exc_raise(vm, vm->cls.ZeroDivisionError,
                         "0.0 cannot be raised to a negative power");
    }
    if (a < 0.0 && isfinite(a) && isfinite(b) && b != floor(b)) {
        return exc_raise(vm, vm->cls.ValueError,
                         "negative number cannot be raised to a fractional power");
    }
    double r = pow(a, b);
    if (isinf(r) && isfinite(a) && isfinite(b)) {
        return exc_raise(vm, vm->cls.OverflowError, "(34, 'Numerical result out of range')");
    }
    *out = r;
    return true;
}

bool num_float_to_int(WkVM *vm, double d, int64_t *out) {
    if (isnan(d)) {
        return exc_raise(vm, vm->cls.ValueError, "cannot convert float NaN to integer");
    }
    if (isinf(d)) {
        return exc_raise(vm, vm->cls.OverflowError, "cannot convert float infinity to integer");
    }
    double t = trunc(d);
    if (t < -9223372036854775808.0 || t >= 9223372036854775808.0) {
        return overflow(vm);
    }
    *out = (int64_t)t;
    return true;
}

// ---- round() ---------------------------------------------------------------------------------

bool num_round_float_int(WkVM *vm, double d, int64_t *out) {
    double r = round(d);
    if (fabs(d - trunc(d)) == 0.5) {
        r = 2.0 * round(d / 2.0); // half to even
    }
    return num_float_to_int(vm, r, out);
}

// CPython's double_round: correctly rounded through a decimal string, half to even.
double num_round_float(double d, int64_t ndigits) {
    if (!isfinite(d) || d == 0.0) {
        return d;
    }
    if (ndigits > 323) {
        return d;
    }
    if (ndigits < -308) {
        return 0.0 * d;
    }
    if (ndigits >= 0) {
        char buf[400];
        snprintf(buf, sizeof buf, "%.*f", (int)ndigits, d);
        return strtod(buf, NULL);
    }
    double pow10 = pow(10.0, (double)-ndigits);
    double y = d / pow10;
    double z = round(y);
    if (fabs(y - z) == 0.5) {
        z = 2.0 * round(y / 2.0);
    }
    z *= pow10;
    if (!isfinite(z)) {
        return d;
    }
    return z;
}

bool num_round_int(WkVM *vm, int64_t i, int64_t ndigits, int64_t *out) {
    if (ndigits >= 0) {
        *out = i;
        return true;
    }
    if (ndigits < -18) {
        *out = 0;
        return true;
    }
    int64_t p = 1;
    for (int64_t k = 0; k < -ndigits; k++) {
        p *= 10;
    }
    int64_t q, r;
    if (!num_int_divmod(vm, i, p, &q, &r)) {
        return false;
    }
    // r in [0, p): round half to even
    if (r * 2 > p || (r * 2 == p && (q & 1))) {
        q++;
    }
    return num_int_mul(vm, q, p, out);
}

// ---- Hashing ---------------------------------------------------------------------------------

uint64_t num_hash_int(int64_t i) {
    uint64_t mag = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    uint64_t h = mag % HASH_MODULUS;
    if (i < 0) {
        h = (uint64_t)0 - h;
    }
    if (h == UINT64_MAX) {
        h = (uint64_t)-2;
    }
    return h;
}

// CPython's _Py_HashDouble (NaN hashes to 0, as before 3.10: wk has no identity for floats).
uint64_t num_hash_float(double v) {
    if (!isfinite(v)) {
        return isinf(v) ? (v > 0 ? HASH_INF : (uint64_t)-HASH_INF) : 0;
    }
    int e;
    double m = frexp(v, &e);
    int sign = 1;
    if (m < 0) {
        sign = -1;
        m = -m;
    }
    uint64_t x = 0;
    while (m) {
        x = ((x << 28) & HASH_MODULUS) | x >> (HASH_BITS - 28);
        m *= 268435456.0;
        e -= 28;
        uint64_t y = (uint64_t)m;
        m -= (double)y;
        x += y;
        if (x >= HASH_MODULUS) {
            x -= HASH_MODULUS;
        }
    }
    e = e >= 0 ? e % HASH_BITS : HASH_BITS - 1 - ((-1 - e) % HASH_BITS);
    x = ((x << e) & HASH_MODULUS) | x >> (HASH_BITS - e);
    if (sign < 0) {
        x = (uint64_t)0 - x;
    }
    if (x == UINT64_MAX) {
        x = (uint64_t)-2;
    }
    return x;
}

// ---- Float formatting ------------------------------------------------------------------------

// Digits of |d| (finite, >= 0): the shortest round-trip ([ndigits] 0) or [ndigits]
// significant digits, trailing zeros stripped; *decpt as in dtoa (value = 0.DIGITS * 10^decpt).
static int float_digits(double d, int ndigits, char *digits, int *decpt) {
    char buf[64];
    if (d == 0.0) {
        strcpy(digits, "0");
        *decpt = 1;
        return 1;
    }
    if (ndigits <= 0) {
        for (int p = 1; p <= 17; p++) {
            snprintf(buf, sizeof buf, "%.*e", p - 1, d);
            if (strtod(buf, NULL) == d) {
                break;
            }
        }
    } else {
        snprintf(buf, sizeof buf, "%.*e", ndigits > 40 ? 40 : ndigits - 1, d);
    }
    int n = 0;
    char *p = buf;
    for (; *p && *p != 'e'; p++) {
        if (*p >= '0' && *p <= '9') {
            digits[n++] = *p;
        }
    }
    int exp = atoi(p + 1);
    while (n > 1 && digits[n - 1] == '0') {
        n--;
    }
    digits[n] = '\0';
    *decpt = exp + 1;
    return n;
}

// "%.*f" of a non-negative [d] without printf, when that is exact: if y = d * 10**precision
// (10**precision exact for precision <= 15, one rounding in the product) comes out an integer
// below 2**50, the true product lies within 1/16 of y, so y is the correctly rounded result.
// Returns false when the shortcut does not apply.
static bool fixed_exact(double d, int precision, char *out, size_t size) {
    static const double pow10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7,
                                   1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15};
    if (precision < 0 || precision > 15) {
        return false;
    }
    double y = d * pow10[precision];
    if (!(y < 1125899906842624.0) || y != floor(y)) { // 2**50
        return false;
    }
    char digits[24];
    int n = 0;
    uint64_t u = (uint64_t)y;
    do {
        digits[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    while (n <= precision) {
        digits[n++] = '0'; // at least one digit before the point
    }
    if ((size_t)n + 2 > size) {
        return false;
    }
    char *q = out;
    for (int i = n - 1; i >= 0; i--) {
        *q++ = digits[i];
        if (i == precision && precision > 0) {
            *q++ = '.';
        }
    }
    *q = '\0';
    return true;
}

// CPython's format_float_short, after the digits were produced.
void num_format_float(double d, char type, int precision, bool add_dot_0, bool alt, char *buf,
                      size_t size) {
    bool upper = type == 'E' || type == 'F' || type == 'G';
    char *p = buf;
    if (signbit(d) && !isnan(d)) {
        *p++ = '-';
        d = -d;
    }
    if (!isfinite(d)) {
        snprintf(p, size - (size_t)(p - buf), "%s", isnan(d) ? (upper ? "NAN" : "nan")
                                                              : (upper ? "INF" : "inf"));
        return;
    }
    char lower = (char)(type | 0x20);
    if (lower == 'f') {
        if (!(alt && precision == 0) && fixed_exact(d, precision, p, size - (size_t)(p - buf))) {
            return;
        }
        snprintf(p, size - (size_t)(p - buf), alt && precision == 0 ? "%#.*f" : "%.*f",
                 precision, d);
        return;
    }
    char digits[64];
    int decpt, n;
    if (lower == 'e') {
        precision++;
        n = float_digits(d, precision, digits, &decpt);
    } else if (lower == 'g') {
        if (precision == 0) {
            precision = 1;
        }
        n = float_digits(d, precision, digits, &decpt);
    } else {
        n = float_digits(d, 0, digits, &decpt);
    }
    bool use_exp = false;
    int vend = n;
    if (lower == 'e') {
        use_exp = true;
        vend = precision;
    } else if (lower == 'g') {
        if (decpt <= -4 || decpt > (add_dot_0 ? precision - 1 : precision)) {
            use_exp = true;
        }
        if (alt) {
            vend = precision;
        }
    } else if (decpt <= -4 || decpt > 16) {
        use_exp = true;
    }
    int exp = 0;
    if (use_exp) {
        exp = decpt - 1;
        decpt = 1;
    }
    int vstart = decpt <= 0 ? decpt - 1 : 0;
    if (!use_exp && add_dot_0) {
        vend = vend > decpt ? vend : decpt + 1;
    } else {
        vend = vend > decpt ? vend : decpt;
    }
    char *q = p;
    if (decpt <= 0) {
        for (int i = 0; i < decpt - vstart; i++) {
            *q++ = '0';
        }
        *q++ = '.';
        for (int i = 0; i < -decpt; i++) {
            *q++ = '0';
        }
    }
    if (0 < decpt && decpt <= n) {
        memcpy(q, digits, (size_t)decpt);
        q += decpt;
        *q++ = '.';
        memcpy(q, digits + decpt, (size_t)(n - decpt));
        q += n - decpt;
    } else {
        memcpy(q, digits, (size_t)n);
        q += n;
    }
    if (n < decpt) {
        for (int i = 0; i < decpt - n; i++) {
            *q++ = '0';
        }
        *q++ = '.';
        for (int i = 0; i < vend - decpt; i++) {
            *q++ = '0';
        }
    } else {
        for (int i = 0; i < vend - n; i++) {
            *q++ = '0';
        }
    }
    if (q[-1] == '.' && !alt) {
        q--;
    }
    if (use_exp) {
        q += sprintf(q, "%c%+.02d", upper ? 'E' : 'e', exp);
    }
    *q = '\0';
    (void)size;
}

void num_float_repr(double d, char *buf, size_t size) {
    num_format_float(d, 'r', 0, true, false, buf, size);
}

// Decimal digits by hand: int -> str is on every f-string's path, and printf's machinery
// costs several times more.
int num_int_repr(int64_t i, char *buf) {
    char tmp[24];
    int n = 0;
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    int len = 0;
    if (i < 0) {
        buf[len++] = '-';
    }
    while (n > 0) {
        buf[len++] = tmp[--n];
    }
    buf[len] = '\0';
    return len;
}

// ---- Parsing ---------------------------------------------------------------------------------

static bool is_space(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static int digit_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'Z') {
        return c - 'A' + 10;
    }
    return 99;
}

bool num_parse_int_bytes(const char *s, size_t size, int base, int64_t *out, bool *ovf) {
    *ovf = false;
    size_t i = 0, end = size;
    while (i < end && is_space(s[i])) {
        i++;
    }
    while (end > i && is_space(s[end - 1])) {
        end--;
    }
    bool neg = false;
    if (i < end && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    bool prefixed = false;
    if (end - i >= 2 && s[i] == '0') {
        char c = (char)(s[i + 1] | 0x20);
        int pb = c == 'x' ? 16 : c == 'o' ? 8 : c == 'b' ? 2 : 0;
        if (pb && (base == 0 || base == pb)) {
            base = pb;
            i += 2;
            prefixed = true;
        }
    }
    bool base0 = base == 0;
    if (base0) {
        base = 10;
    }
    if (i >= end) {
        return false;
    }
    uint64_t mag = 0;
    bool any = false, prev_us = prefixed, nonzero = false;
    for (; i < end; i++) {
        if (s[i] == '_') {
            if (prev_us && !(prefixed && !any)) {
                return false;
            }
            if (!any && !prefixed) {
                return false;
            }
            prev_us = true;
            continue;
        }
        int v = digit_value(s[i]);
        if (v >= base) {
            return false;
        }
        prev_us = false;
        any = true;
        nonzero = nonzero || v != 0;
        if (mag > (UINT64_MAX - (uint64_t)v) / (uint64_t)base) {
            *ovf = true;
            mag = UINT64_MAX;
        } else {
            mag = mag * (uint64_t)base + (uint64_t)v;
        }
    }
    if (!any || prev_us) {
        return false;
    }
    // Base 0 forbids leading zeros in non-zero decimals ("010").
    if (base0 && !prefixed && nonzero) {
        size_t j = 0;
        while (j < size && (is_space(s[j]) || s[j] == '+' || s[j] == '-')) {
            j++;
        }
        if (s[j] == '0') {
            return false;
        }
    }
    if (mag > (uint64_t)INT64_MAX + (neg ? 1 : 0)) {
        *ovf = true;
    }
    *out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return true;
}

bool num_parse_int(WkVM *vm, ObjStr *s, int base, int64_t *out) {
    if (base != 0 && (base < 2 || base > 36)) {
        return exc_raise(vm, vm->cls.ValueError, "int() base must be >= 2 and <= 36, or 0");
    }
    bool ovf;
    if (!num_parse_int_bytes(s->chars, s->size, base, out, &ovf) ||
        memchr(s->chars, '\0', s->size)) {
        StrBuf b;
        strbuf_init(&b);
        str_repr_to(&b, s->chars, s->size);
        bool r = exc_raise(vm, vm->cls.ValueError, "invalid literal for int() with base %d: %s",
                           base, b.chars);
        strbuf_free(&b);
        return r;
    }
    if (ovf) {
        return exc_raise(vm, vm->cls.OverflowError, "int too large to convert");
    }
    return true;
}

bool num_parse_float_bytes(const char *s, size_t size, double *out) {
    size_t i = 0, end = size;
    while (i < end && is_space(s[i])) {
        i++;
    }
    while (end > i && is_space(s[end - 1])) {
        end--;
    }
    if (i >= end || end - i > 1000) {
        return false;
    }
    char buf[1024];
    size_t n = 0;
    size_t start = i;
    if (s[i] == '+' || s[i] == '-') {
        buf[n++] = s[i++];
    }
    // inf, infinity, nan (any case)
    size_t rest = end - i;
    if ((rest == 3 || rest == 8) && (s[i] | 0x20) == 'i') {
        if (strncasecmp(s + i, "infinity", rest) == 0 && (rest == 8 || rest == 3)) {
            *out = s[start] == '-' ? -INFINITY : INFINITY;
            return true;
        }
        return false;
    }
    if (rest == 3 && strncasecmp(s + i, "nan", 3) == 0) {
        *out = s[start] == '-' ? -NAN : NAN;
        return true;
    }
    bool prev_digit = false, any = false;
    for (; i < end; i++) {
        char c = s[i];
        if (c == '_') {
            if (!prev_digit || i + 1 >= end || !(s[i + 1] >= '0' && s[i + 1] <= '9')) {
                return false;
            }
            continue;
        }
        if (c >= '0' && c <= '9') {
            prev_digit = any = true;
        } else if (c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
            prev_digit = false;
        } else {
            return false;
        }
        buf[n++] = c;
    }
    buf[n] = '\0';
    if (!any) {
        return false;
    }
    char *stop;
    *out = strtod(buf, &stop);
    return *stop == '\0';
}

bool num_parse_float(WkVM *vm, ObjStr *s, double *out) {
    if (!num_parse_float_bytes(s->chars, s->size, out) || memchr(s->chars, '\0', s->size)) {
        StrBuf b;
        strbuf_init(&b);
        str_repr_to(&b, s->chars, s->size);
        bool r = exc_raise(vm, vm->cls.ValueError, "could not convert string to float: %s",
                           b.chars);
        strbuf_free(&b);
        return r;
    }
    return true;
}

// ---- Format specs ----------------------------------------------------------------------------

static bool is_align(char c) {
    return c == '<' || c == '>' || c == '^' || c == '=';
}

bool num_parse_spec(const char *spec, size_t size, NumSpec *out) {
    memset(out, 0, sizeof *out);
    strcpy(out->fill, " ");
    out->width = -1;
    out->precision = -1;
    size_t i = 0;
    int len = 0;
    if (size > 0) {
        str_decode_utf8(spec, &len);
    }
    if (size > (size_t)len && len > 0 && is_align(spec[len])) {
        memcpy(out->fill, spec, (size_t)len);
        out->fill[len] = '\0';
        out->align = spec[len];
        i = (size_t)len + 1;
    } else if (size > 0 && is_align(spec[0])) {
        out->align = spec[0];
        i = 1;
    }
    if (i < size && (spec[i] == '+' || spec[i] == '-' || spec[i] == ' ')) {
        out->sign = spec[i++];
    }
    if (i < size && spec[i] == 'z') {
        out->no_neg_zero = true;
        i++;
    }
    if (i < size && spec[i] == '#') {
        out->alt = true;
        i++;
    }
    if (i < size && spec[i] == '0') {
        out->zero = true;
        i++;
    }
    if (i < size && spec[i] >= '0' && spec[i] <= '9') {
        out->width = 0;
        while (i < size && spec[i] >= '0' && spec[i] <= '9') {
            out->width = out->width * 10 + (spec[i++] - '0');
            if (out->width > 100000000) {
                return false;
            }
        }
    }
    if (i < size && (spec[i] == ',' || spec[i] == '_')) {
        out->grouping = spec[i++];
    }
    if (i < size && spec[i] == '.') {
        i++;
        if (i >= size || !(spec[i] >= '0' && spec[i] <= '9')) {
            return false;
        }
        out->precision = 0;
        while (i < size && spec[i] >= '0' && spec[i] <= '9') {
            out->precision = out->precision * 10 + (spec[i++] - '0');
            if (out->precision > 100000000) {
                return false;
            }
        }
    }
    if (i < size) {
        out->type = spec[i++];
    }
    return i == size;
}

// Insert [sep] every [every] digits into the digit run [digits] (no sign), padding with
// leading zeros up to [min_width] characters when [min_width] > 0.
static void group_digits(StrBuf *b, const char *digits, size_t n, char sep, int every,
                         int64_t min_width) {
    // Count leading zeros needed so that the grouped text reaches min_width.
    size_t total = n;
    for (;;) {
        size_t grouped = sep ? total + (total - 1) / (size_t)every : total;
        if ((int64_t)grouped >= min_width) {
            break;
        }
        total++;
    }
    size_t zeros = total - n;
    for (size_t k = 0; k < total; k++) {
        char c = k < zeros ? '0' : digits[k - zeros];
        if (sep && k > 0 && (total - k) % (size_t)every == 0) {
            strbuf_addc(b, sep);
        }
        strbuf_addc(b, c);
    }
}

// Pad [body] (already signed/prefixed: [prefix_len] bytes of sign and prefix) to the spec's
// width with its fill and alignment; [cps] is the body's length in code points.
static void pad_body(StrBuf *out, const NumSpec *sp, const char *body, size_t size, size_t cps,
                     size_t prefix_len, char default_align) {
    char align = sp->align ? sp->align : default_align;
    int64_t pad = sp->width > (int64_t)cps ? sp->width - (int64_t)cps : 0;
    int64_t left = align == '>' ? pad : align == '^' ? pad / 2 : 0;
    size_t fl = strlen(sp->fill);
    if (align == '=') {
        strbuf_add(out, body, prefix_len);
        for (int64_t k = 0; k < pad; k++) {
            strbuf_add(out, sp->fill, fl);
        }
        strbuf_add(out, body + prefix_len, size - prefix_len);
        return;
    }
    for (int64_t k = 0; k < left; k++) {
        strbuf_add(out, sp->fill, fl);
    }
    strbuf_add(out, body, size);
    for (int64_t k = left; k < pad; k++) {
        strbuf_add(out, sp->fill, fl);
    }
}

static bool spec_error(WkVM *vm, ObjStr *spec, const char *tname) {
    return exc_raise(vm, vm->cls.ValueError, "Invalid format specifier '%s' for object of type '%s'",
                     spec->chars, tname);
}

static bool unknown_code(WkVM *vm, char type, const char *tname) {
    return exc_raise(vm, vm->cls.ValueError, "Unknown format code '%c' for object of type '%s'",
                     type, tname);
}

static bool format_str(WkVM *vm, ObjStr *s, const NumSpec *sp, ObjStr **out) {
    if (sp->type && sp->type != 's') {
        return unknown_code(vm, sp->type, "str");
    }
    if (sp->sign) {
        return exc_raise(vm, vm->cls.ValueError, "Sign not allowed in string format specifier");
    }
    if (sp->align == '=') {
        return exc_raise(vm, vm->cls.ValueError,
                         "'=' alignment not allowed in string format specifier");
    }
    if (sp->alt) {
        return exc_raise(vm, vm->cls.ValueError,
                         "Alternate form (#) not allowed in string format specifier");
    }
    if (sp->grouping) {
        return exc_raise(vm, vm->cls.ValueError, "Cannot specify '%c' with 's'.", sp->grouping);
    }
    size_t cps = s->length, bytes = s->size;
    if (sp->precision >= 0 && sp->precision < (int64_t)cps) {
        cps = (size_t)sp->precision;
        bytes = str_byte_offset(s, sp->precision);
    }
    StrBuf b;
    strbuf_init(&b);
    pad_body(&b, sp, s->chars, bytes, cps, 0, '<');
    *out = strbuf_finish(vm, &b);
    return true;
}

// Sign text for a number that is negative or not.
static void add_sign(StrBuf *b, bool neg, char sign) {
    if (neg) {
        strbuf_addc(b, '-');
    } else if (sign == '+') {
        strbuf_addc(b, '+');
    } else if (sign == ' ') {
        strbuf_addc(b, ' ');
    }
}

// Zero-fill ('0' flag) turns into fill '0' with '=' alignment when no alignment was given.
static void apply_zero(NumSpec *sp) {
    if (sp->zero && !sp->align) {
        strcpy(sp->fill, "0");
        sp->align = '=';
    }
}

static bool format_int(WkVM *vm, int64_t v, NumSpec *sp, ObjStr *spec, ObjStr **out) {
    char type = sp->type ? sp->type : 'd';
    if (strchr("eEfFgG%", type)) {
        return false; // handled by the caller as a float
    }
    if (!strchr("dbxXocn", type)) {
        return unknown_code(vm, type, "int");
    }
    if (sp->precision >= 0) {
        return exc_raise(vm, vm->cls.ValueError,
                         "Precision not allowed in integer format specifier");
    }
    if (sp->no_neg_zero) {
        return exc_raise(vm, vm->cls.ValueError,
                         "Negative zero coercion (z) not allowed in integer format specifier");
    }
    if (sp->grouping && (type == 'c' || type == 'n' ||
                         (sp->grouping == ',' && strchr("bxXo", type)))) {
        return exc_raise(vm, vm->cls.ValueError, "Cannot specify '%c' with '%c'.",
                         sp->grouping, type);
    }
    if (type == 'c') {
        if (sp->sign) {
            return exc_raise(vm, vm->cls.ValueError,
                             "Sign not allowed with integer format specifier 'c'");
        }
        if (v < 0 || v > 0x10ffff) {
            return exc_raise(vm, vm->cls.OverflowError, "%%c arg not in range(0x110000)");
        }
        char tmp[4];
        int n = str_encode_utf8((uint32_t)v, tmp);
        StrBuf b;
        strbuf_init(&b);
        NumSpec cs = *sp;
        pad_body(&b, &cs, tmp, (size_t)n, 1, 0, '<');
        *out = strbuf_finish(vm, &b);
        return true;
    }
    (void)spec;
    bool neg = v < 0;
    uint64_t mag = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int base = type == 'b' ? 2 : type == 'o' ? 8 : (type == 'x' || type == 'X') ? 16 : 10;
    char digits[80];
    int n = 0;
    const char *set = type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    do {
        digits[n++] = set[mag % (uint64_t)base];
        mag /= (uint64_t)base;
    } while (mag);
    for (int i = 0; i < n / 2; i++) {
        char t = digits[i];
        digits[i] = digits[n - 1 - i];
        digits[n - 1 - i] = t;
    }
    apply_zero(sp);
    StrBuf body;
    strbuf_init(&body);
    add_sign(&body, neg, sp->sign);
    if (sp->alt && base != 10) {
        strbuf_addc(&body, '0');
        strbuf_addc(&body, type == 'X' ? 'X' : type == 'x' ? 'x' : type == 'o' ? 'o' : 'b');
    }
    size_t prefix = body.size;
    int64_t min_width = 0;
    if (sp->align == '=' && sp->fill[0] == '0' && sp->fill[1] == '\0') {
        min_width = sp->width - (int64_t)prefix;
    }
    group_digits(&body, digits, (size_t)n, sp->grouping, base == 10 ? 3 : 4, min_width);
    StrBuf b;
    strbuf_init(&b);
    pad_body(&b, sp, body.chars, body.size, body.size, prefix, '>');
    strbuf_free(&body);
    *out = strbuf_finish(vm, &b);
    return true;
}

static bool format_double(WkVM *vm, double d, NumSpec *sp, bool from_int, ObjStr **out) {
    char type = sp->type;
    if (type && !strchr("eEfFgGn%", type)) {
        return unknown_code(vm, type, from_int ? "int" : "float");
    }
    if (sp->grouping && type == 'n') {
        return exc_raise(vm, vm->cls.ValueError, "Cannot specify '%c' with 'n'.", sp->grouping);
    }
    int precision = sp->precision >= 0 ? (int)sp->precision : 6;
    bool add_dot_0 = false;
    char code = type;
    if (type == 0) {
        if (from_int && sp->precision < 0) {
            code = 'd';
        } else if (sp->precision < 0) {
            code = 'r';
            add_dot_0 = true;
        } else {
            code = 'g';
            add_dot_0 = true;
        }
    } else if (type == 'n') {
        code = 'g';
    } else if (type == '%') {
        code = 'f';
        d *= 100.0;
    }
    if (sp->no_neg_zero && d == 0.0) {
        d = 0.0;
    }
    char buf[512];
    if (precision > 400) {
        precision = 400;
    }
    num_format_float(d, code, precision, add_dot_0, sp->alt, buf, sizeof buf - 2);
    if (sp->no_neg_zero && buf[0] == '-') {
        double back = strtod(buf, NULL);
        if (back == 0.0) {
            memmove(buf, buf + 1, strlen(buf));
        }
    }
    if (type == '%') {
        strcat(buf, "%");
    }
    bool neg = buf[0] == '-';
    const char *num = neg ? buf + 1 : buf;
    apply_zero(sp);
    StrBuf body;
    strbuf_init(&body);
    add_sign(&body, neg, sp->sign);
    size_t prefix = body.size;
    // Integer part digits get grouping and zero padding; the rest is copied.
    size_t int_len = 0;
    while (num[int_len] >= '0' && num[int_len] <= '9') {
        int_len++;
    }
    int64_t min_width = 0;
    if (sp->align == '=' && sp->fill[0] == '0' && sp->fill[1] == '\0') {
        min_width = sp->width - (int64_t)prefix - (int64_t)strlen(num + int_len);
    }
    if (int_len > 0 && isfinite(d)) {
        group_digits(&body, num, int_len, sp->grouping, 3, min_width);
        strbuf_add(&body, num + int_len, strlen(num + int_len));
    } else {
        strbuf_add(&body, num, strlen(num));
    }
    StrBuf b;
    strbuf_init(&b);
    pad_body(&b, sp, body.chars, body.size, body.size, prefix, '>');
    strbuf_free(&body);
    *out = strbuf_finish(vm, &b);
    return true;
}

bool num_format(WkVM *vm, Value v, ObjStr *spec, ObjStr **out) {
    const char *tname = IS_BOOL(v) ? "bool" : IS_INT(v) ? "int" : IS_FLOAT(v) ? "float" : "str";
    if (!spec || spec->size == 0) {
        if (IS_STR(v)) {
            *out = AS_STR(v);
            return true;
        }
        if (IS_BOOL(v)) {
            *out = str_from_cstr(vm, AS_BOOL(v) ? "True" : "False");
            return true;
        }
        char buf[64];
        if (IS_INT(v)) {
            num_int_repr(AS_INT(v), buf);
        } else {
            num_float_repr(AS_FLOAT(v), buf, sizeof buf);
        }
        *out = str_from_cstr(vm, buf);
        return true;
    }
    NumSpec sp;
    if (!num_parse_spec(spec->chars, spec->size, &sp)) {
        return spec_error(vm, spec, tname);
    }
    if (IS_STR(v)) {
        return format_str(vm, AS_STR(v), &sp, out);
    }
    if (IS_INT(v) || IS_BOOL(v)) {
        int64_t i = IS_INT(v) ? AS_INT(v) : AS_BOOL(v);
        if (sp.type && strchr("eEfFgG%", sp.type)) {
            return format_double(vm, (double)i, &sp, true, out);
        }
        return format_int(vm, i, &sp, spec, out);
    }
    if (IS_FLOAT(v)) {
        return format_double(vm, AS_FLOAT(v), &sp, false, out);
    }
    return exc_raise(vm, vm->cls.TypeError, "unsupported format string passed to %s.__format__",
                     tname);
}

// ---- int/float methods -----------------------------------------------------------------------

static bool int_self(WkVM *vm, Value v, const char *name, int64_t *out) {
    if (IS_INT(v)) {
        *out = AS_INT(v);
        return true;
    }
    if (IS_BOOL(v)) {
        *out = AS_BOOL(v);
        return true;
    }
    return exc_raise(vm, vm->cls.TypeError,
                     "descriptor '%s' for 'int' objects doesn't apply to a '%s' object", name,
                     class_of(vm, v)->name->chars);
}

static bool i_bit_length(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    int64_t i = 0;
    if (!int_self(vm, args[0], "bit_length", &i)) {
        return false;
    }
    uint64_t mag = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    *result = INT_VAL(mag ? 64 - __builtin_clzll(mag) : 0);
    return true;
}

static bool i_bit_count(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    int64_t i = 0;
    if (!int_self(vm, args[0], "bit_count", &i)) {
        return false;
    }
    uint64_t mag = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    *result = INT_VAL(__builtin_popcountll(mag));
    return true;
}

static bool i_conjugate(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    int64_t i = 0;
    if (!int_self(vm, args[0], "conjugate", &i)) {
        return false;
    }
    *result = INT_VAL(i);
    return true;
}

static bool f_is_integer(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    if (!IS_FLOAT(args[0])) {
        return exc_raise(vm, vm->cls.TypeError,
                         "descriptor 'is_integer' for 'float' objects doesn't apply to a '%s' "
                         "object",
                         class_of(vm, args[0])->name->chars);
    }
    double d = AS_FLOAT(args[0]);
    *result = BOOL_VAL(isfinite(d) && d == floor(d));
    return true;
}

static bool f_as_integer_ratio(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result);

static bool f_conjugate(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    if (!IS_FLOAT(args[0])) {
        return exc_raise(vm, vm->cls.TypeError, "descriptor 'conjugate' requires a 'float'");
    }
    *result = args[0];
    return true;
}

void num_init_class(WkVM *vm) {
    class_add_native(vm, vm->cls.int_, "bit_length", i_bit_length, 1, 1, false);
    class_add_native(vm, vm->cls.int_, "bit_count", i_bit_count, 1, 1, false);
    class_add_native(vm, vm->cls.int_, "conjugate", i_conjugate, 1, 1, false);
    class_add_native(vm, vm->cls.float_, "is_integer", f_is_integer, 1, 1, false);
    class_add_native(vm, vm->cls.float_, "conjugate", f_conjugate, 1, 1, false);
    class_add_native(vm, vm->cls.float_, "as_integer_ratio", f_as_integer_ratio, 1, 1, false);
}

// float.as_integer_ratio() within 64 bits (OverflowError beyond).
static bool f_as_integer_ratio(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    if (!IS_FLOAT(args[0])) {
        return exc_raise(vm, vm->cls.TypeError, "descriptor 'as_integer_ratio' requires a 'float'");
    }
    double d = AS_FLOAT(args[0]);
    if (isinf(d)) {
        return exc_raise(vm, vm->cls.OverflowError, "cannot convert Infinity to integer ratio");
    }
    if (isnan(d)) {
        return exc_raise(vm, vm->cls.ValueError, "cannot convert NaN to integer ratio");
    }
    int e;
    double m = frexp(d, &e);
    for (int i = 0; i < 300 && m != floor(m); i++) {
        m *= 2.0;
        e--;
    }
    int64_t num, den = 1;
    if (!num_float_to_int(vm, m, &num)) {
        return false;
    }
    if (e > 0) {
        if (!num_int_lshift(vm, num, e, &num)) {
            return false;
        }
    } else if (e < 0) {
        if (-e >= 63) {
            return overflow(vm);
        }
        den = (int64_t)1 << -e;
    }
    while (den > 1 && (num & 1) == 0) {
        num /= 2;
        den /= 2;
    }
    ObjTuple *t = tuple_new(vm, 2);
    t->items[0] = INT_VAL(num);
    t->items[1] = INT_VAL(den);
    *result = OBJ_VAL(t);
    return true;
}
