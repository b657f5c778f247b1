// AST node construction and the arena that owns every node. Nothing here knows the grammar.
#include "parser/ast.h"

#include <stdlib.h>
#include <string.h>

#include "lexer/lex.h"

#define ARENA_CHUNK (64 * 1024)

typedef struct Chunk {
    struct Chunk *next;
    size_t used;
    size_t cap;
    _Alignas(16) unsigned char data[];
} Chunk;

struct AstArena {
    Chunk *head;
};

AstArena *ast_arena_new(void)
{
    AstArena *a = lex_alloc(sizeof *a);
    a->head = NULL;
    return a;
}

void ast_arena_free(AstArena *arena)
{
    if (!arena) {
        return;
    }
    Chunk *c = arena->head;
    while (c) {
        Chunk *next = c->next;
        free(c);
        c = next;
    }
    free(arena);
}

void *ast_alloc(AstArena *arena, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    Chunk *c = arena->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = lex_alloc(sizeof *c + cap);
        c->cap = cap;
        c->used = 0;
        c->next = arena->head;
        arena->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *ast_strdup(AstArena *arena, const char *s, size_t n)
{
    char *d = ast_alloc(arena, n + 1);
    if (n) {
        memcpy(d, s, n);
    }
    d[n] = '\0';
    return d;
}

Ast *ast_new(AstArena *arena, AstKind kind, int line, int col)
{
    Ast *n = ast_alloc(arena, sizeof *n);
    n->kind = kind;
    n->line = n->end_line = line;
    n->col = n->end_col = col;
    return n;
}

void ast_list_add(AstArena *arena, AstList *list, Ast *node)
{
    if (list->count == list->cap) {
        int cap = list->cap ? list->cap * 2 : 4;
        Ast **items = ast_alloc(arena, sizeof *items * (size_t)cap);
        if (list->count) {
            memcpy(items, list->items, sizeof *items * (size_t)list->count);
        }
        list->items = items;
        list->cap = cap;
    }
    list->items[list->count++] = node;
}

void ast_end_at(Ast *node, const Ast *last)
{
    node->end_line = last->end_line;
    node->end_col = last->end_col;
}

const char *ast_kind_name(AstKind kind)
{
    static const char *const names[] = {
        "Name", "Constant", "JoinedStr", "FormattedValue", "Tuple", "List", "Set", "Dict",
        "Starred", "BinOp", "UnaryOp", "BoolOp", "Compare", "IfExp", "Lambda", "Call",
        "keyword", "Attribute", "Subscript", "Slice", "ListComp", "SetComp", "DictComp",
        "GeneratorExp", "comprehension", "Yield", "Expr", "Assign", "AugAssign", "Delete",
        "Pass", "Break", "Continue", "Return", "Raise", "Global", "Nonlocal", "Assert",
        "Import", "ImportFrom", "alias", "If", "While", "For", "Try", "ExceptHandler", "With",
        "withitem", "FunctionDef", "ClassDef", "arguments", "arg", "Module",
    };
    return (size_t)kind < sizeof names / sizeof names[0] ? names[kind] : "?";
}
