"""Amazon Athena for the fake AWS endpoint: StartQueryExecution,
GetQueryExecution, GetQueryResults, StopQueryExecution.

The server has already checked the signature and the request against
botocore's Athena model. This module adds what the model cannot say and
Athena enforces: a ClientRequestToken (idempotent: the same token and
statement give the same query, a different statement is refused), an
output location (ResultConfiguration or the work group "configured"),
results only once SUCCEEDED, pages of at most MaxResults rows with the
header row first on the first page of a SELECT (StatementType DML).

Queries walk QUEUED -> RUNNING -> QUEUED -> RUNNING -> SUCCEEDED, one step
per GetQueryExecution (QUEUED can follow RUNNING in real Athena too). What
a statement returns is scripted by its text:
  generate_rows(N)   N rows: n integer, symbol varchar, price double,
                     up boolean, note varchar (NULL every 7th), day date
  fail_syntax        FAILED with StateChangeReason and AthenaError
  sleep_forever      stays RUNNING until StopQueryExecution
  SHOW TABLES        a UTILITY statement: rows without a header row
  anything else      one row, _col0 integer 1
"""
import re
import time
import uuid

from s3 import AwsError

COLUMNS = [("n", "integer"), ("symbol", "varchar"), ("price", "double"), ("up", "boolean"),
           ("note", "varchar"), ("day", "date")]
STEPS = ["QUEUED", "RUNNING", "QUEUED", "RUNNING"]


def _queries(state):
    return state.data.setdefault("athena_queries", {})


def _invalid(message):
    return AwsError(400, "InvalidRequestException", message)


def _column_info(name, kind):
    return {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": name, "Label": name,
            "Type": kind, "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": kind == "varchar"}


def _plan(sql):
    """(statement type, columns, rows, final state) for a statement."""
    match = re.search(r"generate_rows\((\d+)\)", sql)
    if match:
        rows = []
        for n in range(1, int(match.group(1)) + 1):
            rows.append([str(n), f"S{n % 50:02d}", repr(round(100 + n / 8, 3)), "true" if n % 2 else "false",
                         None if n % 7 == 0 else f"tick {n}, \"quoted\"", f"2024-03-{1 + n % 28:02d}"])
        return "DML", COLUMNS, rows, "SUCCEEDED"
    if "fail_syntax" in sql:
        return "DML", [], [], "FAILED"
    if "sleep_forever" in sql:
        return "DML", [], [], "RUNNING"
    if re.match(r"\s*SHOW\s+TABLES", sql, re.I):
        return "UTILITY", [("tab_name", "string")], [["ticks"], ["trades"]], "SUCCEEDED"
    return "DML", [("_col0", "integer")], [["1"]], "SUCCEEDED"


def start_query_execution(state, params):
    token = params.get("ClientRequestToken")
    if not token:
        raise _invalid("ClientRequestToken is required for callers that are not an AWS SDK")
    workgroup = params.get("WorkGroup", "primary")
    output = params.get("ResultConfiguration", {}).get("OutputLocation")
    if not output and workgroup != "configured":
        raise _invalid("No output location provided. An output location is required either "
                       "through the Workgroup result configuration setting or as an API input.")
    if output and not output.startswith("s3://"):
        raise _invalid(f"Output location {output} is not an S3 URI")
    queries = _queries(state)
    for query in queries.values():
        if query["token"] == token:
            if query["sql"] != params["QueryString"]:
                raise _invalid("Idempotent parameters do not match")
            return {"QueryExecutionId": query["id"]}
    statement_type, columns, rows, final = _plan(params["QueryString"])
    query_id = str(uuid.uuid4())
    queries[query_id] = {"id": query_id, "token": token, "sql": params["QueryString"], "polls": 0,
                         "state": "QUEUED", "final": final, "type": statement_type, "columns": columns,
                         "rows": rows, "workgroup": workgroup, "output": output or "s3://configured/",
                         "context": params.get("QueryExecutionContext", {}), "submitted": time.time(),
                         "pages": 0}
    return {"QueryExecutionId": query_id}


def _query(state, params):
    query = _queries(state).get(params["QueryExecutionId"])
    if query is None:
        raise _invalid(f"QueryExecution {params['QueryExecutionId']} was not found")
    return query


def get_query_execution(state, params):
    query = _query(state, params)
    if query["state"] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
        query["polls"] += 1
        if query["polls"] <= len(STEPS):
            query["state"] = STEPS[query["polls"] - 1]
        elif query["final"] != "RUNNING":
            query["state"] = query["final"]
        else:
            query["state"] = "RUNNING"
    status = {"State": query["state"], "SubmissionDateTime": query["submitted"]}
    if query["state"] == "FAILED":
        message = "SYNTAX_ERROR: line 1:8: Column 'fail_syntax' cannot be resolved"
        status["StateChangeReason"] = message
        status["AthenaError"] = {"ErrorCategory": 2, "ErrorType": 1006, "Retryable": False,
                                 "ErrorMessage": message}
    if query["state"] == "CANCELLED":
        status["StateChangeReason"] = "Query was cancelled by user"
    if query["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
        status["CompletionDateTime"] = time.time()
    execution = {"QueryExecutionId": query["id"], "Query": query["sql"], "StatementType": query["type"],
                 "ResultConfiguration": {"OutputLocation": query["output"] + query["id"] + ".csv"},
                 "QueryExecutionContext": query["context"], "Status": status, "WorkGroup": query["workgroup"],
                 "Statistics": {"EngineExecutionTimeInMillis": 1234, "DataScannedInBytes": 123456789,
                                "TotalExecutionTimeInMillis": 1500, "QueryQueueTimeInMillis": 10}}
    return {"QueryExecution": execution}


def get_query_results(state, params):
    query = _query(state, params)
    if query["state"] != "SUCCEEDED":
        raise _invalid(f"Query has not yet finished. Current state: {query['state']}")
    limit = params.get("MaxResults", 1000)
    rows = query["rows"]
    if query["type"] == "DML":  # Athena's header row, first of the first page
        rows = [[name for name, _ in query["columns"]]] + rows
    start = 0
    token = params.get("NextToken")
    if token:
        match = re.fullmatch(r"page:" + re.escape(query["id"]) + r":(\d+)", token)
        if not match:
            raise _invalid("The NextToken is not valid")
        start = int(match.group(1))
    page = rows[start:start + limit]
    query["pages"] += 1
    result = {"UpdateCount": 0,
              "ResultSet": {"Rows": [{"Data": [{} if v is None else {"VarCharValue": v} for v in row]}
                                     for row in page],
                            "ResultSetMetadata": {"ColumnInfo": [_column_info(n, k) for n, k in query["columns"]]}}}
    if start + limit < len(rows):
        result["NextToken"] = f"page:{query['id']}:{start + limit}"
    return result


def stop_query_execution(state, params):
    query = _query(state, params)
    if query["state"] in ("QUEUED", "RUNNING"):
        query["state"] = "CANCELLED"
    return {}


def setup(register):
    register("athena", "StartQueryExecution", start_query_execution)
    register("athena", "GetQueryExecution", get_query_execution)
    register("athena", "GetQueryResults", get_query_results)
    register("athena", "StopQueryExecution", stop_query_execution)
