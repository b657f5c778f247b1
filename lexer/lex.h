// The lexer: UTF-8 source bytes -> tokens with INDENT/DEDENT and source positions, as
// CPython 3.11's tokenizer produces them for wk's subset. It reports SyntaxError-family errors
// with CPython's messages, allocates only with malloc and knows nothing about the parser.
#ifndef WK_LEXER_LEX_H
#define WK_LEXER_LEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lexer/token.h"

// A front-end error, shared by the lexer, parser, scope analysis and compiler.
typedef struct {
    const char *kind;  // static: "SyntaxError", "IndentationError" or "TabError"
    char message[512];
    int line;          // 1-based; 0 when unknown
    int col;           // 1-based column of the caret; 0: no caret
    int end_col;       // 1-based, exclusive
    bool incomplete;   // the input ended inside a bracket, a string or after a backslash
} LexError;

// String token flags.
enum {
    LEX_STR_RAW = 1,    // r prefix: backslashes are literal
    LEX_STR_F = 2,      // f prefix: an f-string with {fields}
    LEX_STR_TRIPLE = 4, // ''' or """
};

typedef struct {
    TokenKind kind;
    const char *start; // the token's source text (not NUL-terminated)
    size_t len;
    int line;          // 1-based line of the first byte
    int col;           // 0-based byte column of the first byte
    int end_line;      // line and 0-based column just past the last byte
    int end_col;
    uint64_t ival;     // TOK_INT: the value, valid unless int_overflow
    bool int_overflow; // TOK_INT: the literal does not fit 64 bits
    double fval;       // TOK_FLOAT
    int str_flags;     // TOK_STRING: LEX_STR_*
    const char *body;  // TOK_STRING: the text between the quotes
    size_t body_len;
    int body_line;     // TOK_STRING: position of the body's first byte
    int body_col;
} Token;

// A growable malloc'd byte buffer (decoded strings, messages).
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} LexBuf;

typedef struct Lexer Lexer;

// ---- lifecycle

// A lexer over [len] bytes of [src] (kept, not copied; need not be NUL-terminated) for a file
// named [filename] (used in the invalid-UTF-8 message). Caller frees with lex_free.
Lexer *lex_new(const char *src, size_t len, const char *filename);

// A lexer for an f-string field: the bytes [begin, end) of [src] (of total [len]) starting at
// [line]. It behaves as if inside brackets (no NEWLINE or INDENT) and ends with ENDMARKER.
Lexer *lex_new_sub(const char *src, size_t len, size_t begin, size_t end, int line);

// Release [lx].
void lex_free(Lexer *lx);

// ---- tokens

// Scan the next token of [lx] into [tok]. Returns false with [err] filled on a lexical error;
// after an error or ENDMARKER the lexer must not be called again.
bool lex_next(Lexer *lx, Token *tok, LexError *err);

// The innermost still-open bracket of [lx]: its character (0 if none) and 1-based position.
char lex_open_bracket(const Lexer *lx, int *line, int *col);

// ---- helpers for the parser

// Decode the escapes of string body [s, s+len) (raw when [raw]) appending UTF-8 to [out].
// On a bad escape fills [err] (position left 0 for the caller) and returns false.
bool lex_decode_string(const char *s, size_t len, bool raw, LexBuf *out, LexError *err);

// Append [n] bytes [s] to [b]; aborts on out of memory.
void lex_buf_add(LexBuf *b, const char *s, size_t n);

// Format an error into [err] with [kind], 1-based [line] and [col] (end_col = col + 1).
void lex_error_set(LexError *err, const char *kind, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

// malloc that aborts with a message on failure: the front end's only allocator.
void *lex_alloc(size_t n);

// realloc that aborts with a message on failure.
void *lex_realloc(void *p, size_t n);

// The spelling of token kind [k] ("(", "name", "if").
const char *lex_token_name(TokenKind k);

#endif
