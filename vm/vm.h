// The virtual machine: its state (one WkVM, no globals), frames, the interpreter loop, calls
// in both directions between C and wk code, and module loading. Built-in types live in their
// own files (str.c, list.c, ...); operators and protocols in ops.c; attributes in attr.c.
#ifndef WK_VM_VM_H
#define WK_VM_VM_H

#include <stdbool.h>
#include <stdio.h>

#include "gc/gc.h"
#include "vm/object.h"

#define VM_FRAMES_MAX 1100       // recursion limit 1000 plus room for natives' re-entry
#define VM_RECURSION_LIMIT 1000
#define VM_STACK_MAX (512 * 1024) // values
#define VM_BLOCKS_MAX 32
#define VM_NATIVE_DEPTH_MAX 200  // nested C -> wk -> C re-entries before RecursionError
#define VM_C_DEPTH_MAX 1000      // nesting of repr/str/==/</hash through containers (vm/ops.c)

typedef enum {
    BLOCK_TRY,     // SETUP_TRY / SETUP_WITH: [target] is the handler
    BLOCK_HANDLER, // an except/finally handler is running; [depth] is vm->handled_count before
} BlockKind;

typedef struct {
    uint32_t target;
    uint32_t depth;
    uint8_t kind;
} Block;

// CallFrame.flags
#define FRAME_BOUNDARY 1    // returning from this frame returns to the C caller (vm_call)
#define FRAME_CONSTRUCTOR 2 // an __init__ run by a class call: returns the instance below slots

typedef struct {
    ObjFunction *func;
    ObjCode *code;
    uint32_t *ip;
    Value *slots;         // locals, then cells, then frees, then the value stack
    Value *sp;            // saved stack top while another frame runs
    ObjDict *globals;
    ObjDict *locals;      // LOAD_NAME/STORE_NAME namespace, or NULL
    ObjGenerator *gen;    // the generator this frame runs (a boundary frame), or NULL
    uint8_t flags;        // FRAME_*: 0 for a plain call, the one RETURN_VALUE tests first
    uint8_t nblocks;
    Block blocks[VM_BLOCKS_MAX];
} CallFrame;

// The built-in classes.
typedef struct {
    ObjClass *object, *type, *NoneType, *bool_, *int_, *float_, *str, *tuple, *list, *dict,
        *set, *frozenset, *range, *slice, *function, *builtin_function, *method, *cell, *code,
        *module, *generator, *iterator, *property, *staticmethod, *classmethod, *super_,
        *NotImplementedType, *ellipsis;
    // exceptions
    ObjClass *BaseException, *Exception, *SystemExit, *KeyboardInterrupt, *GeneratorExit,
        *StopIteration, *ArithmeticError, *ZeroDivisionError, *OverflowError, *AssertionError,
        *AttributeError, *LookupError, *IndexError, *KeyError, *NameError, *UnboundLocalError,
        *TypeError, *ValueError, *RuntimeError, *RecursionError, *NotImplementedError,
        *ImportError, *ModuleNotFoundError, *MemoryError, *ReferenceError, *SyntaxError,
        *IndentationError, *TabError, *OSError, *EOFError, *UnicodeError;
    // weakref (stdlib/mod_weakref.c)
    ObjClass *ref, *proxy, *callable_proxy, *weakmethod, *weakkeydict, *weakvaluedict,
        *weakset, *finalize;
} VMClasses;

// Interned names the VM uses often, so hot paths compare pointers.
#define VM_NAME_LIST(X)                                                                        \
    X(__init__) X(__new__) X(__repr__) X(__str__) X(__eq__) X(__ne__) X(__lt__) X(__le__)     \
    X(__gt__) X(__ge__) X(__hash__) X(__len__) X(__bool__) X(__getitem__) X(__setitem__)       \
    X(__delitem__) X(__contains__) X(__iter__) X(__next__) X(__call__) X(__enter__)           \
    X(__exit__) X(__getattr__) X(__add__) X(__radd__) X(__iadd__) X(__sub__) X(__rsub__)      \
    X(__isub__) X(__mul__) X(__rmul__) X(__imul__) X(__truediv__) X(__rtruediv__)             \
    X(__itruediv__) X(__floordiv__) X(__rfloordiv__) X(__ifloordiv__) X(__mod__) X(__rmod__)  \
    X(__imod__) X(__pow__) X(__rpow__) X(__ipow__) X(__lshift__) X(__rlshift__)               \
    X(__ilshift__) X(__rshift__) X(__rrshift__) X(__irshift__) X(__and__) X(__rand__)         \
    X(__iand__) X(__or__) X(__ror__) X(__ior__) X(__xor__) X(__rxor__) X(__ixor__)            \
    X(__neg__) X(__pos__) X(__invert__) X(__abs__) X(__int__) X(__float__) X(__index__)       \
    X(__name__) X(__qualname__) X(__module__) X(__class__) X(__classcell__) X(__dict__)       \
    X(__doc__) X(__main__) X(__builtins__) X(__file__) X(__round__)                           \
    X(args) X(self) X(builtins)

typedef struct {
#define VM_NAME_FIELD(n) ObjStr *n;
    VM_NAME_LIST(VM_NAME_FIELD)
#undef VM_NAME_FIELD
} VMNames;

typedef struct WeakState WeakState;

struct WkVM {
    GcState gc;
    WeakState *weak;

    // strings
    Table strings;             // the intern table (weak: str_drop_dying clears it)

    // execution
    Value *stack;              // VM_STACK_MAX values
    Value *stack_top;          // first free slot (top of the running frame's stack)
    CallFrame frames[VM_FRAMES_MAX];
    int frame_count;
    int native_depth;          // C re-entries into vm_run
    int c_depth;               // nesting of the recursive protocols in vm/ops.c
    Value exception;           // the exception being raised, EMPTY when none
    Value handled[256];        // stack of exceptions being handled (bare raise, __context__)
    int handled_count;
    volatile int interrupted;  // set by the SIGINT handler; raised as KeyboardInterrupt

    // namespaces
    ObjDict *builtins;
    ObjDict *modules;          // name -> module (sys.modules)
    ObjDict *main_globals;
    ObjStr *script_dir;        // where `import name` looks for name.wk, or NULL
    ObjList *argv;

    VMClasses cls;
    VMNames names;
    uint32_t class_epoch;      // the last class version handed out (vm/class.c): versions are
                               // unique over the VM's life, so (class, version) never repeats
    Value not_implemented, ellipsis;
    ObjException *memory_error; // preallocated

    // sources for tracebacks: filename -> source text (malloc'd), see vm_source_line
    Table sources;
    FILE *out, *err;           // sys.stdout / sys.stderr
    bool repl;
};

// ---- Life cycle ------------------------------------------------------------------------------

// A new VM with the built-in modules ready. [argv] becomes sys.argv.
WkVM *vm_new(int argc, char **argv);
// Run pending finalizers marked atexit, then free everything.
void vm_free(WkVM *vm);

// ---- Running code ----------------------------------------------------------------------------

typedef enum { VM_OK, VM_ERROR, VM_EXIT } VMResult;

// Compile and run [len] bytes of [src] as the module [globals] (REPL mode prints expression
// values). On an uncaught exception it is left in vm->exception and VM_ERROR returned; on
// SystemExit, VM_EXIT with the status in [*exit_status]. Compile errors raise SyntaxError.
VMResult vm_run_source(WkVM *vm, const char *src, size_t len, const char *filename,
                       ObjDict *globals, bool repl, int *exit_status);

// Print the pending exception's traceback to vm->err (vm/traceback.c) and clear it.
void vm_report_exception(WkVM *vm);

// The source line [line] (1-based) of [filename], or NULL (for tracebacks).
const char *vm_source_line(WkVM *vm, const char *filename, int line, size_t *len);

// ---- Calls (may allocate, may raise) ---------------------------------------------------------

// Call [callee] with [argc] positional [args] and optional [kwargs] (NULL: none). Works for
// functions, natives, bound methods, classes (instantiation) and objects with __call__.
bool vm_call(WkVM *vm, Value callee, int argc, Value *args, ObjDict *kwargs, Value *result);

// Call the method [name] of [self] with [argc] [args] (self not included).
bool vm_call_method(WkVM *vm, Value self, ObjStr *name, int argc, Value *args, Value *result);

// Raise the exception instance [exc] inside [gen] at its paused yield (generator.throw and
// close): like vm_gen_resume, it yields (*result), returns (*done) or raises.
bool vm_gen_throw(WkVM *vm, ObjGenerator *gen, Value exc, Value *result, bool *done);

// Resume [gen] sending [sent]; *done is set when it returned (then *result is its value).
bool vm_gen_resume(WkVM *vm, ObjGenerator *gen, Value sent, Value *result, bool *done);

// ---- Roots -----------------------------------------------------------------------------------

// Mark every root the VM owns (stack, frames, globals, modules, classes, exception state).
void vm_mark_roots(WkVM *vm);

// ---- Loading ---------------------------------------------------------------------------------

// Import module [name]: a built-in module, or name.wk beside the main script. Cached in
// vm->modules. ModuleNotFoundError / ImportError on failure.
bool vm_import(WkVM *vm, ObjStr *name, Value *result);

#endif
