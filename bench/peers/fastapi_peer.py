"""FastAPI peer of gtt-gateway's ingest path, for the benchmark (bench/run).

The same work per callback as the gateway, written the way a Python team would ship it:
capability-token check (constant-time HMAC), JSON parse, case normalization (state, priority,
case type, RFC 3339 timestamps), a CloudEvents 1.0 envelope with the same deterministic id and
subject, a JetStream publish with `Nats-Msg-Id` that awaits the PubAck, then `202` with
`{"id","subject","duplicate","dead_lettered"}`; `401` on a bad token, `503` when the publish
fails. One NATS connection per worker. The stream must exist (bench/run creates it).

Run (production style):
  PEER_NATS_URL=nats://127.0.0.1:4222 PEER_SECRET=... PEER_NAMESPACES=142033 \
  uvicorn fastapi_peer:app --host 127.0.0.1 --port 8081 --workers $(nproc) \
      --loop uvloop --http httptools --no-access-log

Environment: PEER_NATS_URL, PEER_SECRET (required), PEER_NAMESPACES (comma-separated),
PEER_STREAM (default GTT_EVENTS), PEER_SUBJECT_PREFIX (default gtt), PEER_API_URL,
PEER_PUBLISH_TIMEOUT (seconds, default 5).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from contextlib import asynccontextmanager
from datetime import datetime, timezone

import nats
import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

NATS_URL = os.environ.get("PEER_NATS_URL", "nats://127.0.0.1:4222")
SECRET = os.environ["PEER_SECRET"].encode()
NAMESPACES = {n.strip() for n in os.environ.get("PEER_NAMESPACES", "142033").split(",") if n.strip()}
STREAM = os.environ.get("PEER_STREAM", "GTT_EVENTS")
PREFIX = os.environ.get("PEER_SUBJECT_PREFIX", "gtt")
API_URL = os.environ.get("PEER_API_URL", "https://test.api.gtt.services").rstrip("/")
PUBLISH_TIMEOUT = float(os.environ.get("PEER_PUBLISH_TIMEOUT", "5"))

ENVELOPE_KEYS = ("data", "object", "resource", "payload")
ACTION_KEYS = ("action", "event", "event_type", "type")
PAST = {"create": "created", "update": "updated", "delete": "deleted"}

STATES = {
    "new": ["new"],
    "open": ["open", "opened", "reopened", "re opened", "active"],
    "in_progress": ["assigned", "work in progress", "in progress", "inprogress", "wip", "working",
                    "under investigation", "investigating"],
    "pending_customer": ["pending customer", "pending", "awaiting info", "awaiting customer",
                         "awaiting customer info", "awaiting user info", "waiting for customer",
                         "customer action required", "pending customer action",
                         "on hold awaiting customer", "on hold"],
    "resolved": ["resolved", "solved", "fixed", "resolved pending closure"],
    "closed": ["closed", "closed complete", "closed completed", "completed", "complete",
               "closed incomplete", "closed skipped"],
    "cancelled": ["cancelled", "canceled", "closed cancelled", "closed canceled", "withdrawn", "void"],
}
STATE_OF = {form: state for state, forms in STATES.items() for form in forms}
CASE_TYPE_OF = {
    **dict.fromkeys(["incident", "inc", "incident ticket"], "incident"),
    **dict.fromkeys(["service request", "servicerequest", "request", "sr", "ritm",
                     "service request ticket"], "service_request"),
}
PRIORITY_LABELS = {1: "Critical", 2: "High", 3: "Moderate", 4: "Low", 5: "Planning"}
PRIORITY_LEVEL_OF = {"critical": 1, "high": 2, "moderate": 3, "medium": 3, "low": 4, "planning": 5}
LEADING_PRIORITY = re.compile(r"^\s*(?:priority|prio|p)?[\s:#-]*(\d+)\s*(?:[-–—:.,/|=\s(\[]+\s*(.*?))?[\s)\]]*$",
                              re.IGNORECASE)
NON_ALNUM = re.compile(r"[^0-9a-z]+")
TIMESTAMP_KEYS = {
    "opened_at": ("opened_at", "openedAt", "sys_created_on", "created_at", "createdAt", "creationTimestamp"),
    "updated_at": ("updated_at", "updatedAt", "sys_updated_on"),
    "resolved_at": ("resolved_at", "resolvedAt"),
    "closed_at": ("closed_at", "closedAt"),
}
SUBJECT_PLAIN = re.compile(r"^[A-Za-z0-9_-]+$")


def route_token(namespace: str, kind: str, action: str) -> bytes:
    return hmac.new(SECRET, f"{namespace}:{kind}:{action}".encode(), hashlib.sha256).digest()


def check_token(namespace: str, kind: str, action: str, token: str) -> bool:
    if namespace not in NAMESPACES or len(token) != 64:
        return False
    try:
        given = bytes.fromhex(token)
    except ValueError:
        return False
    return hmac.compare_digest(route_token(namespace, kind, action), given)


def canonical_label(raw: str) -> str:
    return NON_ALNUM.sub(" ", raw.lower()).strip()


def text(v) -> str | None:
    if isinstance(v, str):
        return v if v.strip() else None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    return None


def first_text(obj: dict, keys) -> str | None:
    for k in keys:
        t = text(obj.get(k))
        if t is not None:
            return t
    return None


def parse_priority(v):
    raw = text(v)
    if raw is None:
        return {"level": None, "label": None, "raw": None}
    m = LEADING_PRIORITY.match(raw)
    if m:
        level = int(m.group(1))
        level = level if 1 <= level <= 9 else None
        label = (m.group(2) or "").strip() or (PRIORITY_LABELS.get(level) if level else None)
        return {"level": level, "label": label, "raw": raw}
    level = PRIORITY_LEVEL_OF.get(canonical_label(raw))
    return {"level": level, "label": raw.strip(), "raw": raw}


def parse_timestamp(v) -> datetime | None:
    if not isinstance(v, str) or not v.strip():
        return None
    s = v.strip()
    try:
        if len(s) == 19 and s[10] == " ":  # GTT's zone-less "YYYY-MM-DD HH:MM:SS", read as UTC
            return datetime.strptime(s, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
        dt = datetime.fromisoformat(s.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def rfc3339(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    dt = dt.astimezone(timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + (f".{dt.microsecond:06d}".rstrip("0") if dt.microsecond else "") + "Z"


def escape_token(part: str) -> str:
    if not part:
        return "%"
    if SUBJECT_PLAIN.match(part):
        return part
    return "".join(chr(b) if (chr(b).isascii() and (chr(b).isalnum() or chr(b) in "-_")) else f"%{b:02X}"
                   for b in part.encode())


def event_id(namespace: str, kind: str, name: str, hashed) -> str:
    """The gateway's event id: hex(SHA-256(canonical JSON of [namespace, kind, name, spec])).

    Canonical JSON as the gateway writes it: no whitespace, object keys sorted (code-point order,
    which is the UTF-8 byte order the gateway sorts by), strings as UTF-8 escaping only `"`, `\\`
    and control characters (orjson escapes exactly those, in the same forms). What Python cannot
    do is keep a number's text: the gateway hashes every number byte for byte as received, while
    orjson parses it into an int or a float and writes that back, so `1.50`, `1e0`, `-0`, `1E5`,
    integers beyond 64 bits (parsed as floats) and floats beyond double precision give other ids
    here. Integers within 64 bits written plainly, and floats already in their shortest form,
    match. The benchmark bodies carry no numbers in `spec`, so their ids are the gateway's.
    """
    return hashlib.sha256(orjson.dumps([namespace, kind, name, hashed], option=orjson.OPT_SORT_KEYS)).hexdigest()


def dead_letter_id(namespace: str, kind: str, action: str, body: bytes) -> str:
    """The gateway's dead-letter id: hex(SHA-256(JSON [namespace, kind, action] ++ raw body))."""
    return hashlib.sha256(orjson.dumps([namespace, kind, action]) + body).hexdigest()


class DeadLetter(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def locate(body: bytes):
    """(resource dict, its raw JSON bytes, action named by a wrapper or None)."""
    try:
        top = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise DeadLetter("not_json")
    if not isinstance(top, dict):
        raise DeadLetter("not_an_object")
    if "spec" in top:
        return top, body, None
    for key in ENVELOPE_KEYS:
        inner = top.get(key)
        if isinstance(inner, dict):
            action = None
            for ak in ACTION_KEYS:
                if isinstance(top.get(ak), str):
                    last = re.split(r"[.:/]", top[ak])[-1].strip().lower()
                    action = last or None
                    break
            return inner, orjson.dumps(inner), action
    return top, body, None


def build_event(namespace: str, kind_path: str, action_path: str, body: bytes):
    resource, raw, body_action = locate(body)
    ns = text(resource.get("namespace"))
    if ns is not None and ns.strip() != namespace:
        raise DeadLetter("namespace_mismatch")
    kind = (resource.get("kind") or "").strip().lower() if isinstance(resource.get("kind"), str) else ""
    kind = kind or kind_path
    action = body_action or action_path
    action = PAST.get(action, action)
    version = resource.get("version") if isinstance(resource.get("version"), str) and resource.get("version") else "v1alpha"
    spec = resource.get("spec")
    if kind == "case" and not isinstance(spec, dict):
        raise DeadLetter("missing_spec")
    name = text(resource.get("name"))
    if kind == "case":
        name = name or first_text(spec, ("number",)) or text(resource.get("number"))
    if name is None:
        raise DeadLetter("missing_name")
    name = name.strip()
    hashed = spec if spec is not None else resource
    eid = event_id(namespace, kind, name, hashed)
    subject = f"{PREFIX}.{escape_token(namespace)}.{escape_token(kind)}.{escape_token(action)}.{escape_token(name)}"

    if kind == "case":
        metadata = resource.get("metadata") if isinstance(resource.get("metadata"), dict) else {}
        times = {}
        for field, keys in TIMESTAMP_KEYS.items():
            times[field] = None
            for container in (spec, metadata, resource):
                found = next((t for t in (parse_timestamp(container.get(k)) for k in keys) if t), None)
                if found:
                    times[field] = found
                    break
        state_raw = first_text(spec, ("state", "status"))
        type_raw = first_text(spec, ("case_type", "caseType", "type"))
        number = first_text(spec, ("number",)) or name
        case_id = first_text(spec, ("case_id", "sys_id")) or first_text(resource, ("case_id", "sys_id"))
        service = first_text(spec, ("service_id", "serviceId", "service"))
        cat, sub = first_text(spec, ("category",)), first_text(spec, ("subcategory",))
        data = {
            "namespace": namespace,
            "case_id": case_id.strip() if case_id else None,
            "number": number.strip(),
            "case_type": CASE_TYPE_OF.get(canonical_label(type_raw), "other") if type_raw else "other",
            "case_type_raw": type_raw,
            "state": STATE_OF.get(canonical_label(state_raw), "unknown") if state_raw else "unknown",
            "state_raw": state_raw,
            "priority": parse_priority(spec.get("priority")),
            "category": cat.strip() if cat else None,
            "subcategory": sub.strip() if sub else None,
            "short_description": first_text(spec, ("short_description",)),
            "description": first_text(spec, ("description",)),
            **{k: rfc3339(v) for k, v in times.items()},
            "service_id": service.strip() if service else None,
            "changes": None,
            "raw": orjson.Fragment(raw),
        }
        latest = max((t for t in times.values() if t), default=None)
    else:
        data = {"namespace": namespace, "name": name, "raw": orjson.Fragment(raw)}
        latest = None
    event = {
        "specversion": "1.0",
        "id": eid,
        "source": f"{API_URL}/apis/{version}/namespaces/{namespace}/{kind}",
        "type": f"net.gtt.{kind}.{action}",
        "subject": name,
        "time": rfc3339(latest or datetime.now(timezone.utc)),
        "datacontenttype": "application/json",
        "gttnamespace": namespace,
        "gttorigin": "webhook",
        "data": data,
    }
    return eid, subject, orjson.dumps(event)


@asynccontextmanager
async def lifespan(app: FastAPI):
    nc = await nats.connect(NATS_URL, name=f"fastapi-peer/{os.getpid()}", max_reconnect_attempts=-1)
    app.state.nc = nc
    app.state.js = nc.jetstream(timeout=PUBLISH_TIMEOUT)
    try:
        yield
    finally:
        await nc.drain()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

PROBLEM = "application/problem+json"


def problem(status: int, title: str, headers: dict | None = None) -> Response:
    return Response(orjson.dumps({"type": "about:blank", "title": title, "status": status}),
                    status_code=status, media_type=PROBLEM, headers=headers)


@app.get("/healthz")
async def healthz():
    return Response(b'{"status":"ok"}', media_type="application/json")


@app.get("/readyz")
async def readyz(request: Request):
    if request.app.state.nc.is_connected:
        return Response(b'{"status":"ready"}', media_type="application/json")
    return problem(503, "NATS not connected")


@app.api_route("/v1/hooks/gtt/{namespace}/{kind}/{action}/{token}", methods=["POST", "PUT"])
async def receive_callback(namespace: str, kind: str, action: str, token: str, request: Request):
    if not check_token(namespace, kind, action, token):
        return problem(401, "Unauthorized")
    body = await request.body()
    if len(body) > 1_048_576:
        return problem(413, "Payload too large")
    dead = None
    try:
        msg_id, subject, payload = build_event(namespace, kind, action, body)
        headers = {"Nats-Msg-Id": msg_id, "Content-Type": "application/cloudevents+json"}
    except DeadLetter as d:
        dead = d.reason
        msg_id = dead_letter_id(namespace, kind, action, body)
        subject = f"{PREFIX}.deadletter.{escape_token(namespace)}"
        payload = body
        headers = {"Nats-Msg-Id": msg_id, "Gtt-Deadletter-Reason": dead, "Gtt-Kind": kind, "Gtt-Action": action}
    try:
        ack = await request.app.state.js.publish(subject, payload, timeout=PUBLISH_TIMEOUT,
                                                 stream=STREAM, headers=headers)
    except Exception:  # not connected, timeout, refused: the sender retries
        return problem(503, "Service Unavailable", {"Retry-After": "5"})
    return Response(
        orjson.dumps({"id": msg_id, "subject": subject, "duplicate": bool(ack.duplicate),
                      "dead_lettered": dead is not None}),
        status_code=202, media_type="application/json")
