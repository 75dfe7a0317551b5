import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultPorts, INJECT_LABEL } from './inject.ts';
import { webhookSettings } from './webhook-setup.ts';
import { admissionResponse } from './webhook.ts';

const injection = { image: 'flashguard/sidecar:test', ...defaultPorts };

function review(object: unknown, operation = 'CREATE', kind = 'Pod') {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: { uid: 'u-1', namespace: 'shop', operation, kind: { kind }, object },
  };
}

const pod = (labels: Record<string, string>, ports: object[]) => ({
  metadata: {
    labels: { 'pod-template-hash': 'abc12', ...labels },
    ownerReferences: [{ kind: 'ReplicaSet', name: 'checkout-abc12', controller: true }],
  },
  spec: { containers: [{ name: 'app', ports }] },
});

interface Response {
  uid: string;
  allowed: boolean;
  patchType?: string;
  patch?: string;
  status?: { code: number; message: string };
}

function responseOf(outcome: ReturnType<typeof admissionResponse>): Response {
  assert.ok(outcome.review, outcome.detail);
  return (outcome.review as { response: Response }).response;
}

void describe('admissionResponse', () => {
  void it('answers an opted-in Pod with a base64 JSONPatch for the request’s uid', () => {
    const outcome = admissionResponse(
      review(pod({ [INJECT_LABEL]: 'true' }, [{ name: 'http', containerPort: 8080 }])),
      injection,
    );
    const response = responseOf(outcome);
    assert.equal(response.uid, 'u-1');
    assert.equal(response.allowed, true);
    assert.equal(response.patchType, 'JSONPatch');
    const patch = JSON.parse(Buffer.from(response.patch ?? '', 'base64').toString()) as {
      path: string;
    }[];
    assert.deepEqual(
      patch.map((p) => p.path),
      ['/spec/containers/0', '/spec/initContainers', '/spec/volumes'],
    );
    assert.equal(
      outcome.detail,
      'shop/Deployment/checkout',
      'the namespace comes from the request',
    );
  });

  void it('allows without a patch what it must not touch', () => {
    for (const body of [
      review(pod({}, [{ name: 'http', containerPort: 8080 }])),
      review(pod({ [INJECT_LABEL]: 'true' }, []), 'UPDATE'),
      review({ metadata: {} }, 'CREATE', 'ConfigMap'),
    ]) {
      const response = responseOf(admissionResponse(body, injection));
      assert.deepEqual(response, { uid: 'u-1', allowed: true });
    }
  });

  void it('refuses with the injection’s message', () => {
    const response = responseOf(
      admissionResponse(
        review(pod({ [INJECT_LABEL]: 'true' }, [{ containerPort: 8080 }])),
        injection,
      ),
    );
    assert.equal(response.allowed, false);
    assert.equal(response.status?.code, 422);
    assert.match(
      response.status.message,
      /name the app container's port|give the app container's port a name/,
    );
  });

  void it('has no answer for what is not an AdmissionReview v1', () => {
    assert.equal(admissionResponse({ kind: 'AdmissionReview' }, injection).review, undefined);
    assert.equal(admissionResponse(null, injection).review, undefined);
  });
});

void describe('webhookSettings', () => {
  void it('is off unless a listen address is given', () => {
    assert.equal(webhookSettings({}, {}), undefined);
  });

  void it('self-manages the certificate by default, from flags over environment', () => {
    assert.deepEqual(
      webhookSettings(
        {
          'webhook-listen': '0.0.0.0:9443',
          'sidecar-image': 'img',
          'webhook-hosts': 'a.svc, 127.0.0.1',
        },
        { FLASHGUARD_WEBHOOK_CONFIG: 'flashguard', FLASHGUARD_WEBHOOK_HOSTS: 'ignored' },
      ),
      {
        host: '0.0.0.0',
        port: 9443,
        image: 'img',
        certs: {
          kind: 'managed',
          secret: 'flashguard-webhook-tls',
          config: 'flashguard',
          hosts: ['a.svc', '127.0.0.1'],
        },
      },
    );
  });

  void it('uses a certificate directory instead when given', () => {
    const settings = webhookSettings(
      { 'webhook-listen': '[::]:9443', 'webhook-cert-dir': '/certs' },
      { FLASHGUARD_SIDECAR_IMAGE: 'img' },
    );
    assert.deepEqual(settings, {
      host: '::',
      port: 9443,
      image: 'img',
      certs: { kind: 'files', dir: '/certs' },
    });
  });

  void it('says what is missing', () => {
    assert.deepEqual(webhookSettings({ 'webhook-listen': 'nope' }, {}), {
      error: '--webhook-listen must be HOST:PORT',
    });
    assert.match(
      (
        webhookSettings({ 'webhook-listen': '0.0.0.0:9443', 'webhook-hosts': 'a' }, {}) as {
          error: string;
        }
      ).error,
      /--sidecar-image/,
    );
    assert.match(
      (
        webhookSettings({ 'webhook-listen': '0.0.0.0:9443', 'sidecar-image': 'i' }, {}) as {
          error: string;
        }
      ).error,
      /--webhook-hosts/,
    );
  });
});
