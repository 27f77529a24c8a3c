//! `alerts[].match`, grouping and `repeat_interval`, and `maintenance:` — their syntax and
//! validation, into the sans-IO router's types (`linkpulse_checks::routing`).

use std::collections::BTreeMap;
use std::time::Duration;

use linkpulse_checks::routing::{Grouping, MaintenanceWindow, Matcher, Recurrence, Route};
use linkpulse_checks::state::State;

use super::collect::Errors;
use super::fields::{duration, duration_min, valid_name};
use super::raw::{RawAlert, RawWindow};

/// The route of `alerts[index]` and its `repeat_interval`; `None` after a problem (recorded).
pub(crate) fn route(
    e: &mut Errors<'_>,
    r: &RawAlert,
    prefix: &str,
    repeat_given: bool,
) -> Option<(Route, Option<Duration>)> {
    let mut ok = true;
    let mut route = Route::default();
    if let Some(m) = &r.matches {
        route.labels = m.value.labels.clone();
        for (i, s) in m.value.states.iter().enumerate() {
            match state(&s.value) {
                Some(st) => route.states.push(st),
                None => {
                    e.at(
                        s,
                        format!("{prefix}.match.states[{i}]"),
                        format!("unknown state {:?} (use up, down, degraded)", s.value),
                    );
                    ok = false;
                }
            }
        }
        if let Some(d) = &m.value.min_duration {
            route.min_duration = duration(e, d, &format!("{prefix}.match.min_duration"));
            ok &= route.min_duration.is_some();
        }
    }
    let repeat = match &r.repeat_interval {
        Some(s) if repeat_given => {
            e.at(
                s,
                format!("{prefix}.repeat_interval"),
                "give repeat or repeat_interval, not both",
            );
            ok = false;
            None
        }
        Some(s) => {
            let d = duration_min(
                e,
                s,
                &format!("{prefix}.repeat_interval"),
                Duration::from_secs(1),
            );
            ok &= d.is_some();
            d
        }
        None => None,
    };
    if r.group_by.is_some() || r.group_wait.is_some() || r.group_interval.is_some() {
        let mut g = Grouping {
            by: r
                .group_by
                .as_ref()
                .map(|b| b.value.clone())
                .unwrap_or_default(),
            wait: Grouping::DEFAULT_WAIT,
            interval: Grouping::DEFAULT_INTERVAL,
        };
        if let Some(s) = &r.group_wait {
            match duration(e, s, &format!("{prefix}.group_wait")) {
                Some(d) => g.wait = d,
                None => ok = false,
            }
        }
        if let Some(s) = &r.group_interval {
            match duration_min(
                e,
                s,
                &format!("{prefix}.group_interval"),
                Duration::from_secs(1),
            ) {
                Some(d) => g.interval = d,
                None => ok = false,
            }
        }
        route.group = Some(g);
    }
    ok.then_some((route, repeat))
}

fn state(s: &str) -> Option<State> {
    match s.trim() {
        "up" => Some(State::Up),
        "down" => Some(State::Down),
        "degraded" => Some(State::Degraded),
        _ => None,
    }
}

/// `maintenance:` into windows; problems recorded, bad entries left out.
pub(crate) fn windows(e: &mut Errors<'_>, raw: &[RawWindow]) -> Vec<MaintenanceWindow> {
    let mut names: BTreeMap<&str, u64> = BTreeMap::new();
    raw.iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let prefix = format!("maintenance[{i}]");
            if let Some(first) = names.insert(&w.name.value, w.name.referenced.line()) {
                e.at(
                    &w.name,
                    format!("{prefix}.name"),
                    format!(
                        "duplicate window name {:?} (first defined on line {first})",
                        w.name.value
                    ),
                );
                return None;
            }
            window(e, w, &prefix)
        })
        .collect()
}

fn window(e: &mut Errors<'_>, w: &RawWindow, prefix: &str) -> Option<MaintenanceWindow> {
    if !valid_name(&w.name.value) {
        e.at(
            &w.name,
            format!("{prefix}.name"),
            format!(
                "invalid name {:?} (1 to 128 of A-Z a-z 0-9 . _ -)",
                w.name.value
            ),
        );
        return None;
    }
    let matcher = Matcher {
        checks: w.checks.clone(),
        labels: w.labels.clone(),
    };
    if matcher.is_empty() {
        e.at(
            &w.name,
            prefix.to_owned(),
            "a maintenance window needs checks or labels (which checks it covers)",
        );
        return None;
    }
    let zone = match &w.time_zone {
        Some(z) => match linkpulse_checks::routing::zone(&z.value) {
            Ok(z) => z,
            Err(m) => {
                e.at(z, format!("{prefix}.time_zone"), m.to_string());
                return None;
            }
        },
        None => linkpulse_checks::routing::Tz::UTC,
    };
    let kinds = [
        w.start.is_some() || w.end.is_some(),
        w.cron.is_some(),
        w.weekly.is_some(),
    ];
    if kinds.iter().filter(|k| **k).count() != 1 {
        e.at(
            &w.name,
            prefix.to_owned(),
            "a maintenance window needs exactly one of start/end, cron or weekly",
        );
        return None;
    }
    let recurrence = if let (Some(start), Some(end)) = (&w.start, &w.end) {
        Recurrence::once(&start.value, &end.value, zone).map_err(|m| (start, "start", m))
    } else if w.start.is_some() || w.end.is_some() {
        let given = w.start.as_ref().or(w.end.as_ref())?;
        e.at(
            given,
            prefix.to_owned(),
            "a one-off window needs both start and end",
        );
        return None;
    } else {
        let Some(d) = &w.duration else {
            e.at(
                &w.name,
                format!("{prefix}.duration"),
                "a recurring window needs a duration",
            );
            return None;
        };
        let duration = duration(e, d, &format!("{prefix}.duration"))?;
        if let Some(c) = &w.cron {
            Recurrence::cron(&c.value, duration, zone).map_err(|m| (c, "cron", m))
        } else {
            let wk = w.weekly.as_ref()?;
            Recurrence::weekly(&wk.value.days, &wk.value.at, duration, zone).map_err(|m| {
                e.at(wk, format!("{prefix}.weekly"), m.to_string());
                (&w.name, "", m)
            })
        }
    };
    match recurrence {
        Ok(recurrence) => Some(MaintenanceWindow {
            name: w.name.value.clone(),
            matcher,
            recurrence,
        }),
        Err((s, key, m)) => {
            if !key.is_empty() {
                e.at(s, format!("{prefix}.{key}"), m.to_string());
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    fn errors(yaml: &str) -> String {
        Config::parse("t.yaml", yaml, Path::new("."))
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn bad_routing_and_windows_are_named_by_line_and_key() {
        let text = errors(
            "alerts:
  - webhook: { url: 'http://127.0.0.1:9/' }
    match: { states: [sideways], min_duration: soon }
    repeat: 5m
    repeat_interval: 5m
maintenance:
  - name: a
    checks: [db]
    weekly: { days: [someday], at: '02:00' }
    duration: 1h
  - name: b
    labels: { team: db }
    cron: '0 2 * * *'
    duration: 1h
    time_zone: Mars/Olympus
  - name: c
    checks: [db]
    duration: 1h
",
        );
        for want in [
            "t.yaml:3: alerts[0].match.states[0]: unknown state \"sideways\"",
            "alerts[0].match.min_duration: invalid duration \"soon\"",
            "t.yaml:5: alerts[0].repeat_interval: give repeat or repeat_interval, not both",
            "t.yaml:9: maintenance[0].weekly: unknown day \"someday\"",
            "t.yaml:15: maintenance[1].time_zone: unknown time zone \"Mars/Olympus\"",
            "maintenance[2]: a maintenance window needs exactly one of start/end, cron or weekly",
        ] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
    }

    #[test]
    fn routing_keys_are_read_and_absent_ones_change_nothing() {
        let c = Config::parse(
            "t.yaml",
            "alerts:
  - name: plain
    webhook: { url: 'http://127.0.0.1:9/' }
  - name: db
    webhook: { url: 'http://127.0.0.1:9/' }
    match: { labels: { team: db }, states: [down], min_duration: 2m }
    repeat_interval: 10m
    group_by: [site]
    group_wait: 10s
maintenance:
  - name: x
    labels: { team: db }
    start: 2026-12-24T22:00
    end: 2026-12-25T02:00
    time_zone: Europe/Berlin
",
            Path::new("."),
        )
        .expect("valid");
        assert_eq!(c.alerts[0].route, Default::default());
        let r = &c.alerts[1].route;
        assert_eq!(r.min_duration, Some(std::time::Duration::from_secs(120)));
        assert_eq!(
            c.alerts[1].repeat,
            Some(std::time::Duration::from_secs(600))
        );
        let g = r.group.as_ref().expect("grouped");
        assert_eq!(
            (g.by.clone(), g.wait),
            (vec!["site".to_owned()], std::time::Duration::from_secs(10))
        );
        assert_eq!(c.maintenance.len(), 1);
    }
}
