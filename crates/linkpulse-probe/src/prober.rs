//! [`Prober`]: the shared entry point that runs one probe of any kind.

use std::sync::Arc;

use crate::ping::LazyPinger;
use crate::tls::TlsConfigs;
use crate::{ProbeOptions, ProbeResult, Target};

/// Runs probes. Cheap to clone (an `Arc` inside) and safe to share between tasks: it uses the
/// process-wide TLS client configurations and holds the ICMP engine, created on the first ICMP
/// probe.
#[derive(Debug, Clone, Default)]
pub struct Prober {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// The process-wide TLS configurations, shared with [`crate::client::HttpClient`].
    tls: &'static TlsConfigs,
    pinger: LazyPinger,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            tls: TlsConfigs::shared(),
            pinger: LazyPinger::default(),
        }
    }
}

impl Prober {
    /// A prober. Its ICMP engine is created on the first ICMP probe; TLS configurations come
    /// from the process-wide [`TlsConfigs::shared`].
    pub fn new() -> Self {
        Prober::default()
    }

    /// Probes `target` once. Never fails: a target that is down is a result with `up: false`
    /// and an `error`; `result.target` is the target's [`Display`](std::fmt::Display) form.
    pub async fn probe(&self, target: &Target, opts: &ProbeOptions) -> ProbeResult {
        let label = target.to_string();
        match target {
            Target::Tcp { host, port } => {
                crate::tcp::probe(self.inner.tls, host, *port, label, opts).await
            }
            Target::Data(data) => {
                Box::pin(crate::data::probe(self.inner.tls, data, label, opts)).await
            }
            // Boxed: the HTTP future is ten times the size of the others, and every probe's
            // future would otherwise be that large (and be moved around at that size).
            Target::Http { url } => {
                Box::pin(crate::http::probe(self.inner.tls, url, label, opts, false))
                    .await
                    .0
            }
            // Boxed too: the TCP future, the most common one, is the smallest, and the size of
            // every run's future (one allocation per run in the daemon) is that of the largest.
            Target::Icmp { host } => {
                Box::pin(crate::ping::probe(
                    &self.inner.pinger,
                    host,
                    label,
                    opts,
                    std::future::pending(),
                ))
                .await
            }
            Target::Dns {
                server,
                port,
                name,
                record_type,
                tcp,
            } => {
                let query = crate::dns::exchange::Query {
                    server,
                    port: *port,
                    name,
                    record_type: *record_type,
                    tcp: *tcp,
                };
                Box::pin(crate::dns::probe(query, label, opts)).await
            }
            Target::Grpc {
                host,
                port,
                service,
                tls,
            } => {
                let call = crate::grpc::Call {
                    host,
                    port: *port,
                    service,
                    tls: *tls,
                };
                Box::pin(crate::grpc::probe(self.inner.tls, call, label, opts)).await
            }
        }
    }

    /// Like [`Prober::probe`], but gives up once `stop` completes (e.g. on Ctrl-C). An ICMP
    /// probe then reports what it has seen so far, as `ping` does when interrupted (requests
    /// waiting for a reply count as lost); a probe of another kind has nothing to report and
    /// returns `None`.
    pub async fn probe_until(
        &self,
        target: &Target,
        opts: &ProbeOptions,
        stop: impl Future<Output = ()>,
    ) -> Option<ProbeResult> {
        match target {
            Target::Icmp { host } => Some(
                Box::pin(crate::ping::probe(
                    &self.inner.pinger,
                    host,
                    target.to_string(),
                    opts,
                    stop,
                ))
                .await,
            ),
            _ => tokio::select! {
                result = self.probe(target, opts) => Some(result),
                () = stop => None,
            },
        }
    }

    /// Like [`Prober::probe`], and for an HTTP target with `keep_body` also returns the final
    /// response's headers and the first MiB of its body (for callers that judge the answer
    /// themselves, such as blackbox_exporter's `fail_if_body_matches_regexp` and
    /// `fail_if_header_matches`). `None` for other kinds, without `keep_body`, or when no
    /// complete response arrived.
    pub async fn probe_keeping_body(
        &self,
        target: &Target,
        opts: &ProbeOptions,
        keep_body: bool,
    ) -> (ProbeResult, Option<FinalResponse>) {
        match target {
            Target::Http { url } => {
                crate::http::probe(self.inner.tls, url, target.to_string(), opts, keep_body).await
            }
            _ => (self.probe(target, opts).await, None),
        }
    }
}

/// The final response of an HTTP probe, kept for [`Prober::probe_keeping_body`].
#[derive(Debug, Clone, Default)]
pub struct FinalResponse {
    /// Its headers.
    pub headers: http::HeaderMap,
    /// The first MiB of its body (less with `body_size_limit`).
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: T) {}

    /// The daemon shares one prober across tasks and spawns its futures.
    #[test]
    fn prober_and_its_futures_can_cross_threads() {
        let prober = Prober::new();
        assert_send_sync(&prober);
        let target = Target::Icmp {
            host: crate::Host::Ip(std::net::Ipv4Addr::LOCALHOST.into()),
        };
        let opts = ProbeOptions::default();
        assert_send(prober.probe(&target, &opts));
        assert_send(crate::diagnose::diagnose(&prober, &target, &opts));
    }
}
