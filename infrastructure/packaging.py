"""Lambda packaging without docker: the ``functions`` package and a layer of its dependencies.

Both are built on this machine (CDK local bundling) and cached under ``.build/``:

* ``.build/lambda-code/<hash>/functions``: the code, keyed by a hash of its files;
* ``.build/lambda-dependencies/<hash>/python``: the runtime dependencies from pyproject.toml
  (minus boto3, which the Lambda runtime provides) installed by pip as wheels for CPython 3.12 on
  arm64 Linux, keyed by a hash of the pins, so a repeat synth does not run pip again.

Both ship hash-based bytecode (PEP 552, unchecked) compiled by a local CPython 3.12, because
Lambda's code directories are read-only and source without bytecode is recompiled on every cold
start. Without a CPython 3.12 the source ships alone, with a warning: slower cold starts, same code.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = PROJECT_ROOT / "functions"
BUILD_DIR = PROJECT_ROOT / ".build"

LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_12
LAMBDA_ARCHITECTURE = lambda_.Architecture.ARM_64
LAMBDA_PYTHON_VERSION = "3.12"
# Lambda's python3.12 runtime is Amazon Linux 2023 (glibc 2.34) on Graviton.
WHEEL_PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
# The transitive pins too, so the layer holds exactly what the tests ran with.
CONSTRAINTS = PROJECT_ROOT / "constraints.txt"
# Modules the Lambda Python runtime already provides.
PROVIDED_BY_RUNTIME = frozenset({"boto3", "botocore"})
# Never used: local bundling either succeeds or raises, so docker is never needed. CDK's
# BundlingOptions requires an image all the same; this is the one it would mean.
_UNUSED_IMAGE = DockerImage.from_registry("public.ecr.aws/sam/build-python3.12:latest-arm64")


def runtime_requirements(pyproject: Path = PROJECT_ROOT / "pyproject.toml") -> tuple[str, ...]:
    """The pinned run-time dependencies of pyproject.toml that the Lambda runtime lacks."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return tuple(
        requirement for requirement in dependencies
        if re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower() not in PROVIDED_BY_RUNTIME
    )


@functools.cache
def bytecode_compiler() -> str | None:
    """A CPython 3.12 interpreter on this machine: on PATH, or any pyenv 3.12.x (pyenv's shim only
    runs the version pyenv has selected, so its versions directory is searched too)."""
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    executable = f"python{LAMBDA_PYTHON_VERSION}"
    pyenv_versions = pyenv_root.glob(f"versions/{LAMBDA_PYTHON_VERSION}.*/bin/{executable}")
    candidates = [shutil.which(executable), *sorted(map(str, pyenv_versions), reverse=True)]
    probe = "import sys; print('%d.%d' % sys.version_info[:2])"
    for candidate in filter(None, candidates):
        try:
            result = subprocess.run([candidate, "-c", probe], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and result.stdout.strip() == LAMBDA_PYTHON_VERSION:
            return candidate
    return None


def _bytecode_tag() -> str:
    """Part of every cache key: a build with bytecode and one without are different assets."""
    if bytecode_compiler() is None:
        return "source-only"
    return f"cpython-{LAMBDA_PYTHON_VERSION.replace('.', '')}-unchecked-hash"


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:24]


def code_hash(source: Path = FUNCTIONS_DIR) -> str:
    """A hash of every file that ships in the code asset (names and contents)."""
    digest = hashlib.sha256(_bytecode_tag().encode())
    for path in sorted(_shipped_files(source)):
        digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:24]


def dependencies_hash(requirements: tuple[str, ...]) -> str:
    return _digest(sorted(requirements), CONSTRAINTS.read_text(), WHEEL_PLATFORMS, LAMBDA_PYTHON_VERSION,
                   _bytecode_tag())


def _shipped_files(source: Path) -> list[Path]:
    """The package's files without bytecode of this machine's Python, tests or hidden files."""
    ignored_names = {"__pycache__", "tests"}
    return [
        path for path in source.rglob("*")
        if path.is_file()
        and not ignored_names.intersection(path.relative_to(source).parts)
        and not path.name.startswith((".", "test_"))
        and path.suffix != ".pyc"
    ]


def _compile_bytecode(directory: Path, installed_at: str) -> None:
    """Hash-based .pyc beside every module; tracebacks name the path the code has in Lambda."""
    compiler = bytecode_compiler()
    if compiler is None:
        _say(f"WARNING: no CPython {LAMBDA_PYTHON_VERSION} found (PATH, pyenv); the Lambda asset ships "
             "source only, so every cold start compiles it. Install Python 3.12 to ship bytecode.")
        return
    result = subprocess.run(
        [compiler, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
         "-s", str(directory), "-p", installed_at, str(directory)],
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        # A module that does not compile for 3.12 (e.g. a vendored py2 file) ships as source.
        _say(f"WARNING: compileall reported problems in {directory.name}: {result.stdout[-500:]}")


def _say(message: str) -> None:
    sys.stderr.write(f"[telehub packaging] {message}\n")


def _build_once(cache: Path, build: Callable[[Path], None]) -> Path:
    """``cache`` built by ``build(directory)`` unless a complete build is already there."""
    marker = cache / ".complete"
    if marker.is_file():
        return cache
    staging = cache.with_name(f"{cache.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    build(staging)
    (staging / ".complete").write_text(_bytecode_tag())
    shutil.rmtree(cache, ignore_errors=True)
    staging.rename(cache)
    return cache


def _prune_siblings(keep: Path) -> None:
    for sibling in keep.parent.iterdir():
        if sibling != keep and sibling.is_dir():
            shutil.rmtree(sibling, ignore_errors=True)


def build_code(source: Path = FUNCTIONS_DIR, build_dir: Path = BUILD_DIR) -> Path:
    """``.build/lambda-code/<hash>/functions`` with its bytecode; older builds are removed."""
    def build(directory: Path) -> None:
        for path in _shipped_files(source):
            copy = directory / source.name / path.relative_to(source)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, copy)
        _compile_bytecode(directory, "/var/task")

    cache = _build_once(build_dir / "lambda-code" / code_hash(source), build)
    _prune_siblings(cache)
    return cache


def build_dependencies(requirements: tuple[str, ...], build_dir: Path = BUILD_DIR) -> Path:
    """``.build/lambda-dependencies/<hash>/python``: the requirements as arm64 CPython 3.12 wheels."""
    def build(directory: Path) -> None:
        target = directory / "python"
        started = time.perf_counter()
        _say(f"installing {', '.join(requirements)} for Lambda (CPython {LAMBDA_PYTHON_VERSION}, arm64)")
        platforms = [argument for platform in WHEEL_PLATFORMS for argument in ("--platform", platform)]
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--quiet", "--disable-pip-version-check",
             "--no-compile", *platforms, "--implementation", "cp", "--python-version", LAMBDA_PYTHON_VERSION,
             "--only-binary=:all:", "--constraint", str(CONSTRAINTS), "--target", str(target), *requirements],
            check=True,
        )
        shutil.rmtree(target / "bin", ignore_errors=True)  # console scripts: nothing runs them in Lambda
        _compile_bytecode(target, "/opt/python")
        _say(f"dependencies installed and compiled in {time.perf_counter() - started:.1f} s")

    return _build_once(build_dir / "lambda-dependencies" / dependencies_hash(requirements), build)


@jsii.implements(ILocalBundling)
class _CopyBuild:
    """Local bundling: build (or reuse) a cached directory, then copy it into CDK's asset output."""

    def __init__(self, build: Callable[[], Path]) -> None:
        self._build = build

    def try_bundle(self, output_dir: str, *_options: Any, **_more: Any) -> bool:
        built = self._build()
        shutil.copytree(
            built, output_dir,
            dirs_exist_ok=True, ignore=shutil.ignore_patterns(".complete"), copy_function=_link,
        )
        return True


def _link(source: str, destination: str) -> None:
    """Hard links where possible (the cached build is never modified in place), else a copy."""
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


class LambdaPackage:
    """The two assets every Telehub function uses: its code and the dependencies layer."""

    def __init__(self, source: Path = FUNCTIONS_DIR, requirements: tuple[str, ...] | None = None):
        self.source = source
        self.requirements = runtime_requirements() if requirements is None else requirements

    def code(self) -> lambda_.Code:
        return lambda_.Code.from_asset(
            str(self.source),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=code_hash(self.source),
            bundling=BundlingOptions(image=_UNUSED_IMAGE, local=_CopyBuild(lambda: build_code(self.source))),
        )

    def dependencies(self) -> lambda_.Code:
        return lambda_.Code.from_asset(
            # Only the hash and the bundler matter; the directory is what CDK stages when bundling
            # is skipped (tests), so a small one.
            str(Path(__file__).resolve().parent),
            asset_hash_type=AssetHashType.CUSTOM,
            asset_hash=dependencies_hash(self.requirements),
            bundling=BundlingOptions(
                image=_UNUSED_IMAGE, local=_CopyBuild(lambda: build_dependencies(self.requirements))
            ),
        )
