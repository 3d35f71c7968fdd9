"""The server's own view of a run: its Prometheus ``/metrics``, scraped while the load runs.

The data flows one way, as for the records:

    scenario ``server_metrics:`` block (spec.py)
      -> scraper subprocess (scraper.py, started by process.py from the one place that starts Locust):
         one GET a second, parsed with prometheus_client's text parser, one JSON line per scrape
         in ``results/<run>/server_metrics.jsonl``
      -> at the end of the run ``server_metrics.parquet`` (store.py: one row per sample, time on the
         run's clock) and ``server_metrics.json`` (URL, scrapes, failures)
      -> analysis.py (pandas): each server's names mapped to common signals (signals.py), the token
         cross-check against the client, per-step figures for capacity sweeps
      -> bench/report/server_metrics.py: the time-series panel and the table of report.html.

The scraper is its own process with its own timeout, so a slow or missing endpoint never delays a
request; it scrapes only the target's ``/metrics`` or the one URL the scenario names. ``live.py`` gives
the latest signals to a live dashboard. Nothing here imports locust or gevent.
"""
