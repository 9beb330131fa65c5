#!/usr/bin/env python3
"""A Dalet Flex (Ooyala Flex) REST API test server, for Framenote's system tests.

Follows the seed outline shared/seeds/000_8275f4b73c93b750.txt (resource sections "Accounts",
"Account Workspace", "Assets", "Collections", and the FlexREVIEW text: "/api/assets;id=1234;id=2345",
"/api/assets/10105/reviews/102313/actions" with {"action":"TAKE"}, "all action values must be
capitalized", annotations with originatorContext "MioAssetReview, QCReport, or leave the field
empty", "Timestamps are in microseconds", "api/files/<uuid>.png") and, where the outline gives no
path or field, shared/reference/platforms/flex.md part B (base https://<deployment>/api, Basic auth,
Content-Type application/vnd.nativ.mio.v1+json, ";offset=;limit=" matrix paging with totalCount,
collection items with ?limit=&offset= and totalResults, the "offset until 10000 results" ceiling,
assetContext.formatContext µs times, annotations {id, uuid, timestampIn, timestampOut}).
Choices no source makes are marked "Not documented:".

Only loopback. Usage: flex.py --seed SEED.json --media-dir DIR  (prints the port, then serves).
Test-only controls live under /__control/ (fault injection and counters; never platform state).
"""

import argparse
import base64
import copy
import datetime as dt
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MEDIA_TYPE = "application/vnd.nativ.mio.v1+json"
MAX_OFFSET = 10000
ORIGINATORS = ("MioAssetReview", "QCReport", "")
REVIEW_ACTIONS = ("DOWNLOADED", "WATCHED", "APPROVE", "TAKE", "RELEASE")


class HttpError(Exception):
    def __init__(self, status, message, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def now_iso():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def public(row):
    return {k: v for k, v in row.items() if not k.startswith("_")}


def parse_path(raw_path):
    """Splits '/api/assets;id=1;id=2/annotations' into segments and matrix parameters (repeatable)."""
    # urlsplit, not urlparse: urlparse would take ";…" off the last segment as RFC 1808 params.
    url = urllib.parse.urlsplit(raw_path)
    segments, matrix = [], {}
    for part in url.path.split("/"):
        if not part:
            continue
        name, *params = part.split(";")
        segments.append(urllib.parse.unquote(name))
        for p in params:
            k, _, v = p.partition("=")
            matrix.setdefault(urllib.parse.unquote(k), []).append(urllib.parse.unquote(v))
    return segments, matrix, urllib.parse.parse_qs(url.query)


def paging(params):
    try:
        offset = int(params.get("offset", ["0"])[0])
        limit = int(params.get("limit", ["100"])[0])
    except ValueError:
        raise HttpError(400, "offset and limit must be integers")
    if offset < 0 or limit < 1:
        raise HttpError(400, "offset must be >= 0 and limit >= 1")
    if offset > MAX_OFFSET:
        raise HttpError(400, "offset is supported up to %d results" % MAX_OFFSET)
    return offset, limit


def paged(rows, plural, params, total_key="totalCount"):
    offset, limit = paging(params)
    return {total_key: len(rows), plural: rows[offset:offset + limit]}


class State:
    def __init__(self, seed_path, media_dir):
        with open(seed_path) as f:
            seed = json.load(f)
        self.media_dir = media_dir
        self.lock = threading.RLock()
        self.users = seed["_users"]
        for key in ("accounts", "workspaces", "collections", "assets", "proxies", "keyframes", "annotations", "reviews"):
            setattr(self, key, seed[key])
        for p in self.proxies:
            path = os.path.join(media_dir, p.get("_media", ""))
            if os.path.isfile(path):
                p["size"] = os.path.getsize(path)
        self.next_id = 90000
        self.rate_per_second = None
        self.recent = []
        self.faults = []
        self.stats = {"requests": 0, "rate_limited": 0, "faults_served": 0, "media_ranges": 0}

    def new_id(self):
        self.next_id += 1
        return self.next_id

    def user_for(self, header):
        # Basic authentication per user (flex.md part B §2).
        if not header or not header.startswith("Basic "):
            return None
        try:
            name, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return next((u for u in self.users if u["name"] == name and u["password"] == password), None)

    def asset(self, ident):
        a = next((a for a in self.assets if str(a["id"]) == str(ident) and not a.get("deleted")), None)
        if a is None:
            raise HttpError(404, "Asset %s not found" % ident)
        return a

    def collection(self, ident):
        c = next((c for c in self.collections if ident in (c["uuid"], str(c["id"]))), None)
        if c is None:
            raise HttpError(404, "Collection %s not found" % ident)
        return c


def annotation_view(a):
    return public(a)


def route(s, method, segments, matrix, query, body, user):
    if not segments or segments[0] != "api":
        raise HttpError(404, "Not found")
    seg = segments[1:]
    # --- accounts and workspaces -----------------------------------------------------------
    if method == "GET" and seg == ["accounts"]:
        return paged([public(a) for a in s.accounts], "accounts", matrix)
    if method == "GET" and len(seg) == 3 and seg[0] == "accounts" and seg[2] == "workspaces":
        if not any(str(a["id"]) == seg[1] for a in s.accounts):
            raise HttpError(404, "Account %s not found" % seg[1])
        rows = [public(w) for w in s.workspaces if str(w["_account"]) == seg[1]]
        return paged(rows, "workspaces", matrix)
    # --- collections ------------------------------------------------------------------------
    if method == "GET" and seg == ["collections"]:
        rows = [c for c in s.collections if c.get("_parent") is None]
        # Not documented: the filter name for a workspace's collections.
        if "workspaceId" in matrix:
            rows = [c for c in rows if str(c["_workspace"]) == matrix["workspaceId"][0]]
        return paged([public(c) for c in rows], "collections", matrix)
    if method == "GET" and len(seg) == 2 and seg[0] == "collections":
        return public(s.collection(seg[1]))
    if method == "GET" and len(seg) == 3 and seg[0] == "collections" and seg[2] == "collections":
        parent = s.collection(seg[1])
        rows = [public(c) for c in s.collections if c.get("_parent") == parent["uuid"]]
        return paged(rows, "collections", matrix)
    if method == "GET" and len(seg) == 3 and seg[0] == "collections" and seg[2] == "items":
        c = s.collection(seg[1])
        items = [dict(i, itemKey=n + 1) for n, i in enumerate(c["_items"])]
        return paged(items, "items", query, total_key="totalResults")
    # --- assets -----------------------------------------------------------------------------
    if method == "GET" and seg == ["assets"]:
        rows = [a for a in s.assets if not a.get("deleted")]
        if "id" in matrix:
            wanted = set(matrix["id"])
            rows = [a for a in rows if str(a["id"]) in wanted]
        return paged([public(a) for a in rows], "assets", matrix)
    if len(seg) == 2 and seg[0] == "assets" and seg[1] != "annotations":
        a = s.asset(seg[1])
        if method == "GET":
            return public(a)
        if method == "PUT":
            if user.get("readOnly"):
                raise HttpError(403, "You do not have permission to update this asset")
            for key in ("name", "displayName", "description"):
                if key in body:
                    a[key] = body[key]
            a["lastModified"] = now_iso()
            return public(a)
    if len(seg) == 3 and seg[0] == "assets" and seg[2] == "annotations":
        a = s.asset(seg[1])
        rows = [x for x in s.annotations if str(x["_asset"]) == str(a["id"])]
        if method == "GET":
            return paged([annotation_view(x) for x in rows], "annotations", matrix)
        if method == "POST":
            if user.get("readOnly"):
                raise HttpError(403, "You do not have permission to annotate this asset")
            many = isinstance(body, list)
            created = [create_annotation(s, a, one, user) for one in (body if many else [body])]
            a["lastModified"] = now_iso()
            return [annotation_view(x) for x in created] if many else annotation_view(created[0])
        if method == "DELETE":
            ctx, corr = body.get("originatorContext"), body.get("originatorCorrelationId")
            before = len(s.annotations)
            s.annotations = [x for x in s.annotations if not (
                str(x["_asset"]) == str(a["id"]) and x.get("originatorContext") == ctx
                and x.get("originatorCorrelationId") == corr)]
            return {"deleted": before - len(s.annotations)}
    if len(seg) == 4 and seg[0] == "assets" and seg[2] == "annotations" and method == "PUT":
        a = s.asset(seg[1])
        x = next((x for x in s.annotations if str(x["id"]) == seg[3] and str(x["_asset"]) == str(a["id"])), None)
        if x is None:
            raise HttpError(404, "Annotation %s not found" % seg[3])
        if user.get("readOnly"):
            raise HttpError(403, "You do not have permission to annotate this asset")
        if "comment" in body:
            x["comment"] = str(body["comment"])
        if "metadataAnnotation" in body:
            x["metadata"] = body["metadataAnnotation"].get("metadata")
        a["lastModified"] = now_iso()
        return annotation_view(x)
    if len(seg) == 3 and seg[0] == "assets" and seg[1] == "annotations" and method == "DELETE":
        x = next((x for x in s.annotations if str(x["id"]) == seg[2]), None)
        if x is None:
            raise HttpError(404, "Annotation %s not found" % seg[2])
        s.annotations.remove(x)
        return {}
    if method == "GET" and len(seg) == 3 and seg[0] == "assets" and seg[2] in ("proxies", "keyframes", "reviews"):
        a = s.asset(seg[1])
        table = getattr(s, seg[2])
        rows = [public(x) for x in table if str(x["_asset"]) == str(a["id"])]
        return paged(rows, seg[2], matrix)
    if len(seg) == 5 and seg[0] == "assets" and seg[2] == "reviews" and seg[4] == "actions":
        a = s.asset(seg[1])
        r = next((r for r in s.reviews if str(r["id"]) == seg[3] and str(r["_asset"]) == str(a["id"])), None)
        if r is None:
            raise HttpError(404, "Review %s not found" % seg[3])
        if method == "GET":
            return review_actions(r, user)
        if method == "POST":
            return take_action(s, a, r, body, user)
    raise HttpError(404, "Not found")


def create_annotation(s, asset, body, user):
    if not isinstance(body, dict):
        raise HttpError(400, "An annotation must be an object")
    tin, tout = body.get("timestampIn"), body.get("timestampOut")
    if not isinstance(tin, int) or tin < 0:
        raise HttpError(400, "timestampIn must be a non-negative integer (microseconds)")
    if tout is not None and (not isinstance(tout, int) or tout < tin):
        raise HttpError(400, "timestampOut must be an integer not before timestampIn")
    ctx = body.get("originatorContext", "")
    if ctx not in ORIGINATORS:
        raise HttpError(400, "originatorContext must be MioAssetReview, QCReport or empty")
    x = {"id": s.new_id(), "uuid": str(uuid.uuid4()), "_asset": asset["id"], "timestampIn": tin,
         "timestampOut": tout if tout is not None else tin, "comment": str(body.get("comment", "")),
         "originatorContext": ctx, "originatorCorrelationId": str(body.get("originatorCorrelationId", "")),
         "createdBy": {"id": user["id"], "name": user["name"], "displayName": user["displayName"]},
         "created": now_iso()}
    s.annotations.append(x)
    return x


def review_actions(r, user):
    actions = ["DOWNLOADED", "WATCHED", "APPROVE"]
    out = {"actions": actions}
    if r.get("exclusive"):
        taken = r.get("_taken_by")
        if taken is None:
            actions.append("TAKE")
        else:
            if taken == user["id"]:
                actions.append("RELEASE")
            # "the response will include an exclusiveReviewer section" while taken.
            out["exclusiveReviewer"] = {"id": taken}
    return out


def take_action(s, asset, r, body, user):
    action = body.get("action") if isinstance(body, dict) else None
    if action not in REVIEW_ACTIONS:
        # "all action values must be capitalized in the POST request"
        raise HttpError(400, "Unknown action %r; actions are capitalised: %s" % (action, ", ".join(REVIEW_ACTIONS)))
    if user.get("readOnly"):
        raise HttpError(403, "You do not have permission to act on this review")
    if action in ("TAKE", "RELEASE") and not r.get("exclusive"):
        raise HttpError(400, "TAKE and RELEASE are only for exclusive review sessions")
    if action == "TAKE":
        if r.get("_taken_by") not in (None, user["id"]):
            raise HttpError(409, "The review session is taken by another user")
        r["_taken_by"] = user["id"]
    elif action == "RELEASE":
        r["_taken_by"] = None
    elif action == "APPROVE":
        asset["approved"] = True
        asset["lastModified"] = now_iso()
        r["status"] = "Approved"
        # "If an exclusive review session is approved, this will automatically release the session"
        r["_taken_by"] = None
    return {"action": action, "status": r.get("status")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def setup(self):
        super().setup()
        # Headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, headers=None, content_type=MEDIA_TYPE):
        raw = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if raw:
            self.wfile.write(raw)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def handle_api(self, method):
        s = self.state
        raw = self.read_body()
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/__control/"):
            return self.control(method, path, raw)
        try:
            with s.lock:
                s.stats["requests"] += 1
                fault = next((f for f in s.faults if f["path_contains"] in path and f["count"] > 0), None)
                if fault is not None:
                    fault["count"] -= 1
                    s.stats["faults_served"] += 1
                    raise HttpError(fault["status"], "Injected failure")
                user = s.user_for(self.headers.get("Authorization"))
                if user is None:
                    raise HttpError(401, "Authentication required", {"WWW-Authenticate": 'Basic realm="Flex"'})
                if s.rate_per_second is not None:
                    # Not documented: Flex's rate limiting. Standard HTTP: 429 + Retry-After.
                    now = time.time()
                    s.recent = [t for t in s.recent if t > now - 1.0]
                    if len(s.recent) >= s.rate_per_second:
                        s.stats["rate_limited"] += 1
                        raise HttpError(429, "Too many requests", {"Retry-After": "1"})
                    s.recent.append(now)
                segments, matrix, query = parse_path(self.path)
                if len(segments) >= 2 and segments[:2] == ["api", "files"] and method in ("GET", "HEAD"):
                    return self.send_file(segments[2] if len(segments) > 2 else "", method == "HEAD")
                body = {}
                if method in ("POST", "PUT", "DELETE") and raw:
                    ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip()
                    if ctype not in (MEDIA_TYPE, "application/json"):
                        raise HttpError(415, "Content-Type must be %s" % MEDIA_TYPE)
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise HttpError(400, "The body is not valid JSON")
                result = route(s, method, segments, matrix, query, body, user)
            self.reply(200, result)
        except HttpError as e:
            # Not documented: Flex's error body. A JSON object with a message.
            self.reply(e.status, {"message": e.message}, e.headers)

    def send_file(self, name, head):
        s = self.state
        proxy = next((p for p in s.proxies if p["fileName"] == name), None)
        if proxy is None:
            raise HttpError(404, "File not found")
        path = os.path.join(s.media_dir, proxy["_media"])
        size = os.path.getsize(path)
        etag = '"%s-%d"' % (proxy["id"], size)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng and self.headers.get("If-Range") in (None, etag):
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or m.group(1) == m.group(2) == "":
                raise HttpError(416, "Bad range", {"Content-Range": "bytes */%d" % size})
            if m.group(1) == "":
                start = max(0, size - int(m.group(2)))
            else:
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            if start >= size or start > end:
                raise HttpError(416, "Range Not Satisfiable", {"Content-Range": "bytes */%d" % size})
            status = 206
            s.stats["media_ranges"] += 1
        self.send_response(status)
        self.send_header("Content-Type", proxy.get("mimeType", "application/octet-stream"))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(end - start + 1))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if head:
            return
        with open(path, "rb") as fh:
            fh.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = fh.read(min(65536, left))
                if not chunk:
                    break
                self.wfile.write(chunk)
                left -= len(chunk)

    def control(self, method, path, raw):
        s = self.state
        with s.lock:
            if method == "GET" and path == "/__control/stats":
                return self.reply(200, copy.deepcopy(s.stats), content_type="application/json")
            d = json.loads(raw or b"{}")
            if path == "/__control/fail":
                s.faults.append({"path_contains": d["path_contains"], "count": int(d.get("count", 1)),
                                 "status": int(d.get("status", 500))})
            elif path == "/__control/rate_limit":
                s.rate_per_second = d.get("per_second")
                s.recent = []
            else:
                return self.reply(404, {"message": "unknown control"})
        self.reply(200, {"ok": True}, content_type="application/json")

    def do_GET(self):
        self.handle_api("GET")

    def do_HEAD(self):
        self.handle_api("HEAD")

    def do_POST(self):
        self.handle_api("POST")

    def do_PUT(self):
        self.handle_api("PUT")

    def do_DELETE(self):
        self.handle_api("DELETE")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", required=True)
    ap.add_argument("--media-dir", required=True)
    ap.add_argument("--exit-with-stdin", action="store_true", help="stop when stdin closes")
    args = ap.parse_args()
    Handler.state = State(args.seed, args.media_dir)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(server.server_address[1], flush=True)
    if args.exit_with_stdin:
        # The test process holds our stdin: when it ends, even killed, the pipe closes and so do we.
        threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
