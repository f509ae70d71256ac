//! One TCP connection to beanstalkd: sends encoded commands and reads their replies, with a
//! deadline on the whole exchange. It knows nothing about what the commands mean; the client
//! above it does.

use super::codec::{Decoder, ProtocolError, Reply};
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Why an exchange failed. Any of these leaves the connection unusable (a reply may be half
/// read, or still on its way), so the caller drops it.
#[derive(Debug)]
pub enum ConnError {
    Io(io::Error),
    Closed,
    Timeout(Duration),
    Protocol(ProtocolError),
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnError::Io(e) => write!(f, "{e}"),
            ConnError::Closed => write!(f, "the server closed the connection"),
            ConnError::Timeout(d) => write!(f, "no reply within {d:?}"),
            ConnError::Protocol(e) => write!(f, "{e}"),
        }
    }
}

pub struct Conn {
    stream: TcpStream,
    decoder: Decoder,
    chunk: Vec<u8>,
    spin: Spin,
}

impl Conn {
    /// Connects with `TCP_NODELAY`: every command is one write, and waiting for Nagle would
    /// add a delayed-ACK round trip to each one.
    pub async fn open(host: &str, port: u16, timeout: Duration) -> Result<Conn, ConnError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| ConnError::Timeout(timeout))?
            .map_err(ConnError::Io)?;
        stream.set_nodelay(true).map_err(ConnError::Io)?;
        Ok(Conn {
            stream,
            decoder: Decoder::new(),
            chunk: vec![0; 64 * 1024],
            spin: Spin::default(),
        })
    }

    /// Whether the server has closed this connection (or reset it) already, found without
    /// waiting: beanstalkd never speaks unasked, so anything to read before a command is sent
    /// means the connection is over. Lets a caller reconnect before sending, when a failure
    /// would leave unknown which commands were carried out.
    pub fn closed_by_server(&self) -> bool {
        use std::os::fd::AsRawFd;
        let mut byte = 0u8;
        // SAFETY: a one-byte buffer we own, on the stream's own open descriptor; MSG_PEEK
        // leaves the socket as it was.
        let n = unsafe {
            libc::recv(
                self.stream.as_raw_fd(),
                (&raw mut byte).cast(),
                1,
                libc::MSG_PEEK | libc::MSG_DONTWAIT,
            )
        };
        n >= 0 || io::Error::last_os_error().kind() != io::ErrorKind::WouldBlock
    }

    /// Writes `commands` (one or many, already encoded) in one write and reads `replies`
    /// replies, all within `timeout`. Reading runs alongside writing so that a long pipeline
    /// cannot deadlock with both sides' socket buffers full.
    pub async fn exchange(
        &mut self,
        commands: &[u8],
        replies: usize,
        timeout: Duration,
    ) -> Result<Vec<Reply>, ConnError> {
        let mut out = Vec::with_capacity(replies);
        self.exchange_into(commands, replies, timeout, &mut out)
            .await?;
        Ok(out)
    }

    /// [`Conn::exchange`] into `out`, which keeps the replies read before a failure: a
    /// pipeline broken midway still tells which of its first commands were carried out.
    pub async fn exchange_into(
        &mut self,
        commands: &[u8],
        replies: usize,
        timeout: Duration,
        out: &mut Vec<Reply>,
    ) -> Result<(), ConnError> {
        let Conn {
            stream,
            decoder,
            chunk,
            spin,
        } = self;
        let fd = {
            use std::os::fd::AsRawFd;
            stream.as_raw_fd()
        };
        let (mut rd, mut wr) = stream.split();
        let write = async {
            wr.write_all(commands).await.map_err(ConnError::Io)?;
            Ok::<(), ConnError>(())
        };
        let read = async {
            let wanted = out.len() + replies;
            while out.len() < wanted {
                match decoder.next_reply().map_err(ConnError::Protocol)? {
                    Some(r) => out.push(r),
                    None => {
                        let n = match spin.read(fd, chunk) {
                            Some(n) => n,
                            None => rd.read(chunk).await.map_err(ConnError::Io)?,
                        };
                        if n == 0 {
                            return Err(ConnError::Closed);
                        }
                        decoder.feed(&chunk[..n]);
                    }
                }
            }
            Ok(())
        };
        let both = async { tokio::try_join!(write, read).map(|((), ())| ()) };
        tokio::time::timeout(timeout, both)
            .await
            .map_err(|_| ConnError::Timeout(timeout))?
    }
}

/// How long a connection looks for a reply before it sleeps until the runtime wakes it. On
/// loopback or a LAN beanstalkd answers within microseconds, but a thread that sleeps in the
/// poll and is woken pays the wake-up: on an otherwise idle 2-core machine a put took 80 us
/// that way, and 20 us looking for its reply for up to this long (`bench/enqueue_loop.py`:
/// `enqueue()` on beanstalkd went from 130-160 us to 89-100 us). A reply that takes longer (a
/// reserve that waits for a job) costs this much CPU more, once.
const SPIN: Duration = Duration::from_micros(50);

/// Whether to look for replies before sleeping: not while they keep taking longer than
/// [`SPIN`] (a busy machine, whose cores the looking would take from the server and the other
/// processes; an idle worker's reserve, which waits for a job), but again now and then.
#[derive(Default)]
struct Spin {
    misses: u32,
    since_miss: u32,
}

/// Misses in a row after which a connection stops looking; and replies after which it looks
/// again.
const SPIN_MISSES: u32 = 3;
const SPIN_RETRY: u32 = 64;

impl Spin {
    /// The reply, if it comes within [`SPIN`]; None to wait for it in the runtime. Only with
    /// more than one CPU: with one, looking would keep the server from answering.
    fn read(&mut self, fd: std::os::fd::RawFd, chunk: &mut [u8]) -> Option<usize> {
        static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        if *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())) < 2 {
            return None;
        }
        if self.misses >= SPIN_MISSES {
            self.since_miss += 1;
            if self.since_miss < SPIN_RETRY {
                return None;
            }
            self.since_miss = 0;
            self.misses = SPIN_MISSES - 1; // one more try
        }
        let until = std::time::Instant::now() + SPIN;
        loop {
            // SAFETY: a buffer we own, on the stream's own open descriptor; MSG_DONTWAIT never
            // blocks, and an error or the end of the stream is left for the runtime's read.
            let n = unsafe {
                libc::recv(
                    fd,
                    chunk.as_mut_ptr().cast(),
                    chunk.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n > 0 {
                self.misses = 0;
                return Some(n as usize);
            }
            if n == 0 || std::time::Instant::now() > until {
                self.misses += 1;
                return None;
            }
            std::hint::spin_loop();
        }
    }
}
