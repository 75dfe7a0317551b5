// helm, built at the pinned release, installs and uninstalls a chart against the control plane,
// and its kubeVersion check sees the apiserver's true version.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type ControlPlane } from './controlplane.ts';

const chart = (name: string): string =>
  fileURLToPath(new URL(`testdata/charts/${name}`, import.meta.url));

void describe('helm', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startControlPlane();
  });
  after(() => cp.stop());

  void it('installs a chart whose objects then exist', async () => {
    await cp.helm(['install', 'demo', chart('testbed'), '-n', 'shop', '--create-namespace']);
    const { stdout } = await cp.kubectl([
      'get',
      'configmap',
      'demo-config',
      '-n',
      'shop',
      '-o',
      'jsonpath={.data.greeting}',
    ]);
    assert.equal(stdout, 'hello from helm');
    const service = await cp.kubectl(['get', 'service', 'demo-svc', '-n', 'shop', '-o', 'json']);
    const spec = (JSON.parse(service.stdout) as { spec: { clusterIP: string } }).spec;
    assert.match(spec.clusterIP, /^10\.0\.0\.\d+$/);
    const status = await cp.helm(['status', 'demo', '-n', 'shop', '-o', 'json']);
    assert.equal(
      (JSON.parse(status.stdout) as { info: { status: string } }).info.status,
      'deployed',
    );
  });

  void it('uninstalls it, removing its objects', async () => {
    await cp.helm(['uninstall', 'demo', '-n', 'shop']);
    for (const object of ['configmap/demo-config', 'service/demo-svc']) {
      const result = await cp.kubectl(['get', object, '-n', 'shop'], { check: false });
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /NotFound/);
    }
  });

  void it("refuses a chart whose kubeVersion excludes the apiserver's version", async () => {
    const result = await cp.helm(['install', 'old', chart('too-old'), '-n', 'shop'], {
      check: false,
    });
    assert.notEqual(result.code, 0);
    assert.match(
      result.stderr,
      new RegExp(
        `chart requires kubeVersion: <1\\.20\\.0-0 which is incompatible with Kubernetes ${cp.binaries.kubernetesVersion.replaceAll('.', '\\.')}`,
      ),
    );
  });
});
