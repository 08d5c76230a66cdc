/*
 * producer: librdkafka handle + topic handle + delivery counters. The
 * delivery callback runs on our thread (inside rd_kafka_poll/flush), so
 * the counters need no locking.
 */
#include "kafka/producer.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kafka/config.h"
#include "lib/log.h"

struct kafka_producer {
    rd_kafka_t *handle;
    rd_kafka_topic_t *topic;
    char brokers[512];
    struct kafka_producer_stats stats;
    char last_error[512]; /* from the error callback: why a connection failed */
};

static void kafka_producer_on_delivery(rd_kafka_t *handle, const rd_kafka_message_t *message,
                                       void *opaque)
{
    (void)handle;
    kafka_producer *producer = opaque;
    if (message->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        producer->stats.delivered++;
        return;
    }
    if (producer->stats.failed++ == 0)
        snprintf(producer->stats.first_error, sizeof producer->stats.first_error,
                 "delivery to %s [%d] failed: %s", rd_kafka_topic_name(message->rkt),
                 message->partition, rd_kafka_err2str(message->err));
}

static void kafka_producer_on_error(rd_kafka_t *handle, int code, const char *reason, void *opaque)
{
    kafka_producer *producer = opaque;
    snprintf(producer->last_error, sizeof producer->last_error, "%s", reason);
    if (code == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_fatal_error(handle, fatal, sizeof fatal);
        log_error("Kafka producer: fatal: %s", fatal);
    } else {
        log_debug("Kafka: %s", reason);
    }
}

static long long kafka_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

/* Waits for the topic's metadata: a reachable cluster and a topic that
 * exists (auto-creation answers LEADER_NOT_AVAILABLE at first). */
static int kafka_producer_check_topic(kafka_producer *producer, const char *topic,
                                      long long timeout_ms, tp_err *err)
{
    long long deadline = kafka_now_ms() + timeout_ms;
    rd_kafka_resp_err_t last = RD_KAFKA_RESP_ERR_NO_ERROR;
    for (;;) {
        long long left = deadline - kafka_now_ms();
        if (left <= 0)
            break;
        const struct rd_kafka_metadata *metadata = NULL;
        rd_kafka_resp_err_t rc =
            rd_kafka_metadata(producer->handle, 0, producer->topic, &metadata, (int)left);
        if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
            last = rc;
            break;
        }
        rd_kafka_resp_err_t topic_error =
            metadata->topic_cnt > 0 ? metadata->topics[0].err : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC;
        int partitions = metadata->topic_cnt > 0 ? metadata->topics[0].partition_cnt : 0;
        rd_kafka_metadata_destroy(metadata);
        if (topic_error == RD_KAFKA_RESP_ERR_NO_ERROR && partitions > 0) {
            log_info("topic %s: %d partitions at %s", topic, partitions, producer->brokers);
            return 0;
        }
        last = topic_error;
        if (topic_error == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
            topic_error == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED ||
            topic_error == RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION)
            return tp_err_set(err, TP_ERR_NOT_FOUND,
                              "topic '%s' at %s: %s (create it, or enable auto-creation on the "
                              "broker)",
                              topic, producer->brokers, rd_kafka_err2str(topic_error));
        rd_kafka_poll(producer->handle, 100); /* auto-creation in progress */
    }
    rd_kafka_poll(producer->handle, 0); /* serve the error callback: why it failed */
    if (last == RD_KAFKA_RESP_ERR__TRANSPORT || last == RD_KAFKA_RESP_ERR__TIMED_OUT ||
        last == RD_KAFKA_RESP_ERR_NO_ERROR)
        return tp_err_set(err, TP_ERR_NETWORK, "cannot reach Kafka at %s within %.0f s%s%s%s",
                          producer->brokers, timeout_ms / 1000.0,
                          producer->last_error[0] ? " (" : "", producer->last_error,
                          producer->last_error[0] ? ")" : "");
    return tp_err_set(err, TP_ERR_REMOTE, "topic '%s' at %s: %s", topic, producer->brokers,
                      rd_kafka_err2str(last));
}

kafka_producer *kafka_producer_new(const struct kafka_producer_options *options, tp_err *err)
{
    kafka_producer *producer = calloc(1, sizeof *producer);
    if (!producer) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    snprintf(producer->brokers, sizeof producer->brokers, "%s", options->brokers);
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%lld", options->timeout_ms);
    /* Tuned for throughput with bounded memory: big lz4 batches, a short
     * linger, a local queue small enough to keep RSS well under 50 MB. */
    const struct kafka_property defaults[] = {
        {"client.id", "tickpipe-produce"},
        {"linger.ms", "10"},
        {"batch.num.messages", "10000"},
        {"batch.size", "1000000"},
        {"compression.codec", "lz4"},
        {"queue.buffering.max.messages", "50000"},
        {"queue.buffering.max.kbytes", "32768"},
        {"message.timeout.ms", timeout},
        {"socket.connection.setup.timeout.ms", timeout},
        {NULL, NULL},
    };
    kafka_conf *conf = kafka_conf_build(options->brokers, defaults, options->overrides,
                                        options->override_count, err);
    if (!conf) {
        free(producer);
        return NULL;
    }
    rd_kafka_conf_set_opaque(conf, producer);
    rd_kafka_conf_set_dr_msg_cb(conf, kafka_producer_on_delivery);
    rd_kafka_conf_set_error_cb(conf, kafka_producer_on_error);
    char errstr[512];
    producer->handle = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!producer->handle) {
        rd_kafka_conf_destroy(conf);
        free(producer);
        tp_err_set(err, TP_ERR_USAGE, "Kafka producer: %s", errstr);
        return NULL;
    }
    producer->topic = rd_kafka_topic_new(producer->handle, options->topic, NULL);
    if (!producer->topic) {
        tp_err_set(err, TP_ERR_USAGE, "topic '%s': %s", options->topic,
                   rd_kafka_err2str(rd_kafka_last_error()));
        kafka_producer_free(producer);
        return NULL;
    }
    if (kafka_producer_check_topic(producer, options->topic, options->timeout_ms, err) < 0) {
        kafka_producer_free(producer);
        return NULL;
    }
    return producer;
}

int kafka_producer_send(kafka_producer *producer, const void *key, size_t key_length,
                        const void *value, size_t value_length, int64_t timestamp_ms, tp_err *err)
{
    for (;;) {
        rd_kafka_resp_err_t rc = rd_kafka_producev(
            producer->handle, RD_KAFKA_V_RKT(producer->topic),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key ? key_length : 0),
            RD_KAFKA_V_VALUE((void *)value, value_length), RD_KAFKA_V_TIMESTAMP(timestamp_ms),
            RD_KAFKA_V_END);
        if (rc == RD_KAFKA_RESP_ERR_NO_ERROR) {
            producer->stats.queued++;
            return 0;
        }
        if (rc != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return tp_err_set(err, TP_ERR_REMOTE, "produce to %s: %s",
                              rd_kafka_topic_name(producer->topic), rd_kafka_err2str(rc));
        rd_kafka_poll(producer->handle, 5);
    }
}

void kafka_producer_poll(kafka_producer *producer, int timeout_ms)
{
    rd_kafka_poll(producer->handle, timeout_ms);
}

int kafka_producer_flush(kafka_producer *producer, long long timeout_ms, tp_err *err)
{
    rd_kafka_flush(producer->handle, (int)timeout_ms);
    int left = rd_kafka_outq_len(producer->handle);
    if (left > 0)
        return tp_err_set(
            err, TP_ERR_NETWORK, "%d messages still undelivered to %s after %.0f s%s%s%s", left,
            producer->brokers, timeout_ms / 1000.0, producer->last_error[0] ? " (" : "",
            producer->last_error, producer->last_error[0] ? ")" : "");
    return 0;
}

void kafka_producer_get_stats(const kafka_producer *producer, struct kafka_producer_stats *stats)
{
    *stats = producer->stats;
}

void kafka_producer_free(kafka_producer *producer)
{
    if (!producer)
        return;
    if (producer->topic)
        rd_kafka_topic_destroy(producer->topic);
    if (producer->handle) {
        /* whatever is still queued fails now instead of blocking destroy */
        rd_kafka_purge(producer->handle, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_poll(producer->handle, 0);
        rd_kafka_destroy(producer->handle);
    }
    free(producer);
}
