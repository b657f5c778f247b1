// The insertion-ordered hash table (Table in vm/object.h) behind dict, globals, class
// namespaces and instance fields. Keys compare with ops_equal, so lookups may call __eq__
// and raise; the _str variants take interned-or-not ObjStr keys and never raise.
#ifndef WK_VM_TABLE_H
#define WK_VM_TABLE_H

#include "vm/config.h"
#include "vm/vm.h"

void table_init(Table *t);
void table_free(WkVM *vm, Table *t);
// Find [key] (with [hash]): *found and *out. May call __eq__.
WK_NODISCARD bool table_get(WkVM *vm, Table *t, Value key, uint64_t hash, Value *out,
                            bool *found);
// Insert or replace. May call __eq__; may allocate (the table's owner must be rooted).
WK_NODISCARD bool table_set(WkVM *vm, Table *t, Value key, uint64_t hash, Value value);
// Remove [key]; *found tells whether it was there.
WK_NODISCARD bool table_delete(WkVM *vm, Table *t, Value key, uint64_t hash, bool *found);
// String-keyed fast paths (names, attributes): the value slot or NULL.
Value *table_get_str(Table *t, ObjStr *key);
void table_set_str(WkVM *vm, Table *t, ObjStr *key, Value value);
bool table_delete_str(WkVM *vm, Table *t, ObjStr *key);
// Mark every key and value.
void table_mark(WkVM *vm, Table *t);
// The string key with [size] bytes [chars] and [hash], or NULL (the intern table). Pure.
ObjStr *table_find_chars(Table *t, const char *chars, size_t size, uint64_t hash);
// Remove the entry at dense position [i] (its key must be live). Pure.
void table_remove_at(Table *t, uint32_t i);
// The next live entry at dense position >= [*pos] (advanced past it), or NULL at the end.
// For iteration: positions stay valid until the next insertion. Pure.
TableEntry *table_next(Table *t, uint32_t *pos);
// Make [dst] a copy of [src] (dst initialised and empty). May allocate.
void table_copy(WkVM *vm, Table *dst, Table *src);
// Remove every entry, keeping the arrays.
void table_clear(Table *t);

#endif
