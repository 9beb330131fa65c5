#!/usr/bin/env python3
"""A document-faithful iconik test server (Python 3 stdlib only).

Follows seed 001 ("Iconikconnector v1": paths, query parameters, body field names) and iconik's
public OpenAPI specs as digested in shared/reference/platforms/iconik.md part B:
  §1 base URL host + /API/<service>/v1/...          §2 auth: simple login, token refresh (PUT)
  §3 list envelope objects/page/pages/per_page/total/next_url/scroll_id; files API per_page+last_id
  §4 assets with embedded versions; proxies with frame_rate / is_drop_frame / start_time_code
  §5 proxies with signed URLs (bypass_url_cache), download_url    §6 segments (COMMENT), drawing
  §7 approvals (N/A, REQUESTED, APPROVED, NOT_APPROVED)           §8 upload chain (GCS resumable)
  §9 errors {"errors": [...]}, 401 "Token is invalid", 403, 404; 429 + Retry-After (FIOSYNC)
  §10 search API with a date_modified range term; delete queue.
It implements nothing else. Signed media URLs expire; media is served with byte ranges.

Started by the tests: prints the chosen port on stdout, then serves until killed.
  --fixtures FILE   seed JSON (users, projects, collections, assets, proxies, segments)
  --media DIR       where the proxies' files are
  --token-ttl S     token lifetime            --url-ttl S      signed URL lifetime
  --rate N/S        at most N requests per S seconds per token, else 429 + Retry-After
  --fail M:PATH:N:CODE   answer the first N requests M PATH (prefix) with CODE
  --log FILE        one JSON line per request: method, path, status, t, violation
  --cdn-base-file F when F exists, storage links use its content as their base URL (a front)
"""
import argparse, hashlib, hmac, json, math, os, re, secrets, sys, threading, time, uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

KEY = secrets.token_bytes(16)
LOCK = threading.RLock()


def now_iso(t=None):
    t = time.time() if t is None else t
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


class State:
    def __init__(self, seed, args):
        self.args = args
        self.users = {u["id"]: u for u in seed["users"]}
        self.projects = seed["projects"]
        self.collections = {c["id"]: c for c in seed["collections"]}
        self.assets = {a["id"]: a for a in seed["assets"]}
        self.proxies = seed["proxies"]
        self.segments = {s["id"]: s for s in seed.get("segments", [])}
        self.storage = seed["storage"]
        self.tokens = {}  # token -> (user_id, expires_at)
        self.formats, self.file_sets, self.files, self.blobs = {}, {}, {}, {}
        self.partial = {}  # file id -> bytes a resumable session has persisted so far
        self.approvals = {}  # (asset, version, user) -> status
        self.deleted = []
        self.rate = {}  # token -> [times], and "blocked until" for violations
        self.blocked_until = {}
        for p in self.proxies:  # sizes of the media the tests generated
            path = os.path.join(args.media, p["file"])
            if os.path.isfile(path):
                p["size"] = os.path.getsize(path)
        self.failures = []
        for f in args.fail or []:
            m, path, n, code = f.split(":")
            self.failures.append([m, path, int(n), int(code)])


def sign(path, expires):
    return hmac.new(KEY, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "iconik-test"

    def log_message(self, *a):
        pass

    # ---- plumbing -------------------------------------------------------------------------
    def reply(self, code, body=None, headers=None, raw=None, ctype="application/json"):
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.record(code)

    def err(self, code, msg, headers=None):
        self.reply(code, {"errors": [msg]}, headers)

    def record(self, code, violation=False):
        if self.server.args.log:
            line = json.dumps({"t": time.time(), "method": self.command, "path": self.url.path,
                               "status": code, "violation": getattr(self, "violation", False)})
            with LOCK, open(self.server.args.log, "a") as f:
                f.write(line + "\n")

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def q(self, name, default=None):
        return self.query.get(name, [default])[0]

    def page(self, items):
        """Page mode (page/per_page) or scroll mode (scroll/scroll_id), with the spec's envelope."""
        per = max(1, min(int(self.q("per_page", "10")), 500))
        if self.q("scroll") == "true":
            start = int(self.q("scroll_id") or 0)
            chunk = items[start:start + per]
            return {"objects": chunk, "per_page": per, "total": len(items),
                    "scroll_id": str(start + per) if start + per < len(items) else None}
        page = int(self.q("page", "1"))
        pages = max(1, math.ceil(len(items) / per))
        if page < 1 or page > pages:
            return None
        chunk = items[(page - 1) * per: page * per]
        base = self.url.path
        return {"objects": chunk, "page": page, "pages": pages, "per_page": per, "total": len(items),
                "first_url": f"{base}?page=1&per_page={per}", "last_url": f"{base}?page={pages}&per_page={per}",
                "next_url": f"{base}?page={page + 1}&per_page={per}" if page < pages else None,
                "prev_url": f"{base}?page={page - 1}&per_page={per}" if page > 1 else None}

    def send_page(self, items):
        p = self.page(items)
        if p is None:
            return self.err(404, "Page number does not exist")
        self.reply(200, p)

    def user(self):
        """The signed-in user from App-ID + Auth-Token, or None after replying 401."""
        st = self.server.state
        token = self.headers.get("Auth-Token")
        app = self.headers.get("App-ID")
        with LOCK:
            entry = st.tokens.get(token)
        if not token or not app or not entry or entry[1] < time.time() or entry[2] != app:
            self.err(401, "Token is invalid")
            return None
        return st.users[entry[0]]

    def limited(self):
        """429 + Retry-After when a token exceeds --rate; notes requests sent while told to wait."""
        if not self.server.args.rate:
            return False
        n, window = self.server.args.rate.split("/")
        n, window = int(n), float(window)
        key = self.headers.get("Auth-Token") or self.client_address[0]
        st = self.server.state
        t = time.time()
        with LOCK:
            self.violation = st.blocked_until.get(key, 0) > t
            hits = [h for h in st.rate.get(key, []) if h > t - window]
            if len(hits) >= n:
                wait = max(1, math.ceil(hits[0] + window - t))
                st.blocked_until[key] = t + wait
                st.rate[key] = hits
                over = True
            else:
                hits.append(t)
                st.rate[key] = hits
                over = False
        if over:
            self.err(429, "Too many requests", {"Retry-After": str(wait)})
        return over

    def injected(self):
        st = self.server.state
        with LOCK:
            for f in st.failures:
                if f[0] == self.command and self.url.path.startswith(f[1]) and f[2] > 0:
                    f[2] -= 1
                    self.err(f[3], "Service temporarily unavailable")
                    return True
        return False

    def public_base(self):
        """Where storage links point: this server, or the CDN-like front the tests put before it."""
        f = self.server.args.cdn_base_file
        if f and os.path.isfile(f):
            with open(f) as fh:
                return fh.read().strip()
        return "http://" + self.headers.get("Host", "127.0.0.1")

    def signed_url(self, path):
        exp = int(time.time() + self.server.args.url_ttl)
        return f"{self.public_base()}{path}?Expires={exp}&Signature={sign(path, exp)}"

    def dispatch(self):
        self.violation = False  # one handler serves every request of a keep-alive connection
        self.url = urlparse(self.path)
        self.query = parse_qs(self.url.query)
        if self.injected():
            return
        for method, pattern, fn in ROUTES:
            if method != self.command:
                continue
            m = re.fullmatch(pattern, self.url.path)
            if m:
                if not pattern.startswith(("/storage", "/__test__")) and "/auth/simple/login/" not in pattern:
                    if self.limited():
                        return
                return fn(self, *m.groups())
        self.err(404, "Not found")

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = dispatch

    # ---- permissions ----------------------------------------------------------------------
    def can_write(self, user, collection_id):
        c = self.server.state.collections.get(collection_id) or {}
        return c.get("permissions", {}).get(user["id"], "write") == "write"

    def asset_writable(self, user, asset):
        return all(self.can_write(user, c) for c in asset.get("in_collections", []))


# ---- auth -------------------------------------------------------------------------------------
def login(h):
    st = h.server.state
    b = h.body() or {}
    u = next((u for u in st.users.values() if u["email"] == b.get("email")), None)
    if not u or u["password"] != b.get("password"):
        return h.err(401, "Email or password is incorrect")
    token, exp = secrets.token_hex(16), time.time() + h.server.args.token_ttl
    with LOCK:
        st.tokens[token] = (u["id"], exp, st.app_id)
    h.reply(201, {"app_id": st.app_id, "expires": now_iso(exp), "id": str(uuid.uuid4()), "user_id": u["id"],
                  "token": None, "system_domain_id": "sd-1",
                  "auth_system_domains": [{"system_domain_id": "sd-1", "token": token, "mfa_required": False}]})


def token_check(h):
    if h.user():
        h.reply(200, {})


def token_refresh(h):
    u = h.user()
    if not u:
        return
    st = h.server.state
    old = h.headers.get("Auth-Token")
    token, exp = secrets.token_hex(16), time.time() + h.server.args.token_ttl
    with LOCK:
        st.tokens.pop(old, None)
        st.tokens[token] = (u["id"], exp, st.app_id)
    h.reply(200, {"token": token, "expires": now_iso(exp), "app_id": st.app_id, "user_id": u["id"]})


def current_user(h):
    u = h.user()
    if u:
        h.reply(200, {k: u[k] for k in ("id", "email", "first_name", "last_name")})


# ---- browse -----------------------------------------------------------------------------------
def projects(h):
    if h.user():
        h.send_page(h.server.state.projects)


def project(h, pid):
    if not h.user():
        return
    p = next((p for p in h.server.state.projects if p["id"] == pid), None)
    h.reply(200, p) if p else h.err(404, "Project doesn't exist")


def collections(h):
    if not h.user():
        return
    items = list(h.server.state.collections.values())
    if h.q("is_root") == "true":
        items = [c for c in items if c.get("is_root")]
    h.send_page([{k: v for k, v in c.items() if k != "permissions"} for c in items])


def create_collection(h):
    """`POST /v1/collections/` (CollectionCreateSchema: `title` required, `parent_id`)."""
    u = h.user()
    if not u:
        return
    st = h.server.state
    b = h.body()
    if not b or not b.get("title"):
        return h.reply(400, {"errors": {"title": "Missing data for required field."}})
    parent = b.get("parent_id")
    if parent and parent not in st.collections:
        return h.err(404, "Collection doesn't exist")
    if parent and not h.can_write(u, parent):
        return h.err(403, "Permission denied")
    c = {"id": str(uuid.uuid4()), "title": b["title"], "parent_id": parent, "is_root": not parent,
         "status": "ACTIVE", "date_created": now_iso()}
    if parent and st.collections[parent].get("permissions"):
        c["permissions"] = dict(st.collections[parent]["permissions"])
    with LOCK:
        st.collections[c["id"]] = c
    h.reply(201, {k: v for k, v in c.items() if k != "permissions"})


def contents(h, cid):
    if not h.user():
        return
    st = h.server.state
    if cid not in st.collections:
        return h.err(404, "Collection doesn't exist")
    kinds = (h.q("object_types") or "assets,collections").split(",")
    out = []
    if "collections" in kinds:
        out += [dict({k: v for k, v in c.items() if k != "permissions"}, object_type="collections")
                for c in st.collections.values() if c.get("parent_id") == cid]
    if "assets" in kinds:
        out += [dict(a, object_type="assets") for a in st.assets.values()
                if cid in a.get("in_collections", []) and a.get("status") != "DELETED"]
    h.send_page(out)


def get_asset(h, aid):
    if not h.user():
        return
    a = h.server.state.assets.get(aid)
    h.reply(200, a) if a else h.err(404, "Asset doesn't exist")


def patch_asset(h, aid):
    u = h.user()
    if not u:
        return
    st = h.server.state
    a = st.assets.get(aid)
    if not a:
        return h.err(404, "Asset doesn't exist")
    if not h.asset_writable(u, a):
        return h.err(403, "Permission denied")
    b = h.body()
    if b is None:
        return h.err(400, "Bad request")
    with LOCK:
        for k in ("title", "status", "external_id"):
            if k in b:
                a[k] = b[k]
        a["date_modified"] = now_iso()
    h.reply(200, a)


def create_asset(h):
    u = h.user()
    if not u:
        return
    st = h.server.state
    b = h.body()
    if not b or not b.get("title"):
        return h.reply(400, {"errors": {"title": "Missing data for required field."}})
    cid = b.get("collection_id")
    if cid and cid not in st.collections:
        return h.err(404, "Collection doesn't exist")
    if cid and not h.can_write(u, cid):
        return h.err(403, "Permission denied")
    aid, vid, t = str(uuid.uuid4()), str(uuid.uuid4()), now_iso()
    a = {"id": aid, "title": b["title"], "type": b.get("type", "ASSET"), "status": b.get("status", "ACTIVE"),
         "is_online": b.get("is_online", True), "created_by_user": u["id"], "date_created": t, "date_modified": t,
         "in_collections": [cid] if cid and h.q("assign_to_collection") == "true" else [],
         "versions": [{"id": vid, "version_number": 1, "status": "ACTIVE", "date_created": t,
                       "created_by_user": u["id"]}]}
    with LOCK:
        st.assets[aid] = a
    h.reply(201, a)


def delete_queue(h):
    if h.user():
        h.send_page(h.server.state.deleted)


# ---- segments ---------------------------------------------------------------------------------
def list_segments(h, aid):
    if not h.user():
        return
    st = h.server.state
    if aid not in st.assets:
        return h.err(404, "Asset doesn't exist")
    items = [s for s in st.segments.values() if s["asset_id"] == aid]
    for key in ("segment_type", "version_id", "status"):
        if h.q(key):
            items = [s for s in items if s.get(key) == h.q(key)]
    items.sort(key=lambda s: s["date_created"])
    h.send_page(items)


def get_segment(h, aid, sid):
    if not h.user():
        return
    s = h.server.state.segments.get(sid)
    h.reply(200, s) if s and s["asset_id"] == aid else h.err(404, "Segment doesn't exist")


SEGMENT_TYPES = {"MARKER", "QC", "GENERIC", "COMMENT", "TAG", "TRANSCRIPTION", "SCENE", "PERSON"}
PRIMITIVES = {"LINE", "RECTANGLE", "ARROW", "ELLIPSE", "PENCIL", "TEXT"}
WRITABLE = ("segment_text", "segment_color", "segment_checked", "segment_track", "time_start_milliseconds",
            "time_end_milliseconds", "parent_id", "drawing", "external_id", "metadata", "status", "version_id")


def bad_drawing(d):
    if d is None:
        return None
    if not isinstance(d, dict) or not isinstance(d.get("primitives"), list):
        return "drawing: primitives required"
    for p in d["primitives"]:
        if p.get("type") not in PRIMITIVES:
            return "drawing: invalid primitive type"
        if any(not isinstance(pt.get("x"), int) or not isinstance(pt.get("y"), int) for pt in p.get("points", [])):
            return "drawing: points must be int32"
    return None


def create_segment(h, aid):
    u = h.user()
    if not u:
        return
    st = h.server.state
    a = st.assets.get(aid)
    if not a:
        return h.err(404, "Asset doesn't exist")
    if not h.asset_writable(u, a):
        return h.err(403, "Permission denied")
    b = h.body()
    if b is None:
        return h.err(400, "Bad request")
    if b.get("segment_type") not in SEGMENT_TYPES:
        return h.reply(400, {"errors": {"segment_type": "Must be one of: " + ", ".join(sorted(SEGMENT_TYPES))}})
    problem = bad_drawing(b.get("drawing"))
    if problem:
        return h.reply(400, {"errors": {"drawing": problem}})
    if b.get("parent_id") and b["parent_id"] not in st.segments:
        return h.reply(400, {"errors": {"parent_id": "Parent segment doesn't exist"}})
    t = now_iso()
    s = {k: b.get(k) for k in WRITABLE}
    s.update({"id": str(uuid.uuid4()), "asset_id": aid, "segment_type": b["segment_type"],
              "status": "ACTIVE", "segment_checked": bool(b.get("segment_checked", False)),
              "has_drawing": bool(b.get("drawing")), "top_level": not b.get("parent_id"),
              "user_id": u["id"], "user_first_name": u["first_name"], "user_last_name": u["last_name"],
              "date_created": t, "date_modified": t})
    with LOCK:
        st.segments[s["id"]] = s
    h.reply(201, s)


def patch_segment(h, aid, sid):
    u = h.user()
    if not u:
        return
    st = h.server.state
    s = st.segments.get(sid)
    if not s or s["asset_id"] != aid:
        return h.err(404, "Segment doesn't exist")
    if not h.asset_writable(u, st.assets[aid]):
        return h.err(403, "Permission denied")
    b = h.body()
    if b is None:
        return h.err(400, "Bad request")
    problem = bad_drawing(b.get("drawing"))
    if problem:
        return h.reply(400, {"errors": {"drawing": problem}})
    with LOCK:
        for k in WRITABLE:
            if k in b:
                s[k] = b[k]
        s["has_drawing"] = bool(s.get("drawing"))
        s["date_modified"] = now_iso()
    h.reply(200, s)


# ---- approvals --------------------------------------------------------------------------------
APPROVAL = {"N/A", "REQUESTED", "APPROVED", "NOT_APPROVED"}


def put_approval(h, aid):
    u = h.user()
    if not u:
        return
    st = h.server.state
    a = st.assets.get(aid)
    if not a:
        return h.err(404, "Asset doesn't exist")
    if not h.asset_writable(u, a):
        return h.err(403, "Permission denied")
    b = h.body() or {}
    if b.get("status") not in APPROVAL:
        return h.reply(400, {"errors": {"status": "Invalid approval status"}})
    vid = b.get("version_id") or a["versions"][-1]["id"]
    with LOCK:
        st.approvals[(aid, vid, u["id"])] = b["status"]
    h.reply(200, {"status": b["status"], "user": u["id"], "version_id": vid, "object_type": "assets",
                  "object_id": aid, "change_date": now_iso()})


def get_approval(h, aid, vid):
    if not h.user():
        return
    st = h.server.state
    votes = [v for (a, ver, _), v in st.approvals.items() if a == aid and ver == vid]
    status = "N/A" if not votes else (votes[0] if len(set(votes)) == 1 else "MIXED")
    h.reply(200, {"status": status, "version_id": vid, "approvals_by": [
        {"user": usr, "status": v} for (a, ver, usr), v in st.approvals.items() if a == aid and ver == vid]})


# ---- files: proxies, storage, upload chain ----------------------------------------------------
def proxy_view(h, p, signed):
    out = {k: v for k, v in p.items() if k != "file"}
    out["url"] = h.signed_url(f"/storage/proxies/{p['file']}") if signed else None
    return out


def keyset(h, items):
    per = max(1, min(int(h.q("per_page", "10")), 500))
    last = h.q("last_id")
    if last:
        ids = [i["id"] for i in items]
        items = items[ids.index(last) + 1:] if last in ids else []
    h.reply(200, {"objects": items[:per], "per_page": per})


def list_proxies(h, aid, vid=None):
    if not h.user():
        return
    st = h.server.state
    a = st.assets.get(aid)
    if not a:
        return h.err(404, "Asset doesn't exist")
    latest = a["versions"][-1]["id"] if a["versions"] else None
    if vid:
        items = [p for p in st.proxies if p["asset_id"] == aid and p["version_id"] == vid]
    elif h.q("include_all_versions") == "true":
        items = [p for p in st.proxies if p["asset_id"] == aid]
    else:
        items = [p for p in st.proxies if p["asset_id"] == aid and p["version_id"] == latest]
    signed = h.q("generate_signed_url", "true") != "false"
    keyset(h, [proxy_view(h, p, signed) for p in items])


def proxy_download_url(h, aid, pid):
    if not h.user():
        return
    p = next((p for p in h.server.state.proxies if p["id"] == pid and p["asset_id"] == aid), None)
    h.reply(200, {"url": h.signed_url(f"/storage/proxies/{p['file']}")}) if p else h.err(404, "Proxy doesn't exist")


def matching_storage(h):
    if h.user():
        h.reply(200, h.server.state.storage)


def create_format(h, aid):
    u = h.user()
    if not u:
        return
    st = h.server.state
    b = h.body() or {}
    if aid not in st.assets:
        return h.err(404, "Asset doesn't exist")
    if not b.get("name"):
        return h.reply(400, {"errors": {"name": "Missing data for required field."}})
    f = dict(b, id=str(uuid.uuid4()), asset_id=aid, status="ACTIVE")
    with LOCK:
        st.formats[f["id"]] = f
    h.reply(201, f)


def create_file_set(h, aid):
    if not h.user():
        return
    st = h.server.state
    b = h.body() or {}
    missing = [k for k in ("format_id", "base_dir", "name", "component_ids") if k not in b]
    if missing:
        return h.reply(400, {"errors": {k: "Missing data for required field." for k in missing}})
    if b["format_id"] not in st.formats:
        return h.err(404, "Format doesn't exist")
    fs = dict(b, id=str(uuid.uuid4()), asset_id=aid, status="ACTIVE")
    with LOCK:
        st.file_sets[fs["id"]] = fs
    h.reply(201, fs)


def create_file(h, aid):
    u = h.user()
    if not u:
        return
    st = h.server.state
    b = h.body() or {}
    missing = [k for k in ("original_name", "directory_path", "type") if k not in b]
    if missing:
        return h.reply(400, {"errors": {k: "Missing data for required field." for k in missing}})
    if b.get("file_set_id") not in st.file_sets:
        return h.err(404, "File set doesn't exist")
    fid = str(uuid.uuid4())
    path = f"/storage/upload/{fid}"
    f = dict(b, id=fid, asset_id=aid, status="OPEN", storage_method=st.storage["method"],
             upload_method=st.storage["method"], upload_url=h.signed_url(path), date_created=now_iso())
    with LOCK:
        st.files[fid] = f
    h.reply(201, f)


def list_files(h, aid):
    if not h.user():
        return
    keyset(h, [{k: v for k, v in f.items() if k != "upload_url"} for f in h.server.state.files.values()
               if f["asset_id"] == aid])


def patch_file(h, aid, fid):
    if not h.user():
        return
    st = h.server.state
    f = st.files.get(fid)
    if not f or f["asset_id"] != aid:
        return h.err(404, "File doesn't exist")
    b = h.body() or {}
    if b.get("status") == "CLOSED" and fid not in st.blobs:
        return h.reply(400, {"errors": {"status": "File has no data"}})
    with LOCK:
        for k in ("status", "progress_processed", "size", "checksum"):
            if k in b:
                f[k] = b[k]
        st.assets[aid]["date_modified"] = now_iso()
    h.reply(200, {k: v for k, v in f.items() if k != "upload_url"})


def file_download_url(h, aid, fid):
    if not h.user():
        return
    f = h.server.state.files.get(fid)
    if not f or f.get("status") != "CLOSED":
        return h.err(404, "File doesn't exist")
    h.reply(200, {"url": h.signed_url(f"/storage/blobs/{fid}")})


def transcode(h, aid, fid):
    if not h.user():
        return
    f = h.server.state.files.get(fid)
    if not f or f.get("status") != "CLOSED":
        return h.err(404, "File doesn't exist")
    h.reply(201, {"job_id": str(uuid.uuid4())})


# ---- search -----------------------------------------------------------------------------------
def search(h):
    if not h.user():
        return
    b = h.body()
    if b is None or "doc_types" not in b:
        return h.reply(400, {"errors": {"doc_types": "Missing data for required field."}})
    items = [a for a in h.server.state.assets.values() if a.get("status") != "DELETED"]
    for term in (b.get("filter") or {}).get("terms", []):
        name = term.get("name")
        if "range" in term:
            lo, hi = term["range"].get("min"), term["range"].get("max")
            items = [a for a in items if a.get(name) and (lo is None or parse_iso(a[name]) >= parse_iso(lo))
                     and (hi is None or parse_iso(a[name]) <= parse_iso(hi))]
        elif "value" in term:
            items = [a for a in items if term["value"] == a.get(name) or
                     (isinstance(a.get(name), list) and term["value"] in a[name])]
    for s in reversed(b.get("sort") or []):
        items.sort(key=lambda a: a.get(s["name"]) or "", reverse=s.get("order") == "desc")
    h.send_page(items)


# ---- storage (signed URLs, byte ranges, GCS-style resumable upload) ---------------------------
def check_signature(h):
    exp, sig = h.q("Expires"), h.q("Signature")
    if not exp or not sig or not hmac.compare_digest(sig, sign(h.url.path, int(exp))):
        h.reply(403, raw=b"<Error><Code>SignatureDoesNotMatch</Code></Error>", ctype="application/xml")
        return False
    if int(exp) < time.time():
        h.reply(403, raw=b"<Error><Code>ExpiredToken</Code></Error>", ctype="application/xml")
        return False
    return True


def serve_bytes(h, data, etag):
    rng = h.headers.get("Range")
    headers = {"Accept-Ranges": "bytes", "ETag": etag}
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng or "")
    if not m:
        return h.reply(200, raw=data, headers=headers, ctype="video/mp4")
    if h.headers.get("If-Range") and h.headers.get("If-Range") != etag:
        return h.reply(200, raw=data, headers=headers, ctype="video/mp4")
    start = int(m.group(1)) if m.group(1) else max(0, len(data) - int(m.group(2)))
    end = int(m.group(2)) if m.group(1) and m.group(2) else len(data) - 1
    if start >= len(data):
        return h.reply(416, raw=b"", headers={"Content-Range": f"bytes */{len(data)}"})
    end = min(end, len(data) - 1)
    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    h.reply(206, raw=data[start:end + 1], headers=headers, ctype="video/mp4")


def proxy_bytes(h, name):
    if not check_signature(h):
        return
    path = os.path.join(h.server.args.media, os.path.basename(name))
    if not os.path.isfile(path):
        return h.reply(404, raw=b"", ctype="application/xml")
    with open(path, "rb") as f:
        data = f.read()
    serve_bytes(h, data, '"' + hashlib.md5(data).hexdigest() + '"')


def blob_bytes(h, fid):
    if not check_signature(h):
        return
    data = h.server.state.blobs.get(fid)
    if data is None:
        return h.reply(404, raw=b"", ctype="application/xml")
    serve_bytes(h, data, '"' + hashlib.md5(data).hexdigest() + '"')


def upload_start(h, fid):
    if not check_signature(h):
        return
    if h.headers.get("x-goog-resumable") != "start":
        return h.reply(400, raw=b"<Error><Code>InvalidArgument</Code></Error>", ctype="application/xml")
    h.body()
    session = secrets.token_hex(8)
    h.server.state.files[fid]["session"] = session
    h.reply(201, raw=b"", headers={"Location": f"{h.public_base()}/storage/session/{fid}?upload_id={session}"})


def upload_put(h, fid):
    """A GCS resumable-upload session (cloud.google.com/storage/docs/performing-resumable-uploads):
    `Content-Range: bytes */SIZE` with an empty body asks the status (308 with `Range: bytes=0-N`
    for what is persisted, no `Range` when nothing is; 200 once complete); `bytes S-E/SIZE` sends
    from S, which must be at or before what is persisted; no `Content-Range` sends the whole
    object. Bytes are persisted as they arrive, so an upload cut mid-body keeps what reached us."""
    st = h.server.state
    f = st.files.get(fid)
    if not f or f.get("session") != h.q("upload_id"):
        return h.reply(404, raw=b"", ctype="application/xml")
    if f.get("session_dead"):
        return h.reply(410, raw=b"", ctype="application/xml")
    cr = h.headers.get("Content-Range")
    # A status query has no body; the tests' fault proxy forwards an empty body without
    # `Content-Length: 0`, so only a request with a body must state its length.
    if "Content-Length" not in h.headers and not (cr or "").startswith("bytes */"):
        return h.reply(411, raw=b"", ctype="application/xml")
    n = int(h.headers.get("Content-Length") or 0)
    with LOCK:
        held = st.partial.setdefault(fid, bytearray())
        if fid in st.blobs:
            done = True
        else:
            done = False
    if done:
        h.rfile.read(n)
        return h.reply(200, {"name": f["original_name"], "size": str(len(st.blobs[fid]))})
    if cr is None:
        start, total = 0, n
    else:
        m = re.fullmatch(r"bytes (\*|(\d+)-(\d+))/(\d+|\*)", cr.strip())
        if not m:
            return h.reply(400, raw=b"<Error><Code>InvalidArgument</Code></Error>", ctype="application/xml")
        total = int(m.group(4)) if m.group(4) != "*" else None
        if m.group(1) == "*":
            h.rfile.read(n)
            with LOCK:
                have = len(held)
                if total is not None and have == total:
                    return complete_blob(h, f, fid)
            return h.reply(308, raw=b"", headers={"Range": f"bytes=0-{have - 1}"} if have else {})
        start, end = int(m.group(2)), int(m.group(3))
        if end - start + 1 != n:
            return h.reply(400, raw=b"<Error><Code>InvalidArgument</Code></Error>", ctype="application/xml")
    with LOCK:
        if start > len(held):
            h.rfile.read(n)
            return h.reply(400, raw=b"<Error><Code>InvalidRange</Code></Error>", ctype="application/xml")
        del held[start:]
        f["writer"] = writer = f.get("writer", 0) + 1
        f["puts"] = f.get("puts", 0) + 1
    left = n
    while left > 0:
        chunk = h.rfile.read(min(65536, left))
        if not chunk:
            break
        with LOCK:
            if f["writer"] != writer:  # a newer PUT took over the session
                return
            held.extend(chunk)
            f["bytes_received"] = f.get("bytes_received", 0) + len(chunk)
        left -= len(chunk)
    if left > 0:
        h.close_connection = True
        return  # the client hung up; what arrived stays persisted
    with LOCK:
        have = len(held)
        if total is not None and have >= total:
            return complete_blob(h, f, fid)
    h.reply(308, raw=b"", headers={"Range": f"bytes=0-{have - 1}"} if have else {})


def complete_blob(h, f, fid):
    st = h.server.state
    with LOCK:
        data = bytes(st.partial[fid])
        st.blobs[fid] = data
        f["size"] = len(data)
    h.reply(200, {"name": f["original_name"], "size": str(len(data))})


def delete_file(h, aid, fid):
    if not h.user():
        return
    st = h.server.state
    f = st.files.get(fid)
    if not f or f["asset_id"] != aid:
        return h.err(404, "File doesn't exist")
    with LOCK:
        del st.files[fid]
        st.blobs.pop(fid, None)
    h.reply(204, raw=b"")


# ---- TEST-ONLY introspection and controls (not part of iconik) --------------------------------
def test_uploads(h):
    st = h.server.state
    with LOCK:
        files = [{"id": f["id"], "asset_id": f["asset_id"], "original_name": f.get("original_name"),
                  "status": f.get("status"), "complete": f["id"] in st.blobs,
                  "persisted": len(st.partial.get(f["id"], b"")), "bytes_received": f.get("bytes_received", 0),
                  "puts": f.get("puts", 0)}
                 for f in st.files.values()]
        assets = [{"id": a["id"], "title": a.get("title")} for a in st.assets.values()]
    h.reply(200, {"files": files, "assets": assets})


def test_blob(h, fid):
    data = h.server.state.blobs.get(fid)
    if data is None:
        return h.reply(404, raw=b"")
    h.reply(200, raw=data, ctype="application/octet-stream")


def test_kill_sessions(h):
    """Every open resumable session answers 410 Gone from now on (sessions expire after a week)."""
    st = h.server.state
    with LOCK:
        for f in st.files.values():
            if f.get("session") and f["id"] not in st.blobs:
                f["session_dead"] = True
    h.reply(200, {})


A, F = "/API/assets/v1", "/API/files/v1"
ID = r"([0-9A-Za-z_-]+)"
ROUTES = [
    ("POST", r"/API/auth/v1/auth/simple/login/", login),
    ("GET", r"/API/auth/v1/auth/token/", token_check),
    ("PUT", r"/API/auth/v1/auth/token/", token_refresh),
    ("GET", r"/API/users/v1/users/current/", current_user),
    ("GET", A + r"/projects/", projects),
    ("GET", A + rf"/projects/{ID}/", project),
    ("GET", A + r"/collections/", collections),
    ("POST", A + r"/collections/", create_collection),
    ("GET", A + rf"/collections/{ID}/contents/", contents),
    ("POST", A + r"/assets/", create_asset),
    ("GET", A + rf"/assets/{ID}/", get_asset),
    ("PATCH", A + rf"/assets/{ID}/", patch_asset),
    ("GET", A + r"/delete_queue/assets/", delete_queue),
    ("GET", A + rf"/assets/{ID}/segments/", list_segments),
    ("POST", A + rf"/assets/{ID}/segments/", create_segment),
    ("GET", A + rf"/assets/{ID}/segments/{ID}/", get_segment),
    ("PATCH", A + rf"/assets/{ID}/segments/{ID}/", patch_segment),
    ("PUT", A + rf"/assets/{ID}/approvals/", put_approval),
    ("GET", A + rf"/assets/{ID}/versions/{ID}/approvals/", get_approval),
    ("GET", F + rf"/assets/{ID}/proxies/", list_proxies),
    ("GET", F + rf"/assets/{ID}/versions/{ID}/proxies/", list_proxies),
    ("GET", F + rf"/assets/{ID}/proxies/{ID}/download_url/", proxy_download_url),
    ("GET", F + r"/storages/matching/FILES/", matching_storage),
    ("POST", F + rf"/assets/{ID}/formats/", create_format),
    ("POST", F + rf"/assets/{ID}/file_sets/", create_file_set),
    ("POST", F + rf"/assets/{ID}/files/", create_file),
    ("GET", F + rf"/assets/{ID}/files/", list_files),
    ("PATCH", F + rf"/assets/{ID}/files/{ID}/", patch_file),
    ("DELETE", F + rf"/assets/{ID}/files/{ID}/", delete_file),
    ("GET", F + rf"/assets/{ID}/files/{ID}/download_url/", file_download_url),
    ("POST", F + rf"/assets/{ID}/files/{ID}/keyframes/", transcode),
    ("POST", r"/API/search/v1/search/", search),
    ("GET", r"/storage/proxies/([^/]+)", proxy_bytes),
    ("HEAD", r"/storage/proxies/([^/]+)", proxy_bytes),
    ("GET", rf"/storage/blobs/{ID}", blob_bytes),
    ("POST", rf"/storage/upload/{ID}", upload_start),
    ("PUT", rf"/storage/session/{ID}", upload_put),
    ("GET", r"/__test__/uploads", test_uploads),
    ("GET", rf"/__test__/blob/{ID}", test_blob),
    ("POST", r"/__test__/kill_sessions", test_kill_sessions),
]


class Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # Clients that hang up mid-answer (the fault proxy cuts bodies on purpose) are normal here.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--fixtures", required=True)
    ap.add_argument("--media", required=True)
    ap.add_argument("--token-ttl", type=float, default=3600)
    ap.add_argument("--url-ttl", type=float, default=3600)
    ap.add_argument("--rate")
    ap.add_argument("--fail", action="append")
    ap.add_argument("--log")
    ap.add_argument("--cdn-base-file")
    args = ap.parse_args()
    with open(args.fixtures) as f:
        seed = json.load(f)
    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.args = args
    server.state = State(seed, args)
    server.state.app_id = seed.get("app_id", "app-framenote")
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
