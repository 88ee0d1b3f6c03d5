"""Run a GitHub Actions workflow's jobs on this machine, the way the hosted runners would, for the tests.

Only what `.github/workflows/images.yaml` uses is understood, and anything else is refused, which keeps the
workflow honest: ``run`` steps (nox sessions, and installing nox), ``${{ matrix.* }}``, ``${{ vars.* }}`` and
``${{ secrets.* }}`` in run lines and env, step and job outputs through ``$GITHUB_OUTPUT``, and these actions:
checkout (a git clone), setup-python (this interpreter), cache (a restore of the shared Go cache), login (checked,
then nothing: the test registry is open) and upload-artifact (its paths must match files).
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
NOX_INSTALL = re.compile(r"^python -m pip install nox==[0-9.]+$")
NOX_COMMAND = re.compile(r"^nox -s (\S+)(?: -- (.*))?$")


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def run_lines(workflow: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every (job, run line) of the workflow, unexpanded."""
    return [(job, step["run"].strip()) for job, spec in workflow["jobs"].items() for step in spec["steps"]
            if "run" in step]  # fmt: skip


@dataclass
class Runner:
    """What a job needs from the machine: the checkout to clone, nox, the shared Go cache, the variables."""

    origin: Path  # the repository the checkout step clones
    nox: Path
    tool_env: Path  # the shared .nox/_acnbuild every checkout links to (nox's bootstrap reuses it)
    go_cache: Path  # the restored actions/cache: ACNBUILD_CACHE's toolchains and go-build
    variables: dict[str, str]  # ${{ vars.* }}
    extra_env: dict[str, str] = field(default_factory=dict)  # what the hosted runner has that this machine lacks
    logs: list[str] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds), to see where time goes

    def evaluate(self, text: str, matrix: Mapping[str, str], outputs: Mapping[str, Mapping[str, str]]) -> str:
        def value(match: re.Match[str]) -> str:
            scope, _, name = match.group(1).partition(".")
            if scope == "matrix":
                return str(matrix[name])
            if scope == "vars":
                return self.variables.get(name, "")
            if scope == "secrets":
                return ""
            if scope == "steps":
                step, _, output = name.partition(".outputs.")
                return outputs[step][output]
            raise AssertionError(f"expression not understood by the simulation: {match.group(0)}")

        return EXPRESSION.sub(value, text)

    def run_job(self, workflow: Mapping[str, Any], job: str, workdir: Path, matrix: Mapping[str, str] | None = None
                ) -> dict[str, str]:  # fmt: skip
        """Run one job (one matrix cell) in ``workdir`` as on a fresh runner (its own checkout, HOME, caches and
        image store); return its outputs."""
        spec = workflow["jobs"][job]
        matrix = matrix or {}
        home = workdir / "home"
        checkout = workdir / "checkout"
        home.mkdir(parents=True)
        storage_conf = workdir / "storage.conf"  # buildah/podman: an empty store of its own, like a fresh runner
        storage_conf.write_text(
            f'[storage]\ndriver = "vfs"\ngraphroot = "{workdir / "containers"}"\nrunroot = "{workdir / "run"}"\n'
        )
        step_outputs: dict[str, dict[str, str]] = {}
        base_env = {k: self.evaluate(str(v), matrix, {}) for k, v in {**workflow.get("env", {}),
                                                                     **spec.get("env", {})}.items()}  # fmt: skip
        for index, step in enumerate(spec["steps"]):
            uses = step.get("uses", "")
            if uses.startswith("actions/checkout@"):
                assert step.get("with", {}).get("fetch-depth") == 0, "versions need the tags: fetch-depth: 0"
                subprocess.run(["git", "clone", "-q", str(self.origin), str(checkout)], check=True)
                (checkout / ".nox").mkdir()
                (checkout / ".nox" / "_acnbuild").symlink_to(self.tool_env)
            elif uses.startswith("actions/setup-python@"):
                continue
            elif uses.startswith(("actions/cache@", "actions/cache/restore@")):
                assert step["with"]["path"] == "~/.cache/acnbuild"
                assert "hashFiles('requirements/go-toolchain.txt')" in step["with"]["key"]
                cache = home / ".cache" / "acnbuild"
                cache.mkdir(parents=True)
                for part in ("toolchains", "go-build"):
                    (cache / part).symlink_to(self.go_cache / part)
            elif uses.startswith("docker/login-action@"):
                login = step["with"]
                assert login["registry"] == "${{ vars.IMAGE_REGISTRY }}"
                assert login["username"].startswith("${{ secrets.") and login["password"].startswith("${{ secrets.")
            elif uses.startswith("actions/upload-artifact@"):
                patterns = step["with"]["path"].split()
                found = [p for pattern in patterns for p in glob.glob(pattern, root_dir=checkout, recursive=True)]
                assert found or step["with"].get("if-no-files-found") != "error", f"no files for {patterns}"
            elif "run" in step:
                line = self.evaluate(step["run"].strip(), matrix, step_outputs)
                if NOX_INSTALL.match(line):
                    continue  # nox is installed here already
                assert NOX_COMMAND.match(line), f"a run step that is not a nox session: {line}"
                output_file = workdir / f"step-{index}.output"
                output_file.touch()
                env = {
                    **os.environ,
                    **base_env,
                    **{k: self.evaluate(str(v), matrix, step_outputs) for k, v in step.get("env", {}).items()},
                    **self.extra_env,
                    "HOME": str(home),
                    "CONTAINERS_STORAGE_CONF": str(storage_conf),
                    "GITHUB_OUTPUT": str(output_file),
                    "PATH": f"{self.nox.parent}{os.pathsep}{os.environ['PATH']}",
                }
                for name in ("ACNBUILD_CACHE", "XDG_CACHE_HOME", "VIRTUAL_ENV"):
                    env.pop(name, None)  # ~/.cache/acnbuild, as on a hosted runner
                started = time.monotonic()
                result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", line], cwd=checkout, env=env,
                                        capture_output=True, text=True, check=False)  # fmt: skip
                self.timings.append((line, time.monotonic() - started))
                self.logs.append(f"$ {line}\n{result.stdout}{result.stderr}")
                assert result.returncode == 0, f"{job} {dict(matrix)}: `{line}` failed:\n{result.stderr[-4000:]}"
                if "id" in step:
                    lines = output_file.read_text().splitlines()
                    step_outputs[step["id"]] = dict(line.split("=", 1) for line in lines if "=" in line)
            else:
                raise AssertionError(f"a step the simulation does not know: {step}")
        return {k: self.evaluate(str(v), matrix, step_outputs) for k, v in spec.get("outputs", {}).items()}
