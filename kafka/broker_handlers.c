/*
 * broker_handlers: one function per request type (the group APIs live in
 * broker_group.c). Each reads the decoded request in conn->request and
 * writes its response into conn->out, following the field lists of the
 * Apache Kafka message schemas for the versions the broker advertises.
 */
#include "kafka/broker_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/broker_batch.h"
#include "lib/log.h"

enum {
    KAFKA_NONE = 0,
    KAFKA_OFFSET_OUT_OF_RANGE = 1,
    KAFKA_CORRUPT_MESSAGE = 2,
    KAFKA_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KAFKA_COORDINATOR_NOT_AVAILABLE = 15,
    KAFKA_INVALID_TOPIC = 17,
    KAFKA_INVALID_REQUIRED_ACKS = 21,
    KAFKA_UNSUPPORTED_VERSION = 35,
    KAFKA_TOPIC_ALREADY_EXISTS = 36,
    KAFKA_INVALID_PARTITIONS = 37,
    KAFKA_INVALID_REPLICATION_FACTOR = 38,
    KAFKA_INVALID_REQUEST = 42,
    KAFKA_UNSUPPORTED_FOR_MESSAGE_FORMAT = 43,
    KAFKA_KAFKA_STORAGE_ERROR = 56,
    KAFKA_INVALID_RECORD = 87,
};

#define BROKER_CLUSTER_ID "tickpipe-single-node"
/* Upper bound of one Fetch response whatever the client asks (it fetches
 * again): keeps memory per connection bounded. One batch larger than this
 * is still sent whole. */
#define BROKER_FETCH_RESPONSE_MAX (8 * 1024 * 1024)

static struct broker_topic *broker_find_topic(struct broker *broker, struct kafka_str name)
{
    if (name.len <= 0)
        return NULL;
    return broker_topics_find(broker->topics, name.ptr, (size_t)name.len);
}

static struct broker_log *broker_find_partition(struct broker *broker, struct kafka_str name,
                                                int32_t partition)
{
    struct broker_topic *topic = broker_find_topic(broker, name);
    if (!topic || partition < 0 || partition >= topic->partition_count)
        return NULL;
    return topic->partitions[partition];
}

/* ---- ApiVersions ---- */

/* AK's check on client_software_name/version (KIP-511). */
static int broker_software_field_valid(struct kafka_str s)
{
    if (s.len <= 0)
        return 0;
    for (int32_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && ((c != '-' && c != '.') || i == 0 || i == s.len - 1))
            return 0;
    }
    return 1;
}

static void broker_write_api_versions(struct broker_conn *conn, int16_t version, int16_t error)
{
    struct broker_writer *w = &conn->out;
    size_t n;
    const struct broker_api_range *ranges = broker_api_ranges(&n);
    broker_write_i16(w, error);
    if (version >= 3)
        broker_write_uvarint(w, n + 1);
    else
        broker_write_i32(w, (int32_t)n);
    for (size_t i = 0; i < n; i++) {
        broker_write_i16(w, ranges[i].key);
        broker_write_i16(w, ranges[i].min_version);
        broker_write_i16(w, ranges[i].max_version);
        if (version >= 3)
            broker_write_uvarint(w, 0);
    }
    if (version >= 1)
        broker_write_i32(w, 0); /* throttle_time_ms, last for ApiVersions */
    if (version >= 3)
        broker_write_uvarint(w, 0);
}

static void broker_handle_api_versions(struct broker_conn *conn)
{
    const struct broker_request *req = &conn->request;
    const struct broker_api_versions_request *body = &req->body.api_versions;
    int16_t error = KAFKA_NONE;
    if (req->header.api_version >= 3 && (!broker_software_field_valid(body->software_name) ||
                                         !broker_software_field_valid(body->software_version)))
        error = KAFKA_INVALID_REQUEST;
    size_t start = broker_response_begin(conn, req->header.correlation_id);
    broker_write_api_versions(conn, req->header.api_version, error);
    broker_response_end(conn, start);
}

/* An ApiVersions version above ours: a v0 body with error 35 listing our
 * ApiVersions range, so clients retry with a version we speak (KIP-511). */
static void broker_reply_api_versions_unsupported(struct broker_conn *conn, int32_t correlation_id)
{
    const struct broker_api_range *range = broker_api_find(BROKER_API_API_VERSIONS);
    size_t start = broker_response_begin(conn, correlation_id);
    broker_write_i16(&conn->out, KAFKA_UNSUPPORTED_VERSION);
    broker_write_i32(&conn->out, 1);
    broker_write_i16(&conn->out, range->key);
    broker_write_i16(&conn->out, range->min_version);
    broker_write_i16(&conn->out, range->max_version);
    broker_response_end(conn, start);
}

/* ---- Metadata ---- */

static struct broker_topic *broker_auto_create(struct broker_conn *conn, struct kafka_str name,
                                               int16_t *error)
{
    struct broker *broker = conn->broker;
    if (!broker_topic_name_valid(name.ptr, (size_t)(name.len < 0 ? 0 : name.len))) {
        *error = KAFKA_INVALID_TOPIC;
        return NULL;
    }
    tp_err err;
    struct broker_topic *topic = broker_topics_create(broker->topics, name.ptr, (size_t)name.len,
                                                      broker->config.partitions, &err);
    if (!topic) {
        log_error("auto-create topic %.*s: %s", (int)name.len, name.ptr, err.msg);
        *error = KAFKA_KAFKA_STORAGE_ERROR;
        return NULL;
    }
    log_notice("created topic %s with %d partitions (auto-create, requested by %s)", topic->name,
               topic->partition_count, conn->peer);
    return topic;
}

static void broker_write_metadata_topic(struct broker_writer *w, int16_t version, int16_t error,
                                        struct kafka_str name, const struct broker_topic *topic)
{
    broker_write_i16(w, error);
    broker_write_string(w, name);
    if (version >= 1)
        broker_write_bool(w, 0); /* is_internal */
    int32_t count = topic ? topic->partition_count : 0;
    broker_write_i32(w, count);
    for (int32_t p = 0; p < count; p++) {
        broker_write_i16(w, KAFKA_NONE);
        broker_write_i32(w, p);
        broker_write_i32(w, BROKER_NODE_ID); /* leader */
        broker_write_i32(w, 1);              /* replicas */
        broker_write_i32(w, BROKER_NODE_ID);
        broker_write_i32(w, 1); /* isr */
        broker_write_i32(w, BROKER_NODE_ID);
    }
}

static void broker_handle_metadata(struct broker_conn *conn)
{
    struct broker *broker = conn->broker;
    const struct broker_request *req = &conn->request;
    const struct broker_metadata_request *body = &req->body.metadata;
    int16_t v = req->header.api_version;
    /* Create first: creation may log, and the response is built in one go. */
    int16_t *errors = NULL;
    if (body->topic_count > 0) {
        errors = broker_arena_alloc(&conn->arena, (size_t)body->topic_count * sizeof *errors);
        if (!errors) {
            conn->out.failed = 1; /* out of memory: the connection is closed */
            return;
        }
    }
    for (int32_t i = 0; i < body->topic_count; i++) {
        struct kafka_str name = body->topics[i];
        if (broker_find_topic(broker, name))
            continue;
        if (broker->config.auto_create && body->allow_auto_create)
            broker_auto_create(conn, name, &errors[i]);
        else
            errors[i] = broker_topic_name_valid(name.ptr, (size_t)(name.len < 0 ? 0 : name.len))
                            ? KAFKA_UNKNOWN_TOPIC_OR_PARTITION
                            : KAFKA_INVALID_TOPIC;
    }
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, req->header.correlation_id);
    if (v >= 3)
        broker_write_i32(w, 0);
    broker_write_i32(w, 1); /* brokers */
    broker_write_i32(w, BROKER_NODE_ID);
    broker_write_cstring(w, conn->advertised);
    broker_write_i32(w, conn->advertised_port);
    if (v >= 1)
        broker_write_cstring(w, NULL); /* rack */
    if (v >= 2)
        broker_write_cstring(w, BROKER_CLUSTER_ID);
    if (v >= 1)
        broker_write_i32(w, BROKER_NODE_ID); /* controller */
    if (body->topic_count < 0) {
        int count = broker_topics_count(broker->topics);
        broker_write_i32(w, count);
        for (int t = 0; t < count; t++) {
            struct broker_topic *topic = broker_topics_at(broker->topics, t);
            struct kafka_str name = {topic->name, (int32_t)strlen(topic->name)};
            broker_write_metadata_topic(w, v, KAFKA_NONE, name, topic);
        }
    } else {
        broker_write_i32(w, body->topic_count);
        for (int32_t i = 0; i < body->topic_count; i++) {
            struct broker_topic *topic = broker_find_topic(broker, body->topics[i]);
            int16_t error = topic || !errors ? KAFKA_NONE : errors[i];
            broker_write_metadata_topic(w, v, error, body->topics[i], topic);
        }
    }
    broker_response_end(conn, start);
}

/* ---- Produce ---- */

/* Validates and appends the batches of one partition's records. Returns
 * the Kafka error code; *base_offset is the first batch's offset. */
static int16_t broker_produce_partition(struct broker_conn *conn, struct broker_log *log,
                                        struct kafka_bytes records, int64_t *base_offset)
{
    struct broker *broker = conn->broker;
    *base_offset = -1;
    if (records.len <= 0)
        return KAFKA_INVALID_RECORD;
    /* Validate every batch before appending any. */
    int64_t position = 0;
    while (position < records.len) {
        struct broker_batch_info info;
        const char *why = "truncated record batch";
        enum broker_batch_status status =
            broker_batch_parse(records.ptr + position, (size_t)(records.len - position),
                               records.len - position, 1, &info, &why);
        if (status != BROKER_BATCH_OK) {
            int magic = records.len - position > BROKER_BATCH_MAGIC_OFFSET
                            ? records.ptr[position + BROKER_BATCH_MAGIC_OFFSET]
                            : 2;
            log_warn("%s: produce to %s rejected: %s", conn->peer, broker_log_name(log), why);
            return magic < 2 && magic >= 0 ? KAFKA_UNSUPPORTED_FOR_MESSAGE_FORMAT
                                           : KAFKA_CORRUPT_MESSAGE;
        }
        if (info.attributes & (BROKER_BATCH_TRANSACTIONAL | BROKER_BATCH_CONTROL)) {
            log_warn("%s: produce to %s rejected: transactional batches are not supported",
                     conn->peer, broker_log_name(log));
            return KAFKA_INVALID_RECORD;
        }
        position += info.size;
    }
    position = 0;
    int64_t now = broker_wall_ms();
    while (position < records.len) {
        struct broker_batch_info info;
        const char *why = NULL;
        broker_batch_parse(records.ptr + position, (size_t)(records.len - position),
                           records.len - position, 0, &info, &why);
        int64_t offset = -1;
        int check = broker_producer_check(broker_log_producers(log), &info, &offset);
        if (check > 0)
            return (int16_t)check;
        if (check == 0) {
            tp_err err;
            if (broker_log_append(log, records.ptr + position, &info, now, &offset, &err) < 0) {
                log_error("%s", err.msg);
                return KAFKA_KAFKA_STORAGE_ERROR;
            }
            broker_note_dirty_log(broker, log);
        }
        if (*base_offset < 0)
            *base_offset = offset;
        position += info.size;
    }
    return KAFKA_NONE;
}

static void broker_handle_produce(struct broker_conn *conn)
{
    struct broker *broker = conn->broker;
    const struct broker_request *req = &conn->request;
    const struct broker_produce_request *body = &req->body.produce;
    int16_t v = req->header.api_version;
    int send_response = body->acks != 0;
    struct broker_writer *w = &conn->out;
    size_t start = 0;
    if (send_response) {
        start = broker_response_begin(conn, req->header.correlation_id);
        broker_write_i32(w, body->topic_count);
    }
    for (int32_t t = 0; t < body->topic_count; t++) {
        const struct broker_produce_topic *topic = &body->topics[t];
        if (send_response) {
            broker_write_string(w, topic->name);
            broker_write_i32(w, topic->partition_count);
        }
        for (int32_t p = 0; p < topic->partition_count; p++) {
            const struct broker_produce_partition *partition = &topic->partitions[p];
            struct broker_log *log = broker_find_partition(broker, topic->name, partition->index);
            int16_t error;
            int64_t base_offset = -1;
            if (!log)
                error = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
            else if (body->acks != 0 && body->acks != 1 && body->acks != -1)
                error = KAFKA_INVALID_REQUIRED_ACKS;
            else if (body->transactional_id.len >= 0)
                error = KAFKA_INVALID_RECORD;
            else
                error = broker_produce_partition(conn, log, partition->records, &base_offset);
            if (!send_response)
                continue;
            broker_write_i32(w, partition->index);
            broker_write_i16(w, error);
            broker_write_i64(w, base_offset);
            if (v >= 2)
                broker_write_i64(w, -1); /* log_append_time: CreateTime */
            if (v >= 5)
                broker_write_i64(w, log ? broker_log_start_offset(log) : -1);
        }
    }
    if (send_response) {
        if (v >= 1)
            broker_write_i32(w, 0); /* throttle_time_ms, last for Produce */
        broker_response_end(conn, start);
    }
}

/* ---- Fetch ---- */

/* Writes the Fetch response; returns the record bytes it holds and counts
 * partitions answered with an error in *errors. */
static int64_t broker_write_fetch(struct broker_conn *conn, int *errors)
{
    struct broker *broker = conn->broker;
    const struct broker_request *req = &conn->request;
    const struct broker_fetch_request *body = &req->body.fetch;
    int16_t v = req->header.api_version;
    struct broker_writer *w = &conn->out;
    int64_t total = 0;
    int64_t max_bytes = body->max_bytes > 0 ? body->max_bytes : 0;
    if (max_bytes > BROKER_FETCH_RESPONSE_MAX)
        max_bytes = BROKER_FETCH_RESPONSE_MAX;
    if (v >= 1)
        broker_write_i32(w, 0);
    if (v >= 7) {
        broker_write_i16(w, KAFKA_NONE);
        broker_write_i32(w, 0); /* no fetch sessions */
    }
    broker_write_i32(w, body->topic_count);
    for (int32_t t = 0; t < body->topic_count; t++) {
        const struct broker_fetch_topic *topic = &body->topics[t];
        broker_write_string(w, topic->name);
        broker_write_i32(w, topic->partition_count);
        for (int32_t p = 0; p < topic->partition_count; p++) {
            const struct broker_fetch_partition *partition = &topic->partitions[p];
            struct broker_log *log = broker_find_partition(broker, topic->name, partition->index);
            int16_t error = log ? KAFKA_NONE : KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
            int64_t end = log ? broker_log_end_offset(log) : -1;
            int64_t log_start = log ? broker_log_start_offset(log) : -1;
            broker_write_i32(w, partition->index);
            size_t error_at = w->len;
            broker_write_i16(w, error);
            broker_write_i64(w, end);
            if (v >= 4)
                broker_write_i64(w, end); /* last_stable_offset: no transactions */
            if (v >= 5)
                broker_write_i64(w, log_start);
            if (v >= 4)
                broker_write_i32(w, 0); /* aborted_transactions: empty */
            if (v >= 11)
                broker_write_i32(w, -1); /* preferred_read_replica */
            size_t length_at = w->len;
            broker_write_i32(w, 0); /* records length: 0, never null */
            if (!log)
                (*errors)++;
            if (!log || w->failed)
                continue;
            int64_t limit = partition->max_bytes;
            if (limit > max_bytes - total)
                limit = max_bytes - total;
            if (limit < 0)
                limit = 0;
            int64_t bytes = 0;
            tp_err err;
            enum broker_log_read_status status = broker_log_read(
                log, partition->fetch_offset, limit, total < max_bytes, w, &bytes, &err);
            if (status != BROKER_LOG_READ_OK && !w->failed) {
                if (status == BROKER_LOG_READ_ERROR)
                    log_error("fetch: %s", err.msg);
                w->data[error_at] = 0;
                w->data[error_at + 1] = status == BROKER_LOG_READ_OUT_OF_RANGE
                                            ? KAFKA_OFFSET_OUT_OF_RANGE
                                            : KAFKA_KAFKA_STORAGE_ERROR;
                (*errors)++;
            }
            broker_write_i32_at(w, length_at, (int32_t)bytes);
            total += bytes;
        }
    }
    return total;
}

/* Bytes that arrived in the fetched partitions since the fetch parked;
 * -1 when a partition vanished (answer now). */
static int64_t broker_fetch_new_bytes(struct broker_conn *conn)
{
    const struct broker_fetch_request *body = &conn->request.body.fetch;
    int64_t bytes = 0;
    int i = 0;
    for (int32_t t = 0; t < body->topic_count; t++) {
        const struct broker_fetch_topic *topic = &body->topics[t];
        for (int32_t p = 0; p < topic->partition_count; p++, i++) {
            struct broker_log *log =
                broker_find_partition(conn->broker, topic->name, topic->partitions[p].index);
            if (!log)
                return -1;
            uint64_t appended = broker_log_appended(log);
            if (i < conn->park_partitions) {
                if (appended < conn->park_appended[i])
                    return -1;
                bytes += (int64_t)(appended - conn->park_appended[i]);
            }
        }
    }
    return bytes;
}

static enum broker_handle_result broker_handle_fetch(struct broker_conn *conn)
{
    struct broker *broker = conn->broker;
    const struct broker_fetch_request *body = &conn->request.body.fetch;
    size_t start = broker_response_begin(conn, conn->request.header.correlation_id);
    int errors = 0;
    int64_t bytes = broker_write_fetch(conn, &errors);
    int partitions = 0;
    for (int32_t t = 0; t < body->topic_count; t++)
        partitions += body->topics[t].partition_count;
    if (bytes >= body->min_bytes || body->max_wait_ms <= 0 || partitions == 0 || errors ||
        conn->out.failed) {
        broker_response_end(conn, start);
        return BROKER_HANDLED;
    }
    /* Not enough yet: forget this response and wait for data or max_wait. */
    conn->out.len = start;
    uint64_t *appended = realloc(conn->park_appended, (size_t)partitions * sizeof *appended);
    if (!appended || broker_add_fetch_waiter(broker, conn) < 0) {
        if (appended)
            conn->park_appended = appended;
        broker_write_fetch(conn, &errors);
        broker_response_end(conn, start);
        return BROKER_HANDLED;
    }
    conn->park_appended = appended;
    conn->park_partitions = partitions;
    int i = 0;
    for (int32_t t = 0; t < body->topic_count; t++)
        for (int32_t p = 0; p < body->topics[t].partition_count; p++, i++) {
            struct broker_log *log = broker_find_partition(broker, body->topics[t].name,
                                                           body->topics[t].partitions[p].index);
            appended[i] = log ? broker_log_appended(log) : 0;
        }
    conn->park_bytes = bytes;
    conn->park_deadline = broker->now_ms + body->max_wait_ms;
    conn->parked = BROKER_PARK_FETCH;
    return BROKER_PARKED;
}

int broker_fetch_try_complete(struct broker_conn *conn, int force)
{
    if (conn->parked != BROKER_PARK_FETCH || conn->closed)
        return 0;
    if (!force) {
        int64_t fresh = broker_fetch_new_bytes(conn);
        if (fresh >= 0 && conn->park_bytes + fresh < conn->request.body.fetch.min_bytes)
            return 0;
    }
    broker_remove_fetch_waiter(conn->broker, conn);
    size_t start = broker_response_begin(conn, conn->request.header.correlation_id);
    int errors = 0;
    broker_write_fetch(conn, &errors);
    broker_response_end(conn, start);
    broker_conn_resume(conn);
    return 1;
}

/* ---- ListOffsets ---- */

static void broker_handle_list_offsets(struct broker_conn *conn)
{
    struct broker *broker = conn->broker;
    const struct broker_request *req = &conn->request;
    const struct broker_list_offsets_request *body = &req->body.list_offsets;
    int16_t v = req->header.api_version;
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, req->header.correlation_id);
    if (v >= 2)
        broker_write_i32(w, 0);
    broker_write_i32(w, body->topic_count);
    for (int32_t t = 0; t < body->topic_count; t++) {
        const struct broker_list_offsets_topic *topic = &body->topics[t];
        broker_write_string(w, topic->name);
        broker_write_i32(w, topic->partition_count);
        for (int32_t p = 0; p < topic->partition_count; p++) {
            const struct broker_list_offsets_partition *partition = &topic->partitions[p];
            struct broker_log *log = broker_find_partition(broker, topic->name, partition->index);
            int16_t error = log ? KAFKA_NONE : KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
            int64_t offset = -1, timestamp = -1;
            if (log && partition->timestamp == -1)
                offset = broker_log_end_offset(log);
            else if (log && partition->timestamp == -2)
                offset = broker_log_start_offset(log);
            else if (log) {
                tp_err err;
                offset =
                    broker_log_offset_for_timestamp(log, partition->timestamp, &timestamp, &err);
                if (offset < -1) {
                    log_error("list offsets: %s", err.msg);
                    error = KAFKA_KAFKA_STORAGE_ERROR;
                    offset = -1;
                }
            }
            broker_write_i32(w, partition->index);
            broker_write_i16(w, error);
            if (v == 0) {
                int show = error == KAFKA_NONE && offset >= 0 && partition->max_offsets > 0;
                broker_write_i32(w, show ? 1 : 0);
                if (show)
                    broker_write_i64(w, offset);
            } else {
                broker_write_i64(w, offset >= 0 ? timestamp : -1);
                broker_write_i64(w, offset);
            }
        }
    }
    broker_response_end(conn, start);
}

/* ---- CreateTopics, DeleteTopics ---- */

static void broker_handle_create_topics(struct broker_conn *conn)
{
    struct broker *broker = conn->broker;
    const struct broker_request *req = &conn->request;
    const struct broker_create_topics_request *body = &req->body.create_topics;
    int16_t v = req->header.api_version;
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, req->header.correlation_id);
    if (v >= 2)
        broker_write_i32(w, 0);
    broker_write_i32(w, body->topic_count);
    for (int32_t t = 0; t < body->topic_count; t++) {
        const struct broker_create_topic *topic = &body->topics[t];
        int32_t partitions = topic->partitions;
        if (partitions == -1)
            partitions =
                topic->assignment_count > 0 ? topic->assignment_count : broker->config.partitions;
        int16_t error = KAFKA_NONE;
        char message[200] = "";
        if (!broker_topic_name_valid(topic->name.ptr,
                                     (size_t)(topic->name.len < 0 ? 0 : topic->name.len))) {
            error = KAFKA_INVALID_TOPIC;
            snprintf(message, sizeof message, "invalid topic name (1-249 of a-z A-Z 0-9 . _ -)");
        } else if (broker_find_topic(broker, topic->name)) {
            error = KAFKA_TOPIC_ALREADY_EXISTS;
            snprintf(message, sizeof message, "topic already exists");
        } else if (topic->replication_factor != -1 && topic->replication_factor != 1) {
            error = KAFKA_INVALID_REPLICATION_FACTOR;
            snprintf(message, sizeof message, "replication factor %d: this broker is one node",
                     topic->replication_factor);
        } else if (partitions < 1 || partitions > BROKER_MAX_PARTITIONS) {
            error = KAFKA_INVALID_PARTITIONS;
            snprintf(message, sizeof message, "%d partitions (allowed: 1 to %d)", partitions,
                     BROKER_MAX_PARTITIONS);
        } else if (!body->validate_only) {
            tp_err err;
            struct broker_topic *created = broker_topics_create(
                broker->topics, topic->name.ptr, (size_t)topic->name.len, partitions, &err);
            if (!created) {
                log_error("%s", err.msg);
                error = KAFKA_KAFKA_STORAGE_ERROR;
                snprintf(message, sizeof message, "%s", err.msg);
            } else {
                log_notice("created topic %s with %d partitions (requested by %s)", created->name,
                           partitions, conn->peer);
            }
        }
        broker_write_string(w, topic->name);
        broker_write_i16(w, error);
        if (v >= 1)
            broker_write_cstring(w, error ? message : NULL);
    }
    broker_response_end(conn, start);
}

static void broker_handle_delete_topics(struct broker_conn *conn)
{
    struct broker *broker = conn->broker;
    const struct broker_request *req = &conn->request;
    const struct broker_delete_topics_request *body = &req->body.delete_topics;
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, req->header.correlation_id);
    if (req->header.api_version >= 1)
        broker_write_i32(w, 0);
    broker_write_i32(w, body->topic_count);
    for (int32_t t = 0; t < body->topic_count; t++) {
        struct broker_topic *topic = broker_find_topic(broker, body->topics[t]);
        int16_t error = KAFKA_NONE;
        if (!topic) {
            error = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
        } else {
            char name[256];
            snprintf(name, sizeof name, "%s", topic->name);
            for (int p = 0; p < topic->partition_count; p++)
                broker_forget_log(broker, topic->partitions[p]);
            tp_err err;
            if (broker_offsets_delete_topic(broker->offsets, name, &err) < 0)
                log_error("%s", err.msg);
            if (broker_topics_delete(broker->topics, topic, &err) < 0) {
                log_error("%s", err.msg);
                error = KAFKA_KAFKA_STORAGE_ERROR;
            } else {
                log_notice("deleted topic %s (requested by %s)", name, conn->peer);
            }
        }
        broker_write_string(w, body->topics[t]);
        broker_write_i16(w, error);
    }
    broker_response_end(conn, start);
}

/* ---- InitProducerId, FindCoordinator ---- */

static void broker_handle_init_producer_id(struct broker_conn *conn)
{
    const struct broker_request *req = &conn->request;
    int16_t error = KAFKA_NONE;
    int64_t producer_id = -1;
    if (req->body.init_producer_id.transactional_id.len >= 0) {
        error = KAFKA_COORDINATOR_NOT_AVAILABLE; /* transactions are not supported */
    } else {
        tp_err err;
        producer_id = broker_allocate_producer_id(conn->broker, &err);
        if (producer_id < 0) {
            log_error("%s", err.msg);
            error = KAFKA_KAFKA_STORAGE_ERROR;
        }
    }
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, req->header.correlation_id);
    broker_write_i32(w, 0);
    broker_write_i16(w, error);
    broker_write_i64(w, producer_id);
    broker_write_i16(w, error ? -1 : 0);
    broker_response_end(conn, start);
}

static void broker_handle_find_coordinator(struct broker_conn *conn)
{
    const struct broker_request *req = &conn->request;
    int16_t v = req->header.api_version;
    int transaction = req->body.find_coordinator.key_type != 0;
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, req->header.correlation_id);
    if (v >= 1)
        broker_write_i32(w, 0);
    broker_write_i16(w, transaction ? KAFKA_COORDINATOR_NOT_AVAILABLE : KAFKA_NONE);
    if (v >= 1)
        broker_write_cstring(w, transaction ? "transactions are not supported" : NULL);
    broker_write_i32(w, transaction ? -1 : BROKER_NODE_ID);
    broker_write_cstring(w, transaction ? "" : conn->advertised);
    broker_write_i32(w, transaction ? -1 : conn->advertised_port);
    broker_response_end(conn, start);
}

/* ---- dispatch ---- */

enum broker_handle_result broker_handle_frame(struct broker_conn *conn, uint8_t *frame, size_t len)
{
    struct broker_request *req = &conn->request;
    uint8_t *body;
    size_t body_len;
    const char *why = NULL;
    memset(req, 0, sizeof *req);
    if (broker_request_decode_header(frame, len, &req->header, &body, &body_len, &why) < 0) {
        log_warn("%s: malformed request header (%s), closing", conn->peer, why);
        return BROKER_CLOSE;
    }
    const struct broker_request_header *h = &req->header;
    const struct broker_api_range *api = broker_api_find(h->api_key);
    if (!api) {
        log_warn("%s: unsupported API key %d (v%d, client %.*s), closing", conn->peer, h->api_key,
                 h->api_version, h->client_id.len > 0 ? (int)h->client_id.len : 0,
                 h->client_id.len > 0 ? h->client_id.ptr : "");
        return BROKER_CLOSE;
    }
    if (h->api_version < api->min_version || h->api_version > api->max_version) {
        if (h->api_key == BROKER_API_API_VERSIONS) {
            broker_reply_api_versions_unsupported(conn, h->correlation_id);
            return BROKER_HANDLED;
        }
        log_warn("%s: unsupported %s version %d (supported %d-%d), closing", conn->peer, api->name,
                 h->api_version, api->min_version, api->max_version);
        return BROKER_CLOSE;
    }
    if (broker_request_decode_body(req, body, body_len, &conn->arena, &why) < 0) {
        log_warn("%s: malformed %s v%d request (%s), closing", conn->peer, api->name,
                 h->api_version, why);
        return BROKER_CLOSE;
    }
    log_trace("%s: %s v%d correlation %d", conn->peer, api->name, h->api_version,
              h->correlation_id);
    switch ((enum broker_api)h->api_key) {
    case BROKER_API_API_VERSIONS:
        broker_handle_api_versions(conn);
        break;
    case BROKER_API_METADATA:
        broker_handle_metadata(conn);
        break;
    case BROKER_API_PRODUCE:
        broker_handle_produce(conn);
        break;
    case BROKER_API_FETCH:
        return broker_handle_fetch(conn);
    case BROKER_API_LIST_OFFSETS:
        broker_handle_list_offsets(conn);
        break;
    case BROKER_API_CREATE_TOPICS:
        broker_handle_create_topics(conn);
        break;
    case BROKER_API_DELETE_TOPICS:
        broker_handle_delete_topics(conn);
        break;
    case BROKER_API_INIT_PRODUCER_ID:
        broker_handle_init_producer_id(conn);
        break;
    case BROKER_API_FIND_COORDINATOR:
        broker_handle_find_coordinator(conn);
        break;
    case BROKER_API_OFFSET_COMMIT:
    case BROKER_API_OFFSET_FETCH:
    case BROKER_API_JOIN_GROUP:
    case BROKER_API_HEARTBEAT:
    case BROKER_API_LEAVE_GROUP:
    case BROKER_API_SYNC_GROUP:
    case BROKER_API_DESCRIBE_GROUPS:
    case BROKER_API_LIST_GROUPS:
        return broker_group_handle(conn);
    }
    if (conn->out.failed) {
        log_error("%s: out of memory building a response, closing", conn->peer);
        return BROKER_CLOSE;
    }
    return BROKER_HANDLED;
}
