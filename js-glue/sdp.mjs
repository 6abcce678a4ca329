// What the glue changes in a peer's session description before the browser reads it.
//
// Firefox (ESR 153) keeps the a=rtcp-fb lines of the codecs setCodecPreferences took out of an m-line,
// naming payload types the m-line no longer lists; Chromium then refuses the whole description
// ("Failed to parse codecs correctly") and a Firefox clinician could never call a Chromium patient.
// A line about a payload type its m-line does not carry says nothing: dropping it changes no
// negotiation, and the fingerprint that binds the E2EE code is untouched.
export function withoutOrphanCodecLines(sdp) {
  let formats = null;   // the current m-line's payload types; null before the first m-line
  return sdp.split('\r\n').filter((line) => {
    const m = /^m=\S+ \S+ \S+(?: (.*))?$/.exec(line);
    if (m) {
      formats = new Set((m[1] || '').split(' ').filter(Boolean));
      return true;
    }
    const a = /^a=(?:rtcp-fb|fmtp|rtpmap):(\d+)[ \t]/.exec(line);
    return !a || !formats || formats.has(a[1]);
  }).join('\r\n');
}
