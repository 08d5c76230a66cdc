/*
 * tick: the data model. One CSV row becomes one tick: a JSON object with
 * every column (names normalised to Athena-safe snake_case), numbers as
 * JSON numbers, empty/null/NA/NaN/N/A cells as null, and the event-time
 * column as ISO-8601 UTC with milliseconds. The key is the symbol column.
 * Column types are learned from a sample of rows: a column whose sampled
 * values are all numbers is numeric, and a later non-number there makes
 * the row bad.
 */
#ifndef TICKPIPE_TICK_H
#define TICKPIPE_TICK_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "lib/csv.h"
#include "lib/err.h"
#include "lib/timestamp.h"

enum tick_column_kind {
    TICK_COLUMN_UNKNOWN, /* no value seen yet: each cell rendered by its looks */
    TICK_COLUMN_NUMBER,
    TICK_COLUMN_STRING,
    TICK_COLUMN_TIME,
};

typedef struct tick_schema {
    size_t count;
    char **names;        /* normalised, unique (owned) */
    char **header_names; /* as in the CSV header (owned) */
    enum tick_column_kind *kinds;
    size_t *sampled_values;  /* non-null cells seen while learning */
    size_t *sampled_numbers; /* of which numbers */
    char **prefixes;         /* rendered key before each value: ,"name": (owned) */
    size_t *prefix_lengths;
    int time_column; /* index of the event-time column */
    int key_column;  /* index of the key column, or -1 */
    timestamp_zone zone;
} tick_schema;

struct tick_schema_options {
    const char *time_column; /* NULL: auto-detect timestamp/datetime/date/time/ts */
    const char *key_column;  /* NULL: auto-detect symbol/ticker/index/name; "" for none */
    const char *timezone;    /* zone of naive times; NULL = UTC */
};

/* Builds the schema from the header record. Errors: no usable header, a
 * named column that does not exist, no event-time column, a bad zone; on
 * error nothing is left to free. */
int tick_schema_init(tick_schema *schema, const csv_record *header,
                     const struct tick_schema_options *options, tp_err *err);
void tick_schema_free(tick_schema *schema);

/* Learning phase: feed sample rows, then finish to fix the column kinds. */
void tick_schema_learn(tick_schema *schema, const csv_record *row);
void tick_schema_finish_learning(tick_schema *schema);

struct tick {
    int64_t event_time_ms;
    const char *key; /* points into the record; NULL when there is no key */
    size_t key_length;
};

/*
 * Renders row as one JSON object into json (which is reset first). Returns
 * 0, or -1 with the reason in err when the row is bad (wrong field count,
 * missing or unparseable time, non-number in a numeric column).
 */
int tick_render(tick_schema *schema, const csv_record *row, buf *json, struct tick *tick,
                tp_err *err);

/* Normalises a column name to Athena-safe snake_case ("Adj Close" ->
 * "adj_close", "CloseUSD" -> "close_usd"); writes at most size-1 bytes.
 * An empty result becomes "col_<position>" (1-based); a leading digit
 * gets the prefix "col_". */
void tick_normalize_name(const char *name, size_t length, int position, char *out, size_t size);

/* 1 if the cell is one of the null spellings (empty, null, NA, NaN, N/A). */
int tick_cell_is_null(const char *text, size_t length);

/* Appends the cell as a JSON number and returns 1 if it is a number
 * (JSON grammar, or +5, .5, 5. forms, surrounding blanks ignored; no
 * leading zeros such as 007, which are identifiers); else returns 0 and
 * appends nothing. */
int tick_append_number(buf *out, const char *text, size_t length);

#endif
