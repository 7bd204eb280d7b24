//! Real client libraries against `jumpcache cluster` (the embedded router): redis-py's
//! pipelines (MULTI/EXEC), `transaction()` (WATCH, retried) and `Lock` (Lua), and Django's
//! Redis cache (`set_many`, `get_many`, `delete_many`, `incr`). The checks are in
//! tests/python/frameworks.py. Skipped, with a note, where python3 lacks `redis` or `django`
//! (`pip install redis django`; .ci/run installs them).

use std::path::PathBuf;

use harness::{spawn_embedded_cluster_with, within};

fn python_has(modules: &str) -> bool {
    std::process::Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_py_and_django_work_against_the_embedded_cluster() {
    if !python_has("redis, django") {
        eprintln!("note: python3 with redis and django not found; skipped");
        return;
    }
    let cluster =
        spawn_embedded_cluster_with(3, server::Config::default(), router::Config::default()).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("python/frameworks.py");
    let output = within(
        tokio::process::Command::new("python3")
            .arg(script)
            .arg(cluster.addr().to_string())
            .output(),
    )
    .await
    .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.trim() == "ok",
        "stdout: {stdout}\nstderr: {stderr}"
    );
    cluster.stop().await;
}
