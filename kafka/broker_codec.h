/*
 * broker_codec: Kafka wire primitives for the broker. A reader walks a
 * received frame (big-endian integers, strings, bytes, arrays, unsigned
 * varints, zigzag varints, tagged fields) with a sticky error: after the
 * first short or invalid field every read returns zero and error stays set,
 * so decoders check once at the end. A writer appends to a growable byte
 * array with the same sticky error for out-of-memory. An arena holds the
 * decoded request structures of one request; strings are not copied, they
 * point into the frame (kafka_str, not NUL-terminated).
 * Ownership: the writer owns data (broker_writer_free); the arena owns
 * everything it allocated (broker_arena_reset/free).
 */
#ifndef TICKPIPE_BROKER_CODEC_H
#define TICKPIPE_BROKER_CODEC_H

#include <stddef.h>
#include <stdint.h>

/* A string or byte range inside a frame; len -1 means null. */
struct kafka_str {
    const char *ptr;
    int32_t len;
};
struct kafka_bytes {
    uint8_t *ptr; /* writable: the broker rewrites batch base offsets in place */
    int32_t len;
};

struct broker_reader {
    uint8_t *p;
    uint8_t *end;
    const char *error; /* NULL while every read succeeded */
};

void broker_reader_init(struct broker_reader *r, uint8_t *data, size_t len);
size_t broker_reader_remaining(const struct broker_reader *r);
/* Marks the reader failed with a static reason (the first one wins). */
void broker_reader_fail(struct broker_reader *r, const char *why);

int8_t broker_read_i8(struct broker_reader *r);
int16_t broker_read_i16(struct broker_reader *r);
int32_t broker_read_i32(struct broker_reader *r);
int64_t broker_read_i64(struct broker_reader *r);
int broker_read_bool(struct broker_reader *r);
uint64_t broker_read_uvarint(struct broker_reader *r);
int64_t broker_read_varint(struct broker_reader *r); /* zigzag, as inside record batches */
/* STRING (non-null), NULLABLE_STRING, COMPACT_STRING / COMPACT_NULLABLE_STRING. */
struct kafka_str broker_read_string(struct broker_reader *r);
struct kafka_str broker_read_nullable_string(struct broker_reader *r);
struct kafka_str broker_read_compact_string(struct broker_reader *r);
/* BYTES / NULLABLE_BYTES (-1 = null). */
struct kafka_bytes broker_read_bytes(struct broker_reader *r);
/* An ARRAY count: -1 for null (only when nullable), else 0..n where each
 * element needs at least min_element_size bytes of what remains; anything
 * else fails the reader, so a huge count cannot cause a huge allocation. */
int32_t broker_read_array(struct broker_reader *r, size_t min_element_size, int nullable);
/* Skips a tagged-field section. */
void broker_read_skip_tags(struct broker_reader *r);

/* 1 when a string equals a C string. */
int kafka_str_eq(struct kafka_str s, const char *c);

struct broker_writer {
    uint8_t *data;
    size_t len;
    size_t cap;
    int failed; /* out of memory at some point: the content is incomplete */
};

void broker_writer_free(struct broker_writer *w);
/* Makes room for extra bytes; returns a pointer to them (len not moved) or
 * NULL (and failed set). */
uint8_t *broker_writer_reserve(struct broker_writer *w, size_t extra);
void broker_write_raw(struct broker_writer *w, const void *data, size_t len);
void broker_write_i8(struct broker_writer *w, int8_t v);
void broker_write_i16(struct broker_writer *w, int16_t v);
void broker_write_i32(struct broker_writer *w, int32_t v);
void broker_write_i64(struct broker_writer *w, int64_t v);
void broker_write_bool(struct broker_writer *w, int v);
void broker_write_uvarint(struct broker_writer *w, uint64_t v);
void broker_write_varint(struct broker_writer *w, int64_t v); /* zigzag */
/* STRING from a C string (NULL writes a null NULLABLE_STRING). */
void broker_write_cstring(struct broker_writer *w, const char *s);
void broker_write_string(struct broker_writer *w, struct kafka_str s);
void broker_write_compact_string(struct broker_writer *w, const char *s);
/* BYTES (NULL with len 0 writes an empty, not a null, value). */
void broker_write_bytes(struct broker_writer *w, const void *data, int32_t len);
void broker_write_i32_at(struct broker_writer *w, size_t position, int32_t v);

/* Big-endian loads and stores on raw memory (record batch headers). */
int16_t broker_load_i16(const uint8_t *p);
int32_t broker_load_i32(const uint8_t *p);
int64_t broker_load_i64(const uint8_t *p);
void broker_store_i32(uint8_t *p, int32_t v);
void broker_store_i64(uint8_t *p, int64_t v);

struct broker_arena_block;
struct broker_arena {
    struct broker_arena_block *blocks;
    size_t used_total; /* bytes handed out since the last reset */
};
/* Zeroed memory aligned for any type, or NULL when out of memory. */
void *broker_arena_alloc(struct broker_arena *a, size_t size);
/* Keeps one block for reuse, frees the rest. */
void broker_arena_reset(struct broker_arena *a);
void broker_arena_free(struct broker_arena *a);

#endif
