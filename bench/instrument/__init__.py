"""The instrument's self-checks: is chatbench's own timing right on this machine?

``truth`` pairs a run's records with the embedded mock's truth log and measures the client's timing
error; ``calibrate`` searches the load one load-generator process sustains while that error stays under
1 ms (``chatbench calibrate``); ``cpu`` is the machine-load meter (client CPU, foreign load of a shared
machine) that calibration and ``benchmarks/`` use. Imports only the standard library here.
"""
