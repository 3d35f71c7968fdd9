"""Scale-out on one machine: the most paced chunks/s carried within 2 ms p99 timing error, 1 worker against 2.

Each step is one ``bench.instrument.calibrate.run_step`` with ``--processes N`` (Locust's master and N
forked workers) against the embedded mock with its truth log: open-loop Poisson arrivals for a given
number of streams in flight, paced at 100 ms to the first token and 20 ms between chunks, 32 chunks per
answer, judged against the mock's truth log as ``chatbench calibrate`` judges a step (no failure, and
the p99 of the absolute error of TTFT, of every inter-chunk gap and of E2E within ``--limit-ms``).

For N = 1 and N = 2 alternately (one step of each in turn, so both see the same machine), the search
doubles the streams until a step fails, then bisects between the highest passing and the lowest failing
level until they are within ``--resolution`` (relative). A failed step run while other work used more
than a quarter of a core is run once more. The result is each N's highest passing step and the ratio.

The processes are left to the scheduler. ``--pin`` pins them apart where the cores allow it (with 1
worker, the worker has the last core and the master, the mock and the metrics scraper share the others;
with N workers on N cores each worker has a core of its own and the rest float); on a machine shared
with other work that is worse, not better: a pinned worker waits for its one core while the other is
free (measured here: with --rt, 1 worker pinned failed 2 ms at 16 streams, unpinned it passed 256).
Every step prints the CPU of each process (% of one core, over the measured window) and the other load
on the machine, so a ratio bounded by the machine says so.

    .venv/bin/python benchmarks/scale_out.py --rt                     # about 7 minutes
    .venv/bin/python benchmarks/scale_out.py --start 256 --max-steps 8 --json scale.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
from priority import add_priority_arguments, apply_priority, pin

from bench.instrument.calibrate import CalibrationSettings, StepResult, run_step
from bench.instrument.cpu import CpuSampler, wait_for_quiet
from bench.instrument.truth import read_records

FOREIGN_RETRY_CORES = 0.25  # other work above this may have failed a step: run it once more


class ProcessSampler(CpuSampler[dict[str, float]]):
    """Finds the run's processes (by role), pins them, and samples each one's CPU seconds in a thread."""

    def __init__(self, workers: int, cores: list[int], pin_apart: bool, interval_s: float = 0.25) -> None:
        super().__init__(interval_s, "scale-out-sampler")
        self.workers = workers
        self.cores = cores
        self.pin_apart = pin_apart
        self.pinned: dict[str, list[int]] = {}

    def _roles(self) -> Iterator[tuple[str, psutil.Process]]:
        """(role, process) of the run: master, w0..wN (by pid), mock, scraper."""
        for proc in psutil.Process(os.getpid()).children():
            try:
                if "locust" not in " ".join(proc.cmdline()):
                    continue
                yield "master", proc
                children = proc.children()
                workers = sorted(
                    (c for c in children if "locust" in " ".join(c.cmdline())), key=lambda c: c.pid
                )
                for i, worker in enumerate(workers):
                    yield f"w{i}", worker
                for child in children:
                    line = " ".join(child.cmdline())
                    if " bench mock" in line:
                        yield "mock", child
                    elif "servermetrics" in line:
                        yield "scraper", child
            except psutil.Error:
                continue

    def _placement(self, role: str) -> set[int] | None:
        if not self.pin_apart or len(self.cores) < 2:
            return None
        if role.startswith("w"):
            i = int(role[1:])
            # 1 worker: the last core; N workers on N or more cores: one core each, from the last one.
            return {self.cores[-1 - i]} if i < len(self.cores) else None
        if self.workers < len(self.cores):
            return set(self.cores[: len(self.cores) - self.workers])  # what the workers leave
        return None  # no core left over: the master and the mock float

    def sample(self) -> dict[str, float]:
        """Role -> its CPU seconds so far (and the roles found the first time are pinned)."""
        row: dict[str, float] = {}
        for role, proc in self._roles():
            try:
                t = proc.cpu_times()
                row[role] = t.user + t.system
                cores = self._placement(role)
                if cores is not None and role not in self.pinned and pin(proc.pid, cores):
                    self.pinned[role] = sorted(cores)
            except psutil.Error:
                continue
        return row

    def cpu_pct(self, w0: float, w1: float) -> dict[str, float]:
        """Each role's CPU over [w0, w1], % of one core (None-free: roles seen at both ends only)."""
        ends = self.ends(w0, w1)
        if ends is None:
            return {}
        (t0, a), (t1, b) = ends
        return {role: 100.0 * (b[role] - a[role]) / (t1 - t0) for role in b if role in a}


def _window(run_dir: Path, settings: CalibrationSettings) -> tuple[tuple[float, float], set[str]]:
    """The measured window of a step, as ``run_step`` places it (after the ramp and warm-up), and the
    load generators that sent records."""
    records = read_records(run_dir)
    starts = [r.start_mono_s for r in records]
    w0 = (min(starts) if starts else time.monotonic()) + settings.ramp_s + settings.warmup_s
    return (w0, w0 + settings.step_s), {r.worker for r in records}


def one_step(
    workers: int, streams: int, settings: CalibrationSettings, work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    busy_before = wait_for_quiet(args.quiet_wait_s)
    with ProcessSampler(workers, sorted(os.sched_getaffinity(0)), args.pin) as sampler:
        step, run_dir = run_step("stream", streams, settings, work / f"p{workers}", processes=workers)
    window, senders = _window(run_dir, settings)
    row = {"workers": workers, "streams": streams, "step": step.to_dict(), "cpu_pct": sampler.cpu_pct(*window),
           "pinned": dict(sampler.pinned), "busy_before_cores": busy_before,
           "senders": sorted(senders)}  # fmt: skip
    _print_step(row, step)
    if len(senders) != workers:  # not a step of this many workers: never counted as pass or fail
        print(f"#   only {len(senders)} of {workers} workers sent records ({', '.join(sorted(senders))}): "
              "the step does not count", flush=True)  # fmt: skip
    return row


def _print_step(row: dict[str, Any], step: StepResult) -> None:
    t = step.truth
    cpu = ", ".join(f"{k} {v:.0f}" for k, v in sorted(row["cpu_pct"].items()))
    p99 = "/".join(
        f"{t[k]['p99_ms']:.2f}" if t[k]["p99_ms"] is not None else "n/a" for k in ("ttft", "itl", "e2e")
    )
    print(
        f"# {row['workers']} worker(s), {row['streams']} streams: {'PASS' if step.passed else 'fail'}, "
        f"{step.chunks_per_s or 0:,.0f} chunks/s, p99 |err| TTFT/ITL/E2E {p99} ms, failed {step.failed}, "
        f"CPU % [{cpu}], other load {step.foreign_cores or 0:.2f} cores (before: {row['busy_before_cores']:.2f})",
        flush=True,
    )


class Search:
    """Doubling, then bisection, of the streams of one worker count."""

    def __init__(self, workers: int, start: int, resolution: float) -> None:
        self.workers = workers
        self.next: int | None = start
        self.resolution = resolution
        self.best: dict[str, Any] | None = None  # the highest passing step's row
        self.fail: int | None = None  # the lowest failing level
        self.retried: set[int] = set()

    def record(self, row: dict[str, Any]) -> None:
        streams, step = row["streams"], row["step"]
        if len(row["senders"]) != self.workers:  # a worker that never started: run the level again, once
            self.next = None if streams in self.retried else streams
            self.retried.add(streams)
            return
        if not step["passed"]:
            busy = (step["foreign_cores"] or 0.0) > FOREIGN_RETRY_CORES
            if busy and streams not in self.retried:
                self.retried.add(streams)
                self.next = streams  # the other work may have failed it: once more
                return
            self.fail = streams if self.fail is None else min(self.fail, streams)
        elif self.best is None or streams > self.best["streams"]:
            self.best = row
        lo = self.best["streams"] if self.best else 0
        if self.fail is None:
            self.next = lo * 2
        elif self.fail - lo <= max(1.0, self.resolution * self.fail) or self.fail <= 1:
            self.next = None
        else:
            self.next = (lo + self.fail) // 2 if lo else max(1, self.fail // 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=128, help="streams of each search's first step")
    parser.add_argument(
        "--resolution", type=float, default=0.15, help="stop when pass and fail are this close"
    )
    parser.add_argument(
        "--max-steps", type=int, default=8, help="steps per worker count (the run is bounded)"
    )
    parser.add_argument("--limit-ms", type=float, default=2.0, help="p99 |timing error| a passing step keeps")
    parser.add_argument("--window-s", type=float, default=6.0, help="measured window per step")
    parser.add_argument("--quiet-wait-s", type=float, default=10.0, help="longest wait for an idle machine")
    parser.add_argument("--pin", action="store_true", help="pin the workers apart (see above)")
    add_priority_arguments(parser)
    parser.add_argument("--json", type=Path, help="also write every step here")
    args = parser.parse_args()
    apply_priority(args)
    settings = CalibrationSettings(
        step_s=args.window_s, ramp_s=1.0, warmup_s=2.0, error_limit_ms=args.limit_ms
    )
    searches = [Search(1, args.start, args.resolution), Search(2, args.start, args.resolution)]
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="chatbench-scale-") as tmp:
        for _ in range(args.max_steps):
            for search in searches:  # alternate: both worker counts see the same machine
                if search.next is not None:
                    row = one_step(search.workers, search.next, settings, Path(tmp), args)
                    rows.append(row)
                    search.record(row)
            if all(s.next is None for s in searches):
                break
    print()
    print(f"cores: {len(os.sched_getaffinity(0))}, limit: p99 |error| <= {args.limit_ms:g} ms, "
          f"{time.monotonic() - started:.0f} s")  # fmt: skip
    print(
        "| workers | streams | chunks/s | p99 err TTFT / ITL / E2E ms | CPU % per process | pinned | other load (cores) |"
    )
    print("|---|---|---|---|---|---|---|")
    for search in searches:
        best = search.best
        if best is None:
            print(f"| {search.workers} | no passing step | | | | | |")
            continue
        s, t = best["step"], best["step"]["truth"]
        cpu = ", ".join(f"{k} {v:.0f}" for k, v in sorted(best["cpu_pct"].items()))
        pinned = ", ".join(f"{k}:{v}" for k, v in sorted(best["pinned"].items())) or "none"
        bound = "" if search.fail else f" (no step failed; {search.next} was not run)"
        print(
            f"| {search.workers} | {best['streams']}{bound} | {s['chunks_per_s']:,.0f} "
            f"| {t['ttft']['p99_ms']:.2f} / {t['itl']['p99_ms']:.2f} / {t['e2e']['p99_ms']:.2f} "
            f"| {cpu} | {pinned} | {s['foreign_cores'] or 0:.2f} |"
        )
    for search in searches:
        failed = [r for r in rows if r["workers"] == search.workers and not r["step"]["passed"]]
        if failed:
            # Timing holds while a load generator uses under about half a core (docs/calibrate.md).
            busiest = max(
                max((v for k, v in r["cpu_pct"].items() if k.startswith("w")), default=0.0) for r in failed
            )
            other = min(r["step"]["foreign_cores"] or 0.0 for r in failed)
            if busiest < 50.0 and other > FOREIGN_RETRY_CORES:
                print(f"{search.workers} worker(s): the failing steps' busiest worker used {busiest:.0f} % of a core while "
                      f"other work used at least {other:.2f} cores: the limit found is the machine's, not the load generator's")  # fmt: skip
    one, two = (s.best for s in searches)
    if one and two:
        ratio = two["step"]["chunks_per_s"] / one["step"]["chunks_per_s"]
        print(f"\nratio, 2 workers / 1 worker: {ratio:.2f}x paced chunks/s within {args.limit_ms:g} ms p99")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
