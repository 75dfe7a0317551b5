// X.509 certificates made with node:crypto alone: a self-signed CA and serving certificates it
// signs, ECDSA P-256 with SHA-256. Node can parse and check certificates (X509Certificate) but not
// make them, and the operator's image carries no openssl, so this writes the DER itself: the few
// ASN.1 types a certificate needs (RFC 5280), nothing more.
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  X509Certificate,
} from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

export interface PemPair {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

function der(tag: number, content: Buffer): Buffer {
  const n = content.length;
  if (n < 0x80) return Buffer.concat([Buffer.from([tag, n]), content]);
  const length = Buffer.from(
    n.toString(16).padStart(n > 0xffff ? 6 : n > 0xff ? 4 : 2, '0'),
    'hex',
  );
  return Buffer.concat([Buffer.from([tag, 0x80 | length.length]), length, content]);
}

const sequence = (...items: Buffer[]) => der(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => der(0x31, Buffer.concat(items));
const octetString = (content: Buffer) => der(0x04, content);
const bitString = (content: Buffer, unusedBits = 0) =>
  der(0x03, Buffer.concat([Buffer.from([unusedBits]), content]));
const utf8String = (text: string) => der(0x0c, Buffer.from(text, 'utf8'));
const boolean = (value: boolean) => der(0x01, Buffer.from([value ? 0xff : 0]));
const explicit = (n: number, content: Buffer) => der(0xa0 | n, content);

function integer(bytes: Buffer): Buffer {
  // DER integers are signed: a leading 1 bit needs a zero byte in front to stay positive.
  const first = bytes[0] ?? 0;
  return der(0x02, first & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
}

function oid(dotted: string): Buffer {
  const [a = 0, b = 0, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = arc >>> 7; v > 0; v >>>= 7) base128.unshift((v & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return der(0x06, Buffer.from(bytes));
}

function time(date: Date): Buffer {
  // RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
  const iso = date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  return date.getUTCFullYear() < 2050
    ? der(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : der(0x18, Buffer.from(`${iso}Z`));
}

const ecdsaWithSha256 = sequence(oid('1.2.840.10045.4.3.2'));

function name(commonName: string): Buffer {
  return sequence(set(sequence(oid('2.5.4.3'), utf8String(commonName))));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return sequence(oid(id), ...(critical ? [boolean(true)] : []), octetString(value));
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  // Expand "::" to the missing zero groups, then write eight 16-bit groups.
  const [head = '', tail] = ip.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const all = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return Buffer.from(all.map((g) => g.padStart(4, '0')).join(''), 'hex');
}

function subjectAltName(hosts: readonly string[]): Buffer {
  // GeneralName: [2] dNSName, [7] iPAddress (implicit tags).
  return sequence(
    ...hosts.map((host) =>
      isIPv4(host) || isIPv6(host) ? der(0x87, ipBytes(host)) : der(0x82, Buffer.from(host)),
    ),
  );
}

interface Issuer {
  name: Buffer;
  keyId: Buffer;
  privateKey: string;
}

interface Subject {
  commonName: string;
  notBefore: Date;
  notAfter: Date;
  /** Extensions beyond the key identifiers. */
  extensions: Buffer[];
}

function certificate(subject: Subject, issuer: Issuer | 'self'): PemPair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const spki = publicKey.export({ type: 'spki', format: 'der' });
  const keyId = createHash('sha1').update(spki).digest();
  const key = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const signer: Issuer =
    issuer === 'self' ? { name: name(subject.commonName), keyId, privateKey: key } : issuer;
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(randomBytes(16)),
    ecdsaWithSha256,
    signer.name,
    sequence(time(subject.notBefore), time(subject.notAfter)),
    name(subject.commonName),
    spki,
    explicit(
      3,
      sequence(
        ...subject.extensions,
        extension('2.5.29.14', false, octetString(keyId)),
        extension('2.5.29.35', false, sequence(der(0x80, signer.keyId))),
      ),
    ),
  );
  const signature = sign('sha256', tbs, createPrivateKey(signer.privateKey));
  const body = sequence(tbs, ecdsaWithSha256, bitString(signature)).toString('base64');
  const lines = body.match(/.{1,64}/g) ?? [];
  return {
    cert: `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`,
    key,
  };
}

/** The signer a CA made by createCertificateAuthority is: its subject rebuilt byte for byte. */
function issuerOf(ca: PemPair): Issuer {
  const cert = new X509Certificate(ca.cert);
  const commonName = /^CN=(.*)$/m.exec(cert.subject)?.[1];
  if (commonName === undefined) throw new Error('the CA certificate has no CN');
  return {
    name: name(commonName),
    keyId: createHash('sha1')
      .update(cert.publicKey.export({ type: 'spki', format: 'der' }))
      .digest(),
    privateKey: ca.key,
  };
}

export function createCertificateAuthority(
  commonName: string,
  notBefore: Date,
  notAfter: Date,
): PemPair {
  return certificate(
    {
      commonName,
      notBefore,
      notAfter,
      extensions: [
        extension('2.5.29.19', true, sequence(boolean(true))),
        // keyUsage: digitalSignature, keyCertSign, cRLSign (bits 0, 5, 6).
        extension('2.5.29.15', true, bitString(Buffer.from([0x86]), 1)),
      ],
    },
    'self',
  );
}

export function issueServingCertificate(
  ca: PemPair,
  commonName: string,
  hosts: readonly string[],
  notBefore: Date,
  notAfter: Date,
): PemPair {
  return certificate(
    {
      commonName,
      notBefore,
      notAfter,
      extensions: [
        extension('2.5.29.19', true, sequence()),
        // keyUsage: digitalSignature (bit 0), all an ECDHE-ECDSA server needs.
        extension('2.5.29.15', true, bitString(Buffer.from([0x80]), 7)),
        extension('2.5.29.37', false, sequence(oid('1.3.6.1.5.5.7.3.1'))),
        extension('2.5.29.17', false, subjectAltName(hosts)),
      ],
    },
    issuerOf(ca),
  );
}
