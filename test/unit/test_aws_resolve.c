/*
 * test_aws_resolve: region and endpoint resolution order (creds), S3
 * addressing (virtual-hosted vs path-style, key encoding), s3:// URL
 * parsing and the retry backoff bounds. No network: nothing here asks for
 * credentials.
 */
#include <stdlib.h>
#include <string.h>

#include "aws/creds.h"
#include "aws/http.h"
#include "aws/s3.h"
#include "test/unit/check.h"

static void clear_env(void)
{
    const char *names[] = {"AWS_REGION",
                           "AWS_DEFAULT_REGION",
                           "AWS_PROFILE",
                           "AWS_ENDPOINT_URL",
                           "AWS_ENDPOINT_URL_S3",
                           "AWS_ENDPOINT_URL_GLUE",
                           "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                           NULL};
    for (int i = 0; names[i]; i++)
        unsetenv(names[i]);
    setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);
}

static char *endpoint_of(struct creds *c, const char *service, int *custom)
{
    char *url = NULL;
    if (creds_endpoint(c, service, &url, custom, NULL) < 0)
        return NULL;
    return url;
}

static void test_region_order(void)
{
    clear_env();
    tp_err err;
    tp_err_clear(&err);
    struct creds_options none = {NULL, NULL, NULL};
    CHECK(creds_new(&none, NULL, &err) == NULL);
    CHECK_INT(err.code, TP_ERR_USAGE);
    CHECK(strstr(err.msg, "--region") != NULL);
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    struct creds *c = creds_new(&none, NULL, &err);
    CHECK_STR(c ? creds_region(c) : NULL, "eu-west-1");
    creds_free(c);
    setenv("AWS_REGION", "eu-central-1", 1);
    c = creds_new(&none, NULL, &err);
    CHECK_STR(c ? creds_region(c) : NULL, "eu-central-1");
    creds_free(c);
    struct creds_options flag = {NULL, "ap-south-1", NULL};
    c = creds_new(&flag, NULL, &err);
    CHECK_STR(c ? creds_region(c) : NULL, "ap-south-1");
    creds_free(c);
    clear_env();
    struct creds_options custom = {NULL, NULL, "http://127.0.0.1:9000/"};
    c = creds_new(&custom, NULL, &err);
    CHECK_STR(c ? creds_region(c) : NULL, "us-east-1");
    creds_free(c);
}

static void test_endpoint_order(void)
{
    clear_env();
    struct creds_options options = {NULL, "eu-west-1", NULL};
    struct creds *c = creds_new(&options, NULL, NULL);
    int custom = -1;
    char *url = endpoint_of(c, "s3", &custom);
    CHECK_STR(url, "https://s3.eu-west-1.amazonaws.com");
    CHECK_INT(custom, 0);
    free(url);
    setenv("AWS_ENDPOINT_URL", "http://all:1/", 1);
    url = endpoint_of(c, "glue", &custom);
    CHECK_STR(url, "http://all:1");
    CHECK_INT(custom, 1);
    free(url);
    setenv("AWS_ENDPOINT_URL_GLUE", "http://glue:2", 1);
    url = endpoint_of(c, "glue", &custom);
    CHECK_STR(url, "http://glue:2");
    free(url);
    url = endpoint_of(c, "s3", &custom);
    CHECK_STR(url, "http://all:1");
    free(url);
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    url = endpoint_of(c, "glue", &custom);
    CHECK_STR(url, "https://glue.eu-west-1.amazonaws.com");
    free(url);
    creds_free(c);
    struct creds_options flag = {NULL, "cn-north-1", "https://flag:3"};
    c = creds_new(&flag, NULL, NULL);
    url = endpoint_of(c, "athena", &custom);
    CHECK_STR(url, "https://flag:3");
    free(url);
    creds_free(c);
    clear_env();
    struct creds_options china = {NULL, "cn-north-1", NULL};
    c = creds_new(&china, NULL, NULL);
    url = endpoint_of(c, "s3", &custom);
    CHECK_STR(url, "https://s3.cn-north-1.amazonaws.com.cn");
    free(url);
    creds_free(c);
}

static char *object_url(int force_path, const char *endpoint, const char *bucket, const char *key)
{
    clear_env();
    struct creds_options options = {NULL, "us-east-1", endpoint};
    struct creds *c = creds_new(&options, NULL, NULL);
    struct s3_client *s3 = s3_client_new(NULL, c, force_path, NULL);
    char *url = NULL;
    if (s3)
        s3_object_url(s3, bucket, key, &url, NULL);
    s3_client_free(s3);
    creds_free(c);
    return url;
}

static void test_s3_addressing(void)
{
    char *url = object_url(0, NULL, "lake", "dt=2024-01-02/a b+c.json");
    CHECK_STR(url, "https://lake.s3.us-east-1.amazonaws.com/dt%3D2024-01-02/a%20b%2Bc.json");
    free(url);
    url = object_url(1, NULL, "lake", "k");
    CHECK_STR(url, "https://s3.us-east-1.amazonaws.com/lake/k");
    free(url);
    url = object_url(0, NULL, "my.dotted.bucket", "k");
    CHECK_STR(url, "https://s3.us-east-1.amazonaws.com/my.dotted.bucket/k");
    free(url);
    url = object_url(0, "http://127.0.0.1:9000", "lake", "dir/\xc3\xa9~x");
    CHECK_STR(url, "http://127.0.0.1:9000/lake/dir/%C3%A9~x");
    free(url);
    url = object_url(0, "http://127.0.0.1:9000", "lake", "");
    CHECK_STR(url, "http://127.0.0.1:9000/lake");
    free(url);
}

static void test_s3_parse_url(void)
{
    char *bucket, *key;
    CHECK_INT(s3_parse_url("s3://b/dir/k", &bucket, &key, NULL), 0);
    CHECK_STR(bucket, "b");
    CHECK_STR(key, "dir/k");
    free(bucket);
    free(key);
    CHECK_INT(s3_parse_url("s3://b", &bucket, &key, NULL), 0);
    CHECK_STR(key, "");
    free(bucket);
    free(key);
    tp_err err;
    CHECK_INT(s3_parse_url("s3:///k", &bucket, &key, &err), -1);
    CHECK_INT(err.code, TP_ERR_USAGE);
    CHECK_INT(s3_parse_url("/tmp/x", &bucket, &key, &err), -1);
}

static void test_backoff_full_jitter(void)
{
    unsigned int seed = 42;
    long max_seen[6] = {0};
    for (int i = 0; i < 2000; i++) {
        for (int attempt = 1; attempt <= 5; attempt++) {
            long d = http_backoff_delay_ms(100, 1000, attempt, &seed);
            CHECK(d >= 0);
            long ceiling = attempt == 1 ? 100 : attempt == 2 ? 200 : attempt == 3 ? 400 : 800;
            if (attempt == 5)
                ceiling = 1000;
            if (d > ceiling)
                CHECK(!"delay above its ceiling");
            if (d > max_seen[attempt])
                max_seen[attempt] = d;
        }
    }
    /* Full jitter spreads over the whole range: the maxima approach the caps. */
    CHECK(max_seen[1] > 90);
    CHECK(max_seen[5] > 900);
    CHECK(http_backoff_delay_ms(100, 20000, 60, &seed) <= 20000);
}

int main(void)
{
    RUN(test_region_order);
    RUN(test_endpoint_order);
    RUN(test_s3_addressing);
    RUN(test_s3_parse_url);
    RUN(test_backoff_full_jitter);
    CHECK_EXIT();
}
