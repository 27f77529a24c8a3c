//! The rule `clippy.toml` cannot express: the core depends on no runtime, no storage and no
//! network code, so it cannot do I/O even by accident.

#[test]
fn the_core_depends_on_no_runtime_storage_or_network() {
    let manifest = include_str!("../Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] table");
    let forbidden = [
        "tokio",
        "futures",
        "rusqlite",
        "postgres",
        "hyper",
        "axum",
        "socket2",
        "linkpulse-daemon",
        "linkpulse-probe",
        "linkpulse-net",
    ];
    for line in deps.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let name = line.split('=').next().unwrap_or("").trim();
        assert!(
            !forbidden.contains(&name),
            "linkpulse-checks/Cargo.toml: `{name}` in [dependencies] of the sans-IO core"
        );
    }
}
