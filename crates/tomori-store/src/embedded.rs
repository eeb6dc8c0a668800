//! A private PostgreSQL cluster for installations without `DATABASE_URL`, and for the test
//! harness.
//!
//! The cluster lives under a directory of ours (`data/` for the cluster, `run/` for its socket,
//! `postgres.log`), listens on a unix socket only (`listen_addresses = ''`, so never TCP), and is
//! driven by the machine's own `initdb` and `pg_ctl`. PostgreSQL refuses to run as root, so when
//! Tomori runs as root the server runs as the unprivileged `postgres` user (or `nobody`), which
//! then owns the directory.
//!
//! A cluster found already running (a `tomori doctor` beside a running bot, or a bot that was
//! killed) is used as it is and left running: only the process that started it stops it.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use secrecy::SecretString;
use tokio::process::Command;

/// Superuser created by `initdb`; only the socket's directory permissions let anyone reach it.
pub const SUPERUSER: &str = "tomori";
/// Longest unix socket path the kernel accepts (`sun_path` is 108 bytes with the final NUL).
const MAX_SOCKET_PATH: usize = 107;

/// Why the embedded cluster cannot start or stop.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// No `initdb`/`pg_ctl` on this machine.
    #[error(
        "no PostgreSQL server binaries found (looked for pg_config, /usr/lib/postgresql/*/bin): \
         install them (Debian/Ubuntu: apt-get install postgresql) or set DATABASE_URL"
    )]
    NoBinaries,
    /// Running as root and no unprivileged account to run the server as.
    #[error(
        "running as root, but there is no 'postgres' or 'nobody' user to run PostgreSQL as: create one (useradd --system postgres) or set DATABASE_URL"
    )]
    NoServiceUser,
    /// The socket path would be too long for the kernel.
    #[error(
        "the data directory path is too long for a unix socket ({0} bytes, at most {MAX_SOCKET_PATH}): choose a shorter data_dir"
    )]
    PathTooLong(usize),
    /// A file system operation failed.
    #[error("{what} {path}")]
    Io {
        /// What we were doing.
        what: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `initdb` or `pg_ctl` failed; the tail of its output says why.
    #[error("{command} failed: {output}")]
    Command {
        /// Which program.
        command: &'static str,
        /// The last lines it printed.
        output: String,
    },
}

/// A unix account to run the server as.
#[derive(Debug, Clone, Copy)]
struct ServiceUser {
    uid: u32,
    gid: u32,
}

/// A running private cluster.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    root: PathBuf,
    bin_dir: PathBuf,
    run_as: Option<ServiceUser>,
    started_here: bool,
}

/// How to start the cluster.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// The directory that holds the cluster.
    pub root: PathBuf,
    /// Where `initdb` and `pg_ctl` are; found automatically when `None`.
    pub bin_dir: Option<PathBuf>,
    /// Trade durability for speed (fsync off): for throwaway test clusters only.
    pub throwaway: bool,
}

impl EmbeddedPostgres {
    /// Whether `root` holds an initialised cluster (what [`EmbeddedPostgres::start`] would start
    /// rather than create).
    pub fn exists(root: &Path) -> bool {
        root.join("data").join("PG_VERSION").is_file()
    }

    /// Initialises the cluster if the directory holds none, then starts it unless it is running.
    ///
    /// # Errors
    /// Missing server binaries, no account to run it as, a path too long for a socket, or a
    /// failing `initdb`/`pg_ctl` (with the tail of its output).
    pub async fn start(options: EmbeddedOptions) -> Result<Self, EmbeddedError> {
        let bin_dir = match options.bin_dir {
            Some(dir) => dir,
            None => find_binaries().await?,
        };
        let root = absolute(&options.root)?;
        let socket_path = root.join("run").join(".s.PGSQL.5432");
        let socket_len = socket_path.as_os_str().len();
        if socket_len > MAX_SOCKET_PATH {
            return Err(EmbeddedError::PathTooLong(socket_len));
        }
        let run_as = if running_as_root()? { Some(service_user()?) } else { None };
        let this = Self { root, bin_dir, run_as, started_here: false };
        this.prepare_dirs()?;
        if !this.data_dir().join("PG_VERSION").exists() {
            this.initdb().await?;
        }
        if this.is_running().await {
            tracing::info!(dir = %this.root.display(), "embedded PostgreSQL already running; using it");
            return Ok(this);
        }
        let mut server_options = format!(
            "-c listen_addresses='' -c unix_socket_directories='{}' -c unix_socket_permissions=0700",
            this.run_dir().display()
        );
        if options.throwaway {
            server_options
                .push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let data = this.data_dir();
        let log = this.root.join("postgres.log");
        this.run(
            "pg_ctl",
            &[
                "start".as_ref(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-o".as_ref(),
                server_options.as_ref(),
            ],
        )
        .await
        .map_err(|err| match err {
            EmbeddedError::Command { command, output } => {
                let log_tail = fs::read_to_string(&log).map(|text| tail(&text)).unwrap_or_default();
                EmbeddedError::Command {
                    command,
                    output: format!("{output} {log_tail}").trim().to_owned(),
                }
            }
            other => other,
        })?;
        tracing::info!(dir = %this.root.display(), "embedded PostgreSQL started (unix socket only)");
        Ok(Self { started_here: true, ..this })
    }

    /// The URL of a database in this cluster, as the superuser, over the unix socket.
    pub fn database_url(&self, database: &str) -> SecretString {
        SecretString::from(format!(
            "postgres://{SUPERUSER}@localhost/{database}?host={}",
            self.run_dir().display()
        ))
    }

    /// Whether this process started the server (and so will stop it).
    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Stops the server if this process started it.
    ///
    /// # Errors
    /// `pg_ctl stop` failed.
    pub async fn stop(self) -> Result<(), EmbeddedError> {
        if !self.started_here {
            return Ok(());
        }
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "-w".as_ref(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-D".as_ref(),
                data.as_os_str(),
            ],
        )
        .await?;
        tracing::info!("embedded PostgreSQL stopped");
        Ok(())
    }

    fn data_dir(&self) -> PathBuf {
        self.root.join("data")
    }

    fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    fn prepare_dirs(&self) -> Result<(), EmbeddedError> {
        for dir in [self.root.clone(), self.run_dir()] {
            fs::create_dir_all(&dir).map_err(|source| EmbeddedError::Io {
                what: "creating",
                path: dir.clone(),
                source,
            })?;
            // Security: the socket accepts the superuser without a password, so only its owner
            // (and root) may enter the directory that holds it.
            fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).map_err(|source| {
                EmbeddedError::Io { what: "restricting", path: dir.clone(), source }
            })?;
            if let Some(user) = self.run_as {
                std::os::unix::fs::chown(&dir, Some(user.uid), Some(user.gid)).map_err(
                    |source| EmbeddedError::Io { what: "handing over", path: dir.clone(), source },
                )?;
            }
        }
        Ok(())
    }

    async fn initdb(&self) -> Result<(), EmbeddedError> {
        let data = self.data_dir();
        self.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                SUPERUSER.as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
            ],
        )
        .await?;
        tracing::info!(dir = %data.display(), "embedded PostgreSQL cluster initialised");
        Ok(())
    }

    async fn is_running(&self) -> bool {
        let data = self.data_dir();
        self.run("pg_ctl", &["status".as_ref(), "-D".as_ref(), data.as_os_str()]).await.is_ok()
    }

    async fn run(
        &self,
        program: &'static str,
        args: &[&std::ffi::OsStr],
    ) -> Result<(), EmbeddedError> {
        let mut command = Command::new(self.bin_dir.join(program));
        command.args(args).current_dir(&self.root).stdin(Stdio::null()).kill_on_drop(true);
        // The server must not inherit the bot's secrets.
        command.env_clear();
        command.env("LC_ALL", "C");
        if let Some(user) = self.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        let output = command.output().await.map_err(|source| EmbeddedError::Io {
            what: "running",
            path: self.bin_dir.join(program),
            source,
        })?;
        if output.status.success() {
            return Ok(());
        }
        let mut text = String::from_utf8_lossy(&output.stderr).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stdout));
        Err(EmbeddedError::Command { command: program, output: tail(&text) })
    }
}

/// `url` with its database replaced by `database` (the path of a `postgres://` URL).
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let path_start = base
        .get(scheme_end..)
        .and_then(|rest| rest.find('/'))
        .map_or(base.len(), |i| i + scheme_end);
    let mut out = format!("{}/{database}", base.get(..path_start).unwrap_or(base));
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.iter().rev().take(3).rev().copied().collect::<Vec<_>>().join(" | ")
}

fn absolute(path: &Path) -> Result<PathBuf, EmbeddedError> {
    std::path::absolute(path).map_err(|source| EmbeddedError::Io {
        what: "resolving",
        path: path.to_owned(),
        source,
    })
}

/// Finds the directory holding `initdb` and `pg_ctl`: `pg_config --bindir`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian and Ubuntu keep them off `PATH`).
/// The PostgreSQL client tool `name` (`pg_dump`, `pg_restore`) of the newest server installed,
/// so that it is at least as new as the embedded server; else `name` itself, for PATH.
pub async fn client_tool(name: &str) -> PathBuf {
    match find_binaries().await {
        Ok(dir) if dir.join(name).is_file() => dir.join(name),
        _ => PathBuf::from(name),
    }
}

async fn find_binaries() -> Result<PathBuf, EmbeddedError> {
    let has_tools = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Ok(output) = Command::new("pg_config").arg("--bindir").output().await
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if has_tools(&dir) {
            return Ok(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| has_tools(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir).ok_or(EmbeddedError::NoBinaries)
}

fn running_as_root() -> Result<bool, EmbeddedError> {
    // `/proc/self` belongs to the process's effective user.
    let meta = fs::metadata("/proc/self").map_err(|source| EmbeddedError::Io {
        what: "reading",
        path: PathBuf::from("/proc/self"),
        source,
    })?;
    Ok(meta.uid() == 0)
}

fn service_user() -> Result<ServiceUser, EmbeddedError> {
    let passwd = fs::read_to_string("/etc/passwd").map_err(|source| EmbeddedError::Io {
        what: "reading",
        path: PathBuf::from("/etc/passwd"),
        source,
    })?;
    let find = |name: &str| {
        passwd.lines().find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            match fields.as_slice() {
                [user, _, uid, gid, ..] if *user == name => {
                    Some(ServiceUser { uid: uid.parse().ok()?, gid: gid.parse().ok()? })
                }
                _ => None,
            }
        })
    };
    find("postgres")
        .or_else(|| find("nobody"))
        .filter(|u| u.uid != 0)
        .ok_or(EmbeddedError::NoServiceUser)
}
