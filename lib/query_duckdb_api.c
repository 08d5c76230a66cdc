/*
 * query_duckdb_api: loading DuckDB at run time (dlopen + dlsym into struct
 * duckdb_api) and the two ways tickpipe runs SQL on it: statements whose
 * result does not matter, and queries streamed into a query_sink with
 * every value rendered as DuckDB's own text.
 */
#include "lib/query_duckdb_api.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/sql_guard.h"

#define DUCKDB_LIBRARY_NAME "libduckdb.so"
#define DUCKDB_HOW_TO_GET                                                                          \
    "run 'make deps' (it fetches DuckDB 1.4.4 from the npm registry into deps/duckdb) or set "     \
    "TICKPIPE_DUCKDB_LIB to a libduckdb.so"

/* ---- loading DuckDB --------------------------------------------------- */

static int duckdb_try_load(struct duckdb_api *api, const char *path, buf *tried)
{
    if (tried->len)
        buf_append_str(tried, ", ");
    buf_append_str(tried, path);
    if (access(path, R_OK) != 0)
        return -1;
    api->library = dlopen(path, RTLD_LAZY | RTLD_LOCAL);
    if (!api->library) {
        const char *why = dlerror();
        buf_printf(tried, " (%s)", why ? why : "dlopen failed");
        return -1;
    }
    return 0;
}

/* Resolves every function; 0, or -1 naming the first missing one. */
static int duckdb_resolve(struct duckdb_api *api, tp_err *err)
{
    struct {
        void **slot;
        const char *name;
    } symbols[] = {
#define DUCKDB_SYMBOL(field) {(void **)&api->field, "duckdb_" #field}
        DUCKDB_SYMBOL(library_version),
        DUCKDB_SYMBOL(create_config),
        DUCKDB_SYMBOL(set_config),
        DUCKDB_SYMBOL(destroy_config),
        DUCKDB_SYMBOL(open_ext),
        DUCKDB_SYMBOL(close),
        DUCKDB_SYMBOL(connect),
        DUCKDB_SYMBOL(disconnect),
        DUCKDB_SYMBOL(interrupt),
        DUCKDB_SYMBOL(query),
        DUCKDB_SYMBOL(destroy_result),
        DUCKDB_SYMBOL(result_error),
        DUCKDB_SYMBOL(prepare),
        DUCKDB_SYMBOL(prepare_error),
        DUCKDB_SYMBOL(destroy_prepare),
        DUCKDB_SYMBOL(prepared_statement_column_count),
        DUCKDB_SYMBOL(prepared_statement_column_name),
        DUCKDB_SYMBOL(prepared_statement_column_type),
        DUCKDB_SYMBOL(execute_prepared_streaming),
        DUCKDB_SYMBOL(column_count),
        DUCKDB_SYMBOL(fetch_chunk),
        DUCKDB_SYMBOL(data_chunk_get_size),
        DUCKDB_SYMBOL(data_chunk_get_vector),
        DUCKDB_SYMBOL(destroy_data_chunk),
        DUCKDB_SYMBOL(vector_get_data),
        DUCKDB_SYMBOL(vector_get_validity),
        DUCKDB_SYMBOL(get_table_names),
        DUCKDB_SYMBOL(get_list_size),
        DUCKDB_SYMBOL(get_list_child),
        DUCKDB_SYMBOL(get_varchar),
        DUCKDB_SYMBOL(destroy_value),
        DUCKDB_SYMBOL(free),
#undef DUCKDB_SYMBOL
    };
    for (size_t i = 0; i < sizeof symbols / sizeof *symbols; i++) {
        *symbols[i].slot = dlsym(api->library, symbols[i].name);
        if (!*symbols[i].slot)
            return tp_err_set(err, TP_ERR_NOT_FOUND,
                              "the DuckDB library lacks %s (tickpipe needs DuckDB 1.4.4; %s)",
                              symbols[i].name, DUCKDB_HOW_TO_GET);
    }
    return 0;
}

int duckdb_api_load(struct duckdb_api *api, const char *explicit_path, tp_err *err)
{
    memset(api, 0, sizeof *api);
    buf tried = BUF_INIT;
    int rc = -1;
    if (explicit_path && *explicit_path) {
        rc = duckdb_try_load(api, explicit_path, &tried);
    } else {
        /* next to the binary, where `make install` puts it (PREFIX/lib/tickpipe),
         * then deps/duckdb of the tree it was built in */
        char self[PATH_MAX];
        ssize_t length = readlink("/proc/self/exe", self, sizeof self - 1);
        if (length > 0) {
            self[length] = '\0';
            char *slash = strrchr(self, '/');
            if (slash)
                *slash = '\0';
            const char *candidates[] = {
                "%s/" DUCKDB_LIBRARY_NAME, "%s/../lib/tickpipe/" DUCKDB_LIBRARY_NAME,
                "%s/deps/duckdb/" DUCKDB_LIBRARY_NAME, "%s/../deps/duckdb/" DUCKDB_LIBRARY_NAME};
            for (size_t i = 0; rc < 0 && i < sizeof candidates / sizeof *candidates; i++) {
                buf path = BUF_INIT;
                buf_printf(&path, candidates[i], self);
                rc = duckdb_try_load(api, path.data, &tried);
                buf_free(&path);
            }
        }
    }
    if (rc < 0) {
        tp_err_set(err, TP_ERR_NOT_FOUND,
                   "the local SQL engine needs DuckDB's %s, not found (looked in %s): %s",
                   DUCKDB_LIBRARY_NAME, tried.data ? tried.data : "nowhere", DUCKDB_HOW_TO_GET);
        buf_free(&tried);
        return -1;
    }
    buf_free(&tried);
    if (duckdb_resolve(api, err) < 0) {
        dlclose(api->library);
        api->library = NULL;
        return -1;
    }
    return 0;
}

void duckdb_api_unload(struct duckdb_api *api)
{
    /* DuckDB stays mapped until exit: unloading a C++ library that ran
     * threads and static constructors gains nothing and risks much. */
    api->library = NULL;
}

/* ---- running SQL ------------------------------------------------------ */

int duckdb_exec(const struct duckdb_api *api, duckdb_connection connection, const char *sql,
                tp_err *err)
{
    duckdb_result result;
    memset(&result, 0, sizeof result);
    if (api->query(connection, sql, &result) == DuckDBError) {
        const char *why = api->result_error(&result);
        tp_err_set(err, TP_ERR_REMOTE, "%s", why ? why : "DuckDB query failed");
        api->destroy_result(&result);
        return -1;
    }
    api->destroy_result(&result);
    return 0;
}

static enum query_kind duckdb_kind(duckdb_type type)
{
    switch (type) {
    case DUCKDB_TYPE_BOOLEAN:
        return QUERY_KIND_BOOLEAN;
    case DUCKDB_TYPE_TINYINT:
    case DUCKDB_TYPE_SMALLINT:
    case DUCKDB_TYPE_INTEGER:
    case DUCKDB_TYPE_BIGINT:
    case DUCKDB_TYPE_UTINYINT:
    case DUCKDB_TYPE_USMALLINT:
    case DUCKDB_TYPE_UINTEGER:
    case DUCKDB_TYPE_UBIGINT:
    case DUCKDB_TYPE_HUGEINT:
    case DUCKDB_TYPE_UHUGEINT:
    case DUCKDB_TYPE_FLOAT:
    case DUCKDB_TYPE_DOUBLE:
    case DUCKDB_TYPE_DECIMAL:
    case DUCKDB_TYPE_BIGNUM:
        return QUERY_KIND_NUMBER;
    default:
        return QUERY_KIND_TEXT;
    }
}

static const char *duckdb_type_name(duckdb_type type)
{
    static const char *const names[] = {
        [DUCKDB_TYPE_BOOLEAN] = "BOOLEAN",
        [DUCKDB_TYPE_TINYINT] = "TINYINT",
        [DUCKDB_TYPE_SMALLINT] = "SMALLINT",
        [DUCKDB_TYPE_INTEGER] = "INTEGER",
        [DUCKDB_TYPE_BIGINT] = "BIGINT",
        [DUCKDB_TYPE_UTINYINT] = "UTINYINT",
        [DUCKDB_TYPE_USMALLINT] = "USMALLINT",
        [DUCKDB_TYPE_UINTEGER] = "UINTEGER",
        [DUCKDB_TYPE_UBIGINT] = "UBIGINT",
        [DUCKDB_TYPE_FLOAT] = "FLOAT",
        [DUCKDB_TYPE_DOUBLE] = "DOUBLE",
        [DUCKDB_TYPE_TIMESTAMP] = "TIMESTAMP",
        [DUCKDB_TYPE_DATE] = "DATE",
        [DUCKDB_TYPE_TIME] = "TIME",
        [DUCKDB_TYPE_INTERVAL] = "INTERVAL",
        [DUCKDB_TYPE_HUGEINT] = "HUGEINT",
        [DUCKDB_TYPE_VARCHAR] = "VARCHAR",
        [DUCKDB_TYPE_BLOB] = "BLOB",
        [DUCKDB_TYPE_DECIMAL] = "DECIMAL",
        [DUCKDB_TYPE_TIMESTAMP_S] = "TIMESTAMP_S",
        [DUCKDB_TYPE_TIMESTAMP_MS] = "TIMESTAMP_MS",
        [DUCKDB_TYPE_TIMESTAMP_NS] = "TIMESTAMP_NS",
        [DUCKDB_TYPE_ENUM] = "ENUM",
        [DUCKDB_TYPE_LIST] = "LIST",
        [DUCKDB_TYPE_STRUCT] = "STRUCT",
        [DUCKDB_TYPE_MAP] = "MAP",
        [DUCKDB_TYPE_UUID] = "UUID",
        [DUCKDB_TYPE_UNION] = "UNION",
        [DUCKDB_TYPE_BIT] = "BIT",
        [DUCKDB_TYPE_TIME_TZ] = "TIME WITH TIME ZONE",
        [DUCKDB_TYPE_TIMESTAMP_TZ] = "TIMESTAMP WITH TIME ZONE",
        [DUCKDB_TYPE_UHUGEINT] = "UHUGEINT",
        [DUCKDB_TYPE_ARRAY] = "ARRAY",
        [DUCKDB_TYPE_BIGNUM] = "BIGNUM",
        [DUCKDB_TYPE_SQLNULL] = "NULL",
    };
    if ((size_t)type < sizeof names / sizeof *names && names[type])
        return names[type];
    return "UNKNOWN";
}

/* Offset just past the last token that is not ';' (the statement without
 * its trailing semicolons and comments). */
static size_t duckdb_statement_end(const char *sql)
{
    struct sql_lexer lexer;
    struct sql_token token;
    size_t end = 0;
    sql_lexer_init(&lexer, sql, strlen(sql));
    for (;;) {
        enum sql_token_type type = sql_lexer_next(&lexer, &token);
        if (type == SQL_TOKEN_END || type == SQL_TOKEN_ERROR)
            break;
        if (!sql_token_is_symbol(&lexer, &token, ';'))
            end = token.offset + token.length;
    }
    return end ? end : strlen(sql);
}

/* Streams one result; every column is VARCHAR (the query is wrapped in a
 * cast, see duckdb_run_select). */
static int duckdb_stream(const struct duckdb_api *api, duckdb_result *result, size_t columns,
                         const struct query_sink *sink, long long *rows, atomic_int *cancelled,
                         tp_err *err)
{
    struct query_value *values = calloc(columns ? columns : 1, sizeof *values);
    if (!values)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    int rc = 0;
    for (;;) {
        duckdb_data_chunk chunk = api->fetch_chunk(*result);
        if (!chunk) {
            const char *why = api->result_error(result);
            if (why && *why)
                rc = tp_err_set(err, TP_ERR_REMOTE, "%s", why);
            break;
        }
        duckdb_idx size = api->data_chunk_get_size(chunk);
        duckdb_string_t **data = calloc(columns ? columns : 1, sizeof(duckdb_string_t *));
        uint64_t **validity = calloc(columns ? columns : 1, sizeof *validity);
        if (!data || !validity) {
            free(data);
            free(validity);
            api->destroy_data_chunk(&chunk);
            rc = tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
            break;
        }
        for (size_t c = 0; c < columns; c++) {
            duckdb_vector vector = api->data_chunk_get_vector(chunk, c);
            data[c] = api->vector_get_data(vector);
            validity[c] = api->vector_get_validity(vector);
        }
        for (duckdb_idx r = 0; rc == 0 && r < size; r++) {
            for (size_t c = 0; c < columns; c++) {
                if (validity[c] && !((validity[c][r / 64] >> (r % 64)) & 1)) {
                    values[c].text = NULL;
                    values[c].length = 0;
                    continue;
                }
                duckdb_string_t *s = &data[c][r];
                values[c].length = s->value.inlined.length;
                values[c].text =
                    values[c].length <= 12 ? s->value.inlined.inlined : s->value.pointer.ptr;
            }
            if (sink->row(sink->context, values, columns, err) != 0)
                rc = -1;
            else
                (*rows)++;
        }
        free(data);
        free(validity);
        api->destroy_data_chunk(&chunk);
        if (rc == 0 && atomic_load(cancelled))
            rc = tp_err_set(err, TP_ERR_USAGE, "interrupted");
        if (rc)
            break;
    }
    free(values);
    return rc;
}

int duckdb_run_select(const struct duckdb_api *api, duckdb_connection connection, const char *sql,
                      const char *original_sql, const struct query_sink *sink, long long *rows,
                      atomic_int *cancelled, tp_err *err)
{
    duckdb_prepared_statement prepared = NULL;
    if (api->prepare(connection, sql, &prepared) == DuckDBError) {
        const char *why = api->prepare_error(prepared);
        tp_err_set(err, TP_ERR_REMOTE, "%s", why ? why : "DuckDB could not prepare the query");
        api->destroy_prepare(&prepared);
        /* positions in the message should point into what the user wrote */
        if (original_sql && strcmp(original_sql, sql) != 0 &&
            api->prepare(connection, original_sql, &prepared) == DuckDBError) {
            why = api->prepare_error(prepared);
            if (why)
                tp_err_set(err, TP_ERR_REMOTE, "%s", why);
        }
        api->destroy_prepare(&prepared);
        return -1;
    }
    size_t count = api->prepared_statement_column_count(prepared);
    struct query_column *columns = calloc(count ? count : 1, sizeof *columns);
    if (!columns) {
        api->destroy_prepare(&prepared);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < count; i++) {
        duckdb_type type = api->prepared_statement_column_type(prepared, i);
        /* DuckDB allocates the name; it is ours to free */
        const char *name = api->prepared_statement_column_name(prepared, i);
        columns[i].name = strdup(name ? name : "");
        api->free((void *)name);
        columns[i].type = duckdb_type_name(type);
        columns[i].kind = duckdb_kind(type);
    }
    /* Every value as DuckDB's own text: one decoder for every type. */
    buf wrapped = BUF_INIT;
    buf_printf(&wrapped, "SELECT CAST(COLUMNS(*) AS VARCHAR) FROM (\n%.*s\n)",
               (int)duckdb_statement_end(sql), sql);
    duckdb_prepared_statement as_text = NULL;
    int rc = -1;
    if (api->prepare(connection, wrapped.data, &as_text) == DuckDBError ||
        api->prepared_statement_column_count(as_text) != count) {
        /* SHOW, DESCRIBE, EXPLAIN...: not a subquery; they return text */
        api->destroy_prepare(&as_text);
        as_text = prepared;
        prepared = NULL;
        for (size_t i = 0; i < count; i++)
            if (api->prepared_statement_column_type(as_text, i) != DUCKDB_TYPE_VARCHAR) {
                tp_err_set(err, TP_ERR_USAGE,
                           "column %zu (%s) of this statement has type %s; "
                           "run it inside a SELECT to see it",
                           i + 1, columns[i].name, columns[i].type);
                goto done;
            }
    }
    duckdb_result result;
    memset(&result, 0, sizeof result);
    if (api->execute_prepared_streaming(as_text, &result) == DuckDBError) {
        const char *why = api->result_error(&result);
        tp_err_set(err, TP_ERR_REMOTE, "%s", why ? why : "DuckDB query failed");
        api->destroy_result(&result);
        goto done;
    }
    if (sink->begin(sink->context, columns, count, err) == 0)
        rc = duckdb_stream(api, &result, count, sink, rows, cancelled, err);
    api->destroy_result(&result);
done:
    api->destroy_prepare(&as_text);
    api->destroy_prepare(&prepared);
    for (size_t i = 0; i < count; i++)
        free((char *)columns[i].name);
    free(columns);
    buf_free(&wrapped);
    return rc;
}
