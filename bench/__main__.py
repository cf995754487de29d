"""make bench: artifact size, layer reuse, synth scale against floor and peer, policy cost against its floor, real engine.

    python -m bench [--sizes 1,10,50,100] [--repeat 3] [--policy-growth-sizes 100,250,500,1000]
                    [--real-engine-sizes 1,10,50 | none] [--out build/bench.json]

Prints one table per topic and writes the same figures as JSON.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import sys
from pathlib import Path

from bench import artifact, layers, policy_cost, real_engine, synth_scale

MIB = 1024 * 1024


def _table(title: str, header: tuple[str, ...], rows: list[tuple]) -> str:
    cells = [tuple(str(c) for c in header)] + [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = [f"\n== {title} =="]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells[:1]]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells[1:]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,50,100", help="numbers of services for the synth and policy benchmarks")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    parser.add_argument("--policy-growth-sizes", default="100,250,500,1000", help="numbers of services for the in-process policy growth")
    parser.add_argument("--real-engine-sizes", default="1,10,50", help="numbers of services under the real engine, or 'none' to skip it")
    parser.add_argument("--real-engine-repeat", type=int, default=3, help="runs per real-engine measurement up to N = 10 (one above)")
    parser.add_argument("--image-engine", choices=("auto", "none"), default="auto", help="build the images with the tier's Docker engine when one can run (auto), or weigh them from documented base sizes (none)")
    parser.add_argument("--out", type=Path, default=Path("build/bench.json"))
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    growth_sizes = [int(s) for s in args.policy_growth_sizes.split(",")]
    real_sizes = [] if args.real_engine_sizes == "none" else [int(s) for s in args.real_engine_sizes.split(",")]

    art = artifact.measure(None if args.image_engine == "auto" else False)
    print(_table(
        "Artifact size (floor = the stripped static binary)",
        ("artifact", "size MiB", "x floor", "source"),
        [
            ("plain go build", f"{art['plain_binary_bytes'] / MIB:.2f}", f"{art['plain_binary_bytes'] / art['floor_bytes']:.2f}", "measured"),
            ("Dockerfile flags (floor)", f"{art['optimized_binary_bytes'] / MIB:.2f}", "1.00", "measured"),
            *[(f"image: {k}" + (" (built)" if v["measured"] else ""), f"{v['bytes'] / MIB:.2f}", f"{v['over_floor']:.2f}", v["base_source"]) for k, v in art["images"].items()],
            *[(f"usual: {k}", f"{v['bytes'] / MIB:.2f}", f"{v['over_floor']:.1f}", v["source"]) for k, v in art["usual_images"].items()],
        ],
    ))

    lay = layers.measure()
    print(_table(
        "Layer reuse (steps whose inputs change)",
        ("edit", "steps rebuilt", "go mod download reused"),
        [
            (f"source only ({lay['source_change']['edited']})", len(lay["source_change"]["steps_rebuilt"]), lay["source_change_reuses_download"]),
            ("go.mod", len(lay["go_mod_change"]["steps_rebuilt"]), not lay["go_mod_change_reruns_download"]),
        ],
    ))

    scale = synth_scale.run_scale(sizes, args.repeat)
    print(_table(
        "Synth scale (mock engine; floor = same objects as raw pulumi_kubernetes resources; peer = cdk8s-plus in memory)",
        ("N", "resources", "seconds", "ms/resource", "peak RSS MiB", "floor s", "x floor", "x floor (fastest runs)", "cdk8s-plus s", "x peer"),
        [
            (
                r["n"], r["components"]["resources"], f"{r['components']['seconds']:.3f}", f"{r['seconds_per_resource'] * 1000:.2f}",
                f"{r['components']['peak_rss_kib'] / 1024:.0f}", f"{r['floor']['seconds']:.3f}", f"{r['ratio_to_floor']:.2f}",
                f"{r['ratio_to_floor_of_fastest']:.2f}", f"{r['peer_cdk8s_plus']['seconds']:.3f}", f"{r['ratio_to_peer']:.1f}",
            )
            for r in scale["rows"]
        ],
    ))
    print(f"growth: {scale['verdict']}; fit {scale['fit']['slope_s_per_service'] * 1000:.1f} ms per service + {scale['fit']['intercept_s']:.3f} s")

    policy = policy_cost.measure(max(sizes), args.repeat)
    print(_table(
        f"Policy cost over N={policy['n']} services ({policy['resources']} resources, {policy['policies']} policies, median of {policy['runs']})",
        ("what", "value"),
        [
            ("whole pack, real Analyzer process (Analyze x resources + AnalyzeStack)", f"{policy['total_seconds']:.3f} s"),
            ("floor: the same policies with empty bodies, same process kind", f"{policy['floor']['total_seconds']:.3f} s"),
            ("pack / floor", f"{policy['ratio_to_floor']:.2f}x"),
            ("per resource: pack / floor", f"{policy['per_resource_ms']:.3f} / {policy['floor']['per_resource_ms']:.3f} ms"),
            ("per resource per rule: pack / floor", f"{policy['per_resource_per_rule_ms'] * 1000:.1f} / {policy['floor']['per_resource_per_rule_ms'] * 1000:.1f} us"),
            ("the rules' own cost per resource (pack - floor)", f"{policy['rules_own_ms_per_resource']:.3f} ms"),
            ("all rules in-process (sum)", f"{policy['in_process_seconds']:.3f} s"),
            ("per resource", f"{policy['per_resource_ms']:.3f} ms"),
            ("per rule (mean)", f"{policy['per_rule_ms']:.3f} ms"),
            *[(f"slowest: {r['policy']}", f"{r['ms']:.3f} ms") for r in policy["slowest"]],
        ],
    ))

    grow = policy_cost.growth(growth_sizes)
    print(_table(
        "Policy growth, all rules in-process",
        ("N", "resources", "seconds", "ms/resource", "slowest rule", "its ms"),
        [(r["n"], r["resources"], f"{r['seconds']:.2f}", f"{r['per_resource_ms']:.2f}", r["slowest"]["policy"], f"{r['slowest']['ms']:.0f}") for r in grow["rows"]],
    ))
    print(f"growth: {grow['verdict']}; fit {grow['fit']['slope_s_per_service'] * 1000:.1f} ms per service + {grow['fit']['intercept_s']:.3f} s")
    policy["growth"] = grow

    real = None
    if real_sizes:
        real = real_engine.run(real_sizes, args.real_engine_repeat, args.out.parent / "bench-real-engine", log=lambda line: print(line, file=sys.stderr, flush=True))
        print(_table(
            f"Real engine (Pulumi {real['tools']['pulumi']}, provider {real['tools']['pulumi-kubernetes']}, local Kubernetes {real['tools']['kubernetes']}; seconds, median)",
            ("N", "objects", "runs", "preview comp/floor", "x", "up comp/floor", "x", "+pack preview", "x", "+pack up", "x", "pack ms/resource (up)"),
            [
                (
                    r["n"], r["kubernetes_objects"], r["cells"]["components"]["runs"],
                    f"{r['cells']['components']['preview_s']:.2f}/{r['cells']['floor']['preview_s']:.2f}", f"{r['ratio_preview']:.2f}",
                    f"{r['cells']['components']['up_s']:.2f}/{r['cells']['floor']['up_s']:.2f}", f"{r['ratio_up']:.2f}",
                    f"{r['cells']['components+pack']['preview_s']:.2f}/{r['cells']['floor+pack']['preview_s']:.2f}", f"{r['ratio_preview_with_pack']:.2f}",
                    f"{r['cells']['components+pack']['up_s']:.2f}/{r['cells']['floor+pack']['up_s']:.2f}", f"{r['ratio_up_with_pack']:.2f}",
                    f"{r['pack_ms_per_resource_up']:.1f}",
                )
                for r in real["rows"]
            ],
        ))

    report = {
        "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "processor": platform.machine()},
        "sizes": sizes,
        "repeat": args.repeat,
        "artifact": art,
        "layers": lay,
        "synth_scale": scale,
        "policy_cost": policy,
        "real_engine": real,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
