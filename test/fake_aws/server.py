#!/usr/bin/env -S /usr/bin/python3
"""tickpipe's fake AWS endpoint, for tests on loopback.

Every AWS request is checked as AWS would: the SigV4 signature is
recomputed with botocore's own signer classes (S3SigV4Auth for S3, with its
rules; SigV4Auth for the others), the request time must be within 15
minutes of the server clock, x-amz-content-sha256 and Content-MD5 must
match the body, and the request must fit botocore's bundled model of the
service (s3, glue, athena, sns). Then:
  - S3 (REST-XML, path-style): an in-memory store (fake_aws/s3.py);
  - JSON services (X-Amz-Target: Glue, Athena): plug-in handlers from
    fake_aws/services/*.py, each module calling register(service, op, fn);
  - query services (SNS): plug-in handlers the same way; their result
    dicts are rendered as awsQuery XML, errors as <ErrorResponse>.
Also an IMDSv2 endpoint (--imds) serving role credentials that the
signature check then accepts.

Control (unsigned, under /_fake/):
  POST /_fake/faults  {"kind": K, "count": N, "operation": OP?, "seconds": S?}
        K: 500 | slowdown (503 SlowDown) | throttle (400 Throttling /
        ThrottlingException) | 429 | timeout (400 RequestTimeout) |
        slow (answer after S seconds) | reset (TCP reset, no answer)
  POST /_fake/clock   {"offset": S}   server clock = real clock + S
  POST /_fake/buckets {"name": B}     create a bucket
  GET  /_fake/log     every AWS request seen: operation, status, fault
  GET  /_fake/stats   counters (IMDS credential fetches...)
  POST /_fake/reset   clear faults, log, clock offset

Usage: server.py [--port P] [--region R] [--credentials AK:SECRET[:TOKEN]]...
                 [--bucket B]... [--imds] [--imds-ttl SECONDS]
Prints "http://127.0.0.1:PORT" on stdout once it listens.
"""
import argparse
import base64
import email.utils
import hashlib
import hmac
import importlib.util
import json
import os
import re
import secrets
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import botocore.auth  # noqa: E402
import botocore.awsrequest  # noqa: E402
import botocore.credentials  # noqa: E402

import model  # noqa: E402
import s3 as s3_store  # noqa: E402

SKEW_LIMIT = 15 * 60
QUERY_NS = "http://sns.amazonaws.com/doc/2010-03-31/"


def xml_escape(text):
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_query_xml(value):
    """A handler's result dict as awsQuery XML (lists as <member> items)."""
    if isinstance(value, dict):
        return "".join(f"<{k}>{to_query_xml(v)}</{k}>" for k, v in value.items())
    if isinstance(value, list):
        return "".join(f"<member>{to_query_xml(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return xml_escape(value)
JSON_PREFIXES = {"AWSGlue": "glue", "AmazonAthena": "athena"}

# Plug-in handlers: {(service, operation): fn(state, params) -> dict}.
HANDLERS = {}


def register(service, operation, fn):
    """Called by fake_aws/services/*.py to add an operation of a JSON or
    query service. fn(server_state, params) returns the response dict or
    raises s3_store.AwsError (status, code, message)."""
    HANDLERS[(service, operation)] = fn


def load_plugins():
    folder = os.path.join(os.path.dirname(os.path.abspath(__file__)), "services")
    if not os.path.isdir(folder):
        return
    for name in sorted(os.listdir(folder)):
        if name.endswith(".py") and not name.startswith("_"):
            spec = importlib.util.spec_from_file_location(f"fake_aws_services_{name[:-3]}",
                                                          os.path.join(folder, name))
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            module.setup(register)


class State:
    def __init__(self, args):
        self.region = args.region
        self.offset = 0
        self.lock = threading.Lock()
        self.keys = {}  # access key -> (secret, token or None, expiry or None)
        for spec in args.credentials:
            parts = spec.split(":", 2)
            self.keys[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else None, None)
        self.faults = []
        self.log = []
        self.stats = {"imds_token": 0, "imds_credentials": 0}
        self.imds = args.imds
        self.imds_ttl = args.imds_ttl
        self.imds_tokens = set()
        self.store = s3_store.Store(self.now)
        for b in args.bucket:
            self.store.create_bucket(b)
        self.data = {}  # free space for plug-ins (glue catalog, athena queries...)

    def now(self):
        return time.time() + self.offset

    def take_fault(self, operation):
        with self.lock:
            for f in self.faults:
                if f.get("operation") in (None, operation) and f["count"] > 0:
                    f["count"] -= 1
                    return dict(f)
        return None


def _http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


AUTH_RE = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/,]+)/(\d{8})/([^/,]+)/([^/,]+)/aws4_request,"
                     r"\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tickpipe-fake-aws"

    def log_message(self, fmt, *args):  # quiet: the log is served at /_fake/log
        pass

    def date_time_string(self, timestamp=None):
        """The Date header follows the server clock (which /_fake/clock skews)."""
        return _http_date(self.state.now() if timestamp is None else timestamp)

    @property
    def state(self):
        return self.server.state

    # --- plumbing -----------------------------------------------------

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status, body=b"", headers=None, json_protocol=False, request_id=None):
        self.send_response(status)
        request_id = request_id or secrets.token_hex(8).upper()
        headers = dict(headers or {})
        if json_protocol:
            headers.setdefault("x-amzn-RequestId", request_id)
        else:
            headers.setdefault("x-amz-request-id", request_id)
        if self.command == "HEAD":
            headers.setdefault("Content-Length", "0")
        else:
            headers["Content-Length"] = str(len(body))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        return request_id

    def _error(self, status, code, message, json_protocol=False, extra=None, query=False):
        if query:
            request_id = secrets.token_hex(8).upper()
            body = (f"<ErrorResponse xmlns=\"{QUERY_NS}\"><Error><Type>Sender</Type>"
                    f"<Code>{xml_escape(code)}</Code><Message>{xml_escape(message)}</Message>"
                    f"</Error><RequestId>{request_id}</RequestId></ErrorResponse>").encode()
            return self._send(status, body, {"Content-Type": "text/xml"}, request_id=request_id)
        if json_protocol:
            body = json.dumps({"__type": code, "message": message}).encode()
            return self._send(status, body, {"Content-Type": "application/x-amz-json-1.1",
                                             "x-amzn-ErrorType": code}, True)
        err = s3_store.AwsError(status, code, message, extra)
        request_id = secrets.token_hex(8).upper()
        resp = s3_store.error_response(err, request_id)
        return self._send(status, resp.body, resp.headers, request_id=request_id)

    def _reset_connection(self):
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def do_GET(self):
        self._dispatch()

    do_PUT = do_POST = do_DELETE = do_HEAD = do_GET

    def _dispatch(self):
        body = self._read_body()
        raw_path, _, raw_query = self.path.partition("?")
        if raw_path.startswith("/_fake/"):
            return self._control(raw_path, body)
        if raw_path.startswith("/latest/"):
            return self._imds(raw_path)
        target = self.headers.get("X-Amz-Target")
        ctype = self.headers.get("Content-Type", "")
        if target:
            service = JSON_PREFIXES.get(target.split(".", 1)[0], "unknown")
            return self._aws(service, "json", raw_path, raw_query, body)
        if ctype.startswith("application/x-www-form-urlencoded") and b"Action=" in body:
            return self._aws("sns", "query", raw_path, raw_query, body)
        return self._aws("s3", "rest-xml", raw_path, raw_query, body)

    # --- control and IMDS ---------------------------------------------

    def _control(self, path, body):
        st = self.state
        payload = json.loads(body or b"{}")
        if path == "/_fake/faults":
            with st.lock:
                st.faults.append({"kind": payload["kind"], "count": int(payload.get("count", 1)),
                                  "operation": payload.get("operation"),
                                  "seconds": float(payload.get("seconds", 0))})
        elif path == "/_fake/clock":
            st.offset = float(payload.get("offset", 0))
        elif path == "/_fake/buckets":
            st.store.create_bucket(payload["name"])
        elif path == "/_fake/reset":
            with st.lock:
                st.faults.clear()
                st.log.clear()
                st.offset = 0
        elif path == "/_fake/log":
            with st.lock:
                return self._send(200, json.dumps(st.log).encode(),
                                  {"Content-Type": "application/json"})
        elif path == "/_fake/stats":
            with st.lock:
                return self._send(200, json.dumps(st.stats).encode(),
                                  {"Content-Type": "application/json"})
        else:
            return self._send(404, b"unknown control path")
        return self._send(200, b"{}", {"Content-Type": "application/json"})

    def _imds(self, path):
        st = self.state
        if not st.imds:
            return self._send(404, b"")
        if path == "/latest/api/token" and self.command == "PUT":
            if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
                return self._send(400, b"missing X-aws-ec2-metadata-token-ttl-seconds")
            token = secrets.token_urlsafe(24)
            with st.lock:
                st.imds_tokens.add(token)
                st.stats["imds_token"] += 1
            return self._send(200, token.encode(), {"Content-Type": "text/plain"})
        if self.headers.get("X-aws-ec2-metadata-token") not in st.imds_tokens:
            return self._send(401, b"")
        prefix = "/latest/meta-data/iam/security-credentials/"
        if path == prefix:
            return self._send(200, b"tickpipe-test-role", {"Content-Type": "text/plain"})
        if path == prefix + "tickpipe-test-role":
            key = "ASIAFAKE" + secrets.token_hex(6).upper()
            secret = secrets.token_urlsafe(30)
            token = "IMDSTOKEN" + secrets.token_urlsafe(40)
            expiry = st.now() + st.imds_ttl
            with st.lock:
                st.keys[key] = (secret, token, expiry)
                st.stats["imds_credentials"] += 1
            doc = {"Code": "Success", "Type": "AWS-HMAC", "AccessKeyId": key,
                   "SecretAccessKey": secret, "Token": token,
                   "Expiration": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expiry)),
                   "LastUpdated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.now()))}
            return self._send(200, json.dumps(doc).encode(), {"Content-Type": "text/plain"})
        return self._send(404, b"")

    # --- AWS requests ---------------------------------------------------

    def _record(self, service, operation, status, fault=None):
        with self.state.lock:
            self.state.log.append({"service": service, "operation": operation, "status": status,
                                   "fault": fault, "method": self.command, "path": self.path})

    def _verify_signature(self, service, raw_path, raw_query, body, json_protocol):
        """Returns None when the request is signed right, else (status, code, message)."""
        st = self.state
        auth = self.headers.get("Authorization")
        if not auth:
            return 403, "AccessDenied" if not json_protocol else "MissingAuthenticationTokenException", \
                "Request is missing Authentication Token"
        m = AUTH_RE.match(auth)
        if not m:
            return 400, "AuthorizationHeaderMalformed" if not json_protocol else "IncompleteSignatureException", \
                "The authorization header is malformed"
        access_key, date, region, scope_service, signed, signature = m.groups()
        if access_key not in st.keys:
            return 403, "InvalidAccessKeyId" if not json_protocol else "UnrecognizedClientException", \
                "The AWS Access Key Id you provided does not exist in our records."
        secret, token, expiry = st.keys[access_key]
        amz_date = self.headers.get("X-Amz-Date", "")
        try:
            req_time = time.mktime(time.strptime(amz_date, "%Y%m%dT%H%M%SZ")) - time.timezone
        except ValueError:
            return 403, "AccessDenied", "X-Amz-Date is missing or malformed"
        if abs(req_time - st.now()) > SKEW_LIMIT:
            if json_protocol:
                return 400, "InvalidSignatureException", \
                    f"Signature expired: {amz_date} is now earlier than " \
                    f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(st.now() - SKEW_LIMIT))}"
            return 403, "RequestTimeTooSkewed", \
                "The difference between the request time and the current time is too large."
        if date != amz_date[:8] or region != st.region or scope_service != service:
            return 400 if not json_protocol else 403, \
                "AuthorizationHeaderMalformed" if not json_protocol else "InvalidSignatureException", \
                f"Credential should be scoped to a valid region and service: got {region}/{scope_service}, " \
                f"expected {st.region}/{service}"
        signed_names = signed.split(";")
        for needed in ["host", "x-amz-date"] + (["x-amz-content-sha256"] if service == "s3" else []):
            if needed not in signed_names:
                return 403, "AccessDenied", f"header {needed} must be signed"
        if token is not None:
            if self.headers.get("X-Amz-Security-Token") != token \
                    or "x-amz-security-token" not in signed_names:
                return 403, "InvalidToken" if not json_protocol else "UnrecognizedClientException", \
                    "The provided token is malformed or otherwise invalid."
            if expiry is not None and expiry < st.now():
                return 400, "ExpiredToken" if not json_protocol else "ExpiredTokenException", \
                    "The provided token has expired."
        request = botocore.awsrequest.AWSRequest(
            method=self.command, url="http://" + (self.headers.get("Host") or "") + self.path,
            data=body)
        request.headers = botocore.awsrequest.HTTPHeaders()
        for name, value in self.headers.items():
            if name.lower() in signed_names:
                request.headers[name] = value
        if sorted({n.lower() for n in request.headers.keys()}) != sorted(signed_names):
            return 403, "SignatureDoesNotMatch", "a signed header is missing from the request"
        request.context["timestamp"] = amz_date
        creds = botocore.credentials.Credentials(access_key, secret, token)
        auth_class = botocore.auth.S3SigV4Auth if service == "s3" else botocore.auth.SigV4Auth
        signer = auth_class(creds, service, region)
        canonical = signer.canonical_request(request)
        string_to_sign = signer.string_to_sign(request, canonical)
        expected = signer.signature(string_to_sign, request)
        if not hmac.compare_digest(expected, signature):
            code = "SignatureDoesNotMatch" if not json_protocol else "InvalidSignatureException"
            return 403, code, ("The request signature we calculated does not match the signature "
                               "you provided. Check your AWS Secret Access Key and signing method.")
        return None

    def _check_body(self, body):
        declared = self.headers.get("x-amz-content-sha256")
        if declared is None:
            return 400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        if declared != "UNSIGNED-PAYLOAD" and declared != hashlib.sha256(body).hexdigest():
            return 400, "XAmzContentSHA256Mismatch", \
                "The provided 'x-amz-content-sha256' header does not match what was computed."
        md5 = self.headers.get("Content-MD5")
        if md5 is not None:
            try:
                given = base64.b64decode(md5, validate=True)
            except ValueError:
                return 400, "InvalidDigest", "The Content-MD5 you specified was invalid."
            if given != hashlib.md5(body).digest():
                return 400, "BadDigest", "The Content-MD5 you specified did not match what we received."
        return None

    def _aws(self, service, protocol, raw_path, raw_query, body):
        st = self.state
        json_protocol = protocol == "json"
        query_pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)
        # Which operation (for fault filters and the log) before anything else.
        try:
            if protocol == "rest-xml":
                operation, params = model.validate_rest(service, self.command, raw_path,
                                                        query_pairs, self.headers, body)
            elif protocol == "json":
                operation, params = model.validate_json(service, self.headers.get("X-Amz-Target"),
                                                        body)
            else:
                form = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
                operation, params = model.validate_query(service, form)
            model_error = None
        except model.ModelError as exc:
            operation, params, model_error = "?", None, exc
        fault = st.take_fault(operation)
        if fault and protocol == "query" and fault["kind"] not in ("reset", "slow"):
            self._record(service, operation, None, fault["kind"])
            return self._error(503 if fault["kind"] != "throttle" else 400,
                               "Throttling" if fault["kind"] == "throttle" else "ServiceUnavailable",
                               "injected fault", query=True)
        if fault:
            kind = fault["kind"]
            self._record(service, operation, None, kind)
            if kind == "reset":
                return self._reset_connection()
            if kind == "slow":
                time.sleep(fault["seconds"])
            elif kind == "500":
                return self._error(500, "InternalError", "We encountered an internal error. "
                                   "Please try again.", json_protocol)
            elif kind == "slowdown":
                return self._error(503, "SlowDown", "Please reduce your request rate.",
                                   json_protocol)
            elif kind == "throttle":
                return self._error(400, "ThrottlingException" if json_protocol else "Throttling",
                                   "Rate exceeded", json_protocol)
            elif kind == "429":
                return self._error(429, "TooManyRequestsException", "Too many requests",
                                   json_protocol)
            elif kind == "timeout":
                return self._error(400, "RequestTimeout", "Your socket connection to the server "
                                   "was not read from or written to within the timeout period.",
                                   json_protocol)
        problem = self._verify_signature(service, raw_path, raw_query, body, json_protocol)
        if problem is None and service == "s3":
            problem = self._check_body(body)
        query = protocol == "query"
        if problem is not None:
            self._record(service, operation, problem[0])
            return self._error(*problem, json_protocol=json_protocol, query=query)
        if model_error is not None:
            self._record(service, operation, 400)
            return self._error(400, model_error.code, str(model_error), json_protocol,
                               query=query)
        try:
            if service == "s3":
                self.body = body
                resp = st.store.handle(operation, params, self)
            else:
                handler = HANDLERS.get((service, operation))
                if handler is None:
                    raise s3_store.AwsError(501, "NotImplemented",
                                            f"the fake does not implement {service} {operation}")
                result = handler(st, params)
                if query:
                    body_xml = (f"<{operation}Response xmlns=\"{QUERY_NS}\"><{operation}Result>"
                                f"{to_query_xml(result)}</{operation}Result><ResponseMetadata>"
                                f"<RequestId>{secrets.token_hex(8)}</RequestId></ResponseMetadata>"
                                f"</{operation}Response>")
                    resp = s3_store.Response(200, body_xml.encode(), {"Content-Type": "text/xml"})
                else:
                    resp = s3_store.Response(200, json.dumps(result).encode(),
                                             {"Content-Type": "application/x-amz-json-1.1"})
        except s3_store.AwsError as err:
            self._record(service, operation, err.status)
            return self._error(err.status, err.code, err.message, json_protocol, err.extra,
                               query=query)
        self._record(service, operation, resp.status)
        return self._send(resp.status, resp.body, resp.headers, json_protocol)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--credentials", action="append", default=[])
    parser.add_argument("--bucket", action="append", default=[])
    parser.add_argument("--imds", action="store_true")
    parser.add_argument("--imds-ttl", type=int, default=6 * 3600)
    args = parser.parse_args()
    load_plugins()
    server = Server(("127.0.0.1", args.port), Handler)
    server.state = State(args)
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
