// The command lines of etcd, kube-apiserver and kube-controller-manager, as pure functions of
// the ports and files a control plane was given. Everything listens on 127.0.0.1 only.

export interface EtcdPorts {
  client: number;
  peer: number;
}

export function etcdArgs(dataDir: string, ports: EtcdPorts): string[] {
  const client = `http://127.0.0.1:${ports.client}`;
  const peer = `http://127.0.0.1:${ports.peer}`;
  return [
    '--name=testbed',
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    // Explicit peer URLs: the default :2380 would collide between two control planes.
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=testbed=${peer}`,
    '--initial-cluster-state=new',
    // Test data is disposable; fsync would only make the tests slower.
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

export interface ApiServerFiles {
  caCert: string;
  servingCert: string;
  servingKey: string;
  serviceAccountPublicKey: string;
  serviceAccountPrivateKey: string;
}

export interface ApiServerOptions {
  port: number;
  etcdUrl: string;
  files: ApiServerFiles;
  /** Without a controller-manager nobody creates the `default` ServiceAccount that the
   * ServiceAccount admission plugin requires of every Pod, so it is turned off. */
  serviceAccountAdmission: boolean;
}

export const serviceClusterIpRange = '10.0.0.0/24';

export function apiServerArgs(options: ApiServerOptions): string[] {
  const { files } = options;
  return [
    '--bind-address=127.0.0.1',
    // Without it the apiserver looks for a non-loopback interface to advertise.
    '--advertise-address=127.0.0.1',
    `--secure-port=${options.port}`,
    `--etcd-servers=${options.etcdUrl}`,
    `--tls-cert-file=${files.servingCert}`,
    `--tls-private-key-file=${files.servingKey}`,
    `--client-ca-file=${files.caCert}`,
    // RBAC as in a real cluster: tests ask `kubectl auth can-i --as ...`.
    '--authorization-mode=Node,RBAC',
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${files.serviceAccountPublicKey}`,
    `--service-account-signing-key-file=${files.serviceAccountPrivateKey}`,
    `--service-cluster-ip-range=${serviceClusterIpRange}`,
    '--allow-privileged=true',
    ...(options.serviceAccountAdmission ? [] : ['--disable-admission-plugins=ServiceAccount']),
    // The `kubernetes` Service's endpoints would be 127.0.0.1, which the endpoint API rejects;
    // nothing runs in-cluster here anyway.
    '--endpoint-reconciler-type=none',
    '--profiling=false',
  ];
}

export interface ControllerManagerOptions {
  kubeconfig: string;
  caCert: string;
  caKey: string;
  serviceAccountPrivateKey: string;
}

export function controllerManagerArgs(options: ControllerManagerOptions): string[] {
  return [
    `--kubeconfig=${options.kubeconfig}`,
    // No HTTPS endpoint: the default port 10257 would collide between control planes.
    '--secure-port=0',
    '--controllers=*',
    '--leader-elect=false',
    '--use-service-account-credentials=true',
    `--service-account-private-key-file=${options.serviceAccountPrivateKey}`,
    `--root-ca-file=${options.caCert}`,
    `--cluster-signing-cert-file=${options.caCert}`,
    `--cluster-signing-key-file=${options.caKey}`,
    `--service-cluster-ip-range=${serviceClusterIpRange}`,
  ];
}
