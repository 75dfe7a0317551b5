// `helm install` of the chart on a real control plane (with the controller-manager), its webhook
// pointed by `webhook.url` at the operator run as a local process under the identity the chart
// gives it — its ServiceAccount's token —, which manages the webhook's TLS, reconciles a
// FlashSale to Ready with a real Redis and injects the sidecar into an opted-in Deployment's Pods;
// and a hand-written table of what that identity may and may not do.
//
// Running the operator as the chart's ServiceAccount outside the cluster (also docs/install.md):
//   kubectl create token <sa> -n <release namespace>   → a short-lived bound token
//   a kubeconfig with the apiserver's URL, its CA, and `user: { token }`
//   POD_NAMESPACE=<release namespace> node operator/main.ts --kubeconfig that-file --redis URL
//     --webhook-listen 127.0.0.1:PORT --webhook-config <release webhook configuration>
//     --webhook-secret <release webhook TLS Secret> --webhook-hosts 127.0.0.1 --sidecar-image IMAGE
//   helm install … --set webhook.url=https://127.0.0.1:PORT   (the chart appends /inject)
// Nothing the operator does then succeeds unless the chart's RBAC allows it.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { SaleLedger } from '../../ledger/index.ts';
import { connectRedis } from '../../sidecar/redis.ts';
import { startControlPlane, type ControlPlane } from '../controlplane/controlplane.ts';
import { leaseHolder, startOperator } from '../support/operator.ts';
import { freePort, waitFor, type ManagedProcess } from '../support/process.ts';
import { startRedis, type RedisServer } from '../support/redis.ts';
import { flashSale } from '../support/sidecar.ts';
import { deployment } from '../support/workloads.ts';
import { chartDir, type K8sObject } from './chart.ts';

const release = 'fg';
const namespace = 'flashguard-system';
const serviceAccount = 'fg-flashguard';
const webhookConfig = 'fg-flashguard-inject';
const webhookSecret = `${release}-flashguard-webhook-tls`;
const sidecarImage = 'registry.invalid/flashguard-sidecar:e2e';

interface Condition {
  type: string;
  status: string;
}
interface StoredSale {
  metadata: { generation: number; finalizers?: string[] };
  status?: { observedGeneration?: number; conditions?: Condition[] };
}

/** [verb, resource, namespace ('*' = all namespaces), allowed]; resource may be `kind/name`. */
type Permission = [string, string, string, boolean];

// What the operator needs (C7) and, as much, what it must not be able to do.
const permissions: Permission[] = [
  ['watch', 'flashsales.flashguard.dev', '*', true],
  ['list', 'flashsales.flashguard.dev', '*', true],
  ['patch', 'flashsales.flashguard.dev', 'shop', true],
  ['update', 'flashsales.flashguard.dev/status', 'shop', true],
  ['update', 'flashsales.flashguard.dev/finalizers', 'shop', true],
  ['create', 'flashsales.flashguard.dev', 'shop', false],
  ['delete', 'flashsales.flashguard.dev', 'shop', false],
  ['create', 'events', 'shop', true],
  ['create', 'events.events.k8s.io', 'shop', true],
  ['delete', 'events', 'shop', false],
  ['get', 'secrets', 'shop', true], // a sale's spec.redis.secretRef
  ['create', 'secrets', 'shop', true], // flashguard-redis for injected sidecars
  ['update', 'secrets/flashguard-redis', 'shop', true],
  ['delete', 'secrets/flashguard-redis', 'shop', true],
  ['update', 'secrets/payments-db', 'shop', false],
  ['delete', 'secrets/payments-db', 'shop', false],
  ['list', 'secrets', '*', false],
  ['watch', 'secrets', '*', false],
  ['list', 'secrets', 'shop', false],
  ['create', 'horizontalpodautoscalers.autoscaling', 'shop', true],
  ['delete', 'horizontalpodautoscalers.autoscaling', 'shop', true],
  ['create', 'scaledobjects.keda.sh', 'shop', true],
  ['patch', `mutatingwebhookconfigurations/${webhookConfig}`, '*', true],
  ['patch', 'mutatingwebhookconfigurations/someone-elses-webhook', '*', false],
  ['create', 'mutatingwebhookconfigurations', '*', false],
  ['delete', `mutatingwebhookconfigurations/${webhookConfig}`, '*', false],
  ['create', 'leases.coordination.k8s.io', namespace, true],
  ['update', 'leases.coordination.k8s.io', namespace, true],
  ['create', 'leases.coordination.k8s.io', 'shop', false],
  ['update', `secrets/${webhookSecret}`, namespace, true],
  ['delete', `secrets/${webhookSecret}`, namespace, false],
  ['list', 'secrets', namespace, false],
  ['delete', 'pods', 'shop', false],
  ['create', 'pods', 'shop', false],
  ['create', 'deployments.apps', 'shop', false],
  ['patch', 'deployments.apps', 'shop', false],
  ['get', 'nodes', '*', false],
  ['bind', 'clusterroles.rbac.authorization.k8s.io', '*', false],
  ['escalate', 'clusterroles.rbac.authorization.k8s.io', '*', false],
  ['create', 'customresourcedefinitions.apiextensions.k8s.io', '*', false],
  ['impersonate', 'serviceaccounts', namespace, false],
  ['create', 'serviceaccounts/token', namespace, false],
];

const kedaScaledObjectCrd = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'scaledobjects.keda.sh' },
  spec: {
    group: 'keda.sh',
    names: { kind: 'ScaledObject', plural: 'scaledobjects', singular: 'scaledobject' },
    scope: 'Namespaced',
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        },
      },
    ],
  },
};

function canIArgs([verb, resource, ns]: Permission): string[] {
  const [typeAndName = '', sub] = resource.split(/\/(?=status$|finalizers$)/);
  return [
    'auth',
    'can-i',
    verb,
    typeAndName,
    ...(sub === undefined ? [] : [`--subresource=${sub}`]),
    ...(ns === '*' ? ['--all-namespaces'] : ['-n', ns]),
    `--as=system:serviceaccount:${namespace}:${serviceAccount}`,
  ];
}

void describe('helm install of the chart, and the operator under its ServiceAccount', () => {
  let cp: ControlPlane;
  let redis: RedisServer;
  let operator: ManagedProcess | undefined;
  let webhookPort: number;

  before(async () => {
    webhookPort = await freePort();
    [cp, redis] = await Promise.all([startControlPlane({ controllerManager: true }), startRedis()]);
    // KEDA's ScaledObject resource as a cluster with KEDA serves it (name and group; the schema
    // does not matter here), so `kubectl auth can-i` can resolve keda.sh/scaledobjects.
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(kedaScaledObjectCrd) });
  });
  after(async () => {
    await operator?.stop();
    await Promise.all([cp.stop(), redis.destroy()]);
  });

  void it('installs: every object of the release exists and the CRD is established', async () => {
    await cp.helm([
      'install',
      release,
      chartDir,
      ...['-n', namespace, '--create-namespace'],
      ...['--set', `operator.redis.url=${redis.url}`],
      ...['--set', `webhook.url=https://127.0.0.1:${String(webhookPort)}`],
    ]);
    const status = await cp.helm(['status', release, '-n', namespace, '-o', 'json']);
    const info = (JSON.parse(status.stdout) as { info: { status: string; notes: string } }).info;
    assert.equal(info.status, 'deployed');
    // NOTES.txt tells the user how to check the install and how a pod opts in.
    assert.match(info.notes, new RegExp(`helm test ${release} -n ${namespace}`));
    assert.match(info.notes, /flashguard\.dev\/inject: "true"/);
    assert.match(info.notes, new RegExp(webhookConfig));
    const manifest = (await cp.helm(['get', 'manifest', release, '-n', namespace])).stdout;
    const objects = parseAllDocuments(manifest)
      .map((d) => d.toJS() as K8sObject | null)
      .filter((o): o is K8sObject => o !== null);
    assert.ok(objects.length >= 10, `only ${String(objects.length)} objects in the release`);
    for (const o of objects) {
      const group = o.apiVersion.includes('/') ? `.${o.apiVersion.split('/')[0] ?? ''}` : '';
      const ns = o.metadata.namespace === undefined ? [] : ['-n', o.metadata.namespace];
      const got = await cp.kubectl(
        ['get', `${o.kind}${group}`, o.metadata.name, ...ns, '-o', 'name'],
        {
          check: false,
        },
      );
      assert.equal(got.code, 0, `${o.kind} ${o.metadata.name}: ${got.stderr}`);
    }
    await cp.kubectl([
      'wait',
      '--for=condition=Established',
      'crd/flashsales.flashguard.dev',
      '--timeout=30s',
    ]);
  });

  void it('runs the operator with only its ServiceAccount token: a FlashSale becomes Ready', async () => {
    const token = (
      await cp.kubectl(['create', 'token', serviceAccount, '-n', namespace, '--duration=1h'])
    ).stdout.trim();
    const kubeconfig = join(cp.dir, 'operator-sa.kubeconfig');
    await writeFile(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'testbed',
            cluster: { server: cp.server, 'certificate-authority': cp.ca.certPath },
          },
        ],
        users: [{ name: serviceAccount, user: { token } }],
        contexts: [{ name: 'sa', context: { cluster: 'testbed', user: serviceAccount } }],
        'current-context': 'sa',
      }),
      { mode: 0o600 },
    );
    // As the Deployment's fieldRef does: the Lease lives in the release namespace, where the
    // chart's Role allows it (it would be refused anywhere else).
    process.env.POD_NAMESPACE = namespace;
    const started = await startOperator({
      kubeconfig,
      redisUrl: redis.url,
      identity: 'sa-operator',
      logDir: join(cp.dir, 'logs'),
      leaseSeconds: 4,
      args: [
        ...['--webhook-listen', `127.0.0.1:${String(webhookPort)}`],
        ...['--webhook-config', webhookConfig, '--webhook-secret', webhookSecret],
        ...['--webhook-hosts', '127.0.0.1', '--sidecar-image', sidecarImage],
      ],
    });
    operator = started.process;

    await cp.kubectl(['create', 'namespace', 'shop']);
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(flashSale('launch')) });
    const ready = (s: StoredSale): boolean =>
      s.status?.observedGeneration === s.metadata.generation &&
      s.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true;
    const sale = await waitFor(
      'shop/launch Ready under the ServiceAccount',
      async () => {
        const got = await cp.kubectl(['get', 'flashsale', 'launch', '-n', 'shop', '-o', 'json']);
        const stored = JSON.parse(got.stdout) as StoredSale;
        return ready(stored) ? stored : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250 },
    );
    assert.ok(sale.metadata.finalizers?.includes('flashguard.dev/ledger'));
    const client = connectRedis(redis.url);
    try {
      await once(client, 'ready');
      const ledger = new SaleLedger(client, { namespace: 'shop', name: 'launch' });
      const snapshot = await ledger.snapshot();
      assert.deepEqual(
        snapshot?.items.map((i) => [i.sku, i.total]),
        [['phone', 10]],
      );
    } finally {
      client.disconnect();
    }
    assert.equal(await leaseHolder(cp, namespace), 'sa-operator');
    const events = await cp.kubectl(['get', 'events', '-n', 'shop', '-o', 'json']);
    const saleEvents = (
      JSON.parse(events.stdout) as { items: { involvedObject: { name: string } }[] }
    ).items.filter((e) => e.involvedObject.name === 'launch');
    assert.ok(saleEvents.length > 0, 'the operator recorded Events on the sale');
  });

  void it("injects the sidecar into an opted-in Deployment's Pods through the chart's webhook", async () => {
    // The operator made its CA and serving certificate under the ServiceAccount and patched the
    // release's webhook configuration with the CA: the apiserver now trusts it.
    const caBundle = await waitFor(
      'the caBundle patched by the operator',
      async () => {
        const got = await cp.kubectl([
          ...['get', 'mutatingwebhookconfiguration', webhookConfig],
          ...['-o', 'jsonpath={.webhooks[0].clientConfig.caBundle}'],
        ]);
        return got.stdout === '' ? undefined : got.stdout;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );
    const secret = await cp.kubectl([
      ...['get', 'secret', webhookSecret, '-n', namespace],
      ...['-o', 'jsonpath={.data.ca\\.crt}'],
    ]);
    assert.equal(caBundle, secret.stdout);

    const port = { name: 'http', containerPort: 8080 };
    const optedIn = deployment('checkout', {
      namespace: 'shop',
      labels: { 'flashguard.dev/inject': 'true' },
      port,
    });
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(optedIn) });
    await cp.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify(deployment('catalog', { namespace: 'shop', port })),
    });
    interface StoredPod {
      spec: {
        initContainers?: {
          name: string;
          image: string;
          restartPolicy?: string;
          ports?: { name?: string }[];
        }[];
        containers: { name: string; ports?: { name?: string }[] }[];
      };
    }
    const podOf = (app: string) =>
      waitFor(
        `a Pod of ${app} from its ReplicaSet`,
        async () => {
          const got = await cp.kubectl([
            'get',
            'pods',
            '-n',
            'shop',
            '-l',
            `app=${app}`,
            '-o',
            'json',
          ]);
          return (JSON.parse(got.stdout) as { items: StoredPod[] }).items[0];
        },
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    const injected = await podOf('checkout');
    const sidecar = injected.spec.initContainers?.find((c) => c.name === 'flashguard-sidecar');
    assert.equal(sidecar?.restartPolicy, 'Always', 'a native sidecar');
    assert.equal(sidecar.image, sidecarImage);
    // The Service's named port now leads to the sidecar; the app's port was renamed.
    assert.ok(sidecar.ports?.some((p) => p.name === 'http'));
    assert.ok(!injected.spec.containers[0]?.ports?.some((p) => p.name === 'http'));
    const untouched = await podOf('catalog');
    assert.equal(untouched.spec.initContainers, undefined);
    assert.equal(untouched.spec.containers[0]?.ports?.[0]?.name, 'http');
  });

  void it('lets the ServiceAccount do what the operator needs, and nothing listed beyond', async () => {
    const wrong: string[] = [];
    for (const permission of permissions) {
      const result = await cp.kubectl(canIArgs(permission), { check: false });
      const answer = result.stdout.trim();
      if (answer !== 'yes' && answer !== 'no') {
        throw new Error(`kubectl ${canIArgs(permission).join(' ')}: ${result.stderr}`);
      }
      const [verb, resource, ns, allowed] = permission;
      if ((answer === 'yes') !== allowed) {
        wrong.push(`${verb} ${resource} in ${ns}: ${answer}, want ${allowed ? 'yes' : 'no'}`);
      }
    }
    assert.deepEqual(wrong, []);
  });

  void it('sends only opted-in pods outside its namespace to the webhook (upgrade to webhook.url)', async () => {
    // Nothing listens at this URL: with failurePolicy Fail, a pod the webhook selects cannot be
    // created, and any other pod is created as if the webhook did not exist.
    const closedPort = await freePort();
    await cp.helm([
      'upgrade',
      release,
      chartDir,
      ...['-n', namespace, '--reuse-values'],
      ...['--set', `webhook.url=https://127.0.0.1:${String(closedPort)}`],
    ]);
    const pod = (name: string, ns: string, optIn: boolean) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name,
        namespace: ns,
        labels: optIn ? { 'flashguard.dev/inject': 'true' } : {},
      },
      spec: { containers: [{ name: 'app', image: 'checkout:1' }] },
    });
    const create = (manifest: object) =>
      cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest), check: false });

    const selected = await create(pod('opted-in', 'shop', true));
    assert.notEqual(selected.code, 0);
    assert.match(selected.stderr, /failed calling webhook "inject\.flashguard\.dev"/);
    const unlabelled = await create(pod('not-opted-in', 'shop', false));
    assert.equal(unlabelled.code, 0, unlabelled.stderr);
    const own = await create(pod('opted-in-operator-namespace', namespace, true));
    assert.equal(own.code, 0, own.stderr);
  });

  void it('uninstalls, keeping the CRD and the FlashSales (crds.keep)', async () => {
    await operator?.stop();
    operator = undefined;
    await cp.helm(['uninstall', release, '-n', namespace]);
    const gone = await cp.kubectl(['get', 'deployment', 'fg-flashguard', '-n', namespace], {
      check: false,
    });
    assert.match(gone.stderr, /NotFound/);
    const role = await cp.kubectl(['get', 'clusterrole', 'fg-flashguard'], { check: false });
    assert.match(role.stderr, /NotFound/);
    await cp.kubectl(['get', 'crd', 'flashsales.flashguard.dev']);
    await cp.kubectl(['get', 'flashsale', 'launch', '-n', 'shop']);
  });
});
