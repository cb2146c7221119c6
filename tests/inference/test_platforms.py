"""Where LiteRT has no wheel: tflite-runtime is used if it loads, and otherwise the models say so clearly."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path

import pytest
from ai_edge_litert.interpreter import Interpreter as LiteRT

from agent.inference import runtime
from tests.conftest import REPO


def _fake_tflite_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    """LiteRT not importable (as without a wheel) and tflite-runtime's API served by LiteRT's interpreter."""
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    package = types.ModuleType("tflite_runtime")
    module = types.ModuleType("tflite_runtime.interpreter")
    module.Interpreter = LiteRT  # type: ignore[attr-defined] # the same TFLite interpreter API
    monkeypatch.setitem(sys.modules, "tflite_runtime", package)
    monkeypatch.setitem(sys.modules, "tflite_runtime.interpreter", module)


def test_tflite_runtime_is_used_where_litert_does_not_import(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tflite_runtime(monkeypatch)
    monkeypatch.setattr(runtime.np, "__version__", "1.26.4")
    assert runtime._find_runtime() == (LiteRT, "tflite-runtime", "")


def test_tflite_runtime_is_not_used_with_numpy_2(monkeypatch: pytest.MonkeyPatch) -> None:
    # Its last release imports under NumPy 2, then fails inside Interpreter() with a SystemError.
    _fake_tflite_runtime(monkeypatch)
    monkeypatch.setattr(runtime.np, "__version__", "2.4.6")
    interpreter, name, problem = runtime._find_runtime()
    assert (interpreter, name) == (None, "none")
    error = runtime.unavailable("x86_64", 64, problem)
    assert "tflite-runtime is built for NumPy 1.x but NumPy 2.4.6 is installed" in str(error)
    assert "pip install 'numpy<2'" in (error.hint or "")
    assert "hearth-agent[litert]" in (error.hint or "")


def test_a_tflite_runtime_built_for_numpy_1_is_named_as_the_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    package = types.ModuleType("tflite_runtime")
    package.__path__ = []
    monkeypatch.setitem(sys.modules, "tflite_runtime", package)
    monkeypatch.delitem(sys.modules, "tflite_runtime.interpreter", raising=False)

    def failing_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "tflite_runtime.interpreter":
            raise ImportError("numpy.core.multiarray failed to import")
        return real_import(name, *args, **kwargs)

    real_import = __import__
    monkeypatch.setattr("builtins.__import__", failing_import)
    interpreter, name, problem = runtime._find_runtime()
    assert (interpreter, name) == (None, "none")
    error = runtime.unavailable("armv7l", 32, problem)
    assert "unavailable on this platform (32-bit Python on armv7l)" in str(error)
    assert "numpy.core.multiarray" in str(error)
    assert "NumPy 1.x" in (error.hint or "")


@pytest.mark.parametrize(
    ("machine", "bits", "says"),
    [
        ("x86_64", 64, "no model runtime is installed"),
        ("aarch64", 64, "no model runtime is installed"),
        # 32-bit Raspberry Pi OS on a Pi 4/5's 64-bit kernel: the kernel says aarch64, Python is 32-bit.
        ("aarch64", 32, "unavailable on this platform (32-bit Python on aarch64)"),
        ("armv7l", 32, "unavailable on this platform (32-bit Python on armv7l)"),
        ("armv6l", 32, "unavailable on this platform (32-bit Python on armv6l)"),
    ],
)
def test_the_message_names_the_platform(machine: str, bits: int, says: str) -> None:
    error = runtime.unavailable(machine, bits)
    assert says in str(error)
    if bits == 64:
        assert "hearth-agent[litert]" in (error.hint or "")


# A host where neither runtime imports, as on 32-bit Raspberry Pi OS without tflite-runtime.
WITHOUT_RUNTIME = (
    "import sys; sys.modules['ai_edge_litert'] = None; sys.modules['tflite_runtime'] = None; "
    "from agent.cli import main; sys.argv[0] = 'hearth'; main()"
)


def _hearth_without_runtime(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_RUNTIME, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=90,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_the_demo_runs_without_its_models_where_no_runtime_loads() -> None:
    result = _hearth_without_runtime("demo", "--duration", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "running without the on-device models: no model runtime is installed" in result.stderr
    assert "readings stayed in the home" in result.stdout
    assert "Traceback" not in result.stderr


def test_config_check_says_models_are_unavailable_and_the_rest_checks(tmp_path: Path) -> None:
    config = tmp_path / "hub.toml"
    config.write_text(
        f'[hub]\nid = "pi"\ndata_dir = "{tmp_path / "data"}"\n'
        '[[sources]]\nkind = "simulated"\nname = "plug"\nfile = "builtin:kettle_plug.csv"\n'
    )
    models = config.read_text() + (
        '[[models]]\nname = "appliance"\nmodel = "builtin:appliance"\ninputs = { power = "plug.power" }\n'
    )
    with_models = tmp_path / "models.toml"
    with_models.write_text(models)

    def check(path: Path) -> subprocess.CompletedProcess[str]:
        return _hearth_without_runtime("config", "check", str(path))

    plain = check(config)
    assert plain.returncode == 0, plain.stderr
    result = check(with_models)
    assert result.returncode == 2
    assert "models" in result.stderr
    assert "no model runtime is installed" in result.stderr  # this host is 64-bit
    assert "hearth-agent[litert]" in result.stderr
    assert "Traceback" not in result.stderr
