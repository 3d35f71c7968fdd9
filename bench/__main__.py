"""``python -m bench`` is the same as the ``chatbench`` command."""

from bench.cli import main

raise SystemExit(main())
