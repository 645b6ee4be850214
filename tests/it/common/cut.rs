//! A TCP relay on loopback in front of a real server (PostgreSQL), which a test can cut or
//! stall: cut, it drops every open connection and refuses new ones, as a stopped database
//! would look to herald; stalled, it drops every open connection and takes new ones but
//! never answers on them, as a database behind a broken network would; restored, it relays
//! again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const RELAYING: u8 = 0;
const CUT: u8 = 1;
const STALLED: u8 = 2;

pub struct CutRelay {
    /// `host:port` of the relay.
    pub addr: String,
    mode: Arc<AtomicU8>,
    /// Tells open connections to drop.
    drop_all: watch::Sender<u64>,
}

impl CutRelay {
    /// Relays to `target` (`host:port`).
    pub async fn start(target: String) -> CutRelay {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay port");
        let addr = listener.local_addr().expect("relay address").to_string();
        let mode = Arc::new(AtomicU8::new(RELAYING));
        let (drop_all, _) = watch::channel(0);
        let relay = CutRelay {
            addr,
            mode: mode.clone(),
            drop_all: drop_all.clone(),
        };
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let mut dropped = drop_all.subscribe();
                match mode.load(Ordering::SeqCst) {
                    CUT => continue, // dropped at once: connection refused, in effect
                    STALLED => {
                        // Held open, silent, until the relay is restored or cut.
                        tokio::spawn(async move {
                            let _ = dropped.changed().await;
                            drop(client);
                        });
                        continue;
                    }
                    _ => {}
                }
                let target = target.clone();
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
        self.switch(CUT);
    }

    /// Drops every connection and takes new ones without ever answering.
    pub fn stall(&self) {
        self.switch(STALLED);
    }

    pub fn restore(&self) {
        self.switch(RELAYING);
    }

    fn switch(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        self.drop_all.send_modify(|count| *count += 1);
    }
}
