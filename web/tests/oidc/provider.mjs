// A real OpenID Connect provider for the single sign-on tests: the certified
// `oidc-provider` package, with its own keys, authorization code flow with PKCE,
// discovery and JWKS. The tests drive it like a person and a misbehaving network would:
//
//   GET  /interaction/:uid           the provider's sign-in form (one field: the account)
//   POST /interaction/:uid           signs in as that account
//   POST /test/accounts              {sub: {email, email_verified, given_name, ...}}
//   POST /test/client                {client_id, client_secret, redirect_uri}
//   POST /test/tamper                {kind}: the next ID tokens the token endpoint sends are
//                                    altered in transit: nonce, audience, expired,
//                                    signature (signed with a key the provider never
//                                    published, under a published key id), none (unsigned);
//                                    {kind: null} stops it
//   POST /test/rotate                new signing key; the old one is no longer published
//   GET  /test/stats                 how often discovery and JWKS were fetched
//
// Prints `ready <issuer>` on stdout once it listens.
import http from 'node:http';
import crypto from 'node:crypto';
import Provider from 'oidc-provider';
import * as jose from 'jose';

const server = http.createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

let accounts = {};
let clients = [];
let tamper = null;
let keys = [await newKey()];
const stats = { discovery: 0, jwks: 0, token: 0 };
let provider = build();

async function newKey() {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = await jose.exportJWK(privateKey);
  return { ...jwk, kid: crypto.randomUUID(), alg: 'RS256', use: 'sig' };
}

function build() {
  const p = new Provider(issuer, {
    clients,
    jwks: { keys },
    cookies: { keys: ['partnerdesk-test-provider'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'locale'],
    },
    // The claims go into the ID token, as Google and Microsoft put them.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    findAccount: (ctx, sub) => (accounts[sub]
      ? { accountId: sub, claims: () => ({ sub, ...accounts[sub] }) }
      : undefined),
    // First-party client: no consent screen.
    loadExistingGrant: async (ctx) => {
      const id = ctx.oidc.result?.consent?.grantId || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (id) return ctx.oidc.provider.Grant.find(id);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
  });
  p.use(async (ctx, next) => {
    if (ctx.path === '/.well-known/openid-configuration') stats.discovery += 1;
    if (ctx.path === '/jwks') stats.jwks += 1;
    const interaction = ctx.path.match(/^\/interaction\/([^/]+)$/);
    if (interaction) return signInForm(p, ctx);
    await next();
    if (ctx.path === '/token' && ctx.status === 200) {
      stats.token += 1;
      if (tamper && ctx.body && ctx.body.id_token) ctx.body.id_token = await altered(ctx.body.id_token);
    }
  });
  return p;
}

async function signInForm(p, ctx) {
  const details = await p.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = `<!doctype html><title>Test provider</title><h1>Sign in at the test provider</h1>
<form method="post"><label>Account <input name="account" id="account" autofocus></label>
<button type="submit" id="sign-in">Sign in</button></form><p>${details.params.client_id}</p>`;
    return undefined;
  }
  const body = await new Promise((resolve) => {
    let data = '';
    ctx.req.on('data', (chunk) => { data += chunk; });
    ctx.req.on('end', () => resolve(new URLSearchParams(data)));
  });
  const accountId = body.get('account');
  if (!accounts[accountId]) {
    ctx.status = 400;
    ctx.body = 'unknown account';
    return undefined;
  }
  const to = await p.interactionResult(ctx.req, ctx.res, { login: { accountId } }, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(to);
  return undefined;
}

async function altered(idToken) {
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  const current = keys[keys.length - 1];
  let key = await jose.importJWK(current, 'RS256');
  let header = { alg: 'RS256', kid: current.kid, typ: 'JWT' };
  switch (tamper) {
    case 'nonce': claims.nonce = 'a-nonce-from-another-sign-in'; break;
    case 'audience': claims.aud = 'another-application'; break;
    case 'expired': claims.iat = now - 7200; claims.exp = now - 3600; break;
    case 'signature': key = (await jose.generateKeyPair('RS256')).privateKey; break;
    case 'none': {
      const enc = (v) => Buffer.from(JSON.stringify(v)).toString('base64url');
      return `${enc({ alg: 'none', typ: 'JWT' })}.${enc(claims)}.`;
    }
    default: throw new Error(`unknown tamper kind ${tamper}`);
  }
  return new jose.SignJWT(claims).setProtectedHeader(header).sign(key);
}

async function readJson(req) {
  let data = '';
  for await (const chunk of req) data += chunk;
  return data ? JSON.parse(data) : {};
}

async function control(req, res) {
  const body = req.method === 'POST' ? await readJson(req) : {};
  switch (req.url) {
    case '/test/accounts': accounts = { ...accounts, ...body }; break;
    case '/test/client':
      clients = [...clients.filter((c) => c.client_id !== body.client_id), {
        client_id: body.client_id,
        client_secret: body.client_secret,
        redirect_uris: [body.redirect_uri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
      }];
      provider = build();
      break;
    case '/test/tamper': tamper = body.kind ?? null; break;
    case '/test/rotate': keys = [await newKey()]; provider = build(); break;
    case '/test/stats': break;
    default: res.writeHead(404).end(); return;
  }
  res.writeHead(200, { 'content-type': 'application/json' })
    .end(JSON.stringify({ ...stats, kid: keys[keys.length - 1].kid }));
}

server.on('request', (req, res) => {
  if (req.url.startsWith('/test/')) {
    control(req, res).catch((e) => res.writeHead(500).end(String(e)));
  } else {
    provider.callback()(req, res);
  }
});
console.log(`ready ${issuer}`);
