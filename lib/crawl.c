/*
 * crawl: lists the lake once, groups objects by table folder, samples the
 * objects the remembered state does not already cover, merges schemas,
 * and reconciles the catalog with what the lake holds: the table is
 * written when it is new or differs, partitions the catalog lacks are
 * added, partitions whose location or schema differ from the table's are
 * updated. The state is a cache of samples; the catalog is always checked.
 */
#include "lib/crawl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/inflate.h"
#include "lib/log.h"
#include "lib/schema_infer.h"
#include "lib/tick.h"

#define CRAWL_STATE_VERSION        1
#define CRAWL_BAD_LINES_SHOWN      3
#define CRAWL_NAME_SIZE            160
#define CRAWL_INPUT_FORMAT         "org.apache.hadoop.mapred.TextInputFormat"
#define CRAWL_OUTPUT_FORMAT        "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
#define CRAWL_JSON_SERDE           "org.openx.data.jsonserde.JsonSerDe"
#define CRAWL_LAZY_SIMPLE_SERDE    "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
#define CRAWL_OPEN_CSV_SERDE       "org.apache.hadoop.hive.serde2.OpenCSVSerde"
#define CRAWL_SCHEMA_SERDE_VERSION "1.0"

struct crawl_object {
    char *key;
    char *etag;
    long long size;
    long long records;        /* estimated for the whole object */
    long long sample_records; /* records in the sample */
    long long sample_bytes;   /* decompressed bytes sampled */
    int gzip;
    char *bad; /* why the object cannot be used, or NULL */
};

struct crawl_objects {
    struct crawl_object *items;
    size_t count;
    size_t capacity;
};

struct crawl_table {
    char folder[CRAWL_NAME_SIZE * 2];
    char name[CRAWL_NAME_SIZE];
    struct crawl_object *objects; /* slice of the listing, sorted by key */
    size_t count;
    size_t depth; /* partition folder levels */
    struct schema_format format;
    schema_type *schema;
    struct crawl_objects state; /* remembered objects, sorted by key */
    int state_dirty;
};

struct crawl_run {
    store *lake;
    catalog *catalog;
    const struct crawl_options *options;
    struct crawl_stats *stats;
    buf sample;
    const char *bad_key;       /* object being sampled, for bad-line reports */
    long long bad_lines_shown; /* in that object */
};

/* ---- small helpers ---- */

static void crawl_object_clear(struct crawl_object *object)
{
    free(object->key);
    free(object->etag);
    free(object->bad);
    memset(object, 0, sizeof *object);
}

static void crawl_objects_free(struct crawl_objects *objects)
{
    for (size_t i = 0; i < objects->count; i++)
        crawl_object_clear(&objects->items[i]);
    free(objects->items);
    memset(objects, 0, sizeof *objects);
}

static struct crawl_object *crawl_objects_push(struct crawl_objects *objects)
{
    if (objects->count == objects->capacity) {
        size_t capacity = objects->capacity ? objects->capacity * 2 : 256;
        struct crawl_object *items = realloc(objects->items, capacity * sizeof *items);
        if (!items)
            return NULL;
        objects->items = items;
        objects->capacity = capacity;
    }
    struct crawl_object *object = &objects->items[objects->count++];
    memset(object, 0, sizeof *object);
    return object;
}

static int crawl_compare_objects(const void *a, const void *b)
{
    return strcmp(((const struct crawl_object *)a)->key, ((const struct crawl_object *)b)->key);
}

static void crawl_set_bad(struct crawl_object *object, const char *reason)
{
    free(object->bad);
    object->bad = strdup(reason);
}

static size_t crawl_count_char(const char *text, char c)
{
    size_t n = 0;
    for (; *text; text++)
        n += *text == c;
    return n;
}

static const char *crawl_base_name(const char *key)
{
    const char *slash = strrchr(key, '/');
    return slash ? slash + 1 : key;
}

static void crawl_add_string(cJSON *object, const char *name, const char *value)
{
    cJSON_AddItemToObject(object, name, cJSON_CreateString(value));
}

static void crawl_add_count(cJSON *object, const char *name, long long value)
{
    char text[32];
    snprintf(text, sizeof text, "%lld", value);
    crawl_add_string(object, name, text);
}

/* ---- listing ---- */

struct crawl_listing {
    struct crawl_objects *objects;
    long long root_files;
    int failed;
};

static int crawl_collect(const struct store_object *object, void *context)
{
    struct crawl_listing *listing = context;
    const char *key = object->key;
    if (key[0] == '_' || key[0] == '.')
        return 0; /* _catalog, _errors, ...: not tables */
    if (!strchr(key, '/')) {
        listing->root_files++;
        return 0;
    }
    struct crawl_object *item = crawl_objects_push(listing->objects);
    if (!item || !(item->key = strdup(key)) || !(item->etag = strdup(object->etag))) {
        listing->failed = 1;
        return 1;
    }
    item->size = object->size;
    return 0;
}

/* ---- state: _catalog/<db>/crawler/<table>.json ---- */

static char *crawl_state_key(const char *database, const char *table)
{
    buf key = BUF_INIT;
    buf_printf(&key, "_catalog/%s/crawler/%s.json", database, table);
    return buf_detach(&key);
}

static const char *crawl_classification_name(enum schema_classification classification)
{
    return classification == SCHEMA_FORMAT_JSON  ? "json"
           : classification == SCHEMA_FORMAT_CSV ? "csv"
                                                 : "unknown";
}

static int crawl_state_load(struct crawl_run *run, struct crawl_table *table, tp_err *err)
{
    char *key = crawl_state_key(run->options->database, table->name);
    char *text = NULL;
    size_t length = 0;
    int rc = store_get(run->lake, key, 0, &text, &length, err);
    if (rc < 0) {
        free(key);
        if (err->code != TP_ERR_NOT_FOUND)
            return -1;
        tp_err_clear(err);
        table->state_dirty = 1;
        return 0;
    }
    cJSON *json = cJSON_ParseWithLength(text, length);
    free(text);
    const cJSON *version = cJSON_GetObjectItemCaseSensitive(json, "version");
    if (!json || !cJSON_IsNumber(version) || version->valueint != CRAWL_STATE_VERSION) {
        log_warn("%s/%s: unreadable crawler state, crawling table %s from scratch",
                 run->lake->location, key, table->name);
        cJSON_Delete(json);
        free(key);
        table->state_dirty = 1;
        return 0;
    }
    free(key);
    const cJSON *format = cJSON_GetObjectItemCaseSensitive(json, "format");
    const cJSON *classification = cJSON_GetObjectItemCaseSensitive(format, "classification");
    if (cJSON_IsString(classification)) {
        table->format.classification =
            strcmp(classification->valuestring, "json") == 0  ? SCHEMA_FORMAT_JSON
            : strcmp(classification->valuestring, "csv") == 0 ? SCHEMA_FORMAT_CSV
                                                              : SCHEMA_FORMAT_UNKNOWN;
        const cJSON *delimiter = cJSON_GetObjectItemCaseSensitive(format, "delimiter");
        table->format.delimiter = cJSON_IsString(delimiter) && delimiter->valuestring[0]
                                      ? delimiter->valuestring[0]
                                      : ',';
        table->format.header = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(format, "header"));
        table->format.quoted = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(format, "quoted"));
    }
    const cJSON *schema = cJSON_GetObjectItemCaseSensitive(json, "schema");
    if (schema && !(table->schema = schema_from_json(schema, err))) {
        cJSON_Delete(json);
        return -1;
    }
    const cJSON *entry;
    cJSON_ArrayForEach(entry, cJSON_GetObjectItemCaseSensitive(json, "objects"))
    {
        const cJSON *fields[8];
        for (int i = 0; i < 8; i++)
            fields[i] = cJSON_GetArrayItem(entry, i);
        if (!cJSON_IsString(fields[0]) || !cJSON_IsString(fields[2]))
            continue;
        struct crawl_object *object = crawl_objects_push(&table->state);
        if (!object || !(object->key = strdup(fields[0]->valuestring)) ||
            !(object->etag = strdup(fields[2]->valuestring))) {
            cJSON_Delete(json);
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        }
        object->size = (long long)cJSON_GetNumberValue(fields[1]);
        object->records = (long long)cJSON_GetNumberValue(fields[3]);
        object->sample_records = (long long)cJSON_GetNumberValue(fields[4]);
        object->sample_bytes = (long long)cJSON_GetNumberValue(fields[5]);
        object->gzip = cJSON_IsTrue(fields[6]);
        if (cJSON_IsString(fields[7]))
            object->bad = strdup(fields[7]->valuestring);
    }
    cJSON_Delete(json);
    if (table->state.count > 1)
        qsort(table->state.items, table->state.count, sizeof *table->state.items,
              crawl_compare_objects);
    return 0;
}

static int crawl_state_save(struct crawl_run *run, struct crawl_table *table, tp_err *err)
{
    cJSON *json = cJSON_CreateObject();
    cJSON_AddNumberToObject(json, "version", CRAWL_STATE_VERSION);
    crawl_add_string(json, "folder", table->folder);
    cJSON *format = cJSON_AddObjectToObject(json, "format");
    crawl_add_string(format, "classification",
                     crawl_classification_name(table->format.classification));
    char delimiter[2] = {table->format.delimiter ? table->format.delimiter : ',', 0};
    crawl_add_string(format, "delimiter", delimiter);
    cJSON_AddBoolToObject(format, "header", table->format.header);
    cJSON_AddBoolToObject(format, "quoted", table->format.quoted);
    if (table->schema)
        cJSON_AddItemToObject(json, "schema", schema_to_json(table->schema));
    cJSON *objects = cJSON_AddArrayToObject(json, "objects");
    for (size_t i = 0; i < table->count; i++) {
        const struct crawl_object *object = &table->objects[i];
        if (!object->etag)
            continue; /* not part of the table (another depth) */
        cJSON *entry = cJSON_CreateArray();
        cJSON_AddItemToArray(entry, cJSON_CreateString(object->key));
        cJSON_AddItemToArray(entry, cJSON_CreateNumber((double)object->size));
        cJSON_AddItemToArray(entry, cJSON_CreateString(object->etag));
        cJSON_AddItemToArray(entry, cJSON_CreateNumber((double)object->records));
        cJSON_AddItemToArray(entry, cJSON_CreateNumber((double)object->sample_records));
        cJSON_AddItemToArray(entry, cJSON_CreateNumber((double)object->sample_bytes));
        cJSON_AddItemToArray(entry, cJSON_CreateBool(object->gzip));
        cJSON_AddItemToArray(entry,
                             object->bad ? cJSON_CreateString(object->bad) : cJSON_CreateNull());
        cJSON_AddItemToArray(objects, entry);
    }
    char *text = cJSON_PrintUnformatted(json);
    cJSON_Delete(json);
    if (!text)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    char *key = crawl_state_key(run->options->database, table->name);
    int rc = store_put(run->lake, key, text, strlen(text), STORE_PUT_REPLACE, err);
    free(key);
    free(text);
    return rc;
}

/* ---- sampling ---- */

struct crawl_read {
    inflate_reader *reader;
    buf *data;
    tp_err *err;
    int status; /* 0 reading, 1 sample full, -1 bad data */
};

static int crawl_read_chunk(const void *data, size_t length, void *context)
{
    struct crawl_read *read = context;
    int rc = inflate_reader_feed(read->reader, data, length, read->data, read->err);
    if (rc != 0) {
        read->status = rc;
        return 1;
    }
    return 0;
}

static void crawl_on_bad_record(void *context, long long line, const char *reason)
{
    struct crawl_run *run = context;
    run->stats->bad_records++;
    if (++run->bad_lines_shown <= CRAWL_BAD_LINES_SHOWN)
        log_warn("%s/%s:%lld: bad record skipped: %s", run->lake->location, run->bad_key, line,
                 reason);
}

static int crawl_ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), s = strlen(suffix);
    return n >= s && strcmp(text + n - s, suffix) == 0;
}

/*
 * Reads the head of an object and infers its schema into *sample. Returns
 * 0, or -1 with the reason in err when the object cannot be used.
 */
static int crawl_sample_object(struct crawl_run *run, struct crawl_object *object,
                               struct schema_sample *sample, tp_err *err)
{
    if (object->size == 0)
        return tp_err_set(err, TP_ERR_PARSE, "empty object");
    long long limit =
        run->options->sample_bytes > 0 ? run->options->sample_bytes : CRAWL_DEFAULT_SAMPLE_BYTES;
    inflate_reader *reader = inflate_reader_new(
        crawl_ends_with(object->key, ".gz") ? INFLATE_GZIP : INFLATE_AUTO, (size_t)limit, err);
    if (!reader)
        return -1;
    buf_reset(&run->sample);
    struct crawl_read read = {reader, &run->sample, err, 0};
    int rc = run->lake->ops->read(run->lake, object->key, 0, 0, crawl_read_chunk, &read, err);
    if (rc == 0 && read.status < 0)
        rc = -1;
    if (rc == 0 && read.status == 0)
        rc = inflate_reader_finish(reader, err);
    if (rc == 0) {
        object->gzip = inflate_reader_is_gzip(reader);
        object->sample_bytes = (long long)run->sample.len;
        run->bad_key = object->key;
        run->bad_lines_shown = 0;
        struct schema_options options = {run->options->infer_timestamps, crawl_on_bad_record, run};
        rc = schema_infer_sample(run->sample.data ? run->sample.data : "", run->sample.len,
                                 read.status == 0, object->key, &options, sample, err);
        if (run->bad_lines_shown > CRAWL_BAD_LINES_SHOWN)
            log_warn("%s/%s: %lld bad records skipped in all", run->lake->location, object->key,
                     run->bad_lines_shown);
    }
    if (rc == 0) {
        object->sample_records = sample->records;
        object->records = sample->records;
        size_t consumed = inflate_reader_consumed(reader);
        if (read.status == 1 && consumed > 0) /* a prefix: extrapolate by size */
            object->records =
                (long long)((double)sample->records * (double)object->size / (double)consumed);
    }
    inflate_reader_free(reader);
    return rc;
}

/* Checks that an object's format fits the table's (adopting it for the
 * first object); the reason goes to why when it does not. */
static int crawl_format_fits(struct crawl_table *table, const struct schema_format *format,
                             char *why, size_t size)
{
    struct schema_format *mine = &table->format;
    if (mine->classification == SCHEMA_FORMAT_UNKNOWN) {
        *mine = *format;
        return 1;
    }
    if (mine->classification != format->classification) {
        snprintf(why, size, "%s object in a %s table: skipped",
                 crawl_classification_name(format->classification),
                 crawl_classification_name(mine->classification));
        return 0;
    }
    if (mine->classification == SCHEMA_FORMAT_CSV) {
        if (mine->delimiter != format->delimiter) {
            snprintf(why, size, "CSV delimiter '%c' differs from the table's '%c': skipped",
                     format->delimiter, mine->delimiter);
            return 0;
        }
        if (mine->header != format->header) {
            snprintf(why, size, "CSV %s a header row, the table's objects %s: skipped",
                     format->header ? "has" : "lacks", mine->header ? "have one" : "do not");
            return 0;
        }
        mine->quoted |= format->quoted;
    }
    return 1;
}

static void crawl_report_bad(struct crawl_run *run, const struct crawl_object *object,
                             int remembered)
{
    run->stats->bad_objects++;
    log_warn("%s/%s: %s%s", run->lake->location, object->key, object->bad,
             remembered ? " (remembered from an earlier crawl; skipped until it changes)" : "");
}

/* Samples a new or changed object and merges its schema into the table. */
static int crawl_read_object(struct crawl_run *run, struct crawl_table *table,
                             struct crawl_object *object)
{
    struct schema_sample sample;
    memset(&sample, 0, sizeof sample);
    tp_err reason;
    tp_err_clear(&reason);
    run->stats->sampled++;
    table->state_dirty = 1;
    if (crawl_sample_object(run, object, &sample, &reason) < 0) {
        if (reason.code == TP_ERR_INTERNAL)
            return -1;
        crawl_set_bad(object, reason.msg);
        crawl_report_bad(run, object, 0);
        return 0;
    }
    char why[200];
    if (!crawl_format_fits(table, &sample.format, why, sizeof why)) {
        crawl_set_bad(object, why);
        crawl_report_bad(run, object, 0);
    } else if (schema_merge(&table->schema, sample.record) < 0) {
        schema_sample_free(&sample);
        return -1;
    }
    schema_sample_free(&sample);
    return 0;
}

/* ---- partitions ---- */

/* Points *start at the partition folders of key (between the table folder
 * and the file name, '/'-separated, *length bytes); returns their count. */
static size_t crawl_partition_path(const char *key, const char **start, size_t *length)
{
    const char *first = strchr(key, '/') + 1;
    const char *last = strrchr(key, '/');
    *start = first;
    *length = last > first ? (size_t)(last - first) : 0;
    return crawl_count_char(key, '/') - 1;
}

/* The most common folder depth among the table's data objects. */
static size_t crawl_table_depth(const struct crawl_table *table)
{
    size_t counts[32] = {0};
    size_t best = 0;
    for (size_t i = 0; i < table->count; i++) {
        size_t depth = crawl_count_char(table->objects[i].key, '/') - 1;
        if (depth < 32 && ++counts[depth] > counts[best])
            best = depth;
    }
    return best;
}

/* Partition keys from the first object's folders: key=value -> key,
 * anything else -> partition_<level>. */
static cJSON *crawl_partition_keys(const struct crawl_table *table, const char *key)
{
    cJSON *keys = cJSON_CreateArray();
    const char *p = strchr(key, '/') + 1;
    for (size_t level = 0; level < table->depth; level++) {
        const char *slash = strchr(p, '/');
        const char *equals = memchr(p, '=', (size_t)(slash - p));
        char name[CRAWL_NAME_SIZE];
        if (equals && equals > p)
            tick_normalize_name(p, (size_t)(equals - p), (int)level + 1, name, sizeof name);
        else
            snprintf(name, sizeof name, "partition_%zu", level);
        cJSON *column = cJSON_CreateObject();
        crawl_add_string(column, "Name", name);
        crawl_add_string(column, "Type", "string");
        cJSON_AddItemToArray(keys, column);
        p = slash + 1;
    }
    return keys;
}

/* Values of a partition path: "dt=2024-01-02/hour=03" -> ["2024-01-02","03"]. */
static cJSON *crawl_partition_values(const char *path, size_t length)
{
    cJSON *values = cJSON_CreateArray();
    const char *p = path, *end = path + length;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *stop = slash ? slash : end;
        const char *equals = memchr(p, '=', (size_t)(stop - p));
        const char *value = equals ? equals + 1 : p;
        char *text = strndup(value, (size_t)(stop - value));
        cJSON_AddItemToArray(values, cJSON_CreateString(text ? text : ""));
        free(text);
        p = stop + 1;
    }
    return values;
}

/* ---- Glue shapes ---- */

struct crawl_totals {
    long long objects;
    long long size;
    long long records;
    long long sample_records;
    long long sample_bytes;
    int gzip;
};

static void crawl_totals_add(struct crawl_totals *totals, const struct crawl_object *object)
{
    totals->objects++;
    totals->size += object->size;
    totals->records += object->records;
    totals->sample_records += object->sample_records;
    totals->sample_bytes += object->sample_bytes;
    totals->gzip |= object->gzip;
}

/* The Parameters a Glue crawler writes on tables and partitions. */
static cJSON *crawl_parameters(const struct crawl_run *run, const struct crawl_table *table,
                               const struct crawl_totals *totals)
{
    cJSON *parameters = cJSON_CreateObject();
    crawl_add_string(parameters, "CrawlerSchemaDeserializerVersion", CRAWL_SCHEMA_SERDE_VERSION);
    crawl_add_string(parameters, "CrawlerSchemaSerializerVersion", CRAWL_SCHEMA_SERDE_VERSION);
    crawl_add_string(parameters, "UPDATED_BY_CRAWLER",
                     run->options->crawler_name ? run->options->crawler_name : "tickpipe");
    crawl_add_count(parameters, "averageRecordSize",
                    totals->sample_records ? (totals->sample_bytes + totals->sample_records / 2) /
                                                 totals->sample_records
                                           : 0);
    crawl_add_string(parameters, "classification",
                     crawl_classification_name(table->format.classification));
    crawl_add_string(parameters, "compressionType", totals->gzip ? "gzip" : "none");
    crawl_add_count(parameters, "objectCount", totals->objects);
    crawl_add_count(parameters, "recordCount", totals->records);
    crawl_add_count(parameters, "sizeKey", totals->size);
    crawl_add_string(parameters, "typeOfData", "file");
    if (table->format.classification == SCHEMA_FORMAT_CSV) {
        char delimiter[2] = {table->format.delimiter, 0};
        crawl_add_string(parameters, "areColumnsQuoted", table->format.quoted ? "true" : "false");
        crawl_add_string(parameters, "columnsOrdered", "true");
        crawl_add_string(parameters, "delimiter", delimiter);
        if (table->format.header)
            crawl_add_string(parameters, "skip.header.line.count", "1");
    }
    return parameters;
}

static int crawl_compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Columns from the merged schema: names normalised as produce does (and
 * kept unique, also against the partition keys); every renamed field is
 * recorded as mapping.<column> = <field> in the SerDe parameters.
 */
static void crawl_columns(const struct crawl_table *table, const cJSON *partition_keys,
                          cJSON *columns, cJSON *serde_parameters)
{
    size_t count = table->schema ? table->schema->count : 0;
    char **taken = calloc(count + (size_t)cJSON_GetArraySize(partition_keys) + 1, sizeof *taken);
    size_t ntaken = 0;
    const cJSON *key;
    cJSON_ArrayForEach(key, partition_keys) taken[ntaken++] =
        strdup(cJSON_GetObjectItemCaseSensitive(key, "Name")->valuestring);
    int mapped = 0;
    for (size_t i = 0; i < count; i++) {
        const struct schema_field *field = &table->schema->fields[i];
        char base[CRAWL_NAME_SIZE], name[CRAWL_NAME_SIZE + 16];
        tick_normalize_name(field->name, strlen(field->name), (int)i + 1, base, sizeof base);
        snprintf(name, sizeof name, "%s", base);
        for (int suffix = 2;; suffix++) {
            int clash = 0;
            for (size_t t = 0; t < ntaken && !clash; t++)
                clash = strcmp(taken[t], name) == 0;
            if (!clash)
                break;
            snprintf(name, sizeof name, "%s_%d", base, suffix);
        }
        taken[ntaken++] = strdup(name);
        buf type = BUF_INIT;
        schema_hive_type(field->type, &type);
        cJSON *column = cJSON_CreateObject();
        crawl_add_string(column, "Name", name);
        crawl_add_string(column, "Type", type.data ? type.data : "string");
        cJSON_AddItemToArray(columns, column);
        buf_free(&type);
        if (strcmp(name, field->name) != 0) {
            char mapping[CRAWL_NAME_SIZE + 32];
            snprintf(mapping, sizeof mapping, "mapping.%s", name);
            crawl_add_string(serde_parameters, mapping, field->name);
            mapped = 1;
        }
    }
    if (table->format.classification == SCHEMA_FORMAT_JSON) {
        /* paths: the JSON keys the SerDe reads, sorted as Glue lists them */
        char **paths = calloc(count + 1, sizeof *paths);
        for (size_t i = 0; i < count; i++)
            paths[i] = table->schema->fields[i].name;
        if (count > 1)
            qsort(paths, count, sizeof *paths, crawl_compare_strings);
        buf joined = BUF_INIT;
        for (size_t i = 0; i < count; i++)
            buf_printf(&joined, "%s%s", i ? "," : "", paths[i]);
        crawl_add_string(serde_parameters, "paths", joined.data ? joined.data : "");
        buf_free(&joined);
        free(paths);
        /* keys that are not lower case only match through their mapping */
        if (mapped)
            crawl_add_string(serde_parameters, "case.insensitive", "FALSE");
    }
    for (size_t t = 0; t < ntaken; t++)
        free(taken[t]);
    free(taken);
}

static cJSON *crawl_serde_info(const struct crawl_table *table, cJSON *serde_parameters)
{
    cJSON *serde = cJSON_CreateObject();
    const char *library = CRAWL_JSON_SERDE;
    if (table->format.classification == SCHEMA_FORMAT_CSV) {
        char delimiter[2] = {table->format.delimiter, 0};
        if (table->format.quoted) {
            library = CRAWL_OPEN_CSV_SERDE;
            crawl_add_string(serde_parameters, "quoteChar", "\"");
            crawl_add_string(serde_parameters, "separatorChar", delimiter);
        } else {
            library = CRAWL_LAZY_SIMPLE_SERDE;
            crawl_add_string(serde_parameters, "field.delim", delimiter);
        }
    }
    crawl_add_string(serde, "SerializationLibrary", library);
    cJSON_AddItemToObject(serde, "Parameters", serde_parameters);
    return serde;
}

static cJSON *crawl_storage_descriptor(const cJSON *columns, const char *location,
                                       const cJSON *serde_info, const cJSON *parameters)
{
    cJSON *sd = cJSON_CreateObject();
    cJSON_AddItemToObject(sd, "Columns", cJSON_Duplicate(columns, 1));
    crawl_add_string(sd, "Location", location);
    crawl_add_string(sd, "InputFormat", CRAWL_INPUT_FORMAT);
    crawl_add_string(sd, "OutputFormat", CRAWL_OUTPUT_FORMAT);
    const cJSON *compression = cJSON_GetObjectItemCaseSensitive(parameters, "compressionType");
    cJSON_AddBoolToObject(sd, "Compressed", strcmp(compression->valuestring, "none") != 0);
    cJSON_AddNumberToObject(sd, "NumberOfBuckets", -1);
    cJSON_AddItemToObject(sd, "SerdeInfo", cJSON_Duplicate(serde_info, 1));
    cJSON_AddArrayToObject(sd, "BucketColumns");
    cJSON_AddArrayToObject(sd, "SortColumns");
    cJSON_AddItemToObject(sd, "Parameters", cJSON_Duplicate(parameters, 1));
    cJSON_AddBoolToObject(sd, "StoredAsSubDirectories", 0);
    return sd;
}

static char *crawl_location(const struct crawl_run *run, const char *folder, const char *path,
                            size_t path_length)
{
    buf location = BUF_INIT;
    buf_printf(&location, "%s%s/", run->options->location, folder);
    if (path_length)
        buf_printf(&location, "%.*s/", (int)path_length, path);
    return buf_detach(&location);
}

/* ---- catalog reconciliation ---- */

/* 1 when every member of want is in have with an equal value (arrays
 * must match element by element). Ignores what the catalog adds. */
static int crawl_json_within(const cJSON *want, const cJSON *have)
{
    if (cJSON_IsObject(want)) {
        if (!cJSON_IsObject(have))
            return 0;
        const cJSON *member;
        cJSON_ArrayForEach(member, want)
        {
            if (!crawl_json_within(member, cJSON_GetObjectItemCaseSensitive(have, member->string)))
                return 0;
        }
        return 1;
    }
    if (cJSON_IsArray(want)) {
        if (!cJSON_IsArray(have) || cJSON_GetArraySize(want) != cJSON_GetArraySize(have))
            return 0;
        const cJSON *h = have->child;
        for (const cJSON *w = want->child; w; w = w->next, h = h->next)
            if (!crawl_json_within(w, h))
                return 0;
        return 1;
    }
    return have && cJSON_Compare(want, have, 1);
}

/* One line naming what changed between two column lists. */
static void crawl_describe_change(const cJSON *before, const cJSON *after, buf *out)
{
    const cJSON *column;
    cJSON_ArrayForEach(column, after)
    {
        const char *name = cJSON_GetObjectItemCaseSensitive(column, "Name")->valuestring;
        const char *type = cJSON_GetObjectItemCaseSensitive(column, "Type")->valuestring;
        const cJSON *old = NULL, *candidate;
        cJSON_ArrayForEach(candidate, before)
        {
            const cJSON *old_name = cJSON_GetObjectItemCaseSensitive(candidate, "Name");
            if (cJSON_IsString(old_name) && strcmp(old_name->valuestring, name) == 0)
                old = candidate;
        }
        const cJSON *old_type = cJSON_GetObjectItemCaseSensitive(old, "Type");
        if (!old)
            buf_printf(out, "%snew column %s %s", out->len ? "; " : "", name, type);
        else if (!cJSON_IsString(old_type) || strcmp(old_type->valuestring, type) != 0)
            buf_printf(out, "%s%s: %s -> %s", out->len ? "; " : "", name,
                       cJSON_IsString(old_type) ? old_type->valuestring : "?", type);
    }
    if (!out->len)
        buf_append_str(out, "SerDe settings changed");
}

static const cJSON *crawl_sd_item(const cJSON *table, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(table, "StorageDescriptor"), name);
}

static int crawl_put_table(struct crawl_run *run, const struct crawl_table *table,
                           const cJSON *input, tp_err *err)
{
    const char *database = run->options->database;
    cJSON *existing = NULL;
    if (run->catalog->ops->get_table(run->catalog, database, table->name, &existing, err) < 0)
        return -1;
    if (existing && crawl_json_within(input, existing)) {
        cJSON_Delete(existing);
        return 0;
    }
    if (existing) {
        int schema_same =
            crawl_json_within(crawl_sd_item(input, "Columns"),
                              crawl_sd_item(existing, "Columns")) &&
            crawl_json_within(crawl_sd_item(input, "SerdeInfo"),
                              crawl_sd_item(existing, "SerdeInfo")) &&
            crawl_json_within(cJSON_GetObjectItemCaseSensitive(input, "PartitionKeys"),
                              cJSON_GetObjectItemCaseSensitive(existing, "PartitionKeys"));
        if (!schema_same) {
            buf change = BUF_INIT;
            crawl_describe_change(crawl_sd_item(existing, "Columns"),
                                  crawl_sd_item(input, "Columns"), &change);
            if (run->options->log_schema_changes) {
                log_warn("table %s.%s: schema changed (%s); catalog left as is "
                         "(--on-schema-change log)",
                         database, table->name, change.data);
                run->stats->schema_changes_logged++;
                buf_free(&change);
                cJSON_Delete(existing);
                return 0;
            }
            log_notice("table %s.%s: schema updated: %s", database, table->name, change.data);
            buf_free(&change);
        }
    }
    int rc = run->catalog->ops->put_table(run->catalog, database, input, err);
    if (rc == 0) {
        if (existing)
            run->stats->tables_updated++;
        else
            run->stats->tables_created++;
    }
    cJSON_Delete(existing);
    return rc;
}

static char *crawl_values_text(const cJSON *values)
{
    buf text = BUF_INIT;
    const cJSON *value;
    cJSON_ArrayForEach(value, values)
    {
        buf_append_str(&text, cJSON_IsString(value) ? value->valuestring : "");
        buf_append_char(&text, '\x1f');
    }
    return buf_detach(&text);
}

/* A partition the catalog holds, found by its values' text. */
struct crawl_known_partition {
    char *values; /* crawl_values_text */
    const cJSON *partition;
};

static int crawl_compare_known(const void *a, const void *b)
{
    return strcmp(((const struct crawl_known_partition *)a)->values,
                  ((const struct crawl_known_partition *)b)->values);
}

#define CRAWL_PARTITION_MOVED    1 /* its Location is not where the crawl finds it */
#define CRAWL_PARTITION_RESHAPED 2 /* its Columns or SerDe are not the table's */

/* How a cataloged partition differs from what the crawl computes now. */
static int crawl_partition_change(const cJSON *partition, const char *location,
                                  const cJSON *columns, const cJSON *serde_info)
{
    const cJSON *old_location = crawl_sd_item(partition, "Location");
    int change = 0;
    if (!cJSON_IsString(old_location) || strcmp(old_location->valuestring, location) != 0)
        change |= CRAWL_PARTITION_MOVED;
    if (!crawl_json_within(columns, crawl_sd_item(partition, "Columns")) ||
        !crawl_json_within(serde_info, crawl_sd_item(partition, "SerdeInfo")))
        change |= CRAWL_PARTITION_RESHAPED;
    return change;
}

/* What the partition updates of one table came to, for its log lines. */
struct crawl_partition_tally {
    int moved;    /* updated: new Location */
    int reshaped; /* updated: the table's Columns/SerDe */
    int left;     /* schema differs, left as is (--on-schema-change log) */
};

/*
 * Reconciles the table's partitions with its partition folders: folders
 * the catalog lacks become new partitions; a cataloged partition whose
 * Location, Columns or SerDe differ from what the crawl computes now is
 * updated (a Glue crawler's UPDATE_IN_DATABASE: partitions follow the
 * table), except for schema differences under --on-schema-change log,
 * which are only reported. Partitions that match are not written.
 */
static int crawl_sync_partitions(struct crawl_run *run, const struct crawl_table *table,
                                 const cJSON *columns, const cJSON *serde_info, tp_err *err)
{
    const char *database = run->options->database;
    cJSON *existing = NULL;
    if (run->catalog->ops->get_partitions(run->catalog, database, table->name, &existing, err) < 0)
        return -1;
    size_t known_count = (size_t)cJSON_GetArraySize(existing);
    struct crawl_known_partition *known = calloc(known_count + 1, sizeof *known);
    size_t n = 0;
    const cJSON *partition;
    cJSON_ArrayForEach(partition, existing)
    {
        known[n].values = crawl_values_text(cJSON_GetObjectItemCaseSensitive(partition, "Values"));
        known[n++].partition = partition;
    }
    if (n > 1)
        qsort(known, n, sizeof *known, crawl_compare_known);
    cJSON *inputs = cJSON_CreateArray();
    cJSON *entries = cJSON_CreateArray();
    struct crawl_partition_tally tally = {0, 0, 0};
    for (size_t i = 0; i < table->count;) {
        const char *path;
        size_t length;
        crawl_partition_path(table->objects[i].key, &path, &length);
        struct crawl_totals totals = {0};
        size_t j = i;
        for (; j < table->count; j++) {
            const struct crawl_object *object = &table->objects[j];
            const char *other;
            size_t other_length;
            crawl_partition_path(object->key, &other, &other_length);
            if (other_length != length || memcmp(other, path, length) != 0)
                break;
            if (object->etag && !object->bad)
                crawl_totals_add(&totals, object);
        }
        if (totals.objects > 0 &&
            crawl_count_char(table->objects[i].key, '/') - 1 == table->depth) {
            cJSON *values = crawl_partition_values(path, length);
            struct crawl_known_partition probe = {crawl_values_text(values), NULL};
            const struct crawl_known_partition *found =
                n ? bsearch(&probe, known, n, sizeof *known, crawl_compare_known) : NULL;
            char *location = crawl_location(run, table->folder, path, length);
            int change =
                found ? crawl_partition_change(found->partition, location, columns, serde_info) : 0;
            if (change & CRAWL_PARTITION_RESHAPED && run->options->log_schema_changes) {
                tally.left++;
                change = 0;
            }
            if (!found || change) {
                cJSON *parameters = crawl_parameters(run, table, &totals);
                cJSON *input = cJSON_CreateObject();
                cJSON_AddItemToObject(input, "Values", cJSON_Duplicate(values, 1));
                cJSON_AddItemToObject(
                    input, "StorageDescriptor",
                    crawl_storage_descriptor(columns, location, serde_info, parameters));
                cJSON_AddItemToObject(input, "Parameters", parameters);
                if (!found) {
                    cJSON_AddItemToArray(inputs, input);
                } else {
                    cJSON *entry = cJSON_CreateObject();
                    cJSON_AddItemToObject(entry, "PartitionValueList", values);
                    values = NULL;
                    cJSON_AddItemToObject(entry, "PartitionInput", input);
                    cJSON_AddItemToArray(entries, entry);
                    tally.moved += (change & CRAWL_PARTITION_MOVED) != 0;
                    tally.reshaped += (change & CRAWL_PARTITION_RESHAPED) != 0;
                }
            }
            free(location);
            free(probe.values);
            cJSON_Delete(values);
        }
        i = j;
    }
    for (size_t k = 0; k < n; k++)
        free(known[k].values);
    free(known);
    cJSON_Delete(existing);
    int added = cJSON_GetArraySize(inputs);
    int updated = cJSON_GetArraySize(entries);
    int rc = 0;
    if (added > 0) {
        rc = run->catalog->ops->add_partitions(run->catalog, database, table->name, inputs, err);
        if (rc == 0) {
            run->stats->partitions_added += added;
            log_info("table %s.%s: %d new partition%s", database, table->name, added,
                     added == 1 ? "" : "s");
        }
    }
    if (rc == 0 && updated > 0) {
        rc =
            run->catalog->ops->update_partitions(run->catalog, database, table->name, entries, err);
        if (rc == 0) {
            run->stats->partitions_updated += updated;
            log_notice("table %s.%s: %d partition%s updated (%d with a new location, %d with "
                       "the table's columns and SerDe)",
                       database, table->name, updated, updated == 1 ? "" : "s", tally.moved,
                       tally.reshaped);
        }
    }
    if (tally.left > 0) {
        run->stats->partition_changes_logged += tally.left;
        log_warn("table %s.%s: %d partition%s keep%s columns or SerDe other than the crawled "
                 "schema; left as %s (--on-schema-change log)",
                 database, table->name, tally.left, tally.left == 1 ? "" : "s",
                 tally.left == 1 ? "s" : "", tally.left == 1 ? "it is" : "they are");
    }
    cJSON_Delete(inputs);
    cJSON_Delete(entries);
    return rc;
}

/* Builds the TableInput and reconciles table and partitions. */
static int crawl_publish(struct crawl_run *run, struct crawl_table *table, tp_err *err)
{
    struct crawl_totals totals = {0};
    const struct crawl_object *first = NULL;
    for (size_t i = 0; i < table->count; i++) {
        const struct crawl_object *object = &table->objects[i];
        if (object->etag && !object->bad) {
            crawl_totals_add(&totals, object);
            if (!first)
                first = object;
        }
    }
    run->stats->readable += totals.objects;
    run->stats->records += totals.records;
    if (!first) {
        log_warn("table %s: no readable object in %s/%s/; not cataloged", table->name,
                 run->lake->location, table->folder);
        return 0;
    }
    cJSON *partition_keys = crawl_partition_keys(table, first->key);
    cJSON *columns = cJSON_CreateArray();
    cJSON *serde_parameters = cJSON_CreateObject();
    crawl_columns(table, partition_keys, columns, serde_parameters);
    cJSON *serde_info = crawl_serde_info(table, serde_parameters);
    cJSON *parameters = crawl_parameters(run, table, &totals);
    char *location = crawl_location(run, table->folder, NULL, 0);
    cJSON *input = cJSON_CreateObject();
    crawl_add_string(input, "Name", table->name);
    cJSON_AddNumberToObject(input, "Retention", 0);
    cJSON_AddItemToObject(input, "StorageDescriptor",
                          crawl_storage_descriptor(columns, location, serde_info, parameters));
    cJSON_AddItemToObject(input, "PartitionKeys", partition_keys);
    crawl_add_string(input, "TableType", "EXTERNAL_TABLE");
    cJSON_AddItemToObject(input, "Parameters", parameters);
    free(location);
    int rc = crawl_put_table(run, table, input, err);
    if (rc == 0 && table->depth > 0)
        rc = crawl_sync_partitions(run, table, columns, serde_info, err);
    cJSON_Delete(input);
    cJSON_Delete(columns);
    cJSON_Delete(serde_info);
    return rc;
}

/* ---- one table ---- */

static const struct crawl_object *crawl_state_find(const struct crawl_table *table, const char *key)
{
    struct crawl_object probe = {.key = (char *)key};
    return table->state.count ? bsearch(&probe, table->state.items, table->state.count,
                                        sizeof probe, crawl_compare_objects)
                              : NULL;
}

/* Fills a listed object from the state when it has not changed since. */
static int crawl_recall(const struct crawl_table *table, struct crawl_object *object)
{
    const struct crawl_object *known = crawl_state_find(table, object->key);
    if (!known || known->size != object->size || strcmp(known->etag, object->etag) != 0)
        return 0;
    object->records = known->records;
    object->sample_records = known->sample_records;
    object->sample_bytes = known->sample_bytes;
    object->gzip = known->gzip;
    if (known->bad)
        object->bad = strdup(known->bad);
    return 1;
}

static int crawl_table(struct crawl_run *run, struct crawl_table *table, tp_err *err)
{
    if (crawl_state_load(run, table, err) < 0)
        return -1;
    table->depth = crawl_table_depth(table);
    size_t remembered = 0;
    for (size_t i = 0; i < table->count; i++) {
        struct crawl_object *object = &table->objects[i];
        const char *base = crawl_base_name(object->key);
        size_t depth = crawl_count_char(object->key, '/') - 1;
        if (base[0] == '_' || base[0] == '.') {
            log_debug("%s/%s: not data (name starts with '%c'): ignored", run->lake->location,
                      object->key, base[0]);
            free(object->etag);
            object->etag = NULL;
            continue;
        }
        run->stats->objects++;
        if (depth != table->depth) {
            run->stats->skipped++;
            log_warn("%s/%s: %zu folder level%s below the table, its other objects %zu: skipped",
                     run->lake->location, object->key, depth, depth == 1 ? "" : "s", table->depth);
            free(object->etag);
            object->etag = NULL; /* marks "not part of the table" */
            continue;
        }
        if (crawl_recall(table, object)) {
            remembered++;
            run->stats->unchanged++;
            if (object->bad)
                crawl_report_bad(run, object, 1);
            continue;
        }
        if (crawl_read_object(run, table, object) < 0)
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory crawling %s", table->name);
    }
    if (remembered != table->state.count)
        table->state_dirty = 1; /* objects were removed */
    if (crawl_publish(run, table, err) < 0)
        return -1;
    return table->state_dirty ? crawl_state_save(run, table, err) : 0;
}

static void crawl_table_free(struct crawl_table *table)
{
    schema_type_free(table->schema);
    crawl_objects_free(&table->state);
}

int crawl_run(store *lake, catalog *target, const struct crawl_options *options,
              struct crawl_stats *stats, tp_err *err)
{
    memset(stats, 0, sizeof *stats);
    if (target->ops->ensure_database(target, options->database, err) < 0)
        return -1;
    struct crawl_objects listed = {0};
    struct crawl_listing listing = {&listed, 0, 0};
    if (lake->ops->list(lake, "", crawl_collect, &listing, err) < 0) {
        crawl_objects_free(&listed);
        return tp_err_prefix(err, "listing %s", lake->location);
    }
    if (listing.failed) {
        crawl_objects_free(&listed);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory listing %s", lake->location);
    }
    if (listing.root_files)
        log_warn("%s: %lld object%s at the lake root, outside any table folder: skipped",
                 lake->location, listing.root_files, listing.root_files == 1 ? "" : "s");
    if (listed.count > 1)
        qsort(listed.items, listed.count, sizeof *listed.items, crawl_compare_objects);
    struct crawl_run run = {lake, target, options, stats, BUF_INIT, NULL, 0};
    int rc = 0;
    char previous[CRAWL_NAME_SIZE] = "";
    for (size_t i = 0; i < listed.count && rc == 0;) {
        const char *key = listed.items[i].key;
        size_t folder_length = (size_t)(strchr(key, '/') - key);
        size_t j = i + 1;
        while (j < listed.count && strncmp(listed.items[j].key, key, folder_length + 1) == 0)
            j++;
        struct crawl_table table;
        memset(&table, 0, sizeof table);
        snprintf(table.folder, sizeof table.folder, "%.*s", (int)folder_length, key);
        tick_normalize_name(key, folder_length, 1, table.name, sizeof table.name);
        table.objects = &listed.items[i];
        table.count = j - i;
        if (strcmp(table.name, previous) == 0) {
            log_warn("%s/%s/: table name %s is taken by another folder: skipped", lake->location,
                     table.folder, table.name);
        } else {
            if (strcmp(table.name, table.folder) != 0)
                log_info("folder %s/ is table %s (Athena-safe name)", table.folder, table.name);
            stats->tables++;
            rc = crawl_table(&run, &table, err);
        }
        snprintf(previous, sizeof previous, "%s", table.name);
        crawl_table_free(&table);
        i = j;
    }
    buf_free(&run.sample);
    crawl_objects_free(&listed);
    return rc;
}
