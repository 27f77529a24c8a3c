//! A private certificate authority for TLS tests, with chosen validity periods.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use time::{Duration, OffsetDateTime};

use super::runner::ServerError;

/// When a certificate is valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// Valid since yesterday, expiring `days` days from now (whole days plus one hour, so
    /// "days left" computed a little later still rounds down to `days`).
    pub fn expires_in_days(days: i64) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(days) + Duration::hours(1),
        }
    }

    /// Valid for 30 days that ended `days_ago` days ago (`days_ago` ≥ 1 is clearly expired).
    pub fn expired_days_ago(days_ago: i64) -> Self {
        let now = OffsetDateTime::now_utc();
        let not_after = now - Duration::days(days_ago);
        Self {
            not_before: not_after - Duration::days(30),
            not_after,
        }
    }
}

/// A certificate chain (leaf, then the CA) and the leaf's private key.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The leaf certificate, PEM.
    pub cert_pem: String,
    /// The leaf's private key, PKCS#8 PEM.
    pub key_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

impl Identity {
    /// A rustls server config presenting this identity (ALPN `http/1.1`).
    pub fn server_config(&self) -> Result<rustls::ServerConfig, ServerError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), key)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }

    /// The chain as sent to clients: leaf first, then the CA.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }
}

/// A private CA ("linkpulse test CA") whose certificate is written to a temporary PEM file.
#[derive(Debug)]
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    dir: tempfile::TempDir,
    pem_path: PathBuf,
}

impl TestCa {
    /// A CA valid from yesterday for a year.
    pub fn new() -> Result<Self, ServerError> {
        Self::with_validity(Validity::expires_in_days(365))
    }

    /// A CA with the given validity (to test an expiring CA in the chain).
    pub fn with_validity(validity: Validity) -> Result<Self, ServerError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, "linkpulse test CA");
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        let key = KeyPair::generate()?;
        let cert = params.self_signed(&key)?;
        let cert_pem = cert.pem();
        let cert_der = cert.der().clone();
        let dir = tempfile::tempdir().map_err(|source| ServerError::Write {
            path: std::env::temp_dir(),
            source,
        })?;
        let pem_path = dir.path().join("ca.pem");
        std::fs::write(&pem_path, &cert_pem).map_err(|source| ServerError::Write {
            path: pem_path.clone(),
            source,
        })?;
        Ok(Self {
            issuer: Issuer::new(params, key),
            cert_pem,
            cert_der,
            dir,
            pem_path,
        })
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// Path of a file holding [`TestCa::cert_pem`] (for `--ca`); removed when the CA drops.
    pub fn pem_path(&self) -> &Path {
        &self.pem_path
    }

    /// The temporary directory holding the PEM file (other test files may go there too).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Issues a server certificate for `names` (DNS names or IP addresses, e.g.
    /// `["localhost", "127.0.0.1"]`) with `validity`.
    pub fn issue(&self, names: &[&str], validity: Validity) -> Result<Identity, ServerError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names.clone())?;
        if let Some(first) = names.first() {
            params
                .distinguished_name
                .push(DnType::CommonName, first.as_str());
        }
        params.not_before = validity.not_before;
        params.not_after = validity.not_after;
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            chain: vec![cert.der().clone(), self.cert_der.clone()],
            key_der: key.serialize_der(),
        })
    }
}
