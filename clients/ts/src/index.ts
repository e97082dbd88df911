/**
 * A TypeScript client of the crossclear API (`/v1`) on ethers v6: signs venue fills (EIP-712 `Fill`),
 * `ApiRequest` envelopes (keccak of the canonical JSON payload), reads sessions, fills and proofs, and
 * verifies inclusion proofs with OpenZeppelin's StandardMerkleTree leaf encoding. `ROUTES` lists every
 * route it calls; a test checks them against the server's OpenAPI schema.
 */
import { AbiCoder, Wallet, getAddress, keccak256, toUtf8Bytes, TypedDataDomain } from "ethers";

export const ROUTES: Record<string, [string, string, string | null]> = {
  login: ["POST", "/v1/auth/login", "SessionOut"],
  logout: ["POST", "/v1/auth/logout", "RevokedOut"],
  submitFill: ["POST", "/v1/venues/{venue}/fills", "AckOut"],
  submitFills: ["POST", "/v1/venues/{venue}/fills/bulk", null],
  fillStatus: ["GET", "/v1/venues/{venue}/fills/{venue_fill_id}", "FillStatusOut"],
  batch: ["GET", "/v1/batches/{sequence}", "BatchOut"],
  batchFills: ["GET", "/v1/batches/{sequence}/fills", null],
  margin: ["GET", "/v1/members/{account}/margin", "MarginOut"],
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
  private domains: { api: TypedDataDomain; fills: TypedDataDomain } | null = null;

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
    const info = await this.call<{ domain: TypedDataDomain; fills_domain: TypedDataDomain }>("GET", "/v1/signing");
    this.domains = { api: info.domain, fills: info.fills_domain };
    return this;
  }

  private need(): { api: TypedDataDomain; fills: TypedDataDomain } {
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

  /** The proof puts this fill under its batch's published fillsRoot. */
  async verifyInclusion(status: FillStatus, fill: Fill): Promise<boolean> {
    if (!status.proof) return false;
    if (fillLeaf(fill) !== status.proof.leaf) return false;
    const { fills_root } = await this.batch(status.proof.batch_sequence);
    return verifyProof(fills_root, status.proof.leaf, status.proof.proof);
  }

  margin(account: number): Promise<Record<string, unknown>> {
    return this.call("GET", `/v1/members/${account}/margin`);
  }
}
