/* SPDX-License-Identifier: MIT */
/* The check-plugin report: one line per check with its verdict and the
 * numbers behind it. In text mode each line is printed as soon as the check
 * ends, so that a plugin that crashes the process still leaves the story up
 * to the hook that crashed; in JSON mode the lines are kept and printed as
 * one object at the end. */
#ifndef CNNRUN_CHECK_PLUGIN_REPORT_H
#define CNNRUN_CHECK_PLUGIN_REPORT_H

#include <stddef.h>
#include <stdio.h>

typedef enum ck_result {
    CK_PASS = 0,
    CK_FAIL = 1,
    CK_WARN = 2, /* legal but likely a mistake; does not fail the run */
    CK_SKIP = 3, /* not applicable or not possible; says why */
    CK_INFO = 4  /* what was chosen or measured, for the record */
} ck_result;

#define CK_RESULT_COUNT 5

typedef struct ck_item {
    ck_result result;
    char *name;
    char *detail;
    /* For gradient checks, in the JSON output. */
    int has_errors;
    double max_abs_err;
    double max_rel_err;
} ck_item;

typedef struct ck_report {
    ck_item *items;
    size_t count;
    size_t capacity;
    size_t totals[CK_RESULT_COUNT];
    FILE *out;
    int stream; /* print each item when added */
    int quiet;  /* with stream: print only FAIL and WARN lines */
    int nomem;  /* an item could not be stored (still counted) */
} ck_report;

void ck_report_init(ck_report *r, FILE *out, int stream, int quiet);
void ck_report_free(ck_report *r);

const char *ck_result_word(ck_result result);

void ck_report_add(ck_report *r, ck_result result, const char *name,
                   const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* A gradient comparison: the errors are kept for JSON. */
void ck_report_add_errors(ck_report *r, ck_result result, const char *name,
                          double max_abs_err, double max_rel_err,
                          const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;

/* Prints free text in text mode only (headers, the method note). */
void ck_report_note(ck_report *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

int ck_report_failed(const ck_report *r);

/* The closing line ("Result: PASS ..."), text mode. */
void ck_report_print_summary(const ck_report *r);

/* The whole report as one JSON object on r->out; 0 when out of memory.
 * header_* may be NULL when the plugin did not load. */
int ck_report_print_json(const ck_report *r, const char *target,
                         const char *type_name, const char *path,
                         const char *abi);

/* 1 when got is want within tol (1 + |want|) at every element; else
 * reports the worst element as a FAIL line of `name`, after `what`. */
int ck_close_or_report(ck_report *r, const char *name, const float *got,
                       const float *want, size_t n, double tol,
                       const char *what);

#endif
