/*
 * athena_ddl: a catalog Table (Glue's shape) rendered as the Athena DDL
 * that creates it: CREATE EXTERNAL TABLE ... PARTITIONED BY ... ROW FORMAT
 * SERDE ... WITH SERDEPROPERTIES ... STORED AS INPUTFORMAT ... LOCATION
 * ... TBLPROPERTIES (...), in the layout of Athena's SHOW CREATE TABLE,
 * ready to paste into the Athena console.
 * Errors: -1 with err set when the document lacks what DDL needs.
 */
#ifndef TICKPIPE_ATHENA_DDL_H
#define TICKPIPE_ATHENA_DDL_H

#include <cjson/cJSON.h>

#include "lib/buf.h"
#include "lib/err.h"

/* Appends the statement (ending in ";\n") to out. database may be NULL
 * (the table name is then unqualified). */
int athena_ddl_create_table(const cJSON *table, const char *database, buf *out, tp_err *err);

#endif
