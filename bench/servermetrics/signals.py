"""The common signals of a run as a frame, one row per scrape (pandas; the names: ``names.py``).

Formulas (``signal_frame``):

- gauges (running, waiting): the sum over label sets (engines, models); ``kv_usage``: their mean, as
  vLLM's own log line aggregates engines;
- counters: the increase since the first scrape of the run, summed over label sets, a drop counted as
  a restart (the increase after it starts from 0), a label set first seen later counted from 0, so
  ``generated_tokens`` at a scrape is the tokens generated since the run's first scrape;
- ``prefix_hit_rate`` from counters: the ratio of the increases between consecutive scrapes (NaN when
  nothing was queried); from a gauge: its value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.servermetrics.names import Server

__all__ = ["signal_frame"]


def _wide(samples: pd.DataFrame, name: str) -> pd.DataFrame:
    """One column per label set, one row per scrape time, of the samples named ``name``."""
    part = samples[samples["name"] == name]
    return part.pivot_table(index="t_s", columns="labels", values="value", aggfunc="last", observed=True)


def _increase(wide: pd.DataFrame) -> pd.Series:
    """Counter increase since the first scrape, summed over label sets; a drop is a restart.

    A label set missing from the first scrapes did not exist yet (TGI creates its series at the first
    request): it counts from 0.
    """
    values = wide.ffill().fillna(0.0).to_numpy(dtype=float)
    steps = np.diff(values, axis=0, prepend=values[:1])
    restarted = steps < 0
    steps[restarted] = values[restarted]  # after a restart the counter counts from 0 again
    return pd.Series(np.nansum(np.nancumsum(steps, axis=0), axis=1), index=wide.index)


def signal_frame(samples: pd.DataFrame, server: Server | None) -> pd.DataFrame:
    """The signals per scrape: index ``t_s`` (epoch s), one column per signal the server exposes.

    ``samples`` has the columns of ``server_metrics.parquet`` (t_s, name, labels, value).
    """
    times = pd.Index(np.sort(samples["t_s"].unique()), name="t_s")
    out = pd.DataFrame(index=times)
    if server is None or samples.empty:
        return out
    present = set(samples["name"].unique())
    for signal, src in server.signals.items():
        name = next((n for n in src.names if n in present), None)
        if name is None:
            continue
        wide = _wide(samples, name).reindex(times)
        if src.kind == "gauge":
            column = wide.mean(axis=1) if src.how == "mean" else wide.sum(axis=1, min_count=1)
        elif src.kind == "counter":
            column = _increase(wide)
        else:
            dens = [n for n in src.denominator if n in present]
            if not dens:
                continue
            num = _increase(wide).diff()
            den = pd.concat([_increase(_wide(samples, n).reindex(times)).diff() for n in dens], axis=1).sum(
                axis=1, min_count=1
            )
            with np.errstate(invalid="ignore", divide="ignore"):
                column = num / den.where(den > 0)
        out[signal] = column.astype(float)
    return out
