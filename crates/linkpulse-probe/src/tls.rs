//! TLS client configurations for every HTTPS client of linkpulse ([`TlsConfigs`], cached per
//! CA file, verification mode and ALPN offer), the `--insecure` verifier, and for the probe:
//! certificate-expiry extraction and the classification of TLS failures.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use crate::{ErrorKind, ProbeError, TlsDetail};

/// Why a CA file cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaFileError {
    /// The file cannot be read or is not PEM.
    #[error("cannot read CA file {path}: {reason}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The file holds no certificate.
    #[error("CA file {path} contains no PEM certificate")]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Reads every PEM certificate in `path`; at least one is required.
pub fn load_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, CaFileError> {
    let read_err = |reason: String| CaFileError::Read {
        path: path.to_owned(),
        reason,
    };
    // Read first so that "no such file" is reported in the OS's words.
    let bytes = linkpulse_sys::file::read_regular(path, linkpulse_sys::file::SMALL_FILE_LIMIT)
        .map_err(|e| match &e.kind {
            linkpulse_sys::file::FileErrorKind::Io(source) => {
                read_err(crate::net::os_reason(source))
            }
            other => read_err(other.reason()),
        })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(CaFileError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(certs)
}

/// Why a TLS client configuration cannot be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsSetupError {
    /// rustls refused the protocol versions of the crypto provider.
    #[error("cannot set up TLS: {0}")]
    Provider(rustls::Error),
    /// The extra CA file cannot be used.
    #[error(transparent)]
    CaFile(#[from] CaFileError),
    /// A certificate of the CA file is not a usable trust anchor.
    #[error("CA file {} holds an unusable certificate: {reason}", path.display())]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// Neither the system store nor a CA file gave a trusted certificate.
    #[error("no trusted CA certificates: the system store is empty; pass a CA file")]
    NoRoots,
}

/// Which application protocols a configuration offers in the TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Alpn {
    /// `h2` then `http/1.1`: the probe, which speaks both.
    H2AndHttp11,
    /// `http/1.1` only: the [`HttpClient`](crate::client::HttpClient).
    Http11,
    /// No ALPN offer: PostgreSQL over TLS (a server may refuse an offer without its own name).
    None,
}

/// Cache key: the CA file, whether verification is off, and the ALPN offer.
type ConfigKey = (Option<PathBuf>, bool, Alpn);

/// The one place that builds rustls client configurations for HTTPS, and their cache: the
/// probe and [`HttpClient`](crate::client::HttpClient) (alert delivery, the hub client, the
/// CLI) both ask [`TlsConfigs::shared`]. A configuration trusts the system roots plus an
/// optional extra CA file, or nothing at all in insecure mode; it is built once per CA file,
/// mode and ALPN offer, and then shared (the system store is read once per process).
#[derive(Debug, Default)]
pub struct TlsConfigs {
    native_roots: OnceLock<Arc<Vec<CertificateDer<'static>>>>,
    configs: Mutex<HashMap<ConfigKey, Arc<ClientConfig>>>,
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The start of every rustls client configuration of linkpulse: the ring provider and its
/// safe default protocol versions.
fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, rustls::Error> {
    ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions()
}

/// A client configuration trusting only `roots`, presenting `client_auth` (certificate chain
/// and key) when given, with no ALPN: the hub agent's TLS under its heartbeat session, which
/// trusts its own CA file and not the system roots. HTTPS configurations come from
/// [`TlsConfigs`].
pub fn client_config_with_roots(
    roots: RootCertStore,
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
) -> Result<ClientConfig, rustls::Error> {
    let builder = builder()?.with_root_certificates(roots);
    match client_auth {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key),
        None => Ok(builder.with_no_client_auth()),
    }
}

impl TlsConfigs {
    /// The process-wide cache.
    pub fn shared() -> &'static TlsConfigs {
        static SHARED: OnceLock<TlsConfigs> = OnceLock::new();
        SHARED.get_or_init(TlsConfigs::default)
    }

    /// The configuration for `ca_file` / `insecure` / `alpn`, built once and then shared.
    /// `insecure` accepts any certificate (the handshake signature is still checked).
    pub fn get(
        &self,
        ca_file: Option<&Path>,
        insecure: bool,
        alpn: Alpn,
    ) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let key = (ca_file.map(Path::to_path_buf), insecure, alpn);
        if let Ok(map) = self.configs.lock()
            && let Some(config) = map.get(&key)
        {
            return Ok(config.clone());
        }
        let config = Arc::new(self.build(ca_file, insecure, alpn)?);
        if let Ok(mut map) = self.configs.lock() {
            map.insert(key, config.clone());
        }
        Ok(config)
    }

    fn build(
        &self,
        ca_file: Option<&Path>,
        insecure: bool,
        alpn: Alpn,
    ) -> Result<ClientConfig, TlsSetupError> {
        let builder = builder().map_err(TlsSetupError::Provider)?;
        let mut config = if insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(NoVerification::new()))
                .with_no_client_auth()
        } else {
            let mut roots = RootCertStore::empty();
            let native = self
                .native_roots
                .get_or_init(|| Arc::new(rustls_native_certs::load_native_certs().certs));
            roots.add_parsable_certificates(native.iter().cloned());
            if let Some(path) = ca_file {
                for cert in load_ca_file(path)? {
                    roots.add(cert).map_err(|e| TlsSetupError::BadCertificate {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })?;
                }
            }
            if roots.is_empty() {
                return Err(TlsSetupError::NoRoots);
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        };
        config.alpn_protocols = match alpn {
            Alpn::H2AndHttp11 => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            Alpn::Http11 => vec![b"http/1.1".to_vec()],
            Alpn::None => Vec::new(),
        };
        Ok(config)
    }
}

/// Accepts any certificate (`--insecure`) but still checks handshake signatures, so the
/// connection is encrypted to whoever holds the presented key.
#[derive(Debug)]
struct NoVerification {
    algorithms: WebPkiSupportedAlgorithms,
}

impl NoVerification {
    fn new() -> Self {
        NoVerification {
            algorithms: rustls::crypto::ring::default_provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// TLS details of an established connection: version, ALPN and the chain's earliest expiry.
pub(crate) fn detail(conn: &rustls::ClientConnection) -> TlsDetail {
    let version = conn.protocol_version().map(|v| match v {
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".to_owned(),
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".to_owned(),
        other => format!("{other:?}"),
    });
    let alpn = conn
        .alpn_protocol()
        .map(|p| String::from_utf8_lossy(p).into_owned());
    let mut detail = TlsDetail {
        version,
        alpn,
        cert_days_left: None,
        earliest_expiry: None,
        subject: None,
        issuer: None,
        leaf_sha256: None,
        leaf_dns_names: Vec::new(),
    };
    let Some(chain) = conn.peer_certificates() else {
        return detail;
    };
    for (i, der) in chain.iter().enumerate() {
        let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else {
            continue;
        };
        if i == 0 {
            detail.subject = Some(cert.subject().to_string());
            detail.issuer = Some(cert.issuer().to_string());
            detail.leaf_sha256 = sha256_hex(der.as_ref());
            if let Ok(Some(san)) = cert.subject_alternative_name() {
                detail.leaf_dns_names = san
                    .value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_owned()),
                        _ => None,
                    })
                    .collect();
            }
        }
        let not_after = cert.validity().not_after.timestamp();
        if detail.earliest_expiry.is_none_or(|e| not_after < e) {
            detail.earliest_expiry = Some(not_after);
        }
    }
    if let Some(expiry) = detail.earliest_expiry {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        detail.cert_days_left = Some((expiry.saturating_sub(now)).div_euclid(86_400));
    }
    detail
}

/// The warning of a certificate that expires in fewer days than `opts.cert_warn_days`.
pub(crate) fn expiry_warning(
    opts: &crate::ProbeOptions,
    tls: Option<&TlsDetail>,
    host: impl std::fmt::Display,
) -> Option<String> {
    let warn = opts.cert_warn_days?;
    let days = tls?.cert_days_left?;
    (days < i64::from(warn))
        .then(|| format!("certificate of {host} expires in {days} days (warning below {warn})"))
}

/// SHA-256 of `data` in lowercase hex, with the hash of rustls's own crypto provider.
fn sha256_hex(data: &[u8]) -> Option<String> {
    let suite = rustls::crypto::ring::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13()?;
    let digest = suite.common.hash_provider.hash(data);
    Some(digest.as_ref().iter().map(|b| format!("{b:02x}")).collect())
}

/// Classifies a failed TLS handshake with `peer` (the host name and address for messages).
pub(crate) fn handshake_error(e: &io::Error, peer: &str) -> ProbeError {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        let kind = crate::net::classify_io(e);
        let kind = if kind == ErrorKind::Protocol {
            ErrorKind::Tls
        } else {
            kind
        };
        let what = match e.kind() {
            io::ErrorKind::UnexpectedEof => "connection closed".to_owned(),
            _ => crate::net::os_reason(e),
        };
        return ProbeError::new(kind, format!("TLS handshake with {peer} failed: {what}"));
    };
    let why = match tls {
        rustls::Error::InvalidCertificate(cert) => match cert {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "certificate expired".to_owned()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate not valid yet".to_owned()
            }
            CertificateError::UnknownIssuer => {
                "certificate signed by an unknown issuer (not a trusted CA)".to_owned()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                format!("name mismatch: {cert}")
            }
            CertificateError::Revoked => "certificate revoked".to_owned(),
            other => format!("invalid certificate: {other}"),
        },
        rustls::Error::AlertReceived(alert) => format!("server sent TLS alert {alert:?}"),
        rustls::Error::InvalidMessage(_) | rustls::Error::InappropriateMessage { .. } => {
            format!("peer does not speak TLS ({tls})")
        }
        other => other.to_string(),
    };
    ProbeError::new(
        ErrorKind::Tls,
        format!("TLS handshake with {peer} failed: {why}"),
    )
}
