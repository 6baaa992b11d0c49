"""An OAuth 2.0 client library (authlib's requests-based OAuth2Session) against
tessera: client_credentials with client_secret_basic and client_secret_post,
refresh as a public client, introspection and revocation.

Usage: oauth_client.py BASE_URL CLIENT_ID CLIENT_SECRET REFRESH_TOKEN
Prints one JSON object with what each step returned; tests/api/interop.rs
checks it.
"""
import json
import sys

from authlib.integrations.requests_client import OAuth2Session

base, client_id, client_secret, refresh_token = sys.argv[1:5]
token_url = f"{base}/oauth2/token"
out = {}

for method in ("client_secret_basic", "client_secret_post"):
    service = OAuth2Session(client_id, client_secret, token_endpoint_auth_method=method, scope="read")
    token = service.fetch_token(token_url, grant_type="client_credentials")
    out[method] = {k: token.get(k) for k in ("token_type", "expires_in", "scope", "refresh_token")}
    out[method]["access_token"] = token["access_token"]

service = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_basic")
access = out["client_secret_basic"]["access_token"]
out["introspect_access"] = service.introspect_token(f"{base}/oauth2/introspect", token=access).json()

# A browser or mobile app: a public client that only names itself.
public = OAuth2Session("my-spa", token_endpoint_auth_method="none")
refreshed = public.refresh_token(token_url, refresh_token=refresh_token)
out["refreshed"] = {k: refreshed.get(k) for k in ("token_type", "expires_in", "access_token", "refresh_token")}
out["introspect_refresh"] = service.introspect_token(
    f"{base}/oauth2/introspect", token=refreshed["refresh_token"], token_type_hint="refresh_token"
).json()
out["introspect_used_refresh"] = service.introspect_token(f"{base}/oauth2/introspect", token=refresh_token).json()

revoked = service.revoke_token(f"{base}/oauth2/revoke", token=access, token_type_hint="access_token")
out["revoke_status"] = revoked.status_code
out["introspect_revoked"] = service.introspect_token(f"{base}/oauth2/introspect", token=access).json()

print(json.dumps(out))
