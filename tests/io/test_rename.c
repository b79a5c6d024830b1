/* SPDX-License-Identifier: MIT */
/* Rename maps (include/cnn/rename.h): rule matching, the rules refused as
 * they are added, renaming a safetensors file in place (I64 counters
 * dropped, unmatched rules warned about, two names meeting refused) and
 * rename files, whose errors name file:line:column. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cnn/io.h"
#include "cnn/rename.h"
#include "io_test_util.h"

static io_env env;
static char logged[8192];

static void keep_log(void *user, cnn_log_level level, const char *msg)
{
    (void)user;
    if (level == CNN_LOG_WARN && strlen(logged) + strlen(msg) + 2 < sizeof logged) {
        strcat(logged, msg);
        strcat(logged, "\n");
    }
}

static void setup(void)
{
    io_env_setup(&env);
    logged[0] = '\0';
    cnn_context_set_logger(env.ctx, keep_log, NULL);
}

static void teardown(void)
{
    io_env_teardown(&env);
}

TestSuite(rename, .init = setup, .fini = teardown, .timeout = 120);

static cnn_rename_map *map_of(const char *const *rules, size_t n)
{
    cnn_rename_map *map = NULL;
    cr_assert_eq(cnn_rename_map_create(env.ctx, &map), CNN_OK);
    for (size_t i = 0; i < n; i++) {
        char origin[32];
        snprintf(origin, sizeof origin, "rule %zu", i + 1);
        cr_assert_eq(cnn_rename_map_add(env.ctx, map, rules[2 * i],
                                        rules[2 * i + 1], origin),
                     CNN_OK, "%s", cnn_context_message(env.ctx));
    }
    return map;
}

/* name's new name under map ("-" when dropped, "=" when no rule matched). */
static void expect_match(const cnn_rename_map *map, const char *name,
                         long rule, const char *want)
{
    char *renamed = NULL;
    int oom = 1;
    long got = cnn_rename_map_match(map, name, &renamed, &oom);
    cr_assert_eq(got, rule, "'%s' matched rule %ld, want %ld", name, got, rule);
    cr_assert_eq(oom, 0);
    if (!strcmp(want, "-") || !strcmp(want, "="))
        cr_assert_null(renamed, "'%s' became '%s'", name, renamed);
    else
        cr_assert_str_eq(renamed, want);
    free(renamed);
}

Test(rename, exact_prefix_suffix_rules_first_match_wins)
{
    static const char *const rules[] = {
        "features.0.weight", "conv1.weight",
        "features.0.*", "conv1.*",
        "*.num_batches_tracked", NULL,
        "classifier.*.weight", "fc*.weight",
        "features.*", "f.*"};
    cnn_rename_map *map = map_of(rules, 5);
    cr_assert_eq(cnn_rename_map_count(map), 5);
    expect_match(map, "features.0.weight", 0, "conv1.weight");
    expect_match(map, "features.0.bias", 1, "conv1.bias");
    expect_match(map, "bn1.num_batches_tracked", 2, "-");
    expect_match(map, "classifier.6.weight", 3, "fc6.weight");
    expect_match(map, "features.10.bias", 4, "f.10.bias");
    /* '*' matches the empty run too, and nothing else is special. */
    expect_match(map, "features.", 4, "f.");
    expect_match(map, "features_0_weight", -1, "=");
    expect_match(map, "classifier.6.bias", -1, "=");
    cr_assert_str_eq(cnn_rename_map_origin(map, 3), "rule 4");
    cr_assert_null(cnn_rename_map_to(map, 2));
    cr_assert_null(cnn_rename_map_from(map, 5));
    cnn_rename_map_destroy(map);
}

static void expect_refused_rule(const char *from, const char *to,
                                const char *fragment)
{
    cnn_rename_map *map = NULL;
    cr_assert_eq(cnn_rename_map_create(env.ctx, &map), CNN_OK);
    cr_assert_eq(cnn_rename_map_add(env.ctx, map, from, to, "where.yaml:3:5"),
                 CNN_ERR_INVALID, "'%s' -> '%s' was accepted", from,
                 to ? to : "~");
    cr_assert_msg_has(env.ctx, "where.yaml:3:5");
    cr_assert_msg_has(env.ctx, fragment);
    cr_assert_eq(cnn_rename_map_count(map), 0);
    cnn_rename_map_destroy(map);
}

Test(rename, refuses_rules_that_cannot_mean_one_thing)
{
    expect_refused_rule("", "a", "non-empty name");
    expect_refused_rule("a.*.*", "b.*", "more than one '*'");
    expect_refused_rule("a.*", "b.*.*", "more than one '*'");
    expect_refused_rule("a", "b.*", "'*' in the new name but not in the old");
    expect_refused_rule("a.*", "b", "to one name");
    expect_refused_rule("a", "", "empty name");
}

/* A safetensors file as torchvision's state_dict of a conv, a batch norm
 * and a linear layer would give: F32 tensors and one I64 counter. */
static const char *write_state_dict(const char *name)
{
    static char path[256];
    static const char json[] =
        "{\"features.0.weight\":{\"dtype\":\"F32\",\"shape\":[2,1],"
        "\"data_offsets\":[0,8]},"
        "\"features.0.bias\":{\"dtype\":\"F32\",\"shape\":[2],"
        "\"data_offsets\":[8,16]},"
        "\"features.1.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],"
        "\"data_offsets\":[16,24]},"
        "\"classifier.weight\":{\"dtype\":\"F32\",\"shape\":[1,2],"
        "\"data_offsets\":[24,32]}}";
    const float values[2] = {1.5f, -2.0f};
    const float bias[2] = {0.25f, 0.5f};
    const float fc[2] = {3.0f, 4.0f};
    const int64_t steps = 123456789012;
    unsigned char bytes[8 + sizeof json + 32];
    size_t len = strlen(json);
    for (int k = 0; k < 8; k++)
        bytes[k] = (unsigned char)((uint64_t)len >> (8 * k));
    memcpy(bytes + 8, json, len);
    memcpy(bytes + 8 + len, values, 8);
    memcpy(bytes + 8 + len + 8, bias, 8);
    memcpy(bytes + 8 + len + 16, &steps, 8);
    memcpy(bytes + 8 + len + 24, fc, 8);
    io_path(&env, name, path, sizeof path);
    io_write_file(path, bytes, 8 + len + 32);
    return path;
}

static cnn_tensor_file *read_state_dict(void)
{
    cnn_tensor_file *file = NULL;
    cr_assert_eq(cnn_safetensors_read(env.ctx, write_state_dict("sd.safetensors"),
                                      &file),
                 CNN_OK, "%s", cnn_context_message(env.ctx));
    return file;
}

Test(rename, reads_i64_counters_marked_as_integers)
{
    cnn_tensor_file *file = read_state_dict();
    const cnn_named_tensor *steps =
        cnn_tensor_file_find(file, "features.1.num_batches_tracked");
    const cnn_named_tensor *w = cnn_tensor_file_find(file, "features.0.weight");
    cr_assert_not_null(steps);
    cr_assert_eq(cnn_tensor_file_integer_bits(file, steps), 64);
    cr_assert_eq(cnn_tensor_file_integer_bits(file, w), 0);
    cr_assert_eq(steps->tensor.shape.rank, 0);
    cr_assert_float_eq(steps->tensor.data[0], 123456789012.0f, 1e4);
    cr_assert_eq(w->tensor.data[1], -2.0f);
    cnn_tensor_file_destroy(file);
}

Test(rename, renames_and_drops_in_place_and_warns_of_unmatched_rules)
{
    static const char *const rules[] = {
        "features.0.*", "conv1.*",
        "*.num_batches_tracked", NULL,
        "features.3.*", "conv2.*"};
    cnn_tensor_file *file = read_state_dict();
    cnn_rename_map *map = map_of(rules, 3);
    const cnn_named_tensor *t;
    size_t matched = 99;
    cr_assert_eq(cnn_tensor_file_rename(env.ctx, file, map, &matched), CNN_OK,
                 "%s", cnn_context_message(env.ctx));
    cr_assert_eq(matched, 3);
    cr_assert_eq(cnn_tensor_file_count(file), 3);
    cr_assert_str_eq(cnn_tensor_file_at(file, 0)->name, "conv1.weight");
    cr_assert_str_eq(cnn_tensor_file_at(file, 1)->name, "conv1.bias");
    cr_assert_str_eq(cnn_tensor_file_at(file, 2)->name, "classifier.weight");
    cr_assert_null(cnn_tensor_file_find(file, "features.0.weight"));
    cr_assert_null(cnn_tensor_file_find(file, "features.1.num_batches_tracked"));
    t = cnn_tensor_file_find(file, "conv1.bias");
    cr_assert_not_null(t);
    cr_assert_eq(t->tensor.data[0], 0.25f);
    cr_assert_eq(t->tensor.shape.dims[0], 2);
    t = cnn_tensor_file_find(file, "classifier.weight");
    cr_assert_eq(t->tensor.data[1], 4.0f);
    cr_assert_eq(cnn_tensor_file_integer_bits(file, t), 0);
    /* The rule that matched nothing is named, by where it was written. */
    cr_assert(strstr(logged, "rule 3: rename rule 'features.3.*' -> 'conv2.*' "
                             "matches no tensor"),
              "log: %s", logged);
    cr_assert(!strstr(logged, "rule 1:"), "log: %s", logged);
    cnn_rename_map_destroy(map);
    cnn_tensor_file_destroy(file);
}

Test(rename, leaves_a_file_no_rule_matches_as_it_is)
{
    static const char *const rules[] = {"conv1.*", "x.*"};
    cnn_tensor_file *file = read_state_dict();
    cnn_rename_map *map = map_of(rules, 1);
    size_t matched = 99;
    cr_assert_eq(cnn_tensor_file_rename(env.ctx, file, map, &matched), CNN_OK);
    cr_assert_eq(matched, 0);
    cr_assert_eq(cnn_tensor_file_count(file), 4);
    cr_assert_str_eq(cnn_tensor_file_at(file, 0)->name, "features.0.weight");
    cr_assert_str_eq(logged, "");
    cnn_rename_map_destroy(map);
    cnn_tensor_file_destroy(file);
}

static void expect_collision(const char *const *rules, size_t n,
                             const char *const *fragments)
{
    cnn_tensor_file *file = read_state_dict();
    cnn_rename_map *map = map_of(rules, n);
    cr_assert_eq(cnn_tensor_file_rename(env.ctx, file, map, NULL),
                 CNN_ERR_FORMAT);
    for (; *fragments; fragments++)
        cr_assert_msg_has(env.ctx, *fragments);
    /* Nothing changed. */
    cr_assert_eq(cnn_tensor_file_count(file), 4);
    cr_assert_str_eq(cnn_tensor_file_at(file, 1)->name, "features.0.bias");
    cnn_rename_map_destroy(map);
    cnn_tensor_file_destroy(file);
}

Test(rename, refuses_two_tensors_ending_with_one_name)
{
    static const char *const two_rules[] = {
        "features.0.weight", "fc.weight",
        "classifier.weight", "fc.weight"};
    static const char *const onto_kept[] = {"features.0.bias",
                                            "classifier.weight"};
    static const char *const f1[] = {
        "sd.safetensors", "'features.0.weight' (rule 1)",
        "'classifier.weight' (rule 2)", "both be named 'fc.weight'", NULL};
    static const char *const f2[] = {
        "'features.0.bias' (rule 1)",
        "'classifier.weight' (kept, no rule matched it)",
        "both be named 'classifier.weight'", NULL};
    expect_collision(two_rules, 2, f1);
    expect_collision(onto_kept, 1, f2);
}

static const char *write_text(const char *name, const char *text)
{
    static char path[256];
    io_path(&env, name, path, sizeof path);
    io_write_file(path, text, strlen(text));
    return path;
}

Test(rename, loads_rename_files_in_both_forms_in_order)
{
    cnn_rename_map *map = NULL;
    cr_assert_eq(cnn_rename_map_create(env.ctx, &map), CNN_OK);
    cr_assert_eq(cnn_rename_map_load(env.ctx, map, write_text("a.yaml",
                     "# torchvision names\n"
                     "rename:\n"
                     "  features.0.*: conv1.*\n"
                     "  \"*.num_batches_tracked\": ~\n")),
                 CNN_OK, "%s", cnn_context_message(env.ctx));
    cr_assert_eq(cnn_rename_map_load(env.ctx, map, write_text("b.yaml",
                     "rename:\n"
                     "  - classifier.weight: fc.weight\n"
                     "  - x: null\n")),
                 CNN_OK, "%s", cnn_context_message(env.ctx));
    cr_assert_eq(cnn_rename_map_count(map), 4);
    cr_assert_str_eq(cnn_rename_map_from(map, 0), "features.0.*");
    cr_assert_str_eq(cnn_rename_map_to(map, 0), "conv1.*");
    cr_assert_null(cnn_rename_map_to(map, 1));
    cr_assert_str_eq(cnn_rename_map_from(map, 2), "classifier.weight");
    cr_assert_null(cnn_rename_map_to(map, 3));
    cr_assert(strstr(cnn_rename_map_origin(map, 1), "/a.yaml:4:3"),
              "origin %s", cnn_rename_map_origin(map, 1));
    cr_assert(strstr(cnn_rename_map_origin(map, 2), "/b.yaml:2:5"),
              "origin %s", cnn_rename_map_origin(map, 2));
    cnn_rename_map_destroy(map);
}

static void expect_bad_file(const char *text, const char *fragment)
{
    cnn_rename_map *map = NULL;
    const char *path = write_text("bad.yaml", text);
    cr_assert_eq(cnn_rename_map_create(env.ctx, &map), CNN_OK);
    cr_assert_neq(cnn_rename_map_load(env.ctx, map, path), CNN_OK,
                  "accepted: %s", text);
    cr_assert_msg_has(env.ctx, path);
    cr_assert_msg_has(env.ctx, fragment);
    cnn_rename_map_destroy(map);
}

Test(rename, bad_rename_files_name_file_line_and_column)
{
    expect_bad_file("rename:\n  a: b\n  c: [d\n", "bad.yaml:");
    expect_bad_file("rename:\n  a.*.*: b.*\n", "bad.yaml:2:3: rename rule "
                                               "'a.*.*' -> 'b.*' has more");
    expect_bad_file("rename:\n  a.*: b\n", "bad.yaml:2:3: rename rule 'a.*' "
                                           "-> 'b' maps every name");
    expect_bad_file("rename:\n  - a: b\n  - c\n", "bad.yaml:3:5: rename: each "
                                                  "item must be one");
    expect_bad_file("rename:\n  - {a: b, c: d}\n", "bad.yaml:2:5: rename: each "
                                                   "item must be one");
    expect_bad_file("rename:\n  a: b\n  a: c\n", "bad.yaml:3:3:");
    expect_bad_file("renames:\n  a: b\n", "bad.yaml:1:1: a rename file is a "
                                          "mapping with the one key 'rename'");
    expect_bad_file("rename:\n", "bad.yaml:1:8: rename must be a mapping");
    expect_bad_file("rename: other.yaml\n", "rename must be a mapping");
    expect_bad_file("rename:\n  a: [b]\n", "bad.yaml:2:6: rename: a rule's "
                                          "new name");
}

Test(rename, missing_rename_file_is_named)
{
    cnn_rename_map *map = NULL;
    cr_assert_eq(cnn_rename_map_create(env.ctx, &map), CNN_OK);
    cr_assert_neq(cnn_rename_map_load(env.ctx, map, "/nonexistent/r.yaml"),
                  CNN_OK);
    cr_assert_msg_has(env.ctx, "/nonexistent/r.yaml");
    cnn_rename_map_destroy(map);
}
