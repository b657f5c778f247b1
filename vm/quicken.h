// Superinstructions: when a code object is loaded, pairs of instructions that run back to back
// in hot loops are fused into one dispatch (vm/opcode.h lists the fused opcodes).
#ifndef WK_VM_QUICKEN_H
#define WK_VM_QUICKEN_H

#include <stdint.h>

#include "vm/value.h"

// Rewrite the first word of each fusable run in [code] ([n] words) in place. The other words
// of a run keep their own instructions: the fused handler runs them all and skips them, or,
// off its fast path, runs the first instruction's plain handler and lets the rest run as usual.
// A run is fused only when no jump lands inside it, so nothing ever enters a run in the middle;
// jump targets and instruction positions (tracebacks) are unchanged. [consts] ([nconsts]
// values, which may be NULL and 0) are the code's constants: `is None` gets its own forms.
// Does not allocate.
void quicken(uint32_t *code, int n, const Value *consts, int nconsts);

#endif
