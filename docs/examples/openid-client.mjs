#!/usr/bin/env node
// A relying party in a few lines: openid-client 6 with its defaults (discovery, then CIBA poll mode).
//
//   node docs/examples/openid-client.mjs [login_hint]
//
// The issuer and client are CIBA_ISSUER, CIBA_CLIENT_ID and CIBA_CLIENT_SECRET, else the demo tenant and demo client
// of the server `npm start` recorded in ${CIBA_DATA_DIR:-.data}/local.json (any PORT). openid-client is installed in
// this repository (a devDependency); in your own project: npm install openid-client.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as client from 'openid-client';

const local = (() => {
  try {
    return JSON.parse(readFileSync(join(process.env.CIBA_DATA_DIR || '.data', 'local.json'), 'utf8'));
  } catch {
    return {};
  }
})();
const issuer = new URL(process.env.CIBA_ISSUER ?? `${local.url ?? 'http://127.0.0.1:8787'}/demo`);
const clientId = process.env.CIBA_CLIENT_ID ?? local.demoClient?.client_id ?? 'demo-client';
const clientSecret = process.env.CIBA_CLIENT_SECRET ?? local.demoClient?.client_secret;

// discovery(issuer, client_id, client_secret): the defaults, client_secret_post included. allowInsecureRequests only
// because the local server speaks plain http; leave it out against https.
const config = await client.discovery(issuer, clientId, clientSecret, undefined, {
  execute: issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [],
});

// CIBA Core §7: ask for the user's approval, then poll (the library waits `interval` between polls).
const ack = await client.initiateBackchannelAuthentication(config, {
  scope: 'openid profile',
  login_hint: process.argv[2] ?? 'alice',
  binding_message: 'Code 7Q-10',
});
console.log(`asked: auth_req_id ${ack.auth_req_id.slice(0, 12)}…, waiting for the user (${ack.expires_in} s)`);
const tokens = await client.pollBackchannelAuthenticationGrant(config, ack);
const claims = tokens.claims();
console.log(`ID token for ${claims.sub} (${claims.name}), issued by ${claims.iss}`);
