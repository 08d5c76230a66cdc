/*
 * sql_guard: a SQL lexer with DuckDB's quoting rules and the read-only
 * check built on it (see sql_guard.h). The check is deliberately coarse:
 * a denied word refuses the statement wherever it appears outside strings
 * and quoted identifiers; users can always quote a column named "load".
 */
#include "lib/sql_guard.h"

#include <string.h>
#include <strings.h>

void sql_lexer_init(struct sql_lexer *lexer, const char *text, size_t length)
{
    lexer->text = text;
    lexer->length = length;
    lexer->position = 0;
    lexer->error = NULL;
}

static int sql_is_word_start(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c >= 0x80;
}

static int sql_is_word_char(unsigned char c)
{
    return sql_is_word_start(c) || (c >= '0' && c <= '9') || c == '$';
}

static int sql_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int sql_is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static enum sql_token_type sql_lexer_fail(struct sql_lexer *lexer, struct sql_token *token,
                                          const char *why)
{
    lexer->error = why;
    lexer->position = lexer->length + 1; /* sticky */
    token->type = SQL_TOKEN_ERROR;
    return SQL_TOKEN_ERROR;
}

/* Skips blanks and comments; 0, or -1 with lexer->error. */
static int sql_lexer_skip(struct sql_lexer *lexer)
{
    const char *s = lexer->text;
    size_t n = lexer->length;
    size_t i = lexer->position;
    for (;;) {
        while (i < n && sql_is_blank((unsigned char)s[i]))
            i++;
        if (i + 1 < n && s[i] == '-' && s[i + 1] == '-') {
            while (i < n && s[i] != '\n')
                i++;
            continue;
        }
        if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            size_t j = i + 2;
            for (;;) {
                if (j + 1 >= n) {
                    lexer->error = "unterminated /* comment";
                    return -1;
                }
                if (s[j] == '/' && s[j + 1] == '*') {
                    /* DuckDB nests block comments, other readers do not:
                     * refuse rather than guess which one applies. */
                    lexer->error = "nested /* comments are not accepted";
                    return -1;
                }
                if (s[j] == '*' && s[j + 1] == '/')
                    break;
                j++;
            }
            i = j + 2;
            continue;
        }
        break;
    }
    lexer->position = i;
    return 0;
}

/* A quoted run starting at s[start] == quote; doubled quotes stand for
 * one; with backslash_escapes, a backslash escapes the next byte. Returns
 * the index after the closing quote, or 0 when unterminated. */
static size_t sql_quoted_end(const char *s, size_t n, size_t start, char quote,
                             int backslash_escapes)
{
    size_t i = start + 1;
    while (i < n) {
        if (backslash_escapes && s[i] == '\\') {
            i += 2;
            continue;
        }
        if (s[i] == quote) {
            if (i + 1 < n && s[i + 1] == quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i++;
    }
    return 0;
}

/* $tag$ ... $tag$ starting at s[start] == '$'; 0 when s[start..] is not
 * a dollar-quote opener; (size_t)-1 when unterminated. */
static size_t sql_dollar_end(const char *s, size_t n, size_t start)
{
    size_t i = start + 1;
    if (i < n && s[i] != '$') {
        if (!sql_is_word_start((unsigned char)s[i]))
            return 0;
        while (i < n && s[i] != '$' && sql_is_word_char((unsigned char)s[i]))
            i++;
        if (i >= n || s[i] != '$')
            return 0;
    }
    if (i >= n)
        return 0;
    size_t tag_length = i - start + 1; /* "$tag$" */
    for (size_t j = i + 1; j + tag_length <= n; j++)
        if (s[j] == '$' && memcmp(s + j, s + start, tag_length) == 0)
            return j + tag_length;
    return (size_t)-1;
}

enum sql_token_type sql_lexer_next(struct sql_lexer *lexer, struct sql_token *token)
{
    token->type = SQL_TOKEN_END;
    token->length = 0;
    token->offset = lexer->position < lexer->length ? lexer->position : lexer->length;
    if (lexer->position > lexer->length) {
        token->type = SQL_TOKEN_ERROR;
        token->offset = lexer->length;
        return SQL_TOKEN_ERROR;
    }
    if (sql_lexer_skip(lexer) < 0)
        return sql_lexer_fail(lexer, token, lexer->error);
    const char *s = lexer->text;
    size_t n = lexer->length;
    size_t i = lexer->position;
    token->offset = i;
    if (i >= n)
        return SQL_TOKEN_END;
    unsigned char c = (unsigned char)s[i];
    size_t end = 0;
    enum sql_token_type type;
    if (c == '\0')
        return sql_lexer_fail(lexer, token, "NUL byte in the query");
    if (c == '\'') {
        end = sql_quoted_end(s, n, i, '\'', 0);
        if (!end)
            return sql_lexer_fail(lexer, token, "unterminated string");
        type = SQL_TOKEN_STRING;
    } else if (c == '"') {
        end = sql_quoted_end(s, n, i, '"', 0);
        if (!end)
            return sql_lexer_fail(lexer, token, "unterminated quoted identifier");
        type = SQL_TOKEN_IDENTIFIER;
    } else if (c == '$') {
        end = sql_dollar_end(s, n, i);
        if (end == (size_t)-1)
            return sql_lexer_fail(lexer, token, "unterminated $$ string");
        if (end) {
            type = SQL_TOKEN_STRING;
        } else {
            end = i + 1;
            while (end < n && sql_is_digit((unsigned char)s[end]))
                end++;
            type = end > i + 1 ? SQL_TOKEN_PARAMETER : SQL_TOKEN_SYMBOL;
        }
    } else if (sql_is_word_start(c)) {
        /* E'..' (backslash escapes), X'..', B'..', N'..': a one-letter
         * prefix glued to a string. U&'..' likewise. */
        int lower = c | 0x20;
        if (i + 1 < n && s[i + 1] == '\'' &&
            (lower == 'e' || lower == 'x' || lower == 'b' || lower == 'n')) {
            end = sql_quoted_end(s, n, i + 1, '\'', lower == 'e');
            if (!end)
                return sql_lexer_fail(lexer, token, "unterminated string");
            type = SQL_TOKEN_STRING;
        } else if (lower == 'u' && i + 2 < n && s[i + 1] == '&' &&
                   (s[i + 2] == '\'' || s[i + 2] == '"')) {
            end = sql_quoted_end(s, n, i + 2, s[i + 2], 0);
            if (!end)
                return sql_lexer_fail(lexer, token, "unterminated string");
            type = s[i + 2] == '\'' ? SQL_TOKEN_STRING : SQL_TOKEN_IDENTIFIER;
        } else {
            end = i + 1;
            while (end < n && sql_is_word_char((unsigned char)s[end]))
                end++;
            type = SQL_TOKEN_WORD;
        }
    } else if (sql_is_digit(c) ||
               (c == '.' && i + 1 < n && sql_is_digit((unsigned char)s[i + 1]))) {
        end = i;
        while (end < n && (sql_is_digit((unsigned char)s[end]) || s[end] == '.' || s[end] == '_'))
            end++;
        if (end < n && (s[end] == 'e' || s[end] == 'E')) {
            size_t j = end + 1;
            if (j < n && (s[j] == '+' || s[j] == '-'))
                j++;
            if (j < n && sql_is_digit((unsigned char)s[j])) {
                end = j;
                while (end < n && sql_is_digit((unsigned char)s[end]))
                    end++;
            }
        }
        type = SQL_TOKEN_NUMBER;
    } else if (c == '?') {
        end = i + 1;
        type = SQL_TOKEN_PARAMETER;
    } else {
        end = i + 1;
        type = SQL_TOKEN_SYMBOL;
    }
    token->type = type;
    token->length = end - i;
    lexer->position = end;
    return type;
}

int sql_token_is_word(const struct sql_lexer *lexer, const struct sql_token *token,
                      const char *word)
{
    size_t length = strlen(word);
    return token->type == SQL_TOKEN_WORD && token->length == length &&
           strncasecmp(lexer->text + token->offset, word, length) == 0;
}

/* The token is the name, bare or "quoted" (case-insensitive: DuckDB
 * resolves function names that way either way). */
static int sql_token_names(const struct sql_lexer *lexer, const struct sql_token *token,
                           const char *name)
{
    size_t length = strlen(name);
    if (token->type == SQL_TOKEN_IDENTIFIER)
        return token->length == length + 2 &&
               strncasecmp(lexer->text + token->offset + 1, name, length) == 0;
    return sql_token_is_word(lexer, token, name);
}

int sql_token_is_symbol(const struct sql_lexer *lexer, const struct sql_token *token, char c)
{
    return token->type == SQL_TOKEN_SYMBOL && lexer->text[token->offset] == c;
}

/* Statements a query may start with. */
static const char *const sql_guard_readers[] = {
    "SELECT", "WITH", "VALUES", "FROM", "TABLE", "SHOW", "DESCRIBE", "DESC", "SUMMARIZE", "EXPLAIN",
};

struct sql_guard_denied {
    const char *word;
    const char *why;
};

/* Words refused anywhere outside strings and quoted identifiers. */
static const struct sql_guard_denied sql_guard_denied_words[] = {
    {"COPY", "COPY reads or writes files"},
    {"EXPORT", "EXPORT DATABASE writes files"},
    {"IMPORT", "IMPORT DATABASE changes the database"},
    {"ATTACH", "ATTACH opens other databases"},
    {"DETACH", "DETACH changes the attached databases"},
    {"INSTALL", "INSTALL downloads extensions"},
    {"LOAD", "LOAD loads extensions"},
    {"SET", "SET changes settings"},
    {"RESET", "RESET changes settings"},
    {"PRAGMA", "PRAGMA can change settings"},
    {"CALL", "CALL runs procedures that can change settings"},
    {"USE", "USE changes the session"},
    {"CREATE", "CREATE defines objects"},
    {"INSERT", "INSERT writes data"},
    {"UPDATE", "UPDATE writes data"},
    {"DELETE", "DELETE writes data"},
    {"MERGE", "MERGE writes data"},
    {"TRUNCATE", "TRUNCATE writes data"},
    {"DROP", "DROP removes objects"},
    {"ALTER", "ALTER changes objects"},
    {"COMMENT", "COMMENT ON changes the catalog"},
    {"CHECKPOINT", "CHECKPOINT writes the database file"},
    {"VACUUM", "VACUUM writes the database file"},
    {"ANALYZE", "ANALYZE writes statistics"},
    {"BEGIN", "transactions are not needed for reading"},
    {"COMMIT", "transactions are not needed for reading"},
    {"ROLLBACK", "transactions are not needed for reading"},
    {"ABORT", "transactions are not needed for reading"},
    {"GRANT", "GRANT changes permissions"},
    {"REVOKE", "REVOKE changes permissions"},
    {"PREPARE", "PREPARE defines statements"},
    {"EXECUTE", "EXECUTE runs prepared statements"},
    {"DEALLOCATE", "DEALLOCATE changes the session"},
};

/* Denied words that are also Trino functions: allowed as a call after the
 * first word (TRUNCATE never starts a statement with "("). */
static const char *const sql_guard_function_words[] = {"TRUNCATE"};

static int sql_guard_is_function_call(const struct sql_lexer *lexer, const struct sql_token *token)
{
    struct sql_lexer peek = *lexer;
    struct sql_token next;
    for (size_t i = 0; i < sizeof sql_guard_function_words / sizeof *sql_guard_function_words; i++)
        if (sql_token_is_word(lexer, token, sql_guard_function_words[i]))
            return sql_lexer_next(&peek, &next) == SQL_TOKEN_SYMBOL &&
                   sql_token_is_symbol(&peek, &next, '(');
    return 0;
}

/* Table functions that run SQL given as a string, out of the guard's sight. */
static const char *const sql_guard_denied_functions[] = {"query", "query_table"};

static int sql_guard_refuse(tp_err *err, const struct sql_lexer *lexer,
                            const struct sql_token *token, const char *why)
{
    int length = token->length > 40 ? 40 : (int)token->length;
    return tp_err_set(err, TP_ERR_USAGE,
                      "refused: %s (at '%.*s', offset %zu); tickpipe athena runs read-only queries "
                      "(SELECT, WITH, VALUES, SHOW, DESCRIBE, EXPLAIN)",
                      why, length, lexer->text + token->offset, token->offset);
}

int sql_guard_check(const char *text, size_t length, tp_err *err)
{
    struct sql_lexer lexer;
    struct sql_token token;
    struct sql_token previous = {SQL_TOKEN_END, 0, 0};
    int first = 1;
    int ended = 0; /* a ';' was seen */
    sql_lexer_init(&lexer, text, length);
    for (;;) {
        enum sql_token_type type = sql_lexer_next(&lexer, &token);
        if (type == SQL_TOKEN_ERROR)
            return tp_err_set(err, TP_ERR_USAGE, "refused: %s (at offset %zu)", lexer.error,
                              token.offset);
        if (type == SQL_TOKEN_END)
            break;
        if (sql_token_is_symbol(&lexer, &token, ';')) {
            if (first)
                return tp_err_set(err, TP_ERR_USAGE, "refused: empty statement before ';'");
            ended = 1;
            continue;
        }
        if (ended)
            return sql_guard_refuse(err, &lexer, &token,
                                    "more than one statement (run them one at a time)");
        /* EXPLAIN ANALYZE only profiles the query that follows. */
        if (type == SQL_TOKEN_WORD &&
            !(sql_token_is_word(&lexer, &token, "ANALYZE") &&
              sql_token_is_word(&lexer, &previous, "EXPLAIN")) &&
            !(!first && sql_guard_is_function_call(&lexer, &token))) {
            for (size_t i = 0; i < sizeof sql_guard_denied_words / sizeof *sql_guard_denied_words;
                 i++)
                if (sql_token_is_word(&lexer, &token, sql_guard_denied_words[i].word))
                    return sql_guard_refuse(err, &lexer, &token, sql_guard_denied_words[i].why);
        }
        if (first) {
            int reader = sql_token_is_symbol(&lexer, &token, '(');
            for (size_t i = 0; !reader && i < sizeof sql_guard_readers / sizeof *sql_guard_readers;
                 i++)
                reader = sql_token_is_word(&lexer, &token, sql_guard_readers[i]);
            if (!reader)
                return sql_guard_refuse(err, &lexer, &token, "not a query");
            first = 0;
        }
        if (sql_token_is_symbol(&lexer, &token, '(')) {
            for (size_t i = 0;
                 i < sizeof sql_guard_denied_functions / sizeof *sql_guard_denied_functions; i++)
                if (sql_token_names(&lexer, &previous, sql_guard_denied_functions[i]))
                    return sql_guard_refuse(err, &lexer, &previous,
                                            "query() runs SQL hidden in a string");
        }
        previous = token;
    }
    if (first)
        return tp_err_set(err, TP_ERR_USAGE, "refused: the query is empty");
    return 0;
}
