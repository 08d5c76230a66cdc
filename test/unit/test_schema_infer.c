/* Unit tests for lib/schema_infer (JSON/CSV inference, widening, Hive types)
 * and lib/inflate (streaming gunzip of a prefix, multi-member, truncation). */
#include "test/unit/check.h"

#include <zlib.h>

#include "lib/inflate.h"
#include "lib/schema_infer.h"

/* The Hive types of a sample's columns as "name:type,name:type". */
static char *columns_of(const schema_type *record)
{
    buf out = BUF_INIT;
    for (size_t i = 0; record && i < record->count; i++) {
        buf_printf(&out, "%s%s:", i ? "," : "", record->fields[i].name);
        schema_hive_type(record->fields[i].type, &out);
    }
    return buf_detach(&out);
}

struct bad_lines {
    int count;
    long long last_line;
    char last_reason[200];
};

static void on_bad(void *context, long long line, const char *reason)
{
    struct bad_lines *bad = context;
    bad->count++;
    bad->last_line = line;
    snprintf(bad->last_reason, sizeof bad->last_reason, "%s", reason);
}

/* Infers text; returns the columns (caller frees) or NULL on failure. */
static char *infer(const char *text, const char *name, int infer_timestamps,
                   struct schema_sample *sample, struct bad_lines *bad)
{
    struct schema_options options = {infer_timestamps, on_bad, bad};
    tp_err err;
    if (schema_infer_sample(text, strlen(text), 1, name, &options, sample, &err) < 0)
        return NULL;
    return columns_of(sample->record);
}

static void test_json_scalars_and_nesting(void)
{
    struct schema_sample sample;
    struct bad_lines bad = {0};
    char *columns = infer("{\"symbol\":\"MSFT\",\"n\":1,\"price\":39.81,\"ok\":true,\"x\":null,"
                          "\"tags\":[\"a\",\"b\"],\"q\":{\"bid\":1,\"ask\":{\"v\":2.5}},"
                          "\"e\":[],\"big\":12345678901234567890}\n",
                          "t/x.jsonl", 0, &sample, &bad);
    CHECK_STR(columns, "symbol:string,n:bigint,price:double,ok:boolean,x:string,"
                       "tags:array<string>,q:struct<bid:bigint,ask:struct<v:double>>,"
                       "e:array<string>,big:double");
    CHECK_INT(sample.records, 1);
    CHECK_INT(sample.format.classification, SCHEMA_FORMAT_JSON);
    free(columns);
    schema_sample_free(&sample);
}

static void test_json_widening_and_late_columns(void)
{
    struct schema_sample sample;
    struct bad_lines bad = {0};
    char *columns = infer("{\"a\":1,\"b\":1,\"c\":true,\"d\":{\"x\":1}}\n"
                          "{\"a\":2.5,\"b\":\"s\",\"c\":1,\"d\":[1]}\n"
                          "{\"a\":3,\"late\":null}\n"
                          "{\"late\":[{\"k\":1},{\"k\":1.5,\"j\":\"z\"}]}\n",
                          "t/x.json", 0, &sample, &bad);
    CHECK_STR(columns, "a:double,b:string,c:string,d:string,late:array<struct<k:double,j:string>>");
    CHECK_INT(sample.records, 4);
    CHECK_INT(bad.count, 0);
    free(columns);
    schema_sample_free(&sample);
}

static void test_json_timestamps(void)
{
    struct schema_sample sample;
    struct bad_lines bad = {0};
    const char *text = "{\"date\":\"2000-01-01T00:00:00.000Z\",\"d\":\"2000-01-01\"}\n";
    char *columns = infer(text, "x.json", 0, &sample, &bad);
    CHECK_STR(columns, "date:string,d:string");
    free(columns);
    schema_sample_free(&sample);
    columns = infer(text, "x.json", 1, &sample, &bad);
    CHECK_STR(columns, "date:timestamp,d:string");
    free(columns);
    schema_sample_free(&sample);
    CHECK(schema_is_timestamp("2013-10-04 11:00:00", 19));
    CHECK(schema_is_timestamp("2013-10-04T11:00+02:00", 22));
    CHECK(!schema_is_timestamp("2013-10-04T11:00:00Zx", 21));
    CHECK(!schema_is_timestamp("Jan 1 2000", 10));
}

static void test_json_bad_lines(void)
{
    struct schema_sample sample;
    struct bad_lines bad = {0};
    char *columns = infer("{\"a\":1}\nnot json\n\n{\"a\":2,\"b\":[1,}\n[1,2]\n{\"a\":3} x\n"
                          "{\"a\":\"\\ud83d\\ude00\",\"k\\u00e9\":1}\n",
                          "x.jsonl", 0, &sample, &bad);
    CHECK_STR(columns, "a:string,k\xC3\xA9:bigint");
    CHECK_INT(sample.records, 2);
    CHECK_INT(sample.bad_records, 4);
    CHECK_INT(bad.count, 4);
    CHECK_INT(bad.last_line, 6);
    CHECK(strstr(bad.last_reason, "text after") != NULL);
    free(columns);
    schema_sample_free(&sample);
    /* a bad line never leaks into the schema */
    columns = infer("{\"a\":1}\n{\"a\":1,\"z\":[1,2\n", "x.json", 0, &sample, &bad);
    CHECK_STR(columns, "a:bigint");
    free(columns);
    schema_sample_free(&sample);
    tp_err err;
    CHECK(schema_infer_sample("nope\n{\n", 7, 1, "x.json", NULL, &sample, &err) < 0);
    CHECK(strstr(err.msg, "no JSON record") != NULL);
    CHECK(schema_infer_sample(" \n\n", 3, 1, "x.json", NULL, &sample, &err) < 0);
    CHECK_STR(err.msg, "empty object");
}

static void test_json_odd_keys(void)
{
    struct schema_sample sample;
    struct bad_lines bad = {0};
    /* an empty key and a NUL escape (which would cut the name) stay distinct fields */
    char *columns = infer("{\"\":1,\"a\\u0000b\":2,\"a\":3}\n", "x.json", 0, &sample, &bad);
    CHECK_STR(columns, ":bigint,a\xEF\xBF\xBD"
                       "b:bigint,a:bigint");
    free(columns);
    schema_sample_free(&sample);
    /* a header-only CSV: its columns have no type yet, and that survives the state */
    columns = infer("a,b\n", "x.csv", 0, &sample, &bad);
    CHECK_STR(columns, "a:string,b:string");
    cJSON *json = schema_to_json(sample.record);
    tp_err err;
    schema_type *back = schema_from_json(json, &err);
    CHECK(schema_type_equal(back, sample.record));
    schema_type_free(back);
    cJSON_Delete(json);
    free(columns);
    schema_sample_free(&sample);
}

static void test_json_cut_sample(void)
{
    struct schema_sample sample;
    tp_err err;
    const char *text = "{\"a\":1}\n{\"a\":2,\"b\":";
    CHECK(schema_infer_sample(text, strlen(text), 0, "x.json", NULL, &sample, &err) == 0);
    CHECK_INT(sample.records, 1);
    CHECK_INT(sample.bad_records, 0);
    schema_sample_free(&sample);
}

static void test_nesting_limit(void)
{
    buf text = BUF_INIT;
    buf_append_str(&text, "{\"a\":");
    for (int i = 0; i < 200; i++)
        buf_append_char(&text, '[');
    for (int i = 0; i < 200; i++)
        buf_append_char(&text, ']');
    buf_append_str(&text, "}\n{\"a\":[[1]]}\n");
    struct schema_sample sample;
    tp_err err;
    CHECK(schema_infer_sample(text.data, text.len, 1, "x.json", NULL, &sample, &err) == 0);
    CHECK_INT(sample.bad_records, 1);
    char *columns = columns_of(sample.record);
    CHECK_STR(columns, "a:array<array<bigint>>");
    free(columns);
    schema_sample_free(&sample);
    buf_free(&text);
}

static void test_csv_header_types_quotes(void)
{
    struct schema_sample sample;
    struct bad_lines bad = {0};
    char *columns = infer("symbol,date,price,Adj Close,flag\nMSFT,Jan 1 2000,39.81,1,true\n"
                          "IBM,Feb 1 2000,,2,false\n",
                          "t/x.csv", 0, &sample, &bad);
    CHECK_STR(columns, "symbol:string,date:string,price:double,Adj Close:bigint,flag:boolean");
    CHECK_INT(sample.format.classification, SCHEMA_FORMAT_CSV);
    CHECK_INT(sample.format.header, 1);
    CHECK_INT(sample.format.quoted, 0);
    CHECK_INT(sample.format.delimiter, ',');
    CHECK_INT(sample.records, 2);
    free(columns);
    schema_sample_free(&sample);

    columns = infer("a\tb\n\"x\ty\"\t2\n\"z\"\t3.5\n", "x.tsv", 0, &sample, &bad);
    CHECK_STR(columns, "a:string,b:double");
    CHECK_INT(sample.format.delimiter, '\t');
    CHECK_INT(sample.format.quoted, 1);
    free(columns);
    schema_sample_free(&sample);

    /* no header: every row is data, columns col0.. */
    columns = infer("1|x|2.5\n2|y|3\n", "x.csv", 0, &sample, &bad);
    CHECK_STR(columns, "col0:bigint,col1:string,col2:double");
    CHECK_INT(sample.format.header, 0);
    CHECK_INT(sample.records, 2);
    free(columns);
    schema_sample_free(&sample);

    /* wrong field count: counted and skipped */
    bad.count = 0;
    columns = infer("a,b\n1,2\n3\n4,5\n", "x.csv", 0, &sample, &bad);
    CHECK_STR(columns, "a:bigint,b:bigint");
    CHECK_INT(sample.records, 2);
    CHECK_INT(bad.count, 1);
    CHECK_INT(bad.last_line, 3);
    free(columns);
    schema_sample_free(&sample);
}

static void test_merge_and_state_round_trip(void)
{
    struct schema_sample first, second;
    struct bad_lines bad = {0};
    free(infer("{\"a\":1,\"b\":{\"x\":1}}\n", "x.json", 0, &first, &bad));
    free(infer("{\"c\":\"s\",\"a\":1.5,\"b\":{\"y\":true}}\n", "x.json", 0, &second, &bad));
    schema_type *merged = NULL;
    CHECK(schema_merge(&merged, first.record) == 0);
    CHECK(schema_merge(&merged, second.record) == 0);
    char *columns = columns_of(merged);
    CHECK_STR(columns, "a:double,b:struct<x:bigint,y:boolean>,c:string");
    free(columns);
    cJSON *json = schema_to_json(merged);
    tp_err err;
    schema_type *back = schema_from_json(json, &err);
    CHECK(back != NULL && schema_type_equal(back, merged));
    CHECK(!schema_type_equal(back, first.record));
    cJSON_Delete(json);
    schema_type_free(back);
    schema_type_free(merged);
    schema_sample_free(&first);
    schema_sample_free(&second);
}

/* gzip-compresses text as one member. */
static void gzip_member(const char *text, buf *out)
{
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    buf_reserve(out, strlen(text) + 256);
    z.next_in = (unsigned char *)text;
    z.avail_in = (uInt)strlen(text);
    z.next_out = (unsigned char *)out->data + out->len;
    z.avail_out = (uInt)(out->cap - out->len);
    deflate(&z, Z_FINISH);
    out->len += z.total_out;
    deflateEnd(&z);
}

/* Feeds data in chunks of step bytes; returns the last feed/finish result. */
static int gunzip_in_steps(const buf *in, size_t step, size_t max_output, buf *out, tp_err *err)
{
    inflate_reader *reader = inflate_reader_new(INFLATE_AUTO, max_output, err);
    int rc = 0;
    for (size_t at = 0; at < in->len && rc == 0; at += step) {
        size_t n = in->len - at < step ? in->len - at : step;
        rc = inflate_reader_feed(reader, in->data + at, n, out, err);
    }
    if (rc == 0)
        rc = inflate_reader_finish(reader, err);
    inflate_reader_free(reader);
    return rc;
}

static void test_inflate_members_truncation_limit(void)
{
    buf gz = BUF_INIT, out = BUF_INIT;
    gzip_member("{\"a\":1}\n", &gz);
    gzip_member("{\"a\":2}\n", &gz);
    tp_err err;
    for (size_t step = 1; step <= 7; step += 3) {
        buf_reset(&out);
        CHECK_INT(gunzip_in_steps(&gz, step, 0, &out, &err), 0);
        CHECK_STR(out.data, "{\"a\":1}\n{\"a\":2}\n");
    }
    buf_reset(&out);
    CHECK_INT(gunzip_in_steps(&gz, 5, 10, &out, &err), 1); /* limit reached */
    CHECK_INT(out.len, 10);
    buf cut = BUF_INIT;
    buf_append(&cut, gz.data, gz.len - 5);
    buf_reset(&out);
    CHECK_INT(gunzip_in_steps(&cut, 4, 0, &out, &err), -1);
    CHECK(strstr(err.msg, "truncated") != NULL);
    cut.data[cut.len - 12] ^= 0x55; /* corrupt the second member */
    buf_reset(&out);
    CHECK_INT(gunzip_in_steps(&cut, 4096, 0, &out, &err), -1);
    buf_reset(&cut);
    buf_append_str(&cut, "plain text\n");
    buf_reset(&out);
    CHECK_INT(gunzip_in_steps(&cut, 1, 0, &out, &err), 0);
    CHECK_STR(out.data, "plain text\n");
    buf_reset(&cut);
    buf_append(&cut, "\x1f", 1);
    CHECK_INT(gunzip_in_steps(&cut, 1, 0, &out, &err), -1);
    inflate_reader *strict = inflate_reader_new(INFLATE_GZIP, 0, &err);
    CHECK_INT(inflate_reader_feed(strict, "ab", 2, &out, &err), -1);
    CHECK(strstr(err.msg, "not gzip") != NULL);
    inflate_reader_free(strict);
    buf_free(&cut);
    buf_free(&gz);
    buf_free(&out);
}

int main(void)
{
    RUN(test_json_scalars_and_nesting);
    RUN(test_json_widening_and_late_columns);
    RUN(test_json_timestamps);
    RUN(test_json_bad_lines);
    RUN(test_json_odd_keys);
    RUN(test_json_cut_sample);
    RUN(test_nesting_limit);
    RUN(test_csv_header_types_quotes);
    RUN(test_merge_and_state_round_trip);
    RUN(test_inflate_members_truncation_limit);
    CHECK_EXIT();
}
