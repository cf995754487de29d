"""The pipeline's generated secrets: passwords from pulumi_random, Elasticsearch's TLS certificates from pulumi_tls.

Only credentials that no existing Secret provides (`existing_secrets`, see secrets.py) are
generated. Each is created by the engine at `pulumi up`, kept secret in Pulumi state, and
reaches the cluster only inside Secrets (see elasticsearch.build / kibana.build). The CA
lives ten years; the node certificate one year and is renewed by the first `pulumi up`
within 30 days of its expiry.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_random as random
import pulumi_tls as tls

from components.logging import elasticsearch, secrets
from components.logging.config import LoggingSpec

PASSWORD_LENGTH = 32
ENCRYPTION_KEY_LENGTH = 48
"""Kibana requires encryption keys of at least 32 characters."""
CA_VALIDITY_HOURS = 10 * 365 * 24
CERT_VALIDITY_HOURS = 365 * 24
EARLY_RENEWAL_HOURS = 30 * 24


@dataclass(frozen=True)
class Credentials:
    """Secret Outputs, one per value the pipeline's generated Secrets carry; None where an existing Secret holds it."""

    elastic: pulumi.Output[str] | None = None
    kibana_system: pulumi.Output[str] | None = None
    logstash_writer: pulumi.Output[str] | None = None
    kibana_security_key: pulumi.Output[str] | None = None
    kibana_saved_objects_key: pulumi.Output[str] | None = None
    ca_cert: pulumi.Output[str] | None = None
    node_cert: pulumi.Output[str] | None = None
    node_key: pulumi.Output[str] | None = None


def _password(name: str, length: int, opts: pulumi.ResourceOptions) -> pulumi.Output[str]:
    # Letters and digits only: the values are embedded in JSON bodies and shell words by the setup Job.
    generated = random.RandomPassword(name, length=length, special=False, opts=opts)
    return pulumi.Output.secret(generated.result)


def _certificates(name: str, spec: LoggingSpec, opts: pulumi.ResourceOptions) -> dict[str, pulumi.Output[str]]:
    ca_key = tls.PrivateKey(f"{name}-ca-key", algorithm="RSA", rsa_bits=3072, opts=opts)
    ca = tls.SelfSignedCert(
        f"{name}-ca",
        private_key_pem=ca_key.private_key_pem,
        is_ca_certificate=True,
        validity_period_hours=CA_VALIDITY_HOURS,
        early_renewal_hours=EARLY_RENEWAL_HOURS,
        allowed_uses=["cert_signing", "crl_signing", "digital_signature"],
        subject=tls.SelfSignedCertSubjectArgs(common_name=f"gosvc {name} logging CA", organization="gosvc"),
        opts=opts,
    )
    node_key = tls.PrivateKey(f"{name}-elasticsearch-key", algorithm="RSA", rsa_bits=2048, opts=opts)
    request = tls.CertRequest(
        f"{name}-elasticsearch-csr",
        private_key_pem=node_key.private_key_pem,
        dns_names=elasticsearch.certificate_dns_names(spec),
        ip_addresses=["127.0.0.1"],
        subject=tls.CertRequestSubjectArgs(common_name="elasticsearch", organization="gosvc"),
        opts=opts,
    )
    node = tls.LocallySignedCert(
        f"{name}-elasticsearch-cert",
        cert_request_pem=request.cert_request_pem,
        ca_private_key_pem=ca_key.private_key_pem,
        ca_cert_pem=ca.cert_pem,
        validity_period_hours=CERT_VALIDITY_HOURS,
        early_renewal_hours=EARLY_RENEWAL_HOURS,
        allowed_uses=["digital_signature", "key_encipherment", "server_auth", "client_auth"],
        opts=opts,
    )
    return {"ca_cert": ca.cert_pem, "node_cert": node.cert_pem, "node_key": pulumi.Output.secret(node_key.private_key_pem)}


def generate(name: str, spec: LoggingSpec, opts: pulumi.ResourceOptions) -> Credentials:
    """Generates every credential that no existing Secret (`existing_secrets`) provides."""
    wanted = secrets.refs(spec).generated
    values: dict[str, pulumi.Output[str]] = {}
    for key, resource in (("elastic", "elastic"), ("kibana_system", "kibana-system"), ("logstash_writer", "logstash-writer")):
        if key in wanted:
            values[key] = _password(f"{name}-{resource}-password", PASSWORD_LENGTH, opts)
    if "kibana_encryption_keys" in wanted:
        values["kibana_security_key"] = _password(f"{name}-kibana-security-key", ENCRYPTION_KEY_LENGTH, opts)
        values["kibana_saved_objects_key"] = _password(f"{name}-kibana-saved-objects-key", ENCRYPTION_KEY_LENGTH, opts)
    if "certificates" in wanted:
        values.update(_certificates(name, spec, opts))
    return Credentials(**values)
