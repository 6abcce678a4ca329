// The session-description clean-up the glue applies to a peer's offer or answer (js-glue/sdp.mjs),
// on the description Firefox ESR 153 really makes after setCodecPreferences(VP8, rtx): its a=rtcp-fb
// lines of removed codecs made Chromium refuse it. The check that Chromium then accepts it runs in the
// browser suite (e2e/firefox.spec.mjs, a Firefox clinician calling a Chromium patient).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withoutOrphanCodecLines } from '../../js-glue/sdp.mjs';

const firefoxOffer = [
  'v=0', 'o=mozilla...THIS_IS_SDPARTA-99.0 1 0 IN IP4 0.0.0.0', 's=-', 't=0 0',
  'a=fingerprint:sha-256 AA:BB', 'a=group:BUNDLE 0 1',
  'm=audio 9 UDP/TLS/RTP/SAVPF 109', 'a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1',
  'a=rtcp-fb:109 transport-cc', 'a=rtpmap:109 opus/48000/2',
  'm=video 9 UDP/TLS/RTP/SAVPF 120 124', 'a=fmtp:120 max-fs=12288;max-fr=60', 'a=fmtp:124 apt=120',
  'a=rtcp-fb:120 nack', 'a=rtcp-fb:120 nack pli', 'a=rtcp-fb:121 nack', 'a=rtcp-fb:121 ccm fir',
  'a=rtcp-fb:99 goog-remb', 'a=rtcp-fb:123 transport-cc', 'a=rtcp-fb:122 nack', 'a=rtcp-rsize',
  'a=rtpmap:120 VP8/90000', 'a=rtpmap:124 rtx/90000', 'a=ssrc-group:FID 4237230943 827327558', '',
].join('\r\n');

test('lines about payload types their m-line does not carry go; everything else stays, in order', () => {
  const out = withoutOrphanCodecLines(firefoxOffer);
  for (const pt of ['121', '99', '123', '122']) assert.ok(!out.includes(`a=rtcp-fb:${pt} `), pt);
  const kept = firefoxOffer.split('\r\n').filter((l) => !/^a=rtcp-fb:(121|99|123|122) /.test(l));
  assert.deepEqual(out.split('\r\n'), kept);
  assert.ok(out.endsWith('\r\n'));
});

test('a payload type is judged by its own m-line: audio\'s 109 does not keep a video line naming 109', () => {
  const sdp = ['v=0', 'm=audio 9 RTP/SAVPF 109', 'a=rtpmap:109 opus/48000/2', 'm=video 9 RTP/SAVPF 120',
    'a=rtcp-fb:109 nack', 'a=rtpmap:120 VP8/90000'].join('\r\n');
  assert.equal(withoutOrphanCodecLines(sdp), sdp.replace('\r\na=rtcp-fb:109 nack', ''));
});

test('a description without such lines comes back the same, byte for byte', () => {
  const chromium = ['v=0', 'm=video 9 UDP/TLS/RTP/SAVPF 96 97', 'a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 nack',
    'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96', 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'a=sctp-port:5000', ''].join('\r\n');
  assert.equal(withoutOrphanCodecLines(chromium), chromium);
});
