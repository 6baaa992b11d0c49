#!/usr/bin/env python3
"""Checks tessera's access tokens with Python JWT libraries, as a resource server would.

Each process is one verifier: one library, one way to find the keys, its own JWKS
cache. It fetches the JWKS over HTTP itself (from --jwks-url, or from the issuer's
discovery document when --jwks-url is absent) and keeps it between commands.

    verify.py --lib pyjwt|authlib|joserfc --issuer URL --audience AUD --typ JWT|at+jwt
              [--jwks-url URL] [--cache-seconds 300]

It prints {"ready": true, "jwks_url": ...} once the keys' URL is known, then reads
commands from standard input, one a line, and answers each with JSON lines:
  verify TOKEN       one line: {"ok": true, "claims": {...}} or {"ok": false, "error": ...}
  cases JSON         one line per case of the JSON list [{"name", "token", "expect":
                     "accept"|"reject"}], the verify answer plus "name", "expect" and
                     "as_expected"
  quit
Every answer carries "jwks_fetches", the JWKS requests this process has made so far:
the verifier and its cache live as long as the process.

The code between the [docs:NAME] markers is what docs/verifiers.md shows, verbatim
(tests/api/interop.rs checks that).
"""

import argparse
import http.client
import json
import sys
import urllib.parse
import warnings

JWKS_FETCHES = 0
_putrequest = http.client.HTTPConnection.putrequest


def _counting_putrequest(self, method, url, *args, **kwargs):
    """Counts JWKS requests; urllib (PyJWT) and urllib3 (requests) both send through here."""
    global JWKS_FETCHES
    if urllib.parse.urlsplit(url).path.endswith("/jwks.json"):
        JWKS_FETCHES += 1
    return _putrequest(self, method, url, *args, **kwargs)


http.client.HTTPConnection.putrequest = _counting_putrequest


# [docs:python-discovery]
import requests


def discover_jwks_uri(issuer):
    """The jwks_uri of the issuer's discovery document, which must name the same issuer."""
    res = requests.get(issuer.rstrip("/") + "/.well-known/openid-configuration", timeout=10)
    res.raise_for_status()
    metadata = res.json()
    if metadata["issuer"] != issuer:
        raise ValueError(f"the discovery document is for {metadata['issuer']!r}, not {issuer!r}")
    return metadata["jwks_uri"]
# [/docs:python-discovery]


# [docs:pyjwt]
import jwt  # PyJWT[crypto]


def pyjwt_verifier(jwks_url, issuer, audience, typ, cache_seconds=300):
    """verify(token) returns the claims or raises a jwt.PyJWTError."""
    jwks = jwt.PyJWKClient(jwks_url, lifespan=cache_seconds)

    def verify(token):
        key = jwks.get_signing_key_from_jwt(token)
        decoded = jwt.decode_complete(
            token,
            key,
            algorithms=["RS256", "EdDSA"],
            audience=audience,
            issuer=issuer,
            leeway=30,
            options={"require": ["iss", "aud", "sub", "exp", "iat"]},
        )
        if decoded["header"].get("typ") != typ:
            raise jwt.InvalidTokenError(f"typ is {decoded['header'].get('typ')!r}, not {typ!r}")
        return decoded["payload"]

    return verify
# [/docs:pyjwt]


# [docs:python-remote-jwks]
import time

import requests


class RemoteJwks:
    """A JWKS fetched with requests and cached for cache_seconds. A kid that the
    cached copy lacks refetches it, at most once per cooldown_seconds."""

    def __init__(self, url, cache_seconds=300, cooldown_seconds=30):
        self.url, self.cache_seconds, self.cooldown_seconds = url, cache_seconds, cooldown_seconds
        self.keys, self.fetched_at = None, None

    def _fetch(self):
        res = requests.get(self.url, timeout=10)
        res.raise_for_status()
        self.keys = {k["kid"]: k for k in res.json()["keys"] if k.get("use", "sig") == "sig"}
        self.fetched_at = time.monotonic()

    def get(self, kid):
        """The JWK (a dict) named kid; LookupError when the JWKS lacks it."""
        if self.keys is None or time.monotonic() - self.fetched_at >= self.cache_seconds:
            self._fetch()
        if kid not in self.keys and time.monotonic() - self.fetched_at >= self.cooldown_seconds:
            self._fetch()
        if kid not in self.keys:
            raise LookupError(f"no key {kid!r} in the JWKS")
        return self.keys[kid]
# [/docs:python-remote-jwks]


# [docs:authlib]
from authlib.jose import JsonWebKey, JsonWebToken


def authlib_verifier(jwks, issuer, audience, typ):
    """jwks: a RemoteJwks. verify(token) returns the claims or raises."""
    jwt = JsonWebToken(["RS256", "EdDSA"])
    claims_options = {
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": audience},
        "sub": {"essential": True},
        "exp": {"essential": True},
    }

    def load_key(header, payload):
        return JsonWebKey.import_key(jwks.get(header["kid"]))

    def verify(token):
        claims = jwt.decode(token, load_key, claims_options=claims_options)
        claims.validate(leeway=30)  # decode() alone checks no claim
        if claims.header.get("typ") != typ:
            raise ValueError(f"typ is {claims.header.get('typ')!r}, not {typ!r}")
        return dict(claims)

    return verify
# [/docs:authlib]


# [docs:joserfc]
from joserfc import jwt as jose_jwt
from joserfc.jwk import JWKRegistry


def joserfc_verifier(jwks, issuer, audience, typ):
    """jwks: a RemoteJwks. verify(token) returns the claims or raises a joserfc error."""
    registry = jose_jwt.JWTClaimsRegistry(
        leeway=30,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": audience},
        sub={"essential": True},
        exp={"essential": True},
    )

    def load_key(obj):
        return JWKRegistry.import_key(jwks.get(obj.headers()["kid"]))

    def verify(token):
        decoded = jose_jwt.decode(token, load_key, algorithms=["RS256", "EdDSA"])
        registry.validate(decoded.claims)
        if decoded.header.get("typ") != typ:
            raise ValueError(f"typ is {decoded.header.get('typ')!r}, not {typ!r}")
        return decoded.claims

    return verify
# [/docs:joserfc]


def make_verifier(args):
    """(verify, the JWKS URL it fetches)."""
    jwks_url = args.jwks_url or discover_jwks_uri(args.issuer)
    if args.lib == "pyjwt":
        return pyjwt_verifier(jwks_url, args.issuer, args.audience, args.typ, args.cache_seconds), jwks_url
    jwks = RemoteJwks(jwks_url, cache_seconds=args.cache_seconds)
    if args.lib == "authlib":
        return authlib_verifier(jwks, args.issuer, args.audience, args.typ), jwks_url
    return joserfc_verifier(jwks, args.issuer, args.audience, args.typ), jwks_url


def check(verify, token):
    try:
        claims = verify(token)
    except Exception as e:  # every rejection, whatever the library calls it
        return {"ok": False, "error": f"{type(e).__name__}: {e}", "jwks_fetches": JWKS_FETCHES}
    picked = {k: claims.get(k) for k in ("sub", "email", "role", "iss", "aud")}
    return {"ok": True, "claims": picked, "jwks_fetches": JWKS_FETCHES}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lib", required=True, choices=["pyjwt", "authlib", "joserfc"])
    p.add_argument("--issuer", required=True)
    p.add_argument("--audience", required=True)
    p.add_argument("--typ", required=True)
    p.add_argument("--jwks-url", help="absent: discovery from the issuer")
    p.add_argument("--cache-seconds", type=float, default=300)
    args = p.parse_args()
    # authlib.jose says it is deprecated (joserfc is its successor) and joserfc
    # that "EdDSA" is (RFC 9864): both to stderr, once, not into the answers.
    warnings.simplefilter("once")
    verify, jwks_url = make_verifier(args)

    print(json.dumps({"ready": True, "lib": args.lib, "jwks_url": jwks_url}), flush=True)
    for line in sys.stdin:
        cmd, _, arg = line.strip().partition(" ")
        if cmd == "verify":
            out = check(verify, arg)
        elif cmd == "cases":
            for case in json.loads(arg):
                out = check(verify, case["token"])
                out.update(name=case["name"], expect=case["expect"])
                out["as_expected"] = out["ok"] == (case["expect"] == "accept")
                print(json.dumps(out), flush=True)
            continue
        elif cmd == "quit":
            break
        else:
            out = {"error": f"unknown command {cmd!r}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
