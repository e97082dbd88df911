/**
 * A TypeScript client of the crossclear API (`/v1`) on ethers v6: signs venue fills (EIP-712 `Fill`),
 * `ApiRequest` envelopes (keccak of the canonical JSON payload) and the vault's `WithdrawalRequest`, reads
 * sessions, fills, proofs, positions, margin and withdrawals, follows the push stream (WebSocket), and
 * verifies inclusion proofs with OpenZeppelin's StandardMerkleTree leaf encoding against a `fillsRoot` it
 * can read from the chain itself. `ROUTES` lists every route it calls; a test checks them against the
 * server's OpenAPI schema.
 */
import { AbiCoder, Contract, Provider, Wallet, getAddress, keccak256, toUtf8Bytes, TypedDataDomain } from "ethers";
import WebSocket from "ws";

export const ROUTES: Record<string, [string, string, string | null]> = {
  login: ["POST", "/v1/auth/login", "SessionOut"],
  logout: ["POST", "/v1/auth/logout", "RevokedOut"],
  submitFill: ["POST", "/v1/venues/{venue}/fills", "AckOut"],
  submitFills: ["POST", "/v1/venues/{venue}/fills/bulk", null],
  fillStatus: ["GET", "/v1/venues/{venue}/fills/{venue_fill_id}", "FillStatusOut"],
  batch: ["GET", "/v1/batches/{sequence}", "BatchOut"],
  batchFills: ["GET", "/v1/batches/{sequence}/fills", null],
  margin: ["GET", "/v1/members/{account}/margin", "MarginOut"],
  positions: ["GET", "/v1/members/{account}/positions", "PositionsOut"],
  requestWithdrawal: ["POST", "/v1/members/{account}/withdrawals", "WithdrawalOut"],
  withdrawals: ["GET", "/v1/members/{account}/withdrawals", null],
};

export interface Fill {
  venue: string;
  venue_fill_id: string;
  symbol: string;
  buyer: string;
  seller: string;
  qty: bigint;
  price: bigint;
  ts: number;
}

export interface Ack {
  venue_fill_id: string;
  status: "accepted" | "duplicate" | "rejected";
  fill_id: number | null;
  reason: string | null;
  detail: string;
}

export interface Proof {
  leaf: string;
  proof: string[];
  root: string;
  batch_sequence: number;
  batch_status: string;
  tx_hash: string | null;
}

export interface FillStatus {
  fill: Record<string, unknown> & { status: string; leaf: string };
  proof: Proof | null;
}

/** What a member signs to withdraw (the vault's EIP-712 `WithdrawalRequest`, minus `member`: the key's). */
export interface WithdrawalRequest {
  asset: number;
  amount: bigint;
  to: string;
  nonce: bigint; // the vault's withdrawalNonce(member): see withdrawalNonce()
  deadline: number; // chain seconds
}

export interface Withdrawal {
  id: number;
  account: number;
  asset: number;
  amount: string;
  to: string;
  ready_at: number;
  status: string;
  tx_hash: string | null;
}

export type StreamEvent = Record<string, unknown> & { type: string };

export class CrossclearError extends Error {
  constructor(
    public status: number,
    public code: string,
    public detail: string,
  ) {
    super(`${status} ${code}: ${detail}`);
  }
}

const FILL_TYPES = {
  Fill: [
    { name: "venue", type: "string" },
    { name: "venueFillId", type: "string" },
    { name: "symbol", type: "string" },
    { name: "buyer", type: "address" },
    { name: "seller", type: "address" },
    { name: "qty", type: "uint128" },
    { name: "price", type: "uint128" },
    { name: "ts", type: "uint64" },
  ],
};

const API_REQUEST_TYPES = {
  ApiRequest: [
    { name: "signer", type: "address" },
    { name: "action", type: "string" },
    { name: "payloadHash", type: "bytes32" },
    { name: "nonce", type: "uint256" },
    { name: "expiry", type: "uint64" },
  ],
};

const WITHDRAWAL_TYPES = {
  WithdrawalRequest: [
    { name: "member", type: "address" },
    { name: "asset", type: "uint16" },
    { name: "amount", type: "uint128" },
    { name: "to", type: "address" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint64" },
  ],
};

// The two reads of the vault a member makes itself, to trust neither the API nor the operator.
const VAULT_ABI = [
  "event BatchSettled(uint64 indexed sequence, bytes32 indexed digest, bytes32 fillsRoot, uint64 asOf, uint256 transfers)",
  "function withdrawalNonce(address member) view returns (uint256)",
];

/** The batch's fillsRoot as the vault's BatchSettled event holds it (null: no such batch on-chain). */
export async function fillsRootOnChain(provider: Provider, vault: string, sequence: number): Promise<string | null> {
  const contract = new Contract(vault, VAULT_ABI, provider);
  const logs = await contract.queryFilter(contract.filters.BatchSettled(sequence), 0, "latest");
  const last = logs[logs.length - 1];
  return last && "args" in last ? String(last.args.fillsRoot) : null;
}

/** The nonce the member's next WithdrawalRequest must carry. */
export async function withdrawalNonce(provider: Provider, vault: string, member: string): Promise<bigint> {
  return BigInt(await new Contract(vault, VAULT_ABI, provider).withdrawalNonce(member));
}

/** A session's push stream: `next()` resolves with each event in order (the first is `hello`). */
export class EventStream {
  private queue: StreamEvent[] = [];
  private waiting: { resolve: (e: StreamEvent) => void; reject: (e: Error) => void }[] = [];
  private ended: Error | null = null;

  constructor(private socket: WebSocket) {
    socket.on("message", (data) => {
      const event = JSON.parse(data.toString()) as StreamEvent;
      const w = this.waiting.shift();
      if (w) w.resolve(event);
      else this.queue.push(event);
    });
    const end = (why: Error) => {
      this.ended = why;
      for (const w of this.waiting.splice(0)) w.reject(why);
    };
    socket.on("error", end);
    socket.on("close", (code, reason) => end(new Error(`stream closed (${code} ${reason.toString()})`)));
  }

  /** The next event; rejects if none comes within `timeoutMs` (a batch every second or so, plus slack). */
  next(timeoutMs = 120_000): Promise<StreamEvent> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.ended) return Promise.reject(this.ended);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no event within ${timeoutMs} ms`)), timeoutMs);
      this.waiting.push({
        resolve: (e) => (clearTimeout(timer), resolve(e)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
    });
  }

  /** The next event of `type`, skipping others. */
  async nextOf(type: string, timeoutMs = 120_000): Promise<StreamEvent> {
    for (;;) {
      const e = await this.next(timeoutMs);
      if (e.type === type) return e;
    }
  }

  close(): void {
    this.socket.close();
  }
}

/** The canonical JSON the API hashes: keys sorted, no whitespace, integers and strings only. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    if (typeof value === "number" && !Number.isInteger(value)) throw new Error("payload numbers must be integers");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map(canonicalJson).join(",") + "]";
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJson(obj[k])).join(",") + "}";
}

/** The fill's StandardMerkleTree leaf: keccak256(keccak256(abi.encode(fields))). */
export function fillLeaf(f: Fill): string {
  const encoded = AbiCoder.defaultAbiCoder().encode(
    ["string", "string", "string", "address", "address", "uint128", "uint128", "uint64"],
    [f.venue, f.venue_fill_id, f.symbol, f.buyer, f.seller, f.qty, f.price, f.ts],
  );
  return keccak256(keccak256(encoded));
}

/** What OpenZeppelin's MerkleProof.verify computes (sorted pairs). */
export function verifyProof(root: string, leaf: string, proof: string[]): boolean {
  let node = leaf.toLowerCase();
  for (const sibling of proof) {
    const [a, b] = [node, sibling.toLowerCase()].sort();
    node = keccak256("0x" + a.slice(2) + b.slice(2));
  }
  return node === root.toLowerCase();
}

export class CrossclearClient {
  token: string | null = null;
  private domains: Domains | null = null;

  constructor(public baseUrl: string) {}

  private async call<T>(method: string, path: string, body?: unknown, query?: Record<string, string>): Promise<T> {
    const url = new URL(path, this.baseUrl);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = (await r.json()) as Record<string, unknown>;
    if (r.status >= 400) throw new CrossclearError(r.status, String(json.error), String(json.detail));
    return json as T;
  }

  async connect(): Promise<this> {
    const info = await this.call<{
      domain: TypedDataDomain;
      fills_domain: TypedDataDomain;
      withdrawal_domain: TypedDataDomain;
    }>("GET", "/v1/signing");
    this.domains = { api: info.domain, fills: info.fills_domain, vault: info.withdrawal_domain };
    return this;
  }

  /** The vault's address (the domains' verifyingContract), once connected. */
  get vault(): string {
    return String(this.need().vault.verifyingContract);
  }

  private need(): Domains {
    if (!this.domains) throw new Error("call connect() first");
    return this.domains;
  }

  async signFill(venueKey: Wallet, f: Fill): Promise<Record<string, unknown>> {
    const message = {
      venue: f.venue,
      venueFillId: f.venue_fill_id,
      symbol: f.symbol,
      buyer: f.buyer,
      seller: f.seller,
      qty: f.qty,
      price: f.price,
      ts: f.ts,
    };
    const signature = await venueKey.signTypedData(this.need().fills, FILL_TYPES, message);
    return { fill: { ...f, qty: f.qty.toString(), price: f.price.toString() }, signature };
  }

  async submitFills(venueKey: Wallet, fills: Fill[]): Promise<Ack[]> {
    const signed = await Promise.all(fills.map((f) => this.signFill(venueKey, f)));
    return this.call<Ack[]>("POST", `/v1/venues/${fills[0].venue}/fills/bulk`, { fills: signed });
  }

  async submitFill(venueKey: Wallet, fill: Fill): Promise<Ack> {
    return this.call<Ack>("POST", `/v1/venues/${fill.venue}/fills`, await this.signFill(venueKey, fill));
  }

  async signed<T>(key: Wallet, method: string, path: string, payload: unknown): Promise<T> {
    const nonce = BigInt(keccak256(toUtf8Bytes(`${Date.now()}-${Math.random()}`))) >> 128n;
    const expiry = Math.floor(Date.now() / 1000) + 300;
    const message = {
      signer: getAddress(key.address),
      action: `${method} ${path}`,
      payloadHash: keccak256(toUtf8Bytes(canonicalJson(payload))),
      nonce,
      expiry,
    };
    const signature = await key.signTypedData(this.need().api, API_REQUEST_TYPES, message);
    const auth = { signer: message.signer, nonce: nonce.toString(), expiry, signature };
    return this.call<T>(method, path, { payload, auth });
  }

  async login(key: Wallet): Promise<string> {
    const out = await this.signed<{ token: string }>(key, "POST", "/v1/auth/login", { purpose: "login" });
    this.token = out.token;
    return out.token;
  }

  async logout(): Promise<void> {
    await this.call("POST", "/v1/auth/logout");
    this.token = null;
  }

  fillStatus(venue: string, venueFillId: string): Promise<FillStatus> {
    return this.call<FillStatus>("GET", `/v1/venues/${venue}/fills/${venueFillId}`);
  }

  batch(sequence: number): Promise<{ fills_root: string; fill_count: number }> {
    return this.call("GET", `/v1/batches/${sequence}`);
  }

  /** Every fill of a batch, all pages. */
  async batchFills(sequence: number, limit = 500): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let cursor = 0;
    for (;;) {
      const page = await this.call<{ items: Record<string, unknown>[]; next_cursor: number | null }>(
        "GET",
        `/v1/batches/${sequence}/fills`,
        undefined,
        { cursor: String(cursor), limit: String(limit) },
      );
      out.push(...page.items);
      if (page.next_cursor === null) return out;
      cursor = page.next_cursor;
    }
  }

  /** The proof puts this fill under its batch's fillsRoot: `root` as read from the chain
   * (fillsRootOnChain), or else the API's copy. */
  async verifyInclusion(status: FillStatus, fill: Fill, root?: string): Promise<boolean> {
    if (!status.proof) return false;
    if (fillLeaf(fill) !== status.proof.leaf) return false;
    const fillsRoot = root ?? (await this.batch(status.proof.batch_sequence)).fills_root;
    return verifyProof(fillsRoot, status.proof.leaf, status.proof.proof);
  }

  margin(account: number): Promise<Record<string, unknown>> {
    return this.call("GET", `/v1/members/${account}/margin`);
  }

  positions(account: number): Promise<{ netted: { instrument: string; qty: string }[] } & Record<string, unknown>> {
    return this.call("GET", `/v1/members/${account}/positions`);
  }

  /** Sign the vault's WithdrawalRequest with the member's key and have the API relay it on-chain. */
  async requestWithdrawal(key: Wallet, account: number, req: WithdrawalRequest): Promise<Withdrawal> {
    const member = getAddress(key.address);
    const signature = await key.signTypedData(this.need().vault, WITHDRAWAL_TYPES, { member, ...req });
    return this.call<Withdrawal>("POST", `/v1/members/${account}/withdrawals`, {
      member,
      asset: req.asset,
      amount: req.amount.toString(),
      to: req.to,
      nonce: req.nonce.toString(),
      deadline: req.deadline,
      signature,
    });
  }

  withdrawals(account: number): Promise<Withdrawal[]> {
    return this.call("GET", `/v1/members/${account}/withdrawals`);
  }

  /** The session's push stream (log in first); `wsUrl` is the server's ws:// or wss:// base. */
  stream(wsUrl: string): EventStream {
    if (!this.token) throw new Error("log in first: the stream needs a session");
    const url = new URL("/v1/stream", wsUrl);
    url.searchParams.set("token", this.token);
    return new EventStream(new WebSocket(url));
  }
}

interface Domains {
  api: TypedDataDomain;
  fills: TypedDataDomain;
  vault: TypedDataDomain;
}
