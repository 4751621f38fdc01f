"""Short-lived JWTs that API keys are exchanged for.

Spacelift's clients read the token without verifying it: they take its single ``aud`` as the
API's base URL and send every later request to ``<aud>/graphql``.  So ``aud`` is the base URL
the token was issued at (or the configured public URL), and a token presented at another base
URL is refused.  ``jti`` names the token so that ``logout`` can end it before it expires.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from api.errors import Unauthenticated
from api.models import ApiKey, new_id

ALGORITHM = "HS256"
ISSUER = "audittrail"


@dataclass(frozen=True)
class IssuedToken:
    jwt: str
    valid_until: int


@dataclass(frozen=True)
class TokenClaims:
    key_id: str
    account_id: str
    token_id: str
    valid_until: int


@dataclass(frozen=True)
class TokenSigner:
    """Issues and checks tokens: the service's signing key and a token's lifetime, built once per process."""

    signing_key: str
    lifetime_seconds: int

    def issue(self, key: ApiKey, *, audience: str) -> IssuedToken:
        """A token naming the key, its account and role, for the API at ``audience``."""
        now = int(time.time())
        valid_until = now + self.lifetime_seconds
        claims = {
            "sub": key.id,
            "acc": key.account_id,
            "role": key.role,
            "iat": now,
            "exp": valid_until,
            "iss": ISSUER,
            "aud": audience,
            "jti": new_id(),
        }
        return IssuedToken(jwt=jwt.encode(claims, self.signing_key, algorithm=ALGORITHM), valid_until=valid_until)

    def decode(self, token: str, *, audience: str) -> TokenClaims:
        """Verified claims, or UNAUTHENTICATED for anything expired, forged, malformed or meant for another URL."""
        try:
            claims = jwt.decode(
                token,
                self.signing_key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                audience=audience,
                options={"require": ["exp", "sub", "acc", "aud", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("unauthorized: token expired; exchange the API key again with apiKeyUser") from None
        except jwt.InvalidAudienceError:
            raise Unauthenticated(
                f"unauthorized: this token was issued for another address; exchange the API key with apiKeyUser"
                f" at {audience}"
            ) from None
        except jwt.PyJWTError:
            raise Unauthenticated("unauthorized: invalid token") from None
        return TokenClaims(
            key_id=str(claims["sub"]),
            account_id=str(claims["acc"]),
            token_id=str(claims["jti"]),
            valid_until=int(claims["exp"]),
        )
