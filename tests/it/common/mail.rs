//! Real mail parts for tests: an SMTP server on loopback (aiosmtpd with tests/smtp/sink.py,
//! which keeps every message byte for byte) and GnuPG in a throwaway home directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// An aiosmtpd server on a loopback port; stopped when dropped.
pub struct SmtpSink {
    pub port: u16,
    pub dir: tempfile::TempDir,
    process: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let sink_module = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp");
        let process = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "sink.Sink"])
            .arg(dir.path())
            .env("PYTHONPATH", &sink_module)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot start python3 for the test SMTP server ({error}): install Python 3")
            });
        let mut sink = SmtpSink { port, dir, process };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = sink.process.try_wait() {
                let mut stderr = String::new();
                if let Some(mut pipe) = sink.process.stderr.take() {
                    use std::io::Read;
                    let _ = pipe.read_to_string(&mut stderr);
                }
                panic!(
                    "the test SMTP server (python3 -m aiosmtpd) exited with {status}: {stderr}\n\
                     install aiosmtpd: `apt install python3-aiosmtpd` or `pip install aiosmtpd`"
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the test SMTP server did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sink
    }

    /// `smtp://` URL of this server (plain text: it offers no STARTTLS).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}?tls=none", self.port)
    }

    /// Every accepted message, raw, in arrival order.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .expect("sink dir")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|path| std::fs::read(path).expect("message"))
            .collect()
    }

    /// Answer DATA with `reply` (e.g. "451 4.3.0 try later") until [`SmtpSink::accept`].
    pub fn refuse(&self, reply: &str) {
        std::fs::write(self.dir.path().join("refuse"), reply).expect("refuse file");
    }

    pub fn accept(&self) {
        let _ = std::fs::remove_file(self.dir.path().join("refuse"));
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// GnuPG with a throwaway home that trusts nothing but the keys imported into it.
pub struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    pub fn with_public_key(armored: &str) -> Gpg {
        let home = tempfile::tempdir().expect("temp dir");
        let gpg = Gpg { home };
        let key = gpg.home.path().join("key.asc");
        std::fs::write(&key, armored).expect("key file");
        let output = gpg.run(&["--import".as_ref(), key.as_os_str()]);
        assert!(
            output.status.success(),
            "gpg --import failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        gpg
    }

    /// GnuPG holding a new key pair of its own for `user_id` (Ed25519 signing, Curve25519
    /// encryption, no passphrase), as a downstream would have; returns its armored public
    /// key too.
    pub fn with_new_key(user_id: &str) -> (Gpg, String) {
        let gpg = Gpg {
            home: tempfile::tempdir().expect("temp dir"),
        };
        let output = gpg.run(&[
            "--passphrase".as_ref(),
            "".as_ref(),
            "--quick-generate-key".as_ref(),
            user_id.as_ref(),
            "future-default".as_ref(),
            "default".as_ref(),
            "1y".as_ref(),
        ]);
        assert!(
            output.status.success(),
            "gpg --quick-generate-key failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let output = gpg.run(&["--armor".as_ref(), "--export".as_ref(), user_id.as_ref()]);
        assert!(output.status.success(), "gpg --export failed");
        let public = String::from_utf8(output.stdout).expect("armored key");
        let public = public
            .lines()
            .filter(|line| !line.starts_with("[GNUPG:]"))
            .collect::<Vec<_>>()
            .join("\n");
        (gpg, public)
    }

    /// The fingerprint of the first key this GnuPG holds, as GnuPG writes it (upper-case
    /// hex).
    pub fn fingerprint(&self) -> String {
        let output = self.run(&["--with-colons".as_ref(), "--list-keys".as_ref()]);
        assert!(output.status.success(), "gpg --list-keys failed");
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .find_map(|line| line.strip_prefix("fpr:"))
            .and_then(|rest| rest.split(':').find(|field| !field.is_empty()))
            .expect("a fingerprint")
            .to_owned()
    }

    /// The secret key this GnuPG holds, armored (a key made without a passphrase).
    pub fn export_secret(&self) -> String {
        let output = self.run(&["--armor".as_ref(), "--export-secret-keys".as_ref()]);
        assert!(output.status.success(), "gpg --export-secret-keys failed");
        String::from_utf8(output.stdout)
            .expect("armored key")
            .lines()
            .filter(|line| !line.starts_with("[GNUPG:]"))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `data` encrypted to `recipient` (whose public key is imported first) and, with
    /// `sign`, signed by this GnuPG's key, armored: as a reporter's mail program seals it.
    pub fn seal(&self, recipient: &str, data: &[u8], sign: bool) -> Vec<u8> {
        self.import(recipient);
        let imported = Gpg::with_public_key(recipient).fingerprint();
        let input = self.home.path().join("plain");
        let output_file = self.home.path().join("sealed.asc");
        let _ = std::fs::remove_file(&output_file);
        std::fs::write(&input, data).expect("plaintext file");
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "--armor".as_ref(),
            "--trust-model".as_ref(),
            "always".as_ref(),
            "--recipient".as_ref(),
            imported.as_ref(),
            "--output".as_ref(),
            output_file.as_os_str(),
            "--encrypt".as_ref(),
        ];
        if sign {
            args.push("--sign".as_ref());
        }
        args.push(input.as_os_str());
        let output = self.run(&args);
        assert!(
            output.status.success(),
            "gpg --encrypt failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        std::fs::read(&output_file).expect("sealed file")
    }

    /// `text` cleartext-signed by this GnuPG's key (`gpg --clearsign`).
    pub fn clearsign(&self, text: &str) -> String {
        let input = self.home.path().join("to-clearsign");
        let output_file = self.home.path().join("to-clearsign.asc");
        let _ = std::fs::remove_file(&output_file);
        std::fs::write(&input, text).expect("text file");
        let output = self.run(&[
            "--output".as_ref(),
            output_file.as_os_str(),
            "--clearsign".as_ref(),
            input.as_os_str(),
        ]);
        assert!(output.status.success(), "gpg --clearsign failed");
        std::fs::read_to_string(&output_file).expect("signed file")
    }

    /// An armored detached signature of `data` by this GnuPG's key.
    pub fn sign_detached(&self, data: &[u8]) -> Vec<u8> {
        let input = self.home.path().join("to-sign");
        let output_file = self.home.path().join("to-sign.asc");
        let _ = std::fs::remove_file(&output_file);
        std::fs::write(&input, data).expect("data file");
        let output = self.run(&[
            "--armor".as_ref(),
            "--output".as_ref(),
            output_file.as_os_str(),
            "--detach-sign".as_ref(),
            input.as_os_str(),
        ]);
        assert!(output.status.success(), "gpg --detach-sign failed");
        std::fs::read(&output_file).expect("signature file")
    }

    /// Imports another party's public key (to check their signatures).
    pub fn import(&self, armored: &str) {
        let key = self.home.path().join("import.asc");
        std::fs::write(&key, armored).expect("key file");
        let output = self.run(&["--import".as_ref(), key.as_os_str()]);
        assert!(
            output.status.success(),
            "gpg --import failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `gpg --decrypt` of an armored message: `Ok((plaintext, status lines))` when it
    /// decrypts and carries a good signature of a known key, `Err` with gpg's output when
    /// not.
    pub fn decrypt_verified(&self, message: &[u8]) -> Result<(String, String), String> {
        let file = self.home.path().join("sealed.asc");
        let out = self.home.path().join("opened.txt");
        let _ = std::fs::remove_file(&out);
        std::fs::write(&file, message).expect("message file");
        let output = self.run(&[
            "--output".as_ref(),
            out.as_os_str(),
            "--decrypt".as_ref(),
            file.as_os_str(),
        ]);
        let status = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success()
            && status.contains("[GNUPG:] DECRYPTION_OKAY")
            && status.contains("[GNUPG:] GOODSIG")
        {
            let text = std::fs::read_to_string(&out).expect("decrypted text");
            Ok((text, status))
        } else {
            Err(format!(
                "{status}{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }

    fn run(&self, args: &[&std::ffi::OsStr]) -> Output {
        Command::new("gpg")
            .arg("--homedir")
            .arg(self.home.path())
            .args(["--batch", "--no-tty", "--status-fd", "1"])
            .args(args)
            .output()
            .unwrap_or_else(|error| {
                panic!("cannot run gpg ({error}): install GnuPG (`apt install gnupg`)")
            })
    }

    /// `gpg --verify` of a cleartext-signed text: `Ok` with gpg's status lines when the
    /// signature is good, `Err` with its output when not.
    pub fn verify_cleartext(&self, signed: &[u8]) -> Result<String, String> {
        let file = self.home.path().join("message.asc");
        std::fs::write(&file, signed).expect("message file");
        self.verdict(self.run(&["--verify".as_ref(), file.as_os_str()]))
    }

    /// `gpg --verify SIGNATURE DATA` of a detached signature.
    pub fn verify_detached(&self, signature: &[u8], data: &[u8]) -> Result<String, String> {
        let signature_file = self.home.path().join("signature.asc");
        let data_file = self.home.path().join("data");
        std::fs::write(&signature_file, signature).expect("signature file");
        std::fs::write(&data_file, data).expect("data file");
        self.verdict(self.run(&[
            "--verify".as_ref(),
            signature_file.as_os_str(),
            data_file.as_os_str(),
        ]))
    }

    fn verdict(&self, output: Output) -> Result<String, String> {
        let status = String::from_utf8_lossy(&output.stdout).into_owned();
        if output.status.success() && status.contains("[GNUPG:] GOODSIG") {
            Ok(status)
        } else {
            Err(format!(
                "{status}{}",
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    }
}

/// A received message split into its header block and body.
pub struct Received {
    pub headers: String,
    pub body: Vec<u8>,
}

impl Received {
    pub fn parse(raw: &[u8]) -> Received {
        let split = raw
            .windows(4)
            .position(|window| window == b"\r\n\r\n")
            .expect("a header block ending in CRLF CRLF");
        Received {
            headers: String::from_utf8(raw[..split + 2].to_vec()).expect("ASCII headers"),
            body: raw[split + 4..].to_vec(),
        }
    }

    /// Header lines with their folded continuations joined, as (name, value).
    pub fn header_fields(&self) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in self.headers.split("\r\n").filter(|line| !line.is_empty()) {
            if line.starts_with([' ', '\t']) {
                if let Some(last) = fields.last_mut() {
                    last.1.push_str(line);
                }
            } else {
                let (name, value) = line.split_once(':').expect("a header line has a colon");
                fields.push((name.to_owned(), value.trim().to_owned()));
            }
        }
        fields
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.header_fields()
            .into_iter()
            .find(|(field, _)| field.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    }

    /// Whether the Content-Type is `mime` (its parameters aside).
    pub fn is_of_type(&self, mime: &str) -> bool {
        self.header("Content-Type").is_some_and(|value| {
            value
                .split(';')
                .next()
                .is_some_and(|found| found.trim().eq_ignore_ascii_case(mime))
        })
    }

    /// The MIME boundary named in the Content-Type header.
    pub fn boundary(&self) -> String {
        let content_type = self.header("Content-Type").expect("a Content-Type");
        let start = content_type.find("boundary=\"").expect("a boundary") + "boundary=\"".len();
        let end = content_type[start..].find('"').expect("a quoted boundary");
        content_type[start..start + end].to_owned()
    }

    /// The body parts of a multipart message, byte for byte as transmitted: each part
    /// without the CRLF that belongs to the following boundary line (RFC 2046).
    pub fn parts(&self) -> Vec<Vec<u8>> {
        let delimiter = format!("\r\n--{}", self.boundary()).into_bytes();
        // The first boundary may start the body, with no CRLF in front of it.
        let mut body = b"\r\n".to_vec();
        body.extend_from_slice(&self.body);
        let mut positions = Vec::new();
        let mut at = 0;
        while let Some(found) = body[at..]
            .windows(delimiter.len())
            .position(|window| window == delimiter.as_slice())
        {
            positions.push(at + found);
            at += found + delimiter.len();
        }
        positions
            .windows(2)
            .map(|pair| {
                let start = pair[0] + delimiter.len();
                let line_end = body[start..]
                    .windows(2)
                    .position(|window| window == b"\r\n")
                    .expect("a boundary line ends in CRLF");
                body[start + line_end + 2..pair[1]].to_vec()
            })
            .collect()
    }
}

/// The body of a MIME part (after its headers), quoted-printable decoded when the part
/// says so.
pub fn part_body(part: &[u8]) -> Vec<u8> {
    let received = Received::parse(part);
    decode_body(&received)
}

pub fn decode_body(received: &Received) -> Vec<u8> {
    let encoding = received
        .header("Content-Transfer-Encoding")
        .unwrap_or_default();
    if encoding.eq_ignore_ascii_case("quoted-printable") {
        quoted_printable::decode(&received.body, quoted_printable::ParseMode::Strict)
            .expect("valid quoted-printable")
    } else {
        received.body.clone()
    }
}

/// An encrypted message of herald's (a pre-notification, an acknowledgement) opened by
/// `reader` (`gpg --decrypt`, which also checks
/// herald's signature): inline OpenPGP, or an RFC 3156 `multipart/encrypted` whose second
/// part decrypts to the signed MIME entity. Its text and gpg's status lines.
pub fn open_sealed(reader: &Gpg, received: &Received) -> Result<(String, String), String> {
    if !received.is_of_type("multipart/encrypted") {
        return reader.decrypt_verified(&decode_body(received));
    }
    let content_type = received.header("Content-Type").unwrap_or_default();
    assert!(
        content_type.contains("protocol=\"application/pgp-encrypted\""),
        "{content_type}"
    );
    let parts = received.parts();
    assert_eq!(parts.len(), 2, "a version part and the encrypted part");
    let version = Received::parse(&parts[0]);
    assert!(
        version.is_of_type("application/pgp-encrypted"),
        "{}",
        version.headers
    );
    assert_eq!(String::from_utf8_lossy(&version.body).trim(), "Version: 1");
    let sealed = Received::parse(&parts[1]);
    assert!(
        sealed.is_of_type("application/octet-stream"),
        "{}",
        sealed.headers
    );
    let (entity, status) = reader.decrypt_verified(&decode_body(&sealed))?;
    let entity = Received::parse(entity.as_bytes());
    assert!(entity.is_of_type("text/plain"), "{}", entity.headers);
    let text = String::from_utf8(decode_body(&entity)).expect("UTF-8 text");
    Ok((text, status))
}
