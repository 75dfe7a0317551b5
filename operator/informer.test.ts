import { KubeConfig } from '@kubernetes/client-node';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { jitteredBackoff, SaleInformer } from './informer.ts';

void describe('jitteredBackoff', () => {
  it('stays within [base, min(cap, base × 2^attempt)] and spreads', () => {
    for (const attempt of [0, 1, 3, 10, 40]) {
      const delays = Array.from({ length: 200 }, () => jitteredBackoff(attempt, 200, 30_000));
      const ceiling = Math.min(30_000, 200 * 2 ** attempt);
      assert.ok(
        delays.every((d) => d >= 200 && d <= Math.max(200, ceiling)),
        `attempt ${attempt}`,
      );
      if (ceiling > 400) assert.ok(new Set(delays).size > 100, 'jittered');
    }
  });
});

/** A fake apiserver: answers lists, and hands each watch to the next scripted behaviour. */
async function fakeApiServer(watches: ((res: ServerResponse) => void)[]) {
  const calls = { lists: 0, watches: 0 };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.searchParams.get('watch') !== 'true') {
      calls.lists += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ items: [object('a', '1')], metadata: { resourceVersion: '1' } }));
      return;
    }
    const behaviour = watches[calls.watches++] ?? ((r: ServerResponse) => r.writeHead(200));
    behaviour(res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${String(port)}`, skipTLSVerify: true }],
    users: [{ name: 'fake' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  return { calls, kubeconfig, close: () => server.close() };
}

function object(name: string, resourceVersion: string) {
  return {
    apiVersion: 'flashguard.dev/v1alpha1',
    kind: 'FlashSale',
    metadata: { name, namespace: 'default', uid: name, generation: 1, resourceVersion },
    spec: {},
  };
}

const silent = (res: ServerResponse): void => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.flushHeaders();
};

void describe('SaleInformer against a misbehaving apiserver', () => {
  it('re-lists after a silent watch, a 410 and a 500, and delivers every event', async () => {
    const fake = await fakeApiServer([
      silent,
      (res) => {
        silent(res);
        res.write(`${JSON.stringify({ type: 'ADDED', object: object('b', '2') })}\n`);
        res.write(`${JSON.stringify({ type: 'ERROR', object: { code: 410 } })}\n`);
      },
      (res) => {
        res.writeHead(500).end();
      },
    ]);
    const seen: string[] = [];
    const informer = new SaleInformer({
      kubeconfig: fake.kubeconfig,
      namespaces: undefined,
      onEvent: (type, sale) => seen.push(`${type} ${sale.metadata.name}`),
      log: () => undefined,
      silentMs: 300,
      minBackoffMs: 10,
      maxBackoffMs: 20,
    });
    informer.start();
    const deadline = Date.now() + 10_000;
    while (fake.calls.watches < 4 && Date.now() < deadline) await sleep(20);
    await informer.stop();
    fake.close();
    assert.ok(informer.synced);
    // The silent watch, the 410 and the 500 each cost one re-list.
    assert.equal(fake.calls.lists, 4);
    // b came by watch; the re-list after the 410 no longer holds it, so it is reported deleted.
    assert.deepEqual(seen, ['ADDED a', 'ADDED b', 'DELETED b']);
  });
});
