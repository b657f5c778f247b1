// Lists (a growable Value array owned by the list) and tuples (one block), the sequence
// helpers ops.c dispatches to (subscripts, slices, concatenation, repetition, repr, equality,
// ordering, hashing, `in`), the stable merge sort, and the list/tuple types' methods.
// Anything that compares items may run user code: indexes are re-checked after each call.
#include "vm/list.h"

#include <stdlib.h>
#include <string.h>

#include "gc/gc.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/iter.h"
#include "vm/opcode.h"
#include "vm/ops.h"
#include "vm/str.h"

#define REPR_BUSY 0x01 // Obj.flags of a list whose repr is being built ("[...]")

static const char *tname(WkVM *vm, Value v) {
    return class_of(vm, v)->name->chars;
}

// ---- Construction ----------------------------------------------------------------------------

ObjList *list_new(WkVM *vm, uint32_t capacity) {
    Value *items = NULL;
    if (capacity > 0) {
        items = gc_realloc(vm, NULL, 0, sizeof(Value) * capacity);
    }
    ObjList *l = (ObjList *)gc_alloc_object(vm, sizeof(ObjList), OBJ_LIST);
    l->items = items;
    l->count = 0;
    l->capacity = capacity;
    return l;
}

// Make room for [need] items in total. [keep] (maybe unrooted) survives a collection.
static void reserve(WkVM *vm, ObjList *l, uint32_t need, Value keep) {
    if (need <= l->capacity) {
        return;
    }
    uint32_t cap = l->capacity < 8 ? 8 : l->capacity;
    while (cap < need) {
        cap = cap + (cap >> 1) + 8;
    }
    gc_push_root(vm, keep);
    l->items = gc_realloc(vm, l->items, sizeof(Value) * l->capacity, sizeof(Value) * cap);
    l->capacity = cap;
    gc_pop_root(vm);
}

// list_append on a full list: grow, then store. Out of line, so that the common append
// (m_append, the VM's list building) saves no registers around a call it does not make.
static __attribute__((noinline)) void append_grow(WkVM *vm, ObjList *l, Value v) {
    reserve(vm, l, l->count + 1, v);
    l->items[l->count++] = v;
}

void list_append(WkVM *vm, ObjList *l, Value v) {
    if (l->count == l->capacity) {
        append_grow(vm, l, v);
        return;
    }
    l->items[l->count++] = v;
}

size_t tuple_size(uint32_t count) {
    return sizeof(ObjTuple) + sizeof(Value) * count;
}

ObjTuple *tuple_new(WkVM *vm, uint32_t count) {
    ObjTuple *t = (ObjTuple *)gc_alloc_object(vm, tuple_size(count), OBJ_TUPLE);
    t->count = count;
    t->hash = 0;
    for (uint32_t i = 0; i < count; i++) {
        t->items[i] = NONE_VAL;
    }
    return t;
}

ObjTuple *tuple_from(WkVM *vm, const Value *items, uint32_t count) {
    ObjTuple *t = tuple_new(vm, count);
    if (count > 0) {
        memcpy(t->items, items, sizeof(Value) * count);
    }
    return t;
}

// The items of a list or tuple value.
static Value *seq_items(Value seq, uint32_t *count) {
    if (IS_LIST(seq)) {
        *count = AS_LIST(seq)->count;
        return AS_LIST(seq)->items;
    }
    *count = AS_TUPLE(seq)->count;
    return AS_TUPLE(seq)->items;
}

static bool append_item(WkVM *vm, Value item, void *list) {
    list_append(vm, list, item);
    return true;
}

// A range knows its length: allocate once, and turn an absurd size (list(range(10**10)))
// into MemoryError at once instead of growing until the machine runs out.
static bool extend_range(WkVM *vm, ObjList *l, ObjRange *r) {
    if (r->length > (int64_t)(UINT32_MAX / 2) - (int64_t)l->count) {
        return exc_raise(vm, vm->cls.MemoryError, "%s", "");
    }
    uint32_t need = l->count + (uint32_t)r->length;
    if (need > l->capacity) {
        Value *items = gc_try_realloc(vm, l->items, sizeof(Value) * l->capacity,
                                      sizeof(Value) * need);
        if (items == NULL) {
            return false;
        }
        l->items = items;
        l->capacity = need;
    }
    for (int64_t i = 0; i < r->length; i++) {
        l->items[l->count++] = INT_VAL(range_at(r, i));
    }
    return true;
}

bool list_extend(WkVM *vm, ObjList *l, Value iterable) {
    if (IS_LIST(iterable) || IS_TUPLE(iterable)) {
        uint32_t n;
        seq_items(iterable, &n);
        reserve(vm, l, l->count + n, NONE_VAL);
        Value *src = seq_items(iterable, &n); // re-read: l may be iterable itself
        if (n > 0) {
            memmove(l->items + l->count, src, sizeof(Value) * n);
            l->count += n;
        }
        return true;
    }
    if (IS_KIND(iterable, OBJ_RANGE)) {
        return extend_range(vm, l, (ObjRange *)AS_OBJ(iterable));
    }
    return ops_each(vm, iterable, append_item, l);
}

bool list_from_iterable(WkVM *vm, Value iterable, ObjList **out) {
    uint32_t n = 0;
    if (IS_LIST(iterable) || IS_TUPLE(iterable)) {
        seq_items(iterable, &n);
    }
    ObjList *l = list_new(vm, n);
    gc_push_root(vm, OBJ_VAL(l));
    bool ok = list_extend(vm, l, iterable);
    gc_pop_root(vm);
    *out = l;
    return ok;
}

// ---- Indexes and slices ----------------------------------------------------------------------

// The int index in [key] for a sequence of kind [what] ("list", "tuple").
static bool seq_index(WkVM *vm, Value key, const char *what, int64_t *out) {
    if (IS_INT(key)) {
        *out = AS_INT(key);
        return true;
    }
    if (IS_BOOL(key)) {
        *out = AS_BOOL(key);
        return true;
    }
    if (IS_INSTANCE(key)) {
        return ops_index(vm, key, out);
    }
    return exc_raise(vm, vm->cls.TypeError, "%s indices must be integers or slices, not %s",
                     what, tname(vm, key));
}

bool list_getitem(WkVM *vm, Value seq, Value key, Value *out) {
    bool is_list = IS_LIST(seq);
    const char *what = is_list ? "list" : "tuple";
    uint32_t n;
    seq_items(seq, &n);
    if (IS_KIND(key, OBJ_SLICE)) {
        int64_t start, stop, step, count;
        if (!slice_indices(vm, (ObjSlice *)AS_OBJ(key), n, &start, &stop, &step, &count)) {
            return false;
        }
        if (!is_list && step == 1 && count == (int64_t)n) {
            *out = seq;
            return true;
        }
        Value *dst;
        Value res;
        if (is_list) {
            ObjList *l = list_new(vm, (uint32_t)count);
            l->count = (uint32_t)count;
            dst = l->items;
            res = OBJ_VAL(l);
        } else {
            ObjTuple *t = tuple_new(vm, (uint32_t)count);
            dst = t->items;
            res = OBJ_VAL(t);
        }
        Value *src = seq_items(seq, &n);
        for (int64_t i = 0, j = start; i < count; i++, j += step) {
            dst[i] = src[j];
        }
        *out = res;
        return true;
    }
    int64_t i;
    if (!seq_index(vm, key, what, &i)) {
        return false;
    }
    Value *items = seq_items(seq, &n);
    if (i < 0) {
        i += n;
    }
    if (i < 0 || i >= (int64_t)n) {
        return exc_raise(vm, vm->cls.IndexError, "%s index out of range", what);
    }
    *out = items[i];
    return true;
}

// Replace items [lo, hi) of [l] by the [n] values [src] (which may alias l's own items:
// callers pass a copy then).
static void replace_range(WkVM *vm, ObjList *l, uint32_t lo, uint32_t hi, const Value *src,
                          uint32_t n, Value keep) {
    uint32_t old = hi - lo;
    if (n > old) {
        reserve(vm, l, l->count + (n - old), keep);
    }
    if (l->count > hi) {
        memmove(l->items + lo + n, l->items + hi, sizeof(Value) * (l->count - hi));
    }
    if (n > 0) {
        memcpy(l->items + lo, src, sizeof(Value) * n);
    }
    l->count = l->count + n - old;
}

static bool set_slice(WkVM *vm, ObjList *l, ObjSlice *sl, Value v) {
    ObjList *tmp;
    if (!list_from_iterable(vm, v, &tmp)) {
        if (exc_is(vm, vm->exception, vm->cls.TypeError) && !IS_INSTANCE(v)) {
            vm->exception = EMPTY_VAL;
            return exc_raise(vm, vm->cls.TypeError, "can only assign an iterable");
        }
        return false;
    }
    gc_push_root(vm, OBJ_VAL(tmp));
    int64_t start, stop, step, count;
    if (!slice_indices(vm, sl, l->count, &start, &stop, &step, &count)) {
        gc_pop_root(vm);
        return false;
    }
    if (step == 1) {
        if (stop < start) {
            stop = start;
        }
        replace_range(vm, l, (uint32_t)start, (uint32_t)stop, tmp->items, tmp->count,
                      OBJ_VAL(tmp));
    } else if ((int64_t)tmp->count != count) {
        gc_pop_root(vm);
        return exc_raise(vm, vm->cls.ValueError,
                         "attempt to assign sequence of size %u to extended slice of size %lld",
                         tmp->count, (long long)count);
    } else {
        for (int64_t i = 0, j = start; i < count; i++, j += step) {
            l->items[j] = tmp->items[i];
        }
    }
    gc_pop_root(vm);
    return true;
}

bool list_setitem(WkVM *vm, ObjList *l, Value key, Value v) {
    if (IS_KIND(key, OBJ_SLICE)) {
        return set_slice(vm, l, (ObjSlice *)AS_OBJ(key), v);
    }
    int64_t i;
    if (!seq_index(vm, key, "list", &i)) {
        return false;
    }
    if (i < 0) {
        i += l->count;
    }
    if (i < 0 || i >= (int64_t)l->count) {
        return exc_raise(vm, vm->cls.IndexError, "list assignment index out of range");
    }
    l->items[i] = v;
    return true;
}

// Remove items [lo, hi) of [l].
static void remove_range(ObjList *l, uint32_t lo, uint32_t hi) {
    if (hi > lo && l->count > hi) {
        memmove(l->items + lo, l->items + hi, sizeof(Value) * (l->count - hi));
    }
    l->count -= hi - lo;
}

bool list_delitem(WkVM *vm, ObjList *l, Value key) {
    if (IS_KIND(key, OBJ_SLICE)) {
        int64_t start, stop, step, count;
        if (!slice_indices(vm, (ObjSlice *)AS_OBJ(key), l->count, &start, &stop, &step,
                           &count)) {
            return false;
        }
        if (count <= 0) {
            return true;
        }
        if (step < 0) {
            start = start + (count - 1) * step;
            step = -step;
        }
        if (step == 1) {
            remove_range(l, (uint32_t)start, (uint32_t)(start + count));
            return true;
        }
        uint32_t w = (uint32_t)start;
        int64_t next = start, removed = 0;
        for (uint32_t r = (uint32_t)start; r < l->count; r++) {
            if (removed < count && r == next) {
                removed++;
                next += step;
                continue;
            }
            l->items[w++] = l->items[r];
        }
        l->count = w;
        return true;
    }
    int64_t i;
    if (!seq_index(vm, key, "list", &i)) {
        return false;
    }
    if (i < 0) {
        i += l->count;
    }
    if (i < 0 || i >= (int64_t)l->count) {
        return exc_raise(vm, vm->cls.IndexError, "list assignment index out of range");
    }
    remove_range(l, (uint32_t)i, (uint32_t)i + 1);
    return true;
}

// ---- Operators -------------------------------------------------------------------------------

bool list_concat(WkVM *vm, Value a, Value b, Value *out) {
    bool is_list = IS_LIST(a);
    if (is_list ? !IS_LIST(b) : !IS_TUPLE(b)) {
        return exc_raise(vm, vm->cls.TypeError, "can only concatenate %s (not \"%s\") to %s",
                         is_list ? "list" : "tuple", tname(vm, b), is_list ? "list" : "tuple");
    }
    uint32_t na, nb;
    seq_items(a, &na);
    seq_items(b, &nb);
    if ((uint64_t)na + nb > 0x7fffffffU) {
        return exc_raise_value(vm, OBJ_VAL(vm->cls.MemoryError));
    }
    Value *dst;
    if (is_list) {
        ObjList *l = list_new(vm, na + nb);
        l->count = na + nb;
        dst = l->items;
        *out = OBJ_VAL(l);
    } else {
        ObjTuple *t = tuple_new(vm, na + nb);
        dst = t->items;
        *out = OBJ_VAL(t);
    }
    Value *ia = seq_items(a, &na), *ib = seq_items(b, &nb);
    if (na > 0) {
        memcpy(dst, ia, sizeof(Value) * na);
    }
    if (nb > 0) {
        memcpy(dst + na, ib, sizeof(Value) * nb);
    }
    return true;
}

bool list_repeat(WkVM *vm, Value seq, int64_t n, Value *out) {
    bool is_list = IS_LIST(seq);
    uint32_t count;
    seq_items(seq, &count);
    if (n < 0 || count == 0) {
        n = 0;
    }
    if (!is_list && n == 1) {
        *out = seq;
        return true;
    }
    if (n > 0 && (uint64_t)n > 0x7fffffffU / count) {
        return exc_raise_value(vm, OBJ_VAL(vm->cls.MemoryError));
    }
    uint32_t total = (uint32_t)(n * count);
    Value *dst;
    if (is_list) {
        Value *items = NULL;
        if (total > 0) {
            items = gc_try_realloc(vm, NULL, 0, sizeof(Value) * total);
            if (!items) {
                return false;
            }
        }
        ObjList *l = (ObjList *)gc_alloc_object(vm, sizeof(ObjList), OBJ_LIST);
        l->items = items;
        l->count = l->capacity = total;
        dst = items;
        *out = OBJ_VAL(l);
    } else {
        if (total > (1u << 22)) {
            void *probe = gc_try_realloc(vm, NULL, 0, tuple_size(total));
            if (!probe) {
                return false;
            }
            gc_free(vm, probe, tuple_size(total));
        }
        ObjTuple *t = tuple_new(vm, total);
        dst = t->items;
        *out = OBJ_VAL(t);
    }
    Value *src = seq_items(seq, &count);
    if (count == 1) {
        for (uint32_t i = 0; i < total; i++) {
            dst[i] = src[0];
        }
    } else {
        for (uint32_t i = 0; i < total; i += count) {
            memcpy(dst + i, src, sizeof(Value) * count);
        }
    }
    return true;
}

bool list_repr(WkVM *vm, Value seq, ObjStr **out) {
    bool is_list = IS_LIST(seq);
    Obj *o = AS_OBJ(seq);
    if (o->flags & REPR_BUSY) {
        *out = str_new(vm, is_list ? "[...]" : "(...)", 5);
        return true;
    }
    o->flags |= REPR_BUSY;
    StrBuf b;
    strbuf_init(&b);
    strbuf_addc(&b, is_list ? '[' : '(');
    uint32_t n;
    for (uint32_t i = 0; i < (seq_items(seq, &n), n); i++) {
        ObjStr *r;
        if (!ops_repr(vm, seq_items(seq, &n)[i], &r)) {
            o->flags &= (uint8_t)~REPR_BUSY;
            strbuf_free(&b);
            return false;
        }
        if (i > 0) {
            strbuf_add(&b, ", ", 2);
        }
        strbuf_add(&b, r->chars, r->size);
    }
    o->flags &= (uint8_t)~REPR_BUSY;
    seq_items(seq, &n);
    if (!is_list && n == 1) {
        strbuf_addc(&b, ',');
    }
    strbuf_addc(&b, is_list ? ']' : ')');
    *out = strbuf_finish(vm, &b);
    return true;
}

// The first index where [a] and [b] differ (identity, then ==), re-reading both after each
// user call; *i is the shorter length when they agree that far.
static bool first_difference(WkVM *vm, Value a, Value b, uint32_t *i) {
    uint32_t na, nb;
    for (*i = 0;; (*i)++) {
        Value *ia = seq_items(a, &na), *ib = seq_items(b, &nb);
        if (*i >= na || *i >= nb) {
            return true;
        }
        Value x = ia[*i], y = ib[*i];
        if (value_is(x, y)) {
            continue;
        }
        bool eq;
        if (!ops_equal(vm, x, y, &eq)) {
            return false;
        }
        if (!eq) {
            return true;
        }
    }
}

bool list_equal(WkVM *vm, Value a, Value b, bool *out) {
    uint32_t na, nb;
    seq_items(a, &na);
    seq_items(b, &nb);
    if (na != nb) {
        *out = false;
        return true;
    }
    if (value_is(a, b)) {
        *out = true;
        return true;
    }
    uint32_t i;
    if (!first_difference(vm, a, b, &i)) {
        return false;
    }
    seq_items(a, &na);
    seq_items(b, &nb);
    *out = i >= na && i >= nb && na == nb;
    return true;
}

static bool cmp_ints(int op, int64_t x, int64_t y) {
    switch (op) {
    case OPCODE_LT:
        return x < y;
    case OPCODE_LE:
        return x <= y;
    case OPCODE_EQ:
        return x == y;
    case OPCODE_NE:
        return x != y;
    case OPCODE_GT:
        return x > y;
    default:
        return x >= y;
    }
}

bool list_compare(WkVM *vm, int op, Value a, Value b, Value *out) {
    if (op == OPCODE_EQ || op == OPCODE_NE) {
        bool eq;
        if (!list_equal(vm, a, b, &eq)) {
            return false;
        }
        *out = BOOL_VAL(op == OPCODE_EQ ? eq : !eq);
        return true;
    }
    uint32_t i, na, nb;
    if (!first_difference(vm, a, b, &i)) {
        return false;
    }
    Value *ia = seq_items(a, &na), *ib = seq_items(b, &nb);
    if (i >= na || i >= nb) {
        *out = BOOL_VAL(cmp_ints(op, na, nb));
        return true;
    }
    return ops_compare(vm, op, ia[i], ib[i], out);
}

bool list_contains(WkVM *vm, Value seq, Value item, bool *out) {
    uint32_t n;
    for (uint32_t i = 0; i < (seq_items(seq, &n), n); i++) {
        Value x = seq_items(seq, &n)[i];
        bool eq = value_is(x, item);
        if (!eq && !ops_equal(vm, x, item, &eq)) {
            return false;
        }
        if (eq) {
            *out = true;
            return true;
        }
    }
    *out = false;
    return true;
}

// CPython's tuplehash (xxHash-based), so equal tuples of numbers hash as in CPython.
bool tuple_hash(WkVM *vm, ObjTuple *t, uint64_t *out) {
    if (t->hash != 0) {
        *out = t->hash;
        return true;
    }
    const uint64_t p1 = 11400714785074694791ULL, p2 = 14029467366897019727ULL,
                   p5 = 2870177450012600261ULL;
    uint64_t acc = p5;
    for (uint32_t i = 0; i < t->count; i++) {
        uint64_t lane;
        if (!ops_hash(vm, t->items[i], &lane)) {
            return false;
        }
        acc += lane * p2;
        acc = (acc << 31) | (acc >> 33);
        acc *= p1;
    }
    acc += t->count ^ (p5 ^ 3527539UL);
    if (acc == UINT64_MAX) {
        acc = 1546275796;
    }
    t->hash = acc;
    *out = acc;
    return true;
}

// ---- Sorting ---------------------------------------------------------------------------------

typedef struct {
    WkVM *vm;
    Value *keys;   // rooted (inside an ObjList)
    int kind;      // 0 generic, 1 all ints, 2 all floats, 3 all strs, 4 all tuples
    bool reverse;
    bool failed;
} SortCtx;

// Order of two ints, two (non-NaN) floats or two strs: -1, 0, 1; 2 when not that simple.
static int simple_cmp(Value x, Value y) {
    if (IS_INT(x) && IS_INT(y)) {
        return AS_INT(x) < AS_INT(y) ? -1 : AS_INT(x) > AS_INT(y);
    }
    if (IS_FLOAT(x) && IS_FLOAT(y) && AS_FLOAT(x) == AS_FLOAT(x) && AS_FLOAT(y) == AS_FLOAT(y)) {
        return AS_FLOAT(x) < AS_FLOAT(y) ? -1 : AS_FLOAT(x) > AS_FLOAT(y);
    }
    if (IS_STR(x) && IS_STR(y)) {
        int c = str_compare(AS_STR(x), AS_STR(y));
        return c < 0 ? -1 : c > 0;
    }
    return 2;
}

// Tuples of simple items compared in C: -1, 0, 1, or 2 when an item pair needs ops_compare.
static int tuple_cmp(ObjTuple *x, ObjTuple *y) {
    uint32_t n = x->count < y->count ? x->count : y->count;
    for (uint32_t i = 0; i < n; i++) {
        int c = simple_cmp(x->items[i], y->items[i]);
        if (c != 0) {
            return c;
        }
    }
    return x->count < y->count ? -1 : x->count > y->count;
}

// keys[a] < keys[b] (for reverse: keys[b] < keys[a]); on error sets ctx->failed.
static bool less(SortCtx *c, uint32_t a, uint32_t b) {
    if (c->reverse) {
        uint32_t t = a;
        a = b;
        b = t;
    }
    Value x = c->keys[a], y = c->keys[b];
    switch (c->kind) {
    case 1:
        return AS_INT(x) < AS_INT(y);
    case 2:
        return AS_FLOAT(x) < AS_FLOAT(y);
    case 3:
        return str_compare(AS_STR(x), AS_STR(y)) < 0;
    case 4: {
        int r = tuple_cmp(AS_TUPLE(x), AS_TUPLE(y));
        if (r != 2) {
            return r < 0;
        }
        break;
    }
    default:
        break;
    }
    Value r;
    bool truth;
    if (!ops_compare(c->vm, OPCODE_LT, x, y, &r) ||
        (IS_BOOL(r) ? (truth = AS_BOOL(r), false) : !ops_truthy(c->vm, r, &truth))) {
        c->failed = true;
        return false;
    }
    return truth;
}

// Stable merge sort of the index array [idx] (n items) with [tmp] scratch. For reverse sorts
// the comparison is flipped, which keeps equal items in their original order as CPython does.
static void merge_sort(SortCtx *c, uint32_t *idx, uint32_t *tmp, uint32_t n) {
    if (n <= 12) {
        for (uint32_t i = 1; i < n && !c->failed; i++) {
            uint32_t pivot = idx[i];
            uint32_t j = i;
            while (j > 0 && less(c, pivot, idx[j - 1])) {
                idx[j] = idx[j - 1];
                j--;
            }
            idx[j] = pivot;
        }
        return;
    }
    uint32_t h = n / 2;
    merge_sort(c, idx, tmp, h);
    merge_sort(c, idx + h, tmp, n - h);
    if (c->failed || !less(c, idx[h], idx[h - 1])) {
        return;
    }
    memcpy(tmp, idx, sizeof(uint32_t) * h);
    uint32_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        if (less(c, idx[j], tmp[i])) {
            idx[k++] = idx[j++];
        } else {
            idx[k++] = tmp[i++];
        }
        if (c->failed) {
            memcpy(idx + k, tmp + i, sizeof(uint32_t) * (h - i));
            return;
        }
    }
    memcpy(idx + k, tmp + i, sizeof(uint32_t) * (h - i));
}

static int key_kind(Value *keys, uint32_t n) {
    if (n == 0) {
        return 1;
    }
    int kind = IS_INT(keys[0])     ? 1
               : IS_FLOAT(keys[0]) ? 2
               : IS_STR(keys[0])   ? 3
               : IS_TUPLE(keys[0]) ? 4
                                   : 0;
    for (uint32_t i = 1; i < n && kind; i++) {
        if ((kind == 1 && !IS_INT(keys[i])) || (kind == 2 && !IS_FLOAT(keys[i])) ||
            (kind == 3 && !IS_STR(keys[i])) || (kind == 4 && !IS_TUPLE(keys[i]))) {
            kind = 0;
        }
    }
    if (kind == 2) {
        for (uint32_t i = 0; i < n; i++) {
            if (AS_FLOAT(keys[i]) != AS_FLOAT(keys[i])) {
                return 0; // NaN: let the generic path give CPython's (odd) order
            }
        }
    }
    return kind;
}

// The list's items move into [held] (rooted) while keys are computed and compared, so user
// code sees an empty list; they are put back permuted at the end, or as they were on error.
bool list_sort(WkVM *vm, ObjList *l, Value key, bool reverse) {
    ObjList *held = list_new(vm, 0);
    gc_push_root(vm, OBJ_VAL(held));
    held->items = l->items;
    held->count = l->count;
    held->capacity = l->capacity;
    l->items = NULL;
    l->count = l->capacity = 0;
    uint32_t n = held->count;
    ObjList *keys = held;
    bool ok = true;
    if (!IS_NONE(key)) {
        keys = list_new(vm, n);
        gc_push_root(vm, OBJ_VAL(keys));
        for (uint32_t i = 0; i < n && ok; i++) {
            Value k;
            ok = vm_call(vm, key, 1, &held->items[i], NULL, &k);
            if (ok) {
                keys->items[keys->count++] = k;
            }
        }
    }
    uint32_t *idx = malloc(sizeof(uint32_t) * (n ? n : 1) * 2);
    for (uint32_t i = 0; i < n; i++) {
        idx[i] = i;
    }
    if (ok) {
        SortCtx c = {vm, keys->items, key_kind(keys->items, n), reverse, false};
        merge_sort(&c, idx, idx + n, n);
        ok = !c.failed;
    }
    // Put the items back (permuted when the sort succeeded).
    Value *items = n ? gc_realloc(vm, NULL, 0, sizeof(Value) * n) : NULL;
    for (uint32_t i = 0; i < n; i++) {
        items[i] = held->items[ok ? idx[i] : i];
    }
    free(idx);
    if (l->items) {
        gc_free(vm, l->items, sizeof(Value) * l->capacity);
    }
    l->items = items;
    l->count = l->capacity = n;
    gc_pop_roots(vm, keys == held ? 1 : 2);
    return ok;
}

// ---- list methods ----------------------------------------------------------------------------

// The TypeError of a list method called on [self], not a list. Out of line and cold: the
// methods' common path (list.append above all) then needs no stack frame.
static __attribute__((noinline, cold)) bool raise_not_list(WkVM *vm, const char *name,
                                                           Value self) {
    return exc_raise(vm, vm->cls.TypeError,
                     "descriptor '%s' for 'list' objects doesn't apply to a '%s' object", name,
                     tname(vm, self));
}

#define SELF_LIST(name)                                                                        \
    if (!IS_LIST(args[0])) {                                                                   \
        return raise_not_list(vm, name, args[0]);                                              \
    }                                                                                          \
    ObjList *self = AS_LIST(args[0])

static bool int_arg(WkVM *vm, Value v, int64_t *out) {
    if (IS_FLOAT(v) || IS_STR(v) || IS_NONE(v)) {
        return exc_raise(vm, vm->cls.TypeError,
                         "'%s' object cannot be interpreted as an integer", tname(vm, v));
    }
    return ops_index(vm, v, out);
}

bool list_m_append(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_LIST("append");
    list_append(vm, self, args[1]);
    *result = NONE_VAL;
    return true;
}

static bool m_extend(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_LIST("extend");
    *result = NONE_VAL;
    return list_extend(vm, self, args[1]);
}

static bool m_insert(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_LIST("insert");
    int64_t i;
    if (!int_arg(vm, args[1], &i)) {
        return false;
    }
    int64_t n = self->count;
    if (i < 0) {
        i = i + n < 0 ? 0 : i + n;
    } else if (i > n) {
        i = n;
    }
    replace_range(vm, self, (uint32_t)i, (uint32_t)i, &args[2], 1, NONE_VAL);
    *result = NONE_VAL;
    return true;
}

static bool m_pop(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_LIST("pop");
    int64_t i = -1;
    if (argc > 1 && !int_arg(vm, args[1], &i)) {
        return false;
    }
    if (self->count == 0) {
        return exc_raise(vm, vm->cls.IndexError, "pop from empty list");
    }
    if (i < 0) {
        i += self->count;
    }
    if (i < 0 || i >= (int64_t)self->count) {
        return exc_raise(vm, vm->cls.IndexError, "pop index out of range");
    }
    *result = self->items[i];
    remove_range(self, (uint32_t)i, (uint32_t)i + 1);
    return true;
}

// Index of the first item equal to [x] in [seq] within [lo, hi), or -1.
static bool find_item(WkVM *vm, Value seq, Value x, int64_t lo, int64_t hi, int64_t *at) {
    uint32_t n;
    *at = -1;
    for (int64_t i = lo; i < hi && i < (int64_t)(seq_items(seq, &n), n); i++) {
        Value y = seq_items(seq, &n)[i];
        bool eq = value_is(x, y);
        if (!eq && !ops_equal(vm, y, x, &eq)) {
            return false;
        }
        if (eq) {
            *at = i;
            return true;
        }
    }
    return true;
}

static bool m_remove(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_LIST("remove");
    int64_t at;
    if (!find_item(vm, args[0], args[1], 0, INT64_MAX, &at)) {
        return false;
    }
    if (at < 0) {
        return exc_raise(vm, vm->cls.ValueError, "list.remove(x): x not in list");
    }
    remove_range(self, (uint32_t)at, (uint32_t)at + 1);
    *result = NONE_VAL;
    return true;
}

// Slice-style clamp of an optional index argument against [n].
static bool clamp_arg(WkVM *vm, Value *args, int argc, int i, int64_t n, int64_t *out) {
    if (i >= argc) {
        return true;
    }
    if (!int_arg(vm, args[i], out)) {
        return false;
    }
    if (*out < 0) {
        *out = *out + n < 0 ? 0 : *out + n;
    }
    return true;
}

// list.index / tuple.index: ValueError "X is not in list" / "tuple.index(x): x not in tuple".
static bool seq_index_method(WkVM *vm, Value *args, int argc, Value *result) {
    uint32_t n;
    seq_items(args[0], &n);
    int64_t lo = 0, hi = INT64_MAX;
    if (!clamp_arg(vm, args, argc, 2, n, &lo) || !clamp_arg(vm, args, argc, 3, n, &hi)) {
        return false;
    }
    int64_t at;
    if (!find_item(vm, args[0], args[1], lo, hi, &at)) {
        return false;
    }
    if (at >= 0) {
        *result = INT_VAL(at);
        return true;
    }
    if (IS_TUPLE(args[0])) {
        return exc_raise(vm, vm->cls.ValueError, "tuple.index(x): x not in tuple");
    }
    ObjStr *r;
    if (!ops_repr(vm, args[1], &r)) {
        return false;
    }
    return exc_raise(vm, vm->cls.ValueError, "%s is not in list", r->chars);
}

static bool m_index(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_LIST("index");
    (void)self;
    return seq_index_method(vm, args, argc, result);
}

static bool seq_count(WkVM *vm, Value seq, Value x, Value *result) {
    uint32_t n;
    int64_t count = 0;
    for (uint32_t i = 0; i < (seq_items(seq, &n), n); i++) {
        Value y = seq_items(seq, &n)[i];
        bool eq = value_is(x, y);
        if (!eq && !ops_equal(vm, y, x, &eq)) {
            return false;
        }
        count += eq;
    }
    *result = INT_VAL(count);
    return true;
}

static bool m_count(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_LIST("count");
    (void)self;
    return seq_count(vm, args[0], args[1], result);
}

static bool m_sort(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    SELF_LIST("sort");
    static const char *const names[] = {"key", "reverse", NULL};
    if (argc > 1) {
        return exc_raise(vm, vm->cls.TypeError, "sort() takes no positional arguments");
    }
    if (!dict_check_kwargs(vm, kw, "sort", names)) {
        return false;
    }
    Value *k = dict_get_cstr(kw, "key");
    Value *r = dict_get_cstr(kw, "reverse");
    bool reverse = false;
    if (r && !ops_truthy(vm, *r, &reverse)) {
        return false;
    }
    *result = NONE_VAL;
    return list_sort(vm, self, k ? *k : NONE_VAL, reverse);
}

static bool m_reverse(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_LIST("reverse");
    for (uint32_t i = 0, j = self->count; i + 1 < j; i++, j--) {
        Value t = self->items[i];
        self->items[i] = self->items[j - 1];
        self->items[j - 1] = t;
    }
    *result = NONE_VAL;
    return true;
}

static bool m_copy(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_LIST("copy");
    ObjList *l = list_new(vm, self->count);
    if (self->count > 0) {
        memcpy(l->items, self->items, sizeof(Value) * self->count);
    }
    l->count = self->count;
    *result = OBJ_VAL(l);
    return true;
}

static bool m_clear(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_LIST("clear");
    self->count = 0;
    *result = NONE_VAL;
    return true;
}

// The sequence dunders, for code that calls them by name (super().__getitem__, ...).
static bool m_getitem(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    return ops_getitem(vm, args[0], args[1], result);
}

static bool m_setitem(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_LIST("__setitem__");
    *result = NONE_VAL;
    return list_setitem(vm, self, args[1], args[2]);
}

static bool m_delitem(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_LIST("__delitem__");
    *result = NONE_VAL;
    return list_delitem(vm, self, args[1]);
}

static bool m_len(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    int64_t n;
    if (!ops_len(vm, args[0], &n)) {
        return false;
    }
    *result = INT_VAL(n);
    return true;
}

static bool m_contains(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    bool in;
    if (!ops_contains(vm, args[0], args[1], &in)) {
        return false;
    }
    *result = BOOL_VAL(in);
    return true;
}

void list_init_class(WkVM *vm) {
    ObjClass *c = vm->cls.list;
    class_add_native(vm, c, "append", list_m_append, 2, 2, false);
    class_add_native(vm, c, "extend", m_extend, 2, 2, false);
    class_add_native(vm, c, "insert", m_insert, 3, 3, false);
    class_add_native(vm, c, "pop", m_pop, 1, 2, false);
    class_add_native(vm, c, "remove", m_remove, 2, 2, false);
    class_add_native(vm, c, "index", m_index, 2, 4, false);
    class_add_native(vm, c, "count", m_count, 2, 2, false);
    class_add_native(vm, c, "sort", m_sort, 1, -1, true);
    class_add_native(vm, c, "reverse", m_reverse, 1, 1, false);
    class_add_native(vm, c, "copy", m_copy, 1, 1, false);
    class_add_native(vm, c, "clear", m_clear, 1, 1, false);
    class_add_native(vm, c, "__getitem__", m_getitem, 2, 2, false);
    class_add_native(vm, c, "__setitem__", m_setitem, 3, 3, false);
    class_add_native(vm, c, "__delitem__", m_delitem, 2, 2, false);
    class_add_native(vm, c, "__len__", m_len, 1, 1, false);
    class_add_native(vm, c, "__contains__", m_contains, 2, 2, false);
}

// ---- tuple methods ---------------------------------------------------------------------------

#define SELF_TUPLE(name)                                                                       \
    if (!IS_TUPLE(args[0])) {                                                                  \
        return exc_raise(vm, vm->cls.TypeError,                                                \
                         "descriptor '" name "' for 'tuple' objects doesn't apply to a '%s' "  \
                         "object",                                                             \
                         tname(vm, args[0]));                                                  \
    }

static bool t_count(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_TUPLE("count");
    return seq_count(vm, args[0], args[1], result);
}

static bool t_index(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_TUPLE("index");
    return seq_index_method(vm, args, argc, result);
}

void tuple_init_class(WkVM *vm) {
    ObjClass *c = vm->cls.tuple;
    class_add_native(vm, c, "count", t_count, 2, 2, false);
    class_add_native(vm, c, "index", t_index, 2, 4, false);
    class_add_native(vm, c, "__getitem__", m_getitem, 2, 2, false);
    class_add_native(vm, c, "__len__", m_len, 1, 1, false);
    class_add_native(vm, c, "__contains__", m_contains, 2, 2, false);
}
