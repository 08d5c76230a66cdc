"""Glue Data Catalog operations for the fake AWS endpoint: databases,
tables and partitions held in memory (state.data["glue_databases"]), with
Glue's errors (EntityNotFoundException, AlreadyExistsException) and paging.
Requests arrive already signature-checked and validated against botocore's
glue model; the limits the model cannot express (BatchCreatePartition's and
BatchUpdatePartition's 100 entries, values matching the partition keys) are
checked here. BatchUpdatePartition replaces the stored partition (keeping
its CreationTime), so GetPartitions shows the update.

Pages are small (PAGE entries unless MaxResults asks for fewer) so tests
exercise NextToken."""
import copy
import threading
import time

import s3 as s3_store

PAGE = 100
CATALOG_ID = "123456789012"
_lock = threading.Lock()


def _error(code, message):
    return s3_store.AwsError(400, code, message)


def _databases(state):
    return state.data.setdefault("glue_databases", {})


def _database(state, name):
    db = _databases(state).get(name.lower())
    if db is None:
        raise _error("EntityNotFoundException", f"Database {name} not found.")
    return db


def _table(state, database, name):
    table = _database(state, database)["tables"].get(name.lower())
    if table is None:
        raise _error("EntityNotFoundException", f"Table {name} not found.")
    return table


def _page(items, params, limit_max):
    start = int(params.get("NextToken") or 0)
    size = min(int(params.get("MaxResults") or PAGE), PAGE, limit_max)
    page = items[start:start + size]
    result = {"items": page}
    if start + size < len(items):
        result["NextToken"] = str(start + size)
    return result


def create_database(state, params):
    with _lock:
        db_input = params["DatabaseInput"]
        name = db_input["Name"].lower()
        dbs = _databases(state)
        if name in dbs:
            raise _error("AlreadyExistsException", f"Database {name} already exists.")
        database = dict(copy.deepcopy(db_input), Name=name, CreateTime=time.time(), CatalogId=CATALOG_ID)
        dbs[name] = {"Database": database, "tables": {}, "partitions": {}}
    return {}


def get_database(state, params):
    with _lock:
        return {"Database": copy.deepcopy(_database(state, params["Name"])["Database"])}


def _stored_table(database, table_input, created, version):
    table = copy.deepcopy(table_input)
    table["Name"] = table["Name"].lower()
    now = time.time()
    table.update(DatabaseName=database, CreateTime=created or now, UpdateTime=now,
                 IsRegisteredWithLakeFormation=False, CatalogId=CATALOG_ID, VersionId=str(version))
    return table


def create_table(state, params):
    with _lock:
        db = _database(state, params["DatabaseName"])
        name = params["TableInput"]["Name"].lower()
        if name in db["tables"]:
            raise _error("AlreadyExistsException", f"Table {name} already exists.")
        db["tables"][name] = _stored_table(db["Database"]["Name"], params["TableInput"], None, 0)
        db["partitions"][name] = {}
    return {}


def update_table(state, params):
    with _lock:
        db = _database(state, params["DatabaseName"])
        old = _table(state, params["DatabaseName"], params["TableInput"]["Name"])
        db["tables"][old["Name"]] = _stored_table(db["Database"]["Name"], params["TableInput"], old["CreateTime"],
                                                  int(old["VersionId"]) + 1)
    return {}


def get_table(state, params):
    with _lock:
        return {"Table": copy.deepcopy(_table(state, params["DatabaseName"], params["Name"]))}


def get_tables(state, params):
    with _lock:
        db = _database(state, params["DatabaseName"])
        tables = [copy.deepcopy(db["tables"][n]) for n in sorted(db["tables"])]
    page = _page(tables, params, 100)
    result = {"TableList": page["items"]}
    if "NextToken" in page:
        result["NextToken"] = page["NextToken"]
    return result


def _partition_error(values_member, values, code, message):
    return {values_member: list(values), "ErrorDetail": {"ErrorCode": code, "ErrorMessage": message}}


def _partition_batch(state, params, member):
    """The entries of a Batch*Partition call (at most 100, as Glue allows), its
    database, table, stored partitions and number of partition keys; under _lock."""
    items = params[member]
    if len(items) > 100:
        raise _error("ValidationException", f"{member} has {len(items)} entries; at most 100")
    db = _database(state, params["DatabaseName"])
    table = _table(state, params["DatabaseName"], params["TableName"])
    return items, db, table, db["partitions"][table["Name"]], len(table.get("PartitionKeys") or [])


def batch_create_partition(state, params):
    errors = []
    with _lock:
        inputs, db, table, partitions, keys = _partition_batch(state, params, "PartitionInputList")
        for p in inputs:
            values = tuple(p.get("Values") or [])
            if len(values) != keys:
                errors.append(_partition_error("PartitionValues", values, "InvalidInputException",
                                               f"{len(values)} values for {keys} partition keys"))
            elif values in partitions:
                errors.append(_partition_error("PartitionValues", values, "AlreadyExistsException",
                                               "Partition already exists."))
            else:
                stored = copy.deepcopy(p)
                stored.update(DatabaseName=db["Database"]["Name"], TableName=table["Name"],
                              CreationTime=time.time(), CatalogId=CATALOG_ID)
                partitions[values] = stored
    return {"Errors": errors} if errors else {}


def batch_update_partition(state, params):
    errors = []
    with _lock:
        entries, db, table, partitions, keys = _partition_batch(state, params, "Entries")
        for entry in entries:
            values = tuple(entry["PartitionValueList"])
            new_values = tuple(entry["PartitionInput"].get("Values") or values)
            old = partitions.get(values)
            if old is None:
                errors.append(_partition_error("PartitionValueList", values, "EntityNotFoundException",
                                               "Partition not found."))
            elif len(new_values) != keys:
                errors.append(_partition_error("PartitionValueList", values, "InvalidInputException",
                                               f"{len(new_values)} values for {keys} partition keys"))
            elif new_values != values and new_values in partitions:
                errors.append(_partition_error("PartitionValueList", values, "AlreadyExistsException",
                                               "Partition already exists."))
            else:
                stored = copy.deepcopy(entry["PartitionInput"])
                stored.update(Values=list(new_values), DatabaseName=db["Database"]["Name"],
                              TableName=table["Name"], CreationTime=old["CreationTime"], CatalogId=CATALOG_ID)
                del partitions[values]
                partitions[new_values] = stored
    return {"Errors": errors} if errors else {}


def get_partitions(state, params):
    with _lock:
        db = _database(state, params["DatabaseName"])
        table = _table(state, params["DatabaseName"], params["TableName"])
        partitions = [copy.deepcopy(p) for _, p in sorted(db["partitions"][table["Name"]].items())]
    page = _page(partitions, params, 1000)
    result = {"Partitions": page["items"]}
    if "NextToken" in page:
        result["NextToken"] = page["NextToken"]
    return result


def setup(register):
    for operation, fn in (("CreateDatabase", create_database), ("GetDatabase", get_database),
                          ("CreateTable", create_table), ("UpdateTable", update_table),
                          ("GetTable", get_table), ("GetTables", get_tables),
                          ("BatchCreatePartition", batch_create_partition),
                          ("BatchUpdatePartition", batch_update_partition),
                          ("GetPartitions", get_partitions)):
        register("glue", operation, fn)
