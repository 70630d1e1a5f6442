// A real OpenID provider for spe's tests (panva/oidc-provider), never for production.
//
// Usage: node server.js CONFIG.json
// CONFIG: { port, issuer, clients: [client metadata], jwks: {keys: [private JWKs]},
//           usersFile, resource, resourceScope, cookieKeys }
// usersFile: { "<login>": { sub, name, email, groups, acr, amr } }, read at every login so
// the tests change a user's claims by rewriting it.
//
// Its own minimal interaction pages (a login form, a consent form) stand in for an
// institution's login screens: the login sets `acr` and `amr` from the user's record, as an
// identity provider does after a password or a second factor.
import { readFileSync } from 'node:fs';

import Provider, { errors } from 'oidc-provider';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const users = () => JSON.parse(readFileSync(config.usersFile, 'utf8'));

function userBySub(sub) {
  return Object.values(users()).find((user) => user.sub === sub);
}

async function findAccount(ctx, sub) {
  const user = userBySub(sub);
  if (!user) return undefined;
  return {
    accountId: sub,
    async claims() {
      return {
        sub,
        name: user.name,
        email: user.email,
        email_verified: true,
        groups: user.groups ?? [],
      };
    },
  };
}

const provider = new Provider(config.issuer, {
  clients: config.clients,
  jwks: config.jwks,
  findAccount,
  cookies: { keys: config.cookieKeys },
  claims: {
    // acr and amr describe the login: in every ID token, as spe checks MFA with them.
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    profile: ['name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  // Standard behaviour: when the access token is good at userinfo, the ID token holds only
  // the login facts (sub, acr, amr) and the profile is read at userinfo; when it is a JWT for
  // spe's API (resource indicator), the profile comes in the ID token.
  conformIdTokenClaims: true,
  acrValues: config.acrValues ?? [],
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    jwtUserinfo: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // no `resource` asked: an opaque access token for the userinfo endpoint
      defaultResource: (ctx, client, oneOf) => oneOf,
      useGrantedResource: () => true,
      getResourceServerInfo(ctx, indicator) {
        if (indicator !== config.resource) throw new errors.InvalidTarget();
        return {
          scope: config.resourceScope,
          audience: indicator,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // RFC 9068 lets a JWT access token carry how the user authenticated and their groups:
  // acr and amr from the authorization code (that is, from the login), so the API can check
  // MFA, and the groups as Keycloak's group mapper adds them to access tokens.
  async extraTokenClaims(ctx, token) {
    const code = ctx.oidc.entities.AuthorizationCode;
    if (token.kind !== 'AccessToken' || !code) return undefined;
    return { acr: code.acr, amr: code.amr, groups: userBySub(token.accountId)?.groups ?? [] };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { Interaction: 600, Session: 3600, Grant: 3600, AuthorizationCode: 60, IdToken: 600 },
});

const page = (title, body) => `<!DOCTYPE html><html><head><title>${title}</title></head>`
  + `<body><h1>${title}</h1>${body}</body></html>`;

async function formBody(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function login(ctx) {
  const form = await formBody(ctx.req);
  const user = users()[form.get('login')];
  if (!user) {
    ctx.status = 401;
    ctx.type = 'html';
    ctx.body = page('Sign-in', '<p class="error">unknown user</p>');
    return;
  }
  await provider.interactionFinished(ctx.req, ctx.res, {
    login: { accountId: user.sub, acr: user.acr, amr: user.amr },
  }, { mergeWithLastSubmission: false });
  ctx.respond = false;
}

async function consent(ctx) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const { prompt: { details: missing }, params, session: { accountId } } = details;
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: params.client_id });
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    grant.addResourceScope(indicator, scopes.join(' '));
  }
  const grantId = await grant.save();
  await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, {
    mergeWithLastSubmission: true,
  });
  ctx.respond = false;
}

async function show(ctx, uid) {
  const { prompt } = await provider.interactionDetails(ctx.req, ctx.res);
  ctx.type = 'html';
  if (prompt.name === 'login') {
    ctx.body = page('Sign-in', `<form method="post" action="/interaction/${uid}/login">`
      + '<input name="login" autofocus><button type="submit">Sign in</button></form>');
  } else {
    ctx.body = page('Authorize', `<form method="post" action="/interaction/${uid}/confirm">`
      + '<button type="submit">Continue</button></form>');
  }
}

provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([\w-]+)(?:\/(login|confirm))?$/.exec(ctx.path);
  if (!match) return next();
  const [, uid, action] = match;
  ctx.set('cache-control', 'no-store');
  if (ctx.method === 'GET' && !action) return show(ctx, uid);
  if (ctx.method === 'POST' && action === 'login') return login(ctx);
  if (ctx.method === 'POST' && action === 'confirm') return consent(ctx);
  ctx.status = 405;
  return undefined;
});

provider.listen(config.port, '127.0.0.1', () => {
  process.stdout.write(`listening ${config.issuer}\n`);
});
