//! Kafka behind TLS for the security tests: a plain Tansu advertising the
//! port of a socat TLS terminator in front of it, so that metadata sends
//! clients back through TLS. Tansu 0.6.0's own `tls://` listener cannot be
//! used: it ignores `--cert` and speaks plain Kafka on that port (librdkafka
//! then fails its handshake with "early eof"). The certificates are the ones
//! scripts/setup-kafka makes in target/kafka-tls/.

use crate::kafka::{Broker, free_port};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A file of the test PKI: `ca.pem`, `other-ca.pem`, `server.cert`,
/// `client.cert`, `client.key`, ...
pub fn tls_file(name: &str) -> PathBuf {
    let path = crate::root().join("target/kafka-tls").join(name);
    assert!(
        path.exists(),
        "{} is missing: scripts/test makes it (or run scripts/setup-kafka)",
        path.display()
    );
    path
}

/// A TLS terminator (socat) forwarding to `127.0.0.1:target`; with
/// `mutual`, clients must present a certificate signed by the test CA.
/// Stopped when dropped.
pub struct Terminator {
    child: Child,
    pub port: u16,
}

impl Terminator {
    pub fn start(port: u16, target: u16, mutual: bool) -> Terminator {
        let listen = format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,cert={},cafile={},verify={}",
            tls_file("server.pem").display(),
            tls_file("ca.pem").display(),
            u8::from(mutual)
        );
        let child = Command::new("socat")
            .args([listen.as_str(), &format!("TCP:127.0.0.1:{target}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start socat (scripts/setup-kafka installs it): {e}")
            });
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "socat did not listen on 127.0.0.1:{port} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Terminator { child, port }
    }
}

impl Drop for Terminator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A broker reached only through TLS (or mutual TLS). Its `broker`'s own
/// producer and consumer go through TLS too; topics are created on the
/// plain port, which only the test knows.
pub struct TlsBroker {
    pub broker: Broker,
    _terminator: Terminator,
}

impl TlsBroker {
    pub fn start(mutual: bool) -> TlsBroker {
        let (plain, tls) = (free_port(), free_port());
        let terminator = Terminator::start(tls, plain, mutual);
        let mut broker = Broker::start_advertising(plain, tls);
        broker.client = ssl_properties(mutual)
            .into_iter()
            .chain([("bootstrap.servers".to_string(), format!("127.0.0.1:{tls}"))])
            .collect();
        TlsBroker {
            broker,
            _terminator: terminator,
        }
    }

    /// `host:port` of the TLS listener, for `brokers =`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self._terminator.port)
    }
}

/// The students seed's properties: `security.protocol=SSL` and the CA; with
/// `client_certificate`, the client's certificate and key as well.
pub fn ssl_properties(client_certificate: bool) -> Vec<(String, String)> {
    let mut properties = vec![
        ("security.protocol", "SSL".to_string()),
        ("ssl.ca.location", tls_file("ca.pem").display().to_string()),
    ];
    if client_certificate {
        properties.push((
            "ssl.certificate.location",
            tls_file("client.cert").display().to_string(),
        ));
        properties.push((
            "ssl.key.location",
            tls_file("client.key").display().to_string(),
        ));
    }
    properties
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// A Tansu that requires SASL (`--authentication`). Its memory engine
/// keeps no users, and `tansu user create` must itself log in first, so no
/// login can succeed on it: the tests can only see logins refused.
pub fn start_sasl_broker() -> (std::process::Child, u16) {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(crate::kafka::tansu_bin())
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "memory://tansu/",
            "--authentication",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("Tansu starts");
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "Tansu did not listen within 15 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}
