/*
 * gzip: compression of whole chunks into gzip members with libdeflate
 * (several times faster than zlib at the same ratio). Streams are built
 * from consecutive members, which every gzip reader accepts (RFC 1952
 * 2.2), so memory stays bounded by the chunk size.
 */
#ifndef TICKPIPE_GZIP_H
#define TICKPIPE_GZIP_H

#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

typedef struct gzip_compressor gzip_compressor;

/* level 1 (fastest) .. 12 (smallest); 6 is gzip's default. */
gzip_compressor *gzip_compressor_new(int level, tp_err *err);
void gzip_compressor_free(gzip_compressor *compressor);

/* Appends one complete gzip member holding data to out. Returns 0 or -1. */
int gzip_compress_member(gzip_compressor *compressor, const void *data, size_t length, buf *out,
                         tp_err *err);

#endif
