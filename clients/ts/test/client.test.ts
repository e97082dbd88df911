/**
 * Runs against a live crossclear API (CROSSCLEAR_API_URL) prepared by tests/client/test_ts_client.py:
 * venue dexA (key CROSSCLEAR_VENUE_KEY), members Alice (CROSSCLEAR_ALICE_KEY) and Bob.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Wallet } from "ethers";
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { CrossclearClient, CrossclearError, ROUTES, fillLeaf, Fill } from "../src/index.js";

const base = process.env.CROSSCLEAR_API_URL!;
const venue = new Wallet(process.env.CROSSCLEAR_VENUE_KEY!);
const alice = new Wallet(process.env.CROSSCLEAR_ALICE_KEY!);
const bob = process.env.CROSSCLEAR_BOB!;
const now = Number(process.env.CROSSCLEAR_NOW_MS!);

function fill(n: number): Fill {
  return {
    venue: "dexA",
    venue_fill_id: `ts-${n}`,
    symbol: "BTC-PERP",
    buyer: alice.address,
    seller: bob,
    qty: 10_000_000n,
    price: 60_000n * 10n ** 6n,
    ts: now - 1_000,
  };
}

test("every route the client calls is in the OpenAPI schema", async () => {
  const schema = (await (await fetch(base + "/v1/openapi.json")).json()) as any;
  for (const [name, [method, path, model]] of Object.entries(ROUTES)) {
    const op = schema.paths[path]?.[method.toLowerCase()];
    assert.ok(op, `${name}: ${method} ${path}`);
    if (model) {
      const ok = Object.keys(op.responses).find((c) => c.startsWith("2"))!;
      assert.equal(op.responses[ok].content["application/json"].schema.$ref.split("/").pop(), model);
    }
  }
});

test("the leaf matches OpenZeppelin's StandardMerkleTree", () => {
  const f = fill(0);
  const tree = StandardMerkleTree.of(
    [[f.venue, f.venue_fill_id, f.symbol, f.buyer, f.seller, f.qty, f.price, f.ts]],
    ["string", "string", "string", "address", "address", "uint128", "uint128", "uint64"],
  );
  assert.equal(tree.leafHash([f.venue, f.venue_fill_id, f.symbol, f.buyer, f.seller, f.qty, f.price, f.ts]), fillLeaf(f));
});

test("fills, sessions and refusals", async () => {
  const client = await new CrossclearClient(base).connect();
  const acks = await client.submitFills(venue, [fill(1), fill(2), fill(3)]);
  assert.deepEqual(acks.map((a) => a.status), ["accepted", "accepted", "accepted"]);
  assert.equal((await client.submitFill(venue, fill(1))).status, "duplicate");
  await client.login(alice);
  const margin = await client.margin(10);
  assert.equal(margin.account, 10);
  await assert.rejects(client.margin(11), (e: unknown) => e instanceof CrossclearError && e.status === 403);
  await client.logout();
});

test("settled fills verify against their batch's fillsRoot, across pages", async () => {
  const settled = JSON.parse(process.env.CROSSCLEAR_SETTLED!) as (Omit<Fill, "qty" | "price"> & { qty: string; price: string })[];
  const client = await new CrossclearClient(base).connect();
  await client.login(venue);
  for (const raw of settled) {
    const f: Fill = { ...raw, qty: BigInt(raw.qty), price: BigInt(raw.price) };
    const status = await client.fillStatus(f.venue, f.venue_fill_id);
    assert.equal(status.fill.status, "settled");
    assert.ok(await client.verifyInclusion(status, f));
    assert.equal(await client.verifyInclusion(status, { ...f, qty: f.qty + 1n }), false);
  }
  assert.equal((await client.batchFills(1, 2)).length, settled.length);
});
