"""Secrets found by content: PEM private keys, AWS key pairs, URLs with passwords; ``screen``."""

from __future__ import annotations

from pathlib import Path

import pytest

from lambdaforge.packaging.secrets import (
    AWS_KEY, MAX_SCAN_BYTES, PRIVATE_KEY, URL_PASSWORD, listed_name_rule, overridden, scan_bytes,
    screen, screen_listed, withheld,
)
from lambdaforge.packaging.sources import collect_sources
from tests.packaging.test_source_collection import write
from tests.support.secrets import (
    AWS_KEY_ID, AWS_SECRET, PASSWORD, PASSWORD_URL, ca_bundle, certificate, pem, private_key,
)


@pytest.mark.parametrize("kind", ["RSA", "EC", "DSA", "OPENSSH", "ENCRYPTED", "", "PGP"])
def test_pem_private_key_blocks(kind: str) -> None:
    key = private_key(kind)
    assert scan_bytes(key.encode()) == PRIVATE_KEY
    # …also inside code, as one string with escaped line breaks
    code = 'SIGNING_KEY = "' + key.replace("\n", "\\n") + '"\n\ndef sign(x):\n    return x\n'
    assert scan_bytes(code.encode()) == PRIVATE_KEY


def test_an_encrypted_traditional_key_with_headers() -> None:
    key = private_key("RSA")
    head, _, rest = key.partition("\n")
    key = f"{head}\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF\n\n{rest}"
    assert scan_bytes(key.encode()) == PRIVATE_KEY


def test_certificates_and_ca_bundles_are_not_secrets() -> None:
    assert scan_bytes(ca_bundle(50).encode()) is None
    assert scan_bytes(pem("PUBLIC KEY").encode()) is None
    assert scan_bytes(pem("RSA PUBLIC KEY").encode()) is None
    # a certificate and its key in one file: the key makes it a secret
    assert scan_bytes((certificate() + private_key("EC")).encode()) == PRIVATE_KEY


def test_pem_markers_without_a_key_are_not_secrets() -> None:
    dashes = "-" * 5
    code = (f'BEGIN = "{dashes}BEGIN RSA PRIVATE KEY{dashes}"\n'
            f'END = "{dashes}END RSA PRIVATE KEY{dashes}"\n'
            "def is_private_key(text):\n    return text.startswith(BEGIN) and END in text\n")
    assert scan_bytes(code.encode()) is None
    # a BEGIN line with a body but no END line within reach
    assert scan_bytes(private_key("RSA").rsplit(dashes + "END", 1)[0].encode()) is None


def test_aws_access_key_id_with_a_secret_access_key() -> None:
    pair = f"[default]\naws_access_key_id = {AWS_KEY_ID}\naws_secret_access_key = {AWS_SECRET}\n"
    assert scan_bytes(pair.encode()) == AWS_KEY
    env = f'os.environ["AWS_ACCESS_KEY_ID"] = "{AWS_KEY_ID}"\nSECRET="{AWS_SECRET}"\n'
    assert scan_bytes(env.encode()) == AWS_KEY
    session = AWS_KEY_ID.replace("AKIA", "ASIA", 1)
    assert scan_bytes(f"{session}:{AWS_SECRET}".encode()) == AWS_KEY


def test_aws_key_id_alone_an_example_or_beside_a_digest_is_not_a_secret() -> None:
    assert scan_bytes(f"aws_access_key_id = {AWS_KEY_ID}\n".encode()) is None
    documented = "AKIAIOSFODNN7" + "EXAMPLE"
    assert scan_bytes(f"id = {documented}\nsecret = {AWS_SECRET}\n".encode()) is None
    sha1 = "3f786850e387550fdab836ed7e6dc881de23001b"
    assert scan_bytes(f"id = {AWS_KEY_ID}\ncommit = {sha1}\n".encode()) is None
    assert scan_bytes(f"id = {AWS_KEY_ID}\nname = {'A' * 40}\n".encode()) is None


@pytest.mark.parametrize("text", [
    PASSWORD_URL,
    f"--index-url {PASSWORD_URL}\nrequests==2.32.0\n",
    "DATABASE_URL = 'postgres://app:Tr0ub4dor@db.prod.internal:5432/orders'",
    "git+https://ci:ghp-t0ken@github.com/acme/lib.git",
    "amqp://:t0ken-only@mq.acme.io/",
])
def test_urls_with_passwords(text: str) -> None:
    assert scan_bytes(text.encode()) == URL_PASSWORD


@pytest.mark.parametrize("text", [
    "https://user@pypi.acme.io/simple",                 # a user name is no password
    "git@github.com:acme/lib.git", "ssh://git@github.com/acme/lib",
    "https://pypi.acme.io/simple?x=a:b@c",              # not in the authority
    "f'postgresql://{user}:{password}@{host}/db'",      # templates and placeholders
    "`postgres://${USER}:${PASS}@${HOST}/db`",
    "'mysql://%s:%s@%s/db' % (u, p, h)", "'https://u:%(pw)s@h.io'",
    "https://user:password@pypi.acme.io", "https://user:***@pypi.acme.io",
    "postgres://dev:dev-pw@localhost:5432/db",          # loopback and documentation hosts
    "http://u:p4ss@127.0.0.1:8000", "http://u:p4ss@[::1]:80",
    "https://u:p4ss@example.com/x", "https://u:p4ss@api.example.org/x", "http://u:p4ss@db.test/",
])
def test_url_look_alikes_are_not_secrets(text: str) -> None:
    assert scan_bytes(text.encode()) is None


def test_binary_files_and_bytes_past_the_bound_are_not_scanned(tmp_path: Path) -> None:
    key = private_key().encode()
    assert scan_bytes(b"\x7fELF\x02\x01\x01\x00" + key) is None
    write(tmp_path, {"big.txt": "x" * MAX_SCAN_BYTES + private_key(),
                     "head.txt": private_key() + "x" * MAX_SCAN_BYTES})
    found = collect_sources(tmp_path)
    kept, warnings = screen(found.files, ())
    assert [f.relpath for f in kept] == ["big.txt"]
    assert [w.split(":")[0] for w in warnings] == ["head.txt"]


def test_screen_withholds_warns_and_include_overrides(tmp_path: Path) -> None:
    write(tmp_path, {
        "app.py": "def handler(e, c):\n    return 1\n",
        "config.py": f"KEY = '''{private_key()}'''\n",
        "settings.py": f"INDEX = '{PASSWORD_URL}'\n",
        "aws.ini": f"{AWS_KEY_ID}\n{AWS_SECRET}\n",
        "certifi/cacert.pem": certificate(),
        "dev/signing.txt": private_key("EC"),
    })
    files = collect_sources(tmp_path).files
    kept, warnings = screen(files, ["*", "dev/signing.txt"])
    assert [f.relpath for f in kept] == ["app.py", "certifi/cacert.pem", "dev/signing.txt"]
    hint = 'to package it anyway, name it in `include` (e.g. include = ["*", "{}"])'
    assert warnings == [
        f"aws.ini: not packaged: looks like a secret ({AWS_KEY}); {hint.format('aws.ini')}",
        f"config.py: not packaged: looks like a secret ({PRIVATE_KEY}); {hint.format('config.py')}",
        f"dev/signing.txt: packaged although it looks like a secret ({PRIVATE_KEY}): `include` names it",
        f"settings.py: not packaged: looks like a secret ({URL_PASSWORD}); {hint.format('settings.py')}",
    ]
    assert not any(PASSWORD in w or AWS_SECRET in w for w in warnings)
    # A builder's copied-in packages are not scanned.
    kept, warnings = screen(files, (), exempt="dev/")
    assert "dev/signing.txt" in [f.relpath for f in kept] and len(warnings) == 3


def test_files_a_vendored_distribution_records_are_not_scanned(tmp_path: Path) -> None:
    """A committed layer that vendors packages: what their RECORD lists is not the user's."""
    key = private_key()
    write(tmp_path, {
        "python/tlslib/__init__.py": "",
        "python/tlslib/testing/server.txt": key,
        "python/tlslib-1.0.dist-info/METADATA": "Name: tlslib\n",
        "python/tlslib-1.0.dist-info/RECORD": (
            "tlslib/__init__.py,sha256=x,0\ntlslib/testing/server.txt,sha256=y,1600\n"
            "tlslib-1.0.dist-info/RECORD,,\n../../bin/tls,sha256=z,10\n/abs/path,,\n"),
        "python/mine/settings.txt": key,
    })
    files = collect_sources(tmp_path).files
    kept, warnings = screen(files, ())
    assert [f.relpath for f in kept] == [
        "python/tlslib-1.0.dist-info/METADATA", "python/tlslib-1.0.dist-info/RECORD",
        "python/tlslib/__init__.py", "python/tlslib/testing/server.txt"]
    assert [w.split(":")[0] for w in warnings] == ["python/mine/settings.txt"]



def test_a_listed_file_matches_a_secret_name_through_a_directory_above_it() -> None:
    """As the walk decides a directory before descending: ``.aws/`` and ``.env.*`` (not
    directories only) leave out everything below them."""
    assert listed_name_rule("pkg/.aws/credentials") == ".aws/"
    assert listed_name_rule("pkg/.env.d/readme.txt") == ".env.*"
    assert listed_name_rule("pkg/conf/.env") == ".env"
    assert listed_name_rule("pkg/.docker/config.json") == "**/.docker/config.json"
    assert listed_name_rule("pkg/aws/credentials.py") is None
    assert listed_name_rule("pkg/.ssh/id_rsa.pub") is None


def test_screen_listed_applies_both_kinds_of_rules_under_the_zip_prefix() -> None:
    """Files known by path (a local package in an install tree): by name first (nothing is
    read), then by content; named in warnings and matched by ``include`` as the zip holds
    them."""
    content = {
        "util/index.js": b"module.exports = 1;\n",
        "util/keys.js": f"ID = '{AWS_KEY_ID}'; SECRET = '{AWS_SECRET}';\n".encode(),
        "util/signing.pem": private_key().encode(),
        "util/ca.pem": certificate().encode(),
    }
    read: list[str] = []

    def head(path: str) -> bytes:
        read.append(path)
        return content[path]

    paths = ["util/.env", *content]
    left_out, warnings = screen_listed(paths, head, ["*", "node_modules/util/signing.pem"],
                                       prefix="node_modules/")
    assert left_out == {"util/.env", "util/keys.js"}
    assert warnings == [
        withheld("node_modules/util/.env", "matches `.env`"),
        withheld("node_modules/util/keys.js", AWS_KEY),
        overridden("node_modules/util/signing.pem", PRIVATE_KEY),
    ]
    assert "util/.env" not in read  # a secret by name is never read
    assert not any(AWS_SECRET in w for w in warnings)
    # only the first MAX_SCAN_BYTES count, however much `read` returns
    left_out, _ = screen_listed(["big.txt"], lambda p: b"x" * MAX_SCAN_BYTES + private_key().encode(), ())
    assert left_out == set()
