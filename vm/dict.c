// Dicts (an insertion-ordered Table plus a version for iterators) and sets (CPython's
// setobject.c layout and probing, so small-int sets iterate in CPython's order), with their
// types' methods and the helpers ops.c dispatches to. Keys are hashed and compared with
// ops_hash/ops_equal, which may run user code: lookups restart when the table changed.
#include "vm/dict.h"

#include <string.h>

#include "gc/gc.h"
#include "vm/attr.h"
#include "vm/class.h"
#include "vm/exc.h"
#include "vm/iter.h"
#include "vm/list.h"
#include "vm/opcode.h"
#include "vm/ops.h"
#include "vm/str.h"
#include "vm/table.h"

#define REPR_BUSY 0x01 // Obj.flags while the repr of this dict/set is being built

static const char *tname(WkVM *vm, Value v) {
    return class_of(vm, v)->name->chars;
}

// =============================================================================================
// Dicts
// =============================================================================================

ObjDict *dict_new(WkVM *vm) {
    ObjDict *d = (ObjDict *)gc_alloc_object(vm, sizeof(ObjDict), OBJ_DICT);
    table_init(&d->table);
    d->version = 0;
    return d;
}

bool dict_get(WkVM *vm, ObjDict *d, Value key, Value *out, bool *found) {
    if (IS_STR(key)) {
        Value *v = table_get_str(&d->table, AS_STR(key));
        *found = v != NULL;
        if (v) {
            *out = *v;
        }
        return true;
    }
    uint64_t hash;
    if (!ops_hash(vm, key, &hash)) {
        return false;
    }
    return table_get(vm, &d->table, key, hash, out, found);
}

bool dict_set(WkVM *vm, ObjDict *d, Value key, Value value) {
    uint32_t before = d->table.count;
    if (IS_STR(key)) {
        table_set_str(vm, &d->table, AS_STR(key), value);
    } else {
        uint64_t hash;
        if (!ops_hash(vm, key, &hash) || !table_set(vm, &d->table, key, hash, value)) {
            return false;
        }
    }
    if (d->table.count != before) {
        d->version++;
    }
    return true;
}

bool dict_delete(WkVM *vm, ObjDict *d, Value key, bool *found) {
    if (IS_STR(key)) {
        *found = table_delete_str(vm, &d->table, AS_STR(key));
    } else {
        uint64_t hash;
        if (!ops_hash(vm, key, &hash) || !table_delete(vm, &d->table, key, hash, found)) {
            return false;
        }
    }
    if (*found) {
        d->version++;
    }
    return true;
}

Value *dict_get_str(ObjDict *d, ObjStr *key) {
    return table_get_str(&d->table, key);
}

void dict_set_str(WkVM *vm, ObjDict *d, ObjStr *key, Value value) {
    uint32_t before = d->table.count;
    table_set_str(vm, &d->table, key, value);
    if (d->table.count != before) {
        d->version++;
    }
}

Value *dict_get_cstr(ObjDict *kwargs, const char *name) {
    if (!kwargs) {
        return NULL;
    }
    size_t n = strlen(name);
    ObjStr *key = table_find_chars(&kwargs->table, name, n, str_hash_bytes(name, n));
    return key ? table_get_str(&kwargs->table, key) : NULL;
}

bool dict_check_kwargs(WkVM *vm, ObjDict *kwargs, const char *fname,
                       const char *const *names) {
    if (!kwargs) {
        return true;
    }
    uint32_t pos = 0;
    TableEntry *e;
    while ((e = table_next(&kwargs->table, &pos))) {
        ObjStr *k = AS_STR(e->key);
        bool known = false;
        for (int i = 0; names[i] && !known; i++) {
            known = strcmp(k->chars, names[i]) == 0;
        }
        if (!known) {
            return exc_raise(vm, vm->cls.TypeError, "'%s' is an invalid keyword argument for %s()",
                             k->chars, fname);
        }
    }
    return true;
}

bool dict_raise_key_error(WkVM *vm, Value key) {
    gc_push_root(vm, key);
    ObjTuple *args = tuple_from(vm, &key, 1);
    gc_push_root(vm, OBJ_VAL(args));
    ObjException *e = exc_new(vm, vm->cls.KeyError, args);
    gc_pop_roots(vm, 2);
    return exc_raise_value(vm, OBJ_VAL(e));
}

bool dict_getitem(WkVM *vm, ObjDict *d, Value key, Value *out) {
    bool found;
    if (!dict_get(vm, d, key, out, &found)) {
        return false;
    }
    return found || dict_raise_key_error(vm, key);
}

bool dict_delitem(WkVM *vm, ObjDict *d, Value key) {
    bool found;
    if (!dict_delete(vm, d, key, &found)) {
        return false;
    }
    return found || dict_raise_key_error(vm, key);
}

ObjDict *dict_copy(WkVM *vm, ObjDict *d) {
    ObjDict *c = dict_new(vm);
    gc_push_root(vm, OBJ_VAL(c));
    table_copy(vm, &c->table, &d->table);
    gc_pop_root(vm);
    return c;
}

// Insert each (key, value) pair of the iterable [seq] into [d].
static bool update_pairs(WkVM *vm, ObjDict *d, Value seq) {
    Value it;
    if (!ops_iter(vm, seq, &it)) {
        return false;
    }
    gc_push_root(vm, it);
    for (int64_t n = 0;; n++) {
        Value item;
        bool done;
        if (!ops_next(vm, it, &item, &done)) {
            gc_pop_root(vm);
            return false;
        }
        if (done) {
            break;
        }
        gc_push_root(vm, item);
        ObjList *pair;
        bool ok = list_from_iterable(vm, item, &pair);
        if (!ok && exc_is(vm, vm->exception, vm->cls.TypeError)) {
            vm->exception = EMPTY_VAL;
            ok = exc_raise(vm, vm->cls.TypeError,
                           "cannot convert dictionary update sequence element #%lld to a "
                           "sequence",
                           (long long)n);
        } else if (ok && pair->count != 2) {
            ok = exc_raise(vm, vm->cls.ValueError,
                           "dictionary update sequence element #%lld has length %u; 2 is "
                           "required",
                           (long long)n, pair->count);
        }
        if (ok) {
            gc_push_root(vm, OBJ_VAL(pair));
            ok = dict_set(vm, d, pair->items[0], pair->items[1]);
            gc_pop_root(vm);
        }
        gc_pop_root(vm);
        if (!ok) {
            gc_pop_root(vm);
            return false;
        }
    }
    gc_pop_root(vm);
    return true;
}

// d.update(m) for a mapping with keys() and __getitem__.
static bool update_mapping(WkVM *vm, ObjDict *d, Value m, Value keys_fn) {
    Value keys;
    if (!vm_call(vm, keys_fn, 0, NULL, NULL, &keys)) {
        return false;
    }
    gc_push_root(vm, keys);
    Value it;
    bool ok = ops_iter(vm, keys, &it);
    if (ok) {
        gc_push_root(vm, it);
        for (;;) {
            Value k, v;
            bool done;
            if (!(ok = ops_next(vm, it, &k, &done)) || done) {
                break;
            }
            gc_push_root(vm, k);
            ok = ops_getitem(vm, m, k, &v) && dict_set(vm, d, k, v);
            gc_pop_root(vm);
            if (!ok) {
                break;
            }
        }
        gc_pop_root(vm);
    }
    gc_pop_root(vm);
    return ok;
}

bool dict_update(WkVM *vm, ObjDict *d, Value other) {
    if (IS_DICT(other)) {
        ObjDict *o = AS_DICT(other);
        if (o == d) {
            return true;
        }
        // By position, re-checked each time: a key's __eq__ may change [o].
        uint32_t before = d->table.count;
        bool ok = true;
        for (uint32_t i = 0; ok && i < o->table.used; i++) {
            TableEntry e = o->table.entries[i];
            if (!IS_EMPTY(e.key)) {
                ok = table_set(vm, &d->table, e.key, e.hash, e.value);
            }
        }
        if (d->table.count != before) {
            d->version++;
        }
        return ok;
    }
    if (IS_INSTANCE(other)) {
        Value keys_fn;
        bool found;
        if (!attr_get_opt(vm, other, str_intern(vm, "keys", 4), &keys_fn, &found)) {
            return false;
        }
        if (found) {
            gc_push_root(vm, keys_fn);
            bool ok = update_mapping(vm, d, other, keys_fn);
            gc_pop_root(vm);
            return ok;
        }
    }
    return update_pairs(vm, d, other);
}

bool dict_or(WkVM *vm, ObjDict *a, ObjDict *b, Value *out) {
    ObjDict *c = dict_copy(vm, a);
    gc_push_root(vm, OBJ_VAL(c));
    bool ok = dict_update(vm, c, OBJ_VAL(b));
    gc_pop_root(vm);
    *out = OBJ_VAL(c);
    return ok;
}

bool dict_repr(WkVM *vm, ObjDict *d, ObjStr **out) {
    if (d->obj.flags & REPR_BUSY) {
        *out = str_new(vm, "{...}", 5);
        return true;
    }
    d->obj.flags |= REPR_BUSY;
    StrBuf b;
    strbuf_init(&b);
    strbuf_addc(&b, '{');
    bool first = true;
    for (uint32_t i = 0; i < d->table.used; i++) {
        TableEntry e = d->table.entries[i];
        if (IS_EMPTY(e.key)) {
            continue;
        }
        ObjStr *r;
        gc_push_root(vm, e.value);
        bool ok = ops_repr(vm, e.key, &r);
        if (ok) {
            if (!first) {
                strbuf_add(&b, ", ", 2);
            }
            first = false;
            strbuf_add(&b, r->chars, r->size);
            strbuf_add(&b, ": ", 2);
            ok = ops_repr(vm, e.value, &r);
        }
        gc_pop_root(vm);
        if (!ok) {
            d->obj.flags &= (uint8_t)~REPR_BUSY;
            strbuf_free(&b);
            return false;
        }
        strbuf_add(&b, r->chars, r->size);
    }
    d->obj.flags &= (uint8_t)~REPR_BUSY;
    strbuf_addc(&b, '}');
    *out = strbuf_finish(vm, &b);
    return true;
}

bool dict_equal(WkVM *vm, ObjDict *a, ObjDict *b, bool *out) {
    *out = false;
    if (a->table.count != b->table.count) {
        return true;
    }
    for (uint32_t i = 0; i < a->table.used; i++) {
        TableEntry e = a->table.entries[i];
        if (IS_EMPTY(e.key)) {
            continue;
        }
        gc_push_root(vm, e.key);
        gc_push_root(vm, e.value);
        Value v;
        bool found, eq = false;
        bool ok = table_get(vm, &b->table, e.key, e.hash, &v, &found);
        if (ok && found) {
            eq = value_is(v, e.value);
            if (!eq) {
                gc_push_root(vm, v);
                ok = ops_equal(vm, e.value, v, &eq);
                gc_pop_root(vm);
            }
        }
        gc_pop_roots(vm, 2);
        if (!ok) {
            return false;
        }
        if (!found || !eq) {
            return true;
        }
    }
    *out = true;
    return true;
}

// ---- dict methods ----------------------------------------------------------------------------

#define SELF_DICT(name)                                                                        \
    if (!IS_DICT(args[0])) {                                                                   \
        return exc_raise(vm, vm->cls.TypeError,                                                \
                         "descriptor '" name "' for 'dict' objects doesn't apply to a '%s' "   \
                         "object",                                                             \
                         tname(vm, args[0]));                                                  \
    }                                                                                          \
    ObjDict *self = AS_DICT(args[0])

static bool d_get(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_DICT("get");
    bool found;
    if (!dict_get(vm, self, args[1], result, &found)) {
        return false;
    }
    if (!found) {
        *result = argc > 2 ? args[2] : NONE_VAL;
    }
    return true;
}

static bool d_setdefault(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_DICT("setdefault");
    bool found;
    if (!dict_get(vm, self, args[1], result, &found)) {
        return false;
    }
    if (!found) {
        *result = argc > 2 ? args[2] : NONE_VAL;
        return dict_set(vm, self, args[1], *result);
    }
    return true;
}

static bool d_pop(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_DICT("pop");
    bool found;
    if (!dict_get(vm, self, args[1], result, &found)) {
        return false;
    }
    if (!found) {
        if (argc > 2) {
            *result = args[2];
            return true;
        }
        return dict_raise_key_error(vm, args[1]);
    }
    gc_push_root(vm, *result);
    bool ok = dict_delete(vm, self, args[1], &found);
    gc_pop_root(vm);
    return ok;
}

static bool d_popitem(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_DICT("popitem");
    Table *t = &self->table;
    uint32_t i = t->used;
    while (i > 0 && IS_EMPTY(t->entries[i - 1].key)) {
        i--;
    }
    if (i == 0) {
        Value msg = OBJ_VAL(str_from_cstr(vm, "popitem(): dictionary is empty"));
        gc_push_root(vm, msg);
        bool ok = dict_raise_key_error(vm, msg);
        gc_pop_root(vm);
        return ok;
    }
    ObjTuple *pair = tuple_new(vm, 2);
    pair->items[0] = t->entries[i - 1].key;
    pair->items[1] = t->entries[i - 1].value;
    table_remove_at(t, i - 1);
    t->used = i - 1;
    self->version++;
    *result = OBJ_VAL(pair);
    return true;
}

static bool d_update(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    SELF_DICT("update");
    if (argc > 1 && !dict_update(vm, self, args[1])) {
        return false;
    }
    if (kw && !dict_update(vm, self, OBJ_VAL(kw))) {
        return false;
    }
    *result = NONE_VAL;
    return true;
}

static bool d_view(WkVM *vm, Value *args, IterKind kind, Value *result) {
    *result = OBJ_VAL(iter_new_view(vm, kind, AS_DICT(args[0])));
    return true;
}

static bool d_keys(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_DICT("keys");
    (void)self;
    return d_view(vm, args, ITER_DICT_KEYS, result);
}

static bool d_values(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_DICT("values");
    (void)self;
    return d_view(vm, args, ITER_DICT_VALUES, result);
}

static bool d_items(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_DICT("items");
    (void)self;
    return d_view(vm, args, ITER_DICT_ITEMS, result);
}

static bool d_copy(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_DICT("copy");
    *result = OBJ_VAL(dict_copy(vm, self));
    return true;
}

static bool d_clear(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_DICT("clear");
    table_clear(&self->table);
    self->version++;
    *result = NONE_VAL;
    return true;
}

// dict.fromkeys(iterable[, value]): registered on the class and called through it, so
// args[0] is the iterable (with a dict receiver in front when called on an instance).
static bool d_fromkeys(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    if (argc == 3) {
        args++;
        argc--;
    }
    Value value = argc > 1 ? args[1] : NONE_VAL;
    ObjDict *d = dict_new(vm);
    gc_push_root(vm, OBJ_VAL(d));
    Value it;
    bool ok = ops_iter(vm, args[0], &it);
    if (ok) {
        gc_push_root(vm, it);
        for (;;) {
            Value k;
            bool done;
            if (!(ok = ops_next(vm, it, &k, &done)) || done) {
                break;
            }
            if (!(ok = dict_set(vm, d, k, value))) {
                break;
            }
        }
        gc_pop_root(vm);
    }
    gc_pop_root(vm);
    *result = OBJ_VAL(d);
    return ok;
}

static bool d_contains(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_DICT("__contains__");
    Value v;
    bool found;
    if (!dict_get(vm, self, args[1], &v, &found)) {
        return false;
    }
    *result = BOOL_VAL(found);
    return true;
}

static bool d_getitem(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_DICT("__getitem__");
    return dict_getitem(vm, self, args[1], result);
}

static bool d_setitem(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_DICT("__setitem__");
    *result = NONE_VAL;
    return dict_set(vm, self, args[1], args[2]);
}

static bool d_delitem(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_DICT("__delitem__");
    *result = NONE_VAL;
    return dict_delitem(vm, self, args[1]);
}

void dict_init_class(WkVM *vm) {
    ObjClass *c = vm->cls.dict;
    class_add_native(vm, c, "get", d_get, 2, 3, false);
    class_add_native(vm, c, "setdefault", d_setdefault, 2, 3, false);
    class_add_native(vm, c, "pop", d_pop, 2, 3, false);
    class_add_native(vm, c, "popitem", d_popitem, 1, 1, false);
    class_add_native(vm, c, "update", d_update, 1, 2, true);
    class_add_native(vm, c, "keys", d_keys, 1, 1, false);
    class_add_native(vm, c, "values", d_values, 1, 1, false);
    class_add_native(vm, c, "items", d_items, 1, 1, false);
    class_add_native(vm, c, "copy", d_copy, 1, 1, false);
    class_add_native(vm, c, "clear", d_clear, 1, 1, false);
    class_add_native(vm, c, "fromkeys", d_fromkeys, 1, 3, false);
    class_add_native(vm, c, "__contains__", d_contains, 2, 2, false);
    class_add_native(vm, c, "__getitem__", d_getitem, 2, 2, false);
    class_add_native(vm, c, "__setitem__", d_setitem, 3, 3, false);
    class_add_native(vm, c, "__delitem__", d_delitem, 2, 2, false);
}

// =============================================================================================
// Sets: CPython's setobject.c. A free slot has key EMPTY and hash 0; a tombstone (dummy) has
// key EMPTY and hash UINT64_MAX. The table starts at 8 slots and grows x4 when
// fill*5 >= mask*3; probing is 9 linear steps, then perturbation.
// =============================================================================================

#define SET_MINSIZE 8
#define LINEAR_PROBES 9
#define PERTURB_SHIFT 5
#define DUMMY_HASH UINT64_MAX

static bool is_dummy(const SetSlot *s) {
    return IS_EMPTY(s->key) && s->hash == DUMMY_HASH;
}

static bool is_unused(const SetSlot *s) {
    return IS_EMPTY(s->key) && s->hash == 0;
}

static SetSlot *new_slots(WkVM *vm, size_t n) {
    SetSlot *slots = gc_realloc(vm, NULL, 0, sizeof(SetSlot) * n);
    for (size_t i = 0; i < n; i++) {
        slots[i].key = EMPTY_VAL;
        slots[i].hash = 0;
    }
    return slots;
}

ObjSet *set_new_kind(WkVM *vm, bool frozen) {
    SetSlot *slots = new_slots(vm, SET_MINSIZE);
    ObjSet *s = (ObjSet *)gc_alloc_object(vm, sizeof(ObjSet), OBJ_SET);
    s->slots = slots;
    s->count = 0;
    s->fill = 0;
    s->mask = SET_MINSIZE - 1;
    s->version = 0;
    s->frozen = frozen;
    s->obj.aux = 0; // pop()'s finger
    return s;
}

ObjSet *set_new(WkVM *vm) {
    return set_new_kind(vm, false);
}

// set_insert_clean: place a key known to be absent into a table without dummies.
static void insert_clean(SetSlot *slots, uint32_t mask, Value key, uint64_t hash) {
    uint64_t perturb = hash;
    size_t i = (size_t)(hash & mask);
    SetSlot *e;
    for (;;) {
        e = &slots[i];
        if (IS_EMPTY(e->key)) {
            goto found;
        }
        if (i + LINEAR_PROBES <= mask) {
            for (int j = 0; j < LINEAR_PROBES; j++) {
                e++;
                if (IS_EMPTY(e->key)) {
                    goto found;
                }
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (size_t)((i * 5 + 1 + perturb) & mask);
    }
found:
    e->key = key;
    e->hash = hash;
}

// set_table_resize: the smallest power of two above [minused], entries re-placed in slot
// order. The new array is allocated before anything moves (a collection sees the old one).
static void set_resize(WkVM *vm, ObjSet *s, size_t minused) {
    size_t n = SET_MINSIZE;
    while (n <= minused) {
        n <<= 1;
    }
    SetSlot *slots = new_slots(vm, n);
    for (uint32_t i = 0; i <= s->mask; i++) {
        if (!IS_EMPTY(s->slots[i].key)) {
            insert_clean(slots, (uint32_t)(n - 1), s->slots[i].key, s->slots[i].hash);
        }
    }
    gc_free(vm, s->slots, sizeof(SetSlot) * ((size_t)s->mask + 1));
    s->slots = slots;
    s->mask = (uint32_t)(n - 1);
    s->fill = s->count;
}

// Find [key]: *slot is its index or -1. Restarts when user __eq__ changed the table.
static bool set_lookup(WkVM *vm, ObjSet *s, Value key, uint64_t hash, int64_t *slot) {
restart:;
    uint64_t perturb = hash;
    size_t i = (size_t)(hash & s->mask);
    for (;;) {
        SetSlot *e = &s->slots[i];
        int probes = (i + LINEAR_PROBES <= s->mask) ? LINEAR_PROBES : 0;
        do {
            if (is_unused(e)) {
                *slot = -1;
                return true;
            }
            if (!IS_EMPTY(e->key) && e->hash == hash) {
                Value k = e->key;
                if (value_is(k, key)) {
                    *slot = e - s->slots;
                    return true;
                }
                if (IS_STR(k) && IS_STR(key)) {
                    if (str_equal(AS_STR(k), AS_STR(key))) {
                        *slot = e - s->slots;
                        return true;
                    }
                } else {
                    SetSlot *slots = s->slots;
                    uint32_t mask = s->mask;
                    bool eq;
                    gc_push_root(vm, k);
                    bool ok = ops_equal(vm, k, key, &eq);
                    gc_pop_root(vm);
                    if (!ok) {
                        return false;
                    }
                    if (slots != s->slots || mask != s->mask || !value_is(e->key, k)) {
                        goto restart;
                    }
                    if (eq) {
                        *slot = e - s->slots;
                        return true;
                    }
                }
            }
            e++;
        } while (probes--);
        perturb >>= PERTURB_SHIFT;
        i = (size_t)((i * 5 + 1 + perturb) & s->mask);
    }
}

// set_add_entry with a known hash. [key] must be rooted by the caller.
static bool add_hashed(WkVM *vm, ObjSet *s, Value key, uint64_t hash) {
    int64_t slot;
    if (!set_lookup(vm, s, key, hash, &slot)) {
        return false;
    }
    if (slot >= 0) {
        return true;
    }
    // CPython puts the key into the first dummy on its probe path, else the free slot.
    uint64_t perturb = hash;
    size_t i = (size_t)(hash & s->mask);
    SetSlot *target = NULL;
    for (;;) {
        SetSlot *e = &s->slots[i];
        int probes = (i + LINEAR_PROBES <= s->mask) ? LINEAR_PROBES : 0;
        do {
            if (is_dummy(e) && !target) {
                target = e;
            } else if (is_unused(e)) {
                goto found;
            }
            e++;
        } while (probes--);
        perturb >>= PERTURB_SHIFT;
        i = (size_t)((i * 5 + 1 + perturb) & s->mask);
        continue;
    found:
        if (target) {
            target->key = key;
            target->hash = hash;
            s->count++;
            s->version++;
            return true;
        }
        e->key = key;
        e->hash = hash;
        s->count++;
        s->fill++;
        s->version++;
        if ((size_t)s->fill * 5 >= (size_t)s->mask * 3) {
            set_resize(vm, s, s->count > 50000 ? (size_t)s->count * 2 : (size_t)s->count * 4);
        }
        return true;
    }
}

bool set_add(WkVM *vm, ObjSet *s, Value key) {
    uint64_t hash;
    if (!ops_hash(vm, key, &hash)) {
        return false;
    }
    return add_hashed(vm, s, key, hash);
}

bool set_contains(WkVM *vm, ObjSet *s, Value key, bool *out) {
    uint64_t hash;
    if (!ops_hash(vm, key, &hash)) {
        return false;
    }
    int64_t slot;
    if (!set_lookup(vm, s, key, hash, &slot)) {
        return false;
    }
    *out = slot >= 0;
    return true;
}

bool set_discard(WkVM *vm, ObjSet *s, Value key, bool *found) {
    uint64_t hash;
    if (!ops_hash(vm, key, &hash)) {
        return false;
    }
    int64_t slot;
    if (!set_lookup(vm, s, key, hash, &slot)) {
        return false;
    }
    *found = slot >= 0;
    if (*found) {
        s->slots[slot].key = EMPTY_VAL;
        s->slots[slot].hash = DUMMY_HASH;
        s->count--;
        s->version++;
    }
    return true;
}

static void set_clear(ObjSet *s) {
    for (uint32_t i = 0; i <= s->mask; i++) {
        s->slots[i].key = EMPTY_VAL;
        s->slots[i].hash = 0;
    }
    s->count = s->fill = 0;
    s->version++;
}

// Merge the set [o] into [s] (set_merge).
static bool merge_set(WkVM *vm, ObjSet *s, ObjSet *o) {
    if (o == s || o->count == 0) {
        return true;
    }
    if (((size_t)s->fill + o->count) * 5 >= (size_t)s->mask * 3) {
        set_resize(vm, s, ((size_t)s->count + o->count) * 2);
    }
    if (s->fill == 0 && s->mask == o->mask && o->fill == o->count) {
        memcpy(s->slots, o->slots, sizeof(SetSlot) * ((size_t)s->mask + 1));
        s->count = s->fill = o->count;
        s->version++;
        return true;
    }
    if (s->fill == 0) {
        for (uint32_t i = 0; i <= o->mask; i++) {
            if (!IS_EMPTY(o->slots[i].key)) {
                insert_clean(s->slots, s->mask, o->slots[i].key, o->slots[i].hash);
                s->count++;
                s->fill++;
            }
        }
        s->version++;
        return true;
    }
    for (uint32_t i = 0; i <= o->mask; i++) {
        SetSlot e = o->slots[i];
        if (!IS_EMPTY(e.key) && !add_hashed(vm, s, e.key, e.hash)) {
            return false;
        }
    }
    return true;
}

static bool add_item(WkVM *vm, Value item, void *set) {
    return set_add(vm, set, item);
}

bool set_update(WkVM *vm, ObjSet *s, Value iterable) {
    if (IS_SET(iterable)) {
        return merge_set(vm, s, AS_SET(iterable));
    }
    if (IS_DICT(iterable)) {
        ObjDict *d = AS_DICT(iterable);
        if (((size_t)s->fill + d->table.count) * 5 >= (size_t)s->mask * 3) {
            set_resize(vm, s, ((size_t)s->count + d->table.count) * 2);
        }
        for (uint32_t i = 0; i < d->table.used; i++) {
            TableEntry e = d->table.entries[i];
            if (!IS_EMPTY(e.key) && !add_hashed(vm, s, e.key, e.hash)) {
                return false;
            }
        }
        return true;
    }
    return ops_each(vm, iterable, add_item, s);
}

bool set_from_iterable(WkVM *vm, Value iterable, bool frozen, ObjSet **out) {
    ObjSet *s = set_new_kind(vm, frozen);
    gc_push_root(vm, OBJ_VAL(s));
    bool ok = set_update(vm, s, iterable);
    gc_pop_root(vm);
    *out = s;
    return ok;
}

ObjSet *set_copy(WkVM *vm, ObjSet *s) {
    ObjSet *c = set_new_kind(vm, s->frozen);
    gc_push_root(vm, OBJ_VAL(c));
    bool ok = merge_set(vm, c, s); // no user code: keys are known distinct
    (void)ok;
    gc_pop_root(vm);
    return c;
}

// A set of [kind]'s kind holding [iterable]'s items; [iterable] itself when it is already a
// set (for read-only use).
static bool as_set(WkVM *vm, Value iterable, ObjSet **out) {
    if (IS_SET(iterable)) {
        *out = AS_SET(iterable);
        return true;
    }
    return set_from_iterable(vm, iterable, false, out);
}

// ---- Set algebra (results are new sets of [a]'s kind, built in CPython's order) ---------------

static bool has_key(WkVM *vm, ObjSet *s, Value key, uint64_t hash, bool *out) {
    int64_t slot;
    if (!set_lookup(vm, s, key, hash, &slot)) {
        return false;
    }
    *out = slot >= 0;
    return true;
}

// set_intersection: iterate the smaller set, keep keys found in the other.
static bool intersection(WkVM *vm, ObjSet *a, ObjSet *b, bool frozen, ObjSet **out) {
    ObjSet *r = set_new_kind(vm, frozen);
    gc_push_root(vm, OBJ_VAL(r));
    if (b->count > a->count) {
        ObjSet *t = a;
        a = b;
        b = t;
    }
    // now iterate the smaller, b
    for (uint32_t i = 0; i <= b->mask; i++) {
        SetSlot e = b->slots[i];
        if (IS_EMPTY(e.key)) {
            continue;
        }
        bool in;
        if (!has_key(vm, a, e.key, e.hash, &in) || (in && !add_hashed(vm, r, e.key, e.hash))) {
            gc_pop_root(vm);
            return false;
        }
    }
    gc_pop_root(vm);
    *out = r;
    return true;
}

static bool difference(WkVM *vm, ObjSet *a, ObjSet *b, bool frozen, ObjSet **out) {
    ObjSet *r = set_new_kind(vm, frozen);
    gc_push_root(vm, OBJ_VAL(r));
    bool ok = true;
    if ((a->count >> 2) > b->count) {
        ok = merge_set(vm, r, a);
        for (uint32_t i = 0; ok && i <= b->mask; i++) {
            SetSlot e = b->slots[i];
            bool found;
            if (!IS_EMPTY(e.key)) {
                ok = set_discard(vm, r, e.key, &found);
            }
        }
    } else {
        for (uint32_t i = 0; ok && i <= a->mask; i++) {
            SetSlot e = a->slots[i];
            bool in;
            if (!IS_EMPTY(e.key)) {
                ok = has_key(vm, b, e.key, e.hash, &in) &&
                     (in || add_hashed(vm, r, e.key, e.hash));
            }
        }
    }
    gc_pop_root(vm);
    *out = r;
    return ok;
}

// In place: for each key of [b], remove it from [a] if there, else add it.
static bool symmetric_update(WkVM *vm, ObjSet *a, ObjSet *b) {
    if (a == b) {
        set_clear(a);
        return true;
    }
    for (uint32_t i = 0; i <= b->mask; i++) {
        SetSlot e = b->slots[i];
        if (IS_EMPTY(e.key)) {
            continue;
        }
        int64_t slot;
        if (!set_lookup(vm, a, e.key, e.hash, &slot)) {
            return false;
        }
        if (slot >= 0) {
            a->slots[slot].key = EMPTY_VAL;
            a->slots[slot].hash = DUMMY_HASH;
            a->count--;
            a->version++;
        } else if (!add_hashed(vm, a, e.key, e.hash)) {
            return false;
        }
    }
    return true;
}

static bool difference_update(WkVM *vm, ObjSet *a, ObjSet *b) {
    if (a == b) {
        set_clear(a);
        return true;
    }
    for (uint32_t i = 0; i <= b->mask; i++) {
        SetSlot e = b->slots[i];
        bool found;
        if (!IS_EMPTY(e.key) && !set_discard(vm, a, e.key, &found)) {
            return false;
        }
    }
    return true;
}

// Move the contents of [src] into [dst] (set_swap_bodies, one way).
static void take_body(WkVM *vm, ObjSet *dst, ObjSet *src) {
    SetSlot *old = dst->slots;
    uint32_t old_mask = dst->mask;
    dst->slots = src->slots;
    dst->mask = src->mask;
    dst->count = src->count;
    dst->fill = src->fill;
    dst->version++;
    src->slots = old;
    src->mask = old_mask;
    set_clear(src);
    (void)vm;
}

// The binary operation [op] on sets [a] and [b] as a new set (or [a] updated when inplace).
static bool set_op(WkVM *vm, int op, ObjSet *a, ObjSet *b, bool inplace, ObjSet **out) {
    ObjSet *r = NULL;
    bool ok = true;
    switch (op) {
    case OPCODE_BOR:
        if (inplace) {
            *out = a;
            return merge_set(vm, a, b);
        }
        r = set_copy(vm, a);
        gc_push_root(vm, OBJ_VAL(r));
        ok = merge_set(vm, r, b);
        gc_pop_root(vm);
        break;
    case OPCODE_BAND:
        ok = intersection(vm, a, b, a->frozen, &r);
        if (ok && inplace) {
            take_body(vm, a, r);
            r = a;
        }
        break;
    case OPCODE_SUB:
        if (inplace) {
            *out = a;
            return difference_update(vm, a, b);
        }
        ok = difference(vm, a, b, a->frozen, &r);
        break;
    case OPCODE_BXOR:
        if (inplace) {
            *out = a;
            return symmetric_update(vm, a, b);
        }
        r = set_copy(vm, b);
        r->frozen = a->frozen;
        gc_push_root(vm, OBJ_VAL(r));
        ok = symmetric_update(vm, r, a);
        gc_pop_root(vm);
        break;
    default:
        WK_UNREACHABLE();
    }
    *out = r;
    return ok;
}

bool set_binary(WkVM *vm, int op, Value a, Value b, bool inplace, Value *out) {
    if (!IS_SET(a) || !IS_SET(b)) {
        *out = EMPTY_VAL;
        return true;
    }
    ObjSet *r;
    if (!set_op(vm, op, AS_SET(a), AS_SET(b), inplace && !AS_SET(a)->frozen, &r)) {
        return false;
    }
    *out = OBJ_VAL(r);
    return true;
}

// Every key of [a] is in [b].
static bool subset(WkVM *vm, ObjSet *a, ObjSet *b, bool *out) {
    *out = false;
    if (a->count > b->count) {
        return true;
    }
    for (uint32_t i = 0; i <= a->mask; i++) {
        SetSlot e = a->slots[i];
        bool in;
        if (IS_EMPTY(e.key)) {
            continue;
        }
        if (!has_key(vm, b, e.key, e.hash, &in)) {
            return false;
        }
        if (!in) {
            return true;
        }
    }
    *out = true;
    return true;
}

bool set_compare(WkVM *vm, int op, Value a, Value b, Value *out) {
    if (!IS_SET(a) || !IS_SET(b)) {
        *out = EMPTY_VAL;
        return true;
    }
    ObjSet *x = AS_SET(a), *y = AS_SET(b);
    bool r;
    switch (op) {
    case OPCODE_EQ:
    case OPCODE_NE:
        if (x->count != y->count) {
            r = false;
        } else if (!subset(vm, x, y, &r)) {
            return false;
        }
        if (op == OPCODE_NE) {
            r = !r;
        }
        break;
    case OPCODE_LE:
        if (!subset(vm, x, y, &r)) {
            return false;
        }
        break;
    case OPCODE_LT:
        if (!subset(vm, x, y, &r)) {
            return false;
        }
        r = r && x->count < y->count;
        break;
    case OPCODE_GE:
        if (!subset(vm, y, x, &r)) {
            return false;
        }
        break;
    case OPCODE_GT:
        if (!subset(vm, y, x, &r)) {
            return false;
        }
        r = r && y->count < x->count;
        break;
    default:
        *out = EMPTY_VAL;
        return true;
    }
    *out = BOOL_VAL(r);
    return true;
}

bool set_repr(WkVM *vm, ObjSet *s, ObjStr **out) {
    const char *name = s->frozen ? "frozenset" : "set";
    if (s->count == 0) {
        *out = str_printf(vm, "%s()", name);
        return true;
    }
    if (s->obj.flags & REPR_BUSY) {
        *out = str_printf(vm, "%s(...)", name);
        return true;
    }
    s->obj.flags |= REPR_BUSY;
    StrBuf b;
    strbuf_init(&b);
    if (s->frozen) {
        strbuf_add(&b, "frozenset(", 10);
    }
    strbuf_addc(&b, '{');
    bool first = true;
    for (uint32_t i = 0; i <= s->mask; i++) {
        Value k = s->slots[i].key;
        if (IS_EMPTY(k)) {
            continue;
        }
        ObjStr *r;
        if (!ops_repr(vm, k, &r)) {
            s->obj.flags &= (uint8_t)~REPR_BUSY;
            strbuf_free(&b);
            return false;
        }
        if (!first) {
            strbuf_add(&b, ", ", 2);
        }
        first = false;
        strbuf_add(&b, r->chars, r->size);
    }
    s->obj.flags &= (uint8_t)~REPR_BUSY;
    strbuf_addc(&b, '}');
    if (s->frozen) {
        strbuf_addc(&b, ')');
    }
    *out = strbuf_finish(vm, &b);
    return true;
}

static uint64_t shuffle_bits(uint64_t h) {
    return ((h ^ 89869747ULL) ^ (h << 16)) * 3644798167ULL;
}

// CPython's frozenset_hash.
bool set_hash(WkVM *vm, ObjSet *s, uint64_t *out) {
    if (!s->frozen) {
        return exc_raise(vm, vm->cls.TypeError, "unhashable type: 'set'");
    }
    uint64_t h = 0;
    for (uint32_t i = 0; i <= s->mask; i++) {
        if (!IS_EMPTY(s->slots[i].key)) {
            h ^= shuffle_bits(s->slots[i].hash);
        }
    }
    h ^= ((uint64_t)s->count + 1) * 1927868237ULL;
    h ^= (h >> 11) ^ (h >> 25);
    h = h * 69069U + 907133923ULL;
    if (h == UINT64_MAX) {
        h = 590923713ULL;
    }
    *out = h;
    return true;
}

// ---- set methods -----------------------------------------------------------------------------

#define SELF_SET(name)                                                                         \
    if (!IS_SET(args[0])) {                                                                    \
        return exc_raise(vm, vm->cls.TypeError,                                                \
                         "descriptor '" name "' for 'set' objects doesn't apply to a '%s' "    \
                         "object",                                                             \
                         tname(vm, args[0]));                                                  \
    }                                                                                          \
    ObjSet *self = AS_SET(args[0])

#define MUTABLE_SET(name)                                                                      \
    SELF_SET(name);                                                                            \
    if (self->frozen) {                                                                        \
        return exc_raise(vm, vm->cls.AttributeError,                                           \
                         "'frozenset' object has no attribute '" name "'");                    \
    }

static bool s_add(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    MUTABLE_SET("add");
    *result = NONE_VAL;
    return set_add(vm, self, args[1]);
}

static bool s_discard(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    MUTABLE_SET("discard");
    bool found;
    *result = NONE_VAL;
    return set_discard(vm, self, args[1], &found);
}

static bool s_remove(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    MUTABLE_SET("remove");
    bool found;
    if (!set_discard(vm, self, args[1], &found)) {
        return false;
    }
    *result = NONE_VAL;
    return found || dict_raise_key_error(vm, args[1]);
}

// set.pop: from the finger onwards, as CPython.
static bool s_pop(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    MUTABLE_SET("pop");
    if (self->count == 0) {
        Value msg = OBJ_VAL(str_from_cstr(vm, "pop from an empty set"));
        gc_push_root(vm, msg);
        bool ok = dict_raise_key_error(vm, msg);
        gc_pop_root(vm);
        return ok;
    }
    uint32_t i = self->obj.aux & self->mask;
    while (IS_EMPTY(self->slots[i].key)) {
        i = (i + 1) & self->mask;
    }
    *result = self->slots[i].key;
    self->slots[i].key = EMPTY_VAL;
    self->slots[i].hash = DUMMY_HASH;
    self->count--;
    self->version++;
    self->obj.aux = i + 1;
    return true;
}

static bool s_clear(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    MUTABLE_SET("clear");
    set_clear(self);
    *result = NONE_VAL;
    return true;
}

static bool s_copy(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_SET("copy");
    *result = OBJ_VAL(set_copy(vm, self));
    return true;
}

static bool s_update(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    MUTABLE_SET("update");
    for (int i = 1; i < argc; i++) {
        if (!set_update(vm, self, args[i])) {
            return false;
        }
    }
    *result = NONE_VAL;
    return true;
}

// The method forms of the operators take any iterables: each argument is made a set first.
// With [inplace] the receiver is updated; otherwise a new set accumulates.
static bool multi_op(WkVM *vm, Value *args, int argc, int op, bool inplace, Value *result) {
    ObjSet *self = AS_SET(args[0]);
    ObjSet *acc = self;
    int roots = 0;
    if (!inplace) {
        acc = set_copy(vm, self);
        gc_push_root(vm, OBJ_VAL(acc));
        roots++;
        if (op != OPCODE_BOR && argc == 1) {
            *result = OBJ_VAL(acc);
            gc_pop_roots(vm, roots);
            return true;
        }
    }
    bool ok = true;
    for (int i = 1; ok && i < argc; i++) {
        ObjSet *other, *r;
        if (op == OPCODE_BOR) {
            ok = set_update(vm, acc, args[i]);
            continue;
        }
        if (!(ok = as_set(vm, args[i], &other))) {
            break;
        }
        gc_push_root(vm, OBJ_VAL(other));
        ok = set_op(vm, op, acc, other, true, &r);
        gc_pop_root(vm);
    }
    gc_pop_roots(vm, roots);
    *result = inplace ? NONE_VAL : OBJ_VAL(acc);
    return ok;
}

static bool s_union(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_SET("union");
    (void)self;
    return multi_op(vm, args, argc, OPCODE_BOR, false, result);
}

static bool s_intersection(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_SET("intersection");
    (void)self;
    return multi_op(vm, args, argc, OPCODE_BAND, false, result);
}

static bool s_intersection_update(WkVM *vm, Value *args, int argc, ObjDict *kw,
                                  Value *result) {
    (void)kw;
    MUTABLE_SET("intersection_update");
    return multi_op(vm, args, argc, OPCODE_BAND, true, result);
}

static bool s_difference(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    SELF_SET("difference");
    (void)self;
    return multi_op(vm, args, argc, OPCODE_SUB, false, result);
}

static bool s_difference_update(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)kw;
    MUTABLE_SET("difference_update");
    return multi_op(vm, args, argc, OPCODE_SUB, true, result);
}

static bool s_symmetric_difference(WkVM *vm, Value *args, int argc, ObjDict *kw,
                                   Value *result) {
    (void)argc, (void)kw;
    SELF_SET("symmetric_difference");
    ObjSet *other, *r;
    if (!as_set(vm, args[1], &other)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(other));
    bool ok = set_op(vm, OPCODE_BXOR, self, other, false, &r);
    gc_pop_root(vm);
    *result = OBJ_VAL(r);
    return ok;
}

static bool s_symmetric_difference_update(WkVM *vm, Value *args, int argc, ObjDict *kw,
                                          Value *result) {
    (void)argc, (void)kw;
    MUTABLE_SET("symmetric_difference_update");
    return multi_op(vm, args, 2, OPCODE_BXOR, true, result);
}

// issubset / issuperset / isdisjoint take any iterable.
static bool relation(WkVM *vm, Value *args, int which, Value *result) {
    ObjSet *self = AS_SET(args[0]), *other;
    if (!as_set(vm, args[1], &other)) {
        return false;
    }
    gc_push_root(vm, OBJ_VAL(other));
    bool r = false, ok = true;
    if (which == 0) {
        ok = subset(vm, self, other, &r);
    } else if (which == 1) {
        ok = subset(vm, other, self, &r);
    } else {
        ObjSet *inter;
        ok = intersection(vm, self, other, false, &inter);
        r = ok && inter->count == 0;
    }
    gc_pop_root(vm);
    *result = BOOL_VAL(r);
    return ok;
}

static bool s_issubset(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_SET("issubset");
    (void)self;
    return relation(vm, args, 0, result);
}

static bool s_issuperset(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_SET("issuperset");
    (void)self;
    return relation(vm, args, 1, result);
}

static bool s_isdisjoint(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_SET("isdisjoint");
    (void)self;
    return relation(vm, args, 2, result);
}

static bool s_contains(WkVM *vm, Value *args, int argc, ObjDict *kw, Value *result) {
    (void)argc, (void)kw;
    SELF_SET("__contains__");
    bool in;
    if (!set_contains(vm, self, args[1], &in)) {
        return false;
    }
    *result = BOOL_VAL(in);
    return true;
}

// Register on [c] (set or frozenset); the mutating ones only when [mutable].
static void set_register(WkVM *vm, ObjClass *c, bool mutable) {
    class_add_native(vm, c, "copy", s_copy, 1, 1, false);
    class_add_native(vm, c, "union", s_union, 1, -1, false);
    class_add_native(vm, c, "intersection", s_intersection, 1, -1, false);
    class_add_native(vm, c, "difference", s_difference, 1, -1, false);
    class_add_native(vm, c, "symmetric_difference", s_symmetric_difference, 2, 2, false);
    class_add_native(vm, c, "issubset", s_issubset, 2, 2, false);
    class_add_native(vm, c, "issuperset", s_issuperset, 2, 2, false);
    class_add_native(vm, c, "isdisjoint", s_isdisjoint, 2, 2, false);
    class_add_native(vm, c, "__contains__", s_contains, 2, 2, false);
    if (!mutable) {
        return;
    }
    class_add_native(vm, c, "add", s_add, 2, 2, false);
    class_add_native(vm, c, "discard", s_discard, 2, 2, false);
    class_add_native(vm, c, "remove", s_remove, 2, 2, false);
    class_add_native(vm, c, "pop", s_pop, 1, 1, false);
    class_add_native(vm, c, "clear", s_clear, 1, 1, false);
    class_add_native(vm, c, "update", s_update, 1, -1, false);
    class_add_native(vm, c, "intersection_update", s_intersection_update, 1, -1, false);
    class_add_native(vm, c, "difference_update", s_difference_update, 1, -1, false);
    class_add_native(vm, c, "symmetric_difference_update", s_symmetric_difference_update, 2, 2,
                     false);
}

void set_init_class(WkVM *vm) {
    set_register(vm, vm->cls.set, true);
    if (vm->cls.frozenset) {
        set_register(vm, vm->cls.frozenset, false);
    }
}
