//! A TCP proxy a test can cut and restore, or throttle: a database "going
//! down" and coming back, or answering at a trickle, without touching the
//! real server other tests share.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// Bytes per second each direction of each connection may carry (0: no limit).
    rate: Arc<AtomicU64>,
}

impl Proxy {
    /// Listens on a free port and forwards to `target` (HOST:PORT).
    pub fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let rate = Arc::new(AtomicU64::new(0));
        let (target, accepting, streams, limit) =
            (target.to_string(), up.clone(), open.clone(), rate.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if !accepting.load(Ordering::SeqCst) {
                    // Down: the connection is refused as a dead server's is.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                let mut held = streams.lock().unwrap();
                held.push(client.try_clone().unwrap());
                held.push(server.try_clone().unwrap());
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    limit.clone(),
                );
                pipe(server, client, limit.clone());
            }
        });
        Proxy {
            port,
            up,
            open,
            rate,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The database goes away: open connections are cut, new ones refused.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for stream in self.open.lock().unwrap().drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// The database is back.
    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// From now on, each direction of each connection carries at most
    /// `bytes_per_second` (0: as fast as it can).
    pub fn throttle(&self, bytes_per_second: u64) {
        self.rate.store(bytes_per_second, Ordering::SeqCst);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream, rate: Arc<AtomicU64>) {
    std::thread::spawn(move || {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            // Throttled, in slices of a twentieth of a second's worth.
            let limit = rate.load(Ordering::Relaxed);
            let slice = match limit {
                0 => buffer.len(),
                l => (l as usize / 20).clamp(1, buffer.len()),
            };
            match from.read(&mut buffer[..slice]) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buffer[..n]).is_err() {
                        break;
                    }
                    if limit > 0 {
                        std::thread::sleep(Duration::from_secs_f64(n as f64 / limit as f64));
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}
