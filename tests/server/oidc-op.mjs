// A real OpenID provider for the tests: panva's oidc-provider on loopback over HTTPS (its own
// self-signed certificate, which televisitd is told to trust), signing ID tokens with RS256 or ES256
// per client, with PKCE required. It also plays the EHR's side of a SMART launch: the FHIR base's
// .well-known/smart-configuration, the launch scope, and launch context in the token answer.
// Its sign-in page is oidc-provider's development form: any login name, any password.
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

export function selfSignedCert(dir, name = 'localhost') {
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=DNS:${name},IP:127.0.0.1`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  return { key: readFileSync(key), cert: readFileSync(cert), certFile: cert };
}

// accounts: login name -> claims. launchContexts: launch handle -> extra token-answer members.
export async function startProvider({ port, redirectUri, accounts = {}, launchContexts = {} }) {
  const dir = mkdtempSync(join(tmpdir(), 'tv-op-'));
  const tls = selfSignedCert(dir);
  const issuer = `https://localhost:${port}`;
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const keys = [
    { ...(await exportJWK(rsa.privateKey)), kid: 'rs-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.privateKey)), kid: 'es-1', alg: 'ES256', use: 'sig' },
  ];
  const secret = 'test-client-secret-0123456789abcdef';
  const client = (id, alg) => ({
    client_id: id, client_secret: secret, redirect_uris: [redirectUri],
    grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: alg,
  });
  let pendingContext = null;
  const provider = new Provider(issuer, {
    clients: [client('tv-rs', 'RS256'), client('tv-es', 'ES256'), client('tv-smart', 'RS256')],
    jwks: { keys },
    pkce: { required: () => true, methods: ['S256'] },
    scopes: ['openid', 'email', 'profile', 'fhirUser', 'launch'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], fhirUser: ['fhirUser'] },
    conformIdTokenClaims: false,   // the claims in the ID token itself, which is all televisitd reads
    extraParams: ['launch', 'aud'],
    features: { devInteractions: { enabled: true } },
    cookies: { keys: ['test-cookie-key-0123456789'] },
    // consent is the provider's business, not what these tests are about: every scope is granted
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
      grant.addOIDCScope('openid email profile fhirUser launch');
      grant.addOIDCClaims(['email', 'email_verified', 'fhirUser']);
      await grant.save();
      return grant;
    },
    async findAccount(ctx, sub) {
      const claims = accounts[sub] ?? { email: `${sub}@example.org`, email_verified: false };
      return { accountId: sub, claims: async () => ({ sub, ...claims }) };
    },
  });
  // SMART: the launch handle chosen at /auth decides the context returned with the token
  provider.use(async (ctx, next) => {
    if (ctx.path === '/auth' && ctx.query.launch) pendingContext = launchContexts[ctx.query.launch] ?? null;
    await next();
    if (ctx.path === '/token' && ctx.status === 200 && pendingContext && ctx.body?.id_token) {
      Object.assign(ctx.body, pendingContext);
      pendingContext = null;
    }
  });
  const fhirBase = `${issuer}/fhir`;
  const handler = provider.callback();
  const server = createServer({ key: tls.key, cert: tls.cert }, (req, res) => {
    if (req.url === '/fhir/.well-known/smart-configuration') {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({
        issuer, jwks_uri: `${issuer}/jwks`, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`,
        capabilities: ['launch-ehr', 'client-confidential-symmetric', 'sso-openid-connect', 'context-ehr-patient'],
        code_challenge_methods_supported: ['S256'],
      }));
      return;
    }
    handler(req, res);
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  // The providers file televisitd reads (mode 0600: it holds client secrets).
  const providersFile = join(dir, 'providers.json');
  writeFileSync(providersFile, JSON.stringify({ providers: [
    { id: 'op-rs', name: 'Test SSO', issuer, client_id: 'tv-rs', client_secret: secret, auto_provision: true },
    { id: 'op-es', name: 'Test SSO (ES256)', issuer, client_id: 'tv-es', client_secret: secret },
    { id: 'ehr', name: 'Test EHR', issuer, client_id: 'tv-smart', client_secret: secret, fhir_base: fhirBase,
      scopes: 'openid fhirUser launch' },
  ] }));
  chmodSync(providersFile, 0o600);
  return {
    issuer, fhirBase, providersFile, caFile: tls.certFile, provider, keys,
    setLaunchContext: (handle, context) => { launchContexts[handle] = context; },
    stop: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => { rmSync(dir, { recursive: true, force: true }); resolve(); }); }),
  };
}
