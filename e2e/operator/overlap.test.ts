// Two sales selling the same SKU through the same workload at the same time: the later one waits
// (Ready=False SaleOverlap and a Warning) and loads nothing, until the earlier one goes.
import assert from 'node:assert/strict';
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

function sale(name: string, skus: string[]) {
  const now = Date.now();
  return {
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: { name, namespace: 'default' },
    spec: {
      window: { start: iso(now - 60_000), end: iso(now + 600_000) },
      items: skus.map((sku) => ({ sku, stock: 5 })),
      limits: { admissionRate: 100, burst: 10 },
      workload: { kind: 'Deployment', name: 'checkout' },
    },
  };
}

void describe('operator: overlapping sales on one workload', () => {
  let bed: OperatorBed;
  const sales = () => flashSales(bed.cp);
  const loaded = async (name: string) =>
    (await new SaleLedger(bed.client, { namespace: 'default', name }).snapshot()) !== undefined;
  const waitReady = (name: string) =>
    waitFor(`${name} Ready`, async () => (isReady(await sales().get(name)) ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });

  before(async () => {
    bed = await startOperatorBed({ identity: 'overlap' });
  });
  after(() => bed.stop());

  void it('the later sale waits with SaleOverlap and a Warning, and runs once the earlier one is deleted', async () => {
    await sales().apply(sale('first', ['A']));
    await waitReady('first');
    await sales().apply(sale('second', ['A', 'B']));
    await sales().apply(sale('other-skus', ['C']));

    const ready = await waitFor(
      'second Ready=False SaleOverlap',
      async () => {
        const condition = await sales().condition('second', 'Ready');
        return condition?.reason === 'SaleOverlap' ? condition : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
    assert.equal(ready.status, 'False');
    assert.match(ready.message, /FlashSale first \(created first\) also sells A/);
    assert.match(await sales().warnings('second'), /SaleOverlap/);
    assert.equal(await loaded('second'), false, 'nothing loaded for the waiting sale');
    // Another SKU through the same workload is no collision.
    await waitReady('other-skus');
    assert.ok(isReady(await sales().get('first')));

    await bed.cp.kubectl(['delete', 'flashsale', 'first', '--wait=true']);
    await waitReady('second');
    assert.equal(await loaded('second'), true);
  });
});
