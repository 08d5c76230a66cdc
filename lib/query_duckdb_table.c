/*
 * query_duckdb_table: from a Glue-shaped catalog table to what DuckDB
 * reads: column types translated, the objects of the registered
 * partitions listed through the store, and the read_json/read_csv call
 * with explicit columns (DuckDB's schema detection costs ~60% more CPU)
 * and Hive partition values taken from the object paths.
 */
#include "lib/fs.h"
#include "lib/query_duckdb_table.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/log.h"

void duckdb_quote_identifier(buf *out, const char *name)
{
    buf_append_char(out, '"');
    for (const char *p = name; *p; p++) {
        if (*p == '"')
            buf_append_char(out, '"');
        buf_append_char(out, *p);
    }
    buf_append_char(out, '"');
}

void duckdb_quote_literal(buf *out, const char *text)
{
    buf_append_char(out, '\'');
    for (const char *p = text; *p; p++) {
        if (*p == '\'')
            buf_append_char(out, '\'');
        buf_append_char(out, *p);
    }
    buf_append_char(out, '\'');
}

/* ---- Glue types -------------------------------------------------------- */

struct glue_type_parser {
    const char *text;
    const char *p;
    buf *out;
    tp_err *err;
};

static void glue_skip_blanks(struct glue_type_parser *parser)
{
    while (*parser->p == ' ')
        parser->p++;
}

static int glue_expect(struct glue_type_parser *parser, char c)
{
    glue_skip_blanks(parser);
    if (*parser->p != c)
        return tp_err_set(parser->err, TP_ERR_PARSE, "column type '%s': expected '%c' at '%s'",
                          parser->text, c, parser->p);
    parser->p++;
    return 0;
}

/* Reads a word or field name into word (NUL-terminated, truncated). */
static void glue_word(struct glue_type_parser *parser, char *word, size_t size)
{
    glue_skip_blanks(parser);
    size_t n = 0;
    while (*parser->p && (isalnum((unsigned char)*parser->p) || *parser->p == '_')) {
        if (n + 1 < size)
            word[n++] = *parser->p;
        parser->p++;
    }
    word[n] = '\0';
}

static int glue_parse(struct glue_type_parser *parser, int depth)
{
    static const struct {
        const char *glue;
        const char *duckdb;
    } primitives[] = {
        {"string", "VARCHAR"},  {"varchar", "VARCHAR"},   {"char", "VARCHAR"},
        {"tinyint", "TINYINT"}, {"smallint", "SMALLINT"}, {"int", "INTEGER"},
        {"integer", "INTEGER"}, {"bigint", "BIGINT"},     {"float", "FLOAT"},
        {"double", "DOUBLE"},   {"boolean", "BOOLEAN"},   {"timestamp", "TIMESTAMP"},
        {"date", "DATE"},       {"binary", "BLOB"},
    };
    char word[64];
    if (depth > 32)
        return tp_err_set(parser->err, TP_ERR_PARSE, "column type '%s' nests too deeply",
                          parser->text);
    glue_word(parser, word, sizeof word);
    if (strcasecmp(word, "array") == 0) {
        if (glue_expect(parser, '<') < 0 || glue_parse(parser, depth + 1) < 0 ||
            glue_expect(parser, '>') < 0)
            return -1;
        buf_append_str(parser->out, "[]");
        return 0;
    }
    if (strcasecmp(word, "map") == 0) {
        buf_append_str(parser->out, "MAP(");
        if (glue_expect(parser, '<') < 0 || glue_parse(parser, depth + 1) < 0 ||
            glue_expect(parser, ',') < 0)
            return -1;
        buf_append_str(parser->out, ", ");
        if (glue_parse(parser, depth + 1) < 0 || glue_expect(parser, '>') < 0)
            return -1;
        buf_append_char(parser->out, ')');
        return 0;
    }
    if (strcasecmp(word, "struct") == 0) {
        buf_append_str(parser->out, "STRUCT(");
        if (glue_expect(parser, '<') < 0)
            return -1;
        for (int first = 1;; first = 0) {
            char field[256];
            glue_word(parser, field, sizeof field);
            if (!field[0])
                return tp_err_set(parser->err, TP_ERR_PARSE,
                                  "column type '%s': expected a field name at '%s'", parser->text,
                                  parser->p);
            if (!first)
                buf_append_str(parser->out, ", ");
            duckdb_quote_identifier(parser->out, field);
            buf_append_char(parser->out, ' ');
            if (glue_expect(parser, ':') < 0 || glue_parse(parser, depth + 1) < 0)
                return -1;
            glue_skip_blanks(parser);
            if (*parser->p == ',') {
                parser->p++;
                continue;
            }
            break;
        }
        if (glue_expect(parser, '>') < 0)
            return -1;
        buf_append_char(parser->out, ')');
        return 0;
    }
    if (strcasecmp(word, "decimal") == 0) {
        long precision = 10, scale = 0;
        glue_skip_blanks(parser);
        if (*parser->p == '(') {
            char *end;
            precision = strtol(parser->p + 1, &end, 10);
            scale = 0;
            if (*end == ',')
                scale = strtol(end + 1, &end, 10);
            if (*end != ')' || precision < 1 || precision > 38 || scale < 0 || scale > precision)
                return tp_err_set(parser->err, TP_ERR_PARSE, "column type '%s': bad decimal",
                                  parser->text);
            parser->p = end + 1;
        }
        buf_printf(parser->out, "DECIMAL(%ld,%ld)", precision, scale);
        return 0;
    }
    for (size_t i = 0; i < sizeof primitives / sizeof *primitives; i++) {
        if (strcasecmp(word, primitives[i].glue) == 0) {
            glue_skip_blanks(parser);
            if (*parser->p == '(') { /* varchar(10), char(3) */
                const char *close = strchr(parser->p, ')');
                if (!close)
                    return tp_err_set(parser->err, TP_ERR_PARSE, "column type '%s': missing ')'",
                                      parser->text);
                parser->p = close + 1;
            }
            buf_append_str(parser->out, primitives[i].duckdb);
            return 0;
        }
    }
    return tp_err_set(parser->err, TP_ERR_PARSE, "column type '%s' is not one tickpipe reads",
                      parser->text);
}

int duckdb_type_from_glue(const char *glue, buf *out, tp_err *err)
{
    struct glue_type_parser parser = {glue, glue, out, err};
    if (glue_parse(&parser, 0) < 0)
        return -1;
    glue_skip_blanks(&parser);
    if (*parser.p)
        return tp_err_set(err, TP_ERR_PARSE, "column type '%s': unexpected '%s'", glue, parser.p);
    return 0;
}

/* ---- loading a table ----------------------------------------------------- */

static const char *json_string(const cJSON *object, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* <lake uri>/ticks/dt=x/ -> "ticks/dt=x/" (a key prefix in the lake). */
static int duckdb_location_prefix(const char *location, const char *lake_uri, const char *what,
                                  char **prefix, tp_err *err)
{
    size_t uri_length = strlen(lake_uri);
    *prefix = NULL;
    if (!location || strncmp(location, lake_uri, uri_length) != 0 || location[uri_length] != '/') {
        tp_err_set(err, TP_ERR_USAGE,
                   "%s: location %s is outside the lake %s (was the lake moved? run "
                   "'tickpipe crawl' on it again)",
                   what, location ? location : "(none)", lake_uri);
        return -1;
    }
    buf out = BUF_INIT;
    buf_append_str(&out, location + uri_length + 1);
    if (out.len && out.data[out.len - 1] != '/')
        buf_append_char(&out, '/');
    *prefix = buf_detach(&out);
    return 0;
}

struct duckdb_listing {
    struct duckdb_table *table;
    const struct duckdb_lake *lake;
    size_t prefix_length;
    size_t partition;
    size_t capacity;
    int failed;
    /* one listing of the table's folder for all partitions: their folder
     * prefixes, sorted, each with its partition index */
    struct duckdb_partition_prefix *folders;
    size_t folder_count;
};

struct duckdb_partition_prefix {
    char *prefix;
    size_t partition;
};

static int duckdb_compare_prefixes(const void *a, const void *b)
{
    return strcmp(((const struct duckdb_partition_prefix *)a)->prefix,
                  ((const struct duckdb_partition_prefix *)b)->prefix);
}

/* The partition whose folder holds key (the deepest registered folder
 * above it); 0 when none does. */
static int duckdb_find_partition(const struct duckdb_listing *listing, const char *key,
                                 size_t *partition)
{
    buf folder = BUF_INIT;
    buf_append_str(&folder, key);
    int found = 0;
    for (;;) {
        char *slash = folder.len > 1 ? memrchr(folder.data, '/', folder.len - 1) : NULL;
        if (!slash || (size_t)(slash - folder.data) + 1 < listing->prefix_length)
            break;
        folder.len = (size_t)(slash - folder.data) + 1;
        folder.data[folder.len] = '\0';
        struct duckdb_partition_prefix probe = {folder.data, 0};
        const struct duckdb_partition_prefix *hit = bsearch(
            &probe, listing->folders, listing->folder_count, sizeof probe, duckdb_compare_prefixes);
        if (hit) {
            *partition = hit->partition;
            found = 1;
            break;
        }
    }
    buf_free(&folder);
    return found;
}

static int duckdb_collect_object(const struct store_object *object, void *context)
{
    struct duckdb_listing *listing = context;
    struct duckdb_table *table = listing->table;
    /* Hive and Athena skip files and folders starting with '_' or '.' */
    for (const char *p = object->key + listing->prefix_length; p; p = strchr(p, '/')) {
        if (*p == '/')
            p++;
        if (*p == '_' || *p == '.')
            return 0;
    }
    if (object->size == 0)
        return 0;
    if (listing->folder_count && !duckdb_find_partition(listing, object->key, &listing->partition))
        return 0; /* not in a registered partition: Athena does not read it either */
    if (table->object_count == listing->capacity) {
        size_t capacity = listing->capacity ? listing->capacity * 2 : 64;
        struct duckdb_object *grown = realloc(table->objects, capacity * sizeof *grown);
        if (!grown) {
            listing->failed = 1;
            return 1;
        }
        table->objects = grown;
        listing->capacity = capacity;
    }
    struct duckdb_object *o = &table->objects[table->object_count];
    store *lake = listing->lake->store;
    o->key = object->key ? strdup(object->key) : NULL;
    o->path = lake->ops->local_path(lake, object->key);
    o->mirrored = !o->path;
    if (!o->path) {
        buf path = BUF_INIT;
        buf_printf(&path, "%s/%s", listing->lake->local_root, object->key);
        o->path = buf_detach(&path);
    }
    o->etag = strdup(object->etag);
    o->size = object->size;
    o->partition = listing->partition;
    if (!o->key || !o->path || !o->etag) {
        free(o->key);
        free(o->path);
        free(o->etag);
        listing->failed = 1;
        return 1;
    }
    table->object_count++;
    table->partitions[listing->partition].objects++;
    return 0;
}

static int duckdb_list_objects(struct duckdb_table *table, const struct duckdb_lake *lake,
                               const char *prefix, struct duckdb_listing *listing, tp_err *err)
{
    if (!prefix)
        return tp_err_set(err, TP_ERR_INTERNAL, "table %s: no location", table->name);
    listing->prefix_length = strlen(prefix);
    if (lake->store->ops->list(lake->store, prefix, duckdb_collect_object, listing, err) < 0)
        return tp_err_prefix(err, "table %s", table->name);
    if (listing->failed)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory listing table %s", table->name);
    return 0;
}

/* The partition's location must end in key=value/ folders (Hive style),
 * where DuckDB takes the values from. */
static int duckdb_partition_is_hive(const struct duckdb_table *table, const char *prefix,
                                    char **values)
{
    buf segment = BUF_INIT;
    int ok = prefix != NULL;
    for (size_t k = 0; ok && k < table->key_count; k++) {
        buf_reset(&segment);
        buf_printf(&segment, "%s=%s/", table->keys[k].name, values[k]);
        const char *found = segment.data ? strstr(prefix, segment.data) : NULL;
        ok = found && (found == prefix || found[-1] == '/');
    }
    buf_free(&segment);
    return ok;
}

/* Reads the partitions from the catalog, then lists their objects: one
 * listing of the table's folder for the partitions inside it (one LIST
 * call on S3 instead of one per partition), one per partition elsewhere. */
static int duckdb_load_partitions(struct duckdb_table *table, catalog *tables,
                                  const struct duckdb_lake *lake, const char *database,
                                  const char *table_prefix, tp_err *err)
{
    cJSON *partitions = NULL;
    if (tables->ops->get_partitions(tables, database, table->name, &partitions, err) < 0)
        return -1;
    size_t count = (size_t)cJSON_GetArraySize(partitions);
    table->partitions = calloc(count ? count : 1, sizeof *table->partitions);
    struct duckdb_partition_prefix *folders = calloc(count ? count : 1, sizeof *folders);
    struct duckdb_listing listing = {table, lake, 0, 0, 0, 0, NULL, 0};
    int rc = table->partitions && folders ? 0 : -1;
    if (rc < 0)
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    size_t inside = 0;
    const cJSON *partition;
    cJSON_ArrayForEach(partition, partitions)
    {
        if (rc < 0)
            break;
        const cJSON *values = cJSON_GetObjectItemCaseSensitive(partition, "Values");
        const cJSON *descriptor = cJSON_GetObjectItemCaseSensitive(partition, "StorageDescriptor");
        if (cJSON_GetArraySize(values) != (int)table->key_count) {
            rc = tp_err_set(err, TP_ERR_PARSE, "table %s: a partition has %d values for %zu keys",
                            table->name, cJSON_GetArraySize(values), table->key_count);
            break;
        }
        struct duckdb_partition *p = &table->partitions[table->partition_count];
        p->values = calloc(table->key_count, sizeof *p->values);
        if (!p->values) {
            rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
            break;
        }
        table->partition_count++;
        for (size_t k = 0; k < table->key_count; k++) {
            const cJSON *value = cJSON_GetArrayItem(values, (int)k);
            p->values[k] = strdup(cJSON_IsString(value) ? value->valuestring : "");
        }
        char *prefix = NULL;
        buf what = BUF_INIT;
        buf_printf(&what, "table %s, partition %s", table->name, p->values[0]);
        rc = duckdb_location_prefix(json_string(descriptor, "Location"), lake->uri, what.data,
                                    &prefix, err);
        buf_free(&what);
        if (rc == 0 && !duckdb_partition_is_hive(table, prefix, p->values))
            rc = tp_err_set(err, TP_ERR_USAGE,
                            "table %s: partition location %s does not end in Hive-style "
                            "key=value/ folders, which the local engine needs",
                            table->name, prefix ? prefix : "");
        if (rc == 0 && prefix && table_prefix &&
            strncmp(prefix, table_prefix, strlen(table_prefix)) == 0 &&
            strlen(prefix) > strlen(table_prefix)) {
            folders[inside].prefix = prefix;
            folders[inside++].partition = table->partition_count - 1;
            continue;
        }
        listing.partition = table->partition_count - 1;
        if (rc == 0)
            rc = duckdb_list_objects(table, lake, prefix, &listing, err);
        free(prefix);
    }
    if (rc == 0 && inside) {
        qsort(folders, inside, sizeof *folders, duckdb_compare_prefixes);
        listing.folders = folders;
        listing.folder_count = inside;
        rc = duckdb_list_objects(table, lake, table_prefix, &listing, err);
    }
    for (size_t i = 0; i < inside; i++)
        free(folders[i].prefix);
    free(folders);
    cJSON_Delete(partitions);
    return rc;
}

/* Builds the select list, the reader options and the signature. */
static int duckdb_describe(struct duckdb_table *table, const cJSON *doc, tp_err *err)
{
    const cJSON *descriptor = cJSON_GetObjectItemCaseSensitive(doc, "StorageDescriptor");
    const cJSON *columns = cJSON_GetObjectItemCaseSensitive(descriptor, "Columns");
    const cJSON *parameters = cJSON_GetObjectItemCaseSensitive(doc, "Parameters");
    const cJSON *serde = cJSON_GetObjectItemCaseSensitive(descriptor, "SerdeInfo");
    const char *classification = json_string(parameters, "classification");
    const char *library = json_string(serde, "SerializationLibrary");
    if (!classification)
        classification = library && strstr(library, "JsonSerDe") ? "json"
                         : library && (strstr(library, "OpenCSVSerde") || strstr(library, "Lazy"))
                             ? "csv"
                             : "json";
    int csv = strcasecmp(classification, "csv") == 0;
    if (!csv && strcasecmp(classification, "json") != 0)
        return tp_err_set(err, TP_ERR_USAGE,
                          "table %s: classification '%s' is not one the local engine reads (json, "
                          "csv)",
                          table->name, classification);
    if (cJSON_GetArraySize(columns) == 0)
        return tp_err_set(err, TP_ERR_PARSE, "table %s has no columns in the catalog", table->name);
    buf select = BUF_INIT, types = BUF_INIT, signature = BUF_INIT, options = BUF_INIT;
    buf empty = BUF_INIT;
    buf_append_str(&empty, "SELECT ");
    int rc = 0;
    buf_append_str(&types, "{");
    const cJSON *column;
    int index = 0;
    cJSON_ArrayForEach(column, columns)
    {
        const char *name = json_string(column, "Name");
        const char *type = json_string(column, "Type");
        if (!name || !type) {
            rc =
                tp_err_set(err, TP_ERR_PARSE, "table %s: a column lacks Name or Type", table->name);
            break;
        }
        buf duck = BUF_INIT;
        if (duckdb_type_from_glue(type, &duck, err) < 0) {
            buf_free(&duck);
            rc = tp_err_prefix(err, "table %s, column %s", table->name, name);
            break;
        }
        buf_append_str(&select, index ? ", " : "");
        duckdb_quote_identifier(&select, name);
        buf_append_str(&types, index ? ", " : "");
        duckdb_quote_literal(&types, name);
        buf_append_str(&types, ": ");
        duckdb_quote_literal(&types, duck.data);
        buf_printf(&signature, "%s %s,", name, duck.data);
        buf_printf(&empty, "%sCAST(NULL AS %s) AS ", index ? ", " : "", duck.data);
        duckdb_quote_identifier(&empty, name);
        buf_free(&duck);
        index++;
    }
    buf_append_str(&types, "}");
    if (rc == 0) {
        buf_printf(&options, "columns=%s, %s", types.data,
                   csv ? "header=true, auto_detect=false" : "format='newline_delimited'");
        if (table->key_count) {
            buf_append_str(&options, ", hive_partitioning=true, hive_types_autocast=false, "
                                     "hive_types={");
            for (size_t k = 0; k < table->key_count; k++) {
                buf_append_str(&options, k ? ", " : "");
                duckdb_quote_literal(&options, table->keys[k].name);
                buf_append_str(&options, ": ");
                duckdb_quote_literal(&options, table->keys[k].duckdb_type);
                buf_append_str(&select, ", ");
                duckdb_quote_identifier(&select, table->keys[k].name);
                buf_printf(&signature, "|%s %s", table->keys[k].name, table->keys[k].duckdb_type);
                buf_printf(&empty, ", CAST(NULL AS %s) AS ", table->keys[k].duckdb_type);
                duckdb_quote_identifier(&empty, table->keys[k].name);
            }
            buf_append_str(&options, "}");
        } else {
            buf_append_str(&options, ", hive_partitioning=false");
        }
        buf_printf(&signature, "|%s", classification);
        table->reader = strdup(csv ? "read_csv" : "read_json");
        table->select_list = buf_detach(&select);
        table->options = buf_detach(&options);
        table->signature = buf_detach(&signature);
        table->empty_select = buf_detach(&empty);
    }
    buf_free(&empty);
    buf_free(&select);
    buf_free(&types);
    buf_free(&signature);
    buf_free(&options);
    return rc;
}

static int duckdb_load_keys(struct duckdb_table *table, const cJSON *doc, tp_err *err)
{
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "PartitionKeys");
    size_t count = (size_t)cJSON_GetArraySize(keys);
    if (!count)
        return 0;
    table->keys = calloc(count, sizeof *table->keys);
    if (!table->keys)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    const cJSON *key;
    cJSON_ArrayForEach(key, keys)
    {
        const char *name = json_string(key, "Name");
        const char *type = json_string(key, "Type");
        if (!name)
            return tp_err_set(err, TP_ERR_PARSE, "table %s: a partition key lacks a Name",
                              table->name);
        buf duck = BUF_INIT;
        if (duckdb_type_from_glue(type ? type : "string", &duck, err) < 0) {
            buf_free(&duck);
            return tp_err_prefix(err, "table %s, partition key %s", table->name, name);
        }
        struct duckdb_partition_key *k = &table->keys[table->key_count++];
        k->name = strdup(name);
        k->glue_type = strdup(type ? type : "string");
        k->duckdb_type = buf_detach(&duck);
    }
    return 0;
}

int duckdb_table_load(catalog *tables, const struct duckdb_lake *lake, const char *database,
                      const char *name, struct duckdb_table **out, tp_err *err)
{
    *out = NULL;
    cJSON *doc = NULL;
    if (tables->ops->get_table(tables, database, name, &doc, err) < 0)
        return -1;
    if (!doc)
        return 0;
    struct duckdb_table *table = calloc(1, sizeof *table);
    if (!table) {
        cJSON_Delete(doc);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    table->lake = lake->store;
    const char *stored_name = json_string(doc, "Name");
    table->name = strdup(stored_name ? stored_name : name);
    int rc = duckdb_load_keys(table, doc, err);
    if (rc == 0)
        rc = duckdb_describe(table, doc, err);
    const cJSON *descriptor = cJSON_GetObjectItemCaseSensitive(doc, "StorageDescriptor");
    char *prefix = NULL;
    if (rc == 0) {
        buf what = BUF_INIT;
        buf_printf(&what, "table %s", table->name);
        rc = duckdb_location_prefix(json_string(descriptor, "Location"), lake->uri, what.data,
                                    &prefix, err);
        buf_free(&what);
    }
    if (rc == 0 && table->key_count) {
        rc = duckdb_load_partitions(table, tables, lake, database, prefix, err);
    } else if (rc == 0) {
        table->partitions = calloc(1, sizeof *table->partitions);
        struct duckdb_listing listing = {table, lake, 0, 0, 0, 0, NULL, 0};
        if (!table->partitions)
            rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        if (rc == 0) {
            table->partition_count = 1;
            rc = duckdb_list_objects(table, lake, prefix, &listing, err);
        }
    }
    free(prefix);
    cJSON_Delete(doc);
    if (rc < 0) {
        duckdb_table_free(table);
        return -1;
    }
    *out = table;
    return 0;
}

void duckdb_table_free(struct duckdb_table *table)
{
    if (!table)
        return;
    for (size_t i = 0; i < table->object_count; i++) {
        free(table->objects[i].key);
        free(table->objects[i].path);
        free(table->objects[i].etag);
    }
    for (size_t i = 0; table->partitions && i < table->partition_count; i++) {
        for (size_t k = 0; table->partitions[i].values && k < table->key_count; k++)
            free(table->partitions[i].values[k]);
        free(table->partitions[i].values);
    }
    for (size_t k = 0; k < table->key_count; k++) {
        free(table->keys[k].name);
        free(table->keys[k].glue_type);
        free(table->keys[k].duckdb_type);
    }
    free(table->keys);
    free(table->partitions);
    free(table->objects);
    free(table->name);
    free(table->signature);
    free(table->select_list);
    free(table->reader);
    free(table->options);
    free(table->empty_select);
    free(table);
}

static int duckdb_ends_with(const char *text, const char *suffix)
{
    size_t n = strlen(text), m = strlen(suffix);
    return n >= m && strcmp(text + n - m, suffix) == 0;
}

void duckdb_table_reader_sql(const struct duckdb_table *table, const size_t *indexes, size_t count,
                             int object_column, buf *sql)
{
    if (count == 0) { /* the readers need a file: same columns, no rows */
        buf_printf(sql, "SELECT *%s FROM (%s) WHERE false",
                   object_column ? ", CAST(NULL AS VARCHAR) AS \"_tickpipe_object\"" : "",
                   table->empty_select);
        return;
    }
    buf_printf(sql, "SELECT %s%s FROM %s([", table->select_list,
               object_column ? ", filename AS \"_tickpipe_object\"" : "", table->reader);
    size_t gzip = 0;
    for (size_t i = 0; i < count; i++) {
        const struct duckdb_object *o = &table->objects[indexes[i]];
        buf_append_str(sql, i ? ", " : "");
        duckdb_quote_literal(sql, o->path);
        gzip += duckdb_ends_with(o->path, ".gz");
    }
    buf_printf(sql, "], %s, compression='%s'%s)", table->options,
               gzip == count ? "gzip"
               : gzip == 0   ? "uncompressed"
                             : "auto_detect",
               object_column ? ", filename=true" : "");
}

/* ---- mirrored objects (S3 lakes) -------------------------------------- */

/* <dir>/.<name><suffix> for a path <dir>/<name>. */
static char *duckdb_mirror_side(const char *path, const char *suffix)
{
    const char *slash = strrchr(path, '/');
    buf side = BUF_INIT;
    buf_printf(&side, "%.*s/.%s%s", (int)(slash - path), path, slash + 1, suffix);
    return buf_detach(&side);
}

static int duckdb_mirror_is_current(const struct duckdb_object *o, const char *etag_path)
{
    char stored[256] = "";
    FILE *f = fopen(etag_path, "r");
    if (!f)
        return 0;
    size_t got = fread(stored, 1, sizeof stored - 1, f);
    fclose(f);
    stored[got] = '\0';
    struct stat st;
    return strcmp(stored, o->etag) == 0 && stat(o->path, &st) == 0 && st.st_size == o->size;
}

static int duckdb_mirror_write(const void *data, size_t length, void *context)
{
    return fwrite(data, 1, length, context) == length ? 0 : 1;
}

/* Writes text to path through a temporary file and a rename. */
static int duckdb_mirror_replace(const struct duckdb_object *o, const char *path, const char *text,
                                 store *lake, tp_err *err)
{
    buf temp = BUF_INIT;
    buf_printf(&temp, "%s.%ld.tmp", path, (long)getpid());
    char *hidden = duckdb_mirror_side(temp.data, "");
    FILE *f = fopen(hidden, "wb");
    int rc = f ? 0 : tp_err_set(err, TP_ERR_IO, "mirror %s: %s", hidden, strerror(errno));
    if (rc == 0 && text)
        rc = fputs(text, f) >= 0 ? 0 : tp_err_set(err, TP_ERR_IO, "mirror %s: write", hidden);
    if (rc == 0 && !text)
        rc = lake->ops->read(lake, o->key, 0, 0, duckdb_mirror_write, f, err);
    if (f && fclose(f) != 0 && rc == 0)
        rc = tp_err_set(err, TP_ERR_IO, "mirror %s: %s", hidden, strerror(errno));
    if (rc == 0 && rename(hidden, path) != 0)
        rc = tp_err_set(err, TP_ERR_IO, "mirror %s: %s", path, strerror(errno));
    if (rc < 0)
        unlink(hidden);
    free(hidden);
    buf_free(&temp);
    return rc;
}

int duckdb_table_fetch(const struct duckdb_table *table, const size_t *indexes, size_t count,
                       tp_err *err)
{
    int rc = 0;
    size_t fetched = 0;
    for (size_t i = 0; rc == 0 && i < count; i++) {
        const struct duckdb_object *o = &table->objects[indexes[i]];
        if (!o->mirrored)
            continue;
        char *etag_path = duckdb_mirror_side(o->path, ".etag");
        if (!duckdb_mirror_is_current(o, etag_path)) {
            /* the bytes first, then the etag that vouches for them */
            rc = fs_make_parents(o->path, 0, err);
            if (rc == 0)
                rc = duckdb_mirror_replace(o, o->path, NULL, table->lake, err);
            if (rc == 0)
                rc = duckdb_mirror_replace(o, etag_path, o->etag, table->lake, err);
            if (rc < 0)
                tp_err_prefix(err, "copying %s/%s", table->lake->location, o->key);
            fetched++;
        }
        free(etag_path);
    }
    if (fetched)
        log_info("table %s: copied %zu objects from %s", table->name, fetched,
                 table->lake->location);
    return rc;
}
