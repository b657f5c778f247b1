// The object protocols: operators with their dunder dispatch and reflected forms, equality,
// hashing, truth, repr/str/format, containment, subscripts, iteration and len. The VM's
// dispatch loop handles the int/float fast paths itself and calls these for the rest.
// Every function may call back into wk code (dunders), so it may allocate and raise.
#ifndef WK_VM_OPS_H
#define WK_VM_OPS_H

#include "vm/config.h"
#include "vm/vm.h"

// The hash of an object hashed by identity (object.__hash__, and ops_hash of objects without
// __hash__): its address rotated right by 3 bits, kept non-negative. Heap objects are 8-byte
// aligned, so the bits rotated to the top are zero and no two live objects share a hash, and
// objects made in a row get hashes in a row (neighbouring table slots).
static inline uint64_t ops_pointer_hash(const void *p) {
    uint64_t y = (uint64_t)(uintptr_t)p;
    return ((y >> 3) | (y << 61)) & (uint64_t)INT64_MAX;
}

// a OP b for [op] in OPCODE_ADD..OPCODE_BXOR (vm/opcode.h). TypeError as CPython words it:
// "unsupported operand type(s) for +: 'int' and 'str'".
WK_NODISCARD bool ops_binary(WkVM *vm, int op, Value a, Value b, Value *out);
// a OP= b: tries __iop__ (and list +=, which extends in place), then ops_binary.
WK_NODISCARD bool ops_inplace(WkVM *vm, int op, Value a, Value b, Value *out);
// OPCODE_NEG, OPCODE_POS, OPCODE_INVERT.
WK_NODISCARD bool ops_unary(WkVM *vm, int op, Value a, Value *out);
// OPCODE_LT..OPCODE_GE: rich comparison with reflection; may return any value.
WK_NODISCARD bool ops_compare(WkVM *vm, int op, Value a, Value b, Value *out);
// a == b as a C bool (containers, dict keys, `in`).
WK_NODISCARD bool ops_equal(WkVM *vm, Value a, Value b, bool *out);
// bool(v).
WK_NODISCARD bool ops_truthy(WkVM *vm, Value v, bool *out);
// hash(v); equal numbers hash equal (CPython's numeric hash). TypeError: unhashable type.
WK_NODISCARD bool ops_hash(WkVM *vm, Value v, uint64_t *out);
// repr(v), str(v), format(v, spec) (spec NULL = "").
WK_NODISCARD bool ops_repr(WkVM *vm, Value v, ObjStr **out);
WK_NODISCARD bool ops_str(WkVM *vm, Value v, ObjStr **out);
WK_NODISCARD bool ops_format(WkVM *vm, Value v, ObjStr *spec, ObjStr **out);
// item in container.
WK_NODISCARD bool ops_contains(WkVM *vm, Value container, Value item, bool *out);
// obj[key], obj[key] = v, del obj[key] (slices included).
WK_NODISCARD bool ops_getitem(WkVM *vm, Value obj, Value key, Value *out);
WK_NODISCARD bool ops_setitem(WkVM *vm, Value obj, Value key, Value v);
WK_NODISCARD bool ops_delitem(WkVM *vm, Value obj, Value key);
// iter(obj); next(it): *done true (and no exception) when exhausted.
WK_NODISCARD bool ops_iter(WkVM *vm, Value obj, Value *out);
WK_NODISCARD bool ops_next(WkVM *vm, Value it, Value *out, bool *done);
// Call [fn]([item], [ctx]) for every item of [iterable], stopping at the first false (an
// error). Each item is rooted while [fn] runs. May run wk code (iterators) and collect.
typedef bool (*OpsEachFn)(WkVM *vm, Value item, void *ctx);
WK_NODISCARD bool ops_each(WkVM *vm, Value iterable, OpsEachFn fn, void *ctx);
// Fold [iterable] with the binary operator [op] (OPCODE_ADD for sum, OPCODE_MUL for prod)
// starting from [start]: *out = start op x1 op x2 ... May run wk code and collect.
WK_NODISCARD bool ops_fold(WkVM *vm, Value iterable, int op, Value start, Value *out);
// len(obj).
WK_NODISCARD bool ops_len(WkVM *vm, Value obj, int64_t *out);
// The index value of [v] for subscripts (int, bool, __index__); TypeError otherwise.
WK_NODISCARD bool ops_index(WkVM *vm, Value v, int64_t *out);

#endif
