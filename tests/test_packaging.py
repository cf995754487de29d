"""The package is installable and importable from outside the repo, its components yield the committed
Pulumi schema, and one token scheme names them everywhere."""

import json
import re
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


def test_pip_install_then_import_from_outside_the_repo(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps", "--target", str(target), str(ROOT)],
        check=True, capture_output=True, text=True, timeout=600,
    )
    assert (target / "components" / "service" / "workload.py").is_file()
    assert not (target / "tests").exists()
    probe = (
        "import components, sys; "
        "from components import GoService, GoImage, ConfigError; "
        "assert components.__file__.startswith(sys.argv[1]), components.__file__; "
        "print(GoService.__module__)"
    )
    env_path = f"{target}"
    proc = subprocess.run([sys.executable, "-c", probe, str(target)], cwd=tmp_path, env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "components.service.component"


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
