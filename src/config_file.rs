//! `--config FILE`: a TOML file whose keys are the flags' long names.
//!
//! The file's settings become flags placed before the command line's own, and clap keeps the
//! last occurrence of a flag (`args_override_self`), so flags on the command line win. A
//! setting whose `JUMPCACHE_*` environment variable is set is left out, so the environment
//! wins over the file. The file itself may be named by `JUMPCACHE_CONFIG`.

use std::ffi::OsString;

use crate::cli::env_name;

/// Returns `args` with the config file's settings inserted after the subcommand name.
///
/// # Errors
/// The file cannot be read, is not TOML, or holds a value that is not a string, number,
/// boolean or array of those.
pub fn args_with_config_file(
    args: impl IntoIterator<Item = OsString>,
) -> Result<Vec<OsString>, String> {
    args_with_config_file_in(args, |name| std::env::var_os(name).is_some())
}

/// As [`args_with_config_file`], with `is_set` telling which environment variables are set.
fn args_with_config_file_in(
    args: impl IntoIterator<Item = OsString>,
    is_set: impl Fn(&str) -> bool,
) -> Result<Vec<OsString>, String> {
    let mut args: Vec<OsString> = args.into_iter().collect();
    let from_env = || std::env::var_os(env_name("config")).map(Into::into);
    let Some(path) = config_path(&args).or_else(from_env) else {
        return Ok(args);
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut flags = Vec::new();
    for (key, value) in &table {
        if is_set(&env_name(key)) {
            continue;
        }
        // `user` is Redis's one repeated directive: one flag per user, never joined.
        if let (true, toml::Value::Array(items)) = (key == "user", value) {
            for item in items {
                flags.push(OsString::from("--user"));
                flags.push(OsString::from(flag_value(key, item)?));
            }
            continue;
        }
        flags.push(OsString::from(format!("--{key}")));
        flags.push(OsString::from(flag_value(key, value)?));
    }
    // Insert right after the subcommand (the first argument that is not a flag or its value).
    let at = subcommand_index(&args).map_or(args.len(), |i| i + 1);
    args.splice(at..at, flags);
    Ok(args)
}

fn flag_value(key: &str, value: &toml::Value) -> Result<String, String> {
    Ok(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        toml::Value::Array(items) => items
            .iter()
            .map(|v| flag_value(key, v))
            .collect::<Result<Vec<_>, _>>()?
            .join(","),
        _ => {
            return Err(format!(
                "config key '{key}': use a string, number, boolean or array"
            ))
        }
    })
}

fn config_path(args: &[OsString]) -> Option<std::path::PathBuf> {
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let s = arg.to_string_lossy();
        if s == "--config" {
            return iter.next().map(Into::into);
        }
        if let Some(path) = s.strip_prefix("--config=") {
            return Some(path.into());
        }
    }
    None
}

fn subcommand_index(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let s = args[i].to_string_lossy();
        if s == "--config" {
            i += 2;
            continue;
        }
        if !s.starts_with('-') {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Sub};
    use clap::Parser;

    /// Parses `jumpcache --config FILE <sub>` with `toml` as the file.
    fn parse_with_file(name: &str, toml: &str, sub: &str) -> Cli {
        let dir =
            std::env::temp_dir().join(format!("jumpcache-config-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jumpcache.toml");
        std::fs::write(&path, toml).unwrap();
        let args = ["jumpcache", "--config", path.to_str().unwrap(), sub].map(OsString::from);
        let cli = Cli::parse_from(args_with_config_file(args).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
        cli
    }

    #[test]
    fn router_settings_come_from_the_file_under_their_flag_names() {
        let toml = "shards = [\"a:1\"]\nshard-timeout-ms = 5\nwrite-policy = \"one\"\nread-policy = \"round-robin\"\n";
        let Sub::Router(args) = parse_with_file("router", toml, "router").command else {
            panic!("router")
        };
        let c = args.config;
        assert_eq!(c.write_policy, router::WritePolicy::One);
        assert_eq!(c.read_policy, router::ReadPolicy::RoundRobin);
        assert_eq!(c.shards, ["a:1"]);
        assert_eq!(c.shard_timeout_ms, 5);
        assert_eq!(c.shard_queue, 10_000);
    }

    #[test]
    fn users_from_the_file_and_the_command_line_all_apply() {
        let dir =
            std::env::temp_dir().join(format!("jumpcache-config-users-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jumpcache.toml");
        let toml = "user = [\"alice on >a,b ~cache:* +@read\", \"bob on >b +@all ~*\"]\n";
        std::fs::write(&path, toml).unwrap();
        let args = [
            "jumpcache",
            "--config",
            path.to_str().unwrap(),
            "shard",
            "--user",
            "carol on nopass +@all ~*",
        ]
        .map(OsString::from);
        let cli = Cli::parse_from(args_with_config_file(args).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
        let Sub::Shard(args) = cli.command else {
            panic!("shard")
        };
        assert_eq!(
            args.clients.users,
            [
                "alice on >a,b ~cache:* +@read",
                "bob on >b +@all ~*",
                "carol on nopass +@all ~*"
            ]
        );
    }

    #[test]
    fn eviction_lfu_is_read_from_the_file() {
        let Sub::Shard(args) = parse_with_file("lfu", "eviction = \"lfu\"\n", "shard").command
        else {
            panic!("shard")
        };
        assert_eq!(args.config.eviction, server::EvictionPolicy::Lfu);
    }

    #[test]
    fn a_setting_whose_environment_variable_is_set_is_left_out_of_the_file() {
        let dir = std::env::temp_dir().join(format!("jumpcache-config-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jumpcache.toml");
        std::fs::write(&path, "port = 7005\nmax-memory = \"64mb\"\n").unwrap();
        let args = ["jumpcache", "--config", path.to_str().unwrap(), "shard"].map(OsString::from);
        let got: Vec<String> =
            args_with_config_file_in(args, |name| name == "JUMPCACHE_MAX_MEMORY")
                .unwrap()
                .into_iter()
                .map(|s| s.into_string().unwrap())
                .collect();
        assert_eq!(got[4..], ["--port", "7005"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn config_file_settings_come_before_command_line_flags() {
        let dir =
            std::env::temp_dir().join(format!("jumpcache-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jumpcache.toml");
        std::fs::write(&path, "port = 7005\nmax-memory = \"64mb\"\n").unwrap();
        let args = [
            "jumpcache",
            "--config",
            path.to_str().unwrap(),
            "shard",
            "--port",
            "7009",
        ]
        .map(OsString::from);
        let got: Vec<String> = args_with_config_file(args)
            .unwrap()
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect();
        let shard = got.iter().position(|a| a == "shard").unwrap();
        assert_eq!(
            &got[shard + 1..],
            ["--max-memory", "64mb", "--port", "7005", "--port", "7009"]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
