//! A TCP relay on loopback in front of a real server (PostgreSQL), which a test can cut:
//! cut, it drops every open connection and refuses new ones, as an unreachable database
//! would look to herald; restored, it relays again.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct CutRelay {
    /// `host:port` of the relay.
    pub addr: String,
    cut: Arc<AtomicBool>,
    /// Tells open connections to drop.
    drop_all: watch::Sender<u64>,
}

impl CutRelay {
    /// Relays to `target` (`host:port`).
    pub async fn start(target: String) -> CutRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay port");
        let addr = listener.local_addr().expect("relay address").to_string();
        let cut = Arc::new(AtomicBool::new(false));
        let (drop_all, _) = watch::channel(0);
        let relay = CutRelay {
            addr,
            cut: cut.clone(),
            drop_all: drop_all.clone(),
        };
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if cut.load(Ordering::SeqCst) {
                    continue; // dropped at once: connection refused, in effect
                }
                let target = target.clone();
                let mut dropped = drop_all.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = dropped.changed() => {}
                    }
                });
            }
        });
        relay
    }

    /// Drops every connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        self.drop_all.send_modify(|count| *count += 1);
    }

    pub fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}
