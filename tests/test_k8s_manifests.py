"""
deploy/k8s without a cluster: the kustomization renders (tests/kustomize.py),
every object validates against the Kubernetes 1.37 OpenAPI schema
(kubernetes-validate, strict: unknown fields are errors), and the manifests
agree with the code they run: settings, URLs, queues, entry points.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
from django.conf import settings
from django.urls import resolve

from ibw import health
from tests.kustomize import load_documents, pod_spec, render

BASE_DIR = Path(__file__).resolve().parents[1]
K8S = BASE_DIR / "deploy" / "k8s"
KUBERNETES_VERSION = "1.37.0"
KUSTOMIZATIONS = {"base": K8S / "base", "production": K8S / "overlays" / "production"}
WORKLOADS = {"Deployment", "Job"}


@pytest.fixture(scope="module", params=sorted(KUSTOMIZATIONS))
def rendered(request) -> list[dict]:
    return render(KUSTOMIZATIONS[request.param])


@pytest.fixture(scope="module")
def production() -> list[dict]:
    return render(KUSTOMIZATIONS["production"])


def _by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _containers(objects: list[dict]) -> list[tuple[str, dict]]:
    return [
        (f"{o['kind']}/{o['metadata']['name']}", c)
        for o in objects
        if o["kind"] in WORKLOADS
        for c in pod_spec(o)["containers"]
    ]


def _deployment_command(objects: list[dict], name: str) -> list[str]:
    return _by_kind(objects, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]["command"]


def _example_secret() -> dict[str, str]:
    (secret,) = load_documents(K8S / "base" / "secret.example.yaml")
    return secret["stringData"]


def _config(objects: list[dict]) -> dict[str, str]:
    return _by_kind(objects, "ConfigMap")["ibw-config"]["data"]


# --- Schema -------------------------------------------------------------------------


def test_every_rendered_object_validates_against_the_pinned_kubernetes_schema(rendered):
    assert len(rendered) >= 19
    for obj in rendered:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_the_optional_examples_validate_too():
    (secret,) = load_documents(K8S / "base" / "secret.example.yaml")
    kubernetes_validate.validate(secret, KUBERNETES_VERSION, strict=True)
    (scaled,) = load_documents(K8S / "base" / "keda-scaledobject.example.yaml")
    assert scaled["kind"] == "ScaledObject"  # a CRD: kubernetes-validate has no schema for it
    assert scaled["spec"]["scaleTargetRef"]["name"] == "ibw-worker-default"
    assert scaled["spec"]["triggers"][0]["metadata"]["listName"] == "default"


def test_the_validation_rejects_a_misspelt_field(production):
    """The schema check can fail: a typo in a probe is an error, not ignored."""
    web = copy.deepcopy(_by_kind(production, "Deployment")["ibw-web"])
    web["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/ready"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(web, KUBERNETES_VERSION, strict=True)


def test_the_plain_kubectl_order_selects_the_config_and_the_job_first(production):
    """README: `kubectl apply -l 'app.kubernetes.io/component in (config,migrate)'` before the rest."""
    first = [
        (o["kind"], o["metadata"]["name"])
        for o in production
        if o["metadata"].get("labels", {}).get("app.kubernetes.io/component") in {"config", "migrate"}
    ]
    assert first == [("ConfigMap", "ibw-config"), ("Job", "ibw-migrate")]
    assert "app.kubernetes.io/component in (config,migrate)" in (BASE_DIR / "README.md").read_text()
    waves = {
        (o["kind"], o["metadata"]["name"]): int(
            o["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", 0)
        )
        for o in production
    }
    assert waves[("ConfigMap", "ibw-config")] < waves[("Job", "ibw-migrate")]
    assert all(waves[("Job", "ibw-migrate")] < wave for (kind, _), wave in waves.items() if kind == "Deployment")


def test_production_overlay_pins_one_image_for_every_component_in_its_namespace(production):
    images = {container["image"] for _, container in _containers(production)}
    assert images == {"ghcr.io/ibw/ibw-backend:1.0.0"}
    assert {o["metadata"].get("namespace") for o in production} == {"ibw"}
    assert _by_kind(production, "HorizontalPodAutoscaler")["ibw-web"]["spec"]["minReplicas"] == 3
    assert _by_kind(production, "Deployment")["ibw-worker-default"]["spec"]["replicas"] == 2


def test_no_secret_value_is_rendered_and_every_pod_reads_the_config_and_the_secret(rendered):
    assert _by_kind(rendered, "Secret") == {}
    for where, container in _containers(rendered):
        sources = container["envFrom"]
        assert {"configMapRef": {"name": "ibw-config"}} in sources, where
        assert {"secretRef": {"name": "ibw-secrets"}} in sources, where
    base_kustomization = (K8S / "base" / "kustomization.yaml").read_text()
    assert "- secret.example.yaml" not in base_kustomization
    assert "- keda-scaledobject.example.yaml" not in base_kustomization
    assert all("<" in value for value in _example_secret().values())  # placeholders only


# --- Settings -----------------------------------------------------------------------

_PROBE = """
import json
import django
from django.conf import settings
django.setup()
print(json.dumps({
    "DEBUG": settings.DEBUG,
    "SECRET_KEY": settings.SECRET_KEY,
    "ENGINE": settings.DATABASES["default"]["ENGINE"],
    "REDIS_URL": settings.REDIS_URL,
    "EMBEDDED_REDIS": f"redis://127.0.0.1:{settings.EMBEDDED_REDIS_PORT}/0",
    "ALLOWED_HOSTS": settings.ALLOWED_HOSTS,
    "CSRF_TRUSTED_ORIGINS": settings.CSRF_TRUSTED_ORIGINS,
    "STORAGE": settings.STORAGES["default"]["BACKEND"],
    "BUCKET": settings.STORAGES["default"]["OPTIONS"].get("bucket_name"),
    "NUM_PROXIES": settings.NUM_PROXIES,
    "ADMIN_API_KEY": settings.ADMIN_API_KEY,
    "TELEGRAM_BOT_TOKEN": settings.TELEGRAM_BOT_TOKEN,
    "METRICS_TOKEN": settings.METRICS_TOKEN,
    "PUBLIC_BASE_URL": settings.PUBLIC_BASE_URL,
}))
"""


def _settings_with(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Load ibw.settings in a fresh process that sees only ``env`` (as a pod would)."""
    return subprocess.run(
        [sys.executable, "-c", _PROBE],
        cwd=BASE_DIR,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "ibw.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _pod_environment(objects: list[dict]) -> dict[str, str]:
    secret = {key: f"secret-{key.lower()}" for key in _example_secret()}
    secret["DATABASE_URL"] = "postgres://ibw:pw@postgres.ibw.svc:5432/ibw"
    secret["REDIS_URL"] = "redis://:pw@redis.ibw.svc:6379/0"
    return {**_config(objects), **secret}


def test_the_config_map_and_secret_give_the_app_every_setting_production_requires(production):
    loaded = _settings_with(_pod_environment(production))
    assert loaded.returncode == 0, loaded.stderr
    values = json.loads(loaded.stdout)
    hosts = {rule["host"] for ingress in _by_kind(production, "Ingress").values() for rule in ingress["spec"]["rules"]}

    assert values["DEBUG"] is False
    assert values["SECRET_KEY"] == "secret-secret_key"
    assert values["ENGINE"] == "django.db.backends.postgresql"
    assert values["REDIS_URL"] == "redis://:pw@redis.ibw.svc:6379/0" != values["EMBEDDED_REDIS"]
    assert hosts == {"api.ibw.example.org"}
    assert hosts <= set(values["ALLOWED_HOSTS"])
    assert values["CSRF_TRUSTED_ORIGINS"] == [f"https://{host}" for host in sorted(hosts)]
    assert values["PUBLIC_BASE_URL"] == "https://api.ibw.example.org"
    assert values["STORAGE"] == "storages.backends.s3.S3Storage"
    assert values["BUCKET"] == "ibw-media"
    assert values["NUM_PROXIES"] == 1  # ingress-nginx in front
    for key in ("ADMIN_API_KEY", "TELEGRAM_BOT_TOKEN", "METRICS_TOKEN"):
        assert values[key] == f"secret-{key.lower()}"


def test_without_the_secret_the_app_refuses_to_start(production):
    """The check above can fail: production settings without SECRET_KEY stop the process."""
    env = _pod_environment(production)
    del env["SECRET_KEY"]
    loaded = _settings_with(env)
    assert loaded.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off." in loaded.stderr


def _names_read_by_the_code() -> str:
    sources = [BASE_DIR / "ibw" / "settings.py", BASE_DIR / "ibw" / "daphne.py", BASE_DIR / "gunicorn.conf.py"]
    sources.append(BASE_DIR / "ibw" / "metrics.py")
    return "\n".join(path.read_text() for path in sources)


def test_every_variable_the_manifests_set_is_one_the_code_reads(rendered):
    """A misspelt key would be silently ignored by the app."""
    code = _names_read_by_the_code()
    names = set(_config(rendered)) | set(_example_secret())
    for _, container in _containers(rendered):
        names |= {item["name"] for item in container.get("env", [])}
    unread = sorted(name for name in names if not re.search(rf"[\"']{name}[\"']", code))
    assert unread == []


# --- Probes, services, ingress ----------------------------------------------------------


def test_probes_hit_health_and_ready_which_exist_in_the_urlconf(production):
    allowed = set(_config(production)["ALLOWED_HOSTS"].split(","))
    for name in ("ibw-web", "ibw-ws"):
        container = _by_kind(production, "Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        ports = {port["name"] for port in container["ports"]}
        probes = {kind: container[kind]["httpGet"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
        assert probes["readinessProbe"]["path"] == "/ready", name
        assert probes["livenessProbe"]["path"] == "/health", name
        assert probes["startupProbe"]["path"] == "/health", name
        for probe in probes.values():
            assert probe["port"] in ports
            # Django answers 400 to a Host it does not allow: the probe's Host must be allowed.
            assert {h["value"] for h in probe["httpHeaders"] if h["name"] == "Host"} <= allowed
    assert resolve("/ready").func is health.ready
    assert resolve("/health").func is health.health
    assert r"^ready$" in settings.SECURE_REDIRECT_EXEMPT  # plain-HTTP probes are not redirected
    assert r"^health$" in settings.SECURE_REDIRECT_EXEMPT


def test_ingress_sends_ws_to_daphne_with_long_timeouts_and_the_rest_to_gunicorn(production):
    ingresses = _by_kind(production, "Ingress")
    services = _by_kind(production, "Service")
    routes = {}
    for ingress in ingresses.values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                routes[path["path"]] = (ingress, path["backend"]["service"])
    assert set(routes) == {"/ws/", "/"}
    ws_ingress, ws_backend = routes["/ws/"]
    web_ingress, web_backend = routes["/"]
    assert ws_backend["name"] == "ibw-ws" and web_backend["name"] == "ibw-web"
    assert int(ws_ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(ws_ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    assert int(web_ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-read-timeout"]) < 3600
    for backend in (ws_backend, web_backend):
        service = services[backend["name"]]
        port = next(p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"])
        deployment = _by_kind(production, "Deployment")[backend["name"]]
        pod = deployment["spec"]["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        assert port["targetPort"] in {p["name"] for p in pod["spec"]["containers"][0]["ports"]}


def test_hpas_and_pdbs_point_at_real_deployments(production):
    deployments = _by_kind(production, "Deployment")
    hpas = _by_kind(production, "HorizontalPodAutoscaler")
    assert set(hpas) == {"ibw-web", "ibw-ws", "ibw-worker-critical", "ibw-worker-default", "ibw-worker-low"}
    for hpa in hpas.values():
        target = hpa["spec"]["scaleTargetRef"]
        assert target["kind"] == "Deployment" and target["name"] in deployments
        assert any(m["resource"]["name"] == "cpu" for m in hpa["spec"]["metrics"])
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    pdbs = _by_kind(production, "PodDisruptionBudget")
    assert set(pdbs) == {"ibw-web", "ibw-ws"}
    for name, pdb in pdbs.items():
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_ws_pods_get_time_to_drain_their_sockets(production):
    spec = _by_kind(production, "Deployment")["ibw-ws"]["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = {item["name"]: item["value"] for item in container["env"]}
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    drain = int(pre_stop[1]) + float(env["WS_DRAIN_GRACE_SECONDS"])
    assert 0 < float(env["WS_DRAIN_DELAY_SECONDS"]) < float(env["WS_DRAIN_GRACE_SECONDS"])
    assert spec["terminationGracePeriodSeconds"] > drain
    assert container["command"][:3] == ["python", "-m", "ibw.daphne"]  # the draining Daphne, not plain daphne
    # Sized from bench/RESULTS.md: at most 65 KiB per socket, 5,000 sockets, ~150 MiB for the process.
    limit_mib = int(container["resources"]["limits"]["memory"].removesuffix("Mi"))
    assert limit_mib >= 5000 * 65 / 1024 + 150
    for deployment in _by_kind(production, "Deployment").values():
        resources = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert resources["requests"]["memory"] and resources["limits"]["memory"], deployment["metadata"]["name"]


# --- Celery ---------------------------------------------------------------------------------


def _queues_of(command: list[str]) -> set[str]:
    return set(command[command.index("--queues") + 1].split(","))


def test_every_queue_has_its_own_consumer_deployment(production):
    declared = {queue.name for queue in settings.CELERY_TASK_QUEUES}
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()} | {settings.CELERY_TASK_DEFAULT_QUEUE}
    workers = {
        name: _deployment_command(production, name)
        for name in _by_kind(production, "Deployment")
        if _deployment_command(production, name)[:4] == ["celery", "-A", "ibw", "worker"]
    }
    assert routed <= declared == {"critical", "default", "low"}
    # Every worker names its queues (without --queues one would take all three).
    assert all("--queues" in command for command in workers.values())
    for queue in declared:
        consumers = [name for name, command in workers.items() if queue in _queues_of(command)]
        assert consumers == [f"ibw-worker-{queue}"], queue


def test_beat_runs_exactly_once(production):
    deployments = _by_kind(production, "Deployment")
    beats = [name for name in deployments if "beat" in _deployment_command(production, name)[3:4]]
    assert beats == ["ibw-beat"]
    beat = deployments["ibw-beat"]
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"] == {"type": "Recreate"}
    assert "ibw-beat" not in {
        h["spec"]["scaleTargetRef"]["name"] for h in _by_kind(production, "HorizontalPodAutoscaler").values()
    }


# --- Commands and the image ---------------------------------------------------------------------


def test_every_command_runs_an_entry_point_the_image_has(production):
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    requirements = (BASE_DIR / "requirements.txt").read_text().lower()
    assert "WORKDIR /app" in dockerfile and "COPY . ." in dockerfile  # the checkout is the working directory
    commands = {where: container["command"] for where, container in _containers(production)}
    assert len(commands) == 7
    for where, command in commands.items():
        program = command[0]
        if program == "gunicorn":
            assert (BASE_DIR / command[command.index("-c") + 1]).is_file(), where
            module, attribute = command[-1].split(":")
            assert attribute in importlib.import_module(module).__dict__, where
        elif program == "python" and command[1] == "-m":
            assert callable(importlib.import_module(command[2]).main), where
            module, attribute = command[-1].split(":")
            assert importlib.util.find_spec(module) is not None, where
        elif program == "python":
            assert (BASE_DIR / command[1]).is_file(), where
        elif program == "celery":
            assert command[1:3] == ["-A", "ibw"]
            assert importlib.import_module("ibw.celery").app.main == "ibw", where
        else:
            pytest.fail(f"{where}: unexpected program {program}")
        package = {"python": None, "gunicorn": "gunicorn==", "celery": "celery"}[program]
        assert package is None or package in requirements, where
    assert "daphne==" in requirements
