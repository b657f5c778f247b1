// The lexer: turns UTF-8 source into tokens on demand, tracking indentation (INDENT/DEDENT,
// tabs to multiples of 8 with CPython's TabError check), brackets (implicit line joining,
// mismatch errors) and positions. Linear time in the input; no recursion.
#include "lexer/lex.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_INDENT 100
#define MAX_PARENS 200

typedef struct {
    char ch;
    int line;
    int col; // 0-based
} Paren;

struct Lexer {
    const char *src;
    const char *end;
    const char *pos;
    const char *line_start;
    int line;
    const char *filename;
    bool sub;          // f-string field lexer: implicit brackets, no indentation
    bool at_line_start;
    bool emitted_any;  // a token other than NEWLINE/INDENT/DEDENT was emitted on this line
    bool done;
    bool checked;      // the encoding check has run
    const char *newline_at; // where the pending NEWLINE token starts (a comment or the break)
    int pending;       // > 0: DEDENTs to emit; < 0: one INDENT to emit
    int indent[MAX_INDENT + 1];
    int altindent[MAX_INDENT + 1];
    int nindent;
    Paren parens[MAX_PARENS];
    int nparens;
};

// ---------------------------------------------------------------- utilities

void *lex_alloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "wk: out of memory in the compiler\n");
        abort();
    }
    return p;
}

void *lex_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "wk: out of memory in the compiler\n");
        abort();
    }
    return q;
}

void lex_buf_add(LexBuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        b->data = lex_realloc(b->data, cap);
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void lex_error_set(LexError *err, const char *kind, int line, int col, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->kind = kind;
    err->line = line;
    err->col = col;
    err->end_col = col ? col + 1 : 0;
}

const char *lex_token_name(TokenKind k)
{
    static const char *const names[] = {
#define TOKEN_NAME(name, text) text,
        TOKEN_LIST(TOKEN_NAME)
#undef TOKEN_NAME
    };
    return k < TOK_COUNT ? names[k] : "?";
}

// Decode one UTF-8 sequence at [p] (before [end]). Returns its length (0 if invalid) and the
// code point in [*cp].
static int utf8_decode(const char *p, const char *end, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t avail = (size_t)(end - p);
    int n;
    uint32_t c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        c &= 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        c &= 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        c &= 0x07;
    } else {
        return 0;
    }
    if (avail < (size_t)n) {
        return 0;
    }
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))) ||
        (n == 4 && (c < 0x10000 || c > 0x10ffff))) {
        return 0;
    }
    *cp = c;
    return n;
}

// Append code point [cp] to [b] as UTF-8.
static void utf8_put(LexBuf *b, uint32_t cp)
{
    char s[4];
    int n;
    if (cp < 0x80) {
        s[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        s[0] = (char)(0xc0 | (cp >> 6));
        s[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        s[0] = (char)(0xe0 | (cp >> 12));
        s[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        s[0] = (char)(0xf0 | (cp >> 18));
        s[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        s[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        s[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    lex_buf_add(b, s, (size_t)n);
}

// Whether non-ASCII code point [cp] may appear in an identifier. An approximation of
// XID_Continue that rejects the common symbol, punctuation and control blocks.
static bool unicode_ident(uint32_t cp)
{
    if (cp < 0xc0) {
        return cp == 0xaa || cp == 0xb5 || cp == 0xba;
    }
    if (cp == 0xd7 || cp == 0xf7 || (cp >= 0x2000 && cp <= 0x2bff) ||
        (cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xe000 && cp <= 0xf8ff) ||
        (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff0f) ||
        (cp >= 0xfff0 && cp <= 0xffff) || (cp >= 0x1f000 && cp <= 0x1faff)) {
        return false;
    }
    return true;
}

static bool is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (unsigned char)c >= 0x80;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

// ---------------------------------------------------------------- lifecycle

// Check the whole input for NUL bytes and invalid UTF-8 up front, as CPython decodes the file
// before tokenizing it.
static bool check_encoding(Lexer *lx, LexError *err)
{
    int line = 1;
    const char *p = lx->pos;
    while (p < lx->end) {
        unsigned char c = (unsigned char)*p;
        uint32_t cp;
        int n = 1;
        if (c == '\n') {
            line++;
        } else if (c == 0) {
            lex_error_set(err, "SyntaxError", line, 0, "source code cannot contain null bytes");
            return false;
        } else if (c >= 0x80 && (n = utf8_decode(p, lx->end, &cp)) == 0) {
            lex_error_set(err, "SyntaxError", line, 0,
                          "Non-UTF-8 code starting with '\\x%02x' in file %s on line %d, but no "
                          "encoding declared; see https://peps.python.org/pep-0263/ for details",
                          c, lx->filename, line);
            return false;
        }
        p += n;
    }
    return true;
}

Lexer *lex_new(const char *src, size_t len, const char *filename)
{
    Lexer *lx = lex_alloc(sizeof *lx);
    memset(lx, 0, sizeof *lx);
    lx->src = src;
    lx->end = src + len;
    lx->pos = src;
    lx->line_start = src;
    lx->line = 1;
    lx->filename = filename ? filename : "<string>";
    lx->at_line_start = true;
    lx->nindent = 1;
    // Skip a UTF-8 byte order mark.
    if (len >= 3 && memcmp(src, "\xef\xbb\xbf", 3) == 0) {
        lx->pos += 3;
        lx->line_start += 3;
    }
    return lx;
}

Lexer *lex_new_sub(const char *src, size_t len, size_t begin, size_t end, int line)
{
    Lexer *lx = lex_new(src, end, "<fstring>");
    (void)len;
    lx->pos = src + begin;
    lx->line_start = lx->pos;
    while (lx->line_start > src && lx->line_start[-1] != '\n') {
        lx->line_start--;
    }
    lx->line = line;
    lx->sub = true;
    lx->at_line_start = false;
    lx->emitted_any = true;
    return lx;
}

void lex_free(Lexer *lx)
{
    free(lx);
}

char lex_open_bracket(const Lexer *lx, int *line, int *col)
{
    if (lx->nparens == 0) {
        return 0;
    }
    const Paren *p = &lx->parens[lx->nparens - 1];
    *line = p->line;
    *col = p->col + 1;
    return p->ch;
}

// ---------------------------------------------------------------- indentation

static int cur_col(const Lexer *lx)
{
    return (int)(lx->pos - lx->line_start);
}

static void newline_at(Lexer *lx, const char *after)
{
    lx->pos = after;
    lx->line++;
    lx->line_start = after;
}

// Length of the current line, for the caret of indentation errors.
static int line_length(const Lexer *lx)
{
    const char *p = lx->line_start;
    while (p < lx->end && *p != '\n' && *p != '\r') {
        p++;
    }
    return (int)(p - lx->line_start);
}

static bool tab_error(Lexer *lx, LexError *err)
{
    lex_error_set(err, "TabError", lx->line, 1,
                  "inconsistent use of tabs and spaces in indentation");
    return false;
}

// Compare the indentation [col]/[altcol] of a new logical line with the stack and queue
// INDENT/DEDENT tokens (lx->pending), as CPython's tokenizer does.
static bool apply_indent(Lexer *lx, int col, int altcol, LexError *err)
{
    int top = lx->nindent - 1;
    if (col == lx->indent[top]) {
        return altcol == lx->altindent[top] ? true : tab_error(lx, err);
    }
    if (col > lx->indent[top]) {
        if (altcol <= lx->altindent[top]) {
            return tab_error(lx, err);
        }
        if (lx->nindent > MAX_INDENT) {
            lex_error_set(err, "IndentationError", lx->line, 0, "too many levels of indentation");
            return false;
        }
        lx->indent[lx->nindent] = col;
        lx->altindent[lx->nindent] = altcol;
        lx->nindent++;
        lx->pending = -1;
        return true;
    }
    while (lx->nindent > 1 && col < lx->indent[lx->nindent - 1]) {
        lx->nindent--;
        lx->pending++;
    }
    if (col != lx->indent[lx->nindent - 1]) {
        lex_error_set(err, "IndentationError", lx->line, line_length(lx) + 1,
                      "unindent does not match any outer indentation level");
        return false;
    }
    return altcol == lx->altindent[lx->nindent - 1] ? true : tab_error(lx, err);
}

// At the start of a line outside brackets: measure the indentation, skip blank and
// comment-only lines, and queue INDENT/DEDENT. Returns false on an indentation error.
static bool line_start(Lexer *lx, LexError *err)
{
    for (;;) {
        int col = 0, altcol = 0;
        const char *p = lx->pos;
        for (; p < lx->end; p++) {
            if (*p == ' ') {
                col++;
                altcol++;
            } else if (*p == '\t') {
                col = (col / 8 + 1) * 8;
                altcol++;
            } else if (*p == '\f') {
                col = altcol = 0;
            } else {
                break;
            }
        }
        lx->pos = p;
        if (p < lx->end && *p == '#') {
            while (p < lx->end && *p != '\n') {
                p++;
            }
        }
        if (p < lx->end && *p == '\r' && p + 1 < lx->end && p[1] == '\n') {
            p++;
        }
        if (p < lx->end && (*p == '\n' || *p == '\r')) {
            newline_at(lx, p + 1);
            continue;
        }
        if (p >= lx->end) {
            lx->pos = p;
            lx->at_line_start = false;
            return true;
        }
        lx->at_line_start = false;
        return apply_indent(lx, col, altcol, err);
    }
}

// ---------------------------------------------------------------- numbers

static bool number_error(Lexer *lx, const char *at, LexError *err, const char *msg)
{
    lex_error_set(err, "SyntaxError", lx->line, (int)(at - lx->line_start) + 1, "%s", msg);
    return false;
}

// Scan digits accepted by [ok] with single underscores between them, from [*pp]. Returns
// false (leaving *pp at the bad place) on a trailing or doubled underscore.
static bool scan_digits(Lexer *lx, const char **pp, bool (*ok)(char))
{
    const char *p = *pp;
    while (p < lx->end && ok(*p)) {
        p++;
        if (p < lx->end && *p == '_') {
            if (p + 1 >= lx->end || !ok(p[1])) {
                *pp = p + 1;
                return false;
            }
            p++;
        }
    }
    *pp = p;
    return true;
}

static bool ok_dec(char c)
{
    return is_digit(c);
}

static bool ok_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool ok_oct(char c)
{
    return c >= '0' && c <= '7';
}

static bool ok_bin(char c)
{
    return c == '0' || c == '1';
}

// Accumulate the value of the digits [s, e) in [base] into [tok], noting overflow.
static void int_value(Token *tok, const char *s, const char *e, int base)
{
    uint64_t v = 0;
    tok->int_overflow = false;
    for (; s < e; s++) {
        if (*s == '_') {
            continue;
        }
        int d = is_digit(*s) ? *s - '0' : (*s | 0x20) - 'a' + 10;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) {
            tok->int_overflow = true;
        }
        v = v * (uint64_t)base + (uint64_t)d;
    }
    tok->ival = v;
}

// 0x / 0o / 0b literals.
static bool scan_prefixed(Lexer *lx, Token *tok, LexError *err)
{
    const char *p = lx->pos + 2;
    char k = (char)(lx->pos[1] | 0x20);
    bool (*ok)(char) = k == 'x' ? ok_hex : k == 'o' ? ok_oct : ok_bin;
    const char *what = k == 'x' ? "invalid hexadecimal literal"
                       : k == 'o' ? "invalid octal literal" : "invalid binary literal";
    if (p < lx->end && *p == '_') {
        p++;
    }
    const char *digits = p;
    if (p >= lx->end || !ok(*p) || !scan_digits(lx, &p, ok)) {
        if (p < lx->end && k == 'o' && is_digit(*p)) {
            lex_error_set(err, "SyntaxError", lx->line, cur_col(lx) + 1,
                          "invalid digit '%c' in octal literal", *p);
            err->col = (int)(p - lx->line_start) + 1;
            return false;
        }
        if (p < lx->end && k == 'b' && is_digit(*p)) {
            lex_error_set(err, "SyntaxError", lx->line, (int)(p - lx->line_start) + 1,
                          "invalid digit '%c' in binary literal", *p);
            return false;
        }
        return number_error(lx, p > lx->pos + 2 ? p : p - 1, err, what);
    }
    if (p < lx->end && is_digit(*p) && k != 'x') {
        lex_error_set(err, "SyntaxError", lx->line, (int)(p - lx->line_start) + 1,
                      "invalid digit '%c' in %s literal", *p, k == 'o' ? "octal" : "binary");
        return false;
    }
    if (p < lx->end && (is_ident_start(*p) || is_digit(*p))) {
        return number_error(lx, p, err, what);
    }
    int_value(tok, digits, p, k == 'x' ? 16 : k == 'o' ? 8 : 2);
    tok->kind = TOK_INT;
    lx->pos = p;
    return true;
}

// The fraction and exponent of a decimal number starting at lx->pos whose integer digits end
// at [p]. Sets *is_float when either is present.
static bool scan_fraction(Lexer *lx, const char **pp, bool *is_float, LexError *err)
{
    const char *p = *pp;
    if (p < lx->end && *p == '.') {
        *is_float = true;
        p++;
        if (p < lx->end && is_digit(*p) && !scan_digits(lx, &p, ok_dec)) {
            return number_error(lx, p, err, "invalid decimal literal");
        }
    }
    if (p < lx->end && (*p == 'e' || *p == 'E')) {
        const char *q = p + 1;
        if (q < lx->end && (*q == '+' || *q == '-')) {
            q++;
        }
        if (q >= lx->end || !is_digit(*q)) {
            return number_error(lx, q, err, "invalid decimal literal");
        }
        if (!scan_digits(lx, &q, ok_dec)) {
            return number_error(lx, q, err, "invalid decimal literal");
        }
        *is_float = true;
        p = q;
    }
    *pp = p;
    return true;
}

// Convert the float literal [s, e) (underscores removed) with strtod.
static double float_value(const char *s, const char *e)
{
    char small[64];
    size_t n = (size_t)(e - s);
    char *buf = n < sizeof small ? small : lex_alloc(n + 1);
    size_t k = 0;
    for (; s < e; s++) {
        if (*s != '_') {
            buf[k++] = *s;
        }
    }
    buf[k] = '\0';
    double v = strtod(buf, NULL);
    if (buf != small) {
        free(buf);
    }
    return v;
}

static bool scan_number(Lexer *lx, Token *tok, LexError *err)
{
    const char *p = lx->pos;
    if (*p == '0' && p + 1 < lx->end && strchr("xXoObB", p[1]) && p[1] != '\0') {
        return scan_prefixed(lx, tok, err);
    }
    bool is_float = false;
    if (*p != '.' && !scan_digits(lx, &p, ok_dec)) {
        return number_error(lx, p - 1, err, "invalid decimal literal");
    }
    const char *int_end = p;
    if (!scan_fraction(lx, &p, &is_float, err)) {
        return false;
    }
    if (p < lx->end && (is_ident_start(*p) || (*p == '.' && !is_float))) {
        return number_error(lx, p, err, "invalid decimal literal");
    }
    if (is_float) {
        tok->kind = TOK_FLOAT;
        tok->fval = float_value(lx->pos, p);
    } else {
        const char *q = lx->pos;
        while (q < int_end && (*q == '0' || *q == '_')) {
            q++;
        }
        if (*lx->pos == '0' && q < int_end) {
            lex_error_set(err, "SyntaxError", lx->line, cur_col(lx) + 1,
                          "leading zeros in decimal integer literals are not permitted; use an "
                          "0o prefix for octal integers");
            return false;
        }
        tok->kind = TOK_INT;
        int_value(tok, lx->pos, int_end, 10);
    }
    lx->pos = p;
    return true;
}

// ---------------------------------------------------------------- strings

// The string flags of prefix [s, s+n) if it is a valid string prefix, else -1.
static int string_prefix(const char *s, size_t n)
{
    int flags = 0;
    if (n > 2) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int f = (s[i] | 0x20) == 'r' ? LEX_STR_RAW : (s[i] | 0x20) == 'f' ? LEX_STR_F
                : (s[i] | 0x20) == 'u' && n == 1 ? 8 : -1;
        if (f < 0 || (flags & f)) {
            return -1;
        }
        flags |= f;
    }
    return flags & ~8;
}

// Scan a string literal whose quote is at lx->pos (its prefix starts at [start]).
static bool scan_string(Lexer *lx, Token *tok, const char *start, int flags, LexError *err)
{
    char q = *lx->pos;
    int start_line = lx->line;
    int start_col = (int)(start - lx->line_start);
    bool triple = lx->pos + 2 < lx->end && lx->pos[1] == q && lx->pos[2] == q;
    const char *p = lx->pos + (triple ? 3 : 1);
    tok->body = p;
    tok->body_line = lx->line;
    tok->body_col = (int)(p - lx->line_start);
    for (;;) {
        if (p >= lx->end || (!triple && *p == '\n')) {
            int at = lx->line;
            if (triple && p > lx->src && p[-1] == '\n') {
                at--;
            }
            lex_error_set(err, "SyntaxError", start_line, start_col + 1,
                          triple ? "unterminated triple-quoted string literal (detected at line %d)"
                                 : "unterminated string literal (detected at line %d)",
                          at);
            err->incomplete = triple;
            return false;
        }
        if (*p == '\\' && p + 1 < lx->end) {
            if (p[1] == '\n') {
                newline_at(lx, p + 2);
            }
            p += 2;
            continue;
        }
        if (*p == q && (!triple || (p + 2 < lx->end && p[1] == q && p[2] == q))) {
            break;
        }
        if (*p == '\n') {
            newline_at(lx, p + 1);
        }
        p++;
    }
    tok->body_len = (size_t)(p - tok->body);
    tok->str_flags = flags | (triple ? LEX_STR_TRIPLE : 0);
    tok->kind = TOK_STRING;
    lx->pos = p + (triple ? 3 : 1);
    tok->start = start;
    tok->line = start_line;
    tok->col = start_col;
    return true;
}

// Decode a \x, \u or \U escape of [ndig] hex digits at [s] into [out].
static bool hex_escape(const char *s, size_t avail, int ndig, LexBuf *out, LexError *err,
                       size_t at)
{
    uint32_t v = 0;
    for (int i = 0; i < ndig; i++) {
        if ((size_t)i >= avail || !ok_hex(s[i])) {
            const char *name = ndig == 2 ? "\\xXX" : ndig == 4 ? "\\uXXXX" : "\\UXXXXXXXX";
            snprintf(err->message, sizeof err->message,
                     "(unicode error) 'unicodeescape' codec can't decode bytes in position "
                     "%zu-%zu: truncated %s escape", at, at + 1 + (size_t)i, name);
            err->kind = "SyntaxError";
            return false;
        }
        v = v * 16 + (uint32_t)(is_digit(s[i]) ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
    }
    if (v > 0x10ffff) {
        snprintf(err->message, sizeof err->message,
                 "(unicode error) 'unicodeescape' codec can't decode bytes in position "
                 "%zu-%zu: illegal Unicode character", at, at + 1 + (size_t)ndig);
        err->kind = "SyntaxError";
        return false;
    }
    utf8_put(out, v);
    return true;
}

bool lex_decode_string(const char *s, size_t len, bool raw, LexBuf *out, LexError *err)
{
    static const char simple_from[] = "\n\\'\"abfnrtv";
    static const char simple_to[] = "\0\\'\"\a\b\f\n\r\t\v";
    lex_buf_add(out, "", 0);
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && (raw || s[j] != '\\')) {
            j++;
        }
        lex_buf_add(out, s + i, j - i);
        if (j >= len) {
            break;
        }
        if (j + 1 >= len) {
            lex_buf_add(out, "\\", 1);
            break;
        }
        char c = s[j + 1];
        const char *k = strchr(simple_from, c);
        i = j + 2;
        if (k && c) {
            if (c != '\n') {
                lex_buf_add(out, &simple_to[k - simple_from], 1);
            }
        } else if (c >= '0' && c <= '7') {
            uint32_t v = (uint32_t)(c - '0');
            for (int n = 0; n < 2 && i < len && s[i] >= '0' && s[i] <= '7'; n++, i++) {
                v = v * 8 + (uint32_t)(s[i] - '0');
            }
            utf8_put(out, v);
        } else if (c == 'x' || c == 'u' || c == 'U') {
            int nd = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            if (!hex_escape(s + i, len - i, nd, out, err, j)) {
                return false;
            }
            i += (size_t)nd;
        } else {
            lex_buf_add(out, s + j, 2);
        }
    }
    return true;
}

// ---------------------------------------------------------------- names and operators

static TokenKind keyword(const char *s, size_t n)
{
    for (int k = TOK_FIRST_KEYWORD; k <= TOK_LAST_KEYWORD; k++) {
        const char *kw = lex_token_name((TokenKind)k);
        if (strlen(kw) == n && memcmp(kw, s, n) == 0) {
            return (TokenKind)k;
        }
    }
    return TOK_NAME;
}

// Report a character that cannot start a token.
static bool bad_char(Lexer *lx, const char *p, uint32_t cp, int n, LexError *err)
{
    int col = (int)(p - lx->line_start) + 1;
    if (cp < 0xa0 || cp == 0xad || (cp >= 0x2000 && cp <= 0x200f) || cp == 0xfeff) {
        lex_error_set(err, "SyntaxError", lx->line, col, "invalid non-printable character U+%04X",
                      (unsigned)cp);
    } else {
        lex_error_set(err, "SyntaxError", lx->line, col, "invalid character '%.*s' (U+%04X)", n, p,
                      (unsigned)cp);
    }
    return false;
}

// Scan an identifier, keyword or prefixed string starting at lx->pos.
static bool scan_name(Lexer *lx, Token *tok, LexError *err)
{
    const char *p = lx->pos;
    while (p < lx->end) {
        char c = *p;
        if ((unsigned char)c < 0x80) {
            if (!is_ident_start(c) && !is_digit(c)) {
                break;
            }
            p++;
            continue;
        }
        uint32_t cp = 0;
        int n = utf8_decode(p, lx->end, &cp);
        if (n == 0 || !unicode_ident(cp)) {
            return bad_char(lx, p, cp, n ? n : 1, err);
        }
        p += n;
    }
    size_t n = (size_t)(p - lx->pos);
    if (p < lx->end && (*p == '\'' || *p == '"')) {
        int flags = string_prefix(lx->pos, n);
        if (flags >= 0) {
            const char *start = lx->pos;
            lx->pos = p;
            return scan_string(lx, tok, start, flags, err);
        }
    }
    tok->kind = keyword(lx->pos, n);
    lx->pos = p;
    return true;
}

// Match the longest operator at [p]; returns its length (0 if none) and kind in [*k].
static int scan_operator(const char *p, const char *end, TokenKind *k)
{
    static const struct {
        const char *text;
        TokenKind kind;
    } ops[] = {
        {"...", TOK_ELLIPSIS}, {"**=", TOK_DSTAREQ}, {"//=", TOK_DSLASHEQ},
        {">>=", TOK_RSHIFTEQ}, {"<<=", TOK_LSHIFTEQ}, {"->", TOK_ARROW}, {"**", TOK_DSTAR},
        {"//", TOK_DSLASH}, {"<<", TOK_LSHIFT}, {">>", TOK_RSHIFT}, {"<=", TOK_LE},
        {">=", TOK_GE}, {"==", TOK_EQ}, {"!=", TOK_NE}, {":=", TOK_WALRUS}, {"+=", TOK_PLUSEQ},
        {"-=", TOK_MINUSEQ}, {"*=", TOK_STAREQ}, {"/=", TOK_SLASHEQ}, {"%=", TOK_PERCENTEQ},
        {"&=", TOK_AMPEQ}, {"|=", TOK_PIPEEQ}, {"^=", TOK_CARETEQ}, {"@=", TOK_ATEQ},
        {"(", TOK_LPAREN}, {")", TOK_RPAREN}, {"[", TOK_LBRACKET}, {"]", TOK_RBRACKET},
        {"{", TOK_LBRACE}, {"}", TOK_RBRACE}, {":", TOK_COLON}, {",", TOK_COMMA},
        {";", TOK_SEMI}, {".", TOK_DOT}, {"@", TOK_AT}, {"=", TOK_ASSIGN}, {"+", TOK_PLUS},
        {"-", TOK_MINUS}, {"*", TOK_STAR}, {"/", TOK_SLASH}, {"%", TOK_PERCENT},
        {"&", TOK_AMP}, {"|", TOK_PIPE}, {"^", TOK_CARET}, {"~", TOK_TILDE}, {"<", TOK_LT},
        {">", TOK_GT}, {"!", TOK_EXCL},
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        size_t n = strlen(ops[i].text);
        if ((size_t)(end - p) >= n && memcmp(p, ops[i].text, n) == 0) {
            *k = ops[i].kind;
            return (int)n;
        }
    }
    return 0;
}

// Track brackets for implicit line joining and report mismatches.
static bool track_bracket(Lexer *lx, TokenKind k, LexError *err)
{
    int col = cur_col(lx);
    if (k == TOK_LPAREN || k == TOK_LBRACKET || k == TOK_LBRACE) {
        if (lx->nparens >= MAX_PARENS) {
            lex_error_set(err, "SyntaxError", lx->line, col + 1, "too many nested parentheses");
            return false;
        }
        lx->parens[lx->nparens++] = (Paren){*lx->pos, lx->line, col};
        return true;
    }
    if (k != TOK_RPAREN && k != TOK_RBRACKET && k != TOK_RBRACE) {
        return true;
    }
    char close = *lx->pos;
    if (lx->nparens == 0) {
        lex_error_set(err, "SyntaxError", lx->line, col + 1, "unmatched '%c'", close);
        return false;
    }
    Paren *open = &lx->parens[lx->nparens - 1];
    char want = open->ch == '(' ? ')' : open->ch == '[' ? ']' : '}';
    if (close != want) {
        if (open->line != lx->line) {
            lex_error_set(err, "SyntaxError", lx->line, col + 1,
                          "closing parenthesis '%c' does not match opening parenthesis '%c' on "
                          "line %d", close, open->ch, open->line);
        } else {
            lex_error_set(err, "SyntaxError", lx->line, col + 1,
                          "closing parenthesis '%c' does not match opening parenthesis '%c'",
                          close, open->ch);
        }
        return false;
    }
    lx->nparens--;
    return true;
}

// ---------------------------------------------------------------- the scanner

// The end of input: close the last line, unwind the indentation, then ENDMARKER.
static bool at_eof(Lexer *lx, Token *tok, LexError *err)
{
    if (lx->nparens > 0 && !lx->sub) {
        Paren *p = &lx->parens[lx->nparens - 1];
        lex_error_set(err, "SyntaxError", p->line, p->col + 1, "'%c' was never closed", p->ch);
        err->incomplete = true;
        return false;
    }
    if (lx->emitted_any && !lx->sub) {
        tok->kind = TOK_NEWLINE;
        lx->emitted_any = false;
    } else if (lx->nindent > 1 && !lx->sub) {
        lx->nindent--;
        tok->kind = TOK_DEDENT;
    } else {
        tok->kind = TOK_ENDMARKER;
        lx->done = true;
    }
    return true;
}

// Skip spaces, comments and backslash continuations. Returns false on a bad continuation;
// sets *newline when a line break outside brackets ends the logical line.
static bool skip_space(Lexer *lx, bool *newline, LexError *err)
{
    *newline = false;
    const char *comment = NULL;
    while (lx->pos < lx->end) {
        char c = *lx->pos;
        bool crlf = c == '\r' && lx->pos + 1 < lx->end && lx->pos[1] == '\n';
        if (c == ' ' || c == '\t' || c == '\f' || crlf) {
            lx->pos++;
        } else if (c == '#') {
            comment = lx->pos;
            while (lx->pos < lx->end && *lx->pos != '\n') {
                lx->pos++;
            }
        } else if (c == '\\') {
            const char *p = lx->pos + 1;
            if (p < lx->end && *p == '\r') {
                p++;
            }
            if (p >= lx->end || (*p == '\n' && p + 1 >= lx->end)) {
                lex_error_set(err, "SyntaxError", lx->line, cur_col(lx) + 2,
                              "unexpected EOF while parsing");
                err->incomplete = true;
                return false;
            }
            if (*p != '\n') {
                lex_error_set(err, "SyntaxError", lx->line, cur_col(lx) + 2,
                              "unexpected character after line continuation character");
                return false;
            }
            newline_at(lx, p + 1);
        } else if (c == '\n' || c == '\r') {
            if (lx->nparens == 0 && !lx->sub && lx->emitted_any) {
                *newline = true;
                lx->newline_at = comment ? comment : lx->pos;
                return true;
            }
            newline_at(lx, lx->pos + 1);
            lx->at_line_start = lx->nparens == 0 && !lx->sub;
            if (lx->at_line_start) {
                return true;
            }
        } else {
            break;
        }
    }
    return true;
}

// Scan one real token (not INDENT/DEDENT/NEWLINE) at lx->pos.
static bool scan_token(Lexer *lx, Token *tok, LexError *err)
{
    char c = *lx->pos;
    TokenKind k;
    int n;
    if (is_digit(c) || (c == '.' && lx->pos + 1 < lx->end && is_digit(lx->pos[1]))) {
        return scan_number(lx, tok, err);
    }
    if (c == '\'' || c == '"') {
        return scan_string(lx, tok, lx->pos, 0, err);
    }
    if (is_ident_start(c)) {
        return scan_name(lx, tok, err);
    }
    if ((n = scan_operator(lx->pos, lx->end, &k)) > 0) {
        if (!track_bracket(lx, k, err)) {
            return false;
        }
        tok->kind = k;
        lx->pos += n;
        return true;
    }
    tok->kind = TOK_ERRORTOKEN;
    lx->pos++;
    return true;
}

bool lex_next(Lexer *lx, Token *tok, LexError *err)
{
    memset(tok, 0, sizeof *tok);
    if (!lx->checked) {
        lx->checked = true;
        if (!lx->sub && !check_encoding(lx, err)) {
            return false;
        }
    }
    for (;;) {
        if (lx->pending != 0) {
            tok->kind = lx->pending < 0 ? TOK_INDENT : TOK_DEDENT;
            lx->pending += lx->pending < 0 ? 1 : -1;
            break;
        }
        if (lx->at_line_start && !lx->sub) {
            if (!line_start(lx, err)) {
                return false;
            }
            if (lx->pending != 0) {
                continue;
            }
        }
        bool newline;
        if (!skip_space(lx, &newline, err)) {
            return false;
        }
        if (lx->at_line_start) {
            continue;
        }
        tok->line = lx->line;
        tok->col = cur_col(lx);
        tok->start = lx->pos;
        if (newline) {
            tok->col = (int)(lx->newline_at - lx->line_start);
            tok->kind = TOK_NEWLINE;
            newline_at(lx, lx->pos + 1);
            lx->at_line_start = true;
            lx->emitted_any = false;
            tok->len = 1;
            tok->end_line = tok->line;
            tok->end_col = tok->col + 1;
            return true;
        }
        if (lx->pos >= lx->end) {
            if (!at_eof(lx, tok, err)) {
                return false;
            }
            break;
        }
        if (!scan_token(lx, tok, err)) {
            return false;
        }
        lx->emitted_any = true;
        break;
    }
    if (!tok->start) {
        tok->start = lx->pos;
        tok->line = lx->line;
        tok->col = cur_col(lx);
    }
    tok->len = (size_t)(lx->pos - tok->start);
    tok->end_line = lx->line;
    tok->end_col = cur_col(lx);
    return true;
}
