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

/*
 * Validates that text is exactly one JSON object (RFC 8259 grammar,
 * whitespace around it allowed; nesting up to 64 levels) and looks up its
 * top-level members named in `names` (NULL-terminated, in priority
 * order). On a match, *value and *value_length receive the member's raw token
 * (a string's content without its quotes, or a number's text) and
 * *matched its index in names.
 * Returns 1 (object, member found), 0 (object, none of the names present
 * as a string or number) or -1 (not a JSON object: *reason says why).
 * *multiline is set when the text has line breaks outside strings (it
 * must be minified before being stored as one JSON line).
 */
int json_scan_object(const char *text, size_t length, const char *const *names, const char **value,
                     size_t *value_length, int *matched, int *multiline, const char **reason);

/* Appends text without the whitespace outside strings (text must be valid
 * JSON). */
int json_append_minified(buf *out, const char *text, size_t length);

/* 1 when the bytes are valid UTF-8 (no NUL handling: NUL is valid). */
int json_is_valid_utf8(const void *data, size_t length);

/* Appends base64 (RFC 4648, padded) of the bytes, without quotes. */
int json_append_base64(buf *out, const void *data, size_t length);
