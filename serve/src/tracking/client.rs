//! CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO (Redis 7.0's `clientCommand`, texts and
//! checks in its order), and what a tracking session does around each command.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use bytes::Bytes;
use protocol::command::{parse_i64, Command, Flags, Kind};
use protocol::error::CommandError;
use protocol::frame::Frame;

use super::Sink;
use crate::session::{ServerConfig, Session};

/// A session's tracking mode, present while tracking is on.
#[derive(Debug, Clone, Default)]
pub struct Mode {
    bcast: bool,
    optin: bool,
    optout: bool,
    noloop: bool,
    redirect: u64,
    /// BCAST's prefixes, sorted (TRACKINGINFO lists them so).
    prefixes: Vec<Bytes>,
    /// CLIENT CACHING yes (OPTIN) or no (OPTOUT), for the next command only.
    caching: bool,
    broken: Arc<AtomicBool>,
}

/// Answers CLIENT's tracking subcommands; `None` for the others.
pub fn client_subcommand(
    sub: &[u8],
    args: &[Bytes],
    session: &mut Session,
    config: &ServerConfig,
) -> Option<Result<Frame, CommandError>> {
    Some(match sub {
        b"TRACKING" => tracking(args, session, config),
        b"CACHING" => caching(args, session),
        b"GETREDIR" => Ok(Frame::Integer(
            session.tracking.as_ref().map_or(-1, |m| m.redirect as i64),
        )),
        b"TRACKINGINFO" => Ok(info(session.tracking.as_deref())),
        _ => return None,
    })
}

/// ```text
/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX prefix ...] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]
/// ```
fn tracking(
    args: &[Bytes],
    session: &mut Session,
    config: &ServerConfig,
) -> Result<Frame, CommandError> {
    let err = CommandError::Static;
    let (mut redirect, mut bcast, mut optin, mut optout, mut noloop) =
        (0u64, false, false, false, false);
    let mut prefixes: Vec<Bytes> = Vec::new();
    let mut j = 3;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = args[j].to_ascii_uppercase();
        match &opt[..] {
            b"REDIRECT" if more => {
                j += 1;
                if redirect != 0 {
                    return Err(err(
                        "ERR A client can only redirect to a single other client",
                    ));
                }
                let id = parse_i64(&args[j]).ok_or(CommandError::NotInteger)?;
                if id <= 0 || config.clients.get(id as u64).is_none() {
                    return Err(err("ERR The client ID you want redirect to does not exist"));
                }
                redirect = id as u64;
            }
            b"BCAST" => bcast = true,
            b"OPTIN" => optin = true,
            b"OPTOUT" => optout = true,
            b"NOLOOP" => noloop = true,
            b"PREFIX" if more => {
                j += 1;
                prefixes.push(args[j].clone());
            }
            _ => return Err(CommandError::Syntax),
        }
        j += 1;
    }
    let on = args[2].to_ascii_uppercase();
    if on == b"OFF" {
        disconnect(session, config);
        return Ok(Frame::ok());
    }
    if on != b"ON" {
        return Err(CommandError::Syntax);
    }
    if !config.tracking.supported() {
        return Err(err("ERR CLIENT TRACKING is not supported by this process"));
    }
    if !bcast && !prefixes.is_empty() {
        return Err(err("ERR PREFIX option requires BCAST mode to be enabled"));
    }
    let old = session.tracking.as_deref();
    if old.is_some_and(|m| m.bcast != bcast) {
        return Err(err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if bcast && (optin || optout) {
        return Err(err("ERR OPTIN and OPTOUT are not compatible with BCAST"));
    }
    if optin && optout {
        return Err(err("ERR You can't specify both OPTIN mode and OPTOUT mode"));
    }
    if old.is_some_and(|m| (optin && m.optout) || (optout && m.optin)) {
        return Err(err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
    }
    if bcast {
        check_prefixes(&prefixes, old.map_or(&[][..], |m| &m.prefixes))?;
    }
    let Some(client) = session.client().cloned() else {
        return Err(err("ERR CLIENT TRACKING needs a client connection"));
    };
    let mut mode = session.tracking.take().map(|m| *m).unwrap_or_default();
    mode.redirect = redirect;
    mode.broken.store(false, Relaxed);
    (mode.bcast, mode.optin, mode.optout, mode.noloop) = (bcast, optin, optout, noloop);
    if bcast {
        if prefixes.is_empty() {
            prefixes.push(Bytes::new());
        }
        for p in prefixes {
            if !mode.prefixes.contains(&p) {
                mode.prefixes.push(p);
            }
        }
        mode.prefixes.sort();
    }
    config.tracking.enable(
        session.id(),
        Sink::Client(client),
        redirect,
        noloop,
        bcast.then(|| mode.prefixes.clone()),
        mode.broken.clone(),
    );
    session.tracking = Some(Box::new(mode));
    Ok(Frame::ok())
}

/// Redis's `checkPrefixCollisionsOrReply`: no prefix may be a prefix of another, new or old.
fn check_prefixes(new: &[Bytes], old: &[Bytes]) -> Result<(), CommandError> {
    let overlap = |a: &[u8], b: &[u8]| {
        let n = a.len().min(b.len());
        a[..n] == b[..n]
    };
    for (i, p) in new.iter().enumerate() {
        if let Some(o) = old.iter().find(|o| overlap(o, p)) {
            return Err(CommandError::Message(format!(
                "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(o)
            )));
        }
        if let Some(q) = new[i + 1..].iter().find(|q| overlap(p, q)) {
            return Err(CommandError::Message(format!(
                "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                String::from_utf8_lossy(p),
                String::from_utf8_lossy(q)
            )));
        }
    }
    Ok(())
}

/// ```text
/// CLIENT CACHING YES|NO
/// ```
fn caching(args: &[Bytes], session: &mut Session) -> Result<Frame, CommandError> {
    let Some(mode) = session.tracking.as_deref_mut() else {
        return Err(CommandError::Static("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
    };
    match &args[2].to_ascii_uppercase()[..] {
        b"YES" if mode.optin => mode.caching = true,
        b"YES" => {
            return Err(CommandError::Static(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
            ))
        }
        b"NO" if mode.optout => mode.caching = true,
        b"NO" => {
            return Err(CommandError::Static(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ))
        }
        _ => return Err(CommandError::Syntax),
    }
    Ok(Frame::ok())
}

/// CLIENT TRACKINGINFO: flags, redirect, prefixes, as Redis 7.0 lists them.
fn info(mode: Option<&Mode>) -> Frame {
    let flag = |f: &'static str| Frame::bulk(f.as_bytes());
    let (flags, redirect, prefixes) = match mode {
        None => (vec![flag("off")], -1, vec![]),
        Some(m) => {
            let mut flags = vec![flag("on")];
            if m.bcast {
                flags.push(flag("bcast"));
            }
            if m.optin {
                flags.push(flag("optin"));
                if m.caching {
                    flags.push(flag("caching-yes"));
                }
            }
            if m.optout {
                flags.push(flag("optout"));
                if m.caching {
                    flags.push(flag("caching-no"));
                }
            }
            if m.noloop {
                flags.push(flag("noloop"));
            }
            if m.broken.load(Relaxed) {
                flags.push(flag("broken_redirect"));
            }
            let prefixes = m.prefixes.iter().cloned().map(Frame::Bulk).collect();
            (flags, m.redirect as i64, prefixes)
        }
    };
    Frame::Map(vec![
        (flag("flags"), Frame::Set(flags)),
        (flag("redirect"), Frame::Integer(redirect)),
        (flag("prefixes"), Frame::Array(prefixes)),
    ])
}

/// Before a command runs: a read-only command of a tracking session (default mode, and
/// OPTIN/OPTOUT as CLIENT CACHING says) has its keys remembered, before it reads them. EXEC
/// remembers the keys its queued read-only commands will read.
///
/// CLIENT CACHING's flag lasts one command (or one transaction): it is cleared here, once
/// the command it applies to has been looked at, for any command but CLIENT, and inside
/// MULTI only by EXEC (Redis's `resetClient`).
pub fn before_command(session: &mut Session, cmd: &Command, config: &ServerConfig) {
    if session.tracking.is_none() {
        return;
    }
    let in_multi = session.in_multi();
    let Some(mode) = session.tracking.as_deref_mut() else {
        return;
    };
    let flag = mode.caching;
    if flag && cmd.kind() != Kind::Client && (cmd.kind() == Kind::Exec || !in_multi) {
        mode.caching = false;
    }
    let session = &*session;
    let Some(mode) = session.tracking.as_deref() else {
        return;
    };
    if mode.bcast {
        return;
    }
    let mut caching = flag;
    let mut remember = |cmd: &Command| {
        if cmd.kind() == Kind::Client
            && cmd.args()[1].eq_ignore_ascii_case(b"CACHING")
            && (mode.optin || mode.optout)
        {
            // A CLIENT CACHING queued in the transaction applies to the reads after it.
            caching = true;
        } else if cmd.spec().flags.contains(Flags::READONLY)
            && !((mode.optin && !caching) || (mode.optout && caching))
        {
            config
                .tracking
                .remember(&config.clients, session.id(), cmd.keys());
        }
    };
    if cmd.kind() == Kind::Exec {
        session.queued().iter().for_each(remember);
    } else {
        remember(cmd);
    }
}

/// Turns tracking on for a router's shard connection (`JUMPCACHE TRACKING`): the default
/// mode, invalidations as RESP3 pushes on the connection though its replies stay RESP2.
///
/// # Errors
/// The session is not a client connection.
pub fn enable_pushes(session: &mut Session, config: &ServerConfig) -> Result<(), &'static str> {
    let client = session
        .client()
        .cloned()
        .ok_or("ERR JUMPCACHE TRACKING needs a client connection")?;
    config.tracking.enable_pushes(session.id(), client);
    session.tracking = Some(Box::default());
    Ok(())
}

/// Stops tracking for the session (CLIENT TRACKING off, RESET, the connection closed).
pub fn disconnect(session: &mut Session, config: &ServerConfig) {
    if session.tracking.take().is_some() {
        config.tracking.disable(session.id());
    }
}
