import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  defaultPorts,
  injectionPatch,
  INJECT_LABEL,
  PORT_ANNOTATION,
  SIDECAR_NAME,
  type Injection,
  type JsonPatchOperation,
  type PodLike,
} from './inject.ts';

const options = { namespace: 'shop', image: 'flashguard/sidecar:test', ...defaultPorts };

/** A pod as the ReplicaSet controller of Deployment "checkout" creates it. */
function deploymentPod(overrides: { spec?: object; annotations?: object } = {}): PodLike {
  return {
    metadata: {
      generateName: 'checkout-5d8f7c9b4-',
      labels: { app: 'checkout', [INJECT_LABEL]: 'true', 'pod-template-hash': '5d8f7c9b4' },
      annotations: { ...overrides.annotations },
      ownerReferences: [{ kind: 'ReplicaSet', name: 'checkout-5d8f7c9b4', controller: true }],
    },
    spec: {
      containers: [
        {
          name: 'app',
          image: 'shop:1',
          ports: [{ name: 'http', containerPort: 8080 }],
          readinessProbe: { httpGet: { path: '/ready', port: 'http' } },
          livenessProbe: { tcpSocket: { port: 8080 } },
        },
      ],
      ...overrides.spec,
    },
  };
}

/** Applies the few RFC 6902 operations the webhook emits, as the apiserver would. */
function applied(pod: PodLike, injection: Injection): PodLike {
  assert.equal(injection.kind, 'inject', JSON.stringify(injection));
  const doc = structuredClone(pod) as Record<string, unknown>;
  for (const { op, path, value } of (injection as { patch: JsonPatchOperation[] }).patch) {
    const keys = path.split('/').slice(1);
    const last = keys.pop() ?? '';
    let parent: Record<string, unknown> | unknown[] = doc;
    for (const key of keys) parent = parent[key] as typeof parent;
    if (Array.isArray(parent)) {
      if (last === '-') parent.push(value);
      else if (op === 'replace') parent[Number(last)] = value;
      else parent.splice(Number(last), 0, value);
    } else {
      if (op === 'replace') assert.ok(last in parent, `replace of a missing ${path}`);
      parent[last] = value;
    }
  }
  return doc;
}

function container(pod: PodLike, name: string): Record<string, unknown> {
  const found = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].find(
    (c) => c.name === name,
  );
  assert.ok(found, `container ${name}`);
  return found;
}

function rejection(injection: Injection): string {
  assert.equal(injection.kind, 'reject', JSON.stringify(injection));
  return (injection as { message: string }).message;
}

void describe('injectionPatch', () => {
  void it('never touches a pod without the opt-in label', () => {
    const pod = deploymentPod();
    pod.metadata = { ...pod.metadata, labels: { app: 'checkout' } };
    assert.equal(injectionPatch(pod, options).kind, 'skip');
    pod.metadata.labels = { [INJECT_LABEL]: 'false' };
    assert.equal(injectionPatch(pod, options).kind, 'skip');
  });

  void it('adds the sidecar as a native sidecar that takes over the named port', () => {
    const pod = applied(deploymentPod(), injectionPatch(deploymentPod(), options));
    const sidecar = container(pod, SIDECAR_NAME);
    assert.deepEqual(
      pod.spec?.initContainers?.map((c) => c.name),
      [SIDECAR_NAME],
    );
    assert.equal(sidecar.restartPolicy, 'Always');
    assert.equal(sidecar.image, options.image);
    assert.deepEqual(sidecar.command, ['node', 'dist/sidecar/main.js']);
    assert.deepEqual(sidecar.ports, [
      { name: 'http', containerPort: 15080, protocol: 'TCP' },
      { name: 'fg-metrics', containerPort: 15090, protocol: 'TCP' },
    ]);
    const env = Object.fromEntries(
      (sidecar.env as { name: string; value?: string; valueFrom?: unknown }[]).map((e) => [
        e.name,
        e.value ?? e.valueFrom,
      ]),
    );
    assert.deepEqual(env, {
      FLASHGUARD_WORKLOAD: 'shop/Deployment/checkout',
      FLASHGUARD_UPSTREAM: 'http://127.0.0.1:8080',
      FLASHGUARD_LISTEN: '0.0.0.0:15080',
      FLASHGUARD_METRICS: '0.0.0.0:15090',
      FLASHGUARD_SIDECAR_ID: { fieldRef: { fieldPath: 'metadata.name' } },
      FLASHGUARD_REDIS_URL: { secretKeyRef: { name: 'flashguard-redis', key: 'url' } },
      FLASHGUARD_REDIS_CA_FILE: '/etc/flashguard/redis/ca.crt',
    });
    assert.deepEqual(sidecar.startupProbe, {
      httpGet: { path: '/healthz', port: 15090 },
      periodSeconds: 1,
      failureThreshold: 60,
    });
    assert.deepEqual((sidecar.readinessProbe as { httpGet: unknown }).httpGet, {
      path: '/readyz',
      port: 15090,
    });
    assert.deepEqual(sidecar.securityContext, {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    assert.ok(sidecar.resources);
    assert.deepEqual(pod.spec.volumes, [
      {
        name: 'flashguard-redis-ca',
        secret: {
          secretName: 'flashguard-redis',
          items: [{ key: 'ca.crt', path: 'ca.crt' }],
          optional: true,
        },
      },
    ]);
  });

  void it('renames the app port and makes its probes follow the new name', () => {
    const pod = applied(deploymentPod(), injectionPatch(deploymentPod(), options));
    const app = container(pod, 'app');
    assert.deepEqual(app.ports, [{ name: 'fg-app-8080', containerPort: 8080 }]);
    assert.deepEqual(app.readinessProbe, { httpGet: { path: '/ready', port: 'fg-app-8080' } });
    assert.deepEqual(app.livenessProbe, { tcpSocket: { port: 8080 } }, 'numbers stay as they are');
    assert.equal(app.image, 'shop:1', 'everything else is kept');
  });

  void it('keeps the new port name within the 15 characters of an IANA service name', () => {
    const pod = deploymentPod({
      spec: { containers: [{ name: 'app', ports: [{ name: 'web', containerPort: 65535 }] }] },
    });
    const app = container(applied(pod, injectionPatch(pod, options)), 'app');
    const [port] = app.ports as [{ name: string }];
    assert.equal(port.name, 'fg-app-65535');
    assert.ok(port.name.length <= 15);
  });

  void it('appends to existing init containers and volumes, after the app’s own', () => {
    const pod = deploymentPod({
      spec: {
        containers: deploymentPod().spec?.containers,
        initContainers: [{ name: 'migrate' }],
        volumes: [{ name: 'data' }],
      },
    });
    const result = applied(pod, injectionPatch(pod, options));
    assert.deepEqual(
      result.spec?.initContainers?.map((c) => c.name),
      ['migrate', SIDECAR_NAME],
    );
    assert.deepEqual(
      result.spec.volumes?.map((v) => v.name),
      ['data', 'flashguard-redis-ca'],
    );
  });

  void it('returns an injected pod unchanged (re-admission never injects twice)', () => {
    const once = applied(deploymentPod(), injectionPatch(deploymentPod(), options));
    assert.deepEqual(injectionPatch(once, options), {
      kind: 'skip',
      reason: 'the sidecar is already injected',
    });
  });

  void it('refuses a pod whose port has no name, saying what to do', () => {
    const pod = deploymentPod({
      spec: { containers: [{ name: 'app', ports: [{ containerPort: 8080 }] }] },
    });
    const message = rejection(injectionPatch(pod, options));
    assert.match(message, /ports\[\]\.name/);
    assert.match(message, /flashguard\.dev\/port/);
  });

  void it('refuses several named ports unless the annotation picks one', () => {
    const containers = [
      { name: 'app', ports: [{ name: 'http', containerPort: 8080 }] },
      { name: 'admin', ports: [{ name: 'admin', containerPort: 9000 }] },
    ];
    assert.match(
      rejection(injectionPatch(deploymentPod({ spec: { containers } }), options)),
      /several ports \("http", "admin"\).*flashguard\.dev\/port/,
    );
    const picked = deploymentPod({
      spec: { containers },
      annotations: { [PORT_ANNOTATION]: 'admin' },
    });
    const pod = applied(picked, injectionPatch(picked, options));
    assert.deepEqual(container(pod, 'admin').ports, [{ name: 'fg-app-9000', containerPort: 9000 }]);
    assert.deepEqual(container(pod, 'app').ports, [{ name: 'http', containerPort: 8080 }]);
    const env = container(pod, SIDECAR_NAME).env as { name: string; value?: string }[];
    assert.equal(env.find((e) => e.name === 'FLASHGUARD_UPSTREAM')?.value, 'http://127.0.0.1:9000');
  });

  void it('refuses an annotation that names no port', () => {
    const pod = deploymentPod({ annotations: { [PORT_ANNOTATION]: 'web' } });
    assert.match(rejection(injectionPatch(pod, options)), /"web" names no container port/);
  });

  void it('names a StatefulSet workload, and refuses pods of anything else', () => {
    const pod = deploymentPod();
    pod.metadata = {
      ...pod.metadata,
      ownerReferences: [{ kind: 'StatefulSet', name: 'checkout', controller: true }],
    };
    const result = injectionPatch(pod, options);
    assert.equal(result.kind === 'inject' && result.workload, 'shop/StatefulSet/checkout');

    pod.metadata.ownerReferences = [{ kind: 'DaemonSet', name: 'agents', controller: true }];
    assert.match(rejection(injectionPatch(pod, options)), /Deployment or a StatefulSet.*DaemonSet/);
    pod.metadata.ownerReferences = [];
    assert.match(rejection(injectionPatch(pod, options)), /no controller/);
    // A ReplicaSet not made by a Deployment has no pod-template-hash suffix.
    pod.metadata.ownerReferences = [{ kind: 'ReplicaSet', name: 'legacy', controller: true }];
    assert.match(rejection(injectionPatch(pod, options)), /ReplicaSet legacy/);
  });

  void it('refuses a pod that already uses the sidecar’s ports', () => {
    const pod = deploymentPod({
      spec: {
        containers: [
          { name: 'app', ports: [{ name: 'http', containerPort: 8080 }] },
          { name: 'stats', ports: [{ containerPort: 15090 }] },
        ],
      },
    });
    assert.match(rejection(injectionPatch(pod, options)), /already uses port 15090/);
  });
});
