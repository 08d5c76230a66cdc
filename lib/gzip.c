/*
 * gzip: a thin wrapper over libdeflate's one-shot gzip compressor.
 */
#include "lib/gzip.h"

#include <libdeflate.h>
#include <stdlib.h>

struct gzip_compressor {
    struct libdeflate_compressor *compressor;
};

gzip_compressor *gzip_compressor_new(int level, tp_err *err)
{
    if (level < 1 || level > 12) {
        tp_err_set(err, TP_ERR_USAGE, "gzip level %d out of range 1-12", level);
        return NULL;
    }
    gzip_compressor *g = malloc(sizeof *g);
    if (!g || !(g->compressor = libdeflate_alloc_compressor(level))) {
        free(g);
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    return g;
}

void gzip_compressor_free(gzip_compressor *compressor)
{
    if (!compressor)
        return;
    libdeflate_free_compressor(compressor->compressor);
    free(compressor);
}

int gzip_compress_member(gzip_compressor *compressor, const void *data, size_t length, buf *out,
                         tp_err *err)
{
    size_t bound = libdeflate_gzip_compress_bound(compressor->compressor, length);
    if (buf_reserve(out, bound) < 0)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    size_t written =
        libdeflate_gzip_compress(compressor->compressor, data, length, out->data + out->len, bound);
    if (written == 0)
        return tp_err_set(err, TP_ERR_INTERNAL, "gzip compression failed");
    out->len += written;
    out->data[out->len] = '\0';
    return 0;
}
