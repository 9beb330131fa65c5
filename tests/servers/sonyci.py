#!/usr/bin/env python3
"""A document-faithful Sony Ci Media Cloud test server (Python 3 stdlib only).

Follows seed 003 (Ci API reference, truncated after MediaBoxes):
  intro: JSON bodies, "All POST and PUT requests must include the Content-Length header"
  Errors: {"code", "message"} with 400/401/403/404/409/5xx      Rate Limiting: X-RateLimit-Limit,
  X-RateLimit-Remaining, X-RateLimit-Reset (epoch s), Retry-After on every response; 429 beyond
  Authentication: POST /oauth2/token (password grant with Basic user credentials; refresh_token grant
  returning a new refresh token; OAuth errors {"error", "error_description"})
  Workspaces: GET /workspaces, GET /workspaces/{id} (rootFolderId), limit/offset/count/items envelope
  Folders: GET /folders/{id}, GET /folders/{id}/contents?kind=, POST /folders/
  List Events: POST /events {workspaceId, since, type, limit<=50, offset, orderDirection}
and, where the seed is cut off, shared/reference/platforms/ci.md part B:
  §3 GET /assets/{id} (proxies[] with CloudFront-style signed `location`, technicalMetadata)
  §5 GET /assets/{id}/download   §6 uploads on the upload host: POST /upload (multipart/form-data:
  `metadata` JSON + `file`), POST /upload/multipart, PUT /upload/multipart/{assetId}/{n},
  POST /upload/multipart/{assetId}/complete   §8 POST /assets/{id}/metadata
It implements nothing else. Signed URLs expire (403 from the "CDN"); media is served with ranges.

Started by the tests: prints the chosen port on stdout, then serves until killed.
  --fixtures FILE  --media DIR  --token-ttl S  --url-ttl S  --rate N/S  --log FILE
  --cdn-base-file F   when F exists, signed links use its content as their base URL
  --fail M:PATH:N:CODE  answer the first N requests M PATH (prefix) with CODE
Test-only routes (not Ci): GET /__test__/uploads (what the upload host holds and received),
POST /__test__/damage_next_upload {"count": N} (the next N finished uploads are stored with one
byte damaged, so their md5Checksum — always computed over what is stored — differs).
"""
import argparse, base64, hashlib, hmac, json, math, os, re, secrets, sys, threading, time, uuid
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

KEY = secrets.token_bytes(16)
LOCK = threading.RLock()
REFRESH_TTL = 14 * 86400


def now_iso(t=None):
    t = time.time() if t is None else t
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def sign(path, expires):
    return hmac.new(KEY, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()


class State:
    def __init__(self, seed, args):
        self.client = seed["client"]
        self.users = {u["id"]: u for u in seed["users"]}
        self.workspaces = {w["id"]: w for w in seed["workspaces"]}
        self.folders = {f["id"]: f for f in seed["folders"]}
        self.assets = {a["id"]: a for a in seed["assets"]}
        self.events = list(seed.get("events", []))
        self.access = {}   # token -> (user, expires)
        self.refresh = {}  # token -> [user, expires, revoked]
        self.parts = {}    # assetId -> {n: bytes}
        self.blobs = {}    # assetId -> bytes (uploaded originals)
        self.received = [] # TEST-ONLY record of every part PUT: (assetId, n, bytes)
        self.damage_next = 0  # TEST-ONLY: uploads still to store with one byte damaged
        self.window = [0.0, 0]  # start, count
        self.blocked_until = 0.0
        self.failures = [[m, p, int(n), int(c)] for m, p, n, c in (f.split(":") for f in args.fail or [])]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ci-test"

    def log_message(self, *a):
        pass

    # ---- plumbing -------------------------------------------------------------------------
    def rate_headers(self):
        a = self.server.args
        limit, window = (a.rate.split("/") if a.rate else ("5000", "300"))
        start, count = self.server.state.window
        reset = math.ceil(start + float(window))
        return {"X-RateLimit-Limit": limit, "X-RateLimit-Remaining": str(max(0, int(limit) - count)),
                "X-RateLimit-Reset": str(reset), "Retry-After": str(max(0, reset - int(time.time())))}

    def reply(self, code, body=None, headers=None, raw=None, ctype="application/json; charset=utf-8"):
        data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        hs = {} if self.url.path.startswith("/cdn/") else self.rate_headers()
        hs.update(headers or {})
        for k, v in hs.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        if self.server.args.log:
            with LOCK, open(self.server.args.log, "a") as f:
                f.write(json.dumps({"t": time.time(), "method": self.command, "path": self.url.path,
                                    "status": code, "violation": self.violation}) + "\n")

    def err(self, status, code, message, headers=None):
        self.reply(status, {"code": code, "message": message}, headers)

    def q(self, name, default=None):
        return self.query.get(name, [default])[0]

    def read_body(self):
        if self.command in ("POST", "PUT") and "Content-Length" not in self.headers:
            self.err(411, "InvalidRequest", "All POST and PUT requests must include the Content-Length header.")
            return None
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def json_body(self):
        raw = self.read_body()
        if raw is None:
            return None
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            self.err(400, "InvalidRequest", "Invalid request. Check the request body format and verify the "
                                            "right Content-Type header value is being sent.")
            return None

    def user(self):
        st = self.server.state
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        with LOCK:
            entry = st.access.get(token)
        if not entry or entry[1] < time.time():
            self.err(401, "Unauthorized", "The authentication process failed, or the access token is not valid.")
            return None
        return st.users[entry[0]]

    def limited(self):
        a = self.server.args
        if not a.rate:
            return False
        limit, window = a.rate.split("/")
        limit, window = int(limit), float(window)
        st = self.server.state
        t = time.time()
        with LOCK:
            self.violation = st.blocked_until > t
            if t >= st.window[0] + window:
                st.window = [t, 0]
            if st.window[1] >= limit:
                reset = math.ceil(st.window[0] + window)
                st.blocked_until = reset
                over = True
            else:
                st.window[1] += 1
                over = False
        if over:
            self.err(429, "TooManyRequests", "Too many requests.")
        return over

    def page(self, items, max_limit):
        try:
            limit, offset = int(self.q("limit", "50")), int(self.q("offset", "0"))
        except ValueError:
            limit, offset = -1, -1
        if not 1 <= limit <= max_limit or offset < 0:
            self.err(400, "InvalidLimitOrOffset", f"Invalid limit or offset value. Limit must be a number between "
                                                  f"1 and {max_limit}. Offset must be greater than or equal to 0.")
            return None
        return {"limit": limit, "offset": offset, "count": len(items),
                "order": {"by": "Name", "direction": "asc"}, "items": items[offset:offset + limit]}

    def public_base(self):
        f = self.server.args.cdn_base_file
        if f and os.path.isfile(f):
            with open(f) as fh:
                return fh.read().strip()
        return "http://" + self.headers.get("Host", "127.0.0.1")

    def signed(self, path, et):
        exp = int(time.time() + self.server.args.url_ttl)
        return f"{self.public_base()}{path}?Expires={exp}&Signature={sign(path, exp)}&Key-Pair-Id=K2TEST&et={et}"

    def dispatch(self):
        self.violation = False  # one handler serves every request of a keep-alive connection
        self.url = urlparse(self.path)
        self.query = parse_qs(self.url.query)
        st = self.server.state
        with LOCK:
            for f in st.failures:
                if f[0] == self.command and self.url.path.startswith(f[1]) and f[2] > 0:
                    f[2] -= 1
                    return self.err(f[3], "ServiceUnavailable", "API is temporarily offline for maintenance.")
        for method, pattern, fn in ROUTES:
            m = re.fullmatch(pattern, self.url.path)
            if method == self.command and m:
                if not pattern.startswith("/cdn/") and self.limited():
                    return
                return fn(self, *m.groups())
        self.err(404 if not any(re.fullmatch(p, self.url.path) for _, p, _ in ROUTES) else 405,
                 "NotFound", "The specified resource could not be found.")

    do_GET = do_POST = do_PUT = do_HEAD = dispatch

    # ---- views ----------------------------------------------------------------------------
    def can_write(self, user, workspace_id):
        return self.server.state.workspaces[workspace_id].get("permissions", {}).get(user["id"], "write") == "write"

    def folder_view(self, f):
        st = self.server.state
        w = st.workspaces[f["workspaceId"]]
        out = {"id": f["id"], "name": f["name"], "createdOn": f.get("createdOn"), "parentId": f["parentId"],
               "workspace": {"id": w["id"], "name": w["name"], "class": w["class"]}, "isTrashed": False,
               "stats": {"childFolderCount": sum(1 for g in st.folders.values() if g["parentId"] == f["id"])},
               "kind": "Folder"}
        parent = st.folders.get(f["parentId"])
        if parent:
            out["parentFolder"] = {"id": parent["id"], "name": parent["name"]}
        return out

    def asset_view(self, a):
        st = self.server.state
        w = st.workspaces[a["workspaceId"]]
        f = st.folders[a["folderId"]]
        out = {k: v for k, v in a.items() if k not in ("workspaceId", "folderId", "renditions", "file")}
        out.update({"folder": {"id": f["id"], "name": f["name"]},
                    "workspace": {"id": w["id"], "name": w["name"], "class": w["class"]}, "kind": "Asset",
                    "proxies": [dict({k: v for k, v in r.items() if k != "file"},
                                     location=self.signed(f"/cdn/{a['id']}/renditions/{r['file']}", "stream"),
                                     isExternal=False)
                                for r in a.get("renditions", [])]})
        return out


def sizes(state, media):
    for a in state.assets.values():
        for r in a.get("renditions", []):
            path = os.path.join(media, r["file"])
            if os.path.isfile(path):
                r["size"] = os.path.getsize(path)


def event(st, kind, user, assets=(), folders=(), workspace=None):
    w = st.workspaces[workspace]
    with LOCK:
        st.events.append({"id": secrets.token_hex(8), "createdOn": now_iso(), "type": kind,
                          "createdBy": {"id": user["id"], "name": user["name"], "email": user["email"]},
                          "assets": [{"id": a["id"], "name": a["name"]} for a in assets],
                          "folders": [{"id": f["id"], "name": f["name"]} for f in folders],
                          "spaces": [{"id": w["id"], "name": w["name"]}], "workspaceId": workspace})


# ---- auth -------------------------------------------------------------------------------------
def oauth_error(h, status, error, description):
    h.reply(status, {"error": error, "error_description": description})


def token(h):
    st = h.server.state
    raw = h.read_body()
    if raw is None:
        return
    ctype = h.headers.get("Content-Type", "")
    try:
        if "x-www-form-urlencoded" in ctype:  # public clients send forms; the seed shows JSON
            body = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        else:
            body = json.loads(raw or b"{}")
    except ValueError:
        return oauth_error(h, 400, "invalid_request", "Invalid request body")
    grant = body.get("grant_type")
    if not grant:
        return oauth_error(h, 400, "invalid_request", "Parameter grant_type is required")
    if body.get("client_id") != st.client["id"] or body.get("client_secret") != st.client["secret"]:
        return oauth_error(h, 401, "invalid_client", "Invalid client id and client secret combination.")
    if grant == "password":
        auth = h.headers.get("Authorization", "")
        try:
            name, _, password = base64.b64decode(auth[6:]).decode().partition(":") if auth.startswith("Basic ") else ("", "", "")
        except ValueError:
            name, password = "", ""
        u = next((u for u in st.users.values() if u["email"] == name and u["password"] == password), None)
        if not u:
            return oauth_error(h, 401, "invalid_client", "Invalid username and password combination.")
    elif grant == "refresh_token":
        with LOCK:
            entry = st.refresh.get(body.get("refresh_token"))
        if not entry:
            return oauth_error(h, 400, "invalid_request", "Refresh token not found.")
        if entry[2]:
            return oauth_error(h, 400, "invalid_request", "Refresh token has been revoked.")
        if entry[1] < time.time():
            return oauth_error(h, 400, "invalid_request", "Refresh token has expired.")
        entry[2] = True  # rotated: the old one is spent
        u = st.users[entry[0]]
    else:
        return oauth_error(h, 400, "unsupported_grant_type", "The grant type is not supported.")
    access, refresh = secrets.token_hex(12), secrets.token_hex(12)
    ttl = int(h.server.args.token_ttl)
    with LOCK:
        st.access[access] = (u["id"], time.time() + ttl)
        st.refresh[refresh] = [u["id"], time.time() + REFRESH_TTL, False]
    h.reply(200, {"access_token": access, "expires_in": ttl, "token_type": "bearer", "refresh_token": refresh})


# ---- browse -----------------------------------------------------------------------------------
def workspaces(h):
    u = h.user()
    if not u:
        return
    items = [{k: v for k, v in w.items() if k not in ("permissions", "rootFolderId")}
             for w in h.server.state.workspaces.values() if u["id"] in w["members"]]
    p = h.page(sorted(items, key=lambda w: w["name"]), 500)
    if p:
        h.reply(200, p)


def workspace(h, wid):
    u = h.user()
    if not u:
        return
    w = h.server.state.workspaces.get(wid)
    if not w or u["id"] not in w["members"]:
        return h.err(404, "WorkspaceNotFound", "Workspace not found.")
    h.reply(200, {k: v for k, v in w.items() if k != "permissions"})


def folder(h, fid):
    if not h.user():
        return
    f = h.server.state.folders.get(fid)
    h.reply(200, h.folder_view(f)) if f else h.err(404, "FolderNotFound", "Folder not found.")


def listing(h, items):
    kind = (h.q("kind") or "all").lower()
    if kind not in ("all", "folder", "asset"):
        return h.err(400, "InvalidQueryKindFilter", "Invalid kind filter. It must be either 'All', 'Asset' or 'Folder'.")
    folders = sorted([h.folder_view(f) for f in items if "parentId" in f], key=lambda f: f["name"])
    assets = sorted([h.asset_view(a) for a in items if "folderId" in a], key=lambda a: a["name"])
    out = (folders if kind in ("all", "folder") else []) + (assets if kind in ("all", "asset") else [])
    p = h.page(out, 100)
    if p:
        p["kind"] = [kind.capitalize()]
        h.reply(200, p)


def folder_contents(h, fid):
    if not h.user():
        return
    st = h.server.state
    if fid not in st.folders:
        return h.err(404, "FolderNotFound", "Folder not found.")
    items = [f for f in st.folders.values() if f["parentId"] == fid] + \
            [a for a in st.assets.values() if a["folderId"] == fid and a["status"] != "Deleted"]
    listing(h, items)


def workspace_contents(h, wid):
    if not h.user():
        return
    st = h.server.state
    if wid not in st.workspaces:
        return h.err(404, "WorkspaceNotFound", "Workspace not found.")
    root = st.workspaces[wid]["rootFolderId"]
    items = [f for f in st.folders.values() if f["workspaceId"] == wid and f["id"] != root] + \
            [a for a in st.assets.values() if a["workspaceId"] == wid and a["status"] != "Deleted"]
    listing(h, items)


def create_folder(h):
    u = h.user()
    if not u:
        return
    st = h.server.state
    b = h.json_body()
    if b is None:
        return
    if not b.get("name"):
        return h.err(400, "MissingOrInvalidName", "Missing or invalid name.")
    wid = b.get("workspaceId")
    if wid not in st.workspaces:
        return h.err(400, "WorkspaceNotFound", "Workspace not found.")
    if not h.can_write(u, wid):
        return h.err(403, "InsufficientPermissions", "Insufficient permissions.")
    parent = b.get("parentFolderId") or st.workspaces[wid]["rootFolderId"]
    if parent not in st.folders:
        return h.err(400, "FolderNotFound", "Folder not found.")
    f = {"id": secrets.token_hex(8), "name": b["name"], "parentId": parent, "workspaceId": wid, "createdOn": now_iso()}
    with LOCK:
        st.folders[f["id"]] = f
    event(st, "CreateFolder", u, folders=[f], workspace=wid)
    h.reply(201, {"folderId": f["id"], "parentId": parent, "workspaceId": wid, "name": f["name"]})


# ---- assets -----------------------------------------------------------------------------------
def asset(h, aid):
    if not h.user():
        return
    a = h.server.state.assets.get(aid)
    h.reply(200, h.asset_view(a)) if a else h.err(404, "AssetNotFound", "Asset not found.")


def download(h, aid):
    if not h.user():
        return
    a = h.server.state.assets.get(aid)
    if not a:
        return h.err(404, "AssetNotFound", "Asset not found.")
    h.reply(200, {"id": aid, "size": a.get("size"), "location": h.signed(f"/cdn/{aid}/original", "download"),
                  "proxies": h.asset_view(a)["proxies"]})


def asset_metadata(h, aid):
    u = h.user()
    if not u:
        return
    st = h.server.state
    a = st.assets.get(aid)
    if not a:
        return h.err(404, "AssetNotFound", "Asset not found.")
    if not h.can_write(u, a["workspaceId"]):
        return h.err(403, "InsufficientPermissions", "Insufficient permissions.")
    b = h.json_body()
    if b is None:
        return
    with LOCK:
        for m in b.get("metadata", []):
            a.setdefault("metadata", [])
            a["metadata"] = [x for x in a["metadata"] if x["name"] != m["name"]] + [dict(m, readOnly=False)]
        a["modifiedOn"] = now_iso()
    event(st, "AssetMetadataChange", u, assets=[a], workspace=a["workspaceId"])
    h.reply(200, {"message": "Metadata was updated."})


def events(h):
    u = h.user()
    if not u:
        return
    st = h.server.state
    b = h.json_body()
    if b is None:
        return
    wid = b.get("workspaceId")
    if wid not in st.workspaces or u["id"] not in st.workspaces[wid]["members"]:
        return h.err(404, "WorkspaceNotFound", "Workspace not found.")
    limit, offset = b.get("limit", 50), b.get("offset", 0)
    if not isinstance(limit, int) or not 1 <= limit <= 50 or not isinstance(offset, int) or offset < 0:
        return h.err(400, "InvalidLimitOrOffset", "Invalid limit or offset value. Limit must be a number between "
                                                  "1 and 50. Offset must be greater than or equal to 0.")
    direction = (b.get("orderDirection") or "desc").lower()
    if direction not in ("asc", "desc"):
        return h.err(400, "InvalidQueryOrderDirection", "Invalid order direction. It must be either 'Asc' or 'Desc'.")
    items = [e for e in st.events if e["workspaceId"] == wid]
    if b.get("since"):
        try:
            since = parse_iso(b["since"])
        except ValueError:
            return h.err(400, "InvalidQueryFilter", "Invalid query filter.")
        items = [e for e in items if parse_iso(e["createdOn"]) >= since]
    if b.get("type"):
        items = [e for e in items if e["type"] in b["type"]]
    items.sort(key=lambda e: e["createdOn"], reverse=direction == "desc")
    out = {"limit": limit, "offset": offset, "count": len(items), "order": {"by": "CreatedOn", "direction": direction},
           "filter": {k: b[k] for k in ("type", "since") if b.get(k)},
           "items": [{k: v for k, v in e.items() if k != "workspaceId"} for e in items[offset:offset + limit]]}
    h.reply(200, out)


# ---- uploads (the upload host) ----------------------------------------------------------------
def new_asset(st, u, name, size, wid, fid, transfer):
    t = now_iso()
    a = {"id": secrets.token_hex(8), "name": name, "size": size, "type": "Video", "format": name.rsplit(".", 1)[-1],
         "status": "Uploading", "workspaceId": wid, "folderId": fid, "createdOn": t, "modifiedOn": t,
         "createdBy": {"id": u["id"], "name": u["name"], "email": u["email"]}, "uploadTransferType": transfer,
         "isTrashed": False, "renditions": [], "metadata": []}
    with LOCK:
        st.assets[a["id"]] = a
    event(st, "CreateAsset", u, assets=[a], workspace=wid)
    return a


def finish_upload(st, u, a, data):
    with LOCK:
        if st.damage_next > 0:
            # TEST-ONLY: the stored copy is not what arrived (a storage fault); Ci's md5Checksum,
            # computed over what it holds, then differs from the client's file.
            st.damage_next -= 1
            data = (bytes([data[0] ^ 0xFF]) + data[1:]) if data else b"\x00"
        st.blobs[a["id"]] = data
        a.update(status="Complete", size=len(data), md5Checksum=hashlib.md5(data).hexdigest(),
                 uploadCompleteDate=now_iso(), modifiedOn=now_iso())
    event(st, "UploadAsset", u, assets=[a], workspace=a["workspaceId"])


def target_of(h, u, meta):
    st = h.server.state
    wid, fid = meta.get("workspaceId"), meta.get("folderId")
    if wid not in st.workspaces:
        h.err(400, "WorkspaceNotFound", "Workspace not found.")
        return None
    fid = fid or st.workspaces[wid]["rootFolderId"]
    if fid not in st.folders:
        h.err(400, "FolderNotFound", "Folder not found.")
        return None
    if st.folders[fid]["workspaceId"] != wid:
        h.err(400, "FolderNotMemberOfWorkspace", "Folder is not a member of the provided workspace.")
        return None
    if not h.can_write(u, wid):
        h.err(403, "InsufficientPermissions", "Insufficient permissions.")
        return None
    return wid, fid


def upload_single(h):
    u = h.user()
    if not u:
        return
    raw = h.read_body()
    if raw is None:
        return
    ctype = h.headers.get("Content-Type", "")
    if not ctype.startswith("multipart/form-data"):
        return h.err(400, "InvalidRequest", "Invalid request. Expected multipart/form-data.")
    msg = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + raw)
    fields, file_part = {}, None
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            file_part = part
        elif name:
            fields[name] = part.get_content()
    try:
        meta = json.loads(fields.get("metadata") or "{}")
    except ValueError:
        return h.err(400, "InvalidRequest", "Invalid metadata.")
    if file_part is None:
        return h.err(400, "InvalidRequest", "Missing file.")
    where = target_of(h, u, meta)
    if not where:
        return
    data = file_part.get_payload(decode=True) or b""
    a = new_asset(h.server.state, u, file_part.get_filename(), len(data), where[0], where[1], "SinglepartHttp")
    finish_upload(h.server.state, u, a, data)
    h.reply(201, {"assetId": a["id"]})


def multipart_start(h):
    u = h.user()
    if not u:
        return
    b = h.json_body()
    if b is None:
        return
    if not b.get("name") or not isinstance(b.get("size"), int):
        return h.err(400, "InvalidRequest", "Invalid request. name and size are required.")
    where = target_of(h, u, b)
    if not where:
        return
    a = new_asset(h.server.state, u, b["name"], b["size"], where[0], where[1], "MultipartHttp")
    h.server.state.parts[a["id"]] = {}
    h.reply(201, {"assetId": a["id"]})


def multipart_part(h, aid, n):
    if not h.user():
        return
    st = h.server.state
    if aid not in st.parts:
        return h.err(404, "AssetNotFound", "Asset not found.")
    data = h.read_body()
    if data is None:
        return
    with LOCK:
        st.parts[aid][int(n)] = data
        st.received.append((aid, int(n), len(data)))
    h.reply(200, {"partNumber": int(n), "size": len(data)})


def multipart_complete(h, aid):
    u = h.user()
    if not u:
        return
    st = h.server.state
    if h.read_body() is None:
        return
    parts = st.parts.get(aid)
    if parts is None:
        return h.err(404, "AssetNotFound", "Asset not found.")
    if sorted(parts) != list(range(1, len(parts) + 1)):
        return h.err(409, "MissingParts", "Parts are missing.")
    data = b"".join(parts[i] for i in sorted(parts))
    if len(data) != st.assets[aid]["size"]:
        return h.err(409, "SizeMismatch", "The parts do not add up to the declared size.")
    finish_upload(st, u, st.assets[aid], data)
    h.reply(200, {"assetId": aid})


# ---- TEST-ONLY introspection (not part of Ci): what the upload host holds and received ---------
def test_uploads(h):
    st = h.server.state
    with LOCK:
        assets = [{"id": a["id"], "name": a["name"], "status": a["status"], "size": a["size"],
                   "folderId": a["folderId"], "uploadTransferType": a.get("uploadTransferType"),
                   "md5Checksum": a.get("md5Checksum")}
                  for a in st.assets.values() if a.get("uploadTransferType")]
        parts = [{"assetId": aid, "part": n, "bytes": size} for aid, n, size in st.received]
    h.reply(200, {"assets": assets, "parts": parts})


def test_damage(h):
    b = h.json_body()
    if b is None:
        return
    with LOCK:
        h.server.state.damage_next = int(b.get("count", 1))
    h.reply(200, {"ok": True})


# ---- the CDN: signed, expiring, byte ranges ---------------------------------------------------
def cdn(h, aid, rest):
    exp, sig = h.q("Expires"), h.q("Signature")
    if not exp or not sig or not hmac.compare_digest(sig, sign(h.url.path, int(exp))):
        return h.reply(403, raw=b"<Error><Code>AccessDenied</Code></Error>", ctype="application/xml")
    if int(exp) < time.time():
        return h.reply(403, raw=b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>",
                       ctype="application/xml")
    st = h.server.state
    if rest == "original":
        data = st.blobs.get(aid)
    else:
        path = os.path.join(h.server.args.media, os.path.basename(rest))
        data = open(path, "rb").read() if os.path.isfile(path) else None
    if data is None:
        return h.reply(404, raw=b"<Error><Code>NoSuchKey</Code></Error>", ctype="application/xml")
    etag = '"' + hashlib.md5(data).hexdigest() + '"'
    headers = {"Accept-Ranges": "bytes", "ETag": etag}
    m = re.fullmatch(r"bytes=(\d*)-(\d*)", h.headers.get("Range") or "")
    if not m or (h.headers.get("If-Range") and h.headers["If-Range"] != etag):
        return h.reply(200, raw=data, headers=headers, ctype="video/mp4")
    start = int(m.group(1)) if m.group(1) else max(0, len(data) - int(m.group(2)))
    end = min(int(m.group(2)) if m.group(1) and m.group(2) else len(data) - 1, len(data) - 1)
    if start >= len(data):
        return h.reply(416, raw=b"", headers={"Content-Range": f"bytes */{len(data)}"})
    headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
    h.reply(206, raw=data[start:end + 1], headers=headers, ctype="video/mp4")


ID = r"([0-9A-Za-z_-]+)"
ROUTES = [
    ("POST", r"/oauth2/token", token),
    ("GET", r"/workspaces", workspaces),
    ("GET", rf"/workspaces/{ID}", workspace),
    ("GET", rf"/workspaces/{ID}/contents", workspace_contents),
    ("GET", rf"/folders/{ID}", folder),
    ("GET", rf"/folders/{ID}/contents", folder_contents),
    ("POST", r"/folders/?", create_folder),
    ("GET", rf"/assets/{ID}", asset),
    ("GET", rf"/assets/{ID}/download", download),
    ("POST", rf"/assets/{ID}/metadata", asset_metadata),
    ("POST", r"/events", events),
    ("POST", r"/upload", upload_single),
    ("POST", r"/upload/multipart", multipart_start),
    ("PUT", rf"/upload/multipart/{ID}/(\d+)", multipart_part),
    ("POST", rf"/upload/multipart/{ID}/complete", multipart_complete),
    ("GET", r"/__test__/uploads", test_uploads),
    ("POST", r"/__test__/damage_next_upload", test_damage),
    ("GET", rf"/cdn/{ID}/(original|renditions/[^/]+)", cdn),
    ("HEAD", rf"/cdn/{ID}/(original|renditions/[^/]+)", cdn),
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
    ap.add_argument("--token-ttl", type=float, default=86400)
    ap.add_argument("--url-ttl", type=float, default=43200)
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
    sizes(server.state, args.media)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
