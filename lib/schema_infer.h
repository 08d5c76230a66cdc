/*
 * schema_infer: what a Glue crawler's classifiers do to one object's
 * sample: decide JSON or CSV, and infer the record's Hive schema.
 *   JSON lines -> bigint, double, string, boolean, array<...>, struct<...>
 *   CSV        -> the delimiter, whether row 1 is a header, whether fields
 *                 are quoted (LazySimpleSerDe or OpenCSVSerde), and the
 *                 same scalar types per column.
 * ISO-8601 timestamps stay string (as Glue does) unless infer_timestamps.
 * Schemas of many objects merge with widening (bigint -> double ->
 * string; mismatched kinds -> string); a field seen later is appended,
 * never dropped.
 *
 * Ownership: schema_type trees are owned by whoever holds the root and
 * freed with schema_type_free; names are copied in. Errors: -1 with err.
 */
#ifndef TICKPIPE_SCHEMA_INFER_H
#define TICKPIPE_SCHEMA_INFER_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "lib/buf.h"
#include "lib/err.h"

enum schema_kind {
    SCHEMA_NULL, /* only nulls seen so far; rendered as string */
    SCHEMA_BOOLEAN,
    SCHEMA_BIGINT,
    SCHEMA_DOUBLE,
    SCHEMA_TIMESTAMP,
    SCHEMA_STRING,
    SCHEMA_ARRAY,
    SCHEMA_STRUCT,
};

typedef struct schema_type schema_type;

struct schema_field {
    char *name; /* as in the data (JSON key or CSV header), UTF-8 */
    schema_type *type;
};

struct schema_type {
    enum schema_kind kind;
    schema_type *element;        /* ARRAY: NULL until an element was seen */
    struct schema_field *fields; /* STRUCT: in first-seen order */
    size_t count;
    size_t capacity;
    size_t cursor; /* STRUCT: where the next key is looked for first */
};

/* Deepest nesting accepted in data (deeper lines are bad records). */
#define SCHEMA_MAX_DEPTH 64

schema_type *schema_type_new(enum schema_kind kind);
void schema_type_free(schema_type *type);
schema_type *schema_type_copy(const schema_type *type);
int schema_type_equal(const schema_type *a, const schema_type *b);

/* Merges src into *dst with widening (*dst may be NULL: becomes a copy).
 * Returns 0, or -1 when memory runs out. */
int schema_merge(schema_type **dst, const schema_type *src);

/* Appends the Hive type ("bigint", "array<string>",
 * "struct<a:bigint,b:string>"); NULL and null-only types are "string". */
int schema_hive_type(const schema_type *type, buf *out);

/* Serialises a schema for the crawler's state and reads it back. */
cJSON *schema_to_json(const schema_type *type);
schema_type *schema_from_json(const cJSON *json, tp_err *err);

enum schema_classification {
    SCHEMA_FORMAT_UNKNOWN = 0,
    SCHEMA_FORMAT_JSON,
    SCHEMA_FORMAT_CSV,
};

struct schema_format {
    enum schema_classification classification;
    char delimiter; /* CSV */
    int header;     /* CSV: row 1 names the columns */
    int quoted;     /* CSV: fields are quoted: OpenCSVSerde */
};

/* Called for each record that cannot be read (line is 1-based). */
typedef void (*schema_bad_record_fn)(void *context, long long line, const char *reason);

struct schema_options {
    int infer_timestamps;
    schema_bad_record_fn on_bad_record; /* may be NULL */
    void *context;
};

struct schema_sample {
    struct schema_format format;
    schema_type *record;   /* STRUCT of the columns (owned; NULL before a call) */
    long long records;     /* records read from the sample */
    long long bad_records; /* lines or rows skipped */
};

/*
 * Infers an object's schema from a sample of its (decompressed) content.
 * complete: the sample is the whole object; otherwise the last, possibly
 * cut, line is ignored. name: the object key, which decides the format
 * when the content does not (".csv" vs ".json"). Fails (-1) for an empty
 * object and when no record could be read; bad records are otherwise
 * counted, reported through on_bad_record and skipped.
 */
int schema_infer_sample(const char *data, size_t length, int complete, const char *name,
                        const struct schema_options *options, struct schema_sample *sample,
                        tp_err *err);
void schema_sample_free(struct schema_sample *sample);

/* 1 when text is an ISO-8601 date-time: YYYY-MM-DD[T ]HH:MM[:SS[.f]][Z|+HH[:]MM]. */
int schema_is_timestamp(const char *text, size_t length);

#endif
