/*
 * broker_group: the consumer-group coordinator, following Apache Kafka's
 * GroupCoordinator: groups move Empty -> PreparingRebalance (JoinGroup
 * requests parked until every member rejoined or the rebalance timeout)
 * -> CompletingRebalance (followers' SyncGroup parked until the leader
 * sends the assignment) -> Stable. Members leave by LeaveGroup or by
 * missing heartbeats for their session timeout. Member metadata and
 * assignments are opaque bytes, stored and echoed. Committed offsets go
 * to broker_offsets (persisted); group membership itself is not persisted:
 * after a restart members get UNKNOWN_MEMBER_ID and simply rejoin.
 */
#include "kafka/broker_internal.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kafka/broker_map.h"
#include "lib/log.h"

enum {
    KAFKA_NONE = 0,
    KAFKA_UNKNOWN_TOPIC_OR_PARTITION = 3,
    KAFKA_OFFSET_METADATA_TOO_LARGE = 12,
    KAFKA_ILLEGAL_GENERATION = 22,
    KAFKA_INCONSISTENT_GROUP_PROTOCOL = 23,
    KAFKA_INVALID_GROUP_ID = 24,
    KAFKA_UNKNOWN_MEMBER_ID = 25,
    KAFKA_INVALID_SESSION_TIMEOUT = 26,
    KAFKA_REBALANCE_IN_PROGRESS = 27,
    KAFKA_KAFKA_STORAGE_ERROR = 56,
    KAFKA_MEMBER_ID_REQUIRED = 79,
    KAFKA_FENCED_INSTANCE_ID = 82,
};

#define BROKER_MAX_COMMIT_METADATA 4096

enum broker_group_state {
    BROKER_GROUP_EMPTY,
    BROKER_GROUP_PREPARING,
    BROKER_GROUP_COMPLETING,
    BROKER_GROUP_STABLE,
};

static const char *const broker_group_state_names[] = {
    "Empty",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
};

struct broker_protocol {
    char *name;
    uint8_t *metadata;
    int32_t metadata_len;
};

struct broker_member {
    char *id;
    char *instance_id; /* NULL unless static membership */
    char *client_id;
    char *client_host;
    int32_t session_timeout_ms;
    int32_t rebalance_timeout_ms;
    int protocol_count;
    struct broker_protocol *protocols;
    uint8_t *assignment;
    int32_t assignment_len;
    int64_t deadline;                /* session expiry, monotonic ms */
    struct broker_conn *join_waiter; /* parked JoinGroup */
    struct broker_conn *sync_waiter; /* parked SyncGroup */
    int joined;                      /* rejoined during this rebalance */
    struct broker_member *next;
};

struct broker_pending_member {
    char *id;
    int64_t deadline;
    struct broker_pending_member *next;
};

struct broker_group {
    char *id;
    enum broker_group_state state;
    int32_t generation;
    char *protocol_type;
    char *protocol; /* chosen by the last completed join */
    char *leader;
    struct broker_member *members;
    int member_count;
    struct broker_pending_member *pending; /* ids handed out with MEMBER_ID_REQUIRED */
    int64_t rebalance_deadline;
};

struct broker_groups {
    struct broker *broker;
    struct broker_map map;
    uint64_t id_state; /* member id generator */
};

/* ---- small helpers ---- */

static char *broker_str_dup(struct kafka_str s)
{
    return s.len < 0 ? NULL : strndup(s.ptr, (size_t)s.len);
}

static int broker_str_is(const char *c, struct kafka_str s)
{
    return kafka_str_eq(s, c);
}

static uint64_t broker_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

struct broker_groups *broker_groups_new(struct broker *broker)
{
    struct broker_groups *groups = calloc(1, sizeof *groups);
    if (!groups)
        return NULL;
    groups->broker = broker;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 ||
        read(fd, &groups->id_state, sizeof groups->id_state) != (ssize_t)sizeof groups->id_state)
        groups->id_state = (uint64_t)broker_wall_ms() ^ ((uint64_t)getpid() << 32);
    if (fd >= 0)
        close(fd);
    return groups;
}

static void broker_member_free(struct broker_member *member)
{
    for (int i = 0; i < member->protocol_count; i++) {
        free(member->protocols[i].name);
        free(member->protocols[i].metadata);
    }
    free(member->protocols);
    free(member->assignment);
    free(member->id);
    free(member->instance_id);
    free(member->client_id);
    free(member->client_host);
    free(member);
}

static void broker_group_free(struct broker_group *group)
{
    while (group->members) {
        struct broker_member *next = group->members->next;
        broker_member_free(group->members);
        group->members = next;
    }
    while (group->pending) {
        struct broker_pending_member *next = group->pending->next;
        free(group->pending->id);
        free(group->pending);
        group->pending = next;
    }
    free(group->id);
    free(group->protocol_type);
    free(group->protocol);
    free(group->leader);
    free(group);
}

void broker_groups_free(struct broker_groups *groups)
{
    if (!groups)
        return;
    size_t bucket = 0;
    struct broker_map_entry *cursor = NULL, *entry;
    while ((entry = broker_map_next(&groups->map, &bucket, &cursor)))
        broker_group_free(entry->value);
    broker_map_free(&groups->map);
    free(groups);
}

static struct broker_group *broker_group_find(struct broker_groups *groups, struct kafka_str id)
{
    return id.len < 0 ? NULL : broker_map_get(&groups->map, id.ptr, (size_t)id.len);
}

static struct broker_group *broker_group_get_or_create(struct broker_groups *groups,
                                                       struct kafka_str id)
{
    struct broker_group *group = broker_group_find(groups, id);
    if (group)
        return group;
    group = calloc(1, sizeof *group);
    if (!group || !(group->id = broker_str_dup(id)) ||
        broker_map_put(&groups->map, id.ptr, (size_t)id.len, group) < 0) {
        if (group)
            free(group->id);
        free(group);
        return NULL;
    }
    return group;
}

static struct broker_member *broker_member_find(const struct broker_group *group,
                                                struct kafka_str id)
{
    for (struct broker_member *m = group->members; m; m = m->next)
        if (broker_str_is(m->id, id))
            return m;
    return NULL;
}

static const struct broker_protocol *broker_member_protocol(const struct broker_member *member,
                                                            const char *name)
{
    for (int i = 0; name && i < member->protocol_count; i++)
        if (strcmp(member->protocols[i].name, name) == 0)
            return &member->protocols[i];
    return NULL;
}

/* ---- responses ---- */

static void broker_write_join_response(struct broker_conn *conn, const struct broker_group *group,
                                       const struct broker_member *member, int16_t error,
                                       const char *member_id)
{
    int16_t v = conn->request.header.api_version;
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, conn->request.header.correlation_id);
    if (v >= 2)
        broker_write_i32(w, 0);
    broker_write_i16(w, error);
    int ok = error == KAFKA_NONE && group;
    broker_write_i32(w, ok ? group->generation : -1);
    broker_write_cstring(w, ok && group->protocol ? group->protocol : "");
    broker_write_cstring(w, ok && group->leader ? group->leader : "");
    broker_write_cstring(w, member_id ? member_id : "");
    const struct broker_group *leader_view =
        ok && member && member->id && group->leader && strcmp(group->leader, member->id) == 0
            ? group
            : NULL;
    broker_write_i32(w, leader_view ? leader_view->member_count : 0);
    for (const struct broker_member *m = leader_view ? leader_view->members : NULL; m;
         m = m->next) {
        const struct broker_protocol *protocol = broker_member_protocol(m, leader_view->protocol);
        broker_write_cstring(w, m->id);
        if (v >= 5)
            broker_write_cstring(w, m->instance_id);
        broker_write_bytes(w, protocol ? protocol->metadata : NULL,
                           protocol ? protocol->metadata_len : 0);
    }
    broker_response_end(conn, start);
}

static void broker_write_simple_error(struct broker_conn *conn, int16_t error, int throttle_first)
{
    size_t start = broker_response_begin(conn, conn->request.header.correlation_id);
    if (throttle_first)
        broker_write_i32(&conn->out, 0);
    broker_write_i16(&conn->out, error);
    broker_response_end(conn, start);
}

static void broker_write_sync_response(struct broker_conn *conn, int16_t error,
                                       const uint8_t *assignment, int32_t len)
{
    size_t start = broker_response_begin(conn, conn->request.header.correlation_id);
    if (conn->request.header.api_version >= 1)
        broker_write_i32(&conn->out, 0);
    broker_write_i16(&conn->out, error);
    broker_write_bytes(&conn->out, assignment, error ? 0 : len);
    broker_response_end(conn, start);
}

/* Answers a parked (or being handled) JoinGroup and releases the member's
 * hold on the connection. */
static void broker_member_answer_join(struct broker_group *group, struct broker_member *member,
                                      int16_t error)
{
    struct broker_conn *conn = member->join_waiter;
    member->join_waiter = NULL;
    if (!conn)
        return;
    broker_write_join_response(conn, group, member, error, member->id);
    if (conn->parked == BROKER_PARK_JOIN)
        broker_conn_resume(conn);
}

static void broker_member_answer_sync(struct broker_member *member, int16_t error)
{
    struct broker_conn *conn = member->sync_waiter;
    member->sync_waiter = NULL;
    if (!conn)
        return;
    broker_write_sync_response(conn, error, member->assignment, member->assignment_len);
    if (conn->parked == BROKER_PARK_SYNC)
        broker_conn_resume(conn);
}

/* ---- state machine ---- */

static int64_t broker_group_rebalance_timeout(const struct broker_group *group)
{
    int64_t timeout = 0;
    for (const struct broker_member *m = group->members; m; m = m->next)
        if (m->rebalance_timeout_ms > timeout)
            timeout = m->rebalance_timeout_ms;
    return timeout;
}

static void broker_group_prepare_rebalance(struct broker_groups *groups, struct broker_group *group,
                                           const char *reason)
{
    if (group->state == BROKER_GROUP_COMPLETING)
        for (struct broker_member *m = group->members; m; m = m->next)
            broker_member_answer_sync(m, KAFKA_REBALANCE_IN_PROGRESS);
    if (group->state != BROKER_GROUP_PREPARING) {
        for (struct broker_member *m = group->members; m; m = m->next)
            m->joined = m->join_waiter != NULL;
        log_notice("group %s: rebalance started (%s), generation %d, %d members", group->id, reason,
                   group->generation, group->member_count);
    }
    group->state = BROKER_GROUP_PREPARING;
    group->rebalance_deadline = groups->broker->now_ms + broker_group_rebalance_timeout(group);
}

static void broker_group_remove_member(struct broker_groups *groups, struct broker_group *group,
                                       struct broker_member *member, const char *reason,
                                       int16_t error);

/* KIP-345: a request naming a group.instance.id that now belongs to
 * another member id comes from an instance a newer one replaced. */
static int broker_group_fenced(const struct broker_group *group, struct kafka_str member_id,
                               struct kafka_str instance_id)
{
    if (!group || instance_id.len < 0)
        return 0;
    for (const struct broker_member *m = group->members; m; m = m->next)
        if (m->instance_id && broker_str_is(m->instance_id, instance_id))
            return !broker_str_is(m->id, member_id);
    return 0;
}

/* The protocol most members prefer among those all of them support. */
static const char *broker_group_choose_protocol(const struct broker_group *group)
{
    const struct broker_member *first = group->members;
    const char *best = NULL;
    int best_votes = -1;
    for (int i = 0; first && i < first->protocol_count; i++) {
        const char *candidate = first->protocols[i].name;
        int supported = 1;
        for (const struct broker_member *m = group->members; m && supported; m = m->next)
            supported = broker_member_protocol(m, candidate) != NULL;
        if (!supported)
            continue;
        int votes = 0;
        for (const struct broker_member *m = group->members; m; m = m->next) {
            for (int j = 0; j < m->protocol_count; j++) {
                const char *name = m->protocols[j].name;
                int everyone = 1;
                for (const struct broker_member *o = group->members; o && everyone; o = o->next)
                    everyone = broker_member_protocol(o, name) != NULL;
                if (!everyone)
                    continue;
                if (strcmp(name, candidate) == 0)
                    votes++;
                break;
            }
        }
        if (votes > best_votes) {
            best = candidate;
            best_votes = votes;
        }
    }
    return best;
}

static void broker_group_complete_join(struct broker_groups *groups, struct broker_group *group)
{
    struct broker_member *m = group->members;
    while (m) {
        struct broker_member *next = m->next;
        if (!m->joined)
            broker_group_remove_member(groups, group, m, "did not rejoin in time",
                                       KAFKA_UNKNOWN_MEMBER_ID);
        m = next;
    }
    group->generation++;
    free(group->protocol);
    group->protocol = NULL;
    if (group->member_count == 0) {
        group->state = BROKER_GROUP_EMPTY;
        free(group->leader);
        group->leader = NULL;
        log_notice("group %s: generation %d is empty", group->id, group->generation);
        return;
    }
    const char *protocol = broker_group_choose_protocol(group);
    group->protocol = protocol ? strdup(protocol) : NULL;
    if (group->members &&
        (!group->leader ||
         !broker_member_find(group,
                             (struct kafka_str){group->leader, (int32_t)strlen(group->leader)}))) {
        free(group->leader);
        group->leader = strdup(group->members->id);
    }
    group->state = BROKER_GROUP_COMPLETING;
    int64_t now = groups->broker->now_ms;
    for (m = group->members; m; m = m->next) {
        free(m->assignment);
        m->assignment = NULL;
        m->assignment_len = 0;
        m->joined = 0;
        m->deadline = now + m->session_timeout_ms;
        broker_member_answer_join(group, m, KAFKA_NONE);
    }
    log_notice("group %s: generation %d with %d members (leader %s, protocol %s)", group->id,
               group->generation, group->member_count, group->leader ? group->leader : "-",
               group->protocol ? group->protocol : "-");
}

static void broker_group_try_complete_join(struct broker_groups *groups, struct broker_group *group)
{
    if (group->state != BROKER_GROUP_PREPARING)
        return;
    int all = 1;
    for (const struct broker_member *m = group->members; m && all; m = m->next)
        all = m->joined;
    if (all || groups->broker->now_ms >= group->rebalance_deadline)
        broker_group_complete_join(groups, group);
}

/* Removes the member; a JoinGroup or SyncGroup it has waiting is answered
 * with error (UNKNOWN_MEMBER_ID, or FENCED_INSTANCE_ID when a new static
 * instance took its place). */
static void broker_group_remove_member(struct broker_groups *groups, struct broker_group *group,
                                       struct broker_member *member, const char *reason,
                                       int16_t error)
{
    log_notice("group %s: member %s left (%s)", group->id, member->id, reason);
    broker_member_answer_join(group, member, error);
    broker_member_answer_sync(member, error);
    struct broker_member **link = &group->members;
    while (*link != member)
        link = &(*link)->next;
    *link = member->next;
    group->member_count--;
    broker_member_free(member);
    (void)groups;
}

/* After a member left outside of a join round. */
static void broker_group_after_leave(struct broker_groups *groups, struct broker_group *group,
                                     const char *reason)
{
    if (group->member_count == 0) {
        if (group->state != BROKER_GROUP_EMPTY) {
            group->generation++;
            group->state = BROKER_GROUP_EMPTY;
            free(group->leader);
            group->leader = NULL;
            free(group->protocol);
            group->protocol = NULL;
            log_notice("group %s: generation %d is empty", group->id, group->generation);
        }
        return;
    }
    if (group->state == BROKER_GROUP_STABLE || group->state == BROKER_GROUP_COMPLETING)
        broker_group_prepare_rebalance(groups, group, reason);
    broker_group_try_complete_join(groups, group);
}

/* ---- JoinGroup ---- */

static char *broker_new_member_id(struct broker_groups *groups, struct kafka_str client_id)
{
    uint64_t a = broker_splitmix64(&groups->id_state), b = broker_splitmix64(&groups->id_state);
    char id[400];
    snprintf(id, sizeof id, "%.*s-%08x-%04x-%04x-%04x-%012llx",
             client_id.len > 0 ? (int)(client_id.len > 200 ? 200 : client_id.len) : 0,
             client_id.len > 0 ? client_id.ptr : "", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xffff, (unsigned)(b >> 48),
             (unsigned long long)(b & 0xffffffffffffull));
    return strdup(id);
}

/* 1 when the request's protocols fit the group (type and at least one
 * protocol every other member supports). */
static int broker_join_protocols_fit(const struct broker_group *group,
                                     const struct broker_join_group_request *req,
                                     const struct broker_member *self)
{
    if (req->protocol_type.len <= 0 || req->protocol_count == 0)
        return 0;
    int others = 0;
    for (const struct broker_member *m = group->members; m; m = m->next)
        others += m != self;
    if (others == 0)
        return 1;
    if (!group->protocol_type || !broker_str_is(group->protocol_type, req->protocol_type))
        return 0;
    for (int32_t i = 0; i < req->protocol_count; i++) {
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)req->protocols[i].name.len,
                 req->protocols[i].name.ptr);
        int everyone = 1;
        for (const struct broker_member *m = group->members; m && everyone; m = m->next)
            everyone = m == self || broker_member_protocol(m, name) != NULL;
        if (everyone)
            return 1;
    }
    return 0;
}

static int broker_member_update(struct broker_member *member, struct broker_conn *conn,
                                const struct broker_join_group_request *req)
{
    struct broker_protocol *protocols = calloc((size_t)req->protocol_count, sizeof *protocols);
    if (!protocols)
        return -1;
    for (int32_t i = 0; i < req->protocol_count; i++) {
        protocols[i].name = broker_str_dup(req->protocols[i].name);
        int32_t len = req->protocols[i].metadata.len < 0 ? 0 : req->protocols[i].metadata.len;
        protocols[i].metadata = malloc(len ? (size_t)len : 1);
        protocols[i].metadata_len = len;
        if (!protocols[i].name || !protocols[i].metadata) {
            for (int32_t j = 0; j <= i; j++) {
                free(protocols[j].name);
                free(protocols[j].metadata);
            }
            free(protocols);
            return -1;
        }
        if (len)
            memcpy(protocols[i].metadata, req->protocols[i].metadata.ptr, (size_t)len);
    }
    for (int i = 0; i < member->protocol_count; i++) {
        free(member->protocols[i].name);
        free(member->protocols[i].metadata);
    }
    free(member->protocols);
    member->protocols = protocols;
    member->protocol_count = req->protocol_count;
    member->session_timeout_ms = req->session_timeout_ms;
    member->rebalance_timeout_ms = req->rebalance_timeout_ms;
    free(member->client_id);
    free(member->client_host);
    free(member->instance_id);
    member->client_id = conn->request.header.client_id.len >= 0
                            ? broker_str_dup(conn->request.header.client_id)
                            : strdup("");
    char host[80];
    snprintf(host, sizeof host, "/%s", conn->peer);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    member->client_host = strdup(host);
    member->instance_id = broker_str_dup(req->group_instance_id);
    return member->client_id && member->client_host ? 0 : -1;
}

static enum broker_handle_result broker_handle_join_group(struct broker_groups *groups,
                                                          struct broker_conn *conn)
{
    const struct broker_join_group_request *req = &conn->request.body.join_group;
    const struct broker_config *config = &groups->broker->config;
    int16_t v = conn->request.header.api_version;
    if (req->group_id.len <= 0) {
        broker_write_join_response(conn, NULL, NULL, KAFKA_INVALID_GROUP_ID, NULL);
        return BROKER_HANDLED;
    }
    if (req->session_timeout_ms < config->min_session_timeout_ms ||
        req->session_timeout_ms > config->max_session_timeout_ms) {
        broker_write_join_response(conn, NULL, NULL, KAFKA_INVALID_SESSION_TIMEOUT, NULL);
        return BROKER_HANDLED;
    }
    struct broker_group *group = broker_group_get_or_create(groups, req->group_id);
    if (!group)
        return BROKER_CLOSE;
    struct broker_member *member = NULL;
    if (req->member_id.len > 0) {
        member = broker_member_find(group, req->member_id);
        if (!member) {
            /* An id handed out with MEMBER_ID_REQUIRED becomes a member now. */
            struct broker_pending_member **link = &group->pending;
            while (*link && !broker_str_is((*link)->id, req->member_id))
                link = &(*link)->next;
            if (!*link) {
                char id[256];
                snprintf(id, sizeof id, "%.*s", (int)req->member_id.len, req->member_id.ptr);
                broker_write_join_response(
                    conn, group, NULL,
                    broker_group_fenced(group, req->member_id, req->group_instance_id)
                        ? KAFKA_FENCED_INSTANCE_ID
                        : KAFKA_UNKNOWN_MEMBER_ID,
                    id);
                return BROKER_HANDLED;
            }
            struct broker_pending_member *pending = *link;
            *link = pending->next;
            free(pending->id);
            free(pending);
        }
    }
    if (req->group_instance_id.len >= 0) {
        /* KIP-345 static membership: a new instance with a known
         * group.instance.id replaces (fences) the old member at once,
         * instead of the group waiting out the old one's session. */
        for (struct broker_member *m = group->members; m; m = m->next) {
            if (m != member && m->instance_id &&
                broker_str_is(m->instance_id, req->group_instance_id)) {
                broker_group_remove_member(groups, group, m, "replaced by a new static instance",
                                           KAFKA_FENCED_INSTANCE_ID);
                break;
            }
        }
    }
    if (!broker_join_protocols_fit(group, req, member)) {
        char id[256];
        snprintf(id, sizeof id, "%.*s", req->member_id.len > 0 ? (int)req->member_id.len : 0,
                 req->member_id.len > 0 ? req->member_id.ptr : "");
        broker_write_join_response(conn, NULL, NULL, KAFKA_INCONSISTENT_GROUP_PROTOCOL, id);
        return BROKER_HANDLED;
    }
    if (req->member_id.len <= 0 && v >= 4 && req->group_instance_id.len < 0) {
        /* KIP-394: hand out an id and make the client rejoin with it. */
        struct broker_pending_member *pending = calloc(1, sizeof *pending);
        char *id = broker_new_member_id(groups, conn->request.header.client_id);
        if (!pending || !id) {
            free(pending);
            free(id);
            return BROKER_CLOSE;
        }
        pending->id = id;
        pending->deadline = groups->broker->now_ms + req->session_timeout_ms;
        pending->next = group->pending;
        group->pending = pending;
        broker_write_join_response(conn, NULL, NULL, KAFKA_MEMBER_ID_REQUIRED, id);
        return BROKER_HANDLED;
    }
    int new_member = member == NULL;
    if (!member) {
        member = calloc(1, sizeof *member);
        if (!member)
            return BROKER_CLOSE;
        member->id = req->member_id.len > 0
                         ? broker_str_dup(req->member_id)
                         : broker_new_member_id(groups, conn->request.header.client_id);
        if (!member->id) {
            free(member);
            return BROKER_CLOSE;
        }
    }
    if (broker_member_update(member, conn, req) < 0) {
        if (new_member)
            broker_member_free(member);
        return BROKER_CLOSE;
    }
    if (new_member) {
        member->next = NULL;
        struct broker_member **tail = &group->members;
        while (*tail)
            tail = &(*tail)->next;
        *tail = member;
        group->member_count++;
        log_info("group %s: member %s joined from %s", group->id, member->id, conn->peer);
    }
    if (!group->protocol_type || group->member_count == 1) {
        free(group->protocol_type);
        group->protocol_type = broker_str_dup(req->protocol_type);
    }
    if (member->join_waiter && member->join_waiter != conn)
        broker_member_answer_join(group, member, KAFKA_UNKNOWN_MEMBER_ID);
    member->join_waiter = conn;
    member->joined = 1;
    member->deadline = groups->broker->now_ms + member->session_timeout_ms;
    if (group->state != BROKER_GROUP_PREPARING)
        broker_group_prepare_rebalance(groups, group,
                                       new_member ? "member joined" : "member rejoined");
    broker_group_try_complete_join(groups, group);
    if (member->join_waiter == conn) {
        conn->parked = BROKER_PARK_JOIN;
        return BROKER_PARKED;
    }
    return BROKER_HANDLED;
}

/* ---- SyncGroup, Heartbeat, LeaveGroup ---- */

/* Common checks of SyncGroup, Heartbeat and OffsetCommit: the member must
 * exist (and not be a fenced static instance) and be of the current
 * generation. */
static int16_t broker_group_check_member(struct broker_group *group, struct kafka_str member_id,
                                         struct kafka_str instance_id, int32_t generation,
                                         struct broker_member **member)
{
    *member = NULL;
    if (broker_group_fenced(group, member_id, instance_id))
        return KAFKA_FENCED_INSTANCE_ID;
    *member = group ? broker_member_find(group, member_id) : NULL;
    if (!*member)
        return KAFKA_UNKNOWN_MEMBER_ID;
    if (generation != group->generation)
        return KAFKA_ILLEGAL_GENERATION;
    return KAFKA_NONE;
}

static enum broker_handle_result broker_handle_sync_group(struct broker_groups *groups,
                                                          struct broker_conn *conn)
{
    const struct broker_sync_group_request *req = &conn->request.body.sync_group;
    struct broker_group *group = broker_group_find(groups, req->group_id);
    struct broker_member *member;
    int16_t error = broker_group_check_member(group, req->member_id, req->group_instance_id,
                                              req->generation_id, &member);
    if (!error && group->state == BROKER_GROUP_PREPARING)
        error = KAFKA_REBALANCE_IN_PROGRESS;
    if (error) {
        broker_write_sync_response(conn, error, NULL, 0);
        return BROKER_HANDLED;
    }
    member->deadline = groups->broker->now_ms + member->session_timeout_ms;
    if (group->state == BROKER_GROUP_STABLE) {
        broker_write_sync_response(conn, KAFKA_NONE, member->assignment, member->assignment_len);
        return BROKER_HANDLED;
    }
    /* CompletingRebalance: wait for the leader's assignment. */
    if (member->sync_waiter && member->sync_waiter != conn)
        broker_member_answer_sync(member, KAFKA_REBALANCE_IN_PROGRESS);
    member->sync_waiter = conn;
    if (group->leader && strcmp(group->leader, member->id) == 0) {
        for (struct broker_member *m = group->members; m; m = m->next) {
            free(m->assignment);
            m->assignment = NULL;
            m->assignment_len = 0;
            for (int32_t i = 0; i < req->assignment_count; i++) {
                const struct broker_sync_assignment *a = &req->assignments[i];
                if (!broker_str_is(m->id, a->member_id) || a->assignment.len <= 0)
                    continue;
                m->assignment = malloc((size_t)a->assignment.len);
                if (m->assignment) {
                    memcpy(m->assignment, a->assignment.ptr, (size_t)a->assignment.len);
                    m->assignment_len = a->assignment.len;
                }
                break;
            }
        }
        group->state = BROKER_GROUP_STABLE;
        log_info("group %s: generation %d stable, assignment from leader %s", group->id,
                 group->generation, member->id);
        for (struct broker_member *m = group->members; m; m = m->next)
            broker_member_answer_sync(m, KAFKA_NONE);
    }
    if (member->sync_waiter == conn) {
        conn->parked = BROKER_PARK_SYNC;
        return BROKER_PARKED;
    }
    return BROKER_HANDLED;
}

static void broker_handle_heartbeat(struct broker_groups *groups, struct broker_conn *conn)
{
    const struct broker_heartbeat_request *req = &conn->request.body.heartbeat;
    struct broker_group *group = broker_group_find(groups, req->group_id);
    struct broker_member *member;
    int16_t error = broker_group_check_member(group, req->member_id, req->group_instance_id,
                                              req->generation_id, &member);
    if (member)
        member->deadline = groups->broker->now_ms + member->session_timeout_ms;
    if (!error && group->state == BROKER_GROUP_PREPARING)
        error = KAFKA_REBALANCE_IN_PROGRESS;
    broker_write_simple_error(conn, error, conn->request.header.api_version >= 1);
}

static void broker_handle_leave_group(struct broker_groups *groups, struct broker_conn *conn)
{
    const struct broker_leave_group_request *req = &conn->request.body.leave_group;
    struct broker_group *group = broker_group_find(groups, req->group_id);
    struct broker_member *member = group ? broker_member_find(group, req->member_id) : NULL;
    if (member) {
        broker_group_remove_member(groups, group, member, "LeaveGroup", KAFKA_UNKNOWN_MEMBER_ID);
        broker_group_after_leave(groups, group, "member left");
    }
    broker_write_simple_error(conn, member ? KAFKA_NONE : KAFKA_UNKNOWN_MEMBER_ID,
                              conn->request.header.api_version >= 1);
}

/* ---- OffsetCommit, OffsetFetch ---- */

static int16_t broker_commit_check(struct broker_groups *groups,
                                   const struct broker_offset_commit_request *req)
{
    if (req->group_id.len <= 0)
        return KAFKA_INVALID_GROUP_ID;
    struct broker_group *group = broker_group_find(groups, req->group_id);
    int empty = !group || group->member_count == 0;
    if (req->generation_id < 0 && empty)
        return KAFKA_NONE; /* assign()-style consumers and admin tools */
    if (empty)
        return KAFKA_UNKNOWN_MEMBER_ID;
    struct broker_member *member;
    int16_t error = broker_group_check_member(group, req->member_id, req->group_instance_id,
                                              req->generation_id, &member);
    if (member)
        member->deadline = groups->broker->now_ms + member->session_timeout_ms;
    if (!error && group->state == BROKER_GROUP_COMPLETING)
        error = KAFKA_REBALANCE_IN_PROGRESS;
    return error;
}

static void broker_handle_offset_commit(struct broker_groups *groups, struct broker_conn *conn)
{
    struct broker *broker = groups->broker;
    const struct broker_offset_commit_request *req = &conn->request.body.offset_commit;
    int16_t group_error = broker_commit_check(groups, req);
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, conn->request.header.correlation_id);
    if (conn->request.header.api_version >= 3)
        broker_write_i32(w, 0);
    broker_write_i32(w, req->topic_count);
    for (int32_t t = 0; t < req->topic_count; t++) {
        const struct broker_commit_topic *topic = &req->topics[t];
        struct broker_topic *known =
            topic->name.len > 0
                ? broker_topics_find(broker->topics, topic->name.ptr, (size_t)topic->name.len)
                : NULL;
        broker_write_string(w, topic->name);
        broker_write_i32(w, topic->partition_count);
        for (int32_t p = 0; p < topic->partition_count; p++) {
            const struct broker_commit_partition *partition = &topic->partitions[p];
            int16_t error = group_error;
            if (!error &&
                (!known || partition->index < 0 || partition->index >= known->partition_count))
                error = KAFKA_UNKNOWN_TOPIC_OR_PARTITION;
            if (!error && partition->metadata.len > BROKER_MAX_COMMIT_METADATA)
                error = KAFKA_OFFSET_METADATA_TOO_LARGE;
            if (!error) {
                tp_err err;
                if (broker_offsets_commit(
                        broker->offsets, req->group_id.ptr, (size_t)req->group_id.len,
                        topic->name.ptr, (size_t)topic->name.len, partition->index,
                        partition->offset < 0 ? 0 : partition->offset, partition->metadata.ptr,
                        partition->metadata.len, &err) < 0) {
                    log_error("%s", err.msg);
                    error = KAFKA_KAFKA_STORAGE_ERROR;
                }
            }
            broker_write_i32(w, partition->index);
            broker_write_i16(w, error);
        }
    }
    broker_response_end(conn, start);
}

struct broker_fetch_all {
    struct broker_offset_entry *entries;
    size_t count, cap;
};

static void broker_collect_offset(const struct broker_offset_entry *entry, void *ctx)
{
    struct broker_fetch_all *all = ctx;
    if (all->count == all->cap) {
        size_t cap = all->cap ? all->cap * 2 : 16;
        struct broker_offset_entry *grown = realloc(all->entries, cap * sizeof *grown);
        if (!grown)
            return;
        all->entries = grown;
        all->cap = cap;
    }
    all->entries[all->count++] = *entry;
}

static int broker_compare_offset_entries(const void *a, const void *b)
{
    const struct broker_offset_entry *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    return c ? c : (x->partition > y->partition) - (x->partition < y->partition);
}

static void broker_write_fetched_offset(struct broker_writer *w, int16_t v, int32_t partition,
                                        int found, int64_t offset, const char *metadata)
{
    broker_write_i32(w, partition);
    broker_write_i64(w, found ? offset : -1);
    if (v >= 5)
        broker_write_i32(w, -1); /* leader epoch */
    broker_write_cstring(w, found && metadata ? metadata : "");
    broker_write_i16(w, KAFKA_NONE);
}

static void broker_handle_offset_fetch(struct broker_groups *groups, struct broker_conn *conn)
{
    const struct broker_offsets *offsets = groups->broker->offsets;
    const struct broker_offset_fetch_request *req = &conn->request.body.offset_fetch;
    int16_t v = conn->request.header.api_version;
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, conn->request.header.correlation_id);
    if (v >= 3)
        broker_write_i32(w, 0);
    const char *group = req->group_id.len > 0 ? req->group_id.ptr : "";
    size_t group_len = req->group_id.len > 0 ? (size_t)req->group_id.len : 0;
    if (req->topic_count < 0) {
        struct broker_fetch_all all = {0};
        broker_offsets_each(offsets, group, group_len, broker_collect_offset, &all);
        if (all.count > 1)
            qsort(all.entries, all.count, sizeof *all.entries, broker_compare_offset_entries);
        size_t topics = 0;
        for (size_t i = 0; i < all.count; i++)
            topics += i == 0 || strcmp(all.entries[i].topic, all.entries[i - 1].topic) != 0;
        broker_write_i32(w, (int32_t)topics);
        for (size_t i = 0; i < all.count;) {
            size_t j = i;
            while (j < all.count && strcmp(all.entries[j].topic, all.entries[i].topic) == 0)
                j++;
            broker_write_cstring(w, all.entries[i].topic);
            broker_write_i32(w, (int32_t)(j - i));
            for (size_t k = i; k < j; k++)
                broker_write_fetched_offset(w, v, all.entries[k].partition, 1,
                                            all.entries[k].offset, all.entries[k].metadata);
            i = j;
        }
        free(all.entries);
    } else {
        broker_write_i32(w, req->topic_count);
        for (int32_t t = 0; t < req->topic_count; t++) {
            const struct broker_offset_fetch_topic *topic = &req->topics[t];
            broker_write_string(w, topic->name);
            broker_write_i32(w, topic->partition_count);
            for (int32_t p = 0; p < topic->partition_count; p++) {
                int64_t offset = -1;
                const char *metadata = NULL;
                int found = topic->name.len > 0 &&
                            broker_offsets_get(offsets, group, group_len, topic->name.ptr,
                                               (size_t)topic->name.len, topic->partitions[p],
                                               &offset, &metadata);
                broker_write_fetched_offset(w, v, topic->partitions[p], found, offset, metadata);
            }
        }
    }
    if (v >= 2)
        broker_write_i16(w, KAFKA_NONE);
    broker_response_end(conn, start);
}

/* ---- DescribeGroups, ListGroups ---- */

struct broker_has_offsets {
    int found;
};

static void broker_note_offset(const struct broker_offset_entry *entry, void *ctx)
{
    (void)entry;
    ((struct broker_has_offsets *)ctx)->found = 1;
}

static void broker_handle_describe_groups(struct broker_groups *groups, struct broker_conn *conn)
{
    const struct broker_describe_groups_request *req = &conn->request.body.describe_groups;
    int16_t v = conn->request.header.api_version;
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, conn->request.header.correlation_id);
    if (v >= 1)
        broker_write_i32(w, 0);
    broker_write_i32(w, req->group_count);
    for (int32_t i = 0; i < req->group_count; i++) {
        const struct broker_group *group = broker_group_find(groups, req->groups[i]);
        const char *state = "Dead";
        if (group)
            state = broker_group_state_names[group->state];
        else if (req->groups[i].len > 0) {
            struct broker_has_offsets has = {0};
            broker_offsets_each(groups->broker->offsets, req->groups[i].ptr,
                                (size_t)req->groups[i].len, broker_note_offset, &has);
            if (has.found)
                state = "Empty";
        }
        broker_write_i16(w, req->groups[i].len > 0 ? KAFKA_NONE : KAFKA_INVALID_GROUP_ID);
        broker_write_string(w, req->groups[i]);
        broker_write_cstring(w, state);
        broker_write_cstring(w, group && group->protocol_type ? group->protocol_type : "");
        broker_write_cstring(w, group && group->protocol ? group->protocol : "");
        broker_write_i32(w, group ? group->member_count : 0);
        for (const struct broker_member *m = group ? group->members : NULL; m; m = m->next) {
            const struct broker_protocol *protocol = broker_member_protocol(m, group->protocol);
            broker_write_cstring(w, m->id);
            if (v >= 4)
                broker_write_cstring(w, m->instance_id);
            broker_write_cstring(w, m->client_id);
            broker_write_cstring(w, m->client_host);
            broker_write_bytes(w, protocol ? protocol->metadata : NULL,
                               protocol ? protocol->metadata_len : 0);
            int stable = group->state == BROKER_GROUP_STABLE;
            broker_write_bytes(w, stable ? m->assignment : NULL, stable ? m->assignment_len : 0);
        }
        if (v >= 3)
            broker_write_i32(w, INT32_MIN); /* authorized operations: not computed */
    }
    broker_response_end(conn, start);
}

struct broker_group_names {
    struct broker_map seen;
    struct broker_writer *w;
    int32_t count;
};

static void broker_list_offset_group(const struct broker_offset_entry *entry, void *ctx)
{
    struct broker_group_names *names = ctx;
    size_t len = strlen(entry->group);
    if (broker_map_get(&names->seen, entry->group, len))
        return;
    if (broker_map_put(&names->seen, entry->group, len, names) < 0)
        return;
    broker_write_cstring(names->w, entry->group);
    broker_write_cstring(names->w, "consumer");
    names->count++;
}

static void broker_handle_list_groups(struct broker_groups *groups, struct broker_conn *conn)
{
    struct broker_writer *w = &conn->out;
    size_t start = broker_response_begin(conn, conn->request.header.correlation_id);
    if (conn->request.header.api_version >= 1)
        broker_write_i32(w, 0);
    broker_write_i16(w, KAFKA_NONE);
    size_t count_at = w->len;
    broker_write_i32(w, 0);
    struct broker_group_names names = {{0}, w, 0};
    size_t bucket = 0;
    struct broker_map_entry *cursor = NULL, *entry;
    while ((entry = broker_map_next(&groups->map, &bucket, &cursor))) {
        const struct broker_group *group = entry->value;
        if (broker_map_put(&names.seen, group->id, strlen(group->id), &names) < 0)
            continue;
        broker_write_cstring(w, group->id);
        broker_write_cstring(w, group->protocol_type ? group->protocol_type : "consumer");
        names.count++;
    }
    broker_offsets_each(groups->broker->offsets, NULL, 0, broker_list_offset_group, &names);
    broker_map_free(&names.seen);
    broker_write_i32_at(w, count_at, names.count);
    broker_response_end(conn, start);
}

/* ---- entry points ---- */

enum broker_handle_result broker_group_handle(struct broker_conn *conn)
{
    struct broker_groups *groups = conn->broker->groups;
    switch (conn->request.header.api_key) {
    case BROKER_API_JOIN_GROUP:
        return broker_handle_join_group(groups, conn);
    case BROKER_API_SYNC_GROUP:
        return broker_handle_sync_group(groups, conn);
    case BROKER_API_HEARTBEAT:
        broker_handle_heartbeat(groups, conn);
        break;
    case BROKER_API_LEAVE_GROUP:
        broker_handle_leave_group(groups, conn);
        break;
    case BROKER_API_OFFSET_COMMIT:
        broker_handle_offset_commit(groups, conn);
        break;
    case BROKER_API_OFFSET_FETCH:
        broker_handle_offset_fetch(groups, conn);
        break;
    case BROKER_API_DESCRIBE_GROUPS:
        broker_handle_describe_groups(groups, conn);
        break;
    case BROKER_API_LIST_GROUPS:
        broker_handle_list_groups(groups, conn);
        break;
    default:
        return BROKER_CLOSE;
    }
    return conn->out.failed ? BROKER_CLOSE : BROKER_HANDLED;
}

void broker_groups_tick(struct broker_groups *groups)
{
    int64_t now = groups->broker->now_ms;
    size_t bucket = 0;
    struct broker_map_entry *cursor = NULL, *entry;
    while ((entry = broker_map_next(&groups->map, &bucket, &cursor))) {
        struct broker_group *group = entry->value;
        struct broker_pending_member **link = &group->pending;
        while (*link) {
            struct broker_pending_member *pending = *link;
            if (now < pending->deadline) {
                link = &pending->next;
                continue;
            }
            *link = pending->next;
            free(pending->id);
            free(pending);
        }
        int removed = 0;
        struct broker_member *m = group->members;
        while (m) {
            struct broker_member *next = m->next;
            if (!m->join_waiter && !m->sync_waiter && now >= m->deadline) {
                char reason[96];
                snprintf(reason, sizeof reason, "session timeout: no heartbeat for %d ms",
                         m->session_timeout_ms);
                broker_group_remove_member(groups, group, m, reason, KAFKA_UNKNOWN_MEMBER_ID);
                removed = 1;
            }
            m = next;
        }
        if (removed)
            broker_group_after_leave(groups, group, "member session expired");
        else
            broker_group_try_complete_join(groups, group);
    }
}

int64_t broker_groups_next_deadline(const struct broker_groups *groups)
{
    int64_t next = INT64_MAX;
    size_t bucket = 0;
    struct broker_map_entry *cursor = NULL, *entry;
    while ((entry = broker_map_next(&groups->map, &bucket, &cursor))) {
        const struct broker_group *group = entry->value;
        if (group->state == BROKER_GROUP_PREPARING && group->rebalance_deadline < next)
            next = group->rebalance_deadline;
        for (const struct broker_member *m = group->members; m; m = m->next)
            if (!m->join_waiter && !m->sync_waiter && m->deadline < next)
                next = m->deadline;
        for (const struct broker_pending_member *p = group->pending; p; p = p->next)
            if (p->deadline < next)
                next = p->deadline;
    }
    return next;
}

void broker_groups_forget_conn(struct broker_groups *groups, struct broker_conn *conn)
{
    size_t bucket = 0;
    struct broker_map_entry *cursor = NULL, *entry;
    while ((entry = broker_map_next(&groups->map, &bucket, &cursor))) {
        struct broker_group *group = entry->value;
        for (struct broker_member *m = group->members; m; m = m->next) {
            if (m->join_waiter == conn)
                m->join_waiter = NULL; /* still counts as joined */
            if (m->sync_waiter == conn) {
                m->sync_waiter = NULL;
                m->deadline = groups->broker->now_ms + m->session_timeout_ms;
            }
        }
    }
}
