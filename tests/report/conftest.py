"""The certificate fixtures of tests/pki/test_login_api.py (a dev PKI generated for now,
loaded as the app's trust directory), shared with the report tests."""

from pki.test_login_api import capi, devpki, pki_settings

__all__ = ["capi", "devpki", "pki_settings"]
