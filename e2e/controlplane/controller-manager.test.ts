// With kube-controller-manager the control plane runs real controllers: a Deployment makes a
// ReplicaSet and Pods (Pending: there is no node), and the garbage collector removes them when
// the Deployment goes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/process.ts';
import { startControlPlane, type ControlPlane } from './controlplane.ts';

const deployment = JSON.stringify({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'shop', namespace: 'default' },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: 'shop' } },
    template: {
      metadata: { labels: { app: 'shop' } },
      spec: { containers: [{ name: 'shop', image: 'registry.invalid/shop:1' }] },
    },
  },
});

interface Item {
  metadata: { name: string; ownerReferences?: { kind: string; name: string }[] };
  status?: { phase?: string };
}

void describe('kube-controller-manager', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startControlPlane({ controllerManager: true });
  });
  after(() => cp.stop());

  const list = async (kind: string): Promise<Item[]> => {
    const { stdout } = await cp.kubectl([
      'get',
      kind,
      '-n',
      'default',
      '-l',
      'app=shop',
      '-o',
      'json',
    ]);
    return (JSON.parse(stdout) as { items: Item[] }).items;
  };

  void it('turns a Deployment into a ReplicaSet and Pending Pods', async () => {
    await cp.kubectl(['apply', '-f', '-'], { input: deployment });
    const replicaSets = await waitFor(
      'a ReplicaSet owned by the Deployment',
      async () => {
        const items = await list('replicasets');
        return items.length === 1 ? items : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const owner = replicaSets[0]?.metadata.ownerReferences?.[0];
    assert.deepEqual(
      { kind: owner?.kind, name: owner?.name },
      { kind: 'Deployment', name: 'shop' },
    );

    const pods = await waitFor(
      'two Pods owned by the ReplicaSet',
      async () => {
        const items = await list('pods');
        return items.length === 2 ? items : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    for (const pod of pods) {
      const podOwner = pod.metadata.ownerReferences?.[0];
      assert.deepEqual(
        { kind: podOwner?.kind, name: podOwner?.name },
        { kind: 'ReplicaSet', name: replicaSets[0]?.metadata.name },
      );
      assert.equal(pod.status?.phase, 'Pending');
    }
  });

  void it('garbage-collects the ReplicaSet and Pods when the Deployment is deleted', async () => {
    await cp.kubectl(['delete', 'deployment', 'shop', '-n', 'default', '--wait=false']);
    await waitFor(
      'the ReplicaSet and Pods to be garbage-collected',
      async () => {
        const [replicaSets, pods] = [await list('replicasets'), await list('pods')];
        return replicaSets.length === 0 && pods.length === 0 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
  });
});
