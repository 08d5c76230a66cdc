/* Unit tests for lib/csv: RFC 4180 cases, malformed input, every read-size boundary. */
#include "test/unit/check.h"

#include <sys/mman.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/csv.h"

static int memfd_with(const char *text, size_t length)
{
    int fd = memfd_create("csv", 0);
    if (write(fd, text, length) != (ssize_t)length)
        return -1;
    lseek(fd, 0, SEEK_SET);
    return fd;
}

/* Parses text and renders records as "[a|b]\n" (malformed records as
 * "!reason@line\n"), with the given bytes per read. */
static char *render(const char *text, size_t read_size)
{
    int fd = memfd_with(text, strlen(text));
    struct csv_options options = {.read_size = read_size};
    tp_err err;
    csv_reader *reader = csv_reader_new(fd, &options, &err);
    buf out = BUF_INIT;
    csv_record record;
    int rc;
    while ((rc = csv_reader_next(reader, &record, &err)) == 1) {
        if (record.malformed) {
            buf_printf(&out, "!%s@%lld\n", record.malformed, record.line);
            continue;
        }
        buf_append_char(&out, '[');
        for (size_t i = 0; i < record.count; i++)
            buf_printf(&out, "%s%s", i ? "|" : "", record.fields[i]);
        buf_printf(&out, "]@%lld\n", record.line);
    }
    if (rc < 0)
        buf_printf(&out, "ERROR %s\n", err.msg);
    csv_reader_free(reader);
    close(fd);
    return buf_detach(&out);
}

/* Checks the rendering for every read size from 1 to 9 and the default. */
static void expect(const char *text, const char *want)
{
    static const size_t sizes[] = {1, 2, 3, 4, 5, 7, 9, 0};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char *got = render(text, sizes[i]);
        if (!CHECK_STR(got, want))
            fprintf(stderr, "  (read size %zu, input \"%s\")\n", sizes[i], text);
        free(got);
    }
}

static void test_plain_records(void)
{
    expect("a,b,c\n1,2,3\n", "[a|b|c]@1\n[1|2|3]@2\n");
    expect("a,b\n1,2", "[a|b]@1\n[1|2]@2\n"); /* no trailing newline */
    expect("a,,c\n,,\n", "[a||c]@1\n[||]@2\n");
    expect("single\n", "[single]@1\n");
}

static void test_line_endings_and_blank_lines(void)
{
    expect("a,b\r\n1,2\r\n", "[a|b]@1\n[1|2]@2\n");
    expect("a,b\r1,2\r", "[a|b]@1\n[1|2]@2\n");
    expect("a,b\n\n\n1,2\n\n", "[a|b]@1\n[1|2]@4\n");
    expect("\r\n\r\na\r\n", "[a]@3\n");
    expect("", "");
    expect("\n\n", "");
}

static void test_quoted_fields(void)
{
    expect("\"a,b\",c\n", "[a,b|c]@1\n");
    expect("\"say \"\"hi\"\"\",x\n", "[say \"hi\"|x]@1\n");
    expect("\"\",\"\"\"\"\n", "[|\"]@1\n");
    expect("\"multi\nline\",2\nnext,3\n", "[multi\nline|2]@1\n[next|3]@3\n");
    expect("\"crlf\r\ninside\",2\r\nz,9\r\n", "[crlf\r\ninside|2]@1\n[z|9]@3\n");
    expect("x,\"ends at eof\"", "[x|ends at eof]@1\n");
    expect("a\"b,c\n", "[a\"b|c]@1\n"); /* a quote inside an unquoted field is literal */
}

static void test_bom(void)
{
    expect("\xEF\xBB\xBFsymbol,date\nA,1\n", "[symbol|date]@1\n[A|1]@2\n");
    expect("\xEF\xBB\xBF", "");
    expect("\xEF\xBB", "[\xEF\xBB]@1\n"); /* a cut BOM is data */
}

static void test_malformed_records(void)
{
    expect("\"open,1\n2,3\n", "!unterminated quoted field@1\n");
    expect("\"ab\"c,1\nok,2\n", "!text after the closing quote of a field@1\n[ok|2]@2\n");
}

static void test_overlong_record_is_skipped(void)
{
    buf text = BUF_INIT;
    buf_append_str(&text, "h\n\"");
    for (int i = 0; i < 3000; i++)
        buf_append_char(&text, 'x');
    buf_append_str(&text, "\nnext\n");
    int fd = memfd_with(text.data, text.len);
    struct csv_options options = {.max_record_bytes = 1000, .read_size = 100};
    tp_err err;
    csv_reader *reader = csv_reader_new(fd, &options, &err);
    csv_record record;
    CHECK_INT(csv_reader_next(reader, &record, &err), 1);
    CHECK_STR(record.fields[0], "h");
    CHECK_INT(csv_reader_next(reader, &record, &err), 1);
    CHECK(record.malformed && strstr(record.malformed, "longer"));
    CHECK_INT(csv_reader_next(reader, &record, &err), 1);
    CHECK_STR(record.fields[0], "next");
    CHECK_INT(record.line, 3);
    CHECK_INT(csv_reader_next(reader, &record, &err), 0);
    csv_reader_free(reader);
    close(fd);
    buf_free(&text);
}

static void test_offsets_and_seek(void)
{
    const char *text = "h1,h2\nA,1\n\"B\nb\",2\nC,3\n";
    int fd = memfd_with(text, strlen(text));
    tp_err err;
    csv_reader *reader = csv_reader_new(fd, NULL, &err);
    csv_record record;
    long long offsets[4], lines[4];
    int n = 0;
    while (csv_reader_next(reader, &record, &err) == 1 && n < 4) {
        offsets[n] = record.offset;
        lines[n] = record.line;
        n++;
    }
    CHECK_INT(n, 4);
    CHECK_INT(offsets[2], 10);
    CHECK_INT(lines[3], 5);
    CHECK(csv_reader_seek(reader, offsets[2], lines[2], &err) == 0);
    CHECK_INT(csv_reader_next(reader, &record, &err), 1);
    CHECK_STR(record.fields[0], "B\nb");
    CHECK_INT(record.line, 3);
    CHECK_INT(csv_reader_position(reader), 18);
    csv_reader_free(reader);
    close(fd);
}

static void test_embedded_nul_keeps_length(void)
{
    const char text[] = "a\0b,c\n";
    int fd = memfd_with(text, sizeof text - 1);
    tp_err err;
    csv_reader *reader = csv_reader_new(fd, NULL, &err);
    csv_record record;
    CHECK_INT(csv_reader_next(reader, &record, &err), 1);
    CHECK_INT(record.count, 2);
    CHECK_INT(record.lengths[0], 3);
    CHECK(memcmp(record.fields[0], "a\0b", 3) == 0);
    csv_reader_free(reader);
    close(fd);
}

static void test_large_input_constant_buffer(void)
{
    /* 200k records through a pipe-sized read: the reader must not grow. */
    buf text = BUF_INIT;
    for (int i = 0; i < 200000; i++)
        buf_printf(&text, "SYM%d,2020-01-01,%d.5\n", i % 50, i);
    int fd = memfd_with(text.data, text.len);
    tp_err err;
    csv_reader *reader = csv_reader_new(fd, NULL, &err);
    csv_record record;
    long long count = 0, sum = 0;
    while (csv_reader_next(reader, &record, &err) == 1) {
        count++;
        sum += atoll(record.fields[2]);
    }
    CHECK_INT(count, 200000);
    CHECK_INT(sum, 19999900000LL);
    csv_reader_free(reader);
    close(fd);
    buf_free(&text);
}

static void test_append_field_quotes_only_when_needed(void)
{
    buf out = BUF_INIT;
    csv_append_field(&out, "plain", 5);
    buf_append_char(&out, '|');
    csv_append_field(&out, "a,b", 3);
    buf_append_char(&out, '|');
    csv_append_field(&out, "say \"hi\"", 8);
    buf_append_char(&out, '|');
    csv_append_field(&out, "two\nlines", 9);
    buf_append_char(&out, '|');
    csv_append_field(&out, "", 0);
    buf_append_char(&out, '|');
    csv_append_field(&out, NULL, 0);
    CHECK_STR(out.data, "plain|\"a,b\"|\"say \"\"hi\"\"\"|\"two\nlines\"|\"\"|");
    /* what the writer writes, the reader reads back */
    int fd = memfd_with(out.data, out.len);
    struct csv_options options = {.delimiter = '|'};
    tp_err err;
    csv_reader *reader = csv_reader_new(fd, &options, &err);
    csv_record record;
    CHECK_INT(csv_reader_next(reader, &record, &err), 1);
    CHECK_INT(record.count, 6);
    CHECK_STR(record.fields[2], "say \"hi\"");
    CHECK_STR(record.fields[3], "two\nlines");
    csv_reader_free(reader);
    close(fd);
    buf_free(&out);
}

int main(void)
{
    RUN(test_plain_records);
    RUN(test_line_endings_and_blank_lines);
    RUN(test_quoted_fields);
    RUN(test_bom);
    RUN(test_malformed_records);
    RUN(test_overlong_record_is_skipped);
    RUN(test_offsets_and_seek);
    RUN(test_embedded_nul_keeps_length);
    RUN(test_large_input_constant_buffer);
    RUN(test_append_field_quotes_only_when_needed);
    CHECK_EXIT();
}
