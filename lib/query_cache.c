/*
 * query_cache: keeps catalog tables in a DuckDB database file so repeated
 * queries skip gunzip and JSON parsing (see query_cache.h for the
 * consistency rules). The manifest (tickpipe_objects) and the rows it
 * describes change in the same transaction, so a crash leaves a cache
 * that is smaller, never wrong.
 */
#include "lib/query_cache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fs.h"
#include "lib/log.h"

#define QUERY_CACHE_BATCH_OBJECTS 64
#define QUERY_CACHE_BATCH_BYTES   (256LL << 20)

char *query_cache_default_path(const char *lake_root, const char *database)
{
    buf path = BUF_INIT;
    buf_printf(&path, "%s/_cache/duckdb/%s.duckdb", lake_root, database);
    return buf_detach(&path);
}

int query_cache_attach(const struct duckdb_api *api, duckdb_connection connection, const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return 0;
    buf sql = BUF_INIT;
    buf_append_str(&sql, "ATTACH ");
    duckdb_quote_literal(&sql, path);
    buf_append_str(&sql, " AS " QUERY_CACHE_ALIAS " (READ_ONLY)");
    tp_err err;
    int rc = duckdb_exec(api, connection, sql.data, &err);
    buf_free(&sql);
    if (rc < 0) {
        log_info("not using the cache %s: %s", path, err.msg);
        return 0;
    }
    return 1;
}

/* A sink that collects two text columns into a cJSON object {a: b}. */
static int query_cache_pairs_begin(void *context, const struct query_column *columns, size_t count,
                                   tp_err *err)
{
    (void)context;
    (void)columns;
    if (count != 2)
        return tp_err_set(err, TP_ERR_INTERNAL, "cache manifest: %zu columns", count);
    return 0;
}

static int query_cache_pairs_row(void *context, const struct query_value *values, size_t count,
                                 tp_err *err)
{
    (void)count;
    if (!values[0].text || !values[1].text)
        return 0;
    char *key = strndup(values[0].text, values[0].length);
    char *value = strndup(values[1].text, values[1].length);
    if (!key || !value || !cJSON_AddStringToObject(context, key, value)) {
        free(key);
        free(value);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    free(key);
    free(value);
    return 0;
}

static int query_cache_pairs(const struct duckdb_api *api, duckdb_connection connection,
                             const char *sql, cJSON **pairs, tp_err *err)
{
    *pairs = cJSON_CreateObject();
    struct query_sink sink = {query_cache_pairs_begin, query_cache_pairs_row, *pairs};
    long long rows = 0;
    atomic_int never;
    atomic_init(&never, 0);
    if (duckdb_run_select(api, connection, sql, NULL, &sink, &rows, &never, err) < 0) {
        cJSON_Delete(*pairs);
        *pairs = NULL;
        return -1;
    }
    return 0;
}

int query_cache_manifest(const struct duckdb_api *api, duckdb_connection connection,
                         const char *schema_prefix, const struct duckdb_table *table,
                         cJSON **objects, tp_err *err)
{
    *objects = NULL;
    buf sql = BUF_INIT;
    buf_printf(&sql,
               "SELECT name, signature FROM %smain.tickpipe_tables WHERE name = ", schema_prefix);
    duckdb_quote_literal(&sql, table->name);
    cJSON *signatures = NULL;
    int rc = query_cache_pairs(api, connection, sql.data, &signatures, err);
    const cJSON *signature = cJSON_GetObjectItemCaseSensitive(signatures, table->name);
    if (rc == 0 && cJSON_IsString(signature) &&
        strcmp(signature->valuestring, table->signature) == 0) {
        buf_reset(&sql);
        buf_printf(&sql, "SELECT path, etag FROM %smain.tickpipe_objects WHERE table_name = ",
                   schema_prefix);
        duckdb_quote_literal(&sql, table->name);
        rc = query_cache_pairs(api, connection, sql.data, objects, err);
    }
    cJSON_Delete(signatures);
    buf_free(&sql);
    if (rc < 0)
        tp_err_prefix(err, "reading the cache manifest");
    return rc;
}

struct query_cache_session {
    const struct duckdb_api *api;
    duckdb_connection connection;
};

static int query_cache_exec(struct query_cache_session *s, const char *sql, tp_err *err)
{
    if (duckdb_exec(s->api, s->connection, sql, err) == 0)
        return 0;
    tp_err ignored;
    duckdb_exec(s->api, s->connection, "ROLLBACK", &ignored);
    return -1;
}

/* Drops and recreates the table's cache (new table or new schema). */
static int query_cache_recreate(struct query_cache_session *s, const struct duckdb_table *table,
                                tp_err *err)
{
    buf sql = BUF_INIT;
    buf_append_str(&sql, "BEGIN; DROP TABLE IF EXISTS data.");
    duckdb_quote_identifier(&sql, table->name);
    buf_append_str(&sql, "; CREATE TABLE data.");
    duckdb_quote_identifier(&sql, table->name);
    buf_append_str(&sql, " AS ");
    duckdb_table_reader_sql(table, NULL, 0, 1, &sql);
    buf_append_str(&sql, "; DELETE FROM main.tickpipe_objects WHERE table_name = ");
    duckdb_quote_literal(&sql, table->name);
    buf_append_str(&sql, "; DELETE FROM main.tickpipe_tables WHERE name = ");
    duckdb_quote_literal(&sql, table->name);
    buf_append_str(&sql, "; INSERT INTO main.tickpipe_tables VALUES (");
    duckdb_quote_literal(&sql, table->name);
    buf_append_str(&sql, ", ");
    duckdb_quote_literal(&sql, table->signature);
    buf_append_str(&sql, "); COMMIT;");
    int rc = query_cache_exec(s, sql.data, err);
    buf_free(&sql);
    return rc;
}

/* Removes the rows and manifest entries of objects left in gone. */
static int query_cache_forget(struct query_cache_session *s, const struct duckdb_table *table,
                              const cJSON *gone, tp_err *err)
{
    if (cJSON_GetArraySize(gone) == 0)
        return 0;
    buf list = BUF_INIT, sql = BUF_INIT;
    const cJSON *item;
    cJSON_ArrayForEach(item, gone)
    {
        buf_append_str(&list, list.len ? ", " : "");
        duckdb_quote_literal(&list, item->string);
    }
    buf_append_str(&sql, "BEGIN; DELETE FROM data.");
    duckdb_quote_identifier(&sql, table->name);
    buf_printf(&sql,
               " WHERE \"_tickpipe_object\" IN (%s); "
               "DELETE FROM main.tickpipe_objects WHERE table_name = ",
               list.data);
    duckdb_quote_literal(&sql, table->name);
    buf_printf(&sql, " AND path IN (%s); COMMIT;", list.data);
    int rc = query_cache_exec(s, sql.data, err);
    log_info("cache: %s: dropped the rows of %d changed or removed objects", table->name,
             cJSON_GetArraySize(gone));
    buf_free(&list);
    buf_free(&sql);
    return rc;
}

/* Appends the objects at indexes, with their manifest entries, in one
 * transaction. */
static int query_cache_append(struct query_cache_session *s, const struct duckdb_table *table,
                              const size_t *indexes, size_t count, tp_err *err)
{
    buf sql = BUF_INIT;
    buf_append_str(&sql, "BEGIN; INSERT INTO data.");
    duckdb_quote_identifier(&sql, table->name);
    buf_append_char(&sql, ' ');
    duckdb_table_reader_sql(table, indexes, count, 1, &sql);
    buf_append_str(&sql, "; INSERT INTO main.tickpipe_objects VALUES ");
    for (size_t i = 0; i < count; i++) {
        const struct duckdb_object *o = &table->objects[indexes[i]];
        buf_append_str(&sql, i ? ", (" : "(");
        duckdb_quote_literal(&sql, table->name);
        buf_append_str(&sql, ", ");
        duckdb_quote_literal(&sql, o->path);
        buf_append_str(&sql, ", ");
        duckdb_quote_literal(&sql, o->etag);
        buf_append_char(&sql, ')');
    }
    buf_append_str(&sql, "; COMMIT;");
    int rc = query_cache_exec(s, sql.data, err);
    buf_free(&sql);
    return rc;
}

static int query_cache_refresh_table(struct query_cache_session *s,
                                     const struct duckdb_table *table, tp_err *err)
{
    cJSON *cached = NULL;
    if (query_cache_manifest(s->api, s->connection, "", table, &cached, err) < 0)
        return -1;
    if (!cached) {
        if (query_cache_recreate(s, table, err) < 0)
            return -1;
        cached = cJSON_CreateObject();
    }
    size_t *missing = calloc(table->object_count ? table->object_count : 1, sizeof *missing);
    if (!missing) {
        cJSON_Delete(cached);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    size_t missing_count = 0;
    for (size_t i = 0; i < table->object_count; i++) {
        const struct duckdb_object *o = &table->objects[i];
        const cJSON *etag = cJSON_GetObjectItemCaseSensitive(cached, o->path);
        if (etag && cJSON_IsString(etag) && strcmp(etag->valuestring, o->etag) == 0)
            cJSON_DeleteItemFromObjectCaseSensitive(cached, o->path); /* still valid */
        else
            missing[missing_count++] = i;
    }
    /* what is left in cached changed or left the lake */
    int rc = query_cache_forget(s, table, cached, err);
    size_t start = 0;
    while (rc == 0 && start < missing_count) {
        size_t end = start;
        long long bytes = 0;
        while (end < missing_count && end - start < QUERY_CACHE_BATCH_OBJECTS &&
               (end == start || bytes < QUERY_CACHE_BATCH_BYTES))
            bytes += table->objects[missing[end++]].size;
        rc = duckdb_table_fetch(table, missing + start, end - start, err);
        if (rc == 0)
            rc = query_cache_append(s, table, missing + start, end - start, err);
        start = end;
    }
    if (missing_count)
        log_info("cache: %s: added %zu objects", table->name, missing_count);
    free(missing);
    cJSON_Delete(cached);
    if (rc < 0)
        tp_err_prefix(err, "caching table %s", table->name);
    return rc;
}

int query_cache_refresh(const struct duckdb_api *api, const char *path,
                        struct duckdb_table *const *tables, size_t count, int wait, tp_err *err)
{
    /* <lake>/_cache/duckdb, but never the lake itself: a lake removed
     * while a refresh starts stays removed */
    if (fs_make_parents_below(path, 2, err) < 0)
        return tp_err_prefix(err, "cache %s", path);
    buf lock_path = BUF_INIT;
    buf_printf(&lock_path, "%s.lock", path);
    int lock = open(lock_path.data, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock < 0) {
        tp_err_set(err, TP_ERR_IO, "cache lock %s: %s", lock_path.data, strerror(errno));
        buf_free(&lock_path);
        return -1;
    }
    buf_free(&lock_path);
    if (flock(lock, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
        int busy = errno == EWOULDBLOCK;
        close(lock);
        if (busy) {
            log_info("cache %s: another refresh is running", path);
            return 0;
        }
        return tp_err_set(err, TP_ERR_IO, "cache lock for %s: %s", path, strerror(errno));
    }
    duckdb_config config = NULL;
    duckdb_database db = NULL;
    char *why = NULL;
    api->create_config(&config);
    api->set_config(config, "autoinstall_known_extensions", "false");
    api->set_config(config, "autoload_known_extensions", "false");
    duckdb_state state = api->open_ext(path, &db, config, &why);
    api->destroy_config(&config);
    if (state == DuckDBError) {
        int rc =
            wait ? tp_err_set(err, TP_ERR_IO, "cache %s: %s", path, why ? why : "cannot open") : 0;
        if (!wait)
            log_info("cache %s busy: %s", path, why ? why : "cannot open");
        api->free(why);
        close(lock);
        return rc;
    }
    struct query_cache_session s = {api, NULL};
    int rc = 0;
    if (api->connect(db, &s.connection) == DuckDBError)
        rc = tp_err_set(err, TP_ERR_INTERNAL, "cache %s: cannot connect", path);
    if (rc == 0)
        rc = query_cache_exec(&s,
                              "CREATE TABLE IF NOT EXISTS main.tickpipe_tables(name VARCHAR, "
                              "signature VARCHAR); CREATE TABLE IF NOT EXISTS "
                              "main.tickpipe_objects(table_name VARCHAR, path VARCHAR, etag "
                              "VARCHAR); CREATE SCHEMA IF NOT EXISTS data;",
                              err);
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = query_cache_refresh_table(&s, tables[i], err);
    if (rc == 0)
        rc = query_cache_exec(&s, "CHECKPOINT", err);
    if (s.connection)
        api->disconnect(&s.connection);
    api->close(&db);
    close(lock);
    if (rc < 0)
        tp_err_prefix(err, "cache %s", path);
    return rc;
}
