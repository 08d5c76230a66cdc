/*
 * json: the small, fast JSON writing primitives the hot paths need
 * (rendering ticks, error records) without building a cJSON tree.
 * Parsing is left to cJSON.
 */
#ifndef TICKPIPE_JSON_H
#define TICKPIPE_JSON_H

#include <stddef.h>

#include "lib/buf.h"

/*
 * Appends text as a quoted JSON string: '"' and '\\' escaped, control
 * characters as \n, \t, ... or \u00XX, valid UTF-8 kept as is, and every
 * byte that is not part of valid UTF-8 replaced by \ufffd (so the output
 * is always valid JSON). Returns 0 or -1 (out of memory).
 */
int json_append_string(buf *out, const char *text, size_t length);

/* 1 when text is exactly a JSON number (RFC 8259 grammar), else 0. */
int json_is_number(const char *text, size_t length);

/* Appends a double in the shortest form that reads back to the same
 * value ("0.1", "1e+300"); non-finite values become null. */
int json_append_double(buf *out, double value);

#endif
