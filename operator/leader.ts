// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the holder renews the
// Lease every retry period; another replica takes it once it has seen no renewal for a whole
// lease duration on its own clock (never comparing clocks across machines); every write carries
// the resourceVersion read, so two replicas cannot both win. A leader that cannot renew within
// the renew deadline stops leading; on shutdown it releases the Lease so a peer takes over at once.
import {
  CoordinationV1Api,
  V1Lease,
  V1LeaseSpec,
  V1MicroTime,
  V1ObjectMeta,
  type KubeConfig,
} from '@kubernetes/client-node';
import { statusCode } from './kube.ts';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LeaderOptions {
  kubeconfig: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

interface LeaseSpec {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: Date | undefined;
  renewTime: Date;
  leaseTransitions: number;
}

function leaseBody(metadata: V1ObjectMeta | undefined, spec: LeaseSpec): V1Lease {
  const body = new V1Lease();
  body.metadata = metadata;
  body.spec = Object.assign(new V1LeaseSpec(), spec);
  return body;
}

export class LeaderElector {
  readonly #o: Required<LeaderOptions>;
  readonly #api: CoordinationV1Api;
  readonly #stop = new AbortController();
  #loop: Promise<void> | undefined;
  #leading = false;
  /** The holder and renew time last seen, and when (our clock) we saw them change. */
  #observed: { holder: string; renewTime: number; at: number } | undefined;

  constructor(options: LeaderOptions) {
    this.#o = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...options,
    };
    this.#api = options.kubeconfig.makeApiClient(CoordinationV1Api);
  }

  get leading(): boolean {
    return this.#leading;
  }

  start(): void {
    this.#loop = this.#run();
  }

  /** Stops campaigning and, when leading, releases the Lease. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#read();
      if (lease?.spec?.holderIdentity === this.#o.identity) {
        await this.#write(
          leaseBody(lease.metadata, {
            ...this.#ourSpec(lease),
            holderIdentity: '',
            leaseDurationSeconds: 1,
          }),
        );
      }
      this.#o.log('released the lease', { lease: this.#o.name });
    } catch (error) {
      this.#o.log('could not release the lease', { error: String(error) });
    }
  }

  async #run(): Promise<void> {
    let lastRenew = Date.now();
    while (!this.#stop.signal.aborted) {
      let held = false;
      try {
        held = await this.#tryAcquireOrRenew();
      } catch (error) {
        this.#o.log('lease update failed', { error: String(error) });
      }
      const now = Date.now();
      if (held) {
        lastRenew = now;
        if (!this.#leading) {
          this.#leading = true;
          this.#o.log('became the leader', { identity: this.#o.identity });
          this.#o.onStartedLeading();
        }
      } else if (this.#leading && now - lastRenew > this.#o.renewDeadlineMs) {
        this.#leading = false;
        this.#o.log('lost the lease', { identity: this.#o.identity });
        this.#o.onStoppedLeading();
      }
      await sleep(this.#o.retryPeriodMs, undefined, { signal: this.#stop.signal }).catch(
        () => undefined,
      );
    }
  }

  async #read(): Promise<V1Lease | undefined> {
    try {
      return await this.#api.readNamespacedLease({
        name: this.#o.name,
        namespace: this.#o.namespace,
      });
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw error;
    }
  }

  #write(lease: V1Lease): Promise<V1Lease> {
    return this.#api.replaceNamespacedLease({
      name: this.#o.name,
      namespace: this.#o.namespace,
      body: lease,
    });
  }

  #ourSpec(previous: V1Lease | undefined): LeaseSpec {
    const now = new V1MicroTime();
    const ours = previous?.spec?.holderIdentity === this.#o.identity;
    return {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      acquireTime: ours ? previous.spec?.acquireTime : now,
      renewTime: now,
      leaseTransitions: (previous?.spec?.leaseTransitions ?? 0) + (ours ? 0 : 1),
    };
  }

  /** True when we hold the Lease after this round. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const lease = await this.#read();
    if (lease === undefined) {
      await this.#api.createNamespacedLease({
        namespace: this.#o.namespace,
        body: leaseBody(
          Object.assign(new V1ObjectMeta(), { name: this.#o.name, namespace: this.#o.namespace }),
          this.#ourSpec(undefined),
        ),
      });
      return true;
    }
    const holder = lease.spec?.holderIdentity ?? '';
    // client-node hands MicroTime fields back as the wire's strings, typed as Dates.
    const renewTime = new Date(lease.spec?.renewTime ?? 0).getTime();
    const now = Date.now();
    if (this.#observed?.holder !== holder || this.#observed.renewTime !== renewTime) {
      this.#observed = { holder, renewTime, at: now };
    }
    const durationMs = (lease.spec?.leaseDurationSeconds ?? 0) * 1000;
    const expired = holder === '' || now - this.#observed.at > durationMs;
    if (holder !== this.#o.identity && !expired) return false;
    try {
      await this.#write(leaseBody(lease.metadata, this.#ourSpec(lease)));
      return true;
    } catch (error) {
      // 409: someone else wrote it first; they won this round.
      if (statusCode(error) === 409) return false;
      throw error;
    }
  }
}
