"""SQLModel tables of certificate login and signed sheets.

- ``login_challenge``: a challenge the server issued and has not seen answered yet
  (single use: the login deletes it in the same transaction that reads it; expired rows
  are swept when new challenges are issued).
- ``signer_certificate``: certificates that signed score sheets, content-addressed by the
  SHA-256 of their DER, so the audit leaf can name one by digest and a supervisor can
  still check the signature years later.
- ``signing_crl``: the CRLs a signature was checked with when the server accepted it,
  content-addressed by the SHA-256 of their DER (kept once, however many signatures name
  them; the signature record logs their digests), so a supervisor's bundle can check the
  chain at signing time with exactly those CRLs (docs/audit.md).
"""

from __future__ import annotations

__all__ = ["LoginChallengeRow", "SignerCertificateRow", "SigningCrlRow"]

from sqlalchemy import BigInteger, Column, LargeBinary, Text
from sqlmodel import Field, SQLModel


class LoginChallengeRow(SQLModel, table=True):
    __tablename__ = "login_challenge"

    nonce: str = Field(primary_key=True, max_length=64)
    session_id: str = Field(max_length=64)
    doc: str = Field(sa_column=Column(Text, nullable=False))  # Challenge.to_json(), as JSON
    expires_ms: int = Field(sa_type=BigInteger, index=True)  # unix ms


class SignerCertificateRow(SQLModel, table=True):
    __tablename__ = "signer_certificate"

    sha256: str = Field(primary_key=True, max_length=64)  # of the leaf's DER
    pem: str = Field(sa_column=Column(Text, nullable=False))  # leaf first, then its chain
    first_seen_ms: int = Field(sa_type=BigInteger)


class SigningCrlRow(SQLModel, table=True):
    __tablename__ = "signing_crl"

    sha256: str = Field(primary_key=True, max_length=64)  # of the DER
    der: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    first_seen_ms: int = Field(sa_type=BigInteger)
