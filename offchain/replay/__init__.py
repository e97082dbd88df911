"""Replays: drive a member population through a real price path under crossclear's default management
(portfolio margin across venues, margin call → cure → default → tranche auction → waterfall L1-L7) and
under the venue-only alternative (each venue margins and liquidates alone, insurance fund, ADL).

A simulation of issue 6 items 1-3 over a price path, reusing the risk engine (:mod:`offchain.risk`);
see ``docs/stress-replays.md``. Modules: :mod:`prices` (paths at the file's own frequency),
:mod:`population` (members from JSON/CSV), :mod:`config` (documented parameters), :mod:`market` (daily
risk-model refresh), :mod:`setup` (shared initial state, Cover-2 fund), :mod:`crossclear`,
:mod:`venue_only`, :mod:`waterfall` (L1-L7 allocation), :mod:`engine` (one replay), :mod:`report`.
"""
