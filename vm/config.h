// Every build switch, with its purpose and default, and the assertion macros.
#ifndef WK_VM_CONFIG_H
#define WK_VM_CONFIG_H

#include <stdio.h>
#include <stdlib.h>

#define WK_VERSION "0.1.0"

// WK_DEBUG (off): internal assertions (WK_ASSERT) and temp-root balance checks.
// WK_COMPUTED_GOTO (on with GCC/Clang): threaded dispatch in vm_run.
#ifndef WK_COMPUTED_GOTO
#if defined(__GNUC__)
#define WK_COMPUTED_GOTO 1
#else
#define WK_COMPUTED_GOTO 0
#endif
#endif

#ifdef WK_DEBUG
#define WK_ASSERT(cond, what)                                                                  \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "%s:%d: wk internal error: %s\n", __FILE__, __LINE__, what);       \
            abort();                                                                           \
        }                                                                                      \
    } while (0)
#else
#define WK_ASSERT(cond, what) ((void)0)
#endif

#define WK_UNREACHABLE()                                                                       \
    do {                                                                                       \
        fprintf(stderr, "%s:%d: wk internal error: unreachable\n", __FILE__, __LINE__);        \
        abort();                                                                               \
    } while (0)

// Marks a function that raises: its false/NULL result must be checked.
#define WK_RAISES
#define WK_NODISCARD __attribute__((warn_unused_result))
// A hot helper of the dispatch loop that must be inlined into it.
#define WK_ALWAYS_INLINE inline __attribute__((always_inline))

#endif
