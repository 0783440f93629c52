//! moto's S3-compatible server, started for a test: both crates' integration tests include
//! this file with `#[path]`.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// moto's S3 server on a free port, stopped when dropped.
pub struct S3 {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl Drop for S3 {
    fn drop(&mut self) {
        self.stop();
    }
}

impl S3 {
    /// Stops the server (an outage; what it held is gone with it).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts moto.
    pub fn start() -> S3 {
        let port = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let child = Command::new("python3")
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server: `make test` installs moto (pip install 'moto[server]')");
        let s3 = S3 { child, endpoint: format!("http://127.0.0.1:{port}") };
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return s3;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto did not start on {}: is moto[server] installed? (make test installs it)", s3.endpoint);
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
        ]
    }

    /// Uploads with boto3 (moto's own dependency): a client other than reel's.
    pub fn put(&self, bucket: &str, files: &[(&str, &Path)]) {
        let mut script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')\ns3.create_bucket(Bucket='{bucket}')\n",
            self.endpoint
        );
        for (key, path) in files {
            script += &format!("s3.upload_file('{}', '{bucket}', '{key}')\n", path.display());
        }
        self.python(&script);
    }

    /// The keys under `prefix` in `bucket`, listed with boto3.
    pub fn list(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='test', aws_secret_access_key='test', region_name='us-east-1')\nfor page in s3.get_paginator('list_objects_v2').paginate(Bucket='{bucket}', Prefix='{prefix}'):\n    for o in page.get('Contents', []):\n        print(o['Key'])\n",
            self.endpoint
        );
        self.python(&script).lines().map(String::from).collect()
    }

    fn python(&self, script: &str) -> String {
        let o = Command::new("python3").args(["-c", script]).output().expect("python3");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}
