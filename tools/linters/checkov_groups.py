"""Checkov's Kubernetes checks run on each group of objects on its own, printed as JSON: run by the interpreter of
Checkov's own virtualenv (tools/charts/checkov.py), so it imports nothing of this project.

    <checkov venv>/bin/python tools/linters/checkov_groups.py ROOT    # ROOT/<group>/*.yaml

Its graph checks (CKV2_K8S_*) relate objects (a pod and the NetworkPolicy that selects it, a binding and its role),
so one run over every group would let an object of one group satisfy a check for another's. The command line takes
two seconds to start, which per group would take minutes; here Checkov is imported once and its Kubernetes runner
is run per group, each report as the command line's `-o json` writes it (Report.get_dict).
"""

import json
import sys
from pathlib import Path

from checkov.kubernetes.runner import Runner
from checkov.runner_filter import RunnerFilter
from checkov.version import version


def main(root: Path) -> dict:
    groups = {}
    for group in sorted(p for p in root.iterdir() if p.is_dir()):
        report = Runner().run(root_folder=str(group), runner_filter=RunnerFilter(framework=["kubernetes"], download_external_modules=False))
        results = report.get_dict(is_quiet=False)["results"]
        groups[group.name] = {key: [[r["check_id"], r["resource"]] for r in results[key]] for key in ("passed_checks", "failed_checks")}
    return {"checkov_version": version, "groups": groups}


if __name__ == "__main__":
    json.dump(main(Path(sys.argv[1])), sys.stdout)
