"""
A small kustomize renderer for the features deploy/k8s uses, so CI renders
the manifests without the kustomize binary (and without a cluster):

- ``resources``: files (several YAML documents each) and directories holding
  a kustomization.yaml, rendered first;
- ``namespace``: set on every object;
- ``labels`` (``pairs``, without selectors or templates): added to ``metadata.labels``;
- ``images``: ``name`` matched as kustomize does (the whole image, or up to
  ``:tag`` / ``@digest``), replaced by ``newName`` and/or ``newTag``;
- ``patches`` with ``path`` only: strategic-merge patches (one or several
  documents per file), each applied to the object of the same kind and name.
  Maps merge key by key; lists whose items all have a ``name`` merge item by
  item (containers, env, volumes); other lists are replaced.

Anything else in a kustomization.yaml raises, so a manifest using a feature
this does not implement fails the test instead of rendering wrong.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "labels", "images", "patches"}


def load_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> list[dict]:
    """The objects ``kubectl kustomize <directory>`` would print, in resource order."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED
    if unsupported:
        raise ValueError(f"{directory}: kustomization fields not supported here: {sorted(unsupported)}")
    objects: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        objects.extend(render(path) if path.is_dir() else copy.deepcopy(load_documents(path)))
    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise ValueError(f"{directory}: only `patches: - path:` is supported, got {patch_entry}")
        for patch in load_documents(directory / patch_entry["path"]):
            target = _find(objects, kind=patch["kind"], name=patch["metadata"]["name"])
            merged = strategic_merge(target, patch)
            target.clear()
            target.update(merged)
    for pair in (entry["pairs"] for entry in kustomization.get("labels", [])):
        for obj in objects:
            obj.setdefault("metadata", {}).setdefault("labels", {}).update(pair)
    for image in kustomization.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                container["image"] = _set_image(container["image"], image)
    if namespace := kustomization.get("namespace"):
        for obj in objects:
            obj.setdefault("metadata", {})["namespace"] = namespace
    return objects


def _find(objects: list[dict], *, kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    if len(found) != 1:
        raise ValueError(f"patch target {kind}/{name}: {len(found)} objects match")
    return found[0]


def strategic_merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        if any(str(key).startswith("$") for key in patch):
            raise ValueError(f"patch directives are not supported: {patch}")
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = strategic_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in base + patch)
    ):
        merged_list = [copy.deepcopy(item) for item in base]
        for item in patch:
            same = [i for i, existing in enumerate(merged_list) if existing["name"] == item["name"]]
            if same:
                merged_list[same[0]] = strategic_merge(merged_list[same[0]], item)
            else:
                merged_list.append(copy.deepcopy(item))
        return merged_list
    return copy.deepcopy(patch)


def pod_spec(obj: dict) -> dict | None:
    if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def _containers(obj: dict) -> list[dict]:
    spec = pod_spec(obj)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _set_image(current: str, rule: dict) -> str:
    name = rule["name"]
    if current == name:
        suffix = ""
    elif current.startswith(name + ":") or current.startswith(name + "@"):
        suffix = current[len(name) :]
    else:
        return current
    if "newTag" in rule:
        suffix = f":{rule['newTag']}"
    return rule.get("newName", name) + suffix
