/*
 * query_results: stored results of repeated queries (see query_results.h).
 * File format: "TPRESULT1\n", the columns (u32 count; per column u32
 * length + name, u32 length + type, u8 kind), the rows (per value u32
 * length or 0xffffffff for NULL, then the bytes), then "END" and the u64
 * row count, so a torn file is recognised and ignored.
 */
#include "lib/query_results.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/fs.h"
#include "lib/log.h"
#include "lib/sha256.h"
#include "lib/sql_guard.h"

#define QUERY_RESULTS_MAGIC "TPRESULT1\n"
#define QUERY_RESULTS_NULL  0xffffffffu

/* Words whose presence makes a result depend on more than the tables. */
static const char *const query_results_volatile_words[] = {
    "random",
    "rand",
    "setseed",
    "now",
    "current_date",
    "current_time",
    "current_timestamp",
    "localtime",
    "localtimestamp",
    "get_current_time",
    "get_current_timestamp",
    "transaction_timestamp",
    "today",
    "uuid",
    "gen_random_uuid",
    "uuidv4",
    "uuidv7",
    "nextval",
    "currval",
    "current_setting",
    "current_query",
    "read_csv",
    "read_csv_auto",
    "read_json",
    "read_json_auto",
    "read_ndjson",
    "read_parquet",
    "parquet_scan",
    "read_text",
    "read_blob",
    "glob",
    "sniff_csv",
    "sample",
    "tablesample",
    "getvariable",
};

static const char *const query_results_statements[] = {"SELECT", "WITH", "FROM", "VALUES", "TABLE"};

int query_results_cacheable(const char *sql)
{
    struct sql_lexer lexer;
    struct sql_token token, previous = {SQL_TOKEN_END, 0, 0};
    sql_lexer_init(&lexer, sql, strlen(sql));
    int first = 1;
    for (;;) {
        enum sql_token_type type = sql_lexer_next(&lexer, &token);
        if (type == SQL_TOKEN_ERROR)
            return 0;
        if (type == SQL_TOKEN_END)
            return !first;
        if (first) {
            int query = sql_token_is_symbol(&lexer, &token, '(');
            for (size_t i = 0;
                 !query && i < sizeof query_results_statements / sizeof *query_results_statements;
                 i++)
                query = sql_token_is_word(&lexer, &token, query_results_statements[i]);
            if (!query)
                return 0;
            first = 0;
        }
        if (type == SQL_TOKEN_WORD) {
            for (size_t i = 0;
                 i < sizeof query_results_volatile_words / sizeof *query_results_volatile_words;
                 i++)
                if (sql_token_is_word(&lexer, &token, query_results_volatile_words[i]))
                    return 0;
            if ((token.length > 7 && strncasecmp(sql + token.offset, "duckdb_", 7) == 0) ||
                (token.length > 7 && strncasecmp(sql + token.offset, "pragma_", 7) == 0))
                return 0;
        }
        /* FROM 'file.csv' reads a file by name */
        if (type == SQL_TOKEN_STRING && (sql_token_is_word(&lexer, &previous, "FROM") ||
                                         sql_token_is_word(&lexer, &previous, "JOIN") ||
                                         sql_token_is_symbol(&lexer, &previous, ',')))
            return 0;
        previous = token;
    }
}

char *query_results_path(const char *directory, const char *database, const char *sql,
                         struct duckdb_table *const *tables, size_t count)
{
    buf key = BUF_INIT;
    buf_printf(&key, "tickpipe %s result v1\n%s\n%zu:%s\n", TICKPIPE_VERSION, database, strlen(sql),
               sql);
    for (size_t t = 0; t < count; t++) {
        const struct duckdb_table *table = tables[t];
        buf_printf(&key, "table %s\n%s\n", table->name, table->signature);
        for (size_t i = 0; i < table->object_count; i++) {
            const struct duckdb_object *o = &table->objects[i];
            buf_printf(&key, "%s\t%s\t%lld", o->path, o->etag, o->size);
            for (size_t k = 0; k < table->key_count; k++)
                buf_printf(&key, "\t%s", table->partitions[o->partition].values[k]);
            buf_append_char(&key, '\n');
        }
    }
    buf path = BUF_INIT;
    if (key.data) {
        char hex[2 * SHA256_BYTES + 1];
        sha256_hex(key.data, key.len, hex);
        buf_printf(&path, "%s/%s.result", directory, hex);
    }
    buf_free(&key);
    return path.data ? buf_detach(&path) : NULL;
}

/* ---- reading ------------------------------------------------------------ */

struct query_results_reader {
    const unsigned char *p;
    const unsigned char *end;
};

static int query_results_u32(struct query_results_reader *r, uint32_t *value)
{
    if (r->end - r->p < 4)
        return -1;
    memcpy(value, r->p, 4);
    r->p += 4;
    return 0;
}

static int query_results_bytes(struct query_results_reader *r, uint32_t length, const char **bytes)
{
    if ((uint64_t)(r->end - r->p) < length)
        return -1;
    *bytes = (const char *)r->p;
    r->p += length;
    return 0;
}

static int query_results_read_file(const char *path, char **data, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    struct stat st;
    int rc = 0;
    if (fstat(fileno(f), &st) == 0 && st.st_size > 0 &&
        st.st_size <= QUERY_RESULTS_MAX_RESULT_BYTES + (1 << 20)) {
        *data = malloc((size_t)st.st_size);
        if (*data && fread(*data, 1, (size_t)st.st_size, f) == (size_t)st.st_size) {
            *size = (size_t)st.st_size;
            rc = 1;
        } else {
            free(*data);
            *data = NULL;
        }
    }
    fclose(f);
    return rc;
}

int query_results_replay(const char *path, const struct query_sink *sink, long long *rows,
                         tp_err *err)
{
    char *data = NULL;
    size_t size = 0;
    if (!query_results_read_file(path, &data, &size))
        return 0;
    size_t magic = strlen(QUERY_RESULTS_MAGIC);
    uint64_t stored_rows = 0;
    if (size < magic + 4 + 11 || memcmp(data, QUERY_RESULTS_MAGIC, magic) != 0 ||
        memcmp(data + size - 11, "END", 3) != 0) {
        free(data);
        return 0;
    }
    memcpy(&stored_rows, data + size - 8, 8);
    struct query_results_reader r = {(unsigned char *)data + magic,
                                     (unsigned char *)data + size - 11};
    uint32_t count = 0;
    int rc = query_results_u32(&r, &count) == 0 && count < 100000 ? 0 : -1;
    struct query_column *columns = calloc(count ? count : 1, sizeof *columns);
    struct query_value *values = calloc(count ? count : 1, sizeof *values);
    char **names = calloc(count ? count : 1, 2 * sizeof *names);
    if (!columns || !values || !names)
        rc = -1;
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        uint32_t length = 0;
        const char *bytes;
        for (int part = 0; rc == 0 && part < 2; part++) {
            rc = query_results_u32(&r, &length) == 0 && query_results_bytes(&r, length, &bytes) == 0
                     ? 0
                     : -1;
            if (rc == 0 && !(names[2 * i + part] = strndup(bytes, length)))
                rc = -1;
        }
        if (rc == 0 && query_results_bytes(&r, 1, &bytes) == 0) {
            columns[i].name = names[2 * i];
            columns[i].type = names[2 * i + 1];
            columns[i].kind = (enum query_kind)(unsigned char)bytes[0];
        } else {
            rc = -1;
        }
    }
    /* validate everything before the first row goes out */
    struct query_results_reader check = r;
    uint64_t counted = 0;
    while (rc == 0 && check.p < check.end) {
        for (uint32_t i = 0; rc == 0 && i < count; i++) {
            uint32_t length = 0;
            const char *bytes;
            if (query_results_u32(&check, &length) < 0 ||
                (length != QUERY_RESULTS_NULL && query_results_bytes(&check, length, &bytes) < 0))
                rc = -1;
        }
        counted++;
    }
    int found = 0;
    if (rc == 0 && counted == stored_rows && (count > 0 || stored_rows == 0)) {
        found = 1;
        rc = sink->begin(sink->context, columns, count, err);
        while (rc == 0 && r.p < r.end) {
            for (uint32_t i = 0; i < count; i++) {
                uint32_t length = QUERY_RESULTS_NULL;
                query_results_u32(&r, &length);
                if (length == QUERY_RESULTS_NULL) {
                    values[i].text = NULL;
                    values[i].length = 0;
                } else {
                    query_results_bytes(&r, length, &values[i].text);
                    values[i].length = length;
                }
            }
            rc = sink->row(sink->context, values, count, err);
            if (rc == 0)
                (*rows)++;
        }
    } else {
        rc = 0; /* damaged: as if absent */
    }
    for (uint32_t i = 0; names && i < 2 * count; i++)
        free(names[i]);
    free(names);
    free(columns);
    free(values);
    free(data);
    if (rc < 0)
        return -1;
    return found;
}

/* ---- recording ---------------------------------------------------------- */

struct query_results_recorder {
    struct query_sink inner;
    buf data;
    uint64_t rows;
    int too_big;
    int began;
};

static void query_results_put_u32(buf *out, uint32_t value)
{
    buf_append(out, &value, 4);
}

static int query_results_record_begin(void *context, const struct query_column *columns,
                                      size_t count, tp_err *err)
{
    query_results_recorder *r = context;
    buf_append_str(&r->data, QUERY_RESULTS_MAGIC);
    query_results_put_u32(&r->data, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        const char *type = columns[i].type ? columns[i].type : "";
        query_results_put_u32(&r->data, (uint32_t)strlen(columns[i].name));
        buf_append_str(&r->data, columns[i].name);
        query_results_put_u32(&r->data, (uint32_t)strlen(type));
        buf_append_str(&r->data, type);
        buf_append_char(&r->data, (char)columns[i].kind);
    }
    r->began = 1;
    return r->inner.begin(r->inner.context, columns, count, err);
}

static int query_results_record_row(void *context, const struct query_value *values, size_t count,
                                    tp_err *err)
{
    query_results_recorder *r = context;
    if (!r->too_big) {
        for (size_t i = 0; i < count; i++) {
            if (!values[i].text) {
                query_results_put_u32(&r->data, QUERY_RESULTS_NULL);
                continue;
            }
            query_results_put_u32(&r->data, (uint32_t)values[i].length);
            buf_append(&r->data, values[i].text, values[i].length);
        }
        r->rows++;
        if ((long long)r->data.len > QUERY_RESULTS_MAX_RESULT_BYTES) {
            r->too_big = 1;
            buf_free(&r->data);
        }
    }
    return r->inner.row(r->inner.context, values, count, err);
}

query_results_recorder *query_results_recorder_new(const struct query_sink *inner)
{
    query_results_recorder *r = calloc(1, sizeof *r);
    if (r)
        r->inner = *inner;
    return r;
}

struct query_sink query_results_recorder_sink(query_results_recorder *recorder)
{
    struct query_sink sink = {query_results_record_begin, query_results_record_row, recorder};
    return sink;
}

struct query_results_file {
    char *path;
    time_t used;
    long long size;
};

static int query_results_older_first(const void *a, const void *b)
{
    const struct query_results_file *x = a, *y = b;
    return x->used < y->used ? -1 : x->used > y->used;
}

/* Removes the least recently used results past QUERY_RESULTS_MAX_BYTES. */
static void query_results_trim(const char *directory)
{
    DIR *d = opendir(directory);
    if (!d)
        return;
    struct query_results_file *files = NULL;
    size_t count = 0, capacity = 0;
    long long total = 0;
    struct dirent *entry;
    while ((entry = readdir(d))) {
        size_t length = strlen(entry->d_name);
        if (length < 8 || strcmp(entry->d_name + length - 7, ".result") != 0)
            continue;
        buf path = BUF_INIT;
        buf_printf(&path, "%s/%s", directory, entry->d_name);
        struct stat st;
        if (stat(path.data, &st) != 0 || (count == capacity && !(capacity = capacity * 2 + 64))) {
            buf_free(&path);
            continue;
        }
        struct query_results_file *grown = realloc(files, capacity * sizeof *files);
        if (!grown) {
            buf_free(&path);
            break;
        }
        files = grown;
        files[count++] = (struct query_results_file){
            buf_detach(&path), st.st_atime > st.st_mtime ? st.st_atime : st.st_mtime,
            (long long)st.st_size};
        total += st.st_size;
    }
    closedir(d);
    if (total > QUERY_RESULTS_MAX_BYTES)
        qsort(files, count, sizeof *files, query_results_older_first);
    for (size_t i = 0; i < count; i++) {
        if (total > QUERY_RESULTS_MAX_BYTES && unlink(files[i].path) == 0)
            total -= files[i].size;
        free(files[i].path);
    }
    free(files);
}

void query_results_recorder_store(query_results_recorder *r, const char *path)
{
    if (!r->began || r->too_big || !r->data.data || !path)
        return;
    buf_append_str(&r->data, "END");
    buf_append(&r->data, &r->rows, 8);
    char *directory = strdup(path);
    char *slash = directory ? strrchr(directory, '/') : NULL;
    tp_err ignored;
    if (!slash || fs_make_parents_below(path, 2, &ignored) < 0) { /* <lake>/_cache/results */
        free(directory);
        return;
    }
    *slash = '\0';
    buf temp = BUF_INIT;
    buf_printf(&temp, "%s/.%ld.tmp", directory, (long)getpid());
    FILE *f = fopen(temp.data, "wb");
    int ok = f && fwrite(r->data.data, 1, r->data.len, f) == r->data.len;
    if (f && fclose(f) != 0)
        ok = 0;
    if (ok && rename(temp.data, path) == 0) {
        log_debug("stored the result in %s", path);
        query_results_trim(directory);
    } else {
        log_info("could not store the result in %s: %s", path, strerror(errno));
        unlink(temp.data);
    }
    buf_free(&temp);
    free(directory);
}

void query_results_recorder_free(query_results_recorder *r)
{
    if (!r)
        return;
    buf_free(&r->data);
    free(r);
}
