"""The security tests reuse the integration fixtures: the four services in-process on the real stack."""

from tests.integration.conftest import db, services  # noqa: F401 - fixtures, re-exported for this folder
