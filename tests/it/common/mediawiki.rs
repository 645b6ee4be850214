//! A real MediaWiki on loopback: Debian's `mediawiki` package, installed into a throwaway
//! SQLite database by its own `install.php`, served by `php -S` with `MW_CONFIG_FILE`
//! pointing at the throwaway settings; a bot user with a bot password, as projects give
//! herald. `.ci/run` installs the packages (mediawiki, php-cli, php-sqlite3, …).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MEDIAWIKI: &str = "/usr/share/mediawiki";

pub struct MediaWiki {
    pub api_url: String,
    pub username: String,
    pub password: String,
    /// The wiki's files, removed with it.
    _dir: tempfile::TempDir,
    server: Child,
}

fn php(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("php")
        .args(args)
        .env("MW_CONFIG_FILE", dir.join("LocalSettings.php"))
        .output()
        .unwrap_or_else(|error| {
            panic!("cannot run php ({error}): install php-cli and mediawiki (`apt install mediawiki php-cli php-sqlite3`)")
        });
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "php {args:?}: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    text
}

impl MediaWiki {
    pub fn start() -> MediaWiki {
        assert!(
            Path::new(MEDIAWIKI)
                .join("maintenance/install.php")
                .exists(),
            "MediaWiki is not installed at {MEDIAWIKI}: `apt install mediawiki php-cli php-sqlite3 php-intl php-mbstring php-xml`"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let server_url = format!("http://127.0.0.1:{port}");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data folder");
        let install = format!("{MEDIAWIKI}/maintenance/install.php");
        php(
            dir.path(),
            &[
                &install,
                "--dbtype",
                "sqlite",
                "--dbpath",
                &data.to_string_lossy(),
                "--dbname",
                "wiki",
                "--server",
                &server_url,
                "--scriptpath",
                "",
                "--confpath",
                &dir.path().to_string_lossy(),
                "--pass",
                "Adm1n-Passw0rd-for-tests",
                "Test Wiki",
                "Admin",
            ],
        );
        let conf = dir.path().join("LocalSettings.php");
        let conf = conf.to_string_lossy();
        php(
            dir.path(),
            &[
                &format!("{MEDIAWIKI}/maintenance/createAndPromote.php"),
                "--conf",
                &conf,
                "--bot",
                "--force",
                "Admin",
            ],
        );
        let created = php(
            dir.path(),
            &[
                &format!("{MEDIAWIKI}/maintenance/createBotPassword.php"),
                "--conf",
                &conf,
                "--appid",
                "herald",
                "--grants",
                "basic,editpage,createeditmovepage,highvolume",
                "Admin",
            ],
        );
        let password = created
            .split("password:'")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .unwrap_or_else(|| panic!("no bot password in: {created}"))
            .to_owned();
        let server = Command::new("php")
            .args(["-S", &format!("127.0.0.1:{port}"), "-t", MEDIAWIKI])
            .env("MW_CONFIG_FILE", dir.path().join("LocalSettings.php"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("php -S starts");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "php -S did not listen"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        MediaWiki {
            api_url: format!("{server_url}/api.php"),
            username: "Admin@herald".to_owned(),
            password,
            _dir: dir,
            server,
        }
    }

    /// A page's current wikitext and its number of revisions; `None` when it does not exist.
    pub async fn page(&self, title: &str) -> Option<(String, usize)> {
        let answer: serde_json::Value = super::http_client()
            .get(&self.api_url)
            .query(&[
                ("action", "query"),
                ("prop", "revisions"),
                ("rvprop", "content"),
                ("rvslots", "main"),
                ("rvlimit", "50"),
                ("titles", title),
                ("format", "json"),
                ("formatversion", "2"),
            ])
            .send()
            .await
            .expect("MediaWiki answers")
            .json()
            .await
            .expect("JSON");
        let page = &answer["query"]["pages"][0];
        let revisions = page["revisions"].as_array()?;
        let text = revisions[0]["slots"]["main"]["content"]
            .as_str()?
            .to_owned();
        Some((text, revisions.len()))
    }
}

impl Drop for MediaWiki {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}
