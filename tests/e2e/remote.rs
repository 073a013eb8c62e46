//! Remotes end to end: push, pull and read-through against a real S3
//! server (moto, on 127.0.0.1) and a folder; corrupt files, a remote that
//! is down or refuses credentials, killed and concurrent pushes, remote gc.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::s3::S3Server;
use common::{Workspace, ran_nodes};

fn with_s3(mut cmd: Command, s3: &S3Server) -> Command {
    cmd.envs(s3.env());
    cmd
}

/// Run `cmd`, asserting it succeeds (or fails); its stdout and stderr.
fn expect(mut cmd: Command, success: bool) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.success(), success, "{cmd:?}:\n{text}");
    text
}

fn ok(cmd: Command) -> String {
    expect(cmd, true)
}

fn fails(cmd: Command) -> String {
    expect(cmd, false)
}

/// Every cache path a folder remote's indexes list, by pack.
fn remote_members(remote: &Path) -> Vec<(PathBuf, Vec<serde_json::Value>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(remote.join("packs")).unwrap().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "idx") {
            let idx: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            out.push((
                path.with_extension("pack"),
                idx["members"].as_array().unwrap().clone(),
            ));
        }
    }
    out
}

#[test]
fn push_to_s3_then_pull_into_an_empty_cache_computes_nothing() {
    let s3 = S3Server::start(&[]);
    s3.create_bucket("team");
    let alice = Workspace::new(4);
    alice.ok(&["run"]);
    let want = alice.ok(&["metrics", "--json"]);
    let pushed = ok(with_s3(
        alice.cmd(&["push", "--remote", "s3://team/ser", "--as", "alice/nightly"]),
        &s3,
    ));
    assert!(pushed.contains("state alice/nightly"), "{pushed}");
    // A second push sends nothing new.
    let again = ok(with_s3(
        alice.cmd(&["push", "--remote", "s3://team/ser", "--as", "alice/nightly"]),
        &s3,
    ));
    assert!(again.contains("pushed 0 file(s)"), "{again}");

    let bob = Workspace::new(4);
    let pulled = ok(with_s3(
        bob.cmd(&[
            "pull",
            "--remote",
            "s3://team/ser",
            "--from",
            "alice/nightly",
        ]),
        &s3,
    ));
    assert!(pulled.contains("pulled"), "{pulled}");
    let run = bob.ok(&["run"]);
    assert!(
        ran_nodes(&run).is_empty(),
        "nothing computed after the pull: {run}"
    );
    assert!(run.contains("0 node(s) ran, 12 fresh"), "{run}");
    assert_eq!(bob.ok(&["metrics", "--json"]), want);

    // A pull by pipeline (no --from) brings what this pipeline needs.
    let carol = Workspace::new(4);
    ok(with_s3(
        carol.cmd(&["pull", "--remote", "s3://team/ser"]),
        &s3,
    ));
    let run = carol.ok(&["run"]);
    assert!(ran_nodes(&run).is_empty(), "{run}");
}

#[test]
fn read_through_from_a_folder_remote_fetches_instead_of_computing() {
    let team = tempfile::tempdir().unwrap();
    let remote = team.path().join("remote");
    let url = remote.to_str().unwrap();
    let alice = Workspace::new(4);
    // cache.remote.write: a run publishes what it computed.
    let run = alice.ok(&[
        "run",
        "--remote",
        url,
        "--set",
        "cache.remote.write=true",
        "--set",
        "cache.remote.name=alice/main",
    ]);
    assert!(run.contains("state alice/main"), "{run}");
    let want = alice.ok(&["metrics", "--json"]);

    let bob = Workspace::new(4);
    let status = bob.ok(&["status", "--remote", url]);
    assert_eq!(
        status
            .lines()
            .filter(|l| l.ends_with("fresh on remote"))
            .count(),
        12,
        "{status}"
    );
    let remote_status = bob.ok(&["remote", "status", "--remote", url]);
    assert!(
        remote_status.contains("0 both, 0 local only, 12 remote only, 0 neither"),
        "{remote_status}"
    );
    assert!(
        remote_status.contains("states: alice/main"),
        "{remote_status}"
    );

    let run = bob.ok(&["run", "--remote", url]);
    assert!(ran_nodes(&run).is_empty(), "{run}");
    assert!(run.contains("12 from the remote"), "{run}");
    assert_eq!(bob.ok(&["metrics", "--json"]), want);
    // The nodes came down whole: without the remote, all are fresh.
    let local = bob.ok(&["run"]);
    assert!(local.contains("0 node(s) ran, 12 fresh"), "{local}");

    // A local change: the new nodes are local only until pushed.
    bob.ok(&["run", "--set", "models.lr.alpha=0.1"]);
    let remote_status = bob.ok(&[
        "remote",
        "status",
        "--remote",
        url,
        "--set",
        "models.lr.alpha=0.1",
    ]);
    let line = |node: &str| {
        remote_status
            .lines()
            .find(|l| l.starts_with(node))
            .unwrap_or_else(|| panic!("{node} in {remote_status}"))
            .to_string()
    };
    assert!(
        line("train:mfcc/none/lr@two").ends_with("local"),
        "{remote_status}"
    );
    assert!(
        line("train:mfcc/none/nb@two").ends_with("both"),
        "{remote_status}"
    );
    assert!(line("ingest").ends_with("both"), "{remote_status}");
}

#[test]
fn corrupt_remote_files_are_refused_on_pull_and_on_read_through() {
    let team = tempfile::tempdir().unwrap();
    let remote = team.path().join("remote");
    let url = remote.to_str().unwrap();
    let alice = Workspace::new(4);
    alice.ok(&["run"]);
    let want = alice.ok(&["metrics", "--json"]);
    alice.ok(&["push", "--remote", url, "--as", "alice/x"]);

    // Flip one byte of one object inside its pack (a disk or transfer error).
    let (pack, members) = remote_members(&remote)
        .into_iter()
        .find(|(_, m)| {
            m.iter()
                .any(|m| m["path"].as_str().unwrap().starts_with("objects/"))
        })
        .unwrap();
    let victim = members
        .iter()
        .find(|m| m["path"].as_str().unwrap().ends_with(".parquet"))
        .or_else(|| members.first())
        .unwrap();
    let victim_path = victim["path"].as_str().unwrap().to_string();
    let mut bytes = std::fs::read(&pack).unwrap();
    let at =
        victim["offset"].as_u64().unwrap() as usize + victim["len"].as_u64().unwrap() as usize / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&pack, bytes).unwrap();

    let bob = Workspace::new(4);
    let pulled = fails(bob.cmd(&["pull", "--remote", url, "--from", "alice/x"]));
    assert!(
        pulled.contains(&victim_path) && pulled.contains("corrupt"),
        "{pulled}"
    );
    assert!(
        !bob.path(".ser").join(&victim_path).exists(),
        "a refused file is never written"
    );

    // Read-through: the corrupt object is refused and computed here; the
    // run succeeds with the same results.
    let carol = Workspace::new(4);
    let run = carol.ok(&["run", "--remote", url]);
    assert!(run.contains("corrupt"), "{run}");
    assert_eq!(carol.ok(&["metrics", "--json"]), want);
}

#[test]
fn a_remote_that_is_down_or_refuses_credentials_costs_one_line() {
    // Nothing listens on this port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    drop(std::net::TcpListener::bind(("127.0.0.1", closed)));
    let ws = Workspace::new(2);
    let out = ws
        .cmd(&["run", "--remote", "s3://team/ser"])
        .env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{closed}"))
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("remote")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("computing locally"), "{err}");
    assert!(err.contains("12 node(s) ran"), "{err}");

    // A server that checks credentials and does not know these.
    let strict = S3Server::start(&[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let ws = Workspace::new(2);
    let out = with_s3(ws.cmd(&["run", "--remote", "s3://team/ser"]), &strict)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let warnings: Vec<&str> = err.lines().filter(|l| l.contains("remote")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(warnings[0].contains("credentials"), "{err}");
    // A push to it fails with that one line.
    let push = fails(with_s3(
        ws.cmd(&["push", "--remote", "s3://team/ser"]),
        &strict,
    ));
    assert!(push.contains("credentials"), "{push}");
}

/// Every record and item a folder remote's indexes list, checked against
/// the objects and items they name.
fn assert_no_record_without_its_objects(members: &BTreeSet<String>, remote_files: &Path) {
    let read = |path: &str| -> Option<serde_json::Value> {
        // Find the member's bytes in its pack.
        for (pack, ms) in remote_members(remote_files) {
            if let Some(m) = ms.iter().find(|m| m["path"] == path) {
                let bytes = std::fs::read(&pack).ok()?;
                let (o, l) = (m["offset"].as_u64()? as usize, m["len"].as_u64()? as usize);
                return serde_json::from_slice(&bytes[o..o + l]).ok();
            }
        }
        None
    };
    for path in members.iter().filter(|p| p.starts_with("records/")) {
        let record = read(path).expect("a listed record is readable");
        for object in record["outputs"]["files"]
            .as_object()
            .unwrap()
            .values()
            .chain(record["outputs"]["refs"].as_array().unwrap())
        {
            let object = object.as_str().unwrap();
            let object_path = format!("objects/{}/{object}", &object[..2]);
            assert!(
                members.contains(&object_path),
                "{path} names {object_path}, missing"
            );
        }
        for item in record["outputs"]["items"].as_array().unwrap() {
            let (stage, key) = item.as_str().unwrap().split_once('/').unwrap();
            let item_path = format!("items/{stage}/{}/{key}.json", &key[..2]);
            assert!(
                members.contains(&item_path),
                "{path} names {item_path}, missing"
            );
        }
    }
}

#[test]
fn a_push_killed_at_any_moment_leaves_no_record_without_its_objects() {
    let team = tempfile::tempdir().unwrap();
    let remote = team.path().join("remote");
    let url = remote.to_str().unwrap().to_string();
    let alice = Workspace::new(6);
    alice.ok(&["run"]);
    // A folder remote is fast, so slow each transfer down by pushing many
    // times from scratch and killing at growing delays.
    for delay_ms in [5, 20, 40, 80, 120, 200] {
        let _ = std::fs::remove_dir_all(&remote);
        let mut child = alice
            .cmd(&["push", "--remote", &url, "--as", "alice/x"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        if !remote.join("packs").exists() {
            continue;
        }
        let members: BTreeSet<String> = remote_members(&remote)
            .into_iter()
            .flat_map(|(_, ms)| {
                ms.into_iter()
                    .map(|m| m["path"].as_str().unwrap().to_string())
            })
            .collect();
        assert_no_record_without_its_objects(&members, &remote);
        // A state is only written after everything it names.
        if remote.join("states/alice/x.json").exists() {
            assert!(members.iter().any(|p| p.starts_with("records/")));
        }
    }
    // After a killed push, the next push completes it and a pull works.
    alice.ok(&["push", "--remote", &url, "--as", "alice/x"]);
    let bob = Workspace::new(6);
    bob.ok(&["pull", "--remote", &url, "--from", "alice/x"]);
    let run = bob.ok(&["run"]);
    assert!(ran_nodes(&run).is_empty(), "{run}");
}

#[test]
fn a_push_to_s3_killed_mid_way_then_completed() {
    let s3 = S3Server::start(&[]);
    s3.create_bucket("team");
    let alice = Workspace::new(6);
    alice.ok(&["run"]);
    for delay_ms in [100, 300, 600] {
        let mut child = with_s3(
            alice.cmd(&["push", "--remote", "s3://team/k", "--as", "a"]),
            &s3,
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap();
        child.wait().unwrap();
    }
    ok(with_s3(
        alice.cmd(&["push", "--remote", "s3://team/k", "--as", "a"]),
        &s3,
    ));
    let bob = Workspace::new(6);
    ok(with_s3(
        bob.cmd(&["pull", "--remote", "s3://team/k", "--from", "a"]),
        &s3,
    ));
    let run = bob.ok(&["run"]);
    assert!(ran_nodes(&run).is_empty(), "{run}");
    assert_eq!(
        bob.ok(&["metrics", "--json"]),
        alice.ok(&["metrics", "--json"])
    );
}

#[test]
fn two_pushes_of_overlapping_caches_at_once() {
    let s3 = S3Server::start(&[]);
    s3.create_bucket("team");
    let alice = Workspace::new(4);
    alice.ok(&["run"]);
    let bob = Workspace::new(4);
    bob.ok(&["run", "--set", "models.lr.alpha=0.1"]);
    let push = |ws: &Workspace, name: &str, set: &[&str]| {
        let mut args = vec!["push", "--remote", "s3://team/both", "--as", name];
        args.extend_from_slice(set);
        with_s3(ws.cmd(&args), &s3)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = push(&alice, "alice/x", &[]);
    let b = push(&bob, "bob/x", &["--set", "models.lr.alpha=0.1"]);
    for out in [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()] {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for (name, set) in [("alice/x", None), ("bob/x", Some("models.lr.alpha=0.1"))] {
        let carol = Workspace::new(4);
        ok(with_s3(
            carol.cmd(&["pull", "--remote", "s3://team/both", "--from", name]),
            &s3,
        ));
        let mut args = vec!["run"];
        if let Some(set) = set {
            args.extend(["--set", set]);
        }
        let run = carol.ok(&args);
        assert!(ran_nodes(&run).is_empty(), "{name}: {run}");
    }
}

#[test]
fn remote_gc_drops_what_no_state_reaches_after_the_grace_period() {
    let team = tempfile::tempdir().unwrap();
    let remote = team.path().join("remote");
    let url = remote.to_str().unwrap();
    let alice = Workspace::new(4);
    alice.ok(&["run"]);
    alice.ok(&["push", "--remote", url, "--as", "alice/x"]);
    // The same state name, pushed again after a change: the old lr
    // records are reachable from no state now.
    alice.ok(&["run", "--set", "models.lr.alpha=0.1"]);
    alice.ok(&[
        "push",
        "--remote",
        url,
        "--as",
        "alice/x",
        "--set",
        "models.lr.alpha=0.1",
    ]);
    let members = |r: &Path| -> BTreeSet<String> {
        remote_members(r)
            .into_iter()
            .flat_map(|(_, ms)| {
                ms.into_iter()
                    .map(|m| m["path"].as_str().unwrap().to_string())
            })
            .collect()
    };
    let before = members(&remote);

    let young = alice.ok(&["gc", "--remote", url]);
    assert!(
        young.contains("deleted 0 pack(s)") && young.contains("repacked 0"),
        "{young}"
    );
    let dry = alice.ok(&["gc", "--remote", url, "--grace", "0s", "--dry-run"]);
    assert!(count_after(&dry, "would repack ") >= 1, "{dry}");
    assert_eq!(members(&remote), before, "a dry run deletes nothing");

    let gc = alice.ok(&["gc", "--remote", url, "--grace", "0s"]);
    assert!(count_after(&gc, "repacked ") >= 1, "{gc}");
    let after = members(&remote);
    assert!(
        after.len() < before.len(),
        "{} -> {}",
        before.len(),
        after.len()
    );
    assert_no_record_without_its_objects(&after, &remote);

    let bob = Workspace::new(4);
    bob.ok(&["pull", "--remote", url, "--from", "alice/x"]);
    let run = bob.ok(&["run", "--set", "models.lr.alpha=0.1"]);
    assert!(
        ran_nodes(&run).is_empty(),
        "gc kept what the state needs: {run}"
    );
}

/// The number right after `label` in `text`.
fn count_after(text: &str, label: &str) -> usize {
    let at = text
        .find(label)
        .unwrap_or_else(|| panic!("{label} in {text}"))
        + label.len();
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a number after {label} in {text}"))
}
