"""The bundle's entry point: what the ``qrscope`` command of a pip install runs."""

from qrscope.cli.main import main

raise SystemExit(main())
