"""A read-only Glue and Athena operation each, so the JSON protocol path
(SigV4 with the generic rules, X-Amz-Target, model validation, faults) is
exercised before the catalog and query issues add the real handlers.
They answer from state.data, which those handlers will fill."""


def get_databases(state, params):
    dbs = state.data.get("glue_databases", {})
    return {"DatabaseList": [{"Name": name} for name in sorted(dbs)]}


def list_work_groups(state, params):
    return {"WorkGroups": [{"Name": "primary", "State": "ENABLED"}]}


def setup(register):
    register("glue", "GetDatabases", get_databases)
    register("athena", "ListWorkGroups", list_work_groups)
