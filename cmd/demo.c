/*
 * demo: the whole pipeline in one process, on the bundled sample (or
 * --csv): an embedded broker on a free port, produce paced in (sped-up)
 * real time, consume into <dir>/lake, crawl into the local catalog, and
 * four stock questions answered with the SQL printed next to them. With
 * --follow the stream keeps going (the file looped) and the lake is
 * re-crawled, until Ctrl-C. The stages are the commands themselves, run
 * through their cmd_<name> entry points, so the demo shows exactly what
 * the separate commands do.
 */
#include "cmd/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kafka/broker.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/csv.h"
#include "lib/log.h"
#include "lib/tick.h"

/* The bundled sample: testdata/stocks.csv (vega-datasets, BSD-3-Clause),
 * linked into the binary so the demo runs from any directory. */
__asm__(".section .rodata\n"
        ".global demo_sample_csv\n"
        "demo_sample_csv:\n"
        ".incbin \"testdata/stocks.csv\"\n"
        ".global demo_sample_csv_end\n"
        "demo_sample_csv_end:\n"
        ".byte 0\n"
        ".previous\n");
extern const char demo_sample_csv[];
extern const char demo_sample_csv_end[];

#define DEMO_TOPIC "ticks"

struct demo_settings {
    const char *csv;
    const char *dir;
    const char *format;
    double speed;
    long long crawl_every_ms;
    int follow;
};

/* What the demo learned about the CSV, to write its SQL. */
struct demo_columns {
    char time[160];
    char key[160];
    char price[160];
    char volume[160];
    long long rows;
    int64_t replay_ms; /* sum of the forward gaps between consecutive rows:
                          what produce --replay-speed 1 would wait */
};

/* Runs a command through its entry point with a NULL-terminated list. */
static int demo_run(int (*command)(int, char **), const char *const *args)
{
    int argc = 0;
    while (args[argc])
        argc++;
    char **argv = calloc((size_t)argc + 1, sizeof *argv);
    if (!argv)
        return CMD_EXIT_FAILURE;
    for (int i = 0; i < argc; i++)
        argv[i] = (char *)args[i];
    cmd_nesting++;
    int rc = command(argc, argv);
    cmd_nesting--;
    free(argv);
    return rc;
}

static int demo_remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int demo_prepare_dir(const struct demo_settings *settings, buf *csv_path, tp_err *err)
{
    if (mkdir(settings->dir, 0755) < 0 && errno != EEXIST)
        return tp_err_set(err, TP_ERR_IO, "cannot create %s: %s", settings->dir, strerror(errno));
    /* a fresh run each time: the previous demo's broker data and lake go */
    static const char *const parts[] = {"broker", "lake"};
    for (size_t i = 0; i < 2; i++) {
        buf path = BUF_INIT;
        buf_printf(&path, "%s/%s", settings->dir, parts[i]);
        nftw(path.data, demo_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        buf_free(&path);
    }
    if (settings->csv) {
        buf_append_str(csv_path, settings->csv);
        return 0;
    }
    buf_printf(csv_path, "%s/stocks.csv", settings->dir);
    FILE *f = fopen(csv_path->data, "w");
    /* both symbols delimit the one .incbin blob */
    // cppcheck-suppress comparePointers
    size_t length = (size_t)(demo_sample_csv_end - demo_sample_csv);
    if (!f || fwrite(demo_sample_csv, 1, length, f) != length || fclose(f) != 0)
        return tp_err_set(err, TP_ERR_IO, "cannot write %s: %s", csv_path->data, strerror(errno));
    return 0;
}

/* Reads the CSV once: which columns hold the time, symbol, price and
 * volume, how many rows, and the time span (to pace the replay). */
static int demo_inspect(const char *path, struct demo_columns *columns, tp_err *err)
{
    memset(columns, 0, sizeof *columns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return tp_err_set(err, TP_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    csv_reader *reader = csv_reader_new(fd, NULL, err);
    csv_record record;
    tick_schema schema;
    int rc = -1;
    if (!reader || csv_reader_next(reader, &record, err) != 1 ||
        tick_schema_init(&schema, &record, NULL, err) < 0) {
        if (reader && !err->msg[0])
            tp_err_set(err, TP_ERR_PARSE, "%s: no header row", path);
        goto done;
    }
    if (schema.key_column < 0) {
        tp_err_set(err, TP_ERR_USAGE, "%s: no symbol column (symbol, ticker, index, name)", path);
        tick_schema_free(&schema);
        goto done;
    }
    snprintf(columns->time, sizeof columns->time, "%s", schema.names[schema.time_column]);
    snprintf(columns->key, sizeof columns->key, "%s", schema.names[schema.key_column]);
    static const char *const prices[] = {"price",     "close", "adj_close",
                                         "close_usd", "last",  "open"};
    for (size_t p = 0; p < sizeof prices / sizeof prices[0] && !columns->price[0]; p++)
        for (size_t i = 0; i < schema.count; i++)
            if (strcmp(schema.names[i], prices[p]) == 0)
                snprintf(columns->price, sizeof columns->price, "%s", prices[p]);
    for (size_t i = 0; i < schema.count; i++)
        if (strcmp(schema.names[i], "volume") == 0)
            snprintf(columns->volume, sizeof columns->volume, "volume");
    if (!columns->price[0]) {
        tp_err_set(err, TP_ERR_USAGE, "%s: no price column (price, close, adj_close, ...)", path);
        tick_schema_free(&schema);
        goto done;
    }
    tick_schema_finish_learning(&schema);
    buf json = BUF_INIT;
    int64_t previous_ms = 0;
    while (csv_reader_next(reader, &record, err) == 1) {
        struct tick tick;
        tp_err reason;
        if (tick_render(&schema, &record, &json, &tick, &reason) < 0)
            continue;
        if (columns->rows > 0 && tick.event_time_ms > previous_ms)
            columns->replay_ms += tick.event_time_ms - previous_ms;
        previous_ms = tick.event_time_ms;
        columns->rows++;
    }
    buf_free(&json);
    tick_schema_free(&schema);
    rc = columns->rows > 0 ? 0 : tp_err_set(err, TP_ERR_PARSE, "%s: no usable rows", path);
done:
    csv_reader_free(reader);
    close(fd);
    return rc;
}

struct demo_question {
    const char *title;
    char sql[2048];
};

static void demo_questions(const struct demo_columns *c, struct demo_question q[4])
{
    const char *t = c->time, *k = c->key, *p = c->price;
    /* "symbol AS symbol" reads oddly: alias only a differently named key */
    char key[200];
    snprintf(key, sizeof key, strcmp(k, "symbol") == 0 ? "%s" : "%s AS symbol", k);
    q[0].title = "Daily average price per symbol (latest 10 days)";
    snprintf(q[0].sql, sizeof q[0].sql,
             "SELECT %s, date(from_iso8601_timestamp(%s)) AS trading_day,\n"
             "       ROUND(AVG(%s), 2) AS avg_price\n"
             "FROM " DEMO_TOPIC "\n"
             "GROUP BY 1, 2\n"
             "ORDER BY trading_day DESC, symbol\n"
             "LIMIT 10",
             key, t, p);
    q[1].title = "Top gainers and losers (first to last price)";
    snprintf(q[1].sql, sizeof q[1].sql,
             "SELECT %s, min_by(%s, %s) AS first_price, max_by(%s, %s) AS last_price,\n"
             "       ROUND(100 * (max_by(%s, %s) / min_by(%s, %s) - 1), 1) AS change_pct\n"
             "FROM " DEMO_TOPIC "\n"
             "GROUP BY 1\n"
             "ORDER BY change_pct DESC, symbol",
             key, p, t, p, t, p, t, p, t);
    q[2].title = "Most volatile symbols (standard deviation of tick-to-tick returns)";
    snprintf(q[2].sql, sizeof q[2].sql,
             "WITH returns AS (\n"
             "  SELECT %s,\n"
             "         %s / lag(%s) OVER (PARTITION BY %s ORDER BY %s) - 1 AS ret\n"
             "  FROM " DEMO_TOPIC ")\n"
             "SELECT symbol, ROUND(100 * stddev_samp(ret), 2) AS volatility_pct,\n"
             "       count(ret) AS returns\n"
             "FROM returns\n"
             "WHERE ret IS NOT NULL\n"
             "GROUP BY symbol\n"
             "ORDER BY volatility_pct DESC, symbol",
             key, p, p, k, t);
    if (c->volume[0]) {
        q[3].title = "Volume by month (latest 12 months)";
        snprintf(q[3].sql, sizeof q[3].sql,
                 "SELECT date_format(date_trunc('month', from_iso8601_timestamp(%s)), '%%Y-%%m')"
                 " AS month,\n"
                 "       SUM(%s) AS volume, count(*) AS ticks\n"
                 "FROM " DEMO_TOPIC "\n"
                 "GROUP BY 1\n"
                 "ORDER BY month DESC\n"
                 "LIMIT 12",
                 t, c->volume);
    } else {
        q[3].title = "Ticks by month (latest 12 months; this file has no volume column)";
        snprintf(q[3].sql, sizeof q[3].sql,
                 "SELECT date_format(date_trunc('month', from_iso8601_timestamp(%s)), '%%Y-%%m')"
                 " AS month,\n"
                 "       count(*) AS ticks, ROUND(AVG(%s), 2) AS avg_price\n"
                 "FROM " DEMO_TOPIC "\n"
                 "GROUP BY 1\n"
                 "ORDER BY month DESC\n"
                 "LIMIT 12",
                 t, p);
    }
}

struct demo_thread {
    pthread_t thread;
    int (*command)(int, char **);
    const char *args[40];
    int result;
    int started;
};

static void *demo_thread_main(void *context)
{
    struct demo_thread *t = context;
    t->result = demo_run(t->command, t->args);
    return NULL;
}

static int demo_answer(const struct demo_settings *settings, const char *lake,
                       const struct demo_question q[4])
{
    int failed = 0;
    for (int i = 0; i < 4; i++) {
        printf("\n-- %d. %s\n%s;\n", i + 1, q[i].title, q[i].sql);
        fflush(stdout);
        const char *args[] = {"athena", q[i].sql,   "--lake",         lake, "--cache",
                              "off",    "--format", settings->format, "-q", NULL};
        failed |= demo_run(cmd_athena, args) != 0;
        fflush(stdout);
    }
    return failed;
}

static void demo_print_next_steps(const char *lake, const char *brokers, int follow)
{
    printf("\nQuery the lake yourself%s:\n"
           "  ./tickpipe athena --lake %s \"SELECT symbol, count(*) AS ticks FROM " DEMO_TOPIC
           " GROUP BY 1\"\n"
           "  ./tickpipe crawl --lake %s --show        # the table as Athena DDL\n",
           follow ? " from another terminal while this runs" : "", lake, lake);
    if (follow)
        printf("  kcat -C -b %s -t " DEMO_TOPIC " -o end   # the live stream\n", brokers);
    fflush(stdout);
}

int cmd_demo(int argc, char **argv)
{
    struct demo_settings settings = {0};
    const struct opt_spec options[] = {
        {"csv", 'c', OPT_STRING, &settings.csv, "FILE", NULL, NULL,
         "CSV to replay (default: the bundled monthly prices of 5 stocks, 2000-2010)", NULL},
        {"dir", 'd', OPT_STRING, &settings.dir, "DIR", "./demo", "TICKPIPE_DEMO_DIR",
         "where the broker's data, the lake and the catalog go (cleared first)", NULL},
        {"speed", 's', OPT_DOUBLE, &settings.speed, "X", NULL, NULL,
         "replay speed, X times real time (default: the whole file in about 4 seconds)", NULL},
        {"follow", 'f', OPT_FLAG, &settings.follow, NULL, NULL, NULL,
         "keep streaming (looping the file), flushing and re-crawling until Ctrl-C", NULL},
        {"crawl-every", 0, OPT_DURATION, &settings.crawl_every_ms, "DURATION", "10s", NULL,
         "with --follow, how often the lake is re-crawled", NULL},
        {"format", 0, OPT_CHOICE, &settings.format, "FORMAT", "table", NULL,
         "how the answers are printed", "table|csv|json"},
        {0},
    };
    const struct opt_command command = {
        "demo", "[--csv FILE] [--dir ./demo] [--speed X] [--follow]",
        "Run the whole pipeline in one process: broker, produce, consume, crawl and four stock\n"
        "questions in SQL, on the bundled sample or your CSV.",
        "Everything lives under --dir: broker/ (the embedded broker's log), lake/ (the objects,\n"
        "_catalog/ and _errors/), stocks.csv (the sample). Nothing keeps running afterwards.",
        options};
    int exit_code;
    if (cmd_parse_options_only(&command, argc, argv, &exit_code) < 0)
        return exit_code;
    if (settings.speed < 0)
        return cmd_usage_error("--speed must be positive");
    cmd_install_stop_handlers();
    tp_err err;
    tp_err_clear(&err);
    buf csv = BUF_INIT, lake = BUF_INIT, broker_dir = BUF_INIT, brokers = BUF_INIT,
        speed = BUF_INIT;
    struct broker *broker = NULL;
    struct demo_columns columns;
    exit_code = CMD_EXIT_FAILURE;
    if (demo_prepare_dir(&settings, &csv, &err) < 0)
        goto done;
    if (!csv.data) {
        tp_err_set(&err, TP_ERR_INTERNAL, "out of memory");
        goto done;
    }
    if (demo_inspect(csv.data, &columns, &err) < 0)
        goto done;
    buf_printf(&lake, "%s/lake", settings.dir);
    buf_printf(&broker_dir, "%s/broker", settings.dir);
    struct broker_config config;
    broker_config_defaults(&config);
    config.listen = "127.0.0.1:0";
    config.data_dir = broker_dir.data;
    config.fsync = BROKER_FSYNC_NEVER;
    if (!(broker = broker_open(&config, &err)) || broker_start(broker, &err) < 0)
        goto done;
    buf_printf(&brokers, "127.0.0.1:%d", broker_port(broker));
    double replay_s = (double)columns.replay_ms / 1000.0;
    double replay_speed = settings.speed > 0 ? settings.speed : (replay_s > 4 ? replay_s / 4 : 1);
    buf_printf(&speed, "%.6g", replay_speed);
    printf("tickpipe demo: %s (%lld ticks), everything under %s/\n"
           "  broker   embedded, listening on %s\n"
           "  produce  %s -> topic " DEMO_TOPIC ", replayed at %sx real time%s\n"
           "  consume  topic " DEMO_TOPIC " -> %s/" DEMO_TOPIC "/dt=YYYY-MM-DD/*.jsonl.gz\n"
           "  crawl    %s -> table " DEMO_TOPIC " in %s/_catalog/\n",
           settings.csv ? settings.csv : "the bundled sample", columns.rows, settings.dir,
           brokers.data, csv.data, speed.data, settings.follow ? ", looping" : "", lake.data,
           lake.data, lake.data);
    fflush(stdout);
    struct demo_question questions[4];
    demo_questions(&columns, questions);
    struct demo_thread producer = {.command = cmd_produce,
                                   .args = {"produce", "--csv", csv.data, "--topic", DEMO_TOPIC,
                                            "-b", brokers.data, "--replay-speed", speed.data, "-q",
                                            settings.follow ? "--loop" : NULL, NULL}};
    struct demo_thread consumer = {
        .command = cmd_consume,
        .args = {"consume", "--topic", DEMO_TOPIC, "-b", brokers.data, "--lake", lake.data,
                 "--group", "demo", "-q", "--flush-idle", "1s", "--flush-interval", "5s",
                 "--stats-interval", "0", settings.follow ? NULL : "--exit-at-end", NULL}};
    const char *crawl_args[] = {"crawl", "--lake", lake.data, "-q", NULL};
    if (!settings.follow) {
        int64_t started = clock_monotonic_ms();
        if (demo_run(cmd_produce, producer.args) != 0 || cmd_stop_requested) {
            tp_err_set(&err, TP_ERR_REMOTE, "produce failed");
            goto done;
        }
        if (demo_run(cmd_consume, consumer.args) != 0 || cmd_stop_requested) {
            tp_err_set(&err, TP_ERR_REMOTE, "consume failed");
            goto done;
        }
        if (demo_run(cmd_crawl, crawl_args) != 0) {
            tp_err_set(&err, TP_ERR_REMOTE, "crawl failed");
            goto done;
        }
        printf("  (streamed, stored and cataloged in %.1f s)\n",
               (clock_monotonic_ms() - started) / 1000.0);
        exit_code = demo_answer(&settings, lake.data, questions) ? CMD_EXIT_FAILURE : CMD_EXIT_OK;
        demo_print_next_steps(lake.data, brokers.data, 0);
        goto done;
    }
    /* --follow: producer and consumer run side by side until Ctrl-C */
    producer.started = pthread_create(&producer.thread, NULL, demo_thread_main, &producer) == 0;
    consumer.started = pthread_create(&consumer.thread, NULL, demo_thread_main, &consumer) == 0;
    demo_print_next_steps(lake.data, brokers.data, 1);
    printf("Streaming; the lake is re-crawled every %.0f s. Ctrl-C stops everything.\n",
           settings.crawl_every_ms / 1000.0);
    fflush(stdout);
    int64_t next_crawl = clock_monotonic_ms() + settings.crawl_every_ms;
    int answered = 0;
    while (!cmd_stop_requested) {
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
        if (clock_monotonic_ms() < next_crawl)
            continue;
        next_crawl = clock_monotonic_ms() + settings.crawl_every_ms;
        if (demo_run(cmd_crawl, crawl_args) == 0 && !answered && !cmd_stop_requested) {
            demo_answer(&settings, lake.data, questions);
            answered = 1;
        }
    }
    if (producer.started)
        pthread_join(producer.thread, NULL);
    if (consumer.started)
        pthread_join(consumer.thread, NULL);
    demo_run(cmd_crawl, crawl_args);
    log_set_program("tickpipe demo");
    log_notice("stopped: producer, consumer and broker shut down; the lake is in %s", lake.data);
    exit_code = producer.result == 0 && consumer.result == 0 ? CMD_EXIT_OK : CMD_EXIT_FAILURE;
done:
    log_set_program("tickpipe demo");
    if (err.msg[0])
        log_error("%s", err.msg);
    if (broker)
        broker_close(broker);
    buf_free(&csv);
    buf_free(&lake);
    buf_free(&broker_dir);
    buf_free(&brokers);
    buf_free(&speed);
    return exit_code;
}
