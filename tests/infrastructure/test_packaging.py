"""Lambda packaging without docker: what ships, bytecode, caching, and when bundling happens.
No test here runs pip."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from infrastructure import packaging
from infrastructure.application import build_app, stack_of
from tests.support.cdk_templates import resources, tagged


@pytest.fixture
def source(tmp_path) -> Path:
    """A small functions package with the things that must not ship beside it."""
    package = tmp_path / "src" / "functions"
    (package / "feature" / "__pycache__").mkdir(parents=True)
    (package / "tests").mkdir()
    (package / "__init__.py").write_text("")
    (package / "feature" / "__init__.py").write_text("")
    (package / "feature" / "handler.py").write_text("def handler(event, context):\n    return 1 / 0\n")
    (package / "feature" / "data.csv").write_text("a,b\n")
    (package / "feature" / "__pycache__" / "handler.cpython-311.pyc").write_bytes(b"stale")
    (package / "feature" / "test_handler.py").write_text("")
    (package / "tests" / "test_x.py").write_text("")
    return package


def test_runtime_requirements_are_the_pinned_dependencies_without_boto3(tmp_path):
    # Given a pyproject with boto3 and botocore among its dependencies
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "x"\n'
        'dependencies = ["boto3==1.0", "pydantic==2.1", "pyjwt[crypto]==2.0", "botocore>=1"]\n'
    )
    # When the Lambda requirements are read, Then only what the runtime lacks remains
    assert packaging.runtime_requirements(pyproject) == ("pydantic==2.1", "pyjwt[crypto]==2.0")
    # And Telehub's own are the three pinned run-time dependencies
    names = {r.split("==")[0] for r in packaging.runtime_requirements()}
    assert names == {"aws-lambda-powertools", "pydantic", "pyjwt[crypto]"}
    assert all("==" in r for r in packaging.runtime_requirements())


def test_the_code_build_ships_the_package_without_tests_or_stale_bytecode(source, tmp_path):
    # When the code is built
    built = packaging.build_code(source, build_dir=tmp_path / "build")
    shipped = {
        p.relative_to(built).as_posix() for p in built.rglob("*") if p.is_file() and p.suffix != ".pyc"
    }
    # Then the package and its data ship, tests and this machine's bytecode do not
    assert shipped == {
        ".complete",
        "functions/__init__.py",
        "functions/feature/__init__.py",
        "functions/feature/handler.py",
        "functions/feature/data.csv",
    }
    assert not list(built.rglob("*.cpython-311.pyc"))


@pytest.mark.skipif(packaging.bytecode_compiler() is None, reason="no CPython 3.12 on this machine")
def test_the_code_build_ships_unchecked_hash_bytecode_for_the_lambda_paths(source, tmp_path):
    # When the code is built with a CPython 3.12 present
    built = packaging.build_code(source, build_dir=tmp_path / "build")
    pyc = built / "functions" / "feature" / "__pycache__" / "handler.cpython-312.pyc"
    header = pyc.read_bytes()
    # Then each module has PEP 552 bytecode: hash-based (bit 0) and unchecked (bit 1 clear)
    assert struct.unpack("<I", header[4:8])[0] == 0b01
    # And tracebacks in Lambda name the module where Lambda has it
    program = f"import marshal, sys; print(marshal.loads(open({str(pyc)!r}, 'rb').read()[16:]).co_filename)"
    filename = subprocess.run([packaging.bytecode_compiler(), "-c", program], capture_output=True, text=True)
    assert filename.stdout.strip() == "/var/task/functions/feature/handler.py"


def test_a_code_change_is_a_new_asset_and_an_unchanged_one_is_reused(source, tmp_path):
    # Given a built package
    build_dir = tmp_path / "build"
    first = packaging.build_code(source, build_dir=build_dir)
    # When it is built again unchanged, Then the same build is reused
    assert packaging.build_code(source, build_dir=build_dir) == first
    # When a module changes, Then the hash and the build differ, and the stale build is removed
    (source / "feature" / "handler.py").write_text("def handler(event, context):\n    return 2\n")
    second = packaging.build_code(source, build_dir=build_dir)
    assert second != first
    assert [p.name for p in (build_dir / "lambda-code").iterdir()] == [second.name]


def test_cached_dependencies_are_reused_without_pip(tmp_path, monkeypatch):
    # Given dependencies built before for these pins
    requirements = ("pydantic==2.14.4",)
    cached = tmp_path / "lambda-dependencies" / packaging.dependencies_hash(requirements)
    (cached / "python" / "pydantic").mkdir(parents=True)
    (cached / ".complete").write_text("")

    def no_pip(*args, **kwargs):
        raise AssertionError(f"pip ran: {args}")

    monkeypatch.setattr(packaging.subprocess, "run", no_pip)
    # When they are needed again, Then the cache answers and pip does not run
    assert packaging.build_dependencies(requirements, build_dir=tmp_path) == cached
    # And other pins are another cache entry
    assert packaging.dependencies_hash(("pydantic==2.14.5",)) != packaging.dependencies_hash(requirements)


def test_bundling_copies_the_build_into_cdks_output(tmp_path):
    # Given a build, When CDK asks the local bundler for the asset, Then the asset is the build
    built = tmp_path / "built"
    (built / "python").mkdir(parents=True)
    (built / "python" / "module.py").write_text("x = 1\n")
    (built / ".complete").write_text("")
    output = tmp_path / "asset"
    output.mkdir()
    assert packaging._CopyBuild(lambda: built).try_bundle(str(output)) is True
    assert sorted(p.relative_to(output).as_posix() for p in output.rglob("*")) == [
        "python",
        "python/module.py",
    ]


def test_without_cpython_3_12_the_source_ships_alone(monkeypatch, tmp_path):
    # Given no python3.12 on PATH and no pyenv versions
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    packaging.bytecode_compiler.cache_clear()
    try:
        # Then no compiler is found, and the cache key says so
        assert packaging.bytecode_compiler() is None
        assert packaging._bytecode_tag() == "source-only"
    finally:
        packaging.bytecode_compiler.cache_clear()


def test_app_py_bundles_and_the_tests_do_not(dev):
    # Given the app as `python app.py` builds it (no context) and as the tests build it
    app = build_app()
    # Then the former bundles its stack's assets and the latter skips bundling
    assert stack_of(app).bundling_required is True
    assert dev.stack.bundling_required is False


def test_all_functions_share_one_code_asset_and_one_arm64_layer(stage):
    # Given the functions of a stage
    functions = [
        f["Properties"] for _, f in tagged(stage.template, "AWS::Lambda::Function", "function").values()
    ]
    # (CDK's web app deployment brings its own AWS CLI layer, used by its handler only)
    (layer_id,) = {layer["Ref"] for f in functions for layer in f["Layers"]}
    layer = resources(stage.template, "AWS::Lambda::LayerVersion")[layer_id]
    # Then one code asset serves them all, with one dependencies layer for arm64 Python 3.12
    assert len({f["Code"]["S3Key"] for f in functions}) == 1
    assert all(f["Layers"] == [{"Ref": layer_id}] for f in functions)
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
