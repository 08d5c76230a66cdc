/*
 * err: the error value every fallible function in lib/, aws/ and kafka/
 * fills in. A function returns -1 (or NULL) and writes one human line into
 * the caller's tp_err; only cmd/ decides whether to print it and exit.
 * Messages say what was being done, to what, and why; never a secret.
 */
#ifndef TICKPIPE_ERR_H
#define TICKPIPE_ERR_H

#include <stddef.h>

enum tp_err_code {
    TP_ERR_NONE = 0,
    TP_ERR_USAGE,     /* the user asked for something invalid (exit 2) */
    TP_ERR_IO,        /* file or socket failure */
    TP_ERR_PARSE,     /* malformed input */
    TP_ERR_NETWORK,   /* peer unreachable or timed out */
    TP_ERR_REMOTE,    /* the peer answered with an error */
    TP_ERR_NOT_FOUND, /* a named thing does not exist */
    TP_ERR_EXISTS,    /* a create-only write found the thing already there */
    TP_ERR_INTERNAL,
};

typedef struct tp_err {
    enum tp_err_code code;
    char msg[1024];
} tp_err;

/* Formats the message into err (when err is not NULL); always returns -1 so
 * callers can write `return tp_err_set(err, ...)`. */
int tp_err_set(tp_err *err, enum tp_err_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "context: " to an already set message. Returns -1. */
int tp_err_prefix(tp_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void tp_err_clear(tp_err *err);

#endif
