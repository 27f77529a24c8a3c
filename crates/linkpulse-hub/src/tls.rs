//! Optional TLS on the hub port (rustls, ring provider): the hub presents a server
//! certificate and may require client certificates signed by a given CA; agents verify the
//! hub against a CA file and may present a client certificate.
//!
//! TLS sits under the heartbeat session; HMAC authentication still runs inside it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The hub's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubTls {
    /// PEM certificate chain (leaf first).
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
    /// When set, agents must present a certificate signed by a CA in this PEM file.
    pub client_ca_file: Option<PathBuf>,
}

/// An agent's TLS settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTls {
    /// PEM file of the CA(s) that signed the hub's certificate.
    pub ca_file: PathBuf,
    /// Name to verify in the hub's certificate; default: the host part of the hub address.
    pub server_name: Option<String>,
    /// Client certificate chain and key (PEM), for hubs that require one.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// Why a TLS setting could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the combination (e.g. the key does not match the certificate).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client verifier could not be built (e.g. an empty CA file).
    #[error("client CA: {0}")]
    Verifier(String),
    /// The hub name is not a valid DNS name or IP address.
    #[error("invalid TLS server name {0:?}")]
    ServerName(String),
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn file_err(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// A PEM file: a regular file of bounded size (a FIFO or a device is refused, not waited on).
fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    linkpulse_sys::file::read_regular(path, linkpulse_sys::file::SMALL_FILE_LIMIT)
        .map_err(|e| file_err(path, e.kind.reason()))
}

fn certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_err(path, e))?;
    if certs.is_empty() {
        return Err(file_err(path, "no PEM certificate in it"));
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| file_err(path, format!("no private key: {e}")))
}

fn roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    for c in certs(path)? {
        store.add(c).map_err(|e| file_err(path, e))?;
    }
    Ok(store)
}

/// The hub's rustls server configuration.
pub fn server_config(tls: &HubTls) -> Result<Arc<ServerConfig>, TlsError> {
    let builder =
        ServerConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()?;
    let builder = match &tls.client_ca_file {
        Some(ca) => {
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots(ca)?), provider())
                    .build()
                    .map_err(|e| TlsError::Verifier(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder.with_single_cert(certs(&tls.cert_file)?, key(&tls.key_file)?)?;
    Ok(Arc::new(config))
}

/// An agent's rustls client configuration (built by the one client-configuration builder,
/// [`linkpulse_probe::tls::client_config_with_roots`]).
pub fn client_config(tls: &AgentTls) -> Result<Arc<ClientConfig>, TlsError> {
    let client_auth = match &tls.client_cert {
        Some((cert, k)) => Some((certs(cert)?, key(k)?)),
        None => None,
    };
    let config = linkpulse_probe::tls::client_config_with_roots(roots(&tls.ca_file)?, client_auth)?;
    Ok(Arc::new(config))
}

/// The name to verify for hub address `hub` (`HOST:PORT`), unless overridden.
pub(crate) fn server_name(
    hub: &str,
    explicit: Option<&str>,
) -> Result<rustls_pki_types::ServerName<'static>, TlsError> {
    let host = match explicit {
        Some(n) => n.to_owned(),
        None => match hub.parse::<std::net::SocketAddr>() {
            Ok(sa) => sa.ip().to_string(),
            Err(_) => hub
                .rsplit_once(':')
                .map_or(hub, |(h, _)| h)
                .trim_matches(['[', ']'])
                .to_owned(),
        },
    };
    rustls_pki_types::ServerName::try_from(host.clone()).map_err(|_| TlsError::ServerName(host))
}
