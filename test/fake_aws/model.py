"""Request validation against botocore's bundled service models.

For REST services (S3) the operation is found from the HTTP method, the
path and the query string, as the model's requestUri templates describe
them; then every header, query parameter, URI label and XML payload is
turned into botocore parameters and checked with botocore's own
ParamValidator. Unknown query parameters and unknown XML elements are
errors too, so a typo in the client is caught here. JSON services (Glue,
Athena) are validated from the X-Amz-Target operation and the JSON body;
query services (SNS) from Action and the form fields.
"""
import datetime
import urllib.parse
import xml.etree.ElementTree as ET

import botocore.loaders
import botocore.model
import botocore.validate

_loader = botocore.loaders.create_loader()
_models = {}

AUTH_QUERY_PARAMS = {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
                     "X-Amz-SignedHeaders", "X-Amz-Signature", "X-Amz-Security-Token", "x-id"}


class ModelError(Exception):
    """A request that does not fit the service model (answered 400)."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def service_model(name):
    if name not in _models:
        _models[name] = botocore.model.ServiceModel(
            _loader.load_service_model(name, "service-2"), name)
    return _models[name]


def _split_request_uri(uri):
    path, _, query = uri.partition("?")
    literals = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        literals[key] = value if "=" in part else None
    return path, literals


def _match_path(template, path):
    """Returns {label: decoded value} when path fits the template, else None."""
    t_parts = [p for p in template.split("/") if p]
    raw = path[1:] if path.startswith("/") else path
    labels = {}
    for t in t_parts:
        if t.startswith("{") and t.endswith("+}"):
            if not raw:
                return None
            labels[t[1:-2]] = urllib.parse.unquote(raw)
            return labels
        if raw is None:
            return None
        segment, sep, rest = raw.partition("/")
        if t.startswith("{"):
            if not segment:
                return None
            labels[t[1:-1]] = urllib.parse.unquote(segment)
        elif segment != t:
            return None
        raw = rest if sep else None
    return labels if raw in (None, "") else None


def _query_members(shape):
    return {m.serialization.get("name", n): (n, m) for n, m in shape.members.items()
            if m.serialization.get("location") == "querystring"}


def _header_members(shape):
    return {m.serialization.get("name", n).lower(): (n, m) for n, m in shape.members.items()
            if m.serialization.get("location") == "header"}


def find_rest_operation(service, method, path, query_pairs, headers=None):
    """The operation model a REST request addresses (None when none fits)."""
    model = service_model(service)
    present = {k for k, _ in query_pairs}
    best, best_score = None, -1
    for name in model.operation_names:
        op = model.operation_model(name)
        if op.http.get("method") != method:
            continue
        template, literals = _split_request_uri(op.http.get("requestUri", "/"))
        if _match_path(template, path) is None:
            continue
        values = dict(query_pairs)
        ok = True
        for key, value in literals.items():
            if key == "x-id":
                continue
            if key not in present or (value is not None and values.get(key) != value):
                ok = False
        if not ok:
            continue
        shape = op.input_shape
        required_query = [loc for loc, (n, m) in (_query_members(shape).items() if shape else [])
                          if n in shape.required_members]
        if any(q not in present for q in required_query):
            continue
        header_names = {k.lower() for k in (headers or {})}
        required_headers = [loc for loc, (n, m) in (_header_members(shape).items() if shape else [])
                            if n in shape.required_members]
        if any(h not in header_names for h in required_headers):
            continue
        score = len([k for k in literals if k != "x-id"]) + len(required_query) + len(required_headers)
        if score > best_score:
            best, best_score = op, score
    return best


def _scalar(text, shape):
    t = shape.type_name
    if t in ("integer", "long"):
        return int(text)
    if t == "boolean":
        if text not in ("true", "false"):
            raise ValueError(f"not a boolean: {text!r}")
        return text == "true"
    if t == "timestamp":
        try:
            return datetime.datetime.strptime(text, "%a, %d %b %Y %H:%M:%S GMT")
        except ValueError:
            return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t == "blob":
        return text.encode()
    return text


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def xml_to_params(elem, shape, where):
    """Turns an XML element into botocore params following shape; unknown
    child elements raise ModelError."""
    t = shape.type_name
    if t == "structure":
        out = {}
        names = {}
        for name, member in shape.members.items():
            names[member.serialization.get("name", name)] = (name, member)
        seen_lists = {}
        for child in elem:
            tag = _local(child.tag)
            if tag not in names:
                raise ModelError("MalformedXML", f"unknown element <{tag}> in <{where}>")
            name, member = names[tag]
            if member.type_name == "list" and member.serialization.get("flattened"):
                seen_lists.setdefault(name, []).append(xml_to_params(child, member.member, tag))
            else:
                out[name] = xml_to_params(child, member, tag)
        out.update(seen_lists)
        return out
    if t == "list":
        item = shape.member.serialization.get("name", "member")
        return [xml_to_params(c, shape.member, item) for c in elem if _local(c.tag) == item]
    try:
        return _scalar(elem.text or "", shape)
    except ValueError as exc:
        raise ModelError("MalformedXML", f"<{where}>: {exc}")


def _validate(params, shape, operation):
    report = botocore.validate.ParamValidator().validate(params, shape)
    if report.has_errors():
        raise ModelError("InvalidRequest",
                         f"{operation}: request does not match the model: "
                         + report.generate_report().replace("\n", " "))


def validate_rest(service, method, path, query_pairs, headers, body):
    """Validates a REST-XML request; returns (operation_name, params)."""
    op = find_rest_operation(service, method, path, query_pairs, headers)
    if op is None:
        raise ModelError("InvalidRequest",
                         f"no {service} operation matches {method} {path}?"
                         + "&".join(k for k, _ in query_pairs))
    shape = op.input_shape
    params = {}
    if shape is None:
        return op.name, params
    template, literals = _split_request_uri(op.http.get("requestUri", "/"))
    labels = _match_path(template, path) or {}
    for name, member in shape.members.items():
        if member.serialization.get("location") == "uri":
            loc = member.serialization.get("name", name)
            if loc in labels:
                params[name] = labels[loc]
    query_members = _query_members(shape)
    for key, value in query_pairs:
        if key in AUTH_QUERY_PARAMS or key in literals:
            continue
        if key not in query_members:
            raise ModelError("InvalidArgument",
                             f"{op.name}: unknown query parameter {key!r}")
        name, member = query_members[key]
        try:
            params[name] = _scalar(value, member)
        except ValueError as exc:
            raise ModelError("InvalidArgument", f"{op.name}: query {key}: {exc}")
    header_members = _header_members(shape)
    for key, value in headers.items():
        lk = key.lower()
        if lk in header_members:
            name, member = header_members[lk]
            if member.type_name == "map":
                continue
            try:
                params[name] = _scalar(value, member)
            except ValueError as exc:
                raise ModelError("InvalidArgument", f"{op.name}: header {key}: {exc}")
    payload = shape.serialization.get("payload")
    if payload:
        member = shape.members[payload]
        if member.type_name in ("blob", "string"):
            params[payload] = body
        elif body:
            try:
                root = ET.fromstring(body)
            except ET.ParseError as exc:
                raise ModelError("MalformedXML", f"{op.name}: body is not XML: {exc}")
            expected = member.serialization.get("name", payload)
            if _local(root.tag) != expected:
                raise ModelError("MalformedXML",
                                 f"{op.name}: root element <{_local(root.tag)}>, expected <{expected}>")
            params[payload] = xml_to_params(root, member, expected)
    _validate(params, shape, op.name)
    return op.name, params


def validate_json(service, target, body):
    """Validates a JSON-protocol request; returns (operation_name, params)."""
    model = service_model(service)
    prefix = model.metadata.get("targetPrefix")
    t_prefix, _, operation = (target or "").partition(".")
    if t_prefix != prefix or operation not in model.operation_names:
        raise ModelError("UnknownOperationException",
                         f"unknown operation {target!r} for {service}")
    import json
    try:
        params = json.loads(body or b"{}")
    except ValueError as exc:
        raise ModelError("SerializationException", f"{operation}: body is not JSON: {exc}")
    op = model.operation_model(operation)
    if op.input_shape is not None:
        _validate(params, op.input_shape, operation)
    return operation, params


def validate_query(service, form):
    """Validates a query-protocol request (SNS); returns (operation, params)."""
    model = service_model(service)
    action = form.get("Action")
    if action not in model.operation_names:
        raise ModelError("InvalidAction", f"unknown action {action!r} for {service}")
    op = model.operation_model(action)
    params = {}
    shape = op.input_shape
    if shape is not None:
        for key in form:
            top = key.split(".", 1)[0]
            if key not in ("Action", "Version") and top not in shape.members:
                raise ModelError("InvalidParameter", f"{action}: unknown parameter {key!r}")
        for name, member in shape.members.items():
            if name in form and member.type_name not in ("structure", "list", "map"):
                params[name] = _scalar(form[name], member)
        if form.get("Version") != model.api_version:
            raise ModelError("InvalidParameter", f"{action}: Version must be {model.api_version}")
        nested = {n for n in shape.members if shape.members[n].type_name in ("structure", "list", "map")}
        report_shape = shape
        missing = [n for n in shape.required_members if n not in params and n not in nested]
        if missing:
            raise ModelError("InvalidParameter", f"{action}: missing {', '.join(missing)}")
        _validate({k: v for k, v in params.items()}, report_shape, action)
    return action, params
