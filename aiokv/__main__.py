"""python -m aiokv: the aiokv command."""

from aiokv.cli import main

raise SystemExit(main())
