"""The vendor guide's commands and CI recipes are real: every ``dui-conformance`` line parses with the CLI."""

import re
import shlex
from pathlib import Path

import click
import pytest
import yaml

from conformance.cli import ExitCode, main

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "vendor-guide.md"
TEXT = GUIDE.read_text(encoding="utf-8")
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", TEXT, flags=re.S)


def _command_lines() -> list[str]:
    """Every ``dui-conformance`` command of the guide: shell blocks and the ``run`` lines of the CI recipes."""
    found = []
    for language, body in BLOCKS:
        text = body
        if language == "yaml":
            text = "\n".join(_scripts(yaml.safe_load(body)))
        for part in (part for line in text.splitlines() for part in line.split("&&")):
            at = part.find("dui-conformance ")
            if at >= 0 and "pip install" not in part:
                found.append(part[at:].strip())
    return found


def _scripts(node: object) -> list[str]:
    """The shell lines of a CI file (GitHub ``run:``, GitLab ``script:``), wherever they sit."""
    if isinstance(node, dict):
        lines = [node["run"]] if isinstance(node.get("run"), str) else []
        lines += [line for line in node.get("script", []) if isinstance(line, str)]
        return lines + [line for value in node.values() for line in _scripts(value)]
    if isinstance(node, list):
        return [line for value in node for line in _scripts(value)]
    return []


COMMANDS = _command_lines()


def test_the_guide_has_its_commands_and_both_recipes():
    assert len(COMMANDS) >= 5
    assert sum("--junit-xml reports/junit.xml" in c for c in COMMANDS) == 2  # GitHub Actions and GitLab CI


@pytest.mark.parametrize("line", COMMANDS)
def test_every_command_of_the_guide_parses(line):
    # CI variables are replaced by a plain value: what is checked is the options, not the CI's expansion.
    words = shlex.split(re.sub(r"\$\{\{[^}]*\}\}|\$\w+", "1", line))
    assert words[0] == "dui-conformance"
    command: click.Command = main
    words = words[1:]
    while isinstance(command, click.Group):
        command, words = command.commands[words[0]], words[1:]
    command.make_context(command.name, words)  # raises a usage error for an unknown option or a bad value


def test_recipes_are_valid_yaml_with_always_published_reports():
    recipes = [yaml.safe_load(body) for language, body in BLOCKS if language == "yaml"]
    github, gitlab = recipes
    upload = github["jobs"]["conformite"]["steps"][-1]
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/"
    job = gitlab["conformite-dui"]
    assert job["artifacts"]["when"] == "always" and job["artifacts"]["reports"]["junit"] == "reports/junit.xml"


def test_the_guide_exit_codes_are_the_cli_ones():
    table = dict(re.findall(r"^\| (\d) \| (.+?) \|$", TEXT, flags=re.M))
    assert sorted(int(code) for code in table) == sorted(code.value for code in ExitCode)
