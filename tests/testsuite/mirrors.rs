//! Registry mirrors against the in-process fake: created before the
//! cluster, left alone when they run as configured (no Docker call beyond
//! `up`'s one read), started when stopped, re-created when their settings
//! change, removed by `cluster delete --mirrors` with their data kept.

use deskrun::mirrors::{CERTS_D, LABEL_MIRROR, LABEL_MIRROR_HASH, MirrorSpec, hosts_file};
use deskrun::ops;
use deskrun::ops::down::DownOptions;
use deskrun::ops::up::{UpOptions, UpReport};
use deskrun::testing::{Container, Env, Fault, request};
use std::path::Path;

const DOCKER_HUB: &str = "deskrun-mirror-docker-io";
const GHCR: &str = "deskrun-mirror-ghcr-io";

/// An env with one installation and the default mirrors (docker.io, ghcr.io).
fn env() -> Env {
    let env = Env::new();
    env.mirrors(&["docker.io", "ghcr.io"]);
    env.add(&request("a"));
    env
}

fn up(env: &Env) -> UpReport {
    env.up(&UpOptions::default()).expect("up")
}

fn root(env: &Env) -> String {
    env.mirror_root.display().to_string()
}

fn hosts_dir(env: &Env) -> String {
    format!("{}/_containerd/deskrun", root(env))
}

fn container(env: &Env, name: &str) -> Option<Container> {
    env.fake.world(|w| w.containers.get(name).cloned())
}

/// Index of the first recorded call whose line contains `needle`.
fn position(env: &Env, needle: &str) -> usize {
    env.fake
        .lines()
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no call {needle:?} in {:#?}", env.fake.lines()))
}

/// Calls other than the tool version checks.
fn reads_and_writes(env: &Env) -> Vec<String> {
    env.fake
        .calls()
        .into_iter()
        .filter(|c| c.verb() != "version")
        .map(|c| c.line())
        .collect()
}

#[test]
fn first_up_creates_the_mirrors_and_hosts_files_before_the_cluster() {
    let env = env();
    let r = up(&env);
    assert!(r.applied && r.notices.is_empty(), "{:?}", r.notices);

    // One read of both mirrors (no cluster yet), the kind network made
    // because it was missing, then each mirror, then the cluster.
    let inspect = position(
        &env,
        &format!("docker inspect --type container {DOCKER_HUB} {GHCR}"),
    );
    let net = position(&env, "docker network create kind");
    let run_hub = position(&env, &format!("docker run --detach --name {DOCKER_HUB}"));
    let run_ghcr = position(&env, &format!("docker run --detach --name {GHCR}"));
    let kind = position(&env, "kind create cluster");
    assert!(inspect < net && net < run_hub && run_hub < kind && run_ghcr < kind);

    for (name, upstream, remote) in [
        (DOCKER_HUB, "docker.io", "https://registry-1.docker.io"),
        (GHCR, "ghcr.io", "https://ghcr.io"),
    ] {
        let c = container(&env, name).expect("mirror created");
        assert!(c.running);
        let run = c.run.expect("made by docker run");
        assert_eq!(run.image, "registry:2");
        assert_eq!(run.network.as_deref(), Some("kind"));
        assert_eq!(run.restart.as_deref(), Some("unless-stopped"));
        assert_eq!(run.env, [format!("REGISTRY_PROXY_REMOTEURL={remote}")]);
        assert!(run.publish.is_empty(), "nothing published on the host");
        let data = format!("{}/{upstream}", root(&env));
        assert_eq!(c.mounts, [(data.clone(), "/var/lib/registry".to_string())]);
        assert!(Path::new(&data).is_dir(), "data dir made as the user");
        assert_eq!(
            c.labels.get(LABEL_MIRROR).map(String::as_str),
            Some(upstream)
        );
        assert_eq!(
            c.labels.get(LABEL_MIRROR_HASH),
            Some(&MirrorSpec::new(upstream, &root(&env)).hash)
        );
        assert_eq!(
            c.labels.get("deskrun.dev/managed").map(String::as_str),
            Some("true")
        );

        let file = format!("{}/{upstream}/hosts.toml", hosts_dir(&env));
        let text = std::fs::read_to_string(&file).expect("hosts.toml written");
        assert_eq!(
            text,
            hosts_file(&MirrorSpec::new(upstream, &root(&env))).text
        );
        assert!(
            text.contains(&format!("[host.\"http://{name}:5000\"]")),
            "{text}"
        );
    }

    // The node mounts the hosts directory where containerd looks, and the
    // kind config tells containerd to look there.
    let node = container(&env, "deskrun-control-plane").unwrap();
    assert!(
        node.mounts
            .contains(&(hosts_dir(&env), CERTS_D.to_string()))
    );
    let kind_config = env
        .fake
        .world(|w| w.clusters["deskrun"].kind_config.clone());
    assert!(
        kind_config.contains("config_path = \"/etc/containerd/certs.d\""),
        "{kind_config}"
    );
}

#[test]
fn a_mirror_that_runs_as_configured_costs_no_docker_call() {
    let env = env();
    up(&env);
    env.fake.clear_calls();
    let r = up(&env);
    assert!(!r.applied, "{}", r.summary());
    assert!(env.fake.mutating().is_empty(), "{:?}", env.fake.mutating());
    // kind get clusters; then helm list, kubectl get and one docker inspect
    // (the node and both mirrors) at once. Without mirrors it is the same
    // minus the inspect; per mirror, nothing.
    let calls = reads_and_writes(&env);
    assert_eq!(calls.len(), 4, "{calls:#?}");
    let docker: Vec<&String> = calls.iter().filter(|l| l.starts_with("docker")).collect();
    assert_eq!(
        docker,
        [&format!(
            "docker inspect --type container deskrun-control-plane {DOCKER_HUB} {GHCR}"
        )]
    );

    // The same with mirrors off: three calls, no docker at all.
    env.mirrors(&[]);
    env.fake.clear_calls();
    up(&env);
    assert_eq!(reads_and_writes(&env).len(), 3, "{:#?}", env.fake.lines());
}

#[test]
fn a_stopped_mirror_is_started_not_recreated() {
    let env = env();
    up(&env);
    env.fake
        .world(|w| w.containers.get_mut(GHCR).unwrap().running = false);
    env.fake.clear_calls();
    let r = up(&env);
    assert!(r.applied);
    assert_eq!(env.fake.mutating(), [format!("docker start {GHCR}")]);
    assert!(container(&env, GHCR).unwrap().running);
    // Status said so before, and agrees after.
    let st = env.status(None).unwrap();
    assert!(
        st.mirrors.iter().all(|m| m.running && m.up_to_date),
        "{:?}",
        st.mirrors
    );
}

#[test]
fn a_mirror_with_other_settings_is_recreated_and_keeps_its_data() {
    let env = env();
    up(&env);
    // As if an older deskrun (or another config) had made it differently.
    env.fake.world(|w| {
        w.containers
            .get_mut(DOCKER_HUB)
            .unwrap()
            .labels
            .insert(LABEL_MIRROR_HASH.into(), "0000000000000000".into());
    });
    let blob = format!("{}/docker.io/docker/registry/v2/blob", root(&env));
    std::fs::create_dir_all(Path::new(&blob).parent().unwrap()).unwrap();
    std::fs::write(&blob, b"layer").unwrap();

    let st = env.status(None).unwrap();
    let hub = st
        .mirrors
        .iter()
        .find(|m| m.upstream == "docker.io")
        .unwrap();
    assert!(hub.running && !hub.up_to_date, "{hub:?}");
    let plan = env
        .up(&UpOptions {
            dry_run: true,
            ..UpOptions::default()
        })
        .unwrap()
        .plan;
    let line = plan
        .lines()
        .into_iter()
        .find(|l| l[1] == format!("mirror/{DOCKER_HUB}"))
        .unwrap();
    assert_eq!(line[0], "recreate", "{line:?}");

    env.fake.clear_calls();
    up(&env);
    assert_eq!(
        env.fake
            .mutating()
            .iter()
            .map(|l| l.split(" --").next().unwrap().to_string())
            .collect::<Vec<_>>(),
        ["docker rm".to_string(), "docker run".to_string()],
        "{:#?}",
        env.fake.mutating()
    );
    assert_eq!(
        container(&env, DOCKER_HUB).unwrap().labels[LABEL_MIRROR_HASH],
        MirrorSpec::new("docker.io", &root(&env)).hash
    );
    assert_eq!(std::fs::read(&blob).unwrap(), b"layer", "data kept");
}

#[test]
fn a_mirror_added_later_serves_the_existing_cluster() {
    let env = env();
    up(&env);
    env.mirrors(&["docker.io", "ghcr.io", "quay.io"]);
    env.fake.clear_calls();
    let r = up(&env);
    assert!(r.notices.is_empty(), "{:?}", r.notices);
    assert_eq!(
        env.fake.count("kind create cluster"),
        0,
        "no new cluster needed"
    );
    assert_eq!(
        env.fake
            .count("docker run --detach --name deskrun-mirror-quay-io"),
        1
    );
    // The network exists (kind made it): looked up, not created.
    assert_eq!(env.fake.count("docker network create"), 0);
    assert!(Path::new(&format!("{}/quay.io/hosts.toml", hosts_dir(&env))).exists());

    // Dropped from the config: its hosts.toml goes (containerd pulls
    // directly again); the container stays for other configs.
    env.mirrors(&["docker.io"]);
    up(&env);
    assert!(!Path::new(&format!("{}/quay.io", hosts_dir(&env))).exists());
    assert!(!Path::new(&format!("{}/ghcr.io", hosts_dir(&env))).exists());
    assert!(container(&env, "deskrun-mirror-quay-io").is_some());
}

#[test]
fn a_cluster_made_without_mirrors_is_reported_with_what_to_run() {
    let env = Env::new();
    env.add(&request("a"));
    up(&env); // mirrors off: no certs.d mount
    env.mirrors(&["docker.io", "ghcr.io"]);
    env.fake.clear_calls();
    let r = up(&env);
    assert_eq!(r.notices.len(), 1, "{:?}", r.notices);
    let n = &r.notices[0];
    assert!(
        n.contains("created without the registry mirrors")
            && n.contains("deskrun down --delete-cluster && deskrun up")
            && n.contains("registry_mirrors: []"),
        "{n}"
    );
    // Mirrors would serve nothing here: none is made.
    assert!(env.fake.mutating().is_empty(), "{:?}", env.fake.mutating());

    let cs = env.with(ops::cluster::cluster_status).unwrap();
    assert_eq!(cs.mirror_notice.as_deref(), Some(n.as_str()));
    assert_eq!(cs.mirrors.len(), 2);
    assert!(cs.mirrors.iter().all(|m| !m.exists));
    let st = env.status(None).unwrap();
    assert_eq!(st.mirror_notice.as_deref(), Some(n.as_str()));
    let table = ops::status::table(&st);
    assert!(
        table.contains("note: kind cluster deskrun was created without"),
        "{table}"
    );

    // Re-created as told, it has them.
    env.down(&DownOptions {
        delete_cluster: true,
        ..DownOptions::default()
    })
    .unwrap();
    let r = up(&env);
    assert!(r.notices.is_empty(), "{:?}", r.notices);
    assert!(container(&env, DOCKER_HUB).unwrap().running);
}

#[test]
fn a_changed_mirror_root_asks_for_a_new_cluster() {
    let env = env();
    up(&env);
    let other = env.dir.path().join("elsewhere");
    env.store
        .update(|c| {
            c.cluster.mirror_root = Some(other.display().to_string());
            Ok(())
        })
        .unwrap();
    let r = up(&env);
    assert_eq!(r.notices.len(), 1, "{:?}", r.notices);
    assert!(r.notices[0].contains(&hosts_dir(&env)), "{}", r.notices[0]);
}

#[test]
fn down_keeps_mirrors_and_cluster_delete_mirrors_removes_only_containers() {
    let env = env();
    up(&env);
    let blob = format!("{}/ghcr.io/docker/registry/v2/blob", root(&env));
    std::fs::create_dir_all(Path::new(&blob).parent().unwrap()).unwrap();
    std::fs::write(&blob, b"layer").unwrap();
    // A mirror of another config (another upstream) is deskrun's too.
    env.fake.world(|w| {
        let mut other = w.containers[GHCR].clone();
        other.name = "deskrun-mirror-quay-io".into();
        w.containers.insert(other.name.clone(), other);
    });
    // A container of the user's that is not a mirror.
    env.fake.world(|w| {
        w.containers.insert(
            "my-db".into(),
            Container {
                name: "my-db".into(),
                running: true,
                mounts: vec![],
                labels: Default::default(),
                run: None,
            },
        );
    });

    env.down(&DownOptions {
        delete_cluster: true,
        ..DownOptions::default()
    })
    .unwrap();
    assert!(container(&env, DOCKER_HUB).is_some() && container(&env, GHCR).is_some());

    let r = env.with(|s| ops::cluster::cluster_delete(s, true)).unwrap();
    assert!(!r.deleted, "the cluster was already gone");
    assert_eq!(
        r.mirrors_removed,
        [DOCKER_HUB, GHCR, "deskrun-mirror-quay-io"]
            .map(String::from)
            .to_vec()
            .tap_sort()
    );
    assert!(container(&env, DOCKER_HUB).is_none() && container(&env, GHCR).is_none());
    assert!(container(&env, "my-db").is_some());
    assert_eq!(std::fs::read(&blob).unwrap(), b"layer", "data kept");

    // The next up makes them again, over the kept data.
    env.fake.clear_calls();
    up(&env);
    assert_eq!(env.fake.count("docker run --detach"), 2);
    let st = env.status(None).unwrap();
    let g = st.mirrors.iter().find(|m| m.upstream == "ghcr.io").unwrap();
    assert!(g.running && g.disk_bytes.unwrap() >= 5, "{g:?}");
}

#[test]
fn status_shows_each_mirror_with_its_disk_use() {
    let env = env();
    let st = env.status(None).unwrap();
    assert_eq!(st.mirrors.len(), 2);
    assert!(
        st.mirrors
            .iter()
            .all(|m| !m.exists && m.disk_bytes.is_none())
    );
    up(&env);
    std::fs::write(format!("{}/docker.io/blob", root(&env)), vec![1u8; 100_000]).unwrap();
    let st = env.status(None).unwrap();
    let hub = &st.mirrors[0];
    assert_eq!(
        (hub.upstream.as_str(), hub.container.as_str(), hub.running),
        ("docker.io", DOCKER_HUB, true)
    );
    assert!(hub.disk_bytes.unwrap() >= 100_000, "{hub:?}");
    let table = ops::status::table(&st);
    let line = table.lines().find(|l| l.contains("docker.io")).unwrap();
    assert!(
        line.starts_with("mirror") && line.contains("running") && line.contains("kB"),
        "{line}"
    );
    let cs = env.with(ops::cluster::cluster_status).unwrap();
    assert_eq!(cs.mirrors, st.mirrors);
}

#[test]
fn a_failing_mirror_does_not_stop_the_cluster_and_is_reported() {
    let env = env();
    env.fake.inject(
        Fault::on("docker", &format!("run --detach --name {GHCR}")).fail(
            125,
            "docker: Error response from daemon: pull access denied for registry",
        ),
    );
    let e = format!("{:#}", env.up(&UpOptions::default()).unwrap_err());
    assert!(
        e.contains("pull access denied") && e.contains("1 step(s) failed"),
        "{e}"
    );
    // Everything else went ahead: pulls fall back to the upstream.
    assert!(env.fake.world(|w| w.clusters.contains_key("deskrun")));
    assert_eq!(env.fake.count("helm upgrade --install a "), 1);
    assert!(container(&env, DOCKER_HUB).is_some());
    // The next up makes the missing one and nothing else.
    env.fake.clear_faults();
    env.fake.clear_calls();
    up(&env);
    assert_eq!(env.fake.mutating().len(), 1, "{:?}", env.fake.mutating());
    assert!(container(&env, GHCR).is_some());
}

#[test]
fn a_foreign_container_with_the_mirror_name_is_left_alone() {
    let env = env();
    env.fake.world(|w| {
        w.containers.insert(
            GHCR.into(),
            Container {
                name: GHCR.into(),
                running: true,
                mounts: vec![],
                labels: Default::default(),
                run: None,
            },
        );
    });
    let r = up(&env);
    assert_eq!(r.notices.len(), 1, "{:?}", r.notices);
    let n = &r.notices[0];
    assert!(
        n.contains("did not create") && n.contains(&format!("docker rm -f {GHCR}")),
        "{n}"
    );
    assert_eq!(env.fake.count(&format!("docker rm --force {GHCR}")), 0);
    assert!(
        container(&env, GHCR).unwrap().labels.is_empty(),
        "untouched"
    );
    assert!(container(&env, DOCKER_HUB).is_some());
    // containerd is not sent to a registry deskrun does not run.
    assert!(!Path::new(&format!("{}/ghcr.io", hosts_dir(&env))).exists());
    assert!(Path::new(&format!("{}/docker.io/hosts.toml", hosts_dir(&env))).exists());
    // Every later up says so again, and status too.
    env.fake.clear_calls();
    let r = up(&env);
    assert!(!r.applied && r.notices.len() == 1, "{:?}", r.notices);
    let st = env.status(None).unwrap();
    let g = st.mirrors.iter().find(|m| m.upstream == "ghcr.io").unwrap();
    assert!(g.exists && !g.managed && !g.up_to_date, "{g:?}");
    let table = ops::status::table(&st);
    assert!(table.contains("not deskrun's container"), "{table}");
    let h = st
        .mirrors
        .iter()
        .find(|m| m.upstream == "docker.io")
        .unwrap();
    assert!(h.managed && h.up_to_date, "{h:?}");
}

#[test]
fn cluster_create_makes_the_mirrors_first_too() {
    let env = env();
    assert!(env.with(ops::cluster::cluster_create).unwrap().created);
    assert!(position(&env, "docker run --detach --name") < position(&env, "kind create cluster"));
    assert!(Path::new(&format!("{}/docker.io/hosts.toml", hosts_dir(&env))).exists());
}

trait TapSort {
    fn tap_sort(self) -> Self;
}

impl TapSort for Vec<String> {
    fn tap_sort(mut self) -> Self {
        self.sort();
        self
    }
}
