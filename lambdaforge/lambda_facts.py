"""Facts about AWS Lambda that builds and checks rely on, each with its source.

Kept in one module so they are re-checked in one place when AWS changes runtimes.

Sources:
- Runtimes, OS and deprecation: https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
- Quotas: https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html (50 MB
  zipped for a direct upload, 250 MB unzipped including layers). Those "MB" are MiB:
  ``GetAccountSettings`` reports ``"CodeSizeZipped": 52428800`` and
  ``"CodeSizeUnzipped": 262144000`` (example output in the AWS CLI reference,
  https://docs.aws.amazon.com/cli/latest/reference/lambda/get-account-settings.html, and in
  boto3's ``Lambda.Client.get_account_settings``), and the API rejects an unzipped size that
  is not "smaller than 262144000 bytes". So lambdaforge prints sizes in MiB (``sizes``).
- Layer paths: https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html
- Custom runtimes (``bootstrap`` in the function or a layer, found in ``/var/task`` then
  ``/opt``): https://docs.aws.amazon.com/lambda/latest/dg/runtimes-custom.html
- glibc: Amazon Linux 2 ships glibc 2.26, Amazon Linux 2023 glibc 2.34
  (https://docs.aws.amazon.com/linux/al2023/ug/compare-with-al2.html).
- Deprecation dates (``Runtime.deprecation``, ``RETIRED``): the "Supported runtimes" and
  "Deprecated runtimes" tables of lambda-runtimes.html, as of 2026-11 (cross-checked with
  tflint-ruleset-aws's ``aws_lambda_function_deprecated_runtime`` rule, which cites it).
  After its deprecation date a runtime gets no security patches; Lambda then blocks
  creating, and later updating, functions that use it (runtime-support-policy.html).
- libstdc++ (checked 2026-12-01; see ``LIBSTDCXX``): the highest ``GLIBCXX_``/``CXXABI_``
  symbol version each release of GCC's libstdc++ defines is listed in the libstdc++ manual,
  https://gcc.gnu.org/onlinedocs/libstdc++/manual/abi.html ("GCC 7.2.0: GLIBCXX_3.4.24,
  CXXABI_1.3.11", "GCC 11.1.0: GLIBCXX_3.4.29, CXXABI_1.3.13"). Amazon Linux 2's system
  compiler is GCC 7.3 (libstdc++.so.6.0.24): Lambda's AL2 images top out at GLIBCXX_3.4.24
  (https://github.com/aws/aws-lambda-base-images/issues/87, 2023-04-06, asks to move them
  "to 3.4.26 from 3.4.24"). Amazon Linux 2023's core toolchain is GCC 11
  (https://docs.aws.amazon.com/linux/al2023/ug/core-glibc.html: "gcc 11.2"). In April 2025
  AL2023's own images moved their GCC runtime libraries to GCC 14's to accommodate gcc14,
  and binaries linked there needed GLIBCXX_3.4.30, which Lambda's AL2023 runtimes did not
  have (https://github.com/amazonlinux/container-images/issues/132, 2025-04-14;
  https://github.com/duckdb/duckdb-node-neo/issues/302, 2025-09-24: "On Amazon Linux 2023,
  the latest GLIBCXX version is GLIBCXX_3.4.29"). So the AL2023 figures are GCC 11's, the
  ones every AL2023 Lambda runtime is known to have; re-check when AWS documents a newer one.
- SDKs bundled with the runtime: https://docs.aws.amazon.com/lambda/latest/dg/lambda-python.html
  ("The Python runtime includes the AWS SDK for Python (Boto3)") and lambda-nodejs.html
  (Node.js 18+ runtimes include the AWS SDK for JavaScript v3). Their versions: see
  ``PYTHON_RUNTIME_PACKAGES`` and ``NODE_SDK_VERSIONS``.
- Environment variables (reserved names, what the runtime sets):
  https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html, read 2026-12-02;
  the 4 KB limit: gettingstarted-limits.html ("Function environment variables: 4 KB, for all
  environment variables associated with the function, in aggregate").
"""

from __future__ import annotations

import datetime
from typing import Literal

from msgspec import Struct

def current_date() -> datetime.date:
    """The (UTC) day deprecations are judged on; one function, so tests can pin it."""
    return datetime.datetime.now(datetime.timezone.utc).date()


#: Runtime families: the language a runtime runs, or ``provided`` for the OS-only runtimes
#: (custom runtimes: the function ships its own ``bootstrap`` executable).
Family = Literal["python", "nodejs", "provided"]

#: Zipped deployment package, direct upload (larger needs an S3 upload): AWS's "50 MB" is
#: ``CodeSizeZipped`` = 52,428,800 bytes = 50 MiB (see the module docstring).
MAX_ZIPPED_DIRECT_UPLOAD = 52_428_800
#: Unzipped function plus all its layers: ``CodeSizeUnzipped`` = 262,144,000 bytes = 250 MiB.
#: The API says "must be smaller than 262144000 bytes".
MAX_UNZIPPED_TOTAL = 262_144_000
#: Layers a function may use.
MAX_LAYERS = 5
#: The executable an OS-only (``provided.*``) runtime starts: at the function zip's root
#: (``/var/task/bootstrap``) or a layer's (``/opt/bootstrap``), with its execute bit set.
BOOTSTRAP = "bootstrap"
#: Function names: 1-64 characters of letters, digits, hyphens and underscores.
FUNCTION_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
#: Layer names: 1-140 characters of letters, digits, hyphens and underscores.
LAYER_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,140}$"

#: A function's ``/tmp`` (``EphemeralStorage.Size``), in MiB: 512 (the default) to 10,240
#: (API_EphemeralStorage.html).
EPHEMERAL_STORAGE_MIN = 512
EPHEMERAL_STORAGE_MAX = 10_240
#: Tags on a function (tagging.html, the AWS tagging rules Lambda follows): at most 50 per
#: resource; keys 1-128 characters, values 0-256, of letters, digits, spaces and
#: ``+ - = . _ : / @``; keys starting with ``aws:`` (any case) are AWS's own (it sets them,
#: nobody can set or remove them, and they do not count against the 50).
MAX_TAGS = 50
#: ``CompatibleRuntimes`` of a layer version: at most 15 (API_PublishLayerVersion.html)
MAX_LAYER_RUNTIMES = 15
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
TAG_CHARACTERS = r"[\w +=.:/@-]*"
RESERVED_TAG_PREFIX = "aws:"
#: Alias names (API_CreateAlias.html): 1-128 letters, digits, ``-`` or ``_``, not all digits
#: (that would read as a version number).
ALIAS_NAME_PATTERN = r"(?!^[0-9]+$)[A-Za-z0-9_-]{1,128}"

#: Lambda ``architecture`` → ELF machine name used in wheel tags and ``uname -m``.
ARCHITECTURES: dict[str, str] = {"x86_64": "x86_64", "arm64": "aarch64"}


class Runtime(Struct, frozen=True):
    """One Lambda runtime identifier and what it implies for the build."""

    id: str
    family: Family
    version: str  # "3.12" for Python, "22" for Node.js, the OS ("al2023") for provided
    os: Literal["al2", "al2023"]
    #: the day Lambda deprecates (or deprecated) it, from the AWS table; ``None``: not announced
    deprecation: datetime.date | None = None

    def deprecated(self, today: datetime.date | None = None) -> bool:
        """Whether its deprecation date has come (``today``: the date to judge on)."""
        day = today or current_date()
        return self.deprecation is not None and self.deprecation <= day

    @property
    def glibc(self) -> tuple[int, int]:
        """Highest glibc symbol version a native binary may need on this runtime."""
        return (2, 34) if self.os == "al2023" else (2, 26)

    @property
    def glibcxx(self) -> tuple[int, ...]:
        """Highest ``GLIBCXX_x.y.z`` a native binary may need from this runtime's libstdc++."""
        return LIBSTDCXX[self.os].glibcxx

    @property
    def cxxabi(self) -> tuple[int, ...]:
        """Highest ``CXXABI_x.y.z`` a native binary may need from this runtime's libstdc++."""
        return LIBSTDCXX[self.os].cxxabi

    @property
    def manylinux(self) -> str:
        """The manylinux policy a wheel must satisfy (its tag or an older one)."""
        return "manylinux_2_34" if self.os == "al2023" else "manylinux_2_17"

    @property
    def layer_prefix(self) -> str:
        """Where a layer's modules go so the runtime finds them under ``/opt``."""
        # OS-only runtimes have no module path: a layer's bin/ and lib/ are used as laid out.
        return {"python": "python/", "nodejs": "nodejs/node_modules/"}.get(self.family, "")


class Libstdcxx(Struct, frozen=True):
    """The C++ runtime library (``libstdc++.so.6``) of one Amazon Linux release: the GCC it
    comes from and the highest symbol versions it defines (sources in the module docstring).
    A C++ extension built with a newer GCC needs newer versions and fails to load
    (``version `GLIBCXX_3.4.30' not found``)."""

    gcc: str
    glibcxx: tuple[int, ...]
    cxxabi: tuple[int, ...]


#: Runtime OS → its libstdc++ (checked 2026-12-01, see the module docstring).
LIBSTDCXX: dict[str, Libstdcxx] = {
    "al2": Libstdcxx("7.3", (3, 4, 24), (1, 3, 11)),
    "al2023": Libstdcxx("11", (3, 4, 29), (1, 3, 13)),
}


#: Shared libraries every Lambda runtime OS (Amazon Linux 2 and 2023) has, which a native
#: wheel may link against without bundling them: the manylinux policies' allow-list (PEP 600;
#: auditwheel's ``policy/manylinux-policy.json``) less the X11/GL/GLib desktop libraries, which
#: Lambda's minimal images lack. Anything else must travel inside the wheel.
BASE_SHARED_LIBRARIES: frozenset[str] = frozenset({
    "libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libutil.so.1",
    "libnsl.so.1", "libresolv.so.2", "libcrypt.so.1", "libgcc_s.so.1", "libstdc++.so.6",
    "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1",
})


RUNTIMES: dict[str, Runtime] = {
    r.id: r
    for r in (
        Runtime("python3.10", "python", "3.10", "al2", datetime.date(2026, 6, 30)),
        Runtime("python3.11", "python", "3.11", "al2", datetime.date(2026, 6, 30)),
        Runtime("python3.12", "python", "3.12", "al2023", datetime.date(2028, 10, 31)),
        Runtime("python3.13", "python", "3.13", "al2023", datetime.date(2029, 6, 30)),
        Runtime("python3.14", "python", "3.14", "al2023", datetime.date(2029, 6, 30)),
        Runtime("nodejs20.x", "nodejs", "20", "al2023", datetime.date(2026, 4, 30)),
        Runtime("nodejs22.x", "nodejs", "22", "al2023", datetime.date(2027, 4, 30)),
        Runtime("nodejs24.x", "nodejs", "24", "al2023", datetime.date(2028, 4, 30)),
        # OS-only runtimes (lambda-runtimes.html, "OS-only runtimes"; runtimes-custom.html):
        # Lambda runs the zip's (or a layer's) executable `bootstrap`; AL2's end of support
        # deprecates provided.al2.
        Runtime("provided.al2", "provided", "al2", "al2", datetime.date(2026, 6, 30)),
        Runtime("provided.al2023", "provided", "al2023", "al2023", datetime.date(2029, 6, 30)),
    )
}

#: Runtimes lambdaforge no longer builds for, with the day Lambda deprecated them (the AWS
#: "Deprecated runtimes" table): Lambda blocks creating and updating functions with them,
#: and they get no security patches. A config naming one gets this date and the nearest
#: supported runtime, not "unknown runtime".
RETIRED: dict[str, datetime.date] = {
    "python3.9": datetime.date(2025, 12, 15),
    "python3.8": datetime.date(2024, 10, 14),
    "python3.7": datetime.date(2023, 12, 4),
    "python3.6": datetime.date(2022, 7, 18),
    "python2.7": datetime.date(2021, 7, 15),
    "nodejs18.x": datetime.date(2025, 9, 1),
    "nodejs16.x": datetime.date(2024, 6, 12),
    "nodejs14.x": datetime.date(2023, 12, 4),
    "nodejs12.x": datetime.date(2023, 3, 31),
    "nodejs10.x": datetime.date(2021, 7, 30),
    "nodejs8.10": datetime.date(2020, 3, 6),
    "provided": datetime.date(2024, 1, 8),
    "go1.x": datetime.date(2024, 1, 8),
}


def replacement(runtime: str, today: datetime.date | None = None) -> str | None:
    """The runtime to move a retired or deprecated one to: the oldest of its family that is
    not deprecated on ``today`` (the smallest step up), ``None`` when there is none.
    ``go1.x`` and ``provided`` move to ``provided.al2023`` (Go ships as a ``bootstrap``)."""
    family = ("provided" if runtime in ("go1.x", "provided") or runtime.startswith("provided")
              else "nodejs" if runtime.startswith("nodejs") else
              "python" if runtime.startswith("python") else None)
    candidates = [r.id for r in RUNTIMES.values()
                  if r.family == family and not r.deprecated(today)]
    return candidates[0] if candidates else None

DEFAULT_PYTHON_RUNTIME = "python3.12"

#: Distributions the Python runtimes ship (boto3 and its dependency closure). Versions vary
#: by runtime and region, so a user's explicit ``==`` pin keeps their own copy.
PYTHON_RUNTIME_PROVIDED: frozenset[str] = frozenset(
    {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
)

#: Node.js 18+ runtimes ship the AWS SDK for JavaScript v3.
NODE_RUNTIME_PROVIDED_PREFIXES: tuple[str, ...] = ("@aws-sdk/", "@smithy/")


def runtime_provided(runtime: str) -> frozenset[str]:
    """Distribution names the given runtime already provides (normalized, lowercase)."""
    rt = RUNTIMES.get(runtime)
    if rt is not None and rt.family == "python":
        return PYTHON_RUNTIME_PROVIDED
    return frozenset()


# --------------------------------------------------------------------------- runtime packages

#: The Python runtime's own packages (boto3 and its dependency closure) as requirement lines,
#: per runtime: what the import smoke test puts after the function and its layers, as
#: ``/var/lang/lib/pythonX.Y/site-packages`` comes after ``/var/task`` and ``/opt`` on Lambda.
#:
#: AWS stopped publishing these versions: lambda-python.html ("Runtime-included SDK
#: versions", read 2026-12-02) says they depend on the runtime version and the Region and
#: tells you to print ``boto3.__version__`` from a function. The pins below are the last
#: reported ones, each with where and when:
#: - python3.10: boto3 1.26.90 / botocore 1.29.90, lambda-runtimes.html as quoted in
#:   https://github.com/aws/aws-lambda-base-images/issues/118 (2023-10-17);
#: - python3.11: boto3 1.27.1 / botocore 1.30.1, lambda-runtimes.html as quoted in
#:   https://github.com/boto/botocore/issues/3082 (2023-11-29);
#: - python3.12, python3.13: boto3 / botocore 1.38.36, observed on both runtimes,
#:   https://github.com/terricain/aioboto3/issues/381 (2025-08-22);
#: - python3.14: no version reported yet: the newest boto3 the package index has.
#: s3transfer, jmespath, python-dateutil, six and urllib3 are not pinned: nobody publishes
#: them, so the installer picks the newest release boto3's and botocore's own requirements
#: allow (botocore 1.29/1.30 cap urllib3 below 1.27 on the AL2 runtimes, as there). A
#: ``[check] runtime-packages`` list replaces a runtime's list (re-check with the print).
_BOTO3_CLOSURE = ("s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
PYTHON_RUNTIME_PACKAGES: dict[str, tuple[str, ...]] = {
    "python3.10": ("boto3==1.26.90", "botocore==1.29.90", *_BOTO3_CLOSURE),
    "python3.11": ("boto3==1.27.1", "botocore==1.30.1", *_BOTO3_CLOSURE),
    "python3.12": ("boto3==1.38.36", "botocore==1.38.36", *_BOTO3_CLOSURE),
    "python3.13": ("boto3==1.38.36", "botocore==1.38.36", *_BOTO3_CLOSURE),
    "python3.14": ("boto3", "botocore", *_BOTO3_CLOSURE),
}

#: Version of the AWS SDK for JavaScript v3 (every ``@aws-sdk/*`` client at one version) a
#: Node.js runtime ships in ``/var/runtime/node_modules``. AWS removed its table
#: (https://github.com/aws/aws-sdk-js-v3/issues/6159, 2024-06-04); the last reports:
#: - nodejs20.x: 3.462.0 (``@aws-sdk/client-s3/package.json`` printed on the runtime,
#:   https://github.com/nasa-gcn/gcn.nasa.gov/pull/1869, 2024-01-29);
#: - nodejs22.x, nodejs24.x: none reported: ``None`` means the newest 3.x release.
NODE_SDK_VERSIONS: dict[str, str | None] = {
    "nodejs20.x": "3.462.0",
    "nodejs22.x": None,
    "nodejs24.x": None,
}

# --------------------------------------------------------------------------- environment

#: Names the function's configuration may not set: the runtime sets them
#: (configuration-envvars.html, "Reserved environment variables", read 2026-12-02).
RESERVED_ENVIRONMENT_VARIABLES: frozenset[str] = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
})
#: A variable's name: a letter, then at least one letter, digit or underscore (the API's
#: ``Key Pattern: [a-zA-Z]([a-zA-Z0-9_])+``, API_Environment.html; the console says "keys
#: start with a letter and are at least two characters", configuration-envvars.html).
ENVIRONMENT_NAME_PATTERN = r"[a-zA-Z][a-zA-Z0-9_]+"
#: All of a function's variables together, counted as Lambda counts them: the UTF-8 bytes of
#: the variables as one compact JSON object (the API's error quotes it: "exceeded the 4KB
#: limit. String measured: {"NAME":"value",…}"; LocalStack measures the same way).
MAX_ENVIRONMENT_BYTES = 4096
#: Memory of a function without a ``memory`` setting (lambdaforge has none yet), in MB.
DEFAULT_MEMORY_MB = 128
#: Region the checks run "in" when the config names none (lambdaforge has no region setting).
DEFAULT_REGION = "us-east-1"
#: Node.js experimental features Lambda turns off with ``NODE_OPTIONS`` flags, per major
#: (lambda-nodejs.html, read 2026-12-02): ``require()`` of ES modules on 20 and 22, module
#: type detection on 22.
NODE_DISABLED_EXPERIMENTS: dict[str, tuple[str, ...]] = {
    "20": ("--no-experimental-require-module",),
    "22": ("--no-experimental-require-module", "--no-experimental-detect-module"),
}


def environment_size(variables: dict[str, str]) -> int:
    """Bytes Lambda counts for a function's variables (``MAX_ENVIRONMENT_BYTES``)."""
    import json

    return len(json.dumps(variables, separators=(",", ":")).encode("utf-8"))
