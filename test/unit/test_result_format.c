/* Unit tests for lib/result_format: the aligned table, RFC 4180 CSV and
 * JSON lines, NULLs, quoting, escaping and the bounded table sample. */
#include "test/unit/check.h"

#include <stdlib.h>
#include <string.h>

#include "lib/result_format.h"

static const struct query_column columns[] = {
    {"symbol", "VARCHAR", QUERY_KIND_TEXT},
    {"price", "DOUBLE", QUERY_KIND_NUMBER},
    {"up", "BOOLEAN", QUERY_KIND_BOOLEAN},
};

#define V(s)                                                                                       \
    {                                                                                              \
        s, sizeof(s) - 1                                                                           \
    }
#define NUL_VALUE                                                                                  \
    {                                                                                              \
        NULL, 0                                                                                    \
    }

/* Formats rows (3 values each) and returns the output (caller frees). */
static char *format_rows(enum result_format format, const struct query_value *values, size_t rows)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    result_writer *w = result_writer_new(out, format);
    struct query_sink sink = result_writer_sink(w);
    tp_err err;
    int rc = sink.begin(sink.context, columns, 3, &err);
    for (size_t r = 0; rc == 0 && r < rows; r++)
        rc = sink.row(sink.context, values + 3 * r, 3, &err);
    if (rc == 0)
        rc = result_writer_finish(w, &err);
    result_writer_free(w);
    fclose(out);
    if (rc != 0) {
        free(text);
        return strdup("(error)");
    }
    return text;
}

static const struct query_value sample[] = {
    V("MSFT"),
    V("39.81"),
    V("true"), /* plain */
    V("A,\"B\""),
    V("-5"),
    V("false"), /* needs CSV quoting */
    NUL_VALUE,
    NUL_VALUE,
    NUL_VALUE, /* NULLs */
    V(""),
    V("inf"),
    V("maybe"), /* empty text, non-finite */
    V("l\xc3\xa9\nx"),
    V("1e300"),
    V("true"), /* UTF-8 and a newline */
};

static void test_table(void)
{
    char *got = format_rows(RESULT_FORMAT_TABLE, sample, 5);
    CHECK_STR(got, " symbol | price | up\n"
                   "--------+-------+-------\n"
                   " MSFT   | 39.81 | true\n"
                   " A,\"B\"  |    -5 | false\n"
                   " NULL   |  NULL | NULL\n"
                   "        |   inf | maybe\n"
                   " l\xc3\xa9\\nx  | 1e300 | true\n");
    free(got);
}

static void test_table_without_rows_prints_the_header(void)
{
    char *got = format_rows(RESULT_FORMAT_TABLE, sample, 0);
    CHECK_STR(got, " symbol | price | up\n"
                   "--------+-------+----\n");
    free(got);
}

static void test_table_streams_after_the_sample(void)
{
    size_t rows = RESULT_TABLE_SAMPLE_ROWS + 2;
    struct query_value *values = calloc(rows * 3, sizeof *values);
    for (size_t r = 0; r < rows; r++) {
        values[3 * r] = (struct query_value){"ab", 2};
        values[3 * r + 1] = (struct query_value){"1", 1};
        values[3 * r + 2] = (struct query_value){"true", 4};
    }
    values[3 * (rows - 1)] = (struct query_value){"a much longer value", 19};
    char *got = format_rows(RESULT_FORMAT_TABLE, values, rows);
    size_t lines = 0;
    for (const char *p = got; *p; p++)
        lines += *p == '\n';
    CHECK_INT(lines, rows + 2);
    CHECK(strstr(got, "\n ab     |     1 | true\n") != NULL);
    CHECK(strstr(got, "\n a much longer value |     1 | true\n") != NULL);
    free(got);
    free(values);
}

static void test_csv(void)
{
    char *got = format_rows(RESULT_FORMAT_CSV, sample, 5);
    CHECK_STR(got, "symbol,price,up\r\n"
                   "MSFT,39.81,true\r\n"
                   "\"A,\"\"B\"\"\",-5,false\r\n"
                   ",,\r\n"
                   "\"\",inf,maybe\r\n"
                   "\"l\xc3\xa9\nx\",1e300,true\r\n");
    free(got);
}

static void test_json_lines(void)
{
    char *got = format_rows(RESULT_FORMAT_JSON, sample, 5);
    CHECK_STR(got, "{\"symbol\":\"MSFT\",\"price\":39.81,\"up\":true}\n"
                   "{\"symbol\":\"A,\\\"B\\\"\",\"price\":-5,\"up\":false}\n"
                   "{\"symbol\":null,\"price\":null,\"up\":null}\n"
                   "{\"symbol\":\"\",\"price\":null,\"up\":\"maybe\"}\n"
                   "{\"symbol\":\"l\xc3\xa9\\nx\",\"price\":1e300,\"up\":true}\n");
    free(got);
}

/* A sink fed out of order (a broken query server stream) fails cleanly. */
static void test_row_before_columns_is_an_error(void)
{
    static const enum result_format formats[] = {RESULT_FORMAT_TABLE, RESULT_FORMAT_CSV,
                                                 RESULT_FORMAT_JSON};
    for (size_t i = 0; i < 3; i++) {
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream(&text, &size);
        result_writer *w = result_writer_new(out, formats[i]);
        struct query_sink sink = result_writer_sink(w);
        tp_err err;
        CHECK_INT(sink.row(sink.context, NULL, 0, &err), -1);
        CHECK(strstr(err.msg, "before the columns") != NULL);
        result_writer_free(w);
        fclose(out);
        free(text);
    }
}

static void test_parse_format_names(void)
{
    enum result_format format;
    CHECK(result_format_parse("csv", &format) == 0 && format == RESULT_FORMAT_CSV);
    CHECK(result_format_parse("json", &format) == 0 && format == RESULT_FORMAT_JSON);
    CHECK(result_format_parse("table", &format) == 0 && format == RESULT_FORMAT_TABLE);
    CHECK(result_format_parse("xml", &format) < 0);
}

int main(void)
{
    RUN(test_table);
    RUN(test_table_without_rows_prints_the_header);
    RUN(test_table_streams_after_the_sample);
    RUN(test_csv);
    RUN(test_json_lines);
    RUN(test_row_before_columns_is_an_error);
    RUN(test_parse_format_names);
    CHECK_EXIT();
}
