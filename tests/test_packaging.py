"""The package is installable and importable from outside the repo, and its components yield a Pulumi schema."""

import subprocess
import sys

from pulumi.provider.experimental.analyzer import Analyzer
from pulumi.provider.experimental.schema import generate_schema

import components
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
