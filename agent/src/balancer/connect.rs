//! TCP connections to upstreams that carry the balancer's firewall mark (`SO_MARK`).
//!
//! Marks of locally originated packets survive NAT, so the shaper can put the balancer's
//! own upstream traffic in its own class (with the `llm_share` ceiling) with an `fw` filter.
//! Setting a mark needs CAP_NET_ADMIN (hearth runs as root on a router); without it hearth
//! warns once and connects unmarked rather than failing requests.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpSocket, TcpStream};

/// Connects to `host:port` of a URI, marking the socket.
#[derive(Clone, Debug)]
pub struct MarkedConnector {
    /// The mark; 0 = leave sockets unmarked.
    mark: u32,
    /// Per address tried.
    timeout: Duration,
    /// Set once the kernel refused a mark, so the warning is logged once.
    warned: Arc<AtomicBool>,
}

impl MarkedConnector {
    pub fn new(mark: u32, timeout: Duration) -> Self {
        MarkedConnector {
            mark,
            timeout,
            warned: Arc::new(AtomicBool::new(false)),
        }
    }
}

/// Sets `SO_MARK` on a socket.
pub fn set_mark(socket: &TcpSocket, mark: u32) -> io::Result<()> {
    nix::sys::socket::setsockopt(socket, nix::sys::socket::sockopt::Mark, &mark)
        .map_err(io::Error::from)
}

async fn connect_one(addr: SocketAddr, mark: u32, warned: &AtomicBool) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if mark != 0 {
        if let Err(e) = set_mark(&socket, mark) {
            if !warned.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "balancer: cannot mark upstream connections with {mark:#x} ({e}); LLM traffic will not get its own shaping class (hearth needs CAP_NET_ADMIN)"
                );
            }
        }
    }
    let stream = socket.connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

impl tower_service::Service<Uri> for MarkedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "URL without host"))?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string();
            let port = uri.port_u16().unwrap_or(match uri.scheme_str() {
                Some("https") => 443,
                _ => 80,
            });
            let addrs: Vec<SocketAddr> =
                tokio::time::timeout(this.timeout, tokio::net::lookup_host((host.as_str(), port)))
                    .await
                    .map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("resolving {host} timed out"),
                        )
                    })??
                    .collect();
            let mut last =
                io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
            for addr in addrs {
                match tokio::time::timeout(this.timeout, connect_one(addr, this.mark, &this.warned))
                    .await
                {
                    Ok(Ok(s)) => return Ok(TokioIo::new(s)),
                    Ok(Err(e)) => last = io::Error::new(e.kind(), format!("{addr}: {e}")),
                    Err(_) => {
                        last = io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!("{addr}: connect timed out"),
                        )
                    }
                }
            }
            Err(last)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_service::Service;

    /// The kernel's view of a connected socket's mark.
    fn mark_of(stream: &TcpStream) -> u32 {
        nix::sys::socket::getsockopt(stream, nix::sys::socket::sockopt::Mark).unwrap()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn upstream_sockets_carry_the_mark() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("SKIPPED upstream_sockets_carry_the_mark: setting SO_MARK needs root (CAP_NET_ADMIN)");
            return;
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let uri: Uri = format!("http://127.0.0.1:{port}/v1").parse().unwrap();
        let mut marked = MarkedConnector::new(0x4c00_0000, Duration::from_secs(5));
        let io = marked.call(uri.clone()).await.unwrap();
        assert_eq!(mark_of(io.inner()), 0x4c00_0000);
        let mut plain = MarkedConnector::new(0, Duration::from_secs(5));
        let io = plain.call(uri).await.unwrap();
        assert_eq!(mark_of(io.inner()), 0);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn refused_connections_name_the_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let uri: Uri = format!("http://127.0.0.1:{port}/v1").parse().unwrap();
        let err = MarkedConnector::new(0, Duration::from_secs(5))
            .call(uri)
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains(&format!("127.0.0.1:{port}")),
            "{err}"
        );
    }
}
