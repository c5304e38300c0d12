"""The Helm chart, the manifests rendered from it, and the Dockerfile.

Rendered with the real Helm engine (target/deploy-tools, installed by
scripts/deploy-tools), checked against Kubernetes' own schemas, and held to
the contract the Kubernetes mode is written against (flags, ports, RBAC).
"""

import filecmp
import pathlib
import subprocess
import tempfile

import kubernetes_validate
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOOLS = ROOT / "target" / "deploy-tools"
HELM = str(TOOLS / "bin" / "helm")
KUBECTL = str(TOOLS / "bin" / "kubectl")
CHART = str(ROOT / "charts" / "vestibule")


def run(*args):
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def render(*sets, namespace="istio-system", release="vestibule"):
    args = [HELM, "template", release, CHART, "--namespace", namespace]
    for value in sets:
        args += ["--set", value]
    return [doc for doc in yaml.safe_load_all(run(*args)) if doc]


def one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def container(docs):
    (c,) = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    return c


def rule_set(rules):
    """Each rule as (group, resource, verb, names) triples, so that how
    rules are grouped does not matter but every grant does."""
    return {
        (group, resource, verb, tuple(rule.get("resourceNames", [])))
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def grants(groups_resources, verbs):
    return {(g, r, v, ()) for g, resources in groups_resources.items() for r in resources for v in verbs}


READ = ["get", "list", "watch"]
# The contract the Kubernetes mode is built to; a rule more or less fails.
CLUSTER_RULES = (
    grants(
        {
            "": ["namespaces", "services", "endpoints", "pods", "secrets", "configmaps"],
            "discovery.k8s.io": ["endpointslices"],
            "networking.k8s.io": ["ingresses", "ingressclasses"],
            "gateway.networking.k8s.io": [
                "gatewayclasses", "gateways", "httproutes", "grpcroutes",
                "tlsroutes", "tcproutes", "referencegrants", "backendtlspolicies",
            ],
            "networking.istio.io": ["gateways", "virtualservices", "destinationrules", "serviceentries"],
            "telemetry.istio.io": ["telemetries"],
        },
        READ,
    )
    | grants(
        {
            "gateway.networking.k8s.io": [
                "gatewayclasses/status", "gateways/status", "httproutes/status", "grpcroutes/status",
                "tlsroutes/status", "tcproutes/status", "backendtlspolicies/status",
            ],
            "networking.k8s.io": ["ingresses/status"],
        },
        ["patch", "update"],
    )
    | grants({"": ["events"], "events.k8s.io": ["events"]}, ["create", "patch"])
)
LEASE_RULES = {("coordination.k8s.io", "leases", "create", ())} | {
    ("coordination.k8s.io", "leases", verb, ("vestibule-status-leader",)) for verb in ["get", "update", "patch"]
}
DEPLOY_RULES = (
    grants({"apps": ["deployments"], "": ["services", "serviceaccounts"]}, ["get", "create", "patch"])
    | grants({"rbac.authorization.k8s.io": ["clusterrolebindings"]}, ["create"])
    | {("rbac.authorization.k8s.io", "clusterrolebindings", verb, ("vestibule-gateway",)) for verb in ["get", "patch"]}
    | {("rbac.authorization.k8s.io", "clusterroles", "bind", ("vestibule-gateway",))}
)


@pytest.fixture(scope="module")
def defaults():
    return render()


def test_deploy_folder_is_what_the_chart_renders():
    with tempfile.TemporaryDirectory() as out:
        run(str(ROOT / "scripts" / "render-deploy"), out)
        compared = filecmp.dircmp(out, ROOT / "deploy")
        assert not compared.left_only and not compared.right_only, (
            "deploy/ and the chart hold different files: run scripts/render-deploy")
        _, mismatch, errors = filecmp.cmpfiles(out, ROOT / "deploy", compared.common_files, shallow=False)
        assert not mismatch and not errors, f"stale in deploy/: {mismatch + errors}: run scripts/render-deploy"


def test_deploy_folder_builds_with_kustomize():
    docs = [d for d in yaml.safe_load_all(run(KUBECTL, "kustomize", str(ROOT / "deploy"))) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted([
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
        "Deployment", "Service", "PodDisruptionBudget",
    ])
    assert all(d["metadata"].get("namespace") in (None, "istio-system") for d in docs)


EVERYTHING_ON = ["autoscaling.enabled=true", "ingressClass.create=true", "gatewayClass.create=true",
                 "deployGateways=true", "service.externalTrafficPolicy=Local",
                 "service.loadBalancerSourceRanges={10.0.0.0/8}", "imagePullSecrets[0].name=pull",
                 "env.RUST_LOG=debug", "extraArgs={--idle-timeout=10m}"]


@pytest.mark.parametrize("kubernetes", ["1.25.0", "1.37.0"])
@pytest.mark.parametrize("sets", [[], EVERYTHING_ON], ids=["defaults", "everything-on"])
def test_manifests_meet_the_kubernetes_schemas(kubernetes, sets):
    docs = render(*sets)
    for doc in docs:
        if doc["apiVersion"].startswith("gateway.networking.k8s.io/"):
            continue  # a CRD: no schema in Kubernetes' own
        problem = None
        try:
            kubernetes_validate.validate(doc, kubernetes, strict=True)
        except kubernetes_validate.ValidationError as error:  # whose str() is the whole schema
            problem = f"{doc['kind']} {doc['metadata']['name']}: {'.'.join(map(str, error.path))}: {error.message}"
        assert problem is None, problem
    if sets:
        assert one(docs, "GatewayClass")["spec"] == {"controllerName": "vestibule.io/gateway-controller"}


def test_helm_lint_and_the_values_schema():
    run(HELM, "lint", "--strict", CHART)
    for bad in ["replicaCountt=3", "service.type=Internal", "service.ports[0].port=http"]:
        done = subprocess.run([HELM, "template", "x", CHART, "--set", bad], capture_output=True, text=True)
        assert done.returncode != 0 and "schema" in done.stderr, f"{bad} was accepted"


def test_rbac_is_exactly_the_contract(defaults):
    cluster = one(defaults, "ClusterRole", "vestibule")
    assert rule_set(cluster["rules"]) == CLUSTER_RULES
    role = one(defaults, "Role")
    assert role["metadata"]["namespace"] == "istio-system"
    assert rule_set(role["rules"]) == LEASE_RULES
    assert [d for d in defaults if d["kind"] == "ClusterRole"] == [cluster], "deploy-gateways rights granted by default"
    account = {"kind": "ServiceAccount", "name": "vestibule", "namespace": "istio-system"}
    for kind, role_kind, name in [("ClusterRoleBinding", "ClusterRole", "vestibule"),
                                  ("RoleBinding", "Role", role["metadata"]["name"])]:
        binding = one(defaults, kind)
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name}
        assert binding["subjects"] == [account]
    assert one(defaults, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "vestibule"


def test_runs_as_non_root_with_nothing_to_escalate(defaults):
    pod = one(defaults, "Deployment")["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container(defaults)["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert all(p["containerPort"] >= 1024 for p in container(defaults)["ports"]), "non-root cannot bind it"


def test_probes_and_metrics_on_the_status_port(defaults):
    c = container(defaults)
    assert c["readinessProbe"]["httpGet"] == {"path": "/healthz/ready", "port": 15021}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz/live", "port": 15021}
    assert {"name": "status-port", "containerPort": 15021, "protocol": "TCP"} in c["ports"]
    assert "--status=0.0.0.0:15021" in c["args"]
    assert "--admin=127.0.0.1:15000" in c["args"]
    annotations = one(defaults, "Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": "15021",
                           "prometheus.io/path": "/stats/prometheus"}


def test_service_is_istios_ingressgateway(defaults):
    service = one(defaults, "Service")
    assert service["metadata"]["name"] == "istio-ingressgateway"
    assert service["spec"]["type"] == "LoadBalancer"
    ports = {p["name"]: (p["port"], p["targetPort"]) for p in service["spec"]["ports"]}
    assert ports == {"status-port": (15021, 15021), "http2": (80, 8080), "https": (443, 8443)}
    pod_labels = one(defaults, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {p["containerPort"] for p in container(defaults)["ports"]}
    assert {target for _, target in ports.values()} <= container_ports


def test_arguments_follow_the_kubernetes_mode_contract(defaults):
    c = container(defaults)
    assert c["args"] == [
        "serve", "--kubernetes", "--namespace=$(POD_NAMESPACE)", "--pod-name=$(POD_NAME)",
        "--labels=app=istio-ingressgateway,istio=ingressgateway",
        "--gateway-service=$(POD_NAMESPACE)/istio-ingressgateway",
        "--port-map=80=8080", "--port-map=443=8443",
        "--status=0.0.0.0:15021", "--admin=127.0.0.1:15000", "--shutdown-delay=5s",
        "--drain-timeout=30s",
    ]
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in c["env"]}
    assert env == {"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}
    assert c["image"] == "vestibule:0.1.0"


def test_drain_fits_in_the_grace_period(defaults):
    pod = one(defaults, "Deployment")["spec"]["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] == 50
    assert "lifecycle" not in pod["containers"][0], "no preStop: vestibule fails readiness itself"
    longer = render("drainTimeoutSeconds=60")
    assert one(longer, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 80
    assert "--drain-timeout=60s" in container(longer)["args"]
    delayed = render("shutdownDelaySeconds=10")
    assert one(delayed, "Deployment")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 55
    assert "--shutdown-delay=10s" in container(delayed)["args"]


def test_pods_carry_the_labels_the_seeds_select(defaults):
    labels = one(defaults, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert labels["app"] == "istio-ingressgateway" and labels["istio"] == "ingressgateway"
    assert labels["app.kubernetes.io/name"] == "vestibule"
    assert labels["app.kubernetes.io/instance"] == "vestibule"
    selectors = [
        doc["spec"]["selector"]
        for path in sorted((ROOT / "examples").glob("*/*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "Gateway" and doc["apiVersion"].startswith("networking.istio.io/")
    ]
    assert selectors, "no Istio Gateway in examples/"
    for selector in selectors:
        assert selector.items() <= labels.items(), selector


def test_disruption_budget_and_spreading(defaults):
    selector = one(defaults, "Deployment")["spec"]["selector"]["matchLabels"]
    budget = one(defaults, "PodDisruptionBudget")
    assert budget["spec"] == {"selector": {"matchLabels": selector}, "minAvailable": 1}
    assert one(defaults, "Deployment")["spec"]["replicas"] == 2
    spread = one(defaults, "Deployment")["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {s["topologyKey"] for s in spread} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    assert all(s["whenUnsatisfiable"] == "ScheduleAnyway" and s["labelSelector"] == {"matchLabels": selector}
               for s in spread)
    assert not any(d["kind"] == "PodDisruptionBudget" for d in render("podDisruptionBudget.enabled=false"))
    other = render("podDisruptionBudget.minAvailable=null", "podDisruptionBudget.maxUnavailable=1")
    assert one(other, "PodDisruptionBudget")["spec"] == {"selector": {"matchLabels": selector}, "maxUnavailable": 1}


def test_overrides():
    docs = render("replicaCount=3", "service.type=NodePort", "service.name=edge",
                  "service.annotations.a=b", "labels.istio=edge", "podLabels.team=net")
    deployment = one(docs, "Deployment")
    assert deployment["spec"]["replicas"] == 3
    service = one(docs, "Service")
    assert (service["metadata"]["name"], service["spec"]["type"]) == ("edge", "NodePort")
    assert service["metadata"]["annotations"] == {"a": "b"}
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert (labels["istio"], labels["team"]) == ("edge", "net")
    assert "--labels=app=istio-ingressgateway,istio=edge" in container(docs)["args"]
    assert "--gateway-service=$(POD_NAMESPACE)/edge" in container(docs)["args"]


def test_deploy_gateways_adds_its_cluster_role_and_flag():
    docs = render("deployGateways=true")
    assert container(docs)["args"][-3:] == [
        "--deploy-image=vestibule:" + yaml.safe_load(pathlib.Path(CHART, "Chart.yaml").read_text())["appVersion"],
        "--deploy-reader-role=vestibule-gateway",
        "--deploy-gateways",
    ]
    # What the deployed pods may do: read, as the gateway reads; no writes.
    reader = one(docs, "ClusterRole", "vestibule-gateway")
    assert rule_set(reader["rules"]) == {rule for rule in CLUSTER_RULES if rule[2] in READ}
    role = one(docs, "ClusterRole", "vestibule-deploy-gateways")
    assert rule_set(role["rules"]) == DEPLOY_RULES
    binding = one(docs, "ClusterRoleBinding", "vestibule-deploy-gateways")
    assert binding["roleRef"]["name"] == "vestibule-deploy-gateways"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "vestibule", "namespace": "istio-system"}]
    assert rule_set(one(docs, "ClusterRole", "vestibule")["rules"]) == CLUSTER_RULES


def test_autoscaling_replaces_the_replica_count():
    docs = render("autoscaling.enabled=true")
    assert "replicas" not in one(docs, "Deployment")["spec"]
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "vestibule"}
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 5)
    assert not any(d["kind"] == "HorizontalPodAutoscaler" for d in render())


def test_optional_objects():
    docs = render("rbac.create=false", "serviceAccount.create=false", "serviceAccount.name=gw")
    assert not {d["kind"] for d in docs} & {"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
                                             "ServiceAccount"}
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["serviceAccountName"] == "gw"
    docs = render("ingressClass.create=true")
    assert one(docs, "IngressClass")["spec"] == {"controller": "istio.io/ingress-controller"}
    assert one(docs, "IngressClass")["metadata"]["name"] == "istio"
    assert not {d["kind"] for d in render()} & {"IngressClass", "GatewayClass"}


def test_another_release_and_namespace():
    docs = render(release="edge", namespace="gateways")
    assert one(docs, "Deployment")["metadata"]["name"] == "edge-vestibule"
    assert {d["metadata"]["namespace"] for d in docs if "namespace" in d["metadata"]} == {"gateways"}
    assert one(docs, "ClusterRoleBinding")["subjects"][0] == {
        "kind": "ServiceAccount", "name": "edge-vestibule", "namespace": "gateways"}


@pytest.mark.parametrize("service_type,port_field", [("LoadBalancer", "port"), ("NodePort", "nodePort")])
def test_notes_tell_how_to_reach_the_gateway(service_type, port_field):
    notes = run(HELM, "install", "vestibule", CHART, "--namespace", "istio-system", "--dry-run=client",
                "--set", f"service.type={service_type}").split("NOTES:", 1)[1]
    assert "export INGRESS_NAME=istio-ingressgateway" in notes
    assert "export INGRESS_NS=istio-system" in notes
    assert f"""-o jsonpath='{{.spec.ports[?(@.name=="http2")].{port_field}}}')""" in notes
    assert 'curl -s -I -HHost:httpbin.example.com "http://$INGRESS_HOST:$INGRESS_PORT/status/200"' in notes


def test_dockerfile():
    run(str(TOOLS / "venv" / "bin" / "hadolint"), "--failure-threshold", "style", "Dockerfile")
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines()
             if line and not line.startswith("#")]
    stages = [line for line in lines if line.startswith("FROM ")]
    assert stages[0].startswith("FROM rust:1-bookworm AS ")
    assert stages[-1] == "FROM gcr.io/distroless/cc-debian12:nonroot"
    final = lines[lines.index(stages[-1]):]
    assert "USER 65532:65532" in final
    assert 'ENTRYPOINT ["/vestibule"]' in final
    assert 'CMD ["serve", "--kubernetes"]' in final
    assert "EXPOSE 8080 8443 15021" in final
    assert any("cargo build --release --locked -p vestibule" in line for line in lines)
    ignored = (ROOT / ".dockerignore").read_text().splitlines()
    assert "**/target/" in ignored and "*" in ignored
