"""Short-lived JWTs that API keys are exchanged for."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from api.errors import Unauthenticated
from api.models import ApiKey

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
    role: str


@dataclass(frozen=True)
class TokenSigner:
    """Issues tokens: the service's signing key and how long a token lives, built once per process."""

    signing_key: str
    lifetime_seconds: int

    def issue(self, key: ApiKey) -> IssuedToken:
        """A token naming the key, its account and role."""
        return issue_token(key, self.signing_key, self.lifetime_seconds)


def issue_token(key: ApiKey, signing_key: str, lifetime_seconds: int) -> IssuedToken:
    """A token naming the key, its account and role; the account can never come from elsewhere."""
    now = int(time.time())
    valid_until = now + lifetime_seconds
    claims = {
        "sub": key.id,
        "acc": key.account_id,
        "role": key.role,
        "iat": now,
        "exp": valid_until,
        "iss": ISSUER,
    }
    return IssuedToken(jwt=jwt.encode(claims, signing_key, algorithm=ALGORITHM), valid_until=valid_until)


def decode_token(token: str, signing_key: str) -> TokenClaims:
    """Verified claims, or UNAUTHENTICATED for anything expired, forged or malformed."""
    try:
        claims = jwt.decode(
            token,
            signing_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "sub", "acc"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthenticated("token expired; exchange the API key again with apiKeyUser") from None
    except jwt.PyJWTError:
        raise Unauthenticated("invalid token") from None
    return TokenClaims(key_id=str(claims["sub"]), account_id=str(claims["acc"]), role=str(claims.get("role", "")))
