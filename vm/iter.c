// The built-in iterators (one ObjIter kind tagged by IterKind), dict views (ObjIter with
// ITER_FLAG_VIEW), range and slice objects. Iterators over dicts and sets check the container
// stayed the same size; the enumerate/zip/map/filter/callable kinds call back into wk code,
// so every value they hold across a call or an allocation is rooted.
#include "vm/iter.h"

#include <string.h>

#include "gc/gc.h"
#include "vm/class.h"
#include "vm/dict.h"
#include "vm/exc.h"
#include "vm/list.h"
#include "vm/ops.h"
#include "vm/str.h"
#include "vm/table.h"

static const char *tname(WkVM *vm, Value v) {
    return class_of(vm, v)->name->chars;
}

// ---- Construction ----------------------------------------------------------------------------

// For dicts and sets [extra] holds the size at the start (for "changed size" errors).
ObjIter *iter_new(WkVM *vm, IterKind kind, Value source) {
    ObjIter *it = (ObjIter *)gc_alloc_object(vm, sizeof(ObjIter), OBJ_ITER);
    it->kind = (uint8_t)kind;
    it->source = source;
    it->extra = NONE_VAL;
    it->index = 0;
    it->version = 0;
    if (IS_DICT(source)) {
        it->version = AS_DICT(source)->version;
        it->extra = INT_VAL(AS_DICT(source)->table.count);
    } else if (IS_SET(source)) {
        it->version = AS_SET(source)->version;
        it->extra = INT_VAL(AS_SET(source)->count);
    } else if (kind == ITER_REVERSED) {
        if (IS_STR(source)) {
            it->index = AS_STR(source)->size;
        } else {
            uint32_t n = IS_LIST(source) ? AS_LIST(source)->count : AS_TUPLE(source)->count;
            it->index = (int64_t)n - 1;
        }
    }
    return it;
}

ObjIter *iter_new_view(WkVM *vm, IterKind kind, ObjDict *d) {
    ObjIter *it = iter_new(vm, kind, OBJ_VAL(d));
    it->obj.flags |= ITER_FLAG_VIEW;
    return it;
}

ObjIter *iter_callable(WkVM *vm, Value func, Value sentinel) {
    ObjIter *it = iter_new(vm, ITER_CALLABLE, func);
    it->extra = sentinel;
    return it;
}

// A tuple of iter(x) for each of [argc] [values] (rooted by the caller).
static bool iter_tuple(WkVM *vm, int argc, Value *values, ObjTuple **out) {
    ObjTuple *t = tuple_new(vm, (uint32_t)argc);
    gc_push_root(vm, OBJ_VAL(t));
    for (int i = 0; i < argc; i++) {
        Value it;
        if (!ops_iter(vm, values[i], &it)) {
            gc_pop_root(vm);
            return false;
        }
        t->items[i] = it;
    }
    gc_pop_root(vm);
    *out = t;
    return true;
}

bool iter_enumerate(WkVM *vm, Value iterable, int64_t start, Value *out) {
    Value src;
    if (!ops_iter(vm, iterable, &src)) {
        return false;
    }
    gc_push_root(vm, src);
    ObjIter *it = iter_new(vm, ITER_ENUMERATE, src);
    it->extra = INT_VAL(start);
    gc_pop_root(vm);
    *out = OBJ_VAL(it);
    return true;
}

bool iter_zip(WkVM *vm, int argc, Value *iterables, Value *out) {
    ObjTuple *t;
    if (!iter_tuple(vm, argc, iterables, &t)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(t));
    *out = OBJ_VAL(iter_new(vm, ITER_ZIP, OBJ_VAL(t)));
    gc_pop_root(vm);
    return true;
}

bool iter_map(WkVM *vm, Value func, int argc, Value *iterables, Value *out) {
    ObjTuple *t;
    if (!iter_tuple(vm, argc, iterables, &t)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(t));
    ObjIter *it = iter_new(vm, ITER_MAP, OBJ_VAL(t));
    it->extra = func;
    gc_pop_root(vm);
    *out = OBJ_VAL(it);
    return true;
}

bool iter_filter(WkVM *vm, Value func, Value iterable, Value *out) {
    Value src;
    if (!ops_iter(vm, iterable, &src)) {
        return false;
    }
    gc_push_root(vm, src);
    ObjIter *it = iter_new(vm, ITER_FILTER, src);
    it->extra = func;
    gc_pop_root(vm);
    *out = OBJ_VAL(it);
    return true;
}

bool iter_reversed(WkVM *vm, Value seq, Value *out) {
    if (IS_KIND(seq, OBJ_RANGE)) {
        ObjRange *r = (ObjRange *)AS_OBJ(seq);
        // range(start + (len-1)*step, start - step, -step), iterated forwards
        int64_t last = range_at(r, r->length - 1);
        ObjRange *rev = range_new(vm, last, last, -r->step);
        rev->stop = range_at(r, -1);
        rev->length = r->length;
        gc_push_root(vm, OBJ_VAL(rev));
        *out = OBJ_VAL(iter_new(vm, ITER_RANGE, OBJ_VAL(rev)));
        gc_pop_root(vm);
        return true;
    }
    if (!IS_LIST(seq) && !IS_TUPLE(seq) && !IS_STR(seq)) {
        return exc_raise(vm, vm->cls.TypeError, "'%s' object is not reversible", tname(vm, seq));
    }
    *out = OBJ_VAL(iter_new(vm, ITER_REVERSED, seq));
    return true;
}

// ---- Advancing -------------------------------------------------------------------------------

// Mark [it] exhausted for good (CPython drops the source).
static bool finish(ObjIter *it, bool *done) {
    it->source = NONE_VAL;
    *done = true;
    return true;
}

static bool next_str(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    ObjStr *s = AS_STR(it->source);
    if (it->index >= (int64_t)s->size) {
        return finish(it, done);
    }
    int len = 1;
    if (!s->ascii) {
        str_decode_utf8(s->chars + it->index, &len);
    }
    *out = OBJ_VAL(str_new(vm, s->chars + it->index, (size_t)len));
    it->index += len;
    return true;
}

// The dict behind a dict iterator, or a RuntimeError when it changed size (or keys).
static bool dict_check(WkVM *vm, ObjIter *it, ObjDict *d) {
    if ((int64_t)d->table.count != AS_INT(it->extra)) {
        it->extra = INT_VAL(-1); // stays broken, as CPython's
        return exc_raise(vm, vm->cls.RuntimeError, "dictionary changed size during iteration");
    }
    if (d->version != it->version) {
        return exc_raise(vm, vm->cls.RuntimeError, "dictionary keys changed during iteration");
    }
    return true;
}

static bool next_dict(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    ObjDict *d = AS_DICT(it->source);
    if (!dict_check(vm, it, d)) {
        return false;
    }
    uint32_t pos = (uint32_t)it->index;
    TableEntry *e = table_next(&d->table, &pos);
    if (!e) {
        return finish(it, done);
    }
    it->index = pos;
    if (it->kind == ITER_DICT_KEYS) {
        *out = e->key;
    } else if (it->kind == ITER_DICT_VALUES) {
        *out = e->value;
    } else {
        Value k = e->key, v = e->value;
        ObjTuple *t = tuple_new(vm, 2); // the dict (rooted via [it]) keeps k and v alive
        t->items[0] = k;
        t->items[1] = v;
        *out = OBJ_VAL(t);
    }
    return true;
}

static bool next_set(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    ObjSet *s = AS_SET(it->source);
    if ((int64_t)s->count != AS_INT(it->extra)) {
        it->extra = INT_VAL(-1);
        return exc_raise(vm, vm->cls.RuntimeError, "Set changed size during iteration");
    }
    while (it->index <= (int64_t)s->mask) {
        Value k = s->slots[it->index++].key;
        if (!IS_EMPTY(k)) {
            *out = k;
            return true;
        }
    }
    return finish(it, done);
}

static bool next_enumerate(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    Value v;
    if (!ops_next(vm, it->source, &v, done)) {
        return false;
    }
    if (*done) {
        return finish(it, done);
    }
    gc_push_root(vm, v);
    ObjTuple *t = tuple_new(vm, 2);
    gc_pop_root(vm);
    t->items[0] = it->extra;
    t->items[1] = v;
    if (!IS_INT(it->extra) || AS_INT(it->extra) == INT64_MAX) {
        return exc_raise(vm, vm->cls.OverflowError, "integer overflow");
    }
    it->extra = INT_VAL(AS_INT(it->extra) + 1);
    *out = OBJ_VAL(t);
    return true;
}

// Collect one value from each iterator of the tuple [its] into a new tuple (*done when any
// is exhausted).
static bool next_each(WkVM *vm, ObjTuple *its, ObjTuple **out, bool *done) {
    *done = false;
    if (its->count == 0) {
        *done = true;
        return true;
    }
    ObjTuple *t = tuple_new(vm, its->count);
    gc_push_root(vm, OBJ_VAL(t));
    for (uint32_t i = 0; i < its->count; i++) {
        Value v;
        if (!ops_next(vm, its->items[i], &v, done)) {
            gc_pop_root(vm);
            return false;
        }
        if (*done) {
            break;
        }
        t->items[i] = v;
    }
    gc_pop_root(vm);
    *out = t;
    return true;
}

static bool next_zip(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    if (IS_NONE(it->source)) {
        *done = true;
        return true;
    }
    ObjTuple *t;
    if (!next_each(vm, AS_TUPLE(it->source), &t, done)) {
        return false;
    }
    if (*done) {
        return finish(it, done);
    }
    *out = OBJ_VAL(t);
    return true;
}

static bool next_map(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    if (IS_NONE(it->source)) {
        *done = true;
        return true;
    }
    ObjTuple *t;
    if (!next_each(vm, AS_TUPLE(it->source), &t, done)) {
        return false;
    }
    if (*done) {
        return finish(it, done);
    }
    gc_push_root(vm, OBJ_VAL(t));
    bool ok = vm_call(vm, it->extra, (int)t->count, t->items, NULL, out);
    gc_pop_root(vm);
    return ok;
}

static bool next_filter(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    for (;;) {
        Value v;
        if (IS_NONE(it->source)) {
            *done = true;
            return true;
        }
        if (!ops_next(vm, it->source, &v, done)) {
            return false;
        }
        if (*done) {
            return finish(it, done);
        }
        gc_push_root(vm, v);
        bool truth;
        bool ok;
        if (IS_NONE(it->extra)) {
            ok = ops_truthy(vm, v, &truth);
        } else {
            Value r;
            ok = vm_call(vm, it->extra, 1, &v, NULL, &r) && ops_truthy(vm, r, &truth);
        }
        gc_pop_root(vm);
        if (!ok) {
            return false;
        }
        if (truth) {
            *out = v;
            return true;
        }
    }
}

static bool next_reversed(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    Value src = it->source;
    if (IS_STR(src)) {
        ObjStr *s = AS_STR(src);
        if (it->index <= 0) {
            return finish(it, done);
        }
        int64_t b = it->index - 1;
        while (b > 0 && ((unsigned char)s->chars[b] & 0xc0) == 0x80) {
            b--;
        }
        *out = OBJ_VAL(str_new(vm, s->chars + b, (size_t)(it->index - b)));
        it->index = b;
        return true;
    }
    uint32_t n = IS_LIST(src) ? AS_LIST(src)->count : AS_TUPLE(src)->count;
    if (it->index < 0 || it->index >= (int64_t)n) {
        return finish(it, done);
    }
    *out = IS_LIST(src) ? AS_LIST(src)->items[it->index] : AS_TUPLE(src)->items[it->index];
    it->index--;
    return true;
}

static bool next_callable(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    if (IS_NONE(it->source)) {
        *done = true;
        return true;
    }
    Value v;
    if (!vm_call(vm, it->source, 0, NULL, NULL, &v)) {
        return false;
    }
    gc_push_root(vm, v);
    bool eq;
    bool ok = ops_equal(vm, v, it->extra, &eq);
    gc_pop_root(vm);
    if (!ok) {
        return false;
    }
    if (eq) {
        return finish(it, done);
    }
    *out = v;
    return true;
}

// The sequence protocol: source[0], source[1], ... until IndexError or StopIteration.
static bool next_getitem(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    if (!ops_getitem(vm, it->source, INT_VAL(it->index), out)) {
        if (exc_is(vm, vm->exception, vm->cls.IndexError) ||
            exc_is(vm, vm->exception, vm->cls.StopIteration)) {
            vm->exception = EMPTY_VAL;
            return finish(it, done);
        }
        return false;
    }
    it->index++;
    return true;
}

bool iter_next(WkVM *vm, ObjIter *it, Value *out, bool *done) {
    *done = false;
    if (it->obj.flags & ITER_FLAG_VIEW) {
        return exc_raise(vm, vm->cls.TypeError, "'%s' object is not an iterator",
                         iter_type_name(it));
    }
    if (IS_NONE(it->source) && it->kind != ITER_ENUMERATE && it->kind != ITER_FILTER) {
        *done = true;
        return true;
    }
    switch ((IterKind)it->kind) {
    case ITER_LIST: {
        ObjList *l = AS_LIST(it->source);
        if (it->index >= (int64_t)l->count) {
            iter_list_exhausted(it);
            *done = true;
            return true;
        }
        *out = l->items[it->index++];
        return true;
    }
    case ITER_SEQ: {
        Value src = it->source;
        if (!IS_LIST(src) && !IS_TUPLE(src)) {
            return next_getitem(vm, it, out, done);
        }
        uint32_t n = IS_LIST(src) ? AS_LIST(src)->count : AS_TUPLE(src)->count;
        if (it->index >= (int64_t)n) {
            return finish(it, done);
        }
        *out = IS_LIST(src) ? AS_LIST(src)->items[it->index] : AS_TUPLE(src)->items[it->index];
        it->index++;
        return true;
    }
    case ITER_STR:
        return next_str(vm, it, out, done);
    case ITER_RANGE: {
        // The range stays: the dispatch loop's fast path reads it without a check.
        ObjRange *r = (ObjRange *)AS_OBJ(it->source);
        if (it->index >= r->length) {
            *done = true;
            return true;
        }
        *out = INT_VAL(range_at(r, it->index));
        it->index++;
        return true;
    }
    case ITER_DICT_KEYS:
    case ITER_DICT_VALUES:
    case ITER_DICT_ITEMS:
        return next_dict(vm, it, out, done);
    case ITER_SET:
        return next_set(vm, it, out, done);
    case ITER_ENUMERATE:
        if (IS_NONE(it->source)) {
            *done = true;
            return true;
        }
        return next_enumerate(vm, it, out, done);
    case ITER_ZIP:
        return next_zip(vm, it, out, done);
    case ITER_MAP:
        return next_map(vm, it, out, done);
    case ITER_FILTER:
        return next_filter(vm, it, out, done);
    case ITER_REVERSED:
        return next_reversed(vm, it, out, done);
    case ITER_CALLABLE:
        return next_callable(vm, it, out, done);
    }
    WK_UNREACHABLE();
}

// ---- Views and names -------------------------------------------------------------------------

bool iter_iter(WkVM *vm, ObjIter *it, Value *out) {
    if (it->obj.flags & ITER_FLAG_VIEW) {
        *out = OBJ_VAL(iter_new(vm, (IterKind)it->kind, it->source));
    } else {
        *out = OBJ_VAL(it);
    }
    return true;
}

const char *iter_type_name(ObjIter *it) {
    bool view = it->obj.flags & ITER_FLAG_VIEW;
    switch ((IterKind)it->kind) {
    case ITER_SEQ:
        return IS_TUPLE(it->source) ? "tuple_iterator" : "list_iterator";
    case ITER_LIST:
        return "list_iterator";
    case ITER_STR:
        return IS_STR(it->source) && !AS_STR(it->source)->ascii ? "str_iterator"
                                                                 : "str_ascii_iterator";
    case ITER_RANGE:
        return "range_iterator";
    case ITER_DICT_KEYS:
        return view ? "dict_keys" : "dict_keyiterator";
    case ITER_DICT_VALUES:
        return view ? "dict_values" : "dict_valueiterator";
    case ITER_DICT_ITEMS:
        return view ? "dict_items" : "dict_itemiterator";
    case ITER_SET:
        return "set_iterator";
    case ITER_ENUMERATE:
        return "enumerate";
    case ITER_ZIP:
        return "zip";
    case ITER_MAP:
        return "map";
    case ITER_FILTER:
        return "filter";
    case ITER_REVERSED:
        return IS_LIST(it->source) ? "list_reverseiterator" : "reversed";
    case ITER_CALLABLE:
        return "callable_iterator";
    }
    return "iterator";
}

static bool not_view(WkVM *vm, ObjIter *it, const char *what) {
    return exc_raise(vm, vm->cls.TypeError, what, iter_type_name(it));
}

bool iter_len(WkVM *vm, ObjIter *it, int64_t *out) {
    if (!(it->obj.flags & ITER_FLAG_VIEW)) {
        return not_view(vm, it, "object of type '%s' has no len()");
    }
    *out = AS_DICT(it->source)->table.count;
    return true;
}

bool iter_contains(WkVM *vm, ObjIter *it, Value item, bool *out) {
    if (!(it->obj.flags & ITER_FLAG_VIEW)) {
        // A plain iterator: consume it looking for [item], as CPython's `in` does.
        *out = false;
        for (;;) {
            Value v;
            bool done, eq;
            if (!iter_next(vm, it, &v, &done)) {
                return false;
            }
            if (done) {
                return true;
            }
            eq = value_is(v, item);
            if (!eq) {
                gc_push_root(vm, v);
                bool ok = ops_equal(vm, v, item, &eq);
                gc_pop_root(vm);
                if (!ok) {
                    return false;
                }
            }
            if (eq) {
                *out = true;
                return true;
            }
        }
    }
    ObjDict *d = AS_DICT(it->source);
    Value v;
    bool found;
    switch ((IterKind)it->kind) {
    case ITER_DICT_KEYS:
        return dict_get(vm, d, item, &v, out);
    case ITER_DICT_ITEMS:
        *out = false;
        if (!IS_TUPLE(item) || AS_TUPLE(item)->count != 2) {
            return true;
        }
        if (!dict_get(vm, d, AS_TUPLE(item)->items[0], &v, &found)) {
            return false;
        }
        if (!found) {
            return true;
        }
        if (value_is(v, AS_TUPLE(item)->items[1])) {
            *out = true;
            return true;
        }
        return ops_equal(vm, v, AS_TUPLE(item)->items[1], out);
    default: {
        ObjList *vals;
        Value tmp;
        if (!iter_iter(vm, it, &tmp)) {
            return false;
        }
        gc_push_root(vm, tmp);
        bool ok = list_from_iterable(vm, tmp, &vals);
        gc_pop_root(vm);
        if (!ok) {
            return false;
        }
        gc_push_root(vm, OBJ_VAL(vals));
        ok = list_contains(vm, OBJ_VAL(vals), item, out);
        gc_pop_root(vm);
        return ok;
    }
    }
}

bool iter_repr(WkVM *vm, ObjIter *it, ObjStr **out) {
    if (!(it->obj.flags & ITER_FLAG_VIEW)) {
        *out = str_printf(vm, "<%s object at %p>", iter_type_name(it), (void *)it);
        return true;
    }
    Value fresh;
    if (!iter_iter(vm, it, &fresh)) {
        return false;
    }
    gc_push_root(vm, fresh);
    ObjList *items;
    bool ok = list_from_iterable(vm, fresh, &items);
    gc_pop_root(vm);
    if (!ok) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(items));
    ObjStr *inner;
    ok = list_repr(vm, OBJ_VAL(items), &inner);
    if (ok) {
        *out = str_printf(vm, "%s(%s)", iter_type_name(it), inner->chars);
    }
    gc_pop_root(vm);
    return ok;
}

// ---- Ranges ----------------------------------------------------------------------------------

// Number of items of range(start, stop, step), step != 0, without overflow.
static int64_t range_length(int64_t start, int64_t stop, int64_t step) {
    if (step > 0 && start < stop) {
        return (int64_t)(((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1);
    }
    if (step < 0 && start > stop) {
        return (int64_t)(((uint64_t)start - (uint64_t)stop - 1) / (0 - (uint64_t)step) + 1);
    }
    return 0;
}

ObjRange *range_new(WkVM *vm, int64_t start, int64_t stop, int64_t step) {
    ObjRange *r = (ObjRange *)gc_alloc_object(vm, sizeof(ObjRange), OBJ_RANGE);
    r->start = start;
    r->stop = stop;
    r->step = step;
    r->length = range_length(start, stop, step);
    return r;
}

static bool range_arg(WkVM *vm, Value v, int64_t *out) {
    if (IS_INT(v)) {
        *out = AS_INT(v);
        return true;
    }
    if (IS_BOOL(v)) {
        *out = AS_BOOL(v);
        return true;
    }
    if (IS_INSTANCE(v)) {
        return ops_index(vm, v, out);
    }
    return exc_raise(vm, vm->cls.TypeError, "'%s' object cannot be interpreted as an integer",
                     tname(vm, v));
}

bool range_from_args(WkVM *vm, int argc, Value *args, Value *out) {
    if (argc < 1 || argc > 3) {
        if (argc == 0) {
            return exc_raise(vm, vm->cls.TypeError, "range expected at least 1 argument, got 0");
        }
        return exc_raise(vm, vm->cls.TypeError, "range expected at most 3 arguments, got %d",
                         argc);
    }
    int64_t start = 0, stop, step = 1;
    if (argc == 1) {
        if (!range_arg(vm, args[0], &stop)) {
            return false;
        }
    } else if (!range_arg(vm, args[0], &start) || !range_arg(vm, args[1], &stop) ||
               (argc == 3 && !range_arg(vm, args[2], &step))) {
        return false;
    }
    if (step == 0) {
        return exc_raise(vm, vm->cls.ValueError, "range() arg 3 must not be zero");
    }
    *out = OBJ_VAL(range_new(vm, start, stop, step));
    return true;
}

bool range_getitem(WkVM *vm, ObjRange *r, Value key, Value *out) {
    if (IS_KIND(key, OBJ_SLICE)) {
        int64_t start, stop, step, count;
        if (!slice_indices(vm, (ObjSlice *)AS_OBJ(key), r->length, &start, &stop, &step,
                           &count)) {
            return false;
        }
        ObjRange *s = range_new(vm, range_at(r, start), range_at(r, stop),
                                (int64_t)((uint64_t)r->step * (uint64_t)step));
        s->length = count;
        *out = OBJ_VAL(s);
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
        return exc_raise(vm, vm->cls.TypeError,
                         "range indices must be integers or slices, not %s", tname(vm, key));
    }
    if (i < 0) {
        i += r->length;
    }
    if (i < 0 || i >= r->length) {
        return exc_raise(vm, vm->cls.IndexError, "range object index out of range");
    }
    *out = INT_VAL(range_at(r, i));
    return true;
}

bool range_contains_int(ObjRange *r, int64_t v) {
    if (r->length == 0) {
        return false;
    }
    if (r->step > 0 ? (v < r->start || v >= r->stop) : (v > r->start || v <= r->stop)) {
        return false;
    }
    uint64_t diff = r->step > 0 ? (uint64_t)v - (uint64_t)r->start
                                : (uint64_t)r->start - (uint64_t)v;
    uint64_t step = r->step > 0 ? (uint64_t)r->step : 0 - (uint64_t)r->step;
    return diff % step == 0;
}

ObjStr *range_repr(WkVM *vm, ObjRange *r) {
    if (r->step == 1) {
        return str_printf(vm, "range(%lld, %lld)", (long long)r->start, (long long)r->stop);
    }
    return str_printf(vm, "range(%lld, %lld, %lld)", (long long)r->start, (long long)r->stop,
                      (long long)r->step);
}

bool range_equal(ObjRange *a, ObjRange *b) {
    if (a->length != b->length) {
        return false;
    }
    if (a->length == 0) {
        return true;
    }
    if (a->start != b->start) {
        return false;
    }
    return a->length == 1 || a->step == b->step;
}

// An int value of [v] to look for in a range (ints, bools, integral floats), else false.
static bool int_like(Value v, int64_t *out) {
    if (IS_INT(v)) {
        *out = AS_INT(v);
        return true;
    }
    if (IS_BOOL(v)) {
        *out = AS_BOOL(v);
        return true;
    }
    return false;
}

#define SELF_RANGE(name)                                                                       \
    if (!IS_KIND(args[0], OBJ_RANGE)) {                                                        \
        return exc_raise(vm, vm->cls.TypeError,                                                \
                         "descriptor '" name "' for 'range' objects doesn't apply to a '%s' "  \
                         "object",                                                             \
                         tname(vm, args[0]));                                                  \
    }                                                                                          \
    ObjRange *self = (ObjRange *)AS_OBJ(args[0])

// Linear search for values that are not ints (floats, instances with __eq__).
static bool range_scan(WkVM *vm, ObjRange *r, Value x, int64_t *first, int64_t *count) {
    *first = -1;
    *count = 0;
    for (int64_t i = 0; i < r->length; i++) {
        bool eq;
        if (!ops_equal(vm, INT_VAL(range_at(r, i)), x, &eq)) {
            return false;
        }
        if (eq) {
            if (*first < 0) {
                *first = i;
            }
            (*count)++;
        }
    }
    return true;
}

static bool r_index(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_RANGE("index");
    int64_t v, first, count;
    if (int_like(args[1], &v)) {
        if (range_contains_int(self, v)) {
            *result = INT_VAL((v - self->start) / self->step);
            return true;
        }
    } else {
        if (!range_scan(vm, self, args[1], &first, &count)) {
            return false;
        }
        if (first >= 0) {
            *result = INT_VAL(first);
            return true;
        }
    }
    ObjStr *r;
    if (!ops_repr(vm, args[1], &r)) {
        return false;
    }
    return exc_raise(vm, vm->cls.ValueError, "%s is not in range", r->chars);
}

static bool r_count(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_RANGE("count");
    int64_t v, first, count;
    if (int_like(args[1], &v)) {
        *result = INT_VAL(range_contains_int(self, v) ? 1 : 0);
        return true;
    }
    if (!range_scan(vm, self, args[1], &first, &count)) {
        return false;
    }
    *result = INT_VAL(count);
    return true;
}

// ---- Slices ----------------------------------------------------------------------------------

ObjSlice *slice_new(WkVM *vm, Value start, Value stop, Value step) {
    ObjSlice *s = (ObjSlice *)gc_alloc_object(vm, sizeof(ObjSlice), OBJ_SLICE);
    s->start = start;
    s->stop = stop;
    s->step = step;
    return s;
}

int64_t slice_adjust(int64_t length, int64_t *start, int64_t *stop, int64_t step) {
    if (*start < 0) {
        *start += length;
        if (*start < 0) {
            *start = step < 0 ? -1 : 0;
        }
    } else if (*start >= length) {
        *start = step < 0 ? length - 1 : length;
    }
    if (*stop < 0) {
        *stop += length;
        if (*stop < 0) {
            *stop = step < 0 ? -1 : 0;
        }
    } else if (*stop >= length) {
        *stop = step < 0 ? length - 1 : length;
    }
    if (step < 0) {
        if (*stop < *start) {
            return (*start - *stop - 1) / (-step) + 1;
        }
    } else if (*start < *stop) {
        return (*stop - *start - 1) / step + 1;
    }
    return 0;
}

static bool slice_arg(WkVM *vm, Value v, int64_t *out) {
    if (IS_INT(v)) {
        *out = AS_INT(v);
        return true;
    }
    if (IS_BOOL(v)) {
        *out = AS_BOOL(v);
        return true;
    }
    if (IS_INSTANCE(v)) {
        return ops_index(vm, v, out);
    }
    return exc_raise(vm, vm->cls.TypeError,
                     "slice indices must be integers or None or have an __index__ method");
}

bool slice_indices(WkVM *vm, ObjSlice *s, int64_t length, int64_t *start, int64_t *stop,
                   int64_t *step, int64_t *count) {
    *step = 1;
    if (!IS_NONE(s->step)) {
        if (!slice_arg(vm, s->step, step)) {
            return false;
        }
        if (*step == 0) {
            return exc_raise(vm, vm->cls.ValueError, "slice step cannot be zero");
        }
        if (*step < -INT64_MAX) {
            *step = -INT64_MAX;
        }
    }
    *start = *step < 0 ? INT64_MAX : 0;
    *stop = *step < 0 ? INT64_MIN : INT64_MAX;
    if (!IS_NONE(s->start) && !slice_arg(vm, s->start, start)) {
        return false;
    }
    if (!IS_NONE(s->stop) && !slice_arg(vm, s->stop, stop)) {
        return false;
    }
    *count = slice_adjust(length, start, stop, *step);
    return true;
}

bool slice_repr(WkVM *vm, ObjSlice *s, ObjStr **out) {
    ObjStr *parts[3];
    Value vals[3] = {s->start, s->stop, s->step};
    StrBuf b;
    strbuf_init(&b);
    strbuf_add(&b, "slice(", 6);
    for (int i = 0; i < 3; i++) {
        if (!ops_repr(vm, vals[i], &parts[i])) {
            strbuf_free(&b);
            return false;
        }
        if (i > 0) {
            strbuf_add(&b, ", ", 2);
        }
        strbuf_add(&b, parts[i]->chars, parts[i]->size);
    }
    strbuf_addc(&b, ')');
    *out = strbuf_finish(vm, &b);
    return true;
}

static bool sl_indices(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    if (!IS_KIND(args[0], OBJ_SLICE)) {
        return exc_raise(vm, vm->cls.TypeError, "descriptor 'indices' requires a 'slice'");
    }
    int64_t len;
    if (!slice_arg(vm, args[1], &len)) {
        return false;
    }
    if (len < 0) {
        return exc_raise(vm, vm->cls.ValueError, "length should not be negative");
    }
    int64_t start, stop, step, count;
    if (!slice_indices(vm, (ObjSlice *)AS_OBJ(args[0]), len, &start, &stop, &step, &count)) {
        return false;
    }
    ObjTuple *t = tuple_new(vm, 3);
    t->items[0] = INT_VAL(start);
    t->items[1] = INT_VAL(stop);
    t->items[2] = INT_VAL(step);
    *result = OBJ_VAL(t);
    return true;
}

// ---- The iterator class's natives ------------------------------------------------------------

static bool it_iter(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    if (!IS_KIND(args[0], OBJ_ITER)) {
        *result = args[0];
        return true;
    }
    return iter_iter(vm, (ObjIter *)AS_OBJ(args[0]), result);
}

static bool it_next(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    if (!IS_KIND(args[0], OBJ_ITER)) {
        return exc_raise(vm, vm->cls.TypeError, "descriptor '__next__' requires an iterator");
    }
    bool done;
    if (!ops_next(vm, args[0], result, &done)) {
        return false;
    }
    if (done) {
        return exc_raise_value(vm, OBJ_VAL(vm->cls.StopIteration));
    }
    return true;
}

void iter_init_class(WkVM *vm) {
    class_add_native(vm, vm->cls.iterator, "__iter__", it_iter, 1, 1, false);
    class_add_native(vm, vm->cls.iterator, "__next__", it_next, 1, 1, false);
    class_add_native(vm, vm->cls.range, "index", r_index, 2, 2, false);
    class_add_native(vm, vm->cls.range, "count", r_count, 2, 2, false);
    class_add_native(vm, vm->cls.slice, "indices", sl_indices, 2, 2, false);
}
