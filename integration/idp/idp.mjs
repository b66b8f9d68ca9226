// Test OpenID provider for the gettoken integration stack. NOT for production.
//
// Usage: node idp.mjs <config.json>   (config written by integration/stack/idp.go)
//
// Everything standard (discovery, JWKS, device authorization, device_code /
// refresh_token / authorization_code grants, the /device pages) is panva's
// oidc-provider. This file adds: an account table with real password checks
// (login + consent pages), WLCG-like JWT access tokens, an RFC 8693
// token-exchange grant, a userinfo endpoint that accepts those JWTs, and
// test-only JSON control routes under /test/.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';
import { jwtVerify } from 'jose';

const cfg = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const port = cfg.port;
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error('config: port must be an integer 1..65535');
const issuer = cfg.issuer || `http://127.0.0.1:${port}`;
const credkeyClaim = cfg.credkey_claim || 'wlcg.credkey';
const resourceScopes = cfg.scopes?.length ? cfg.scopes
  : ['storage.read:/', 'storage.create:/', 'compute.read', 'compute.modify', 'compute.create', 'compute.cancel'];
const defaultAudience = cfg.default_audience || 'https://wlcg.cern.ch/jwt/v1/any';
const accounts = new Map((cfg.accounts || []).map((a) => [a.id, a]));
const OIDC_SCOPES = ['openid', 'offline_access', 'email', 'profile', 'wlcg'];
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const AT_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const state = { ttl: cfg.access_token_ttl || 120, grants: new Map() }; // grants: accountId -> Set(grantId)

// A fresh RSA signing key per run; tokens never outlive the process anyway.
const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'idp-1', alg: 'RS256', use: 'sig' };

const log = (msg) => console.log(`${new Date().toISOString()} ${msg}`);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const invalidGrant = (why) => Object.assign(new errors.InvalidGrant(), { error_description: why });
const inter = (want, have) => want.filter((s) => have.includes(s));
const claimsOf = (a) => ({
  sub: a.id, email: a.email, email_verified: true, name: a.id, preferred_username: a.id, [credkeyClaim]: a.credkey,
});

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  clients: (cfg.clients || []).map((c) => ({
    client_id: c.client_id,
    client_secret: c.client_secret,
    redirect_uris: c.redirect_uris?.length ? c.redirect_uris : ['http://127.0.0.1/callback'],
    grant_types: ['authorization_code', 'refresh_token', 'urn:ietf:params:oauth:grant-type:device_code', EXCHANGE],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic', // post works too: both accepted for secret clients
  })),
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  responseTypes: ['code'],
  scopes: OIDC_SCOPES,
  claims: {
    openid: ['sub', 'email', credkeyClaim], // always in the ID token
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  conformIdTokenClaims: false,
  async findAccount(_ctx, id) {
    const a = accounts.get(id);
    if (!a) return undefined;
    return {
      accountId: a.id,
      async claims() {
        return claimsOf(a);
      },
    };
  },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: false }, // built-in one only takes opaque tokens; /me below takes our JWTs
    deviceFlow: {
      enabled: true,
      userCodeInputSource: (ctx, form, _out, err) => {
        ctx.body = page('Device login', `${err ? '<p class="err">That code is invalid or expired.</p>' : '<p>Enter the code shown on your device.</p>'}${form}<button type="submit" form="op.deviceInputForm">Continue</button>`);
      },
      userCodeConfirmSource: (ctx, form, client, _info, userCode) => {
        ctx.body = page('Confirm device', `<p>${esc(client.clientId)} asks to sign in. Code: <code>${esc(userCode)}</code></p>${form}<button type="submit" form="op.deviceConfirmForm">Continue</button> <button type="submit" form="op.deviceConfirmForm" name="abort" value="yes">Abort</button>`);
      },
      successSource: (ctx) => { ctx.body = page('Signed in', '<p>Sign-in successful; you can close this page.</p>'); },
    },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => (oneOf ? oneOf[0] : defaultAudience),
      useGrantedResource: () => true,
      // Any absolute URI is a resource server; its identifier becomes the aud.
      getResourceServerInfo: (_ctx, indicator) => ({
        scope: resourceScopes.join(' '), audience: indicator, accessTokenFormat: 'jwt', accessTokenTTL: state.ttl,
      }),
    },
  },
  discovery: { userinfo_endpoint: `${issuer}/me` },
  extraTokenClaims: () => ({ 'wlcg.ver': '1.0' }),
  formats: {
    customizers: {
      jwt(_ctx, token, jwt) {
        jwt.payload.exp = jwt.payload.iat + token.expiration; // exp - iat == TTL exactly
        if (token.exchangeAud) jwt.payload.aud = token.exchangeAud.length === 1 ? token.exchangeAud[0] : token.exchangeAud;
      },
    },
  },
  issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  expiresWithSession: () => false,
  rotateRefreshToken: () => cfg.rotate_refresh_tokens === true,
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { // seconds; AccessToken follows /test/ttl
    AccessToken: () => state.ttl, AuthorizationCode: 60, DeviceCode: 600, IdToken: 3600, Interaction: 3600,
    Grant: 14 * 86400, RefreshToken: 14 * 86400, Session: 14 * 86400,
  },
  renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error', `<p class="err">${esc(out.error)}: ${esc(out.error_description || '')}</p>`);
  },
});

// Allow any loopback redirect (http[s]://127.0.0.1[:port]/..., http[s]://localhost[:port]/...) for tests.
const origAllowed = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function allowed(uri) {
  return /^https?:\/\/(127\.0\.0\.1|localhost)(:\d+)?\//.test(uri) || origAllowed.call(this, uri);
};

provider.on('grant.saved', (grant) => {
  if (!state.grants.has(grant.accountId)) state.grants.set(grant.accountId, new Set());
  state.grants.get(grant.accountId).add(grant.jti);
});
provider.on('grant.error', (ctx, err) => log(`token error ${err.error}: ${err.error_description || ''} ${err.error_detail || ''}`));
provider.on('server_error', (_ctx, err) => log(`server error: ${err.stack}`));

// Verifies an access token issued by this IdP (signature, issuer, type, expiry).
async function verifyAccessToken(token) {
  const { payload } = await jwtVerify(token, publicKey, { issuer, typ: 'at+jwt', algorithms: ['RS256'] });
  return payload;
}

// RFC 8693 token exchange: same sub, reduced scope, requested audience(s).
async function tokenExchange(ctx) {
  const p = ctx.oidc.params;
  if (!p.subject_token) throw new errors.InvalidRequest('missing subject_token');
  if (p.subject_token_type !== AT_TYPE) throw new errors.InvalidRequest('unsupported subject_token_type');
  if (p.requested_token_type && p.requested_token_type !== AT_TYPE) throw new errors.InvalidRequest('unsupported requested_token_type');
  let subject;
  try {
    subject = await verifyAccessToken(p.subject_token);
  } catch {
    throw invalidGrant('subject_token is invalid or expired');
  }
  if (!accounts.has(subject.sub)) throw invalidGrant('subject account not found');
  const have = (subject.scope || '').split(' ').filter(Boolean);
  const asked = p.scope ? p.scope.split(' ').filter(Boolean) : have;
  // offline_access asks for a refresh token (Pelican's credmon needs one);
  // it is not a scope of the access token.
  const offline = asked.includes('offline_access') && ctx.oidc.client.grantTypeAllowed('refresh_token');
  const want = asked.filter((s) => s !== 'offline_access');
  const extra = want.filter((s) => !have.includes(s));
  if (extra.length) throw new errors.InvalidScope('requested scope exceeds the subject token scope', extra.join(' '));
  const auds = [...new Set([].concat(p.audience ?? [], p.resource ?? []).filter(Boolean))];
  if (!auds.length) auds.push(defaultAudience);
  const at = new provider.AccessToken({ accountId: subject.sub, client: ctx.oidc.client, gty: 'token_exchange', scope: want.join(' ') });
  at.resourceServer = new provider.ResourceServer(auds[0], { audience: auds[0], accessTokenFormat: 'jwt', scope: want.join(' ') });
  at.exchangeAud = auds;
  const value = await at.save();
  ctx.body = {
    access_token: value, issued_token_type: AT_TYPE, token_type: 'Bearer', expires_in: at.expiration, scope: want.join(' '),
  };
  if (offline) {
    // A grant of its own, so that the refresh_token grant (oidc-provider's)
    // finds the account, the client and the resource scopes it allows.
    const grant = new provider.Grant({ accountId: subject.sub, clientId: ctx.oidc.client.clientId });
    grant.addOIDCScope('offline_access');
    grant.addResourceScope(auds[0], want.join(' '));
    const grantId = await grant.save();
    const rt = new provider.RefreshToken({
      accountId: subject.sub, client: ctx.oidc.client, grantId, gty: 'token_exchange',
      scope: ['offline_access', ...want].join(' '), resource: auds[0], rotations: 0,
    });
    ctx.body.refresh_token = await rt.save();
  }
}
provider.registerGrantType(EXCHANGE, tokenExchange,
  ['subject_token', 'subject_token_type', 'requested_token_type', 'scope', 'audience', 'resource', 'actor_token', 'actor_token_type'],
  ['audience', 'resource']);

function page(title, body) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:28em;margin:2em auto}.err{color:#b00}input,button{font-size:1em;margin:.2em 0}</style>
</head><body><h1>${esc(title)}</h1>${body}</body></html>`;
}

const loginForm = (uid, msg) => page('Sign in', `${msg ? `<p class="err">${esc(msg)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label>Username <input name="login" autofocus required></label><br>
<label>Password <input name="password" type="password" required></label><br>
<button type="submit">Sign in</button></form>`);

async function readBody(req) {
  let s = '';
  for await (const chunk of req) {
    s += chunk;
    if (s.length > 65536) throw new Error('body too large');
  }
  return s;
}

// Finds a device code by user code (dash/case insensitive) that is still pending.
async function pendingDeviceCode(userCode) {
  const code = await provider.DeviceCode.findByUserCode(String(userCode || '').toUpperCase().replace(/\W/g, ''), { ignoreExpiration: true });
  if (!code) return [404, 'unknown user_code'];
  if (code.isExpired) return [400, 'user_code expired'];
  if (code.error || code.accountId || code.inFlight) return [409, 'user_code already used'];
  return [200, code];
}

// Test-only control API (JSON in/out). Exactly what /device + login + consent would store.
const control = {
  'GET /test/health': async () => ({ ok: true, issuer }),
  'POST /test/approve': async (b) => {
    if (!accounts.has(b.account)) return [404, 'unknown account'];
    const [st, code] = await pendingDeviceCode(b.user_code);
    if (st !== 200) return [st, code];
    const requested = (code.params.scope || '').split(' ').filter(Boolean);
    const oidcScopes = inter(requested, OIDC_SCOPES);
    const rsScopes = inter(requested, resourceScopes);
    const grant = new provider.Grant({ accountId: b.account, clientId: code.clientId });
    if (oidcScopes.length) grant.addOIDCScope(oidcScopes.join(' '));
    if (rsScopes.length) grant.addResourceScope(defaultAudience, rsScopes.join(' '));
    Object.assign(code, {
      accountId: b.account, grantId: await grant.save(), authTime: Math.floor(Date.now() / 1000), scope: [...oidcScopes, ...rsScopes].join(' '), resource: defaultAudience,
    });
    await code.save();
    log(`test: approved a device code for ${b.account}`);
    return { ok: true };
  },
  'POST /test/deny': async (b) => {
    const [st, code] = await pendingDeviceCode(b.user_code);
    if (st !== 200) return [st, code];
    Object.assign(code, { error: 'access_denied', errorDescription: 'End-User denied the authorization request' });
    await code.save();
    log('test: denied a device code');
    return { ok: true };
  },
  'POST /test/revoke': async (b) => {
    if (!accounts.has(b.account)) return [404, 'unknown account'];
    const ids = [...(state.grants.get(b.account) || [])];
    for (const id of ids) {
      await provider.RefreshToken.revokeByGrantId(id);
      await provider.Grant.adapter.destroy(id);
    }
    state.grants.delete(b.account);
    log(`test: revoked ${ids.length} grant(s) of ${b.account}`);
    return { ok: true, revoked: ids.length };
  },
  'POST /test/ttl': async (b) => {
    const t = b.access_token_ttl;
    if (!Number.isInteger(t) || t < 1 || t > 86400 * 30) return [400, 'access_token_ttl must be a positive integer (seconds)'];
    state.ttl = t;
    log(`test: access token TTL set to ${t}s`);
    return { ok: true, access_token_ttl: t };
  },
};

provider.use(async (ctx, next) => {
  log(`${ctx.method} ${ctx.path}`);
  const handler = control[`${ctx.method} ${ctx.path}`];
  if (handler) {
    let out;
    try {
      const raw = ctx.method === 'POST' ? await readBody(ctx.req) : '';
      out = await handler(raw ? JSON.parse(raw) : {});
    } catch (err) {
      out = [400, `bad request: ${err.message}`];
    }
    if (Array.isArray(out)) [ctx.status, ctx.body] = [out[0], { error: out[1] }];
    else ctx.body = out;
    return;
  }
  if (ctx.path === '/me' && ['GET', 'POST'].includes(ctx.method)) { // userinfo for our JWT access tokens
    const m = /^Bearer (\S+)$/i.exec(ctx.get('authorization'));
    let sub;
    try {
      ({ sub } = await verifyAccessToken(m?.[1] || ''));
    } catch {
      sub = undefined;
    }
    if (!sub || !accounts.has(sub)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"');
      ctx.body = { error: 'invalid_token' };
      return;
    }
    ctx.body = claimsOf(accounts.get(sub));
    return;
  }
  const m = /^\/interaction\/([\w-]+)(?:\/(login|confirm|abort))?$/.exec(ctx.path);
  if (!m) return next();
  ctx.set('Cache-Control', 'no-store');
  const [, uid, action] = m;
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.uid !== uid) ctx.throw(400, 'interaction mismatch');
  const { prompt, params, session } = details;
  const finish = async (result, merge) => {
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: merge }));
  };
  if (ctx.method === 'GET' && !action) {
    ctx.type = 'html';
    if (prompt.name === 'login') {
      ctx.body = loginForm(uid);
    } else {
      const d = prompt.details;
      const scopes = [...(d.missingOIDCScope || []), ...Object.values(d.missingResourceScopes || {}).flat()];
      ctx.body = page('Authorize', `<p>Allow <b>${esc(params.client_id)}</b> access as <b>${esc(session?.accountId)}</b>?</p>
<ul>${scopes.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>
<form method="post" action="/interaction/${esc(uid)}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${esc(uid)}/abort"><button type="submit">Deny</button></form>`);
    }
  } else if (ctx.method === 'POST' && action === 'login' && prompt.name === 'login') {
    const form = new URLSearchParams(await readBody(ctx.req));
    const a = accounts.get(form.get('login'));
    if (!a || a.password !== form.get('password')) {
      log('login: rejected a wrong username or password');
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginForm(uid, 'Invalid username or password.');
      return;
    }
    log(`login: ${a.id} signed in`);
    await finish({ login: { accountId: a.id } }, false);
  } else if (ctx.method === 'POST' && action === 'confirm' && prompt.name === 'consent') {
    const d = prompt.details;
    const grant = details.grantId ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: session.accountId, clientId: params.client_id });
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    for (const [rs, sc] of Object.entries(d.missingResourceScopes || {})) grant.addResourceScope(rs, sc.join(' '));
    await finish({ consent: { grantId: await grant.save() } }, true);
  } else if (ctx.method === 'POST' && action === 'abort') {
    await finish({ error: 'access_denied', error_description: 'End-User denied the request' }, false);
  } else {
    ctx.throw(400, 'unexpected interaction step');
  }
});

const server = provider.listen(port, '127.0.0.1', () => log(`listening on ${issuer}`));
const stop = () => {
  log('shutting down');
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
