// The control plane is a real one: truthful versions, RBAC, CRD schema and CEL validation by the
// apiserver itself, and data that survives an apiserver restart.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type ControlPlane } from './controlplane.ts';

const crd = readFileSync(new URL('testdata/widgets-crd.yaml', import.meta.url), 'utf8');

function widget(name: string, spec: Record<string, unknown>): string {
  return JSON.stringify({
    apiVersion: 'testbed.flashguard.dev/v1',
    kind: 'Widget',
    metadata: { name, namespace: 'default' },
    spec,
  });
}

void describe('kube-apiserver', () => {
  let cp: ControlPlane;
  before(async () => {
    cp = await startControlPlane();
    await cp.kubectl(['apply', '-f', '-'], { input: crd });
    await cp.kubectl([
      'wait',
      '--for=condition=Established',
      'crd/widgets.testbed.flashguard.dev',
      '--timeout=30s',
    ]);
  });
  after(() => cp.stop());

  void it('reports the pinned release in /version and kubectl version', async () => {
    const { stdout } = await cp.kubectl(['version', '-o', 'json']);
    const version = JSON.parse(stdout) as {
      clientVersion: { gitVersion: string; major: string; minor: string };
      serverVersion: { gitVersion: string; major: string; minor: string };
    };
    const pinned = cp.binaries.kubernetesVersion;
    const [major, minor] = pinned.slice(1).split('.');
    assert.equal(version.serverVersion.gitVersion, pinned);
    assert.equal(version.clientVersion.gitVersion, pinned);
    assert.deepEqual([version.serverVersion.major, version.serverVersion.minor], [major, minor]);
  });

  void it('authorizes with RBAC', async () => {
    const canI = (as: string) =>
      cp.kubectl(['auth', 'can-i', 'list', 'secrets', '-n', 'default', `--as=${as}`], {
        check: false,
      });
    const admin = await cp.kubectl(['auth', 'can-i', 'list', 'secrets', '-n', 'default']);
    assert.equal(admin.stdout.trim(), 'yes');
    const nobody = await canI('system:serviceaccount:default:nobody');
    assert.equal(nobody.stdout.trim(), 'no');
    assert.equal(nobody.code, 1);
  });

  void it('stores a custom resource that satisfies the CRD', async () => {
    await cp.kubectl(['apply', '-f', '-'], {
      input: widget('good', { size: 3, minReplicas: 1, maxReplicas: 2 }),
    });
    const { stdout } = await cp.kubectl(['get', 'widget', 'good', '-o', 'jsonpath={.spec.size}']);
    assert.equal(stdout, '3');
  });

  void it('rejects an object that violates the openAPI schema, with the apiserver message', async () => {
    const result = await cp.kubectl(['apply', '-f', '-'], {
      input: widget('too-big', { size: 11 }),
      check: false,
    });
    assert.notEqual(result.code, 0);
    assert.equal(
      result.stderr.trim(),
      'The Widget "too-big" is invalid: spec.size: Invalid value: 11: ' +
        'spec.size in body should be less than or equal to 10',
    );
    const missing = await cp.kubectl(['get', 'widget', 'too-big'], { check: false });
    assert.match(missing.stderr, /NotFound/);
  });

  void it('rejects an object that violates the CEL rule, with the rule message', async () => {
    const result = await cp.kubectl(['apply', '-f', '-'], {
      input: widget('inverted', { size: 1, minReplicas: 5, maxReplicas: 2 }),
      check: false,
    });
    assert.notEqual(result.code, 0);
    assert.equal(
      result.stderr.trim(),
      'The Widget "inverted" is invalid: spec: Invalid value: minReplicas must not exceed maxReplicas',
    );
  });

  void it('keeps its data and port across an apiserver restart', async () => {
    const apiserverPid = () => cp.processes().find((p) => p.name === 'kube-apiserver')?.pid;
    const before = apiserverPid();
    await cp.restartApiServer();
    assert.notEqual(apiserverPid(), before);
    const { stdout } = await cp.kubectl(['get', 'widget', 'good', '-o', 'jsonpath={.spec.size}']);
    assert.equal(stdout, '3');
  });
});
