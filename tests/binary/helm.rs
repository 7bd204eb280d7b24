//! The Helm chart in deploy/helm/jumpcache.
//!
//! - Golden files: `helm template` with the default values and with
//!   deploy/helm/tests/custom-values.yaml must give deploy/helm/tests/golden/{default,custom}.yaml
//!   (`JUMPCACHE_BLESS=1` writes them instead); `helm lint --strict` passes; values the chart
//!   cannot deploy are refused (values.schema.json and the templates' own checks); a group
//!   added is added at the end of the topology.
//! - The checked-in renderings (so this part runs without helm too) pass the Kubernetes
//!   schemas of every version kubernetes-validate bundles (strict), and hang together: the
//!   topology names exactly the shard pods the StatefulSets make under the headless Service,
//!   probes and scrape annotations are on the admin port, the ConfigMap is mounted where the
//!   routers read it, and every container's arguments and JUMPCACHE_* variables are accepted
//!   by this build of `jumpcache`.
//! - The rendered pods run: with Docker, a two-group rendering (`topology.reload=false`) is run
//!   as containers, each shard under its Kubernetes DNS name on a private network and the
//!   router with the ConfigMap mounted; the router's readiness probe turns ready and keys land
//!   in both groups.
//!
//! `deploy/helm/install-tools.sh` installs helm and kubernetes-validate. Without helm, the
//! rendering parts print a NOTE and check nothing; without kubernetes-validate (and its
//! PyYAML), so do the others; without a Docker engine, so does the last.

#[path = "support.rs"]
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const CHART: &str = "deploy/helm/jumpcache";
const RELEASE: &str = "jc";
const NAMESPACE: &str = "cache";
/// Golden file name and the values file rendered into it.
const CASES: [(&str, Option<&str>); 2] = [
    ("default", None),
    ("custom", Some("deploy/helm/tests/custom-values.yaml")),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn golden(case: &str) -> PathBuf {
    root().join(format!("deploy/helm/tests/golden/{case}.yaml"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Returns `helm version --short` when it is Helm 3 or 4.
fn helm_version() -> Option<String> {
    let out = Command::new("helm")
        .args(["version", "--short"])
        .output()
        .ok()?;
    let version = text(&out.stdout).trim().to_string();
    (out.status.success() && (version.starts_with("v3.") || version.starts_with("v4.")))
        .then_some(version)
}

/// Runs `helm args` in the repository root.
fn helm(args: &[&str]) -> Output {
    Command::new("helm")
        .args(args)
        .current_dir(root())
        .output()
        .expect("run helm")
}

/// `helm template` of the chart as release `jc` in namespace `cache`, with `extra` flags.
fn render(extra: &[&str]) -> Output {
    let mut args = vec!["template", RELEASE, CHART, "--namespace", NAMESPACE];
    args.extend(extra);
    helm(&args)
}

fn render_ok(extra: &[&str]) -> String {
    let out = render(extra);
    assert!(
        out.status.success(),
        "helm template {extra:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Validates and parses a rendered file with deploy/helm/tests/inspect_manifests.py; None
/// when kubernetes-validate is not installed.
fn inspect(rendered: &Path) -> Option<Value> {
    let out = Command::new("python3")
        .arg(root().join("deploy/helm/tests/inspect_manifests.py"))
        .arg(rendered)
        .output()
        .ok()?;
    if out.status.code() == Some(3) {
        return None;
    }
    assert!(
        out.status.success(),
        "inspect_manifests.py {}: {}",
        rendered.display(),
        text(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("JSON from inspect_manifests.py"))
}

/// A scratch folder under the target directory, emptied first.
fn scratch(name: &str) -> PathBuf {
    let dir = root().join(format!("target/helm-test/{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Returns the documents of `kind`.
fn of_kind<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().expect("metadata.name")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().expect("a string").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts every label of `selector` is in `labels`.
fn assert_selects(selector: &Value, labels: &Value, what: &str) {
    let selector = selector.as_object().expect("a selector");
    assert!(!selector.is_empty(), "{what}: an empty selector");
    for (k, v) in selector {
        assert_eq!(&labels[k], v, "{what}: label {k}");
    }
}

/// Returns the value after `flag` in `args`.
fn flag<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a == flag)?;
    args.get(i + 1).map(String::as_str)
}

#[test]
fn the_chart_renders_as_its_golden_files() {
    let Some(version) = helm_version() else {
        println!(
            "NOTE: no Helm 3 or 4 on PATH (deploy/helm/install-tools.sh installs it); the chart \
             was not rendered, linted or compared with its golden files"
        );
        return;
    };
    println!("rendering with helm {version}");
    let bless = std::env::var_os("JUMPCACHE_BLESS").is_some();
    for (case, values) in CASES {
        let mut extra = Vec::new();
        if let Some(v) = values {
            extra.extend(["-f", v]);
        }
        let mut lint = vec!["lint", "--strict", CHART];
        lint.extend(&extra);
        let out = helm(&lint);
        assert!(
            out.status.success(),
            "helm lint {case}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );

        let rendered = render_ok(&extra);
        let path = golden(case);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            // Written whole, then renamed: the other test may be reading it.
            let fresh = path.with_extension("yaml.new");
            std::fs::write(&fresh, &rendered).unwrap();
            std::fs::rename(&fresh, &path).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&path).unwrap_or_default();
        if rendered != want {
            let line = rendered
                .lines()
                .zip(want.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(rendered.lines().count().min(want.lines().count()));
            panic!(
                "{} differs from `helm template` at line {}: got {:?}, want {:?}; if the chart \
                 change is meant, run JUMPCACHE_BLESS=1 cargo test --test helm",
                path.display(),
                line + 1,
                rendered.lines().nth(line),
                want.lines().nth(line)
            );
        }
    }

    // Values the chart cannot deploy are refused, with the reason.
    for (set, reason) in [
        ("tls.enabled=true", "has no TLS"),
        ("auth.enabled=true", "set auth.existingSecret"),
        ("shards.groups=0", "shards.groups"),
        ("shards.replicas=32", "shards.replicas"),
        ("shards.eviction=random", "shards.eviction"),
        ("shards.maxMemory=lots", "shards.maxMemory"),
        ("router.readPolicy=nearest", "router.readPolicy"),
    ] {
        let out = render(&["--set", set]);
        assert!(!out.status.success(), "--set {set} rendered");
        // Helm 3 names a value `shards.groups` in a schema error, Helm 4 `/shards/groups`.
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(reason) || stderr.contains(&reason.replace('.', "/")),
            "--set {set}: {stderr}"
        );
    }

    // Jump hashing moves keys only into a group added at the end: one more group keeps every
    // group's members where they were and appends the new StatefulSet's pods.
    let dir = scratch("grow");
    let mut topologies = Vec::new();
    for groups in ["3", "4"] {
        let file = dir.join(format!("{groups}.yaml"));
        std::fs::write(
            &file,
            render_ok(&["--set", &format!("shards.groups={groups}")]),
        )
        .unwrap();
        match inspect(&file) {
            Some(parsed) => topologies.push(topology(&parsed).1),
            None => {
                println!("NOTE: no kubernetes-validate (PyYAML); the growth check was skipped");
                return;
            }
        }
    }
    assert_eq!(topologies[1].len(), 4);
    assert_eq!(topologies[0][..], topologies[1][..3]);
    assert!(topologies[1][3].starts_with(&format!("{RELEASE}-jumpcache-shard-3-0.")));
    let _ = std::fs::remove_dir_all(dir);
}

/// Returns the topology ConfigMap's epoch and groups; asserts its router.toml lists the same.
fn topology(parsed: &Value) -> (i64, Vec<String>) {
    let docs = parsed["documents"].as_array().expect("documents");
    let maps = of_kind(docs, "ConfigMap");
    let map = maps
        .iter()
        .find(|m| name(m).ends_with("-topology"))
        .expect("the topology ConfigMap");
    let file: toml::Table = map["data"]["topology.toml"]
        .as_str()
        .expect("topology.toml")
        .parse()
        .expect("topology.toml is TOML");
    let groups: Vec<String> = file["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| g.as_str().expect("a group").to_string())
        .collect();
    let config: toml::Table = map["data"]["router.toml"]
        .as_str()
        .expect("router.toml")
        .parse()
        .expect("router.toml is TOML");
    let shards: Vec<&str> = config["shards"]
        .as_array()
        .expect("shards")
        .iter()
        .map(|g| g.as_str().expect("a group"))
        .collect();
    assert_eq!(shards, groups, "router.toml and topology.toml");
    assert_eq!(config.len(), 1, "router.toml holds the groups only");
    (file["epoch"].as_integer().expect("epoch"), groups)
}

#[test]
fn the_rendered_manifests_pass_the_kubernetes_schemas_and_this_jumpcache() {
    for (case, _) in CASES {
        let Some(parsed) = inspect(&golden(case)) else {
            println!(
                "NOTE: no kubernetes-validate (pip install kubernetes-validate, or \
                 deploy/helm/install-tools.sh); the manifests were not validated"
            );
            return;
        };
        let versions = strings(&parsed["versions"]);
        let errors = strings(&parsed["errors"]);
        assert!(errors.is_empty(), "{case}: {errors:#?}");
        println!(
            "{case}: {} documents valid (strict) on Kubernetes {}",
            parsed["documents"].as_array().unwrap().len(),
            versions.join(", ")
        );
        check_coherent(case, &parsed);
        check_against_binary(case, &parsed);
    }
}

/// The parts of one rendering agree with each other.
fn check_coherent(case: &str, parsed: &Value) {
    let docs = parsed["documents"].as_array().expect("documents");
    let services = of_kind(docs, "Service");
    let (epoch, groups) = topology(parsed);
    assert!(epoch >= 1, "{case}: epoch {epoch}");

    // The StatefulSets, in group order, make exactly the pods the topology names.
    let mut sets = of_kind(docs, "StatefulSet");
    sets.sort_by_key(|s| {
        s["metadata"]["labels"]["jumpcache/group"]
            .as_str()
            .expect("a group label")
            .parse::<usize>()
            .expect("a group number")
    });
    assert_eq!(
        sets.len(),
        groups.len(),
        "{case}: one StatefulSet per group"
    );
    for (g, (set, group)) in sets.iter().zip(&groups).enumerate() {
        assert!(
            name(set).ends_with(&format!("-shard-{g}")),
            "{case}: {}",
            name(set)
        );
        let spec = &set["spec"];
        let headless = services
            .iter()
            .find(|s| name(s) == spec["serviceName"])
            .expect("the StatefulSet's Service");
        assert_eq!(headless["spec"]["clusterIP"], "None", "{case}: headless");
        assert_eq!(headless["spec"]["publishNotReadyAddresses"], true);
        let pod_labels = &spec["template"]["metadata"]["labels"];
        assert_selects(&headless["spec"]["selector"], pod_labels, "shard Service");
        assert_selects(&spec["selector"]["matchLabels"], pod_labels, "StatefulSet");
        let container = &spec["template"]["spec"]["containers"][0];
        let args = strings(&container["args"]);
        let port = flag(&args, "--port").expect("--port");
        let members: Vec<&str> = group.split('|').collect();
        assert_eq!(members.len() as i64, spec["replicas"].as_i64().unwrap());
        for (m, member) in members.iter().enumerate() {
            let prefix = format!(
                "{}-{m}.{}.{NAMESPACE}.svc.",
                name(set),
                spec["serviceName"].as_str().unwrap()
            );
            assert!(
                member.starts_with(&prefix) && member.ends_with(&format!(":{port}")),
                "{case}: group {g} member {m} is {member}, want {prefix}…:{port}"
            );
        }
        check_probes(case, container, &args);
        assert_eq!(spec["template"]["spec"]["enableServiceLinks"], false);
    }

    // Routers: the ConfigMap mounted as a folder where their flag points, probes on the admin
    // port, scrape annotations, a Service and a PodDisruptionBudget that select them.
    let deployments = of_kind(docs, "Deployment");
    let [router] = deployments[..] else {
        panic!("{case}: one Deployment");
    };
    let pod = &router["spec"]["template"];
    let container = &pod["spec"]["containers"][0];
    let args = strings(&container["args"]);
    let file = flag(&args, "--topology")
        .or_else(|| flag(&args, "--config"))
        .expect("--topology or --config");
    let (dir, file) = file.rsplit_once('/').expect("a path");
    let mount = container["volumeMounts"]
        .as_array()
        .expect("volumeMounts")
        .iter()
        .find(|m| m["mountPath"] == dir)
        .expect("a mount at the topology's folder");
    assert!(
        mount["subPath"].is_null(),
        "{case}: no subPath (it never updates)"
    );
    let volume = pod["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume");
    let map = volume["configMap"]["name"]
        .as_str()
        .expect("a ConfigMap volume");
    assert!(map.ends_with("-topology"), "{case}: mounts {map}");
    assert!(["topology.toml", "router.toml"].contains(&file), "{file}");
    check_probes(case, container, &args);
    assert_eq!(pod["spec"]["enableServiceLinks"], false);
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/scrape"], "true", "{case}");
    assert_eq!(
        annotations["prometheus.io/port"].as_str(),
        flag(&args, "--metrics-port"),
        "{case}"
    );
    let pod_labels = &pod["metadata"]["labels"];
    let front = services
        .iter()
        .find(|s| s["spec"]["clusterIP"] != "None")
        .expect("the routers' Service");
    assert_selects(&front["spec"]["selector"], pod_labels, "router Service");
    let pdbs = of_kind(docs, "PodDisruptionBudget");
    assert!(
        pdbs.iter().any(|p| {
            p["spec"]["selector"]["matchLabels"]
                .as_object()
                .unwrap()
                .iter()
                .all(|(k, v)| &pod_labels[k] == v)
        }),
        "{case}: a PodDisruptionBudget for the routers"
    );
    assert_eq!(
        pdbs.len(),
        groups.len() + 1,
        "{case}: one per group, one for routers"
    );

    // Whatever has no bundled schema is a ServiceMonitor on the routers' metrics port.
    for what in strings(&parsed["unvalidated"]) {
        assert!(
            what.starts_with("ServiceMonitor/"),
            "{case}: {what} not validated"
        );
        let monitor = of_kind(docs, "ServiceMonitor")[0];
        assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
        assert_selects(
            &monitor["spec"]["selector"]["matchLabels"],
            &front["metadata"]["labels"],
            "ServiceMonitor",
        );
        let port = &monitor["spec"]["endpoints"][0]["port"];
        assert!(
            front["spec"]["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| &p["name"] == port),
            "{case}: the ServiceMonitor's port {port} is on the Service"
        );
    }
}

/// Liveness on /healthz and readiness on /readyz, both on the port `--metrics-port` names.
fn check_probes(case: &str, container: &Value, args: &[String]) {
    let metrics = flag(args, "--metrics-port").expect("--metrics-port");
    let ports = container["ports"].as_array().expect("ports");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{case}: {probe}");
        let port = ports
            .iter()
            .find(|p| p["name"] == get["port"])
            .expect("the probe's port is named");
        assert_eq!(
            port["containerPort"].to_string(),
            metrics,
            "{case}: {probe} on --metrics-port"
        );
    }
}

/// Every container's arguments and JUMPCACHE_* variables parse in this build of jumpcache:
/// it runs with them and `--help` last, which exits 0 only when every flag before it is known
/// and its value valid. The ConfigMap's files are written out for `--config`/`--topology`.
fn check_against_binary(case: &str, parsed: &Value) {
    let bin = env!("CARGO_BIN_EXE_jumpcache");
    let docs = parsed["documents"].as_array().expect("documents");
    let dir = scratch(case);
    for map in of_kind(docs, "ConfigMap") {
        for (file, body) in map["data"].as_object().unwrap() {
            std::fs::write(dir.join(file), body.as_str().unwrap()).unwrap();
        }
    }
    let router_help = text(
        &Command::new(bin)
            .args(["router", "--help"])
            .output()
            .unwrap()
            .stdout,
    );
    let has_topology = router_help.contains("--topology");
    let pods = of_kind(docs, "StatefulSet")
        .into_iter()
        .chain(of_kind(docs, "Deployment"))
        .map(|d| &d["spec"]["template"]["spec"]);
    for pod in pods {
        for container in pod["containers"].as_array().unwrap() {
            let mut args: Vec<String> = strings(&container["args"])
                .into_iter()
                .map(|a| match a.strip_prefix("/etc/jumpcache/") {
                    Some(file) => dir.join(file).display().to_string(),
                    None => a,
                })
                .collect();
            if !has_topology {
                if let Some(i) = args.iter().position(|a| a == "--topology") {
                    println!(
                        "NOTE: {case}: this jumpcache has no `router --topology` (the elasticity \
                         issue); the router's other flags are checked without it"
                    );
                    args.drain(i..i + 2);
                }
            }
            let sub = args[0].clone();
            let help = text(
                &Command::new(bin)
                    .args([&sub, "--help"])
                    .output()
                    .unwrap()
                    .stdout,
            );
            let mut env = BTreeMap::new();
            for var in container["env"].as_array().into_iter().flatten() {
                let key = var["name"].as_str().unwrap().to_string();
                let flag = key
                    .strip_prefix("JUMPCACHE_")
                    .map(|f| format!("--{}", f.to_lowercase().replace('_', "-")));
                if let Some(flag) = flag {
                    assert!(help.contains(&flag), "{case}: {key} is no `{sub}` flag");
                }
                // A Secret's value: any password will do here.
                let value = var["value"].as_str().unwrap_or("from-a-secret").to_string();
                env.insert(key, value);
            }
            let out = Command::new(bin)
                .args(&args)
                .arg("--help")
                .env_clear()
                .envs(&env)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{case}: jumpcache {args:?} with {:?}: {}",
                env.keys(),
                text(&out.stderr)
            );
        }
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// Removes the containers and network the chart's pods ran as, and the image, when dropped.
struct Pods {
    containers: Vec<String>,
    network: String,
    image: String,
}

impl Drop for Pods {
    fn drop(&mut self) {
        let quiet = |args: &[&str]| {
            let _ = Command::new("docker")
                .args(args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        };
        for c in &self.containers {
            quiet(&["rm", "-f", c]);
        }
        quiet(&["network", "rm", &self.network]);
        quiet(&["rmi", "-f", &self.image]);
    }
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

/// Returns the `-e NAME=VALUE` flags for a container's literal variables.
fn env_flags(container: &Value) -> Vec<String> {
    let mut flags = Vec::new();
    for var in container["env"].as_array().into_iter().flatten() {
        let value = var["value"].as_str().expect("a literal variable");
        flags.push("-e".to_string());
        flags.push(format!("{}={value}", var["name"].as_str().unwrap()));
    }
    flags
}

/// The rendered pods, run as containers: every shard pod of a two-group chart (with the
/// groups read at start, `topology.reload=false`, as this build needs) on a Docker network
/// under its Kubernetes DNS name, and one router pod with the ConfigMap's files mounted
/// where the chart mounts them. Its readiness probe turns ready (every group's members
/// resolved by those names and answering) and keys written through it land in both groups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_pods_run_as_a_cluster_in_docker() {
    if helm_version().is_none() {
        println!("NOTE: no helm; the rendered pods were not run");
        return;
    }
    let docker_answers = Command::new("docker")
        .arg("info")
        .output()
        .is_ok_and(|o| o.status.success());
    if !docker_answers {
        println!("NOTE: no Docker engine answers; the rendered pods were not run");
        return;
    }
    let dir = scratch("pods");
    let rendered = dir.join("rendered.yaml");
    let manifests = render_ok(&[
        "--set",
        "topology.reload=false",
        "--set",
        "shards.groups=2",
        "--set",
        "shards.maxMemory=64mb",
    ]);
    std::fs::write(&rendered, manifests).unwrap();
    let Some(parsed) = inspect(&rendered) else {
        println!("NOTE: no kubernetes-validate (PyYAML); the rendered pods were not run");
        return;
    };
    let docs = parsed["documents"].as_array().unwrap();
    let id = std::process::id();
    let image = format!("jumpcache-helm-test:{id}");
    let mut pods = Pods {
        containers: Vec::new(),
        network: format!("jumpcache-helm-test-{id}"),
        image: image.clone(),
    };
    let built = Command::new(root().join("deploy/build-image.sh"))
        .arg(&image)
        .env("JUMPCACHE_BINARY", env!("CARGO_BIN_EXE_jumpcache"))
        .output()
        .expect("run build-image.sh");
    assert!(
        built.status.success(),
        "build-image.sh: {}",
        text(&built.stderr)
    );
    docker(&["network", "create", &pods.network]);

    // Shard pods: <statefulset>-<m>.<serviceName>.<namespace>.svc.cluster.local.
    for set in of_kind(docs, "StatefulSet") {
        let spec = &set["spec"];
        let container = &spec["template"]["spec"]["containers"][0];
        for m in 0..spec["replicas"].as_i64().unwrap() {
            let host = format!(
                "{}-{m}.{}.{NAMESPACE}.svc.cluster.local",
                name(set),
                spec["serviceName"].as_str().unwrap()
            );
            let mut args: Vec<String> = [
                "run",
                "-d",
                "--network",
                &pods.network,
                "--network-alias",
                &host,
            ]
            .iter()
            .map(ToString::to_string)
            .collect();
            args.extend(env_flags(container));
            args.push(image.clone());
            args.extend(strings(&container["args"]));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            pods.containers.push(docker(&args));
        }
    }

    // The router pod: the ConfigMap as files in the folder the chart mounts it at.
    let map = of_kind(docs, "ConfigMap")[0];
    let files = dir.join("topology");
    std::fs::create_dir_all(&files).unwrap();
    for (file, body) in map["data"].as_object().unwrap() {
        std::fs::write(files.join(file), body.as_str().unwrap()).unwrap();
    }
    // The image's user (10001) reads them.
    let _ = Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(&dir)
        .status();
    let deployment = of_kind(docs, "Deployment")[0];
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let mount = container["volumeMounts"][0]["mountPath"].as_str().unwrap();
    let volume = format!("{}:{mount}:ro", files.display());
    let mut args: Vec<String> = [
        "run",
        "-d",
        "--network",
        &pods.network,
        "-v",
        &volume,
        "-p",
        "127.0.0.1::6379",
        "-p",
        "127.0.0.1::9121",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    args.extend(env_flags(container));
    args.push(image.clone());
    args.extend(strings(&container["args"]));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let router = docker(&args);
    pods.containers.push(router.clone());
    let published = |port: &str| -> std::net::SocketAddr {
        let out = docker(&["port", &router, port]);
        out.lines()
            .next()
            .and_then(|l| l.parse().ok())
            .expect("a published port")
    };
    let resp = published("6379/tcp");
    let admin = published("9121/tcp");
    let probe = container["readinessProbe"]["httpGet"]["path"]
        .as_str()
        .unwrap();
    let mut status = None;
    for _ in 0..500 {
        status = support::http_get(admin, probe).await.ok().map(|(s, _)| s);
        if status == Some(200) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    if status != Some(200) {
        panic!(
            "{probe} answered {status:?}: {}",
            docker(&["logs", &router])
        );
    }

    let mut con = harness::client_for(resp).await;
    for i in 0..100 {
        let () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query_async(&mut con)
            .await
            .unwrap();
    }
    let info: String = redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(info.contains("shards:2\r\n"), "{info}");
    assert!(info.contains("members_up:4\r\n"), "{info}");
    for g in 0..2 {
        let line = info
            .lines()
            .find(|l| l.starts_with(&format!("shard{g}:")))
            .expect("a group line");
        assert!(
            line.contains(&format!("addr={RELEASE}-jumpcache-shard-{g}-0."))
                && !line.contains("keys=0,"),
            "group {g} holds keys: {line}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}
