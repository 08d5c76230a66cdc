/*
 * broker_codec: reading and writing Kafka's primitive types. Every read
 * is bounds-checked against the frame; errors are sticky so the request
 * decoders stay linear and check the reader once.
 */
#include "kafka/broker_codec.h"

#include <stdlib.h>
#include <string.h>

void broker_reader_init(struct broker_reader *r, uint8_t *data, size_t len)
{
    r->p = data;
    r->end = data + len;
    r->error = NULL;
}

size_t broker_reader_remaining(const struct broker_reader *r)
{
    return r->error ? 0 : (size_t)(r->end - r->p);
}

void broker_reader_fail(struct broker_reader *r, const char *why)
{
    if (!r->error)
        r->error = why;
    r->p = r->end;
}

static uint8_t *broker_reader_take(struct broker_reader *r, size_t n)
{
    if (r->error)
        return NULL;
    if ((size_t)(r->end - r->p) < n) {
        broker_reader_fail(r, "truncated field");
        return NULL;
    }
    uint8_t *at = r->p;
    r->p += n;
    return at;
}

int16_t broker_load_i16(const uint8_t *p)
{
    return (int16_t)(uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

int32_t broker_load_i32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

int64_t broker_load_i64(const uint8_t *p)
{
    return (int64_t)((uint64_t)(uint32_t)broker_load_i32(p) << 32 |
                     (uint32_t)broker_load_i32(p + 4));
}

void broker_store_i32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = (uint8_t)(u >> 24);
    p[1] = (uint8_t)(u >> 16);
    p[2] = (uint8_t)(u >> 8);
    p[3] = (uint8_t)u;
}

void broker_store_i64(uint8_t *p, int64_t v)
{
    broker_store_i32(p, (int32_t)(uint32_t)((uint64_t)v >> 32));
    broker_store_i32(p + 4, (int32_t)(uint32_t)(uint64_t)v);
}

int8_t broker_read_i8(struct broker_reader *r)
{
    uint8_t *p = broker_reader_take(r, 1);
    return p ? (int8_t)p[0] : 0;
}

int16_t broker_read_i16(struct broker_reader *r)
{
    uint8_t *p = broker_reader_take(r, 2);
    return p ? broker_load_i16(p) : 0;
}

int32_t broker_read_i32(struct broker_reader *r)
{
    uint8_t *p = broker_reader_take(r, 4);
    return p ? broker_load_i32(p) : 0;
}

int64_t broker_read_i64(struct broker_reader *r)
{
    uint8_t *p = broker_reader_take(r, 8);
    return p ? broker_load_i64(p) : 0;
}

int broker_read_bool(struct broker_reader *r)
{
    return broker_read_i8(r) != 0;
}

uint64_t broker_read_uvarint(struct broker_reader *r)
{
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        uint8_t *p = broker_reader_take(r, 1);
        if (!p)
            return 0;
        value |= (uint64_t)(*p & 0x7f) << shift;
        if (!(*p & 0x80))
            return value;
    }
    broker_reader_fail(r, "varint longer than 10 bytes");
    return 0;
}

int64_t broker_read_varint(struct broker_reader *r)
{
    uint64_t u = broker_read_uvarint(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static struct kafka_str broker_take_string(struct broker_reader *r, int64_t len, int nullable)
{
    struct kafka_str s = {NULL, -1};
    if (r->error)
        return s;
    if (len < 0) {
        if (!nullable || len != -1)
            broker_reader_fail(r, "invalid string length");
        return s;
    }
    if (len > INT32_MAX) {
        broker_reader_fail(r, "invalid string length");
        return s;
    }
    uint8_t *p = broker_reader_take(r, (size_t)len);
    if (p) {
        s.ptr = (const char *)p;
        s.len = (int32_t)len;
    }
    return s;
}

struct kafka_str broker_read_string(struct broker_reader *r)
{
    int16_t len = broker_read_i16(r);
    return broker_take_string(r, len, 0);
}

struct kafka_str broker_read_nullable_string(struct broker_reader *r)
{
    int16_t len = broker_read_i16(r);
    return broker_take_string(r, len, 1);
}

struct kafka_str broker_read_compact_string(struct broker_reader *r)
{
    uint64_t n = broker_read_uvarint(r);
    if (n > (uint64_t)INT32_MAX) {
        broker_reader_fail(r, "invalid compact string length");
        return (struct kafka_str){NULL, -1};
    }
    return broker_take_string(r, (int64_t)n - 1, 1);
}

struct kafka_bytes broker_read_bytes(struct broker_reader *r)
{
    int32_t len = broker_read_i32(r);
    struct kafka_str s = broker_take_string(r, len, 1);
    return (struct kafka_bytes){(uint8_t *)(uintptr_t)s.ptr, s.len};
}

int32_t broker_read_array(struct broker_reader *r, size_t min_element_size, int nullable)
{
    int32_t n = broker_read_i32(r);
    if (r->error)
        return 0;
    if (n == -1 && nullable)
        return -1;
    if (n < 0) {
        broker_reader_fail(r, "invalid array length");
        return 0;
    }
    if (min_element_size == 0)
        min_element_size = 1;
    if ((size_t)n > broker_reader_remaining(r) / min_element_size) {
        broker_reader_fail(r, "array longer than the frame");
        return 0;
    }
    return n;
}

void broker_read_skip_tags(struct broker_reader *r)
{
    uint64_t count = broker_read_uvarint(r);
    for (uint64_t i = 0; i < count && !r->error; i++) {
        broker_read_uvarint(r); /* tag */
        uint64_t size = broker_read_uvarint(r);
        if (size > broker_reader_remaining(r)) {
            broker_reader_fail(r, "tagged field longer than the frame");
            return;
        }
        broker_reader_take(r, (size_t)size);
    }
}

int kafka_str_eq(struct kafka_str s, const char *c)
{
    if (s.len < 0)
        return c == NULL;
    return c && strlen(c) == (size_t)s.len && memcmp(s.ptr, c, (size_t)s.len) == 0;
}

void broker_writer_free(struct broker_writer *w)
{
    free(w->data);
    w->data = NULL;
    w->len = w->cap = 0;
    w->failed = 0;
}

uint8_t *broker_writer_reserve(struct broker_writer *w, size_t extra)
{
    if (w->failed)
        return NULL;
    if (extra > SIZE_MAX / 4 - w->len) {
        w->failed = 1;
        return NULL;
    }
    size_t need = w->len + extra;
    if (need > w->cap) {
        size_t cap = w->cap ? w->cap : 256;
        while (cap < need)
            cap *= 2;
        uint8_t *data = realloc(w->data, cap);
        if (!data) {
            w->failed = 1;
            return NULL;
        }
        w->data = data;
        w->cap = cap;
    }
    return w->data + w->len;
}

void broker_write_raw(struct broker_writer *w, const void *data, size_t len)
{
    uint8_t *p = broker_writer_reserve(w, len);
    if (!p)
        return;
    if (len)
        memcpy(p, data, len);
    w->len += len;
}

void broker_write_i8(struct broker_writer *w, int8_t v)
{
    broker_write_raw(w, &v, 1);
}

void broker_write_i16(struct broker_writer *w, int16_t v)
{
    uint8_t b[2] = {(uint8_t)((uint16_t)v >> 8), (uint8_t)v};
    broker_write_raw(w, b, 2);
}

void broker_write_i32(struct broker_writer *w, int32_t v)
{
    uint8_t b[4];
    broker_store_i32(b, v);
    broker_write_raw(w, b, 4);
}

void broker_write_i64(struct broker_writer *w, int64_t v)
{
    uint8_t b[8];
    broker_store_i64(b, v);
    broker_write_raw(w, b, 8);
}

void broker_write_bool(struct broker_writer *w, int v)
{
    broker_write_i8(w, v ? 1 : 0);
}

void broker_write_uvarint(struct broker_writer *w, uint64_t v)
{
    uint8_t b[10];
    size_t n = 0;
    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    broker_write_raw(w, b, n);
}

void broker_write_varint(struct broker_writer *w, int64_t v)
{
    broker_write_uvarint(w, ((uint64_t)v << 1) ^ (v < 0 ? UINT64_MAX : 0));
}

void broker_write_cstring(struct broker_writer *w, const char *s)
{
    if (!s) {
        broker_write_i16(w, -1);
        return;
    }
    size_t len = strlen(s);
    if (len > INT16_MAX)
        len = INT16_MAX;
    broker_write_i16(w, (int16_t)len);
    broker_write_raw(w, s, len);
}

void broker_write_string(struct broker_writer *w, struct kafka_str s)
{
    if (s.len < 0) {
        broker_write_i16(w, -1);
        return;
    }
    int32_t len = s.len > INT16_MAX ? INT16_MAX : s.len;
    broker_write_i16(w, (int16_t)len);
    broker_write_raw(w, s.ptr, (size_t)len);
}

void broker_write_compact_string(struct broker_writer *w, const char *s)
{
    if (!s) {
        broker_write_uvarint(w, 0);
        return;
    }
    size_t len = strlen(s);
    broker_write_uvarint(w, (uint64_t)len + 1);
    broker_write_raw(w, s, len);
}

void broker_write_bytes(struct broker_writer *w, const void *data, int32_t len)
{
    if (len < 0)
        len = 0;
    broker_write_i32(w, len);
    broker_write_raw(w, data, (size_t)len);
}

void broker_write_i32_at(struct broker_writer *w, size_t position, int32_t v)
{
    if (!w->failed && position + 4 <= w->len)
        broker_store_i32(w->data + position, v);
}

/* Arena: a chain of blocks; big requests get a dedicated block. */
struct broker_arena_block {
    struct broker_arena_block *next;
    size_t size;
    size_t used;
    max_align_t data[];
};

#define BROKER_ARENA_BLOCK 16384

void *broker_arena_alloc(struct broker_arena *a, size_t size)
{
    size_t align = sizeof(max_align_t);
    size = (size + align - 1) / align * align;
    struct broker_arena_block *block = a->blocks;
    if (!block || block->size - block->used < size) {
        size_t bytes = size > BROKER_ARENA_BLOCK ? size : BROKER_ARENA_BLOCK;
        block = malloc(sizeof *block + bytes);
        if (!block)
            return NULL;
        block->size = bytes;
        block->used = 0;
        block->next = a->blocks;
        a->blocks = block;
    }
    void *p = (char *)block->data + block->used;
    block->used += size;
    a->used_total += size;
    memset(p, 0, size);
    return p;
}

void broker_arena_reset(struct broker_arena *a)
{
    struct broker_arena_block *keep = NULL;
    struct broker_arena_block *block = a->blocks;
    while (block) {
        struct broker_arena_block *next = block->next;
        if (!keep && block->size == BROKER_ARENA_BLOCK) {
            keep = block;
            keep->used = 0;
            keep->next = NULL;
        } else {
            free(block);
        }
        block = next;
    }
    a->blocks = keep;
    a->used_total = 0;
}

void broker_arena_free(struct broker_arena *a)
{
    broker_arena_reset(a);
    free(a->blocks);
    a->blocks = NULL;
}
