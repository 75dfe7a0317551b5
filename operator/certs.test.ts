import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { certificatePlan, certificatePolicy, nextTls, splitPem } from './certs.ts';
import { createCertificateAuthority, issueServingCertificate } from './certs-x509.ts';

const DAY = 86_400_000;
const now = Date.parse('2026-06-01T00:00:00Z');
const hosts = ['127.0.0.1', '::1', 'flashguard-webhook.flashguard.svc'];

void describe('certs-x509', () => {
  void it('makes a CA and a serving certificate that verify, with the hosts and usages asked', async () => {
    const ca = await createCertificateAuthority('test-ca', new Date(now), new Date(now + 10 * DAY));
    const serving = await issueServingCertificate(
      ca,
      'svc',
      hosts,
      new Date(now),
      new Date(now + DAY),
    );
    const caCert = new X509Certificate(ca.cert);
    const cert = new X509Certificate(serving.cert);
    assert.ok(caCert.ca);
    assert.ok(caCert.verify(caCert.publicKey), 'self-signed');
    assert.ok(!cert.ca);
    assert.ok(cert.verify(caCert.publicKey), 'signed by the CA');
    assert.ok(cert.checkIssued(caCert));
    assert.equal(cert.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(cert.checkIP('::1'), '::1');
    assert.equal(
      cert.checkHost('flashguard-webhook.flashguard.svc'),
      'flashguard-webhook.flashguard.svc',
    );
    assert.equal(cert.checkHost('elsewhere.example'), undefined);
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1'], 'serverAuth');
    assert.equal(Date.parse(cert.validTo), now + DAY);
  });

  void it('writes times after 2049 as GeneralizedTime', async () => {
    const ca = await createCertificateAuthority(
      'long-ca',
      new Date(now),
      new Date('2061-01-02T03:04:05Z'),
    );
    assert.equal(new X509Certificate(ca.cert).validTo, 'Jan  2 03:04:05 2061 GMT');
  });
});

void describe('certificatePlan / nextTls', async () => {
  const fresh = await nextTls(undefined, { kind: 'new-ca', reason: 'test' }, hosts, now);

  void it('starts a CA when the Secret holds none, then keeps what it made', () => {
    assert.equal(certificatePlan(undefined, hosts, now).kind, 'new-ca');
    assert.equal(certificatePlan({ 'ca.crt': 'garbage' }, hosts, now).kind, 'new-ca');
    assert.deepEqual(certificatePlan(fresh, hosts, now), { kind: 'keep' });
    assert.equal(splitPem(fresh['ca.crt']).length, 1);
  });

  void it('reissues the serving certificate when a host is added or a third of its life is left', async () => {
    const plan = certificatePlan(fresh, [...hosts, '10.0.0.7'], now);
    assert.deepEqual(plan, {
      kind: 'issue-serving',
      reason: 'the serving certificate lacks 10.0.0.7',
    });
    const late = now + certificatePolicy.servingValidityMs * 0.7;
    assert.equal(certificatePlan(fresh, hosts, late).kind, 'issue-serving');
    const reissued = await nextTls(fresh, { kind: 'issue-serving', reason: 'test' }, hosts, late);
    assert.equal(reissued['ca.crt'], fresh['ca.crt'], 'same CA: the caBundle stays');
    assert.notEqual(reissued['tls.crt'], fresh['tls.crt']);
    assert.deepEqual(certificatePlan(reissued, hosts, late), { kind: 'keep' });
  });

  void it('reissues a serving certificate another CA signed, or one whose key does not match', async () => {
    const other = await nextTls(undefined, { kind: 'new-ca', reason: 'test' }, hosts, now);
    assert.equal(
      certificatePlan({ ...fresh, 'tls.crt': other['tls.crt'] }, hosts, now).kind,
      'issue-serving',
    );
    assert.equal(
      certificatePlan({ ...fresh, 'tls.key': other['tls.key'] }, hosts, now).kind,
      'issue-serving',
    );
  });

  void it('rolls the CA a year before it expires, trusting old and new until the old one ends', async () => {
    const late = now + certificatePolicy.caValidityMs - certificatePolicy.caRenewBeforeMs + DAY;
    const plan = certificatePlan(fresh, hosts, late);
    assert.equal(plan.kind, 'new-ca');
    const rolled = await nextTls(fresh, { kind: 'new-ca', reason: 'test' }, hosts, late);
    const bundle = splitPem(rolled['ca.crt']);
    assert.equal(bundle.length, 2);
    assert.equal(bundle[1], splitPem(fresh['ca.crt'])[0], 'the old CA stays trusted');
    const newCa = new X509Certificate(bundle[0] ?? '');
    assert.ok(new X509Certificate(rolled['tls.crt']).verify(newCa.publicKey));
    // Once the old CA has expired, the next issue drops it from the bundle.
    const afterOld = now + certificatePolicy.caValidityMs + DAY;
    const later = await nextTls(rolled, { kind: 'issue-serving', reason: 'test' }, hosts, afterOld);
    assert.equal(splitPem(later['ca.crt']).length, 1);
  });
});
