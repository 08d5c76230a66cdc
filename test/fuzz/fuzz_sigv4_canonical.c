/*
 * fuzz_sigv4_canonical: feeds arbitrary paths, query strings and headers to
 * the SigV4 canonicalisation steps and the whole signer. Besides memory
 * safety it checks two invariants: canonical output uses only the
 * characters SigV4 allows, and canonicalising a canonical query string or
 * an encoded path again changes nothing (idempotence).
 * Build: clang -fsanitize=fuzzer,address,undefined -std=c11 -D_GNU_SOURCE -I. \
 *   test/fuzz/fuzz_sigv4_canonical.c aws/sigv4.c lib/buf.c lib/err.c -lcrypto
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "aws/sigv4.h"

static int only_canonical_chars(const char *s, const char *extra)
{
    for (; *s; s++) {
        char c = *s;
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 strchr("-_.~%", c) || strchr(extra, c);
        if (!ok)
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Input: path \0 query \0 name \0 value \0 name \0 value ... */
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *fields[10] = {"", "", NULL};
    size_t nfields = 0;
    for (size_t start = 0; start <= size && nfields < 10;) {
        fields[nfields++] = text + start;
        start += strlen(text + start) + 1;
    }
    const char *path = fields[0];
    const char *query = nfields > 1 ? fields[1] : "";

    buf a = BUF_INIT, b = BUF_INIT;
    if (sigv4_canonical_query_string(query, &a) == 0 && a.data) {
        if (!only_canonical_chars(a.data, "=&"))
            abort();
        if (sigv4_canonical_query_string(a.data, &b) == 0 && strcmp(a.data, b.data ? b.data : ""))
            abort();
    }
    buf_free(&a);
    buf_free(&b);
    for (int mode = 0; mode < 4; mode++) {
        buf u = BUF_INIT;
        if (sigv4_canonical_uri(path, mode & 1, mode & 2, &u) == 0 && (mode & 2) &&
            !only_canonical_chars(u.data, "/"))
            abort();
        buf_free(&u);
    }
    buf encoded = BUF_INIT, again = BUF_INIT;
    sigv4_uri_encode(&encoded, path, strlen(path), 1);
    sigv4_canonical_uri(encoded.data ? encoded.data : "", 0, 0, &again);
    if (encoded.len && strcmp(encoded.data, again.data))
        abort();
    buf_free(&encoded);
    buf_free(&again);

    struct sigv4_header headers[5];
    size_t nheaders = 0;
    for (size_t i = 2; i + 1 < nfields && nheaders < 5; i += 2)
        headers[nheaders++] = (struct sigv4_header){fields[i], fields[i + 1]};
    struct sigv4_credentials creds = {"AKIDEXAMPLE", "secret", size % 2 ? "token" : NULL};
    struct sigv4_params params;
    sigv4_params_init(&params, size % 3 ? "service" : "s3", "us-east-1", &creds, 1440938160);
    params.mode = size % 5 ? SIGV4_SIGN_HEADERS : SIGV4_SIGN_QUERY;
    struct sigv4_request request = {"GET", path, query, headers, nheaders, SIGV4_EMPTY_SHA256};
    struct sigv4_result result;
    memset(&result, 0, sizeof result);
    sigv4_sign(&request, &params, &result, NULL);
    if (strlen(result.signature) != 64)
        abort();
    sigv4_result_free(&result);
    free(text);
    return 0;
}
