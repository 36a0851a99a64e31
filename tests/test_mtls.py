"""Mutual TLS for operators (issue 13, point 2), with certificates made by the test: a
CA, the server's certificate and client certificates. The key is always required too:
a certificate never authenticates alone."""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from ipaddress import IPv4Address
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway import audit, config, keys, operators
from gateway.config import Settings, Tls
from gateway.http.app import create_app
from gateway.http.mtls import server_ssl_context
from gateway.keys import Scope
from gateway.operators import normalise_fingerprint
from tests.conftest import bearer
from tests.test_cli import aedgw
from tests.test_limits import listening
from tests.test_serve import free_port, wait_ready


@dataclass
class Issued:
    cert: Path
    key: Path

    @property
    def fingerprint(self) -> str:
        pem = x509.load_pem_x509_certificate(self.cert.read_bytes())
        return sha256(pem.public_bytes(serialization.Encoding.DER)).hexdigest()


class Authority:
    """A certificate authority of the test's own."""

    def __init__(self, folder: Path, name: str) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.name = subject
        self.cert = (
            self._builder(subject, self.key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.path = folder / f"{name}.pem"
        self.path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def _builder(self, subject: x509.Name, public_key: object) -> x509.CertificateBuilder:
        now = datetime.now(UTC)
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(getattr(self, "name", subject))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
        )

    def issue(self, name: str, *, server: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = self._builder(subject, key.public_key()).add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        if server:
            names = [x509.DNSName("localhost"), x509.IPAddress(IPv4Address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
        cert = builder.sign(self.key, hashes.SHA256())
        issued = Issued(self.folder / f"{name}.crt", self.folder / f"{name}.key")
        issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        return issued


@dataclass
class Pki:
    ca: Authority
    server: Issued
    alpha: Issued
    alpha_next: Issued
    beta: Issued
    stranger: Issued
    """Signed by another CA, which the gateway does not trust."""

    def tls(self) -> Tls:
        return Tls(cert=self.server.cert, key=self.server.key, client_ca=self.ca.path)

    def client(self, cert: Issued | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.ca.path)
        if cert is not None:
            context.load_cert_chain(cert.cert, cert.key)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = Authority(folder, "aedgw-test-ca")
    other = Authority(folder, "someone-else-ca")
    return Pki(
        ca,
        ca.issue("gateway", server=True),
        ca.issue("alpha-2026"),
        ca.issue("alpha-2027"),
        ca.issue("beta"),
        other.issue("stranger"),
    )


Answer = tuple[int, str | None]
Get = Callable[..., Awaitable[Answer]]
OK: Answer = (200, None)
REFUSED: Answer = (403, "certificate_refused")


@pytest.fixture
async def https(database_url: str, pki: Pki) -> AsyncIterator[Get]:
    """The gateway over HTTPS with client certificates; ``get(path, key, cert)`` answers
    the status and error code (or raises the TLS error)."""
    settings = Settings(listen="127.0.0.1:0", log_format="json", tls=pki.tls())
    app = create_app(settings, database_url)
    async with listening(app, server_ssl_context(settings.tls)) as port:
        base = f"https://127.0.0.1:{port}"

        async def get(path: str, key: str | None, cert: Issued | None) -> Answer:
            connector = aiohttp.TCPConnector(ssl=pki.client(cert))
            headers = bearer(key) if key else {}
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.get(base + path, headers=headers) as response,
            ):
                body = await response.json()
                return response.status, body["error"]["code"] if "error" in body else None

        yield get


async def set_policy(pool: asyncpg.Pool, code: str, **changes: object) -> None:
    async with pool.acquire() as conn:
        await operators.set_policy(
            conn, code, lambda p: replace(p, **changes), audit.cli_actor()
        )


async def test_an_operator_that_requires_its_certificate(https: Get, pki, add_operator, pool):
    key = await add_operator("alpha")
    await set_policy(
        pool, "alpha", cert_fingerprints=frozenset({pki.alpha.fingerprint}),
        require_client_cert=True,
    )
    assert await https("/v1/outcomes", key, pki.alpha) == OK
    assert await https("/v1/outcomes", key, None) == REFUSED
    assert await https("/v1/outcomes", key, pki.beta) == REFUSED  # our CA, not alpha's
    # A certificate never authenticates alone, nor with a wrong key.
    assert await https("/v1/outcomes", None, pki.alpha) == (401, "unauthorized")
    assert await https("/v1/outcomes", "aedgw_00_" + "x" * 43, pki.alpha) == (401, "unauthorized")


async def test_a_certificate_listed_for_another_operator_is_refused(
    https: Get, pki, add_operator, pool
) -> None:
    alpha, beta = await add_operator("alpha"), await add_operator("beta")
    await set_policy(pool, "beta", cert_fingerprints=frozenset({pki.beta.fingerprint}))
    assert await https("/v1/outcomes", beta, None) == OK  # listed, not required
    assert await https("/v1/outcomes", beta, pki.beta) == OK
    assert await https("/v1/outcomes", beta, pki.alpha) == REFUSED
    # alpha lists no certificate and requires none: any certificate of the CA will do.
    assert await https("/v1/outcomes", alpha, pki.beta) == OK


async def test_targeting_and_admin_keys_need_no_certificate(https: Get, pki, pool) -> None:
    async with pool.acquire() as conn:
        _, targeting = await keys.issue(conn, Scope.TARGETING, "cbp", audit.cli_actor())
    assert await https("/v1/records", targeting, None) == OK
    assert await https("/v1/records", targeting, pki.alpha) == OK


async def test_a_certificate_of_another_ca_fails_the_handshake(https: Get, pki, add_operator):
    key = await add_operator("alpha")
    with pytest.raises(aiohttp.ClientError):
        await https("/v1/outcomes", key, pki.stranger)


async def test_rotation_with_two_fingerprints_reaches_the_running_gateway(
    https: Get, pki, add_operator, database_url: str
) -> None:
    key = await add_operator("alpha")

    async def set_(*options: str) -> None:
        result = await asyncio.to_thread(
            aedgw, "operators", "set", "alpha", *options, database_url=database_url
        )
        assert result.returncode == 0, result.stderr

    old, new = pki.alpha, pki.alpha_next
    await set_("--cert-fingerprint", old.fingerprint, "--require-client-cert")
    assert await https("/v1/outcomes", key, old) == OK
    colons = ":".join(new.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    await set_("--cert-fingerprint", old.fingerprint, "--cert-fingerprint", colons)
    assert await eventually(lambda: https("/v1/outcomes", key, new), OK)
    assert await https("/v1/outcomes", key, old) == OK  # both during the rotation
    await set_("--cert-fingerprint", new.fingerprint)
    assert await eventually(lambda: https("/v1/outcomes", key, old), REFUSED)
    assert await https("/v1/outcomes", key, new) == OK


async def eventually(call: Callable[[], Awaitable[Answer]], answer: Answer) -> bool:
    """The NOTIFY of a change reaches the gateway's listener asynchronously."""
    for _ in range(100):
        if await call() == answer:
            return True
        await asyncio.sleep(0.05)
    return False


def test_fingerprints_are_read_as_openssl_prints_them() -> None:
    hexes = "ab" * 32
    assert normalise_fingerprint("SHA256 Fingerprint=" + ":".join(["AB"] * 32)) == hexes
    assert normalise_fingerprint(hexes.upper()) == hexes
    with pytest.raises(ValueError, match="64 hex digits"):
        normalise_fingerprint("ab:cd")


def test_operators_set_refuses_mistakes_in_one_line(database_url: str, cli) -> None:
    assert cli("operators", "add", "alpha", database_url=database_url).returncode == 0
    cases = [
        (["--cert-fingerprint", "xyz"], "64 hex digits"),
        (["--require-client-cert"], "needs at least one certificate fingerprint"),
        (["--rate", "-3"], "not a positive number"),
        ([], "nothing to change"),
    ]
    for options, message in cases:
        result = cli("operators", "set", "alpha", *options, database_url=database_url)
        assert result.returncode == 2, (options, result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr
    missing = cli("operators", "set", "nobody", "--rate", "5", database_url=database_url)
    assert missing.returncode == 1 and "no operator 'nobody'" in missing.stderr


def test_aedgw_serve_over_https_with_client_certificates(tmp_path: Path, pki: Pki) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AEDGW_")}
    env |= {"AEDGW_DATA_DIR": str(tmp_path / "var"), "AEDGW_LOG_FORMAT": "json"}
    tls = ["--tls-cert", str(pki.server.cert), "--tls-key", str(pki.server.key)]
    server = subprocess.Popen(
        [sys.executable, "-m", "gateway", "serve", "--listen", f"127.0.0.1:{port}", *tls,
         "--client-ca", str(pki.ca.path)],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        wait_ready(f"https://127.0.0.1:{port}", server, pki.client(pki.alpha))
        with pytest.raises(OSError):  # plain HTTP is not served
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        server.terminate()
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    assert '"tls": true' in output and '"client_ca": true' in output


def test_tls_settings_that_cannot_work_are_one_line(tmp_path: Path, pki: Pki, cli) -> None:
    missing = cli("serve", "--tls-cert", str(pki.server.cert))
    assert missing.returncode == 2 and "tls.cert and tls.key go together" in missing.stderr
    wrong = cli("serve", "--tls-cert", str(pki.server.cert), "--tls-key", str(tmp_path / "no"))
    assert wrong.returncode == 2 and wrong.stderr.startswith("aedgw: configuration: tls:")


def test_tls_settings_come_from_the_file_or_the_environment(tmp_path: Path) -> None:
    file = tmp_path / "aedgw.toml"
    file.write_text('[tls]\ncert = "/etc/aedgw/gw.pem"\nkey = "/etc/aedgw/gw.key"\n')
    settings = config.load(file, {"AEDGW_TLS__CLIENT_CA": "/etc/aedgw/ca.pem"})
    assert settings.tls == Tls(
        Path("/etc/aedgw/gw.pem"), Path("/etc/aedgw/gw.key"), Path("/etc/aedgw/ca.pem")
    )
