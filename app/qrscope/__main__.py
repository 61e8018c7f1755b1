"""Allow ``python -m qrscope``."""

from qrscope.cli.main import main

raise SystemExit(main())
