/** The one redactor: URL passwords, secret query values, key=value secrets and Authorization credentials in any text. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redactSecrets, redactUrlPasswords, withoutUserinfo } from '../../src/util/redact.ts';

describe('redactSecrets', () => {
  const cases: Array<[string, string]> = [
    ['rtsp://admin:s3cret@10.0.0.2/live', 'rtsp://admin:***@10.0.0.2/live'],
    // A raw `@`, `:`, `?` or `#` in a password: the password ends at the authority's last `@`.
    ['rtsp://admin:p@ss@w0rd@10.0.0.2:554/x', 'rtsp://admin:***@10.0.0.2:554/x'],
    ['rtsp://admin:pa:ss:wd@10.0.0.2/x', 'rtsp://admin:***@10.0.0.2/x'],
    ['rtsp://admin:pa?ss#wd@10.0.0.2/x', 'rtsp://admin:***@10.0.0.2/x'],
    ['rtsp://admin:pa%40ss%3Awd@10.0.0.2/x', 'rtsp://admin:***@10.0.0.2/x'],
    ['rtsps://u:pw@cam', 'rtsps://u:***@cam'],
    ['rtsp://admin@10.0.0.2/live', 'rtsp://admin@10.0.0.2/live'],
    ['rtsp://10.0.0.2/cam/realmonitor?channel=1&user=admin&password=hunter2', 'rtsp://10.0.0.2/cam/realmonitor?channel=1&user=admin&password=***'],
    ['rtsp://10.0.0.2/videoMain?usr=admin&pwd=hunter2&x=1', 'rtsp://10.0.0.2/videoMain?usr=admin&pwd=***&x=1'],
    ['rtsp://10.0.0.2/live?passwd=a@b:c', 'rtsp://10.0.0.2/live?passwd=***'],
    ['rtsp://10.0.0.2/h264Preview_01_main?token=abc123&x=1', 'rtsp://10.0.0.2/h264Preview_01_main?token=***&x=1'],
    ['grant_type=authorization_code&code=ANcode123', 'grant_type=authorization_code&code=***'],
    ['[error] rtsp://admin:secret@127.0.0.1:18554/stream1: Server returned 401 Unauthorized', '[error] rtsp://admin:***@127.0.0.1:18554/stream1: Server returned 401 Unauthorized'],
    ["Input #0, rtsp, from 'rtsp://a:b@h/s':", "Input #0, rtsp, from 'rtsp://a:***@h/s':"],
    ['rtsp://a:b@h:554: Connection refused', 'rtsp://a:***@h:554: Connection refused'],
    ['{"url":"mqtt://u:p@broker:1883","x":1}', '{"url":"mqtt://u:***@broker:1883","x":1}'],
    ['Authorization: Bearer tok-abc.def', 'Authorization: Bearer ***'],
    ['Authorization: Basic YWRtaW46aHVudGVyMg==', 'Authorization: Basic ***'],
    ['login failed: password=hunter2, retrying', 'login failed: password=***, retrying'],
    ['{"client_secret":"cs-1","token": "t-2"}', '{"client_secret":"***","token": "***"}'],
    // Left alone: no credential in these.
    ['file:media/demo.mp4', 'file:media/demo.mp4'],
    ['rtp://127.0.0.1:40002?pkt_size=1200', 'rtp://127.0.0.1:40002?pkt_size=1200'],
    ['codec=PCMU keyint=50 passthrough=1', 'codec=PCMU keyint=50 passthrough=1'],
    ['ffmpeg exited with code 1', 'ffmpeg exited with code 1'],
    ['mail me at someone@example.com', 'mail me at someone@example.com'],
  ];
  for (const [from, to] of cases) {
    it(from, () => assert.equal(redactSecrets(from), to));
  }

  it('redactUrlPasswords touches URLs only', () => {
    assert.equal(redactUrlPasswords('password=x rtsp://a:b@h/'), 'password=x rtsp://a:***@h/');
  });
});

describe('withoutUserinfo', () => {
  it('drops user and password, whatever they hold', () => {
    assert.equal(withoutUserinfo('rtsp://admin:p@ss:wd@10.0.0.2:554/trackID=4'), 'rtsp://10.0.0.2:554/trackID=4');
    assert.equal(withoutUserinfo('rtsp://admin@10.0.0.2/x'), 'rtsp://10.0.0.2/x');
    assert.equal(withoutUserinfo('rtsp://10.0.0.2/x?a=b@c'), 'rtsp://10.0.0.2/x?a=b@c');
    assert.equal(withoutUserinfo('trackID=4'), 'trackID=4');
  });
});
