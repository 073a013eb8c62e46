//! `ser corpus fetch` end to end: the built `ser` binary against a loopback
//! HTTP server (hyper) started here. The server serves a zip built by the
//! test, honours `Range`, logs every request with the body bytes it handed
//! over, and can be told to cut the next responses after N body bytes, to
//! advertise a length it does not have, or to ignore `Range`.

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper::body::Frame;
use hyper::{Method, Request, Response, StatusCode};
use sha2::Digest;

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Served {
    method: Method,
    range: Option<String>,
    status: StatusCode,
    /// Body bytes handed to the connection.
    body_bytes: u64,
}

#[derive(Debug, Default)]
struct Behaviour {
    /// Cut the next `cuts` GET responses after this many body bytes.
    cut_after: u64,
    cuts: u32,
    /// The length HEAD announces instead of the archive's.
    advertised_length: Option<u64>,
    /// Answer every GET with the whole archive (200), as servers without
    /// range support do.
    ignore_range: bool,
}

struct Shared {
    archive: Bytes,
    behaviour: Mutex<Behaviour>,
    log: Mutex<Vec<Served>>,
}

struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    // Serves for as long as the test holds the server.
    _runtime: tokio::runtime::Runtime,
}

type Body = UnsyncBoxBody<Bytes, std::io::Error>;

impl Server {
    fn start(archive: Vec<u8>) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            archive: Bytes::from(archive),
            behaviour: Mutex::new(Behaviour::default()),
            log: Mutex::new(Vec::new()),
        });
        let serving = shared.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(respond(&shared, request)) }
                    });
                    // A cut response ends the connection with an error.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server {
            addr,
            shared,
            _runtime: runtime,
        }
    }

    fn url(&self, file: &str) -> String {
        format!("http://{}/files/{file}", self.addr)
    }

    fn behave(&self, change: impl FnOnce(&mut Behaviour)) {
        change(&mut self.shared.behaviour.lock().unwrap());
    }

    /// The requests since the last call.
    fn take_log(&self) -> Vec<Served> {
        std::mem::take(&mut *self.shared.log.lock().unwrap())
    }
}

fn respond(shared: &Shared, request: Request<hyper::body::Incoming>) -> Response<Body> {
    let archive = &shared.archive;
    let len = archive.len() as u64;
    let range = request
        .headers()
        .get(hyper::header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut behaviour = shared.behaviour.lock().unwrap();
    let log = |status: StatusCode, body_bytes: u64| {
        shared.log.lock().unwrap().push(Served {
            method: request.method().clone(),
            range: range.clone(),
            status,
            body_bytes,
        })
    };
    if request.method() == Method::HEAD {
        log(StatusCode::OK, 0);
        return Response::builder()
            .header("content-length", behaviour.advertised_length.unwrap_or(len))
            .header("accept-ranges", "bytes")
            .body(empty())
            .unwrap();
    }
    let start = range
        .as_deref()
        .filter(|_| !behaviour.ignore_range)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|n| n.parse::<u64>().ok());
    if let Some(start) = start
        && start >= len
    {
        log(StatusCode::RANGE_NOT_SATISFIABLE, 0);
        return Response::builder()
            .status(StatusCode::RANGE_NOT_SATISFIABLE)
            .header("content-range", format!("bytes */{len}"))
            .body(empty())
            .unwrap();
    }
    let from = start.unwrap_or(0);
    let rest = archive.slice(from as usize..);
    let cut = behaviour.cuts > 0;
    let send = if cut {
        behaviour.cuts -= 1;
        behaviour.cut_after.min(rest.len() as u64)
    } else {
        rest.len() as u64
    };
    let status = if start.is_some() {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    log(status, send);
    let mut response = Response::builder()
        .status(status)
        .header("content-length", rest.len())
        .header("accept-ranges", "bytes");
    if start.is_some() {
        response = response.header("content-range", format!("bytes {from}-{}/{len}", len - 1));
    }
    let first = rest.slice(..send as usize);
    let frames = futures::stream::unfold(0u8, move |step| {
        let first = first.clone();
        async move {
            match step {
                0 => Some((Ok(Frame::data(first)), 1)),
                // The cut: a moment for the bytes above to reach the socket,
                // then an error, on which hyper drops the connection before
                // the announced length.
                1 if cut => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((Err(std::io::Error::other("cut by the test")), 2))
                }
                _ => None,
            }
        }
    });
    response
        .body(StreamBody::new(frames).boxed_unsync())
        .unwrap()
}

fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A zip of four "recordings" of seeded noise, stored uncompressed so the
/// archive's bytes are the data's (256 KiB and a little).
fn test_archive() -> (Vec<u8>, Vec<(String, Vec<u8>)>) {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut files = Vec::new();
    for actor in 1..=2 {
        for take in 1..=2 {
            let data: Vec<u8> = (0..64 * 1024)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            files.push((
                format!("Actor_{actor:02}/03-01-01-01-01-0{take}-{actor:02}.wav"),
                data,
            ));
        }
    }
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options =
        zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in &files {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(data).unwrap();
    }
    (zip.finish().unwrap().into_inner(), files)
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `ser corpus fetch ARGS`, with a short back-off and no proxy between it
/// and the loopback server.
fn fetch(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ser"))
        .arg("corpus")
        .arg("fetch")
        .args(args)
        .env("SER_FETCH_BACKOFF_MS", "20")
        .env("SER_NO_PROGRESS", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .env_remove("all_proxy")
        .output()
        .expect("run ser")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn gets(log: &[Served]) -> Vec<&Served> {
    log.iter().filter(|s| s.method == Method::GET).collect()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn partial(dir: &Path) -> PathBuf {
    dir.join(".partial/test-corpus.zip")
}

#[test]
fn a_cut_download_resumes_verifies_unpacks_and_a_third_call_does_nothing() {
    let (archive, files) = test_archive();
    let len = archive.len() as u64;
    let digest = sha256(&archive);
    let server = Server::start(archive);
    let url = server.url("test-corpus.zip");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("corpus");
    let args = [
        "--url",
        url.as_str(),
        "--sha256",
        digest.as_str(),
        "--to",
        s(&dir),
        "--retries",
        "0",
    ];

    // 1. The connection is cut half way: the fetch fails, the bytes stay.
    server.behave(|b| {
        b.cut_after = len / 2;
        b.cuts = 1;
    });
    let first = fetch(&args);
    assert!(!first.status.success(), "{}", text(&first));
    assert!(
        text(&first).contains("gave up after 1 request"),
        "{}",
        text(&first)
    );
    let have = std::fs::metadata(partial(&dir)).unwrap().len();
    assert!(
        have > 0 && have < len,
        "partial file of {have} bytes of {len}"
    );
    assert!(!dir.join(".ser-fetch.json").exists());
    let first_log = server.take_log();
    assert_eq!(gets(&first_log).len(), 1, "--retries 0: one request");

    // 2. The next fetch asks only for the rest, verifies and unpacks.
    let second = fetch(&args);
    assert!(second.status.success(), "{}", text(&second));
    let log = server.take_log();
    let resumed = gets(&log);
    assert_eq!(resumed.len(), 1, "{log:?}");
    assert_eq!(
        resumed[0].range.as_deref(),
        Some(format!("bytes={have}-").as_str())
    );
    assert_eq!(resumed[0].status, StatusCode::PARTIAL_CONTENT);
    // Exactly the bytes missing from the partial file, none sent twice.
    assert_eq!(
        resumed[0].body_bytes,
        len - have,
        "only the missing bytes are sent"
    );
    let out = text(&second);
    assert!(out.contains(&format!("resumed from byte {have}")), "{out}");
    assert!(out.contains(&format!("verified sha256 {digest}")), "{out}");
    assert!(
        out.contains(&format!("corpus ready: path {}", dir.display())),
        "{out}"
    );
    for (name, data) in &files {
        assert_eq!(&std::fs::read(dir.join(name)).unwrap(), data, "{name}");
    }
    assert!(
        !dir.join(".partial").exists(),
        "the download is removed once unpacked"
    );
    let marker: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join(".ser-fetch.json")).unwrap()).unwrap();
    assert_eq!(marker["url"], url.as_str());
    assert_eq!(marker["sha256"], digest.as_str());
    assert_eq!(marker["bytes"], len);
    assert_eq!(marker["files"], files.len() as u64);

    // 3. A third call finds the marker and makes no request at all.
    let third = fetch(&args);
    assert!(third.status.success(), "{}", text(&third));
    assert!(text(&third).contains("is already in"), "{}", text(&third));
    assert!(text(&third).contains("corpus ready"), "{}", text(&third));
    let log = server.take_log();
    assert!(
        log.is_empty(),
        "no network access with a matching marker: {log:?}"
    );
}

#[test]
fn a_failed_attempt_is_retried_within_one_call_from_where_it_stopped() {
    let (archive, _) = test_archive();
    let len = archive.len() as u64;
    let digest = sha256(&archive);
    let server = Server::start(archive);
    server.behave(|b| {
        b.cut_after = len / 3;
        b.cuts = 1;
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("corpus");
    let url = server.url("test-corpus.zip");
    let out = fetch(&[
        "--url",
        &url,
        "--sha256",
        &digest,
        "--to",
        s(&dir),
        "--retries",
        "2",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("retry 1 of 2"), "{}", text(&out));
    let log = server.take_log();
    let gets = gets(&log);
    assert_eq!(gets.len(), 2, "{log:?}");
    assert_eq!(gets[0].range, None);
    let have = gets[0].body_bytes;
    assert_eq!(
        gets[1].range.as_deref(),
        Some(format!("bytes={have}-").as_str())
    );
    assert_eq!(gets[1].body_bytes, len - have);
}

#[test]
fn a_wrong_checksum_is_refused_and_the_download_kept() {
    let (archive, files) = test_archive();
    let len = archive.len() as u64;
    let digest = sha256(&archive);
    let server = Server::start(archive);
    let url = server.url("test-corpus.zip");
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("corpus");
    let wrong = "0".repeat(64);

    let refused = fetch(&[
        "--url",
        &url,
        "--sha256",
        &wrong,
        "--to",
        s(&dir),
        "--retries",
        "0",
    ]);
    assert!(!refused.status.success());
    let message = text(&refused);
    assert!(message.contains("checksum mismatch"), "{message}");
    assert!(
        message.contains(&format!("expected sha256 {wrong}")),
        "{message}"
    );
    assert!(message.contains(&format!("got {digest}")), "{message}");
    assert!(message.contains(&url), "{message}");
    assert_eq!(
        std::fs::metadata(partial(&dir)).unwrap().len(),
        len,
        "the file is kept"
    );
    assert!(!dir.join(".ser-fetch.json").exists());
    assert!(!dir.join(&files[0].0).exists(), "nothing is unpacked");
    server.take_log();

    // Kept for the next call: with the right digest nothing is downloaded
    // again, and the same file is verified and unpacked.
    let accepted = fetch(&[
        "--url",
        &url,
        "--sha256",
        &digest,
        "--to",
        s(&dir),
        "--retries",
        "0",
    ]);
    assert!(accepted.status.success(), "{}", text(&accepted));
    let log = server.take_log();
    assert!(
        gets(&log).is_empty(),
        "the complete file is not fetched again: {log:?}"
    );
    assert!(dir.join(&files[0].0).exists());
}

#[test]
fn a_disk_shortfall_is_refused_before_any_byte_is_written() {
    let (archive, _) = test_archive();
    let server = Server::start(archive);
    let huge = 1_000_000_000_000_000u64;
    server.behave(|b| b.advertised_length = Some(huge));
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("corpus");
    let url = server.url("test-corpus.zip");
    let out = fetch(&["--url", &url, "--to", s(&dir), "--retries", "0"]);
    assert!(!out.status.success());
    let message = text(&out);
    assert!(message.contains("not enough free space"), "{message}");
    // Both numbers: what it needs (archive + unpacked, assumed equal here)
    // and what is free.
    assert!(
        message.contains(&format!("needs {} bytes", 2 * huge)),
        "{message}"
    );
    assert!(
        message.contains(&format!("{huge} bytes still to download")),
        "{message}"
    );
    let free = message
        .split(" has ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(free.is_some_and(|f| f < huge), "{message}");
    assert!(
        !dir.exists(),
        "nothing is created: no folder, no partial file"
    );
    let log = server.take_log();
    assert!(gets(&log).is_empty(), "no download is started: {log:?}");
}

#[test]
fn a_server_that_ignores_range_makes_the_download_start_again() {
    let (archive, _) = test_archive();
    let len = archive.len() as u64;
    let digest = sha256(&archive);
    let server = Server::start(archive);
    server.behave(|b| {
        b.cut_after = len / 2;
        b.cuts = 1;
        b.ignore_range = true;
    });
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("corpus");
    let url = server.url("test-corpus.zip");
    let args = [
        "--url",
        url.as_str(),
        "--sha256",
        digest.as_str(),
        "--to",
        s(&dir),
        "--retries",
        "0",
    ];
    assert!(!fetch(&args).status.success());
    assert!(std::fs::metadata(partial(&dir)).unwrap().len() > 0);
    server.take_log();
    let out = fetch(&args);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("ignored the range request"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("resumed from"), "{}", text(&out));
    let log = server.take_log();
    let gets = gets(&log);
    assert_eq!(gets.len(), 1);
    assert!(gets[0].range.is_some());
    assert_eq!((gets[0].status, gets[0].body_bytes), (StatusCode::OK, len));
}

#[test]
fn corpora_that_are_not_one_archive_refuse_with_what_to_do_and_touch_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("savee");
    let out = fetch(&["savee", "--to", s(&dir)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out).contains("http://kahlan.eps.surrey.ac.uk/savee/Register.html"),
        "{}",
        text(&out)
    );
    assert!(!dir.exists());

    let list = fetch(&["--list"]);
    assert!(list.status.success());
    let listed = text(&list);
    for name in ["ravdess", "crema_d", "tess", "savee", "emodb"] {
        assert!(listed.contains(&format!("{name} ({name})")), "{listed}");
    }
    assert!(
        listed.contains("md5 bc696df654c87fed845eb13823edef8a"),
        "{listed}"
    );
}
