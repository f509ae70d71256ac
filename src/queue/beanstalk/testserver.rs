//! A real beanstalkd for tests and benchmarks: started on a free loopback port (never the
//! default 11300, which may be a real server), stopped by its PID when dropped.
//!
//! A missing beanstalkd is a failure, not a skip: CI must never pass without having run the
//! beanstalkd tests.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct TestServer {
    child: Child,
    pub port: u16,
    args: Vec<String>,
}

impl TestServer {
    /// Starts `beanstalkd -l 127.0.0.1 -p <free port> <args>` and waits until it accepts.
    pub fn start(args: &[&str]) -> TestServer {
        let port = free_port();
        Self::start_on(port, args)
    }

    /// Starts a server with a binlog in `dir` (`-b`), so jobs survive a restart.
    pub fn start_with_binlog(dir: &Path) -> TestServer {
        Self::start(&["-b", dir.to_str().expect("UTF-8 temp dir")])
    }

    pub fn start_on(port: u16, args: &[&str]) -> TestServer {
        Self::spawn(port, args)
    }

    /// The server's own log is dropped: a drained server logs `server error: DRAINING` for each
    /// put it refuses, which reads like a failure in the test output (and cargo does not
    /// capture a child's output).
    fn spawn(port: u16, args: &[&str]) -> TestServer {
        let child = Command::new("beanstalkd")
            .args(["-l", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    panic!("beanstalkd not found: apt-get install -y beanstalkd");
                }
                panic!("cannot start beanstalkd: {e}");
            });
        let mut server = TestServer {
            child,
            port,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        server.wait_until_accepting();
        server
    }

    fn wait_until_accepting(&mut self) {
        let give_up = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("beanstalkd on port {} exited at start: {status}", self.port);
            }
            assert!(
                Instant::now() < give_up,
                "beanstalkd on port {} did not accept connections within 10 s",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the server (SIGKILL, by PID) and starts it again on the same port with the same
    /// arguments: with a binlog, its jobs come back.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Kills the server (SIGKILL, by PID); `start_again` brings it back on the same port.
    pub fn kill(&mut self) {
        self.stop();
    }

    /// Starts a killed server again on its port with its arguments.
    pub fn start_again(&mut self) {
        let give_up = Instant::now() + Duration::from_secs(10);
        let next = loop {
            // The port can take a moment to be free again.
            if TcpListener::bind(("127.0.0.1", self.port)).is_ok() || Instant::now() > give_up {
                let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
                break TestServer::spawn(self.port, &args);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        *self = next;
    }

    /// Sends a signal by PID (SIGUSR1 puts beanstalkd into drain mode).
    pub fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            ok,
            "could not send SIG{signal} to beanstalkd {}",
            self.pid()
        );
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port nobody listens on now: bind port 0 and let the kernel choose.
pub fn free_port() -> u16 {
    let l = TcpListener::bind(("127.0.0.1", 0)).expect("bind a free loopback port");
    l.local_addr().expect("local address").port()
}
