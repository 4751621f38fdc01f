"""Short-lived JWTs that API keys are exchanged for.

Spacelift's clients read the token without verifying it: they take its single ``aud`` as the
API's base URL and send every later request to ``<aud>/graphql``.  So ``aud`` is the base URL
the token was issued at (or the configured public URL), and a token presented at another base
URL is refused.  ``jti`` names the token so that ``logout`` can end it before it expires.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

import jwt

from api.errors import Unauthenticated
from api.models import ApiKey, new_id

ALGORITHM = "HS256"
ISSUER = "audittrail"
VERIFIED_TOKENS = 4096
"""Tokens whose signature and claims were verified, kept by their text and audience (most recent first)."""


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


class VerifiedTokens:
    """The claims of tokens already verified, by (token, audience).

    A token's text fixes its claims, and its signature either matches them or not, forever: only its
    expiry changes its verdict, and that is checked again on every use.  So a token is verified
    (HMAC, base64 and JSON, PyJWT's key checks: about 0.2 ms) on its first request only.  Whether
    its key is revoked or the token logged out is not decided here: ``identity_from_token`` reads it
    from the database on every request.  Only tokens that verified are kept, at most ``maxsize``.
    """

    def __init__(self, maxsize: int = VERIFIED_TOKENS) -> None:
        self.maxsize = maxsize
        self._claims: OrderedDict[tuple[str, str], TokenClaims] = OrderedDict()

    def get(self, token: str, audience: str, *, now: float) -> TokenClaims | None:
        """The claims kept for ``token`` at ``audience``; UNAUTHENTICATED once they have expired."""
        claims = self._claims.get((token, audience))
        if claims is None:
            return None
        if claims.valid_until <= now:  # PyJWT's rule: expired from the second of ``exp`` on
            del self._claims[(token, audience)]
            raise Unauthenticated(TOKEN_EXPIRED)
        self._claims.move_to_end((token, audience))
        return claims

    def put(self, token: str, audience: str, claims: TokenClaims) -> None:
        self._claims[(token, audience)] = claims
        while len(self._claims) > self.maxsize:
            self._claims.popitem(last=False)

    def __len__(self) -> int:
        return len(self._claims)


TOKEN_EXPIRED = "unauthorized: token expired; exchange the API key again with apiKeyUser"


@dataclass(frozen=True)
class TokenSigner:
    """Issues and checks tokens: the service's signing key and a token's lifetime, built once per process."""

    signing_key: str
    lifetime_seconds: int
    verified: VerifiedTokens = field(default_factory=VerifiedTokens, compare=False, repr=False)

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
        known = self.verified.get(token, audience, now=time.time())
        if known is not None:
            return known
        verified = self._verify(token, audience=audience)
        self.verified.put(token, audience, verified)
        return verified

    def is_signed(self, token: str) -> bool:
        """Whether ``token`` is one this service signed and that has not expired, whatever its audience
        (the body limit's question: has this client held a key?).  Asked only of bodies over the
        anonymous limit, so its 0.2 ms is not worth a cache."""
        try:
            jwt.decode(
                token,
                self.signing_key,
                algorithms=[ALGORITHM],
                issuer=ISSUER,
                options={"verify_aud": False, "require": ["exp", "sub", "acc", "aud", "jti"]},
            )
        except jwt.PyJWTError:
            return False
        return True

    def _verify(self, token: str, *, audience: str) -> TokenClaims:
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
            raise Unauthenticated(TOKEN_EXPIRED) from None
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
