"""No alarming lines at start-up: faiss's loader reports the CPU builds it tried at INFO."""

import logging
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _stderr(*args: str) -> str:
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr


def test_importing_the_filter_with_info_logging_prints_no_loader_noise():
    code = (
        "import logging; logging.basicConfig(level=logging.INFO);"
        "import cara.aifilter.hashindex, cara.aifilter.features"
    )
    stderr = _stderr(sys.executable, "-c", code)
    assert "ModuleNotFoundError" not in stderr and "faiss.loader" not in stderr, stderr


def test_flask_help_prints_no_module_not_found():
    stderr = _stderr(str(Path(sys.executable).with_name("flask")), "--app", "app", "--help")
    assert "ModuleNotFoundError" not in stderr, stderr


def test_only_the_loader_info_lines_are_silenced_not_its_errors(caplog):
    import cara.aifilter  # noqa: F401

    caplog.set_level(logging.INFO)  # the root logger, as create_app configures it
    loader = logging.getLogger("faiss.loader")
    assert not loader.isEnabledFor(logging.INFO)
    assert loader.isEnabledFor(logging.WARNING) and loader.isEnabledFor(logging.ERROR)
