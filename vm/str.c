// Strings: immutable UTF-8 objects with a cached hash and code-point length, the weak intern
// table (vm->strings), StrBuf, and the str type's methods. Strings own no arrays: the bytes
// live in the object block. Pure helpers (hashing, UTF-8, repr, StrBuf) take no VM.
#include "vm/str.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/iter.h"
#include "vm/list.h"
#include "vm/ops.h"
#include "vm/table.h"

#define INTERN_MAX 40

static const char *tname(WkVM *vm, Value v) {
    return class_of(vm, v)->name->chars;
}

// ---- UTF-8 -----------------------------------------------------------------------------------

uint32_t str_decode_utf8(const char *s, int *len) {
    const unsigned char *u = (const unsigned char *)s;
    if (u[0] < 0x80) {
        *len = 1;
        return u[0];
    }
    if ((u[0] & 0xe0) == 0xc0) {
        *len = 2;
        return ((uint32_t)(u[0] & 0x1f) << 6) | (u[1] & 0x3f);
    }
    if ((u[0] & 0xf0) == 0xe0) {
        *len = 3;
        return ((uint32_t)(u[0] & 0x0f) << 12) | ((uint32_t)(u[1] & 0x3f) << 6) | (u[2] & 0x3f);
    }
    *len = 4;
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3f) << 12) |
           ((uint32_t)(u[2] & 0x3f) << 6) | (u[3] & 0x3f);
}

int str_encode_utf8(uint32_t cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

size_t str_utf8_length(const char *chars, size_t size, bool *ascii) {
    size_t n = 0;
    bool all = true;
    for (size_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)chars[i];
        if (c >= 0x80) {
            all = false;
        }
        if ((c & 0xc0) != 0x80) {
            n++;
        }
    }
    *ascii = all;
    return n;
}

size_t str_byte_offset(ObjStr *s, int64_t index) {
    if (s->ascii) {
        return (size_t)index;
    }
    size_t b = 0;
    for (int64_t i = 0; i < index && b < s->size; i++) {
        int len;
        str_decode_utf8(s->chars + b, &len);
        b += (size_t)len;
    }
    return b;
}

// Code points before byte offset [b] of [s].
static int64_t cp_index(ObjStr *s, size_t b) {
    if (s->ascii) {
        return (int64_t)b;
    }
    int64_t n = 0;
    for (size_t i = 0; i < b; i++) {
        if (((unsigned char)s->chars[i] & 0xc0) != 0x80) {
            n++;
        }
    }
    return n;
}

// ---- Character classes (ASCII exact; common alphabets approximately) -------------------------

static bool cp_isspace(uint32_t c) {
    return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f) || c == 0x85 ||
           c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 ||
           c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

static uint32_t cp_upper(uint32_t c) {
    if (c >= 'a' && c <= 'z') {
        return c - 32;
    }
    if (c < 0x80) {
        return c;
    }
    if ((c >= 0xe0 && c <= 0xfe && c != 0xf7) || (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2) ||
        (c >= 0x430 && c <= 0x44f)) {
        return c - 32;
    }
    if (c >= 0x450 && c <= 0x45f) {
        return c - 80;
    }
    if (c >= 0x100 && c <= 0x17f && (c & 1) && c != 0x131 && c != 0x138 && c != 0x149) {
        return c - 1;
    }
    return c;
}

static uint32_t cp_lower(uint32_t c) {
    if (c >= 'A' && c <= 'Z') {
        return c + 32;
    }
    if (c < 0x80) {
        return c;
    }
    if ((c >= 0xc0 && c <= 0xde && c != 0xd7) || (c >= 0x391 && c <= 0x3a9 && c != 0x3a2) ||
        (c >= 0x410 && c <= 0x42f)) {
        return c + 32;
    }
    if (c >= 0x400 && c <= 0x40f) {
        return c + 80;
    }
    if (c >= 0x100 && c <= 0x17f && !(c & 1) && c != 0x130 && c != 0x138) {
        return c + 1;
    }
    return c;
}

static bool cp_isupper(uint32_t c) {
    return cp_lower(c) != c;
}

static bool cp_islower(uint32_t c) {
    return cp_upper(c) != c || c == 0xdf;
}

static bool cp_isdigit(uint32_t c) {
    return (c >= '0' && c <= '9') || c == 0xb2 || c == 0xb3 || c == 0xb9 ||
           (c >= 0x660 && c <= 0x669) || (c >= 0xff10 && c <= 0xff19);
}

static bool cp_isalpha(uint32_t c) {
    if (c < 0x80) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    }
    if (c == 0xaa || c == 0xb5 || c == 0xba) {
        return true;
    }
    if (c < 0xc0 || c == 0xd7 || c == 0xf7 || cp_isspace(c) || cp_isdigit(c)) {
        return false;
    }
    // General punctuation, symbols and the like.
    return !((c >= 0x2000 && c <= 0x2bff) || (c >= 0x3000 && c <= 0x303f) ||
             (c >= 0xfe30 && c <= 0xfe4f) || (c >= 0xff00 && c <= 0xff20) ||
             (c >= 0x1f000 && c <= 0x1faff));
}

static bool cp_iscased(uint32_t c) {
    return cp_isupper(c) || cp_islower(c);
}

// ---- Hashing ---------------------------------------------------------------------------------

static uint64_t mix64(uint64_t h) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

// A fast 64-bit hash: 8-byte words folded with multiply-rotate, then a murmur finaliser.
// Never 0 or -1, so callers may use those as markers.
uint64_t str_hash_bytes(const char *chars, size_t size) {
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (size * 0x100000001b3ULL);
    size_t i = 0;
    for (; i + 8 <= size; i += 8) {
        uint64_t w;
        memcpy(&w, chars + i, 8);
        h = (h ^ (w * 0x87c37b91114253d5ULL)) * 0x4cf5ad432745937fULL;
        h = (h << 31) | (h >> 33);
    }
    uint64_t tail = 0;
    if (size > i) {
        memcpy(&tail, chars + i, size - i);
    }
    h ^= tail * 0x52dce729ULL + (size - i);
    h = mix64(h);
    if (h == 0 || h == UINT64_MAX) {
        h = 0x2545f4914f6cdd1dULL;
    }
    return h;
}

// ---- StrBuf ----------------------------------------------------------------------------------

void strbuf_init(StrBuf *b) {
    b->chars = b->small;
    b->size = 0;
    b->capacity = STRBUF_INLINE;
    b->small[0] = '\0';
}

static void strbuf_reserve(StrBuf *b, size_t extra) {
    if (b->size + extra + 1 <= b->capacity) {
        return;
    }
    size_t cap = b->capacity < 32 ? 32 : b->capacity;
    while (cap < b->size + extra + 1) {
        cap *= 2;
    }
    char *p;
    if (b->chars == b->small) {
        p = malloc(cap);
        if (p != NULL) {
            memcpy(p, b->small, b->size + 1);
        }
    } else {
        p = realloc(b->chars, cap);
    }
    if (!p) {
        fprintf(stderr, "wk: out of memory\n");
        abort();
    }
    b->chars = p;
    b->capacity = cap;
}

void strbuf_add(StrBuf *b, const char *chars, size_t size) {
    strbuf_reserve(b, size);
    if (size) {
        memcpy(b->chars + b->size, chars, size);
    }
    b->size += size;
    b->chars[b->size] = '\0';
}

void strbuf_addc(StrBuf *b, char c) {
    strbuf_reserve(b, 1);
    b->chars[b->size++] = c;
    b->chars[b->size] = '\0';
}

static void strbuf_vaddf(StrBuf *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n < sizeof small) {
        strbuf_add(b, small, (size_t)n);
    } else {
        strbuf_reserve(b, (size_t)n);
        vsnprintf(b->chars + b->size, (size_t)n + 1, fmt, ap2);
        b->size += (size_t)n;
    }
    va_end(ap2);
}

void strbuf_addf(StrBuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(b, fmt, ap);
    va_end(ap);
}

void strbuf_free(StrBuf *b) {
    if (b->chars != b->small) {
        free(b->chars);
    }
    strbuf_init(b);
}

ObjStr *strbuf_finish(WkVM *vm, StrBuf *b) {
    ObjStr *s = str_new(vm, b->chars ? b->chars : "", b->size);
    strbuf_free(b);
    return s;
}

static void strbuf_add_cp(StrBuf *b, uint32_t cp) {
    char tmp[4];
    strbuf_add(b, tmp, (size_t)str_encode_utf8(cp, tmp));
}

// ---- Construction and interning --------------------------------------------------------------

static ObjStr *alloc_str(WkVM *vm, const char *chars, size_t size, uint64_t hash) {
    ObjStr *s = (ObjStr *)gc_alloc_object(vm, sizeof(ObjStr) + size + 1, OBJ_STR);
    bool ascii;
    s->length = (uint32_t)str_utf8_length(chars, size, &ascii);
    s->size = (uint32_t)size;
    s->hash = hash;
    s->interned = false;
    s->ascii = ascii;
    if (size > 0) {
        memcpy(s->chars, chars, size);
    }
    s->chars[size] = '\0';
    return s;
}

ObjStr *str_intern(WkVM *vm, const char *chars, size_t size) {
    uint64_t hash = str_hash_bytes(chars, size);
    ObjStr *s = table_find_chars(&vm->strings, chars, size, hash);
    if (s) {
        return s;
    }
    s = alloc_str(vm, chars, size, hash);
    s->interned = true;
    table_set_str(vm, &vm->strings, s, NONE_VAL); // roots [s] if the table grows
    return s;
}

// Runtime strings are not interned (CPython doesn't either): interning each one cost a hash
// probe at birth and a table removal at death, a third of the strings benchmark. Only the
// empty and one-byte strings are, since iteration and indexing make them constantly.
ObjStr *str_new(WkVM *vm, const char *chars, size_t size) {
    if (size <= 1) {
        return str_intern(vm, chars, size);
    }
    return alloc_str(vm, chars, size, 0);
}

ObjStr *str_from_cstr(WkVM *vm, const char *cstr) {
    return str_new(vm, cstr, strlen(cstr));
}

ObjStr *str_printf(WkVM *vm, const char *fmt, ...) {
    StrBuf b;
    strbuf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    strbuf_vaddf(&b, fmt, ap);
    va_end(ap);
    return strbuf_finish(vm, &b);
}

ObjStr *str_concat(WkVM *vm, ObjStr *a, ObjStr *b) {
    if (a->size == 0) {
        return b;
    }
    if (b->size == 0) {
        return a;
    }
    // Allocate the result once and copy both parts in (no intermediate buffer).
    size_t size = (size_t)a->size + b->size;
    gc_push_root(vm, OBJ_VAL(a));
    gc_push_root(vm, OBJ_VAL(b));
    ObjStr *s = (ObjStr *)gc_alloc_object(vm, sizeof(ObjStr) + size + 1, OBJ_STR);
    gc_pop_roots(vm, 2);
    s->length = a->length + b->length;
    s->size = (uint32_t)size;
    s->hash = 0;
    s->interned = false;
    s->ascii = a->ascii && b->ascii;
    memcpy(s->chars, a->chars, a->size);
    memcpy(s->chars + a->size, b->chars, b->size);
    s->chars[size] = '\0';
    return s;
}

bool str_equal(ObjStr *a, ObjStr *b) {
    if (a == b) {
        return true;
    }
    if (a->size != b->size || (a->interned && b->interned) ||
        (a->hash != 0 && b->hash != 0 && a->hash != b->hash)) {
        return false;
    }
    return memcmp(a->chars, b->chars, a->size) == 0;
}

ObjStr *str_from_codepoint(WkVM *vm, uint32_t cp) {
    char tmp[4];
    return str_new(vm, tmp, (size_t)str_encode_utf8(cp, tmp));
}

void str_drop_dying(WkVM *vm) {
    Table *t = &vm->strings;
    for (uint32_t i = 0; i < t->used; i++) {
        Value k = t->entries[i].key;
        if (!IS_EMPTY(k) && gc_is_dying(vm, AS_OBJ(k))) {
            table_remove_at(t, i);
        }
    }
}

// ---- repr, comparison, containment -----------------------------------------------------------

static bool cp_printable(uint32_t c) {
    if (c < 0x20 || c == 0x7f) {
        return false;
    }
    if (c < 0x7f) {
        return true;
    }
    return !((c >= 0x80 && c <= 0xa0) || c == 0xad || c == 0x1680 ||
             (c >= 0x2000 && c <= 0x200f) || (c >= 0x2028 && c <= 0x202f) ||
             (c >= 0x205f && c <= 0x206f) || c == 0x3000 || (c >= 0xd800 && c <= 0xf8ff) ||
             c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) || c >= 0xe0000);
}

void str_repr_to(StrBuf *b, const char *chars, size_t size) {
    bool has_single = memchr(chars, '\'', size) != NULL;
    bool has_double = memchr(chars, '"', size) != NULL;
    char quote = has_single && !has_double ? '"' : '\'';
    strbuf_addc(b, quote);
    for (size_t i = 0; i < size;) {
        int len;
        uint32_t c = str_decode_utf8(chars + i, &len);
        if (c == (uint32_t)quote || c == '\\') {
            strbuf_addc(b, '\\');
            strbuf_addc(b, (char)c);
        } else if (c == '\n') {
            strbuf_add(b, "\\n", 2);
        } else if (c == '\t') {
            strbuf_add(b, "\\t", 2);
        } else if (c == '\r') {
            strbuf_add(b, "\\r", 2);
        } else if (!cp_printable(c)) {
            if (c < 0x100) {
                strbuf_addf(b, "\\x%02x", c);
            } else if (c < 0x10000) {
                strbuf_addf(b, "\\u%04x", c);
            } else {
                strbuf_addf(b, "\\U%08x", c);
            }
        } else {
            strbuf_add(b, chars + i, (size_t)len);
        }
        i += (size_t)len;
    }
    strbuf_addc(b, quote);
}

ObjStr *str_repr(WkVM *vm, ObjStr *s) {
    StrBuf b;
    strbuf_init(&b);
    str_repr_to(&b, s->chars, s->size);
    return strbuf_finish(vm, &b);
}

int str_compare(ObjStr *a, ObjStr *b) {
    size_t n = a->size < b->size ? a->size : b->size;
    int c = memcmp(a->chars, b->chars, n);
    if (c != 0) {
        return c;
    }
    return a->size < b->size ? -1 : a->size > b->size ? 1 : 0;
}

// Byte offset of [needle] in [hay] at or after [from] and ending by [to], or -1.
static int64_t find_bytes(const char *hay, size_t from, size_t to, const char *needle,
                          size_t n) {
    if (to < from || to - from < n) {
        return -1;
    }
    if (n == 0) {
        return (int64_t)from;
    }
    const char *p = hay + from;
    const char *last = hay + to - n;
    while (p <= last) {
        p = memchr(p, needle[0], (size_t)(last - p) + 1);
        if (!p) {
            return -1;
        }
        if (memcmp(p, needle, n) == 0) {
            return p - hay;
        }
        p++;
    }
    return -1;
}

static int64_t rfind_bytes(const char *hay, size_t from, size_t to, const char *needle,
                           size_t n) {
    if (to < from || to - from < n) {
        return -1;
    }
    for (size_t i = to - n + 1; i-- > from;) {
        if (memcmp(hay + i, needle, n) == 0) {
            return (int64_t)i;
        }
    }
    return -1;
}

bool str_contains(ObjStr *hay, ObjStr *needle) {
    return find_bytes(hay->chars, 0, hay->size, needle->chars, needle->size) >= 0;
}

// ---- Subscripts and repetition ---------------------------------------------------------------

// A new string of the code points start, start+step, ... ([count] of them).
static ObjStr *str_slice(WkVM *vm, ObjStr *s, int64_t start, int64_t step, int64_t count) {
    if (step == 1) {
        size_t b0 = str_byte_offset(s, start);
        size_t b1 = s->ascii ? (size_t)(start + count) : b0;
        if (!s->ascii) {
            for (int64_t i = 0; i < count; i++) {
                int len;
                str_decode_utf8(s->chars + b1, &len);
                b1 += (size_t)len;
            }
        }
        return str_new(vm, s->chars + b0, b1 - b0);
    }
    StrBuf b;
    strbuf_init(&b);
    if (s->ascii) {
        for (int64_t i = 0, j = start; i < count; i++, j += step) {
            strbuf_addc(&b, s->chars[j]);
        }
    } else {
        size_t *offs = malloc(sizeof(size_t) * (s->length + 1));
        size_t off = 0;
        for (uint32_t i = 0; i <= s->length; i++) {
            offs[i] = off;
            if (i < s->length) {
                int len;
                str_decode_utf8(s->chars + off, &len);
                off += (size_t)len;
            }
        }
        for (int64_t i = 0, j = start; i < count; i++, j += step) {
            strbuf_add(&b, s->chars + offs[j], offs[j + 1] - offs[j]);
        }
        free(offs);
    }
    return strbuf_finish(vm, &b);
}

bool str_getitem(WkVM *vm, ObjStr *s, Value key, Value *out) {
    if (IS_KIND(key, OBJ_SLICE)) {
        int64_t start, stop, step, count;
        if (!slice_indices(vm, (ObjSlice *)AS_OBJ(key), s->length, &start, &stop, &step,
                           &count)) {
            return false;
        }
        *out = OBJ_VAL(str_slice(vm, s, start, step, count));
        return true;
    }
    int64_t i;
    if (IS_INT(key)) {
        i = AS_INT(key);
    } else if (IS_BOOL(key)) {
        i = AS_BOOL(key);
    } else if (IS_INSTANCE(key)) {
        if (!ops_index(vm, key, &i)) {
            return false;
        }
    } else {
        return exc_raise(vm, vm->cls.TypeError, "string indices must be integers, not '%s'",
                         tname(vm, key));
    }
    if (i < 0) {
        i += s->length;
    }
    if (i < 0 || i >= (int64_t)s->length) {
        return exc_raise(vm, vm->cls.IndexError, "string index out of range");
    }
    *out = OBJ_VAL(str_slice(vm, s, i, 1, 1));
    return true;
}

// Probe that [size] bytes can be had, raising MemoryError instead of aborting later.
static bool can_allocate(WkVM *vm, size_t size) {
    if (size > 0x7fffffffU) {
        return exc_raise_value(vm, OBJ_VAL(vm->cls.MemoryError));
    }
    if (size > (1u << 26)) {
        void *p = gc_try_realloc(vm, NULL, 0, size);
        if (!p) {
            return false;
        }
        gc_free(vm, p, size);
    }
    return true;
}

bool str_repeat(WkVM *vm, ObjStr *s, int64_t n, ObjStr **out) {
    if (n <= 0 || s->size == 0) {
        *out = str_new(vm, "", 0);
        return true;
    }
    if (n == 1) {
        *out = s;
        return true;
    }
    if ((uint64_t)n > 0x7fffffffU / s->size) {
        return exc_raise_value(vm, OBJ_VAL(vm->cls.MemoryError));
    }
    if (!can_allocate(vm, (size_t)n * s->size)) {
        return false;
    }
    StrBuf b;
    strbuf_init(&b);
    strbuf_reserve(&b, (size_t)n * s->size);
    for (int64_t i = 0; i < n; i++) {
        strbuf_add(&b, s->chars, s->size);
    }
    *out = strbuf_finish(vm, &b);
    return true;
}

// ---- Method helpers --------------------------------------------------------------------------

#define SELF_STR(name)                                                                         \
    if (!IS_STR(args[0])) {                                                                    \
        return exc_raise(vm, vm->cls.TypeError,                                                \
                         "descriptor '" name "' for 'str' objects doesn't apply to a '%s' "    \
                         "object",                                                             \
                         tname(vm, args[0]));                                                  \
    }                                                                                          \
    ObjStr *self = AS_STR(args[0])

static bool ret_str(WkVM *vm, Value *result, StrBuf *b) {
    *result = OBJ_VAL(strbuf_finish(vm, b));
    return true;
}

// A str argument [v] of method [meth], else TypeError "must be str, not int".
static bool want_str(WkVM *vm, Value v, ObjStr **out) {
    if (!IS_STR(v)) {
        return exc_raise(vm, vm->cls.TypeError, "must be str, not %s", tname(vm, v));
    }
    *out = AS_STR(v);
    return true;
}

// An optional int argument (None allowed when [none_ok]); [*out] keeps its default otherwise.
static bool opt_int(WkVM *vm, Value *args, int argc, int i, bool none_ok, int64_t *out) {
    if (i >= argc || (none_ok && IS_NONE(args[i]))) {
        return true;
    }
    if (IS_FLOAT(args[i]) || IS_STR(args[i]) || IS_NONE(args[i])) {
        return exc_raise(vm, vm->cls.TypeError,
                         "'%s' object cannot be interpreted as an integer", tname(vm, args[i]));
    }
    return ops_index(vm, args[i], out);
}

// The byte range [*lo, *hi) of [s] for optional start/end arguments at args[i], args[i+1],
// normalised as CPython's ADJUST_INDICES. False with no exception when start is beyond the
// end (nothing can match); *err tells a raised error.
static bool sub_range(WkVM *vm, ObjStr *s, Value *args, int argc, int i, size_t *lo,
                      size_t *hi, bool *err) {
    int64_t len = s->length, start = 0, end = len;
    *err = false;
    if (!opt_int(vm, args, argc, i, true, &start) ||
        !opt_int(vm, args, argc, i + 1, true, &end)) {
        *err = true;
        return false;
    }
    if (end > len) {
        end = len;
    } else if (end < 0) {
        end = end + len < 0 ? 0 : end + len;
    }
    if (start < 0) {
        start = start + len < 0 ? 0 : start + len;
    }
    if (start > len || end < start) {
        return false;
    }
    *lo = str_byte_offset(s, start);
    *hi = str_byte_offset(s, end);
    return true;
}

// ---- Case and predicates ---------------------------------------------------------------------

typedef uint32_t (*CpMap)(uint32_t);

static bool map_cps(WkVM *vm, ObjStr *s, CpMap f, Value *result) {
    StrBuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < s->size;) {
        int len;
        uint32_t c = str_decode_utf8(s->chars + i, &len);
        if (c == 0xdf && f == cp_upper) {
            strbuf_add(&b, "SS", 2);
        } else {
            strbuf_add_cp(&b, f(c));
        }
        i += (size_t)len;
    }
    return ret_str(vm, result, &b);
}

static uint32_t cp_swap(uint32_t c) {
    return cp_isupper(c) ? cp_lower(c) : cp_upper(c);
}

static bool m_upper(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("upper");
    return map_cps(vm, self, cp_upper, result);
}

static bool m_lower(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("lower");
    return map_cps(vm, self, cp_lower, result);
}

static bool m_swapcase(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("swapcase");
    return map_cps(vm, self, cp_swap, result);
}

// title() when [title], else capitalize(): upper the first cased letter of each word (or of
// the string), lower the rest.
static bool title_or_cap(WkVM *vm, ObjStr *self, bool title, Value *result) {
    StrBuf b;
    strbuf_init(&b);
    bool prev_cased = false;
    bool first = true;
    for (size_t i = 0; i < self->size;) {
        int len;
        uint32_t c = str_decode_utf8(self->chars + i, &len);
        uint32_t m = (title ? !prev_cased : first) ? cp_upper(c) : cp_lower(c);
        strbuf_add_cp(&b, m);
        prev_cased = cp_iscased(c);
        first = false;
        i += (size_t)len;
    }
    return ret_str(vm, result, &b);
}

static bool m_title(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("title");
    return title_or_cap(vm, self, true, result);
}

static bool m_capitalize(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("capitalize");
    return title_or_cap(vm, self, false, result);
}

typedef bool (*CpPred)(uint32_t);

static bool all_cps(ObjStr *s, CpPred p) {
    if (s->size == 0) {
        return false;
    }
    for (size_t i = 0; i < s->size;) {
        int len;
        if (!p(str_decode_utf8(s->chars + i, &len))) {
            return false;
        }
        i += (size_t)len;
    }
    return true;
}

static bool cp_isalnum(uint32_t c) {
    return cp_isalpha(c) || cp_isdigit(c);
}

static bool cp_isdecimal(uint32_t c) {
    return (c >= '0' && c <= '9') || (c >= 0x660 && c <= 0x669) || (c >= 0xff10 && c <= 0xff19);
}

static bool cp_isnumeric(uint32_t c) {
    return cp_isdigit(c) || c == 0xbc || c == 0xbd || c == 0xbe || (c >= 0x2150 && c <= 0x218b);
}

#define PREDICATE(fname, pred)                                                                 \
    static bool m_##fname(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {       \
        (void)argc, (void)kw;                                                                  \
        SELF_STR(#fname);                                                                      \
        *result = BOOL_VAL(all_cps(self, pred));                                               \
        return true;                                                                           \
    }

PREDICATE(isdigit, cp_isdigit)
PREDICATE(isalpha, cp_isalpha)
PREDICATE(isalnum, cp_isalnum)
PREDICATE(isspace, cp_isspace)
PREDICATE(isdecimal, cp_isdecimal)
PREDICATE(isnumeric, cp_isnumeric)

// isupper/islower: some cased character, and none of the other case.
static bool case_pred(ObjStr *s, bool upper) {
    bool cased = false;
    for (size_t i = 0; i < s->size;) {
        int len;
        uint32_t c = str_decode_utf8(s->chars + i, &len);
        if (upper ? cp_islower(c) : cp_isupper(c)) {
            return false;
        }
        cased = cased || (upper ? cp_isupper(c) : cp_islower(c));
        i += (size_t)len;
    }
    return cased;
}

static bool m_isupper(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("isupper");
    *result = BOOL_VAL(case_pred(self, true));
    return true;
}

static bool m_islower(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("islower");
    *result = BOOL_VAL(case_pred(self, false));
    return true;
}

static bool m_istitle(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("istitle");
    bool prev_cased = false, any = false;
    for (size_t i = 0; i < self->size;) {
        int len;
        uint32_t c = str_decode_utf8(self->chars + i, &len);
        if (cp_isupper(c)) {
            if (prev_cased) {
                *result = BOOL_VAL(false);
                return true;
            }
            prev_cased = any = true;
        } else if (cp_islower(c)) {
            if (!prev_cased) {
                *result = BOOL_VAL(false);
                return true;
            }
        } else {
            prev_cased = false;
        }
        i += (size_t)len;
    }
    *result = BOOL_VAL(any);
    return true;
}

static bool m_isidentifier(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("isidentifier");
    bool ok = self->size > 0;
    for (size_t i = 0; ok && i < self->size;) {
        int len;
        uint32_t c = str_decode_utf8(self->chars + i, &len);
        ok = c == '_' || cp_isalpha(c) || (i > 0 && cp_isdigit(c));
        i += (size_t)len;
    }
    *result = BOOL_VAL(ok);
    return true;
}

static bool m_isprintable(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("isprintable");
    bool ok = true;
    for (size_t i = 0; ok && i < self->size;) {
        int len;
        uint32_t c = str_decode_utf8(self->chars + i, &len);
        ok = c == ' ' || cp_printable(c);
        i += (size_t)len;
    }
    *result = BOOL_VAL(ok);
    return true;
}

static bool m_isascii(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("isascii");
    *result = BOOL_VAL(self->ascii);
    return true;
}

// ---- strip -----------------------------------------------------------------------------------

static bool in_chars(ObjStr *chars, uint32_t c) {
    if (!chars) {
        return cp_isspace(c);
    }
    for (size_t i = 0; i < chars->size;) {
        int len;
        if (str_decode_utf8(chars->chars + i, &len) == c) {
            return true;
        }
        i += (size_t)len;
    }
    return false;
}

// Start of the code point that ends just before byte [b].
static size_t prev_cp(const char *s, size_t b) {
    do {
        b--;
    } while (b > 0 && ((unsigned char)s[b] & 0xc0) == 0x80);
    return b;
}

static bool do_strip(WkVM *vm, Value *args, int argc, bool left, bool right, Value *result) {
    ObjStr *self = AS_STR(args[0]);
    ObjStr *chars = NULL;
    if (argc > 1 && !IS_NONE(args[1])) {
        if (!IS_STR(args[1])) {
            return exc_raise(vm, vm->cls.TypeError, "%s arg must be None or str",
                             left && right ? "strip" : left ? "lstrip" : "rstrip");
        }
        chars = AS_STR(args[1]);
    }
    size_t lo = 0, hi = self->size;
    while (left && lo < hi) {
        int len;
        uint32_t c = str_decode_utf8(self->chars + lo, &len);
        if (!in_chars(chars, c)) {
            break;
        }
        lo += (size_t)len;
    }
    while (right && hi > lo) {
        size_t p = prev_cp(self->chars, hi);
        int len;
        if (!in_chars(chars, str_decode_utf8(self->chars + p, &len))) {
            break;
        }
        hi = p;
    }
    *result = (lo == 0 && hi == self->size) ? args[0]
                                            : OBJ_VAL(str_new(vm, self->chars + lo, hi - lo));
    return true;
}

static bool m_strip(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("strip");
    (void)self;
    return do_strip(vm, args, argc, true, true, result);
}

static bool m_lstrip(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("lstrip");
    (void)self;
    return do_strip(vm, args, argc, true, false, result);
}

static bool m_rstrip(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("rstrip");
    (void)self;
    return do_strip(vm, args, argc, false, true, result);
}

// ---- split and join --------------------------------------------------------------------------

// Append a new string of bytes [lo, hi) of [s] to [list] (rooted by the caller).
static void push_piece(WkVM *vm, ObjList *list, ObjStr *s, size_t lo, size_t hi) {
    list_append(vm, list, OBJ_VAL(str_new(vm, s->chars + lo, hi - lo)));
}

// Parse split's (sep=None, maxsplit=-1) from positionals and keywords.
static bool split_args(WkVM *vm, const char *name, Value *args, int argc, ObjDict *kw,
                       ObjStr **sep, int64_t *maxsplit) {
    static const char *const names[] = {"sep", "maxsplit", NULL};
    if (!dict_check_kwargs(vm, kw, name, names)) {
        return false;
    }
    Value vsep = argc > 1 ? args[1] : NONE_VAL;
    Value vmax = argc > 2 ? args[2] : INT_VAL(-1);
    Value *k;
    if ((k = dict_get_cstr(kw, "sep"))) {
        vsep = *k;
    }
    if ((k = dict_get_cstr(kw, "maxsplit"))) {
        vmax = *k;
    }
    *sep = NULL;
    if (!IS_NONE(vsep)) {
        if (!IS_STR(vsep)) {
            return exc_raise(vm, vm->cls.TypeError, "must be str or None, not %s",
                             tname(vm, vsep));
        }
        *sep = AS_STR(vsep);
        if ((*sep)->size == 0) {
            return exc_raise(vm, vm->cls.ValueError, "empty separator");
        }
    }
    if (!opt_int(vm, &vmax, 1, 0, false, maxsplit)) {
        return false;
    }
    if (*maxsplit < 0) {
        *maxsplit = INT64_MAX;
    }
    return true;
}

static void split_whitespace(WkVM *vm, ObjStr *s, int64_t maxsplit, ObjList *out) {
    size_t i = 0, n = s->size;
    for (;;) {
        int len;
        while (i < n && cp_isspace(str_decode_utf8(s->chars + i, &len))) {
            i += (size_t)len;
        }
        if (i >= n) {
            return;
        }
        if (maxsplit-- == 0) {
            push_piece(vm, out, s, i, n); // the rest keeps its trailing whitespace
            return;
        }
        size_t start = i;
        while (i < n && !cp_isspace(str_decode_utf8(s->chars + i, &len))) {
            i += (size_t)len;
        }
        push_piece(vm, out, s, start, i);
    }
}

static bool m_split(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    SELF_STR("split");
    ObjStr *sep = NULL;
    int64_t maxsplit;
    if (!split_args(vm, "split", args, argc, kw, &sep, &maxsplit)) {
        return false;
    }
    ObjList *out = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(out));
    if (!sep) {
        split_whitespace(vm, self, maxsplit, out);
    } else {
        size_t i = 0;
        int64_t at;
        while (maxsplit > 0 &&
               (at = find_bytes(self->chars, i, self->size, sep->chars, sep->size)) >= 0) {
            push_piece(vm, out, self, i, (size_t)at);
            i = (size_t)at + sep->size;
            maxsplit--;
        }
        push_piece(vm, out, self, i, self->size);
    }
    gc_pop_root(vm);
    *result = OBJ_VAL(out);
    return true;
}

// Reverse the items of [l] in place.
static void reverse_items(ObjList *l) {
    for (uint32_t i = 0, j = l->count; i + 1 < j; i++, j--) {
        Value t = l->items[i];
        l->items[i] = l->items[j - 1];
        l->items[j - 1] = t;
    }
}

static bool m_rsplit(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    SELF_STR("rsplit");
    ObjStr *sep = NULL;
    int64_t maxsplit;
    if (!split_args(vm, "rsplit", args, argc, kw, &sep, &maxsplit)) {
        return false;
    }
    ObjList *out = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(out));
    size_t hi = self->size;
    if (!sep) {
        int len;
        for (;;) {
            while (hi > 0 && cp_isspace(str_decode_utf8(self->chars + prev_cp(self->chars, hi),
                                                        &len))) {
                hi = prev_cp(self->chars, hi);
            }
            if (hi == 0) {
                break;
            }
            size_t lo = hi;
            if (maxsplit-- == 0) {
                push_piece(vm, out, self, 0, hi); // the rest keeps its leading whitespace
                break;
            }
            while (lo > 0 &&
                   !cp_isspace(str_decode_utf8(self->chars + prev_cp(self->chars, lo), &len))) {
                lo = prev_cp(self->chars, lo);
            }
            push_piece(vm, out, self, lo, hi);
            hi = lo;
        }
    } else {
        int64_t at;
        while (maxsplit > 0 &&
               (at = rfind_bytes(self->chars, 0, hi, sep->chars, sep->size)) >= 0) {
            push_piece(vm, out, self, (size_t)at + sep->size, hi);
            hi = (size_t)at;
            maxsplit--;
        }
        push_piece(vm, out, self, 0, hi);
    }
    reverse_items(out);
    gc_pop_root(vm);
    *result = OBJ_VAL(out);
    return true;
}

// Length of the line break at byte [i] of [s] (0 when none).
static int line_break(ObjStr *s, size_t i) {
    int len;
    uint32_t c = str_decode_utf8(s->chars + i, &len);
    if (c == '\r') {
        return i + 1 < s->size && s->chars[i + 1] == '\n' ? 2 : 1;
    }
    if (c == '\n' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e) || c == 0x85 ||
        c == 0x2028 || c == 0x2029) {
        return len;
    }
    return 0;
}

static bool m_splitlines(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    SELF_STR("splitlines");
    static const char *const names[] = {"keepends", NULL};
    if (!dict_check_kwargs(vm, kw, "splitlines", names)) {
        return false;
    }
    Value vkeep = argc > 1 ? args[1] : BOOL_VAL(false);
    Value *k = dict_get_cstr(kw, "keepends");
    if (k) {
        vkeep = *k;
    }
    bool keep;
    if (!ops_truthy(vm, vkeep, &keep)) {
        return false;
    }
    ObjList *out = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(out));
    size_t start = 0, i = 0;
    while (i < self->size) {
        int br = line_break(self, i);
        if (br) {
            push_piece(vm, out, self, start, keep ? i + (size_t)br : i);
            i += (size_t)br;
            start = i;
        } else {
            int len;
            str_decode_utf8(self->chars + i, &len);
            i += (size_t)len;
        }
    }
    if (start < self->size) {
        push_piece(vm, out, self, start, self->size);
    }
    gc_pop_root(vm);
    *result = OBJ_VAL(out);
    return true;
}

static bool m_join(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("join");
    ObjList *items;
    Value *vals;
    uint32_t n;
    bool rooted = false;
    if (IS_LIST(args[1])) {
        vals = AS_LIST(args[1])->items;
        n = AS_LIST(args[1])->count;
    } else if (IS_TUPLE(args[1])) {
        vals = AS_TUPLE(args[1])->items;
        n = AS_TUPLE(args[1])->count;
    } else {
        if (!list_from_iterable(vm, args[1], &items)) {
            if (exc_is(vm, vm->exception, vm->cls.TypeError) && !IS_INSTANCE(args[1])) {
                vm->exception = EMPTY_VAL;
                return exc_raise(vm, vm->cls.TypeError, "can only join an iterable");
            }
            return false;
        }
        gc_push_root(vm, OBJ_VAL(items));
        rooted = true;
        vals = items->items;
        n = items->count;
    }
    StrBuf b;
    strbuf_init(&b);
    for (uint32_t i = 0; i < n; i++) {
        if (!IS_STR(vals[i])) {
            strbuf_free(&b);
            if (rooted) {
                gc_pop_root(vm);
            }
            return exc_raise(vm, vm->cls.TypeError,
                             "sequence item %u: expected str instance, %s found", i,
                             tname(vm, vals[i]));
        }
        if (i > 0) {
            strbuf_add(&b, self->chars, self->size);
        }
        strbuf_add(&b, AS_STR(vals[i])->chars, AS_STR(vals[i])->size);
    }
    if (rooted) {
        gc_pop_root(vm);
    }
    return ret_str(vm, result, &b);
}

// ---- Searching -------------------------------------------------------------------------------

// find/rfind/index/rindex/count share argument handling: (sub[, start[, end]]).
static bool search(WkVM *vm, Value *args, int argc, bool reverse, bool raise, Value *result) {
    ObjStr *self = AS_STR(args[0]);
    ObjStr *sub = NULL;
    if (!IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError, "must be str, not %s", tname(vm, args[1]));
    }
    sub = AS_STR(args[1]);
    size_t lo, hi;
    bool err;
    int64_t at = -1;
    if (sub_range(vm, self, args, argc, 2, &lo, &hi, &err)) {
        at = reverse ? rfind_bytes(self->chars, lo, hi, sub->chars, sub->size)
                     : find_bytes(self->chars, lo, hi, sub->chars, sub->size);
    } else if (err) {
        return false;
    }
    if (at < 0) {
        if (raise) {
            return exc_raise(vm, vm->cls.ValueError, "substring not found");
        }
        *result = INT_VAL(-1);
        return true;
    }
    *result = INT_VAL(cp_index(self, (size_t)at));
    return true;
}

static bool m_find(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("find");
    (void)self;
    return search(vm, args, argc, false, false, result);
}

static bool m_rfind(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("rfind");
    (void)self;
    return search(vm, args, argc, true, false, result);
}

static bool m_index(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("index");
    (void)self;
    return search(vm, args, argc, false, true, result);
}

static bool m_rindex(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("rindex");
    (void)self;
    return search(vm, args, argc, true, true, result);
}

static bool m_count(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("count");
    ObjStr *sub = NULL;
    if (!want_str(vm, args[1], &sub)) {
        return false;
    }
    size_t lo, hi;
    bool err;
    int64_t n = 0;
    if (sub_range(vm, self, args, argc, 2, &lo, &hi, &err)) {
        if (sub->size == 0) {
            n = cp_index(self, hi) - cp_index(self, lo) + 1;
        } else {
            int64_t at;
            while ((at = find_bytes(self->chars, lo, hi, sub->chars, sub->size)) >= 0) {
                n++;
                lo = (size_t)at + sub->size;
            }
        }
    } else if (err) {
        return false;
    }
    *result = INT_VAL(n);
    return true;
}

// startswith/endswith: prefix is a str or a tuple of str.
static bool affix(WkVM *vm, Value *args, int argc, bool end, Value *result) {
    ObjStr *self = AS_STR(args[0]);
    const char *name = end ? "endswith" : "startswith";
    Value *cands = &args[1];
    uint32_t n = 1;
    if (IS_TUPLE(args[1])) {
        cands = AS_TUPLE(args[1])->items;
        n = AS_TUPLE(args[1])->count;
    } else if (!IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError,
                         "%s first arg must be str or a tuple of str, not %s", name,
                         tname(vm, args[1]));
    }
    size_t lo, hi;
    bool err;
    if (!sub_range(vm, self, args, argc, 2, &lo, &hi, &err)) {
        if (err) {
            return false;
        }
        *result = BOOL_VAL(false);
        return true;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (!IS_STR(cands[i])) {
            return exc_raise(vm, vm->cls.TypeError,
                             "tuple for %s must only contain str, not %s", name,
                             tname(vm, cands[i]));
        }
        ObjStr *p = AS_STR(cands[i]);
        if (hi - lo >= p->size &&
            memcmp(self->chars + (end ? hi - p->size : lo), p->chars, p->size) == 0) {
            *result = BOOL_VAL(true);
            return true;
        }
    }
    *result = BOOL_VAL(false);
    return true;
}

static bool m_startswith(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("startswith");
    (void)self;
    return affix(vm, args, argc, false, result);
}

static bool m_endswith(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("endswith");
    (void)self;
    return affix(vm, args, argc, true, result);
}

static bool m_replace(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("replace");
    ObjStr *old = NULL, *new_ = NULL;
    int64_t count = -1;
    if (!want_str(vm, args[1], &old) || !want_str(vm, args[2], &new_) ||
        !opt_int(vm, args, argc, 3, false, &count)) {
        return false;
    }
    if (count < 0) {
        count = INT64_MAX;
    }
    StrBuf b;
    strbuf_init(&b);
    size_t i = 0;
    if (old->size == 0) {
        while (count > 0 && i <= self->size) {
            strbuf_add(&b, new_->chars, new_->size);
            count--;
            if (i == self->size) {
                i++;
                break;
            }
            int len;
            str_decode_utf8(self->chars + i, &len);
            strbuf_add(&b, self->chars + i, (size_t)len);
            i += (size_t)len;
        }
        if (i < self->size) {
            strbuf_add(&b, self->chars + i, self->size - i);
        }
        return ret_str(vm, result, &b);
    }
    int64_t at;
    while (count > 0 && (at = find_bytes(self->chars, i, self->size, old->chars, old->size)) >= 0) {
        strbuf_add(&b, self->chars + i, (size_t)at - i);
        strbuf_add(&b, new_->chars, new_->size);
        i = (size_t)at + old->size;
        count--;
    }
    strbuf_add(&b, self->chars + i, self->size - i);
    return ret_str(vm, result, &b);
}

// (head, sep, tail) around the first (or last) [sep].
static bool do_partition(WkVM *vm, Value *args, bool reverse, Value *result) {
    ObjStr *self = AS_STR(args[0]);
    ObjStr *sep = NULL;
    if (!want_str(vm, args[1], &sep)) {
        return false;
    }
    if (sep->size == 0) {
        return exc_raise(vm, vm->cls.ValueError, "empty separator");
    }
    int64_t at = reverse ? rfind_bytes(self->chars, 0, self->size, sep->chars, sep->size)
                         : find_bytes(self->chars, 0, self->size, sep->chars, sep->size);
    ObjTuple *t = tuple_new(vm, 3);
    gc_push_root(vm, OBJ_VAL(t));
    ObjStr *empty = str_new(vm, "", 0);
    t->items[0] = t->items[1] = t->items[2] = OBJ_VAL(empty);
    if (at < 0) {
        t->items[reverse ? 2 : 0] = args[0];
    } else {
        t->items[0] = OBJ_VAL(str_new(vm, self->chars, (size_t)at));
        t->items[1] = args[1];
        size_t rest = (size_t)at + sep->size;
        t->items[2] = OBJ_VAL(str_new(vm, self->chars + rest, self->size - rest));
    }
    gc_pop_root(vm);
    *result = OBJ_VAL(t);
    return true;
}

static bool m_partition(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("partition");
    (void)self;
    return do_partition(vm, args, false, result);
}

static bool m_rpartition(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("rpartition");
    (void)self;
    return do_partition(vm, args, true, result);
}

static bool m_removeprefix(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("removeprefix");
    ObjStr *p = NULL;
    if (!want_str(vm, args[1], &p)) {
        return false;
    }
    if (p->size > 0 && p->size <= self->size && memcmp(self->chars, p->chars, p->size) == 0) {
        *result = OBJ_VAL(str_new(vm, self->chars + p->size, self->size - p->size));
    } else {
        *result = args[0];
    }
    return true;
}

static bool m_removesuffix(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("removesuffix");
    ObjStr *p = NULL;
    if (!want_str(vm, args[1], &p)) {
        return false;
    }
    if (p->size > 0 && p->size <= self->size &&
        memcmp(self->chars + self->size - p->size, p->chars, p->size) == 0) {
        *result = OBJ_VAL(str_new(vm, self->chars, self->size - p->size));
    } else {
        *result = args[0];
    }
    return true;
}

// ---- Padding ---------------------------------------------------------------------------------

// Pad [self] to [width] code points with [left] fills before and the rest after.
static bool pad(WkVM *vm, Value *args, int argc, const char *name, int mode, Value *result) {
    ObjStr *self = AS_STR(args[0]);
    int64_t width = 0;
    if (IS_FLOAT(args[1]) || IS_STR(args[1])) {
        return exc_raise(vm, vm->cls.TypeError,
                         "'%s' object cannot be interpreted as an integer", tname(vm, args[1]));
    }
    if (!ops_index(vm, args[1], &width)) {
        return false;
    }
    const char *fill = " ";
    size_t fill_size = 1;
    if (argc > 2) {
        if (!IS_STR(args[2])) {
            return exc_raise(vm, vm->cls.TypeError,
                             "%s() argument 2 must be str, not %s", name, tname(vm, args[2]));
        }
        if (AS_STR(args[2])->length != 1) {
            return exc_raise(vm, vm->cls.TypeError,
                             "The fill character must be exactly one character long");
        }
        fill = AS_STR(args[2])->chars;
        fill_size = AS_STR(args[2])->size;
    }
    if (width <= (int64_t)self->length) {
        *result = args[0];
        return true;
    }
    int64_t total = width - self->length, left;
    if (mode < 0) {
        left = 0;
    } else if (mode > 0) {
        left = total;
    } else {
        left = total / 2 + (total & width & 1);
    }
    StrBuf b;
    strbuf_init(&b);
    for (int64_t i = 0; i < left; i++) {
        strbuf_add(&b, fill, fill_size);
    }
    strbuf_add(&b, self->chars, self->size);
    for (int64_t i = left; i < total; i++) {
        strbuf_add(&b, fill, fill_size);
    }
    return ret_str(vm, result, &b);
}

static bool m_center(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("center");
    (void)self;
    return pad(vm, args, argc, "center", 0, result);
}

static bool m_ljust(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("ljust");
    (void)self;
    return pad(vm, args, argc, "ljust", -1, result);
}

static bool m_rjust(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("rjust");
    (void)self;
    return pad(vm, args, argc, "rjust", 1, result);
}

static bool m_zfill(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_STR("zfill");
    int64_t width = 0;
    if (!opt_int(vm, args, 2, 1, false, &width)) {
        return false;
    }
    if (width <= (int64_t)self->length) {
        *result = args[0];
        return true;
    }
    StrBuf b;
    strbuf_init(&b);
    size_t i = 0;
    if (self->size > 0 && (self->chars[0] == '+' || self->chars[0] == '-')) {
        strbuf_addc(&b, self->chars[0]);
        i = 1;
    }
    for (int64_t k = self->length; k < width; k++) {
        strbuf_addc(&b, '0');
    }
    strbuf_add(&b, self->chars + i, self->size - i);
    return ret_str(vm, result, &b);
}

static bool m_expandtabs(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_STR("expandtabs");
    int64_t tab = 8;
    if (!opt_int(vm, args, argc, 1, false, &tab)) {
        return false;
    }
    StrBuf b;
    strbuf_init(&b);
    int64_t col = 0;
    for (size_t i = 0; i < self->size;) {
        int len;
        uint32_t c = str_decode_utf8(self->chars + i, &len);
        if (c == '\t') {
            if (tab > 0) {
                int64_t n = tab - col % tab;
                for (int64_t k = 0; k < n; k++) {
                    strbuf_addc(&b, ' ');
                }
                col += n;
            }
        } else {
            strbuf_add(&b, self->chars + i, (size_t)len);
            col = (c == '\n' || c == '\r') ? 0 : col + 1;
        }
        i += (size_t)len;
    }
    return ret_str(vm, result, &b);
}

// ---- Registration ----------------------------------------------------------------------------

void str_init_class(WkVM *vm) {
    ObjClass *c = vm->cls.str;
    class_add_native(vm, c, "upper", m_upper, 1, 1, false);
    class_add_native(vm, c, "lower", m_lower, 1, 1, false);
    class_add_native(vm, c, "casefold", m_lower, 1, 1, false);
    class_add_native(vm, c, "swapcase", m_swapcase, 1, 1, false);
    class_add_native(vm, c, "title", m_title, 1, 1, false);
    class_add_native(vm, c, "capitalize", m_capitalize, 1, 1, false);
    class_add_native(vm, c, "isdigit", m_isdigit, 1, 1, false);
    class_add_native(vm, c, "isalpha", m_isalpha, 1, 1, false);
    class_add_native(vm, c, "isalnum", m_isalnum, 1, 1, false);
    class_add_native(vm, c, "isspace", m_isspace, 1, 1, false);
    class_add_native(vm, c, "isdecimal", m_isdecimal, 1, 1, false);
    class_add_native(vm, c, "isnumeric", m_isnumeric, 1, 1, false);
    class_add_native(vm, c, "isupper", m_isupper, 1, 1, false);
    class_add_native(vm, c, "islower", m_islower, 1, 1, false);
    class_add_native(vm, c, "istitle", m_istitle, 1, 1, false);
    class_add_native(vm, c, "isidentifier", m_isidentifier, 1, 1, false);
    class_add_native(vm, c, "isprintable", m_isprintable, 1, 1, false);
    class_add_native(vm, c, "isascii", m_isascii, 1, 1, false);
    class_add_native(vm, c, "strip", m_strip, 1, 2, false);
    class_add_native(vm, c, "lstrip", m_lstrip, 1, 2, false);
    class_add_native(vm, c, "rstrip", m_rstrip, 1, 2, false);
    class_add_native(vm, c, "split", m_split, 1, 3, true);
    class_add_native(vm, c, "rsplit", m_rsplit, 1, 3, true);
    class_add_native(vm, c, "splitlines", m_splitlines, 1, 2, true);
    class_add_native(vm, c, "join", m_join, 2, 2, false);
    class_add_native(vm, c, "find", m_find, 2, 4, false);
    class_add_native(vm, c, "rfind", m_rfind, 2, 4, false);
    class_add_native(vm, c, "index", m_index, 2, 4, false);
    class_add_native(vm, c, "rindex", m_rindex, 2, 4, false);
    class_add_native(vm, c, "count", m_count, 2, 4, false);
    class_add_native(vm, c, "startswith", m_startswith, 2, 4, false);
    class_add_native(vm, c, "endswith", m_endswith, 2, 4, false);
    class_add_native(vm, c, "replace", m_replace, 3, 4, false);
    class_add_native(vm, c, "partition", m_partition, 2, 2, false);
    class_add_native(vm, c, "rpartition", m_rpartition, 2, 2, false);
    class_add_native(vm, c, "removeprefix", m_removeprefix, 2, 2, false);
    class_add_native(vm, c, "removesuffix", m_removesuffix, 2, 2, false);
    class_add_native(vm, c, "center", m_center, 2, 3, false);
    class_add_native(vm, c, "ljust", m_ljust, 2, 3, false);
    class_add_native(vm, c, "rjust", m_rjust, 2, 3, false);
    class_add_native(vm, c, "zfill", m_zfill, 2, 2, false);
    class_add_native(vm, c, "expandtabs", m_expandtabs, 1, 2, false);
}
