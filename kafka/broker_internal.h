/*
 * broker_internal: what the broker's modules share inside kafka/: the
 * broker and connection structs, the response framing helpers and the
 * hooks between the event loop (broker.c), the request handlers
 * (broker_handlers.c) and the group coordinator (broker_group.c). Not for
 * use outside kafka/broker*.c.
 */
#ifndef TICKPIPE_BROKER_INTERNAL_H
#define TICKPIPE_BROKER_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "kafka/broker.h"
#include "kafka/broker_codec.h"
#include "kafka/broker_offsets.h"
#include "kafka/broker_request.h"
#include "kafka/broker_topics.h"

#define BROKER_NODE_ID 1

enum broker_park {
    BROKER_PARK_NONE = 0,
    BROKER_PARK_FETCH, /* waiting for min_bytes or max_wait */
    BROKER_PARK_JOIN,  /* JoinGroup waiting for the rebalance to complete */
    BROKER_PARK_SYNC,  /* SyncGroup waiting for the leader's assignment */
};

struct broker_conn {
    struct broker *broker;
    int fd;
    uint64_t id;
    char peer[64];        /* "127.0.0.1:53412" */
    char advertised[256]; /* host clients should dial, from --advertise or getsockname */
    int advertised_port;
    uint8_t *in; /* received bytes; frames start at in_start */
    size_t in_start, in_len, in_cap;
    struct broker_writer out; /* response bytes; sent from out_sent */
    size_t out_sent;
    int write_queued; /* in broker->write_queue */
    int want_write;   /* EPOLLOUT registered */
    int reading;      /* EPOLLIN registered */
    int closed;
    int resume_pending; /* output drained: process buffered frames next iteration */
    struct broker_arena arena;
    struct broker_request request; /* the request being handled (or parked) */
    enum broker_park parked;
    size_t parked_frame_size; /* bytes to consume once the parked request completes */
    int64_t park_deadline;    /* monotonic ms (fetch) */
    uint64_t *park_appended;  /* per fetched partition: broker_log_appended at park time */
    int park_partitions;
    int64_t park_bytes; /* bytes available when parked */
    struct broker_conn *next, *prev;
};

struct broker_groups;

/* With --fsync interval, fdatasync runs in this thread so a slow disk
 * never stalls the event loop. It only receives duplicated descriptors. */
struct broker_flusher {
    pthread_t thread;
    int started;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int *fds;
    int count, capacity;
    int stop;
};

struct broker {
    struct broker_config config;
    char *data_dir;
    char *listen;
    char *advertise_host; /* NULL: per-connection address */
    int advertise_port;
    int listen_fd, epoll_fd, wake_fd, lock_fd;
    int port;
    volatile int stop_requested;
    pthread_t thread;
    int thread_started;
    int64_t now_ms; /* monotonic, updated every loop iteration */
    struct broker_topics *topics;
    struct broker_offsets *offsets;
    struct broker_groups *groups;
    struct broker_conn *conns;
    int conn_count;
    uint64_t next_conn_id;
    struct broker_conn **write_queue;
    int write_queue_len, write_queue_cap;
    struct broker_conn **fetch_waiters;
    int fetch_waiter_count, fetch_waiter_cap;
    struct broker_log **dirty_logs;
    int dirty_log_count, dirty_log_cap;
    int resume_pending; /* some connection has resume_pending set */
    int appended;       /* data arrived this iteration: re-check parked fetches */
    int64_t next_fsync_ms;
    int64_t next_retention_ms;
    int64_t next_producer_id;
    int64_t producer_id_limit; /* ids below this are reserved on disk */
    struct broker_flusher flusher;
};

enum broker_handle_result {
    BROKER_HANDLED = 0, /* response queued (or none for acks=0) */
    BROKER_PARKED = 1,  /* response comes later; stop reading this connection */
    BROKER_CLOSE = -1,  /* protocol violation: close the connection */
};

/* broker.c */
int64_t broker_monotonic_ms(void);
int64_t broker_wall_ms(void);
/* Starts a response in conn->out; returns the position to pass to _end. */
size_t broker_response_begin(struct broker_conn *conn, int32_t correlation_id);
void broker_response_end(struct broker_conn *conn, size_t start);
/* A parked request got its response: continue with the next frames. */
void broker_conn_resume(struct broker_conn *conn);
/* Remembers a log that needs fdatasync. */
void broker_note_dirty_log(struct broker *broker, struct broker_log *log);
/* Forgets a log about to be closed (topic deletion). */
void broker_forget_log(struct broker *broker, struct broker_log *log);
/* -1 when out of memory (the caller answers at once instead). */
int broker_add_fetch_waiter(struct broker *broker, struct broker_conn *conn);
void broker_remove_fetch_waiter(struct broker *broker, struct broker_conn *conn);

/* broker_handlers.c */
enum broker_handle_result broker_handle_frame(struct broker_conn *conn, uint8_t *frame, size_t len);
/* Re-evaluates a parked fetch; completes it when enough data arrived or
 * force (deadline passed). Returns 1 when completed. */
int broker_fetch_try_complete(struct broker_conn *conn, int force);
int64_t broker_allocate_producer_id(struct broker *broker, tp_err *err);

/* broker_group.c */
struct broker_groups *broker_groups_new(struct broker *broker);
void broker_groups_free(struct broker_groups *groups);
enum broker_handle_result broker_group_handle(struct broker_conn *conn);
/* Session expiry and rebalance timeouts. */
void broker_groups_tick(struct broker_groups *groups);
/* Earliest group deadline (monotonic ms), or INT64_MAX. */
int64_t broker_groups_next_deadline(const struct broker_groups *groups);
/* A connection with a parked JoinGroup/SyncGroup is going away. */
void broker_groups_forget_conn(struct broker_groups *groups, struct broker_conn *conn);

#endif
