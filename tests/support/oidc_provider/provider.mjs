// A real, certified OpenID provider for tests: panva's oidc-provider with one confidential client and a few accounts.
//
//   node provider.mjs [PORT] [ISSUER]      (or env PORT / ISSUER; ISSUER defaults to http://127.0.0.1:PORT)
//
// env: CLIENT_ID, CLIENT_SECRET, REDIRECT_URIS, POST_LOGOUT_REDIRECT_URIS (space- or comma-separated),
//      ACCOUNTS (JSON {accountId: {password, ...claims}}, replaces the defaults below).
// Prints "READY <issuer>" on stdout once it listens.
//
// Login is a plain HTML form served by this script (no script, no external resources — the built-in
// devInteractions pages and default logout pages @import fonts from the internet, so they are replaced here):
//   GET  /interaction/:uid          login prompt  -> form POST /interaction/:uid/login   fields: login, password
//                                   consent prompt -> form POST /interaction/:uid/confirm (no fields)
//   GET  /interaction/:uid/abort    -> access_denied back to the client
// id_token claims follow the default conformIdTokenClaims: with a plain authorization-code request the id_token
// carries only sub (+ protocol claims); name/email/... come from the userinfo endpoint.
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';

const env = process.env;
const port = Number(process.argv[2] || env.PORT || 9400);
const issuer = (process.argv[3] || env.ISSUER || `http://127.0.0.1:${port}`).replace(/\/$/, '');
const list = (value, fallback) => (value ? value.split(/[\s,]+/).filter(Boolean) : fallback);

const ACCOUNTS = env.ACCOUNTS ? JSON.parse(env.ACCOUNTS) : {
  'id-4711': {
    password: 'alice-pw', name: 'Alice Example', preferred_username: 'alice',
    email: 'alice@example.com', email_verified: true,
  },
  'id-4712': { // claims alice's address and username, but the provider never verified the email
    password: 'mallory-pw', name: 'Mallory', preferred_username: 'alice',
    email: 'alice@example.com', email_verified: false,
  },
  'id-4713': {
    password: 'bob-pw', name: 'Bob Example', preferred_username: 'bob',
    email: 'bob@example.com', email_verified: true,
  },
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' };

const page = (title, body) => `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head>`
  + `<body><h1>${title}</h1>${body}</body></html>`;
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const provider = new Provider(issuer, {
  clients: [{
    client_id: env.CLIENT_ID || 'chatlens-test',
    client_secret: env.CLIENT_SECRET || 'test-client-secret',
    redirect_uris: list(env.REDIRECT_URIS, ['http://127.0.0.1:7860/auth/callback']),
    post_logout_redirect_uris: list(env.POST_LOGOUT_REDIRECT_URIS, ['http://127.0.0.1:7860/']),
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // token_endpoint_auth_method defaults to client_secret_basic (authlib's default too)
  }],
  jwks: { keys: [signingKey] },
  pkce: { required: () => true }, // ChatLens always sends S256; the default requires it of public clients only
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: { Session: 3600, Interaction: 600, Grant: 3600, AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600 },
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
  },
  async findAccount(ctx, accountId) {
    const account = ACCOUNTS[accountId];
    if (!account) return undefined;
    const { password, ...claims } = account;
    return { accountId, async claims() { return { sub: accountId, ...claims }; } };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      // `form` is <form id="op.logoutForm" method="post" action="/session/end/confirm"> with a hidden xsrf field;
      // the "yes" button submits logout=yes with it (ends the whole provider session).
      async logoutSource(ctx, form) {
        ctx.body = page('Sign out?', `${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">`
          + 'Yes, sign me out</button><button type="submit" form="op.logoutForm">No, stay signed in</button>');
      },
      async postLogoutSuccessSource(ctx) { ctx.body = page('Signed out', '<p>You are signed out.</p>'); },
    },
  },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<pre>${esc(JSON.stringify(out, null, 2))}</pre>`);
  },
});

async function formBody(req) {
  let raw = '';
  for await (const chunk of req) raw += chunk;
  return Object.fromEntries(new URLSearchParams(raw));
}

provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/.exec(ctx.path);
  if (!match) return next();
  const [, uid, action] = match;
  ctx.set('cache-control', 'no-store');
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  const { prompt, params, session } = details;

  if (!action && ctx.method === 'GET') {
    ctx.type = 'html';
    ctx.body = prompt.name === 'login'
      ? page('Sign-in', `<form method="post" action="/interaction/${uid}/login">`
        + `<input name="login" placeholder="login" value="${esc(params.login_hint)}" required>`
        + '<input name="password" type="password" placeholder="password" required>'
        + '<button type="submit">Sign-in</button></form>'
        + (ctx.query.error ? '<p role="alert">Wrong login or password.</p>' : ''))
      : page('Authorize', `<p>${esc(params.client_id)} asks for: ${esc(params.scope)}</p>`
        + `<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Continue</button></form>`);
    return undefined;
  }
  if (action === 'abort') {
    const error = { error: 'access_denied', error_description: 'End-User aborted interaction' };
    return ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, error, { mergeWithLastSubmission: false }));
  }
  if (ctx.method !== 'POST') ctx.throw(405);
  ctx.status = 303;
  if (action === 'login') {
    if (prompt.name !== 'login') ctx.throw(400, 'not a login prompt');
    const { login, password } = await formBody(ctx.req);
    if (!ACCOUNTS[login] || ACCOUNTS[login].password !== password) {
      return ctx.redirect(`/interaction/${uid}?error=1`);
    }
    const result = { login: { accountId: login } };
    return ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }));
  }
  // confirm: grant what the consent prompt says is missing (as the devInteractions do)
  if (prompt.name !== 'consent') ctx.throw(400, 'not a consent prompt');
  const { details: missing } = prompt;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  if (missing.missingResourceScopes) {
    for (const [indicator, scope] of Object.entries(missing.missingResourceScopes)) {
      grant.addResourceScope(indicator, scope.join(' '));
    }
  }
  const result = { consent: { grantId: await grant.save() } };
  return ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true }));
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));
const server = provider.listen(port, '127.0.0.1', () => console.log(`READY ${issuer}`));
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => server.close(() => process.exit(0)));
