// Redis AUTH and TLS end to end: a sidecar guards checkouts over TLS with an ACL user or the
// default user's password; a wrong password or an untrusted server certificate makes it fail
// closed (503 ledger-unavailable, a log line saying why), and no password ever shows in its logs
// or metrics.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createCertificateAuthority } from '../controlplane/certs.ts';
import { waitFor } from '../support/process.ts';
import { createRedisTls, startRedis, type RedisServer } from '../support/redis.ts';
import {
  flashSale,
  startShop,
  startSidecar,
  type RunningShop,
  type RunningSidecar,
} from '../support/sidecar.ts';
import { SaleLedger } from '../../ledger/index.ts';
import { connectRedis, whenReady } from '../../sidecar/redis.ts';
import { assertProblem, checkoutOnce } from './client.ts';

const defaultPassword = `default-${randomUUID()}`;
const aclPassword = `acl-${randomUUID()}`;
const wrongPassword = `wrong-${randomUUID()}`;
const secrets = [defaultPassword, aclPassword, wrongPassword];

let dir: string;
let caFile: string;
let otherCaFile: string;
let redis: RedisServer;
let shop: RunningShop;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'flashguard-security-'));
  const tls = await createRedisTls(dir);
  caFile = tls.caFile;
  const otherDir = mkdtempSync(join(dir, 'other-'));
  otherCaFile = (await createCertificateAuthority(otherDir, 'not-the-redis-ca')).certPath;
  redis = await startRedis({
    tls,
    password: defaultPassword,
    aclUser: { name: 'flashguard', password: aclPassword },
  });
  shop = await startShop();
});
after(async () => {
  await shop.stop();
  await redis.destroy();
  rmSync(dir, { recursive: true, force: true });
});

const redisUrl = (credentials: string) => `rediss://${credentials}@127.0.0.1:${String(redis.port)}`;

/** The sidecar's whole log and its metrics page, read while it runs. */
async function exposedText(sidecar: RunningSidecar): Promise<string> {
  const metrics = await (await fetch(`${sidecar.opsUrl}/metrics`)).text();
  return `${readFileSync(sidecar.logFile, 'utf8')}\n${metrics}`;
}

function assertNoSecret(text: string): void {
  for (const secret of secrets) assert.ok(!text.includes(secret), 'a password leaked');
}

for (const [who, credentials] of [
  ['an ACL user', `flashguard:${aclPassword}`],
  ['the default user', `:${defaultPassword}`],
] as const) {
  test(`a sidecar guards checkouts over TLS as ${who}`, async () => {
    const name = `tls-${randomUUID().slice(0, 8)}`;
    const sidecar = await startSidecar({
      sale: flashSale(name),
      upstream: shop.url,
      redisUrl: redisUrl(credentials),
      args: ['--redis-ca', caFile],
    });
    try {
      const answer = await checkoutOnce(sidecar.url, { user: 'alice' });
      assert.equal(answer.status, 201, JSON.stringify(answer.body));
      const client = connectRedis(redisUrl(credentials), {
        tls: { ca: readFileSync(caFile, 'utf8') },
      });
      try {
        await whenReady(client);
        const snapshot = await new SaleLedger(client, { namespace: 'shop', name }).snapshot();
        assert.equal(snapshot?.items[0]?.sold, 1);
      } finally {
        client.disconnect();
      }
      assertNoSecret(await exposedText(sidecar));
    } finally {
      await sidecar.stop();
    }
  });
}

for (const { what, credentials, ca, reason } of [
  {
    what: 'a wrong password',
    credentials: `flashguard:${wrongPassword}`,
    ca: () => caFile,
    reason: /authentication refused/,
  },
  {
    what: 'a CA that did not sign the server certificate',
    credentials: `flashguard:${aclPassword}`,
    ca: () => otherCaFile,
    reason: /TLS verification failed/,
  },
]) {
  test(`${what}: the sidecar fails closed, says why, and leaks no password`, async () => {
    const callsBefore = (await shop.stats()).checkoutCalls;
    const sidecar = await startSidecar({
      sale: flashSale(`bad-${randomUUID().slice(0, 8)}`),
      upstream: shop.url,
      redisUrl: redisUrl(credentials),
      args: ['--redis-ca', ca()],
      waitForReady: false,
    });
    try {
      const line = await waitFor(
        'the sidecar to log why Redis refused it',
        () =>
          readFileSync(sidecar.logFile, 'utf8')
            .split('\n')
            .find((l) => l.includes('redis connection error')),
        { timeoutMs: 20_000, intervalMs: 100 },
      );
      assert.match((JSON.parse(line) as { reason: string }).reason, reason);
      const answer = await waitFor('an answer from the sidecar', () =>
        checkoutOnce(sidecar.url, { user: 'bob' }),
      );
      assertProblem(answer, 503, 'ledger-unavailable');
      assert.equal((await fetch(`${sidecar.opsUrl}/readyz`)).status, 503);
      assert.equal((await shop.stats()).checkoutCalls, callsBefore, 'the shop was called');
      assertNoSecret(await exposedText(sidecar));
    } finally {
      await sidecar.stop();
    }
  });
}
