/*
 * fuzz_schema_infer: schema inference and the gunzip reader on arbitrary
 * bytes. Byte 0 picks the options (object name, complete or cut sample,
 * --infer-timestamps, feed chunk size); the rest goes through the
 * streaming gunzip reader (auto mode: plain or gzip) and then through
 * schema_infer_sample. Invariants checked: an inferred schema survives
 * the crawler-state round trip, merging it into itself changes nothing,
 * and its Hive type has balanced angle brackets.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/inflate.h"
#include "lib/schema_infer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check_schema(const schema_type *record)
{
    cJSON *json = schema_to_json(record);
    tp_err err;
    schema_type *back = schema_from_json(json, &err);
    if (!back || !schema_type_equal(back, record))
        abort(); /* the state must hold exactly what was inferred */
    cJSON_Delete(json);
    if (schema_merge(&back, record) < 0 || !schema_type_equal(back, record))
        abort(); /* merging a schema into itself widens nothing */
    schema_type_free(back);
    buf type = BUF_INIT;
    schema_hive_type(record, &type);
    long depth = 0;
    for (size_t i = 0; i < type.len; i++) {
        depth += type.data[i] == '<' ? 1 : type.data[i] == '>' ? -1 : 0;
        if (depth < 0)
            abort();
    }
    if (depth != 0)
        abort();
    buf_free(&type);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const char *const names[] = {"t/x.jsonl", "t/x.csv", "t/x", "t/x.tsv.gz"};
    uint8_t flags = data[0];
    const char *name = names[flags & 3];
    int complete = (flags >> 2) & 1;
    struct schema_options options = {(flags >> 3) & 1, NULL, NULL};
    size_t step = 1 + (size_t)(flags >> 4) * 37;
    tp_err err;
    inflate_reader *reader = inflate_reader_new(INFLATE_AUTO, 1 << 20, &err);
    buf text = BUF_INIT;
    int rc = 0;
    for (size_t at = 1; at < size && rc == 0; at += step) {
        size_t n = size - at < step ? size - at : step;
        rc = inflate_reader_feed(reader, data + at, n, &text, &err);
    }
    if (rc == 0)
        rc = inflate_reader_finish(reader, &err);
    if (rc == 1)
        complete = 0;
    if (inflate_reader_produced(reader) != text.len)
        abort();
    inflate_reader_free(reader);
    if (rc >= 0) {
        struct schema_sample sample;
        if (schema_infer_sample(text.data ? text.data : "", text.len, complete, name, &options,
                                &sample, &err) == 0) {
            if (!sample.record || sample.record->kind != SCHEMA_STRUCT || sample.records < 0)
                abort();
            fuzz_check_schema(sample.record);
            schema_sample_free(&sample);
        }
    }
    buf_free(&text);
    return 0;
}
