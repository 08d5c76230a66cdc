/*
 * sql_guard: keeps `tickpipe athena` read-only. A SQL lexer that follows
 * DuckDB's (PostgreSQL's) rules for strings, quoted identifiers, dollar
 * quoting and comments, and a check on its tokens: one statement, starting
 * with a reading verb (SELECT, WITH, VALUES, FROM, TABLE, SHOW, DESCRIBE,
 * SUMMARIZE, EXPLAIN, '('), and no word that writes or changes anything
 * (COPY, ATTACH, INSTALL/LOAD, SET/PRAGMA, CREATE/INSERT/..., query()).
 * Where DuckDB and this lexer could read a text differently (nested
 * comments, NUL bytes, unterminated quotes), the text is refused.
 * The engine adds DuckDB's own locks (enable_external_access=false,
 * lock_configuration) behind it.
 * No allocation; errors: -1 with err (TP_ERR_USAGE) saying what was refused.
 */
#ifndef TICKPIPE_SQL_GUARD_H
#define TICKPIPE_SQL_GUARD_H

#include <stddef.h>

#include "lib/err.h"

enum sql_token_type {
    SQL_TOKEN_END = 0,
    SQL_TOKEN_WORD,       /* keyword or bare identifier */
    SQL_TOKEN_IDENTIFIER, /* "quoted identifier" */
    SQL_TOKEN_STRING,     /* 'x', E'x', $$x$$, $tag$x$tag$, X'..' */
    SQL_TOKEN_NUMBER,
    SQL_TOKEN_PARAMETER, /* $1, ?, :name is not special */
    SQL_TOKEN_SYMBOL,    /* one punctuation or operator character */
    SQL_TOKEN_ERROR,     /* lexer->error says why */
};

struct sql_token {
    enum sql_token_type type;
    size_t offset; /* into the text */
    size_t length; /* whole token, quotes included */
};

struct sql_lexer {
    const char *text;
    size_t length;
    size_t position;
    const char *error; /* static text, set with SQL_TOKEN_ERROR */
};

void sql_lexer_init(struct sql_lexer *lexer, const char *text, size_t length);
/* Fills token with the next token (comments and blanks skipped); returns
 * its type. After SQL_TOKEN_END or SQL_TOKEN_ERROR it keeps returning that. */
enum sql_token_type sql_lexer_next(struct sql_lexer *lexer, struct sql_token *token);

/* 1 when the token is the bare word (ASCII case-insensitive), else 0. */
int sql_token_is_word(const struct sql_lexer *lexer, const struct sql_token *token,
                      const char *word);
/* 1 when the token is the single character symbol c. */
int sql_token_is_symbol(const struct sql_lexer *lexer, const struct sql_token *token, char c);

/* 0 when text is one read-only statement; else -1 and err says what was
 * refused and why ("refused: COPY writes files; ..."). */
int sql_guard_check(const char *text, size_t length, tp_err *err);

#endif
