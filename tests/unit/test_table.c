// Unit tests of the insertion-ordered hash table (suite `table`): string and generic keys,
// order after overwrite and delete, compaction on growth, whole-table helpers.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "vm/num.h"
#include "vm/str.h"
#include "vm/table.h"
#include "vm/vm.h"

static WkVM *vm;
static Table t;

static void setup(void) {
    char *argv[] = {"test"};
    vm = vm_new(1, argv);
    cr_assert_not_null(vm);
    vm->gc.enabled = false; // [t] is not a root: no automatic collection may free its keys
    table_init(&t);
}

static void teardown(void) {
    table_free(vm, &t);
    vm_free(vm);
}

TestSuite(table, .init = setup, .fini = teardown);

// A fresh string key (equal keys are found by their bytes, not their identity).
static ObjStr *key(const char *s) {
    return str_from_cstr(vm, s);
}

Test(table, set_and_get_string_keys) {
    table_set_str(vm, &t, key("a"), INT_VAL(1));
    table_set_str(vm, &t, key("b"), INT_VAL(2));
    Value *v = table_get_str(&t, key("a"));
    cr_assert_not_null(v);
    cr_assert_eq(AS_INT(*v), 1);
    cr_assert_null(table_get_str(&t, key("zz")));
    cr_assert_eq(t.count, 2);
}

Test(table, long_string_keys_compare_by_bytes) {
    char buf[100];
    memset(buf, 'x', sizeof buf);
    ObjStr *k1 = str_new(vm, buf, sizeof buf);
    gc_push_root(vm, OBJ_VAL(k1));
    ObjStr *k2 = str_new(vm, buf, sizeof buf);
    gc_push_root(vm, OBJ_VAL(k2));
    cr_assert_neq(k1, k2, "strings over 40 bytes are not interned");
    table_set_str(vm, &t, k1, INT_VAL(7));
    Value *v = table_get_str(&t, k2);
    cr_assert_not_null(v);
    cr_assert_eq(AS_INT(*v), 7);
    gc_pop_roots(vm, 2);
}

Test(table, overwrite_keeps_position_and_delete_reinsert_moves_to_end) {
    const char *names[] = {"b", "a", "c"};
    for (int i = 0; i < 3; i++) {
        table_set_str(vm, &t, key(names[i]), INT_VAL(i));
    }
    table_set_str(vm, &t, key("b"), INT_VAL(10));
    cr_assert(table_delete_str(vm, &t, key("a")));
    cr_assert_not(table_delete_str(vm, &t, key("a")));
    table_set_str(vm, &t, key("a"), INT_VAL(4));
    const char *expect[] = {"b", "c", "a"};
    uint32_t pos = 0;
    TableEntry *e;
    int n = 0;
    while ((e = table_next(&t, &pos))) {
        cr_assert_str_eq(AS_STR(e->key)->chars, expect[n]);
        n++;
    }
    cr_assert_eq(n, 3);
    cr_assert_eq(AS_INT(*table_get_str(&t, key("b"))), 10);
}

Test(table, grows_and_compacts_deleted_entries) {
    char name[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "k%d", i);
        table_set_str(vm, &t, key(name), INT_VAL(i));
        if (i % 2 == 1) {
            snprintf(name, sizeof name, "k%d", i - 1);
            cr_assert(table_delete_str(vm, &t, key(name)));
        }
    }
    cr_assert_eq(t.count, 500);
    cr_assert_leq(t.used, t.cap);
    cr_assert_leq(t.cap, (t.mask + 1) * 2 / 3);
    for (int i = 0; i < 1000; i++) {
        snprintf(name, sizeof name, "k%d", i);
        Value *v = table_get_str(&t, key(name));
        if (i % 2 == 1) {
            cr_assert_not_null(v, "%s", name);
            cr_assert_eq(AS_INT(*v), i);
        } else {
            cr_assert_null(v, "%s", name);
        }
    }
}

Test(table, generic_int_keys) {
    for (int64_t i = -50; i < 50; i++) {
        cr_assert(table_set(vm, &t, INT_VAL(i), num_hash_int(i), INT_VAL(i * 2)));
    }
    for (int64_t i = -50; i < 50; i++) {
        Value v;
        bool found;
        cr_assert(table_get(vm, &t, INT_VAL(i), num_hash_int(i), &v, &found));
        cr_assert(found);
        cr_assert_eq(AS_INT(v), i * 2);
    }
    bool found;
    cr_assert(table_delete(vm, &t, INT_VAL(3), num_hash_int(3), &found));
    cr_assert(found);
    Value v;
    cr_assert(table_get(vm, &t, INT_VAL(3), num_hash_int(3), &v, &found));
    cr_assert_not(found);
}

Test(table, find_chars_copy_clear_and_remove_at) {
    table_set_str(vm, &t, key("hello"), NONE_VAL);
    ObjStr *s = table_find_chars(&t, "hello", 5, str_hash_bytes("hello", 5));
    cr_assert_not_null(s);
    cr_assert_str_eq(s->chars, "hello");
    cr_assert_null(table_find_chars(&t, "hell", 4, str_hash_bytes("hell", 4)));

    Table c;
    table_init(&c);
    table_copy(vm, &c, &t);
    cr_assert_eq(c.count, 1);
    cr_assert_not_null(table_get_str(&c, s));
    table_remove_at(&c, 0);
    cr_assert_eq(c.count, 0);
    cr_assert_null(table_get_str(&c, s));
    table_free(vm, &c);

    table_clear(&t);
    cr_assert_eq(t.count, 0);
    cr_assert_null(table_get_str(&t, s));
}
