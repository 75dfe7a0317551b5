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
