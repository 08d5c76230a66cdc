/* Unit tests for kafka/broker_codec and kafka/broker_request: primitives,
 * bounds, and decoding requests the way the clients encode them. */
#include "test/unit/check.h"

#include "kafka/broker_codec.h"
#include "kafka/broker_map.h"
#include "kafka/broker_request.h"

static void test_integers_and_varints(void)
{
    struct broker_writer w = {0};
    broker_write_i16(&w, -2);
    broker_write_i32(&w, 0x01020304);
    broker_write_i64(&w, -5);
    broker_write_uvarint(&w, 300);
    broker_write_varint(&w, -1);
    broker_write_varint(&w, 150);
    CHECK(!w.failed);
    CHECK_INT(w.data[2], 1);
    CHECK_INT(w.data[14], 0xac); /* 300 = ac 02 */
    CHECK_INT(w.data[15], 0x02);
    CHECK_INT(w.data[16], 0x01); /* zigzag(-1) = 1 */
    struct broker_reader r;
    broker_reader_init(&r, w.data, w.len);
    CHECK_INT(broker_read_i16(&r), -2);
    CHECK_INT(broker_read_i32(&r), 0x01020304);
    CHECK_INT(broker_read_i64(&r), -5);
    CHECK_INT(broker_read_uvarint(&r), 300);
    CHECK_INT(broker_read_varint(&r), -1);
    CHECK_INT(broker_read_varint(&r), 150);
    CHECK(r.error == NULL);
    CHECK_INT(broker_reader_remaining(&r), 0);
    broker_read_i8(&r);
    CHECK(r.error != NULL);
    CHECK_INT(broker_read_i32(&r), 0); /* sticky */
    broker_writer_free(&w);
}

static void test_strings_arrays_and_bounds(void)
{
    struct broker_writer w = {0};
    broker_write_cstring(&w, "topic");
    broker_write_cstring(&w, NULL);
    broker_write_compact_string(&w, "abc");
    broker_write_bytes(&w, "xy", 2);
    broker_write_i32(&w, 1000000); /* an array count far beyond the frame */
    struct broker_reader r;
    broker_reader_init(&r, w.data, w.len);
    CHECK(kafka_str_eq(broker_read_string(&r), "topic"));
    CHECK_INT(broker_read_nullable_string(&r).len, -1);
    CHECK(kafka_str_eq(broker_read_compact_string(&r), "abc"));
    struct kafka_bytes bytes = broker_read_bytes(&r);
    CHECK_INT(bytes.len, 2);
    CHECK(memcmp(bytes.ptr, "xy", 2) == 0);
    CHECK(r.error == NULL);
    broker_read_array(&r, 4, 0);
    CHECK(r.error != NULL);
    broker_writer_free(&w);

    uint8_t null_string[] = {0xff, 0xff};
    broker_reader_init(&r, null_string, sizeof null_string);
    broker_read_string(&r); /* STRING is not nullable */
    CHECK(r.error != NULL);
    uint8_t long_varint[11];
    memset(long_varint, 0xff, sizeof long_varint);
    broker_reader_init(&r, long_varint, sizeof long_varint);
    broker_read_uvarint(&r);
    CHECK(r.error != NULL);
}

static void test_arena(void)
{
    struct broker_arena arena = {0};
    char *small = broker_arena_alloc(&arena, 10);
    char *big = broker_arena_alloc(&arena, 100000);
    CHECK(small && big);
    CHECK_INT(small[9], 0);
    CHECK_INT(big[99999], 0);
    broker_arena_reset(&arena);
    CHECK(broker_arena_alloc(&arena, 10) != NULL);
    broker_arena_free(&arena);
}

/* Decodes one frame the way the broker does. */
static int decode(struct broker_writer *frame, struct broker_request *req,
                  struct broker_arena *arena)
{
    uint8_t *body;
    size_t len;
    const char *why;
    memset(req, 0, sizeof *req);
    if (broker_request_decode_header(frame->data, frame->len, &req->header, &body, &len, &why) < 0)
        return -1;
    return broker_request_decode_body(req, body, len, arena, &why);
}

static void write_header(struct broker_writer *w, int16_t key, int16_t version, const char *client)
{
    broker_write_i16(w, key);
    broker_write_i16(w, version);
    broker_write_i32(w, 7);
    broker_write_cstring(w, client);
}

static void test_api_versions_v3_as_librdkafka_sends_it(void)
{
    struct broker_writer w = {0};
    write_header(&w, 18, 3, "rdkafka");
    broker_write_uvarint(&w, 0); /* header tags */
    broker_write_compact_string(&w, "librdkafka");
    broker_write_compact_string(&w, "2.0.2");
    broker_write_uvarint(&w, 0);
    struct broker_request req;
    struct broker_arena arena = {0};
    CHECK_INT(decode(&w, &req, &arena), 0);
    CHECK_INT(req.header.correlation_id, 7);
    CHECK(kafka_str_eq(req.header.client_id, "rdkafka"));
    CHECK(kafka_str_eq(req.body.api_versions.software_name, "librdkafka"));
    CHECK(kafka_str_eq(req.body.api_versions.software_version, "2.0.2"));
    /* One byte too many is a malformed request. */
    broker_write_i8(&w, 0);
    CHECK_INT(decode(&w, &req, &arena), -1);
    broker_writer_free(&w);
    broker_arena_free(&arena);
    CHECK(broker_api_is_flexible(18, 3));
    CHECK(!broker_api_is_flexible(0, 7));
    CHECK(broker_api_find(22) != NULL);
    CHECK(broker_api_find(17) == NULL); /* SaslHandshake is not advertised */
}

static void test_fetch_v11_and_produce_v7(void)
{
    struct broker_writer w = {0};
    write_header(&w, 1, 11, "rdkafka");
    broker_write_i32(&w, -1);  /* replica */
    broker_write_i32(&w, 500); /* max wait */
    broker_write_i32(&w, 1);   /* min bytes */
    broker_write_i32(&w, 52428800);
    broker_write_i8(&w, 1);
    broker_write_i32(&w, 0);
    broker_write_i32(&w, -1);
    broker_write_i32(&w, 1); /* topics */
    broker_write_cstring(&w, "ticks");
    broker_write_i32(&w, 1);
    broker_write_i32(&w, 2);  /* partition */
    broker_write_i32(&w, -1); /* leader epoch */
    broker_write_i64(&w, 42); /* fetch offset */
    broker_write_i64(&w, -1); /* log start */
    broker_write_i32(&w, 1 << 20);
    broker_write_i32(&w, 0);      /* forgotten */
    broker_write_cstring(&w, ""); /* rack */
    struct broker_request req;
    struct broker_arena arena = {0};
    CHECK_INT(decode(&w, &req, &arena), 0);
    CHECK_INT(req.body.fetch.max_wait_ms, 500);
    CHECK_INT(req.body.fetch.topic_count, 1);
    CHECK(kafka_str_eq(req.body.fetch.topics[0].name, "ticks"));
    CHECK_INT(req.body.fetch.topics[0].partitions[0].index, 2);
    CHECK_INT(req.body.fetch.topics[0].partitions[0].fetch_offset, 42);
    CHECK_INT(req.body.fetch.topics[0].partitions[0].max_bytes, 1 << 20);
    /* Every truncation of a valid request is rejected, never read past. */
    int rejected = 0;
    size_t full = w.len;
    for (size_t cut = 0; cut < full; cut++) {
        w.len = cut;
        rejected += decode(&w, &req, &arena) < 0;
    }
    CHECK_INT(rejected, (int)full);
    broker_writer_free(&w);

    write_header(&w, 0, 7, "rdkafka");
    broker_write_cstring(&w, NULL); /* transactional id */
    broker_write_i16(&w, -1);
    broker_write_i32(&w, 30000);
    broker_write_i32(&w, 1);
    broker_write_cstring(&w, "ticks");
    broker_write_i32(&w, 1);
    broker_write_i32(&w, 0);
    broker_write_bytes(&w, "0123456789", 10);
    CHECK_INT(decode(&w, &req, &arena), 0);
    CHECK_INT(req.body.produce.acks, -1);
    CHECK_INT(req.body.produce.transactional_id.len, -1);
    CHECK_INT(req.body.produce.topics[0].partitions[0].records.len, 10);
    broker_writer_free(&w);
    broker_arena_free(&arena);
}

static void test_metadata_versions(void)
{
    struct broker_writer w = {0};
    struct broker_request req;
    struct broker_arena arena = {0};
    write_header(&w, 3, 0, "kafka-python");
    broker_write_i32(&w, 0); /* v0: empty = all */
    CHECK_INT(decode(&w, &req, &arena), 0);
    CHECK_INT(req.body.metadata.topic_count, -1);
    broker_writer_free(&w);
    write_header(&w, 3, 4, "rdkafka");
    broker_write_i32(&w, 0); /* v4: empty = none */
    broker_write_i8(&w, 0);
    CHECK_INT(decode(&w, &req, &arena), 0);
    CHECK_INT(req.body.metadata.topic_count, 0);
    CHECK_INT(req.body.metadata.allow_auto_create, 0);
    broker_writer_free(&w);
    write_header(&w, 3, 1, "x");
    broker_write_i32(&w, -1); /* v1: null = all */
    CHECK_INT(decode(&w, &req, &arena), 0);
    CHECK_INT(req.body.metadata.topic_count, -1);
    broker_writer_free(&w);
    write_header(&w, 3, 0, "x");
    broker_write_i32(&w, -1); /* v0 has no null */
    CHECK_INT(decode(&w, &req, &arena), -1);
    broker_writer_free(&w);
    broker_arena_free(&arena);
}

static void test_join_group_v5(void)
{
    struct broker_writer w = {0};
    struct broker_request req;
    struct broker_arena arena = {0};
    write_header(&w, 11, 5, "rdkafka");
    broker_write_cstring(&w, "g");
    broker_write_i32(&w, 45000);
    broker_write_i32(&w, 300000);
    broker_write_cstring(&w, "");
    broker_write_cstring(&w, NULL); /* group instance id */
    broker_write_cstring(&w, "consumer");
    broker_write_i32(&w, 2);
    broker_write_cstring(&w, "range");
    broker_write_bytes(&w, "m1", 2);
    broker_write_cstring(&w, "roundrobin");
    broker_write_bytes(&w, "m2", 2);
    CHECK_INT(decode(&w, &req, &arena), 0);
    const struct broker_join_group_request *j = &req.body.join_group;
    CHECK_INT(j->session_timeout_ms, 45000);
    CHECK_INT(j->rebalance_timeout_ms, 300000);
    CHECK_INT(j->member_id.len, 0);
    CHECK_INT(j->group_instance_id.len, -1);
    CHECK_INT(j->protocol_count, 2);
    CHECK(kafka_str_eq(j->protocols[1].name, "roundrobin"));
    broker_writer_free(&w);
    broker_arena_free(&arena);
}

static void test_map(void)
{
    struct broker_map map = {0};
    static int values[1000];
    char key[32];
    for (int i = 0; i < 1000; i++) {
        int n = snprintf(key, sizeof key, "k%d", i);
        key[0] = '\0'; /* keys with NULs inside, as the offsets table uses */
        CHECK_INT(broker_map_put(&map, key, (size_t)n, &values[i]), 0);
    }
    CHECK_INT(map.count, 1000);
    int n = snprintf(key, sizeof key, "k%d", 777);
    key[0] = '\0';
    CHECK(broker_map_get(&map, key, (size_t)n) == &values[777]);
    CHECK(broker_map_remove(&map, key, (size_t)n) == &values[777]);
    CHECK(broker_map_get(&map, key, (size_t)n) == NULL);
    size_t bucket = 0, seen = 0;
    struct broker_map_entry *cursor = NULL, *entry;
    while ((entry = broker_map_next(&map, &bucket, &cursor))) {
        if (seen % 2 == 0)
            broker_map_remove(&map, entry->key, entry->key_len); /* allowed while iterating */
        seen++;
    }
    CHECK_INT(seen, 999);
    CHECK_INT(map.count, 499);
    broker_map_free(&map);
}

int main(void)
{
    RUN(test_integers_and_varints);
    RUN(test_strings_arrays_and_bounds);
    RUN(test_arena);
    RUN(test_api_versions_v3_as_librdkafka_sends_it);
    RUN(test_fetch_v11_and_produce_v7);
    RUN(test_metadata_versions);
    RUN(test_join_group_v5);
    RUN(test_map);
    CHECK_EXIT();
}
