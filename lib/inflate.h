/*
 * inflate: a streaming gunzip reader for sampling the head of an object
 * without holding or decompressing all of it. Compressed bytes are fed in
 * chunks as they arrive (from a store read callback); decompressed bytes
 * are appended to a caller's buffer until max_output is reached. Handles
 * gzip files made of several members (concatenated), checks each member's
 * CRC, and tells a truncated stream from a complete one. Input that does
 * not start with the gzip magic can be passed through unchanged.
 *
 * Ownership: the reader is the caller's (inflate_reader_free); the output
 * buffer is borrowed for each call. Errors: -1 with err set ("truncated
 * gzip stream", "corrupt gzip data: incorrect data check").
 */
#ifndef TICKPIPE_INFLATE_H
#define TICKPIPE_INFLATE_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

typedef struct inflate_reader inflate_reader;

enum inflate_mode {
    INFLATE_AUTO, /* gzip when the input starts with 1f 8b, else passed through */
    INFLATE_GZIP, /* must be gzip (a .gz key): anything else is an error */
};

/* max_output: stop after this many decompressed bytes (0 = no limit).
 * Returns NULL (err set) when memory runs out. */
inflate_reader *inflate_reader_new(enum inflate_mode mode, size_t max_output, tp_err *err);

/*
 * Feeds the next compressed chunk, appending output to out. Returns 0 to
 * ask for more input, 1 when max_output bytes were produced (the caller
 * stops reading: the rest of the object is not needed), -1 on corrupt
 * data or no memory.
 */
int inflate_reader_feed(inflate_reader *reader, const void *data, size_t length, buf *out,
                        tp_err *err);

/* Called at the end of the input: -1 (err set) when the stream stopped
 * inside a gzip member (truncated object), else 0. */
int inflate_reader_finish(inflate_reader *reader, tp_err *err);

/* 1 when the input was gzip (known after the first 2 bytes were fed). */
int inflate_reader_is_gzip(const inflate_reader *reader);
/* Compressed bytes consumed so far and decompressed bytes produced. */
size_t inflate_reader_consumed(const inflate_reader *reader);
size_t inflate_reader_produced(const inflate_reader *reader);

void inflate_reader_free(inflate_reader *reader);

#endif
