//! The `status_page:` section of the config: parsed, validated, every error located.

use std::path::Path;

use linkpulse_daemon::config::Config;

const CHECKS: &str = "checks:\n  - name: web\n    tcp: { address: '127.0.0.1:1' }\n  - name: db\n    tcp: { address: '127.0.0.1:2' }\n";

fn errors(text: &str) -> Vec<String> {
    match Config::parse("t.yaml", text, Path::new(".")) {
        Ok(c) => panic!("expected errors, got {c:?}"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn status_page_is_parsed_in_order() {
    let text = format!(
        "{CHECKS}status_page:\n  title: ' Acme status '\n  description: Public.\n  groups:\n    - name: Website\n      checks: [web]\n    - name: Data\n      checks: [db]\n"
    );
    let c = Config::parse("t.yaml", &text, Path::new(".")).unwrap();
    let p = c.status_page.unwrap();
    assert_eq!(p.title, "Acme status");
    assert_eq!(p.description.as_deref(), Some("Public."));
    assert_eq!(p.groups.len(), 2);
    assert_eq!(p.groups[1].name, "Data");
    assert_eq!(p.checks().collect::<Vec<_>>(), vec!["web", "db"]);

    let none = Config::parse("t.yaml", CHECKS, Path::new(".")).unwrap();
    assert!(none.status_page.is_none());
}

#[test]
fn status_page_errors_name_line_and_path() {
    let e = errors(&format!(
        "{CHECKS}status_page:\n  title: ''\n  groups:\n    - name: A\n      checks: [web, ghost]\n    - name: B\n      checks:\n        - web\n"
    ));
    assert_eq!(
        e,
        vec![
            "t.yaml:7: status_page.title: the title is empty".to_owned(),
            "t.yaml:10: status_page.groups[0].checks[1]: no check named \"ghost\"".to_owned(),
            "t.yaml:13: status_page.groups[1].checks[0]: check \"web\" is already listed at status_page.groups[0].checks[0]".to_owned(),
        ]
    );
    let e = errors(&format!(
        "{CHECKS}status_page:\n  title: x\n  colour: red\n"
    ));
    assert_eq!(e.len(), 1);
    assert!(e[0].contains("colour"), "{e:?}");
}
