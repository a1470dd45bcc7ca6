"""Commands that need little load little: ``--help`` and ``validate nir`` import none of the heavy libraries."""

import json
import subprocess
import sys

import pytest

HEAVY = ("fastapi", "uvicorn", "httpx", "fhir.resources", "fhirpathpy", "saxonche", "hypothesis", "jsonschema",
         "lxml", "openpyxl", "jinja2", "aiosmtpd", "cryptography", "conformance.engine.runner")

PROBE = """
import json, sys
from click.testing import CliRunner
from conformance.cli import main
result = CliRunner().invoke(main, sys.argv[1:])
assert result.exit_code == 0, result.output
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {h.split(".")[0] for h in HEAVY}
                        and any(m == h or m.startswith(h + ".") for h in HEAVY))))
"""


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["validate", "nir", "279035121518989"]],
                         ids=["aide", "aide de run", "validate nir"])
def test_command_loads_no_heavy_library(args):
    # A fresh interpreter: the test process has imported everything already.
    code = f"HEAVY = {HEAVY!r}\n{PROBE}"
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
