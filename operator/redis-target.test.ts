import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  redisSource,
  targetFromSecret,
  targetHost,
  targetId,
  type SecretSource,
} from './redis-target.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');
const source: SecretSource = { namespace: 'shop', name: 'shop-redis', key: 'url' };

void describe('redisSource', () => {
  it("a sale's secretRef is read in the sale's namespace", () => {
    assert.deepEqual(
      redisSource('shop', { secretName: 's', secretKey: 'endpoint' }, { kind: 'url', url: 'x' }),
      { kind: 'secret', namespace: 'shop', name: 's', key: 'endpoint' },
    );
  });
  it('without one: the default URL, or the default Secret in its own namespace', () => {
    assert.deepEqual(redisSource('shop', null, { kind: 'url', url: 'redis://r:6379' }), {
      kind: 'url',
      url: 'redis://r:6379',
    });
    assert.deepEqual(
      redisSource('shop', null, { kind: 'secret', namespace: 'flashguard', name: 'redis' }),
      { kind: 'secret', namespace: 'flashguard', name: 'redis', key: 'url' },
    );
  });
});

void describe('targetFromSecret', () => {
  it('decodes the URL and the optional CA', () => {
    assert.deepEqual(
      targetFromSecret(source, { url: b64('rediss://:pw@r:6380\n'), 'ca.crt': b64('PEM') }),
      { ok: true, target: { url: 'rediss://:pw@r:6380', ca: 'PEM' } },
    );
  });
  it('a missing key is RedisSecretInvalid, naming the key', () => {
    assert.deepEqual(targetFromSecret(source, { uri: b64('redis://r') }), {
      ok: false,
      problem: { reason: 'RedisSecretInvalid', message: 'Secret shop/shop-redis has no key "url"' },
    });
    assert.equal(targetFromSecret(source, undefined).ok, false);
  });
  it('a value that is no Redis URL is refused without echoing it (it may hold a password)', () => {
    const result = targetFromSecret(source, { url: b64('http://user:secret@r') });
    assert.equal(result.ok, false);
    assert.doesNotMatch(JSON.stringify(result), /secret@/);
  });
  it('takes every scheme the connection takes, Sentinel over TLS included', () => {
    const url = 'rediss+sentinel://:pw@s1:26379,s2:26379/main?sentinelPassword=sp';
    assert.deepEqual(targetFromSecret(source, { url: b64(url) }), {
      ok: true,
      target: { url, ca: undefined },
    });
  });
  it('names the host(s) of a target without its credentials', () => {
    assert.equal(targetHost({ url: 'rediss://u:pw@r:6380', ca: undefined }), 'r:6380');
    const sentinels = {
      url: 'redis+sentinel://:pw@s1:1,s2:2/main?sentinelPassword=x',
      ca: undefined,
    };
    assert.equal(targetHost(sentinels), 's1:1,s2:2');
    assert.equal(targetHost({ url: 'redis://[::1]:6379', ca: undefined }), '[::1]:6379');
    assert.equal(targetHost({ url: 'nonsense', ca: undefined }), '(unparsable URL)');
    // A password with an unencoded "/" must not show up as a "host".
    assert.equal(targetHost({ url: 'redis://u:se/cret@r:1', ca: undefined }), '(unparsable URL)');
  });
  it('pools by URL and CA', () => {
    assert.notEqual(
      targetId({ url: 'rediss://r', ca: 'A' }),
      targetId({ url: 'rediss://r', ca: 'B' }),
    );
    assert.equal(
      targetId({ url: 'redis://r', ca: undefined }),
      targetId({ url: 'redis://r', ca: undefined }),
    );
  });
});
