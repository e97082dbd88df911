/**
 * Runs against a devnet prepared by tests/client/test_ts_client.py: Anvil with the vault (CROSSCLEAR_RPC_URL),
 * the settlement engine stepping in the background, and the API as `crossclear serve --devnet` builds it
 * (CROSSCLEAR_API_URL, CROSSCLEAR_WS_URL). The README example runs here, then its results are checked
 * against the chain.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Contract, JsonRpcProvider, Wallet } from "ethers";
import { CrossclearClient, CrossclearError, fillsRootOnChain, withdrawalNonce } from "../src/index.js";

const env = process.env as Record<string, string>;

test("the README example runs against the devnet, and the chain agrees with it", async () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const code = /```ts\n([\s\S]*?)```/.exec(readme)![1];
  const run = new Function(
    "CrossclearClient",
    "Wallet",
    "JsonRpcProvider",
    "fillsRootOnChain",
    "withdrawalNonce",
    "env",
    `return (async () => { ${code} })();`,
  );
  await run(CrossclearClient, Wallet, JsonRpcProvider, fillsRootOnChain, withdrawalNonce, { ...env });
  // What the example did, read back: the fill settled in a batch that is on-chain, the withdrawal pending there.
  const alice = new Wallet(env.CROSSCLEAR_ALICE_KEY);
  const account = Number(env.CROSSCLEAR_ALICE_ACCOUNT);
  const client = await new CrossclearClient(env.CROSSCLEAR_API_URL).connect();
  await client.login(new Wallet(env.CROSSCLEAR_VENUE_KEY));
  const status = await client.fillStatus(env.CROSSCLEAR_VENUE, "ts-readme-1");
  assert.equal(status.fill.status, "settled");
  const provider = new JsonRpcProvider(env.CROSSCLEAR_RPC_URL);
  assert.equal(await fillsRootOnChain(provider, client.vault, status.proof!.batch_sequence), status.proof!.root);
  await client.login(alice);
  const [w] = await client.withdrawals(account);
  const vault = new Contract(
    client.vault,
    ["function withdrawal(uint256 id) view returns (uint32, uint16, uint128, address, uint64, uint8)"],
    provider,
  );
  const [onAccount, asset, amount] = await vault.withdrawal(w.id);
  assert.deepEqual([Number(onAccount), Number(asset), amount], [account, 0, 1000n * 10n ** 6n]);
  assert.equal((await provider.getTransactionReceipt(w.tx_hash!))?.status, 1);
  await client.logout();
});

test("a replayed withdrawal comes back as the vault's refusal, by name", async () => {
  const client = await new CrossclearClient(env.CROSSCLEAR_API_URL).connect();
  const alice = new Wallet(env.CROSSCLEAR_ALICE_KEY);
  const provider = new JsonRpcProvider(env.CROSSCLEAR_RPC_URL);
  const wrong = (await withdrawalNonce(provider, client.vault, alice.address)) + 1n; // not the vault's next
  const deadline = (await provider.getBlock("latest"))!.timestamp + 600;
  const req = { asset: 0, amount: 1n, to: alice.address, nonce: wrong, deadline };
  await assert.rejects(
    client.requestWithdrawal(alice, Number(env.CROSSCLEAR_ALICE_ACCOUNT), req),
    (e: unknown) => e instanceof CrossclearError && e.status === 409 && e.code === "vault_refused",
  );
});
