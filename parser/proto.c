// Proto lifetime and the disassembler (wk --dis): releasing a compiled code tree and printing
// it in a CPython-dis-like listing. Reads Protos only; never touches the VM.
#include "parser/proto.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "vm/opcode.h"

static void const_free(Const *k)
{
    if (k->kind == CONST_STR) {
        free(k->u.s.chars);
    } else if (k->kind == CONST_TUPLE) {
        for (int i = 0; i < k->u.tuple.count; i++) {
            const_free(&k->u.tuple.items[i]);
        }
        free(k->u.tuple.items);
    } else if (k->kind == CONST_CODE) {
        proto_free(k->u.code);
    }
}

static void free_names(char **names, int n)
{
    for (int i = 0; i < n; i++) {
        free(names[i]);
    }
    free(names);
}

void proto_free(Proto *p)
{
    if (!p) {
        return;
    }
    for (int i = 0; i < p->nconsts; i++) {
        const_free(&p->consts[i]);
    }
    free(p->consts);
    free_names(p->names, p->nnames);
    free_names(p->varnames, p->nlocals);
    free_names(p->cellnames, p->ncells);
    free_names(p->freenames, p->nfrees);
    free(p->cell2arg);
    free(p->code);
    free(p->pos);
    free(p->name);
    free(p->qualname);
    free(p->filename);
    free(p);
}

const char *proto_opcode_name(int op)
{
    static const char *const names[] = {
#define OPCODE_NAME(name, has_arg) #name,
        OPCODE_LIST(OPCODE_NAME)
#undef OPCODE_NAME
    };
    return op >= 0 && op < OPCODE_COUNT ? names[op] : "<bad opcode>";
}

static bool has_arg(int op)
{
    static const unsigned char args[] = {
#define OPCODE_HAS_ARG(name, has_arg) has_arg,
        OPCODE_LIST(OPCODE_HAS_ARG)
#undef OPCODE_HAS_ARG
    };
    return op >= 0 && op < OPCODE_COUNT && args[op];
}

// Print constant [k] as Python's repr would.
static void print_const(const Const *k, FILE *out)
{
    switch (k->kind) {
    case CONST_NONE: fputs("None", out); break;
    case CONST_TRUE: fputs("True", out); break;
    case CONST_FALSE: fputs("False", out); break;
    case CONST_ELLIPSIS: fputs("Ellipsis", out); break;
    case CONST_INT: fprintf(out, "%lld", (long long)k->u.i); break;
    case CONST_FLOAT: fprintf(out, "%.17g", k->u.f); break;
    case CONST_STR:
        fputc('\'', out);
        for (size_t i = 0; i < k->u.s.len; i++) {
            unsigned char ch = (unsigned char)k->u.s.chars[i];
            if (ch == '\'' || ch == '\\') {
                fprintf(out, "\\%c", ch);
            } else if (ch == '\n') {
                fputs("\\n", out);
            } else if (ch < 0x20 || ch == 0x7f) {
                fprintf(out, "\\x%02x", ch);
            } else {
                fputc(ch, out);
            }
        }
        fputc('\'', out);
        break;
    case CONST_TUPLE:
        fputc('(', out);
        for (int i = 0; i < k->u.tuple.count; i++) {
            fputs(i ? ", " : "", out);
            print_const(&k->u.tuple.items[i], out);
        }
        fputs(k->u.tuple.count == 1 ? ",)" : ")", out);
        break;
    case CONST_CODE: fprintf(out, "<code object %s>", k->u.code->name); break;
    }
}

// The meaning of [op]'s argument [arg] in [p], in parentheses after the number.
static void print_meaning(const Proto *p, int op, int arg, FILE *out)
{
    const char *name = NULL;
    switch (op) {
    case OPCODE_LOAD_CONST:
        if (arg < p->nconsts) {
            fputs(" (", out);
            print_const(&p->consts[arg], out);
            fputc(')', out);
        }
        return;
    case OPCODE_LOAD_FAST: case OPCODE_STORE_FAST: case OPCODE_DELETE_FAST:
        name = arg < p->nlocals ? p->varnames[arg] : NULL;
        break;
    case OPCODE_LOAD_DEREF: case OPCODE_STORE_DEREF: case OPCODE_DELETE_DEREF:
    case OPCODE_LOAD_CLOSURE:
        name = arg < p->ncells ? p->cellnames[arg]
               : arg - p->ncells < p->nfrees ? p->freenames[arg - p->ncells] : NULL;
        break;
    case OPCODE_LOAD_GLOBAL: case OPCODE_STORE_GLOBAL: case OPCODE_DELETE_GLOBAL:
    case OPCODE_LOAD_NAME: case OPCODE_STORE_NAME: case OPCODE_DELETE_NAME:
    case OPCODE_LOAD_ATTR: case OPCODE_STORE_ATTR: case OPCODE_DELETE_ATTR:
    case OPCODE_LOAD_METHOD: case OPCODE_IMPORT_NAME: case OPCODE_IMPORT_FROM:
        name = arg < p->nnames ? p->names[arg] : NULL;
        break;
    case OPCODE_JUMP: case OPCODE_POP_JUMP_IF_FALSE: case OPCODE_POP_JUMP_IF_TRUE:
    case OPCODE_JUMP_IF_FALSE_OR_POP: case OPCODE_JUMP_IF_TRUE_OR_POP: case OPCODE_FOR_ITER:
    case OPCODE_SETUP_TRY: case OPCODE_SETUP_WITH:
        fprintf(out, " (to %d)", arg);
        return;
    case OPCODE_INPLACE:
        fprintf(out, " (%s)", proto_opcode_name(arg));
        return;
    case OPCODE_ASSERT_FAIL:
        fprintf(out, " (%d kept%s)", arg >> 1, (arg & 1) ? ", message" : "");
        return;
    default:
        return;
    }
    if (name) {
        fprintf(out, " (%s)", name);
    }
}

static void print_list(const char *label, char **names, int n, FILE *out)
{
    fprintf(out, "  %s:", label);
    for (int i = 0; i < n; i++) {
        fprintf(out, "%s%s", i ? ", " : " ", names[i]);
    }
    fputc('\n', out);
}

static void print_header(const Proto *p, FILE *out)
{
    fprintf(out, "Disassembly of <code object %s> (%s, file \"%s\", line %d):\n", p->name,
            p->qualname, p->filename, p->firstline);
    fprintf(out, "  args: %d, kwonly: %d, flags: 0x%x, maxstack: %d\n", p->argcount,
            p->kwonlycount, p->flags, p->maxstack);
    print_list("locals", p->varnames, p->nlocals, out);
    print_list("cells", p->cellnames, p->ncells, out);
    print_list("frees", p->freenames, p->nfrees, out);
    fputs("  consts:", out);
    for (int i = 0; i < p->nconsts; i++) {
        fputs(i ? ", " : " ", out);
        print_const(&p->consts[i], out);
    }
    fputc('\n', out);
}

void proto_disassemble(const Proto *p, FILE *out)
{
    print_header(p, out);
    int last_line = -1;
    for (int i = 0; i < p->ncode; i++) {
        int op = OPCODE_OP(p->code[i]);
        int arg = (int)OPCODE_ARG(p->code[i]);
        if (p->pos[i].line != last_line) {
            fprintf(out, "%6d", p->pos[i].line);
            last_line = p->pos[i].line;
        } else {
            fputs("      ", out);
        }
        fprintf(out, " %6d %-22s", i, proto_opcode_name(op));
        if (has_arg(op)) {
            fprintf(out, " %d", arg);
            print_meaning(p, op, arg, out);
        }
        fputc('\n', out);
    }
    for (int i = 0; i < p->nconsts; i++) {
        if (p->consts[i].kind == CONST_CODE) {
            fputc('\n', out);
            proto_disassemble(p->consts[i].u.code, out);
        }
    }
}
