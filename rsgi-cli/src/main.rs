//! `rsgi`: check, serve and convert PasteDeploy `api-paste.ini` files.
//!
//! ```text
//! rsgi check FILE [--name NAME] [--stub-unknown]
//! rsgi serve FILE [--name NAME] [--bind ADDR] [--stub-unknown] [--pool-size N …]
//! rsgi expand FILE [--name NAME]
//! ```
//!
//! Exit status: 0 on success, 1 when the deployment has errors (each printed
//! with `file:line`), 2 for a usage error.

mod expand;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use rsgi_runtime::loader::{Deployment, LoadError, Registry};
use rsgi_runtime::server::{self, Config, Listener};

/// Check, serve and convert PasteDeploy deployments.
#[derive(Debug, Parser)]
#[command(name = "rsgi", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and check a deployment, like `nginx -t`: exit 0, or print every
    /// error with `file:line` and exit 1.
    Check {
        /// The ini file.
        file: PathBuf,
        /// Check only this name (default: every app, composite, pipeline and
        /// filter-app section, and the `[server:…]` sections).
        #[arg(long)]
        name: Option<String>,
        /// Make unknown factories echo apps and pass-through trace filters,
        /// and unknown pipeline-choice composites a select on
        /// `auth_strategy` (default `keystone`).
        #[arg(long)]
        stub_unknown: bool,
    },
    /// Serve a deployment with the pooled server until SIGTERM/SIGINT.
    #[command(after_help = "Server options (override `[server:main]`): --bind ADDR, --pool-size N, --backlog N, \
--tcp-nodelay BOOL, --keepalive BOOL, --client-socket-timeout SECS, --header-read-timeout SECS, \
--max-header-size N, --max-headers N, --protocol auto|http1|http2, --log-format FMT, --cert-file PATH, \
--key-file PATH, --workers N, --reuse-port BOOL, --shutdown-timeout SECS")]
    Serve {
        /// The ini file.
        file: PathBuf,
        /// The app to serve (default `main`).
        #[arg(long, default_value = "main")]
        name: String,
        /// Where to listen (`IP:PORT` or `unix:PATH`), over `[server:main]`.
        #[arg(long)]
        bind: Option<String>,
        /// As for `check`.
        #[arg(long)]
        stub_unknown: bool,
    },
    /// Print the equivalent `deploy!` block, with a stub factory table.
    Expand {
        /// The ini file.
        file: PathBuf,
        /// Only the sections this name uses (default: all).
        #[arg(long)]
        name: Option<String>,
    },
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().collect();
    // Server options are `server::Config`'s; take them out before clap sees
    // the rest, and apply them after `[server:main]`.
    let mut server_args = Vec::new();
    if args.get(1).map(String::as_str) == Some("serve") {
        match Config::default().apply_args(args[2..].iter().cloned()) {
            Ok(rest) => {
                server_args = args[2..].to_vec();
                args.truncate(2);
                args.extend(rest);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let cli = Cli::parse_from(args);
    match cli.command {
        Command::Check { file, name, stub_unknown } => check(&file, name.as_deref(), stub_unknown),
        Command::Serve { file, name, bind, stub_unknown } => serve(&file, &name, bind, stub_unknown, server_args),
        Command::Expand { file, name } => match Deployment::read(&file) {
            Ok(d) => match expand::expand(&d, name.as_deref()) {
                Ok(text) => {
                    print!("{text}");
                    ExitCode::SUCCESS
                }
                Err(e) => failed(&e),
            },
            Err(e) => failed(&e),
        },
    }
}

fn failed(e: &LoadError) -> ExitCode {
    eprintln!("{e}");
    ExitCode::from(1)
}

fn registry(stub_unknown: bool) -> Registry {
    Registry::default().stub_unknown(stub_unknown)
}

fn check(file: &std::path::Path, name: Option<&str>, stub_unknown: bool) -> ExitCode {
    let d = match Deployment::read(file) {
        Ok(d) => d,
        Err(e) => return failed(&e),
    };
    match d.check(name, &registry(stub_unknown)) {
        Ok(checked) => {
            for w in &checked.warnings {
                eprintln!("{w}\n");
            }
            let mut summary = format!(
                "{}: ok: {} app{} ({})",
                file.display(),
                checked.apps.len(),
                if checked.apps.len() == 1 { "" } else { "s" },
                checked.apps.join(", ")
            );
            if !checked.servers.is_empty() {
                summary.push_str(&format!(
                    ", server{} ({})",
                    if checked.servers.len() == 1 { "" } else { "s" },
                    checked.servers.join(", ")
                ));
            }
            if stub_unknown {
                summary.push_str(", unknown factories stubbed");
            }
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(e) => failed(&e),
    }
}

fn serve(
    file: &std::path::Path,
    name: &str,
    bind: Option<String>,
    stub_unknown: bool,
    server_args: Vec<String>,
) -> ExitCode {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .try_init();
    let registry = registry(stub_unknown);
    let d = match Deployment::read(file) {
        Ok(d) => d,
        Err(e) => return failed(&e),
    };
    let mut config = Config::default();
    if d.servers().iter().any(|s| s == "main") {
        match d.server_config("main", &registry, &mut config) {
            Ok(warnings) => warnings.iter().for_each(|w| eprintln!("{w}\n")),
            Err(e) => return failed(&e),
        }
    }
    if let Err(e) = config.apply_args(server_args) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if let Some(bind) = bind {
        if let Err(e) = config.set("bind", &bind) {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    }
    let app = match d.load(name, &registry) {
        Ok(app) => app,
        Err(e) => return failed(&e),
    };
    match run(config, app, &format!("{} [{name}]", file.display())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

/// `server::run`, printing the address actually bound (port 0 picks one).
fn run(config: Config, app: rsgi_runtime::BoxApp, what: &str) -> std::io::Result<()> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = config.workers {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build()?;
    rt.block_on(async move {
        let listener = Listener::bind(&config.bind, config.backlog, config.reuse_port)?;
        match listener.local_addr() {
            Some(addr) => println!("rsgi: serving {what} on http://{addr}"),
            None => println!("rsgi: serving {what} on {}", config.bind),
        }
        server::serve(listener, &config, app, server::shutdown::signal()).await?;
        Ok(())
    })
}
