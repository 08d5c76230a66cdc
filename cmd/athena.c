/*
 * athena: SQL over the lake. Picks the engine (the local DuckDB engine for
 * a local lake and catalog, Amazon Athena for Glue), reads the statement
 * (argument, -f FILE or stdin), streams the rows as a table, CSV or JSON
 * lines, and reports the row count and time on stderr. Ctrl-C cancels
 * the running query. After a local query, a stale cache is refreshed by a
 * detached `tickpipe athena --refresh-cache` (like git's auto gc), which
 * the lake's query server starts when it answered the query.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aws/athena.h"
#include "aws/catalog_glue.h"
#include "aws/glue.h"
#include "cmd/aws_options.h"
#include "lib/buf.h"
#include "lib/catalog.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/query.h"
#include "lib/query_server.h"
#include "lib/result_format.h"
#include "lib/store.h"

#define ATHENA_MAX_SQL_BYTES (16 << 20)

struct athena_settings {
    const char *lake;
    const char *bucket;
    const char *database;
    const char *engine;
    const char *format;
    const char *output;
    const char *file;
    const char *cache;
    const char *refresh_cache;
    const char *duckdb_library;
    const char *workgroup;
    const char *output_location;
    const char *data_catalog;
    const char *catalog_kind;
    const char *server;
    long long server_idle;
    int serve;
    int stop_server;
    struct cmd_aws_options aws;
};

/* LeakSanitizer checks at exit, which _exit skips: under it, every
 * process tears DuckDB down (valgrind checks at _exit too). */
#if defined(__SANITIZE_ADDRESS__)
#define ATHENA_LEAK_CHECKED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ATHENA_LEAK_CHECKED 1
#endif
#endif
#ifndef ATHENA_LEAK_CHECKED
#define ATHENA_LEAK_CHECKED 0
#endif

/* ---- Ctrl-C: a thread waits for the signal and cancels the query -------- */

struct athena_signals {
    pthread_t thread;
    sigset_t set;
    query_engine *engine;
    int started;
    int received;
    atomic_int stopping; /* the signal that wakes the thread means "return" */
};

static void *athena_signal_thread(void *context)
{
    struct athena_signals *signals = context;
    for (;;) {
        int number = 0;
        if (sigwait(&signals->set, &number) != 0)
            continue;
        if (atomic_load(&signals->stopping))
            break;
        if (signals->received++) { /* second signal: stop now */
            signal(number, SIG_DFL);
            pthread_sigmask(SIG_UNBLOCK, &signals->set, NULL);
            raise(number);
        }
        /* cmd_stop_requested stays 0: the engine still needs its HTTP
         * client to tell Athena to stop the query */
        log_notice("interrupted: cancelling the query (again to quit at once)");
        signals->engine->ops->cancel(signals->engine);
    }
    return NULL;
}

/* Blocks SIGINT/SIGTERM in every thread (DuckDB's included, created
 * later) and handles them in one thread that can cancel the query. */
static void athena_signals_start(struct athena_signals *signals, query_engine *engine)
{
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&signals->set);
    sigaddset(&signals->set, SIGINT);
    sigaddset(&signals->set, SIGTERM);
    signals->engine = engine;
    pthread_sigmask(SIG_BLOCK, &signals->set, NULL);
    signals->started = pthread_create(&signals->thread, NULL, athena_signal_thread, signals) == 0;
}

static void athena_signals_stop(struct athena_signals *signals)
{
    if (!signals->started)
        return;
    /* not pthread_cancel: its unwinder loads libgcc_s, ~0.5 ms a process */
    atomic_store(&signals->stopping, 1);
    pthread_kill(signals->thread, SIGINT);
    pthread_join(signals->thread, NULL);
    signals->started = 0;
}

/* ---- input ---------------------------------------------------------------- */

static int athena_read_all(FILE *in, const char *name, char **sql, tp_err *err)
{
    buf text = BUF_INIT;
    char chunk[65536];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, in)) > 0) {
        if (text.len + got > ATHENA_MAX_SQL_BYTES) {
            buf_free(&text);
            return tp_err_set(err, TP_ERR_USAGE, "%s: the query is larger than %d bytes", name,
                              ATHENA_MAX_SQL_BYTES);
        }
        buf_append(&text, chunk, got);
    }
    if (ferror(in)) {
        buf_free(&text);
        return tp_err_set(err, TP_ERR_IO, "reading %s: %s", name, strerror(errno));
    }
    *sql = buf_detach(&text);
    return 0;
}

static int athena_read_sql(const struct athena_settings *settings, int npositional, char **argv,
                           char **sql, tp_err *err)
{
    if (npositional + (settings->file != NULL) > 1)
        return tp_err_set(err, TP_ERR_USAGE, "give the query once: as an argument or with -f");
    if (npositional == 1) {
        *sql = strdup(argv[1]);
        return *sql ? 0 : tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    if (settings->file && strcmp(settings->file, "-") != 0) {
        FILE *in = fopen(settings->file, "r");
        if (!in)
            return tp_err_set(err, TP_ERR_USAGE, "cannot read -f %s: %s", settings->file,
                              strerror(errno));
        int rc = athena_read_all(in, settings->file, sql, err);
        fclose(in);
        return rc;
    }
    if (!settings->file && isatty(STDIN_FILENO))
        return tp_err_set(err, TP_ERR_USAGE,
                          "no query: give it as an argument, with -f FILE, or on stdin");
    return athena_read_all(stdin, "stdin", sql, err);
}

/* ---- the background cache refresh ---------------------------------------- */

/* Appends "--name value" to args when value is set. */
static void athena_arg(char **args, int *count, const char *name, const char *value)
{
    if (!value)
        return;
    args[(*count)++] = (char *)name;
    args[(*count)++] = (char *)value;
}

/* A background process started by a query waits until that query's
 * process has exited (EOF on this inherited pipe) before it loads DuckDB or
 * reads the lake: on two cores it would otherwise slow that exit (~8 ms of a
 * 0.2 s first query, measured). */
#define ATHENA_START_FD_ENV "TICKPIPE_START_AFTER_FD"
#define ATHENA_START_FD     3

static void athena_wait_for_starter(void)
{
    const char *fd_text = getenv(ATHENA_START_FD_ENV);
    if (!fd_text || atoi(fd_text) != ATHENA_START_FD)
        return;
    char byte;
    while (read(ATHENA_START_FD, &byte, 1) < 0 && errno == EINTR)
        ;
    close(ATHENA_START_FD);
    unsetenv(ATHENA_START_FD_ENV);
}

/* Starts `tickpipe athena [first] [option value]` (--refresh-cache TABLES
 * or --serve) on the same lake and catalog in its own
 * session, with no terminal, and does not wait for it: its pid, or -1. */
static pid_t athena_spawn(const struct athena_settings *settings, const char *lake_root,
                          const char *first, const char *option, const char *value, int after_exit)
{
    static int starter[2] = {-1, -1}; /* the write end stays open until this process exits */
    if (after_exit && starter[0] < 0 && pipe2(starter, O_CLOEXEC) != 0)
        after_exit = 0;
    char self[PATH_MAX];
    ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
    if (length <= 0)
        return -1;
    self[length] = '\0';
    char *args[32];
    int count = 0;
    args[count++] = "tickpipe";
    args[count++] = "athena";
    if (first)
        args[count++] = (char *)first;
    athena_arg(args, &count, option, value);
    athena_arg(args, &count, "--database", settings->database);
    athena_arg(args, &count, "--duckdb-lib", settings->duckdb_library);
    char idle[32];
    snprintf(idle, sizeof idle, "%lld", settings->server_idle);
    athena_arg(args, &count, "--server-idle", idle);
    if (settings->bucket) {
        athena_arg(args, &count, "--bucket", settings->bucket);
        athena_arg(args, &count, "--engine", "local");
        athena_arg(args, &count, "--catalog", settings->catalog_kind);
        athena_arg(args, &count, "--profile", settings->aws.profile);
        athena_arg(args, &count, "--region", settings->aws.region);
        athena_arg(args, &count, "--endpoint-url", settings->aws.endpoint_url);
        if (settings->aws.s3_path_style)
            args[count++] = "--s3-path-style";
    } else {
        athena_arg(args, &count, "--lake", lake_root);
    }
    args[count++] = "--quiet";
    args[count] = NULL;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    extern char **environ;
    char **environment = environ;
    char start_fd[64];
    if (after_exit) {
        posix_spawn_file_actions_adddup2(&actions, starter[0], ATHENA_START_FD);
        size_t variables = 0;
        while (environ[variables])
            variables++;
        environment = calloc(variables + 2, sizeof *environment);
        if (environment) {
            snprintf(start_fd, sizeof start_fd, "%s=%d", ATHENA_START_FD_ENV, ATHENA_START_FD);
            memcpy(environment, environ, variables * sizeof *environment);
            environment[variables] = start_fd;
        } else {
            environment = environ;
        }
    }
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    if (posix_spawn(&pid, self, &actions, &attributes, args, environment) == 0)
        log_info("started `tickpipe athena %s%s%s%s%s` in the background (pid %d)",
                 first ? first : "", first && value ? " " : "", value ? option : "",
                 value ? " " : "", value ? value : "", (int)pid);
    else
        pid = -1;
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (environment != environ)
        free(environment);
    return pid;
}

/* ---- the command ---------------------------------------------------------- */

static int athena_exit_code(const tp_err *err)
{
    return err->code == TP_ERR_USAGE ? CMD_EXIT_USAGE : CMD_EXIT_FAILURE;
}

static int athena_parse_cache(const char *name, enum query_cache_mode *mode)
{
    if (strcmp(name, "auto") == 0)
        *mode = QUERY_CACHE_AUTO;
    else if (strcmp(name, "sync") == 0)
        *mode = QUERY_CACHE_SYNC;
    else if (strcmp(name, "off") == 0)
        *mode = QUERY_CACHE_OFF;
    else
        return -1;
    return 0;
}

/* After a failed query on a table the catalog lacks, names those it has. */
static void athena_hint_tables(catalog *tables, const char *database, const tp_err *err)
{
    if (!strstr(err->msg, "Table with name"))
        return;
    cJSON *list = NULL;
    tp_err ignored;
    if (tables->ops->list_tables(tables, database, &list, &ignored) < 0)
        return;
    buf names = BUF_INIT;
    const cJSON *table;
    cJSON_ArrayForEach(table, list)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(table, "Name");
        if (cJSON_IsString(name))
            buf_printf(&names, "%s%s", names.len ? ", " : "", name->valuestring);
    }
    if (names.len)
        log_notice("hint: database %s has the tables %s", database, names.data);
    else
        log_notice("hint: database %s has no tables yet; 'tickpipe crawl' registers them",
                   database);
    buf_free(&names);
    cJSON_Delete(list);
}

struct athena_run {
    const struct athena_settings *settings;
    char *lake_root; /* the lake directory, or the local mirror of an S3 lake */
    struct cmd_lake lake;
    glue_client *glue;
    catalog *catalog;
    query_engine *engine;
    enum query_cache_mode cache;
    char *server_path; /* the resident engine's socket, or NULL */
    char *server_key;
    char *stale;      /* tables whose cache a background refresh should bring up to date */
    int start_server; /* no query server took the query: start one */
};

/* The query server's refreshes: one at a time (a refresh that finds the
 * cache busy leaves at once anyway, this just spares the processes). */
struct athena_refresher {
    const struct athena_run *run;
    pid_t pid; /* the last one started, -1: none */
};

static void athena_refresh_stale(void *context, const char *tables)
{
    struct athena_refresher *r = context;
    if (r->pid > 0 && waitpid(r->pid, NULL, WNOHANG) == 0) {
        log_debug("a cache refresh (pid %d) is still running", (int)r->pid);
        return;
    }
    r->pid = athena_spawn(r->run->settings, r->run->lake_root, NULL, "--refresh-cache", tables, 0);
}

/* --serve: the resident engine of this lake (lib/query_server.h). */
static int athena_serve(struct athena_run *run, tp_err *err)
{
    if (!run->server_path)
        return tp_err_set(err, TP_ERR_USAGE,
                          "--serve: no private directory for the socket, "
                          "or the lake is on S3");
    cmd_install_stop_handlers();
    signal(SIGPIPE, SIG_IGN);
    struct athena_refresher refresher = {run, -1};
    const struct query_server_config config = {
        run->server_path, run->server_key,     (int)run->settings->server_idle,
        run->lake_root,   &cmd_stop_requested, athena_refresh_stale,
        &refresher};
    return query_server_serve(run->engine, &config, err);
}

/* Where an S3 lake's objects are copied and its caches kept:
 * $TICKPIPE_CACHE_DIR, else $XDG_CACHE_HOME/tickpipe, else ~/.cache/tickpipe,
 * then s3/<bucket>/<prefix>. */
static char *athena_mirror_root(const char *bucket)
{
    buf root = BUF_INIT;
    const char *base = getenv("TICKPIPE_CACHE_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (base && *base)
        buf_append_str(&root, base);
    else if (xdg && *xdg)
        buf_printf(&root, "%s/tickpipe", xdg);
    else
        buf_printf(&root, "%s/.cache/tickpipe", home && *home ? home : "/tmp");
    buf_printf(&root, "/s3/%s", bucket + 5);
    while (root.len && root.data[root.len - 1] == '/')
        root.data[--root.len] = '\0';
    if (root.data && root.data[0] != '/') {
        char cwd[PATH_MAX];
        buf absolute = BUF_INIT;
        buf_printf(&absolute, "%s/%s", getcwd(cwd, sizeof cwd) ? cwd : "", root.data);
        buf_free(&root);
        return buf_detach(&absolute);
    }
    return buf_detach(&root);
}

/* The lake (directory or S3) and its catalog (local documents or Glue). */
static int athena_open_lake(struct athena_run *run, int glue, tp_err *err)
{
    const struct athena_settings *settings = run->settings;
    const char *path = settings->lake;
    char resolved[PATH_MAX];
    if (!settings->bucket) {
        struct stat st;
        if (!realpath(settings->lake, resolved) || stat(resolved, &st) != 0 ||
            !S_ISDIR(st.st_mode)) {
            tp_err_set(err, TP_ERR_USAGE, "lake %s: not a directory (--lake or TICKPIPE_LAKE)",
                       settings->lake);
            return -1;
        }
        path = resolved;
    }
    if (cmd_lake_open(path, settings->bucket, &settings->aws, &run->lake, err) < 0)
        return -1;
    run->lake_root = settings->bucket ? athena_mirror_root(settings->bucket) : strdup(resolved);
    if (!glue) {
        run->catalog = catalog_local_open(run->lake.store, err);
        return run->catalog ? 0 : -1;
    }
    struct cmd_aws *aws = &run->lake.aws;
    if (!run->lake.on_s3) {
        tp_err_set(err, TP_ERR_USAGE, "--catalog glue with a local lake: Glue locations are on S3");
        return -1;
    }
    run->glue = glue_client_new(aws->http, aws->creds, err);
    run->catalog = run->glue ? catalog_glue_open(run->glue, err) : NULL;
    return run->catalog ? 0 : -1;
}

static int athena_open_local(struct athena_run *run, int glue, tp_err *err)
{
    const struct athena_settings *settings = run->settings;
    if (athena_open_lake(run, glue, err) < 0)
        return -1;
    struct query_duckdb_options options = {
        run->lake.store,    settings->bucket,         run->lake_root, run->catalog,
        settings->database, settings->duckdb_library, run->cache,     NULL};
    /* a resident engine, for lake directories only (an S3 lake's would
     * need this process's credentials) */
    char *key = NULL, *path = NULL;
    int resident =
        !settings->bucket && !settings->refresh_cache &&
        (settings->serve || settings->stop_server || strcmp(settings->server, "auto") == 0);
    if (resident && query_server_address(&options, &key, &path) < 0)
        log_info("no private directory for a query server socket: queries run here");
    options.server_path = settings->serve || settings->stop_server ? NULL : path;
    options.server_key = key;
    run->engine = query_duckdb_open(&options, err);
    run->server_path = path;
    run->server_key = key;
    return run->engine ? 0 : -1;
}

static int athena_open_remote(struct athena_run *run, struct cmd_aws *aws, tp_err *err)
{
    const struct athena_settings *settings = run->settings;
    if (cmd_aws_open(&settings->aws, aws, err) < 0)
        return -1;
    struct athena_options options = {settings->database,
                                     settings->data_catalog,
                                     settings->workgroup,
                                     settings->output_location,
                                     0,
                                     0};
    run->engine = athena_engine_open(aws->http, aws->creds, &options, err);
    return run->engine ? 0 : -1;
}

static int athena_query(struct athena_run *run, const char *sql, tp_err *err)
{
    const struct athena_settings *settings = run->settings;
    enum result_format format = RESULT_FORMAT_CSV;
    if (!run->engine)
        return tp_err_set(err, TP_ERR_INTERNAL, "no query engine");
    FILE *out = stdout;
    if (settings->output && !(out = fopen(settings->output, "w")))
        return tp_err_set(err, TP_ERR_USAGE, "cannot write --output %s: %s", settings->output,
                          strerror(errno));
    if (settings->format)
        result_format_parse(settings->format, &format);
    else if (!settings->output && isatty(STDOUT_FILENO))
        format = RESULT_FORMAT_TABLE;
    result_writer *writer = result_writer_new(out, format);
    if (!writer) {
        if (out != stdout)
            fclose(out);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    struct query_sink sink = result_writer_sink(writer);
    struct query_stats stats;
    struct athena_signals signals = {0};
    athena_signals_start(&signals, run->engine);
    int64_t started = clock_monotonic_ns();
    int rc = run->engine->ops->run(run->engine, sql, &sink, &stats, err);
    double seconds = (double)(clock_monotonic_ns() - started) / 1e9;
    if (rc == 0)
        rc = result_writer_finish(writer, err);
    athena_signals_stop(&signals);
    result_writer_free(writer);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = tp_err_set(err, TP_ERR_IO, "writing %s: %s", settings->output, strerror(errno));
    if (rc < 0) {
        if (err->code == TP_ERR_IO && errno == EPIPE) { /* the reader went away: fine */
            err->msg[0] = '\0';
            return 0;
        }
        if (run->catalog)
            athena_hint_tables(run->catalog, settings->database, err);
        return -1;
    }
    buf detail = BUF_INIT;
    if (stats.result_reused)
        buf_printf(&detail, ", result reused (%lld lake objects unchanged)", stats.objects);
    else if (stats.objects > 0)
        buf_printf(&detail, ", %lld lake objects (%lld from the cache)", stats.objects,
                   stats.objects_cached);
    if (stats.bytes_scanned >= 0)
        buf_printf(&detail, ", %.1f MB scanned", (double)stats.bytes_scanned / 1e6);
    if (stats.engine_ms >= 0)
        buf_printf(&detail, ", engine %.3f s", stats.engine_ms / 1e3);
    log_notice("%lld row%s in %.3f s%s", stats.rows, stats.rows == 1 ? "" : "s", seconds,
               detail.data ? detail.data : "");
    buf_free(&detail);
    if (run->cache == QUERY_CACHE_AUTO && run->lake_root &&
        strcmp(run->engine->ops->name, "local") == 0) {
        run->stale = query_duckdb_stale_tables(run->engine);
        run->start_server = query_duckdb_server_wanted(run->engine);
    }
    return 0;
}

/* The background work a local query asked for, started once this
 * process has let go of DuckDB (so their start-up does not slow its end),
 * and before it exits: a script that waits for running refreshes sees the
 * one this query needs. */
static void athena_spawn_background(const struct athena_run *run)
{
    if (run->stale)
        athena_spawn(run->settings, run->lake_root, NULL, "--refresh-cache", run->stale, 1);
    if (run->start_server)
        athena_spawn(run->settings, run->lake_root, "--serve", NULL, NULL, 1);
}

int cmd_athena(int argc, char **argv)
{
    struct athena_settings settings = {0};
    const struct opt_spec options[] = {
        {"lake", 'l', OPT_STRING, &settings.lake, "DIR", "./lake", "TICKPIPE_LAKE",
         "the local lake (and its catalog in DIR/_catalog)", NULL},
        {"bucket", 0, OPT_STRING, &settings.bucket, "s3://BUCKET/PREFIX", NULL, "TICKPIPE_BUCKET",
         "a lake on S3 instead of --lake", NULL},
        {"database", 'd', OPT_STRING, &settings.database, "NAME", "tickpipe", "TICKPIPE_DATABASE",
         "catalog database whose tables the query sees", NULL},
        {"engine", 'e', OPT_CHOICE, &settings.engine, "ENGINE", NULL, "TICKPIPE_ENGINE",
         "local (DuckDB) or athena (default: follows the catalog: local lake -> local)",
         "local|athena"},
        {"format", 0, OPT_CHOICE, &settings.format, "FORMAT", NULL, NULL,
         "table, csv or json lines (default: table on a terminal, else csv)", "table|csv|json"},
        {"output", 'o', OPT_STRING, &settings.output, "FILE", NULL, NULL,
         "write the rows to FILE instead of stdout (csv unless --format)", NULL},
        {"file", 'f', OPT_STRING, &settings.file, "FILE|-", NULL, NULL,
         "read the query from FILE (- for stdin)", NULL},
        {"cache", 0, OPT_CHOICE, &settings.cache, "MODE", "auto", "TICKPIPE_CACHE",
         "local engine cache: auto (use it, refresh in the background), sync (refresh "
         "first) or off",
         "auto|sync|off"},
        {"refresh-cache", 0, OPT_STRING, &settings.refresh_cache, "TABLE,...", NULL, NULL,
         "bring the local cache of these tables up to date and exit (no query)", NULL},
        {"server", 0, OPT_CHOICE, &settings.server, "MODE", "auto", "TICKPIPE_QUERY_SERVER",
         "local engine on a lake directory: auto (hand queries to the lake's resident engine, "
         "start one after a query if none runs) or off",
         "auto|off"},
        {"server-idle", 0, OPT_INT, &settings.server_idle, "SECONDS", "600",
         "TICKPIPE_QUERY_SERVER_IDLE", "the resident engine exits after this long without a query",
         NULL},
        {"serve", 0, OPT_FLAG, &settings.serve, NULL, NULL, NULL,
         "be the resident engine of the lake (auto starts it; exits when idle or the lake is "
         "gone)",
         NULL},
        {"stop-server", 0, OPT_FLAG, &settings.stop_server, NULL, NULL, NULL,
         "stop the lake's resident engine, if one runs, and exit", NULL},
        {"duckdb-lib", 0, OPT_STRING, &settings.duckdb_library, "FILE", NULL, "TICKPIPE_DUCKDB_LIB",
         "libduckdb.so to use (default: next to tickpipe, deps/duckdb)", NULL},
        {"workgroup", 0, OPT_STRING, &settings.workgroup, "NAME", "primary",
         "TICKPIPE_ATHENA_WORKGROUP", "Athena work group", NULL},
        {"output-location", 0, OPT_STRING, &settings.output_location, "s3://BUCKET/PREFIX/", NULL,
         "TICKPIPE_ATHENA_OUTPUT", "where Athena writes results (default: the work group's)", NULL},
        {"catalog", 0, OPT_CHOICE, &settings.catalog_kind, "KIND", NULL, NULL,
         "where the tables are: local (<lake>/_catalog/) or glue (AWS Glue; default for "
         "--bucket); the engine follows (local -> DuckDB, glue -> Athena)",
         "local|glue"},
        {"data-catalog", 0, OPT_STRING, &settings.data_catalog, "NAME", "AwsDataCatalog", NULL,
         "Athena data catalog of --database", NULL},
        CMD_AWS_OPTION_SPECS(&settings.aws),
        {0},
    };
    const struct opt_command command = {
        "athena", "\"SQL\" | -f FILE | < FILE [options]",
        "Run a read-only SQL query over the lake's catalog tables: locally with DuckDB, or on\n"
        "Amazon Athena.",
        "The local engine reads each catalog table the query names from the objects of its\n"
        "registered partitions, with the catalog's column types; partition predicates prune\n"
        "objects, max(dt) of a partition key is answered from the catalog. Athena functions\n"
        "(date, date_trunc, date_format, from_iso8601_timestamp, to_unixtime, from_unixtime,\n"
        "approx_percentile, regexp_like, count_if, arbitrary, max_by...) work as in Athena.\n"
        "Only reading statements run: COPY, ATTACH, INSTALL, SET, CREATE... are refused.\n"
        "A cache in <lake>/_cache/ keeps tables in columnar form and the results of repeated\n"
        "queries; results never depend on it (what it lacks is read from the lake).\n"
        "After a local query on a lake directory, the lake's resident engine (--serve) starts\n"
        "in the background and answers the next queries without loading DuckDB again; it\n"
        "stops after --server-idle seconds, with --stop-server, or when the lake is gone.\n"
        "The engine follows the catalog: local -> DuckDB, glue (default with --bucket) -> Amazon\n"
        "Athena, whose results go to --output-location (or the work group's); Ctrl-C stops the\n"
        "query. --engine local also reads S3 lakes, through a local mirror of their objects.\n"
        "Exit status: 0 success, 1 query or engine failure, 2 usage error or refused statement.",
        options};
    int npositional, exit_code;
    if (cmd_parse(&command, argc, argv, &npositional, &exit_code) < 0)
        return exit_code;
    tp_err err;
    tp_err_clear(&err);
    struct athena_run run = {.settings = &settings, .cache = QUERY_CACHE_AUTO};
    athena_parse_cache(settings.cache, &run.cache);
    /* the engine follows the catalog, which for a lake on S3 is Glue */
    if (!settings.catalog_kind)
        settings.catalog_kind = settings.bucket ? "glue" : "local";
    int glue = strcmp(settings.catalog_kind, "glue") == 0;
    const char *engine = settings.engine ? settings.engine : glue ? "athena" : "local";
    int on_athena = strcmp(engine, "athena") == 0;
    if (on_athena && settings.refresh_cache)
        return cmd_usage_error("--refresh-cache is for the local engine");
    int service = settings.serve + settings.stop_server + (settings.refresh_cache != NULL);
    if (service > 1)
        return cmd_usage_error("--serve, --stop-server and --refresh-cache exclude each other");
    if (service && npositional)
        return cmd_usage_error("--refresh-cache, --serve and --stop-server take no query");
    if ((settings.serve || settings.stop_server) && (on_athena || settings.bucket))
        return cmd_usage_error("--serve and --stop-server are for the local engine on a lake "
                               "directory");
    if (settings.server_idle <= 0)
        return cmd_usage_error("--server-idle must be at least 1 second");
    char *sql = NULL;
    if (!service && athena_read_sql(&settings, npositional, argv, &sql, &err) < 0)
        return cmd_usage_error("%s", err.msg);
    int64_t started = clock_monotonic_ns();
    struct cmd_aws aws = {0};
    if (service)
        athena_wait_for_starter();
    int rc = on_athena ? athena_open_remote(&run, &aws, &err) : athena_open_local(&run, glue, &err);
    if (rc == 0 && settings.refresh_cache) {
        rc = query_duckdb_refresh_cache(run.engine, settings.refresh_cache, 1, &err);
        if (rc == 0)
            log_notice("cache of %s up to date in %.3f s", settings.refresh_cache,
                       (double)(clock_monotonic_ns() - started) / 1e9);
    } else if (rc == 0 && settings.serve) {
        rc = athena_serve(&run, &err);
    } else if (rc == 0 && settings.stop_server) {
        rc = run.server_path ? query_server_stop(run.server_path, &err) : 0;
        if (rc >= 0)
            log_notice(rc ? "stopped the query server %s" : "no query server runs for this lake",
                       run.server_path);
        rc = rc < 0 ? -1 : 0;
    } else if (rc == 0) {
        rc = athena_query(&run, sql, &err);
    }
    exit_code = rc < 0 ? athena_exit_code(&err) : CMD_EXIT_OK;
    if (exit_code != CMD_EXIT_OK && err.msg[0])
        log_error("%s", err.msg);
    free(sql);
    /* a one-shot local query leaves DuckDB to the kernel (see query.h) */
    int left_open = 0;
    if (run.engine && !on_athena && !service && !cmd_nesting && !ATHENA_LEAK_CHECKED)
        left_open = query_duckdb_free_for_exit(run.engine);
    else
        query_engine_free(run.engine);
    catalog_free(run.catalog);
    if (run.glue)
        glue_client_free(run.glue);
    cmd_lake_close(&run.lake);
    athena_spawn_background(&run);
    free(run.stale);
    free(run.lake_root);
    free(run.server_path);
    free(run.server_key);
    if (on_athena)
        cmd_aws_close(&aws);
    if (left_open) { /* the rows were flushed and checked by the result writer */
        fflush(NULL);
        _exit(exit_code);
    }
    return exit_code;
}
