"""Rules for pvflow's Kubernetes manifests that the API schemas cannot express.

Run by scripts/validate-deploy.sh on rendered manifests (YAML, several documents):

    python validate_deploy_rules.py RENDERED.yaml FARGATE(0|1)

Prints each problem and exits 1 if there is any. The rules are what k8s/README.md promises:
every pod non-root with a read-only root filesystem and no privilege escalation, sized
(requests, memory limit), probed (Deployments), in the pvflow namespace, referring only to
objects that exist; and for Fargate (FARGATE=1) no hostPath volumes.
"""

import sys

import yaml  # PyYAML, a dependency of kubernetes-validate

CLUSTER_SCOPED = {"Namespace", "PersistentVolume"}
WORKLOADS = {"Deployment", "CronJob", "Job"}


def name_of(doc):
    meta = doc["metadata"]
    return meta.get("name") or meta.get("generateName", "?")


def main(path, fargate):
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    problems = []
    names = {}
    for d in docs:
        names.setdefault(d["kind"], set()).add(name_of(d))
        if d["kind"] not in CLUSTER_SCOPED and d["metadata"].get("namespace") != "pvflow":
            problems.append(f"{d['kind']}/{name_of(d)}: not in namespace pvflow")

    def exists(kind, name, where):
        if name not in names.get(kind, set()):
            problems.append(f"{where}: refers to {kind} {name}, which is not rendered")

    for d in docs:
        kind, where = d["kind"], f"{d['kind']}/{name_of(d)}"
        if kind == "HorizontalPodAutoscaler":
            ref = d["spec"]["scaleTargetRef"]
            exists(ref["kind"], ref["name"], where)
        if kind not in WORKLOADS:
            continue
        spec = d["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else d["spec"]
        pod = spec["template"]["spec"]

        exists("ServiceAccount", pod.get("serviceAccountName", "default"), where)
        for v in pod.get("volumes", []):
            if "configMap" in v:
                exists("ConfigMap", v["configMap"]["name"], where)
            if "persistentVolumeClaim" in v:
                exists("PersistentVolumeClaim", v["persistentVolumeClaim"]["claimName"], where)
            if fargate and "hostPath" in v:
                problems.append(f"{where}: hostPath volume {v['name']} (Fargate has none)")

        if pod.get("securityContext", {}).get("runAsNonRoot") is not True:
            problems.append(f"{where}: pod securityContext.runAsNonRoot is not true")
        if pod.get("automountServiceAccountToken") is not False:
            problems.append(f"{where}: automountServiceAccountToken is not false")

        for c in pod.get("initContainers", []) + pod["containers"]:
            cw = f"{where} container {c['name']}"
            for source in c.get("envFrom", []):
                ref = source.get("configMapRef")
                if ref and not ref.get("optional"):
                    exists("ConfigMap", ref["name"], cw)
            sc = c.get("securityContext", {})
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{cw}: readOnlyRootFilesystem is not true")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{cw}: allowPrivilegeEscalation is not false")
            if "ALL" not in sc.get("capabilities", {}).get("drop", []):
                problems.append(f"{cw}: capabilities do not drop ALL")
            resources = c.get("resources", {})
            for k in ("cpu", "memory"):
                if k not in resources.get("requests", {}):
                    problems.append(f"{cw}: no {k} request")
            if "memory" not in resources.get("limits", {}):
                problems.append(f"{cw}: no memory limit")
            if kind == "Deployment":
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in c:
                        problems.append(f"{cw}: no {probe}")

    if not any(d["kind"] in WORKLOADS for d in docs):
        problems.append("no workload (Deployment, CronJob, Job) rendered")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2] == "1"))
