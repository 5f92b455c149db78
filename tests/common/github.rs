//! A fake GitHub API over real HTTP on 127.0.0.1: a std `TcpListener` thread
//! that answers each request with `deskrun::github::fake::FakeGithub` (which
//! verifies App JWTs for real). It also acts as an HTTP proxy: a `CONNECT
//! host:port` is accepted and counted and the tunnelled request answered the
//! same way (as is an absolute-form `GET http://host/path`), so tests can
//! tell whether the client went through a proxy.
#![allow(dead_code)]

use deskrun::github::fake::FakeGithub;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct FakeServer {
    pub url: String,
    pub fake: Arc<FakeGithub>,
    /// Requests that came as a proxy request (absolute-form target).
    pub proxied: Arc<AtomicUsize>,
    /// Every request line and the headers' names, for assertions.
    pub seen: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    addr: std::net::SocketAddr,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FakeServer {
    pub fn start(fake: FakeGithub) -> FakeServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = Arc::new(fake);
        let stop = Arc::new(AtomicBool::new(false));
        let proxied = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let (fake, stop, proxied, seen) =
                (fake.clone(), stop.clone(), proxied.clone(), seen.clone());
            std::thread::spawn(move || {
                // Bounded: a test makes a handful of requests.
                for conn in listener.incoming().take(500) {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(conn) = conn {
                        serve(conn, &fake, &proxied, &seen);
                    }
                }
            })
        };
        FakeServer {
            url: format!("http://{addr}"),
            fake,
            proxied,
            seen,
            stop,
            addr,
            thread: Some(thread),
        }
    }

    /// `host:port`, for proxy settings.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, fake: &FakeGithub, proxied: &AtomicUsize, seen: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    // A proxy tunnel: accept it, then serve the request that comes through.
    if line.starts_with("CONNECT ") {
        proxied.fetch_add(1, Ordering::SeqCst);
        seen.lock().unwrap().push(line.trim().to_string());
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                break;
            }
        }
        let mut w = conn.try_clone().unwrap();
        let _ = w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or("").to_string(),
        parts.next().unwrap_or("").to_string(),
    );
    let mut bearer = None;
    let mut length = 0usize;
    let mut names = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        let (name, value) = h.split_once(':').unwrap_or((&h, ""));
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "authorization" => {
                bearer = value
                    .strip_prefix("Bearer ")
                    .or_else(|| value.strip_prefix("token "))
                    .map(str::to_string)
            }
            "content-length" => length = value.parse().unwrap_or(0),
            _ => {}
        }
        names.push(name);
    }
    let mut body = vec![0; length.min(1 << 16)];
    let _ = reader.read_exact(&mut body);
    // Absolute-form target: the client took us for its proxy.
    let path = match target.split_once("://") {
        Some((_, rest)) => {
            proxied.fetch_add(1, Ordering::SeqCst);
            rest.find('/')
                .map_or("/".to_string(), |i| rest[i..].to_string())
        }
        None => target.clone(),
    };
    seen.lock()
        .unwrap()
        .push(format!("{method} {target} [{}]", names.join(",")));
    let resp = fake.handle(&method, &path, bearer.as_deref());
    let body = resp.body.to_string();
    let mut out = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        resp.status,
        body.len()
    );
    for (k, v) in &resp.headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    out.push_str(&body);
    let mut conn = conn;
    let _ = conn.write_all(out.as_bytes());
    let _ = conn.flush();
}

/// A listener that accepts connections and never answers: a hanging GitHub.
pub struct Silent {
    pub url: String,
    _listener: TcpListener,
}

impl Silent {
    pub fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // The kernel completes the handshakes (backlog); nobody reads.
        Silent {
            url,
            _listener: listener,
        }
    }
}

/// A URL on 127.0.0.1 where nothing listens: connection refused at once.
pub fn refused_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}
