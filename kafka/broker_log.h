/*
 * broker_log: one partition's durable log. A directory of append-only
 * segment files named after their first offset (00000000000000000000.log)
 * holding record batches exactly as produced, with broker-assigned base
 * offsets. In memory only a sparse offset -> file position index per
 * segment; reads go to the files (pread), so memory does not grow with the
 * data. Opening a log recovers it: every batch's length, magic, CRC-32C and
 * offset continuity are checked and a torn or corrupt tail is truncated.
 * Ownership: broker_log_open returns a log freed by broker_log_close.
 * Errors: -1 with a tp_err naming the file and the reason.
 */
#ifndef TICKPIPE_BROKER_LOG_H
#define TICKPIPE_BROKER_LOG_H

#include <stdint.h>

#include "kafka/broker_batch.h"
#include "kafka/broker_codec.h"
#include "kafka/broker_producer.h"
#include "lib/err.h"

struct broker_log_config {
    int64_t segment_bytes;   /* roll to a new segment past this size */
    int64_t max_batch_bytes; /* a stored batch larger than this is corruption */
    int sync_on_roll;        /* a segment that stops being active still needs its fdatasync */
};

/* What recovery found, for the start-up log line. */
struct broker_log_recovery {
    int segments;
    int64_t bytes;
    int64_t truncated_bytes; /* torn or corrupt tail removed */
    int deleted_segments;    /* segments after a corrupt point */
    const char *reason;      /* why the tail was cut (static), or NULL */
};

struct broker_log;

/* Opens (creating the directory when missing) and recovers a log.
 * name is used in messages ("ticks-0"). */
struct broker_log *broker_log_open(const char *dir, const char *name,
                                   const struct broker_log_config *config,
                                   struct broker_log_recovery *recovery, tp_err *err);
void broker_log_close(struct broker_log *log);

const char *broker_log_name(const struct broker_log *log);
int64_t broker_log_start_offset(const struct broker_log *log);
int64_t broker_log_end_offset(const struct broker_log *log); /* high watermark */
int64_t broker_log_size(const struct broker_log *log);
int broker_log_segment_count(const struct broker_log *log);
/* Monotonic count of bytes appended since open: lets parked fetches see
 * new data cheaply. */
uint64_t broker_log_appended(const struct broker_log *log);
struct broker_producer_state *broker_log_producers(struct broker_log *log);

/*
 * Appends one validated batch (info from broker_batch_parse). The batch's
 * base offset is rewritten in place to the log end offset, which is
 * returned in *base_offset. now_ms is wall-clock time (retention by age).
 */
int broker_log_append(struct broker_log *log, uint8_t *batch, const struct broker_batch_info *info,
                      int64_t now_ms, int64_t *base_offset, tp_err *err);

enum broker_log_read_status {
    BROKER_LOG_READ_OK = 0,
    BROKER_LOG_READ_OUT_OF_RANGE = 1,
    BROKER_LOG_READ_ERROR = -1,
};

/*
 * Appends to out the whole batches starting with the one that contains
 * offset, up to max_bytes (at least one whole batch when min_one), from a
 * single segment. *bytes is what was appended (0 at the end of the log).
 */
enum broker_log_read_status broker_log_read(struct broker_log *log, int64_t offset,
                                            int64_t max_bytes, int min_one,
                                            struct broker_writer *out, int64_t *bytes, tp_err *err);

/* The first offset whose record timestamp is >= timestamp (that record's
 * timestamp in *found), or -1 when every record is older; -2 on a read
 * error (err set). In compressed batches: the batch's first offset. */
int64_t broker_log_offset_for_timestamp(struct broker_log *log, int64_t timestamp, int64_t *found,
                                        tp_err *err);

/* 1 when appended data (or a new or deleted segment) is not yet synced. */
int broker_log_dirty(const struct broker_log *log);
/* fdatasyncs what is dirty: the active segment, segments rolled since the
 * last sync, and the directory. */
int broker_log_sync(struct broker_log *log, tp_err *err);
/*
 * For syncing elsewhere (a background thread): hands over up to max
 * descriptors that need fsync (the directory, segments; duplicates or
 * fresh opens: the caller syncs and closes them) and marks the log clean.
 * Returns how many, or -1 with err.
 */
int broker_log_take_sync_fds(struct broker_log *log, int *fds, int max, tp_err *err);

/*
 * Deletes whole segments from the start (never the active one) while the
 * log without that segment is still >= retention_bytes, or while the
 * segment's last append is older than retention_ms. -1 disables either.
 * Returns the number of segments deleted.
 */
int broker_log_apply_retention(struct broker_log *log, int64_t retention_bytes,
                               int64_t retention_ms, int64_t now_ms);

#endif
