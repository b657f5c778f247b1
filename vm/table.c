// The insertion-ordered hash table behind dicts, globals, namespaces and instance fields, and
// the intern table. Entries are dense in insertion order; a sparse int32 index of power-of-two
// size maps probe slots to entry numbers (CPython's compact dict). It owns its two arrays and
// nothing else: keys and values belong to the table's owner, which must be rooted.
#include "vm/table.h"

#include <string.h>

#include "gc/gc.h"
#include "vm/ops.h"
#include "vm/str.h"

#define SLOT_FREE (-1)
#define SLOT_DELETED (-2)
#define MIN_INDEX 8
#define PERTURB_SHIFT 5

// ---- Layout ----------------------------------------------------------------------------------

void table_init(Table *t) {
    t->entries = NULL;
    t->index = NULL;
    t->count = 0;
    t->used = 0;
    t->cap = 0;
    t->mask = 0;
}

static size_t index_size(const Table *t) {
    return t->index ? (size_t)t->mask + 1 : 0;
}

// The index and the entries share one block, index first: one allocation per table, and a
// lookup's index probe and entry read usually land in neighbouring cache lines.
static size_t block_size(size_t index_slots, uint32_t cap) {
    return sizeof(int32_t) * index_slots + sizeof(TableEntry) * cap;
}

// Release the block (not the entries' keys and values, which the collector owns).
static void free_arrays(WkVM *vm, Table *t) {
    if (t->index) {
        gc_free(vm, t->index, block_size(index_size(t), t->cap));
    }
}

void table_free(WkVM *vm, Table *t) {
    free_arrays(vm, t);
    table_init(t);
}

// Usable entries for an index of [n] slots: load factor at most 2/3.
static uint32_t usable(size_t n) {
    return (uint32_t)(n * 2 / 3);
}

static bool is_str_key(Value k) {
    return IS_OBJ(k) && AS_OBJ(k)->type == OBJ_STR;
}

static bool same_str(ObjStr *a, ObjStr *b) {
    return a == b || (str_hash(a) == str_hash(b) && a->size == b->size &&
                      memcmp(a->chars, b->chars, a->size) == 0);
}

// The first free index slot for [hash] (no key comparison: the key is known to be absent).
static uint32_t free_slot(const Table *t, uint64_t hash) {
    uint64_t perturb = hash;
    uint32_t i = (uint32_t)hash & t->mask;
    while (t->index[i] >= 0) {
        perturb >>= PERTURB_SHIFT;
        i = (uint32_t)((i * 5 + perturb + 1) & t->mask);
    }
    return i;
}

// Rebuild with room for at least [need] live entries, dropping deleted ones. The new block is
// allocated before anything moves, so a collection during allocation sees the old,
// consistent table.
static void resize(WkVM *vm, Table *t, uint32_t need) {
    size_t n = MIN_INDEX;
    while (usable(n) < need) {
        n *= 2;
    }
    uint32_t cap = usable(n);
    int32_t *index = gc_realloc(vm, NULL, 0, block_size(n, cap));
    TableEntry *entries = (TableEntry *)(index + n); // n is a power of two >= 8: aligned
    memset(index, 0xff, sizeof(int32_t) * n); // SLOT_FREE
    uint32_t j = 0;
    for (uint32_t i = 0; i < t->used; i++) {
        if (!IS_EMPTY(t->entries[i].key)) {
            entries[j++] = t->entries[i];
        }
    }
    free_arrays(vm, t);
    t->entries = entries;
    t->index = index;
    t->cap = cap;
    t->mask = (uint32_t)(n - 1);
    t->used = j;
    t->count = j;
    for (uint32_t i = 0; i < j; i++) {
        t->index[free_slot(t, entries[i].hash)] = (int32_t)i;
    }
}

// Append a new entry for an absent key, growing first when the dense array is full. The key
// and value are rooted across the growth (a fresh string key is often unrooted).
static void insert_new(WkVM *vm, Table *t, Value key, uint64_t hash, Value value) {
    if (t->used >= t->cap) {
        gc_push_root(vm, key);
        gc_push_root(vm, value);
        resize(vm, t, t->count * 2 + 1 > 5 ? t->count * 2 + 1 : 5);
        gc_pop_roots(vm, 2);
    }
    uint32_t e = t->used++;
    t->entries[e].key = key;
    t->entries[e].value = value;
    t->entries[e].hash = hash;
    t->index[free_slot(t, hash)] = (int32_t)e;
    t->count++;
}

// ---- String keys (never raise) ---------------------------------------------------------------

// Index slot holding [key], or -1. Strings compare by pointer, then hash and bytes.
static int64_t find_str_slot(const Table *t, ObjStr *key) {
    if (t->count == 0) {
        return -1;
    }
    uint64_t hash = str_hash(key);
    uint64_t perturb = hash;
    uint32_t i = (uint32_t)hash & t->mask;
    for (;;) {
        int32_t e = t->index[i];
        if (e == SLOT_FREE) {
            return -1;
        }
        if (e >= 0) {
            // Pointer first, then the cached hash: a mismatch never touches the key object.
            const TableEntry *entry = &t->entries[e];
            if (IS_OBJ(entry->key) && (AS_OBJ(entry->key) == (Obj *)key ||
                                       (entry->hash == hash && is_str_key(entry->key) &&
                                        same_str((ObjStr *)AS_OBJ(entry->key), key)))) {
                return i;
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (uint32_t)((i * 5 + perturb + 1) & t->mask);
    }
}

Value *table_get_str(Table *t, ObjStr *key) {
    int64_t slot = find_str_slot(t, key);
    return slot < 0 ? NULL : &t->entries[t->index[slot]].value;
}

void table_set_str(WkVM *vm, Table *t, ObjStr *key, Value value) {
    Value *v = table_get_str(t, key);
    if (v) {
        *v = value;
        return;
    }
    insert_new(vm, t, OBJ_VAL(key), str_hash(key), value);
}

static void remove_slot(Table *t, uint32_t slot) {
    int32_t e = t->index[slot];
    t->index[slot] = SLOT_DELETED;
    t->entries[e].key = EMPTY_VAL;
    t->entries[e].value = EMPTY_VAL;
    t->count--;
}

bool table_delete_str(WkVM *vm, Table *t, ObjStr *key) {
    (void)vm;
    int64_t slot = find_str_slot(t, key);
    if (slot < 0) {
        return false;
    }
    remove_slot(t, (uint32_t)slot);
    return true;
}

ObjStr *table_find_chars(Table *t, const char *chars, size_t size, uint64_t hash) {
    if (t->count == 0) {
        return NULL;
    }
    uint64_t perturb = hash;
    uint32_t i = (uint32_t)hash & t->mask;
    for (;;) {
        int32_t e = t->index[i];
        if (e == SLOT_FREE) {
            return NULL;
        }
        if (e >= 0 && t->entries[e].hash == hash && is_str_key(t->entries[e].key)) {
            ObjStr *s = (ObjStr *)AS_OBJ(t->entries[e].key);
            if (s->size == size && memcmp(s->chars, chars, size) == 0) {
                return s;
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (uint32_t)((i * 5 + perturb + 1) & t->mask);
    }
}

// ---- Generic keys (may call __eq__) ----------------------------------------------------------

// Find the index slot of [key] into *slot (-1 when absent). ops_equal may run user code that
// mutates the table or collects: the compared key is rooted, and when the table's arrays or
// the entry changed meanwhile the search restarts, as CPython's lookdict does.
static bool find_slot(WkVM *vm, Table *t, Value key, uint64_t hash, int64_t *slot) {
restart:
    *slot = -1;
    if (t->count == 0) {
        return true;
    }
    bool key_is_str = is_str_key(key);
    uint64_t perturb = hash;
    uint32_t i = (uint32_t)hash & t->mask;
    for (;;) {
        int32_t e = t->index[i];
        if (e == SLOT_FREE) {
            return true;
        }
        if (e >= 0) {
            TableEntry *entry = &t->entries[e];
            if (value_is(entry->key, key)) {
                *slot = i;
                return true;
            }
            if (entry->hash == hash) {
                Value k = entry->key;
                if (key_is_str && is_str_key(k)) {
                    if (same_str((ObjStr *)AS_OBJ(k), (ObjStr *)AS_OBJ(key))) {
                        *slot = i;
                        return true;
                    }
                } else {
                    TableEntry *entries = t->entries;
                    int32_t *index = t->index;
                    uint32_t mask = t->mask;
                    bool eq;
                    gc_push_root(vm, k);
                    bool ok = ops_equal(vm, k, key, &eq);
                    gc_pop_root(vm);
                    if (!ok) {
                        return false;
                    }
                    if (entries != t->entries || index != t->index || mask != t->mask ||
                        t->index[i] != e || !value_is(t->entries[e].key, k)) {
                        goto restart;
                    }
                    if (eq) {
                        *slot = i;
                        return true;
                    }
                }
            }
        }
        perturb >>= PERTURB_SHIFT;
        i = (uint32_t)((i * 5 + perturb + 1) & t->mask);
    }
}

bool table_get(WkVM *vm, Table *t, Value key, uint64_t hash, Value *out, bool *found) {
    int64_t slot;
    if (!find_slot(vm, t, key, hash, &slot)) {
        return false;
    }
    *found = slot >= 0;
    if (*found) {
        *out = t->entries[t->index[slot]].value;
    }
    return true;
}

bool table_set(WkVM *vm, Table *t, Value key, uint64_t hash, Value value) {
    int64_t slot;
    if (!find_slot(vm, t, key, hash, &slot)) {
        return false;
    }
    if (slot >= 0) {
        t->entries[t->index[slot]].value = value;
    } else {
        insert_new(vm, t, key, hash, value);
    }
    return true;
}

bool table_delete(WkVM *vm, Table *t, Value key, uint64_t hash, bool *found) {
    int64_t slot;
    if (!find_slot(vm, t, key, hash, &slot)) {
        return false;
    }
    *found = slot >= 0;
    if (*found) {
        remove_slot(t, (uint32_t)slot);
    }
    return true;
}

// ---- Whole-table operations ------------------------------------------------------------------

void table_remove_at(Table *t, uint32_t i) {
    TableEntry *entry = &t->entries[i];
    uint64_t perturb = entry->hash;
    uint32_t s = (uint32_t)entry->hash & t->mask;
    while (t->index[s] != (int32_t)i) {
        perturb >>= PERTURB_SHIFT;
        s = (uint32_t)((s * 5 + perturb + 1) & t->mask);
    }
    remove_slot(t, s);
}

TableEntry *table_next(Table *t, uint32_t *pos) {
    while (*pos < t->used) {
        TableEntry *e = &t->entries[(*pos)++];
        if (!IS_EMPTY(e->key)) {
            return e;
        }
    }
    return NULL;
}

void table_copy(WkVM *vm, Table *dst, Table *src) {
    if (src->count == 0) {
        return;
    }
    resize(vm, dst, src->count);
    for (uint32_t i = 0; i < src->used; i++) {
        TableEntry *e = &src->entries[i];
        if (!IS_EMPTY(e->key)) {
            uint32_t j = dst->used++;
            dst->entries[j] = *e;
            dst->index[free_slot(dst, e->hash)] = (int32_t)j;
            dst->count++;
        }
    }
}

void table_clear(Table *t) {
    if (t->index) {
        memset(t->index, 0xff, sizeof(int32_t) * index_size(t));
    }
    t->count = 0;
    t->used = 0;
}

void table_mark(WkVM *vm, Table *t) {
    for (uint32_t i = 0; i < t->used; i++) {
        TableEntry *e = &t->entries[i];
        if (!IS_EMPTY(e->key)) {
            gc_mark_value_in(&vm->gc, e->key);
            gc_mark_value_in(&vm->gc, e->value);
        }
    }
}
