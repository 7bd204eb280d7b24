//! TLS for tests: a private CA and certificates made with rcgen (no openssl), TLS shards
//! and routers in this process, and a raw TLS client.
//!
//! ```text
//! Pki::new ─▶ ca.crt, server.crt/key (127.0.0.1, localhost), client.crt/key,
//!             expired.crt/key (expired in 2021), rogue.crt/key (signed by another CA)
//! spawn_tls_shard / spawn_tls_cluster ─▶ plain port + TLS port, both on 127.0.0.1:0
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{
    date_time_ymd, BasicConstraints, Certificate, CertificateParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serve::tls::AuthClients;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// A CA and the certificates tests need, as PEM files in a temporary folder (removed on drop).
pub struct Pki {
    dir: PathBuf,
    ca: Certificate,
    ca_key: KeyPair,
}

impl Pki {
    /// Makes the CA and every certificate.
    pub fn new() -> Pki {
        let dir = std::env::temp_dir().join(format!(
            "jumpcache-tls-{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let (ca, ca_key) = make_ca("jumpcache test CA");
        std::fs::write(dir.join("ca.crt"), ca.pem()).expect("write");
        let pki = Pki { dir, ca, ca_key };
        pki.issue("server", None);
        pki.issue("client", None);
        pki.issue("expired", Some((2020, 2021)));
        let (rogue_ca, rogue_key) = make_ca("someone else's CA");
        let (cert, key) = leaf(&rogue_ca, &rogue_key, None);
        std::fs::write(pki.dir.join("rogue.crt"), cert.pem()).expect("write");
        std::fs::write(pki.dir.join("rogue.key"), key.serialize_pem()).expect("write");
        std::fs::write(pki.dir.join("rogue-ca.crt"), rogue_ca.pem()).expect("write");
        pki
    }

    /// Writes `name.crt` and `name.key`: a new key and a certificate from this CA, valid
    /// now (or in the years `valid`), for 127.0.0.1 and localhost, server and client use.
    /// The files are replaced whole (written aside, then renamed), as a rotation does.
    pub fn issue(&self, name: &str, valid: Option<(i32, i32)>) {
        let (cert, key) = leaf(&self.ca, &self.ca_key, valid);
        for (ext, pem) in [("crt", cert.pem()), ("key", key.serialize_pem())] {
            let aside = self.dir.join(format!(".{name}.{ext}.new"));
            std::fs::write(&aside, pem).expect("write");
            std::fs::rename(&aside, self.path(&format!("{name}.{ext}"))).expect("rename");
        }
    }

    /// Returns the path of one of the files (`ca.crt`, `server.key` ...).
    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Returns a path as a string, for a command line.
    pub fn arg(&self, file: &str) -> String {
        self.path(file).to_string_lossy().into_owned()
    }

    /// Returns the TLS settings of a server with this CA's server certificate.
    pub fn config(&self, auth: AuthClients) -> serve::TlsConfig {
        serve::TlsConfig {
            tls_port: 1,
            tls_cert_file: Some(self.path("server.crt")),
            tls_key_file: Some(self.path("server.key")),
            tls_ca_cert_file: Some(self.path("ca.crt")),
            tls_auth_clients: auth,
            tls_handshake_timeout_ms: 2_000,
        }
    }

    /// Connects over TLS, trusting `ca` (a file here), showing `identity` (`client`,
    /// `expired`, `rogue`: the name of a `.crt`/`.key` pair) or no certificate.
    ///
    /// # Errors
    /// The handshake's error.
    pub async fn connect_with(
        &self,
        addr: SocketAddr,
        ca: &str,
        identity: Option<&str>,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let connector = TlsConnector::from(self.client_config(ca, identity));
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").expect("a name");
        connector.connect(name, tcp).await
    }

    /// Connects over TLS with the client certificate, trusting this CA.
    pub async fn connect(&self, addr: SocketAddr) -> TlsStream<TcpStream> {
        self.connect_with(addr, "ca.crt", Some("client"))
            .await
            .expect("TLS handshake")
    }

    /// Returns the DER of the certificate in `name.crt` (to compare with what a server shows).
    pub fn cert_der(&self, name: &str) -> Vec<u8> {
        CertificateDer::from_pem_file(self.path(&format!("{name}.crt")))
            .expect("cert")
            .to_vec()
    }

    fn client_config(&self, ca: &str, identity: Option<&str>) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(self.path(ca)).expect("ca") {
            roots.add(cert.expect("ca cert")).expect("add");
        }
        let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
        let config = match identity {
            Some(name) => {
                let chain = CertificateDer::pem_file_iter(self.path(&format!("{name}.crt")))
                    .expect("cert")
                    .collect::<Result<Vec<_>, _>>()
                    .expect("cert");
                let key =
                    PrivateKeyDer::from_pem_file(self.path(&format!("{name}.key"))).expect("key");
                builder.with_client_auth_cert(chain, key).expect("identity")
            }
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

impl Default for Pki {
    fn default() -> Pki {
        Pki::new()
    }
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn make_ca(name: &str) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    (params.self_signed(&key).expect("CA"), key)
}

fn leaf(ca: &Certificate, ca_key: &KeyPair, valid: Option<(i32, i32)>) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    if let Some((from, to)) = valid {
        params.not_before = date_time_ymd(from, 1, 1);
        params.not_after = date_time_ymd(to, 1, 1);
    }
    (params.signed_by(&key, ca, ca_key).expect("sign"), key)
}

/// A shard or router serving a plain and a TLS port in this process; stopped when dropped.
pub struct TlsServer {
    /// The plain port.
    pub addr: SocketAddr,
    /// The TLS port.
    pub tls_addr: SocketAddr,
    /// Its TLS side: handshake failure counts, reload.
    pub tls: Arc<serve::Tls>,
    stop: Option<oneshot::Sender<()>>,
    _more: Vec<crate::ShardHandle>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

async fn listeners(tls: &Arc<serve::Tls>) -> (serve::Listeners, SocketAddr, SocketAddr) {
    let plain = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let secure = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let (addr, tls_addr) = (
        plain.local_addr().expect("addr"),
        secure.local_addr().expect("addr"),
    );
    let listeners =
        serve::Listeners::new(Some(plain), Some((secure, tls.clone()))).expect("listeners");
    (listeners, addr, tls_addr)
}

/// Starts a shard with a plain and a TLS port.
pub async fn spawn_tls_shard(pki: &Pki, auth: AuthClients, config: server::Config) -> TlsServer {
    let tls = serve::Tls::new(pki.config(auth), true, false).expect("TLS config");
    let (listeners, addr, tls_addr) = listeners(&tls).await;
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        server::run(listeners, config, async {
            let _ = rx.await;
        })
        .await
        .expect("shard runs");
    });
    TlsServer {
        addr,
        tls_addr,
        tls,
        stop: Some(tx),
        _more: Vec::new(),
    }
}

/// Starts a router with a plain and a TLS port over `n` plain in-process shards.
pub async fn spawn_tls_cluster(
    pki: &Pki,
    auth: AuthClients,
    n: usize,
    mut config: router::Config,
) -> TlsServer {
    let mut shards = Vec::new();
    for _ in 0..n {
        shards.push(crate::spawn_shard().await);
    }
    config.shards = shards.iter().map(|s| s.addr().to_string()).collect();
    let tls = serve::Tls::new(pki.config(auth), true, false).expect("TLS config");
    let (listeners, addr, tls_addr) = listeners(&tls).await;
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(async move {
        router::run(listeners, config, async {
            let _ = rx.await;
        })
        .await
        .expect("router runs");
    });
    TlsServer {
        addr,
        tls_addr,
        tls,
        stop: Some(tx),
        _more: shards,
    }
}

/// Starts `n` shards serving TLS only (no plain port) with `shard_cert` (`server`, or `rogue`:
/// signed by a CA the router does not trust), and a router that reaches them over TLS
/// (`--tls-shards`), showing its own certificate; the router's clients use plain TCP.
pub async fn spawn_cluster_over_tls(
    pki: &Pki,
    n: usize,
    shard_cert: &str,
    shard_config: server::Config,
    mut config: router::Config,
) -> (crate::RouterHandle, Arc<serve::Tls>, Vec<TlsServer>) {
    let mut shards = Vec::new();
    for _ in 0..n {
        let mut tls_config = pki.config(AuthClients::Yes);
        tls_config.tls_cert_file = Some(pki.path(&format!("{shard_cert}.crt")));
        tls_config.tls_key_file = Some(pki.path(&format!("{shard_cert}.key")));
        let tls = serve::Tls::new(tls_config, true, false).expect("TLS config");
        let secure = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let tls_addr = secure.local_addr().expect("addr");
        let listeners =
            serve::Listeners::new(None, Some((secure, tls.clone()))).expect("listeners");
        let (tx, rx) = oneshot::channel::<()>();
        let shard_config = shard_config.clone();
        tokio::spawn(async move {
            server::run(listeners, shard_config, async {
                let _ = rx.await;
            })
            .await
            .expect("shard runs");
        });
        shards.push(TlsServer {
            addr: tls_addr,
            tls_addr,
            tls,
            stop: Some(tx),
            _more: Vec::new(),
        });
    }
    let client_tls =
        serve::Tls::new(pki.config(AuthClients::Yes), false, true).expect("client TLS");
    config.shards = shards.iter().map(|s| s.tls_addr.to_string()).collect();
    config.tls_shards = true;
    config.shard_tls = router::ShardTls(Some(client_tls.clone()));
    (crate::spawn_router(config).await, client_tls, shards)
}

/// Returns the DER of the certificate the server showed on `stream`.
pub fn peer_cert(stream: &TlsStream<TcpStream>) -> Vec<u8> {
    stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("a certificate")[0]
        .to_vec()
}
