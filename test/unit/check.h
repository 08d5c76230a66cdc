/*
 * check: the unit-test harness. Each test_*.c is one program whose main()
 * calls RUN(test_function) for every case; each case prints one line
 * "PASS <file>/<case>" or "FAIL <file>/<case>: <first failed check>",
 * which test/run counts. A case with no CHECK is reported as a failure:
 * a test that asserts nothing proves nothing.
 */
#ifndef TICKPIPE_CHECK_H
#define TICKPIPE_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_failures_in_case;
static int check_count_in_case;
static int check_total_failed;
static char check_first_failure[512];

static inline int check_record(int ok, const char *what, const char *file, int line)
{
    check_count_in_case++;
    if (!ok) {
        if (check_failures_in_case++ == 0)
            snprintf(check_first_failure, sizeof check_first_failure, "%s:%d: %s", file, line,
                     what);
        else
            fprintf(stderr, "  also failed: %s:%d: %s\n", file, line, what);
    }
    return ok;
}

static inline int check_strings(const char *got, const char *want, const char *expr,
                                const char *file, int line)
{
    int ok = (got == NULL && want == NULL) || (got && want && strcmp(got, want) == 0);
    if (!ok) {
        char what[480];
        snprintf(what, sizeof what, "%s: got \"%.180s\", want \"%.180s\"", expr,
                 got ? got : "(null)", want ? want : "(null)");
        return check_record(0, what, file, line);
    }
    return check_record(1, expr, file, line);
}

static inline int check_integers(long long got, long long want, const char *expr, const char *file,
                                 int line)
{
    if (got != want) {
        char what[480];
        snprintf(what, sizeof what, "%s: got %lld, want %lld", expr, got, want);
        return check_record(0, what, file, line);
    }
    return check_record(1, expr, file, line);
}

#define CHECK(cond)          check_record(!!(cond), #cond, __FILE__, __LINE__)
#define CHECK_STR(got, want) check_strings((got), (want), #got, __FILE__, __LINE__)
#define CHECK_INT(got, want)                                                                       \
    check_integers((long long)(got), (long long)(want), #got, __FILE__, __LINE__)

static inline const char *check_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static inline void check_run(void (*test)(void), const char *name, const char *file)
{
    check_failures_in_case = 0;
    check_count_in_case = 0;
    test();
    char suite[128];
    snprintf(suite, sizeof suite, "%s", check_base_name(file));
    char *dot = strrchr(suite, '.');
    if (dot)
        *dot = '\0';
    if (check_count_in_case == 0)
        printf("FAIL %s/%s: asserted nothing\n", suite, name);
    else if (check_failures_in_case)
        printf("FAIL %s/%s: %s\n", suite, name, check_first_failure);
    else
        printf("PASS %s/%s\n", suite, name);
    if (check_count_in_case == 0 || check_failures_in_case)
        check_total_failed++;
    fflush(stdout);
}

#define RUN(test)    check_run(test, #test, __FILE__)
#define CHECK_EXIT() return check_total_failed ? 1 : 0

#endif
