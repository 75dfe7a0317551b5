// The sidecar-injection decision, pure: from a Pod (as the apiserver sends it for admission) and
// the operator's settings to a JSONPatch that adds the sidecar as a native sidecar, nothing, or a
// refusal that tells the user what to fix. webhook.ts does the HTTPS and AdmissionReview framing.

export const INJECT_LABEL = 'flashguard.dev/inject';
export const PORT_ANNOTATION = 'flashguard.dev/port';
export const SIDECAR_NAME = 'flashguard-sidecar';
export const REDIS_SECRET = 'flashguard-redis';
export const CA_DIR = '/etc/flashguard/redis';
const CA_VOLUME = 'flashguard-redis-ca';
const METRICS_PORT_NAME = 'fg-metrics';
/** Prefix of the app port's new name; `fg-app-` + up to 5 digits stays within 15 characters. */
const APP_PORT_PREFIX = 'fg-app-';

export interface InjectionOptions {
  /** The namespace the pod is created in (the AdmissionRequest's; the pod may not say). */
  namespace: string;
  image: string;
  /** Where the sidecar takes the Service's traffic. */
  port: number;
  /** /healthz, /readyz and /metrics. */
  metricsPort: number;
}

export const defaultPorts = { port: 15080, metricsPort: 15090 } as const;

interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol?: string;
}

type ProbePort = number | string;

interface Action {
  port: ProbePort;
  [field: string]: unknown;
}

/** A probe or lifecycle hook: only the port of its action matters here. */
interface Handler {
  httpGet?: Action;
  tcpSocket?: Action;
  grpc?: Action;
  [field: string]: unknown;
}

interface Container {
  name: string;
  ports?: ContainerPort[];
  livenessProbe?: Handler;
  readinessProbe?: Handler;
  startupProbe?: Handler;
  lifecycle?: { postStart?: Handler; preStop?: Handler };
  [field: string]: unknown;
}

interface OwnerReference {
  kind: string;
  name: string;
  controller?: boolean;
}

export interface PodLike {
  metadata?: {
    name?: string;
    generateName?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec?: {
    containers?: Container[];
    initContainers?: Container[];
    volumes?: { name: string }[];
  };
}

export interface JsonPatchOperation {
  op: 'add' | 'replace';
  path: string;
  value: unknown;
}

export type Injection =
  | { kind: 'skip'; reason: string }
  | { kind: 'inject'; patch: JsonPatchOperation[]; workload: string }
  | { kind: 'reject'; message: string };

/** How the sidecar names its workload in the per-workload sale index (contract C3). */
export function workloadOf(pod: PodLike, namespace: string): string | { error: string } {
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller === true);
  if (owner?.kind === 'StatefulSet') return `${namespace}/StatefulSet/${owner.name}`;
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  if (owner?.kind === 'ReplicaSet' && hash !== undefined && owner.name.endsWith(`-${hash}`)) {
    return `${namespace}/Deployment/${owner.name.slice(0, -(hash.length + 1))}`;
  }
  const what = owner === undefined ? 'no controller' : `${owner.kind} ${owner.name}`;
  return {
    error: `flashguard injects the sidecar only into pods of a Deployment or a StatefulSet (this pod has ${what}); remove the label ${INJECT_LABEL}`,
  };
}

interface TakenPort {
  containerIndex: number;
  portIndex: number;
  port: ContainerPort & { name: string };
}

/** The app port the Service targets by name: the annotation's, or the only named port. */
function portToTakeOver(pod: PodLike, containers: Container[]): TakenPort | { error: string } {
  const named: TakenPort[] = containers.flatMap((c, containerIndex) =>
    (c.ports ?? []).flatMap((port, portIndex) =>
      port.name === undefined || port.name === ''
        ? []
        : [{ containerIndex, portIndex, port: { ...port, name: port.name } }],
    ),
  );
  const wanted = pod.metadata?.annotations?.[PORT_ANNOTATION];
  if (wanted !== undefined) {
    const match = named.find((p) => p.port.name === wanted);
    if (match !== undefined) return match;
    return {
      error: `the annotation ${PORT_ANNOTATION}: "${wanted}" names no container port; name the app container's port "${wanted}" (ports[].name) or fix the annotation`,
    };
  }
  const [only, ...more] = named;
  if (only === undefined) {
    return {
      error: `flashguard takes over the Service's named target port, and this pod names none: give the app container's port a name (ports[].name, e.g. "http"), target it by that name in the Service, or set the annotation ${PORT_ANNOTATION}`,
    };
  }
  if (more.length > 0) {
    const names = named.map((p) => `"${p.port.name}"`).join(', ');
    return {
      error: `the pod names several ports (${names}); set the annotation ${PORT_ANNOTATION} to the one the Service targets`,
    };
  }
  return only;
}

function renamedHandler(
  handler: Handler | undefined,
  from: string,
  to: string,
): Handler | undefined {
  if (handler === undefined) return undefined;
  const rename = <T extends { port: ProbePort }>(action: T | undefined): T | undefined =>
    action?.port === from ? { ...action, port: to } : action;
  return {
    ...handler,
    ...(handler.httpGet && { httpGet: rename(handler.httpGet) }),
    ...(handler.tcpSocket && { tcpSocket: rename(handler.tcpSocket) }),
    ...(handler.grpc && { grpc: rename(handler.grpc) }),
  };
}

/** The app container with its port renamed, and its probes and hooks following the new name. */
function appContainerRenamed(app: Container, taken: TakenPort, newName: string): Container {
  const from = taken.port.name;
  const renamed: Container = {
    ...app,
    ports: (app.ports ?? []).map((p, i) => (i === taken.portIndex ? { ...p, name: newName } : p)),
  };
  for (const probe of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    if (app[probe] !== undefined) renamed[probe] = renamedHandler(app[probe], from, newName);
  }
  if (app.lifecycle !== undefined) {
    renamed.lifecycle = {
      ...app.lifecycle,
      ...(app.lifecycle.postStart && {
        postStart: renamedHandler(app.lifecycle.postStart, from, newName),
      }),
      ...(app.lifecycle.preStop && {
        preStop: renamedHandler(app.lifecycle.preStop, from, newName),
      }),
    };
  }
  return renamed;
}

function sidecarContainer(
  options: InjectionOptions,
  workload: string,
  taken: TakenPort,
): Container {
  const probe = (path: string, failureThreshold: number) => ({
    httpGet: { path, port: options.metricsPort },
    periodSeconds: 1,
    failureThreshold,
  });
  return {
    name: SIDECAR_NAME,
    image: options.image,
    // Native sidecar: started before the app containers, stopped after them.
    restartPolicy: 'Always',
    command: ['node', 'dist/sidecar/main.js'],
    env: [
      { name: 'FLASHGUARD_WORKLOAD', value: workload },
      { name: 'FLASHGUARD_UPSTREAM', value: `http://127.0.0.1:${taken.port.containerPort}` },
      { name: 'FLASHGUARD_LISTEN', value: `0.0.0.0:${options.port}` },
      { name: 'FLASHGUARD_METRICS', value: `0.0.0.0:${options.metricsPort}` },
      {
        name: 'FLASHGUARD_SIDECAR_ID',
        valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
      },
      {
        name: 'FLASHGUARD_REDIS_URL',
        valueFrom: { secretKeyRef: { name: REDIS_SECRET, key: 'url' } },
      },
      { name: 'FLASHGUARD_REDIS_CA_FILE', value: `${CA_DIR}/ca.crt` },
    ],
    ports: [
      {
        name: taken.port.name,
        containerPort: options.port,
        protocol: taken.port.protocol ?? 'TCP',
      },
      { name: METRICS_PORT_NAME, containerPort: options.metricsPort, protocol: 'TCP' },
    ],
    // Up to 60 s to reach Redis and load the sales before the pod gives up on the sidecar.
    startupProbe: probe('/healthz', 60),
    readinessProbe: { ...probe('/readyz', 3), periodSeconds: 2 },
    resources: {
      requests: { cpu: '100m', memory: '64Mi' },
      limits: { memory: '256Mi' },
    },
    // The restricted Pod Security profile; 1000 is the image's unprivileged `node` user.
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [{ name: CA_VOLUME, mountPath: CA_DIR, readOnly: true }],
  };
}

/** What the pod already uses that the injection would collide with. */
function collisions(
  pod: PodLike,
  containers: Container[],
  options: InjectionOptions,
  appPortName: string,
): string[] {
  const ports = [...containers, ...(pod.spec?.initContainers ?? [])].flatMap((c) => c.ports ?? []);
  const found: string[] = [];
  for (const number of [options.port, options.metricsPort]) {
    if (ports.some((p) => p.containerPort === number)) found.push(`port ${number}`);
  }
  for (const name of [METRICS_PORT_NAME, appPortName]) {
    if (ports.some((p) => p.name === name)) found.push(`port name "${name}"`);
  }
  if ((pod.spec?.volumes ?? []).some((v) => v.name === CA_VOLUME)) {
    found.push(`volume "${CA_VOLUME}"`);
  }
  return found;
}

export function injectionPatch(pod: PodLike, options: InjectionOptions): Injection {
  if (pod.metadata?.labels?.[INJECT_LABEL] !== 'true') {
    return { kind: 'skip', reason: `no ${INJECT_LABEL}: "true" label` };
  }
  const containers = pod.spec?.containers ?? [];
  const all = [...containers, ...(pod.spec?.initContainers ?? [])];
  // Re-admission (a dry run, a re-create of a stored pod) must never inject twice.
  if (all.some((c) => c.name === SIDECAR_NAME)) {
    return { kind: 'skip', reason: 'the sidecar is already injected' };
  }
  const workload = workloadOf(pod, options.namespace);
  if (typeof workload !== 'string') return { kind: 'reject', message: workload.error };
  const taken = portToTakeOver(pod, containers);
  if ('error' in taken) return { kind: 'reject', message: taken.error };

  const appPortName = `${APP_PORT_PREFIX}${taken.port.containerPort}`;
  const clashes = collisions(pod, containers, options, appPortName);
  if (clashes.length > 0) {
    return {
      kind: 'reject',
      message: `the pod already uses ${clashes.join(', ')}, which the flashguard sidecar needs; free them or remove the label ${INJECT_LABEL}`,
    };
  }
  const app = containers[taken.containerIndex];
  if (app === undefined) throw new Error('unreachable: the taken port belongs to a container');

  const sidecar = sidecarContainer(options, workload, taken);
  const volume = {
    name: CA_VOLUME,
    // Optional: a Redis without TLS has no ca.crt, and the pod must start all the same.
    secret: {
      secretName: REDIS_SECRET,
      items: [{ key: 'ca.crt', path: 'ca.crt' }],
      optional: true,
    },
  };
  const patch: JsonPatchOperation[] = [
    {
      op: 'replace',
      path: `/spec/containers/${taken.containerIndex}`,
      value: appContainerRenamed(app, taken, appPortName),
    },
    pod.spec?.initContainers === undefined
      ? { op: 'add', path: '/spec/initContainers', value: [sidecar] }
      : { op: 'add', path: '/spec/initContainers/-', value: sidecar },
    pod.spec?.volumes === undefined
      ? { op: 'add', path: '/spec/volumes', value: [volume] }
      : { op: 'add', path: '/spec/volumes/-', value: volume },
  ];
  return { kind: 'inject', patch, workload };
}
