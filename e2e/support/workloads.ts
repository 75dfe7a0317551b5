// Manifests and installs the Kubernetes e2e suites share: the FlashSale CRD, and a one-replica
// Deployment whose Pods (Pending: the test bed has no nodes) carry the labels and port asked for.
import { join } from 'node:path';
import type { ControlPlane } from '../controlplane/controlplane.ts';

const root = join(import.meta.dirname, '..', '..');

/** Applies a CRD file or folder and waits until the apiserver serves `crdName`. */
export async function installCrd(cp: ControlPlane, path: string, crdName: string): Promise<void> {
  await cp.kubectl(['apply', '-f', path]);
  await cp.kubectl(['wait', '--for=condition=Established', `crd/${crdName}`, '--timeout=30s']);
}

export const installFlashSaleCrd = (cp: ControlPlane) =>
  installCrd(cp, join(root, 'crds'), 'flashsales.flashguard.dev');

export interface DeploymentOptions {
  namespace: string;
  /** Pod template labels besides `app: <name>`. */
  labels?: Record<string, string>;
  /** The app container's port, with a readiness probe on it (by name when it has one). */
  port?: { name?: string; containerPort: number };
}

export function deployment(name: string, options: DeploymentOptions) {
  const { port } = options;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: options.namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, ...options.labels } },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'registry.invalid/shop:1',
              ...(port && {
                ports: [port],
                readinessProbe: {
                  httpGet: { path: '/stats', port: port.name ?? port.containerPort },
                },
              }),
            },
          ],
        },
      },
    },
  };
}
