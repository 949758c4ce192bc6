//! The `ukrun` command: runc's command line, for unikernel containers and
//! (handed over to runc) every other container.

use std::process::ExitCode;

fn main() -> ExitCode {
    ukrun::cli::run()
}
