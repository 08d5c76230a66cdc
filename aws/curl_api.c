/*
 * curl_api: libcurl resolved at run time (see curl_api.h). The symbols are
 * looked up once, under pthread_once, with RTLD_LAZY | RTLD_LOCAL so the
 * rest of the process never binds to them by accident.
 */
#include "aws/curl_api.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#define CURL_LIBRARY_NAME "libcurl.so.4"

static struct curl_api curl_table;
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static char curl_failure[512]; /* empty when loaded */

#define CURL_SYMBOL(field, name)                                                                   \
    {                                                                                              \
        (void **)&curl_table.field, name                                                           \
    }

static void curl_api_load(void)
{
    void *library = dlopen(CURL_LIBRARY_NAME, RTLD_LAZY | RTLD_LOCAL);
    if (!library) {
        const char *why = dlerror();
        snprintf(curl_failure, sizeof curl_failure,
                 "cannot load %s (%s): install Debian's libcurl4 (make deps does)",
                 CURL_LIBRARY_NAME, why ? why : "dlopen failed");
        return;
    }
    const struct {
        void **slot;
        const char *name;
    } symbols[] = {
        CURL_SYMBOL(easy_init, "curl_easy_init"),
        CURL_SYMBOL(easy_cleanup, "curl_easy_cleanup"),
        CURL_SYMBOL(easy_reset, "curl_easy_reset"),
        CURL_SYMBOL(easy_setopt, "curl_easy_setopt"),
        CURL_SYMBOL(easy_perform, "curl_easy_perform"),
        CURL_SYMBOL(easy_getinfo, "curl_easy_getinfo"),
        CURL_SYMBOL(easy_strerror, "curl_easy_strerror"),
        CURL_SYMBOL(getdate, "curl_getdate"),
        CURL_SYMBOL(slist_append, "curl_slist_append"),
        CURL_SYMBOL(slist_free_all, "curl_slist_free_all"),
    };
    for (size_t i = 0; i < sizeof symbols / sizeof *symbols; i++) {
        *symbols[i].slot = dlsym(library, symbols[i].name);
        if (!*symbols[i].slot) {
            snprintf(curl_failure, sizeof curl_failure, "%s has no %s: not libcurl 7 or later",
                     CURL_LIBRARY_NAME, symbols[i].name);
            return;
        }
    }
    CURLcode (*global_init)(long) = NULL;
    *(void **)&global_init = dlsym(library, "curl_global_init");
    if (!global_init || global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        snprintf(curl_failure, sizeof curl_failure, "cannot initialise libcurl");
}

const struct curl_api *curl_api_get(tp_err *err)
{
    pthread_once(&curl_once, curl_api_load);
    if (curl_failure[0]) {
        tp_err_set(err, TP_ERR_INTERNAL, "%s", curl_failure);
        return NULL;
    }
    return &curl_table;
}
