//! `experiments`: runs the experiments of docs/experiments.md against real processes and
//! writes their CSV data and charts. `benchmarks/experiments/run.sh` builds and runs it;
//! `--short` is the CI-sized run.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use jumpcache_benchmarks::chart::{Figure, Kind, Panel, Series, COLORS};
use jumpcache_benchmarks::keys::{key_name, KeyDist};
use jumpcache_benchmarks::loadgen::{self, Report};
use jumpcache_benchmarks::placement::{server_names, Placer, Scheme};
use jumpcache_benchmarks::procs::{self, Cluster, Proc, Shard};
use jumpcache_benchmarks::resp::{info_field, Reply};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

#[derive(Parser, Debug)]
#[command(
    name = "experiments",
    about = "Runs jumpcache's experiments (load distribution, scaling, failure recovery, resizing) \
             against real processes; writes CSV under OUT/data and charts (SVG, PNG) under OUT"
)]
struct Args {
    /// Small sizes and a few seconds per experiment (what CI runs).
    #[arg(long)]
    short: bool,
    /// Where the charts go (the CSV files go to OUT/data). Default: docs/experiments, or
    /// target/experiments-short with --short (so a short run never replaces the docs' figures).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The jumpcache binary (default: the one beside this program).
    #[arg(long)]
    jumpcache: Option<PathBuf>,
    /// Which experiments, comma-separated: distribution, scaling, failure, resize, grow.
    #[arg(long, default_value = "distribution,scaling,failure,resize,grow")]
    only: String,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Draw the charts as SVG only (the PNG rasteriser is slow in a debug build, which is what
    /// the CI test runs).
    #[arg(long)]
    no_png: bool,
}

/// Sizes of a run.
struct Sizes {
    keys: u64,
    zipf_requests: u64,
    dist_groups: Vec<usize>,
    scaling_groups: Vec<usize>,
    scaling_secs: f64,
    scaling_rate: f64,
    failure_secs: f64,
    kill_at: f64,
    restart_at: f64,
    failure_rate: f64,
    failure_keys: u64,
    resize_groups: Vec<usize>,
    grow_secs: f64,
    grow_at: f64,
}

impl Sizes {
    fn new(short: bool) -> Sizes {
        if short {
            Sizes {
                keys: 5_000,
                zipf_requests: 10_000,
                dist_groups: vec![3, 8],
                scaling_groups: vec![2, 3],
                scaling_secs: 1.0,
                scaling_rate: 1_000.0,
                failure_secs: 3.0,
                kill_at: 1.0,
                restart_at: 2.0,
                failure_rate: 1_000.0,
                failure_keys: 1_000,
                resize_groups: vec![2, 3, 4],
                grow_secs: 3.0,
                grow_at: 1.0,
            }
        } else {
            Sizes {
                keys: 100_000,
                zipf_requests: 200_000,
                dist_groups: vec![3, 8, 16],
                scaling_groups: vec![2, 3, 4, 5, 6],
                scaling_secs: 5.0,
                scaling_rate: 10_000.0,
                failure_secs: 12.0,
                kill_at: 3.0,
                restart_at: 7.0,
                failure_rate: 5_000.0,
                failure_keys: 10_000,
                resize_groups: (2..=9).collect(),
                grow_secs: 15.0,
                grow_at: 3.0,
            }
        }
    }
}

struct Ctx {
    bin: PathBuf,
    out: PathBuf,
    data: PathBuf,
    tmp: PathBuf,
    sizes: Sizes,
    short: bool,
    twemproxy: bool,
    bar: ProgressBar,
    /// Lines for the closing summary.
    notes: Vec<String>,
    started: Instant,
    png: bool,
}

impl Ctx {
    fn say(&mut self, line: String) {
        let line = format!("[{:5.1} s] {line}", self.started.elapsed().as_secs_f64());
        if self.bar.is_hidden() {
            // No terminal (a log, CI) or --quiet: the bar draws nothing, the lines still go out.
            eprintln!("{line}");
        } else {
            self.bar.println(&line);
        }
        self.notes.push(line);
    }

    fn step(&self, what: &str) {
        self.bar.set_message(what.to_string());
    }

    fn done(&self) {
        self.bar.inc(1);
    }

    fn write(&self, name: &str, text: &str) -> Res<()> {
        std::fs::write(self.data.join(name), text)?;
        Ok(())
    }

    fn chart(&mut self, figure: &Figure, stem: &str) {
        match figure.save_as(&self.out.join(stem), self.png) {
            Ok(()) => {}
            Err(e) => self.say(format!("chart {stem} not drawn: {e}")),
        }
    }
}

#[tokio::main]
async fn main() -> Res<()> {
    let args = Args::parse();
    let bin = match args.jumpcache {
        Some(b) => b,
        None => std::env::current_exe()?
            .parent()
            .ok_or("no directory for this program")?
            .join("jumpcache"),
    };
    if !bin.is_file() {
        return Err(format!(
            "{} not found: build it (cargo build --release --bin jumpcache) or pass --jumpcache",
            bin.display()
        )
        .into());
    }
    let only: Vec<&str> = args.only.split(',').map(str::trim).collect();
    const NAMES: [&str; 5] = ["distribution", "scaling", "failure", "resize", "grow"];
    if let Some(bad) = only.iter().find(|o| !NAMES.contains(o)) {
        return Err(format!(
            "--only: no experiment {bad:?} (there are {})",
            NAMES.join(", ")
        )
        .into());
    }
    let sizes = Sizes::new(args.short);
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from(if args.short {
            "target/experiments-short"
        } else {
            "docs/experiments"
        })
    });
    let data = out.join("data");
    std::fs::create_dir_all(&data)?;
    let tmp = std::env::temp_dir().join(format!("jumpcache-experiments-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let twemproxy = procs::have("nutcracker") && procs::have("redis-server");
    // Steps: one per group count or scenario, so the bar moves through a long run.
    let mut steps = 0;
    if only.contains(&"distribution") {
        steps += sizes.dist_groups.len() * 3;
    }
    if only.contains(&"scaling") {
        steps += sizes.scaling_groups.len();
    }
    if only.contains(&"failure") {
        steps += 2;
    }
    if only.contains(&"resize") {
        steps += (sizes.resize_groups.len() + 1) * 3;
    }
    if only.contains(&"grow") {
        steps += 1;
    }
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(steps as u64)
    };
    if let Ok(style) =
        ProgressStyle::with_template("[{elapsed_precise}] [{bar:30}] {pos}/{len} steps  {msg}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    let mut ctx = Ctx {
        bin,
        out: out.clone(),
        data,
        tmp: tmp.clone(),
        sizes,
        short: args.short,
        twemproxy,
        bar,
        notes: Vec::new(),
        started: Instant::now(),
        png: !args.no_png,
    };
    ctx.say(format!(
        "jumpcache: {}; twemproxy: {}; mode: {}",
        ctx.bin.display(),
        if twemproxy {
            "nutcracker and redis-server found: ketama and modulo are measured"
        } else {
            "nutcracker or redis-server missing: ketama and modulo are computed only"
        },
        if args.short { "short" } else { "full" }
    ));
    let loadavg = || {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    ctx.say(format!(
        "{} cores; load average at the start: {}",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        loadavg()
    ));
    let started = Instant::now();
    if only.contains(&"distribution") {
        distribution(&mut ctx).await?;
    }
    if only.contains(&"scaling") {
        scaling(&mut ctx).await?;
    }
    if only.contains(&"failure") {
        failure(&mut ctx).await?;
    }
    if only.contains(&"resize") {
        resize(&mut ctx).await?;
    }
    if only.contains(&"grow") {
        grow(&mut ctx).await?;
    }
    ctx.say(format!("load average at the end: {}", loadavg()));
    ctx.bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&tmp);
    let mut summary = ctx.notes.join("\n");
    let _ = write!(
        summary,
        "\nfinished in {:.0} s\n",
        started.elapsed().as_secs_f64()
    );
    // A partial run (--only) keeps the full run's summary.
    let name = if args.only == Args::parse_from(["experiments"]).only {
        "summary.txt".to_string()
    } else {
        format!("summary-{}.txt", args.only.replace(',', "-"))
    };
    std::fs::write(ctx.data.join(name), &summary)?;
    println!("{summary}");
    Ok(())
}

/// A backend the keys are loaded into: jumpcache (a cluster) or twemproxy over redis-servers.
struct Backend {
    /// Where clients send requests.
    addr: String,
    /// Each group's (server's) own address, in group order.
    servers: Vec<String>,
    _procs: Vec<Proc>,
}

async fn backend(ctx: &Ctx, scheme: Scheme, n: usize) -> Res<Backend> {
    match scheme {
        Scheme::Jump => {
            let cluster = Cluster::start(&ctx.bin, n, 0, &[]).await?;
            Ok(Backend {
                addr: cluster.addr.clone(),
                servers: cluster.primaries(),
                _procs: vec![cluster.proc],
            })
        }
        Scheme::Ketama | Scheme::Modula => {
            let mut procs = Vec::new();
            let mut servers = Vec::new();
            for _ in 0..n {
                let (p, addr) = procs::redis_server().await?;
                procs.push(p);
                servers.push(addr);
            }
            let distribution = if scheme == Scheme::Ketama {
                "ketama"
            } else {
                "modula"
            };
            let (p, addr) = procs::nutcracker(&ctx.tmp, &servers, distribution).await?;
            procs.push(p);
            Ok(Backend {
                addr,
                servers,
                _procs: procs,
            })
        }
    }
}

fn computed_counts(scheme: Scheme, n: usize, keys: u64) -> Vec<u64> {
    let placer = Placer::new(scheme, &server_names(n));
    let mut counts = vec![0u64; n];
    for k in 0..keys {
        counts[placer.place(key_name("key:", k).as_bytes())] += 1;
    }
    counts
}

fn max_over_mean(v: &[u64]) -> f64 {
    let sum: u64 = v.iter().sum();
    if sum == 0 {
        return 0.0;
    }
    let mean = sum as f64 / v.len() as f64;
    *v.iter().max().unwrap_or(&0) as f64 / mean
}

async fn commands(servers: &[String]) -> Res<Vec<u64>> {
    let mut v = Vec::new();
    for s in servers {
        v.push(procs::commands_processed(s).await?);
    }
    Ok(v)
}

/// A short closed-loop run of GETs whose figures are dropped: connections made, caches warm.
/// GETs only: a SET here would write a value the stale-read check of the next run does not
/// know (version 0, older than the preload's).
async fn warm_up(ctx: &Ctx, addr: &str, keys: u64) -> Res<()> {
    let secs = if ctx.short { 0.3 } else { 1.0 };
    loadgen::run(loadgen::Config {
        duration: Duration::from_secs_f64(secs),
        connections: 16,
        get_ratio: 1.0,
        ..quiet_config(addr, keys)
    })
    .await?;
    Ok(())
}

fn quiet_config(addr: &str, keys: u64) -> loadgen::Config {
    loadgen::Config {
        addr: addr.to_string(),
        keys,
        progress: false,
        ..loadgen::Config::default()
    }
}

/// One scheme over one group count: keys per group, requests per group, measured (or computed).
type DistResult = (Scheme, usize, Vec<u64>, Vec<u64>, bool);

/// One group count of the scaling run: closed-loop and open-loop reports, requests per group.
type ScaleRow = (usize, Report, Report, Vec<u64>);

/// Keys and Zipf requests per group over 3, 8 and 16 groups, for jump, ketama and modulo.
async fn distribution(ctx: &mut Ctx) -> Res<()> {
    let keys = ctx.sizes.keys;
    let requests = ctx.sizes.zipf_requests;
    let mut csv =
        String::from("scheme,groups,group,keys_measured,keys_computed,requests_measured,source\n");
    let mut summary = String::from(
        "scheme,groups,keys,requests,keys_max_over_mean,requests_max_over_mean,measured_equals_computed\n",
    );
    // results[(scheme, n)] = (keys per group, requests per group, measured?)
    let mut results: Vec<DistResult> = Vec::new();
    for &n in &ctx.sizes.dist_groups.clone() {
        for scheme in Scheme::ALL {
            ctx.step(&format!("distribution: {} over {n} groups", scheme.name()));
            let computed = computed_counts(scheme, n, keys);
            let measured = scheme == Scheme::Jump || ctx.twemproxy;
            let (key_counts, req_counts) = if measured {
                let b = backend(ctx, scheme, n).await?;
                loadgen::preload(&b.addr, "key:", keys, 32, 4).await?;
                let mut key_counts = Vec::new();
                for s in &b.servers {
                    key_counts.push(procs::dbsize(s).await?);
                }
                let before = commands(&b.servers).await?;
                let report = loadgen::run(loadgen::Config {
                    requests: Some(requests),
                    duration: Duration::from_secs(600),
                    dist: KeyDist::Zipf { s: 0.99 },
                    get_ratio: 1.0,
                    connections: 16,
                    ..quiet_config(&b.addr, keys)
                })
                .await?;
                if report.counts.errors > 0 {
                    return Err(
                        format!("zipf run on {}: {}", scheme.name(), report.summary()).into(),
                    );
                }
                let after = commands(&b.servers).await?;
                let reqs = after
                    .iter()
                    .zip(&before)
                    .map(|(a, b)| a.saturating_sub(*b).saturating_sub(1))
                    .collect();
                (key_counts, reqs)
            } else {
                (computed.clone(), vec![0; n])
            };
            let agree = key_counts == computed;
            if measured && !agree {
                ctx.say(format!(
                    "distribution: {} over {n}: measured keys {key_counts:?} differ from computed {computed:?}",
                    scheme.name()
                ));
            }
            for g in 0..n {
                let _ = writeln!(
                    csv,
                    "{},{n},{g},{},{},{},{}",
                    scheme.name(),
                    if measured {
                        key_counts[g].to_string()
                    } else {
                        String::new()
                    },
                    computed[g],
                    if measured {
                        req_counts[g].to_string()
                    } else {
                        String::new()
                    },
                    if measured { "measured" } else { "computed" }
                );
            }
            let kmm = max_over_mean(&key_counts);
            let rmm = max_over_mean(&req_counts);
            let _ = writeln!(
                summary,
                "{},{n},{keys},{requests},{kmm:.4},{rmm:.4},{}",
                scheme.name(),
                if measured {
                    agree.to_string()
                } else {
                    "n/a".into()
                }
            );
            ctx.say(format!(
                "distribution: {:>6} over {n:>2} groups: keys max/mean {kmm:.3}, zipf requests max/mean {rmm:.3} ({}{})",
                scheme.name(),
                if measured { "measured" } else { "computed" },
                if measured && agree { ", equal to the computed placement" } else { "" }
            ));
            results.push((scheme, n, key_counts, req_counts, measured));
            ctx.done();
        }
    }
    ctx.write("distribution.csv", &csv)?;
    ctx.write("distribution_summary.csv", &summary)?;
    let groups = ctx.sizes.dist_groups.clone();
    let mut panels = Vec::new();
    for (row, what) in ["keys", "requests"].iter().enumerate() {
        for &n in &groups {
            let mut p = Panel::new(
                if row == 0 {
                    format!("{n} groups: keys per group ({keys} keys)")
                } else {
                    format!("{n} groups: Zipf(0.99) GETs per group ({requests})")
                },
                "group",
                if row == 0 { "keys" } else { "requests" },
                Kind::Bars {
                    categories: (0..n).map(|g| g.to_string()).collect(),
                },
            );
            for (si, scheme) in Scheme::ALL.iter().enumerate() {
                let Some((_, _, k, r, measured)) =
                    results.iter().find(|(s, m, ..)| s == scheme && *m == n)
                else {
                    continue;
                };
                let v = if row == 0 { k } else { r };
                if row == 1 && !measured {
                    continue;
                }
                p.series.push(Series::new(
                    format!(
                        "{}{} (max/mean {:.2})",
                        scheme.name(),
                        if *measured { "" } else { ", computed" },
                        max_over_mean(v)
                    ),
                    v.iter()
                        .enumerate()
                        .map(|(g, &c)| (g as f64, c as f64))
                        .collect(),
                    COLORS[si],
                ));
            }
            let _ = what;
            panels.push(p);
        }
    }
    let figure = Figure {
        title: format!(
            "Load distribution: {keys} keys, then {requests} Zipf(0.99) GETs; jump via jumpcache, ketama and modulo via twemproxy"
        ),
        rows: 2,
        cols: groups.len(),
        panels,
        width: 600 * groups.len() as u32,
        height: 900,
    };
    ctx.chart(&figure, "distribution");
    Ok(())
}

fn shard_spec(groups: &[Vec<Shard>]) -> String {
    groups
        .iter()
        .map(|g| {
            g.iter()
                .map(|s| s.addr.clone())
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// 2 to 6 groups (one `jumpcache shard` process each) behind one router, same load.
async fn scaling(ctx: &mut Ctx) -> Res<()> {
    let keys = ctx.sizes.keys;
    let secs = ctx.sizes.scaling_secs;
    let rate = ctx.sizes.scaling_rate;
    let mut csv = String::from(
        "groups,closed_connections,closed_ok_per_s,closed_p50_us,closed_p99_us,open_rate,open_ok_per_s,open_p50_us,open_p99_us,open_p999_us,open_send_lateness_p50_us,open_send_lateness_p99_us,requests_per_group_mean,requests_per_group_min,requests_per_group_max\n",
    );
    let mut per_group = String::from("groups,group,requests\n");
    let mut rows: Vec<ScaleRow> = Vec::new();
    for &n in &ctx.sizes.scaling_groups.clone() {
        ctx.step(&format!("scaling: {n} groups"));
        let mut shards = Vec::new();
        for _ in 0..n {
            shards.push(vec![Shard::start(&ctx.bin).await?]);
        }
        let servers: Vec<String> = shards.iter().map(|g| g[0].addr.clone()).collect();
        let (_router, addr) = procs::router(&ctx.bin, &shard_spec(&shards), &[]).await?;
        loadgen::preload(&addr, "key:", keys, 32, 4).await?;
        warm_up(ctx, &addr, keys).await?;
        let closed = loadgen::run(loadgen::Config {
            duration: Duration::from_secs_f64(secs),
            connections: 32,
            ..quiet_config(&addr, keys)
        })
        .await?;
        let before = commands(&servers).await?;
        let open = loadgen::run(loadgen::Config {
            duration: Duration::from_secs_f64(secs),
            connections: 32,
            rate: Some(rate),
            ..quiet_config(&addr, keys)
        })
        .await?;
        let after = commands(&servers).await?;
        let reqs: Vec<u64> = after
            .iter()
            .zip(&before)
            .map(|(a, b)| a.saturating_sub(*b).saturating_sub(1))
            .collect();
        for (g, r) in reqs.iter().enumerate() {
            let _ = writeln!(per_group, "{n},{g},{r}");
        }
        let mean = reqs.iter().sum::<u64>() as f64 / n as f64;
        let _ = writeln!(
            csv,
            "{n},32,{:.0},{},{},{rate},{:.0},{},{},{},{},{},{mean:.0},{},{}",
            closed.throughput(),
            closed.quantile_us(0.5),
            closed.quantile_us(0.99),
            open.throughput(),
            open.quantile_us(0.5),
            open.quantile_us(0.99),
            open.quantile_us(0.999),
            open.lateness.value_at_quantile(0.5),
            open.lateness.value_at_quantile(0.99),
            reqs.iter().min().unwrap_or(&0),
            reqs.iter().max().unwrap_or(&0)
        );
        ctx.say(format!(
            "scaling: {n} groups: closed loop {:.0} req/s (p50 {} µs, p99 {} µs); open loop at {rate:.0}/s: p50 {} µs, p99 {} µs (of which the generator's send lateness p99 {} µs); {mean:.0} requests per group (errors {} / {})",
            closed.throughput(),
            closed.quantile_us(0.5),
            closed.quantile_us(0.99),
            open.quantile_us(0.5),
            open.quantile_us(0.99),
            open.lateness.value_at_quantile(0.99),
            closed.counts.errors,
            open.counts.errors
        ));
        rows.push((n, closed, open, reqs));
        ctx.done();
    }
    ctx.write("scaling.csv", &csv)?;
    ctx.write("scaling_groups.csv", &per_group)?;
    let pts = |f: &dyn Fn(&ScaleRow) -> f64| -> Vec<(f64, f64)> {
        rows.iter().map(|r| (r.0 as f64, f(r))).collect()
    };
    let x_range = Some((
        *ctx.sizes.scaling_groups.first().unwrap_or(&2) as f64 - 0.3,
        *ctx.sizes.scaling_groups.last().unwrap_or(&6) as f64 + 0.3,
    ));
    let total = |r: &ScaleRow| r.3.iter().sum::<u64>() as f64;
    let mut load = Panel::new(
        format!("Requests per group (open loop, {rate:.0}/s for {secs} s)"),
        "groups",
        "requests per group",
        Kind::Lines { markers: true },
    );
    load.series.push(Series::new(
        "mean",
        pts(&|r| total(r) / r.0 as f64),
        COLORS[0],
    ));
    load.series.push(Series::new(
        "max",
        pts(&|r| *r.3.iter().max().unwrap_or(&0) as f64),
        COLORS[3],
    ));
    load.series.push(Series::new(
        "min",
        pts(&|r| *r.3.iter().min().unwrap_or(&0) as f64),
        COLORS[2],
    ));
    let first_total = rows.first().map(total).unwrap_or(0.0);
    load.series.push(
        Series::new(
            "ideal: total / N",
            pts(&|r| first_total / r.0 as f64),
            COLORS[5],
        )
        .dashed(),
    );
    load.x_range = x_range;
    load.integer_x = true;
    let mut lat = Panel::new(
        "Latency (open loop: from intended send time)",
        "groups",
        "latency (ms)",
        Kind::Lines { markers: true },
    );
    lat.series.push(Series::new(
        format!("open p50 at {rate:.0}/s"),
        pts(&|r| r.2.quantile_us(0.5) as f64 / 1000.0),
        COLORS[0],
    ));
    lat.series.push(Series::new(
        format!("open p99 at {rate:.0}/s"),
        pts(&|r| r.2.quantile_us(0.99) as f64 / 1000.0),
        COLORS[3],
    ));
    lat.series.push(Series::new(
        "open: generator's send lateness p99",
        pts(&|r| r.2.lateness.value_at_quantile(0.99) as f64 / 1000.0),
        COLORS[4],
    ));
    lat.series.push(
        Series::new(
            "closed p50 (32 conns)",
            pts(&|r| r.1.quantile_us(0.5) as f64 / 1000.0),
            COLORS[0],
        )
        .dashed(),
    );
    lat.series.push(
        Series::new(
            "closed p99 (32 conns)",
            pts(&|r| r.1.quantile_us(0.99) as f64 / 1000.0),
            COLORS[3],
        )
        .dashed(),
    );
    lat.x_range = x_range;
    lat.integer_x = true;
    let mut tput = Panel::new(
        "Total throughput, closed loop, 32 connections",
        "groups",
        "requests / s",
        Kind::Lines { markers: true },
    );
    tput.series.push(Series::new(
        "throughput (2 cores: does not scale)",
        pts(&|r| r.1.throughput()),
        COLORS[1],
    ));
    tput.x_range = x_range;
    tput.integer_x = true;
    let figure = Figure {
        title: format!(
            "Scaling: groups of one jumpcache shard process behind one router, {keys} keys, 90% GET, uniform, 2 cores"
        ),
        rows: 1,
        cols: 3,
        panels: vec![load, lat, tput],
        width: 1800,
        height: 560,
    };
    ctx.chart(&figure, "scaling");
    Ok(())
}

/// SIGKILL and restart of one member of a 2-member group, then of a group's only member.
async fn failure(ctx: &mut Ctx) -> Res<()> {
    let s = &ctx.sizes;
    let (secs, kill_at, restart_at, rate, keys) = (
        s.failure_secs,
        s.kill_at,
        s.restart_at,
        s.failure_rate,
        s.failure_keys,
    );
    let mut events = String::from("scenario,event,t_ms\n");
    let mut summary = String::from(
        "scenario,requests,ok,errors,first_error_ms,last_error_ms,lost_after_restart,stale,misses\n",
    );
    let mut panels: Vec<Vec<Panel>> = vec![Vec::new(), Vec::new(), Vec::new()];
    for (si, (scenario, members)) in [("replicated", 2usize), ("single", 1usize)]
        .into_iter()
        .enumerate()
    {
        ctx.step(&format!("failure: {scenario}"));
        let mut groups: Vec<Vec<Shard>> = Vec::new();
        for _ in 0..2 {
            let mut g = Vec::new();
            for _ in 0..members {
                g.push(Shard::start(&ctx.bin).await?);
            }
            groups.push(g);
        }
        let (_router, addr) = procs::router(&ctx.bin, &shard_spec(&groups), &[]).await?;
        let config = loadgen::Config {
            duration: Duration::from_secs_f64(secs),
            rate: Some(rate),
            connections: 16,
            get_ratio: 0.8,
            preloaded: true,
            check_stale: true,
            timeline: Some(Duration::from_millis(100)),
            ..quiet_config(&addr, keys)
        };
        loadgen::preload(&addr, "key:", keys, 64, 4).await?;
        warm_up(ctx, &addr, keys).await?;
        let load = tokio::spawn(loadgen::run(config));
        let t0 = Instant::now();
        let victim = &mut groups[0][0];
        tokio::time::sleep(Duration::from_secs_f64(kill_at)).await;
        let killed = t0.elapsed();
        victim.proc.kill().await;
        tokio::time::sleep(Duration::from_secs_f64(restart_at - kill_at)).await;
        let restarted = t0.elapsed();
        victim.restart().await?;
        let ready = t0.elapsed();
        let report = load.await??;
        // The load's clock starts when its task does; shift the events onto it.
        let offset = report.start.saturating_duration_since(t0);
        let at = |d: Duration| d.saturating_sub(offset).as_secs_f64() * 1000.0;
        let (kill_ms, restart_ms, ready_ms) = (at(killed), at(restarted), at(ready));
        let _ = writeln!(events, "{scenario},kill,{kill_ms:.0}");
        let _ = writeln!(events, "{scenario},restart,{restart_ms:.0}");
        let _ = writeln!(events, "{scenario},restarted_listening,{ready_ms:.0}");
        let mut csv = String::from("t_ms,ok,errors,misses,lost,stale,p50_us,p99_us\n");
        for (i, b) in report.timeline.iter().enumerate() {
            let c = &b.counts;
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{}",
                i * 100,
                c.ok,
                c.errors,
                c.misses,
                c.lost,
                c.stale,
                b.quantile_us(0.5),
                b.quantile_us(0.99)
            );
        }
        ctx.write(&format!("failure_{scenario}.csv"), &csv)?;
        let error_bins: Vec<usize> = report
            .timeline
            .iter()
            .enumerate()
            .filter(|(_, b)| b.counts.errors > 0)
            .map(|(i, _)| i)
            .collect();
        let first = error_bins.first().map(|i| i * 100);
        let last = error_bins.last().map(|i| i * 100 + 100);
        let lost_after: u64 = report
            .timeline
            .iter()
            .enumerate()
            .filter(|(i, _)| (*i as f64 * 100.0) >= restart_ms)
            .map(|(_, b)| b.counts.lost)
            .sum();
        let c = &report.counts;
        let fmt = |v: Option<usize>| v.map(|v| v.to_string()).unwrap_or_default();
        let _ = writeln!(
            summary,
            "{scenario},{},{},{},{},{},{lost_after},{},{}",
            c.ok + c.errors,
            c.ok,
            c.errors,
            fmt(first),
            fmt(last),
            c.stale,
            c.misses
        );
        ctx.say(format!(
            "failure ({scenario}, {members} member(s) per group): kill at {kill_ms:.0} ms, restart at {restart_ms:.0} ms (listening at {ready_ms:.0} ms); {} errors of {} requests{}; stale reads {}; lost (nil after an acknowledged SET) after the restart {lost_after}; p99 overall {} µs",
            c.errors,
            c.ok + c.errors,
            match (first, last) {
                (Some(a), Some(b)) => format!(" in the bins from {a} ms to {b} ms"),
                _ => String::new(),
            },
            c.stale,
            report.quantile_us(0.99)
        ));
        if !report.error_samples.is_empty() {
            ctx.say(format!(
                "failure ({scenario}): error replies: {:?}",
                report.error_samples
            ));
        }
        let evs = vec![
            (kill_ms / 1000.0, "SIGKILL".to_string()),
            (restart_ms / 1000.0, "restart".to_string()),
        ];
        let x_range = Some((0.0, secs));
        let bins = |f: &dyn Fn(&loadgen::Bin) -> f64| -> Vec<(f64, f64)> {
            whole_bins(&report, secs)
                .map(|(i, b)| ((i as f64 + 0.5) * 0.1, f(b)))
                .collect()
        };
        let label = if members == 2 {
            "member 0 of group 0 (of 2) killed"
        } else {
            "group 0's only member killed"
        };
        let mut tput = Panel::new(
            format!("Throughput: {label}"),
            "time (s)",
            "answered requests / s",
            Kind::Lines { markers: false },
        );
        tput.series.push(Series::new(
            "ok / s",
            bins(&|b| b.counts.ok as f64 * 10.0),
            COLORS[0],
        ));
        tput.series.push(
            Series::new(
                format!("target {rate:.0}/s"),
                vec![(0.0, rate), (secs, rate)],
                COLORS[5],
            )
            .dashed(),
        );
        let mut err = Panel::new(
            format!("Errors and lost reads: {label}"),
            "time (s)",
            "per second",
            Kind::Lines { markers: false },
        );
        err.series.push(Series::new(
            "errors / s",
            bins(&|b| b.counts.errors as f64 * 10.0),
            COLORS[3],
        ));
        err.series.push(Series::new(
            "lost reads / s (nil after ack'd SET)",
            bins(&|b| b.counts.lost as f64 * 10.0),
            COLORS[1],
        ));
        err.series.push(Series::new(
            "stale reads / s",
            bins(&|b| b.counts.stale as f64 * 10.0),
            COLORS[4],
        ));
        let mut p99 = Panel::new(
            format!("p99 latency of answered requests: {label}"),
            "time (s)",
            "p99 (ms)",
            Kind::Lines { markers: false },
        );
        p99.series.push(Series::new(
            "p99 per 100 ms bin",
            bins(&|b| b.quantile_us(0.99) as f64 / 1000.0),
            COLORS[2],
        ));
        for p in [&mut tput, &mut err, &mut p99] {
            p.events = evs.clone();
            p.x_range = x_range;
        }
        panels[0].push(tput);
        panels[1].push(err);
        panels[2].push(p99);
        ctx.done();
        let _ = si;
    }
    ctx.write("failure_events.csv", &events)?;
    ctx.write("failure_summary.csv", &summary)?;
    let figure = Figure {
        title: format!(
            "Failure recovery: SIGKILL, then restart; open loop {rate:.0} req/s, 80% GET, {keys} keys, 2 groups, 100 ms bins"
        ),
        rows: 3,
        cols: 2,
        panels: panels.into_iter().flatten().collect(),
        width: 1600,
        height: 1200,
    };
    ctx.chart(&figure, "failure");
    Ok(())
}

/// The timeline's 100 ms bins that lie wholly within the run's `secs` (the last one is cut
/// short by the run's end), with their index.
fn whole_bins(report: &Report, secs: f64) -> impl Iterator<Item = (usize, &loadgen::Bin)> {
    let whole = (secs * 10.0 + 1e-9).floor() as usize;
    report.timeline.iter().enumerate().take(whole)
}

/// Each key's group, read back from the servers (KEYS on each group).
async fn measured_placement(ctx: &Ctx, scheme: Scheme, n: usize, keys: u64) -> Res<Vec<u8>> {
    let b = backend(ctx, scheme, n).await?;
    loadgen::preload(&b.addr, "key:", keys, 8, 4).await?;
    let mut place = vec![u8::MAX; keys as usize];
    for (g, s) in b.servers.iter().enumerate() {
        for k in procs::keys(s).await? {
            if let Some(i) = k.strip_prefix("key:").and_then(|i| i.parse::<usize>().ok()) {
                if i < place.len() {
                    place[i] = g as u8;
                }
            }
        }
    }
    if let Some(i) = place.iter().position(|&g| g == u8::MAX) {
        return Err(format!("{} over {n}: key:{i} is on no server", scheme.name()).into());
    }
    Ok(place)
}

/// Keys moved when a group is added (N → N+1), measured and computed, and the ideal.
async fn resize(ctx: &mut Ctx) -> Res<()> {
    let keys = ctx.sizes.keys;
    let ns = ctx.sizes.resize_groups.clone();
    let mut csv = String::from(
        "scheme,from,to,keys,moved_measured,moved_computed,fraction_measured,fraction_computed,ideal\n",
    );
    let mut lines: Vec<Series> = Vec::new();
    for (si, scheme) in Scheme::ALL.into_iter().enumerate() {
        let measured = scheme == Scheme::Jump || ctx.twemproxy;
        let mut prev: Option<(Vec<u8>, Vec<usize>)> = None;
        let mut pts = Vec::new();
        for &n in ns.iter().chain(std::iter::once(&(ns[ns.len() - 1] + 1))) {
            ctx.step(&format!("resize: {} over {n} groups", scheme.name()));
            let placer = Placer::new(scheme, &server_names(n));
            let computed: Vec<usize> = (0..keys)
                .map(|k| placer.place(key_name("key:", k).as_bytes()))
                .collect();
            let place = if measured {
                measured_placement(ctx, scheme, n, keys).await?
            } else {
                computed.iter().map(|&g| g as u8).collect()
            };
            if let Some((before, before_computed)) = &prev {
                let moved = before.iter().zip(&place).filter(|(a, b)| a != b).count();
                let moved_c = before_computed
                    .iter()
                    .zip(&computed)
                    .filter(|(a, b)| a != b)
                    .count();
                let frac = moved as f64 / keys as f64;
                let ideal = 1.0 / n as f64;
                let _ = writeln!(
                    csv,
                    "{},{},{n},{keys},{},{moved_c},{},{:.5},{ideal:.5}",
                    scheme.name(),
                    n - 1,
                    if measured {
                        moved.to_string()
                    } else {
                        String::new()
                    },
                    if measured {
                        format!("{frac:.5}")
                    } else {
                        String::new()
                    },
                    moved_c as f64 / keys as f64
                );
                ctx.say(format!(
                    "resize: {:>6} {}→{n}: {:.1}% of keys moved ({}; computed {:.1}%), ideal {:.1}%",
                    scheme.name(),
                    n - 1,
                    frac * 100.0,
                    if measured { "measured" } else { "computed" },
                    moved_c as f64 / keys as f64 * 100.0,
                    ideal * 100.0
                ));
                pts.push(((n - 1) as f64, frac * 100.0));
            }
            prev = Some((place, computed));
            ctx.done();
        }
        lines.push(Series::new(
            format!(
                "{}{}",
                scheme.name(),
                if measured { "" } else { " (computed)" }
            ),
            pts,
            COLORS[si],
        ));
    }
    lines.push(
        Series::new(
            "ideal 1/(N+1)",
            ns.iter()
                .map(|&n| (n as f64, 100.0 / (n + 1) as f64))
                .collect(),
            COLORS[5],
        )
        .dashed(),
    );
    ctx.write("resize.csv", &csv)?;
    let mut p = Panel::new(
        format!("Keys moved when one group is added, N → N+1 ({keys} keys)"),
        "N (groups before)",
        "keys moved (%)",
        Kind::Lines { markers: true },
    );
    p.series = lines;
    p.x_range = Some((ns[0] as f64 - 0.3, ns[ns.len() - 1] as f64 + 0.3));
    p.integer_x = true;
    let figure = Figure {
        title: "Resizing: keys that change group on N → N+1 (read back from the servers)".into(),
        rows: 1,
        cols: 1,
        panels: vec![p],
        width: 1100,
        height: 650,
    };
    ctx.chart(&figure, "resize");
    Ok(())
}

/// Live grow with migration: `JUMPCACHE RESIZE <groups>` on a `jumpcache cluster` during load.
async fn grow(ctx: &mut Ctx) -> Res<()> {
    ctx.step("live grow");
    let (secs, at, keys) = (ctx.sizes.grow_secs, ctx.sizes.grow_at, ctx.sizes.keys);
    let rate = if ctx.short { 1_000.0 } else { 5_000.0 };
    let cluster = Cluster::start(&ctx.bin, 3, 0, &[]).await?;
    let config = loadgen::Config {
        duration: Duration::from_secs_f64(secs),
        rate: Some(rate),
        connections: 16,
        preloaded: true,
        timeline: Some(Duration::from_millis(100)),
        ..quiet_config(&cluster.addr, keys)
    };
    loadgen::preload(&cluster.addr, "key:", keys, 64, 4).await?;
    let load = tokio::spawn(loadgen::run(config));
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(at)).await;
    let sent = t0.elapsed();
    let reply = procs::command(&cluster.addr, &["JUMPCACHE", "RESIZE", "4"]).await?;
    if let Reply::Error(e) = &reply {
        load.abort();
        return Err(format!("JUMPCACHE RESIZE 4 answered {e:?}").into());
    }
    let mut finished = None;
    {
        let deadline = Instant::now() + Duration::from_secs_f64(secs);
        while Instant::now() < deadline {
            let info = procs::command(&cluster.addr, &["INFO"])
                .await?
                .text()
                .unwrap_or_default();
            if info_field(&info, "migration_status").as_deref() == Some("idle") {
                finished = Some(t0.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let report = load.await??;
    ctx.done();
    let offset = report.start.saturating_duration_since(t0);
    let at_ms = |d: Duration| d.saturating_sub(offset).as_secs_f64() * 1000.0;
    let mut csv = String::from("t_ms,ok,errors,misses,p50_us,p99_us\n");
    for (i, b) in report.timeline.iter().enumerate() {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{}",
            i * 100,
            b.counts.ok,
            b.counts.errors,
            b.counts.misses,
            b.quantile_us(0.5),
            b.quantile_us(0.99)
        );
    }
    ctx.write("grow.csv", &csv)?;
    let mut evs = vec![(at_ms(sent) / 1000.0, "RESIZE 4".to_string())];
    if let Some(f) = finished {
        evs.push((at_ms(f) / 1000.0, "migration idle".to_string()));
    }
    ctx.say(format!(
        "live grow 3→4: RESIZE at {:.0} ms, migration idle at {}; {} misses, {} errors, p99 {} µs",
        at_ms(sent),
        finished
            .map(|f| format!("{:.0} ms", at_ms(f)))
            .unwrap_or_else(|| "never (within the run)".into()),
        report.counts.misses,
        report.counts.errors,
        report.quantile_us(0.99)
    ));
    let bins = |f: &dyn Fn(&loadgen::Bin) -> f64| -> Vec<(f64, f64)> {
        whole_bins(&report, secs)
            .map(|(i, b)| ((i as f64 + 0.5) * 0.1, f(b)))
            .collect()
    };
    let mut panels = Vec::new();
    for (title, y, series) in [
        (
            "Throughput",
            "answered requests / s",
            Series::new("ok / s", bins(&|b| b.counts.ok as f64 * 10.0), COLORS[0]),
        ),
        (
            "p99 latency",
            "p99 (ms)",
            Series::new(
                "p99 per 100 ms bin",
                bins(&|b| b.quantile_us(0.99) as f64 / 1000.0),
                COLORS[2],
            ),
        ),
        (
            "Misses (GET nil) and errors",
            "per second",
            Series::new(
                "misses / s",
                bins(&|b| b.counts.misses as f64 * 10.0),
                COLORS[1],
            ),
        ),
    ] {
        let mut p = Panel::new(title, "time (s)", y, Kind::Lines { markers: false });
        p.series.push(series);
        if title.starts_with("Misses") {
            p.series.push(Series::new(
                "errors / s",
                bins(&|b| b.counts.errors as f64 * 10.0),
                COLORS[3],
            ));
        }
        p.events = evs.clone();
        p.x_range = Some((0.0, secs));
        panels.push(p);
    }
    let figure = Figure {
        title: format!("Live grow 3 → 4 groups with migration, open loop {rate:.0} req/s, 90% GET, {keys} keys"),
        rows: 3,
        cols: 1,
        panels,
        width: 1200,
        height: 1100,
    };
    ctx.chart(&figure, "grow");
    Ok(())
}
