"""`check --rules` and `preview --rules` with a draft folder's own workbook map."""

from __future__ import annotations

import json
import shutil

from click.testing import CliRunner

from engine.cli import cli
from engine.preview import DraftProject, with_draft_map
from engine.project import Project


def make_draft(project_root, date_order: str = "MDY"):
    draft = project_root / "rules-draft"
    shutil.copytree(project_root / "rules", draft)
    path = draft / "workbooks.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("date_order: MDY", f"date_order: {date_order}", 1),
                    encoding="utf-8")
    return draft


def run(project_root, *args):
    return CliRunner().invoke(cli, ["--project", str(project_root), *args])


def test_check_reads_draft_map(demo_project):
    draft = make_draft(demo_project, "XYZ")

    result = run(demo_project, "check", "--rules", str(draft))

    assert result.exit_code == 1
    assert "Workbook map: rules-draft/workbooks.yaml" in result.output
    assert ("rules-draft/workbooks.yaml:14:13: 'date_order' is 'XYZ'; expected one of "
            "DMY, MDY, YMD.") in result.output


def test_check_names_live_map(demo_project):
    result = run(demo_project, "check")

    assert result.exit_code == 0
    assert "Workbook map: rules/workbooks.yaml" in result.output


def test_check_draft_map_reads_workbooks(demo_project):
    draft = make_draft(demo_project)
    path = draft / "workbooks.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("credit_limit: Credit Limit", "credit_limit: Limit Typed"),
                    encoding="utf-8")

    result = run(demo_project, "check", "--rules", str(draft))

    assert result.exit_code == 1
    assert "column 'Limit Typed' (credit_limit) not found" in result.output
    assert "rules-draft/workbooks.yaml:" in result.output


def test_preview_uses_draft_map(demo_project):
    draft = make_draft(demo_project, "XYZ")

    result = run(demo_project, "--as-of", "2013-06-03", "preview", "--rules", str(draft))

    assert result.exit_code == 1
    assert "Workbook map: rules-draft/workbooks.yaml" in result.output
    assert "rules-draft/workbooks.yaml:14:13: 'date_order' is 'XYZ'" in result.output


def test_preview_json_with_draft_map(demo_project):
    draft = make_draft(demo_project)
    runner = CliRunner()

    result = runner.invoke(cli, ["--project", str(demo_project), "--as-of", "2013-06-03",
                                 "preview", "--json", "--rules", str(draft)])

    assert result.exit_code == 0
    assert json.loads(result.stdout)["as_of"] == "2013-06-03"
    assert "Workbook map: rules-draft/workbooks.yaml" in result.stderr


def test_draft_without_map_keeps_project(tmp_path):
    project = Project.at(tmp_path)
    (tmp_path / "rules-draft").mkdir()

    assert with_draft_map(project, tmp_path / "rules-draft") is project
    assert with_draft_map(project, None) is project


def test_draft_project_map_path(tmp_path):
    draft = tmp_path / "rules-draft"
    draft.mkdir()
    (draft / "workbooks.yaml").write_text("version: 1\n", encoding="utf-8")

    project = with_draft_map(Project.at(tmp_path), draft)

    assert isinstance(project, DraftProject)
    assert project.workbook_map_path == draft.resolve() / "workbooks.yaml"
    assert project.root == tmp_path.resolve()
