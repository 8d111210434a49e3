//! Tars made on the fly and streamed, never held whole in memory: a build context (a folder,
//! less what its `.dockerignore` leaves out) and the files `cp` sends into a container.

use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;

use crate::error::{Error, Result};

/// Bytes per chunk sent on.
pub const CHUNK: usize = 256 * 1024;
/// Chunks buffered between the tar writer and the connection.
const BUFFERED: usize = 16;

/// A `Write` that sends what it is given, in chunks, to an async receiver.
pub struct ChannelWriter {
    buffer: Vec<u8>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    /// Bytes sent so far (shared with whoever reports progress).
    pub sent: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ChannelWriter {
    fn flush_chunk(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK)));
        let len = chunk.len() as u64;
        self.tx.blocking_send(chunk).map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, ReceiverGone))?;
        self.sent.fetch_add(len, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let taken = room.min(data.len());
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() >= CHUNK {
            self.flush_chunk()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.flush_chunk()
    }
}

/// The request stopped taking data (the daemon answered early, or the link was cut): the
/// request's own error says why.
#[derive(Debug)]
struct ReceiverGone;

impl std::fmt::Display for ReceiverGone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the connection stopped taking data")
    }
}

impl std::error::Error for ReceiverGone {}

/// Why a request that streamed what a writer wrote failed: the writer's own error (a file that
/// could not be read) unless it only saw the request stop taking data, then the request's.
pub fn cause(request: Error, written: Result<()>) -> Error {
    match written {
        Err(Error::Io { source, .. }) if source.get_ref().is_some_and(|e| e.is::<ReceiverGone>()) => request,
        Err(writer) => writer,
        Ok(()) => request,
    }
}

/// Run `write` on a blocking thread with a [`ChannelWriter`]; what it writes comes out of the
/// stream. The handle says how the writing ended (an error also cuts the stream short).
pub fn produce(
    write: impl FnOnce(&mut ChannelWriter) -> Result<()> + Send + 'static,
) -> (impl Stream<Item = Bytes> + Send + 'static, tokio::task::JoinHandle<Result<()>>, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(BUFFERED);
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut writer = ChannelWriter { buffer: Vec::with_capacity(CHUNK), tx, sent: std::sync::Arc::clone(&sent) };
    let handle = tokio::task::spawn_blocking(move || {
        write(&mut writer)?;
        writer.flush().map_err(|e| io("sending the data", e))
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) });
    (stream, handle, sent)
}

/// The build context of `dir` as a streamed tar.
pub fn stream(dir: PathBuf, dockerfile: &str) -> (impl Stream<Item = Bytes> + Send + 'static, tokio::task::JoinHandle<Result<()>>) {
    let dockerfile = dockerfile.to_owned();
    let (stream, handle, _) = produce(move |out| {
        // The Dockerfile and .dockerignore always go, as the docker CLI sends them.
        let mut rules = super::layers::dockerignore(&dir);
        rules.push(format!("!{}", dockerfile.trim_start_matches("./")));
        rules.push("!.dockerignore".to_owned());
        let ignore = Ignore::new(&rules);
        let mut builder = tar::Builder::new(out);
        builder.follow_symlinks(false);
        add_folder(&mut builder, &dir, Path::new(""), &ignore)?;
        builder.finish().map_err(|e| io("packing the build context", e))
    });
    (stream, handle)
}

fn add_folder<W: Write>(builder: &mut tar::Builder<W>, root: &Path, relative: &Path, ignore: &Ignore) -> Result<()> {
    let folder = root.join(relative);
    let mut entries: Vec<_> = std::fs::read_dir(&folder)
        .map_err(|e| io(&format!("reading {}", folder.display()), e))?
        .collect::<std::io::Result<_>>()
        .map_err(|e| io(&format!("reading {}", folder.display()), e))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = relative.join(entry.file_name());
        let text = name.to_string_lossy().replace('\\', "/");
        let kind = entry.file_type().map_err(|e| io(&format!("reading {}", entry.path().display()), e))?;
        if ignore.excludes(&text) && !(kind.is_dir() && ignore.may_include_below(&text)) {
            continue;
        }
        if kind.is_dir() {
            if !ignore.excludes(&text) {
                builder.append_dir(&name, entry.path()).map_err(|e| io(&format!("packing {}", entry.path().display()), e))?;
            }
            add_folder(builder, root, &name, ignore)?;
        } else {
            builder.append_path_with_name(entry.path(), &name).map_err(|e| io(&format!("packing {}", entry.path().display()), e))?;
        }
    }
    Ok(())
}

fn io(context: &str, source: std::io::Error) -> Error {
    Error::Io { context: context.to_owned(), source }
}

/// `.dockerignore` rules: `*` and `?` within a path part, `**` across parts, a folder's rule
/// covers what is in it, and `!` takes a path back in; the last rule that matches wins.
pub struct Ignore {
    rules: Vec<(bool, Vec<String>)>,
}

impl Ignore {
    pub fn new(patterns: &[String]) -> Ignore {
        let rules = patterns
            .iter()
            .map(|p| {
                let (include, p) = match p.strip_prefix('!') {
                    Some(rest) => (true, rest.trim()),
                    None => (false, p.as_str()),
                };
                (include, p.trim_matches('/').split('/').filter(|s| !s.is_empty() && *s != ".").map(str::to_owned).collect())
            })
            .collect();
        Ignore { rules }
    }

    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for (include, pattern) in &self.rules {
            // A rule matches the path or any folder above it.
            if (1..=parts.len()).any(|n| matches(pattern, &parts[..n])) {
                excluded = !include;
            }
        }
        excluded
    }

    /// Whether a `!` rule could take back something inside excluded folder `path`.
    fn may_include_below(&self, path: &str) -> bool {
        self.rules.iter().any(|(include, pattern)| *include && pattern.join("/").starts_with(&format!("{path}/")))
    }
}

fn matches(pattern: &[String], parts: &[&str]) -> bool {
    match (pattern.first(), parts.first()) {
        (None, None) => true,
        (Some(p), _) if p == "**" => (0..=parts.len()).any(|skip| matches(&pattern[1..], &parts[skip..])),
        (Some(p), Some(part)) => wildcard(p.as_bytes(), part.as_bytes()) && matches(&pattern[1..], &parts[1..]),
        _ => false,
    }
}

fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => wildcard(&pattern[1..], text) || (!text.is_empty() && wildcard(pattern, &text[1..])),
        (Some(b'?'), Some(_)) => wildcard(&pattern[1..], &text[1..]),
        (Some(p), Some(t)) if p == t => wildcard(&pattern[1..], &text[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_rules() {
        let ignore = Ignore::new(&["*.log".into(), "build/".into(), "**/tmp".into(), "secret*".into(), "!secret.pub".into()]);
        for (path, excluded) in [
            ("app.log", true),
            ("src/app.log", false),
            ("build", true),
            ("build/out.bin", true),
            ("a/b/tmp", true),
            ("a/b/tmp/x", true),
            ("tmp", true),
            ("secret.key", true),
            ("secret.pub", false),
            ("Dockerfile", false),
        ] {
            assert_eq!(ignore.excludes(path), excluded, "{path}");
        }
    }

    #[tokio::test]
    async fn a_folder_streams_as_a_tar_less_what_is_ignored() {
        use futures_util::StreamExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join("debug.log"), "x").unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/a b.txt"), vec![7u8; 600_000]).unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "*\n!conf\n").unwrap();
        let (stream, handle) = stream(dir.path().to_owned(), "Dockerfile");
        let bytes: Vec<u8> = stream.collect::<Vec<Bytes>>().await.concat();
        handle.await.unwrap().unwrap();
        let names: Vec<String> = tar::Archive::new(&bytes[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect();
        assert!(names.contains(&"Dockerfile".to_owned()) && names.contains(&"conf/a b.txt".to_owned()), "{names:?}");
        assert!(!names.contains(&"debug.log".to_owned()));
        assert!(names.contains(&".dockerignore".to_owned()), "an allow-list .dockerignore keeps itself and the Dockerfile: {names:?}");
    }
}
