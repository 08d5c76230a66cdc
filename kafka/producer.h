/*
 * producer: the librdkafka producer as tickpipe uses it: one topic,
 * keyed messages with explicit timestamps, delivery reports counted, and
 * every wait bounded by a timeout so an unreachable cluster is an error,
 * not a hang.
 */
#ifndef TICKPIPE_KAFKA_PRODUCER_H
#define TICKPIPE_KAFKA_PRODUCER_H

#include <stddef.h>
#include <stdint.h>

#include "lib/err.h"

typedef struct kafka_producer kafka_producer;

struct kafka_producer_options {
    const char *brokers;
    const char *topic;
    const char *const *overrides; /* "-X key=value" strings */
    int override_count;
    long long timeout_ms; /* connect, metadata and delivery bound */
};

struct kafka_producer_stats {
    long long queued;    /* accepted by send */
    long long delivered; /* acknowledged by the cluster */
    long long failed;    /* delivery failed for good */
    char first_error[512];
};

/*
 * Creates the producer and checks, within timeout_ms, that the cluster is
 * reachable and the topic exists (or is auto-created). Returns NULL with
 * err set otherwise. Free with kafka_producer_free.
 */
kafka_producer *kafka_producer_new(const struct kafka_producer_options *options, tp_err *err);

/* Queues one message (copied). Blocks, serving delivery reports, while the
 * local queue is full. key may be NULL. Returns 0 or -1 (err set). */
int kafka_producer_send(kafka_producer *producer, const void *key, size_t key_length,
                        const void *value, size_t value_length, int64_t timestamp_ms, tp_err *err);

/* Serves delivery reports, waiting up to timeout_ms for one. */
void kafka_producer_poll(kafka_producer *producer, int timeout_ms);

/* Waits until every queued message is delivered or failed, at most
 * timeout_ms. Returns 0, or -1 when messages remain undelivered. */
int kafka_producer_flush(kafka_producer *producer, long long timeout_ms, tp_err *err);

void kafka_producer_get_stats(const kafka_producer *producer, struct kafka_producer_stats *stats);

/* Destroys the producer (without waiting: flush first). */
void kafka_producer_free(kafka_producer *producer);

#endif
