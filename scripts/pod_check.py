"""The DaemonSet's pod, run as its manifest says, without Kubernetes.

`scripts/pod-check` stages the image's root filesystem (the one
deploy/image/Containerfile.prebuilt copies) and runs this inside a network
namespace of its own. Every value used comes from the manifests:
deploy/kubernetes/daemonset.yaml (command and args, env with the downward
API and $(VAR) references, volumes and their mounts, the user, group and
fsGroup, the read-only root, dropped capabilities, ports, probes, the
preStop hook, the grace period), nats.yaml (the Service name the NATS URL
names) and app-hello.yaml (the app the pod serves), and the image's ENV,
USER and ENTRYPOINT from the Containerfile. A value that drifts from what
the host does (a probe on a port nothing serves, a mount the host cannot
write, root as the user) fails the check, in one line naming it.

What stands in for the kubelet: unshare (mount and PID namespaces), bind
mounts (volumes, the kubelet's /etc/hosts, /proc, a minimal /dev), a
read-only bind of the root, chroot with the pod's uid, gid and fsGroup,
no_new_privs and an emptied capability bounding set (but for CAP_SYS_CHROOT,
CAP_SETUID and CAP_SETGID, which chroot needs to get in and which the
host's process no longer holds once it runs as its user). What is not
here: cgroups (the resource limits), seccomp's RuntimeDefault profile,
the container runtime's own overlay, and the kubelet's probe scheduling
(the probes are polled with their manifest's period and threshold as the
deadline).
"""

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

NODE_NAME = "pod-check-node"
REGISTRY = "127.0.0.1:5000"


class CheckFailed(Exception):
    """One line: what failed, named."""


def say(text):
    print(f"pod check: {text}", flush=True)


def documents(path):
    with open(path, encoding="utf-8") as file:
        return [d for d in yaml.safe_load_all(file) if d]


def one(path, kind, name=None):
    for document in documents(path):
        if document.get("kind") == kind and (name is None or document["metadata"]["name"] == name):
            return document
    raise CheckFailed(f"{path}: no {kind}{' ' + name if name else ''}")


def image_config(containerfile):
    """ENV, USER and ENTRYPOINT of the image, as the Containerfile sets them."""
    text = Path(containerfile).read_text(encoding="utf-8").replace("\\\n", " ")
    env, user, entrypoint = {}, None, None
    for line in text.splitlines():
        words = line.strip().split(None, 1)
        if len(words) != 2:
            continue
        keyword, rest = words[0].upper(), words[1]
        if keyword == "ENV":
            for pair in re.findall(r'(\w+)=("[^"]*"|\S+)', rest):
                env[pair[0]] = pair[1].strip('"')
        elif keyword == "USER":
            user = rest.strip()
        elif keyword == "ENTRYPOINT":
            entrypoint = json.loads(rest)
    if entrypoint is None:
        raise CheckFailed(f"{containerfile}: no ENTRYPOINT")
    return env, user, entrypoint


def expand(value, env):
    """Kubernetes' $(VAR) references, from the variables defined before."""
    return re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), value)


def container_env(container, image_env, pod_labels, secrets):
    env = dict(image_env)
    for item in container.get("env", []):
        name = item["name"]
        if "value" in item:
            env[name] = expand(item["value"], env)
            continue
        source = item.get("valueFrom", {})
        if "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            label = re.fullmatch(r"metadata\.labels\['(.+)'\]", path)
            if path == "spec.nodeName":
                env[name] = NODE_NAME
            elif label:
                env[name] = pod_labels.get(label.group(1), "")
            else:
                raise CheckFailed(f"env {name}: fieldRef {path} is not one this check knows")
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = secrets.get(ref["name"], {}).get(ref["key"])
            if value is None and not ref.get("optional"):
                raise CheckFailed(f"env {name}: Secret {ref['name']} has no key {ref['key']}")
            if value is not None:
                env[name] = value
        else:
            raise CheckFailed(f"env {name}: neither a value nor a fieldRef or secretKeyRef")
    return env


def write_secret_file(path, data, mode, group):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chown(path, 0, group)
    os.chmod(path, mode)


def make_volume(volume, into, secrets, fs_group):
    """The volume's files in `into`, as the kubelet would make them."""
    into.mkdir(parents=True)
    os.chown(into, 0, fs_group)
    if "emptyDir" in volume:
        # Writable by the pod's user through fsGroup, setgid like the kubelet's.
        os.chmod(into, 0o2777)
        return
    os.chmod(into, 0o755)
    sources = []
    if "projected" in volume:
        mode = volume["projected"].get("defaultMode", 0o644)
        sources = [(s["secret"], mode) for s in volume["projected"]["sources"] if "secret" in s]
    elif "secret" in volume:
        secret = dict(volume["secret"])
        secret["name"] = secret.get("secretName")
        sources = [(secret, volume["secret"].get("defaultMode", 0o644))]
    else:
        raise CheckFailed(f"volume {volume['name']}: a kind this check does not make")
    for secret, mode in sources:
        data = secrets.get(secret["name"])
        if data is None:
            if secret.get("optional"):
                continue
            raise CheckFailed(f"volume {volume['name']}: Secret {secret['name']} is missing and not optional")
        items = secret.get("items") or [{"key": k, "path": k} for k in data]
        for item in items:
            if item["key"] not in data:
                raise CheckFailed(f"volume {volume['name']}: Secret {secret['name']} has no key {item['key']}")
            write_secret_file(into / item["path"], data[item["key"]], mode, fs_group)


def in_image(rootfs, path, program):
    """Where `program` is in the image, as its PATH finds it; None if not."""
    if "/" in program:
        return program if (rootfs / program.lstrip("/")).is_file() else None
    for folder in path.split(":"):
        if (rootfs / folder.lstrip("/") / program).is_file():
            return f"{folder}/{program}"
    return None


def port_number(container, port):
    if isinstance(port, int):
        return port
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return declared["containerPort"]
    raise CheckFailed(f"container {container['name']}: no port named {port}")


def http_get(url, timeout=3):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
        return None, str(error)


def probe(container, name, pod_process, want=200, extra_deadline=0):
    spec = container.get(name)
    if not spec:
        raise CheckFailed(f"container {container['name']}: no {name}")
    get = spec["httpGet"]
    port = port_number(container, get["port"])
    url = f"http://127.0.0.1:{port}{get['path']}"
    period = spec.get("periodSeconds", 10)
    deadline = time.monotonic() + period * spec.get("failureThreshold", 3) + extra_deadline
    last = None
    while time.monotonic() < deadline:
        if pod_process.poll() is not None:
            raise CheckFailed(f"the pod's process exited ({pod_process.returncode}) before its {name} passed")
        status, body = http_get(url, timeout=spec.get("timeoutSeconds", 1))
        if status == want:
            return url
        last = f"{status} {body.strip()[:120]}" if status else body
        time.sleep(min(period, 1))
    raise CheckFailed(f"{name} GET {url} (port {get['port']}) never answered {want} within its threshold: last {last}")


def run(command, **kwargs):
    result = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)
    if result.returncode != 0:
        raise CheckFailed(f"{' '.join(map(str, command[:4]))} failed: {result.stderr.strip()[-300:]}")
    return result.stdout


def wait_for_port(port, what, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as connection:
            if connection.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise CheckFailed(f"{what} did not listen on {port}")


def host_process(launcher_pid):
    """The pod's process: the launcher's last descendant (PID 1 inside)."""
    pid = launcher_pid
    while True:
        children = Path(f"/proc/{pid}/task/{pid}/children")
        try:
            kids = children.read_text().split()
        except OSError:
            return None
        if not kids:
            return pid
        pid = int(kids[0])


def status_of(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rootfs", required=True, type=Path)
    parser.add_argument("--work", required=True, type=Path)
    parser.add_argument("--daemonset", required=True)
    parser.add_argument("--nats-manifest", required=True)
    parser.add_argument("--app-manifest", required=True)
    parser.add_argument("--containerfile", required=True)
    parser.add_argument("--nats-server", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--lattice-ctl", required=True)
    parser.add_argument("--hello", required=True)
    args = parser.parse_args()
    children = []
    try:
        check(args, children)
    except CheckFailed as failure:
        log = args.work / "pod.log"
        if log.exists():
            # Its warnings and errors, each once, then its last lines.
            lines = log.read_text(errors="replace").splitlines()
            seen, notable = set(), []
            for line in lines:
                if '"WARN"' in line or '"ERROR"' in line or line.startswith(("error", "warning")):
                    key = re.sub(r'"timestamp":"[^"]*",', "", line)
                    if key not in seen:
                        seen.add(key)
                        notable.append(line)
            print("the pod's warnings and errors, then its last lines:", file=sys.stderr)
            print("\n".join(notable[-8:] + lines[-3:]), file=sys.stderr)
        print(f"pod check failed: {failure}", file=sys.stderr)
        return 1
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return 0


def check(args, children):
    work = args.work
    daemonset = one(args.daemonset, "DaemonSet")
    pod = daemonset["spec"]["template"]
    spec = pod["spec"]
    container = next((c for c in spec["containers"] if c["name"] == "host"), None)
    if container is None:
        raise CheckFailed(f"{args.daemonset}: no container named host")
    image_env, image_user, entrypoint = image_config(args.containerfile)

    # Who the process is: the container's securityContext over the pod's
    # over the image's USER.
    pod_security = spec.get("securityContext", {})
    security = container.get("securityContext", {})
    image_uid, _, image_gid = (image_user or "0").partition(":")
    uid = security.get("runAsUser", pod_security.get("runAsUser", int(image_uid)))
    gid = security.get("runAsGroup", pod_security.get("runAsGroup", int(image_gid or 0)))
    fs_group = pod_security.get("fsGroup", gid)
    if (security.get("runAsNonRoot") or pod_security.get("runAsNonRoot")) and uid == 0:
        raise CheckFailed("runAsNonRoot is set but the container would run as uid 0: the kubelet refuses to start it")
    read_only_root = security.get("readOnlyRootFilesystem", False)
    dropped = security.get("capabilities", {}).get("drop", [])
    if security.get("allowPrivilegeEscalation", True):
        raise CheckFailed("allowPrivilegeEscalation is not false")

    # The Secrets, as README.md beside the manifests says to make them.
    cluster_seed = work / "cluster.nk"
    run([args.lattice_ctl, "keys", "gen", "cluster", "--seed-file", str(cluster_seed)])
    secrets = {
        "lattice-cluster": {"cluster.nk": cluster_seed.read_bytes()},
        "lattice-registry": {".dockerconfigjson": b'{"auths": {}}'},
    }
    env = container_env(container, image_env, pod["metadata"].get("labels", {}), secrets)
    # The one value not in the manifests: this registry speaks plain HTTP.
    env["LATTICE_INSECURE_REGISTRIES"] = REGISTRY
    env["HOSTNAME"] = "lattice-host-pod"

    # NATS where the URL says, under the name of nats.yaml's Service.
    nats_url = env.get("LATTICE_NATS_URL")
    if not nats_url:
        raise CheckFailed("the container sets no LATTICE_NATS_URL")
    match = re.fullmatch(r"nats://([\w.-]+):(\d+)", nats_url)
    if not match:
        raise CheckFailed(f"LATTICE_NATS_URL {nats_url}: not nats://NAME:PORT")
    nats_name, nats_port = match.group(1), int(match.group(2))
    service = one(args.nats_manifest, "Service")["metadata"]["name"]
    if nats_name.split(".")[0] != service:
        raise CheckFailed(f"LATTICE_NATS_URL names {nats_name}, but nats.yaml's Service is {service}")
    children.append(
        subprocess.Popen(
            [args.nats_server, "-js", "-a", "127.0.0.1", "-p", str(nats_port), "-sd", str(work / "nats")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    wait_for_port(nats_port, "nats-server")
    registry_config = work / "registry.yml"
    registry_config.write_text(
        "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n"
        % (work / "registry", REGISTRY)
    )
    children.append(
        subprocess.Popen([args.registry, "serve", str(registry_config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    )
    wait_for_port(int(REGISTRY.split(":")[1]), "the registry")
    say(f"nats-server as {nats_name}:{nats_port}, a registry at {REGISTRY}")

    # The pod's files: its volumes, the kubelet's /etc/hosts.
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = []
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"])
        if volume is None:
            raise CheckFailed(f"volumeMount {mount['name']}: no such volume")
        source = work / "volumes" / mount["name"]
        make_volume(volume, source, secrets, fs_group)
        mounts.append((source, mount["mountPath"], mount.get("readOnly", False)))
    hosts = work / "hosts"
    hosts.write_text(f"127.0.0.1\tlocalhost\n127.0.0.1\t{nats_name}\n127.0.0.1\tlattice-host-pod\n")

    # The command: the container's, else the image's ENTRYPOINT; then args.
    command = container.get("command") or entrypoint
    argv = command + [expand(a, env) for a in container.get("args", [])]
    path = env.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    program = in_image(args.rootfs, path, argv[0])
    if program is None:
        raise CheckFailed(f"command {argv[0]}: not on the image's PATH {path}")

    rootfs = args.rootfs
    lines = ["set -e", "mount --make-rprivate /"]
    # Mount points the runtime would make in the container's own layer.
    for _, target, _ in mounts:
        (rootfs / target.lstrip("/")).mkdir(parents=True, exist_ok=True)
    lines.append(f"mount --bind {rootfs} {rootfs}")
    if read_only_root:
        lines.append(f"mount -o remount,bind,ro {rootfs}")
    for source, target, read_only in mounts:
        lines.append(f"mount --bind {source} {rootfs}{target}")
        if read_only:
            lines.append(f"mount -o remount,bind,ro {rootfs}{target}")
    lines += [
        f"mount --bind {hosts} {rootfs}/etc/hosts",
        f"mount -t proc proc {rootfs}/proc",
        f"mount -t tmpfs -o mode=755,size=64k tmpfs {rootfs}/dev",
    ]
    for device in ["null", "zero", "random", "urandom"]:
        lines += [f": > {rootfs}/dev/{device}", f"mount --bind /dev/{device} {rootfs}/dev/{device}"]
    if "ALL" not in dropped:
        raise CheckFailed(f"capabilities drop {dropped}: ALL is expected")
    env_args = " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
    argv_text = " ".join(shlex.quote(a) for a in [program] + argv[1:])
    lines.append(
        f"exec {shutil.which('env')} -i {env_args} {shutil.which('setpriv')} --no-new-privs "
        f"--bounding-set=-all,+sys_chroot,+setuid,+setgid "
        f"{shutil.which('chroot')} --userspec={uid}:{gid} --groups={fs_group} {rootfs} {argv_text}"
    )
    launcher = work / "launch.sh"
    launcher.write_text("\n".join(lines) + "\n")
    log = open(work / "pod.log", "w")
    started = time.monotonic()
    pod_process = subprocess.Popen(
        ["unshare", "--mount", "--pid", "--fork", "--", "sh", str(launcher)], stdout=log, stderr=subprocess.STDOUT
    )
    children.append(pod_process)
    say(f"started {program} as {uid}:{gid} (fsGroup {fs_group}), root {'read-only' if read_only_root else 'writable'}")

    # The kubelet's probes, on the ports the manifest names.
    url = probe(container, "startupProbe", pod_process)
    say(f"startupProbe {url}: 200 after {time.monotonic() - started:.1f} s")
    probe(container, "livenessProbe", pod_process)
    ready = probe(container, "readinessProbe", pod_process, extra_deadline=20)
    say(f"readinessProbe {ready}: 200 (joined the lattice)")
    host_pid = host_process(pod_process.pid)
    status = status_of(host_pid)
    uids, gids = status["Uid"].split(), status["Gid"].split()
    if uids[0] != str(uid) or gids[0] != str(gid) or status["CapEff"] != "0000000000000000" or status["NoNewPrivs"] != "1":
        raise CheckFailed(
            f"the pod's process runs as uid {uids[0]} gid {gids[0]} with CapEff {status['CapEff']} and NoNewPrivs {status['NoNewPrivs']}"
        )
    say(f"its process: uid {uids[0]}, gid {gids[0]}, groups {status['Groups']}, no capabilities, no_new_privs")

    # Serve an actor: app-hello's app, its actor signed and pushed to the
    # registry, applied through the lattice.
    config_map = one(args.app_manifest, "ConfigMap", "app-hello")
    app = next(iter(config_map["data"].values()))
    reference_match = re.search(r'reference = "([^"]+)"', app)
    address = re.search(r'address = "[\d.]+:(\d+)"', app)
    if not reference_match or not address:
        raise CheckFailed("app-hello's app names no actor reference or HTTP address")
    http_port = port_number(container, "http")
    if int(address.group(1)) != http_port:
        raise CheckFailed(f"app-hello serves on port {address.group(1)} but the pod's http port is {http_port}")
    account = work / "account.nk"
    run([args.lattice_ctl, "keys", "gen", "account", "--seed-file", str(account)])
    signed = work / "hello_s.wasm"
    run([args.lattice_ctl, "claims", "sign", args.hello, "-d", str(signed), "--issuer", str(account), "--name", "hello", "--ver", "1.0.0"])
    reference = f"{REGISTRY}/lattice/hello:1"
    run([args.lattice_ctl, "push", reference, str(signed), "--allow-insecure-registry", REGISTRY])
    manifest = work / "hello.toml"
    manifest.write_text(app.replace(reference_match.group(1), reference))
    ctl = [args.lattice_ctl, "--nats-url", f"nats://127.0.0.1:{nats_port}", "--lattice", env.get("LATTICE_ID", "default")]
    run(ctl + ["apply", str(manifest), "--allow-insecure-registry", REGISTRY])
    deadline = time.monotonic() + 60
    body = None
    while time.monotonic() < deadline:
        status_code, body = http_get(f"http://127.0.0.1:{http_port}/")
        if status_code == 200 and "Hello" in body:
            break
        time.sleep(0.2)
    else:
        app_status = subprocess.run(ctl + ["get", "apps", "-o", "json"], capture_output=True, text=True, check=False)
        why = " ".join((app_status.stdout + app_status.stderr).split())[-400:]
        raise CheckFailed(f"GET http://127.0.0.1:{http_port}/ (the pod's http port) never served hello: {body.strip()}; get apps: {why}")
    say(f"app-hello applied: GET :{http_port}/ answers {body.strip()!r}")

    # Termination: the preStop hook, then SIGTERM; the host drains and
    # leaves within terminationGracePeriodSeconds.
    grace = spec.get("terminationGracePeriodSeconds", 30)
    stopping = time.monotonic()
    pre_stop = container.get("lifecycle", {}).get("preStop", {})
    if "sleep" in pre_stop:
        time.sleep(pre_stop["sleep"]["seconds"])
    elif "exec" in pre_stop:
        hook = pre_stop["exec"]["command"][0]
        if in_image(rootfs, path, hook) is None:
            raise CheckFailed(f"preStop exec {hook}: not in the image (on PATH {path})")
        raise CheckFailed("preStop exec: this check runs only the sleep action")
    os.kill(host_pid, signal.SIGTERM)
    saw_unready = False
    while pod_process.poll() is None:
        status_code, _ = http_get(ready, timeout=1)
        if status_code == 503:
            saw_unready = True
        if time.monotonic() - stopping > grace:
            raise CheckFailed(f"still running {grace} s (terminationGracePeriodSeconds) after preStop began: the kubelet would SIGKILL it")
        time.sleep(0.2)
    took = time.monotonic() - stopping
    if pod_process.returncode != 0:
        raise CheckFailed(f"the host exited with status {pod_process.returncode} after SIGTERM")
    if not saw_unready:
        raise CheckFailed("readinessProbe never answered 503 while the host drained")
    log.close()
    say(f"SIGTERM: not ready (503) while draining, exited 0 {took:.1f} s after preStop began (grace {grace} s)")
    say("passed")


if __name__ == "__main__":
    sys.exit(main())
