//! runc's command line: parse, decide whether the container is ukrun's or
//! runc's, dispatch to one file per command, and report failures as runc
//! does (an `error` line in the `--log` file and a non-zero exit code).

mod create;
mod delete;
mod doctor;
mod doctor_root;
mod exec;
mod features;
mod kill;
mod ps;
mod run;
mod start;
mod state;
mod update;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::log::{LogFormat, Logger};
use crate::state::Store;
use crate::supervisor;

/// Default state root, as runc's `/run/runc`.
const DEFAULT_ROOT: &str = "/run/ukrun";

#[derive(Parser, Debug)]
#[command(
    name = "ukrun",
    version,
    about = "OCI runtime for unikernels and microVM guests in Kubernetes pods; ordinary containers are handed to runc"
)]
struct Cli {
    /// State directory (shared with runc, which keeps its own containers
    /// there); `/run/ukrun` when not given.
    #[arg(long, global = true)]
    root: Option<PathBuf>,
    /// Log file (errors are also what containerd shows to the user).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log line format.
    #[arg(long = "log-format", global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Log debug lines too.
    #[arg(long, global = true)]
    debug: bool,
    /// cgroupsPath uses systemd's `slice:prefix:name` form.
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    command: Command,
}

/// Flags of `create` and `run`.
#[derive(clap::Args, Debug)]
struct CreateArgs {
    /// Bundle directory (holds config.json).
    #[arg(long, short = 'b', default_value = ".")]
    bundle: PathBuf,
    /// File to write the container's init pid to.
    #[arg(long = "pid-file")]
    pid_file: Option<PathBuf>,
    /// Socket to send a console pty master to (terminal mode).
    #[arg(long = "console-socket")]
    console_socket: Option<PathBuf>,
    /// Accepted for runc compatibility.
    #[arg(long = "no-pivot")]
    no_pivot: bool,
    /// Accepted for runc compatibility.
    #[arg(long = "no-new-keyring")]
    no_new_keyring: bool,
    /// Accepted for runc compatibility.
    #[arg(long = "preserve-fds", default_value_t = 0)]
    preserve_fds: u32,
    /// Container id.
    id: String,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a container (the supervisor waits for `start`).
    Create(CreateArgs),
    /// Start a created container (boots the guest).
    Start {
        /// Container id.
        id: String,
    },
    /// Print the container's state as runc's JSON.
    State {
        /// Container id.
        id: String,
    },
    /// Send a signal to the container (SIGTERM: graceful guest shutdown).
    Kill {
        /// Signal every process of the container.
        #[arg(long, short = 'a')]
        all: bool,
        /// Container id.
        id: String,
        /// Signal name or number (default SIGTERM).
        signal: Option<String>,
    },
    /// Delete a container and every trace of it.
    Delete {
        /// Kill the container first if it is running.
        #[arg(long, short = 'f')]
        force: bool,
        /// Container id.
        id: String,
    },
    /// Create and start a container, and wait for it unless detached.
    Run {
        #[command(flatten)]
        create: CreateArgs,
        /// Return once the container started.
        #[arg(long, short = 'd')]
        detach: bool,
        /// Keep the container's state after it exits.
        #[arg(long)]
        keep: bool,
    },
    /// Diagnose a unikernel container's pod network from the outside (read-only).
    Doctor(doctor::DoctorArgs),
    /// Print the OCI features this runtime supports.
    Features,
    /// List the container's processes.
    Ps {
        /// `table` or `json`.
        #[arg(long, short = 'f', default_value = "table")]
        format: String,
        /// Container id.
        id: String,
        /// ps(1) options for `table` (default `-ef`), as runc takes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        ps_args: Vec<String>,
    },
    /// Change a container's resources (a guest's CPU and pids limits).
    Update {
        /// runc's update arguments (`--resources FILE|- ID`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Run a process in a container (refused for unikernel containers).
    Exec {
        /// runc's exec arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
    /// Any other runc command: handed to runc unless it names a unikernel container.
    #[command(external_subcommand)]
    Other(Vec<OsString>),
}

/// Writes a command's answer to standard output. A reader that went away
/// (`ukrun features | head`) is no error, as for any Unix filter; other
/// write errors are.
pub(crate) fn print_out(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(format!("cannot write to standard output: {e}"))
        }
        _ => Ok(()),
    }
}

/// What a command asks the dispatcher to do next.
pub(crate) enum Outcome {
    /// Exit with this code.
    Exit(i32),
    /// Hand the original argv to runc.
    Delegate,
}

impl Cli {
    /// The state root: `--root`, or ukrun's default.
    fn root(&self) -> PathBuf {
        self.root
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_ROOT))
    }
}

/// Everything a command needs besides its own flags.
pub(crate) struct Global {
    pub store: Store,
    /// The `--root` given, if any (`doctor` looks in the shims' roots
    /// without one).
    pub explicit_root: Option<PathBuf>,
    pub config: Config,
    pub logger: Logger,
    pub systemd_cgroup: bool,
    /// Global flags, as the supervisor's command line shows them in `ps`.
    pub global_args: Vec<OsString>,
}

impl Global {
    /// What the supervisor forked by `create` works with.
    pub fn supervisor_context(&self) -> supervisor::Context {
        supervisor::Context {
            store: self.store.clone(),
            config: self.config.clone(),
            logger: self.logger.clone(),
            systemd_cgroup: self.systemd_cgroup,
        }
    }
}

/// Parses argv, runs the command, and maps failures to runc-style logs.
pub fn run() -> ExitCode {
    let raw: Vec<OsString> = std::env::args_os().skip(1).collect();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e)
            if matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            ) =>
        {
            e.exit()
        }
        Err(_) => return delegate_raw(&raw, Config::load().ok()),
    };
    let logger = Logger::new(cli.log.clone(), cli.log_format, cli.debug);
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => return fail(&logger, &e.to_string()),
    };
    let global = Global {
        store: Store::new(&cli.root()),
        explicit_root: cli.root.clone(),
        config,
        logger,
        systemd_cgroup: cli.systemd_cgroup,
        global_args: global_args(&cli),
    };
    let outcome = match cli.command {
        Command::Create(args) => create::create(&global, &args).map(|(outcome, _)| outcome),
        Command::Start { id } => start::start(&global, &id),
        Command::State { id } => state::state(&global, &id),
        Command::Kill { all, id, signal } => kill::kill(&global, &id, signal.as_deref(), all),
        Command::Delete { force, id } => delete::delete(&global, &id, force),
        Command::Run {
            create,
            detach,
            keep,
        } => run::run(&global, &create, detach, keep),
        Command::Doctor(args) => doctor::doctor(&global, &args),
        Command::Features => features::features(&global.config),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps::ps(&global, &id, &format, &ps_args),
        Command::Exec { args } => exec::exec(&global, &args),
        Command::Update { args } => update::update(&global, &args),
        Command::Other(args) => exec::other(&global, &args),
    };
    match outcome {
        Ok(Outcome::Exit(code)) => ExitCode::from(code.clamp(0, 255) as u8),
        Ok(Outcome::Delegate) => delegate_raw(&raw, Some(global.config)),
        Err(msg) => fail(&global.logger, &msg),
    }
}

/// Reports a failure as runc does: an `error` line in the log and the
/// message on stderr (containerd's shim matches runc's messages, such as
/// "container not running", in the command's output).
fn fail(logger: &Logger, msg: &str) -> ExitCode {
    logger.error(msg);
    if logger.has_file() {
        eprintln!("{msg}");
    }
    ExitCode::FAILURE
}

fn delegate_raw(raw: &[OsString], config: Option<Config>) -> ExitCode {
    let runc = config.unwrap_or_default().runc_binary();
    let msg = crate::delegate::exec_runc(&runc, raw);
    eprintln!("ukrun: {msg}");
    ExitCode::FAILURE
}

/// The global flags, rebuilt for the supervisor's command line.
fn global_args(cli: &Cli) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["--root".into(), cli.root().into()];
    if let Some(log) = &cli.log {
        args.extend(["--log".into(), log.clone().into()]);
    }
    let format = match cli.log_format {
        LogFormat::Json => "json",
        LogFormat::Text => "text",
    };
    args.extend(["--log-format".into(), format.into()]);
    if cli.debug {
        args.push("--debug".into());
    }
    if cli.systemd_cgroup {
        args.push("--systemd-cgroup".into());
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shim_argv_parses() {
        let cli = Cli::try_parse_from([
            "ukrun",
            "--root",
            "/run/r",
            "--log",
            "/t/log.json",
            "--log-format",
            "json",
            "create",
            "--bundle",
            "/t",
            "--pid-file",
            "/t/init.pid",
            "c1",
        ])
        .unwrap();
        assert_eq!(cli.root(), PathBuf::from("/run/r"));
        assert_eq!(cli.log_format, LogFormat::Json);
        match cli.command {
            Command::Create(a) => {
                assert_eq!(a.id, "c1");
                assert_eq!(a.pid_file, Some(PathBuf::from("/t/init.pid")));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn kill_delete_exec_and_unknown_commands_parse() {
        let k = Cli::try_parse_from(["ukrun", "kill", "--all", "c1", "9"]).unwrap();
        assert!(
            matches!(k.command, Command::Kill { all: true, ref signal, .. } if signal.as_deref() == Some("9"))
        );
        let d = Cli::try_parse_from(["ukrun", "delete", "--force", "c1"]).unwrap();
        assert!(matches!(d.command, Command::Delete { force: true, .. }));
        let e = Cli::try_parse_from(["ukrun", "exec", "--process", "/p.json", "--detach", "c1"])
            .unwrap();
        assert!(matches!(e.command, Command::Exec { ref args } if args.len() == 4));
        let o = Cli::try_parse_from(["ukrun", "pause", "c1"]).unwrap();
        assert!(matches!(o.command, Command::Other(ref a) if a.len() == 2));
    }

    #[test]
    fn root_defaults_to_ukruns_and_remembers_whether_it_was_given() {
        let cli = Cli::try_parse_from(["ukrun", "doctor", "g1"]).unwrap();
        assert_eq!(
            (cli.root.clone(), cli.root()),
            (None, PathBuf::from(DEFAULT_ROOT))
        );
        let cli = Cli::try_parse_from(["ukrun", "--root", "/r", "doctor", "g1"]).unwrap();
        assert_eq!(cli.root, Some(PathBuf::from("/r")));
    }

    #[test]
    fn global_args_round_trip_for_the_supervisor() {
        let cli = Cli::try_parse_from([
            "ukrun",
            "--root",
            "/r",
            "--debug",
            "--systemd-cgroup",
            "start",
            "c",
        ])
        .unwrap();
        let args = global_args(&cli);
        let mut argv: Vec<OsString> = vec!["ukrun".into()];
        argv.extend(args);
        argv.extend(["state".into(), "c".into()]);
        let again = Cli::try_parse_from(argv).unwrap();
        assert!(again.debug && again.systemd_cgroup);
        assert_eq!(again.root(), PathBuf::from("/r"));
    }
}
