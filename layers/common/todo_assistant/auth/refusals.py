"""Why a token was refused, in words that are safe to send back.

PyJWT's own messages name key types and library details ("the key's algorithm does not match",
"Could not deserialize key data"): useful to an attacker probing which keys exist, so they go
to the log only. Responses say one of a few fixed things.
"""

from __future__ import annotations

import jwt
from jwt.exceptions import InvalidJTIError, InvalidSubjectError


def token_problem(error: jwt.PyJWTError) -> str:
    if isinstance(error, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(error, jwt.ImmatureSignatureError):
        return "not yet valid"
    if isinstance(error, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(error, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"missing claim {error.claim!r}"
    if isinstance(error, jwt.InvalidIssuedAtError | InvalidSubjectError | InvalidJTIError):
        return "malformed claims"
    if isinstance(error, jwt.InvalidSignatureError):
        return "signature verification failed"
    if isinstance(error, jwt.DecodeError):
        return "malformed token"
    return "rejected"
