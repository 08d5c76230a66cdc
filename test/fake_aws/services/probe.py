"""A Glue, an Athena and an SNS operation, so the JSON and query protocol
paths (SigV4 with the generic rules, X-Amz-Target or Action, model
validation, faults) are exercised before the catalog, query and alert
issues add the real handlers.
They answer from state.data, which those handlers will fill."""


def get_databases(state, params):
    dbs = state.data.get("glue_databases", {})
    return {"DatabaseList": [{"Name": name} for name in sorted(dbs)]}


def list_work_groups(state, params):
    return {"WorkGroups": [{"Name": "primary", "State": "ENABLED"}]}


def setup(register):
    register("glue", "GetDatabases", get_databases)
    register("athena", "ListWorkGroups", list_work_groups)
    _setup_sns(register)


def sns_publish(state, params):
    import uuid
    topics = state.data.setdefault("sns_published", [])
    topics.append((params.get("TopicArn"), params.get("Message")))
    return {"MessageId": str(uuid.uuid4())}


def _setup_sns(register):
    register("sns", "Publish", sns_publish)
