"""The demo's report: one self-contained HTML file (inline SVG plots rendered by matplotlib, no network).

Sections: the price path with the story's events, each member's IM and collateral, cross-venue netting
(margin and gas with and without it), the platform's directional imbalance, the default's timeline and
waterfall, batch latency and gas, the reconciliation, solvency and the auditor's verdict.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display: render to files only
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from offchain.demo.record import RunRecord

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]
EVENT_COLOURS = {"call": "#ff7f0e", "default": "#d62728", "withdrawal": "#2ca02c", "cure": "#17becf"}
LAYER_COLOURS = ["#8c564b", "#e377c2", "#ff7f0e", "#1f77b4", "#9467bd", "#7f7f7f", "#d62728"]


def _fmt(pattern: str) -> mdates.DateFormatter:
    return mdates.DateFormatter(pattern)  # type: ignore[no-untyped-call]


def _hours(record: RunRecord) -> list[float]:
    """The ticks' hours as matplotlib date numbers."""
    return [float(mdates.date2num(datetime.strptime(t.hour, "%Y-%m-%dT%H"))) for t in record.ticks]  # type: ignore[no-untyped-call]


def _fig(height: float = 3.4) -> tuple[Figure, Axes]:
    fig, ax = plt.subplots(figsize=(9.5, height), dpi=100)
    ax.grid(alpha=0.3)
    return fig, ax


def _time_axis(ax: Axes) -> None:
    ax.xaxis.set_major_formatter(_fmt("%d %b %H:%M"))
    for label in ax.get_xticklabels():
        label.set_rotation(0)


def _svg(fig: Figure, title: str) -> str:
    buf = io.StringIO()
    fig.tight_layout()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    plt.close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]  # drop the XML prolog: the SVG is inline in HTML
    t = html.escape(title)
    return f'<figure class="plot" data-title="{t}">{svg}<figcaption>{t}</figcaption></figure>'


def price_figure(record: RunRecord) -> Figure:
    x = _hours(record)
    fig, ax = _fig(3.6)
    btc = [t.btc for t in record.ticks]
    eth = [t.eth for t in record.ticks]
    ax.plot(x, btc, color=COLOURS[0], label="BTC perpetual (hourly close)")
    ax.set_ylabel("BTC, USD")
    ax2 = ax.twinx()
    ax2.plot(x, eth, color=COLOURS[3], label="ETH perpetual (hourly close)")
    ax2.set_ylabel("ETH, USD")
    seen: set[str] = set()
    for e in record.events:
        if e.kind in EVENT_COLOURS and e.tick < len(x):
            ax.axvline(
                x[e.tick],
                color=EVENT_COLOURS[e.kind],
                ls="--",
                lw=1,
                alpha=0.8,
                label=None if e.kind in seen else e.kind,
            )
            seen.add(e.kind)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="lower left", fontsize=8)
    ax.set_title(f"Price path replayed: {record.window} ({record.window_note})", fontsize=10)
    _time_axis(ax)
    return fig


def margin_figure(record: RunRecord) -> Figure:
    x = _hours(record)
    names = [m["name"] for m in record.members]
    n = len(names)
    cols = 2
    rows = (n + 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(9.5, 2.1 * rows), dpi=100, sharex=True, squeeze=False)
    for k, name in enumerate(names):
        ax = axes[k // cols][k % cols]
        im = [t.members[name].im / 1e6 for t in record.ticks]
        coll = [t.members[name].collateral / 1e6 for t in record.ticks]
        ax.fill_between(x, 0, im, color=COLOURS[1], alpha=0.25, label="IM (posted on-chain)")
        ax.plot(x, im, color=COLOURS[1], lw=1)
        ax.plot(x, coll, color=COLOURS[0], lw=1.5, label="collateral (haircut, less debt)")
        ax.set_title(name, fontsize=9)
        ax.set_ylabel("USD m", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_formatter(_fmt("%d %b"))
        if k == 0:
            ax.legend(fontsize=7, loc="upper left")
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    return fig


def netting_figure(record: RunRecord) -> Figure:
    names = [m["name"] for m in record.members]
    last = record.ticks[-1]
    peak_with = [max(t.members[n].im for t in record.ticks) / 1e6 for n in names]
    peak_without = [max(t.members[n].im_venue_only for t in record.ticks) / 1e6 for n in names]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, 3.6), dpi=100, gridspec_kw={"width_ratios": [3, 2]})
    y = np.arange(len(names))
    ax.barh(y + 0.2, peak_without, height=0.4, color="#bbbbbb", label="each venue margins alone")
    ax.barh(y - 0.2, peak_with, height=0.4, color=COLOURS[0], label="crossclear: one portfolio across venues")
    ax.set_yticks(y, [n.replace(" ", "\n", 1) if len(n) > 18 else n for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("peak initial margin, USD m")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    ax.grid(alpha=0.3, axis="x")
    ax.set_title("Margin with and without cross-venue netting", fontsize=9)
    fixed, per = record.gas_model
    gas_with = sum(fixed + b.transfers * per for b in record.batches)
    gas_without = sum(b.batches_venue_only * fixed + b.transfers_venue_only * per for b in record.batches)
    tr_with = sum(b.transfers for b in record.batches)
    tr_without = sum(b.transfers_venue_only for b in record.batches)
    bars = bx.bar(
        ["crossclear\n(netted)", "venue by venue"],
        [gas_with / 1e6, gas_without / 1e6],
        color=[COLOURS[0], "#bbbbbb"],
    )
    for b, tr in zip(bars, (tr_with, tr_without), strict=True):
        bx.annotate(
            f"{tr:,} transfers", (b.get_x() + b.get_width() / 2, b.get_height()), ha="center", va="bottom", fontsize=8
        )
    bx.set_ylabel("settlement gas, millions")
    bx.set_title("Settlement gas (bench_gas.py model)", fontsize=9)
    bx.grid(alpha=0.3, axis="y")
    del last
    return fig


def imbalance_figure(record: RunRecord) -> Figure:
    x = _hours(record)
    groups = sorted(record.ticks[0].group_net) if record.ticks else []
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, 3.3), dpi=100, sharey=False)
    for j, (axis, label) in enumerate(((ax, "BTC"), (bx, "ETH"))):
        for k, g in enumerate(groups):
            axis.plot(x, [t.group_net[g][j] / 1e6 for t in record.ticks], color=COLOURS[k % len(COLOURS)], label=g)
        axis.axhline(0, color="black", lw=0.8)
        axis.set_title(f"{label}-USD-PERP: net notional by member group", fontsize=9)
        axis.set_ylabel("USD m (+ long, − short)", fontsize=8)
        axis.grid(alpha=0.3)
        axis.xaxis.set_major_formatter(_fmt("%d %b"))
        axis.tick_params(labelsize=7)
    ax.legend(fontsize=7)
    return fig


def batches_figure(record: RunRecord) -> Figure:
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, 3.0), dpi=100)
    seq = [b.sequence for b in record.batches]
    ax.bar(seq, [b.gas / 1e3 for b in record.batches], color=COLOURS[0])
    ax.set_xlabel("batch")
    ax.set_ylabel("gas used, thousands")
    ax.set_title("Gas per settlement batch", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    bx.plot(seq, [b.latency_s * 1e3 for b in record.batches], "o-", ms=3, color=COLOURS[2])
    bx.set_xlabel("batch")
    bx.set_ylabel("sign → included, ms")
    bx.set_title("Batch latency (sign, send, inclusion, ledger applied)", fontsize=9)
    bx.grid(alpha=0.3)
    return fig


def default_figure(default: dict[str, Any]) -> Figure:
    """The close-out auction (per tranche: filled by each bidder, the rest by the house) and the waterfall
    layers the vault drew (its WaterfallDraw events), next to the engine's plan."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(9.5, 3.4), dpi=100, gridspec_kw={"width_ratios": [3, 2]})
    tranches = default["tranches"]
    bidders = sorted({b["bidder"] for tr in tranches for b in tr["bids"] if b["filled"] > 0})
    x = np.arange(len(tranches))
    bottom = np.zeros(len(tranches))
    for k, who in enumerate(bidders):
        qty = np.array([sum(b["filled"] for b in tr["bids"] if b["bidder"] == who) for tr in tranches])
        ax.bar(x, qty, bottom=bottom, color=COLOURS[k % len(COLOURS)], label=f"{who} (signed bids)")
        bottom += qty
    house = np.array([tr["house_qty"] for tr in tranches])
    ax.bar(x, house, bottom=bottom, color="#bbbbbb", label="house account (unbid, at the penalty)")
    ax.set_xticks(x, [f"tranche {tr['tranche']}\n{tr['instrument'].split('-')[0]}" for tr in tranches], fontsize=8)
    ax.set_ylabel("quantity closed out", fontsize=8)
    ax.set_title(f"Close-out auction of {default['defaulter']}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, axis="y")
    layers = default["layers"]
    y = np.arange(len(layers))
    bx.barh(y, [lay["chain"] / 1e3 for lay in layers], color=LAYER_COLOURS[: len(layers)], height=0.6)
    for k, lay in enumerate(layers):
        bx.annotate(f" ${lay['chain']:,.0f}", (lay["chain"] / 1e3, k), va="center", fontsize=7)
    bx.set_yticks(y, [lay["name"].split(" ", 1)[0] for lay in layers], fontsize=8)
    bx.invert_yaxis()
    bx.set_xlabel("drawn on-chain, USD thousands", fontsize=8)
    bx.set_title(f"Waterfall: ${default['covered']:,.0f} covered, ADL {default['adl']}", fontsize=9)
    bx.grid(alpha=0.3, axis="x")
    bx.set_xlim(0, max([lay["chain"] / 1e3 for lay in layers] + [1.0]) * 1.35)
    return fig


def _default_html(d: dict[str, Any]) -> str:
    """The default's sections: verdict line, auction table, waterfall layers and draws, and the plot."""
    if not d.get("defaults"):
        return f"<p>{_verdict(str(d.get('status', 'none')))} {html.escape(str(d.get('detail', '')))}</p>"
    parts = [f"<p>{_verdict(str(d['status']))} {html.escape(str(d['detail']))}.</p>"]
    for one in d["defaults"]:
        parts.append(_svg(default_figure(one), "Close-out auction per tranche, and the waterfall layers drawn"))
        parts.append(
            f"<p>Default of <b>{html.escape(one['defaulter'])}</b> DECLAREd in batch {one['declared_sequence']} "
            f"at {html.escape(one['declared_at'])} with positions "
            + ", ".join(f"{q:,.4f} {html.escape(i)}" for i, q in one["positions"].items())
            + f"; unbid remainder penalty {one['penalty_bps']} bps; CLOSEd in batch {one['closed_sequence']}. "
            f"On-chain at the end: inDefault = {one['in_default_on_chain']}.</p>"
        )
        rows = []
        for tr in one["tranches"]:
            bids = "; ".join(
                f"{b['bidder']}: {b['qty']:,.2f} at ${b['price']:,.0f} → {b['outcome']} {b['filled']:,.2f}"
                for b in tr["bids"]
            )
            rows.append(
                (
                    tr["tranche"],
                    tr["instrument"],
                    tr["opened"],
                    f"{tr['qty']:,.4f}",
                    f"{tr['mark']:,.0f}",
                    bids or "no bids",
                    f"{tr['bid_qty']:,.4f}",
                    f"{tr['house_qty']:,.4f} at {tr['house_price']:,.0f}" if tr["house_qty"] else "–",
                )
            )
        parts.append("<h3>Close-out auction (EIP-712 signed bids, cleared by the AuctionHouse)</h3>")
        parts.append(
            _table(
                ("tranche", "instrument", "opened", "qty", "mark", "bids", "filled by bids", "house remainder"),
                rows,
            )
        )
        parts.append("<h3>Waterfall layers used</h3>")
        parts.append(
            "<p class='note'><i>on-chain</i>: the vault's <code>WaterfallDraw</code> events; <i>ledger (chain)</i>: "
            "the same events as the engine stored them when the batch confirmed; <i>ledger (plan)</i>: the "
            "engine's <code>plan_waterfall</code>, stored when it built the COVER batch. Layers 6 and 7 exist only "
            "off-chain, in the plan.</p>"
        )
        parts.append(
            _table(
                ("layer", "on-chain (USD)", "ledger (chain)", "ledger (plan)"),
                [
                    (lay["name"], f"{lay['chain']:,.2f}", f"{lay['ledger_chain']:,.2f}", f"{lay['plan']:,.2f}")
                    for lay in one["layers"]
                ],
            )
        )
        parts.append(
            _table(
                ("layer", "drawn from", "asset", "amount", "value (USD)", "block"),
                [
                    (f"L{x['layer']}", x["from"], x["asset"], f"{x['amount']:,.6f}", f"{x['value']:,.2f}", x["block"])
                    for x in one["draws"]
                ],
            )
        )
        same = "equal" if one["chain_equals_ledger"] and one["chain_equals_plan"] else "DIFFERENT"
        parts.append(
            f"<p>Vault events, ledger chain rows and the engine's plan are <b>{same}</b>. Loss covered "
            f"${one['covered']:,.2f}, drawn on-chain ${one['drawn_on_chain']:,.2f}; VM haircut "
            f"${one['vm_haircut']:,.2f}; ADL count <b>{one['adl']}</b>; external exposure "
            f"<b>${one['external']:,.2f}</b>.</p>"
        )
    return "\n".join(parts)


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1000px;margin:2em auto;
padding:0 1em;color:#222}
h1{font-size:1.6em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}figure.plot{margin:1em 0}figure.plot svg{max-width:100%;height:auto}
figcaption{font-size:.8em;color:#666}.ok{color:#1a7f37;font-weight:bold}.bad{color:#cf222e;font-weight:bold}
.pending{color:#9a6700;font-weight:bold}.note{font-size:.85em;color:#555}code{background:#f4f4f4;padding:0 3px}
"""


# Marks the page with how many plots laid out with a real size and how many script errors occurred, so a
# headless browser's DOM dump shows whether the report rendered (tests/demo/test_report_browser.py).
CHECK_SCRIPT = """<script>
(function () {
  var errors = 0;
  window.addEventListener("error", function () { errors += 1; });
  var figs = document.querySelectorAll("figure.plot svg");
  var shown = 0;
  for (var i = 0; i < figs.length; i++) {
    var r = figs[i].getBoundingClientRect();
    if (r.width > 200 && r.height > 100) { shown += 1; }
  }
  document.body.setAttribute("data-plots", String(figs.length));
  document.body.setAttribute("data-plots-shown", String(shown));
  document.body.setAttribute("data-errors", String(errors));
})();
</script>"""


def _verdict(status: str) -> str:
    cls = {"passed": "ok", "handled": "ok", "failed": "bad"}.get(status, "pending")
    return f'<span class="{cls}">{html.escape(status.upper())}</span>'


def render(record: RunRecord) -> str:
    """The report's HTML."""
    fixed, per = record.gas_model
    n_fills = sum(b.fills for b in record.batches)
    gas_measured = sum(b.gas for b in record.batches)
    gas_with = sum(fixed + b.transfers * per for b in record.batches)
    gas_without = sum(b.batches_venue_only * fixed + b.transfers_venue_only * per for b in record.batches)
    names = [m["name"] for m in record.members]
    peak_with = sum(max(t.members[n].im for t in record.ticks) for n in names) if record.ticks else 0.0
    peak_without = sum(max(t.members[n].im_venue_only for t in record.ticks) for n in names) if record.ticks else 0.0
    members_rows = [
        (
            m["name"],
            m["kind"],
            m["tier"],
            m["group"],
            m["account"],
            "Safe 2-of-3 (EIP-1271)" if m["safe"] else "EOA",
            ", ".join(f"{v:,.0f} {k}" for k, v in m["collateral"].items()),
        )
        for m in record.members
    ]
    story_rows = [(e.hour, e.kind, e.text) for e in record.events if e.kind not in ("trade",)]
    default_rows = [
        (e.hour, e.kind, e.text)
        for e in record.events
        if e.kind in ("call", "cure", "default", "auction", "bid", "waterfall")
    ]
    waterfall_html = _default_html(record.defaults)
    audit = record.audit
    audit_html = (
        f"<p>Auditor: {_verdict(str(audit.get('status', 'pending')))} — {html.escape(str(audit.get('detail', '')))}</p>"
    )
    if audit.get("output"):
        audit_html += f"<pre>{html.escape(str(audit['output']))}</pre>"
    solvency = _table(
        ("token", "held by the vault", "owed to accounts"),
        [(a["symbol"], f"{a['held']:,.2f}", f"{a['owed']:,.2f}") for a in record.solvency],
    )
    recon = (
        '<p class="ok">Ledger and chain agree: every fill settled once, positions and cash match.</p>'
        if not record.reconcile_problems
        else "<ul>" + "".join(f"<li class='bad'>{html.escape(p)}</li>" for p in record.reconcile_problems) + "</ul>"
    )
    secs = record.seconds
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<title>crossclear demo report</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>crossclear demo report</h1>",
        f"<p>Window <b>{html.escape(record.window)}</b>: {html.escape(record.window_note)}. "
        f"{len(record.ticks)} hours replayed through the real engine on a local Anvil chain "
        f"(vault <code>{html.escape(record.vault)}</code>, chain id {record.chain_id}); "
        f"{len(record.batches)} batches, {n_fills:,} fills ({record.fills_rejected} rejected by ingest); "
        f"run time {secs.get('total', 0):.0f} s (set-up {secs.get('setup', 0):.0f} s, "
        f"replay {secs.get('replay', 0):.0f} s, "
        f"checks {secs.get('checks', 0):.0f} s).</p>",
        "<h2>Verdict</h2>",
        audit_html,
        recon,
        solvency,
        "<h2>Price path</h2>",
        _svg(price_figure(record), "Hourly perpetual closes; dashed lines: margin calls, the default, withdrawals"),
        "<h2>Members</h2>",
        _table(("member", "kind", "tier", "group", "account", "signs as", "collateral deposited"), members_rows),
        "<h2>Initial margin and collateral per member</h2>",
        "<p class='note'>IM: the risk engine's requirement posted on-chain in each batch (filtered historical "
        "simulation ES with stressed floor, concentration and liquidity add-ons, tier multiplier). Collateral: "
        "haircut value at the vault's posted marks less any liquidity-advance debt (the vault's own view).</p>",
        _svg(margin_figure(record), "Initial margin (shaded) and haircut collateral per member over time"),
        "<h2>Cross-venue netting</h2>",
        f"<p>Sum of members' peak IM: <b>${peak_with / 1e6:,.1f}m</b> cleared together against "
        f"<b>${peak_without / 1e6:,.1f}m</b> if each venue margined its own positions alone (same risk engine, "
        f"positions split by venue). Moving the cash: {sum(b.transfers for b in record.batches):,} netted transfers "
        f"against {sum(b.transfers_venue_only for b in record.batches):,} if each venue settled its own members "
        f"in its own batches, about <b>{gas_with:,.0f}</b> against <b>{gas_without:,.0f}</b> gas "
        f"({fixed:,.0f} per batch + {per:,.0f} per transfer, measured by <code>scripts/bench_gas.py</code>). "
        f"Measured gas of this run's batches, margin postings included: {gas_measured:,}.</p>",
        _svg(
            netting_figure(record), "Peak IM per member and total settlement gas, with and without cross-venue netting"
        ),
        "<h2>Platform directional imbalance</h2>",
        "<p class='note'>Net notional by member group: the venue's retail pool ends long, the professional market "
        "makers short; the platform as a whole is always flat (every long has a short inside the house).</p>",
        _svg(imbalance_figure(record), "Net notional per member group and instrument"),
        "<h2>Margin calls and the default</h2>",
        "<p class='note'>Decided by the engine's <code>DefaultManager</code> in each batch (rule: "
        "<code>offchain/defaults/calls.py</code>: call when equity &lt; MM or debt &gt; 0; cure at equity ≥ IM "
        "and no debt; DECLARE when the cure period ends uncured), read back from the ledger's "
        "<code>margin_calls</code> and checked against the vault's <code>marginCallOf</code> and "
        "<code>inDefault</code>; the close-out auction run by the engine's <code>AuctionHouse</code>; the "
        "waterfall drawn by the vault itself.</p>",
        "<h3>Default timeline</h3>",
        _table(("hour", "what", "detail"), default_rows) if default_rows else "<p>No margin call in this window.</p>",
        "<h3>The default, its auction and the waterfall</h3>",
        waterfall_html,
        "<h2>Batches: latency and gas</h2>",
        _svg(batches_figure(record), "Gas and latency of every settlement batch"),
        "<h2>The story, hour by hour</h2>",
        _table(("hour", "what", "detail"), story_rows),
        CHECK_SCRIPT,
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(record: RunRecord, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.html"
    path.write_text(render(record), encoding="utf-8")
    return path


def write_netting_png(record: RunRecord, path: Path) -> None:
    """The netting plot as a PNG (the README shows the May 2021 run's: docs/img/demo-netting.png)."""
    fig = netting_figure(record)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=90)
    plt.close(fig)
