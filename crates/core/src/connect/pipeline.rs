//! HTTP/1.1 pipelining for the snapshot's bulk GETs: every request is written at once and the
//! responses are read back in order, so fetching N inspect documents costs about one round trip
//! on an overseas link instead of N / concurrency. (hyper's client waits for each response
//! before it sends the next request, hence this small reader.)

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// One response: status code and body.
pub type Answer = (u16, Vec<u8>);

/// GET each of `paths` over `stream`, pipelined; answers in the order of `paths`.
pub async fn get_all<S>(stream: S, paths: &[String]) -> io::Result<Vec<Answer>>
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (reader, mut writer) = tokio::io::split(stream);
    let mut requests = String::with_capacity(paths.len() * 96);
    for (i, path) in paths.iter().enumerate() {
        let close = if i + 1 == paths.len() { "Connection: close\r\n" } else { "" };
        requests.push_str(&format!("GET {path} HTTP/1.1\r\nHost: docker\r\n{close}\r\n"));
    }
    // Write while reading: the daemon stops reading requests while its answers go unread.
    let write = async move {
        writer.write_all(requests.as_bytes()).await?;
        writer.flush().await?;
        Ok::<_, io::Error>(writer)
    };
    let read = async {
        let mut reader = BufReader::with_capacity(64 * 1024, reader);
        let mut answers = Vec::with_capacity(paths.len());
        for _ in paths {
            answers.push(read_response(&mut reader).await?);
        }
        Ok::<_, io::Error>(answers)
    };
    let (_writer, answers) = tokio::try_join!(write, read)?;
    Ok(answers)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("malformed HTTP response from the daemon: {what}"))
}

async fn read_response<R: AsyncRead + Unpin>(reader: &mut BufReader<R>) -> io::Result<Answer> {
    let mut line = String::new();
    if reader.read_line(&mut line).await? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the daemon closed the connection early"));
    }
    let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| bad("status line"))?;
    let mut length = None;
    let mut chunked = false;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(bad("headers cut short"));
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else { return Err(bad("header line")) };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| bad("content-length"))?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") && value.eq_ignore_ascii_case("chunked") {
            chunked = true;
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            reader.read_line(&mut line).await?;
            let size_text = line.trim_end().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size_text, 16).map_err(|_| bad("chunk size"))?;
            if size == 0 {
                // Trailers (none from Docker) up to the empty line.
                loop {
                    line.clear();
                    if reader.read_line(&mut line).await? == 0 || line.trim_end().is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..]).await?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf).await?;
        }
    } else if let Some(length) = length {
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
    } else if status != 204 && status != 304 {
        return Err(bad("no length"));
    }
    Ok((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pipelined_answers_come_back_in_order_whatever_their_framing() {
        let (client, mut server) = tokio::io::duplex(64);
        let daemon = tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            while !String::from_utf8_lossy(&seen).contains("Connection: close\r\n\r\n") {
                let n = server.read(&mut buf).await.unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            let big = "x".repeat(5000);
            let answers = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{{\"a\":1}}\
                 HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1388\r\n{big}\r\n3\r\nend\r\n0\r\n\r\n\
                 HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{{}}"
            );
            server.write_all(answers.as_bytes()).await.unwrap();
            String::from_utf8(seen).unwrap()
        });
        let paths = vec!["/a".to_owned(), "/b".to_owned(), "/c".to_owned()];
        let answers = get_all(client, &paths).await.unwrap();
        assert_eq!(answers[0], (200, b"{\"a\":1}".to_vec()));
        assert_eq!(answers[1].0, 200);
        assert_eq!(answers[1].1.len(), 5003);
        assert!(answers[1].1.ends_with(b"xend"));
        assert_eq!(answers[2], (404, b"{}".to_vec()));
        let requests = daemon.await.unwrap();
        assert_eq!(requests.matches("GET /").count(), 3);
    }
}
