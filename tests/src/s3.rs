//! A real S3 API for the tests: moto's server (in memory), from the venv
//! scripts/setup-s3 installs, on a free port for each test; and boto3, an
//! S3 client independent of weir's, to put objects and read them back. If
//! the server cannot start the test fails and says why; nothing is skipped.

use crate::kafka::free_port;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn venv_bin(name: &str) -> PathBuf {
    let bin = crate::root().join("target/s3-venv/bin").join(name);
    assert!(
        bin.exists(),
        "{} is missing: scripts/test installs it (or run scripts/setup-s3)",
        bin.display()
    );
    bin
}

/// An S3 server, stopped when dropped.
pub struct S3 {
    child: Child,
    pub port: u16,
}

/// boto3's side of every call: the endpoint and moto's test credentials.
const CLIENT: &str = r#"
import sys, boto3, json, base64
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="test", aws_secret_access_key="test")
"#;

impl S3 {
    pub fn start() -> S3 {
        S3::start_with(&[])
    }

    /// A server that checks credentials as S3 does (moto's IAM checks,
    /// after three unchecked requests that make a user, its key and its
    /// policy); returns the key and secret that are accepted.
    pub fn start_checking_credentials() -> (S3, String, String) {
        let s3 = S3::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
        let out = s3.python(
            "iam = boto3.client('iam', endpoint_url=sys.argv[1], region_name='us-east-1', \
                                aws_access_key_id='x', aws_secret_access_key='x')\n\
             iam.create_user(UserName='weir')\n\
             k = iam.create_access_key(UserName='weir')['AccessKey']\n\
             iam.put_user_policy(UserName='weir', PolicyName='all', PolicyDocument=json.dumps(\
                 {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': '*', 'Resource': '*'}]}))\n\
             print(k['AccessKeyId'], k['SecretAccessKey'])",
            &[],
        );
        let text = String::from_utf8(out).unwrap();
        let (key, secret) = text.trim().split_once(' ').expect("a key and a secret");
        (s3, key.to_string(), secret.to_string())
    }

    fn start_with(env: &[(&str, &str)]) -> S3 {
        let port = free_port();
        let child = Command::new(venv_bin("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server: {e}"));
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto_server did not listen on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        S3 { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A pipeline's `[storage]` table for this server (short timeouts, so
    /// an outage shows in seconds).
    pub fn storage_toml(&self) -> String {
        format!(
            "[storage]\nendpoint = \"{}\"\nallow_http = true\nregion = \"us-east-1\"\n\
             access_key_id = \"test\"\nsecret_access_key = \"test\"\ntimeout = \"3s\"\nconnect_timeout = \"1s\"\n",
            self.endpoint()
        )
    }

    /// Runs `script` with boto3's client `s3`; `args` are `sys.argv[2:]`.
    fn python(&self, script: &str, args: &[&str]) -> Vec<u8> {
        let output = Command::new(venv_bin("python"))
            .arg("-c")
            .arg(format!("{CLIENT}{script}"))
            .arg(self.endpoint())
            .args(args)
            .output()
            .expect("run boto3");
        assert!(
            output.status.success(),
            "boto3 {script} {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    pub fn create_bucket(&self, bucket: &str) {
        self.python("s3.create_bucket(Bucket=sys.argv[2])", &[bucket]);
    }

    pub fn put(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        self.python(
            "s3.upload_file(sys.argv[4], sys.argv[2], sys.argv[3])",
            &[bucket, key, &file.path().display().to_string()],
        );
    }

    /// The keys under `prefix`, in order.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let out = self.python(
            "p = s3.get_paginator('list_objects_v2')\n\
             keys = [o['Key'] for page in p.paginate(Bucket=sys.argv[2], Prefix=sys.argv[3]) for o in page.get('Contents', [])]\n\
             print(json.dumps(sorted(keys)))",
            &[bucket, prefix],
        );
        serde_json::from_slice(&out).expect("a JSON list of keys")
    }

    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        self.python(
            "sys.stdout.buffer.write(s3.get_object(Bucket=sys.argv[2], Key=sys.argv[3])['Body'].read())",
            &[bucket, key],
        )
    }

    /// Downloads every object under `prefix` into `dir`, each named by its
    /// key with `/` as `_`; returns how many.
    pub fn download(&self, bucket: &str, prefix: &str, dir: &std::path::Path) -> usize {
        let out = self.python(
            "import os\n\
             p = s3.get_paginator('list_objects_v2')\n\
             keys = [o['Key'] for page in p.paginate(Bucket=sys.argv[2], Prefix=sys.argv[3]) for o in page.get('Contents', [])]\n\
             for k in keys: s3.download_file(sys.argv[2], k, os.path.join(sys.argv[4], k.replace('/', '_')))\n\
             print(len(keys))",
            &[bucket, prefix, &dir.display().to_string()],
        );
        String::from_utf8_lossy(&out).trim().parse().unwrap()
    }

    /// Multipart uploads begun and neither completed nor aborted.
    pub fn unfinished_uploads(&self, bucket: &str) -> usize {
        let out = self.python(
            "print(len(s3.list_multipart_uploads(Bucket=sys.argv[2]).get('Uploads', [])))",
            &[bucket],
        );
        String::from_utf8_lossy(&out).trim().parse().unwrap()
    }

    /// Freezes the server (SIGSTOP): requests hang as on a lost network.
    pub fn pause(&self) {
        signal(self.child.id(), "STOP");
    }

    pub fn resume(&self) {
        signal(self.child.id(), "CONT");
    }
}

fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -{name} {pid} failed");
}

impl Drop for S3 {
    fn drop(&mut self) {
        signal(self.child.id(), "CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
