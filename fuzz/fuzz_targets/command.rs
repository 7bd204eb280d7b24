//! Command parsing and execution fed whatever the request parser lets through: the command
//! table lookup and arity (`Command::from_request`), the connection-local commands and the
//! AUTH gate (`session::handle_local`), then the shard's `exec::execute` on a fresh store,
//! and both reply encoders. Nothing may panic.
//!
//! Byte 0 picks requirepass on/off; the rest is what the client sends.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use serve::session::{handle_local, Session};
use protocol::{encode::encode, Command, Decoder, Limits, Protocol};
use serve::{ClientConfig, Password};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let mut config = server::Config {
        max_memory: 64 * 1024,
        ..server::Config::default()
    };
    if mode & 1 == 1 {
        config.clients = ClientConfig {
            requirepass: Some(Password::new("pw")),
            ..ClientConfig::default()
        };
    }
    let shard = server::ShardState::new(config, 0);
    let mut session = Session::new(1, &shard.server_config);
    let mut decoder = Decoder::new(Limits::default());
    decoder.set_authenticated(session.authenticated());
    let mut buf = BytesMut::from(input);
    let mut out = BytesMut::new();
    // Bounded: a request is at least 3 bytes ("x\r\n"), so this loop ends.
    while let Ok(Some(request)) = decoder.decode(&mut buf) {
        let reply = match Command::from_request(request) {
            Err(e) => e.to_frame(),
            Ok(cmd) => match handle_local(&cmd, &mut session, &shard.server_config) {
                Some(frame) => frame,
                None => server::exec::execute(&cmd, &shard, session.protocol()),
            },
        };
        decoder.set_authenticated(session.authenticated());
        encode(&reply, Protocol::Resp2, &mut out);
        encode(&reply, Protocol::Resp3, &mut out);
        out.clear();
        if session.should_close() {
            break;
        }
    }
});
