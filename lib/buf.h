/*
 * buf: a growable byte buffer, the one container for building messages,
 * request bodies and lines. The data is always NUL-terminated (not counted
 * in len) so it can be used as a C string when it holds text.
 * Ownership: the buf owns data; buf_free releases it; buf_detach hands it
 * over to the caller (free() it).
 */
#ifndef TICKPIPE_BUF_H
#define TICKPIPE_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data;
    size_t len;
    size_t cap;
} buf;

#define BUF_INIT                                                                                   \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* All growing functions return 0, or -1 when memory runs out (the buffer
 * is then unchanged). */
int buf_reserve(buf *b, size_t extra);
int buf_append(buf *b, const void *data, size_t len);
int buf_append_str(buf *b, const char *s);
int buf_append_char(buf *b, char c);
int buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(buf *b, const char *fmt, va_list ap);

/* Keeps the allocation, forgets the content. */
void buf_reset(buf *b);
/* Removes the first n bytes. */
void buf_consume(buf *b, size_t n);
void buf_free(buf *b);
/* Returns the data (never NULL; "" for an empty buffer) and leaves b empty. */
char *buf_detach(buf *b);

#endif
