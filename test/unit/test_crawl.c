/* Unit tests for lib/crawl (tables, partitions, incremental state, bad
 * objects, schema changes) and lib/athena_ddl, on a directory lake. */
#include "test/unit/check.h"

#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "lib/athena_ddl.h"
#include "lib/buf.h"
#include "lib/catalog.h"
#include "lib/crawl.h"
#include "lib/log.h"

static char root[128];
static store *lake;
static catalog *target;

/* A store whose reads fail for keys containing "unreadable" (root can
 * read any file, so permissions cannot make one unreadable). */
struct failing_store {
    store base;
    store *inner;
};
static struct store_ops failing_ops;

static int failing_read(store *s, const char *key, long long offset, long long length,
                        store_read_fn fn, void *context, tp_err *err)
{
    store *inner = ((struct failing_store *)s)->inner;
    if (strstr(key, "unreadable"))
        return tp_err_set(err, TP_ERR_IO, "read %s/%s: Permission denied", s->location, key);
    return inner->ops->read(inner, key, offset, length, fn, context, err);
}

static int failing_list(store *s, const char *prefix, store_list_fn fn, void *context, tp_err *err)
{
    store *inner = ((struct failing_store *)s)->inner;
    return inner->ops->list(inner, prefix, fn, context, err);
}

static store_writer *failing_writer_open(store *s, const char *key, enum store_put_mode mode,
                                         tp_err *err)
{
    store *inner = ((struct failing_store *)s)->inner;
    return inner->ops->writer_open(inner, key, mode, err);
}

static void failing_free(store *s)
{
    struct failing_store *f = (struct failing_store *)s;
    store_free(f->inner);
    free(f);
}

static void lake_open(void)
{
    snprintf(root, sizeof root, "/tmp/tickpipe-crawl-test-%d", (int)getpid());
    char command[200];
    snprintf(command, sizeof command, "rm -rf %s", root);
    if (system(command) != 0)
        abort();
    tp_err err;
    struct failing_store *f = calloc(1, sizeof *f);
    f->inner = store_dir_open(root, &err);
    failing_ops = *f->inner->ops;
    failing_ops.read = failing_read;
    failing_ops.list = failing_list;
    failing_ops.writer_open = failing_writer_open;
    failing_ops.free = failing_free;
    f->base.ops = &failing_ops;
    f->base.location = f->inner->location;
    lake = &f->base;
    target = catalog_local_open(lake, &err);
}

static void lake_close(void)
{
    catalog_free(target);
    store_free(lake);
    char command[200];
    snprintf(command, sizeof command, "rm -rf %s", root);
    CHECK(system(command) == 0);
}

static void put_text(const char *key, const char *text)
{
    tp_err err;
    if (store_put(lake, key, text, strlen(text), STORE_PUT_REPLACE, &err) < 0)
        abort();
}

static void put_gzip(const char *key, const char *text)
{
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    size_t capacity = strlen(text) + 256;
    unsigned char *out = malloc(capacity);
    z.next_in = (unsigned char *)text;
    z.avail_in = (uInt)strlen(text);
    z.next_out = out;
    z.avail_out = (uInt)capacity;
    deflate(&z, Z_FINISH);
    tp_err err;
    if (store_put(lake, key, out, z.total_out, STORE_PUT_REPLACE, &err) < 0)
        abort();
    deflateEnd(&z);
    free(out);
}

static int crawl_at(struct crawl_stats *stats, int log_changes, const char *location)
{
    struct crawl_options options = {
        .database = "db", .location = location, .log_schema_changes = log_changes};
    tp_err err;
    int rc = crawl_run(lake, target, &options, stats, &err);
    if (rc < 0)
        fprintf(stderr, "crawl: %s\n", err.msg);
    return rc;
}

static int crawl(struct crawl_stats *stats, int log_changes)
{
    return crawl_at(stats, log_changes, "s3://bucket/lake/");
}

static cJSON *table_named(const char *name)
{
    cJSON *table = NULL;
    tp_err err;
    target->ops->get_table(target, "db", name, &table, &err);
    return table;
}

static const char *path_string(const cJSON *json, const char *a, const char *b, const char *c)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(json, a);
    if (b)
        item = cJSON_GetObjectItemCaseSensitive(item, b);
    if (c)
        item = cJSON_GetObjectItemCaseSensitive(item, c);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* "name:type,..." of a table's columns. */
static char *columns_of(const cJSON *table)
{
    buf out = BUF_INIT;
    const cJSON *column;
    cJSON_ArrayForEach(column,
                       cJSON_GetObjectItemCaseSensitive(
                           cJSON_GetObjectItemCaseSensitive(table, "StorageDescriptor"), "Columns"))
        buf_printf(&out, "%s%s:%s", out.len ? "," : "",
                   cJSON_GetObjectItemCaseSensitive(column, "Name")->valuestring,
                   cJSON_GetObjectItemCaseSensitive(column, "Type")->valuestring);
    return buf_detach(&out);
}

static int partition_count(const char *name)
{
    cJSON *partitions = NULL;
    tp_err err;
    target->ops->get_partitions(target, "db", name, &partitions, &err);
    int n = cJSON_GetArraySize(partitions);
    cJSON_Delete(partitions);
    return n;
}

static void test_full_then_incremental(void)
{
    lake_open();
    put_gzip("ticks/dt=2024-01-01/ticks+0+1.jsonl.gz", "{\"symbol\":\"A\",\"price\":1}\n");
    put_gzip("ticks/dt=2024-01-01/ticks+1+1.jsonl.gz",
             "{\"symbol\":\"B\",\"price\":2}\n{\"symbol\":\"C\",\"price\":3}\n");
    put_gzip("ticks/dt=2024-01-02/ticks+0+2.jsonl.gz", "{\"symbol\":\"A\",\"price\":4}\n");
    put_text("_errors/ticks/dt=2024-01-01/x.jsonl", "{\"raw\":\"bad\"}\n");
    put_text("ticks/dt=2024-01-01/_SUCCESS", "");
    struct crawl_stats stats;
    CHECK(crawl(&stats, 0) == 0);
    CHECK_INT(stats.tables, 1);
    CHECK_INT(stats.objects, 3);
    CHECK_INT(stats.sampled, 3);
    CHECK_INT(stats.records, 4);
    CHECK_INT(stats.tables_created, 1);
    CHECK_INT(stats.partitions_added, 2);
    cJSON *table = table_named("ticks");
    char *columns = columns_of(table);
    CHECK_STR(columns, "symbol:string,price:bigint");
    free(columns);
    CHECK_STR(path_string(table, "StorageDescriptor", "Location", NULL), "s3://bucket/lake/ticks/");
    CHECK_STR(path_string(table, "Parameters", "recordCount", NULL), "4");
    CHECK_STR(path_string(table, "Parameters", "objectCount", NULL), "3");
    CHECK_STR(path_string(table, "Parameters", "compressionType", NULL), "gzip");
    CHECK_STR(path_string(table, "StorageDescriptor", "SerdeInfo", "SerializationLibrary"),
              "org.openx.data.jsonserde.JsonSerDe");
    CHECK_STR(path_string(cJSON_GetArrayItem(cJSON_GetObjectItem(table, "PartitionKeys"), 0),
                          "Name", NULL, NULL),
              "dt");
    cJSON_Delete(table);
    CHECK(table_named("_errors") == NULL);

    /* nothing new: nothing read, nothing written */
    CHECK(crawl(&stats, 0) == 0);
    CHECK_INT(stats.sampled, 0);
    CHECK_INT(stats.unchanged, 3);
    CHECK_INT(stats.tables_updated, 0);
    CHECK_INT(stats.records, 4);

    /* a new partition and a changed object: only those two are read */
    put_gzip("ticks/dt=2024-01-03/ticks+0+3.jsonl.gz",
             "{\"symbol\":\"A\",\"price\":5.5,\"volume\":10}\n");
    put_gzip("ticks/dt=2024-01-01/ticks+0+1.jsonl.gz",
             "{\"symbol\":\"A\",\"price\":1}\n{\"symbol\":\"A\",\"price\":1}\n");
    CHECK(crawl(&stats, 0) == 0);
    CHECK_INT(stats.sampled, 2);
    CHECK_INT(stats.unchanged, 2);
    CHECK_INT(stats.partitions_added, 1);
    CHECK_INT(stats.tables_updated, 1);
    CHECK_INT(stats.records, 6);
    CHECK_INT(partition_count("ticks"), 3);
    table = table_named("ticks");
    columns = columns_of(table);
    CHECK_STR(columns, "symbol:string,price:double,volume:bigint");
    free(columns);
    cJSON_Delete(table);
    lake_close();
}

static void test_bad_objects(void)
{
    lake_open();
    put_gzip("t/a.jsonl.gz", "{\"a\":1}\nnot json\n{\"a\":2}\n");
    put_text("t/empty.jsonl.gz", "");
    put_text("t/notgzip.jsonl.gz", "{\"a\":1}\n");
    put_text("t/unreadable.jsonl", "{\"a\":1}\n");
    put_text("t/garbage.jsonl", "hello\nworld\n");
    /* a gzip object cut short */
    put_gzip("u/whole.jsonl.gz", "{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n");
    buf cut = BUF_INIT;
    char *data;
    size_t length;
    tp_err err;
    CHECK(store_get(lake, "u/whole.jsonl.gz", 0, &data, &length, &err) == 0);
    buf_append(&cut, data, length - 6);
    free(data);
    CHECK(store_put(lake, "t/truncated.jsonl.gz", cut.data, cut.len, STORE_PUT_REPLACE, &err) == 0);
    buf_free(&cut);
    struct crawl_stats stats;
    CHECK(crawl(&stats, 0) == 0);
    CHECK_INT(stats.objects, 7);
    CHECK_INT(stats.sampled, 7);
    CHECK_INT(stats.bad_objects, 5); /* empty, not gzip, unreadable, truncated, no JSON */
    CHECK_INT(stats.bad_records, 3); /* not json, hello, world */
    CHECK_INT(stats.readable, 2);
    CHECK_INT(stats.records, 5);
    /* remembered: counted again, not read again */
    CHECK(crawl(&stats, 0) == 0);
    CHECK_INT(stats.sampled, 0);
    CHECK_INT(stats.bad_objects, 5);
    lake_close();
}

static void test_schema_change_log_then_update(void)
{
    lake_open();
    put_text("t/1.json", "{\"price\":1}\n");
    struct crawl_stats stats;
    CHECK(crawl(&stats, 1) == 0);
    CHECK_INT(stats.tables_created, 1);
    put_text("t/2.json", "{\"price\":1.5,\"Adj Close\":2}\n");
    CHECK(crawl(&stats, 1) == 0);
    CHECK_INT(stats.schema_changes_logged, 1);
    CHECK_INT(stats.tables_updated, 0);
    cJSON *table = table_named("t");
    char *columns = columns_of(table);
    CHECK_STR(columns, "price:bigint");
    free(columns);
    cJSON_Delete(table);
    /* still logged on the next run (nothing re-read), applied with update */
    CHECK(crawl(&stats, 1) == 0);
    CHECK_INT(stats.schema_changes_logged, 1);
    CHECK(crawl(&stats, 0) == 0);
    CHECK_INT(stats.tables_updated, 1);
    table = table_named("t");
    columns = columns_of(table);
    CHECK_STR(columns, "price:double,adj_close:bigint");
    free(columns);
    const cJSON *serde =
        cJSON_GetObjectItem(cJSON_GetObjectItem(table, "StorageDescriptor"), "SerdeInfo");
    CHECK_STR(path_string(serde, "Parameters", "mapping.adj_close", NULL), "Adj Close");
    CHECK_STR(path_string(serde, "Parameters", "case.insensitive", NULL), "FALSE");
    CHECK_STR(path_string(serde, "Parameters", "paths", NULL), "Adj Close,price");
    CHECK_STR(path_string(table, "Parameters", "compressionType", NULL), "none");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(table, "PartitionKeys")), 0);
    cJSON_Delete(table);
    lake_close();
}

static char *partitions_document(void)
{
    char *text = NULL;
    size_t length = 0;
    tp_err err;
    if (store_get(lake, "_catalog/db/partitions/ticks.json", 0, &text, &length, &err) < 0)
        return NULL;
    return text;
}

/* "value=columns@location;..." of the partitions of ticks. */
static char *partitions_of_ticks(void)
{
    cJSON *partitions = NULL;
    tp_err err;
    target->ops->get_partitions(target, "db", "ticks", &partitions, &err);
    buf out = BUF_INIT;
    const cJSON *partition;
    cJSON_ArrayForEach(partition, partitions)
    {
        char *columns = columns_of(partition);
        buf_printf(&out, "%s%s=%s@%s", out.len ? ";" : "",
                   cJSON_GetArrayItem(cJSON_GetObjectItem(partition, "Values"), 0)->valuestring,
                   columns, path_string(partition, "StorageDescriptor", "Location", NULL));
        free(columns);
    }
    cJSON_Delete(partitions);
    return buf_detach(&out);
}

/* Existing partitions follow the table: a new location (moved lake), a
 * widened column; an unchanged re-crawl writes nothing; --on-schema-change
 * log leaves them alone. */
static void test_partitions_follow_the_table(void)
{
    lake_open();
    put_gzip("ticks/dt=1/a.jsonl.gz", "{\"price\":1}\n");
    put_gzip("ticks/dt=2/b.jsonl.gz", "{\"price\":2}\n");
    struct crawl_stats stats;
    CHECK(crawl(&stats, 0) == 0);
    CHECK_INT(stats.partitions_added, 2);
    CHECK_INT(stats.partitions_updated, 0);
    char *before = partitions_document();
    CHECK(crawl(&stats, 0) == 0);
    CHECK_INT(stats.partitions_updated, 0);
    char *after = partitions_document();
    CHECK(before && after && strcmp(before, after) == 0);
    free(before);
    free(after);

    /* the lake is somewhere else now: table and partitions point there */
    CHECK(crawl_at(&stats, 0, "s3://other/moved/") == 0);
    CHECK_INT(stats.tables_updated, 1);
    CHECK_INT(stats.partitions_updated, 2);
    char *partitions = partitions_of_ticks();
    CHECK_STR(partitions, "1=price:bigint@s3://other/moved/ticks/dt=1/;"
                          "2=price:bigint@s3://other/moved/ticks/dt=2/");
    free(partitions);
    CHECK(crawl_at(&stats, 0, "s3://other/moved/") == 0);
    CHECK_INT(stats.partitions_updated, 0);

    /* a widened column reaches the existing partitions, the new one has it */
    put_gzip("ticks/dt=3/c.jsonl.gz", "{\"price\":2.5}\n");
    CHECK(crawl_at(&stats, 0, "s3://other/moved/") == 0);
    CHECK_INT(stats.partitions_added, 1);
    CHECK_INT(stats.partitions_updated, 2);
    partitions = partitions_of_ticks();
    CHECK_STR(partitions, "1=price:double@s3://other/moved/ticks/dt=1/;"
                          "2=price:double@s3://other/moved/ticks/dt=2/;"
                          "3=price:double@s3://other/moved/ticks/dt=3/");
    free(partitions);

    /* --on-schema-change log: table and partitions keep double */
    put_gzip("ticks/dt=3/d.jsonl.gz", "{\"price\":\"n/a\",\"volume\":3}\n");
    CHECK(crawl_at(&stats, 1, "s3://other/moved/") == 0);
    CHECK_INT(stats.schema_changes_logged, 1);
    CHECK_INT(stats.partition_changes_logged, 3);
    CHECK_INT(stats.partitions_updated, 0);
    partitions = partitions_of_ticks();
    CHECK_STR(partitions, "1=price:double@s3://other/moved/ticks/dt=1/;"
                          "2=price:double@s3://other/moved/ticks/dt=2/;"
                          "3=price:double@s3://other/moved/ticks/dt=3/");
    free(partitions);
    /* ... and update applies it to all of them */
    CHECK(crawl_at(&stats, 0, "s3://other/moved/") == 0);
    CHECK_INT(stats.partitions_updated, 3);
    CHECK_INT(stats.partition_changes_logged, 0);
    partitions = partitions_of_ticks();
    CHECK_STR(partitions, "1=price:string,volume:bigint@s3://other/moved/ticks/dt=1/;"
                          "2=price:string,volume:bigint@s3://other/moved/ticks/dt=2/;"
                          "3=price:string,volume:bigint@s3://other/moved/ticks/dt=3/");
    free(partitions);
    cJSON *dt3 = NULL;
    tp_err err;
    CHECK(target->ops->get_partitions(target, "db", "ticks", &dt3, &err) == 0);
    CHECK_STR(path_string(cJSON_GetArrayItem(dt3, 2), "Parameters", "objectCount", NULL), "2");
    cJSON_Delete(dt3);
    lake_close();
}

static void test_csv_tables_and_layouts(void)
{
    lake_open();
    put_gzip("plain/year=2013/month=10/a.csv.gz", "symbol,price,volume\nSPY,168.5,100\n");
    put_gzip("plain/year=2013/month=11/b.csv.gz", "symbol,price,volume\nSPY,169,\n");
    put_text("plain/year=2013/c.csv", "symbol,price,volume\nSPY,1,2\n"); /* wrong depth */
    put_text("quoted/2024/01/a.csv", "\"name\",\"n\"\n\"a, b\",1\n");
    put_text("quoted/2024/01/b.json", "{\"name\":\"x\"}\n"); /* other format */
    struct crawl_stats stats;
    CHECK(crawl(&stats, 0) == 0);
    CHECK_INT(stats.tables, 2);
    CHECK_INT(stats.skipped, 1);
    CHECK_INT(stats.bad_objects, 1);
    cJSON *table = table_named("plain");
    char *columns = columns_of(table);
    CHECK_STR(columns, "symbol:string,price:double,volume:bigint");
    free(columns);
    CHECK_STR(path_string(table, "StorageDescriptor", "SerdeInfo", "SerializationLibrary"),
              "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe");
    CHECK_STR(path_string(table, "Parameters", "skip.header.line.count", NULL), "1");
    CHECK_STR(path_string(table, "Parameters", "classification", NULL), "csv");
    CHECK_INT(cJSON_GetArraySize(cJSON_GetObjectItem(table, "PartitionKeys")), 2);
    cJSON_Delete(table);
    CHECK_INT(partition_count("plain"), 2);
    table = table_named("quoted");
    CHECK_STR(path_string(table, "StorageDescriptor", "SerdeInfo", "SerializationLibrary"),
              "org.apache.hadoop.hive.serde2.OpenCSVSerde");
    CHECK_STR(path_string(cJSON_GetArrayItem(cJSON_GetObjectItem(table, "PartitionKeys"), 1),
                          "Name", NULL, NULL),
              "partition_1");
    buf ddl = BUF_INIT;
    tp_err err;
    CHECK(athena_ddl_create_table(table, "db", &ddl, &err) == 0);
    CHECK(strstr(ddl.data,
                 "CREATE EXTERNAL TABLE `db`.`quoted`(\n  `name` string, \n  `n` bigint)") != NULL);
    CHECK(strstr(ddl.data,
                 "PARTITIONED BY ( \n  `partition_0` string, \n  `partition_1` string)") != NULL);
    CHECK(strstr(ddl.data, "'quoteChar'='\"'") != NULL);
    CHECK(strstr(ddl.data, "LOCATION\n  's3://bucket/lake/quoted/'") != NULL);
    CHECK(strstr(ddl.data, "'skip.header.line.count'='1');\n") != NULL);
    buf_free(&ddl);
    cJSON_Delete(table);
    lake_close();
}

static void test_ddl_quoting(void)
{
    cJSON *table = cJSON_Parse("{\"Name\":\"we`ird\",\"StorageDescriptor\":{\"Columns\":"
                               "[{\"Name\":\"a\",\"Type\":\"string\"}]},"
                               "\"Parameters\":{\"k\":\"it's \\\\ here\"}}");
    buf ddl = BUF_INIT;
    tp_err err;
    CHECK(athena_ddl_create_table(table, NULL, &ddl, &err) == 0);
    CHECK_STR(ddl.data, "CREATE EXTERNAL TABLE `we``ird`(\n  `a` string)\n"
                        "TBLPROPERTIES (\n  'k'='it\\'s \\\\ here');\n");
    buf_free(&ddl);
    cJSON_Delete(table);
    cJSON *nameless = cJSON_Parse("{}");
    CHECK(athena_ddl_create_table(nameless, NULL, &ddl, &err) < 0);
    cJSON_Delete(nameless);
}

int main(void)
{
    log_set_level(LOG_ERROR);
    RUN(test_full_then_incremental);
    RUN(test_bad_objects);
    RUN(test_schema_change_log_then_update);
    RUN(test_partitions_follow_the_table);
    RUN(test_csv_tables_and_layouts);
    RUN(test_ddl_quoting);
    CHECK_EXIT();
}
