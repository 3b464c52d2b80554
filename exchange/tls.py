"""A local certificate for serving https:// and wss:// on this machine (`exchange up --tls`).

Self-signed, for 127.0.0.1, ::1 and localhost, valid a year, kept in the state directory and made
again when it is about to expire. Clients trust it by its file: `curl --cacert`, Python's
SSL_CERT_FILE (ssl, aiohttp, websockets), REQUESTS_CA_BUNDLE (requests), NODE_EXTRA_CA_CERTS
(Node). In production the API and the hub take a real certificate the same way (TLS_CERT_FILE,
TLS_KEY_FILE), or sit behind a proxy that ends TLS.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_DAYS = 365
RENEW_DAYS = 7  # made again when fewer days than this are left


def local_certificate(state_dir: Path) -> tuple[Path, Path]:
    """(certificate, key) files for this machine, made when missing or about to expire."""
    folder = state_dir / "tls"
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    if cert_file.is_file() and key_file.is_file() and _days_left(cert_file) > RENEW_DAYS:
        return cert_file, key_file
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kafka-exchange local")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1"))]), critical=False)
        # Its own authority, so clients can trust the file itself as they would a CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_file.touch(mode=0o600)
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_file, key_file


def _days_left(cert_file: Path) -> float:
    try:
        certificate = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except ValueError:
        return 0.0
    left = certificate.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc)
    return left.total_seconds() / 86400
