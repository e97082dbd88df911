"""The progress display: a live rich panel on a terminal, plain lines otherwise (CI, pipes, logs)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


@dataclass
class Status:
    """What the panel shows about the current hour."""

    hour: str = ""
    btc: float = 0.0
    eth: float = 0.0
    batches: int = 0
    fills: int = 0
    last_gas: int = 0
    last_latency_s: float = 0.0
    members: list[tuple[str, float, float, float]] = field(default_factory=list)  # name, IM, collateral, debt
    note: str = ""  # default management: who is in default, the auction's progress, the waterfall


class Display:
    """`step(text)` for set-up phases, `start(total)`/`update(status)` for the replay, `event(text)` for what
    happens in the story, `close()` at the end."""

    def __init__(self, live: bool | None = None) -> None:
        self.live_mode = sys.stdout.isatty() if live is None else live
        self.console = Console(highlight=False)
        self.status = Status()
        self._live: Live | None = None
        self._progress: Progress | None = None
        self._task: int | None = None

    def step(self, text: str, detail: str = "") -> None:
        if self.live_mode:
            self.console.print(f"  [bold green]✓[/] {text}" + (f"  [dim]{detail}[/]" if detail else ""))
        else:
            print(f"  ✓ {text}" + (f"  ({detail})" if detail else ""), flush=True)

    def start(self, total: int, title: str) -> None:
        if not self.live_mode:
            print(f"  replaying {total} hours: {title}", flush=True)
            return
        self._progress = Progress(
            TextColumn("  replay"), BarColumn(), MofNCompleteColumn(), TextColumn("hours"), TimeElapsedColumn()
        )
        self._task = self._progress.add_task("replay", total=total)
        self._title = title
        self._live = Live(self._render(), console=self.console, refresh_per_second=8, transient=True)
        self._live.start()

    def _render(self) -> Panel:
        s = self.status
        table = Table(box=None, pad_edge=False, expand=False)
        for col in ("member", "IM", "collateral", "debt"):
            table.add_column(col, justify="left" if col == "member" else "right")
        for name, im, coll, debt in s.members:
            style = "bold red" if debt > 0 or (im > 0 and coll < im) else ""
            table.add_row(name, f"${im:,.0f}", f"${coll:,.0f}", f"${debt:,.0f}" if debt else "–", style=style)
        head = (
            f"[bold]{s.hour}[/]   BTC [cyan]${s.btc:,.0f}[/]   ETH [cyan]${s.eth:,.0f}[/]   "
            f"batches {s.batches}   fills {s.fills}   last batch gas {s.last_gas:,} in {s.last_latency_s:.2f} s"
        )
        parts: list[object] = [head, table]
        if s.note:
            parts.append(f"[bold magenta]default management:[/] {s.note}")
        if self._progress is not None:
            parts.append(self._progress)
        return Panel(Group(*parts), title=f"crossclear demo: {self._title}", border_style="blue")  # type: ignore[arg-type]

    def update(self, status: Status, advance: int = 1) -> None:
        self.status = status
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, advance)  # type: ignore[arg-type]
        if self._live is not None:
            self._live.update(self._render())
        elif status.batches and status.batches % 12 == 0:
            print(
                f"    {status.hour}  BTC ${status.btc:,.0f}  ETH ${status.eth:,.0f}  batches {status.batches}  "
                f"fills {status.fills}" + (f"  [{status.note}]" if status.note else ""),
                flush=True,
            )

    def event(self, text: str) -> None:
        if self.live_mode:
            self.console.print(f"  [yellow]•[/] {text}")  # above the live panel while it runs
        else:
            print(f"    • {text}", flush=True)

    def stop_live(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def close(self) -> None:
        self.stop_live()
