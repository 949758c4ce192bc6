//! Runs a helper program that only answers a question (a monitor's version,
//! runc's features) with a deadline: a program that hangs is killed, and
//! what it prints is read up to a cap, so asking never stalls ukrun.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Most bytes of standard output read from the program: its answers are a
/// few KiB; one that prints more is cut off (and usually killed at the
/// deadline, blocked on the full pipe).
const OUTPUT_BYTES: u64 = 1024 * 1024;

/// `program args`'s standard output, if it exits successfully within
/// `timeout` (its standard input is empty, its standard error dropped).
/// The error says what went wrong in a few words, not naming the program.
pub fn output(program: &Path, args: &[&str], timeout: Duration) -> Result<String, String> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout
            .take(OUTPUT_BYTES)
            .read_to_string(&mut text)
            .map(|_| text)
    });
    let deadline = Instant::now() + timeout;
    let shown = args.join(" ");
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "{shown} did not answer within {}",
                humantime::format_duration(timeout)
            ));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let text = reader
        .join()
        .map_err(|_| "reading its output failed".to_owned())?
        .map_err(|e| e.to_string())?;
    if status.success() {
        Ok(text)
    } else {
        Err(format!("{shown} exited with {status}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_of_a_program_that_succeeds() {
        let out = output(Path::new("echo"), &["hello"], Duration::from_secs(5));
        assert_eq!(out, Ok("hello\n".to_owned()));
    }

    #[test]
    fn a_failure_a_hang_and_a_missing_program_are_errors() {
        let fail = output(Path::new("false"), &[], Duration::from_secs(5)).unwrap_err();
        assert!(fail.contains("exited with"), "{fail}");
        let started = Instant::now();
        let hang = output(Path::new("sleep"), &["30"], Duration::from_millis(200)).unwrap_err();
        assert_eq!(hang, "30 did not answer within 200ms");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "killed at the deadline"
        );
        assert!(output(Path::new("/nonexistent/prog"), &[], Duration::from_secs(1)).is_err());
    }
}
