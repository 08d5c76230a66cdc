/*
 * curl_api: libcurl, loaded with dlopen the first time an HTTP request is
 * made. Debian's libcurl pulls in some 25 shared libraries (gnutls,
 * kerberos, ldap, nghttp2...) whose loading costs every tickpipe process
 * ~5 ms at start; commands that never talk HTTP (produce, consume to a
 * directory, broker, local queries) no longer pay for it. The headers
 * still come from libcurl4-openssl-dev; the ABI is libcurl.so.4's.
 * Thread-safe; the library stays loaded until exit.
 * Errors: NULL with err saying which library could not be loaded.
 */
#ifndef TICKPIPE_CURL_API_H
#define TICKPIPE_CURL_API_H

#include <curl/curl.h>
#include <time.h>

#include "lib/err.h"

struct curl_api {
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *curl);
    void (*easy_reset)(CURL *curl);
    CURLcode (*easy_setopt)(CURL *curl, CURLoption option, ...);
    CURLcode (*easy_perform)(CURL *curl);
    CURLcode (*easy_getinfo)(CURL *curl, CURLINFO info, ...);
    const char *(*easy_strerror)(CURLcode code);
    time_t (*getdate)(const char *text, const time_t *unused);
    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *line);
    void (*slist_free_all)(struct curl_slist *list);
};

/* Loads libcurl.so.4 (once) and runs curl_global_init; the returned table
 * lives until exit. */
const struct curl_api *curl_api_get(tp_err *err);

#endif
