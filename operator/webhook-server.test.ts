// The webhook's HTTPS server on loopback: it answers AdmissionReviews over a certificate the
// client verifies, and a new certificate (rotation, cert-manager renewal) is served without a
// restart.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { nextTls, type WebhookTls } from './certs.ts';
import { defaultPorts } from './inject.ts';
import { CertificateFiles } from './webhook-certs.ts';
import { WebhookServer } from './webhook.ts';

const hosts = ['127.0.0.1'];
const issue = () => nextTls(undefined, { kind: 'new-ca', reason: 'test' }, hosts, Date.now());

async function servedFingerprint(port: number): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const fingerprint = socket.getPeerX509Certificate()?.fingerprint256 ?? '';
  socket.destroy();
  return fingerprint;
}

async function post(
  port: number,
  ca: string,
  body: string,
): Promise<{ status: number; body: string }> {
  const req = request({ host: '127.0.0.1', port, path: '/inject', method: 'POST', ca });
  req.end(body);
  const [res] = (await once(req, 'response')) as [import('node:http').IncomingMessage];
  let text = '';
  for await (const chunk of res) text += String(chunk);
  return { status: res.statusCode ?? 0, body: text };
}

void describe('WebhookServer', () => {
  const logs: string[] = [];
  const decisions: string[] = [];
  const server = new WebhookServer({
    host: '127.0.0.1',
    port: 0,
    injection: { image: 'img', ...defaultPorts },
    log: (msg) => logs.push(msg),
    onDecision: (decision) => decisions.push(decision),
  });
  let first: WebhookTls;
  let port = 0;
  before(async () => {
    first = await issue();
    await server.serve({ cert: first['tls.crt'], key: first['tls.key'] });
    port = server.port ?? 0;
  });
  after(() => server.close());

  void it('answers an AdmissionReview over TLS the client verifies against the CA', async () => {
    const review = {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      request: {
        uid: 'u',
        namespace: 'shop',
        operation: 'CREATE',
        kind: { kind: 'Pod' },
        object: { metadata: {} },
      },
    };
    const answer = await post(port, first['ca.crt'], JSON.stringify(review));
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), {
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: 'u', allowed: true },
    });
    assert.equal((await post(port, first['ca.crt'], '{not json')).status, 400);
    assert.equal((await post(port, first['ca.crt'], '{"kind":"Pod"}')).status, 400);
    assert.deepEqual(decisions, ['skip', 'bad-request', 'bad-request'], 'every answer counted');
  });

  void it('serves a new certificate to new connections without restarting', async () => {
    assert.equal(
      await servedFingerprint(port),
      new X509Certificate(first['tls.crt']).fingerprint256,
    );
    const second = await issue();
    await server.serve({ cert: second['tls.crt'], key: second['tls.key'] });
    assert.equal(server.port, port, 'same listener');
    assert.equal(
      await servedFingerprint(port),
      new X509Certificate(second['tls.crt']).fingerprint256,
    );
    assert.ok(logs.includes('webhook certificate reloaded'));
  });
});

void describe('CertificateFiles', () => {
  let dir = '';
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'flashguard-webhook-certs-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  void it('serves DIR/tls.crt and DIR/tls.key as they are on disk', async () => {
    const tls = await issue();
    writeFileSync(join(dir, 'tls.crt'), tls['tls.crt']);
    writeFileSync(join(dir, 'tls.key'), tls['tls.key']);
    const served: string[] = [];
    const files = new CertificateFiles(
      dir,
      (material) => {
        served.push(material.cert);
        return Promise.resolve();
      },
      () => undefined,
    );
    files.start();
    await files.refresh();
    files.stop();
    assert.ok(served.length > 0);
    assert.ok(served.every((cert) => cert === tls['tls.crt']));
  });
});
