/*
 * produce: CSV (file or stdin) -> Kafka, one JSON tick per row, keyed by
 * symbol and stamped with the event time. Reads with constant memory,
 * learns column types from the first rows, paces (flat out, --rate,
 * --replay-speed), loops or samples, and waits for every delivery report.
 */
#include "cmd/cmd.h"
#include "cmd/kafka_options.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kafka/producer.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/csv.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/tick.h"

#define PRODUCE_MAX_STDERR_BAD_ROWS 20

struct produce_settings {
    const char *csv_path;
    const char *topic;
    const char *time_column;
    const char *key_column;
    const char *timezone;
    const char *errors_path;
    const char *delimiter;
    double rate;
    double replay_speed;
    long long limit;
    long long learn_rows;
    int loop;
    int sample;
    int dry_run;
    struct cmd_kafka_options kafka;
};

struct produce_run {
    const struct produce_settings *settings;
    const char *source_name; /* for messages: the path, or "stdin" */
    int fd;
    long long file_size; /* 0 when unknown (stdin, pipes) */
    csv_reader *reader;
    tick_schema schema;
    kafka_producer *producer;
    buf json;
    FILE *errors;
    /* rows read ahead while learning the column types, replayed first */
    csv_saved_record **learned;
    size_t learned_count;
    size_t learned_next;
    long long data_offset; /* where the first data row starts (for --loop) */
    long long data_line;
    /* --sample: every data row's offset and line */
    long long *row_offsets;
    long long *row_lines;
    size_t row_count;
    uint64_t random_state;
    /* pacing */
    int64_t start_ns;
    int64_t virtual_ns; /* --replay-speed: event time elapsed, in ns */
    int64_t previous_event_ms;
    int have_previous_event;
    /* counters */
    long long rows_read;
    long long rejected;
    int64_t last_progress_ns;
};

static int produce_open_input(struct produce_run *run, tp_err *err)
{
    const struct produce_settings *settings = run->settings;
    if (strcmp(settings->csv_path, "-") == 0) {
        run->fd = STDIN_FILENO;
        run->source_name = "stdin";
    } else {
        run->fd = open(settings->csv_path, O_RDONLY | O_CLOEXEC);
        if (run->fd < 0)
            return tp_err_set(err, TP_ERR_IO, "cannot open %s: %s", settings->csv_path,
                              strerror(errno));
        run->source_name = settings->csv_path;
    }
    struct stat st;
    if (fstat(run->fd, &st) == 0 && S_ISREG(st.st_mode))
        run->file_size = st.st_size;
    else if (settings->loop || settings->sample)
        return tp_err_set(err, TP_ERR_USAGE, "--%s needs a regular file to re-read, not %s",
                          settings->loop ? "loop" : "sample", run->source_name);
    struct csv_options options = {.delimiter = settings->delimiter[0], .stop = &cmd_stop_requested};
    run->reader = csv_reader_new(run->fd, &options, err);
    return run->reader ? 0 : -1;
}

/* Reads the header and up to learn_rows rows to fix column types. */
static int produce_learn_schema(struct produce_run *run, tp_err *err)
{
    csv_record record;
    int rc = csv_reader_next(run->reader, &record, err);
    if (rc < 0)
        return tp_err_prefix(err, "%s", run->source_name);
    if (rc == 0)
        return tp_err_set(err, TP_ERR_PARSE, "%s: empty input, expected a header row",
                          run->source_name);
    struct tick_schema_options options = {run->settings->time_column, run->settings->key_column,
                                          run->settings->timezone};
    if (tick_schema_init(&run->schema, &record, &options, err) < 0)
        return tp_err_prefix(err, "%s", run->source_name);
    run->data_offset = csv_reader_position(run->reader);
    run->data_line = csv_reader_line(run->reader);
    size_t capacity = (size_t)run->settings->learn_rows;
    run->learned = calloc(capacity ? capacity : 1, sizeof(csv_saved_record *));
    if (!run->learned)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    while (run->learned_count < capacity) {
        rc = csv_reader_next(run->reader, &record, err);
        if (rc < 0)
            return tp_err_prefix(err, "%s", run->source_name);
        if (rc == 0)
            break;
        csv_saved_record *saved = csv_record_save(&record);
        if (!saved)
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        run->learned[run->learned_count++] = saved;
        tick_schema_learn(&run->schema, &record);
    }
    tick_schema_finish_learning(&run->schema);
    for (size_t i = 0; i < run->schema.count; i++) {
        static const char *const kinds[] = {"unknown", "number", "string", "time"};
        log_debug("column %zu: %s -> %s (%s)%s", i + 1, run->schema.header_names[i],
                  run->schema.names[i], kinds[run->schema.kinds[i]],
                  (int)i == run->schema.key_column ? ", key" : "");
    }
    if (run->schema.key_column < 0)
        log_info("no key column (symbol, ticker, index, name): messages are sent without a key");
    return 0;
}

/* --sample: remembers where every data row starts. */
static int produce_index_rows(struct produce_run *run, tp_err *err)
{
    if (csv_reader_seek(run->reader, run->data_offset, run->data_line, err) < 0)
        return -1;
    size_t capacity = 0;
    csv_record record;
    int rc;
    while ((rc = csv_reader_next(run->reader, &record, err)) == 1) {
        if (run->row_count == capacity) {
            capacity = capacity ? capacity * 2 : 1024;
            long long *offsets = realloc(run->row_offsets, capacity * sizeof *offsets);
            if (offsets)
                run->row_offsets = offsets;
            long long *lines = realloc(run->row_lines, capacity * sizeof *lines);
            if (lines)
                run->row_lines = lines;
            if (!offsets || !lines)
                return tp_err_set(err, TP_ERR_INTERNAL, "out of memory indexing rows");
        }
        run->row_offsets[run->row_count] = record.offset;
        run->row_lines[run->row_count] = record.line;
        run->row_count++;
    }
    if (rc < 0)
        return tp_err_prefix(err, "%s", run->source_name);
    if (run->row_count == 0)
        return tp_err_set(err, TP_ERR_PARSE, "%s: no data rows to sample", run->source_name);
    if (getrandom(&run->random_state, sizeof run->random_state, 0) != sizeof run->random_state)
        run->random_state = (uint64_t)clock_monotonic_ns();
    run->random_state |= 1;
    return 0;
}

static uint64_t produce_random(struct produce_run *run)
{
    uint64_t x = run->random_state; /* xorshift64* */
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    run->random_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The next row to send: learned rows first, then the stream; at the end
 * of the file starts over with --loop; draws at random with --sample.
 * Returns 1, 0 at the end, -1 on a read error. */
static int produce_next_row(struct produce_run *run, csv_record *row, tp_err *err)
{
    if (run->settings->sample) {
        size_t pick = (size_t)(produce_random(run) % run->row_count);
        if (csv_reader_seek(run->reader, run->row_offsets[pick], run->row_lines[pick], err) < 0)
            return -1;
        int rc = csv_reader_next(run->reader, row, err);
        return rc == 0 ? tp_err_set(err, TP_ERR_IO, "%s changed while sampling", run->source_name)
                       : rc;
    }
    if (run->learned_next < run->learned_count) {
        csv_saved_record_view(run->learned[run->learned_next++], row);
        return 1;
    }
    int rc = csv_reader_next(run->reader, row, err);
    if (rc != 0 || !run->settings->loop || cmd_stop_requested || run->rows_read == 0)
        return rc;
    if (csv_reader_seek(run->reader, run->data_offset, run->data_line, err) < 0)
        return -1;
    run->have_previous_event = 0; /* no replay gap across the wrap-around */
    return csv_reader_next(run->reader, row, err);
}

/* Sleeps until the deadline, serving delivery reports meanwhile. */
static void produce_wait_until(struct produce_run *run, int64_t deadline_ns)
{
    for (;;) {
        int64_t left = deadline_ns - clock_monotonic_ns();
        if (left <= 0 || cmd_stop_requested)
            return;
        if (left >= 1000000 && run->producer) {
            kafka_producer_poll(run->producer, (int)(left / 1000000 > 100 ? 100 : left / 1000000));
        } else {
            struct timespec nap = {0, (long)left};
            nanosleep(&nap, NULL);
        }
    }
}

static void produce_pace(struct produce_run *run, long long sent, int64_t event_ms)
{
    const struct produce_settings *settings = run->settings;
    if (settings->rate > 0) {
        produce_wait_until(run, run->start_ns + (int64_t)(sent * 1e9 / settings->rate));
    } else if (settings->replay_speed > 0) {
        if (run->have_previous_event && event_ms > run->previous_event_ms)
            run->virtual_ns += (event_ms - run->previous_event_ms) * 1000000;
        run->previous_event_ms = event_ms;
        run->have_previous_event = 1;
        produce_wait_until(run,
                           run->start_ns + (int64_t)(run->virtual_ns / settings->replay_speed));
    }
}

static void produce_report_bad_row(struct produce_run *run, const csv_record *row,
                                   const char *reason)
{
    run->rejected++;
    if (run->errors) {
        buf line = BUF_INIT;
        buf_append_str(&line, "{\"source\":");
        json_append_string(&line, run->source_name, strlen(run->source_name));
        buf_printf(&line, ",\"line\":%lld,\"reason\":", row->line);
        json_append_string(&line, reason, strlen(reason));
        buf_append_str(&line, ",\"fields\":[");
        for (size_t i = 0; i < row->count; i++) {
            if (i)
                buf_append_char(&line, ',');
            json_append_string(&line, row->fields[i], row->lengths[i]);
        }
        buf_append_str(&line, "]}\n");
        fwrite(line.data, 1, line.len, run->errors);
        buf_free(&line);
        return;
    }
    if (run->rejected <= PRODUCE_MAX_STDERR_BAD_ROWS)
        log_warn("%s:%lld: bad row skipped: %s", run->source_name, row->line, reason);
    if (run->rejected == PRODUCE_MAX_STDERR_BAD_ROWS)
        log_warn("further bad rows are counted but not shown (use --errors FILE to keep them all)");
}

static void produce_show_progress(struct produce_run *run, int64_t now_ns)
{
    if (now_ns - run->last_progress_ns < 250000000 || !log_progress_enabled())
        return;
    run->last_progress_ns = now_ns;
    struct kafka_producer_stats stats;
    kafka_producer_get_stats(run->producer, &stats);
    double seconds = (now_ns - run->start_ns) / 1e9;
    double rate = seconds > 0 ? stats.delivered / seconds : 0;
    if (run->file_size > 0 && !run->settings->loop && !run->settings->sample) {
        double done = (double)csv_reader_position(run->reader) / (double)run->file_size;
        double eta = done > 0 ? seconds / done - seconds : 0;
        log_progress("%lld rows, %lld sent, %.0f msg/s, %.1f%%, ETA %d:%02d", run->rows_read,
                     stats.delivered, rate, done * 100, (int)eta / 60, (int)eta % 60);
    } else {
        log_progress("%lld rows, %lld sent, %.0f msg/s", run->rows_read, stats.delivered, rate);
    }
}

/* --dry-run: "key<TAB>json" lines on stdout, the input format of
 * `kcat -P -K '\t'`. */
static int produce_print(struct produce_run *run, const struct tick *tick)
{
    if (tick->key && fwrite(tick->key, 1, tick->key_length, stdout) != tick->key_length)
        return -1;
    run->json.data[run->json.len] = '\n';
    int rc = fputc('\t', stdout) == EOF ||
                     fwrite(run->json.data, 1, run->json.len + 1, stdout) != run->json.len + 1
                 ? -1
                 : 0;
    run->json.data[run->json.len] = '\0';
    return rc;
}

/* The main loop. Returns 0, or -1 on a read or produce error. */
static int produce_stream(struct produce_run *run, tp_err *err)
{
    const struct produce_settings *settings = run->settings;
    run->start_ns = clock_monotonic_ns();
    long long sent = 0;
    csv_record row;
    while (!cmd_stop_requested && (settings->limit <= 0 || sent < settings->limit)) {
        int rc = produce_next_row(run, &row, err);
        if (rc < 0)
            return tp_err_prefix(err, "%s", run->source_name);
        if (rc == 0)
            break;
        run->rows_read++;
        struct tick tick;
        tp_err reason;
        if (tick_render(&run->schema, &row, &run->json, &tick, &reason) < 0) {
            produce_report_bad_row(run, &row, reason.msg);
            continue;
        }
        produce_pace(run, sent, tick.event_time_ms);
        if (settings->dry_run) {
            if (produce_print(run, &tick) < 0)
                return tp_err_set(err, TP_ERR_IO, "writing to stdout: %s", strerror(errno));
            sent++;
            continue;
        }
        if (kafka_producer_send(run->producer, tick.key, tick.key_length, run->json.data,
                                run->json.len, tick.event_time_ms, err) < 0)
            return -1;
        sent++;
        if ((sent & 1023) == 0 || settings->rate > 0 || settings->replay_speed > 0) {
            kafka_producer_poll(run->producer, 0);
            produce_show_progress(run, clock_monotonic_ns());
        }
    }
    return 0;
}

static void produce_run_free(struct produce_run *run)
{
    for (size_t i = 0; i < run->learned_count; i++)
        csv_saved_record_free(run->learned[i]);
    free(run->learned);
    free(run->row_offsets);
    free(run->row_lines);
    kafka_producer_free(run->producer);
    tick_schema_free(&run->schema);
    csv_reader_free(run->reader);
    buf_free(&run->json);
    if (run->errors)
        fclose(run->errors);
    if (run->fd > STDIN_FILENO)
        close(run->fd);
}

static int produce_check_settings(const struct produce_settings *settings, int npositional)
{
    if (npositional > 0)
        return cmd_usage_error("unexpected argument (see 'tickpipe produce --help')");
    if (!settings->csv_path)
        return cmd_usage_error("--csv FILE (or - for stdin) is required");
    if (!settings->dry_run && (!settings->topic || !*settings->topic))
        return cmd_usage_error("--topic TOPIC is required");
    if (settings->rate < 0 || settings->replay_speed < 0)
        return cmd_usage_error("--rate and --replay-speed must be positive");
    if (settings->rate > 0 && settings->replay_speed > 0)
        return cmd_usage_error("--rate and --replay-speed are exclusive: pick one pacing");
    if (settings->loop && settings->sample)
        return cmd_usage_error("--sample already sends forever: drop --loop");
    if (strlen(settings->delimiter) != 1)
        return cmd_usage_error("--delimiter must be one character, got '%s'", settings->delimiter);
    if (settings->learn_rows < 1)
        return cmd_usage_error("--learn-rows must be at least 1");
    return 0;
}

int cmd_produce(int argc, char **argv)
{
    struct produce_settings settings = {0};
    const struct opt_spec options[] = {
        {"csv", 'c', OPT_STRING, &settings.csv_path, "FILE|-", NULL, "TICKPIPE_CSV",
         "CSV file to replay, or - for stdin", NULL},
        {"topic", 't', OPT_STRING, &settings.topic, "TOPIC", NULL, "TICKPIPE_TOPIC",
         "Kafka topic to write to", NULL},
        {"time-column", 0, OPT_STRING, &settings.time_column, "NAME", NULL, NULL,
         "event-time column (default: first of timestamp, datetime, date, time, ts)", NULL},
        {"key-column", 0, OPT_STRING, &settings.key_column, "NAME", NULL, NULL,
         "message key column (default: first of symbol, ticker, index, name)", NULL},
        {"timezone", 0, OPT_STRING, &settings.timezone, "ZONE", "UTC", "TICKPIPE_TIMEZONE",
         "zone of times without an offset: UTC, -04:00 or America/New_York", NULL},
        {"rate", 'r', OPT_DOUBLE, &settings.rate, "N", NULL, NULL,
         "send N messages per second (default: flat out)", NULL},
        {"replay-speed", 0, OPT_DOUBLE, &settings.replay_speed, "X", NULL, NULL,
         "replay the real gaps between event times divided by X (1 = real time)", NULL},
        {"loop", 0, OPT_FLAG, &settings.loop, NULL, NULL, NULL,
         "start over at the end of the file (until --limit or Ctrl-C)", NULL},
        {"sample", 0, OPT_FLAG, &settings.sample, NULL, NULL, NULL,
         "send uniformly random rows forever, as the original tutorial does", NULL},
        {"limit", 'n', OPT_INT, &settings.limit, "N", NULL, NULL, "stop after N messages", NULL},
        {"errors", 'e', OPT_STRING, &settings.errors_path, "FILE", NULL, NULL,
         "write every bad row as a JSON line here (default: the first ones to stderr)", NULL},
        {"delimiter", 'd', OPT_STRING, &settings.delimiter, "CHAR", ",", NULL, "field delimiter",
         NULL},
        {"learn-rows", 0, OPT_INT, &settings.learn_rows, "N", "1000", NULL,
         "rows read ahead to learn which columns are numeric", NULL},
        {"dry-run", 0, OPT_FLAG, &settings.dry_run, NULL, NULL, NULL,
         "print key<TAB>json lines on stdout instead of sending (kcat -P -K'\\t' input)", NULL},
        CMD_KAFKA_OPTION_SPECS(&settings.kafka),
        {0},
    };
    const struct opt_command command = {
        "produce", "--csv FILE|- --topic TOPIC [options]",
        "Replay a CSV file (or stdin) into a Kafka topic: one JSON tick per row, keyed by symbol,\n"
        "stamped with the event time.",
        "Each row becomes a JSON object: columns normalised to snake_case (Adj Close -> "
        "adj_close),\n"
        "numbers as JSON numbers, empty/null/NA/NaN cells as null, the event time as ISO-8601 UTC\n"
        "with milliseconds. Bad rows are reported with their line number and skipped.\n"
        "Exit status: 0 when every row read was delivered or rejected as bad, 1 when a message\n"
        "failed delivery or Kafka was unreachable, 2 for usage errors.",
        options};
    int npositional, exit_code;
    if (cmd_parse(&command, argc, argv, &npositional, &exit_code) < 0) {
        cmd_kafka_options_free(&settings.kafka);
        return exit_code;
    }
    int checked = cmd_kafka_check(&settings.kafka);
    exit_code = checked == 1 ? CMD_EXIT_OK
                : checked    ? checked
                             : produce_check_settings(&settings, npositional);
    if (checked || exit_code) {
        cmd_kafka_options_free(&settings.kafka);
        return exit_code;
    }
    tp_err err;
    tp_err_clear(&err);
    cmd_install_stop_handlers();
    struct produce_run run = {.settings = &settings, .fd = -1};
    exit_code = CMD_EXIT_FAILURE;
    if (produce_open_input(&run, &err) < 0 || produce_learn_schema(&run, &err) < 0 ||
        (settings.sample && produce_index_rows(&run, &err) < 0)) {
        if (err.code == TP_ERR_USAGE)
            exit_code = CMD_EXIT_USAGE;
        goto done;
    }
    if (settings.errors_path && !(run.errors = fopen(settings.errors_path, "w"))) {
        tp_err_set(&err, TP_ERR_IO, "cannot write --errors %s: %s", settings.errors_path,
                   strerror(errno));
        goto done;
    }
    if (settings.dry_run) {
        static char stdout_buffer[1 << 16];
        setvbuf(stdout, stdout_buffer, _IOFBF, sizeof stdout_buffer);
        int stream_rc = produce_stream(&run, &err);
        if (fflush(stdout) != 0 && stream_rc == 0)
            stream_rc = tp_err_set(&err, TP_ERR_IO, "writing to stdout: %s", strerror(errno));
        log_notice("read %lld rows, printed %lld, rejected %lld (dry run: nothing sent)",
                   run.rows_read, run.rows_read - run.rejected, run.rejected);
        exit_code = stream_rc < 0 ? CMD_EXIT_FAILURE : CMD_EXIT_OK;
        if (stream_rc == 0)
            err.msg[0] = '\0';
        goto done;
    }
    struct kafka_producer_options producer_options = {
        settings.kafka.brokers, settings.topic, settings.kafka.properties.items,
        settings.kafka.properties.count, settings.kafka.timeout_ms};
    run.producer = kafka_producer_new(&producer_options, &err);
    if (!run.producer) {
        if (err.code == TP_ERR_USAGE)
            exit_code = CMD_EXIT_USAGE;
        goto done;
    }
    int stream_rc = produce_stream(&run, &err);
    if (stream_rc < 0)
        log_error("%s", err.msg);
    tp_err flush_err;
    int flush_rc = kafka_producer_flush(run.producer, settings.kafka.timeout_ms, &flush_err);
    log_progress_end();
    struct kafka_producer_stats stats;
    kafka_producer_get_stats(run.producer, &stats);
    double seconds = (clock_monotonic_ns() - run.start_ns) / 1e9;
    log_notice("read %lld rows, sent %lld, failed %lld, rejected %lld in %.2f s (%.0f msg/s)%s",
               run.rows_read, stats.delivered,
               stats.failed + (stats.queued - stats.delivered - stats.failed), run.rejected,
               seconds, seconds > 0 ? stats.delivered / seconds : 0.0,
               cmd_stop_requested ? ", interrupted" : "");
    if (run.rejected && settings.errors_path)
        log_notice("bad rows written to %s", settings.errors_path);
    if (stats.failed)
        log_error("%s", stats.first_error);
    if (flush_rc < 0)
        log_error("%s", flush_err.msg);
    exit_code = (stream_rc < 0 || flush_rc < 0 || stats.failed) ? CMD_EXIT_FAILURE : CMD_EXIT_OK;
    err.msg[0] = '\0';
done:
    if (err.msg[0])
        log_error("%s", err.msg);
    produce_run_free(&run);
    cmd_kafka_options_free(&settings.kafka);
    return exit_code;
}
