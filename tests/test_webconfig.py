"""``--web.config.file``: TLS, client certificates and basic auth, with real certificates.

The file format is the Prometheus exporter-toolkit's (docs/web-configuration.md), so the
same file works for this exporter and for node_exporter. Certificates are made at test
time with ``cryptography``; the client side is a real TLS client (httpx / ssl).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import socket
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest

from exporter.cli import build_parser, main
from exporter.webconfig import WebConfigError, WebConfigWatcher, load_web_config
from tests.test_server import RELOAD_HEADERS, start_server, wait_until
from tests.tools import require_tool

NOW = dt.datetime.now(dt.UTC)


class Pki:
    """A throwaway CA that issues server and client certificates into ``directory``.

    Uses ``cryptography`` when it is installed and the ``openssl`` binary otherwise.
    SANs are written as ``DNS:name`` or ``IP:address``. ``issue`` returns the
    certificate and key paths and the certificate's DER bytes (to recognise it on the wire).
    """

    def __init__(self, directory: Path, name: str = "Test CA") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        stem = name.replace(" ", "_")
        self.ca_file, self.ca_key = directory / f"{stem}.pem", directory / f"{stem}.key"
        try:
            import cryptography  # noqa: F401
        except ImportError:
            self._openssl = require_tool("openssl", "openssl")
            self._run("req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", self.ca_key,
                      "-out", self.ca_file, "-days", "30", "-subj", f"/CN={name}",
                      "-addext", "basicConstraints=critical,CA:TRUE")
            return
        self._openssl = None
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self._key, self._cert = key, (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))

    def _run(self, *args: object) -> None:
        subprocess.run([self._openssl, *map(str, args)], check=True, capture_output=True,
                       timeout=30)

    def issue(self, stem: str, common_name: str, *, client: bool = False,
              sans: list[str] | None = None) -> tuple[Path, Path, bytes]:
        """Write ``stem``.crt and ``stem``.key (each renamed into place, key first)."""
        names = sans if sans is not None else ([] if client else ["IP:127.0.0.1",
                                                                  "DNS:localhost"])
        cert_path, key_path = self.directory / f"{stem}.crt", self.directory / f"{stem}.key"
        if self._openssl:
            key_tmp, csr, ext = (self.directory / f"{stem}.{s}" for s in ("k.tmp", "csr", "ext"))
            ext.write_text(f"extendedKeyUsage={'clientAuth' if client else 'serverAuth'}\n"
                           + (f"subjectAltName={','.join(names)}\n" if names else ""))
            self._run("req", "-new", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key_tmp,
                      "-out", csr, "-subj", f"/CN={common_name}")
            cert_tmp = self.directory / f"{stem}.c.tmp"
            self._run("x509", "-req", "-in", csr, "-CA", self.ca_file, "-CAkey", self.ca_key,
                      "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-days", "7",
                      "-extfile", ext, "-out", cert_tmp)
            os.replace(key_tmp, key_path)
            os.replace(cert_tmp, cert_path)
        else:
            self._issue_with_cryptography(cert_path, key_path, common_name, client, names)
        return cert_path, key_path, ssl.PEM_cert_to_DER_cert(cert_path.read_text())

    def _issue_with_cryptography(self, cert_path: Path, key_path: Path, common_name: str,
                                 client: bool, names: list[str]) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        general = [x509.IPAddress(ipaddress.ip_address(value)) if kind == "IP"
                   else x509.DNSName(value)
                   for kind, _, value in (name.partition(":") for name in names)]
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self._cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1))
            .not_valid_after(NOW + dt.timedelta(days=7))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if general:
            builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
        cert = builder.sign(self._key, hashes.SHA256())
        _replace(key_path, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
        _replace(cert_path, cert.public_bytes(serialization.Encoding.PEM))


def _replace(path: Path, data: bytes) -> None:
    """Write as a rotation tool does: a new file renamed over the old one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _hash(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator:
    with contextlib.ExitStack() as stack:
        yield lambda **options: start_server(stack, tmp_path, **options)


def write_web_config(tmp_path: Path, text: str, name: str = "web.yml") -> Path:
    path = tmp_path / name
    _replace(path, text.encode())
    return path


def client_context(pki: Pki, cert: tuple[Path, Path, bytes] | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    if cert is not None:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    return context


def presented(base: str, context: ssl.SSLContext) -> bytes:
    """The certificate (DER) the server presents on a new connection."""
    port = int(base.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return der


# --- validation ------------------------------------------------------------------------

def test_empty_or_absent_file_means_plain_http_without_auth(tmp_path: Path) -> None:
    settings = load_web_config(write_web_config(tmp_path, ""))
    assert settings.tls is None and settings.users == {}
    assert WebConfigWatcher(None).current().tls is None


def test_unknown_key_names_the_file_line_and_key(tmp_path: Path) -> None:
    path = write_web_config(tmp_path, "tls_server_config:\n  cert_file: a.crt\n"
                                      "  key_fil: a.key\n")
    with pytest.raises(WebConfigError) as error:
        load_web_config(path)
    message = str(error.value)
    assert f"{path}:3" in message and "tls_server_config.key_fil" in message
    assert "unknown key" in message


@pytest.mark.parametrize(("text", "expected"), [
    ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"
     "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "cipher_suites is not supported"),
    ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"
     "  curve_preferences: [X25519]\n", "curve_preferences is not supported"),
    ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"
     "  client_auth_type: RequireAnyClientCert\n", "RequireAndVerifyClientCert"),
    ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n"
     "  client_auth_type: Sometimes\n", "client_auth_type"),
    ("tls_server_config:\n  cert: '-----BEGIN CERTIFICATE-----'\n  key_file: a.key\n",
     "use cert_file"),
    ("tls_server_config:\n  cert_file: a.crt\n", "key_file"),
    ("tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\n  min_version: TLS14\n",
     "min_version"),
    ("basic_auth_users:\n  alice: plaintext\n", "bcrypt"),
    ("basic_auth_users:\n  'a:b': $2b$04$abcdefghijklmnopqrstuuTuX1Dpxm1Gqz4O9RmZVQAJ7Cy0.1G8q\n",
     "':'"),
    ("http_server_config:\n  headers:\n    X-Powered-By: me\n", "can not be configured"),
    ("http_server_config:\n  headers:\n    X-Frame-Options: allow\n", "deny"),
    ("http_server_config:\n  headers:\n    Content-Security-Policy: \"a\\r\\nSet-Cookie: x\"\n",
     "line break"),
    ("rate_limit:\n  interval: 1s\n", "burst"),
    ("- a\n- b\n", "mapping"),
    ("tls_server_config: [\n", "malformed YAML"),
])
def test_invalid_settings_are_refused_clearly(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "a.crt").write_text("x")
    (tmp_path / "a.key").write_text("x")
    path = write_web_config(tmp_path, text)
    with pytest.raises(WebConfigError) as error:
        load_web_config(path)
    assert expected in str(error.value)
    assert str(path) in str(error.value)


def test_bad_certificate_files_are_refused_at_load(tmp_path: Path, pki: Pki) -> None:
    one = pki.issue("one", "one")
    two = pki.issue("two", "two")
    mismatch = write_web_config(tmp_path, f"tls_server_config:\n  cert_file: {one[0].name}\n"
                                          f"  key_file: {two[1].name}\n")
    with pytest.raises(WebConfigError, match="cert_file"):
        load_web_config(mismatch)
    missing = write_web_config(tmp_path, "tls_server_config:\n  cert_file: nope.crt\n"
                                         "  key_file: nope.key\n")
    with pytest.raises(WebConfigError, match=r"nope\.crt"):
        load_web_config(missing)
    no_policy = write_web_config(tmp_path, f"tls_server_config:\n  cert_file: one.crt\n"
                                           f"  key_file: one.key\n"
                                           f"  client_ca_file: {pki.ca_file.name}\n")
    with pytest.raises(WebConfigError, match="client_auth_type"):
        load_web_config(no_policy)


def test_hashes_never_appear_in_errors_or_reprs(tmp_path: Path) -> None:
    hashed = _hash("s3cret")
    path = write_web_config(tmp_path, f"basic_auth_users:\n  alice: '{hashed}'\n"
                                      "surprise: 1\n")
    with pytest.raises(WebConfigError) as error:
        load_web_config(path)
    assert hashed not in str(error.value)
    good = load_web_config(write_web_config(tmp_path, f"basic_auth_users:\n  alice: '{hashed}'\n"))
    assert hashed not in repr(good)


# --- basic auth ------------------------------------------------------------------------

def test_basic_auth_protects_every_endpoint(tmp_path: Path, web_server,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_web_config(tmp_path, f"basic_auth_users:\n  alice: '{_hash('s3cret')}'\n"
                                      "  bob: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00"
                                      "UAV/LDeSi\n")
    exporter, _, base = web_server(web_config=path)
    monkeypatch.setattr(exporter, "reload", lambda path=None: (True, "configuration reloaded"))
    for url in ("/metrics", "/-/healthy", "/-/ready", "/", "/api/v1/explain"):
        anonymous = httpx.get(f"{base}{url}")
        assert anonymous.status_code == 401, url
        assert anonymous.headers["www-authenticate"].startswith("Basic realm=")
    wrong = httpx.get(f"{base}/-/healthy", auth=("alice", "guess"))
    assert wrong.status_code == 401 and "www-authenticate" in wrong.headers
    assert httpx.get(f"{base}/-/healthy", auth=("mallory", "s3cret")).status_code == 401
    assert httpx.get(f"{base}/-/healthy", auth=("alice", "s3cret")).status_code == 200
    assert httpx.get(f"{base}/-/healthy", auth=("alice", "s3cret")).status_code == 200  # cached
    assert httpx.get(f"{base}/-/healthy", auth=("bob", "fakepassword")).status_code == 200  # $2y$
    assert httpx.get(f"{base}/-/healthy", auth=("alice", "x" * 100)).status_code == 401
    assert httpx.get(f"{base}/-/healthy", headers={"Authorization": "Basic %%%"}).status_code == 401
    assert httpx.post(f"{base}/-/reload", headers=RELOAD_HEADERS).status_code == 401
    assert httpx.post(f"{base}/-/reload", headers=RELOAD_HEADERS,
                      auth=("alice", "s3cret")).status_code == 200


def test_configured_headers_and_rate_limit(tmp_path: Path, web_server) -> None:
    path = write_web_config(tmp_path, "http_server_config:\n  http2: false\n  headers:\n"
                                      "    X-Frame-Options: deny\n"
                                      "    Strict-Transport-Security: max-age=31536000\n"
                                      "rate_limit:\n  interval: 1h\n  burst: 3\n")
    _, _, base = web_server(web_config=path)
    answers = [httpx.get(f"{base}/-/healthy") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].headers["x-frame-options"] == "deny"
    assert answers[3].headers["strict-transport-security"] == "max-age=31536000"


def test_a_changed_web_config_applies_and_a_broken_one_keeps_the_previous(
        tmp_path: Path, web_server, caplog: pytest.LogCaptureFixture) -> None:
    path = write_web_config(tmp_path, f"basic_auth_users:\n  alice: '{_hash('one')}'\n")
    _, _, base = web_server(web_config=path)
    assert httpx.get(f"{base}/-/healthy", auth=("alice", "one")).status_code == 200
    write_web_config(tmp_path, f"basic_auth_users:\n  alice: '{_hash('two')}'\n")
    assert httpx.get(f"{base}/-/healthy", auth=("alice", "one")).status_code == 401
    assert httpx.get(f"{base}/-/healthy", auth=("alice", "two")).status_code == 200
    write_web_config(tmp_path, "basic_auth_users:\n  alice: not-a-hash\n")
    assert httpx.get(f"{base}/-/healthy", auth=("alice", "two")).status_code == 200
    assert "previous web configuration kept" in caplog.text
    assert "not-a-hash" not in caplog.text


# --- TLS -------------------------------------------------------------------------------

def _tls_config(tmp_path: Path, pki: Pki, extra: str = "") -> Path:
    pki.issue("server", "exporter")
    return write_web_config(tmp_path, "tls_server_config:\n  cert_file: server.crt\n"
                                      "  key_file: server.key\n" + extra)


def test_tls_serves_https_and_refuses_plain_http(tmp_path: Path, pki: Pki, web_server) -> None:
    path = _tls_config(tmp_path, pki, "http_server_config:\n  headers:\n"
                                      "    X-Content-Type-Options: nosniff\n")
    _, _, base = web_server(web_config=path)
    assert base.startswith("https://")
    response = httpx.get(f"{base}/-/healthy", verify=client_context(pki))
    assert response.status_code == 200
    assert response.headers["x-content-type-options"] == "nosniff"
    plain = httpx.get(base.replace("https://", "http://") + "/-/healthy", timeout=3)
    assert plain.status_code == 400 and "HTTPS" in plain.text
    # A failed handshake costs nothing but that connection.
    assert httpx.get(f"{base}/-/healthy", verify=client_context(pki)).status_code == 200


def test_idle_tls_connections_make_room_for_a_scrape(tmp_path: Path, pki: Pki,
                                                      web_server) -> None:
    from exporter.server import ServerLimits

    path = _tls_config(tmp_path, pki)
    _, _, base = web_server(web_config=path,
                            limits=ServerLimits(max_connections=2, idle_timeout=30))
    context = client_context(pki)
    with httpx.Client(verify=context) as first, httpx.Client(verify=context) as second:
        assert first.get(f"{base}/-/healthy").status_code == 200
        assert second.get(f"{base}/-/healthy").status_code == 200
        assert httpx.get(f"{base}/-/healthy", verify=context, timeout=3).status_code == 200


def test_tls_version_bounds(tmp_path: Path, pki: Pki, web_server) -> None:
    path = _tls_config(tmp_path, pki, "  min_version: TLS13\n")
    _, _, base = web_server(web_config=path)
    old = client_context(pki)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/-/healthy", verify=old, timeout=3)
    assert httpx.get(f"{base}/-/healthy", verify=client_context(pki)).status_code == 200


def test_client_certificate_is_required_and_verified(tmp_path: Path, pki: Pki,
                                                      web_server) -> None:
    path = _tls_config(tmp_path, pki, "  client_auth_type: RequireAndVerifyClientCert\n"
                                      f"  client_ca_file: {pki.ca_file.name}\n")
    _, server, base = web_server(web_config=path)
    good = pki.issue("prometheus", "prometheus", client=True)
    assert httpx.get(f"{base}/-/healthy", verify=client_context(pki, good)).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/-/healthy", verify=client_context(pki), timeout=3)
    (tmp_path / "other").mkdir()
    other = Pki(tmp_path / "other", "Other CA")
    stranger = other.issue("stranger", "stranger", client=True)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/-/healthy", verify=client_context(pki, stranger), timeout=3)
    assert wait_until(lambda: server.active_connections == 0, 3)


def test_client_allowed_sans(tmp_path: Path, pki: Pki, web_server) -> None:
    path = _tls_config(tmp_path, pki, "  client_auth_type: RequireAndVerifyClientCert\n"
                                      f"  client_ca_file: {pki.ca_file.name}\n"
                                      "  client_allowed_sans: [prometheus.monitoring.svc]\n")
    _, _, base = web_server(web_config=path)
    allowed = pki.issue("allowed", "p", client=True,
                        sans=["DNS:prometheus.monitoring.svc"])
    other = pki.issue("other", "p", client=True, sans=["DNS:grafana.monitoring.svc"])
    assert httpx.get(f"{base}/-/healthy", verify=client_context(pki, allowed)).status_code == 200
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{base}/-/healthy", verify=client_context(pki, other), timeout=3)


def test_certificate_rotation_is_picked_up_by_new_connections(
        tmp_path: Path, pki: Pki, web_server, caplog: pytest.LogCaptureFixture) -> None:
    path = _tls_config(tmp_path, pki)
    _, _, base = web_server(web_config=path)
    context = client_context(pki)
    first = presented(base, context)
    assert first == ssl.PEM_cert_to_DER_cert((tmp_path / "server.crt").read_text())
    # Half-way through a rotation the key is new but the certificate is not: the server
    # keeps presenting the previous pair rather than failing handshakes.
    cert_path = tmp_path / "server.crt"
    old_cert = cert_path.read_bytes()
    pki.issue("server", "exporter-half-rotated")
    _replace(cert_path, old_cert)
    assert presented(base, context) == first
    assert "previous web configuration kept" in caplog.text
    _, _, rotated = pki.issue("server", "exporter-rotated")
    assert presented(base, context) == rotated != first


def test_turning_tls_off_needs_a_restart(tmp_path: Path, pki: Pki, web_server,
                                         caplog: pytest.LogCaptureFixture) -> None:
    path = _tls_config(tmp_path, pki)
    _, _, base = web_server(web_config=path)
    write_web_config(tmp_path, "")
    assert httpx.get(f"{base}/-/healthy", verify=client_context(pki)).status_code == 200
    assert "restart" in caplog.text


# --- command line ----------------------------------------------------------------------

def test_serve_flags_parse() -> None:
    args = build_parser().parse_args([
        "serve", "--web.config.file", "web.yml", "--no-web.enable-lifecycle",
        "--web.max-connections", "5", "--web.header-timeout", "2s",
        "--web.idle-timeout", "1m"])
    assert args.web_config_file == "web.yml" and args.web_enable_lifecycle is False
    assert args.web_max_connections == 5
    assert args.web_header_timeout == 2.0 and args.web_idle_timeout == 60.0
    defaults = build_parser().parse_args(["serve"])
    assert defaults.web_enable_lifecycle is True and defaults.web_config_file is None


def test_serve_refuses_a_bad_web_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    (tmp_path / "x.yaml").write_text("findings: []\n")
    config = tmp_path / "exporter.yaml"
    config.write_text("store:\n  path: store.db\ncollectors:\n  - name: files\n"
                      "    type: file\n    config:\n      files:\n        - path: x.yaml\n")
    web = write_web_config(tmp_path, "basic_auth_user: {}\n")
    code = main(["serve", "--config", str(config), "--web.config.file", str(web),
                 "--web.listen-address", "127.0.0.1:1"])
    assert code == 2
    assert f"{web}:1" in capsys.readouterr().err
