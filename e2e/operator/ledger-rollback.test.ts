// Redis restored from an older copy while a sale runs (an OS crash that lost the last seconds of
// the AOF, a backup restored by hand): the same generation is loaded, so no preload runs, but the
// ledger marker in the status tells the operator the ledger went back in time. It fails the sale
// (Ready=False LedgerRolledBack, a Warning), keeps the marker it saw, not the older counts, and
// halts the ledger so no sidecar sells from it.
import assert from 'node:assert/strict';
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SaleLedger } from '../../ledger/index.ts';
import {
  flashSales,
  iso,
  isReady,
  startOperatorBed,
  type OperatorBed,
} from '../support/operator.ts';
import { waitFor } from '../support/process.ts';

const NAME = 'drop';

void describe('operator: a ledger that went back in time while its sale ran', () => {
  let bed: OperatorBed;
  const sales = () => flashSales(bed.cp);
  const ledger = () => new SaleLedger(bed.client, { namespace: 'default', name: NAME });
  /** Restarts Redis on its data directory, `meanwhile` run while it is down. */
  const restart = async (meanwhile: () => void) => {
    await bed.redis.stop('SIGTERM');
    meanwhile();
    await bed.redis.start();
    await waitFor('the client to reconnect', async () => {
      await bed.client.ping();
      return true;
    });
  };

  before(async () => {
    bed = await startOperatorBed({ identity: 'rollback', redis: { aof: true } });
  });
  after(() => bed.stop());

  void it('fails the sale with LedgerRolledBack and a Warning, keeps the newer marker, halts the ledger', async () => {
    const now = Date.now();
    await sales().apply({
      apiVersion: 'flashguard.dev/v1alpha1',
      kind: 'FlashSale',
      metadata: { name: NAME, namespace: 'default' },
      spec: {
        window: { start: iso(now - 60_000), end: iso(now + 600_000) },
        items: [{ sku: 'phone', stock: 10 }],
        limits: { admissionRate: 100, burst: 10 },
      },
    });
    await waitFor(
      'the sale Ready',
      async () => (isReady(await sales().get(NAME)) ? true : undefined),
      {
        timeoutMs: 30_000,
        intervalMs: 50,
      },
    );

    const aof = join(bed.redis.dir, 'appendonlydir');
    const older = `${aof}.older`;
    await restart(() => {
      cpSync(aof, older, { recursive: true });
    });
    // Checkouts after the copy, and a status sync that remembers them in the marker.
    for (const user of ['ada', 'bob', 'cy']) {
      const outcome = await ledger().reserve({ sku: 'phone', user, quantity: 1, ttlMs: 60_000 });
      assert.equal(outcome.kind, 'reserved');
    }
    const seen = (await ledger().snapshot()) ?? assert.fail('no ledger');
    const marker = await waitFor(
      'the status to remember the newer ledger',
      async () => {
        const ledgerMarker = (await sales().get(NAME))?.status?.ledger;
        return ledgerMarker !== undefined && ledgerMarker.seq >= seen.seq
          ? ledgerMarker
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    assert.equal(marker.id, seen.ledgerId);

    await restart(() => {
      rmSync(aof, { recursive: true });
      cpSync(older, aof, { recursive: true });
    });
    const rolledBack = (await ledger().snapshot()) ?? assert.fail('no ledger');
    assert.ok(rolledBack.seq < marker.seq, 'Redis holds the older ledger');
    assert.equal(rolledBack.items[0]?.reserved, 0, 'the three reservations are gone');

    const ready = await waitFor(
      'Ready=False LedgerRolledBack',
      async () => {
        const condition = await sales().condition(NAME, 'Ready');
        return condition?.reason === 'LedgerRolledBack' ? condition : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    assert.equal(ready.status, 'False');
    assert.match(ready.message, /went back in time/);
    const stored = await sales().get(NAME);
    assert.equal(stored?.status?.phase, 'Failed');
    assert.deepEqual(stored.status.ledger, marker, 'the marker it saw, not the older one');
    assert.match(await sales().warnings(NAME), /Failed/);
    // And the ledger is halted: nothing more is sold from it, by any sidecar.
    const after = await ledger().reserve({ sku: 'phone', user: 'dee', quantity: 1, ttlMs: 60_000 });
    assert.equal(after.kind, 'halted');
    assert.match(after.reason, /went back in time/);
  });
});
