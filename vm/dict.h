// Dicts (insertion ordered) and sets (CPython's slot order), and their types' methods.
#ifndef WK_VM_DICT_H
#define WK_VM_DICT_H

#include "vm/config.h"
#include "vm/vm.h"

ObjDict *dict_new(WkVM *vm);
// d[key] lookups; hash via ops_hash (TypeError for unhashable keys).
WK_NODISCARD bool dict_get(WkVM *vm, ObjDict *d, Value key, Value *out, bool *found);
WK_NODISCARD bool dict_set(WkVM *vm, ObjDict *d, Value key, Value value);
WK_NODISCARD bool dict_delete(WkVM *vm, ObjDict *d, Value key, bool *found);
// String-keyed fast paths.
Value *dict_get_str(ObjDict *d, ObjStr *key);
void dict_set_str(WkVM *vm, ObjDict *d, ObjStr *key, Value value);
// ---- Dict helpers for the protocols (vm/ops.c) and builtins ---------------------------------

// d[key]: KeyError(key) when missing. May call __eq__/__hash__.
WK_NODISCARD bool dict_getitem(WkVM *vm, ObjDict *d, Value key, Value *out);
// del d[key]: KeyError(key) when missing.
WK_NODISCARD bool dict_delitem(WkVM *vm, ObjDict *d, Value key);
// d.update(other): a dict, an object with keys(), or an iterable of pairs.
WK_NODISCARD bool dict_update(WkVM *vm, ObjDict *d, Value other);
// A shallow copy (may allocate).
ObjDict *dict_copy(WkVM *vm, ObjDict *d);
// repr(d): "{'a': 1}", "{...}" inside itself. May call __repr__.
WK_NODISCARD bool dict_repr(WkVM *vm, ObjDict *d, ObjStr **out);
// a == b (same keys, equal values).
WK_NODISCARD bool dict_equal(WkVM *vm, ObjDict *a, ObjDict *b, bool *out);
// a | b (a new dict) for two dicts.
WK_NODISCARD bool dict_or(WkVM *vm, ObjDict *a, ObjDict *b, Value *out);
// Raise KeyError with args (key,).
WK_RAISES bool dict_raise_key_error(WkVM *vm, Value key);
// Keyword arguments for natives: the value of [name] in [kwargs] (NULL-safe), or NULL. Pure.
Value *dict_get_cstr(ObjDict *kwargs, const char *name);
// TypeError "'k' is an invalid keyword argument for F()" when [kwargs] holds a key not among
// the NULL-terminated [names] (of function [fname]).
WK_NODISCARD bool dict_check_kwargs(WkVM *vm, ObjDict *kwargs, const char *fname,
                                    const char *const *names);

void dict_init_class(WkVM *vm);

ObjSet *set_new(WkVM *vm);
WK_NODISCARD bool set_add(WkVM *vm, ObjSet *s, Value key);
WK_NODISCARD bool set_contains(WkVM *vm, ObjSet *s, Value key, bool *out);
// A frozenset when [frozen].
ObjSet *set_new_kind(WkVM *vm, bool frozen);
// A new set (or frozenset) of the items of [iterable] (set(x), frozenset(x)).
WK_NODISCARD bool set_from_iterable(WkVM *vm, Value iterable, bool frozen, ObjSet **out);
// Remove [key]: *found tells whether it was there (discard; remove raises on !found).
WK_NODISCARD bool set_discard(WkVM *vm, ObjSet *s, Value key, bool *found);
// s.update(iterable).
WK_NODISCARD bool set_update(WkVM *vm, ObjSet *s, Value iterable);
// A shallow copy of the same kind (may allocate).
ObjSet *set_copy(WkVM *vm, ObjSet *s);
// a OP b for OPCODE_BOR, OPCODE_BAND, OPCODE_SUB, OPCODE_BXOR on two sets/frozensets: a new
// set of [a]'s kind. With [inplace], [a] is updated and returned (|= &= -= ^=). *out is
// EMPTY (no error) when [b] is not a set: the caller returns NotImplemented.
WK_NODISCARD bool set_binary(WkVM *vm, int op, Value a, Value b, bool inplace, Value *out);
// a OP b for OPCODE_LT..OPCODE_GE (subset/superset, equality) on two sets. *out EMPTY when
// [b] is not a set.
WK_NODISCARD bool set_compare(WkVM *vm, int op, Value a, Value b, Value *out);
// repr: "{1, 2}", "set()", "frozenset({1})". May call __repr__.
WK_NODISCARD bool set_repr(WkVM *vm, ObjSet *s, ObjStr **out);
// hash of a frozenset (TypeError "unhashable type: 'set'" for a set).
WK_NODISCARD bool set_hash(WkVM *vm, ObjSet *s, uint64_t *out);
void set_init_class(WkVM *vm);

#endif
