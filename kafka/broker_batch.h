/*
 * broker_batch: the record batch v2 (magic 2) header as the broker stores
 * it. The broker never decompresses: offsets, counts, timestamps and the
 * producer fields come from the fixed 61-byte header, and the CRC-32C
 * covers bytes 21..end. Pure functions over caller memory; no allocation.
 */
#ifndef TICKPIPE_BROKER_BATCH_H
#define TICKPIPE_BROKER_BATCH_H

#include <stddef.h>
#include <stdint.h>

#define BROKER_BATCH_HEADER_SIZE       61
#define BROKER_BATCH_LENGTH_OFFSET     8 /* int32 batchLength = total size - 12 */
#define BROKER_BATCH_MAGIC_OFFSET      16
#define BROKER_BATCH_CRC_OFFSET        17
#define BROKER_BATCH_ATTRIBUTES_OFFSET 21
#define BROKER_BATCH_TRANSACTIONAL     0x10
#define BROKER_BATCH_CONTROL           0x20

struct broker_batch_info {
    int64_t base_offset;
    int64_t size; /* whole batch, bytes */
    int16_t attributes;
    int32_t last_offset_delta;
    int64_t first_timestamp;
    int64_t max_timestamp;
    int64_t producer_id;
    int16_t producer_epoch;
    int32_t base_sequence;
    int32_t records_count;
};

enum broker_batch_status {
    BROKER_BATCH_OK = 1,
    BROKER_BATCH_INCOMPLETE = 0, /* fewer bytes than the batch claims */
    BROKER_BATCH_INVALID = -1,   /* reason in *why */
};

/*
 * Reads the header at p (avail bytes there). With check_crc the CRC-32C is
 * verified. max_size bounds batchLength (a length field larger than that is
 * invalid, not incomplete, so a torn or hostile header cannot make the
 * caller wait for gigabytes).
 */
enum broker_batch_status broker_batch_parse(const uint8_t *p, size_t avail, int64_t max_size,
                                            int check_crc, struct broker_batch_info *info,
                                            const char **why);

/* Only the size of the batch starting at p, from its first 12 bytes
 * (avail >= 12), or -1 when the length field is out of range. */
int64_t broker_batch_size(const uint8_t *p, size_t avail);

/*
 * For an uncompressed batch: the offset of the first record whose timestamp
 * is >= timestamp (that record's timestamp in *found when not NULL), or -1
 * when none is (or the records cannot be walked, e.g. compressed: the
 * caller then uses the batch's base offset).
 */
int64_t broker_batch_offset_for_timestamp(const uint8_t *batch, size_t size, int64_t timestamp,
                                          int64_t *found);

#endif
