"""The demo's world: the chain, the vault and its members, the venues, and the real engine, ingestor and
auction house — built once, through the devnet's bring-up (the production deploy and wiring), plus the DAO's
real Safe multisig and everyone's collateral."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from eth_account import Account
from web3 import Web3

from offchain.chain.deploy import DEVNET_TOKENS, mint
from offchain.chain.safe import SafeMultisig, deploy_safe
from offchain.chain.transactions import TxSender
from offchain.chain.vault import VaultClient, vault_sender
from offchain.core.fills import fills_domain
from offchain.defaults.house import AuctionHouse
from offchain.defaults.manager import DefaultsConfig
from offchain.demo import defaults as dm
from offchain.demo.display import Display
from offchain.demo.history import Window
from offchain.demo.population import MemberProfile
from offchain.devnet.bootstrap import bring_up, fund_gas, new_key
from offchain.devnet.runtime import auction_house, connect, settlement_engine
from offchain.devnet.spec import DevnetSpec, MemberSpec
from offchain.ingest import registry
from offchain.ingest.service import Ingestor
from offchain.ledger.handles import Engine
from offchain.ledger.views import positions
from offchain.settlement.clock import ChainClock
from offchain.settlement.engine import SettlementEngine

USD = 10**6  # settlement base units per dollar
QTY = 10**8  # instrument quantity units per whole unit (qty_decimals = 8)
HOUR = 3600
INSTRUMENT = {"BTC": "BTC-USD-PERP", "ETH": "ETH-USD-PERP"}
DECIMALS = {t.symbol: t.decimals for t in DEVNET_TOKENS}
# Default management as the engine ships it: calls cured within 2 h (30 min when deep), close-out auctions of
# 25% tranches every 5 minutes, bids within 3% of the mark.
DEMO_DEFAULTS = DefaultsConfig()
HOUSE_MARGIN_USDC = 1_000_000  # the house account takes unbid auction remainders: margin for them


@dataclass
class Member:
    profile: MemberProfile
    spec: MemberSpec
    payer: TxSender  # who deposits for it (itself, or for the Safe: its first owner)
    wallet: float  # USDC outside the vault, for top-ups
    safe: SafeMultisig | None = None

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def account(self) -> int:
        return self.spec.account


@dataclass
class World:
    w3: Web3
    db: Engine
    db_url: str
    spec: DevnetSpec
    vault: VaultClient
    operator: TxSender
    members: dict[str, Member]
    engine: SettlementEngine
    ingestor: Ingestor
    house: AuctionHouse
    names: dict[int, str]  # account -> member name (and the house)
    status: dict[int, str] = field(default_factory=dict)  # account -> the ledger's member status

    def chain_time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance_to(self, target: int) -> None:
        """Move the chain's clock (history's clock in the demo) to `target` and mine a block there."""
        now = self.chain_time()
        if target > now:
            self.w3.provider.make_request("evm_increaseTime", [target - now])  # type: ignore[arg-type]
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def refresh_status(self) -> None:
        self.status = dm.statuses(self.db)

    def active(self, name: str) -> bool:
        """Called members are close-only and defaulted ones trade only through the close-out auction."""
        return self.status.get(self.members[name].account, "active") == "active"

    def venue_positions(self) -> dict[tuple[int, str, str], int]:
        with self.db.connect() as conn:
            return positions.venue_positions(conn)


def build_world(
    w3: Web3,
    url: str,
    db: Engine,
    db_url: str,
    population: Sequence[MemberProfile],
    window: Window,
    display: Display,
    cosign: Callable[[DevnetSpec], DevnetSpec],
) -> World:
    """Deploy and register everything (the DAO as a real Safe), deposit every member's collateral, start the
    co-signers (`cosign`: the spec with the URLs of the co-signer processes it started, which live as long
    as the caller's context), and build the engine on the chain's clock: the demo's world time is history's,
    which the chain's clock carries. The engine holds no risk key: every batch it proposes is verified and
    signed by the co-signers."""
    risk_asof = str(window.hours[0].astype("datetime64[D]") - np.timedelta64(1, "D"))
    eoa = [m for m in population if not m.safe]
    spec = bring_up(
        w3, url, db, [(m.name, m.kind, m.tier, m.group) for m in eoa], risk_asof, house_margin_usdc=HOUSE_MARGIN_USDC
    )
    vault = connect(spec)
    operator = vault_sender(w3, spec.operator_key)
    display.step(
        "vault deployed",
        f"{spec.vault}, 2-of-3 risk signers, tokens {', '.join(spec.tokens)}; "
        f"venues {', '.join(v.name for v in spec.venues)}",
    )
    members = {
        profile.name: Member(profile, ms, vault_sender(w3, ms.key), profile.wallet_usdc)
        for profile, ms in zip(eoa, spec.members, strict=True)
    }
    safe_profile = next((m for m in population if m.safe), None)
    if safe_profile is not None:
        spec = _admit_safe(w3, db, spec, vault, operator, safe_profile, members, display)
    members = {p.name: members[p.name] for p in population}  # the population's order (the report's)
    display.step(f"{len(members)} members admitted", ", ".join(sorted({m.profile.kind for m in members.values()})))
    _deposit_all(spec, vault, operator, members, display)
    spec = cosign(spec)
    display.step(
        f"{len(spec.cosigners)} co-signers up",
        f"separate `crossclear cosign` processes, each holding one of the {len(spec.signer_keys)} risk-signer keys, "
        f"its own RPC connection and its own copy of the published history; each re-runs the auditor's checks "
        f"on every proposed batch before it signs ({spec.threshold} signatures needed); the engine holds no risk key",
    )
    clock = ChainClock(w3)
    ingestor = Ingestor(db, fills_domain(spec.chain_id, spec.vault), clock=clock.now_ms)
    return World(
        w3=w3,
        db=db,
        db_url=db_url,
        spec=spec,
        vault=vault,
        operator=operator,
        members=members,
        engine=settlement_engine(spec, db, defaults=DEMO_DEFAULTS, clock=clock),
        ingestor=ingestor,
        house=auction_house(spec, db, DEMO_DEFAULTS.auction, ingestor, fill_clock_ms=clock.now_ms),
        names={m.account: n for n, m in members.items()} | {spec.house_account: "crossclear house"},
    )


def _admit_safe(
    w3: Web3,
    db: Engine,
    spec: DevnetSpec,
    vault: VaultClient,
    operator: TxSender,
    profile: MemberProfile,
    members: dict[str, Member],
    display: Display,
) -> DevnetSpec:
    owner_keys = tuple(new_key()[0] for _ in range(3))
    _infra, safe = deploy_safe(operator, owner_keys, threshold=2)
    account = vault.admit_member(operator, safe.address)
    with db.begin() as conn:
        registry.admit_member(conn, account, safe.address, profile.name, profile.kind, profile.tier, profile.group)
        for ins in spec.instruments:
            registry.grant(conn, account, ins.name)
    ms = MemberSpec(
        name=profile.name,
        kind=profile.kind,
        tier=profile.tier,
        group=profile.group,
        key=owner_keys[0],
        address=safe.address,
        account=account,
    )
    fund_gas(w3, spec.operator_key, Account.from_key(owner_keys[0]).address)
    members[profile.name] = Member(profile, ms, vault_sender(w3, owner_keys[0]), profile.wallet_usdc, safe)
    display.step(f"{profile.name} is a Safe", f"{safe.address}: Safe 1.4.1 from the npm artefacts, 2-of-3 owners")
    return spec.model_copy(update={"members": [*spec.members, ms]})


def _deposit_all(
    spec: DevnetSpec, vault: VaultClient, operator: TxSender, members: dict[str, Member], display: Display
) -> None:
    for m in members.values():
        for symbol, amount in m.profile.collateral.items():
            units = round(amount * 10 ** DECIMALS[symbol])
            if units <= 0:
                continue
            mint(operator, spec.tokens[symbol], m.payer.address, units)
            vault.deposit(m.payer, m.spec.address, spec.assets[symbol], units)
        if m.wallet > 0:
            mint(operator, spec.tokens["USDC"], m.payer.address, round(m.wallet * USD))
    display.step("collateral deposited", "USDC, WETH, WBTC and T-bill shares, by each member (the Safe's by its owner)")
