"""`crossclear demo`: the whole story of crossclear on a real local chain, with a live progress display and
an HTML report (offchain/demo/: history, population, venue flow, Safe member, story, report)."""

from __future__ import annotations

import time
from pathlib import Path

from offchain.demo.display import Display
from offchain.demo.history import DEFAULT_WINDOW, WindowError
from offchain.demo.population import PopulationError
from offchain.demo.story import DEFAULT_SPEED, DemoOptions, Story


def run_demo(
    port: int | None = None,
    window: str = DEFAULT_WINDOW,
    members: str | None = None,
    speed: float = DEFAULT_SPEED,
    out: str = "var/demo",
) -> int:
    started = time.monotonic()
    print("crossclear demo: cross-venue clearing of a real market crash on a real local chain\n", flush=True)
    display = Display()
    opts = DemoOptions(
        window=window,
        members_file=Path(members) if members else None,
        speed=speed,
        out_dir=Path(out),
        port=port,
    )
    try:
        story = Story(opts, display)
    except (WindowError, PopulationError) as exc:
        print(f"crossclear demo: {exc}")
        return 2
    try:
        record = story.run()
    finally:
        display.close()
    record.seconds["total"] = time.monotonic() - started
    from offchain.demo.report import write_netting_png, write_report

    report = write_report(record, opts.out_dir)
    write_netting_png(record, opts.out_dir / "netting.png")
    record.save(opts.out_dir / "run.json")
    ok = not record.reconcile_problems and all(a["held"] >= a["owed"] for a in record.solvency)
    ok = ok and record.audit.get("status") != "failed"
    print(f"\nreport: {report}")
    print(f"done in {record.seconds['total']:.0f} s" + ("" if ok else " — with problems (see the report)"))
    return 0 if ok else 1
