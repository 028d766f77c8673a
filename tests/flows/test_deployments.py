"""The deployment files: prefect.yaml's process pools stay the default; the Kubernetes variant asks for a GPU.

Nothing here needs Docker or a cluster: the variant's job variables are checked against its work
pool's template and rendered into the Job manifest the Kubernetes worker would submit.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import prefect
import yaml
from prefect.utilities.schema_tools import validate
from prefect.utilities.templating import apply_values

from devtools.scratch_repo import ROOT

TEMPLATE = ROOT / "deploy" / "k8s-gpu-job-template.json"


def prefect_default_kubernetes_template() -> dict:
    """Prefect's own default base job template for kubernetes pools, as this Prefect version ships it."""
    metadata = Path(prefect.__file__).parent / "server" / "api" / "collections_data" / "views" / "aggregate-worker-metadata.json"
    return json.loads(metadata.read_text())["prefect-kubernetes"]["kubernetes"]["default_base_job_configuration"]


def test_process_pools_stay_the_default() -> None:
    deployments = yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]
    assert {d["name"]: d["work_pool"]["name"] for d in deployments} == {"retrain": "cpu", "finetune": "gpu", "predict": "cpu"}


def test_k8s_variant_requests_a_gpu_in_the_rendered_job() -> None:
    variant = yaml.safe_load((ROOT / "deploy" / "prefect-k8s.yaml").read_text())
    [deployment] = variant["deployments"]
    assert (deployment["name"], deployment["entrypoint"], deployment["work_pool"]["name"]) == (
        "finetune-k8s",
        "flows/finetune.py:finetune",
        "gpu-k8s",
    )
    assert variant["pull"] == [{"prefect.deployments.steps.set_working_directory": {"directory": "/opt/prodcat"}}]
    job_variables = deployment["work_pool"]["job_variables"]
    assert job_variables["gpu_limit"] == 1 and job_variables["image"] == "prodcat-gpu-worker:0.1.0"

    template = json.loads(TEMPLATE.read_text())
    assert validate(job_variables, template["variables"]) == []  # what Prefect checks against the pool
    assert [error.message for error in validate({**job_variables, "gpu_limit": 0}, template["variables"])] == [
        "0 is less than the minimum of 1"
    ]
    defaults = {name: spec["default"] for name, spec in template["variables"]["properties"].items() if "default" in spec}
    job = apply_values(template["job_configuration"], {**defaults, **job_variables}, remove_notset=True)
    [container] = job["job_manifest"]["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    assert (container["image"], container["imagePullPolicy"]) == ("prodcat-gpu-worker:0.1.0", "IfNotPresent")
    assert job["env"] == {"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}


def test_gpu_template_is_prefects_default_plus_the_gpu_limit() -> None:
    template, default = json.loads(TEMPLATE.read_text()), prefect_default_kubernetes_template()
    gpu_limit = template["variables"]["properties"].pop("gpu_limit")
    assert (gpu_limit["type"], gpu_limit["default"], gpu_limit["minimum"]) == ("integer", 1, 1)
    limits = template["job_configuration"]["job_manifest"]["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits.pop("nvidia.com/gpu") == "{{ gpu_limit }}"
    assert template == default


def test_worker_image_pins_the_projects_torch_and_leaves_outputs_out() -> None:
    dockerfile = (ROOT / "docker" / "worker.Dockerfile").read_text()
    [torch_pin] = [
        dep for dep in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"] if dep.startswith("torch==")
    ]
    assert f'RUN pip install {torch_pin} --index-url "${{TORCH_INDEX}}"' in dockerfile
    assert "ENV PIP_NO_CACHE_DIR=1" in dockerfile and "PRODCAT_WORKDIR=/opt/prodcat" in dockerfile and "HF_HUB_OFFLINE=1" in dockerfile
    ignored = set((ROOT / ".dockerignore").read_text().split())
    for folder in ("models", "data"):  # every DVC output git ignores there stays out of the image too
        outputs = [line.strip("/") for line in (ROOT / folder / ".gitignore").read_text().split()]
        assert {f"{folder}/{output}" in ignored or f"{folder}/{output}/" in ignored for output in outputs} == {True}, folder
