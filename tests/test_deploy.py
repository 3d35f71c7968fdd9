"""The Kubernetes manifests and the Dockerfile agree with each other and with chatbench's own flags.

No cluster and no Docker engine here: this reads ``deploy/kubernetes/`` as ``kubectl apply -k`` would
(the kustomization's resources and its ConfigMap generator), checks that the pieces name each other
(the Service selects the master's pod, the workers reach the Service's port, the scenario volume holds
the file the master runs), and parses each container's arguments with chatbench's own CLI, as the
image's ``ENTRYPOINT ["chatbench"]`` would receive them. ``scripts/replay_dockerfile.py`` replays the
image's build steps outside Docker.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any

import yaml

from bench.cli import build_parser
from bench.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy" / "kubernetes"


def _manifests() -> tuple[dict[str, Any], dict[tuple[str, str], dict[str, Any]]]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / resource).read_text()):
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in objects, f"{resource}: {key} twice"
            objects[key] = doc
    return kustomization, objects


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    (container,) = obj["spec"]["template"]["spec"]["containers"]
    return dict(container)


def _args(container: dict[str, Any]) -> argparse.Namespace:
    """The container's arguments as chatbench parses them (the image's entrypoint is ``chatbench``)."""
    args = [str(a) for a in container["args"]]
    parser, module = build_parser(args[0])
    assert module is not None, f"{args[0]}: not a chatbench command"
    return parser.parse_args(args)


def test_the_kustomization_makes_a_master_job_its_service_and_a_worker_deployment() -> None:
    kustomization, objects = _manifests()
    kinds = {kind for kind, _ in objects}
    assert {"Service", "Job", "Deployment", "PersistentVolumeClaim"} <= kinds
    for (kind, name), obj in objects.items():
        assert obj["apiVersion"] == {"Job": "batch/v1", "Deployment": "apps/v1"}.get(kind, "v1"), name
        assert obj["metadata"]["labels"]["app"] == "chatbench", (kind, name)
    for generator in kustomization["configMapGenerator"]:
        for file in generator["files"]:
            assert (DEPLOY / file).is_file(), file


def test_the_service_selects_the_master_and_serves_the_port_it_binds() -> None:
    _, objects = _manifests()
    service = objects["Service", "chatbench-master"]
    master = objects["Job", "chatbench-master"]
    pod_labels = master["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    workers = objects["Deployment", "chatbench-worker"]
    assert (
        not service["spec"]["selector"].items() <= workers["spec"]["template"]["metadata"]["labels"].items()
    )
    container = _container(master)
    args = _args(container)
    assert args.command == "run" and args.expect_workers >= 1
    (port,) = service["spec"]["ports"]
    assert port["targetPort"] == args.master_bind_port
    assert args.master_bind_port in [p["containerPort"] for p in container["ports"]]
    # The master runs the scenario of the ConfigMap, mounted where its argument says.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in master["spec"]["template"]["spec"]["volumes"]}
    kustomization, _ = _manifests()
    (generator,) = kustomization["configMapGenerator"]
    scenario_volume = next(n for n, v in volumes.items() if "configMap" in v)
    assert volumes[scenario_volume]["configMap"]["name"] == generator["name"]
    scenario_path = Path(args.scenario)
    assert scenario_path.parent == Path(mounts[scenario_volume]) and scenario_path.name in generator["files"]
    # The results go to the persistent volume, not the container's own disk.
    claim = next(v for v in volumes.values() if "persistentVolumeClaim" in v)["persistentVolumeClaim"]
    assert ("PersistentVolumeClaim", claim["claimName"]) in objects
    results_volume = next(n for n, v in volumes.items() if "persistentVolumeClaim" in v)
    assert Path(args.results_dir) == Path(mounts[results_volume])


def test_the_workers_reach_the_service_and_the_master_waits_for_as_many_as_are_deployed() -> None:
    _, objects = _manifests()
    service = objects["Service", "chatbench-master"]
    workers = objects["Deployment", "chatbench-worker"]
    spec = workers["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    args = _args(_container(workers))
    assert args.command == "worker"
    assert args.master_host == service["metadata"]["name"]
    assert args.master_port == service["spec"]["ports"][0]["port"]
    master_args = _args(_container(objects["Job", "chatbench-master"]))
    assert master_args.expect_workers == spec["replicas"] * max(args.processes, 1)
    # Both run the image the Dockerfile builds (its entrypoint is chatbench).
    images = {_container(o)["image"] for o in (workers, objects["Job", "chatbench-master"])}
    assert len(images) == 1
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["chatbench"\]$', dockerfile, re.M)


def test_the_shipped_scenario_is_valid_and_names_a_target() -> None:
    scenario = load_scenario(DEPLOY / "scenario.yaml", {})
    # A multi-machine run needs a target the workers reach: the embedded mock serves one machine.
    assert scenario.target.base_url
