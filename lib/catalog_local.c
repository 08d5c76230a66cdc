/*
 * catalog_local: the catalog as JSON documents in the lake, in Glue's
 * shapes, so `athena` reads locally exactly what Glue would hold:
 *   _catalog/<db>/database.json           Database
 *   _catalog/<db>/tables/<table>.json     Table
 *   _catalog/<db>/partitions/<table>.json array of Partition
 * Each document is replaced atomically through the store: adding or
 * updating partitions rewrites the table's partitions document once.
 */
#include "lib/catalog.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lib/buf.h"

struct catalog_local {
    catalog base;
    store *lake;
};

static char *catalog_local_key(const char *database, const char *folder, const char *name)
{
    buf key = BUF_INIT;
    if (folder)
        buf_printf(&key, "_catalog/%s/%s/%s.json", database, folder, name);
    else
        buf_printf(&key, "_catalog/%s/%s.json", database, name);
    return buf_detach(&key);
}

static int catalog_local_name_ok(const char *name, const char *what, tp_err *err)
{
    if (!name || !*name || strchr(name, '/') || strstr(name, ".."))
        return tp_err_set(err, TP_ERR_USAGE, "invalid %s name '%s'", what, name ? name : "");
    return 0;
}

/* Reads a JSON document; *json = NULL (and 0) when it does not exist. */
static int catalog_local_read(struct catalog_local *c, const char *key, cJSON **json, tp_err *err)
{
    char *text = NULL;
    size_t length = 0;
    *json = NULL;
    if (store_get(c->lake, key, 0, &text, &length, err) < 0)
        return err->code == TP_ERR_NOT_FOUND ? 0 : -1;
    *json = cJSON_ParseWithLength(text, length);
    free(text);
    if (!*json)
        return tp_err_set(err, TP_ERR_PARSE, "%s/%s: not valid JSON", c->lake->location, key);
    return 0;
}

static int catalog_local_write(struct catalog_local *c, const char *key, const cJSON *json,
                               tp_err *err)
{
    char *text = cJSON_PrintUnformatted(json);
    if (!text)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    int rc = store_put(c->lake, key, text, strlen(text), STORE_PUT_REPLACE, err);
    free(text);
    return rc;
}

static int catalog_local_ensure_database(catalog *base, const char *database, tp_err *err)
{
    struct catalog_local *c = (struct catalog_local *)base;
    if (catalog_local_name_ok(database, "database", err) < 0)
        return -1;
    char *key = catalog_local_key(database, NULL, "database");
    cJSON *existing = NULL;
    int rc = catalog_local_read(c, key, &existing, err);
    if (rc == 0 && !existing) {
        cJSON *document = cJSON_CreateObject();
        cJSON_AddStringToObject(document, "Name", database);
        cJSON_AddNumberToObject(document, "CreateTime", (double)time(NULL));
        rc = catalog_local_write(c, key, document, err);
        cJSON_Delete(document);
    }
    cJSON_Delete(existing);
    free(key);
    return rc;
}

static int catalog_local_get_table(catalog *base, const char *database, const char *name,
                                   cJSON **table, tp_err *err)
{
    struct catalog_local *c = (struct catalog_local *)base;
    if (catalog_local_name_ok(database, "database", err) < 0 ||
        catalog_local_name_ok(name, "table", err) < 0)
        return -1;
    char *key = catalog_local_key(database, "tables", name);
    int rc = catalog_local_read(c, key, table, err);
    free(key);
    return rc;
}

struct catalog_local_listing {
    struct catalog_local *c;
    cJSON *tables;
    tp_err *err;
    int failed;
};

static int catalog_local_collect_table(const struct store_object *object, void *context)
{
    struct catalog_local_listing *listing = context;
    size_t length = strlen(object->key);
    if (length < 5 || strcmp(object->key + length - 5, ".json") != 0)
        return 0;
    cJSON *table = NULL;
    if (catalog_local_read(listing->c, object->key, &table, listing->err) < 0) {
        listing->failed = 1;
        return 1;
    }
    if (table)
        cJSON_AddItemToArray(listing->tables, table);
    return 0;
}

static int catalog_local_list_tables(catalog *base, const char *database, cJSON **tables,
                                     tp_err *err)
{
    struct catalog_local *c = (struct catalog_local *)base;
    if (catalog_local_name_ok(database, "database", err) < 0)
        return -1;
    buf prefix = BUF_INIT;
    buf_printf(&prefix, "_catalog/%s/tables/", database);
    struct catalog_local_listing listing = {c, cJSON_CreateArray(), err, 0};
    int rc = c->lake->ops->list(c->lake, prefix.data, catalog_local_collect_table, &listing, err);
    buf_free(&prefix);
    if (rc < 0 || listing.failed) {
        cJSON_Delete(listing.tables);
        return -1;
    }
    *tables = listing.tables;
    return 0;
}

static int catalog_local_put_table(catalog *base, const char *database, const cJSON *table_input,
                                   tp_err *err)
{
    struct catalog_local *c = (struct catalog_local *)base;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(table_input, "Name");
    if (!cJSON_IsString(name))
        return tp_err_set(err, TP_ERR_USAGE, "TableInput without a Name");
    cJSON *existing = NULL;
    if (catalog_local_get_table(base, database, name->valuestring, &existing, err) < 0)
        return -1;
    cJSON *table = cJSON_Duplicate(table_input, 1);
    double now = (double)time(NULL);
    const cJSON *created =
        existing ? cJSON_GetObjectItemCaseSensitive(existing, "CreateTime") : NULL;
    cJSON_AddStringToObject(table, "DatabaseName", database);
    cJSON_AddNumberToObject(table, "CreateTime",
                            created && cJSON_IsNumber(created) ? created->valuedouble : now);
    cJSON_AddNumberToObject(table, "UpdateTime", now);
    char *key = catalog_local_key(database, "tables", name->valuestring);
    int rc = catalog_local_write(c, key, table, err);
    free(key);
    cJSON_Delete(table);
    cJSON_Delete(existing);
    return rc;
}

static int catalog_local_get_partitions(catalog *base, const char *database, const char *table,
                                        cJSON **partitions, tp_err *err)
{
    struct catalog_local *c = (struct catalog_local *)base;
    if (catalog_local_name_ok(database, "database", err) < 0 ||
        catalog_local_name_ok(table, "table", err) < 0)
        return -1;
    char *key = catalog_local_key(database, "partitions", table);
    int rc = catalog_local_read(c, key, partitions, err);
    free(key);
    if (rc == 0 && !*partitions)
        *partitions = cJSON_CreateArray();
    return rc;
}

static int catalog_local_same_values(const cJSON *a, const cJSON *b)
{
    return cJSON_Compare(cJSON_GetObjectItemCaseSensitive(a, "Values"),
                         cJSON_GetObjectItemCaseSensitive(b, "Values"), 1);
}

/* Writes the table's partitions document (one atomic replace). */
static int catalog_local_write_partitions(struct catalog_local *c, const char *database,
                                          const char *table, const cJSON *partitions, tp_err *err)
{
    char *key = catalog_local_key(database, "partitions", table);
    int rc = catalog_local_write(c, key, partitions, err);
    free(key);
    return rc;
}

static int catalog_local_add_partitions(catalog *base, const char *database, const char *table,
                                        const cJSON *partition_inputs, tp_err *err)
{
    struct catalog_local *c = (struct catalog_local *)base;
    cJSON *partitions = NULL;
    if (catalog_local_get_partitions(base, database, table, &partitions, err) < 0)
        return -1;
    int added = 0;
    double now = (double)time(NULL);
    const cJSON *input;
    cJSON_ArrayForEach(input, partition_inputs)
    {
        int exists = 0;
        const cJSON *partition;
        cJSON_ArrayForEach(partition, partitions) exists |=
            catalog_local_same_values(partition, input);
        if (exists)
            continue;
        cJSON *copy = cJSON_Duplicate(input, 1);
        cJSON_AddStringToObject(copy, "DatabaseName", database);
        cJSON_AddStringToObject(copy, "TableName", table);
        cJSON_AddNumberToObject(copy, "CreationTime", now);
        cJSON_AddItemToArray(partitions, copy);
        added++;
    }
    int rc = added ? catalog_local_write_partitions(c, database, table, partitions, err) : 0;
    cJSON_Delete(partitions);
    return rc;
}

static int catalog_local_update_partitions(catalog *base, const char *database, const char *table,
                                           const cJSON *entries, tp_err *err)
{
    struct catalog_local *c = (struct catalog_local *)base;
    cJSON *partitions = NULL;
    if (catalog_local_get_partitions(base, database, table, &partitions, err) < 0)
        return -1;
    int updated = 0, missing = 0;
    char *first_missing = NULL;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, entries)
    {
        const cJSON *values = cJSON_GetObjectItemCaseSensitive(entry, "PartitionValueList");
        const cJSON *input = cJSON_GetObjectItemCaseSensitive(entry, "PartitionInput");
        cJSON *partition = partitions->child;
        while (partition &&
               !cJSON_Compare(cJSON_GetObjectItemCaseSensitive(partition, "Values"), values, 1))
            partition = partition->next;
        if (!partition || !cJSON_IsObject(input)) {
            if (missing++ == 0)
                first_missing = cJSON_PrintUnformatted(values);
            continue;
        }
        cJSON *copy = cJSON_Duplicate(input, 1);
        if (!cJSON_GetObjectItemCaseSensitive(copy, "Values"))
            cJSON_AddItemToObject(copy, "Values", cJSON_Duplicate(values, 1));
        cJSON_AddStringToObject(copy, "DatabaseName", database);
        cJSON_AddStringToObject(copy, "TableName", table);
        const cJSON *created = cJSON_GetObjectItemCaseSensitive(partition, "CreationTime");
        cJSON_AddNumberToObject(copy, "CreationTime",
                                cJSON_IsNumber(created) ? created->valuedouble
                                                        : (double)time(NULL));
        cJSON_ReplaceItemViaPointer(partitions, partition, copy);
        updated++;
    }
    int rc = updated ? catalog_local_write_partitions(c, database, table, partitions, err) : 0;
    if (rc == 0 && missing)
        rc = tp_err_set(err, TP_ERR_NOT_FOUND,
                        "updating partitions of %s.%s: partition %s does not exist%s", database,
                        table, first_missing ? first_missing : "?",
                        missing > 1 ? " (nor do others)" : "");
    free(first_missing);
    cJSON_Delete(partitions);
    return rc;
}

static void catalog_local_free(catalog *base)
{
    free(base);
}

static const struct catalog_ops catalog_local_ops = {
    "local",
    catalog_local_ensure_database,
    catalog_local_get_table,
    catalog_local_list_tables,
    catalog_local_put_table,
    catalog_local_get_partitions,
    catalog_local_add_partitions,
    catalog_local_update_partitions,
    catalog_local_free,
};

catalog *catalog_local_open(store *lake, tp_err *err)
{
    struct catalog_local *c = calloc(1, sizeof *c);
    if (!c) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    c->base.ops = &catalog_local_ops;
    c->lake = lake;
    return &c->base;
}
