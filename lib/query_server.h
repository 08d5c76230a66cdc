/*
 * query_server: the local engine kept resident. Every `tickpipe athena`
 * process pays ~20 ms to load and open DuckDB before its first row; on a
 * query that names a day that is most of its time. After a local query on
 * a lake directory, `tickpipe athena --serve` is started in the background
 * (like the cache refresh): it holds DuckDB open and answers the queries
 * of later `tickpipe athena` processes on the same lake over a Unix
 * socket, one at a time, each exactly as a fresh process would (catalog
 * and objects listed again, views redefined, the cache attached only for
 * the query), and exits after an idle time or when the lake is gone. A
 * client that stops reading its rows is dropped after 30 s.
 *
 * The socket lives in $XDG_RUNTIME_DIR/tickpipe or /tmp/tickpipe-<uid>
 * (a directory of mode 0700 owned by the user; anything else and no
 * server is used), named after a hash of everything that makes two
 * engines differ: the tickpipe executable (path, inode, mtime), the lake
 * root, the database, the DuckDB library and the cache path. The server
 * answers only peers of its own uid.
 *
 * Wire format (both ways): frames of u32 length (little-endian, of type
 * and payload), u8 type, payload. Strings are u32 length + bytes.
 *   client 'Q': key, sql, u8 cache mode
 *   server 'A': (empty) the query is taken; a server that sends none
 *               within 250 ms is busy and the client runs the query itself
 *          'C': u32 n, n x (name, type, u8 kind)      the columns
 *          'R': u32 n, n x (u32 length | 0xffffffff for NULL, bytes)
 *          'E': i64 rows, i64 objects, i64 cached, stale tables   done
 *          'X': i32 error code, message                           failed
 * Errors: 0 or -1 with err set, as stated per function.
 */
#ifndef TICKPIPE_QUERY_SERVER_H
#define TICKPIPE_QUERY_SERVER_H

#include <signal.h>
#include <stdatomic.h>

#include "lib/buf.h"
#include "lib/query.h"

/* The engine identity and socket path for these engine options (caller
 * frees both), or -1 when there is no private directory to put it in. */
int query_server_address(const struct query_duckdb_options *options, char **key, char **path);

/* Runs sql on the server at path. Returns 1 when the server answered
 * (rows went to sink, stats and stale filled), 0 when no server took the
 * query (none listening, or it went away before answering: run it here),
 * -1 when the query failed (err set: the engine's own error, or the
 * connection broke mid-result). *connection holds the socket while the
 * query runs, for query_server_cancel from another thread. */
int query_server_run(const char *path, const char *key, const char *sql, enum query_cache_mode mode,
                     const struct query_sink *sink, struct query_stats *stats, buf *stale,
                     atomic_int *connection, tp_err *err);

/* Reads a server's answer from fd into sink (the client half of
 * query_server_run, open to the fuzz harness): 1 when the answer ended
 * well (stats and stale filled), -1 when it carried the query's error
 * (err set), 0 when the stream ended before any frame, -2 when it broke
 * or held a malformed frame after one. */
int query_server_read_answer(int fd, const struct query_sink *sink, struct query_stats *stats,
                             buf *stale, tp_err *err);

/* Makes a query_server_run in another thread fail as interrupted. */
void query_server_cancel(atomic_int *connection);

/* What a server needs besides its engine. */
struct query_server_config {
    const char *path; /* from query_server_address */
    const char *key;
    int idle_seconds;  /* exits after this long without a query */
    const char *watch; /* exits when this (the lake root) is gone */
    const volatile sig_atomic_t *stop;
    /* Called after a query, before its client gets the end of the answer,
     * with the tables whose cache was behind the lake (comma-separated):
     * the server, not its clients, starts the refresh. NULL: nobody does. */
    void (*stale)(void *context, const char *tables);
    void *context;
};

/* Serves the engine until stop is set, idle_seconds pass without a query,
 * or watch is gone. Returns 0, also when another server already serves
 * path (it then exits at once); -1 when the socket cannot be set up. */
int query_server_serve(query_engine *engine, const struct query_server_config *config, tp_err *err);

/* Stops the server of path (SIGTERM to the pid in its lock file) and
 * waits until it has exited: 1 when one was stopped, 0 when none ran. */
int query_server_stop(const char *path, tp_err *err);

#endif
