"""The GitHub workflows: actionlint-clean (the pinned actionlint, built from the Go module proxy), and the
policy workflow's offline job brings its reports to reviewers even when the check fails."""

from __future__ import annotations

from pathlib import Path

import yaml

from tools.ci import actionlint

ROOT = Path(__file__).resolve().parent.parent
POLICY = ROOT / ".github" / "workflows" / "policy.yml"


def test_every_workflow_is_actionlint_clean():
    result = actionlint.lint()
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_fails_a_broken_workflow(tmp_path):
    """The lint can fail: an unknown expression context and a job needing a job that does not exist."""
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nothere\n    steps:\n      - run: echo ${{ nosuch.value }}\n")
    result = actionlint.lint(broken)
    assert result.returncode == 1
    assert "nothere" in result.stdout and "nosuch" in result.stdout, result.stdout


def _offline() -> dict:
    return yaml.safe_load(POLICY.read_text())["jobs"]["offline"]


def test_the_offline_job_posts_its_reports_even_when_the_check_fails():
    job = _offline()
    assert job["permissions"] == {"contents": "read", "pull-requests": "write", "security-events": "write"}
    steps = job["steps"]
    check = next(i for i, s in enumerate(steps) if "--policy-pack policies" in str(s.get("run", "")))
    after = steps[check + 1 :]
    assert after and all(str(s.get("if", "")).startswith("always()") for s in after), "a report step would be skipped after a failed check"
    summary = next(s for s in after if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    assert "policy-report.md" in summary["run"]
    sarif = next(s for s in after if str(s.get("uses", "")).startswith("github/codeql-action/upload-sarif@"))
    assert sarif["with"] == {"sarif_file": "build/${{ matrix.stack }}/policy-report.sarif", "category": "policy-${{ matrix.stack }}"}
    comment = next(s for s in after if str(s.get("uses", "")).startswith("actions/github-script@"))
    script = comment["with"]["script"]
    # one comment per stack: found again by its hidden marker and updated, created only when missing
    assert "<!-- gosvc-policy-report:${process.env.STACK} -->" in script
    assert "updateComment" in script and "createComment" in script and "c.body.startsWith(marker)" in script
    assert comment["env"]["STACK"] == "${{ matrix.stack }}"
    kept = next(s for s in after if str(s.get("uses", "")).startswith("actions/upload-artifact@"))
    assert {f"build/${{{{ matrix.stack }}}}/policy-report.{ext}" for ext in ("json", "sarif", "md")} <= set(kept["with"]["path"].splitlines())
    # no Pulumi Cloud: the offline job needs no Pulumi token or action
    assert "PULUMI_ACCESS_TOKEN" not in yaml.safe_dump(job) and not any("pulumi/actions" in str(s.get("uses", "")) for s in steps)
