/*
 * crawl: the lake -> the catalog, as an AWS Glue crawler does it, in
 * seconds and offline: picks the store from the location (a directory or
 * s3://bucket/prefix) and the catalog (local JSON documents in the lake,
 * or AWS Glue: the default for S3 lakes), runs lib/crawl once or every
 * --interval, and prints a summary. --show prints the cataloged tables as
 * Athena DDL instead.
 */
#include "cmd/cmd.h"

#include "aws/catalog_glue.h"
#include "aws/glue.h"
#include "cmd/aws_options.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "lib/athena_ddl.h"
#include "lib/buf.h"
#include "lib/catalog.h"
#include "lib/clock.h"
#include "lib/crawl.h"
#include "lib/log.h"
#include "lib/store.h"

/* crawl sweeps its catalog folder of temporary files this old (as consume
 * does by default: a live writer keeps its file fresh) */
#define CRAWL_SWEEP_AGE_MS (10 * 60 * 1000)

struct crawl_settings {
    const char *lake;
    const char *bucket;
    const char *database;
    const char *catalog;
    const char *on_schema_change;
    long long sample_bytes;
    long long interval_ms;
    int infer_timestamps;
    int show;
    struct cmd_aws_options aws;
};

/* What a crawl works on: the lake's store and the catalog it writes. */
struct crawl_target {
    struct cmd_lake lake;
    struct cmd_aws aws; /* for Glue when the lake is local */
    glue_client *glue;
    catalog *catalog;
    char *location; /* table locations' prefix: file:///abs/ or s3://bucket/prefix/ */
};

/* Prints the DDL of the named tables, or of every table. */
static int crawl_show(catalog *target, const char *database, char **names, int count, tp_err *err)
{
    cJSON *tables = NULL;
    if (count == 0) {
        if (target->ops->list_tables(target, database, &tables, err) < 0)
            return -1;
    } else {
        tables = cJSON_CreateArray();
        for (int i = 0; i < count; i++) {
            cJSON *table = NULL;
            if (target->ops->get_table(target, database, names[i], &table, err) < 0) {
                cJSON_Delete(tables);
                return -1;
            }
            if (!table) {
                cJSON_Delete(tables);
                return tp_err_set(err, TP_ERR_NOT_FOUND,
                                  "no table %s in database %s (run 'tickpipe crawl' first?)",
                                  names[i], database);
            }
            cJSON_AddItemToArray(tables, table);
        }
    }
    if (cJSON_GetArraySize(tables) == 0)
        log_notice("database %s has no tables yet (run 'tickpipe crawl' first)", database);
    int rc = 0;
    const cJSON *table;
    buf out = BUF_INIT;
    cJSON_ArrayForEach(table, tables)
    {
        if (out.len)
            buf_append_char(&out, '\n');
        if (athena_ddl_create_table(table, database, &out, err) < 0) {
            rc = -1;
            break;
        }
        const cJSON *keys = cJSON_GetObjectItemCaseSensitive(table, "PartitionKeys");
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(table, "Name");
        if (cJSON_GetArraySize(keys) > 0 && cJSON_IsString(name))
            buf_printf(&out, "-- then load its partitions: MSCK REPAIR TABLE `%s`.`%s`;\n",
                       database, name->valuestring);
    }
    if (rc == 0)
        fwrite(out.data ? out.data : "", 1, out.len, stdout);
    buf_free(&out);
    cJSON_Delete(tables);
    return rc;
}

static void crawl_log_summary(const struct crawl_stats *stats, double seconds)
{
    log_notice("%lld table%s, %lld objects: %lld sampled, %lld unchanged, %lld bad, %lld skipped; "
               "%lld bad records; ~%lld records; %lld table%s created, %lld updated; "
               "%lld partition%s added, %lld updated in %.2f s",
               stats->tables, stats->tables == 1 ? "" : "s", stats->objects, stats->sampled,
               stats->unchanged, stats->bad_objects, stats->skipped, stats->bad_records,
               stats->records, stats->tables_created, stats->tables_created == 1 ? "" : "s",
               stats->tables_updated, stats->partitions_added,
               stats->partitions_added == 1 ? "" : "s", stats->partitions_updated, seconds);
}

/* One crawl; returns the exit status it deserves. */
static int crawl_once(store *lake, catalog *target, const struct crawl_options *options)
{
    int64_t start = clock_monotonic_ns();
    struct crawl_stats stats;
    tp_err err;
    tp_err_clear(&err);
    if (crawl_run(lake, target, options, &stats, &err) < 0) {
        log_error("%s", err.msg);
        return CMD_EXIT_FAILURE;
    }
    crawl_log_summary(&stats, (clock_monotonic_ns() - start) / 1e9);
    if (stats.objects == 0) {
        log_error("no data objects in %s (tables are its top-level folders)", lake->location);
        return CMD_EXIT_FAILURE;
    }
    if (stats.readable == 0) {
        log_error("none of the %lld objects in %s could be read", stats.objects, lake->location);
        return CMD_EXIT_FAILURE;
    }
    return CMD_EXIT_OK;
}

/* Sleeps until deadline or a stop signal. */
static void crawl_sleep_until(int64_t deadline_ns)
{
    while (!cmd_stop_requested) {
        int64_t left = deadline_ns - clock_monotonic_ns();
        if (left <= 0)
            return;
        struct timespec nap = {(time_t)(left / 1000000000), (long)(left % 1000000000)};
        nanosleep(&nap, NULL); /* a stop signal interrupts it */
    }
}

static int crawl_check_settings(struct crawl_settings *settings, int npositional)
{
    if (npositional > 0 && !settings->show)
        return cmd_usage_error("unexpected argument (table names go with --show)");
    if (settings->bucket && strncmp(settings->bucket, "s3://", 5) != 0)
        return cmd_usage_error("--bucket takes s3://bucket/prefix, got '%s'", settings->bucket);
    if (!settings->bucket && settings->lake && strncmp(settings->lake, "s3://", 5) == 0)
        settings->bucket = settings->lake;
    if (settings->sample_bytes < 1024)
        return cmd_usage_error("--sample-bytes must be at least 1KiB");
    if (settings->interval_ms < 0 || (settings->interval_ms > 0 && settings->interval_ms < 1000))
        return cmd_usage_error("--interval must be at least 1s");
    if (!settings->database || !*settings->database || strchr(settings->database, '/'))
        return cmd_usage_error("--database needs a name without '/'");
    return 0;
}

/* Opens the lake (directory or S3) and the catalog (local, or Glue). */
static int crawl_open_target(const struct crawl_settings *settings, struct crawl_target *target,
                             tp_err *err)
{
    buf location = BUF_INIT;
    if (settings->bucket) {
        buf_append_str(&location, settings->bucket);
        if (location.data[location.len - 1] != '/')
            buf_append_char(&location, '/');
    } else {
        struct stat st;
        char absolute[PATH_MAX];
        errno = 0;
        if (stat(settings->lake, &st) < 0 || !S_ISDIR(st.st_mode) ||
            !realpath(settings->lake, absolute)) {
            tp_err_set(err, TP_ERR_IO, "lake %s: %s", settings->lake,
                       errno == ENOENT || !errno ? "no such directory" : strerror(errno));
            return -1;
        }
        buf_printf(&location, "file://%s%s", absolute, strcmp(absolute, "/") == 0 ? "" : "/");
    }
    target->location = buf_detach(&location);
    if (cmd_lake_open(settings->lake, settings->bucket, &settings->aws, &target->lake, err) < 0)
        return -1;
    int glue = settings->catalog ? strcmp(settings->catalog, "glue") == 0 : target->lake.on_s3;
    if (!glue) {
        target->catalog = catalog_local_open(target->lake.store, err);
        if (target->catalog && !target->lake.on_s3) {
            /* what a crawl killed mid-write left in the catalog (as consume
             * does for its folders): files of dead writers, 10 min old */
            tp_err ignored;
            if (store_dir_sweep_temporaries(target->lake.store, "_catalog", CRAWL_SWEEP_AGE_MS,
                                            NULL, &ignored) < 0)
                log_warn("%s (crawling anyway)", ignored.msg);
        }
        return target->catalog ? 0 : -1;
    }
    struct cmd_aws *aws = &target->lake.aws;
    if (!target->lake.on_s3) {
        if (cmd_aws_open(&settings->aws, &target->aws, err) < 0)
            return -1;
        aws = &target->aws;
    }
    if (!(target->glue = glue_client_new(aws->http, aws->creds, err)))
        return -1;
    target->catalog = catalog_glue_open(target->glue, err);
    return target->catalog ? 0 : -1;
}

static void crawl_close_target(struct crawl_target *target)
{
    catalog_free(target->catalog);
    glue_client_free(target->glue);
    if (target->aws.http)
        cmd_aws_close(&target->aws);
    cmd_lake_close(&target->lake);
    free(target->location);
}

int cmd_crawl(int argc, char **argv)
{
    struct crawl_settings settings = {0};
    const struct opt_spec options[] = {
        {"lake", 'l', OPT_STRING, &settings.lake, "DIR", "./lake", "TICKPIPE_LAKE",
         "the lake to crawl: a directory (or s3://bucket/prefix)", NULL},
        {"bucket", 0, OPT_STRING, &settings.bucket, "s3://BUCKET/PREFIX", NULL, "TICKPIPE_BUCKET",
         "crawl a lake on S3 instead of --lake", NULL},
        {"database", 'd', OPT_STRING, &settings.database, "NAME", "tickpipe", "TICKPIPE_DATABASE",
         "catalog database the tables go to (created when missing)", NULL},
        {"catalog", 0, OPT_CHOICE, &settings.catalog, "KIND", NULL, NULL,
         "local: JSON documents in <lake>/_catalog/; glue: AWS Glue (default for s3:// lakes)",
         "local|glue"},
        {"sample-bytes", 0, OPT_SIZE, &settings.sample_bytes, "N", "1MiB", NULL,
         "bytes of each object (after gunzip) read to infer its schema, as Glue's 1 MB", NULL},
        {"infer-timestamps", 0, OPT_FLAG, &settings.infer_timestamps, NULL, NULL, NULL,
         "type ISO-8601 strings as timestamp (Glue keeps them string)", NULL},
        {"interval", 0, OPT_DURATION, &settings.interval_ms, "DURATION", NULL, NULL,
         "crawl again every DURATION (e.g. 60s) until Ctrl-C, as a scheduled crawler", NULL},
        {"on-schema-change", 0, OPT_CHOICE, &settings.on_schema_change, "ACTION", "update", NULL,
         "update the table (Glue's UPDATE_IN_DATABASE) or only log the change (LOG)", "update|log"},
        {"show", 0, OPT_FLAG, &settings.show, NULL, NULL, NULL,
         "print the cataloged tables (or the TABLEs named) as Athena DDL; no crawl", NULL},
        CMD_AWS_OPTION_SPECS(&settings.aws),
        {0},
    };
    const struct opt_command command = {
        "crawl", "[--lake DIR | --bucket s3://bucket/prefix] [options] | --show [TABLE...]",
        "Infer tables, schemas and partitions from the lake into a Glue-shaped catalog, as an\n"
        "AWS Glue crawler does.",
        "Each top-level folder is a table (_-prefixed folders such as _catalog and _errors are\n"
        "skipped); key=value folders become partition keys. Each new or changed object is sampled\n"
        "(gzip read transparently); a re-crawl reads only what changed since the last one.\n"
        "Bad objects (truncated gzip, non-JSON lines, empty, unreadable) are reported with their\n"
        "key and reason, counted and skipped.\n"
        "Exit status: 0 when the crawl finished, 1 when nothing could be read or the catalog\n"
        "could not be written, 2 for usage errors.",
        options};
    int npositional, exit_code;
    if (cmd_parse(&command, argc, argv, &npositional, &exit_code) < 0)
        return exit_code;
    exit_code = crawl_check_settings(&settings, npositional);
    if (exit_code)
        return exit_code;
    tp_err err;
    tp_err_clear(&err);
    struct crawl_target target = {0};
    exit_code = CMD_EXIT_FAILURE;
    if (crawl_open_target(&settings, &target, &err) < 0) {
        if (err.code == TP_ERR_USAGE)
            exit_code = CMD_EXIT_USAGE;
        goto done;
    }
    if (settings.show) {
        exit_code = crawl_show(target.catalog, settings.database, argv + 1, npositional, &err) < 0
                        ? CMD_EXIT_FAILURE
                        : CMD_EXIT_OK;
        goto done;
    }
    struct crawl_options crawl_options = {
        .database = settings.database,
        .location = target.location,
        .sample_bytes = settings.sample_bytes,
        .infer_timestamps = settings.infer_timestamps,
        .log_schema_changes = strcmp(settings.on_schema_change, "log") == 0,
        .crawler_name = "tickpipe",
    };
    cmd_install_stop_handlers();
    for (;;) {
        int64_t started = clock_monotonic_ns();
        exit_code = crawl_once(target.lake.store, target.catalog, &crawl_options);
        if (settings.interval_ms <= 0 || cmd_stop_requested)
            break;
        crawl_sleep_until(started + settings.interval_ms * 1000000);
        if (cmd_stop_requested) {
            exit_code = CMD_EXIT_OK;
            break;
        }
    }
done:
    if (err.msg[0])
        log_error("%s", err.msg);
    crawl_close_target(&target);
    return exit_code;
}
