//! Private `nats-server` processes with JetStream on free loopback ports: the demo's fallback
//! when no NATS answers, and the harness of the tests and the benchmark. A single server
//! ([`LocalNats`]) or a cluster of them ([`LocalCluster`]), each node with its own store, started
//! from a config file it writes; killed, and its store deleted, on drop.
//!
//! Single servers may demand TLS (with client certificates) and credentials ([`NatsOptions`]),
//! and reload a changed config while running ([`LocalNats::reconfigure`]).
//!
//! The binary is `$NATS_SERVER_BIN`, else `nats-server` on `PATH`, else Debian's
//! `/usr/sbin/nats-server`, so one test run can target any server release.

use std::fmt::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long to wait for a started server to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The `nats-server` binary: `$NATS_SERVER_BIN`, else on `PATH`, else Debian's `/usr/sbin`.
pub fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER_BIN") {
        return Some(p.into());
    }
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("nats-server"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let debian = PathBuf::from("/usr/sbin/nats-server");
        debian.is_file().then_some(debian)
    })
}

/// A free TCP port on 127.0.0.1 (free when asked; another process may take it later).
pub fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Server settings beyond the defaults (each `None` keeps the server's own default).
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// `max_payload`: the largest message (headers and payload) the server accepts.
    pub max_payload: Option<usize>,
    /// JetStream `max_file_store`: the file storage of the whole server.
    pub max_file_store: Option<u64>,
    /// TLS for clients (a `tls` block): then every client must use TLS.
    pub tls: Option<ServerTls>,
    /// Who may connect (an `authorization` block); `None` lets anyone in.
    pub authorization: Option<Authorization>,
}

/// The server's TLS files (PEM).
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Verify client certificates against this CA (clients without one are refused).
    pub verify_clients: Option<PathBuf>,
}

/// The one way clients authenticate.
#[derive(Debug, Clone)]
pub enum Authorization {
    User {
        user: String,
        password: String,
    },
    Token(String),
    /// A user's public nkey (`U...`).
    NKey(String),
}

/// A running (or stopped, restartable) private NATS server.
pub struct LocalNats {
    binary: PathBuf,
    child: Option<Child>,
    port: u16,
    /// Holds the config file and the JetStream store.
    dir: PathBuf,
}

impl LocalNats {
    /// Start `nats-server` with JetStream on a free port with a fresh store directory.
    pub fn start() -> std::io::Result<Self> {
        Self::start_with(&NatsOptions::default())
    }

    /// Like [`LocalNats::start`], with `options`.
    pub fn start_with(options: &NatsOptions) -> std::io::Result<Self> {
        let port = free_port()?;
        let mut server = Self::prepare(port, &format!("{port}"))?;
        let mut config = server_config("single", port, &server.dir, options);
        config.push('\n');
        server.write_config(&config)?;
        server.spawn()?;
        Ok(server)
    }

    fn prepare(port: u16, label: &str) -> std::io::Result<Self> {
        let binary = find_binary().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "nats-server is not installed (Debian/Ubuntu: apt-get install nats-server, \
                 or set NATS_SERVER_BIN)",
            )
        })?;
        let dir = std::env::temp_dir().join(format!(
            "gtt-gateway-nats-{}-{label}-{}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            binary,
            child: None,
            port,
            dir,
        })
    }

    fn write_config(&self, text: &str) -> std::io::Result<()> {
        std::fs::write(self.dir.join("nats.conf"), text)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        let log = std::fs::File::create(self.dir.join("server.log"))?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.dir.join("nats.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if Instant::now() > deadline {
                self.stop();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "nats-server did not start (log: {})",
                        self.dir.join("server.log").display()
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id while it runs (to freeze it with SIGSTOP in tests).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Whether the process is running (not stopped by [`LocalNats::stop`]).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Kill the server as a crash would (SIGKILL); the store stays for [`LocalNats::restart`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start again on the same port with the same store.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        self.spawn()
    }

    /// Rewrite the config with `options` and have the running server reload it
    /// (`nats-server --signal reload=PID`); returns once the signal is delivered.
    pub fn reconfigure(&mut self, options: &NatsOptions) -> std::io::Result<()> {
        let mut config = server_config("single", self.port, &self.dir, options);
        config.push('\n');
        self.write_config(&config)?;
        let pid = self
            .pid()
            .ok_or_else(|| std::io::Error::other("nats-server is not running"))?;
        let status = Command::new(&self.binary)
            .args(["--signal", &format!("reload={pid}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!(
                "nats-server --signal reload failed ({status})"
            )));
        }
        Ok(())
    }
}

impl Drop for LocalNats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The config file of one server: client port, JetStream store, limits.
fn server_config(name: &str, port: u16, dir: &Path, options: &NatsOptions) -> String {
    let mut text = format!(
        "server_name: \"{name}\"\nlisten: \"127.0.0.1:{port}\"\njetstream {{\n  store_dir: {store:?}\n",
        store = dir.join("store").display().to_string()
    );
    if let Some(bytes) = options.max_file_store {
        let _ = writeln!(text, "  max_file_store: {bytes}");
    }
    text.push_str("}\n");
    if let Some(bytes) = options.max_payload {
        let _ = writeln!(text, "max_payload: {bytes}");
    }
    if let Some(tls) = &options.tls {
        let path = |p: &Path| format!("{:?}", p.display().to_string());
        let _ = write!(
            text,
            "tls {{\n  cert_file: {}\n  key_file: {}\n",
            path(&tls.cert_file),
            path(&tls.key_file)
        );
        if let Some(ca) = &tls.verify_clients {
            let _ = write!(text, "  ca_file: {}\n  verify: true\n", path(ca));
        }
        text.push_str("}\n");
    }
    match &options.authorization {
        None => {}
        Some(Authorization::User { user, password }) => {
            let _ = writeln!(
                text,
                "authorization {{\n  user: {user:?}\n  password: {password:?}\n}}"
            );
        }
        Some(Authorization::Token(token)) => {
            let _ = writeln!(text, "authorization {{\n  token: {token:?}\n}}");
        }
        Some(Authorization::NKey(public)) => {
            let _ = writeln!(
                text,
                "authorization {{\n  users: [ {{ nkey: {public:?} }} ]\n}}"
            );
        }
    }
    text
}

/// A JetStream cluster of private servers on loopback, each with its own store and routes to
/// all the others. Nodes can be killed and restarted one by one.
pub struct LocalCluster {
    nodes: Vec<LocalNats>,
    names: Vec<String>,
}

impl LocalCluster {
    /// Start `size` nodes named `n1`, `n2`, ... and return once every node accepts clients
    /// (JetStream needs a moment more to elect its meta leader; see
    /// [`LocalCluster::wait_for_jetstream`]).
    pub fn start(size: usize) -> std::io::Result<Self> {
        let ports: Vec<(u16, u16)> = (0..size)
            .map(|_| Ok((free_port()?, free_port()?)))
            .collect::<std::io::Result<_>>()?;
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, route)| format!("\"nats-route://127.0.0.1:{route}\""))
            .collect();
        let cluster_id = rand::random::<u32>();
        let mut nodes = Vec::with_capacity(size);
        let mut names = Vec::with_capacity(size);
        for (i, (port, route)) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let node = LocalNats::prepare(*port, &name)?;
            let mut config = server_config(&name, *port, &node.dir, &NatsOptions::default());
            let _ = write!(
                config,
                "cluster {{\n  name: \"gtt-test-{cluster_id:08x}\"\n  listen: \"127.0.0.1:{route}\"\n  routes: [{}]\n}}\n",
                routes.join(", ")
            );
            node.write_config(&config)?;
            nodes.push(node);
            names.push(name);
        }
        for node in &mut nodes {
            node.spawn()?;
        }
        Ok(Self { nodes, names })
    }

    /// Every node's client URL, comma-separated (the form `nats.url` accepts).
    pub fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(LocalNats::url)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The node called `name` (`n1`, `n2`, ...).
    pub fn node(&mut self, name: &str) -> &mut LocalNats {
        let i = self
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no node {name}"));
        &mut self.nodes[i]
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Wait until JetStream answers API requests through the first running node (the meta
    /// leader is elected), at most `timeout`.
    pub async fn wait_for_jetstream(&self, timeout: Duration) -> std::io::Result<()> {
        let url = self
            .nodes
            .iter()
            .find(|n| n.is_running())
            .map(LocalNats::url)
            .ok_or_else(|| std::io::Error::other("no node is running"))?;
        let deadline = Instant::now() + timeout;
        loop {
            // `$JS.API.INFO` answers without an error once the meta leader is elected (the
            // typed account query does not parse the answers of servers before 2.10).
            if let Ok(client) = async_nats::connect(&url).await
                && let Ok(Ok(reply)) = tokio::time::timeout(
                    Duration::from_secs(2),
                    client.request("$JS.API.INFO", bytes::Bytes::new()),
                )
                .await
                && serde_json::from_slice::<serde_json::Value>(&reply.payload)
                    .is_ok_and(|v| v.get("error").is_none())
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the JetStream cluster did not elect a meta leader",
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}
