// Where the webhook's certificate comes from, the I/O half of certs.ts. Self-managed: every
// replica serves what the TLS Secret holds; the leader alone makes or rotates it and keeps the
// MutatingWebhookConfiguration's caBundle equal to the Secret's CA bundle. From files
// (--webhook-cert-dir, e.g. cert-manager's): re-read on a timer, nothing patched.
import {
  AdmissionregistrationV1Api,
  CoreV1Api,
  V1ObjectMeta,
  V1Secret,
  type KubeConfig,
} from '@kubernetes/client-node';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certificatePlan, nextTls, type WebhookTls } from './certs.ts';
import { statusCode } from './kube.ts';
import type { TlsMaterial } from './webhook.ts';

type Log = (msg: string, fields?: Record<string, unknown>, level?: string) => void;

/** How often a replica looks for a new certificate once it serves one. */
const CHECK_INTERVAL_MS = 60_000;
/** How often a replica without a certificate yet looks for one. */
const WAIT_INTERVAL_MS = 1_000;

export interface CertificateSource {
  /** Looks now (e.g. on becoming leader), then keeps looking on a timer until stop. */
  start(): void;
  refresh(): Promise<void>;
  stop(): void;
}

abstract class PollingSource implements CertificateSource {
  readonly #serve: (tls: TlsMaterial) => Promise<void>;
  protected readonly log: Log;
  #timer: NodeJS.Timeout | undefined;
  #serving = false;
  #stopped = false;
  #running: Promise<void> = Promise.resolve();

  constructor(serve: (tls: TlsMaterial) => Promise<void>, log: Log) {
    this.#serve = serve;
    this.log = log;
  }

  protected abstract current(): Promise<TlsMaterial | undefined>;

  start(): void {
    this.#stopped = false;
    void this.refresh();
  }

  /** One look at a time: a refresh asked while one runs waits for it, then looks again. */
  refresh(): Promise<void> {
    this.#running = this.#running.then(() => this.#look());
    return this.#running;
  }

  async #look(): Promise<void> {
    clearTimeout(this.#timer);
    if (this.#stopped) return;
    try {
      const tls = await this.current();
      if (tls !== undefined) {
        await this.#serve(tls);
        this.#serving = true;
      }
    } catch (error) {
      this.log('webhook certificate check failed', { error: String(error) }, 'warn');
    }
    // Read through a method: stop() may have run during the awaits above.
    if (this.#isStopped()) return;
    this.#timer = setTimeout(
      () => void this.refresh(),
      this.#serving ? CHECK_INTERVAL_MS : WAIT_INTERVAL_MS,
    );
  }

  #isStopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }
}

export class CertificateFiles extends PollingSource {
  readonly #dir: string;

  constructor(dir: string, serve: (tls: TlsMaterial) => Promise<void>, log: Log) {
    super(serve, log);
    this.#dir = dir;
  }

  protected async current(): Promise<TlsMaterial> {
    const [cert, key] = await Promise.all([
      readFile(join(this.#dir, 'tls.crt'), 'utf8'),
      readFile(join(this.#dir, 'tls.key'), 'utf8'),
    ]);
    return { cert, key };
  }
}

export interface ManagedCertificatesOptions {
  kubeconfig: KubeConfig;
  namespace: string;
  secretName: string;
  /** The MutatingWebhookConfiguration whose caBundle to keep; none: patch nothing. */
  configName: string | undefined;
  hosts: readonly string[];
  isLeader: () => boolean;
  serve: (tls: TlsMaterial) => Promise<void>;
  log: Log;
}

const tlsKeys = ['ca.crt', 'ca.key', 'tls.crt', 'tls.key'] as const;

function decoded(secret: V1Secret | undefined): Partial<WebhookTls> | undefined {
  if (secret?.data === undefined) return undefined;
  const data = secret.data;
  return Object.fromEntries(
    tlsKeys.flatMap((k) =>
      data[k] === undefined ? [] : [[k, Buffer.from(data[k], 'base64').toString()]],
    ),
  );
}

export class ManagedCertificates extends PollingSource {
  readonly #o: ManagedCertificatesOptions;
  readonly #core: CoreV1Api;
  readonly #admission: AdmissionregistrationV1Api;

  constructor(options: ManagedCertificatesOptions) {
    super(options.serve, options.log);
    this.#o = options;
    this.#core = options.kubeconfig.makeApiClient(CoreV1Api);
    this.#admission = options.kubeconfig.makeApiClient(AdmissionregistrationV1Api);
  }

  async #readSecret(): Promise<V1Secret | undefined> {
    try {
      return await this.#core.readNamespacedSecret({
        name: this.#o.secretName,
        namespace: this.#o.namespace,
      });
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  protected async current(): Promise<TlsMaterial | undefined> {
    const secret = await this.#readSecret();
    let tls = decoded(secret);
    if (this.#o.isLeader()) {
      const now = Date.now();
      const plan = certificatePlan(tls, this.#o.hosts, now);
      if (plan.kind !== 'keep') {
        const next = await nextTls(tls, plan, this.#o.hosts, now);
        await this.#writeSecret(secret, next);
        this.log('webhook certificate issued', { reason: plan.reason, kind: plan.kind });
        tls = next;
      }
      if (tls?.['ca.crt'] !== undefined) await this.#ensureCaBundle(tls['ca.crt']);
    }
    const cert = tls?.['tls.crt'];
    const key = tls?.['tls.key'];
    return cert === undefined || key === undefined ? undefined : { cert, key };
  }

  async #writeSecret(existing: V1Secret | undefined, tls: WebhookTls): Promise<void> {
    const body = Object.assign(new V1Secret(), {
      metadata: Object.assign(new V1ObjectMeta(), {
        name: this.#o.secretName,
        namespace: this.#o.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'flashguard-operator' },
        // A concurrent writer makes this a 409: the next look re-reads and decides again.
        resourceVersion: existing?.metadata?.resourceVersion,
      }),
      type: 'kubernetes.io/tls',
      data: Object.fromEntries(tlsKeys.map((k) => [k, Buffer.from(tls[k]).toString('base64')])),
    });
    if (existing === undefined) {
      await this.#core.createNamespacedSecret({ namespace: this.#o.namespace, body });
    } else {
      await this.#core.replaceNamespacedSecret({
        name: this.#o.secretName,
        namespace: this.#o.namespace,
        body,
      });
    }
  }

  async #ensureCaBundle(bundle: string): Promise<void> {
    const name = this.#o.configName;
    if (name === undefined) return;
    const caBundle = Buffer.from(bundle).toString('base64');
    const config = await this.#admission.readMutatingWebhookConfiguration({ name });
    const webhooks = config.webhooks ?? [];
    if (webhooks.every((w) => w.clientConfig.caBundle === caBundle)) return;
    for (const webhook of webhooks) webhook.clientConfig.caBundle = caBundle;
    await this.#admission.replaceMutatingWebhookConfiguration({ name, body: config });
    this.log('webhook caBundle updated', { config: name, webhooks: webhooks.length });
  }
}
