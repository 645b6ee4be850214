//! Serving HTTP/1.1 connections with bounds a sender cannot lift: at most
//! [`MAX_CONNECTIONS`] at once (more wait in the listen backlog), each reading into at most
//! [`READ_BUFFER_BYTES`] (longer headers are refused with 431), and a connection that
//! does not send a request's headers within [`HEADER_READ_TIMEOUT`] (a stalled request,
//! or an idle keep-alive) is closed.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 1024;
/// The most a connection's read buffer holds: GitHub's headers take about 2 KB; hyper's
/// default (about 400 KB) would let a thousand unfinished header lines hold 400 MB.
pub const READ_BUFFER_BYTES: usize = 16 * 1024;
/// How long a connection may take to send a request's headers, or stay idle between
/// requests.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a stop waits for requests under way (each bounded by its own timeouts).
const DRAIN: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` until `shutdown` turns true, then lets the requests under way
/// finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(READ_BUFFER_BYTES);
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener, &slots) => accepted,
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let Some((stream, peer, slot)) = accepted else {
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            // A connection's own failure (reset, timeout, garbage) concerns it alone.
            let _ = connection.await;
            drop(slot);
        });
    }
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still under way after {} s: stopping anyway",
            DRAIN.as_secs()
        );
    }
    Ok(())
}

/// The next connection, once a slot is free; `None` when accepting failed (a connection
/// reset before it was taken, or too many open files: then after a pause).
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> Option<(
    tokio::net::TcpStream,
    SocketAddr,
    tokio::sync::OwnedSemaphorePermit,
)> {
    let slot = slots.clone().acquire_owned().await.ok()?;
    match listener.accept().await {
        Ok((stream, peer)) => {
            let _ = stream.set_nodelay(true);
            Some((stream, peer, slot))
        }
        Err(error) => {
            tracing::warn!(%error, "cannot accept a connection");
            tokio::time::sleep(Duration::from_millis(100)).await;
            None
        }
    }
}
