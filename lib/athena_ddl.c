/*
 * athena_ddl: renders Glue Table documents as Athena (Hive) DDL.
 * Identifiers are backquoted (a backquote doubled); string literals are
 * single-quoted with backslash escapes, as Hive's lexer reads them.
 */
#include "lib/athena_ddl.h"

#include <string.h>

static void athena_ddl_identifier(buf *out, const char *name)
{
    buf_append_char(out, '`');
    for (const char *p = name; *p; p++) {
        if (*p == '`')
            buf_append_char(out, '`');
        buf_append_char(out, *p);
    }
    buf_append_char(out, '`');
}

static void athena_ddl_literal(buf *out, const char *text)
{
    buf_append_char(out, '\'');
    for (const char *p = text; *p; p++) {
        if (*p == '\'' || *p == '\\')
            buf_append_char(out, '\\');
        buf_append_char(out, *p);
    }
    buf_append_char(out, '\'');
}

static const char *athena_ddl_string(const cJSON *object, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* "  `name` type,\n" lines for a list of Glue Columns. */
static void athena_ddl_columns(buf *out, const cJSON *columns)
{
    const cJSON *column;
    int first = 1;
    cJSON_ArrayForEach(column, columns)
    {
        const char *name = athena_ddl_string(column, "Name");
        const char *type = athena_ddl_string(column, "Type");
        buf_append_str(out, first ? "\n  " : ", \n  ");
        athena_ddl_identifier(out, name ? name : "");
        buf_printf(out, " %s", type ? type : "string");
        first = 0;
    }
}

/* "  'key'='value', ..." for a Parameters map. */
static void athena_ddl_properties(buf *out, const cJSON *parameters)
{
    const cJSON *parameter;
    int first = 1;
    cJSON_ArrayForEach(parameter, parameters)
    {
        buf_append_str(out, first ? "\n  " : ", \n  ");
        athena_ddl_literal(out, parameter->string);
        buf_append_char(out, '=');
        athena_ddl_literal(out, cJSON_IsString(parameter) ? parameter->valuestring : "");
        first = 0;
    }
}

int athena_ddl_create_table(const cJSON *table, const char *database, buf *out, tp_err *err)
{
    const char *name = athena_ddl_string(table, "Name");
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(table, "StorageDescriptor");
    if (!name || !cJSON_IsObject(sd))
        return tp_err_set(err, TP_ERR_PARSE, "table %s: no Name or StorageDescriptor",
                          name ? name : "(unnamed)");
    buf_append_str(out, "CREATE EXTERNAL TABLE ");
    if (database) {
        athena_ddl_identifier(out, database);
        buf_append_char(out, '.');
    }
    athena_ddl_identifier(out, name);
    buf_append_char(out, '(');
    athena_ddl_columns(out, cJSON_GetObjectItemCaseSensitive(sd, "Columns"));
    buf_append_str(out, ")\n");
    const cJSON *keys = cJSON_GetObjectItemCaseSensitive(table, "PartitionKeys");
    if (cJSON_GetArraySize(keys) > 0) {
        buf_append_str(out, "PARTITIONED BY ( ");
        athena_ddl_columns(out, keys);
        buf_append_str(out, ")\n");
    }
    const cJSON *serde = cJSON_GetObjectItemCaseSensitive(sd, "SerdeInfo");
    const char *library = athena_ddl_string(serde, "SerializationLibrary");
    if (library) {
        buf_append_str(out, "ROW FORMAT SERDE \n  ");
        athena_ddl_literal(out, library);
        buf_append_str(out, " \n");
        const cJSON *serde_parameters = cJSON_GetObjectItemCaseSensitive(serde, "Parameters");
        if (cJSON_GetArraySize(serde_parameters) > 0) {
            buf_append_str(out, "WITH SERDEPROPERTIES ( ");
            athena_ddl_properties(out, serde_parameters);
            buf_append_str(out, ") \n");
        }
    }
    const char *input_format = athena_ddl_string(sd, "InputFormat");
    const char *output_format = athena_ddl_string(sd, "OutputFormat");
    if (input_format && output_format) {
        buf_append_str(out, "STORED AS INPUTFORMAT \n  ");
        athena_ddl_literal(out, input_format);
        buf_append_str(out, " \nOUTPUTFORMAT \n  ");
        athena_ddl_literal(out, output_format);
        buf_append_char(out, '\n');
    }
    const char *location = athena_ddl_string(sd, "Location");
    if (location) {
        buf_append_str(out, "LOCATION\n  ");
        athena_ddl_literal(out, location);
        buf_append_char(out, '\n');
    }
    const cJSON *parameters = cJSON_GetObjectItemCaseSensitive(table, "Parameters");
    if (cJSON_GetArraySize(parameters) > 0) {
        buf_append_str(out, "TBLPROPERTIES (");
        athena_ddl_properties(out, parameters);
        buf_append_char(out, ')');
    }
    buf_append_str(out, ";\n");
    return 0;
}
