/*
 * creds: the AWS CLI's resolution order for credentials, region and
 * endpoints (see creds.h), the two INI files it reads, and the IMDSv2
 * client for EC2 role credentials. Secrets are wiped from memory when
 * replaced or freed and never enter an error message.
 */
#include "aws/creds.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "aws/http.h"
#include "lib/log.h"

#define CREDS_REFRESH_WINDOW_SECONDS 600
#define CREDS_IMDS_TOKEN_TTL         "21600"

struct creds {
    char *profile;
    int explicit_profile;
    char *region;
    char *endpoint_url; /* --endpoint-url */
    char *credentials_file;
    char *config_file;
    struct http_client *http;
    /* current credentials */
    char *access_key_id;
    char *secret_access_key;
    char *session_token;
    time_t expiration; /* 0: does not expire */
    int from_imds;
    char source[512];
    /* IMDS */
    char *imds_token;
    time_t imds_token_expiry;
};

static void creds_wipe(char **secret)
{
    if (*secret) {
        OPENSSL_cleanse(*secret, strlen(*secret));
        free(*secret);
        *secret = NULL;
    }
}

static void creds_clear_keys(struct creds *c)
{
    creds_wipe(&c->access_key_id);
    creds_wipe(&c->secret_access_key);
    creds_wipe(&c->session_token);
    c->expiration = 0;
    c->from_imds = 0;
}

void creds_free(struct creds *c)
{
    if (!c)
        return;
    creds_clear_keys(c);
    creds_wipe(&c->imds_token);
    free(c->profile);
    free(c->region);
    free(c->endpoint_url);
    free(c->credentials_file);
    free(c->config_file);
    free(c);
}

static const char *creds_env(const char *name)
{
    const char *value = getenv(name);
    return value && *value ? value : NULL;
}

static int creds_env_true(const char *name)
{
    const char *value = creds_env(name);
    return value && strcasecmp(value, "true") == 0;
}

static char *creds_home_file(const char *env_name, const char *leaf)
{
    const char *explicit_path = creds_env(env_name);
    if (explicit_path)
        return strdup(explicit_path);
    const char *home = creds_env("HOME");
    buf path = BUF_INIT;
    if (buf_printf(&path, "%s/.aws/%s", home ? home : ".", leaf) < 0)
        return NULL;
    return buf_detach(&path);
}

static char *creds_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

/*
 * Looks up key in section of an INI file; returns a malloc'd value or NULL.
 * Indented lines (nested settings such as "s3 =\n  addressing_style") are
 * skipped. A missing file is simply "not found".
 */
static char *creds_ini_lookup(const char *path, const char *section, const char *key)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char line[4096];
    int in_section = 0;
    char *found = NULL;
    while (!found && fgets(line, sizeof line, f)) {
        if (line[0] == ' ' || line[0] == '\t') {
            continue;
        }
        char *text = creds_trim(line);
        if (*text == '#' || *text == ';' || *text == '\0')
            continue;
        if (*text == '[') {
            char *close = strchr(text, ']');
            if (close) {
                *close = '\0';
                in_section = strcmp(creds_trim(text + 1), section) == 0;
            }
            continue;
        }
        if (!in_section)
            continue;
        char *eq = strchr(text, '=');
        if (!eq)
            continue;
        *eq = '\0';
        if (strcmp(creds_trim(text), key) == 0) {
            char *value = creds_trim(eq + 1);
            if (*value)
                found = strdup(value);
        }
    }
    fclose(f);
    return found;
}

/* A setting of the profile in the config file ("[profile x]", or
 * "[default]" for the default profile). */
static char *creds_config_value(const struct creds *c, const char *key)
{
    char section[300];
    snprintf(section, sizeof section, "profile %s", c->profile);
    char *value = creds_ini_lookup(c->config_file, section, key);
    if (!value && strcmp(c->profile, "default") == 0)
        value = creds_ini_lookup(c->config_file, "default", key);
    return value;
}

struct creds *creds_new(const struct creds_options *options, struct http_client *http, tp_err *err)
{
    struct creds *c = calloc(1, sizeof *c);
    if (!c) {
        tp_err_set(err, TP_ERR_INTERNAL, "AWS credentials: out of memory");
        return NULL;
    }
    c->http = http;
    c->explicit_profile = options && options->profile && *options->profile;
    const char *profile = c->explicit_profile ? options->profile : creds_env("AWS_PROFILE");
    c->profile = strdup(profile ? profile : "default");
    c->credentials_file = creds_home_file("AWS_SHARED_CREDENTIALS_FILE", "credentials");
    c->config_file = creds_home_file("AWS_CONFIG_FILE", "config");
    if (options && options->endpoint_url && *options->endpoint_url)
        c->endpoint_url = strdup(options->endpoint_url);
    if (!c->profile || !c->credentials_file || !c->config_file) {
        creds_free(c);
        tp_err_set(err, TP_ERR_INTERNAL, "AWS credentials: out of memory");
        return NULL;
    }

    const char *region = options && options->region && *options->region ? options->region : NULL;
    if (!region)
        region = creds_env("AWS_REGION");
    if (!region)
        region = creds_env("AWS_DEFAULT_REGION");
    if (region)
        c->region = strdup(region);
    else
        c->region = creds_config_value(c, "region");
    if (!c->region) {
        int custom =
            c->endpoint_url || creds_env("AWS_ENDPOINT_URL") || creds_env("AWS_ENDPOINT_URL_S3");
        if (!custom) {
            tp_err_set(err, TP_ERR_USAGE,
                       "no AWS region: give --region, set AWS_REGION, or put region in profile "
                       "'%s' of %s",
                       c->profile, c->config_file);
            creds_free(c);
            return NULL;
        }
        c->region = strdup("us-east-1");
    }
    log_debug("AWS profile '%s', region %s", c->profile, c->region);
    return c;
}

const char *creds_region(const struct creds *c)
{
    return c->region;
}

const char *creds_profile(const struct creds *c)
{
    return c->profile;
}

const char *creds_source(const struct creds *c)
{
    return c->source;
}

static char *creds_strip_slash(char *url)
{
    if (url) {
        size_t len = strlen(url);
        while (len && url[len - 1] == '/')
            url[--len] = '\0';
    }
    return url;
}

int creds_endpoint(const struct creds *c, const char *service, char **url, int *custom, tp_err *err)
{
    *url = NULL;
    *custom = 1;
    if (c->endpoint_url) {
        *url = strdup(c->endpoint_url);
    } else if (!creds_env_true("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) {
        char name[96];
        size_t n = (size_t)snprintf(name, sizeof name, "AWS_ENDPOINT_URL_");
        for (const char *p = service; *p && n + 1 < sizeof name; p++)
            name[n++] = *p == ' ' || *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        name[n] = '\0';
        const char *value = creds_env(name);
        if (!value)
            value = creds_env("AWS_ENDPOINT_URL");
        if (value)
            *url = strdup(value);
        else
            *url = creds_config_value(c, "endpoint_url");
    }
    if (!*url) {
        *custom = 0;
        buf b = BUF_INIT;
        const char *suffix = strncmp(c->region, "cn-", 3) == 0 ? ".cn" : "";
        if (buf_printf(&b, "https://%s.%s.amazonaws.com%s", service, c->region, suffix) == 0)
            *url = buf_detach(&b);
    }
    if (!*url)
        return tp_err_set(err, TP_ERR_INTERNAL, "AWS endpoint: out of memory");
    creds_strip_slash(*url);
    if (strncmp(*url, "http://", 7) != 0 && strncmp(*url, "https://", 8) != 0) {
        tp_err_set(err, TP_ERR_USAGE,
                   "endpoint URL '%s' for %s must start with http:// or https://", *url, service);
        free(*url);
        *url = NULL;
        return -1;
    }
    return 0;
}

static int creds_set(struct creds *c, const char *access_key_id, const char *secret,
                     const char *token, time_t expiration)
{
    creds_clear_keys(c);
    c->access_key_id = strdup(access_key_id);
    c->secret_access_key = strdup(secret);
    c->session_token = token && *token ? strdup(token) : NULL;
    c->expiration = expiration;
    if (!c->access_key_id || !c->secret_access_key || (token && *token && !c->session_token)) {
        creds_clear_keys(c);
        return -1;
    }
    return 0;
}

static int creds_from_environment(struct creds *c)
{
    const char *key = creds_env("AWS_ACCESS_KEY_ID");
    const char *secret = creds_env("AWS_SECRET_ACCESS_KEY");
    if (!key || !secret)
        return 0;
    if (creds_set(c, key, secret, creds_env("AWS_SESSION_TOKEN"), 0) < 0)
        return -1;
    snprintf(c->source, sizeof c->source,
             "environment variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY");
    return 1;
}

/* Reads the three keys from one file section; 1 found, 0 not, -1 memory. */
static int creds_from_file(struct creds *c, const char *path, const char *section)
{
    char *key = creds_ini_lookup(path, section, "aws_access_key_id");
    char *secret = creds_ini_lookup(path, section, "aws_secret_access_key");
    char *token = creds_ini_lookup(path, section, "aws_session_token");
    int rc = 0;
    if (key && secret) {
        rc = creds_set(c, key, secret, token, 0) < 0 ? -1 : 1;
        snprintf(c->source, sizeof c->source, "profile '%s' in %s", c->profile, path);
    }
    creds_wipe(&key);
    creds_wipe(&secret);
    creds_wipe(&token);
    return rc;
}

static int creds_from_profile(struct creds *c)
{
    int rc = creds_from_file(c, c->credentials_file, c->profile);
    if (rc)
        return rc;
    char section[300];
    snprintf(section, sizeof section, "profile %s", c->profile);
    rc = creds_from_file(c, c->config_file, section);
    if (rc == 0 && strcmp(c->profile, "default") == 0)
        rc = creds_from_file(c, c->config_file, "default");
    return rc;
}

/* One unsigned IMDS call; the body lands in response->body. */
static int creds_imds_call(struct creds *c, const char *method, const char *path,
                           const struct sigv4_header *headers, size_t header_count,
                           struct http_response *response, tp_err *err)
{
    const char *endpoint = creds_env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    char *base = strdup(endpoint ? endpoint : "http://169.254.169.254");
    if (!base)
        return tp_err_set(err, TP_ERR_INTERNAL, "instance metadata: out of memory");
    creds_strip_slash(base);
    struct http_request request = {
        .operation = "instance metadata",
        .target = path,
        .method = method,
        .endpoint = base,
        .path = path,
        .headers = headers,
        .header_count = header_count,
        .error_format = HTTP_ERRORS_XML,
        /* As the AWS CLI: one quick try, so machines off EC2 fail fast. */
        .max_attempts = 1,
        .idle_timeout_ms = 1000,
        .connect_timeout_ms = 1000,
    };
    int rc = http_send(c->http, &request, response, err);
    free(base);
    return rc;
}

static int creds_imds_token(struct creds *c, time_t now, tp_err *err)
{
    if (c->imds_token && now < c->imds_token_expiry)
        return 0;
    creds_wipe(&c->imds_token);
    struct sigv4_header ttl = {"X-aws-ec2-metadata-token-ttl-seconds", CREDS_IMDS_TOKEN_TTL};
    struct http_response response = {0};
    int rc = creds_imds_call(c, "PUT", "/latest/api/token", &ttl, 1, &response, err);
    if (rc == 0) {
        c->imds_token = buf_detach(&response.body);
        c->imds_token_expiry = now + atol(CREDS_IMDS_TOKEN_TTL) - 60;
    }
    http_response_free(&response);
    return rc;
}

static time_t creds_parse_iso8601(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!text || !strptime(text, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    return timegm(&tm);
}

static int creds_from_imds(struct creds *c, time_t now, tp_err *err)
{
    if (creds_imds_token(c, now, err) < 0)
        return -1;
    struct sigv4_header token = {"X-aws-ec2-metadata-token", c->imds_token};
    struct http_response response = {0};
    const char *roles_path = "/latest/meta-data/iam/security-credentials/";
    if (creds_imds_call(c, "GET", roles_path, &token, 1, &response, err) < 0) {
        http_response_free(&response);
        return -1;
    }
    char role[256];
    snprintf(role, sizeof role, "%s", response.body.data ? response.body.data : "");
    role[strcspn(role, "\r\n")] = '\0';
    http_response_free(&response);
    if (!*role)
        return tp_err_set(err, TP_ERR_NOT_FOUND, "instance metadata: no IAM role attached");
    buf path = BUF_INIT;
    buf_printf(&path, "%s", roles_path);
    sigv4_uri_encode(&path, role, strlen(role), 0);
    memset(&response, 0, sizeof response);
    int rc = creds_imds_call(c, "GET", path.data, &token, 1, &response, err);
    buf_free(&path);
    if (rc < 0) {
        http_response_free(&response);
        return -1;
    }
    cJSON *json = cJSON_ParseWithLength(response.body.data, response.body.len);
    const char *key = cJSON_GetStringValue(cJSON_GetObjectItem(json, "AccessKeyId"));
    const char *secret = cJSON_GetStringValue(cJSON_GetObjectItem(json, "SecretAccessKey"));
    const char *session = cJSON_GetStringValue(cJSON_GetObjectItem(json, "Token"));
    const char *expiration = cJSON_GetStringValue(cJSON_GetObjectItem(json, "Expiration"));
    if (!key || !secret) {
        rc = tp_err_set(err, TP_ERR_PARSE,
                        "instance metadata: role '%s' answered without AccessKeyId/"
                        "SecretAccessKey",
                        role);
    } else if (creds_set(c, key, secret, session, creds_parse_iso8601(expiration)) < 0) {
        rc = tp_err_set(err, TP_ERR_INTERNAL, "instance metadata: out of memory");
    } else {
        c->from_imds = 1;
        snprintf(c->source, sizeof c->source, "EC2 instance metadata (role %s)", role);
        log_debug("credentials from instance metadata, role %s, expiring %s", role,
                  expiration ? expiration : "never");
    }
    if (response.body.data)
        OPENSSL_cleanse(response.body.data, response.body.len);
    cJSON_Delete(json);
    http_response_free(&response);
    return rc;
}

static void creds_export(const struct creds *c, struct sigv4_credentials *out)
{
    out->access_key_id = c->access_key_id;
    out->secret_access_key = c->secret_access_key;
    out->session_token = c->session_token;
}

int creds_get(struct creds *c, struct sigv4_credentials *out, tp_err *err)
{
    time_t now = http_client_now(c->http);
    if (c->access_key_id &&
        (c->expiration == 0 || c->expiration - now > CREDS_REFRESH_WINDOW_SECONDS)) {
        creds_export(c, out);
        return 0;
    }
    if (c->access_key_id && c->from_imds) {
        log_debug("instance metadata credentials expire within %d s: refreshing",
                  CREDS_REFRESH_WINDOW_SECONDS);
    } else {
        int rc = c->explicit_profile ? 0 : creds_from_environment(c);
        if (rc == 0)
            rc = creds_from_profile(c);
        if (rc < 0)
            return tp_err_set(err, TP_ERR_INTERNAL, "AWS credentials: out of memory");
        if (rc > 0) {
            log_debug("AWS credentials from %s", c->source);
            creds_export(c, out);
            return 0;
        }
    }
    if (creds_env_true("AWS_EC2_METADATA_DISABLED"))
        return tp_err_set(err, TP_ERR_USAGE,
                          "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                          "or put them in profile '%s' of %s (instance metadata is disabled)",
                          c->profile, c->credentials_file);
    tp_err imds_err;
    tp_err_clear(&imds_err);
    if (creds_from_imds(c, now, &imds_err) == 0) {
        creds_export(c, out);
        return 0;
    }
    if (c->access_key_id && c->from_imds && c->expiration > now) {
        log_warn("refreshing instance metadata credentials failed (%s); using the current ones "
                 "until they expire",
                 imds_err.msg);
        creds_export(c, out);
        return 0;
    }
    return tp_err_set(err, TP_ERR_USAGE,
                      "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or "
                      "put them in profile '%s' of %s (instance metadata: %s)",
                      c->profile, c->credentials_file, imds_err.msg);
}
