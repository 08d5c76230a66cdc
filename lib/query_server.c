/*
 * query_server: a resident local engine answering `tickpipe athena`
 * processes over a Unix socket (see query_server.h for the protocol and
 * the safety rules). The client side decodes frames into the caller's
 * sink; the server side runs each query through query_duckdb_execute with
 * a sink that encodes frames, and a watcher thread that interrupts DuckDB
 * when the client hangs up.
 */
#include "lib/query_server.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "lib/clock.h"
#include "lib/log.h"
#include "lib/sha256.h"

#define SERVER_MAX_FRAME   (64u << 20)
#define SERVER_FLUSH_BYTES (64u << 10)
#define SERVER_NULL_LENGTH 0xffffffffu
/* A server busy with another query (or a client that stopped reading) does
 * not take a new one within this: the client runs it itself. */
#define SERVER_TAKE_MS 250
/* A client that reads nothing for this long is dropped (its query stops). */
#define SERVER_SEND_PATIENCE_S 30

/* ---- where the socket lives ------------------------------------------------ */

/* A directory only this user can enter: created 0700 when missing, else
 * it must be a real directory of ours with no access for others. */
static int server_private_directory(buf *directory)
{
    const char *runtime = getenv("XDG_RUNTIME_DIR");
    if (runtime && *runtime == '/')
        buf_printf(directory, "%s/tickpipe", runtime);
    else
        buf_printf(directory, "/tmp/tickpipe-%ld", (long)geteuid());
    if (mkdir(directory->data, 0700) != 0 && errno != EEXIST)
        return -1;
    struct stat st;
    if (lstat(directory->data, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        (st.st_mode & 077) != 0)
        return -1;
    return 0;
}

int query_server_address(const struct query_duckdb_options *options, char **key, char **path)
{
    *key = *path = NULL;
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    struct stat st;
    if (length <= 0)
        return -1;
    self[length] = '\0';
    if (stat(self, &st) != 0)
        return -1;
    buf identity = BUF_INIT, directory = BUF_INIT;
    buf_printf(
        &identity, "tickpipe %s %s %llu %lld.%09ld\nlake %s\ndatabase %s\nlibrary %s\ncache %s",
        TICKPIPE_VERSION, self, (unsigned long long)st.st_ino, (long long)st.st_mtim.tv_sec,
        st.st_mtim.tv_nsec, options->lake_root, options->database,
        options->library ? options->library : "", options->cache_path ? options->cache_path : "");
    char hex[2 * SHA256_BYTES + 1];
    int rc = -1;
    if (identity.data && server_private_directory(&directory) == 0) {
        sha256_hex(identity.data, identity.len, hex);
        buf_printf(&directory, "/query-%.20s.sock", hex);
        if (directory.len < sizeof(((struct sockaddr_un *)0)->sun_path)) {
            *key = buf_detach(&identity);
            *path = buf_detach(&directory);
            rc = 0;
        }
    }
    buf_free(&identity);
    buf_free(&directory);
    return rc;
}

/* ---- frames ---------------------------------------------------------------- */

static void frame_u32(buf *b, uint32_t v)
{
    unsigned char bytes[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                              (unsigned char)(v >> 24)};
    buf_append(b, bytes, 4);
}

static void frame_i64(buf *b, int64_t v)
{
    frame_u32(b, (uint32_t)((uint64_t)v & 0xffffffffu));
    frame_u32(b, (uint32_t)((uint64_t)v >> 32));
}

static void frame_string(buf *b, const char *text, size_t length)
{
    frame_u32(b, (uint32_t)length);
    buf_append(b, text, length);
}

/* Starts a frame of type; frame_end fills in its length. */
static size_t frame_begin(buf *b, char type)
{
    size_t at = b->len;
    frame_u32(b, 0);
    buf_append_char(b, type);
    return at;
}

static void frame_end(buf *b, size_t at)
{
    if (!b->data)
        return;
    uint32_t length = (uint32_t)(b->len - at - 4);
    for (int i = 0; i < 4; i++)
        b->data[at + (size_t)i] = (char)(length >> (8 * i));
}

/* A payload being read: each get fails (returns -1) past its end. */
struct frame_reader {
    const unsigned char *data;
    size_t length, at;
};

static int frame_get_u32(struct frame_reader *r, uint32_t *v)
{
    if (r->length - r->at < 4)
        return -1;
    const unsigned char *p = r->data + r->at;
    *v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    r->at += 4;
    return 0;
}

static int frame_get_i64(struct frame_reader *r, int64_t *v)
{
    uint32_t low, high;
    if (frame_get_u32(r, &low) < 0 || frame_get_u32(r, &high) < 0)
        return -1;
    *v = (int64_t)((uint64_t)high << 32 | low);
    return 0;
}

static int frame_get_u8(struct frame_reader *r, unsigned *v)
{
    if (r->at >= r->length)
        return -1;
    *v = r->data[r->at++];
    return 0;
}

/* A string borrowed from the payload (not NUL-terminated). */
static int frame_get_string(struct frame_reader *r, const char **text, size_t *length)
{
    uint32_t n;
    if (frame_get_u32(r, &n) < 0 || r->length - r->at < n)
        return -1;
    *text = (const char *)r->data + r->at;
    *length = n;
    r->at += n;
    return 0;
}

static char *frame_get_copy(struct frame_reader *r)
{
    const char *text;
    size_t length;
    return frame_get_string(r, &text, &length) < 0 ? NULL : strndup(text, length);
}

static int socket_write_all(int fd, const char *data, size_t length)
{
    while (length > 0) {
        ssize_t n = send(fd, data, length, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        length -= (size_t)n;
    }
    return 0;
}

/* Reads one frame into frame (type first, then payload): 1, or 0 at a
 * clean end of stream before any byte, or -1. */
static int socket_read_frame(int fd, buf *frame)
{
    unsigned char header[4];
    size_t got = 0;
    buf_reset(frame);
    while (got < 4) {
        ssize_t n = read(fd, header + got, 4 - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n == 0 && got == 0 ? 0 : -1;
        got += (size_t)n;
    }
    uint32_t length = (uint32_t)header[0] | (uint32_t)header[1] << 8 | (uint32_t)header[2] << 16 |
                      (uint32_t)header[3] << 24;
    if (length == 0 || length > SERVER_MAX_FRAME || buf_reserve(frame, length) < 0)
        return -1;
    while (frame->len < length) {
        ssize_t n = read(fd, frame->data + frame->len, length - frame->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        frame->len += (size_t)n;
    }
    return 1;
}

/* ---- the client ------------------------------------------------------------ */

static int client_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int client_columns(struct frame_reader *r, const struct query_sink *sink, tp_err *err)
{
    uint32_t count;
    if (frame_get_u32(r, &count) < 0 || count > r->length)
        return -2;
    struct query_column *columns = calloc(count ? count : 1, sizeof *columns);
    char **names = calloc(2 * (size_t)(count ? count : 1), sizeof *names);
    if (!columns || !names) {
        free(columns);
        free(names);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    int rc = 0;
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        unsigned kind;
        names[2 * i] = frame_get_copy(r);
        names[2 * i + 1] = frame_get_copy(r);
        if (!names[2 * i] || !names[2 * i + 1] || frame_get_u8(r, &kind) < 0 ||
            kind > QUERY_KIND_BOOLEAN) {
            rc = -2;
            break;
        }
        columns[i] = (struct query_column){names[2 * i], names[2 * i + 1], (enum query_kind)kind};
    }
    if (rc == 0)
        rc = sink->begin(sink->context, columns, count, err) != 0 ? -1 : 0;
    for (uint32_t i = 0; i < 2 * count; i++)
        free(names[i]);
    free(names);
    free(columns);
    return rc;
}

static int client_row(struct frame_reader *r, const struct query_sink *sink,
                      struct query_value **values, size_t *capacity, tp_err *err)
{
    uint32_t count;
    if (frame_get_u32(r, &count) < 0 || count > r->length)
        return -2;
    if (count > *capacity) {
        struct query_value *grown = realloc(*values, count * sizeof **values);
        if (!grown)
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        *values = grown;
        *capacity = count;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint32_t length;
        if (frame_get_u32(r, &length) < 0)
            return -2;
        if (length == SERVER_NULL_LENGTH) {
            (*values)[i] = (struct query_value){NULL, 0};
            continue;
        }
        if (r->length - r->at < length)
            return -2;
        (*values)[i] = (struct query_value){(const char *)r->data + r->at, length};
        r->at += length;
    }
    return sink->row(sink->context, *values, count, err) != 0 ? -1 : 0;
}

/* The 'E' frame: stats and the stale tables. */
static int client_end(struct frame_reader *r, struct query_stats *stats, buf *stale)
{
    int64_t rows, objects, cached;
    const char *text;
    size_t length;
    if (frame_get_i64(r, &rows) < 0 || frame_get_i64(r, &objects) < 0 ||
        frame_get_i64(r, &cached) < 0 || frame_get_string(r, &text, &length) < 0)
        return -2;
    stats->rows = rows;
    stats->objects = objects;
    stats->objects_cached = cached;
    buf_reset(stale);
    buf_append(stale, text, length);
    return 0;
}

static int client_error(struct frame_reader *r, tp_err *err)
{
    uint32_t code;
    const char *text;
    size_t length;
    if (frame_get_u32(r, &code) < 0 || frame_get_string(r, &text, &length) < 0)
        return -2;
    /* printed on a terminal: no control characters (nor NULs cutting it short) */
    char message[sizeof err->msg];
    size_t n = length < sizeof message - 1 ? length : sizeof message - 1;
    for (size_t i = 0; i < n; i++)
        message[i] = (unsigned char)text[i] < 0x20 && text[i] != '\n' ? '?' : text[i];
    message[n] = '\0';
    return tp_err_set(err, (enum tp_err_code)code, "%s",
                      n ? message : "the query server failed without a message");
}

int query_server_read_answer(int fd, const struct query_sink *sink, struct query_stats *stats,
                             buf *stale, tp_err *err)
{
    buf frame = BUF_INIT;
    struct query_value *values = NULL;
    size_t capacity = 0;
    int rc = 0, answered = 0, columns = 0;
    while (rc == 0) {
        int got = socket_read_frame(fd, &frame);
        if (got <= 0) {
            rc = -2;
            break;
        }
        struct frame_reader r = {(const unsigned char *)frame.data + 1, frame.len - 1, 0};
        char type = frame.data[0];
        /* in order: A first, C once, then R only; E or X end it */
        if (type == 'A')
            rc = answered ? -2 : 0; /* taken: from now on a broken connection fails the query */
        else if (type == 'C')
            rc = columns++ ? -2 : client_columns(&r, sink, err);
        else if (type == 'R')
            rc = columns ? client_row(&r, sink, &values, &capacity, err) : -2;
        else if (type == 'E')
            rc = client_end(&r, stats, stale) == 0 ? 1 : -2;
        else if (type == 'X')
            rc = client_error(&r, err) == -2 ? -2 : -1;
        else
            rc = -2;
        answered = 1;
    }
    free(values);
    buf_free(&frame);
    if (rc == -2)
        return answered ? -2 : 0;
    return rc;
}

int query_server_run(const char *path, const char *key, const char *sql, enum query_cache_mode mode,
                     const struct query_sink *sink, struct query_stats *stats, buf *stale,
                     atomic_int *connection, tp_err *err)
{
    int fd = client_connect(path);
    if (fd < 0)
        return 0;
    buf frame = BUF_INIT;
    size_t at = frame_begin(&frame, 'Q');
    frame_string(&frame, key, strlen(key));
    frame_string(&frame, sql, strlen(sql));
    buf_append_char(&frame, (char)mode);
    frame_end(&frame, at);
    atomic_store(connection, fd);
    int rc = frame.data && socket_write_all(fd, frame.data, frame.len) == 0 ? 0 : -3;
    buf_free(&frame);
    struct pollfd taken = {fd, POLLIN, 0};
    if (rc == 0 && poll(&taken, 1, SERVER_TAKE_MS) == 0) {
        log_info("query server %s is busy: running the query here", path);
        rc = -3;
    }
    if (rc == 0)
        rc = query_server_read_answer(fd, sink, stats, stale, err);
    int interrupted = atomic_exchange(connection, -1) == -2;
    close(fd);
    if (interrupted)
        return tp_err_set(err, TP_ERR_USAGE, "interrupted");
    if (rc == -3 || rc == 0) {
        log_debug("query server %s went away before answering; running the query here", path);
        return 0;
    }
    if (rc == -2)
        return tp_err_set(err, TP_ERR_IO, "query server %s: connection lost mid-result", path);
    return rc;
}

void query_server_cancel(atomic_int *connection)
{
    int fd = atomic_exchange(connection, -2);
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

/* ---- the server ------------------------------------------------------------ */

struct server_output {
    int fd;
    buf pending;
    int failed;
};

static int server_flush(struct server_output *out)
{
    if (!out->failed && out->pending.len &&
        socket_write_all(out->fd, out->pending.data, out->pending.len) < 0)
        out->failed = 1;
    buf_reset(&out->pending);
    return out->failed ? -1 : 0;
}

static int server_begin(void *context, const struct query_column *columns, size_t count,
                        tp_err *err)
{
    struct server_output *out = context;
    size_t at = frame_begin(&out->pending, 'C');
    frame_u32(&out->pending, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        frame_string(&out->pending, columns[i].name, strlen(columns[i].name));
        frame_string(&out->pending, columns[i].type, strlen(columns[i].type));
        buf_append_char(&out->pending, (char)columns[i].kind);
    }
    frame_end(&out->pending, at);
    return server_flush(out) < 0 ? tp_err_set(err, TP_ERR_IO, "client went away") : 0;
}

static int server_row(void *context, const struct query_value *values, size_t count, tp_err *err)
{
    struct server_output *out = context;
    size_t at = frame_begin(&out->pending, 'R');
    frame_u32(&out->pending, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        if (!values[i].text) {
            frame_u32(&out->pending, SERVER_NULL_LENGTH);
            continue;
        }
        frame_string(&out->pending, values[i].text, values[i].length);
    }
    frame_end(&out->pending, at);
    if (!out->pending.data)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    if (out->pending.len >= SERVER_FLUSH_BYTES && server_flush(out) < 0)
        return tp_err_set(err, TP_ERR_IO, "client went away");
    return 0;
}

/* Tells the client its query is taken (it waits SERVER_TAKE_MS for this). */
static int server_take(struct server_output *out)
{
    frame_end(&out->pending, frame_begin(&out->pending, 'A'));
    return server_flush(out);
}

/* Interrupts the query when the client hangs up (Ctrl-C, or it died). */
struct server_watch {
    int client;
    int wake[2]; /* written to when the query is over */
    query_engine *engine;
};

static void *server_watch_client(void *context)
{
    struct server_watch *w = context;
    struct pollfd fds[2] = {{w->client, POLLRDHUP, 0}, {w->wake[0], POLLIN, 0}};
    while (poll(fds, 2, -1) < 0 && errno == EINTR)
        ;
    if (!(fds[1].revents & POLLIN) && fds[0].revents & (POLLRDHUP | POLLHUP | POLLERR)) {
        log_info("client hung up: interrupting its query");
        w->engine->ops->cancel(w->engine);
    }
    return NULL;
}

static int server_peer_is_us(int fd)
{
    struct ucred peer;
    socklen_t size = sizeof peer;
    return getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &size) == 0 && peer.uid == geteuid();
}

/* Reads the request and answers it; nothing here stops the server. */
static void server_answer(query_engine *engine, const struct query_server_config *config,
                          int client)
{
    const char *key = config->key;
    struct timeval patience = {5, 0}; /* a request is one frame, sent at once */
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    struct timeval reader = {SERVER_SEND_PATIENCE_S, 0};
    setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &reader, sizeof reader);
    buf request = BUF_INIT;
    if (!server_peer_is_us(client) || socket_read_frame(client, &request) <= 0 ||
        request.data[0] != 'Q') {
        buf_free(&request);
        return;
    }
    struct frame_reader r = {(const unsigned char *)request.data + 1, request.len - 1, 0};
    const char *their_key;
    size_t key_length;
    unsigned mode;
    char *sql = NULL;
    struct server_output out = {client, BUF_INIT, 0};
    tp_err err;
    tp_err_clear(&err);
    int rc;
    if (frame_get_string(&r, &their_key, &key_length) < 0 || !(sql = frame_get_copy(&r)) ||
        frame_get_u8(&r, &mode) < 0 || mode > QUERY_CACHE_SYNC) {
        rc = tp_err_set(&err, TP_ERR_USAGE, "malformed request");
    } else if (key_length != strlen(key) || memcmp(their_key, key, key_length) != 0) {
        rc = tp_err_set(&err, TP_ERR_USAGE, "this server serves another engine");
    } else if (server_take(&out) < 0) {
        rc = 0; /* the client gave up waiting and runs the query itself */
    } else {
        struct server_watch watch = {client, {-1, -1}, engine};
        pthread_t watcher;
        int watching = pipe2(watch.wake, O_CLOEXEC) == 0 &&
                       pthread_create(&watcher, NULL, server_watch_client, &watch) == 0;
        struct query_sink sink = {server_begin, server_row, &out};
        struct query_stats stats;
        buf stale = BUF_INIT;
        int64_t started = clock_monotonic_ns();
        rc = query_duckdb_execute(engine, sql, (enum query_cache_mode)mode, &sink, &stats, &stale,
                                  &err);
        log_info("%s: %lld rows in %.3f s", rc == 0 ? "served" : "failed", stats.rows,
                 (double)(clock_monotonic_ns() - started) / 1e9);
        /* before the end of the answer: a query that returned has started
         * the refresh it needs (a script waiting for it sees it running) */
        if (rc == 0 && stale.len && config->stale)
            config->stale(config->context, stale.data);
        if (rc == 0) {
            size_t at = frame_begin(&out.pending, 'E');
            frame_i64(&out.pending, stats.rows);
            frame_i64(&out.pending, stats.objects);
            frame_i64(&out.pending, stats.objects_cached);
            frame_string(&out.pending, stale.data ? stale.data : "", stale.len);
            frame_end(&out.pending, at);
        }
        buf_free(&stale);
        if (watching) {
            if (write(watch.wake[1], "x", 1) < 0)
                log_debug("waking the client watcher: %s", strerror(errno));
            pthread_join(watcher, NULL);
        }
        if (watch.wake[0] >= 0) {
            close(watch.wake[0]);
            close(watch.wake[1]);
        }
    }
    if (rc < 0) {
        buf_reset(&out.pending);
        size_t at = frame_begin(&out.pending, 'X');
        frame_u32(&out.pending, (uint32_t)err.code);
        frame_string(&out.pending, err.msg, strlen(err.msg));
        frame_end(&out.pending, at);
    }
    server_flush(&out);
    buf_free(&out.pending);
    buf_free(&request);
    free(sql);
}

/* <path>.lock: held by the live server for its whole life, with its pid
 * inside (caller frees; NULL when out of memory). */
static char *server_lock_path(const char *path)
{
    buf lock_path = BUF_INIT;
    buf_printf(&lock_path, "%s.lock", path);
    return buf_detach(&lock_path);
}

/* Binds path, unless another live server holds its lock: -1 on error,
 * 0 when another serves it (*fd = -1), else 0 with the listening socket. */
static int server_listen(const char *path, int *lock_fd, int *fd, tp_err *err)
{
    *fd = -1;
    char *lock_path = server_lock_path(path);
    *lock_fd = lock_path ? open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;
    free(lock_path);
    if (*lock_fd < 0)
        return tp_err_set(err, TP_ERR_IO, "query server %s.lock: %s", path, strerror(errno));
    if (flock(*lock_fd, LOCK_EX | LOCK_NB) != 0) {
        log_info("another query server serves %s", path);
        return 0;
    }
    char pid[32];
    int length = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(*lock_fd, 0) != 0 || pwrite(*lock_fd, pid, (size_t)length, 0) != length)
        log_warn("query server %s.lock: cannot record the pid", path);
    unlink(path); /* left by a server that died */
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    snprintf(address.sun_path, sizeof address.sun_path, "%s", path);
    mode_t old = umask(077);
    int bound = s >= 0 && bind(s, (struct sockaddr *)&address, sizeof address) == 0;
    umask(old);
    if (!bound || listen(s, 16) != 0) {
        tp_err_set(err, TP_ERR_IO, "query server %s: %s", path, strerror(errno));
        if (s >= 0)
            close(s);
        return -1;
    }
    *fd = s;
    return 0;
}

int query_server_serve(query_engine *engine, const struct query_server_config *config, tp_err *err)
{
    const char *path = config->path, *watch = config->watch;
    int idle_seconds = config->idle_seconds;
    int lock_fd = -1, listener = -1;
    int rc = server_listen(path, &lock_fd, &listener, err);
    if (rc < 0 || listener < 0) {
        if (lock_fd >= 0)
            close(lock_fd);
        return rc;
    }
    log_info("query server on %s (idle limit %d s)", path, idle_seconds);
    if (query_duckdb_warm(engine, err) < 0) { /* clients wait in the backlog meanwhile */
        unlink(path);
        close(listener);
        close(lock_fd);
        return -1;
    }
    int64_t last_query = clock_monotonic_ns();
    while (!*config->stop) {
        struct pollfd fds = {listener, POLLIN, 0};
        int ready = poll(&fds, 1, 1000);
        struct stat st;
        if (stat(watch, &st) != 0) {
            log_info("%s is gone: stopping", watch);
            break;
        }
        if (ready <= 0) {
            if (clock_monotonic_ns() - last_query > (int64_t)idle_seconds * 1000000000) {
                log_info("idle for %d s: stopping", idle_seconds);
                break;
            }
            continue;
        }
        int client = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0)
            continue;
        server_answer(engine, config, client);
        close(client);
        last_query = clock_monotonic_ns();
    }
    /* under the lock: no newer server owns these names yet (one that
     * opened the lock file just now fails to lock it and leaves) */
    unlink(path);
    char *lock_path = server_lock_path(path);
    if (lock_path)
        unlink(lock_path);
    free(lock_path);
    close(listener);
    /* lock_fd stays open: the lock goes with the process, so that
     * query_server_stop returns only once the server has exited */
    return 0;
}

int query_server_stop(const char *path, tp_err *err)
{
    char *lock_path = server_lock_path(path);
    int fd = lock_path ? open(lock_path, O_RDWR | O_CLOEXEC) : -1;
    free(lock_path);
    if (fd < 0)
        return 0;
    int rc = 0;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) { /* held: a server runs */
        char text[32] = "";
        ssize_t got = pread(fd, text, sizeof text - 1, 0);
        long pid = got > 0 ? strtol(text, NULL, 10) : 0;
        if (pid <= 0 || kill((pid_t)pid, SIGTERM) != 0)
            rc = tp_err_set(err, TP_ERR_IO, "query server %s: cannot signal pid %ld", path, pid);
        else if (flock(fd, LOCK_EX) == 0) /* released when it has exited */
            rc = 1;
    }
    close(fd);
    return rc;
}
