// One HTTPS GET against the apiserver with the admin's client certificate, for readiness
// probes: cheaper than spawning kubectl in a polling loop.
import { request } from 'node:https';

export interface ClientTls {
  ca: string;
  cert: string;
  key: string;
}

export async function httpsGet(
  url: string,
  tls: ClientTls,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, timeout: 5_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}
