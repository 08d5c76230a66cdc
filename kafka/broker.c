/*
 * broker: the event loop. One thread, epoll over non-blocking sockets.
 * Each connection handles one request at a time, in order (as Apache
 * Kafka does): a request that must wait (a Fetch below min_bytes, a
 * JoinGroup or SyncGroup until the group is ready) parks the connection
 * until it can be answered. Responses are written at the end of each loop
 * iteration, after the fsync of what that iteration appended when
 * --fsync always: one fsync covers every producer (group commit).
 */
#include "kafka/broker_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kafka/broker_fs.h"
#include "lib/log.h"

#define BROKER_READ_CHUNK         (256 * 1024)
#define BROKER_OUT_HIGH_WATER     (32 * 1024 * 1024) /* stop reading requests above this */
#define BROKER_BUFFER_KEEP        (1024 * 1024)      /* shrink idle buffers larger than this */
#define BROKER_MAX_POLL_MS        200
#define BROKER_RETENTION_CHECK_MS 30000

static int broker_flusher_start(struct broker_flusher *flusher, tp_err *err);

void broker_config_defaults(struct broker_config *config)
{
    memset(config, 0, sizeof *config);
    config->listen = "127.0.0.1:9092";
    config->advertise = NULL;
    config->data_dir = "./tickpipe-data";
    config->partitions = 4;
    config->auto_create = 1;
    config->retention_bytes = -1;
    config->retention_ms = 7LL * 24 * 3600 * 1000;
    config->fsync = BROKER_FSYNC_INTERVAL;
    config->fsync_interval_ms = 1000;
    config->max_request_bytes = 100LL * 1024 * 1024;
    config->segment_bytes = 128LL * 1024 * 1024;
    config->min_session_timeout_ms = 6000;
    config->max_session_timeout_ms = 1800000;
}

int64_t broker_monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t broker_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Splits "host:port", "[v6]:port" or ":port" (host "" = every interface). */
static int broker_split_host_port(const char *text, char *host, size_t host_size, int *port)
{
    const char *colon;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return -1;
        snprintf(host, host_size, "%.*s", (int)(close - text - 1), text + 1);
        colon = close + 1;
    } else {
        colon = strrchr(text, ':');
        if (!colon)
            return -1;
        snprintf(host, host_size, "%.*s", (int)(colon - text), text);
    }
    char *end;
    long value = strtol(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end || value < 0 || value > 65535)
        return -1;
    *port = (int)value;
    return 0;
}

static int broker_listen(struct broker *broker, tp_err *err)
{
    char host[256];
    int port;
    if (broker_split_host_port(broker->listen, host, sizeof host, &port) < 0)
        return tp_err_set(err, TP_ERR_USAGE, "--listen %s: expected HOST:PORT", broker->listen);
    struct addrinfo hints = {0}, *addresses = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", port);
    int rc = getaddrinfo(host[0] ? host : NULL, port_text, &hints, &addresses);
    if (rc != 0)
        return tp_err_set(err, TP_ERR_USAGE, "listen %s: %s", broker->listen, gai_strerror(rc));
    int fd = -1, saved = 0;
    for (struct addrinfo *a = addresses; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, 512) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(addresses);
    if (fd < 0) {
        if (saved == EADDRINUSE)
            return tp_err_set(err, TP_ERR_IO,
                              "listen %s: address already in use (another broker or Kafka "
                              "running? choose another port with --listen HOST:PORT)",
                              broker->listen);
        return tp_err_set(err, TP_ERR_IO, "listen %s: %s", broker->listen, strerror(saved));
    }
    struct sockaddr_storage bound;
    memset(&bound, 0, sizeof bound);
    socklen_t bound_len = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &bound_len);
    broker->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                     : ((struct sockaddr_in *)&bound)->sin_port);
    broker->listen_fd = fd;
    return 0;
}

/* Takes an exclusive lock on the data directory so two brokers never
 * write the same logs. */
static int broker_lock_data_dir(struct broker *broker, tp_err *err)
{
    char path[4200];
    if (broker_fs_mkdirs(broker->data_dir, err) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/.lock", broker->data_dir);
    broker->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (broker->lock_fd < 0)
        return tp_err_set(err, TP_ERR_IO, "open %s: %s", path, strerror(errno));
    if (flock(broker->lock_fd, LOCK_EX | LOCK_NB) < 0)
        return tp_err_set(err, TP_ERR_IO,
                          "data directory %s is in use by another broker (lock %s held)",
                          broker->data_dir, path);
    return 0;
}

/* Producer ids are handed out from blocks reserved on disk, so ids stay
 * unique across restarts without a write per InitProducerId. */
#define BROKER_PRODUCER_ID_BLOCK 1000

static int broker_reserve_producer_ids(struct broker *broker, tp_err *err)
{
    char path[4200], tmp[4300], text[64];
    snprintf(path, sizeof path, "%s/producer-ids", broker->data_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int64_t limit = broker->producer_id_limit + BROKER_PRODUCER_ID_BLOCK;
    int len = snprintf(text, sizeof text, "%lld\n", (long long)limit);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || broker_fs_write_all(fd, text, (size_t)len) < 0 || fdatasync(fd) < 0 ||
        rename(tmp, path) < 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        return tp_err_set(err, TP_ERR_IO, "write %s: %s", path, strerror(saved));
    }
    close(fd);
    broker->producer_id_limit = limit;
    return 0;
}

static int broker_load_producer_ids(struct broker *broker, tp_err *err)
{
    char path[4200], text[64] = {0};
    snprintf(path, sizeof path, "%s/producer-ids", broker->data_dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, text, sizeof text - 1);
        close(fd);
        if (n > 0)
            broker->producer_id_limit = strtoll(text, NULL, 10);
    }
    if (broker->producer_id_limit < 0)
        broker->producer_id_limit = 0;
    broker->next_producer_id = broker->producer_id_limit;
    return broker_reserve_producer_ids(broker, err);
}

int64_t broker_allocate_producer_id(struct broker *broker, tp_err *err)
{
    if (broker->next_producer_id >= broker->producer_id_limit &&
        broker_reserve_producer_ids(broker, err) < 0)
        return -1;
    return broker->next_producer_id++;
}

static void broker_raise_fd_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        setrlimit(RLIMIT_NOFILE, &limit);
    }
}

static int broker_epoll_add(struct broker *broker, int fd, uint32_t events, void *ptr)
{
    struct epoll_event event = {.events = events, .data.ptr = ptr};
    return epoll_ctl(broker->epoll_fd, EPOLL_CTL_ADD, fd, &event);
}

struct broker *broker_open(const struct broker_config *config, tp_err *err)
{
    struct broker *broker = calloc(1, sizeof *broker);
    if (!broker) {
        tp_err_set(err, TP_ERR_INTERNAL, "start broker: out of memory");
        return NULL;
    }
    broker->config = *config;
    broker->listen_fd = broker->epoll_fd = broker->wake_fd = broker->lock_fd = -1;
    broker->data_dir = strdup(config->data_dir);
    broker->listen = strdup(config->listen);
    broker->next_conn_id = 1;
    if (!broker->data_dir || !broker->listen) {
        tp_err_set(err, TP_ERR_INTERNAL, "start broker: out of memory");
        broker_close(broker);
        return NULL;
    }
    if (config->advertise) {
        char host[256];
        if (broker_split_host_port(config->advertise, host, sizeof host, &broker->advertise_port) <
                0 ||
            !host[0] || broker->advertise_port == 0) {
            tp_err_set(err, TP_ERR_USAGE, "--advertise %s: expected HOST:PORT", config->advertise);
            broker_close(broker);
            return NULL;
        }
        broker->advertise_host = strdup(host);
    }
    broker_raise_fd_limit();
    struct broker_log_config log_config = {
        .segment_bytes = config->segment_bytes,
        .max_batch_bytes = config->max_request_bytes,
        .sync_on_roll = config->fsync != BROKER_FSYNC_NEVER,
    };
    char groups_dir[4200];
    snprintf(groups_dir, sizeof groups_dir, "%s/groups", broker->data_dir);
    if (broker_listen(broker, err) < 0 || broker_lock_data_dir(broker, err) < 0 ||
        broker_load_producer_ids(broker, err) < 0 ||
        !(broker->topics = broker_topics_open(broker->data_dir, &log_config, err)) ||
        !(broker->offsets = broker_offsets_open(groups_dir, err))) {
        broker_close(broker);
        return NULL;
    }
    if (config->fsync == BROKER_FSYNC_INTERVAL && broker_flusher_start(&broker->flusher, err) < 0) {
        broker_close(broker);
        return NULL;
    }
    broker->groups = broker_groups_new(broker);
    broker->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    broker->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!broker->groups || broker->epoll_fd < 0 || broker->wake_fd < 0 ||
        broker_epoll_add(broker, broker->listen_fd, EPOLLIN, &broker->listen_fd) < 0 ||
        broker_epoll_add(broker, broker->wake_fd, EPOLLIN, &broker->wake_fd) < 0) {
        tp_err_set(err, TP_ERR_INTERNAL, "start broker: %s", strerror(errno));
        broker_close(broker);
        return NULL;
    }
    return broker;
}

int broker_port(const struct broker *broker)
{
    return broker->port;
}

void broker_stop(struct broker *broker)
{
    broker->stop_requested = 1;
    uint64_t one = 1;
    ssize_t ignored = write(broker->wake_fd, &one, sizeof one);
    (void)ignored;
}

/* ---- connections ---- */

static void broker_conn_update_events(struct broker_conn *conn)
{
    uint32_t events = EPOLLRDHUP;
    if (conn->reading)
        events |= EPOLLIN;
    if (conn->want_write)
        events |= EPOLLOUT;
    struct epoll_event event = {.events = events, .data.ptr = conn};
    epoll_ctl(conn->broker->epoll_fd, EPOLL_CTL_MOD, conn->fd, &event);
}

static void broker_format_address(const struct sockaddr_storage *address, char *host,
                                  size_t host_size, int *port)
{
    if (address->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)address;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, (socklen_t)host_size);
        *port = ntohs(in6->sin6_port);
    } else {
        const struct sockaddr_in *in = (const struct sockaddr_in *)address;
        inet_ntop(AF_INET, &in->sin_addr, host, (socklen_t)host_size);
        *port = ntohs(in->sin_port);
    }
}

static void broker_accept(struct broker *broker)
{
    for (;;) {
        struct sockaddr_storage peer;
        memset(&peer, 0, sizeof peer);
        socklen_t peer_len = sizeof peer;
        int fd = accept4(broker->listen_fd, (struct sockaddr *)&peer, &peer_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_warn("accept on %s: %s", broker->listen, strerror(errno));
            return;
        }
        struct broker_conn *conn = calloc(1, sizeof *conn);
        if (!conn) {
            close(fd);
            log_warn("accept: out of memory, connection refused");
            continue;
        }
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        conn->broker = broker;
        conn->fd = fd;
        conn->id = broker->next_conn_id++;
        conn->reading = 1;
        char host[INET6_ADDRSTRLEN];
        int port;
        broker_format_address(&peer, host, sizeof host, &port);
        snprintf(conn->peer, sizeof conn->peer, peer.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d",
                 host, port);
        if (broker->advertise_host) {
            snprintf(conn->advertised, sizeof conn->advertised, "%s", broker->advertise_host);
            conn->advertised_port = broker->advertise_port;
        } else {
            struct sockaddr_storage local;
            memset(&local, 0, sizeof local);
            socklen_t local_len = sizeof local;
            getsockname(fd, (struct sockaddr *)&local, &local_len);
            broker_format_address(&local, conn->advertised, sizeof conn->advertised,
                                  &conn->advertised_port);
        }
        if (broker_epoll_add(broker, fd, EPOLLIN | EPOLLRDHUP, conn) < 0) {
            log_warn("accept %s: %s", conn->peer, strerror(errno));
            close(fd);
            free(conn);
            continue;
        }
        conn->next = broker->conns;
        if (broker->conns)
            broker->conns->prev = conn;
        broker->conns = conn;
        broker->conn_count++;
        log_info("connect %s (connection %llu, %d open)", conn->peer, (unsigned long long)conn->id,
                 broker->conn_count);
    }
}

static void broker_conn_free(struct broker_conn *conn)
{
    free(conn->in);
    broker_writer_free(&conn->out);
    broker_arena_free(&conn->arena);
    free(conn->park_appended);
    free(conn);
}

static void broker_remove_from_array(struct broker_conn **array, int *count,
                                     const struct broker_conn *conn)
{
    for (int i = 0; i < *count; i++) {
        if (array[i] == conn) {
            array[i] = array[--*count];
            return;
        }
    }
}

/* Closes a connection now; the struct is freed at the end of the loop
 * iteration so callers up the stack may still look at conn->closed. */
static void broker_conn_close(struct broker_conn *conn, const char *why)
{
    if (conn->closed)
        return;
    struct broker *broker = conn->broker;
    conn->closed = 1;
    if (conn->parked == BROKER_PARK_FETCH)
        broker_remove_fetch_waiter(broker, conn);
    if (conn->parked == BROKER_PARK_JOIN || conn->parked == BROKER_PARK_SYNC)
        broker_groups_forget_conn(broker->groups, conn);
    conn->parked = BROKER_PARK_NONE;
    epoll_ctl(broker->epoll_fd, EPOLL_CTL_DEL, conn->fd, NULL);
    close(conn->fd);
    conn->fd = -1;
    broker->conn_count--;
    log_info("disconnect %s (connection %llu%s%s, %d open)", conn->peer,
             (unsigned long long)conn->id, why ? ": " : "", why ? why : "", broker->conn_count);
}

static void broker_queue_write(struct broker_conn *conn)
{
    struct broker *broker = conn->broker;
    if (conn->write_queued || conn->closed)
        return;
    if (broker->write_queue_len == broker->write_queue_cap) {
        int cap = broker->write_queue_cap ? broker->write_queue_cap * 2 : 64;
        struct broker_conn **grown =
            realloc(broker->write_queue, (size_t)cap * sizeof(struct broker_conn *));
        if (!grown) {
            broker_conn_close(conn, "out of memory");
            return;
        }
        broker->write_queue = grown;
        broker->write_queue_cap = cap;
    }
    broker->write_queue[broker->write_queue_len++] = conn;
    conn->write_queued = 1;
}

size_t broker_response_begin(struct broker_conn *conn, int32_t correlation_id)
{
    size_t start = conn->out.len;
    broker_write_i32(&conn->out, 0);
    broker_write_i32(&conn->out, correlation_id);
    return start;
}

void broker_response_end(struct broker_conn *conn, size_t start)
{
    if (conn->out.failed) {
        log_error("%s: out of memory building a response", conn->peer);
        broker_conn_close(conn, "out of memory");
        return;
    }
    broker_write_i32_at(&conn->out, start, (int32_t)(conn->out.len - start - 4));
    broker_queue_write(conn);
}

static size_t broker_out_pending(const struct broker_conn *conn)
{
    return conn->out.len - conn->out_sent;
}

/* Handles every complete frame in the input buffer, stopping at a parked
 * request or when too much output is waiting. */
static void broker_conn_process(struct broker_conn *conn)
{
    struct broker *broker = conn->broker;
    while (!conn->closed && conn->parked == BROKER_PARK_NONE &&
           broker_out_pending(conn) < BROKER_OUT_HIGH_WATER) {
        size_t available = conn->in_len - conn->in_start;
        if (available < 4)
            break;
        int32_t size = broker_load_i32(conn->in + conn->in_start);
        if (size < 8 || (int64_t)size > broker->config.max_request_bytes) {
            char why[160];
            snprintf(why, sizeof why, "request size %d outside 8..%lld (--max-request-bytes)", size,
                     (long long)broker->config.max_request_bytes);
            log_warn("%s: %s, closing", conn->peer, why);
            broker_conn_close(conn, why);
            return;
        }
        if (available < (size_t)size + 4)
            break;
        broker_arena_reset(&conn->arena);
        enum broker_handle_result result =
            broker_handle_frame(conn, conn->in + conn->in_start + 4, (size_t)size);
        if (result == BROKER_CLOSE) {
            broker_conn_close(conn, "protocol error");
            return;
        }
        if (result == BROKER_PARKED) {
            conn->parked_frame_size = (size_t)size + 4;
            break;
        }
        conn->in_start += (size_t)size + 4;
    }
    if (conn->in_start == conn->in_len) {
        conn->in_start = conn->in_len = 0;
        if (conn->in_cap > BROKER_BUFFER_KEEP) { /* after a large request */
            free(conn->in);
            conn->in = NULL;
            conn->in_cap = 0;
        }
    }
    int reading = !conn->closed && conn->parked == BROKER_PARK_NONE &&
                  broker_out_pending(conn) < BROKER_OUT_HIGH_WATER;
    if (!conn->closed && reading != conn->reading) {
        conn->reading = reading;
        broker_conn_update_events(conn);
    }
}

void broker_conn_resume(struct broker_conn *conn)
{
    if (conn->closed)
        return;
    conn->parked = BROKER_PARK_NONE;
    conn->in_start += conn->parked_frame_size;
    conn->parked_frame_size = 0;
    /* Deferred: the caller may be in the middle of a group rebalance. */
    conn->resume_pending = 1;
    conn->broker->resume_pending = 1;
}

static void broker_conn_read(struct broker_conn *conn)
{
    struct broker *broker = conn->broker;
    size_t budget = 4 * BROKER_READ_CHUNK;
    while (!conn->closed && conn->reading && budget > 0) {
        if (conn->in_start > 0 && conn->in_cap - conn->in_len < BROKER_READ_CHUNK) {
            memmove(conn->in, conn->in + conn->in_start, conn->in_len - conn->in_start);
            conn->in_len -= conn->in_start;
            conn->in_start = 0;
        }
        /* Room for the frame being received, or at least one chunk. */
        size_t want = BROKER_READ_CHUNK;
        if (conn->in_len - conn->in_start >= 4) {
            int32_t size = broker_load_i32(conn->in + conn->in_start);
            if (size > 0 && (int64_t)size <= broker->config.max_request_bytes &&
                (size_t)size + 4 > conn->in_len - conn->in_start)
                want = (size_t)size + 4 - (conn->in_len - conn->in_start);
            if (want > 16 * 1024 * 1024)
                want = 16 * 1024 * 1024; /* grow as bytes actually arrive */
            if (want < BROKER_READ_CHUNK)
                want = BROKER_READ_CHUNK;
        }
        if (conn->in_cap - conn->in_len < want) {
            size_t cap = conn->in_cap ? conn->in_cap : BROKER_READ_CHUNK;
            while (cap - conn->in_len < want)
                cap *= 2;
            uint8_t *grown = realloc(conn->in, cap);
            if (!grown) {
                broker_conn_close(conn, "out of memory");
                return;
            }
            conn->in = grown;
            conn->in_cap = cap;
        }
        ssize_t n = recv(conn->fd, conn->in + conn->in_len, conn->in_cap - conn->in_len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            broker_conn_close(conn, n == 0 ? NULL : strerror(errno));
            return;
        }
        conn->in_len += (size_t)n;
        budget = (size_t)n < budget ? budget - (size_t)n : 0;
        broker_conn_process(conn);
    }
}

static void broker_conn_write(struct broker_conn *conn)
{
    while (!conn->closed && broker_out_pending(conn) > 0) {
        ssize_t n =
            send(conn->fd, conn->out.data + conn->out_sent, broker_out_pending(conn), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!conn->want_write) {
                conn->want_write = 1;
                broker_conn_update_events(conn);
            }
            return;
        }
        if (n < 0) {
            broker_conn_close(conn, strerror(errno));
            return;
        }
        conn->out_sent += (size_t)n;
    }
    if (conn->closed)
        return;
    conn->out.len = conn->out_sent = 0;
    if (conn->out.cap > BROKER_BUFFER_KEEP)
        broker_writer_free(&conn->out);
    if (conn->in_len == 0 && conn->in_cap > BROKER_BUFFER_KEEP) {
        free(conn->in);
        conn->in = NULL;
        conn->in_cap = 0;
    }
    if (conn->want_write) {
        conn->want_write = 0;
        broker_conn_update_events(conn);
    }
    /* Output drained: requests held back by the high-water mark go on in
     * the next iteration (never here: flush runs after the fsync). */
    if (!conn->reading && conn->parked == BROKER_PARK_NONE) {
        conn->resume_pending = 1;
        conn->broker->resume_pending = 1;
    }
}

static void broker_resume_pending(struct broker *broker)
{
    broker->resume_pending = 0;
    for (struct broker_conn *conn = broker->conns; conn; conn = conn->next) {
        if (conn->resume_pending && !conn->closed) {
            conn->resume_pending = 0;
            broker_conn_process(conn);
        }
    }
}

/* ---- dirty logs, parked fetches ---- */

void broker_note_dirty_log(struct broker *broker, struct broker_log *log)
{
    broker->appended = 1;
    for (int i = broker->dirty_log_count - 1; i >= 0 && i >= broker->dirty_log_count - 4; i--)
        if (broker->dirty_logs[i] == log)
            return;
    for (int i = 0; i < broker->dirty_log_count; i++)
        if (broker->dirty_logs[i] == log)
            return;
    if (broker->dirty_log_count == broker->dirty_log_cap) {
        int cap = broker->dirty_log_cap ? broker->dirty_log_cap * 2 : 16;
        struct broker_log **grown =
            realloc(broker->dirty_logs, (size_t)cap * sizeof(struct broker_log *));
        if (!grown)
            return; /* synced at the next interval or shutdown by the full scan */
        broker->dirty_logs = grown;
        broker->dirty_log_cap = cap;
    }
    broker->dirty_logs[broker->dirty_log_count++] = log;
}

void broker_forget_log(struct broker *broker, struct broker_log *log)
{
    for (int i = 0; i < broker->dirty_log_count; i++) {
        if (broker->dirty_logs[i] == log) {
            broker->dirty_logs[i] = broker->dirty_logs[--broker->dirty_log_count];
            return;
        }
    }
}

int broker_add_fetch_waiter(struct broker *broker, struct broker_conn *conn)
{
    if (broker->fetch_waiter_count == broker->fetch_waiter_cap) {
        int cap = broker->fetch_waiter_cap ? broker->fetch_waiter_cap * 2 : 16;
        struct broker_conn **grown =
            realloc(broker->fetch_waiters, (size_t)cap * sizeof(struct broker_conn *));
        if (!grown)
            return -1;
        broker->fetch_waiters = grown;
        broker->fetch_waiter_cap = cap;
    }
    broker->fetch_waiters[broker->fetch_waiter_count++] = conn;
    return 0;
}

void broker_remove_fetch_waiter(struct broker *broker, struct broker_conn *conn)
{
    broker_remove_from_array(broker->fetch_waiters, &broker->fetch_waiter_count, conn);
}

/* Wakes parked fetches that have enough data now (or whose max_wait
 * passed). Completing one may park its connection again, so the list is
 * walked on a snapshot. */
static void broker_check_fetch_waiters(struct broker *broker, int data_arrived)
{
    int n = broker->fetch_waiter_count;
    if (n == 0)
        return;
    struct broker_conn **snapshot = malloc((size_t)n * sizeof(struct broker_conn *));
    if (!snapshot)
        return;
    memcpy(snapshot, broker->fetch_waiters, (size_t)n * sizeof(struct broker_conn *));
    for (int i = 0; i < n; i++) {
        struct broker_conn *conn = snapshot[i];
        if (conn->closed || conn->parked != BROKER_PARK_FETCH)
            continue;
        int due = broker->now_ms >= conn->park_deadline;
        if (due || data_arrived)
            broker_fetch_try_complete(conn, due);
    }
    free(snapshot);
}

static int64_t broker_next_deadline(const struct broker *broker)
{
    int64_t next = broker->now_ms + BROKER_MAX_POLL_MS;
    for (int i = 0; i < broker->fetch_waiter_count; i++)
        if (broker->fetch_waiters[i]->park_deadline < next)
            next = broker->fetch_waiters[i]->park_deadline;
    int64_t group = broker_groups_next_deadline(broker->groups);
    if (group < next)
        next = group;
    if (broker->config.fsync == BROKER_FSYNC_INTERVAL && broker->dirty_log_count &&
        broker->next_fsync_ms < next)
        next = broker->next_fsync_ms;
    return next;
}

/* ---- background fsync (--fsync interval) ---- */

static void *broker_flusher_main(void *arg)
{
    struct broker_flusher *flusher = arg;
    pthread_mutex_lock(&flusher->lock);
    for (;;) {
        while (flusher->count == 0 && !flusher->stop)
            pthread_cond_wait(&flusher->wake, &flusher->lock);
        if (flusher->count == 0 && flusher->stop)
            break;
        int fd = flusher->fds[--flusher->count];
        pthread_mutex_unlock(&flusher->lock);
        if (fsync(fd) < 0) /* fsync, not fdatasync: some are directories */
            log_error("background fsync: %s", strerror(errno));
        close(fd);
        pthread_mutex_lock(&flusher->lock);
    }
    pthread_mutex_unlock(&flusher->lock);
    return NULL;
}

static int broker_flusher_start(struct broker_flusher *flusher, tp_err *err)
{
    pthread_mutex_init(&flusher->lock, NULL);
    pthread_cond_init(&flusher->wake, NULL);
    int rc = pthread_create(&flusher->thread, NULL, broker_flusher_main, flusher);
    if (rc != 0)
        return tp_err_set(err, TP_ERR_INTERNAL, "start fsync thread: %s", strerror(rc));
    flusher->started = 1;
    return 0;
}

/* Queues descriptors for fdatasync; syncs them here when out of memory. */
static void broker_flusher_push(struct broker_flusher *flusher, const int *fds, int n)
{
    pthread_mutex_lock(&flusher->lock);
    if (flusher->count + n > flusher->capacity) {
        int capacity = (flusher->count + n) * 2;
        int *grown = realloc(flusher->fds, (size_t)capacity * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&flusher->lock);
            for (int i = 0; i < n; i++) {
                fdatasync(fds[i]);
                close(fds[i]);
            }
            return;
        }
        flusher->fds = grown;
        flusher->capacity = capacity;
    }
    memcpy(flusher->fds + flusher->count, fds, (size_t)n * sizeof *fds);
    flusher->count += n;
    pthread_cond_signal(&flusher->wake);
    pthread_mutex_unlock(&flusher->lock);
}

/* Lets the thread finish what it holds, then joins it. */
static void broker_flusher_stop(struct broker_flusher *flusher)
{
    if (!flusher->started)
        return;
    pthread_mutex_lock(&flusher->lock);
    flusher->stop = 1;
    pthread_cond_signal(&flusher->wake);
    pthread_mutex_unlock(&flusher->lock);
    pthread_join(flusher->thread, NULL);
    pthread_mutex_destroy(&flusher->lock);
    pthread_cond_destroy(&flusher->wake);
    free(flusher->fds);
    flusher->started = 0;
}

/* fdatasyncs every log appended to since the last sync (in the flusher
 * thread when there is one), and the offsets. */
static void broker_sync_dirty(struct broker *broker)
{
    for (int i = 0; i < broker->dirty_log_count; i++) {
        tp_err err;
        struct broker_log *log = broker->dirty_logs[i];
        if (broker->flusher.started) {
            int fds[8], n;
            while ((n = broker_log_take_sync_fds(log, fds, 8, &err)) > 0)
                broker_flusher_push(&broker->flusher, fds, n);
            if (n < 0)
                log_error("%s", err.msg);
        } else if (broker_log_sync(log, &err) < 0) {
            log_error("%s", err.msg);
        }
    }
    broker->dirty_log_count = 0;
    tp_err err;
    if (broker_offsets_dirty(broker->offsets) && broker_offsets_sync(broker->offsets, &err) < 0)
        log_error("%s", err.msg);
}

static void broker_apply_retention(struct broker *broker)
{
    int64_t now = broker_wall_ms();
    int count = broker_topics_count(broker->topics);
    for (int t = 0; t < count; t++) {
        struct broker_topic *topic = broker_topics_at(broker->topics, t);
        for (int p = 0; p < topic->partition_count; p++)
            if (broker_log_apply_retention(topic->partitions[p], broker->config.retention_bytes,
                                           broker->config.retention_ms, now) > 0)
                broker_note_dirty_log(broker, topic->partitions[p]);
    }
}

static void broker_reap_closed(struct broker *broker)
{
    struct broker_conn *conn = broker->conns;
    while (conn) {
        struct broker_conn *next = conn->next;
        if (conn->closed) {
            if (conn->prev)
                conn->prev->next = conn->next;
            else
                broker->conns = conn->next;
            if (conn->next)
                conn->next->prev = conn->prev;
            broker_remove_from_array(broker->fetch_waiters, &broker->fetch_waiter_count, conn);
            broker_conn_free(conn);
        }
        conn = next;
    }
}

static void broker_flush_writes(struct broker *broker)
{
    /* Responses may only leave after the data they acknowledge is durable. */
    if (broker->config.fsync == BROKER_FSYNC_ALWAYS &&
        (broker->dirty_log_count || broker_offsets_dirty(broker->offsets)))
        broker_sync_dirty(broker);
    for (int i = 0; i < broker->write_queue_len; i++) {
        struct broker_conn *conn = broker->write_queue[i];
        conn->write_queued = 0;
        broker_conn_write(conn);
    }
    broker->write_queue_len = 0;
}

static void broker_handle_event(struct broker *broker, struct epoll_event *event)
{
    if (event->data.ptr == &broker->listen_fd) {
        broker_accept(broker);
        return;
    }
    if (event->data.ptr == &broker->wake_fd) {
        uint64_t value;
        ssize_t ignored = read(broker->wake_fd, &value, sizeof value);
        (void)ignored;
        return;
    }
    struct broker_conn *conn = event->data.ptr;
    if (conn->closed)
        return;
    if (event->events & EPOLLOUT)
        broker_conn_write(conn);
    if (!conn->closed && (event->events & EPOLLIN))
        broker_conn_read(conn);
    /* the peer hung up (or errored) and left nothing to read, or half-closed
     * while no request is being read */
    int hung_up =
        (event->events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) && !(event->events & EPOLLIN);
    int half_closed = (event->events & EPOLLRDHUP) && !conn->reading;
    if (!conn->closed && (hung_up || half_closed))
        broker_conn_close(conn, NULL);
}

int broker_run(struct broker *broker, tp_err *err)
{
    struct epoll_event events[128];
    broker->now_ms = broker_monotonic_ms();
    broker->next_fsync_ms = broker->now_ms + broker->config.fsync_interval_ms;
    broker->next_retention_ms = broker->now_ms;
    int rc = 0;
    while (!broker->stop_requested && !(broker->config.stop_flag && *broker->config.stop_flag)) {
        int64_t deadline = broker_next_deadline(broker);
        int timeout = deadline <= broker->now_ms || broker->resume_pending
                          ? 0
                          : (int)(deadline - broker->now_ms);
        int n = epoll_wait(broker->epoll_fd, events, 128, timeout);
        if (n < 0 && errno != EINTR) {
            rc = tp_err_set(err, TP_ERR_IO, "broker event loop: %s", strerror(errno));
            break;
        }
        broker->now_ms = broker_monotonic_ms();
        broker->appended = 0;
        for (int i = 0; i < n; i++)
            broker_handle_event(broker, &events[i]);
        if (broker->resume_pending)
            broker_resume_pending(broker);
        broker->now_ms = broker_monotonic_ms();
        broker_check_fetch_waiters(broker, broker->appended);
        broker_groups_tick(broker->groups);
        if (broker->config.fsync == BROKER_FSYNC_INTERVAL &&
            broker->now_ms >= broker->next_fsync_ms) {
            broker_sync_dirty(broker);
            broker->next_fsync_ms = broker->now_ms + broker->config.fsync_interval_ms;
        }
        if (broker->now_ms >= broker->next_retention_ms) {
            broker_apply_retention(broker);
            broker->next_retention_ms = broker->now_ms + BROKER_RETENTION_CHECK_MS;
        }
        broker_flush_writes(broker);
        broker_reap_closed(broker);
    }
    return rc;
}

static void *broker_thread_main(void *arg)
{
    struct broker *broker = arg;
    tp_err err;
    if (broker_run(broker, &err) < 0)
        log_error("%s", err.msg);
    return NULL;
}

int broker_start(struct broker *broker, tp_err *err)
{
    int rc = pthread_create(&broker->thread, NULL, broker_thread_main, broker);
    if (rc != 0)
        return tp_err_set(err, TP_ERR_INTERNAL, "start broker thread: %s", strerror(rc));
    broker->thread_started = 1;
    return 0;
}

/* Final sync of every partition and the offsets (any --fsync mode). */
static void broker_sync_all(struct broker *broker)
{
    int count = broker_topics_count(broker->topics);
    for (int t = 0; t < count; t++) {
        struct broker_topic *topic = broker_topics_at(broker->topics, t);
        for (int p = 0; p < topic->partition_count; p++) {
            tp_err err;
            if (broker_log_dirty(topic->partitions[p]) &&
                broker_log_sync(topic->partitions[p], &err) < 0)
                log_error("%s", err.msg);
        }
    }
    broker->dirty_log_count = 0;
    tp_err err;
    if (broker_offsets_sync(broker->offsets, &err) < 0)
        log_error("%s", err.msg);
}

void broker_close(struct broker *broker)
{
    if (!broker)
        return;
    if (broker->thread_started) {
        broker_stop(broker);
        pthread_join(broker->thread, NULL);
        broker->thread_started = 0;
    }
    for (struct broker_conn *conn = broker->conns; conn; conn = conn->next)
        broker_conn_close(conn, "broker stopping");
    broker_reap_closed(broker);
    broker_flusher_stop(&broker->flusher);
    if (broker->topics && broker->offsets)
        broker_sync_all(broker);
    broker_groups_free(broker->groups);
    broker_offsets_close(broker->offsets);
    broker_topics_close(broker->topics);
    if (broker->listen_fd >= 0)
        close(broker->listen_fd);
    if (broker->epoll_fd >= 0)
        close(broker->epoll_fd);
    if (broker->wake_fd >= 0)
        close(broker->wake_fd);
    if (broker->lock_fd >= 0)
        close(broker->lock_fd);
    free(broker->write_queue);
    free(broker->fetch_waiters);
    free(broker->dirty_logs);
    free(broker->advertise_host);
    free(broker->data_dir);
    free(broker->listen);
    free(broker);
}
