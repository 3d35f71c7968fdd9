"""Analysis of per-request records with pandas: metrics, windows, breakdowns.

Never imports locust or gevent: a report is rebuilt from a results directory alone.
"""
