"""The `videozoo` command: zoo table, flops, errors as one line."""

import json
import re
import subprocess
import sys
from pathlib import Path

from videozoo.cli import main
from videozoo.models import list_models
from videozoo.models.cards import format_table, zoo_rows

ROOT = Path(__file__).resolve().parents[1]


def test_models_table_lists_every_model(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in list_models():
        assert re.search(rf"^{name}\s", out, re.M), name
    assert re.search(r"^r3d_18\s+33\.37\s+40\.70\s+16×112×112\s+R\(2\+1\)D", out, re.M)


def test_models_json(capsys):
    assert main(["models", "--family", "residual", "--json"]) == 0
    cards = json.loads(capsys.readouterr().out)
    assert {c["name"] for c in cards} == set(list_models("residual"))
    assert all(c["sources"]["gmacs"] for c in cards)


def test_flops(capsys):
    assert main(["flops", "r3d_18", "--clip", "8,112,112", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["params"] == 33_371_472
    assert abs(result["gmacs"] - 20.35) < 0.01
    assert main(["flops", "r2plus1d_18", "--set", "mid_channels=per_block", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["params"] == 31_505_325


def test_errors_are_one_line(capsys):
    assert main(["flops", "r2plus1d18"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "did you mean r2plus1d_18" in err
    assert main(["flops", "r3d_18", "--set", "bn_eps"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_console_script_runs():
    out = subprocess.run([sys.executable, "-m", "videozoo.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("videozoo ")


def test_readme_zoo_table_is_generated_from_the_registry():
    readme = (ROOT / "README.md").read_text()
    table = format_table(zoo_rows(), markdown=True)
    assert table in readme, "README's zoo table is stale: run `make zoo-table`"
