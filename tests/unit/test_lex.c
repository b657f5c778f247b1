// Unit tests of the lexer (lexer/lex.h): token kinds, values, positions, indentation and
// every lexical error with CPython 3.11's message and position.
#include "lexer/lex.h"

#include <criterion/criterion.h>
#include <string.h>

// Lex all of [src] into [out] (at most [max] tokens); returns the count, or -1 on error.
static int lex_all(const char *src, Token *out, int max, LexError *err)
{
    Lexer *lx = lex_new(src, strlen(src), "<test>");
    int n = 0;
    memset(err, 0, sizeof *err);
    for (;;) {
        Token t;
        if (!lex_next(lx, &t, err)) {
            lex_free(lx);
            return -1;
        }
        if (n < max) {
            out[n] = t;
        }
        n++;
        if (t.kind == TOK_ENDMARKER) {
            break;
        }
    }
    lex_free(lx);
    return n;
}

static void expect_kinds(const char *src, const TokenKind *kinds, int n)
{
    Token toks[64];
    LexError err;
    int got = lex_all(src, toks, 64, &err);
    cr_assert_eq(got, n, "token count for %s: got %d (%s)", src, got, err.message);
    for (int i = 0; i < n; i++) {
        cr_assert_eq(toks[i].kind, kinds[i], "token %d of %s: %s", i, src,
                     lex_token_name(toks[i].kind));
    }
}

static void expect_error(const char *src, const char *kind, const char *msg, int line, int col)
{
    Token toks[64];
    LexError err;
    cr_assert_eq(lex_all(src, toks, 64, &err), -1, "no error for %s", src);
    cr_assert_str_eq(err.kind, kind, "%s", src);
    cr_assert_str_eq(err.message, msg, "%s", src);
    cr_assert_eq(err.line, line, "line for %s: %d", src, err.line);
    if (col) {
        cr_assert_eq(err.col, col, "col for %s: %d", src, err.col);
    }
}

Test(lex, simple_statement)
{
    TokenKind k[] = {TOK_NAME, TOK_ASSIGN, TOK_INT, TOK_PLUS, TOK_FLOAT, TOK_NEWLINE,
                     TOK_ENDMARKER};
    expect_kinds("x = 1 + 2.5\n", k, 7);
}

Test(lex, indentation)
{
    TokenKind k[] = {TOK_IF, TOK_NAME, TOK_COLON, TOK_NEWLINE, TOK_INDENT, TOK_PASS,
                     TOK_NEWLINE, TOK_DEDENT, TOK_NAME, TOK_NEWLINE, TOK_ENDMARKER};
    expect_kinds("if x:\n    pass\n\n# c\n  # d\ny\n", k, 11);
}

Test(lex, dedent_at_eof_without_newline)
{
    TokenKind k[] = {TOK_IF, TOK_NAME, TOK_COLON, TOK_NEWLINE, TOK_INDENT, TOK_PASS,
                     TOK_NEWLINE, TOK_DEDENT, TOK_ENDMARKER};
    expect_kinds("if x:\n    pass", k, 9);
}

Test(lex, implicit_joining_and_backslash)
{
    TokenKind k[] = {TOK_NAME, TOK_ASSIGN, TOK_LPAREN, TOK_INT, TOK_COMMA, TOK_INT, TOK_RPAREN,
                     TOK_PLUS, TOK_INT, TOK_NEWLINE, TOK_ENDMARKER};
    expect_kinds("x = (1,\n      2) \\\n + 3\n", k, 11);
}

Test(lex, operators_longest_match)
{
    TokenKind k[] = {TOK_DSTAREQ, TOK_DSLASH, TOK_RSHIFTEQ, TOK_NE, TOK_ARROW, TOK_ELLIPSIS,
                     TOK_LE, TOK_DOT, TOK_NEWLINE, TOK_ENDMARKER};
    expect_kinds("**= // >>= != -> ... <= .\n", k, 10);
}

Test(lex, keywords)
{
    TokenKind k[] = {TOK_DEF, TOK_NAME, TOK_LAMBDA, TOK_NONE, TOK_NOT, TOK_IN, TOK_IS,
                     TOK_NEWLINE, TOK_ENDMARKER};
    expect_kinds("def define lambda None not in is\n", k, 9);
}

Test(lex, numbers)
{
    Token t[16];
    LexError err;
    int n = lex_all("0x1_F 0o17 0b101 1_000 1. .5 1e3 2.5E-2 0 00\n", t, 16, &err);
    cr_assert_eq(n, 12);
    cr_assert_eq(t[0].ival, 31);
    cr_assert_eq(t[1].ival, 15);
    cr_assert_eq(t[2].ival, 5);
    cr_assert_eq(t[3].ival, 1000);
    cr_assert_eq(t[4].kind, TOK_FLOAT);
    cr_assert_float_eq(t[5].fval, 0.5, 1e-12);
    cr_assert_float_eq(t[6].fval, 1000.0, 1e-9);
    cr_assert_float_eq(t[7].fval, 0.025, 1e-12);
    cr_assert_eq(t[9].ival, 0);
}

Test(lex, int_overflow_flag)
{
    Token t[4];
    LexError err;
    lex_all("99999999999999999999999\n", t, 4, &err);
    cr_assert(t[0].int_overflow);
    lex_all("18446744073709551615\n", t, 4, &err);
    cr_assert(!t[0].int_overflow);
}

Test(lex, positions)
{
    Token t[16];
    LexError err;
    lex_all("ab = 'x'\n  \n(c)\n", t, 16, &err);
    cr_assert_eq(t[0].line, 1);
    cr_assert_eq(t[0].col, 0);
    cr_assert_eq(t[0].end_col, 2);
    cr_assert_eq(t[2].col, 5);
    cr_assert_eq(t[2].end_col, 8);
    cr_assert_eq(t[4].line, 3);
    cr_assert_eq(t[5].col, 1);
}

Test(lex, string_prefixes_and_bodies)
{
    Token t[16];
    LexError err;
    int n = lex_all("r'a\\n' f\"{x}\" '''t\nq''' Rb\n", t, 16, &err);
    cr_assert_eq(n, 6);
    cr_assert_eq(t[0].str_flags, LEX_STR_RAW);
    cr_assert_eq(t[0].body_len, 3);
    cr_assert_eq(t[1].str_flags, LEX_STR_F);
    cr_assert_eq(t[2].str_flags, LEX_STR_TRIPLE);
    cr_assert_eq(t[2].body_len, 3);
    cr_assert_eq(t[3].kind, TOK_NAME);
}

Test(lex, decode_escapes)
{
    LexBuf b = {0};
    LexError err = {0};
    const char *s = "a\\n\\t\\\\\\'\\x41\\u20ac\\U0001F600\\101\\q";
    cr_assert(lex_decode_string(s, strlen(s), false, &b, &err));
    cr_assert_str_eq(b.data, "a\n\t\\'A\xe2\x82\xac\xf0\x9f\x98\x80" "A\\q");
    free(b.data);
    LexBuf r = {0};
    cr_assert(lex_decode_string("\\n", 2, true, &r, &err));
    cr_assert_str_eq(r.data, "\\n");
    free(r.data);
    LexBuf bad = {0};
    cr_assert(!lex_decode_string("\\xZZ", 4, false, &bad, &err));
    cr_assert_str_eq(err.message, "(unicode error) 'unicodeescape' codec can't decode bytes in "
                                  "position 0-1: truncated \\xXX escape");
    free(bad.data);
}

Test(lex, errors_strings)
{
    expect_error("x = 'abc\n", "SyntaxError", "unterminated string literal (detected at line 1)",
                 1, 5);
    expect_error("x = '''abc\n\n", "SyntaxError",
                 "unterminated triple-quoted string literal (detected at line 2)", 1, 5);
}

Test(lex, errors_characters)
{
    expect_error("x = €\n", "SyntaxError", "invalid character '€' (U+20AC)", 1, 5);
    expect_error("x = 1\ny = \xc2\x80\n", "SyntaxError", "invalid non-printable character U+0080",
                 2, 5);
    Token t[8];
    LexError err;
    cr_assert_eq(lex_all("a $ b\n", t, 8, &err), 5);
    cr_assert_eq(t[1].kind, TOK_ERRORTOKEN);
}

Test(lex, errors_encoding)
{
    Lexer *lx = lex_new("x = 1\ny = 2\0\n", 13, "f.wk");
    Token t;
    LexError err = {0};
    cr_assert(!lex_next(lx, &t, &err));
    cr_assert_str_eq(err.message, "source code cannot contain null bytes");
    cr_assert_eq(err.line, 2);
    lex_free(lx);
    expect_error("x = 1\ny = '\x80'\n", "SyntaxError",
                 "Non-UTF-8 code starting with '\\x80' in file <test> on line 2, but no "
                 "encoding declared; see https://peps.python.org/pep-0263/ for details", 2, 0);
}

Test(lex, errors_indentation)
{
    expect_error("if x:\n    a\n  b\n", "IndentationError",
                 "unindent does not match any outer indentation level", 3, 4);
    expect_error("if x:\n        a\n\tb\n", "TabError",
                 "inconsistent use of tabs and spaces in indentation", 3, 1);
    expect_error("def f():\n\tif x:\n        pass\n", "TabError",
                 "inconsistent use of tabs and spaces in indentation", 3, 1);
}

Test(lex, errors_brackets)
{
    expect_error("x = (1,\n", "SyntaxError", "'(' was never closed", 1, 5);
    expect_error("x = )\n", "SyntaxError", "unmatched ')'", 1, 5);
    expect_error("x = (1]\n", "SyntaxError",
                 "closing parenthesis ']' does not match opening parenthesis '('", 1, 7);
    expect_error("x = [1,\n2)\n", "SyntaxError",
                 "closing parenthesis ')' does not match opening parenthesis '[' on line 1", 2, 2);
}

Test(lex, errors_numbers)
{
    expect_error("x = 0777\n", "SyntaxError",
                 "leading zeros in decimal integer literals are not permitted; use an 0o prefix "
                 "for octal integers", 1, 5);
    expect_error("x = 1_\n", "SyntaxError", "invalid decimal literal", 1, 6);
    expect_error("x = 0x\n", "SyntaxError", "invalid hexadecimal literal", 1, 6);
    expect_error("x = 0o78\n", "SyntaxError", "invalid digit '8' in octal literal", 1, 8);
}

Test(lex, error_backslash_at_eof)
{
    Token t[8];
    LexError err;
    cr_assert_eq(lex_all("x = \\\n", t, 8, &err), -1);
    cr_assert_str_eq(err.message, "unexpected EOF while parsing");
    cr_assert(err.incomplete);
}

Test(lex, nesting_limit)
{
    char src[1000];
    memset(src, '(', 201);
    src[201] = '\0';
    expect_error(src, "SyntaxError", "too many nested parentheses", 1, 201);
}

Test(lex, huge_line_is_linear)
{
    size_t n = 10 * 1024 * 1024;
    char *src = malloc(n + 8);
    memcpy(src, "x = '", 5);
    memset(src + 5, 'a', n);
    memcpy(src + 5 + n, "'\n", 3);
    Token t[8];
    LexError err;
    cr_assert_eq(lex_all(src, t, 8, &err), 5);
    cr_assert_eq(t[2].body_len, n);
    free(src);
}

Test(lex, fstring_sub_lexer)
{
    const char *src = "f'{a + b}'";
    Lexer *lx = lex_new_sub(src, strlen(src), 3, 8, 1);
    Token t;
    LexError err = {0};
    TokenKind want[] = {TOK_NAME, TOK_PLUS, TOK_NAME, TOK_ENDMARKER};
    for (int i = 0; i < 4; i++) {
        cr_assert(lex_next(lx, &t, &err));
        cr_assert_eq(t.kind, want[i]);
    }
    lex_free(lx);
}
