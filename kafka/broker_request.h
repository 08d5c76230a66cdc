/*
 * broker_request: the request side of the Kafka protocol as the broker
 * speaks it: which APIs and versions it implements (the table ApiVersions
 * advertises), the request header, and one decoder per API that turns a
 * frame into plain structs. Decoders have no side effects, which is what
 * the fuzz harness exercises. Strings point into the frame; arrays live in
 * the caller's arena. Errors: -1 with a static reason in *why.
 */
#ifndef TICKPIPE_BROKER_REQUEST_H
#define TICKPIPE_BROKER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "kafka/broker_codec.h"

enum broker_api {
    BROKER_API_PRODUCE = 0,
    BROKER_API_FETCH = 1,
    BROKER_API_LIST_OFFSETS = 2,
    BROKER_API_METADATA = 3,
    BROKER_API_OFFSET_COMMIT = 8,
    BROKER_API_OFFSET_FETCH = 9,
    BROKER_API_FIND_COORDINATOR = 10,
    BROKER_API_JOIN_GROUP = 11,
    BROKER_API_HEARTBEAT = 12,
    BROKER_API_LEAVE_GROUP = 13,
    BROKER_API_SYNC_GROUP = 14,
    BROKER_API_DESCRIBE_GROUPS = 15,
    BROKER_API_LIST_GROUPS = 16,
    BROKER_API_API_VERSIONS = 18,
    BROKER_API_CREATE_TOPICS = 19,
    BROKER_API_DELETE_TOPICS = 20,
    BROKER_API_INIT_PRODUCER_ID = 22,
};

struct broker_api_range {
    int16_t key;
    int16_t min_version;
    int16_t max_version;
    const char *name;
};

/* The implemented APIs in key order; count in *n. */
const struct broker_api_range *broker_api_ranges(size_t *n);
/* The range for a key, or NULL when the API is not implemented. */
const struct broker_api_range *broker_api_find(int16_t key);
/* "Produce", or "api 42" for an unknown key (static storage). */
const char *broker_api_name(int16_t key);

struct broker_request_header {
    int16_t api_key;
    int16_t api_version;
    int32_t correlation_id;
    struct kafka_str client_id;
};

struct broker_produce_partition {
    int32_t index;
    struct kafka_bytes records;
};
struct broker_produce_topic {
    struct kafka_str name;
    int32_t partition_count;
    struct broker_produce_partition *partitions;
};
struct broker_produce_request {
    struct kafka_str transactional_id;
    int16_t acks;
    int32_t timeout_ms;
    int32_t topic_count;
    struct broker_produce_topic *topics;
};

struct broker_fetch_partition {
    int32_t index;
    int64_t fetch_offset;
    int32_t max_bytes;
};
struct broker_fetch_topic {
    struct kafka_str name;
    int32_t partition_count;
    struct broker_fetch_partition *partitions;
};
struct broker_fetch_request {
    int32_t max_wait_ms;
    int32_t min_bytes;
    int32_t max_bytes;
    int8_t isolation_level;
    int32_t session_id;
    int32_t session_epoch;
    int32_t topic_count;
    struct broker_fetch_topic *topics;
};

struct broker_list_offsets_partition {
    int32_t index;
    int64_t timestamp;
    int32_t max_offsets; /* v0 only */
};
struct broker_list_offsets_topic {
    struct kafka_str name;
    int32_t partition_count;
    struct broker_list_offsets_partition *partitions;
};
struct broker_list_offsets_request {
    int8_t isolation_level;
    int32_t topic_count;
    struct broker_list_offsets_topic *topics;
};

struct broker_metadata_request {
    int32_t topic_count; /* -1: all topics */
    struct kafka_str *topics;
    int allow_auto_create;
};

struct broker_commit_partition {
    int32_t index;
    int64_t offset;
    struct kafka_str metadata;
};
struct broker_commit_topic {
    struct kafka_str name;
    int32_t partition_count;
    struct broker_commit_partition *partitions;
};
struct broker_offset_commit_request {
    struct kafka_str group_id;
    int32_t generation_id; /* -1 below v1 */
    struct kafka_str member_id;
    struct kafka_str group_instance_id;
    int32_t topic_count;
    struct broker_commit_topic *topics;
};

struct broker_offset_fetch_topic {
    struct kafka_str name;
    int32_t partition_count;
    int32_t *partitions;
};
struct broker_offset_fetch_request {
    struct kafka_str group_id;
    int32_t topic_count; /* -1: every committed partition of the group */
    struct broker_offset_fetch_topic *topics;
};

struct broker_find_coordinator_request {
    struct kafka_str key;
    int8_t key_type;
};

struct broker_join_protocol {
    struct kafka_str name;
    struct kafka_bytes metadata;
};
struct broker_join_group_request {
    struct kafka_str group_id;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    struct kafka_str member_id;
    struct kafka_str group_instance_id;
    struct kafka_str protocol_type;
    int32_t protocol_count;
    struct broker_join_protocol *protocols;
};

struct broker_sync_assignment {
    struct kafka_str member_id;
    struct kafka_bytes assignment;
};
struct broker_sync_group_request {
    struct kafka_str group_id;
    int32_t generation_id;
    struct kafka_str member_id;
    struct kafka_str group_instance_id;
    int32_t assignment_count;
    struct broker_sync_assignment *assignments;
};

struct broker_heartbeat_request {
    struct kafka_str group_id;
    int32_t generation_id;
    struct kafka_str member_id;
    struct kafka_str group_instance_id;
};

struct broker_leave_group_request {
    struct kafka_str group_id;
    struct kafka_str member_id;
};

struct broker_describe_groups_request {
    int32_t group_count;
    struct kafka_str *groups;
    int include_authorized_operations;
};

struct broker_api_versions_request {
    struct kafka_str software_name; /* v3+ */
    struct kafka_str software_version;
};

struct broker_create_topic {
    struct kafka_str name;
    int32_t partitions;
    int16_t replication_factor;
    int32_t assignment_count;
    int32_t config_count;
};
struct broker_create_topics_request {
    int32_t topic_count;
    struct broker_create_topic *topics;
    int32_t timeout_ms;
    int validate_only;
};

struct broker_delete_topics_request {
    int32_t topic_count;
    struct kafka_str *topics;
    int32_t timeout_ms;
};

struct broker_init_producer_id_request {
    struct kafka_str transactional_id;
    int32_t transaction_timeout_ms;
};

struct broker_request {
    struct broker_request_header header;
    union {
        struct broker_produce_request produce;
        struct broker_fetch_request fetch;
        struct broker_list_offsets_request list_offsets;
        struct broker_metadata_request metadata;
        struct broker_offset_commit_request offset_commit;
        struct broker_offset_fetch_request offset_fetch;
        struct broker_find_coordinator_request find_coordinator;
        struct broker_join_group_request join_group;
        struct broker_sync_group_request sync_group;
        struct broker_heartbeat_request heartbeat;
        struct broker_leave_group_request leave_group;
        struct broker_describe_groups_request describe_groups;
        struct broker_api_versions_request api_versions;
        struct broker_create_topics_request create_topics;
        struct broker_delete_topics_request delete_topics;
        struct broker_init_producer_id_request init_producer_id;
    } body;
};

/* 1 when this (key, version) uses the flexible (tagged-field) encoding. */
int broker_api_is_flexible(int16_t key, int16_t version);

/*
 * Reads the header of a frame (the bytes after the int32 size). On
 * success *body points at the request body and *body_len is its length.
 * The header's version (v1 or v2) follows the API and version; an API the
 * broker does not implement is still decoded as v1 so it can be named.
 */
int broker_request_decode_header(uint8_t *frame, size_t len, struct broker_request_header *header,
                                 uint8_t **body, size_t *body_len, const char **why);

/* Decodes the body of an implemented (key, version) into req->body. */
int broker_request_decode_body(struct broker_request *req, uint8_t *body, size_t len,
                               struct broker_arena *arena, const char **why);

#endif
