import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig, sidecarIdFrom } from './config.ts';

test('flags win over the environment and defaults fill the rest', () => {
  const parsed = parseConfig(
    ['--sale', 's.yaml', '--upstream', 'http://127.0.0.1:3000/', '--listen', '127.0.0.1:8081'],
    { FLASHGUARD_UPSTREAM: 'http://ignored:1', FLASHGUARD_REDIS_URL: 'rediss://:pw@redis:6380' },
    'pod.example',
  );
  assert.ok(parsed.ok);
  assert.equal(parsed.config.upstream, 'http://127.0.0.1:3000');
  assert.deepEqual(parsed.config.listen, { host: '127.0.0.1', port: 8081 });
  assert.deepEqual(parsed.config.metrics, { host: '0.0.0.0', port: 9090 });
  assert.equal(parsed.config.redisUrl, 'rediss://:pw@redis:6380');
  assert.match(parsed.config.sidecarId, /^pod-example-\d+$/);
});

test('every problem is reported at once', () => {
  const parsed = parseConfig(['--listen', 'nope', '--redis', 'http://x'], {}, 'h');
  assert.equal(parsed.ok, false);
  assert.equal(parsed.errors.length, 4);
});

test('sidecar ids are safe heartbeat members', () => {
  assert.equal(sidecarIdFrom('checkout-7d9f.abc'), 'checkout-7d9f-abc');
  assert.equal(sidecarIdFrom('x'.repeat(100)).length, 64);
});

test('the Redis CA file and the replica-acknowledged mode', () => {
  const base = ['--sale', 's.yaml', '--upstream', 'http://127.0.0.1:3000'];
  const on = parseConfig(
    [...base, '--redis-wait-replicas', '1'],
    {
      FLASHGUARD_REDIS_CA_FILE: '/etc/flashguard/redis/ca.crt',
      FLASHGUARD_REDIS_URL: 'redis+sentinel://s1:26379,s2:26379/main',
    },
    'h',
  );
  assert.ok(on.ok);
  assert.equal(on.config.redisCaFile, '/etc/flashguard/redis/ca.crt');
  assert.deepEqual(on.config.replicaAck, { replicas: 1, timeoutMs: 100 });
  const off = parseConfig(base, {}, 'h');
  assert.ok(off.ok);
  assert.equal(off.config.replicaAck, undefined);
  const bad = parseConfig(
    [...base, '--redis-wait-replicas=-1', '--redis-wait-timeout', '5000'],
    {},
    'h',
  );
  assert.equal(bad.ok, false);
  assert.equal(bad.errors.length, 2);
});

test('workload mode instead of a sale file, from the environment as the webhook injects it', () => {
  const parsed = parseConfig(
    [],
    {
      FLASHGUARD_WORKLOAD: 'shop/Deployment/checkout',
      FLASHGUARD_UPSTREAM: 'http://127.0.0.1:3000',
    },
    'h',
  );
  assert.ok(parsed.ok);
  assert.deepEqual(parsed.config.source, {
    kind: 'workload',
    workload: { namespace: 'shop', kind: 'Deployment', name: 'checkout' },
  });
});

test('a sale file and a workload together, or a malformed workload, are refused', () => {
  const both = parseConfig(
    ['--sale', 's.yaml', '--workload', 'a/Deployment/b', '--upstream', 'http://u:1'],
    {},
    'h',
  );
  assert.equal(both.ok, false);
  const malformed = parseConfig(
    ['--workload', 'shop/checkout', '--upstream', 'http://u:1'],
    {},
    'h',
  );
  assert.deepEqual(malformed.ok ? [] : malformed.errors, [
    '--workload: expected NS/KIND/NAME, got "shop/checkout"',
  ]);
});
