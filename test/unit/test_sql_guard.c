/* Unit tests for lib/sql_guard: the lexer's quoting rules and the
 * read-only check (what is accepted, what is refused and why). */
#include "test/unit/check.h"

#include <string.h>

#include "lib/sql_guard.h"

static int guard(const char *sql, tp_err *err)
{
    tp_err_clear(err);
    return sql_guard_check(sql, strlen(sql), err);
}

static int accepted(const char *sql)
{
    tp_err err;
    int rc = guard(sql, &err);
    if (rc != 0)
        fprintf(stderr, "  unexpectedly refused: %s -> %s\n", sql, err.msg);
    return rc == 0;
}

/* Refused, with a message containing why. */
static int refused(const char *sql, const char *why)
{
    tp_err err;
    if (guard(sql, &err) == 0) {
        fprintf(stderr, "  unexpectedly accepted: %s\n", sql);
        return 0;
    }
    if (err.code != TP_ERR_USAGE || !strstr(err.msg, why)) {
        fprintf(stderr, "  %s: message '%s' lacks '%s'\n", sql, err.msg, why);
        return 0;
    }
    return 1;
}

static void test_lexer_tokens(void)
{
    const char *sql = "SELECT a.\"b\"\"c\", 'it''s', E'x\\'y', $$q'$$, $t$a$$b$t$, $1, 1.5e3 -- c\n"
                      "/* d */ FROM t;";
    struct sql_lexer lexer;
    struct sql_token token;
    sql_lexer_init(&lexer, sql, strlen(sql));
    enum sql_token_type want[] = {
        SQL_TOKEN_WORD,   SQL_TOKEN_WORD,      SQL_TOKEN_SYMBOL, SQL_TOKEN_IDENTIFIER,
        SQL_TOKEN_SYMBOL, SQL_TOKEN_STRING,    SQL_TOKEN_SYMBOL, SQL_TOKEN_STRING,
        SQL_TOKEN_SYMBOL, SQL_TOKEN_STRING,    SQL_TOKEN_SYMBOL, SQL_TOKEN_STRING,
        SQL_TOKEN_SYMBOL, SQL_TOKEN_PARAMETER, SQL_TOKEN_SYMBOL, SQL_TOKEN_NUMBER,
        SQL_TOKEN_WORD,   SQL_TOKEN_WORD,      SQL_TOKEN_SYMBOL, SQL_TOKEN_END,
    };
    int all_match = 1;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        enum sql_token_type got = sql_lexer_next(&lexer, &token);
        if (got != want[i]) {
            fprintf(stderr, "  token %zu: got %d want %d at %zu\n", i, got, want[i], token.offset);
            all_match = 0;
            break;
        }
    }
    CHECK(all_match);
    sql_lexer_init(&lexer, "E'a\\'b' x", 9);
    CHECK_INT(sql_lexer_next(&lexer, &token), SQL_TOKEN_STRING);
    CHECK_INT(token.length, 7);
    CHECK_INT(sql_lexer_next(&lexer, &token), SQL_TOKEN_WORD);
    CHECK(sql_token_is_word(&lexer, &token, "X"));
    /* a standard string ends at the quote even after a backslash */
    sql_lexer_init(&lexer, "'a\\' b", 6);
    CHECK_INT(sql_lexer_next(&lexer, &token), SQL_TOKEN_STRING);
    CHECK_INT(token.length, 4);
}

static void test_lexer_errors_are_sticky(void)
{
    struct sql_lexer lexer;
    struct sql_token token;
    sql_lexer_init(&lexer, "SELECT 'abc", 11);
    CHECK_INT(sql_lexer_next(&lexer, &token), SQL_TOKEN_WORD);
    CHECK_INT(sql_lexer_next(&lexer, &token), SQL_TOKEN_ERROR);
    CHECK_STR(lexer.error, "unterminated string");
    CHECK_INT(sql_lexer_next(&lexer, &token), SQL_TOKEN_ERROR);
}

static void test_accepts_queries(void)
{
    CHECK(accepted("SELECT symbol, date(timestamp) AS trading_day, ROUND(AVG(price), 2) AS "
                   "avg_daily_price FROM stock_data GROUP BY symbol, trading_day ORDER BY "
                   "trading_day DESC"));
    CHECK(accepted("  select 1;  "));
    CHECK(accepted("WITH r AS (SELECT 1 AS x) SELECT * FROM r;;"));
    CHECK(accepted("(SELECT 1) UNION ALL (SELECT 2)"));
    CHECK(accepted("VALUES (1), (2)"));
    CHECK(accepted("FROM ticks LIMIT 3"));
    CHECK(accepted("SHOW TABLES"));
    CHECK(accepted("DESCRIBE ticks"));
    CHECK(accepted("EXPLAIN ANALYZE SELECT count(*) FROM ticks"));
    CHECK(accepted("SELECT 'COPY t TO ''/tmp/x''; DROP TABLE t' AS s, \"load\", \"set\" FROM t"));
    CHECK(accepted("SELECT 1 -- ; COPY x TO 'y'\n"));
    CHECK(accepted("SELECT $$; ATTACH 'x'$$"));
    CHECK(accepted("SELECT settings FROM t"));
    /* Trino's truncate(x) is a function, not TRUNCATE TABLE */
    CHECK(accepted("SELECT truncate(price, 2) FROM t"));
}

static void test_refuses_writes_and_settings(void)
{
    CHECK(refused("COPY (SELECT 1) TO '/tmp/x.csv'", "COPY"));
    CHECK(refused("copy ticks from '/etc/passwd'", "COPY"));
    CHECK(refused("ATTACH '/tmp/x.db' AS x", "ATTACH"));
    CHECK(refused("INSTALL httpfs", "INSTALL"));
    CHECK(refused("LOAD httpfs", "LOAD"));
    CHECK(refused("SET enable_external_access = true", "SET"));
    CHECK(refused("PRAGMA enable_profiling", "PRAGMA"));
    CHECK(refused("CREATE TABLE x AS SELECT 1", "CREATE"));
    CHECK(refused("INSERT INTO x VALUES (1)", "INSERT"));
    CHECK(refused("DROP VIEW ticks", "DROP"));
    CHECK(refused("EXPORT DATABASE '/tmp/out'", "EXPORT"));
    CHECK(refused("CHECKPOINT", "CHECKPOINT"));
    CHECK(refused("EXPLAIN ANALYZE COPY (SELECT 1) TO 'x'", "COPY"));
    CHECK(refused("WITH x AS (SELECT 1) INSERT INTO y SELECT * FROM x", "INSERT"));
    CHECK(refused("SELECT * FROM query('SELECT 1')", "query()"));
    CHECK(refused("SELECT * FROM \"QUERY\"('SELECT 1')", "query()"));
    CHECK(refused("CALL pragma_version()", "CALL"));
    CHECK(refused("USE memory", "USE"));
    CHECK(refused("OPTIMIZE t", "not a query"));
    CHECK(refused("TRUNCATE ticks", "TRUNCATE"));
    CHECK(refused("TRUNCATE (ticks)", "TRUNCATE"));
    CHECK(refused("SELECT truncate ticks", "TRUNCATE"));
}

static void test_refuses_ambiguity(void)
{
    CHECK(refused("SELECT 1; SELECT 2", "more than one statement"));
    CHECK(refused("SELECT 1; COPY x TO 'y'", "COPY"));
    CHECK(refused("SELECT /* a /* b */ 1 */ 2", "nested"));
    CHECK(refused("SELECT /* open", "unterminated"));
    CHECK(refused("SELECT 'open", "unterminated string"));
    CHECK(refused("SELECT \"open", "unterminated quoted identifier"));
    CHECK(refused("SELECT $a$ open", "unterminated $$"));
    /* E'' strings take backslash escapes, standard strings do not */
    CHECK(accepted("SELECT E'a\\' ; COPY x TO ' AS y"));
    CHECK(refused("SELECT 'a\\' ; COPY x TO ' AS y", "more than one statement"));
    CHECK(refused("", "empty"));
    CHECK(refused("  -- only a comment\n", "empty"));
    CHECK(refused(";", "empty statement"));
    tp_err err;
    tp_err_clear(&err);
    CHECK(sql_guard_check("SELECT 1\0; COPY x TO 'y'", 24, &err) < 0);
    CHECK(strstr(err.msg, "NUL") != NULL);
}

int main(void)
{
    RUN(test_lexer_tokens);
    RUN(test_lexer_errors_are_sticky);
    RUN(test_accepts_queries);
    RUN(test_refuses_writes_and_settings);
    RUN(test_refuses_ambiguity);
    CHECK_EXIT();
}
