/*
 * catalog_glue: the catalog vtable over aws/glue. put_table creates or
 * updates (a create that races another writer falls back to update);
 * add_partitions is BatchCreatePartition in chunks with AlreadyExists
 * counted as done; update_partitions is BatchUpdatePartition in chunks;
 * listings follow NextToken to the end.
 */
#include "aws/catalog_glue.h"

#include <stdlib.h>
#include <string.h>

struct catalog_glue {
    catalog base;
    glue_client *glue;
};

static glue_client *catalog_glue_client(catalog *base)
{
    return ((struct catalog_glue *)base)->glue;
}

static int catalog_glue_ensure_database(catalog *base, const char *database, tp_err *err)
{
    cJSON *existing = NULL;
    if (glue_get_database(catalog_glue_client(base), database, &existing, err) < 0)
        return -1;
    if (existing) {
        cJSON_Delete(existing);
        return 0;
    }
    return glue_create_database(catalog_glue_client(base), database, err);
}

static int catalog_glue_get_table(catalog *base, const char *database, const char *name,
                                  cJSON **table, tp_err *err)
{
    return glue_get_table(catalog_glue_client(base), database, name, table, err);
}

static int catalog_glue_list_tables(catalog *base, const char *database, cJSON **tables,
                                    tp_err *err)
{
    return glue_get_tables(catalog_glue_client(base), database, tables, err);
}

static int catalog_glue_put_table(catalog *base, const char *database, const cJSON *table_input,
                                  tp_err *err)
{
    glue_client *glue = catalog_glue_client(base);
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(table_input, "Name");
    if (!cJSON_IsString(name))
        return tp_err_set(err, TP_ERR_USAGE, "TableInput without a Name");
    cJSON *existing = NULL;
    if (glue_get_table(glue, database, name->valuestring, &existing, err) < 0)
        return -1;
    if (existing) {
        cJSON_Delete(existing);
        return glue_update_table(glue, database, table_input, err);
    }
    if (glue_create_table(glue, database, table_input, err) == 0)
        return 0;
    if (strcmp(glue_error_code(glue), "AlreadyExistsException") != 0)
        return -1;
    tp_err_clear(err); /* created meanwhile by someone else: update it */
    return glue_update_table(glue, database, table_input, err);
}

static int catalog_glue_get_partitions(catalog *base, const char *database, const char *table,
                                       cJSON **partitions, tp_err *err)
{
    return glue_get_partitions(catalog_glue_client(base), database, table, partitions, err);
}

static int catalog_glue_add_partitions(catalog *base, const char *database, const char *table,
                                       const cJSON *partition_inputs, tp_err *err)
{
    return glue_batch_create_partition(catalog_glue_client(base), database, table, partition_inputs,
                                       NULL, err);
}

static int catalog_glue_update_partitions(catalog *base, const char *database, const char *table,
                                          const cJSON *entries, tp_err *err)
{
    return glue_batch_update_partition(catalog_glue_client(base), database, table, entries, NULL,
                                       err);
}

static void catalog_glue_free(catalog *base)
{
    free(base);
}

static const struct catalog_ops catalog_glue_ops = {
    "glue",
    catalog_glue_ensure_database,
    catalog_glue_get_table,
    catalog_glue_list_tables,
    catalog_glue_put_table,
    catalog_glue_get_partitions,
    catalog_glue_add_partitions,
    catalog_glue_update_partitions,
    catalog_glue_free,
};

catalog *catalog_glue_open(glue_client *glue, tp_err *err)
{
    struct catalog_glue *c = calloc(1, sizeof *c);
    if (!c) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    c->base.ops = &catalog_glue_ops;
    c->glue = glue;
    return &c->base;
}
