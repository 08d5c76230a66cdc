/*
 * broker_batch: validation of record batch v2 headers (length, magic, CRC,
 * counts) and the one place that walks records (ListOffsets by timestamp
 * on uncompressed batches).
 */
#include "kafka/broker_batch.h"

#include "kafka/broker_codec.h"
#include "lib/crc32c.h"

int64_t broker_batch_size(const uint8_t *p, size_t avail)
{
    if (avail < 12)
        return -1;
    int32_t length = broker_load_i32(p + BROKER_BATCH_LENGTH_OFFSET);
    if (length < BROKER_BATCH_HEADER_SIZE - 12)
        return -1;
    return (int64_t)length + 12;
}

enum broker_batch_status broker_batch_parse(const uint8_t *p, size_t avail, int64_t max_size,
                                            int check_crc, struct broker_batch_info *info,
                                            const char **why)
{
    if (avail < 12)
        return BROKER_BATCH_INCOMPLETE;
    int64_t size = broker_batch_size(p, avail);
    if (size < 0) {
        *why = "batch length below the v2 header size";
        return BROKER_BATCH_INVALID;
    }
    if (size > max_size) {
        *why = "batch length larger than the limit";
        return BROKER_BATCH_INVALID;
    }
    if (avail >= BROKER_BATCH_MAGIC_OFFSET + 1 && p[BROKER_BATCH_MAGIC_OFFSET] != 2) {
        *why = "record batch magic is not 2 (only record batch v2 is supported)";
        return BROKER_BATCH_INVALID;
    }
    if ((int64_t)avail < size)
        return BROKER_BATCH_INCOMPLETE;
    info->base_offset = broker_load_i64(p);
    info->size = size;
    info->attributes = broker_load_i16(p + 21);
    info->last_offset_delta = broker_load_i32(p + 23);
    info->first_timestamp = broker_load_i64(p + 27);
    info->max_timestamp = broker_load_i64(p + 35);
    info->producer_id = broker_load_i64(p + 43);
    info->producer_epoch = broker_load_i16(p + 51);
    info->base_sequence = broker_load_i32(p + 53);
    info->records_count = broker_load_i32(p + 57);
    if (info->records_count < 1 || info->last_offset_delta != info->records_count - 1) {
        *why = "record count and last offset delta disagree";
        return BROKER_BATCH_INVALID;
    }
    if (check_crc) {
        uint32_t want = (uint32_t)broker_load_i32(p + BROKER_BATCH_CRC_OFFSET);
        uint32_t got = crc32c_update(0, p + BROKER_BATCH_ATTRIBUTES_OFFSET,
                                     (size_t)size - BROKER_BATCH_ATTRIBUTES_OFFSET);
        if (want != got) {
            *why = "CRC-32C mismatch";
            return BROKER_BATCH_INVALID;
        }
    }
    return BROKER_BATCH_OK;
}

int64_t broker_batch_offset_for_timestamp(const uint8_t *batch, size_t size, int64_t timestamp,
                                          int64_t *found)
{
    if (size < BROKER_BATCH_HEADER_SIZE || (broker_load_i16(batch + 21) & 0x07) != 0)
        return -1;
    int64_t base_offset = broker_load_i64(batch);
    int64_t base_timestamp = broker_load_i64(batch + 27);
    int32_t count = broker_load_i32(batch + 57);
    struct broker_reader r;
    broker_reader_init(&r, (uint8_t *)(uintptr_t)(batch + BROKER_BATCH_HEADER_SIZE),
                       size - BROKER_BATCH_HEADER_SIZE);
    for (int32_t i = 0; i < count; i++) {
        int64_t length = broker_read_varint(&r);
        if (r.error || length < 0 || (uint64_t)length > broker_reader_remaining(&r))
            return -1;
        uint8_t *next = r.p + length;
        broker_read_i8(&r); /* attributes */
        int64_t timestamp_delta = broker_read_varint(&r);
        int64_t offset_delta = broker_read_varint(&r);
        if (r.error)
            return -1;
        if (base_timestamp + timestamp_delta >= timestamp) {
            if (found)
                *found = base_timestamp + timestamp_delta;
            return base_offset + offset_delta;
        }
        r.p = next;
    }
    return -1;
}
