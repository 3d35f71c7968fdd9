"""Load generation: Locust user classes, the streaming client, the record sink and the run driver.

``bench.load.runner.run_load`` (no gevent) starts Locust in a subprocess on ``bench/load/locustfile.py``;
everything that imports gevent (``client``, ``users``, ``sink``, ``monitor``, ``locustfile``) only runs
inside that subprocess. ``sse`` and ``merge`` are plain Python.
"""
