//! A real IMAP server on loopback: Dovecot (Debian's `dovecot-imapd`), with one mailbox
//! whose Maildir the test delivers into, as a mail server would.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const USER: &str = "security";
pub const PASSWORD: &str = "a-mailbox-password-that-must-never-be-logged";

pub struct Dovecot {
    dir: tempfile::TempDir,
    port: u16,
    process: Child,
    delivered: std::sync::atomic::AtomicU32,
}

/// Who the mail processes run as: `nobody` when the tests run as root (Dovecot refuses
/// root for mail), else the user running them.
fn mail_user() -> (String, u32, u32) {
    let id = |flag: &str| -> String {
        let output = Command::new("id").arg(flag).output().expect("id runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    };
    let uid: u32 = id("-u").parse().expect("a uid");
    if uid == 0 {
        ("nobody".to_owned(), 65534, 65534)
    } else {
        (id("-un"), uid, id("-g").parse().expect("a gid"))
    }
}

fn config(dir: &Path, port: u16) -> String {
    let (user, uid, gid) = mail_user();
    let root = dir.display();
    let unprivileged = if uid == 65534 {
        String::new()
    } else {
        format!(
            "default_internal_user = {user}\ndefault_login_user = {user}\n\
             default_internal_group = {user}\n"
        )
    };
    format!(
        "base_dir = {root}/run\nstate_dir = {root}/state\nlog_path = {root}/dovecot.log\n\
         instance_name = herald-test-{port}\nprotocols = imap\nlisten = 127.0.0.1\nssl = no\n\
         disable_plaintext_auth = no\nauth_mechanisms = plain login\nfirst_valid_uid = 1\n\
         {unprivileged}\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {root}/passwd\n}}\n\
         userdb {{\n  driver = static\n  args = uid={uid} gid={gid} home={root}/mail/%u\n}}\n\
         mail_location = maildir:~/Maildir\n\
         service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
         service anvil {{\n  chroot =\n}}\n"
    )
}

impl Dovecot {
    pub fn start() -> Dovecot {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let root = dir.path();
        for sub in [
            "run",
            "state",
            "mail/security/Maildir/new",
            "mail/security/Maildir/cur",
            "mail/security/Maildir/tmp",
        ] {
            std::fs::create_dir_all(root.join(sub)).expect("a folder");
        }
        std::fs::write(root.join("passwd"), format!("{USER}:{{PLAIN}}{PASSWORD}\n"))
            .expect("passwd");
        std::fs::write(root.join("dovecot.conf"), config(root, port)).expect("config");
        let (_, uid, gid) = mail_user();
        let chown = Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(root.join("mail"))
            .status()
            .expect("chown runs");
        assert!(chown.success(), "cannot give the mailbox to uid {uid}");
        // Dovecot's processes must reach the folder.
        let _ = Command::new("chmod").arg("755").arg(root).status();
        let process = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(root.join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("cannot run dovecot ({error}): install it (`apt install dovecot-imapd`)")
            });
        let dovecot = Dovecot {
            dir,
            port,
            process,
            delivered: std::sync::atomic::AtomicU32::new(0),
        };
        dovecot.wait_until_listening();
        dovecot
    }

    fn wait_until_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "dovecot did not listen: {}",
                std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The mailbox's URL for herald.
    pub fn url(&self) -> String {
        format!("imap://{USER}:{PASSWORD}@127.0.0.1:{}/INBOX", self.port)
    }

    fn maildir(&self) -> PathBuf {
        self.dir.path().join("mail/security/Maildir")
    }

    /// Delivers `message` into the mailbox, as a mail server does (Maildir: written to
    /// `tmp/`, then moved to `new/`).
    pub fn deliver(&self, message: &[u8]) {
        let number = self
            .delivered
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1;
        let name = format!("{}.M{number}P1.herald-test", 1_800_000_000 + number);
        let tmp = self.maildir().join("tmp").join(&name);
        std::fs::write(&tmp, message).expect("a message file");
        std::fs::rename(&tmp, self.maildir().join("new").join(&name)).expect("delivered");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.process.id().to_string())
            .status();
        let _ = self.process.wait();
    }
}

/// A fake IMAP server on loopback, for what a real one does not do on demand: it offers
/// no IDLE, holds `messages` by UID (UIDVALIDITY 7), and answers `NO` to every fetch of a
/// UID whose message is `None`, as a server does for a message it cannot give.
pub struct FakeImap {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl FakeImap {
    pub async fn start(messages: Vec<(u32, Option<Vec<u8>>)>) -> FakeImap {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let port = listener.local_addr().expect("an address").port();
        let messages = std::sync::Arc::new(messages);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(answer(stream, messages.clone()));
            }
        });
        FakeImap { port, task }
    }

    pub fn url(&self) -> String {
        format!("imap://{USER}:{PASSWORD}@127.0.0.1:{}/INBOX", self.port)
    }
}

impl Drop for FakeImap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection: the few commands herald sends, answered as RFC 9051 shapes them.
async fn answer(
    stream: tokio::net::TcpStream,
    messages: std::sync::Arc<Vec<(u32, Option<Vec<u8>>)>>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"* OK fake IMAP ready\r\n").await;
    while let Ok(Some(line)) = lines.next_line().await {
        let mut words = line.splitn(3, ' ');
        let (tag, command, rest) = (
            words.next().unwrap_or_default(),
            words.next().unwrap_or_default().to_ascii_uppercase(),
            words.next().unwrap_or_default(),
        );
        let reply: Vec<u8> = match command.as_str() {
            "CAPABILITY" => format!("* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n").into_bytes(),
            "SELECT" => format!(
                "* {} EXISTS\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT {}] ok\r\n{tag} OK [READ-WRITE] done\r\n",
                messages.len(),
                messages.len() + 1
            )
            .into_bytes(),
            "UID" => uid_command(tag, rest, &messages),
            "LOGOUT" => format!("* BYE\r\n{tag} OK done\r\n").into_bytes(),
            _ => format!("{tag} OK done\r\n").into_bytes(),
        };
        if write.write_all(&reply).await.is_err() {
            return;
        }
    }
}

fn uid_command(tag: &str, rest: &str, messages: &[(u32, Option<Vec<u8>>)]) -> Vec<u8> {
    let mut words = rest.split_whitespace();
    match (
        words.next().map(str::to_ascii_uppercase).as_deref(),
        words.next(),
    ) {
        (Some("SEARCH"), _) => {
            let from: u32 = rest
                .rsplit(' ')
                .next()
                .and_then(|range| range.split(':').next())
                .and_then(|first| first.parse().ok())
                .unwrap_or(1);
            let uids: Vec<String> = messages
                .iter()
                .filter(|(uid, _)| *uid >= from)
                .map(|(uid, _)| uid.to_string())
                .collect();
            format!("* SEARCH {}\r\n{tag} OK done\r\n", uids.join(" ")).into_bytes()
        }
        (Some("FETCH"), Some(uid)) => {
            let uid: u32 = uid.parse().unwrap_or(0);
            let found = messages.iter().find(|(known, _)| *known == uid);
            let Some((_, Some(body))) = found else {
                return format!("{tag} NO [SERVERBUG] cannot give that message\r\n").into_bytes();
            };
            let mut reply = if rest.contains("BODY.PEEK[]") {
                let (origin, part) = partial(rest, body);
                let mut reply =
                    format!("* 1 FETCH (UID {uid} BODY[]{origin} {{{}}}\r\n", part.len())
                        .into_bytes();
                reply.extend_from_slice(part);
                reply.extend_from_slice(b")\r\n");
                reply
            } else {
                format!("* 1 FETCH (UID {uid} RFC822.SIZE {})\r\n", body.len()).into_bytes()
            };
            reply.extend_from_slice(format!("{tag} OK done\r\n").as_bytes());
            reply
        }
        _ => format!("{tag} BAD unknown\r\n").into_bytes(),
    }
}

/// The part of `body` a `BODY.PEEK[]<offset.length>` asks for (RFC 3501 6.4.5: past the end
/// it is empty), and how the answer names it (`<offset>`); the whole body when no part is.
fn partial<'a>(request: &str, body: &'a [u8]) -> (String, &'a [u8]) {
    let asked = request
        .split_once("BODY.PEEK[]<")
        .and_then(|(_, rest)| rest.split_once('>'))
        .and_then(|(range, _)| range.split_once('.'))
        .and_then(|(offset, length)| {
            Some((offset.parse::<usize>().ok()?, length.parse::<usize>().ok()?))
        });
    match asked {
        Some((offset, length)) => {
            let start = offset.min(body.len());
            let end = offset.saturating_add(length).min(body.len());
            (format!("<{offset}>"), &body[start..end])
        }
        None => (String::new(), body),
    }
}
