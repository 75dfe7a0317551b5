// The webhook's self-managed PKI, decided purely: given what the TLS Secret holds, the hosts the
// serving certificate must cover and the time, keep it, issue a new serving certificate, or start
// a new CA (keeping the old one in the bundle while it is valid, so pods still served by a
// replica with the old certificate keep being admitted during the switch).
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import { createCertificateAuthority, issueServingCertificate } from './certs-x509.ts';

const DAY_MS = 86_400_000;
export const certificatePolicy = {
  caValidityMs: 3650 * DAY_MS,
  /** A new CA this long before the old one expires: a year of overlap in the bundle. */
  caRenewBeforeMs: 365 * DAY_MS,
  servingValidityMs: 365 * DAY_MS,
  /** A new serving certificate with a third of its life left. */
  servingRenewFraction: 1 / 3,
  /** Clock skew tolerated between us and the apiserver. */
  backdateMs: 5 * 60_000,
};
export type CertificatePolicy = typeof certificatePolicy;

/** The Secret's data (kubernetes.io/tls plus the CA's key), decoded. */
export interface WebhookTls {
  /** The CA bundle the webhook configuration trusts: the current CA first, then older ones. */
  'ca.crt': string;
  'ca.key': string;
  'tls.crt': string;
  'tls.key': string;
}

export type CertificatePlan =
  { kind: 'keep' } | { kind: 'issue-serving'; reason: string } | { kind: 'new-ca'; reason: string };

const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;

export function splitPem(bundle: string): string[] {
  return bundle.match(PEM_BLOCK) ?? [];
}

function parsed(pem: string | undefined): X509Certificate | undefined {
  try {
    return pem === undefined ? undefined : new X509Certificate(pem);
  } catch {
    return undefined;
  }
}

function matchesKey(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

function covers(cert: X509Certificate, host: string): boolean {
  return (isIP(host) === 0 ? cert.checkHost(host) : cert.checkIP(host)) !== undefined;
}

export function certificatePlan(
  current: Partial<WebhookTls> | undefined,
  hosts: readonly string[],
  now: number,
  policy: CertificatePolicy = certificatePolicy,
): CertificatePlan {
  const ca = parsed(splitPem(current?.['ca.crt'] ?? '')[0]);
  if (ca === undefined || !ca.ca || !matchesKey(ca, current?.['ca.key'] ?? '')) {
    return { kind: 'new-ca', reason: 'no usable CA' };
  }
  if (Date.parse(ca.validTo) - now < policy.caRenewBeforeMs) {
    return { kind: 'new-ca', reason: `the CA expires ${new Date(ca.validTo).toISOString()}` };
  }
  const serving = parsed(current?.['tls.crt']);
  if (serving === undefined || !matchesKey(serving, current?.['tls.key'] ?? '')) {
    return { kind: 'issue-serving', reason: 'no usable serving certificate' };
  }
  if (!serving.verify(ca.publicKey)) {
    return { kind: 'issue-serving', reason: 'the serving certificate is not signed by the CA' };
  }
  const missing = hosts.filter((host) => !covers(serving, host));
  if (missing.length > 0) {
    return { kind: 'issue-serving', reason: `the serving certificate lacks ${missing.join(', ')}` };
  }
  const from = Date.parse(serving.validFrom);
  const to = Date.parse(serving.validTo);
  if (to - now < (to - from) * policy.servingRenewFraction) {
    return {
      kind: 'issue-serving',
      reason: `the serving certificate expires ${new Date(to).toISOString()}`,
    };
  }
  return { kind: 'keep' };
}

/** Carries the plan out: new keys and certificates (the one non-pure step: fresh randomness). */
export async function nextTls(
  current: Partial<WebhookTls> | undefined,
  plan: Exclude<CertificatePlan, { kind: 'keep' }>,
  hosts: readonly string[],
  now: number,
  policy: CertificatePolicy = certificatePolicy,
): Promise<WebhookTls> {
  const notBefore = new Date(now - policy.backdateMs);
  let bundle = splitPem(current?.['ca.crt'] ?? '');
  let ca = { cert: bundle[0] ?? '', key: current?.['ca.key'] ?? '' };
  if (plan.kind === 'new-ca') {
    ca = await createCertificateAuthority(
      `flashguard-webhook-ca-${new Date(now).toISOString().slice(0, 10)}`,
      notBefore,
      new Date(now + policy.caValidityMs),
    );
    bundle = [ca.cert, ...bundle];
  }
  // Old CAs stay trusted until they expire, then leave the bundle.
  const trusted = bundle.filter((pem) => {
    const cert = parsed(pem);
    return cert !== undefined && Date.parse(cert.validTo) > now;
  });
  const serving = await issueServingCertificate(
    ca,
    'flashguard-webhook',
    hosts,
    notBefore,
    new Date(now + policy.servingValidityMs),
  );
  return {
    'ca.crt': trusted.join(''),
    'ca.key': ca.key,
    'tls.crt': serving.cert,
    'tls.key': serving.key,
  };
}
