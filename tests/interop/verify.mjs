#!/usr/bin/env node
// Checks tessera's access tokens with Node JWT libraries, as a resource server would.
//
// Each process is one verifier: one library, one way to find the keys, its own JWKS
// cache. It fetches the JWKS over HTTP itself (from --jwks-url, or from the issuer's
// discovery document when --jwks-url is absent) and keeps it between commands.
//
//   verify.mjs --lib jose|jsonwebtoken --issuer URL --audience AUD --typ JWT|at+jwt
//              [--jwks-url URL] [--cache-seconds 300]
//
// It prints {"ready": true, "jwks_url": ...} once the keys' URL is known, then reads
// commands from standard input, one a line, and answers each with JSON lines:
//   verify TOKEN       one line: {"ok": true, "claims": {...}} or {"ok": false, "error": ...}
//   cases JSON         one line per case of the JSON list [{"name", "token", "expect":
//                      "accept"|"reject"}], the verify answer plus "name", "expect" and
//                      "as_expected"
//   quit
// Every answer carries "jwks_fetches", the JWKS requests this process has made so far:
// the verifier and its cache live as long as the process.
//
// The code between the [docs:NAME] markers is what docs/verifiers.md shows, verbatim
// (tests/api/interop.rs checks that). jsonwebtoken verifies RS256 only.

import http from 'node:http';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

let jwksFetches = 0;
const isJwks = (url) => new URL(url, 'http://x').pathname.endsWith('/jwks.json');
// jose fetches with the global fetch, jwks-rsa with http.request: count both.
const fetchImpl = globalThis.fetch;
globalThis.fetch = (input, init) => {
  if (isJwks(input instanceof Request ? input.url : String(input))) jwksFetches += 1;
  return fetchImpl(input, init);
};
const httpRequest = http.request;
http.request = (options, ...rest) => {
  if (isJwks(typeof options === 'string' || options instanceof URL ? String(options) : options.path)) {
    jwksFetches += 1;
  }
  return httpRequest(options, ...rest);
};

// [docs:node-discovery]
export async function discoverJwksUri(issuer) {
  const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
  if (!res.ok) throw new Error(`discovery: HTTP ${res.status}`);
  const metadata = await res.json();
  if (metadata.issuer !== issuer) {
    throw new Error(`the discovery document is for ${metadata.issuer}, not ${issuer}`);
  }
  return metadata.jwks_uri;
}
// [/docs:node-discovery]

// [docs:jose]
import { createRemoteJWKSet, jwtVerify } from 'jose';

export function joseVerifier({ jwksUrl, issuer, audience, typ, cacheSeconds = 300 }) {
  const jwks = createRemoteJWKSet(new URL(jwksUrl), { cacheMaxAge: cacheSeconds * 1000 });
  return async (token) => {
    const { payload } = await jwtVerify(token, jwks, {
      algorithms: ['RS256', 'EdDSA'],
      issuer,
      audience,
      typ,
      clockTolerance: 30,
      requiredClaims: ['sub', 'exp', 'iat'],
    });
    return payload;
  };
}
// [/docs:jose]

// [docs:jsonwebtoken]
import jwt from 'jsonwebtoken';
import jwksRsa from 'jwks-rsa';

export function jsonwebtokenVerifier({ jwksUrl, issuer, audience, typ, cacheSeconds = 300 }) {
  const client = jwksRsa({ jwksUri: jwksUrl, cacheMaxAge: cacheSeconds * 1000, rateLimit: true });
  const getKey = (header, callback) => {
    client.getSigningKey(header.kid).then((key) => callback(null, key.getPublicKey()), callback);
  };
  const options = { algorithms: ['RS256'], issuer, audience, clockTolerance: 30, complete: true };
  return (token) =>
    new Promise((resolve, reject) => {
      jwt.verify(token, getKey, options, (err, decoded) => {
        if (err) return reject(err);
        if (decoded.header.typ !== typ) return reject(new Error(`typ is ${decoded.header.typ}, not ${typ}`));
        if (!decoded.payload.sub) return reject(new Error('no sub claim'));
        resolve(decoded.payload);
      });
    });
}
// [/docs:jsonwebtoken]

async function makeVerifier(args) {
  const jwksUrl = args['jwks-url'] ?? (await discoverJwksUri(args.issuer));
  const config = {
    jwksUrl,
    issuer: args.issuer,
    audience: args.audience,
    typ: args.typ,
    cacheSeconds: Number(args['cache-seconds'] ?? 300),
  };
  if (args.lib === 'jose') return { verify: joseVerifier(config), jwksUrl };
  if (args.lib === 'jsonwebtoken') return { verify: jsonwebtokenVerifier(config), jwksUrl };
  throw new Error(`--lib must be jose or jsonwebtoken, not ${args.lib}`);
}

async function check(verify, token) {
  try {
    const claims = await verify(token);
    const picked = Object.fromEntries(['sub', 'email', 'role', 'iss', 'aud'].map((k) => [k, claims[k] ?? null]));
    return { ok: true, claims: picked, jwks_fetches: jwksFetches };
  } catch (e) {
    return { ok: false, error: `${e.code ?? e.name}: ${e.message}`, jwks_fetches: jwksFetches };
  }
}

const print = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function main() {
  const { values: args } = parseArgs({
    options: Object.fromEntries(
      ['lib', 'issuer', 'audience', 'typ', 'jwks-url', 'cache-seconds'].map((k) => [k, { type: 'string' }]),
    ),
  });
  for (const required of ['lib', 'issuer', 'audience', 'typ']) {
    if (!args[required]) throw new Error(`--${required} is required`);
  }
  const { verify, jwksUrl } = await makeVerifier(args);

  print({ ready: true, lib: args.lib, jwks_url: jwksUrl });
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    const [cmd, arg = ''] = line.trim().split(/ (.*)/s);
    if (cmd === 'verify') print(await check(verify, arg));
    else if (cmd === 'cases') {
      for (const c of JSON.parse(arg)) {
        const out = await check(verify, c.token);
        print({ ...out, name: c.name, expect: c.expect, as_expected: out.ok === (c.expect === 'accept') });
      }
    } else if (cmd === 'quit') break;
    else print({ error: `unknown command ${cmd}` });
  }
}

// Exit at once after "quit": idle keep-alive sockets would hold the process a few seconds.
main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`verify.mjs: ${e.stack ?? e}\n`);
    process.exit(2);
  },
);
