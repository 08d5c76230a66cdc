/*
 * inflate: zlib's streaming inflate over gzip members, one chunk at a
 * time, stopping as soon as enough output exists. zlib (not libdeflate)
 * because sampling reads a prefix: libdeflate wants the whole stream.
 */
#include "lib/inflate.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define INFLATE_OUTPUT_STEP 65536

struct inflate_reader {
    enum inflate_mode mode;
    size_t max_output;
    size_t consumed;
    size_t produced;
    unsigned char magic[2]; /* first bytes, held until the format is known */
    size_t magic_length;
    int decided; /* the format is known */
    int gzip;
    int zlib_ready;  /* inflateInit2 done */
    int member_done; /* the last member ended cleanly */
    z_stream stream;
};

inflate_reader *inflate_reader_new(enum inflate_mode mode, size_t max_output, tp_err *err)
{
    inflate_reader *reader = calloc(1, sizeof *reader);
    if (!reader) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    reader->mode = mode;
    reader->max_output = max_output;
    return reader;
}

static size_t inflate_room(const inflate_reader *reader)
{
    if (!reader->max_output)
        return INFLATE_OUTPUT_STEP;
    size_t left = reader->max_output - reader->produced;
    return left < INFLATE_OUTPUT_STEP ? left : INFLATE_OUTPUT_STEP;
}

static int inflate_full(const inflate_reader *reader)
{
    return reader->max_output && reader->produced >= reader->max_output;
}

static int inflate_passthrough(inflate_reader *reader, const unsigned char *data, size_t length,
                               buf *out, tp_err *err)
{
    if (reader->max_output && length > reader->max_output - reader->produced)
        length = reader->max_output - reader->produced;
    if (buf_append(out, data, length) < 0)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    reader->produced += length;
    return inflate_full(reader);
}

static int inflate_gzip(inflate_reader *reader, const unsigned char *data, size_t length, buf *out,
                        tp_err *err)
{
    z_stream *z = &reader->stream;
    if (!reader->zlib_ready) {
        if (inflateInit2(z, 15 + 16) != Z_OK)
            return tp_err_set(err, TP_ERR_INTERNAL, "zlib: cannot initialise inflate");
        reader->zlib_ready = 1;
    }
    z->next_in = (unsigned char *)data;
    z->avail_in = (uInt)length;
    while (z->avail_in > 0 && !inflate_full(reader)) {
        if (reader->member_done) {
            /* another member follows (concatenated gzip files) */
            inflateReset(z);
            reader->member_done = 0;
        }
        size_t room = inflate_room(reader);
        if (buf_reserve(out, room) < 0)
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        z->next_out = (unsigned char *)out->data + out->len;
        z->avail_out = (uInt)room;
        uInt before_in = z->avail_in;
        int rc = inflate(z, Z_NO_FLUSH);
        size_t made = room - z->avail_out;
        out->len += made;
        out->data[out->len] = '\0';
        reader->produced += made;
        reader->consumed += before_in - z->avail_in;
        if (rc == Z_STREAM_END) {
            reader->member_done = 1;
        } else if (rc == Z_BUF_ERROR && made == 0 && before_in == z->avail_in) {
            break; /* no progress possible: needs more input */
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            if (rc == Z_MEM_ERROR)
                return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
            return tp_err_set(err, TP_ERR_PARSE, "corrupt gzip data after %zu compressed bytes: %s",
                              reader->consumed, z->msg ? z->msg : "invalid stream");
        }
    }
    return inflate_full(reader);
}

static int inflate_dispatch(inflate_reader *reader, const unsigned char *data, size_t length,
                            buf *out, tp_err *err)
{
    if (reader->gzip)
        return inflate_gzip(reader, data, length, out, err);
    reader->consumed += length;
    return inflate_passthrough(reader, data, length, out, err);
}

/* Decides the format from the first two bytes, then replays them. */
static int inflate_decide(inflate_reader *reader, buf *out, tp_err *err)
{
    reader->decided = 1;
    reader->gzip =
        reader->magic_length == 2 && reader->magic[0] == 0x1f && reader->magic[1] == 0x8b;
    if (!reader->gzip && reader->mode == INFLATE_GZIP)
        return tp_err_set(err, TP_ERR_PARSE, "not gzip data (no gzip magic bytes)");
    return inflate_dispatch(reader, reader->magic, reader->magic_length, out, err);
}

int inflate_reader_feed(inflate_reader *reader, const void *data, size_t length, buf *out,
                        tp_err *err)
{
    const unsigned char *bytes = data;
    if (!reader->decided) {
        while (length > 0 && reader->magic_length < 2) {
            reader->magic[reader->magic_length++] = *bytes++;
            length--;
        }
        /* hold a lone first byte only when it may start the gzip magic */
        if (reader->magic_length < 2 && (reader->magic[0] == 0x1f || reader->mode == INFLATE_GZIP))
            return 0;
        if (reader->magic_length == 0)
            return 0;
        int rc = inflate_decide(reader, out, err);
        if (rc != 0)
            return rc;
    }
    if (length == 0 || inflate_full(reader))
        return inflate_full(reader);
    return inflate_dispatch(reader, bytes, length, out, err);
}

int inflate_reader_finish(inflate_reader *reader, tp_err *err)
{
    if (!reader->decided && reader->magic_length > 0) /* one byte, held as a possible magic */
        return tp_err_set(err, TP_ERR_PARSE, "truncated gzip stream (1 byte)");
    if (reader->gzip && !inflate_full(reader) && !reader->member_done)
        return tp_err_set(err, TP_ERR_PARSE,
                          "truncated gzip stream: ends inside a member after %zu compressed bytes",
                          reader->consumed);
    return 0;
}

int inflate_reader_is_gzip(const inflate_reader *reader)
{
    return reader->gzip;
}

size_t inflate_reader_consumed(const inflate_reader *reader)
{
    return reader->consumed;
}

size_t inflate_reader_produced(const inflate_reader *reader)
{
    return reader->produced;
}

void inflate_reader_free(inflate_reader *reader)
{
    if (!reader)
        return;
    if (reader->zlib_ready)
        inflateEnd(&reader->stream);
    free(reader);
}
