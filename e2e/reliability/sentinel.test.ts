// Redis Sentinel failover under a storm: a primary, two replicas and three sentinels (quorum 2)
// on loopback; mid-storm the primary is killed with SIGKILL, or a sentinel is asked to fail
// over. With the replica-acknowledged mode nothing is oversold, measured from the shop's
// committed orders; with it off the test reports what happened (async replication may lose
// acknowledged reservations) without asserting it.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '../support/process.ts';
import { createRedisTls, startRedisSentinel, type RedisSentinelSetup } from '../support/redis.ts';
import { flashSale, startShop, startSidecar } from '../support/sidecar.ts';
import { stormWithCrash } from './storm-kill.ts';

const STOCK = 300;

type Crash = 'SIGKILL of the primary' | 'SENTINEL FAILOVER';

const REPLICAS = 2;

/** Each crash ends once the new primary has every replica back (WAIT needs them all). */
const crashes: Record<Crash, (setup: RedisSentinelSetup) => Promise<number>> = {
  'SIGKILL of the primary': async (setup) => {
    const before = await setup.primaryPort();
    const primary = setup.servers.find((s) => s.port === before);
    await primary?.stop('SIGKILL');
    const after = await setup.newPrimary(before);
    // The pod comes back empty and, as a Sentinel chart's start-up script does, follows the
    // primary the sentinels name.
    await primary?.start();
    await primary?.cli('REPLICAOF', '127.0.0.1', String(after));
    await setup.replicasConnected(after, REPLICAS);
    return after;
  },
  'SENTINEL FAILOVER': async (setup) => {
    const after = await setup.failover();
    await setup.replicasConnected(after, REPLICAS);
    return after;
  },
};

async function failoverMidStorm(
  setup: RedisSentinelSetup,
  crash: Crash,
  sidecarArgs: readonly string[],
) {
  const sku = `phone-${randomUUID().slice(0, 6)}`;
  // A shop per run: both runs' storms use the same shoppers and keys, hence reservation ids.
  const shop = await startShop();
  const sidecar = await startSidecar({
    sale: flashSale(`failover-${sku}`, {
      items: [{ sku, stock: STOCK, perUserLimit: 2 }],
    }),
    upstream: shop.url,
    redisUrl: setup.url,
    args: sidecarArgs,
  });
  try {
    let newPrimary = 0;
    const result = await stormWithCrash({
      target: sidecar.url,
      opsUrl: sidecar.opsUrl,
      shop,
      sku,
      stock: STOCK,
      requests: 300,
      crash: async () => {
        newPrimary = await crashes[crash](setup);
      },
    });
    assert.notEqual(newPrimary, 0, 'the sentinels promoted a replica');
    return result;
  } finally {
    await sidecar.stop();
    await shop.stop();
  }
}

// WAIT for every replica: any of them may be promoted, and during a failover the old primary
// keeps taking writes that only the replicas not promoted acknowledge (docs/reliability.md).
for (const crash of ['SIGKILL of the primary', 'SENTINEL FAILOVER'] as const) {
  test(`replica-acknowledged mode: ${crash} mid-storm oversells nothing`, async (t) => {
    const setup = await startRedisSentinel({ replicas: REPLICAS, sentinels: 3, quorum: 2 });
    try {
      const result = await failoverMidStorm(setup, crash, [
        ...['--redis-wait-replicas', String(REPLICAS), '--redis-wait-timeout', '200'],
      ]);
      t.diagnostic(JSON.stringify(result));
      assert.ok(result.committed > 0, 'the storm sold something');
      assert.equal(result.oversold, 0);
    } finally {
      await setup.destroy();
    }
  });
}

for (const crash of ['SIGKILL of the primary', 'SENTINEL FAILOVER'] as const) {
  test(`async replication (mode off): ${crash} mid-storm, reported`, async (t) => {
    const setup = await startRedisSentinel({ replicas: REPLICAS, sentinels: 3, quorum: 2 });
    try {
      const result = await failoverMidStorm(setup, crash, []);
      // Not asserted: without WAIT, an acknowledged reservation may be lost in the failover.
      t.diagnostic(JSON.stringify(result));
      assert.ok(result.committed > 0, 'the storm sold something');
    } finally {
      await setup.destroy();
    }
  });
}

interface Connection {
  redisUrl: string;
  args?: readonly string[];
}

/**
 * What a Sentinel deployment's access rule means for sidecars: one connecting with `allowed`
 * sells, follows a SENTINEL FAILOVER (the failover detector's own connection to the sentinels
 * obeys the rule too) and sells again; one connecting with `denied` stays closed (503
 * ledger-unavailable) and logs `why`. Returns the denied sidecar's log.
 */
async function onlyAllowedSells(
  setup: RedisSentinelSetup,
  allowed: Connection,
  denied: Connection,
  why: string,
): Promise<string> {
  const shop = await startShop();
  const started: { stop(): Promise<void> }[] = [];
  const sidecarOn = async (connection: Connection, waitForReady: boolean) => {
    const sidecar = await startSidecar({
      sale: flashSale(`sentinel-${randomUUID().slice(0, 8)}`, {
        items: [{ sku: 'phone', stock: 10, perUserLimit: 1 }],
      }),
      upstream: shop.url,
      ...connection,
      waitForReady,
    });
    started.push(sidecar);
    return sidecar;
  };
  const buy = (sidecarUrl: string) =>
    fetch(`${sidecarUrl}/checkout`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-user-id': randomUUID() },
      body: JSON.stringify({ sku: 'phone', quantity: 1 }),
    });
  try {
    const sidecar = await sidecarOn(allowed, true);
    assert.equal((await buy(sidecar.url)).status, 201);
    await setup.failover();
    await waitFor(
      'a checkout on the new primary',
      async () => ((await buy(sidecar.url)).status === 201 ? true : undefined),
      { timeoutMs: 20_000, intervalMs: 200 },
    );

    const locked = await sidecarOn(denied, false);
    // Its Redis clients start before it listens: until then a checkout finds no listener.
    const refused = await waitFor('the closed sidecar to answer', () =>
      buy(locked.url).catch(() => undefined),
    );
    assert.equal(refused.status, 503);
    assert.equal(
      ((await refused.json()) as { type: string }).type,
      'https://flashguard.dev/problems/ledger-unavailable',
    );
    await waitFor(`the sidecar to log "${why}"`, () =>
      readFileSync(locked.logFile, 'utf8').includes(why) ? true : undefined,
    );
    return readFileSync(locked.logFile, 'utf8');
  } finally {
    for (const s of started) await s.stop();
    await shop.stop();
  }
}

test('sentinels that require a password: asked with sentinelPassword, closed without it', async () => {
  const password = 's3ntinel+pw';
  const setup = await startRedisSentinel({
    replicas: 1,
    sentinels: 2,
    quorum: 1,
    sentinelPassword: password,
  });
  try {
    const log = await onlyAllowedSells(
      setup,
      { redisUrl: `${setup.url}?sentinelPassword=${encodeURIComponent(password)}` },
      { redisUrl: setup.url },
      'authentication refused by the sentinels',
    );
    assert.ok(!log.includes(password), 'no password in the log');
  } finally {
    await setup.destroy();
  }
});

test('a Sentinel deployment on TLS: rediss+sentinel with the CA, closed without it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'flashguard-sentinel-tls-'));
  const tls = await createRedisTls(dir);
  const setup = await startRedisSentinel({ replicas: 1, sentinels: 2, quorum: 1, tls });
  try {
    assert.match(setup.url, /^rediss\+sentinel:\/\//);
    // ioredis reports an untrusted sentinel as a closed connection, not as a TLS error.
    await onlyAllowedSells(
      setup,
      { redisUrl: setup.url, args: ['--redis-ca', tls.caFile] },
      { redisUrl: setup.url },
      'no sentinel answered',
    );
  } finally {
    await setup.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
});
