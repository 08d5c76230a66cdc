/*
 * test_sigv4: runs every case of AWS's official SigV4 test suite
 * (test/sigv4-testsuite/v4, Apache-2.0, see its NOTICE) in both header and
 * query (presigned) variants, comparing canonical request, string to sign,
 * signature and signed request byte for byte, plus S3-rule cases checked
 * against values computed by botocore's S3SigV4Auth.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "aws/sigv4.h"
#include "test/unit/check.h"

static char *read_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_detach(&b);
}

static const char *suite_dir(void)
{
    static char dir[1024];
    const char *root = getenv("TICKPIPE_ROOT");
    snprintf(dir, sizeof dir, "%s/test/sigv4-testsuite/v4", root ? root : ".");
    return dir;
}

/* A request.txt split into its parts; strings point into text (modified). */
struct raw_request {
    char *text;
    const char *method;
    char *target; /* path?query as in the request line */
    const char *version;
    const char *header_block; /* the raw header lines, each ending in '\n' */
    size_t header_block_len;
    struct sigv4_header headers[16];
    size_t header_count;
    const char *body;
    size_t body_len;
    char *owned[17]; /* allocations to free: the header copy, joined values */
    size_t owned_count;
    char *path;  /* copy of target before '?' */
    char *query; /* copy after '?', or NULL */
};

static int parse_request(char *text, struct raw_request *r)
{
    memset(r, 0, sizeof *r);
    r->text = text;
    char *line_end = strchr(text, '\n');
    if (!line_end)
        return -1;
    *line_end = '\0';
    char *first_space = strchr(text, ' ');
    char *last_space = strrchr(text, ' ');
    if (!first_space || first_space == last_space)
        return -1;
    *first_space = '\0';
    *last_space = '\0';
    r->method = text;
    r->target = first_space + 1;
    r->version = last_space + 1;
    char *p = line_end + 1;
    r->header_block = p;
    /* Header block ends at an empty line or the end of the text. */
    char *end = strstr(p, "\n\n");
    if (end) {
        r->header_block_len = (size_t)(end + 1 - p);
        r->body = end + 2;
    } else {
        r->header_block_len = strlen(p);
        r->body = p + r->header_block_len;
    }
    r->body_len = strlen(r->body);
    /* Copy headers into a separate, NUL-split area; continuation lines
     * (starting with white space) join the previous value with '\n'. */
    char *copy = strndup(r->header_block, r->header_block_len);
    r->owned[r->owned_count++] = copy;
    char *save = NULL;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if ((line[0] == ' ' || line[0] == '\t') && r->header_count && r->owned_count < 17) {
            struct sigv4_header *h = &r->headers[r->header_count - 1];
            size_t len = strlen(h->value) + strlen(line) + 2;
            char *joined = malloc(len);
            snprintf(joined, len, "%s\n%s", h->value, line);
            h->value = joined;
            r->owned[r->owned_count++] = joined;
            continue;
        }
        char *colon = strchr(line, ':');
        if (!colon || r->header_count == 16 || r->owned_count == 16)
            return -1;
        *colon = '\0';
        r->headers[r->header_count].name = line;
        r->headers[r->header_count].value = colon + 1;
        r->header_count++;
    }
    char *q = strchr(r->target, '?');
    r->path = q ? strndup(r->target, (size_t)(q - r->target)) : strdup(r->target);
    r->query = q ? strdup(q + 1) : NULL;
    return 0;
}

struct context {
    char access_key[128], secret[128], token[1024];
    char region[64], service[64];
    long expires;
    int normalize, sign_body, omit_token;
    time_t time;
};

static int parse_context(const char *json_text, struct context *c)
{
    memset(c, 0, sizeof *c);
    cJSON *json = cJSON_Parse(json_text);
    if (!json)
        return -1;
    cJSON *creds = cJSON_GetObjectItem(json, "credentials");
    snprintf(c->access_key, sizeof c->access_key, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(creds, "access_key_id")));
    snprintf(c->secret, sizeof c->secret, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(creds, "secret_access_key")));
    const char *token = cJSON_GetStringValue(cJSON_GetObjectItem(creds, "token"));
    snprintf(c->token, sizeof c->token, "%s", token ? token : "");
    snprintf(c->region, sizeof c->region, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(json, "region")));
    snprintf(c->service, sizeof c->service, "%s",
             cJSON_GetStringValue(cJSON_GetObjectItem(json, "service")));
    c->expires = (long)cJSON_GetNumberValue(cJSON_GetObjectItem(json, "expiration_in_seconds"));
    c->normalize = cJSON_IsTrue(cJSON_GetObjectItem(json, "normalize"));
    c->sign_body = cJSON_IsTrue(cJSON_GetObjectItem(json, "sign_body"));
    c->omit_token = cJSON_IsTrue(cJSON_GetObjectItem(json, "omit_session_token"));
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *stamp = cJSON_GetStringValue(cJSON_GetObjectItem(json, "timestamp"));
    if (!stamp || !strptime(stamp, "%Y-%m-%dT%H:%M:%SZ", &tm)) {
        cJSON_Delete(json);
        return -1;
    }
    c->time = timegm(&tm);
    cJSON_Delete(json);
    return 0;
}

static int cases_run, cases_passed;

/* Reports a mismatch with the first differing offset. */
static int same_text(const char *what, const char *case_name, const char *got, const char *want)
{
    if (got && want && strcmp(got, want) == 0)
        return 1;
    size_t i = 0;
    if (got && want)
        while (got[i] && got[i] == want[i])
            i++;
    fprintf(stderr, "  %s %s differs at byte %zu\n--- got:\n%s\n--- want:\n%s\n", case_name, what,
            i, got ? got : "(null)", want ? want : "(null)");
    return 0;
}

static void run_case(const char *name, enum sigv4_mode mode)
{
    char dir[1200];
    snprintf(dir, sizeof dir, "%s/%s", suite_dir(), name);
    const char *prefix = mode == SIGV4_SIGN_HEADERS ? "header" : "query";
    char file[64];
    char *request_text = read_file(dir, "request.txt");
    char *context_text = read_file(dir, "context.json");
    snprintf(file, sizeof file, "%s-canonical-request.txt", prefix);
    char *want_canonical = read_file(dir, file);
    snprintf(file, sizeof file, "%s-string-to-sign.txt", prefix);
    char *want_sts = read_file(dir, file);
    snprintf(file, sizeof file, "%s-signature.txt", prefix);
    char *want_signature = read_file(dir, file);
    snprintf(file, sizeof file, "%s-signed-request.txt", prefix);
    char *want_signed = read_file(dir, file);
    char label[256];
    snprintf(label, sizeof label, "%s (%s)", name, prefix);
    cases_run++;

    struct raw_request r;
    struct context c;
    int ok = request_text && context_text && want_canonical && want_sts && want_signature &&
             want_signed && parse_request(request_text, &r) == 0 &&
             parse_context(context_text, &c) == 0;
    if (!ok) {
        fprintf(stderr, "  %s: cannot read the case\n", label);
        CHECK(!"case files readable");
    } else {
        char payload_hash[65];
        sigv4_sha256_hex(r.body, r.body_len, payload_hash);
        struct sigv4_credentials creds = {c.access_key, c.secret, c.token};
        struct sigv4_params params;
        sigv4_params_init(&params, c.service, c.region, &creds, c.time);
        params.mode = mode;
        params.expires_seconds = c.expires;
        params.normalize_path = c.normalize;
        params.double_encode_path = 1;
        params.add_content_sha256 = c.sign_body;
        params.omit_session_token = c.omit_token;
        struct sigv4_request req = {r.method,  r.path,         r.query,
                                    r.headers, r.header_count, payload_hash};
        struct sigv4_result result;
        memset(&result, 0, sizeof result);
        tp_err err;
        int signed_ok = sigv4_sign(&req, &params, &result, &err) == 0;
        CHECK(signed_ok);

        /* Rebuild the signed request the way the suite writes it. */
        buf signed_request = BUF_INIT;
        if (mode == SIGV4_SIGN_HEADERS) {
            buf_printf(&signed_request, "%s %s %s\n", r.method, r.target, r.version);
            buf_append(&signed_request, r.header_block, r.header_block_len);
            for (size_t i = 0; i < result.added_header_count; i++)
                buf_printf(&signed_request, "%s:%s\n", result.added_headers[i].name,
                           result.added_headers[i].value);
        } else {
            buf_printf(&signed_request, "%s %s%c%s %s\n", r.method, r.target,
                       strchr(r.target, '?') ? '&' : '?', result.query_to_append.data, r.version);
            buf_append(&signed_request, r.header_block, r.header_block_len);
        }
        buf_append_char(&signed_request, '\n');
        buf_append(&signed_request, r.body, r.body_len);

        int all =
            same_text("canonical request", label, result.canonical_request.data, want_canonical);
        all &= same_text("string to sign", label, result.string_to_sign.data, want_sts);
        all &= same_text("signature", label, result.signature, want_signature);
        all &= same_text("signed request", label, signed_request.data, want_signed);
        CHECK(all);
        if (all)
            cases_passed++;
        buf_free(&signed_request);
        sigv4_result_free(&result);
        free(r.path);
        free(r.query);
        for (size_t i = 0; i < r.owned_count; i++)
            free(r.owned[i]);
    }
    free(request_text);
    free(context_text);
    free(want_canonical);
    free(want_sts);
    free(want_signature);
    free(want_signed);
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_suite(enum sigv4_mode mode)
{
    DIR *d = opendir(suite_dir());
    CHECK(d != NULL);
    if (!d)
        return;
    char *names[128];
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir(d)) && count < 128)
        if (entry->d_name[0] != '.')
            names[count++] = strdup(entry->d_name);
    closedir(d);
    qsort(names, count, sizeof *names, compare_names);
    CHECK_INT(count, 38);
    int before = cases_passed;
    for (size_t i = 0; i < count; i++) {
        run_case(names[i], mode);
        free(names[i]);
    }
    CHECK_INT(cases_passed - before, 38);
}

static void test_official_suite_header_signing(void)
{
    run_suite(SIGV4_SIGN_HEADERS);
}

static void test_official_suite_query_signing(void)
{
    run_suite(SIGV4_SIGN_QUERY);
}

static void test_signing_key_documented_example(void)
{
    /* The worked example of the AWS documentation ("Examples of how to
     * derive a signing key"). */
    unsigned char key[32];
    sigv4_signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam",
                      key);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", key[i]);
    CHECK_STR(hex, "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
}

static void test_query_string_sorted_by_encoded_name_then_value(void)
{
    buf out = BUF_INIT;
    CHECK_INT(sigv4_canonical_query_string("b=2&a=z&a=y&A=1&c&~=%7e&sp=a%20b&plus=a+b", &out), 0);
    CHECK_STR(out.data, "A=1&a=y&a=z&b=2&c=&plus=a%2Bb&sp=a%20b&~=~");
    buf_free(&out);
}

static void test_s3_rules_keep_path_as_sent(void)
{
    buf out = BUF_INIT;
    CHECK_INT(sigv4_canonical_uri("/bucket//a/./b%20c/../d", 0, 0, &out), 0);
    CHECK_STR(out.data, "/bucket//a/./b%20c/../d");
    buf_reset(&out);
    CHECK_INT(sigv4_canonical_uri("/bucket//a/./b%20c/../d", 1, 1, &out), 0);
    CHECK_STR(out.data, "/bucket/a/d");
    buf_reset(&out);
    CHECK_INT(sigv4_canonical_uri("/a%20b/", 1, 1, &out), 0);
    CHECK_STR(out.data, "/a%2520b/");
    buf_free(&out);
}

/* Expected values computed with botocore 1.29 S3SigV4Auth for the same
 * request (PUT of "hello" with a key holding a space, '=', '+' and 'é'). */
static void test_s3_put_matches_botocore(void)
{
    struct sigv4_credentials creds = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                      NULL};
    struct sigv4_params params;
    sigv4_params_init(&params, "s3", "us-east-1", &creds, 1440938160);
    char hash[65];
    sigv4_sha256_hex("hello", 5, hash);
    struct sigv4_header headers[] = {{"Host", "127.0.0.1:9000"},
                                     {"Content-MD5", "XUFAKrxLKna5cZ2REBfFkg=="}};
    struct sigv4_request req = {"PUT", "/bucket/dir/a%20b%3Dc%2Bd%C3%A9.txt", NULL, headers, 2,
                                hash};
    struct sigv4_result result;
    memset(&result, 0, sizeof result);
    CHECK_INT(sigv4_sign(&req, &params, &result, NULL), 0);
    CHECK_STR(result.signature, "a720bdf04184cf8b66c02fe0f2d601377a18d537ea668049f3e59494903167f8");
    CHECK_INT(result.added_header_count, 3);
    sigv4_result_free(&result);
}

int main(void)
{
    RUN(test_official_suite_header_signing);
    RUN(test_official_suite_query_signing);
    RUN(test_signing_key_documented_example);
    RUN(test_query_string_sorted_by_encoded_name_then_value);
    RUN(test_s3_rules_keep_path_as_sent);
    RUN(test_s3_put_matches_botocore);
    printf("# sigv4 official vectors: %d of %d case variants identical\n", cases_passed, cases_run);
    CHECK_EXIT();
}
