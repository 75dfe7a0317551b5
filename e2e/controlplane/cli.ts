// `npm run cluster`: a control plane for a developer's terminal. Prints the `export KUBECONFIG=`
// line on stdout, structured progress on stderr, and runs until Ctrl-C or SIGTERM.
//   npm run cluster                          # etcd, kube-apiserver, kube-controller-manager
//   npm run cluster -- --no-controller-manager
import { parseArgs } from 'node:util';
import { startControlPlane } from './controlplane.ts';

function event(msg: string, fields: Record<string, unknown> = {}): void {
  console.error(JSON.stringify({ time: new Date().toISOString(), msg, ...fields }));
}

const { values } = parseArgs({
  options: { 'no-controller-manager': { type: 'boolean', default: false } },
});

// Registered before anything starts, so they run before process.ts's hooks: ours exits, and the
// exit hooks (controlplane.ts, process.ts) kill every process group and remove the directory.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    event('stopping', { signal });
    process.exit(0); // a stop on request is a success
  });
}

const controlPlane = await startControlPlane({
  controllerManager: !values['no-controller-manager'],
  log: event,
});
event('running', { processes: controlPlane.processes(), dir: controlPlane.dir });
console.log(`export KUBECONFIG=${controlPlane.kubeconfig}`);
console.log(
  `export PATH=${controlPlane.binaries.dir}:$PATH  # kubectl and helm of the same release`,
);

process.once('exit', (code) => {
  event('stopped', { code });
});
// Keep running until a signal arrives.
setInterval(() => undefined, 1 << 30);
