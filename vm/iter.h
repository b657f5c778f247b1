// The built-in iterators (ObjIter, tagged by IterKind) and range/slice objects.
#ifndef WK_VM_ITER_H
#define WK_VM_ITER_H

#include "vm/config.h"
#include "vm/vm.h"

// Dict views (d.keys(), d.values(), d.items()) are ObjIter objects of kind ITER_DICT_KEYS,
// ITER_DICT_VALUES or ITER_DICT_ITEMS with ITER_FLAG_VIEW in their header's flags: iterating
// a view makes a fresh (non-view) iterator; views support len, `in` and repr.
#define ITER_FLAG_VIEW 0x01

// A new iterator of [kind] over [source] (may allocate). For dict and set sources [extra]
// holds the size at the start and [version] the container's version, so that a change of
// size raises RuntimeError; ITER_REVERSED starts at the last item.
ObjIter *iter_new(WkVM *vm, IterKind kind, Value source);
// Advance [it]: *done true when exhausted (RuntimeError when a dict/set changed size).
WK_NODISCARD bool iter_next(WkVM *vm, ObjIter *it, Value *out, bool *done);
ObjRange *range_new(WkVM *vm, int64_t start, int64_t stop, int64_t step);
// A list iterator [it] has run out: it lets its list go, as CPython's does (a weak reference
// to the list can die), and stays exhausted as a plain finished sequence iterator (still a
// "list_iterator"), which the dispatch loop's ITER_LIST fast path no longer takes.
static inline void iter_list_exhausted(ObjIter *it) {
    it->kind = ITER_SEQ;
    it->source = NONE_VAL;
}
// Item [i] of [r]: start + i * step in wrapping arithmetic, so an item that fits in 64 bits
// comes out right even when i * step alone does not (no signed overflow).
static inline int64_t range_at(const ObjRange *r, int64_t i) {
    return (int64_t)((uint64_t)r->start + (uint64_t)i * (uint64_t)r->step);
}
ObjSlice *slice_new(WkVM *vm, Value start, Value stop, Value step);
// Resolve [s] against a sequence of [length]: start, stop, step and the item count, as
// PySlice_AdjustIndices does. ValueError for step 0.
WK_NODISCARD bool slice_indices(WkVM *vm, ObjSlice *s, int64_t length, int64_t *start,
                                int64_t *stop, int64_t *step, int64_t *count);
// ---- Helpers for the protocols (vm/ops.c) and builtins --------------------------------------

// iter(it): a view gives a new iterator over its dict; any other iterator is itself.
WK_NODISCARD bool iter_iter(WkVM *vm, ObjIter *it, Value *out);
// A dict view of [d] for [kind] ITER_DICT_KEYS/VALUES/ITEMS (may allocate).
ObjIter *iter_new_view(WkVM *vm, IterKind kind, ObjDict *d);
// len(view) (TypeError for plain iterators), `x in view`.
WK_NODISCARD bool iter_len(WkVM *vm, ObjIter *it, int64_t *out);
WK_NODISCARD bool iter_contains(WkVM *vm, ObjIter *it, Value item, bool *out);
// repr: "dict_keys(['a'])" for views, "<list_iterator object at 0x...>" otherwise.
WK_NODISCARD bool iter_repr(WkVM *vm, ObjIter *it, ObjStr **out);
// The Python type name of [it] ("list_iterator", "dict_keys", "enumerate", "zip", ...).
const char *iter_type_name(ObjIter *it);
// enumerate(iterable, start), zip(*iterables), map(f, *iterables), filter(f, iterable),
// reversed(seq) for lists, tuples, strs and ranges (others: the caller uses __reversed__ or
// the sequence protocol), iter(f, sentinel). May call __iter__.
WK_NODISCARD bool iter_enumerate(WkVM *vm, Value iterable, int64_t start, Value *out);
WK_NODISCARD bool iter_zip(WkVM *vm, int argc, Value *iterables, Value *out);
WK_NODISCARD bool iter_map(WkVM *vm, Value func, int argc, Value *iterables, Value *out);
WK_NODISCARD bool iter_filter(WkVM *vm, Value func, Value iterable, Value *out);
WK_NODISCARD bool iter_reversed(WkVM *vm, Value seq, Value *out);
ObjIter *iter_callable(WkVM *vm, Value func, Value sentinel);
// range(...) pieces: len, item at an int index (IndexError "range object index out of
// range"), slicing to a range, `in` for ints (O(1)), repr, equality as sequences.
WK_NODISCARD bool range_getitem(WkVM *vm, ObjRange *r, Value key, Value *out);
bool range_contains_int(ObjRange *r, int64_t v);
ObjStr *range_repr(WkVM *vm, ObjRange *r);
bool range_equal(ObjRange *a, ObjRange *b);
// range(...) from 1 to 3 int arguments (ValueError "range() arg 3 must not be zero").
WK_NODISCARD bool range_from_args(WkVM *vm, int argc, Value *args, Value *out);
// Pure slice arithmetic: PySlice_AdjustIndices on already-defaulted values. [step] != 0.
int64_t slice_adjust(int64_t length, int64_t *start, int64_t *stop, int64_t step);
// repr(slice): "slice(1, 2, None)". May call __repr__.
WK_NODISCARD bool slice_repr(WkVM *vm, ObjSlice *s, ObjStr **out);

void iter_init_class(WkVM *vm);

#endif
