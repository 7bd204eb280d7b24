//! The TLS settings, with Redis's names (`tls-port`, `tls-cert-file`, `tls-key-file`,
//! `tls-ca-cert-file`, `tls-auth-clients`), and the PEM files they name read into rustls's
//! configurations, on the pure-Rust `ring` provider.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use rustls::crypto::ring::default_provider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Whether clients must show a certificate signed by `--tls-ca-cert-file` (Redis:
/// `tls-auth-clients`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthClients {
    /// A client without a valid certificate is refused (mutual TLS; Redis's default).
    Yes,
    /// Clients are not asked for a certificate.
    No,
    /// A client may go without one, but one it shows must be valid.
    Optional,
}

/// TLS for clients and, on a router, for its shards. Off unless `--tls-port` (or
/// `--tls-shards`) is given.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct TlsConfig {
    /// Port for TLS clients, on the same address as `--port`; 0 (the default) serves none
    /// (Redis: `tls-port`). With a TLS port, `--port 0` turns the plain port off.
    #[arg(long, default_value_t = 0)]
    pub tls_port: u16,

    /// This process's certificate chain, PEM (Redis: `tls-cert-file`). Re-read on SIGHUP and
    /// when the file changes.
    #[arg(long, value_name = "FILE")]
    pub tls_cert_file: Option<PathBuf>,

    /// The private key of `--tls-cert-file`, PEM (Redis: `tls-key-file`).
    #[arg(long, value_name = "FILE")]
    pub tls_key_file: Option<PathBuf>,

    /// CA certificates, PEM, that client certificates (and, for a router with
    /// `--tls-shards`, the shards' certificates) must chain to (Redis: `tls-ca-cert-file`).
    #[arg(long, value_name = "FILE")]
    pub tls_ca_cert_file: Option<PathBuf>,

    /// Whether TLS clients must present a certificate signed by the CA: yes, no or optional
    /// (Redis: `tls-auth-clients`, default yes).
    #[arg(long, value_enum, default_value_t = AuthClients::Yes)]
    pub tls_auth_clients: AuthClients,

    /// Milliseconds a new TLS connection gets to finish its handshake; a client that has not
    /// (a plaintext client on the TLS port, a stalled one) is closed and counted.
    #[arg(long, default_value_t = 5_000)]
    pub tls_handshake_timeout_ms: u64,
}

#[derive(clap::Parser)]
struct Standalone {
    #[command(flatten)]
    tls: TlsConfig,
}

impl Default for TlsConfig {
    fn default() -> Self {
        <Standalone as clap::Parser>::parse_from(["server"]).tls
    }
}

impl TlsConfig {
    /// Returns true when a TLS port is configured.
    pub fn enabled(&self) -> bool {
        self.tls_port != 0
    }

    /// Returns how long a handshake may take.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.tls_handshake_timeout_ms.max(1))
    }

    /// Rejects settings that cannot serve TLS: a TLS port without a certificate and key, or
    /// client authentication without a CA.
    ///
    /// # Errors
    /// A sentence naming what is missing.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled() {
            return Ok(());
        }
        if self.tls_cert_file.is_none() || self.tls_key_file.is_none() {
            return Err("--tls-port needs --tls-cert-file and --tls-key-file".into());
        }
        if self.tls_auth_clients != AuthClients::No && self.tls_ca_cert_file.is_none() {
            return Err(
                "--tls-auth-clients yes|optional needs --tls-ca-cert-file (or set it to no)".into(),
            );
        }
        Ok(())
    }

    /// Reads the files into a server configuration.
    ///
    /// # Errors
    /// A file cannot be read or holds no usable certificate or key.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, String> {
        let (chain, key) = self
            .identity()?
            .ok_or("no --tls-cert-file/--tls-key-file")?;
        let builder = ServerConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = match self.tls_auth_clients {
            AuthClients::No => builder.with_no_client_auth(),
            auth => {
                let roots = self
                    .roots()?
                    .ok_or("client authentication needs a CA file")?;
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::new(default_provider()),
                );
                let verifier = match auth {
                    AuthClients::Optional => verifier.allow_unauthenticated(),
                    _ => verifier,
                };
                builder.with_client_cert_verifier(verifier.build().map_err(|e| e.to_string())?)
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| format!("certificate and key: {e}"))?;
        // Redis's clients speak RESP over TLS with no ALPN; accept either way.
        config.alpn_protocols = Vec::new();
        Ok(Arc::new(config))
    }

    /// Reads the files into a client configuration, for a router's connections to TLS shards:
    /// the shards' certificates must chain to `--tls-ca-cert-file`; this process's own
    /// certificate, when it has one, is shown to shards that ask for one.
    ///
    /// # Errors
    /// No CA file, or a file cannot be read.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        let roots = self
            .roots()?
            .ok_or("--tls-shards needs --tls-ca-cert-file to check the shards' certificates")?;
        let builder = ClientConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let config = match self.identity()? {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate and key: {e}"))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    /// Returns the files whose changes mean a reload.
    pub fn files(&self) -> Vec<PathBuf> {
        [
            &self.tls_cert_file,
            &self.tls_key_file,
            &self.tls_ca_cert_file,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
    }

    fn identity(
        &self,
    ) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
        let (Some(cert), Some(key)) = (&self.tls_cert_file, &self.tls_key_file) else {
            return Ok(None);
        };
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: {e}", cert.display()))?;
        if chain.is_empty() {
            return Err(format!("{}: no certificate", cert.display()));
        }
        let key =
            PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{}: {e}", key.display()))?;
        Ok(Some((chain, key)))
    }

    fn roots(&self) -> Result<Option<RootCertStore>, String> {
        let Some(ca) = &self.tls_ca_cert_file else {
            return Ok(None);
        };
        let mut roots = RootCertStore::empty();
        for cert in
            CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))?
        {
            let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        if roots.is_empty() {
            return Err(format!("{}: no CA certificate", ca.display()));
        }
        Ok(Some(roots))
    }
}
