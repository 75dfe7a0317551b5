// A real Kubernetes control plane on loopback, the way controller-runtime's envtest makes one:
// etcd, kube-apiserver and (when asked) kube-controller-manager from e2e/k8s's build, with a
// throwaway PKI, all in one temporary directory that is removed when the control plane stops
// or the test process ends, however it ends.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePrerequisites, prerequisites } from '../support/prereqs.ts';
import {
  freePort,
  removeOnExit,
  startProcess,
  waitFor,
  type ManagedProcess,
} from '../support/process.ts';
import { ensureBinaries, type Binaries } from './binaries.ts';
import {
  createCertificateAuthority,
  createServiceAccountKeys,
  issueCertificate,
  type Certificate,
  type CertificateAuthority,
} from './certs.ts';
import { runCommand, type CommandResult, type RunOptions } from './commands.ts';
import { apiServerArgs, controllerManagerArgs, etcdArgs } from './components.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import { httpsGet, type ClientTls } from './probe.ts';

export interface ControlPlaneOptions {
  /** Also run kube-controller-manager (Deployments make ReplicaSets and Pods, GC works). */
  controllerManager?: boolean;
  /** Progress events, e.g. for a structured log; silent by default. */
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Keep the temporary directory (logs, etcd data) after stop, for debugging. Also set by
   * FLASHGUARD_KEEP_TESTBED=1. */
  keepDir?: boolean;
}

export interface ControlPlane {
  /** The temporary directory holding certificates, kubeconfigs, etcd data and logs/. */
  readonly dir: string;
  /** The admin kubeconfig (client certificate in group system:masters). */
  readonly kubeconfig: string;
  /** https://127.0.0.1:<port> */
  readonly server: string;
  readonly ca: CertificateAuthority;
  readonly binaries: Binaries;
  /** KUBECONFIG, PATH with kubectl and helm first, and helm/kubectl caches inside `dir`. */
  readonly env: NodeJS.ProcessEnv;
  /** Running components by name, e.g. to check that none is left after stop. */
  processes(): { name: string; pid: number }[];
  kubectl(args: readonly string[], options?: RunOptions): Promise<CommandResult>;
  helm(args: readonly string[], options?: RunOptions): Promise<CommandResult>;
  /** A serving certificate signed by the cluster CA, e.g. for a webhook on loopback. */
  issueServingCertificate(name: string, hosts: readonly string[]): Promise<Certificate>;
  /** Stops kube-apiserver alone (etcd keeps the data). */
  stopApiServer(): Promise<void>;
  /** Starts kube-apiserver again on the same port and waits for /readyz. */
  startApiServer(): Promise<void>;
  restartApiServer(): Promise<void>;
  stop(): Promise<void>;
}

const apiServerReadyTimeoutMs = 60_000;

/** Three distinct free ports: etcd's client and peer ports and the apiserver's. */
async function distinctFreePorts(): Promise<[number, number, number]> {
  const ports = new Set<number>();
  while (ports.size < 3) ports.add(await freePort());
  return [...ports] as [number, number, number];
}

function tail(path: string, lines = 20): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const started = Date.now();
  const log = options.log ?? (() => undefined);
  const keep = options.keepDir === true || process.env.FLASHGUARD_KEEP_TESTBED === '1';
  ensurePrerequisites([prerequisites.openssl]);
  const bin = ensureBinaries();

  const dir = mkdtempSync(join(tmpdir(), 'flashguard-k8s-'));
  const logs = join(dir, 'logs');
  const pki = join(dir, 'pki');
  mkdirSync(logs);
  mkdirSync(pki);
  const running = new Map<string, ManagedProcess>();
  // process.ts kills the components on any exit, a SIGKILL included; this is for their folder.
  const forgetDir = keep ? () => undefined : removeOnExit(dir);
  const launch = (name: string, command: string, args: readonly string[]): ManagedProcess => {
    const proc = startProcess({ name, command, args, logFile: join(logs, `${name}.log`) });
    running.set(name, proc);
    void proc.exited.then(() => {
      if (running.get(name) === proc) running.delete(name);
    });
    return proc;
  };
  const halt = async (name: string, graceMs: number): Promise<void> => {
    const proc = running.get(name);
    if (proc === undefined) return;
    await proc.stop('SIGTERM', graceMs);
    running.delete(name);
  };

  const stopAll = async (): Promise<void> => {
    await halt('kube-controller-manager', 5_000);
    await halt('kube-apiserver', 10_000);
    await halt('etcd', 5_000);
    forgetDir();
    if (!keep) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
  };

  try {
    const [etcdClient, etcdPeer, apiPort] = await distinctFreePorts();
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = launch(
      'etcd',
      bin.etcd,
      etcdArgs(join(dir, 'etcd'), { client: etcdClient, peer: etcdPeer }),
    );

    // The PKI is made while etcd starts.
    const ca = await createCertificateAuthority(pki, 'flashguard-testbed-ca');
    const [serving, admin, kcm, sa] = await Promise.all([
      issueCertificate(ca, pki, {
        name: 'apiserver',
        commonName: 'kube-apiserver',
        hosts: ['127.0.0.1', 'localhost', '10.0.0.1', 'kubernetes', 'kubernetes.default.svc'],
        usage: 'server',
      }),
      issueCertificate(ca, pki, {
        name: 'admin',
        commonName: 'flashguard-admin',
        organizations: ['system:masters'],
        usage: 'client',
      }),
      issueCertificate(ca, pki, {
        name: 'kube-controller-manager',
        commonName: 'system:kube-controller-manager',
        usage: 'client',
      }),
      createServiceAccountKeys(pki),
    ]);
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, 'kubeconfig');
    await writeKubeconfig(kubeconfig, {
      server,
      caPath: ca.certPath,
      certPath: admin.certPath,
      keyPath: admin.keyPath,
      user: 'flashguard-admin',
    });
    const tls: ClientTls = {
      ca: ca.pem,
      cert: await readFile(admin.certPath, 'utf8'),
      key: await readFile(admin.keyPath, 'utf8'),
    };

    await waitFor(
      'etcd /health',
      async () => {
        if (etcd.child.exitCode !== null) {
          throw new Error(
            `etcd exited ${String(etcd.child.exitCode)}:\n${tail(join(logs, 'etcd.log'))}`,
          );
        }
        const res = await fetch(`${etcdUrl}/health`);
        return res.ok ? true : undefined;
      },
      { timeoutMs: 20_000 },
    );
    log('etcd ready', { url: etcdUrl, ms: Date.now() - started });

    const apiArgs = apiServerArgs({
      port: apiPort,
      etcdUrl,
      serviceAccountAdmission: options.controllerManager === true,
      files: {
        caCert: ca.certPath,
        servingCert: serving.certPath,
        servingKey: serving.keyPath,
        serviceAccountPublicKey: sa.publicKeyPath,
        serviceAccountPrivateKey: sa.privateKeyPath,
      },
    });
    const startApiServer = async (): Promise<void> => {
      const apiStarted = Date.now();
      const apiserver = launch('kube-apiserver', bin.kubeApiserver, apiArgs);
      let lastStatus = '';
      await waitFor(
        `kube-apiserver ${server}/readyz`,
        async () => {
          if (apiserver.child.exitCode !== null) {
            const why = tail(join(logs, 'kube-apiserver.log'));
            throw new Error(`kube-apiserver exited ${String(apiserver.child.exitCode)}:\n${why}`);
          }
          const res = await httpsGet(`${server}/readyz`, tls);
          lastStatus = `${res.status} ${res.body.slice(0, 500)}`;
          return res.status === 200 ? true : undefined;
        },
        { timeoutMs: apiServerReadyTimeoutMs, intervalMs: 100 },
      ).catch((error: unknown) => {
        throw new Error(`${String(error)}\nlast /readyz: ${lastStatus}`, { cause: error });
      });
      log('kube-apiserver ready', { server, ms: Date.now() - apiStarted });
    };
    await startApiServer();

    if (options.controllerManager === true) {
      const kcmKubeconfig = join(dir, 'kube-controller-manager.kubeconfig');
      await writeKubeconfig(kcmKubeconfig, {
        server,
        caPath: ca.certPath,
        certPath: kcm.certPath,
        keyPath: kcm.keyPath,
        user: 'system:kube-controller-manager',
      });
      const controllerManager = launch(
        'kube-controller-manager',
        bin.kubeControllerManager,
        controllerManagerArgs({
          kubeconfig: kcmKubeconfig,
          caCert: ca.certPath,
          caKey: ca.keyPath,
          serviceAccountPrivateKey: sa.privateKeyPath,
        }),
      );
      // The serviceaccount controller making `default` proves the controllers run, and Pods
      // need that ServiceAccount before they can be admitted.
      await waitFor(
        'kube-controller-manager to create ServiceAccount default/default',
        async () => {
          if (controllerManager.child.exitCode !== null) {
            const why = tail(join(logs, 'kube-controller-manager.log'));
            throw new Error(`kube-controller-manager exited:\n${why}`);
          }
          const res = await httpsGet(
            `${server}/api/v1/namespaces/default/serviceaccounts/default`,
            tls,
          );
          return res.status === 200 ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 200 },
      );
      log('kube-controller-manager ready', { ms: Date.now() - started });
    }

    const env: NodeJS.ProcessEnv = {
      ...process.env,
      KUBECONFIG: kubeconfig,
      PATH: `${bin.dir}:${process.env.PATH ?? ''}`,
      KUBECACHEDIR: join(dir, 'kube-cache'),
      HELM_CACHE_HOME: join(dir, 'helm', 'cache'),
      HELM_CONFIG_HOME: join(dir, 'helm', 'config'),
      HELM_DATA_HOME: join(dir, 'helm', 'data'),
    };
    log('control plane ready', { server, kubeconfig, ms: Date.now() - started });

    return {
      dir,
      kubeconfig,
      server,
      ca,
      binaries: bin,
      env,
      processes: () => [...running.entries()].map(([name, proc]) => ({ name, pid: proc.pid })),
      kubectl: (args, runOptions) => runCommand(bin.kubectl, args, env, runOptions),
      helm: (args, runOptions) => runCommand(bin.helm, args, env, runOptions),
      issueServingCertificate: (name, hosts) =>
        issueCertificate(ca, pki, { name, commonName: name, hosts, usage: 'server' }),
      stopApiServer: () => halt('kube-apiserver', 10_000),
      startApiServer,
      async restartApiServer() {
        await halt('kube-apiserver', 10_000);
        await startApiServer();
      },
      stop: stopAll,
    };
  } catch (error) {
    const logsNote = keep ? ` (logs kept in ${logs})` : '';
    await stopAll();
    throw new Error(`control plane did not start${logsNote}: ${String(error)}`, { cause: error });
  }
}
