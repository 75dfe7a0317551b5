import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { classifyUpstreamError, forwardHeaders } from './upstream.ts';

describe('forwarded headers', () => {
  test('hop-by-hop headers and the ones Connection lists stay behind; the extra one is added', () => {
    const out = forwardHeaders(
      {
        host: 'shop',
        connection: 'keep-alive, X-Trace',
        'keep-alive': 'timeout=5',
        'transfer-encoding': 'chunked',
        'content-length': '12',
        'x-trace': 'abc',
        'x-user-id': 'u1',
        'set-cookie': ['a=1', 'b=2'],
        absent: undefined,
      },
      { name: 'x-flashguard-reservation', value: 'r1' },
    );
    assert.deepEqual(out, {
      host: 'shop',
      'x-user-id': 'u1',
      'set-cookie': ['a=1', 'b=2'],
      'x-flashguard-reservation': 'r1',
    });
  });
  test('without a Connection header every end-to-end header is kept', () => {
    assert.deepEqual(forwardHeaders({ 'content-type': 'application/json', te: 'trailers' }), {
      'content-type': 'application/json',
    });
  });
});

describe('upstream errors', () => {
  test('a refused connection never reached the shop; a reset or timeout may have', () => {
    assert.equal(classifyUpstreamError({ code: 'ECONNREFUSED' }), 'not-sent');
    assert.equal(classifyUpstreamError({ code: 'UND_ERR_CONNECT_TIMEOUT' }), 'not-sent');
    assert.equal(classifyUpstreamError({ code: 'ECONNRESET' }), 'lost');
    assert.equal(classifyUpstreamError({ code: 'UND_ERR_HEADERS_TIMEOUT' }), 'lost');
    assert.equal(classifyUpstreamError(new Error('no code')), 'lost');
  });
});
