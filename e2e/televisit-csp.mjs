// The Content-Security-Policy televisitd sends with no EHR origins configured (src/server/tv_http.c).
// The test-only static server sends it too, and tests/server/televisitd.test.mjs checks that the
// real server's header is this string, so the fixtures never run under a policy of their own.
export const TELEVISIT_CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; " +
  "img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; worker-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'self'";
