#!/usr/bin/env python3
"""A Flow Capture (Moxion) API test server, for Framenote's system tests.

Follows the seed document shared/seeds/002_17f9178f396abb8f.txt ("Moxion API Docs"):
  * "Moxion API Docs" intro: HTTP, token in the X-Token header, host https://api.moxion.io;
  * "REQUEST STRUCTURE" / "RESPONSE & REAL-TIME EVENT STRUCTURE": envelopes {endpoint, data,
    request_id} in and {data, request_id} out;
  * "ERROR CODES": the numeric codes used below (400, 401, 404, 405, 407, 409, 423, 500, 600,
    603, 800, 801, 900);
  * the endpoint sections for every path handled here (names and fields as documented),
    including "/upload/asset/part" ("URL is valid for 5 minutes from issue").
and, where the document is silent, shared/reference/platforms/moxion.md part B: every call is a
POST of the JSON envelope to <host><endpoint>. Choices the document does not make are marked
"Not documented:" and kept in one place each (ERROR_HTTP_STATUS, the signed-URL form, the device
poll's pending answer).

Only loopback. Usage: moxion.py --seed SEED.json --media-dir DIR  (prints the port, then serves).
Test-only controls live under /__control/ (fault injection and counters; never platform state).

Part checksums (moxion.md §6: "/upload/asset/part" takes an optional `content_md5`, "Base64 encoded
MD5 hash of the part's data"): the presigned PUT then behaves as S3 UploadPart with a signed
Content-MD5 — the PUT must carry the same header and its body must hash to it, else 400 with
S3's XML `BadDigest` error and the part is not stored. A PUT carrying Content-MD5 without one
presigned is checked the same way (S3 checks any Content-MD5 it is given).
"""

import argparse
import base64
import copy
import datetime as dt
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Not documented: the HTTP status of an error envelope. The envelope is shared with WebSockets
# (where there is no status), so errors travel as 200 + {"error": {"code", "message"}} and a
# client must read the numeric code.
ERROR_HTTP_STATUS = 200

MESSAGES = {
    400: "API endpoint does not exist",
    401: "No API request data present",
    404: "Not found",
    405: "Invalid security token",
    407: "Invalid request data provided",
    409: "You have failed to authenticate correctly too many times, please wait for 15 minutes before you attempt to authenticate again.",
    423: "Too many requests from this IP address. Please try again shortly.",
    430: "Could not create this comment",
    500: "Internal server error",
    600: "Required parameter is missing",
    603: "Received invalid Json Data in the request.",
    800: "Permission denied",
    801: "You are unable to view this asset due to a system or production policy.",
    900: "Your request rate is too high, please slow down and try again in a few seconds.",
}

NO_TOKEN = {"/ping", "/authenticate/api", "/authenticate/device", "/authenticate/device/token"}
FAILED_LOGINS_BEFORE_LOCKOUT = 5


class ApiError(Exception):
    def __init__(self, code, message=None):
        super().__init__(code)
        self.code = code
        self.message = message or MESSAGES.get(code, "Error")


def now_iso():
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text):
    """ISO dates as the document uses them: a date, or a date-time (naive means UTC)."""
    text = str(text).strip().replace("Z", "+00:00")
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(407, "Invalid date: %s" % text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value


def public(row):
    """A stored row without the server's own '_' bookkeeping."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


def same_id(a, b):
    return a is not None and b is not None and str(a) == str(b)


class State:
    def __init__(self, seed_path, media_dir, token_ttl, device_interval, extra_assets=0):
        with open(seed_path) as f:
            seed = json.load(f)
        self.seed_dir = os.path.dirname(os.path.abspath(seed_path))
        self.media_dir = media_dir
        self.token_ttl = token_ttl
        self.device_interval = device_interval
        self.lock = threading.RLock()
        self.secret = secrets.token_bytes(32)
        self.url_ttl = 300  # "URL is valid for 5 minutes from issue."
        self.users = seed["users"]
        self.api_keys = seed["_api_keys"]
        self.companies = seed["companies"]
        self.production_folders = seed["production_folders"]
        self.groups = seed["groups"]
        self.projects = seed["projects"]
        self.batches = seed["batches"]
        self.assets = seed["assets"]
        self.files = seed["files"]
        self.comments = seed["comments"]
        self.messages = seed["messages"]
        self.indicators = {}  # comment id -> {"drawing_data", "type", "id", "created", "user_id"}
        for c in self.comments:
            if c.get("_svg_file"):
                with open(os.path.join(self.seed_dir, c["_svg_file"])) as f:
                    c["_svg"] = f.read()
        for f in self.files:
            path = os.path.join(media_dir, f.get("_media", ""))
            if os.path.isfile(path):
                f["used_bytes"] = os.path.getsize(path)
        self.activity = []
        self.generate_assets(extra_assets)
        self.tokens = {}  # token -> {"user_id", "expires_at"}
        self.devices = {}  # device_code -> {"user_code", "expires_at", "user_id"}
        self.failed_logins = 0
        self.uploads = {}  # upload_id -> {"key", "filename", "project_id", "parts": {n: (etag, bytes)}}
        # test-only: every part PUT, {"upload_id", "part", "bytes", "content_md5", "stored"}
        self.parts_received = []
        self.corrupt_parts = {}  # test-only: part number -> PUTs of it still to damage in transit
        self.aborted = []  # test-only: upload ids aborted
        self.next_id = 1000
        self.public_base = None
        # Test controls and counters.
        self.rate_per_second = None
        self.recent = {}  # token -> [timestamps]
        self.faults = []  # [{"endpoint", "count", "mode"}]
        self.stats = {"requests": {}, "rate_limited": 0, "faults_served": 0, "media_ranges": 0}

    def generate_assets(self, count):
        """Test-only volume: `count` more assets in batch 50, each with a copy of file 70's facts."""
        template_asset = next(a for a in self.assets if a["id"] == 60)
        template_file = next(f for f in self.files if f["id"] == 70)
        for n in range(count):
            asset = dict(template_asset, id=100000 + n, uuid=str(uuid.uuid4()), name="GEN_%05d" % n)
            self.assets.append(asset)
            self.files.append(dict(template_file, id=200000 + n, asset_id=asset["id"]))

    def new_id(self):
        self.next_id += 1
        return self.next_id

    def find(self, table, ident, code=404):
        for row in table:
            if same_id(row.get("id"), ident):
                return row
        raise ApiError(code)

    def user(self, user_id):
        return self.find(self.users, user_id, 446)

    # ----- tokens -----------------------------------------------------------------------------

    def issue_token(self, user_id):
        token = hashlib.sha256(secrets.token_bytes(32)).hexdigest()  # "a secure token (SHA2)"
        self.tokens[token] = {"user_id": user_id, "expires_at": time.time() + self.token_ttl}
        return token

    def user_of_token(self, token):
        entry = self.tokens.get(token or "")
        if entry is None or entry["expires_at"] <= time.time():
            raise ApiError(405)
        return entry["user_id"]

    # ----- signed URLs ------------------------------------------------------------------------

    # Not documented: the form of CDN / presigned URLs. An HMAC over path and expiry, like S3's.
    def sign(self, path, ttl=None):
        expires = int(time.time() + (self.url_ttl if ttl is None else ttl))
        sig = hmac.new(self.secret, ("%s|%d" % (path, expires)).encode(), hashlib.sha256).hexdigest()
        return "%s?expires=%d&sig=%s" % (path, expires, sig)

    def check_signature(self, path, query):
        try:
            expires = int(query.get("expires", ["0"])[0])
        except ValueError:
            return "bad signature"
        sig = query.get("sig", [""])[0]
        good = hmac.new(self.secret, ("%s|%d" % (path, expires)).encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, good):
            return "bad signature"
        if expires <= time.time():
            return "Request has expired"
        return None

    # ----- views ------------------------------------------------------------------------------

    def project_of_asset(self, asset, user_id=None):
        return self.perms(self.find(self.projects, asset["project_id"]), user_id)

    def perms(self, project, user_id):
        """The project as `user_id` sees it: the seed's flags, narrowed for its viewers."""
        p = dict(project)
        if user_id in project.get("_viewers", []):
            p.update(can_comment=False, can_upload=False, can_download=False, can_offline=False)
        return p

    def public_url(self, path_and_query):
        # Test control: a fault proxy in front of this server gives clients its own address.
        return (self.public_base or self.base_url) + path_and_query

    def comment_view(self, c, user_id):
        out = public(c)
        done_by = c.get("completed_by_user_id")
        out["completed_by_user_id"] = done_by
        if done_by is not None:
            u = self.user(done_by)
            out["completed_by_user_first_name"] = u["first_name"]
            out["completed_by_user_last_name"] = u["last_name"]
        else:
            out["completed_by_user_first_name"] = None
            out["completed_by_user_last_name"] = None
        out["has_drawing"] = bool(c.get("_svg")) or (
            c["id"] in self.indicators and self.indicators[c["id"]]["type"] == "DRAWING_V2"
        )
        out["has_reply"] = any(same_id(o.get("parent_id"), c["id"]) for o in self.comments)
        out["is_owner"] = same_id(c.get("user_id"), user_id)
        out["is_expired"] = False
        return out

    def file_view(self, f):
        out = public(f)
        if f.get("_media"):
            out["url"] = self.public_url(self.sign("/media/%s" % f["id"]))
        return out

    def log(self, kind, user_id, asset=None, comment=None):
        entry = {
            "id": self.new_id(),
            "type": kind,
            "time": now_iso(),
            "user_id": user_id,
            "app_type": "DESKTOP",
        }
        if asset is not None:
            entry.update(
                asset_id=asset["id"], asset_name=asset.get("name"), batch_id=asset.get("batch_id"),
                project_id=asset.get("project_id"),
            )
        if comment is not None:
            entry.update(comment_id=comment["id"], comment_description=comment.get("description"))
        self.activity.append(entry)


def require(data, *names):
    for name in names:
        if data.get(name) in (None, ""):
            raise ApiError(600, "Required parameter is missing: %s" % name)


# ----- endpoint handlers: (state, data, user_id) -> payload ----------------------------------------

def ep_ping(s, d, u):
    return {"pong": True, "maintenance_mode": False, "time": now_iso(), "buildId": "test", "sourceVersion": "test"}


def ep_authenticate_api(s, d, u):
    require(d, "api_id", "api_key")
    if s.failed_logins >= FAILED_LOGINS_BEFORE_LOCKOUT:
        raise ApiError(409)
    for key in s.api_keys:
        if key["api_id"] == d["api_id"] and hmac.compare_digest(key["api_key"], str(d["api_key"])):
            s.failed_logins = 0
            return {"authenticated": True, "expires": s.token_ttl, "token": s.issue_token(key["user_id"])}
    s.failed_logins += 1
    raise ApiError(403, "Access denied")


def ep_authenticate_device(s, d, u):
    scope = d.get("authentication_scope", "DEFAULT")
    if scope not in ("DEFAULT", "LIVE", "IMMEDIATES"):
        raise ApiError(601, "Not a valid enum value")
    code = secrets.token_hex(16)
    user_code = "%s-%s" % (secrets.token_hex(2).upper(), secrets.token_hex(2).upper())
    s.devices[code] = {"user_code": user_code, "expires_at": time.time() + 600, "user_id": None}
    return {
        "device_code": code,
        "expires_in": 600,
        "interval": s.device_interval,
        "user_code": user_code,
        "verification_uri": s.base_url + "/device",
    }


def ep_authenticate_device_token(s, d, u):
    require(d, "device_code")
    entry = s.devices.get(d["device_code"])
    if entry is None or entry["expires_at"] <= time.time():
        raise ApiError(404)
    if entry["user_id"] is None:
        # Not documented: the answer while the person has not approved yet. The response's
        # `authenticated` is "True if successful authentication"; until then it is false.
        return {"authenticated": False}
    del s.devices[d["device_code"]]
    out = public(s.user(entry["user_id"]))
    out.update(authenticated=True, token=s.issue_token(entry["user_id"]), expires=s.token_ttl,
               sync_token=secrets.token_hex(8))
    return out


def ep_device_verify(s, d, u):
    require(d, "user_code")
    for entry in s.devices.values():
        if entry["user_code"] == d["user_code"] and entry["expires_at"] > time.time():
            entry["user_id"] = u
            return {"success": True}
    raise ApiError(404)


def ep_get_user(s, d, u):
    out = public(s.user(u))
    out["server_time"] = now_iso()
    return out


def ep_get_companies(s, d, u):
    return [public(c) for c in s.companies]


def ep_get_production_folders(s, d, u):
    require(d, "id")
    s.find(s.companies, d["id"])
    return [public(f) for f in s.production_folders if same_id(f["company_id"], d["id"])]


def ep_get_groups(s, d, u):
    rows = s.groups
    if d.get("company_id") is not None:
        rows = [g for g in rows if same_id(g["company_id"], d["company_id"])]
    if d.get("production_folder_id") is not None:
        rows = [g for g in rows if same_id(g.get("production_folder_id"), d["production_folder_id"])]
    out = []
    for g in sorted(rows, key=lambda g: g["created"] if d.get("sort_by") == "created" else g["name"]):
        row = public(g)
        if d.get("include_projects"):
            row["projects"] = [p["id"] for p in s.projects if same_id(p["group"], g["id"])]
        out.append(row)
    return out


def ep_get_projects(s, d, u):
    rows = s.projects
    if d.get("company_id") is not None:
        rows = [p for p in rows if same_id(p["company_id"], d["company_id"])]
    if d.get("group_id") is not None:
        rows = [p for p in rows if same_id(p["group"], d["group_id"])]
    if d.get("parent_project_id") is not None:
        rows = [p for p in rows if same_id(p.get("parent_project_id"), d["parent_project_id"])]
    if d.get("projects") is not None:
        wanted = {str(x) for x in d["projects"]}
        rows = [p for p in rows if str(p["id"]) in wanted]
    if d.get("roots_only"):
        rows = [p for p in rows if p.get("parent_project_id") is None]
    if d.get("limit") is not None:
        rows = rows[: int(d["limit"])]
    return [public(s.perms(p, u)) for p in rows]


def ep_get_project(s, d, u):
    require(d, "id")
    out = public(s.perms(s.find(s.projects, d["id"]), u))
    out["asset_count"] = sum(1 for a in s.assets if same_id(a["project_id"], d["id"]))
    return out


def ep_get_batches(s, d, u):
    rows = s.batches
    if d.get("project_id") is not None:
        rows = [b for b in rows if same_id(b["project_id"], d["project_id"])]
    order = d.get("sort_by", "NEWEST")
    if order not in ("NEWEST", "OLDEST", "NAME"):
        raise ApiError(601, "Not a valid enum value")
    key = (lambda b: b["name"]) if order == "NAME" else (lambda b: b["created"])
    out = []
    for b in sorted(rows, key=key, reverse=(order == "NEWEST")):
        row = public(b)
        if d.get("include_assets"):
            row["assets"] = [a["id"] for a in s.assets if same_id(a["batch_id"], b["id"])]
        out.append(row)
    return out


def ep_get_batch(s, d, u):
    require(d, "id")
    return public(s.find(s.batches, d["id"]))


def ep_create_batch(s, d, u):
    require(d, "name", "project_id")
    s.find(s.projects, d["project_id"])
    batch = {"id": s.new_id(), "project_id": d["project_id"], "name": str(d["name"])[:100], "status": "ACTIVE",
             "hidden": False, "creator": u, "owner": u, "created": now_iso()}
    s.batches.append(batch)
    return public(batch)


def asset_view(s, a, d):
    out = public(a)
    out["comment_count"] = sum(1 for c in s.comments if same_id(c["asset_id"], a["id"]))
    batch = next((b for b in s.batches if same_id(b["id"], a.get("batch_id"))), None)
    out["batch_name"] = batch["name"] if batch else None
    if d.get("include_offline_bytes"):
        out["offline_bytes"] = sum(f.get("used_bytes", 0) for f in s.files if same_id(f["asset_id"], a["id"]))
    return out


def ep_get_assets(s, d, u):
    # The document's precedence: batch_id, then project_id, then assets.
    if d.get("batch_id") is not None:
        rows = [a for a in s.assets if same_id(a.get("batch_id"), d["batch_id"])]
    elif d.get("project_id") is not None:
        rows = [a for a in s.assets if same_id(a["project_id"], d["project_id"])]
    elif d.get("assets") is not None:
        wanted = {str(x) for x in d["assets"]}
        rows = [a for a in s.assets if str(a["id"]) in wanted]
    else:
        rows = []
    return [asset_view(s, a, d) for a in rows if a.get("status") != "DELETED"]


def ep_get_asset(s, d, u):
    require(d, "id")
    return asset_view(s, s.find(s.assets, d["id"]), d)


def ep_get_asset_files(s, d, u):
    require(d, "id")
    asset = s.find(s.assets, d["id"])
    if asset.get("deny_view") or s.project_of_asset(asset, u).get("deny_view"):
        raise ApiError(801)
    rows = [f for f in s.files if same_id(f["asset_id"], d["id"])]
    if d.get("playable_only"):
        rows = [f for f in rows if f.get("is_playable")]
    return [s.file_view(f) for f in rows]


def ep_download_asset_file(s, d, u):
    require(d, "id")
    f = s.find(s.files, d["id"])
    asset = s.find(s.assets, f["asset_id"])
    project = s.project_of_asset(asset, u)
    if project.get("deny_download") or not project.get("can_download"):
        raise ApiError(800)
    s.log("DOWNLOAD", u, asset=asset)
    return {"download_url": s.public_url(s.sign("/media/%s" % f["id"])), "processing": False}


def find_comment(s, ident):
    for c in s.comments:
        if same_id(c["id"], ident) or (c.get("uuid") and c["uuid"] == str(ident)):
            return c
    return None


def ep_get_comments(s, d, u):
    require(d, "asset_id")
    asset = next((a for a in s.assets if same_id(a["id"], d["asset_id"]) or a.get("uuid") == d["asset_id"]), None)
    if asset is None:
        raise ApiError(404)
    channel = d.get("channel_type", "ALL")
    rows = [c for c in s.comments if same_id(c["asset_id"], asset["id"])]
    if channel != "ALL":
        rows = [c for c in rows if c.get("channel_type", "PUBLIC") == channel]
    if d.get("include_asset_level_comments", True) is False:
        rows = [c for c in rows if c.get("has_marker")]
    return [s.comment_view(c, u) for c in rows]


COMMENT_FIELDS = ("channel_type", "color", "colorspace", "created", "creator_email", "creator_name", "creator_role",
                  "description", "has_marker", "height", "is_reply", "marker_duration", "marker_time",
                  "marker_timecode", "parent_id", "playlink_id", "review_session_id", "scope", "type", "uuid", "width")


def write_comment(s, d, u, existing):
    if existing is None:
        require(d, "asset_id")
    asset_ref = d.get("asset_id", existing["asset_id"] if existing else None)
    asset = next((a for a in s.assets if same_id(a["id"], asset_ref) or a.get("uuid") == asset_ref), None)
    if asset is None:
        raise ApiError(404)
    project = s.project_of_asset(asset, u)
    if not project.get("can_comment") or asset.get("can_comment") is False:
        raise ApiError(800)
    if len(str(d.get("description", ""))) > 61440 or len(str(d.get("colorspace", ""))) > 10:
        raise ApiError(407)
    for key in ("marker_time", "marker_duration"):
        if key in d and d[key] is not None and not isinstance(d[key], (int, float)):
            raise ApiError(407, "Invalid request data provided: %s" % key)
    if d.get("parent_id") is not None and find_comment(s, d["parent_id"]) is None:
        raise ApiError(430)
    if existing is None:
        user = s.user(u)
        c = {"id": s.new_id(), "asset_id": asset["id"], "project_id": asset["project_id"], "user_id": u,
             "user_first_name": user["first_name"], "user_last_name": user["last_name"],
             "type": "COMMENT", "channel_type": "PUBLIC", "scope": "ASSET", "created": now_iso()}
        s.comments.append(c)
        s.log("COMMENT", u, asset=asset, comment=c)
    else:
        c = existing
    for key in COMMENT_FIELDS:
        if key in d:
            c[key] = d[key]
    return c


def ep_create_comment(s, d, u):
    return s.comment_view(write_comment(s, d, u, None), u)


def ep_update_comment(s, d, u):
    require(d, "id")
    existing = find_comment(s, d["id"])
    data = dict(d)
    if existing is None and not re.fullmatch(r"\d+", str(d["id"])):
        # "Update a comment or create a new comment if it does not exist": an unknown UUID id
        # becomes the new comment's uuid.
        data.setdefault("uuid", str(d["id"]))
    c = write_comment(s, data, u, existing)
    out = s.comment_view(c, u)
    out["updated"] = existing is not None
    return out


def ep_complete_comment(s, d, u):
    require(d, "id")
    if not isinstance(d.get("is_complete"), bool):
        raise ApiError(600, "Required parameter is missing: is_complete")
    c = find_comment(s, d["id"])
    if c is None:
        raise ApiError(404)
    asset = s.find(s.assets, c["asset_id"])
    if not s.project_of_asset(asset, u).get("can_comment"):
        raise ApiError(800)
    c["completed_by_user_id"] = u if d["is_complete"] else None
    out = s.comment_view(c, u)
    out["updated"] = True
    return out


def ep_update_drawing(s, d, u):
    require(d, "comment_id", "drawing_data")
    c = find_comment(s, d["comment_id"])
    if c is None:
        raise ApiError(404)
    kind = d.get("type", "DRAWING_V2")
    if kind not in ("DRAWING_V2", "DRAWING", "BEACON"):
        raise ApiError(601, "Not a valid enum value")
    try:
        json.loads(d["drawing_data"])
    except (TypeError, ValueError):
        raise ApiError(603)
    ind = {"id": s.new_id(), "comment_id": c["id"], "drawing_data": d["drawing_data"], "type": kind,
           "created": now_iso(), "user_id": u}
    s.indicators[c["id"]] = ind
    c.pop("_svg", None)
    out = dict(ind)
    out.update(is_owner=True, is_expired=False, has_reply=False, color=c.get("color"))
    return out


def render_svg(drawing_data, width, height):
    """DRAWING_V2's schema is not documented; this renders the shapes of the drawing_data Framenote
    sends (format framenote.drawing/1: normalised coordinates) to SVG in the comment's pixels."""
    try:
        data = json.loads(drawing_data)
    except ValueError:
        return ""
    if not isinstance(data, dict) or data.get("format") != "framenote.drawing/1":
        return ""
    w, h = float(width or 1920), float(height or 1080)
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %g %g" width="%g" height="%g">' % (w, h, w, h),
             '<defs><marker id="head" markerWidth="10" markerHeight="10" refX="5" refY="5" orient="auto">'
             '<path d="M0,0 L10,5 L0,10 Z"/></marker></defs>']

    def esc(text):
        return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))

    for shape in data.get("shapes", []):
        stroke = shape.get("stroke", {})
        paint = 'stroke="%s" stroke-width="%g" fill="none"' % (esc(stroke.get("color", "#ff0000")),
                                                               float(stroke.get("width", 0.005)) * h)
        sid = esc(shape.get("id", ""))
        kind = shape.get("type")
        if kind == "pen":
            pts = shape.get("points", [])
            d = " ".join(("M" if i == 0 else "L") + " %g %g" % (p["x"] * w, p["y"] * h) for i, p in enumerate(pts))
            parts.append('<path id="%s" d="%s" %s/>' % (sid, d, paint))
        elif kind in ("line", "arrow"):
            a, b = shape["from"], shape["to"]
            marker = ' marker-end="url(#head)"' if kind == "arrow" else ""
            parts.append('<line id="%s" x1="%g" y1="%g" x2="%g" y2="%g" %s%s/>'
                         % (sid, a["x"] * w, a["y"] * h, b["x"] * w, b["y"] * h, paint, marker))
        elif kind == "rect":
            o = shape["origin"]
            parts.append('<rect id="%s" x="%g" y="%g" width="%g" height="%g" %s/>'
                         % (sid, o["x"] * w, o["y"] * h, shape["width"] * w, shape["height"] * h, paint))
        elif kind == "ellipse":
            c = shape["center"]
            parts.append('<ellipse id="%s" cx="%g" cy="%g" rx="%g" ry="%g" %s/>'
                         % (sid, c["x"] * w, c["y"] * h, shape["rx"] * w, shape["ry"] * h, paint))
        elif kind == "text":
            at = shape["at"]
            parts.append('<text id="%s" x="%g" y="%g" font-size="%g" fill="%s" dominant-baseline="hanging">%s</text>'
                         % (sid, at["x"] * w, at["y"] * h, shape["size"] * h, esc(stroke.get("color", "#ffffff")),
                            esc(shape.get("text", ""))))
    parts.append("</svg>")
    return "".join(parts)


def ep_get_indicators_svg(s, d, u):
    require(d, "comment_id")
    c = find_comment(s, d["comment_id"])
    if c is None:
        raise ApiError(404)
    if c.get("_svg"):
        return {"has_drawing": True, "svg": c["_svg"]}
    ind = s.indicators.get(c["id"])
    if ind is None:
        return {"has_drawing": False, "svg": None}
    return {"has_drawing": True, "svg": render_svg(ind["drawing_data"], c.get("width"), c.get("height"))}


def ep_get_activity(s, d, u):
    require(d, "project_id")
    rows = [e for e in s.activity if same_id(e.get("project_id"), d["project_id"])]
    if d.get("updated_since"):
        since = parse_iso(d["updated_since"])
        rows = [e for e in rows if parse_iso(e["time"]) >= since]
    if d.get("type"):
        rows = [e for e in rows if e["type"] == d["type"]]
    if d.get("types"):
        rows = [e for e in rows if e["type"] in d["types"]]
    offset = int(d.get("offset") or 0)
    rows = rows[offset:]
    if d.get("limit") is not None:
        rows = rows[: int(d["limit"])]
    return rows


def ep_get_sent_messages(s, d, u):
    if d.get("folder") is None and d.get("ids") is None:
        raise ApiError(600, "Required parameter is missing: folder or ids")
    rows = [m for m in s.messages if u in m.get("_recipients", [])]
    if d.get("ids") is not None:
        wanted = {str(x) for x in d["ids"]}
        rows = [m for m in rows if str(m["id"]) in wanted]
    elif d.get("folder") != "INBOX":
        rows = []
    if d.get("ids_only"):
        return [m["id"] for m in rows]
    out = []
    for m in rows:
        row = public(m)
        row["asset_count"] = len(m.get("_asset_ids", []))
        if not d.get("include_message_content"):
            for key in ("allow_download", "allow_offline", "body", "start", "is_deferred"):
                row.pop(key, None)
        out.append(row)
    return out


def message_for(s, ident, u):
    m = s.find(s.messages, ident)
    if u not in m.get("_recipients", []):
        raise ApiError(403, "Access denied")
    return m


def ep_get_message(s, d, u):
    require(d, "id")
    return public(message_for(s, d["id"], u))


def ep_get_message_assets(s, d, u):
    require(d, "id")
    m = message_for(s, d["id"], u)
    return [asset_view(s, s.find(s.assets, a), d) for a in m.get("_asset_ids", [])]


def ep_upload_init(s, d, u):
    require(d, "filename")
    project = s.perms(s.find(s.projects, d.get("project_id"), 600), u)
    if not project.get("can_upload"):
        raise ApiError(800)
    upload_id = secrets.token_hex(12)
    key = "uploads/%s/%s" % (uuid.uuid4(), os.path.basename(str(d["filename"])))
    s.uploads[upload_id] = {"key": key, "filename": d["filename"], "project_id": project["id"], "parts": {}}
    return {"key": key, "upload_id": upload_id}


def upload_for(s, d):
    require(d, "key", "upload_id")
    up = s.uploads.get(d["upload_id"])
    if up is None or up["key"] != d["key"]:
        raise ApiError(404)
    return up


def ep_upload_part(s, d, u):
    up = upload_for(s, d)
    require(d, "part_number")
    n = int(d["part_number"])
    if n < 1 or n > 10000:
        raise ApiError(407)
    md5 = d.get("content_md5")
    if md5 is not None:
        try:
            ok = len(base64.b64decode(str(md5), validate=True)) == 16
        except ValueError:
            ok = False
        if not ok:
            raise ApiError(407, "Invalid request data provided: content_md5 is not a base64 MD5")
    # Not documented: how the signed Content-MD5 travels with the URL. Kept server-side per part
    # (the last presign of a part wins, as a new URL replaces the old one for the client).
    up.setdefault("md5", {})[n] = md5
    path = "/s3/%s/%d" % (d["upload_id"], n)
    return {"presigned_url": s.public_url(s.sign(path))}


def ep_upload_complete(s, d, u):
    up = upload_for(s, d)
    require(d, "filename", "etags")
    parts = up["parts"]
    expected = [parts[n][0] for n in sorted(parts)]
    if sorted(parts) != list(range(1, len(parts) + 1)) or list(d["etags"]) != expected:
        raise ApiError(407, "Invalid request data provided: etags do not match the uploaded parts")
    project = s.find(s.projects, d.get("project_id", up["project_id"]))
    if d.get("batch_id") is not None:
        batch = s.find(s.batches, d["batch_id"])
    elif d.get("batch_name"):
        batch = ep_create_batch(s, {"name": d["batch_name"], "project_id": project["id"]}, u)
        batch = s.find(s.batches, batch["id"])
    else:
        raise ApiError(600, "Required parameter is missing: batch_id or batch_name")
    name, ext = os.path.splitext(os.path.basename(str(d["filename"])))
    media_name = "upload_%s%s" % (d["upload_id"], ext)
    with open(os.path.join(s.media_dir, media_name), "wb") as out:
        for n in sorted(parts):
            out.write(parts[n][1])
    del s.uploads[d["upload_id"]]
    asset = {"id": s.new_id(), "uuid": str(uuid.uuid4()), "name": name, "ext": ext.lstrip("."),
             "project_id": project["id"], "batch_id": batch["id"], "type": "VIDEO", "status": "ACTIVE",
             "can_offline": bool(project.get("can_offline")), "can_comment": bool(project.get("can_comment")),
             "deny_view": False, "drm_enabled": bool(project.get("drm_enabled")), "created": now_iso(), "user_id": u}
    f = {"id": s.new_id(), "asset_id": asset["id"], "project_id": project["id"], "batch_id": batch["id"],
         "file_name": os.path.basename(str(d["filename"])), "file_extension": ext.lstrip("."), "status": "ACTIVE",
         "is_playable": True, "is_dash": False, "is_fairplay": False, "is_playready": False,
         "used_bytes": os.path.getsize(os.path.join(s.media_dir, media_name)), "_media": media_name}
    f.update(probe(os.path.join(s.media_dir, media_name)))
    if "duration" in f:
        asset["duration"] = f.pop("duration")
    s.assets.append(asset)
    s.files.append(f)
    s.log("UPLOAD", u, asset=asset)
    return {"asset_id": asset["id"]}


def probe(path):
    """The transcode step's facts (frame rate, size), from ffprobe when it is installed."""
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
             "stream=width,height,r_frame_rate:format=duration", "-of", "json", path],
            capture_output=True, text=True, timeout=20, check=False)
        info = json.loads(out.stdout or "{}")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return {}
    facts = {}
    streams = info.get("streams") or []
    if streams:
        st = streams[0]
        num, _, den = str(st.get("r_frame_rate", "0/1")).partition("/")
        if den and float(den) != 0:
            facts["frame_rate"] = round(float(num) / float(den), 3)
        facts["width"], facts["height"] = st.get("width"), st.get("height")
    if info.get("format", {}).get("duration"):
        facts["duration"] = float(info["format"]["duration"])
    return facts


def ep_upload_abort(s, d, u):
    upload_for(s, d)
    del s.uploads[d["upload_id"]]
    s.aborted.append(d["upload_id"])
    return {}


def ep_complete_upload(s, d, u):
    if d.get("project_id") is not None:
        s.find(s.projects, d["project_id"])
    return {"ok": True}


ENDPOINTS = {
    "/ping": ep_ping,
    "/authenticate/api": ep_authenticate_api,
    "/authenticate/device": ep_authenticate_device,
    "/authenticate/device/token": ep_authenticate_device_token,
    "/authenticate/device/verify/code": ep_device_verify,
    "/get/user": ep_get_user,
    "/get/companies": ep_get_companies,
    "/get/company/production_folders": ep_get_production_folders,
    "/get/groups": ep_get_groups,
    "/get/projects": ep_get_projects,
    "/get/project": ep_get_project,
    "/get/batches": ep_get_batches,
    "/get/batch": ep_get_batch,
    "/create/batch": ep_create_batch,
    "/get/assets": ep_get_assets,
    "/get/asset": ep_get_asset,
    "/get/asset/files": ep_get_asset_files,
    "/download/asset/file": ep_download_asset_file,
    "/get/comments": ep_get_comments,
    "/create/comment": ep_create_comment,
    "/update/comment": ep_update_comment,
    "/update/comment/complete": ep_complete_comment,
    "/update/drawing": ep_update_drawing,
    "/get/indicators/svg": ep_get_indicators_svg,
    "/get/activity": ep_get_activity,
    "/get/sent/messages": ep_get_sent_messages,
    "/get/message": ep_get_message,
    "/get/message/assets": ep_get_message_assets,
    "/upload/asset/init": ep_upload_init,
    "/upload/asset/part": ep_upload_part,
    "/upload/asset/complete": ep_upload_complete,
    "/upload/asset/abort": ep_upload_abort,
    "/complete/upload": ep_complete_upload,
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None  # set at start

    def setup(self):
        super().setup()
        # Headers and body go out as separate writes: without TCP_NODELAY, Nagle's algorithm and
        # the client's delayed ACK add ~40 ms to every keep-alive request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # quiet: the tests read results, not logs
        pass

    def send_json(self, status, body, headers=None):
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def send_plain(self, status, text, headers=None):
        raw = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(raw)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(raw)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # ----- the API ------------------------------------------------------------------------------

    def do_POST(self):
        s = self.state
        path = urllib.parse.urlparse(self.path).path
        raw = self.body()
        if path.startswith("/__control/"):
            return self.control(path, raw)
        request_id = None
        try:
            try:
                envelope = json.loads(raw or b"null")
            except ValueError:
                raise ApiError(603)
            if not isinstance(envelope, dict) or not isinstance(envelope.get("data"), dict):
                raise ApiError(401)
            request_id = envelope.get("request_id")
            if envelope.get("endpoint") not in (None, path):
                raise ApiError(407, "Invalid request data provided: endpoint does not match the URL")
            handler = ENDPOINTS.get(path)
            if handler is None:
                raise ApiError(400)
            with s.lock:
                s.stats["requests"][path] = s.stats["requests"].get(path, 0) + 1
                fault = next((f for f in s.faults if f["endpoint"] == path and f["count"] > 0), None)
                if fault is not None:
                    fault["count"] -= 1
                    s.stats["faults_served"] += 1
                    if fault["mode"] == "http503":
                        # An infrastructure failure in front of the API: no envelope at all.
                        return self.send_plain(503, "Service Unavailable", {"Retry-After": "1"})
                    raise ApiError(500)
                user = None
                token = self.headers.get("X-Token")
                if path not in NO_TOKEN:
                    user = s.user_of_token(token)
                if s.rate_per_second is not None and path not in NO_TOKEN:
                    window = [t for t in s.recent.get(token, []) if t > time.time() - 1.0]
                    if len(window) >= s.rate_per_second:
                        s.stats["rate_limited"] += 1
                        s.recent[token] = window
                        raise ApiError(900)
                    window.append(time.time())
                    s.recent[token] = window
                payload = handler(s, envelope["data"], user)
            self.send_json(200, {"request_id": request_id, "data": payload})
        except ApiError as e:
            self.send_json(ERROR_HTTP_STATUS, {"request_id": request_id, "error": {"code": e.code, "message": e.message}})

    # ----- media and uploads ----------------------------------------------------------------------

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        s = self.state
        url = urllib.parse.urlparse(self.path)
        if url.path == "/__control/stats":
            with s.lock:
                return self.send_json(200, copy.deepcopy(s.stats))
        if url.path == "/__control/uploads":
            # Test-only: the multipart uploads the "storage" holds, and every part PUT it took.
            with s.lock:
                held = {uid: {"key": up["key"], "filename": up["filename"],
                              "parts": {str(n): len(p[1]) for n, p in up["parts"].items()}}
                        for uid, up in s.uploads.items()}
                return self.send_json(200, {"uploads": held, "received": list(s.parts_received),
                                            "aborted": list(s.aborted)})
        m = re.fullmatch(r"/media/(\d+)", url.path)
        if not m:
            return self.send_plain(404, "Not Found")
        problem = s.check_signature(url.path, urllib.parse.parse_qs(url.query))
        if problem:
            return self.send_plain(403, problem)
        with s.lock:
            f = next((f for f in s.files if str(f["id"]) == m.group(1)), None)
        if f is None:
            return self.send_plain(404, "Not Found")
        path = os.path.join(s.media_dir, f["_media"])
        size = os.path.getsize(path)
        etag = '"%s-%d"' % (f["id"], size)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng and (if_range is None or if_range == etag):
            mm = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not mm or (mm.group(1) == "" and mm.group(2) == ""):
                return self.send_plain(416, "Bad range", {"Content-Range": "bytes */%d" % size})
            if mm.group(1) == "":
                start, end = max(0, size - int(mm.group(2))), size - 1
            else:
                start = int(mm.group(1))
                end = min(int(mm.group(2)), size - 1) if mm.group(2) else size - 1
            if start >= size or start > end:
                return self.send_plain(416, "Range Not Satisfiable", {"Content-Range": "bytes */%d" % size})
            status = 206
            with s.lock:
                s.stats["media_ranges"] += 1
        self.send_response(status)
        self.send_header("Content-Type", "video/mp4")
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

    def do_PUT(self):
        s = self.state
        url = urllib.parse.urlparse(self.path)
        raw = self.body()
        m = re.fullmatch(r"/s3/([0-9a-f]+)/(\d+)", url.path)
        if not m:
            return self.send_plain(404, "Not Found")
        problem = s.check_signature(url.path, urllib.parse.parse_qs(url.query))
        if problem:
            return self.send_plain(403, problem)
        n = int(m.group(2))
        sent_md5 = self.headers.get("Content-MD5")
        with s.lock:
            up = s.uploads.get(m.group(1))
            if up is None:
                return self.send_plain(404, "NoSuchUpload")
            if s.corrupt_parts.get(n, 0) > 0:
                # Test-only: the bytes arrive damaged, as a bad link would deliver them.
                s.corrupt_parts[n] -= 1
                raw = bytes([raw[0] ^ 0xFF]) + raw[1:] if raw else b"\x00"
            signed_md5 = up.get("md5", {}).get(n)
            got_md5 = base64.b64encode(hashlib.md5(raw).digest()).decode()
            bad = (signed_md5 is not None and sent_md5 != signed_md5) or \
                (sent_md5 is not None and sent_md5 != got_md5)
            s.parts_received.append({"upload_id": m.group(1), "part": n, "bytes": len(raw),
                                     "content_md5": sent_md5, "stored": not bad})
            if not bad:
                etag = '"%s"' % hashlib.md5(raw).hexdigest()
                up["parts"][n] = (etag, raw)
        if bad:
            return self.send_s3_error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
        self.send_plain(200, "", {"ETag": etag})

    def send_s3_error(self, status, code, message):
        raw = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s</Message>'
               '<RequestId>%s</RequestId></Error>' % (code, message, secrets.token_hex(8))).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    # ----- test controls ------------------------------------------------------------------------

    def control(self, path, raw):
        s = self.state
        try:
            d = json.loads(raw or b"{}")
        except ValueError:
            return self.send_plain(400, "bad json")
        with s.lock:
            if path == "/__control/expire_tokens":
                for entry in s.tokens.values():
                    entry["expires_at"] = 0
            elif path == "/__control/fail":
                s.faults.append({"endpoint": d["endpoint"], "count": int(d.get("count", 1)),
                                 "mode": d.get("mode", "code500")})
            elif path == "/__control/rate_limit":
                s.rate_per_second = d.get("per_second")
                s.recent = {}
            elif path == "/__control/public_base":
                s.public_base = d.get("url")
            elif path == "/__control/url_ttl":
                s.url_ttl = int(d["seconds"])
            elif path == "/__control/corrupt_part":
                # The next `count` PUTs of part `part` (of any upload) arrive damaged.
                s.corrupt_parts[int(d["part"])] = int(d.get("count", 1))
            else:
                return self.send_plain(404, "unknown control")
        self.send_json(200, {"ok": True})


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", required=True)
    ap.add_argument("--media-dir", required=True)
    ap.add_argument("--token-ttl", type=int, default=3600)
    ap.add_argument("--device-interval", type=int, default=1)
    ap.add_argument("--extra-assets", type=int, default=0, help="generated assets in batch 50 (benchmarks)")
    ap.add_argument("--exit-with-stdin", action="store_true", help="stop when stdin closes")
    args = ap.parse_args()
    state = State(args.seed, args.media_dir, args.token_ttl, args.device_interval, args.extra_assets)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    Handler.state = state
    state.base_url = "http://127.0.0.1:%d" % server.server_address[1]
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
