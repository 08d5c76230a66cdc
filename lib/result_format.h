/*
 * result_format: writes query results (lib/query.h sinks) to a stream as
 *   table  aligned columns for a terminal: numbers right-aligned, NULL
 *          shown as NULL, control characters made visible; the widths come
 *          from the first RESULT_TABLE_SAMPLE_ROWS rows (later rows are
 *          streamed with those widths, so memory stays bounded);
 *   csv    RFC 4180: a header row, CRLF line ends, fields quoted only when
 *          needed, NULL as an empty field and the empty string as "";
 *   json   JSON lines: one object per row, numbers and booleans bare,
 *          NULL (and non-finite numbers) as null.
 * Ownership: the writer borrows the FILE; result_writer_free releases the
 * writer only. Errors: -1 with err set (TP_ERR_IO when writing fails,
 * with errno kept for EPIPE checks).
 */
#ifndef TICKPIPE_RESULT_FORMAT_H
#define TICKPIPE_RESULT_FORMAT_H

#include <stdio.h>

#include "lib/query.h"

#define RESULT_TABLE_SAMPLE_ROWS 1000

enum result_format {
    RESULT_FORMAT_TABLE,
    RESULT_FORMAT_CSV,
    RESULT_FORMAT_JSON,
};

typedef struct result_writer result_writer;

/* NULL when memory runs out. */
result_writer *result_writer_new(FILE *out, enum result_format format);
/* The sink to pass to query_ops.run; it stays valid while the writer lives. */
struct query_sink result_writer_sink(result_writer *writer);
/* Writes what is still buffered and flushes the stream. */
int result_writer_finish(result_writer *writer, tp_err *err);
void result_writer_free(result_writer *writer);

/* "table", "csv" or "json"; 0, or -1 for anything else. */
int result_format_parse(const char *name, enum result_format *format);

#endif
