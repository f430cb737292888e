#!/usr/bin/env python3
"""Pre-generate realistic GTT case callbacks for the benchmark.

Writes, into OUT_DIR:
  bodies.ndjson  one compact JSON case resource per line (1-2 KB each): a few thousand distinct
                 updates of ~800 tickets, plus ~10% exact duplicates of a recent body interleaved
                 (GTT retries / double deliveries). With --size (e.g. 16k), every body is within
                 +-10 % of that size instead: the description grows with further work notes (same
                 case shape, same marker), and fewer distinct bodies and tickets are made when the
                 bodies are large (about 64 MiB of bodies at most: wrk keeps them all in memory,
                 once per thread);
  path.txt       the callback path with its capability token,
                 /v1/hooks/gtt/{ns}/case/update/{hex(HMAC-SHA256(secret, "{ns}:case:update"))};
  meta.json      counts and sizes.

Every body's description ends with the fixed-width marker "@@REV@@@" (8 bytes). The load
generators replace it with a tag naming the sender and the pass over the file ("m1p00002"), so
every pass over the file is new content (new event ids) while the duplicates inside a pass stay
exact duplicates. Without it, everything after the first pass would be a duplicate and the
benchmark would measure JetStream's dedup path instead of storing events.

Deterministic for a given --seed (no network, stdlib only).
"""

import argparse
import hashlib
import hmac
import json
import itertools
import os
import random
from datetime import datetime, timedelta

MARKER = "@@REV@@@"

STATES = ["Open", "In Progress", "Pending Customer", "Resolved", "Closed"]
PRIORITIES = ["1 - Critical", "2 - High", "3 - Moderate", "4 - Low"]
CASE_TYPES = ["Incident", "Service Request"]
CATEGORIES = {
    "Secure Network": ["Service Down", "Degraded Performance", "Packet Loss", "Configuration Change"],
    "Internet Access": ["Service Down", "Latency", "BGP Session", "IP Addressing"],
    "Ethernet": ["Link Flapping", "Service Down", "Bandwidth Upgrade", "CRC Errors"],
    "SD-WAN": ["Edge Offline", "Policy Change", "Tunnel Down", "Firmware Upgrade"],
    "Managed Security": ["Firewall Rule Change", "VPN Tunnel Down", "Threat Alert", "Certificate Renewal"],
}
SITES = ["Frankfurt DC2", "London Docklands", "Paris Pantin", "Madrid Alcobendas", "Milan Caldera",
         "Amsterdam Schiphol-Rijk", "Warsaw Mokotow", "Chicago 350 E Cermak", "Dallas Infomart",
         "Ashburn VA1", "Singapore Tai Seng", "Tokyo Otemachi"]
SYMPTOMS = [
    "The customer reports a complete loss of connectivity on the primary circuit since the last maintenance window.",
    "Intermittent packet loss between 3% and 12% is observed on the WAN interface during business hours.",
    "Round-trip latency to the regional hub has doubled; traceroute shows the detour through a backup path.",
    "The BGP session to the provider edge drops every few minutes with hold timer expiry.",
    "Interface counters show a steady increase of CRC errors on the handoff port.",
    "The customer requests a bandwidth upgrade from 500 Mbps to 1 Gbps on the access circuit.",
    "A firewall rule change is requested to allow outbound TLS to a new SaaS provider range.",
    "The SD-WAN edge appliance is reported offline in the orchestrator; local power has been confirmed.",
]
NOTES = [
    "NOC confirmed the alarm on the access router and opened a ticket with the local loop provider.",
    "Field engineer dispatched; estimated time of arrival is within the contracted four hour window.",
    "Light levels on the optical handoff are within range; the fault is isolated to the provider segment.",
    "Customer contact provided access details for the comms room and confirmed the out-of-hours window.",
    "Configuration backup taken before the change; rollback plan reviewed with the customer.",
    "Monitoring shows the service stable for the last 30 minutes after the card was reseated.",
    "Awaiting confirmation from the customer that the applications behind the site are reachable.",
    "Provider reference received from the tail circuit supplier; escalation level 2 requested.",
]


def token(secret: str, namespace: str, kind: str, action: str) -> str:
    msg = f"{namespace}:{kind}:{action}".encode()
    return hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()


def case_bodies(rng: random.Random, namespace: str, tickets: int, distinct: int, size: int | None = None):
    """`distinct` bodies: successive updates of `tickets` tickets, in a shuffled-but-plausible order."""
    base = datetime(2025, 3, 4, 8, 0, 0)
    cases = []
    for i in range(tickets):
        category = rng.choice(list(CATEGORIES))
        opened = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 30), seconds=rng.randrange(60))
        cases.append({
            "name": f"CS{rng.randrange(1_000_000, 9_999_999):07d}",
            "case_id": "%032x" % rng.getrandbits(128),
            "category": category,
            "subcategory": rng.choice(CATEGORIES[category]),
            "case_type": rng.choice(CASE_TYPES),
            "priority": rng.choice(PRIORITIES),
            "site": rng.choice(SITES),
            "symptom": rng.choice(SYMPTOMS),
            "opened": opened,
            "updated": opened,
            "state": 0,
            "notes": [],
            "i": i,
        })
    out = []
    while len(out) < distinct:
        c = rng.choice(cases)
        # Advance the ticket: usually a note, sometimes a state change (never past Closed).
        c["updated"] += timedelta(minutes=rng.randrange(1, 240), seconds=rng.randrange(60))
        if c["state"] < len(STATES) - 1 and rng.random() < 0.35:
            c["state"] += 1
        c["notes"].append(f"{c['updated']:%Y-%m-%d %H:%M} {rng.choice(NOTES)}")
        out.append(render(c, namespace, rng, size))
    return out


def render(c, namespace: str, rng: random.Random, size: int | None = None) -> str:
    state = STATES[c["state"]]
    description = (
        f"Site: {c['site']}. {c['symptom']} Impact: {rng.choice(['single site', 'multiple sites', 'degraded redundancy'])}. "
        f"Circuit {c['name'][2:]}-{c['case_id'][:6].upper()}.\n"
        + "\n".join(c["notes"][-3:])
    )
    spec = {
        "case_id": c["case_id"],
        "number": c["name"],
        "state": state,
        "priority": c["priority"],
        "case_type": c["case_type"],
        "category": c["category"],
        "subcategory": c["subcategory"],
        "short_description": f"{c['subcategory']} at {c['site']}",
        "description": description,
        "opened_at": f"{c['opened']:%Y-%m-%d %H:%M:%S}",
        "updated_at": f"{c['updated']:%Y-%m-%d %H:%M:%S}",
    }
    if state in ("Resolved", "Closed"):
        spec["resolved_at"] = spec["updated_at"]
    if state == "Closed":
        spec["closed_at"] = spec["updated_at"]
    # Pad the description to a realistic 1-2 KB body (or to about `size`) with the customer's
    # original text and further work notes. The length is tracked incrementally (one dump per
    # body, not per added line: the 256 KB bodies would take minutes otherwise).
    body = {"kind": "case", "version": "v1alpha", "namespace": namespace, "name": c["name"], "spec": spec}
    target = rng.randrange(1100, 1900) if size is None else rng.randrange(size * 9 // 10, size * 11 // 10)
    if size is not None:
        # Small sizes: fewer of the latest notes, so the body fits its target.
        head, notes = description.split("\n", 1)[0] + "\n", c["notes"][-3:]
        while len(notes) > 1 and len(dump(body).encode()) + len(MARKER) + 16 > target:
            notes = notes[1:]
            spec["description"] = head + "\n".join(notes)
    filler = itertools.cycle(rng.sample(SYMPTOMS + NOTES, len(SYMPTOMS + NOTES)))
    length = len(dump(body).encode())
    while length + len(MARKER) + 16 < target:
        line = "\n" + next(filler)
        grows = len(dump(line).encode()) - 2  # the JSON text of the line, without its quotes
        if size is not None and length + grows + len(MARKER) + 16 > target:
            # the last line is cut to land on the target (the filler is ASCII: a char is a byte)
            line = line[:max(1, target - length - len(MARKER) - 16 - 1)]
            grows = len(dump(line).encode()) - 2
        spec["description"] += line
        length += grows
    spec["description"] += f"\nBench-Ref: {MARKER}"
    return dump(body)


def dump(v) -> str:
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def parse_size(text: str) -> int:
    """"16k" -> 16384, "1m" -> 1048576, "1500" -> 1500."""
    t = text.strip().lower()
    scale = {"k": 1 << 10, "m": 1 << 20}.get(t[-1:], 1)
    try:
        n = int(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 1k, 16k, 256k)")
    if n < 1:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out_dir")
    p.add_argument("--secret", required=True)
    p.add_argument("--namespace", default="142033")
    p.add_argument("--size", type=parse_size,
                   help="bodies of about this many bytes (+-10 %%; suffix k = 1024), e.g. 1k, 16k, 256k; "
                        "default: 1-2 KB")
    p.add_argument("--distinct", type=int,
                   help="distinct bodies (default 4000; with --size, fewer for large bodies: ~64 MiB in all)")
    p.add_argument("--tickets", type=int, help="tickets they update (default distinct / 5)")
    p.add_argument("--dup-share", type=float, default=0.10)
    p.add_argument("--seed", type=int, default=20250304)
    a = p.parse_args()

    if a.distinct is None:
        a.distinct = 4000 if a.size is None else max(100, min(4000, (64 << 20) // a.size))
    if a.tickets is None:
        a.tickets = max(1, a.distinct // 5)
    rng = random.Random(a.seed)
    distinct = case_bodies(rng, a.namespace, a.tickets, a.distinct, a.size)
    # Interleave exact duplicates: a copy of a body sent shortly before (1-40 positions back), as
    # a retry or a double delivery would arrive, often while the original is still in flight.
    lines = []
    for body in distinct:
        lines.append(body)
        if rng.random() < a.dup_share / (1 - a.dup_share) and len(lines) > 1:
            lines.append(lines[-rng.randrange(1, min(40, len(lines)) + 1)])
    sizes = [len(s.encode()) for s in lines]
    lo, hi = (1024, 2048) if a.size is None else (a.size * 85 // 100, a.size * 115 // 100)
    if min(sizes) < lo or max(sizes) > hi:
        raise SystemExit(f"bodies of {min(sizes)}-{max(sizes)} bytes, outside {lo}-{hi}: "
                         "--size too small for a case body?")
    assert all(s.count(MARKER) == 1 for s in lines)

    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, "bodies.ndjson"), "w", encoding="utf-8") as f:
        for s in lines:
            f.write(s + "\n")
    path = f"/v1/hooks/gtt/{a.namespace}/case/update/{token(a.secret, a.namespace, 'case', 'update')}"
    with open(os.path.join(a.out_dir, "path.txt"), "w") as f:
        f.write(path + "\n")
    meta = {
        "bodies": len(lines),
        "distinct": len(set(lines)),
        "duplicates": len(lines) - len(set(lines)),
        "bytes_min": min(sizes),
        "bytes_mean": round(sum(sizes) / len(sizes)),
        "bytes_max": max(sizes),
        "bytes_total": sum(sizes),
        "size": a.size,
        "namespace": a.namespace,
        "marker": MARKER,
    }
    with open(os.path.join(a.out_dir, "meta.json"), "w") as f:
        json.dump(meta, f)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
