// The front end's one entry point: source text in, a Proto tree (parser/proto.h) or a
// SyntaxError-family error out. It runs lexer, parser, scope analysis and code generation,
// allocates only with malloc, and never touches the VM or the collector.
#ifndef WK_PARSER_COMPILE_H
#define WK_PARSER_COMPILE_H

#include <stdbool.h>
#include <stddef.h>

#include "parser/proto.h"

typedef enum {
    COMPILE_FILE, // a module: a script file, -c code, stdin, an imported .wk file
    COMPILE_REPL, // one interactive input: expression statements emit PRINT_EXPR
} CompileMode;

// What went wrong, as CPython reports it:
//   File "<filename>", line <line>
//     <text>
//     <spaces>^^^
//   <kind>: <message>
typedef struct {
    const char *kind;  // static string: "SyntaxError", "IndentationError" or "TabError"
    char message[512]; // e.g. "'(' was never closed"
    char *filename;    // malloc'd copy
    int line;          // 1-based; 0 when unknown
    int col;           // 1-based column of the caret's first character; 0: no caret
    int end_col;       // 1-based, exclusive; equal to col + 1 for a single caret
    char *text;        // malloc'd copy of the offending source line without its newline, or NULL
    bool incomplete;   // REPL: the input ended inside an open bracket, string or block header;
                       // the REPL should read another line instead of reporting
} CompileError;

// Compile [len] bytes of [src] (need not be NUL-terminated) named [filename] in [mode].
// Returns a new Proto owned by the caller (free with proto_free), or NULL with [*err] filled
// (release with compile_error_free). Never crashes or overflows the C stack on any input.
Proto *compile_source(const char *src, size_t len, const char *filename, CompileMode mode,
                      CompileError *err);

// Release what [err] owns (not [err] itself).
void compile_error_free(CompileError *err);

#endif
