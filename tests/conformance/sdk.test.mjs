// Conformance of globus-sim against the official Globus JavaScript SDK (@globus/sdk, pinned in
// package.json). Run through tests/conformance/run, which starts the sim and sets
// NODE_EXTRA_CA_CERTS, GLOBUS_SDK_SERVICE_URL_TRANSFER, GLOBUS_SDK_SERVICE_URL_AUTH,
// GLOBUS_SIM_STATE and GLOBUS_SIM before node starts.
//
// Every request below is made by the SDK's own functions (URL building, headers, token handling,
// PKCE helpers, error classifiers); the test only plays the user (through `globus-sim browser`)
// and checks that the SDK gets what it expects from the real service.
//
// The top-level tests run in order and share state (tokens, a scratch directory).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { auth, authorization, errors, gcs, transfer } from '@globus/sdk';
import {
  generateCodeChallenge,
  generateCodeVerifier,
  generateState,
} from '@globus/sdk/core/authorization/pkce';

// ---------------------------------------------------------------------------------------------
// Environment prepared by ./run
// ---------------------------------------------------------------------------------------------
const STATE = process.env.GLOBUS_SIM_STATE;
const SIM = process.env.GLOBUS_SIM;
if (!STATE || !SIM) {
  throw new Error('run this through tests/conformance/run (GLOBUS_SIM_STATE/GLOBUS_SIM unset)');
}
const SIM_JSON = JSON.parse(fs.readFileSync(path.join(STATE, 'sim.json'), 'utf8'));

const TRANSFER_RS = 'transfer.api.globus.org';
const TRANSFER_SCOPE = transfer.CONFIG.SCOPES.ALL; // urn:globus:auth:scope:transfer.api.globus.org:all
const TUTORIAL = 'Globus Tutorial Collection 1';
const GREX = 'UManitoba Grex HPC';
const GREX_DOMAIN = 'rprox.hpc.umanitoba.ca';
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const FILE_TIME_RE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\+00:00$/; // ls/stat documents
const TASK_TIME_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/; // task documents

function collectionNamed(name) {
  const c = (SIM_JSON.collections || []).find((x) => x.display_name === name);
  assert.ok(c, `sim.json collections has no "${name}": ${JSON.stringify(SIM_JSON.collections)}`);
  return c;
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/** Await an SDK call (a fetch Response) and decode it, keeping status and raw text. */
async function call(promise) {
  const res = await promise;
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, ok: res.ok, body, text, url: res.url };
}

function describe(what, res) {
  return `${what}: HTTP ${res.status} ${res.text.slice(0, 1500)}`;
}

function expectOk(what, res) {
  assert.ok(res.ok, `expected 2xx — ${describe(what, res)}`);
  assert.equal(typeof res.body, 'object', `expected a JSON object — ${describe(what, res)}`);
}

function expectError(what, res, status, code) {
  assert.equal(res.status, status, `expected HTTP ${status} — ${describe(what, res)}`);
  assert.equal(typeof res.body, 'object', `expected a JSON error body — ${describe(what, res)}`);
  if (code !== undefined) {
    assert.equal(res.body.code, code, `expected code ${code} — ${describe(what, res)}`);
  }
}

/** Loopback redirect target (the "native app" receiving ?code=&state=). */
const callbacks = [];
const waiters = [];
const callbackServer = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  callbacks.push(url);
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end('Login complete. You may close this window.\n');
  for (const w of waiters.splice(0)) w();
});
await new Promise((resolve) => callbackServer.listen(0, '127.0.0.1', resolve));
const REDIRECT_URI = `http://127.0.0.1:${callbackServer.address().port}/callback`;
after(() => callbackServer.close());

async function waitForCallback(state, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = callbacks.find((u) => u.searchParams.get('state') === state);
    if (hit) return hit;
    const left = deadline - Date.now();
    if (left <= 0) return null;
    await new Promise((resolve) => {
      const t = setTimeout(resolve, left);
      waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }
}

/** Play the user at the sim's login page: `globus-sim browser --state DIR --user U [..] URL`. */
function runBrowser(url, { user = 'alice', linkDomain } = {}) {
  const args = ['browser', '--state', STATE, '--user', user];
  if (linkDomain) args.push('--link-domain', linkDomain);
  args.push(url);
  return new Promise((resolve) => {
    execFile(SIM, args, { timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr, args });
    });
  });
}

/**
 * Drive the browser part of a login for an authorize URL; return the redirect the app receives
 * (a URL with code/state, or error). Prefers the loopback redirect; falls back on a code the
 * browser helper printed (auth-code display page).
 */
async function playUser(authorizeUrl, state, opts) {
  const b = await runBrowser(authorizeUrl, opts);
  const cb = await waitForCallback(state, b.code === 0 ? 3000 : 200);
  if (cb) return cb;
  const m = b.code === 0 && /[?&\s"']code[=:"'\s]+([A-Za-z0-9._~-]{8,})/.exec(b.stdout);
  assert.ok(
    m,
    `globus-sim browser produced neither a loopback redirect nor a printed code\n` +
      `  argv: ${JSON.stringify(b.args)}\n  exit: ${b.code}\n  stdout: ${b.stdout}\n  stderr: ${b.stderr}`,
  );
  const u = new URL(REDIRECT_URI);
  u.searchParams.set('code', m[1]);
  u.searchParams.set('state', state);
  return u;
}

/**
 * Authorization code + PKCE (S256) login as a native app does it, with the SDK's PKCE helpers,
 * the SDK's authorize endpoint, and the SDK's token exchange. Returns the decoded exchange response.
 */
async function nativeLogin({ scope, params = {}, user, linkDomain, verifierOverride } = {}) {
  const verifier = generateCodeVerifier();
  const challenge = await generateCodeChallenge(verifier);
  const state = generateState();
  const url = new URL(auth.getAuthorizationEndpoint());
  url.search = new URLSearchParams({
    response_type: 'code',
    client_id: SIM_JSON.client_id,
    scope,
    redirect_uri: REDIRECT_URI,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    access_type: 'offline',
    ...params,
  }).toString();
  const redirect = await playUser(url.toString(), state, { user, linkDomain });
  assert.equal(
    redirect.searchParams.get('error'),
    null,
    `authorize redirect carried an error: ${redirect}`,
  );
  assert.equal(redirect.searchParams.get('state'), state, 'state must round-trip the redirect');
  const code = redirect.searchParams.get('code');
  assert.ok(code, `no code in the redirect ${redirect}`);
  const payload = {
    grant_type: 'authorization_code',
    code,
    code_verifier: verifierOverride ?? verifier,
    redirect_uri: REDIRECT_URI,
    client_id: SIM_JSON.client_id,
  };
  const res = await call(auth.oauth2.token.exchange({ payload }));
  return { res, state, code, payload, authorizeUrl: url };
}

/** The token for a resource server from a Globus Auth token response (primary or other_tokens). */
function tokenFor(resp, rs) {
  if (resp.resource_server === rs) return resp;
  return (resp.other_tokens || []).find((t) => t.resource_server === rs);
}

function newManager(extra = {}) {
  return authorization.create({
    client: SIM_JSON.client_id,
    redirect: REDIRECT_URI,
    scopes: TRANSFER_SCOPE,
    ...extra,
  });
}

/**
 * The SDK's browser-side flows (RedirectTransport) use window.location and sessionStorage. This
 * fake browser provides them while `fn` runs; env lookups then read `window`, so the
 * GLOBUS_SDK_* variables are copied onto it.
 */
class FakeBrowser {
  constructor() {
    this.assigned = [];
    this.session = new Map();
    this.window = {
      location: {
        href: 'http://127.0.0.1/',
        assign: (u) => this.assigned.push(String(u)),
        replace: () => {},
      },
    };
    for (const [k, v] of Object.entries(process.env)) {
      if (k.startsWith('GLOBUS_SDK_')) this.window[k] = v;
    }
  }

  async run(fn) {
    const had = { window: 'window' in globalThis, sessionStorage: 'sessionStorage' in globalThis };
    const session = this.session;
    globalThis.window = this.window;
    globalThis.sessionStorage = {
      getItem: (k) => (session.has(k) ? session.get(k) : null),
      setItem: (k, v) => session.set(k, String(v)),
      removeItem: (k) => session.delete(k),
    };
    try {
      return await fn();
    } finally {
      if (!had.window) delete globalThis.window;
      if (!had.sessionStorage) delete globalThis.sessionStorage;
    }
  }

  lastAssigned() {
    assert.ok(this.assigned.length, 'the SDK did not navigate to an authorize URL');
    return new URL(this.assigned[this.assigned.length - 1]);
  }
}

/**
 * One full login driven by the SDK's AuthorizationManager: `start(manager)` makes the SDK navigate
 * to the authorize URL (login(), handleErrorResponse(), ...); the user is played at that URL;
 * the SDK's handleCodeRedirect() then validates state and exchanges the code itself.
 */
async function managerLogin(manager, browser, start, playOpts) {
  const before = browser.assigned.length;
  await browser.run(() => start(manager));
  assert.ok(browser.assigned.length > before, 'the SDK did not navigate to an authorize URL');
  const authorizeUrl = browser.lastAssigned();
  const state = authorizeUrl.searchParams.get('state');
  const redirect = await playUser(authorizeUrl.toString(), state, playOpts);
  browser.window.location.href = redirect.toString();
  const response = await browser.run(() => manager.handleCodeRedirect({ shouldReplace: false }));
  return { authorizeUrl, redirect, response };
}

const ctx = {}; // shared between the ordered tests

// ---------------------------------------------------------------------------------------------
// 0. The SDK is pointed at the sim
// ---------------------------------------------------------------------------------------------
test('sim.json has the contract keys and the SDK resolves its service URLs to the sim', () => {
  for (const k of ['transfer_url', 'auth_url', 'ca_file', 'client_id', 'control_url', 'users',
    'collections', 'config_file']) {
    assert.ok(k in SIM_JSON, `sim.json lacks "${k}"`);
  }
  assert.match(SIM_JSON.transfer_url, /^https:\/\/127\.0\.0\.1:\d+/);
  assert.match(SIM_JSON.auth_url, /^https:\/\/127\.0\.0\.1:\d+/);
  assert.equal(
    auth.getTokenEndpoint(),
    new URL('/v2/oauth2/token', SIM_JSON.auth_url).toString(),
    'GLOBUS_SDK_SERVICE_URL_AUTH does not reach the SDK',
  );
  assert.ok(
    auth.getAuthorizationEndpoint().startsWith(new URL(SIM_JSON.auth_url).origin),
    auth.getAuthorizationEndpoint(),
  );
  collectionNamed(TUTORIAL);
  collectionNamed(GREX);
  assert.ok(SIM_JSON.users.some((u) => u.username === 'alice'), 'no user alice');
});

// ---------------------------------------------------------------------------------------------
// 1. Globus Auth: authorization code + PKCE, refresh
// ---------------------------------------------------------------------------------------------
test('auth: authorization_code + PKCE S256 exchange (auth.oauth2.token.exchange)', async () => {
  const { res, state } = await nativeLogin({ scope: `openid profile email ${TRANSFER_SCOPE}` });
  expectOk('POST /v2/oauth2/token grant_type=authorization_code', res);
  const r = res.body;
  assert.ok(auth.isGlobusAuthTokenResponse(r), `not a Globus Auth token response: ${res.text}`);
  assert.ok(auth.isRefreshToken(r), `access_type=offline gave no refresh_token: ${res.text}`);
  assert.equal(typeof r.access_token, 'string');
  assert.equal(r.token_type, 'Bearer');
  assert.equal(typeof r.expires_in, 'number');
  assert.ok(r.expires_in > 0);
  assert.equal(typeof r.scope, 'string');
  assert.ok(Array.isArray(r.other_tokens), `other_tokens must be a list: ${res.text}`);
  assert.equal(r.resource_server, 'auth.globus.org', 'openid scopes belong to auth.globus.org');
  const t = tokenFor(r, TRANSFER_RS);
  assert.ok(t, `no token for ${TRANSFER_RS} in ${res.text}`);
  assert.equal(typeof t.access_token, 'string');
  assert.equal(typeof t.refresh_token, 'string');
  assert.equal(t.token_type, 'Bearer');
  assert.equal(typeof t.expires_in, 'number');
  assert.ok(t.scope.split(' ').includes(TRANSFER_SCOPE), `transfer token scope: ${t.scope}`);
  assert.notEqual(t.access_token, r.access_token, 'one token per resource server');
  assert.equal(errors.isAuthorizationRequirementsError(r), false);

  // The SDK's token storage understands the response (other_tokens -> per resource server).
  const manager = newManager();
  manager.addTokenResponse(r);
  assert.equal(manager.authenticated, true, 'AuthorizationManager did not see an auth token');
  assert.equal(manager.tokens.transfer?.access_token, t.access_token);
  assert.equal(manager.tokens.auth?.access_token, r.access_token);
  ctx.manager = manager;
  ctx.transferToken = t;

  // userinfo with the auth.globus.org token (openid)
  const ui = await call(
    auth.oauth2.userinfo({ headers: { Authorization: `Bearer ${r.access_token}` } }),
  );
  expectOk('GET /v2/oauth2/userinfo', ui);
  assert.equal(typeof ui.body.sub, 'string');
  assert.equal(ui.body.preferred_username, 'alice@globusid.org', describe('userinfo', ui));

  // Last (so that a mismatch here does not stop the tests that need the tokens above).
  assert.equal(r.state, state, 'the token response must echo the authorize request\'s state');
});

test('auth: an authorization code is single-use, and PKCE is enforced', async () => {
  // Replay the code from a fresh login twice: first use works, second must be invalid_grant.
  const first = await nativeLogin({ scope: TRANSFER_SCOPE });
  expectOk('first exchange', first.res);
  const replay = await call(auth.oauth2.token.exchange({ payload: first.payload }));
  assert.ok([400, 401].includes(replay.status), `code replay accepted — ${describe('replay', replay)}`);
  assert.equal(replay.body.error, 'invalid_grant', describe('code replay', replay));

  // Wrong code_verifier for a fresh code.
  const wrong = await nativeLogin({ scope: TRANSFER_SCOPE, verifierOverride: generateCodeVerifier() });
  assert.ok(
    [400, 401].includes(wrong.res.status),
    `wrong code_verifier accepted — ${describe('exchange', wrong.res)}`,
  );
  assert.equal(wrong.res.body.error, 'invalid_grant', describe('wrong verifier', wrong.res));
});

test('auth: refresh_token grant (auth.oauth2.token.refresh and AuthorizationManager.refreshToken)', async () => {
  assert.ok(ctx.transferToken, 'needs the token from the exchange test');
  const res = await call(
    auth.oauth2.token.refresh({
      payload: {
        client_id: SIM_JSON.client_id,
        refresh_token: ctx.transferToken.refresh_token,
        grant_type: 'refresh_token',
      },
    }),
  );
  expectOk('POST /v2/oauth2/token grant_type=refresh_token', res);
  const r = res.body;
  assert.ok(auth.isGlobusAuthTokenResponse(r), res.text);
  assert.equal(r.resource_server, TRANSFER_RS);
  assert.equal(r.token_type, 'Bearer');
  assert.equal(typeof r.access_token, 'string');
  assert.equal(typeof r.expires_in, 'number');
  assert.ok(r.scope.split(' ').includes(TRANSFER_SCOPE), r.scope);

  // The SDK's own refresh path stores the new token.
  const token = ctx.manager.tokens.transfer;
  const refreshed = await ctx.manager.refreshToken({ ...token, refresh_token: r.refresh_token ?? token.refresh_token });
  assert.ok(refreshed, 'AuthorizationManager.refreshToken returned null (refresh rejected)');
  assert.equal(ctx.manager.tokens.transfer.access_token, refreshed.access_token);
  ctx.transferToken = ctx.manager.tokens.transfer;
});

test('auth: the SDK AuthorizationManager redirect flow (login + handleCodeRedirect, offline_access)', async () => {
  const browser = new FakeBrowser();
  const manager = newManager({ useRefreshTokens: true });
  const { authorizeUrl, response } = await managerLogin(manager, browser, (m) => m.login());
  const p = authorizeUrl.searchParams;
  assert.equal(p.get('code_challenge_method'), 'S256');
  assert.equal(p.get('response_type'), 'code');
  assert.equal(p.get('client_id'), SIM_JSON.client_id);
  assert.ok(p.get('scope').split(' ').includes('offline_access'), p.get('scope'));
  assert.ok(auth.isGlobusAuthTokenResponse(response), `exchange failed: ${JSON.stringify(response)}`);
  assert.equal(manager.authenticated, true);
  const t = manager.tokens.transfer;
  assert.ok(t, `no transfer token stored from ${JSON.stringify(response)}`);
  assert.ok(
    auth.isRefreshToken(t),
    'scope offline_access (how the JS SDK asks for refresh tokens) gave no refresh_token',
  );
});

// ---------------------------------------------------------------------------------------------
// 2. Transfer API through the SDK
// ---------------------------------------------------------------------------------------------
function sdk() {
  assert.ok(ctx.manager?.tokens.transfer, 'needs a transfer token from the auth tests');
  return { manager: ctx.manager };
}

test('transfer: endpointSearch finds the tutorial collection', async () => {
  const tut = collectionNamed(TUTORIAL);
  const res = await call(
    transfer.endpointSearch({ query: { filter_fulltext: TUTORIAL, filter_scope: 'all' } }, sdk()),
  );
  expectOk('GET /v0.10/endpoint_search', res);
  assert.equal(res.body.DATA_TYPE, 'endpoint_list', res.text);
  assert.ok(Array.isArray(res.body.DATA), res.text);
  assert.equal(typeof res.body.has_next_page, 'boolean', res.text);
  const hit = res.body.DATA.find((e) => e.display_name === TUTORIAL);
  assert.ok(hit, `"${TUTORIAL}" not found: ${res.text}`);
  assert.equal(hit.DATA_TYPE, 'endpoint');
  assert.equal(hit.id, tut.id);
});

test('transfer: endpoint.get returns the collection document', async () => {
  const tut = collectionNamed(TUTORIAL);
  const res = await call(transfer.endpoint.get(tut.id, {}, sdk()));
  expectOk(`GET /v0.10/endpoint/${tut.id}`, res);
  const e = res.body;
  assert.equal(e.DATA_TYPE, 'endpoint');
  assert.equal(e.id, tut.id);
  assert.equal(e.display_name, TUTORIAL);
  assert.equal(e.entity_type, tut.entity_type);
  assert.equal(e.https_server, tut.https_server);

  const missing = await call(transfer.endpoint.get(crypto.randomUUID(), {}, sdk()));
  expectError('GET /v0.10/endpoint/<unknown>', missing, 404, 'EndpointNotFound');
});

test('transfer: mkdir creates a directory (DirectoryCreated); again -> MkdirFailed.Exists', async () => {
  const tut = collectionNamed(TUTORIAL);
  ctx.dir = `conformance-${crypto.randomBytes(4).toString('hex')}`;
  const res = await call(
    transfer.fileOperations.mkdir(tut.id, { payload: { path: `/${ctx.dir}/` } }, sdk()),
  );
  expectOk(`POST mkdir /${ctx.dir}/`, res);
  assert.equal(res.body.DATA_TYPE, 'mkdir_result', res.text);
  assert.equal(res.body.code, 'DirectoryCreated', res.text);
  assert.ok(
    fs.statSync(path.join(tut.root, ctx.dir)).isDirectory(),
    `no ${ctx.dir} under the collection's backing folder ${tut.root}`,
  );
  const again = await call(
    transfer.fileOperations.mkdir(tut.id, { payload: { path: `/${ctx.dir}/` } }, sdk()),
  );
  expectError('mkdir existing', again, 502, 'ExternalError.MkdirFailed.Exists');
});

test('transfer: ls returns a file_list the SDK recognises', async () => {
  const tut = collectionNamed(TUTORIAL);
  const opts = sdk();
  assert.ok(ctx.dir, 'needs the mkdir test');
  ctx.content = `globus-sim conformance ${crypto.randomUUID()}\n`;
  fs.writeFileSync(path.join(tut.root, ctx.dir, 'src.txt'), ctx.content);

  const root = await call(transfer.fileOperations.ls(tut.id, { query: { path: '/' } }, sdk()));
  expectOk('ls /', root);
  assert.equal(root.body.DATA_TYPE, 'file_list');
  assert.equal(root.body.path, '/');
  const d = root.body.DATA.find((x) => x.name === ctx.dir);
  assert.ok(d, `ls / lacks ${ctx.dir}: ${root.text}`);
  assert.ok(transfer.utils.isDirectory(d), `not a directory per the SDK: ${JSON.stringify(d)}`);

  const res = await call(
    transfer.fileOperations.ls(tut.id, { query: { path: `/${ctx.dir}` } }, sdk()),
  );
  expectOk(`ls /${ctx.dir}`, res);
  const l = res.body;
  assert.equal(l.DATA_TYPE, 'file_list');
  assert.equal(l.path, `/${ctx.dir}/`, 'path is echoed with a trailing /');
  assert.equal(l.endpoint, tut.id);
  assert.ok(Array.isArray(l.DATA));
  assert.equal(l.length, l.DATA.length);
  assert.equal(typeof l.total, 'number');
  assert.equal(typeof l.rename_supported, 'boolean');
  assert.equal(typeof l.symlink_supported, 'boolean');
  assert.equal(l.DATA.length, 1, res.text);
  const f = l.DATA[0];
  assert.ok(transfer.utils.isFileDocument(f), JSON.stringify(f));
  assert.equal(transfer.utils.isDirectory(f), false);
  assert.equal(f.name, 'src.txt');
  assert.equal(f.type, 'file');
  assert.equal(f.size, Buffer.byteLength(ctx.content));
  assert.match(f.last_modified, FILE_TIME_RE);
  assert.match(f.permissions, /^[0-7]{4}$/);
  for (const k of ['user', 'group', 'link_target', 'link_size', 'link_user', 'link_group',
    'link_last_modified']) {
    assert.ok(k in f, `file document lacks ${k}: ${JSON.stringify(f)}`);
  }

  const missing = await call(
    transfer.fileOperations.ls(tut.id, { query: { path: `/${ctx.dir}/nope` } }, sdk()),
  );
  expectError('ls missing dir', missing, 404, 'ClientError.NotFound');
  const onFile = await call(
    transfer.fileOperations.ls(tut.id, { query: { path: `/${ctx.dir}/src.txt` } }, sdk()),
  );
  expectError('ls on a file', onFile, 502, 'ExternalError.DirListingFailed.NotDirectory');
});

test('transfer: stat returns a file document; missing path -> 404 NotFound', async () => {
  const tut = collectionNamed(TUTORIAL);
  assert.ok(ctx.content, 'needs the ls test');
  const res = await call(
    transfer.fileOperations.stat(tut.id, { query: { path: `/${ctx.dir}/src.txt` } }, sdk()),
  );
  expectOk('stat', res);
  assert.ok(transfer.utils.isFileDocument(res.body), res.text);
  assert.equal(res.body.name, 'src.txt');
  assert.equal(res.body.type, 'file');
  assert.equal(res.body.size, Buffer.byteLength(ctx.content));
  assert.match(res.body.last_modified, FILE_TIME_RE);

  const missing = await call(
    transfer.fileOperations.stat(tut.id, { query: { path: `/${ctx.dir}/nope` } }, sdk()),
  );
  expectError('stat missing', missing, 404, 'NotFound');
});

test('transfer: rename (FileRenamed)', async () => {
  const tut = collectionNamed(TUTORIAL);
  assert.ok(ctx.content, 'needs the ls test');
  const res = await call(
    transfer.fileOperations.rename(
      tut.id,
      { payload: { old_path: `/${ctx.dir}/src.txt`, new_path: `/${ctx.dir}/renamed.txt` } },
      sdk(),
    ),
  );
  expectOk('rename', res);
  assert.equal(res.body.DATA_TYPE, 'result', res.text);
  assert.equal(res.body.code, 'FileRenamed', res.text);
  assert.equal(fs.readFileSync(path.join(tut.root, ctx.dir, 'renamed.txt'), 'utf8'), ctx.content);
  assert.equal(fs.existsSync(path.join(tut.root, ctx.dir, 'src.txt')), false);
});

test('transfer: submission_id, submitTransfer (Accepted, then Duplicate), task.get until SUCCEEDED', { timeout: 40000 }, async () => {
  const tut = collectionNamed(TUTORIAL);
  assert.ok(ctx.content, 'needs the ls test');
  const sid = await call(transfer.taskSubmission.submissionId({}, sdk()));
  expectOk('GET /v0.10/submission_id', sid);
  assert.match(sid.body.value, UUID_RE, sid.text);

  const payload = {
    submission_id: sid.body.value,
    source_endpoint: tut.id,
    destination_endpoint: tut.id,
    label: 'globus-sim conformance',
    DATA: [{
      DATA_TYPE: 'transfer_item',
      source_path: `/${ctx.dir}/renamed.txt`,
      destination_path: `/${ctx.dir}/copied.txt`,
    }],
  };
  const res = await call(transfer.taskSubmission.submitTransfer({ payload }, sdk()));
  expectOk('POST /v0.10/transfer', res);
  const r = res.body;
  assert.equal(r.DATA_TYPE, 'transfer_result', res.text);
  assert.equal(r.code, 'Accepted', res.text);
  assert.match(r.task_id, UUID_RE, res.text);
  assert.equal(r.submission_id, sid.body.value);

  const dup = await call(transfer.taskSubmission.submitTransfer({ payload }, sdk()));
  expectOk('POST /v0.10/transfer (same submission_id)', dup);
  assert.equal(dup.body.code, 'Duplicate', dup.text);
  assert.equal(dup.body.task_id, r.task_id, 'a duplicate submission names the same task');

  const deadline = Date.now() + 20000;
  let task;
  for (;;) {
    const t = await call(transfer.task.get(r.task_id, {}, sdk()));
    expectOk(`GET /v0.10/task/${r.task_id}`, t);
    task = t.body;
    assert.equal(task.DATA_TYPE, 'task', t.text);
    assert.equal(task.task_id, r.task_id);
    assert.equal(task.type, 'TRANSFER');
    assert.ok(['ACTIVE', 'SUCCEEDED'].includes(task.status), t.text);
    assert.match(task.request_time, TASK_TIME_RE);
    if (task.status === 'SUCCEEDED' || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  assert.equal(task.status, 'SUCCEEDED', `task not SUCCEEDED within 20 s: ${JSON.stringify(task)}`);
  assert.match(task.completion_time, TASK_TIME_RE);
  assert.equal(task.files_transferred, 1, JSON.stringify(task));
  assert.equal(task.bytes_transferred, Buffer.byteLength(ctx.content), JSON.stringify(task));

  assert.equal(fs.readFileSync(path.join(tut.root, ctx.dir, 'copied.txt'), 'utf8'), ctx.content);
  const st = await call(
    transfer.fileOperations.stat(tut.id, { query: { path: `/${ctx.dir}/copied.txt` } }, sdk()),
  );
  expectOk('stat copied file', st);
  assert.equal(st.body.size, Buffer.byteLength(ctx.content));

  const list = await call(
    transfer.task.getAll({ query: { filter: `task_id:${r.task_id}`, limit: 10 } }, sdk()),
  );
  expectOk('GET /v0.10/task_list?filter=task_id:<id>', list);
  assert.equal(list.body.DATA_TYPE, 'task_list', list.text);
  assert.deepEqual(list.body.DATA.map((t) => t.task_id), [r.task_id], list.text);
  assert.equal(list.body.DATA[0].DATA_TYPE, 'task');

  const missingTask = await call(transfer.task.get(crypto.randomUUID(), {}, sdk()));
  expectError('GET /v0.10/task/<unknown>', missingTask, 404, 'ClientError.NotFound');
});

async function waitForTask(taskId, seconds = 20) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const t = await call(transfer.task.get(taskId, {}, sdk()));
    expectOk(`GET /v0.10/task/${taskId}`, t);
    if (t.body.status !== 'ACTIVE' || Date.now() > deadline) return t.body;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test('transfer: submitDelete (delete_result/Accepted) removes the file', { timeout: 40000 }, async () => {
  const tut = collectionNamed(TUTORIAL);
  assert.ok(ctx.content, 'needs the transfer test');
  fs.writeFileSync(path.join(tut.root, ctx.dir, 'doomed.txt'), 'x');
  const sid = await call(transfer.taskSubmission.submissionId({}, sdk()));
  expectOk('GET /v0.10/submission_id', sid);
  const res = await call(
    transfer.taskSubmission.submitDelete({
      payload: {
        submission_id: sid.body.value,
        endpoint: tut.id,
        DATA: [{ DATA_TYPE: 'delete_item', path: `/${ctx.dir}/doomed.txt` }],
      },
    }, sdk()),
  );
  expectOk('POST /v0.10/delete', res);
  assert.equal(res.body.DATA_TYPE, 'delete_result', res.text);
  assert.equal(res.body.code, 'Accepted', res.text);
  assert.match(res.body.task_id, UUID_RE);
  const task = await waitForTask(res.body.task_id);
  assert.equal(task.type, 'DELETE', JSON.stringify(task));
  assert.equal(task.status, 'SUCCEEDED', JSON.stringify(task));
  assert.equal(fs.existsSync(path.join(tut.root, ctx.dir, 'doomed.txt')), false);
});

test('gcs https: gcs.https.get/update/remove with a collection token; no token -> 302, XHR -> 401', async () => {
  const tut = collectionNamed(TUTORIAL);
  assert.ok(ctx.content, 'needs the transfer test');
  assert.match(String(tut.https_server), /^https:\/\/127\.0\.0\.1:\d+$/, 'https_server');
  const httpsScope = `https://auth.globus.org/scopes/${tut.id}/https`;
  const { res: login } = await nativeLogin({ scope: httpsScope });
  expectOk(`login for ${httpsScope}`, login);
  const tok = tokenFor(login.body, tut.id);
  assert.ok(tok, `no token whose resource_server is the collection id: ${login.text}`);
  const m = newManager();
  m.addTokenResponse(tok);
  const conf = { host: tut.https_server, endpoint_id: tut.id };

  const got = await call(gcs.https.get(conf, `/${ctx.dir}/copied.txt`, {}, { manager: m }));
  assert.equal(got.status, 200, describe('GET file', got));
  assert.equal(got.text, ctx.content);

  const body = `uploaded ${crypto.randomUUID()}\n`;
  const put = await call(
    gcs.https.update(conf, `/${ctx.dir}/up.txt`, { body }, { manager: m }),
  );
  assert.ok(put.ok, describe('PUT file', put));
  assert.equal(fs.readFileSync(path.join(tut.root, ctx.dir, 'up.txt'), 'utf8'), body);

  const del = await call(gcs.https.remove(conf, `/${ctx.dir}/up.txt`, {}, { manager: m }));
  assert.ok(del.ok, describe('DELETE file', del));
  assert.equal(fs.existsSync(path.join(tut.root, ctx.dir, 'up.txt')), false);

  // Without a token: the browser flavour redirects to Globus Auth, the XHR flavour gets 401.
  const anon = await call(
    gcs.https.get(conf, `/${ctx.dir}/copied.txt`, {}, { fetch: { options: { redirect: 'manual' } } }),
  );
  assert.equal(anon.status, 302, describe('anonymous GET', anon));
  const xhr = await call(
    gcs.https.get(conf, `/${ctx.dir}/copied.txt`, { headers: { 'X-Requested-With': 'XMLHttpRequest' } }),
  );
  assert.equal(xhr.status, 401, describe('anonymous XHR GET', xhr));
});

test('transfer: an invalid access token gets 401 and the SDK refreshes and retries', async () => {
  const tut = collectionNamed(TUTORIAL);
  const good = sdk().manager.tokens.transfer;
  assert.ok(good.refresh_token, 'needs a refresh token');
  const bad = await call(
    transfer.fileOperations.ls(
      tut.id,
      { query: { path: '/' }, headers: { Authorization: 'Bearer not-a-real-token' } },
    ),
  );
  assert.equal(bad.status, 401, describe('ls with a bogus token', bad));
  assert.match(String(bad.body.code), /AuthenticationFailed/, describe('ls with a bogus token', bad));

  // A manager holding a dead access token but a live refresh token: serviceRequest sees 401,
  // calls manager.refreshToken, retries with the new token.
  const m = newManager();
  m.addTokenResponse({ ...good, access_token: 'expired-or-revoked', other_tokens: [] });
  const res = await call(transfer.fileOperations.ls(tut.id, { query: { path: '/' } }, { manager: m }));
  expectOk('ls after the SDK refreshed on 401', res);
  assert.notEqual(m.tokens.transfer.access_token, 'expired-or-revoked');
});

// ---------------------------------------------------------------------------------------------
// 3. Errors the SDK must recognise, and their remediation through the SDK's own handlers
// ---------------------------------------------------------------------------------------------
function consentCollection() {
  const c = (SIM_JSON.collections || []).find(
    (x) => x.entity_type === 'GCSv5_mapped_collection' && x.display_name !== GREX,
  );
  assert.ok(c, `no consent-requiring mapped collection in ${JSON.stringify(SIM_JSON.collections)}`);
  return c;
}

/**
 * Retry `ls` until it works, remedying each error with the SDK's
 * AuthorizationManager.handleErrorResponse (which navigates to a new authorize URL), the
 * simulated user, and handleCodeRedirect. Returns the list of error bodies met.
 */
async function lsWithRemediation(collection, playOpts, maxRounds = 3) {
  const browser = new FakeBrowser();
  const manager = newManager();
  manager.addTokenResponse({ ...ctx.manager.tokens.transfer, other_tokens: [] });
  const seen = [];
  for (let round = 0; ; round++) {
    const res = await call(
      transfer.fileOperations.ls(collection.id, { query: { path: '/' } }, { manager }),
    );
    if (res.ok) return { res, seen, urls: browser.assigned };
    assert.ok(round < maxRounds, `still failing after ${maxRounds} remediations: ${describe('ls', res)}`);
    assert.ok(
      errors.isAuthorizationRequirementsError(res.body) || errors.isConsentRequiredError(res.body),
      `not an error the SDK can remedy — ${describe('ls', res)}`,
    );
    seen.push(res.body);
    await managerLogin(manager, browser, (m) => m.handleErrorResponse(res.body), playOpts);
    assert.ok(manager.tokens.transfer, 'no transfer token after remediation');
  }
}

test('errors: ConsentRequired (403) is recognised by isConsentRequiredError and remedied', async (t) => {
  const c = consentCollection();
  const res = await call(transfer.fileOperations.ls(c.id, { query: { path: '/' } }, sdk()));
  expectError(`ls on ${c.display_name} without data_access consent`, res, 403, 'ConsentRequired');
  const scope = `${TRANSFER_SCOPE}[*https://auth.globus.org/scopes/${c.id}/data_access]`;
  assert.ok(errors.isConsentRequiredError(res.body), `isConsentRequiredError false: ${res.text}`);
  assert.deepEqual(res.body.required_scopes, [scope]);
  assert.ok(
    errors.isAuthorizationRequirementsError(res.body),
    `current ConsentRequired bodies carry authorization_parameters (GARE): ${res.text}`,
  );
  assert.deepEqual(res.body.authorization_parameters.required_scopes, [scope]);
  assert.equal(errors.toAuthorizationQueryParams(res.body).scope, scope);
  assert.match(res.body.resource, new RegExp(`/operation/endpoint/${c.id}/ls$`));
  assert.equal(typeof res.body.request_id, 'string');

  const fixed = await lsWithRemediation(c, { user: 'alice' });
  t.diagnostic(`remedied: ${fixed.seen.map((b) => b.code).join(' -> ')}`);
  expectOk(`ls on ${c.display_name} after consent`, fixed.res);
  assert.equal(fixed.res.body.DATA_TYPE, 'file_list');
  assert.equal(fixed.seen.length, 1);
  const asked = new URL(fixed.urls[0]).searchParams.get('scope');
  assert.ok(asked.split(' ').includes(scope), `SDK re-login scope: ${asked}`);
});

test('errors: LoginFailed (502) with authorization_parameters is a GARE the SDK turns into session_required_single_domain', async (t) => {
  const g = collectionNamed(GREX);
  const res = await call(transfer.fileOperations.ls(g.id, { query: { path: '/' } }, sdk()));
  // Depending on the order in which the sim checks consent and session policy, the first error
  // may be ConsentRequired; the session error must appear once consent is there.
  let body = res.body;
  if (res.status === 403 && body.code === 'ConsentRequired') {
    const scope = `${TRANSFER_SCOPE}[*https://auth.globus.org/scopes/${g.id}/data_access]`;
    const { res: login } = await nativeLogin({ scope });
    expectOk('consent login for Grex', login);
    const again = await call(
      transfer.fileOperations.ls(g.id, { query: { path: '/' } }, {
        headers: { Authorization: `Bearer ${tokenFor(login.body, TRANSFER_RS).access_token}` },
      }),
    );
    body = again.body;
    expectError(`ls on ${GREX} (consented, no ${GREX_DOMAIN} identity)`, again, 502);
  } else {
    expectError(`ls on ${GREX} without a ${GREX_DOMAIN} identity`, res, 502);
  }
  assert.equal(body.code, 'ExternalError.DirListingFailed.LoginFailed', JSON.stringify(body));
  assert.ok(errors.isAuthorizationRequirementsError(body), JSON.stringify(body));
  assert.equal(errors.isConsentRequiredError(body), false);
  const q = errors.toAuthorizationQueryParams(body);
  assert.equal(q.session_required_single_domain, GREX_DOMAIN, JSON.stringify(q));

  // The SDK's remedy: prompt=login + the parameters; the user links/logs in with the
  // rprox identity; ls then works.
  const fixed = await lsWithRemediation(g, { user: 'alice', linkDomain: GREX_DOMAIN });
  t.diagnostic(`remedied: ${fixed.seen.map((b) => b.code).join(' -> ')}`);
  expectOk(`ls on ${GREX} after the session update`, fixed.res);
  assert.equal(fixed.res.body.DATA_TYPE, 'file_list');
  const sessionUrl = fixed.urls
    .map((u) => new URL(u).searchParams)
    .find((p) => p.get('session_required_single_domain'));
  assert.ok(sessionUrl, `the SDK never asked for a session update: ${fixed.urls.join('\n')}`);
  assert.equal(sessionUrl.get('session_required_single_domain'), GREX_DOMAIN);
  assert.equal(sessionUrl.get('prompt'), 'login');
});
