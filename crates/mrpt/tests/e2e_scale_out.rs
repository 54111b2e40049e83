//! Scale-out end to end: two instances of three worker processes each on
//! one private Redis and one shared file directory, the load tester spread
//! over both while a worker serving it is killed and Redis is paused: no
//! bleed, no error, every acknowledged upload intact, the worker replaced.

mod common;
mod redis_servers;

use common::TestServer;
use redis_servers::{cli, RedisServer};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const USERS: u64 = 100;
const ROUNDS: u64 = 5;
/// Longest wait for the run's next tenth of progress.
const PROGRESS_PATIENCE: Duration = Duration::from_secs(120);

/// One progress line of the load tester and when this test read it.
struct Progress {
    done: u64,
    read_at: Instant,
}

/// `mrpt loadtest` running as a child process, followed through the
/// progress lines it logs at every tenth of its user rounds.
struct Loadtest {
    child: Child,
    progress: mpsc::Receiver<Progress>,
    stdout: PathBuf,
    json: PathBuf,
}

impl Loadtest {
    fn start(urls: &[&str], dir: &Path) -> Self {
        let (stdout, json) = (dir.join("loadtest.txt"), dir.join("loadtest.json"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_mrpt"))
            .arg("loadtest")
            .args(urls.iter().flat_map(|url| ["--url", url]))
            .args(["--users", &USERS.to_string(), "--rounds", &ROUNDS.to_string(), "--json"])
            .arg(&json)
            .stdout(std::fs::File::create(&stdout).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .expect("mrpt loadtest starts");
        let (sender, progress) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let log: Value = serde_json::from_str(&line).unwrap_or_default();
                if log["message"] == "loadtest progress" {
                    let done = log["done"].as_u64().expect("progress names the rounds done");
                    let _ = sender.send(Progress { done, read_at: Instant::now() });
                }
            }
        });
        Self { child, progress, stdout, json }
    }

    /// The first progress line that satisfies `wanted`, waiting for it.
    fn until(&self, what: &str, wanted: impl Fn(&Progress) -> bool) -> Progress {
        loop {
            match self.progress.recv_timeout(PROGRESS_PATIENCE) {
                Ok(progress) if wanted(&progress) => return progress,
                Ok(_) => {}
                Err(_) => panic!("the load tester never reported {what}: {}", self.table()),
            }
        }
    }

    fn table(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits for the end of the run: its exit status, table and report.
    fn finish(mut self) -> (std::process::ExitStatus, String, Value) {
        let status = self.child.wait().unwrap();
        let report = std::fs::read(&self.json).map(|bytes| serde_json::from_slice(&bytes).unwrap()).unwrap_or_default();
        (status, self.table(), report)
    }
}

impl Drop for Loadtest {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The worker of an instance that has served the most API requests so far,
/// read from the instance's request log lines.
fn busiest_worker(server: &TestServer) -> (u32, usize) {
    let mut served: HashMap<u32, usize> = HashMap::new();
    for line in server.logs().lines() {
        let log: Value = serde_json::from_str(line).unwrap_or_default();
        if log["message"] == "request" && log["route"].as_str().is_some_and(|route| route.starts_with("/api/")) {
            *served.entry(log["worker"].as_u64().unwrap() as u32).or_default() += 1;
        }
    }
    served.into_iter().max_by_key(|(_, requests)| *requests).expect("the instance has served the run")
}

/// The processes whose parent is `parent`, from /proc.
fn children_of(parent: u32) -> BTreeSet<u32> {
    let parent_of = |pid: u32| -> Option<u32> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command name in parentheses may hold spaces: fields follow the last ')'.
        stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()
    };
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| parent_of(*pid) == Some(parent))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_keep_users_apart_through_a_killed_worker_and_a_paused_store() {
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start(dir.path());
    let files = dir.path().join("shared");
    let store = redis.url();
    let a = TestServer::start_on(&files, &["--store", &store, "--instance", "a", "--workers", "3"]).await;
    let b = TestServer::start_on(&files, &["--store", &store, "--instance", "b", "--workers", "3"]).await;
    let workers_of_a = children_of(a.pid());
    assert_eq!(workers_of_a.len(), 3, "{workers_of_a:?}");

    let run = Loadtest::start(&[&a.base, &b.base], dir.path());
    let total = USERS * ROUNDS;

    // A fifth of the way: kill the worker of `a` that has served the most.
    run.until("a fifth of its rounds", |progress| progress.done >= total / 5);
    let (victim, served) = busiest_worker(&a);
    assert!(workers_of_a.contains(&victim), "worker {victim} is a child of instance a's supervisor");
    let killed = Command::new("kill").args(["-KILL", &victim.to_string()]).status().unwrap();
    assert!(killed.success());

    // Half way: Redis stops answering everyone for two seconds. A PING
    // from outside is held like every other command, so its answer marks
    // the end of the pause.
    let before_pause = run.until("half of its rounds", |progress| progress.done >= total / 2);
    assert!(before_pause.done < total, "the run must still be going when Redis pauses");
    redis.pause(Duration::from_secs(2));
    assert_eq!(cli(redis.port, &["PING"]).trim(), "PONG");
    let pause_over = Instant::now();
    let after_pause = run.until("rounds done after the pause", |progress| progress.read_at > pause_over);
    assert!(after_pause.done > before_pause.done, "the run went on after the pause");

    let (status, table, report) = run.finish();
    println!("{table}");
    assert!(status.success(), "{table}");
    assert_eq!(report["bleeds"], 0, "{table}");
    assert_eq!(report["errors"], 0, "{table}");
    assert_eq!(report["uploads_verified"], USERS, "every acknowledged upload is intact at the end: {table}");
    let served_by: Vec<&str> = report["served_by"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(served_by.len() >= 4, "{served_by:?}");
    assert!(served_by.iter().any(|s| s.starts_with("a/")) && served_by.iter().any(|s| s.starts_with("b/")), "{served_by:?}");
    assert!(served_by.contains(&format!("a/{victim}").as_str()), "the killed worker ({served} requests) served the run");

    // The supervisor replaced the killed worker.
    let workers_now = children_of(a.pid());
    assert_eq!(workers_now.len(), 3, "{workers_now:?}");
    assert!(!workers_now.contains(&victim));
    assert!(a.logs().contains("a worker exited; starting another"));
}
