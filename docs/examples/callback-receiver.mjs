#!/usr/bin/env node
// A CIBA ping/push notification endpoint (CIBA Core §10.2, §10.3.1, §12), with no framework.
//
//   CIBA_CLIENT_ID=... CIBA_CLIENT_SECRET=... CIBA_NOTIFICATION_TOKEN=... node docs/examples/callback-receiver.mjs [--once]
//
// --once: handle one callback, then exit (0 when its tokens were received and checked, 1 otherwise): for scripts.
//
// It listens on http://127.0.0.1:${RECEIVER_PORT:-9000}/cb (its own variable: PORT is the server's). The issuer is
// CIBA_ISSUER, else the server `npm start` recorded in ${CIBA_DATA_DIR:-.data}/local.json (any PORT) with the tenant
// CIBA_TENANT (default demo), else http://127.0.0.1:8787/demo.
//
// What a receiver must do, whatever it is written in:
// - check `Authorization: Bearer <client_notification_token>` against the token it sent with that request
//   (constant-time), and answer 401 when it does not match: the service does not retry a 401;
// - answer 204 (or any 2xx) quickly and do the work afterwards; a slow answer (over 5 s) counts as a failure
//   and is retried;
// - be idempotent: delivery is at least once, so the same callback can arrive twice; key on auth_req_id;
// - never answer with a redirect: it is not followed and counts as a failure.
// jose is used for push mode only (verifying the pushed ID token); it is installed in this repository.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';

/** Where `npm start` listens: the URL it wrote to its state file (lib/local/state-file.ts). */
const localServerUrl = () => {
  try {
    const dataDir = process.env.CIBA_DATA_DIR || '.data';
    return JSON.parse(readFileSync(join(dataDir, 'local.json'), 'utf8')).url;
  } catch {
    return undefined;
  }
};
const issuer =
  process.env.CIBA_ISSUER ??
  `${process.env.CIBA_BASE_URL ?? localServerUrl() ?? 'http://127.0.0.1:8787'}/${process.env.CIBA_TENANT ?? 'demo'}`;
const clientId = process.env.CIBA_CLIENT_ID ?? '';
const clientSecret = process.env.CIBA_CLIENT_SECRET ?? '';
// A real client keeps one token per request (the one it sent to /bc-authorize); one for all keeps the example short.
const expectedToken = process.env.CIBA_NOTIFICATION_TOKEN ?? '';
const port = Number(process.env.RECEIVER_PORT ?? 9000);
const once = process.argv.includes('--once');
const seen = new Set();

const sameSecret = (a, b) =>
  timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());

// Ping: the callback says only "ready"; the tokens (or access_denied) come from the token endpoint.
const redeem = async (authReqId) => {
  const res = await fetch(`${issuer}/oauth/token`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: authReqId }),
  });
  const body = await res.json();
  if (!res.ok) {
    console.log(`ping ${authReqId}: ${body.error}`);
    return false;
  }
  console.log(`ping ${authReqId}: tokens for ${JSON.parse(Buffer.from(body.id_token.split('.')[1], 'base64url')).sub}`);
  return true;
};

// Push: the body is the token response; the ID token must verify and name this request (CIBA §10.3.1).
const acceptPush = async (body) => {
  if (body.error) {
    console.log(`push ${body.auth_req_id}: ${body.error}`); // access_denied, expired_token or transaction_failed
    return false;
  }
  const { createRemoteJWKSet, jwtVerify } = await import('jose');
  const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(body.id_token, jwks, { issuer, audience: clientId });
  if (payload['urn:openid:params:jwt:claim:auth_req_id'] !== body.auth_req_id) throw new Error('auth_req_id mismatch');
  // at_hash: the left half of the SHA-256 of the access token (ES256, PS256, RS256), base64url.
  if (!/^(ES|PS|RS)256$/.test(protectedHeader.alg)) throw new Error(`unexpected alg ${protectedHeader.alg}`);
  const digest = createHash('sha256').update(body.access_token, 'ascii').digest();
  if (payload.at_hash !== digest.subarray(0, 16).toString('base64url')) throw new Error('at_hash mismatch');
  console.log(`push ${body.auth_req_id}: tokens for ${payload.sub}`);
  return true;
};

createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const auth = req.headers.authorization ?? '';
    if (req.method !== 'POST' || !auth.startsWith('Bearer ') || !sameSecret(auth.slice(7), expectedToken)) {
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer' }).end();
      return;
    }
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400).end();
      return;
    }
    res.writeHead(204).end(); // answer first, work after
    if (typeof body.auth_req_id !== 'string' || seen.has(body.auth_req_id)) return; // a duplicate: done already
    seen.add(body.auth_req_id);
    const work = 'access_token' in body || 'error' in body ? acceptPush(body) : redeem(body.auth_req_id);
    work
      .then((ok) => once && process.exit(ok ? 0 : 1))
      .catch((error) => {
        console.error(`callback ${body.auth_req_id}: ${error.message} (issuer ${issuer}; CIBA_ISSUER sets it)`);
        if (once) process.exit(1);
      });
  });
}).listen(port, '127.0.0.1', () => console.log(`callback receiver on http://127.0.0.1:${port}/cb for ${issuer}`));
