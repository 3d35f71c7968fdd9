"""One module per ``chatbench`` subcommand.

Each module defines ``add_arguments(parser)`` and ``run(args) -> int`` and imports only the standard
library at module level: ``chatbench --help`` and argument parsing must stay light (no pandas,
matplotlib or gevent). The heavy imports happen inside ``run``.
"""
