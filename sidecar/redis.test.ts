import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  caOverrides,
  connectRedis,
  isRedisUrl,
  redisFailureReason,
  sentinelOptions,
} from './redis.ts';

test('a redis+sentinel URL names the sentinels, the primary and its credentials', () => {
  const options = sentinelOptions('redis+sentinel://app:p%40ss@10.0.0.1:26379,[::1]:26380/orders');
  assert.deepEqual(options.sentinels, [
    { host: '10.0.0.1', port: 26379 },
    { host: '::1', port: 26380 },
  ]);
  assert.equal(options.name, 'orders');
  assert.equal(options.username, 'app');
  assert.equal(options.password, 'p@ss');
  assert.equal(sentinelOptions('redis+sentinel://h:1/m').password, undefined);
});

test("a redis+sentinel URL's parameters authenticate to the sentinels themselves", () => {
  const options = sentinelOptions(
    'redis+sentinel://app:data@h:1,h:2/orders?sentinelUsername=watch&sentinelPassword=s%40n+t',
  );
  assert.equal(options.username, 'app');
  assert.equal(options.password, 'data');
  assert.equal(options.sentinelUsername, 'watch');
  assert.equal(options.sentinelPassword, 's@n+t', 'percent-decoded; a + stays a +');
  const plain = sentinelOptions('redis+sentinel://:data@h:1/orders');
  assert.equal(plain.sentinelPassword, undefined);
  assert.equal(plain.sentinelUsername, undefined);
});

test('rediss+sentinel:// is TLS to the sentinels and the data nodes, with one CA for both', () => {
  const options = sentinelOptions('rediss+sentinel://:pw@h:1/orders?sentinelPassword=s');
  assert.equal(options.enableTLSForSentinelMode, true);
  assert.deepEqual(options.tls, {});
  assert.equal(options.sentinelPassword, 's');
  const plain = sentinelOptions('redis+sentinel://h:1/orders');
  assert.equal(plain.enableTLSForSentinelMode, undefined);
  assert.equal(plain.tls, undefined);
  assert.equal(plain.sentinelTLS, undefined);

  const ca = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const client = connectRedis('rediss+sentinel://h:1/orders', { tls: { ca }, lazyConnect: true });
  const systemCas = connectRedis('rediss+sentinel://h:1/orders', { lazyConnect: true });
  const noTls = connectRedis('redis+sentinel://h:1/orders', { lazyConnect: true });
  try {
    assert.deepEqual(client.options.tls, { ca });
    assert.deepEqual(client.options.sentinelTLS, { ca }, 'the sentinels trust the same CA');
    assert.deepEqual(systemCas.options.sentinelTLS, {}, 'TLS to the sentinels, system CAs');
    assert.equal(noTls.options.sentinelTLS, undefined);
  } finally {
    for (const c of [client, systemCas, noTls]) c.disconnect();
  }
});

test('a malformed sentinel URL is refused without echoing its password', () => {
  for (const url of [
    'redis+sentinel://:secret@h:1',
    'redis+sentinel://:secret@h/m',
    'redis+sentinel://:secret@/m',
    'redis+sentinel://h:1/m?password=secret',
    'redis+sentinel://h:1/m?secret',
  ]) {
    assert.throws(
      () => sentinelOptions(url),
      (error: Error) => !error.message.includes('secret'),
    );
  }
});

test('the URL schemes the sidecar accepts', () => {
  for (const url of [
    'redis://h:1',
    'rediss://:pw@h:1',
    'redis+sentinel://h:1/m',
    'rediss+sentinel://h:1/m',
  ]) {
    assert.ok(isRedisUrl(url), url);
  }
  for (const url of ['http://h:1', 'h:1', 'sentinel://h:1/m', 'redis://h:1 x', 'redis://']) {
    assert.ok(!isRedisUrl(url), url);
  }
});

test('connection failures are explained', () => {
  const wrongPass = new Error('WRONGPASS invalid username-password pair or user is disabled.');
  assert.match(redisFailureReason(wrongPass), /^authentication refused: check the user/);
  const sentinels = new Error(
    'All sentinels are unreachable. Retrying from scratch after 100ms. Last error: NOAUTH HELLO must be called with the client already authenticated',
  );
  assert.match(
    redisFailureReason(sentinels),
    /^authentication refused by the sentinels: check sentinelUsername and sentinelPassword/,
  );
  const tls = Object.assign(new Error('self-signed certificate in certificate chain'), {
    code: 'SELF_SIGNED_CERT_IN_CHAIN',
  });
  assert.match(redisFailureReason(tls), /TLS verification failed/);
  assert.equal(redisFailureReason(new Error('connect ECONNREFUSED')), 'connection failed');
  const closed = new Error(
    'All sentinels are unreachable. Retrying from scratch after 100ms. Last error: Connection is closed.',
  );
  assert.match(redisFailureReason(closed), /^no sentinel answered: .*--redis-ca/);
});

test('a CA file must hold a PEM certificate; an absent one means no CA of our own', () => {
  const dir = mkdtempSync(join(tmpdir(), 'flashguard-ca-'));
  try {
    const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    writeFileSync(join(dir, 'ca.crt'), pem);
    writeFileSync(join(dir, 'empty.crt'), '');
    assert.deepEqual(caOverrides(join(dir, 'ca.crt')), { tls: { ca: pem } });
    assert.deepEqual(caOverrides(undefined), {});
    assert.throws(() => caOverrides(join(dir, 'empty.crt')), /holds no PEM certificate/);
    assert.deepEqual(caOverrides(join(dir, 'missing.crt')), {});
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
