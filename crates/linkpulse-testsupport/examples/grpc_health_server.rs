//! A standalone gRPC health server (tonic-health) for `bench/probe-sweep`: prints its address
//! (`127.0.0.1:PORT`) on one line, then serves SERVING until killed.

use std::io::Write;

use linkpulse_testsupport::servers::GrpcHealthServer;

fn main() {
    let server = match GrpcHealthServer::start(([127, 0, 0, 1], 0).into()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("grpc_health_server: {e}");
            std::process::exit(1);
        }
    };
    println!("{}", server.addr());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}
