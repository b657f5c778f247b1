// Numbers: int and float arithmetic helpers with CPython's semantics (floor division and
// modulo signs, overflow checks), repr of floats, int()/float() parsing, format specs, and
// the int/float/bool types' methods.
#ifndef WK_VM_NUM_H
#define WK_VM_NUM_H

#include "vm/config.h"
#include "vm/vm.h"

// Write the shortest repr of [d] that round-trips, as CPython does ("0.1", "1e+20", "inf").
void num_float_repr(double d, char *buf, size_t size);
// Floor division and modulo on ints (ZeroDivisionError, OverflowError on INT64_MIN // -1).
WK_NODISCARD bool num_int_floordiv(WkVM *vm, int64_t a, int64_t b, int64_t *out);
WK_NODISCARD bool num_int_mod(WkVM *vm, int64_t a, int64_t b, int64_t *out);
// a ** b for ints (negative b gives a float in *out).
WK_NODISCARD bool num_int_pow(WkVM *vm, int64_t a, int64_t b, Value *out);
// format(v, spec) for int, float, bool and str values.
WK_NODISCARD bool num_format(WkVM *vm, Value v, ObjStr *spec, ObjStr **out);
// int(s, base) and float(s) parsing with CPython's ValueError messages.
WK_NODISCARD bool num_parse_int(WkVM *vm, ObjStr *s, int base, int64_t *out);
WK_NODISCARD bool num_parse_float(WkVM *vm, ObjStr *s, double *out);
// CPython's numeric hash (hash(1) == hash(1.0) == hash(True)).
uint64_t num_hash_int(int64_t i);
uint64_t num_hash_float(double d);
// ---- More arithmetic helpers (for vm.c, ops.c, builtins) -------------------------------------

// a + b, a - b, a * b on ints: OverflowError "integer overflow" instead of wrapping.
WK_NODISCARD bool num_int_add(WkVM *vm, int64_t a, int64_t b, int64_t *out);
WK_NODISCARD bool num_int_sub(WkVM *vm, int64_t a, int64_t b, int64_t *out);
WK_NODISCARD bool num_int_mul(WkVM *vm, int64_t a, int64_t b, int64_t *out);
// a << b, a >> b: ValueError "negative shift count", OverflowError for a << b that overflows.
WK_NODISCARD bool num_int_lshift(WkVM *vm, int64_t a, int64_t b, int64_t *out);
WK_NODISCARD bool num_int_rshift(WkVM *vm, int64_t a, int64_t b, int64_t *out);
// a / b (true division of two ints or floats, as doubles): "division by zero" for ints
// ([ints] true), "float division by zero" otherwise.
WK_NODISCARD bool num_truediv(WkVM *vm, double a, double b, bool ints, double *out);
// Float floor division, modulo, divmod, power, with CPython's results and messages.
WK_NODISCARD bool num_float_floordiv(WkVM *vm, double a, double b, double *out);
WK_NODISCARD bool num_float_mod(WkVM *vm, double a, double b, double *out);
WK_NODISCARD bool num_float_divmod(WkVM *vm, double a, double b, double *q, double *r);
WK_NODISCARD bool num_float_pow(WkVM *vm, double a, double b, double *out);
// divmod(a, b) on ints.
WK_NODISCARD bool num_int_divmod(WkVM *vm, int64_t a, int64_t b, int64_t *q, int64_t *r);
// int(d): truncation; OverflowError "cannot convert float infinity to integer", ValueError
// "cannot convert float NaN to integer", OverflowError when out of 64-bit range.
WK_NODISCARD bool num_float_to_int(WkVM *vm, double d, int64_t *out);
// round(d) to an int (half to even), round(d, nd) to a float, round(i, nd) to an int.
WK_NODISCARD bool num_round_float_int(WkVM *vm, double d, int64_t *out);
double num_round_float(double d, int64_t ndigits);
WK_NODISCARD bool num_round_int(WkVM *vm, int64_t i, int64_t ndigits, int64_t *out);
// Write the decimal repr of [i] into [buf] (>= 24 bytes); returns the length. Pure.
int num_int_repr(int64_t i, char *buf);
// Parse [size] bytes of [s] as int(s, base) / float(s) without raising: false when invalid.
// Pure (tests use these). For ints, *overflow is set when the value needs more than 64 bits.
bool num_parse_int_bytes(const char *s, size_t size, int base, int64_t *out, bool *overflow);
bool num_parse_float_bytes(const char *s, size_t size, double *out);
// A parsed format spec ([[fill]align][sign][z][#][0][width][,|_][.precision][type]).
typedef struct {
    char fill[5];     // one UTF-8 character, NUL-terminated; " " by default
    char align;       // '<', '>', '^', '=', or 0 (default per type)
    char sign;        // '+', '-', ' ', or 0
    bool alt;         // '#'
    bool zero;        // '0' before width
    int64_t width;    // -1 when absent
    char grouping;    // ',', '_' or 0
    int64_t precision; // -1 when absent
    char type;        // 0 when absent
    bool no_neg_zero; // 'z'
} NumSpec;
// Parse [size] bytes of [spec] into [*out]; false when malformed. Pure.
bool num_parse_spec(const char *spec, size_t size, NumSpec *out);
// Format the float [d] as CPython's format_float_short does for [type] 'e', 'E', 'f', 'F',
// 'g', 'G', 'r' (repr) with [precision] digits; [add_dot_0] and [alt] as the '#' flag and the
// no-type form need. Writes the NUL-terminated text (no sign handling for -0.0 beyond '-')
// into [buf] of [size] bytes. Pure.
void num_format_float(double d, char type, int precision, bool add_dot_0, bool alt, char *buf,
                      size_t size);

void num_init_class(WkVM *vm);

#endif
