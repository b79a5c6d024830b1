/* SPDX-License-Identifier: MIT */
/* The check-plugin report; see report.h. */
#include "report.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const result_words[CK_RESULT_COUNT] = {
    "PASS", "FAIL", "WARN", "SKIP", "INFO"};

const char *ck_result_word(ck_result result)
{
    return (unsigned)result < CK_RESULT_COUNT ? result_words[result] : "?";
}

void ck_report_init(ck_report *r, FILE *out, int stream, int quiet)
{
    memset(r, 0, sizeof *r);
    r->out = out;
    r->stream = stream;
    r->quiet = quiet;
}

void ck_report_free(ck_report *r)
{
    for (size_t i = 0; i < r->count; i++) {
        free(r->items[i].name);
        free(r->items[i].detail);
    }
    free(r->items);
    r->items = NULL;
    r->count = r->capacity = 0;
}

/* vsnprintf into a new buffer; NULL when memory is exhausted. */
static char *vformat(const char *fmt, va_list ap)
{
    va_list copy;
    int n;
    char *s;
    va_copy(copy, ap);
    n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (n < 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

static void print_line(const ck_report *r, ck_result result, const char *name,
                       const char *detail)
{
    if (!r->stream || !r->out)
        return;
    if (r->quiet && result != CK_FAIL && result != CK_WARN)
        return;
    fprintf(r->out, "%s  %-30s %s\n", ck_result_word(result), name,
            detail ? detail : "");
    fflush(r->out);
}

static void add_item(ck_report *r, ck_result result, const char *name,
                     int has_errors, double max_abs, double max_rel,
                     const char *fmt, va_list ap)
{
    char *detail = vformat(fmt, ap);
    if ((unsigned)result < CK_RESULT_COUNT)
        r->totals[result]++;
    print_line(r, result, name, detail);
    if (r->count == r->capacity) {
        size_t cap = r->capacity ? r->capacity * 2 : 64;
        ck_item *grown = cap > SIZE_MAX / sizeof *grown
                             ? NULL
                             : realloc(r->items, cap * sizeof *grown);
        if (!grown) {
            r->nomem = 1;
            free(detail);
            return;
        }
        r->items = grown;
        r->capacity = cap;
    }
    ck_item *it = &r->items[r->count];
    it->result = result;
    it->name = strdup(name);
    it->detail = detail;
    it->has_errors = has_errors;
    it->max_abs_err = max_abs;
    it->max_rel_err = max_rel;
    if (!it->name || !detail) {
        free(it->name);
        free(detail);
        r->nomem = 1;
        return;
    }
    r->count++;
}

void ck_report_add(ck_report *r, ck_result result, const char *name,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_item(r, result, name, 0, 0.0, 0.0, fmt, ap);
    va_end(ap);
}

void ck_report_add_errors(ck_report *r, ck_result result, const char *name,
                          double max_abs_err, double max_rel_err,
                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_item(r, result, name, 1, max_abs_err, max_rel_err, fmt, ap);
    va_end(ap);
}

void ck_report_note(ck_report *r, const char *fmt, ...)
{
    va_list ap;
    if (!r->stream || r->quiet || !r->out)
        return;
    va_start(ap, fmt);
    vfprintf(r->out, fmt, ap);
    va_end(ap);
    fflush(r->out);
}

int ck_report_failed(const ck_report *r)
{
    return r->totals[CK_FAIL] > 0 || r->nomem;
}

void ck_report_print_summary(const ck_report *r)
{
    if (!r->out)
        return;
    fprintf(r->out,
            "\nResult: %s (%zu passed, %zu failed, %zu warnings, "
            "%zu skipped)%s\n",
            ck_report_failed(r) ? "FAIL" : "PASS", r->totals[CK_PASS],
            r->totals[CK_FAIL], r->totals[CK_WARN], r->totals[CK_SKIP],
            r->nomem ? " (out of memory while keeping the report)" : "");
    fflush(r->out);
}

/* JSON has no NaN or infinity: those become null. */
static json_t *json_number(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

int ck_report_print_json(const ck_report *r, const char *target,
                         const char *type_name, const char *path,
                         const char *abi)
{
    json_t *o = json_object(), *checks = json_array();
    char *text;
    int ok = o && checks;
    if (ok) {
        json_object_set_new(o, "target", json_string(target ? target : ""));
        json_object_set_new(o, "type",
                            type_name ? json_string(type_name) : json_null());
        json_object_set_new(o, "path", path ? json_string(path) : json_null());
        json_object_set_new(o, "abi_version",
                            abi ? json_string(abi) : json_null());
        json_object_set_new(o, "result",
                            json_string(ck_report_failed(r) ? "fail" : "pass"));
        for (size_t i = 0; i < CK_RESULT_COUNT; i++) {
            char key[16];
            size_t k;
            snprintf(key, sizeof key, "%s", result_words[i]);
            for (k = 0; key[k]; k++)
                key[k] = (char)(key[k] - 'A' + 'a');
            json_object_set_new(o, key, json_integer((json_int_t)r->totals[i]));
        }
        for (size_t i = 0; i < r->count; i++) {
            const ck_item *it = &r->items[i];
            json_t *c = json_object();
            if (!c) {
                ok = 0;
                break;
            }
            json_object_set_new(c, "check", json_string(it->name));
            json_object_set_new(c, "result",
                                json_string(ck_result_word(it->result)));
            json_object_set_new(c, "detail", json_string(it->detail));
            if (it->has_errors) {
                json_object_set_new(c, "max_abs_err",
                                    json_number(it->max_abs_err));
                json_object_set_new(c, "max_rel_err",
                                    json_number(it->max_rel_err));
            }
            json_array_append_new(checks, c);
        }
        json_object_set_new(o, "checks", checks);
        checks = NULL;
    }
    text = ok ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(checks);
    json_decref(o);
    if (!text)
        return 0;
    fprintf(r->out, "%s\n", text);
    fflush(r->out);
    free(text);
    return 1;
}

int ck_close_or_report(ck_report *r, const char *name, const float *got,
                       const float *want, size_t n, double tol,
                       const char *what)
{
    size_t worst = n;
    double worst_excess = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)got[i] - (double)want[i]);
        double excess = d - tol * (1.0 + fabs((double)want[i]));
        if (!(excess <= 0.0) && (worst == n || !(excess <= worst_excess))) {
            worst = i;
            worst_excess = excess;
        }
    }
    if (worst == n)
        return 1;
    ck_report_add(r, CK_FAIL, name, "%s: element %zu is %.9g, expected %.9g",
                  what, worst, (double)got[worst], (double)want[worst]);
    return 0;
}
