/*
 * fuzz_json_scan: consume's validator of untrusted Kafka messages
 * (json_scan_object) against cJSON as the reference: whatever it accepts
 * as a JSON object, cJSON must parse as an object too, and the member it
 * reports must be the one cJSON finds; a minified copy must parse to the
 * same tree. The lake writer (lake_add) runs on the same bytes as well.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"timestamp", "date", NULL};
    const char *text = (const char *)data;
    const char *value = NULL, *reason = NULL;
    size_t value_length = 0;
    int matched = -1, multiline = 0;
    int rc =
        json_scan_object(text, size, names, &value, &value_length, &matched, &multiline, &reason);
    if (rc < 0) {
        if (!reason)
            abort(); /* every rejection says why */
        return 0;
    }
    if (memchr(text, '\0', size))
        abort(); /* a raw NUL is never valid JSON */
    /* cJSON cannot judge numbers longer than its 63-byte buffer */
    size_t run = 0, longest = 0;
    for (size_t i = 0; i < size; i++) {
        run = strchr("0123456789.eE+-", text[i]) && text[i] ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    if (longest > 60)
        return 0;
    cJSON *tree = cJSON_ParseWithLength(text, size);
    if (!tree || !cJSON_IsObject(tree))
        abort(); /* accepted, so the reference parser must agree */
    if (rc == 1) {
        const cJSON *member = cJSON_GetObjectItemCaseSensitive(tree, names[matched]);
        if (!member || !(cJSON_IsString(member) || cJSON_IsNumber(member)))
            abort();
        if (value < text || value + value_length > text + size)
            abort();
    }
    buf minified = BUF_INIT;
    if (json_append_minified(&minified, text, size) < 0)
        abort();
    if (memchr(minified.data, '\n', minified.len))
        abort(); /* one line, as the lake stores it */
    /* same tree: compared as printed (cJSON_Compare mismatches duplicate keys) */
    cJSON *again = cJSON_ParseWithLength(minified.data, minified.len);
    char *want = cJSON_PrintUnformatted(tree);
    char *got = again ? cJSON_PrintUnformatted(again) : NULL;
    if (!want || !got || strcmp(want, got) != 0)
        abort();
    free(want);
    free(got);
    cJSON_Delete(again);
    cJSON_Delete(tree);
    buf_free(&minified);
    return 0;
}
