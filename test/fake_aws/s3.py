"""In-memory S3 for the fake endpoint: buckets, objects, listing with
continuation tokens, conditional puts and multipart uploads, answering with
the XML shapes and error codes AWS uses. Handlers receive the operation
parameters already validated against botocore's S3 model."""
import base64
import datetime
import hashlib
import threading
import uuid
from xml.sax.saxutils import escape

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MIN_PART = 5 * 1024 * 1024


class AwsError(Exception):
    def __init__(self, status, code, message, extra=None):
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra or {}


class Response:
    def __init__(self, status=200, body=b"", headers=None):
        self.status, self.body, self.headers = status, body, dict(headers or {})


def _iso(ts):
    return datetime.datetime.utcfromtimestamp(ts).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _http_date(ts):
    return datetime.datetime.utcfromtimestamp(ts).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _xml(root, inner):
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{inner}</{root}>').encode()


def _e(text):
    return escape(str(text))


class Store:
    def __init__(self, clock):
        self.clock = clock
        self.lock = threading.Lock()
        self.buckets = {}
        self.uploads = {}

    def create_bucket(self, name):
        with self.lock:
            self.buckets.setdefault(name, {})

    def _bucket(self, name):
        if name not in self.buckets:
            raise AwsError(404, "NoSuchBucket", "The specified bucket does not exist",
                           {"BucketName": name})
        return self.buckets[name]

    # --- operations: each takes the validated params and the raw request ---

    def CreateBucket(self, p, req):
        with self.lock:
            if p["Bucket"] in self.buckets:
                raise AwsError(409, "BucketAlreadyOwnedByYou", "Your previous request to create "
                               "the named bucket succeeded and you already own it.")
            self.buckets[p["Bucket"]] = {}
        return Response(200, b"", {"Location": "/" + p["Bucket"]})

    def HeadBucket(self, p, req):
        with self.lock:
            self._bucket(p["Bucket"])
        return Response(200)

    def PutObject(self, p, req):
        with self.lock:
            bucket = self._bucket(p["Bucket"])
            if req.headers.get("If-None-Match") == "*" and p["Key"] in bucket:
                raise AwsError(412, "PreconditionFailed",
                               "At least one of the pre-conditions you specified did not hold",
                               {"Condition": "If-None-Match"})
            etag = '"' + hashlib.md5(req.body).hexdigest() + '"'
            bucket[p["Key"]] = {"data": req.body, "etag": etag, "mtime": self.clock(),
                                "type": p.get("ContentType", "binary/octet-stream")}
        return Response(200, b"", {"ETag": etag})

    def _object(self, p):
        bucket = self._bucket(p["Bucket"])
        if p["Key"] not in bucket:
            raise AwsError(404, "NoSuchKey", "The specified key does not exist.", {"Key": p["Key"]})
        return bucket[p["Key"]]

    def _object_headers(self, obj):
        return {"ETag": obj["etag"], "Last-Modified": _http_date(obj["mtime"]),
                "Content-Type": obj["type"], "Content-Length": str(len(obj["data"]))}

    def GetObject(self, p, req):
        with self.lock:
            obj = self._object(p)
        data = obj["data"]
        wanted = req.headers.get("Range")
        if not wanted:
            return Response(200, data, self._object_headers(obj))
        # bytes=first-[last], as S3 answers it (206, Content-Range; 416 past the end)
        first, _, last = wanted.split("=", 1)[1].partition("-")
        first = int(first)
        last = min(int(last), len(data) - 1) if last else len(data) - 1
        if first >= len(data):
            raise AwsError(416, "InvalidRange", "The requested range is not satisfiable")
        headers = self._object_headers(obj)
        headers["Content-Length"] = str(last - first + 1)
        headers["Content-Range"] = f"bytes {first}-{last}/{len(data)}"
        return Response(206, data[first:last + 1], headers)

    def HeadObject(self, p, req):
        with self.lock:
            obj = self._object(p)
        return Response(200, b"", self._object_headers(obj))

    def DeleteObject(self, p, req):
        with self.lock:
            self._bucket(p["Bucket"]).pop(p["Key"], None)
        return Response(204)

    def DeleteObjects(self, p, req):
        if "content-md5" not in {k.lower() for k in req.headers}:
            raise AwsError(400, "InvalidRequest",
                           "Missing required header for this request: Content-MD5")
        out = []
        with self.lock:
            bucket = self._bucket(p["Bucket"])
            for o in p["Delete"]["Objects"]:
                bucket.pop(o["Key"], None)
                if not p["Delete"].get("Quiet"):
                    out.append(f"<Deleted><Key>{_e(o['Key'])}</Key></Deleted>")
        return Response(200, _xml("DeleteResult", "".join(out)))

    def ListObjectsV2(self, p, req):
        prefix = p.get("Prefix", "")
        delimiter = p.get("Delimiter", "")
        max_keys = min(p.get("MaxKeys", 1000), 1000)
        start = p.get("StartAfter", "")
        token = p.get("ContinuationToken")
        if token:
            try:
                start = base64.urlsafe_b64decode(token.encode()).decode()
            except Exception:
                raise AwsError(400, "InvalidArgument", "The continuation token provided is incorrect")
        with self.lock:
            bucket = self._bucket(p["Bucket"])
            keys = sorted(k for k in bucket if k.startswith(prefix) and k > start)
            entries = []  # (sort key, kind, value)
            seen_prefixes = set()
            truncated = False
            last = None
            for k in keys:
                if delimiter:
                    rest = k[len(prefix):]
                    cut = rest.find(delimiter)
                    if cut >= 0:
                        cp = prefix + rest[:cut + len(delimiter)]
                        if cp in seen_prefixes:
                            last = k
                            continue
                        if len(entries) == max_keys:
                            truncated = True
                            break
                        seen_prefixes.add(cp)
                        entries.append(("prefix", cp))
                        last = k
                        continue
                if len(entries) == max_keys:
                    truncated = True
                    break
                entries.append(("key", k))
                last = k
            inner = [f"<Name>{_e(p['Bucket'])}</Name><Prefix>{_e(prefix)}</Prefix>",
                     f"<KeyCount>{len(entries)}</KeyCount><MaxKeys>{max_keys}</MaxKeys>"]
            if delimiter:
                inner.append(f"<Delimiter>{_e(delimiter)}</Delimiter>")
            inner.append(f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>")
            if token:
                inner.append(f"<ContinuationToken>{_e(token)}</ContinuationToken>")
            if truncated:
                # A prefix group continues past its last key: skip the group.
                nxt = last
                if entries and entries[-1][0] == "prefix":
                    nxt = entries[-1][1] + "\U0010ffff"
                inner.append("<NextContinuationToken>"
                             + base64.urlsafe_b64encode(nxt.encode()).decode()
                             + "</NextContinuationToken>")
            for kind, value in entries:
                if kind == "key":
                    o = bucket[value]
                    inner.append(f"<Contents><Key>{_e(value)}</Key>"
                                 f"<LastModified>{_iso(o['mtime'])}</LastModified>"
                                 f"<ETag>{_e(o['etag'])}</ETag><Size>{len(o['data'])}</Size>"
                                 "<StorageClass>STANDARD</StorageClass></Contents>")
            for kind, value in entries:
                if kind == "prefix":
                    inner.append(f"<CommonPrefixes><Prefix>{_e(value)}</Prefix></CommonPrefixes>")
        return Response(200, _xml("ListBucketResult", "".join(inner)))

    def CreateMultipartUpload(self, p, req):
        with self.lock:
            self._bucket(p["Bucket"])
            upload_id = uuid.uuid4().hex
            self.uploads[upload_id] = {"bucket": p["Bucket"], "key": p["Key"], "parts": {},
                                       "type": p.get("ContentType", "binary/octet-stream")}
        return Response(200, _xml("InitiateMultipartUploadResult",
                                  f"<Bucket>{_e(p['Bucket'])}</Bucket><Key>{_e(p['Key'])}</Key>"
                                  f"<UploadId>{upload_id}</UploadId>"))

    def _upload(self, p):
        self._bucket(p["Bucket"])
        upload = self.uploads.get(p["UploadId"])
        if not upload or upload["bucket"] != p["Bucket"] or upload["key"] != p["Key"]:
            raise AwsError(404, "NoSuchUpload", "The specified upload does not exist.",
                           {"UploadId": p["UploadId"]})
        return upload

    def UploadPart(self, p, req):
        if not 1 <= p["PartNumber"] <= 10000:
            raise AwsError(400, "InvalidArgument", "Part number must be between 1 and 10000")
        with self.lock:
            upload = self._upload(p)
            etag = '"' + hashlib.md5(req.body).hexdigest() + '"'
            upload["parts"][p["PartNumber"]] = (req.body, etag)
        return Response(200, b"", {"ETag": etag})

    def CompleteMultipartUpload(self, p, req):
        parts = p.get("MultipartUpload", {}).get("Parts", [])
        if not parts:
            raise AwsError(400, "MalformedXML", "The XML you provided was not well-formed or did "
                           "not validate against our published schema")
        with self.lock:
            upload = self._upload(p)
            numbers = [x["PartNumber"] for x in parts]
            if numbers != sorted(set(numbers)):
                raise AwsError(400, "InvalidPartOrder", "The list of parts was not in ascending order.")
            chunks, digests = [], b""
            for i, x in enumerate(parts):
                have = upload["parts"].get(x["PartNumber"])
                if not have or have[1] != x.get("ETag"):
                    raise AwsError(400, "InvalidPart", "One or more of the specified parts could "
                                   "not be found or its entity tag did not match.")
                if i < len(parts) - 1 and len(have[0]) < MIN_PART:
                    raise AwsError(400, "EntityTooSmall", "Your proposed upload is smaller than "
                                   "the minimum allowed object size.")
                chunks.append(have[0])
                digests += bytes.fromhex(have[1].strip('"'))
            bucket = self.buckets[p["Bucket"]]
            if req.headers.get("If-None-Match") == "*" and p["Key"] in bucket:
                raise AwsError(412, "PreconditionFailed",
                               "At least one of the pre-conditions you specified did not hold")
            etag = f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'
            bucket[p["Key"]] = {"data": b"".join(chunks), "etag": etag, "mtime": self.clock(),
                                "type": upload["type"]}
            del self.uploads[p["UploadId"]]
        return Response(200, _xml("CompleteMultipartUploadResult",
                                  f"<Bucket>{_e(p['Bucket'])}</Bucket><Key>{_e(p['Key'])}</Key>"
                                  f"<ETag>{_e(etag)}</ETag>"))

    def AbortMultipartUpload(self, p, req):
        with self.lock:
            self._upload(p)
            del self.uploads[p["UploadId"]]
        return Response(204)

    def ListBuckets(self, p, req):
        with self.lock:
            names = sorted(self.buckets)
        inner = "".join(f"<Bucket><Name>{_e(n)}</Name><CreationDate>{_iso(self.clock())}"
                        "</CreationDate></Bucket>" for n in names)
        return Response(200, _xml("ListAllMyBucketsResult", f"<Buckets>{inner}</Buckets>"))

    def handle(self, operation, params, req):
        handler = getattr(self, operation, None)
        if handler is None:
            raise AwsError(501, "NotImplemented", f"the fake does not implement {operation}")
        return handler(params, req)


def error_response(err, request_id):
    extra = "".join(f"<{k}>{_e(v)}</{k}>" for k, v in err.extra.items())
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{_e(err.code)}</Code>'
            f"<Message>{_e(err.message)}</Message>{extra}<RequestId>{request_id}</RequestId>"
            "</Error>").encode()
    return Response(err.status, body, {"Content-Type": "application/xml"})
