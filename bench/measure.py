"""Running a benchmark step in a child process and reading its time and peak RSS."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.generate import ROOT

PYTHON = sys.executable


@dataclass
class Measured:
    name: str
    seconds: float  # wall time of the step (the child's own timer when it has one)
    peak_rss_mib: float
    output: str = ""
    cells_written: int | None = None


def isolated(name: str, args: list[str], *, cwd: Path = ROOT) -> Measured:
    """Run a step under a fresh parent, so RUSAGE_CHILDREN is that step's alone."""
    program = (
        "import json,resource,subprocess,sys,time;"
        "t=time.perf_counter();"
        "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "s=time.perf_counter()-t;"
        "r=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024;"
        "print(json.dumps({'rc':p.returncode,'out':p.stdout,'err':p.stderr,"
        "'wall':s,'rss':r}))"
    )
    wrapper = ["-c", program, PYTHON, *args]
    completed = subprocess.run([PYTHON, *wrapper], cwd=cwd, capture_output=True,
                               text=True, check=True)
    report = json.loads(completed.stdout)
    if report["rc"] not in (0, 1):
        raise RuntimeError(f"{name} failed with exit code {report['rc']}:\n"
                           f"{report['err'][-3000:]}")
    measured = Measured(name, report["wall"], report["rss"],
                        report["out"] + report["err"])
    lines = report["out"].strip().splitlines()
    if lines and lines[-1].startswith("{"):
        measured.seconds = json.loads(lines[-1])["seconds"]
    match = re.search(r"(\d+) cells written", report["out"])
    if match:
        measured.cells_written = int(match.group(1))
    return measured


def make_project(files_folder: Path, project: Path) -> Path:
    """Build a project folder: shipped rules and templates, fresh copies of the files."""
    if project.exists():
        shutil.rmtree(project)
    project.mkdir(parents=True)
    shutil.copytree(ROOT / "rules", project / "rules")
    shutil.copytree(ROOT / "templates", project / "templates")
    (project / "workbooks").mkdir()
    for name in ("orders.xlsx", "payments.xlsx", "customers.xlsx"):
        shutil.copy2(files_folder / name, project / "workbooks" / name)
    return project


def add_salespeople(project: Path, codes: list[str], customers: int) -> None:
    """List the generated salespeople and size their limit to their book.

    The shipped default salesperson limit (1,500) suits about ten demo customers;
    finance would raise it for a salesperson with hundreds, so it scales here.
    """
    credit = project / "rules" / "credit.yaml"
    text = credit.read_text(encoding="utf-8")
    limit = max(1500, 150 * customers // len(codes))
    credit.write_text(text.replace("  default: 1500", f"  default: {limit}", 1),
                      encoding="utf-8")
    path = project / "rules" / "dunning.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("DLU:"))
    extra = [f"    {code}: {code.lower()}@agency.test\n" for code in codes]
    path.write_text("".join(lines[: at + 1] + extra + lines[at + 1 :]), encoding="utf-8")


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_ino) for p in folder.glob("*.xlsx")}

