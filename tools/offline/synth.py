"""Offline synth: writes what `pulumi up -s <stack>` would create, with no CLI, cluster or Docker.

    python -m tools.offline.synth --stack dev --out build/dev

Runs `__main__.py` under Pulumi's mock engine with the stack's config, then writes each
Kubernetes object to `k8s/<kind>-<namespace>-<name>.yaml` (only objects a cluster accepts, so
`kubectl apply -f k8s/` works), each Helm release to `helm/<release>.yaml` (chart, version,
repository, namespace, values), each generated Dockerfile to `images/<component>/Dockerfile`,
every registration to `resources.json`, and prints a summary. Exit code 2 means the stack
config was rejected; nothing is written then.

With `--charts DIR` (local chart copies: `<chart>-<version>.tgz` or an unpacked `<chart>/`),
each release is also rendered with `helm template` (the helm `tools.charts.build` makes, or
`$GOSVC_HELM`) into `helm/<release>/<kind>-<namespace>-<name>.yaml`, and the policy pack, run
with `--policy-pack`, checks those objects too (policies/rules/charts.py).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from components import tokens
from tools.offline.engine import PLACEHOLDERS, SECRET, Registration, Run, run_project
from components.errors import ConfigError

FIRST_KEYS = ("apiVersion", "kind", "metadata")
CLUSTER_SCOPE = "cluster"


class _Dumper(yaml.SafeDumper):
    """Block-style YAML that keeps the key order it is given."""


_Dumper.add_representer(dict, lambda d, data: d.represent_mapping("tag:yaml.org,2002:map", data.items()))


def _ordered(value: Any) -> Any:
    """apiVersion, kind, metadata first, then every other key sorted, at every level."""
    if isinstance(value, dict):
        first = [k for k in FIRST_KEYS if k in value]
        return {k: _ordered(value[k]) for k in [*first, *sorted(k for k in value if k not in FIRST_KEYS)]}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def to_yaml(obj: dict[str, Any]) -> str:
    return yaml.dump(_ordered(obj), Dumper=_Dumper, default_flow_style=False, sort_keys=False, width=1000)


def _file_name(kind: str, namespace: str | None, name: str) -> str:
    return f"{kind.lower()}-{namespace or CLUSTER_SCOPE}-{name}.yaml"


HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
HELM_ENV = "GOSVC_HELM"
CHART_DIRS_ENV = "GOSVC_CHART_DIRS"
"""Where the policy pack looks for helm and local charts (policies/rules/charts.py); the pack process inherits them."""
RELEASE_FIRST = ("chart", "version", "repository", "namespace", "values")


def _kubernetes_document(reg: Registration) -> tuple[str, dict[str, Any]] | None:
    """The file name and document for a registration that is a Kubernetes object, else None."""
    if not reg.type.startswith("kubernetes:") or "kind" not in reg.inputs:
        return None
    meta = reg.inputs.get("metadata") or {}
    return _file_name(reg.inputs["kind"], meta.get("namespace"), meta.get("name", reg.name)), reg.inputs


def release_document(inputs: dict[str, Any]) -> dict[str, Any]:
    """A Helm release as `helm install` needs it: chart, version, repository, namespace, values, then its other options."""
    rest = {k: v for k, v in inputs.items() if k not in (*RELEASE_FIRST, "name", "repositoryOpts")}
    repository = (inputs.get("repositoryOpts") or {}).get("repo")
    first = {"chart": inputs.get("chart"), "version": inputs.get("version"), "repository": repository, "namespace": inputs.get("namespace"), "values": _ordered(inputs.get("values") or {})}
    return {"release": inputs.get("name"), **first, "options": dict(sorted(rest.items()))}


def write(result: Run, out: Path) -> list[tuple[str, str, str, str]]:
    """Writes the run to `out` (replacing what was there); returns the summary rows."""
    if out.exists():
        shutil.rmtree(out)
    (out / "k8s").mkdir(parents=True)
    rows: list[tuple[str, str, str, str]] = []
    for reg in sorted(result.registrations, key=lambda r: (r.type, r.name)):
        doc = _kubernetes_document(reg)
        if reg.type == HELM_RELEASE:
            body = release_document(reg.inputs)
            path = out / "helm" / f"{body['release'] or reg.name}.yaml"
            if path.exists():
                raise RuntimeError(f"two Helm releases would be written to {path}; release names must be unique")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.dump(body, Dumper=_Dumper, default_flow_style=False, sort_keys=False, width=1000))
            rows.append(("Release", body["namespace"] or "-", reg.name, str(path.relative_to(out))))
        elif doc is not None:
            file_name, body = doc
            path = out / "k8s" / file_name
            if path.exists():
                raise RuntimeError(f"two objects would be written to {path}; names must be unique per kind and namespace")
            path.write_text(to_yaml(body))
            rows.append((reg.type.rsplit(":", 1)[-1], (body.get("metadata") or {}).get("namespace") or body.get("namespace") or "-", reg.name, str(path.relative_to(out))))
        elif reg.type == tokens.GO_IMAGE:
            path = out / "images" / reg.name / "Dockerfile"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(reg.inputs["dockerfile"])
            rows.append(("GoImage", "-", reg.name, str(path.relative_to(out))))
        else:
            rows.append((reg.type.rsplit(":", 1)[-1], "-", reg.name, "-"))
    # Registrations complete in whatever order the engine's tasks finish; sort so the file is stable run to run.
    by_urn = sorted(result.registrations, key=lambda r: r.urn)
    (out / "resources.json").write_text(json.dumps([r.to_json() for r in by_urn], indent=2, sort_keys=True) + "\n")
    (out / "outputs.json").write_text(json.dumps(result.outputs, indent=2, sort_keys=True) + "\n")
    return rows


def render_releases(result: Run, out: Path) -> list[tuple[str, str, str, str]]:
    """Each Helm release's chart objects under helm/<release>/, rendered as the policy pack renders them."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "policies"))
    from rules import charts  # the pack's own rendering, so the files are what the pack checks

    rows = []
    for reg in sorted(result.registrations, key=lambda r: r.name):
        if reg.type != HELM_RELEASE:
            continue
        rendering = charts.render(reg.inputs)
        if rendering.error:
            raise RuntimeError(f"Helm release '{rendering.release}': {rendering.error}")
        for obj in rendering.objects:
            meta = obj.get("metadata") or {}
            path = out / "helm" / rendering.release / _file_name(obj["kind"], meta.get("namespace"), meta.get("name", ""))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(to_yaml(obj))
            rows.append((obj["kind"], meta.get("namespace") or "-", f"{rendering.release}: {meta.get('name')}", str(path.relative_to(out))))
    return rows


def _table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.offline.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, help="stack name: stacks/Pulumi.<stack>.yaml")
    parser.add_argument("--out", type=Path, help="output directory, default build/<stack>")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="directory holding Pulumi.yaml")
    parser.add_argument("--policy-pack", type=Path, help="then check the stack with this policy pack directory (e.g. policies)")
    parser.add_argument("--policy-pack-config", type=Path, help="the pack's config JSON, e.g. policies/config/<stack>.json")
    parser.add_argument("--charts", type=Path, action="append", default=[], help="a directory of local chart copies: render every Helm release from it")
    args = parser.parse_args(argv)
    if args.policy_pack_config and not args.policy_pack:
        parser.error("--policy-pack-config needs --policy-pack")
    out = args.out or args.project_dir / "build" / args.stack
    try:
        result = run_project(args.project_dir, args.stack)
    except ConfigError as err:
        print(f"error: stack '{args.stack}': {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    rows = write(result, out)
    if args.charts:
        os.environ[CHART_DIRS_ENV] = os.pathsep.join(str(d.resolve()) for d in args.charts)
        if not os.environ.get(HELM_ENV):
            from tools.charts import build as chart_tools

            os.environ[HELM_ENV] = str(chart_tools.build())
        try:
            rows += render_releases(result, out)
        except RuntimeError as err:
            print(f"error: stack '{args.stack}': {err}", file=sys.stderr)
            return 2
    print(f"stack {args.stack}: {len(result.registrations)} resources -> {out}")
    print(_table(rows, ("TYPE", "NAMESPACE", "NAME", "FILE")))
    print("\noutputs:")
    for key, value in sorted(result.outputs.items()):
        print(f"  {key}: {value}")
    print("\nplaceholders for values only a real engine knows:")
    for what, text in PLACEHOLDERS.items():
        print(f"  {what}: {text}")
    print(f"  secrets are written as {SECRET}")
    if args.policy_pack:
        from tools.offline import policy_runner

        print()
        return policy_runner.check(result, stack=args.stack, pack_dir=args.policy_pack, config_file=args.policy_pack_config, out=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
