"""``bench.instrument.cpu.CpuSampler``: the one sampling thread of calibrate and benchmarks/scale_out.py."""

from __future__ import annotations

import time

from bench.instrument.cpu import CpuSampler


class Counter(CpuSampler[int]):
    def __init__(self) -> None:
        super().__init__(0.01, "test-sampler")
        self.taken = 0

    def sample(self) -> int:
        self.taken += 1
        return self.taken


def test_samples_from_the_start_until_the_block_ends() -> None:
    before = time.monotonic()
    with Counter() as sampler:
        deadline = time.monotonic() + 5.0
        while len(sampler.samples) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
    n = len(sampler.samples)
    time.sleep(0.05)
    assert n >= 3 and len(sampler.samples) == n  # stopped with the block
    stamps = [t for t, _ in sampler.samples]
    assert [v for _, v in sampler.samples] == list(range(1, n + 1))
    assert before <= stamps[0] and stamps == sorted(stamps)


def test_ends_are_the_first_and_last_sample_inside_the_window() -> None:
    sampler = Counter()
    sampler.samples = [(1.0, 10), (2.0, 20), (3.0, 30), (4.0, 40)]
    assert sampler.ends(1.5, 3.5) == ((2.0, 20), (3.0, 30))
    assert sampler.ends(0.0, 9.0) == ((1.0, 10), (4.0, 40))
    assert sampler.ends(1.5, 2.5) is None  # one sample is no window
