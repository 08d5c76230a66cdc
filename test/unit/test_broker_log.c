/* Unit tests for kafka/broker_log and kafka/broker_producer: append and
 * read back, offsets across segments, recovery of torn and corrupt tails,
 * retention, timestamps, idempotent-producer sequence rules. */
#include "test/unit/check.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "kafka/broker_log.h"
#include "lib/log.h"
#include "test/unit/broker_test_util.h"

static const struct broker_log_config small_segments = {1024, 1 << 20, 0};

static struct broker_log *open_log(const char *dir, struct broker_log_recovery *recovery)
{
    tp_err err;
    struct broker_log *log = broker_log_open(dir, "t-0", &small_segments, recovery, &err);
    if (!log)
        fprintf(stderr, "open log: %s\n", err.msg);
    return log;
}

/* Appends n batches of 3 records; returns 0 when all succeeded. */
static int append_batches(struct broker_log *log, int n, int64_t timestamp)
{
    for (int i = 0; i < n; i++) {
        struct broker_writer w = {0};
        test_build_batch(&w, 3, timestamp + i * 10, -1, -1, -1);
        struct broker_batch_info info;
        const char *why;
        if (broker_batch_parse(w.data, w.len, 1 << 20, 1, &info, &why) != BROKER_BATCH_OK)
            return -1;
        int64_t offset;
        tp_err err;
        int rc = broker_log_append(log, w.data, &info, 1000, &offset, &err);
        broker_writer_free(&w);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Offsets of the batches returned by a read from offset. */
static int64_t first_offset_read(struct broker_log *log, int64_t offset, int64_t *bytes)
{
    struct broker_writer w = {0};
    tp_err err;
    enum broker_log_read_status status = broker_log_read(log, offset, 1 << 20, 1, &w, bytes, &err);
    int64_t first = status == BROKER_LOG_READ_OK && *bytes >= 8 ? broker_load_i64(w.data) : -1;
    broker_writer_free(&w);
    return status == BROKER_LOG_READ_OUT_OF_RANGE ? -2 : first;
}

static void test_append_read_and_segments(void)
{
    char *dir = test_temp_dir();
    struct broker_log_recovery recovery;
    struct broker_log *log = open_log(dir, &recovery);
    CHECK(log != NULL);
    CHECK_INT(recovery.segments, 0);
    CHECK_INT(append_batches(log, 40, 5000), 0);
    CHECK_INT(broker_log_end_offset(log), 120);
    CHECK(broker_log_segment_count(log) > 3); /* 1 KiB segments */
    int64_t bytes;
    CHECK_INT(first_offset_read(log, 0, &bytes), 0);
    CHECK(bytes > 0);
    CHECK_INT(first_offset_read(log, 61, &bytes), 60); /* the batch containing 61 */
    CHECK_INT(first_offset_read(log, 119, &bytes), 117);
    CHECK_INT(first_offset_read(log, 120, &bytes), -1); /* end: nothing, not an error */
    CHECK_INT(bytes, 0);
    CHECK_INT(first_offset_read(log, 121, &bytes), -2);
    /* max_bytes smaller than a batch still returns one whole batch. */
    struct broker_writer w = {0};
    tp_err err;
    CHECK_INT(broker_log_read(log, 3, 10, 1, &w, &bytes, &err), BROKER_LOG_READ_OK);
    CHECK(bytes > 10 && bytes == broker_batch_size(w.data, w.len));
    broker_writer_free(&w);
    CHECK_INT(broker_log_read(log, 3, 10, 0, &w, &bytes, &err), BROKER_LOG_READ_OK);
    CHECK_INT(bytes, 0);
    broker_writer_free(&w);
    /* Timestamps: batch i has records at 5000 + 10 i + 0..2. */
    int64_t found;
    CHECK_INT(broker_log_offset_for_timestamp(log, 5000, &found, &err), 0);
    CHECK_INT(found, 5000);
    CHECK_INT(broker_log_offset_for_timestamp(log, 5101, &found, &err), 31);
    CHECK_INT(found, 5101);
    CHECK_INT(broker_log_offset_for_timestamp(log, 99999, &found, &err), -1);
    broker_log_close(log);

    log = open_log(dir, &recovery);
    CHECK(log != NULL);
    CHECK_INT(broker_log_end_offset(log), 120);
    CHECK_INT(recovery.truncated_bytes, 0);
    CHECK_INT(first_offset_read(log, 61, &bytes), 60);
    CHECK_INT(append_batches(log, 1, 9000), 0);
    CHECK_INT(broker_log_end_offset(log), 123);
    broker_log_close(log);
    test_remove_dir(dir);
    free(dir);
}

static char *last_segment(const char *dir)
{
    char command[512], *line = NULL;
    size_t cap = 0;
    snprintf(command, sizeof command, "ls %s/*.log | tail -1", dir);
    FILE *pipe = popen(command, "r");
    if (!pipe || getline(&line, &cap, pipe) < 0) {
        if (pipe)
            pclose(pipe);
        free(line);
        return NULL;
    }
    pclose(pipe);
    line[strcspn(line, "\n")] = '\0';
    return line;
}

static void test_recovery_truncates_torn_and_corrupt_tails(void)
{
    char *dir = test_temp_dir();
    struct broker_log_recovery recovery;
    struct broker_log *log = open_log(dir, &recovery);
    CHECK_INT(append_batches(log, 10, 1), 0);
    int64_t end = broker_log_end_offset(log);
    broker_log_close(log);

    /* A torn write: half a batch at the end. */
    char *segment = last_segment(dir);
    CHECK(segment != NULL);
    struct broker_writer w = {0};
    test_build_batch(&w, 3, 1, -1, -1, -1);
    broker_store_i64(w.data, end);
    int fd = open(segment, O_WRONLY | O_APPEND);
    CHECK(write(fd, w.data, w.len / 2) == (ssize_t)(w.len / 2));
    close(fd);
    log = open_log(dir, &recovery);
    CHECK(log != NULL);
    CHECK_INT(recovery.truncated_bytes, (int64_t)(w.len / 2));
    CHECK_INT(broker_log_end_offset(log), end);
    broker_log_close(log);

    /* A whole batch with one flipped byte: CRC mismatch. */
    w.data[w.len - 1] ^= 0x55;
    fd = open(segment, O_WRONLY | O_APPEND);
    CHECK(write(fd, w.data, w.len) == (ssize_t)w.len);
    close(fd);
    log = open_log(dir, &recovery);
    CHECK_INT(recovery.truncated_bytes, (int64_t)w.len);
    CHECK(recovery.reason && strstr(recovery.reason, "CRC"));
    CHECK_INT(broker_log_end_offset(log), end);
    /* The log goes on where it stopped. */
    CHECK_INT(append_batches(log, 1, 1), 0);
    CHECK_INT(broker_log_end_offset(log), end + 3);
    broker_log_close(log);

    /* Zeros at the end (a file extended but never written). */
    char zeros[100] = {0};
    free(segment);
    segment = last_segment(dir);
    fd = open(segment, O_WRONLY | O_APPEND);
    CHECK(write(fd, zeros, sizeof zeros) == (ssize_t)sizeof zeros);
    close(fd);
    log = open_log(dir, &recovery);
    CHECK_INT(recovery.truncated_bytes, 100);
    CHECK_INT(broker_log_end_offset(log), end + 3);
    broker_log_close(log);
    broker_writer_free(&w);
    free(segment);
    test_remove_dir(dir);
    free(dir);
}

static void test_retention_deletes_whole_old_segments(void)
{
    char *dir = test_temp_dir();
    struct broker_log_recovery recovery;
    struct broker_log *log = open_log(dir, &recovery);
    CHECK_INT(append_batches(log, 40, 1), 0);
    int segments = broker_log_segment_count(log);
    CHECK_INT(broker_log_apply_retention(log, -1, -1, 5000), 0);
    int deleted = broker_log_apply_retention(log, 2048, -1, 5000);
    CHECK(deleted > 0);
    CHECK_INT(broker_log_segment_count(log), segments - deleted);
    CHECK(broker_log_size(log) >= 2048 - 1024);
    CHECK(broker_log_start_offset(log) > 0);
    int64_t bytes;
    CHECK_INT(first_offset_read(log, 0, &bytes), -2); /* deleted: out of range */
    CHECK_INT(first_offset_read(log, broker_log_start_offset(log), &bytes),
              broker_log_start_offset(log));
    /* By age: everything but the active segment (appended at "1000"). */
    broker_log_apply_retention(log, -1, 10, 5000);
    CHECK_INT(broker_log_segment_count(log), 1);
    int64_t start = broker_log_start_offset(log), end = broker_log_end_offset(log);
    broker_log_close(log);
    log = open_log(dir, &recovery);
    CHECK_INT(broker_log_start_offset(log), start);
    CHECK_INT(broker_log_end_offset(log), end);
    broker_log_close(log);
    test_remove_dir(dir);
    free(dir);
}

static struct broker_batch_info producer_batch(int64_t pid, int16_t epoch, int32_t seq, int count)
{
    struct broker_batch_info info = {0};
    info.producer_id = pid;
    info.producer_epoch = epoch;
    info.base_sequence = seq;
    info.records_count = count;
    info.last_offset_delta = count - 1;
    return info;
}

static void test_producer_sequences(void)
{
    struct broker_producer_state *state = broker_producer_state_new();
    int64_t dup = -1;
    struct broker_batch_info a = producer_batch(7, 0, 0, 5);
    CHECK_INT(broker_producer_check(state, &a, &dup), 0);
    CHECK_INT(broker_producer_record(state, &a, 100), 0);
    struct broker_batch_info b = producer_batch(7, 0, 5, 5);
    CHECK_INT(broker_producer_check(state, &b, &dup), 0);
    broker_producer_record(state, &b, 105);
    /* A retry of a stored batch: its original offset. */
    CHECK_INT(broker_producer_check(state, &a, &dup), BROKER_PRODUCER_DUPLICATE);
    CHECK_INT(dup, 100);
    struct broker_batch_info gap = producer_batch(7, 0, 12, 1);
    CHECK_INT(broker_producer_check(state, &gap, &dup), 45);
    struct broker_batch_info overlap = producer_batch(7, 0, 3, 4);
    CHECK_INT(broker_producer_check(state, &overlap, &dup), 46);
    struct broker_batch_info bumped = producer_batch(7, 1, 0, 1);
    CHECK_INT(broker_producer_check(state, &bumped, &dup), 0);
    broker_producer_record(state, &bumped, 110);
    CHECK_INT(broker_producer_check(state, &b, &dup), 47); /* fenced epoch */
    struct broker_batch_info plain = producer_batch(-1, -1, -1, 3);
    CHECK_INT(broker_producer_check(state, &plain, &dup), 0);
    CHECK_INT(broker_producer_count(state), 1);
    broker_producer_state_free(state);
}

static void test_producer_state_survives_recovery(void)
{
    char *dir = test_temp_dir();
    struct broker_log_recovery recovery;
    struct broker_log *log = open_log(dir, &recovery);
    struct broker_writer w = {0};
    test_build_batch(&w, 4, 1, 42, 0, 0);
    struct broker_batch_info info;
    const char *why;
    CHECK_INT(broker_batch_parse(w.data, w.len, 1 << 20, 1, &info, &why), BROKER_BATCH_OK);
    int64_t offset;
    tp_err err;
    CHECK_INT(broker_log_append(log, w.data, &info, 1, &offset, &err), 0);
    broker_log_close(log);
    log = open_log(dir, &recovery);
    int64_t dup = -1;
    CHECK_INT(broker_producer_check(broker_log_producers(log), &info, &dup),
              BROKER_PRODUCER_DUPLICATE);
    CHECK_INT(dup, 0);
    broker_log_close(log);
    broker_writer_free(&w);
    test_remove_dir(dir);
    free(dir);
}

static void test_batch_validation(void)
{
    struct broker_writer w = {0};
    test_build_batch(&w, 2, 1, -1, -1, -1);
    struct broker_batch_info info;
    const char *why = NULL;
    CHECK_INT(broker_batch_parse(w.data, w.len, 1 << 20, 1, &info, &why), BROKER_BATCH_OK);
    CHECK_INT(info.records_count, 2);
    CHECK_INT(broker_batch_parse(w.data, w.len - 1, 1 << 20, 1, &info, &why),
              BROKER_BATCH_INCOMPLETE);
    CHECK_INT(broker_batch_parse(w.data, w.len, 10, 1, &info, &why), BROKER_BATCH_INVALID);
    w.data[16] = 1; /* magic 1 */
    CHECK_INT(broker_batch_parse(w.data, w.len, 1 << 20, 1, &info, &why), BROKER_BATCH_INVALID);
    w.data[16] = 2;
    w.data[30] ^= 1; /* inside the CRC-covered part */
    CHECK_INT(broker_batch_parse(w.data, w.len, 1 << 20, 1, &info, &why), BROKER_BATCH_INVALID);
    CHECK_INT(broker_batch_parse(w.data, w.len, 1 << 20, 0, &info, &why), BROKER_BATCH_OK);
    broker_writer_free(&w);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(test_append_read_and_segments);
    RUN(test_recovery_truncates_torn_and_corrupt_tails);
    RUN(test_retention_deletes_whole_old_segments);
    RUN(test_producer_sequences);
    RUN(test_producer_state_survives_recovery);
    RUN(test_batch_validation);
    CHECK_EXIT();
}
