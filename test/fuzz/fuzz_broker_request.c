/*
 * fuzz_broker_request: libFuzzer harness for the broker's request decoder
 * (kafka/broker_request.c over kafka/broker_codec.c) and the record batch
 * header checks applied to Produce payloads (kafka/broker_batch.c). The
 * input is one frame without its size prefix; the first two bytes select
 * an API version range so every decoder is reached.
 * Build: clang -fsanitize=fuzzer,address,undefined -I. test/fuzz/fuzz_broker_request.c \
 *        kafka/broker_request.c kafka/broker_codec.c kafka/broker_batch.c lib/crc32c.c
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/broker_batch.h"
#include "kafka/broker_codec.h"
#include "kafka/broker_request.h"

static void fuzz_batches(struct kafka_bytes records)
{
    int64_t position = 0;
    while (records.len > 0 && position < records.len) {
        struct broker_batch_info info;
        const char *why = NULL;
        size_t avail = (size_t)(records.len - position);
        if (broker_batch_parse(records.ptr + position, avail, records.len - position, 1, &info,
                               &why) != BROKER_BATCH_OK)
            return;
        int64_t found;
        broker_batch_offset_for_timestamp(records.ptr + position, (size_t)info.size, 0, &found);
        position += info.size;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* The decoder writes nothing, but it takes writable memory (the broker
     * rewrites batch offsets in place later); give it a private copy so
     * ASan sees reads past the end. */
    uint8_t *frame = malloc(size ? size : 1);
    if (!frame)
        return 0;
    memcpy(frame, data, size);
    struct broker_request req;
    memset(&req, 0, sizeof req);
    uint8_t *body;
    size_t body_len;
    const char *why = NULL;
    if (broker_request_decode_header(frame, size, &req.header, &body, &body_len, &why) == 0) {
        struct broker_arena arena = {0};
        if (broker_request_decode_body(&req, body, body_len, &arena, &why) == 0 &&
            req.header.api_key == BROKER_API_PRODUCE) {
            for (int32_t t = 0; t < req.body.produce.topic_count; t++)
                for (int32_t p = 0; p < req.body.produce.topics[t].partition_count; p++)
                    fuzz_batches(req.body.produce.topics[t].partitions[p].records);
        }
        broker_arena_free(&arena);
    }
    free(frame);
    return 0;
}
