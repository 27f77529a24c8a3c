//! [`HttpClient`]: the one HTTP(S) client of linkpulse outside the probe — alert delivery, the
//! hub's `list_nodes` and `WatchClient`, the CLI's `status` and `nodes`.
//!
//! It lives here, beside the probe, because the probe is the lowest crate that already speaks
//! HTTP and TLS: both take their rustls configuration from the same [`TlsConfigs`] (the system
//! roots, an optional extra CA file, or the insecure mode), so there is one place where a
//! `ClientConfig` is built. The probe keeps its own connection handling, as it times each phase
//! (DNS, connect, TLS, first byte); this client is hyper-util's pooled client over a
//! hyper-rustls connector, speaking HTTP/1.1.
//!
//! Every failure is a [`ClientError`] naming the URL, with its secrets masked.
//!
//! ```no_run
//! # async fn demo() -> Result<(), linkpulse_probe::client::ClientError> {
//! use linkpulse_probe::client::HttpClient;
//!
//! let client = HttpClient::new();
//! let checks: serde_json::Value = client.get_json("http://127.0.0.1:9118/api/v1/checks").await?;
//! client
//!     .post_json("https://hooks.example/alert", &[], &checks)
//!     .await?;
//! # Ok(())
//! # }
//! ```

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use url::Url;

use crate::tls::{Alpn, TlsConfigs};

/// Default budget of one request: connecting, sending and reading the whole answer (for
/// [`HttpClient::get_stream`]: up to the response head).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest body [`HttpClient::get_json`] and [`HttpClient::get_bytes`] accept.
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// Longest part of an error answer's body quoted in [`ClientError::Status`].
const ERROR_BODY_MAX: usize = 2048;

/// Why a request failed. Every variant names the URL (with any password masked as `***`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The URL is not an `http://` or `https://` URL with a host.
    #[error("invalid URL {url}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The TLS client configuration cannot be built (e.g. the extra CA file is unreadable).
    #[error("{url}: {reason}")]
    Tls {
        /// The URL requested.
        url: String,
        /// Why the configuration cannot be built.
        reason: String,
    },
    /// Connecting (DNS, TCP, TLS handshake) or talking HTTP failed.
    #[error("{url}: {reason}")]
    Transport {
        /// The URL requested.
        url: String,
        /// What failed, with its causes.
        reason: String,
    },
    /// No answer (or, for a body read whole, not the whole answer) within the budget.
    #[error("{url}: no answer within {}", humantime::format_duration(*.after))]
    Timeout {
        /// The URL requested.
        url: String,
        /// The budget.
        after: Duration,
    },
    /// The server answered with a status other than 2xx.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
        /// The start of the response body (an API's error text), trimmed.
        body: String,
        /// How long the server asked to wait before the next request (`Retry-After`, in
        /// seconds or as an HTTP date), when it said so.
        retry_after: Option<Duration>,
    },
    /// The body is not what was expected (too large, cut off, not the JSON asked for).
    #[error("{url}: unexpected response: {reason}")]
    Body {
        /// The URL requested.
        url: String,
        /// What is wrong.
        reason: String,
    },
}

/// `url` as shown in errors and logs: masked by [`crate::redact::Redactor`] (user-info
/// passwords, a user name given alone, secret query parameters). Works on text that is not a
/// valid URL too.
pub fn mask_url(url: &str) -> String {
    crate::redact::Redactor::default().url(url).into_owned()
}

type Pooled = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A bearer token for [`HttpClient::bearer`] (a daemon's `auth:` tokens): sent as
/// `Authorization: Bearer TOKEN`, marked sensitive, never shown by `Debug`.
#[derive(Clone)]
pub struct BearerToken(header::HeaderValue);

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

/// Why a text cannot be a bearer token.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Nothing (or only white space) was given.
    #[error("the token is empty")]
    Empty,
    /// A character that cannot travel in an HTTP header, or white space inside.
    #[error("the token must be one word of visible ASCII characters")]
    Invalid,
}

impl BearerToken {
    /// `token` with white space around it (a file's last newline) removed.
    pub fn new(token: &str) -> Result<BearerToken, TokenError> {
        let token = token.trim();
        if token.is_empty() {
            return Err(TokenError::Empty);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Invalid);
        }
        let mut value = header::HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| TokenError::Invalid)?;
        value.set_sensitive(true);
        Ok(BearerToken(value))
    }
}

/// An HTTP/1.1 client for `http://` and `https://` URLs with a pool of connections.
///
/// HTTPS trusts the system roots plus an optional extra CA file ([`HttpClient::with_ca_file`]),
/// or anything with [`HttpClient::insecure`]; the rustls configuration comes from
/// [`TlsConfigs::shared`] and is built when the first `https://` URL is asked for, so a
/// missing system store does not stop plain HTTP. Cheap to clone (clones share the pool).
#[derive(Debug, Clone)]
pub struct HttpClient {
    inner: Arc<Inner>,
    timeout: Duration,
    /// Sent with every request that has no `Authorization` of its own.
    bearer: Option<BearerToken>,
}

#[derive(Debug)]
struct Inner {
    ca_file: Option<PathBuf>,
    insecure: bool,
    /// Plain HTTP, built at once.
    http: Client<HttpConnector, Full<Bytes>>,
    /// HTTPS (and HTTP), built on the first https URL; the error is kept for later requests.
    https: OnceLock<Result<Pooled, String>>,
}

impl Default for HttpClient {
    fn default() -> Self {
        HttpClient::new()
    }
}

fn http_connector() -> HttpConnector {
    let mut connector = HttpConnector::new();
    connector.enforce_http(false);
    connector.set_nodelay(true);
    connector
}

fn builder() -> hyper_util::client::legacy::Builder {
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(Duration::from_secs(30));
    builder
}

impl HttpClient {
    /// A client trusting the system roots, with [`DEFAULT_TIMEOUT`].
    pub fn new() -> HttpClient {
        HttpClient::with_trust(None, false)
    }

    /// A client trusting the system roots plus the PEM certificates of `ca_file`.
    pub fn with_ca_file(ca_file: Option<&Path>) -> HttpClient {
        HttpClient::with_trust(ca_file, false)
    }

    /// A client accepting any server certificate (the probe's `--insecure`).
    pub fn insecure() -> HttpClient {
        HttpClient::with_trust(None, true)
    }

    fn with_trust(ca_file: Option<&Path>, insecure: bool) -> HttpClient {
        HttpClient {
            inner: Arc::new(Inner {
                ca_file: ca_file.map(Path::to_path_buf),
                insecure,
                http: builder().build(http_connector()),
                https: OnceLock::new(),
            }),
            timeout: DEFAULT_TIMEOUT,
            bearer: None,
        }
    }

    /// The same client (sharing its pool) with another budget per request.
    pub fn timeout(mut self, timeout: Duration) -> HttpClient {
        self.timeout = timeout;
        self
    }

    /// The same client (sharing its pool) sending `token` with every request (`None`: no
    /// token).
    pub fn bearer(mut self, token: Option<BearerToken>) -> HttpClient {
        self.bearer = token;
        self
    }

    /// `GET url` and decodes the JSON body of a 2xx answer.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, ClientError> {
        let (shown, body) = self.get_bytes_shown(url, "application/json").await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Body {
            url: shown,
            reason: format!("not the JSON expected: {e}"),
        })
    }

    /// `GET url` with `Accept: accept` and returns the whole body of a 2xx answer (chunked or
    /// not), at most [`MAX_BODY`] bytes.
    pub async fn get_bytes(&self, url: &str, accept: &str) -> Result<Bytes, ClientError> {
        Ok(self.get_bytes_shown(url, accept).await?.1)
    }

    async fn get_bytes_shown(
        &self,
        url: &str,
        accept: &str,
    ) -> Result<(String, Bytes), ClientError> {
        let (shown, uri) = parse(url)?;
        let request = http::Request::get(uri)
            .header(header::ACCEPT, accept)
            .header(header::USER_AGENT, "linkpulse")
            .body(Full::default())
            .map_err(|e| url_error(&shown, e.to_string()))?;
        let exchange = async {
            let response = self.send(&shown, request).await?;
            read_all(&shown, response).await
        };
        let body = tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                url: shown.clone(),
                after: self.timeout,
            })??;
        Ok((shown, body))
    }

    /// `POST url` with `body` as JSON and the extra `headers`; returns the body of a 2xx
    /// answer (at most [`MAX_BODY`] bytes).
    pub async fn post_json<T: serde::Serialize + ?Sized>(
        &self,
        url: &str,
        headers: &[(String, String)],
        body: &T,
    ) -> Result<Bytes, ClientError> {
        let json = serde_json::to_vec(body).map_err(|e| ClientError::Body {
            url: mask_url(url),
            reason: format!("cannot encode the JSON body: {e}"),
        })?;
        self.send_body(
            http::Method::POST,
            url,
            headers,
            "application/json",
            Bytes::from(json),
        )
        .await
    }

    /// `METHOD url` with `body` of type `content_type` and the extra `headers` (sent after
    /// `Content-Type`, so one of them may replace it); returns the body of a 2xx answer (at
    /// most [`MAX_BODY`] bytes). A refusal carries the server's `Retry-After`
    /// ([`ClientError::Status`]).
    pub async fn send_body(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(String, String)],
        content_type: &str,
        body: Bytes,
    ) -> Result<Bytes, ClientError> {
        let (shown, uri) = parse(url)?;
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, content_type)
            .header(header::USER_AGENT, "linkpulse");
        if let Some(h) = request.headers_mut() {
            for (name, value) in headers {
                let name = http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| url_error(&shown, format!("bad header {name:?}: {e}")))?;
                let value = http::HeaderValue::from_str(value)
                    .map_err(|e| url_error(&shown, format!("bad value of header {name}: {e}")))?;
                h.insert(name, value);
            }
        }
        let request = request
            .body(Full::new(body))
            .map_err(|e| url_error(&shown, format!("bad request: {e}")))?;
        let exchange = async {
            let response = self.send(&shown, request).await?;
            read_all(&shown, response).await
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                url: shown,
                after: self.timeout,
            })?
    }

    /// `METHOD url` with the extra `headers` and, when given, `body` as JSON; returns the
    /// body of a 2xx answer (at most [`MAX_BODY`] bytes). For APIs that need a method or an
    /// `Authorization` header the calls above do not send.
    pub async fn send_json(
        &self,
        method: http::Method,
        url: &str,
        headers: &[(String, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Bytes, ClientError> {
        let (shown, uri) = parse(url)?;
        let json = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let mut request = http::Request::builder()
            .method(method)
            .uri(uri)
            .header(header::ACCEPT, "application/json")
            .header(header::USER_AGENT, "linkpulse");
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request
            .body(Full::new(json))
            .map_err(|e| url_error(&shown, format!("bad header: {e}")))?;
        let exchange = async {
            let response = self.send(&shown, request).await?;
            read_all(&shown, response).await
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                url: shown,
                after: self.timeout,
            })?
    }

    /// `GET url` with `Accept: accept` and returns the body of a 2xx answer as it arrives
    /// (Server-Sent Events, a long download). The budget covers the response head only.
    pub async fn get_stream(&self, url: &str, accept: &str) -> Result<BodyStream, ClientError> {
        let (shown, uri) = parse(url)?;
        let request = http::Request::get(uri)
            .header(header::ACCEPT, accept)
            .header(header::USER_AGENT, "linkpulse")
            .body(Full::default())
            .map_err(|e| url_error(&shown, e.to_string()))?;
        let response = tokio::time::timeout(self.timeout, self.send(&shown, request))
            .await
            .map_err(|_| ClientError::Timeout {
                url: shown.clone(),
                after: self.timeout,
            })??;
        Ok(BodyStream {
            url: shown,
            body: response.into_body(),
        })
    }

    /// Sends `request` and returns the response of a 2xx answer; any other status is a
    /// [`ClientError::Status`] with the start of its body.
    async fn send(
        &self,
        shown: &str,
        mut request: http::Request<Full<Bytes>>,
    ) -> Result<http::Response<Incoming>, ClientError> {
        if let Some(BearerToken(value)) = &self.bearer {
            request
                .headers_mut()
                .entry(header::AUTHORIZATION)
                .or_insert_with(|| value.clone());
        }
        let https = request.uri().scheme() == Some(&http::uri::Scheme::HTTPS);
        let sent = if https {
            self.https(shown)?.request(request).await
        } else {
            self.inner.http.request(request).await
        };
        let response = sent.map_err(|e| {
            // hyper-util's own message ("client error (Connect)") says less than its causes.
            let reason = match e.source() {
                Some(cause) if e.is_connect() => format!("cannot connect: {}", causes(cause)),
                _ => causes(&e),
            };
            ClientError::Transport {
                url: shown.to_owned(),
                reason,
            }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after(v, std::time::SystemTime::now()));
        let body = Limited::new(response.into_body(), ERROR_BODY_MAX * 4)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let mut text = String::from_utf8_lossy(&body).trim().to_owned();
        if text.len() > ERROR_BODY_MAX {
            let cut = (0..=ERROR_BODY_MAX)
                .rev()
                .find(|&i| text.is_char_boundary(i))
                .unwrap_or(0);
            text.truncate(cut);
            text.push('…');
        }
        Err(ClientError::Status {
            url: shown.to_owned(),
            status: status.as_u16(),
            body: text,
            retry_after,
        })
    }

    /// The HTTPS client, built on first use from the shared TLS configuration.
    fn https(&self, shown: &str) -> Result<&Pooled, ClientError> {
        let built = self.inner.https.get_or_init(|| {
            let config = TlsConfigs::shared()
                .get(
                    self.inner.ca_file.as_deref(),
                    self.inner.insecure,
                    Alpn::Http11,
                )
                .map_err(|e| e.to_string())?;
            Ok(builder().build(HttpsConnector::from((http_connector(), config))))
        });
        built.as_ref().map_err(|reason| ClientError::Tls {
            url: shown.to_owned(),
            reason: reason.clone(),
        })
    }
}

/// The body of a streamed answer ([`HttpClient::get_stream`]).
#[derive(Debug)]
pub struct BodyStream {
    url: String,
    body: Incoming,
}

impl BodyStream {
    /// The next piece of the body as it arrived; `None` once the body ended. Cancel-safe.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes, ClientError>> {
        loop {
            match self.body.frame().await? {
                Ok(frame) => match frame.into_data() {
                    Ok(data) if data.is_empty() => {}
                    Ok(data) => return Some(Ok(data)),
                    Err(_trailers) => {}
                },
                Err(e) => {
                    return Some(Err(ClientError::Transport {
                        url: self.url.clone(),
                        reason: causes(&e),
                    }));
                }
            }
        }
    }

    /// The URL this body answers (password masked).
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Parses `url` into the URL shown in errors and the URI sent (without user-info).
fn parse(url: &str) -> Result<(String, http::Uri), ClientError> {
    let bad = |reason: String| ClientError::Url {
        url: mask_url(url),
        reason,
    };
    let mut parsed = Url::parse(url).map_err(|e| bad(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad(format!(
            "unsupported scheme {}: only http:// and https:// are",
            parsed.scheme()
        )));
    }
    if parsed.host().is_none() {
        return Err(bad("no host".to_owned()));
    }
    let shown = mask_url(parsed.as_str());
    // User-info is not sent (and never travels in the request line or Host).
    let _ = parsed.set_username("");
    let _ = parsed.set_password(None);
    parsed.set_fragment(None);
    let uri = parsed
        .as_str()
        .parse::<http::Uri>()
        .map_err(|e| bad(e.to_string()))?;
    Ok((shown, uri))
}

/// A `Retry-After` value: delay-seconds, or an HTTP date (as seen at `now`; a date past is
/// no wait). `None` when it is neither.
pub fn retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn url_error(shown: &str, reason: String) -> ClientError {
    ClientError::Url {
        url: shown.to_owned(),
        reason,
    }
}

/// Reads a whole body, at most [`MAX_BODY`] bytes.
async fn read_all(shown: &str, response: http::Response<Incoming>) -> Result<Bytes, ClientError> {
    match Limited::new(response.into_body(), MAX_BODY).collect().await {
        Ok(body) => Ok(body.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ClientError::Body {
            url: shown.to_owned(),
            reason: format!("body larger than {MAX_BODY} bytes"),
        }),
        Err(e) => Err(ClientError::Transport {
            url: shown.to_owned(),
            reason: causes(e.as_ref()),
        }),
    }
}

/// An error and its causes, joined with `: ` (hyper's own messages say little alone:
/// "client error (Connect)"), without repeating a cause that the previous message contains.
pub fn causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(retry_after(" 120 ", now), Some(Duration::from_secs(120)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_url("https://bot:s3cret@hooks.example/x?y=1"),
            "https://bot:***@hooks.example/x?y=1"
        );
        assert_eq!(mask_url("http://bot@h/"), "http://***@h/");
        assert_eq!(mask_url("http://h:80/a@b"), "http://h:80/a@b");
        assert_eq!(mask_url("not a url"), "not a url");
    }

    #[test]
    fn bearer_tokens_are_one_word_and_hidden() {
        let t = BearerToken::new("  abc-123_XYZ\n").unwrap();
        assert_eq!(t.0.to_str().unwrap(), "Bearer abc-123_XYZ");
        assert!(t.0.is_sensitive());
        assert_eq!(format!("{t:?}"), "BearerToken(***)");
        assert_eq!(BearerToken::new(" \n").unwrap_err(), TokenError::Empty);
        for bad in ["a b", "a\nb", "tök"] {
            assert_eq!(
                BearerToken::new(bad).unwrap_err(),
                TokenError::Invalid,
                "{bad}"
            );
        }
    }

    #[test]
    fn urls_are_checked_and_sent_without_user_info() {
        let (shown, uri) = parse("http://u:pw@127.0.0.1:9/a?b=c#frag").unwrap();
        assert_eq!(shown, "http://u:***@127.0.0.1:9/a?b=c#frag");
        assert_eq!(uri.to_string(), "http://127.0.0.1:9/a?b=c");
        let e = parse("ftp://u:pw@h/").unwrap_err().to_string();
        assert!(
            e.contains("unsupported scheme ftp") && !e.contains("pw"),
            "{e}"
        );
        assert!(parse("not a url").is_err());
    }
}
