// Where the test bed's Kubernetes binaries live, and building them when they are missing.
// e2e/k8s/build.sh owns the build and the cache layout; this file only mirrors the layout.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const k8sDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'k8s');
const buildScript = join(k8sDir, 'build.sh');

export interface Binaries {
  readonly dir: string;
  readonly kubernetesVersion: string;
  readonly helmVersion: string;
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly kubectl: string;
  readonly helm: string;
}

function pinnedVersions(): { kubernetes: string; helm: string } {
  const text = readFileSync(join(k8sDir, 'versions.env'), 'utf8');
  const read = (key: string): string => {
    const match = new RegExp(`^${key}=(\\S+)$`, 'm').exec(text);
    if (match?.[1] === undefined) throw new Error(`e2e/k8s/versions.env has no ${key}`);
    return match[1];
  };
  return { kubernetes: read('K8S_VERSION'), helm: read('HELM_VERSION') };
}

export function binaries(): Binaries {
  const versions = pinnedVersions();
  const cache = process.env.FLASHGUARD_CACHE ?? join(homedir(), '.cache', 'flashguard');
  const dir = join(cache, `k8s-${versions.kubernetes}`, 'bin');
  return {
    dir,
    kubernetesVersion: versions.kubernetes,
    helmVersion: versions.helm,
    etcd: join(dir, 'etcd'),
    kubeApiserver: join(dir, 'kube-apiserver'),
    kubeControllerManager: join(dir, 'kube-controller-manager'),
    kubectl: join(dir, 'kubectl'),
    helm: join(dir, 'helm'),
  };
}

/** True when build.sh's stamp matches the current pins (the same test build.sh makes). */
function isBuilt(found: Binaries): boolean {
  const stamp = join(dirname(found.dir), '.complete');
  if (!existsSync(stamp)) return false;
  const goSum = createHash('sha256')
    .update(readFileSync(join(k8sDir, 'go.sum')))
    .digest('hex');
  const want = `k8s=${found.kubernetesVersion} helm=${found.helmVersion} gosum=${goSum.slice(0, 16)}`;
  const paths = [found.etcd, found.kubeApiserver, found.kubeControllerManager, found.kubectl];
  return readFileSync(stamp, 'utf8').trim() === want && [...paths, found.helm].every(existsSync);
}

/** Returns the binaries, building them first (with e2e/k8s/build.sh) when they are missing. */
export function ensureBinaries(): Binaries {
  const found = binaries();
  if (isBuilt(found)) return found;
  console.error(
    `Kubernetes ${found.kubernetesVersion} binaries are not in ${found.dir}; building them ` +
      '(a fresh machine needs several minutes; `npm run cluster:build` does this up front)',
  );
  const result = spawnSync('bash', [buildScript], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) {
    throw new Error(`${buildScript} failed (exit ${String(result.status ?? result.signal)})`);
  }
  return found;
}
