"""The deployment recipes in deploy/ run as written: the exact command lines, paths swapped.

The systemd service and the crontab line are read from the files the README tells users to
install; only the site paths (/srv/forecast, /var/...) and the virtualenv's script are
replaced by this checkout's. HOME points at a folder that does not exist, so the caches must
come from the recipe's own settings, as under ProtectHome= or for a system user.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forecast.ops.store import RunStore
from tests.guards import hang_guard

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
# the console script of this interpreter's environment (a venv's bin/), else PATH's
SCRIPT = (shutil.which("forecast", path=str(Path(sys.executable).parent))
          or shutil.which("forecast") or str(Path(sys.executable).with_name("forecast")))


def _environment(tmp_path: Path) -> dict[str, str]:
    """A scheduler's bare environment: PATH and a HOME that cannot be written."""
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "no-home"), "LANG": "C.UTF-8",
            "MPLBACKEND": "Agg"}


def _modes(runs: Path) -> set[tuple[str, int]]:
    """(kind, permission bits) of everything under a run store."""
    return {("folder" if p.is_dir() else "file", p.stat().st_mode & 0o777)
            for p in runs.rglob("*") if not p.is_symlink()}


def _group_readable(runs: Path) -> None:
    """Under the recipes' umask 027: group may read (and enter), others nothing."""
    modes = _modes(runs)
    assert modes <= {("folder", 0o750), ("file", 0o640)}, modes
    assert ("file", 0o640) in modes and ("folder", 0o750) in modes


def _service(tmp_path: Path) -> tuple[dict[str, str], list[list[str]], str]:
    """ExecStart (then each ExecStartPost, which systemd runs only if it succeeded),
    Environment= and WorkingDirectory= of the unit, with %S/%C made real; UMask= as the
    ``FORECAST_TEST_UMASK`` entry of the environment."""
    text = (DEPLOY / "forecast-update.service").read_text(encoding="utf-8")
    keys: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key, []).append(value)
    state, cache = tmp_path / "state", tmp_path / "cache"
    # what StateDirectory=forecast and CacheDirectory=forecast make systemd create
    (state / keys["StateDirectory"][0]).mkdir(parents=True)
    (cache / keys["CacheDirectory"][0]).mkdir(parents=True)

    def real(value: str) -> str:
        value = value.replace("%S", str(state)).replace("%C", str(cache))
        return value.replace("/srv/forecast/.venv/bin/forecast", SCRIPT)

    env = dict(real(v).split("=", 1) for v in keys["Environment"])
    env["FORECAST_TEST_UMASK"] = keys["UMask"][0]
    workdir = keys["WorkingDirectory"][0].replace("/srv/forecast", str(ROOT))
    commands = [shlex.split(real(v)) for v in keys["ExecStart"] + keys.get("ExecStartPost", [])]
    return env, commands, workdir


def test_service_unit_runs_as_systemd_would(tmp_path):
    env, commands, workdir = _service(tmp_path)
    command, *post = commands
    assert command[0] == SCRIPT and command[1] == "update"
    assert [c[:2] for c in post] == [[SCRIPT, "site"]], "the dashboard after the update"
    umask = int(env.pop("FORECAST_TEST_UMASK"), 8)
    assert umask == 0o027
    environment = {**_environment(tmp_path), **env}

    def start() -> list[subprocess.CompletedProcess]:
        """ExecStart, then each ExecStartPost while every command before it succeeded."""
        done = []
        for line in commands:
            done.append(subprocess.run(line, cwd=workdir, env=environment, capture_output=True,
                                       text=True, timeout=hang_guard(60),
                                       preexec_fn=lambda: os.umask(umask)))
            if done[-1].returncode != 0:
                break
        return done

    first = start()
    assert [d.returncode for d in first] == [0, 0], first[-1].stderr
    assert first[0].stdout.startswith("published run"), first[0].stdout
    assert first[1].stdout.startswith("wrote ") and "1 written" in first[1].stdout
    second = start()
    assert [d.returncode for d in second] == [0, 0], second[-1].stderr
    assert second[0].stdout.startswith("unchanged:"), second[0].stdout
    assert "0 written, 1 reused" in second[1].stdout, second[1].stdout
    runs = command[command.index("--runs") + 1]
    store = RunStore(runs, "isis_pakistan_2015")
    assert len(store.runs()) == 1 and store.latest() is not None
    _group_readable(Path(runs))
    site = Path(post[0][post[0].index("--out") + 1])
    model = site / "isis_pakistan_2015"
    assert (site / "index.html").is_file() and (model / "index.html").is_file()
    assert (model / store.latest().run_id / "brief.html").is_file()
    _group_readable(site)
    # the caches went where the unit says, and nothing tried the missing HOME
    assert (tmp_path / "cache" / "forecast").iterdir()
    assert not (tmp_path / "no-home").exists()


def test_crontab_line_runs_as_cron_would(tmp_path):
    lines = [line for line in (DEPLOY / "crontab.example").read_text(encoding="utf-8")
             .splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(maxsplit=5)
    assert len(fields) == 6 and re.fullmatch(r"\d+", fields[0]), "five time fields, a command"
    command = fields[5]
    for site, here in {"/srv/forecast": ROOT, "/var/cache/forecast": tmp_path / "cache",
                       "/var/lib/forecast": tmp_path / "lib",
                       "/var/log/forecast": tmp_path / "log"}.items():
        command = command.replace(site, str(here))
    command = command.replace(".venv/bin/forecast", SCRIPT)
    for folder in ("cache", "lib", "log"):  # what the README says to create first
        (tmp_path / folder).mkdir()
    for _ in range(2):
        done = subprocess.run(["/bin/sh", "-c", command], env=_environment(tmp_path),
                              capture_output=True, text=True, timeout=hang_guard(60))
        assert done.returncode == 0, done.stderr
    log = (tmp_path / "log" / "update.log").read_text(encoding="utf-8")
    assert "published run" in log and "unchanged:" in log
    assert log.count("forecast update exited 0") == 2, log
    assert len(RunStore(tmp_path / "lib" / "runs", "isis_pakistan_2015").runs()) == 1
    _group_readable(tmp_path / "lib" / "runs")
    assert log.count(" model page; briefs: ") == 2, "the site after each successful update"
    assert (tmp_path / "lib" / "site" / "index.html").is_file()
    _group_readable(tmp_path / "lib" / "site")


@pytest.mark.parametrize("name", ["forecast-update.service", "forecast-update.timer"])
def test_units_parse_with_systemd_analyze_when_available(name, tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (the unit's commands are run above)")
    unit = tmp_path / name
    text = (DEPLOY / name).read_text(encoding="utf-8")
    unit.write_text(text.replace("/srv/forecast/.venv/bin/forecast", SCRIPT), encoding="utf-8")
    if name.endswith(".timer"):
        (tmp_path / "forecast-update.service").write_text(
            (DEPLOY / "forecast-update.service").read_text(encoding="utf-8")
            .replace("/srv/forecast/.venv/bin/forecast", SCRIPT), encoding="utf-8")
    done = subprocess.run([analyze, "verify", "--man=no", str(unit)], capture_output=True,
                          text=True, timeout=hang_guard(5))
    problems = [line for line in done.stderr.splitlines()
                if "Unknown" in line or "Failed to parse" in line]
    assert not problems, done.stderr
