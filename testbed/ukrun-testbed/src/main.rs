//! `ukrun-testbed demo --ukrun PATH`: runs the example pods of
//! `deploy/examples` with a kubelet on a throw-away containerd node and
//! shows what works (see `ukrun_testbed::demo`).

use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: ukrun-testbed demo --ukrun PATH";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ukrun = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["demo", "--ukrun", path] => PathBuf::from(path),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if ukrun_testbed::demo::run(&ukrun) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
