"""The serving model: TTFT and per-token times as configured, a FIFO queue beyond the batch slots,
and a truth log that matches what the client saw.

These start the mock as a subprocess: an in-thread mock would share the GIL with the test's client
threads, and its timers would be late by whatever the client is doing.
"""

from __future__ import annotations

import statistics
import threading
import time
from dataclasses import replace
from pathlib import Path

import httpx
import orjson

from bench.mock.process import start_mock
from bench.mock.settings import MockSettings
from tests.mock.conftest import body
from tests.timing_bounds import MEDIAN_MS, noisy, timing_failure, timing_test

TIMED = MockSettings(
    port=0,
    prefill_base_ms=20.0,
    prefill_per_token_ms=1.0,
    tpot_ms=10.0,
    batch_slowdown=0.0,
    output_dist="fixed",
    output_tokens=15,
    batch_slots=2,
)
PROMPT = "one two three four five"  # 5 tokens: prefill = 20 + 5 * 1 = 25 ms


def stream_once(client: httpx.Client, url: str, request_id: str) -> dict:
    """Send one streamed request; the client's monotonic times of sending and of each content chunk."""
    sent = time.monotonic()
    times: list[float] = []
    text = []
    with client.stream(
        "POST",
        url + "/v1/chat/completions",
        json=body(PROMPT, stream=True),
        headers={"X-Request-Id": request_id},
    ) as r:
        for line in r.iter_lines():
            now = time.monotonic()
            if not line.startswith("data: {"):
                continue
            delta = orjson.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                times.append(now)
                text.append(delta["content"])
    return {"sent": sent, "times": times, "text": "".join(text)}


def read_truth(path: Path) -> dict[str, dict]:
    return {line["request_id"]: line for line in map(orjson.loads, path.read_bytes().splitlines())}


def wait_for_lines(path: Path, n: int) -> dict[str, dict]:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if path.exists() and len(truth := read_truth(path)) >= n:
            return truth
        time.sleep(0.05)
    raise AssertionError(f"the truth log holds fewer than {n} lines after 3 s")


def measure_schedule(tmp_path: Path, n: int = 12) -> tuple[list[float], ...]:
    """Stream ``n`` requests one after another; the errors (ms) of TTFT, of each chunk against its
    slot on the absolute schedule, of each stream's mean token time, and the client's lag behind the
    server's write of each chunk."""
    truth_path = tmp_path / "truth.jsonl"
    with start_mock(replace(TIMED, truth_log=str(truth_path))) as mock, httpx.Client() as client:
        seen = {f"t{i}": stream_once(client, mock.url, f"t{i}") for i in range(n)}
        truth = wait_for_lines(truth_path, n)  # read while the server still runs: flushed within 0.2 s
    ttft_err_ms, slot_err_ms, token_err_ms, lag_ms = [], [], [], []
    for rid, client_view in seen.items():
        line = truth[rid]
        chunks = line["chunk_mono_s"]
        assert line["status"] == 200 and line["fault"] is None and line["stream"] is True
        assert line["prompt_tokens"] == 5 and line["output_tokens"] == 15 == len(chunks)
        # The truth log matches what the client saw: same chunks, each seen just after it was written.
        assert len(client_view["times"]) == len(chunks)
        assert line["recv_mono_s"] >= client_view["sent"]
        lag_ms += [(c - s) * 1000 for c, s in zip(client_view["times"], chunks, strict=True)]
        # At low load there is no queue: TTFT = prefill (25 ms), then one chunk every 10 ms.
        ttft_err_ms.append(abs((chunks[0] - line["recv_mono_s"]) * 1000 - 25.0))
        first = line["recv_mono_s"] + 0.025
        slot_err_ms += [abs((t - first) * 1000 - i * 10.0) for i, t in enumerate(chunks)]
        token_err_ms.append(abs((chunks[-1] - chunks[0]) / (len(chunks) - 1) * 1000 - 10.0))
    return ttft_err_ms, slot_err_ms, token_err_ms, lag_ms


@timing_test
def test_stream_follows_the_configured_ttft_and_token_time(tmp_path):
    """TTFT and every chunk on the configured schedule, within the bounds of ``tests/timing_bounds.py``
    (median 5 ms, p90 10 ms: a timer a 50 ms tick late fails, 2 ms of scheduler noise does not). The
    mean time per token, averaged over 14 gaps, is held to 1 ms (noise moves it by 2/14 ms, a 50 ms bug
    by 3.6 ms). The mock's sub-millisecond figures are in docs/mock.md (benchmarks/mock_capacity.py)."""
    ttft_err_ms, slot_err_ms, token_err_ms, lag_ms = measure_schedule(tmp_path)
    noise = noisy()
    for name, errors in (("ttft", ttft_err_ms), ("chunk slots", slot_err_ms)):
        assert timing_failure(errors, tail=90, noise=noise) is None, (
            name,
            timing_failure(errors, tail=90),
            errors,
        )
    assert statistics.median(token_err_ms) < 1.0, token_err_ms
    assert min(lag_ms) >= 0
    assert statistics.median(lag_ms) < MEDIAN_MS, lag_ms


def test_requests_beyond_the_batch_slots_wait_in_a_fifo_queue(tmp_path):
    truth_path = tmp_path / "truth.jsonl"
    settings = replace(TIMED, truth_log=str(truth_path), output_tokens=10)  # 25 + 9 * 10 = 115 ms a request
    results: dict[str, dict] = {}

    clients = [httpx.Client() for _ in range(6)]  # made beforehand: a new client takes ~20 ms
    go = threading.Barrier(6)

    def user(i: int) -> None:
        go.wait()
        time.sleep(i * 0.005)
        results[f"q{i}"] = stream_once(clients[i], url, f"q{i}")

    with start_mock(settings) as mock:
        url = mock.url
        # 6 users against 2 slots, arriving 5 ms apart so the FIFO order is known.
        threads = [threading.Thread(target=user, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        truth = wait_for_lines(truth_path, 6)
    for client in clients:
        client.close()
    by_arrival = sorted(truth.values(), key=lambda line: line["recv_mono_s"])
    waits = [line["admitted_mono_s"] - line["recv_mono_s"] for line in by_arrival]
    ttfts = [
        results[line["request_id"]]["times"][0] - results[line["request_id"]]["sent"] for line in by_arrival
    ]
    # Two are served at once; the others wait about one (then two) request times of ~115 ms.
    assert max(waits[:2]) < 0.02
    assert min(waits[2:4]) > 0.06 and max(waits[2:4]) < 0.17
    assert min(waits[4:]) > 0.17
    assert ttfts[5] > ttfts[3] > ttfts[1] + 0.05  # TTFT grows with the queue
    admitted = [line["admitted_mono_s"] for line in by_arrival]
    assert admitted == sorted(admitted)  # first in, first out
    assert all(len(r["times"]) == 10 for r in results.values())


def test_throughput_is_flat_beyond_the_batch_slots():
    """A small load sweep: more users than slots add latency, not throughput (the knee)."""
    settings = replace(TIMED, output_tokens=5, tpot_ms=10.0, prefill_base_ms=5.0, prefill_per_token_ms=0.0)

    def sweep_level(url: str, users: int, duration_s: float = 1.0) -> tuple[float, float]:
        """Closed loop: ``users`` threads send back to back; (requests/s, mean latency s)."""
        done: list[float] = []
        clients = [httpx.Client() for _ in range(users)]
        go = threading.Barrier(users)

        def user(client: httpx.Client) -> None:
            go.wait()
            stop_at = time.monotonic() + duration_s
            while time.monotonic() < stop_at:
                t0 = time.monotonic()
                client.post(url + "/v1/chat/completions", json=body(PROMPT))
                done.append(time.monotonic() - t0)

        threads = [threading.Thread(target=user, args=(c,)) for c in clients]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        for c in clients:
            c.close()
        return len(done) / duration_s, statistics.mean(done)

    with start_mock(settings) as mock:
        url = mock.url
        rps1, _ = sweep_level(url, 1)
        rps2, lat2 = sweep_level(url, 2)
        rps6, lat6 = sweep_level(url, 6)
    assert rps2 > 1.6 * rps1  # below the knee throughput grows with users
    assert rps6 < 1.3 * rps2  # beyond it, it does not
    assert lat6 > 2.0 * lat2  # but latency climbs (3x in theory: three requests per slot)


def first_content_then_leave(client: httpx.Client, url: str, request_id: str) -> None:
    with client.stream(
        "POST",
        url + "/v1/chat/completions",
        json=body(PROMPT, stream=True),
        headers={"X-Request-Id": request_id},
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data: {") and orjson.loads(line[6:])["choices"][0]["delta"].get("content"):
                return


def test_a_client_that_leaves_gives_its_batch_slot_back(tmp_path):
    truth_path = tmp_path / "truth.jsonl"
    # One slot; each answer would hold it for 200 * 50 ms = 10 s if nobody noticed the client leave.
    settings = replace(TIMED, batch_slots=1, output_tokens=200, tpot_ms=50.0, truth_log=str(truth_path))
    with start_mock(settings) as mock, httpx.Client() as client:
        start = time.monotonic()
        for i in range(4):
            first_content_then_leave(client, mock.url, f"left{i}")
        assert time.monotonic() - start < 5.0
        truth = wait_for_lines(truth_path, 4)
    lines = [truth[f"left{i}"] for i in range(4)]
    assert [line["ended"] for line in lines] == ["client_closed"] * 4
    assert all(line["admitted_mono_s"] - line["recv_mono_s"] < 1.0 for line in lines)
