"""The SASL settings the production compose file passes reach every Kafka client a service builds."""

from faststream.security import SASLScram256, SASLScram512

from hotline.runtime.kafka import broker_security, build_broker, client_options
from hotline.runtime.settings import ServiceSettings


def test_a_plaintext_broker_needs_no_credentials():
    settings = ServiceSettings(kafka_bootstrap_servers="k:9092")
    assert broker_security(settings) is None
    assert settings.kafka_client_options() == {"bootstrap_servers": "k:9092"}
    assert client_options("k:9092") == {"bootstrap_servers": "k:9092"}


def test_sasl_scram_settings_reach_the_broker_and_the_raw_clients(monkeypatch):
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "intake")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", "s3cret-from-env")
    settings = ServiceSettings()
    security = broker_security(settings)
    assert isinstance(security, SASLScram512) and (security.username, security.password) == ("intake", "s3cret-from-env")
    assert client_options(settings.kafka_client_options()) == {
        "bootstrap_servers": "127.0.0.1:9092", "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "intake", "sasl_plain_password": "s3cret-from-env",
    }
    assert "s3cret" not in repr(settings)  # a logged settings object does not show the password
    build_broker(settings, "intake")  # FastStream accepts the security object


def test_the_mechanism_is_a_setting():
    settings = ServiceSettings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-256",
                               kafka_sasl_username="u", kafka_sasl_password="p")
    security = broker_security(settings)
    assert isinstance(security, SASLScram256) and security.use_ssl
    assert settings.kafka_client_options()["ssl_context"] is not None
