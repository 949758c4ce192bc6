//! runc-compatible log lines: containerd's shim reads the last `error` line
//! of the `--log` file and shows it in the CRI error (and `kubectl describe`).

use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::time::SystemTime;

/// Format of the `--log` file, as runc's `--log-format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `time="…" level=error msg="…"` lines.
    Text,
    /// `{"level":"error","msg":"…","time":"…"}` lines.
    Json,
}

/// Where and how the runtime reports what it did and why it failed.
#[derive(Clone, Debug)]
pub struct Logger {
    path: Option<PathBuf>,
    format: LogFormat,
    debug: bool,
}

impl Logger {
    /// A logger writing to `path` (stderr when absent).
    pub fn new(path: Option<PathBuf>, format: LogFormat, debug: bool) -> Self {
        Self {
            path,
            format,
            debug,
        }
    }

    /// Whether lines go to a file (else to stderr).
    pub fn has_file(&self) -> bool {
        self.path.is_some()
    }

    /// Reports a failure; this is the line the shim surfaces to the user.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
    }

    /// Reports a noteworthy event.
    pub fn info(&self, msg: &str) {
        self.write("info", msg);
    }

    /// Reports detail useful when `--debug` is given.
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let line = render_line(self.format, level, msg, SystemTime::now());
        let written = self.path.as_ref().is_some_and(|path| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| f.write_all(line.as_bytes()))
                .is_ok()
        });
        if !written && (level == "error" || self.path.is_none()) {
            eprint!("{line}");
        }
    }
}

/// Renders one log line, newline-terminated.
fn render_line(format: LogFormat, level: &str, msg: &str, at: SystemTime) -> String {
    let time = humantime::format_rfc3339_nanos(at).to_string();
    match format {
        LogFormat::Json => {
            let value = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{value}\n")
        }
        LogFormat::Text => {
            let quoted = serde_json::Value::String(msg.to_owned());
            format!("time=\"{time}\" level={level} msg={quoted}\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn json_line_has_runc_shape() {
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let line = render_line(LogFormat::Json, "error", "boom \"x\"", at);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "boom \"x\"");
        assert_eq!(v["time"], "2023-11-14T22:13:20.000000000Z");
        assert!(line.ends_with('\n'));
    }

    #[test]
    fn text_line_quotes_message() {
        let line = render_line(LogFormat::Text, "info", "a b", UNIX_EPOCH);
        assert_eq!(
            line,
            "time=\"1970-01-01T00:00:00.000000000Z\" level=info msg=\"a b\"\n"
        );
    }

    #[test]
    fn logger_appends_to_file() {
        let dir = std::env::temp_dir().join(format!("ukrun-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log.json");
        let logger = Logger::new(Some(path.clone()), LogFormat::Json, false);
        logger.error("first");
        logger.debug("hidden");
        logger.info("second");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let msgs: Vec<String> = text
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["msg"].to_string())
            .collect();
        assert_eq!(msgs, vec!["\"first\"", "\"second\""]);
    }
}
