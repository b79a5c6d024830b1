/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "class_match.h"

int class_names_are_numbers(const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        char buf[32];
        snprintf(buf, sizeof buf, "%zu", i);
        if (!names[i] || strcmp(names[i], buf) != 0)
            return 0;
    }
    return 1;
}

/* "'a', 'b', 'c'" into buf, ending in "..." when long. */
static const char *join(const char *const *names, size_t count, char *buf,
                        size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < count && used + 1 < size; i++) {
        const char *n = names[i] && *names[i] ? names[i] : "(unnamed)";
        if (used + strlen(n) + 10 >= size) {
            snprintf(buf + used, size - used, ", ...");
            break;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s'%s'",
                                 i ? ", " : "", n);
    }
    return buf;
}

static const char **dataset_names(const cnn_dataset *ds)
{
    size_t n = cnn_dataset_class_count(ds);
    const char **names = calloc(n + 1, sizeof *names);
    for (size_t i = 0; names && i < n; i++)
        names[i] = cnn_dataset_class_name(ds, i);
    return names;
}

cnn_status class_match_dataset(cnn_context *ctx, const classifier_head *head,
                               const cnn_graph *graph,
                               const class_names *model, cnn_dataset *ds,
                               int allow_missing)
{
    char what[300];
    size_t outputs = (size_t)head->classes;
    size_t have = cnn_dataset_class_count(ds);
    const char **data = dataset_names(ds);
    const char **wanted = calloc(outputs + 1, sizeof *wanted);
    char list[600], list2[600];
    int by_name;
    cnn_status st = CNN_OK;

    snprintf(what, sizeof what, "graph '%s'", cnn_graph_name(graph));
    if (!data || !wanted) {
        free(data);
        free(wanted);
        return cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; model && i < model->count && i < outputs; i++)
        wanted[i] = model->names[i];
    by_name = model && model->count > 0 &&
              !class_names_are_numbers(model->names, model->count) &&
              !class_names_are_numbers(data, have);
    if (have > outputs) {
        st = cnn_context_fail(ctx, CNN_ERR_SHAPE,
                              "%s has %zu classes (%s) but %s outputs %zu",
                              cnn_dataset_spec(ds), have,
                              join(data, have, list, sizeof list), what,
                              outputs);
    } else if (by_name) {
        /* Which of the model's outputs the data never names. */
        const char **absent = calloc(outputs + 1, sizeof *absent);
        size_t n_absent = 0;
        if (!absent) {
            st = cnn_context_fail(ctx, CNN_ERR_NOMEM, "out of memory");
        } else {
            for (size_t j = 0; j < outputs; j++) {
                size_t c = 0;
                while (c < have && !(wanted[j] && !strcmp(wanted[j], data[c])))
                    c++;
                if (c == have)
                    absent[n_absent++] = wanted[j];
            }
            st = cnn_dataset_map_classes(ctx, ds, wanted, outputs, 1);
            if (st != CNN_OK) {
                char copy[1024];
                snprintf(copy, sizeof copy, "%s", cnn_context_message(ctx));
                cnn_context_fail(ctx, st, "%s (classes from %s)", copy,
                                 model->source);
            }
            else if (n_absent && !allow_missing)
                st = cnn_context_fail(
                    ctx, CNN_ERR_SHAPE,
                    "%s lacks %zu of the %zu classes of %s (%s; classes from "
                    "%s); pass --allow-missing-classes if that is meant",
                    cnn_dataset_spec(ds), n_absent, outputs, what,
                    join(absent, n_absent, list, sizeof list), model->source);
            free(absent);
        }
    } else if (have < outputs && !allow_missing) {
        st = cnn_context_fail(
            ctx, CNN_ERR_SHAPE,
            "%s has %zu classes (%s) but %s outputs %zu%s%s; give the output "
            "layer %zu units, or pass --allow-missing-classes if the data "
            "lacks some of the model's classes",
            cnn_dataset_spec(ds), have, join(data, have, list, sizeof list),
            what, outputs, model && model->count ? " named " : "",
            model && model->count ? join(wanted, outputs, list2, sizeof list2)
                                  : "",
            have);
    } else {
        st = cnn_dataset_map_classes(ctx, ds, wanted, outputs, 0);
    }
    free(data);
    free(wanted);
    if (st != CNN_OK)
        return st;
    return classifier_check_data(ctx, graph, head, ds);
}
