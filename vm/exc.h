// Exceptions: creating and raising them, matching in `except`, and their traceback entries.
// A failing native raises with one of these and returns false: `return exc_raise(...)`.
#ifndef WK_VM_EXC_H
#define WK_VM_EXC_H

#include "vm/config.h"
#include "vm/vm.h"

// Raise a new [type] whose message is printf-formatted. Always returns false.
// %s takes a C string; to show a wk type name use class_of(vm, v)->name->chars.
WK_RAISES bool exc_raise(WkVM *vm, ObjClass *type, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// Raise [exc]: an exception instance, or an exception class (instantiated with no args).
// TypeError when it is neither. Sets __context__ from the handled exception. Returns false.
WK_RAISES bool exc_raise_value(WkVM *vm, Value exc);

// A new exception instance of [type] with args tuple [args] (may allocate).
ObjException *exc_new(WkVM *vm, ObjClass *type, ObjTuple *args);

// True when exception [exc] is an instance of the class [type], or of one in the tuple [type].
// TypeError (returning false with *ok false) when [type] is not a class or tuple of classes.
bool exc_matches(WkVM *vm, Value exc, Value type, bool *ok);

// True when [v] is a raised exception of class [type] (or a subclass).
bool exc_is(WkVM *vm, Value v, ObjClass *type);

// Record that [exc] passed through instruction [index] of [code] while propagating outward.
// The VM calls this once per frame, innermost frame first; tracebacks print outermost first.
void exc_add_traceback(WkVM *vm, ObjException *exc, ObjCode *code, uint32_t index);

// The message of [exc]: str(exc) (may allocate). NULL with an exception pending on failure.
ObjStr *exc_message(WkVM *vm, ObjException *exc);

// Create the exception classes in vm->cls and their methods (BaseException.__init__,
// __str__, __repr__, args, with_traceback not needed).
void exc_init_classes(WkVM *vm);

// RAISE_VARARGS 2: raise [exc] (instance or class) with __cause__ [cause] (an exception
// instance or class, or None); sets __suppress_context__. Always returns false.
WK_RAISES bool exc_raise_from(WkVM *vm, Value exc, Value cause);

// A new SyntaxError, IndentationError or TabError (by [kind], "SyntaxError" when unknown) for a
// compile error: args (msg, (filename, lineno, offset, text, end_lineno, end_offset)) and the
// attributes msg, filename, lineno, offset, text, end_lineno, end_offset. [col] and [end_col]
// are 1-based columns on [line] (0: no caret), [text] the source line or NULL. Does not raise:
// the caller stores it in vm->exception. May allocate.
ObjException *exc_new_syntax_error(WkVM *vm, const char *kind, const char *msg,
                                   const char *filename, int line, int col, int end_col,
                                   const char *text);

// BaseException.__init__ (a NativeFn): stores the arguments as args. class_call skips it.
bool exc_base_init(WkVM *vm, Value *args, int argc, ObjDict *kwargs, Value *result);

// Put every exception class into [builtins] (the extra CPython ones without a vm->cls field,
// FileNotFoundError, Warning, ..., are created here). May allocate.
void exc_register_builtins(WkVM *vm, ObjDict *builtins);

// Print each string of [exc].__notes__ on its own line, as CPython 3.11 does after
// "Type: message" (wk's assertion explanations are notes).
void exc_print_notes(WkVM *vm, Value exc, FILE *out);

// Print "Traceback (most recent call last):", the entries with their source lines and
// carets, the chained causes/contexts, and "Type: message" to [out], as CPython 3.11 does.
void exc_print(WkVM *vm, Value exc, FILE *out);

#endif
