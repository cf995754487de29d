"""Certificates and keys of the local control plane: a CA, the API server's serving cert, the service-account key."""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

VALIDITY = datetime.timedelta(days=2)
API_SERVER_NAMES = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local")


@dataclass(frozen=True)
class Pki:
    """Paths of the PEM files the control plane is started with."""

    ca_cert: Path
    ca_key: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path
    service_account_pub: Path
    front_proxy_ca: Path
    front_proxy_client_cert: Path
    front_proxy_client_key: Path
    """The aggregation layer's: the API server proxies to extension API servers (prometheus-adapter, metrics-server)
    with this client cert, and they trust the user it forwards only from a cert of this separate CA."""


FRONT_PROXY_CLIENT = "front-proxy-client"


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    path.chmod(0o600)
    return path


def _private_pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _cert(subject: str, public_key, issuer: x509.Name | None, signer, *, ca: bool, sans: list[x509.GeneralName] | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        builder = builder.add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH, x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer, hashes.SHA256())


def generate(directory: Path, service_ip: str) -> Pki:
    """A fresh CA and the certs and keys signed by it, written to `directory` (mode 0600)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _cert("gosvc-e2e-ca", ca_key.public_key(), None, ca_key, ca=True)
    serving_key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in API_SERVER_NAMES]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ("127.0.0.1", service_ip)]
    serving = _cert("kube-apiserver", serving_key.public_key(), ca_cert.subject, ca_key, ca=False, sans=sans)
    # Service-account tokens are signed with RS256 unless told otherwise, so this key is RSA.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    proxy_ca_key = ec.generate_private_key(ec.SECP256R1())
    proxy_ca = _cert("gosvc-e2e-front-proxy-ca", proxy_ca_key.public_key(), None, proxy_ca_key, ca=True)
    proxy_client_key = ec.generate_private_key(ec.SECP256R1())
    proxy_client = _cert(FRONT_PROXY_CLIENT, proxy_client_key.public_key(), proxy_ca.subject, proxy_ca_key, ca=False)
    pem = serialization.Encoding.PEM
    return Pki(
        ca_cert=_write(directory / "ca.crt", ca_cert.public_bytes(pem)),
        ca_key=_write(directory / "ca.key", _private_pem(ca_key)),
        serving_cert=_write(directory / "apiserver.crt", serving.public_bytes(pem)),
        serving_key=_write(directory / "apiserver.key", _private_pem(serving_key)),
        service_account_key=_write(directory / "sa.key", _private_pem(sa_key)),
        service_account_pub=_write(
            directory / "sa.pub", sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
        ),
        front_proxy_ca=_write(directory / "front-proxy-ca.crt", proxy_ca.public_bytes(pem)),
        front_proxy_client_cert=_write(directory / "front-proxy-client.crt", proxy_client.public_bytes(pem)),
        front_proxy_client_key=_write(directory / "front-proxy-client.key", _private_pem(proxy_client_key)),
    )


@dataclass(frozen=True)
class ServerCertificate:
    """PEM texts of a CA and a server certificate it signed, as a tls Secret carries them."""

    ca_cert: str
    cert: str
    key: str


def server_certificate(common_name: str, dns_names: list[str], ips: list[str] = ("127.0.0.1",)) -> ServerCertificate:
    """A fresh CA and a certificate it signs for `dns_names` and `ips`, usable for server and client auth."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _cert(f"{common_name} CA", ca_key.public_key(), None, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    cert = _cert(common_name, key.public_key(), ca_cert.subject, ca_key, ca=False, sans=sans)
    pem = serialization.Encoding.PEM
    return ServerCertificate(ca_cert.public_bytes(pem).decode(), cert.public_bytes(pem).decode(), _private_pem(key).decode())
