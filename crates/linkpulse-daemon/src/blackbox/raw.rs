//! Stage one: the syntax of a blackbox_exporter config file as plain serde structs.
//!
//! Field names are blackbox_exporter's own. Unknown fields are rejected; fields blackbox_exporter
//! knows but linkpulse does not implement are read (as [`Ignored`]) so that stage two can mark
//! their module unsupported with a message naming the field.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::IgnoredAny;

/// A value with the place in the file it came from.
pub(crate) type S<T> = serde_saphyr::Spanned<T>;

/// A value linkpulse reads only to know that it is there.
pub(crate) type Ignored = S<IgnoredAny>;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    #[serde(default)]
    pub(crate) modules: Option<BTreeMap<String, S<RawModule>>>,
}

/// One item of `modules:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawModule {
    pub(crate) prober: Option<S<String>>,
    pub(crate) timeout: Option<S<String>>,
    pub(crate) http: Option<S<RawHttp>>,
    pub(crate) tcp: Option<S<RawTcp>>,
    pub(crate) icmp: Option<S<RawIcmp>>,
    pub(crate) dns: Option<S<RawDns>>,
    pub(crate) grpc: Option<S<RawGrpc>>,
}

/// `http:` prober settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    pub(crate) valid_status_codes: Option<S<Vec<S<u32>>>>,
    pub(crate) valid_http_versions: Option<S<Vec<S<String>>>>,
    pub(crate) method: Option<S<String>>,
    pub(crate) headers: Option<S<BTreeMap<String, String>>>,
    pub(crate) fail_if_body_matches_regexp: Option<Vec<S<String>>>,
    pub(crate) fail_if_body_not_matches_regexp: Option<Vec<S<String>>>,
    pub(crate) no_follow_redirects: Option<bool>,
    pub(crate) follow_redirects: Option<bool>,
    pub(crate) fail_if_ssl: Option<bool>,
    pub(crate) fail_if_not_ssl: Option<bool>,
    pub(crate) preferred_ip_protocol: Option<S<String>>,
    pub(crate) ip_protocol_fallback: Option<bool>,
    pub(crate) enable_http2: Option<bool>,
    pub(crate) tls_config: Option<S<RawTls>>,
    pub(crate) fail_if_header_matches: Option<Vec<RawHeaderMatch>>,
    pub(crate) fail_if_header_not_matches: Option<Vec<RawHeaderMatch>>,
    pub(crate) body: Option<S<String>>,
    pub(crate) body_file: Option<S<String>>,
    pub(crate) basic_auth: Option<S<RawBasicAuth>>,
    pub(crate) bearer_token: Option<S<String>>,
    pub(crate) bearer_token_file: Option<S<String>>,
    pub(crate) authorization: Option<S<RawAuthorization>>,
    pub(crate) body_size_limit: Option<S<RawSize>>,
    // Known to blackbox_exporter, not implemented by linkpulse.
    pub(crate) oauth2: Option<Ignored>,
    pub(crate) proxy_url: Option<S<String>>,
    pub(crate) no_proxy: Option<Ignored>,
    pub(crate) proxy_from_environment: Option<Ignored>,
    pub(crate) proxy_connect_header: Option<Ignored>,
    pub(crate) source_ip_address: Option<Ignored>,
    pub(crate) skip_resolve_phase_with_proxy: Option<Ignored>,
    pub(crate) compression: Option<S<String>>,
}

/// `tls_config:` of an HTTP or TCP prober.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTls {
    pub(crate) insecure_skip_verify: Option<bool>,
    pub(crate) ca_file: Option<S<String>>,
    // Known to blackbox_exporter, not implemented by linkpulse.
    pub(crate) ca: Option<Ignored>,
    pub(crate) cert: Option<Ignored>,
    pub(crate) cert_file: Option<Ignored>,
    pub(crate) key: Option<Ignored>,
    pub(crate) key_file: Option<Ignored>,
    pub(crate) server_name: Option<Ignored>,
    pub(crate) min_version: Option<Ignored>,
    pub(crate) max_version: Option<Ignored>,
}

/// `tcp:` prober settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawTcp {
    pub(crate) preferred_ip_protocol: Option<S<String>>,
    pub(crate) ip_protocol_fallback: Option<bool>,
    pub(crate) tls: Option<bool>,
    pub(crate) tls_config: Option<S<RawTls>>,
    /// expect/send/starttls/labels steps, as the daemon's tcp checks take them.
    pub(crate) query_response: Option<S<Vec<crate::config::dialogue::RawStep>>>,
    // Known to blackbox_exporter, not implemented by linkpulse.
    pub(crate) source_ip_address: Option<Ignored>,
}

/// `icmp:` prober settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIcmp {
    pub(crate) preferred_ip_protocol: Option<S<String>>,
    pub(crate) ip_protocol_fallback: Option<bool>,
    pub(crate) payload_size: Option<S<i64>>,
    pub(crate) dont_fragment: Option<bool>,
    pub(crate) ttl: Option<S<i64>>,
    // Known to blackbox_exporter, not implemented by linkpulse.
    pub(crate) source_ip_address: Option<Ignored>,
}

/// `dns:` prober settings, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDns {
    pub(crate) query_name: Option<S<String>>,
    pub(crate) query_type: Option<S<String>>,
    pub(crate) query_class: Option<S<String>>,
    pub(crate) valid_rcodes: Option<Vec<S<String>>>,
    pub(crate) validate_answer_rrs: Option<S<RawRrs>>,
    pub(crate) validate_authority_rrs: Option<S<RawRrs>>,
    pub(crate) validate_additional_rrs: Option<S<RawRrs>>,
    pub(crate) transport_protocol: Option<S<String>>,
    pub(crate) recursion_desired: Option<bool>,
    pub(crate) preferred_ip_protocol: Option<S<String>>,
    pub(crate) ip_protocol_fallback: Option<bool>,
    // Known to blackbox_exporter, not implemented by linkpulse.
    pub(crate) source_ip_address: Option<Ignored>,
    pub(crate) dns_over_tls: Option<Ignored>,
    pub(crate) tls_config: Option<Ignored>,
}

/// `validate_*_rrs:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRrs {
    #[serde(default)]
    pub(crate) fail_if_matches_regexp: Vec<S<String>>,
    #[serde(default)]
    pub(crate) fail_if_all_match_regexp: Vec<S<String>>,
    #[serde(default)]
    pub(crate) fail_if_not_matches_regexp: Vec<S<String>>,
    #[serde(default)]
    pub(crate) fail_if_none_matches_regexp: Vec<S<String>>,
}

/// `grpc:` prober settings, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGrpc {
    pub(crate) service: Option<String>,
    pub(crate) tls: Option<bool>,
    pub(crate) tls_config: Option<S<RawTls>>,
    pub(crate) preferred_ip_protocol: Option<S<String>>,
    pub(crate) ip_protocol_fallback: Option<bool>,
}

/// `basic_auth:` (Prometheus's common HTTP client config).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBasicAuth {
    pub(crate) username: Option<S<String>>,
    pub(crate) username_file: Option<S<String>>,
    pub(crate) password: Option<S<String>>,
    pub(crate) password_file: Option<S<String>>,
}

/// `authorization:` (Prometheus's common HTTP client config).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAuthorization {
    #[serde(rename = "type")]
    pub(crate) kind: Option<S<String>>,
    pub(crate) credentials: Option<S<String>>,
    pub(crate) credentials_file: Option<S<String>>,
}

/// One item of `fail_if_header_matches` / `fail_if_header_not_matches`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHeaderMatch {
    pub(crate) header: S<String>,
    pub(crate) regexp: S<String>,
    #[serde(default)]
    pub(crate) allow_missing: bool,
}

/// `body_size_limit:` — bytes, or a size with a base-2 unit (`512KiB`, `1MB` = 1 MiB).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum RawSize {
    Bytes(u64),
    Text(String),
}
