//! The metrics of one `/probe` answer and their Prometheus text exposition (format 0.0.4),
//! families sorted by name and samples by label values, as blackbox_exporter writes them.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The content type of the text exposition.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The label pairs of one sample; names are fixed (`phase`) or from configuration
/// (`probe_expect_info`'s).
pub type Labels = Vec<(Cow<'static, str>, String)>;

/// One gauge family: name, help, and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Metric name, e.g. `probe_success`.
    pub name: &'static str,
    /// The `# HELP` text (blackbox_exporter's own words).
    pub help: &'static str,
    /// Samples: label pairs and value.
    pub samples: Vec<(Labels, f64)>,
}

/// The metrics of one probe. Every family is a gauge, as in blackbox_exporter.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    families: Vec<Family>,
}

impl Metrics {
    /// An empty set.
    pub fn new() -> Self {
        Metrics::default()
    }

    /// Sets the unlabelled gauge `name` to `value` (replacing an earlier value).
    pub fn gauge(&mut self, name: &'static str, help: &'static str, value: f64) {
        self.labelled(name, help, Vec::new(), value);
    }

    /// Sets the sample of gauge `name` with `labels` to `value` (replacing an earlier value).
    pub fn labelled(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: Vec<(&'static str, String)>,
        value: f64,
    ) {
        let labels = labels
            .into_iter()
            .map(|(k, v)| (Cow::Borrowed(k), v))
            .collect();
        self.set(name, help, labels, value);
    }

    /// Sets the sample of gauge `name` whose label names come from configuration (such as
    /// `probe_expect_info`'s) to `value`.
    pub fn labelled_dynamic(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: Vec<(String, String)>,
        value: f64,
    ) {
        let labels = labels
            .into_iter()
            .map(|(k, v)| (Cow::Owned(k), v))
            .collect();
        self.set(name, help, labels, value);
    }

    fn set(&mut self, name: &'static str, help: &'static str, labels: Labels, value: f64) {
        let family = match self.families.iter_mut().position(|f| f.name == name) {
            Some(i) => &mut self.families[i],
            None => {
                self.families.push(Family {
                    name,
                    help,
                    samples: Vec::new(),
                });
                let last = self.families.len() - 1;
                &mut self.families[last]
            }
        };
        match family.samples.iter_mut().find(|(l, _)| *l == labels) {
            Some(sample) => sample.1 = value,
            None => family.samples.push((labels, value)),
        }
    }

    /// Sets `name{phase="PHASE"}` to `seconds` (a per-phase duration family such as
    /// `probe_dns_duration_seconds`), cleaned as every duration in seconds is.
    pub fn phase(&mut self, name: &'static str, help: &'static str, phase: &str, seconds: f64) {
        self.labelled(
            name,
            help,
            vec![("phase", phase.to_owned())],
            crate::metrics::clean_seconds(seconds),
        );
    }

    /// The value of the sample of `name` with `labels`, if set.
    pub fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let family = self.families.iter().find(|f| f.name == name)?;
        family
            .samples
            .iter()
            .find(|(l, _)| {
                l.len() == labels.len()
                    && l.iter()
                        .zip(labels)
                        .all(|((k, v), (k2, v2))| k.as_ref() == *k2 && v == v2)
            })
            .map(|(_, v)| *v)
    }

    /// The families, in the order they were first set.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut families: Vec<&Family> = self.families.iter().collect();
        families.sort_by_key(|f| f.name);
        let mut out = String::new();
        for f in families {
            let _ = writeln!(out, "# HELP {} {}", f.name, escape_help(f.help));
            let _ = writeln!(out, "# TYPE {} gauge", f.name);
            let mut samples: Vec<_> = f.samples.iter().collect();
            samples.sort_by(|a, b| a.0.cmp(&b.0));
            for (labels, value) in samples {
                out.push_str(f.name);
                if !labels.is_empty() {
                    out.push('{');
                    for (i, (k, v)) in labels.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                    }
                    out.push('}');
                }
                let _ = writeln!(out, " {}", format_value(*value));
            }
        }
        out
    }
}

/// A sample value as Prometheus writes it: `NaN`, `+Inf`, `-Inf`, or the shortest decimal.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        format!("{v}")
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_sorted_families_with_help_type_and_escaped_labels() {
        let mut m = Metrics::new();
        m.gauge(
            "probe_success",
            "Displays whether or not the probe was a success",
            1.0,
        );
        m.labelled(
            "probe_http_duration_seconds",
            "Duration",
            vec![("phase", "tls".into())],
            0.5,
        );
        m.labelled(
            "probe_http_duration_seconds",
            "Duration",
            vec![("phase", "connect".into())],
            0.25,
        );
        m.labelled("x_info", "Info", vec![("v", "a\"b\\c\nd".into())], 1.0);
        m.gauge(
            "probe_success",
            "Displays whether or not the probe was a success",
            0.0,
        );
        assert_eq!(
            m.render(),
            "# HELP probe_http_duration_seconds Duration\n\
             # TYPE probe_http_duration_seconds gauge\n\
             probe_http_duration_seconds{phase=\"connect\"} 0.25\n\
             probe_http_duration_seconds{phase=\"tls\"} 0.5\n\
             # HELP probe_success Displays whether or not the probe was a success\n\
             # TYPE probe_success gauge\n\
             probe_success 0\n\
             # HELP x_info Info\n\
             # TYPE x_info gauge\n\
             x_info{v=\"a\\\"b\\\\c\\nd\"} 1\n"
        );
        assert_eq!(
            m.get("probe_http_duration_seconds", &[("phase", "tls")]),
            Some(0.5)
        );
        assert_eq!(m.get("probe_success", &[]), Some(0.0));
    }

    #[test]
    fn values_are_prometheus_numbers() {
        assert_eq!(format_value(3_668_918_509.0), "3668918509");
        assert_eq!(format_value(-62_135_596_800.0), "-62135596800");
        assert_eq!(format_value(1.5e-5), "0.000015");
        assert_eq!(format_value(f64::NAN), "NaN");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
    }
}
