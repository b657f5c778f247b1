// The bytecode: the contract between parser/compile.c (which emits it) and vm/vm.c (which runs
// it). Every instruction is one 32-bit word: the opcode in the low 8 bits, its argument in the
// high 24 bits. Jump targets are absolute word indexes into the code array.
// Stack effects are written [before] -> [after], top of stack on the right.
//
// Handler blocks (SETUP_TRY, SETUP_WITH): when an exception is raised while a block is active
// in the frame, the VM pops the block, cuts the value stack back to the block's saved depth,
// pushes the exception instance, makes it the "handled" exception (for bare `raise` and
// __context__) and jumps to the block's target. The handler code ends with POP_EXCEPT (the
// exception was dealt with: the previously handled exception is restored) or RERAISE. A
// `return`, `break` or `continue` leaving a handler emits POP_EXCEPT first; leaving a try body
// emits POP_BLOCK (and an inlined copy of any `finally` body) first.
#ifndef WK_VM_OPCODE_H
#define WK_VM_OPCODE_H

#include <stdint.h>

#define OPCODE_OP(w) ((uint8_t)((w) & 0xff))
#define OPCODE_ARG(w) ((uint32_t)(w) >> 8)
#define OPCODE_MAKE(op, arg) ((uint32_t)(op) | ((uint32_t)(arg) << 8))
#define OPCODE_ARG_MAX 0xffffff

// X(name, has_arg)
#define OPCODE_LIST(X)                                                                         \
    X(NOP, 0)                                                                                  \
    /* stack shuffles */                                                                       \
    X(POP, 0)          /* [a] -> [] */                                                         \
    X(DUP, 0)          /* [a] -> [a a] */                                                      \
    X(DUP2, 0)         /* [a b] -> [a b a b] */                                                \
    X(ROT2, 0)         /* [a b] -> [b a] */                                                    \
    X(ROT3, 0)         /* [a b c] -> [c a b]  (top moves down two) */                          \
    X(ROT4, 0)         /* [a b c d] -> [d a b c] */                                            \
    /* constants and names. arg = index into consts / names / slots */                         \
    X(LOAD_CONST, 1)   /* [] -> [consts[arg]] */                                               \
    X(LOAD_FAST, 1)    /* [] -> [local arg]; UnboundLocalError if unbound */                   \
    X(STORE_FAST, 1)   /* [v] -> [] */                                                         \
    X(DELETE_FAST, 1)  /* [] -> []; unbinds; UnboundLocalError if unbound */                   \
    X(LOAD_DEREF, 1)   /* [] -> [cell contents]; arg indexes cells then frees */               \
    X(STORE_DEREF, 1)  /* [v] -> [] */                                                         \
    X(DELETE_DEREF, 1) /* [] -> [] */                                                          \
    X(LOAD_CLOSURE, 1) /* [] -> [the cell object itself] (for MAKE_FUNCTION) */                \
    X(LOAD_GLOBAL, 1)  /* [] -> [globals[name] or builtins[name]]; NameError */                \
    X(STORE_GLOBAL, 1) /* [v] -> [] */                                                         \
    X(DELETE_GLOBAL, 1)                                                                        \
    X(LOAD_NAME, 1)    /* [] -> [locals-dict, then globals, then builtins] (module/class) */    \
    X(STORE_NAME, 1)   /* [v] -> [] into the locals dict (module: globals) */                  \
    X(DELETE_NAME, 1)                                                                          \
    X(LOAD_ATTR, 1)    /* [obj] -> [obj.name] */                                               \
    X(STORE_ATTR, 1)   /* [v obj] -> [] obj.name = v */                                        \
    X(DELETE_ATTR, 1)  /* [obj] -> [] */                                                       \
    X(LOAD_METHOD, 1)  /* [obj] -> [func obj] or [EMPTY bound]: no bound method allocated */    \
    X(CALL_METHOD, 1)  /* [m s a1..an] -> [result]; arg = n positional args */                 \
    X(BINARY_SUBSCR, 0) /* [obj key] -> [obj[key]] */                                          \
    X(STORE_SUBSCR, 0) /* [v obj key] -> [] obj[key] = v */                                    \
    X(DELETE_SUBSCR, 0) /* [obj key] -> [] */                                                  \
    X(BUILD_SLICE, 1)  /* arg 2: [lo hi] or 3: [lo hi step] -> [slice]; None where omitted */   \
    /* operators */                                                                            \
    X(ADD, 0) X(SUB, 0) X(MUL, 0) X(TRUEDIV, 0) X(FLOORDIV, 0) X(MOD, 0) X(POW, 0)             \
    X(LSHIFT, 0) X(RSHIFT, 0) X(BAND, 0) X(BOR, 0) X(BXOR, 0) /* [a b] -> [a op b] */          \
    X(INPLACE, 1)      /* [a b] -> [a op= b]; arg = OPCODE_ADD..OPCODE_BXOR (the binary op) */  \
    X(NEG, 0) X(POS, 0) X(INVERT, 0) X(NOT, 0) /* [a] -> [op a] */                            \
    X(LT, 0) X(LE, 0) X(EQ, 0) X(NE, 0) X(GT, 0) X(GE, 0)                                      \
    X(IS, 0) X(IS_NOT, 0) X(IN, 0) X(NOT_IN, 0) /* [a b] -> [a op b] ; IN: a in b */           \
    /* jumps: arg = absolute target */                                                         \
    X(JUMP, 1)                                                                                 \
    X(POP_JUMP_IF_FALSE, 1) /* [c] -> [] */                                                    \
    X(POP_JUMP_IF_TRUE, 1)                                                                     \
    X(JUMP_IF_FALSE_OR_POP, 1) /* [c] -> [c] if jumping, else [] */                            \
    X(JUMP_IF_TRUE_OR_POP, 1)                                                                  \
    X(GET_ITER, 0)     /* [obj] -> [iter(obj)] */                                              \
    X(FOR_ITER, 1)     /* [it] -> [it next]; exhausted: [] and jump to arg */                  \
    /* displays */                                                                             \
    X(BUILD_TUPLE, 1)  /* [a1..an] -> [tuple] */                                               \
    X(BUILD_LIST, 1)                                                                           \
    X(BUILD_SET, 1)                                                                            \
    X(BUILD_MAP, 1)    /* [k1 v1 .. kn vn] -> [dict]; arg = n pairs */                         \
    X(LIST_APPEND, 1)  /* [L x1..x(arg-1) v] -> [L x1..]: append v to the list arg deep */     \
    X(SET_ADD, 1)      /* same shape for sets */                                               \
    X(MAP_ADD, 1)      /* [D .. k v] -> [D ..]: D is arg deep counted after popping k v */     \
    X(LIST_EXTEND, 1)  /* [L .. it] -> [L ..]: L.extend(it); L is arg deep after the pop */     \
    X(SET_UPDATE, 1)                                                                           \
    X(DICT_UPDATE, 1)  /* for {**m}: D.update(m), TypeError if m is not a mapping */           \
    X(DICT_MERGE, 1)   /* for f(**m): like DICT_UPDATE but duplicate keys raise TypeError */   \
    X(LIST_TO_TUPLE, 0) /* [list] -> [tuple] */                                                \
    X(UNPACK_SEQUENCE, 1) /* [seq] -> [v(n-1) .. v0] (v0 on top); ValueError on wrong count */  \
    X(UNPACK_EX, 1)    /* a,*b,c: arg = before | after << 8; [seq] -> [last.. list .. first] */ \
    /* strings */                                                                              \
    X(FORMAT_VALUE, 1) /* arg&3: 0 none,1 !s,2 !r; arg&4: spec on top. [v (spec)] -> [str] */   \
    X(BUILD_STRING, 1) /* [s1..sn] -> [s1+..+sn] */                                            \
    /* calls and functions */                                                                  \
    X(CALL, 1)         /* [f a1..an] -> [result] */                                            \
    X(CALL_KW, 1)      /* [f a1..an names] -> [result]; names: const tuple of the last k names; \
                          arg = n (positional + keyword values) */                             \
    X(CALL_EX, 1)      /* [f argstuple (kwdict if arg&1)] -> [result] */                       \
    X(MAKE_FUNCTION, 1) /* [(defaults tuple if arg&1) (kwdefaults dict if arg&2)              \
                           (closure tuple of cells if arg&8) code] -> [function] */            \
    X(RETURN_VALUE, 0) /* [v] -> returns v */                                                  \
    X(YIELD_VALUE, 0)  /* [v] -> suspends yielding v; on resume [] -> [sent value (None)] */     \
    X(SEND, 1)         /* [it sent] -> [it v]: it.send(sent) (next(it) for iterators) yielded  \
                          v; exhausted: [r] (its return value) and jump to arg (yield from) */ \
    X(BUILD_CLASS, 1)  /* [bodyfunc name base1..basen] -> [class]; arg = n bases */            \
    /* exceptions */                                                                           \
    X(SETUP_TRY, 1)    /* push a handler block (target arg, current stack depth) */            \
    X(POP_BLOCK, 0)    /* pop the innermost handler block (normal exit of the try body) */     \
    X(POP_EXCEPT, 0)   /* leave an except/finally handler: restore the previously handled exc */ \
    X(RERAISE, 0)      /* [exc] -> raise exc again, traceback kept */                         \
    X(RAISE_VARARGS, 1) /* arg 0: re-raise the handled exc; 1: [exc]; 2: [exc cause] */         \
    X(CHECK_EXC_MATCH, 0) /* [exc type] -> [exc bool] (type may be a tuple) */                 \
    X(COPY, 1)         /* [v(arg) .. v1] -> [v(arg) .. v1 v(arg)]: COPY 1 is DUP */             \
    X(ASSERT_FAIL, 1)  /* [k0..k(n-1) template (msg if arg&1)] -> raises AssertionError; n =   \
                          arg >> 1 values an assert kept; see testrun_assert_fail */           \
    X(SETUP_WITH, 1)   /* [mgr] -> [exit enter_result]; pushes a handler block at arg whose    \
                          depth includes exit */                                               \
    X(WITH_NORMAL_EXIT, 0) /* [exit] -> []: calls exit(None, None, None) */                    \
    X(WITH_EXCEPT, 0)  /* [exit exc] -> [exit exc bool]: bool = exit(type(exc), exc, tb) true */ \
    /* modules */                                                                              \
    X(IMPORT_NAME, 1)  /* [] -> [module names[arg]] */                                         \
    X(IMPORT_FROM, 1)  /* [mod] -> [mod mod.name]; ImportError if missing */                   \
    /* REPL */                                                                                 \
    X(PRINT_EXPR, 0)   /* [v] -> []: prints repr(v) unless v is None */                     \
    /* superinstructions: made by vm/quicken.c when code is loaded, never by the compiler.     \
       Each is the first word of a fused run; the other words keep their own instructions     \
       (vm/quicken.h). arg is the first instruction's, except where noted. */                 \
    X(FOR_ITER_STORE_FAST, 1)  /* FOR_ITER; STORE_FAST */                                     \
    X(LOAD_FAST_LOAD_FAST, 1)  /* LOAD_FAST; LOAD_FAST */                                     \
    X(LOAD_FAST_LOAD_CONST, 1) /* LOAD_FAST; LOAD_CONST */                                    \
    X(LOAD_FAST_LOAD_ATTR, 1)  /* LOAD_FAST; LOAD_ATTR */                                     \
    X(STORE_FAST_LOAD_FAST, 1) /* STORE_FAST; LOAD_FAST */                                    \
    X(INPLACE_STORE_FAST, 1)   /* INPLACE; STORE_FAST */                                      \
    X(CALL_METHOD_POP, 1)      /* CALL_METHOD; POP */                                         \
    X(COMPARE_POP_JUMP_IF_FALSE, 1) /* LT..IS_NOT; POP_JUMP_IF_FALSE: arg = the comparison */ \
    X(BINARY_CONST, 1)         /* LOAD_CONST; an operator (ADD .. RSHIFT but TRUEDIV, POW) */ \
    X(BINARY_FAST_FAST, 1)     /* LOAD_FAST; LOAD_FAST; an operator */                        \
    X(BINARY_FAST_CONST, 1)    /* LOAD_FAST; LOAD_CONST; an operator */                       \
    X(CONST_COMPARE_POP_JUMP, 1) /* LOAD_CONST; LT..IS_NOT; POP_JUMP_IF_FALSE */              \
    X(INPLACE_FAST_CONST, 1)   /* LOAD_FAST x; LOAD_CONST; INPLACE (an int op); STORE_FAST x */ \
    X(LOAD_FAST_STORE_ATTR, 1) /* LOAD_FAST v; LOAD_FAST o; STORE_ATTR: o.name = v */        \
    X(LOAD_FAST_LOAD_METHOD, 1) /* LOAD_FAST; LOAD_METHOD */                                  \
    X(SUBSCR_FAST_FAST, 1)     /* LOAD_FAST; LOAD_FAST; BINARY_SUBSCR */                      \
    X(FAST_CONST_COMPARE_JUMP, 1) /* LOAD_FAST; LOAD_CONST; LT..IS_NOT; POP_JUMP_IF_FALSE */  \
    X(FAST_FAST_COMPARE_JUMP, 1)  /* LOAD_FAST; LOAD_FAST; LT..IS_NOT; POP_JUMP_IF_FALSE */   \
    X(RETURN_FAST, 1)          /* LOAD_FAST; RETURN_VALUE */                                  \
    X(STORE_ATTR_FAST, 1)      /* LOAD_FAST o; STORE_ATTR: o.name = the value on the stack */ \
    X(BINARY_LOCAL, 1)         /* LOAD_FAST x; an operator: (top of stack) op x */            \
    X(CALL0_FAST, 1)           /* LOAD_FAST f; CALL 0: f() for a local f, say a weakref */    \
    X(RETURN_CONST, 1)         /* LOAD_CONST; RETURN_VALUE */                                 \
    X(BINARY_DEREF, 1)         /* LOAD_DEREF x; an operator: (top of stack) op x */           \
    X(JUMP_FOR_ITER, 1)        /* JUMP back to a FOR_ITER_STORE_FAST, whose STORE_FAST is  \
                                  arg words before the next: runs the loop head at once */    \
    /* the commonest operator, +, settled at load time: as the fused forms above, whose      \
       operator word they still carry (their fallbacks run it) */                            \
    X(BINARY_CONST_ADD, 1)                                                                   \
    X(BINARY_LOCAL_ADD, 1)                                                                   \
    X(BINARY_FAST_FAST_ADD, 1)                                                               \
    X(BINARY_FAST_CONST_ADD, 1)                                                              \
    X(INPLACE_FAST_CONST_ADD, 1)                                                             \
    X(INPLACE_STORE_FAST_ADD, 1)                                                             \
    X(BINARY_FAST_CONST_SUB, 1)  /* and n - 1 on a local, as in recursion */                  \
    X(BINARY_CONST_MOD, 1)       /* and % by a constant: `(expr) % c`, `x % c` */             \
    X(BINARY_FAST_CONST_MOD, 1)                                                              \
    X(CONST_EQ_POP_JUMP, 1)      /* CONST_COMPARE_POP_JUMP with ==: `if x % 3 == 0` */        \
    X(CONST_LT_POP_JUMP, 1)      /* ... with < */                                             \
    X(FAST_CONST_EQ_JUMP, 1)     /* FAST_CONST_COMPARE_JUMP with ==: `if n == 0` */           \
    X(FAST_CONST_LT_JUMP, 1)     /* ... with <: `if n < 2` */                                 \
    /* `is` and `is not` as conditions, settled at load time likewise: no operator test, and \
       `x is None` is one tag test */                                                        \
    X(CONST_IS_POP_JUMP, 1)          /* CONST_COMPARE_POP_JUMP with IS */                    \
    X(CONST_IS_NOT_POP_JUMP, 1)      /* CONST_COMPARE_POP_JUMP with IS_NOT */                \
    X(FAST_CONST_IS_JUMP, 1)         /* FAST_CONST_COMPARE_JUMP with IS */                   \
    X(FAST_CONST_IS_NOT_JUMP, 1)     /* FAST_CONST_COMPARE_JUMP with IS_NOT */               \
    X(IS_POP_JUMP_IF_FALSE, 1)       /* COMPARE_POP_JUMP_IF_FALSE with IS */                 \
    X(IS_NOT_POP_JUMP_IF_FALSE, 1)   /* COMPARE_POP_JUMP_IF_FALSE with IS_NOT */              \
    X(IS_NONE_POP_JUMP, 1)           /* CONST_IS_POP_JUMP with the constant None */          \
    X(IS_NOT_NONE_POP_JUMP, 1)       /* CONST_IS_NOT_POP_JUMP with the constant None */      \
    X(FAST_IS_NONE_JUMP, 1)          /* FAST_CONST_IS_JUMP with the constant None */         \
    X(FAST_IS_NOT_NONE_JUMP, 1)      /* FAST_CONST_IS_NOT_JUMP with the constant None */     \
    X(MODULE_CALL_FAST, 1) /* LOAD_GLOBAL m; LOAD_METHOD f; LOAD_FAST x; CALL_METHOD 1: m.f(x) \
                              for a module m, as weakref.ref(o) or math.sqrt(x) */          \
    X(CALL0_FAST_STORE, 1) /* LOAD_FAST f; CALL 0; STORE_FAST x: x = f(), say o = r() */   \
    X(IN_POP_JUMP, 0)      /* IN; POP_JUMP_IF_FALSE: `if x in c` */                         \
    X(NOT_IN_POP_JUMP, 0)  /* NOT_IN; POP_JUMP_IF_FALSE: `if x not in c` */

typedef enum {
#define OPCODE_ENUM(name, has_arg) OPCODE_##name,
    OPCODE_LIST(OPCODE_ENUM)
#undef OPCODE_ENUM
    OPCODE_COUNT
} Opcode;

#endif
