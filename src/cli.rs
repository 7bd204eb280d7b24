//! Command-line interface: one subcommand per process kind.
//!
//! Every flag can also come from the environment, as `JUMPCACHE_` and its long name in upper
//! case with `_` for `-` (`--max-memory` is `JUMPCACHE_MAX_MEMORY`), and from the config file
//! (`config_file`). A flag on the command line wins over the environment, which wins over
//! the file.

use std::ffi::OsString;

use clap::{Arg, Args, Command, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};

/// A Redis-protocol caching cluster: routers with jump consistent hashing over memory-bounded cache shards.
#[derive(Debug, Parser)]
#[command(name = "jumpcache", version, args_override_self = true)]
pub struct Cli {
    /// A TOML file with the same settings as the flags (kebab-case keys); flags and
    /// `JUMPCACHE_*` variables win over it.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,

    /// Worker threads. 0 (the default): every core for `cluster`, which is the whole cluster;
    /// half the cores (at least 1) for `shard` and `router`, which usually share a machine.
    /// 1 runs the process on one thread: the least CPU per request, but at most one core.
    #[arg(long, global = true, default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Log lines on stderr: `text` for people, `json` (one object per line) for log
    /// collectors. Neither ever holds a password or a value.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Sub,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    Text,
    /// One JSON object per event (`timestamp`, `level`, `fields`, `target`).
    Json,
}

/// Prefix of the environment variable that sets a flag.
pub const ENV_PREFIX: &str = "JUMPCACHE_";

/// Returns the environment variable that sets `--long`: `JUMPCACHE_MAX_MEMORY` for
/// `max-memory`.
pub fn env_name(long: &str) -> String {
    format!("{ENV_PREFIX}{}", long.to_uppercase().replace('-', "_"))
}

/// Gives every flag of `command` and its subcommands its environment variable, values
/// hidden from `--help` (they may be passwords).
pub fn with_env(command: Command) -> Command {
    fn add(arg: Arg) -> Arg {
        match arg.get_long() {
            Some("help" | "version") | None => arg,
            Some(long) => {
                let name = env_name(long);
                arg.env(name).hide_env_values(true)
            }
        }
    }
    command
        .mut_args(add)
        .mut_subcommands(|sub| sub.mut_args(add))
}

/// Parses `args` (the program name first), taking flags missing from them from the
/// environment; exits with clap's message on an error, as `Parser::parse_from` does.
pub fn parse_from(args: impl IntoIterator<Item = OsString>) -> Cli {
    let matches = with_env(Cli::command()).get_matches_from(args);
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// The process to run.
// Made once at start-up and taken apart at once: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Sub {
    /// Runs one shard: an in-memory cache speaking RESP.
    Shard(ShardArgs),
    /// Runs a router over existing shards.
    Router(RouterArgs),
    /// Runs a router and N shards in this one process (shards on free loopback ports).
    Cluster(ClusterArgs),
    /// Shows a router's topology and resize progress (`status`), or follows a resize with a
    /// progress bar until its keys have moved (`wait`).
    Topology(TopologyArgs),
}

/// `jumpcache topology`.
#[derive(Debug, Args)]
pub struct TopologyArgs {
    /// The router to ask, `host:port`.
    #[arg(long, default_value = "127.0.0.1:6379")]
    pub router: String,
    /// The router's `requirepass`, when it has one.
    #[arg(long)]
    pub password: Option<String>,
    /// `status` prints the router's `# Topology` INFO section; `wait` shows a progress bar
    /// until `migration_status` is `idle`.
    #[arg(value_enum, default_value_t = TopologyAction::Status)]
    pub action: TopologyAction,
}

/// What `jumpcache topology` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopologyAction {
    Status,
    Wait,
}

/// `jumpcache shard`.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Port to listen on (plain TCP). With `--tls-port`, 0 turns the plain port off; without
    /// one, 0 picks a free port.
    #[arg(long, default_value_t = 7001)]
    pub port: u16,
    /// Port for Prometheus `/metrics` on the same address; 0 (the default) serves none.
    #[arg(long, default_value_t = 0)]
    pub metrics_port: u16,
    /// CPU scheduling policy of the shard's threads (Linux). `normal`: the kernel's default.
    /// `batch`: a shard woken by a request does not preempt the task running on its CPU, so
    /// it answers more requests per wake-up and uses less CPU per request, but may wait up to
    /// a scheduler slice for a busy CPU; for a shard sharing few cores with its router.
    #[arg(long, value_enum, default_value_t = SchedPolicy::Normal)]
    pub sched: SchedPolicy,
    #[command(flatten)]
    pub config: server::Config,
    #[command(flatten)]
    pub rdb: server::rdb::RdbConfig,
    #[command(flatten)]
    pub clients: serve::ClientConfig,
    #[command(flatten)]
    pub tls: serve::TlsConfig,
}

/// A process's CPU scheduling policy (see `sched`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SchedPolicy {
    /// `SCHED_OTHER`, the kernel's default.
    Normal,
    /// `SCHED_BATCH`.
    Batch,
}

impl SchedPolicy {
    /// Returns the policy as `sched` names it.
    pub fn to_sched(self) -> sched::Policy {
        match self {
            SchedPolicy::Batch => sched::Policy::Batch,
            SchedPolicy::Normal => sched::Policy::Normal,
        }
    }
}

/// `jumpcache router`.
#[derive(Debug, Args)]
pub struct RouterArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Port to listen on (plain TCP). With `--tls-port`, 0 turns the plain port off; without
    /// one, 0 picks a free port.
    #[arg(long, default_value_t = 6379)]
    pub port: u16,
    /// Port for Prometheus `/metrics` on the same address (redis_exporter's 9121); 0 serves none.
    #[arg(long, default_value_t = 9121)]
    pub metrics_port: u16,
    #[command(flatten)]
    pub config: router::Config,
    #[command(flatten)]
    pub clients: serve::ClientConfig,
    #[command(flatten)]
    pub tls: serve::TlsConfig,
}

/// `jumpcache cluster`. `--shards` here is the number of shard groups to start, each of
/// `1 + --replicas` shards (the router's group list is filled in with their loopback addresses).
/// The client limits and `--requirepass` are the router's; the embedded shards take
/// `--shard-password` as their `requirepass`.
#[derive(Debug, Args)]
#[command(mut_arg("shards", |a| a
    .help("Number of shards to start, on free loopback ports")
    .value_name("N")
    .num_args(1)
    .default_value("3")))]
pub struct ClusterArgs {
    /// Address the router listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Port the router listens on (plain TCP); with `--tls-port`, 0 turns it off.
    #[arg(long, default_value_t = 6379)]
    pub port: u16,
    /// Replicas per shard group: `--shards 3 --replicas 1` starts 3 groups of 2 shards.
    #[arg(long, default_value_t = 0)]
    pub replicas: usize,
    /// Port for the cluster's Prometheus `/metrics` on the router's address; 0 serves none.
    /// The router answers for the whole cluster; the embedded shards export nothing.
    #[arg(long, default_value_t = 9121)]
    pub metrics_port: u16,
    /// Keeps one snapshot file per shard in this directory (`shard-<n>.rdb`, n counting the
    /// shards in start order: group by group, member by member) and loads them at start, so
    /// restart with the same `--shards` and `--replicas`. Without it, nothing is saved.
    #[arg(long)]
    pub dir: Option<std::path::PathBuf>,
    /// Periodic snapshots of every shard, with `--dir`, as the shard's `--save`.
    #[arg(long, default_value = "", value_parser = server::rdb::config::parse_save)]
    pub save: server::rdb::config::SavePoints,
    #[command(flatten)]
    pub shard: server::Config,
    #[command(flatten)]
    pub router: router::Config,
    #[command(flatten)]
    pub clients: serve::ClientConfig,
    #[command(flatten)]
    pub tls: serve::TlsConfig,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_subcommand_takes_the_client_limits_once() {
        Cli::command().debug_assert();
        let limits = [
            "--proto-max-bulk-len",
            "2mb",
            "--client-query-buffer-limit",
            "4mb",
            "--maxclients",
            "5",
            "--timeout",
            "30",
            "--client-output-buffer-limit",
            "8mb",
            "--requirepass",
            "pw",
        ];
        for sub in ["shard", "router", "cluster"] {
            let cli = Cli::parse_from(["jumpcache", sub].iter().chain(&limits));
            let clients = match cli.command {
                Sub::Shard(a) => a.clients,
                Sub::Router(a) => a.clients,
                Sub::Cluster(a) => a.clients,
                Sub::Topology(_) => unreachable!("not among the subcommands parsed"),
            };
            assert_eq!(clients.maxclients, 5, "{sub}");
            assert_eq!(clients.timeout, 30, "{sub}");
            assert_eq!(clients.client_output_buffer_limit, 8 << 20, "{sub}");
            assert!(clients.password().is_some_and(|p| p.matches(b"pw")));
        }
        let cli = Cli::parse_from(["jumpcache", "cluster", "--shard-password", "spw"]);
        let Sub::Cluster(args) = cli.command else {
            panic!("cluster")
        };
        assert!(args
            .router
            .shard_password
            .as_ref()
            .is_some_and(|p| p.matches(b"spw")));
        assert!(
            !format!("{args:?}").contains("spw"),
            "Debug redacts passwords"
        );
    }

    #[test]
    fn every_flag_of_every_subcommand_has_its_environment_variable() {
        let mut command = with_env(Cli::command());
        command.build();
        for sub in command.get_subcommands() {
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long().filter(|l| !matches!(*l, "help" | "version"))
                else {
                    continue;
                };
                let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
                assert_eq!(env, Some(env_name(long)), "{} --{long}", sub.get_name());
            }
        }
        assert_eq!(env_name("max-memory"), "JUMPCACHE_MAX_MEMORY");
    }

    #[test]
    fn threads_is_taken_before_or_after_the_subcommand() {
        assert_eq!(Cli::parse_from(["jumpcache", "shard"]).threads, 0);
        assert_eq!(
            Cli::parse_from(["jumpcache", "--threads", "2", "router"]).threads,
            2
        );
        assert_eq!(
            Cli::parse_from(["jumpcache", "cluster", "--threads", "3"]).threads,
            3
        );
    }
}
