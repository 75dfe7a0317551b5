// A throwaway PKI made with openssl: a CA, serving and client certificates signed by it, and the
// service-account signing key pair. ECDSA P-256 keys, because they are made in milliseconds.
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const validDays = '7';

export interface CertificateAuthority {
  readonly certPath: string;
  readonly keyPath: string;
  /** The CA certificate in PEM, e.g. for a webhook's caBundle (base64 it first). */
  readonly pem: string;
}

export interface Certificate {
  readonly certPath: string;
  readonly keyPath: string;
}

export interface CertificateRequest {
  /** File name stem inside the directory: `<name>.crt` and `<name>.key`. */
  name: string;
  commonName: string;
  /** Subject O= entries; Kubernetes reads them as the client's groups. */
  organizations?: readonly string[];
  /** DNS names and IP addresses for a serving certificate's subjectAltName. */
  hosts?: readonly string[];
  usage: 'server' | 'client';
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (error) {
    const stderr = (error as { stderr?: string }).stderr ?? '';
    throw new Error(`openssl ${args[0] ?? ''} failed: ${stderr.trim()}`, { cause: error });
  }
}

const keyArgs = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function createCertificateAuthority(
  dir: string,
  commonName: string,
): Promise<CertificateAuthority> {
  const certPath = join(dir, 'ca.crt');
  const keyPath = join(dir, 'ca.key');
  const config = join(dir, 'ca.cnf');
  await writeFile(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      'x509_extensions = ext',
      '[dn]',
      `CN = ${commonName}`,
      '[ext]',
      'basicConstraints = critical,CA:TRUE',
      'keyUsage = critical,keyCertSign,cRLSign,digitalSignature',
      'subjectKeyIdentifier = hash',
      '',
    ].join('\n'),
  );
  await openssl(
    ['req', '-x509', ...keyArgs, '-keyout', keyPath, '-out', certPath].concat([
      '-days',
      validDays,
      '-config',
      config,
    ]),
  );
  return { certPath, keyPath, pem: await readFile(certPath, 'utf8') };
}

function subjectAltName(hosts: readonly string[]): string {
  return hosts.map((host) => (isIP(host) === 0 ? `DNS:${host}` : `IP:${host}`)).join(',');
}

export async function issueCertificate(
  ca: CertificateAuthority,
  dir: string,
  request: CertificateRequest,
): Promise<Certificate> {
  const base = join(dir, request.name);
  const certPath = `${base}.crt`;
  const keyPath = `${base}.key`;
  const config = `${base}.cnf`;
  const hosts = request.hosts ?? [];
  await writeFile(
    config,
    [
      '[req]',
      'distinguished_name = dn',
      'prompt = no',
      '[dn]',
      ...(request.organizations ?? []).map((o, i) => `${String(i)}.O = ${o}`),
      `CN = ${request.commonName}`,
      '[ext]',
      'basicConstraints = critical,CA:FALSE',
      'keyUsage = critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage = ${request.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ...(hosts.length > 0 ? [`subjectAltName = ${subjectAltName(hosts)}`] : []),
      '',
    ].join('\n'),
  );
  await openssl(
    ['req', '-new', ...keyArgs, '-keyout', keyPath, '-out', `${base}.csr`].concat([
      '-config',
      config,
    ]),
  );
  await openssl(
    ['x509', '-req', '-in', `${base}.csr`, '-CA', ca.certPath, '-CAkey', ca.keyPath]
      // A random serial instead of -CAcreateserial: certificates are issued concurrently.
      .concat(['-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', validDays])
      .concat(['-extfile', config, '-extensions', 'ext'])
      .concat(['-out', certPath]),
  );
  return { certPath, keyPath };
}

/** The key pair that signs (private) and verifies (public) service-account tokens. */
export async function createServiceAccountKeys(
  dir: string,
): Promise<{ privateKeyPath: string; publicKeyPath: string }> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const privateKeyPath = join(dir, 'sa.key');
  const publicKeyPath = join(dir, 'sa.pub');
  await writeFile(privateKeyPath, privateKey, { mode: 0o600 });
  await writeFile(publicKeyPath, publicKey);
  return { privateKeyPath, publicKeyPath };
}
