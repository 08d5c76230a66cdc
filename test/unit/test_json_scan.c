/* Unit tests for lib/json's object scanner (consume's validator) and minifier. */
#include "test/unit/check.h"

#include "lib/json.h"

static const char *const time_names[] = {"timestamp", "date", NULL};

/* Returns "1:<value>@<index>", "0", or "-1:<reason>". */
static const char *scan(const char *text)
{
    static char out[256];
    const char *value = NULL, *reason = NULL;
    size_t length = 0;
    int matched, multiline;
    int rc = json_scan_object(text, strlen(text), time_names, &value, &length, &matched, &multiline,
                              &reason);
    if (rc == 1)
        snprintf(out, sizeof out, "1:%.*s@%d%s", (int)length, value, matched,
                 multiline ? "+nl" : "");
    else if (rc == 0)
        snprintf(out, sizeof out, "0%s", multiline ? "+nl" : "");
    else
        snprintf(out, sizeof out, "-1:%s", reason);
    return out;
}

static void test_valid_objects(void)
{
    CHECK_STR(scan("{\"symbol\":\"A\",\"date\":\"2020-01-01T00:00:00.000Z\",\"price\":1.5}"),
              "1:2020-01-01T00:00:00.000Z@1");
    CHECK_STR(scan("{\"date\":\"d\",\"timestamp\":\"t\"}"), "1:t@0"); /* priority order */
    CHECK_STR(scan("{\"timestamp\":1381152600000}"), "1:1381152600000@0");
    CHECK_STR(scan(" {\"a\":[1,{\"date\":\"nested\"}],\"b\":{\"c\":null}} \n"), "0+nl");
    CHECK_STR(scan("{}"), "0");
    CHECK_STR(scan("{\"date\":null}"), "0");
    CHECK_STR(scan("{\"s\":\"esc \\\" \\\\ \\u00e9 \\n\",\"date\":\"x\"}"), "1:x@1");
    CHECK_STR(scan("{\n  \"date\": \"x\"\n}"), "1:x@1+nl");
    CHECK_STR(scan("{\"t\":true,\"f\":false,\"n\":-0.5e-3,\"z\":0}"), "0");
}

static void test_invalid_messages(void)
{
    CHECK_STR(scan(""), "-1:empty message");
    CHECK_STR(scan("[1,2]"), "-1:not a JSON object");
    CHECK_STR(scan("\"str\""), "-1:not a JSON object");
    CHECK_STR(scan("{\"a\":1"), "-1:expected ',' or '}'");
    CHECK_STR(scan("{\"a\":1}}"), "-1:text after the JSON object");
    CHECK_STR(scan("{\"a\":01}"), "-1:malformed number");
    CHECK_STR(scan("{\"a\":\"x\ty\"}"), "-1:control character inside a string");
    CHECK_STR(scan("{\"a\":\"\\q\"}"), "-1:bad escape in a string");
    CHECK_STR(scan("{\"a\":\"\\uDDDD\"}"), "-1:lone \\u surrogate");
    CHECK_STR(scan("{\"a\":\"\\uD83D\"}"), "-1:lone \\u surrogate");
    CHECK_STR(scan("{\"a\":\"\\uD83D\\uDCC8\",\"date\":\"x\"}"), "1:x@1"); /* a pair */
    CHECK_STR(scan("{\"a\":tru}"), "-1:unexpected character");
    CHECK_STR(scan("{a:1}"), "-1:expected a member name");
    CHECK_STR(scan("{\"a\":\"open"), "-1:unterminated string");
    char deep[200] = "{\"a\":";
    for (int i = 0; i < 70; i++)
        strcat(deep, "[");
    CHECK_STR(scan(deep), "-1:nested too deeply");
    /* found by fuzz_json_scan: a backslash before a NUL byte is no escape */
    const char nul_escape[] = {'{', '"', 'a', '\\', '\0', '"', ':', '1', '}'};
    const char *v, *why;
    size_t n;
    int which, lines;
    CHECK(json_scan_object(nul_escape, sizeof nul_escape, time_names, &v, &n, &which, &lines,
                           &why) < 0);
    const char binary[] = {'\x00', '\x9f', '{', 0};
    const char *value, *reason;
    size_t length;
    int matched, multiline;
    CHECK(json_scan_object(binary, 3, time_names, &value, &length, &matched, &multiline, &reason) <
          0);
}

/* The one-pass number grammar and the 8-bytes-at-a-time string scan. */
static void test_fast_paths(void)
{
    CHECK_STR(scan("{\"date\":-0.5E+3}"), "1:-0.5E+3@1");
    CHECK_STR(scan("{\"date\":10,\"n\":1e5}"), "1:10@1");
    const char *malformed[] = {"-", "1.", "1e", "1e+", "-01", "1.2.3", "1-", ".5", "+1", "1..2"};
    for (size_t i = 0; i < sizeof malformed / sizeof *malformed; i++) {
        char text[64];
        snprintf(text, sizeof text, "{\"a\":%s}", malformed[i]);
        const char *got = scan(text);
        CHECK(strcmp(got, "-1:malformed number") == 0 ||
              strcmp(got, "-1:unexpected character") == 0);
    }
    CHECK_STR(scan("{\"a\":0x1}"), "-1:expected ',' or '}'");
    /* a special byte at every position of a long string, and at word ends */
    for (int at = 0; at < 20; at++) {
        char text[96], content[40];
        memset(content, 'x', sizeof content);
        content[20] = '\0';
        content[at] = '\t';
        snprintf(text, sizeof text, "{\"date\":\"%s\"}", content);
        CHECK_STR(scan(text), "-1:control character inside a string");
        content[at] = '"';
        snprintf(text, sizeof text, "{\"date\":\"%s\"}", content);
        CHECK(strncmp(scan(text), "-1:", 3) == 0);
        content[at] = 'x';
        snprintf(text, sizeof text, "{\"date\":\"%.*s\\n%s\"}", at, content, content + at);
        char want[64];
        snprintf(want, sizeof want, "1:%.*s\\n%s@1", at, content, content + at);
        CHECK_STR(scan(text), want);
    }
    CHECK_STR(scan("{\"date\":\"0123456789abcdef\u00e9 \u00ff\"}"),
              "1:0123456789abcdef\u00e9 \u00ff@1");
    CHECK_STR(scan("{\"date\":\"0123456789abcde\\"), "-1:unterminated string");
    CHECK_STR(scan("{\"dat\":\"x\",\"dates\":\"y\",\"\":\"z\"}"), "0"); /* near-miss names */
}

static void test_minify(void)
{
    buf out = BUF_INIT;
    const char *text = "{\n  \"a b\": [1, 2],\n\t\"s\": \"x \\\" y\"\r\n}";
    CHECK(json_append_minified(&out, text, strlen(text)) == 0);
    CHECK_STR(out.data, "{\"a b\":[1,2],\"s\":\"x \\\" y\"}");
    buf_free(&out);
}

int main(void)
{
    RUN(test_valid_objects);
    RUN(test_invalid_messages);
    RUN(test_fast_paths);
    RUN(test_minify);
    CHECK_EXIT();
}
