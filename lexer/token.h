// Token kinds of wk's lexer: the Python 3 subset's operators, delimiters, keywords and
// literal classes. Only lexer/lex.c produces them; the parser consumes them.
#ifndef WK_LEXER_TOKEN_H
#define WK_LEXER_TOKEN_H

// X(name, spelling) — spelling is the source text, or a description for classes of tokens.
#define TOKEN_LIST(X)                                                                          \
    X(ENDMARKER, "end of input") X(NEWLINE, "newline") X(INDENT, "indent")                     \
    X(DEDENT, "dedent") X(NAME, "name") X(INT, "integer") X(FLOAT, "float")                    \
    X(STRING, "string") X(ERRORTOKEN, "error")                                                 \
    /* delimiters */                                                                           \
    X(LPAREN, "(") X(RPAREN, ")") X(LBRACKET, "[") X(RBRACKET, "]") X(LBRACE, "{")              \
    X(RBRACE, "}") X(COLON, ":") X(COMMA, ",") X(SEMI, ";") X(DOT, ".") X(ELLIPSIS, "...")     \
    X(ARROW, "->") X(AT, "@") X(ASSIGN, "=")                                                   \
    /* operators */                                                                            \
    X(PLUS, "+") X(MINUS, "-") X(STAR, "*") X(SLASH, "/") X(DSLASH, "//") X(PERCENT, "%")      \
    X(DSTAR, "**") X(LSHIFT, "<<") X(RSHIFT, ">>") X(AMP, "&") X(PIPE, "|") X(CARET, "^")      \
    X(TILDE, "~") X(LT, "<") X(GT, ">") X(LE, "<=") X(GE, ">=") X(EQ, "==") X(NE, "!=")        \
    X(WALRUS, ":=") X(EXCL, "!")                                                               \
    /* augmented assignment */                                                                 \
    X(PLUSEQ, "+=") X(MINUSEQ, "-=") X(STAREQ, "*=") X(SLASHEQ, "/=") X(DSLASHEQ, "//=")       \
    X(PERCENTEQ, "%=") X(DSTAREQ, "**=") X(LSHIFTEQ, "<<=") X(RSHIFTEQ, ">>=")                 \
    X(AMPEQ, "&=") X(PIPEEQ, "|=") X(CARETEQ, "^=") X(ATEQ, "@=")                              \
    /* keywords */                                                                             \
    X(FALSE, "False") X(NONE, "None") X(TRUE, "True") X(AND, "and") X(AS, "as")                \
    X(ASSERT, "assert") X(ASYNC, "async") X(AWAIT, "await") X(BREAK, "break")                  \
    X(CLASS, "class") X(CONTINUE, "continue") X(DEF, "def") X(DEL, "del") X(ELIF, "elif")      \
    X(ELSE, "else") X(EXCEPT, "except") X(FINALLY, "finally") X(FOR, "for") X(FROM, "from")    \
    X(GLOBAL, "global") X(IF, "if") X(IMPORT, "import") X(IN, "in") X(IS, "is")                \
    X(LAMBDA, "lambda") X(NONLOCAL, "nonlocal") X(NOT, "not") X(OR, "or") X(PASS, "pass")      \
    X(RAISE, "raise") X(RETURN, "return") X(TRY, "try") X(WHILE, "while") X(WITH, "with")      \
    X(YIELD, "yield")

typedef enum {
#define TOKEN_ENUM(name, text) TOK_##name,
    TOKEN_LIST(TOKEN_ENUM)
#undef TOKEN_ENUM
    TOK_COUNT
} TokenKind;

#define TOK_FIRST_KEYWORD TOK_FALSE
#define TOK_LAST_KEYWORD TOK_YIELD

#endif
