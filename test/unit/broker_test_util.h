/*
 * broker_test_util: builds record batches v2 (uncompressed, valid CRC) and
 * temporary directories for the broker unit tests.
 */
#ifndef TICKPIPE_BROKER_TEST_UTIL_H
#define TICKPIPE_BROKER_TEST_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka/broker_batch.h"
#include "kafka/broker_codec.h"
#include "lib/crc32c.h"

/* A batch of count records "value-<i>" with timestamps first_timestamp + i.
 * The caller frees w. */
static inline void test_build_batch(struct broker_writer *w, int count, int64_t first_timestamp,
                                    int64_t producer_id, int16_t epoch, int32_t sequence)
{
    size_t start = w->len;
    broker_write_i64(w, 0);         /* base offset */
    broker_write_i32(w, 0);         /* batch length, patched */
    broker_write_i32(w, 0);         /* partition leader epoch */
    broker_write_i8(w, 2);          /* magic */
    broker_write_i32(w, 0);         /* crc, patched */
    broker_write_i16(w, 0);         /* attributes */
    broker_write_i32(w, count - 1); /* last offset delta */
    broker_write_i64(w, first_timestamp);
    broker_write_i64(w, first_timestamp + count - 1);
    broker_write_i64(w, producer_id);
    broker_write_i16(w, epoch);
    broker_write_i32(w, sequence);
    broker_write_i32(w, count);
    for (int i = 0; i < count; i++) {
        char value[32];
        int n = snprintf(value, sizeof value, "value-%d", i);
        struct broker_writer record = {0};
        broker_write_i8(&record, 0);
        broker_write_varint(&record, i);  /* timestamp delta */
        broker_write_varint(&record, i);  /* offset delta */
        broker_write_varint(&record, -1); /* null key */
        broker_write_varint(&record, n);
        broker_write_raw(&record, value, (size_t)n);
        broker_write_varint(&record, 0); /* headers */
        broker_write_varint(w, (int64_t)record.len);
        broker_write_raw(w, record.data, record.len);
        broker_writer_free(&record);
    }
    broker_write_i32_at(w, start + 8, (int32_t)(w->len - start - 12));
    uint32_t crc = crc32c_update(0, w->data + start + 21, w->len - start - 21);
    broker_write_i32_at(w, start + 17, (int32_t)crc);
}

static inline char *test_temp_dir(void)
{
    char *dir = strdup("/tmp/tickpipe-unit-XXXXXX");
    if (!mkdtemp(dir)) {
        free(dir);
        return NULL;
    }
    return dir;
}

static inline void test_remove_dir(const char *dir)
{
    char command[512];
    snprintf(command, sizeof command, "rm -rf '%s'", dir);
    if (system(command) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

#endif
