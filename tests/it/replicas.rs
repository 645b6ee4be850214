//! Replicas of `herald serve` on one PostgreSQL: they share the work and GitHub's budget,
//! survive a killed one, and are restarted one by one under load without losing or
//! repeating anything.

use crate::common::app::{
    APP_ID, READY_WITHIN, REPO, TRACK_PRIVATELY, TRACKING_REPO, answers_ping, assert_no_unexpected,
    free_address, numbered_report, post_to, private_key, world,
};
use crate::common::github::FakeGitHub;
use crate::common::{self, fixture};
use std::time::Duration;

/// The replicas' write budget for their one installation: 100 a second, shared.
const REPLICAS_WRITE_BUDGET: &str = "100/1";

/// One `herald serve` replica, a child process.
struct Replica {
    port: u16,
    child: common::Spawned,
}

impl Replica {
    /// A replica on `database` and the fake GitHub, listening on `port`.
    fn start(fake: &FakeGitHub, database: &str, port: u16, log: &std::path::Path) -> Replica {
        Replica::start_as(fake, database, port, log, |_| {})
    }

    /// [`Replica::start`], its environment changed by `adjust` first.
    fn start_as(
        fake: &FakeGitHub,
        database: &str,
        port: u16,
        log: &std::path::Path,
        adjust: impl FnOnce(&mut std::process::Command),
    ) -> Replica {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_herald"));
        adjust(&mut command);
        let child = command
            .arg("serve")
            .env("HERALD_DATABASE_URL", database)
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_WEBHOOK_SECRET", common::SECRET)
            .env("HERALD_GITHUB_API_URL", &fake.url)
            .env("HERALD_GITHUB_APP_ID", APP_ID.to_string())
            .env("HERALD_GITHUB_PRIVATE_KEY", private_key())
            .env("HERALD_POLL_INTERVAL_SECS", "3600")
            // One budget for the three, small enough that they must share it.
            .env("HERALD_GITHUB_WRITE_INTERVAL_MS", "0")
            .env("HERALD_GITHUB_WRITE_BUDGETS", REPLICAS_WRITE_BUDGET)
            .env("HERALD_WORKER_POLL_INTERVAL_MS", "50")
            .env("HERALD_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(log).expect("log file"))
            .spawn()
            .expect("herald serve starts");
        Replica {
            port,
            child: common::Spawned(child),
        }
    }

    fn kill(&mut self) {
        // SIGKILL: no shutdown, leases held, answers lost.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The count `sql` answers on the replicas' store.
async fn count(pool: &sqlx::AnyPool, sql: &'static str) -> i64 {
    sqlx::query_scalar::<_, i64>(sql)
        .fetch_one(pool)
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
}

/// Waits up to a minute for every job but the reminders to be done, and fails naming the
/// jobs left if they are not.
async fn all_jobs_done(pool: &sqlx::AnyPool) {
    let mut settled = false;
    for _ in 0..600 {
        let left = count(
            pool,
            "SELECT COUNT(*) FROM outbox WHERE state <> 'done' AND kind <> 'escalate'",
        )
        .await;
        if left == 0 {
            settled = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stuck: Vec<(String, String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT kind, state, last_error, locked_by FROM outbox \
         WHERE state <> 'done' AND kind <> 'escalate'",
    )
    .fetch_all(pool)
    .await
    .expect("stuck jobs");
    assert!(settled, "jobs left: {stuck:?}");
}

/// How many tracking issues there are, and how many different titles they have.
fn tracking_issues_and_titles(fake: &FakeGitHub) -> (usize, usize) {
    let issues = fake.issues(TRACKING_REPO);
    let mut titles: Vec<&str> = issues.iter().map(|issue| issue.title.as_str()).collect();
    titles.sort_unstable();
    titles.dedup();
    (issues.len(), titles.len())
}

/// Three replicas on one PostgreSQL: 200 reports round-robin, each redelivered to another
/// replica, one replica killed half-way (its leases left behind) and restarted. Each
/// advisory gets exactly one incident and one tracking issue, every job is done once, and
/// the reconciler polls the repository once between the three.
#[tokio::test]
async fn three_replicas_on_postgresql_share_the_work_and_survive_a_killed_one() {
    const ADVISORIES: usize = 200;
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let database = common::postgres_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let log = |name: &str| dir.path().join(format!("replica-{name}.log"));
    let mut replicas: Vec<Replica> = (0..3)
        .map(|index| {
            let port = free_address().port();
            Replica::start(&fake, &database, port, &log(&index.to_string()))
        })
        .collect();
    for replica in &replicas {
        let up = answers_ping(replica.port, "ping").await;
        assert!(up, "replica on port {} did not come up", replica.port);
    }
    let store = herald::store::Store::open(&database).await.expect("store");
    let pool = common::any_pool(&database).await;
    let ports: Vec<u16> = replicas.iter().map(|replica| replica.port).collect();
    let installation = fixture("installation.created.0.json");
    assert_eq!(
        post_to(ports[0], "installation", "install-1", &installation).await,
        Some(202)
    );
    for number in 0..ADVISORIES {
        if number == ADVISORIES / 2 {
            replicas[2].kill();
        }
        if number == ADVISORIES / 2 + 20 {
            replicas[2] = Replica::start(&fake, &database, ports[2], &log("2-again"));
        }
        let id = format!("report-{number}");
        let first = deliver_from(&ports, number % 3, &id, &numbered_report(number)).await;
        assert_eq!(first, 202, "{id}");
        let again = deliver_from(&ports, (number + 1) % 3, &id, &numbered_report(number)).await;
        assert_eq!(again, 200, "{id} redelivered is a duplicate");
    }
    the_killed_replicas_leases_end(&pool).await;
    all_jobs_done(&pool).await;
    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM incidents").await,
        ADVISORIES as i64,
        "one incident per advisory"
    );
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM deliveries WHERE delivery_id LIKE 'report-%'"
        )
        .await,
        ADVISORIES as i64
    );
    // The three kept within one budget (measured over 0.9 s: a request may arrive up to a
    // tenth of the window after its slot on this loaded machine, and the pacer allows for it).
    let most = fake.most_writes_within(Duration::from_millis(900));
    assert!(
        most <= 100,
        "{most} writes within 0.9 s, over the shared budget of 100 a second"
    );
    let (issues, titles) = tracking_issues_and_titles(&fake);
    assert_eq!(issues, ADVISORIES, "one tracking issue per advisory");
    assert_eq!(titles, ADVISORIES, "no advisory has two");
    assert_eq!(
        fake.count("GET", &format!("/repos/{REPO}/security-advisories")),
        1,
        "the reconciler polled the repository once between the replicas"
    );
    assert_no_unexpected(&fake);
    store.close().await;
    for replica in &mut replicas {
        replica.kill();
    }
}

/// Delivers the report `id` to the replica at `ports[start]`, else (down) the next one, as
/// GitHub's redelivery would reach another replica behind the load balancer; its status.
async fn deliver_from(ports: &[u16], start: usize, id: &str, body: &[u8]) -> u16 {
    for offset in 0..3 {
        let port = ports[(start + offset) % 3];
        if let Some(status) = post_to(port, "repository_advisory", id, body).await {
            return status;
        }
    }
    panic!("no replica answered {id}");
}

/// Once the live replicas have nothing left to pick up, the jobs still leased are the
/// killed replica's (a live one finishes a job in milliseconds and renews its lease while
/// it runs). Their leases end, as after their minute, and the others take over.
async fn the_killed_replicas_leases_end(pool: &sqlx::AnyPool) {
    let unleased = "SELECT COUNT(*) FROM outbox WHERE state = 'pending' AND kind <> 'escalate' \
                    AND locked_until IS NULL AND run_after <= $1";
    let mut quiet_checks = 0;
    for _ in 0..600 {
        let waiting: i64 = sqlx::query_scalar(unleased)
            .bind(chrono::Utc::now().timestamp_millis())
            .fetch_one(pool)
            .await
            .expect("unleased jobs");
        if waiting == 0 {
            quiet_checks += 1;
            if quiet_checks == 10 {
                break;
            }
        } else {
            quiet_checks = 0;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    sqlx::query(
        "UPDATE outbox SET locked_until = 0 WHERE state = 'pending' AND locked_until IS NOT NULL",
    )
    .execute(pool)
    .await
    .expect("leases end");
}

/// The replica on `port`'s answer to `GET /readyz`, `None` when it is not there.
async fn readiness(port: u16) -> Option<u16> {
    common::http_client()
        .get(format!("http://127.0.0.1:{port}/readyz"))
        .timeout(READY_WITHIN)
        .send()
        .await
        .ok()
        .map(|response| response.status().as_u16())
}

/// Sends SIGTERM to a replica, as an orchestrator stopping it does.
fn terminate(replica: &Replica) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &replica.child.id().to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success(), "SIGTERM sent");
}

/// One replica of the rolling restart, named for its leases.
fn start_replica(
    fake: &FakeGitHub,
    database: &str,
    port: u16,
    index: usize,
    generation: usize,
    dir: &std::path::Path,
) -> Replica {
    let log = dir.join(format!("replica-{index}-{generation}.log"));
    Replica::start_as(fake, database, port, &log, |command| {
        command
            .env("HERALD_REPLICA_ID", format!("replica-{index}"))
            .env("HERALD_DRAIN_SECS", "1");
    })
}

/// Three replicas on one PostgreSQL, under a steady load of reports sent round-robin (a
/// load balancer: a replica that refuses the connection or answers 503 is skipped),
/// restarted one after the other with SIGTERM. Each stopping replica says 503 on `/readyz`
/// while it still answers, exits cleanly, and leaves no lease or poll claim behind. No
/// delivery is lost, none is processed twice, and no job waits long.
#[tokio::test]
async fn a_rolling_restart_of_three_replicas_under_load_loses_nothing() {
    const REPORTS: usize = 120;
    let fake = world().await;
    fake.put_file(REPO, ".github/herald.yml", TRACK_PRIVATELY);
    let database = common::postgres_database().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ports: Vec<u16> = (0..3).map(|_| free_address().port()).collect();
    let mut replicas: Vec<Replica> = (0..3)
        .map(|index| start_replica(&fake, &database, ports[index], index, 0, dir.path()))
        .collect();
    for port in &ports {
        until_ready(*port).await;
    }
    let installation = fixture("installation.created.0.json");
    assert_eq!(
        post_to(ports[0], "installation", "install-1", &installation).await,
        Some(202)
    );
    let load = tokio::spawn(reports_through_a_load_balancer(ports.clone(), REPORTS));
    let pool = common::any_pool(&database).await;
    for index in 0..3 {
        tokio::time::sleep(Duration::from_millis(700)).await;
        terminate(&replicas[index]);
        stops_cleanly(&mut replicas[index], index, &pool).await;
        replicas[index] = start_replica(&fake, &database, ports[index], index, 1, dir.path());
        until_ready(ports[index]).await;
    }
    let answers = load.await.expect("the load ran");
    let unanswered: Vec<usize> = answers
        .iter()
        .filter(|(_, answer)| *answer != Some(202))
        .map(|(number, _)| *number)
        .collect();
    assert!(unanswered.is_empty(), "not accepted: {unanswered:?}");
    all_jobs_done(&pool).await;
    assert_eq!(
        count(
            &pool,
            "SELECT COUNT(*) FROM deliveries WHERE delivery_id LIKE 'rolling-%'"
        )
        .await,
        REPORTS as i64
    );
    assert_eq!(
        count(&pool, "SELECT COUNT(*) FROM incidents").await,
        REPORTS as i64
    );
    let (issues, titles) = tracking_issues_and_titles(&fake);
    assert_eq!(issues, REPORTS, "one tracking issue per report");
    assert_eq!(titles, REPORTS, "none twice");
    let slowest: i64 = count(
        &pool,
        "SELECT COALESCE(MAX(finished_at - created_at), 0) FROM outbox \
         WHERE state = 'done' AND run_after <= created_at",
    )
    .await;
    assert!(
        slowest < 10_000,
        "a job waited {slowest} ms from being queued to done"
    );
    let mut asked = fake.redelivery_requests();
    let before = asked.len();
    asked.dedup();
    assert_eq!(asked.len(), before, "no delivery asked for twice");
    assert_no_unexpected(&fake);
    for replica in &mut replicas {
        let _ = replica.child.kill();
        let _ = replica.child.wait();
    }
    pool.close().await;
}

/// `count` reports `rolling-N`, one every 40 ms, each to the first of `ports` (round-robin)
/// that neither refuses the connection nor answers 503, tried again for five seconds; each
/// report's number and the status it got.
async fn reports_through_a_load_balancer(
    ports: Vec<u16>,
    count: usize,
) -> Vec<(usize, Option<u16>)> {
    let mut answers = Vec::new();
    for number in 0..count {
        let id = format!("rolling-{number}");
        let mut answer = None;
        'balancer: for _ in 0..100 {
            for offset in 0..3 {
                let port = ports[(number + offset) % 3];
                match post_to(port, "repository_advisory", &id, &numbered_report(number)).await {
                    Some(503) | None => continue,
                    Some(status) => {
                        answer = Some(status);
                        break 'balancer;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        answers.push((number, answer));
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    answers
}

/// The replica `index`, sent SIGTERM, says 503 on `/readyz` while it still answers, exits
/// cleanly within 15 s, and leaves no lease or poll claim behind.
async fn stops_cleanly(replica: &mut Replica, index: usize, pool: &sqlx::AnyPool) {
    let mut said_not_ready = false;
    for _ in 0..20 {
        match readiness(replica.port).await {
            Some(503) => {
                said_not_ready = true;
                break;
            }
            Some(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            None => break,
        }
    }
    assert!(
        said_not_ready,
        "replica {index} said 503 on /readyz while stopping"
    );
    let mut exited = None;
    for _ in 0..300 {
        exited = replica.child.try_wait().expect("replica status");
        if exited.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let exited =
        exited.unwrap_or_else(|| panic!("replica {index} still running 15 s after SIGTERM"));
    assert!(
        exited.success(),
        "replica {index} exits cleanly: {exited:?}"
    );
    let holder = format!("replica-{index}");
    let held: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM outbox WHERE locked_by = $1 AND state = 'pending' \
         AND locked_until IS NOT NULL",
    )
    .bind(&holder)
    .fetch_one(pool)
    .await
    .expect("leases");
    assert_eq!(held, 0, "{holder} left leases behind");
    let claims: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM advisory_polls WHERE claimed_by = $1")
            .bind(&holder)
            .fetch_one(pool)
            .await
            .expect("claims");
    assert_eq!(claims, 0, "{holder} left poll claims behind");
}

/// Waits until the replica on `port` says it is ready.
async fn until_ready(port: u16) {
    for _ in 0..300 {
        if readiness(port).await == Some(200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("replica on port {port} never became ready");
}
