// Superinstructions: when a code object is loaded, pairs of instructions that run back to back
// in hot loops are fused into one dispatch (vm/opcode.h lists the fused opcodes).
#ifndef WK_VM_QUICKEN_H
#define WK_VM_QUICKEN_H

#include <stdint.h>

#include "vm/value.h"

// Rewrite the first word of each fusable pair in [code] ([n] words) in place. The second
// word of a pair keeps its own instruction: the fused handler runs both and skips it, or, off
// its fast path, runs the first instruction's plain handler and lets the second run as usual.
// A pair is fused only when no jump lands on its second word, so nothing ever enters a pair in
// the middle; jump targets and instruction positions (tracebacks) are unchanged.
// [consts] are the code's constants (comparisons with None are fused with their LOAD_CONST).
void quicken(uint32_t *code, int n, const Value *consts);

#endif
