"""Configuration: typed values, clear errors, and a README that documents every variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange.config import VARIABLES, ConfigError, Settings, replication_options

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_work_locally_without_any_variable():
    settings = Settings.from_env({"HOME": "/home/ada"})
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.cassandra_port == 9042
    assert settings.state_dir == Path("/home/ada/.local/share/kafka-exchange")
    assert not settings.is_production


def test_settings_round_trip_through_the_environment():
    settings = Settings.from_env({"KAFKA_PORT": "19092", "EXCHANGE_ENV": "production", "HOME": "/x"})
    assert Settings.from_env(settings.to_env()) == settings
    assert settings.is_production


@pytest.mark.parametrize("name, value", [
    ("KAFKA_PORT", "ninety"), ("KAFKA_PORT", "70000"), ("EXCHANGE_ENV", "staging"),
    ("CASSANDRA_KEYSPACE", "drop table"), ("CASSANDRA_REPLICATION", "SimpleStrategy:zero"),
    ("KAFKA_SESSION_TIMEOUT_MS", "5999"), ("KAFKA_SESSION_TIMEOUT_MS", "ten"),
])
def test_a_bad_value_names_its_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_replication_strategies():
    assert replication_options("SimpleStrategy:1") == {"class": "SimpleStrategy", "replication_factor": 1}
    assert replication_options("NetworkTopologyStrategy:dc1=3,dc2=2") == {
        "class": "NetworkTopologyStrategy", "dc1": 3, "dc2": 2,
    }
    with pytest.raises(ConfigError):
        replication_options("NetworkTopologyStrategy:dc1")


def test_dotenv_file_is_read_and_the_real_environment_wins(tmp_path, monkeypatch):
    dotenv = tmp_path / ".env"
    dotenv.write_text("KAFKA_PORT=19092\nCASSANDRA_PORT=19042\n")
    monkeypatch.setenv("CASSANDRA_PORT", "29042")
    monkeypatch.delenv("KAFKA_PORT", raising=False)
    settings = Settings.from_env(dotenv=dotenv)
    assert settings.kafka_port == 19092
    assert settings.cassandra_port == 29042


def test_every_variable_is_documented_in_the_readme():
    readme = README.read_text()
    missing = [name for name in VARIABLES if f"`{name}`" not in readme]
    assert not missing, f"README lacks {missing}"


def test_tls_takes_a_certificate_and_its_key_together(tmp_path):
    from exchange.tls import local_certificate

    cert, key = local_certificate(tmp_path)
    made = cert.read_bytes()
    assert local_certificate(tmp_path) == (cert, key) and cert.read_bytes() == made  # kept, not made again
    assert key.stat().st_mode & 0o077 == 0  # the key is the owner's only
    served = Settings.from_env({"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)})
    assert served.tls and served.api_url.startswith("https://") and served.hub_url.startswith("wss://")
    assert not Settings.from_env({}).tls and Settings.from_env({}).api_url.startswith("http://")
    with pytest.raises(ConfigError, match="go together"):
        Settings.from_env({"TLS_CERT_FILE": str(cert)})
    with pytest.raises(ConfigError, match="no such file"):
        Settings.from_env({"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(tmp_path / "missing.pem")})


def test_the_local_certificate_names_this_machine_and_is_its_own_authority(tmp_path):
    import ipaddress

    from cryptography import x509

    from exchange.tls import local_certificate

    certificate = x509.load_pem_x509_certificate(local_certificate(tmp_path)[0].read_bytes())
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
