"""A dashboard session's tests, each laid out as a run directory of its own."""

from __future__ import annotations

import json

from bench.live.testruns import read_tests, write_test_dir, write_tests
from tests.analysis.factory import T0, make_record, write_run


def test_each_test_gets_the_records_sent_during_it_and_its_own_schedule(tmp_path) -> None:
    records = [make_record(i, at_s=i * 0.5) for i in range(10)]  # 0 .. 4.5 s
    records += [make_record(100 + i, at_s=20 + i * 0.5) for i in range(6)]  # 20 .. 22.5 s
    run = write_run(
        tmp_path / "session", records, run_info={"run_id": "s1", "started_at_s": T0, "schedule": {"x": 2}}
    )
    (run / "monitor").mkdir()
    (run / "monitor" / "local.jsonl").write_text(
        "".join(json.dumps({"t_s": T0 + t, "worker": "local", "cpu_pct": 5.0}) + "\n" for t in (1, 21, 22))
    )
    schedule_1 = {
        "stages": [{"index": 0, "started_at_s": T0}],
        "load_stopped_at_s": None,
        "stop_reason": None,
    }
    write_tests(
        run,
        [
            {"test": 1, "started_at_s": T0, "stopped_at_s": T0 + 5, "schedule": schedule_1},
            {"test": 2, "started_at_s": T0 + 19, "stopped_at_s": T0 + 23},
        ],
    )
    assert [t["test"] for t in read_tests(run)] == [1, 2]
    one, n1 = write_test_dir(run, 1)
    two, n2 = write_test_dir(run, 2)
    assert (n1, n2) == (10, 6)
    lines = (two / "records" / "all.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["request_id"] for line in lines) == sorted(f"r{100 + i}" for i in range(6))
    assert len((two / "monitor" / "all.jsonl").read_text().splitlines()) == 2
    info1 = json.loads((one / "run.json").read_text())
    info2 = json.loads((two / "run.json").read_text())
    assert info1["schedule"] == schedule_1 and "schedule" not in info2  # never the session's (another test's)
    assert (info1["run_id"], info2["started_at_s"], info2["ended_at_s"]) == ("s1/test-1", T0 + 19, T0 + 23)
    assert json.loads((two / "scenario.json").read_text())["name"] == "unit"
