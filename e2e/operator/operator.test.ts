// The operator, run by its real entrypoint, against a real etcd + kube-apiserver and a real Redis:
// what a FlashSale promises is checked in the ledger itself, not only in the status.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { saleKeys, SaleLedger, type LedgerSnapshot } from '../../ledger/index.ts';
import { connectRedis } from '../../sidecar/redis.ts';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import {
  flashSales,
  iso,
  isReady,
  leaseHolder,
  startOperator,
  type StoredCondition,
} from '../support/operator.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { waitFor, type ManagedProcess } from '../support/process.ts';

const root = join(import.meta.dirname, '..', '..');
const LEASE_SECONDS = 4;

interface Manifest {
  metadata: { name: string; namespace: string };
  spec: { items: { sku: string; stock: number }[] };
}

function sale(name: string, startMs: number, endMs: number, policy: 'Delete' | 'Retain') {
  return {
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: { name, namespace: 'default' },
    spec: {
      window: { start: iso(startMs), end: iso(endMs) },
      items: [
        { sku: 'A', stock: 10, perUserLimit: 5 },
        { sku: 'B', stock: 5 },
      ],
      limits: { admissionRate: 500, burst: 50 },
      deletionPolicy: policy,
    },
  };
}

void describe('the operator on a real control plane with real Redis', () => {
  let cp: ControlPlane;
  let redis: RedisServer;
  let client: ReturnType<typeof connectRedis>;
  const operators: ManagedProcess[] = [];
  const metricsUrls = new Map<string, string>();

  async function startNamedOperator(
    identity: string,
    leaseSeconds = LEASE_SECONDS,
  ): Promise<ManagedProcess> {
    const { process: proc, opsUrl } = await startOperator({
      kubeconfig: cp.kubeconfig,
      redisUrl: redis.url,
      identity,
      logDir: join(cp.dir, 'logs'),
      leaseSeconds,
    });
    operators.push(proc);
    metricsUrls.set(identity, `${opsUrl}/metrics`);
    return proc;
  }

  const sales = () => flashSales(cp);
  const getSale = (name: string, namespace = 'default') => sales().get(name, namespace);
  const ledgerOf = (name: string, namespace = 'default') =>
    new SaleLedger(client, { namespace, name });
  const applyJson = (doc: unknown) => sales().apply(doc);

  /** Waits until the ledger holds `stock` per SKU and the FlashSale says Ready. */
  async function waitLoadedAndReady(
    name: string,
    namespace: string,
    stock: Record<string, number>,
    timeoutMs = 20_000,
  ): Promise<LedgerSnapshot> {
    return waitFor(
      `${namespace}/${name} loaded and Ready`,
      async () => {
        const snapshot = await ledgerOf(name, namespace).snapshot();
        const holds =
          snapshot !== undefined &&
          snapshot.items.length === Object.keys(stock).length &&
          snapshot.items.every((i) => i.total === stock[i.sku]);
        return holds && isReady(await getSale(name, namespace)) ? snapshot : undefined;
      },
      { timeoutMs, intervalMs: 10 },
    );
  }

  before(async () => {
    [cp, redis] = await Promise.all([startControlPlane(), startRedis()]);
    client = connectRedis(redis.url);
    client.on('error', () => undefined); // Redis is stopped on purpose below
    await cp.kubectl(['apply', '-f', join(root, 'crds')]);
    await cp.kubectl([
      'wait',
      '--for=condition=Established',
      'crd/flashsales.flashguard.dev',
      '--timeout=30s',
    ]);
    await startNamedOperator('first');
  });

  after(async () => {
    await Promise.all(operators.map((p) => p.stop()));
    client.disconnect();
    await redis.destroy();
    await cp.stop();
  });

  void it('apply of an example with several SKUs: the ledger holds the stock and Ready=True', async (t) => {
    const file = join(root, 'examples', 'phone-launch.yaml');
    const doc = parse(readFileSync(file, 'utf8')) as Manifest;
    const { name, namespace } = doc.metadata;
    await cp.kubectl(['create', 'namespace', namespace]);
    const stock = Object.fromEntries(doc.spec.items.map((i) => [i.sku, i.stock]));

    const started = performance.now();
    await cp.kubectl(['apply', '-f', file]);
    const applied = performance.now();
    const snapshot = await waitLoadedAndReady(name, namespace, stock);
    const done = performance.now();
    t.diagnostic(
      `kubectl apply → ledger loaded and Ready=True: ${(done - started).toFixed(0)} ms ` +
        `(kubectl itself ${(applied - started).toFixed(0)} ms, polled every 10 ms)`,
    );

    assert.deepEqual(
      snapshot.items.map((i) => [i.sku, i.available, i.reserved, i.sold]),
      doc.spec.items.map((i) => [i.sku, i.stock, 0, 0]),
    );
    const stored = await getSale(name, namespace);
    assert.equal(stored?.status?.phase, 'Scheduled');
    assert.deepEqual(stored.metadata.finalizers, ['flashguard.dev/ledger']);
    // The sidecars' config is published with the admission rate tuned to the stock.
    const config = (await ledgerOf(name, namespace).readConfig()) as {
      limits: { admissionRate: number };
      items: unknown[];
    };
    assert.equal(config.items.length, 3);
    assert.equal(config.limits.admissionRate, 300);

    const metrics = await (await fetch(metricsUrls.get('first') ?? '')).text();
    assert.match(metrics, /^flashguard_operator_leader 1$/m);
    assert.match(metrics, /^flashguard_operator_reconcile_total\{result="error"\} \d+$/m);
    assert.match(
      metrics,
      /^flashguard_ledger_units\{sale="shop\/nova-x-launch",sku="NOVAX-512-TI",state="available"\} 400$/m,
    );
    // The invariant alert compares total with its parts.
    assert.match(
      metrics,
      /^flashguard_ledger_units\{sale="shop\/nova-x-launch",sku="NOVAX-512-TI",state="total"\} 400$/m,
    );
  });

  void it('a stock edit loads the new generation and keeps the units already sold', async () => {
    const now = Date.now();
    const doc = sale('drop', now - 60_000, now + 600_000, 'Delete');
    await applyJson(doc);
    await waitLoadedAndReady('drop', 'default', { A: 10, B: 5 });

    const ledger = ledgerOf('drop');
    const sold = await ledger.reserve({ sku: 'A', user: 'u1', quantity: 2, ttlMs: 60_000 });
    const held = await ledger.reserve({ sku: 'A', user: 'u2', quantity: 1, ttlMs: 60_000 });
    assert.equal(sold.kind, 'reserved');
    assert.equal(held.kind, 'reserved');
    await ledger.confirm(sold.reservation);

    doc.spec.items[0] = { sku: 'A', stock: 20, perUserLimit: 5 };
    await applyJson(doc);
    const snapshot = await waitLoadedAndReady('drop', 'default', { A: 20, B: 5 });
    const a = snapshot.items.find((i) => i.sku === 'A');
    assert.deepEqual([a?.available, a?.reserved, a?.sold], [17, 1, 2]);
    assert.equal(snapshot.generation, 2);
    const stored = await getSale('drop');
    assert.equal(stored?.status?.observedGeneration, 2);
    assert.deepEqual(
      stored.status.items?.find((i) => i.sku === 'A'),
      { sku: 'A', available: 17, reserved: 1, sold: 2, inDoubt: 0 },
    );
  });

  void it('every unit reserved: SoldOut with its Event, the admission rate down to 1/s', async () => {
    const now = Date.now();
    await applyJson(sale('gone', now - 1000, now + 600_000, 'Delete'));
    await waitLoadedAndReady('gone', 'default', { A: 10, B: 5 });
    const ledger = ledgerOf('gone');
    const takes = [
      ...[1, 2].map((u) => ({ sku: 'A', user: `a${String(u)}`, quantity: 5 })),
      ...[1, 2, 3, 4, 5].map((u) => ({ sku: 'B', user: `b${String(u)}`, quantity: 1 })),
    ];
    for (const take of takes) {
      assert.equal((await ledger.reserve({ ...take, ttlMs: 600_000 })).kind, 'reserved');
    }
    // The counts reach the status at the next sync (every 5 s while the sale runs).
    await waitFor(
      'gone to be SoldOut',
      async () => ((await getSale('gone'))?.status?.phase === 'SoldOut' ? true : undefined),
      { timeoutMs: 15_000, intervalMs: 100 },
    );
    const config = (await ledger.readConfig()) as { limits: { admissionRate: number } };
    assert.equal(config.limits.admissionRate, 1);
    const { stdout } = await cp.kubectl([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=gone,reason=SoldOut',
      '-o',
      'name',
    ]);
    assert.notEqual(stdout.trim(), '');
  });

  void it('window transitions Scheduled → Active → Ended, each with its Event', async () => {
    const now = Date.now();
    await applyJson(sale('flash', now + 4_000, now + 8_000, 'Delete'));
    const phases: string[] = [];
    await waitFor(
      'flash to end',
      async () => {
        const phase = (await getSale('flash'))?.status?.phase;
        if (phase !== undefined && phases.at(-1) !== phase) phases.push(phase);
        return phase === 'Ended' ? true : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    assert.deepEqual(phases, ['Scheduled', 'Active', 'Ended']);
    const { stdout } = await cp.kubectl([
      'get',
      'events',
      '--field-selector',
      'involvedObject.name=flash',
      '-o',
      'json',
    ]);
    const reasons = (
      JSON.parse(stdout) as { items: { reason: string; lastTimestamp: string }[] }
    ).items.map((e) => e.reason);
    for (const reason of ['StockLoaded', 'Scheduled', 'SaleStarted', 'SaleEnded']) {
      assert.ok(reasons.includes(reason), `${reason} in ${reasons.join(', ')}`);
    }
  });

  void it('delete: the finalizer removes the ledger with Delete and keeps it with Retain', async () => {
    await cp.kubectl(['delete', 'flashsale', 'drop', '--wait=true', '--timeout=20s']);
    assert.equal(await getSale('drop'), undefined);
    assert.equal(await client.exists(saleKeys({ namespace: 'default', name: 'drop' }).meta), 0);
    assert.equal(await client.exists(saleKeys({ namespace: 'default', name: 'drop' }).config), 0);

    await cp.kubectl([
      'delete',
      'flashsale',
      'nova-x-launch',
      '-n',
      'shop',
      '--wait=true',
      '--timeout=20s',
    ]);
    assert.equal(await getSale('nova-x-launch', 'shop'), undefined);
    const kept = await ledgerOf('nova-x-launch', 'shop').snapshot();
    assert.equal(kept?.items.length, 3);
  });

  void it('kill the leader: the standby takes over within the Lease duration', async (t) => {
    // The standby renews a long Lease once it leads, so the apiserver restart below cannot
    // cost it the leadership: what recovers there is its informer, not a new term.
    await startNamedOperator('second', 30);
    assert.equal(await leaseHolder(cp), 'first');
    const [first] = operators;
    assert.ok(first);
    await first.stop('SIGKILL');
    const killed = performance.now();
    await waitFor(
      'the standby to hold the Lease',
      async () => ((await leaseHolder(cp)) === 'second' ? true : undefined),
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    const takeover = performance.now() - killed;
    t.diagnostic(`SIGKILL of the leader → standby holds the Lease: ${takeover.toFixed(0)} ms`);
    // As in client-go, the standby counts the Lease from when it last saw it renewed (up to one
    // retry period after the renewal) and checks again every retry period: at worst the Lease
    // plus two retry periods (operator/main.ts: retry = min(2 s, 13.3 % of the Lease)), plus
    // 2 s for apiserver round trips and scheduling on a shared 2-core machine.
    const retryMs = Math.min(2000, LEASE_SECONDS * 133);
    const bound = LEASE_SECONDS * 1000 + 2 * retryMs + 2000;
    assert.ok(takeover < bound, `${takeover.toFixed(0)} ms, bound ${bound} ms`);

    const now = Date.now();
    await applyJson(sale('after-failover', now - 1000, now + 600_000, 'Delete'));
    await waitLoadedAndReady('after-failover', 'default', { A: 10, B: 5 });
    // What the first leader loaded and retained is untouched.
    const retained = await ledgerOf('nova-x-launch', 'shop').snapshot();
    assert.equal(retained?.items.length, 3);
  });

  void it('restart the apiserver: the informer recovers and reconciles', async () => {
    await cp.restartApiServer();
    const now = Date.now();
    await applyJson(sale('after-restart', now - 1000, now + 600_000, 'Delete'));
    await waitLoadedAndReady('after-restart', 'default', { A: 10, B: 5 }, 60_000);
    assert.equal(await leaseHolder(cp), 'second');
  });

  void it('Redis away: a condition and a Warning, no crash; back empty: Failed, never reloaded', async () => {
    const condition = (type: string): Promise<StoredCondition | undefined> =>
      sales().condition('after-restart', type);
    await redis.stop('SIGKILL');
    await waitFor(
      'Ready=False LedgerUnavailable',
      async () => ((await condition('Ready'))?.reason === 'LedgerUnavailable' ? true : undefined),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    assert.match(await sales().warnings('after-restart'), /LedgerUnavailable/);
    assert.equal(operators.at(-1)?.child.exitCode, null, 'the operator is still running');

    // Redis comes back without its data: reloading the stock would sell units twice.
    await redis.start();
    await waitFor(
      'Failed with LedgerLost',
      async () => ((await condition('StockLoaded'))?.reason === 'LedgerLost' ? true : undefined),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    assert.equal((await getSale('after-restart'))?.status?.phase, 'Failed');
    assert.equal(
      await client.exists(saleKeys({ namespace: 'default', name: 'after-restart' }).meta),
      0,
    );
  });

  void it('SIGTERM: the leader finishes its work and releases the Lease', async () => {
    const leader = operators.at(-1);
    assert.ok(leader);
    await leader.stop('SIGTERM', 10_000);
    assert.equal(await leader.exited, 0);
    assert.equal(await leaseHolder(cp), '');
  });
});
