// The parser: tokens -> AST (parser/ast.h) by recursive descent over wk's Python subset, with
// CPython 3.11's syntax error messages. Recursion is bounded by a depth counter, so no input
// can overflow the C stack. It does no scope analysis and emits no code.
#ifndef WK_PARSER_PARSE_H
#define WK_PARSER_PARSE_H

#include <stddef.h>

#include "lexer/lex.h"
#include "parser/ast.h"

// The deepest expression nesting the parser accepts (parentheses are limited to 200 by the
// lexer); deeper input is a SyntaxError. Tree walkers may rely on it for their recursion.
#define PARSE_MAX_DEPTH 1500

// Parse [len] bytes of [src] (named [filename]) into an AST_MODULE allocated in [arena].
// Returns NULL with [err] filled on a syntax error; the arena owns any partial tree.
Ast *parse_module(const char *src, size_t len, const char *filename, AstArena *arena,
                  LexError *err);

// The CPython name of an expression kind for error messages ("function call", "literal").
const char *parse_expr_name(const Ast *e);

#endif
