// Unit tests of strings and the pure text helpers beside them (suite `str`): hashing, UTF-8,
// repr quoting, StrBuf, interning, and the number formatting/parsing and slice arithmetic
// that str, list and the f-string code rely on.
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "vm/iter.h"
#include "vm/num.h"
#include "vm/str.h"
#include "vm/vm.h"

static char *repr_of(const char *s, size_t n) {
    static char out[256];
    StrBuf b;
    strbuf_init(&b);
    str_repr_to(&b, s, n);
    snprintf(out, sizeof out, "%s", b.chars);
    strbuf_free(&b);
    return out;
}

static char *float_repr(double d) {
    static char out[64];
    num_float_repr(d, out, sizeof out);
    return out;
}

Test(str, hash_is_deterministic_and_never_a_marker) {
    cr_assert_eq(str_hash_bytes("abc", 3), str_hash_bytes("abc", 3));
    cr_assert_neq(str_hash_bytes("abc", 3), str_hash_bytes("abd", 3));
    cr_assert_neq(str_hash_bytes("", 0), 0);
    char buf[64];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(buf, sizeof buf, "key%d", i);
        uint64_t h = str_hash_bytes(buf, (size_t)n);
        cr_assert(h != 0 && h != UINT64_MAX);
    }
}

Test(str, utf8_round_trip_and_length) {
    char out[4];
    uint32_t cps[] = {0x41, 0xe9, 0x20ac, 0x1f600};
    int lens[] = {1, 2, 3, 4};
    for (int i = 0; i < 4; i++) {
        int n = str_encode_utf8(cps[i], out);
        cr_assert_eq(n, lens[i]);
        int m;
        cr_assert_eq(str_decode_utf8(out, &m), cps[i]);
        cr_assert_eq(m, n);
    }
    bool ascii;
    cr_assert_eq(str_utf8_length("h\xc3\xa9llo", 6, &ascii), 5);
    cr_assert_not(ascii);
    cr_assert_eq(str_utf8_length("hello", 5, &ascii), 5);
    cr_assert(ascii);
}

Test(str, repr_quoting_like_cpython) {
    cr_assert_str_eq(repr_of("abc", 3), "'abc'");
    cr_assert_str_eq(repr_of("it's", 4), "\"it's\"");
    cr_assert_str_eq(repr_of("say \"hi\"", 8), "'say \"hi\"'");
    cr_assert_str_eq(repr_of("both ' and \"", 12), "'both \\' and \"'");
    cr_assert_str_eq(repr_of("a\tb\nc\\", 6), "'a\\tb\\nc\\\\'");
    cr_assert_str_eq(repr_of("\x01\x7f", 2), "'\\x01\\x7f'");
    cr_assert_str_eq(repr_of("\xc3\xa9", 2), "'\xc3\xa9'");
    cr_assert_str_eq(repr_of("\xc2\xa0", 2), "'\\xa0'");
    cr_assert_str_eq(repr_of("\xe2\x80\xa8", 3), "'\\u2028'");
}

Test(str, strbuf_grows) {
    StrBuf b;
    strbuf_init(&b);
    for (int i = 0; i < 1000; i++) {
        strbuf_addc(&b, 'x');
    }
    strbuf_addf(&b, "%d-%s", 42, "end");
    strbuf_add(&b, "!", 1);
    cr_assert_eq(b.size, 1007);
    cr_assert_str_eq(b.chars + 1000, "42-end!");
    strbuf_free(&b);
    cr_assert_eq(b.size, 0);
    cr_assert_eq(b.chars, b.small, "a freed buffer is back on its inline storage");
}

Test(str, strbuf_short_text_stays_inline) {
    StrBuf b;
    strbuf_init(&b);
    strbuf_add(&b, "short", 5);
    cr_assert_eq(b.chars, b.small);
    cr_assert_str_eq(b.chars, "short");
    for (int i = 0; i < STRBUF_INLINE; i++) {
        strbuf_addc(&b, 'y');
    }
    cr_assert_neq(b.chars, b.small, "text past the inline size moves to the heap");
    cr_assert_eq(strncmp(b.chars, "shorty", 6), 0);
    strbuf_free(&b);
}

Test(str, float_repr_shortest_round_trip) {
    cr_assert_str_eq(float_repr(0.1), "0.1");
    cr_assert_str_eq(float_repr(1.0), "1.0");
    cr_assert_str_eq(float_repr(-1.0), "-1.0");
    cr_assert_str_eq(float_repr(1e20), "1e+20");
    cr_assert_str_eq(float_repr(1e16), "1e+16");
    cr_assert_str_eq(float_repr(1e15), "1000000000000000.0");
    cr_assert_str_eq(float_repr(123456789.125), "123456789.125");
    cr_assert_str_eq(float_repr(1e-5), "1e-05");
    cr_assert_str_eq(float_repr(0.0001), "0.0001");
    cr_assert_str_eq(float_repr(-0.0), "-0.0");
    cr_assert_str_eq(float_repr(1.0 / 3), "0.3333333333333333");
    cr_assert_str_eq(float_repr(0.1 + 0.2), "0.30000000000000004");
    cr_assert_str_eq(float_repr(5e-324), "5e-324");
    cr_assert_str_eq(float_repr(INFINITY), "inf");
    cr_assert_str_eq(float_repr(-INFINITY), "-inf");
    cr_assert_str_eq(float_repr(NAN), "nan");
}

Test(str, float_format_codes) {
    char b[64];
    num_format_float(1.0, 'g', 3, true, false, b, sizeof b);
    cr_assert_str_eq(b, "1.0");
    num_format_float(100.0, 'g', 3, true, false, b, sizeof b);
    cr_assert_str_eq(b, "1e+02");
    num_format_float(1.5, 'e', 6, false, false, b, sizeof b);
    cr_assert_str_eq(b, "1.500000e+00");
    num_format_float(123456789.0, 'g', 6, false, false, b, sizeof b);
    cr_assert_str_eq(b, "1.23457e+08");
    num_format_float(3.14159, 'f', 3, false, false, b, sizeof b);
    cr_assert_str_eq(b, "3.142");
    num_format_float(2.5, 'f', 0, false, false, b, sizeof b);
    cr_assert_str_eq(b, "2");
}

Test(str, format_spec_parsing) {
    NumSpec sp;
    cr_assert(num_parse_spec("*^+#012,.3f", 11, &sp));
    cr_assert_str_eq(sp.fill, "*");
    cr_assert_eq(sp.align, '^');
    cr_assert_eq(sp.sign, '+');
    cr_assert(sp.alt);
    cr_assert(sp.zero);
    cr_assert_eq(sp.width, 12);
    cr_assert_eq(sp.grouping, ',');
    cr_assert_eq(sp.precision, 3);
    cr_assert_eq(sp.type, 'f');
    cr_assert(num_parse_spec(">8", 2, &sp));
    cr_assert_eq(sp.align, '>');
    cr_assert_eq(sp.width, 8);
    cr_assert_not(num_parse_spec("abc", 3, &sp));
    cr_assert_not(num_parse_spec("5.5.5", 5, &sp));
}

Test(str, int_parsing) {
    int64_t v;
    bool ovf;
    cr_assert(num_parse_int_bytes(" 42 ", 4, 10, &v, &ovf));
    cr_assert_eq(v, 42);
    cr_assert(num_parse_int_bytes("0x1f", 4, 16, &v, &ovf));
    cr_assert_eq(v, 31);
    cr_assert(num_parse_int_bytes("1_000", 5, 10, &v, &ovf));
    cr_assert_eq(v, 1000);
    cr_assert(num_parse_int_bytes("-10", 3, 2, &v, &ovf));
    cr_assert_eq(v, -2);
    cr_assert(num_parse_int_bytes("0o17", 4, 0, &v, &ovf));
    cr_assert_eq(v, 15);
    cr_assert_not(num_parse_int_bytes("abc", 3, 10, &v, &ovf));
    cr_assert_not(num_parse_int_bytes("010", 3, 0, &v, &ovf));
    cr_assert_not(num_parse_int_bytes("1__0", 4, 10, &v, &ovf));
    cr_assert_not(num_parse_int_bytes("9", 1, 8, &v, &ovf));
    cr_assert(num_parse_int_bytes("9223372036854775808", 19, 10, &v, &ovf));
    cr_assert(ovf);
}

Test(str, float_parsing) {
    double d;
    cr_assert(num_parse_float_bytes(" 1e3 ", 5, &d));
    cr_assert_eq(d, 1000.0);
    cr_assert(num_parse_float_bytes("-Infinity", 9, &d));
    cr_assert(isinf(d) && d < 0);
    cr_assert(num_parse_float_bytes("nan", 3, &d));
    cr_assert(isnan(d));
    cr_assert(num_parse_float_bytes("1_0.5", 5, &d));
    cr_assert_eq(d, 10.5);
    cr_assert_not(num_parse_float_bytes("x1", 2, &d));
    cr_assert_not(num_parse_float_bytes("0x10", 4, &d));
    cr_assert_not(num_parse_float_bytes("1e", 2, &d));
}

Test(str, numeric_hash_matches_cpython) {
    cr_assert_eq((int64_t)num_hash_int(-1), -2);
    cr_assert_eq(num_hash_int(5), 5);
    cr_assert_eq(num_hash_float(1.0), num_hash_int(1));
    cr_assert_eq((int64_t)num_hash_float(1.5), 1152921504606846977LL);
    cr_assert_eq(num_hash_float(INFINITY), 314159);
}

Test(str, round_half_even) {
    cr_assert_eq(num_round_float(2.675, 2), 2.67);
    cr_assert_eq(num_round_float(1234.5, -2), 1200.0);
    cr_assert_eq(num_round_float(0.125, 2), 0.12);
}

Test(str, slice_adjust_like_cpython) {
    int64_t s = 1, e = INT64_MAX;
    cr_assert_eq(slice_adjust(8, &s, &e, 1), 7);
    s = INT64_MAX;
    e = INT64_MIN;
    cr_assert_eq(slice_adjust(8, &s, &e, -1), 8);
    cr_assert_eq(s, 7);
    cr_assert_eq(e, -1);
    s = 6;
    e = 2;
    cr_assert_eq(slice_adjust(8, &s, &e, -1), 4);
    s = -100;
    e = 2;
    cr_assert_eq(slice_adjust(8, &s, &e, 1), 2);
    s = 1;
    e = -1;
    cr_assert_eq(slice_adjust(8, &s, &e, 3), 2);
}

// ---- With a VM: interning and the weak intern table -----------------------------------------

static WkVM *vm;

static void vm_setup(void) {
    char *argv[] = {"test"};
    vm = vm_new(1, argv);
}

static void vm_teardown(void) {
    vm_free(vm);
}

Test(str, interned_strings_are_shared, .init = vm_setup, .fini = vm_teardown) {
    ObjStr *a = str_intern(vm, "hello", 5);
    gc_push_root(vm, OBJ_VAL(a));
    ObjStr *b = str_intern(vm, "hello", 5);
    cr_assert_eq(a, b);
    cr_assert(a->interned);
    ObjStr *fresh = str_new(vm, "hello", 5);
    cr_assert(str_equal(a, fresh));
    cr_assert_eq(str_hash(fresh), str_hash(a));
    cr_assert_eq(a->length, 5);
    cr_assert(a->ascii);
    ObjStr *c = str_concat(vm, a, b);
    cr_assert_str_eq(c->chars, "hellohello");
    cr_assert(str_equal(c, str_from_cstr(vm, "hellohello")));
    gc_pop_root(vm);
}

Test(str, intern_table_is_weak, .init = vm_setup, .fini = vm_teardown) {
    gc_collect(vm);
    uint32_t before = vm->strings.count;
    str_intern(vm, "a-string-nobody-holds", 21);
    cr_assert_eq(vm->strings.count, before + 1);
    gc_collect(vm);
    cr_assert_eq(vm->strings.count, before);
}

Test(str, printf_and_code_points, .init = vm_setup, .fini = vm_teardown) {
    ObjStr *s = str_printf(vm, "%d-%s", 7, "\xc3\xa9t\xc3\xa9");
    cr_assert_str_eq(s->chars, "7-\xc3\xa9t\xc3\xa9");
    cr_assert_eq(s->length, 5);
    cr_assert_not(s->ascii);
    cr_assert_eq(str_byte_offset(s, 3), 4);
    cr_assert(str_contains(s, str_from_cstr(vm, "t\xc3\xa9")));
    cr_assert_lt(str_compare(str_from_cstr(vm, "abc"), str_from_cstr(vm, "abd")), 0);
    cr_assert_gt(str_compare(str_from_cstr(vm, "abc"), str_from_cstr(vm, "ab")), 0);
}
