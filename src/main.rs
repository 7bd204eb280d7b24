//! The `jumpcache` binary: `shard`, `router` and `cluster` subcommands, logging, signals,
//! and the Prometheus exporter (the only place a metrics recorder is installed).

mod admin;
mod cli;
mod config_file;
mod metrics_exporter;
mod topology;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use cli::{ClusterArgs, LogFormat, RouterArgs, ShardArgs, Sub};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cli = cli::parse_from(config_file::args_with_config_file(std::env::args_os())?);
    init_logging(cli.log_format);
    let whole_cluster = matches!(cli.command, Sub::Cluster(_));
    if let Sub::Shard(args) = &cli.command {
        // Before the runtime starts its threads: they inherit the policy.
        set_sched_policy(args.sched.to_sched());
    }
    let runtime = runtime(cli.threads, whole_cluster)?;
    runtime.block_on(async move {
        match cli.command {
            Sub::Shard(args) => shard(args).await,
            Sub::Router(args) => router(args).await,
            Sub::Cluster(args) => cluster(args).await,
            Sub::Topology(args) => topology::run(args).await,
        }
    })
}

/// Logs to stderr at `RUST_LOG`'s levels (default `info`), as text or one JSON object a line.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only for a person at a terminal: a collector reading a pipe gets plain text.
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// Builds the runtime: `threads` workers, 0 meaning every core for a whole cluster and half
/// the cores (at least one) otherwise; one worker is a current-thread runtime, whose tasks
/// wake each other without crossing threads.
fn runtime(threads: usize, whole_cluster: bool) -> std::io::Result<tokio::runtime::Runtime> {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let threads = match threads {
        0 if whole_cluster => cores,
        0 => (cores / 2).max(1),
        n => n,
    };
    tracing::debug!(threads, "starting the runtime");
    if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// Sets the process's scheduling policy; where the system refuses it, says so and goes on.
fn set_sched_policy(policy: sched::Policy) {
    match sched::policy() {
        // Nothing to change (the usual case for the default, `normal`).
        Ok(Some(current)) if current == policy => return,
        // No policies to choose from (not Linux): every process runs as `normal`.
        Err(_) if policy == sched::Policy::Normal => return,
        _ => {}
    }
    match sched::set_policy(policy) {
        Ok(()) => tracing::debug!(?policy, "scheduling policy set"),
        Err(e) => {
            tracing::warn!(?policy, error = %e, "cannot set the scheduling policy; running with the default")
        }
    }
}

/// Descriptors kept for everything but clients: listeners, shard connections, logs.
const RESERVED_FDS: u64 = 32;

/// Raises the soft file-descriptor limit so `maxclients` clients fit, as Redis does at start;
/// where the hard limit is lower, says how many clients will fit instead.
fn raise_fd_limit(maxclients: usize, other_fds: u64) {
    let wanted = maxclients as u64 + RESERVED_FDS + other_fds;
    match rlimit::increase_nofile_limit(wanted) {
        Ok(got) if got >= wanted => {}
        Ok(got) => tracing::warn!(
            maxclients,
            fd_limit = got,
            "the file descriptor limit is below maxclients + {}; raise `ulimit -n` (clients past \
             the limit wait until descriptors free up)",
            RESERVED_FDS + other_fds
        ),
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the file descriptor limit"),
    }
}

async fn bind(host: &str, port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind((host, port))
        .await
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot listen on {host}:{port}: {e}")))
}

/// Binds the plain port (unless `--port 0` beside a TLS port) and the TLS port (when
/// `--tls-port` is set), and makes the TLS configuration: a server side for the TLS port, a
/// client side when `connect` (a router's `--tls-shards`). The TLS files are reloaded on
/// SIGHUP and when they change.
async fn listeners(
    host: &str,
    port: u16,
    tls: &serve::TlsConfig,
    connect: bool,
) -> Result<(serve::Listeners, Option<Arc<serve::Tls>>), Box<dyn std::error::Error>> {
    tls.validate()?;
    let made = match (tls.enabled(), connect) {
        (false, false) => None,
        (serve_tls, connect) => Some(serve::Tls::new(tls.clone(), serve_tls, connect)?),
    };
    if let Some(made) = &made {
        reload_tls_on_change(made.clone());
    }
    let plain = match (port, tls.enabled()) {
        (0, true) => None,
        (port, _) => Some(bind(host, port).await?),
    };
    let tls_listener = match (&made, tls.enabled()) {
        (Some(made), true) => Some((bind(host, tls.tls_port).await?, made.clone())),
        _ => None,
    };
    Ok((serve::Listeners::new(plain, tls_listener)?, made))
}

/// Reloads the certificates on SIGHUP and when a file's bytes change (checked every second).
fn reload_tls_on_change(tls: Arc<serve::Tls>) {
    // Never triggered: the watch ends with the process.
    let forever = serve::Shutdown::new();
    tokio::spawn(
        tls.clone()
            .watch(std::time::Duration::from_secs(1), forever),
    );
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let _ = tls.reload();
            }
        });
    }
}

async fn shard(args: ShardArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = args.config;
    config.clients = args.clients;
    config.rdb = Some(args.rdb);
    config.validate()?;
    raise_fd_limit(config.clients.maxclients, 0);
    let (listener, _tls) = listeners(&args.bind, args.port, &args.tls, false).await?;
    if metrics_exporter::install(&args.bind, args.metrics_port, server::stats::describe).await? {
        config.export_metrics = true;
    }
    let stop = shutdown_signal();
    tracing::info!(addr = %listener.local_addr()?, tls_addr = ?listener.tls_addr(), "shard listening");
    if let Err(e) = server::run(listener, config, stop).await {
        // A snapshot that cannot be loaded (`--rdb-corrupt fail`) names the file and the fault.
        tracing::error!(error = %e, "shard stopped");
        return Err(e.to_string().into());
    }
    tracing::info!("shard stopped");
    Ok(())
}

/// Makes room for the router's clients and `shard_fds` shard connections (the descriptor
/// limit), binds its listener and serves its `/metrics`.
async fn router_listener(
    host: &str,
    port: u16,
    metrics_port: u16,
    config: &mut router::Config,
    tls: &serve::TlsConfig,
    shard_fds: u64,
) -> Result<serve::Listeners, Box<dyn std::error::Error>> {
    raise_fd_limit(config.clients.maxclients, shard_fds);
    let (listener, made) = listeners(host, port, tls, config.tls_shards).await?;
    if config.tls_shards {
        config.shard_tls = router::ShardTls(made);
    }
    metrics_exporter::install(host, metrics_port, router::observe::stats::describe).await?;
    Ok(listener)
}

async fn router(args: RouterArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = args.config;
    config.clients = args.clients;
    // A topology file may grow the cluster later: room for four times its members now.
    let members = match &config.topology {
        Some(_) => 4 * 64,
        None => config.shards.iter().map(|g| g.split('|').count()).sum(),
    };
    let shard_fds = (members * config.shard_connections) as u64;
    let listener = router_listener(
        &args.bind,
        args.port,
        args.metrics_port,
        &mut config,
        &args.tls,
        shard_fds,
    )
    .await?;
    // After the TLS files are read: `--tls-shards` needs what they make.
    config.validate()?;
    let stop = shutdown_signal();
    tracing::info!(addr = %listener.local_addr()?, tls_addr = ?listener.tls_addr(), shards = ?config.shards, topology = ?config.topology, "router listening");
    router::run(listener, config, stop).await?;
    tracing::info!("router stopped");
    Ok(())
}

/// Starts N shards on free loopback ports and a router over them, in this one process.
///
/// The router calls its shards in-process (`server::Embedded`): no loopback hop per request.
/// Their listeners serve everyone else (redis-cli on a shard's port) on the same state.
///
/// The shards take the router's size limits (a request the router accepts, a shard accepts;
/// a reply the router may send, a shard may too), the default `maxclients` and no idle
/// timeout (their only clients are the router's connections), and `--shard-password` as
/// their `requirepass`.
async fn cluster(args: ClusterArgs) -> Result<(), Box<dyn std::error::Error>> {
    let mut shard_config = args.shard;
    shard_config.clients = serve::ClientConfig {
        proto_max_bulk_len: args.clients.proto_max_bulk_len,
        client_query_buffer_limit: args.clients.client_query_buffer_limit,
        client_output_buffer_limit: args.clients.client_output_buffer_limit,
        requirepass: args.router.shard_password.clone(),
        shutdown_grace_ms: args.clients.shutdown_grace_ms,
        ..serve::ClientConfig::default()
    };
    shard_config.validate()?;
    let count: usize = match args.router.shards.as_slice() {
        [n] => n
            .parse()
            .map_err(|_| format!("--shards: {n:?} is not a number of shards"))?,
        _ => return Err("--shards takes one number in cluster mode".into()),
    };
    if count == 0 {
        return Err("--shards must be at least 1".into());
    }
    if args.replicas > 31 {
        return Err("--replicas must be at most 31".into());
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut groups: Vec<Vec<SocketAddr>> = Vec::new();
    let mut local = router::LocalShards::new();
    let snapshots = args.dir.map(|dir| {
        let mut rdb = server::rdb::RdbConfig::at(dir, "");
        rdb.save = args.save;
        rdb
    });
    // The router's CONFIG GET: the directory of every shard's `shard-<n>.rdb`.
    let snapshot_settings = snapshots.as_ref().map(|rdb| {
        serve::persistence::SnapshotSettings::new(&rdb.dir, "shard-<n>.rdb", rdb.save.to_string())
    });
    let start_shard = local_shard_factory(shard_config.clone(), snapshots, stop_rx);
    for i in 0..count {
        let mut members = Vec::new();
        for r in 0..=args.replicas {
            let (addr, shard) = start_shard().await?;
            match r {
                0 => println!("shard {i} listening on {addr}"),
                r => println!("shard {i} replica {r} listening on {addr}"),
            }
            members.push(addr.parse::<SocketAddr>()?);
            local.insert(addr, shard);
        }
        groups.push(members);
    }
    let mut config = args.router;
    config.shards = groups
        .iter()
        .map(|g| {
            g.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect();
    // Replicas hold copies: they add no capacity.
    config.maxmemory = shard_config.max_memory.saturating_mul(count as u64);
    if let Some(settings) = snapshot_settings {
        config.snapshots = settings;
    }
    config.clients = args.clients;
    config.validate()?;
    // The router's clients, plus both ends of every shard connection (this one process).
    let members = count * (1 + args.replicas);
    let shard_fds = 2 * (members * config.shard_connections) as u64;
    // The router's clients may use TLS; its shards are in this process (no link to secure).
    config.tls_shards = false;
    let listener = router_listener(
        &args.bind,
        args.port,
        args.metrics_port,
        &mut config,
        &args.tls,
        shard_fds,
    )
    .await?;
    let replicas = match args.replicas {
        0 => String::new(),
        r => format!(" ({r} replicas each)"),
    };
    let stop = shutdown_signal();
    let tls_addr = listener
        .tls_addr()
        .map(|a| format!(" (TLS on {a})"))
        .unwrap_or_default();
    println!(
        "router listening on {}{tls_addr} over {} shards{replicas}",
        listener.local_addr()?,
        groups.len(),
    );
    router::run_elastic(listener, config, local, Some(start_shard), stop).await?;
    let _ = stop_tx.send(true);
    tracing::info!("cluster stopped");
    Ok(())
}

/// Returns what starts one in-process shard on a free loopback port (at start-up, and for
/// `JUMPCACHE RESIZE`): one state, two ways in, the router calling it in-process and
/// redis-cli over TCP. Each serves until `stop` says true.
/// Returns what starts the cluster's shards; with `snapshots`, the n-th shard started keeps
/// `shard-<n>.rdb` in its directory.
fn local_shard_factory(
    config: server::Config,
    snapshots: Option<server::rdb::RdbConfig>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> router::ShardFactory {
    let started = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    Arc::new(move || {
        let (mut config, mut stop) = (config.clone(), stop.clone());
        let n = started.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        config.rdb = snapshots.clone().map(|mut rdb| {
            rdb.dbfilename = format!("shard-{n}.rdb");
            rdb
        });
        Box::pin(async move {
            let listener = bind("127.0.0.1", 0).await?;
            let addr = listener.local_addr()?;
            let state = server::ShardState::new(config, addr.port());
            // Loaded before the router can call it in-process (its listener would only
            // load it before its first socket client).
            let loader = state.clone();
            tokio::task::spawn_blocking(move || loader.persistence.load_at_start(&loader.store))
                .await?
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let shard: Arc<dyn serve::LocalShard> = Arc::new(server::Embedded::new(state.clone()));
            tokio::spawn(async move {
                let _ = server::serve(listener, state, async move {
                    let _ = stop.changed().await;
                })
                .await;
            });
            Ok((addr.to_string(), shard))
        })
    })
}

/// Returns a future that resolves on SIGTERM or SIGINT (Ctrl-C). The handlers are installed
/// here, before the process says it is listening, so a signal sent right after start-up stops
/// it cleanly instead of killing it.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let (term, int) = {
        use tokio::signal::unix::{signal, SignalKind};
        (
            signal(SignalKind::terminate()).ok(),
            signal(SignalKind::interrupt()).ok(),
        )
    };
    async move {
        #[cfg(unix)]
        {
            let wait = |s: Option<tokio::signal::unix::Signal>| async move {
                match s {
                    Some(mut s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(term) => {}
                () = wait(int) => {}
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        admin::set_draining();
        tracing::info!("shutdown signal received");
    }
}
