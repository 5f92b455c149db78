#!/usr/bin/env bash
# Self-test of the fake toolchain (fake_tool.py as kind, helm, kubectl, docker).
# Run: tests/fake-tools/selftest.sh        (exit 0 when every check passes)
set -u

HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin" "$WORK/state"
for t in kind helm kubectl docker; do ln -s "$HERE/fake_tool.py" "$WORK/bin/$t"; done
export PATH="$WORK/bin:$PATH" DESKRUN_FAKE_STATE="$WORK/state"
unset KUBECONFIG

PASS=0 FAIL=0
OUT="" ERR="" RC=0

# run CMD... : capture stdout/stderr/exit code (stdin passes through)
run() {
  "$@" >"$WORK/out" 2>"$WORK/err"
  RC=$?
  OUT=$(tr -d '\000' <"$WORK/out")
  ERR=$(cat "$WORK/err")
}
ok() { PASS=$((PASS + 1)); }
bad() { FAIL=$((FAIL + 1)); echo "FAIL: $*"; echo "  rc=$RC"; echo "  stdout: ${OUT:0:600}"; echo "  stderr: ${ERR:0:600}"; }
rc_is() { [ "$RC" = "$1" ] && ok || bad "$2 (want exit $1)"; }
out_has() { [[ "$OUT" == *"$1"* ]] && ok || bad "$2 (stdout lacks: $1)"; }
err_has() { [[ "$ERR" == *"$1"* ]] && ok || bad "$2 (stderr lacks: $1)"; }
json_check() { # json_check PYTHON-EXPR-ON-d DESC  (d = parsed stdout)
  if python3 -c "import json,sys; d=json.loads(sys.stdin.read()); sys.exit(0 if ($1) else 1)" <<<"$OUT"; then ok; else bad "$2 (json check: $1)"; fi
}
state_check() { # state_check PYTHON-EXPR-ON-s DESC  (s = state.json)
  if python3 -c "import json,sys; s=json.load(open('$WORK/state/state.json')); sys.exit(0 if ($1) else 1)"; then ok; else bad "$2 (state check: $1)"; fi
}

K="kubectl --context kind-deskrun"
H="--kube-context kind-deskrun"
OCI=oci://ghcr.io/actions/actions-runner-controller-charts
SS_BASE='githubConfigUrl: https://github.com/a/b
githubConfigSecret: {github_token: x}
labels: {deskrun.dev/managed: "true"}
annotations: {deskrun.dev/inputs-hash: abc}'
SS_VALUES="$SS_BASE
minRunners: 1
maxRunners: 3"
KIND_CFG="kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  extraMounts:
  - hostPath: $WORK/cache
    containerPath: $WORK/cache
    readOnly: false"

echo "== protocol"
DESKRUN_FAKE_STATE= run kind get clusters
rc_is 97 "no state dir"; err_has "DESKRUN_FAKE_STATE" "no state dir message"

echo "== versions"
run kind version; out_has "kind v0.27.0 go1.23.6 linux/amd64" "kind version"
run helm version --short; out_has "v3.16.2+g13654a5" "helm version --short"
run helm version; out_has 'version.BuildInfo{Version:"v3.16.2"' "helm version"
run helm version --template '{{.Version}}'; [ "$OUT" = "v3.16.2" ] && ok || bad "helm --template"
run kubectl version --client=true -o json; json_check 'd["clientVersion"]["gitVersion"]=="v1.33.1" and d["clientVersion"]["minor"]=="33"' "kubectl version json"
run docker version --format '{{.Server.Version}}'; [ "$OUT" = "28.2.2" ] && ok || bad "docker server version"
run docker version --format '{{.Client.Version}}'; [ "$OUT" = "28.2.2" ] && ok || bad "docker client version"

echo "== kind"
run kind get clusters; rc_is 0 "no clusters"; err_has "No kind clusters found." "no clusters message"; [ -z "$OUT" ] && ok || bad "no clusters stdout"
run kind create cluster --name deskrun --config - --wait 120s <<<"apiVersion: kind.x-k8s.io/v1alpha3
kind: Cluster"
rc_is 1 "old apiVersion refused"; err_has "ERROR: failed to create cluster: unknown apiVersion: kind.x-k8s.io/v1alpha3" "apiVersion message"
run kind create cluster --name deskrun --config - <<<"kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  extraMount: []"
rc_is 1 "unknown field refused"; err_has 'json: unknown field "extraMount"' "strict decoding"
run kind create cluster --name deskrun --config - <<<"kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
- role: control-plane
  extraMounts:
  - {hostPath: ./cache, containerPath: /cache}"
rc_is 1 "relative hostPath refused"; err_has 'includes invalid characters for a local volume name' "relative hostPath message"
run kind get clusters; [ -z "$OUT" ] && ok || bad "refused creates leave no cluster"
run kind create cluster --name deskrun --config - --wait 120s <<<"$KIND_CFG"
rc_is 0 "create cluster"; err_has 'Creating cluster "deskrun" ...' "create output"; err_has 'Set kubectl context to "kind-deskrun"' "create output context"
run kind create cluster --name deskrun --config - <<<"$KIND_CFG"
rc_is 1 "duplicate create"; err_has 'ERROR: failed to create cluster: node(s) already exist for a cluster with the name "deskrun"' "duplicate message"
run kind get clusters; [ "$OUT" = "deskrun" ] && ok || bad "get clusters lists deskrun"
run docker inspect --type container deskrun-control-plane
rc_is 0 "docker inspect"
json_check "d[0]['Name']=='/deskrun-control-plane' and d[0]['State']['Running'] and any(m['Source']=='$WORK/cache' and m['Destination']=='$WORK/cache' and m['Type']=='bind' and m['RW'] for m in d[0]['Mounts']) and d[0]['Config']['Labels']['io.x-k8s.kind.cluster']=='deskrun'" "inspect shape and mounts"
run docker inspect deskrun-control-plane --format '{{json .Mounts}}'; json_check "any(m['Destination']=='$WORK/cache' for m in d)" "inspect --format json .Mounts"
run docker inspect nope; rc_is 1 "inspect unknown"; [ "$OUT" = "[]" ] && ok || bad "inspect unknown prints []"; err_has "Error: No such object: nope" "inspect unknown message"
run $K get namespaces -o name; for ns in default kube-system kube-public local-path-storage; do out_has "namespace/$ns" "seed namespace $ns"; done
run $K get storageclass standard -o jsonpath='{.metadata.name}'; [ "$OUT" = "standard" ] && ok || bad "storageclass standard"
run kubectl config get-contexts -o name; [ "$OUT" = "kind-deskrun" ] && ok || bad "contexts"

echo "== missing context"
run kubectl get pods; rc_is 1 "kubectl without context"; err_has "The connection to the server localhost:8080 was refused - did you specify the right host or port?" "kubectl no context message"
run kubectl --context kind-nope get pods -n default; rc_is 1 "kubectl unknown context"; err_has 'error: context "kind-nope" does not exist' "kubectl unknown context message"
run helm list -o json; rc_is 1 "helm without context"; err_has "Error: Kubernetes cluster unreachable" "helm no context message"
run helm list --kube-context kind-nope; rc_is 1 "helm unknown context"; err_has 'Error: Kubernetes cluster unreachable: context "kind-nope" does not exist' "helm unknown context message"

echo "== helm: scale set before controller is refused"
run helm upgrade --install ci-1 $OCI/gha-runner-scale-set --version 0.14.2 -n arc-systems --create-namespace -f - $H <<<"$SS_VALUES"
rc_is 1 "scale set without controller"
err_has "Error: execution error at (gha-runner-scale-set/templates/manager_role_binding.yaml:42:11): No gha-rs-controller deployment found using label (app.kubernetes.io/part-of=gha-rs-controller)" "no controller message"
run helm list -A -o json $H; [ "$OUT" = "[]" ] && ok || bad "no release after refusal"

echo "== helm: controller"
run helm upgrade --install arc $OCI/gha-runner-scale-set-controller -n arc-systems $H -f - <<<"flags: {logLevel: info}"
rc_is 1 "namespace missing without --create-namespace"; err_has 'Error: create: failed to create: namespaces "arc-systems" not found' "namespace message"
run helm upgrade --install arc $OCI/gha-runner-scale-set-controller --version 9.9.9 -n arc-systems --create-namespace $H
rc_is 1 "unknown chart version"; err_has 'failed to perform "FetchReference" on source: ghcr.io/actions/actions-runner-controller-charts/gha-runner-scale-set-controller:9.9.9: not found' "unknown version message"
run helm upgrade --install arc $OCI/gha-runner-scale-set-controller --version 0.14.2 -n arc-systems --create-namespace --values - --labels deskrun.dev/managed=true --wait --timeout 300s $H <<<"flags: {logLevel: info}"
rc_is 0 "controller install"; out_has "STATUS: deployed" "controller status"
run $K get crd -o name
for c in autoscalingrunnersets autoscalinglisteners ephemeralrunnersets ephemeralrunners; do out_has "customresourcedefinition.apiextensions.k8s.io/$c.actions.github.com" "CRD $c"; done
run $K wait --for=condition=established --timeout=60s crd/autoscalingrunnersets.actions.github.com crd/ephemeralrunners.actions.github.com
rc_is 0 "wait CRDs"; out_has "customresourcedefinition.apiextensions.k8s.io/autoscalingrunnersets.actions.github.com condition met" "wait output"
run $K wait --for=condition=established --timeout=1s crd/nope.actions.github.com
rc_is 1 "wait missing CRD"; err_has 'Error from server (NotFound): customresourcedefinitions.apiextensions.k8s.io "nope.actions.github.com" not found' "wait missing message"
run $K get deployments -n arc-systems -l app.kubernetes.io/part-of=gha-rs-controller -o json
json_check 'd["items"][0]["metadata"]["name"]=="arc-gha-rs-controller"' "controller deployment"

echo "== helm: scale sets"
run helm upgrade --install ci-1 $OCI/gha-runner-scale-set --version 0.14.2 -n arc-systems --create-namespace --values - --labels deskrun.dev/managed=true,deskrun.dev/installation=ci --wait --timeout 300s $H <<<"$SS_VALUES"
rc_is 0 "scale set install"; out_has 'Release "ci-1" does not exist. Installing it now.' "install banner"
run helm list --namespace arc-systems --all --selector deskrun.dev/managed=true --output json $H
json_check 'sorted(r["name"] for r in d)==["arc","ci-1"] and all(set(r)=={"name","namespace","revision","updated","status","chart","app_version"} for r in d)' "list JSON keys"
json_check '[r for r in d if r["name"]=="ci-1"][0]["revision"]=="1" and [r for r in d if r["name"]=="ci-1"][0]["chart"]=="gha-runner-scale-set-0.14.2" and [r for r in d if r["name"]=="ci-1"][0]["updated"].endswith("+0000 UTC")' "list JSON values"
run helm list -n arc-systems --selector deskrun.dev/installation!=ci -o json $H; json_check '[r["name"] for r in d]==["arc"]' "list selector !="
run helm list -n arc-systems $H; out_has "NAME	NAMESPACE  	REVISION	UPDATED" "list table"
run $K get autoscalingrunnersets.actions.github.com,configmaps --namespace arc-systems --selector deskrun.dev/managed=true --output json
json_check 'd["kind"]=="List" and d["items"][0]["kind"]=="AutoscalingRunnerSet" and d["items"][0]["metadata"]["annotations"]["deskrun.dev/inputs-hash"]=="abc" and d["items"][0]["status"]["currentRunners"]==1 and d["items"][0]["spec"]["maxRunners"]==3 and d["items"][0]["metadata"]["labels"]["app.kubernetes.io/managed-by"]=="Helm"' "ARS object"
run $K get secret ci-1-gha-rs-github-secret -n arc-systems -o jsonpath='{.data.github_token}'; [ "$OUT" = "eA==" ] && ok || bad "github secret"
run $K get pods -n arc-systems -l app.kubernetes.io/component=runner-scale-set-listener -o json
json_check 'len(d["items"])==1 and d["items"][0]["metadata"]["name"].startswith("ci-1-") and d["items"][0]["metadata"]["name"].endswith("-listener") and d["items"][0]["status"]["phase"]=="Running" and d["items"][0]["metadata"]["labels"]["actions.github.com/scale-set-name"]=="ci-1"' "listener pod"
run helm upgrade --install ci-1 $OCI/gha-runner-scale-set --version 0.14.2 -n arc-systems -f - -o json $H <<<"$SS_BASE
maxRunners: 9"
rc_is 0 "upgrade"; json_check 'd["version"]==2 and d["info"]["status"]=="deployed" and d["info"]["description"]=="Upgrade complete" and d["config"]["maxRunners"]==9 and d["chart"]["metadata"]["version"]=="0.14.2" and d["namespace"]=="arc-systems"' "upgrade -o json"
run helm list -n arc-systems -a -l deskrun.dev/installation=ci -o json $H; json_check 'd[0]["revision"]=="2"' "labels kept across upgrade"
run helm status ci-1 -n arc-systems -o json $H; json_check 'd["info"]["status"]=="deployed" and d["info"]["deleted"]==""' "status -o json"
run helm upgrade ci-9 $OCI/gha-runner-scale-set -n arc-systems $H
rc_is 1 "upgrade without --install"; err_has 'Error: UPGRADE FAILED: "ci-9" has no deployed releases' "no deployed releases"
LONG=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
run helm upgrade --install $LONG $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"$SS_VALUES"
rc_is 1 "46-char scale set name"; err_has "autoscalingrunnerset.yaml:7:5): Name must have up to 45 characters" "name length message"
run helm upgrade --install bad $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"githubConfigUrl: [unclosed"
rc_is 1 "invalid values YAML"; err_has "Error: failed to parse -: error converting YAML to JSON: yaml: line" "values parse message"
run helm upgrade --install bad $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"- a list"
rc_is 1 "non-mapping values"; err_has "cannot unmarshal array into Go value of type map[string]interface {}" "non-mapping message"
run helm upgrade --install bad $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"githubConfigUrl: https://github.com/a/b
githubConfigSecret: {github_token: x}
minRunners: 5
maxRunners: 1"
rc_is 1 "min > max"; err_has "maxRunners has to be greater or equal to minRunners" "min>max message"
run helm upgrade --install Bad_Name $OCI/gha-runner-scale-set -n arc-systems $H
rc_is 1 "invalid release name"; err_has "Error: UPGRADE FAILED: release name is invalid: Bad_Name" "release name message"
run helm upgrade --install kube $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"githubConfigUrl: https://github.com/a/b
githubConfigSecret: {github_token: x}
containerMode: {type: kubernetes}"
rc_is 1 "kubernetes mode without claim"; err_has 'volumeClaimTemplate.spec: Required value' "claim message"
run helm list -n arc-systems -a -o json $H; json_check '[r["status"] for r in d if r["name"]=="kube"]==["failed"]' "API refusal leaves a failed release, like helm"
run helm uninstall kube -n arc-systems $H; rc_is 0 "uninstall failed release"

echo "== kubectl apply/get/delete"
CM='{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"hook","labels":{"deskrun.dev/managed":"true"}},"data":{"content":"x"}}'
run $K apply --namespace arc-systems -f - <<<"$CM"; rc_is 0 "apply"; [ "$OUT" = "configmap/hook created" ] && ok || bad "apply created"
run $K apply --namespace arc-systems -f - <<<"$CM"; [ "$OUT" = "configmap/hook unchanged" ] && ok || bad "apply unchanged"
run $K apply --namespace arc-systems -f - <<<"${CM/\"x\"/\"y\"}"; [ "$OUT" = "configmap/hook configured" ] && ok || bad "apply configured"
run $K apply -n nope -f - <<<"$CM"; rc_is 1 "apply into missing namespace"; err_has 'Error from server (NotFound): error when creating "STDIN": namespaces "nope" not found' "missing namespace message"
run $K apply -n arc-systems -f - <<<'{"apiVersion":"v1","kind":"Foo","metadata":{"name":"x"}}'
rc_is 1 "unknown kind"; err_has 'error: resource mapping not found for name: "x" namespace: "" from "STDIN": no matches for kind "Foo" in version "v1"' "unknown kind message"
run $K apply -n arc-systems -f - <<<'{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}'
rc_is 1 "no name"; err_has "resource name may not be empty" "no name message"
run $K get configmap hook -n arc-systems -o json; json_check 'd["data"]["content"]=="y" and d["metadata"]["uid"] and d["metadata"]["resourceVersion"] and d["metadata"]["creationTimestamp"]' "get object"
run $K get cm -n arc-systems -l 'deskrun.dev/managed,deskrun.dev/managed!=false' -o name; [ "$OUT" = "configmap/hook" ] && ok || bad "selector exists/!="
run $K get cm missing -n arc-systems; rc_is 1 "get missing"; err_has 'Error from server (NotFound): configmaps "missing" not found' "get missing message"
run $K get cm missing -n arc-systems --ignore-not-found; rc_is 0 "get --ignore-not-found"
run $K get autoscalingrunnersets --all-namespaces -o name; out_has "autoscalingrunnerset.actions.github.com/ci-1" "get -A ARS"
run $K delete configmap hook missing -n arc-systems; rc_is 1 "delete with a missing one"; out_has 'configmap "hook" deleted' "delete output"; err_has 'configmaps "missing" not found' "delete missing message"
run $K delete configmap hook --namespace arc-systems --ignore-not-found; rc_is 0 "delete --ignore-not-found"

echo "== helm uninstall"
run helm uninstall ci-1 -n arc-systems --wait --timeout 300s $H; rc_is 0 "uninstall"; out_has 'release "ci-1" uninstalled' "uninstall output"
run helm uninstall ci-1 -n arc-systems $H; rc_is 1 "uninstall missing"; err_has "Error: uninstall: Release not loaded: ci-1: release: not found" "uninstall missing message"
run helm uninstall ci-1 -n arc-systems --ignore-not-found $H; rc_is 0 "uninstall --ignore-not-found"
run $K get autoscalingrunnersets,secrets,pods -n arc-systems -o name; [[ "$OUT" != *ci-1* ]] && ok || bad "uninstall removed the scale set's objects"
run $K get crd -o name; out_has "autoscalingrunnersets.actions.github.com" "CRDs stay after uninstall"

echo "== faults"
echo '[{"tool":"helm","match":"upgrade --install f1","nth":2,"action":"fail","exit":3,"stderr":"Error: boom (injected)"}]' >"$WORK/state/faults.json"
run helm upgrade --install f1 $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"$SS_VALUES"; rc_is 0 "fault nth=2: first call passes"
run helm upgrade --install f1 $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"$SS_VALUES"; rc_is 3 "fault nth=2: second call fails"; err_has "Error: boom (injected)" "fault stderr"
run helm list -n arc-systems -o json $H; json_check '[r["revision"] for r in d if r["name"]=="f1"]==["1"]' "failed call changed nothing"
run helm upgrade --install f1 $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"$SS_VALUES"; rc_is 0 "fault nth=2: third call passes"
echo '[{"tool":"kubectl","match":"get","action":"garbage"}]' >"$WORK/state/faults.json"
run $K get cm -n arc-systems -o json; rc_is 0 "garbage exit 0"
if python3 -c "import json,sys; json.loads(open('$WORK/out').read())" 2>/dev/null; then bad "garbage parsed as JSON"; else ok; fi
echo '[{"tool":"kubectl","match":"","nth":0,"action":"fail"}]' >"$WORK/state/faults.json"
run $K get ns; rc_is 1 "nth 0 fails every call"; err_has "Error: injected failure" "default fault stderr"
run $K get ns; rc_is 1 "nth 0 fails every call (2)"
echo '[{"tool":"helm","match":"list","action":"hang"}]' >"$WORK/state/faults.json"
START=$(date +%s.%N)
helm list $H >/dev/null 2>&1 &
PID=$!
sleep 0.7; kill -TERM $PID; wait $PID; RC=$?
rc_is 143 "hang ends with 143 on SIGTERM"
python3 -c "import sys; sys.exit(0 if float('$(date +%s.%N)')-float('$START') < 5 else 1)" && ok || bad "hang killed promptly"
echo '[{"tool":"helm","match":"upgrade --install f1","action":"interrupt"}]' >"$WORK/state/faults.json"
helm upgrade --install f1 $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"$SS_VALUES" >/dev/null 2>&1 &
PID=$!
sleep 1; kill -TERM $PID; wait $PID
rm -f "$WORK/state/faults.json"
run helm list -n arc-systems -a -o json $H; json_check '[r["status"] for r in d if r["name"]=="f1"]==["pending-upgrade"]' "interrupted upgrade leaves pending-upgrade"
run helm upgrade --install f1 $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"$SS_VALUES"
rc_is 1 "upgrade on pending release"; err_has "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress" "pending message"
run helm rollback f1 -n arc-systems --wait $H; rc_is 0 "rollback"; out_has "Rollback was a success! Happy Helming!" "rollback output"
run helm list -n arc-systems -o json $H; json_check '[(r["status"],r["revision"]) for r in d if r["name"]=="f1"]==[("deployed","4")]' "rollback revision"

echo "== recording"
: >"$WORK/state/calls.jsonl"
GITHUB_TOKEN=tok-123 DESKRUN_CONFIG=/x/y MY_API_KEY=k run helm upgrade --install rec $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"$SS_VALUES"
run $K get ns -o name
python3 - "$WORK/state/calls.jsonl" <<'PY' && ok || bad "calls.jsonl records argv/stdin/env"
import json, sys
calls = [json.loads(l) for l in open(sys.argv[1])]
h, k = calls
assert h["tool"] == "helm" and h["argv"][:3] == ["upgrade", "--install", "rec"], h
assert "githubConfigUrl" in h["stdin"], h["stdin"]
assert h["env"]["GITHUB_TOKEN"] == "tok-123" and h["env"]["DESKRUN_CONFIG"] == "/x/y" and h["env"]["MY_API_KEY"] == "k", h["env"]
assert not any(e.startswith("DESKRUN_FAKE_") for e in h["env"]), h["env"]
assert k["tool"] == "kubectl" and k["stdin"] is None and k["seq"] == h["seq"] + 1, k
assert isinstance(h["start"], float)
PY

echo "== latency"
echo '{"latency_ms": {"default": 0, "helm upgrade": 1000}}' >"$WORK/state/config.json"
S=$(date +%s.%N); run helm upgrade --install lat $OCI/gha-runner-scale-set -n arc-systems -f - $H <<<"$SS_VALUES"; E=$(date +%s.%N)
rc_is 0 "latency upgrade"
python3 -c "import sys; sys.exit(0 if $E-$S >= 1.0 else 1)" && ok || bad "helm upgrade took >= 1s"
S=$(date +%s.%N); run helm list $H; E=$(date +%s.%N)
python3 -c "import sys; sys.exit(0 if $E-$S < 0.9 else 1)" && ok || bad "helm list not slowed"

echo "== concurrency"
echo '{"latency_ms": {"helm upgrade": 300}}' >"$WORK/state/config.json"
S=$(date +%s.%N)
for i in $(seq 1 10); do
  helm upgrade --install par-$i $OCI/gha-runner-scale-set -n arc-systems -f - --labels deskrun.dev/managed=true $H <<<"$SS_VALUES" >"$WORK/par-$i.out" 2>&1 &
done
wait
E=$(date +%s.%N)
rm -f "$WORK/state/config.json"
run helm list -n arc-systems -o json $H
json_check 'sorted(r["name"] for r in d if r["name"].startswith("par-"))==sorted("par-%d" % i for i in range(1,11)) and all(r["status"]=="deployed" for r in d)' "10 parallel installs all deployed"
# latency is slept outside the lock: the ten 300 ms waits overlap
python3 -c "
import json; st=[c['start'] for c in map(json.loads, open('$WORK/state/calls.jsonl')) if c['argv'][2:3] and c['argv'][2].startswith('par-')]
assert len(st)==10 and max(st)-min(st) < 2.7, st" && ok || bad "parallel calls overlapped in time"
python3 -c "
import json; seqs=[json.loads(l)['seq'] for l in open('$WORK/state/calls.jsonl')]; assert len(seqs)==len(set(seqs))" && ok || bad "unique seq numbers"
run $K get autoscalingrunnersets -n arc-systems -o name; [ "$(grep -c par- <<<"$OUT")" = 10 ] && ok || bad "10 runner sets"

echo "== finalizers: a scale set outliving its controller"
run helm uninstall arc -n arc-systems --wait $H; rc_is 0 "uninstall controller"
run helm uninstall par-1 -n arc-systems --wait --timeout 1s $H
rc_is 1 "uninstall without controller times out"; err_has "Error: uninstallation completed with 1 error(s): context deadline exceeded" "stuck uninstall message"
run $K get autoscalingrunnersets par-1 -n arc-systems -o json; json_check 'd["metadata"].get("deletionTimestamp")' "runner set stuck terminating"
run helm upgrade --install arc $OCI/gha-runner-scale-set-controller -n arc-systems $H; rc_is 0 "reinstall controller"
run $K get autoscalingrunnersets par-1 -n arc-systems --ignore-not-found -o name; [ -z "$OUT" ] && ok || bad "controller finished the deletion"

echo "== docker stop makes the API unreachable"
run docker stop deskrun-control-plane; out_has "deskrun-control-plane" "docker stop"
run helm list $H; rc_is 1 "helm with stopped node"; err_has "Kubernetes cluster unreachable" "stopped node message"
run docker inspect -f '{{.State.Running}}' deskrun-control-plane; [ "$OUT" = "false" ] && ok || bad "inspect State.Running"
run docker start deskrun-control-plane; run helm list $H; rc_is 0 "helm after docker start"

ARC_RENDER=$HERE/../../../shared/tools/arc-render
CHARTS=$HERE/../../../shared/fixtures/arc-charts/0.14.2
if [ -x "$ARC_RENDER" ] && [ -d "$CHARTS" ]; then
  echo "== render through the real Helm engine"
  echo "{\"arc_render\": \"$ARC_RENDER\", \"charts_dir\": \"$CHARTS\"}" >"$WORK/state/config.json"
  run helm upgrade --install real $OCI/gha-runner-scale-set --version 0.14.2 -n arc-systems -f - $H <<<'githubConfigUrl: https://github.com/a/b
githubConfigSecret: {github_token: x}'
  if [ "$RC" = 0 ]; then
    ok
    run $K get autoscalingrunnersets real -n arc-systems -o json
    json_check 'd["spec"]["githubConfigSecret"]=="real-gha-rs-github-secret" and d["spec"]["template"]["spec"]["serviceAccountName"]=="real-gha-rs-no-permission" and len(d["metadata"]["annotations"]["actions.github.com/values-hash"])==63' "rendered runner set"
    run $K get rolebinding real-gha-rs-manager -n arc-systems -o jsonpath='{.subjects[0].name}/{.subjects[0].namespace}'
    [ "$OUT" = "arc-gha-rs-controller/arc-systems" ] && ok || bad "rendered role binding names the live controller"
    run helm upgrade --install kube2 $OCI/gha-runner-scale-set --version 0.14.2 -n arc-systems -f - $H <<<'githubConfigUrl: https://github.com/a/b
githubConfigSecret: {github_token: x}
containerMode: {type: kubernetes}'
    rc_is 1 "rendered kubernetes mode without claim refused"; err_has "volumeClaimTemplate.spec: Required value" "rendered claim message"
    run helm upgrade --install $LONG $OCI/gha-runner-scale-set --version 0.14.2 -n arc-systems -f - $H <<<'githubConfigUrl: https://github.com/a/b
githubConfigSecret: {github_token: x}'
    rc_is 1 "rendered 46-char name refused"; err_has "Name must have up to 45 characters" "rendered name message"
  else
    echo "  (render-through unavailable: $ERR)"
  fi
  rm -f "$WORK/state/config.json"
fi

echo "== kind delete"
run kind delete cluster --name deskrun; rc_is 0 "delete"; err_has 'Deleting cluster "deskrun" ...' "delete output"
run kind get clusters; [ -z "$OUT" ] && ok || bad "deleted"
run docker inspect deskrun-control-plane; rc_is 1 "node container gone"
run kind delete cluster --name deskrun; rc_is 0 "delete absent cluster"

echo
echo "selftest: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ]
