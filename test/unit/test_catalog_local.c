/* Unit tests for lib/catalog_local: databases, tables (create/update),
 * partitions (add, update). */
#include "test/unit/check.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/catalog.h"

static cJSON *table_input(const char *name, const char *column_type)
{
    cJSON *input = cJSON_CreateObject();
    cJSON_AddStringToObject(input, "Name", name);
    cJSON *sd = cJSON_AddObjectToObject(input, "StorageDescriptor");
    cJSON *columns = cJSON_AddArrayToObject(sd, "Columns");
    cJSON *column = cJSON_CreateObject();
    cJSON_AddStringToObject(column, "Name", "price");
    cJSON_AddStringToObject(column, "Type", column_type);
    cJSON_AddItemToArray(columns, column);
    return input;
}

static cJSON *partition_input(const char *value)
{
    cJSON *input = cJSON_CreateObject();
    cJSON *values = cJSON_AddArrayToObject(input, "Values");
    cJSON_AddItemToArray(values, cJSON_CreateString(value));
    return input;
}

static void test_tables_and_partitions(void)
{
    char root[128];
    snprintf(root, sizeof root, "/tmp/tickpipe-catalog-test-%d", (int)getpid());
    tp_err err;
    store *lake = store_dir_open(root, &err);
    catalog *c = catalog_local_open(lake, &err);
    CHECK(c->ops->ensure_database(c, "db", &err) == 0);
    CHECK(c->ops->ensure_database(c, "db", &err) == 0);
    cJSON *table = NULL;
    CHECK(c->ops->get_table(c, "db", "ticks", &table, &err) == 0 && table == NULL);
    cJSON *input = table_input("ticks", "bigint");
    CHECK(c->ops->put_table(c, "db", input, &err) == 0);
    cJSON_Delete(input);
    input = table_input("ticks", "double");
    CHECK(c->ops->put_table(c, "db", input, &err) == 0);
    cJSON_Delete(input);
    CHECK(c->ops->get_table(c, "db", "ticks", &table, &err) == 0 && table != NULL);
    const cJSON *columns =
        cJSON_GetObjectItem(cJSON_GetObjectItem(table, "StorageDescriptor"), "Columns");
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(columns, 0), "Type")->valuestring, "double");
    CHECK_STR(cJSON_GetObjectItem(table, "DatabaseName")->valuestring, "db");
    cJSON_Delete(table);
    cJSON *tables = NULL;
    CHECK(c->ops->list_tables(c, "db", &tables, &err) == 0);
    CHECK_INT(cJSON_GetArraySize(tables), 1);
    cJSON_Delete(tables);
    cJSON *inputs = cJSON_CreateArray();
    cJSON_AddItemToArray(inputs, partition_input("2024-01-01"));
    cJSON_AddItemToArray(inputs, partition_input("2024-01-02"));
    CHECK(c->ops->add_partitions(c, "db", "ticks", inputs, &err) == 0);
    CHECK(c->ops->add_partitions(c, "db", "ticks", inputs, &err) == 0); /* existing: done */
    cJSON_Delete(inputs);
    cJSON *partitions = NULL;
    CHECK(c->ops->get_partitions(c, "db", "ticks", &partitions, &err) == 0);
    CHECK_INT(cJSON_GetArraySize(partitions), 2);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetArrayItem(partitions, 1), "TableName")->valuestring,
              "ticks");
    cJSON_Delete(partitions);

    /* update: the named partition is replaced, its CreationTime kept; a
     * partition that does not exist fails the call after the others */
    CHECK(c->ops->get_partitions(c, "db", "ticks", &partitions, &err) == 0);
    double created =
        cJSON_GetObjectItem(cJSON_GetArrayItem(partitions, 0), "CreationTime")->valuedouble;
    cJSON_Delete(partitions);
    cJSON *entries = cJSON_CreateArray();
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(entry, "PartitionValueList"),
                         cJSON_CreateString("2024-01-01"));
    cJSON *updated = partition_input("2024-01-01");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(updated, "StorageDescriptor"), "Location",
                            "file:///moved/ticks/dt=2024-01-01/");
    cJSON_AddItemToObject(entry, "PartitionInput", updated);
    cJSON_AddItemToArray(entries, entry);
    CHECK(c->ops->update_partitions(c, "db", "ticks", entries, &err) == 0);
    entry = cJSON_Duplicate(entry, 1);
    cJSON_ReplaceItemInArray(cJSON_GetObjectItem(entry, "PartitionValueList"), 0,
                             cJSON_CreateString("2030-01-01"));
    cJSON_AddItemToArray(entries, entry);
    CHECK(c->ops->update_partitions(c, "db", "ticks", entries, &err) < 0);
    CHECK(err.code == TP_ERR_NOT_FOUND && strstr(err.msg, "[\"2030-01-01\"]") != NULL);
    cJSON_Delete(entries);
    CHECK(c->ops->get_partitions(c, "db", "ticks", &partitions, &err) == 0);
    CHECK_INT(cJSON_GetArraySize(partitions), 2);
    const cJSON *first = cJSON_GetArrayItem(partitions, 0);
    CHECK_STR(cJSON_GetObjectItem(cJSON_GetObjectItem(first, "StorageDescriptor"), "Location")
                  ->valuestring,
              "file:///moved/ticks/dt=2024-01-01/");
    CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(first, "Values"), 0)->valuestring,
              "2024-01-01");
    CHECK_STR(cJSON_GetObjectItem(first, "TableName")->valuestring, "ticks");
    CHECK(cJSON_GetObjectItem(first, "CreationTime")->valuedouble == created);
    CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(partitions, 1), "StorageDescriptor") == NULL);
    cJSON_Delete(partitions);
    CHECK(c->ops->get_table(c, "db", "../etc", &table, &err) < 0);
    catalog_free(c);
    store_free(lake);
    char command[200];
    snprintf(command, sizeof command, "rm -rf %s", root);
    CHECK(system(command) == 0);
}

int main(void)
{
    RUN(test_tables_and_partitions);
    CHECK_EXIT();
}
