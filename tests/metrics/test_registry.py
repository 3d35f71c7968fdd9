"""The registry finds every metric module, and each metric's per-record and vectorised forms agree."""

from __future__ import annotations

import math
import pkgutil
from pathlib import Path

import numpy as np
import pytest

from bench import metrics
from bench.analysis.frames import load_records
from bench.errors import UsageError
from bench.metrics.base import RateMetric
from bench.records import Record
from tests.analysis.factory import make_error, make_record, write_run

ALL = metrics.all_metrics()


def _varied() -> list[Record]:
    """Requests of every shape a metric must tell apart."""
    return [
        make_record(0, ttft_ms=120.0, itl_ms=(10.0, 30.0, 20.0), ttfo_ms=180.0),  # reasoning first
        make_record(1, at_s=0.5, ttft_ms=80.0, itl_ms=(5.0,), ttfo_ms=80.0, output_tokens=7),
        make_record(2, at_s=1.0, ttft_ms=90.0, itl_ms=(), output_tokens=1),  # one token: no TPOT
        make_record(3, at_s=1.5, stream=False, e2e_ms=250.0),  # non-streamed: no TTFT, no gaps
        make_record(4, at_s=2.0, ttft_ms=60.0, itl_ms=(7.0, 9.0), error_kind="stream_incomplete"),
        make_error(5, at_s=2.5),
        make_record(6, at_s=3.0, client_lag_ms=4.0, scheduled_at_s=1.0),  # open loop
        make_error(7, at_s=3.5, kind="timeout", status=0, client_lag_ms=2.0),
        make_record(8, at_s=4.0, ttft_ms=100.0, itl_ms=(12.0,), e2e_ms=None, output_tokens=None),
    ]


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("metrics")
    records = _varied()
    return {
        "records": records,
        "jsonl": load_records(write_run(base / "jsonl", records)),
        "parquet": load_records(write_run(base / "parquet", records, parquet=True)),
    }


def test_every_module_of_the_package_is_one_registered_metric() -> None:
    package = Path(metrics.__file__).parent
    modules = {m.name for m in pkgutil.iter_modules([str(package)]) if not m.name.startswith("_")} - {"base"}
    assert {type(m).__module__.rsplit(".", 1)[1] for m in ALL} == modules
    assert len(metrics.REGISTRY) == len(modules)  # one metric per module, no name twice


@pytest.mark.parametrize("metric", ALL, ids=lambda m: m.name)
def test_each_metric_says_what_it_is(metric: metrics.Metric) -> None:
    assert metric.label and metric.title and metric.counts and metric.unit
    assert "Formula:" in metric.formula and "Counts:" in metric.formula  # the written definition
    if metric.unit == "ms":
        assert metric.name.endswith("_ms") and metric.kind == "latency"  # the unit is in the name
    assert metrics.get(metric.name) is metric


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as err:
        metrics.get("ttft")
    assert "ttft_ms" in str(err.value) and "e2e_ms" in str(err.value)


@pytest.mark.parametrize("source", ["jsonl", "parquet"])
@pytest.mark.parametrize("metric", ALL, ids=lambda m: m.name)
def test_per_record_and_vectorised_forms_agree(metric: metrics.Metric, source: str, frames) -> None:
    records, frame = frames["records"], frames[source]
    per_record = [metric.record_value(r) for r in records]
    column = metric.column(frame)
    assert column.shape == (len(records),)
    for i, (one, vec) in enumerate(zip(per_record, column, strict=True)):
        if one is None:
            assert math.isnan(vec), f"{metric.name}: record {i} has no value, the frame says {vec}"
        else:
            assert vec == pytest.approx(one), f"{metric.name}: record {i}"
    # The samples: the concatenation of what each record adds, in record order.
    every = np.ones(len(records), dtype=bool)
    samples = [x for r in records for x in metric.record_samples(r)]
    assert metric.values(frame, every).tolist() == pytest.approx(samples)
    # A mask selects requests, never splits one.
    some = np.arange(len(records)) % 2 == 0
    chosen = [x for i, r in enumerate(records) if some[i] for x in metric.record_samples(r)]
    assert metric.values(frame, some).tolist() == pytest.approx(chosen)
    values, owners = metric.values_by_request(frame, every)
    assert values.tolist() == pytest.approx(samples) and owners.size == values.size
    assert np.all(np.diff(owners) >= 0)  # grouped by request, in order


@pytest.mark.parametrize("metric", [m for m in ALL if isinstance(m, RateMetric)], ids=lambda m: m.name)
def test_a_rate_is_its_per_record_values_summed_per_second_or_averaged(metric: RateMetric, frames) -> None:
    records, frame = frames["records"], frames["jsonl"]
    contributions = [v for r in records if (v := metric.record_value(r)) is not None]
    expected = (
        sum(contributions) / 10.0 if metric.per_second_of_window else sum(contributions) / len(contributions)
    )
    assert metric.rate(frame, np.ones(len(records), dtype=bool), 10.0) == pytest.approx(expected)


def test_the_known_values_of_the_varied_records(frames) -> None:
    """The formulas on hand-computed numbers, not only the two forms against each other."""
    frame, every = frames["jsonl"], np.ones(9, dtype=bool)
    get = metrics.get
    assert get("ttft_ms").values(frame, every).tolist() == [120.0, 80.0, 90.0, 100.0, 100.0]  # ok streams
    assert get("itl_ms").values(frame, every).tolist() == [10.0, 30.0, 20.0, 5.0, 10.0, 10.0, 12.0]
    assert get("itl_ms").column(frame)[0] == 30.0  # a request's value: its largest gap
    # TPOT = (E2E - TTFT) / (tokens - 1): record 0 is 120 + 60 = 180 ms for 4 chunks -> 60 / 3.
    assert get("tpot_ms").values(frame, every).tolist() == pytest.approx([20.0, 5.0 / 6.0, 10.0, 12.0])
    assert get("e2e_ms").values(frame, every).tolist() == [180.0, 85.0, 90.0, 250.0, 120.0, 112.0]
    assert get("client_lag_ms").values(frame, every).tolist() == [4.0, 2.0]  # failed ones too
    assert get("error_rate").rate(frame, every, 1.0) == pytest.approx(3 / 9)
    assert get("throughput_rps").rate(frame, every, 2.0) == pytest.approx(6 / 2.0)


def test_the_docs_table_is_the_registry() -> None:
    """docs/metrics.md lists exactly the registered metrics (regenerate: python -m bench.metrics --write)."""
    text = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    begin, end = text.index(metrics.DOCS_BEGIN) + len(metrics.DOCS_BEGIN), text.index(metrics.DOCS_END)
    assert text[begin:end].strip() == metrics.markdown_table(), (
        "run: python -m bench.metrics --write docs/metrics.md"
    )
