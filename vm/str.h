// Strings: immutable UTF-8 with cached hash and code-point length; the weak intern table;
// the str type's methods.
#ifndef WK_VM_STR_H
#define WK_VM_STR_H

#include "vm/config.h"
#include "vm/vm.h"

// A string with a copy of [size] bytes of valid UTF-8 [chars] (may allocate). Not interned
// (only the empty and one-byte strings are): compare with str_equal, not by pointer.
ObjStr *str_new(WkVM *vm, const char *chars, size_t size);
// Always interned (names, attribute names, constants).
ObjStr *str_intern(WkVM *vm, const char *chars, size_t size);
ObjStr *str_from_cstr(WkVM *vm, const char *cstr);
// printf-style formatting into a new string.
ObjStr *str_printf(WkVM *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// a + b.
ObjStr *str_concat(WkVM *vm, ObjStr *a, ObjStr *b);
bool str_equal(ObjStr *a, ObjStr *b);
uint64_t str_hash_bytes(const char *chars, size_t size);
// The hash of [s], computed on first use and cached (0 means "not yet": str_hash_bytes never
// returns 0). Most runtime strings are never hashed, so creation does not pay for it.
static inline uint64_t str_hash(ObjStr *s) {
    if (s->hash == 0) {
        s->hash = str_hash_bytes(s->chars, s->size);
    }
    return s->hash;
}
// The intern table is weak: drop entries for strings that are dying (gc phase).
void str_drop_dying(WkVM *vm);
// Register the str class's methods (upper, split, join, ...).
void str_init_class(WkVM *vm);

// A growable byte buffer for building strings in C memory (no GC allocation until the end).
// Text up to STRBUF_INLINE bytes stays in the struct itself (no malloc): most strings a
// program builds are short. Don't copy a StrBuf by value.
#define STRBUF_INLINE 120
typedef struct {
    char *chars;
    size_t size, capacity;
    char small[STRBUF_INLINE];
} StrBuf;
void strbuf_init(StrBuf *b);
void strbuf_add(StrBuf *b, const char *chars, size_t size);
void strbuf_addc(StrBuf *b, char c);
void strbuf_addf(StrBuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_free(StrBuf *b);
// Turn the buffer into a string and free the buffer.
ObjStr *strbuf_finish(WkVM *vm, StrBuf *b);

// ---- Helpers for the protocols (vm/ops.c) and builtins --------------------------------------

// s[key] for an int (IndexError "string index out of range") or a slice (a new string).
// May allocate.
WK_NODISCARD bool str_getitem(WkVM *vm, ObjStr *s, Value key, Value *out);
// s * n into [*out] ("" for n <= 0); MemoryError for absurd sizes. May allocate.
WK_NODISCARD bool str_repeat(WkVM *vm, ObjStr *s, int64_t n, ObjStr **out);
// repr(s) with CPython's quoting (may allocate; never raises).
ObjStr *str_repr(WkVM *vm, ObjStr *s);
// Order of [a] and [b] by code point: <0, 0 or >0. Pure.
int str_compare(ObjStr *a, ObjStr *b);
// [needle] in [hay]. Pure.
bool str_contains(ObjStr *hay, ObjStr *needle);
// The code point [cp] (< 0x110000) as a one-character string (chr; may allocate).
ObjStr *str_from_codepoint(WkVM *vm, uint32_t cp);
// Decode the UTF-8 code point at [s] (valid UTF-8); its byte length into [*len]. Pure.
uint32_t str_decode_utf8(const char *s, int *len);
// Encode [cp] as UTF-8 into [out] (4 bytes room); returns the byte count. Pure.
int str_encode_utf8(uint32_t cp, char *out);
// Count the code points in [size] bytes of UTF-8 [chars]; [*ascii] tells all are < 0x80. Pure.
size_t str_utf8_length(const char *chars, size_t size, bool *ascii);
// Byte offset of code point [index] (0 <= index <= length) in [s]. Pure.
size_t str_byte_offset(ObjStr *s, int64_t index);
// Append [size] bytes of [chars] to [b] as a quoted Python literal (the body of str_repr).
// Pure (C memory only).
void str_repr_to(StrBuf *b, const char *chars, size_t size);

#endif
