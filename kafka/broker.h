/*
 * broker: tickpipe's single-node Kafka-protocol broker as a library.
 * cmd/broker.c runs it in the foreground; `tickpipe demo` can embed it in
 * a thread. One event loop (epoll, non-blocking sockets) serves every
 * connection; all state lives in the struct broker, so several brokers may
 * run in one process.
 *
 *   struct broker_config config;
 *   broker_config_defaults(&config);
 *   config.listen = "127.0.0.1:0";           // port 0: any free port
 *   struct broker *b = broker_open(&config, &err);   // recovers, binds
 *   broker_start(b, &err);                   // loop in a thread
 *   ... broker_port(b) ...
 *   broker_close(b);                         // stops, syncs, frees
 *
 * Errors: -1/NULL with a tp_err (bind failures say which address and why).
 */
#ifndef TICKPIPE_BROKER_H
#define TICKPIPE_BROKER_H

#include <signal.h>
#include <stdint.h>

#include "lib/err.h"

enum broker_fsync {
    BROKER_FSYNC_ALWAYS,   /* acks=-1/1 answered only after fdatasync */
    BROKER_FSYNC_INTERVAL, /* fdatasync dirty logs every fsync_interval_ms */
    BROKER_FSYNC_NEVER,    /* leave it to the kernel (still synced on clean shutdown) */
};

struct broker_config {
    const char *listen;    /* "HOST:PORT"; port 0 picks a free one */
    const char *advertise; /* "HOST:PORT" given to clients; NULL: the address each client dialled */
    const char *data_dir;
    int partitions;          /* for auto-created topics and CreateTopics with -1 */
    int auto_create;         /* create unknown topics on Metadata requests */
    int64_t retention_bytes; /* per partition; -1 unlimited */
    int64_t retention_ms;    /* by time since the segment's last append; -1 unlimited */
    enum broker_fsync fsync;
    int64_t fsync_interval_ms;
    int64_t max_request_bytes;
    int64_t segment_bytes;
    int64_t min_session_timeout_ms; /* consumer group session timeout bounds */
    int64_t max_session_timeout_ms;
    /* Optional: the loop ends when *stop_flag becomes non-zero (a signal
     * handler's flag; checked at least every 200 ms). */
    volatile sig_atomic_t *stop_flag;
};

void broker_config_defaults(struct broker_config *config);

struct broker;

/* Locks and recovers the data directory, then binds the listener. */
struct broker *broker_open(const struct broker_config *config, tp_err *err);
/* The bound port (useful after listening on port 0). */
int broker_port(const struct broker *broker);
/* Serves until broker_stop or the stop flag; then syncs everything. */
int broker_run(struct broker *broker, tp_err *err);
/* Runs broker_run in a new thread. */
int broker_start(struct broker *broker, tp_err *err);
/* Asks the loop to end; async-signal-safe and thread-safe. */
void broker_stop(struct broker *broker);
/* Stops (and joins the thread when broker_start was used), syncs, frees. */
void broker_close(struct broker *broker);

#endif
