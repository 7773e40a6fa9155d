/* test_core.c — status strings, the error record and its format, dictionaries,
 * tables, blocks, and free(NULL) on every destructor. */
#include "sf_test.h"

static void test_strerror_covers_all(void **state)
{
    (void)state;
    sf_status all[] = {SF_OK, SF_END, SF_ERR_NOMEM, SF_ERR_IO, SF_ERR_PARSE, SF_ERR_SHAPE,
                       SF_ERR_ARG, SF_ERR_STATE, SF_ERR_NUMERIC, SF_ERR_UNSUPPORTED, SF_ERR_INTERNAL};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        const char *s = sf_strerror(all[i]);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown status");
    }
    assert_string_equal(sf_strerror((sf_status)999), "unknown status");
    /* pinned values (ABI) */
    assert_int_equal(SF_ERR_NOMEM, 16);
    assert_int_equal(SF_ERR_INTERNAL, 24);
    assert_false(SF_IS_ERROR(SF_END));
    assert_true(SF_IS_ERROR(SF_ERR_IO));
}

static void test_error_format(void **state)
{
    (void)state;
    sf_error e;
    sf_error_clear(&e);
    e.status = SF_ERR_PARSE;
    snprintf(e.where.source, sizeof e.where.source, "data.csv");
    e.where.line = 12;
    e.where.column = 7;
    e.where.row = 11;
    e.where.field = 3;
    snprintf(e.field_name, sizeof e.field_name, "age");
    snprintf(e.message, sizeof e.message, "expected a number, got \"n/a\"");
    char buf[256];
    size_t n = sf_error_format(&e, buf, sizeof buf);
    assert_string_equal(buf, "data.csv:12:7: error: expected a number, got \"n/a\" (row 11, field 3 \"age\")");
    assert_int_equal(n, strlen(buf));
    /* truncation reports the full length, like snprintf */
    char small[10];
    assert_int_equal(sf_error_format(&e, small, sizeof small), n);
    assert_int_equal(strlen(small), 9);
    sf_error_clear(&e);
    snprintf(e.message, sizeof e.message, "bad");
    sf_error_format(&e, buf, sizeof buf);
    assert_string_equal(buf, "error: bad");
    sf_error_clear(NULL);
}

static void test_version(void **state)
{
    (void)state;
    char want[32];
    snprintf(want, sizeof want, "%d.%d.%d", SF_VERSION_MAJOR, SF_VERSION_MINOR, SF_VERSION_PATCH);
    assert_string_equal(sf_version(), want);
    sf_library_init();
    sf_library_init();
}

static void test_dict(void **state)
{
    (void)state;
    sf_dict *d = NULL;
    sf_error err;
    assert_int_equal(sf_dict_new(&d, 1000, &err), SF_OK);
    int32_t code;
    char buf[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(buf, sizeof buf, "level-%d", i * 7919 % 1000);
        assert_int_equal(sf_dict_intern(d, buf, (size_t)n, &code, &err), SF_OK);
        assert_int_equal(code, i);
    }
    assert_int_equal(sf_dict_size(d), 1000);
    assert_int_equal(sf_dict_intern(d, "level-0", 7, &code, &err), SF_OK);
    assert_int_equal(code, 0);
    assert_int_equal(sf_dict_find(d, "level-7", 7), sf_dict_find(d, "level-7", 7));
    assert_int_equal(sf_dict_find(d, "nope", 4), -1);
    size_t len;
    assert_string_equal(sf_dict_label(d, 1, &len), "level-919");
    assert_int_equal(len, 9);
    assert_null(sf_dict_label(d, 1000, &len));
    /* over max_levels: an error, the dictionary unchanged */
    assert_int_equal(sf_dict_intern(d, "new", 3, &code, &err), SF_ERR_ARG);
    assert_int_equal(sf_dict_size(d), 1000);
    /* labels with embedded NULs and the empty label are distinct */
    sf_dict *e = NULL;
    assert_int_equal(sf_dict_new(&e, 0, &err), SF_OK);
    assert_int_equal(sf_dict_intern(e, "a\0b", 3, &code, &err), SF_OK);
    assert_int_equal(sf_dict_intern(e, "a", 1, &code, &err), SF_OK);
    assert_int_equal(code, 1);
    assert_int_equal(sf_dict_intern(e, "", 0, &code, &err), SF_OK);
    assert_int_equal(code, 2);
    sf_dict_free(d);
    sf_dict_free(e);
}

static void test_table_block(void **state)
{
    (void)state;
    sf_error err;
    sf_dict *d = NULL;
    assert_int_equal(sf_dict_new(&d, 0, &err), SF_OK);
    sf_coltype types[2] = {SF_COL_FLOAT, SF_COL_CATEGORY};
    const char *names[2] = {"x", "c"};
    sf_dict *dicts[2] = {NULL, d};
    sf_table *t = NULL;
    assert_int_equal(sf_table_new(&t, 2, types, names, dicts, 8, &err), SF_OK);
    assert_non_null(t->cols[0].values);
    assert_null(t->cols[0].codes);
    assert_non_null(t->cols[1].codes);
    assert_ptr_equal(t->cols[1].dict, d);
    assert_int_equal(t->capacity, 8);
    sf_table_free(t);
    assert_int_equal(sf_table_new(&t, 2, types, names, dicts, 0, &err), SF_ERR_ARG);
    assert_null(t);
    sf_block *b = NULL;
    assert_int_equal(sf_block_new(&b, 4, 3, true, false, &err), SF_OK);
    assert_int_equal(b->ld, 3);
    assert_non_null(b->y);
    assert_null(b->w);
    sf_block_free(b);
    sf_dict_free(d);
}

static void test_free_null(void **state)
{
    (void)state;
    sf_dict_free(NULL);
    sf_table_free(NULL);
    sf_block_free(NULL);
    sf_pool_free(NULL);
    sf_source_close(NULL);
    sf_sink_abort(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror_covers_all), cmocka_unit_test(test_error_format),
        cmocka_unit_test(test_version),             cmocka_unit_test(test_dict),
        cmocka_unit_test(test_table_block),         cmocka_unit_test(test_free_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
