/*
 * consumer: librdkafka's high-level consumer with enable.auto.commit and
 * enable.auto.offset.store off, eager rebalancing through our own callback
 * (so the caller recovers a partition before its first message and
 * flushes it before it goes), and batched reads from the consumer queue.
 */
#include "kafka/consumer.h"

#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/config.h"
#include "lib/clock.h"
#include "lib/log.h"

struct kafka_partition_state {
    char *topic;
    int32_t partition;
    int at_end;
};

/* librdkafka 2.0.2 stops fetching a partition while the local queue holds
 * queued.min.messages, and only looks again when its broker thread wakes
 * up: after up to a second (a hard-coded block time) unless a request
 * wakes it sooner. A consumer slower than its fetcher (all of them, on a
 * local broker) then idles most of that second after draining the queue:
 * measured 4.7 s instead of 2.3 s for 1M ticks. So once the queue has
 * reached the limit and is drained below it again, a small "nudger"
 * thread asks the partitions' leaders for offsets (ListOffsets), which
 * wakes their broker threads, which re-evaluate and fetch at once. The
 * question is asked on that thread, not in the poll loop: the answer may
 * wait behind a fetch response being parsed. */
#define KAFKA_QUEUE_MIN_MESSAGES "50000"

struct kafka_nudger {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int started;
    int stop;
    int requested;
    rd_kafka_topic_partition_list_t *partitions; /* whose leaders to wake */
};

struct kafka_consumer {
    rd_kafka_t *handle;
    rd_kafka_queue_t *queue;
    struct kafka_consumer_callbacks callbacks;
    long long timeout_ms;
    char brokers[512];
    char last_error[512];
    int callback_failed;
    tp_err callback_err;
    struct kafka_partition_state *partitions;
    size_t partition_count;
    rd_kafka_message_t **batch;
    size_t batch_count;
    size_t batch_capacity;
    int queue_was_full;
    size_t queue_nudge_below; /* 90% of queued.min.messages */
    struct kafka_nudger nudger;
    int64_t reset_offset; /* where a partition without a commit starts */
};

static struct kafka_partition_state *kafka_consumer_find(const kafka_consumer *consumer,
                                                         const char *topic, int32_t partition)
{
    for (size_t i = 0; i < consumer->partition_count; i++)
        if (consumer->partitions[i].partition == partition &&
            strcmp(consumer->partitions[i].topic, topic) == 0)
            return &consumer->partitions[i];
    return NULL;
}

static void kafka_consumer_forget_partitions(kafka_consumer *consumer)
{
    for (size_t i = 0; i < consumer->partition_count; i++)
        free(consumer->partitions[i].topic);
    free(consumer->partitions);
    consumer->partitions = NULL;
    consumer->partition_count = 0;
}

static void *kafka_nudger_main(void *context)
{
    kafka_consumer *consumer = context;
    struct kafka_nudger *nudger = &consumer->nudger;
    pthread_mutex_lock(&nudger->lock);
    for (;;) {
        while (!nudger->requested && !nudger->stop)
            pthread_cond_wait(&nudger->wake, &nudger->lock);
        if (nudger->stop)
            break;
        nudger->requested = 0;
        rd_kafka_topic_partition_list_t *partitions =
            nudger->partitions ? rd_kafka_topic_partition_list_copy(nudger->partitions) : NULL;
        pthread_mutex_unlock(&nudger->lock);
        if (partitions) {
            /* one ListOffsets request per leader; the answer is not used */
            for (int i = 0; i < partitions->cnt; i++)
                partitions->elems[i].offset = -1; /* "latest" */
            rd_kafka_offsets_for_times(consumer->handle, partitions, 1000);
            rd_kafka_topic_partition_list_destroy(partitions);
        }
        pthread_mutex_lock(&nudger->lock);
    }
    pthread_mutex_unlock(&nudger->lock);
    return NULL;
}

/* Tells the nudger which partitions are assigned (NULL: none). */
static void kafka_nudger_set_partitions(kafka_consumer *consumer,
                                        const rd_kafka_topic_partition_list_t *list)
{
    struct kafka_nudger *nudger = &consumer->nudger;
    if (!nudger->started)
        return;
    pthread_mutex_lock(&nudger->lock);
    if (nudger->partitions)
        rd_kafka_topic_partition_list_destroy(nudger->partitions);
    nudger->partitions = list && list->cnt ? rd_kafka_topic_partition_list_copy(list) : NULL;
    pthread_mutex_unlock(&nudger->lock);
}

static void kafka_nudger_start(kafka_consumer *consumer)
{
    struct kafka_nudger *nudger = &consumer->nudger;
    pthread_mutex_init(&nudger->lock, NULL);
    pthread_cond_init(&nudger->wake, NULL);
    nudger->started = pthread_create(&nudger->thread, NULL, kafka_nudger_main, consumer) == 0;
    if (!nudger->started) {
        pthread_mutex_destroy(&nudger->lock);
        pthread_cond_destroy(&nudger->wake);
        log_warn("cannot start the fetch nudger thread: consumption may stall after a full queue");
    }
}

static void kafka_nudger_stop(kafka_consumer *consumer)
{
    struct kafka_nudger *nudger = &consumer->nudger;
    if (!nudger->started)
        return;
    pthread_mutex_lock(&nudger->lock);
    nudger->stop = 1;
    pthread_cond_signal(&nudger->wake);
    pthread_mutex_unlock(&nudger->lock);
    pthread_join(nudger->thread, NULL);
    if (nudger->partitions)
        rd_kafka_topic_partition_list_destroy(nudger->partitions);
    pthread_mutex_destroy(&nudger->lock);
    pthread_cond_destroy(&nudger->wake);
    nudger->started = 0;
}

/* Where an assigned partition starts: exactly where the callback recovered
 * from. Without a commit, the log's start (or end) is asked for here:
 * left to librdkafka, such a partition waits out a 100 ms offset-query
 * backoff (500 ms when its leader is not yet known) before its first
 * fetch. */
static int64_t kafka_consumer_start_offset(kafka_consumer *consumer, const char *topic,
                                           int32_t partition, int64_t committed)
{
    if (committed >= 0)
        return committed;
    if (consumer->reset_offset == RD_KAFKA_OFFSET_INVALID)
        return RD_KAFKA_OFFSET_INVALID; /* librdkafka applies auto.offset.reset */
    int64_t low, high;
    int timeout_ms = consumer->timeout_ms < 5000 ? (int)consumer->timeout_ms : 5000;
    if (rd_kafka_query_watermark_offsets(consumer->handle, topic, partition, &low, &high,
                                         timeout_ms) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return consumer->reset_offset;
    return consumer->reset_offset == RD_KAFKA_OFFSET_BEGINNING ? low : high;
}

static void kafka_consumer_assign(kafka_consumer *consumer, rd_kafka_t *handle,
                                  rd_kafka_topic_partition_list_t *list)
{
    /* where the group stands: the callback recovers from there */
    rd_kafka_resp_err_t rc = rd_kafka_committed(handle, list, (int)consumer->timeout_ms);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        consumer->callback_failed = 1;
        tp_err_set(&consumer->callback_err, TP_ERR_NETWORK, "reading committed offsets from %s: %s",
                   consumer->brokers, rd_kafka_err2str(rc));
        rd_kafka_assign(handle, NULL);
        return;
    }
    kafka_consumer_forget_partitions(consumer);
    consumer->partitions = calloc((size_t)list->cnt + 1, sizeof *consumer->partitions);
    for (int i = 0; i < list->cnt && consumer->partitions; i++) {
        rd_kafka_topic_partition_t *p = &list->elems[i];
        int64_t committed = p->offset >= 0 ? p->offset : KAFKA_OFFSET_NONE;
        log_info("assigned %s [%d], committed offset %lld", p->topic, p->partition,
                 (long long)committed);
        if (consumer->callbacks.on_assign &&
            consumer->callbacks.on_assign(consumer->callbacks.context, p->topic, p->partition,
                                          committed) < 0) {
            consumer->callback_failed = 1;
            tp_err_set(&consumer->callback_err, TP_ERR_IO, "recovering %s [%d] failed", p->topic,
                       p->partition);
        }
        struct kafka_partition_state *state = &consumer->partitions[consumer->partition_count++];
        state->topic = strdup(p->topic);
        state->partition = p->partition;
        p->offset = kafka_consumer_start_offset(consumer, p->topic, p->partition, committed);
    }
    rd_kafka_assign(handle, consumer->callback_failed ? NULL : list);
    kafka_nudger_set_partitions(consumer, consumer->callback_failed ? NULL : list);
}

static void kafka_consumer_on_rebalance(rd_kafka_t *handle, rd_kafka_resp_err_t reason,
                                        rd_kafka_topic_partition_list_t *list, void *opaque)
{
    kafka_consumer *consumer = opaque;
    if (reason == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        kafka_consumer_assign(consumer, handle, list);
        return;
    }
    for (int i = 0; i < list->cnt; i++) {
        log_info("revoked %s [%d]", list->elems[i].topic, list->elems[i].partition);
        if (consumer->callbacks.on_revoke)
            consumer->callbacks.on_revoke(consumer->callbacks.context, list->elems[i].topic,
                                          list->elems[i].partition);
    }
    kafka_consumer_forget_partitions(consumer);
    rd_kafka_assign(handle, NULL);
    kafka_nudger_set_partitions(consumer, NULL);
}

static void kafka_consumer_on_error(rd_kafka_t *handle, int code, const char *reason, void *opaque)
{
    (void)handle;
    kafka_consumer *consumer = opaque;
    snprintf(consumer->last_error, sizeof consumer->last_error, "%s", reason);
    log_debug("Kafka: %s (%s)", reason, rd_kafka_err2name((rd_kafka_resp_err_t)code));
}

/* The logical offset auto.offset.reset names (RD_KAFKA_OFFSET_INVALID
 * for "error" or unknown: librdkafka then applies the policy itself). */
static int64_t kafka_consumer_reset_offset(kafka_conf *conf)
{
    char value[32];
    size_t size = sizeof value;
    if (rd_kafka_conf_get(conf, "auto.offset.reset", value, &size) != RD_KAFKA_CONF_OK)
        return RD_KAFKA_OFFSET_INVALID;
    if (strcmp(value, "smallest") == 0 || strcmp(value, "earliest") == 0 ||
        strcmp(value, "beginning") == 0)
        return RD_KAFKA_OFFSET_BEGINNING;
    if (strcmp(value, "largest") == 0 || strcmp(value, "latest") == 0 || strcmp(value, "end") == 0)
        return RD_KAFKA_OFFSET_END;
    return RD_KAFKA_OFFSET_INVALID;
}

kafka_consumer *kafka_consumer_new(const struct kafka_consumer_options *options, tp_err *err)
{
    kafka_consumer *consumer = calloc(1, sizeof *consumer);
    if (!consumer) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    consumer->callbacks = options->callbacks;
    consumer->timeout_ms = options->timeout_ms;
    snprintf(consumer->brokers, sizeof consumer->brokers, "%s", options->brokers);
    char timeout[32];
    snprintf(timeout, sizeof timeout, "%lld", options->timeout_ms);
    /* Manual offsets; start at the beginning when the group has no commit
     * (a lake wants every tick); a fetch queue big enough that librdkafka
     * does not stall fetching behind the application, small enough for a
     * flat RSS. */
    const struct kafka_property defaults[] = {
        {"group.id", options->group},
        {"client.id", "tickpipe-consume"},
        {"enable.auto.commit", "false"},
        {"enable.auto.offset.store", "false"},
        {"auto.offset.reset", "earliest"},
        {"enable.partition.eof", "true"},
        {"partition.assignment.strategy", "range,roundrobin"},
        {"queued.min.messages", KAFKA_QUEUE_MIN_MESSAGES},
        {"queued.max.messages.kbytes", "65536"},
        {"fetch.wait.max.ms", "25"},
        {"socket.connection.setup.timeout.ms", timeout},
        {NULL, NULL},
    };
    kafka_conf *conf = kafka_conf_build(options->brokers, defaults, options->overrides,
                                        options->override_count, err);
    if (!conf) {
        free(consumer);
        return NULL;
    }
    consumer->reset_offset = kafka_consumer_reset_offset(conf);
    char queued_min[32];
    size_t size = sizeof queued_min;
    long long limit =
        rd_kafka_conf_get(conf, "queued.min.messages", queued_min, &size) == RD_KAFKA_CONF_OK
            ? atoll(queued_min)
            : 0;
    consumer->queue_nudge_below = limit > 0 ? (size_t)limit * 9 / 10 : 45000;
    rd_kafka_conf_set_opaque(conf, consumer);
    rd_kafka_conf_set_rebalance_cb(conf, kafka_consumer_on_rebalance);
    rd_kafka_conf_set_error_cb(conf, kafka_consumer_on_error);
    char errstr[512];
    consumer->handle = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!consumer->handle) {
        rd_kafka_conf_destroy(conf);
        free(consumer);
        tp_err_set(err, TP_ERR_USAGE, "Kafka consumer: %s", errstr);
        return NULL;
    }
    const struct rd_kafka_metadata *metadata = NULL;
    rd_kafka_resp_err_t rc =
        rd_kafka_metadata(consumer->handle, 0, NULL, &metadata, (int)options->timeout_ms);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        rd_kafka_poll(consumer->handle, 0);
        tp_err_set(err, TP_ERR_NETWORK, "cannot reach Kafka at %s within %.0f s%s%s%s",
                   options->brokers, options->timeout_ms / 1000.0,
                   consumer->last_error[0] ? " (" : "", consumer->last_error,
                   consumer->last_error[0] ? ")" : "");
        rd_kafka_destroy(consumer->handle);
        free(consumer);
        return NULL;
    }
    rd_kafka_metadata_destroy(metadata);
    rd_kafka_poll_set_consumer(consumer->handle);
    kafka_nudger_start(consumer);
    consumer->queue = rd_kafka_queue_get_consumer(consumer->handle);
    rd_kafka_topic_partition_list_t *topics =
        rd_kafka_topic_partition_list_new(options->topic_count);
    for (int i = 0; i < options->topic_count; i++)
        rd_kafka_topic_partition_list_add(topics, options->topics[i], RD_KAFKA_PARTITION_UA);
    rc = rd_kafka_subscribe(consumer->handle, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR) {
        tp_err_set(err, TP_ERR_REMOTE, "subscribe: %s", rd_kafka_err2str(rc));
        kafka_consumer_free(consumer);
        return NULL;
    }
    return consumer;
}

/* After each poll: once the queue may have been full (the fetchers may
 * have stopped), asks the nudger to wake them as soon as it is below the
 * limit again. The queue is seen between polls only, so "may have been
 * full" starts at 90% of the limit; a needless nudge costs one small
 * request. */
static void kafka_consumer_nudge_fetcher(kafka_consumer *consumer)
{
    size_t queued = rd_kafka_queue_length(consumer->queue);
    if (queued >= consumer->queue_nudge_below) {
        consumer->queue_was_full = 1;
        return;
    }
    if (!consumer->queue_was_full || !consumer->nudger.started)
        return;
    consumer->queue_was_full = 0;
    pthread_mutex_lock(&consumer->nudger.lock);
    consumer->nudger.requested = 1;
    pthread_cond_signal(&consumer->nudger.wake);
    pthread_mutex_unlock(&consumer->nudger.lock);
}

static void kafka_consumer_release_batch(kafka_consumer *consumer)
{
    for (size_t i = 0; i < consumer->batch_count; i++)
        rd_kafka_message_destroy(consumer->batch[i]);
    consumer->batch_count = 0;
}

/* Takes what the queue holds, up to max, into consumer->batch; when it is
 * empty, waits up to timeout_ms for the first message only: a batch read
 * with a timeout waits for max messages, which at the end of a topic (or
 * on a slow one) is a wait of the whole timeout for nothing. */
static ssize_t kafka_consumer_take(kafka_consumer *consumer, int max, int timeout_ms)
{
    ssize_t n = rd_kafka_consume_batch_queue(consumer->queue, 0, consumer->batch, (size_t)max);
    if (n != 0 || timeout_ms <= 0)
        return n;
    rd_kafka_message_t *first = rd_kafka_consume_queue(consumer->queue, timeout_ms);
    if (!first)
        return 0;
    consumer->batch[0] = first;
    n = rd_kafka_consume_batch_queue(consumer->queue, 0, consumer->batch + 1, (size_t)max - 1);
    return n < 0 ? 1 : n + 1;
}

int kafka_consumer_poll(kafka_consumer *consumer, struct kafka_message *messages, int max,
                        int timeout_ms, tp_err *err)
{
    kafka_consumer_release_batch(consumer);
    if ((size_t)max > consumer->batch_capacity) {
        rd_kafka_message_t **batch =
            realloc(consumer->batch, (size_t)max * sizeof(rd_kafka_message_t *));
        if (!batch)
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        consumer->batch = batch;
        consumer->batch_capacity = (size_t)max;
    }
    ssize_t n = kafka_consumer_take(consumer, max, timeout_ms);
    if (consumer->callback_failed) {
        if (n > 0)
            consumer->batch_count = (size_t)n;
        *err = consumer->callback_err;
        return -1;
    }
    if (n < 0)
        return tp_err_set(err, TP_ERR_REMOTE, "consume: %s",
                          rd_kafka_err2str(rd_kafka_last_error()));
    consumer->batch_count = (size_t)n;
    kafka_consumer_nudge_fetcher(consumer);
    int count = 0;
    for (ssize_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = consumer->batch[i];
        const char *topic = m->rkt ? rd_kafka_topic_name(m->rkt) : "";
        struct kafka_partition_state *state = kafka_consumer_find(consumer, topic, m->partition);
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            if (state)
                state->at_end = 1;
            continue;
        }
        if (m->err) {
            if (m->err == RD_KAFKA_RESP_ERR__FATAL) {
                char reason[512];
                rd_kafka_fatal_error(consumer->handle, reason, sizeof reason);
                return tp_err_set(err, TP_ERR_REMOTE, "Kafka consumer: fatal: %s", reason);
            }
            log_warn("Kafka: %s [%d]: %s", *topic ? topic : "(consumer)", m->partition,
                     rd_kafka_message_errstr(m));
            continue;
        }
        if (!state)
            continue; /* fetched before a revoke: no longer ours */
        state->at_end = 0;
        struct kafka_message *out = &messages[count++];
        rd_kafka_timestamp_type_t type;
        out->topic = topic;
        out->partition = m->partition;
        out->offset = m->offset;
        out->timestamp_ms = rd_kafka_message_timestamp(m, &type);
        out->key = m->key;
        out->key_length = m->key_len;
        out->value = m->payload;
        out->value_length = m->len;
    }
    return count;
}

int kafka_consumer_commit(kafka_consumer *consumer, const char *topic, int32_t partition,
                          int64_t next_offset, tp_err *err)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = next_offset;
    rd_kafka_resp_err_t rc = rd_kafka_commit(consumer->handle, list, 0);
    if (rc == RD_KAFKA_RESP_ERR_NO_ERROR && list->elems[0].err)
        rc = list->elems[0].err;
    rd_kafka_topic_partition_list_destroy(list);
    if (rc != RD_KAFKA_RESP_ERR_NO_ERROR)
        return tp_err_set(err, TP_ERR_REMOTE, "commit %s [%d] offset %lld: %s", topic, partition,
                          (long long)next_offset, rd_kafka_err2str(rc));
    return 0;
}

int kafka_consumer_rewind(kafka_consumer *consumer, const char *topic, int32_t partition,
                          int64_t offset, tp_err *err)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition)->offset = offset;
    rd_kafka_pause_partitions(consumer->handle, list);
    rd_kafka_error_t *error =
        rd_kafka_seek_partitions(consumer->handle, list, (int)consumer->timeout_ms);
    int rc = 0;
    if (error) {
        rc = tp_err_set(err, TP_ERR_REMOTE, "rewinding %s [%d] to offset %lld: %s", topic,
                        partition, (long long)offset, rd_kafka_error_string(error));
        rd_kafka_error_destroy(error);
    } else if (list->elems[0].err) {
        rc = tp_err_set(err, TP_ERR_REMOTE, "rewinding %s [%d] to offset %lld: %s", topic,
                        partition, (long long)offset, rd_kafka_err2str(list->elems[0].err));
    }
    rd_kafka_topic_partition_list_destroy(list);
    struct kafka_partition_state *state = kafka_consumer_find(consumer, topic, partition);
    if (state)
        state->at_end = 0;
    return rc;
}

void kafka_consumer_resume(kafka_consumer *consumer, const char *topic, int32_t partition)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(list, topic, partition);
    rd_kafka_resume_partitions(consumer->handle, list);
    rd_kafka_topic_partition_list_destroy(list);
}

int kafka_consumer_at_end(const kafka_consumer *consumer)
{
    if (consumer->partition_count == 0)
        return 0;
    for (size_t i = 0; i < consumer->partition_count; i++)
        if (!consumer->partitions[i].at_end)
            return 0;
    return 1;
}

int64_t kafka_consumer_lag(kafka_consumer *consumer, const char *topic, int32_t partition,
                           int64_t next_offset)
{
    int64_t low = 0, high = 0;
    if (rd_kafka_get_watermark_offsets(consumer->handle, topic, partition, &low, &high) !=
            RD_KAFKA_RESP_ERR_NO_ERROR ||
        high < 0)
        return -1;
    if (next_offset < low)
        next_offset = low;
    return high > next_offset ? high - next_offset : 0;
}

void kafka_consumer_free(kafka_consumer *consumer)
{
    if (!consumer)
        return;
    kafka_nudger_stop(consumer);
    kafka_consumer_release_batch(consumer);
    free(consumer->batch);
    if (consumer->queue)
        rd_kafka_queue_destroy(consumer->queue);
    if (consumer->handle) {
        rd_kafka_consumer_close(consumer->handle); /* revoke callbacks run here */
        rd_kafka_destroy(consumer->handle);
    }
    kafka_consumer_forget_partitions(consumer);
    free(consumer);
}
