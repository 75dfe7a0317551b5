// Kubeconfig files for the admin user and the controller-manager. JSON is valid YAML, so no
// YAML writer is needed.
import { writeFile } from 'node:fs/promises';

export interface KubeconfigOptions {
  server: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  user: string;
}

export async function writeKubeconfig(path: string, options: KubeconfigOptions): Promise<void> {
  const context = 'flashguard-testbed';
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: context,
        cluster: { server: options.server, 'certificate-authority': options.caPath },
      },
    ],
    users: [
      {
        name: options.user,
        user: { 'client-certificate': options.certPath, 'client-key': options.keyPath },
      },
    ],
    contexts: [{ name: context, context: { cluster: context, user: options.user } }],
    'current-context': context,
  };
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
}
