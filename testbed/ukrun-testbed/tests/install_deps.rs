//! `testbed/install-deps.sh` reads the packages apt would remove out of a
//! simulated plan (it names them in a warning before it installs).

use std::io::Write;
use std::process::{Command, Stdio};

use anyhow::{ensure, Result};
use ukrun_testbed::repo;

/// An `apt-get -s install` plan that replaces a newer qemu-utils.
const PLAN: &str = "\
NOTE: This is only a simulation!
Remv qemu-utils [1:8.2.2+ds-1] [qemu-system-x86:amd64 ]
Remv qemu-block-extra [1:8.2.2+ds-1]
Inst qemu-utils (1:7.2+dfsg-7+deb12u5 Debian:12 [amd64])
Inst qemu-system-x86 (1:7.2+dfsg-7+deb12u5 Debian:12 [amd64])
Conf qemu-utils (1:7.2+dfsg-7+deb12u5 Debian:12 [amd64])
";

/// The script's removals for `plan`.
fn removals(plan: &str) -> Result<String> {
    let mut child = Command::new("bash")
        .arg(repo::script("install-deps.sh")?)
        .arg("--removals-from-plan")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(plan.as_bytes())?;
    let out = child.wait_with_output()?;
    ensure!(
        out.status.success(),
        "install-deps.sh failed: {:?}",
        out.status
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn the_packages_a_plan_would_remove_are_found() -> Result<()> {
    ensure!(removals(PLAN)? == "qemu-utils\nqemu-block-extra\n");
    ensure!(removals("Inst socat (1.7.4.4-2 Debian:12 [amd64])\n")?.is_empty());
    Ok(())
}
