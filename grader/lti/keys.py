"""The tool's RSA keys: the newest unretired key signs what the tool sends an LMS (the
client assertion of the token grant, deep linking responses); the published key set
holds it and every key retired less than a grace period ago, so that an LMS which
cached the old set still verifies messages signed just before a rotation.

The first key is made on first use. Two processes making it at once each store one;
the newer signs and both are published, which is harmless.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from grader.models import LtiToolKey, utcnow
from grader.services.transactions import transaction

KEY_BITS = 2048
ALGORITHM = "RS256"


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_key_pem: str

    def sign(self, claims: dict[str, Any]) -> str:
        """A JWT of the claims, signed RS256 with this key and naming its kid."""
        return jwt.encode(claims, self.private_key_pem, algorithm=ALGORITHM,
                          headers={"kid": self.kid})


def _new_key() -> LtiToolKey:
    private = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return LtiToolKey(kid=secrets.token_urlsafe(16), private_key_pem=pem, created_at=utcnow())


def _current(session: Session) -> LtiToolKey | None:
    return session.execute(
        select(LtiToolKey).where(LtiToolKey.retired_at.is_(None))
        .order_by(LtiToolKey.created_at.desc(), LtiToolKey.id.desc()).limit(1)
    ).scalar_one_or_none()


def signing_key(session: Session) -> SigningKey:
    """The key that signs now, made and stored on first use."""
    with transaction(session):
        key = _current(session)
        if key is None:
            key = _new_key()
            session.add(key)
        return SigningKey(key.kid, key.private_key_pem)


def rotate(session: Session) -> str:
    """Retire every signing key and make a new one; its kid."""
    with transaction(session):
        now = utcnow()
        session.execute(update(LtiToolKey).where(LtiToolKey.retired_at.is_(None))
                        .values(retired_at=now))
        key = _new_key()
        session.add(key)
        return key.kid


def public_key_set(session: Session, grace: timedelta) -> dict[str, Any]:
    """The JWKS the tool publishes: the signing key (made if there is none yet) and
    the keys retired within `grace`."""
    signing_key(session)
    with transaction(session):
        keys = session.execute(
            select(LtiToolKey)
            .where(or_(LtiToolKey.retired_at.is_(None),
                       LtiToolKey.retired_at > utcnow() - grace))
            .order_by(LtiToolKey.created_at.desc(), LtiToolKey.id.desc())
        ).scalars().all()
        return {"keys": [public_jwk(key.kid, key.private_key_pem) for key in keys]}


def public_jwk(kid: str, private_key_pem: str) -> dict[str, Any]:
    """The public half of a key as a JWK, with its kid, use and algorithm."""
    private = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
    if not isinstance(private, rsa.RSAPrivateKey):
        raise ValueError("the tool's keys are RSA keys")
    jwk: dict[str, Any] = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(),
                                                            as_dict=True)
    return {**jwk, "kid": kid, "use": "sig", "alg": ALGORITHM}
