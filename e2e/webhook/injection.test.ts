// The injection webhook end to end: the operator runs as a local process serving /inject over
// HTTPS with its self-managed CA, a MutatingWebhookConfiguration points at it by URL (there is no
// Service network here) and the operator patches its caBundle; the controller-manager's
// ReplicaSets then create Pods through it. The injected sidecar is finally run as a local
// process from what the stored Pod says (command, args, env, the Secret it references) — the
// image's `node dist/sidecar/main.js` as this checkout's `node sidecar/main.ts`, on free ports
// instead of the image's fixed 15080/15090 — and a sale checkout goes through it.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import {
  flashSales,
  isReady,
  leaseHolder,
  startOperator,
  type RunningOperator,
} from '../support/operator.ts';
import { SaleLedger } from '../../ledger/index.ts';
import { connectRedis, whenReady } from '../../sidecar/redis.ts';
import { freePort, startProcess, waitFor, waitForHttp } from '../support/process.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { flashSale, startShop, type RunningShop } from '../support/sidecar.ts';
import { deployment, installFlashSaleCrd } from '../support/workloads.ts';

const root = join(import.meta.dirname, '..', '..');
const CONFIG = 'flashguard-injector';
const SECRET = 'flashguard-webhook-tls';
const NS = 'shop';
const IMAGE = 'registry.invalid/flashguard/sidecar:e2e';
const INJECT = { 'flashguard.dev/inject': 'true' };

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
  };
}
interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  restartPolicy?: string;
  ports?: { name?: string; containerPort: number }[];
}
interface Pod {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string }[];
  };
  spec: { containers: Container[]; initContainers?: Container[] };
}

const webhookConfiguration = (url: string) => ({
  apiVersion: 'admissionregistration.k8s.io/v1',
  kind: 'MutatingWebhookConfiguration',
  metadata: { name: CONFIG },
  webhooks: [
    {
      name: 'inject.flashguard.dev',
      // No caBundle: the operator fills it in from the CA it makes.
      clientConfig: { url },
      rules: [
        { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] },
      ],
      objectSelector: { matchLabels: INJECT },
      namespaceSelector: {
        matchExpressions: [
          { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['default'] },
        ],
      },
      sideEffects: 'None',
      admissionReviewVersions: ['v1'],
      failurePolicy: 'Fail',
      timeoutSeconds: 10,
    },
  ],
});

void describe('sidecar injection through the operator’s webhook', () => {
  let cp: ControlPlane;
  let redis: RedisServer;
  let operator: RunningOperator;
  let shop: RunningShop;

  const kubectlJson = async <T>(args: string[]): Promise<T> =>
    JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout) as T;
  const apply = (doc: unknown) => cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(doc) });
  const podsOf = async (app: string) =>
    (await kubectlJson<{ items: Pod[] }>(['get', 'pods', '-n', NS, '-l', `app=${app}`])).items;
  const onePodOf = (app: string) =>
    waitFor(`a Pod of ${app}`, async () => (await podsOf(app))[0], {
      timeoutMs: 60_000,
      intervalMs: 250,
    });

  const startWebhookOperator = (identity: string, port: number) =>
    startOperator({
      kubeconfig: cp.kubeconfig,
      redisUrl: redis.url,
      identity,
      logDir: join(cp.dir, 'logs'),
      args: [
        ...['--webhook-listen', `127.0.0.1:${port}`, '--webhook-config', CONFIG],
        ...['--webhook-secret', SECRET, '--webhook-hosts', '127.0.0.1'],
        ...['--sidecar-image', IMAGE],
      ],
    });

  before(async () => {
    [cp, redis, shop] = await Promise.all([
      startControlPlane({ controllerManager: true }),
      startRedis(),
      startShop(),
    ]);
    await installFlashSaleCrd(cp);
    await cp.kubectl(['create', 'namespace', NS]);
    const port = await freePort();
    await apply(webhookConfiguration(`https://127.0.0.1:${port}/inject`));
    operator = await startWebhookOperator('webhook', port);
    // The apiserver picks the configuration up asynchronously: a bare labelled Pod is refused
    // by our webhook (no Deployment or StatefulSet) once it is being called.
    await waitFor(
      'the apiserver to call the webhook',
      async () => {
        const result = await cp.kubectl(['create', '--dry-run=server', '-f', '-'], {
          check: false,
          input: JSON.stringify({
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'probe', namespace: NS, labels: INJECT },
            spec: {
              containers: [
                { name: 'app', image: 'x', ports: [{ name: 'http', containerPort: 80 }] },
              ],
            },
          }),
        });
        return /Deployment or a StatefulSet/.test(result.stderr) ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
  });

  after(async () => {
    await operator.process.stop();
    await shop.stop();
    await Promise.all([cp.stop(), redis.stop()]);
  });

  void it('keeps its CA in the Secret and in the configuration’s caBundle', async () => {
    const secret = await kubectlJson<{ type: string; data: Record<string, string> }>([
      'get',
      'secret',
      SECRET,
      '-n',
      'default',
    ]);
    assert.equal(secret.type, 'kubernetes.io/tls');
    const config = await kubectlJson<{ webhooks: { clientConfig: { caBundle?: string } }[] }>([
      'get',
      'mutatingwebhookconfiguration',
      CONFIG,
    ]);
    assert.equal(config.webhooks[0]?.clientConfig.caBundle, secret.data['ca.crt']);
    assert.ok(secret.data['tls.crt'] && secret.data['tls.key'] && secret.data['ca.key']);
  });

  void it('has a standby replica serve the leader’s certificate without writing it', async () => {
    const secretVersion = async () =>
      (
        await cp.kubectl([
          'get',
          'secret',
          SECRET,
          '-n',
          'default',
          '-o',
          'jsonpath={.metadata.resourceVersion}',
        ])
      ).stdout;
    const before = await secretVersion();
    const port = await freePort();
    // Ready only once it serves the webhook, which a standby does from the leader's Secret.
    const standby = await startWebhookOperator('standby', port);
    try {
      const holder = await leaseHolder(cp);
      assert.equal(holder, 'webhook');
      const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
      await once(socket, 'secureConnect');
      const served = socket.getPeerX509Certificate()?.fingerprint256;
      socket.destroy();
      const secret = await kubectlJson<{ data: Record<string, string> }>([
        'get',
        'secret',
        SECRET,
        '-n',
        'default',
      ]);
      const stored = Buffer.from(secret.data['tls.crt'] ?? '', 'base64').toString();
      assert.equal(served, new X509Certificate(stored).fingerprint256);
      assert.equal(await secretVersion(), before, 'the standby wrote nothing');
    } finally {
      await standby.process.stop();
    }
  });

  void it('injects the sidecar into the Pods of an opted-in Deployment', async () => {
    const shopPort = Number(new URL(shop.url).port);
    await apply(
      deployment('checkout', {
        namespace: NS,
        labels: INJECT,
        port: { name: 'http', containerPort: shopPort },
      }),
    );
    const pod = await onePodOf('checkout');
    const [sidecar, ...others] = pod.spec.initContainers ?? [];
    assert.equal(others.length, 0);
    assert.ok(sidecar);
    assert.equal(sidecar.name, 'flashguard-sidecar');
    assert.equal(sidecar.restartPolicy, 'Always');
    assert.equal(sidecar.image, IMAGE);
    assert.deepEqual(
      sidecar.ports?.map((p) => p.name),
      ['http', 'fg-metrics'],
    );
    const [app] = pod.spec.containers;
    assert.deepEqual(
      app?.ports?.map((p) => p.name),
      [`fg-app-${shopPort}`],
    );
    const env = new Map(sidecar.env?.map((e) => [e.name, e]));
    assert.equal(env.get('FLASHGUARD_WORKLOAD')?.value, `${NS}/Deployment/checkout`);
    assert.equal(env.get('FLASHGUARD_UPSTREAM')?.value, `http://127.0.0.1:${shopPort}`);
  });

  void it('leaves a Deployment without the label untouched', async () => {
    await apply(
      deployment('plain', {
        namespace: NS,
        labels: {},
        port: { name: 'http', containerPort: 8080 },
      }),
    );
    const pod = await onePodOf('plain');
    assert.equal(pod.spec.initContainers, undefined);
    assert.deepEqual(
      pod.spec.containers[0]?.ports?.map((p) => p.name),
      ['http'],
    );
  });

  void it('does not inject twice when an injected Pod is admitted again', async () => {
    const stored = await onePodOf('checkout');
    // The stored Pod as a new object: its identity fields and status left out.
    const identity = new Set(['uid', 'resourceVersion', 'creationTimestamp']);
    const again = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        ...Object.fromEntries(Object.entries(stored.metadata).filter(([k]) => !identity.has(k))),
        name: `${stored.metadata.name}-again`,
      },
      spec: stored.spec,
    };
    const { stdout } = await cp.kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], {
      input: JSON.stringify(again),
    });
    const admitted = JSON.parse(stdout) as Pod;
    assert.deepEqual(
      admitted.spec.initContainers?.map((c) => c.name),
      ['flashguard-sidecar'],
    );
    assert.deepEqual(admitted.spec.containers, stored.spec.containers);
  });

  void it('refuses a Pod whose port has no name, and the ReplicaSet reports why', async () => {
    await apply(
      deployment('unnamed', { namespace: NS, labels: INJECT, port: { containerPort: 8080 } }),
    );
    const message = await waitFor(
      'a FailedCreate Event on the ReplicaSet',
      async () => {
        const events = await kubectlJson<{
          items: {
            reason: string;
            message: string;
            involvedObject: { kind: string; name: string };
          }[];
        }>(['get', 'events', '-n', NS, '--field-selector', 'reason=FailedCreate']);
        return events.items.find((e) => e.involvedObject.name.startsWith('unnamed-'))?.message;
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    assert.match(message, /admission webhook "inject\.flashguard\.dev" denied the request/);
    assert.match(message, /give the app container's port a name \(ports\[\]\.name/);
    assert.match(message, /flashguard\.dev\/port/);
    assert.deepEqual(await podsOf('unnamed'), []);
    const metrics = await (await fetch(`${operator.opsUrl}/metrics`)).text();
    for (const decision of ['inject', 'reject']) {
      const count = new RegExp(
        `^flashguard_operator_admissions_total\\{decision="${decision}"\\} (\\d+)`,
        'm',
      ).exec(metrics);
      assert.ok(Number(count?.[1]) > 0, `${decision} decisions counted`);
    }
  });

  void it('runs the injected sidecar from its spec: it passes other traffic through and guards the sale', async () => {
    // A sale on the injected workload: the operator indexes it and writes the namespace's
    // flashguard-redis Secret, which the injected spec reads its Redis URL from.
    await apply(flashSale('drop', { workload: { name: 'checkout' } }));
    await waitFor(
      'shop/drop Ready',
      async () => (isReady(await flashSales(cp).get('drop', NS)) ? true : undefined),
      {
        timeoutMs: 30_000,
        intervalMs: 100,
      },
    );
    const secret = await waitFor(
      'the flashguard-redis Secret',
      async () => {
        const result = await cp.kubectl(
          ['get', 'secret', 'flashguard-redis', '-n', NS, '-o', 'json'],
          { check: false },
        );
        return result.code === 0
          ? (JSON.parse(result.stdout) as { data: Record<string, string> })
          : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const pod = await onePodOf('checkout');
    const sidecar = pod.spec.initContainers?.[0];
    assert.ok(sidecar);
    const [listen, metrics] = [await freePort(), await freePort()];
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH };
    for (const { name, value, valueFrom } of sidecar.env ?? []) {
      if (valueFrom?.fieldRef?.fieldPath === 'metadata.name') env[name] = pod.metadata.name;
      else if (valueFrom?.secretKeyRef !== undefined) {
        const data = secret.data[valueFrom.secretKeyRef.key];
        assert.ok(data, `the Secret has ${valueFrom.secretKeyRef.key}`);
        env[name] = Buffer.from(data, 'base64').toString();
      } else env[name] = value;
    }
    // The image's ports are fixed; on a shared machine the local run takes free ones instead.
    env.FLASHGUARD_LISTEN = `127.0.0.1:${listen}`;
    env.FLASHGUARD_METRICS = `127.0.0.1:${metrics}`;
    // The image runs `node dist/sidecar/main.js`; this checkout runs the same entrypoint from source.
    assert.deepEqual(sidecar.command, ['node', 'dist/sidecar/main.js']);
    const logFile = join(cp.dir, 'logs', 'injected-sidecar.log');
    const proc = startProcess({
      name: 'injected sidecar',
      command: join(root, 'node_modules', '.bin', 'node'),
      args: [join(root, 'sidecar', 'main.ts'), ...(sidecar.args ?? [])],
      env,
      logFile,
    });
    try {
      await waitForHttp(`http://127.0.0.1:${metrics}/readyz`, proc, logFile, 60_000);
      const response = await fetch(`http://127.0.0.1:${listen}/stats`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), await shop.stats(), 'the shop answered through it');

      // It found the sale through the workload index the injected FLASHGUARD_WORKLOAD names.
      await waitFor(
        'the injected sidecar to guard shop/drop',
        () => (/"added":\["shop\/drop"\]/.test(readFileSync(logFile, 'utf8')) ? true : undefined),
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      const checkout = await fetch(`http://127.0.0.1:${listen}/checkout`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-user-id': 'ada' },
        body: JSON.stringify({ sku: 'phone', quantity: 1 }),
      });
      assert.equal(checkout.status, 201, await checkout.text());
      const client = connectRedis(redis.url);
      try {
        await whenReady(client);
        const phone = (await new SaleLedger(client, { namespace: NS, name: 'drop' }).snapshot())
          ?.items[0];
        assert.deepEqual(
          [phone?.sold, phone?.reserved, phone?.available],
          [1, 0, 9],
          'reserved, then confirmed',
        );
      } finally {
        client.disconnect();
      }
      assert.equal((await shop.stats()).units, 1);
    } finally {
      await proc.stop();
    }
  });
});
