//! The experiments in their short mode, against real processes: what CI runs so that
//! `benchmarks/experiments/run.sh` never rots. Also the load generator's command line.
//!
//! The `jumpcache` binary is the one Cargo built beside this package's binaries (in CI,
//! `cargo test --workspace` builds it for the root package's tests). Without it, the test
//! says so and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

fn jumpcache() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_BIN_EXE_experiments")).parent()?;
    let bin = dir.join("jumpcache");
    bin.is_file().then_some(bin)
}

/// Rows of a CSV file as maps of column to value.
fn csv(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines
        .next()
        .expect("header")
        .split(',')
        .map(String::from)
        .collect();
    lines
        .map(|l| {
            header
                .iter()
                .cloned()
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

fn num(row: &std::collections::HashMap<String, String>, col: &str) -> f64 {
    row[col]
        .parse()
        .unwrap_or_else(|_| panic!("{col}: {:?}", row[col]))
}

#[test]
fn loadgen_explains_itself() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .arg("--help")
        .output()
        .expect("run loadgen");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--rate",
        "--dist",
        "--get-ratio",
        "--connections",
        "--check-stale",
        "--timeline",
    ] {
        assert!(text.contains(flag), "{flag} missing from:\n{text}");
    }
    assert!(text.contains("coordinated omission"), "{text}");
    let bad = Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(["--dist", "gauss", "--addr", "127.0.0.1:1"])
        .output()
        .expect("run loadgen");
    assert!(!bad.status.success());
}

#[test]
fn short_mode_runs_every_experiment_against_real_processes() {
    let Some(bin) = jumpcache() else {
        eprintln!(
            "note: no jumpcache binary beside {} (cargo build --bin jumpcache, or cargo test \
             --workspace); the short-mode run is skipped",
            env!("CARGO_BIN_EXE_experiments")
        );
        return;
    };
    let out_dir =
        std::env::temp_dir().join(format!("jumpcache-experiments-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out_dir);
    let started = std::time::Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_experiments"))
        .args(["--short", "--quiet", "--no-png", "--jumpcache"])
        .arg(&bin)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("run experiments");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        run.status.success(),
        "experiments failed:\n{stdout}\n{stderr}"
    );
    eprintln!(
        "short mode took {:.1} s:\n{stdout}",
        started.elapsed().as_secs_f64()
    );
    let data = out_dir.join("data");

    // Distribution: every key is on exactly one group, and the jump bars are what the
    // router's hash computes.
    let rows = csv(&data.join("distribution.csv"));
    for scheme in ["jump", "ketama", "modulo"] {
        for n in ["3", "8"] {
            let sel: Vec<_> = rows
                .iter()
                .filter(|r| r["scheme"] == scheme && r["groups"] == n)
                .collect();
            assert_eq!(sel.len().to_string(), n, "{scheme} over {n}");
            let computed: f64 = sel.iter().map(|r| num(r, "keys_computed")).sum();
            assert_eq!(computed, 5000.0);
            if sel[0]["source"] == "measured" {
                let measured: f64 = sel.iter().map(|r| num(r, "keys_measured")).sum();
                assert_eq!(measured, 5000.0, "{scheme} over {n}");
                let requests: f64 = sel.iter().map(|r| num(r, "requests_measured")).sum();
                assert!(
                    (10_000.0..10_200.0).contains(&requests),
                    "{scheme} over {n}: {requests} requests"
                );
            }
        }
    }
    for r in csv(&data.join("distribution_summary.csv")) {
        if r["scheme"] == "jump" {
            assert_eq!(r["measured_equals_computed"], "true", "{r:?}");
            assert!(num(&r, "keys_max_over_mean") < 1.25, "{r:?}");
        } else if r["measured_equals_computed"] != "n/a" {
            // A real twemproxy was there: its placement is the one placement.rs computes.
            assert_eq!(r["measured_equals_computed"], "true", "{r:?}");
        }
    }

    // Scaling: the same load spread over more groups gives each less.
    let scaling = csv(&data.join("scaling.csv"));
    assert_eq!(scaling.len(), 2);
    let per_group: Vec<f64> = scaling
        .iter()
        .map(|r| num(r, "requests_per_group_mean"))
        .collect();
    assert!(per_group[1] < per_group[0] * 0.8, "{per_group:?}");
    assert!(scaling.iter().all(|r| num(r, "closed_ok_per_s") > 0.0));

    // Failure: never a stale read; a replicated group loses nothing; a group's only member
    // fails its keys while it is down and comes back empty.
    let failure = csv(&data.join("failure_summary.csv"));
    let scenario = |name: &str| {
        failure
            .iter()
            .find(|r| r["scenario"] == name)
            .expect(name)
            .clone()
    };
    let (replicated, single) = (scenario("replicated"), scenario("single"));
    assert_eq!(num(&replicated, "stale"), 0.0, "{replicated:?}");
    assert_eq!(num(&single, "stale"), 0.0, "{single:?}");
    assert_eq!(
        num(&replicated, "lost_after_restart"),
        0.0,
        "{replicated:?}"
    );
    assert!(num(&single, "errors") > 0.0, "{single:?}");
    assert!(num(&single, "lost_after_restart") > 0.0, "{single:?}");
    let timeline = csv(&data.join("failure_single.csv"));
    assert!(timeline.len() >= 25, "{} bins", timeline.len());

    // Resize: jump moves about 1/(N+1), exactly as computed; modulo moves most keys.
    for r in csv(&data.join("resize.csv")) {
        let ideal = num(&r, "ideal");
        if !r["fraction_measured"].is_empty() {
            assert_eq!(r["fraction_measured"], r["fraction_computed"], "{r:?}");
        }
        if r["scheme"] == "jump" {
            assert!((num(&r, "fraction_measured") - ideal).abs() < 0.03, "{r:?}");
        }
        if r["scheme"] == "modulo" {
            assert!(num(&r, "fraction_computed") > 0.5, "{r:?}");
        }
    }

    // Charts: drawn (SVG only here: the debug build's PNG rasteriser takes seconds), unless
    // no font was found (then the summary says so).
    let summary = std::fs::read_to_string(data.join("summary.txt")).expect("summary");
    assert!(summary.contains("live grow"), "{summary}");
    for chart in ["distribution", "scaling", "failure", "resize"] {
        let drawn = out_dir.join(format!("{chart}.svg")).is_file();
        assert!(
            drawn || summary.contains(&format!("chart {chart} not drawn")),
            "{chart}: {summary}"
        );
        if drawn {
            let svg = std::fs::read_to_string(out_dir.join(format!("{chart}.svg"))).unwrap();
            assert!(
                svg.contains("<svg") && svg.contains("<text"),
                "{chart}.svg has no text"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}
