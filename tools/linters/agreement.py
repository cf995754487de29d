"""Where kube-score or Checkov and the policy pack judge the same object differently, for each external check a
pack rule declares in `covers` (policies/rules/definition.py).

The objects come in groups of registrations (a policy fixture, a test case's subject, a stack's synth): each group
is written as YAML for the linters (tools/linters/verdicts.py) and run through the real pack process over the
Analyzer protocol (tools/offline/policy_runner.py). For an object and a covered check the linter's verdict is set
beside the pack's: failed when an enabled rule covering that check reported the object, unless the linter fails the
object on another check the same rule covers, in full or in part (the rule's finding is that one). Each
disagreement is then exempted (the object carries the pack's exemption annotation for a covering rule, with its
reason), explained in policies/crosswalk/agreement.yaml, or left unexplained; an explanation that matches no
disagreement is stale.

kube-linter is not among the linters: see tools/linters/build.py for why it cannot be obtained here.
"""

from __future__ import annotations

import fnmatch
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from policies.rules.definition import EXEMPT_PREFIX
from tools.linters.verdicts import ObjectRef, Verdict
from tools.offline import policy_runner
from tools.offline.engine import Registration
from tools.offline.synth import to_yaml

LINTERS_RUN = ("kube-score", "checkov")
EXPLANATIONS = Path(__file__).resolve().parents[2] / "policies" / "crosswalk" / "agreement.yaml"
OBJECTS_FILE = "objects.yaml"


@dataclass(frozen=True)
class Group:
    """Objects judged together: `source` is what they are (fixtures, synth) and `config` the pack config they run with."""

    name: str
    source: str
    registrations: tuple[Registration, ...]
    stack: str = "test"
    config: Path | None = None


@dataclass(frozen=True)
class PackObject:
    """What the comparison needs of one object: its URN and its annotations (for exemptions)."""

    urn: str
    annotations: Mapping[str, str]


def write(root: Path, groups: Iterable[Group]) -> dict[ObjectRef, PackObject]:
    """Writes each group's Kubernetes objects to root/<group>/objects.yaml (as the synth writes them) and returns them."""
    found: dict[ObjectRef, PackObject] = {}
    for group in groups:
        docs = []
        for reg in group.registrations:
            if not reg.type.startswith("kubernetes:") or "kind" not in reg.inputs:
                continue
            meta = reg.inputs.get("metadata") or {}
            ref = ObjectRef(group.name, reg.inputs["kind"], meta.get("namespace") or "", meta.get("name") or "")
            if ref in found:
                raise ValueError(f"{ref} is twice in group {group.name}")
            found[ref] = PackObject(reg.urn, dict(meta.get("annotations") or {}))
            docs.append(to_yaml(reg.inputs))
        if docs:
            (root / group.name).mkdir(parents=True, exist_ok=True)
            (root / group.name / OBJECTS_FILE).write_text("---\n".join(docs))
    return found


@dataclass
class PackVerdicts:
    """What the pack reported: (group, urn, rule) for each finding, and the rules each group's config enables."""

    failed: set[tuple[str, str, str]] = field(default_factory=set)
    enabled: dict[str, set[str]] = field(default_factory=dict)
    pack: str = ""


def pack_verdicts(groups: Iterable[Group], pack_dir: Path) -> PackVerdicts:
    """Runs the real pack process over every group, one process per (stack, config), each group evaluated on its own."""
    result = PackVerdicts()
    runs: dict[tuple[str, Path | None], list[Group]] = {}
    for group in groups:
        runs.setdefault((group.stack, group.config), []).append(group)
    for (stack, config), members in runs.items():
        with policy_runner.PolicyPackProcess(pack_dir, stack=stack) as pack:
            pack.configure(policy_runner.load_config(config), stack=stack)
            enabled = {name for name, level in pack.levels.items() if level != "disabled"}
            for group in members:
                report = pack.evaluate(group.registrations, stack=stack)
                result.failed |= {(group.name, v.urn, v.policy) for v in report.violations}
                result.enabled[group.name] = enabled
                result.pack = report.pack
    return result


def covered(policies: Iterable[Any], claim: str = "covers") -> dict[tuple[str, str], tuple[str, ...]]:
    """(linter, check id) -> the rules that declare they cover it (`claim="partly"`: cover it in part), for the linters
    run here."""
    found: dict[tuple[str, str], list[str]] = {}
    for policy in policies:
        for linter, checks in (getattr(policy, claim, None) or {}).items():
            for check in checks if linter in LINTERS_RUN else ():
                found.setdefault((linter, check), []).append(policy.name)
    return {key: tuple(rules) for key, rules in sorted(found.items())}


@dataclass(frozen=True, order=True)
class Disagreement:
    linter: str
    check: str
    object: ObjectRef
    linter_says: str
    pack_says: str
    rules: tuple[str, ...]

    def record(self) -> dict[str, Any]:
        return {**asdict(self), "object": str(self.object), "rules": list(self.rules)}


@dataclass
class Comparison:
    compared: list[tuple[str, str, ObjectRef]] = field(default_factory=list)
    both_failed: list[tuple[str, str, ObjectRef]] = field(default_factory=list)
    """Compared verdicts where the linter and the pack both flag the object: the violations they agree on."""
    disagreements: list[Disagreement] = field(default_factory=list)
    unmatched: list[Verdict] = field(default_factory=list)
    """Verdicts on objects no group holds: the linter and the writer disagree on what an object is called."""


def compare(
    verdicts: Iterable[Verdict],
    objects: Mapping[ObjectRef, PackObject],
    pack: PackVerdicts,
    covers: Mapping[tuple[str, str], tuple[str, ...]],
    partly: Mapping[tuple[str, str], tuple[str, ...]] | None = None,
) -> Comparison:
    """The linters' verdicts on covered checks beside the pack's on the same objects (a check failed if any part failed).
    Checks a rule covers only `partly` are not compared, but the linter failing one of them accounts for the rule's
    finding as a covered one does (see _failed_elsewhere)."""
    claimed = {key: covers.get(key, ()) + (partly or {}).get(key, ()) for key in {*covers, *(partly or {})}}
    linter_passed: dict[tuple[str, str, ObjectRef], bool] = {}
    result = Comparison()
    for v in verdicts:
        if (v.linter, v.check) not in claimed:
            continue
        if v.object not in objects:
            result.unmatched.append(v)
            continue
        key = (v.linter, v.check, v.object)
        linter_passed[key] = linter_passed.get(key, True) and v.passed
    for (linter, check, ref), passed in sorted(linter_passed.items()):
        if (linter, check) not in covers:
            continue
        rules = tuple(r for r in covers[(linter, check)] if r in pack.enabled.get(ref.group, ()))
        if not rules:
            continue
        result.compared.append((linter, check, ref))
        failing = {rule for rule in rules if (ref.group, objects[ref].urn, rule) in pack.failed}
        if passed and failing and _failed_elsewhere(linter, check, ref, failing, linter_passed, claimed):
            continue
        if passed == bool(failing):
            says = ("passed", "failed") if passed else ("failed", "passed")
            result.disagreements.append(Disagreement(linter, check, ref, *says, rules))
        elif failing:
            result.both_failed.append((linter, check, ref))
    return result


def _failed_elsewhere(linter: str, check: str, ref: ObjectRef, failing: set[str], linter_passed: Mapping[tuple[str, str, ObjectRef], bool], claimed: Mapping[tuple[str, str], tuple[str, ...]]) -> bool:
    """Whether the linter fails the object on another check that one of the failing rules also covers, in full or in
    part: a rule is coarser than a check (no-host-namespaces covers hostPID, hostNetwork and hostPort checks), so its
    finding on a hostPort leaves the hostPID check passing without the two disagreeing."""
    return any(
        other != check and linter_passed.get((linter, other, ref)) is False and failing & set(rules)
        for (other_linter, other), rules in claimed.items()
        if other_linter == linter
    )


@dataclass(frozen=True)
class Explanation:
    linter: str
    check: str
    objects: tuple[str, ...]
    """fnmatch patterns over `group/Kind/namespace/name` (namespace `-` when unset)."""
    reason: str
    linter_says: str
    """`failed` (the pack misses what the linter flags) or `passed` (the pack flags what the linter lets pass)."""

    def explains(self, d: Disagreement) -> bool:
        return (d.linter, d.check, d.linter_says) == (self.linter, self.check, self.linter_says) and any(fnmatch.fnmatchcase(str(d.object), p) for p in self.objects)


def explanations(path: Path = EXPLANATIONS) -> list[Explanation]:
    """The documented disagreements; each must give a reason."""
    entries = yaml.safe_load(path.read_text()) or []
    found = []
    for entry in entries:
        if not str(entry.get("reason", "")).strip():
            raise ValueError(f"{path}: the explanation for {entry.get('linter')} {entry.get('check')} gives no reason")
        if entry.get("linter_says") not in ("failed", "passed"):
            raise ValueError(f"{path}: the explanation for {entry.get('linter')} {entry.get('check')} must say linter_says: failed or passed")
        found.append(Explanation(entry["linter"], entry["check"], tuple(entry["objects"]), " ".join(str(entry["reason"]).split()), entry["linter_says"]))
    return found


@dataclass
class Judgement:
    exempted: list[tuple[Disagreement, str]] = field(default_factory=list)
    explained: list[tuple[Disagreement, str]] = field(default_factory=list)
    unexplained: list[Disagreement] = field(default_factory=list)
    stale: list[Explanation] = field(default_factory=list)


def exemption(d: Disagreement, subject: PackObject) -> str | None:
    """The reason the object gives for exempting itself from a covering rule, when the pack passed it for that."""
    if d.pack_says != "passed":
        return None
    return next((subject.annotations[EXEMPT_PREFIX + r] for r in d.rules if str(subject.annotations.get(EXEMPT_PREFIX + r, "")).strip()), None)


def judge(disagreements: Iterable[Disagreement], objects: Mapping[ObjectRef, PackObject], documented: list[Explanation]) -> Judgement:
    result = Judgement()
    used: set[int] = set()
    for d in sorted(disagreements):
        reason = exemption(d, objects[d.object])
        if reason is not None:
            result.exempted.append((d, reason))
            continue
        index = next((i for i, e in enumerate(documented) if e.explains(d)), None)
        if index is None:
            result.unexplained.append(d)
        else:
            used.add(index)
            result.explained.append((d, documented[index].reason))
    result.stale = [e for i, e in enumerate(documented) if i not in used]
    return result


def report(comparison: Comparison, judgement: Judgement, sources: Mapping[str, str], versions: Mapping[str, str]) -> dict[str, Any]:
    """The agreement report: versions, counts per source and linter, and every disagreement with its status."""
    counts: dict[str, dict[str, dict[str, int]]] = {}

    def bump(group: str, linter: str, what: str) -> None:
        row = counts.setdefault(sources[group], {}).setdefault(linter, {"compared": 0, "both_failed": 0, "disagreements": 0, "exempted": 0, "explained": 0, "unexplained": 0})
        row[what] += 1

    for linter, _, ref in comparison.compared:
        bump(ref.group, linter, "compared")
    for linter, _, ref in comparison.both_failed:
        bump(ref.group, linter, "both_failed")
    for d in comparison.disagreements:
        bump(d.object.group, d.linter, "disagreements")
    rows = [{**d.record(), "status": "exempted", "reason": r} for d, r in judgement.exempted]
    rows += [{**d.record(), "status": "explained", "reason": r} for d, r in judgement.explained]
    rows += [{**d.record(), "status": "unexplained"} for d in judgement.unexplained]
    for row in rows:
        bump(row["object"].split("/", 1)[0], row["linter"], row["status"])
    return {
        "linters": dict(versions),
        "counts": counts,
        "disagreements": sorted(rows, key=lambda r: (r["status"], r["linter"], r["check"], r["object"])),
        "stale_explanations": [asdict(e) for e in judgement.stale],
        "unmatched_verdicts": [f"{v.linter} {v.check} {v.object}" for v in comparison.unmatched],
    }
