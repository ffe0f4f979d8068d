"""SQLModel tables of certificate login and signed sheets.

- ``login_challenge``: a challenge the server issued and has not seen answered yet
  (single use: the login deletes it in the same transaction that reads it; expired rows
  are swept when new challenges are issued).
- ``signer_certificate``: certificates that signed score sheets, content-addressed by the
  SHA-256 of their DER, so the audit leaf can name one by digest and a supervisor can
  still check the signature years later.
"""

from __future__ import annotations

__all__ = ["LoginChallengeRow", "SignerCertificateRow"]

from sqlalchemy import BigInteger, Column, Text
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
