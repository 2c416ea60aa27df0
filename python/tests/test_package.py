"""The package: its version, how it finds the library, and the README's example."""

import os
import re
import subprocess
import sys

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
