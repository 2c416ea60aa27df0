"""The package: its version, how it finds the library, and the README's example."""

import inspect
import os
import re
import subprocess
import sys

import pytest

import raft
from raft import _lib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")


def test_version_is_the_librarys():
    cargo = open(os.path.join(ROOT, "Cargo.toml")).read()
    assert raft.__version__ == re.search(r'^version = "([^"]+)"', cargo, re.M).group(1)


def test_installed_package_is_the_one_under_test():
    source = os.path.realpath(os.path.join(ROOT, "python", "raft"))
    loaded = os.path.realpath(os.path.dirname(raft.__file__))
    assert (loaded != source) == bool(os.environ.get("RAFT_TEST_INSTALLED"))
    if os.environ.get("RAFT_TEST_INSTALLED"):
        # make test-python-package: pip put it in the virtual environment running the suite.
        assert sys.prefix != sys.base_prefix, "the installed suite runs in a virtual environment"
        assert loaded.startswith(os.path.realpath(sys.prefix) + os.sep)


def import_raft(env_changes):
    """Imports the package in a fresh interpreter with `env_changes` (None removes a name)."""
    env = dict(os.environ)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    if not os.environ.get("RAFT_TEST_INSTALLED"):
        env["PYTHONPATH"] = os.path.join(ROOT, "python")
    return subprocess.run(
        [sys.executable, "-c", "import raft; print(raft._lib.lib._name)"],
        env=env,
        capture_output=True,
        text=True,
    )


def test_raft_library_override_wins_and_a_missing_one_says_so():
    out = import_raft({"RAFT_LIBRARY": "/nonexistent/libraft.so"})
    assert out.returncode != 0
    assert "LibraryNotFound" in out.stderr and "/nonexistent/libraft.so" in out.stderr


def test_a_craft_library_is_refused(tmp_path):
    # Debian's C-Raft (libraft.so.2) is a libraft without this library's functions.
    craft = "/usr/lib/x86_64-linux-gnu/libraft.so.2"
    assert os.path.exists(craft), "libraft-dev (C-Raft 0.15) is a test dependency"
    out = import_raft({"RAFT_LIBRARY": craft})
    assert out.returncode != 0 and "not libraft-rs" in out.stderr


def test_pkg_config_is_asked_without_an_override(monkeypatch):
    if os.environ.get("RAFT_TEST_INSTALLED"):
        # The suite itself runs without RAFT_LIBRARY here: what it loaded came from pkg-config.
        assert "RAFT_LIBRARY" not in os.environ
        libdir = _lib._pkg_config_libdir()
        assert libdir and os.path.realpath(_lib.lib._name).startswith(os.path.realpath(libdir))
    monkeypatch.delenv("RAFT_LIBRARY", raising=False)
    assert _lib.library_candidates()[-1] == "libraft.so.0"


def write_raft_pc(directory, libdir):
    directory.mkdir(exist_ok=True)
    (directory / "raft.pc").write_text(
        f"libdir={libdir}\nName: raft\nDescription: test\nVersion: 0\nLibs: -L${{libdir}} -lraft\n"
    )


def test_pkg_config_libdir_comes_before_the_loader(monkeypatch, tmp_path):
    monkeypatch.delenv("RAFT_LIBRARY", raising=False)
    write_raft_pc(tmp_path / "pc", "/opt/raft-test/lib")
    monkeypatch.setenv("PKG_CONFIG_LIBDIR", str(tmp_path / "pc"))
    monkeypatch.setenv("PKG_CONFIG_PATH", "")
    assert _lib.library_candidates() == ["/opt/raft-test/lib/libraft.so.0", "libraft.so.0"]


def test_without_raft_pc_or_pkg_config_the_loader_is_asked(monkeypatch, tmp_path):
    monkeypatch.delenv("RAFT_LIBRARY", raising=False)
    monkeypatch.setenv("PKG_CONFIG_LIBDIR", str(tmp_path))  # no raft.pc there
    monkeypatch.setenv("PKG_CONFIG_PATH", "")
    assert _lib.library_candidates() == ["libraft.so.0"]
    monkeypatch.setenv("PATH", str(tmp_path))  # no pkg-config program at all
    assert _lib.library_candidates() == ["libraft.so.0"]


def test_nothing_found_says_what_was_tried_and_what_to_do():
    craft = "/usr/lib/x86_64-linux-gnu/libraft.so.2"
    missing = "/nonexistent/libraft.so.0"
    with pytest.raises(_lib.LibraryNotFound) as caught:
        _lib._load([missing, craft])
    message = str(caught.value)
    assert missing in message and craft + ": not libraft-rs" in message
    assert "RAFT_LIBRARY" in message and "pkg-config" in message and "make install" in message


def test_readme_example_runs():
    readme = open(os.path.join(ROOT, "README.md")).read()
    block = readme.split("<!-- python-example -->", 1)[1]
    code = re.search(r"```python\n(.*?)```", block, re.S).group(1)
    env = dict(os.environ)
    if not os.environ.get("RAFT_TEST_INSTALLED"):
        env["PYTHONPATH"] = os.path.join(ROOT, "python")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("committed b'set x = 1' at index 3")


def public_callables():
    """(name, function) of every public function of the package and every public method or
    property of its public classes (``__init__`` included, for its parameters)."""
    for name in raft.__all__:
        obj = getattr(raft, name)
        if inspect.isfunction(obj):
            yield name, obj
        elif inspect.isclass(obj) and obj.__module__.startswith("raft."):
            for member, value in vars(obj).items():
                function = value.fget if isinstance(value, property) else value
                if inspect.isfunction(function) and (member == "__init__" or not member.startswith("_")):
                    yield f"{name}.{member}", function


def test_public_api_has_docstrings_and_type_hints():
    gaps = []
    for name in raft.__all__:
        obj = getattr(raft, name)
        if inspect.isclass(obj) and obj.__module__.startswith("raft.") and not obj.__doc__:
            gaps.append(f"{name}: no docstring")
    for name, function in public_callables():
        signature = inspect.signature(function)
        if not name.endswith("__init__"):
            if not function.__doc__:
                gaps.append(f"{name}: no docstring")
            if signature.return_annotation is inspect.Signature.empty:
                gaps.append(f"{name}: no return type")
        for parameter in signature.parameters.values():
            if parameter.name not in ("self", "cls") and parameter.annotation is inspect.Parameter.empty:
                gaps.append(f"{name}({parameter.name}): no type")
    assert gaps == []
