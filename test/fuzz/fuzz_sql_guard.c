/*
 * fuzz_sql_guard: libFuzzer harness for lib/sql_guard. Any byte string
 * must lex without reading out of bounds, tokens must advance and stay
 * inside the text, the verdict must be deterministic, and an accepted
 * text must hold no ';' followed by another statement and no denied word.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/sql_guard.h"

static const char *const fuzz_denied[] = {"COPY",   "ATTACH", "INSTALL", "LOAD", "SET",   "PRAGMA",
                                          "CREATE", "INSERT", "DELETE",  "DROP", "EXPORT"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A private copy, so reading one byte past the end is caught by ASan. */
    char *text = malloc(size ? size : 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    struct sql_lexer lexer;
    struct sql_token token;
    sql_lexer_init(&lexer, text, size);
    size_t previous_end = 0;
    int statements_ended = 0, later_statement = 0, denied = 0;
    for (;;) {
        enum sql_token_type type = sql_lexer_next(&lexer, &token);
        if (type == SQL_TOKEN_END || type == SQL_TOKEN_ERROR)
            break;
        if (token.offset < previous_end || token.length == 0 || token.offset + token.length > size)
            abort();
        previous_end = token.offset + token.length;
        if (sql_token_is_symbol(&lexer, &token, ';'))
            statements_ended = 1;
        else if (statements_ended)
            later_statement = 1;
        for (size_t i = 0; i < sizeof fuzz_denied / sizeof *fuzz_denied; i++)
            denied |= sql_token_is_word(&lexer, &token, fuzz_denied[i]);
    }
    tp_err err;
    int first = sql_guard_check(text, size, &err);
    int second = sql_guard_check(text, size, &err);
    if (first != second)
        abort();
    if (first == 0 && (later_statement || denied))
        abort();
    free(text);
    return 0;
}
