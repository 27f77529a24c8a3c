//! HTTPS on `listen` (the config's `tls: {cert_file, key_file}`): rustls, and the certificate
//! read again when its files change, so a renewed certificate (certbot, an internal CA) is
//! served without a restart.
//!
//! [`ReloadingCert`] is the rustls certificate resolver: on a handshake at most once a second
//! it compares the files' modification time, size and inode with those it loaded, and loads
//! them again when they changed. A pair that does not load (a renewal half written) keeps the
//! previous certificate and is logged. [`acceptor`] makes the TLS acceptor that the HTTP
//! port's own loop (`server.rs`, with its timeouts and connection cap) hands every accepted
//! connection to.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

/// How often, at most, the files are looked at again.
const RECHECK: Duration = Duration::from_secs(1);

/// Why a certificate or key file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[error("{path}: {reason}")]
pub struct CertError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub reason: String,
}

fn err(path: &Path, reason: impl ToString) -> CertError {
    CertError {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

/// Loads the PEM certificate chain `cert_file` and private key `key_file`.
pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<CertifiedKey>, CertError> {
    let bytes = std::fs::read(cert_file).map_err(|e| err(cert_file, e))?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| err(cert_file, e))?;
    if chain.is_empty() {
        return Err(err(cert_file, "no PEM certificate in it"));
    }
    let bytes = std::fs::read(key_file).map_err(|e| err(key_file, e))?;
    let key = PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| err(key_file, format!("no private key: {e}")))?;
    let signer =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| err(key_file, e))?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|e| {
        err(
            key_file,
            format!("does not match {}: {e}", cert_file.display()),
        )
    })?;
    Ok(Arc::new(certified))
}

/// What identifies a version of a file: modification time, size, inode.
type Stamp = Option<(SystemTime, u64, u64)>;

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    stamps: (Stamp, Stamp),
    checked: Instant,
}

/// The certificate of the HTTPS listener, re-read when its files change.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    loaded: Mutex<Loaded>,
}

impl ReloadingCert {
    /// Loads the pair once (an error here stops the start).
    pub fn new(cert_file: PathBuf, key_file: PathBuf) -> Result<ReloadingCert, CertError> {
        let stamps = (stamp(&cert_file), stamp(&key_file));
        let key = load(&cert_file, &key_file)?;
        Ok(ReloadingCert {
            cert_file,
            key_file,
            loaded: Mutex::new(Loaded {
                key,
                stamps,
                checked: Instant::now(),
            }),
        })
    }

    /// The certificate to present now, loaded again first if the files changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut l = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if l.checked.elapsed() < RECHECK {
            return Arc::clone(&l.key);
        }
        l.checked = Instant::now();
        let stamps = (stamp(&self.cert_file), stamp(&self.key_file));
        if stamps != l.stamps {
            match load(&self.cert_file, &self.key_file) {
                Ok(key) => {
                    l.key = key;
                    l.stamps = stamps;
                    tracing::info!(cert_file = %self.cert_file.display(), "HTTPS certificate reloaded");
                }
                Err(e) => {
                    tracing::warn!(error = %e, "HTTPS certificate not reloaded, the previous one stays")
                }
            }
        }
        Arc::clone(&l.key)
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// The TLS acceptor of the HTTPS listener. ALPN offers HTTP/1.1 only: the port's timeouts
/// and idle tracking are HTTP/1.1's (see `server.rs`).
pub fn acceptor(cert: ReloadingCert) -> Result<TlsAcceptor, CertError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&cert.cert_file, e))?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(cert));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}
