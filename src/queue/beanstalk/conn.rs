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
        })
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
        let Conn {
            stream,
            decoder,
            chunk,
        } = self;
        let (mut rd, mut wr) = stream.split();
        let write = async {
            wr.write_all(commands).await.map_err(ConnError::Io)?;
            Ok::<(), ConnError>(())
        };
        let read = async {
            let mut out = Vec::with_capacity(replies);
            while out.len() < replies {
                match decoder.next_reply().map_err(ConnError::Protocol)? {
                    Some(r) => out.push(r),
                    None => {
                        let n = rd.read(chunk).await.map_err(ConnError::Io)?;
                        if n == 0 {
                            return Err(ConnError::Closed);
                        }
                        decoder.feed(&chunk[..n]);
                    }
                }
            }
            Ok(out)
        };
        let both = async { tokio::try_join!(write, read).map(|((), r)| r) };
        tokio::time::timeout(timeout, both)
            .await
            .map_err(|_| ConnError::Timeout(timeout))?
    }
}
