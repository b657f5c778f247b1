// Superinstructions (vm/quicken.h): the load-time pass that picks the pairs to fuse. The fused
// handlers are in vm/vm.c, next to the instructions they combine.
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

// The fused word for [first] followed by an instruction with opcode [next], or 0 for none.
static uint32_t fuse(uint32_t first, uint8_t next) {
    uint8_t op = OPCODE_OP(first);
    uint32_t arg = OPCODE_ARG(first);
    switch (op) {
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
        default:
            return 0;
        }
    case OPCODE_STORE_FAST:
        return next == OPCODE_LOAD_FAST ? OPCODE_MAKE(OPCODE_STORE_FAST_LOAD_FAST, arg) : 0;
    case OPCODE_INPLACE:
        return next == OPCODE_STORE_FAST ? OPCODE_MAKE(OPCODE_INPLACE_STORE_FAST, arg) : 0;
    case OPCODE_CALL_METHOD:
        return next == OPCODE_POP ? OPCODE_MAKE(OPCODE_CALL_METHOD_POP, arg) : 0;
    default:
        // a comparison has no argument: the fused word carries the comparison's opcode
        if (is_compare(op) && next == OPCODE_POP_JUMP_IF_FALSE) {
            return OPCODE_MAKE(OPCODE_COMPARE_POP_JUMP_IF_FALSE, op);
        }
        return 0;
    }
}

void quicken(uint32_t *code, int n, const Value *consts) {
    bool *target = calloc((size_t)n + 1, sizeof(bool));
    if (target == NULL) {
        return; // unfused code runs the same, only slower
    }
    for (int i = 0; i < n; i++) {
        uint32_t to = OPCODE_ARG(code[i]);
        if (jumps(OPCODE_OP(code[i])) && to <= (uint32_t)n) {
            target[to] = true;
        }
    }
    // Pairs, left to right; a second word is marked so it starts no pair of its own.
    bool *second = calloc((size_t)n + 1, sizeof(bool));
    if (second == NULL) {
        free(target);
        return;
    }
    for (int i = 0; i + 1 < n; i++) {
        if (target[i + 1]) {
            continue;
        }
        uint32_t fused = fuse(code[i], OPCODE_OP(code[i + 1]));
        if (fused != 0) {
            code[i] = fused;
            second[i + 1] = true;
            i++; // the second word stays a plain instruction
        }
    }
    for (int i = 0; i < n; i++) {
        uint32_t w = code[i];
        // `x is None` / `x is not None` as a condition: LOAD_CONST None and the fused
        // comparison and jump after it become one dispatch.
        if (OPCODE_OP(w) == OPCODE_LOAD_CONST && !second[i] && i + 2 < n && !target[i + 1] &&
            !target[i + 2] && OPCODE_OP(code[i + 1]) == OPCODE_COMPARE_POP_JUMP_IF_FALSE &&
            (OPCODE_ARG(code[i + 1]) == OPCODE_IS || OPCODE_ARG(code[i + 1]) == OPCODE_IS_NOT) &&
            IS_NONE(consts[OPCODE_ARG(w)])) {
            code[i] = OPCODE_MAKE(OPCODE_NONE_COMPARE_POP_JUMP, OPCODE_ARG(w));
        }
        // A for loop's back edge runs the loop head without another dispatch.
        if (OPCODE_OP(w) == OPCODE_JUMP && !second[i] && OPCODE_ARG(w) < (uint32_t)n &&
            OPCODE_OP(code[OPCODE_ARG(w)]) == OPCODE_FOR_ITER_STORE_FAST) {
            code[i] = OPCODE_MAKE(OPCODE_JUMP_FOR_ITER, OPCODE_ARG(w));
        }
    }
    free(second);
    free(target);
}
