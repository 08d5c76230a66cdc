/*
 * lake: how messages become lake objects, exactly once. Messages of one
 * Kafka partition accumulate in a batch; the batch is split by event time
 * into Hive-style partition folders, one object per folder, named after
 * the first offset it holds:
 *
 *   <table>/<dt=YYYY-MM-DD>/<topic>+<partition>+<first offset, 20 digits>.jsonl.gz
 *
 * Exactly once (see README, "Exactly once"): before a batch's objects are
 * written, a manifest listing their keys is stored at
 * <state prefix>/<topic>+<partition>.json; the caller commits the Kafka
 * offset only after lake_flush succeeds. When a partition is (re)assigned,
 * lake_recover compares the manifest with the committed offset: a batch
 * at or above it was never committed, so its objects are deleted before
 * consumption restarts from the committed offset. Whatever the crash
 * point, each message ends up in exactly one committed object.
 *
 * Flushes run off the consuming thread: lake_flush_async hands the batch
 * to a committer thread (manifest, fsync/rename or PUT of every object)
 * and the consuming thread goes on reading; the outcome comes back through
 * on_flushed, called on the consuming thread from lake_poll/lake_wait (or
 * any lake call that must wait), where the caller commits the offset. A
 * partition has at most one flush in flight: the next one starts only
 * after the previous one was reported, so a manifest is only replaced
 * once the batch it names is committed.
 *
 * Bad messages (not a JSON object, no usable event time) go to
 * _errors/<topic>/dt=.../ objects in the same batch, with the reason.
 * Memory: per open object at most one uncompressed chunk; compressed
 * bytes stream into the store's writer (a temporary file).
 */
#ifndef TICKPIPE_LAKE_H
#define TICKPIPE_LAKE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/store.h"

enum lake_partitioning {
    LAKE_PARTITION_DT,      /* dt=YYYY-MM-DD */
    LAKE_PARTITION_DT_HOUR, /* dt=YYYY-MM-DD/hour=HH */
    LAKE_PARTITION_YEAR,    /* year=YYYY */
    LAKE_PARTITION_MONTH,   /* month=YYYY-MM */
    LAKE_PARTITION_NONE,
};

enum lake_format { LAKE_FORMAT_JSONL, LAKE_FORMAT_CSV };

/* The outcome of a partition's flush, on the consuming thread. ok: every
 * message below commit_offset is durable: commit it now (on failure to
 * commit, call lake_commit_failed and read again from rewind_offset).
 * Not ok: nothing was committed (err says why); the partition's newer
 * messages were discarded too: read again from rewind_offset. */
typedef void (*lake_flushed_fn)(void *context, const char *topic, int32_t partition, int ok,
                                int64_t commit_offset, int64_t rewind_offset, const tp_err *err);

struct lake_options {
    store *store;             /* borrowed */
    const char *table;        /* folder of the data; NULL: the topic name */
    const char *state_prefix; /* where manifests live, e.g. "_consume/<group>" */
    enum lake_partitioning partitioning;
    enum lake_format format;
    int gzip_level;                 /* 0: no compression */
    const char *const *time_fields; /* event-time member names, in priority order */
    long long flush_records;        /* per partition batch */
    long long flush_bytes;          /* uncompressed bytes per partition batch */
    int64_t flush_span_ms;          /* event-time span of a batch; 0: off */
    int64_t flush_idle_ms;          /* no new message for this long (wall clock) */
    int64_t flush_interval_ms;      /* oldest message waited this long (wall clock) */
    int max_open_objects;           /* objects one batch may spread over */
    lake_flushed_fn on_flushed;     /* needed by lake_flush_async */
    void *on_flushed_context;
};

struct lake_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* Kafka timestamp, -1 if none */
    const void *key;
    size_t key_length;
    const void *value;
    size_t value_length;
};

typedef struct lake lake;

struct lake_stats {
    long long records;   /* messages written to data objects */
    long long errors;    /* messages sent to the error sink */
    long long bytes_in;  /* message bytes consumed */
    long long bytes_out; /* object bytes written */
    long long objects;   /* objects committed */
    long long flushes;
};

lake *lake_new(const struct lake_options *options, tp_err *err);
void lake_free(lake *l);

/* Called when a partition is assigned, before its first message:
 * deletes the objects of a batch that was written but never committed. */
int lake_recover(lake *l, const char *topic, int32_t partition, int64_t committed, tp_err *err);

enum lake_add_result {
    LAKE_ADDED = 0,       /* buffered */
    LAKE_ADDED_FULL = 1,  /* buffered, and the batch is now due: flush it */
    LAKE_FLUSH_FIRST = 2, /* not added: flush the batch, then add again */
};

/* Adds one message to its partition's batch (bad ones to the error sink).
 * Returns an lake_add_result, or -1 on a store error (err set). */
int lake_add(lake *l, const struct lake_message *message, int64_t now_ms, tp_err *err);

/*
 * Writes the partition's batch (manifest, then every object). On success
 * returns 1 with *commit_offset = the offset to commit (0 when there was
 * nothing to flush). On failure returns -1 with *rewind_offset = the first
 * offset of the lost batch: the caller must not commit, and must re-read
 * from there; objects already written are deleted at the next flush or
 * recovery.
 */
int lake_flush(lake *l, const char *topic, int32_t partition, int64_t *commit_offset,
               int64_t *rewind_offset, tp_err *err);

/* Starts flushing the partition's batch on the committer thread (waiting
 * first for its previous flush, which is reported). Returns 1 (started:
 * on_flushed follows), 0 (nothing to flush) or -1 when it failed at once
 * (on_flushed has been called with the failure). */
int lake_flush_async(lake *l, const char *topic, int32_t partition);

/* Reports every finished flush through on_flushed, without waiting. */
void lake_poll(lake *l);

/* Waits for the partition's flush in flight (topic NULL: every flush) and
 * reports it through on_flushed. */
void lake_wait(lake *l, const char *topic, int32_t partition);

/* The caller could not commit after a successful flush: the batch's
 * objects become leftovers to delete before the next flush, and the
 * partition's newer messages are discarded (it is read again). */
void lake_commit_failed(lake *l, const char *topic, int32_t partition);

/* Discards the partition's unflushed batch after a store error while
 * buffering it: its objects never become visible; keys of earlier
 * uncommitted attempts are kept for the next flush to delete. Returns
 * the batch's first offset (where to read again), or -1 when it was
 * empty. */
int64_t lake_discard(lake *l, const char *topic, int32_t partition);

/* Forgets a partition (revoked): its flush in flight is waited for and
 * reported; its unflushed batch is discarded. */
void lake_forget(lake *l, const char *topic, int32_t partition);

/* Calls fn for every partition with a batch due by time at now_ms (idle,
 * interval); with now_ms < 0, for every partition holding a batch. */
void lake_each_due(lake *l, int64_t now_ms,
                   void (*fn)(void *context, const char *topic, int32_t partition), void *context);

void lake_get_stats(const lake *l, struct lake_stats *stats);

/* The key of a data object (exposed for tests and tools). */
char *lake_object_key(const char *table, const char *partition_path, const char *topic,
                      int32_t partition, int64_t first_offset, const char *suffix);

#endif
