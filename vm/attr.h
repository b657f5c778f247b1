// Attributes: lookup through instance fields and the class chain, descriptors (functions
// bind, property, staticmethod, classmethod), __getattr__, module attributes, and the
// load-method path that calls methods without allocating bound-method objects.
#ifndef WK_VM_ATTR_H
#define WK_VM_ATTR_H

#include "vm/config.h"
#include "vm/vm.h"

// obj.name; AttributeError as CPython words it ("'int' object has no attribute 'foo'").
WK_NODISCARD bool attr_get(WkVM *vm, Value obj, ObjStr *name, Value *out);
// obj.name without AttributeError: *found false when absent (other errors still raise).
WK_NODISCARD bool attr_get_opt(WkVM *vm, Value obj, ObjStr *name, Value *out, bool *found);
WK_NODISCARD bool attr_set(WkVM *vm, Value obj, ObjStr *name, Value v);
WK_NODISCARD bool attr_del(WkVM *vm, Value obj, ObjStr *name);
// For LOAD_METHOD: when obj.name is a plain function or native found on the class,
// *method = that function and *unbound = true (call it with obj first); otherwise
// *method = attr_get's result and *unbound = false.
WK_NODISCARD bool attr_load_method(WkVM *vm, Value obj, ObjStr *name, Value *method,
                                   bool *unbound);

#endif
