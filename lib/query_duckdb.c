/*
 * query_duckdb: the local SQL engine (lib/query.h). DuckDB, loaded with
 * dlopen when the first query runs, reads the lake through the catalog:
 * each catalog table a query names becomes a view over exactly the
 * objects of its registered partitions (query_duckdb_table.c), served
 * from the cache (query_cache.c) for the objects it holds. Athena/Trino
 * functions DuckDB lacks are macros; max/min of a partition key is
 * answered from the catalog, so the partition it names can be pruned.
 * The session is then locked: no file access outside the lake, no
 * setting changes, on top of the statement check (sql_guard.c).
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <utime.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/query.h"
#include "lib/query_cache.h"
#include "lib/query_duckdb_api.h"
#include "lib/query_duckdb_table.h"
#include "lib/query_results.h"
#include "lib/query_server.h"
#include "lib/sql_guard.h"

struct query_duckdb {
    query_engine base;
    store *lake;
    catalog *tables_catalog;
    char *lake_root;
    char *lake_uri;
    char *database;
    char *library;
    char *cache_path;
    char *results_directory;
    enum query_cache_mode cache_mode;
    struct duckdb_api api;
    duckdb_database db;
    _Atomic(duckdb_connection) connection;
    atomic_int cancelled;
    int locked;
    unsigned long long macros_created; /* bit i: duckdb_macros[i] exists */
    int cache_checked;
    int cache_attached;
    struct duckdb_table **tables; /* those with a view */
    size_t table_count;
    buf stale;         /* comma-separated tables the cache does not fully hold */
    char *server_path; /* NULL: no resident engine */
    char *server_key;
    atomic_int server_connection; /* the socket while a server runs the query; -1 */
    int ran_here;                 /* the last run loaded DuckDB in this process */
    int served;                   /* the query server answered the last run */
    int leave_open;               /* free: DuckDB stays open (query_duckdb_free_for_exit) */
};

/* Trino's date_format takes MySQL specifiers; strftime's differ
 * (MySQL %i is strftime %M, MySQL %M is strftime %B). */
static const struct {
    char mysql;
    const char *strftime;
} duckdb_mysql_specifiers[] = {
    {'a', "%a"},  {'b', "%b"},       {'c', "%-m"}, {'d', "%d"}, {'e', "%-d"},         {'f', "%f"},
    {'H', "%H"},  {'h', "%I"},       {'I', "%I"},  {'i', "%M"}, {'j', "%j"},          {'k', "%-H"},
    {'l', "%-I"}, {'M', "%B"},       {'m', "%m"},  {'p', "%p"}, {'r', "%I:%M:%S %p"}, {'S', "%S"},
    {'s', "%S"},  {'T', "%H:%M:%S"}, {'W', "%A"},  {'Y', "%Y"}, {'y', "%y"},
};

/* The macro tickpipe_mysql_format(f): each MySQL specifier becomes a
 * \x01-tagged letter first, then its strftime form, so none is rewritten
 * twice; %% is kept aside as \x02. */
static void duckdb_date_format_macros(buf *sql, const char *name)
{
    size_t count = sizeof duckdb_mysql_specifiers / sizeof *duckdb_mysql_specifiers;
    buf_append_str(sql, "CREATE TEMP MACRO tickpipe_mysql_format(f) AS ");
    for (size_t i = 0; i < 2 * count + 2; i++)
        buf_append_str(sql, "replace(");
    buf_append_str(sql, "f, '%%', chr(2))");
    for (size_t i = 0; i < count; i++)
        buf_printf(sql, ", '%%%c', chr(1) || '%c')", duckdb_mysql_specifiers[i].mysql,
                   duckdb_mysql_specifiers[i].mysql);
    for (size_t i = 0; i < count; i++) {
        buf_printf(sql, ", chr(1) || '%c', ", duckdb_mysql_specifiers[i].mysql);
        duckdb_quote_literal(sql, duckdb_mysql_specifiers[i].strftime);
        buf_append_char(sql, ')');
    }
    buf_append_str(sql, ", chr(2), '%%');");
    buf_printf(sql, "CREATE TEMP MACRO %s(t, f) AS strftime(t, tickpipe_mysql_format(f));", name);
}

/* Trino's greatest and least are NULL when any argument is; DuckDB's skip
 * NULLs. A macro cannot take any number of arguments: one per count. */
static void duckdb_strict_extreme_macros(buf *sql, const char *name)
{
    buf_printf(sql, "CREATE TEMP MACRO %s", name);
    for (int count = 2; count <= 10; count++) {
        buf_append_str(sql, count == 2 ? "(" : ", (");
        for (int i = 1; i <= count; i++)
            buf_printf(sql, "%sa%d", i > 1 ? ", " : "", i);
        buf_append_str(sql, ") AS CASE WHEN ");
        for (int i = 1; i <= count; i++)
            buf_printf(sql, "%sa%d IS NULL", i > 1 ? " OR " : "", i);
        buf_printf(sql, " THEN NULL ELSE system.main.%s(", name);
        for (int i = 1; i <= count; i++)
            buf_printf(sql, "%sa%d", i > 1 ? ", " : "", i);
        buf_append_str(sql, ") END");
    }
    buf_append_char(sql, ';');
}

/* Trino functions that DuckDB lacks, names differently or runs with other
 * semantics. Each is created only when a statement names it: parsing them
 * all costs ~10 ms a process. A macro shadows DuckDB's function of the same
 * name (system.main.<name> still reaches DuckDB's own). date_parse,
 * parse_datetime and format_datetime get their format literal converted
 * to strftime's by duckdb_rewrite_functions first. */
static const struct {
    const char *name;
    const char *sql;                           /* or NULL: */
    void (*build)(buf *sql, const char *name); /* appends the CREATE MACROs */
} duckdb_macros[] = {
    {"regexp_like", "CREATE TEMP MACRO regexp_like(s, p) AS regexp_matches(s, p);", NULL},
    /* Trino replaces every match and writes groups as $1 */
    {"regexp_replace",
     "CREATE TEMP MACRO regexp_replace(s, p) AS system.main.regexp_replace(s, p, '', 'g'), "
     "(s, p, r) AS system.main.regexp_replace(s, p, "
     "system.main.regexp_replace(r, '\\$(\\d)', '\\\\\\1', 'g'), 'g');",
     NULL},
    {"from_iso8601_timestamp",
     "CREATE TEMP MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ);", NULL},
    {"from_iso8601_date", "CREATE TEMP MACRO from_iso8601_date(s) AS CAST(s AS DATE);", NULL},
    {"to_unixtime", "CREATE TEMP MACRO to_unixtime(t) AS epoch(t);", NULL},
    {"from_unixtime", "CREATE TEMP MACRO from_unixtime(x) AS to_timestamp(x);", NULL},
    {"approx_percentile", "CREATE TEMP MACRO approx_percentile(x, p) AS quantile_disc(x, p);",
     NULL},
    {"approx_distinct", "CREATE TEMP MACRO approx_distinct(x) AS approx_count_distinct(x);", NULL},
    {"day_of_week", "CREATE TEMP MACRO day_of_week(t) AS isodow(t);", NULL},
    {"dow", "CREATE TEMP MACRO dow(t) AS isodow(t);", NULL},
    {"day_of_year", "CREATE TEMP MACRO day_of_year(t) AS dayofyear(t);", NULL},
    {"doy", "CREATE TEMP MACRO doy(t) AS dayofyear(t);", NULL},
    {"day_of_month", "CREATE TEMP MACRO day_of_month(t) AS dayofmonth(t);", NULL},
    {"week_of_year", "CREATE TEMP MACRO week_of_year(t) AS weekofyear(t);", NULL},
    {"year_of_week", "CREATE TEMP MACRO year_of_week(t) AS isoyear(t);", NULL},
    {"yow", "CREATE TEMP MACRO yow(t) AS isoyear(t);", NULL},
    {"last_day_of_month", "CREATE TEMP MACRO last_day_of_month(t) AS last_day(t);", NULL},
    /* DuckDB's millisecond() counts the seconds too */
    {"millisecond",
     "CREATE TEMP MACRO millisecond(t) AS CAST(date_part('millisecond', t) % 1000 AS BIGINT);",
     NULL},
    {"date_format", NULL, duckdb_date_format_macros},
    {"format_datetime", "CREATE TEMP MACRO format_datetime(t, f) AS strftime(t, f);", NULL},
    {"date_parse", "CREATE TEMP MACRO date_parse(s, f) AS strptime(s, f);", NULL},
    {"parse_datetime",
     "CREATE TEMP MACRO parse_datetime(s, f) AS CAST(strptime(s, f) AS TIMESTAMPTZ);", NULL},
    /* Trino's date_add(unit, value, t) beside DuckDB's date_add(t, interval);
     * a DATE stays a DATE */
    {"date_add",
     "CREATE TEMP MACRO date_add(t, i) AS t + i, "
     "(u, v, t) AS t + v * CAST('1 ' || u AS INTERVAL), "
     "(u, v, t DATE) AS CAST(t + v * CAST('1 ' || u AS INTERVAL) AS DATE);",
     NULL},
    /* Trino counts whole units elapsed (DuckDB's date_sub), not the unit
     * boundaries crossed (DuckDB's date_diff): 23:00 to 01:00 is 0 days */
    {"date_diff", "CREATE TEMP MACRO date_diff(u, a, b) AS date_sub(u, a, b);", NULL},
    /* NULL past the last field, an error for an index below 1 */
    {"split_part",
     "CREATE TEMP MACRO split_part(s, d, i) AS CASE WHEN i < 1 THEN "
     "error('split_part: index must be greater than zero') WHEN i <= len(string_split(s, d)) "
     "THEN string_split(s, d)[i] END;",
     NULL},
    /* arrays and maps alike (DuckDB's takes maps only) */
    {"cardinality",
     "CREATE TEMP MACRO cardinality(x) AS CASE WHEN json_type(to_json(x)) = 'OBJECT' THEN "
     "len(json_keys(to_json(x))) ELSE json_array_length(to_json(x)) END;",
     NULL},
    /* arrays too (DuckDB's takes maps only, and answers a list) */
    {"element_at", "CREATE TEMP MACRO element_at(c, k) AS c[k];", NULL},
    {"json_extract_scalar",
     "CREATE TEMP MACRO json_extract_scalar(j, p) AS CASE WHEN json_type(j, p) IN ('OBJECT', "
     "'ARRAY') THEN NULL ELSE json_extract_string(j, p) END;",
     NULL},
    {"greatest", NULL, duckdb_strict_extreme_macros},
    {"least", NULL, duckdb_strict_extreme_macros},
    {"truncate", "CREATE TEMP MACRO truncate(x) AS trunc(x), (x, n) AS trunc(x, n);", NULL},
    {"is_nan", "CREATE TEMP MACRO is_nan(x) AS isnan(x);", NULL},
    {"is_finite", "CREATE TEMP MACRO is_finite(x) AS isfinite(x);", NULL},
    {"is_infinite", "CREATE TEMP MACRO is_infinite(x) AS isinf(x);", NULL},
    {"rand", "CREATE TEMP MACRO rand() AS random(), (n) AS CAST(floor(random() * n) AS BIGINT);",
     NULL},
};
_Static_assert(sizeof duckdb_macros / sizeof *duckdb_macros <= 64,
               "macros_created has a bit for each macro");

/* Creates the macros the statement names that this session lacks. */
static int duckdb_create_macros(struct query_duckdb *e, const char *statement, tp_err *err)
{
    size_t count = sizeof duckdb_macros / sizeof *duckdb_macros;
    buf sql = BUF_INIT;
    struct sql_lexer lexer;
    struct sql_token token;
    sql_lexer_init(&lexer, statement, strlen(statement));
    enum sql_token_type type;
    while ((type = sql_lexer_next(&lexer, &token)) != SQL_TOKEN_END && type != SQL_TOKEN_ERROR) {
        if (type != SQL_TOKEN_WORD)
            continue;
        for (size_t i = 0; i < count; i++) {
            if (e->macros_created & (1ull << i) ||
                !sql_token_is_word(&lexer, &token, duckdb_macros[i].name))
                continue;
            e->macros_created |= 1ull << i;
            if (duckdb_macros[i].sql)
                buf_append_str(&sql, duckdb_macros[i].sql);
            else
                duckdb_macros[i].build(&sql, duckdb_macros[i].name);
        }
    }
    int rc = sql.len ? duckdb_exec(&e->api, atomic_load(&e->connection), sql.data, err) : 0;
    buf_free(&sql);
    return rc < 0 ? tp_err_prefix(err, "DuckDB setup") : 0;
}

/* ---- opening DuckDB ------------------------------------------------------ */

static int duckdb_engine_open(struct query_duckdb *e, tp_err *err)
{
    if (e->db)
        return 0;
    if (!e->api.library && duckdb_api_load(&e->api, e->library, err) < 0)
        return -1;
    duckdb_config config = NULL;
    if (e->api.create_config(&config) == DuckDBError)
        return tp_err_set(err, TP_ERR_INTERNAL, "DuckDB: cannot create a configuration");
    /* never fetch or load extensions: json, parquet and icu are built in */
    e->api.set_config(config, "autoinstall_known_extensions", "false");
    e->api.set_config(config, "autoload_known_extensions", "false");
    e->api.set_config(config, "allow_community_extensions", "false");
    char *why = NULL;
    duckdb_database db = NULL;
    duckdb_state state = e->api.open_ext(":memory:", &db, config, &why);
    e->api.destroy_config(&config);
    if (state == DuckDBError) {
        tp_err_set(err, TP_ERR_INTERNAL, "DuckDB: cannot open a database: %s",
                   why ? why : "unknown error");
        e->api.free(why);
        return -1;
    }
    duckdb_connection connection = NULL;
    if (e->api.connect(db, &connection) == DuckDBError) {
        e->api.close(&db);
        return tp_err_set(err, TP_ERR_INTERNAL, "DuckDB: cannot connect");
    }
    e->db = db;
    atomic_store(&e->connection, connection);
    buf setup = BUF_INIT;
    buf_append_str(&setup, "SET TimeZone = 'UTC'; SET integer_division = true; CREATE SCHEMA ");
    duckdb_quote_identifier(&setup, e->database);
    buf_append_str(&setup, "; USE ");
    duckdb_quote_identifier(&setup, e->database);
    buf_append_str(&setup, ";");
    int rc = duckdb_exec(&e->api, connection, setup.data, err);
    buf_free(&setup);
    if (rc < 0)
        tp_err_prefix(err, "DuckDB setup");
    return rc;
}

/* No file access outside the lake (and the cache), no setting changes. */
static int duckdb_engine_lock(struct query_duckdb *e, tp_err *err)
{
    if (e->locked)
        return 0;
    buf sql = BUF_INIT;
    buf_append_str(&sql, "SET allowed_directories = [");
    buf root = BUF_INIT;
    buf_printf(&root, "%s/", e->lake_root);
    duckdb_quote_literal(&sql, root.data);
    buf_free(&root);
    buf_append_str(&sql, "]; SET enable_external_access = false; SET lock_configuration = true;");
    int rc = duckdb_exec(&e->api, atomic_load(&e->connection), sql.data, err);
    buf_free(&sql);
    if (rc < 0)
        return tp_err_prefix(err, "DuckDB: locking the session");
    e->locked = 1;
    return 0;
}

/* ---- the tables a query names -------------------------------------------- */

static struct duckdb_table *duckdb_find_table(struct query_duckdb *e, const char *name)
{
    for (size_t i = 0; i < e->table_count; i++)
        if (strcasecmp(e->tables[i]->name, name) == 0)
            return e->tables[i];
    return NULL;
}

/* Names of the tables the query reads (DuckDB's parser says), as a cJSON
 * array of strings. */
static cJSON *duckdb_query_tables(struct query_duckdb *e, const char *sql)
{
    cJSON *names = cJSON_CreateArray();
    duckdb_value list = e->api.get_table_names(atomic_load(&e->connection), sql, false);
    if (!list)
        return names;
    duckdb_idx count = e->api.get_list_size(list);
    for (duckdb_idx i = 0; i < count; i++) {
        duckdb_value item = e->api.get_list_child(list, i);
        char *text = item ? e->api.get_varchar(item) : NULL;
        if (text)
            cJSON_AddItemToArray(names, cJSON_CreateString(text));
        e->api.free(text);
        e->api.destroy_value(&item);
    }
    e->api.destroy_value(&list);
    return names;
}

static void duckdb_note_stale(struct query_duckdb *e, const char *name)
{
    buf_printf(&e->stale, "%s%s", e->stale.len ? "," : "", name);
}

/* CREATE VIEW <database>.<table>: the cached rows of objects still in
 * the lake unchanged, plus every other object read raw. */
static int duckdb_define_view(struct query_duckdb *e, struct duckdb_table *table,
                              struct query_stats *stats, tp_err *err)
{
    cJSON *cached = NULL;
    if (e->cache_attached && query_cache_manifest(&e->api, atomic_load(&e->connection),
                                                  QUERY_CACHE_ALIAS ".", table, &cached, err) < 0)
        return -1;
    size_t *raw = calloc(table->object_count ? table->object_count : 1, sizeof *raw);
    if (!raw) {
        cJSON_Delete(cached);
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    }
    size_t raw_count = 0, hits = 0;
    for (size_t i = 0; i < table->object_count; i++) {
        const cJSON *etag =
            cached ? cJSON_GetObjectItemCaseSensitive(cached, table->objects[i].path) : NULL;
        if (etag && cJSON_IsString(etag) && etag->valuestring &&
            strcmp(etag->valuestring, table->objects[i].etag) == 0) {
            cJSON_DeleteItemFromObjectCaseSensitive(cached, table->objects[i].path);
            hits++;
        } else {
            raw[raw_count++] = i;
        }
    }
    if (duckdb_table_fetch(table, raw, raw_count, err) < 0) {
        free(raw);
        cJSON_Delete(cached);
        return -1;
    }
    buf sql = BUF_INIT;
    buf_append_str(&sql, "CREATE OR REPLACE VIEW ");
    duckdb_quote_identifier(&sql, e->database);
    buf_append_char(&sql, '.');
    duckdb_quote_identifier(&sql, table->name);
    buf_append_str(&sql, " AS ");
    if (hits) {
        buf_printf(&sql, "SELECT %s FROM " QUERY_CACHE_ALIAS ".data.", table->select_list);
        duckdb_quote_identifier(&sql, table->name);
        /* what is left in cached: objects gone from the lake or changed */
        if (cJSON_GetArraySize(cached) > 0) {
            buf_append_str(&sql, " WHERE \"_tickpipe_object\" NOT IN (");
            const cJSON *gone;
            int first = 1;
            cJSON_ArrayForEach(gone, cached)
            {
                buf_append_str(&sql, first ? "" : ", ");
                duckdb_quote_literal(&sql, gone->string);
                first = 0;
            }
            buf_append_char(&sql, ')');
        }
        if (raw_count)
            buf_append_str(&sql, " UNION ALL ");
    }
    if (raw_count || !hits)
        duckdb_table_reader_sql(table, raw, raw_count, 0, &sql);
    if (raw_count || cJSON_GetArraySize(cached) > 0 || (!hits && table->object_count))
        duckdb_note_stale(e, table->name);
    stats->objects += (long long)table->object_count;
    stats->objects_cached += (long long)hits;
    log_debug("table %s: %zu objects, %zu from the cache", table->name, table->object_count, hits);
    int rc = duckdb_exec(&e->api, atomic_load(&e->connection), sql.data, err);
    if (rc < 0)
        tp_err_prefix(err, "defining table %s", table->name);
    buf_free(&sql);
    free(raw);
    cJSON_Delete(cached);
    return rc;
}

/* SHOW TABLES and friends name no table: they should see every one. */
static int duckdb_lists_tables(const char *sql)
{
    struct sql_lexer lexer;
    struct sql_token token;
    sql_lexer_init(&lexer, sql, strlen(sql));
    return sql_lexer_next(&lexer, &token) == SQL_TOKEN_WORD &&
           sql_token_is_word(&lexer, &token, "SHOW");
}

/* Appends the names of every table of the catalog database to names. */
static void duckdb_add_catalog_tables(struct query_duckdb *e, cJSON *names)
{
    cJSON *tables = NULL;
    tp_err ignored;
    if (e->tables_catalog->ops->list_tables(e->tables_catalog, e->database, &tables, &ignored) < 0)
        return;
    const cJSON *table;
    cJSON_ArrayForEach(table, tables)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(table, "Name");
        if (cJSON_IsString(name))
            cJSON_AddItemToArray(names, cJSON_CreateString(name->valuestring));
    }
    cJSON_Delete(tables);
}

/* Loads (from the catalog and the lake) every table of names not loaded
 * yet; tables the catalog does not know are left to DuckDB to report. */
static int duckdb_load_tables(struct query_duckdb *e, const cJSON *names, tp_err *err)
{
    const cJSON *name;
    cJSON_ArrayForEach(name, names)
    {
        if (!cJSON_IsString(name) || duckdb_find_table(e, name->valuestring))
            continue;
        struct duckdb_table *table = NULL;
        struct duckdb_lake lake = {e->lake, e->lake_uri, e->lake_root};
        if (duckdb_table_load(e->tables_catalog, &lake, e->database, name->valuestring, &table,
                              err) < 0)
            return -1;
        if (!table)
            continue;
        struct duckdb_table **grown =
            realloc(e->tables, (e->table_count + 1) * sizeof(struct duckdb_table *));
        if (!grown) {
            duckdb_table_free(table);
            return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        }
        e->tables = grown;
        e->tables[e->table_count++] = table;
    }
    return 0;
}

/* ---- max(partition key) from the catalog --------------------------------- */

struct duckdb_tokens {
    struct sql_lexer lexer;
    struct sql_token *items;
    size_t count;
};

static int duckdb_tokenize(const char *sql, struct duckdb_tokens *tokens)
{
    size_t capacity = 64;
    tokens->items = malloc(capacity * sizeof *tokens->items);
    tokens->count = 0;
    sql_lexer_init(&tokens->lexer, sql, strlen(sql));
    while (tokens->items) {
        if (tokens->count == capacity) {
            capacity *= 2;
            struct sql_token *grown = realloc(tokens->items, capacity * sizeof *grown);
            if (!grown)
                break;
            tokens->items = grown;
        }
        struct sql_token *token = &tokens->items[tokens->count];
        enum sql_token_type type = sql_lexer_next(&tokens->lexer, token);
        if (type == SQL_TOKEN_ERROR)
            break;
        tokens->count++;
        if (type == SQL_TOKEN_END)
            return 0;
    }
    free(tokens->items);
    tokens->items = NULL;
    return -1;
}

/* The token names `name` (bare: any case; "quoted": exactly). */
static int duckdb_token_names(const struct duckdb_tokens *tokens, size_t i, const char *name)
{
    const struct sql_token *t = &tokens->items[i];
    if (t->type == SQL_TOKEN_WORD)
        return sql_token_is_word(&tokens->lexer, t, name);
    size_t length = strlen(name);
    return t->type == SQL_TOKEN_IDENTIFIER && t->length == length + 2 &&
           strncmp(tokens->lexer.text + t->offset + 1, name, length) == 0;
}

static int duckdb_token_is_name(const struct duckdb_tokens *tokens, size_t i)
{
    return tokens->items[i].type == SQL_TOKEN_WORD || tokens->items[i].type == SQL_TOKEN_IDENTIFIER;
}

/* The token's name, unquoted (caller frees). */
static char *duckdb_token_text(const struct duckdb_tokens *tokens, size_t i)
{
    const struct sql_token *t = &tokens->items[i];
    if (t->type == SQL_TOKEN_IDENTIFIER)
        return strndup(tokens->lexer.text + t->offset + 1, t->length - 2);
    return strndup(tokens->lexer.text + t->offset, t->length);
}

/* max/min of partition key k over the partitions that hold objects, as a
 * SQL literal appended to out; -1 when the key's type is not comparable
 * here (then the query is left alone). */
static int duckdb_partition_extreme(const struct duckdb_table *table, size_t k, int want_max,
                                    buf *out)
{
    const char *type = table->keys[k].duckdb_type;
    int numeric = strcmp(type, "INTEGER") == 0 || strcmp(type, "BIGINT") == 0 ||
                  strcmp(type, "SMALLINT") == 0 || strcmp(type, "TINYINT") == 0;
    int text = strcmp(type, "VARCHAR") == 0 || strcmp(type, "DATE") == 0;
    if (!numeric && !text)
        return -1;
    const char *best = NULL;
    for (size_t p = 0; p < table->partition_count; p++) {
        if (!table->partitions[p].objects)
            continue;
        const char *value = table->partitions[p].values[k];
        int better;
        if (!best)
            better = 1;
        else if (numeric)
            better = want_max ? strtoll(value, NULL, 10) > strtoll(best, NULL, 10)
                              : strtoll(value, NULL, 10) < strtoll(best, NULL, 10);
        else
            better = want_max ? strcmp(value, best) > 0 : strcmp(value, best) < 0;
        if (better)
            best = value;
    }
    if (!best) {
        buf_printf(out, "CAST(NULL AS %s)", type);
    } else if (numeric) {
        buf_printf(out, "%lld", strtoll(best, NULL, 10));
    } else {
        buf_printf(out, "CAST(");
        duckdb_quote_literal(out, best);
        buf_printf(out, " AS %s)", type);
    }
    return 0;
}

/*
 * Matches SELECT max|min ( key ) [[AS] alias] FROM [schema .] table at
 * token i; on a match, *end is the token after the table, *literal the
 * answer and *alias the column name.
 */
static int duckdb_match_extreme(struct query_duckdb *e, const struct duckdb_tokens *tokens,
                                size_t i, size_t *end, buf *literal, char **alias)
{
    const struct sql_token *t = tokens->items;
    if (i + 7 >= tokens->count || !sql_token_is_word(&tokens->lexer, &t[i], "SELECT"))
        return 0;
    int want_max = sql_token_is_word(&tokens->lexer, &t[i + 1], "MAX");
    if (!want_max && !sql_token_is_word(&tokens->lexer, &t[i + 1], "MIN"))
        return 0;
    if (!sql_token_is_symbol(&tokens->lexer, &t[i + 2], '(') ||
        !duckdb_token_is_name(tokens, i + 3) ||
        !sql_token_is_symbol(&tokens->lexer, &t[i + 4], ')'))
        return 0;
    size_t j = i + 5;
    *alias = NULL;
    if (sql_token_is_word(&tokens->lexer, &t[j], "AS"))
        j++;
    if (duckdb_token_is_name(tokens, j) && !sql_token_is_word(&tokens->lexer, &t[j], "FROM"))
        *alias = duckdb_token_text(tokens, j++);
    if (j + 1 >= tokens->count || !sql_token_is_word(&tokens->lexer, &t[j], "FROM")) {
        free(*alias);
        return 0;
    }
    j++;
    if (j + 2 < tokens->count && duckdb_token_names(tokens, j, e->database) &&
        sql_token_is_symbol(&tokens->lexer, &t[j + 1], '.'))
        j += 2;
    if (!duckdb_token_is_name(tokens, j)) {
        free(*alias);
        return 0;
    }
    char *table_name = duckdb_token_text(tokens, j);
    struct duckdb_table *table = table_name ? duckdb_find_table(e, table_name) : NULL;
    free(table_name);
    int found = 0;
    for (size_t k = 0; table && k < table->key_count; k++) {
        if (duckdb_token_names(tokens, i + 3, table->keys[k].name)) {
            found = duckdb_partition_extreme(table, k, want_max, literal) == 0;
            if (found && !*alias) {
                buf name = BUF_INIT;
                buf_printf(&name, "%s(%s)", want_max ? "max" : "min", table->keys[k].name);
                *alias = buf_detach(&name);
            }
            break;
        }
    }
    if (!found) {
        free(*alias);
        *alias = NULL;
        return 0;
    }
    *end = j + 1;
    return 1;
}

/* Rewrites "(SELECT max(dt) FROM t)" to "(<literal>)", and a whole
 * "SELECT max(dt) FROM t" to "SELECT <literal> AS \"max(dt)\"", from the
 * catalog's partition values. Returns a malloc'ed text (maybe unchanged). */
static char *duckdb_rewrite_extremes(struct query_duckdb *e, const char *sql)
{
    struct duckdb_tokens tokens;
    if (duckdb_tokenize(sql, &tokens) < 0)
        return strdup(sql);
    buf out = BUF_INIT;
    size_t copied = 0;
    const struct sql_token *t = tokens.items;
    for (size_t i = 0; i + 1 < tokens.count; i++) {
        int whole = i == 0;
        size_t start = whole ? 0 : i + 1;
        if (!whole && !sql_token_is_symbol(&tokens.lexer, &t[i], '('))
            continue;
        size_t end = 0;
        buf literal = BUF_INIT;
        char *alias = NULL;
        if (!duckdb_match_extreme(e, &tokens, start, &end, &literal, &alias)) {
            buf_free(&literal);
            continue;
        }
        int closes = whole ? (t[end].type == SQL_TOKEN_END ||
                              sql_token_is_symbol(&tokens.lexer, &t[end], ';'))
                           : sql_token_is_symbol(&tokens.lexer, &t[end], ')');
        if (closes) {
            buf_append(&out, sql + copied, t[start].offset - copied);
            if (whole) {
                buf_printf(&out, "SELECT %s AS ", literal.data);
                duckdb_quote_identifier(&out, alias);
            } else {
                buf_append_str(&out, literal.data);
            }
            copied = t[end].offset;
            log_info("answered %s from the catalog: %s", alias, literal.data);
            i = end - 1;
        }
        free(alias);
        buf_free(&literal);
    }
    buf_append_str(&out, sql + copied);
    free(tokens.items);
    return buf_detach(&out);
}

/* ---- Trino format literals and catalog names ---------------------------- */

/* Appends c as strftime reads it literally. */
static void duckdb_append_format_char(buf *out, char c)
{
    if (c == '%')
        buf_append_str(out, "%%");
    else
        buf_append_char(out, c);
}

/* Appends the strftime form of a MySQL format (date_parse); -1 and err
 * on a specifier Trino's date_parse does not take either. */
static int duckdb_convert_mysql_format(const char *format, buf *out, tp_err *err)
{
    size_t count = sizeof duckdb_mysql_specifiers / sizeof *duckdb_mysql_specifiers;
    for (const char *c = format; *c; c++) {
        if (*c != '%' || !c[1]) {
            duckdb_append_format_char(out, *c);
            continue;
        }
        if (c[1] == '%') {
            buf_append_str(out, "%%");
            c++;
            continue;
        }
        size_t i = 0;
        while (i < count && duckdb_mysql_specifiers[i].mysql != c[1])
            i++;
        if (i == count)
            return tp_err_set(err, TP_ERR_USAGE,
                              "date_parse format '%s': specifier %%%.1s is not supported", format,
                              c + 1);
        buf_append_str(out, duckdb_mysql_specifiers[i].strftime);
        c++;
    }
    return 0;
}

/* A run of one Joda pattern letter and its strftime form. */
static const struct {
    char letter;
    int min_run, max_run; /* run lengths this form serves */
    const char *strftime;
} duckdb_joda_patterns[] = {
    {'y', 2, 2, "%y"},  {'y', 1, 9, "%Y"}, {'Y', 2, 2, "%y"},  {'Y', 1, 9, "%Y"},
    {'M', 1, 1, "%-m"}, {'M', 2, 2, "%m"}, {'M', 3, 3, "%b"},  {'M', 4, 9, "%B"},
    {'d', 1, 1, "%-d"}, {'d', 2, 2, "%d"}, {'H', 1, 1, "%-H"}, {'H', 2, 2, "%H"},
    {'h', 1, 1, "%-I"}, {'h', 2, 2, "%I"}, {'m', 1, 1, "%-M"}, {'m', 2, 2, "%M"},
    {'s', 1, 1, "%-S"}, {'s', 2, 2, "%S"}, {'S', 3, 3, "%g"},  {'S', 6, 6, "%f"},
    {'S', 9, 9, "%n"},  {'a', 1, 1, "%p"}, {'E', 1, 3, "%a"},  {'E', 4, 9, "%A"},
    {'D', 1, 2, "%-j"}, {'D', 3, 3, "%j"}, {'Z', 1, 1, "%z"},  {'z', 1, 9, "%Z"},
};

/* Appends the strftime form of a Joda pattern (format_datetime,
 * parse_datetime): letter runs map to specifiers, 'quoted' text and other
 * characters are kept; -1 and err on a letter run with no strftime form. */
static int duckdb_convert_joda_format(const char *function, const char *format, buf *out,
                                      tp_err *err)
{
    size_t count = sizeof duckdb_joda_patterns / sizeof *duckdb_joda_patterns;
    for (const char *c = format; *c;) {
        if (*c == '\'') { /* 'text', '' is a quote */
            const char *end = c + 1;
            if (*end == '\'') {
                buf_append_char(out, '\'');
                c += 2;
                continue;
            }
            for (; *end; end++) {
                if (*end == '\'' && end[1] == '\'')
                    end++;
                else if (*end == '\'')
                    break;
                duckdb_append_format_char(out, *end);
            }
            c = *end ? end + 1 : end;
            continue;
        }
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z'))) {
            duckdb_append_format_char(out, *c);
            c++;
            continue;
        }
        int run = 1;
        while (c[run] == *c)
            run++;
        size_t i = 0;
        while (i < count &&
               !(duckdb_joda_patterns[i].letter == *c && run >= duckdb_joda_patterns[i].min_run &&
                 run <= duckdb_joda_patterns[i].max_run))
            i++;
        if (i == count)
            return tp_err_set(err, TP_ERR_USAGE, "%s format '%s': pattern %.*s is not supported",
                              function, format, run, c);
        buf_append_str(out, duckdb_joda_patterns[i].strftime);
        c += run;
    }
    return 0;
}

/* The functions whose format argument is converted to strftime's. */
static const struct {
    const char *name;
    int joda; /* else MySQL specifiers */
} duckdb_format_functions[] = {
    {"date_parse", 0},
    {"format_datetime", 1},
    {"parse_datetime", 1},
};

/* The index of the ')' closing the '(' at token open (0 when unbalanced),
 * the number of commas at its top level and the index of the last. */
static size_t duckdb_closing_parenthesis(const struct duckdb_tokens *tokens, size_t open,
                                         size_t *last_comma, int *commas)
{
    int depth = 0;
    *commas = 0;
    for (size_t i = open; i < tokens->count; i++) {
        const struct sql_token *t = &tokens->items[i];
        if (sql_token_is_symbol(&tokens->lexer, t, '(') ||
            sql_token_is_symbol(&tokens->lexer, t, '['))
            depth++;
        else if (sql_token_is_symbol(&tokens->lexer, t, ')') ||
                 sql_token_is_symbol(&tokens->lexer, t, ']'))
            depth--;
        else if (depth == 1 && sql_token_is_symbol(&tokens->lexer, t, ',')) {
            (*commas)++;
            *last_comma = i;
        }
        if (depth == 0)
            return i;
    }
    return 0;
}

/* For the call of a format function at token i: *replacement (caller
 * frees) is its format literal in strftime's form, padded with blanks to
 * the literal's length so that DuckDB's error positions still point into
 * what the user wrote, and *format the literal's token. 1 when done, 0
 * when the call is not name(x, format) (DuckDB reports it), -1 and err
 * when the format is not one plain string literal or has no strftime form. */
static int duckdb_convert_format_argument(const struct duckdb_tokens *tokens, size_t i, int joda,
                                          char **replacement, size_t *format, tp_err *err)
{
    char *name = duckdb_token_text(tokens, i);
    size_t comma = 0;
    int commas = 0;
    size_t close = duckdb_closing_parenthesis(tokens, i + 1, &comma, &commas);
    if (!name || !close || commas != 1) {
        free(name);
        return 0;
    }
    *format = comma + 1;
    const struct sql_token *t = &tokens->items[*format];
    if (close != comma + 2 || t->type != SQL_TOKEN_STRING ||
        tokens->lexer.text[t->offset] != '\'') {
        tp_err_set(err, TP_ERR_USAGE,
                   "%s at offset %zu: the format must be a string literal on the local engine "
                   "(DuckDB's strptime takes a constant format), e.g. %s(s, '%s')",
                   name, tokens->items[i].offset, name,
                   joda ? "yyyy-MM-dd HH:mm:ss" : "%Y-%m-%d %H:%i:%s");
        free(name);
        return -1;
    }
    buf text = BUF_INIT; /* the literal, unquoted */
    for (size_t k = t->offset + 1; k + 1 < t->offset + t->length; k++) {
        buf_append_char(&text, tokens->lexer.text[k]);
        if (tokens->lexer.text[k] == '\'')
            k++;
    }
    char *unquoted = buf_detach(&text);
    buf converted = BUF_INIT;
    int rc = joda ? duckdb_convert_joda_format(name, unquoted, &converted, err)
                  : duckdb_convert_mysql_format(unquoted, &converted, err);
    free(unquoted);
    free(name);
    if (rc < 0) {
        buf_free(&converted);
        return -1;
    }
    buf literal = BUF_INIT;
    duckdb_quote_literal(&literal, converted.data ? converted.data : "");
    buf_free(&converted);
    while (literal.len < t->length)
        buf_append_char(&literal, ' ');
    *replacement = buf_detach(&literal);
    return 1;
}

/* awsdatacatalog . <database> . <table> at token i (any case, quoted or
 * not): Athena's catalog, which DuckDB does not have. */
static int duckdb_is_athena_catalog(const struct duckdb_tokens *tokens, size_t i)
{
    if (i + 4 >= tokens->count ||
        (i > 0 && sql_token_is_symbol(&tokens->lexer, &tokens->items[i - 1], '.')))
        return 0;
    char *name = duckdb_token_is_name(tokens, i) ? duckdb_token_text(tokens, i) : NULL;
    int athena = name && strcasecmp(name, "awsdatacatalog") == 0;
    free(name);
    return athena && sql_token_is_symbol(&tokens->lexer, &tokens->items[i + 1], '.') &&
           duckdb_token_is_name(tokens, i + 2) &&
           sql_token_is_symbol(&tokens->lexer, &tokens->items[i + 3], '.') &&
           duckdb_token_is_name(tokens, i + 4);
}

/* Rewrites what DuckDB cannot take as Athena writes it: the format literal
 * of date_parse / parse_datetime / format_datetime becomes strftime's, and
 * awsdatacatalog.<database>.<table> becomes <database>.<table> (blanked,
 * so positions hold). Returns a malloc'ed text, or NULL and err. */
static char *duckdb_rewrite_functions(const char *sql, tp_err *err)
{
    struct duckdb_tokens tokens;
    if (duckdb_tokenize(sql, &tokens) < 0)
        return strdup(sql); /* DuckDB says what is wrong */
    char **replacements = calloc(tokens.count, sizeof *replacements);
    int failed = !replacements;
    if (failed)
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; !failed && i + 1 < tokens.count; i++) {
        if (duckdb_is_athena_catalog(&tokens, i)) {
            replacements[i] = calloc(tokens.items[i].length + 1, 1);
            replacements[i + 1] = strdup(" ");
            if (replacements[i])
                memset(replacements[i], ' ', tokens.items[i].length);
            continue;
        }
        if (tokens.items[i].type != SQL_TOKEN_WORD ||
            !sql_token_is_symbol(&tokens.lexer, &tokens.items[i + 1], '('))
            continue;
        for (size_t f = 0; f < sizeof duckdb_format_functions / sizeof *duckdb_format_functions;
             f++) {
            if (!sql_token_is_word(&tokens.lexer, &tokens.items[i],
                                   duckdb_format_functions[f].name))
                continue;
            char *literal = NULL;
            size_t format = 0;
            int rc = duckdb_convert_format_argument(&tokens, i, duckdb_format_functions[f].joda,
                                                    &literal, &format, err);
            failed = rc < 0;
            if (rc > 0)
                replacements[format] = literal;
        }
    }
    buf out = BUF_INIT;
    size_t copied = 0;
    for (size_t i = 0; !failed && i < tokens.count; i++) {
        if (!replacements[i])
            continue;
        buf_append(&out, sql + copied, tokens.items[i].offset - copied);
        buf_append_str(&out, replacements[i]);
        copied = tokens.items[i].offset + tokens.items[i].length;
    }
    for (size_t i = 0; replacements && i < tokens.count; i++)
        free(replacements[i]);
    free(replacements);
    free(tokens.items);
    if (failed) {
        buf_free(&out);
        return NULL;
    }
    buf_append_str(&out, sql + copied);
    return buf_detach(&out);
}

/* ---- the engine ---------------------------------------------------------- */

static int duckdb_engine_run_query(struct query_duckdb *e, const char *sql,
                                   const struct query_sink *sink, struct query_stats *stats,
                                   int64_t started, tp_err *err);

/* Every catalog table the statement may name (any bare or quoted name
 * equal to a table's), loaded without DuckDB. */
static int duckdb_load_named_tables(struct query_duckdb *e, const char *sql, tp_err *err)
{
    struct duckdb_tokens tokens;
    if (duckdb_tokenize(sql, &tokens) < 0)
        return 0;
    cJSON *names = cJSON_CreateArray();
    for (size_t i = 0; i < tokens.count; i++) {
        if (!duckdb_token_is_name(&tokens, i))
            continue;
        char *name = duckdb_token_text(&tokens, i);
        int known = 0;
        const cJSON *item;
        cJSON_ArrayForEach(item, names) known |= strcasecmp(item->valuestring, name) == 0;
        if (!known && name && !strchr(name, '/'))
            cJSON_AddItemToArray(names, cJSON_CreateString(name));
        free(name);
    }
    free(tokens.items);
    int rc = duckdb_load_tables(e, names, err);
    cJSON_Delete(names);
    return rc;
}

/* Replays a stored result of the same statement over the same objects:
 * 1 when done, 0 when there is none (*path = where to store this one),
 * -1 on error. */
static int duckdb_reuse_result(struct query_duckdb *e, const char *sql,
                               const struct query_sink *sink, struct query_stats *stats,
                               char **path, tp_err *err)
{
    if (duckdb_load_named_tables(e, sql, err) < 0)
        return -1;
    if (!e->table_count)
        return 0;
    *path = query_results_path(e->results_directory, e->database, sql, e->tables, e->table_count);
    if (!*path)
        return 0;
    int found = query_results_replay(*path, sink, &stats->rows, err);
    if (found > 0) {
        utime(*path, NULL); /* recently used */
        stats->result_reused = 1;
        for (size_t i = 0; i < e->table_count; i++)
            stats->objects += (long long)e->tables[i]->object_count;
        log_info("result reused: same statement, same lake objects (%s)", *path);
    }
    return found;
}

/* Every run starts with empty stats (nothing known yet) and the
 * read-only check of the statement. */
static int duckdb_run_begin(const char *sql, struct query_stats *stats, tp_err *err)
{
    memset(stats, 0, sizeof *stats);
    stats->bytes_scanned = -1;
    stats->engine_ms = -1;
    return sql_guard_check(sql, strlen(sql), err);
}

static int duckdb_engine_run(query_engine *base, const char *sql, const struct query_sink *sink,
                             struct query_stats *stats, tp_err *err)
{
    struct query_duckdb *e = (struct query_duckdb *)base;
    if (duckdb_run_begin(sql, stats, err) < 0)
        return -1;
    int64_t started = clock_monotonic_ns();
    char *results_path = NULL;
    if (e->cache_mode != QUERY_CACHE_OFF && query_results_cacheable(sql)) {
        int found = duckdb_reuse_result(e, sql, sink, stats, &results_path, err);
        if (found != 0) {
            free(results_path);
            return found < 0 ? -1 : 0;
        }
    }
    query_results_recorder *recorder = NULL;
    struct query_sink recording;
    if (results_path && (recorder = query_results_recorder_new(sink))) {
        recording = query_results_recorder_sink(recorder);
        sink = &recording;
    }
    int rc = 0, served = 0;
    e->served = 0;
    if (e->server_path && !e->db) {
        served = query_server_run(e->server_path, e->server_key, sql, e->cache_mode, sink, stats,
                                  &e->stale, &e->server_connection, err);
        e->served = served > 0;
        if (served > 0)
            log_info("answered by the query server %s", e->server_path);
        rc = served < 0 ? -1 : 0;
    }
    if (served == 0) {
        rc = duckdb_engine_run_query(e, sql, sink, stats, started, err);
        e->ran_here = 1;
    }
    if (rc == 0 && recorder)
        query_results_recorder_store(recorder, results_path);
    query_results_recorder_free(recorder);
    free(results_path);
    return rc;
}

/* Runs the statement, already rewritten for DuckDB, in this process. */
static int duckdb_engine_run_statement(struct query_duckdb *e, const char *sql,
                                       const struct query_sink *sink, struct query_stats *stats,
                                       int64_t started, tp_err *err)
{
    /* the macros first: DuckDB's table names come from binding the query */
    if (duckdb_engine_open(e, err) < 0 || duckdb_create_macros(e, sql, err) < 0)
        return -1;
    log_debug("DuckDB %s loaded and opened in %.1f ms", e->api.library_version(),
              (double)(clock_monotonic_ns() - started) / 1e6);
    cJSON *names = duckdb_query_tables(e, sql);
    if (duckdb_lists_tables(sql))
        duckdb_add_catalog_tables(e, names);
    int rc = duckdb_load_tables(e, names, err);
    cJSON_Delete(names);
    if (rc < 0)
        return -1;
    if (e->cache_mode == QUERY_CACHE_SYNC && !e->cache_checked && e->table_count &&
        query_cache_refresh(&e->api, e->cache_path, e->tables, e->table_count, 1, err) < 0)
        return tp_err_prefix(err, "refreshing the cache %s", e->cache_path);
    if (e->cache_mode != QUERY_CACHE_OFF && !e->cache_checked)
        e->cache_attached = query_cache_attach(&e->api, atomic_load(&e->connection), e->cache_path);
    e->cache_checked = 1;
    buf_reset(&e->stale);
    for (size_t i = 0; i < e->table_count; i++)
        if (duckdb_define_view(e, e->tables[i], stats, err) < 0)
            return -1;
    if (duckdb_engine_lock(e, err) < 0)
        return -1;
    log_debug("tables defined in %.1f ms", (double)(clock_monotonic_ns() - started) / 1e6);
    char *rewritten = duckdb_rewrite_extremes(e, sql);
    if (!rewritten)
        return tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
    rc = duckdb_run_select(&e->api, atomic_load(&e->connection), rewritten, sql, sink, &stats->rows,
                           &e->cancelled, err);
    free(rewritten);
    log_debug("query done in %.1f ms", (double)(clock_monotonic_ns() - started) / 1e6);
    if (rc < 0 && atomic_load(&e->cancelled))
        tp_err_set(err, TP_ERR_USAGE, "interrupted");
    return rc;
}

/* Trino spellings DuckDB cannot take as macros are rewritten first (the
 * table names come from DuckDB binding the statement). */
static int duckdb_engine_run_query(struct query_duckdb *e, const char *sql,
                                   const struct query_sink *sink, struct query_stats *stats,
                                   int64_t started, tp_err *err)
{
    char *statement = duckdb_rewrite_functions(sql, err);
    int rc = statement ? duckdb_engine_run_statement(e, statement, sink, stats, started, err) : -1;
    free(statement);
    return rc;
}

static void duckdb_engine_cancel(query_engine *base)
{
    struct query_duckdb *e = (struct query_duckdb *)base;
    atomic_store(&e->cancelled, 1);
    query_server_cancel(&e->server_connection);
    duckdb_connection connection = atomic_load(&e->connection);
    if (connection)
        e->api.interrupt(connection);
}

/* DuckDB left open by query_duckdb_free_for_exit: kept here so that it
 * stays reachable (a leak checker sees memory in use, not lost); volatile,
 * or the compiler drops stores nothing reads. */
static struct {
    duckdb_database db;
    duckdb_connection connection;
} volatile duckdb_left_open;

static void duckdb_engine_free(query_engine *base)
{
    struct query_duckdb *e = (struct query_duckdb *)base;
    duckdb_connection connection = atomic_exchange(&e->connection, NULL);
    if (e->leave_open) {
        duckdb_left_open.db = e->db;
        duckdb_left_open.connection = connection;
        connection = NULL;
        e->db = NULL;
    }
    if (connection)
        e->api.disconnect(&connection);
    if (e->db)
        e->api.close(&e->db);
    duckdb_api_unload(&e->api);
    for (size_t i = 0; i < e->table_count; i++)
        duckdb_table_free(e->tables[i]);
    free(e->tables);
    free(e->lake_root);
    free(e->lake_uri);
    free(e->database);
    free(e->library);
    free(e->cache_path);
    free(e->results_directory);
    free(e->server_path);
    free(e->server_key);
    buf_free(&e->stale);
    free(e);
}

static const struct query_ops duckdb_engine_ops = {
    "local",
    duckdb_engine_run,
    duckdb_engine_cancel,
    duckdb_engine_free,
};

query_engine *query_duckdb_open(const struct query_duckdb_options *options, tp_err *err)
{
    if (!options->lake_root || options->lake_root[0] != '/') {
        tp_err_set(err, TP_ERR_USAGE, "the local engine needs the lake's absolute path");
        return NULL;
    }
    struct query_duckdb *e = calloc(1, sizeof *e);
    if (!e) {
        tp_err_set(err, TP_ERR_INTERNAL, "out of memory");
        return NULL;
    }
    e->base.ops = &duckdb_engine_ops;
    e->lake = options->lake;
    e->tables_catalog = options->catalog;
    e->lake_root = strdup(options->lake_root);
    size_t length = strlen(e->lake_root);
    while (length > 1 && e->lake_root[length - 1] == '/')
        e->lake_root[--length] = '\0';
    if (options->lake_uri) {
        e->lake_uri = strdup(options->lake_uri);
        size_t uri_length = strlen(e->lake_uri);
        while (uri_length > 5 && e->lake_uri[uri_length - 1] == '/')
            e->lake_uri[--uri_length] = '\0';
    } else {
        buf uri = BUF_INIT;
        buf_printf(&uri, "file://%s", e->lake_root);
        e->lake_uri = buf_detach(&uri);
    }
    e->database = strdup(options->database);
    e->library = options->library ? strdup(options->library) : NULL;
    e->cache_mode = options->cache;
    e->cache_path = options->cache_path ? strdup(options->cache_path)
                                        : query_cache_default_path(e->lake_root, e->database);
    buf results = BUF_INIT;
    buf_printf(&results, "%s/_cache/results", e->lake_root);
    e->results_directory = buf_detach(&results);
    atomic_init(&e->cancelled, 0);
    atomic_init(&e->connection, NULL);
    atomic_init(&e->server_connection, -1);
    if (options->server_path && options->server_key) {
        e->server_path = strdup(options->server_path);
        e->server_key = strdup(options->server_key);
    }
    return &e->base;
}

char *query_duckdb_stale_tables(query_engine *base)
{
    struct query_duckdb *e = (struct query_duckdb *)base;
    return e->stale.len && !e->served ? strdup(e->stale.data) : NULL;
}

int query_duckdb_refresh_cache(query_engine *base, const char *tables, int wait, tp_err *err)
{
    struct query_duckdb *e = (struct query_duckdb *)base;
    if (!e->api.library && duckdb_api_load(&e->api, e->library, err) < 0)
        return -1;
    cJSON *names = cJSON_CreateArray();
    char *copy = strdup(tables);
    char *save = NULL;
    for (char *name = strtok_r(copy, ",", &save); name; name = strtok_r(NULL, ",", &save))
        if (*name)
            cJSON_AddItemToArray(names, cJSON_CreateString(name));
    free(copy);
    int rc = duckdb_load_tables(e, names, err);
    if (rc == 0 && (size_t)cJSON_GetArraySize(names) != e->table_count)
        rc = tp_err_set(err, TP_ERR_NOT_FOUND, "no table among '%s' in database %s", tables,
                        e->database);
    cJSON_Delete(names);
    if (rc == 0)
        rc = query_cache_refresh(&e->api, e->cache_path, e->tables, e->table_count, wait, err);
    return rc;
}

/* 1 when DuckDB spilled to temporary files (a close removes them). */
static int duckdb_has_temporary_files(struct query_duckdb *e)
{
    duckdb_connection connection = atomic_load(&e->connection);
    tp_err ignored;
    return !connection || duckdb_exec(&e->api, connection,
                                      "SELECT CASE WHEN count(*) > 0 THEN error('spilled') END "
                                      "FROM duckdb_temporary_files()",
                                      &ignored) < 0;
}

int query_duckdb_free_for_exit(query_engine *base)
{
    struct query_duckdb *e = (struct query_duckdb *)base;
    e->leave_open = e->db && !duckdb_has_temporary_files(e);
    int left = e->leave_open;
    duckdb_engine_free(base);
    return left;
}

int query_duckdb_server_wanted(query_engine *base)
{
    struct query_duckdb *e = (struct query_duckdb *)base;
    return e->server_path && e->ran_here;
}

int query_duckdb_warm(query_engine *base, tp_err *err)
{
    return duckdb_engine_open((struct query_duckdb *)base, err);
}

/* Forgets the previous query's tables: their views go, the catalog is
 * read again by the next one. */
static void duckdb_forget_tables(struct query_duckdb *e)
{
    buf sql = BUF_INIT;
    for (size_t i = 0; i < e->table_count; i++) {
        buf_append_str(&sql, "DROP VIEW IF EXISTS ");
        duckdb_quote_identifier(&sql, e->database);
        buf_append_char(&sql, '.');
        duckdb_quote_identifier(&sql, e->tables[i]->name);
        buf_append_char(&sql, ';');
        duckdb_table_free(e->tables[i]);
    }
    tp_err ignored;
    if (sql.len && duckdb_exec(&e->api, atomic_load(&e->connection), sql.data, &ignored) < 0)
        log_warn("dropping the previous query's views: %s", ignored.msg);
    buf_free(&sql);
    e->table_count = 0;
}

int query_duckdb_execute(query_engine *base, const char *sql, enum query_cache_mode mode,
                         const struct query_sink *sink, struct query_stats *stats, buf *stale,
                         tp_err *err)
{
    struct query_duckdb *e = (struct query_duckdb *)base;
    buf_reset(stale);
    if (duckdb_run_begin(sql, stats, err) < 0 || duckdb_engine_open(e, err) < 0)
        return -1;
    duckdb_forget_tables(e);
    e->cache_mode = mode;
    e->cache_checked = 0;
    atomic_store(&e->cancelled, 0);
    int rc = duckdb_engine_run_query(e, sql, sink, stats, clock_monotonic_ns(), err);
    if (e->cache_attached) { /* a refresh in another process may write it now */
        tp_err ignored;
        if (duckdb_exec(&e->api, atomic_load(&e->connection), "DETACH " QUERY_CACHE_ALIAS,
                        &ignored) < 0)
            log_warn("detaching the cache: %s", ignored.msg);
        e->cache_attached = 0;
    }
    buf_append(stale, e->stale.data ? e->stale.data : "", e->stale.len);
    return rc;
}
