// X.509 certificates for the webhook: a self-signed CA and serving certificates it signs, ECDSA
// P-256 with SHA-256. Node can parse and check certificates (X509Certificate) but not make them,
// and the operator's image carries no openssl, so @peculiar/x509 builds them (RFC 5280 encoding
// kept by a maintained library, not by us) on Node's WebCrypto, its default provider.
// tsyringe inside it needs a Reflect metadata polyfill loaded before it.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { webcrypto } from 'node:crypto';
import { isIP } from 'node:net';

export interface PemPair {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

const ecdsa = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const { subtle } = webcrypto;

async function pemPair(cert: x509.X509Certificate, key: webcrypto.CryptoKey): Promise<PemPair> {
  const pkcs8 = await subtle.exportKey('pkcs8', key);
  return {
    cert: `${cert.toString('pem')}\n`,
    key: `${x509.PemConverter.encode(pkcs8, 'PRIVATE KEY')}\n`,
  };
}

export async function createCertificateAuthority(
  commonName: string,
  notBefore: Date,
  notAfter: Date,
): Promise<PemPair> {
  const keys = await subtle.generateKey(ecdsa, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: [{ CN: [commonName] }],
    notBefore,
    notAfter,
    keys,
    signingAlgorithm: ecdsa,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature |
          x509.KeyUsageFlags.keyCertSign |
          x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return pemPair(cert, keys.privateKey);
}

export async function issueServingCertificate(
  ca: PemPair,
  commonName: string,
  hosts: readonly string[],
  notBefore: Date,
  notAfter: Date,
): Promise<PemPair> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await subtle.importKey(
    'pkcs8',
    x509.PemConverter.decodeFirst(ca.key),
    ecdsa,
    false,
    ['sign'],
  );
  const keys = await subtle.generateKey(ecdsa, true, ['sign', 'verify']);
  const cert = await x509.X509CertificateGenerator.create({
    subject: [{ CN: [commonName] }],
    issuer: caCert.subjectName,
    publicKey: keys.publicKey,
    signingKey: caKey,
    notBefore,
    notAfter,
    signingAlgorithm: ecdsa,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      // digitalSignature is all an ECDHE-ECDSA server needs.
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((host) => ({ type: isIP(host) !== 0 ? 'ip' : 'dns', value: host })),
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(caCert.publicKey),
    ],
  });
  return pemPair(cert, keys.privateKey);
}
