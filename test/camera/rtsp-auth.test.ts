import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { authorizationHeader, parseChallenge, pickChallenge, splitCredentials } from '../../src/camera/rtsp-auth.ts';

describe('rtsp auth', () => {
  test('parses Digest and Basic challenges', () => {
    assert.deepEqual(parseChallenge('Digest realm="IP Camera(C1234)", nonce="abc123", stale="FALSE", qop="auth"'), {
      scheme: 'digest',
      params: { realm: 'IP Camera(C1234)', nonce: 'abc123', stale: 'FALSE', qop: 'auth' },
    });
    assert.deepEqual(parseChallenge('Basic realm="cam"'), { scheme: 'basic', params: { realm: 'cam' } });
    assert.equal(parseChallenge('Bearer realm="x"'), undefined);
    assert.equal(pickChallenge(['Basic realm="a"', 'Digest realm="a", nonce="n"'])?.scheme, 'digest');
  });

  test('RFC 2617 §3.5 digest example', () => {
    const challenge = parseChallenge('Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"')!;
    const header = authorizationHeader(challenge, { username: 'Mufasa', password: 'Circle Of Life' }, {
      method: 'GET',
      uri: '/dir/index.html',
      cnonce: '0a4f113b',
      nonceCount: 1,
    });
    assert.match(header, /response="6629fae49393a05397450978507c4ef1"/);
    assert.match(header, /qop=auth, nc=00000001, cnonce="0a4f113b"/);
    assert.match(header, /opaque="5ccc069c403ebaf9f0171e9517f40e41"/);
  });

  test('digest without qop (RFC 2069 style, common on cameras)', () => {
    const challenge = parseChallenge('Digest realm="r", nonce="n"')!;
    const header = authorizationHeader(challenge, { username: 'u', password: 'p' }, { method: 'OPTIONS', uri: 'rtsp://h/s' });
    // md5(md5("u:r:p"):n:md5("OPTIONS:rtsp://h/s"))
    assert.match(header, /^Digest username="u", realm="r", nonce="n", uri="rtsp:\/\/h\/s", response="[0-9a-f]{32}"$/);
  });

  test('basic', () => {
    assert.equal(authorizationHeader({ scheme: 'basic', params: {} }, { username: 'admin', password: 'p@ss' }, { method: 'OPTIONS', uri: '' }), `Basic ${Buffer.from('admin:p@ss').toString('base64')}`);
  });

  test('splitCredentials decodes percent-encoding and strips them from the URL', () => {
    assert.deepEqual(splitCredentials('rtsp://ad%40min:p%3Ass@10.0.0.2:554/s1?x=1'), {
      url: 'rtsp://10.0.0.2:554/s1?x=1',
      credentials: { username: 'ad@min', password: 'p:ss' },
    });
    assert.deepEqual(splitCredentials('rtsp://10.0.0.2/s1'), { url: 'rtsp://10.0.0.2/s1' });
  });
});
