// A relying party built on openid-client v6 exactly as its README shows, driven by
// tests/relying_parties/test_node_openid_client.py.
//
//   node rp.mjs '<settings as JSON>'
//
// settings: issuer, clientId, clientSecret (absent for a public client), auth
// ("client_secret_post" | "client_secret_basic" | "none"), redirectUri, scope,
// postLogoutRedirectUri (optional: also build the logout URL).
//
// The conversation is JSON lines. This script writes one object per step to
// stdout ({"step": ...}); where a person's browser is needed it writes
// {"step": "authorize", "url": ...} and reads the URL the browser was sent back
// to (the callback) as one line on stdin. Any failure ends the script with
// {"step": "failed", ...} and exit status 1, so the test shows openid-client's
// own words.

import { createInterface } from 'node:readline'
import * as client from 'openid-client'

const settings = JSON.parse(process.argv[2])
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()

function emit(step, fields = {}) {
  process.stdout.write(JSON.stringify({ step, ...fields }) + '\n')
}

async function readLine() {
  const { value, done } = await lines.next()
  if (done) throw new Error('stdin closed before the callback URL came')
  return value.trim()
}

// Never outlive a test that stopped listening.
setTimeout(() => {
  emit('failed', { name: 'Timeout', message: 'no answer within 60 s' })
  process.exit(2)
}, 60_000).unref()

function clientAuth() {
  switch (settings.auth) {
    case 'none': return client.None()
    case 'client_secret_basic': return client.ClientSecretBasic(settings.clientSecret)
    case 'client_secret_post': return client.ClientSecretPost(settings.clientSecret)
    default: throw new Error(`unknown auth ${settings.auth}`)
  }
}

function tokenFields(tokens) {
  return {
    access_token: tokens.access_token,
    refresh_token: tokens.refresh_token,
    id_token: tokens.id_token,
    token_type: tokens.token_type,
    expires_in: tokens.expires_in,
    scope: tokens.scope,
    issued_at: tokens.issued_at,
    claims: tokens.claims() ?? null,
  }
}

async function main() {
  // The test server speaks plain http on 127.0.0.1; openid-client v6 refuses any
  // non-https issuer unless allowInsecureRequests is executed on the configuration.
  // A real deployment is https and needs no such option.
  const config = await client.discovery(
    new URL(settings.issuer), settings.clientId, settings.clientSecret, clientAuth(),
    { execute: [client.allowInsecureRequests] })
  const meta = config.serverMetadata()
  emit('discovered', { issuer: meta.issuer, end_session_endpoint: meta.end_session_endpoint })

  const codeVerifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const nonce = client.randomNonce()
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: settings.redirectUri,
    scope: settings.scope,
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  emit('authorize', { url: url.href, state, nonce })
  const callback = new URL(await readLine())

  // Checks state, iss (RFC 9207), the id_token's signature, iss, aud, exp, nonce.
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  })
  const first = tokenFields(tokens)
  emit('tokens', first)

  const userinfo = await client.fetchUserInfo(config, tokens.access_token, first.claims.sub)
  emit('userinfo', { userinfo })

  if (tokens.refresh_token) {
    const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
    emit('refreshed', tokenFields(refreshed))
    const again = await client.fetchUserInfo(config, refreshed.access_token, first.claims.sub)
    emit('userinfo_after_refresh', { userinfo: again })
  }

  if (settings.postLogoutRedirectUri) {
    const logoutState = client.randomState()
    const logout = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: settings.postLogoutRedirectUri,
      state: logoutState,
    })
    emit('logout', { url: logout.href, state: logoutState })
  }
  emit('done')
}

function describe(cause) {
  if (cause instanceof URLSearchParams) return Object.fromEntries(cause)
  if (cause instanceof Error) return { name: cause.name, message: cause.message, code: cause.code }
  return cause
}

main().then(() => process.exit(0), (error) => {
  emit('failed', {
    name: error.name,
    message: error.message,
    code: error.code,
    error: error.error,
    status: error.status,
    cause: describe(error.cause),
  })
  process.exit(1)
})
