/*
 * consume: Kafka -> lake (local directory or S3), batched, compressed,
 * Hive-partitioned, exactly once. The loop reads messages in batches,
 * hands them to lib/lake, flushes batches that are due (made durable on
 * lake's committer thread while reading goes on), and commits a
 * partition's offset only once lake reports everything below it durable.
 * A flush that fails rewinds the partition and retries later.
 */
#include "cmd/cmd.h"
#include "cmd/aws_options.h"
#include "cmd/kafka_options.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka/consumer.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/lake.h"
#include "lib/log.h"
#include "lib/store.h"

#define CONSUME_POLL_BATCH     4096
#define CONSUME_BACKOFF_MIN_MS 1000
#define CONSUME_BACKOFF_MAX_MS 30000

struct consume_settings {
    struct opt_list topics;
    struct opt_list time_fields;
    struct cmd_kafka_options kafka;
    const char *group;
    const char *lake_path;
    const char *bucket;
    const char *table;
    const char *format;
    const char *compression;
    const char *partition_by;
    const char *stats_json;
    long long gzip_level;
    long long flush_records;
    long long flush_bytes;
    long long flush_span_ms;
    long long flush_idle_ms;
    long long flush_interval_ms;
    long long max_open_objects;
    long long stats_interval_ms;
    long long sweep_after_ms;
    int exit_at_end;
    struct cmd_aws_options aws;
};

/* What the loop knows of each assigned partition. */
struct consume_partition {
    char *topic;
    int32_t partition;
    int64_t next_offset; /* after the last message read */
    int paused;          /* rewound after a failed flush: skip until resumed */
    int64_t resume_at_ms;
    int64_t backoff_ms;
};

struct consume_run {
    const struct consume_settings *settings;
    struct cmd_lake lake_location;
    store *store;
    lake *lake;
    kafka_consumer *consumer;
    struct consume_partition *partitions;
    size_t partition_count;
    int failed; /* a fatal error: stop */
    long long commits;
    long long failed_flushes;
    FILE *stats_json;
    int64_t stats_last_ms;
    struct lake_stats stats_last;
};

static struct consume_partition *consume_find(struct consume_run *run, const char *topic,
                                              int32_t partition)
{
    for (size_t i = 0; i < run->partition_count; i++)
        if (run->partitions[i].partition == partition &&
            strcmp(run->partitions[i].topic, topic) == 0)
            return &run->partitions[i];
    return NULL;
}

static int consume_on_assign(void *context, const char *topic, int32_t partition, int64_t committed)
{
    struct consume_run *run = context;
    tp_err err;
    if (lake_recover(run->lake, topic, partition, committed, &err) < 0) {
        log_error("%s", err.msg);
        return -1;
    }
    struct consume_partition *p = consume_find(run, topic, partition);
    if (!p) {
        struct consume_partition *grown =
            realloc(run->partitions, (run->partition_count + 1) * sizeof *grown);
        if (!grown)
            return -1;
        run->partitions = grown;
        p = &run->partitions[run->partition_count++];
        memset(p, 0, sizeof *p);
        p->topic = strdup(topic);
        p->partition = partition;
    }
    p->next_offset = committed;
    p->paused = 0;
    p->backoff_ms = 0;
    return 0;
}

/* After a failure nothing of the partition's batch is committed: the
 * partition is rewound to rewind_offset (the batch's first) and paused
 * for a backoff, then read again. Nothing lost. */
static void consume_retry_later(struct consume_run *run, const char *topic, int32_t partition,
                                const char *why, int64_t rewind_offset)
{
    run->failed_flushes++;
    struct consume_partition *p = consume_find(run, topic, partition);
    int64_t backoff = p && p->backoff_ms ? p->backoff_ms * 2 : CONSUME_BACKOFF_MIN_MS;
    if (backoff > CONSUME_BACKOFF_MAX_MS)
        backoff = CONSUME_BACKOFF_MAX_MS;
    log_error("%s; nothing committed, retrying from offset %lld in %.0f s", why,
              (long long)rewind_offset, backoff / 1000.0);
    if (!p || rewind_offset < 0)
        return;
    tp_err rewind_err;
    if (kafka_consumer_rewind(run->consumer, topic, partition, rewind_offset, &rewind_err) < 0) {
        log_error("%s", rewind_err.msg);
        run->failed = 1;
        return;
    }
    p->paused = 1;
    p->next_offset = rewind_offset;
    p->backoff_ms = backoff;
    p->resume_at_ms = clock_monotonic_ms() + backoff;
}

/* Starts flushing one partition's batch; consume_on_flushed commits its
 * offset once it is durable. */
static void consume_flush(void *context, const char *topic, int32_t partition)
{
    struct consume_run *run = context;
    lake_flush_async(run->lake, topic, partition);
}

/* A flush is done (on this thread): commit its offset, or retry later
 * from the batch's first offset. */
static void consume_on_flushed(void *context, const char *topic, int32_t partition, int ok,
                               int64_t commit_offset, int64_t rewind_offset, const tp_err *err)
{
    struct consume_run *run = context;
    if (!ok) {
        consume_retry_later(run, topic, partition, err->msg, rewind_offset);
        return;
    }
    if (commit_offset <= 0)
        return;
    tp_err commit_err;
    if (kafka_consumer_commit(run->consumer, topic, partition, commit_offset, &commit_err) < 0) {
        lake_commit_failed(run->lake, topic, partition);
        consume_retry_later(run, topic, partition, commit_err.msg, rewind_offset);
        return;
    }
    run->commits++;
    struct consume_partition *p = consume_find(run, topic, partition);
    if (p)
        p->backoff_ms = 0;
}

static void consume_on_revoke(void *context, const char *topic, int32_t partition)
{
    struct consume_run *run = context;
    struct consume_partition *p = consume_find(run, topic, partition);
    if (p && !p->paused)
        consume_flush(run, topic, partition);
    lake_forget(run->lake, topic, partition);
    if (p) {
        free(p->topic);
        *p = run->partitions[--run->partition_count];
    }
}

static void consume_resume_due(struct consume_run *run, int64_t now_ms)
{
    for (size_t i = 0; i < run->partition_count; i++) {
        struct consume_partition *p = &run->partitions[i];
        if (p->paused && now_ms >= p->resume_at_ms) {
            log_notice("%s [%d]: retrying from offset %lld", p->topic, p->partition,
                       (long long)p->next_offset);
            p->paused = 0;
            kafka_consumer_resume(run->consumer, p->topic, p->partition);
        }
    }
}

static void consume_report_stats(struct consume_run *run, int64_t now_ms, int final)
{
    const struct consume_settings *settings = run->settings;
    if (!final && (settings->stats_interval_ms <= 0 ||
                   now_ms - run->stats_last_ms < settings->stats_interval_ms))
        return;
    struct lake_stats stats;
    lake_get_stats(run->lake, &stats);
    double seconds = (now_ms - run->stats_last_ms) / 1000.0;
    if (seconds <= 0)
        seconds = 1e-3;
    double records_rate =
        (stats.records + stats.errors - run->stats_last.records - run->stats_last.errors) / seconds;
    double bytes_rate = (stats.bytes_in - run->stats_last.bytes_in) / seconds;
    buf lags = BUF_INIT;
    buf lags_json = BUF_INIT;
    for (size_t i = 0; i < run->partition_count; i++) {
        struct consume_partition *p = &run->partitions[i];
        int64_t lag = kafka_consumer_lag(run->consumer, p->topic, p->partition, p->next_offset);
        buf_printf(&lags, " %s[%d]=%lld", p->topic, p->partition, (long long)lag);
        buf_printf(&lags_json, "%s{\"topic\":\"%s\",\"partition\":%d,\"lag\":%lld}", i ? "," : "",
                   p->topic, p->partition, (long long)lag);
    }
    log_notice("%s%.0f records/s, %.1f MB/s, %lld records, %lld errors, %lld objects, "
               "%lld commits; lag%s",
               final ? "done: " : "", records_rate, bytes_rate / 1e6, stats.records, stats.errors,
               stats.objects, run->commits, lags.len ? lags.data : " -");
    if (run->stats_json) {
        fprintf(run->stats_json,
                "{\"time_ms\":%lld,\"records_per_s\":%.1f,\"bytes_per_s\":%.1f,\"records\":%lld,"
                "\"errors\":%lld,\"objects\":%lld,\"bytes_written\":%lld,\"commits\":%lld,"
                "\"failed_flushes\":%lld,\"partitions\":[%s]}\n",
                (long long)clock_wall_ms(), records_rate, bytes_rate, stats.records, stats.errors,
                stats.objects, stats.bytes_out, run->commits, run->failed_flushes,
                lags_json.len ? lags_json.data : "");
        fflush(run->stats_json);
    }
    buf_free(&lags);
    buf_free(&lags_json);
    run->stats_last = stats;
    run->stats_last_ms = now_ms;
}

static int consume_handle(struct consume_run *run, const struct kafka_message *m, int64_t now_ms)
{
    struct consume_partition *p = consume_find(run, m->topic, m->partition);
    if (!p || p->paused)
        return 0;
    struct lake_message message = {m->topic, m->partition,  m->offset, m->timestamp_ms,
                                   m->key,   m->key_length, m->value,  m->value_length};
    tp_err err;
    int rc = lake_add(run->lake, &message, now_ms, &err);
    if (rc == LAKE_FLUSH_FIRST) {
        consume_flush(run, m->topic, m->partition);
        if (p->paused)
            return 0;
        rc = lake_add(run->lake, &message, now_ms, &err);
    }
    if (rc < 0) {
        /* a store error while buffering (e.g. an object that cannot be
         * created): like a failed flush, the batch so far and this message
         * are read again after a backoff (forgetting the batch without a
         * rewind used to lose it) */
        int64_t first = lake_discard(run->lake, m->topic, m->partition);
        consume_retry_later(run, m->topic, m->partition, err.msg,
                            first >= 0 && first < m->offset ? first : m->offset);
        return 0;
    }
    p->next_offset = m->offset + 1;
    if (rc == LAKE_ADDED_FULL)
        consume_flush(run, m->topic, m->partition);
    return 0;
}

static int consume_any_paused(const struct consume_run *run)
{
    for (size_t i = 0; i < run->partition_count; i++)
        if (run->partitions[i].paused)
            return 1;
    return 0;
}

static int consume_loop(struct consume_run *run, tp_err *err)
{
    struct kafka_message *messages = calloc(CONSUME_POLL_BATCH, sizeof *messages);
    if (!messages)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    run->stats_last_ms = clock_monotonic_ms();
    int rc = 0;
    while (!cmd_stop_requested && !run->failed) {
        int n = kafka_consumer_poll(run->consumer, messages, CONSUME_POLL_BATCH, 100, err);
        if (n < 0) {
            rc = -1;
            break;
        }
        int64_t now_ms = clock_monotonic_ms();
        for (int i = 0; i < n && !run->failed; i++)
            consume_handle(run, &messages[i], now_ms);
        lake_poll(run->lake);
        lake_each_due(run->lake, now_ms, consume_flush, run);
        consume_resume_due(run, now_ms);
        consume_report_stats(run, now_ms, 0);
        if (run->settings->exit_at_end && kafka_consumer_at_end(run->consumer)) {
            /* exit only once everything read is committed; a failed flush
             * rewinds its partition, which is then no longer at its end */
            lake_each_due(run->lake, -1, consume_flush, run);
            lake_wait(run->lake, NULL, 0);
            if (!consume_any_paused(run)) {
                log_info("every assigned partition is caught up and committed: exiting");
                break;
            }
        }
    }
    free(messages);
    if (run->failed && rc == 0)
        rc = tp_err_set(err, TP_ERR_REMOTE, "stopping after the errors above");
    return rc;
}

static int consume_parse_partitioning(const char *text, enum lake_partitioning *out)
{
    static const struct {
        const char *name;
        enum lake_partitioning value;
    } names[] = {
        {"dt", LAKE_PARTITION_DT},     {"dt,hour", LAKE_PARTITION_DT_HOUR},
        {"year", LAKE_PARTITION_YEAR}, {"month", LAKE_PARTITION_MONTH},
        {"none", LAKE_PARTITION_NONE},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(text, names[i].name) == 0) {
            *out = names[i].value;
            return 0;
        }
    }
    return -1;
}

static void consume_sweep_folder(struct consume_run *run, const char *prefix)
{
    tp_err err;
    if (store_dir_sweep_temporaries(run->store, prefix, run->settings->sweep_after_ms, NULL, &err) <
        0)
        log_warn("%s (consuming anyway: the sweep only frees disk space)", err.msg);
}

/* A consumer killed mid-write leaves hidden temporary files in a directory
 * lake (S3 uploads leave none): remove those of dead writers from the
 * folders this consumer writes, so a restart cleans up after a crash. */
static void consume_sweep_temporaries(struct consume_run *run, const char *state_prefix)
{
    const struct consume_settings *settings = run->settings;
    if (run->lake_location.on_s3 || settings->sweep_after_ms <= 0)
        return;
    if (settings->table)
        consume_sweep_folder(run, settings->table);
    buf prefix = BUF_INIT;
    for (int i = 0; i < settings->topics.count; i++) {
        const char *topic = settings->topics.items[i];
        if (topic[0] == '^')
            continue; /* a pattern: which folders it writes is not known yet */
        if (!settings->table)
            consume_sweep_folder(run, topic);
        buf_reset(&prefix);
        if (buf_printf(&prefix, "_errors/%s", topic) == 0)
            consume_sweep_folder(run, prefix.data);
    }
    buf_free(&prefix);
    consume_sweep_folder(run, state_prefix);
}

static void consume_free_run(struct consume_run *run)
{
    kafka_consumer_free(run->consumer); /* revoke callbacks may still flush */
    run->consumer = NULL;
    lake_free(run->lake);
    cmd_lake_close(&run->lake_location);
    for (size_t i = 0; i < run->partition_count; i++)
        free(run->partitions[i].topic);
    free(run->partitions);
    if (run->stats_json)
        fclose(run->stats_json);
}

static void consume_free_settings(struct consume_settings *settings)
{
    opt_list_free(&settings->topics);
    opt_list_free(&settings->time_fields);
    cmd_kafka_options_free(&settings->kafka);
}

int cmd_consume(int argc, char **argv)
{
    struct consume_settings settings = {0};
    const struct opt_spec options[] = {
        {"topic", 't', OPT_LIST, &settings.topics, "TOPIC", NULL, "TICKPIPE_TOPIC",
         "topic to consume (repeatable)", NULL},
        {"group", 'g', OPT_STRING, &settings.group, "GROUP", "tickpipe-lake", "TICKPIPE_GROUP",
         "consumer group (run several consumers with one group to scale out)", NULL},
        {"lake", 'l', OPT_STRING, &settings.lake_path, "DIR", "./lake", "TICKPIPE_LAKE",
         "local lake directory", NULL},
        {"bucket", 0, OPT_STRING, &settings.bucket, "s3://BUCKET/PREFIX", NULL, "TICKPIPE_BUCKET",
         "write the lake to S3 instead of --lake", NULL},
        {"table", 0, OPT_STRING, &settings.table, "NAME", NULL, NULL,
         "lake folder (table) to write (default: the topic name)", NULL},
        {"format", 0, OPT_CHOICE, &settings.format, "FORMAT", "jsonl", NULL, "object format",
         "jsonl|csv"},
        {"compression", 0, OPT_CHOICE, &settings.compression, "CODEC", "gzip", NULL,
         "object compression", "gzip|none"},
        {"gzip-level", 0, OPT_INT, &settings.gzip_level, "N", "1", NULL,
         "gzip level, 1 (fastest; smaller than gzip -1) to 12 (smallest)", NULL},
        {"partition-by", 'p', OPT_CHOICE, &settings.partition_by, "SCHEME", "dt", NULL,
         "Hive partitions by event time: dt=YYYY-MM-DD, dt=.../hour=HH, year=YYYY, "
         "month=YYYY-MM, none",
         "dt|dt,hour|year|month|none"},
        {"time-field", 0, OPT_LIST, &settings.time_fields, "NAME", NULL, NULL,
         "event-time member of each JSON message (repeatable; default: timestamp, datetime, "
         "date, time, ts)",
         NULL},
        {"flush-records", 0, OPT_INT, &settings.flush_records, "N", "100000", NULL,
         "flush a partition's batch at N messages", NULL},
        {"flush-bytes", 0, OPT_SIZE, &settings.flush_bytes, "SIZE", "64MiB", NULL,
         "flush a partition's batch at SIZE of messages", NULL},
        {"flush-span", 0, OPT_DURATION, &settings.flush_span_ms, "DURATION", "0", NULL,
         "flush when a batch's event times span DURATION (0: off)", NULL},
        {"flush-idle", 0, OPT_DURATION, &settings.flush_idle_ms, "DURATION", "10s", NULL,
         "flush a batch when its partition has been quiet this long (wall clock)", NULL},
        {"flush-interval", 0, OPT_DURATION, &settings.flush_interval_ms, "DURATION", "60s", NULL,
         "flush a batch whose oldest message waited this long (wall clock)", NULL},
        {"max-open-objects", 0, OPT_INT, &settings.max_open_objects, "N", "64", NULL,
         "partition folders one batch may write to before it is flushed", NULL},
        {"exit-at-end", 'e', OPT_FLAG, &settings.exit_at_end, NULL, NULL, NULL,
         "flush, commit and exit when every assigned partition is caught up (like kcat -e)", NULL},
        {"stats-interval", 0, OPT_DURATION, &settings.stats_interval_ms, "DURATION", "30s", NULL,
         "print a stats line this often (0: only at the end)", NULL},
        {"stats-json", 0, OPT_STRING, &settings.stats_json, "FILE", NULL, NULL,
         "append each stats line as JSON to FILE", NULL},
        {"sweep-temps-after", 0, OPT_DURATION, &settings.sweep_after_ms, "DURATION", "10m", NULL,
         "at start, delete temporary files that dead writers left in a --lake once unmodified "
         "this long (0: keep them)",
         NULL},
        CMD_KAFKA_OPTION_SPECS(&settings.kafka),
        CMD_AWS_OPTION_SPECS(&settings.aws),
        {0},
    };
    const struct opt_command command = {
        "consume", "--topic TOPIC [--lake DIR | --bucket s3://BUCKET/PREFIX] [options]",
        "Write Kafka topics to a Hive-partitioned lake (local directory or S3), batched,\n"
        "compressed and exactly once.",
        "Objects: <lake>/<table>/dt=YYYY-MM-DD/<topic>+<partition>+<first offset>.jsonl.gz.\n"
        "Offsets are committed only after the objects holding the messages are durable; after a\n"
        "crash the uncommitted batch's objects are deleted and rewritten, so each message lands\n"
        "exactly once. Messages that are not JSON objects or have no usable event time go to\n"
        "<lake>/_errors/<topic>/ with the reason.\n"
        "A writer killed mid-write leaves a hidden .<object>.tmp-<pid>-<n> file in a --lake; at\n"
        "start, consume deletes those in its folders (<table>, _errors/<topic>, _consume/<group>)\n"
        "whose pid is gone from this host and that were not modified for --sweep-temps-after\n"
        "(keep it above the --flush-interval of consumers on other hosts sharing the directory).\n"
        "Exit status: 0 after a clean stop (SIGINT/SIGTERM or --exit-at-end), 1 on errors,\n"
        "2 for usage errors.",
        options};
    int npositional, exit_code;
    if (cmd_parse(&command, argc, argv, &npositional, &exit_code) < 0) {
        consume_free_settings(&settings);
        return exit_code;
    }
    int checked = cmd_kafka_check(&settings.kafka);
    if (checked) {
        consume_free_settings(&settings);
        return checked == 1 ? CMD_EXIT_OK : checked;
    }
    enum lake_partitioning partitioning = LAKE_PARTITION_DT;
    tp_err err;
    tp_err_clear(&err);
    exit_code = 0;
    if (npositional > 0)
        exit_code = cmd_usage_error("unexpected argument '%s'", argv[1]);
    else if (settings.topics.count == 0)
        exit_code = cmd_usage_error("--topic TOPIC is required");
    else if (consume_parse_partitioning(settings.partition_by, &partitioning) < 0)
        exit_code = cmd_usage_error("--partition-by: unknown scheme '%s'", settings.partition_by);
    else if (settings.gzip_level < 1 || settings.gzip_level > 12)
        exit_code = cmd_usage_error("--gzip-level must be 1-12");
    else if (settings.max_open_objects < 1)
        exit_code = cmd_usage_error("--max-open-objects must be at least 1");
    if (exit_code) {
        consume_free_settings(&settings);
        return exit_code;
    }
    cmd_install_stop_handlers();
    static const char *const default_time_fields[] = {"timestamp", "datetime", "date",
                                                      "time",      "ts",       NULL};
    const char **time_fields = NULL;
    if (settings.time_fields.count) {
        time_fields = calloc((size_t)settings.time_fields.count + 1, sizeof *time_fields);
        for (int i = 0; time_fields && i < settings.time_fields.count; i++)
            time_fields[i] = settings.time_fields.items[i];
    }
    struct consume_run run = {.settings = &settings};
    exit_code = CMD_EXIT_FAILURE;
    buf state_prefix = BUF_INIT;
    buf_printf(&state_prefix, "_consume/%s", settings.group);
    if (settings.stats_json && !(run.stats_json = fopen(settings.stats_json, "a"))) {
        tp_err_set(&err, TP_ERR_IO, "cannot write --stats-json %s: %s", settings.stats_json,
                   strerror(errno));
        goto done;
    }
    if (cmd_lake_open(settings.lake_path, settings.bucket, &settings.aws, &run.lake_location,
                      &err) < 0) {
        if (err.code == TP_ERR_USAGE)
            exit_code = CMD_EXIT_USAGE;
        goto done;
    }
    run.store = run.lake_location.store;
    consume_sweep_temporaries(&run, state_prefix.data);
    struct lake_options lake_options = {
        run.store,
        settings.table,
        state_prefix.data,
        partitioning,
        strcmp(settings.format, "csv") == 0 ? LAKE_FORMAT_CSV : LAKE_FORMAT_JSONL,
        strcmp(settings.compression, "gzip") == 0 ? (int)settings.gzip_level : 0,
        time_fields ? time_fields : default_time_fields,
        settings.flush_records,
        settings.flush_bytes,
        settings.flush_span_ms,
        settings.flush_idle_ms,
        settings.flush_interval_ms,
        (int)settings.max_open_objects,
        consume_on_flushed,
        &run,
    };
    if (!(run.lake = lake_new(&lake_options, &err)))
        goto done;
    struct kafka_consumer_options consumer_options = {
        settings.kafka.brokers,          settings.group,
        settings.topics.items,           settings.topics.count,
        settings.kafka.properties.items, settings.kafka.properties.count,
        settings.kafka.timeout_ms,       {consume_on_assign, consume_on_revoke, &run},
    };
    if (!(run.consumer = kafka_consumer_new(&consumer_options, &err)))
        goto done;
    log_info("consuming %s from %s into %s (group %s)", settings.topics.items[0],
             settings.kafka.brokers, run.store->location, settings.group);
    int loop_rc = consume_loop(&run, &err);
    /* flush what is buffered, then leave the group */
    lake_each_due(run.lake, -1, consume_flush, &run);
    lake_wait(run.lake, NULL, 0);
    consume_report_stats(&run, clock_monotonic_ms(), 1);
    int unflushed = consume_any_paused(&run);
    if (unflushed)
        log_error("stopping with batches that could not be written: they were not committed and "
                  "will be read again on the next start");
    exit_code = loop_rc < 0 || run.failed || unflushed ? CMD_EXIT_FAILURE : CMD_EXIT_OK;
    if (loop_rc == 0)
        err.msg[0] = '\0';
done:
    if (err.msg[0])
        log_error("%s", err.msg);
    consume_free_run(&run);
    buf_free(&state_prefix);
    free(time_fields);
    consume_free_settings(&settings);
    return exit_code;
}
