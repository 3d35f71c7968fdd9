"""Replay the Dockerfile's steps without a Docker engine, and check the image they would make.

There is no Docker daemon on the development machine (``docker`` is only the client), so the image
cannot be built here. This reads the Dockerfile and replays its instructions on the host, each stage in
a directory of its own that stands for the image's root (absolute paths of the image are moved under
it): ``WORKDIR``, ``ENV``, ``COPY`` (from the build context, or ``--from=`` an earlier stage) and
``RUN`` (with ``/bin/sh -c``, as Docker runs it). Then, in the final stage's tree:

- the entrypoint's ``chatbench --help`` and a short ``chatbench run`` of a shipped scenario against the
  embedded mock work, as the image's user (65534) when this runs as root, writing in its ``WORKDIR``;
- pip, setuptools and wheel are gone from the venv, and the tree holds nothing of the build stage but
  what the final stage copied (no source tree);
- pip built no wheel but chatbench's own (every dependency came as a wheel: no compiler is needed).

What it cannot check: the base image itself (``python:3.11-slim``; a system ``python3.11`` of the host
stands for it, ``--python``), the ``EXPOSE``/``USER``/``ENTRYPOINT`` metadata beyond what is read
here, and a platform other than this one. The venv is made at its image path under the stage's
directory, and the final stage copies it to another directory: its scripts' ``#!`` lines then point
at the build stage's tree, so the entrypoint is run as ``python bin/chatbench``.

    .venv/bin/python scripts/replay_dockerfile.py            # a few minutes: pip installs every dependency
    .venv/bin/python scripts/replay_dockerfile.py --keep /tmp/image
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_SYSTEM = {"bin", "dev", "etc", "lib", "proc", "sbin", "sys", "tmp", "usr", "var"}


@dataclass
class Stage:
    name: str
    base: str
    root: Path
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    user: str = "root"
    entrypoint: list[str] = field(default_factory=list)
    log: str = ""


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile: comments dropped, ``\\`` continuations joined."""
    joined = re.sub(
        r"\\\n", " ", "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    )
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


class Replay:
    def __init__(self, dockerfile: Path, work: Path, python: Path) -> None:
        self.dockerfile = dockerfile
        self.work = work
        self.bin = work / "base-bin"  # the base image's `python`, first on every stage's PATH
        self.bin.mkdir(parents=True)
        (self.bin / "python").symlink_to(python)
        self.stages: list[Stage] = []
        self.image_dirs = self._image_dirs(dockerfile.read_text())

    @staticmethod
    def _image_dirs(text: str) -> set[str]:
        """Top directories of the image's own paths (``/opt``, ``/src``...): those are moved under a stage."""
        tops = {m.group(1) for m in re.finditer(r"(?<![\w.:$-])/([A-Za-z][\w.-]*)", text)}
        return tops - _SYSTEM

    def _inside(self, stage: Stage, text: str) -> str:
        """``text`` with the image's absolute paths moved under the stage's directory."""
        pattern = r"(?<![\w.:$/-])/(" + "|".join(map(re.escape, sorted(self.image_dirs))) + r")(?=/|\b)"
        return re.sub(pattern, lambda m: f"{stage.root}/{m.group(1)}", text)

    def _path(self, stage: Stage, path: str) -> Path:
        full = path if path.startswith("/") else f"{stage.workdir.rstrip('/')}/{path}"
        return stage.root / full.lstrip("/")

    def run(self) -> Stage:
        for word, rest in instructions(self.dockerfile.read_text()):
            getattr(self, f"do_{word.lower()}")(self.stages[-1] if self.stages else None, rest)
        return self.stages[-1]

    def do_from(self, _: Stage | None, rest: str) -> None:
        parts = rest.split()
        name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else f"stage{len(self.stages)}"
        root = self.work / name
        root.mkdir(parents=True)
        self.stages.append(Stage(name, parts[0], root, env={"PATH": f"{self.bin}:{os.environ['PATH']}"}))

    def do_env(self, stage: Stage, rest: str) -> None:
        for item in shlex.split(rest):
            key, _, value = item.partition("=")
            stage.env[key] = self._inside(stage, value).replace("$PATH", stage.env["PATH"])

    def do_workdir(self, stage: Stage, rest: str) -> None:
        stage.workdir = rest
        self._path(stage, rest).mkdir(parents=True, exist_ok=True)

    def do_copy(self, stage: Stage, rest: str) -> None:
        args = shlex.split(rest)
        source_root = ROOT
        if args[0].startswith("--from="):
            source_root = next(s.root for s in self.stages if s.name == args[0].split("=", 1)[1])
            args = args[1:]
        *sources, dest = args
        for source in sources:
            src = source_root / source.lstrip("/")
            target = self._path(stage, dest)
            if dest.endswith("/") or len(sources) > 1:
                target = target / src.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, target, symlinks=True, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))  # fmt: skip
            else:
                shutil.copy2(src, target)

    def do_run(self, stage: Stage, rest: str) -> None:
        command = self._inside(stage, rest)
        print(f"RUN {command}", flush=True)
        done = subprocess.run(
            ["/bin/sh", "-c", command], cwd=self._path(stage, stage.workdir),
            env={**os.environ, **stage.env}, capture_output=True, text=True,
        )  # fmt: skip
        stage.log += done.stdout + done.stderr
        if done.returncode:
            sys.exit(f"RUN failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")

    def do_user(self, stage: Stage, rest: str) -> None:
        stage.user = rest

    def do_entrypoint(self, stage: Stage, rest: str) -> None:
        stage.entrypoint = list(eval(rest, {"__builtins__": {}}))  # a JSON list of strings

    def do_expose(self, stage: Stage, rest: str) -> None:
        pass  # metadata: not checked here

    do_cmd = do_expose


def check(replay: Replay, final: Stage) -> list[str]:
    """What is wrong with the final stage's tree (empty: nothing found)."""
    problems = []
    venv = next(
        p.parent.parent
        for p in final.root.glob("**/bin/python")
        if (p.parent.parent / "pyvenv.cfg").is_file()
    )
    python = venv / "bin" / "python"
    build = replay.stages[0]
    built = re.findall(r"Building wheel for (\S+)", build.log)
    if set(built) - {"chatbench"}:
        problems.append(f"pip built wheels from source (a compiler would be needed): {sorted(built)}")
    for tool in ("pip", "setuptools", "wheel"):
        if subprocess.run([python, "-c", f"import {tool}"], capture_output=True).returncode == 0:
            problems.append(f"{tool} is still in the image's venv")
    tops = sorted(p.name for p in final.root.iterdir() if p != replay.bin)
    copied = {
        Path(replay._inside(final, d)).relative_to(final.root).parts[0] for d in ("/opt", "/app", "/work")
    }
    if set(tops) - copied:
        problems.append(f"the final stage holds more than it copied: {tops}")
    entry = [str(python), str(venv / "bin" / final.entrypoint[0]), *final.entrypoint[1:]]
    user = final.user.split(":")
    drop = None
    if os.geteuid() == 0 and user[0] != "root":
        uid, gid = int(user[0]), int(user[-1])

        def drop() -> None:
            os.setgid(gid)
            os.setuid(uid)

        for p in final.root.parents:  # the image's user must reach its tree
            if p == Path("/"):
                break
            os.chmod(p, os.stat(p).st_mode | 0o005)
    workdir = replay._path(final, final.workdir)
    env = {**os.environ, **final.env, "HOME": str(workdir), "MPLCONFIGDIR": str(workdir / ".mpl")}
    env.pop("PYTHONPATH", None)
    helped = subprocess.run([*entry, "--help"], capture_output=True, text=True, env=env, preexec_fn=drop)
    if helped.returncode or "run" not in helped.stdout:
        problems.append(f"chatbench --help failed: {helped.stderr[-500:]}")
    scenario = replay._inside(final, "/app/scenarios/quickstart.yaml")
    ran = subprocess.run(
        [*entry, "run", scenario, "--duration", "3", "--results-dir", str(workdir / "results")],
        capture_output=True, text=True, env=env, cwd=workdir, preexec_fn=drop, timeout=180,
    )  # fmt: skip
    reports = list((workdir / "results").glob("*/report.html"))
    if ran.returncode not in (0, 1) or not reports:  # 1: an SLO verdict, not a failure of the image
        problems.append(f"chatbench run failed ({ran.returncode}): {ran.stderr[-1500:]}")
    else:
        print(f"chatbench run as user {final.user}: exit {ran.returncode}, {reports[0]}")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", type=Path, default=ROOT / "Dockerfile")
    parser.add_argument("--keep", type=Path, help="replay in this (new) directory and keep it")
    parser.add_argument(
        "--python",
        type=Path,
        default=Path(shutil.which("python3.11", path="/usr/local/bin:/usr/bin") or sys.executable),
        help="the base image's python (default: a system python3.11 the image's user can run)",
    )
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="chatbench-image-"))
    try:
        replay = Replay(args.dockerfile, work, args.python)
        final = replay.run()
        for stage in replay.stages:
            print(f"stage {stage.name} (FROM {stage.base}; its python stood in for by {args.python})")
        problems = check(replay, final)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("the image's steps replay cleanly" if not problems else f"{len(problems)} problem(s)")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
