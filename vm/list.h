// Lists and tuples: construction, growth, and the list/tuple types' methods.
#ifndef WK_VM_LIST_H
#define WK_VM_LIST_H

#include "vm/config.h"
#include "vm/vm.h"

ObjList *list_new(WkVM *vm, uint32_t capacity);
// Append [v] (may allocate; [l] must be reachable or rooted).
void list_append(WkVM *vm, ObjList *l, Value v);
// The native behind list.append (args[0] the list): the dispatch loop recognises it to append
// in place of the call when a statement is `xs.append(x)` on an exact list.
bool list_m_append(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result);
// l.extend(iterable).
WK_NODISCARD bool list_extend(WkVM *vm, ObjList *l, Value iterable);
// A tuple of [count] items, all None (fill them before the next allocation or root it).
ObjTuple *tuple_new(WkVM *vm, uint32_t count);
// A tuple copying [count] [items].
ObjTuple *tuple_from(WkVM *vm, const Value *items, uint32_t count);
// A new list/tuple of the items of [iterable] (list(x), tuple(x), unpacking).
WK_NODISCARD bool list_from_iterable(WkVM *vm, Value iterable, ObjList **out);
// Stable sort of [l] in place by [key] (NONE: the items) with __lt__, as list.sort does.
WK_NODISCARD bool list_sort(WkVM *vm, ObjList *l, Value key, bool reverse);
// ---- Helpers for the protocols (vm/ops.c) and builtins --------------------------------------
// [seq] below is a list or a tuple Value; operations that mix kinds are the caller's TypeError.

// seq[key] for an int or a slice ("list index out of range", "tuple index out of range").
WK_NODISCARD bool list_getitem(WkVM *vm, Value seq, Value key, Value *out);
// l[key] = v (slice assignment of any iterable, extended slices of equal length) and del l[key].
WK_NODISCARD bool list_setitem(WkVM *vm, ObjList *l, Value key, Value v);
WK_NODISCARD bool list_delitem(WkVM *vm, ObjList *l, Value key);
// a + b for two lists or two tuples (same kind), a new object. May allocate.
WK_NODISCARD bool list_concat(WkVM *vm, Value a, Value b, Value *out);
// seq * n (n <= 0: empty). MemoryError for absurd sizes. May allocate.
WK_NODISCARD bool list_repeat(WkVM *vm, Value seq, int64_t n, Value *out);
// repr of a list or tuple: "(1,)", "[...]" for a list inside itself. May call __repr__.
WK_NODISCARD bool list_repr(WkVM *vm, Value seq, ObjStr **out);
// Equality of two lists or two tuples (same kind). May call __eq__.
WK_NODISCARD bool list_equal(WkVM *vm, Value a, Value b, bool *out);
// Lexicographic a OP b for [op] in OPCODE_LT..OPCODE_GE (vm/opcode.h), same kinds.
WK_NODISCARD bool list_compare(WkVM *vm, int op, Value a, Value b, Value *out);
// item in seq (identity, then ==).
WK_NODISCARD bool list_contains(WkVM *vm, Value seq, Value item, bool *out);
// hash(t): TypeError when an item is unhashable. Cached in the tuple.
WK_NODISCARD bool tuple_hash(WkVM *vm, ObjTuple *t, uint64_t *out);
// Size in bytes of a tuple of [count] items (what gc_alloc_object was given).
size_t tuple_size(uint32_t count);

void list_init_class(WkVM *vm);
void tuple_init_class(WkVM *vm);

#endif
