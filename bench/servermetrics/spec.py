"""The scenario's ``server_metrics:`` block: whether, where and how often to scrape ``/metrics``.

    server_metrics:
      enabled: true          # default: scrape during every run
      url: null              # default: the target's origin + /metrics (the mock's too)
      interval_s: 1          # one scrape a second
      timeout_s: null        # default: 0.8 x interval_s; a scrape slower than that counts as failed

Only the target's host or the one ``url`` given here is ever scraped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["ServerMetricsSpec", "metrics_url", "parse_server_metrics"]


@dataclass(frozen=True)
class ServerMetricsSpec:
    enabled: bool = True
    url: str | None = None
    interval_s: float = 1.0
    timeout_s: float | None = None

    @property
    def scrape_timeout_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else 0.8 * self.interval_s

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "url": self.url,
            "interval_s": self.interval_s,
            "timeout_s": self.timeout_s,
        }


def parse_server_metrics(where: Any, raw: Any) -> ServerMetricsSpec:
    """The block, checked with the scenario loader's ``Where`` (one-line errors naming the key)."""
    key = "server_metrics"
    if raw is None:
        return ServerMetricsSpec()
    if raw is False or raw is True:
        return ServerMetricsSpec(enabled=bool(raw))
    block = where.mapping(raw, key)
    where.known_keys(block, key, ("enabled", "url", "interval_s", "timeout_s"))
    enabled = where.boolean(block.get("enabled", True), f"{key}.enabled")
    url = block.get("url")
    if url is not None:
        url = where.string(url, f"{key}.url").strip()
        if not re.match(r"^https?://[^/\s]+", url):
            raise where.error(f"{key}.url", f"expected a URL like http://127.0.0.1:8000/metrics, got {url!r}")
    interval = where.number(block.get("interval_s", 1.0), f"{key}.interval_s", lo=0.05, hi=3600)
    timeout = block.get("timeout_s")
    if timeout is not None:
        timeout = where.number(timeout, f"{key}.timeout_s", lo=0, lo_open=True, hi=interval)
    return ServerMetricsSpec(enabled=enabled, url=url, interval_s=float(interval), timeout_s=timeout)


def metrics_url(spec: ServerMetricsSpec, base_url: str) -> str:
    """What to scrape: the scenario's URL, else ``<scheme>://<host:port of the target>/metrics``."""
    if spec.url is not None:
        return spec.url
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/metrics"
