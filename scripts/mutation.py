"""Mutation testing of the modules that move money (configuration: scripts/mutation.toml).

    .venv/bin/python scripts/mutation.py                      # every configured module: killed/survived/score
    .venv/bin/python scripts/mutation.py offchain.defaults.calls --json
    .venv/bin/python scripts/mutation.py --touched --check --budget 170   # what CI runs
    .venv/bin/python scripts/mutation.py --touched --record   # after a merge: re-measure and record the scores
    .venv/bin/python scripts/mutation.py --list offchain.core.waterfall   # the mutants and their keys

Exit status: 0 on success, 1 when --check finds a score below its recorded score or target (or a module
that could not be measured within the budget), 2 on a configuration error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from offchain.devtools.mutants import mutants  # noqa: E402
from offchain.devtools.mutation import (  # noqa: E402
    Config,
    MutationConfigError,
    check,
    markdown_tables,
    record,
    report,
    run_modules,
    touched,
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("modules", nargs="*", help="dotted module names (default: every configured module)")
    ap.add_argument("--config", type=Path, default=ROOT / "scripts" / "mutation.toml")
    ap.add_argument("--root", type=Path, default=None, help="project root (default: the config's directory's parent)")
    ap.add_argument("--touched", action="store_true", help="only modules whose content hash differs from the record")
    ap.add_argument("--check", action="store_true", help="fail when a score drops below its record or target")
    ap.add_argument("--record", action="store_true", help="write the measured scores and hashes to the record")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    ap.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    ap.add_argument("--budget", type=float, default=None, help="seconds for the whole run")
    ap.add_argument("--tests", type=Path, nargs="+", default=None, help="run these tests instead of the configured")
    ap.add_argument("--markers", default=None, help="pytest -m expression instead of the configured one")
    ap.add_argument("--function", default=None, help="only the mutants inside this function (qualified name)")
    ap.add_argument(
        "--verify-equivalents", action="store_true", help="run the mutants marked equivalent too (report any killed)"
    )
    ap.add_argument("--docs", action="store_true", help="print the recorded scores and equivalents as markdown")
    ap.add_argument("--list", action="store_true", help="list the mutants (line and key) and run nothing")
    ap.add_argument("--progress", action="store_true", help="show progress on stderr")
    args = ap.parse_args(argv)

    try:
        root = args.root or args.config.resolve().parent.parent
        cfg = Config.load(args.config, root)
        if args.markers is not None:
            modules = {n: dataclasses.replace(m, markers=None) for n, m in cfg.modules.items()}
            cfg = dataclasses.replace(cfg, markers=args.markers, modules=modules)
        names = args.modules or list(cfg.modules)
        unknown = [n for n in names if n not in cfg.modules]
        if unknown:
            raise MutationConfigError(f"not configured in {args.config}: {', '.join(unknown)}")
    except MutationConfigError as e:
        print(f"mutation: {e}", file=sys.stderr)
        return 2

    if args.docs:
        print(markdown_tables(cfg))
        return 0

    if args.list:
        for name in names:
            for m in mutants(cfg.modules[name].path.read_text()):
                if args.function is None or m.function == args.function:
                    print(f"{name}:{m.line}  {m.key}")
        return 0

    if args.touched:
        changed = set(touched(cfg))
        names = [n for n in names if n in changed]
        if not names:
            print("mutation: no configured module changed since its score was recorded")
            return 0
    try:
        results = run_modules(
            cfg, names, args.jobs, args.budget, args.tests, args.function, args.progress, args.verify_equivalents
        )
    except MutationConfigError as e:
        print(f"mutation: {e}", file=sys.stderr)
        return 2

    if args.json:
        out = {n: r.as_json() for n, r in results.items()}
        if args.function or args.tests:
            for n, r in results.items():
                out[n]["killed_keys"] = r.killed_keys
        print(json.dumps(out, indent=2))
    else:
        print(report(results))
    status = 0
    if args.check:
        problems = check(cfg, results)
        for p in problems:
            print(f"mutation check FAILED: {p}", file=sys.stderr)
        if problems:
            print(
                "mutation: add tests that kill the survivors (or mark a truly equivalent mutant in the config with"
                " its reason); for a module not measured within the budget run"
                " `.venv/bin/python scripts/mutation.py --touched --record` and commit scripts/mutation_scores.json",
                file=sys.stderr,
            )
            status = 1
        else:
            print(
                "mutation check passed; to record the new scores and hashes:"
                " .venv/bin/python scripts/mutation.py --touched --record",
                file=sys.stderr,
            )
    if args.record and not (args.function or args.tests):
        record(cfg, results)
        recorded = ", ".join(n for n, r in results.items() if r.complete)
        print(f"mutation: recorded {recorded} in {cfg.scores_path}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
