"""Every command documents itself: ``--help`` works, shows an example that parses, and the
README mentions the command (as sqlite-utils checks its own CLI)."""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from forecast.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(main.commands)


def examples(command: click.Command) -> list[list[str]]:
    """The command lines of the help's Example(s) paragraph, continuation lines joined."""
    text = command.help or ""
    _, found, rest = text.partition("Example")
    assert found, "no Example(s) paragraph"
    lines, joined = [], ""
    for line in rest.splitlines()[1:]:
        line = line.strip()
        if not line and not joined:
            break
        joined += " " + line.removesuffix("\\")
        if not line.endswith("\\"):
            lines.append(shlex.split(joined))
            joined = ""
    return lines


def test_the_commands_are_the_documented_seven():
    assert COMMANDS == ["brief", "convert", "history", "query", "replay", "score", "site",
                        "update", "validate"]


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_help_with_an_example(name):
    result = CliRunner().invoke(main, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Usage: ") and f" {name} " in result.output.splitlines()[0]
    assert "Example" in result.output
    found = examples(main.commands[name])
    assert found and any(line[1] == name for line in found)
    for line in found:  # each example parses: real options, right number of arguments
        assert line[0] == "forecast", line
        command = main.commands[line[1]]
        with command.make_context(line[1], line[2:], resilient_parsing=False) as ctx:
            assert ctx.params
        for word in line[2:]:  # the files it names are in the repository
            if word.startswith(("models/", "data/")):
                assert (ROOT / word).is_file(), word


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_is_in_the_readme(name):
    assert f"forecast {name} " in README
    assert f"\nforecast {name} " in README, "a line of the README's command list starts with it"


def test_an_example_that_does_not_parse_is_caught():
    @click.command()
    @click.option("--ledger")
    def demo(ledger: str) -> None:
        """Demo.

        \b
        Example:
          forecast demo --ledgr data/x.csv
        """

    main.add_command(demo)
    try:
        line = examples(demo)[0]
        with pytest.raises(click.NoSuchOption):
            demo.make_context("demo", line[2:])
    finally:
        main.commands.pop("demo")
