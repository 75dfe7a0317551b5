// The apiserver calls a mutating admission webhook served over HTTPS on loopback (a `url`
// clientConfig: there is no Service network here) and stores the object as the patch made it.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../support/process.ts';
import { startControlPlane, type ControlPlane } from './controlplane.ts';

interface AdmissionRequest {
  uid: string;
  operation: string;
  name?: string;
  namespace?: string;
  object: { metadata: { name?: string } };
}

const selectorLabel = 'testbed.flashguard.dev/mutate';

/** A webhook that adds data.mutatedBy to every ConfigMap it is sent, and remembers the calls. */
async function startWebhook(
  cert: string,
  key: string,
): Promise<{ server: Server; calls: AdmissionRequest[] }> {
  const calls: AdmissionRequest[] = [];
  const server = createServer({ cert, key }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      const review = JSON.parse(body) as { apiVersion: string; request: AdmissionRequest };
      calls.push(review.request);
      const patch = [{ op: 'add', path: '/data/mutatedBy', value: 'testbed-webhook' }];
      res.setHeader('content-type', 'application/json');
      res.end(
        JSON.stringify({
          apiVersion: review.apiVersion,
          kind: 'AdmissionReview',
          response: {
            uid: review.request.uid,
            allowed: true,
            patchType: 'JSONPatch',
            patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
          },
        }),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, calls };
}

function configMap(name: string, labelled: boolean): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'default', labels: labelled ? { [selectorLabel]: 'yes' } : {} },
    data: { original: 'true' },
  });
}

void describe('mutating admission webhook on loopback', () => {
  let cp: ControlPlane;
  let webhook: { server: Server; calls: AdmissionRequest[] };

  before(async () => {
    cp = await startControlPlane();
    const cert = await cp.issueServingCertificate('webhook', ['127.0.0.1']);
    webhook = await startWebhook(
      readFileSync(cert.certPath, 'utf8'),
      readFileSync(cert.keyPath, 'utf8'),
    );
    const { port } = webhook.server.address() as AddressInfo;
    const configuration = {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: 'testbed-mutator' },
      webhooks: [
        {
          name: 'mutate.testbed.flashguard.dev',
          clientConfig: {
            url: `https://127.0.0.1:${port}/mutate`,
            caBundle: Buffer.from(cp.ca.pem).toString('base64'),
          },
          rules: [
            {
              operations: ['CREATE'],
              apiGroups: [''],
              apiVersions: ['v1'],
              resources: ['configmaps'],
            },
          ],
          objectSelector: { matchLabels: { [selectorLabel]: 'yes' } },
          sideEffects: 'None',
          admissionReviewVersions: ['v1'],
          failurePolicy: 'Fail',
          timeoutSeconds: 5,
        },
      ],
    };
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(configuration) });
    // The apiserver picks the configuration up asynchronously: probe until it calls us.
    let probe = 0;
    await waitFor(
      'the apiserver to start calling the webhook',
      async () => {
        const name = `probe-${String(++probe)}`;
        await cp.kubectl(['create', '-f', '-'], { input: configMap(name, true) });
        const { stdout } = await cp.kubectl([
          'get',
          'configmap',
          name,
          '-o',
          'jsonpath={.data.mutatedBy}',
        ]);
        await cp.kubectl(['delete', 'configmap', name, '--wait=false']);
        return stdout === 'testbed-webhook' ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
  });
  after(async () => {
    webhook.server.close();
    await cp.stop();
  });

  void it('stores the object as the webhook patched it', async () => {
    await cp.kubectl(['create', '-f', '-'], { input: configMap('patched', true) });
    const { stdout } = await cp.kubectl(['get', 'configmap', 'patched', '-o', 'json']);
    const stored = JSON.parse(stdout) as { data: Record<string, string> };
    assert.deepEqual(stored.data, { original: 'true', mutatedBy: 'testbed-webhook' });
    const call = webhook.calls.find(
      (c) => c.name === 'patched' || c.object.metadata.name === 'patched',
    );
    assert.ok(call, 'the webhook saw the request');
    assert.equal(call.operation, 'CREATE');
    assert.equal(call.namespace, 'default');
  });

  void it('is not called for objects outside its objectSelector', async () => {
    const before = webhook.calls.length;
    await cp.kubectl(['create', '-f', '-'], { input: configMap('untouched', false) });
    const { stdout } = await cp.kubectl(['get', 'configmap', 'untouched', '-o', 'json']);
    assert.deepEqual((JSON.parse(stdout) as { data: unknown }).data, { original: 'true' });
    assert.equal(webhook.calls.length, before);
  });

  void it('rejects the object when the webhook is down (failurePolicy Fail)', async () => {
    webhook.server.close();
    webhook.server.closeAllConnections();
    const result = await cp.kubectl(['create', '-f', '-'], {
      input: configMap('refused', true),
      check: false,
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /failed calling webhook "mutate\.testbed\.flashguard\.dev"/);
  });
});
