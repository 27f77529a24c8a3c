//! The rule `clippy.toml` cannot express: the coordination core depends on no runtime, no
//! database and no network code, so it cannot do I/O even by accident.

#[test]
fn the_coordinator_depends_on_no_runtime_database_or_network() {
    let manifest = include_str!("../Cargo.toml");
    let deps = manifest
        .split("[dependencies]")
        .nth(1)
        .and_then(|rest| rest.split("\n[").next())
        .expect("a [dependencies] table");
    let allowed = ["xxhash-rust"];
    for line in deps
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    {
        let name = line.split('=').next().unwrap_or("").trim();
        assert!(
            allowed.contains(&name),
            "linkpulse-cluster/Cargo.toml: `{name}` in [dependencies] of the sans-IO coordinator"
        );
    }
}
