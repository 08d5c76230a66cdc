/*
 * query_duckdb_api: the subset of DuckDB's C API the local SQL engine uses,
 * declared here (types copied from duckdb.h of DuckDB 1.4.4, the version
 * `make deps` fetches into deps/duckdb/) so tickpipe builds where DuckDB is
 * absent. The functions are never linked: query_duckdb.c resolves them
 * with dlsym into struct duckdb_api when a local query runs.
 * Only the layouts of duckdb_result and duckdb_string_t matter (passed by
 * value or read in place); every other handle is opaque.
 * Errors: 0 or -1 with err set; DuckDB's messages are kept whole (they
 * carry the position of a SQL error).
 */
#ifndef TICKPIPE_QUERY_DUCKDB_API_H
#define TICKPIPE_QUERY_DUCKDB_API_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "lib/err.h"
#include "lib/query.h"

typedef uint64_t duckdb_idx;

typedef enum { DuckDBSuccess = 0, DuckDBError = 1 } duckdb_state;

/* The values of duckdb_type this engine looks at (duckdb.h DUCKDB_TYPE). */
typedef enum {
    DUCKDB_TYPE_INVALID = 0,
    DUCKDB_TYPE_BOOLEAN = 1,
    DUCKDB_TYPE_TINYINT = 2,
    DUCKDB_TYPE_SMALLINT = 3,
    DUCKDB_TYPE_INTEGER = 4,
    DUCKDB_TYPE_BIGINT = 5,
    DUCKDB_TYPE_UTINYINT = 6,
    DUCKDB_TYPE_USMALLINT = 7,
    DUCKDB_TYPE_UINTEGER = 8,
    DUCKDB_TYPE_UBIGINT = 9,
    DUCKDB_TYPE_FLOAT = 10,
    DUCKDB_TYPE_DOUBLE = 11,
    DUCKDB_TYPE_TIMESTAMP = 12,
    DUCKDB_TYPE_DATE = 13,
    DUCKDB_TYPE_TIME = 14,
    DUCKDB_TYPE_INTERVAL = 15,
    DUCKDB_TYPE_HUGEINT = 16,
    DUCKDB_TYPE_VARCHAR = 17,
    DUCKDB_TYPE_BLOB = 18,
    DUCKDB_TYPE_DECIMAL = 19,
    DUCKDB_TYPE_TIMESTAMP_S = 20,
    DUCKDB_TYPE_TIMESTAMP_MS = 21,
    DUCKDB_TYPE_TIMESTAMP_NS = 22,
    DUCKDB_TYPE_ENUM = 23,
    DUCKDB_TYPE_LIST = 24,
    DUCKDB_TYPE_STRUCT = 25,
    DUCKDB_TYPE_MAP = 26,
    DUCKDB_TYPE_UUID = 27,
    DUCKDB_TYPE_UNION = 28,
    DUCKDB_TYPE_BIT = 29,
    DUCKDB_TYPE_TIME_TZ = 30,
    DUCKDB_TYPE_TIMESTAMP_TZ = 31,
    DUCKDB_TYPE_UHUGEINT = 32,
    DUCKDB_TYPE_ARRAY = 33,
    DUCKDB_TYPE_BIGNUM = 35,
    DUCKDB_TYPE_SQLNULL = 36,
} duckdb_type;

typedef struct duckdb_database_handle *duckdb_database;
typedef struct duckdb_connection_handle *duckdb_connection;
typedef struct duckdb_config_handle *duckdb_config;
typedef struct duckdb_prepared_handle *duckdb_prepared_statement;
typedef struct duckdb_chunk_handle *duckdb_data_chunk;
typedef struct duckdb_vector_handle *duckdb_vector;
typedef struct duckdb_value_handle *duckdb_value;

/* duckdb.h: duckdb_result (the deprecated fields keep the layout). */
typedef struct {
    duckdb_idx deprecated_column_count;
    duckdb_idx deprecated_row_count;
    duckdb_idx deprecated_rows_changed;
    void *deprecated_columns;
    char *deprecated_error_message;
    void *internal_data;
} duckdb_result;

/* duckdb.h: duckdb_string_t, a VARCHAR in a vector: inlined up to 12
 * bytes, else a 4-byte prefix and a pointer. */
typedef struct {
    union {
        struct {
            uint32_t length;
            char prefix[4];
            char *ptr;
        } pointer;
        struct {
            uint32_t length;
            char inlined[12];
        } inlined;
    } value;
} duckdb_string_t;

/* Function pointers, named after the C functions without "duckdb_". */
struct duckdb_api {
    void *library; /* the dlopen handle */
    const char *(*library_version)(void);
    duckdb_state (*create_config)(duckdb_config *config);
    duckdb_state (*set_config)(duckdb_config config, const char *name, const char *option);
    void (*destroy_config)(duckdb_config *config);
    duckdb_state (*open_ext)(const char *path, duckdb_database *database, duckdb_config config,
                             char **error);
    void (*close)(duckdb_database *database);
    duckdb_state (*connect)(duckdb_database database, duckdb_connection *connection);
    void (*disconnect)(duckdb_connection *connection);
    void (*interrupt)(duckdb_connection connection);
    duckdb_state (*query)(duckdb_connection connection, const char *sql, duckdb_result *result);
    void (*destroy_result)(duckdb_result *result);
    const char *(*result_error)(duckdb_result *result);
    duckdb_state (*prepare)(duckdb_connection connection, const char *sql,
                            duckdb_prepared_statement *prepared);
    const char *(*prepare_error)(duckdb_prepared_statement prepared);
    void (*destroy_prepare)(duckdb_prepared_statement *prepared);
    duckdb_idx (*prepared_statement_column_count)(duckdb_prepared_statement prepared);
    /* the name is allocated: release it with free below */
    const char *(*prepared_statement_column_name)(duckdb_prepared_statement prepared,
                                                  duckdb_idx column);
    duckdb_type (*prepared_statement_column_type)(duckdb_prepared_statement prepared,
                                                  duckdb_idx column);
    duckdb_state (*execute_prepared_streaming)(duckdb_prepared_statement prepared,
                                               duckdb_result *result);
    duckdb_idx (*column_count)(duckdb_result *result);
    duckdb_data_chunk (*fetch_chunk)(duckdb_result result);
    duckdb_idx (*data_chunk_get_size)(duckdb_data_chunk chunk);
    duckdb_vector (*data_chunk_get_vector)(duckdb_data_chunk chunk, duckdb_idx column);
    void (*destroy_data_chunk)(duckdb_data_chunk *chunk);
    void *(*vector_get_data)(duckdb_vector vector);
    uint64_t *(*vector_get_validity)(duckdb_vector vector);
    duckdb_value (*get_table_names)(duckdb_connection connection, const char *sql, bool qualified);
    duckdb_idx (*get_list_size)(duckdb_value value);
    duckdb_value (*get_list_child)(duckdb_value value, duckdb_idx index);
    char *(*get_varchar)(duckdb_value value);
    void (*destroy_value)(duckdb_value *value);
    void (*free)(void *pointer);
};

/* Loads libduckdb from explicit_path, or else from next to the running
 * binary, <binary dir>/deps/duckdb/ or <binary dir>/../deps/duckdb/.
 * Without it: -1, TP_ERR_NOT_FOUND, and a message saying how to get it. */
int duckdb_api_load(struct duckdb_api *api, const char *explicit_path, tp_err *err);
void duckdb_api_unload(struct duckdb_api *api);

/* Runs statements whose result is not needed; DuckDB's message on error. */
int duckdb_exec(const struct duckdb_api *api, duckdb_connection connection, const char *sql,
                tp_err *err);

/* Runs one query and streams it into sink, each value as DuckDB renders it
 * as VARCHAR (column kinds from the real types); *rows counts rows sent.
 * When sql fails to prepare and differs from original_sql (a rewrite),
 * the error of original_sql is reported, so positions match what the
 * user wrote. Stops with an error once *cancelled is set. */
int duckdb_run_select(const struct duckdb_api *api, duckdb_connection connection, const char *sql,
                      const char *original_sql, const struct query_sink *sink, long long *rows,
                      atomic_int *cancelled, tp_err *err);

#endif
