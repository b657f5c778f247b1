// Unit tests of the superinstruction pass (suite `quicken`): which runs are fused, that only
// the first word of a run changes, and that no run is fused across a jump target.
#include <criterion/criterion.h>

#include "vm/opcode.h"
#include "vm/quicken.h"

#define W(op, arg) OPCODE_MAKE(OPCODE_##op, (arg))

TestSuite(quicken);

Test(quicken, pairs_keep_their_second_word) {
    uint32_t code[] = {W(LOAD_FAST, 0), W(LOAD_ATTR, 3), W(RETURN_VALUE, 0)};
    quicken(code, 3, NULL, 0);
    cr_assert_eq(code[0], W(LOAD_FAST_LOAD_ATTR, 0));
    cr_assert_eq(code[1], W(LOAD_ATTR, 3));
    cr_assert_eq(code[2], W(RETURN_VALUE, 0));
}

Test(quicken, longest_run_first) {
    // x += 1 on a local: one four-word run, not LOAD_FAST_LOAD_CONST + INPLACE_STORE_FAST
    uint32_t code[] = {W(LOAD_FAST, 2), W(LOAD_CONST, 0), W(INPLACE, OPCODE_ADD),
                       W(STORE_FAST, 2), W(LOAD_CONST, 1), W(RETURN_VALUE, 0)};
    quicken(code, 6, NULL, 0);
    cr_assert_eq(code[0], W(INPLACE_FAST_CONST_ADD, 2));
    cr_assert_eq(code[1], W(LOAD_CONST, 0));
    cr_assert_eq(code[2], W(INPLACE, OPCODE_ADD));
    cr_assert_eq(code[3], W(STORE_FAST, 2));
}

Test(quicken, x_plus_equals_y_needs_the_same_local) {
    uint32_t code[] = {W(LOAD_FAST, 2), W(LOAD_CONST, 0), W(INPLACE, OPCODE_ADD),
                       W(STORE_FAST, 3)};
    quicken(code, 4, NULL, 0);
    cr_assert_neq(code[0], W(INPLACE_FAST_CONST, 2));
    cr_assert_neq(code[0], W(INPLACE_FAST_CONST_ADD, 2));
}

// `+` gets its own forms; every other operator keeps the general one, which reads it from its
// word. Each form keeps the operator's word for its fallback.
Test(quicken, plus_is_settled_at_load_time) {
    uint32_t code[] = {W(LOAD_FAST, 0), W(LOAD_FAST, 1), W(ADD, 0), W(LOAD_FAST, 0),
                       W(LOAD_CONST, 2), W(FLOORDIV, 0), W(LOAD_FAST, 3), W(MUL, 0),
                       W(LOAD_CONST, 1), W(ADD, 0), W(LOAD_FAST, 4), W(LOAD_CONST, 0),
                       W(INPLACE, OPCODE_ADD), W(STORE_FAST, 4), W(INPLACE, OPCODE_ADD),
                       W(STORE_FAST, 5), W(LOAD_FAST, 6), W(LOAD_CONST, 0),
                       W(INPLACE, OPCODE_MUL), W(STORE_FAST, 6), W(RETURN_VALUE, 0)};
    quicken(code, 21, NULL, 0);
    cr_assert_eq(code[0], W(BINARY_FAST_FAST_ADD, 0));
    cr_assert_eq(code[2], W(ADD, 0));
    cr_assert_eq(code[3], W(BINARY_FAST_CONST, 0));
    cr_assert_eq(code[6], W(BINARY_LOCAL, 3));
    cr_assert_eq(code[8], W(BINARY_CONST_ADD, 1));
    cr_assert_eq(code[10], W(INPLACE_FAST_CONST_ADD, 4));
    cr_assert_eq(code[12], W(INPLACE, OPCODE_ADD));
    cr_assert_eq(code[14], W(INPLACE_STORE_FAST_ADD, OPCODE_ADD));
    cr_assert_eq(code[16], W(INPLACE_FAST_CONST, 6));
}

Test(quicken, no_run_across_a_jump_target) {
    // the JUMP lands on word 1: words 0..3 would otherwise be one comparison run
    uint32_t code[] = {W(LOAD_FAST, 0), W(LOAD_FAST, 1), W(LT, 0), W(POP_JUMP_IF_FALSE, 7),
                       W(NOP, 0), W(NOP, 0), W(JUMP, 1), W(RETURN_VALUE, 0)};
    quicken(code, 8, NULL, 0);
    cr_assert_eq(code[0], W(LOAD_FAST, 0), "a run must not swallow a jump target");
    cr_assert_eq(code[1], W(LOAD_FAST, 1));
    cr_assert_eq(code[2], W(COMPARE_POP_JUMP_IF_FALSE, OPCODE_LT));
    cr_assert_eq(code[6], W(JUMP, 1));
}

Test(quicken, comparison_carries_its_opcode) {
    uint32_t code[] = {W(LOAD_FAST, 0), W(LOAD_ATTR, 0), W(LOAD_FAST, 1), W(LOAD_ATTR, 1),
                       W(GE, 0), W(POP_JUMP_IF_FALSE, 6), W(RETURN_VALUE, 0)};
    quicken(code, 7, NULL, 0);
    cr_assert_eq(code[4], W(COMPARE_POP_JUMP_IF_FALSE, OPCODE_GE));
    cr_assert_eq(code[5], W(POP_JUMP_IF_FALSE, 6));
}

Test(quicken, for_loop_back_edge_runs_the_head) {
    uint32_t code[] = {W(GET_ITER, 0), W(FOR_ITER, 5), W(STORE_FAST, 0), W(NOP, 0),
                       W(JUMP, 1), W(RETURN_VALUE, 0)};
    quicken(code, 6, NULL, 0);
    cr_assert_eq(code[1], W(FOR_ITER_STORE_FAST, 5));
    cr_assert_eq(code[4], W(JUMP_FOR_ITER, 3), "the argument is the distance back to STORE_FAST");
}

Test(quicken, forward_jump_to_a_loop_head_stays_plain) {
    uint32_t code[] = {W(JUMP, 2), W(GET_ITER, 0), W(FOR_ITER, 6), W(STORE_FAST, 0),
                       W(NOP, 0), W(JUMP, 2), W(RETURN_VALUE, 0)};
    quicken(code, 7, NULL, 0);
    cr_assert_eq(code[0], W(JUMP, 2));
    cr_assert_eq(code[5], W(JUMP_FOR_ITER, 3));
}

Test(quicken, is_and_is_not_are_settled_at_load_time) {
    // `if x is not None`, `if f() is None`, `if a is b`, and `if x > 3` which stays general
    uint32_t code[] = {W(LOAD_FAST, 0), W(LOAD_CONST, 1), W(IS_NOT, 0), W(POP_JUMP_IF_FALSE, 17),
                       W(LOAD_GLOBAL, 0), W(CALL, 0), W(LOAD_CONST, 1), W(IS, 0),
                       W(POP_JUMP_IF_FALSE, 17), W(LOAD_GLOBAL, 0), W(LOAD_GLOBAL, 1), W(IS, 0),
                       W(POP_JUMP_IF_FALSE, 17), W(LOAD_FAST, 0), W(LOAD_CONST, 2), W(GT, 0),
                       W(POP_JUMP_IF_FALSE, 17), W(RETURN_VALUE, 0)};
    quicken(code, 18, NULL, 0);
    cr_assert_eq(code[0], W(FAST_CONST_IS_NOT_JUMP, 0));
    cr_assert_eq(code[1], W(LOAD_CONST, 1), "the other words keep their instructions");
    cr_assert_eq(code[2], W(IS_NOT, 0));
    cr_assert_eq(code[6], W(CONST_IS_POP_JUMP, 1));
    cr_assert_eq(code[7], W(IS, 0));
    cr_assert_eq(code[11], W(IS_POP_JUMP_IF_FALSE, OPCODE_IS));
    cr_assert_eq(code[12], W(POP_JUMP_IF_FALSE, 17));
    cr_assert_eq(code[13], W(FAST_CONST_COMPARE_JUMP, 0));
}

Test(quicken, is_not_forms_of_the_other_runs) {
    uint32_t code[] = {W(LOAD_FAST, 0), W(LOAD_CONST, 1), W(IS, 0), W(POP_JUMP_IF_FALSE, 11),
                       W(LOAD_GLOBAL, 0), W(LOAD_CONST, 1), W(IS_NOT, 0), W(POP_JUMP_IF_FALSE, 11),
                       W(LOAD_GLOBAL, 1), W(IS_NOT, 0), W(POP_JUMP_IF_FALSE, 11),
                       W(RETURN_VALUE, 0)};
    quicken(code, 12, NULL, 0);
    cr_assert_eq(code[0], W(FAST_CONST_IS_JUMP, 0));
    cr_assert_eq(code[5], W(CONST_IS_NOT_POP_JUMP, 1));
    cr_assert_eq(code[9], W(IS_NOT_POP_JUMP_IF_FALSE, OPCODE_IS_NOT));
}

Test(quicken, minus_a_constant_is_settled_at_load_time) {
    // n - 1 on a local has its own form; n - 1 off the stack and n * 2 stay general
    uint32_t code[] = {W(LOAD_FAST, 0), W(LOAD_CONST, 1), W(SUB, 0), W(LOAD_CONST, 1), W(SUB, 0),
                       W(LOAD_FAST, 0), W(LOAD_CONST, 2), W(MUL, 0), W(RETURN_VALUE, 0)};
    quicken(code, 9, NULL, 0);
    cr_assert_eq(code[0], W(BINARY_FAST_CONST_SUB, 0));
    cr_assert_eq(code[2], W(SUB, 0), "the operator word stays for the fallback");
    cr_assert_eq(code[3], W(BINARY_CONST, 1));
    cr_assert_eq(code[5], W(BINARY_FAST_CONST, 0));
}

Test(quicken, is_none_has_its_own_forms) {
    // consts: 0, None. `x is not None`, `f() is None`, `x is 0` (not None), and a constant
    // index past the table, which is left to the general form
    Value consts[] = {INT_VAL(0), NONE_VAL};
    uint32_t code[] = {W(LOAD_FAST, 0), W(LOAD_CONST, 1), W(IS_NOT, 0), W(POP_JUMP_IF_FALSE, 17),
                       W(LOAD_GLOBAL, 0), W(CALL, 0), W(LOAD_CONST, 1), W(IS, 0),
                       W(POP_JUMP_IF_FALSE, 17), W(LOAD_FAST, 0), W(LOAD_CONST, 0), W(IS, 0),
                       W(POP_JUMP_IF_FALSE, 17), W(LOAD_FAST, 0), W(LOAD_CONST, 9), W(IS, 0),
                       W(POP_JUMP_IF_FALSE, 17), W(RETURN_VALUE, 0)};
    quicken(code, 18, consts, 2);
    cr_assert_eq(code[0], W(FAST_IS_NOT_NONE_JUMP, 0));
    cr_assert_eq(code[1], W(LOAD_CONST, 1), "the other words keep their instructions");
    cr_assert_eq(code[6], W(IS_NONE_POP_JUMP, 1));
    cr_assert_eq(code[9], W(FAST_CONST_IS_JUMP, 0));
    cr_assert_eq(code[13], W(FAST_CONST_IS_JUMP, 0));
}

// m.f(x) with a global m and a local x: one four-word run whose other words stay as they were
// (the handler falls back to them when m is not a module).
Test(quicken, module_call_of_a_local) {
    uint32_t code[] = {W(LOAD_GLOBAL, 1), W(LOAD_METHOD, 2), W(LOAD_FAST, 0), W(CALL_METHOD, 1),
                       W(POP, 0),         W(LOAD_GLOBAL, 1), W(LOAD_METHOD, 2),
                       W(LOAD_FAST, 0),   W(LOAD_FAST, 0),   W(CALL_METHOD, 2), W(RETURN_VALUE, 0)};
    quicken(code, 11, NULL, 0);
    cr_assert_eq(code[0], W(MODULE_CALL_FAST, 1));
    cr_assert_eq(code[1], W(LOAD_METHOD, 2));
    cr_assert_eq(code[2], W(LOAD_FAST, 0));
    cr_assert_eq(code[3], W(CALL_METHOD, 1));
    // two arguments: not this form
    cr_assert_neq(code[5], W(MODULE_CALL_FAST, 1));
}

// x = f() on locals, as `o = r()` for a weakref r: one three-word run
Test(quicken, store_of_a_local_call) {
    uint32_t code[] = {W(LOAD_FAST, 0), W(CALL, 0), W(STORE_FAST, 1), W(LOAD_FAST, 0),
                       W(CALL, 1), W(STORE_FAST, 1), W(RETURN_VALUE, 0)};
    quicken(code, 7, NULL, 0);
    cr_assert_eq(code[0], W(CALL0_FAST_STORE, 0));
    cr_assert_eq(code[1], W(CALL, 0));
    cr_assert_eq(code[2], W(STORE_FAST, 1));
    cr_assert_neq(code[3], W(CALL0_FAST_STORE, 0), "a call with an argument is not this form");
}

// `if x in c` and `if x not in c`: the membership test and the jump are one step
Test(quicken, membership_as_a_condition) {
    uint32_t code[] = {W(IN, 0), W(POP_JUMP_IF_FALSE, 4), W(NOT_IN, 0), W(POP_JUMP_IF_FALSE, 4),
                       W(IN, 0), W(RETURN_VALUE, 0)};
    quicken(code, 6, NULL, 0);
    cr_assert_eq(code[0], W(IN_POP_JUMP, 0));
    cr_assert_eq(code[1], W(POP_JUMP_IF_FALSE, 4));
    cr_assert_eq(code[2], W(NOT_IN_POP_JUMP, 0));
    cr_assert_eq(code[4], W(IN, 0), "a value, not a condition");
}

// `% c` gets its own forms, as `+` does
Test(quicken, modulo_by_a_constant_is_settled) {
    uint32_t code[] = {W(LOAD_FAST, 0), W(LOAD_CONST, 1), W(MOD, 0), W(LOAD_CONST, 1),
                       W(MOD, 0), W(RETURN_VALUE, 0)};
    quicken(code, 6, NULL, 0);
    cr_assert_eq(code[0], W(BINARY_FAST_CONST_MOD, 0));
    cr_assert_eq(code[3], W(BINARY_CONST_MOD, 1));
    cr_assert_eq(code[4], W(MOD, 0));
}

// == and < against a constant as conditions get their own forms; other comparisons keep the
// general one
Test(quicken, equal_and_less_than_a_constant_are_settled) {
    uint32_t code[] = {W(LOAD_FAST, 0), W(LOAD_CONST, 1), W(EQ, 0), W(POP_JUMP_IF_FALSE, 16),
                       W(LOAD_FAST, 0), W(LOAD_CONST, 1), W(LT, 0), W(POP_JUMP_IF_FALSE, 16),
                       W(LOAD_FAST, 0), W(LOAD_CONST, 1), W(GE, 0), W(POP_JUMP_IF_FALSE, 16),
                       W(LOAD_CONST, 1), W(EQ, 0), W(POP_JUMP_IF_FALSE, 16), W(NOP, 0),
                       W(RETURN_VALUE, 0)};
    quicken(code, 17, NULL, 0);
    cr_assert_eq(code[0], W(FAST_CONST_EQ_JUMP, 0));
    cr_assert_eq(code[4], W(FAST_CONST_LT_JUMP, 0));
    cr_assert_eq(code[8], W(FAST_CONST_COMPARE_JUMP, 0));
    cr_assert_eq(code[12], W(CONST_EQ_POP_JUMP, 1));
}
