// The webhook's flags and its wiring into the operator process, so main.ts only spreads the
// flags, calls setupWebhook and tells it about leadership and shutdown.
import type { KubeConfig } from '@kubernetes/client-node';
import { Counter, type Registry } from 'prom-client';
import { defaultPorts } from './inject.ts';
import { CertificateFiles, ManagedCertificates, type CertificateSource } from './webhook-certs.ts';
import { admissionDecisions, WebhookServer } from './webhook.ts';

export const webhookFlags = {
  'webhook-listen': { type: 'string' },
  'webhook-config': { type: 'string' },
  'webhook-secret': { type: 'string' },
  'webhook-hosts': { type: 'string' },
  'webhook-cert-dir': { type: 'string' },
  'sidecar-image': { type: 'string' },
} as const;

export const webhookUsage = `  [--webhook-listen HOST:PORT] [--webhook-config NAME] [--webhook-secret NAME]
  [--webhook-hosts a,b] [--webhook-cert-dir DIR] [--sidecar-image IMAGE]
webhook environment: FLASHGUARD_WEBHOOK_LISTEN, FLASHGUARD_WEBHOOK_CONFIG,
  FLASHGUARD_WEBHOOK_SECRET, FLASHGUARD_WEBHOOK_HOSTS, FLASHGUARD_WEBHOOK_CERT_DIR,
  FLASHGUARD_SIDECAR_IMAGE`;

type Values = Partial<Record<keyof typeof webhookFlags, string>>;

export interface WebhookSettings {
  host: string;
  port: number;
  image: string;
  certs:
    | { kind: 'files'; dir: string }
    | { kind: 'managed'; secret: string; config: string | undefined; hosts: string[] };
}

/** Flags over environment; undefined when no webhook is asked for. Pure. */
export function webhookSettings(
  values: Values,
  env: NodeJS.ProcessEnv,
): WebhookSettings | undefined | { error: string } {
  const listen = values['webhook-listen'] ?? env.FLASHGUARD_WEBHOOK_LISTEN;
  if (listen === undefined || listen === '') return undefined;
  const match = /^(.+):(\d{1,5})$/.exec(listen);
  if (match === null) return { error: '--webhook-listen must be HOST:PORT' };
  const image = values['sidecar-image'] ?? env.FLASHGUARD_SIDECAR_IMAGE;
  if (image === undefined || image === '') {
    return { error: '--sidecar-image is required with --webhook-listen (the image injected)' };
  }
  const dir = values['webhook-cert-dir'] ?? env.FLASHGUARD_WEBHOOK_CERT_DIR;
  const hosts = (values['webhook-hosts'] ?? env.FLASHGUARD_WEBHOOK_HOSTS ?? '')
    .split(',')
    .map((h) => h.trim())
    .filter((h) => h !== '');
  if (dir === undefined && hosts.length === 0) {
    return {
      error:
        '--webhook-hosts is required for a self-managed certificate (or give --webhook-cert-dir)',
    };
  }
  return {
    host: (match[1] ?? '').replace(/^\[(.*)\]$/, '$1'),
    port: Number(match[2]),
    image,
    certs:
      dir === undefined
        ? {
            kind: 'managed',
            secret:
              values['webhook-secret'] ?? env.FLASHGUARD_WEBHOOK_SECRET ?? 'flashguard-webhook-tls',
            config: values['webhook-config'] ?? env.FLASHGUARD_WEBHOOK_CONFIG,
            hosts,
          }
        : { kind: 'files', dir },
  };
}

export interface RunningWebhook {
  /** This replica became the leader: make or rotate the certificate now. */
  leading(): void;
  ready(): boolean;
  stop(): Promise<void>;
}

export function startWebhook(
  settings: WebhookSettings,
  deps: {
    kubeconfig: KubeConfig;
    namespace: string;
    isLeader: () => boolean;
    log: (msg: string, fields?: Record<string, unknown>, level?: string) => void;
    registry: Registry;
  },
): RunningWebhook {
  const admissions = new Counter({
    name: 'flashguard_operator_admissions_total',
    help: 'Pod admission reviews answered by the injection webhook, by decision.',
    labelNames: ['decision'] as const,
    registers: [deps.registry],
  });
  for (const decision of admissionDecisions) admissions.labels(decision).inc(0);
  const server = new WebhookServer({
    host: settings.host,
    port: settings.port,
    injection: { image: settings.image, ...defaultPorts },
    log: deps.log,
    onDecision: (decision) => {
      admissions.labels(decision).inc();
    },
  });
  const serve = (tls: { cert: string; key: string }) => server.serve(tls);
  const source: CertificateSource =
    settings.certs.kind === 'files'
      ? new CertificateFiles(settings.certs.dir, serve, deps.log)
      : new ManagedCertificates({
          kubeconfig: deps.kubeconfig,
          namespace: deps.namespace,
          secretName: settings.certs.secret,
          configName: settings.certs.config,
          hosts: settings.certs.hosts,
          isLeader: deps.isLeader,
          serve,
          log: deps.log,
        });
  source.start();
  return {
    leading: () => void source.refresh(),
    ready: () => server.listening,
    async stop() {
      source.stop();
      await server.close();
    },
  };
}
