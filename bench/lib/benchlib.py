#!/usr/bin/env python3
"""Helpers for bench/run (run with bench/.venv's python; only create-stream needs nats-py).

  free-port                                   print a free TCP port on 127.0.0.1
  wait-http URL [--timeout S] [--pid PID]     wait for a 200 (fails early if PID dies)
  create-stream --url U --stream S            (re)create the benchmark stream
  stream-msgs --monitor URL --stream S        messages in the stream (NATS monitoring /jsz)
  wait-conns --monitor URL --min N            wait until NATS has >= N client connections
  cpu PID                                     utime+stime seconds of PID and its descendants
  busy [SECONDS]                              cores busy machine-wide over SECONDS
  snapshot OUT --roots PID...                 machine busy time + every process's CPU time
  rss PID                                     VmRSS of PID and its descendants, KiB
  sample PID OUT                              sample the tree's VmRSS every 100 ms until
                                              SIGTERM/SIGINT; write peak + VmHWM to OUT (JSON)
  series PID OUT [--interval S]               append "seconds rss_kib" to OUT every S (1) seconds
                                              until SIGTERM/SIGINT or PID exits (the soak)
  step ...                                    assemble one step's result (+ loss check)
  machine OUT                                 machine and version facts (JSON)
  report RUN_DIR OUT_MD                       render the markdown report from RUN_DIR/steps/*.json
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- processes


def children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                data = f.read()
        except OSError:
            continue
        # the command name may hold spaces and parentheses: split after the last ')'
        rest = data[data.rindex(")") + 2:].split()
        pid = int(stat.split("/")[2])
        kids.setdefault(int(rest[1]), []).append(pid)
    return kids


def tree(pid: int) -> list[int]:
    kids = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                rest = f.read().rsplit(")", 1)[1].split()
            total += int(rest[11]) + int(rest[12])  # utime, stime (fields 14, 15)
        except (OSError, IndexError):
            pass
    return total / CLK_TCK


def status_kib(pid: int, key: str, pids: list[int] | None = None) -> int:
    total = 0
    for p in pids if pids is not None else tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ---------------------------------------------------------------- commands


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine spent busy (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def cmd_snapshot(a) -> None:
    """Machine busy time and every process's CPU time, to find out who else used the cores."""
    ours = set()
    for root in a.roots:
        ours.update(tree(root))
    ours.update({os.getpid(), os.getppid()})
    procs = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                data = f.read()
        except OSError:
            continue
        comm = data[data.index("(") + 1:data.rindex(")")]
        rest = data[data.rindex(")") + 2:].split()
        procs[stat.split("/")[2]] = [comm, (int(rest[11]) + int(rest[12])) / CLK_TCK]
    with open(a.out, "w") as f:
        json.dump({"busy_s": machine_busy_seconds(), "time": time.time(), "ours": sorted(ours),
                   "procs": procs}, f)


def other_load(snap0: str, snap1: str) -> tuple[float, list[list]]:
    """(machine busy cores, top other processes [comm, cores]) between two snapshots."""
    a, b = json.load(open(snap0)), json.load(open(snap1))
    secs = b["time"] - a["time"]
    ours = {str(p) for p in a["ours"] + b["ours"]}
    others = []
    for pid, (comm, cpu) in b["procs"].items():
        if pid in ours or pid not in a["procs"] or a["procs"][pid][0] != comm:
            continue
        used = (cpu - a["procs"][pid][1]) / secs
        if used >= 0.02:
            others.append([f"{comm}[{pid}]", round(used, 2)])
    others.sort(key=lambda x: -x[1])
    return (b["busy_s"] - a["busy_s"]) / secs, others[:5]


def cmd_busy(a) -> None:
    """Cores busy on the whole machine over the next SECONDS (before starting: is it quiet?)."""
    b0, t0 = machine_busy_seconds(), time.monotonic()
    time.sleep(a.seconds)
    print(f"{(machine_busy_seconds() - b0) / (time.monotonic() - t0):.2f}")


def cmd_free_port(_a) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        print(s.getsockname()[1])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def cmd_wait_http(a) -> None:
    deadline = time.monotonic() + a.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if a.pid and not os.path.exists(f"/proc/{a.pid}"):
            sys.exit(f"process {a.pid} exited while waiting for {a.url}")
        try:
            status, body = http_get(a.url)
            if status == 200:
                return
            last = f"{status} {body[:200]!r}"
        except OSError as e:
            last = str(e)
        time.sleep(0.1)
    sys.exit(f"{a.url} not ready after {a.timeout}s: {last}")


def cmd_create_stream(a) -> None:
    import asyncio

    import nats
    from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig

    async def run() -> None:
        nc = await nats.connect(a.url)
        js = nc.jetstream()
        try:
            await js.delete_stream(a.stream)
        except Exception:
            pass
        # The gateway's own stream shape (src/nats/provision.rs, stream_config), for every system.
        await js.add_stream(StreamConfig(
            name=a.stream,
            subjects=[a.subjects],
            storage=StorageType.FILE,
            retention=RetentionPolicy.LIMITS,
            discard=DiscardPolicy.OLD,
            duplicate_window=a.duplicate_window,
            max_age=a.max_age,
            num_replicas=1,
            description="GTT EnvisionDX events (benchmark)",
        ))
        info = await js.stream_info(a.stream)
        assert info.state.messages == 0, info.state
        await nc.close()

    asyncio.run(run())


def stream_msgs(monitor: str, stream: str) -> int:
    status, body = http_get(f"{monitor}/jsz?streams=true", timeout=10)
    if status != 200:
        sys.exit(f"/jsz answered {status}")
    jsz = json.loads(body)
    for account in jsz.get("account_details") or []:
        for s in account.get("stream_detail") or []:
            if s.get("name") == stream:
                return int(s["state"]["messages"])
    sys.exit(f"stream {stream} not found in /jsz")


def cmd_stream_msgs(a) -> None:
    print(stream_msgs(a.monitor, a.stream))


def cmd_loss_check(a) -> None:
    """Read every message's Nats-Msg-Id from the stream; compare with the ids answered 2xx."""
    import asyncio

    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

    answered: set[str] = set()
    for path in a.ids:
        answered |= read_ids(path)

    async def run() -> tuple[int, set[str]]:
        nc = await nats.connect(a.url)
        js = nc.jetstream(timeout=30)
        total = (await js.stream_info(a.stream)).state.messages
        sub = await js.pull_subscribe(a.subjects, stream=a.stream, config=ConsumerConfig(
            ack_policy=AckPolicy.NONE, headers_only=True, deliver_policy=DeliverPolicy.ALL))
        stored: set[str] = set()
        seen = 0
        while seen < total:
            for m in await sub.fetch(10000, timeout=10):
                stored.add((m.headers or {}).get("Nats-Msg-Id", ""))
                seen += 1
        others = {i.config.name: i.state.messages for i in await js.streams_info()
                  if i.config.name != a.stream}
        await nc.close()
        return total, stored, others

    total, stored, others = asyncio.run(run())
    result = {
        "stream_msgs": total,
        "stream_distinct_ids": len(stored),
        "answered_ids": len(answered),
        "lost": len(answered - stored),
        "stored_unanswered": len(stored - answered),
        "other_streams": others,
    }
    with open(a.out, "w") as f:
        json.dump(result, f)
    print(json.dumps(result))


def cmd_wait_conns(a) -> None:
    deadline = time.monotonic() + a.timeout
    n = 0
    while time.monotonic() < deadline:
        try:
            _, body = http_get(f"{a.monitor}/varz")
            n = json.loads(body).get("connections", 0)
            if n >= a.min:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    sys.exit(f"only {n} NATS connections after {a.timeout}s (wanted {a.min})")


def cmd_cpu(a) -> None:
    print(f"{cpu_seconds(a.pid):.2f}")


def cmd_rss(a) -> None:
    print(status_kib(a.pid, "VmRSS"))


def cmd_sample(a) -> None:
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    peak, samples, hwm = 0, 0, 0
    while not stop and os.path.exists(f"/proc/{a.pid}"):
        pids = tree(a.pid)
        peak = max(peak, status_kib(a.pid, "VmRSS", pids))
        hwm = max(hwm, status_kib(a.pid, "VmHWM", pids))
        samples += 1
        time.sleep(0.1)
    with open(a.out, "w") as f:
        json.dump({"peak_rss_kib": peak, "hwm_kib": hwm, "samples": samples}, f)


def cmd_series(a) -> None:
    """VmRSS of the tree every interval, one line per sample, flushed: a soak cut short keeps
    what it sampled. Samples are taken on a fixed schedule (no drift from the sampling time)."""
    stop = False

    def on_signal(*_):
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    t0 = time.monotonic()
    n = 0
    with open(a.out, "w") as f:
        while not stop and os.path.exists(f"/proc/{a.pid}"):
            f.write(f"{time.monotonic() - t0:.3f} {status_kib(a.pid, 'VmRSS')}\n")
            f.flush()
            n += 1
            pause = t0 + n * a.interval - time.monotonic()
            if pause > 0:
                time.sleep(pause)


def rss_trend(path: str, skip: float, end: float | None = None) -> dict:
    """Least-squares slope of RSS over the samples from `skip` to `end` seconds (the load's end:
    the sampler stops a moment later), and min/max."""
    pts = []
    for line in open(path):
        parts = line.split()
        if len(parts) == 2 and int(parts[1]) > 0 and (end is None or float(parts[0]) <= end + 0.5):
            pts.append((float(parts[0]), int(parts[1])))
    out = {"samples": len(pts), "skip_s": skip}
    if not pts:
        return out
    kib = [k for _, k in pts]
    out.update({"rss_min_kib": min(kib), "rss_max_kib": max(kib), "rss_first_kib": kib[0],
                "rss_last_kib": kib[-1], "span_s": pts[-1][0] - pts[0][0]})
    fit = [(t, k) for t, k in pts if t >= skip]
    out["fit_samples"] = len(fit)
    if len(fit) >= 2:
        n = len(fit)
        mt = sum(t for t, _ in fit) / n
        mk = sum(k for _, k in fit) / n
        stt = sum((t - mt) ** 2 for t, _ in fit)
        if stt > 0:
            slope = sum((t - mt) * (k - mk) for t, k in fit) / stt  # KiB per second
            out["slope_mib_per_h"] = slope * 3600 / 1024
        fk = [k for _, k in fit]
        out.update({"fit_min_kib": min(fk), "fit_max_kib": max(fk), "fit_span_s": fit[-1][0] - fit[0][0]})
    return out


def read_ids(path: str) -> set[str]:
    if not path or not os.path.exists(path):
        return set()
    with open(path) as f:
        return {line.strip() for line in f if line.strip()}


def read_times(path: str | None) -> tuple[float, float, float] | None:
    """bash `time` output with TIMEFORMAT="%3U %3S %3R": (user, sys, real) seconds."""
    try:
        user, sys_, real = (float(x) for x in open(path).read().split()[-3:])
        return (user, sys_, real) if real > 0 else None
    except (TypeError, OSError, ValueError):
        return None


def cmd_step(a) -> None:
    """One row: read wrk's (or bench_nats') results, do the loss check, write the step JSON."""
    step = {"system": a.system, "label": a.label, "concurrency": a.concurrency, "row": a.row,
            "duration_nominal_s": a.duration, "crashed": bool(a.crashed), "notes": a.note or []}
    if a.size:
        step["size"] = a.size
    if a.data_meta and os.path.exists(a.data_meta):
        meta = json.load(open(a.data_meta))
        step["bodies"] = {k: meta.get(k) for k in ("bodies", "distinct", "bytes_min", "bytes_mean", "bytes_max")}
    load = json.load(open(a.load_json)) if a.load_json and os.path.exists(a.load_json) else None
    if load is None:
        step["crashed"] = True
        step["notes"].append("no load-generator result")
    elif a.system == "nats":
        step.update({
            "duration_s": load["duration_s"], "accepted": load["acked"],
            "accepted_per_s": load["acked_per_s"], "non2xx": load["errors"], "socket_errors": 0,
            "duplicates": load["duplicates"],
            "latency_ms": {k: load.get(f"{k}_ms") for k in ("p50", "p90", "p99", "max")},
            "distinct_ids": load["distinct_ids"],
        })
    else:
        dur = load["duration_us"] / 1e6
        lat = load["latency_us"]
        errs = load["errors"]
        ids = read_ids(a.ids) | read_ids(a.warm_ids)
        step.update({
            "duration_s": dur, "requests": load["requests"], "accepted": load["ok"],
            "accepted_per_s": load["ok"] / dur if dur else 0.0,
            "non2xx": load["non2xx"], "non2xx_by_status": load["non2xx_by_status"],
            "socket_errors": errs["connect"] + errs["read"] + errs["write"] + errs["timeout"],
            "socket_errors_detail": errs,
            "latency_ms": {k: lat[k] / 1000 for k in ("p50", "p90", "p99", "max")},
            "latency_ms_extra": {k: lat[k] / 1000 for k in ("mean", "p75", "p999")},
            "distinct_ids": len(ids), "distinct_ids_measured": load["distinct_ids"],
            "passes": load["passes"], "delay_ms": load.get("delay_ms", 0),
        })
        if load.get("body_bytes") is not None and dur:
            step["body_bytes"] = load["body_bytes"]
            step["body_mb_per_s"] = load["body_bytes"] / dur / 1e6
        if a.warm_json and os.path.exists(a.warm_json):
            warm = json.load(open(a.warm_json))
            step["warmup"] = {"requests": warm["requests"], "ok": warm["ok"], "non2xx": warm["non2xx"]}
    step["loss_ok"] = False
    if a.loss_json and os.path.exists(a.loss_json) and "distinct_ids" in step:
        # Every id answered 2xx must be in the stream (lost == 0), the stream holds each id once,
        # and any stored-but-unanswered event is explained by a callback that got no 2xx: cut
        # off in flight when wrk stopped (at most one per connection per wrk run), or answered
        # non-2xx / timed out although JetStream stored it (the sender's retry would dedup).
        loss = json.load(open(a.loss_json))
        warm = step.get("warmup", {})
        allowance = 2 * a.concurrency + step["non2xx"] + warm.get("non2xx", 0) + step["socket_errors"]
        step.update({"stream_msgs": loss["stream_msgs"], "lost": loss["lost"],
                     "stored_unanswered": loss["stored_unanswered"], "unanswered_allowance": allowance})
        if loss.get("other_streams"):
            step["notes"].append("other streams after the step (messages): " + ", ".join(
                f"{k} {v:,}" for k, v in sorted(loss["other_streams"].items())))
        step["loss_ok"] = (loss["lost"] == 0 and loss["stream_distinct_ids"] == loss["stream_msgs"]
                           and loss["stored_unanswered"] <= allowance)
    elif a.stream_msgs is not None and "distinct_ids" in step:
        # bench_nats awaits every publish it started: exact equality.
        step["stream_msgs"] = a.stream_msgs
        step["lost"] = max(0, step["distinct_ids"] - a.stream_msgs)
        step["stored_unanswered"] = max(0, a.stream_msgs - step["distinct_ids"])
        step["loss_ok"] = step["distinct_ids"] == a.stream_msgs
    if a.cpu1 is not None and a.cpu0 is not None and step.get("duration_s"):
        step["cpu_s"] = a.cpu1 - a.cpu0
        step["cores"] = step["cpu_s"] / step["duration_s"]
    times = read_times(a.wrk_cpu)
    window = step.get("duration_s")
    if a.system == "nats" and times:
        window = times[2]  # bench_nats' whole run (warm-up included)
    if a.nats_cpu1 is not None and a.nats_cpu0 is not None and window:
        step["nats_cores"] = (a.nats_cpu1 - a.nats_cpu0) / window
    if a.peak_json and os.path.exists(a.peak_json):
        peak = json.load(open(a.peak_json))
        step["peak_rss_kib"] = peak["peak_rss_kib"]
        step["hwm_kib"] = peak["hwm_kib"]
    step["idle_rss_kib"] = a.idle_rss
    if a.server_log and os.path.exists(a.server_log):
        # Both servers log at warning level here: every line is a warning or an error.
        lines = [l.strip() for l in open(a.server_log, errors="replace") if l.strip()]
        if lines:
            step["notes"].append(f"server log: {len(lines)} warning/error line(s), first: {lines[0][:300]}")
    if times:
        user, sys_, real = times
        step["loadgen_cores"] = (user + sys_) / real
    # CPU per accepted event: the server's (its process tree, measured window) and nats-server's
    # (for NATS alone over bench_nats' whole run: cores / rate, the same quotient).
    if step.get("cpu_s") is not None and step.get("accepted"):
        step["cpu_us_per_event"] = step["cpu_s"] / step["accepted"] * 1e6
    if step.get("nats_cores") is not None and step.get("accepted_per_s"):
        step["nats_us_per_event"] = step["nats_cores"] / step["accepted_per_s"] * 1e6
    if a.series and os.path.exists(a.series):
        step["rss_trend"] = rss_trend(a.series, a.series_skip, a.duration)
    if a.snap0 and a.snap1 and os.path.exists(a.snap0) and os.path.exists(a.snap1):
        busy, others = other_load(a.snap0, a.snap1)
        step["machine_busy_cores"] = busy
        step["other_processes"] = others
        known = step.get("cores", 0) + step.get("nats_cores", 0) + step.get("loadgen_cores", 0)
        step["unattributed_cores"] = busy - known
    with open(a.out, "w") as f:
        json.dump(step, f, indent=1)
    print(f"  {a.label} c={a.concurrency}{' ' + a.size if a.size else ''}: "
          + (f"{step.get('accepted_per_s', 0):.0f} accepted/s, p99 {step.get('latency_ms', {}).get('p99')} ms, "
             f"non-2xx {step.get('non2xx')}, loss check "
             f"{'ok' if step['loss_ok'] else 'FAILED'} ({step.get('distinct_ids')} ids answered, {step.get('stream_msgs')} msgs "
             f"stored, {step.get('lost')} lost, {step.get('stored_unanswered')} stored unanswered)"
             if not step["crashed"] else "CRASHED"))
    if step["crashed"] or not step["loss_ok"]:
        sys.exit(3)


def run_out(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def cmd_machine(a) -> None:
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    from importlib import metadata

    def ver(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "?"

    facts = {
        "nproc": os.cpu_count() and run_out(["nproc"]),
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "cpu_model": model,
        "kernel": platform.release(),
        "os": run_out(["sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"]),
        "rustc": run_out(["rustc", "--version"]),
        "nats_server": run_out([os.environ.get("NATS_SERVER_BIN", "nats-server"), "--version"]),
        "wrk": run_out(["sh", "-c", "wrk -v 2>&1 | head -1"]),
        "python": platform.python_version(),
        "fastapi": ver("fastapi"), "uvicorn": ver("uvicorn"), "uvloop": ver("uvloop"),
        "httptools": ver("httptools"), "nats_py": ver("nats-py"), "orjson": ver("orjson"),
        "gateway_rev": a.rev,
    }
    with open(a.out, "w") as f:
        json.dump(facts, f, indent=1)


# ---------------------------------------------------------------- report

SYSTEM_ORDER = {"gateway": 0, "bare": 1, "peer": 2, "nats": 3}
ROW_ORDER = {"main": 0, "size": 1, "soak": 2}
NAMES = {"gateway": "gtt-gateway", "bare": "bare pipeline", "peer": "FastAPI peer", "nats": "NATS alone"}

# Issue 13's targets (bench/README.md, "Targets").
TARGET_VS_BARE = 0.9           # gateway / bare, accepted events/s, at each of these steps:
TARGET_VS_BARE_STEPS = (64, 256)
TARGET_P99 = (64, 10.0)        # (connections, ms): gateway p99
TARGET_PEAK = (256, 32)        # (connections, MiB): gateway peak RSS
TARGET_IDLE_MIB = 16           # gateway idle RSS, every gateway row


def fmt_ms(v) -> str:
    return "-" if v is None else (f"{v:.2f}" if v < 10 else f"{v:.1f}")


def fmt_mib(kib) -> str:
    return "-" if not kib else f"{kib / 1024:.1f}"


def fmt_cores(v) -> str:
    return "-" if v is None else f"{v:.2f}"


def fmt_us(v) -> str:
    return "-" if v is None else (f"{v:.1f}" if v < 10 else f"{v:,.0f}")


def size_key(s) -> int:
    """Size rows in the order of their body size; other rows keep theirs."""
    return (s.get("bodies") or {}).get("bytes_mean") or 0 if s.get("row") == "size" else 0


def row_name(s) -> str:
    name = NAMES.get(s["system"], s["system"])
    if s.get("row") == "size":
        name += f", {s.get('size')} bodies"
    elif s.get("row") == "soak":
        name += ", soak"
    return name


def non2xx_cell(s) -> str:
    cell = str(s.get("non2xx", "-"))
    if s.get("socket_errors"):
        cell += f" (+{s['socket_errors']} socket errors)"
    return cell


def loss_cell(s) -> str:
    cell = "ok" if s.get("loss_ok") else "**FAILED**"
    return cell + (", **CRASHED**" if s.get("crashed") else "")


def ratio_value(by, c, a="gateway", b="bare"):
    x, y = by.get((a, c)), by.get((b, c))
    if not x or not y or not y.get("accepted_per_s") or "accepted_per_s" not in x:
        return None
    return x["accepted_per_s"] / y["accepted_per_s"]


def ratio(by, c, a="gateway", b="bare") -> str:
    r = ratio_value(by, c, a, b)
    return "-" if r is None else f"{r:.2f}x"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def cmd_report(a) -> None:
    steps = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(a.run_dir, "steps", "*.json")))]
    machine = json.load(open(os.path.join(a.run_dir, "machine.json")))
    params = json.load(open(os.path.join(a.run_dir, "params.json")))
    for s in steps:
        s.setdefault("row", "main")
    steps.sort(key=lambda s: (ROW_ORDER.get(s["row"], 9), size_key(s), s["concurrency"],
                              SYSTEM_ORDER.get(s["system"], 9)))
    main = [s for s in steps if s["row"] == "main"]
    sized = [s for s in steps if s["row"] == "size"]
    soaks = [s for s in steps if s["row"] == "soak"]
    by = {(s["system"], s["concurrency"]): s for s in main}
    concs = sorted({s["concurrency"] for s in main})
    systems = {s["system"] for s in steps}

    L = [f"# gtt-gateway benchmark, {params['started']}", ""]
    L.append(f"- Machine: `nproc` = {machine['nproc']}, {machine['mem_gib']} GiB, CPU {machine['cpu_model']}; "
             f"{machine['os']}, kernel {machine['kernel']}.")
    L.append(f"- Versions: gateway `{machine['gateway_rev']}`, {machine['rustc']}, {machine['nats_server']}, "
             f"wrk {machine['wrk'].split(' [')[0].replace('wrk ', '')}; Python {machine['python']}, "
             f"FastAPI {machine['fastapi']}, uvicorn {machine['uvicorn']} (uvloop {machine['uvloop']}, "
             f"httptools {machine['httptools']}), nats-py {machine['nats_py']}, orjson {machine['orjson']}.")
    if main or sized:
        L.append(f"- Duration: {params['duration']} s measured per row, after a {params['warmup']} s warm-up; "
                 f"wrk {params['threads']} threads, `--latency`; fresh nats-server (file store) and stream per row.")
    if soaks:
        rate = params.get("soak_rate")
        L.append(f"- Soak: the gateway for {params.get('soak')} s at {params.get('soak_conns')} connections, "
                 + (f"paced to at most ~{rate} callbacks/s" if rate else "unpaced (closed loop at full speed)")
                 + "; fresh nats-server and stream; VmRSS sampled every second.")
    meta_path = os.path.join(a.run_dir, "data", "meta.json")
    if main and os.path.exists(meta_path):
        meta = json.load(open(meta_path))
        L.append(f"- Load: {meta['bodies']} pre-generated case callbacks ({meta['distinct']} distinct + "
                 f"{meta['duplicates']} exact duplicates interleaved, {meta['bytes_min']}-{meta['bytes_max']} B, "
                 f"mean {meta['bytes_mean']} B), stamped per pass so every pass is new content.")
    if "bare" in systems:
        L.append("- Bare pipeline: bench/src/bin/bare.rs (axum route, constant-time token check, the body "
                 "published as is with `Nats-Msg-Id`, PubAck awaited, 202; no parsing, state, metrics or logs).")
    if "peer" in systems:
        L.append(f"- Peer: `uvicorn --workers {params['workers']} --loop uvloop --http httptools --no-access-log`.")
    L.append("")

    if main:
        L.append("| conns | system | accepted ev/s | p50 ms | p90 ms | p99 ms | max ms | non-2xx | peak RSS MiB "
                 "| idle RSS MiB | CPU cores | server CPU us/ev | nats-server CPU us/ev | loss check |")
        L.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for s in main:
            if "accepted_per_s" not in s:
                L.append(f"| {s['concurrency']} | {row_name(s)} | CRASHED | | | | | | | | | | | **FAILED** |")
                continue
            lat = s.get("latency_ms", {})
            L.append(
                f"| {s['concurrency']} | {row_name(s)} | {s['accepted_per_s']:,.0f} | {fmt_ms(lat.get('p50'))} "
                f"| {fmt_ms(lat.get('p90'))} | {fmt_ms(lat.get('p99'))} | {fmt_ms(lat.get('max'))} "
                f"| {non2xx_cell(s)} | {fmt_mib(s.get('peak_rss_kib'))} | {fmt_mib(s.get('idle_rss_kib'))} "
                f"| {fmt_cores(s.get('cores'))} | {fmt_us(s.get('cpu_us_per_event'))} "
                f"| {fmt_us(s.get('nats_us_per_event'))} | {loss_cell(s)} |")
        L.append("")
        if {"gateway", "bare"} <= systems:
            L.append("Gateway / bare pipeline, accepted events/s: " + ", ".join(
                f"**{ratio(by, c)}** at {c} connections" for c in concs) + ".")
        if {"gateway", "peer"} <= systems:
            L.append("Gateway / FastAPI peer, accepted events/s (information, no target): " + ", ".join(
                f"{ratio(by, c, 'gateway', 'peer')} at {c} connections" for c in concs) + ".")
        L.append("")

    L.extend(targets_section(steps, by))
    if sized:
        L.extend(sizes_section(sized))
    if soaks:
        L.extend(soak_section(soaks))

    L.append("## Where the 2 cores went (measured window, cores = CPU seconds / second)")
    L.append("")
    L.append("| conns | system | server | nats-server | load generator | unattributed | machine busy | busiest other processes |")
    L.append("|---:|---|---:|---:|---:|---:|---:|---|")
    for s in steps:
        others = ", ".join(f"{n} {c:.2f}" for n, c in s.get("other_processes", [])) or "-"
        L.append(f"| {s['concurrency']} | {row_name(s)} | {fmt_cores(s.get('cores'))} "
                 f"| {fmt_cores(s.get('nats_cores'))} | {fmt_cores(s.get('loadgen_cores'))} "
                 f"| {fmt_cores(s.get('unattributed_cores'))} | {fmt_cores(s.get('machine_busy_cores'))} | {others} |")
    L.append("")
    L.append("Unattributed = machine busy - the three columns before it: kernel softirq time of the "
             "loopback traffic, this script's samplers, and anything else running on the machine. "
             "The NATS-alone row covers bench_nats' whole run (warm-up included); its load generator "
             "is the Rust client.")
    L.append("")

    L.append("## Loss check")
    L.append("")
    L.append("| conns | system | ids answered 2xx | messages stored | lost | stored but unanswered | allowed | |")
    L.append("|---:|---|---:|---:|---:|---:|---:|---|")
    for s in steps:
        if s.get("stream_msgs") is None:
            L.append(f"| {s['concurrency']} | {row_name(s)} | | | | | | **FAILED** (no data) |")
            continue
        allowed = s.get("unanswered_allowance")
        L.append(f"| {s['concurrency']} | {row_name(s)} | {s.get('distinct_ids', 0):,} | {s['stream_msgs']:,} "
                 f"| {s.get('lost')} | {s.get('stored_unanswered')} | {'-' if allowed is None else allowed} "
                 f"| {'ok' if s['loss_ok'] else '**FAILED**'} |")
    L.append("")
    L.append("Ids answered 2xx cover the warm-up and the measured run (distinct `id`s of the 202 answers, "
             "duplicates counted once). Lost = answered 2xx but not in the stream (read back by "
             "`Nats-Msg-Id`): must be 0. Stored but unanswered = callbacks wrk cut off in flight when "
             "it stopped (at most one per connection per wrk run) or answered non-2xx although "
             "JetStream stored them; the check fails beyond that allowance. NATS alone awaits every "
             "publish it started, so there answered must equal stored exactly.")
    L.append("")

    L.append("## How to read")
    L.append("")
    L.append("Accepted ev/s = 2xx answers / measured seconds (a duplicate answered 202 counts: it is an "
             "accepted delivery). Latency: wrk's distribution, closed loop (each connection sends its "
             "next callback when the previous answer arrives), so at saturation latency ~= "
             "connections / throughput. Peak RSS: highest VmRSS of the server's process tree, sampled "
             "every 100 ms (gateway and bare: one process; peer: uvicorn master + workers); idle RSS: "
             "before any load. CPU cores = (utime+stime of the tree) / measured seconds. Server CPU "
             "us/ev = the server's CPU seconds over the measured window / accepted events x 10^6; "
             "nats-server CPU us/ev the same for nats-server (the gateway also writes each case's "
             "state to its key-value bucket: a second message per event; the bare pipeline and the peer "
             "do not). The bare pipeline publishes the raw body (~1.5 KB), the gateway and the peer a "
             "CloudEvent about 3.4 times that size (the normalized case, the `raw` copy and, for an update, the old and new value of "
             "every changed field: 5.3 KB on average for these bodies, from `gtt-bench --bin core`). NATS alone: bench/src/bin/bench_nats.rs, N JetStream "
             "publishes in flight awaiting each PubAck, the raw bodies as payload, no HTTP; its "
             "nats-server us/ev covers warm-up and measurement (cores / rate). wrk, nats-server and the "
             "server share the machine's cores: see bench/README.md.")
    extra = []
    for s in steps:
        where = f"{row_name(s)} at {s['concurrency']}"
        if s.get("non2xx_by_status"):
            extra.append(f"- {where}: non-2xx by status {s['non2xx_by_status']}")
        if s.get("socket_errors"):
            extra.append(f"- {where}: socket errors {s.get('socket_errors_detail')}")
        if (s.get("unattributed_cores") or 0) > 0.3:
            extra.append(f"- {where}: {s['unattributed_cores']:.2f} cores "
                         "busy outside the benchmark's processes; this row is disturbed.")
        for n in s.get("notes", []):
            extra.append(f"- {where}: {n}")
    if extra:
        L.append("")
        L.append("## Notes")
        L.append("")
        L.extend(extra)
    text = "\n".join(L) + "\n"
    with open(a.out_md, "w") as f:
        f.write(text)
    print(text)


def targets_section(steps, by) -> list[str]:
    """Issue 13's targets, met / not met; a target whose row did not run says so."""
    L = ["## Targets", "", "| target | measured | |", "|---|---|---|"]
    not_run = "not run in this report"
    for c in TARGET_VS_BARE_STEPS:
        r = ratio_value(by, c)
        if r is None:
            L.append(f"| gateway >= {TARGET_VS_BARE}x bare pipeline at {c} conns | {not_run} | - |")
        else:
            L.append(f"| gateway >= {TARGET_VS_BARE}x bare pipeline at {c} conns | {r:.2f}x "
                     f"({by[('gateway', c)]['accepted_per_s']:,.0f} / {by[('bare', c)]['accepted_per_s']:,.0f} ev/s) "
                     f"| {verdict(r >= TARGET_VS_BARE)} |")
    c, ms = TARGET_P99
    g = by.get(("gateway", c))
    if g and g.get("latency_ms"):
        L.append(f"| gateway p99 <= {ms:g} ms at {c} conns | {fmt_ms(g['latency_ms']['p99'])} ms "
                 f"| {verdict(g['latency_ms']['p99'] <= ms)} |")
    else:
        L.append(f"| gateway p99 <= {ms:g} ms at {c} conns | {not_run} | - |")
    c, mib = TARGET_PEAK
    g = by.get(("gateway", c))
    if g and g.get("peak_rss_kib"):
        L.append(f"| gateway peak RSS <= {mib} MiB at {c} conns | {fmt_mib(g['peak_rss_kib'])} MiB "
                 f"| {verdict(g['peak_rss_kib'] <= mib * 1024)} |")
    else:
        L.append(f"| gateway peak RSS <= {mib} MiB at {c} conns | {not_run} | - |")
    idle = [s for s in steps if s["system"] == "gateway" and s.get("idle_rss_kib")]
    if idle:
        worst = max(idle, key=lambda s: s["idle_rss_kib"])
        L.append(f"| gateway idle RSS <= {TARGET_IDLE_MIB} MiB (every gateway row) | "
                 f"{fmt_mib(worst['idle_rss_kib'])} MiB (highest, {row_name(worst)} at {worst['concurrency']}) "
                 f"| {verdict(worst['idle_rss_kib'] <= TARGET_IDLE_MIB * 1024)} |")
    else:
        L.append(f"| gateway idle RSS <= {TARGET_IDLE_MIB} MiB | {not_run} | - |")
    lost = [f"{row_name(s)} at {s['concurrency']}" for s in steps if not s.get("loss_ok")]
    L.append(f"| 0 lost (every row) | {'none lost' if not lost else 'FAILED: ' + ', '.join(lost)} "
             f"| {verdict(not lost)} |")
    bad = [f"{row_name(s)} at {s['concurrency']}: {non2xx_cell(s)}" for s in steps
           if "non2xx" not in s or s["non2xx"] + s.get("socket_errors", 0) > 0]
    L.append(f"| 0 non-2xx, 0 socket errors (every row) | {'none' if not bad else '; '.join(bad)} "
             f"| {verdict(not bad)} |")
    for s in steps:
        trend = s.get("rss_trend") or {}
        if s["row"] == "soak" and trend.get("slope_mib_per_h") is not None:
            L.append(f"| gateway RSS flat over the soak (information, no threshold) "
                     f"| {trend['slope_mib_per_h']:+.2f} MiB/h | - |")
    L.append("")
    return L


def sizes_section(sized) -> list[str]:
    conns = sorted({s["concurrency"] for s in sized})
    L = ["## Body sizes", ""]
    L.append(f"At {', '.join(map(str, conns))} connections, the same warm-up and duration, a fresh server and "
             "stream per row; bodies of about the size named (+-10 %, the description grown with work "
             "notes). MB/s = request body bytes sent / measured seconds (MB = 10^6 bytes).")
    L.append("")
    L.append("| body | conns | system | body B (min-max, mean) | accepted ev/s | MB/s | p50 ms | p99 ms | non-2xx "
             "| peak RSS MiB | CPU cores | server CPU us/ev | nats-server CPU us/ev | loss check |")
    L.append("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    by = {}
    for s in sized:
        by[(s["system"], s.get("size"))] = s
        b = s.get("bodies") or {}
        body = f"{b.get('bytes_min', '?')}-{b.get('bytes_max', '?')}, {b.get('bytes_mean', '?')}"
        if "accepted_per_s" not in s:
            L.append(f"| {s.get('size')} | {s['concurrency']} | {NAMES[s['system']]} | {body} | CRASHED "
                     "| | | | | | | | | **FAILED** |")
            continue
        lat = s.get("latency_ms", {})
        mbs = s.get("body_mb_per_s")
        L.append(f"| {s.get('size')} | {s['concurrency']} | {NAMES[s['system']]} | {body} "
                 f"| {s['accepted_per_s']:,.0f} | {'-' if mbs is None else f'{mbs:,.1f}'} "
                 f"| {fmt_ms(lat.get('p50'))} | {fmt_ms(lat.get('p99'))} | {non2xx_cell(s)} "
                 f"| {fmt_mib(s.get('peak_rss_kib'))} | {fmt_cores(s.get('cores'))} "
                 f"| {fmt_us(s.get('cpu_us_per_event'))} | {fmt_us(s.get('nats_us_per_event'))} | {loss_cell(s)} |")
    L.append("")
    sizes = []
    for s in sized:
        if s.get("size") not in sizes:
            sizes.append(s.get("size"))
    pairs = [f"{ratio(by, z, 'gateway', 'bare')} with {z} bodies" for z in sizes
             if ("gateway", z) in by and ("bare", z) in by]
    if pairs:
        L.append("Gateway / bare pipeline, accepted events/s: " + ", ".join(pairs) + ".")
        L.append("")
    return L


def soak_section(soaks) -> list[str]:
    L = ["## Soak", ""]
    L.append("| duration s | conns | pacing | accepted ev/s | p50 ms | p99 ms | non-2xx | idle RSS MiB "
             "| RSS min / max MiB | after the lead-in: min / max MiB | RSS slope MiB/h | server CPU us/ev "
             "| loss check |")
    L.append("|---:|---:|---|---:|---:|---:|---:|---:|---|---|---:|---:|---|")
    for s in soaks:
        t = s.get("rss_trend") or {}
        delay = s.get("delay_ms") or 0
        pacing = f"{delay} ms pause per connection" if delay else "none (closed loop)"
        if "accepted_per_s" not in s:
            L.append(f"| {s['duration_nominal_s']:g} | {s['concurrency']} | {pacing} | CRASHED | | | | | | | | "
                     "| **FAILED** |")
            continue
        lat = s.get("latency_ms", {})
        slope = t.get("slope_mib_per_h")
        L.append(f"| {s['duration_nominal_s']:g} | {s['concurrency']} | {pacing} | {s['accepted_per_s']:,.0f} "
                 f"| {fmt_ms(lat.get('p50'))} | {fmt_ms(lat.get('p99'))} | {non2xx_cell(s)} "
                 f"| {fmt_mib(s.get('idle_rss_kib'))} "
                 f"| {fmt_mib(t.get('rss_min_kib'))} / {fmt_mib(t.get('rss_max_kib'))} "
                 f"| {fmt_mib(t.get('fit_min_kib'))} / {fmt_mib(t.get('fit_max_kib'))} "
                 f"| {'-' if slope is None else f'{slope:+.2f}'} | {fmt_us(s.get('cpu_us_per_event'))} "
                 f"| {loss_cell(s)} |")
        L.append("")
        L.append(f"The gateway's VmRSS was sampled every second ({t.get('samples', 0)} samples). Slope: least "
                 f"squares over the {t.get('fit_samples', 0)} samples after the first {t.get('skip_s', 0):g} s "
                 "(start-up, allocator and connection pools filling), in MiB per hour; the goal is a flat "
                 "slope, within the allocator's noise. Samples: `rss.txt` in the soak's work directory.")
        if slope is None:
            L.append("")
            L.append("Too few samples after the lead-in for a slope.")
        if s["duration_nominal_s"] < 600:
            L.append("")
            L.append(f"Only {s['duration_nominal_s']:g} s: shorter than the 10 minutes the soak is meant "
                     "for; a slope over so short a window says little.")
        L.append("")
    return L


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("free-port").set_defaults(fn=cmd_free_port)
    s = sub.add_parser("wait-http")
    s.add_argument("url")
    s.add_argument("--timeout", type=float, default=30)
    s.add_argument("--pid", type=int)
    s.set_defaults(fn=cmd_wait_http)
    s = sub.add_parser("create-stream")
    s.add_argument("--url", required=True)
    s.add_argument("--stream", required=True)
    s.add_argument("--subjects", default="gtt.>")
    s.add_argument("--duplicate-window", type=float, default=3600.0)
    s.add_argument("--max-age", type=float, default=7 * 24 * 3600.0)
    s.set_defaults(fn=cmd_create_stream)
    s = sub.add_parser("stream-msgs")
    s.add_argument("--monitor", required=True)
    s.add_argument("--stream", required=True)
    s.set_defaults(fn=cmd_stream_msgs)
    s = sub.add_parser("loss-check")
    s.add_argument("--url", required=True)
    s.add_argument("--stream", required=True)
    s.add_argument("--subjects", default="gtt.>")
    s.add_argument("--ids", action="append", default=[])
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_loss_check)
    s = sub.add_parser("wait-conns")
    s.add_argument("--monitor", required=True)
    s.add_argument("--min", type=int, required=True)
    s.add_argument("--timeout", type=float, default=30)
    s.set_defaults(fn=cmd_wait_conns)
    for name, fn in (("cpu", cmd_cpu), ("rss", cmd_rss)):
        s = sub.add_parser(name)
        s.add_argument("pid", type=int)
        s.set_defaults(fn=fn)
    s = sub.add_parser("busy")
    s.add_argument("seconds", type=float, nargs="?", default=2.0)
    s.set_defaults(fn=cmd_busy)
    s = sub.add_parser("snapshot")
    s.add_argument("out")
    s.add_argument("--roots", type=int, nargs="*", default=[])
    s.set_defaults(fn=cmd_snapshot)
    s = sub.add_parser("sample")
    s.add_argument("pid", type=int)
    s.add_argument("out")
    s.set_defaults(fn=cmd_sample)
    s = sub.add_parser("series")
    s.add_argument("pid", type=int)
    s.add_argument("out")
    s.add_argument("--interval", type=float, default=1.0)
    s.set_defaults(fn=cmd_series)
    s = sub.add_parser("step")
    s.add_argument("--system", required=True, choices=["gateway", "bare", "peer", "nats"])
    s.add_argument("--row", default="main", choices=["main", "size", "soak"])
    s.add_argument("--size", help="body size label of a size row (e.g. 16k)")
    s.add_argument("--data-meta", help="meta.json of the bodies used (gen_bodies.py)")
    s.add_argument("--series", help="RSS series of a soak (series command)")
    s.add_argument("--series-skip", type=float, default=60.0,
                   help="seconds at the start of the series left out of the slope")
    s.add_argument("--label", required=True)
    s.add_argument("--concurrency", type=int, required=True)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--load-json")
    s.add_argument("--warm-json")
    s.add_argument("--ids")
    s.add_argument("--warm-ids")
    s.add_argument("--stream-msgs", type=int)
    s.add_argument("--loss-json")
    s.add_argument("--cpu0", type=float)
    s.add_argument("--cpu1", type=float)
    s.add_argument("--nats-cpu0", type=float)
    s.add_argument("--nats-cpu1", type=float)
    s.add_argument("--idle-rss", type=int)
    s.add_argument("--peak-json")
    s.add_argument("--wrk-cpu")
    s.add_argument("--server-log")
    s.add_argument("--snap0")
    s.add_argument("--snap1")
    s.add_argument("--crashed", type=int, default=0)
    s.add_argument("--note", action="append")
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_step)
    s = sub.add_parser("machine")
    s.add_argument("out")
    s.add_argument("--rev", default="?")
    s.set_defaults(fn=cmd_machine)
    s = sub.add_parser("report")
    s.add_argument("run_dir")
    s.add_argument("out_md")
    s.set_defaults(fn=cmd_report)
    a = p.parse_args()
    a.fn(a)


if __name__ == "__main__":
    main()
