/*
 * consumer: the librdkafka group consumer as tickpipe uses it: manual
 * commits only (the caller commits an offset once everything below it is
 * durable), rebalance callbacks that let the caller recover or flush a
 * partition before it starts or stops, messages fetched in batches, and
 * end-of-partition tracking for --exit-at-end.
 */
#ifndef TICKPIPE_KAFKA_CONSUMER_H
#define TICKPIPE_KAFKA_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

typedef struct kafka_consumer kafka_consumer;

#define KAFKA_OFFSET_NONE (-1) /* no committed offset */

struct kafka_consumer_callbacks {
    /* A partition is about to be consumed, starting after `committed` (the
     * group's committed offset, or KAFKA_OFFSET_NONE). Return 0, or -1 to
     * stop the consumer (the error is reported by kafka_consumer_poll). */
    int (*on_assign)(void *context, const char *topic, int32_t partition, int64_t committed);
    /* The partition is being taken away: flush and commit, or discard. */
    void (*on_revoke)(void *context, const char *topic, int32_t partition);
    void *context;
};

struct kafka_consumer_options {
    const char *brokers;
    const char *group;
    const char *const *topics;
    int topic_count;
    const char *const *overrides; /* "-X key=value" */
    int override_count;
    long long timeout_ms; /* bound for connecting and committing */
    struct kafka_consumer_callbacks callbacks;
};

struct kafka_message {
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* -1 when the message has none */
    const void *key;      /* NULL when absent */
    size_t key_length;
    const void *value; /* NULL when absent */
    size_t value_length;
};

/* Creates the consumer and subscribes; checks the cluster is reachable
 * within timeout_ms. NULL with err set otherwise. */
kafka_consumer *kafka_consumer_new(const struct kafka_consumer_options *options, tp_err *err);

/*
 * Waits up to timeout_ms for messages and fills at most max of them.
 * Returns the count (0 on timeout), or -1 on a fatal error (err set).
 * Rebalance callbacks run inside this call. The messages stay valid until
 * the next poll or kafka_consumer_free.
 */
int kafka_consumer_poll(kafka_consumer *consumer, struct kafka_message *messages, int max,
                        int timeout_ms, tp_err *err);

/* Synchronously commits next_offset (the offset of the next message to
 * read) for one partition. Returns 0 or -1 (err set). */
int kafka_consumer_commit(kafka_consumer *consumer, const char *topic, int32_t partition,
                          int64_t next_offset, tp_err *err);

/* Stops fetching a partition and moves its position back to offset, so
 * the messages from there are read again after kafka_consumer_resume.
 * Returns 0 or -1 (err set). */
int kafka_consumer_rewind(kafka_consumer *consumer, const char *topic, int32_t partition,
                          int64_t offset, tp_err *err);
void kafka_consumer_resume(kafka_consumer *consumer, const char *topic, int32_t partition);

/* 1 when partitions are assigned and every one has been read to its end
 * (nothing newer seen since). */
int kafka_consumer_at_end(const kafka_consumer *consumer);

/* Messages behind the partition's high watermark after `next_offset`, from
 * the last fetch response; -1 when unknown. */
int64_t kafka_consumer_lag(kafka_consumer *consumer, const char *topic, int32_t partition,
                           int64_t next_offset);

/* Leaves the group (revoke callbacks run) and destroys the consumer. */
void kafka_consumer_free(kafka_consumer *consumer);

#endif
