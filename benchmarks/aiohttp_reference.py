"""The reference client of the side-by-side benchmark: plain asyncio + aiohttp (+ uvloop), vLLM style.

This is how ``vllm bench serve`` streams chat completions (``async_request_openai_chat_completions``): one
``aiohttp.ClientSession``, ``perf_counter()`` just before ``session.post``, ``async for line in
response.content`` (lines split on ``\\n``), the timestamp taken when a ``data:`` line is read, then
the JSON parsed and ``choices[0].delta.content`` read. Two differences, both to make it do exactly what
chatbench does so the comparison is of the HTTP stack and the event loop only: TTFT waits for the
first *non-empty* content (chatbench's rule, not vLLM's any-``choices`` rule), JSON is parsed with
orjson (what chatbench's client uses), and E2E stops at ``[DONE]``.

It runs open loop, like ``chatbench calibrate``: Poisson arrivals at the rate that keeps about N streams
in flight, one task per request, for ``duration_s``; then it stops by itself. (Closed-loop users started
together stay in lock-step with identical requests, and Locust starts a spawn batch at one instant.)
Every request becomes a ``bench.records.Record`` line in ``out``, so ``bench.instrument.truth`` compares it with the
mock's truth log exactly as it compares chatbench's own records.

The driver (``python benchmarks/aiohttp_reference.py [--levels 128,256,512]``) runs chatbench's load
generator and this client, one at a time, against a fresh mock pinned to one core (``--server-core``),
with the client pinned to the other (``--client-core``; ``taskset``). After the ramp and a warm-up it
measures, over a fixed window, the client's CPU (from /proc, with its children), the machine's foreign
load, the paced content chunks/s received and the p99 timing error against the mock's truth log. It
prints a table and the ratios: chatbench's most chunks/s at the error limit over the reference's, and
chatbench's chunks per CPU-second over the reference's at each level.

A doubling grid of levels makes any single pass/fail difference print exactly 2.0x, so the figure to
quote comes from ``--search LO:HI``: for each client a bisection finds the highest number of streams whose
every p99 error stays within ``--limit-ms``, ``--repeat`` times, and the ratio is printed with its spread
(min / median / max over the repeats):

    python benchmarks/aiohttp_reference.py --search 64:1024 --repeat 3 --loop closed --clients chatbench,aiohttp-uvloop

    python benchmarks/aiohttp_reference.py client URL USERS DURATION_S OUT.jsonl [--uvloop]   # alone
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import tempfile
import time
import uuid
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from priority import add_priority_arguments, apply_priority, pin

from bench.instrument.calibrate import StepResult, measure_step
from bench.instrument.cpu import CpuMeter, wait_for_quiet
from bench.instrument.truth import read_records, read_truth_log
from bench.mock import MockSettings, start_mock
from bench.records import Record

THINK_MAX_S = 0.02  # closed loop: both clients pause uniform(0, 20 ms) between a user's requests
BODY = {
    "model": "o",
    "messages": [{"role": "user", "content": "请介绍一下傅利叶公司"}],
    "stream": True,
    "temperature": 0.7,
}


async def one_request(session: aiohttp.ClientSession, url: str, user: int) -> Record:
    """Send one streamed chat completion and time it the way chatbench's records define it."""
    request_id = uuid.uuid4().hex
    ttft_ms: float | None = None
    itl_ms = array("d")
    chunks = 0
    last = 0.0
    e2e_ms: float | None = None
    error_kind = None
    error_message = None
    status = 0
    started_at_s = time.time()
    st = time.perf_counter()
    try:
        async with session.post(url, json=BODY, headers={"X-Request-Id": request_id}) as response:
            status = response.status
            if status != 200:
                error_kind = "http_error"
                await response.read()
            else:
                async for line in response.content:
                    if not line.startswith(b"data:"):
                        continue
                    t = time.perf_counter()
                    payload = line[5:].strip()
                    if payload == b"[DONE]":
                        e2e_ms = (t - st) * 1000.0
                        break
                    data = orjson.loads(payload)
                    choices = data.get("choices")
                    if not choices:
                        continue
                    content = choices[0].get("delta", {}).get("content")
                    if not content:
                        continue
                    if chunks == 0:
                        ttft_ms = (t - st) * 1000.0
                    else:
                        itl_ms.append((t - last) * 1000.0)
                    last = t
                    chunks += 1
                if e2e_ms is None:
                    error_kind = "stream_incomplete"
    except (aiohttp.ClientError, OSError, orjson.JSONDecodeError) as exc:
        error_kind = "connection_reset" if isinstance(exc, (aiohttp.ClientError, OSError)) else "bad_json"
        error_message = f"{type(exc).__name__}: {exc}"[:200]
    if e2e_ms is None:
        e2e_ms = (time.perf_counter() - st) * 1000.0
    return Record(
        run_id="aiohttp-reference", worker="aiohttp", user=user, request_id=request_id,
        scenario="reference", prompt_set="inline", prompt_id="0", turn=0, step=0, stream=True,
        temperature=0.7, top_p=None, presence_penalty=None, frequency_penalty=None, max_tokens=None,
        scheduled_at_s=None, started_at_s=started_at_s, start_mono_s=st, client_lag_ms=None,
        ttft_ms=ttft_ms, itl_ms=itl_ms, e2e_ms=e2e_ms, prompt_tokens=None,
        output_tokens=chunks if chunks else None, token_source="chunks" if chunks else None,
        chunks=chunks, finish_reason=None, status=status, error_kind=error_kind,  # type: ignore[arg-type]
        error_message=error_message,
    )  # fmt: skip


async def run_closed(url: str, users: int, duration_s: float, out: Path, ramp_s: float) -> int:
    """Closed loop: ``users`` tasks started evenly over ``ramp_s``, each sending its next request as soon
    as the last ended, after a random 0-20 ms pause (so users drift out of lock-step, as chatbench's users
    are given for this comparison). Requests still in flight at the end are cancelled, not recorded.
    """
    deadline = time.perf_counter() + duration_s
    records: list[Record] = []
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)

    async def user_loop(user: int, session: aiohttp.ClientSession) -> None:
        await asyncio.sleep(ramp_s * user / max(users, 1))
        while time.perf_counter() < deadline:
            records.append(await one_request(session, url, user))
            await asyncio.sleep(random.uniform(0.0, THINK_MAX_S))

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        (out.parent.parent / "started").touch()  # tells the driver the load has begun
        tasks = [asyncio.create_task(user_loop(i, session)) for i in range(users)]
        await asyncio.wait(tasks, timeout=duration_s + 2.0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    out.write_bytes(b"".join(r.to_json() + b"\n" for r in records))
    return len(records)


async def run_open(url: str, in_flight: int, duration_s: float, out: Path, answer_s: float) -> int:
    """Open loop for ``duration_s``: Poisson arrivals at ``in_flight / answer_s`` requests/s (about
    ``in_flight`` requests in flight, by Little's law), each in its own task; chatbench's calibration
    and its open-loop users work the same way. Requests still in flight 5 s after the end are dropped.
    """
    rate = in_flight / answer_s
    rng = random.Random(1)
    records: list[Record] = []
    # limit=0: no pool cap, a connection per request in flight (vLLM sets its limit to the concurrency).
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)

    async def one(session: aiohttp.ClientSession, n: int) -> None:
        records.append(await one_request(session, url, n))

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        (out.parent.parent / "started").touch()  # tells the driver the load has begun
        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        next_t, n = start, 0
        while next_t < start + duration_s:
            delay = next_t - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(session, n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            next_t += rng.expovariate(rate)  # an absolute schedule: lateness does not drift
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        for task in list(tasks):
            task.cancel()
    out.write_bytes(b"".join(r.to_json() + b"\n" for r in records))
    return len(records)


# --------------------------------------------------------------------------------------------------
# The driver: both clients against the same mock, pinned to different cores, one level at a time.

CLIENTS = ("chatbench", "aiohttp-uvloop", "aiohttp")
_STARTUP_S = 8.0  # the longest a client may take to send its first request (imports, Locust start-up)


@dataclass(frozen=True)
class Pacing:
    """How the mock paces every stream (no queue: it has more batch slots than users)."""

    ttft_ms: float = 100.0
    itl_ms: float = 20.0
    output_tokens: int = 32

    @property
    def answer_s(self) -> float:
        """Time of one whole answer, s: the Little's-law factor between arrival rate and streams in flight."""
        return (self.ttft_ms + (self.output_tokens - 1) * self.itl_ms) / 1000.0

    def mock_settings(self, truth_log: Path) -> MockSettings:
        return MockSettings(
            port=0,
            batch_slots=100_000,
            prefill_base_ms=self.ttft_ms,
            prefill_per_token_ms=0.0,
            tpot_ms=self.itl_ms,
            batch_slowdown=0.0,
            output_dist="fixed",
            output_tokens=self.output_tokens,
            truth_log=str(truth_log),
        )


def client_command(
    client: str, url: str, users: int, duration_s: float, ramp_s: float, out: Path, loop: str = "open"
) -> list[str]:
    """The command line of one client run; its records end up under ``out`` (a directory)."""
    if client == "chatbench":
        return chatbench_command(url, users, duration_s, ramp_s, out, loop)
    cmd = [sys.executable, __file__, "client", url + "/v1/chat/completions", str(users), str(duration_s)]
    cmd += [str(out / "records" / "aiohttp.jsonl"), "--answer-s", str(Pacing().answer_s)]
    cmd += ["--loop", loop, "--ramp-s", str(ramp_s)]
    return [*cmd, "--uvloop"] if client == "aiohttp-uvloop" else cmd


def chatbench_command(
    url: str, users: int, duration_s: float, ramp_s: float, out: Path, loop: str = "open"
) -> list[str]:
    """chatbench's own load generator (``run_load``, one process): the same arrivals and prompt."""
    scenario = {
        "name": "reference",
        "seed": 1,
        "target": {"base_url": url, "model": "o", "profile": "seed"},
        "prompt_sets": [{"name": "p", "inline": [BODY["messages"][0]["content"]]}],  # type: ignore[index]
        "sampling": {"temperature": 0.7, "stream": True},
        "load": {
            "duration_s": duration_s,
            "arrival": {"rate_rps": users / Pacing().answer_s, "process": "poisson"},
        },
    }
    if loop == "closed":
        scenario["load"] = {
            "users": users,
            "spawn_rate": users / ramp_s,
            "duration_s": duration_s,
            "think_time_s": {"uniform": [0.0, THINK_MAX_S]},
        }
    path = out / "scenario.yaml"
    path.write_text(json.dumps(scenario, ensure_ascii=False))  # JSON is valid YAML
    code = (
        "from bench.load.runner import run_load; "
        f"run_load({str(path)!r}, {{}}, results_dir={str(out / 'chatbench')!r}, run_id='run', progress=False, "
        "drain_timeout_s=10.0)"
    )
    return [sys.executable, "-c", code]


def _records_dir(run_dir: Path) -> Path:
    """Where a client run left its ``records/`` directory."""
    nested = run_dir / "chatbench" / "run"
    return nested if nested.is_dir() else run_dir


def _wait_started(run_dir: Path, proc: subprocess.Popen[bytes], limit_s: float) -> None:
    """Wait until the client has sent its first requests (its marker or first records exist)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline and proc.poll() is None:
        if (run_dir / "started").exists():
            return
        if any(p.stat().st_size > 0 for p in run_dir.glob("chatbench/run/records/*.jsonl")):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the client did not start within {limit_s:g} s (see {run_dir / 'client.log'})")


def measure(client: str, users: int, args: argparse.Namespace, work: Path) -> StepResult:
    """One client at one level: fresh mock on core ``--server-core``, client on ``--client-core``."""
    run_dir = work / f"{client}-{users}"
    (run_dir / "records").mkdir(parents=True, exist_ok=True)
    truth_log = run_dir / "truth.jsonl"
    duration_s = _STARTUP_S + args.ramp_s + args.warmup_s + args.window_s + 1.0
    with start_mock(Pacing().mock_settings(truth_log)) as mock:
        pin(mock.pid, {args.server_core})
        cmd = [
            "taskset",
            "-c",
            str(args.client_core),
            *client_command(client, mock.url, users, duration_s, args.ramp_s, run_dir, args.loop),
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=(run_dir / "client.log").open("wb"))
        try:
            meter = CpuMeter(lambda: (proc.pid,), lambda: (mock.pid,))
            _wait_started(run_dir, proc, _STARTUP_S)
            time.sleep(args.ramp_s + args.warmup_s)
            meter.start()
            w0 = time.monotonic()
            time.sleep(args.window_s)
            w1 = time.monotonic()
            cpu = meter.stop()
            proc.wait(timeout=duration_s + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
    records = read_records(_records_dir(run_dir))
    step, _ = measure_step("stream", users, records, read_truth_log(truth_log), (w0, w1),
                           error_limit_ms=args.limit_ms,
                           lg_cpu_pct=cpu.client_pct, foreign_cores=cpu.foreign_cores)  # fmt: skip
    return step


def chunks_per_cpu_s(step: StepResult) -> float | None:
    """Paced chunks per second of client CPU: chunks/s per fully used core."""
    if not step.chunks_per_s or not step.lg_cpu_pct:
        return None
    return step.chunks_per_s / (step.lg_cpu_pct / 100.0)


def _p99(step: StepResult, key: str) -> str:
    value = step.truth[key]["p99_ms"]
    return "n/a" if value is None else f"{value:.2f}"


def print_table(rows: list[tuple[str, StepResult]]) -> None:
    head = ("client", "streams", "chunks/s", "client CPU %", "chunks/CPU-s", "p99 |err| ms TTFT/ITL/E2E",
            "failed", "foreign cores")  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for client, s in rows:
        cells = (client, str(s.users), f"{s.chunks_per_s or 0:,.0f}", f"{s.lg_cpu_pct or 0:.1f}",
                 f"{chunks_per_cpu_s(s) or 0:,.0f}", f"{_p99(s, 'ttft')} / {_p99(s, 'itl')} / {_p99(s, 'e2e')}",
                 str(s.failed), f"{s.foreign_cores or 0:.2f}")  # fmt: skip
        print("| " + " | ".join(cells) + " |")


def summarise(rows: list[tuple[str, StepResult]], limit_ms: float) -> dict[str, Any]:
    """Per client: the most chunks/s with every p99 |error| <= limit; ratios chatbench / others."""
    best: dict[str, StepResult | None] = {}
    for client in {c for c, _ in rows}:
        ok = [s for c, s in rows if c == client and s.passed]
        best[client] = max(ok, key=lambda s: s.chunks_per_s or 0.0) if ok else None
    out: dict[str, Any] = {"limit_ms": limit_ms, "best": {}, "ratios": {}}
    for client, step in best.items():
        out["best"][client] = None if step is None else {
            "streams": step.users, "chunks_per_s": step.chunks_per_s, "client_cpu_pct": step.lg_cpu_pct,
            "chunks_per_cpu_s": chunks_per_cpu_s(step), "worst_p99_ms": step.worst_p99_ms,
        }  # fmt: skip
    ours = best.get("chatbench")
    for client, step in best.items():
        if client == "chatbench" or ours is None or step is None or not step.chunks_per_s:
            continue
        out["ratios"][f"chatbench/{client} max chunks/s at limit"] = (
            ours.chunks_per_s or 0
        ) / step.chunks_per_s
    # Efficiency at each level both ran: chunks per CPU-second.
    by_level: dict[int, dict[str, StepResult]] = {}
    for client, step in rows:
        by_level.setdefault(step.users, {})[client] = step
    for level, steps in sorted(by_level.items()):
        mine = steps.get("chatbench")
        for client, step in steps.items():
            a = chunks_per_cpu_s(mine) if mine else None
            b = chunks_per_cpu_s(step)
            if client != "chatbench" and a and b:
                out["ratios"][f"chatbench/{client} chunks per CPU-s at {level} streams"] = a / b
    return out


def search(
    client: str, lo: int, hi: int, args: argparse.Namespace, work: Path
) -> tuple[StepResult | None, list]:
    """Bisection on the number of streams: the highest level in [lo, hi] within the error limit.

    A level passes when no request failed and every p99 |error| is within ``--limit-ms`` (``measure_step``).
    ``hi`` is tried first (a client that passes there is limited by the range, and says so), then ``lo``,
    then the geometric middle until hi / lo <= 1 + ``--resolution``. Returns the best passing step and
    every step measured.
    """
    steps: list[tuple[str, StepResult]] = []

    def step(level: int) -> StepResult:
        busy = wait_for_quiet(20.0)
        result = measure(client, level, args, work)
        steps.append((client, result))
        print(f"#   {client} @ {level}: {result.chunks_per_s or 0:,.0f} chunks/s, CPU {result.lg_cpu_pct or 0:.0f} %,"
              f" worst p99 {result.worst_p99_ms} ms, {'pass' if result.passed else 'fail'},"
              f" busy before {busy:.2f} cores", flush=True)  # fmt: skip
        return result

    top = step(hi)
    if top.passed:
        return top, steps
    best = step(lo)
    if not best.passed:
        return None, steps
    while hi / lo > 1 + args.resolution:
        mid = round((lo * hi) ** 0.5)
        if mid in (lo, hi):
            break
        result = step(mid)
        if result.passed:
            lo, best = mid, result
        else:
            hi = mid
    return best, steps


def run_search(args: argparse.Namespace) -> dict[str, Any]:
    """``--search LO:HI``: per repeat, each client's highest load within the limit; the ratios' spread."""
    lo, hi = (int(x) for x in args.search.split(":"))
    clients = args.clients.split(",")
    repeats: list[dict[str, Any]] = []
    all_steps: list[tuple[str, StepResult]] = []
    with tempfile.TemporaryDirectory(prefix="chatbench-ref-") as tmp:
        for r in range(args.repeat):
            best: dict[str, StepResult | None] = {}
            for name in clients:
                print(f"# repeat {r + 1}/{args.repeat}: {name}, streams in [{lo}, {hi}]", flush=True)
                best[name], steps = search(name, lo, hi, args, Path(tmp) / f"r{r}")
                all_steps += steps
            repeats.append({c: (None if s is None else s.to_dict()) for c, s in best.items()})
            ours = best.get("chatbench")
            for name, step in best.items():
                if name != "chatbench" and ours and step and ours.chunks_per_s and step.chunks_per_s:
                    a, b = chunks_per_cpu_s(ours), chunks_per_cpu_s(step)
                    print(f"# repeat {r + 1}: chatbench/{name} max chunks/s at the limit "
                          f"{ours.chunks_per_s / step.chunks_per_s:.2f}x ({ours.users} vs {step.users} streams);"
                          f" chunks per CPU-s {a / b if a and b else float('nan'):.2f}x", flush=True)  # fmt: skip
    print()
    print_table(all_steps)
    summary: dict[str, Any] = {"limit_ms": args.limit_ms, "range": [lo, hi], "repeats": repeats, "ratios": {}}
    for name in clients:
        if name == "chatbench":
            continue
        pairs = [(rep.get("chatbench"), rep.get(name)) for rep in repeats]
        load = [a["chunks_per_s"] / b["chunks_per_s"] for a, b in pairs if a and b and b["chunks_per_s"]]
        if load:
            load.sort()
            summary["ratios"][f"chatbench/{name} max chunks/s at the limit"] = {
                "min": load[0], "median": load[len(load) // 2], "max": load[-1], "n": len(load),
            }  # fmt: skip
    print()
    print(json.dumps(summary["ratios"], indent=2))
    return {"rows": [(c, s.to_dict()) for c, s in all_steps], "summary": summary}


def main() -> None:
    parser = argparse.ArgumentParser(description="chatbench's streaming client against asyncio + aiohttp.")
    sub = parser.add_subparsers(dest="command")
    client = sub.add_parser("client", help="run the aiohttp reference client alone (used by the driver)")
    client.add_argument("url")
    client.add_argument("users", type=int)
    client.add_argument("duration_s", type=float)
    client.add_argument("out", type=Path)
    client.add_argument("--uvloop", action="store_true")
    client.add_argument("--answer-s", type=float, default=Pacing().answer_s, help="mock's time per answer")
    client.add_argument("--loop", choices=("open", "closed"), default="open")
    client.add_argument("--ramp-s", type=float, default=1.0, help="closed loop: users start over this time")
    parser.add_argument("--levels", default="128,256,512", help="concurrent streams, comma-separated")
    parser.add_argument("--clients", default=",".join(CLIENTS), help=f"from {', '.join(CLIENTS)}")
    parser.add_argument("--window-s", type=float, default=10.0)
    parser.add_argument("--warmup-s", type=float, default=2.0)
    parser.add_argument("--ramp-s", type=float, default=1.0)
    parser.add_argument(
        "--loop",
        choices=("open", "closed"),
        default="open",
        help="open: Poisson arrivals keeping N streams in flight; closed: N users, 0-20 ms pauses",
    )
    parser.add_argument(
        "--limit-ms", type=float, default=2.0, help="p99 |timing error| a level must stay within"
    )
    parser.add_argument("--server-core", type=int, default=0)
    parser.add_argument("--client-core", type=int, default=1)
    add_priority_arguments(parser)
    parser.add_argument(
        "--search",
        metavar="LO:HI",
        help="instead of --levels: bisect each client's highest streams within the limit, e.g. 64:1024",
    )
    parser.add_argument("--resolution", type=float, default=0.1, help="--search stops at hi/lo <= 1 + this")
    parser.add_argument("--repeat", type=int, default=3, help="--search: how many times (default 3)")
    parser.add_argument("--json", type=Path, help="also write the rows and the summary here")
    args = parser.parse_args()
    apply_priority(args)
    if args.search and args.command != "client":
        result = run_search(args)
        if args.json:
            args.json.write_text(json.dumps(result, indent=2))
        return
    if args.command == "client":
        if args.uvloop:
            import uvloop

            runner: Any = uvloop.run
        else:
            runner = asyncio.run
        if args.loop == "open":
            runner(run_open(args.url, args.users, args.duration_s, args.out, args.answer_s))
        else:
            runner(run_closed(args.url, args.users, args.duration_s, args.out, args.ramp_s))
        return
    rows: list[tuple[str, StepResult]] = []
    with tempfile.TemporaryDirectory(prefix="chatbench-ref-") as tmp:
        for level in (int(x) for x in args.levels.split(",")):
            for name in args.clients.split(","):
                busy = wait_for_quiet(20.0)
                step = measure(name, level, args, Path(tmp))
                rows.append((name, step))
                print(f"# {name} @ {level}: {step.chunks_per_s or 0:,.0f} chunks/s, CPU {step.lg_cpu_pct or 0:.0f} %,"
                      f" worst p99 {step.worst_p99_ms} ms, busy before {busy:.2f} cores", flush=True)  # fmt: skip
    print()
    print_table(rows)
    summary = summarise(rows, args.limit_ms)
    print()
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(
            json.dumps({"rows": [(c, s.to_dict()) for c, s in rows], "summary": summary}, indent=2)
        )


if __name__ == "__main__":
    main()
