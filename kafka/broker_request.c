/*
 * broker_request: the advertised API table and one decoder per API.
 * Each decoder follows the field list of the Apache Kafka message schema
 * for versions the broker advertises (see /work/shared/KAFKA-PROTOCOL.md
 * §1b); fields that appear at "vN+" are read only from that version on.
 */
#include "kafka/broker_request.h"

#include <stdio.h>

static const struct broker_api_range broker_apis[] = {
    {BROKER_API_PRODUCE, 0, 7, "Produce"},
    {BROKER_API_FETCH, 0, 11, "Fetch"},
    {BROKER_API_LIST_OFFSETS, 0, 2, "ListOffsets"},
    {BROKER_API_METADATA, 0, 4, "Metadata"},
    {BROKER_API_OFFSET_COMMIT, 0, 7, "OffsetCommit"},
    {BROKER_API_OFFSET_FETCH, 0, 5, "OffsetFetch"},
    {BROKER_API_FIND_COORDINATOR, 0, 2, "FindCoordinator"},
    {BROKER_API_JOIN_GROUP, 0, 5, "JoinGroup"},
    {BROKER_API_HEARTBEAT, 0, 3, "Heartbeat"},
    {BROKER_API_LEAVE_GROUP, 0, 1, "LeaveGroup"},
    {BROKER_API_SYNC_GROUP, 0, 3, "SyncGroup"},
    {BROKER_API_DESCRIBE_GROUPS, 0, 4, "DescribeGroups"},
    {BROKER_API_LIST_GROUPS, 0, 2, "ListGroups"},
    {BROKER_API_API_VERSIONS, 0, 3, "ApiVersions"},
    {BROKER_API_CREATE_TOPICS, 0, 4, "CreateTopics"},
    {BROKER_API_DELETE_TOPICS, 0, 3, "DeleteTopics"},
    {BROKER_API_INIT_PRODUCER_ID, 0, 1, "InitProducerId"},
};

#define BROKER_API_COUNT (sizeof broker_apis / sizeof broker_apis[0])

const struct broker_api_range *broker_api_ranges(size_t *n)
{
    *n = BROKER_API_COUNT;
    return broker_apis;
}

const struct broker_api_range *broker_api_find(int16_t key)
{
    for (size_t i = 0; i < BROKER_API_COUNT; i++)
        if (broker_apis[i].key == key)
            return &broker_apis[i];
    return NULL;
}

const char *broker_api_name(int16_t key)
{
    const struct broker_api_range *api = broker_api_find(key);
    if (api)
        return api->name;
    static _Thread_local char unknown[24];
    snprintf(unknown, sizeof unknown, "api %d", key);
    return unknown;
}

/* First flexible version of each implemented API (Apache Kafka schemas). */
int broker_api_is_flexible(int16_t key, int16_t version)
{
    static const struct {
        int16_t key;
        int16_t first_flexible;
    } table[] = {
        {BROKER_API_PRODUCE, 9},          {BROKER_API_FETCH, 12},
        {BROKER_API_LIST_OFFSETS, 6},     {BROKER_API_METADATA, 9},
        {BROKER_API_OFFSET_COMMIT, 8},    {BROKER_API_OFFSET_FETCH, 6},
        {BROKER_API_FIND_COORDINATOR, 3}, {BROKER_API_JOIN_GROUP, 6},
        {BROKER_API_HEARTBEAT, 4},        {BROKER_API_LEAVE_GROUP, 4},
        {BROKER_API_SYNC_GROUP, 4},       {BROKER_API_DESCRIBE_GROUPS, 5},
        {BROKER_API_LIST_GROUPS, 3},      {BROKER_API_API_VERSIONS, 3},
        {BROKER_API_CREATE_TOPICS, 5},    {BROKER_API_DELETE_TOPICS, 4},
        {BROKER_API_INIT_PRODUCER_ID, 2},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (table[i].key == key)
            return version >= table[i].first_flexible;
    return 0;
}

int broker_request_decode_header(uint8_t *frame, size_t len, struct broker_request_header *header,
                                 uint8_t **body, size_t *body_len, const char **why)
{
    struct broker_reader r;
    broker_reader_init(&r, frame, len);
    header->api_key = broker_read_i16(&r);
    header->api_version = broker_read_i16(&r);
    header->correlation_id = broker_read_i32(&r);
    header->client_id = broker_read_nullable_string(&r);
    /* Header v2 (tags) only matters for versions we decode; an unsupported
     * version is answered or refused from the first fields alone. */
    const struct broker_api_range *api = broker_api_find(header->api_key);
    if (!r.error && api && header->api_version >= api->min_version &&
        header->api_version <= api->max_version &&
        broker_api_is_flexible(header->api_key, header->api_version))
        broker_read_skip_tags(&r);
    if (r.error) {
        *why = r.error;
        return -1;
    }
    *body = r.p;
    *body_len = (size_t)(r.end - r.p);
    return 0;
}

/* Allocates count elements of size bytes, failing the reader when the
 * arena is exhausted. */
static void *broker_decode_alloc(struct broker_reader *r, struct broker_arena *arena, int32_t count,
                                 size_t size)
{
    if (r->error || count <= 0)
        return NULL;
    void *p = broker_arena_alloc(arena, (size_t)count * size);
    if (!p)
        broker_reader_fail(r, "out of memory");
    return p;
}

static void broker_decode_produce(struct broker_reader *r, int16_t v, struct broker_arena *arena,
                                  struct broker_produce_request *req)
{
    req->transactional_id = (struct kafka_str){NULL, -1};
    if (v >= 3)
        req->transactional_id = broker_read_nullable_string(r);
    req->acks = broker_read_i16(r);
    req->timeout_ms = broker_read_i32(r);
    req->topic_count = broker_read_array(r, 6, 0);
    req->topics = broker_decode_alloc(r, arena, req->topic_count, sizeof *req->topics);
    for (int32_t t = 0; t < req->topic_count && !r->error; t++) {
        struct broker_produce_topic *topic = &req->topics[t];
        topic->name = broker_read_string(r);
        topic->partition_count = broker_read_array(r, 8, 0);
        topic->partitions =
            broker_decode_alloc(r, arena, topic->partition_count, sizeof *topic->partitions);
        for (int32_t p = 0; p < topic->partition_count && !r->error; p++) {
            topic->partitions[p].index = broker_read_i32(r);
            topic->partitions[p].records = broker_read_bytes(r);
        }
    }
}

static void broker_decode_fetch(struct broker_reader *r, int16_t v, struct broker_arena *arena,
                                struct broker_fetch_request *req)
{
    broker_read_i32(r); /* replica_id */
    req->max_wait_ms = broker_read_i32(r);
    req->min_bytes = broker_read_i32(r);
    req->max_bytes = v >= 3 ? broker_read_i32(r) : INT32_MAX;
    req->isolation_level = v >= 4 ? broker_read_i8(r) : 0;
    req->session_id = v >= 7 ? broker_read_i32(r) : 0;
    req->session_epoch = v >= 7 ? broker_read_i32(r) : -1;
    req->topic_count = broker_read_array(r, 6, 0);
    req->topics = broker_decode_alloc(r, arena, req->topic_count, sizeof *req->topics);
    for (int32_t t = 0; t < req->topic_count && !r->error; t++) {
        struct broker_fetch_topic *topic = &req->topics[t];
        topic->name = broker_read_string(r);
        topic->partition_count = broker_read_array(r, 16, 0);
        topic->partitions =
            broker_decode_alloc(r, arena, topic->partition_count, sizeof *topic->partitions);
        for (int32_t p = 0; p < topic->partition_count && !r->error; p++) {
            struct broker_fetch_partition *partition = &topic->partitions[p];
            partition->index = broker_read_i32(r);
            if (v >= 9)
                broker_read_i32(r); /* current_leader_epoch */
            partition->fetch_offset = broker_read_i64(r);
            if (v >= 5)
                broker_read_i64(r); /* log_start_offset (followers only) */
            partition->max_bytes = broker_read_i32(r);
        }
    }
    if (v >= 7) {
        int32_t forgotten = broker_read_array(r, 6, 0);
        for (int32_t t = 0; t < forgotten && !r->error; t++) {
            broker_read_string(r);
            int32_t n = broker_read_array(r, 4, 0);
            for (int32_t p = 0; p < n && !r->error; p++)
                broker_read_i32(r);
        }
    }
    if (v >= 11)
        broker_read_string(r); /* rack_id */
}

static void broker_decode_list_offsets(struct broker_reader *r, int16_t v,
                                       struct broker_arena *arena,
                                       struct broker_list_offsets_request *req)
{
    broker_read_i32(r); /* replica_id */
    req->isolation_level = v >= 2 ? broker_read_i8(r) : 0;
    req->topic_count = broker_read_array(r, 6, 0);
    req->topics = broker_decode_alloc(r, arena, req->topic_count, sizeof *req->topics);
    for (int32_t t = 0; t < req->topic_count && !r->error; t++) {
        struct broker_list_offsets_topic *topic = &req->topics[t];
        topic->name = broker_read_string(r);
        topic->partition_count = broker_read_array(r, 12, 0);
        topic->partitions =
            broker_decode_alloc(r, arena, topic->partition_count, sizeof *topic->partitions);
        for (int32_t p = 0; p < topic->partition_count && !r->error; p++) {
            topic->partitions[p].index = broker_read_i32(r);
            topic->partitions[p].timestamp = broker_read_i64(r);
            topic->partitions[p].max_offsets = v == 0 ? broker_read_i32(r) : 1;
        }
    }
}

/* An array of STRING into the arena. */
static struct kafka_str *broker_decode_strings(struct broker_reader *r, struct broker_arena *arena,
                                               int32_t count)
{
    struct kafka_str *strings = broker_decode_alloc(r, arena, count, sizeof *strings);
    for (int32_t i = 0; i < count && !r->error; i++)
        strings[i] = broker_read_string(r);
    return strings;
}

static void broker_decode_metadata(struct broker_reader *r, int16_t v, struct broker_arena *arena,
                                   struct broker_metadata_request *req)
{
    req->topic_count = broker_read_array(r, 2, v >= 1);
    if (v == 0 && req->topic_count == 0)
        req->topic_count = -1; /* v0: an empty list means every topic */
    req->topics = broker_decode_strings(r, arena, req->topic_count);
    req->allow_auto_create = v >= 4 ? broker_read_bool(r) : 1;
}

static void broker_decode_offset_commit(struct broker_reader *r, int16_t v,
                                        struct broker_arena *arena,
                                        struct broker_offset_commit_request *req)
{
    req->group_id = broker_read_string(r);
    req->generation_id = v >= 1 ? broker_read_i32(r) : -1;
    req->member_id = v >= 1 ? broker_read_string(r) : (struct kafka_str){"", 0};
    req->group_instance_id = v >= 7 ? broker_read_nullable_string(r) : (struct kafka_str){NULL, -1};
    if (v >= 2 && v <= 4)
        broker_read_i64(r); /* retention_time_ms */
    req->topic_count = broker_read_array(r, 6, 0);
    req->topics = broker_decode_alloc(r, arena, req->topic_count, sizeof *req->topics);
    for (int32_t t = 0; t < req->topic_count && !r->error; t++) {
        struct broker_commit_topic *topic = &req->topics[t];
        topic->name = broker_read_string(r);
        topic->partition_count = broker_read_array(r, 14, 0);
        topic->partitions =
            broker_decode_alloc(r, arena, topic->partition_count, sizeof *topic->partitions);
        for (int32_t p = 0; p < topic->partition_count && !r->error; p++) {
            struct broker_commit_partition *partition = &topic->partitions[p];
            partition->index = broker_read_i32(r);
            partition->offset = broker_read_i64(r);
            if (v >= 6)
                broker_read_i32(r); /* committed_leader_epoch */
            if (v == 1)
                broker_read_i64(r); /* commit_timestamp */
            partition->metadata = broker_read_nullable_string(r);
        }
    }
}

static void broker_decode_offset_fetch(struct broker_reader *r, int16_t v,
                                       struct broker_arena *arena,
                                       struct broker_offset_fetch_request *req)
{
    req->group_id = broker_read_string(r);
    req->topic_count = broker_read_array(r, 6, v >= 2);
    req->topics = broker_decode_alloc(r, arena, req->topic_count, sizeof *req->topics);
    for (int32_t t = 0; t < req->topic_count && !r->error; t++) {
        struct broker_offset_fetch_topic *topic = &req->topics[t];
        topic->name = broker_read_string(r);
        topic->partition_count = broker_read_array(r, 4, 0);
        topic->partitions =
            broker_decode_alloc(r, arena, topic->partition_count, sizeof *topic->partitions);
        for (int32_t p = 0; p < topic->partition_count && !r->error; p++)
            topic->partitions[p] = broker_read_i32(r);
    }
}

static void broker_decode_join_group(struct broker_reader *r, int16_t v, struct broker_arena *arena,
                                     struct broker_join_group_request *req)
{
    req->group_id = broker_read_string(r);
    req->session_timeout_ms = broker_read_i32(r);
    req->rebalance_timeout_ms = v >= 1 ? broker_read_i32(r) : req->session_timeout_ms;
    req->member_id = broker_read_string(r);
    req->group_instance_id = v >= 5 ? broker_read_nullable_string(r) : (struct kafka_str){NULL, -1};
    req->protocol_type = broker_read_string(r);
    req->protocol_count = broker_read_array(r, 6, 0);
    req->protocols = broker_decode_alloc(r, arena, req->protocol_count, sizeof *req->protocols);
    for (int32_t i = 0; i < req->protocol_count && !r->error; i++) {
        req->protocols[i].name = broker_read_string(r);
        req->protocols[i].metadata = broker_read_bytes(r);
    }
}

static void broker_decode_sync_group(struct broker_reader *r, int16_t v, struct broker_arena *arena,
                                     struct broker_sync_group_request *req)
{
    req->group_id = broker_read_string(r);
    req->generation_id = broker_read_i32(r);
    req->member_id = broker_read_string(r);
    req->group_instance_id = v >= 3 ? broker_read_nullable_string(r) : (struct kafka_str){NULL, -1};
    req->assignment_count = broker_read_array(r, 6, 0);
    req->assignments =
        broker_decode_alloc(r, arena, req->assignment_count, sizeof *req->assignments);
    for (int32_t i = 0; i < req->assignment_count && !r->error; i++) {
        req->assignments[i].member_id = broker_read_string(r);
        req->assignments[i].assignment = broker_read_bytes(r);
    }
}

static void broker_decode_heartbeat(struct broker_reader *r, int16_t v,
                                    struct broker_heartbeat_request *req)
{
    req->group_id = broker_read_string(r);
    req->generation_id = broker_read_i32(r);
    req->member_id = broker_read_string(r);
    req->group_instance_id = v >= 3 ? broker_read_nullable_string(r) : (struct kafka_str){NULL, -1};
}

static void broker_decode_create_topics(struct broker_reader *r, int16_t v,
                                        struct broker_arena *arena,
                                        struct broker_create_topics_request *req)
{
    req->topic_count = broker_read_array(r, 16, 0);
    req->topics = broker_decode_alloc(r, arena, req->topic_count, sizeof *req->topics);
    for (int32_t t = 0; t < req->topic_count && !r->error; t++) {
        struct broker_create_topic *topic = &req->topics[t];
        topic->name = broker_read_string(r);
        topic->partitions = broker_read_i32(r);
        topic->replication_factor = broker_read_i16(r);
        topic->assignment_count = broker_read_array(r, 8, 0);
        for (int32_t a = 0; a < topic->assignment_count && !r->error; a++) {
            broker_read_i32(r); /* partition index */
            int32_t brokers = broker_read_array(r, 4, 0);
            for (int32_t b = 0; b < brokers && !r->error; b++)
                broker_read_i32(r);
        }
        topic->config_count = broker_read_array(r, 4, 0);
        for (int32_t c = 0; c < topic->config_count && !r->error; c++) {
            broker_read_string(r);
            broker_read_nullable_string(r);
        }
    }
    req->timeout_ms = broker_read_i32(r);
    req->validate_only = v >= 1 ? broker_read_bool(r) : 0;
}

int broker_request_decode_body(struct broker_request *req, uint8_t *body, size_t len,
                               struct broker_arena *arena, const char **why)
{
    struct broker_reader reader;
    struct broker_reader *r = &reader;
    broker_reader_init(r, body, len);
    int16_t v = req->header.api_version;
    const struct broker_api_range *api = broker_api_find(req->header.api_key);
    if (!api || v < api->min_version || v > api->max_version) {
        *why = "unsupported API or version";
        return -1;
    }
    switch ((enum broker_api)req->header.api_key) {
    case BROKER_API_PRODUCE:
        broker_decode_produce(r, v, arena, &req->body.produce);
        break;
    case BROKER_API_FETCH:
        broker_decode_fetch(r, v, arena, &req->body.fetch);
        break;
    case BROKER_API_LIST_OFFSETS:
        broker_decode_list_offsets(r, v, arena, &req->body.list_offsets);
        break;
    case BROKER_API_METADATA:
        broker_decode_metadata(r, v, arena, &req->body.metadata);
        break;
    case BROKER_API_OFFSET_COMMIT:
        broker_decode_offset_commit(r, v, arena, &req->body.offset_commit);
        break;
    case BROKER_API_OFFSET_FETCH:
        broker_decode_offset_fetch(r, v, arena, &req->body.offset_fetch);
        break;
    case BROKER_API_FIND_COORDINATOR:
        req->body.find_coordinator.key = broker_read_string(r);
        req->body.find_coordinator.key_type = v >= 1 ? broker_read_i8(r) : 0;
        break;
    case BROKER_API_JOIN_GROUP:
        broker_decode_join_group(r, v, arena, &req->body.join_group);
        break;
    case BROKER_API_HEARTBEAT:
        broker_decode_heartbeat(r, v, &req->body.heartbeat);
        break;
    case BROKER_API_LEAVE_GROUP:
        req->body.leave_group.group_id = broker_read_string(r);
        req->body.leave_group.member_id = broker_read_string(r);
        break;
    case BROKER_API_SYNC_GROUP:
        broker_decode_sync_group(r, v, arena, &req->body.sync_group);
        break;
    case BROKER_API_DESCRIBE_GROUPS: {
        struct broker_describe_groups_request *d = &req->body.describe_groups;
        d->group_count = broker_read_array(r, 2, 0);
        d->groups = broker_decode_strings(r, arena, d->group_count);
        d->include_authorized_operations = v >= 3 ? broker_read_bool(r) : 0;
        break;
    }
    case BROKER_API_LIST_GROUPS:
        break;
    case BROKER_API_API_VERSIONS:
        req->body.api_versions.software_name = (struct kafka_str){NULL, -1};
        req->body.api_versions.software_version = (struct kafka_str){NULL, -1};
        if (v >= 3) {
            req->body.api_versions.software_name = broker_read_compact_string(r);
            req->body.api_versions.software_version = broker_read_compact_string(r);
            broker_read_skip_tags(r);
        }
        break;
    case BROKER_API_CREATE_TOPICS:
        broker_decode_create_topics(r, v, arena, &req->body.create_topics);
        break;
    case BROKER_API_DELETE_TOPICS: {
        struct broker_delete_topics_request *d = &req->body.delete_topics;
        d->topic_count = broker_read_array(r, 2, 0);
        d->topics = broker_decode_strings(r, arena, d->topic_count);
        d->timeout_ms = broker_read_i32(r);
        break;
    }
    case BROKER_API_INIT_PRODUCER_ID:
        req->body.init_producer_id.transactional_id = broker_read_nullable_string(r);
        req->body.init_producer_id.transaction_timeout_ms = broker_read_i32(r);
        break;
    }
    if (!r->error && r->p != r->end)
        broker_reader_fail(r, "trailing bytes after the request body");
    if (r->error) {
        *why = r->error;
        return -1;
    }
    return 0;
}
