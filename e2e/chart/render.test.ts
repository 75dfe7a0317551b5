// What the chart renders for each of its toggles, read from `helm template` by the pinned helm:
// the objects and fields users and the operator rely on, and the values schema's refusals.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { crdFileName } from '../../crds/crd.ts';
import {
  chartDir,
  helm,
  kinds,
  minimalValues,
  only,
  renderChart,
  type K8sObject,
} from './chart.ts';

const namespace = 'flashguard-system';
const root = join(import.meta.dirname, '..', '..');

interface Container {
  name: string;
  image: string;
  command: string[];
  args: string[];
  env: { name: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: { requests?: object; limits?: object };
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string }[];
}
interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
  volumes: { name: string; secret?: { secretName: string } }[];
}
interface Deployment extends K8sObject {
  spec: {
    replicas: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
  };
}
interface Webhook {
  name: string;
  failurePolicy: string;
  sideEffects: string;
  admissionReviewVersions: string[];
  timeoutSeconds: number;
  reinvocationPolicy: string;
  clientConfig: {
    url?: string;
    caBundle?: string;
    service?: { name: string; namespace: string; path: string; port: number };
  };
  objectSelector: { matchLabels: Record<string, string> };
  namespaceSelector: { matchExpressions: { key: string; operator: string; values: string[] }[] };
  rules: { operations: string[]; resources: string[] }[];
}
interface Service extends K8sObject {
  spec: {
    selector: Record<string, string>;
    ports: { port: number; targetPort: string }[];
  };
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  resourceNames?: string[];
  verbs: string[];
}

function operatorContainer(objects: K8sObject[]): Container {
  const deployment = only(objects, 'Deployment') as Deployment;
  const container = deployment.spec.template.spec.containers[0];
  assert.ok(container);
  return container;
}

function webhookOf(objects: K8sObject[]): Webhook {
  const config = only(objects, 'MutatingWebhookConfiguration') as K8sObject & {
    webhooks: Webhook[];
  };
  assert.equal(config.webhooks.length, 1);
  return config.webhooks[0] as Webhook;
}

/** The value of `--flag=value` in `args`, or undefined. */
function flag(args: readonly string[], name: string): string | undefined {
  const prefix = `--${name}=`;
  return args.find((a) => a.startsWith(prefix))?.slice(prefix.length);
}

/** A named port's number in the operator container. */
function containerPort(container: Container, name: string): number | undefined {
  return container.ports.find((p) => p.name === name)?.containerPort;
}

void describe('the flashguard chart, rendered', () => {
  void it('passes helm lint --strict', async () => {
    const result = await helm(['lint', chartDir, '--strict'], minimalValues);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.doesNotMatch(result.stdout, /\[(WARNING|ERROR)\]/);
  });

  void it('renders the operator: 2 replicas, Lease identity, probes, restricted security', async () => {
    const objects = await renderChart(minimalValues);
    assert.deepEqual(kinds(objects), [
      'ClusterRole',
      'ClusterRoleBinding',
      'CustomResourceDefinition',
      'Deployment',
      'MutatingWebhookConfiguration',
      'Pod', // the helm test hook
      'PodDisruptionBudget',
      'Role',
      'RoleBinding',
      'Service',
      'Service',
      'ServiceAccount',
    ]);
    const deployment = only(objects, 'Deployment') as Deployment;
    assert.equal(deployment.spec.replicas, 2);
    const pod = deployment.spec.template.spec;
    assert.equal(pod.serviceAccountName, only(objects, 'ServiceAccount').metadata.name);
    const c = operatorContainer(objects);
    assert.deepEqual(c.command, [
      'node',
      '--max-semi-space-size=2',
      '--heap-growing-percent=30',
      'dist/operator/main.js',
    ]);
    assert.equal(c.image, 'ghcr.io/flashguard/flashguard-operator:0.1.0');
    const fieldRefs = Object.fromEntries(
      c.env.map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]),
    );
    assert.equal(fieldRefs.POD_NAMESPACE, 'metadata.namespace');
    assert.equal(fieldRefs.POD_NAME, 'metadata.name');
    assert.equal(flag(c.args, 'redis'), minimalValues.operator.redis.url);
    assert.equal(flag(c.args, 'listen'), '0.0.0.0:8081');
    assert.equal(containerPort(c, 'http-ops'), 8081);
    assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'http-ops' });
    assert.deepEqual(c.readinessProbe.httpGet, { path: '/readyz', port: 'http-ops' });
    assert.ok(c.resources.requests && c.resources.limits);
    assert.deepEqual(c.securityContext, {
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.equal(pod.securityContext.runAsNonRoot, true);

    const pdb = only(objects, 'PodDisruptionBudget') as K8sObject & {
      spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } };
    };
    assert.equal(pdb.spec.minAvailable, 1);
    assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
    for (const [key, value] of Object.entries(deployment.spec.selector.matchLabels)) {
      assert.equal(deployment.spec.template.metadata.labels[key], value);
    }
  });

  void it('ships a helm test hook that asks /readyz through the metrics Service', async () => {
    const objects = await renderChart(minimalValues);
    const hook = only(objects, 'Pod') as K8sObject & {
      spec: { containers: { command: string[] }[] };
    };
    assert.equal(hook.metadata.annotations?.['helm.sh/hook'], 'test');
    const service = only(objects, 'Service', 'fg-flashguard-metrics') as Service;
    assert.equal(
      hook.spec.containers[0]?.command.at(-1),
      `http://${service.metadata.name}.${namespace}.svc:${String(service.spec.ports[0]?.port)}/readyz`,
    );
  });

  void it('puts the standard labels on every object', async () => {
    const objects = await renderChart({
      ...minimalValues,
      prometheusRule: { enabled: true },
      dashboard: { enabled: true },
      metrics: { serviceMonitor: { enabled: true }, sidecarPodMonitor: { enabled: true } },
    });
    for (const o of objects) {
      const labels = o.metadata.labels ?? {};
      for (const key of [
        'app.kubernetes.io/name',
        'app.kubernetes.io/instance',
        'app.kubernetes.io/version',
        'app.kubernetes.io/managed-by',
        'helm.sh/chart',
      ]) {
        assert.ok(labels[key], `${o.kind} ${o.metadata.name} lacks ${key}`);
      }
      assert.equal(labels['app.kubernetes.io/instance'], 'fg');
      if (o.kind !== 'CustomResourceDefinition' && o.kind !== 'ConfigMap') {
        assert.ok(labels['app.kubernetes.io/component'], `${o.kind} lacks a component`);
      }
    }
  });

  void it('registers the webhook on the Service, with operator-managed TLS by default', async () => {
    const objects = await renderChart(minimalValues);
    const config = only(objects, 'MutatingWebhookConfiguration');
    assert.equal(config.metadata.name, 'fg-flashguard-inject');
    const webhook = webhookOf(objects);
    assert.equal(webhook.failurePolicy, 'Fail');
    assert.equal(webhook.sideEffects, 'None');
    assert.deepEqual(webhook.admissionReviewVersions, ['v1']);
    assert.equal(webhook.timeoutSeconds, 10);
    assert.equal(webhook.reinvocationPolicy, 'IfNeeded');
    const [rule] = webhook.rules;
    assert.ok(rule);
    assert.deepEqual(rule.operations, ['CREATE']);
    assert.deepEqual(rule.resources, ['pods']);
    assert.deepEqual(webhook.objectSelector, {
      matchLabels: { 'flashguard.dev/inject': 'true' },
    });
    assert.deepEqual(webhook.namespaceSelector.matchExpressions, [
      { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [namespace] },
    ]);
    assert.equal(webhook.clientConfig.url, undefined);
    assert.equal(webhook.clientConfig.caBundle, undefined, 'the operator writes caBundle');

    const service = only(objects, 'Service', 'fg-flashguard-webhook') as Service;
    assert.deepEqual(webhook.clientConfig.service, {
      name: service.metadata.name,
      namespace,
      path: '/inject',
      port: 443,
    });
    const c = operatorContainer(objects);
    assert.deepEqual(service.spec.ports, [
      { name: 'https-webhook', port: 443, targetPort: 'https-webhook', protocol: 'TCP' },
    ]);
    assert.equal(containerPort(c, 'https-webhook'), 9443);
    const metrics = only(objects, 'Service', 'fg-flashguard-metrics') as Service;
    assert.equal(metrics.spec.ports[0]?.port, 8081);

    assert.equal(flag(c.args, 'webhook-listen'), '0.0.0.0:9443');
    assert.equal(flag(c.args, 'webhook-config'), config.metadata.name);
    assert.equal(flag(c.args, 'webhook-secret'), 'fg-flashguard-webhook-tls');
    assert.equal(
      flag(c.args, 'webhook-hosts'),
      `fg-flashguard-webhook.${namespace}.svc,fg-flashguard-webhook.${namespace}.svc.cluster.local`,
    );
    assert.equal(flag(c.args, 'webhook-cert-dir'), undefined);
    assert.equal(flag(c.args, 'sidecar-image'), 'ghcr.io/flashguard/flashguard-sidecar:0.1.0');
  });

  void it('points the webhook at webhook.url instead of the Service', async () => {
    const objects = await renderChart({
      ...minimalValues,
      webhook: { url: 'https://127.0.0.1:9443/', caBundle: 'Q0EK' },
    });
    const webhook = webhookOf(objects);
    assert.deepEqual(webhook.clientConfig, {
      url: 'https://127.0.0.1:9443/inject',
      caBundle: 'Q0EK',
    });
    assert.deepEqual(
      objects.filter((o) => o.kind === 'Service').map((o) => o.metadata.name),
      ['fg-flashguard-metrics'],
    );
    // The webhook is served elsewhere: the in-cluster operator does not listen for it.
    assert.equal(flag(operatorContainer(objects).args, 'webhook-listen'), undefined);
  });

  void it('uses cert-manager for the webhook certificate when asked', async () => {
    const objects = await renderChart({
      ...minimalValues,
      webhook: { certManager: { enabled: true } },
    });
    const certificate = only(objects, 'Certificate') as K8sObject & {
      spec: { secretName: string; dnsNames: string[]; issuerRef: { name: string; kind: string } };
    };
    const issuer = only(objects, 'Issuer');
    assert.deepEqual(certificate.spec.issuerRef, {
      name: issuer.metadata.name,
      kind: 'Issuer',
      group: 'cert-manager.io',
    });
    assert.deepEqual(certificate.spec.dnsNames, [
      `fg-flashguard-webhook.${namespace}.svc`,
      `fg-flashguard-webhook.${namespace}.svc.cluster.local`,
    ]);
    const config = only(objects, 'MutatingWebhookConfiguration');
    assert.equal(
      config.metadata.annotations?.['cert-manager.io/inject-ca-from'],
      `${namespace}/${certificate.metadata.name}`,
    );
    const c = operatorContainer(objects);
    const certDir = flag(c.args, 'webhook-cert-dir');
    assert.equal(certDir, '/etc/flashguard/webhook-tls');
    for (const managed of ['webhook-config', 'webhook-secret', 'webhook-hosts']) {
      assert.equal(flag(c.args, managed), undefined, `--${managed} with cert-manager`);
    }
    const mount = c.volumeMounts.find((m) => m.mountPath === certDir);
    const pod = (only(objects, 'Deployment') as Deployment).spec.template.spec;
    const volume = pod.volumes.find((v) => v.name === mount?.name);
    assert.equal(volume?.secret?.secretName, certificate.spec.secretName);

    const byIssuer = await renderChart({
      ...minimalValues,
      webhook: {
        certManager: { enabled: true, issuerRef: { name: 'corp-ca', kind: 'ClusterIssuer' } },
      },
    });
    assert.equal(byIssuer.filter((o) => o.kind === 'Issuer').length, 0);
  });

  void it('templates the CRD from crds/, kept on uninstall, and can leave it out', async () => {
    const committed = parse(readFileSync(join(root, 'crds', crdFileName), 'utf8'), {
      version: '1.1',
    }) as K8sObject & { spec: unknown };
    const crd = only(await renderChart(minimalValues), 'CustomResourceDefinition') as K8sObject & {
      spec: unknown;
    };
    assert.equal(crd.metadata.name, committed.metadata.name);
    assert.deepEqual(crd.spec, committed.spec);
    assert.equal(crd.metadata.annotations?.['helm.sh/resource-policy'], 'keep');

    const notKept = await renderChart({ ...minimalValues, crds: { keep: false } });
    assert.equal(only(notKept, 'CustomResourceDefinition').metadata.annotations, undefined);
    const none = await renderChart({ ...minimalValues, crds: { enabled: false } });
    assert.equal(none.filter((o) => o.kind === 'CustomResourceDefinition').length, 0);
  });

  void it('renders monitors, rules and the dashboard only when enabled, with extra labels', async () => {
    const off = kinds(await renderChart(minimalValues));
    for (const kind of ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'ConfigMap']) {
      assert.ok(!off.includes(kind), `${kind} rendered by default`);
    }
    const on = await renderChart({
      ...minimalValues,
      metrics: {
        serviceMonitor: { enabled: true, labels: { release: 'kps' } },
        sidecarPodMonitor: { enabled: true, labels: { release: 'kps' } },
      },
      prometheusRule: { enabled: true, labels: { release: 'kps' }, alertLabels: { team: 'shop' } },
      dashboard: { enabled: true },
    });
    const serviceMonitor = only(on, 'ServiceMonitor') as K8sObject & {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    const metricsService = only(on, 'Service', 'fg-flashguard-metrics') as Service;
    for (const [key, value] of Object.entries(serviceMonitor.spec.selector.matchLabels)) {
      assert.equal(metricsService.metadata.labels?.[key], value);
    }
    assert.equal(serviceMonitor.spec.endpoints[0]?.port, 'http-ops');
    const podMonitor = only(on, 'PodMonitor') as K8sObject & {
      spec: { selector: { matchLabels: Record<string, string> }; namespaceSelector: object };
    };
    assert.deepEqual(podMonitor.spec.selector.matchLabels, { 'flashguard.dev/inject': 'true' });
    assert.deepEqual(podMonitor.spec.namespaceSelector, { any: true });
    for (const o of [serviceMonitor, podMonitor, only(on, 'PrometheusRule')]) {
      assert.equal(o.metadata.labels?.release, 'kps', `${o.kind} lacks the extra label`);
    }
    const rule = only(on, 'PrometheusRule') as K8sObject & {
      spec: { groups: { rules: { alert: string; labels: Record<string, string> }[] }[] };
    };
    const alerts = rule.spec.groups.flatMap((g) => g.rules);
    assert.ok(alerts.length >= 5);
    for (const alert of alerts) assert.equal(alert.labels.team, 'shop', alert.alert);
    const dashboard = only(on, 'ConfigMap');
    assert.equal(dashboard.metadata.labels?.grafana_dashboard, '1');
  });

  void it('links every alert to its runbook section in docs/alerts.md', async () => {
    const objects = await renderChart({ ...minimalValues, prometheusRule: { enabled: true } });
    const rule = only(objects, 'PrometheusRule') as K8sObject & {
      spec: { groups: { rules: { alert: string; annotations: Record<string, string> }[] }[] };
    };
    const doc = readFileSync(join(root, 'docs', 'alerts.md'), 'utf8');
    const anchors = new Set(
      [...doc.matchAll(/^## (.+)$/gm)].map((m) => (m[1] ?? '').trim().toLowerCase()),
    );
    for (const { alert, annotations } of rule.spec.groups.flatMap((g) => g.rules)) {
      const url = annotations.runbook_url ?? '';
      assert.match(url, /\/docs\/alerts\.md#/, alert);
      const anchor = url.slice(url.indexOf('#') + 1);
      assert.ok(anchors.has(anchor), `docs/alerts.md has no "## ${alert}" section`);
    }
  });

  void it('grants no wildcard and no secret listing, and patches only its own webhook config', async () => {
    const objects = await renderChart(minimalValues);
    const clusterRole = only(objects, 'ClusterRole') as K8sObject & { rules: Rule[] };
    const webhookRule = clusterRole.rules.find((r) =>
      r.resources.includes('mutatingwebhookconfigurations'),
    );
    assert.deepEqual(webhookRule?.resourceNames, [
      only(objects, 'MutatingWebhookConfiguration').metadata.name,
    ]);
    for (const r of clusterRole.rules) {
      assert.ok(!r.verbs.includes('*') && !r.resources.includes('*'), 'no wildcards');
      if (r.resources.includes('secrets')) {
        assert.ok(!r.verbs.includes('list') && !r.verbs.includes('watch'), 'no secret listing');
      }
    }
    const role = only(objects, 'Role') as K8sObject & { rules: Rule[] };
    assert.equal(role.metadata.namespace, namespace);
  });

  void it('refuses values the schema does not know, and a release without Redis', async () => {
    const cases: [object, RegExp][] = [
      [{ ...minimalValues, replicas: 3 }, /additional properties 'replicas' not allowed/],
      [
        { operator: { ...minimalValues.operator, replica: 3 } },
        /additional properties 'replica' not allowed/,
      ],
      [
        { ...minimalValues, webhook: { certManager: { enable: true } } },
        /additional properties 'enable' not allowed/,
      ],
      [{ ...minimalValues, webhook: { failurePolicy: 'Sometimes' } }, /failurePolicy/],
      [{}, /set operator\.redis\.secretName .* or operator\.redis\.url/],
    ];
    for (const [values, message] of cases) {
      const result = await helm(['template', 'fg', chartDir], values);
      assert.notEqual(result.code, 0, JSON.stringify(values));
      assert.match(result.stderr, message);
    }
  });
});
