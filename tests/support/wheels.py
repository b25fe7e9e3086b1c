"""A wheel and sdist factory for hermetic tests: small, valid, reproducible distributions.

Tests install from a folder of these with ``--no-index --find-links``, so nothing depends on
PyPI or on this machine's pip configuration. Every archive is written with fixed timestamps
and sorted members, so a wheelhouse built twice is byte-identical (its digest goes into
cache keys).

``build_wheelhouse(dest)`` writes the standard set the Python builder tests use.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path

#: 1980-01-01, the earliest date a zip can hold: the same bytes on every run.
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_TAR_MTIME = 315532800


def _norm(name: str) -> str:
    """Wheel file name component of a distribution name (PEP 427: ``-`` → ``_``)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def metadata_text(name: str, version: str, requires: Iterable[str] = ()) -> str:
    """A minimal core-metadata (``METADATA``/``PKG-INFO``) document."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    return "\n".join(lines) + "\n\n"


def build_wheel(
    dest_dir: Path,
    name: str,
    version: str,
    *,
    tag: str = "py3-none-any",
    files: Mapping[str, bytes] | None = None,
    requires: Iterable[str] = (),
    top_level: Iterable[str] | None = None,
    entry_points: str | None = None,
) -> Path:
    """Write a valid wheel (METADATA, WHEEL, RECORD with hashes) and return its path.

    ``files`` maps archive paths to content; when empty, a package ``<name>/__init__.py``
    defining ``__version__`` is written. ``top_level`` defaults to the first path component
    of every file.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{_norm(name)}-{version}"
    dist_info = f"{stem}.dist-info"
    if not files:
        files = {f"{_norm(name)}/__init__.py": f"__version__ = {version!r}\n".encode()}
    pure = tag.endswith("-none-any")
    members: dict[str, bytes] = dict(files)
    members[f"{dist_info}/METADATA"] = metadata_text(name, version, requires).encode()
    members[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: lambdaforge-tests\n"
        f"Root-Is-Purelib: {'true' if pure else 'false'}\nTag: {tag}\n\n"
    ).encode()
    if top_level is None:
        top_level = sorted({p.split("/", 1)[0].removesuffix(".py") for p in files})
    members[f"{dist_info}/top_level.txt"] = "".join(f"{t}\n" for t in top_level).encode()
    if entry_points:
        members[f"{dist_info}/entry_points.txt"] = entry_points.encode()
    record_lines = [f"{p},{_record_hash(d)},{len(d)}" for p, d in sorted(members.items())]
    record_lines.append(f"{dist_info}/RECORD,,")
    members[f"{dist_info}/RECORD"] = ("\n".join(record_lines) + "\n").encode()

    path = dest_dir / f"{stem}-{tag}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for arcname in sorted(members, key=lambda p: (p.endswith("RECORD"), p)):
            info = zipfile.ZipInfo(arcname, _ZIP_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, members[arcname])
    return path


# The in-tree PEP 517 backend shipped inside test sdists: nothing to download, so a build
# works offline and under build isolation. It writes a wheel with the tag from pyproject's
# [tool.fakebackend] (a platform tag stands in for "this sdist compiles native code").
_BACKEND = r'''
import base64, hashlib, os, zipfile

def _cfg():
    import re
    text = open("pyproject.toml").read()
    get = lambda k: re.search(k + r' = "([^"]*)"', text).group(1)
    reqs = re.search(r'dependencies = \[(.*?)\]', text, re.S).group(1)
    return get("name"), get("version"), get("tag"), re.findall(r'"([^"]+)"', reqs)

def get_requires_for_build_wheel(config_settings=None):
    return []

def get_requires_for_build_sdist(config_settings=None):
    return []

def _h(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

def _metadata(name, version, requires):
    lines = ["Metadata-Version: 2.1", "Name: " + name, "Version: " + version]
    lines += ["Requires-Dist: " + r for r in requires]
    return "\n".join(lines) + "\n\n"

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    name, version, tag, requires = _cfg()
    di = name.replace("-", "_") + "-" + version + ".dist-info"
    os.makedirs(os.path.join(metadata_directory, di))
    with open(os.path.join(metadata_directory, di, "METADATA"), "w") as f:
        f.write(_metadata(name, version, requires))
    return di

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name, version, tag, requires = _cfg()
    mod = name.replace("-", "_")
    # as setuptools does: leftovers written into the tree being built
    os.makedirs(os.path.join("build", "lib"), exist_ok=True)
    os.makedirs(mod + ".egg-info", exist_ok=True)
    open(os.path.join(mod + ".egg-info", "PKG-INFO"), "w").write(_metadata(name, version, requires))
    di = mod + "-" + version + ".dist-info"
    members = {}
    for root, _, names in os.walk(mod):
        for n in names:
            p = os.path.join(root, n)
            members[p.replace(os.sep, "/")] = open(p, "rb").read()
    members[di + "/METADATA"] = _metadata(name, version, requires).encode()
    pure = tag.endswith("-none-any")
    # one Tag line per tag of a compressed set (py2.py3-none-any), as bdist_wheel writes them
    py, abi, plat = (part.split(".") for part in tag.split("-"))
    lines = "".join("Tag: " + p + "-" + a + "-" + f + "\n" for p in py for a in abi for f in plat)
    members[di + "/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: fakebackend\nRoot-Is-Purelib: "
                              + ("true" if pure else "false") + "\n" + lines + "\n").encode()
    rec = [p + "," + _h(d) + "," + str(len(d)) for p, d in sorted(members.items())]
    members[di + "/RECORD"] = ("\n".join(rec + [di + "/RECORD,,"]) + "\n").encode()
    fname = mod + "-" + version + "-" + tag + ".whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, fname), "w") as zf:
        for p in sorted(members):
            zf.writestr(zipfile.ZipInfo(p, (1980, 1, 1, 0, 0, 0)), members[p])
    return fname
'''


def source_tree_files(
    name: str,
    version: str,
    *,
    wheel_tag: str = "py3-none-any",
    files: Mapping[str, bytes] | None = None,
    requires: Iterable[str] = (),
) -> dict[str, bytes]:
    """The files of a source tree (a local package folder, an sdist's content) whose in-tree
    backend builds a wheel tagged ``wheel_tag``, leaving ``build/`` and ``*.egg-info`` behind
    in the tree as setuptools does. ``files`` may replace the backend too (one that crashes)."""
    mod = _norm(name)
    if not files:
        files = {f"{mod}/__init__.py": f"__version__ = {version!r}\n".encode()}
    deps = ", ".join(f'"{r}"' for r in requires)
    pyproject = (
        "[build-system]\nrequires = []\n"
        'build-backend = "backend"\nbackend-path = ["_backend"]\n\n'
        f'[project]\nname = "{name}"\nversion = "{version}"\ndependencies = [{deps}]\n\n'
        f'[tool.fakebackend]\ntag = "{wheel_tag}"\n'
    )
    return {"pyproject.toml": pyproject.encode(), "_backend/backend.py": _BACKEND.encode(), **files}


def write_source_tree(dest: Path, name: str, version: str, **options: object) -> Path:
    """Write ``source_tree_files`` into the folder ``dest`` (a local package) and return it."""
    for rel, data in source_tree_files(name, version, **options).items():  # type: ignore[arg-type]
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_bytes(data)
    return dest


def build_sdist(
    dest_dir: Path,
    name: str,
    version: str,
    *,
    wheel_tag: str = "py3-none-any",
    files: Mapping[str, bytes] | None = None,
    requires: Iterable[str] = (),
) -> Path:
    """Write an sdist (``.tar.gz``) whose in-tree backend builds a wheel tagged ``wheel_tag``.

    A platform ``wheel_tag`` (``cp311-cp311-linux_x86_64``) models an sdist with native code:
    building it on the host yields a host-only wheel, which the builder must refuse.
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{_norm(name)}-{version}"
    source = source_tree_files(name, version, wheel_tag=wheel_tag, files=files, requires=requires)
    members: dict[str, bytes] = {f"{stem}/{p}": d for p, d in source.items()}
    members[f"{stem}/PKG-INFO"] = metadata_text(name, version, requires).encode()

    return _write_sdist(dest_dir / f"{stem}.tar.gz", members)


# An in-tree backend that compiles a real C extension with gcc for the Python running the
# build (its headers, its EXT_SUFFIX, its cpXY tag): which interpreter built it shows.
_C_BACKEND = r'''
import base64, hashlib, os, subprocess, sys, sysconfig, zipfile

NAME, VERSION = open("NAME").read().split()

def get_requires_for_build_wheel(config_settings=None):
    return []

def _h(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    py = "cp%d%d" % sys.version_info[:2]
    tag = py + "-" + py + "-linux_" + os.uname().machine
    so = NAME + "/_ext" + sysconfig.get_config_var("EXT_SUFFIX")
    os.makedirs("build", exist_ok=True)
    subprocess.check_call(["gcc", "-shared", "-fPIC", "-O1", "-I" + sysconfig.get_paths()["include"],
                           "-o", os.path.join("build", "ext.so"), "_ext.c"])
    di = NAME + "-" + VERSION + ".dist-info"
    members = {NAME + "/__init__.py": b"from ._ext import answer\n",
               so: open(os.path.join("build", "ext.so"), "rb").read(),
               di + "/METADATA": ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n\n" % (NAME, VERSION)).encode(),
               di + "/WHEEL": ("Wheel-Version: 1.0\nGenerator: cbackend\nRoot-Is-Purelib: false\nTag: "
                               + tag + "\n\n").encode()}
    rec = [p + "," + _h(d) + "," + str(len(d)) for p, d in sorted(members.items())]
    members[di + "/RECORD"] = ("\n".join(rec + [di + "/RECORD,,"]) + "\n").encode()
    fname = NAME + "-" + VERSION + "-" + tag + ".whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, fname), "w") as zf:
        for p in sorted(members):
            zf.writestr(zipfile.ZipInfo(p, (1980, 1, 1, 0, 0, 0)), members[p])
    return fname
'''

_C_SOURCE = b"""#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ext", NULL, -1, methods};
PyMODINIT_FUNC PyInit__ext(void) { return PyModule_Create(&module); }
"""


def build_c_extension_sdist(dest_dir: Path, name: str, version: str) -> Path:
    """Write an sdist whose in-tree backend compiles a real C extension (``_ext``, with
    ``answer() == 42``) with gcc for the Python that runs the build."""
    mod = _norm(name)
    pyproject = ('[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["_backend"]\n\n'
                 f'[project]\nname = "{name}"\nversion = "{version}"\n')
    stem = f"{mod}-{version}"
    members = {f"{stem}/pyproject.toml": pyproject.encode(), f"{stem}/_backend/backend.py": _C_BACKEND.encode(),
               f"{stem}/_ext.c": _C_SOURCE, f"{stem}/NAME": f"{mod} {version}".encode(),
               f"{stem}/PKG-INFO": metadata_text(name, version).encode()}
    return _write_sdist(dest_dir / f"{stem}.tar.gz", members)


def _write_sdist(path: Path, members: Mapping[str, bytes]) -> Path:
    """Write ``members`` as a reproducible ``.tar.gz`` at ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for arcname in sorted(members):
            data = members[arcname]
            info = tarfile.TarInfo(arcname)
            info.size, info.mtime, info.mode = len(data), _TAR_MTIME, 0o644
            tf.addfile(info, io.BytesIO(data))
    # gzip with a fixed mtime and no file name, so the bytes never vary.
    import gzip

    with open(path, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return path


# --------------------------------------------------------------------------- ELF payloads


def elf_shared_object(machine: str, glibc_versions: tuple[str, ...] = ("GLIBC_2.17",)) -> bytes:
    """A small valid ELF shared object for ``machine`` needing ``glibc_versions``.

    Comes from ``tests/support/elf.py`` (the packaging tests' ELF factory).
    """
    from tests.support.elf import make_elf

    return make_elf(machine, glibc_versions)


def _native_files(mod: str, machine: str, glibc: tuple[str, ...]) -> dict[str, bytes]:
    return {
        f"{mod}/__init__.py": b"from . import _speedups  # noqa: F401\n",
        f"{mod}/_speedups.abi3.so": elf_shared_object(machine, glibc),
    }


# --------------------------------------------------------------------------- the set


def build_wheelhouse(dest: Path) -> Path:
    """Write the standard test distributions into ``dest`` (a find-links folder).

    - ``purelib 1.0``: pure, no dependencies, a console script (installers write ``bin/``)
    - ``dep-a 1.0`` requires ``dep-b``; ``dep-b 1.0``
    - ``markered 1.0`` requires ``tomli-like; python_version < "3.12"``; ``tomli-like 1.0``
    - ``native 1.0``: ``manylinux_2_17_x86_64`` and ``manylinux_2_17_aarch64`` wheels, each with
      an ELF ``.so`` of its machine (the x86_64 one has a marker file ``ARCH`` saying which)
    - ``toonew 1.0``: ``manylinux_2_17_x86_64`` whose ``.so`` needs ``GLIBC_2.38``
    - runtime-provided fakes: ``boto3 1.0`` → ``botocore``; ``botocore 1.0`` → ``urllib3``,
      ``jmespath``; ``urllib3 1.0`` and ``2.0``; ``jmespath 1.0``; ``requests 1.0`` → ``urllib3``
    - ``sdistonly 1.0``: an sdist only, pure; ``nativesdist 1.0``: an sdist only, whose build
      yields a platform wheel
    """
    w = dest
    build_wheel(
        w,
        "purelib",
        "1.0",
        files={"purelib/__init__.py": b"def main():\n    return 0\n"},
        entry_points="[console_scripts]\npurelib = purelib:main\n",
    )
    build_wheel(w, "dep-a", "1.0", requires=["dep-b"])
    build_wheel(w, "dep-b", "1.0")
    build_wheel(w, "markered", "1.0", requires=['tomli-like; python_version < "3.12"'])
    build_wheel(w, "tomli-like", "1.0")
    for machine in ("x86_64", "aarch64"):
        files = _native_files("native", machine, ("GLIBC_2.17",))
        files["native/ARCH"] = machine.encode()
        build_wheel(
            w, "native", "1.0", tag=f"cp39-abi3-manylinux_2_17_{machine}", files=files
        )
    build_wheel(
        w,
        "toonew",
        "1.0",
        tag="cp39-abi3-manylinux_2_17_x86_64",
        files=_native_files("toonew", "x86_64", ("GLIBC_2.17", "GLIBC_2.38")),
    )
    build_wheel(w, "boto3", "1.0", requires=["botocore"])
    build_wheel(w, "botocore", "1.0", requires=["urllib3", "jmespath"])
    build_wheel(w, "urllib3", "1.0")
    build_wheel(w, "urllib3", "2.0")
    build_wheel(w, "jmespath", "1.0")
    build_wheel(w, "requests", "1.0", requires=["urllib3"])
    build_sdist(w, "sdistonly", "1.0")
    build_sdist(w, "nativesdist", "1.0", wheel_tag="cp311-cp311-linux_x86_64")
    return w


#: What the fake runtime packages' modules do at import: enough for a handler that creates
#: a client at import time (``boto3.client("s3")``) and imports botocore's pieces.
_FAKE_RUNTIME_MODULES: dict[str, str] = {
    "boto3": "import botocore, s3transfer\n"
             "def client(service, **kwargs):\n    return botocore.Client(service)\n",
    "botocore": "import jmespath, dateutil, urllib3\n"
                "class Client:\n    def __init__(self, service):\n        self.service = service\n",
}


def build_runtime_wheelhouse(dest: Path, requirements: Iterable[str]) -> Path:
    """Fake wheels of a Lambda runtime's own packages (``lambda_facts.PYTHON_RUNTIME_PACKAGES``
    lines or a ``[check] runtime-packages`` list): each at its ``==`` version (``1.0``
    when unpinned), requiring each other as the real ones do, so an install of the list
    from this folder resolves, and ``import boto3; boto3.client("s3")`` works."""
    requires = {"boto3": ["botocore", "s3transfer"], "s3transfer": ["botocore"],
                "botocore": ["jmespath", "python-dateutil", "urllib3"],
                "python-dateutil": ["six"]}
    for line in requirements:
        name, _, version = line.partition("==")
        module = "dateutil" if name == "python-dateutil" else _norm(name)
        body = f"__version__ = {version or '1.0'!r}\n" + _FAKE_RUNTIME_MODULES.get(name, "")
        build_wheel(dest, name, version or "1.0", requires=requires.get(name, ()),
                    files={f"{module}/__init__.py": body.encode()})
    return dest


# --------------------------------------------------------------------------- setuptools


def setuptools_wheel() -> Path | None:
    """A setuptools wheel already on this machine (the local folders pip's configuration
    names: ``find-links`` and ``file://`` indexes with their ``files/`` beside them), for a
    setuptools-built local package to be built offline; ``None`` when there is none."""
    import configparser
    import os

    from lambdaforge.builders.python.trust import pip_config_files

    folders: list[Path] = []
    # the suite sets PIP_CONFIG_FILE=/dev/null for hermetic installs: read the files it hides
    for path in pip_config_files({k: v for k, v in os.environ.items() if k != "PIP_CONFIG_FILE"}):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path, encoding="utf-8")
        except (OSError, configparser.Error, UnicodeDecodeError):
            continue
        for key in ("find-links", "extra-index-url", "index-url"):
            if parser.has_option("global", key):
                for value in parser.get("global", key).split():
                    local = Path(value.removeprefix("file://"))
                    folders += [local, local.parent / "files"]
    found = sorted((w for d in folders if d.is_dir() for w in d.glob("setuptools-*-py3-none-any.whl")),
                   key=lambda w: [int(p) if p.isdigit() else 0 for p in w.name.split("-")[1].split(".")])
    return found[-1] if found else None


_SETUP_PY = """\
from setuptools import Extension, setup

setup(name={name!r}, version={version!r}, packages=[{mod!r}],
      ext_modules=[Extension({mod!r} + "._speed", ["src/speed.c"])])
"""

_SPEED_C = """\
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) {{ return PyLong_FromLong({answer}); }}
static PyMethodDef methods[] = {{{{"answer", answer, METH_NOARGS, ""}}, {{NULL, NULL, 0, NULL}}}};
static struct PyModuleDef module = {{PyModuleDef_HEAD_INIT, "_speed", NULL, -1, methods}};
PyMODINIT_FUNC PyInit__speed(void) {{ return PyModule_Create(&module); }}
"""


def write_setuptools_c_package(dest: Path, name: str, version: str, answer: int = 42) -> Path:
    """A local package folder built by setuptools (``setup.py`` + ``pyproject.toml``) with a
    C extension ``<mod>._speed`` whose ``answer()`` returns ``answer``."""
    mod = _norm(name)
    files = {
        "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
                          'build-backend = "setuptools.build_meta"\n',
        "setup.py": _SETUP_PY.format(name=name, version=version, mod=mod),
        f"{mod}/__init__.py": "from ._speed import answer\n",
        "src/speed.c": _SPEED_C.format(answer=answer),
    }
    for rel, text in files.items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest
