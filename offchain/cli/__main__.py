"""`python -m offchain.cli ...`: the same command as the `crossclear` script."""

from offchain.cli.main import main

raise SystemExit(main())
