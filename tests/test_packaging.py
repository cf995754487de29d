"""The package is installable and importable from outside the repo, its components yield the committed
Pulumi schema, and one token scheme names them everywhere."""

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi.provider.experimental.analyzer import Analyzer
from pulumi.provider.experimental.schema import generate_schema

import components
from components import provider, tokens
from tools.offline.engine import run
from policies.rules import go_image, images, network, resources
from tests.conftest import ROOT

PUBLIC_COMPONENTS = [getattr(components, name) for name in components.__all__ if isinstance(getattr(components, name), type) and issubclass(getattr(components, name), __import__("pulumi").ComponentResource)]


def test_analyzer_derives_a_schema_for_every_public_component():
    assert {c.__name__ for c in PUBLIC_COMPONENTS} >= {"GoImage", "GoService"}
    result = Analyzer("gosvc").analyze(PUBLIC_COMPONENTS)
    schema = generate_schema("gosvc", "0.1.0", None, result["component_definitions"], result["type_definitions"], list(result["dependencies"])).to_json()
    for component in PUBLIC_COMPONENTS:
        resource = schema["resources"][f"gosvc:index:{component.__name__}"]
        assert resource["isComponent"] is True
        assert resource["inputProperties"] and resource["properties"], component.__name__
        assert resource.get("description"), component.__name__
    service = schema["resources"]["gosvc:index:GoService"]
    assert service["requiredInputs"] == ["image"]
    assert service["inputProperties"]["autoscaling"]["$ref"] == "#/types/gosvc:index:AutoscalingArgs"
    assert "minReplicas" in schema["types"]["gosvc:index:AutoscalingArgs"]["properties"]
    assert set(service["properties"]) == {"deploymentName", "serviceName", "namespace", "url", "pprofPortForward"}
    image = schema["resources"]["gosvc:index:GoImage"]
    assert set(image["requiredInputs"]) == {"context", "repository", "tag"}


PROBE = """
import importlib, importlib.util, json, pkgutil, sys
import components
public = {name: getattr(components, name).__module__ for name in components.__all__}
modules = sorted(m.name for m in pkgutil.walk_packages(components.__path__, "components."))
for name in modules:
    importlib.import_module(name)
absent = {name: importlib.util.find_spec(name) is None for name in ("tools", "stacks", "tests", "bench", "policies", "jsonschema", "jproperties", "pytest")}
print(json.dumps({"file": components.__file__, "public": public, "modules": modules, "absent": absent}))
"""


def test_installs_into_an_empty_virtualenv_and_holds_only_the_library(tmp_path):
    """`pip install` with the declared dependencies only, then every public name and every module imports,
    from outside the repository; the tools, the program's config and the tests are not in it."""
    # From the checkout's files as a clean clone has them: setuptools would also pack a stale build/lib.
    source = tmp_path / "source"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(source)], capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-4000:]
    proc = subprocess.run([python, "-c", PROBE], cwd=tmp_path, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-4000:]
    found = json.loads(proc.stdout)
    assert found["file"].startswith(str(venv)), found["file"]
    assert set(found["public"]) == set(components.__all__) and found["public"]["GoService"] == "components.service.component"
    assert {"components.service.config", "components.image.config", "components.logging.config", "components.observability.config"} <= set(found["modules"])
    assert not [m for m in found["modules"] if m.split(".")[1] in ("engine", "synth", "policy_runner", "stack_config")]
    assert all(found["absent"].values()), found["absent"]


def test_no_library_module_imports_the_tools_the_program_or_the_tests():
    offenders = []
    for path in sorted((ROOT / "components").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("tools", "stacks", "tests", "bench", "policies")]
    assert offenders == []


def test_the_committed_schema_is_what_the_components_derive():
    committed = (ROOT / "provider" / "schema.json").read_text()
    assert committed == provider.schema_text(), "provider/schema.json is stale: run `make schema`"
    schema = json.loads(committed)
    assert schema["name"] == "gosvc" and schema["version"] == components.__version__
    assert set(schema["resources"]) == {tokens.token(c.__name__) for c in provider.COMPONENTS} == {tokens.token(c.__name__) for c in PUBLIC_COMPONENTS}


def test_schema_marks_every_input_plain_except_those_that_may_be_outputs():
    schema = provider.schema()
    may_be_outputs = {
        "gosvc:index:GoService": {"image", "serviceName", "namespace"},
        "gosvc:index:ServiceMonitoring": {"serviceName", "namespace", "instance"},
        "gosvc:index:PrometheusStack": {"namespace"},
    }
    for token, resource in schema["resources"].items():
        not_plain = {name for name, prop in resource["inputProperties"].items() if not prop.get("plain")}
        expected = may_be_outputs.get(token, set())
        if token == "gosvc:index:GoService":
            env = resource["inputProperties"]["env"]
            assert env["plain"] is True and "plain" not in env["additionalProperties"], "env names plain, values Inputs"
        assert not_plain == expected, token
        if expected:
            assert "Inputs that may be Outputs: " in resource["description"], token
        else:
            assert "Every input is plain" in resource["description"], token


def test_every_component_registers_the_token_the_schema_derives():
    def program():
        components.GoImage("image", {"context": str(ROOT / "app"), "repository": "r.example.com/api", "tag": "1.0"})
        components.GoService("service", {"image": "r.example.com/api:1.0"})
        components.PrometheusStack("prometheus", {})
        components.ServiceMonitoring("monitoring", {"service_name": "service"})
        components.LoggingPipeline("logging", {})

    result = run(program)
    top_level = {r.type for r in result.registrations if not r.custom and r.parent.endswith("pulumi:pulumi:Stack::gosvc-test")}
    assert top_level == {tokens.token(c.__name__) for c in provider.COMPONENTS}
    parts = {r.type for r in result.registrations if not r.custom} - top_level
    assert parts == set(tokens.LOGGING_PARTS.values())
    for constant in (resources.GO_SERVICE, network.GO_SERVICE, images.GO_IMAGE, go_image.GO_IMAGE):
        assert constant in top_level, f"the policy pack names {constant}, which no component registers"
    assert all(re.fullmatch(r"gosvc:index:[A-Z][A-Za-z]+", t) for t in top_level | parts)


@pytest.mark.parametrize("current", sorted(tokens.FORMER))
def test_a_renamed_component_keeps_its_former_token_as_an_alias(current):
    former = tokens.FORMER[current]
    assert former.split(":")[1] in ("observability", "logging") and former.rsplit(":", 1)[1] in current
    opts = tokens.options(current, None)
    assert [a.type_ for a in opts.aliases] == [former]


def test_the_engine_receives_the_former_token_as_an_alias():
    result = run(lambda: components.ServiceMonitoring("api-monitoring", {"service_name": "api"}))
    (component,) = result.of_type(tokens.SERVICE_MONITORING)
    assert component.aliases == ["gosvc:observability:ServiceMonitoring"]
    assert all(r.aliases == [] for r in result.registrations if r.custom), "children follow their parent's alias"


def test_the_provider_launcher_is_a_clean_posix_script():
    launcher = ROOT / "provider" / "bin" / "pulumi-resource-gosvc"
    assert launcher.stat().st_mode & 0o111, "the CLI executes it as a plugin binary"
    proc = subprocess.run([str(Path(sys.executable).parent / "shellcheck"), "--shell=sh", str(launcher)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_the_yaml_program_uses_only_what_the_schema_declares():
    import yaml

    program = yaml.safe_load((ROOT / "tests" / "e2e" / "yaml_program" / "Pulumi.yaml").read_text())
    schema = provider.schema()
    used = [(name, r) for name, r in program["resources"].items() if r["type"].startswith("gosvc:")]
    assert {r["type"] for _, r in used} == {tokens.GO_SERVICE, tokens.SERVICE_MONITORING}
    for name, resource in used:
        declared = schema["resources"][resource["type"]]["inputProperties"]
        assert set(resource["properties"]) <= set(declared), (name, set(resource["properties"]) - set(declared))
        for key, value in resource["properties"].items():
            if isinstance(value, str) and value.startswith("${"):
                assert not declared[key].get("plain"), f"{name}.{key} takes an output but the schema makes it plain"
    assert program["resources"]["hello"]["properties"]["namespace"] == "${team.metadata.name}"


def test_the_pack_knows_the_newest_go_patches_gosvc_builds_with():
    """GoImage builds with defaults.GO_PATCH_RELEASES; the pack advises against anything older, from its own copy
    (it imports nothing of the library), so the two tables must agree."""
    from components import defaults

    assert go_image.NEWEST_PATCHES == defaults.GO_PATCH_RELEASES

