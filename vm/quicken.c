// Superinstructions (vm/quicken.h): the load-time pass that picks the runs of instructions to
// fuse. The fused handlers are in vm/vm.c, after the plain ones.
//
// Runs are matched longest first, left to right, each word in at most one run: four words
// (`x += c` on a local, `if n < 2`), then three (a comparison with a constant as a condition, `o.a = v`
// on locals, an operator or a subscript on locals and constants), then pairs.
// No word of a run but the first may be a jump target. Only the first word is rewritten; the
// others keep their plain instructions, which the fused handler reads (arguments, the operator)
// and skips, or runs after falling back to the first instruction's plain handler.
#include "vm/quicken.h"

#include <stdbool.h>
#include <stdlib.h>

#include "vm/opcode.h"

// Instructions whose argument is a jump target (vm/opcode.h).
static bool jumps(uint8_t op) {
    switch (op) {
    case OPCODE_JUMP:
    case OPCODE_POP_JUMP_IF_FALSE:
    case OPCODE_POP_JUMP_IF_TRUE:
    case OPCODE_JUMP_IF_FALSE_OR_POP:
    case OPCODE_JUMP_IF_TRUE_OR_POP:
    case OPCODE_FOR_ITER:
    case OPCODE_SEND:
    case OPCODE_SETUP_TRY:
    case OPCODE_SETUP_WITH:
        return true;
    default:
        return false;
    }
}

static bool is_compare(uint8_t op) {
    switch (op) {
    case OPCODE_LT:
    case OPCODE_LE:
    case OPCODE_GT:
    case OPCODE_GE:
    case OPCODE_EQ:
    case OPCODE_NE:
    case OPCODE_IS:
    case OPCODE_IS_NOT:
        return true;
    default:
        return false;
    }
}

// Binary operators the fused operator handlers have an int fast path for (vm.c quick_int_op).
static bool is_int_binop(uint8_t op) {
    switch (op) {
    case OPCODE_ADD:
    case OPCODE_SUB:
    case OPCODE_MUL:
    case OPCODE_MOD:
    case OPCODE_FLOORDIV:
    case OPCODE_BAND:
    case OPCODE_BOR:
    case OPCODE_BXOR:
    case OPCODE_LSHIFT:
    case OPCODE_RSHIFT:
        return true;
    default:
        return false;
    }
}

#define OP(i) OPCODE_OP(code[i])
#define ARG(i) OPCODE_ARG(code[i])

// The fused word for the run of [len] words at [i], or 0.
static uint32_t match(const uint32_t *code, int i, int len) {
    uint32_t arg = ARG(i);
    switch (len) {
    case 4:
        // a comparison of a local with a constant or a local as a condition: `if n < 2`
        if (OP(i) == OPCODE_LOAD_FAST && is_compare(OP(i + 2)) &&
            OP(i + 3) == OPCODE_POP_JUMP_IF_FALSE) {
            if (OP(i + 1) == OPCODE_LOAD_CONST) {
                return OPCODE_MAKE(OPCODE_FAST_CONST_COMPARE_JUMP, arg);
            }
            if (OP(i + 1) == OPCODE_LOAD_FAST) {
                return OPCODE_MAKE(OPCODE_FAST_FAST_COMPARE_JUMP, arg);
            }
        }
        // m.f(x) with m a global (a module, checked when it runs) and x a local
        if (OP(i) == OPCODE_LOAD_GLOBAL && OP(i + 1) == OPCODE_LOAD_METHOD &&
            OP(i + 2) == OPCODE_LOAD_FAST && OP(i + 3) == OPCODE_CALL_METHOD && ARG(i + 3) == 1) {
            return OPCODE_MAKE(OPCODE_MODULE_CALL_FAST, arg);
        }
        // x += c, x %= c, ... on a local
        if (OP(i) == OPCODE_LOAD_FAST && OP(i + 1) == OPCODE_LOAD_CONST &&
            OP(i + 2) == OPCODE_INPLACE && OP(i + 3) == OPCODE_STORE_FAST && ARG(i + 3) == arg &&
            is_int_binop((uint8_t)ARG(i + 2))) {
            return OPCODE_MAKE(OPCODE_INPLACE_FAST_CONST, arg);
        }
        return 0;
    case 3:
        // a comparison with a constant as a condition: `x is None`, `n % 3 == 0`, `i < 10`
        if (OP(i) == OPCODE_LOAD_CONST && is_compare(OP(i + 1)) &&
            OP(i + 2) == OPCODE_POP_JUMP_IF_FALSE) {
            return OPCODE_MAKE(OPCODE_CONST_COMPARE_POP_JUMP, arg);
        }
        // o.name = v with both locals, as in every __init__
        if (OP(i) == OPCODE_LOAD_FAST && OP(i + 1) == OPCODE_LOAD_FAST &&
            OP(i + 2) == OPCODE_STORE_ATTR) {
            return OPCODE_MAKE(OPCODE_LOAD_FAST_STORE_ATTR, arg);
        }
        // an operator on a local and a local or a constant: `i * j`, `k % 3`
        if (OP(i) == OPCODE_LOAD_FAST && OP(i + 1) == OPCODE_LOAD_FAST && is_int_binop(OP(i + 2))) {
            return OPCODE_MAKE(OPCODE_BINARY_FAST_FAST, arg);
        }
        if (OP(i) == OPCODE_LOAD_FAST && OP(i + 1) == OPCODE_LOAD_CONST && is_int_binop(OP(i + 2))) {
            return OPCODE_MAKE(OPCODE_BINARY_FAST_CONST, arg);
        }
        // x = f() with f and x locals: `o = r()` for a weakref r
        if (OP(i) == OPCODE_LOAD_FAST && OP(i + 1) == OPCODE_CALL && ARG(i + 1) == 0 &&
            OP(i + 2) == OPCODE_STORE_FAST) {
            return OPCODE_MAKE(OPCODE_CALL0_FAST_STORE, arg);
        }
        // xs[i] on locals
        if (OP(i) == OPCODE_LOAD_FAST && OP(i + 1) == OPCODE_LOAD_FAST &&
            OP(i + 2) == OPCODE_BINARY_SUBSCR) {
            return OPCODE_MAKE(OPCODE_SUBSCR_FAST_FAST, arg);
        }
        return 0;
    default:
        break;
    }
    uint8_t next = OP(i + 1);
    switch (OP(i)) {
    case OPCODE_FOR_ITER:
        return next == OPCODE_STORE_FAST ? OPCODE_MAKE(OPCODE_FOR_ITER_STORE_FAST, arg) : 0;
    case OPCODE_LOAD_FAST:
        switch (next) {
        case OPCODE_LOAD_FAST:
            return OPCODE_MAKE(OPCODE_LOAD_FAST_LOAD_FAST, arg);
        case OPCODE_LOAD_CONST:
            return OPCODE_MAKE(OPCODE_LOAD_FAST_LOAD_CONST, arg);
        case OPCODE_LOAD_ATTR:
            return OPCODE_MAKE(OPCODE_LOAD_FAST_LOAD_ATTR, arg);
        case OPCODE_LOAD_METHOD:
            return OPCODE_MAKE(OPCODE_LOAD_FAST_LOAD_METHOD, arg);
        case OPCODE_RETURN_VALUE:
            return OPCODE_MAKE(OPCODE_RETURN_FAST, arg);
        case OPCODE_STORE_ATTR:
            return OPCODE_MAKE(OPCODE_STORE_ATTR_FAST, arg);
        case OPCODE_CALL:
            return ARG(i + 1) == 0 ? OPCODE_MAKE(OPCODE_CALL0_FAST, arg) : 0;
        default:
            return is_int_binop(next) ? OPCODE_MAKE(OPCODE_BINARY_LOCAL, arg) : 0;
        }
    case OPCODE_LOAD_CONST:
        if (next == OPCODE_RETURN_VALUE) {
            return OPCODE_MAKE(OPCODE_RETURN_CONST, arg);
        }
        return is_int_binop(next) ? OPCODE_MAKE(OPCODE_BINARY_CONST, arg) : 0;
    case OPCODE_LOAD_DEREF:
        return is_int_binop(next) ? OPCODE_MAKE(OPCODE_BINARY_DEREF, arg) : 0;
    case OPCODE_STORE_FAST:
        return next == OPCODE_LOAD_FAST ? OPCODE_MAKE(OPCODE_STORE_FAST_LOAD_FAST, arg) : 0;
    case OPCODE_INPLACE:
        return next == OPCODE_STORE_FAST ? OPCODE_MAKE(OPCODE_INPLACE_STORE_FAST, arg) : 0;
    case OPCODE_CALL_METHOD:
        return next == OPCODE_POP ? OPCODE_MAKE(OPCODE_CALL_METHOD_POP, arg) : 0;
    case OPCODE_IN:
        return next == OPCODE_POP_JUMP_IF_FALSE ? OPCODE_MAKE(OPCODE_IN_POP_JUMP, 0) : 0;
    case OPCODE_NOT_IN:
        return next == OPCODE_POP_JUMP_IF_FALSE ? OPCODE_MAKE(OPCODE_NOT_IN_POP_JUMP, 0) : 0;
    default:
        // a comparison has no argument: the fused word carries the comparison's opcode
        if (is_compare(OP(i)) && next == OPCODE_POP_JUMP_IF_FALSE) {
            return OPCODE_MAKE(OPCODE_COMPARE_POP_JUMP_IF_FALSE, OP(i));
        }
        return 0;
    }
}

// [cmp] settled: [is_form] when it is IS, [is_not_form] when IS_NOT, else [fused].
static uint32_t with_is(uint8_t cmp, uint32_t fused, uint8_t is_form, uint8_t is_not_form) {
    uint32_t arg = OPCODE_ARG(fused);
    if (cmp == OPCODE_IS) {
        return OPCODE_MAKE(is_form, arg);
    }
    return cmp == OPCODE_IS_NOT ? OPCODE_MAKE(is_not_form, arg) : fused;
}

// The code's constants, for the `is None` forms.
typedef struct {
    const Value *values;
    int count;
} Consts;

static bool is_none_const(Consts k, uint32_t index) {
    return index < (uint32_t)k.count && IS_NONE(k.values[index]);
}

// [fused] (a word match made for the run at [i]) with its operator settled: the `+` form when
// the operator is ADD (and `n - c`'s `-` form, `% c`'s), the `==` and `<` forms of comparisons
// with a constant, the `is` and `is not` forms of the comparisons
// (with None their own).
static uint32_t settled(const uint32_t *code, int i, uint32_t fused, Consts k) {
    uint32_t arg = OPCODE_ARG(fused);
    switch (OPCODE_OP(fused)) {
    case OPCODE_CONST_COMPARE_POP_JUMP:
        if (OP(i + 1) == OPCODE_EQ || OP(i + 1) == OPCODE_LT) {
            return OPCODE_MAKE(OP(i + 1) == OPCODE_EQ ? OPCODE_CONST_EQ_POP_JUMP
                                                      : OPCODE_CONST_LT_POP_JUMP, arg);
        }
        if (is_none_const(k, arg)) {
            return with_is(OP(i + 1), fused, OPCODE_IS_NONE_POP_JUMP, OPCODE_IS_NOT_NONE_POP_JUMP);
        }
        return with_is(OP(i + 1), fused, OPCODE_CONST_IS_POP_JUMP, OPCODE_CONST_IS_NOT_POP_JUMP);
    case OPCODE_FAST_CONST_COMPARE_JUMP:
        if (OP(i + 2) == OPCODE_EQ || OP(i + 2) == OPCODE_LT) {
            return OPCODE_MAKE(OP(i + 2) == OPCODE_EQ ? OPCODE_FAST_CONST_EQ_JUMP
                                                      : OPCODE_FAST_CONST_LT_JUMP, arg);
        }
        if (is_none_const(k, ARG(i + 1))) {
            return with_is(OP(i + 2), fused, OPCODE_FAST_IS_NONE_JUMP, OPCODE_FAST_IS_NOT_NONE_JUMP);
        }
        return with_is(OP(i + 2), fused, OPCODE_FAST_CONST_IS_JUMP, OPCODE_FAST_CONST_IS_NOT_JUMP);
    case OPCODE_COMPARE_POP_JUMP_IF_FALSE:
        return with_is(OP(i), fused, OPCODE_IS_POP_JUMP_IF_FALSE, OPCODE_IS_NOT_POP_JUMP_IF_FALSE);
    case OPCODE_BINARY_CONST:
        if (OP(i + 1) == OPCODE_MOD) {
            return OPCODE_MAKE(OPCODE_BINARY_CONST_MOD, arg);
        }
        return OP(i + 1) == OPCODE_ADD ? OPCODE_MAKE(OPCODE_BINARY_CONST_ADD, arg) : fused;
    case OPCODE_BINARY_LOCAL:
        return OP(i + 1) == OPCODE_ADD ? OPCODE_MAKE(OPCODE_BINARY_LOCAL_ADD, arg) : fused;
    case OPCODE_BINARY_FAST_FAST:
        return OP(i + 2) == OPCODE_ADD ? OPCODE_MAKE(OPCODE_BINARY_FAST_FAST_ADD, arg) : fused;
    case OPCODE_BINARY_FAST_CONST:
        if (OP(i + 2) == OPCODE_SUB) {
            return OPCODE_MAKE(OPCODE_BINARY_FAST_CONST_SUB, arg);
        }
        if (OP(i + 2) == OPCODE_MOD) {
            return OPCODE_MAKE(OPCODE_BINARY_FAST_CONST_MOD, arg);
        }
        return OP(i + 2) == OPCODE_ADD ? OPCODE_MAKE(OPCODE_BINARY_FAST_CONST_ADD, arg) : fused;
    case OPCODE_INPLACE_FAST_CONST:
        return ARG(i + 2) == OPCODE_ADD ? OPCODE_MAKE(OPCODE_INPLACE_FAST_CONST_ADD, arg) : fused;
    case OPCODE_INPLACE_STORE_FAST:
        return ARG(i) == OPCODE_ADD ? OPCODE_MAKE(OPCODE_INPLACE_STORE_FAST_ADD, arg) : fused;
    default:
        return fused;
    }
}

void quicken(uint32_t *code, int n, const Value *consts, int nconsts) {
    Consts k = {consts, nconsts};
    // target[i]: a jump lands on word i; used[i]: word i belongs to a run already
    bool *target = calloc(2 * ((size_t)n + 1), sizeof(bool));
    if (target == NULL) {
        return; // unfused code runs the same, only slower
    }
    bool *used = target + n + 1;
    for (int i = 0; i < n; i++) {
        if (jumps(OP(i)) && ARG(i) <= (uint32_t)n) {
            target[ARG(i)] = true;
        }
    }
    for (int len = 4; len >= 2; len--) {
        for (int i = 0; i + len <= n; i++) {
            bool free_run = !used[i];
            for (int k = 1; k < len && free_run; k++) {
                free_run = !used[i + k] && !target[i + k];
            }
            uint32_t fused = free_run ? settled(code, i, match(code, i, len), k) : 0;
            if (fused != 0) {
                code[i] = fused;
                for (int k = 0; k < len; k++) {
                    used[i + k] = true;
                }
                i += len - 1;
            }
        }
    }
    // A for loop's back edge runs the loop head without another dispatch. Its argument is
    // the distance back from the next word to the head's second word, so the handler needs
    // no code base and no fetch.
    for (int i = 0; i < n; i++) {
        if (OP(i) == OPCODE_JUMP && ARG(i) <= (uint32_t)i &&
            OP(ARG(i)) == OPCODE_FOR_ITER_STORE_FAST) {
            code[i] = OPCODE_MAKE(OPCODE_JUMP_FOR_ITER, (uint32_t)i - ARG(i));
        }
    }
    free(target);
}
